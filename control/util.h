/*
 * util.h - mxgate-control's own small helpers, used by every part of it
 * (mxgate-control.c, store.c, metrics.c): the log line, the monotonic
 * clock, the retry back-off, the verdict on the Redis generation marker.
 * They call nothing of the other parts. libc
 * only. (Escaping and hashing, shared with the other programs, are in
 * common/strutil.h.)
 */
#ifndef MX_CONTROL_UTIL_H
#define MX_CONTROL_UTIL_H

#include <stddef.h>

#include "common/config.h"

#define BACKOFF_MIN_MS          100
#define BACKOFF_MAX_MS          5000

/* A log line: stderr with a timestamp (the default, and -f), else syslog. */
void logm(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* From now on log lines go to syslog (facility mail) as ident. */
void logm_to_syslog(const char *ident);
/* Monotonic milliseconds. */
long long now_ms(void);
/* Next back-off in ms: 0.1 s doubling up to 5 s, with up to 20% jitter; *cur keeps the step. */
int backoff_next(int *cur);

/*
 * The generation marker (common/schema.h RK_GENERATION) as read, against
 * the one held with the last good state: val NULL when absent (or not a
 * string of at most GEN_MAX octets); held "" when nothing is held yet.
 */
enum gen_verdict {
	GEN_NONE,       /* none held, none there: go on as without a marker */
	GEN_SAME,       /* the one held: go on */
	GEN_NEW,        /* none held yet, or re-stamped by mxctl (reload --force): take it, sync all */
	GEN_LOST,       /* gone, or changed by anything but mxctl: Redis lost its data */
};
enum gen_verdict gen_verdict(const char *held, const char *val, size_t len);

/* redis_addr_split() and sentinel_list_parse() are in common/config.h: the file is checked with them */

#endif
