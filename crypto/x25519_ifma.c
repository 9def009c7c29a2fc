/*
 * x25519_ifma.c - X25519 eight lanes at once with AVX-512 IFMA; see
 * x25519_ifma.h for the model.
 *
 * Arithmetic (per lane; all lanes run the same instructions):
 *   - a field element is five limbs of radix 2^51, each held below 2^52
 *     between operations (IFMA reads 52 bits of its inputs);
 *   - fe_mul: the 25 products a_i*b_j are split by IFMA at bit 52, so the
 *     high half of column k weighs 2^(51(k+1)+1) and is added doubled one
 *     column up; columns 5..9 fold down times 19 (2^255 = 19 mod p); every
 *     column stays below 2^62 before the carry chain; fe_sq makes each
 *     cross product once and doubles its column;
 *   - fe_add/fe_sub carry at once (a - b is a + 2p - b), so every input of
 *     a product is below 2^52 again;
 *   - the inversion is z^(p-2) by the usual chain of 254 squarings and 11
 *     multiplications; fe_freeze makes the canonical value.
 * Only loop bounds and bit positions (public) steer control flow. The
 * functions carry __attribute__((target)), so the rest of the build keeps
 * its flags; they run only after x25519_ifma_cpu() said yes.
 */
#include "crypto/x25519_ifma.h"
#include "crypto/rsa_ifma.h"

#include <immintrin.h>
#include <string.h>

#include <openssl/mem.h>

#define XT __attribute__((target("avx512f,avx512ifma"), always_inline)) static inline
#define XF __attribute__((target("avx512f,avx512ifma"), noinline)) static

typedef __m512i vec;
typedef struct {
	vec v[5];
} fe;

#define M51 ((long long)((1ull << 51) - 1))

int x25519_ifma_cpu(void)
{
	return rsa_ifma_cpu();
}

XT vec add(vec a, vec b)
{
	return _mm512_add_epi64(a, b);
}

XT vec sr51(vec a)
{
	return _mm512_srli_epi64(a, 51);
}

XT vec mask51(vec a)
{
	return _mm512_and_si512(a, _mm512_set1_epi64(M51));
}

/* 19 * x by shifts (x below 2^59) */
XT vec mul19(vec x)
{
	return add(add(_mm512_slli_epi64(x, 4), _mm512_slli_epi64(x, 1)), x);
}

/*
 * Limbs below 2^62 into limbs below 2^51, except limb 1 at most 2^51: one
 * carry chain, the carry out of limb 4 folded into limb 0 times 19.
 */
XT void fe_carry(fe *r, vec c0, vec c1, vec c2, vec c3, vec c4)
{
	c1 = add(c1, sr51(c0));
	c0 = mask51(c0);
	c2 = add(c2, sr51(c1));
	c1 = mask51(c1);
	c3 = add(c3, sr51(c2));
	c2 = mask51(c2);
	c4 = add(c4, sr51(c3));
	c3 = mask51(c3);
	c0 = add(c0, mul19(sr51(c4)));
	c4 = mask51(c4);
	c1 = add(c1, sr51(c0));
	c0 = mask51(c0);
	r->v[0] = c0;
	r->v[1] = c1;
	r->v[2] = c2;
	r->v[3] = c3;
	r->v[4] = c4;
}

/* product terms: column k gets the low half, column k+1 the high half */
#define LO(k, x, y) lo##k = _mm512_madd52lo_epu64(lo##k, x, y)
#define HI(k, x, y) hi##k = _mm512_madd52hi_epu64(hi##k, x, y)
#define P(i, j, k, k1) LO(k, a##i, b##j); HI(k1, a##i, b##j)

/*
 * Columns 0..9 (lo: low halves; hi: high halves, counted one column up and
 * doubled) into a reduced element: column k = lo + 2*hi below 2^57, columns
 * 5..9 folded times 19 (below 2^62), then the carry chain.
 */
XT void fe_reduce(fe *r, vec lo0, vec lo1, vec lo2, vec lo3, vec lo4, vec lo5, vec lo6,
		  vec lo7, vec lo8, vec hi1, vec hi2, vec hi3, vec hi4, vec hi5, vec hi6,
		  vec hi7, vec hi8, vec hi9)
{
#define COL(lo, hi) add(lo, _mm512_slli_epi64(hi, 1))
	vec c5 = COL(lo5, hi5), c6 = COL(lo6, hi6), c7 = COL(lo7, hi7), c8 = COL(lo8, hi8);
	vec c9 = _mm512_slli_epi64(hi9, 1);

	fe_carry(r, add(lo0, mul19(c5)), add(COL(lo1, hi1), mul19(c6)),
		 add(COL(lo2, hi2), mul19(c7)), add(COL(lo3, hi3), mul19(c8)),
		 add(COL(lo4, hi4), mul19(c9)));
#undef COL
}

/* r = a * b; r may alias a or b. */
XF void fe_mul(fe *r, const fe *a, const fe *b)
{
	const vec z = _mm512_setzero_si512();
	const vec a0 = a->v[0], a1 = a->v[1], a2 = a->v[2], a3 = a->v[3], a4 = a->v[4];
	const vec b0 = b->v[0], b1 = b->v[1], b2 = b->v[2], b3 = b->v[3], b4 = b->v[4];
	vec lo0 = z, lo1 = z, lo2 = z, lo3 = z, lo4 = z, lo5 = z, lo6 = z, lo7 = z, lo8 = z;
	vec hi1 = z, hi2 = z, hi3 = z, hi4 = z, hi5 = z, hi6 = z, hi7 = z, hi8 = z, hi9 = z;

	P(0, 0, 0, 1);
	P(0, 1, 1, 2); P(1, 0, 1, 2);
	P(0, 2, 2, 3); P(1, 1, 2, 3); P(2, 0, 2, 3);
	P(0, 3, 3, 4); P(1, 2, 3, 4); P(2, 1, 3, 4); P(3, 0, 3, 4);
	P(0, 4, 4, 5); P(1, 3, 4, 5); P(2, 2, 4, 5); P(3, 1, 4, 5); P(4, 0, 4, 5);
	P(1, 4, 5, 6); P(2, 3, 5, 6); P(3, 2, 5, 6); P(4, 1, 5, 6);
	P(2, 4, 6, 7); P(3, 3, 6, 7); P(4, 2, 6, 7);
	P(3, 4, 7, 8); P(4, 3, 7, 8);
	P(4, 4, 8, 9);
	fe_reduce(r, lo0, lo1, lo2, lo3, lo4, lo5, lo6, lo7, lo8,
		  hi1, hi2, hi3, hi4, hi5, hi6, hi7, hi8, hi9);
}

/*
 * r = a^2: the ten cross products once, their columns doubled before the
 * five squares are added (15 products instead of 25).
 */
XF void fe_sq(fe *r, const fe *a)
{
	const vec z = _mm512_setzero_si512();
	const vec a0 = a->v[0], a1 = a->v[1], a2 = a->v[2], a3 = a->v[3], a4 = a->v[4];
	const vec b0 = a0, b1 = a1, b2 = a2, b3 = a3, b4 = a4;
	vec lo0 = z, lo1 = z, lo2 = z, lo3 = z, lo4 = z, lo5 = z, lo6 = z, lo7 = z, lo8 = z;
	vec hi1 = z, hi2 = z, hi3 = z, hi4 = z, hi5 = z, hi6 = z, hi7 = z, hi8 = z, hi9 = z;

	P(0, 1, 1, 2);
	P(0, 2, 2, 3);
	P(0, 3, 3, 4); P(1, 2, 3, 4);
	P(0, 4, 4, 5); P(1, 3, 4, 5);
	P(1, 4, 5, 6); P(2, 3, 5, 6);
	P(2, 4, 6, 7);
	P(3, 4, 7, 8);
#define DBL(x) x = _mm512_slli_epi64(x, 1)
	DBL(lo1); DBL(lo2); DBL(lo3); DBL(lo4); DBL(lo5); DBL(lo6); DBL(lo7);
	DBL(hi2); DBL(hi3); DBL(hi4); DBL(hi5); DBL(hi6); DBL(hi7); DBL(hi8);
#undef DBL
	P(0, 0, 0, 1);
	P(1, 1, 2, 3);
	P(2, 2, 4, 5);
	P(3, 3, 6, 7);
	P(4, 4, 8, 9);
	fe_reduce(r, lo0, lo1, lo2, lo3, lo4, lo5, lo6, lo7, lo8,
		  hi1, hi2, hi3, hi4, hi5, hi6, hi7, hi8, hi9);
}
#undef P
#undef LO
#undef HI

/* r = a * k for a small constant k (below 2^52) */
XT void fe_mul_small(fe *r, const fe *a, long long k)
{
	const vec z = _mm512_setzero_si512(), kk = _mm512_set1_epi64(k);
	vec lo[5], hi[5];

	for (unsigned i = 0; i < 5; i++) {
		lo[i] = _mm512_madd52lo_epu64(z, a->v[i], kk);
		hi[i] = _mm512_slli_epi64(_mm512_madd52hi_epu64(z, a->v[i], kk), 1);
	}
	fe_carry(r, add(lo[0], mul19(hi[4])), add(lo[1], hi[0]), add(lo[2], hi[1]),
		 add(lo[3], hi[2]), add(lo[4], hi[3]));
}

XT void fe_add(fe *r, const fe *a, const fe *b)
{
	fe_carry(r, add(a->v[0], b->v[0]), add(a->v[1], b->v[1]), add(a->v[2], b->v[2]),
		 add(a->v[3], b->v[3]), add(a->v[4], b->v[4]));
}

/* r = a - b + 2p (b's limbs at most 2^51 + 1, below 2p's) */
XT void fe_sub(fe *r, const fe *a, const fe *b)
{
	const vec p0 = _mm512_set1_epi64((1ll << 52) - 38), pi = _mm512_set1_epi64((1ll << 52) - 2);

	fe_carry(r, _mm512_sub_epi64(add(a->v[0], p0), b->v[0]),
		 _mm512_sub_epi64(add(a->v[1], pi), b->v[1]),
		 _mm512_sub_epi64(add(a->v[2], pi), b->v[2]),
		 _mm512_sub_epi64(add(a->v[3], pi), b->v[3]),
		 _mm512_sub_epi64(add(a->v[4], pi), b->v[4]));
}

/* Swap a and b in the lanes where mask is all ones. */
XT void fe_cswap(fe *a, fe *b, vec mask)
{
	for (unsigned i = 0; i < 5; i++) {
		vec t = _mm512_and_si512(_mm512_xor_si512(a->v[i], b->v[i]), mask);

		a->v[i] = _mm512_xor_si512(a->v[i], t);
		b->v[i] = _mm512_xor_si512(b->v[i], t);
	}
}

XF void fe_sqn(fe *r, const fe *a, unsigned n)
{
	fe_sq(r, a);
	while (--n)
		fe_sq(r, r);
}

/* r = z^(p-2) = z^-1 (z = 0 gives 0), the chain of RFC 7748's reference */
XF void fe_invert(fe *r, const fe *z)
{
	fe z2, z9, z11, z2_5_0, z2_10_0, z2_20_0, z2_50_0, z2_100_0, t;

	fe_sq(&z2, z);                  /* 2 */
	fe_sqn(&t, &z2, 2);             /* 8 */
	fe_mul(&z9, &t, z);             /* 9 */
	fe_mul(&z11, &z9, &z2);         /* 11 */
	fe_sq(&t, &z11);                /* 22 */
	fe_mul(&z2_5_0, &t, &z9);       /* 2^5 - 1 */
	fe_sqn(&t, &z2_5_0, 5);
	fe_mul(&z2_10_0, &t, &z2_5_0);  /* 2^10 - 1 */
	fe_sqn(&t, &z2_10_0, 10);
	fe_mul(&z2_20_0, &t, &z2_10_0); /* 2^20 - 1 */
	fe_sqn(&t, &z2_20_0, 20);
	fe_mul(&t, &t, &z2_20_0);       /* 2^40 - 1 */
	fe_sqn(&t, &t, 10);
	fe_mul(&z2_50_0, &t, &z2_10_0); /* 2^50 - 1 */
	fe_sqn(&t, &z2_50_0, 50);
	fe_mul(&z2_100_0, &t, &z2_50_0); /* 2^100 - 1 */
	fe_sqn(&t, &z2_100_0, 100);
	fe_mul(&t, &t, &z2_100_0);      /* 2^200 - 1 */
	fe_sqn(&t, &t, 50);
	fe_mul(&t, &t, &z2_50_0);       /* 2^250 - 1 */
	fe_sqn(&t, &t, 5);              /* 2^255 - 2^5 */
	fe_mul(r, &t, &z11);            /* 2^255 - 21 = p - 2 */
}

/*
 * The canonical value (below p) of a product's limbs (below 2^51, limb 1 at
 * most 2^51, so the value is below 2p): q = 1 when v + 19 reaches 2^255,
 * then v + 19q with bit 255 dropped is v - qp.
 */
XT void fe_freeze(fe *r)
{
	vec q = sr51(add(r->v[0], _mm512_set1_epi64(19)));

	for (unsigned i = 1; i < 5; i++)
		q = sr51(add(r->v[i], q));
	r->v[0] = add(r->v[0], mul19(q));
	for (unsigned i = 0; i < 4; i++) {
		r->v[i + 1] = add(r->v[i + 1], sr51(r->v[i]));
		r->v[i] = mask51(r->v[i]);
	}
	r->v[4] = mask51(r->v[4]);
}

/* 32 little-endian bytes per lane into limbs (bit 255 dropped). */
static void fe_load(uint64_t limbs[5][X25519_IFMA_LANES], const uint8_t b[32], unsigned lane)
{
	uint64_t w[4];

	memcpy(w, b, 32);
	w[3] &= 0x7fffffffffffffffull;
	limbs[0][lane] = w[0] & M51;
	limbs[1][lane] = (w[0] >> 51 | w[1] << 13) & M51;
	limbs[2][lane] = (w[1] >> 38 | w[2] << 26) & M51;
	limbs[3][lane] = (w[2] >> 25 | w[3] << 39) & M51;
	limbs[4][lane] = w[3] >> 12;
}

static void fe_store(uint8_t b[32], uint64_t limbs[5][X25519_IFMA_LANES], unsigned lane)
{
	uint64_t l[5], w[4];

	for (unsigned i = 0; i < 5; i++)
		l[i] = limbs[i][lane];
	w[0] = l[0] | l[1] << 51;
	w[1] = l[1] >> 13 | l[2] << 38;
	w[2] = l[2] >> 26 | l[3] << 25;
	w[3] = l[3] >> 39 | l[4] << 12;
	memcpy(b, w, 32);
}

/* The ladder of RFC 7748 section 5 over every lane; u and k as loaded. */
XF void ladder(uint64_t out[5][X25519_IFMA_LANES], uint64_t u[5][X25519_IFMA_LANES],
	       uint64_t k[4][X25519_IFMA_LANES])
{
	const vec one = _mm512_set1_epi64(1), z = _mm512_setzero_si512();
	fe x1, x2, z2, x3, z3, a, aa, b, bb, e, c, d, da, cb, t;
	vec kw[4], swap = z;

	for (unsigned i = 0; i < 5; i++) {
		x1.v[i] = _mm512_loadu_si512(u[i]);
		x3.v[i] = x1.v[i];
		x2.v[i] = z2.v[i] = z3.v[i] = z;
	}
	x2.v[0] = z3.v[0] = one;
	for (unsigned i = 0; i < 4; i++)
		kw[i] = _mm512_loadu_si512(k[i]);
	for (int bit = 254; bit >= 0; bit--) {
		vec kt = _mm512_and_si512(_mm512_srl_epi64(kw[bit >> 6], _mm_cvtsi32_si128(bit & 63)), one);
		vec m;

		swap = _mm512_xor_si512(swap, kt);
		m = _mm512_sub_epi64(z, swap);
		fe_cswap(&x2, &x3, m);
		fe_cswap(&z2, &z3, m);
		swap = kt;
		fe_add(&a, &x2, &z2);
		fe_sq(&aa, &a);
		fe_sub(&b, &x2, &z2);
		fe_sq(&bb, &b);
		fe_sub(&e, &aa, &bb);
		fe_add(&c, &x3, &z3);
		fe_sub(&d, &x3, &z3);
		fe_mul(&da, &d, &a);
		fe_mul(&cb, &c, &b);
		fe_add(&t, &da, &cb);
		fe_sq(&x3, &t);
		fe_sub(&t, &da, &cb);
		fe_sq(&t, &t);
		fe_mul(&z3, &x1, &t);
		fe_mul(&x2, &aa, &bb);
		fe_mul_small(&t, &e, 121665);
		fe_add(&t, &aa, &t);
		fe_mul(&z2, &e, &t);
	}
	{
		vec m = _mm512_sub_epi64(z, swap);

		fe_cswap(&x2, &x3, m);
		fe_cswap(&z2, &z3, m);
	}
	fe_invert(&t, &z2);
	fe_mul(&x2, &x2, &t);
	fe_freeze(&x2);
	for (unsigned i = 0; i < 5; i++)
		_mm512_storeu_si512(out[i], x2.v[i]);
}

/*
 * Wipe the stack below the caller's frame, where ladder(), fe_invert() and
 * the products left their elements (any of them, with the output, gives
 * the lanes' secrets back): a frame of STACK_BURN bytes over that space.
 */
#define STACK_BURN 16384
static __attribute__((noinline)) void burn_stack(void)
{
	uint8_t b[STACK_BURN];

	OPENSSL_cleanse(b, sizeof(b));
	__asm__ volatile("" : : "r"(b) : "memory");
}

void x25519_ifma_raw(uint8_t out[][32], const uint8_t scalar[][32], const uint8_t u[][32],
		     unsigned n)
{
	uint64_t ul[5][X25519_IFMA_LANES], kl[4][X25519_IFMA_LANES], ol[5][X25519_IFMA_LANES];

	if (!n || n > X25519_IFMA_LANES)
		return;
	for (unsigned lane = 0; lane < X25519_IFMA_LANES; lane++) {
		unsigned src = lane < n ? lane : 0;
		uint8_t s[32];

		memcpy(s, scalar[src], 32);
		s[0] &= 248;
		s[31] &= 127;
		s[31] |= 64;
		memcpy(&kl[0][lane], s, 8);
		memcpy(&kl[1][lane], s + 8, 8);
		memcpy(&kl[2][lane], s + 16, 8);
		memcpy(&kl[3][lane], s + 24, 8);
		OPENSSL_cleanse(s, sizeof(s));
		fe_load(ul, u[src], lane);
	}
	ladder(ol, ul, kl);
	burn_stack();
	for (unsigned lane = 0; lane < n; lane++)
		fe_store(out[lane], ol, lane);
	OPENSSL_cleanse(kl, sizeof(kl));
	OPENSSL_cleanse(ol, sizeof(ol));
}
