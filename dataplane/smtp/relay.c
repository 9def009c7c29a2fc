/*
 * relay.c - the backend side of an SMTP session (see relay.h): the
 * backend's state machine, failover, timers, back-pressure, STARTTLS to
 * the backend, and the reports to the session through its ops table.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/smtp/relay.h"
#include "dataplane/smtp/relay_wire.h"
#include "dataplane/smtp/smtp_proto.h"
#include "dataplane/smtp/smtp_stats.h"
#include "dataplane/smtp/slog.h"
#include "dataplane/smtp/tcp_tls.h"
#include "crypto/tls.h"

#define DATA_ROOM      (SMTP_TEXT_MAX + 1024) /* backend send space needed to take one more line */
#define BACKEND_CONNECT_MS 10000

const char *const relay_what_names[RELAY_BW_COUNT] = {
	"CONNECT", "GREETING", "MAIL", "RCPT", "DATA", "END-OF-MESSAGE", "RSET", "SEND",
};

/* The backend connection's state (set-up, then ready, then inside a message). */
enum bstate { B_NONE, B_CONNECTING, B_GREETING, B_EHLO, B_STARTTLS, B_TLS_HS, B_XCLIENT, B_EHLO2,
	      B_READY, B_DATA, B_QUIT };

struct relay {
	struct relay_pool *rp;
	const struct relay_ops *ops;
	void *owner;
	const char *id;           /* the session's id, for logs */
	struct tcp_conn *b;
	struct tls_conn *btls;    /* TLS to the backend (STARTTLS) */
	enum bstate bst;
	enum relay_wait bwait;
	int bidx, btries;
	int bp_wait;              /* the message waits for the backend's send space */
	int b_timer;              /* the backend's timer runs (mxgate waits on the backend) */
	char bcmd[SMTP_ADDR_MAX + SMTP_PARAM_MAX + 32];  /* command waiting for the backend */
	size_t bcmd_len;          /* 0 once sent */
	size_t bcmd_sent;         /* length of the last command sent (to resend MAIL elsewhere) */
	enum relay_wait bcmd_wait;
	struct rw_reply rep;      /* the backend reply being assembled */
};

static const struct tcp_app_ops backend_ops;

/* ---- the pool ---- */

/* Set up a worker's backends: the inside interface and, if one asks for STARTTLS, a client context. */
int relay_pool_init(struct relay_pool *rp, struct net_ctx *ctx, const struct mx_config *cfg,
		    struct smtp_stats *st, char *err, size_t errlen)
{
	unsigned i;

	memset(rp, 0, sizeof(*rp));
	rp->ctx = ctx;
	rp->cfg = cfg;
	rp->st = st;
	rp->inside_if = tcp_if_of_role(ctx, CFG_ROLE_INSIDE);
	for (i = 0; i < cfg->nbackends; i++)
		if (cfg->backends[i].starttls && rp->client_tls == NULL &&
		    (rp->client_tls = tls_client_ctx_new(err, errlen)) == NULL)
			return -1;
	return 0;
}

/* Free the pool's client TLS context. */
void relay_pool_free(struct relay_pool *rp)
{
	tls_ctx_free(rp->client_tls);
	rp->client_tls = NULL;
}

/* ---- lifetime ---- */

/* A relay for one session, not connected. */
struct relay *relay_new(struct relay_pool *rp, const struct relay_ops *ops, void *owner, const char *id)
{
	struct relay *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->rp = rp;
	r->ops = ops;
	r->owner = owner;
	r->id = id;
	r->bidx = -1;
	return r;
}

/* Free a closed relay. */
void relay_free(struct relay *r)
{
	if (r == NULL)
		return;
	if (r->btls)
		tls_conn_free(r->btls);
	free(r);
}

/* ---- timers ---- */

/* What the backend is awaited for now (a timeout's label). */
static enum relay_what backend_what(const struct relay *r)
{
	switch (r->bwait) {
	case RELAY_W_MAIL: return RELAY_BW_MAIL;
	case RELAY_W_RCPT: return RELAY_BW_RCPT;
	case RELAY_W_DATA: return RELAY_BW_DATA;
	case RELAY_W_DOT: return RELAY_BW_DOT;
	case RELAY_W_RSET: return RELAY_BW_RSET;
	default: break;
	}
	if (r->bst == B_CONNECTING)
		return RELAY_BW_CONNECT;
	return r->bst < B_READY ? RELAY_BW_GREETING : RELAY_BW_SEND;
}

/*
 * Run the backend's timer while mxgate waits on the backend (a reply, the
 * set-up, or send space for the message), stop it otherwise. restart: a
 * command was just sent or a reply just came, so the next wait starts now.
 */
static void backend_arm(struct relay *r, int restart)
{
	int want;

	if (r->b == NULL)
		return;
	want = r->bwait != RELAY_W_NONE || (r->bst != B_READY && r->bst != B_DATA) || r->bp_wait;
	if (want && (restart || !r->b_timer))
		tcp_set_timeout(r->b, r->bst == B_CONNECTING ? BACKEND_CONNECT_MS : r->rp->cfg->backend_timeout_ms);
	else if (!want && r->b_timer)
		tcp_set_timeout(r->b, 0);
	r->b_timer = want;
}

/* Apply a change of relay_space_wait() to the timer. */
void relay_arm(struct relay *r)
{
	if (r != NULL)
		backend_arm(r, 0);
}

/* ---- sending ---- */

/* Queue bytes to the backend; a short write means the backend is not keeping up. */
static int backend_write(struct relay *r, const void *buf, size_t len)
{
	if (r->b != NULL && r->btls != NULL && r->bst != B_TLS_HS) {
		if (tls_write(r->btls, buf, len) != (long)len) {
			relay_fail(r, "backend TLS send buffer full");
			return -1;
		}
		return 0;
	}
	if (r->b == NULL || tcp_send(r->b, buf, len) != len) {
		relay_fail(r, "backend send buffer full");
		return -1;
	}
	return 0;
}

/* Send message bytes the session hands over. */
int relay_send(struct relay *r, const void *buf, size_t len)
{
	return backend_write(r, buf, len);
}

/* Open a connection to the next backend that is not resting; -1 if none. */
static int backend_open(struct relay *r)
{
	struct relay_pool *rp = r->rp;
	const struct mx_config *cfg = rp->cfg;
	unsigned i;

	for (i = 0; i < cfg->nbackends; i++) {
		unsigned k = (rp->rr + i) % cfg->nbackends;
		const struct cfg_backend *be = &cfg->backends[k];
		struct net_addr a;

		if (rp->down_until_us[k] > tcp_now_us(rp->ctx))
			continue;
		memset(&a, 0, sizeof(a));
		memcpy(a.a, be->addr, be->family == 4 ? 4 : 16);
		r->b = tcp_connect(rp->ctx, rp->inside_if, be->family == 4 ? NET_AF_INET : NET_AF_INET6,
				   &a, be->port, &backend_ops, r);
		if (r->b == NULL)
			continue;
		rp->rr = k + 1;
		r->bidx = (int)k;
		r->bst = B_CONNECTING;
		rw_reply_init(&r->rep);
		rp->st->backend_connects++;
		r->b_timer = 0;
		backend_arm(r, 1);
		return 0;
	}
	return -1;
}

/* The backend is lost or useless: fail over a MAIL not answered yet, or tell the session. */
void relay_fail(struct relay *r, const char *why)
{
	struct relay_pool *rp = r->rp;
	struct relay_loss loss = { .was = r->bwait, .in_message = r->bst == B_DATA };

	rp->st->backend_errors++;
	if (r->bidx >= 0 && (r->bst <= B_EHLO2))
		rp->down_until_us[r->bidx] = tcp_now_us(rp->ctx) + (uint64_t)rp->cfg->backend_retry_ms * 1000;
	if (loss.was == RELAY_W_DOT)
		slog(rp->cfg->hostname, "%s: %s with backend %d after END-OF-MESSAGE: the message may have been "
		     "delivered; the client is told 451 4.4.1 and may send it again", r->id, why, r->bidx);
	else
		slog(rp->cfg->hostname, "%s: lost connection with backend %d (%s) while waiting for %s", r->id,
		     r->bidx, why, relay_what_names[backend_what(r)]);
	if (r->b != NULL) {
		tcp_set_app(r->b, NULL, NULL);
		tcp_abort(r->b);
		r->b = NULL;
	}
	if (r->btls != NULL) {
		tls_conn_free(r->btls);
		r->btls = NULL;
	}
	r->bst = B_NONE;
	r->bwait = RELAY_W_NONE;
	r->b_timer = 0;
	r->bp_wait = 0;
	if (!loss.in_message && r->bcmd_wait == RELAY_W_MAIL && (loss.was == RELAY_W_MAIL || r->bcmd_len > 0)) {
		/* MAIL not answered yet: the transaction can start on another backend */
		if (r->bcmd_len == 0)
			r->bcmd_len = r->bcmd_sent;
		if (r->btries++ < (int)rp->cfg->nbackends && backend_open(r) == 0)
			return;
		r->bcmd_len = 0;
		loss.mail_unplaced = 1;
	} else if (!loss.in_message) {
		loss.cmd_pending = r->bcmd_len > 0;
		r->bcmd_len = 0;
	}
	r->ops->failed(r->owner, &loss);
}

/* Send the command that waited for the backend to be ready. */
static void backend_send_pending(struct relay *r)
{
	if (r->bst != B_READY || r->bcmd_len == 0 || r->bwait != RELAY_W_NONE)
		return;
	r->bwait = r->bcmd_wait;
	r->bcmd_sent = r->bcmd_len;
	if (backend_write(r, r->bcmd, r->bcmd_len) == 0) {
		r->bcmd_len = 0;
		backend_arm(r, 1);
	}
}

/* Hand a command to the backend now or as soon as it is ready. */
enum relay_status relay_command(struct relay *r, enum relay_wait wait, const char *fmt, va_list ap)
{
	int n = vsnprintf(r->bcmd, sizeof(r->bcmd), fmt, ap);

	r->bcmd_len = n > 0 && (size_t)n < sizeof(r->bcmd) ? (size_t)n : 0;
	r->bcmd_wait = wait;
	if (r->b == NULL && wait != RELAY_W_MAIL) {
		/* the backend that had this transaction's MAIL is gone */
		r->bcmd_len = 0;
		r->rp->st->backend_errors++;
		return RELAY_GONE;
	}
	if (r->b == NULL) {
		r->btries = 0;
		if (backend_open(r) != 0) {
			r->bcmd_len = 0;
			r->rp->st->backend_errors++;
			return RELAY_NO_BACKEND;
		}
	}
	backend_send_pending(r);
	return RELAY_OK;
}

/* The message is complete: the dot, and wait for the verdict. */
void relay_end_message(struct relay *r)
{
	r->bwait = RELAY_W_DOT;
	if (backend_write(r, ".\r\n", 3) == 0)
		backend_arm(r, 1);
}

/* RSET the backend's transaction when it is idle and ready. */
void relay_rset(struct relay *r)
{
	if (r != NULL && r->b != NULL && r->bst == B_READY && r->bwait == RELAY_W_NONE) {
		r->bwait = RELAY_W_RSET;
		if (backend_write(r, "RSET\r\n", 6) == 0)
			backend_arm(r, 1);
	}
}

/* ---- what the session may ask ---- */

/* Is a backend connection there? */
int relay_connected(const struct relay *r)
{
	return r != NULL && r->b != NULL;
}

/* Is a message or a reply outstanding? */
int relay_busy(const struct relay *r)
{
	return r != NULL && (r->bst == B_DATA || r->bwait != RELAY_W_NONE);
}

/* The backend in use (its index in backends), for logs. */
int relay_backend(const struct relay *r)
{
	return r->bidx;
}

/* Has the backend less room than one more message line? Then ask to hear when it frees. */
int relay_full(struct relay *r)
{
	if (r == NULL || r->b == NULL || tcp_send_space(r->b) >= DATA_ROOM)
		return 0;
	tcp_want_writable(r->b);
	return 1;
}

/* The session's message waits (or not) for the backend's send space. */
void relay_space_wait(struct relay *r, int on)
{
	if (r != NULL)
		r->bp_wait = on;
}

/* Does the session's message wait for the backend's send space? */
int relay_space_waiting(const struct relay *r)
{
	return r != NULL && r->bp_wait;
}

/* Abort the backend connection so a half-sent message is never delivered. */
void relay_drop(struct relay *r)
{
	if (r == NULL || r->b == NULL)
		return;
	tcp_set_app(r->b, NULL, NULL);
	tcp_abort(r->b);
	r->b = NULL;
	r->bst = B_NONE;
	r->bwait = RELAY_W_NONE;
	r->b_timer = 0;
}

/* The session ends: QUIT an idle backend, abort one with anything outstanding. */
void relay_close(struct relay *r)
{
	if (r == NULL || r->b == NULL)
		return;
	tcp_set_app(r->b, NULL, NULL);
	if (r->bst == B_DATA || r->bwait != RELAY_W_NONE)
		tcp_abort(r->b);         /* never let a half-sent message through */
	else {
		if (r->bst >= B_READY)
			tcp_send(r->b, "QUIT\r\n", 6);
		tcp_close(r->b);
	}
	r->b = NULL;
}

/* ---- set-up: PROXY v2, greeting, EHLO, STARTTLS, XCLIENT ---- */

/*
 * Announce the client to a backend that offers XCLIENT; with LOGIN= for an
 * authenticated client when the backend lists that attribute (Postfix does).
 */
static void backend_xclient(struct relay *r, int login_ok)
{
	char cmd[RW_XCLIENT_MAX];
	struct relay_client c;
	struct rw_xclient_info x;
	size_t n;

	r->ops->client(r->owner, &c);
	x = (struct rw_xclient_info){
		.addr = c.addr, .port = c.port, .helo = c.helo, .name = c.name, .name_temp = c.name_temp,
		.ehlo = c.ehlo, .login = c.login, .login_ok = login_ok,
	};
	n = rw_xclient(&x, cmd, sizeof(cmd));
	if (n == 0) {
		relay_fail(r, "XCLIENT command too long");   /* cannot happen: RW_XCLIENT_MAX holds the longest */
		return;
	}
	r->rp->st->xclient++;
	backend_write(r, cmd, n);
}

/* Send a PROXY v2 header: client and our addresses, and the TLS facts in PP2_TYPE_SSL. */
static void backend_proxy_v2(struct relay *r)
{
	uint8_t h[RW_PROXY_V2_MAX];
	struct relay_client c;
	struct rw_proxy_info pp;

	r->ops->client(r->owner, &c);
	pp = (struct rw_proxy_info){
		.family = c.tuple->family == NET_AF_INET ? 4 : 6,
		.sport = c.tuple->rport, .dport = c.tuple->lport,
		.tls = c.tls, .verify = c.verify, .version = c.version, .cipher = c.cipher, .cn = c.cn,
	};
	memcpy(pp.src, c.tuple->raddr.a, 16);
	memcpy(pp.dst, c.tuple->laddr.a, 16);
	r->rp->st->proxy_v2++;
	backend_write(r, h, rw_proxy_v2(&pp, h, sizeof(h)));
}

/*
 * Greet the backend. Before XCLIENT we are ourselves (EHLO, to learn what
 * it offers); after XCLIENT, and throughout with a PROXY v2 backend, we
 * speak for the client: its own HELO or EHLO and name, as nginx does.
 */
static void backend_hello(struct relay *r, int as_client)
{
	char cmd[SMTP_ADDR_MAX + 16];
	struct relay_client c;
	const char *name;

	r->ops->client(r->owner, &c);
	name = as_client && c.helo[0] ? c.helo : r->rp->cfg->hostname;
	snprintf(cmd, sizeof(cmd), "%s %s\r\n", as_client && !c.ehlo ? "HELO" : "EHLO", name);
	backend_write(r, cmd, strlen(cmd));
}

/* The backend's TLS transport: read. */
static long btls_tr_read(void *arg, uint8_t *buf, size_t len)
{
	return tcp_tls_read(((struct relay *)arg)->b, buf, len);
}

/* The backend's TLS transport: write. */
static long btls_tr_write(void *arg, const uint8_t *buf, size_t len)
{
	return tcp_tls_write(((struct relay *)arg)->b, buf, len);
}

/* After the backend's 220 to STARTTLS: a client session over its connection. */
static int backend_tls_begin(struct relay *r)
{
	struct tls_transport tr = { r, btls_tr_read, btls_tr_write };

	if (r->rp->client_tls == NULL)
		return -1;
	r->btls = tls_client_conn_new(r->rp->client_tls, &tr, NULL, r);
	if (r->btls == NULL)
		return -1;
	r->bst = B_TLS_HS;
	rw_reply_init(&r->rep);
	return 0;
}

/* Drive the backend handshake; when done, EHLO again inside TLS. */
static void backend_tls_continue(struct relay *r)
{
	enum tls_status st = tls_handshake(r->btls);

	if (st == TLS_WANT_READ || st == TLS_WANT_WRITE)
		return;
	if (st != TLS_DONE) {
		relay_fail(r, "TLS handshake with the backend failed");
		return;
	}
	r->bst = B_EHLO;
	backend_hello(r, r->rp->cfg->backends[r->bidx].proxy_v2);
}

/* ---- replies ---- */

/* A complete reply from the backend: move the state machine, report to the session. */
static void backend_reply(struct relay *r, int code)
{
	const struct cfg_backend *be = &r->rp->cfg->backends[r->bidx];
	enum relay_wait was;

	switch (r->bst) {
	case B_GREETING:
		if (code != 220)
			return relay_fail(r, "bad greeting");
		r->bst = B_EHLO;
		/* a PROXY backend must see the client's name; STARTTLS needs EHLO first */
		backend_hello(r, be->proxy_v2 && !be->starttls);
		return;
	case B_EHLO:
	case B_EHLO2:
		if (code != 250)
			return relay_fail(r, "EHLO refused");
		if (r->bst == B_EHLO && be->starttls && r->btls == NULL) {
			/* configured means required: never fall back to plaintext */
			if (!rw_reply_has_keyword(r->rep.buf, r->rep.len, "STARTTLS"))
				return relay_fail(r, "STARTTLS required but not offered");
			r->bst = B_STARTTLS;
			backend_write(r, "STARTTLS\r\n", 10);
			return;
		}
		if (r->bst == B_EHLO && !be->proxy_v2 && rw_reply_has_keyword(r->rep.buf, r->rep.len, "XCLIENT")) {
			r->bst = B_XCLIENT;
			backend_xclient(r, rw_xclient_lists(r->rep.buf, r->rep.len, "LOGIN"));
			return;
		}
		r->bst = B_READY;
		backend_send_pending(r);
		return;
	case B_STARTTLS:
		if (code != 220)
			return relay_fail(r, "STARTTLS refused");
		if (backend_tls_begin(r) != 0)
			return relay_fail(r, "cannot start TLS");
		backend_tls_continue(r);
		return;
	case B_XCLIENT:
		/*
		 * Postfix answers 220 (a new session), smtp-sink 250. A refusal is
		 * not ignored: the backend would take mxgate's address for the
		 * client's, which may be a trusted one.
		 */
		if (code < 200 || code > 299)
			return relay_fail(r, "XCLIENT refused");
		r->bst = B_EHLO2;
		backend_hello(r, 1);
		return;
	case B_READY:
	case B_DATA:
		break;
	default:
		return;
	}
	was = r->bwait;
	if (was == RELAY_W_NONE)
		return relay_fail(r, "unexpected reply");    /* a reply nobody asked for */
	r->bwait = RELAY_W_NONE;
	if (was == RELAY_W_DATA && code == 354)
		r->bst = B_DATA;
	else if (was == RELAY_W_DOT)
		r->bst = B_READY;
	if (r->ops->replied(r->owner, was, code, r->rep.buf, r->rep.len) != 0 || r->b == NULL)
		return;
	backend_send_pending(r);
	r->ops->writable(r->owner);
}

/* ---- backend callbacks ---- */

/* Backend bytes: collect complete replies (bounded), one at a time. */
static void backend_readable(struct tcp_conn *b)
{
	struct relay *r = tcp_app(b);
	uint8_t buf[512];
	size_t n, i, used;

	if (r != NULL && r->b == b && r->bst == B_TLS_HS) {
		backend_tls_continue(r);
		if (r->b != b || r->bst == B_TLS_HS)
			return;
	}
	while (r != NULL && r->b == b) {
		if (r->bst == B_TLS_HS)
			return;          /* the handshake is driven by backend_tls_continue() */
		if (r->btls != NULL) {
			long got = tls_read(r->btls, buf, sizeof(buf));

			if (got <= 0) {
				if (got == -TLS_ERROR || got == -TLS_CLOSED)
					relay_fail(r, "backend TLS error");
				return;
			}
			n = (size_t)got;
		} else if ((n = tcp_recv(b, buf, sizeof(buf))) == 0) {
			break;
		}
		for (i = 0; i < n; i += used) {
			int code;

			switch (rw_reply_feed(&r->rep, buf + i, n - i, &used, &code)) {
			case RW_REPLY_MORE:
				continue;
			case RW_REPLY_MALFORMED:
				relay_fail(r, "malformed reply");
				return;
			case RW_REPLY_DONE:
				break;
			}
			backend_reply(r, code);
			if (r->b != b)
				return;
			rw_reply_init(&r->rep);
			backend_arm(r, 1);     /* a reply came: the next wait starts now */
		}
	}
}

/* Active open result. */
static void backend_connected(struct tcp_conn *b, int err)
{
	struct relay *r = tcp_app(b);

	if (r == NULL)
		return;
	if (err != 0) {
		r->b = NULL;             /* closed() follows; the stack frees it */
		tcp_set_app(b, NULL, NULL);
		r->rp->down_until_us[r->bidx] = tcp_now_us(r->rp->ctx) + (uint64_t)r->rp->cfg->backend_retry_ms * 1000;
		relay_fail(r, "connect failed");
		return;
	}
	r->bst = B_GREETING;
	if (r->rp->cfg->backends[r->bidx].proxy_v2)
		backend_proxy_v2(r);
	backend_arm(r, 1);
}

/* The backend's send space grew: the client's message may flow again. */
static void backend_writable(struct tcp_conn *b)
{
	struct relay *r = tcp_app(b);

	if (r == NULL)
		return;
	if (r->bst == B_TLS_HS) {
		backend_tls_continue(r);
		return;
	}
	r->ops->writable(r->owner);
}

/* The backend closed its side. */
static void backend_gone(struct tcp_conn *b)
{
	struct relay *r = tcp_app(b);

	if (r == NULL)
		return;
	relay_fail(r, "closed by backend");
}

/* The backend connection ended (reset, timeout): the stack frees it. */
static void backend_closed(struct tcp_conn *b, enum tcp_end why)
{
	struct relay *r = tcp_app(b);

	if (r == NULL || r->b != b)
		return;
	r->b = NULL;
	relay_fail(r, why == TCP_END_TIMEOUT ? "timeout" : "connection reset");
}

/* No reply (or send space) from the backend in time: counted by what was awaited. */
static void backend_timeout(struct tcp_conn *b)
{
	struct relay *r = tcp_app(b);

	if (r == NULL)
		return;
	r->rp->st->backend_timeouts++;
	r->rp->timeouts[backend_what(r)]++;
	relay_fail(r, "timeout");
}

static const struct tcp_app_ops backend_ops = {
	.connected = backend_connected,
	.readable = backend_readable,
	.writable = backend_writable,
	.peer_closed = backend_gone,
	.closed = backend_closed,
	.timeout = backend_timeout,
};
