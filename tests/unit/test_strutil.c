/*
 * test_strutil.c - unit tests of common/strutil.c: sendmail's DN quoting
 * (the table, truncation that never cuts "+XX"), log-safe escaping (what
 * is kept, \xHH, the "..." cut, never past the buffer), FNV-1a 64
 * against the published test vectors, and str_fmt against libc's snprintf
 * byte for byte (every conversion it does itself and the ones it hands
 * over, edge values, every buffer size, random texts).
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strutil.h"
#include "tests/unit/t.h"

#define QCHECK(c) do { if (!(c)) CHECK(c); } while (0)
/* the str_fmt tests truncate and pass NULL to %s on purpose, as snprintf is compared */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#pragma GCC diagnostic ignored "-Wformat-overflow"

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


/* str_fmt and snprintf: the same bytes in a buffer of size n (the rest untouched), the same return. */
#define FMT_SAME(n, ...) do { \
		char a_[600], b_[600]; \
		int ra_, rb_; \
		memset(a_, 0x5a, sizeof(a_)); \
		memset(b_, 0x5a, sizeof(b_)); \
		ra_ = str_fmt(a_, (n), __VA_ARGS__); \
		rb_ = snprintf(b_, (n), __VA_ARGS__); \
		QCHECK(ra_ == rb_); \
		QCHECK(memcmp(a_, b_, sizeof(a_)) == 0); \
		fmt_checks++; \
	} while (0)

static unsigned fmt_checks;

/* Every conversion str_fmt does itself, its edge values, every buffer size up to past the end. */
TEST(fmt_conversions)
{
	static const char *const strs[] = { "", "a", "mx.lab.example", "unknown[198.18.0.1]", "x y\tz", "%s%d" };
	static const long long sv[] = { 0, 1, -1, 9, 10, -10, INT_MAX, INT_MIN, LLONG_MAX, LLONG_MIN, 4294967295ll };
	static const unsigned long long uv[] = { 0, 1, 15, 16, 255, 65535, UINT_MAX, ULLONG_MAX, 1000000007ull };
	size_t n, i;

	for (n = 0; n < 48; n++) {
		for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
			FMT_SAME(n, "<%s>", strs[i]);
			FMT_SAME(n, "%s|%.*s|%.3s", strs[i], 4, strs[i], strs[i]);
			FMT_SAME(n, "%.*s", -1, strs[i]);          /* a negative precision is none */
			FMT_SAME(n, "%.0s.%.100s", strs[i], strs[i]);
		}
		for (i = 0; i < sizeof(sv) / sizeof(sv[0]); i++) {
			FMT_SAME(n, "d=%d i=%i", (int)sv[i], (int)sv[i]);
			FMT_SAME(n, "ld=%ld lld=%lld zd=%zd", (long)sv[i], sv[i], (ptrdiff_t)sv[i]);
		}
		for (i = 0; i < sizeof(uv) / sizeof(uv[0]); i++) {
			FMT_SAME(n, "u=%u x=%x X=%X", (unsigned)uv[i], (unsigned)uv[i], (unsigned)uv[i]);
			FMT_SAME(n, "%lu %llu %zu %lx %llX %zx", (unsigned long)uv[i], uv[i], (size_t)uv[i],
				 (unsigned long)uv[i], uv[i], (size_t)uv[i]);
		}
		FMT_SAME(n, "100%% %c%c%%", 'o', 'k');
		FMT_SAME(n, "%s", "");
		FMT_SAME(n, "no conversion at all");
		FMT_SAME(n, "%s: to=<%s>, relay=%s, delay=%u, dsn=%s, status=%s (%.*s)", "4Q1wXyZ0abcdHJ",
			 "b@lab.example", "backend[198.18.1.2]:25", 3u, "2.0.0", "sent", 9, "250 2.0.0 Ok: queued");
	}
}

/* What str_fmt hands to libc: the same result too (flags, widths, floats, pointers, NULL). */
TEST(fmt_handed_over)
{
	size_t n;
	int x = 7;

	for (n = 0; n < 40; n++) {
		FMT_SAME(n, "[%05u]", 42u);
		FMT_SAME(n, "[%-8s|%8s]", "ab", "cd");
		FMT_SAME(n, "[%+d % d]", 5, 5);
		FMT_SAME(n, "[%#x %08lx]", 255u, 4096ul);
		FMT_SAME(n, "[%.1f %.3f]", 2.25, -0.0005);
		FMT_SAME(n, "[%.3d]", 7);
		FMT_SAME(n, "[%hu %hhu]", (unsigned short)65535, (unsigned char)255);
		FMT_SAME(n, "[%p]", (void *)&x);
		FMT_SAME(n, "[%s]", (const char *)NULL);
		FMT_SAME(n, "[%o]", 8u);
		FMT_SAME(n, "%s then %02u:%02u", "time", 7u, 5u);   /* handed over after a first conversion */
	}
}

/* Random texts: literal runs and conversions mixed, random sizes. */
TEST(fmt_random)
{
	char s1[80], s2[80];
	unsigned r, i, k;

	srand(12345);
	for (r = 0; r < 20000; r++) {
		size_t n = (size_t)rand() % 200;
		int p = rand() % 90 - 5;

		for (k = 0; k < 2; k++) {
			char *s = k ? s2 : s1;
			unsigned len = (unsigned)rand() % 79;

			for (i = 0; i < len; i++)
				s[i] = (char)(1 + rand() % 255);
			s[len] = '\0';
		}
		{
			/* the arguments first: FMT_SAME evaluates them twice */
			int d = rand() - RAND_MAX / 2, c = 'A' + rand() % 26;
			unsigned long long u = (unsigned long long)rand() * (unsigned long long)rand();
			unsigned x = (unsigned)rand();
			size_t z = (size_t)rand();

			FMT_SAME(n, "%s:%.*s:%d:%llu:%x:%c:%zu", s1, p, s2, d, u, x, c, z);
		}
	}
	CHECK(fmt_checks > 20000);
}

int main(void)
{
	RUN(dn_quote_table);
	RUN(dn_quote_every_byte);
	RUN(esc);
	RUN(fnv);
	RUN(utf8);
	RUN(fmt_conversions);
	RUN(fmt_handed_over);
	RUN(fmt_random);
	return t_done("test_strutil");
}
