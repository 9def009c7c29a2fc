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
#include "common/ctl_payload.h"
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

/* ---- SET_CERTS and SET_USERS payloads (common/ctl_payload.c) ---- */

/* Decode p (NUL-terminated test text) and return the error ("" when it decoded). */
static const char *certs_err(const char *p, size_t len, struct ctl_certs *c)
{
	static char err[256];

	err[0] = '\0';
	if (ctl_certs_decode(p, len, c, err, sizeof(err)) == 0)
		return "";
	return err;
}

#define SET_STR(field, str) do { field = (str); field##_len = strlen(str); } while (0)

/* Two certificates (OCSP on the second, no SNI on the first), CA and CRL: encoded, decoded back. */
TEST(certs_round_trip)
{
	static const uint8_t ocsp[] = { 0x30, 0x03, 0x0a, 0x01, 0x00 };
	struct ctl_certs in, out;
	char buf[1024], err[128];
	size_t len = 0, len2 = 0;

	memset(&in, 0, sizeof(in));
	SET_STR(in.cert[0].name, "default");
	SET_STR(in.cert[0].chain, "-----BEGIN CERTIFICATE-----\nA\n");
	SET_STR(in.cert[0].key, "-----BEGIN PRIVATE KEY-----\nB\n");
	SET_STR(in.cert[1].name, "b.example_2-x");
	SET_STR(in.cert[1].sni, "b.example,*.b.example");
	SET_STR(in.cert[1].chain, "chain2");
	SET_STR(in.cert[1].key, "key two");
	in.cert[1].ocsp = ocsp;
	in.cert[1].ocsp_len = sizeof(ocsp);
	in.n = 2;
	SET_STR(in.ca, "CA PEM\n");
	SET_STR(in.crl, "CRL PEM\n");

	CHECK_EQ(ctl_certs_encode(&in, NULL, &len, err, sizeof(err)), 0);
	CHECK(len < sizeof(buf));
	CHECK_EQ(ctl_certs_encode(&in, buf, &len2, err, sizeof(err)), 0);
	CHECK_EQ(len, len2);
	/* the wire form, as mxgate-control and mxctl always wrote it */
	CHECK(memcmp(buf, "CERT default -\n30 30\n-----BEGIN CERTIFICATE-----", 48) == 0);
	CHECK(memmem(buf, len, "CERT b.example_2-x b.example,*.b.example\n6 7 5\nchain2key two", 60) != NULL);
	CHECK(memmem(buf, len, "CA 7\nCA PEM\nCRL 8\nCRL PEM\n", 26) != NULL);

	CHECK_STR(certs_err(buf, len, &out), "");
	CHECK_EQ(out.n, 2);
	CHECK(out.cert[0].name_len == 7 && memcmp(out.cert[0].name, "default", 7) == 0);
	CHECK(out.cert[0].sni == NULL && out.cert[0].sni_len == 0);
	CHECK(out.cert[0].ocsp == NULL && out.cert[0].ocsp_len == 0);
	CHECK(out.cert[0].chain_len == in.cert[0].chain_len &&
	      memcmp(out.cert[0].chain, in.cert[0].chain, in.cert[0].chain_len) == 0);
	CHECK(out.cert[0].key_len == in.cert[0].key_len &&
	      memcmp(out.cert[0].key, in.cert[0].key, in.cert[0].key_len) == 0);
	CHECK(out.cert[1].sni_len == in.cert[1].sni_len &&
	      memcmp(out.cert[1].sni, in.cert[1].sni, in.cert[1].sni_len) == 0);
	CHECK(out.cert[1].ocsp_len == sizeof(ocsp) && memcmp(out.cert[1].ocsp, ocsp, sizeof(ocsp)) == 0);
	CHECK(out.cert[1].key_len == 7 && memcmp(out.cert[1].key, "key two", 7) == 0);
	CHECK(out.ca_len == 7 && memcmp(out.ca, "CA PEM\n", 7) == 0);
	CHECK(out.crl_len == 8 && memcmp(out.crl, "CRL PEM\n", 8) == 0);

	/* every cut of the payload: decoded or refused, never read past the end (ASan) */
	for (size_t cut = 0; cut < len; cut++) {
		char *p = malloc(cut ? cut : 1);
		const char *e;

		memcpy(p, buf, cut);
		e = certs_err(p, cut, &out);
		if (e[0] == '\0')
			CHECK(out.n <= 2);
		free(p);
	}

	/* nothing at all: no certificate, no CA, no CRL (back to the configuration's) */
	CHECK_STR(certs_err("", 0, &out), "");
	CHECK(out.n == 0 && out.ca == NULL && out.crl == NULL);
	/* only a CA */
	CHECK_STR(certs_err("CA 3\nabc", 8, &out), "");
	CHECK(out.n == 0 && out.ca_len == 3 && out.crl == NULL);
}

TEST(certs_encode_refuses)
{
	struct ctl_certs c;
	char err[128];
	size_t len = 12345;

	memset(&c, 0, sizeof(c));
	SET_STR(c.cert[0].name, "bad name");
	c.n = 1;
	CHECK_EQ(ctl_certs_encode(&c, NULL, &len, err, sizeof(err)), -1);
	CHECK_EQ(len, 12345);
	SET_STR(c.cert[0].name, "");
	CHECK_EQ(ctl_certs_encode(&c, NULL, &len, err, sizeof(err)), -1);
	SET_STR(c.cert[0].name, "0123456789012345678901234567890123456789012345678901234567890123");
	CHECK_EQ(ctl_certs_encode(&c, NULL, &len, err, sizeof(err)), -1);         /* 64 octets */
	c.cert[0].name_len = 63;
	CHECK_EQ(ctl_certs_encode(&c, NULL, &len, err, sizeof(err)), 0);
	SET_STR(c.cert[0].sni, "a.example b.example");
	CHECK_EQ(ctl_certs_encode(&c, NULL, &len, err, sizeof(err)), -1);
	SET_STR(c.cert[0].sni, "a.example\nCERT x y");
	CHECK_EQ(ctl_certs_encode(&c, NULL, &len, err, sizeof(err)), -1);
	SET_STR(c.cert[0].sni, "a.example");
	c.n = CERTS_MAX + 1;
	CHECK_EQ(ctl_certs_encode(&c, NULL, &len, err, sizeof(err)), -1);
}

TEST(certs_decode_hostile)
{
	static const struct { const char *in, *err; } t[] = {
		/* lengths: decimal digits only, within what is left */
		{ "CERT a -\n1 1\nxy", "" },
		{ "CERT a -\n1 1\nx", "certificate 1: bad header" },            /* truncated */
		{ "CERT a -\n2 1\nxy", "certificate 1: bad header" },
		{ "CERT a -\n1 1 1\nxy", "certificate 1: bad header" },         /* OCSP cut */
		{ "CERT a -\n1 1 0\nxy", "certificate 1: bad header" },         /* OCSP of 0 */
		{ "CERT a -\n-1 1\nxy", "certificate 1: bad header" },
		{ "CERT a -\n+1 1\nxy", "certificate 1: bad header" },
		{ "CERT a -\n 1 1\nxy", "certificate 1: bad header" },
		{ "CERT a -\n1  1\nxy", "certificate 1: bad header" },
		{ "CERT a -\n1 1 \nxy", "certificate 1: bad header" },
		{ "CERT a -\n1x 1\nxy", "certificate 1: bad header" },
		{ "CERT a -\n1\nxy", "certificate 1: bad header" },
		{ "CERT a -\n1 1 0 0\nxy", "certificate 1: bad header" },
		{ "CERT a -\n18446744073709551615 1\nxy", "certificate 1: bad header" },
		{ "CERT a -\n99999999999999999999 1\nxy", "certificate 1: bad header" },  /* overflows */
		{ "CERT a -\n000000000000000000001 1\nxy", "certificate 1: bad header" }, /* 21 digits */
		{ "CERT a -\n18446744073709551615 18446744073709551615\nxy", "certificate 1: bad header" },
		/* the first line */
		{ "CERT a\n1 1\nxy", "certificate 1: bad header" },
		{ "CERTa -\n1 1\nxy", "certificate 1: bad header" },
		{ "CERT  a -\n1 1\nxy", "certificate 1: bad header" },
		{ "CERT a - extra\n1 1\nxy", "certificate 1: bad header" },
		{ "CERT a/b -\n1 1\nxy", "certificate 1: bad header" },
		{ "CERT a \n1 1\nxy", "certificate 1: bad header" },
		{ "CERT a x\ty\n1 1\nxy", "certificate 1: bad header" },
		{ "KEY a -\n1 1\nxy", "certificate 1: bad header" },
		{ "CERT a -\n1 1", "certificate 1: header lines expected" },
		{ "CERT a -", "certificate 1: header lines expected" },
		{ "xxxx", "certificate 1: header lines expected" },
		/* CA and CRL blocks */
		{ "CA 2\nab", "" },
		{ "CA 3\nab", "CA block: bad or repeated header" },
		{ "CA x\nab", "CA block: bad or repeated header" },
		{ "CA \nab", "CA block: bad or repeated header" },
		{ "CA -1\nab", "CA block: bad or repeated header" },
		{ "CA 1\naCA 1\nb", "CA block: bad or repeated header" },
		{ "CRL 1\naCRL 0\n", "CRL block: bad or repeated header" },
		{ "CRL 1\naCA 0\n", "" },
		{ "CA 0\nCERT a b.example\n0 0\n", "" },
	};
	struct ctl_certs c;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *e = certs_err(t[i].in, strlen(t[i].in), &c);

		if (strcmp(e, t[i].err) != 0)
			fprintf(stderr, "case %zu: %s\n", i, t[i].in);
		CHECK_STR(e, t[i].err);
	}

	/* name and SNI at their bounds and one over */
	{
		char buf[1024], name[CERT_NAME_MAX + 2], sni[SNI_FIELD_MAX + 2];
		int n;

		memset(name, 'n', sizeof(name));
		memset(sni, 's', sizeof(sni));
		n = snprintf(buf, sizeof(buf), "CERT %.*s %.*s\n0 0\n", CERT_NAME_MAX, name, SNI_FIELD_MAX, sni);
		CHECK_STR(certs_err(buf, (size_t)n, &c), "");
		CHECK(c.n == 1 && c.cert[0].name_len == CERT_NAME_MAX && c.cert[0].sni_len == SNI_FIELD_MAX);
		n = snprintf(buf, sizeof(buf), "CERT %.*s s\n0 0\n", CERT_NAME_MAX + 1, name);
		CHECK_STR(certs_err(buf, (size_t)n, &c), "certificate 1: bad header");
		n = snprintf(buf, sizeof(buf), "CERT n %.*s\n0 0\n", SNI_FIELD_MAX + 1, sni);
		CHECK_STR(certs_err(buf, (size_t)n, &c), "certificate 1: bad header");
		/* a NUL in the name */
		CHECK_STR(certs_err("CERT a\0b -\n0 0\n", 15, &c), "certificate 1: bad header");
	}

	/* CERTS_MAX certificates and one more */
	{
		char buf[64 * (CERTS_MAX + 1)];
		size_t o = 0;

		for (int i = 0; i <= CERTS_MAX; i++) {
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "CERT c%d -\n0 0\n", i);
			if (i == CERTS_MAX - 1) {
				CHECK_STR(certs_err(buf, o, &c), "");
				CHECK_EQ(c.n, CERTS_MAX);
			}
		}
		CHECK_STR(certs_err(buf, o, &c), "more than 8 certificates");
	}
}

TEST(users)
{
	struct ctl_user in[3] = {
		{ "alice", "$scrypt$a", 5, 9 },
		{ "bob@example.org", "$scrypt$b b", 15, 11 },   /* the hash is the rest of the line */
		{ "\xc3\xa9t\xc3\xa9", "h", 5, 1 },
	}, u;
	char buf[256];
	size_t len = ctl_users_encode(in, 3, NULL), off = 0, line = 0;

	CHECK_EQ(len, 5 + 9 + 15 + 11 + 5 + 1 + 3 * 2);
	CHECK_EQ(ctl_users_encode(in, 3, buf), len);
	CHECK(memcmp(buf, "alice $scrypt$a\nbob@example.org $scrypt$b b\n", 44) == 0);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(ctl_users_next(buf, len, &off, &line, &u), 1);
		CHECK(u.name_len == in[i].name_len && memcmp(u.name, in[i].name, u.name_len) == 0);
		CHECK(u.hash_len == in[i].hash_len && memcmp(u.hash, in[i].hash, u.hash_len) == 0);
		CHECK_EQ(line, i + 1);
	}
	CHECK_EQ(ctl_users_next(buf, len, &off, &line, &u), 0);
	CHECK_EQ(ctl_users_encode(in, 0, NULL), 0);

	/* empty lines skipped but counted; no final newline; a bad line named */
	{
		static const char p[] = "\n\nu1 h1\n\nu2 h2\nbad\nu3 h3";
		size_t n = sizeof(p) - 1;

		off = line = 0;
		CHECK_EQ(ctl_users_next(p, n, &off, &line, &u), 1);
		CHECK_EQ(line, 3);
		CHECK_EQ(ctl_users_next(p, n, &off, &line, &u), 1);
		CHECK(u.hash_len == 2 && memcmp(u.hash, "h2", 2) == 0);
		CHECK_EQ(ctl_users_next(p, n, &off, &line, &u), -1);
		CHECK_EQ(line, 6);
		CHECK_EQ(ctl_users_next(p, n, &off, &line, &u), 1);
		CHECK(u.hash_len == 2 && memcmp(u.hash, "h3", 2) == 0);
		CHECK_EQ(ctl_users_next(p, n, &off, &line, &u), 0);
	}
	/* hostile lines */
	{
		static const char *const bad[] = { " hash", "a\tb hash", "a\x7f hash", "nospace", "a\x01 h" };
		char big[USER_NAME_MAX + 8];

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			off = line = 0;
			CHECK_EQ(ctl_users_next(bad[i], strlen(bad[i]), &off, &line, &u), -1);
		}
		memset(big, 'u', sizeof(big));
		big[USER_NAME_MAX] = ' ';
		off = line = 0;
		CHECK_EQ(ctl_users_next(big, USER_NAME_MAX + 2, &off, &line, &u), 1);   /* 255 octets */
		big[USER_NAME_MAX] = 'u';
		big[USER_NAME_MAX + 1] = ' ';
		off = line = 0;
		CHECK_EQ(ctl_users_next(big, USER_NAME_MAX + 3, &off, &line, &u), -1);  /* 256 */
		/* a NUL ends nothing: it is a control character in the name */
		off = line = 0;
		CHECK_EQ(ctl_users_next("a\0b h", 5, &off, &line, &u), -1);
	}
	CHECK(ctl_user_name_bad("", 0) != NULL);
	CHECK(ctl_user_name_bad("ok", 2) == NULL);
}

int main(void)
{
	RUN(bound_values);
	RUN(bounds_every_type);
	RUN(over_the_cap);
	RUN(send_refuses);
	RUN(print);
	RUN(real_client);
	RUN(certs_round_trip);
	RUN(certs_encode_refuses);
	RUN(certs_decode_hostile);
	RUN(users);
	return t_done("test_ctl");
}
