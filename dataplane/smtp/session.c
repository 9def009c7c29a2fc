/*
 * session.c - SMTP sessions of one worker lcore: the client side.
 *
 * The TCP connection, TLS (after STARTTLS, or from the first byte on 465),
 * and the protocol engine (smtp_proto.c), fed with what TCP or TLS
 * delivered; deadlines, stress mode, the access map's stages and Limit:,
 * AUTH through the service lcore, counters. The engine's events that need
 * the backend MTA go to the session's relay (relay.c: opened at the first
 * MAIL, so STARTTLS and HELO are known), which reports back through its
 * ops table; the transaction lives in struct smtp_tx (tx.h). The client
 * hears 250 for its message only after the backend said 250; any backend
 * failure becomes a 4xx.
 *
 * Memory per session is bounded: the engine's buffers, a TLS input buffer,
 * the relay (with its reply buffer) once MAIL came. Input is only read
 * when there is room to pass it on (the client's window closes otherwise).
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
#include "dataplane/smtp/smtp_proto.h"
#include "dataplane/smtp/gate.h"
#include "dataplane/smtp/relay.h"
#include "dataplane/smtp/relay_wire.h"
#include "dataplane/smtp/slog.h"
#include "dataplane/smtp/tcp_tls.h"
#include "dataplane/smtp/tx.h"
#include "crypto/tls.h"
#include "policy/policy.h"
#include "dataplane/smtp/auth.h"

const char *const smtp_stat_names[] = {
#define X(n) #n,
	SMTP_STATS(X)
#undef X
};

enum cstate { C_GREET_DELAY, C_SMTP, C_TLS_HS, C_CLOSING };

/* Commands counted for the disconnect line (Postfix's "ehlo=1 mail=1 ..."), in its order. */
enum sess_cmd { CMD_EHLO, CMD_HELO, CMD_STARTTLS, CMD_AUTH, CMD_MAIL, CMD_RCPT, CMD_DATA, CMD_RSET, CMD_QUIT,
		CMD_COUNT };

#define TLS_IN_MAX     4096     /* decrypted client bytes waiting for the engine */


/* Handshakes of one cipher (names published before they are counted). */
struct cipher_count {
	char version[12], name[64];
	uint64_t n;
};


struct listen_arg {
	struct smtp_worker *w;
	enum smtp_mode mode;
};

struct smtp_worker {
	struct net_ctx *ctx;
	const struct mx_config *cfg;
	struct tls_ctx *tls;
	struct auth_service *auth;    /* SMTP AUTH checks (service lcore), NULL = none */
	struct tls_worker *tw;
	struct smtp_cfg pcfg[3];  /* per enum smtp_mode */
	struct listen_arg la[3];
	struct relay_pool rp;     /* the backends */
	uint32_t next_id;
	struct sess *dead;        /* killed sessions, freed at the next poll */
	struct sess *live;        /* every session not killed (for listing) */
	struct gate gate;         /* the access map's stages, Limit:, decision counters */
	int draining;             /* set by the service lcore: refuse new sessions */
	char *list_buf;           /* set by the service lcore: list sessions here */
	size_t list_len;
	long list_done;           /* -1 while a list is asked for, else its length */
	int stress;               /* Postfix's stress mode: sessions are scarce, deadlines cut */
	struct smtp_stats st;
	uint64_t timeouts_after[SMTP_W_COUNT];     /* client timeouts by the last command */
	struct cipher_count ciphers[SMTP_CIPHER_SLOTS + 1];  /* the last: "other" */
	unsigned nciphers;        /* published with a release store */
};

/* The TLS facts every TLS session keeps (the certificate DNs live apart). */
struct tls_brief {
	char verify[12], version[12], cipher[64];
	int cipher_bits, alg_bits;
};

struct sess {
	struct smtp_worker *w;
	struct tcp_conn *c;
	struct tls_conn *tls;
	enum smtp_mode mode;
	enum cstate cst;
	int client_gone, shut, dead;
	uint64_t req_start_us;    /* the current command began (its deadline runs from here) */
	uint64_t data_deadline_us; /* the message must be in by then (extended as bytes come) */
	uint64_t data_last_us;    /* message bytes last came */
	uint64_t paused_us;       /* the client's deadline is paused since (0 = running) */
	struct sess *lnext, *lprev; /* the worker's live list */
	struct gate_slot *lim;    /* counted under a Limit: entry, or NULL */
	uint64_t born_us;
	struct smtp_cfg pcfg;     /* the engine's settings for this session (Srv_Features) */
	struct sess *next_dead;
	char id[12];
	char addr[INET6_ADDRSTRLEN];
	uint16_t port;
	struct smtp_tx tx;        /* the transaction */
	struct relay *relay;      /* the backend side, allocated at the first MAIL */
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
	unsigned n_cmds[CMD_COUNT]; /* by enum sess_cmd, for the disconnect line */
	struct smtp_proto p;
};

static const struct tcp_app_ops client_ops;
static void client_pump(struct sess *s);
static void client_flush(struct sess *s);

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
	uint64_t now = tcp_now_us(s->w->ctx), deadline;

	if (s->dead || s->c == NULL || s->cst != C_SMTP)
		return;
	if (s->p.owed || relay_space_waiting(s->relay)) {
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
	uint64_t now = tcp_now_us(s->w->ctx);

	s->data_last_us = now;
	s->data_deadline_us = now + (uint64_t)s->w->cfg->smtpd_data_timeout_ms * 1000;
	s->paused_us = 0;          /* the wait for the 354 is over: the message's own deadline runs */
}

/* n message bytes came: extend the deadline at smtpd_min_data_rate, never past the timeout from now. */
static void data_progress(struct sess *s, size_t n)
{
	const struct mx_config *cfg = s->w->cfg;
	uint64_t now = tcp_now_us(s->w->ctx), cap = now + (uint64_t)cfg->smtpd_data_timeout_ms * 1000;

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
		slog(w->cfg->hostname, "warning: %llu of %u sessions in use: stress mode on, deadlines cut to %u ms, "
		     "new sessions closed after %u errors", (unsigned long long)w->st.active,
		     cfg->max_sessions, cfg->smtpd_stress_timeout_ms, cfg->smtpd_stress_error_limit);
		for (s = w->live; s != NULL; s = s->lnext)
			client_arm(s);      /* idle sessions get the cut deadline now */
	} else if (w->stress && used + (uint64_t)cfg->max_sessions * 10 < limit) {
		w->stress = 0;
		slog(w->cfg->hostname, "stress mode off: %llu of %u sessions in use", (unsigned long long)w->st.active,
		     cfg->max_sessions);
	}
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
	gate_release(s->lim);
	w->st.line_too_long += s->p.stat_refusal[SMTP_R_LINE_TOO_LONG];
	w->st.nul_in_data += s->p.stat_refusal[SMTP_R_NUL];
	w->st.tls_unavailable += s->p.stat_tls_unavailable;
	w->st.auth_refused += s->p.stat_auth_refused;
	w->st.reject_530_starttls += s->p.stat_530_starttls;
	w->st.reject_530_auth += s->p.stat_530_auth;
	slog(w->cfg->hostname, "disconnect from unknown[%s] ehlo=%u helo=%u starttls=%u auth=%u mail=%u rcpt=%u data=%u "
	     "rset=%u quit=%u", s->addr, s->n_cmds[CMD_EHLO], s->n_cmds[CMD_HELO], s->n_cmds[CMD_STARTTLS],
	     s->n_cmds[CMD_AUTH], s->n_cmds[CMD_MAIL], s->n_cmds[CMD_RCPT], s->n_cmds[CMD_DATA], s->n_cmds[CMD_RSET],
	     s->n_cmds[CMD_QUIT]);
	relay_close(s->relay);           /* aborted if a message is half sent */
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
		relay_free(s->relay);
		free(s->tin);
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
		if (auth_submit(w->auth, tcp_worker(w->ctx), r) == 0) {
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
		slog(w->cfg->hostname, "%s: client=unknown[%s], sasl_method=%s, sasl_username=%s", s->id, s->addr,
		     s->sasl_method, s->login);
		smtp_proto_answerf(&s->p, 235, "2.7.0", "Authentication successful");
		break;
	case AUTH_FAIL:
		w->st.auth_failed++;
		slog(w->cfg->hostname, "warning: unknown[%s]: SASL %s authentication failed: authentication failure",
		     s->addr, s->sasl_method);
		smtp_proto_answerf(&s->p, 535, "5.7.8", "Error: authentication failed: authentication failure");
		break;
	case AUTH_LIMITED:
		w->st.auth_limited++;
		slog(w->cfg->hostname, "warning: unknown[%s]: SASL %s authentication refused: too many failures",
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

	while (w->auth != NULL && (r = auth_take(w->auth, tcp_worker(w->ctx))) != NULL) {
		struct sess *s = r->owner;

		if (s != NULL)
			auth_answer(s, r);
		memset(r, 0, sizeof(*r));
		free(r);
		n++;
	}
	return n;
}

/* The client's TLS transport: read. */
static long tls_tr_read(void *arg, uint8_t *buf, size_t len)
{
	return tcp_tls_read(((struct sess *)arg)->c, buf, len);
}

/* The client's TLS transport: write. */
static long tls_tr_write(void *arg, const uint8_t *buf, size_t len)
{
	return tcp_tls_write(((struct sess *)arg)->c, buf, len);
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
	slog(s->w->cfg->hostname, "%s TLS connection established from unknown[%s]: %s with cipher %s (%d/%d bits)",
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
		s->req_start_us = tcp_now_us(s->w->ctx);
		client_flush(s);
		client_pump(s);
		return;
	case TLS_WANT_READ:
	case TLS_WANT_WRITE:
	case TLS_WANT_KEY:
		return;
	default:
		s->w->st.tls_failed++;
		slog(s->w->cfg->hostname, "SSL_accept error from unknown[%s]: %s", s->addr,
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

/* ---- the relay to the backend (relay.c), seen from the session ---- */

/* The Received header in sendmail's form, folded, sent ahead of the message. */
static void send_received(struct sess *s)
{
	char hdr[RW_RECEIVED_MAX];
	const struct rw_received_info r = {
		.helo = s->p.helo, .addr = s->addr, .hostname = s->w->cfg->hostname, .id = s->id,
		.ehlo = s->p.ehlo, .tls = s->tls_up, .auth = s->login != NULL,
		.version = s->mac.version, .cipher = s->mac.cipher, .verify = s->mac.verify,
		.cipher_bits = s->mac.cipher_bits, .rcpt = s->tx.nrcpt_ok == 1 ? s->tx.first_rcpt : NULL,
		.when = time(NULL),
	};
	size_t n = rw_received(&r, hdr, sizeof(hdr));

	if (n > 0)
		relay_send(s->relay, hdr, n);
}

/* Pass the backend's reply to the client; one it cannot use ends the backend with a 4xx. */
static void answer_with_backend_reply(struct sess *s, const char *rep, size_t len)
{
	if (smtp_proto_answer(&s->p, rep, len) == 0)
		return;
	relay_fail(s->relay, "reply unfit for the client");
	if (!s->dead && s->p.owed)
		smtp_proto_answerf(&s->p, 451, "4.4.1", "Error: backend reply unusable, try again later");
}

/* The backend answered what the session handed over: answer the client. */
static int relay_replied(void *owner, enum relay_wait was, int code, const char *rep, size_t len)
{
	struct sess *s = owner;
	struct smtp_worker *w = s->w;

	switch (was) {
	case RELAY_W_MAIL:
	case RELAY_W_RCPT:
		if (code >= 200 && code < 300 && s->p.owed == SMTP_EV_RCPT) {
			tx_rcpt_ok(&s->tx, s->p.arg);
		} else if (code >= 400 && s->p.owed == SMTP_EV_RCPT) {
			slog(w->cfg->hostname, "NOQUEUE: reject: RCPT from unknown[%s]: %.*s; to=<%s> proto=%s helo=<%s>",
			     s->addr, (int)strcspn(rep, "\r\n"), rep, s->p.arg, s->p.ehlo ? "ESMTP" : "SMTP", s->p.helo);
		}
		answer_with_backend_reply(s, rep, len);
		break;
	case RELAY_W_DATA:
		if (code == 354) {
			s->tx.data_started = 1;
			s->tx.msg_bytes = 0;
			send_received(s);
			data_begin(s);
			smtp_proto_answerf(&s->p, 354, NULL, "End data with <CR><LF>.<CR><LF>");
		} else {
			count_message_refusal(w, code);
			answer_with_backend_reply(s, rep, len);
		}
		break;
	case RELAY_W_DOT:
		s->tx.data_started = 0;
		if (code >= 200 && code < 300)
			w->st.messages_accepted++;
		else if (code >= 500)
			w->st.messages_rejected++;
		else
			w->st.messages_tempfailed++;
		slog(w->cfg->hostname, "%s: from=<%s>, size=%llu, nrcpt=%u, relay=backend%d, status=%s (%.*s)", s->id,
		     s->tx.mail_from, (unsigned long long)s->tx.msg_bytes, s->tx.nrcpt_ok, relay_backend(s->relay),
		     code < 300 ? "sent" : code < 500 ? "deferred" : "bounced", (int)strcspn(rep, "\r\n"), rep);
		answer_with_backend_reply(s, rep, len);
		break;
	default:                     /* RSET: nothing to tell the client */
		break;
	}
	if (s->dead || !relay_connected(s->relay))
		return 1;
	if (code == 421 && s->cst == C_SMTP) {
		/* the backend is closing: so does the session, once the reply is out */
		s->cst = C_CLOSING;
		client_flush(s);
		return 1;
	}
	return 0;
}

/* The backend is lost: answer what is owed with a 4xx. */
static void relay_failed(void *owner, const struct relay_loss *loss)
{
	struct sess *s = owner;
	struct smtp_worker *w = s->w;

	if (s->client_gone || s->dead)
		return;
	if (loss->in_message || s->tx.data_started) {
		/* the engine may still be reading the message: refuse it at its end */
		s->tx.b_failed = 1;
		if (loss->was == RELAY_W_DOT || loss->was == RELAY_W_DATA) {
			smtp_proto_answerf(&s->p, 451, "4.4.1", "Error: backend failed, try again later");
			w->st.messages_tempfailed++;
			tx_message_end(&s->tx);
		}
	} else if (loss->mail_unplaced) {
		smtp_proto_answerf(&s->p, 451, "4.4.1", "Error: no backend available, try again later");
	} else if (loss->was == RELAY_W_RCPT || loss->was == RELAY_W_DATA || loss->cmd_pending) {
		/* the backend had MAIL (and maybe recipients): that transaction is gone */
		smtp_proto_answerf(&s->p, 421, "4.4.2", "Error: backend connection lost, try again later");
		s->cst = C_CLOSING;
	}
	client_pump(s);
}

/* The relay can take more: feed the client's input again. */
static void relay_writable(void *owner)
{
	client_pump(owner);
}

/* What the relay announces of the client (PROXY v2, XCLIENT, its HELO). */
_Static_assert(AUTH_USER_MAX <= 255, "rw_xclient() holds the xtext of a user of 255 bytes");
static void relay_client_facts(void *owner, struct relay_client *c)
{
	const struct sess *s = owner;

	*c = (struct relay_client){
		.tuple = tcp_tuple(s->c), .addr = s->addr, .port = s->port, .helo = s->p.helo,
		.ehlo = s->p.ehlo, .login = s->login, .tls = s->tls_up, .verify = s->mac.verify,
		.version = s->mac.version, .cipher = s->mac.cipher,
		.cn = s->cert != NULL ? s->cert->cn_subject : NULL,
	};
}

static const struct relay_ops sess_relay_ops = {
	.replied = relay_replied,
	.failed = relay_failed,
	.writable = relay_writable,
	.client = relay_client_facts,
};

/* Hand a command to the backend (opened at the first MAIL); a backend that cannot take it: 4xx. */
static void __attribute__((format(printf, 3, 4))) backend_command(struct sess *s, enum relay_wait wait,
								  const char *fmt, ...)
{
	enum relay_status st;
	va_list ap;

	if (s->relay == NULL && (s->relay = relay_new(&s->w->rp, &sess_relay_ops, s, s->id)) == NULL) {
		smtp_proto_answerf(&s->p, 451, "4.3.0", "Error: out of memory, try again later");
		return;
	}
	va_start(ap, fmt);
	st = relay_command(s->relay, wait, fmt, ap);
	va_end(ap);
	switch (st) {
	case RELAY_GONE:
		/* the backend that had this transaction's MAIL is gone */
		if (wait == RELAY_W_DATA)
			count_message_refusal(s->w, 421);
		smtp_proto_answerf(&s->p, 421, "4.4.2", "Error: backend connection lost, try again later");
		s->cst = C_CLOSING;
		return;
	case RELAY_NO_BACKEND:
		smtp_proto_answerf(&s->p, 451, "4.4.1", "Error: no backend available, try again later");
		return;
	case RELAY_OK:
		return;
	}
}

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

/* Answer an owed MAIL/RCPT with a policy refusal and log it as Postfix does. */
static void pol_refuse(struct sess *s, const struct pol_result *r, const char *stage, const char *who)
{
	slog(s->w->cfg->hostname, "NOQUEUE: reject: %s from unknown[%s]: %d %s <%s>: %s; from=<%s> proto=%s helo=<%s>",
	     stage, s->addr, r->code, r->enh, who, r->text, s->tx.mail_from, s->p.ehlo ? "ESMTP" : "SMTP",
	     s->p.helo);
	smtp_proto_answerf(&s->p, r->code, r->enh, "<%s>: %s", who, r->text);
}

/* The access map's word on a MAIL or RCPT; 1 when it refused (answer sent). */
static int pol_stage(struct sess *s, int rcpt, const char *arg)
{
	struct pol_client pc;
	struct pol_result r;
	char issuer[512], subject[512];
	const struct pol_snapshot *pol = gate_policy(&s->w->gate);

	if (pol == NULL)
		return 0;
	pol_client_of(s, &pc, issuer, subject, sizeof(issuer));
	r = gate_mail_rcpt(&s->w->gate, pol, &pc, rcpt, arg);
	if (r.action == POL_REJECT) {
		pol_refuse(s, &r, rcpt ? "RCPT" : "MAIL", arg);
		return 1;
	}
	if (r.action == POL_DISCARD)
		s->tx.discard = 1;
	return 0;
}

/* ---- client input ---- */

/* Act on one engine event. Returns 0 to go on, -1 to stop feeding input. */
static int client_event(struct sess *s, enum smtp_ev ev, const struct smtp_evinfo *ei)
{
	struct smtp_worker *w = s->w;

	switch (ev) {
	case SMTP_EV_HELO:
		s->n_cmds[s->p.ehlo ? CMD_EHLO : CMD_HELO]++;
		return 0;
	case SMTP_EV_STARTTLS: {
		size_t junk = s->c ? tcp_readable(s->c) : 0;

		s->n_cmds[CMD_STARTTLS]++;
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
		s->n_cmds[CMD_MAIL]++;
		tx_begin(&s->tx, ei->arg);
		if (pol_stage(s, 0, ei->arg))
			return 0;
		if (s->tx.discard) {
			smtp_proto_answerf(&s->p, 250, "2.1.0", "Ok");
			return 0;
		}
		backend_command(s, RELAY_W_MAIL, "MAIL FROM:<%s>%s%s\r\n", ei->arg,
				ei->params && ei->params[0] ? " " : "", ei->params ? ei->params : "");
		return 0;
	case SMTP_EV_RCPT:
		s->n_cmds[CMD_RCPT]++;
		if (pol_stage(s, 1, ei->arg))
			return 0;
		if (s->tx.discard) {
			smtp_proto_answerf(&s->p, 250, "2.1.5", "Ok");
			return 0;
		}
		backend_command(s, RELAY_W_RCPT, "RCPT TO:<%s>%s%s\r\n", ei->arg,
				ei->params && ei->params[0] ? " " : "", ei->params ? ei->params : "");
		return 0;
	case SMTP_EV_DATA:
		s->n_cmds[CMD_DATA]++;
		if (s->tx.discard) {
			s->tx.data_started = 1;
			s->tx.msg_bytes = 0;
			data_begin(s);
			smtp_proto_answerf(&s->p, 354, NULL, "End data with <CR><LF>.<CR><LF>");
			return 0;
		}
		backend_command(s, RELAY_W_DATA, "DATA\r\n");
		return 0;
	case SMTP_EV_DATA_LINE:
		s->tx.msg_bytes += ei->len;
		w->st.message_bytes += ei->len;
		data_progress(s, ei->len);
		if (s->tx.discard || s->tx.b_failed || !relay_connected(s->relay))
			return 0;      /* swallowed: discarded, or refused at the end */
		relay_send(s->relay, ei->data, ei->len);   /* a failure ends the backend: 451 at the end */
		return 0;
	case SMTP_EV_DATA_END:
		if (ei->error != SMTP_OK) {
			w->st.messages_rejected++;
			relay_drop(s->relay);   /* part of the message went out: the backend must drop it */
			tx_message_end(&s->tx);
			return 0;
		}
		if (s->tx.discard) {
			tx_message_end(&s->tx);
			w->st.policy_discards++;
			slog(w->cfg->hostname, "%s: discard: from=<%s> size=%llu (access map)", s->id, s->tx.mail_from,
			     (unsigned long long)s->tx.msg_bytes);
			smtp_proto_answerf(&s->p, 250, "2.0.0", "Ok: discarded");
			return 0;
		}
		if (s->tx.b_failed || !relay_connected(s->relay)) {
			tx_message_end(&s->tx);
			w->st.messages_tempfailed++;
			smtp_proto_answerf(&s->p, 451, "4.4.1", "Error: backend failed, try again later");
			return 0;
		}
		relay_end_message(s->relay);
		return 0;
	case SMTP_EV_AUTH:
		s->n_cmds[CMD_AUTH]++;
		auth_ask(s, ei);
		return 0;
	case SMTP_EV_RSET:
		s->n_cmds[CMD_RSET]++;
		relay_rset(s->relay);
		return 0;
	case SMTP_EV_QUIT:
		s->n_cmds[CMD_QUIT]++;
		s->cst = C_CLOSING;
		client_flush(s);
		return -1;
	case SMTP_EV_CLOSE:
		if (relay_busy(s->relay))
			relay_drop(s->relay);   /* closing mid-message: nothing half-sent is delivered */
		if (ei->error == SMTP_R_NON_SMTP) {
			w->st.non_smtp_command++;
			slog(w->cfg->hostname, "warning: non-SMTP command from unknown[%s]: %.100s", s->addr, ei->arg);
		} else if (ei->error == SMTP_R_NUL) {
			slog(w->cfg->hostname, "warning: NUL character in message from unknown[%s]", s->addr);
		} else if (ei->error == SMTP_R_TOO_MANY_ERRORS) {
			slog(w->cfg->hostname, "too many errors after %s from unknown[%s]", smtp_where_names[s->p.where], s->addr);
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
	int was_bp = relay_space_waiting(s->relay);

	relay_space_wait(s->relay, 0);
	while (!s->dead && s->c != NULL && s->cst == C_SMTP && rounds++ < 4096) {
		const uint8_t *in;
		size_t len, used = 0;
		struct smtp_evinfo ei;
		enum smtp_ev ev;

		client_flush(s);             /* drained output lets the engine take more */
		if (s->dead || s->c == NULL || s->cst != C_SMTP)
			break;
		if (smtp_proto_in_data(&s->p) && !s->tx.b_failed && relay_full(s->relay)) {
			/* backend full: the client's window closes until the backend drains */
			relay_space_wait(s->relay, 1);
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
		s->req_start_us = tcp_now_us(s->w->ctx);
	if (relay_space_waiting(s->relay) != was_bp)
		relay_arm(s->relay);
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
	addr_text(tcp_tuple(c), s->addr, sizeof(s->addr));
	s->port = tcp_tuple(c)->rport;
	snprintf(s->id, sizeof(s->id), "%02X%08X", tcp_worker(tcp_net(c)) & 0xff, w->next_id++);
	tcp_set_app(c, &client_ops, s);
	slog(w->cfg->hostname, "connect from unknown[%s]", s->addr);
	s->pcfg = w->pcfg[la->mode];
	s->pcfg.tls_available = __atomic_load_n(&w->tls, __ATOMIC_ACQUIRE) != NULL;
	if (w->stress) {
		/* Postfix under stress: hard error limit 1, junk command limit 1 */
		if (s->pcfg.max_errors == 0 || s->pcfg.max_errors > w->cfg->smtpd_stress_error_limit)
			s->pcfg.max_errors = w->cfg->smtpd_stress_error_limit;
		s->pcfg.max_junk = w->cfg->smtpd_stress_error_limit;
	}
	s->born_us = tcp_now_us(w->ctx);
	s->lnext = w->live;
	if (w->live)
		w->live->lprev = s;
	w->live = s;
	if (__atomic_load_n(&w->draining, __ATOMIC_ACQUIRE)) {
		smtp_proto_init(&s->p, &s->pcfg, SMTP_INIT_NO_BANNER);   /* the 421 is all it hears */
		s->cst = C_SMTP;
		client_close_with(s, 421, "4.3.2", "Service shutting down, try again later");
		return;
	}
	pol = gate_policy(&w->gate);
	if (pol != NULL) {
		struct pol_client pc;
		struct gate_conn gc;
		const struct pol_features *f = &gc.f;
		const struct pol_result *r = &gc.r;
		char dn1[8], dn2[8];
		enum gate_verdict v;

		pol_client_of(s, &pc, dn1, dn2, sizeof(dn1));
		v = gate_connect(&w->gate, pol, &pc, &gc);
		if (v == GATE_REJECT) {
			slog(w->cfg->hostname, "NOQUEUE: reject: CONNECT from unknown[%s]: %d %s %s; proto=SMTP",
			     s->addr, r->code, r->enh, r->text);
			smtp_proto_init(&s->p, &s->pcfg, SMTP_INIT_NO_BANNER);   /* the refusal is all it hears */
			s->cst = C_SMTP;
			client_close_with(s, r->code, r->enh, r->text);
			return;
		}
		if (v == GATE_LIMITED) {
			slog(w->cfg->hostname, "NOQUEUE: reject: CONNECT from unknown[%s]: 421 4.7.0 %s; proto=SMTP", s->addr,
			     gc.why);
			smtp_proto_init(&s->p, &s->pcfg, SMTP_INIT_NO_BANNER);   /* the refusal is all it hears */
			s->cst = C_SMTP;
			client_close_with(s, 421, "4.7.0", gc.why);
			return;
		}
		s->lim = gc.slot;
		if (gc.has_features) {
			if (f->off & POL_SF_STARTTLS)
				s->pcfg.tls_available = 0;                      /* S: no STARTTLS */
			s->no_auth = (f->off & POL_SF_AUTH) != 0;               /* A: no AUTH */
			s->no_client_cert = (f->off & POL_SF_VERIFY) != 0;      /* V: no certificate asked */
			s->ask_client_cert = (f->on & POL_SF_VERIFY) != 0;      /* v: asked, even if not by default */
			if (f->on & POL_SF_AUTH_REQUIRED)
				s->pcfg.auth_required = 1;                      /* l: AUTH before MAIL */
			else if (f->off & POL_SF_AUTH_REQUIRED)
				s->pcfg.auth_required = 0;                      /* L: not even on 587 */
		}
	}
	s->pcfg.auth_available = !s->no_auth && auth_offered(w->auth);
	/* with a greeting delay the banner waits for the timer (smtp_proto_greet() there) */
	smtp_proto_init(&s->p, &s->pcfg, w->cfg->smtpd_greet_delay_ms > 0 ? SMTP_INIT_NO_BANNER : 0);
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
	s->req_start_us = tcp_now_us(w->ctx);
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
		slog(s->w->cfg->hostname, "PREGREET %zu after 0 from [%s]:%u", tcp_readable(c), s->addr, s->port);
		tcp_consume(c, tcp_readable(c));
		s->cst = C_SMTP;                   /* the 554 replaces the banner, never queued */
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
		s->req_start_us = tcp_now_us(s->w->ctx);
		smtp_proto_greet(&s->p);
		client_flush(s);
		client_arm(s);
		return;
	}
	s->w->st.timeouts++;
	s->w->timeouts_after[s->p.where]++;
	if (smtp_proto_in_data(&s->p))
		slog(s->w->cfg->hostname, "timeout after DATA (%llu bytes) from unknown[%s]", (unsigned long long)s->tx.msg_bytes,
		     s->addr);
	else
		slog(s->w->cfg->hostname, "timeout after %s from unknown[%s]", smtp_where_names[s->p.where], s->addr);
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
	unsigned m;

	if (w == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->ctx = ctx;
	w->cfg = cfg;
	w->tls = tls;
	gate_init(&w->gate, ctx, pol, &w->st);
	w->auth = auth;
	if (tls != NULL) {
		w->tw = tls_worker_new(tls_key_done);
		if (w->tw == NULL) {
			snprintf(err, errlen, "out of memory for the TLS worker");
			free(w);
			return NULL;
		}
	}
	if (relay_pool_init(&w->rp, ctx, cfg, &w->st, err, errlen) != 0) {
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
		w->pcfg[m].max_junk = cfg->smtpd_junk_command_limit;
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
	gate_set_policy(&w->gate, pol);
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
				 s->id, tcp_lcore(w->ctx), s->addr, s->port,
				 s->mode == SMTP_MODE_SMTPS ? "smtps" : s->mode == SMTP_MODE_SUBMISSION ?
				 "submission" : "smtp",
				 s->cst == C_TLS_HS ? "TLS_HANDSHAKE" : s->cst == C_CLOSING ? "CLOSING" :
				 s->cst == C_GREET_DELAY ? "GREET_DELAY" : smtp_proto_state_name(&s->p),
				 s->tls_up ? s->mac.version : "-", s->tls_up ? s->mac.cipher : "-",
				 s->tls_up ? s->mac.verify : "NONE", s->p.helo[0] ? s->p.helo : "-",
				 (unsigned long long)((tcp_now_us(w->ctx) - s->born_us) / 1000000));
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
	while (w->live != NULL)
		sess_kill(w->live, 1);     /* sessions still open at shutdown: reset, then freed */
	sess_reap(w);
	gate_free(&w->gate);
	if (w->tw)
		tls_worker_free(w->tw);
	relay_pool_free(&w->rp);
	free(w);
}

void smtp_worker_print_labelled(FILE *f, const void *worker, unsigned lcore)
{
	const struct smtp_worker *w = worker;
	unsigned i, n = __atomic_load_n(&w->nciphers, __ATOMIC_ACQUIRE);

	gate_print_labelled(f, &w->gate, lcore);
	for (i = 0; i < n; i++)
		fprintf(f, "mxgate_smtp_tls_cipher_total{lcore=\"%u\",version=\"%s\",cipher=\"%s\"} %llu\n",
			lcore, w->ciphers[i].version, w->ciphers[i].name, (unsigned long long)w->ciphers[i].n);
	for (i = 0; i < SMTP_W_COUNT; i++)
		if (w->timeouts_after[i])
			fprintf(f, "mxgate_smtp_timeouts_after_total{lcore=\"%u\",after=\"%s\"} %llu\n",
				lcore, smtp_where_names[i], (unsigned long long)w->timeouts_after[i]);
	for (i = 0; i < RELAY_BW_COUNT; i++)
		if (w->rp.timeouts[i])
			fprintf(f, "mxgate_smtp_backend_timeouts_by_wait_total{lcore=\"%u\",waiting=\"%s\"} %llu\n",
				lcore, relay_what_names[i], (unsigned long long)w->rp.timeouts[i]);
	if (w->ciphers[SMTP_CIPHER_SLOTS].n)
		fprintf(f, "mxgate_smtp_tls_cipher_total{lcore=\"%u\",version=\"other\",cipher=\"other\"} %llu\n",
			lcore, (unsigned long long)w->ciphers[SMTP_CIPHER_SLOTS].n);
}

const struct smtp_stats *smtp_worker_stats(const struct smtp_worker *w)
{
	return &w->st;
}
