/*
 * rsa_ifma.c (bench) - RSA-2048 private operations per second on one core:
 * BoringSSL's scalar operation against the 8-lane AVX-512 IFMA run of
 * crypto/rsa_ifma.c (two lanes an operation) at every fill level 1..4,
 * and batches of 5..8 (two runs), measured side by side in one
 * run, and the break-even fill (the least fill at which a run beats the
 * scalar path). The IFMA figures include what the door adds: the check of
 * every result with the public exponent (in lanes for runs of 2 or more). `make bench-rsa`. Last, for
 * scale, the other private operations of a TLS 1.3 server handshake in
 * the same run: ECDSA P-256 signing and X25519 (key pair and shared key).
 *
 * Time is this thread's CPU time, so that other processes sharing the core
 * do not count; the scalar path and each fill level are measured in turn,
 * in short slices over several rounds, and the best slice of each is kept
 * (the least disturbed one).
 *
 * Usage: build/bench_rsa [seconds in all, default 2 per figure]
 */
#include "crypto/rsa_ifma.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/curve25519.h>
#include <openssl/ec_key.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/nid.h>
#include <openssl/rsa.h>

#define NKEYS 4

#define ROUNDS 5

/* This thread's CPU seconds. */
static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A fresh RSA-2048 key. */
static RSA *gen_rsa(void)
{
	RSA *r = RSA_new();
	BIGNUM *e = BN_new();

	BN_set_word(e, RSA_F4);
	if (!r || !e || !RSA_generate_key_ex(r, 2048, e, NULL)) {
		fprintf(stderr, "bench_rsa: cannot generate a key\n");
		exit(1);
	}
	BN_free(e);
	return r;
}

static RSA *keys[NKEYS];
static struct rsa_ifma_key *ikeys[NKEYS];
static uint8_t in[RSA_IFMA_LANES][RSA_IFMA_BYTES], out[RSA_IFMA_LANES][RSA_IFMA_BYTES];

/* Scalar BoringSSL raw private operations per second (keys in turn). */
static double scalar_rate(double secs)
{
	double t0 = now_s(), t;
	unsigned long n = 0;

	do {
		for (unsigned i = 0; i < 16; i++, n++) {
			size_t len;
			RSA *r = keys[n % NKEYS];

			if (!RSA_decrypt(r, &len, out[0], RSA_IFMA_BYTES, in[n % NKEYS],
					 RSA_IFMA_BYTES, RSA_NO_PADDING)) {
				fprintf(stderr, "bench_rsa: scalar operation failed\n");
				exit(1);
			}
		}
		t = now_s() - t0;
	} while (t < secs);
	return n / t;
}

/* Operations per second through rsa_ifma_run() with batches of fill operations (verified). */
static double ifma_rate(unsigned fill, double secs)
{
	struct rsa_ifma_job jobs[RSA_IFMA_LANES];
	struct rsa_ifma_stats st = { 0 };
	double t0 = now_s(), t;
	unsigned long n = 0;

	for (unsigned l = 0; l < fill; l++) {
		jobs[l].key = ikeys[l % NKEYS];
		jobs[l].in = in[l % NKEYS];
		jobs[l].out = out[l];
	}
	rsa_ifma_set_min_fill(1);
	do {
		rsa_ifma_run(jobs, fill, &st);
		n += fill;
		t = now_s() - t0;
	} while (t < secs);
	if (st.ifma_ops != n || st.verify_failed || st.failed) {
		fprintf(stderr, "bench_rsa: %llu of %lu operations by IFMA, %llu failed checks\n",
			(unsigned long long)st.ifma_ops, n, (unsigned long long)st.verify_failed);
		exit(1);
	}
	return n / t;
}

/* BoringSSL's raw public operations (the door's check of a run of one) per CPU second. */
static double public_rate(double secs)
{
	double t0 = now_s(), t;
	unsigned long n = 0;

	do {
		for (unsigned i = 0; i < 16; i++, n++) {
			size_t len;

			if (!RSA_encrypt(keys[n % NKEYS], &len, out[1], RSA_IFMA_BYTES, in[n % NKEYS],
					 RSA_IFMA_BYTES, RSA_NO_PADDING)) {
				fprintf(stderr, "bench_rsa: public operation failed\n");
				exit(1);
			}
		}
		t = now_s() - t0;
	} while (t < secs);
	return n / t;
}

/* ECDSA P-256 signatures of a SHA-256 digest per CPU second. */
static double ecdsa_rate(double secs)
{
	EC_KEY *k = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
	uint8_t dig[32] = { 1, 2, 3 }, sig[80];
	double t0, t;
	unsigned long n = 0;

	if (!k || !EC_KEY_generate_key(k)) {
		fprintf(stderr, "bench_rsa: cannot make a P-256 key\n");
		exit(1);
	}
	t0 = now_s();
	do {
		for (unsigned i = 0; i < 16; i++, n++) {
			unsigned len = sizeof(sig);

			if (!ECDSA_sign(0, dig, sizeof(dig), sig, &len, k)) {
				fprintf(stderr, "bench_rsa: ECDSA_sign failed\n");
				exit(1);
			}
			dig[0] = sig[8];
		}
		t = now_s() - t0;
	} while (t < secs);
	EC_KEY_free(k);
	return n / t;
}

/* A server's X25519 work per CPU second: a key pair and one shared key. */
static double x25519_rate(double secs)
{
	uint8_t peer_pub[32], peer_priv[32], pub[32], priv[32], shared[32];
	double t0 = now_s(), t;
	unsigned long n = 0;

	X25519_keypair(peer_pub, peer_priv);
	do {
		for (unsigned i = 0; i < 16; i++, n++) {
			X25519_keypair(pub, priv);
			if (!X25519(shared, priv, peer_pub)) {
				fprintf(stderr, "bench_rsa: X25519 failed\n");
				exit(1);
			}
		}
		t = now_s() - t0;
	} while (t < secs);
	return n / t;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 2.0, sc = 0, r[RSA_IFMA_LANES + 1] = { 0 };
	unsigned even = 0;

	if (secs <= 0)
		secs = 2.0;
	for (unsigned i = 0; i < NKEYS; i++) {
		BIGNUM *x = BN_new();

		keys[i] = gen_rsa();
		ikeys[i] = rsa_ifma_key_new(keys[i]);
		BN_rand_range(x, RSA_get0_n(keys[i]));
		BN_bn2bin_padded(in[i], RSA_IFMA_BYTES, x);
		BN_free(x);
	}
	printf("RSA-2048 private operations per second of CPU time, one core, best of %u slices "
	       "of %.2f s per figure\n", ROUNDS, secs / ROUNDS);
	if (!rsa_ifma_cpu() || !ikeys[0]) {
		printf("this CPU has no AVX-512 IFMA: scalar only\n");
		printf("scalar BoringSSL: %.0f ops/s\n", scalar_rate(secs));
		return 0;
	}
	for (unsigned round = 0; round < ROUNDS; round++) {
		double x = scalar_rate(secs / ROUNDS);

		sc = x > sc ? x : sc;
		for (unsigned f = 1; f <= RSA_IFMA_LANES; f++) {
			x = ifma_rate(f, secs / ROUNDS);
			r[f] = x > r[f] ? x : r[f];
		}
		fprintf(stderr, "round %u of %u\n", round + 1, ROUNDS);
	}
	printf("%-28s %10.0f ops/s  %8.1f us/op\n", "scalar BoringSSL", sc, 1e6 / sc);
	for (unsigned f = 1; f <= RSA_IFMA_LANES; f++) {
		printf("IFMA %s of %u op%s  %10.0f ops/s  %8.1f us/op  x%.2f of scalar\n",
		       f <= RSA_IFMA_RUN_OPS ? "run,  " : "runs, ", f, f == 1 ? " " : "s", r[f], 1e6 / r[f],
		       r[f] / sc);
		if (!even && r[f] > sc)
			even = f;
	}
	{
		double ec = 0, xx = 0, pub = 0;

		for (unsigned round = 0; round < ROUNDS; round++) {
			double x = public_rate(secs / ROUNDS / 4);

			pub = x > pub ? x : pub;
			x = ecdsa_rate(secs / ROUNDS / 2);

			ec = x > ec ? x : ec;
			x = x25519_rate(secs / ROUNDS / 2);
			xx = x > xx ? x : xx;
		}
		printf("%-28s %10.0f ops/s  %8.1f us/op  (BoringSSL's: the check of a run of 1; "
		       "runs of 2 or more check in lanes, included above)\n", "RSA-2048 public (e=65537)",
		       pub, 1e6 / pub);
		printf("%-28s %10.0f ops/s  %8.1f us/op\n", "ECDSA P-256 sign", ec, 1e6 / ec);
		printf("%-28s %10.0f ops/s  %8.1f us/op\n", "X25519 key pair + shared", xx, 1e6 / xx);
	}
	if (even)
		printf("break-even: a run pays off from %u operation%s (RSA_IFMA_MIN_FILL_DEFAULT is %u); "
		       "full runs x%.2f\n", even, even == 1 ? "" : "s", RSA_IFMA_MIN_FILL_DEFAULT,
		       r[RSA_IFMA_RUN_OPS] / sc);
	else
		printf("break-even: never (a full run x%.2f of scalar)\n", r[RSA_IFMA_RUN_OPS] / sc);
	for (unsigned i = 0; i < NKEYS; i++) {
		rsa_ifma_key_free(ikeys[i]);
		RSA_free(keys[i]);
	}
	return 0;
}
