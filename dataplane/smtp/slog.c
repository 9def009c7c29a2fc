/*
 * slog.c - the SMTP log line (see slog.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "slog.h"

/* One log line: "<date> <host> mxgate/smtpd[<pid>]: <text>". */
void slog(const char *host, const char *fmt, ...)
{
	char buf[1024], ts[32];
	time_t now = time(NULL);
	struct tm tm;
	int n;
	va_list ap;

	localtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%b %e %H:%M:%S", &tm);
	n = snprintf(buf, sizeof(buf), "%s %s mxgate/smtpd[%d]: ", ts, host, (int)getpid());
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(STDERR_FILENO, buf, (size_t)n) < 0)
		return;
}
