/*
 * p256_ifma.c (bench) - ECDSA P-256 signing on one core: BoringSSL's
 * ECDSA_do_sign against the lane run of crypto/p256_ifma.c at every fill
 * level 1..8 (1..4 lanes: the ymm kernel, 5..8: zmm), side by side in one
 * run, and the break-even fill: the least fill at which a signature in
 * lanes costs less than one from BoringSSL. Then the same for verification
 * (ECDSA_do_verify against p256_ifma_verify with one key's tables in every
 * lane), and the time to build a key's tables (p256_ifma_pub_new).
 * `make bench-p256`.
 *
 * Time is this thread's CPU time; each figure is measured in short slices
 * over several rounds, interleaved, and the best slice of each is kept (the
 * least disturbed one). Every lane's signature is verified once before
 * timing.
 *
 * Usage: build/bench_p256 [seconds per figure, default 2]
 */
#include "crypto/p256_ifma.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/ecdsa.h>
#include <openssl/nid.h>
#include <openssl/rand.h>

#define ROUNDS 5

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static EC_KEY *eck;
static struct p256_ifma_job jobs[8];
static struct p256_ifma_vjob vjobs[8];
static ECDSA_SIG *vsig;
static int verifying;   /* op() times verification instead of signing */

/*
 * fill 0: BoringSSL's ECDSA_do_sign (ECDSA_do_verify when verifying); else
 * one lane run of that fill
 */
static void op(int fill)
{
	if (verifying) {
		if (fill > 0) {
			p256_ifma_verify(vjobs, (unsigned)fill);
		} else if (ECDSA_do_verify(vjobs[0].digest, 32, vsig, eck) != 1) {
			fprintf(stderr, "bench_p256: ECDSA_do_verify failed\n");
			exit(1);
		}
	} else if (fill > 0) {
		p256_ifma_sign(jobs, (unsigned)fill);
	} else {
		ECDSA_SIG *sig = ECDSA_do_sign(jobs[0].digest, 32, eck);

		ECDSA_SIG_free(sig);
	}
}

/* Best microseconds per call of op(fill) over ROUNDS slices of slice_s each. */
static double best_us(int fill, double slice_s)
{
	double best = 1e30;

	for (unsigned r = 0; r < ROUNDS; r++) {
		double t0 = now_s(), t;
		unsigned long n = 0;

		do {
			op(fill);
			n++;
		} while ((t = now_s() - t0) < slice_s);
		if (t / n < best)
			best = t / n;
	}
	return best * 1e6;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 2, slice, run[9], bssl;
	struct p256_ifma_key *key;
	int even = 0;

	if (secs <= 0 || secs > 60) {
		fprintf(stderr, "usage: bench_p256 [seconds per figure, 0 < s <= 60]\n");
		return 2;
	}
	if (!p256_ifma_cpu()) {
		printf("bench_p256: this CPU has no AVX-512 IFMA: nothing to compare\n");
		return 0;
	}
	eck = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
	if (!eck || !EC_KEY_generate_key(eck) || !(key = p256_ifma_key_new(eck))) {
		fprintf(stderr, "bench_p256: no key\n");
		return 1;
	}
	for (unsigned i = 0; i < 8; i++) {
		jobs[i].key = key;
		RAND_bytes(jobs[i].digest, 32);
	}
	op(8);
	for (unsigned i = 0; i < 8; i++) {
		ECDSA_SIG *sig = ECDSA_SIG_new();
		int ok = sig && jobs[i].ok && BN_bin2bn(jobs[i].r, 32, sig->r) &&
			 BN_bin2bn(jobs[i].s, 32, sig->s) && ECDSA_do_verify(jobs[i].digest, 32, sig, eck);

		ECDSA_SIG_free(sig);
		if (!ok) {
			fprintf(stderr, "bench_p256: lane %u does not verify\n", i);
			return 1;
		}
	}
	/* interleaved: each round measures every figure once */
	slice = secs / ROUNDS;
	bssl = best_us(0, slice);
	for (int f = 1; f <= 8; f++)
		run[f] = best_us(f, slice);
	printf("ECDSA P-256 signing, one core, this thread's CPU time (best of %d slices of %.2f s)\n",
	       ROUNDS, slice);
	printf("BoringSSL ECDSA_do_sign                    %8.1f us/signature\n", bssl);
	printf("%-6s %12s %14s %16s\n", "lanes", "us/run", "us/signature", "vs BoringSSL");
	for (int f = 1; f <= 8; f++) {
		printf("%-6d %12.1f %14.1f %15.2fx\n", f, run[f], run[f] / f, bssl * f / run[f]);
		if (!even && run[f] / f < bssl)
			even = f;
	}
	if (even)
		printf("break-even fill: %d (the least fill where a signature in lanes costs less)\n", even);
	else
		printf("break-even fill: none (lanes cost more than BoringSSL at every fill)\n");
	/* verification: the signatures just made, one key's tables in every lane */
	{
		struct p256_ifma_pub *pub = NULL;
		double t0 = now_s(), build;
		unsigned builds = 0;

		do {
			p256_ifma_pub_free(pub);
			if (!(pub = p256_ifma_pub_new(eck))) {
				fprintf(stderr, "bench_p256: no public key tables\n");
				return 1;
			}
			builds++;
		} while (now_s() - t0 < slice);
		build = (now_s() - t0) / builds;
		for (unsigned i = 0; i < 8; i++) {
			vjobs[i].pub = pub;
			memcpy(vjobs[i].digest, jobs[i].digest, 32);
			memcpy(vjobs[i].r, jobs[i].r, 32);
			memcpy(vjobs[i].s, jobs[i].s, 32);
		}
		p256_ifma_verify(vjobs, 8);
		for (unsigned i = 0; i < 8; i++)
			if (vjobs[i].ok != 1) {
				fprintf(stderr, "bench_p256: lane %u does not verify in lanes\n", i);
				return 1;
			}
		vsig = ECDSA_SIG_new();
		if (!vsig || !BN_bin2bn(vjobs[0].r, 32, vsig->r) || !BN_bin2bn(vjobs[0].s, 32, vsig->s))
			return 1;
		verifying = 1;
		bssl = best_us(0, slice);
		for (int f = 1; f <= 8; f++)
			run[f] = best_us(f, slice);
		printf("\nECDSA P-256 verification, one core, this thread's CPU time (best of %d slices of %.2f s)\n",
		       ROUNDS, slice);
		/* the tables: 52 windows x 16 points x (x, y) x 5 limbs of 8 bytes, and the point */
		printf("a key's tables (p256_ifma_pub_new): %.2f ms to build, %zu bytes\n", build * 1e3,
		       (size_t)52 * 16 * 2 * 5 * 8 + 65);
		printf("BoringSSL ECDSA_do_verify                  %8.1f us/signature\n", bssl);
		printf("%-6s %12s %14s %16s\n", "lanes", "us/run", "us/signature", "vs BoringSSL");
		even = 0;
		for (int f = 1; f <= 8; f++) {
			printf("%-6d %12.1f %14.1f %15.2fx\n", f, run[f], run[f] / f, bssl * f / run[f]);
			if (!even && run[f] / f < bssl)
				even = f;
		}
		if (even)
			printf("break-even fill: %d\n", even);
		else
			printf("break-even fill: none (lanes cost more than BoringSSL at every fill)\n");
		ECDSA_SIG_free(vsig);
		p256_ifma_pub_free(pub);
	}
	p256_ifma_key_free(key);
	EC_KEY_free(eck);
	return 0;
}
