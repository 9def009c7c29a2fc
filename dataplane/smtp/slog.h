/*
 * slog.h - the SMTP log: one line per event on stderr, in Postfix's form
 * "<Mmm dd hh:mm:ss> <host> mxgate/smtpd[<pid>]: <text>", written with one
 * write() so that lines of several workers never mix. A worker thread
 * batches its lines (slog_batch) and writes them when it has nothing else
 * to do, when PIPE_BUF octets wait, or when the first has waited 10 ms
 * while it was busy (slog_flush, slog_flush_late): a system call per
 * batch rather than per line. The
 * wording of the texts (Postfix's "connect from", "NOQUEUE: reject:",
 * "disconnect from ... ehlo=1 mail=1 ...") is the callers'.
 */
#ifndef MX_SLOG_H
#define MX_SLOG_H

#include <stdint.h>

/* Log one line (at most 1 KiB, cut beyond) as host. */
void slog(const char *host, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* From now on this thread's lines wait for slog_flush() (at most PIPE_BUF octets wait). */
void slog_batch(void);

/* Write this thread's waiting lines, if any; 1 if there were. */
int slog_flush(void);

/* The same once lines have waited max_us since an earlier call saw them (now_us: the caller's clock). */
void slog_flush_late(uint64_t now_us, uint64_t max_us);

#endif
