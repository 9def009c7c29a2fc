/*
 * relay.c - the backend side of an SMTP session (see relay.h): the
 * backend's state machine, failover, timers, back-pressure, STARTTLS to
 * the backend, and the reports to the session through its ops table.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/smtp/relay.h"
#include "common/strutil.h"
#include "dataplane/smtp/relay_wire.h"
#include "dataplane/smtp/smtp_proto.h"
#include "dataplane/smtp/smtp_stats.h"
#include "dataplane/smtp/slog.h"
#include "dataplane/smtp/tcp_tls.h"
#include "dataplane/smtp/gate.h"
#include "crypto/tls.h"
#include "policy/policy.h"

#define DATA_ROOM      (SMTP_TEXT_MAX + 1024) /* backend send space needed to take one more line */
#define BACKEND_CONNECT_MS 10000

const char *const relay_what_names[RELAY_BW_COUNT] = {
	"CONNECT", "GREETING", "MAIL", "RCPT", "DATA", "END-OF-MESSAGE", "RSET", "SEND",
};

/* The backend connection's state (set-up, then ready, then inside a message). */
enum bstate { B_NONE, B_CONNECTING, B_GREETING, B_EHLO, B_STARTTLS, B_TLS_HS, B_XCLIENT, B_EHLO2,
	      B_AUTH, B_AUTH_USER, B_AUTH_PASS, B_READY, B_DATA, B_QUIT };

/* What the backend's last EHLO reply offered (struct relay.offers). */
#define OFFER_STARTTLS      1u
#define OFFER_XCLIENT       2u
#define OFFER_AUTH_SHIFT    4        /* rw_auth_mechs() << OFFER_AUTH_SHIFT */

struct relay {
	struct relay_pool *rp;
	const struct relay_ops *ops;
	void *owner;
	const char *id;           /* the transaction's queue ID ("" before one), for logs */
	unsigned key;             /* the session's number, for logs (slog.h) */
	struct tcp_conn *b;
	struct tls_conn *btls;    /* TLS to the backend (STARTTLS) */
	enum bstate bst;
	enum relay_wait bwait;
	int bidx, btries;
	struct cfg_backend be;    /* the backend connected to (a SIGHUP may change the list) */
	unsigned bgen;            /* the pool's generation of backends then */
	struct relay *next_retired; /* in rp->retired */
	int bp_wait;              /* the message waits for the backend's send space */
	int b_timer;              /* the backend's timer runs (mxgate waits on the backend) */
	char bcmd[SMTP_ADDR_MAX + SMTP_PARAM_MAX + 32];  /* command waiting for the backend */
	size_t bcmd_len;          /* 0 once sent */
	size_t bcmd_sent;         /* length of the last command sent (to resend MAIL elsewhere) */
	enum relay_wait bcmd_wait;
	struct rw_reply rep;      /* the backend reply being assembled */
	/* set-up towards this backend (the access map's Try_TLS, TLS_Srv, AuthInfo) */
	unsigned offers;          /* OFFER_* of its last EHLO reply */
	unsigned xattrs;          /* RW_XA_* its last EHLO reply's XCLIENT lines list */
	uint8_t tls_judged;       /* STARTTLS done or passed over, TLS_Srv judged */
	uint8_t xclient_done;     /* XCLIENT sent and answered (or not to be sent) */
	uint8_t auth_done;        /* AUTH done (or not to be done) */
	unsigned auth_mech;       /* RW_MECH_* in use */
	uint8_t map_failed;       /* this connection failed the map: the backend does not rest */
	uint8_t client_refused;   /* the backend refused this client (XCLIENT, PROXY): no rest, no failover */
	uint8_t proxy_sent;       /* a whole PROXY v2 header went to this backend connection */
	uint8_t hello_as_client;  /* the last HELO/EHLO sent was the client's own (name and verb) */
	uint32_t map_skip;        /* backends that failed the map for this MAIL: not tried again */
	int pf_code;              /* the MAIL's reply when a backend failed the map (0 = none) */
	char pf_reply[POL_TEXT_MAX + 64];
};

static const struct tcp_app_ops backend_ops;
static int map_refusal(struct relay *r);
static int backend_tls_judge(struct relay *r);
static void backend_setup(struct relay *r);

/* ---- the pool ---- */

/*
 * The client TLS context for STARTTLS to backends (any backend may offer
 * it: tried unless the access map's Try_TLS says NO), with the trust
 * anchors of backend_tls_ca_file for TLS_Srv VERIFY.
 */
static int relay_pool_tls(struct relay_pool *rp, const struct mx_config *cfg, char *err, size_t errlen)
{
	if (cfg->nbackends == 0)
		return 0;
	rp->client_tls = tls_client_ctx_new(err, errlen);
	if (rp->client_tls == NULL)
		return -1;
	if (cfg->backend_tls_ca_file[0] &&
	    tls_client_ctx_set_ca(rp->client_tls, cfg->backend_tls_ca_file, err, errlen) != 0) {
		tls_ctx_free(rp->client_tls);
		rp->client_tls = NULL;
		return -1;
	}
	return 0;
}

/* Set up a worker's backends: the inside interface and a client TLS context. */
int relay_pool_init(struct relay_pool *rp, struct net_ctx *ctx, const struct mx_config *cfg,
		    struct smtp_stats *st, char *err, size_t errlen)
{
	memset(rp, 0, sizeof(*rp));
	rp->ctx = ctx;
	rp->cfg = cfg;
	rp->st = st;
	rp->inside_if = tcp_if_of_role(ctx, CFG_ROLE_INSIDE);
	return relay_pool_tls(rp, cfg, err, errlen);
}

/*
 * A new configuration (SIGHUP, on the worker): new backends and times for
 * the next connections; open ones keep their backend. A changed list
 * starts with none resting.
 */
void relay_pool_set_config(struct relay_pool *rp, const struct mx_config *cfg)
{
	char err[256];
	unsigned i;

	if (cfg->nbackends != rp->cfg->nbackends ||
	    memcmp(cfg->backends, rp->cfg->backends, sizeof(cfg->backends)) != 0) {
		memset(rp->down_until_us, 0, sizeof(rp->down_until_us));
		rp->rr = 0;
		rp->xclient_noaddr_warned = rp->xclient_none_warned = 0;
		rp->gen++;
	}
	rp->cfg = cfg;
	for (i = 0; i < cfg->nbackends; i++)
		if (cfg->backends[i].starttls && rp->client_tls == NULL &&
		    (rp->client_tls = tls_client_ctx_new(err, sizeof(err))) == NULL)
			slog(0, "warning: backend STARTTLS: %s", err);
}

/* Free the pool's client TLS context. */
void relay_pool_free(struct relay_pool *rp)
{
	relay_pool_reap(rp);
	tls_ctx_free(rp->client_tls);
	rp->client_tls = NULL;
}

/* ---- lifetime ---- */

/* A relay for one session, not connected. */
struct relay *relay_new(struct relay_pool *rp, const struct relay_ops *ops, void *owner, const char *id,
			unsigned key)
{
	struct relay *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->rp = rp;
	r->ops = ops;
	r->owner = owner;
	r->id = id;
	r->key = key;
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

void relay_retire(struct relay *r)
{
	if (r == NULL)
		return;
	relay_close(r);
	r->next_retired = r->rp->retired;
	r->rp->retired = r;
}

void relay_pool_reap(struct relay_pool *rp)
{
	while (rp->retired != NULL) {
		struct relay *r = rp->retired;

		rp->retired = r->next_retired;
		relay_free(r);
	}
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

/* The backend r used rests for backend_retry_ms (unless the list changed since). */
static void backend_rest(struct relay *r)
{
	if (r->bidx >= 0 && r->bgen == r->rp->gen)
		r->rp->down_until_us[r->bidx] = tcp_now_us(r->rp->ctx) + (uint64_t)r->rp->cfg->backend_retry_ms * 1000;
}

/* Open a connection to the next backend that is not resting; -1 if none. */
static int backend_open(struct relay *r)
{
	struct relay_pool *rp = r->rp;
	const struct mx_config *cfg = rp->cfg;
	unsigned i;

	if (r->btls != NULL) {          /* a dropped connection's TLS session: never reused */
		tls_conn_free(r->btls);
		r->btls = NULL;
	}
	for (i = 0; i < cfg->nbackends; i++) {
		unsigned k = (rp->rr + i) % cfg->nbackends;
		const struct cfg_backend *be = &cfg->backends[k];
		struct net_addr a;

		if (rp->down_until_us[k] > tcp_now_us(rp->ctx) || (r->map_skip & 1u << k))
			continue;
		memset(&a, 0, sizeof(a));
		memcpy(a.a, be->addr, be->family == 4 ? 4 : 16);
		r->b = tcp_connect(rp->ctx, rp->inside_if, be->family == 4 ? NET_AF_INET : NET_AF_INET6,
				   &a, be->port, &backend_ops, r);
		if (r->b == NULL)
			continue;
		rp->rr = k + 1;
		r->bidx = (int)k;
		r->be = *be;
		r->bgen = rp->gen;
		r->bst = B_CONNECTING;
		r->offers = r->xattrs = 0;
		r->tls_judged = r->xclient_done = r->auth_done = r->map_failed = r->client_refused = 0;
		r->proxy_sent = r->hello_as_client = 0;
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
	if (r->bst < B_READY && !r->map_failed && !r->client_refused)
		backend_rest(r);
	if (loss.was == RELAY_W_DOT)
		slogd(SLOG_SMTP, r->key, "%s: %s with backend %d after END-OF-MESSAGE: the message may have been "
		      "delivered; the client is told 451 4.4.1 and may send it again", r->id[0] ? r->id : "NOQUEUE",
		      why, r->bidx);
	else
		slogd(SLOG_SMTP, r->key, "%s: lost connection with backend %d (%s) while waiting for %s",
		      r->id[0] ? r->id : "NOQUEUE", r->bidx, why, relay_what_names[backend_what(r)]);
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
		if (!r->client_refused && r->btries++ < (int)rp->cfg->nbackends && backend_open(r) == 0)
			return;
		r->bcmd_len = 0;
		loss.mail_unplaced = 1;
		if (map_refusal(r))
			return;
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
	int n = str_vfmt(r->bcmd, sizeof(r->bcmd), fmt, ap);

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
		r->pf_code = 0;
		r->map_skip = 0;
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
		if (r->bst >= B_READY && r->btls != NULL)
			tls_write(r->btls, (const uint8_t *)"QUIT\r\n", 6);   /* inside TLS, best effort */
		else if (r->bst >= B_READY)
			tcp_send(r->b, "QUIT\r\n", 6);
		tcp_close(r->b);
	}
	r->b = NULL;
}

/* ---- set-up: PROXY v2, greeting, EHLO, STARTTLS, XCLIENT ---- */

/*
 * Announce the client to a backend that offers XCLIENT with the attributes
 * it listed (ADDR among them); LOGIN= for an authenticated client when it
 * lists that attribute (Postfix does).
 */
static void backend_xclient(struct relay *r)
{
	char cmd[RW_XCLIENT_MAX];
	struct relay_client c;
	struct rw_xclient_info x;
	size_t n;

	r->ops->client(r->owner, &c);
	x = (struct rw_xclient_info){
		.addr = c.addr, .port = c.port, .helo = c.helo, .name = c.name, .name_temp = c.name_temp,
		.ehlo = c.ehlo, .login = c.login, .attrs = r->xattrs,
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
	size_t n;

	r->ops->client(r->owner, &c);
	pp = (struct rw_proxy_info){
		.family = c.tuple->family == NET_AF_INET ? 4 : 6,
		.sport = c.tuple->rport, .dport = c.tuple->lport,
		.tls = c.tls, .verify = c.verify, .version = c.version, .cipher = c.cipher, .cn = c.cn,
	};
	memcpy(pp.src, c.tuple->raddr.a, 16);
	memcpy(pp.dst, c.tuple->laddr.a, 16);
	n = rw_proxy_v2(&pp, h, sizeof(h));
	r->rp->st->proxy_v2++;
	/* only a header that went out whole lets a refusal count as the client's (backend_proxy_refusal) */
	if (backend_write(r, h, n) == 0 && n > 0)
		r->proxy_sent = 1;
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
	r->hello_as_client = (uint8_t)(as_client != 0);
	name = as_client && c.helo[0] ? c.helo : r->rp->cfg->hostname;
	str_fmt(cmd, sizeof(cmd), "%s %s\r\n", as_client && !c.ehlo ? "HELO" : "EHLO", name);
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
	const char *sni = r->rp->cfg->backends[r->bidx].name;

	r->btls = tls_client_conn_new(r->rp->client_tls, &tr, sni[0] ? sni : NULL, r);
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
		r->rp->st->backend_tls_failed++;
		relay_fail(r, "TLS handshake with the backend failed");
		return;
	}
	if (backend_tls_judge(r) != 0)
		return;
	r->bst = B_EHLO;
	backend_hello(r, r->be.proxy_v2);
}

/* ---- set-up towards a backend: the access map's Try_TLS, TLS_Srv and AuthInfo ---- */

/* The backend as the map's server-side tags see it (name: "/name=", else none). */
static void backend_srv(const struct relay *r, struct pol_client *srv)
{
	const struct cfg_backend *be = &r->rp->cfg->backends[r->bidx];

	memset(srv, 0, sizeof(*srv));
	srv->addr.family = be->family;
	memcpy(srv->addr.a, be->addr, be->family == 4 ? 4 : 16);
	srv->name = be->name[0] ? be->name : NULL;
	srv->verify = "NONE";
}

/* The map in force (NULL: none). */
static const struct pol_snapshot *backend_map(const struct relay *r)
{
	return r->rp->gate != NULL ? gate_policy(r->rp->gate) : NULL;
}

/* "name[addr]:port" of the backend, as Postfix's smtp client names a server. */
static const char *backend_label(const struct relay *r, char *buf, size_t len)
{
	const struct cfg_backend *be = &r->rp->cfg->backends[r->bidx];

	str_fmt(buf, len, "%s[%s]:%u", be->name[0] ? be->name : "unknown", be->addr_text, (unsigned)be->port);
	return buf;
}

/*
 * The backend failed what the map asks of it (TLS_Srv, AuthInfo): the
 * MAIL gets reply (when no other backend takes it), the backend does not
 * rest (the map, not the backend, refused).
 */
static void backend_map_fail(struct relay *r, int code, const char *reply, const char *why)
{
	r->map_failed = 1;
	r->map_skip |= 1u << r->bidx;
	r->pf_code = code;
	snprintf(r->pf_reply, sizeof(r->pf_reply), "%.*s\r\n", (int)sizeof(r->pf_reply) - 3, reply);
	relay_fail(r, why);
}

/* A MAIL that no backend took because the map refused them: it gets the map's reply. */
static int map_refusal(struct relay *r)
{
	int code = r->pf_code;

	if (code == 0)
		return 0;
	r->pf_code = 0;
	r->ops->replied(r->owner, RELAY_W_MAIL, code, r->pf_reply, strlen(r->pf_reply));
	r->ops->writable(r->owner);      /* the reply goes out; the relay is idle (a new MAIL reconnects) */
	return 1;
}

/* What the EHLO reply in r->rep offers. */
static void backend_offers(struct relay *r)
{
	struct rw_ehlo e;

	rw_ehlo_scan(r->rep.buf, r->rep.len, &e);
	r->offers = (e.starttls ? OFFER_STARTTLS : 0) | (e.xclient ? OFFER_XCLIENT : 0) |
		    e.mechs << OFFER_AUTH_SHIFT;
	r->xattrs = e.xattrs;
}

/*
 * Does this backend take XCLIENT? Offered, and with ADDR among its
 * attributes: without ADDR, XCLIENT would not announce the client at all,
 * so it is not used (as with a backend that does not offer it), and the
 * worker says so once per backend (until the list of backends changes).
 */
static int backend_xclient_usable(struct relay *r)
{
	struct relay_pool *rp = r->rp;
	char lb[128];

	if (!(r->offers & OFFER_XCLIENT)) {
		/* without XCLIENT (or PROXY) every client is mxgate's address to the backend */
		if (r->bgen == rp->gen && !(rp->xclient_none_warned & 1u << r->bidx)) {
			rp->xclient_none_warned |= 1u << r->bidx;
			slog(r->key, "warning: backend %d %s offers no XCLIENT: it sees mxgate's address as every "
			     "client's, so it must not relay for that address (Postfix: list mxgate in "
			     "smtpd_authorized_xclient_hosts and leave it out of mynetworks)", r->bidx,
			     backend_label(r, lb, sizeof(lb)));
		}
		return 0;
	}
	if (r->xattrs & RW_XA_ADDR)
		return 1;
	if (r->bgen == rp->gen && !(rp->xclient_noaddr_warned & 1u << r->bidx)) {
		rp->xclient_noaddr_warned |= 1u << r->bidx;
		slog(r->key, "warning: backend %d %s offers XCLIENT without the ADDR attribute: XCLIENT not used, "
		     "the backend sees mxgate's address as the client's", r->bidx, backend_label(r, lb, sizeof(lb)));
	}
	return 0;
}

/*
 * The backend refused this client (its reply to XCLIENT, or to the client's
 * own HELO/EHLO right after XCLIENT; on a PROXY v2 backend, a refusal that
 * backend_proxy_refusal() finds to be the client's): a per-client limit or
 * policy of the backend (Postfix's connection count or rate limit answers
 * 421), not a backend out of service. It does not rest and no other backend is tried
 * for this client; the MAIL gets a 4xx with the backend's reason (a 421 or
 * a 5xx becomes 451: the client may try again, the session goes on),
 * logged and counted (mxgate_smtp_backend_client_refused_total).
 */
static void backend_client_refused(struct relay *r, int code, const char *when)
{
	const char *rep = r->rep.buf, *t;
	struct relay_client c;
	char lb[128], text[POL_TEXT_MAX], enh[16] = "4.7.0";
	size_t tl, i;
	int ccode = code >= 400 && code < 500 && code != 421 ? code : 451;

	r->ops->client(r->owner, &c);
	r->rp->st->backend_client_refused++;
	tl = strcspn(rep, "\r\n");
	slogd(SLOG_SMTP, r->key, "%s: backend %d %s refused client %s at %s: %.*s; the backend stays in service",
	      r->id[0] ? r->id : "NOQUEUE", r->bidx, backend_label(r, lb, sizeof(lb)), c.addr, when,
	      (int)(tl > 300 ? 300 : tl), rep);
	/* the reply's first line: "ddd[ -]" [enhanced code] text; printable ASCII only */
	t = tl > 4 ? rep + 4 : rep + tl;
	tl = tl > 4 ? tl - 4 : 0;
	if (tl >= 5 && (t[0] == '4' || t[0] == '5') && t[1] == '.') {
		size_t e = strspn(t + 2, "0123456789.");

		if (e >= 3 && e + 2 < sizeof(enh) && (t[2 + e] == ' ' || 2 + e == tl)) {
			snprintf(enh, sizeof(enh), "4.%.*s", (int)e, t + 2);
			t += 2 + e;
			tl -= 2 + e;
		}
	}
	while (tl > 0 && *t == ' ')
		t++, tl--;
	if (tl > sizeof(text) - 1)
		tl = sizeof(text) - 1;
	for (i = 0; i < tl; i++)
		text[i] = t[i] >= 32 && t[i] < 127 ? t[i] : '?';
	text[tl] = '\0';
	r->client_refused = 1;
	r->pf_code = ccode;
	snprintf(r->pf_reply, sizeof(r->pf_reply), "%d %s %s\r\n", ccode, enh,
		 text[0] ? text : "Error: the backend refused this client, try again later");
	relay_fail(r, "the backend refused this client");
}

/*
 * PROXY v2: is this 4xx/5xx (to the greeting, or to the HELO/EHLO sent as
 * the client) the backend's refusal of this client (1), or does it say the
 * backend cannot serve (0: it rests and the MAIL moves on)?
 *
 * With XCLIENT the backend has greeted mxgate and taken its EHLO before it
 * hears of the client, so what it refuses after that is the client. With a
 * PROXY header the client comes first, and the greeting is the backend's
 * first word: a backend that serves nobody answers it with the same 421 as
 * one that refuses one client (Postfix: "421 4.3.2 All server ports are
 * busy", "421 4.3.0 Server local error" for a header it could not read,
 * "421 4.3.5 Server configuration error", against "421 4.7.0 Error:
 * too many connections from ADDR"). Only the enhanced status code (RFC
 * 3463) tells them apart. The rule: the client's, when
 *  - a whole PROXY v2 header went out on this connection (without it the
 *    backend does not know the client and cannot have refused it), and
 *  - the reply is to the greeting, or to the HELO/EHLO mxgate sent in the
 *    client's name (not mxgate's own EHLO before STARTTLS on a /starttls
 *    backend: a refusal of that rests the backend, as with XCLIENT), and
 *  - its enhanced code is X.7.Y, "security or policy status": the
 *    backend's policy for this client (Postfix's per-client connection
 *    count and rate limits 421 4.7.0, its client and HELO restrictions
 *    4.7.1/5.7.1 when not delayed to RCPT, a policy service's DEFER).
 * Anything else says nothing about this client and the backend rests as
 * before: X.3.Y (mail system: shutting down, busy, out of resources, a
 * header it could not read), X.4.Y (network), X.5.Y (protocol: a backend
 * that does not speak PROXY reads the header as command lines and answers
 * our EHLO with "500 5.5.2 Error: bad syntax"), or no enhanced code at all.
 * A per-client refusal misjudged so costs what it cost before this rule; a
 * backend out of service is never kept in rotation on a guess.
 */
static int backend_proxy_refusal(const struct relay *r, int code)
{
	const char *t = r->rep.buf;
	size_t tl = strcspn(t, "\r\n"), d;

	if (!r->proxy_sent || code < 400 || code > 599)
		return 0;
	if (r->bst != B_GREETING && !(r->bst == B_EHLO && r->hello_as_client))
		return 0;
	/* "ddd[ -]C.7.D[DD]" then a space or the line's end, C the class 4 or 5 */
	if (tl < 9 || (t[4] != '4' && t[4] != '5') || t[5] != '.' || t[6] != '7' || t[7] != '.')
		return 0;
	d = strspn(t + 8, "0123456789");
	return d >= 1 && d <= 3 && (8 + d == tl || t[8 + d] == ' ');
}

/*
 * TLS_Srv against the backend: after the handshake (with its certificate)
 * or without TLS (verify NONE). 0 to go on, -1 when it failed (the relay
 * failed the backend). The handshake's outcome is logged as Postfix's
 * smtp client logs it.
 */
static int backend_tls_judge(struct relay *r)
{
	struct smtp_stats *st = r->rp->st;
	struct pol_client srv;
	struct pol_result res;
	struct tls_macros m;
	char lb[128], reply[POL_TEXT_MAX + 32];

	backend_srv(r, &srv);
	backend_label(r, lb, sizeof(lb));
	r->tls_judged = 1;
	if (r->btls != NULL) {
		const char *trust;

		tls_get_server_macros(r->btls, &m);
		srv.tls = 1;
		srv.verify = m.verify;
		srv.cipher_bits = m.cipher_bits;
		srv.cn_subject = m.cn_subject;
		srv.cert_subject = m.cert_subject;
		srv.cert_issuer = m.cert_issuer;
		st->backend_tls++;
		if (strcmp(m.verify, "OK") == 0)
			trust = srv.name != NULL && tls_server_name_matches(r->btls, srv.name) ? "Verified" : "Trusted";
		else
			trust = strcmp(m.verify, "NO") == 0 ? "Anonymous" : "Untrusted";
		if (strcmp(m.verify, "FAIL") == 0)
			slogd(SLOG_SMTP, r->key, "server certificate verification failed for %s: %s", lb,
			      tls_server_verify_error(r->btls));
		slogd(SLOG_SMTP, r->key, "%s TLS connection established to %s: %s with cipher %s (%d/%d bits)",
		      trust, lb, m.version, m.cipher, m.cipher_bits, m.alg_bits);
	}
	res = pol_check_tls_srv(backend_map(r), &srv, NULL);
	if (res.action != POL_REJECT)
		return 0;
	st->backend_tls_srv_refused++;
	pol_result_format(&res, reply, sizeof(reply));
	slogd(SLOG_SMTP, r->key, "%s: backend %d %s: TLS_Srv: %s (%s)", r->id[0] ? r->id : "NOQUEUE", r->bidx, lb, reply, res.rule);
	backend_map_fail(r, res.code, reply, "TLS_Srv requirement not met");
	return -1;
}

/* The AuthInfo for this backend: 1 and *ai set, else 0. */
static int backend_authinfo(const struct relay *r, struct pol_authinfo *ai)
{
	struct pol_client srv;

	backend_srv(r, &srv);
	return pol_authinfo(backend_map(r), &srv, ai, NULL);
}

/* AUTH to the backend failed: the MAIL gets a 4xx, logged (no credentials) and counted. */
static void backend_auth_fail(struct relay *r, const char *why, const char *rep)
{
	char lb[128], log[POL_TEXT_MAX];

	r->rp->st->backend_auth_failed++;
	snprintf(log, sizeof(log), "%s%s%.*s", why, rep ? ": backend said " : "",
		 rep ? (int)strcspn(rep, "\r\n") : 0, rep ? rep : "");
	slogd(SLOG_SMTP, r->key, "%s: backend %d %s: SASL authentication failed: %s",
	      r->id[0] ? r->id : "NOQUEUE", r->bidx,
	     backend_label(r, lb, sizeof(lb)), log);
	backend_map_fail(r, 451, "451 4.7.0 Error: cannot authenticate to the backend, try again later",
			 "SASL authentication failed");
}

/*
 * Begin AUTH when the map has AuthInfo for this backend: PLAIN (with its
 * initial response) or LOGIN, the first of AuthInfo's mechanisms the
 * backend offers; only under TLS unless backend_auth_without_tls. 1 when
 * AUTH was sent (or the backend failed), 0 when there is nothing to do.
 */
static int backend_auth_start(struct relay *r)
{
	struct pol_authinfo *ai = malloc(sizeof(*ai));
	unsigned offered = r->offers >> OFFER_AUTH_SHIFT, mech = 0;
	char cmd[RW_AUTH_MAX];
	size_t n;
	int sent = 1;

	r->auth_done = 1;
	if (ai == NULL) {
		relay_fail(r, "out of memory for AUTH");
		return 1;
	}
	if (!backend_authinfo(r, ai)) {
		sent = 0;
		goto out;
	}
	for (const char *m = ai->mechs; *m && mech == 0; m += strcspn(m, " "), m += *m == ' ')
		mech = strncmp(m, "PLAIN", 5) == 0 ? (offered & RW_MECH_PLAIN) : (offered & RW_MECH_LOGIN);
	if (mech == 0) {
		/* sendmail and Postfix go on without AUTH: the backend decides what it accepts */
		char lb[128];

		slogd(SLOG_SMTP, r->key, "%s: backend %d %s offers no AUTH mechanism of %s: going on without AUTH",
		      r->id[0] ? r->id : "NOQUEUE", r->bidx, backend_label(r, lb, sizeof(lb)), ai->mechs);
		sent = 0;
		goto out;
	}
	if (r->btls == NULL && !r->rp->cfg->backend_auth_without_tls) {
		backend_auth_fail(r, "no TLS to the backend (backend_auth_without_tls = no)", NULL);
		goto out;
	}
	r->auth_mech = mech;
	if (mech == RW_MECH_PLAIN)
		n = rw_auth_plain(ai->authid[0] && ai->user[0] && strcmp(ai->user, ai->authid) ? ai->user : "",
				  ai->authid[0] ? ai->authid : ai->user, ai->password, cmd, sizeof(cmd));
	else
		n = (size_t)snprintf(cmd, sizeof(cmd), "AUTH LOGIN\r\n");
	if (n == 0) {
		backend_auth_fail(r, "credentials too long", NULL);
		goto out;
	}
	r->bst = B_AUTH;
	backend_write(r, cmd, n);
	explicit_bzero(cmd, sizeof(cmd));
out:
	explicit_bzero(ai, sizeof(*ai));
	free(ai);
	return sent;
}

/* The backend's reply during AUTH: LOGIN's 334 challenges, then 235 or a failure. */
static void backend_auth_reply(struct relay *r, int code)
{
	struct pol_authinfo *ai;
	char line[RW_AUTH_MAX];
	size_t n = 0;

	if (code == 235) {
		r->rp->st->backend_auth_success++;
		r->bst = B_EHLO2;          /* go on with the set-up */
		return backend_setup(r);
	}
	if (code != 334 || r->auth_mech != RW_MECH_LOGIN || r->bst == B_AUTH_PASS)
		return backend_auth_fail(r, "AUTH refused", r->rep.buf);
	if ((ai = malloc(sizeof(*ai))) == NULL)
		return relay_fail(r, "out of memory for AUTH");
	if (backend_authinfo(r, ai))
		n = rw_auth_login_line(r->bst == B_AUTH ? (ai->authid[0] ? ai->authid : ai->user) : ai->password,
				       line, sizeof(line));
	explicit_bzero(ai, sizeof(*ai));
	free(ai);
	if (n == 0)
		return backend_auth_fail(r, "AuthInfo gone or unusable", NULL);
	r->bst = r->bst == B_AUTH ? B_AUTH_USER : B_AUTH_PASS;
	backend_write(r, line, n);
	explicit_bzero(line, sizeof(line));
}

/*
 * The next set-up step after an EHLO reply (or AUTH): STARTTLS when
 * offered (required with /starttls; not when Try_TLS says NO), TLS_Srv,
 * XCLIENT, AUTH, then ready. XCLIENT comes before AUTH: Postfix's smtpd
 * resets a SASL login at XCLIENT without LOGIN=, and greets anew.
 */
static void backend_setup(struct relay *r)
{
	const struct cfg_backend *be = &r->rp->cfg->backends[r->bidx];

	if (!r->tls_judged && r->btls == NULL) {
		struct pol_client srv;
		int offered = (r->offers & OFFER_STARTTLS) != 0;

		backend_srv(r, &srv);
		if (be->starttls && !offered)
			/* configured means required: never fall back to plaintext */
			return relay_fail(r, "STARTTLS required but not offered");
		if (offered && r->rp->client_tls != NULL &&
		    (be->starttls || pol_try_tls(backend_map(r), &srv, NULL))) {
			r->bst = B_STARTTLS;
			backend_write(r, "STARTTLS\r\n", 10);
			return;
		}
		if (backend_tls_judge(r) != 0)
			return;
	}
	if (!r->xclient_done && !be->proxy_v2 && backend_xclient_usable(r)) {
		r->bst = B_XCLIENT;
		backend_xclient(r);
		return;
	}
	r->xclient_done = 1;
	if (!r->auth_done && backend_auth_start(r))
		return;
	r->bst = B_READY;
	backend_send_pending(r);
}

/* ---- replies ---- */

/* A complete reply from the backend: move the state machine, report to the session. */
static void backend_reply(struct relay *r, int code)
{
	const struct cfg_backend *be = &r->be;
	enum relay_wait was;

	switch (r->bst) {
	case B_GREETING:
		/* after a PROXY v2 header the backend greets the client: a policy refusal is for it alone */
		if (backend_proxy_refusal(r, code))
			return backend_client_refused(r, code, "greeting after PROXY");
		if (code != 220)
			return relay_fail(r, "bad greeting");
		r->bst = B_EHLO;
		/* a PROXY backend must see the client's name; STARTTLS needs EHLO first */
		backend_hello(r, be->proxy_v2 && !be->starttls);
		return;
	case B_EHLO2:
		/* after XCLIENT we greet as the client: a refusal is the backend's answer for this client */
		if (code >= 400)
			return backend_client_refused(r, code, "HELO after XCLIENT");
		/* fall through */
	case B_EHLO:
		if (backend_proxy_refusal(r, code))
			return backend_client_refused(r, code, "HELO after PROXY");
		if (code != 250)
			return relay_fail(r, "EHLO refused");
		backend_offers(r);
		return backend_setup(r);
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
		 * client's, which may be a trusted one. A 4xx or 5xx concerns this
		 * client (Postfix's per-client limits answer 421 here), not the
		 * backend: it stays in service.
		 */
		if (code >= 400)
			return backend_client_refused(r, code, "XCLIENT");
		if (code < 200 || code > 299)
			return relay_fail(r, "XCLIENT refused");
		r->xclient_done = 1;
		r->bst = B_EHLO2;
		backend_hello(r, 1);
		return;
	case B_AUTH:
	case B_AUTH_USER:
	case B_AUTH_PASS:
		return backend_auth_reply(r, code);
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
			if (r->bst == B_TLS_HS && i + used < n) {
				/*
				 * Plaintext after the 220 to STARTTLS: injected by someone in the
				 * path (a STARTTLS response injection), never a reply to take
				 * inside TLS, where it would join the EHLO reply.
				 */
				relay_fail(r, "plaintext after the 220 to STARTTLS");
				return;
			}
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
		backend_rest(r);
		relay_fail(r, "connect failed");
		return;
	}
	r->bst = B_GREETING;
	if (r->be.proxy_v2)
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
