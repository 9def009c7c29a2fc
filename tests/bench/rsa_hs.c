/*
 * rsa_hs.c (bench) - full TLS 1.3 handshakes with an RSA-2048 certificate
 * through crypto/tls.c, K at a time, the key door scalar against IFMA, in
 * one run (make bench-rsa, after bench_rsa). K BoringSSL clients and K of
 * our server sessions live in one thread and talk through memory BIOs; the
 * server's K operations of a round are queued and run by one
 * tls_worker_run(), as a worker's poll round would. Only the server's calls
 * (tls_conn_new, tls_handshake, tls_worker_run, tls_conn_free) are timed,
 * in this thread's CPU time, so the figure is the server's cost per
 * handshake: handshakes per second of one server core. Modes alternate in
 * slices over five rounds; the best slice of each is kept.
 *
 * Usage: build/bench_rsa_hs [seconds in all, default 2 per figure]
 */
#include "crypto/rsa_ifma.h"
#include "crypto/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define ROUNDS 5
#define KMAX 8

/* One client and our server session over two memory BIOs. */
struct pair {
	SSL *cli;
	BIO *to_cli, *from_cli;
	struct tls_conn *srv;
	int srv_done, cli_done;
};

static double srv_s;            /* server CPU seconds of the current slice */

/* This thread's CPU seconds. */
static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Server transport read: what the client wrote. */
static long tr_read(void *arg, uint8_t *buf, size_t len)
{
	struct pair *p = arg;
	int n = BIO_read(p->from_cli, buf, (int)len);

	return n > 0 ? n : -1;
}

/* Server transport write: to the client. */
static long tr_write(void *arg, const uint8_t *buf, size_t len)
{
	struct pair *p = arg;

	return BIO_write(p->to_cli, buf, (int)len);
}

/* done() of the worker: nothing to do, the loop calls tls_handshake again. */
static void key_done(void *arg)
{
	(void)arg;
}

/* A self-signed RSA-2048 certificate and its key, in PEM (malloc'd). */
static void make_cert(char **chain, size_t *chain_len, char **kpem, size_t *klen)
{
	RSA *r = RSA_new();
	BIGNUM *e = BN_new();
	EVP_PKEY *key = EVP_PKEY_new();
	X509 *x = X509_new();
	X509_NAME *nm = X509_NAME_new();
	BIO *b1 = BIO_new(BIO_s_mem()), *b2 = BIO_new(BIO_s_mem());
	const uint8_t *d;
	size_t l;

	BN_set_word(e, RSA_F4);
	if (!RSA_generate_key_ex(r, 2048, e, NULL) || !EVP_PKEY_assign_RSA(key, r)) {
		fprintf(stderr, "bench_rsa_hs: cannot make the key\n");
		exit(1);
	}
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const uint8_t *)"mx.lab.example", -1, -1, 0);
	X509_set_subject_name(x, nm);
	X509_set_issuer_name(x, nm);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	X509_sign(x, key, EVP_sha256());
	PEM_write_bio_X509(b1, x);
	PEM_write_bio_PrivateKey(b2, key, NULL, NULL, 0, NULL, NULL);
	BIO_mem_contents(b1, &d, &l);
	*chain = malloc(l);
	memcpy(*chain, d, l);
	*chain_len = l;
	BIO_mem_contents(b2, &d, &l);
	*kpem = malloc(l);
	memcpy(*kpem, d, l);
	*klen = l;
	BIO_free(b1);
	BIO_free(b2);
	X509_NAME_free(nm);
	X509_free(x);
	EVP_PKEY_free(key);
	BN_free(e);
}

/* K handshakes at once; returns how many completed on both sides. */
static unsigned round_of(SSL_CTX *cctx, struct tls_ctx *ctx, struct tls_worker *w, unsigned k)
{
	struct pair ps[KMAX];
	unsigned done = 0;
	double t;

	memset(ps, 0, sizeof(ps));
	for (unsigned i = 0; i < k; i++) {
		struct pair *p = &ps[i];
		struct tls_transport tr = { .arg = p, .read = tr_read, .write = tr_write };

		p->cli = SSL_new(cctx);
		p->to_cli = BIO_new(BIO_s_mem());
		p->from_cli = BIO_new(BIO_s_mem());
		BIO_set_mem_eof_return(p->to_cli, -1);
		BIO_set_mem_eof_return(p->from_cli, -1);
		BIO_up_ref(p->to_cli);
		BIO_up_ref(p->from_cli);
		SSL_set_bio(p->cli, p->to_cli, p->from_cli);
		SSL_set_connect_state(p->cli);
		t = now_s();
		p->srv = tls_conn_new(ctx, w, &tr, p);
		srv_s += now_s() - t;
	}
	for (unsigned r = 0; r < 20 && done < k; r++) {
		for (unsigned i = 0; i < k; i++) {
			struct pair *p = &ps[i];

			if (!p->cli_done && SSL_do_handshake(p->cli) == 1)
				p->cli_done = 1;
			ERR_clear_error();
			t = now_s();
			if (!p->srv_done && tls_handshake(p->srv) == TLS_DONE)
				p->srv_done = 1;
			srv_s += now_s() - t;
		}
		t = now_s();
		tls_worker_run(w, 64);
		srv_s += now_s() - t;
		done = 0;
		for (unsigned i = 0; i < k; i++)
			done += ps[i].cli_done && ps[i].srv_done;
	}
	for (unsigned i = 0; i < k; i++) {
		t = now_s();
		tls_conn_free(ps[i].srv);
		srv_s += now_s() - t;
		SSL_free(ps[i].cli);
		BIO_free(ps[i].to_cli);
		BIO_free(ps[i].from_cli);
	}
	return done;
}

/* Server handshakes per CPU second with K at a time for about secs of server time. */
static double hs_rate(SSL_CTX *cctx, struct tls_ctx *ctx, struct tls_worker *w, unsigned k,
		      unsigned min_fill, double secs)
{
	unsigned long n = 0;

	rsa_ifma_set_min_fill(min_fill);
	srv_s = 0;
	do {
		unsigned d = round_of(cctx, ctx, w, k);

		if (d != k) {
			fprintf(stderr, "bench_rsa_hs: %u of %u handshakes failed\n", k - d, k);
			exit(1);
		}
		n += d;
	} while (srv_s < secs);
	return n / srv_s;
}

int main(int argc, char **argv)
{
	static const unsigned ks[] = { 1, 2, 4, 8 };
	double secs = argc > 1 ? atof(argv[1]) : 2.0, sc[4] = { 0 }, im[4] = { 0 };
	struct tls_server_cfg cfg;
	struct tls_ctx *ctx;
	struct tls_worker *w = tls_worker_new(key_done);
	SSL_CTX *cctx = SSL_CTX_new(TLS_method());
	char *chain, *kpem, err[256];
	size_t cl, kl;
	const struct tls_key_stats *st = tls_worker_stats(w);

	if (secs <= 0)
		secs = 2.0;
	make_cert(&chain, &cl, &kpem, &kl);
	memset(&cfg, 0, sizeof(cfg));
	cfg.certs[0] = (struct tls_cert_cfg){ .chain_file = "rsa", .key_file = "rsa",
		.chain_pem = chain, .chain_pem_len = cl, .key_pem = kpem, .key_pem_len = kl };
	cfg.ncerts = 1;
	cfg.min_version = 0x0304;
	ctx = tls_ctx_new(&cfg, err, sizeof(err));
	if (!ctx || !w || !cctx) {
		fprintf(stderr, "bench_rsa_hs: %s\n", ctx ? "out of memory" : err);
		return 1;
	}
	SSL_CTX_set_min_proto_version(cctx, TLS1_3_VERSION);
	printf("TLS 1.3 full handshakes, RSA-2048 certificate (PSS), X25519, no tickets: server CPU "
	       "per handshake, K handshakes per worker round, best of %u slices of %.2f s\n",
	       ROUNDS, secs / ROUNDS / 2);
	for (unsigned r = 0; r < ROUNDS; r++) {
		for (unsigned i = 0; i < 4; i++) {
			double x = hs_rate(cctx, ctx, w, ks[i], RSA_IFMA_LANES + 1, secs / ROUNDS / 2);

			sc[i] = x > sc[i] ? x : sc[i];
			x = hs_rate(cctx, ctx, w, ks[i], RSA_IFMA_MIN_FILL_DEFAULT, secs / ROUNDS / 2);
			im[i] = x > im[i] ? x : im[i];
		}
		fprintf(stderr, "round %u of %u\n", r + 1, ROUNDS);
	}
	for (unsigned i = 0; i < 4; i++)
		printf("K=%u  scalar door %7.0f hs/s (%6.1f us)   IFMA door %7.0f hs/s (%6.1f us)   x%.2f\n",
		       ks[i], sc[i], 1e6 / sc[i], im[i], 1e6 / im[i], im[i] / sc[i]);
	printf("key door: %llu IFMA runs, %llu lanes, %llu IFMA ops, %llu scalar ops, %llu failed checks\n",
	       (unsigned long long)st->key_ifma_runs, (unsigned long long)st->key_ifma_lanes,
	       (unsigned long long)st->key_ifma_ops, (unsigned long long)st->key_scalar_ops,
	       (unsigned long long)st->key_verify_failed);
	tls_ctx_free(ctx);
	tls_worker_free(w);
	SSL_CTX_free(cctx);
	free(chain);
	free(kpem);
	return 0;
}
