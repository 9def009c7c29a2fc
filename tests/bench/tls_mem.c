/*
 * tls_mem.c - in-memory TLS handshake benchmark for crypto/tls.c: a
 * BoringSSL client and our server session in one process and one thread,
 * no network, the records passed through two memory queues. Every loop is
 * a full TLS 1.3 handshake (no tickets, no resumption) through tls.c's
 * server path, so the SNI callback, the transport BIO and the asynchronous
 * private-key door (queue, tls_worker_run batch, done callback, complete)
 * are all included. The same loop runs against a plain BoringSSL server
 * (SSL_CTX_use_PrivateKey, no key method) for comparison, in alternating
 * half-second slices (S seconds each), and last the memory of idle
 * sessions is measured (mallinfo2 deltas).
 *
 *   tls_mem --key rsa|ecdsa [--seconds S] [--idle N]
 *
 * Prints handshakes/s for the pair (client + server on one core: the
 * bound for this library build), the server's share in microseconds per
 * handshake (and the server-only rate it implies), the time spent in the
 * key operations, and the idle-session bytes. Pin it: taskset -c 1.
 *
 * Build: gcc -std=gnu11 -Wall -Wextra -Werror -O2 -g -I. -I/usr/include/android \
 *   crypto/tls.c tests/bench/tls_mem.c -o build/tls_mem \
 *   -L/usr/lib/x86_64-linux-gnu/android -Wl,-rpath,/usr/lib/x86_64-linux-gnu/android -lssl -lcrypto
 */
#define _GNU_SOURCE
#include "crypto/tls.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* The two queues between client and server. */
struct pipe {
	BIO *c2s, *s2c;
};

/* Timing of one run. */
struct run {
	unsigned long hs;
	double wall_s;          /* whole loop */
	double srv_s;           /* inside server calls (incl. key operations) */
	double key_s;           /* inside tls_worker_run */
};

static SSL_CTX *cli_ctx;
static struct tls_worker *W;
static unsigned long done_calls;

/* Monotonic seconds. */
static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Transport read for our session. */
static long tr_read(void *arg, uint8_t *buf, size_t len)
{
	struct pipe *p = arg;

	if (!p->c2s || BIO_pending(p->c2s) == 0)
		return -1;
	return BIO_read(p->c2s, buf, (int)len);
}

/* Transport write for our session. */
static long tr_write(void *arg, const uint8_t *buf, size_t len)
{
	struct pipe *p = arg;

	return p->s2c ? BIO_write(p->s2c, buf, (int)len) : -1;
}

/* Worker done callback. */
static void on_done(void *arg)
{
	(void)arg;
	done_calls++;
}

/* Fresh queues. */
static void pipe_open(struct pipe *p)
{
	p->c2s = BIO_new(BIO_s_mem());
	p->s2c = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(p->c2s, -1);
	BIO_set_mem_eof_return(p->s2c, -1);
}

/* A client SSL over the queues (it takes its own references). */
static SSL *client_new(struct pipe *p)
{
	SSL *c = SSL_new(cli_ctx);

	SSL_set_connect_state(c);
	SSL_set_tlsext_host_name(c, "mx.lab.example");
	BIO_up_ref(p->c2s);
	BIO_up_ref(p->s2c);
	SSL_set_bio(c, p->s2c, p->c2s);
	return c;
}

/* One client handshake step: 1 done, 0 more, -1 error. */
static int client_step(SSL *c)
{
	int r = SSL_do_handshake(c), e;

	if (r == 1)
		return 1;
	e = SSL_get_error(c, r);
	return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
}

/*
 * One handshake through tls.c over the queues p; 0 on success. With keep,
 * the session and the client are handed back instead of freed.
 */
static int hs_ours(struct tls_ctx *ctx, struct run *r, struct pipe *p,
		   struct tls_conn **keep, SSL **cli_out)
{
	struct tls_transport tr = { .read = tr_read, .write = tr_write };
	struct tls_conn *s;
	SSL *c;
	int cdone = 0, sdone = 0, rc = -1;
	double t0;

	pipe_open(p);
	tr.arg = p;
	c = client_new(p);
	t0 = now();
	s = tls_conn_new(ctx, W, &tr, p);
	r->srv_s += now() - t0;
	for (int i = 0; i < 100 && !(cdone && sdone); i++) {
		enum tls_status st = TLS_DONE;

		if (!cdone && (cdone = client_step(c)) < 0)
			break;
		if (!sdone) {
			t0 = now();
			st = tls_handshake(s);
			if (st == TLS_WANT_KEY) {
				double k0 = now();

				tls_worker_run(W, 64);
				r->key_s += now() - k0;
			}
			r->srv_s += now() - t0;
			if (st == TLS_DONE)
				sdone = 1;
			else if (st == TLS_ERROR || st == TLS_CLOSED)
				break;
		}
	}
	if (cdone == 1 && sdone)
		rc = 0;
	if (keep && rc == 0) {
		*keep = s;
		*cli_out = c;
		return 0;
	}
	t0 = now();
	tls_conn_free(s);
	r->srv_s += now() - t0;
	SSL_free(c);
	BIO_free(p->c2s);
	BIO_free(p->s2c);
	p->c2s = p->s2c = NULL;
	return rc;
}

/* One handshake with a plain BoringSSL server; 0 on success. */
static int hs_plain(SSL_CTX *sctx, struct run *r)
{
	struct pipe p;
	SSL *c, *s;
	int cdone = 0, sdone = 0, rc = -1;
	double t0;

	pipe_open(&p);
	c = client_new(&p);
	t0 = now();
	s = SSL_new(sctx);
	SSL_set_accept_state(s);
	BIO_up_ref(p.c2s);
	BIO_up_ref(p.s2c);
	SSL_set_bio(s, p.c2s, p.s2c);
	r->srv_s += now() - t0;
	for (int i = 0; i < 100 && !(cdone && sdone); i++) {
		if (!cdone && (cdone = client_step(c)) < 0)
			break;
		if (!sdone) {
			int x;

			t0 = now();
			x = SSL_do_handshake(s);
			r->srv_s += now() - t0;
			if (x == 1)
				sdone = 1;
			else if (SSL_get_error(s, x) != SSL_ERROR_WANT_READ)
				break;
		}
	}
	if (cdone == 1 && sdone)
		rc = 0;
	t0 = now();
	SSL_free(s);
	r->srv_s += now() - t0;
	SSL_free(c);
	BIO_free(p.c2s);
	BIO_free(p.s2c);
	return rc;
}

/* Print one run's figures. */
static void report(const char *name, const struct run *r, int with_key)
{
	double us = r->hs ? r->srv_s * 1e6 / r->hs : 0;

	printf("%-34s handshakes=%lu hs_per_s=%.0f server_us_per_hs=%.1f server_only_bound=%.0f/s",
	       name, r->hs, r->hs / r->wall_s, us, us > 0 ? 1e6 / us : 0);
	if (with_key)
		printf(" key_us_per_hs=%.1f", r->hs ? r->key_s * 1e6 / r->hs : 0);
	printf("\n");
}

/* A self-signed certificate for key. */
static X509 *self_cert(EVP_PKEY *key)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_get_subject_name(x);

	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const uint8_t *)"mx.lab.example", -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509_set_pubkey(x, key);
	X509_sign(x, key, EVP_sha256());
	return x;
}

/* Bytes in use by malloc. */
static size_t heap_used(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks;
}

/* Print usage and exit. */
static void usage(void)
{
	fprintf(stderr, "usage: tls_mem --key rsa|ecdsa [--seconds S] [--idle N]\n");
	exit(1);
}

/* Parse the options, build both servers, run the slices, measure idle memory. */
int main(int argc, char **argv)
{
	const char *kt = NULL;
	double seconds = 5;
	int idle = 1000;
	char dir[] = "/tmp/tls_mem.XXXXXX", certf[64], keyf[64], err[256];
	struct tls_server_cfg cfg;
	struct tls_ctx *ctx;
	SSL_CTX *plain;
	EVP_PKEY *key = EVP_PKEY_new();
	X509 *cert;
	FILE *fp;
	struct run ours = { 0 }, pl = { 0 };
	double t0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--key") && i + 1 < argc)
			kt = argv[++i];
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--idle") && i + 1 < argc)
			idle = atoi(argv[++i]);
		else
			usage();
	}
	if (!kt || seconds <= 0 || seconds > 600 || idle < 1 || idle > 1000000)
		usage();
	if (!strcmp(kt, "rsa")) {
		RSA *rsa = RSA_new();
		BIGNUM *e = BN_new();

		BN_set_word(e, RSA_F4);
		RSA_generate_key_ex(rsa, 2048, e, NULL);
		BN_free(e);
		EVP_PKEY_assign_RSA(key, rsa);
	} else if (!strcmp(kt, "ecdsa")) {
		EC_KEY *ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);

		EC_KEY_generate_key(ec);
		EVP_PKEY_assign_EC_KEY(key, ec);
	} else {
		usage();
	}
	cert = self_cert(key);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(certf, sizeof(certf), "%s/cert.pem", dir);
	snprintf(keyf, sizeof(keyf), "%s/key.pem", dir);
	fp = fopen(certf, "w");
	PEM_write_X509(fp, cert);
	fclose(fp);
	fp = fopen(keyf, "w");
	PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL);
	fclose(fp);

	memset(&cfg, 0, sizeof(cfg));
	cfg.certs[0].chain_file = certf;
	cfg.certs[0].key_file = keyf;
	cfg.ncerts = 1;
	cfg.min_version = 0x0304;
	ctx = tls_ctx_new(&cfg, err, sizeof(err));
	unlink(certf);
	unlink(keyf);
	rmdir(dir);
	if (!ctx) {
		fprintf(stderr, "tls_ctx_new: %s\n", err);
		return 1;
	}
	W = tls_worker_new(on_done);

	cli_ctx = SSL_CTX_new(TLS_method());
	SSL_CTX_set_min_proto_version(cli_ctx, TLS1_3_VERSION);
	SSL_CTX_set_max_proto_version(cli_ctx, TLS1_3_VERSION);
	SSL_CTX_set_options(cli_ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(cli_ctx, SSL_SESS_CACHE_OFF);

	plain = SSL_CTX_new(TLS_method());
	SSL_CTX_set_min_proto_version(plain, TLS1_3_VERSION);
	SSL_CTX_set_max_proto_version(plain, TLS1_3_VERSION);
	SSL_CTX_set_options(plain, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(plain, 0);
	SSL_CTX_set_session_cache_mode(plain, SSL_SESS_CACHE_OFF);
	SSL_CTX_set1_curves_list(plain, "X25519:P-256");
	if (!SSL_CTX_use_certificate(plain, cert) || !SSL_CTX_use_PrivateKey(plain, key)) {
		fprintf(stderr, "plain server: cannot use key\n");
		return 1;
	}

	{       /* what is negotiated */
		struct tls_conn *s;
		SSL *c;
		struct tls_macros m;
		struct run warm = { 0 };
		struct pipe p;

		if (hs_ours(ctx, &warm, &p, &s, &c) < 0) {
			fprintf(stderr, "handshake through tls.c failed\n");
			return 1;
		}
		tls_get_macros(s, &m);
		printf("tls_mem: key=%s %s cipher=%s group=%s seconds=%g (client+server on one core)\n",
		       !strcmp(kt, "rsa") ? "rsa2048" : "ecdsa-p256", m.version, m.cipher,
		       SSL_get_curve_name(SSL_get_curve_id(c)), seconds);
		tls_conn_free(s);
		SSL_free(c);
		BIO_free(p.c2s);
		BIO_free(p.s2c);
	}

	/* alternate half-second slices so that drift in the machine hits both alike */
	while (ours.wall_s < seconds || pl.wall_s < seconds) {
		double slice = seconds < 0.5 ? seconds : 0.5, end;

		t0 = now();
		end = t0 + slice;
		while (now() < end) {
			struct pipe p;

			if (hs_ours(ctx, &ours, &p, NULL, NULL) < 0) {
				fprintf(stderr, "handshake through tls.c failed\n");
				return 1;
			}
			ours.hs++;
		}
		ours.wall_s += now() - t0;
		t0 = now();
		end = t0 + slice;
		while (now() < end) {
			if (hs_plain(plain, &pl) < 0) {
				fprintf(stderr, "plain handshake failed\n");
				return 1;
			}
			pl.hs++;
		}
		pl.wall_s += now() - t0;
	}
	report("tls.c (async key door, batch):", &ours, 1);
	report("plain BoringSSL (use_PrivateKey):", &pl, 0);
	printf("tls.c/plain: %.3f; done callbacks %lu\n",
	       (ours.hs / ours.wall_s) / (pl.hs / pl.wall_s), done_calls);

	{       /* idle sessions: our side kept, client side freed */
		struct tls_conn **keep = calloc((size_t)idle, sizeof(*keep));
		struct pipe *pp = calloc((size_t)idle, sizeof(*pp));
		struct run r = { 0 };
		size_t before = heap_used();
		long per;

		for (int i = 0; i < idle; i++) {
			SSL *c;

			if (hs_ours(ctx, &r, &pp[i], &keep[i], &c) < 0) {
				fprintf(stderr, "idle handshake failed\n");
				return 1;
			}
			/* the client and the queues go: only our session stays */
			SSL_free(c);
			BIO_free(pp[i].c2s);
			BIO_free(pp[i].s2c);
			pp[i].c2s = pp[i].s2c = NULL;
		}
		per = ((long)heap_used() - (long)before) / idle;
		printf("idle TLS 1.3 session after the handshake: %ld bytes each (%d sessions, "
		       "mallinfo2 delta, our side only)\n", per, idle);
		for (int i = 0; i < idle; i++)
			tls_conn_free(keep[i]);
		free(keep);
		free(pp);
	}
	tls_worker_free(W);
	tls_ctx_free(ctx);
	SSL_CTX_free(plain);
	SSL_CTX_free(cli_ctx);
	X509_free(cert);
	EVP_PKEY_free(key);
	return 0;
}
