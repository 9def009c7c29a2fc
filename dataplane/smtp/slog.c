/*
 * slog.c - the SMTP log line (see slog.h).
 */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "slog.h"

/*
 * Per thread: the line prefix of the current second (strftime, getpid and
 * the host formatted once a second, not per line) and, on a thread that
 * called slog_batch(), the lines not yet written. A batch never exceeds
 * PIPE_BUF, so that one write() of it stays whole on a pipe too and lines
 * of several threads never mix.
 */
static __thread struct {
	time_t sec;
	uint64_t since;                  /* slog_flush_late(): when it first saw lines waiting, + 1 */
	int plen, batching;
	char host[257];
	size_t len;
	char prefix[320];
	char buf[PIPE_BUF];
} lg;

static void put(const char *b, size_t n)
{
	if (write(STDERR_FILENO, b, n) < 0)
		return;
}

void slog_batch(void)
{
	lg.batching = 1;
}

int slog_flush(void)
{
	if (lg.len == 0)
		return 0;
	put(lg.buf, lg.len);
	lg.len = 0;
	lg.since = 0;
	return 1;
}

void slog_flush_late(uint64_t now_us, uint64_t max_us)
{
	if (lg.len == 0)
		return;
	if (lg.since == 0)
		lg.since = now_us + 1;
	else if (now_us + 1 - lg.since >= max_us)
		slog_flush();
}

/* One log line: "<date> <host> mxgate/smtpd[<pid>]: <text>". */
void slog(const char *host, const char *fmt, ...)
{
	char line[1024];
	time_t now = time(NULL);
	int n;
	va_list ap;

	if (now != lg.sec || lg.plen == 0 || strncmp(host, lg.host, sizeof(lg.host)) != 0) {
		struct tm tm;
		char ts[32];

		localtime_r(&now, &tm);
		strftime(ts, sizeof(ts), "%b %e %H:%M:%S", &tm);
		n = snprintf(lg.prefix, sizeof(lg.prefix), "%s %.256s mxgate/smtpd[%d]: ", ts, host, (int)getpid());
		lg.plen = n < (int)sizeof(lg.prefix) ? n : (int)sizeof(lg.prefix) - 1;
		lg.sec = now;
		snprintf(lg.host, sizeof(lg.host), "%s", host);
	}
	memcpy(line, lg.prefix, (size_t)lg.plen);
	n = lg.plen;
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (!lg.batching) {
		put(line, (size_t)n);
		return;
	}
	if (lg.len + (size_t)n > sizeof(lg.buf))
		slog_flush();
	memcpy(lg.buf + lg.len, line, (size_t)n);
	lg.len += (size_t)n;
}
