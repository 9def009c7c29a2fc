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

int main(void)
{
	RUN(dn_quote_table);
	RUN(dn_quote_every_byte);
	RUN(esc);
	RUN(fnv);
	return t_done("test_strutil");
}
