/*
 * smtp_dpdk.c - mxgen's SMTP modes on its own DPDK stack (dataplane/net):
 * an SMTP client (plain, STARTTLS, implicit TLS; BoringSSL through
 * crypto/tls.c's client context and tls_transport) and an smtp-sink
 * equivalent on a second port, the backend that mxgate relays to. Both run
 * on mxgen's one worker lcore, so a run needs no kernel network at all:
 *
 *   mxgen client ==memif== mxgate outside ... mxgate inside ==memif== mxgen sink
 *
 * Client (modes smtp and smtp-handshake, --concurrency sessions in flight):
 *   smtp            greeting, EHLO, [STARTTLS, handshake, EHLO,] MAIL, RCPT,
 *                   DATA (headers with a Message-ID naming the session, then
 *                   --size bytes of body), QUIT; implicit TLS: handshake,
 *                   greeting, EHLO, MAIL, ...
 *   smtp-handshake  greeting, EHLO, STARTTLS, handshake, QUIT (implicit:
 *                   handshake, greeting, QUIT; plain: greeting, EHLO, QUIT)
 * The warm-up probe (one session before the load) must get its message
 * accepted (smtp) or connect (smtp-handshake) before the window opens, so
 * that every MAC on both sides is resolved. A session counts as done when
 * the 221 to QUIT arrives; then the client
 * closes its side. Every handshake is a full one (the client context keeps
 * no sessions). Each step has --timeout-ms; errors are counted by class
 * (gen.h). Latencies: connect to 221 (p50/p99), and the handshake alone.
 *
 * Sink (--sink-dev): listens on --sink-port and answers like Postfix's
 * smtp-sink: a 220 greeting, EHLO with PIPELINING, 8BITMIME and (unless
 * --sink-xclient no) XCLIENT, 250 to XCLIENT (as smtp-sink; mxgate accepts
 * any 2xx), MAIL, RCPT, RSET, NOOP, 354 to DATA and 250 at the end of the
 * message, 221 to QUIT and a close. mxgate sends XCLIENT only when the
 * backend offers it (dataplane/smtp/session.c), and never needs
 * PIPELINING of the backend (one command at a time).
 *
 * Delivery check: message number N carries "Message-ID:
 * <mxgen.TAG.N@mxgen.lab.example>" (TAG random per run). The client marks
 * N when mxgate answers 250 to the end of its DATA; the sink counts the
 * arrivals of N. mxgate answers 250 only after the sink did, so at the end
 * every marked N must have arrived exactly once: missing and duplicates
 * are reported and make the run fail (exit 3).
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <rte_cycles.h>

#include "gen.h"
#include "smtp_client.h"
#include "crypto/tls.h"

#define SINK_NAME      "sink.mxgen.lab.example"
#define STEP_LIMIT     64          /* steps per event on one session */
#define FAIL_LOG_MAX   10          /* failures described on stderr */
#define IDS_MAX        (1ull << 28)  /* message numbers checked (1 byte each, twice) */
#define SINK_LINE_MAX  1024u       /* a command line (longer: 500); data lines are cut */
#define LOCAL_STREAK_MAX 100000u

/* One client session. */
struct ssess {
	struct tcp_conn *c;       /* NULL: slot free */
	struct tls_conn *tls;     /* TLS under way or up */
	uint8_t st;
	uint8_t probe;            /* the warm-up session: not in the histograms */
	unsigned idx;
	uint64_t id;              /* message number */
	uint64_t t0, t_hs;        /* TSC at connect, at the start of the handshake */
	uint64_t t_tls, t_250;    /* TSC at the end of the handshake, at the final 250 (0: none) */
	const uint8_t *out[2];    /* output being sent: up to two pieces */
	size_t out_len[2], out_off;
	unsigned nout, cur;
	size_t rlen;
	size_t hdr_len;
	char hdr[192];            /* this message's headers */
	char rbuf[RBUF];
};

/* The client side of a run. */
struct smtpc {
	struct ssess *s;
	unsigned *free;           /* stack of free slot indexes */
	unsigned nfree;
	int handshake_only;
	struct tls_ctx *tls;
	struct tls_worker *tw;    /* the X25519 door: key pairs and shared secrets in lanes */
	uint64_t started, handshakes, handshakes_win, accepted;
	unsigned local_streak;    /* tcp_connect() failures in a row */
	unsigned fail_logged;
	struct hist h_hs;
	struct hist lat_tls, lat_250;   /* connect to TLS done, to the final 250 (ns) */
	struct pace pace;         /* --rate: the open-loop schedule */
	int paced;                /* the schedule has begun */
	uint8_t *body;            /* --size bytes of body lines, then ".\r\n" */
	size_t body_len;
	char version[16], cipher[64];
};

/* Message numbers: accepted by mxgate (client) and arrived (sink). */
static struct {
	uint8_t *acked, *arrived;
	uint64_t cap;             /* numbers below cap are checked */
	uint32_t tag;             /* random per run: a stray message is not ours */
} ids;

/* ---------------------------------------------------------------- */
/* client                                                            */
/* ---------------------------------------------------------------- */

static const struct tcp_app_ops ss_ops;

/* Give the slot back; abort the connection if it is still ours. */
static void ss_release(struct gen *g, struct ssess *s, int abort_conn)
{
	struct smtpc *k = g->m;
	struct tcp_conn *c = s->c;

	if (s->tls != NULL) {
		tls_conn_free(s->tls);
		s->tls = NULL;
	}
	s->c = NULL;
	s->st = S_FREE;
	s->nout = 0;
	k->free[k->nfree++] = s->idx;
	g->active--;
	if (c != NULL && abort_conn)
		tcp_abort(c);
}

/* A session failed: count its class, say why (the first few), let it go. */
static void ss_fail(struct gen *g, struct ssess *s, enum err_class cls, const char *why,
		    int abort_conn)
{
	struct smtpc *k = g->m;

	gen_error(g, cls);
	if (k->fail_logged < FAIL_LOG_MAX) {
		k->fail_logged++;
		fprintf(stderr, "mxgen: session %llu failed (%s) in %s after %.1f ms: %s\n",
			(unsigned long long)s->id, err_names[cls], state_names[s->st],
			(double)cyc_to_ns(g, rte_rdtsc() - s->t0) / 1e6, why);
		if (k->fail_logged == FAIL_LOG_MAX)
			fprintf(stderr, "mxgen: (further failures are only counted)\n");
	}
	if (s->probe && g->phase == PH_WARMUP)
		g->fatal = "the probe session failed (is mxgate listening, with a backend?)";
	ss_release(g, s, abort_conn);
}

/* Queue output (one or two pieces, stable until sent) and wait for next. */
static void ss_send(struct gen *g, struct ssess *s, const void *a, size_t alen, const void *b,
		    size_t blen, enum ss_state next)
{
	s->out[0] = a;
	s->out_len[0] = alen;
	s->out[1] = b;
	s->out_len[1] = blen;
	s->nout = b != NULL ? 2 : 1;
	s->cur = 0;
	s->out_off = 0;
	s->st = (uint8_t)next;
	tcp_set_timeout(s->c, g->o->timeout_ms);
}

#define SEND_LIT(g, s, lit, next) ss_send(g, s, lit, sizeof(lit) - 1, NULL, 0, next)

/* The TLS transport over the session's TCP connection. */
static long ss_tr_read(void *arg, uint8_t *buf, size_t len)
{
	struct ssess *s = arg;
	size_t n;

	if (s->c == NULL)
		return 0;
	n = tcp_recv(s->c, buf, len);
	return n > 0 ? (long)n : -1;
}

/* The TLS transport: write to the session's TCP connection (-1: gone). */
static long ss_tr_write(void *arg, const uint8_t *buf, size_t len)
{
	struct ssess *s = arg;

	return s->c == NULL ? -1 : (long)tcp_send(s->c, buf, len);
}

/* Begin TLS (after the 220 to STARTTLS, or at once for implicit TLS); 0 or -1 (failed). */
static int ss_tls_start(struct gen *g, struct ssess *s)
{
	struct smtpc *k = g->m;
	struct tls_transport tr = { s, ss_tr_read, ss_tr_write };

	s->tls = tls_client_conn_new(k->tls, &tr, g->o->sni, s);
	if (s->tls == NULL) {
		ss_fail(g, s, ERR_tls, "cannot create a TLS session", 1);
		return -1;
	}
	tls_client_conn_set_worker(s->tls, k->tw);
	s->st = S_HANDSHAKE;
	s->t_hs = rte_rdtsc();
	tcp_set_timeout(s->c, g->o->timeout_ms);
	return 0;
}

/* The handshake completed: count it and go on with the session. */
static void ss_tls_done(struct gen *g, struct ssess *s)
{
	struct smtpc *k = g->m;

	k->handshakes++;
	s->t_tls = rte_rdtsc();
	if (in_window(g) && !s->probe) {
		k->handshakes_win++;
		hist_add(&k->h_hs, cyc_to_ns(g, s->t_tls - s->t_hs));
	}
	if (!k->version[0]) {
		struct tls_macros m;

		tls_get_macros(s->tls, &m);
		snprintf(k->version, sizeof(k->version), "%s", m.version[0] ? m.version : "-");
		snprintf(k->cipher, sizeof(k->cipher), "%s", m.cipher[0] ? m.cipher : "-");
	}
	if (g->o->tls == GEN_TLS_IMPLICIT) {
		s->st = S_GREETING;              /* the greeting comes over TLS */
		tcp_set_timeout(s->c, g->o->timeout_ms);
	} else if (k->handshake_only) {
		SEND_LIT(g, s, "QUIT\r\n", S_QUIT);
	} else {
		SEND_LIT(g, s, "EHLO " HELO_NAME "\r\n", S_EHLO2);
	}
}

/* The 221 arrived: the session is done; close our side. */
static void ss_done(struct gen *g, struct ssess *s)
{
	uint64_t dt = rte_rdtsc() - s->t0;
	struct tcp_conn *c = s->c;
	struct smtpc *k = g->m;

	g->done++;
	if (in_window(g) && !s->probe) {
		g->done_window++;
		hist_add(&g->h, cyc_to_ns(g, dt));
		if (s->t_tls)
			hist_add(&k->lat_tls, cyc_to_ns(g, s->t_tls - s->t0));
		if (s->t_250)
			hist_add(&k->lat_250, cyc_to_ns(g, s->t_250 - s->t0));
	}
	ss_release(g, s, 0);
	tcp_close(c);
}

/* A complete reply with this code arrived. Returns -1 if the session ended. */
static int ss_reply(struct gen *g, struct ssess *s, int code, const char *text, size_t tlen)
{
	struct smtpc *k = g->m;
	int implicit = g->o->tls == GEN_TLS_IMPLICIT, plain = g->o->tls == GEN_TLS_PLAIN;

	if (code != want_code[s->st]) {
		char why[200];

		snprintf(why, sizeof(why), "reply %d, expected %d: %.*s", code, want_code[s->st],
			 (int)(tlen > 120 ? 120 : tlen), text);
		ss_fail(g, s, ERR_smtp_reply, why, 1);
		return -1;
	}
	switch (s->st) {
	case S_GREETING:
		if (implicit && k->handshake_only)
			SEND_LIT(g, s, "QUIT\r\n", S_QUIT);
		else if (implicit)
			SEND_LIT(g, s, "EHLO " HELO_NAME "\r\n", S_EHLO2);
		else
			SEND_LIT(g, s, "EHLO " HELO_NAME "\r\n", S_EHLO1);
		return 0;
	case S_EHLO1:
		if (plain && k->handshake_only)
			SEND_LIT(g, s, "QUIT\r\n", S_QUIT);
		else if (plain)
			SEND_LIT(g, s, "MAIL FROM:<bench@" HELO_NAME ">\r\n", S_MAIL);
		else
			SEND_LIT(g, s, "STARTTLS\r\n", S_STARTTLS);
		return 0;
	case S_STARTTLS:
		if (s->rlen > 0) {
			ss_fail(g, s, ERR_smtp_reply, "bytes after the 220 to STARTTLS", 1);
			return -1;
		}
		return ss_tls_start(g, s);
	case S_EHLO2:
		SEND_LIT(g, s, "MAIL FROM:<bench@" HELO_NAME ">\r\n", S_MAIL);
		return 0;
	case S_MAIL:
		SEND_LIT(g, s, "RCPT TO:<sink@backend.lab.example>\r\n", S_RCPT);
		return 0;
	case S_RCPT:
		SEND_LIT(g, s, "DATA\r\n", S_DATA);
		return 0;
	case S_DATA:
		ss_send(g, s, s->hdr, s->hdr_len, k->body, k->body_len, S_DOT);
		return 0;
	case S_DOT:
		/* the probe's message went through mxgate to the sink: mxgate's ARP entry
		   for the backend is resolved, so the first burst of backend SYNs is not
		   dropped while it waits (4 packets held per unresolved next hop) */
		if (s->probe)
			g->ready = 1;
		s->t_250 = rte_rdtsc();
		k->accepted++;
		if (s->id < ids.cap)
			ids.acked[s->id] = 1;
		SEND_LIT(g, s, "QUIT\r\n", S_QUIT);
		return 0;
	case S_QUIT:
		ss_done(g, s);
		return -1;
	default:
		ss_fail(g, s, ERR_smtp_reply, "reply in an unexpected state", 1);
		return -1;
	}
}

/*
 * A complete reply at the head of rbuf? 1 (code and text set, reply
 * consumed), 0 if incomplete, -1 if malformed (the session failed).
 */
static int ss_take_reply(struct gen *g, struct ssess *s, int *code, char *text, size_t textlen)
{
	const char *why = NULL;
	int r = mx_take_reply(s->rbuf, &s->rlen, code, text, textlen, &why);

	if (r < 0)
		ss_fail(g, s, ERR_smtp_reply, why, 1);
	return r;
}

/* Read what is there into rbuf: >0 bytes, 0 end of stream, -1 nothing now, -2 failed. */
static long ss_read(struct gen *g, struct ssess *s)
{
	uint8_t *buf = (uint8_t *)s->rbuf + s->rlen;
	size_t room = RBUF - s->rlen;
	long r;

	if (room == 0)
		return -1;
	if (s->tls == NULL) {
		size_t n = tcp_recv(s->c, buf, room);

		return n > 0 ? (long)n : -1;
	}
	r = tls_read(s->tls, buf, room);
	if (r > 0)
		return r;
	if (r == -TLS_WANT_READ || r == -TLS_WANT_WRITE)
		return -1;
	if (r == -TLS_CLOSED)
		return 0;
	ss_fail(g, s, ERR_tls, tls_error_reason(s->tls)[0] ? tls_error_reason(s->tls)
							     : "TLS error while reading", 1);
	return -2;
}

/* Send pending output: 1 all sent, 0 blocked (writable() resumes), -1 failed. */
static int ss_flush(struct gen *g, struct ssess *s)
{
	while (s->cur < s->nout) {
		const uint8_t *p = s->out[s->cur] + s->out_off;
		size_t left = s->out_len[s->cur] - s->out_off;

		if (s->tls == NULL) {
			size_t n = tcp_send(s->c, p, left);

			s->out_off += n;
			if (n < left)
				return 0;
		} else {
			long r = tls_write(s->tls, p, left);

			if (r == -TLS_WANT_WRITE)
				return 0;          /* again with the same bytes */
			if (r < 0) {
				ss_fail(g, s, ERR_tls, "TLS error while writing", 1);
				return -1;
			}
		}
		s->cur++;
		s->out_off = 0;
	}
	s->nout = 0;
	return 1;
}

/* One step of a session: 1 progress, 0 blocked, -1 the session ended. */
static int ss_step(struct gen *g, struct ssess *s)
{
	char text[160];
	int code, r;
	long n;

	if (s->nout > 0)
		return ss_flush(g, s);
	if (s->st == S_HANDSHAKE) {
		enum tls_status st = tls_handshake(s->tls);

		if (st == TLS_DONE) {
			ss_tls_done(g, s);
			return 1;
		}
		/* smtp_tick runs the door in this round: our reply carries the ACK */
		if (st == TLS_WANT_KEY && s->c != NULL)
			tcp_hold_ack(s->c);
		if (st == TLS_WANT_READ || st == TLS_WANT_WRITE || st == TLS_WANT_KEY)
			return 0;       /* TLS_WANT_KEY: ss_key_done() drives it on */
		ss_fail(g, s, ERR_tls, tls_error_reason(s->tls)[0] ? tls_error_reason(s->tls)
								     : "handshake failed", 1);
		return -1;
	}
	r = ss_take_reply(g, s, &code, text, sizeof(text));
	if (r < 0)
		return -1;
	if (r > 0)
		return ss_reply(g, s, code, text, strlen(text)) < 0 ? -1 : 1;
	n = ss_read(g, s);
	if (n == -2)
		return -1;
	if (n == 0) {
		ss_fail(g, s, ERR_eof, "TLS closed by the server", 1);
		return -1;
	}
	if (n < 0)
		return 0;
	s->rlen += (size_t)n;
	return 1;
}

/* Drive a session until it blocks or ends (bounded). */
static void ss_drive(struct gen *g, struct ssess *s)
{
	for (unsigned i = 0; i < STEP_LIMIT && s->st != S_FREE; i++)
		if (ss_step(g, s) <= 0)
			return;
}

/* TCP handshake done: TLS at once (implicit) or wait for the greeting. */
static void ss_connected(struct tcp_conn *c, int err)
{
	struct ssess *s = tcp_app(c);
	struct gen *g = &gen;

	if (err < 0)
		return;                 /* closed() follows and counts it */
	if (s->probe && ((struct smtpc *)g->m)->handshake_only)
		g->ready = 1;           /* the peer's MAC is known: full load may start */
	if (g->o->tls == GEN_TLS_IMPLICIT) {
		if (ss_tls_start(g, s) != 0)
			return;
	} else {
		s->st = S_GREETING;
		tcp_set_timeout(c, g->o->timeout_ms);
	}
	ss_drive(g, s);
}

/* Bytes from the server: go on with the session. */
static void ss_readable(struct tcp_conn *c)
{
	ss_drive(&gen, tcp_app(c));
}

/* Send space again: flush what waits, go on. */
static void ss_writable(struct tcp_conn *c)
{
	ss_drive(&gen, tcp_app(c));
}

/* The server closed: what is buffered still counts, then the session failed. */
static void ss_peer_closed(struct tcp_conn *c)
{
	struct ssess *s = tcp_app(c);

	ss_drive(&gen, s);
	if (s->c == c)
		ss_fail(&gen, s, ERR_eof, "closed by the server", 1);
}

/* The connection ended under us (refused, reset, retransmissions exhausted). */
static void ss_closed(struct tcp_conn *c, enum tcp_end why)
{
	struct ssess *s = tcp_app(c);

	s->c = NULL;            /* gone: nothing to abort */
	ss_fail(&gen, s, gen_end_class(why), why == TCP_END_REFUSED ? "connection refused" :
		why == TCP_END_RESET ? "reset by the server" : "connection lost", 0);
}

/* A step took longer than --timeout-ms. */
static void ss_timeout(struct tcp_conn *c)
{
	char why[64];

	snprintf(why, sizeof(why), "no progress in %u ms", gen.o->timeout_ms);
	ss_fail(&gen, tcp_app(c), ERR_timeout, why, 1);
}

/* The door made this session's X25519 work (smtp_tick's tls_worker_run): go on. */
static void ss_key_done(void *arg)
{
	struct ssess *s = arg;

	if (s->st == S_HANDSHAKE)
		ss_drive(&gen, s);
}

static const struct tcp_app_ops ss_ops = {
	.connected = ss_connected,
	.readable = ss_readable,
	.writable = ss_writable,
	.peer_closed = ss_peer_closed,
	.closed = ss_closed,
	.timeout = ss_timeout,
};

/* Start a session in a free slot; 0 or -1. */
static int ss_start(struct gen *g, int probe)
{
	struct smtpc *k = g->m;
	struct ssess *s;
	struct tcp_conn *c;
	int n;

	if (k->nfree == 0)
		return -1;
	s = &k->s[k->free[k->nfree - 1]];
	s->t0 = rte_rdtsc();
	s->probe = (uint8_t)probe;
	s->id = k->started;
	s->rlen = 0;
	s->nout = 0;
	s->tls = NULL;
	s->t_tls = s->t_250 = 0;
	s->st = S_CONNECTING;
	c = gen_connect(g, &ss_ops, s);
	if (c == NULL) {
		k->local_streak++;
		s->st = S_FREE;
		return -1;
	}
	k->local_streak = 0;
	k->started++;
	k->nfree--;
	s->c = c;
	g->active++;
	n = snprintf(s->hdr, sizeof(s->hdr),
		     "From: <bench@" HELO_NAME ">\r\nTo: <sink@backend.lab.example>\r\n"
		     "Subject: mxgen %llu\r\nMessage-ID: <mxgen.%08x.%llu@" HELO_NAME ">\r\n\r\n",
		     (unsigned long long)s->id, ids.tag, (unsigned long long)s->id);
	s->hdr_len = n > 0 && (size_t)n < sizeof(s->hdr) ? (size_t)n : 0;
	tcp_set_timeout(c, g->o->timeout_ms);
	return 0;
}

/* Client state, TLS context and the message-number arrays (main lcore). */
static int smtp_init_common(struct gen *g, int handshake_only)
{
	struct smtpc *k = calloc(1, sizeof(*k));
	unsigned i, n = g->o->concurrency;
	char err[256];

	if (k == NULL)
		return -1;
	g->m = k;
	k->handshake_only = handshake_only;
	k->pace.rate = g->o->rate;
	k->s = calloc(n, sizeof(*k->s));
	k->free = calloc(n, sizeof(*k->free));
	if (k->s == NULL || k->free == NULL ||
	    (k->body = (uint8_t *)mx_body("", g->o->size, &k->body_len)) == NULL)
		return -1;
	for (i = n; i-- > 0;) {
		k->s[i].idx = i;
		k->free[k->nfree++] = i;
	}
	if (g->o->tls != GEN_TLS_PLAIN) {
		k->tls = tls_client_ctx_new(err, sizeof(err));
		if (k->tls == NULL) {
			fprintf(stderr, "mxgen: %s\n", err);
			return -1;
		}
		/* X25519 in lanes as mxgate's worker does it (MXGATE_X25519_LANES=0: BoringSSL's) */
		if ((k->tw = tls_worker_new(ss_key_done)) == NULL)
			return -1;
	}
	/* calloc of this size maps zero pages lazily: only used numbers cost memory */
	ids.cap = g->o->count ? g->o->count : (uint64_t)(g->o->duration * 400000.0) + 65536;
	if (ids.cap > IDS_MAX)
		ids.cap = IDS_MAX;
	ids.acked = calloc(ids.cap, 1);
	ids.arrived = calloc(ids.cap, 1);
	if (ids.acked == NULL || ids.arrived == NULL)
		return -1;
	if (getrandom(&ids.tag, sizeof(ids.tag), 0) != sizeof(ids.tag))
		ids.tag = (uint32_t)rte_rdtsc();
	return 0;
}

/* Mode smtp: whole sessions with a message. */
static int smtp_init(struct gen *g)
{
	return smtp_init_common(g, 0);
}

/* Mode smtp-handshake: up to the handshake, then QUIT. */
static int smtp_hs_init(struct gen *g)
{
	return smtp_init_common(g, 1);
}

/* --rate: start the sessions due now (the schedule opens at the first call). */
static unsigned smtp_paced_starts(struct gen *g, struct smtpc *k)
{
	uint64_t now = cyc_to_ns(g, rte_rdtsc());
	unsigned n = 0;

	if (!k->paced) {
		pace_begin(&k->pace, now);
		k->paced = 1;
	}
	while (pace_due(&k->pace, now, g->o->count)) {
		if (k->nfree == 0) {
			pace_missed(&k->pace);   /* every slot in flight: not started */
			continue;
		}
		if (ss_start(g, 0) != 0)
			break;            /* local failure: the same session again next round */
		pace_started(&k->pace, now);
		n++;
	}
	return n;
}

/* Keep --concurrency sessions in flight, or start them at --rate (one probe during the
   warm-up). */
static unsigned smtp_tick(struct gen *g)
{
	struct smtpc *k = g->m;
	unsigned n = 0, want;

	if (k->tw != NULL)
		n += tls_worker_run(k->tw, UINT_MAX);   /* the X25519 work of this round */
	if (g->phase == PH_WARMUP) {
		if (g->active == 0 && !g->ready && g->opened == 0 && ss_start(g, 1) == 0)
			n++;
		return n;
	}
	if (g->phase != PH_RUN)
		return n;
	want = k->pace.rate > 0 ? 0 : k->nfree;
	if (k->pace.rate > 0)
		n += smtp_paced_starts(g, k);
	while (want-- > 0) {
		if (g->o->count && k->started >= g->o->count)
			break;
		if (ss_start(g, 0) != 0)
			break;            /* local failure: try again next round */
		n++;
	}
	if (k->local_streak >= LOCAL_STREAK_MAX && g->done == 0)
		g->fatal = "tcp_connect() keeps failing";
	return n;
}

/* --sessions started and all of them over. */
static int smtp_finished(struct gen *g)
{
	struct smtpc *k = g->m;

	if (k->pace.rate > 0)
		return pace_all_scheduled(&k->pace, g->o->count) && g->active == 0;
	return g->o->count && k->started >= g->o->count && g->active == 0;
}

/* The window closed: nothing to do, tick() starts no more sessions. */
static void smtp_drain(struct gen *g)
{
	(void)g;
}

/* After the drain grace: whatever is in flight counts as a timeout. */
static void smtp_abort_all(struct gen *g)
{
	struct smtpc *k = g->m;

	for (unsigned i = 0; i < g->o->concurrency; i++)
		if (k->s[i].c != NULL)
			ss_fail(g, &k->s[i], ERR_timeout, "still open when the drain time ended", 1);
}

/* The SMTP fragment of the progress line. */
static void smtp_progress(struct gen *g, FILE *f, double dt)
{
	static uint64_t last_s, last_h;
	struct smtpc *k = g->m;
	uint64_t d = g->done, h = k->handshakes;

	fprintf(f, " sessions/s=%.0f hs/s=%.0f sessions=%llu active=%u",
		dt > 0 ? (double)(d - last_s) / dt : 0.0, dt > 0 ? (double)(h - last_h) / dt : 0.0,
		(unsigned long long)d, g->active);
	last_s = d;
	last_h = h;
}

/* The summary line (main appends errors by class and the sink's words). */
static void smtp_summary(struct gen *g, FILE *f)
{
	struct smtpc *k = g->m;
	double win = (double)(g->window_end_us - g->window_start_us) / 1e6;
	uint64_t busy = g->busy1 - g->busy0, idle = g->idle1 - g->idle0;
	static const char *const tls_names[] = { "plain", "starttls", "implicit" };

	fprintf(f, "mxgen %s: sessions=%llu sessions_per_s=%.1f handshakes=%llu "
		   "handshakes_per_s=%.1f p50_us=%.0f p99_us=%.0f hs_p50_us=%.0f hs_p99_us=%.0f "
		   "errors=%llu sessions_total=%llu started=%llu messages_accepted=%llu tls_mode=%s "
		   "version=%s cipher=%s busy_pct=%.1f",
		g->o->mode->name, (unsigned long long)g->done_window,
		win > 0 ? (double)g->done_window / win : 0.0, (unsigned long long)k->handshakes_win,
		win > 0 ? (double)k->handshakes_win / win : 0.0, hist_quantile(&g->h, 0.50) / 1e3,
		hist_quantile(&g->h, 0.99) / 1e3, hist_quantile(&k->h_hs, 0.50) / 1e3,
		hist_quantile(&k->h_hs, 0.99) / 1e3, (unsigned long long)gen_errors(g),
		(unsigned long long)g->done, (unsigned long long)k->started,
		(unsigned long long)k->accepted, tls_names[g->o->tls],
		k->version[0] ? k->version : "-", k->cipher[0] ? k->cipher : "-",
		busy + idle ? 100.0 * (double)busy / (double)(busy + idle) : 0.0);
	pace_words(f, &k->pace, &k->lat_tls, &k->lat_250);
	if (k->tw != NULL) {
		const struct tls_key_stats *st = tls_worker_stats(k->tw);

		fprintf(f, " x25519_runs=%llu x25519_lanes=%llu cv_runs=%llu cv_lanes=%llu cv_scalar=%llu cv_bad=%llu",
			(unsigned long long)st->key_x25519_runs, (unsigned long long)st->key_x25519_lanes,
			(unsigned long long)st->key_cv_runs, (unsigned long long)st->key_cv_lanes,
			(unsigned long long)st->key_cv_scalar, (unsigned long long)st->key_cv_bad);
	}
}

/* Free the sessions, the TLS context and the message-number arrays. */
static void smtp_fini(struct gen *g)
{
	struct smtpc *k = g->m;

	if (k == NULL)
		return;
	for (unsigned i = 0; k->s != NULL && i < g->o->concurrency; i++)
		if (k->s[i].tls != NULL)
			tls_conn_free(k->s[i].tls);
	tls_worker_free(k->tw);
	if (k->tls != NULL)
		tls_ctx_free(k->tls);
	free(k->s);
	free(k->free);
	free(k->body);
	free(k);
	g->m = NULL;
	free(ids.acked);
	free(ids.arrived);
	ids.acked = ids.arrived = NULL;
	ids.cap = 0;
}

const struct gen_mode smtp_mode = {
	"smtp", smtp_init, smtp_tick, smtp_drain, smtp_abort_all, smtp_progress, smtp_summary,
	smtp_fini, smtp_finished,
};

const struct gen_mode smtp_handshake_mode = {
	"smtp-handshake", smtp_hs_init, smtp_tick, smtp_drain, smtp_abort_all, smtp_progress,
	smtp_summary, smtp_fini, smtp_finished,
};

/* Is m one of the SMTP modes of this file? */
int smtp_dpdk_is_mode(const struct gen_mode *m)
{
	return m == &smtp_mode || m == &smtp_handshake_mode;
}

/* ---------------------------------------------------------------- */
/* sink                                                              */
/* ---------------------------------------------------------------- */

/* The sink's counters. */
struct sink {
	uint64_t conns;           /* connections accepted */
	uint64_t msgs;            /* messages ended with "." and answered 250 */
	uint64_t bytes;           /* message bytes (lines, with CRLF) */
	uint64_t xclient;         /* XCLIENT commands */
	uint64_t noid;            /* messages without a Message-ID of this run */
	uint64_t unknown;         /* commands answered 502 / 500 */
	uint64_t overflow;        /* a reply did not fit the send buffer: connection aborted */
	uint64_t forgotten;       /* arrivals left uncounted on purpose (--sink-forget) */
	unsigned open;
};

/* One connection from mxgate. */
struct sconn {
	struct tcp_conn *c;
	uint8_t data;             /* inside DATA */
	uint8_t in_hdr;           /* inside the message's headers */
	uint8_t over;             /* the current line was longer than the buffer */
	uint8_t quit;             /* QUIT seen: 221 and close once the input is consumed */
	uint8_t dead;             /* aborted inside the input loop */
	uint8_t have_id;
	uint64_t id;
	size_t llen;
	char line[SINK_LINE_MAX];
};

static const struct tcp_app_ops sink_ops;

/* Send a reply; a full send buffer (never expected) aborts the connection. */
static void sink_reply(struct sink *sk, struct sconn *sc, const char *r, size_t len)
{
	if (sc->dead)
		return;
	if (tcp_send(sc->c, r, len) != len) {
		sk->overflow++;
		sc->dead = 1;
	}
}

#define SINK_LIT(sk, sc, lit) sink_reply(sk, sc, lit, sizeof(lit) - 1)

/* Message number from "Message-ID: <mxgen.TAG.N@...>" of this run; 0 or -1. */
static int sink_parse_id(const char *l, size_t len, uint64_t *id)
{
	char tmp[96], *end;
	unsigned long tag;
	const char *p;

	if (len >= sizeof(tmp))
		len = sizeof(tmp) - 1;
	memcpy(tmp, l, len);
	tmp[len] = '\0';
	p = tmp + 11;                         /* after "Message-ID:" */
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncmp(p, "<mxgen.", 7) != 0)
		return -1;
	tag = strtoul(p + 7, &end, 16);
	if (*end != '.' || tag != ids.tag)
		return -1;
	p = end + 1;
	*id = strtoull(p, &end, 10);
	return end != p && *end == '@' ? 0 : -1;
}

/* One line of a message (with its CRLF). */
static void sink_data_line(struct sink *sk, struct sconn *sc, const char *l, size_t len)
{
	if (len <= 3 && l[0] == '.' && (len == 2 ? l[1] == '\n' : len == 3 && l[1] == '\r')) {
		sc->data = 0;
		sk->msgs++;
		if (!sc->have_id)
			sk->noid++;
		else if (gen.o->sink_forget && sk->msgs % gen.o->sink_forget == 0)
			sk->forgotten++;   /* --sink-forget: the check must see it missing */
		else if (sc->id < ids.cap && ids.arrived[sc->id] < 255)
			ids.arrived[sc->id]++;
		SINK_LIT(sk, sc, "250 2.0.0 Ok: queued\r\n");
		return;
	}
	sk->bytes += len;
	if (!sc->in_hdr)
		return;
	if (len <= 2 && (l[0] == '\r' || l[0] == '\n')) {
		sc->in_hdr = 0;
	} else if (!sc->have_id && len > 11 && strncasecmp(l, "Message-ID:", 11) == 0) {
		if (sink_parse_id(l, len, &sc->id) == 0)
			sc->have_id = 1;
	}
}

/* One command line (with its CRLF). */
static void sink_command(struct gen *g, struct sink *sk, struct sconn *sc, const char *l,
			 size_t len)
{
	if (sc->over) {
		sk->unknown++;
		SINK_LIT(sk, sc, "500 5.5.0 Error: line too long\r\n");
	} else if (len >= 4 && !strncasecmp(l, "EHLO", 4)) {
		if (g->o->sink_xclient)
			SINK_LIT(sk, sc, "250-" SINK_NAME "\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
				 "250-XCLIENT NAME ADDR PORT PROTO HELO LOGIN\r\n"
				 "250 ENHANCEDSTATUSCODES\r\n");
		else
			SINK_LIT(sk, sc, "250-" SINK_NAME "\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
				 "250 ENHANCEDSTATUSCODES\r\n");
	} else if (len >= 4 && !strncasecmp(l, "HELO", 4)) {
		SINK_LIT(sk, sc, "250 " SINK_NAME "\r\n");
	} else if (len >= 7 && !strncasecmp(l, "XCLIENT", 7) && g->o->sink_xclient) {
		sk->xclient++;
		SINK_LIT(sk, sc, "250 2.0.0 Ok\r\n");
	} else if (len >= 4 && !strncasecmp(l, "MAIL", 4)) {
		SINK_LIT(sk, sc, "250 2.1.0 Ok\r\n");
	} else if (len >= 4 && !strncasecmp(l, "RCPT", 4)) {
		SINK_LIT(sk, sc, "250 2.1.5 Ok\r\n");
	} else if (len >= 4 && !strncasecmp(l, "DATA", 4)) {
		sc->data = 1;
		sc->in_hdr = 1;
		sc->have_id = 0;
		SINK_LIT(sk, sc, "354 End data with <CR><LF>.<CR><LF>\r\n");
	} else if (len >= 4 && (!strncasecmp(l, "RSET", 4) || !strncasecmp(l, "NOOP", 4))) {
		SINK_LIT(sk, sc, "250 2.0.0 Ok\r\n");
	} else if (len >= 4 && !strncasecmp(l, "QUIT", 4)) {
		sc->quit = 1;
	} else {
		sk->unknown++;
		SINK_LIT(sk, sc, "502 5.5.2 Error: command not recognized\r\n");
	}
}

/* Feed received bytes; returns how many were used (less after QUIT or an abort). */
static size_t sink_feed(struct gen *g, struct sink *sk, struct sconn *sc, const uint8_t *p,
			size_t n)
{
	size_t used = 0;

	while (used < n && !sc->quit && !sc->dead) {
		const uint8_t *nl = memchr(p + used, '\n', n - used);
		size_t seg = nl != NULL ? (size_t)(nl - (p + used)) + 1 : n - used;
		size_t room = SINK_LINE_MAX - sc->llen, take = seg < room ? seg : room;

		memcpy(sc->line + sc->llen, p + used, take);
		sc->llen += take;
		if (take < seg)
			sc->over = 1;
		used += seg;
		if (nl == NULL)
			break;
		if (sc->data) {
			/* a cut data line still counts its full length */
			sink_data_line(sk, sc, sc->line, sc->llen);
			if (sc->over && sc->data)
				sk->bytes += seg - take;
		} else {
			sink_command(g, sk, sc, sc->line, sc->llen);
		}
		sc->llen = 0;
		sc->over = 0;
	}
	return used;
}

/* A connection from mxgate: greet it. */
static void sink_accept(struct tcp_conn *c, void *arg)
{
	struct gen *g = arg;
	struct sink *sk = g->sink;
	struct sconn *sc = calloc(1, sizeof(*sc));

	if (sc == NULL) {
		tcp_abort(c);
		return;
	}
	sc->c = c;
	sk->conns++;
	sk->open++;
	tcp_set_app(c, &sink_ops, sc);
	SINK_LIT(sk, sc, "220 " SINK_NAME " ESMTP mxgen sink\r\n");
	if (sc->dead) {
		sk->open--;
		free(sc);
		tcp_abort(c);
	}
}

/* Forget a connection the stack no longer calls us for. */
static void sink_forget(struct sink *sk, struct sconn *sc)
{
	sk->open--;
	free(sc);
}

/* Commands and message lines from mxgate; QUIT ends the connection. */
static void sink_readable(struct tcp_conn *c)
{
	struct gen *g = &gen;
	struct sink *sk = g->sink;
	struct sconn *sc = tcp_app(c);
	const uint8_t *p;
	size_t n;

	while (!sc->quit && !sc->dead && (p = tcp_peek(c, &n)) != NULL)
		tcp_consume(c, sink_feed(g, sk, sc, p, n));
	if (sc->dead) {
		sink_forget(sk, sc);
		tcp_abort(c);
	} else if (sc->quit) {
		tcp_send(c, "221 2.0.0 Bye\r\n", 15);
		sink_forget(sk, sc);
		tcp_close(c);
	}
}

/* mxgate closed its side: close ours. */
static void sink_peer_closed(struct tcp_conn *c)
{
	sink_forget(gen.sink, tcp_app(c));
	tcp_close(c);
}

/* The connection is gone (reset, timeout). */
static void sink_closed(struct tcp_conn *c, enum tcp_end why)
{
	(void)why;
	sink_forget(gen.sink, tcp_app(c));
}

static const struct tcp_app_ops sink_ops = {
	.readable = sink_readable,
	.peer_closed = sink_peer_closed,
	.closed = sink_closed,
};

static const struct tcp_app_ops sink_listen_ops = {
	.accept = sink_accept,
};

/* Listen for mxgate on --sink-port of every address (the sink's port). */
int smtp_sink_start(struct gen *g)
{
	g->sink = calloc(1, sizeof(struct sink));
	if (g->sink == NULL)
		return -1;
	return tcp_listen(g->ctx, g->o->sink_port, &sink_listen_ops, g) == 0 ? 0 : -1;
}

/* The sink fragment of the progress line. */
void smtp_sink_progress(struct gen *g, FILE *f)
{
	struct sink *sk = g->sink;

	if (sk != NULL)
		fprintf(f, " sink_msgs=%llu", (unsigned long long)sk->msgs);
}

/* Sink counters and the delivery check on the summary line; returns the problems. */
uint64_t smtp_sink_summary(struct gen *g, FILE *f)
{
	struct sink *sk = g->sink;
	struct smtpc *k = g->m;
	uint64_t once = 0, missing = 0, dup = 0, unconfirmed = 0, unchecked = 0, i, n;

	if (sk == NULL || k == NULL)
		return 0;
	n = k->started < ids.cap ? k->started : ids.cap;
	unchecked = k->started - n;
	for (i = 0; i < n; i++) {
		if (ids.arrived[i] > 1)
			dup++;
		else if (ids.acked[i] && ids.arrived[i] == 1)
			once++;
		else if (ids.acked[i])
			missing++;
		else if (ids.arrived[i] == 1)
			unconfirmed++;   /* delivered, but the session failed before its 250 */
	}
	fprintf(f, " sink_conns=%llu sink_msgs=%llu sink_bytes=%llu sink_xclient=%llu "
		   "sink_noid=%llu sink_unknown=%llu sink_overflow=%llu sink_forgotten=%llu sink_open=%u "
		   "delivered_once=%llu missing=%llu duplicates=%llu unconfirmed=%llu unchecked=%llu",
		(unsigned long long)sk->conns, (unsigned long long)sk->msgs,
		(unsigned long long)sk->bytes, (unsigned long long)sk->xclient,
		(unsigned long long)sk->noid, (unsigned long long)sk->unknown,
		(unsigned long long)sk->overflow, (unsigned long long)sk->forgotten, sk->open,
		(unsigned long long)once,
		(unsigned long long)missing, (unsigned long long)dup,
		(unsigned long long)unconfirmed, (unsigned long long)unchecked);
	return missing + dup + sk->noid + sk->overflow;
}

/* Free the sink's state. */
void smtp_sink_free(struct gen *g)
{
	free(g->sink);
	g->sink = NULL;
}
