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
#include "tests/bench/hs_pairs.h"

#include <stdio.h>
#include <stdlib.h>

#include <openssl/bn.h>
#include <openssl/rsa.h>

#define ROUNDS 5
#define KMAX HS_PAIRS_MAX

static double srv_s;            /* server CPU seconds of the current slice */

/* A self-signed RSA-2048 certificate and its key, in PEM (malloc'd). */
static void make_cert(char **chain, size_t *chain_len, char **kpem, size_t *klen)
{
	RSA *r = RSA_new();
	BIGNUM *e = BN_new();
	EVP_PKEY *key = EVP_PKEY_new();

	BN_set_word(e, RSA_F4);
	if (!RSA_generate_key_ex(r, 2048, e, NULL) || !EVP_PKEY_assign_RSA(key, r)) {
		fprintf(stderr, "bench_rsa_hs: cannot make the key\n");
		exit(1);
	}
	hs_self_signed(key, "mx.lab.example", chain, chain_len, kpem, klen);
	EVP_PKEY_free(key);
	BN_free(e);
}

/* K handshakes at once; returns how many completed on both sides. */
static unsigned round_of(SSL_CTX *cctx, struct tls_ctx *ctx, struct tls_worker *w, unsigned k)
{
	return hs_round(cctx, ctx, w, k, NULL, NULL, &srv_s);
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
	struct tls_worker *w = tls_worker_new(hs_key_done);
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
