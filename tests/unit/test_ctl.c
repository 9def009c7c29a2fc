/*
 * test_ctl.c - unit tests of the control-socket framing bounds
 * (common/ctl.c): for every message type a frame whose payload is exactly
 * at its bound is read whole, and one byte more is refused from the header
 * alone (EMSGSIZE, counted per type, nothing of the payload read, the rest
 * of the stream left where it was); ctl_send() refuses to write an
 * oversized frame and writes nothing; a bad version is still EPROTO; the
 * refusal counters print as Prometheus text. A real client and server
 * (ctl_call() against a thread serving a Unix socket) see an oversized
 * request refused and the next request answered.
 *
 * The bounds repeat limits of other modules; the static asserts below tie
 * them together so that changing one without the other does not build.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "common/ctl.h"
#include "crypto/passwd.h"
#include "crypto/tls.h"
#include "common/config.h"
#include "dataplane/smtp/auth.h"
#include "policy/policy.h"
#include "tests/unit/t.h"

/* common/schema.h against crypto/tls.h and dataplane/smtp/auth.h: also in tls.c and auth.c */
_Static_assert(TICKET_KEY_LEN == TLS_TICKET_KEY_LEN, "ticket key length");
_Static_assert(CERTS_MAX == TLS_MAX_CERTS, "certificates per SET_CERTS");
_Static_assert(OCSP_MAX == TLS_OCSP_MAX, "OCSP response");
_Static_assert(USER_NAME_MAX == AUTH_USER_MAX, "user name");
_Static_assert(CTL_WORKERS_MAX == CFG_MAX_WORKERS, "workers listed by SESSIONS");
/* the two sets that a frame cannot hold at their modules' own limits (see ctl.h) */
_Static_assert((uint64_t)AUTH_USERS_MAX * (AUTH_USER_MAX + 1 + PASSWD_STR_MAX + 1) > CTL_USERS_MAX,
	       "SET_USERS: if a full user set fits, bound it by its size instead of the frame");
_Static_assert((uint64_t)POL_ENTRIES_MAX * (POL_KEY_MAX + 1 + POL_VALUE_MAX + 1) > CTL_POLICY_MAX,
	       "SET_POLICY: if a full map fits, bound it by its size instead of the frame");

static const uint8_t types[] = {
	CTL_STATUS, CTL_STATS, CTL_SESSIONS, CTL_SET_POLICY, CTL_SET_TICKET_KEYS, CTL_DRAIN,
	CTL_RESUME, CTL_SET_CERTS, CTL_SET_USERS, CTL_OK, CTL_ERR, CTL_DATA, 0, 10, 63, 67, 255,
};

/* A writer thread: len bytes of buf to fd, then close fd. */
struct writer {
	int fd;
	const uint8_t *buf;
	size_t len;
	pthread_t th;
};

/* Write everything, then close. */
static void *writer_main(void *arg)
{
	struct writer *w = arg;
	size_t o = 0;

	while (o < w->len) {
		ssize_t n = write(w->fd, w->buf + o, w->len - o);

		if (n <= 0)
			break;
		o += (size_t)n;
	}
	close(w->fd);
	return NULL;
}

/* A frame header: length (payload + 2), version, type. */
static void header(uint8_t *h, uint32_t payload, uint8_t version, uint8_t type)
{
	uint32_t l = payload + 2;

	h[0] = (uint8_t)(l >> 24);
	h[1] = (uint8_t)(l >> 16);
	h[2] = (uint8_t)(l >> 8);
	h[3] = (uint8_t)l;
	h[4] = version;
	h[5] = type;
}

/*
 * Feed a frame of this type with a payload of len bytes, followed by the
 * marker "NEXT", to ctl_recv() through a socket pair; only the header and
 * the marker are written when refuse (the payload never needs to exist).
 * Returns ctl_recv's result; errno and *m as it left them; *after gets the
 * next 4 bytes of the stream.
 */
static int feed(uint8_t type, uint32_t len, int refuse, struct ctl_msg *m, char *after)
{
	size_t total = 6 + (refuse ? 0 : (size_t)len) + 4;
	uint8_t *buf = malloc(total);
	struct writer w;
	int sv[2], rc, e;
	ssize_t n;

	header(buf, len, CTL_VERSION, type);
	if (!refuse)
		memset(buf + 6, 'p', len);
	memcpy(buf + total - 4, "NEXT", 4);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
		free(buf);
		return -2;
	}
	w.fd = sv[1];
	w.buf = buf;
	w.len = total;
	pthread_create(&w.th, NULL, writer_main, &w);
	rc = ctl_recv(sv[0], m);
	e = errno;
	n = read(sv[0], after, 4);
	after[n > 0 ? n : 0] = '\0';
	pthread_join(w.th, NULL);
	close(sv[0]);
	free(buf);
	errno = e;
	return rc;
}

/* At the bound: read whole; one byte over: refused, counted, payload untouched. */
TEST(bounds_every_type)
{
	unsigned i;

	for (i = 0; i < sizeof(types); i++) {
		uint8_t t = types[i];
		uint32_t max = ctl_max_payload(t);
		uint64_t before = ctl_refused(t);
		struct ctl_msg m;
		char after[8];
		int rc;

		rc = feed(t, max, 0, &m, after);
		CHECK_EQ(rc, 0);
		CHECK_EQ(m.type, t);
		CHECK_EQ(m.len, max);
		CHECK(m.data != NULL && m.data[max] == '\0' && (max == 0 || m.data[max - 1] == 'p'));
		CHECK_STR(after, "NEXT");
		free(m.data);
		CHECK_EQ(ctl_refused(t), before);

		rc = feed(t, max + 1, 1, &m, after);
		CHECK_EQ(rc, -1);
		CHECK_EQ(errno, EMSGSIZE);
		CHECK_EQ(m.type, t);
		CHECK_EQ(m.len, max + 1);
		CHECK(m.data == NULL);
		CHECK_STR(after, "NEXT");         /* nothing of the stream after the header was read */
		CHECK_EQ(ctl_refused(t), before + 1);
	}
}

/* The bounds themselves: what each type legitimately carries. */
TEST(bound_values)
{
	CHECK_EQ(ctl_max_payload(CTL_STATUS), 0);
	CHECK_EQ(ctl_max_payload(CTL_DRAIN), 0);
	CHECK_EQ(ctl_max_payload(77), 0);
	CHECK_EQ(ctl_max_payload(CTL_SET_TICKET_KEYS), 96);
	/* 8 x (header + chain + key + OCSP) + CA + CRL blocks */
	CHECK_EQ(ctl_max_payload(CTL_SET_CERTS), 8 * (388 + 2 * 1048576 + 65536) + 2 * (25 + 1048576));
	CHECK(ctl_max_payload(CTL_SET_CERTS) < CTL_MAX_FRAME / 3);
	CHECK_EQ(ctl_max_payload(CTL_SET_POLICY), CTL_MAX_FRAME - 2);
	CHECK_EQ(ctl_max_payload(CTL_SET_USERS), CTL_MAX_FRAME - 2);
	CHECK_EQ(ctl_max_payload(CTL_DATA), 16u << 20);
	CHECK_EQ(ctl_max_payload(CTL_ERR), 4096);
}

/* A frame over the whole cap is refused as too large too (not as a bad version). */
TEST(over_the_cap)
{
	uint8_t h[10];
	struct ctl_msg m;
	int sv[2];
	uint64_t before = ctl_refused(CTL_SET_POLICY);

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	header(h, 0xfffffff0u, CTL_VERSION, CTL_SET_POLICY);
	memcpy(h + 6, "NEXT", 4);
	CHECK_EQ(write(sv[1], h, sizeof(h)), (long long)sizeof(h));
	CHECK_EQ(ctl_recv(sv[0], &m), -1);
	CHECK_EQ(errno, EMSGSIZE);
	CHECK_EQ(ctl_refused(CTL_SET_POLICY), before + 1);
	/* a bad version is still a protocol error, and not counted as too large */
	header(h, 0, CTL_VERSION + 1, CTL_STATUS);
	CHECK_EQ(write(sv[1], h, 6), 6);
	errno = 0;
	before = ctl_refused(CTL_STATUS);
	(void)!read(sv[0], h + 6, 4);             /* the "NEXT" left from the refused frame */
	CHECK_EQ(ctl_recv(sv[0], &m), -1);
	CHECK_EQ(errno, EPROTO);
	CHECK_EQ(ctl_refused(CTL_STATUS), before);
	close(sv[0]);
	close(sv[1]);
}

/* ctl_send: at the bound it writes the frame, over it nothing at all. */
TEST(send_refuses)
{
	static uint8_t keys[CTL_TICKET_KEYS_MAX + 1];
	uint8_t buf[256];
	int sv[2];
	ssize_t n;

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	errno = 0;
	CHECK_EQ(ctl_send(sv[1], CTL_SET_TICKET_KEYS, keys, sizeof(keys)), -1);
	CHECK_EQ(errno, EMSGSIZE);
	CHECK_EQ(ctl_send(sv[1], CTL_STATUS, "x", 1), -1);
	CHECK_EQ(read(sv[0], buf, sizeof(buf)), -1);      /* nothing was written */
	CHECK_EQ(ctl_send(sv[1], CTL_SET_TICKET_KEYS, keys, CTL_TICKET_KEYS_MAX), 0);
	n = read(sv[0], buf, sizeof(buf));
	CHECK_EQ(n, 6 + CTL_TICKET_KEYS_MAX);
	close(sv[0]);
	close(sv[1]);
}

/* The counters as Prometheus text. */
TEST(print)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	char want[128];

	ctl_refused_print(f, "mx_");
	fclose(f);
	snprintf(want, sizeof(want), "mx_frames_refused_total{type=\"SET_CERTS\"} %llu\n",
		 (unsigned long long)ctl_refused(CTL_SET_CERTS));
	CHECK(strstr(text, want) != NULL);
	CHECK(strstr(text, "mx_frames_refused_total{type=\"other\"} ") != NULL);
	CHECK(strstr(text, "{type=\"?\"}") == NULL);
	free(text);
}

/* ---- a real client against a server thread ---- */

struct server {
	int lfd;
	int served;             /* requests answered */
	int refused;            /* frames refused (ERR sent, connection closed) */
	pthread_t th;
};

/* Serve connections as mxgate's service loop does, until a RESUME request. */
static void *server_main(void *arg)
{
	struct server *s = arg;

	for (;;) {
		int fd = accept(s->lfd, NULL, NULL);
		struct ctl_msg m;
		int stop = 0;

		if (fd < 0)
			return NULL;
		while (ctl_recv(fd, &m) == 0) {
			stop = m.type == CTL_RESUME;
			ctl_send(fd, CTL_OK, "ok", 2);
			s->served++;
			free(m.data);
		}
		if (errno == EMSGSIZE) {
			ctl_send(fd, CTL_ERR, "frame too large", 15);
			s->refused++;
		}
		close(fd);
		if (stop)
			return NULL;
	}
}

TEST(real_client)
{
	struct sockaddr_un sa;
	struct server s;
	struct ctl_msg m;
	char path[64], err[256];
	uint8_t h[6 + 16];
	int fd;

	memset(&s, 0, sizeof(s));
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(path, sizeof(path), "/tmp/test_ctl.%d.sock", (int)getpid());
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	s.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK_EQ(bind(s.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK_EQ(listen(s.lfd, 4), 0);
	pthread_create(&s.th, NULL, server_main, &s);

	/* our own client refuses locally, with a message */
	CHECK_EQ(ctl_call(path, CTL_STATUS, "junk", 4, &m, err, sizeof(err)), -1);
	CHECK(strstr(err, "STATUS") != NULL);
	/* a foreign client that sends an oversized header: ERR, then the server closes */
	fd = ctl_connect(path, err, sizeof(err));
	CHECK(fd >= 0);
	header(h, 97, CTL_VERSION, CTL_SET_TICKET_KEYS);
	memset(h + 6, 'k', 16);
	CHECK_EQ(write(fd, h, sizeof(h)), (long long)sizeof(h));
	CHECK_EQ(ctl_recv(fd, &m), 0);
	CHECK_EQ(m.type, CTL_ERR);
	CHECK_STR(m.data, "frame too large");
	free(m.data);
	CHECK_EQ(ctl_recv(fd, &m), -1);           /* closed */
	close(fd);
	/* and the server goes on answering */
	CHECK_EQ(ctl_call(path, CTL_STATUS, NULL, 0, &m, err, sizeof(err)), 0);
	CHECK_EQ(m.type, CTL_OK);
	free(m.data);
	CHECK_EQ(ctl_call(path, CTL_RESUME, NULL, 0, &m, err, sizeof(err)), 0);
	free(m.data);
	pthread_join(s.th, NULL);
	CHECK_EQ(s.served, 2);
	CHECK_EQ(s.refused, 1);
	close(s.lfd);
	unlink(path);
}

int main(void)
{
	RUN(bound_values);
	RUN(bounds_every_type);
	RUN(over_the_cap);
	RUN(send_refuses);
	RUN(print);
	RUN(real_client);
	return t_done("test_ctl");
}
