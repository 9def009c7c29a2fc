/*
 * hs_door.c (bench) - full TLS 1.3 handshakes through crypto/tls.c, K at a
 * time, the key door without lanes against the door with them, in one run
 * (make bench-rsa: --key rsa; make bench-hs: --key ecdsa). K BoringSSL
 * clients and K of our server sessions live in one thread and talk through
 * memory BIOs; the server's key work of a round (X25519, the signature) is
 * queued and run by one tls_worker_run(), as a worker's poll round would.
 * Only the server's calls (tls_conn_new, tls_handshake, tls_worker_run,
 * tls_conn_free) are timed, in this thread's CPU time, so the figure is
 * the server's cost per handshake: handshakes per second of one server
 * core when K handshakes share each poll round. K = 8 is a saturated
 * worker, which one mxgen core cannot make of mxgate on this machine (its
 * client side costs more than the server side). Modes alternate in slices
 * over five rounds; the best slice of each is kept.
 *
 *   "no lanes": every operation one at a time in BoringSSL (the RSA lanes'
 *               least fill set above a run's 4, X25519 and P-256 lanes off);
 *   "lanes":    the defaults (RSA-2048 from 1 operation a run, P-256 from 3,
 *               X25519 from 1).
 *
 * Usage: build/bench_hs_door [--key rsa|ecdsa] [seconds in all, default 2 per figure]
 */
#include "crypto/rsa_ifma.h"
#include "crypto/tls.h"
#include "tests/bench/hs_pairs.h"

#include <stdio.h>
#include <stdlib.h>

#include <openssl/bn.h>
#include <openssl/ec_key.h>
#include <openssl/nid.h>
#include <openssl/rsa.h>

#define ROUNDS 5

static double srv_s;            /* server CPU seconds of the current slice */

/* A self-signed certificate and its key (RSA-2048 or ECDSA P-256), in PEM (malloc'd). */
static void make_cert(int rsa, char **chain, size_t *chain_len, char **kpem, size_t *klen)
{
	EVP_PKEY *key = EVP_PKEY_new();
	int ok;

	if (rsa) {
		RSA *r = RSA_new();
		BIGNUM *e = BN_new();

		ok = r && e && BN_set_word(e, RSA_F4) && RSA_generate_key_ex(r, 2048, e, NULL) &&
		     EVP_PKEY_assign_RSA(key, r);
		BN_free(e);
	} else {
		EC_KEY *ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);

		ok = ec && EC_KEY_generate_key(ec) && EVP_PKEY_assign_EC_KEY(key, ec);
	}
	if (!ok) {
		fprintf(stderr, "bench_hs_door: cannot make the key\n");
		exit(1);
	}
	hs_self_signed(key, "mx.lab.example", chain, chain_len, kpem, klen);
	EVP_PKEY_free(key);
}

/* Lanes on (the defaults) or off (everything in BoringSSL, one at a time). */
static void lanes(int on)
{
	rsa_ifma_set_min_fill(on ? RSA_IFMA_MIN_FILL_DEFAULT : RSA_IFMA_RUN_OPS + 1);
	tls_x25519_lanes_set(on);
	tls_p256_lanes_set(on);
}

/* Server handshakes per CPU second with K at a time for about secs of server time. */
static double hs_rate(SSL_CTX *cctx, struct tls_ctx *ctx, struct tls_worker *w, unsigned k, double secs)
{
	unsigned long n = 0;

	srv_s = 0;
	do {
		unsigned d = hs_round(cctx, ctx, w, k, NULL, NULL, &srv_s);

		if (d != k) {
			fprintf(stderr, "bench_hs_door: %u of %u handshakes failed\n", k - d, k);
			exit(1);
		}
		n += d;
	} while (srv_s < secs);
	return n / srv_s;
}

int main(int argc, char **argv)
{
	static const unsigned ks[] = { 1, 2, 4, 8 };
	double secs = 2.0, sc[4] = { 0 }, im[4] = { 0 };
	int rsa = 1;
	struct tls_server_cfg cfg;
	struct tls_ctx *ctx;
	struct tls_worker *w = tls_worker_new(hs_key_done);
	SSL_CTX *cctx = SSL_CTX_new(TLS_method());
	char *chain, *kpem, err[256];
	size_t cl, kl;
	const struct tls_key_stats *st = tls_worker_stats(w);

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--key") && i + 1 < argc && (!strcmp(argv[i + 1], "rsa") ||
								  !strcmp(argv[i + 1], "ecdsa"))) {
			rsa = !strcmp(argv[++i], "rsa");
		} else if ((secs = atof(argv[i])) <= 0 || secs > 600) {
			fprintf(stderr, "usage: bench_hs_door [--key rsa|ecdsa] [seconds, 0 < s <= 600]\n");
			return 2;
		}
	}
	make_cert(rsa, &chain, &cl, &kpem, &kl);
	memset(&cfg, 0, sizeof(cfg));
	cfg.certs[0] = (struct tls_cert_cfg){ .chain_file = "mem", .key_file = "mem",
		.chain_pem = chain, .chain_pem_len = cl, .key_pem = kpem, .key_pem_len = kl };
	cfg.ncerts = 1;
	cfg.min_version = 0x0304;
	ctx = tls_ctx_new(&cfg, err, sizeof(err));
	if (!ctx || !w || !cctx) {
		fprintf(stderr, "bench_hs_door: %s\n", ctx ? "out of memory" : err);
		return 1;
	}
	SSL_CTX_set_min_proto_version(cctx, TLS1_3_VERSION);
	printf("TLS 1.3 full handshakes, %s certificate, X25519, no tickets: server CPU per handshake, "
	       "K handshakes per worker round, best of %u slices of %.2f s\n",
	       rsa ? "RSA-2048 (PSS)" : "ECDSA P-256", ROUNDS, secs / ROUNDS / 2);
	for (unsigned r = 0; r < ROUNDS; r++) {
		for (unsigned i = 0; i < 4; i++) {
			double x;

			lanes(0);
			x = hs_rate(cctx, ctx, w, ks[i], secs / ROUNDS / 2);
			sc[i] = x > sc[i] ? x : sc[i];
			lanes(1);
			x = hs_rate(cctx, ctx, w, ks[i], secs / ROUNDS / 2);
			im[i] = x > im[i] ? x : im[i];
		}
		fprintf(stderr, "round %u of %u\n", r + 1, ROUNDS);
	}
	for (unsigned i = 0; i < 4; i++)
		printf("K=%u  no lanes %7.0f hs/s (%6.1f us)   lanes %7.0f hs/s (%6.1f us)   x%.2f\n",
		       ks[i], sc[i], 1e6 / sc[i], im[i], 1e6 / im[i], im[i] / sc[i]);
	printf("key door: %llu RSA IFMA runs, %llu lanes, %llu IFMA ops, %llu scalar ops, %llu failed checks; "
	       "%llu X25519 runs, %llu lanes; %llu P-256 runs, %llu lanes\n",
	       (unsigned long long)st->key_ifma_runs, (unsigned long long)st->key_ifma_lanes,
	       (unsigned long long)st->key_ifma_ops, (unsigned long long)st->key_scalar_ops,
	       (unsigned long long)st->key_verify_failed, (unsigned long long)st->key_x25519_runs,
	       (unsigned long long)st->key_x25519_lanes, (unsigned long long)st->key_p256_runs,
	       (unsigned long long)st->key_p256_lanes);
	tls_ctx_free(ctx);
	tls_worker_free(w);
	SSL_CTX_free(cctx);
	free(chain);
	free(kpem);
	return 0;
}
