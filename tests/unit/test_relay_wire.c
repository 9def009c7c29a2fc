/*
 * test_relay_wire.c - unit tests of dataplane/smtp/relay_wire.c (built with
 * ASan/UBSan): the backend reply assembler fed whole, split at every byte
 * and byte by byte, overlong and malformed replies, random input; EHLO
 * keywords; xtext of every byte value, decoded back per RFC 3461; the
 * XCLIENT command; PROXY v2 headers for IPv4 and IPv6 with and without TLS,
 * checked field by field against haproxy's proxy-protocol.txt (2.2); the
 * Received header against golden texts. Output buffers are allocated at
 * their exact size so that ASan sees any write past them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/smtp/relay_wire.h"
#include "t.h"

/* A failure-only check for loops. */
#define QCHECK(c) do { if (!(c)) CHECK(c); } while (0)

/* ---- the reply assembler ---- */

/* Feed text in chunks of at most step bytes; collect every reply found. Returns how many. */
static int feed_all(const char *text, size_t step, int *codes, int *status, char replies[][RW_REPLY_MAX],
		    int max)
{
	struct rw_reply *r = malloc(sizeof(*r));
	size_t len = strlen(text), off = 0;
	int found = 0;

	rw_reply_init(r);
	while (off < len) {
		size_t chunk = len - off < step ? len - off : step, pos = 0;

		while (pos < chunk) {
			size_t used = 0;
			int code = -1;
			enum rw_reply_status st = rw_reply_feed(r, (const uint8_t *)text + off + pos,
								chunk - pos, &used, &code);

			QCHECK(used >= 1 && used <= chunk - pos);
			QCHECK(r->len < RW_REPLY_MAX);
			pos += used;
			if (st == RW_REPLY_MORE) {
				QCHECK(pos == chunk);
				continue;
			}
			if (found < max) {
				codes[found] = code;
				status[found] = st;
				snprintf(replies[found], RW_REPLY_MAX, "%s", r->buf);
			}
			found++;
			rw_reply_init(r);
		}
		off += chunk;
	}
	free(r);
	return found;
}

TEST(reply_single_and_multi)
{
	static char rep[4][RW_REPLY_MAX];
	int codes[4], st[4];
	const char *multi = "250-mx.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 STARTTLS\r\n";

	CHECK_EQ(feed_all("250 2.1.0 Ok\r\n", 1000, codes, st, rep, 4), 1);
	CHECK_EQ(st[0], RW_REPLY_DONE);
	CHECK_EQ(codes[0], 250);
	CHECK_STR(rep[0], "250 2.1.0 Ok\r\n");

	CHECK_EQ(feed_all(multi, 1000, codes, st, rep, 4), 1);
	CHECK_EQ(st[0], RW_REPLY_DONE);
	CHECK_EQ(codes[0], 250);
	CHECK_STR(rep[0], multi);

	/* bare LF ends lines too; "ddd" alone is a last line */
	CHECK_EQ(feed_all("220-a\n220 b\n", 1000, codes, st, rep, 4), 1);
	CHECK_STR(rep[0], "220-a\n220 b\n");
	CHECK_EQ(feed_all("250\r\n", 1000, codes, st, rep, 4), 1);
	CHECK_EQ(codes[0], 250);
	CHECK_EQ(feed_all("354\n", 1000, codes, st, rep, 4), 1);
	CHECK_EQ(codes[0], 354);

	/* a line shorter than 4 bytes with its LF is no reply line: malformed at once */
	CHECK(feed_all("\r\n250 ok\r\n", 1000, codes, st, rep, 4) >= 1);
	CHECK_EQ(st[0], RW_REPLY_MALFORMED);
	CHECK(feed_all("250-a\n25\n250 ok\r\n", 1000, codes, st, rep, 4) >= 1);
	CHECK_EQ(st[0], RW_REPLY_MALFORMED);
	/* four bytes do: "25\r\n" is a last line with code 25 */
	CHECK_EQ(feed_all("25\r\n", 1000, codes, st, rep, 4), 1);
	CHECK_EQ(st[0], RW_REPLY_MALFORMED);

	/* no LF yet: nothing */
	CHECK_EQ(feed_all("250 ok\r", 1000, codes, st, rep, 4), 0);
	CHECK_EQ(feed_all("250-more\r\n", 1000, codes, st, rep, 4), 0);
}

TEST(reply_pipelined)
{
	static char rep[4][RW_REPLY_MAX];
	int codes[4], st[4];

	/* several replies in one read: one at a time, in order */
	CHECK_EQ(feed_all("250 2.1.0 Ok\r\n250-2.1.5 a\r\n250 2.1.5 Ok\r\n354 go\r\n", 1000, codes, st, rep, 4), 3);
	CHECK_EQ(codes[0], 250);
	CHECK_STR(rep[0], "250 2.1.0 Ok\r\n");
	CHECK_EQ(codes[1], 250);
	CHECK_STR(rep[1], "250-2.1.5 a\r\n250 2.1.5 Ok\r\n");
	CHECK_EQ(codes[2], 354);
	CHECK_STR(rep[2], "354 go\r\n");
	CHECK_EQ(st[2], RW_REPLY_DONE);
}

TEST(reply_split_everywhere)
{
	static char rep[4][RW_REPLY_MAX];
	const char *text = "220 mx ESMTP\r\n250-mx\r\n250-XCLIENT ADDR NAME\r\n250 8BITMIME\r\n"
			   "451-4.3.0 one\n451-4.3.0 two\r\n451 4.3.0 three\r\n";
	size_t len = strlen(text), cut;

	/* every split of the text into two reads, and byte by byte */
	for (cut = 0; cut <= len; cut++) {
		struct rw_reply r;
		int codes[4], n = 0, code;
		size_t off = 0, used;
		size_t ends[2] = { cut, len };
		unsigned k;

		rw_reply_init(&r);
		for (k = 0; k < 2; k++) {
			while (off < ends[k]) {
				enum rw_reply_status st = rw_reply_feed(&r, (const uint8_t *)text + off,
									ends[k] - off, &used, &code);

				off += used;
				if (st == RW_REPLY_MORE)
					continue;
				QCHECK(st == RW_REPLY_DONE);
				if (n < 4)
					codes[n] = code;
				n++;
				rw_reply_init(&r);
			}
		}
		QCHECK(n == 3);
		QCHECK(codes[0] == 220 && codes[1] == 250 && codes[2] == 451);
	}
	{
		int codes[4], st[4];

		CHECK_EQ(feed_all(text, 1, codes, st, rep, 4), 3);
		CHECK_STR(rep[1], "250-mx\r\n250-XCLIENT ADDR NAME\r\n250 8BITMIME\r\n");
		CHECK_STR(rep[2], "451-4.3.0 one\n451-4.3.0 two\r\n451 4.3.0 three\r\n");
	}
}

TEST(reply_malformed)
{
	static char rep[4][RW_REPLY_MAX];
	int codes[4], st[4];
	static const char *const bad[] = {
		"abc ok\r\n",      /* no code */
		"150 early\r\n",   /* below 200 */
		"099 x\r\n",
		"600 x\r\n",       /* above 599 */
		"999 x\r\n",
		"2x0 x\r\n",       /* atoi stops at x: 2 */
		"-250 x\r\n",
	};
	unsigned i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ(feed_all(bad[i], 1000, codes, st, rep, 4), 1);
		CHECK_EQ(st[0], RW_REPLY_MALFORMED);
	}
	/* the code is that of the last line */
	CHECK_EQ(feed_all("250-a\r\n600 b\r\n", 1000, codes, st, rep, 4), 1);
	CHECK_EQ(st[0], RW_REPLY_MALFORMED);
	CHECK_EQ(feed_all("600-a\r\n250 b\r\n", 1000, codes, st, rep, 4), 1);
	CHECK_EQ(st[0], RW_REPLY_DONE);
	CHECK_EQ(codes[0], 250);
	/* 200 and 599 are the bounds */
	CHECK_EQ(feed_all("200 a\r\n599 b\r\n", 1000, codes, st, rep, 4), 2);
	CHECK_EQ(st[0], RW_REPLY_DONE);
	CHECK_EQ(st[1], RW_REPLY_DONE);
	CHECK_EQ(codes[1], 599);
}

/* A reply of exactly total bytes: "250-xxx...\r\n" lines and a "250 end\r\n". */
static char *long_reply(size_t total)
{
	char *t = malloc(total + 1);
	size_t o = 0;

	while (total - o > 9 + 80) {
		memcpy(t + o, "250-", 4);
		memset(t + o + 4, 'x', 74);
		memcpy(t + o + 78, "\r\n", 2);
		o += 80;
	}
	memcpy(t + o, "250 ", 4);
	memset(t + o + 4, 'y', total - o - 6);
	memcpy(t + total - 2, "\r\n", 2);
	t[total] = '\0';
	return t;
}

TEST(reply_overlong)
{
	static char rep[4][RW_REPLY_MAX];
	int codes[4], st[4];
	char *t;

	/* RW_REPLY_MAX - 1 bytes fit */
	t = long_reply(RW_REPLY_MAX - 1);
	CHECK_EQ(strlen(t), RW_REPLY_MAX - 1);
	CHECK_EQ(feed_all(t, 1000, codes, st, rep, 4), 1);
	CHECK_EQ(st[0], RW_REPLY_DONE);
	CHECK_STR(rep[0], t);
	free(t);
	/* one more is malformed, however it is read */
	t = long_reply(RW_REPLY_MAX);
	CHECK_EQ(feed_all(t, 1000, codes, st, rep, 4), 1);
	CHECK_EQ(st[0], RW_REPLY_MALFORMED);
	CHECK_EQ(feed_all(t, 1, codes, st, rep, 4), 1);
	CHECK_EQ(st[0], RW_REPLY_MALFORMED);
	free(t);
	/*
	 * Far longer, with the part kept ending inside a continuation line:
	 * malformed at the first byte past the buffer, not left to the
	 * backend's timeout.
	 */
	t = long_reply(20000);
	CHECK(feed_all(t, 512, codes, st, rep, 4) >= 1);
	CHECK_EQ(st[0], RW_REPLY_MALFORMED);
	free(t);
	/* the part kept ending inside the last line: malformed at the first byte past the buffer */
	t = long_reply(RW_REPLY_MAX + 40);
	CHECK(feed_all(t, 512, codes, st, rep, 4) >= 1);
	CHECK_EQ(st[0], RW_REPLY_MALFORMED);
	free(t);
	/* a single line of 5000 bytes with no LF until the end */
	t = malloc(5001);
	memset(t, 'z', 5000);
	memcpy(t, "250 ", 4);
	t[4998] = '\r';
	t[4999] = '\n';
	t[5000] = '\0';
	CHECK(feed_all(t, 700, codes, st, rep, 4) >= 1);
	CHECK_EQ(st[0], RW_REPLY_MALFORMED);
	free(t);
}

TEST(reply_random)
{
	uint8_t in[4096];
	unsigned iter, seed = 12345;

	/* random bytes (digits, '-', ' ', CR, LF weighted) in random chunks: bounded, never stuck */
	for (iter = 0; iter < 3000; iter++) {
		struct rw_reply r;
		size_t len, i, off = 0;

		seed = seed * 1103515245u + 12345u;
		len = (seed >> 8) % sizeof(in);
		for (i = 0; i < len; i++) {
			static const char alpha[] = "0123456789- \r\n\n\nabcXYZ";

			seed = seed * 1103515245u + 12345u;
			in[i] = (seed >> 20) & 1 ? (uint8_t)alpha[(seed >> 8) % (sizeof(alpha) - 1)] : (uint8_t)(seed >> 12);
		}
		rw_reply_init(&r);
		while (off < len) {
			size_t used = 0, chunk;
			int code = 0;
			enum rw_reply_status st;

			seed = seed * 1103515245u + 12345u;
			chunk = 1 + (seed >> 8) % 700;
			if (chunk > len - off)
				chunk = len - off;
			st = rw_reply_feed(&r, in + off, chunk, &used, &code);
			QCHECK(used >= 1 && used <= chunk);
			QCHECK(r.len < RW_REPLY_MAX);
			if (st == RW_REPLY_DONE) {
				QCHECK(code >= 200 && code <= 599);
				QCHECK(!r.over);
				QCHECK(r.buf[r.len] == '\0' && r.len > 0 && r.buf[r.len - 1] == '\n');
			}
			if (st != RW_REPLY_MORE) {
				/* a reply ends at a LF; only an overlong one sooner */
				QCHECK(in[off + used - 1] == '\n' || (st == RW_REPLY_MALFORMED && r.over));
				QCHECK(r.buf[r.len] == '\0');
				rw_reply_init(&r);
			}
			off += used;
		}
	}
	CHECK(1);   /* the loop's checks count only failures */
}

/* ---- EHLO keywords ---- */

TEST(ehlo_keywords)
{
	const char *rep = "250-mx.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-starttls\r\n"
			  "250-XCLIENT ADDR NAME PORT LOGIN\r\n250 8BITMIME";

	CHECK_EQ(rw_reply_has_keyword(rep, strlen(rep), "STARTTLS"), 1);
	CHECK_EQ(rw_reply_has_keyword(rep, strlen(rep), "XCLIENT"), 1);
	CHECK_EQ(rw_reply_has_keyword(rep, strlen(rep), "SIZE"), 1);
	CHECK_EQ(rw_reply_has_keyword(rep, strlen(rep), "8BITMIME"), 1);   /* last line, no CRLF */
	CHECK_EQ(rw_reply_has_keyword(rep, strlen(rep), "PIPE"), 0);       /* a prefix is not a keyword */
	CHECK_EQ(rw_reply_has_keyword(rep, strlen(rep), "START"), 0);
	CHECK_EQ(rw_reply_has_keyword(rep, strlen(rep), "SMTPUTF8"), 0);
	CHECK_EQ(rw_reply_has_keyword(rep, strlen(rep), "mx.example"), 1); /* the first line is a line */
	/* only the bytes given are read */
	CHECK_EQ(rw_reply_has_keyword(rep, 30, "SIZE"), 0);
	CHECK_EQ(rw_reply_has_keyword("", 0, "STARTTLS"), 0);
	CHECK_EQ(rw_reply_has_keyword("250 STARTTLS\n", 13, "STARTTLS"), 1);

	CHECK_EQ(rw_xclient_lists(rep, strlen(rep), "LOGIN"), 1);
	CHECK_EQ(rw_xclient_lists(rep, strlen(rep), "login"), 1);
	CHECK_EQ(rw_xclient_lists(rep, strlen(rep), "ADDR"), 1);
	CHECK_EQ(rw_xclient_lists(rep, strlen(rep), "PORT"), 1);
	CHECK_EQ(rw_xclient_lists(rep, strlen(rep), "HELO"), 0);
	CHECK_EQ(rw_xclient_lists(rep, strlen(rep), "LOG"), 0);
	{
		const char *r2 = "250-mx\r\n250-XCLIENTS LOGIN\r\n250 XCLIENT NAME\r\n";
		const char *r3 = "250 XCLIENT ADDR LOGIN";

		CHECK_EQ(rw_xclient_lists(r2, strlen(r2), "LOGIN"), 0);
		CHECK_EQ(rw_xclient_lists(r2, strlen(r2), "NAME"), 1);
		CHECK_EQ(rw_xclient_lists(r3, strlen(r3), "LOGIN"), 1);
	}
}

/* ---- xtext and XCLIENT ---- */

/* Decode xtext (RFC 3461 4); -1 when it is not well-formed xtext. */
static int xtext_decode(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	while (*in) {
		unsigned char c = (unsigned char)*in;

		if (o + 1 >= outlen)
			return -1;
		if (c == '+') {
			unsigned v = 0, k;

			for (k = 1; k <= 2; k++) {
				char h = in[k];

				if (h >= '0' && h <= '9')
					v = v * 16 + (unsigned)(h - '0');
				else if (h >= 'A' && h <= 'F')
					v = v * 16 + (unsigned)(h - 'A' + 10);
				else
					return -1;        /* hexchar is uppercase hex only */
			}
			out[o++] = (char)v;
			in += 3;
		} else if (c >= 33 && c <= 126 && c != '=') {
			out[o++] = (char)c;
			in++;
		} else {
			return -1;
		}
	}
	out[o] = '\0';
	return (int)o;
}

TEST(xtext_every_byte)
{
	unsigned c;
	char all[256], enc[1024], dec[512];

	for (c = 1; c < 256; c++) {
		char in[2] = { (char)c, 0 }, out[8];
		size_t n = rw_xtext(in, out, sizeof(out));
		int must = c < 33 || c > 126 || c == '+' || c == '=';

		QCHECK(n == (must ? 3u : 1u));
		QCHECK(strlen(out) == n);
		QCHECK(xtext_decode(out, dec, sizeof(dec)) == 1 && (unsigned char)dec[0] == c);
		if (must) {
			char want[4];

			snprintf(want, sizeof(want), "+%02X", c);
			QCHECK(strcmp(out, want) == 0);
		}
	}
	for (c = 1; c < 256; c++)
		all[c - 1] = (char)c;
	all[255] = '\0';
	CHECK(rw_xtext(all, enc, sizeof(enc)) == strlen(enc));
	CHECK_EQ(xtext_decode(enc, dec, sizeof(dec)), 255);
	CHECK(memcmp(dec, all, 255) == 0);
	CHECK_STR((rw_xtext("a b+c=d", enc, sizeof(enc)), enc), "a+20b+2Bc+3Dd");
	CHECK_EQ(rw_xtext("", enc, sizeof(enc)), 0);
	CHECK_STR(enc, "");
}

TEST(xtext_cut)
{
	const char *in = "ab cd=e+f";
	char full[64];
	size_t flen = rw_xtext(in, full, sizeof(full)), outlen;

	/* exact-size buffers: never past the end, NUL-terminated, a whole prefix, never a cut "+X" */
	for (outlen = 1; outlen <= flen + 6; outlen++) {
		char *out = malloc(outlen), dec[64];
		size_t n = rw_xtext(in, out, outlen);

		QCHECK(n < outlen && strlen(out) == n);
		QCHECK(strncmp(out, full, n) == 0);
		QCHECK(xtext_decode(out, dec, sizeof(dec)) >= 0);
		QCHECK(outlen < flen + 5 || n == flen);
		free(out);
	}
	CHECK(1);
}

TEST(xclient_command)
{
	char out[RW_XCLIENT_MAX];
	struct rw_xclient_info x = { .addr = "198.18.0.1", .port = 40000, .helo = "client.example", .ehlo = 1,
				     .attrs = RW_XA_ALL };
	char helo[400];
	size_t n;

	n = rw_xclient(&x, out, sizeof(out));
	CHECK_STR(out, "XCLIENT ADDR=198.18.0.1 PORT=40000 NAME=[UNAVAILABLE] HELO=client.example PROTO=ESMTP\r\n");
	CHECK_EQ(n, strlen(out));
	/* the verified name (issue 13), or Postfix's [TEMPUNAVAIL] after a temporary DNS failure */
	x.name = "client1.lab.example";
	rw_xclient(&x, out, sizeof(out));
	CHECK_STR(out, "XCLIENT ADDR=198.18.0.1 PORT=40000 NAME=client1.lab.example HELO=client.example PROTO=ESMTP\r\n");
	x.name = NULL;
	x.name_temp = 1;
	rw_xclient(&x, out, sizeof(out));
	CHECK_STR(out, "XCLIENT ADDR=198.18.0.1 PORT=40000 NAME=[TEMPUNAVAIL] HELO=client.example PROTO=ESMTP\r\n");
	x.name_temp = 0;

	/* IPv6, no HELO yet, HELO used: SMTP */
	x = (struct rw_xclient_info){ .addr = "2001:2::1", .port = 25, .helo = "", .ehlo = 0, .attrs = RW_XA_ALL };
	rw_xclient(&x, out, sizeof(out));
	CHECK_STR(out, "XCLIENT ADDR=IPV6:2001:2::1 PORT=25 NAME=[UNAVAILABLE] HELO=[UNAVAILABLE] PROTO=SMTP\r\n");
	x.helo = NULL;
	rw_xclient(&x, out, sizeof(out));
	CHECK_STR(out, "XCLIENT ADDR=IPV6:2001:2::1 PORT=25 NAME=[UNAVAILABLE] HELO=[UNAVAILABLE] PROTO=SMTP\r\n");

	/* LOGIN only when the backend lists it; values in xtext */
	x = (struct rw_xclient_info){ .addr = "198.18.0.1", .port = 1, .helo = "we ird=", .ehlo = 1,
				     .login = "al+ice", .attrs = RW_XA_ALL & ~RW_XA_LOGIN };
	rw_xclient(&x, out, sizeof(out));
	CHECK_STR(out, "XCLIENT ADDR=198.18.0.1 PORT=1 NAME=[UNAVAILABLE] HELO=we+20ird+3D PROTO=ESMTP\r\n");
	x.attrs = RW_XA_ALL;
	rw_xclient(&x, out, sizeof(out));
	CHECK_STR(out, "XCLIENT ADDR=198.18.0.1 PORT=1 NAME=[UNAVAILABLE] HELO=we+20ird+3D PROTO=ESMTP LOGIN=al+2Bice\r\n");

	/*
	 * Long values: a HELO name of 255 bytes and a user of 255, every byte
	 * escaped, fit whole; a command that does not fit the caller's buffer
	 * is never cut (0: nothing to send).
	 */
	{
		char h[256], u[256];

		memset(h, '=', 255);
		h[255] = '\0';
		memset(u, 'u', 255);
		u[255] = '\0';
		x = (struct rw_xclient_info){ .addr = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", .port = 65535,
					     .helo = h, .ehlo = 1, .login = u, .attrs = RW_XA_ALL };
		n = rw_xclient(&x, out, sizeof(out));
		CHECK(n < sizeof(out));
		CHECK(n >= 2 && memcmp(out + n - 2, "\r\n", 2) == 0);
		CHECK(strstr(out, " LOGIN=") != NULL);
		/* the whole HELO in xtext */
		CHECK(sscanf(strstr(out, "HELO=") + 5, "%399s", helo) == 1);
		CHECK_EQ(strlen(helo), 255 * 3 > 399 ? 399 : 255 * 3);
		CHECK_STR(strstr(out, " LOGIN=") + 7 + 255, "\r\n");
		memset(u, '+', 255);
		n = rw_xclient(&x, out, sizeof(out));
		CHECK(n > 0 && n < sizeof(out));
		CHECK(memcmp(out + n - 2, "\r\n", 2) == 0);
		CHECK_EQ(strlen(strstr(out, " LOGIN=")), 7 + 255 * 3 + 2);
		CHECK_EQ(strlen(strstr(out, "HELO=")) - strlen(strstr(out, " PROTO=")), 5 + 255 * 3);
	}
	/* a short buffer: nothing, never a cut command */
	{
		char *small = malloc(20);

		x = (struct rw_xclient_info){ .addr = "198.18.0.1", .port = 1, .helo = "h", .ehlo = 1,
					     .attrs = RW_XA_ALL };
		n = rw_xclient(&x, small, 20);
		CHECK_EQ(n, 0);
		CHECK_STR(small, "");
		free(small);
	}
}

/*
 * Only the attributes the backend announced (Postfix's smtpd_proxy does
 * the same): Haraka announces "XCLIENT NAME ADDR PROTO HELO" and refuses
 * PORT=; without ADDR nothing is sent.
 */
TEST(xclient_announced_attrs)
{
	const char *haraka = "250-haraka.example Hello\r\n250-PIPELINING\r\n250-XCLIENT NAME ADDR PROTO HELO\r\n"
			     "250 8BITMIME\r\n";
	const char *pf = "250-mx\r\n250-xclient addr name port proto helo login destaddr destport\r\n250 SIZE\r\n";
	const char *split = "250-mx\r\n250-XCLIENT ADDR\r\n250-XCLIENT PORT LOGIN\r\n250 OK\r\n";
	const char *noaddr = "250-mx\r\n250-XCLIENT NAME HELO PROTO\r\n250 OK\r\n";
	const char *bare = "250-mx\r\n250-XCLIENT\r\n250 OK\r\n";
	const char *words = "250-mx\r\n250-XCLIENT ADDRESS PORTS\r\n250-ADDR\r\n250 PORT\r\n";
	char out[RW_XCLIENT_MAX];
	struct rw_xclient_info x = { .addr = "198.18.0.1", .port = 40000, .helo = "client.example", .ehlo = 1,
				     .login = "alice" };
	size_t n;

	CHECK_EQ(rw_xclient_attrs(haraka, strlen(haraka)), RW_XA_NAME | RW_XA_ADDR | RW_XA_PROTO | RW_XA_HELO);
	CHECK_EQ(rw_xclient_attrs(pf, strlen(pf)), RW_XA_ALL);          /* case-insensitive; unknown ones ignored */
	CHECK_EQ(rw_xclient_attrs(split, strlen(split)), RW_XA_ADDR | RW_XA_PORT | RW_XA_LOGIN);
	CHECK_EQ(rw_xclient_attrs(noaddr, strlen(noaddr)), RW_XA_NAME | RW_XA_HELO | RW_XA_PROTO);
	CHECK_EQ(rw_xclient_attrs(bare, strlen(bare)), 0);
	CHECK_EQ(rw_xclient_attrs(words, strlen(words)), 0);           /* whole words, on XCLIENT lines only */
	CHECK_EQ(rw_xclient_attrs("", 0), 0);

	/* Haraka's list: no PORT=, no LOGIN= */
	x.attrs = rw_xclient_attrs(haraka, strlen(haraka));
	n = rw_xclient(&x, out, sizeof(out));
	CHECK_STR(out, "XCLIENT ADDR=198.18.0.1 NAME=[UNAVAILABLE] HELO=client.example PROTO=ESMTP\r\n");
	CHECK_EQ(n, strlen(out));
	CHECK(strstr(out, "PORT=") == NULL);
	/* ADDR and PORT only */
	x.attrs = RW_XA_ADDR | RW_XA_PORT;
	rw_xclient(&x, out, sizeof(out));
	CHECK_STR(out, "XCLIENT ADDR=198.18.0.1 PORT=40000\r\n");
	/* ADDR and LOGIN, IPv6 */
	x.attrs = RW_XA_ADDR | RW_XA_LOGIN;
	x.addr = "2001:2::1";
	rw_xclient(&x, out, sizeof(out));
	CHECK_STR(out, "XCLIENT ADDR=IPV6:2001:2::1 LOGIN=alice\r\n");
	/* no ADDR announced: nothing at all (the caller does not use XCLIENT) */
	x.attrs = rw_xclient_attrs(noaddr, strlen(noaddr));
	strcpy(out, "junk");
	CHECK_EQ(rw_xclient(&x, out, sizeof(out)), 0);
	CHECK_STR(out, "");
	x.attrs = 0;
	CHECK_EQ(rw_xclient(&x, out, sizeof(out)), 0);
}

/* ---- PROXY v2 (haproxy's proxy-protocol.txt, section 2.2) ---- */

static const uint8_t pp2_sig[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };

/* One TLV found in a header. */
struct tlv {
	uint8_t type;
	size_t len;
	const uint8_t *v;
};

/* Split a TLV area into TLVs (type, length hi, length lo, value); -1 when they do not tile it. */
static int tlvs(const uint8_t *p, size_t len, struct tlv *out, int max)
{
	int n = 0;

	while (len > 0) {
		size_t l;

		if (len < 3 || n == max)
			return -1;
		l = (size_t)p[1] << 8 | p[2];
		if (l > len - 3)
			return -1;
		out[n].type = p[0];
		out[n].len = l;
		out[n].v = p + 3;
		n++;
		p += 3 + l;
		len -= 3 + l;
	}
	return n;
}

/* Is TLV t of this type with exactly this string value? */
static int tlv_is(const struct tlv *t, uint8_t type, const char *s)
{
	return t->type == type && t->len == strlen(s) && memcmp(t->v, s, t->len) == 0;
}

TEST(proxy_v2_ipv4_plain)
{
	struct rw_proxy_info pp = { .family = 4, .src = { 198, 18, 0, 1 }, .dst = { 198, 18, 0, 2 },
				    .sport = 0xABCD, .dport = 25 };
	uint8_t *h = malloc(RW_PROXY_V2_MAX);
	size_t n = rw_proxy_v2(&pp, h, RW_PROXY_V2_MAX);

	CHECK_EQ(n, 16 + 12);                         /* header + TCP over IPv4 address block */
	CHECK(memcmp(h, pp2_sig, 12) == 0);            /* the signature */
	CHECK_EQ(h[12] >> 4, 2);                      /* version 2 */
	CHECK_EQ(h[12] & 0x0F, 1);                    /* command PROXY */
	CHECK_EQ(h[13] >> 4, 1);                      /* AF_INET */
	CHECK_EQ(h[13] & 0x0F, 1);                    /* STREAM */
	CHECK_EQ((h[14] << 8) | h[15], 12);           /* bytes after the 16-byte header, network order */
	CHECK(memcmp(h + 16, pp.src, 4) == 0);         /* src_addr */
	CHECK(memcmp(h + 20, pp.dst, 4) == 0);         /* dst_addr */
	CHECK_EQ((h[24] << 8) | h[25], 0xABCD);       /* src_port */
	CHECK_EQ((h[26] << 8) | h[27], 25);           /* dst_port */
	/* too small a buffer: nothing */
	CHECK_EQ(rw_proxy_v2(&pp, h, 27), 0);
	CHECK_EQ(rw_proxy_v2(&pp, h, 28), 28);
	free(h);
}

TEST(proxy_v2_ipv6_plain)
{
	struct rw_proxy_info pp = { .family = 6, .sport = 51000, .dport = 587 };
	uint8_t *h = malloc(RW_PROXY_V2_MAX);
	size_t n;
	unsigned i;

	for (i = 0; i < 16; i++) {
		pp.src[i] = (uint8_t)(0x20 + i);
		pp.dst[i] = (uint8_t)(0xF0 - i);
	}
	n = rw_proxy_v2(&pp, h, RW_PROXY_V2_MAX);
	CHECK_EQ(n, 16 + 36);                         /* TCP over IPv6 address block */
	CHECK(memcmp(h, pp2_sig, 12) == 0);
	CHECK_EQ(h[12], 0x21);
	CHECK_EQ(h[13], 0x21);                        /* AF_INET6, STREAM */
	CHECK_EQ((h[14] << 8) | h[15], 36);
	CHECK(memcmp(h + 16, pp.src, 16) == 0);
	CHECK(memcmp(h + 32, pp.dst, 16) == 0);
	CHECK_EQ((h[48] << 8) | h[49], 51000);
	CHECK_EQ((h[50] << 8) | h[51], 587);
	free(h);
}

/* Check the PP2_TYPE_SSL TLV of header h (n bytes, address block alen): client flags, verify, sub-TLVs. */
static void check_ssl(const uint8_t *h, size_t n, size_t alen, uint8_t client, int verified, const char *version,
		      const char *cipher, const char *cn)
{
	struct tlv top[4], sub[8];
	int nt, ns, i, seen_v = 0, seen_c = 0, seen_cn = 0;
	uint32_t verify;

	CHECK_EQ((h[14] << 8) | h[15], n - 16);
	nt = tlvs(h + 16 + 2 * alen + 4, n - 16 - 2 * alen - 4, top, 4);
	CHECK_EQ(nt, 1);
	if (nt != 1)
		return;
	CHECK_EQ(top[0].type, 0x20);                  /* PP2_TYPE_SSL */
	CHECK(top[0].len >= 5);
	CHECK_EQ(top[0].v[0], client);                /* PP2_CLIENT_* bit field */
	verify = (uint32_t)top[0].v[1] << 24 | (uint32_t)top[0].v[2] << 16 | (uint32_t)top[0].v[3] << 8 | top[0].v[4];
	CHECK(verified ? verify == 0 : verify != 0);  /* 0 only when a certificate was verified */
	ns = tlvs(top[0].v + 5, top[0].len - 5, sub, 8);
	CHECK(ns >= 2);
	for (i = 0; i < ns; i++) {
		if (sub[i].type == 0x21)
			seen_v += tlv_is(&sub[i], 0x21, version);     /* PP2_SUBTYPE_SSL_VERSION */
		else if (sub[i].type == 0x23)
			seen_c += tlv_is(&sub[i], 0x23, cipher);      /* PP2_SUBTYPE_SSL_CIPHER */
		else if (sub[i].type == 0x22)
			seen_cn += cn != NULL && tlv_is(&sub[i], 0x22, cn);   /* PP2_SUBTYPE_SSL_CN */
		else
			CHECK(!"unexpected sub-TLV");
	}
	CHECK_EQ(seen_v, 1);
	CHECK_EQ(seen_c, 1);
	CHECK_EQ(seen_cn, cn != NULL ? 1 : 0);
	CHECK_EQ(ns, cn != NULL ? 3 : 2);
}

TEST(proxy_v2_tls)
{
	struct rw_proxy_info pp = { .family = 4, .src = { 198, 18, 0, 7 }, .dst = { 198, 18, 0, 2 },
				    .sport = 1234, .dport = 465, .tls = 1, .verify = "OK",
				    .version = "TLSv1.3", .cipher = "TLS_AES_256_GCM_SHA384",
				    .cn = "client.example" };
	uint8_t *h = malloc(RW_PROXY_V2_MAX);
	size_t n;
	char cn[200];

	/* verified certificate: SSL | CERT_CONN | CERT_SESS, verify 0, with the CN */
	n = rw_proxy_v2(&pp, h, RW_PROXY_V2_MAX);
	CHECK_EQ(n, 28 + 3 + 5 + (3 + 7) + (3 + 22) + (3 + 14));
	CHECK_EQ(h[13], 0x11);
	CHECK_EQ((h[24] << 8) | h[25], 1234);
	check_ssl(h, n, 4, 0x07, 1, "TLSv1.3", "TLS_AES_256_GCM_SHA384", "client.example");
	/* the header is exactly as long as it says: one byte less does not fit */
	CHECK_EQ(rw_proxy_v2(&pp, h, n - 1), 0);
	CHECK_EQ(rw_proxy_v2(&pp, h, n), n);

	/* a certificate that did not verify: flags say shown, verify non-zero */
	pp.verify = "FAIL";
	n = rw_proxy_v2(&pp, h, RW_PROXY_V2_MAX);
	check_ssl(h, n, 4, 0x07, 0, "TLSv1.3", "TLS_AES_256_GCM_SHA384", "client.example");

	/* no certificate (NO, NOT): PP2_CLIENT_SSL only, verify non-zero, no CN */
	pp.verify = "NO";
	pp.cn = NULL;
	n = rw_proxy_v2(&pp, h, RW_PROXY_V2_MAX);
	check_ssl(h, n, 4, 0x01, 0, "TLSv1.3", "TLS_AES_256_GCM_SHA384", NULL);
	pp.verify = "NOT";
	pp.cn = "";
	n = rw_proxy_v2(&pp, h, RW_PROXY_V2_MAX);
	check_ssl(h, n, 4, 0x01, 0, "TLSv1.3", "TLS_AES_256_GCM_SHA384", NULL);

	/* IPv6 under TLS 1.2 */
	pp.family = 6;
	memset(pp.src, 0, 16);
	pp.src[0] = 0x20;
	pp.src[1] = 0x01;
	pp.src[15] = 1;
	pp.verify = "OK";
	pp.version = "TLSv1.2";
	pp.cipher = "ECDHE-RSA-AES128-GCM-SHA256";
	pp.cn = "c";
	n = rw_proxy_v2(&pp, h, RW_PROXY_V2_MAX);
	CHECK_EQ(h[13], 0x21);
	CHECK(memcmp(h + 16, pp.src, 16) == 0);
	check_ssl(h, n, 16, 0x07, 1, "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", "c");

	/* a CN longer than 64 bytes goes as its first 64 */
	memset(cn, 'n', 150);
	cn[150] = '\0';
	pp.cn = cn;
	n = rw_proxy_v2(&pp, h, RW_PROXY_V2_MAX);
	cn[64] = '\0';
	check_ssl(h, n, 16, 0x07, 1, "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", cn);
	free(h);
}

/* ---- Received ---- */

TEST(received_golden)
{
	char *out = malloc(RW_RECEIVED_MAX);
	struct rw_received_info r = { .helo = "client.example", .addr = "198.18.0.1", .hostname = "mx.lab.example",
				      .id = "0100000001", .ehlo = 1, .rcpt = "b@lab.example",
				      .when = 1700000000 };
	size_t n;

	n = rw_received(&r, out, RW_RECEIVED_MAX);
	CHECK_STR(out, "Received: from client.example (unknown [198.18.0.1])\r\n"
		       "\tby mx.lab.example (mxgate) with ESMTP id 0100000001\r\n"
		       "\tfor <b@lab.example>;\r\n"
		       "\tTue, 14 Nov 2023 22:13:20 +0000\r\n");
	CHECK_EQ(n, strlen(out));

	/* IPv6, no HELO, several recipients (no "for"), TLS with AUTH: ESMTPSA (RFC 3848) */
	r = (struct rw_received_info){ .helo = "", .addr = "2001:2::1", .hostname = "mx", .id = "02000000FF",
				       .ehlo = 1, .tls = 1, .auth = 1, .version = "TLSv1.3",
				       .cipher = "TLS_AES_256_GCM_SHA384", .cipher_bits = 256, .verify = "NO",
				       .when = 0 };
	n = rw_received(&r, out, RW_RECEIVED_MAX);
	CHECK_STR(out, "Received: from unknown (unknown [IPv6:2001:2::1])\r\n"
		       "\tby mx (mxgate) with ESMTPSA id 02000000FF\r\n"
		       "\t(version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 bits=256 verify=NO);\r\n"
		       "\tThu, 01 Jan 1970 00:00:00 +0000\r\n");
	CHECK_EQ(n, strlen(out));

	/* the other "with" keywords */
	r.auth = 0;
	rw_received(&r, out, RW_RECEIVED_MAX);
	CHECK(strstr(out, " with ESMTPS id ") != NULL);
	r.ehlo = 0;
	rw_received(&r, out, RW_RECEIVED_MAX);
	CHECK(strstr(out, " with SMTPS id ") != NULL);
	r.tls = 0;
	r.auth = 1;                                    /* AUTH without TLS does not happen; no "A" then */
	rw_received(&r, out, RW_RECEIVED_MAX);
	CHECK(strstr(out, " with SMTP id 02000000FF;\r\n") != NULL);
	CHECK(strstr(out, "version=") == NULL);

	/* does not fit: 0, nothing past the buffer */
	r = (struct rw_received_info){ .helo = "h", .addr = "198.18.0.1", .hostname = "mx", .id = "1", .when = 0 };
	n = rw_received(&r, out, RW_RECEIVED_MAX);
	{
		char *small = malloc(n);

		CHECK_EQ(rw_received(&r, small, n), 0);
		free(small);
		small = malloc(n + 1);
		CHECK_EQ(rw_received(&r, small, n + 1), n);
		free(small);
	}
	free(out);
}

/* ---- AUTH towards a backend ---- */

/* The EHLO reply's AUTH line: the mechanisms mxgate speaks, "AUTH=" (old form) too. */
static void auth_mechs(void)
{
	const char *a = "250-backend.lab.example\r\n250-AUTH DIGEST-MD5 plain CRAM-MD5\r\n250 8BITMIME\r\n";
	const char *b = "250-x\r\n250-AUTH=LOGIN PLAIN\r\n250 AUTH CRAM-MD5\r\n";
	const char *c = "250-x\r\n250-AUTHX PLAIN\r\n250-XAUTH LOGIN\r\n250 AUTH PLAINX LOGINS\r\n";
	const char *d = "250-x\r\n250 AUTH LOGIN";          /* last line without its CRLF */

	CHECK_EQ(rw_auth_mechs(a, strlen(a)), RW_MECH_PLAIN);
	CHECK_EQ(rw_auth_mechs(b, strlen(b)), RW_MECH_PLAIN | RW_MECH_LOGIN);
	CHECK_EQ(rw_auth_mechs(c, strlen(c)), 0);
	CHECK_EQ(rw_auth_mechs(d, strlen(d)), RW_MECH_LOGIN);
	CHECK_EQ(rw_auth_mechs("250 AUTH", 8), 0);
	CHECK_EQ(rw_auth_mechs("", 0), 0);
}

/* RFC 4648 10's test vectors, and the exact sizes. */
static void base64_vectors(void)
{
	static const char *const v[][2] = {
		{ "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	char out[16];
	uint8_t all[256];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t want = strlen(v[i][1]);
		char *exact = malloc(want + 1);

		CHECK_EQ(rw_base64(v[i][0], strlen(v[i][0]), out, sizeof(out)), want);
		CHECK_STR(out, v[i][1]);
		CHECK_EQ(rw_base64(v[i][0], strlen(v[i][0]), exact, want + 1), want);   /* exact fit */
		CHECK_EQ(rw_base64(v[i][0], strlen(v[i][0]), exact, want), 0);          /* one short */
		CHECK_STR(exact, "");
		free(exact);
	}
	CHECK_EQ(rw_base64("", 0, out, sizeof(out)), 0);
	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	{
		char *o = malloc(345);

		CHECK_EQ(rw_base64(all, 256, o, 345), 344);
		CHECK(strncmp(o, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g", 44) == 0);
		CHECK_STR(o + 336, "/P3+/w==");
		free(o);
	}
}

/* AUTH PLAIN (RFC 4616 4's example: authzid Ursel, authcid Kurt, password xipj3plmq) and LOGIN lines. */
static void auth_commands(void)
{
	char *out = malloc(RW_AUTH_MAX), big[RW_AUTH_FIELD_MAX + 2];
	size_t n;

	CHECK_EQ(rw_auth_plain("", "tim", "tanstaaftanstaaf", out, RW_AUTH_MAX),
		 strlen("AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n"));
	CHECK_STR(out, "AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n");          /* RFC 4954 4's example */
	rw_auth_plain("Ursel", "Kurt", "xipj3plmq", out, RW_AUTH_MAX);
	CHECK_STR(out, "AUTH PLAIN VXJzZWwAS3VydAB4aXBqM3BsbXE=\r\n");
	CHECK_EQ(rw_auth_plain("", "", "pw", out, RW_AUTH_MAX), 0);               /* no authcid */
	CHECK_EQ(rw_auth_plain("", "u", "", out, RW_AUTH_MAX), 0);                /* no password */
	CHECK_STR(out, "");
	/* the longest fields fit whole in RW_AUTH_MAX; one byte more is refused */
	memset(big, 'x', RW_AUTH_FIELD_MAX);
	big[RW_AUTH_FIELD_MAX] = '\0';
	n = rw_auth_plain(big, big, big, out, RW_AUTH_MAX);
	CHECK(n > 2000 && n < RW_AUTH_MAX && strcmp(out + n - 2, "\r\n") == 0);
	CHECK_EQ(rw_auth_plain(big, big, big, out, n), 0);                         /* no room for the NUL */
	big[RW_AUTH_FIELD_MAX] = 'x';
	big[RW_AUTH_FIELD_MAX + 1] = '\0';
	CHECK_EQ(rw_auth_plain("", "u", big, out, RW_AUTH_MAX), 0);
	CHECK_EQ(rw_auth_login_line("tim", out, RW_AUTH_MAX), 6);
	CHECK_STR(out, "dGlt\r\n");
	CHECK_EQ(rw_auth_login_line("", out, RW_AUTH_MAX), 0);
	CHECK_EQ(rw_auth_login_line(big, out, RW_AUTH_MAX), 0);
	CHECK_EQ(rw_auth_login_line("tim", out, 6), 0);                            /* no room for the NUL */
	free(out);
}


/* rw_xclient_attrs (one pass) says what rw_xclient_lists says for each name, on random replies. */
TEST(xclient_attrs_random)
{
	static const char *const tok[] = { "250-", "250 ", "XCLIENT ", "xclient ", " ", "ADDR", "port", "NAME",
					   "HELO", "PROTO", "LOGIN", "LOG", "ADDRX", "\r", "\n", "\r\n", "=", "A" };
	static const struct { const char *name; unsigned bit; } xa[] = {
		{ "ADDR", RW_XA_ADDR }, { "PORT", RW_XA_PORT }, { "NAME", RW_XA_NAME },
		{ "HELO", RW_XA_HELO }, { "PROTO", RW_XA_PROTO }, { "LOGIN", RW_XA_LOGIN },
	};
	char rep[400];
	unsigned r, i, want, bad = 0;

	srand(4242);
	for (r = 0; r < 50000; r++) {
		size_t n = 0;
		unsigned ntok = (unsigned)rand() % 24;

		for (i = 0; i < ntok; i++) {
			const char *t = i % 6 == 0 ? "250-XCLIENT" : tok[rand() % (int)(sizeof(tok) / sizeof(tok[0]))];

			memcpy(rep + n, t, strlen(t));
			n += strlen(t);
		}
		want = 0;
		for (i = 0; i < sizeof(xa) / sizeof(xa[0]); i++)
			if (rw_xclient_lists(rep, n, xa[i].name))
				want |= xa[i].bit;
		bad += rw_xclient_attrs(rep, n) != want;
	}
	CHECK_EQ(bad, 0);
}

/* rw_ehlo_scan: a real Postfix reply, look-alikes, and random replies against the single readers. */
TEST(ehlo_scan)
{
	static const char *const tok[] = { "250-", "250 ", "STARTTLS", "starttls", "STARTTLSX", "XCLIENT", "XCLIENT ",
					   "AUTH ", "AUTH=", "auth", "PLAIN", "login", "ADDR", " ", "\r", "\n",
					   "\r\n", "S", "X", "A" };
	const char *pf = "250-mx.lab.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n"
			 "250-AUTH PLAIN LOGIN\r\n250-XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN\r\n"
			 "250 CHUNKING\r\n";
	const char *alike = "250-mx\r\n250-STARTTLSX\r\n250-XCLIENTS ADDR\r\n250-AUTHX PLAIN\r\n250 AUTH=login\n";
	struct rw_ehlo e;
	char rep[400];
	unsigned r, i, bad = 0;

	rw_ehlo_scan(pf, strlen(pf), &e);
	CHECK(e.starttls && e.xclient);
	CHECK_EQ(e.xattrs, RW_XA_ALL);
	CHECK_EQ(e.mechs, RW_MECH_PLAIN | RW_MECH_LOGIN);
	rw_ehlo_scan(alike, strlen(alike), &e);
	CHECK(!e.starttls && !e.xclient);
	CHECK_EQ(e.xattrs, 0);
	CHECK_EQ(e.mechs, RW_MECH_LOGIN);
	rw_ehlo_scan("250 STARTTLS", 12, &e);                 /* the last line without its CRLF */
	CHECK(e.starttls);
	rw_ehlo_scan("", 0, &e);
	CHECK(!e.starttls && !e.xclient && e.xattrs == 0 && e.mechs == 0);
	srand(777);
	for (r = 0; r < 50000; r++) {
		size_t n = 0;
		unsigned ntok = (unsigned)rand() % 24;

		for (i = 0; i < ntok; i++) {
			const char *t = tok[rand() % (int)(sizeof(tok) / sizeof(tok[0]))];

			memcpy(rep + n, t, strlen(t));
			n += strlen(t);
		}
		rw_ehlo_scan(rep, n, &e);
		bad += e.starttls != rw_reply_has_keyword(rep, n, "STARTTLS") ||
		       e.xclient != rw_reply_has_keyword(rep, n, "XCLIENT") ||
		       e.xattrs != ((rw_xclient_lists(rep, n, "ADDR") ? RW_XA_ADDR : 0u) |
				    (rw_xclient_lists(rep, n, "LOGIN") ? RW_XA_LOGIN : 0u));
	}
	CHECK_EQ(bad, 0);
}

int main(void)
{
	RUN(reply_single_and_multi);
	RUN(reply_pipelined);
	RUN(reply_split_everywhere);
	RUN(reply_malformed);
	RUN(reply_overlong);
	RUN(reply_random);
	RUN(ehlo_keywords);
	RUN(xtext_every_byte);
	RUN(xtext_cut);
	RUN(xclient_command);
	RUN(xclient_announced_attrs);
	RUN(xclient_attrs_random);
	RUN(ehlo_scan);
	RUN(proxy_v2_ipv4_plain);
	RUN(proxy_v2_ipv6_plain);
	RUN(proxy_v2_tls);
	RUN(received_golden);
	RUN(auth_mechs);
	RUN(base64_vectors);
	RUN(auth_commands);
	return t_done("test_relay_wire");
}
