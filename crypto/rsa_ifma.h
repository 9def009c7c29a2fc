/*
 * rsa_ifma.h - RSA-2048 private-key operations eight at a time with
 * AVX-512 IFMA (vpmadd52luq/vpmadd52huq), for the private-key door of
 * crypto/tls.c.
 *
 * Model: each 64-bit lane of a zmm register belongs to one CRT half of an
 * operation ("lane-sliced"): limb j of the eight operands sits in vector
 * j, and lanes 2i and 2i + 1 hold operation i's halves modulo p and q, so
 * a run of eight lanes serves up to four operations in the time of one
 * 1024-bit exponentiation (runs of up to two use the same code on ymm
 * registers, cheaper where 512-bit operations are split in two, as on AMD
 * Zen 4). Numbers are 52-bit limbs; every CRT half is a Montgomery
 * exponentiation modulo its prime (R = 2^1040, 20 limbs) with a fixed
 * 4-bit window, then Garner's recombination, done in both lanes of each
 * pair. The four operations may use four different keys. Nothing
 * branches on, or addresses memory by, secret data: window look-ups read
 * the whole table under masks, conditional subtractions are masked blends.
 *
 * Every result is checked with the public exponent before it is handed
 * out: a run's results in lanes (rsa_ifma_check: out^e mod n, 40 limbs,
 * about 8 us an operation in a run of four against BoringSSL's 15), a lone
 * one by BoringSSL (raw); a lane that fails (a fault, a bug) is redone by
 * BoringSSL's own scalar operation and counted. Keys this path cannot
 * serve (not 2048 bits, a prime above 1038 bits, missing CRT values), a
 * CPU without IFMA, and runs filled below rsa_ifma_min_fill() lanes go to
 * BoringSSL's scalar operation as well.
 *
 * A run takes about 0.6 ms on 8 lanes (0.35 ms on 4): a polling worker
 * does it in steps (rsa_ifma_steps_*), polling between them.
 *
 * Threads: a key is immutable once built and may be shared by every lcore;
 * rsa_ifma_run() keeps no state between calls, a steps object belongs to
 * the thread that drives it.
 */
#ifndef MX_RSA_IFMA_H
#define MX_RSA_IFMA_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#define RSA_IFMA_LANES  8       /* lanes of an IFMA run (zmm), the largest batch of rsa_ifma_raw() */
#define RSA_IFMA_RUN_OPS 4      /* operations per IFMA run: two lanes each */
#define RSA_IFMA_BYTES  256     /* RSA-2048 operand size */
/*
 * Default least fill of an IFMA run, in operations: a run costs the same
 * whether 1 or 2 (ymm kernel) or 3 or 4 (zmm kernel) operations are in
 * it, and even a run of one beats BoringSSL's scalar operation. Measured
 * with `make bench-rsa` (docs/PERFORMANCE.md, "Two lanes an operation").
 */
#define RSA_IFMA_MIN_FILL_DEFAULT 1

struct rsa_ifma_key;

/* One raw private operation of a batch: out = in^d mod n. */
struct rsa_ifma_job {
	const struct rsa_ifma_key *key;
	const uint8_t *in;              /* RSA_IFMA_BYTES, big-endian, below n */
	uint8_t *out;                   /* RSA_IFMA_BYTES, big-endian */
	int ok;                         /* set by rsa_ifma_run(): 1 done, 0 failed */
};

/* What rsa_ifma_run() did, added to by each call. */
struct rsa_ifma_stats {
	uint64_t runs;                  /* IFMA runs (up to 4 operations each) */
	uint64_t fill[RSA_IFMA_RUN_OPS + 1]; /* fill[k]: runs with k operations */
	uint64_t ifma_ops;              /* results from IFMA that passed the check */
	uint64_t scalar_ops;            /* operations done by BoringSSL one at a time */
	uint64_t verify_failed;         /* IFMA results that failed the check (redone scalar) */
	uint64_t failed;                /* operations that failed altogether */
};

/* Does this CPU (and OS) run AVX-512 IFMA? Checked once. */
int rsa_ifma_cpu(void);

/*
 * Build the IFMA form of an RSA key (takes a reference on rsa); NULL when
 * this path cannot serve the key (see the header comment) or out of memory.
 */
struct rsa_ifma_key *rsa_ifma_key_new(RSA *rsa);
void rsa_ifma_key_free(struct rsa_ifma_key *k);
/* The key's RSA (for the scalar path). */
RSA *rsa_ifma_key_rsa(const struct rsa_ifma_key *k);

/*
 * Least fill of an IFMA run in operations; 1..4, or 5 to keep everything
 * scalar. The
 * environment variable MXGATE_RSA_IFMA_MIN_FILL (one digit 1..9), read at
 * the first call, replaces the default (side-by-side measurements).
 */
unsigned rsa_ifma_min_fill(void);
void rsa_ifma_set_min_fill(unsigned n);

/*
 * Run n raw private operations: in groups of up to 4 through IFMA (when the
 * CPU has it and a group has at least rsa_ifma_min_fill() jobs), the rest
 * by BoringSSL; every IFMA result is verified. jobs[i].ok tells each outcome;
 * st (may be NULL) is added to.
 */
void rsa_ifma_run(struct rsa_ifma_job *jobs, unsigned n, struct rsa_ifma_stats *st);

/*
 * One run of up to 4 jobs in steps, for a caller that must not stop for a
 * whole run (a polling worker): the same work and results as rsa_ifma_run()
 * on those jobs (the check, BoringSSL for what the lanes cannot take or got
 * wrong), cut into slices; but with fewer than min_fill jobs for the lanes
 * (rsa_ifma_run uses rsa_ifma_min_fill()) all go to BoringSSL, whose
 * operations cannot be cut. jobs[i] (key, in, out) must
 * stay valid until the run is done or freed. NULL when n is not 1..4, st
 * is NULL, or out of memory.
 */
struct rsa_ifma_steps;
struct rsa_ifma_steps *rsa_ifma_steps_new(struct rsa_ifma_job *const *jobs, unsigned n,
					  unsigned min_fill, struct rsa_ifma_stats *st);
/*
 * Go on with the run for about budget units of work (at least one step):
 * a unit is one exponent window of the lanes, about 2 us on 8 lanes (Zen 4),
 * and a run is rsa_ifma_steps_units() of them; the check of a run's
 * results counts 13 (one step), an operation by BoringSSL 270 (it cannot be
 * cut). Returns 1 once the
 * run is done: every job's ok and out are then set and st is added to.
 */
int rsa_ifma_steps_do(struct rsa_ifma_steps *s, unsigned budget);
/* Units of one kernel run (without the checks). */
unsigned rsa_ifma_steps_units(void);
/* Free a run, done or not (its working set is wiped first). */
void rsa_ifma_steps_free(struct rsa_ifma_steps *s);

/*
 * The kernel alone, unverified (tests and the bench): out[i] = in[i]^d mod
 * n of keys[i] for i < n (n <= 8), in runs of up to 4 operations: the
 * 4-lane ymm kernel for up to 2, else the 8-lane zmm one; unused lanes
 * repeat operation 0's work). Requires rsa_ifma_cpu().
 */
void rsa_ifma_raw(const struct rsa_ifma_key *const *keys, const uint8_t *const *in,
		  uint8_t *const *out, unsigned n);

/*
 * The check of n (<= 8) results in lanes, as the door does it: bit l is set
 * when out[l]^e = in[l] modulo the modulus of keys[l] (public exponent e).
 * Lanes whose key has no lane check (an even exponent or one of 63 bits or
 * more: the door asks BoringSSL) stay clear. Requires rsa_ifma_cpu().
 */
unsigned rsa_ifma_check(const struct rsa_ifma_key *const *keys, const uint8_t *const *in,
			const uint8_t *const *out, unsigned n);

/*
 * Encode a message for signing with rsa under md: EMSA-PSS (salt length =
 * hash length, MGF1 with md) when pss, else EMSA-PKCS1-v1_5 (DigestInfo);
 * the digest and the padding are BoringSSL's. em gets RSA_size(rsa) bytes.
 * 1 on success.
 */
int rsa_ifma_encode(RSA *rsa, const EVP_MD *md, int pss, const uint8_t *msg, size_t len,
		    uint8_t *em);

/*
 * Tests only: the results of the operations in this bit mask, by their
 * place in a run (bit k: the k-th of every run), get one bit flipped
 * after the kernel and before the check (a simulated fault). 0 in service.
 */
extern unsigned rsa_ifma_fault_mask;

#endif
