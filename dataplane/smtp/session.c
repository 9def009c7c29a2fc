/*
 * session.c - SMTP sessions of one worker lcore: the client side.
 *
 * The TCP connection, TLS (after STARTTLS, or from the first byte on 465:
 * the handshake in sess_tls.c), and the protocol engine (smtp_proto.c),
 * fed with what TCP or TLS delivered; deadlines, stress mode, the
 * engine's events. The access map's stages are gate.c's, AUTH checks go
 * to the service lcore through sess_auth.c, the worker (listeners,
 * polling, the service lcore's API) is worker.c (sess.h shows how these
 * files divide a session). The engine's events that need
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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include "dataplane/smtp/sess.h"
#include "common/strutil.h"
#include "dataplane/smtp/auth.h"
#include "dataplane/smtp/relay_wire.h"
#include "dataplane/smtp/slog.h"
#include "dataplane/dns/dns.h"
#include "crypto/tls.h"

#define CLOSING_MS     10000    /* to flush the last reply, and then for the client's FIN */

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
	if (s->cst == C_CLOSING && !s->shut && !s->closing_armed) {
		/* the last word may never be read (a closed window): the close is bounded all the same */
		s->closing_armed = 1;
		tcp_set_timeout(s->c, CLOSING_MS);
	}
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
		tcp_set_timeout(s->c, CLOSING_MS);
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
		slog(0, "warning: %llu of %u sessions in use: stress mode on, deadlines cut to %u ms, "
		     "new sessions closed after %u errors", (unsigned long long)w->st.active,
		     cfg->max_sessions, cfg->smtpd_stress_timeout_ms, cfg->smtpd_stress_error_limit);
		for (s = w->live; s != NULL; s = s->lnext)
			client_arm(s);      /* idle sessions get the cut deadline now */
	} else if (w->stress && used + (uint64_t)cfg->max_sessions * 10 < limit) {
		w->stress = 0;
		slog(0, "stress mode off: %llu of %u sessions in use", (unsigned long long)w->st.active,
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
void sess_kill(struct sess *s, int abort_client)
{
	struct smtp_worker *w = s->w;
	char stats[256];

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
	dns_check_free(s->dns);          /* lookups still running: their answers fill the cache only */
	s->dns = NULL;
	w->st.line_too_long += s->p.stat_refusal[SMTP_R_LINE_TOO_LONG];
	w->st.message_too_big += s->p.stat_refusal[SMTP_R_TOO_BIG];
	w->st.too_many_rcpts += s->p.stat_refusal[SMTP_R_TOO_MANY_RCPTS];
	w->st.nul_in_data += s->p.stat_refusal[SMTP_R_NUL];
	w->st.utf8_undeclared += s->p.stat_refusal[SMTP_R_UTF8_UNDECLARED];
	w->st.out_of_memory += s->p.stat_refusal[SMTP_R_NO_MEMORY];
	w->st.tls_unavailable += s->p.stat_tls_unavailable;
	w->st.auth_refused += s->p.stat_auth_refused;
	w->st.reject_530_starttls += s->p.stat_530_starttls;
	w->st.reject_530_auth += s->p.stat_530_auth;
	smtp_proto_cmd_stats(&s->p, stats, sizeof(stats));
	slog(s->key, "disconnect from %s%s", s->namaddr, stats);
	relay_close(s->relay);           /* aborted if a message is half sent */
	w->st.active--;
	stress_update(w);
	s->next_dead = w->dead;
	w->dead = s;
}

/*
 * The client went away without QUIT (before our last word): Postfix's
 * "lost connection after CMD", with the bytes inside a message, and not
 * once the message was answered (Postfix is silent after END-OF-MESSAGE).
 */
static void log_lost(struct sess *s)
{
	if (s->dead || s->cst == C_CLOSING)
		return;
	if (smtp_proto_in_data(&s->p))
		slog(s->key, "lost connection after DATA (%llu bytes) from %s", (unsigned long long)s->tx.msg_bytes,
		     s->namaddr);
	else if (s->p.where != SMTP_W_END_OF_MESSAGE || s->p.owed == SMTP_EV_DATA_END)
		slog(s->key, "lost connection after %s from %s", smtp_where_names[s->p.where], s->namaddr);
	if (s->p.owed == SMTP_EV_DATA_END && relay_busy(s->relay))
		/* the backend has the whole message: aborting it now may be too late */
		slog(s->key, "%s: the client left before the backend's verdict on its message: the message may have "
		     "been delivered, and the client may send it again", sess_qid(s));
}

/* ---- TLS (sess_tls.c), seen from the session ---- */

/* Drive the handshake; once it is done, the session speaks SMTP over TLS. */
static void tls_continue(struct sess *s)
{
	switch (sess_tls_handshake(s)) {
	case SESS_TLS_UP:
		s->cst = C_SMTP;
		/* users may have come (or gone) since the session started */
		s->pcfg.auth_available = !s->no_auth && auth_offered(s->w->auth);
		if (s->mode == SMTP_MODE_SMTPS) {
			s->w->st.smtps++;
			smtp_proto_greet(&s->p);
		} else {
			s->w->st.starttls++;
			smtp_proto_tls_started(&s->p);
			sess_relay_forget(s);      /* RFC 3207 4.2: nothing from before TLS goes on */
		}
		s->req_start_us = tcp_now_us(s->w->ctx);
		client_flush(s);
		sess_pump(s);
		return;
	case SESS_TLS_WAIT:
		return;
	case SESS_TLS_FAILED:
		log_lost(s);               /* Postfix: "lost connection after STARTTLS" (CONNECT on 465) */
		sess_kill(s, 1);
		return;
	}
}

/* A queued private-key operation of this session finished. */
void sess_key_done(void *arg)
{
	struct sess *s = arg;

	if (!s->dead && s->cst == C_TLS_HS && s->c != NULL)
		tls_continue(s);
}

/* ---- the transaction's log lines (Postfix's smtpd, qmgr and smtp) ---- */

/* A recipient was taken: the transaction has its queue ID now, and logs its client (Postfix's smtpd). */
static void tx_queued(struct sess *s)
{
	if (s->qid[0] != '\0')
		return;
	slog_queue_id(&s->w->qid, s->qid);
	if (s->login != NULL)
		slog(s->key, "%s: client=%s, sasl_method=%s, sasl_username=%s", s->qid, s->namaddr, s->sasl_method,
		     s->login);
	else
		slog(s->key, "%s: client=%s", s->qid, s->namaddr);
}

/*
 * A time as Postfix's delay= writes it: two significant digits, 10 ms at
 * best, whole seconds from 10 s, trailing zeros dropped ("0.12", "0.1",
 * "1.5", "3", "42"). Rounded half up in integers (on every relayed message:
 * no floating-point printf); "%.2f" can differ only on an exact half.
 */
static void delay_text(char *b, size_t len, uint64_t us)
{
	unsigned long long v;
	char *e;

	if (us >= 10000000) {
		str_fmt(b, len, "%llu", (unsigned long long)((us + 500000) / 1000000));
		return;
	}
	if (us >= 1000000) {
		v = (us + 50000) / 100000;                  /* tenths */
		str_fmt(b, len, "%llu.%llu", v / 10, v % 10);
	} else {
		v = (us + 5000) / 10000;                    /* hundredths */
		str_fmt(b, len, "%llu.%c%c", v / 100, (char)('0' + v % 100 / 10), (char)('0' + v % 10));
	}
	for (e = b + strlen(b) - 1; *e == '0'; e--)
		*e = '\0';
	if (*e == '.')
		*e = '\0';
}

/* The RFC 3463 code of a reply ("250 2.0.0 Ok" gives 2.0.0), else the class's X.0.0. */
static void dsn_of(const char *rep, int code, char *dsn, size_t len)
{
	size_t n;

	if (strlen(rep) > 6 && rep[4] >= '2' && rep[4] <= '5' && rep[5] == '.' &&
	    (n = strspn(rep + 4, "0123456789.")) >= 5 && n < len && strchr(" \r\n", rep[4 + n]) != NULL)
		str_fmt(dsn, len, "%.*s", (int)n, rep + 4);
	else
		str_fmt(dsn, len, "%d.0.0", code / 100);
}

/*
 * The backend answered the message: Postfix's qmgr line (from=, size=,
 * nrcpt=), one smtp line per recipient (to=, relay=, delay=, delays=, dsn=,
 * status=), and qmgr's "removed" unless deferred. delays=a/b/c/d: a from
 * MAIL to the message's end, b and c 0 (no queue, the backend was
 * connected at MAIL), d the backend's answer to the message.
 */
static void log_delivery(struct sess *s, int code, const char *rep)
{
	const struct cfg_backend *b;
	uint64_t now = tcp_now_us(s->w->ctx), a = s->dot_us - s->mail_us, d = now - s->dot_us;
	const char *ip = "unknown";
	char relay[2 * INET6_ADDRSTRLEN + 16] = "none", dsn[16];
	char delay[24], da[24], dd[24];
	int bidx = relay_backend(s->relay), rl = (int)strcspn(rep, "\r\n");
	const char *to, *status = code < 300 ? "sent" : code < 500 ? "deferred" : "bounced";

	if (bidx >= 0 && (unsigned)bidx < s->w->cfg->nbackends) {
		b = &s->w->cfg->backends[bidx];
		ip = b->addr_text;
		str_fmt(relay, sizeof(relay), "%s[%s]:%u", ip, ip, b->port);
	}
	delay_text(delay, sizeof(delay), a + d);
	delay_text(da, sizeof(da), a);
	delay_text(dd, sizeof(dd), d);
	dsn_of(rep, code, dsn, sizeof(dsn));
	slogd(SLOG_QMGR, s->key, "%s: from=<%s>, size=%llu, nrcpt=%u (queue active)", sess_qid(s), tx_from(&s->tx),
	      (unsigned long long)s->tx.msg_bytes, s->tx.nrcpt_ok);
	for (to = tx_next_rcpt(&s->tx, NULL); to != NULL; to = tx_next_rcpt(&s->tx, to)) {
		if (code < 300)
			slogd(SLOG_SMTP, s->key, "%s: to=<%s>, relay=%s, delay=%s, delays=%s/0/0/%s, dsn=%s, status=%s (%.*s)",
			      sess_qid(s), to, relay, delay, da, dd, dsn, status, rl, rep);
		else
			slogd(SLOG_SMTP, s->key, "%s: to=<%s>, relay=%s, delay=%s, delays=%s/0/0/%s, dsn=%s, status=%s "
			      "(host %s[%s] said: %.*s (in reply to end of DATA command))", sess_qid(s), to, relay, delay,
			      da, dd, dsn, status, ip, ip, rl, rep);
	}
	if (code < 400 || code >= 500)
		slogd(SLOG_QMGR, s->key, "%s: removed", sess_qid(s));
}

/* ---- the relay to the backend (relay.c), seen from the session ---- */

static void sess_fin_check(struct sess *s);

/* The Received header in sendmail's form, folded, sent ahead of the message. */
static void send_received(struct sess *s)
{
	char hdr[RW_RECEIVED_MAX];
	const struct rw_received_info r = {
		.helo = s->p.helo, .addr = s->addr, .name = s->name, .hostname = s->w->cfg->hostname, .id = s->qid,
		.ehlo = s->p.ehlo, .tls = s->tls_up, .auth = s->login != NULL,
		.version = s->mac.version, .cipher = s->mac.cipher, .verify = s->mac.verify,
		.cipher_bits = s->mac.cipher_bits, .rcpt = s->tx.nrcpt_ok == 1 ? tx_first_rcpt(&s->tx) : NULL,
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
			tx_rcpt_ok(&s->tx, smtp_proto_arg(&s->p));
			tx_queued(s);
		} else if (code >= 400 && s->p.owed == SMTP_EV_RCPT) {
			slog(s->key, "%s: reject: RCPT from %s: %.*s; from=<%s> to=<%s> proto=%s helo=<%s>", sess_qid(s),
			     s->namaddr, (int)strcspn(rep, "\r\n"), rep, tx_from(&s->tx), smtp_proto_arg(&s->p),
			     sess_proto(s), s->p.helo);
		} else if (code >= 400 && s->p.owed == SMTP_EV_MAIL) {
			slog(s->key, "NOQUEUE: reject: MAIL from %s: %.*s; from=<%s> proto=%s helo=<%s>", s->namaddr,
			     (int)strcspn(rep, "\r\n"), rep, smtp_proto_arg(&s->p), sess_proto(s), s->p.helo);
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
			slog(s->key, "%s: reject: DATA from %s: %.*s; from=<%s> proto=%s helo=<%s>", sess_qid(s),
			     s->namaddr, (int)strcspn(rep, "\r\n"), rep, tx_from(&s->tx), sess_proto(s), s->p.helo);
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
		log_delivery(s, code, rep);
		answer_with_backend_reply(s, rep, len);
		break;
	default:                     /* RSET: nothing to tell the client */
		break;
	}
	if (s->dead || !relay_connected(s->relay)) {
		sess_fin_check(s);
		return 1;
	}
	if (code == 421 && s->cst == C_SMTP) {
		/* the backend is closing: so does the session, once the reply is out */
		s->cst = C_CLOSING;
		client_flush(s);
		return 1;
	}
	return 0;
}

/*
 * The backend's connection carries what it was told of the client when it
 * opened (XCLIENT HELO= and LOGIN=, PROXY v2's TLS facts): once EHLO,
 * STARTTLS or AUTH changes that, it goes (QUIT), and the next MAIL opens a
 * new one. Only between transactions, where those commands are allowed.
 */
void sess_relay_forget(struct sess *s)
{
	if (s->relay == NULL)
		return;
	relay_retire(s->relay);      /* freed at the next poll: this may run inside a relay callback */
	s->relay = NULL;
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
	sess_pump(s);
}

/* The relay can take more: feed the client's input again. */
static void relay_writable(void *owner)
{
	sess_pump(owner);
}

/* What the relay announces of the client (PROXY v2, XCLIENT, its HELO). */
_Static_assert(AUTH_USER_MAX <= 255, "rw_xclient() holds the xtext of a user of 255 bytes");
_Static_assert(DNS_NAME_MAX <= RW_NAME_MAX, "rw_xclient() holds the client's name");
static void relay_client_facts(void *owner, struct relay_client *c)
{
	const struct sess *s = owner;

	*c = (struct relay_client){
		.tuple = tcp_tuple(s->c), .addr = s->addr, .port = s->port, .helo = s->p.helo,
		.name = s->name, .name_temp = s->name_status == DNS_NAME_TEMP, .ehlo = s->p.ehlo, .login = s->login, .tls = s->tls_up, .verify = s->mac.verify,
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

	if (s->relay == NULL && (s->relay = relay_new(&s->w->rp, &sess_relay_ops, s, s->qid, s->key)) == NULL) {
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

/* ---- client input ---- */

/* Act on one engine event. Returns 0 to go on, -1 to stop feeding input. */
static int client_event(struct sess *s, enum smtp_ev ev, const struct smtp_evinfo *ei)
{
	struct smtp_worker *w = s->w;

	switch (ev) {
	case SMTP_EV_HELO:
		sess_relay_forget(s);
		return 0;
	case SMTP_EV_STARTTLS: {
		size_t junk = s->c ? tcp_readable(s->c) : 0;

		client_flush(s);               /* the 220, in plaintext */
		if (junk > 0 || s->p.stat_pipelined_after_starttls > 0) {
			/* CVE-2011-0411: nothing sent before the handshake is executed */
			w->st.starttls_injection++;
			w->st.starttls_injected_bytes += junk;
			tcp_consume(s->c, junk);
		}
		if (sess_tls_begin(s) != 0) {
			w->st.tls_unavailable++;
			client_close_with(s, 454, "4.7.0", "TLS not available due to temporary reason");
			return -1;
		}
		tls_continue(s);         /* may end the session */
		return -1;
	}
	case SMTP_EV_MAIL:
		s->qid[0] = '\0';             /* a new transaction: its queue ID comes with a recipient */
		s->rcpt_limit_logged = 0;
		s->mail_us = tcp_now_us(w->ctx);
		if (tx_begin(&s->tx, ei->arg) != 0) {
			w->st.out_of_memory++;
			slog(s->key, "warning: out of memory for a transaction from %s", s->namaddr);
			smtp_proto_answerf(&s->p, 451, "4.3.0", "Error: insufficient system resources");
			return 0;
		}
		if (gate_sess_stage(s, POL_STAGE_MAIL, ei->arg))
			return 0;
		if (s->tx.discard) {
			smtp_proto_answerf(&s->p, 250, "2.1.0", "Ok");
			return 0;
		}
		backend_command(s, RELAY_W_MAIL, "MAIL FROM:<%s>%s%s\r\n", ei->arg,
				ei->params && ei->params[0] ? " " : "", ei->params ? ei->params : "");
		return 0;
	case SMTP_EV_RCPT:
		if (gate_sess_stage(s, POL_STAGE_RCPT, ei->arg))
			return 0;
		if (s->tx.discard) {
			tx_queued(s);
			smtp_proto_answerf(&s->p, 250, "2.1.5", "Ok");
			return 0;
		}
		backend_command(s, RELAY_W_RCPT, "RCPT TO:<%s>%s%s\r\n", ei->arg,
				ei->params && ei->params[0] ? " " : "", ei->params ? ei->params : "");
		return 0;
	case SMTP_EV_DATA:
		if (s->tx.discard) {
			s->tx.data_started = 1;
			s->tx.msg_bytes = 0;
			data_begin(s);
			smtp_proto_answerf(&s->p, 354, NULL, "End data with <CR><LF>.<CR><LF>");
			return 0;
		}
		backend_command(s, RELAY_W_DATA, "DATA\r\n");
		return 0;
	case SMTP_EV_DATA_LINE: {
		int first = s->tx.msg_bytes == 0;
		size_t k;

		s->tx.msg_bytes += ei->len;
		w->st.message_bytes += ei->len;
		data_progress(s, ei->len);
		if (s->tx.discard || s->tx.b_failed || !relay_connected(s->relay))
			return 0;      /* swallowed: discarded, or refused at the end */
		/*
		 * A first line that starts with white space would continue our
		 * Received header (a forged "(Authenticated sender: ...)"): an empty
		 * line ends the headers before it, as Postfix's smtpd does. The
		 * backend sees the line without its transparency dot, so ". (...)"
		 * starts with white space too (Postfix's smtpd looks before the
		 * dot is taken off and lets that one through).
		 */
		k = ei->len > 1 && ei->data[0] == '.' ? 1 : 0;
		if (first && ei->len > k && (ei->data[k] == ' ' || ei->data[k] == '\t'))
			relay_send(s->relay, "\r\n", 2);
		relay_send(s->relay, ei->data, ei->len);   /* a failure ends the backend: 451 at the end */
		return 0;
	}
	case SMTP_EV_DATA_END:
		s->dot_us = tcp_now_us(w->ctx);
		if (ei->error != SMTP_OK) {
			slog(s->key, "%s: reject: END-OF-MESSAGE from %s: 552 5.3.4 Message size exceeds fixed limit; "
			     "from=<%s> proto=%s helo=<%s>", sess_qid(s), s->namaddr, tx_from(&s->tx), sess_proto(s),
			     s->p.helo);
			w->st.messages_rejected++;
			relay_drop(s->relay);   /* part of the message went out: the backend must drop it */
			tx_message_end(&s->tx);
			return 0;
		}
		if (s->tx.discard) {
			tx_message_end(&s->tx);
			w->st.policy_discards++;      /* logged at its stage (gate.c) */
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
		sess_auth_ask(s, ei);
		return 0;
	case SMTP_EV_RSET:
		relay_rset(s->relay);
		return 0;
	case SMTP_EV_QUIT:
		s->cst = C_CLOSING;
		client_flush(s);
		return -1;
	case SMTP_EV_CLOSE:
		if (relay_busy(s->relay))
			relay_drop(s->relay);   /* closing mid-message: nothing half-sent is delivered */
		if (ei->error == SMTP_R_NON_SMTP) {
			w->st.non_smtp_command++;
			slog(s->key, "warning: non-SMTP command from %s: %.100s", s->namaddr, ei->arg);
		} else if (ei->error == SMTP_R_NUL) {
			slog(s->key, "warning: NUL character in message from %s", s->namaddr);
		} else if (ei->error == SMTP_R_NO_MEMORY) {
			slog(s->key, "warning: out of memory for a command line from %s", s->namaddr);
		} else if (ei->error == SMTP_R_TOO_MANY_ERRORS) {
			slog(s->key, "too many errors after %s from %s", smtp_where_names[s->p.where], s->namaddr);
		} else if (ei->error == SMTP_R_BARE_NEWLINE) {
			slog(s->key, "warning: bare <%s> received after %s from %s", ei->arg,
			     smtp_where_names[s->p.where], s->namaddr);
		} else if (ei->error == SMTP_R_AUTH_FAILURES) {
			slog(s->key, "too many failed authentications after AUTH from %s", s->namaddr);
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

/*
 * Give the TLS input buffer back to the worker's spares, wiped: it held
 * decrypted client bytes (an AUTH exchange's among them) anywhere below
 * TLS_IN_MAX, since consumed bytes are moved down, not cleared.
 */
void sess_tin_release(struct sess *s)
{
	if (s->tin == NULL)
		return;
	explicit_bzero(s->tin, TLS_IN_MAX);
	spare_put(&s->w->spare_tin, s->tin, TLS_IN_MAX);
	s->tin = NULL;
	s->tin_len = 0;
}

/* Next contiguous input for the engine: decrypted bytes, or the TCP queue head. */
static const uint8_t *client_input(struct sess *s, size_t *len)
{
	if (!s->tls_up)
		return tcp_peek(s->c, len);
	if (s->tin == NULL && (s->tin = spare_get(&s->w->spare_tin, TLS_IN_MAX)) == NULL)
		return NULL;
	if (s->tin_len < TLS_IN_MAX) {
		long n = tls_read(s->tls, s->tin + s->tin_len, TLS_IN_MAX - s->tin_len);

		if (n > 0)
			s->tin_len += (size_t)n;
		else if (n == -TLS_ERROR) {
			s->w->st.tls_failed++;
			s->cst = C_CLOSING;
		} else if (n == -TLS_CLOSED) {
			/* close_notify: the client sends no more, as after a FIN (sess_fin_check) */
			s->peer_fin = 1;
		}
	}
	*len = s->tin_len;
	if (s->tin_len == 0) {
		/* nothing came (nothing was written into it): an idle session keeps no buffer */
		spare_put(&s->w->spare_tin, s->tin, TLS_IN_MAX);
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
	if (s->tin_len == 0)
		sess_tin_release(s);  /* idle sessions keep no input buffer */
}

/*
 * Postfix's "improper command pipelining after CMD from name[addr]: what
 * followed" (once per session, as Postfix), the bytes that came after
 * the command escaped as Postfix's escape() does, at most 100.
 */
static void log_pipelining(struct sess *s, const uint8_t *rest, size_t n)
{
	char text[4 * 100 + 1];
	size_t i, o = 0;

	for (i = 0; i < n && i < 100; i++) {
		uint8_t c = rest[i];

		if (c == '\r' || c == '\n' || c == '\t' || c == '\\')
			o += (size_t)snprintf(text + o, sizeof(text) - o, "\\%c",
					      c == '\r' ? 'r' : c == '\n' ? 'n' : c == '\t' ? 't' : '\\');
		else if (c < 0x20 || c >= 0x7f)
			o += (size_t)snprintf(text + o, sizeof(text) - o, "\\%03o", c);
		else
			text[o++] = (char)c;
	}
	text[o] = '\0';
	slog(s->key, "improper command pipelining after %s from %s: %s", smtp_where_names[s->p.where], s->namaddr,
	     text);
}

/*
 * A pump stopped at its round limit: input may wait that no new bytes will
 * announce (lines already in the TCP queue, or plaintext BoringSSL already
 * decrypted, which a client that sent everything never adds to), so the
 * worker's next poll pumps the session again (smtp_worker_poll).
 */
static void pump_later(struct sess *s)
{
	if (s->in_again)
		return;
	s->in_again = 1;
	s->next_again = s->w->again;
	s->w->again = s;
}

/* Feed the engine while it can take input and the backend can take the message. */
void sess_pump(struct sess *s)
{
	unsigned rounds = 0;
	size_t consumed = 0;
	int was_bp = relay_space_waiting(s->relay);

	relay_space_wait(s->relay, 0);
	while (!s->dead && s->c != NULL && s->cst == C_SMTP && rounds++ < SESS_PUMP_ROUNDS) {
		const uint8_t *in;
		size_t len, used = 0;
		uint64_t n530, a530;     /* the engine's own 530s, logged as Postfix logs a reject */
		uint64_t piped, big, rcpts, utf8;  /* the engine's own 552 (MAIL SIZE=), 452 (too many recipients), 553 5.6.7 */
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
		/* an answer used up max_errors: its 421 is out, close now (nothing to read first) */
		if (in == NULL && s->p.pending_close == SMTP_OK)
			break;
		memset(&ei, 0, sizeof(ei));
		n530 = s->p.stat_530_starttls;
		a530 = s->p.stat_530_auth;
		piped = s->p.stat_improper_pipelining;
		big = s->p.stat_refusal[SMTP_R_TOO_BIG];
		rcpts = s->p.stat_refusal[SMTP_R_TOO_MANY_RCPTS];
		utf8 = s->p.stat_refusal[SMTP_R_UTF8_UNDECLARED];
		ev = smtp_proto_input(&s->p, in, len, &used, &ei);
		if (piped == 0 && s->p.stat_improper_pipelining != 0)
			log_pipelining(s, in + used, len - used);
		if (s->p.stat_530_starttls != n530 || s->p.stat_530_auth != a530)
			slog(s->key, "NOQUEUE: reject: %s from %s: 530 5.7.0 %s; proto=%s helo=<%s>",
			     smtp_where_names[s->p.where], s->namaddr, s->p.stat_530_starttls != n530 ?
			     "Must issue a STARTTLS command first" : "Authentication required", sess_proto(s), s->p.helo);
		if (s->p.stat_refusal[SMTP_R_TOO_BIG] != big && ev != SMTP_EV_DATA_END)
			slog(s->key, "NOQUEUE: reject: MAIL from %s: 552 5.3.4 Message size exceeds fixed limit; proto=%s "
			     "helo=<%s>", s->namaddr, sess_proto(s), s->p.helo);
		if (s->p.stat_refusal[SMTP_R_UTF8_UNDECLARED] != utf8)
			slog(s->key, "NOQUEUE: reject: %s from %s: 553 5.6.7 Must declare SMTPUTF8 to send unicode "
			     "address; proto=%s helo=<%s>", smtp_where_names[s->p.where], s->namaddr, sess_proto(s),
			     s->p.helo);
		if (s->p.stat_refusal[SMTP_R_TOO_MANY_RCPTS] != rcpts && !s->rcpt_limit_logged) {   /* once a transaction */
			s->rcpt_limit_logged = 1;
			slog(s->key, "%s: reject: RCPT from %s: 452 4.5.3 Error: too many recipients; from=<%s> proto=%s "
			     "helo=<%s>", sess_qid(s), s->namaddr, tx_from(&s->tx), sess_proto(s), s->p.helo);
		}
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
	if (rounds > SESS_PUMP_ROUNDS)
		pump_later(s);           /* the limit, not the input, ended this pump */
	smtp_proto_trim(&s->p);      /* an idle session keeps no line buffer */
	if (!s->p.owed && !smtp_proto_in_transaction(&s->p))
		tx_release(&s->tx);      /* nor a transaction's paths */
	/* whole lines came and none is half read: the next command's deadline starts now */
	if (consumed > 0 && !smtp_proto_mid_line(&s->p) && !smtp_proto_in_data(&s->p))
		s->req_start_us = tcp_now_us(s->w->ctx);
	if (relay_space_waiting(s->relay) != was_bp)
		relay_arm(s->relay);
	client_arm(s);
	sess_fin_check(s);
}

/* ---- DNS at connect (dataplane/dns): the client's name and DNSBL score while the banner waits ---- */

static void sess_start(struct sess *s);
static void refuse_at_connect(struct sess *s, int code, const char *enh, const char *text);

/* Over the DNSBL threshold: postscreen's reply, or its 521 and close (dnsbl_action = drop). */
static void dns_refuse(struct sess *s)
{
	int drop = s->w->cfg->dnsbl_action == CFG_DNSBL_DROP;
	char text[200];

	snprintf(text, sizeof(text), "Service unavailable; client [%s] blocked using %s", s->addr, s->blocked_by);
	slog(s->key, "NOQUEUE: reject: CONNECT from %s: %d 5.7.1 %s; proto=SMTP", s->namaddr,
	     drop ? 521 : 550, text);
	refuse_at_connect(s, drop ? 521 : 550, "5.7.1", text);
}

/* The lookups are over, or the banner can wait no longer: keep what came, then the connect stages. */
static void dns_finish(struct sess *s)
{
	const char *name = dns_check_name(s->dns);

	s->dns_wait = 0;
	s->name_status = (uint8_t)dns_check_name_status(s->dns);
	s->name = name ? strdup(name) : NULL;       /* out of memory: "unknown" */
	s->blocked_by = dns_check_verdict(s->dns);
	if (s->blocked_by != NULL)
		slog(s->key, "DNSBL rank %d for [%s]:%u", dns_check_score(s->dns, NULL), s->addr, s->port);
	dns_check_free(s->dns);
	s->dns = NULL;
	tcp_set_timeout(s->c, 0);
	sess_start(s);
}

/* Every lookup answered: go on once the greeting delay is over too. */
static void dns_answered(void *arg)
{
	struct sess *s = arg;

	if (s->dns_wait && tcp_now_us(s->w->ctx) >= s->born_us + (uint64_t)s->w->cfg->smtpd_greet_delay_ms * 1000)
		dns_finish(s);
}

/* The banner's timer while lookups run: the greeting delay, then at most dns_banner_wait_ms from connect. */
static void dns_timer(struct sess *s)
{
	uint64_t now = tcp_now_us(s->w->ctx), by = s->born_us + (uint64_t)s->w->cfg->dns_banner_wait_ms * 1000;

	if (dns_check_pending(s->dns) && now < by) {
		tcp_set_timeout(s->c, (unsigned)((by - now + 999) / 1000));
		return;
	}
	dns_finish(s);
}

/* Start the lookups of a new session: 1 when the banner waits for them, 0 to go on without. */
static int dns_begin(struct sess *s)
{
	const struct net_tuple *t = tcp_tuple(s->c);
	unsigned delay = s->w->cfg->smtpd_greet_delay_ms;

	s->dns = dns_check_start(s->w->dns, t->family, &t->raddr, dns_answered, s);
	if (s->dns == NULL)
		return 0;
	s->dns_wait = 1;
	s->cst = C_GREET_DELAY;
	if (dns_check_pending(s->dns) == 0 && delay == 0) {
		dns_finish(s);              /* all from the cache */
		return 1;
	}
	tcp_set_timeout(s->c, delay ? delay : s->w->cfg->dns_banner_wait_ms);
	return 1;
}

/* ---- client callbacks ---- */

/* Refuse a new session: the reply is all it hears, then it is closed. */
static void refuse_at_connect(struct sess *s, int code, const char *enh, const char *text)
{
	smtp_proto_init(&s->p, &s->pcfg, SMTP_INIT_NO_BANNER);
	s->cst = C_SMTP;
	client_close_with(s, code, enh, text);
}

/*
 * The connect stages, then the banner: now, after the greeting delay (the
 * access map's GreetPause, else smtpd_greet_delay_ms, counted from the
 * connection: the DNS lookups ran inside it), or, on 465, after the TLS
 * handshake.
 */
static void sess_start(struct sess *s)
{
	struct smtp_worker *w = s->w;
	struct pol_result refusal;
	uint64_t waited_ms = (tcp_now_us(w->ctx) - s->born_us) / 1000;
	unsigned delay;

	if (s->name != NULL) {                     /* Postfix's name[addr], the verified name */
		size_t n = strlen(s->name) + strlen(s->addr) + 3;
		char *na = malloc(n);

		if (na != NULL) {                  /* out of memory: unknown[addr] stays */
			str_fmt(na, n, "%s[%s]", s->name, s->addr);
			s->namaddr = na;
		}
	}
	slog(s->key, "connect from %s", s->namaddr);
	/* the access map first, as sendmail's check_relay: Connect: OK or RELAY
	   exempts the client from the DNSBL verdict (Postfix: postscreen_access_list) */
	if (gate_sess_connect(s, &refusal)) {
		refuse_at_connect(s, refusal.code, refusal.enh, refusal.text);
		return;
	}
	if (s->blocked_by != NULL && s->connect_ok) {
		slog(s->key, "ALLOWLISTED [%s]:%u", s->addr, s->port);   /* postscreen's words */
		s->w->st.dnsbl_exempt++;
	} else if (s->blocked_by != NULL) {
		dns_refuse(s);
		return;
	}
	s->pcfg.auth_available = !s->no_auth && auth_offered(w->auth);
	delay = s->greet_pause_ms >= 0 ? (unsigned)s->greet_pause_ms : w->cfg->smtpd_greet_delay_ms;
	delay = delay > waited_ms ? delay - (unsigned)waited_ms : 0;
	/* with a greeting delay the banner waits for the timer (smtp_proto_greet() there) */
	smtp_proto_init(&s->p, &s->pcfg, delay > 0 ? SMTP_INIT_NO_BANNER : 0);
	if (s->mode == SMTP_MODE_SMTPS) {
		if (sess_tls_begin(s) != 0)
			sess_kill(s, 1);
		else if (tcp_readable(s->c) > 0)
			tls_continue(s);       /* the ClientHello came while the lookups ran */
		return;
	}
	if (delay > 0) {
		s->cst = C_GREET_DELAY;
		tcp_set_timeout(s->c, delay);
		return;
	}
	s->cst = C_SMTP;
	s->req_start_us = tcp_now_us(w->ctx);
	client_flush(s);
	client_arm(s);
}

/* New client connection on one of our SMTP ports. */
static void client_accept(struct tcp_conn *c, void *arg)
{
	struct listen_arg *la = arg;
	struct smtp_worker *w = la->w;
	struct sess *s;

	if (w->st.active >= w->cfg->max_sessions || (s = calloc(1, sizeof(*s))) == NULL) {
		static const char msg[] = "421 4.3.2 Service not available, too many sessions\r\n";
		char a[INET6_ADDRSTRLEN];

		addr_text(tcp_tuple(c), a, sizeof(a));
		slog(slog_session_key(), "NOQUEUE: reject: CONNECT from unknown[%s]: 421 4.3.2 Service not available, "
		     "too many sessions; proto=SMTP", a);
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
	s->mac.verify = "NONE";
	s->mac.version = s->mac.cipher = "";
	addr_text(tcp_tuple(c), s->addr, sizeof(s->addr));
	str_fmt(s->namaddr_buf, sizeof(s->namaddr_buf), "unknown[%s]", s->addr);
	s->namaddr = s->namaddr_buf;
	s->port = tcp_tuple(c)->rport;
	w->qid.worker = tcp_worker(tcp_net(c));
	s->key = slog_session_key();
	str_fmt(s->id, sizeof(s->id), "%u", s->key);
	tcp_set_app(c, &sess_client_ops, s);
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
		slog(s->key, "connect from %s", s->namaddr);
		slog(s->key, "NOQUEUE: reject: CONNECT from %s: 421 4.3.2 Service shutting down, try again later; "
		     "proto=SMTP", s->namaddr);
		refuse_at_connect(s, 421, "4.3.2", "Service shutting down, try again later");
		return;
	}
	if (w->dns != NULL && dns_begin(s))
		return;                    /* sess_start() once the lookups are done */
	sess_start(s);
}

/* Client bytes arrived. */
static void client_readable(struct tcp_conn *c)
{
	struct sess *s = tcp_app(c);
	char why[320];

	if (s->cst == C_GREET_DELAY && s->dns_wait && s->mode == SMTP_MODE_SMTPS)
		return;                            /* the ClientHello waits for the lookups */
	if (s->cst == C_GREET_DELAY) {
		/* talking before the banner: a robot that does not wait (postscreen's pregreet) */
		s->w->st.pregreet++;
		slog(s->key, "PREGREET %zu after 0 from [%s]:%u", tcp_readable(c), s->addr, s->port);
		tcp_consume(c, tcp_readable(c));
		s->cst = C_SMTP;                   /* the 554 replaces the banner, never queued */
		if (s->greet_pause_ms > 0) {       /* the map's GreetPause: sendmail's words */
			s->w->gate.decisions[POL_TAG_GREETPAUSE][POL_REJECT]++;
			snprintf(why, sizeof(why), "%s ESMTP not accepting messages", s->w->cfg->hostname);
		} else {
			snprintf(why, sizeof(why), "Error: talking before the greeting");
		}
		if (s->dns_wait) {
			/* still in the lookups, before sess_start(): no engine yet, and no answer may start it */
			dns_check_free(s->dns);
			s->dns = NULL;
			s->dns_wait = 0;
			tcp_set_timeout(c, 0);
			refuse_at_connect(s, 554, "5.5.1", why);
		} else {
			client_close_with(s, 554, "5.5.1", why);
		}
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
	sess_pump(s);
	/* the answer waits on the backend (or the AUTH check): our ACK rides on it */
	if (!s->dead && s->c != NULL && s->p.owed)
		tcp_delay_ack(s->c);
}

/* Client send space grew. */
static void client_writable(struct tcp_conn *c)
{
	struct sess *s = tcp_app(c);

	if (s->cst == C_TLS_HS)
		tls_continue(s);
	else
		sess_pump(s);              /* flushes, then feeds what back-pressure held */
}

/*
 * The client half-closed after its last command and reads on: once every
 * answer it is owed is out (the backend's to its message above all), the
 * session ends as Postfix's does at that EOF. Until then the backend's
 * reply must reach it: a 250 it never hears makes it send the message again.
 */
static int sess_fin_pending(const struct sess *s)
{
	return s->p.owed || s->tin_len > 0;
}

/* After a half-close: nothing more is owed, so say the last word and close. */
static void sess_fin_check(struct sess *s)
{
	if (!s->peer_fin || s->dead || s->c == NULL || s->cst != C_SMTP || sess_fin_pending(s))
		return;
	log_lost(s);
	s->cst = C_CLOSING;
	client_flush(s);
}

/* The client closed its side. */
static void client_peer_closed(struct tcp_conn *c)
{
	struct sess *s = tcp_app(c);

	if (s->cst == C_SMTP && sess_fin_pending(s)) {
		s->peer_fin = 1;
		return;
	}
	log_lost(s);
	sess_kill(s, 0);
}

/* The client connection ended (reset, retransmissions exhausted). */
static void client_closed(struct tcp_conn *c, enum tcp_end why)
{
	struct sess *s = tcp_app(c);

	(void)why;
	if (s == NULL)
		return;
	log_lost(s);
	s->c = NULL;             /* the stack frees it */
	sess_kill(s, 0);
}

/* A client timer: greeting delay over, or a command/DATA/handshake timeout. */
static void client_timeout(struct tcp_conn *c)
{
	struct sess *s = tcp_app(c);

	if (s->cst == C_GREET_DELAY && s->dns_wait) {
		dns_timer(s);
		return;
	}
	if (s->cst == C_GREET_DELAY) {
		s->cst = C_SMTP;
		s->req_start_us = tcp_now_us(s->w->ctx);
		smtp_proto_greet(&s->p);
		client_flush(s);
		client_arm(s);
		return;
	}
	if (s->cst == C_CLOSING) {
		/* the last reply was not read, or the client did not close after it: counted and logged before */
		sess_kill(s, 1);
		return;
	}
	s->w->st.timeouts++;
	s->w->timeouts_after[s->p.where]++;
	if (smtp_proto_in_data(&s->p))
		slog(s->key, "timeout after DATA (%llu bytes) from %s", (unsigned long long)s->tx.msg_bytes,
		     s->namaddr);
	else
		slog(s->key, "timeout after %s from %s", smtp_where_names[s->p.where], s->namaddr);
	if (s->cst == C_TLS_HS) {
		sess_kill(s, 1);
		return;
	}
	client_close_with(s, 421, "4.4.2", "Error: timeout exceeded");
}

const struct tcp_app_ops sess_client_ops = {
	.accept = client_accept,
	.readable = client_readable,
	.writable = client_writable,
	.peer_closed = client_peer_closed,
	.closed = client_closed,
	.timeout = client_timeout,
};
