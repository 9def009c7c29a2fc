/*
 * strutil.c - DN quoting, log-safe escaping, FNV-1a (strutil.h).
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "common/strutil.h"

size_t str_dn_quote(const char *in, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	if (!out || !outlen)
		return 0;
	for (; in && *in; in++) {
		unsigned char ch = (unsigned char)*in;

		if (ch < 0x21 || ch > 0x7e || strchr("<>()\"+", ch)) {
			if (o + 3 >= outlen)
				break;
			out[o++] = '+';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		} else {
			if (o + 1 >= outlen)
				break;
			out[o++] = (char)ch;
		}
	}
	out[o] = 0;
	return o;
}

const char *str_esc(const char *s, size_t n, char *buf, size_t buflen, size_t max)
{
	size_t o = 0, i;

	if (buflen == 0)
		return buf;
	for (i = 0; i < n && o + 8 < buflen; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (i >= max) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (ch >= 0x20 && ch < 0x7f && ch != '\\')
			buf[o++] = (char)ch;
		else
			o += (size_t)snprintf(buf + o, buflen - o, "\\x%02x", ch);
	}
	buf[o] = '\0';
	return buf;
}

uint64_t fnv64(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;

	while (n--) {
		h ^= *s++;
		h *= 1099511628211ull;
	}
	return h;
}

size_t str_utf8_len(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (n == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4;
	else
		return 0;               /* a continuation byte, C0/C1 (overlong) or F5..FF */
	/* the second byte's range rules out overlong forms, surrogates and > U+10FFFF */
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

/* ---- str_vfmt: the common conversions without libc's printf ---- */

struct fmt_out {
	char *buf;
	size_t cap;             /* bytes that may be written (size - 1, or 0) */
	size_t o;               /* the length of the whole output */
};

static void fmt_put(struct fmt_out *f, const char *s, size_t n)
{
	if (f->o < f->cap)
		memcpy(f->buf + f->o, s, n < f->cap - f->o ? n : f->cap - f->o);
	f->o += n;
}

static void fmt_num(struct fmt_out *f, unsigned long long v, int neg, unsigned base, int upper)
{
	static const char lower_d[] = "0123456789abcdef", upper_d[] = "0123456789ABCDEF";
	const char *dig = upper ? upper_d : lower_d;
	char tmp[24];
	size_t n = sizeof(tmp);

	do {
		tmp[--n] = dig[v % base];
		v /= base;
	} while (v > 0);
	if (neg)
		tmp[--n] = '-';
	fmt_put(f, tmp + n, sizeof(tmp) - n);
}

int str_vfmt(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct fmt_out f = { buf, size ? size - 1 : 0, 0 };
	const char *p = fmt, *q;
	va_list ap0;

	va_copy(ap0, ap);
	while (*p) {
		int prec = -1, len = 0;         /* len: 0, 'l', 'L' (ll), 'z' */

		for (q = p; *q && *q != '%'; q++)
			;
		fmt_put(&f, p, (size_t)(q - p));
		if (*q == '\0')
			break;
		p = q + 1;
		if (*p == '%') {
			fmt_put(&f, "%", 1);
			p++;
			continue;
		}
		if (*p == '.') {
			p++;
			if (*p == '*') {
				prec = va_arg(ap, int);
				p++;
			} else {
				for (prec = 0; *p >= '0' && *p <= '9' && prec < 100000; p++)
					prec = prec * 10 + (*p - '0');
			}
			if (*p != 's')
				goto libc;              /* a precision on a number */
		}
		if (*p == 'l') {
			len = 'l';
			if (*++p == 'l') {
				len = 'L';
				p++;
			}
		} else if (*p == 'z') {
			len = 'z';
			p++;
		}
		switch (*p) {
		case 's': {
			const char *s = va_arg(ap, const char *);

			if (len || s == NULL)
				goto libc;              /* %ls; "(null)" as libc has it */
			fmt_put(&f, s, prec >= 0 ? strnlen(s, (size_t)prec) : strlen(s));
			break;
		}
		case 'c': {
			char c = (char)va_arg(ap, int);

			if (len)
				goto libc;
			fmt_put(&f, &c, 1);
			break;
		}
		case 'd':
		case 'i': {
			long long v = len == 'L' ? va_arg(ap, long long) : len == 'l' ? va_arg(ap, long)
				    : len == 'z' ? (long long)va_arg(ap, ptrdiff_t) : va_arg(ap, int);

			fmt_num(&f, v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v, v < 0, 10, 0);
			break;
		}
		case 'u':
		case 'x':
		case 'X': {
			unsigned long long v = len == 'L' ? va_arg(ap, unsigned long long)
					     : len == 'l' ? va_arg(ap, unsigned long)
					     : len == 'z' ? va_arg(ap, size_t) : va_arg(ap, unsigned);

			fmt_num(&f, v, 0, *p == 'u' ? 10 : 16, *p == 'X');
			break;
		}
		default:
			goto libc;                      /* flags, width, %f, %p, %hu, ... */
		}
		p++;
	}
	va_end(ap0);
	if (size > 0)
		buf[f.o < f.cap ? f.o : f.cap] = '\0';
	return f.o > INT_MAX ? -1 : (int)f.o;
libc:
	{
		int n = vsnprintf(buf, size, fmt, ap0);

		va_end(ap0);
		return n;
	}
}

int str_fmt(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = str_vfmt(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
