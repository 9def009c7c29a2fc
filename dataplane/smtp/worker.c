/*
 * worker.c - the SMTP side of one worker lcore (session.h): listeners on
 * the configured ports, what the service lcore may change or ask for
 * while the worker runs (access map, TLS context, configuration, draining,
 * the session list), the work of each poll (private-key operations, AUTH verdicts,
 * freeing ended sessions) and the worker's counters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/smtp/sess.h"
#include "dataplane/smtp/auth.h"
#include "dataplane/smtp/slog.h"
#include "crypto/tls.h"
#include "dataplane/dns/dns.h"

const char *const smtp_stat_names[] = {
#define X(n) #n,
	SMTP_STATS(X)
#undef X
};

/* The engine's limits per port flavour from w->cfg (hostname and TLS are set at start). */
static void worker_limits(struct smtp_worker *w)
{
	const struct mx_config *cfg = w->cfg;
	unsigned m;

	for (m = 0; m < SMTP_MODE_COUNT; m++) {
		w->pcfg[m].size_limit = cfg->message_size_limit;
		w->pcfg[m].max_rcpts = cfg->smtpd_recipient_limit;
		w->pcfg[m].max_errors = cfg->smtpd_hard_error_limit;
		w->pcfg[m].max_junk = cfg->smtpd_junk_command_limit;
		w->pcfg[m].auth_required = m == SMTP_MODE_SUBMISSION && cfg->submission_auth_required;
	}
}

/*
 * RSA runs in steps of TLS_RSA_STEP_UNITS between polls, paced by
 * TLS_RSA_HOLD_US and TLS_RSA_STEP_MAX (tls_worker_set_rsa_pace); the
 * environment's MXGATE_RSA_STEPS (0: each run whole), MXGATE_RSA_HOLD_US
 * and MXGATE_RSA_STEP_MAX (0 to 9999) replace them, for side-by-side
 * measurements.
 */
static unsigned env_knob(const char *name, unsigned dflt)
{
	const char *e = getenv(name);
	unsigned v = 0;

	if (e == NULL || *e == '\0' || strlen(e) > 4 || strspn(e, "0123456789") != strlen(e))
		return dflt;
	for (; *e; e++)
		v = v * 10 + (unsigned)(*e - '0');
	return v;
}

struct smtp_worker *smtp_worker_start(struct net_ctx *ctx, const struct mx_config *cfg,
				      struct tls_ctx *tls, const struct pol_snapshot *pol,
				      struct auth_service *auth, char *err, size_t errlen)
{
	struct smtp_worker *w = calloc(1, sizeof(*w));
	const unsigned ports[SMTP_MODE_COUNT] = {
		[SMTP_MODE_MX] = cfg->smtp_port,
		[SMTP_MODE_SUBMISSION] = cfg->submission_port,
		[SMTP_MODE_SMTPS] = cfg->smtps_port,
	};
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
	if ((w->log = slog_ring_new(SLOG_RING_SIZE, &w->st.log_dropped)) == NULL) {
		snprintf(err, errlen, "out of memory for the log ring");
		free(w);
		return NULL;
	}
	if (tls != NULL) {
		w->tw = tls_worker_new(sess_key_done);
		if (w->tw == NULL) {
			snprintf(err, errlen, "out of memory for the TLS worker");
			slog_ring_free(w->log);
			free(w);
			return NULL;
		}
		tls_worker_set_rsa_steps(w->tw, env_knob("MXGATE_RSA_STEPS", TLS_RSA_STEP_UNITS));
		tls_worker_set_rsa_pace(w->tw, env_knob("MXGATE_RSA_HOLD_US", TLS_RSA_HOLD_US),
					env_knob("MXGATE_RSA_STEP_MAX", TLS_RSA_STEP_MAX));
	}
	if (relay_pool_init(&w->rp, ctx, cfg, &w->st, err, errlen) != 0) {
		smtp_worker_free(w);
		return NULL;
	}
	worker_limits(w);
	w->rp.gate = &w->gate;
	if (cfg->ndns_servers && (w->dns = dns_resolver_new(ctx, cfg, err, errlen)) == NULL) {
		smtp_worker_free(w);
		return NULL;
	}
	for (m = 0; m < SMTP_MODE_COUNT; m++) {
		w->pcfg[m].hostname = cfg->hostname;
		w->pcfg[m].mode = (enum smtp_mode)m;
		w->pcfg[m].tls_available = tls != NULL;
		w->pcfg[m].spare_out = &w->spare_out;
		w->pcfg[m].spare_wk = &w->spare_wk;
		w->la[m].w = w;
		w->la[m].mode = (enum smtp_mode)m;
		if (ports[m] == 0)
			continue;
		if (m == SMTP_MODE_SMTPS && tls == NULL) {
			snprintf(err, errlen, "smtps_port %u needs tls_cert_file and tls_key_file", ports[m]);
			smtp_worker_free(w);
			return NULL;
		}
		if (tcp_listen(ctx, (uint16_t)ports[m], &sess_client_ops, &w->la[m]) != 0) {
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

/* Publish a new configuration (service lcore, SIGHUP): taken by smtp_worker_sync(). */
void smtp_worker_set_config(struct smtp_worker *w, const struct mx_config *cfg)
{
	__atomic_store_n(&w->next_cfg, cfg, __ATOMIC_RELEASE);
}

/*
 * On the worker, at the top of its loop after reporting quiescence: take
 * a new configuration. From here on this worker reads only the new one, so
 * that the service lcore may free the old after a grace period.
 */
void smtp_worker_sync(struct smtp_worker *w)
{
	const struct mx_config *c = __atomic_load_n(&w->next_cfg, __ATOMIC_ACQUIRE);

	if (c == NULL || c == w->cfg)
		return;
	w->cfg = c;
	worker_limits(w);
	relay_pool_set_config(&w->rp, c);
	if (w->dns != NULL)
		dns_resolver_set_config(w->dns, c);
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
				 s->tls_up ? s->mac.verify : "NONE", s->p.helo && s->p.helo[0] ? s->p.helo : "-",
				 (unsigned long long)((tcp_now_us(w->ctx) - s->born_us) / 1000000));
		if (n < 0 || (size_t)n >= w->list_len - o)
			break;
		o += (size_t)n;
	}
	__atomic_store_n(&w->list_buf, NULL, __ATOMIC_RELAXED);
	__atomic_store_n(&w->list_done, (long)o, __ATOMIC_RELEASE);
}

/* Free the sessions killed, and the relays retired, since the last poll. */
static void sess_reap(struct smtp_worker *w)
{
	relay_pool_reap(&w->rp);
	while (w->dead != NULL) {
		struct sess *s = w->dead;
		struct sess **pp;

		w->dead = s->next_dead;
		for (pp = &w->again; s->in_again && *pp != NULL; pp = &(*pp)->next_again)
			if (*pp == s) {
				*pp = s->next_again;     /* killed while waiting for its next pump */
				break;
			}
		if (s->tls)
			tls_conn_free(s->tls);
		relay_free(s->relay);
		sess_tin_release(s);
		free(s->cert);
		free(s->login);
		free(s->name);
		if (s->namaddr != s->namaddr_buf)
			free(s->namaddr);
		smtp_proto_free(&s->p);
		tx_release(&s->tx);
		free(s);
	}
}

/* Verdicts that came back from the service lcore. */
static unsigned auth_poll(struct smtp_worker *w)
{
	struct auth_req *r;
	unsigned n = 0;

	while (w->auth != NULL && (r = auth_take(w->auth, tcp_worker(w->ctx))) != NULL) {
		struct sess *s = r->owner;

		if (s != NULL) {
			sess_auth_answer(s, r);
			sess_pump(s);
		}
		memset(r, 0, sizeof(*r));
		free(r);
		n++;
	}
	return n;
}

/*
 * Pump the sessions whose last pump stopped at its round limit
 * (sess_pump): the list is taken whole, so a session that stops at the
 * limit again waits for the next poll, after the other sessions' input.
 */
static unsigned pump_again(struct smtp_worker *w)
{
	struct sess *s = w->again;
	unsigned n = 0;

	w->again = NULL;
	while (s != NULL) {          /* nothing is freed before the next sess_reap() */
		struct sess *next = s->next_again;

		s->next_again = NULL;
		s->in_again = 0;
		if (!s->dead)
			sess_pump(s);
		s = next;
		n++;
	}
	return n;
}

unsigned smtp_worker_poll(struct smtp_worker *w)
{
	unsigned n = 0;
	char *lb = __atomic_load_n(&w->list_buf, __ATOMIC_ACQUIRE);

	slog_bind(w->log);           /* this thread's lines go through the worker's ring */
	if (lb != NULL)
		list_sessions(w, lb);
	n += pump_again(w);
	sess_reap(w);
	if (w->tw != NULL && tls_worker_pending(w->tw))
		n = tls_worker_run(w->tw, 64);
	n += auth_poll(w);
	sess_reap(w);
	return n;
}

int smtp_worker_keys_waiting(const struct smtp_worker *w)
{
	return w->tw != NULL && tls_worker_pending(w->tw) != 0;
}

void smtp_worker_free(struct smtp_worker *w)
{
	if (w == NULL)
		return;
	slog_ring_free(w->log);        /* its lines out first; this thread writes the rest at once */
	while (w->live != NULL)
		sess_kill(w->live, 1);     /* sessions still open at shutdown: reset, then freed */
	sess_reap(w);
	spare_drain(&w->spare_out);
	spare_drain(&w->spare_wk);
	spare_drain(&w->spare_tin);
	gate_free(&w->gate);
	if (w->tw)
		tls_worker_free(w->tw);
	relay_pool_free(&w->rp);
	dns_resolver_free(w->dns);
	free(w);
}

void smtp_worker_print_labelled(FILE *f, const void *worker, unsigned lcore)
{
	const struct smtp_worker *w = worker;
	unsigned i;

	gate_print_labelled(f, &w->gate, lcore);
	dns_print_labelled(f, w->dns, lcore);
	sess_tls_print_ciphers(f, w, lcore);
	sess_tls_print_hs_times(f, w, lcore);
	for (i = 0; i < SMTP_W_COUNT; i++)
		if (w->timeouts_after[i])
			fprintf(f, "mxgate_smtp_timeouts_after_total{lcore=\"%u\",after=\"%s\"} %llu\n",
				lcore, smtp_where_names[i], (unsigned long long)w->timeouts_after[i]);
	for (i = 0; i < RELAY_BW_COUNT; i++)
		if (w->rp.timeouts[i])
			fprintf(f, "mxgate_smtp_backend_timeouts_by_wait_total{lcore=\"%u\",waiting=\"%s\"} %llu\n",
				lcore, relay_what_names[i], (unsigned long long)w->rp.timeouts[i]);
}

const struct smtp_stats *smtp_worker_stats(const struct smtp_worker *w)
{
	return &w->st;
}
