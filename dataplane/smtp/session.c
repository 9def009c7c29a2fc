/*
 * session.c - SMTP sessions of one worker lcore.
 *
 * Client side: the TCP connection, TLS (after STARTTLS, or from the first
 * byte on 465), and the protocol engine (smtp_proto.c), fed with what TCP
 * or TLS delivered. Backend side: one ESMTP connection per session, opened
 * at the first MAIL (so STARTTLS and HELO are known), which announces the
 * client with XCLIENT (when offered) or a PROXY v2 header, relays MAIL,
 * RCPT and DATA with the backend's own replies, and streams the message
 * with a Received header in front. The client hears 250 for its message
 * only after the backend said 250; any backend failure becomes a 4xx.
 * What goes on the backend's wire (replies, XCLIENT, PROXY v2, Received)
 * is built and parsed by relay_wire.c.
 *
 * Memory per session is bounded: the engine's buffers, a TLS input buffer,
 * the backend reply buffer. Input is only read when there is room to pass
 * it on (the client's window closes otherwise).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "session.h"
#include "smtp/smtp_proto.h"
#include "smtp/relay_wire.h"
#include "crypto/tls.h"
#include "policy/policy.h"
#include "smtp/auth.h"

const char *const smtp_stat_names[] = {
#define X(n) #n,
	SMTP_STATS(X)
#undef X
};

enum cstate { C_GREET_DELAY, C_SMTP, C_TLS_HS, C_CLOSING };
enum bstate { B_NONE, B_CONNECTING, B_GREETING, B_EHLO, B_STARTTLS, B_TLS_HS, B_XCLIENT, B_EHLO2,
	      B_READY, B_DATA, B_QUIT };
enum bwait { W_NONE, W_MAIL, W_RCPT, W_DATA, W_DOT, W_RSET };

/* What a backend timeout hit: labels of mxgate_smtp_backend_timeouts_total. */
enum bwhat { BW_CONNECT, BW_GREETING, BW_MAIL, BW_RCPT, BW_DATA, BW_DOT, BW_RSET, BW_SEND, BW_COUNT };
static const char *const bwhat_names[BW_COUNT] = {
	"CONNECT", "GREETING", "MAIL", "RCPT", "DATA", "END-OF-MESSAGE", "RSET", "SEND",
};

#define TLS_IN_MAX     4096     /* decrypted client bytes waiting for the engine */
#define DATA_ROOM      (SMTP_TEXT_MAX + 1024) /* backend send space needed to take one more line */
#define BACKEND_CONNECT_MS 10000

#define LIMIT_SLOTS    8192     /* clients counted per worker for Limit: (power of two) */
#define LIMIT_PROBE    8

/* Handshakes of one cipher (names published before they are counted). */
struct cipher_count {
	char version[12], name[64];
	uint64_t n;
};

static const char *const pol_action_names[] = { "continue", "ok", "relay", "discard", "reject" };

/* One client address under a Limit: entry: open sessions and a token bucket. */
struct climit {
	uint8_t used, family;
	uint8_t a[16];
	uint32_t conns;           /* sessions open now on this worker */
	uint64_t milli_tokens;    /* rate bucket, in thousandths of a connection */
	uint64_t refill_us;
};

struct listen_arg {
	struct smtp_worker *w;
	enum smtp_mode mode;
};

struct backend_state {
	uint64_t down_until_us;   /* resting after a failure */
};

struct smtp_worker {
	struct net_ctx *ctx;
	const struct mx_config *cfg;
	struct tls_ctx *tls;
	struct tls_ctx *client_tls;   /* STARTTLS to backends, when one asks for it */
	const struct pol_snapshot *pol; /* access map, NULL = none */
	struct auth_service *auth;    /* SMTP AUTH checks (service lcore), NULL = none */
	struct tls_worker *tw;
	struct smtp_cfg pcfg[3];  /* per enum smtp_mode */
	struct listen_arg la[3];
	unsigned inside_if;
	unsigned rr;              /* round-robin cursor over backends */
	struct backend_state bs[CFG_MAX_BACKENDS];
	uint32_t next_id;
	struct sess *dead;        /* killed sessions, freed at the next poll */
	struct sess *live;        /* every session not killed (for listing) */
	struct climit *limits;    /* LIMIT_SLOTS, allocated at the first Limit: match */
	int draining;             /* set by the service lcore: refuse new sessions */
	char *list_buf;           /* set by the service lcore: list sessions here */
	size_t list_len;
	long list_done;           /* -1 while a list is asked for, else its length */
	int stress;               /* Postfix's stress mode: sessions are scarce, deadlines cut */
	struct smtp_stats st;
	uint64_t timeouts_after[SMTP_W_COUNT];     /* client timeouts by the last command */
	uint64_t backend_timeouts[BW_COUNT];       /* backend timeouts by what was awaited */
	uint64_t pol_decisions[POL_TAG_COUNT][5];  /* by tag and enum pol_action */
	struct cipher_count ciphers[SMTP_CIPHER_SLOTS + 1];  /* the last: "other" */
	unsigned nciphers;        /* published with a release store */
};

/* The TLS facts every TLS session keeps (the certificate DNs live apart). */
struct tls_brief {
	char verify[12], version[12], cipher[64];
	int cipher_bits, alg_bits;
};

/* Buffers of the backend side: only sessions that reach MAIL need them. */
struct bbuf {
	char bcmd[SMTP_ADDR_MAX + SMTP_PARAM_MAX + 32];  /* command waiting for the backend */
	size_t bcmd_len;          /* 0 once sent */
	size_t bcmd_sent;         /* length of the last command sent (to resend MAIL elsewhere) */
	enum bwait bcmd_wait;
	struct rw_reply rep;      /* the backend reply being assembled */
};

struct sess {
	struct smtp_worker *w;
	struct tcp_conn *c, *b;
	struct tls_conn *tls;
	struct tls_conn *btls;    /* TLS to the backend (STARTTLS) */
	enum smtp_mode mode;
	enum cstate cst;
	enum bstate bst;
	enum bwait bwait;
	int bidx, btries;
	int xclient, b_failed, data_started, client_gone, shut, dead;
	int bp_wait;              /* the message waits for the backend's send space */
	int b_timer;              /* the backend's timer runs (mxgate waits on the backend) */
	uint64_t req_start_us;    /* the current command began (its deadline runs from here) */
	uint64_t data_deadline_us; /* the message must be in by then (extended as bytes come) */
	uint64_t data_last_us;    /* message bytes last came */
	uint64_t paused_us;       /* the client's deadline is paused since (0 = running) */
	int discard;              /* DISCARD: accept this transaction, deliver nothing */
	struct sess *lnext, *lprev; /* the worker's live list */
	struct climit *lim;       /* counted under a Limit: entry, or NULL */
	uint64_t born_us;
	struct smtp_cfg pcfg;     /* the engine's settings for this session (Srv_Features) */
	struct sess *next_dead;
	char id[12];
	char addr[INET6_ADDRSTRLEN];
	uint16_t port;
	char first_rcpt[SMTP_ADDR_MAX + 1];
	char mail_from[SMTP_ADDR_MAX + 1];
	unsigned nrcpt_ok;
	uint64_t msg_bytes;
	struct bbuf *bb;          /* backend buffers, allocated at the first MAIL */
	struct tls_brief mac;     /* what logs, Received and PROXY v2 need */
	struct tls_macros *cert;  /* the full macros, kept only when a certificate was shown */
	struct auth_req *areq;    /* an AUTH check at the service lcore, or NULL */
	char *login;              /* the authenticated user (XCLIENT LOGIN=), or NULL */
	int no_auth;              /* Srv_Features A */
	int no_client_cert;       /* Srv_Features V */
	int ask_client_cert;      /* Srv_Features v */
	char sasl_method[8];      /* PLAIN or LOGIN, for the log */
	int tls_up;
	size_t tin_len;
	uint8_t *tin;             /* decrypted input, allocated only while non-empty */
	unsigned n_cmds[9];       /* ehlo helo starttls mail rcpt data rset quit auth, for the log */
	struct smtp_proto p;
};

static const struct tcp_app_ops client_ops;
static void client_pump(struct sess *s);
static void client_flush(struct sess *s);
static void backend_fail(struct sess *s, const char *why);
static void backend_send_pending(struct sess *s);
static int backend_tls_begin(struct sess *s);
static void backend_tls_continue(struct sess *s);

/* ---- logging, Postfix's wording ---- */

/* One log line: "<date> <host> mxgate/smtpd[<pid>]: <text>". */
static void __attribute__((format(printf, 2, 3))) slog(const struct smtp_worker *w, const char *fmt, ...)
{
	char buf[1024], ts[32];
	time_t now = time(NULL);
	struct tm tm;
	int n;
	va_list ap;

	localtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%b %e %H:%M:%S", &tm);
	n = snprintf(buf, sizeof(buf), "%s %s mxgate/smtpd[%d]: ", ts, w->cfg->hostname, (int)getpid());
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(STDERR_FILENO, buf, (size_t)n) < 0)
		return;
}

/* Text form of a connection's remote address. */
static void addr_text(const struct net_tuple *t, char *out, size_t len)
{
	inet_ntop(t->family == NET_AF_INET ? AF_INET : AF_INET6, t->raddr.a, out, (socklen_t)len);
}

/* ---- client output ---- */

/* Send what the engine produced (through TLS when up); close when asked and done. */
static void client_flush(struct sess *s)
{
	const char *out;
	size_t len;
	long n;

	if (s->dead || s->c == NULL)
		return;
	while ((out = smtp_proto_output(&s->p, &len)) != NULL && len > 0) {
		if (s->cst == C_GREET_DELAY)
			return;
		if (s->tls_up) {
			n = tls_write(s->tls, (const uint8_t *)out, len);
			if (n <= 0)
				return;
		} else {
			n = (long)tcp_send(s->c, out, len);
			if (n == 0)
				return;
		}
		smtp_proto_output_done(&s->p, (size_t)n);
	}
	if (s->cst == C_CLOSING && !s->shut) {
		/* FIN after the last reply; the session ends when the client closes too */
		s->shut = 1;
		if (s->tls_up)
			tls_close_notify(s->tls);
		tcp_shutdown(s->c);
		tcp_set_timeout(s->c, 10000);
	}
}

/* Queue a reply, then close the session once it is out. */
static void client_close_with(struct sess *s, int code, const char *enh, const char *text)
{
	smtp_proto_reply(&s->p, code, enh, "%s", text);
	s->cst = C_CLOSING;
	client_flush(s);
}

/* ---- deadlines (Postfix's smtpd_per_request_deadline and stress mode) ---- */

/* Milliseconds a deadline may be at most now: cut in stress mode. */
static uint64_t cut_us(const struct smtp_worker *w, unsigned ms)
{
	if (w->stress && w->cfg->smtpd_stress_timeout_ms < ms)
		ms = w->cfg->smtpd_stress_timeout_ms;
	return (uint64_t)ms * 1000;
}

/*
 * Set the client's timer from the deadline in force. While an answer is
 * owed (the backend or the AUTH check decides) or the message waits for
 * the backend's send space, the client is not at fault: its deadline is
 * paused and only the backend's timer runs. A command's deadline starts
 * at the previous reply and is not moved by bytes that trickle in.
 */
static void client_arm(struct sess *s)
{
	const struct mx_config *cfg = s->w->cfg;
	uint64_t now = s->w->ctx->now_us, deadline;

	if (s->dead || s->c == NULL || s->cst != C_SMTP)
		return;
	if (s->p.owed || s->bp_wait) {
		if (s->paused_us == 0) {
			s->paused_us = now ? now : 1;
			tcp_set_timeout(s->c, 0);
		}
		return;
	}
	if (s->paused_us != 0) {
		if (smtp_proto_in_data(&s->p))
			s->data_deadline_us += now - s->paused_us;   /* back-pressure is not the client's */
		else
			s->req_start_us = now;                       /* answered: a new request begins */
		s->paused_us = 0;
	}
	if (smtp_proto_in_data(&s->p)) {
		deadline = s->data_deadline_us;
		if (s->w->stress && s->data_last_us + cut_us(s->w, cfg->smtpd_data_timeout_ms) < deadline)
			deadline = s->data_last_us + cut_us(s->w, cfg->smtpd_data_timeout_ms);
	} else {
		deadline = s->req_start_us + cut_us(s->w, cfg->smtpd_timeout_ms);
	}
	tcp_set_timeout(s->c, deadline > now ? (unsigned)((deadline - now + 999) / 1000) : 1);
}

/* The message began (354 sent): its deadline. */
static void data_begin(struct sess *s)
{
	uint64_t now = s->w->ctx->now_us;

	s->data_last_us = now;
	s->data_deadline_us = now + (uint64_t)s->w->cfg->smtpd_data_timeout_ms * 1000;
	s->paused_us = 0;          /* the wait for the 354 is over: the message's own deadline runs */
}

/* n message bytes came: extend the deadline at smtpd_min_data_rate, never past the timeout from now. */
static void data_progress(struct sess *s, size_t n)
{
	const struct mx_config *cfg = s->w->cfg;
	uint64_t now = s->w->ctx->now_us, cap = now + (uint64_t)cfg->smtpd_data_timeout_ms * 1000;

	s->data_deadline_us += (uint64_t)n * 1000000 / (cfg->smtpd_min_data_rate ? cfg->smtpd_min_data_rate : 1);
	if (s->data_deadline_us > cap)
		s->data_deadline_us = cap;
	s->data_last_us = now;
}

/* Enter or leave stress mode as sessions come and go (with a margin, so it does not flap). */
static void stress_update(struct smtp_worker *w)
{
	const struct mx_config *cfg = w->cfg;
	uint64_t used = w->st.active * 100, limit = (uint64_t)cfg->max_sessions * cfg->smtpd_stress_percent;
	struct sess *s;

	if (cfg->smtpd_stress_percent == 0)
		return;
	if (!w->stress && used >= limit) {
		w->stress = 1;
		w->st.stress_entered++;
		slog(w, "warning: %llu of %u sessions in use: stress mode on, deadlines cut to %u ms, "
		     "new sessions closed after %u errors", (unsigned long long)w->st.active,
		     cfg->max_sessions, cfg->smtpd_stress_timeout_ms, cfg->smtpd_stress_error_limit);
		for (s = w->live; s != NULL; s = s->lnext)
			client_arm(s);      /* idle sessions get the cut deadline now */
	} else if (w->stress && used + (uint64_t)cfg->max_sessions * 10 < limit) {
		w->stress = 0;
		slog(w, "stress mode off: %llu of %u sessions in use", (unsigned long long)w->st.active,
		     cfg->max_sessions);
	}
}

/* What the backend is awaited for now (a timeout's label). */
static enum bwhat backend_what(const struct sess *s)
{
	switch (s->bwait) {
	case W_MAIL: return BW_MAIL;
	case W_RCPT: return BW_RCPT;
	case W_DATA: return BW_DATA;
	case W_DOT: return BW_DOT;
	case W_RSET: return BW_RSET;
	default: break;
	}
	if (s->bst == B_CONNECTING)
		return BW_CONNECT;
	return s->bst < B_READY ? BW_GREETING : BW_SEND;
}

/*
 * Run the backend's timer while mxgate waits on the backend (a reply, the
 * set-up, or send space for the message), stop it otherwise. restart: a
 * command was just sent or a reply just came, so the next wait starts now.
 */
static void backend_arm(struct sess *s, int restart)
{
	int want;

	if (s->b == NULL)
		return;
	want = s->bwait != W_NONE || (s->bst != B_READY && s->bst != B_DATA) || s->bp_wait;
	if (want && (restart || !s->b_timer))
		tcp_set_timeout(s->b, s->bst == B_CONNECTING ? BACKEND_CONNECT_MS : s->w->cfg->backend_timeout_ms);
	else if (!want && s->b_timer)
		tcp_set_timeout(s->b, 0);
	s->b_timer = want;
}

/* Abort the backend connection so a half-sent message is never delivered. */
static void backend_drop(struct sess *s)
{
	if (s->b == NULL)
		return;
	tcp_set_app(s->b, NULL, NULL);
	tcp_abort(s->b);
	s->b = NULL;
	s->bst = B_NONE;
	s->bwait = W_NONE;
	s->b_timer = 0;
}

/* Count a refusal of a message (the DATA command or its end) by its class. */
static void count_message_refusal(struct smtp_worker *w, int code)
{
	if (code >= 500)
		w->st.messages_rejected++;
	else if (code >= 400)
		w->st.messages_tempfailed++;
}

/* ---- session lifetime ---- */

/*
 * End a session: close the backend (abort if a message is half sent), let
 * go of the client connection (reset it when abort_client), and queue the
 * memory for the next poll, so callers up the stack may still look at it.
 */
static void sess_kill(struct sess *s, int abort_client)
{
	struct smtp_worker *w = s->w;

	if (s->dead)
		return;
	s->dead = 1;
	if (s->lprev)
		s->lprev->lnext = s->lnext;
	else
		w->live = s->lnext;
	if (s->lnext)
		s->lnext->lprev = s->lprev;
	if (s->c != NULL) {
		tcp_set_app(s->c, NULL, NULL);
		if (abort_client)
			tcp_abort(s->c);
		else
			tcp_close(s->c);
		s->c = NULL;
	}
	s->client_gone = 1;
	if (s->areq != NULL)
		s->areq->owner = NULL;     /* freed when the service lcore gives it back */
	if (s->lim != NULL)
		s->lim->conns--;
	w->st.line_too_long += s->p.stat_refusal[SMTP_R_LINE_TOO_LONG];
	w->st.nul_in_data += s->p.stat_refusal[SMTP_R_NUL];
	w->st.tls_unavailable += s->p.stat_tls_unavailable;
	w->st.auth_refused += s->p.stat_auth_refused;
	w->st.reject_530_starttls += s->p.stat_530_starttls;
	w->st.reject_530_auth += s->p.stat_530_auth;
	slog(w, "disconnect from unknown[%s] ehlo=%u helo=%u starttls=%u auth=%u mail=%u rcpt=%u data=%u "
	     "rset=%u quit=%u", s->addr, s->n_cmds[0], s->n_cmds[1], s->n_cmds[2], s->n_cmds[8],
	     s->n_cmds[3], s->n_cmds[4], s->n_cmds[5], s->n_cmds[6], s->n_cmds[7]);
	if (s->b != NULL) {
		tcp_set_app(s->b, NULL, NULL);
		if (s->bst == B_DATA || s->bwait != W_NONE)
			tcp_abort(s->b);         /* never let a half-sent message through */
		else {
			if (s->bst >= B_READY)
				tcp_send(s->b, "QUIT\r\n", 6);
			tcp_close(s->b);
		}
		s->b = NULL;
	}
	w->st.active--;
	stress_update(w);
	s->next_dead = w->dead;
	w->dead = s;
}

/* Free the sessions killed since the last poll. */
static void sess_reap(struct smtp_worker *w)
{
	while (w->dead != NULL) {
		struct sess *s = w->dead;

		w->dead = s->next_dead;
		if (s->tls)
			tls_conn_free(s->tls);
		if (s->btls)
			tls_conn_free(s->btls);
		free(s->tin);
		free(s->bb);
		free(s->cert);
		free(s->login);
		smtp_proto_free(&s->p);
		free(s);
	}
}

/* ---- TLS ---- */

/* ---- AUTH ---- */

/* Hand the credentials to the service lcore; the answer comes in smtp_worker_poll(). */
static void auth_ask(struct sess *s, const struct smtp_evinfo *ei)
{
	struct smtp_worker *w = s->w;
	const struct net_tuple *t = tcp_tuple(s->c);
	struct auth_req *r = w->auth != NULL ? calloc(1, sizeof(*r)) : NULL;

	if (r != NULL) {
		r->owner = s;
		r->family = t->family == NET_AF_INET ? 4 : 6;
		memcpy(r->addr, t->raddr.a, 16);
		snprintf(r->user, sizeof(r->user), "%s", ei->arg);
		r->pass_len = ei->len <= sizeof(r->pass) ? ei->len : sizeof(r->pass);
		memcpy(r->pass, ei->data, r->pass_len);
		snprintf(s->sasl_method, sizeof(s->sasl_method), "%s", ei->params);
		if (auth_submit(w->auth, w->ctx->worker, r) == 0) {
			s->areq = r;
			return;
		}
		memset(r, 0, sizeof(*r));
		free(r);
	}
	w->st.auth_busy++;
	smtp_proto_answerf(&s->p, 454, "4.7.0", "Temporary authentication failure");
}

/* The service lcore's verdict on a session's AUTH. */
static void auth_answer(struct sess *s, struct auth_req *r)
{
	struct smtp_worker *w = s->w;

	s->areq = NULL;
	switch (r->result) {
	case AUTH_OK:
		free(s->login);
		s->login = strdup(r->user);
		if (s->login == NULL) {
			w->st.auth_busy++;
			smtp_proto_answerf(&s->p, 454, "4.7.0", "Temporary authentication failure");
			break;
		}
		w->st.auth_success++;
		slog(w, "%s: client=unknown[%s], sasl_method=%s, sasl_username=%s", s->id, s->addr,
		     s->sasl_method, s->login);
		smtp_proto_answerf(&s->p, 235, "2.7.0", "Authentication successful");
		break;
	case AUTH_FAIL:
		w->st.auth_failed++;
		slog(w, "warning: unknown[%s]: SASL %s authentication failed: authentication failure",
		     s->addr, s->sasl_method);
		smtp_proto_answerf(&s->p, 535, "5.7.8", "Error: authentication failed: authentication failure");
		break;
	case AUTH_LIMITED:
		w->st.auth_limited++;
		slog(w, "warning: unknown[%s]: SASL %s authentication refused: too many failures",
		     s->addr, s->sasl_method);
		smtp_proto_answerf(&s->p, 454, "4.7.0", "Temporary authentication failure: too many failures");
		break;
	default:
		w->st.auth_busy++;
		smtp_proto_answerf(&s->p, 454, "4.7.0", "Temporary authentication failure");
		break;
	}
	client_pump(s);
}

/* Verdicts that came back from the service lcore. */
static unsigned auth_poll(struct smtp_worker *w)
{
	struct auth_req *r;
	unsigned n = 0;

	while (w->auth != NULL && (r = auth_take(w->auth, w->ctx->worker)) != NULL) {
		struct sess *s = r->owner;

		if (s != NULL)
			auth_answer(s, r);
		memset(r, 0, sizeof(*r));
		free(r);
		n++;
	}
	return n;
}

/* TLS transport over a TCP connection: read (0 = gone, -1 = nothing yet). */
static long tcp_tr_read(struct tcp_conn *c, uint8_t *buf, size_t len)
{
	size_t n;

	if (c == NULL)
		return 0;
	n = tcp_recv(c, buf, len);
	return n > 0 ? (long)n : -1;
}

/* TLS transport over a TCP connection: write (-1 = gone). */
static long tcp_tr_write(struct tcp_conn *c, const uint8_t *buf, size_t len)
{
	return c == NULL ? -1 : (long)tcp_send(c, buf, len);
}

/* The client's TLS transport. */
static long tls_tr_read(void *arg, uint8_t *buf, size_t len)
{
	return tcp_tr_read(((struct sess *)arg)->c, buf, len);
}

static long tls_tr_write(void *arg, const uint8_t *buf, size_t len)
{
	return tcp_tr_write(((struct sess *)arg)->c, buf, len);
}

/* Count a handshake under its cipher's name. */
static void cipher_count(struct smtp_worker *w, const char *version, const char *name)
{
	unsigned i, n = w->nciphers;
	struct cipher_count *c;

	for (i = 0; i < n; i++)
		if (strcmp(w->ciphers[i].name, name) == 0 && strcmp(w->ciphers[i].version, version) == 0) {
			w->ciphers[i].n++;
			return;
		}
	if (n == SMTP_CIPHER_SLOTS) {
		w->ciphers[n].n++;          /* "other": the table is full */
		return;
	}
	c = &w->ciphers[n];
	snprintf(c->version, sizeof(c->version), "%s", version);
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->n = 1;
	__atomic_store_n(&w->nciphers, n + 1, __ATOMIC_RELEASE);
}

/* Count and log an established TLS session. */
static void tls_established(struct sess *s)
{
	struct smtp_stats *st = &s->w->st;
	struct tls_macros m;

	tls_get_macros(s->tls, &m);
	memcpy(s->mac.verify, m.verify, sizeof(s->mac.verify));
	memcpy(s->mac.version, m.version, sizeof(s->mac.version));
	memcpy(s->mac.cipher, m.cipher, sizeof(s->mac.cipher));
	s->mac.cipher_bits = m.cipher_bits;
	s->mac.alg_bits = m.alg_bits;
	if ((strcmp(m.verify, "OK") == 0 || strcmp(m.verify, "FAIL") == 0) &&
	    (s->cert = malloc(sizeof(*s->cert))) != NULL)
		*s->cert = m;
	s->tls_up = 1;
	cipher_count(s->w, s->mac.version, s->mac.cipher);
	if (strcmp(s->mac.version, "TLSv1.3") == 0)
		st->tls_v13++;
	else
		st->tls_v12++;
	if (tls_resumed(s->tls))
		st->tls_resumed++;
	if (strcmp(s->mac.verify, "OK") == 0)
		st->verify_ok++;
	else if (strcmp(s->mac.verify, "NO") == 0)
		st->verify_no++;
	else if (strcmp(s->mac.verify, "FAIL") == 0)
		st->verify_fail++;
	else
		st->verify_not++;
	slog(s->w, "%s TLS connection established from unknown[%s]: %s with cipher %s (%d/%d bits)",
	     strcmp(s->mac.verify, "OK") == 0 ? "Trusted" :
	     (strcmp(s->mac.verify, "NOT") == 0 || strcmp(s->mac.verify, "NO") == 0) ? "Anonymous" : "Untrusted",
	     s->addr, s->mac.version, s->mac.cipher, s->mac.cipher_bits, s->mac.alg_bits);
}

/* Drive the handshake; on completion hand the session back to SMTP. */
static void tls_continue(struct sess *s)
{
	enum tls_status r = tls_handshake(s->tls);

	switch (r) {
	case TLS_DONE:
		tls_established(s);
		s->cst = C_SMTP;
		/* users may have come (or gone) since the session started */
		s->pcfg.auth_available = !s->no_auth && auth_offered(s->w->auth);
		if (s->mode == SMTP_MODE_SMTPS) {
			s->w->st.smtps++;
			smtp_proto_greet(&s->p);
		} else {
			s->w->st.starttls++;
			smtp_proto_tls_started(&s->p);
		}
		s->req_start_us = s->w->ctx->now_us;
		client_flush(s);
		client_pump(s);
		return;
	case TLS_WANT_READ:
	case TLS_WANT_WRITE:
	case TLS_WANT_KEY:
		return;
	default:
		s->w->st.tls_failed++;
		slog(s->w, "SSL_accept error from unknown[%s]: %s", s->addr,
		     r == TLS_CLOSED ? "lost connection" : "protocol error");
		sess_kill(s, 1);
		return;
	}
}

/* A queued private-key operation of this session finished. */
static void tls_key_done(void *arg)
{
	struct sess *s = arg;

	if (!s->dead && s->cst == C_TLS_HS && s->c != NULL)
		tls_continue(s);
}

/* Begin TLS on the client connection (465 at accept, or after STARTTLS). */
static int tls_begin(struct sess *s)
{
	struct tls_transport tr = { s, tls_tr_read, tls_tr_write };

	/* the context in force now; a later swap does not touch this session's */
	s->tls = tls_conn_new(__atomic_load_n(&s->w->tls, __ATOMIC_ACQUIRE), s->w->tw, &tr, s);
	if (s->tls == NULL)
		return -1;
	if (s->no_client_cert)
		tls_conn_no_client_cert(s->tls);
	else if (s->ask_client_cert)
		tls_conn_ask_client_cert(s->tls);
	s->cst = C_TLS_HS;
	s->tin_len = 0;
	/* one deadline for the whole handshake, cut in stress mode */
	tcp_set_timeout(s->c, (unsigned)(cut_us(s->w, s->w->cfg->tls_handshake_timeout_ms) / 1000));
	return 0;
}

/* ---- backend ---- */

/* Queue bytes to the backend; a short write means the backend is not keeping up. */
static int backend_write(struct sess *s, const void *buf, size_t len)
{
	if (s->b != NULL && s->btls != NULL && s->bst != B_TLS_HS) {
		if (tls_write(s->btls, buf, len) != (long)len) {
			backend_fail(s, "backend TLS send buffer full");
			return -1;
		}
		return 0;
	}
	if (s->b == NULL || tcp_send(s->b, buf, len) != len) {
		backend_fail(s, "backend send buffer full");
		return -1;
	}
	return 0;
}

/*
 * Announce the client to a backend that offers XCLIENT; with LOGIN= for an
 * authenticated client when the backend lists that attribute (Postfix does).
 */
_Static_assert(AUTH_USER_MAX <= 255, "rw_xclient() holds the xtext of a user of 255 bytes");
static void backend_xclient(struct sess *s, int login_ok)
{
	char cmd[RW_XCLIENT_MAX];
	const struct rw_xclient_info x = {
		.addr = s->addr, .port = s->port, .helo = s->p.helo, .ehlo = s->p.ehlo,
		.login = s->login, .login_ok = login_ok,
	};
	size_t n = rw_xclient(&x, cmd, sizeof(cmd));

	s->w->st.xclient++;
	s->xclient = 1;
	backend_write(s, cmd, n);
}

/* Send a PROXY v2 header: client and our addresses, and the TLS facts in PP2_TYPE_SSL. */
static void backend_proxy_v2(struct sess *s)
{
	const struct net_tuple *t = tcp_tuple(s->c);
	uint8_t h[RW_PROXY_V2_MAX];
	struct rw_proxy_info pp = {
		.family = t->family == NET_AF_INET ? 4 : 6,
		.sport = t->rport, .dport = t->lport,
		.tls = s->tls_up, .verify = s->mac.verify, .version = s->mac.version,
		.cipher = s->mac.cipher, .cn = s->cert != NULL ? s->cert->cn_subject : NULL,
	};

	memcpy(pp.src, t->raddr.a, 16);
	memcpy(pp.dst, t->laddr.a, 16);
	s->w->st.proxy_v2++;
	backend_write(s, h, rw_proxy_v2(&pp, h, sizeof(h)));
}

static const struct tcp_app_ops backend_ops;

/* Open a connection to the next backend that is not resting; -1 if none. */
static int backend_open(struct sess *s)
{
	struct smtp_worker *w = s->w;
	const struct mx_config *cfg = w->cfg;
	unsigned i;

	for (i = 0; i < cfg->nbackends; i++) {
		unsigned k = (w->rr + i) % cfg->nbackends;
		const struct cfg_backend *be = &cfg->backends[k];
		struct net_addr a;

		if (w->bs[k].down_until_us > w->ctx->now_us)
			continue;
		memset(&a, 0, sizeof(a));
		memcpy(a.a, be->addr, be->family == 4 ? 4 : 16);
		s->b = tcp_connect(w->ctx, w->inside_if, be->family == 4 ? NET_AF_INET : NET_AF_INET6,
				   &a, be->port, &backend_ops, s);
		if (s->b == NULL)
			continue;
		w->rr = k + 1;
		s->bidx = (int)k;
		s->bst = B_CONNECTING;
		rw_reply_init(&s->bb->rep);
		w->st.backend_connects++;
		s->b_timer = 0;
		backend_arm(s, 1);
		return 0;
	}
	return -1;
}

/* The backend is lost or useless: answer what is owed with a 4xx. */
static void backend_fail(struct sess *s, const char *why)
{
	struct smtp_worker *w = s->w;
	enum bwait was = s->bwait;
	int in_data = s->bst == B_DATA || s->data_started;

	w->st.backend_errors++;
	if (s->bidx >= 0 && (s->bst <= B_EHLO2))
		w->bs[s->bidx].down_until_us = w->ctx->now_us + (uint64_t)w->cfg->backend_retry_ms * 1000;
	if (was == W_DOT)
		slog(w, "%s: %s with backend %d after END-OF-MESSAGE: the message may have been delivered; "
		     "the client is told 451 4.4.1 and may send it again", s->id, why, s->bidx);
	else
		slog(w, "%s: lost connection with backend %d (%s) while waiting for %s", s->id, s->bidx, why,
		     bwhat_names[backend_what(s)]);
	if (s->b != NULL) {
		tcp_set_app(s->b, NULL, NULL);
		tcp_abort(s->b);
		s->b = NULL;
	}
	if (s->btls != NULL) {
		tls_conn_free(s->btls);
		s->btls = NULL;
	}
	s->bst = B_NONE;
	s->bwait = W_NONE;
	s->b_timer = 0;
	s->bp_wait = 0;
	if (s->client_gone || s->dead)
		return;
	if (in_data) {
		/* the engine may still be reading the message: refuse it at its end */
		s->b_failed = 1;
		if (was == W_DOT || was == W_DATA) {
			smtp_proto_answerf(&s->p, 451, "4.4.1", "Error: backend failed, try again later");
			w->st.messages_tempfailed++;
			s->b_failed = 0;
			s->data_started = 0;
		}
	} else if (s->bb != NULL && s->bb->bcmd_wait == W_MAIL && (was == W_MAIL || s->bb->bcmd_len > 0)) {
		/* MAIL not answered yet: the transaction can start on another backend */
		if (s->bb->bcmd_len == 0)
			s->bb->bcmd_len = s->bb->bcmd_sent;
		if (s->btries++ < (int)w->cfg->nbackends && backend_open(s) == 0)
			return;
		s->bb->bcmd_len = 0;
		smtp_proto_answerf(&s->p, 451, "4.4.1", "Error: no backend available, try again later");
	} else if (was == W_RCPT || was == W_DATA || (s->bb != NULL && s->bb->bcmd_len > 0)) {
		/* the backend had MAIL (and maybe recipients): that transaction is gone */
		s->bb->bcmd_len = 0;
		smtp_proto_answerf(&s->p, 421, "4.4.2", "Error: backend connection lost, try again later");
		s->cst = C_CLOSING;
	}
	client_flush(s);
	client_pump(s);
}

/* Send the command that waited for the backend to be ready. */
static void backend_send_pending(struct sess *s)
{
	if (s->bb == NULL || s->bst != B_READY || s->bb->bcmd_len == 0 || s->bwait != W_NONE)
		return;
	s->bwait = s->bb->bcmd_wait;
	s->bb->bcmd_sent = s->bb->bcmd_len;
	if (backend_write(s, s->bb->bcmd, s->bb->bcmd_len) == 0) {
		s->bb->bcmd_len = 0;
		backend_arm(s, 1);
	}
}

/* Hand a command to the backend now or as soon as it is ready. */
static void backend_command(struct sess *s, enum bwait wait, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (s->bb == NULL && (s->bb = calloc(1, sizeof(*s->bb))) == NULL) {
		smtp_proto_answerf(&s->p, 451, "4.3.0", "Error: out of memory, try again later");
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(s->bb->bcmd, sizeof(s->bb->bcmd), fmt, ap);
	va_end(ap);
	s->bb->bcmd_len = n > 0 && (size_t)n < sizeof(s->bb->bcmd) ? (size_t)n : 0;
	s->bb->bcmd_wait = wait;
	if (s->b == NULL && wait != W_MAIL) {
		/* the backend that had this transaction's MAIL is gone */
		s->bb->bcmd_len = 0;
		s->w->st.backend_errors++;
		if (wait == W_DATA)
			count_message_refusal(s->w, 421);
		smtp_proto_answerf(&s->p, 421, "4.4.2", "Error: backend connection lost, try again later");
		s->cst = C_CLOSING;
		return;
	}
	if (s->b == NULL) {
		s->btries = 0;
		if (backend_open(s) != 0) {
			s->bb->bcmd_len = 0;
			s->w->st.backend_errors++;
			smtp_proto_answerf(&s->p, 451, "4.4.1", "Error: no backend available, try again later");
			return;
		}
	}
	backend_send_pending(s);
}

/* The Received header in sendmail's form, folded, sent ahead of the message. */
static void send_received(struct sess *s)
{
	char hdr[RW_RECEIVED_MAX];
	const struct rw_received_info r = {
		.helo = s->p.helo, .addr = s->addr, .hostname = s->w->cfg->hostname, .id = s->id,
		.ehlo = s->p.ehlo, .tls = s->tls_up, .auth = s->login != NULL,
		.version = s->mac.version, .cipher = s->mac.cipher, .verify = s->mac.verify,
		.cipher_bits = s->mac.cipher_bits, .rcpt = s->nrcpt_ok == 1 ? s->first_rcpt : NULL,
		.when = time(NULL),
	};
	size_t n = rw_received(&r, hdr, sizeof(hdr));

	if (n > 0)
		backend_write(s, hdr, n);
}

/* Pass the backend's reply to the client; one it cannot use ends the backend with a 4xx. */
static void answer_with_backend_reply(struct sess *s)
{
	if (smtp_proto_answer(&s->p, s->bb->rep.buf, s->bb->rep.len) == 0)
		return;
	backend_fail(s, "reply unfit for the client");
	if (!s->dead && s->p.owed)
		smtp_proto_answerf(&s->p, 451, "4.4.1", "Error: backend reply unusable, try again later");
}

/* The backend's TLS transport. */
static long btls_tr_read(void *arg, uint8_t *buf, size_t len)
{
	return tcp_tr_read(((struct sess *)arg)->b, buf, len);
}

static long btls_tr_write(void *arg, const uint8_t *buf, size_t len)
{
	return tcp_tr_write(((struct sess *)arg)->b, buf, len);
}

/*
 * Greet the backend. Before XCLIENT we are ourselves (EHLO, to learn what
 * it offers); after XCLIENT, and throughout with a PROXY v2 backend, we
 * speak for the client: its own HELO or EHLO and name, as nginx does.
 */
static void backend_hello(struct sess *s, int as_client)
{
	char cmd[SMTP_ADDR_MAX + 16];
	const char *name = as_client && s->p.helo[0] ? s->p.helo : s->w->cfg->hostname;

	snprintf(cmd, sizeof(cmd), "%s %s\r\n", as_client && !s->p.ehlo ? "HELO" : "EHLO", name);
	backend_write(s, cmd, strlen(cmd));
}

/* After the backend's 220 to STARTTLS: a client session over its connection. */
static int backend_tls_begin(struct sess *s)
{
	struct tls_transport tr = { s, btls_tr_read, btls_tr_write };

	if (s->w->client_tls == NULL)
		return -1;
	s->btls = tls_client_conn_new(s->w->client_tls, &tr, NULL, s);
	if (s->btls == NULL)
		return -1;
	s->bst = B_TLS_HS;
	rw_reply_init(&s->bb->rep);
	return 0;
}

/* Drive the backend handshake; when done, EHLO again inside TLS. */
static void backend_tls_continue(struct sess *s)
{
	enum tls_status r = tls_handshake(s->btls);

	if (r == TLS_WANT_READ || r == TLS_WANT_WRITE)
		return;
	if (r != TLS_DONE) {
		backend_fail(s, "TLS handshake with the backend failed");
		return;
	}
	s->bst = B_EHLO;
	backend_hello(s, s->w->cfg->backends[s->bidx].proxy_v2);
}

/* A complete reply from the backend: move its state machine, answer the client. */
static void backend_reply(struct sess *s, int code)
{
	struct smtp_worker *w = s->w;
	const struct cfg_backend *be = &w->cfg->backends[s->bidx];

	switch (s->bst) {
	case B_GREETING:
		if (code != 220)
			return backend_fail(s, "bad greeting");
		s->bst = B_EHLO;
		/* a PROXY backend must see the client's name; STARTTLS needs EHLO first */
		backend_hello(s, be->proxy_v2 && !be->starttls);
		return;
	case B_EHLO:
	case B_EHLO2:
		if (code != 250)
			return backend_fail(s, "EHLO refused");
		if (s->bst == B_EHLO && be->starttls && s->btls == NULL) {
			/* configured means required: never fall back to plaintext */
			if (!rw_reply_has_keyword(s->bb->rep.buf, s->bb->rep.len, "STARTTLS"))
				return backend_fail(s, "STARTTLS required but not offered");
			s->bst = B_STARTTLS;
			backend_write(s, "STARTTLS\r\n", 10);
			return;
		}
		if (s->bst == B_EHLO && !be->proxy_v2 &&
		    rw_reply_has_keyword(s->bb->rep.buf, s->bb->rep.len, "XCLIENT")) {
			s->bst = B_XCLIENT;
			backend_xclient(s, rw_xclient_lists(s->bb->rep.buf, s->bb->rep.len, "LOGIN"));
			return;
		}
		s->bst = B_READY;
		backend_send_pending(s);
		return;
	case B_STARTTLS:
		if (code != 220)
			return backend_fail(s, "STARTTLS refused");
		if (backend_tls_begin(s) != 0)
			return backend_fail(s, "cannot start TLS");
		backend_tls_continue(s);
		return;
	case B_XCLIENT:
		/*
		 * Postfix answers 220 (a new session), smtp-sink 250. A refusal is
		 * not ignored: the backend would take mxgate's address for the
		 * client's, which may be a trusted one.
		 */
		if (code < 200 || code > 299)
			return backend_fail(s, "XCLIENT refused");
		s->bst = B_EHLO2;
		backend_hello(s, 1);
		return;
	case B_READY:
	case B_DATA:
		break;
	default:
		return;
	}
	switch (s->bwait) {
	case W_MAIL:
	case W_RCPT:
		s->bwait = W_NONE;
		if (code >= 200 && code < 300 && s->p.owed == SMTP_EV_RCPT) {
			if (s->nrcpt_ok++ == 0)
				snprintf(s->first_rcpt, sizeof(s->first_rcpt), "%s", s->p.arg);
		} else if (code >= 400 && s->p.owed == SMTP_EV_RCPT) {
			slog(w, "NOQUEUE: reject: RCPT from unknown[%s]: %.*s; to=<%s> proto=%s helo=<%s>",
			     s->addr, (int)strcspn(s->bb->rep.buf, "\r\n"), s->bb->rep.buf, s->p.arg,
			     s->p.ehlo ? "ESMTP" : "SMTP", s->p.helo);
		}
		answer_with_backend_reply(s);
		break;
	case W_DATA:
		s->bwait = W_NONE;
		if (code == 354) {
			s->bst = B_DATA;
			s->data_started = 1;
			s->msg_bytes = 0;
			send_received(s);
			data_begin(s);
			smtp_proto_answerf(&s->p, 354, NULL, "End data with <CR><LF>.<CR><LF>");
		} else {
			count_message_refusal(w, code);
			answer_with_backend_reply(s);
		}
		break;
	case W_DOT:
		s->bwait = W_NONE;
		s->bst = B_READY;
		s->data_started = 0;
		if (code >= 200 && code < 300)
			w->st.messages_accepted++;
		else if (code >= 500)
			w->st.messages_rejected++;
		else
			w->st.messages_tempfailed++;
		slog(w, "%s: from=<%s>, size=%llu, nrcpt=%u, relay=backend%d, status=%s (%.*s)", s->id,
		     s->mail_from, (unsigned long long)s->msg_bytes, s->nrcpt_ok, s->bidx,
		     code < 300 ? "sent" : code < 500 ? "deferred" : "bounced",
		     (int)strcspn(s->bb->rep.buf, "\r\n"), s->bb->rep.buf);
		s->nrcpt_ok = 0;
		answer_with_backend_reply(s);
		break;
	case W_RSET:
		s->bwait = W_NONE;
		s->nrcpt_ok = 0;
		break;
	default:
		/* a reply nobody asked for */
		return backend_fail(s, "unexpected reply");
	}
	if (s->dead || s->b == NULL)
		return;
	if (code == 421 && s->cst == C_SMTP) {
		/* the backend is closing: so does the session, once the reply is out */
		s->cst = C_CLOSING;
		client_flush(s);
		return;
	}
	backend_send_pending(s);
	client_flush(s);
	client_pump(s);
}

/* Backend bytes: collect complete replies (bounded), one at a time. */
static void backend_readable(struct tcp_conn *b)
{
	struct sess *s = tcp_app(b);
	uint8_t buf[512];
	size_t n, i, used;

	if (s != NULL && s->b == b && s->bst == B_TLS_HS) {
		backend_tls_continue(s);
		if (s->b != b || s->bst == B_TLS_HS)
			return;
	}
	while (s != NULL && s->b == b && !s->dead) {
		if (s->bst == B_TLS_HS)
			return;          /* the handshake is driven by backend_tls_continue() */
		if (s->btls != NULL) {
			long r = tls_read(s->btls, buf, sizeof(buf));

			if (r <= 0) {
				if (r == -TLS_ERROR || r == -TLS_CLOSED)
					backend_fail(s, "backend TLS error");
				return;
			}
			n = (size_t)r;
		} else if ((n = tcp_recv(b, buf, sizeof(buf))) == 0) {
			break;
		}
		for (i = 0; i < n; i += used) {
			int code;

			switch (rw_reply_feed(&s->bb->rep, buf + i, n - i, &used, &code)) {
			case RW_REPLY_MORE:
				continue;
			case RW_REPLY_MALFORMED:
				backend_fail(s, "malformed reply");
				return;
			case RW_REPLY_DONE:
				break;
			}
			backend_reply(s, code);
			if (s->b != b)
				return;
			rw_reply_init(&s->bb->rep);
			backend_arm(s, 1);     /* a reply came: the next wait starts now */
		}
	}
}

/* Active open result. */
static void backend_connected(struct tcp_conn *b, int err)
{
	struct sess *s = tcp_app(b);

	if (s == NULL)
		return;
	if (err != 0) {
		s->b = NULL;             /* closed() follows; the stack frees it */
		tcp_set_app(b, NULL, NULL);
		s->w->bs[s->bidx].down_until_us = s->w->ctx->now_us +
						  (uint64_t)s->w->cfg->backend_retry_ms * 1000;
		backend_fail(s, "connect failed");
		return;
	}
	s->bst = B_GREETING;
	if (s->w->cfg->backends[s->bidx].proxy_v2)
		backend_proxy_v2(s);
	backend_arm(s, 1);
}

/* The backend's send space grew: the client's message may flow again. */
static void backend_writable(struct tcp_conn *b)
{
	struct sess *s = tcp_app(b);

	if (s == NULL)
		return;
	if (s->bst == B_TLS_HS) {
		backend_tls_continue(s);
		return;
	}
	client_pump(s);
}

/* The backend closed or timed out. */
static void backend_gone(struct tcp_conn *b)
{
	struct sess *s = tcp_app(b);

	if (s == NULL)
		return;
	backend_fail(s, "closed by backend");
}

/* The backend connection ended (reset, timeout): the stack frees it. */
static void backend_closed(struct tcp_conn *b, enum tcp_end why)
{
	struct sess *s = tcp_app(b);

	(void)why;
	if (s == NULL || s->b != b)
		return;
	s->b = NULL;
	backend_fail(s, why == TCP_END_TIMEOUT ? "timeout" : "connection reset");
}

/* No reply (or send space) from the backend in time: counted by what was awaited. */
static void backend_timeout(struct tcp_conn *b)
{
	struct sess *s = tcp_app(b);

	if (s == NULL)
		return;
	s->w->st.backend_timeouts++;
	s->w->backend_timeouts[backend_what(s)]++;
	backend_fail(s, "timeout");
}

static const struct tcp_app_ops backend_ops = {
	.connected = backend_connected,
	.readable = backend_readable,
	.writable = backend_writable,
	.peer_closed = backend_gone,
	.closed = backend_closed,
	.timeout = backend_timeout,
};

/* ---- policy ---- */

/* What the access map may know of this session. */
static void pol_client_of(const struct sess *s, struct pol_client *pc, char *issuer, char *subject,
			  size_t dnlen)
{
	const struct net_tuple *t = s->c ? tcp_tuple(s->c) : NULL;

	memset(pc, 0, sizeof(*pc));
	if (t != NULL) {
		pc->addr.family = t->family == NET_AF_INET ? 4 : 6;
		memcpy(pc->addr.a, t->raddr.a, 16);
	}
	pc->helo = s->p.helo;
	pc->auth = s->p.authenticated;
	pc->tls = s->tls_up;
	pc->verify = s->tls_up ? s->mac.verify : "NONE";
	pc->cipher_bits = s->tls_up ? s->mac.cipher_bits : 0;
	if (s->cert != NULL) {
		/* the macros are quoted already; the map wants them as they are */
		snprintf(issuer, dnlen, "%s", s->cert->cert_issuer);
		snprintf(subject, dnlen, "%s", s->cert->cert_subject);
		pc->cert_issuer = issuer;
		pc->cert_subject = subject;
		pc->cn_subject = s->cert->cn_subject;
	}
}

/* Count a decision under the tag of the entry that made it. */
static void pol_count(struct smtp_worker *w, const struct pol_result *r)
{
	if (r->action != POL_CONTINUE && r->tag >= 0 && r->tag < POL_TAG_COUNT && r->action < 5)
		w->pol_decisions[r->tag][r->action]++;
}

/* Answer an owed MAIL/RCPT with a policy refusal and log it as Postfix does. */
static void pol_refuse(struct sess *s, const struct pol_result *r, const char *stage, const char *who)
{
	slog(s->w, "NOQUEUE: reject: %s from unknown[%s]: %d %s <%s>: %s; from=<%s> proto=%s helo=<%s>",
	     stage, s->addr, r->code, r->enh, who, r->text, s->mail_from, s->p.ehlo ? "ESMTP" : "SMTP",
	     s->p.helo);
	smtp_proto_answerf(&s->p, r->code, r->enh, "<%s>: %s", who, r->text);
}

/* The access map's word on a MAIL or RCPT; 1 when it refused (answer sent). */
static int pol_stage(struct sess *s, int rcpt, const char *arg)
{
	struct pol_client pc;
	struct pol_result r;
	char issuer[512], subject[512];

	const struct pol_snapshot *pol = __atomic_load_n(&s->w->pol, __ATOMIC_ACQUIRE);

	if (pol == NULL)
		return 0;
	pol_client_of(s, &pc, issuer, subject, sizeof(issuer));
	r = rcpt ? pol_check_rcpt(pol, &pc, arg, NULL) : pol_check_mail(pol, &pc, arg, NULL);
	pol_count(s->w, &r);
	if (r.action == POL_REJECT) {
		if (r.code == 530)
			s->w->st.reject_530_require_tls++;
		if (rcpt)
			s->w->st.policy_rcpt_rejects++;
		else
			s->w->st.policy_mail_rejects++;
		pol_refuse(s, &r, rcpt ? "RCPT" : "MAIL", arg);
		return 1;
	}
	if (r.action == POL_DISCARD)
		s->discard = 1;
	return 0;
}

/* The counting slot of a client address; NULL when the table has no room. */
static struct climit *limit_slot(struct smtp_worker *w, const struct pol_addr *a)
{
	uint32_t h = 2166136261u;
	unsigned i, n = a->family == 4 ? 4 : 16;
	struct climit *e, *free_slot = NULL;

	if (w->limits == NULL && (w->limits = calloc(LIMIT_SLOTS, sizeof(*w->limits))) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		h = (h ^ a->a[i]) * 16777619u;
	for (i = 0; i < LIMIT_PROBE; i++) {
		e = &w->limits[(h + i) & (LIMIT_SLOTS - 1)];
		if (e->used && e->family == a->family && memcmp(e->a, a->a, n) == 0)
			return e;
		/* free, or a client with nothing open (its bucket refills anyway) */
		if (free_slot == NULL && (!e->used || e->conns == 0))
			free_slot = e;
	}
	if (free_slot != NULL) {
		memset(free_slot, 0, sizeof(*free_slot));
		free_slot->used = 1;
		free_slot->family = a->family;
		memcpy(free_slot->a, a->a, n);
		free_slot->refill_us = 0;
	}
	return free_slot;
}

/*
 * Limit: (conn=N, rate=N/period) for a new session: this worker's share is
 * ceil(N / workers) (policy.h). Returns 0 to go on, or 1 with the refusal
 * text in *why.
 */
static int limit_check(struct sess *s, const struct pol_snapshot *pol, const struct pol_client *pc,
		       const char **why)
{
	struct smtp_worker *w = s->w;
	struct pol_limits lim;
	struct climit *e;
	unsigned nw = w->ctx->nworkers ? w->ctx->nworkers : 1;
	uint64_t conn_share, rate_share, cap, now = w->ctx->now_us;

	if (!pol_limit(pol, pc, &lim, NULL) || (lim.conn == 0 && lim.rate == 0))
		return 0;
	e = limit_slot(w, &pc->addr);
	if (e == NULL) {
		w->st.limit_table_full++;    /* let the client in uncounted rather than refuse strangers' neighbours */
		return 0;
	}
	conn_share = lim.conn ? (lim.conn + nw - 1) / nw : 0;
	rate_share = lim.rate ? (lim.rate + nw - 1) / nw : 0;
	if (rate_share) {
		cap = rate_share * 1000;
		if (e->refill_us == 0)
			e->milli_tokens = cap;
		else
			e->milli_tokens += (now - e->refill_us) * rate_share / ((uint64_t)lim.per_s * 1000);
		if (e->milli_tokens > cap)
			e->milli_tokens = cap;
		e->refill_us = now;
	}
	if (conn_share && e->conns >= conn_share) {
		*why = POL_LIMIT_CONN_TEXT;
		return 1;
	}
	if (rate_share && e->milli_tokens < 1000) {
		*why = POL_LIMIT_RATE_TEXT;
		return 1;
	}
	if (rate_share)
		e->milli_tokens -= 1000;
	e->conns++;
	s->lim = e;
	return 0;
}

/* ---- client input ---- */

/* Act on one engine event. Returns 0 to go on, -1 to stop feeding input. */
static int client_event(struct sess *s, enum smtp_ev ev, const struct smtp_evinfo *ei)
{
	struct smtp_worker *w = s->w;

	switch (ev) {
	case SMTP_EV_HELO:
		s->n_cmds[s->p.ehlo ? 0 : 1]++;
		return 0;
	case SMTP_EV_STARTTLS: {
		size_t junk = s->c ? tcp_readable(s->c) : 0;

		s->n_cmds[2]++;
		client_flush(s);               /* the 220, in plaintext */
		if (junk > 0 || s->p.stat_pipelined_after_starttls > 0) {
			/* CVE-2011-0411: nothing sent before the handshake is executed */
			w->st.starttls_injection++;
			w->st.starttls_injected_bytes += junk;
			tcp_consume(s->c, junk);
		}
		if (tls_begin(s) != 0) {
			w->st.tls_unavailable++;
			client_close_with(s, 454, "4.7.0", "TLS not available due to temporary reason");
			return -1;
		}
		tls_continue(s);         /* may end the session */
		return -1;
	}
	case SMTP_EV_MAIL:
		s->n_cmds[3]++;
		s->nrcpt_ok = 0;
		s->discard = 0;
		snprintf(s->mail_from, sizeof(s->mail_from), "%s", ei->arg);
		if (pol_stage(s, 0, ei->arg))
			return 0;
		if (s->discard) {
			smtp_proto_answerf(&s->p, 250, "2.1.0", "Ok");
			return 0;
		}
		backend_command(s, W_MAIL, "MAIL FROM:<%s>%s%s\r\n", ei->arg,
				ei->params && ei->params[0] ? " " : "", ei->params ? ei->params : "");
		return 0;
	case SMTP_EV_RCPT:
		s->n_cmds[4]++;
		if (pol_stage(s, 1, ei->arg))
			return 0;
		if (s->discard) {
			smtp_proto_answerf(&s->p, 250, "2.1.5", "Ok");
			return 0;
		}
		backend_command(s, W_RCPT, "RCPT TO:<%s>%s%s\r\n", ei->arg,
				ei->params && ei->params[0] ? " " : "", ei->params ? ei->params : "");
		return 0;
	case SMTP_EV_DATA:
		s->n_cmds[5]++;
		if (s->discard) {
			s->data_started = 1;
			data_begin(s);
			smtp_proto_answerf(&s->p, 354, NULL, "End data with <CR><LF>.<CR><LF>");
			return 0;
		}
		backend_command(s, W_DATA, "DATA\r\n");
		return 0;
	case SMTP_EV_DATA_LINE:
		s->msg_bytes += ei->len;
		w->st.message_bytes += ei->len;
		data_progress(s, ei->len);
		if (s->discard || s->b_failed || s->b == NULL)
			return 0;      /* swallowed: discarded, or refused at the end */
		backend_write(s, ei->data, ei->len);   /* a failure ends the backend: 451 at the end */
		return 0;
	case SMTP_EV_DATA_END:
		if (ei->error != SMTP_OK) {
			w->st.messages_rejected++;
			backend_drop(s);   /* part of the message went out: the backend must drop it */
			s->data_started = 0;
			return 0;
		}
		if (s->discard) {
			s->data_started = 0;
			s->discard = 0;
			w->st.policy_discards++;
			slog(w, "%s: discard: from=<%s> size=%llu (access map)", s->id, s->mail_from,
			     (unsigned long long)s->msg_bytes);
			smtp_proto_answerf(&s->p, 250, "2.0.0", "Ok: discarded");
			return 0;
		}
		if (s->b_failed || s->b == NULL) {
			s->b_failed = 0;
			s->data_started = 0;
			w->st.messages_tempfailed++;
			smtp_proto_answerf(&s->p, 451, "4.4.1", "Error: backend failed, try again later");
			return 0;
		}
		s->bwait = W_DOT;
		if (backend_write(s, ".\r\n", 3) == 0)
			backend_arm(s, 1);
		return 0;
	case SMTP_EV_AUTH:
		s->n_cmds[8]++;
		auth_ask(s, ei);
		return 0;
	case SMTP_EV_RSET:
		s->n_cmds[6]++;
		s->discard = 0;
		if (s->b != NULL && s->bst == B_READY && s->bwait == W_NONE) {
			s->bwait = W_RSET;
			if (backend_write(s, "RSET\r\n", 6) == 0)
				backend_arm(s, 1);
		}
		s->nrcpt_ok = 0;
		return 0;
	case SMTP_EV_QUIT:
		s->n_cmds[7]++;
		s->cst = C_CLOSING;
		client_flush(s);
		return -1;
	case SMTP_EV_CLOSE:
		if (s->bst == B_DATA || s->bwait != W_NONE)
			backend_drop(s);   /* closing mid-message: nothing half-sent is delivered */
		if (ei->error == SMTP_R_NON_SMTP) {
			w->st.non_smtp_command++;
			slog(w, "warning: non-SMTP command from unknown[%s]: %.100s", s->addr, ei->arg);
		} else if (ei->error == SMTP_R_NUL) {
			slog(w, "warning: NUL character in message from unknown[%s]", s->addr);
		} else if (ei->error == SMTP_R_TOO_MANY_ERRORS) {
			slog(w, "too many errors after %s from unknown[%s]", smtp_where_names[s->p.where], s->addr);
		}
		if (ei->error == SMTP_R_BARE_NEWLINE)
			w->st.bare_newline++;
		else if (ei->error == SMTP_R_TOO_MANY_ERRORS)
			w->st.too_many_errors++;
		else if (ei->error == SMTP_R_AUTH_FAILURES)
			w->st.auth_too_many++;
		s->cst = C_CLOSING;
		client_flush(s);
		return -1;
	default:
		return 0;
	}
}

/* Next contiguous input for the engine: decrypted bytes, or the TCP queue head. */
static const uint8_t *client_input(struct sess *s, size_t *len)
{
	if (!s->tls_up)
		return tcp_peek(s->c, len);
	if (s->tin == NULL && (s->tin = malloc(TLS_IN_MAX)) == NULL)
		return NULL;
	if (s->tin_len < TLS_IN_MAX) {
		long n = tls_read(s->tls, s->tin + s->tin_len, TLS_IN_MAX - s->tin_len);

		if (n > 0)
			s->tin_len += (size_t)n;
		else if (n == -TLS_ERROR) {
			s->w->st.tls_failed++;
			s->cst = C_CLOSING;
		}
	}
	*len = s->tin_len;
	if (s->tin_len == 0) {
		free(s->tin);            /* nothing came: an idle session keeps no buffer */
		s->tin = NULL;
		return NULL;
	}
	return s->tin;
}

/* Drop n bytes the engine used. */
static void client_consume(struct sess *s, size_t n)
{
	if (!s->tls_up) {
		tcp_consume(s->c, n);
		return;
	}
	memmove(s->tin, s->tin + n, s->tin_len - n);
	s->tin_len -= n;
	if (s->tin_len == 0) {
		free(s->tin);         /* idle sessions keep no input buffer */
		s->tin = NULL;
	}
}

/* Feed the engine while it can take input and the backend can take the message. */
static void client_pump(struct sess *s)
{
	unsigned rounds = 0;
	size_t consumed = 0;
	int was_bp = s->bp_wait;

	s->bp_wait = 0;
	while (!s->dead && s->c != NULL && s->cst == C_SMTP && rounds++ < 4096) {
		const uint8_t *in;
		size_t len, used = 0;
		struct smtp_evinfo ei;
		enum smtp_ev ev;

		client_flush(s);             /* drained output lets the engine take more */
		if (s->dead || s->c == NULL || s->cst != C_SMTP)
			break;
		if (smtp_proto_in_data(&s->p) && s->b != NULL && !s->b_failed &&
		    tcp_send_space(s->b) < DATA_ROOM) {
			/* backend full: the client's window closes until the backend drains */
			tcp_want_writable(s->b);
			s->bp_wait = 1;
			break;
		}
		in = client_input(s, &len);
		if (in == NULL)
			break;
		memset(&ei, 0, sizeof(ei));
		ev = smtp_proto_input(&s->p, in, len, &used, &ei);
		if (used > 0)
			client_consume(s, used);
		consumed += used;
		if (ev == SMTP_EV_NEED_INPUT || ev == SMTP_EV_WAIT) {
			if (used == 0)
				break;
			continue;
		}
		if (client_event(s, ev, &ei) != 0)
			break;
	}
	client_flush(s);
	if (s->dead || s->c == NULL || s->cst != C_SMTP)
		return;
	/* whole lines came and none is half read: the next command's deadline starts now */
	if (consumed > 0 && !smtp_proto_mid_line(&s->p) && !smtp_proto_in_data(&s->p))
		s->req_start_us = s->w->ctx->now_us;
	if (s->bp_wait != was_bp)
		backend_arm(s, 0);
	client_arm(s);
}

/* ---- client callbacks ---- */

/* New client connection on one of our SMTP ports. */
static void client_accept(struct tcp_conn *c, void *arg)
{
	struct listen_arg *la = arg;
	struct smtp_worker *w = la->w;
	const struct pol_snapshot *pol;
	struct sess *s;

	if (w->st.active >= w->cfg->max_sessions || (s = calloc(1, sizeof(*s))) == NULL) {
		static const char msg[] = "421 4.3.2 Service not available, too many sessions\r\n";

		w->st.sessions_refused++;
		tcp_send(c, msg, sizeof(msg) - 1);
		tcp_close(c);
		return;
	}
	w->st.sessions++;
	w->st.active++;
	stress_update(w);
	s->w = w;
	s->c = c;
	s->mode = la->mode;
	s->bidx = -1;
	addr_text(tcp_tuple(c), s->addr, sizeof(s->addr));
	s->port = tcp_tuple(c)->rport;
	snprintf(s->id, sizeof(s->id), "%02X%08X", tcp_net(c)->worker & 0xff, w->next_id++);
	tcp_set_app(c, &client_ops, s);
	slog(w, "connect from unknown[%s]", s->addr);
	s->pcfg = w->pcfg[la->mode];
	s->pcfg.tls_available = __atomic_load_n(&w->tls, __ATOMIC_ACQUIRE) != NULL;
	if (w->stress && (s->pcfg.max_errors == 0 || s->pcfg.max_errors > w->cfg->smtpd_stress_error_limit))
		s->pcfg.max_errors = w->cfg->smtpd_stress_error_limit;   /* Postfix: 1 under stress */
	s->born_us = w->ctx->now_us;
	s->lnext = w->live;
	if (w->live)
		w->live->lprev = s;
	w->live = s;
	if (__atomic_load_n(&w->draining, __ATOMIC_ACQUIRE)) {
		smtp_proto_init(&s->p, &s->pcfg, 0);
		smtp_proto_output_done(&s->p, s->p.out_len);
		s->cst = C_SMTP;
		client_close_with(s, 421, "4.3.2", "Service shutting down, try again later");
		return;
	}
	pol = __atomic_load_n(&w->pol, __ATOMIC_ACQUIRE);
	if (pol != NULL) {
		struct pol_client pc;
		struct pol_result r;
		struct pol_features f;
		char dn1[8], dn2[8];
		const char *why;

		pol_client_of(s, &pc, dn1, dn2, sizeof(dn1));
		r = pol_check_connect(pol, &pc, NULL);
		pol_count(w, &r);
		if (r.action == POL_REJECT) {
			w->st.policy_connect_rejects++;
			slog(w, "NOQUEUE: reject: CONNECT from unknown[%s]: %d %s %s; proto=SMTP",
			     s->addr, r.code, r.enh, r.text);
			smtp_proto_init(&s->p, &s->pcfg, 0);
			smtp_proto_output_done(&s->p, s->p.out_len);   /* no banner */
			s->cst = C_SMTP;
			client_close_with(s, r.code, r.enh, r.text);
			return;
		}
		if (limit_check(s, pol, &pc, &why)) {
			w->st.limit_refused++;
			w->pol_decisions[POL_TAG_LIMIT][POL_REJECT]++;
			slog(w, "NOQUEUE: reject: CONNECT from unknown[%s]: 421 4.7.0 %s; proto=SMTP", s->addr, why);
			smtp_proto_init(&s->p, &s->pcfg, 0);
			smtp_proto_output_done(&s->p, s->p.out_len);   /* no banner */
			s->cst = C_SMTP;
			client_close_with(s, 421, "4.7.0", why);
			return;
		}
		if (pol_srv_features(pol, &pc, &f, NULL)) {
			w->pol_decisions[POL_TAG_SRV_FEATURES][POL_OK]++;
			if (f.off & POL_SF_STARTTLS)
				s->pcfg.tls_available = 0;                      /* S: no STARTTLS */
			s->no_auth = (f.off & POL_SF_AUTH) != 0;                /* A: no AUTH */
			s->no_client_cert = (f.off & POL_SF_VERIFY) != 0;       /* V: no certificate asked */
			s->ask_client_cert = (f.on & POL_SF_VERIFY) != 0;       /* v: asked, even if not by default */
			if (f.on & POL_SF_AUTH_REQUIRED)
				s->pcfg.auth_required = 1;                      /* l: AUTH before MAIL */
			else if (f.off & POL_SF_AUTH_REQUIRED)
				s->pcfg.auth_required = 0;                      /* L: not even on 587 */
		}
	}
	s->pcfg.auth_available = !s->no_auth && auth_offered(w->auth);
	smtp_proto_init(&s->p, &s->pcfg, 0);
	if (la->mode == SMTP_MODE_SMTPS) {
		if (tls_begin(s) != 0)
			sess_kill(s, 1);
		return;
	}
	if (w->cfg->smtpd_greet_delay_ms > 0) {
		s->cst = C_GREET_DELAY;
		tcp_set_timeout(c, w->cfg->smtpd_greet_delay_ms);
		return;
	}
	s->cst = C_SMTP;
	s->req_start_us = w->ctx->now_us;
	client_flush(s);
	client_arm(s);
}

/* Client bytes arrived. */
static void client_readable(struct tcp_conn *c)
{
	struct sess *s = tcp_app(c);

	if (s->cst == C_GREET_DELAY) {
		/* talking before the banner: a robot that does not wait (postscreen's pregreet) */
		s->w->st.pregreet++;
		slog(s->w, "PREGREET %zu after 0 from [%s]:%u", tcp_readable(c), s->addr, s->port);
		tcp_consume(c, tcp_readable(c));
		s->cst = C_SMTP;
		smtp_proto_output_done(&s->p, s->p.out_len);   /* the 554 replaces the banner */
		client_close_with(s, 554, "5.5.1", "Error: talking before the greeting");
		return;
	}
	if (s->cst == C_TLS_HS) {
		tls_continue(s);
		return;
	}
	if (s->cst == C_CLOSING) {
		tcp_consume(c, tcp_readable(c));   /* after our last word: ignored */
		return;
	}
	client_pump(s);
}

/* Client send space grew. */
static void client_writable(struct tcp_conn *c)
{
	struct sess *s = tcp_app(c);

	if (s->cst == C_TLS_HS)
		tls_continue(s);
	else
		client_pump(s);              /* flushes, then feeds what back-pressure held */
}

/* The client closed its side. */
static void client_peer_closed(struct tcp_conn *c)
{
	sess_kill(tcp_app(c), 0);
}

/* The client connection ended (reset, retransmissions exhausted). */
static void client_closed(struct tcp_conn *c, enum tcp_end why)
{
	struct sess *s = tcp_app(c);

	(void)why;
	if (s == NULL)
		return;
	s->c = NULL;             /* the stack frees it */
	sess_kill(s, 0);
}

/* A client timer: greeting delay over, or a command/DATA/handshake timeout. */
static void client_timeout(struct tcp_conn *c)
{
	struct sess *s = tcp_app(c);

	if (s->cst == C_GREET_DELAY) {
		s->cst = C_SMTP;
		s->req_start_us = s->w->ctx->now_us;
		client_flush(s);
		client_arm(s);
		return;
	}
	s->w->st.timeouts++;
	s->w->timeouts_after[s->p.where]++;
	if (smtp_proto_in_data(&s->p))
		slog(s->w, "timeout after DATA (%llu bytes) from unknown[%s]", (unsigned long long)s->msg_bytes,
		     s->addr);
	else
		slog(s->w, "timeout after %s from unknown[%s]", smtp_where_names[s->p.where], s->addr);
	if (s->cst == C_TLS_HS || s->cst == C_CLOSING) {
		sess_kill(s, 1);
		return;
	}
	client_close_with(s, 421, "4.4.2", "Error: timeout exceeded");
}

static const struct tcp_app_ops client_ops = {
	.accept = client_accept,
	.readable = client_readable,
	.writable = client_writable,
	.peer_closed = client_peer_closed,
	.closed = client_closed,
	.timeout = client_timeout,
};

/* ---- worker ---- */

struct smtp_worker *smtp_worker_start(struct net_ctx *ctx, const struct mx_config *cfg,
				      struct tls_ctx *tls, const struct pol_snapshot *pol,
				      struct auth_service *auth, char *err, size_t errlen)
{
	struct smtp_worker *w = calloc(1, sizeof(*w));
	const unsigned ports[3] = { cfg->smtp_port, cfg->submission_port, cfg->smtps_port };
	unsigned i, m;

	if (w == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->ctx = ctx;
	w->cfg = cfg;
	w->tls = tls;
	w->pol = pol;
	w->auth = auth;
	w->inside_if = 0;
	for (i = 0; i < ctx->nifs; i++)
		if (ctx->ifs[i].role == CFG_ROLE_INSIDE)
			w->inside_if = i;
	if (tls != NULL) {
		w->tw = tls_worker_new(tls_key_done);
		if (w->tw == NULL) {
			snprintf(err, errlen, "out of memory for the TLS worker");
			free(w);
			return NULL;
		}
	}
	for (i = 0; i < cfg->nbackends; i++)
		if (cfg->backends[i].starttls && w->client_tls == NULL &&
		    (w->client_tls = tls_client_ctx_new(err, errlen)) == NULL) {
			smtp_worker_free(w);
			return NULL;
		}
	for (m = 0; m < 3; m++) {
		w->pcfg[m].hostname = cfg->hostname;
		w->pcfg[m].mode = (enum smtp_mode)m;
		w->pcfg[m].tls_available = tls != NULL;
		w->pcfg[m].size_limit = cfg->message_size_limit;
		w->pcfg[m].max_rcpts = cfg->smtpd_recipient_limit;
		w->pcfg[m].max_errors = cfg->smtpd_hard_error_limit;
		w->pcfg[m].auth_required = m == SMTP_MODE_SUBMISSION && cfg->submission_auth_required;
		w->la[m].w = w;
		w->la[m].mode = (enum smtp_mode)m;
		if (ports[m] == 0)
			continue;
		if (m == SMTP_MODE_SMTPS && tls == NULL) {
			snprintf(err, errlen, "smtps_port %u needs tls_cert_file and tls_key_file", ports[m]);
			smtp_worker_free(w);
			return NULL;
		}
		if (tcp_listen(ctx, (uint16_t)ports[m], &client_ops, &w->la[m]) != 0) {
			snprintf(err, errlen, "cannot listen on port %u", ports[m]);
			smtp_worker_free(w);
			return NULL;
		}
	}
	return w;
}

/* Publish a new access map to this worker (service lcore). */
void smtp_worker_set_policy(struct smtp_worker *w, const struct pol_snapshot *pol)
{
	__atomic_store_n(&w->pol, pol, __ATOMIC_RELEASE);
}

/* Publish a new TLS context for new sessions (service lcore). */
void smtp_worker_set_tls(struct smtp_worker *w, struct tls_ctx *tls)
{
	__atomic_store_n(&w->tls, tls, __ATOMIC_RELEASE);
}

/* Refuse (or accept again) new sessions (service lcore). */
void smtp_worker_set_draining(struct smtp_worker *w, int on)
{
	__atomic_store_n(&w->draining, on, __ATOMIC_RELEASE);
}

/* Ask the worker for a list of its sessions (service lcore). */
void smtp_worker_request_list(struct smtp_worker *w, char *buf, size_t len)
{
	w->list_len = len;
	__atomic_store_n(&w->list_done, -1, __ATOMIC_RELAXED);
	__atomic_store_n(&w->list_buf, buf, __ATOMIC_RELEASE);
}

/* The list's length once the worker wrote it, or -1 while it has not. */
long smtp_worker_list_done(struct smtp_worker *w)
{
	return __atomic_load_n(&w->list_done, __ATOMIC_ACQUIRE);
}

/* On the worker: write one line per live session into the buffer asked for. */
static void list_sessions(struct smtp_worker *w, char *buf)
{
	size_t o = 0;
	struct sess *s;

	buf[0] = '\0';
	for (s = w->live; s != NULL && o + 256 < w->list_len; s = s->lnext) {
		int n = snprintf(buf + o, w->list_len - o,
				 "id=%s lcore=%u client=%s port=%u mode=%s state=%s tls=%s cipher=%s "
				 "verify=%s helo=%s age_s=%llu\n",
				 s->id, w->ctx->lcore_id, s->addr, s->port,
				 s->mode == SMTP_MODE_SMTPS ? "smtps" : s->mode == SMTP_MODE_SUBMISSION ?
				 "submission" : "smtp",
				 s->cst == C_TLS_HS ? "TLS_HANDSHAKE" : s->cst == C_CLOSING ? "CLOSING" :
				 s->cst == C_GREET_DELAY ? "GREET_DELAY" : smtp_proto_state_name(&s->p),
				 s->tls_up ? s->mac.version : "-", s->tls_up ? s->mac.cipher : "-",
				 s->tls_up ? s->mac.verify : "NONE", s->p.helo[0] ? s->p.helo : "-",
				 (unsigned long long)((w->ctx->now_us - s->born_us) / 1000000));
		if (n < 0 || (size_t)n >= w->list_len - o)
			break;
		o += (size_t)n;
	}
	__atomic_store_n(&w->list_buf, NULL, __ATOMIC_RELAXED);
	__atomic_store_n(&w->list_done, (long)o, __ATOMIC_RELEASE);
}

unsigned smtp_worker_poll(struct smtp_worker *w)
{
	unsigned n = 0;
	char *lb = __atomic_load_n(&w->list_buf, __ATOMIC_ACQUIRE);

	if (lb != NULL)
		list_sessions(w, lb);
	sess_reap(w);
	if (w->tw != NULL && tls_worker_pending(w->tw))
		n = tls_worker_run(w->tw, 64);
	n += auth_poll(w);
	sess_reap(w);
	return n;
}

void smtp_worker_free(struct smtp_worker *w)
{
	if (w == NULL)
		return;
	sess_reap(w);
	free(w->limits);
	if (w->tw)
		tls_worker_free(w->tw);
	tls_ctx_free(w->client_tls);
	free(w);
}

void smtp_worker_print_labelled(FILE *f, const void *worker, unsigned lcore)
{
	const struct smtp_worker *w = worker;
	unsigned t, a, i, n = __atomic_load_n(&w->nciphers, __ATOMIC_ACQUIRE);

	for (t = 0; t < POL_TAG_COUNT; t++)
		for (a = 1; a < 5; a++)
			if (w->pol_decisions[t][a])
				fprintf(f, "mxgate_smtp_policy_decisions_total{lcore=\"%u\",tag=\"%s\",action=\"%s\"} %llu\n",
					lcore, pol_tag_names[t], pol_action_names[a],
					(unsigned long long)w->pol_decisions[t][a]);
	for (i = 0; i < n; i++)
		fprintf(f, "mxgate_smtp_tls_cipher_total{lcore=\"%u\",version=\"%s\",cipher=\"%s\"} %llu\n",
			lcore, w->ciphers[i].version, w->ciphers[i].name, (unsigned long long)w->ciphers[i].n);
	for (i = 0; i < SMTP_W_COUNT; i++)
		if (w->timeouts_after[i])
			fprintf(f, "mxgate_smtp_timeouts_after_total{lcore=\"%u\",after=\"%s\"} %llu\n",
				lcore, smtp_where_names[i], (unsigned long long)w->timeouts_after[i]);
	for (i = 0; i < BW_COUNT; i++)
		if (w->backend_timeouts[i])
			fprintf(f, "mxgate_smtp_backend_timeouts_by_wait_total{lcore=\"%u\",waiting=\"%s\"} %llu\n",
				lcore, bwhat_names[i], (unsigned long long)w->backend_timeouts[i]);
	if (w->ciphers[SMTP_CIPHER_SLOTS].n)
		fprintf(f, "mxgate_smtp_tls_cipher_total{lcore=\"%u\",version=\"other\",cipher=\"other\"} %llu\n",
			lcore, (unsigned long long)w->ciphers[SMTP_CIPHER_SLOTS].n);
}

const struct smtp_stats *smtp_worker_stats(const struct smtp_worker *w)
{
	return &w->st;
}
