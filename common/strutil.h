/*
 * strutil.h - small string helpers shared by the three programs: sendmail's
 * DN quoting (crypto/tls.c's ${cert_subject} and friends, the access map's
 * DN keys, mxctl policy test), bytes made safe for a log line, and FNV-1a
 * hashing (change digests and hash tables). libc only, no allocation.
 */
#ifndef MX_STRUTIL_H
#define MX_STRUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/*
 * sendmail's DN quoting: bytes below 0x21 or above 0x7e and < > ( ) " +
 * become "+XX" (upper-case hex). Returns the length written; the output is
 * always NUL-terminated (outlen > 0) and never ends in a cut "+X". NULL in
 * is the empty string; NULL out or outlen 0 writes nothing and returns 0.
 */
size_t str_dn_quote(const char *in, char *out, size_t outlen);

/*
 * n bytes made safe for a log line in buf: printable ASCII but '\' as is,
 * every other byte \xHH; after max bytes "..." and no more. Always
 * NUL-terminated (buflen > 0); never more than buflen. Returns buf.
 */
const char *str_esc(const char *s, size_t n, char *buf, size_t buflen, size_t max);

/*
 * The length (1..4) of the well-formed UTF-8 sequence at the start of the n
 * bytes at s (RFC 3629: no overlong form, no surrogate, nothing above
 * U+10FFFF), or 0 when they do not start with one (n 0 included). What
 * JSON may carry as it is; any other byte must be replaced.
 */
size_t str_utf8_len(const char *s, size_t n);

/*
 * vsnprintf() and snprintf(), the same bytes and the same return value
 * (the length the whole output would have), several times faster for the
 * conversions of the SMTP paths: %s, %.*s and %.Ns, %c, %%, and %d %i %u
 * %x %X with no length, l, ll or z, all without flags or width. Any other
 * conversion (%f, %02u, %-8s, %p, ...) hands the whole format to libc's
 * vsnprintf(). glibc's printf costs 80-250 ns a call (locale, FILE
 * set-up, wide-character support) and a plain SMTP session makes about
 * 25 calls (replies, log lines, backend commands); see docs/PERFORMANCE.md.
 */
int str_vfmt(char *buf, size_t size, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
int str_fmt(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* FNV-1a 64 of n bytes, continuing from h (FNV_INIT to start). */
#define FNV_INIT 14695981039346656037ull     /* the FNV-1a 64 offset basis */
uint64_t fnv64(uint64_t h, const void *p, size_t n);

#endif
