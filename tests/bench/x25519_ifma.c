/*
 * x25519_ifma.c (bench) - X25519 on one core: BoringSSL's scalar X25519()
 * and X25519_public_from_private() against the 8-lane AVX-512 IFMA run of
 * crypto/x25519_ifma.c at every fill level 1..8, side by side in one run,
 * (1..4 lanes: the ymm kernel, 5..8: zmm), and what a server session's
 * share (a key pair and a shared secret, two lanes) costs each way at 1..4
 * sessions per run: whether a session alone should go through lanes
 * (crypto/tls.c x25519_run_jobs: it does). `make bench-x25519`.
 *
 * Key pairs by fixed base: at fills 1, 4 and 8 the ladder with u = 9 in
 * every lane (what a run of key pairs costs through x25519_ifma_raw) and
 * x25519_ifma_base on the same scalars, per run and per lane, and the
 * ratio base / ladder.
 *
 * Time is this thread's CPU time; each figure is measured in short slices
 * over several rounds, interleaved, and the best slice of each is kept (the
 * least disturbed one). Every lane's result is checked against BoringSSL
 * once before timing.
 *
 * Usage: build/bench_x25519 [seconds per figure, default 2]
 */
#include "crypto/x25519_ifma.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/curve25519.h>
#include <openssl/rand.h>

#define ROUNDS 5

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint8_t k[8][32], u[8][32], u9[8][32], out[8][32];

enum kind { LADDER, LADDER9, BASE };
static enum kind kind;

/*
 * fill 0: BoringSSL's X25519 (shared secret); -1: its public key from a
 * private one; 1..8: a run of that many lanes of kind (the ladder on u, the
 * ladder on u = 9, the fixed base).
 */
static void op(int fill)
{
	if (fill > 0 && kind == BASE)
		x25519_ifma_base(out, (const uint8_t (*)[32])k, (unsigned)fill);
	else if (fill > 0)
		x25519_ifma_raw(out, (const uint8_t (*)[32])k,
				(const uint8_t (*)[32])(kind == LADDER9 ? u9 : u), (unsigned)fill);
	else if (fill == 0)
		X25519(out[0], k[0], u[0]);
	else
		X25519_public_from_private(out[0], k[0]);
}

/* Best microseconds per call of op(fill) over ROUNDS slices of slice_s each. */
static double best_us(enum kind kd, int fill, double slice_s)
{
	double best = 1e30;

	kind = kd;
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
	static const int bfill[3] = { 1, 4, 8 };
	double secs = argc > 1 ? atof(argv[1]) : 2, slice, run[9], shared, pub, l9[3], bs[3], first;

	if (secs <= 0 || secs > 60) {
		fprintf(stderr, "usage: bench_x25519 [seconds per figure, 0 < s <= 60]\n");
		return 2;
	}
	if (!x25519_ifma_cpu()) {
		printf("bench_x25519: this CPU has no AVX-512 IFMA: nothing to compare\n");
		return 0;
	}
	RAND_bytes((uint8_t *)k, sizeof(k));
	RAND_bytes((uint8_t *)u, sizeof(u));
	op(8);
	for (unsigned i = 0; i < 8; i++) {
		uint8_t want[32];

		X25519(want, k[i], u[i]);
		if (memcmp(want, out[i], 32) != 0) {
			fprintf(stderr, "bench_x25519: lane %u differs from BoringSSL\n", i);
			return 1;
		}
	}
	for (unsigned i = 0; i < 8; i++)
		u9[i][0] = 9;
	kind = BASE;
	first = now_s();
	op(1);                  /* the first call makes the table */
	first = (now_s() - first) * 1e6;
	for (int f = 1; f <= 8; f++) {
		memset(out, 0, sizeof(out));
		op(f);
		for (int i = 0; i < f; i++) {
			uint8_t want[32];

			X25519_public_from_private(want, k[i]);
			if (memcmp(want, out[i], 32) != 0) {
				fprintf(stderr, "bench_x25519: base lane %d of %d differs\n", i, f);
				return 1;
			}
		}
	}
	slice = secs / ROUNDS;
	shared = best_us(LADDER, 0, slice);
	pub = best_us(LADDER, -1, slice);
	for (int f = 1; f <= 8; f++)
		run[f] = best_us(LADDER, f, slice);
	for (int i = 0; i < 3; i++) {
		l9[i] = best_us(LADDER9, bfill[i], slice);
		bs[i] = best_us(BASE, bfill[i], slice);
	}
	printf("X25519, one core, this thread's CPU time (best of %d slices of %.2f s)\n", ROUNDS, slice);
	printf("BoringSSL X25519 (shared secret)           %8.1f us\n", shared);
	printf("BoringSSL X25519_public_from_private       %8.1f us\n", pub);
	printf("%-6s %12s %12s %14s\n", "lanes", "us/run", "us/lane", "vs scalar X25519");
	for (int f = 1; f <= 8; f++)
		printf("%-6d %12.1f %12.1f %13.2fx\n", f, run[f], run[f] / f, shared * f / run[f]);
	printf("a server session's share (key pair + shared secret):\n");
	printf("%-9s %14s %14s %8s\n", "sessions", "scalar us", "IFMA run us", "ratio");
	for (int s = 1; s <= 4; s++)
		printf("%-9d %14.1f %14.1f %7.2fx\n", s, s * (shared + pub), run[2 * s],
		       s * (shared + pub) / run[2 * s]);
	printf("key pairs: the ladder with u = 9 vs x25519_ifma_base (fixed base), same scalars\n");
	printf("(base's first call, which makes its table: %.0f us)\n", first);
	printf("%-6s %12s %12s %12s %12s %8s\n", "lanes", "ladder us", "ladder/lane", "base us",
	       "base/lane", "base/ladder");
	for (int i = 0; i < 3; i++)
		printf("%-6d %12.1f %12.1f %12.1f %12.1f %7.2f\n", bfill[i], l9[i], l9[i] / bfill[i], bs[i],
		       bs[i] / bfill[i], bs[i] / l9[i]);
	return 0;
}
