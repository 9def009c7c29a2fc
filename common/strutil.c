/*
 * strutil.c - DN quoting, log-safe escaping, FNV-1a (strutil.h).
 */
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
