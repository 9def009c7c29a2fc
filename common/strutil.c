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
