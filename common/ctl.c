/*
 * ctl.c - framing of the control-socket protocol (see ctl.h): write and
 * read one frame, connect, and a one-shot request for the clients; the
 * bound of each message type and the count of frames refused as too large.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include "common/ctl.h"

/* Name of a message type. */
const char *ctl_type_name(uint8_t type)
{
	switch (type) {
	case CTL_STATUS: return "STATUS";
	case CTL_STATS: return "STATS";
	case CTL_SESSIONS: return "SESSIONS";
	case CTL_SET_POLICY: return "SET_POLICY";
	case CTL_SET_TICKET_KEYS: return "SET_TICKET_KEYS";
	case CTL_DRAIN: return "DRAIN";
	case CTL_RESUME: return "RESUME";
	case CTL_SET_CERTS: return "SET_CERTS";
	case CTL_SET_USERS: return "SET_USERS";
	case CTL_SET_GENERATION: return "SET_GENERATION";
	case CTL_OK: return "OK";
	case CTL_ERR: return "ERR";
	case CTL_DATA: return "DATA";
	default: return "?";
	}
}

_Static_assert(CTL_CERTS_MAX <= CTL_HDR_PAYLOAD_MAX, "SET_CERTS must fit in a frame");
_Static_assert(CTL_DATA_MAX <= CTL_HDR_PAYLOAD_MAX, "a SESSIONS listing must fit in a frame");
_Static_assert(CTL_POLICY_VERSION_MAX + 1 < CTL_POLICY_MAX, "a policy has room for its map");

/* Frames refused as too large, by type (index 0 also counts the unknown types). */
static _Atomic uint64_t refused[256];

/* The largest payload of a type. */
uint32_t ctl_max_payload(uint8_t type)
{
	switch (type) {
	case CTL_SET_POLICY: return CTL_POLICY_MAX;
	case CTL_SET_TICKET_KEYS: return CTL_TICKET_KEYS_MAX;
	case CTL_SET_CERTS: return CTL_CERTS_MAX;
	case CTL_SET_USERS: return CTL_USERS_MAX;
	case CTL_SET_GENERATION: return CTL_GENERATION_MAX;
	case CTL_OK:
	case CTL_ERR: return CTL_TEXT_MAX;
	case CTL_DATA: return CTL_DATA_MAX;
	default: return CTL_NOARG_MAX;     /* STATUS ... RESUME, and types we do not know */
	}
}

/* Is this a type we know? */
static int known(uint8_t type)
{
	return strcmp(ctl_type_name(type), "?") != 0;
}

/* Refusals of one type ("?" types are counted together). */
uint64_t ctl_refused(uint8_t type)
{
	return atomic_load_explicit(&refused[known(type) ? type : 0], memory_order_relaxed);
}

/* Refusal counters in Prometheus text. */
void ctl_refused_print(FILE *f, const char *prefix)
{
	unsigned t;

	for (t = 1; t < 256; t++)
		if (known((uint8_t)t))
			fprintf(f, "%sframes_refused_total{type=\"%s\"} %llu\n", prefix, ctl_type_name((uint8_t)t),
				(unsigned long long)ctl_refused((uint8_t)t));
	fprintf(f, "%sframes_refused_total{type=\"other\"} %llu\n", prefix,
		(unsigned long long)ctl_refused(0));
}

/* Write all of buf, retrying short writes and EINTR. */
static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read exactly len bytes; -1 on error or end of stream (errno ECONNRESET then). */
static int read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			errno = ECONNRESET;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write one frame. */
int ctl_send(int fd, uint8_t type, const void *payload, size_t len)
{
	uint8_t h[6];
	uint32_t l;

	if (len > ctl_max_payload(type)) {
		errno = EMSGSIZE;
		return -1;
	}
	l = (uint32_t)len + 2;
	h[0] = (uint8_t)(l >> 24);
	h[1] = (uint8_t)(l >> 16);
	h[2] = (uint8_t)(l >> 8);
	h[3] = (uint8_t)l;
	h[4] = CTL_VERSION;
	h[5] = type;
	if (write_all(fd, h, sizeof(h)) != 0)
		return -1;
	return len ? write_all(fd, payload, len) : 0;
}

/* Read one frame (the payload is malloc'd and NUL-terminated). */
int ctl_recv(int fd, struct ctl_msg *m)
{
	uint8_t h[6];
	uint32_t l;

	memset(m, 0, sizeof(*m));
	if (read_all(fd, h, sizeof(h)) != 0)
		return -1;
	l = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
	if (h[4] != CTL_VERSION || l < 2) {
		errno = EPROTO;
		return -1;
	}
	m->type = h[5];
	m->len = l - 2;
	if (m->len > ctl_max_payload(m->type)) {
		atomic_fetch_add_explicit(&refused[known(m->type) ? m->type : 0], 1, memory_order_relaxed);
		fprintf(stderr, "%s: control socket: %s frame (type %u) of %u payload bytes refused, at most %u\n",
			program_invocation_short_name, ctl_type_name(m->type), m->type, m->len,
			ctl_max_payload(m->type));
		errno = EMSGSIZE;
		return -1;
	}
	m->data = malloc(m->len + 1);
	if (m->data == NULL)
		return -1;
	if (m->len && read_all(fd, m->data, m->len) != 0) {
		free(m->data);
		m->data = NULL;
		return -1;
	}
	m->data[m->len] = '\0';
	return 0;
}

/* Connect to the control socket. */
int ctl_connect(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control socket path too long: %s", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		snprintf(err, errlen, "cannot connect to %s: %s (is mxgate running?)", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* One request, one reply. */
int ctl_call(const char *path, uint8_t type, const void *payload, size_t len,
	     struct ctl_msg *m, char *err, size_t errlen)
{
	int ms = type == CTL_SET_POLICY || type == CTL_SET_CERTS || type == CTL_SET_USERS ? CTL_IO_SET_MS
										      : CTL_IO_MS;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	int fd = ctl_connect(path, err, errlen);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (ctl_send(fd, type, payload, len) != 0 || ctl_recv(fd, m) != 0) {
		if (errno == EAGAIN)
			snprintf(err, errlen, "%s: no answer within %d s (is mxgate wedged?)", ctl_type_name(type),
				 ms / 1000);
		else
			snprintf(err, errlen, "%s: %s", ctl_type_name(type),
				 errno == EPROTO ? "protocol version mismatch" : strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}
