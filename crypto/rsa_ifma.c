/*
 * rsa_ifma.c - RSA-2048 CRT private operations, eight lanes at once, with
 * AVX-512 IFMA; see rsa_ifma.h for the model.
 *
 * Arithmetic (per lane; all lanes run the same instructions):
 *   - numbers are little-endian 52-bit limbs held in 64-bit lanes; a CRT
 *     half has RI_L = 20 limbs, R = 2^1040;
 *   - ri_mul() is word-serial Montgomery multiplication (CIOS) in the
 *     "almost" form: for a*b < m*R it returns a*b/R mod m below 2m, so
 *     values stay below 2m between multiplications as long as 4m < R
 *     (primes of at most 1038 bits);
 *   - c mod m enters Montgomery form as hi*R^3/R + lo*R^2/R (c = hi*R + lo);
 *   - c^d mod m: fixed 5-bit windows over all 1040 exponent bits (the
 *     exponent's length is not revealed), 32-entry table read whole under
 *     lane masks;
 *   - Garner: h = (m1 - m2) * qinv mod p, result = m2 + h*q.
 * Only loop bounds and bit positions (public) steer control flow.
 *
 * The IFMA functions carry __attribute__((target)), so the rest of the
 * build keeps its flags; they run only after rsa_ifma_cpu() said yes.
 */
#include "crypto/rsa_ifma.h"

#include <immintrin.h>
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
#define RI_WIN    5                     /* window bits */
#define RI_TAB    (1u << RI_WIN)
#define RI_MASK   ((1ull << 52) - 1)
#define RI_MAXBITS 1038                 /* largest prime served: 4m < R */
#define RI_LEBUF  272                   /* little-endian scratch (>= 40*52/8 + 8) */

#define RI_TGT __attribute__((target("avx512f,avx512ifma")))

typedef __m512i vec;

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
		cached = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512ifma");
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
	if (n > RSA_IFMA_LANES + 1)
		n = RSA_IFMA_LANES + 1;
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

/* ---- the 8-lane kernel ---- */

#define RI_PAIRS(X) X(0,1) X(1,2) X(2,3) X(3,4) X(4,5) X(5,6) X(6,7) X(7,8) X(8,9) X(9,10) \
	X(10,11) X(11,12) X(12,13) X(13,14) X(14,15) X(15,16) X(16,17) X(17,18) X(18,19) X(19,20)
#define RI_UPPER(X) X(1,2) X(2,3) X(3,4) X(4,5) X(5,6) X(6,7) X(7,8) X(8,9) X(9,10) \
	X(10,11) X(11,12) X(12,13) X(13,14) X(14,15) X(15,16) X(16,17) X(17,18) X(18,19) X(19,20)

/*
 * r = a*b/R mod m, below 2m when a*b < m*R (a, b normalized limbs). The
 * accumulators live in 21 registers; r may alias a or b.
 */
static RI_TGT void ri_mul(vec *r, const vec *a, const vec *b, const vec *m, vec k0)
{
	const vec z = _mm512_setzero_si512(), mask = _mm512_set1_epi64((long long)RI_MASK);
#define RI_DECL(j, k) vec c##j = z;
	RI_PAIRS(RI_DECL)
	vec c20 = z;

	for (unsigned i = 0; i < RI_L; i++) {
		const vec bi = b[i];
		vec q;
#define RI_AB(j, k) c##j = _mm512_madd52lo_epu64(c##j, a[j], bi); \
		    c##k = _mm512_madd52hi_epu64(c##k, a[j], bi);
		RI_PAIRS(RI_AB)
		q = _mm512_madd52lo_epu64(z, c0, k0);
#define RI_QM(j, k) c##j = _mm512_madd52lo_epu64(c##j, m[j], q); \
		    c##k = _mm512_madd52hi_epu64(c##k, m[j], q);
		RI_PAIRS(RI_QM)
		/* the low limb is now 0 mod 2^52: carry it and shift one limb down */
		c0 = _mm512_add_epi64(c1, _mm512_srli_epi64(c0, 52));
#define RI_SH(j, k) c##j = c##k;
		RI_UPPER(RI_SH)
		c20 = z;
	}
#define RI_NORM(j, k) c##k = _mm512_add_epi64(c##k, _mm512_srli_epi64(c##j, 52)); \
		      r[j] = _mm512_and_si512(c##j, mask);
	RI_PAIRS(RI_NORM)
	(void)c20;
#undef RI_DECL
#undef RI_AB
#undef RI_QM
#undef RI_SH
#undef RI_NORM
}

#define RI_ITERS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) \
	X(13) X(14) X(15) X(16) X(17) X(18) X(19)

/*
 * r = a*a/R mod m, as ri_mul(r, a, a, m, k0) but each cross product
 * a[i]*a[j] (i < j) is made once, times 2: in iteration i, a[j] * (2*a[i]
 * mod 2^52) plus a[j] one limb up when bit 51 of a[i] is set. The
 * iterations are unrolled so that the limb loops skip j < i.
 */
static RI_TGT void ri_sqr(vec *r, const vec *a, const vec *m, vec k0)
{
	const vec z = _mm512_setzero_si512(), mask = _mm512_set1_epi64((long long)RI_MASK);
	vec c[RI_L + 1];

	for (unsigned j = 0; j <= RI_L; j++)
		c[j] = z;
	/* c[] is indexed by constants only once unrolled, so it lives in registers */
#define RI_SQ_ITER(i) { \
		const vec ai = a[i], d = _mm512_and_si512(_mm512_slli_epi64(ai, 1), mask); \
		const vec top = _mm512_sub_epi64(z, _mm512_srli_epi64(ai, 51)); \
		vec q; \
		c[i] = _mm512_madd52lo_epu64(c[i], ai, ai); \
		c[i + 1] = _mm512_madd52hi_epu64(c[i + 1], ai, ai); \
		_Pragma("GCC unroll 20") \
		for (unsigned j = i + 1; j < RI_L; j++) { \
			c[j] = _mm512_madd52lo_epu64(c[j], a[j], d); \
			c[j + 1] = _mm512_madd52hi_epu64(c[j + 1], a[j], d); \
			c[j + 1] = _mm512_add_epi64(c[j + 1], _mm512_and_si512(a[j], top)); \
		} \
		q = _mm512_madd52lo_epu64(z, c[0], k0); \
		_Pragma("GCC unroll 20") \
		for (unsigned j = 0; j < RI_L; j++) { \
			c[j] = _mm512_madd52lo_epu64(c[j], m[j], q); \
			c[j + 1] = _mm512_madd52hi_epu64(c[j + 1], m[j], q); \
		} \
		c[1] = _mm512_add_epi64(c[1], _mm512_srli_epi64(c[0], 52)); \
		_Pragma("GCC unroll 20") \
		for (unsigned j = 0; j < RI_L; j++) \
			c[j] = c[j + 1]; \
		c[RI_L] = z; }
	RI_ITERS(RI_SQ_ITER)
#undef RI_SQ_ITER
	for (unsigned j = 0; j < RI_L; j++) {
		c[j + 1] = _mm512_add_epi64(c[j + 1], _mm512_srli_epi64(c[j], 52));
		r[j] = _mm512_and_si512(c[j], mask);
	}
}

/* x = x - m where x >= m, lane by lane, by masked blend (x, m normalized). */
static RI_TGT void ri_condsub(vec *x, const vec *m)
{
	const vec z = _mm512_setzero_si512(), mask = _mm512_set1_epi64((long long)RI_MASK);
	vec t[RI_L], br = z;
	__mmask8 keep;

	for (unsigned j = 0; j < RI_L; j++) {
		vec v = _mm512_add_epi64(_mm512_sub_epi64(x[j], m[j]), br);

		br = _mm512_srai_epi64(v, 52);
		t[j] = _mm512_and_si512(v, mask);
	}
	keep = _mm512_cmplt_epi64_mask(br, z);          /* borrowed: x < m */
	for (unsigned j = 0; j < RI_L; j++)
		x[j] = _mm512_mask_blend_epi64(keep, t[j], x[j]);
}

/* Carry-propagate n limbs holding signed 64-bit values (total non-negative). */
static RI_TGT void ri_norm(vec *x, unsigned n)
{
	const vec mask = _mm512_set1_epi64((long long)RI_MASK);

	for (unsigned j = 0; j + 1 < n; j++) {
		x[j + 1] = _mm512_add_epi64(x[j + 1], _mm512_srai_epi64(x[j], 52));
		x[j] = _mm512_and_si512(x[j], mask);
	}
}

/* The 5 exponent bits at public position pos, per lane. */
static RI_TGT vec ri_window(const vec *e, unsigned pos)
{
	unsigned w = pos / 64, s = pos % 64;
	vec v = _mm512_srlv_epi64(e[w], _mm512_set1_epi64(s));

	if (s > 64 - RI_WIN && w + 1 < RI_EW)
		v = _mm512_or_si512(v, _mm512_sllv_epi64(e[w + 1], _mm512_set1_epi64(64 - s)));
	return _mm512_and_si512(v, _mm512_set1_epi64(RI_TAB - 1));
}

/* r = tab[idx] per lane, reading every entry (no secret address). */
static RI_TGT void ri_lookup(vec *r, const vec *tab, vec idx)
{
	for (unsigned j = 0; j < RI_L; j++)
		r[j] = _mm512_setzero_si512();
	for (unsigned k = 0; k < RI_TAB; k++) {
		__mmask8 hit = _mm512_cmpeq_epi64_mask(idx, _mm512_set1_epi64(k));

		for (unsigned j = 0; j < RI_L; j++)
			r[j] = _mm512_mask_mov_epi64(r[j], hit, tab[k * RI_L + j]);
	}
}

/* acc = base^e in Montgomery form (below 2m); base in Montgomery form below 2m. */
static RI_TGT void ri_exp(vec *acc, const vec *base, const vec *e, const vec *m, const vec *rr,
			  vec k0, vec *tab)
{
	vec one[RI_L], t[RI_L];

	one[0] = _mm512_set1_epi64(1);
	for (unsigned j = 1; j < RI_L; j++)
		one[j] = _mm512_setzero_si512();
	ri_mul(tab, rr, one, m, k0);                    /* R mod m */
	memcpy(tab + RI_L, base, RI_L * sizeof(vec));
	for (unsigned k = 2; k < RI_TAB; k++)
		ri_mul(tab + k * RI_L, tab + (k - 1) * RI_L, base, m, k0);
	ri_lookup(acc, tab, ri_window(e, RI_L * 52 - RI_WIN));
	for (int pos = RI_L * 52 - 2 * RI_WIN; pos >= 0; pos -= RI_WIN) {
		for (unsigned s = 0; s < RI_WIN; s++)
			ri_sqr(acc, acc, m, k0);
		ri_lookup(t, tab, ri_window(e, (unsigned)pos));
		ri_mul(acc, acc, t, m, k0);
	}
}

/* Load n rows of 8 lanes from a [row][lane] array. */
static RI_TGT void ri_load(vec *v, const uint64_t (*rows)[RSA_IFMA_LANES], unsigned n)
{
	for (unsigned j = 0; j < n; j++)
		v[j] = _mm512_loadu_si512(rows[j]);
}

/* Transpose one lane's n words into a [row][lane] array. */
static void ri_put(uint64_t (*rows)[RSA_IFMA_LANES], unsigned lane, const uint64_t *w, unsigned n)
{
	for (unsigned j = 0; j < n; j++)
		rows[j][lane] = w[j];
}

/* The kernel's working set (about 50 KiB, allocated per run). */
struct ri_work {
	vec c[RI_NL];                   /* the inputs */
	vec m[2][RI_L], rr[2][RI_L], rrr[RI_L], e[RI_EW], qinv[RI_L];
	vec k0[2];
	vec x[RI_L], y[RI_L], acc[2][RI_L];
	vec prod[RI_NL + 1];
	vec tab[RI_TAB * RI_L];
	uint64_t rows[RI_NL + 1][RSA_IFMA_LANES];
	uint64_t limbs[RI_NL + 1];
};

/* The whole CRT operation for eight lanes (see the file comment). */
static RI_TGT void ri_kernel(struct ri_work *W, const struct rsa_ifma_key *const *keys,
			     const uint8_t *const *in, unsigned n)
{
	const vec z = _mm512_setzero_si512();
	vec one[RI_L];

	one[0] = _mm512_set1_epi64(1);
	for (unsigned j = 1; j < RI_L; j++)
		one[j] = z;
	for (unsigned l = 0; l < RSA_IFMA_LANES; l++) {
		be_to_limbs(in[l < n ? l : 0], W->limbs);
		ri_put(W->rows, l, W->limbs, RI_NL);
	}
	ri_load(W->c, (const uint64_t (*)[RSA_IFMA_LANES])W->rows, RI_NL);
	/* q first, then p: p's values stay loaded for Garner */
	for (int h = 1; h >= 0; h--) {
		const struct ri_half *hk[RSA_IFMA_LANES];
		uint64_t k0s[RSA_IFMA_LANES];

		for (unsigned l = 0; l < RSA_IFMA_LANES; l++) {
			hk[l] = &keys[l < n ? l : 0]->h[h];
			k0s[l] = hk[l]->k0;
		}
#define RI_GATHER(dst, field, cnt) do { \
		for (unsigned l = 0; l < RSA_IFMA_LANES; l++) \
			ri_put(W->rows, l, hk[l]->field, cnt); \
		ri_load(dst, (const uint64_t (*)[RSA_IFMA_LANES])W->rows, cnt); } while (0)
		RI_GATHER(W->m[h], m, RI_L);
		RI_GATHER(W->rr[h], rr, RI_L);
		RI_GATHER(W->rrr, rrr, RI_L);
		RI_GATHER(W->e, e, RI_EW);
#undef RI_GATHER
		W->k0[h] = _mm512_loadu_si512(k0s);
		/* c mod m in Montgomery form: hi*R^3/R + lo*R^2/R, each below 2m */
		ri_mul(W->x, W->c + RI_L, W->rrr, W->m[h], W->k0[h]);
		ri_mul(W->y, W->c, W->rr[h], W->m[h], W->k0[h]);
		for (unsigned j = 0; j < RI_L; j++)
			W->x[j] = _mm512_add_epi64(W->x[j], W->y[j]);
		ri_norm(W->x, RI_L);
		ri_condsub(W->x, W->m[h]);
		ri_condsub(W->x, W->m[h]);
		ri_exp(W->acc[h], W->x, W->e, W->m[h], W->rr[h], W->k0[h], W->tab);
	}
	for (unsigned l = 0; l < RSA_IFMA_LANES; l++)
		ri_put(W->rows, l, keys[l < n ? l : 0]->qinv, RI_L);
	ri_load(W->qinv, (const uint64_t (*)[RSA_IFMA_LANES])W->rows, RI_L);
	/* m2 = c^dq mod q, fully reduced, normal form */
	ri_mul(W->acc[1], W->acc[1], one, W->m[1], W->k0[1]);
	ri_condsub(W->acc[1], W->m[1]);
	/* x = m2*R mod p (below 2p); y = m1*R - m2*R + 2p, in (0, 4p) */
	ri_mul(W->x, W->acc[1], W->rr[0], W->m[0], W->k0[0]);
	for (unsigned j = 0; j < RI_L; j++)
		W->y[j] = _mm512_sub_epi64(_mm512_add_epi64(W->acc[0][j],
							    _mm512_slli_epi64(W->m[0][j], 1)), W->x[j]);
	ri_norm(W->y, RI_L);
	/* h = (m1 - m2) * qinv mod p, fully reduced */
	ri_mul(W->x, W->y, W->qinv, W->m[0], W->k0[0]);
	ri_condsub(W->x, W->m[0]);
	/* result = m2 + h*q */
	for (unsigned j = 0; j <= RI_NL; j++)
		W->prod[j] = j < RI_L ? W->acc[1][j] : z;
	for (unsigned i = 0; i < RI_L; i++)
		for (unsigned j = 0; j < RI_L; j++) {
			W->prod[i + j] = _mm512_madd52lo_epu64(W->prod[i + j], W->x[i], W->m[1][j]);
			W->prod[i + j + 1] = _mm512_madd52hi_epu64(W->prod[i + j + 1], W->x[i],
								   W->m[1][j]);
		}
	ri_norm(W->prod, RI_NL + 1);
	for (unsigned j = 0; j < RI_NL; j++)
		_mm512_storeu_si512(W->rows[j], W->prod[j]);
}

void rsa_ifma_raw(const struct rsa_ifma_key *const *keys, const uint8_t *const *in,
		  uint8_t *const *out, unsigned n)
{
	struct ri_work *W;

	if (n == 0 || n > RSA_IFMA_LANES)
		return;
	/* 64-byte aligned for the vectors; kept off small thread stacks */
	W = aligned_alloc(64, sizeof(*W));
	if (!W)
		abort();
	ri_kernel(W, keys, in, n);
	for (unsigned l = 0; l < n; l++) {
		for (unsigned j = 0; j < RI_NL; j++)
			W->limbs[j] = W->rows[j][l];
		limbs_to_be(W->limbs, out[l]);
	}
	OPENSSL_cleanse(W, sizeof(*W));
	free(W);
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

void rsa_ifma_run(struct rsa_ifma_job *jobs, unsigned n, struct rsa_ifma_stats *st)
{
	struct rsa_ifma_stats local;
	unsigned lane_job[RSA_IFMA_LANES], idx[n ? n : 1], ni = 0, fill = rsa_ifma_min_fill();
	int cpu = rsa_ifma_cpu();

	if (!st) {
		memset(&local, 0, sizeof(local));
		st = &local;
	}
	for (unsigned i = 0; i < n; i++) {
		struct rsa_ifma_job *j = &jobs[i];

		j->ok = 0;
		/* inputs at or above n go to BoringSSL, which refuses them */
		if (cpu && j->key && memcmp(j->in, j->key->n_be, RSA_IFMA_BYTES) < 0)
			idx[ni++] = i;
		else if (j->key) {
			j->ok = scalar_op(j->key->rsa, j->in, j->out);
			st->scalar_ops++;
			st->failed += !j->ok;
		}
	}
	for (unsigned s = 0; s < ni; s += RSA_IFMA_LANES) {
		unsigned k = ni - s < RSA_IFMA_LANES ? ni - s : RSA_IFMA_LANES;
		const struct rsa_ifma_key *keys[RSA_IFMA_LANES];
		const uint8_t *in[RSA_IFMA_LANES];
		uint8_t *out[RSA_IFMA_LANES];

		if (k < fill) {
			for (unsigned l = 0; l < k; l++) {
				struct rsa_ifma_job *j = &jobs[idx[s + l]];

				j->ok = scalar_op(j->key->rsa, j->in, j->out);
				st->scalar_ops++;
				st->failed += !j->ok;
			}
			continue;
		}
		for (unsigned l = 0; l < k; l++) {
			lane_job[l] = idx[s + l];
			keys[l] = jobs[lane_job[l]].key;
			in[l] = jobs[lane_job[l]].in;
			out[l] = jobs[lane_job[l]].out;
		}
		rsa_ifma_raw(keys, in, out, k);
		st->runs++;
		st->fill[k]++;
		for (unsigned l = 0; l < k; l++) {
			struct rsa_ifma_job *j = &jobs[lane_job[l]];

			if (rsa_ifma_fault_mask & (1u << l))
				j->out[RSA_IFMA_BYTES / 2] ^= 0x10;
			if (verify_op(j->key->rsa, j->in, j->out)) {
				j->ok = 1;
				st->ifma_ops++;
				continue;
			}
			st->verify_failed++;
			j->ok = scalar_op(j->key->rsa, j->in, j->out);
			st->scalar_ops++;
			st->failed += !j->ok;
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
