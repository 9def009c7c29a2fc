/*
 * rsa_ifma.c - RSA-2048 CRT private operations, eight lanes at once, with
 * AVX-512 IFMA; see rsa_ifma.h for the model.
 *
 * A lane holds one CRT half: lanes 2i and 2i + 1 run operation i's
 * exponentiations modulo p and modulo q side by side, and after them each
 * of the two lanes takes both halves (a fixed lane permutation) for
 * Garner's step; the result is read from lane 2i. So an 8-lane run holds 4
 * operations and lasts one 1024-bit exponentiation, where a lane for each
 * operation (8 of them, q then p) lasted two: the same work per operation
 * when full, half the wait, and a run's fill counted in 4 (2 in ymm).
 *
 * Arithmetic (per lane; all lanes run the same instructions):
 *   - numbers are little-endian 52-bit limbs held in 64-bit lanes; a CRT
 *     half has RI_L = 20 limbs, R = 2^1040;
 *   - ri_mul() is word-serial Montgomery multiplication (CIOS) in the
 *     "almost" form: for a*b < m*R it returns a*b/R mod m below 2m, so
 *     values stay below 2m between multiplications as long as 4m < R
 *     (primes of at most 1038 bits);
 *   - c mod m enters Montgomery form as hi*R^3/R + lo*R^2/R (c = hi*R + lo);
 *   - c^d mod m: fixed 4-bit windows over all 1040 exponent bits (the
 *     exponent's length is not revealed), 16-entry table read whole under
 *     lane masks (its 20 KiB of 8 lanes stay in a 32 KiB L1; 5-bit windows
 *     save 5 % of the multiplications, but their 40 KiB table does not, and
 *     8-lane runs were 4 % slower with them);
 *   - Garner: h = (m1 - m2) * qinv mod p, result = m2 + h*q.
 * Only loop bounds and bit positions (public) steer control flow.
 *
 * The kernel (rsa_ifma_kern.h) is written once and compiled twice, for 8
 * lanes in zmm and 4 lanes in ymm registers. The IFMA functions carry
 * __attribute__((target)), so the rest of the build keeps its flags; they
 * run only after rsa_ifma_cpu() said yes.
 */
#include "crypto/rsa_ifma.h"
#include "crypto/ifma_burn.h"

#include <immintrin.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/digest.h>
#include <openssl/err.h>
#include <openssl/mem.h>

#define RI_L      20                    /* limbs of a CRT half: R = 2^1040 */
#define RI_NL     40                    /* limbs of a 2048-bit value (2080 bits) */
#define RI_EW     17                    /* 64-bit words of a CRT exponent (>= 1040 bits) */
#define RI_WIN    4                     /* window bits */
#define RI_TAB    (1u << RI_WIN)
#define RI_MASK   ((1ull << 52) - 1)
#define RI_MAXBITS 1038                 /* largest prime served: 4m < R */
#define RI_LEBUF  272                   /* little-endian scratch (>= 40*52/8 + 8) */

#define RK_TGT __attribute__((target("avx512f,avx512vl,avx512ifma")))

/* One CRT half of a key in 52-bit limbs. */
struct ri_half {
	uint64_t m[RI_L];       /* the prime */
	uint64_t rr[RI_L];      /* R^2 mod m */
	uint64_t rrr[RI_L];     /* R^3 mod m */
	uint64_t e[RI_EW];      /* CRT exponent d mod (m-1), 64-bit words */
	uint64_t k0;            /* -m^-1 mod 2^52 */
};

struct rsa_ifma_key {
	struct ri_half h[2];    /* [0] p, [1] q */
	uint64_t qinv[RI_L];    /* q^-1 mod p */
	uint8_t n_be[RSA_IFMA_BYTES]; /* the modulus, public: inputs must be below it */
	/* the check in lanes (ri_check); chk_e 0: by BoringSSL */
	uint64_t chk_n[RI_NL];  /* the modulus */
	uint64_t chk_rr[RI_NL]; /* R^2 mod n, R = 2^2080 */
	uint64_t chk_k0;        /* -n^-1 mod 2^52 */
	uint64_t chk_e;         /* the public exponent, when odd and below 2^63 */
	RSA *rsa;               /* reference: public check and scalar path */
};

unsigned rsa_ifma_fault_mask;
static _Atomic unsigned min_fill = RSA_IFMA_MIN_FILL_DEFAULT;

/* ---- CPU and settings ---- */

int rsa_ifma_cpu(void)
{
	static int cached = -1;

	if (cached < 0) {
		__builtin_cpu_init();
		cached = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
			 __builtin_cpu_supports("avx512ifma");
	}
	return cached;
}

unsigned rsa_ifma_min_fill(void)
{
	static _Atomic int env_read;

	/* MXGATE_RSA_IFMA_MIN_FILL (1..9) replaces the default, for measurements */
	if (!atomic_load_explicit(&env_read, memory_order_acquire)) {
		const char *v = getenv("MXGATE_RSA_IFMA_MIN_FILL");

		if (v && *v >= '1' && *v <= '9' && !v[1])
			rsa_ifma_set_min_fill((unsigned)(*v - '0'));
		atomic_store_explicit(&env_read, 1, memory_order_release);
	}
	return atomic_load_explicit(&min_fill, memory_order_relaxed);
}

void rsa_ifma_set_min_fill(unsigned n)
{
	if (n < 1)
		n = 1;
	if (n > RSA_IFMA_RUN_OPS + 1)
		n = RSA_IFMA_RUN_OPS + 1;
	atomic_store_explicit(&min_fill, n, memory_order_relaxed);
}

/* ---- conversions (no secret-dependent branches or addresses) ---- */

/* Little-endian bytes (RI_LEBUF, zero padded) to nl 52-bit limbs. */
static void le_to_limbs(const uint8_t *le, uint64_t *l, unsigned nl)
{
	for (unsigned j = 0; j < nl; j++) {
		unsigned bit = 52 * j, b = bit / 8;
		uint64_t v = 0;

		for (unsigned k = 0; k < 8; k++)
			v |= (uint64_t)le[b + k] << (8 * k);
		l[j] = (v >> (bit % 8)) & RI_MASK;
	}
}

/* A BIGNUM to nl limbs; 0 if it does not fit. */
static int bn_to_limbs(const BIGNUM *bn, uint64_t *l, unsigned nl)
{
	uint8_t le[RI_LEBUF] = { 0 };

	if (!BN_bn2le_padded(le, (nl * 52 + 7) / 8, bn))
		return 0;
	le_to_limbs(le, l, nl);
	OPENSSL_cleanse(le, sizeof(le));
	return 1;
}

/* 256 big-endian bytes to RI_NL limbs. */
static void be_to_limbs(const uint8_t *be, uint64_t *l)
{
	uint8_t le[RI_LEBUF] = { 0 };

	for (unsigned i = 0; i < RSA_IFMA_BYTES; i++)
		le[i] = be[RSA_IFMA_BYTES - 1 - i];
	le_to_limbs(le, l, RI_NL);
	OPENSSL_cleanse(le, sizeof(le));
}

/* RI_NL normalized limbs to 256 big-endian bytes (bits above 2048 dropped). */
static void limbs_to_be(const uint64_t *l, uint8_t *be)
{
	uint8_t le[RI_LEBUF] = { 0 };

	for (unsigned j = 0; j < RI_NL; j++) {
		unsigned bit = 52 * j, b = bit / 8;
		uint64_t v = l[j] << (bit % 8);

		for (unsigned k = 0; k < 8; k++)
			le[b + k] |= (uint8_t)(v >> (8 * k));
	}
	for (unsigned i = 0; i < RSA_IFMA_BYTES; i++)
		be[i] = le[RSA_IFMA_BYTES - 1 - i];
	OPENSSL_cleanse(le, sizeof(le));
}

/*
 * A run's frames take about 8 KiB of stack (ri_step, ri_exp_window,
 * ri_mul: gcc -fstack-usage), more under ASan: ri_end wipes this much,
 * and the vector registers (ifma_burn).
 */
#define RI_BURN 32768

/* -m0^-1 mod 2^52 for odd m0 (Newton's iteration, branch-free). */
static uint64_t mont_k0(uint64_t m0)
{
	uint64_t x = m0;        /* right to 3 bits: m0*m0 = 1 mod 8 */

	for (int i = 0; i < 5; i++)
		x *= 2 - m0 * x;
	return (0 - x) & RI_MASK;
}

/* ---- keys ---- */

/* 2^k mod m, constant time in m; 1 on success. */
static int pow2_mod(BIGNUM *r, unsigned k, const BIGNUM *m, BN_CTX *ctx)
{
	BN_MONT_CTX *mont = BN_MONT_CTX_new_consttime(m, ctx);
	BIGNUM *two = BN_new(), *e = BN_new();
	int ok = mont && two && e && BN_set_word(two, 2) && BN_set_word(e, k) &&
		 BN_mod_exp_mont_consttime(r, two, e, m, ctx, mont);

	BN_MONT_CTX_free(mont);
	BN_free(two);
	BN_free(e);
	return ok;
}

/* Fill one CRT half from its prime and exponent; 1 on success. */
static int half_init(struct ri_half *h, const BIGNUM *m, const BIGNUM *d, BN_CTX *ctx)
{
	uint8_t le[RI_EW * 8];
	BIGNUM *t = BN_new();
	int ok = 0;

	if (!t || BN_num_bits(m) > RI_MAXBITS || !BN_is_odd(m) || BN_num_bits(d) > RI_L * 52)
		goto out;
	if (!bn_to_limbs(m, h->m, RI_L) || !pow2_mod(t, 2 * RI_L * 52, m, ctx) ||
	    !bn_to_limbs(t, h->rr, RI_L) || !pow2_mod(t, 3 * RI_L * 52, m, ctx) ||
	    !bn_to_limbs(t, h->rrr, RI_L) || !BN_bn2le_padded(le, sizeof(le), d))
		goto out;
	for (unsigned w = 0; w < RI_EW; w++) {
		h->e[w] = 0;
		for (unsigned k = 0; k < 8; k++)
			h->e[w] |= (uint64_t)le[8 * w + k] << (8 * k);
	}
	h->k0 = mont_k0(h->m[0]);
	ok = 1;
out:
	OPENSSL_cleanse(le, sizeof(le));
	BN_clear_free(t);
	return ok;
}

struct rsa_ifma_key *rsa_ifma_key_new(RSA *rsa)
{
	const BIGNUM *n, *e, *d, *p, *q, *dp, *dq, *qinv;
	struct rsa_ifma_key *k;
	BN_CTX *ctx;
	int ok;

	if (!rsa || RSA_bits(rsa) != 2048)
		return NULL;
	RSA_get0_key(rsa, &n, &e, &d);
	RSA_get0_factors(rsa, &p, &q);
	RSA_get0_crt_params(rsa, &dp, &dq, &qinv);
	if (!n || !e || !p || !q || !dp || !dq || !qinv || BN_num_bytes(n) != RSA_IFMA_BYTES)
		return NULL;
	/* key set-up only: Garner's bound needs qinv < p */
	if (BN_ucmp(qinv, p) >= 0)
		return NULL;
	k = OPENSSL_malloc(sizeof(*k));
	ctx = BN_CTX_new();
	if (!k || !ctx) {
		OPENSSL_free(k);
		BN_CTX_free(ctx);
		return NULL;
	}
	memset(k, 0, sizeof(*k));
	ok = half_init(&k->h[0], p, dp, ctx) && half_init(&k->h[1], q, dq, ctx) &&
	     bn_to_limbs(qinv, k->qinv, RI_L) && BN_bn2bin_padded(k->n_be, sizeof(k->n_be), n);
	if (ok && BN_is_odd(e) && BN_num_bits(e) <= 63 && bn_to_limbs(n, k->chk_n, RI_NL)) {
		BIGNUM *t = BN_new();

		if (t && pow2_mod(t, 2 * RI_NL * 52, n, ctx) && bn_to_limbs(t, k->chk_rr, RI_NL)) {
			k->chk_k0 = mont_k0(k->chk_n[0]);
			k->chk_e = BN_get_word(e);
		}
		BN_free(t);
	}
	BN_CTX_free(ctx);
	ERR_clear_error();
	if (!ok) {
		OPENSSL_cleanse(k, sizeof(*k));
		OPENSSL_free(k);
		return NULL;
	}
	RSA_up_ref(rsa);
	k->rsa = rsa;
	return k;
}

void rsa_ifma_key_free(struct rsa_ifma_key *k)
{
	if (!k)
		return;
	RSA_free(k->rsa);
	OPENSSL_cleanse(k, sizeof(*k));
	OPENSSL_free(k);
}

RSA *rsa_ifma_key_rsa(const struct rsa_ifma_key *k)
{
	return k->rsa;
}

/* Transpose one lane's n words into a [row][lane] array. */
static void ri_put(uint64_t (*rows)[RSA_IFMA_LANES], unsigned lane, const uint64_t *w, unsigned n)
{
	for (unsigned j = 0; j < n; j++)
		rows[j][lane] = w[j];
}

/* ---- the kernels: 8 lanes (zmm) and 4 lanes (ymm) ---- */

/* The stages of a kernel run (ri_step), in order. */
enum { RI_ST_LOAD, RI_ST_HALF, RI_ST_WIN, RI_ST_GARNER, RI_ST_END };

/* Garner's lane permutations: each lane of a pair takes the p (even) or q (odd) lane's value. */
static const uint64_t ri_even[RSA_IFMA_LANES] = { 0, 0, 2, 2, 4, 4, 6, 6 };
static const uint64_t ri_odd[RSA_IFMA_LANES] = { 1, 1, 3, 3, 5, 5, 7, 7 };

/*
 * What a stage costs, in units of one exponent window (4 squarings and a
 * multiplication: about 2.1 us on 8 lanes of Zen 4, 1.2 us on 4): a run is
 * RI_U_RUN units, the halves' set-up (3 + 14 multiplications for the
 * table) counts 4. The check of a run's results in lanes (ri_check: 19
 * multiplications of 40 limbs, 28 us for up to 4 on ymm) counts 13, the
 * check of one by BoringSSL (15 us: a run of one, or a key whose exponent
 * the lanes do not take) 7, a scalar operation (570 us) 270.
 */
#define RI_U_WIN     1
#define RI_U_LOAD    1
#define RI_U_HALF    4
#define RI_U_GARNER  1
#define RI_U_CHECK   7
#define RI_U_LCHECK  13
#define RI_U_SCALAR  270
#define RI_WINDOWS   ((RI_L * 52 - RI_WIN) / RI_WIN)  /* windows a half steps through after its top one */
#define RI_U_RUN     (RI_U_LOAD + RI_U_HALF + RI_WINDOWS * RI_U_WIN + RI_U_GARNER)

/* A kernel run in progress: its operations, its stage, its working set. */
struct ri_kstate {
	const struct rsa_ifma_key *keys[RSA_IFMA_RUN_OPS];
	const uint8_t *in[RSA_IFMA_RUN_OPS];
	unsigned n;                     /* operations (two lanes each); other lanes repeat operation 0 */
	int stage, pos;                 /* ri_step's place: public */
	void *W;                        /* the width's struct ri_work */
};

/* The operation whose half lane l runs. */
static unsigned ri_op(const struct ri_kstate *ks, unsigned l)
{
	return l / 2 < ks->n ? l / 2 : 0;
}

#define RK_FN2(name, w) name##_##w
#define RK_FN1(name, w) RK_FN2(name, w)
#define RK_FN(name) RK_FN1(name, RK_W)

#define RK_W      8
#define RK_VEC    __m512i
#define RK_MLO    _mm512_madd52lo_epu64
#define RK_MHI    _mm512_madd52hi_epu64
#define RK_ADD    _mm512_add_epi64
#define RK_SUB    _mm512_sub_epi64
#define RK_AND    _mm512_and_si512
#define RK_OR     _mm512_or_si512
#define RK_CMPEQ  _mm512_cmpeq_epi64_mask
#define RK_CMPLT  _mm512_cmplt_epi64_mask
#define RK_BLEND  _mm512_mask_blend_epi64
#define RK_MASKMOV _mm512_mask_mov_epi64
#define RK_SET1(x) _mm512_set1_epi64((long long)(x))
#define RK_ZERO   _mm512_setzero_si512
#define RK_SLLI   _mm512_slli_epi64
#define RK_SRLI   _mm512_srli_epi64
#define RK_SRAI   _mm512_srai_epi64
#define RK_SLLV   _mm512_sllv_epi64
#define RK_SRLV   _mm512_srlv_epi64
#define RK_PERM   _mm512_permutexvar_epi64
#define RK_LOADU(p) _mm512_loadu_si512((const void *)(p))
#define RK_STOREU(p, v) _mm512_storeu_si512((void *)(p), (v))
#include "crypto/rsa_ifma_kern.h"
#undef RK_W
#undef RK_VEC
#undef RK_MLO
#undef RK_MHI
#undef RK_ADD
#undef RK_SUB
#undef RK_AND
#undef RK_OR
#undef RK_CMPEQ
#undef RK_CMPLT
#undef RK_BLEND
#undef RK_MASKMOV
#undef RK_SET1
#undef RK_ZERO
#undef RK_SLLI
#undef RK_SRLI
#undef RK_SRAI
#undef RK_SLLV
#undef RK_SRLV
#undef RK_PERM
#undef RK_LOADU
#undef RK_STOREU

#define RK_W      4
#define RK_VEC    __m256i
#define RK_MLO    _mm256_madd52lo_epu64
#define RK_MHI    _mm256_madd52hi_epu64
#define RK_ADD    _mm256_add_epi64
#define RK_SUB    _mm256_sub_epi64
#define RK_AND    _mm256_and_si256
#define RK_OR     _mm256_or_si256
#define RK_CMPEQ  _mm256_cmpeq_epi64_mask
#define RK_CMPLT  _mm256_cmplt_epi64_mask
#define RK_BLEND  _mm256_mask_blend_epi64
#define RK_MASKMOV _mm256_mask_mov_epi64
#define RK_SET1(x) _mm256_set1_epi64x((long long)(x))
#define RK_ZERO   _mm256_setzero_si256
#define RK_SLLI   _mm256_slli_epi64
#define RK_SRLI   _mm256_srli_epi64
#define RK_SRAI   _mm256_srai_epi64
#define RK_SLLV   _mm256_sllv_epi64
#define RK_SRLV   _mm256_srlv_epi64
#define RK_PERM   _mm256_permutexvar_epi64
#define RK_LOADU(p) _mm256_loadu_si256((const __m256i *)(p))
#define RK_STOREU(p, v) _mm256_storeu_si256((__m256i *)(p), (v))
#include "crypto/rsa_ifma_kern.h"

void rsa_ifma_raw(const struct rsa_ifma_key *const *keys, const uint8_t *const *in,
		  uint8_t *const *out, unsigned n)
{
	/* runs of up to 4 operations, in order: up to 2 on ymm, else zmm */
	for (unsigned i = 0; i < n && n <= RSA_IFMA_LANES; i += RSA_IFMA_RUN_OPS) {
		unsigned k = n - i < RSA_IFMA_RUN_OPS ? n - i : RSA_IFMA_RUN_OPS;

		if (k <= RSA_IFMA_RUN_OPS / 2)
			ri_run_4(keys + i, in + i, out + i, k);
		else
			ri_run_8(keys + i, in + i, out + i, k);
	}
}

unsigned rsa_ifma_check(const struct rsa_ifma_key *const *keys, const uint8_t *const *in,
			const uint8_t *const *out, unsigned n)
{
	const struct rsa_ifma_key *k[RSA_IFMA_LANES];
	const uint8_t *ci[RSA_IFMA_LANES], *co[RSA_IFMA_LANES];
	unsigned lane[RSA_IFMA_LANES], m = 0, got, ok = 0;

	for (unsigned l = 0; l < n && l < RSA_IFMA_LANES; l++)
		if (keys[l] && keys[l]->chk_e) {
			k[m] = keys[l];
			ci[m] = in[l];
			co[m] = out[l];
			lane[m++] = l;
		}
	if (m == 0)
		return 0;
	got = m <= RSA_IFMA_LANES / 2 ? ri_check_4(k, ci, co, m) : ri_check_8(k, ci, co, m);
	ifma_burn(RI_BURN);     /* a decryption's result is a TLS 1.2 premaster */
	for (unsigned i = 0; i < m; i++)
		ok |= ((got >> i) & 1u) << lane[i];
	return ok;
}

/* ---- the door's batch: IFMA, check, scalar fallback ---- */

/* BoringSSL's scalar raw private operation; 1 on success. */
static int scalar_op(RSA *rsa, const uint8_t *in, uint8_t *out)
{
	size_t len = 0;
	int ok = RSA_decrypt(rsa, &len, out, RSA_IFMA_BYTES, in, RSA_IFMA_BYTES, RSA_NO_PADDING) &&
		 len == RSA_IFMA_BYTES;

	ERR_clear_error();
	return ok;
}

/* Does out^e mod n give back in (the public raw operation)? */
static int verify_op(RSA *rsa, const uint8_t *in, const uint8_t *out)
{
	uint8_t back[RSA_IFMA_BYTES];
	size_t len = 0;
	int ok = RSA_encrypt(rsa, &len, back, sizeof(back), out, RSA_IFMA_BYTES, RSA_NO_PADDING) &&
		 len == RSA_IFMA_BYTES && CRYPTO_memcmp(back, in, RSA_IFMA_BYTES) == 0;

	ERR_clear_error();
	return ok;
}

/* BoringSSL's operation for one job, counted. */
static void job_scalar(struct rsa_ifma_job *j, struct rsa_ifma_stats *st)
{
	j->ok = scalar_op(j->key->rsa, j->in, j->out);
	st->scalar_ops++;
	st->failed += !j->ok;
}

/* Can the IFMA kernel take this job (a key of ours, an input below n)? */
static int job_ifma_ok(const struct rsa_ifma_job *j, int cpu)
{
	return cpu && j->key && memcmp(j->in, j->key->n_be, RSA_IFMA_BYTES) < 0;
}

enum { RS_SCALAR, RS_KERNEL, RS_CHECK, RS_DONE };

struct rsa_ifma_steps {
	struct rsa_ifma_job *job[RSA_IFMA_RUN_OPS];
	struct rsa_ifma_stats *st;
	unsigned nscal, nlane;          /* job[0..nscal) scalar, then nlane in the lanes (two lanes each) */
	unsigned next;                  /* the next job of the phase */
	unsigned okmask;                /* the lanes' jobs whose results the lane check found right */
	int phase, wide, checked;
	struct ri_kstate ks;
};

struct rsa_ifma_steps *rsa_ifma_steps_new(struct rsa_ifma_job *const *jobs, unsigned n,
					  unsigned min_fill, struct rsa_ifma_stats *st)
{
	struct rsa_ifma_steps *s;
	int cpu = rsa_ifma_cpu();
	unsigned nl = 0;

	if (n == 0 || n > RSA_IFMA_RUN_OPS || !st)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->st = st;
	for (unsigned i = 0; i < n; i++) {
		jobs[i]->ok = 0;
		nl += job_ifma_ok(jobs[i], cpu);
	}
	if (nl < min_fill)
		nl = 0;                 /* below the least fill: all scalar */
	/* the scalar ones first (jobs without a key fail as they are), then the lanes */
	for (unsigned i = 0; i < n; i++)
		if (jobs[i]->key && !(nl && job_ifma_ok(jobs[i], cpu)))
			s->job[s->nscal++] = jobs[i];
	for (unsigned i = 0; nl && i < n; i++)
		if (job_ifma_ok(jobs[i], cpu)) {
			s->ks.keys[s->nlane] = jobs[i]->key;
			s->ks.in[s->nlane] = jobs[i]->in;
			s->job[s->nscal + s->nlane++] = jobs[i];
		}
	s->ks.n = s->nlane;
	s->wide = s->nlane > RSA_IFMA_RUN_OPS / 2;
	s->phase = RS_SCALAR;
	if (s->nlane && !(s->wide ? ri_begin_8(&s->ks) : ri_begin_4(&s->ks))) {
		free(s);
		return NULL;
	}
	return s;
}

int rsa_ifma_steps_do(struct rsa_ifma_steps *s, unsigned budget)
{
	unsigned used = 0;

	while (s->phase != RS_DONE && (used == 0 || used < budget)) {
		struct rsa_ifma_job *j;

		switch (s->phase) {
		case RS_SCALAR:
			if (s->next == s->nscal) {
				s->phase = s->nlane ? RS_KERNEL : RS_DONE;
				break;
			}
			job_scalar(s->job[s->next++], s->st);
			used += RI_U_SCALAR;
			break;
		case RS_KERNEL: {
			uint8_t *out[RSA_IFMA_RUN_OPS];

			used += s->wide ? ri_step_8(&s->ks, budget - used) : ri_step_4(&s->ks, budget - used);
			if (s->ks.stage != RI_ST_END) {
				/* the worker polls before the next step: no prime in its registers */
				ifma_zero_regs();
				break;
			}
			for (unsigned l = 0; l < s->nlane; l++)
				out[l] = s->job[s->nscal + l]->out;
			if (s->wide)
				ri_end_8(&s->ks, out);
			else
				ri_end_4(&s->ks, out);
			s->st->runs++;
			s->st->fill[s->nlane]++;
			s->next = 0;
			s->phase = RS_CHECK;
			break;
		}
		case RS_CHECK: {
			unsigned l = s->next;

			if (!s->checked) {
				/*
				 * every lane's result at once, in lanes (test faults go in
				 * first); a lone one is checked by BoringSSL, which takes
				 * half the time of a lane check run for one
				 */
				const struct rsa_ifma_key *keys[RSA_IFMA_RUN_OPS];
				const uint8_t *in[RSA_IFMA_RUN_OPS], *out[RSA_IFMA_RUN_OPS];

				for (unsigned k = 0; k < s->nlane; k++) {
					j = s->job[s->nscal + k];
					if (rsa_ifma_fault_mask & (1u << k))
						j->out[RSA_IFMA_BYTES / 2] ^= 0x10;
					keys[k] = j->key;
					in[k] = j->in;
					out[k] = j->out;
				}
				s->checked = 1;
				if (s->nlane > 1) {
					s->okmask = rsa_ifma_check(keys, in, out, s->nlane);
					used += RI_U_LCHECK;
					break;
				}
			}
			if (l == s->nlane) {
				s->phase = RS_DONE;
				break;
			}
			j = s->job[s->nscal + l];
			s->next++;
			if (s->okmask & (1u << l)) {
				j->ok = 1;
				s->st->ifma_ops++;
				continue;
			}
			if (!j->key->chk_e || s->nlane == 1) {  /* no lane check: BoringSSL's */
				used += RI_U_CHECK;
				if (verify_op(j->key->rsa, j->in, j->out)) {
					j->ok = 1;
					s->st->ifma_ops++;
					continue;
				}
			}
			s->st->verify_failed++;
			job_scalar(j, s->st);
			used += RI_U_SCALAR;
			break;
		}
		}
	}
	return s->phase == RS_DONE;
}

unsigned rsa_ifma_steps_units(void)
{
	return RI_U_RUN;
}

void rsa_ifma_steps_free(struct rsa_ifma_steps *s)
{
	if (!s)
		return;
	if (s->ks.W) {
		if (s->wide)
			ri_end_8(&s->ks, NULL);
		else
			ri_end_4(&s->ks, NULL);
	}
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

void rsa_ifma_run(struct rsa_ifma_job *jobs, unsigned n, struct rsa_ifma_stats *st)
{
	struct rsa_ifma_stats local;
	struct rsa_ifma_job *lane[RSA_IFMA_RUN_OPS];
	unsigned k = 0;
	int cpu = rsa_ifma_cpu();

	if (!st) {
		memset(&local, 0, sizeof(local));
		st = &local;
	}
	/* the kernel's jobs in groups of up to 4 (each run whole), in order */
	for (unsigned i = 0; i <= n; i++) {
		if (i < n) {
			jobs[i].ok = 0;
			if (!job_ifma_ok(&jobs[i], cpu)) {
				if (jobs[i].key)
					job_scalar(&jobs[i], st);
				continue;
			}
			lane[k++] = &jobs[i];
		}
		if (k == RSA_IFMA_RUN_OPS || (i == n && k)) {
			struct rsa_ifma_steps *s = rsa_ifma_steps_new(lane, k, rsa_ifma_min_fill(), st);

			if (!s)
				abort();
			rsa_ifma_steps_do(s, UINT_MAX);
			rsa_ifma_steps_free(s);
			k = 0;
		}
	}
}

/* ---- signing: BoringSSL's digest and padding ---- */

int rsa_ifma_encode(RSA *rsa, const EVP_MD *md, int pss, const uint8_t *msg, size_t len,
		    uint8_t *em)
{
	uint8_t dig[EVP_MAX_MD_SIZE];
	unsigned dlen = 0;
	size_t k = RSA_size(rsa);
	int ok = 0;

	if (!EVP_Digest(msg, len, dig, &dlen, md, NULL))
		goto out;
	if (pss) {
		ok = RSA_padding_add_PKCS1_PSS_mgf1(rsa, em, dig, md, md, -1);
	} else {
		/* EMSA-PKCS1-v1_5: 00 01 FF..FF 00 DigestInfo (RFC 8017, 9.2) */
		uint8_t *di = NULL;
		size_t dilen = 0;
		int alloced = 0;

		if (RSA_add_pkcs1_prefix(&di, &dilen, &alloced, EVP_MD_type(md), dig, dlen) &&
		    dilen + 11 <= k) {
			em[0] = 0x00;
			em[1] = 0x01;
			memset(em + 2, 0xff, k - dilen - 3);
			em[k - dilen - 1] = 0x00;
			memcpy(em + k - dilen, di, dilen);
			ok = 1;
		}
		if (alloced)
			OPENSSL_free(di);
	}
out:
	ERR_clear_error();
	return ok;
}
