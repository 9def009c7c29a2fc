/*
 * slog.h - the SMTP log: one line per event on stderr, in Postfix's form
 * "<Mmm dd hh:mm:ss> <host> mxgate/smtpd[<pid>]: <text>", written with one
 * write() so that lines of several workers never mix. A worker thread
 * batches its lines (slog_batch) and writes them once per poll round
 * (slog_flush): one system call per round rather than per line. The
 * wording of the texts (Postfix's "connect from", "NOQUEUE: reject:",
 * "disconnect from ... ehlo=1 mail=1 ...") is the callers'.
 */
#ifndef MX_SLOG_H
#define MX_SLOG_H

/* Log one line (at most 1 KiB, cut beyond) as host. */
void slog(const char *host, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* From now on this thread's lines wait for slog_flush() (at most PIPE_BUF octets wait). */
void slog_batch(void);

/* Write this thread's waiting lines, if any. */
void slog_flush(void);

#endif
