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
#include "crypto/ifma_burn.h"
#include "crypto/rsa_ifma.h"

#include <immintrin.h>
#include <pthread.h>
#include <string.h>

#include <openssl/mem.h>

#define M51 ((long long)((1ull << 51) - 1))

int x25519_ifma_cpu(void)
{
	return rsa_ifma_cpu();
}

#define XK_FN2(name, w) name##_##w
#define XK_FN1(name, w) XK_FN2(name, w)
#define XK_FN(name) XK_FN1(name, XK_W)

/*
 * A table entry of the fixed-base path: an affine multiple of the Edwards
 * base point as y+x, y-x and 2dxy, each canonical (limbs below 2^51), the
 * same for every lane (broadcast).
 */
struct x25519_pre {
	uint64_t ypx[5], ymx[5], xy2d[5];
};

/* 8 lanes: zmm */
#define XK_W 8
#define XK_VEC __m512i
#define XK_TGT "avx512f,avx512ifma"
#define XK_LO _mm512_madd52lo_epu64
#define XK_HI _mm512_madd52hi_epu64
#define XK_ADD _mm512_add_epi64
#define XK_SUB _mm512_sub_epi64
#define XK_AND _mm512_and_si512
#define XK_XOR _mm512_xor_si512
#define XK_SRLI _mm512_srli_epi64
#define XK_SLLI _mm512_slli_epi64
#define XK_SRL _mm512_srl_epi64
#define XK_SET1 _mm512_set1_epi64
#define XK_ZERO _mm512_setzero_si512
#define XK_LOAD(p) _mm512_loadu_si512((const void *)(p))
#define XK_STORE(p, v) _mm512_storeu_si512((void *)(p), v)
#define XK_MASK __mmask8
#define XK_CMPEQ _mm512_cmpeq_epi64_mask
#define XK_CMPLT _mm512_cmplt_epi64_mask
#define XK_ABS _mm512_abs_epi64
#define XK_BLEND _mm512_mask_blend_epi64
#include "crypto/x25519_ifma_kern.h"
#undef XK_W
#undef XK_VEC
#undef XK_TGT
#undef XK_LO
#undef XK_HI
#undef XK_ADD
#undef XK_SUB
#undef XK_AND
#undef XK_XOR
#undef XK_SRLI
#undef XK_SLLI
#undef XK_SRL
#undef XK_SET1
#undef XK_ZERO
#undef XK_LOAD
#undef XK_STORE
#undef XK_MASK
#undef XK_CMPEQ
#undef XK_CMPLT
#undef XK_ABS
#undef XK_BLEND

/* 4 lanes: ymm */
#define XK_W 4
#define XK_VEC __m256i
#define XK_TGT "avx512f,avx512vl,avx512ifma"
#define XK_LO _mm256_madd52lo_epu64
#define XK_HI _mm256_madd52hi_epu64
#define XK_ADD _mm256_add_epi64
#define XK_SUB _mm256_sub_epi64
#define XK_AND _mm256_and_si256
#define XK_XOR _mm256_xor_si256
#define XK_SRLI _mm256_srli_epi64
#define XK_SLLI _mm256_slli_epi64
#define XK_SRL _mm256_srl_epi64
#define XK_SET1 _mm256_set1_epi64x
#define XK_ZERO _mm256_setzero_si256
#define XK_LOAD(p) _mm256_loadu_si256((const void *)(p))
#define XK_STORE(p, v) _mm256_storeu_si256((void *)(p), v)
#define XK_MASK __mmask8
#define XK_CMPEQ _mm256_cmpeq_epi64_mask
#define XK_CMPLT _mm256_cmplt_epi64_mask
#define XK_ABS _mm256_abs_epi64
#define XK_BLEND _mm256_mask_blend_epi64
#include "crypto/x25519_ifma_kern.h"

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

/*
 * Wipe the stack below the caller's frame, where ladder(), fe_invert() and
 * the products left their elements (any of them, with the output, gives
 * the lanes' secrets back): STACK_BURN bytes of it,
 * and the vector registers (ifma_burn).
 */
#define STACK_BURN 32768        /* the kernels take 8 KiB, 22 under ASan */

/*
 * The lanes' clamped scalars and points, lane i >= n repeating lane 0. Not
 * inlined, as the other loads of secrets before a kernel: the compiler's
 * temporaries of this copy (ASan builds keep one of the scalar) then sit
 * below the entry point's frame, where ifma_burn() wipes them.
 */
static __attribute__((noinline)) void raw_load(uint64_t ul[5][X25519_IFMA_LANES], uint64_t kl[4][X25519_IFMA_LANES],
					       const uint8_t scalar[][32], const uint8_t u[][32], unsigned n)
{
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
}

void x25519_ifma_raw(uint8_t out[][32], const uint8_t scalar[][32], const uint8_t u[][32],
		     unsigned n)
{
	uint64_t ul[5][X25519_IFMA_LANES], kl[4][X25519_IFMA_LANES], ol[5][X25519_IFMA_LANES];

	if (!n || n > X25519_IFMA_LANES)
		return;
	raw_load(ul, kl, scalar, u, n);
	if (n <= 4)
		ladder_4(ol, ul, kl);
	else
		ladder_8(ol, ul, kl);
	for (unsigned lane = 0; lane < n; lane++)
		fe_store(out[lane], ol, lane);
	OPENSSL_cleanse(kl, sizeof(kl));
	OPENSSL_cleanse(ol, sizeof(ol));
	ifma_burn(STACK_BURN);        /* last: fe_store's frames too */
}

/*
 * ---- the fixed-base path ----
 *
 * The table: base_tab[i][j] = (j + 1) 256^i B, B the Ed25519 base point
 * (RFC 8032 section 5.1: y = 4/5, x the even root), made once at first use
 * in scalar C below (radix 2^51 with 128-bit products; it runs once, so
 * plain code, not lanes): 32 rows of 8 multiples by complete additions in
 * extended coordinates, one batch inversion for all 256 Z's (about 0.5 ms in
 * all, `make bench-x25519` prints it). Nothing in it is secret.
 */
static struct x25519_pre base_tab[32][8];
static pthread_once_t base_once = PTHREAD_ONCE_INIT;

typedef struct {
	uint64_t v[5];
} fs;

typedef struct {
	fs X, Y, Z, T;
} gs;

static void fs_carry(fs *r, unsigned __int128 c[5])
{
	for (unsigned i = 0; i < 4; i++) {
		c[i + 1] += c[i] >> 51;
		c[i] &= M51;
	}
	c[0] += 19 * (c[4] >> 51);
	c[4] &= M51;
	c[1] += c[0] >> 51;
	c[0] &= M51;
	for (unsigned i = 0; i < 5; i++)
		r->v[i] = (uint64_t)c[i];
}

/* r = a * b; limbs below 2^54 in, below 2^52 out; r may alias. */
static void fs_mul(fs *r, const fs *a, const fs *b)
{
	unsigned __int128 c[5] = { 0 };

	for (unsigned i = 0; i < 5; i++)
		for (unsigned j = 0; j < 5; j++) {
			unsigned __int128 p = (unsigned __int128)a->v[i] * b->v[j];

			if (i + j < 5)
				c[i + j] += p;
			else
				c[i + j - 5] += 19 * p;
		}
	fs_carry(r, c);
}

static void fs_add(fs *r, const fs *a, const fs *b)
{
	unsigned __int128 c[5];

	for (unsigned i = 0; i < 5; i++)
		c[i] = (unsigned __int128)a->v[i] + b->v[i];
	fs_carry(r, c);
}

/* r = a - b + 4p (limbs of b below 2^53) */
static void fs_sub(fs *r, const fs *a, const fs *b)
{
	unsigned __int128 c[5];

	for (unsigned i = 0; i < 5; i++)
		c[i] = (unsigned __int128)a->v[i] + (i ? (1ull << 53) - 4 : (1ull << 53) - 76) - b->v[i];
	fs_carry(r, c);
}

/* r = a^(p-2) = 1/a: bits of p - 2 = 2^255 - 21 from the top (public) */
static void fs_invert(fs *r, const fs *a)
{
	fs t = *a;

	for (int bit = 253; bit >= 0; bit--) {
		fs_mul(&t, &t, &t);
		if (bit != 2 && bit != 4)       /* (2^255 - 1) - 20, 20 = 10100b */
			fs_mul(&t, &t, a);
	}
	*r = t;
}

/* The canonical limbs of a (as fe_freeze: a below 2p after a carry). */
static void fs_freeze(fs *a)
{
	unsigned __int128 c[5];
	uint64_t q;

	for (unsigned i = 0; i < 5; i++)
		c[i] = a->v[i];
	fs_carry(a, c);
	q = (a->v[0] + 19) >> 51;
	for (unsigned i = 1; i < 5; i++)
		q = (a->v[i] + q) >> 51;
	a->v[0] += 19 * q;
	for (unsigned i = 0; i < 4; i++) {
		a->v[i + 1] += a->v[i] >> 51;
		a->v[i] &= M51;
	}
	a->v[4] &= M51;
}

static void fs_small(fs *r, uint64_t k)
{
	memset(r, 0, sizeof(*r));
	r->v[0] = k;
}

/*
 * r = p + q, "add-2008-hwcd-3" (k = 2d): complete on this curve, so it
 * doubles too (p = q). r may alias p or q.
 */
static void gs_add(gs *r, const gs *p, const gs *q, const fs *d2)
{
	fs a, b, c, d, e, f, g, h, t;

	fs_sub(&a, &p->Y, &p->X);
	fs_sub(&t, &q->Y, &q->X);
	fs_mul(&a, &a, &t);
	fs_add(&b, &p->Y, &p->X);
	fs_add(&t, &q->Y, &q->X);
	fs_mul(&b, &b, &t);
	fs_mul(&c, &p->T, &q->T);
	fs_mul(&c, &c, d2);
	fs_mul(&d, &p->Z, &q->Z);
	fs_add(&d, &d, &d);
	fs_sub(&e, &b, &a);
	fs_sub(&f, &d, &c);
	fs_add(&g, &d, &c);
	fs_add(&h, &b, &a);
	fs_mul(&r->X, &e, &f);
	fs_mul(&r->Y, &g, &h);
	fs_mul(&r->T, &e, &h);
	fs_mul(&r->Z, &f, &g);
}

static void fs_frombytes(fs *r, const uint8_t b[32])
{
	uint64_t w[4];

	memcpy(w, b, 32);
	r->v[0] = w[0] & M51;
	r->v[1] = (w[0] >> 51 | w[1] << 13) & M51;
	r->v[2] = (w[1] >> 38 | w[2] << 26) & M51;
	r->v[3] = (w[2] >> 25 | w[3] << 39) & M51;
	r->v[4] = (w[3] >> 12) & M51;
}

static void base_init(void)
{
	/* B's x, little endian (RFC 8032 section 5.1; y = 4/5 is computed) */
	static const uint8_t bx[32] = {
		0x1a, 0xd5, 0x25, 0x8f, 0x60, 0x2d, 0x56, 0xc9,
		0xb2, 0xa7, 0x25, 0x95, 0x60, 0xc7, 0x2c, 0x69,
		0x5c, 0xdc, 0xd6, 0xfd, 0x31, 0xe2, 0xa4, 0xc0,
		0xfe, 0x53, 0x6e, 0xcd, 0xd3, 0x36, 0x69, 0x21,
	};
	static fs pre[32 * 8];
	fs d2, t, inv;
	gs p, q;

	/* 2d = 2 * -121665 / 121666 */
	fs_small(&t, 121666);
	fs_invert(&inv, &t);
	fs_small(&t, 0);
	fs_small(&d2, 2 * 121665);
	fs_sub(&d2, &t, &d2);
	fs_mul(&d2, &d2, &inv);
	/* B = (x, 4/5, 1, x * 4/5) */
	fs_frombytes(&p.X, bx);
	fs_small(&t, 5);
	fs_invert(&t, &t);
	fs_small(&p.Y, 4);
	fs_mul(&p.Y, &p.Y, &t);
	fs_small(&p.Z, 1);
	fs_mul(&p.T, &p.X, &p.Y);
	/*
	 * Entry n = 8i + j is (j + 1) 256^i B: its X, Y, Z wait in the entry's
	 * own three slots (fs is five limbs too) until the batch inversion's
	 * way back; pre[n] = Z_0 ... Z_n on the way up.
	 */
	for (unsigned n = 0; n < 256; n++) {
		struct x25519_pre *e = &base_tab[n / 8][n % 8];

		if (n % 8 == 0)
			q = p;
		else
			gs_add(&q, &q, &p, &d2);
		memcpy(e->ypx, q.X.v, sizeof(e->ypx));
		memcpy(e->ymx, q.Y.v, sizeof(e->ymx));
		memcpy(e->xy2d, q.Z.v, sizeof(e->xy2d));
		if (n)
			fs_mul(&pre[n], &pre[n - 1], &q.Z);
		else
			pre[0] = q.Z;
		if (n % 8 == 7)
			for (unsigned k = 0; k < 8; k++)        /* p = 256 p */
				gs_add(&p, &p, &p, &d2);
	}
	fs_invert(&inv, &pre[255]);                             /* 1/(Z_0 ... Z_255) */
	for (unsigned n = 256; n-- > 0;) {
		struct x25519_pre *e = &base_tab[n / 8][n % 8];
		fs zi, x, y, z, v;

		memcpy(x.v, e->ypx, sizeof(x.v));
		memcpy(y.v, e->ymx, sizeof(y.v));
		memcpy(z.v, e->xy2d, sizeof(z.v));
		if (n)
			fs_mul(&zi, &inv, &pre[n - 1]);         /* 1/Z_n */
		else
			zi = inv;
		fs_mul(&inv, &inv, &z);                         /* 1/(Z_0 ... Z_n-1) */
		fs_mul(&x, &x, &zi);
		fs_mul(&y, &y, &zi);
		fs_add(&v, &y, &x);
		fs_freeze(&v);
		memcpy(e->ypx, v.v, sizeof(e->ypx));
		fs_sub(&v, &y, &x);
		fs_freeze(&v);
		memcpy(e->ymx, v.v, sizeof(e->ymx));
		fs_mul(&v, &x, &y);
		fs_mul(&v, &v, &d2);
		fs_freeze(&v);
		memcpy(e->xy2d, v.v, sizeof(e->xy2d));
	}
}

/*
 * The clamped scalar as 64 signed radix-16 digits, branch-free (ref10's
 * recoding): each nibble plus the carry in, minus 16 when it reaches 8, so
 * digits 0..62 are in [-8, 7]; the top one (the nibble of bits 252..255,
 * 4..7 after clamping, plus a carry) in [4, 8].
 */
static void recode(int64_t e[64][X25519_IFMA_LANES], const uint8_t s[32], unsigned lane)
{
	int8_t d[64], carry = 0;

	for (unsigned i = 0; i < 32; i++) {
		d[2 * i] = s[i] & 15;
		d[2 * i + 1] = s[i] >> 4;
	}
	for (unsigned i = 0; i < 63; i++) {
		d[i] += carry;
		carry = (d[i] + 8) >> 4;
		d[i] -= carry << 4;
	}
	d[63] += carry;
	for (unsigned i = 0; i < 64; i++)
		e[i][lane] = d[i];
	OPENSSL_cleanse(d, sizeof(d));
}

/* The lanes' clamped scalars in signed digits, lane i >= n repeating lane 0 (see raw_load). */
static __attribute__((noinline)) void base_load(int64_t e[64][X25519_IFMA_LANES], const uint8_t scalar[][32],
						unsigned n)
{
	for (unsigned lane = 0; lane < X25519_IFMA_LANES; lane++) {
		uint8_t s[32];

		memcpy(s, scalar[lane < n ? lane : 0], 32);
		s[0] &= 248;
		s[31] &= 127;
		s[31] |= 64;
		recode(e, s, lane);
		OPENSSL_cleanse(s, sizeof(s));
	}
}

void x25519_ifma_base(uint8_t out[][32], const uint8_t scalar[][32], unsigned n)
{
	int64_t e[64][X25519_IFMA_LANES];
	uint64_t ol[5][X25519_IFMA_LANES];

	if (!n || n > X25519_IFMA_LANES)
		return;
	pthread_once(&base_once, base_init);
	base_load(e, scalar, n);
	if (n <= 4)
		base_4(ol, (const int64_t (*)[X25519_IFMA_LANES])e, (const struct x25519_pre (*)[8])base_tab);
	else
		base_8(ol, (const int64_t (*)[X25519_IFMA_LANES])e, (const struct x25519_pre (*)[8])base_tab);
	for (unsigned lane = 0; lane < n; lane++)
		fe_store(out[lane], ol, lane);
	OPENSSL_cleanse(e, sizeof(e));
	OPENSSL_cleanse(ol, sizeof(ol));
	ifma_burn(STACK_BURN);        /* last: fe_store's frames too */
}
