/*
 * sess_tls.c - TLS on a session's client connection (sess.h): the
 * transport over our TCP (tcp_tls.h), the handshake and what it leaves
 * (the TLS macros the logs, the Received header, the relay and the access
 * map need), and the handshake counters by version, {verify} and cipher.
 * The session (session.c) decides what follows a handshake.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/smtp/sess.h"
#include "dataplane/smtp/slog.h"
#include "dataplane/smtp/tcp_tls.h"
#include "crypto/tls.h"

/* The client's TLS transport: read; the handshake's clock starts with its first bytes. */
static long tls_tr_read(void *arg, uint8_t *buf, size_t len)
{
	struct sess *s = arg;
	long n = tcp_tls_read(s->c, buf, len);

	if (n > 0 && !s->tls_hs_us && s->cst == C_TLS_HS)
		s->tls_hs_us = tcp_now_us(s->w->ctx);
	return n;
}

/* The handshake histogram's bounds, in µs and as Prometheus "le" labels (seconds). */
static const uint64_t tls_hs_le_us[SMTP_TLS_HS_BUCKETS] = {
	250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000
};
static const char *const tls_hs_le[SMTP_TLS_HS_BUCKETS] = {
	"0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
	"1", "2.5", "5"
};

/* Count a finished handshake's time in the histogram. */
static void tls_hs_time(struct sess *s)
{
	uint64_t now = tcp_now_us(s->w->ctx), d = s->tls_hs_us && now > s->tls_hs_us ? now - s->tls_hs_us : 0;
	unsigned i = 0;

	while (i < SMTP_TLS_HS_BUCKETS && d > tls_hs_le_us[i])
		i++;
	s->w->tls_hs[i]++;
	s->w->tls_hs_sum_us += d;
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
	s->mac.verify = m.verify;
	s->mac.version = m.version;
	s->mac.cipher = m.cipher;
	s->mac.cipher_bits = m.cipher_bits;
	s->mac.alg_bits = m.alg_bits;
	if ((strcmp(m.verify, "OK") == 0 || strcmp(m.verify, "FAIL") == 0) &&
	    (s->cert = malloc(sizeof(*s->cert))) != NULL)
		*s->cert = m;
	s->tls_up = 1;
	tls_hs_time(s);
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
	slog(s->key, "%s TLS connection established from %s: %s with cipher %s (%d/%d bits)",
	     strcmp(s->mac.verify, "OK") == 0 ? "Trusted" :
	     (strcmp(s->mac.verify, "NOT") == 0 || strcmp(s->mac.verify, "NO") == 0) ? "Anonymous" : "Untrusted",
	     s->namaddr, s->mac.version, s->mac.cipher, s->mac.cipher_bits, s->mac.alg_bits);
}

/* Begin TLS on the client connection (465 at accept, or after STARTTLS). */
int sess_tls_begin(struct sess *s)
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

enum sess_tls_step sess_tls_handshake(struct sess *s)
{
	enum tls_status r = tls_handshake(s->tls);

	switch (r) {
	case TLS_DONE:
		tls_established(s);
		return SESS_TLS_UP;
	case TLS_WANT_KEY:
		/* the door runs later in this poll round: our flight carries the ACK */
		if (s->c != NULL)
			tcp_hold_ack(s->c);
		return SESS_TLS_WAIT;
	case TLS_WANT_READ:
	case TLS_WANT_WRITE:
		return SESS_TLS_WAIT;
	default:
		s->w->st.tls_failed++;
		slog(s->key, "SSL_accept error from %s: %s", s->namaddr,
		     r == TLS_CLOSED ? "lost connection" : "protocol error");
		return SESS_TLS_FAILED;
	}
}

/*
 * The handshake times, a Prometheus histogram (cumulative buckets, the sum
 * in seconds, the count); nothing before the first handshake.
 */
void sess_tls_print_hs_times(FILE *f, const struct smtp_worker *w, unsigned lcore)
{
	uint64_t n = 0;
	unsigned i;

	for (i = 0; i <= SMTP_TLS_HS_BUCKETS; i++)
		n += w->tls_hs[i];
	if (!n)
		return;
	n = 0;
	for (i = 0; i <= SMTP_TLS_HS_BUCKETS; i++) {
		n += w->tls_hs[i];
		fprintf(f, "mxgate_smtp_tls_handshake_seconds_bucket{lcore=\"%u\",le=\"%s\"} %llu\n", lcore,
			i < SMTP_TLS_HS_BUCKETS ? tls_hs_le[i] : "+Inf", (unsigned long long)n);
	}
	fprintf(f, "mxgate_smtp_tls_handshake_seconds_sum{lcore=\"%u\"} %llu.%06llu\n", lcore,
		(unsigned long long)(w->tls_hs_sum_us / 1000000), (unsigned long long)(w->tls_hs_sum_us % 1000000));
	fprintf(f, "mxgate_smtp_tls_handshake_seconds_count{lcore=\"%u\"} %llu\n", lcore, (unsigned long long)n);
}

/* The handshakes by cipher, Prometheus text (names published before their counts). */
void sess_tls_print_ciphers(FILE *f, const struct smtp_worker *w, unsigned lcore)
{
	unsigned i, n = __atomic_load_n(&w->nciphers, __ATOMIC_ACQUIRE);

	for (i = 0; i < n; i++)
		fprintf(f, "mxgate_smtp_tls_cipher_total{lcore=\"%u\",version=\"%s\",cipher=\"%s\"} %llu\n",
			lcore, w->ciphers[i].version, w->ciphers[i].name, (unsigned long long)w->ciphers[i].n);
	if (w->ciphers[SMTP_CIPHER_SLOTS].n)
		fprintf(f, "mxgate_smtp_tls_cipher_total{lcore=\"%u\",version=\"other\",cipher=\"other\"} %llu\n",
			lcore, (unsigned long long)w->ciphers[SMTP_CIPHER_SLOTS].n);
}
