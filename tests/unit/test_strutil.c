/*
 * test_strutil.c - unit tests of common/strutil.c: sendmail's DN quoting
 * (the table, truncation that never cuts "+XX"), log-safe escaping (what
 * is kept, \xHH, the "..." cut, never past the buffer) and FNV-1a 64
 * against the published test vectors.
 */
#include <stdint.h>
#include <string.h>

#include "common/strutil.h"
#include "tests/unit/t.h"

/* str_dn_quote: sendmail's quoting table and truncation that never cuts "+XX". */
TEST(dn_quote_table)
{
	static const struct { const char *in; size_t outlen; const char *out; } t[] = {
		{ "", 64, "" },
		{ "mx.lab.example", 64, "mx.lab.example" },
		{ "/C=US/O=Lab/CN=x", 64, "/C=US/O=Lab/CN=x" },
		{ "Juan Garcia", 64, "Juan+20Garcia" },
		{ "<>()\"+", 64, "+3C+3E+28+29+22+2B" },
		{ "a\tb\r\n", 64, "a+09b+0D+0A" },
		{ "\x01\x7f\xc3\xa9", 64, "+01+7F+C3+A9" },
		{ "\\xC3=;,/", 64, "\\xC3=;,/" },
		{ "a+b", 4, "a" },              /* "+2B" does not fit: never cut */
		{ "a+b", 5, "a+2B" },
		{ "a+b", 6, "a+2Bb" },
		{ "abc", 3, "ab" },
		{ "abc", 1, "" },
		{ "+", 3, "" },
	};
	char out[64];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t n = str_dn_quote(t[i].in, out, t[i].outlen);

		CHECK_STR(out, t[i].out);
		CHECK_EQ(n, strlen(t[i].out));
	}
	out[0] = 'x';
	CHECK_EQ(str_dn_quote("abc", out, 0), 0);
	CHECK(out[0] == 'x');
	CHECK_EQ(str_dn_quote(NULL, out, sizeof(out)), 0);
	CHECK_STR(out, "");
	CHECK_EQ(str_dn_quote("x", NULL, 0), 0);
}

/* Every byte value: quoted exactly when sendmail quotes it, never more than 3 bytes. */
TEST(dn_quote_every_byte)
{
	for (int c = 1; c < 256; c++) {
		char in[2] = { (char)c, 0 }, out[8];
		int quoted = c < 0x21 || c > 0x7e || strchr("<>()\"+", c) != NULL;

		CHECK_EQ(str_dn_quote(in, out, sizeof(out)), quoted ? 3 : 1);
		if (quoted)
			CHECK(out[0] == '+' && strchr("0123456789ABCDEF", out[1]) &&
			      strchr("0123456789ABCDEF", out[2]) && out[3] == 0);
		else
			CHECK(out[0] == c && out[1] == 0);
	}
}

TEST(esc)
{
	char buf[64];

	CHECK_STR(str_esc("plain text", 10, buf, sizeof(buf), 60), "plain text");
	CHECK_STR(str_esc("a\\b", 3, buf, sizeof(buf), 60), "a\\x5cb");
	CHECK_STR(str_esc("a\0b\n\x7f\xff", 6, buf, sizeof(buf), 60), "a\\x00b\\x0a\\x7f\\xff");
	/* only n bytes, whatever follows */
	CHECK_STR(str_esc("abcdef", 3, buf, sizeof(buf), 60), "abc");
	/* more than max: cut with "..." */
	CHECK_STR(str_esc("abcdef", 6, buf, sizeof(buf), 4), "abcd...");
	CHECK_STR(str_esc("abcd", 4, buf, sizeof(buf), 4), "abcd");
	CHECK_STR(str_esc("", 0, buf, sizeof(buf), 4), "");
	/* a small buffer: stops early, always terminated, never past buflen */
	{
		char small[12];

		memset(small, 'Z', sizeof(small));
		str_esc("\x01\x02\x03\x04\x05\x06", 6, small, sizeof(small), 60);
		CHECK(strlen(small) < sizeof(small));
		CHECK_STR(small, "\\x01");
		memset(small, 'Z', sizeof(small));
		str_esc("abcdefghijklmnop", 16, small, sizeof(small), 60);
		CHECK_STR(small, "abcd");
		memset(small, 'Z', sizeof(small));
		str_esc("abc", 3, small, 1, 60);
		CHECK(small[0] == 0 && small[1] == 'Z');
		str_esc("abc", 3, small, 0, 60);
		CHECK(small[1] == 'Z');
	}
}

TEST(fnv)
{
	/* FNV-1a 64 test vectors (Fowler/Noll/Vo) */
	CHECK(fnv64(FNV_INIT, "", 0) == 0xcbf29ce484222325ull);
	CHECK(fnv64(FNV_INIT, "a", 1) == 0xaf63dc4c8601ec8cull);
	CHECK(fnv64(FNV_INIT, "foobar", 6) == 0x85944171f73967e8ull);
	/* continuing is hashing the concatenation */
	CHECK(fnv64(fnv64(FNV_INIT, "foo", 3), "bar", 3) == fnv64(FNV_INIT, "foobar", 6));
}

/* The oracle: decode by the bit patterns alone, then judge the code point. */
static size_t utf8_oracle(const unsigned char *p, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (n == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0)
		len = 2, cp = p[0] & 0x1f;
	else if ((p[0] & 0xf0) == 0xe0)
		len = 3, cp = p[0] & 0x0f;
	else if ((p[0] & 0xf8) == 0xf0)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
		return 0;       /* overlong */
	if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

TEST(utf8)
{
	unsigned char b[4];
	unsigned long bad = 0;

	/* every one-, two- and three-byte input, and four-byte ones with each lead byte */
	for (uint32_t x = 0; x < (1u << 24); x++) {
		b[0] = (unsigned char)(x >> 16);
		b[1] = (unsigned char)(x >> 8);
		b[2] = (unsigned char)x;
		b[3] = (unsigned char)(0x80 + (x & 0x3f));
		for (size_t n = 1; n <= 4; n++)
			if (str_utf8_len((const char *)b, n) != utf8_oracle(b, n))
				bad++;
	}
	CHECK(bad == 0);
	CHECK(str_utf8_len("", 0) == 0);
	CHECK(str_utf8_len("a", 1) == 1);
	CHECK(str_utf8_len("\xc3\xa9", 2) == 2);             /* U+00E9 */
	CHECK(str_utf8_len("\xc3\xa9", 1) == 0);             /* cut short */
	CHECK(str_utf8_len("\xe2\x82\xac", 3) == 3);         /* U+20AC */
	CHECK(str_utf8_len("\xf0\x9f\x98\x80", 4) == 4);     /* U+1F600 */
	CHECK(str_utf8_len("\xf4\x90\x80\x80", 4) == 0);     /* above U+10FFFF */
	CHECK(str_utf8_len("\xed\xa0\x80", 3) == 0);         /* a surrogate */
	CHECK(str_utf8_len("\xc0\xaf", 2) == 0);             /* overlong '/' */
	CHECK(str_utf8_len("\xff", 1) == 0);
	CHECK(str_utf8_len("\x80", 1) == 0);
}

int main(void)
{
	RUN(dn_quote_table);
	RUN(dn_quote_every_byte);
	RUN(esc);
	RUN(fnv);
	RUN(utf8);
	return t_done("test_strutil");
}
