/*
 * slog.h - the SMTP log, in Postfix's words and form, so that pflogsumm
 * and fail2ban's postfix filter read it as they read Postfix's.
 *
 * A line is "<Mmm dd hh:mm:ss> <host> <syslog_name>/<daemon>[<key>]: <text>":
 * daemon is Postfix's program that would have logged it (smtpd for the
 * session, qmgr for "from=<...>, size=", smtp for "to=<...>, relay="), key
 * is the session number (Postfix has one process per session, so its pid
 * tells sessions apart; here the number does, and mxctl sessions shows it
 * as id=). The texts are the callers'.
 *
 * Where lines go (slog_open): the system logger's /dev/log, as syslog(3)
 * would send them (facility mail by default, ident
 * "<syslog_name>/<daemon>[<key>]"; the logger adds the host) but through a
 * socket that never blocks (slog.c says why), or stderr in the same form
 * with date and host added here.
 *
 * How: a worker never writes nor formats a time. Its thread is bound to
 * a ring of its own (slog_bind); slog() formats the text into the ring
 * with the raw time (seconds) and returns; the service lcore drains every
 * ring (slog_drain) and writes. A full ring drops the line and counts it;
 * once room returns, a warning line says how many were dropped, ahead of
 * the next line. While the logger's queue is full the lines wait in their
 * ring; while there is no logger they are dropped and counted in the same
 * counter, and stderr says so once per outage. A thread bound to no ring
 * (the service lcore itself, the main thread at shutdown, tests) writes at
 * once.
 */
#ifndef MX_SLOG_H
#define MX_SLOG_H

#include <stddef.h>
#include <stdint.h>

#define SLOG_TEXT_MAX  1024          /* text of one line, cut beyond */
#define SLOG_RING_SIZE (256 * 1024)  /* bytes of a worker's ring */

/* Postfix's program names, in the ident. */
enum slog_daemon { SLOG_SMTPD, SLOG_QMGR, SLOG_SMTP, SLOG_DAEMON_COUNT };

struct slog_ring;

/*
 * Where lines go, from now on: syslog (1: openlog with facility) or stderr
 * (0), as syslog_name, on host (for stderr). Call before workers start.
 */
void slog_open(int to_syslog, int facility, const char *syslog_name, const char *host);

/*
 * A ring of size bytes (a power of two, at least 4 KiB) for one worker;
 * drops are added to *dropped (a counter the service thread reads). It is
 * drained by slog_drain() until freed. NULL when out of memory.
 */
struct slog_ring *slog_ring_new(size_t size, uint64_t *dropped);
/* Write what it holds and free it (after its worker stopped). */
void slog_ring_free(struct slog_ring *r);
/* Lines of this thread go through r from now on (NULL: written at once). */
void slog_bind(struct slog_ring *r);

/* Log one line as daemon for the session key. */
void slogd(enum slog_daemon d, unsigned key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define slog(key, ...) slogd(SLOG_SMTPD, key, __VA_ARGS__)

/* Service lcore: write every line the rings hold. Returns the lines written. */
unsigned slog_drain(void);

/* A new session number (never 0), unique in this process. */
unsigned slog_session_key(void);

/*
 * Postfix's long queue IDs (enable_long_queue_ids): the time in seconds
 * (base 52, at least 6 characters), the microseconds (base 52, exactly 4),
 * 'z', then the worker (base 51, so no 'z'), in Postfix's alphabet of
 * digits and consonants. One generator per worker: its times only go
 * forward (a call within the same microsecond takes the next one), so its
 * IDs never repeat, across restarts too (while the clock does not step
 * back), and the worker part tells the workers' apart.
 */
#define SLOG_QID_MAX 24
struct slog_qid {
	uint64_t last_us;              /* the time of the last ID */
	unsigned worker;
};
/* The next queue ID into out (SLOG_QID_MAX bytes). */
void slog_queue_id(struct slog_qid *g, char *out);
/* The same for a given time (tests). */
void slog_queue_id_at(struct slog_qid *g, uint64_t now_us, char *out);

/* For tests: the writer the service lcore uses (default: stderr or syslog), NULL restores it. */
typedef void (*slog_writer)(enum slog_daemon d, unsigned key, int64_t sec, const char *text, size_t len);
void slog_set_writer(slog_writer w);

#endif
