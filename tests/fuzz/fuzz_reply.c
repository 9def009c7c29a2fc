/*
 * fuzz_reply.c - libFuzzer target for the backend reply assembler and the
 * EHLO reply readers (dataplane/smtp/relay_wire.c: rw_reply_feed,
 * rw_reply_has_keyword, rw_xclient_lists, rw_ehlo_scan).
 *
 * Input: byte 0 seeds the chunk sizes; the rest is what a backend sends.
 * It is fed whole and in chunks of 1..16 bytes, as TCP or TLS would hand
 * it over, re-initialising after each complete (or malformed) reply.
 *
 * Asserted: both feedings find the same replies with the same status,
 * code and text; the assembler never takes more than it is given (all of
 * it when it asks for more); a complete reply is exactly the bytes taken
 * since the last init, NUL-terminated, within RW_REPLY_MAX, with a code of
 * 200..599, and agrees with an independent model of RFC 5321 4.2.1
 * (a line of 4 or more bytes with its LF whose 4th byte is not '-' ends
 * the reply, the code is that line's; a shorter line ends it malformed);
 * a reply too long for the buffer is malformed at the first byte past it,
 * never DONE. The keyword readers agree with independent models on every
 * reply found.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dataplane/smtp/relay_wire.h"
#include "fuzz.h"

#define MAX_REPLIES 4096

/* What one feeding found. */
struct found {
	int n;
	int status[MAX_REPLIES], code[MAX_REPLIES];
	size_t off[MAX_REPLIES];        /* input offset just after the reply */
};

static struct found whole, chunked;
static struct rw_reply R;

/*
 * The model's reply end: offset after the byte ending the reply that starts
 * at s (the LF of its last line or of a line too short to be one, or the
 * first byte past RW_REPLY_MAX - 1), or 0 (none yet).
 */
static size_t model_end(const uint8_t *p, size_t s, size_t n)
{
	size_t ls = s, i;

	for (i = s; i < n; i++) {
		if (i - s >= RW_REPLY_MAX - 1)
			return i + 1;
		if (p[i] != '\n')
			continue;
		if (i + 1 - ls < 4 || p[ls + 3] != '-')
			return i + 1;
		ls = i + 1;
	}
	return 0;
}

/* The model of rw_reply_has_keyword: a line "dddKW", "dddKW ..." or "dddKW\r...". */
static int model_keyword(const char *rep, size_t len, const char *kw)
{
	size_t k = strlen(kw), s = 0;

	while (s < len) {
		const char *nl = memchr(rep + s, '\n', len - s);
		size_t e = nl ? (size_t)(nl - rep) : len;      /* line [s, e) */

		if (e - s >= 4 + k && strncasecmp(rep + s + 4, kw, k) == 0 &&
		    (e - s == 4 + k || rep[s + 4 + k] == ' ' || rep[s + 4 + k] == '\r'))
			return 1;
		s = e + 1;
	}
	return 0;
}

/* The model of rw_xclient_lists: a "dddXCLIENT a b c" line with attr as a whole word after XCLIENT. */
static int model_lists(const char *rep, size_t len, const char *attr)
{
	size_t k = strlen(attr), s = 0;

	while (s < len) {
		const char *nl = memchr(rep + s, '\n', len - s);
		size_t e = nl ? (size_t)(nl - rep) : len, w;

		if (e - s > 12 && strncasecmp(rep + s + 4, "XCLIENT ", 8) == 0) {
			/* words after "XCLIENT", separated by spaces; a CR ends the last one */
			for (w = s + 11; w < e; w++)
				if (rep[w] == ' ' && e - (w + 1) >= k && strncasecmp(rep + w + 1, attr, k) == 0 &&
				    (w + 1 + k == e || rep[w + 1 + k] == ' ' || rep[w + 1 + k] == '\r'))
					return 1;
		}
		s = e + 1;
	}
	return 0;
}

/* The model of rw_auth_mechs: PLAIN and LOGIN as whole words (split at spaces and CRs) of "dddAUTH ..." or "dddAUTH=..." lines. */
static unsigned model_mechs(const char *rep, size_t len)
{
	size_t s = 0, w, j;
	unsigned m = 0;

	while (s < len) {
		const char *nl = memchr(rep + s, '\n', len - s);
		size_t e = nl ? (size_t)(nl - rep) : len;

		if (e - s > 9 && strncasecmp(rep + s + 4, "AUTH", 4) == 0 && (rep[s + 8] == ' ' || rep[s + 8] == '='))
			for (w = s + 9; w < e; w = j + 1) {
				for (j = w; j < e && rep[j] != ' ' && rep[j] != '\r'; j++)
					;
				if (j - w == 5 && strncasecmp(rep + w, "PLAIN", 5) == 0)
					m |= RW_MECH_PLAIN;
				if (j - w == 5 && strncasecmp(rep + w, "LOGIN", 5) == 0)
					m |= RW_MECH_LOGIN;
			}
		s = e + 1;
	}
	return m;
}

/* rw_ehlo_scan against the models of the readers it stands for. */
static void check_ehlo(const char *rep, size_t len)
{
	static const struct { const char *name; unsigned bit; } xa[] = {
		{ "ADDR", RW_XA_ADDR }, { "PORT", RW_XA_PORT }, { "NAME", RW_XA_NAME },
		{ "HELO", RW_XA_HELO }, { "PROTO", RW_XA_PROTO }, { "LOGIN", RW_XA_LOGIN },
	};
	struct rw_ehlo e;
	unsigned k, xattrs = 0;

	rw_ehlo_scan(rep, len, &e);
	FUZZ_ASSERT(e.starttls == model_keyword(rep, len, "STARTTLS"));
	FUZZ_ASSERT(e.xclient == model_keyword(rep, len, "XCLIENT"));
	FUZZ_ASSERT(e.mechs == model_mechs(rep, len));
	for (k = 0; k < sizeof(xa) / sizeof(xa[0]); k++)
		if (model_lists(rep, len, xa[k].name))
			xattrs |= xa[k].bit;
	FUZZ_ASSERT(e.xattrs == xattrs);
}

/* Feed p[0..n) in chunks (step 0: whole), recording what is found and checking each reply. */
static void feed(const uint8_t *p, size_t n, uint8_t seed, struct found *f)
{
	size_t off = 0, start = 0;
	uint32_t rng = seed;

	f->n = 0;
	rw_reply_init(&R);
	while (off < n) {
		size_t chunk = n - off, used = (size_t)-1;
		int code = -1;
		enum rw_reply_status st;

		if (seed) {
			rng = rng * 1103515245u + 12345u;
			chunk = 1 + (rng >> 16) % 16;
			if (chunk > n - off)
				chunk = n - off;
		}
		st = rw_reply_feed(&R, p + off, chunk, &used, &code);
		FUZZ_ASSERT(used <= chunk);
		FUZZ_ASSERT(R.len < RW_REPLY_MAX);
		if (st == RW_REPLY_MORE) {
			FUZZ_ASSERT(used == chunk);
			off += used;
			continue;
		}
		FUZZ_ASSERT(st == RW_REPLY_DONE || st == RW_REPLY_MALFORMED);
		FUZZ_ASSERT(used > 0 && (p[off + used - 1] == '\n' || (R.over && st == RW_REPLY_MALFORMED)));
		off += used;
		FUZZ_ASSERT(model_end(p, start, n) == off);
		FUZZ_ASSERT(R.buf[R.len] == '\0');
		if (!R.over) {
			/* the reply is exactly the bytes since init */
			FUZZ_ASSERT(R.len == off - start && memcmp(R.buf, p + start, R.len) == 0);
		}
		if (st == RW_REPLY_DONE) {
			static const char *const kws[] = { "STARTTLS", "XCLIENT", "PIPELINING", "SIZE", "8BITMIME" };
			static const char *const attrs[] = { "LOGIN", "ADDR", "HELO", "NAME", "PROTO" };
			unsigned k;

			FUZZ_ASSERT(!R.over && code >= 200 && code <= 599);
			for (k = 0; k < 5; k++) {
				FUZZ_ASSERT(rw_reply_has_keyword(R.buf, R.len, kws[k]) == model_keyword(R.buf, R.len, kws[k]));
				FUZZ_ASSERT(rw_xclient_lists(R.buf, R.len, attrs[k]) == model_lists(R.buf, R.len, attrs[k]));
			}
			check_ehlo(R.buf, R.len);
		}
		if (f->n < MAX_REPLIES) {
			f->status[f->n] = (int)st;
			f->code[f->n] = code;
			f->off[f->n] = off;
			f->n++;
		}
		start = off;
		rw_reply_init(&R);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input: see the file comment. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int i;

	if (size < 1)
		return 0;
	feed(data + 1, size - 1, 0, &whole);
	feed(data + 1, size - 1, (uint8_t)(data[0] | 1), &chunked);
	FUZZ_ASSERT(whole.n == chunked.n);
	for (i = 0; i < whole.n; i++)
		FUZZ_ASSERT(whole.status[i] == chunked.status[i] && whole.code[i] == chunked.code[i] &&
			    whole.off[i] == chunked.off[i]);
	return 0;
}
