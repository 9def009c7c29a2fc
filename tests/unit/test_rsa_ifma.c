/*
 * test_rsa_ifma.c - unit tests for crypto/rsa_ifma.c, RSA-2048 private
 * operations eight lanes at once with AVX-512 IFMA.
 *
 * Every result is compared with BoringSSL's own raw private operation
 * (RSA_decrypt, RSA_NO_PADDING) on the same input. Covered: random inputs
 * under four random 2048-bit keys mixed in one run, every fill level of a
 * run (1..4 operations, two lanes each) and batches of 5..8 (two runs)
 * through the kernel and through rsa_ifma_run(); edge inputs (0, 1, n-1,
 * multiples of p); a key with unequal primes (1012 + 1036 bits, IFMA) and
 * one beyond the path (980 + 1068 bits: built, refused, served scalar);
 * non-2048 keys refused; inputs >= n refused as BoringSSL refuses them;
 * PSS and PKCS#1 v1.5 signatures encoded here and signed through the
 * batch verify with BoringSSL; a forced fault in one lane is caught by the
 * public-exponent check, counted, and the lane still gets the right
 * answer; runs below the least fill go scalar and are counted so.
 * Through the door (crypto/tls.c key_batch_run): eight BoringSSL clients
 * handshake at once with our server (TLS 1.3 PSS, TLS 1.2 PKCS#1 v1.5,
 * TLS 1.2 RSA key exchange, mixes with an ECDSA certificate, one leaving
 * two RSA operations for the 4-lane kernel): one
 * tls_worker_run() round gathers their operations into IFMA runs, every
 * client verifies the signature (or the Finished after the decryption),
 * and the worker's counters say so; a forced fault there is caught too.
 * Without IFMA on the CPU the kernel tests are skipped (said so) and the
 * batch must still give right answers through the scalar path.
 */
#include "crypto/rsa_ifma.h"
#include "crypto/tls.h"
#include "tests/unit/t.h"
#include "tests/unit/stack_scan.h"
#include "tests/bench/hs_pairs.h"

#include <limits.h>
#include <stdlib.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/digest.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define NKEYS 4

static RSA *keys[NKEYS];
static struct rsa_ifma_key *ikeys[NKEYS];

/* A fresh RSA-2048 key (e = 65537). */
static RSA *gen_rsa(void)
{
	RSA *r = RSA_new();
	BIGNUM *e = BN_new();

	BN_set_word(e, RSA_F4);
	if (!RSA_generate_key_ex(r, 2048, e, NULL)) {
		RSA_free(r);
		r = NULL;
	}
	BN_free(e);
	return r;
}

/* An RSA key from primes of pbits and qbits (n of 2048 bits), public exponent ew. */
static RSA *rsa_from_primes_e(int pbits, int qbits, unsigned long ew)
{
	BN_CTX *ctx = BN_CTX_new();
	BIGNUM *p = BN_new(), *q = BN_new(), *n = BN_new(), *e = BN_new(), *d = BN_new();
	BIGNUM *p1 = BN_new(), *q1 = BN_new(), *phi = BN_new(), *dp = BN_new(), *dq = BN_new();
	BIGNUM *qi = BN_new();
	RSA *r = NULL;

	BN_set_word(e, ew);
	for (int tries = 0; tries < 50; tries++) {
		if (!BN_generate_prime_ex(p, pbits, 0, NULL, NULL, NULL) ||
		    !BN_generate_prime_ex(q, qbits, 0, NULL, NULL, NULL) || !BN_mul(n, p, q, ctx))
			goto out;
		if (BN_num_bits(n) != 2048 || BN_cmp(p, q) == 0)
			continue;
		BN_sub(p1, p, BN_value_one());
		BN_sub(q1, q, BN_value_one());
		BN_mul(phi, p1, q1, ctx);
		if (!BN_mod_inverse(d, e, phi, ctx))
			continue;       /* e not prime to phi: new primes */
		break;
	}
	if (BN_num_bits(n) != 2048)
		goto out;
	BN_mod(dp, d, p1, ctx);
	BN_mod(dq, d, q1, ctx);
	if (!BN_mod_inverse(qi, q, p, ctx))
		goto out;
	r = RSA_new();
	RSA_set0_key(r, n, e, d);
	RSA_set0_factors(r, p, q);
	RSA_set0_crt_params(r, dp, dq, qi);
	n = e = d = p = q = dp = dq = qi = NULL;
	if (!RSA_check_key(r)) {
		RSA_free(r);
		r = NULL;
	}
out:
	BN_free(p); BN_free(q); BN_free(n); BN_free(e); BN_free(d);
	BN_free(p1); BN_free(q1); BN_free(phi); BN_free(dp); BN_free(dq); BN_free(qi);
	BN_CTX_free(ctx);
	return r;
}

static RSA *rsa_from_primes(int pbits, int qbits)
{
	return rsa_from_primes_e(pbits, qbits, RSA_F4);
}

/* A random input below the key's modulus. */
static void rand_below_n(RSA *r, uint8_t *in)
{
	BIGNUM *x = BN_new();

	BN_rand_range(x, RSA_get0_n(r));
	BN_bn2bin_padded(in, RSA_IFMA_BYTES, x);
	BN_free(x);
}

/* BoringSSL's raw private operation; 1 on success. */
static int ref_op(RSA *r, const uint8_t *in, uint8_t *out)
{
	size_t len = 0;
	int ok = RSA_decrypt(r, &len, out, RSA_IFMA_BYTES, in, RSA_IFMA_BYTES, RSA_NO_PADDING);

	ERR_clear_error();
	return ok && len == RSA_IFMA_BYTES;
}

/* Run the kernel on n lanes with the given keys and inputs; count lanes equal to BoringSSL. */
static unsigned kernel_matches(RSA *const *rs, const struct rsa_ifma_key *const *ks,
			       uint8_t (*in)[RSA_IFMA_BYTES], unsigned n)
{
	uint8_t out[RSA_IFMA_LANES][RSA_IFMA_BYTES], ref[RSA_IFMA_BYTES];
	const uint8_t *inp[RSA_IFMA_LANES];
	uint8_t *outp[RSA_IFMA_LANES];
	unsigned good = 0;

	for (unsigned l = 0; l < n; l++) {
		inp[l] = in[l];
		outp[l] = out[l];
	}
	rsa_ifma_raw(ks, inp, outp, n);
	for (unsigned l = 0; l < n; l++)
		if (ref_op(rs[l], in[l], ref) && memcmp(ref, out[l], RSA_IFMA_BYTES) == 0)
			good++;
		else
			fprintf(stderr, "lane %u of %u differs from BoringSSL\n", l, n);
	return good;
}

TEST(keys_built)
{
	for (unsigned i = 0; i < NKEYS; i++) {
		keys[i] = gen_rsa();
		CHECK(keys[i] != NULL);
		ikeys[i] = rsa_ifma_key_new(keys[i]);
		CHECK(ikeys[i] != NULL);
	}
}

TEST(kernel_every_fill_mixed_keys)
{
	uint8_t in[RSA_IFMA_LANES][RSA_IFMA_BYTES];
	RSA *rs[RSA_IFMA_LANES];
	const struct rsa_ifma_key *ks[RSA_IFMA_LANES];

	for (unsigned fill = 1; fill <= RSA_IFMA_LANES; fill++)
		for (unsigned round = 0; round < 2; round++) {
			for (unsigned l = 0; l < fill; l++) {
				unsigned k = (l + fill + round) % NKEYS;

				rs[l] = keys[k];
				ks[l] = ikeys[k];
				rand_below_n(rs[l], in[l]);
			}
			CHECK_EQ(kernel_matches(rs, ks, in, fill), fill);
		}
}

TEST(kernel_edge_inputs)
{
	uint8_t in[RSA_IFMA_LANES][RSA_IFMA_BYTES];
	RSA *rs[RSA_IFMA_LANES];
	const struct rsa_ifma_key *ks[RSA_IFMA_LANES];
	BIGNUM *x = BN_new();
	BN_CTX *ctx = BN_CTX_new();

	for (unsigned l = 0; l < RSA_IFMA_LANES; l++) {
		rs[l] = keys[l % NKEYS];
		ks[l] = ikeys[l % NKEYS];
		memset(in[l], 0, RSA_IFMA_BYTES);
	}
	in[1][RSA_IFMA_BYTES - 1] = 1;                          /* 1 */
	BN_sub(x, RSA_get0_n(rs[2]), BN_value_one());           /* n - 1 */
	BN_bn2bin_padded(in[2], RSA_IFMA_BYTES, x);
	BN_bn2bin_padded(in[3], RSA_IFMA_BYTES, RSA_get0_p(rs[3]));     /* p: 0 mod p */
	BN_lshift1(x, RSA_get0_q(rs[4]));                       /* 2q: 0 mod q */
	BN_bn2bin_padded(in[4], RSA_IFMA_BYTES, x);
	memset(in[5] + 1, 0xff, 63);                            /* many high bits, below n */
	BN_sub(x, RSA_get0_n(rs[6]), RSA_get0_p(rs[6]));        /* n - p */
	BN_bn2bin_padded(in[6], RSA_IFMA_BYTES, x);
	in[7][RSA_IFMA_BYTES - 1] = 2;
	CHECK_EQ(kernel_matches(rs, ks, in, RSA_IFMA_LANES), RSA_IFMA_LANES);
	BN_free(x);
	BN_CTX_free(ctx);
}

TEST(unequal_primes)
{
	RSA *odd = rsa_from_primes(1012, 1036), *far = rsa_from_primes(980, 1068);
	struct rsa_ifma_key *ko = odd ? rsa_ifma_key_new(odd) : NULL;
	struct rsa_ifma_key *kf = far ? rsa_ifma_key_new(far) : NULL;
	uint8_t in[RSA_IFMA_LANES][RSA_IFMA_BYTES], out[RSA_IFMA_BYTES], ref[RSA_IFMA_BYTES];
	RSA *rs[RSA_IFMA_LANES];
	const struct rsa_ifma_key *ks[RSA_IFMA_LANES];
	struct rsa_ifma_job job;
	struct rsa_ifma_stats st = { 0 };

	CHECK(odd != NULL);
	CHECK(far != NULL);
	CHECK(ko != NULL);              /* 1036-bit prime: served */
	CHECK(kf == NULL);              /* 1068-bit prime: beyond 1038 bits */
	if (!ko || !far)
		goto out;
	CHECK(BN_num_bits(RSA_get0_p(odd)) != BN_num_bits(RSA_get0_q(odd)));
	/* both orders of the primes: odd as built, and lanes of ordinary keys around it */
	for (unsigned l = 0; l < RSA_IFMA_LANES; l++) {
		rs[l] = l % 2 ? odd : keys[l % NKEYS];
		ks[l] = l % 2 ? ko : ikeys[l % NKEYS];
		rand_below_n(rs[l], in[l]);
	}
	CHECK_EQ(kernel_matches(rs, ks, in, RSA_IFMA_LANES), RSA_IFMA_LANES);
	/* the other key stays with BoringSSL: what the door does when key_new says NULL */
	rand_below_n(far, in[0]);
	CHECK(ref_op(far, in[0], ref));
	job.key = NULL;
	job.in = in[0];
	job.out = out;
	rsa_ifma_run(&job, 1, &st);
	CHECK_EQ(job.ok, 0);            /* no key: the caller's own path */
out:
	rsa_ifma_key_free(ko);
	rsa_ifma_key_free(kf);
	RSA_free(odd);
	RSA_free(far);
}

/*
 * The two halves of an operation side by side, against what they meet in
 * Garner's step: at every fill of a run (1..2 in ymm, 3..4 in zmm, 3
 * leaving two lanes to repeat operation 0), neighbouring operations under
 * different keys, among them unequal primes in both orders (p < q: m2 may
 * be above p; p > q), with inputs that put the halves at their ends:
 * n - 1, (q - 1)p and (p - 1)q (one half 0, the other its top), p, q + 1,
 * and random ones.
 */
TEST(kernel_pairs_unequal_primes)
{
	RSA *lo = rsa_from_primes(1012, 1036), *hi = rsa_from_primes(1036, 1012);
	struct rsa_ifma_key *klo = lo ? rsa_ifma_key_new(lo) : NULL;
	struct rsa_ifma_key *khi = hi ? rsa_ifma_key_new(hi) : NULL;
	uint8_t in[RSA_IFMA_LANES][RSA_IFMA_BYTES];
	RSA *rs[RSA_IFMA_LANES];
	const struct rsa_ifma_key *ks[RSA_IFMA_LANES];
	BIGNUM *x = BN_new(), *t = BN_new();
	BN_CTX *ctx = BN_CTX_new();

	CHECK(klo != NULL && khi != NULL);
	if (!rsa_ifma_cpu() || !klo || !khi)
		goto out;
	CHECK(BN_cmp(RSA_get0_p(lo), RSA_get0_q(lo)) < 0);
	CHECK(BN_cmp(RSA_get0_p(hi), RSA_get0_q(hi)) > 0);
	for (unsigned fill = 1; fill <= RSA_IFMA_RUN_OPS; fill++)
		for (unsigned kind = 0; kind < 6; kind++) {
			for (unsigned l = 0; l < fill; l++) {
				unsigned pick = (l + kind) % 3, how = (kind + l) % 6;
				const BIGNUM *p, *q, *n;

				rs[l] = pick == 0 ? lo : pick == 1 ? hi : keys[l % NKEYS];
				ks[l] = pick == 0 ? klo : pick == 1 ? khi : ikeys[l % NKEYS];
				p = RSA_get0_p(rs[l]);
				q = RSA_get0_q(rs[l]);
				n = RSA_get0_n(rs[l]);
				switch (how) {
				case 0: BN_sub(x, n, BN_value_one()); break;
				case 1: BN_sub(t, q, BN_value_one()); BN_mul(x, t, p, ctx); break;
				case 2: BN_sub(t, p, BN_value_one()); BN_mul(x, t, q, ctx); break;
				case 3: BN_copy(x, p); break;
				case 4: BN_add(x, q, BN_value_one()); break;
				default: BN_rand_range(x, n); break;
				}
				BN_bn2bin_padded(in[l], RSA_IFMA_BYTES, x);
			}
			CHECK_EQ(kernel_matches(rs, ks, in, fill), fill);
		}
out:
	BN_free(x);
	BN_free(t);
	BN_CTX_free(ctx);
	rsa_ifma_key_free(klo);
	rsa_ifma_key_free(khi);
	RSA_free(lo);
	RSA_free(hi);
}

/*
 * The check in lanes (rsa_ifma_check), at every fill, with keys of public
 * exponents 65537, 3 and 17 side by side (their top bits differ): right
 * results pass; one flipped bit in any lane, the input handed back as the
 * result, and a result above the modulus fail in that lane alone.
 */
TEST(lane_check)
{
	RSA *r3 = rsa_from_primes_e(1024, 1024, 3), *r17 = rsa_from_primes_e(1024, 1024, 17);
	struct rsa_ifma_key *k3 = r3 ? rsa_ifma_key_new(r3) : NULL;
	struct rsa_ifma_key *k17 = r17 ? rsa_ifma_key_new(r17) : NULL;
	RSA *rs[RSA_IFMA_LANES];
	const struct rsa_ifma_key *ks[RSA_IFMA_LANES];
	uint8_t in[RSA_IFMA_LANES][RSA_IFMA_BYTES], out[RSA_IFMA_LANES][RSA_IFMA_BYTES];
	const uint8_t *ip[RSA_IFMA_LANES], *op[RSA_IFMA_LANES];
	unsigned wrong = 0;

	CHECK(k3 != NULL && k17 != NULL);
	if (!rsa_ifma_cpu() || !k3 || !k17)
		goto out;
	for (unsigned n = 1; n <= RSA_IFMA_LANES; n++) {
		unsigned all = (1u << n) - 1;

		for (unsigned l = 0; l < n; l++) {
			unsigned pick = (l + n) % 3;

			rs[l] = pick == 0 ? keys[l % NKEYS] : pick == 1 ? r3 : r17;
			ks[l] = pick == 0 ? ikeys[l % NKEYS] : pick == 1 ? k3 : k17;
			rand_below_n(rs[l], in[l]);
			CHECK(ref_op(rs[l], in[l], out[l]));
			ip[l] = in[l];
			op[l] = out[l];
		}
		wrong += rsa_ifma_check(ks, ip, op, n) != all;
		for (unsigned l = 0; l < n; l++) {
			unsigned bit = (l * 523 + n * 97) % (RSA_IFMA_BYTES * 8);
			uint8_t keep[RSA_IFMA_BYTES];

			out[l][bit / 8] ^= (uint8_t)(1u << (bit % 8));
			wrong += rsa_ifma_check(ks, ip, op, n) != (all & ~(1u << l));
			out[l][bit / 8] ^= (uint8_t)(1u << (bit % 8));
			memcpy(keep, out[l], sizeof(keep));
			memcpy(out[l], in[l], sizeof(keep));
			wrong += rsa_ifma_check(ks, ip, op, n) != (all & ~(1u << l));
			memset(out[l], 0xff, sizeof(keep));
			wrong += rsa_ifma_check(ks, ip, op, n) != (all & ~(1u << l));
			memcpy(out[l], keep, sizeof(keep));
		}
		wrong += rsa_ifma_check(ks, ip, op, n) != all;
	}
	CHECK_EQ(wrong, 0);
out:
	rsa_ifma_key_free(k3);
	rsa_ifma_key_free(k17);
	RSA_free(r3);
	RSA_free(r17);
}

/*
 * A result congruent to the right one but not below n (out + n, which a
 * skipped final subtraction in Garner would give) fails the lane check, as
 * it fails BoringSSL's (RSA_encrypt refuses inputs >= n). Found by review.
 */
TEST(lane_check_out_plus_n)
{
	const struct rsa_ifma_key *ks[RSA_IFMA_LANES];
	uint8_t in[RSA_IFMA_LANES][RSA_IFMA_BYTES], out[RSA_IFMA_LANES][RSA_IFMA_BYTES];
	const uint8_t *ip[RSA_IFMA_LANES], *op[RSA_IFMA_LANES];
	unsigned tried = 0, passed = 0, verify_ok = 0;

	for (unsigned n = 2; n <= RSA_IFMA_LANES; n += 2) {
		for (unsigned l = 0; l < n; l++) {
			RSA *r = keys[l % NKEYS];
			const BIGNUM *nn = RSA_get0_n(r);
			BIGNUM *o = BN_new(), *o2 = BN_new();
			size_t len;

			/* a small right result, then in = out^e mod n */
			BN_set_word(o, 12345 + l);
			BN_bn2bin_padded(out[l], RSA_IFMA_BYTES, o);
			CHECK(RSA_encrypt(r, &len, in[l], RSA_IFMA_BYTES, out[l], RSA_IFMA_BYTES,
					  RSA_NO_PADDING));
			BN_add(o2, o, nn);      /* out + n, below 2^2048 */
			CHECK(BN_num_bytes(o2) == RSA_IFMA_BYTES);
			BN_bn2bin_padded(out[l], RSA_IFMA_BYTES, o2);
			ks[l] = ikeys[l % NKEYS];
			ip[l] = in[l];
			op[l] = out[l];
			{
				uint8_t back[RSA_IFMA_BYTES];

				verify_ok += RSA_encrypt(r, &len, back, sizeof(back), out[l],
							 RSA_IFMA_BYTES, RSA_NO_PADDING) &&
					     memcmp(back, in[l], RSA_IFMA_BYTES) == 0;
				ERR_clear_error();
			}
			BN_free(o);
			BN_free(o2);
			tried++;
		}
		passed += __builtin_popcount(rsa_ifma_check(ks, ip, op, n));
	}
	CHECK_EQ(tried, 20);
	CHECK_EQ(verify_ok, 0);
	CHECK_EQ(passed, 0);
}

/* Lanes without a key are left out of the check (clear), and each lane's answer comes back in its own bit. */
TEST(lane_check_compaction)
{
	const struct rsa_ifma_key *ks[RSA_IFMA_LANES];
	uint8_t in[RSA_IFMA_LANES][RSA_IFMA_BYTES], out[RSA_IFMA_LANES][RSA_IFMA_BYTES];
	const uint8_t *ip[RSA_IFMA_LANES], *op[RSA_IFMA_LANES];
	unsigned wrong = 0;

	for (unsigned pat = 0; pat < 256; pat += 7) {
		unsigned want = 0;

		for (unsigned l = 0; l < RSA_IFMA_LANES; l++) {
			RSA *r = keys[(l + pat) % NKEYS];

			rand_below_n(r, in[l]);
			CHECK(ref_op(r, in[l], out[l]));
			ks[l] = (pat >> l) & 1 ? ikeys[(l + pat) % NKEYS] : NULL;
			want |= ((pat >> l) & 1) << l;
			ip[l] = in[l];
			op[l] = out[l];
		}
		wrong += rsa_ifma_check(ks, ip, op, RSA_IFMA_LANES) != want;
		for (unsigned l = 0; l < RSA_IFMA_LANES; l++) {
			out[l][7] ^= 1;
			wrong += rsa_ifma_check(ks, ip, op, RSA_IFMA_LANES) != (want & ~(1u << l));
			out[l][7] ^= 1;
		}
	}
	CHECK_EQ(wrong, 0);
}

TEST(other_sizes_refused)
{
	RSA *r = RSA_new();
	BIGNUM *e = BN_new();

	BN_set_word(e, RSA_F4);
	CHECK(RSA_generate_key_ex(r, 3072, e, NULL));
	CHECK(rsa_ifma_key_new(r) == NULL);
	RSA_free(r);
	r = RSA_new();
	CHECK(RSA_generate_key_ex(r, 1024, e, NULL));
	CHECK(rsa_ifma_key_new(r) == NULL);
	RSA_free(r);
	CHECK(rsa_ifma_key_new(NULL) == NULL);
	BN_free(e);
}

/* Run n jobs through the batch at the given least fill; count results equal to BoringSSL. */
static unsigned batch_matches(unsigned n, unsigned min_fill, struct rsa_ifma_stats *st)
{
	uint8_t in[24][RSA_IFMA_BYTES], out[24][RSA_IFMA_BYTES], ref[RSA_IFMA_BYTES];
	struct rsa_ifma_job jobs[24];
	unsigned good = 0;

	rsa_ifma_set_min_fill(min_fill);
	for (unsigned i = 0; i < n; i++) {
		unsigned k = (i * 3 + n) % NKEYS;

		rand_below_n(keys[k], in[i]);
		jobs[i].key = ikeys[k];
		jobs[i].in = in[i];
		jobs[i].out = out[i];
		jobs[i].ok = -1;
	}
	rsa_ifma_run(jobs, n, st);
	for (unsigned i = 0; i < n; i++) {
		RSA *r = rsa_ifma_key_rsa(jobs[i].key);

		if (jobs[i].ok == 1 && ref_op(r, in[i], ref) && memcmp(ref, out[i], RSA_IFMA_BYTES) == 0)
			good++;
	}
	rsa_ifma_set_min_fill(RSA_IFMA_MIN_FILL_DEFAULT);
	return good;
}

TEST(batch_every_fill)
{
	int cpu = rsa_ifma_cpu();

	/* up to 4 a run; 5..8 make a full run and one of the rest */
	for (unsigned n = 1; n <= RSA_IFMA_LANES; n++) {
		struct rsa_ifma_stats st = { 0 };
		unsigned rest = n > RSA_IFMA_RUN_OPS ? n - RSA_IFMA_RUN_OPS : 0;

		CHECK_EQ(batch_matches(n, 1, &st), n);
		CHECK_EQ(st.runs, cpu ? 1 + (rest > 0) : 0);
		CHECK_EQ(st.fill[n - rest], cpu ? 1 + (rest == RSA_IFMA_RUN_OPS) : 0);
		if (rest && rest < RSA_IFMA_RUN_OPS)
			CHECK_EQ(st.fill[rest], cpu ? 1 : 0);
		CHECK_EQ(st.ifma_ops, cpu ? n : 0);
		CHECK_EQ(st.scalar_ops, cpu ? 0 : n);
		CHECK_EQ(st.verify_failed, 0);
		CHECK_EQ(st.failed, 0);
	}
}

TEST(batch_splits_and_min_fill)
{
	struct rsa_ifma_stats st = { 0 };
	int cpu = rsa_ifma_cpu();

	/* 19 jobs at least 4 a run: runs of 4, 4, 4, 4, then 3 stay scalar */
	CHECK_EQ(batch_matches(19, 4, &st), 19);
	CHECK_EQ(st.runs, cpu ? 4 : 0);
	CHECK_EQ(st.fill[4], cpu ? 4 : 0);
	CHECK_EQ(st.ifma_ops, cpu ? 16 : 0);
	CHECK_EQ(st.scalar_ops, cpu ? 3 : 19);
	/* 5 = everything scalar */
	memset(&st, 0, sizeof(st));
	CHECK_EQ(batch_matches(8, RSA_IFMA_RUN_OPS + 1, &st), 8);
	CHECK_EQ(st.runs, 0);
	CHECK_EQ(st.scalar_ops, 8);
}

TEST(fault_caught)
{
	struct rsa_ifma_stats st = { 0 };

	if (!rsa_ifma_cpu())
		return;
	/* the mask is by place in a run: the third and fourth of each of the two runs */
	rsa_ifma_fault_mask = 1u << 2 | 1u << 3;
	CHECK_EQ(batch_matches(8, 1, &st), 8);  /* right answers all the same */
	rsa_ifma_fault_mask = 0;
	CHECK_EQ(st.runs, 2);
	CHECK_EQ(st.verify_failed, 4);
	CHECK_EQ(st.ifma_ops, 4);
	CHECK_EQ(st.scalar_ops, 4);
	CHECK_EQ(st.failed, 0);
}

/* ---- a run in steps (rsa_ifma_steps_*) ---- */

/*
 * Kernel stages of a run driven one unit at a time: the inputs, the
 * halves' set-up and 259 windows (4 bits each, after the top one; both
 * halves side by side), Garner. Then one step checks every operation (in
 * lanes), and one more call hands them out.
 */
#define STAGES_OF_A_RUN (1 + (1 + 259) + 1)

/*
 * n jobs (a key each, round robin) through one steps object, budget units
 * a call; out of the calls' count, the results equal to BoringSSL's
 * (*good) and st. Returns the calls made (0: the object was refused).
 */
static unsigned steps_matches(unsigned n, unsigned budget, unsigned *good,
			      struct rsa_ifma_stats *st)
{
	uint8_t in[RSA_IFMA_LANES][RSA_IFMA_BYTES], out[RSA_IFMA_LANES][RSA_IFMA_BYTES];
	uint8_t ref[RSA_IFMA_BYTES];
	struct rsa_ifma_job jobs[RSA_IFMA_LANES], *jp[RSA_IFMA_LANES];
	struct rsa_ifma_steps *s;
	unsigned calls = 0;

	*good = 0;
	for (unsigned i = 0; i < n; i++) {
		rand_below_n(keys[(i + n) % NKEYS], in[i]);
		memset(out[i], 0xa5, RSA_IFMA_BYTES);
		jobs[i] = (struct rsa_ifma_job){ ikeys[(i + n) % NKEYS], in[i], out[i], -1 };
		jp[i] = &jobs[i];
	}
	s = rsa_ifma_steps_new(jp, n, rsa_ifma_min_fill(), st);
	if (!s)
		return 0;
	/* bounded: a run is about 265 units */
	while (++calls < 2000 && !rsa_ifma_steps_do(s, budget)) {
		/* no job is done before the kernel's last stage (then each is checked in turn) */
		for (unsigned i = 0; budget <= 1 && calls < STAGES_OF_A_RUN && n >= rsa_ifma_min_fill() && i < n;
		     i++)
			if (jobs[i].ok != 0) {
				fprintf(stderr, "job %u done before the run's end (call %u)\n", i, calls);
				rsa_ifma_steps_free(s);
				return 0;
			}
	}
	rsa_ifma_steps_free(s);
	for (unsigned i = 0; i < n; i++)
		if (jobs[i].ok == 1 && ref_op(keys[(i + n) % NKEYS], in[i], ref) &&
		    memcmp(ref, out[i], RSA_IFMA_BYTES) == 0)
			(*good)++;
	return calls;
}

TEST(steps_every_fill_and_budget)
{
	static const unsigned budgets[] = { 0, 1, 16, 100, UINT_MAX };
	int cpu = rsa_ifma_cpu();

	rsa_ifma_set_min_fill(1);
	for (unsigned n = 1; n <= RSA_IFMA_RUN_OPS; n++)
		for (unsigned b = 0; b < sizeof(budgets) / sizeof(budgets[0]); b++) {
			struct rsa_ifma_stats st = { 0 };
			unsigned good, calls = steps_matches(n, budgets[b], &good, &st);

			CHECK_EQ(good, n);
			CHECK_EQ(st.runs, cpu ? 1 : 0);
			CHECK_EQ(st.fill[n], cpu ? 1 : 0);
			CHECK_EQ(st.ifma_ops, cpu ? n : 0);
			CHECK_EQ(st.scalar_ops, cpu ? 0 : n);
			if (!cpu)
				continue;
			/* the run is cut where the budget says, and only there */
			if (budgets[b] <= 1)
				CHECK_EQ(calls, STAGES_OF_A_RUN + 2);
			else if (budgets[b] == 16)
				CHECK(calls >= rsa_ifma_steps_units() / (16 + 7) &&
				      calls <= rsa_ifma_steps_units() / 16 + n + 2);
			else if (budgets[b] == UINT_MAX)
				CHECK_EQ(calls, 1);
		}
	rsa_ifma_set_min_fill(RSA_IFMA_MIN_FILL_DEFAULT);
}

/*
 * What a run leaves below its caller (crypto/ifma_burn.h): nothing of its
 * keys or halves. The secrets of one operation on key r with input in:
 * both primes and CRT exponents, k0 of each prime, both halves' results,
 * and the result.
 */
static unsigned needles_of(RSA *r, const uint8_t *in, uint64_t *nd, unsigned k)
{
	const BIGNUM *p = RSA_get0_p(r), *q = RSA_get0_q(r), *dp = RSA_get0_dmp1(r),
		     *dq = RSA_get0_dmq1(r);
	BN_CTX *ctx = BN_CTX_new();
	BIGNUM *x = BN_bin2bn(in, RSA_IFMA_BYTES, NULL), *m = BN_new();
	uint8_t le[136] = { 0 };

	CHECK(ctx && x && m);
	for (const BIGNUM *const *v = (const BIGNUM *const[]){ p, q, dp, dq, NULL }; *v; v++) {
		CHECK(BN_bn2le_padded(le, sizeof(le), *v));
		/* the primes as the kernel holds them, the exponents as it reads them */
		k = *v == p || *v == q ? needles_52(le, sizeof(le), nd, k, 20) :
		    needles_64(le, sizeof(le), nd, k);
	}
	for (const BIGNUM *const *pr = (const BIGNUM *const[]){ p, q, NULL }; *pr; pr++) {
		uint64_t m0 = 0, x0;

		CHECK(BN_bn2le_padded(le, sizeof(le), *pr));
		memcpy(&m0, le, 8);
		m0 &= (1ULL << 52) - 1;
		x0 = m0;
		for (int i = 0; i < 6; i++)
			x0 *= 2 - m0 * x0;
		nd[k++] = (0 - x0) & ((1ULL << 52) - 1);        /* k0 = -m^-1 mod 2^52 */
		CHECK(BN_mod_exp(m, x, *pr == p ? dp : dq, *pr, ctx));
		CHECK(BN_bn2le_padded(le, sizeof(le), m));
		k = needles_52(le, sizeof(le), nd, k, 20);      /* the half's result */
	}
	/* the result: for a TLS 1.2 decryption, the premaster (the lane check reads it) */
	{
		uint8_t out[RSA_IFMA_BYTES], ole[RSA_IFMA_BYTES + 16] = { 0 };

		CHECK(ref_op(r, in, out));
		for (unsigned i = 0; i < RSA_IFMA_BYTES; i++)
			ole[i] = out[RSA_IFMA_BYTES - 1 - i];
		k = needles_52(ole, sizeof(ole), nd, k, 40);
		OPENSSL_cleanse(out, sizeof(out));
		OPENSSL_cleanse(ole, sizeof(ole));
	}
	OPENSSL_cleanse(le, sizeof(le));
	BN_free(x);
	BN_free(m);
	BN_CTX_free(ctx);
	return k;
}

/* The needles of a run of RSA_IFMA_RUN_OPS operations (keys round robin), for stack_below(). */
struct run_needles {
	uint8_t (*in)[RSA_IFMA_BYTES];
	uint64_t *nd;
	unsigned k;
};

static void run_needles(void *arg)
{
	struct run_needles *rn = arg;

	for (unsigned l = 0; l < RSA_IFMA_RUN_OPS; l++)
		rn->k = needles_of(keys[l % NKEYS], rn->in[l], rn->nd, rn->k);
}

TEST(no_secret_left_on_the_stack)
{
	static uint64_t nd[NEEDLES];
	uint8_t in[RSA_IFMA_RUN_OPS][RSA_IFMA_BYTES], out[RSA_IFMA_RUN_OPS][RSA_IFMA_BYTES];
	const uint8_t *inp[RSA_IFMA_RUN_OPS];
	uint8_t *outp[RSA_IFMA_RUN_OPS];
	const struct rsa_ifma_key *ks[RSA_IFMA_RUN_OPS];
	struct rsa_ifma_job jobs[RSA_IFMA_RUN_OPS], *jp[RSA_IFMA_RUN_OPS];
	static const unsigned budgets[] = { UINT_MAX, 16 };
	struct run_needles rn = { in, nd, 0 };
	unsigned k;

	for (unsigned l = 0; l < RSA_IFMA_RUN_OPS; l++) {
		rand_below_n(keys[l % NKEYS], in[l]);
		inp[l] = in[l];
		outp[l] = out[l];
		ks[l] = ikeys[l % NKEYS];
	}
	stack_below(run_needles, &rn);
	k = rn.k;
	CHECK(k > 4 * 100);
	CHECK(stack_scan_works(nd, k));
	stack_clear();
	CHECK_EQ(stack_hits(nd, k), 0);
	/* 1..2 operations run on ymm, 3..4 on zmm */
	for (unsigned n = 1; n <= RSA_IFMA_RUN_OPS; n++) {
		unsigned hits;

		stack_fill();
		rsa_ifma_raw(ks, inp, outp, n);
		CHECK(stack_live(STACK_TOP, STACK_SCAN - 512) <= STACK_LIVE_MAX);
		CHECK_EQ(regs_hits(nd, k), 0);
		hits = stack_hits(nd, k);
		CHECK_EQ(hits, 0);
		for (unsigned b = 0; b < 2; b++) {
			struct rsa_ifma_stats st = { 0 };
			struct rsa_ifma_steps *s;
			unsigned calls = 0;

			for (unsigned l = 0; l < n; l++) {
				jobs[l] = (struct rsa_ifma_job){ ks[l], in[l], out[l], -1 };
				jp[l] = &jobs[l];
			}
			stack_fill();
			s = rsa_ifma_steps_new(jp, n, 1, &st);
			CHECK(s != NULL);
			while (s && ++calls < 2000 && !rsa_ifma_steps_do(s, budgets[b]))
				/* between steps the worker polls: nothing in the registers */
				if (calls < 3)
					CHECK_EQ(regs_hits(nd, k), 0);
			CHECK_EQ(regs_hits(nd, k), 0);
			CHECK(stack_live(STACK_TOP, STACK_SCAN - 512) <= STACK_LIVE_MAX);
			rsa_ifma_steps_free(s);
			hits = stack_hits(nd, k);
			CHECK_EQ(hits, 0);
			CHECK_EQ(st.ifma_ops, n);
		}
	}
	OPENSSL_cleanse(nd, sizeof(nd));
}

TEST(steps_refused_and_scalar)
{
	struct rsa_ifma_stats st = { 0 };
	struct rsa_ifma_job j = { ikeys[0], NULL, NULL, 0 }, *jp[RSA_IFMA_RUN_OPS + 1];
	unsigned good, calls;

	for (unsigned i = 0; i <= RSA_IFMA_RUN_OPS; i++)
		jp[i] = &j;
	CHECK(rsa_ifma_steps_new(jp, 0, 1, &st) == NULL);
	CHECK(rsa_ifma_steps_new(jp, RSA_IFMA_RUN_OPS + 1, 1, &st) == NULL);
	CHECK(rsa_ifma_steps_new(jp, 1, 1, NULL) == NULL);
	rsa_ifma_steps_free(NULL);
	/* one job below a least fill of 2: BoringSSL's, in one step of its own */
	rsa_ifma_set_min_fill(2);
	calls = steps_matches(1, 1, &good, &st);
	rsa_ifma_set_min_fill(RSA_IFMA_MIN_FILL_DEFAULT);
	CHECK_EQ(calls, 2);
	CHECK_EQ(good, 1);
	CHECK_EQ(st.runs, 0);
	CHECK_EQ(st.scalar_ops, 1);
}

TEST(steps_fault_caught)
{
	struct rsa_ifma_stats st = { 0 };
	unsigned good;

	if (!rsa_ifma_cpu())
		return;
	rsa_ifma_fault_mask = 1u << 0 | 1u << 3;
	steps_matches(4, 16, &good, &st);
	rsa_ifma_fault_mask = 0;
	CHECK_EQ(good, 4);
	CHECK_EQ(st.verify_failed, 2);
	CHECK_EQ(st.ifma_ops, 2);
	CHECK_EQ(st.scalar_ops, 2);
	CHECK_EQ(st.failed, 0);
}

/* A run freed half way leaves its outputs alone (ASan: nothing leaks). */
TEST(steps_freed_midway)
{
	static const unsigned after[] = { 0, 1, 3, 200, STAGES_OF_A_RUN - 1, STAGES_OF_A_RUN,
					   STAGES_OF_A_RUN + 1, STAGES_OF_A_RUN + 2 };
	uint8_t in[RSA_IFMA_RUN_OPS][RSA_IFMA_BYTES], out[RSA_IFMA_RUN_OPS][RSA_IFMA_BYTES];
	struct rsa_ifma_job jobs[RSA_IFMA_RUN_OPS], *jp[RSA_IFMA_RUN_OPS];

	if (!rsa_ifma_cpu())
		return;
	for (unsigned a = 0; a < sizeof(after) / sizeof(after[0]); a++) {
		struct rsa_ifma_stats st = { 0 };
		struct rsa_ifma_steps *s;
		unsigned checked = after[a] >= STAGES_OF_A_RUN + 2 ? RSA_IFMA_RUN_OPS : 0;
		int done = 0;

		for (unsigned i = 0; i < RSA_IFMA_RUN_OPS; i++) {
			rand_below_n(keys[i % NKEYS], in[i]);
			memset(out[i], 0x5a, RSA_IFMA_BYTES);
			jobs[i] = (struct rsa_ifma_job){ ikeys[i % NKEYS], in[i], out[i], -1 };
			jp[i] = &jobs[i];
		}
		s = rsa_ifma_steps_new(jp, RSA_IFMA_RUN_OPS, rsa_ifma_min_fill(), &st);
		CHECK(s != NULL);
		for (unsigned k = 0; s && k < after[a] && !done; k++)
			done = rsa_ifma_steps_do(s, 1);
		rsa_ifma_steps_free(s);
		/* before the kernel's end nothing is out; one step checks them all, the next hands them out */
		CHECK_EQ(done, checked != 0);
		CHECK_EQ(st.ifma_ops, checked);
		for (unsigned i = 0; i < RSA_IFMA_RUN_OPS; i++) {
			CHECK_EQ(jobs[i].ok, i < checked);
			if (after[a] < STAGES_OF_A_RUN)
				CHECK(out[i][0] == 0x5a && out[i][128] == 0x5a);
		}
	}
}

TEST(input_not_below_n)
{
	uint8_t in[RSA_IFMA_BYTES], out[RSA_IFMA_BYTES];
	struct rsa_ifma_job job = { .key = ikeys[0], .in = in, .out = out };
	struct rsa_ifma_stats st = { 0 };

	BN_bn2bin_padded(in, sizeof(in), RSA_get0_n(keys[0]));
	rsa_ifma_set_min_fill(1);
	rsa_ifma_run(&job, 1, &st);
	rsa_ifma_set_min_fill(RSA_IFMA_MIN_FILL_DEFAULT);
	CHECK_EQ(job.ok, 0);
	CHECK_EQ(st.failed, 1);
	CHECK_EQ(st.runs, 0);
}

/* Sign msg with key k through the batch, n copies in one run; count signatures that verify. */
static unsigned sign_and_verify(const EVP_MD *md, int pss, unsigned n)
{
	static const uint8_t msg[] = "TLS 1.3, server CertificateVerify\0 and some transcript";
	uint8_t em[RSA_IFMA_LANES][RSA_IFMA_BYTES], sig[RSA_IFMA_LANES][RSA_IFMA_BYTES];
	struct rsa_ifma_job jobs[RSA_IFMA_LANES];
	unsigned good = 0;

	rsa_ifma_set_min_fill(1);
	for (unsigned i = 0; i < n; i++) {
		RSA *r = keys[i % NKEYS];

		CHECK(rsa_ifma_encode(r, md, pss, msg, sizeof(msg), em[i]));
		jobs[i].key = ikeys[i % NKEYS];
		jobs[i].in = em[i];
		jobs[i].out = sig[i];
	}
	rsa_ifma_run(jobs, n, NULL);
	rsa_ifma_set_min_fill(RSA_IFMA_MIN_FILL_DEFAULT);
	for (unsigned i = 0; i < n; i++) {
		RSA *r = keys[i % NKEYS];
		uint8_t dig[EVP_MAX_MD_SIZE];
		unsigned dlen;
		int ok;

		EVP_Digest(msg, sizeof(msg), dig, &dlen, md, NULL);
		ok = jobs[i].ok &&
		     (pss ? RSA_verify_pss_mgf1(r, dig, dlen, md, md, -1, sig[i], RSA_IFMA_BYTES)
			  : RSA_verify(EVP_MD_type(md), dig, dlen, sig[i], RSA_IFMA_BYTES, r));
		ERR_clear_error();
		good += ok != 0;
	}
	return good;
}

TEST(signatures_verify)
{
	CHECK_EQ(sign_and_verify(EVP_sha256(), 1, 8), 8);
	CHECK_EQ(sign_and_verify(EVP_sha384(), 1, 5), 5);
	CHECK_EQ(sign_and_verify(EVP_sha512(), 1, 3), 3);
	CHECK_EQ(sign_and_verify(EVP_sha256(), 0, 8), 8);
	CHECK_EQ(sign_and_verify(EVP_sha384(), 0, 2), 2);
	CHECK_EQ(sign_and_verify(EVP_sha512(), 0, 7), 7);
}

TEST(signature_bad_message_fails)
{
	/* the verify in signatures_verify can say no: a changed digest does not verify */
	static const uint8_t msg[] = "one";
	uint8_t em[RSA_IFMA_BYTES], sig[RSA_IFMA_BYTES], dig[32];
	struct rsa_ifma_job job = { .key = ikeys[0], .in = em, .out = sig };
	unsigned dlen;

	CHECK(rsa_ifma_encode(keys[0], EVP_sha256(), 1, msg, sizeof(msg), em));
	rsa_ifma_set_min_fill(1);
	rsa_ifma_run(&job, 1, NULL);
	rsa_ifma_set_min_fill(RSA_IFMA_MIN_FILL_DEFAULT);
	CHECK_EQ(job.ok, 1);
	EVP_Digest("two", 3, dig, &dlen, EVP_sha256(), NULL);
	CHECK(!RSA_verify_pss_mgf1(keys[0], dig, dlen, EVP_sha256(), EVP_sha256(), -1, sig, sizeof(sig)));
	ERR_clear_error();
}

/* ---- through the door: handshakes with BoringSSL clients ---- */

#define NSESS HS_PAIRS_MAX

/* Client options of one round. */
struct round {
	const char *name;
	int maxv;                       /* TLS1_2_VERSION or TLS1_3_VERSION */
	const char *ciphers;            /* TLS 1.2 list, or NULL */
	uint16_t sigalg;                /* the one algorithm the client accepts */
	int ec_every;                   /* every k-th client asks for the ECDSA certificate (0 none) */
};

/* A client of round r: the certificate it asks for (SNI) and the one algorithm it accepts. */
static void client_setup(SSL *cli, unsigned i, const void *arg)
{
	const struct round *r = arg;
	int ec = r->ec_every && i % r->ec_every == 0;
	static const uint16_t ecalg = SSL_SIGN_ECDSA_SECP256R1_SHA256;

	SSL_set_tlsext_host_name(cli, ec ? "ec.lab.example" : "rsa.lab.example");
	SSL_set_verify_algorithm_prefs(cli, ec ? &ecalg : &r->sigalg, 1);
}

/*
 * NSESS clients handshake at once (tests/bench/hs_pairs.h); the server's
 * operations wait in the worker until one tls_worker_run() round takes
 * them all. Returns how many handshakes completed on both sides.
 */
static unsigned handshakes(struct tls_ctx *ctx, struct tls_worker *w, const struct round *r)
{
	SSL_CTX *cctx = SSL_CTX_new(TLS_method());
	unsigned done;

	SSL_CTX_set_max_proto_version(cctx, (uint16_t)r->maxv);
	if (r->ciphers)
		SSL_CTX_set_strict_cipher_list(cctx, r->ciphers);
	done = hs_round(cctx, ctx, w, NSESS, client_setup, r, NULL);
	SSL_CTX_free(cctx);
	return done;
}

/*
 * The door's server: an RSA-2048 certificate (keys[0], "rsa.lab.example")
 * and an ECDSA P-256 one ("ec.lab.example"), TLS 1.2 and 1.3, with RSA key
 * exchange added to the default ciphers. NULL on failure (said on stderr).
 */
static struct tls_ctx *door_ctx_new(void)
{
	EVP_PKEY *rk = EVP_PKEY_new(), *ek = EVP_PKEY_new();
	EC_KEY *ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
	struct tls_server_cfg cfg;
	struct tls_ctx *ctx;
	char *rc, *rp, *ecc, *ecp, err[256];
	size_t rcl, rpl, ecl, epl;

	RSA_up_ref(keys[0]);
	EVP_PKEY_assign_RSA(rk, keys[0]);
	EC_KEY_generate_key(ec);
	EVP_PKEY_assign_EC_KEY(ek, ec);
	hs_self_signed(rk, "rsa.lab.example", &rc, &rcl, &rp, &rpl);
	hs_self_signed(ek, "ec.lab.example", &ecc, &ecl, &ecp, &epl);
	memset(&cfg, 0, sizeof(cfg));
	cfg.certs[0] = (struct tls_cert_cfg){ .chain_file = "rsa", .key_file = "rsa", .chain_pem = rc,
		.chain_pem_len = rcl, .key_pem = rp, .key_pem_len = rpl };
	cfg.certs[1] = (struct tls_cert_cfg){ .chain_file = "ec", .key_file = "ec", .chain_pem = ecc,
		.chain_pem_len = ecl, .key_pem = ecp, .key_pem_len = epl };
	cfg.ncerts = 2;
	cfg.min_version = 0x0303;
	/* the defaults have no RSA key exchange: add it for the decrypt round */
	cfg.ciphers = TLS_DEFAULT_CIPHERS ":AES128-GCM-SHA256";
	ctx = tls_ctx_new(&cfg, err, sizeof(err));
	if (!ctx)
		fprintf(stderr, "tls_ctx_new: %s\n", err);
	EVP_PKEY_free(rk);
	EVP_PKEY_free(ek);
	free(rc);
	free(rp);
	free(ecc);
	free(ecp);
	return ctx;
}

TEST(through_the_door)
{
	static const struct round rounds[] = {
		{ "TLS 1.3 PSS-SHA256", TLS1_3_VERSION, NULL, SSL_SIGN_RSA_PSS_RSAE_SHA256, 0 },
		{ "TLS 1.3 PSS-SHA512", TLS1_3_VERSION, NULL, SSL_SIGN_RSA_PSS_RSAE_SHA512, 0 },
		{ "TLS 1.2 PKCS1-SHA256", TLS1_2_VERSION, "ECDHE-RSA-AES128-GCM-SHA256",
		  SSL_SIGN_RSA_PKCS1_SHA256, 0 },
		{ "TLS 1.2 PKCS1-SHA384", TLS1_2_VERSION, "ECDHE-RSA-AES128-GCM-SHA256",
		  SSL_SIGN_RSA_PKCS1_SHA384, 0 },
		{ "TLS 1.2 RSA key exchange", TLS1_2_VERSION, "TLS_RSA_WITH_AES_128_GCM_SHA256",
		  SSL_SIGN_RSA_PKCS1_SHA256, 0 },
		{ "TLS 1.3 RSA and ECDSA mixed", TLS1_3_VERSION, NULL, SSL_SIGN_RSA_PSS_RSAE_SHA256, 4 },
		{ "TLS 1.3 half ECDSA (one run)", TLS1_3_VERSION, NULL,
		  SSL_SIGN_RSA_PSS_RSAE_SHA384, 2 },
	};
	struct tls_worker *w = tls_worker_new(hs_key_done);
	struct tls_ctx *ctx = door_ctx_new();
	const struct tls_key_stats *st = tls_worker_stats(w);
	struct tls_key_stats tot;
	int cpu = rsa_ifma_cpu();

	CHECK(ctx != NULL);
	if (!ctx)
		goto out;
	rsa_ifma_set_min_fill(RSA_IFMA_MIN_FILL_DEFAULT);
	for (unsigned i = 0; i < sizeof(rounds) / sizeof(rounds[0]); i++) {
		const struct round *r = &rounds[i];
		struct tls_key_stats before = *st;
		unsigned nrsa = NSESS - (r->ec_every ? (NSESS + r->ec_every - 1) / r->ec_every : 0);
		unsigned nec = NSESS - nrsa, ec_lanes = cpu && nec >= 3;   /* P256_MIN_FILL */

		CHECK_EQ(handshakes(ctx, w, r), NSESS);
		/* every RSA operation of the round in IFMA runs of 4; ECDSA in a P-256 run of its own */
		CHECK_EQ(st->key_batch_ops - before.key_batch_ops, NSESS);
		/* TLS 1.3: the X25519 shares in a batch of their own first (x25519_ifma) */
		CHECK_EQ(st->key_batches - before.key_batches, cpu && r->maxv == TLS1_3_VERSION ? 2 : 1);
		CHECK_EQ(st->key_ifma_runs - before.key_ifma_runs,
			 cpu ? (nrsa + RSA_IFMA_RUN_OPS - 1) / RSA_IFMA_RUN_OPS : 0);
		CHECK_EQ(st->key_ifma_lanes - before.key_ifma_lanes, cpu ? 2 * nrsa : 0);
		CHECK_EQ(st->key_ifma_ops - before.key_ifma_ops, cpu ? nrsa : 0);
		CHECK_EQ(st->key_p256_runs - before.key_p256_runs, ec_lanes ? 1 : 0);
		CHECK_EQ(st->key_p256_lanes - before.key_p256_lanes, ec_lanes ? nec : 0);
		CHECK_EQ(st->key_scalar_ops - before.key_scalar_ops, cpu ? (ec_lanes ? 0 : nec) : NSESS);
		CHECK_EQ(st->key_failed, 0);
		if (t_fail)
			fprintf(stderr, "after round %s\n", r->name);
	}
	/* five rounds of 8 (4 + 4), 6 (4 + 2), 4 */
	CHECK_EQ(st->key_ifma_fill_4, cpu ? 12 : 0);
	CHECK_EQ(st->key_ifma_fill_2, cpu ? 1 : 0);
	CHECK_EQ(st->key_ifma_fill_1 + st->key_ifma_fill_3, 0);
	CHECK_EQ(st->key_verify_failed, 0);
	/* a fault in the first and last of each run: caught, counted, redone; the clients never notice */
	if (cpu) {
		struct tls_key_stats before = *st;

		rsa_ifma_fault_mask = 1u << 0 | 1u << 3;
		CHECK_EQ(handshakes(ctx, w, &rounds[0]), NSESS);
		rsa_ifma_fault_mask = 0;
		CHECK_EQ(st->key_verify_failed - before.key_verify_failed, 4);
		CHECK_EQ(st->key_ifma_ops - before.key_ifma_ops, NSESS - 4);
		CHECK_EQ(st->key_scalar_ops - before.key_scalar_ops, 4);
		CHECK_EQ(st->key_failed, 0);
	}
	/* below the least fill: scalar */
	{
		struct tls_key_stats before = *st;

		rsa_ifma_set_min_fill(RSA_IFMA_RUN_OPS + 1);
		CHECK_EQ(handshakes(ctx, w, &rounds[0]), NSESS);
		rsa_ifma_set_min_fill(RSA_IFMA_MIN_FILL_DEFAULT);
		CHECK_EQ(st->key_ifma_runs - before.key_ifma_runs, 0);
		CHECK_EQ(st->key_scalar_ops - before.key_scalar_ops, NSESS);
	}
	tls_key_stats_total(&tot);
	CHECK(memcmp(&tot, st, sizeof(tot)) == 0);      /* the only live worker */
	CHECK_STR(tls_key_stat_names[0], "key_batches");
	CHECK_STR(tls_key_stat_names[TLS_KEY_STAT_COUNT - 1], "key_cv_bad");
	tls_ctx_free(ctx);
out:
	tls_worker_free(w);
	tls_key_stats_total(&tot);
	CHECK_EQ(tot.key_batches, 0);                   /* freed: no longer summed */
}

/* ---- the door with RSA runs in steps (a polling worker's) ---- */

#define NSTEP 12                /* sessions: more than one run's lanes */

/*
 * One handshake of door_steps(); kind: 'r' TLS 1.3 RSA-PSS, 'e' TLS 1.3
 * ECDSA, 'd' TLS 1.2 RSA key exchange, 'p' TLS 1.2 ECDHE with RSA PKCS#1.
 */
struct step_hs {
	struct hs_pair p;               /* first: the worker's done() gets &p */
	char kind;
	int failed;                     /* the server's handshake failed (or was freed) */
	unsigned done_at;               /* the round the server's handshake ended in (0: not yet) */
	struct step_hs *kill_on_wake;   /* its server session is freed when this one is woken */
	unsigned kill_wake;             /* ... the kill_wake-th time */
};

/* done() of door_steps' worker: as hs_key_done, and frees kill_on_wake's session. */
static void step_done(void *arg)
{
	struct step_hs *x = (struct step_hs *)arg, *v = x->kill_on_wake;

	x->p.woken++;
	if (v && v->p.srv && (unsigned)x->p.woken == x->kill_wake) {
		tls_conn_free(v->p.srv);
		v->p.srv = NULL;
		v->failed = 1;
	}
}

/*
 * Handshakes of kinds[i] at once through a worker that runs RSA in steps of
 * units; each round steps every client and server session, then calls
 * tls_worker_run() once, as a poll round. At round free_at (if not 0) the
 * sessions whose bit is in free_mask are freed, and at round kill_at the
 * worker is. Returns the rounds taken (at most 400).
 */
/* door_steps() calls tls_ctx_free() on this once its sessions exist (a reload's old context). */
static struct tls_ctx *steps_ctx_drop;

static unsigned door_steps(struct tls_ctx *ctx, struct tls_worker *w, struct step_hs *h,
			   const char *kinds, unsigned units, unsigned free_at, unsigned free_mask,
			   unsigned kill_at)
{
	SSL_CTX *cctx = SSL_CTX_new(TLS_method());
	unsigned n = (unsigned)strlen(kinds), round, left = n;
	struct step_hs *kill[NSTEP] = { 0 };
	unsigned kill_wake[NSTEP] = { 0 };
	static const uint16_t ecalg = SSL_SIGN_ECDSA_SECP256R1_SHA256,
			      rsalg = SSL_SIGN_RSA_PSS_RSAE_SHA256, pkcs1 = SSL_SIGN_RSA_PKCS1_SHA256;

	tls_worker_set_rsa_steps(w, units);
	for (unsigned i = 0; i < n; i++) {
		kill[i] = h[i].kill_on_wake;    /* set by the caller before the call */
		kill_wake[i] = h[i].kill_wake;
	}
	for (unsigned i = 0; i < n; i++) {
		h[i] = (struct step_hs){ .kind = kinds[i], .kill_on_wake = kill[i],
					 .kill_wake = kill_wake[i] };
		hs_pair_client(&h[i].p, cctx);
		SSL_set_tlsext_host_name(h[i].p.cli, kinds[i] == 'e' ? "ec.lab.example" : "rsa.lab.example");
		SSL_set_verify_algorithm_prefs(h[i].p.cli, kinds[i] == 'e' ? &ecalg :
					       kinds[i] == 'p' ? &pkcs1 : &rsalg, 1);
		if (kinds[i] == 'd' || kinds[i] == 'p') {
			/* TLS 1.2: RSA key exchange (a raw decryption), or ECDHE with a PKCS#1 signature */
			SSL_set_max_proto_version(h[i].p.cli, TLS1_2_VERSION);
			SSL_set_strict_cipher_list(h[i].p.cli, kinds[i] == 'd' ? "TLS_RSA_WITH_AES_128_GCM_SHA256" :
						   "ECDHE-RSA-AES128-GCM-SHA256");
		}
		h[i].p.srv = hs_pair_server(&h[i].p, ctx, w);
	}
	if (steps_ctx_drop) {
		tls_ctx_free(steps_ctx_drop);   /* as service.c after a reload: the sessions hold it */
		steps_ctx_drop = NULL;
	}
	for (round = 1; round <= 400 && left; round++) {
		left = 0;
		for (unsigned i = 0; i < n; i++) {
			struct step_hs *x = &h[i];

			if (free_at == round && (free_mask >> i & 1) && x->p.srv) {
				tls_conn_free(x->p.srv);
				x->p.srv = NULL;
				x->failed = 1;
			}
			if (!x->p.srv || x->done_at || x->failed)
				continue;
			if (!x->p.cli_done && SSL_do_handshake(x->p.cli) == 1)
				x->p.cli_done = 1;
			ERR_clear_error();
			switch (tls_handshake(x->p.srv)) {
			case TLS_DONE:
				x->done_at = round;
				break;
			case TLS_ERROR:
			case TLS_CLOSED:
				x->failed = 1;
				break;
			default:
				left++;
				break;
			}
		}
		if (kill_at == round) {
			tls_worker_free(w);
			w = NULL;
		}
		if (w)
			tls_worker_run(w, 64);
	}
	/* the clients see the servers' Finished */
	for (unsigned i = 0; i < n; i++)
		if (h[i].done_at && !h[i].p.cli_done && SSL_do_handshake(h[i].p.cli) == 1)
			h[i].p.cli_done = 1;
	ERR_clear_error();
	SSL_CTX_free(cctx);
	return round - 1;
}

static void door_steps_free(struct step_hs *h, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		hs_pair_free(&h[i].p);
}

TEST(door_in_steps)
{
	struct tls_ctx *ctx = door_ctx_new();
	struct tls_worker *w = tls_worker_new(step_done);
	const struct tls_key_stats *st = tls_worker_stats(w);
	struct step_hs h[NSTEP] = { 0 };
	unsigned rounds, last_ec = 0, first_rsa = ~0u, rsa_done = 0;
	int cpu = rsa_ifma_cpu();

	if (!ctx || !cpu) {
		CHECK(ctx != NULL);
		tls_worker_free(w);
		tls_ctx_free(ctx);
		return;
	}
	/* 10 RSA (runs of 4, 4, then 2) and 2 ECDSA handshakes, steps of TLS_RSA_STEP_UNITS */
	rounds = door_steps(ctx, w, h, "rrrrerrrrrer", TLS_RSA_STEP_UNITS, 0, 0, 0);
	for (unsigned i = 0; i < NSTEP; i++) {
		CHECK(h[i].done_at && h[i].p.cli_done && !h[i].failed);
		if (h[i].kind == 'e' && h[i].done_at > last_ec)
			last_ec = h[i].done_at;
		if (h[i].kind == 'r') {
			rsa_done++;
			if (h[i].done_at < first_rsa)
				first_rsa = h[i].done_at;
		}
	}
	CHECK_EQ(rsa_done, 10);
	/* the ECDSA sessions did not wait for the RSA run: they were done long before it */
	CHECK(last_ec + 5 < first_rsa);
	/* a run is about 265 units: 11 or more steps of 24 */
	CHECK(first_rsa >= rsa_ifma_steps_units() / TLS_RSA_STEP_UNITS);
	CHECK(rounds < 200);
	CHECK_EQ(st->key_ifma_runs, 3);
	CHECK_EQ(st->key_ifma_fill_4, 2);
	CHECK_EQ(st->key_ifma_fill_2, 1);
	CHECK_EQ(st->key_ifma_ops, 10);
	CHECK_EQ(st->key_failed, 0);
	CHECK_EQ(tls_worker_pending(w), 0);
	door_steps_free(h, NSTEP);

	/*
	 * A lone operation takes the lanes in steps (BoringSSL's would stop the
	 * polls for 570 us); a least fill set to measure the scalar path holds.
	 */
	{
		struct tls_key_stats before = *st;

		memset(h, 0, sizeof(h));
		door_steps(ctx, w, h, "r", TLS_RSA_STEP_UNITS, 0, 0, 0);
		CHECK(h[0].done_at && h[0].p.cli_done && !h[0].failed);
		CHECK_EQ(st->key_ifma_fill_1 - before.key_ifma_fill_1, 1);
		CHECK_EQ(st->key_ifma_ops - before.key_ifma_ops, 1);
		CHECK_EQ(st->key_scalar_ops - before.key_scalar_ops, 0);
		door_steps_free(h, 1);
		before = *st;
		memset(h, 0, sizeof(h));
		rsa_ifma_set_min_fill(RSA_IFMA_RUN_OPS + 1);
		door_steps(ctx, w, h, "rr", TLS_RSA_STEP_UNITS, 0, 0, 0);
		rsa_ifma_set_min_fill(RSA_IFMA_MIN_FILL_DEFAULT);
		CHECK(h[0].done_at && h[0].p.cli_done && !h[0].failed);
		CHECK(h[1].done_at && h[1].p.cli_done && !h[1].failed);
		CHECK_EQ(st->key_ifma_runs - before.key_ifma_runs, 0);
		CHECK_EQ(st->key_scalar_ops - before.key_scalar_ops, 2);
		CHECK_EQ(st->key_failed, 0);
		door_steps_free(h, 2);
		memset(h, 0, sizeof(h));
	}

	/*
	 * Sessions freed while their operation waits for a run (bit 10: the
	 * third run's) and while it is in one (bits 0 and 3): the others go on
	 * (ASan: nothing touches the freed ones).
	 */
	{
		struct tls_key_stats before = *st;
		unsigned ok = 0;

		door_steps(ctx, w, h, "rrrrrrrrrrrr", TLS_RSA_STEP_UNITS, 6, 1u << 0 | 1u << 3 | 1u << 10, 0);
		for (unsigned i = 0; i < NSTEP; i++)
			ok += h[i].done_at && h[i].p.cli_done;
		CHECK_EQ(ok, NSTEP - 3);
		CHECK_EQ(st->key_ifma_runs - before.key_ifma_runs, 3);
		CHECK_EQ(st->key_ifma_fill_4 - before.key_ifma_fill_4, 2);   /* the first with two of its lanes' operations gone */
		CHECK_EQ(st->key_ifma_fill_3, 1);                              /* 4 waiting, one freed */
		CHECK_EQ(st->key_failed, 0);
		CHECK_EQ(tls_worker_pending(w), 0);
		door_steps_free(h, NSTEP);
	}
	/*
	 * The first session of a run, woken by the run's end (its second wake:
	 * the first is its X25519 batch's), frees the third of the same run
	 * (an SMTP session's done() may end another session): the third gets
	 * no done() after it is gone (ASan), the rest go on.
	 */
	{
		unsigned ok = 0;

		memset(h, 0, sizeof(h));
		h[0].kill_on_wake = &h[2];
		h[0].kill_wake = 2;
		door_steps(ctx, w, h, "rrrrrrrr", TLS_RSA_STEP_UNITS, 0, 0, 0);
		for (unsigned i = 0; i < 8; i++)
			ok += h[i].done_at && h[i].p.cli_done;
		CHECK_EQ(ok, 7);
		CHECK(h[2].failed && h[2].p.srv == NULL && h[2].p.woken == 1);
		CHECK_EQ(tls_worker_pending(w), 0);
		door_steps_free(h, 8);
		memset(h, 0, sizeof(h));
	}
	/*
	 * Woken by the run's end, the first frees the eleventh (waiting for the
	 * next run) and the second frees the first (already woken), in steps
	 * of 3 units: the ten others end, nothing is left waiting.
	 */
	{
		unsigned ok = 0;

		h[0].kill_on_wake = &h[10];
		h[0].kill_wake = 2;
		h[1].kill_on_wake = &h[0];
		h[1].kill_wake = 2;
		door_steps(ctx, w, h, "rrrrrrrrrrrr", 3, 0, 0, 0);
		for (unsigned i = 0; i < NSTEP; i++)
			ok += h[i].done_at && h[i].p.cli_done;
		CHECK_EQ(ok, NSTEP - 2);
		CHECK(h[10].failed && h[10].p.woken == 1);
		CHECK_EQ(tls_worker_pending(w), 0);
		CHECK_EQ(st->key_failed, 0);
		door_steps_free(h, NSTEP);
		memset(h, 0, sizeof(h));
	}
	/* TLS 1.2 decryptions and PKCS#1 signatures share the runs with TLS 1.3's */
	{
		struct tls_key_stats before = *st;
		unsigned ok = 0;

		memset(h, 0, sizeof(h));
		door_steps(ctx, w, h, "dprdprdprdpr", TLS_RSA_STEP_UNITS, 0, 0, 0);
		for (unsigned i = 0; i < NSTEP; i++)
			ok += h[i].done_at && h[i].p.cli_done && !h[i].failed;
		CHECK_EQ(ok, NSTEP);
		CHECK_EQ(st->key_ifma_ops - before.key_ifma_ops, NSTEP);
		CHECK_EQ(st->key_scalar_ops - before.key_scalar_ops, 0);
		CHECK_EQ(st->key_failed, 0);
		door_steps_free(h, NSTEP);
		memset(h, 0, sizeof(h));
	}
	/*
	 * The context replaced (a reload frees the old one; its sessions hold
	 * it) and then all eight sessions freed during the first run: the run
	 * holds the context, and so its keys, until it ends (ASan); the four
	 * that waited never run.
	 */
	{
		struct tls_ctx *old = door_ctx_new();
		struct tls_key_stats before = *st;
		unsigned r = 0;

		memset(h, 0, sizeof(h));
		steps_ctx_drop = old;
		door_steps(old, w, h, "rrrrrrrr", TLS_RSA_STEP_UNITS, 6, 0xff, 0);
		CHECK(tls_worker_pending(w) > 0);       /* the run goes on without its sessions */
		while (r++ < 400 && tls_worker_pending(w))
			tls_worker_run(w, 64);
		CHECK_EQ(tls_worker_pending(w), 0);
		CHECK_EQ(st->key_ifma_runs - before.key_ifma_runs, 1);
		CHECK_EQ(st->key_ifma_ops - before.key_ifma_ops, 4);
		CHECK_EQ(st->key_failed, 0);
		door_steps_free(h, 8);
		memset(h, 0, sizeof(h));
	}
	/* budget 0: each run whole, in the round that takes its operations */
	{
		struct tls_key_stats before = *st;

		rounds = door_steps(ctx, w, h, "rrrrrrrr", 0, 0, 0, 0);
		for (unsigned i = 0; i < 8; i++)
			CHECK(h[i].done_at && h[i].done_at < 10);
		CHECK(rounds < 10);
		CHECK_EQ(st->key_ifma_runs - before.key_ifma_runs, 2);
		door_steps_free(h, 8);
	}
	/* the worker freed while a run goes on and 8 operations wait: they all fail, nothing leaks */
	{
		unsigned failed = 0;

		door_steps(ctx, w, h, "rrrrrrrrrrrr", TLS_RSA_STEP_UNITS, 0, 0, 6);
		w = NULL;
		for (unsigned i = 0; i < NSTEP; i++)
			failed += h[i].failed && !h[i].done_at;
		CHECK_EQ(failed, NSTEP);
		door_steps_free(h, NSTEP);
	}
	tls_ctx_free(ctx);
}

/* CLOCK_MONOTONIC in ms */
static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The first round any of h[0..n) ended in (~0u: none). */
static unsigned first_done(const struct step_hs *h, unsigned n)
{
	unsigned f = ~0u;

	for (unsigned i = 0; i < n; i++)
		if (h[i].done_at && h[i].done_at < f)
			f = h[i].done_at;
	return f;
}

/*
 * Pacing (tls_worker_set_rsa_pace). With runs' worth of operations waiting
 * behind a run, its steps grow. Right after a run has ended, fewer than 4
 * operations wait for the hold, and 4 start at once; a worker that has run
 * nothing starts a lone one at once.
 */
TEST(door_paced)
{
	struct tls_ctx *ctx = door_ctx_new();
	struct tls_worker *w = tls_worker_new(step_done), *w2 = tls_worker_new(step_done);
	const struct tls_key_stats *st = tls_worker_stats(w);
	struct step_hs h[NSTEP] = { 0 };
	unsigned plain, fast, ok = 0;
	struct tls_key_stats before;
	double t0, took;

	if (!ctx || !rsa_ifma_cpu()) {
		CHECK(ctx != NULL);
		goto out;
	}
	/* 12 at once: the first run has 8 behind it, so steps of 3 budgets */
	door_steps(ctx, w, h, "rrrrrrrrrrrr", TLS_RSA_STEP_UNITS, 0, 0, 0);
	plain = first_done(h, NSTEP);
	door_steps_free(h, NSTEP);
	memset(h, 0, sizeof(h));
	tls_worker_set_rsa_pace(w, 0, 4);
	door_steps(ctx, w, h, "rrrrrrrrrrrr", TLS_RSA_STEP_UNITS, 0, 0, 0);
	fast = first_done(h, NSTEP);
	for (unsigned i = 0; i < NSTEP; i++)
		ok += h[i].done_at && h[i].p.cli_done && !h[i].failed;
	CHECK_EQ(ok, NSTEP);
	CHECK(plain != ~0u && fast * 2 < plain);
	door_steps_free(h, NSTEP);
	memset(h, 0, sizeof(h));

	/* a hold of 2 s right after that run: two wait, whatever the rounds */
	tls_worker_set_rsa_pace(w, 2000000, 1);
	before = *st;
	t0 = mono_ms();
	door_steps(ctx, w, h, "rr", TLS_RSA_STEP_UNITS, 0, 0, 0);
	took = mono_ms() - t0;
	if (took < 1500) {      /* 400 rounds well within the hold (on any machine but a stalled one) */
		CHECK(!h[0].done_at && !h[1].done_at);
		CHECK_EQ(tls_worker_pending(w), 2);
		CHECK_EQ(st->key_ifma_runs, before.key_ifma_runs);
	}
	/* then they run, the hold over: a run of 2, both sessions end */
	while (tls_worker_pending(w) && mono_ms() - t0 < 10000)
		tls_worker_run(w, 64);
	CHECK_EQ(tls_worker_pending(w), 0);
	CHECK(mono_ms() - t0 >= 2000);
	CHECK_EQ(st->key_ifma_runs - before.key_ifma_runs, 1);
	CHECK_EQ(st->key_ifma_ops - before.key_ifma_ops, 2);
	for (unsigned r = 0; r < 100 && !(h[0].done_at && h[1].done_at); r++)
		for (unsigned i = 0; i < 2; i++) {
			if (!h[i].p.cli_done && SSL_do_handshake(h[i].p.cli) == 1)
				h[i].p.cli_done = 1;
			ERR_clear_error();
			if (!h[i].done_at && tls_handshake(h[i].p.srv) == TLS_DONE)
				h[i].done_at = r + 1;
		}
	CHECK(h[0].done_at && h[1].done_at);
	door_steps_free(h, 2);
	memset(h, 0, sizeof(h));

	/* four right after a run: no hold, a full run */
	before = *st;
	door_steps(ctx, w, h, "rrrr", TLS_RSA_STEP_UNITS, 0, 0, 0);
	ok = 0;
	for (unsigned i = 0; i < 4; i++)
		ok += h[i].done_at && h[i].p.cli_done && !h[i].failed;
	CHECK_EQ(ok, 4);
	CHECK_EQ(st->key_ifma_fill_4 - before.key_ifma_fill_4, 1);
	door_steps_free(h, 4);
	memset(h, 0, sizeof(h));

	/* a worker that has run nothing: a lone operation starts at once */
	tls_worker_set_rsa_pace(w2, 2000000, 1);
	door_steps(ctx, w2, h, "r", TLS_RSA_STEP_UNITS, 0, 0, 0);
	CHECK(h[0].done_at && h[0].p.cli_done && !h[0].failed);
	CHECK_EQ(tls_worker_stats(w2)->key_ifma_fill_1, 1);
	door_steps_free(h, 1);
out:
	tls_worker_free(w);
	tls_worker_free(w2);
	tls_ctx_free(ctx);
}

int main(void)
{
	if (!rsa_ifma_cpu())
		printf("test_rsa_ifma: this CPU has no AVX-512 IFMA: kernel tests skipped, "
		       "the scalar path is tested\n");
	RUN(keys_built);
	if (rsa_ifma_cpu()) {
		RUN(kernel_every_fill_mixed_keys);
		RUN(kernel_edge_inputs);
		RUN(lane_check);
		RUN(lane_check_out_plus_n);
		RUN(lane_check_compaction);
		RUN(unequal_primes);
		RUN(kernel_pairs_unequal_primes);
		RUN(no_secret_left_on_the_stack);
	}
	RUN(other_sizes_refused);
	RUN(batch_every_fill);
	RUN(batch_splits_and_min_fill);
	RUN(fault_caught);
	RUN(input_not_below_n);
	RUN(steps_every_fill_and_budget);
	RUN(steps_refused_and_scalar);
	RUN(steps_fault_caught);
	RUN(steps_freed_midway);
	RUN(signatures_verify);
	RUN(signature_bad_message_fails);
	RUN(through_the_door);
	RUN(door_in_steps);
	RUN(door_paced);
	for (unsigned i = 0; i < NKEYS; i++) {
		rsa_ifma_key_free(ikeys[i]);
		RSA_free(keys[i]);
	}
	return t_done("test_rsa_ifma");
}
