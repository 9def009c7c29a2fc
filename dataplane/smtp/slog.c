/*
 * slog.c - the SMTP log: per-worker rings drained by the service lcore
 * into syslog or stderr (see slog.h).
 *
 * A ring is a single-producer single-consumer byte ring: records of a
 * 16-byte header and the text, 8-byte aligned, wrapping around the end.
 * head (bytes ever written) is the worker's, tail (bytes ever read) the
 * service lcore's; each publishes its own with a release store. Writing
 * (the drain, a thread bound to no ring) holds one lock: the output
 * buffer and the syslog ident are shared; a worker never takes it once
 * bound.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "slog.h"
#include "common/strutil.h"

#define SLOG_MAX_RINGS 256
#define OUT_MAX        65536        /* stderr: lines gathered for one write() */
#define SYSLOG_PATH    "/dev/log"
#define SYSLOG_RETRY_S 1            /* seconds between tries to reach a syslog that is gone */

struct rec {
	uint16_t len;                   /* text bytes */
	uint8_t daemon;
	uint8_t pad;
	uint32_t key;
	int64_t sec;                    /* CLOCK_REALTIME seconds, formatted by the drain */
};

struct slog_ring {
	uint8_t *buf;
	size_t size;
	uint64_t *dropped;
	uint64_t head __attribute__((aligned(64)));   /* the worker's */
	uint64_t pending;               /* lines dropped, not yet told (the worker's) */
	uint64_t tail __attribute__((aligned(64)));   /* the service lcore's */
};

static const char *const daemon_names[SLOG_DAEMON_COUNT] = {
	[SLOG_SMTPD] = "smtpd", [SLOG_QMGR] = "qmgr", [SLOG_SMTP] = "smtp",
};

static struct {
	int to_syslog, facility;
	char name[32];
	char host[64];
	int sys_fd;                     /* datagram socket connected to SYSLOG_PATH, or -1 */
	int64_t sys_retry;              /* monotonic second of the next try to connect */
	uint64_t sys_lost;              /* lines lost since syslog went away (told when it is back) */
	int sys_errno;                  /* why it went away */
	slog_writer writer;             /* tests */
	struct slog_ring *rings[SLOG_MAX_RINGS];
	unsigned nrings;
	char out[OUT_MAX];              /* stderr lines of one drain */
	size_t out_len;
	int64_t stamp_sec;              /* the date last formatted, and its text */
	char stamp[32];
} lg = { .name = "mxgate", .host = "localhost", .stamp_sec = -1, .sys_fd = -1 };

static __thread struct slog_ring *bound;
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned next_key;

void slog_open(int to_syslog, int facility, const char *syslog_name, const char *host)
{
	snprintf(lg.name, sizeof(lg.name), "%s", syslog_name);
	snprintf(lg.host, sizeof(lg.host), "%s", host);
	lg.to_syslog = to_syslog;
	lg.facility = facility;
	if (lg.sys_fd >= 0)
		close(lg.sys_fd);
	lg.sys_fd = -1;
	lg.sys_retry = 0;
}

unsigned slog_session_key(void)
{
	unsigned k;

	while ((k = __atomic_add_fetch(&next_key, 1, __ATOMIC_RELAXED)) == 0)
		;
	return k;
}

void slog_set_writer(slog_writer w)
{
	lg.writer = w;
}

/* ---- writing (the service lcore, or an unbound thread) ---- */

static void out_flush(void)
{
	size_t o = 0;

	while (o < lg.out_len) {
		ssize_t n = write(STDERR_FILENO, lg.out + o, lg.out_len - o);

		if (n <= 0)
			break;            /* stderr gone: the lines are lost, nothing else is */
		o += (size_t)n;
	}
	lg.out_len = 0;
}

/* lg.stamp: the local time of sec as syslog writes it, "Mmm dd hh:mm:ss". */
static void stamp(int64_t sec)
{
	if (sec != lg.stamp_sec) {
		time_t t = (time_t)sec;
		struct tm tm;

		localtime_r(&t, &tm);
		strftime(lg.stamp, sizeof(lg.stamp), "%b %e %H:%M:%S", &tm);
		lg.stamp_sec = sec;
	}
}

/* One line on stderr: "Mmm dd hh:mm:ss host name/daemon[key]: text" (gathered, flushed by the caller). */
static void write_stderr(enum slog_daemon d, unsigned key, int64_t sec, const char *text, size_t len)
{
	int n;

	stamp(sec);
	if (lg.out_len + len + 256 > sizeof(lg.out))
		out_flush();
	n = snprintf(lg.out + lg.out_len, sizeof(lg.out) - lg.out_len, "%s %s %s/%s[%u]: %.*s\n", lg.stamp,
		     lg.host, lg.name, daemon_names[d], key, (int)len, text);
	if (n > 0)
		lg.out_len += (size_t)n < sizeof(lg.out) - lg.out_len ? (size_t)n : sizeof(lg.out) - lg.out_len - 1;
}

static int64_t mono_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return ts.tv_sec;
}

/* Connect the syslog socket if it is time to try; 0 when connected. */
static int syslog_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = SYSLOG_PATH };
	int fd;

	if (lg.sys_fd >= 0)
		return 0;
	if (mono_sec() < lg.sys_retry)
		return -1;
	lg.sys_retry = mono_sec() + SYSLOG_RETRY_S;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		lg.sys_errno = errno;
		if (fd >= 0)
			close(fd);
		return -1;
	}
	lg.sys_fd = fd;
	if (lg.sys_lost > 0) {
		fprintf(stderr, "%s: syslog (%s) is back: %llu log lines were lost while it was not\n", lg.name,
			SYSLOG_PATH, (unsigned long long)lg.sys_lost);
		lg.sys_lost = 0;
	}
	return 0;
}

/* A line syslog could not take: counted (*dropped, and told on stderr once per outage). */
static void syslog_lost(uint64_t *dropped)
{
	if (lg.sys_lost++ == 0)
		fprintf(stderr, "%s: syslog (%s): %s%s; log lines are dropped and counted "
			"(mxgate_smtp_log_dropped_total) until it is back\n", lg.name, SYSLOG_PATH,
			strerror(lg.sys_errno), lg.sys_errno == EPROTOTYPE ?
			" (a stream socket: mxgate sends datagrams, as journald and rsyslog take them; "
			"syslog-ng: unix-dgram)" : "");
	if (dropped != NULL)
		__atomic_add_fetch(dropped, 1, __ATOMIC_RELAXED);
}

/*
 * One line to syslog as syslog(3) sends it, "<pri>Mmm dd hh:mm:ss ident:
 * text", with ident "name/daemon[key]" (the key stands where the pid
 * would), warnings at LOG_WARNING as Postfix's msg_warn(); the system
 * logger adds the host. Our own datagram socket rather than syslog(3):
 * glibc's blocks the service lcore while the logger's queue is full, and
 * while there is no logger it tries to connect again for every line. Here
 * the socket never blocks: a full queue leaves the line in its ring for the
 * next drain (returns 1), and while the logger is gone a connect is tried
 * once a second and the lines in between are dropped and counted.
 */
static int write_syslog(enum slog_daemon d, unsigned key, int64_t sec, const char *text, size_t len,
			uint64_t *dropped)
{
	char buf[SLOG_TEXT_MAX + 160];
	int pri = lg.facility | (strncmp(text, "warning: ", 9) == 0 ? LOG_WARNING : LOG_INFO), n;

	if (syslog_connect() != 0) {
		syslog_lost(dropped);
		return 0;
	}
	stamp(sec);
	n = snprintf(buf, sizeof(buf), "<%d>%s %s/%s[%u]: %.*s", pri, lg.stamp, lg.name, daemon_names[d], key,
		     (int)len, text);
	if (n < 0)
		return 0;
	if (send(lg.sys_fd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1, MSG_NOSIGNAL) >= 0)
		return 0;
	if (errno == EAGAIN || errno == ENOBUFS || errno == EINTR)
		return 1;
	/* the logger went away (restarted: ECONNREFUSED, or removed): a new socket, now or in a second */
	lg.sys_errno = errno;
	close(lg.sys_fd);
	lg.sys_fd = -1;
	lg.sys_retry = 0;
	if (syslog_connect() == 0 && send(lg.sys_fd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1,
					  MSG_NOSIGNAL) >= 0)
		return 0;
	syslog_lost(dropped);
	return 0;
}

/* Write one line; 1: not now (syslog's queue is full), keep it. */
static int write_line(enum slog_daemon d, unsigned key, int64_t sec, const char *text, size_t len, uint64_t *dropped)
{
	if (key == 0)
		key = (unsigned)getpid();     /* a line of no session: the process's, as Postfix's */
	if (lg.writer != NULL)
		lg.writer(d, key, sec, text, len);
	else if (lg.to_syslog)
		return write_syslog(d, key, sec, text, len, dropped);
	else
		write_stderr(d, key, sec, text, len);
	return 0;
}

static int64_t now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);   /* vDSO: no system call, no formatting */
	return ts.tv_sec;
}

/* ---- the ring ---- */

struct slog_ring *slog_ring_new(size_t size, uint64_t *dropped)
{
	struct slog_ring *r;

	if (size < 4096 || (size & (size - 1)) != 0 || lg.nrings == SLOG_MAX_RINGS)
		return NULL;
	if ((r = aligned_alloc(64, sizeof(*r))) == NULL)
		return NULL;
	memset(r, 0, sizeof(*r));
	if ((r->buf = malloc(size)) == NULL) {
		free(r);
		return NULL;
	}
	r->size = size;
	r->dropped = dropped;
	lg.rings[lg.nrings] = r;
	__atomic_store_n(&lg.nrings, lg.nrings + 1, __ATOMIC_RELEASE);
	return r;
}

static void ring_copy_in(struct slog_ring *r, uint64_t pos, const void *src, size_t n)
{
	size_t off = (size_t)(pos & (r->size - 1)), first = r->size - off < n ? r->size - off : n;

	memcpy(r->buf + off, src, first);
	memcpy(r->buf, (const uint8_t *)src + first, n - first);
}

static void ring_copy_out(const struct slog_ring *r, uint64_t pos, void *dst, size_t n)
{
	size_t off = (size_t)(pos & (r->size - 1)), first = r->size - off < n ? r->size - off : n;

	memcpy(dst, r->buf + off, first);
	memcpy((uint8_t *)dst + first, r->buf, n - first);
}

static size_t rec_bytes(size_t len)
{
	return (sizeof(struct rec) + len + 7) & ~(size_t)7;
}

/* Put one record at *head (room checked by the caller). */
static void ring_put(struct slog_ring *r, uint64_t *head, enum slog_daemon d, unsigned key, int64_t sec,
		     const char *text, size_t len)
{
	struct rec h = { .len = (uint16_t)len, .daemon = (uint8_t)d, .key = key, .sec = sec };

	ring_copy_in(r, *head, &h, sizeof(h));
	ring_copy_in(r, *head + sizeof(h), text, len);
	*head += rec_bytes(len);
}

/* The worker's side: the line, after the count of the dropped ones if any; dropped itself when full. */
static void ring_log(struct slog_ring *r, enum slog_daemon d, unsigned key, const char *text, size_t len)
{
	uint64_t head = r->head, tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
	size_t need = rec_bytes(len), room = r->size - (size_t)(head - tail);
	int64_t sec = now_sec();

	if (r->pending > 0) {
		char w[96];
		int n = snprintf(w, sizeof(w), "warning: %llu log lines dropped: log ring full",
				 (unsigned long long)r->pending);

		if (room < need + rec_bytes((size_t)n))
			goto drop;
		ring_put(r, &head, SLOG_SMTPD, 0, sec, w, (size_t)n);
		r->pending = 0;
	} else if (room < need) {
		goto drop;
	}
	ring_put(r, &head, d, key, sec, text, len);
	__atomic_store_n(&r->head, head, __ATOMIC_RELEASE);
	return;
drop:
	r->pending++;
	if (r->dropped != NULL)     /* the drain adds to it too (lines syslog could not take) */
		__atomic_add_fetch(r->dropped, 1, __ATOMIC_RELAXED);
}

/* Write what r holds. */
static unsigned ring_drain(struct slog_ring *r)
{
	uint64_t tail = r->tail, head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
	char text[SLOG_TEXT_MAX];
	unsigned n = 0;

	while (tail != head) {
		struct rec h;

		ring_copy_out(r, tail, &h, sizeof(h));
		ring_copy_out(r, tail + sizeof(h), text, h.len);
		if (write_line((enum slog_daemon)h.daemon, h.key, h.sec, text, h.len, r->dropped) != 0)
			break;            /* syslog is full: the rest waits for the next drain */
		tail += rec_bytes(h.len);
		n++;
	}
	__atomic_store_n(&r->tail, tail, __ATOMIC_RELEASE);
	return n;
}

unsigned slog_drain(void)
{
	unsigned i, n = 0, nr;

	pthread_mutex_lock(&write_lock);
	nr = __atomic_load_n(&lg.nrings, __ATOMIC_ACQUIRE);   /* slog_ring_free() removes under the lock */
	for (i = 0; i < nr; i++)
		n += ring_drain(lg.rings[i]);
	out_flush();
	pthread_mutex_unlock(&write_lock);
	return n;
}

void slog_ring_free(struct slog_ring *r)
{
	unsigned i;

	if (r == NULL)
		return;
	/* a logger whose queue stays full gets 200 ms, then the rest is counted as dropped */
	for (i = 0; i < 200; i++) {
		pthread_mutex_lock(&write_lock);
		ring_drain(r);
		out_flush();
		pthread_mutex_unlock(&write_lock);
		if (r->tail == __atomic_load_n(&r->head, __ATOMIC_ACQUIRE))
			break;
		usleep(1000);
	}
	while (r->tail != r->head) {
		struct rec h;

		ring_copy_out(r, r->tail, &h, sizeof(h));
		r->tail += rec_bytes(h.len);
		if (r->dropped != NULL)
			__atomic_add_fetch(r->dropped, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_lock(&write_lock);   /* slog_drain() walks the rings under it */
	for (i = 0; i < lg.nrings; i++)
		if (lg.rings[i] == r) {
			lg.rings[i] = lg.rings[--lg.nrings];
			break;
		}
	pthread_mutex_unlock(&write_lock);
	if (bound == r)
		bound = NULL;
	free(r->buf);
	free(r);
}

void slog_bind(struct slog_ring *r)
{
	bound = r;
}

void slogd(enum slog_daemon d, unsigned key, const char *fmt, ...)
{
	char text[SLOG_TEXT_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = str_vfmt(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(text))
		n = (int)sizeof(text) - 1;
	if (bound != NULL) {
		ring_log(bound, d, key, text, (size_t)n);
		return;
	}
	pthread_mutex_lock(&write_lock);
	write_line(d, key, now_sec(), text, (size_t)n, NULL);   /* syslog full: lost (rare: not a worker) */
	out_flush();
	pthread_mutex_unlock(&write_lock);
}

/* ---- queue IDs (Postfix's mail_queue.h, long form) ---- */

static const char safe_chars[] = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz";

/* val in base (52 or 51) into out, at least pad characters ('0' in front): safe_ultostr(). */
static size_t safe_encode(char *out, uint64_t val, unsigned base, unsigned pad)
{
	char tmp[24];
	size_t n = 0, i;

	do {
		tmp[n++] = safe_chars[val % base];
		val /= base;
	} while (val > 0);
	while (n < pad)
		tmp[n++] = '0';
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

void slog_queue_id_at(struct slog_qid *g, uint64_t now_us, char *out)
{
	size_t o;

	if (now_us <= g->last_us)
		now_us = g->last_us + 1;
	g->last_us = now_us;
	o = safe_encode(out, now_us / 1000000, 52, 6);
	o += safe_encode(out + o, now_us % 1000000, 52, 4);
	out[o++] = 'z';
	o += safe_encode(out + o, g->worker, 51, 1);
	out[o] = '\0';
}

void slog_queue_id(struct slog_qid *g, char *out)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	slog_queue_id_at(g, (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000, out);
}
