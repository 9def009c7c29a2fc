/*
 * smtp_client.h - what mxgen's two SMTP clients share (smtp_dpdk.c on
 * mxgen's own stack, smtp_kernel.c on kernel sockets): the session states
 * and the reply each one expects, reply assembly (dataplane/smtp/
 * relay_wire's rw_reply_feed, the assembler mxgate uses for its backends),
 * the message body, the open-loop pacer of --rate and the per-session
 * latency histograms. Header-only; no I/O but the summary words.
 *
 * Pacing (--rate R): session k (k = 0, 1, ...) is due at t0 + k / R, t0
 * the start of the measuring window, whatever happened to the sessions
 * before it (open loop: a slow server does not slow the offered load).
 * A due session starts at once if fewer than --concurrency are in flight;
 * otherwise it is not started and counted as missed (the in-flight bound
 * keeps a saturated server from collecting an unbounded backlog). --count
 * bounds the sessions scheduled (started + missed), --duration the
 * window, so a paced run always ends. How late each start was against its
 * schedule goes into its own histogram (start_lag).
 *
 * Latency of every session completed in the window, from its connect
 * (the SYN): to the end of its TLS handshake (lat_tls) and to the final
 * 250 (lat_250: the 250 to the end of DATA; sessions without a message
 * have none). Printed as count, p50, p90, p99, p99.9 in microseconds.
 */
#ifndef MX_SMTP_CLIENT_H
#define MX_SMTP_CLIENT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/common/hist.h"
#include "dataplane/smtp/relay_wire.h"

#define HELO_NAME "mxgen.lab.example"
#define RBUF      RW_REPLY_MAX     /* one reply, all its lines (relay_wire's bound) */

/* Session states: what the session waits for. */
enum ss_state {
	S_FREE = 0,
	S_CONNECTING,
	S_GREETING,      /* 220 */
	S_EHLO1,         /* 250 to the first EHLO */
	S_STARTTLS,      /* 220 */
	S_HANDSHAKE,
	S_EHLO2,         /* 250 to the EHLO over TLS */
	S_MAIL,          /* 250 */
	S_RCPT,          /* 250 */
	S_DATA,          /* 354 */
	S_DOT,           /* 250 */
	S_QUIT,          /* 221 */
	S_EOF,           /* kernel client: the server's close */
	S_IDLE,          /* kernel client, smtp-idle: nothing until released */
};

static const char *const state_names[] = {
	"free", "connect", "greeting", "EHLO", "STARTTLS", "handshake", "EHLO (TLS)", "MAIL",
	"RCPT", "DATA", "end of DATA", "QUIT", "close", "idle",
};

/* The reply code each waiting state expects. */
static const int want_code[S_IDLE + 1] = {
	[S_GREETING] = 220, [S_EHLO1] = 250, [S_STARTTLS] = 220, [S_EHLO2] = 250,
	[S_MAIL] = 250, [S_RCPT] = 250, [S_DATA] = 354, [S_DOT] = 250, [S_QUIT] = 221,
};

/*
 * A complete reply at the head of buf[0..*len)? 1: its code in *code, its
 * last line (without CRLF) in text, and the reply removed from buf; 0: not
 * complete yet; -1: malformed (relay_wire's rules: a line shorter than
 * "ddd", a code outside 200..599, or longer than RBUF - 1 bytes), *why says
 * which. buf holds at most RBUF bytes; while 0 is returned it holds fewer.
 */
static inline int mx_take_reply(char *buf, size_t *len, int *code, char *text, size_t textlen,
				const char **why)
{
	struct rw_reply r;
	size_t used, ls;

	rw_reply_init(&r);
	switch (rw_reply_feed(&r, (const uint8_t *)buf, *len, &used, code)) {
	case RW_REPLY_MORE:
		return 0;                /* at most RBUF - 1 bytes: room for one more */
	case RW_REPLY_MALFORMED:
		*why = r.over ? "reply longer than the buffer" : "malformed reply";
		return -1;
	case RW_REPLY_DONE:
		break;
	}
	ls = r.len - 1;                  /* the last line: after the LF before its own */
	while (ls > 0 && r.buf[ls - 1] != '\n')
		ls--;
	snprintf(text, textlen, "%.*s", (int)(r.len - ls > 2 ? r.len - ls - 2 : 0), r.buf + ls);
	memmove(buf, buf + used, *len - used);
	*len -= used;
	return 1;
}

/* prefix, then size bytes of body in lines of at most 72, then ".\r\n" (malloc'd). */
static inline char *mx_body(const char *prefix, unsigned size, size_t *out_len)
{
	size_t plen = strlen(prefix), cap = plen + size + (size_t)size / 72 * 2 + 8, o = plen;
	char *b = malloc(cap);

	if (b == NULL)
		return NULL;
	memcpy(b, prefix, plen);
	for (unsigned done = 0; done < size;) {
		unsigned line = size - done > 72 ? 72 : size - done;

		memset(b + o, 'x', line);
		o += line;
		memcpy(b + o, "\r\n", 2);
		o += 2;
		done += line;
	}
	memcpy(b + o, ".\r\n", 3);
	*out_len = o + 3;
	return b;
}

/* ---- the pacer (--rate) ---- */

struct pace {
	double rate;             /* sessions per second; 0: closed loop (no pacer) */
	uint64_t t0;             /* ns: when session 0 is due */
	uint64_t next;           /* sessions scheduled so far (started + missed) */
	uint64_t started, missed;
	uint64_t last_start;     /* ns of the last start */
	struct hist lag;         /* ns each start came after its due time */
};

/* Open the schedule at now (ns). */
static inline void pace_begin(struct pace *p, uint64_t now)
{
	p->t0 = now;
	p->next = p->started = p->missed = 0;
	p->last_start = now;
}

/* When session p->next is due (ns). */
static inline uint64_t pace_due_at(const struct pace *p)
{
	return p->t0 + (uint64_t)((double)p->next * 1e9 / p->rate);
}

/* Is a session due at now, and may one more be scheduled (count 0: no bound)? */
static inline int pace_due(const struct pace *p, uint64_t now, uint64_t count)
{
	return (count == 0 || p->next < count) && now >= pace_due_at(p);
}

/* The due session started at now. */
static inline void pace_started(struct pace *p, uint64_t now)
{
	hist_add(&p->lag, now - pace_due_at(p));
	p->next++;
	p->started++;
	p->last_start = now;
}

/* The due session could not start: every slot is in flight. */
static inline void pace_missed(struct pace *p)
{
	p->next++;
	p->missed++;
}

/* Every scheduled session of a --count run was started or missed. */
static inline int pace_all_scheduled(const struct pace *p, uint64_t count)
{
	return count != 0 && p->next >= count;
}

/* Sessions started per second over the schedule they covered. */
static inline double pace_achieved(const struct pace *p)
{
	double span;

	if (p->started == 0)
		return 0;
	span = (double)(p->last_start - p->t0) / 1e9 + 1.0 / p->rate;
	return (double)p->started / span;
}

/* Words of a histogram in ns: NAME_n, NAME_p50_us, _p90_us, _p99_us, _p999_us. */
static inline void lat_words(FILE *f, const char *name, const struct hist *h)
{
	fprintf(f, " %s_n=%llu %s_p50_us=%.0f %s_p90_us=%.0f %s_p99_us=%.0f %s_p999_us=%.0f", name,
		(unsigned long long)h->count, name, hist_quantile(h, 0.50) / 1e3, name,
		hist_quantile(h, 0.90) / 1e3, name, hist_quantile(h, 0.99) / 1e3, name,
		hist_quantile(h, 0.999) / 1e3);
}

/* The summary's pacing and latency words (rate 0: closed loop, no pacing words). */
static inline void pace_words(FILE *f, const struct pace *p, const struct hist *lat_tls,
			      const struct hist *lat_250)
{
	if (p->rate > 0) {
		fprintf(f, " rate=%.1f achieved_rate=%.1f paced_started=%llu missed=%llu", p->rate,
			pace_achieved(p), (unsigned long long)p->started,
			(unsigned long long)p->missed);
		lat_words(f, "start_lag", &p->lag);
	}
	lat_words(f, "lat_tls", lat_tls);
	lat_words(f, "lat_250", lat_250);
}

/* --rate: sessions per second in (0, 1e6], or exit 2. */
static inline double pace_rate_opt(const char *prog, const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || (*end != '\0' && strcmp(end, "/s") != 0) || !(v > 0) || v > 1e6) {
		fprintf(stderr, "%s: --rate: '%s' is not sessions per second in (0, 1000000]\n",
			prog, s);
		exit(2);
	}
	return v;
}

#endif
