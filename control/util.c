/*
 * util.c - mxgate-control's log line, clock and back-off, and the verdict on
 * the generation marker (util.h).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <sys/random.h>

#include "common/schema.h"
#include "control/util.h"

static int g_syslog;

void logm_to_syslog(const char *ident)
{
	openlog(ident, LOG_PID, LOG_MAIL);
	g_syslog = 1;
}

void logm(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (!g_syslog) {
		struct timespec ts;
		struct tm tm;
		char t[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(t, sizeof(t), "%Y-%m-%d %H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld mxgate-control: ", t, ts.tv_nsec / 1000000);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	} else {
		vsyslog(LOG_INFO, fmt, ap);
	}
	va_end(ap);
}

long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Next back-off: 0.1 s, doubling up to 5 s, with up to 20% jitter (a fleet does not retry in step). */
int backoff_next(int *cur)
{
	unsigned r = 0;

	*cur = *cur ? *cur * 2 : BACKOFF_MIN_MS;
	if (*cur > BACKOFF_MAX_MS)
		*cur = BACKOFF_MAX_MS;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (unsigned)now_ms();
	return *cur - (int)(r % (unsigned)(*cur / 5 + 1));
}

enum gen_verdict gen_verdict(const char *held, const char *val, size_t len)
{
	size_t wl = strlen(GEN_BY_MXCTL);

	if (!val || len > GEN_MAX)
		return held[0] ? GEN_LOST : GEN_NONE;
	if (held[0] && strlen(held) == len && memcmp(held, val, len) == 0)
		return GEN_SAME;
	if (!held[0] || (len > wl + 1 && val[len - wl - 1] == ' ' &&
			 memcmp(val + len - wl, GEN_BY_MXCTL, wl) == 0))
		return GEN_NEW;
	return GEN_LOST;
}
