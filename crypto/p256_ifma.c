/*
 * p256_ifma.c - ECDSA P-256 signing (and verification, at the end) eight
 * lanes at once with AVX-512 IFMA; see p256_ifma.h for the model.
 *
 * Arithmetic (per lane; all lanes run the same instructions):
 *   - values mod p and mod n are five 52-bit limbs below 2m, in
 *     Montgomery form with R = 2^260 where a product needs it;
 *     multiplication is Montgomery's, the product's columns first, then
 *     the reduction (p256_ifma_kern.h mont, bounds there), with
 *     n0 = -m^-1 mod 2^52 (1 for p: p = -1 mod 2^52);
 *   - k*G: k recoded into 52 signed 5-bit digits d_w in [-16, 16]
 *     (Booth: k = sum d_w 32^w), one mixed Jacobian + affine addition of
 *     +-tab[w][|d_w|] = +-|d_w| 32^w G per window, no doublings. The
 *     partial sum before window w is S_w = (k mod 32^w) - b 32^w, b the
 *     bit 5w-1 of k, so |S_w| <= 32^w / 2 < |d_w| 32^w: S_w -+ d_w 32^w
 *     is a nonzero integer, below n in size for w < 51 (at most
 *     16.5 * 2^250); for w = 51, d_51 is 0, 1 or 2 (k < 2^256): the
 *     sum is k itself (0 < k < n), the difference S_51 - 2^255 has size
 *     below 1.5 * 2^255 < n, and for d_51 = 2 (bits 254 and 255 set, so
 *     b = 1 and -2^254 <= S_51 < 0) S_51 - 2^256 has size between 2^256
 *     and 2^256 + 2^254, strictly between n and 2n. So the accumulator is
 *     never +-the added point; it is the point at infinity exactly until
 *     the first nonzero digit (S_w = 0 only when every digit below is 0),
 *     a lane mask;
 *   - Z^-1 = Z^(p-2), k^-1 = k^(n-2): fixed 4-bit windows over the public
 *     exponents, the two chains interleaved (inv_pn);
 *   - r = x mod n by conditional subtractions of p then n (x < 2p);
 *     s = k^-1 (e + r d) mod n.
 * Only loop bounds, public digits and table positions steer control flow
 * or addresses; the table is read whole for every window.
 *
 * Verification (public data, not constant time): w = s^-1 (Fermat, beside
 * an idle chain mod p), u1 = e w, u2 = r w mod n (vscalars), recoded as k;
 * then u1 G + u2 Q by 104 mixed additions, G's digit and Q's each window,
 * Q's entries from the key's own table (p256_ifma_pub_new, the same layout
 * as G's), and x(u1 G + u2 Q) mod n = r checked as X == r Z^2 or
 * (r + n) Z^2 mod p (vpoint). The comb argument above does not hold for
 * u1 G + u2 Q (an attacker picks u1 and u2 through e, r, s): an addition
 * may meet +-its own point; it then makes Z = 0 mod p, which every later
 * addition keeps, and Z = 0 is never a match (vpoint's comment). The functions
 * carry __attribute__((target)), so the rest of the build keeps its flags;
 * they run only after p256_ifma_cpu() said yes.
 */
#include "crypto/p256_ifma.h"
#include "crypto/ifma_burn.h"
#include "crypto/rsa_ifma.h"

#include <immintrin.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define M52 ((long long)((1ull << 52) - 1))

/* The curve's constants and the base table, built once (p256_init). */
/* p and n in 52-bit limbs, and -n^-1 mod 2^52 (p256_init checks them against BoringSSL's) */
static const uint64_t P256_P[5] = {
	0xfffffffffffffull, 0xfffffffffffull, 0, 0x1000000000ull, 0xffffffff0000ull,
};
static const uint64_t P256_N[5] = {
	0x9cac2fc632551ull, 0xada7179e84f3bull, 0xfffffffbce6faull, 0xfffffffffull, 0xffffffff0000ull,
};
#define P256_N0 0x1c8aaee00bc4full
/* 2p and 2n: the bound of values between operations */
static const uint64_t P256_P2[5] = {
	0xffffffffffffeull, 0x1fffffffffffull, 0, 0x2000000000ull, 0x1fffffffe0000ull,
};
static const uint64_t P256_N2[5] = {
	0x39585f8c64aa2ull, 0x5b4e2f3d09e77ull, 0xfffffff79cdf5ull, 0x1fffffffffull, 0x1fffffffe0000ull,
};

#define P256_NW 52      /* signed 5-bit windows: 260 bits, k < 2^256 and its carry */

struct p256c {
	uint64_t rp[5];         /* R mod p: 1 in Montgomery form */
	uint64_t r2n[5];        /* R^2 mod n: into Montgomery form */
	uint8_t ep[64], en[64]; /* p-2 and n-2 as 4-bit digits, most significant first */
	uint64_t tab[P256_NW][16][2][5]; /* [w][d-1]: d * 32^w * G, affine x, y, Montgomery form */
};

struct p256_ifma_key {
	uint64_t d[5];          /* the private scalar, 52-bit limbs */
};

struct p256_ifma_pub {
	uint64_t tab[P256_NW][16][2][5]; /* [w][d-1]: d * 32^w * Q, as G's table */
	uint8_t point[65];               /* Q uncompressed: 0x04 | X | Y */
};

static struct p256c *pc;
static pthread_once_t pc_once = PTHREAD_ONCE_INIT;
static const uint8_t n_be[32] = {
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
};

static const uint8_t p_be[32] = {
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};

int p256_ifma_cpu(void)
{
	return rsa_ifma_cpu();
}

#define PK_FN2(name, w) name##_##w
#define PK_FN1(name, w) PK_FN2(name, w)
#define PK_FN(name) PK_FN1(name, PK_W)

/* 8 lanes: zmm */
#define PK_W 8
#define PK_VEC __m512i
#define PK_TGT "avx512f,avx512ifma"
#define PK_LO _mm512_madd52lo_epu64
#define PK_HI _mm512_madd52hi_epu64
#define PK_ADD _mm512_add_epi64
#define PK_SUB _mm512_sub_epi64
#define PK_AND _mm512_and_si512
#define PK_XOR _mm512_xor_si512
#define PK_OR _mm512_or_si512
#define PK_SRLI _mm512_srli_epi64
#define PK_SLLI _mm512_slli_epi64
#define PK_SRAI _mm512_srai_epi64
#define PK_SRL _mm512_srl_epi64
#define PK_SET1 _mm512_set1_epi64
#define PK_ZERO _mm512_setzero_si512
#define PK_CMPEQ _mm512_cmpeq_epi64_mask
#define PK_CMPNE _mm512_cmpneq_epi64_mask
#define PK_MASKMOV _mm512_mask_mov_epi64
#define PK_LOAD(p) _mm512_loadu_si512((const void *)(p))
#define PK_STORE(p, v) _mm512_storeu_si512((void *)(p), v)
#include "crypto/p256_ifma_kern.h"
#undef PK_W
#undef PK_VEC
#undef PK_TGT
#undef PK_LO
#undef PK_HI
#undef PK_ADD
#undef PK_SUB
#undef PK_AND
#undef PK_XOR
#undef PK_OR
#undef PK_SRLI
#undef PK_SLLI
#undef PK_SRAI
#undef PK_SRL
#undef PK_SET1
#undef PK_ZERO
#undef PK_CMPEQ
#undef PK_CMPNE
#undef PK_MASKMOV
#undef PK_LOAD
#undef PK_STORE

/* 4 lanes: ymm */
#define PK_W 4
#define PK_VEC __m256i
#define PK_TGT "avx512f,avx512vl,avx512ifma"
#define PK_LO _mm256_madd52lo_epu64
#define PK_HI _mm256_madd52hi_epu64
#define PK_ADD _mm256_add_epi64
#define PK_SUB _mm256_sub_epi64
#define PK_AND _mm256_and_si256
#define PK_XOR _mm256_xor_si256
#define PK_OR _mm256_or_si256
#define PK_SRLI _mm256_srli_epi64
#define PK_SLLI _mm256_slli_epi64
#define PK_SRAI _mm256_srai_epi64
#define PK_SRL _mm256_srl_epi64
#define PK_SET1 _mm256_set1_epi64x
#define PK_ZERO _mm256_setzero_si256
#define PK_CMPEQ _mm256_cmpeq_epi64_mask
#define PK_CMPNE _mm256_cmpneq_epi64_mask
#define PK_MASKMOV _mm256_mask_mov_epi64
#define PK_LOAD(p) _mm256_loadu_si256((const void *)(p))
#define PK_STORE(p, v) _mm256_storeu_si256((void *)(p), v)
#include "crypto/p256_ifma_kern.h"

/* ---- conversions (no secret-dependent branches or addresses) ---- */

/* 32 big-endian bytes into five 52-bit limbs and four 64-bit words */
static void be_load(uint64_t l[5], uint64_t w[4], const uint8_t b[32])
{
	uint64_t v[4];

	for (unsigned i = 0; i < 4; i++) {
		v[i] = 0;
		for (unsigned j = 0; j < 8; j++)
			v[i] = v[i] << 8 | b[31 - 8 * i - 7 + j];
	}
	l[0] = v[0] & M52;
	l[1] = (v[0] >> 52 | v[1] << 12) & M52;
	l[2] = (v[1] >> 40 | v[2] << 24) & M52;
	l[3] = (v[2] >> 28 | v[3] << 36) & M52;
	l[4] = v[3] >> 16;
	if (w)
		memcpy(w, v, sizeof(v));
	OPENSSL_cleanse(v, sizeof(v));
}

/* five limbs (value below 2^256) to 32 big-endian bytes */
static void be_store(uint8_t b[32], const uint64_t l[5])
{
	uint64_t v[4];

	v[0] = l[0] | l[1] << 52;
	v[1] = l[1] >> 12 | l[2] << 40;
	v[2] = l[2] >> 24 | l[3] << 28;
	v[3] = l[3] >> 36 | l[4] << 16;
	for (unsigned i = 0; i < 4; i++)
		for (unsigned j = 0; j < 8; j++)
			b[31 - 8 * i - j] = (uint8_t)(v[i] >> (8 * j));
}

static int bn_limbs(uint64_t l[5], const BIGNUM *bn)
{
	uint8_t b[32];

	if (!BN_bn2bin_padded(b, sizeof(b), bn))
		return 0;
	be_load(l, NULL, b);
	OPENSSL_cleanse(b, sizeof(b));
	return 1;
}

/* 1 if 1 <= k <= n-1, in constant time (big-endian compare with a borrow) */
static int scalar_ok(const uint8_t k[32])
{
	unsigned borrow = 0, any = 0;

	for (int i = 31; i >= 0; i--) {
		unsigned d = (unsigned)k[i] - n_be[i] - borrow;

		borrow = (d >> 8) & 1;
		any |= k[i];
	}
	/* k - n borrowed: k < n */
	return (int)(borrow & ((any + 0xff) >> 8));
}

/* ---- the constants and the table ---- */

static int exp_digits(uint8_t dig[64], const BIGNUM *m, BN_CTX *ctx)
{
	BIGNUM *e = BN_CTX_get(ctx);
	uint8_t b[32];

	if (!e || !BN_copy(e, m) || !BN_sub_word(e, 2) || !BN_bn2bin_padded(b, 32, e))
		return 0;
	for (unsigned i = 0; i < 32; i++) {
		dig[2 * i] = b[i] >> 4;
		dig[2 * i + 1] = b[i] & 15;
	}
	return 1;
}

/*
 * The comb table of point pt (not infinity, of prime order n): for each
 * window w the 16 affine multiples d 32^w pt, d = 1..16 (none is
 * infinity), Montgomery form (rp = R mod p); G's table and each public
 * key's (verification). Additions and doublings, one affine conversion an
 * entry.
 */
static int tab_build(uint64_t tab[P256_NW][16][2][5], const EC_GROUP *g, const EC_POINT *pt,
		     const BIGNUM *rp, const BIGNUM *p, BN_CTX *ctx)
{
	EC_POINT *base = EC_POINT_dup(pt, g), *acc = EC_POINT_new(g);
	BIGNUM *x, *y;
	int ok = 0;

	BN_CTX_start(ctx);
	x = BN_CTX_get(ctx);
	y = BN_CTX_get(ctx);
	if (!base || !acc || !y)
		goto out;
	for (unsigned w = 0; w < P256_NW; w++) {
		if (!EC_POINT_copy(acc, base))
			goto out;
		for (unsigned d = 1; d <= 16; d++)
			if ((d > 1 && !EC_POINT_add(g, acc, acc, base, ctx)) ||
			    !EC_POINT_get_affine_coordinates_GFp(g, acc, x, y, ctx) ||
			    !BN_mod_mul(x, x, rp, p, ctx) || !BN_mod_mul(y, y, rp, p, ctx) ||
			    !bn_limbs(tab[w][d - 1][0], x) || !bn_limbs(tab[w][d - 1][1], y))
				goto out;
		for (unsigned i = 0; i < 5; i++)        /* 32^(w+1) pt */
			if (!EC_POINT_dbl(g, base, base, ctx))
				goto out;
	}
	ok = 1;
out:
	BN_CTX_end(ctx);
	EC_POINT_free(base);
	EC_POINT_free(acc);
	return ok;
}

static void p256_init(void)
{
	struct p256c *c = malloc(sizeof(*c));
	EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	BN_CTX *ctx = BN_CTX_new();
	BIGNUM *p, *n, *rp, *rn, *t;
	uint64_t lp[5], ln[5];
	int ok = 0;

	if (!c || !g || !ctx)
		goto out;
	BN_CTX_start(ctx);
	p = BN_CTX_get(ctx);
	n = BN_CTX_get(ctx);
	rp = BN_CTX_get(ctx);
	rn = BN_CTX_get(ctx);
	t = BN_CTX_get(ctx);
	if (!t || !EC_GROUP_get_curve_GFp(g, p, NULL, NULL, ctx) || !BN_copy(n, EC_GROUP_get0_order(g)) ||
	    !BN_one(t) || !BN_lshift(t, t, 260) || !BN_nnmod(rp, t, p, ctx) || !BN_nnmod(rn, t, n, ctx) ||
	    !BN_mod_mul(t, rn, rn, n, ctx) || !bn_limbs(lp, p) || !bn_limbs(ln, n) ||
	    !bn_limbs(c->rp, rp) || !bn_limbs(c->r2n, t) || !exp_digits(c->ep, p, ctx) ||
	    !exp_digits(c->en, n, ctx))
		goto end;
	for (uint64_t i = 0, cp = 0, cn = 0; i < 5; i++) {
		/* 2p and 2n limb by limb, with the carry */
		cp += 2 * lp[i];
		cn += 2 * ln[i];
		if ((cp & (uint64_t)M52) != P256_P2[i] || (cn & (uint64_t)M52) != P256_N2[i])
			goto end;
		cp >>= 52;
		cn >>= 52;
	}
	if (memcmp(lp, P256_P, sizeof(lp)) != 0 || memcmp(ln, P256_N, sizeof(ln)) != 0 ||
	    ((P256_N0 * P256_N[0] + 1) & (uint64_t)M52) != 0)
		goto end;
	if (!tab_build(c->tab, g, EC_GROUP_get0_generator(g), rp, p, ctx))
		goto end;
	ok = 1;
end:
	BN_CTX_end(ctx);
out:
	BN_CTX_free(ctx);
	EC_GROUP_free(g);
	if (ok)
		pc = c;
	else
		free(c);
}

/* ---- keys ---- */

struct p256_ifma_key *p256_ifma_key_new(const EC_KEY *key)
{
	const EC_GROUP *g = key ? EC_KEY_get0_group(key) : NULL;
	const BIGNUM *d = key ? EC_KEY_get0_private_key(key) : NULL;
	struct p256_ifma_key *k;
	uint8_t b[32];

	if (!g || !d || EC_GROUP_get_curve_name(g) != NID_X9_62_prime256v1)
		return NULL;
	pthread_once(&pc_once, p256_init);
	if (!pc || !BN_bn2bin_padded(b, sizeof(b), d))
		return NULL;
	if (!scalar_ok(b) || !(k = calloc(1, sizeof(*k)))) {
		OPENSSL_cleanse(b, sizeof(b));
		return NULL;
	}
	be_load(k->d, NULL, b);
	OPENSSL_cleanse(b, sizeof(b));
	return k;
}

void p256_ifma_key_free(struct p256_ifma_key *k)
{
	if (!k)
		return;
	OPENSSL_cleanse(k, sizeof(*k));
	free(k);
}

/* ---- signing ---- */

/*
 * Wipe the stack below the caller's frame, where sign(), mpow() and the
 * products left nonces, their inverses and the accumulator (any of them,
 * with the signature, gives the private key back): STACK_BURN bytes of it,
 * and the vector registers (ifma_burn).
 */
#define STACK_BURN 32768

/*
 * The signed digits of k (four 64-bit words): window w reads bits 5w-1 to
 * 5w+4 and is recoded as BoringSSL's ec_GFp_nistp_recode_scalar_bits does,
 * without branches: |digit| in bits 0..4, the sign in bit 8.
 */
static void recode(uint64_t dg[P256_NW][P256_IFMA_LANES], const uint64_t w[4], unsigned lane)
{
	for (unsigned i = 0; i < P256_NW; i++) {
		int pos = 5 * (int)i - 1;
		uint64_t in, s, d;

		/* positions are public: these branches depend on i only */
		if (pos < 0) {
			in = w[0] << 1;
		} else {
			in = w[pos / 64] >> (pos % 64);
			if (pos % 64 > 58 && pos / 64 < 3)
				in |= w[pos / 64 + 1] << (64 - pos % 64);
		}
		in &= 63;
		s = ~((in >> 5) - 1);           /* all ones for a negative digit */
		d = (63 - in) & s;
		d |= in & ~s;
		d = (d >> 1) + (d & 1);
		dg[i][lane] = d | (s & 1) << 8;
	}
}

/*
 * The lanes' nonces (and their digits), digests and private keys, lane i >= n
 * repeating lane 0. Not inlined: the compiler's temporaries of these copies
 * then sit below sign_run's frame, where ifma_burn() wipes them.
 */
static __attribute__((noinline)) void sign_load(uint64_t dg[P256_NW][P256_IFMA_LANES],
						uint64_t kl[5][P256_IFMA_LANES], uint64_t el[5][P256_IFMA_LANES],
						uint64_t dl[5][P256_IFMA_LANES], const struct p256_ifma_job *jobs,
						const uint8_t k[][32], const int *kok, unsigned n)
{
	static const uint8_t one[32] = { [31] = 1 };

	for (unsigned lane = 0; lane < P256_IFMA_LANES; lane++) {
		unsigned src = lane < n ? lane : 0;
		/* a lane without a key or a valid nonce signs with d = k = 1 (ok = 0 below) */
		const struct p256_ifma_key *key = kok[src] ? jobs[src].key : NULL;
		uint64_t l[5], w[4];

		be_load(l, w, key ? k[src] : one);
		for (unsigned i = 0; i < 5; i++)
			kl[i][lane] = l[i];
		recode(dg, w, lane);
		be_load(l, NULL, jobs[src].digest);
		for (unsigned i = 0; i < 5; i++) {
			el[i][lane] = l[i];
			dl[i][lane] = key ? key->d[i] : i == 0;
		}
		OPENSSL_cleanse(l, sizeof(l));
		OPENSSL_cleanse(w, sizeof(w));
	}
}

/* One run over n jobs with nonces k (each already checked: kok[i]). */
static void sign_run(struct p256_ifma_job *jobs, const uint8_t k[][32], const int *kok, unsigned n)
{
	uint64_t dg[P256_NW][P256_IFMA_LANES], kl[5][P256_IFMA_LANES], el[5][P256_IFMA_LANES];
	uint64_t dl[5][P256_IFMA_LANES], rl[5][P256_IFMA_LANES], sl[5][P256_IFMA_LANES];

	sign_load(dg, kl, el, dl, jobs, k, kok, n);
	if (n <= 4)
		sign_4(rl, sl, (const uint64_t (*)[P256_IFMA_LANES])dg,
		       (const uint64_t (*)[P256_IFMA_LANES])kl, (const uint64_t (*)[P256_IFMA_LANES])el,
		       (const uint64_t (*)[P256_IFMA_LANES])dl, pc);
	else
		sign_8(rl, sl, (const uint64_t (*)[P256_IFMA_LANES])dg,
		       (const uint64_t (*)[P256_IFMA_LANES])kl, (const uint64_t (*)[P256_IFMA_LANES])el,
		       (const uint64_t (*)[P256_IFMA_LANES])dl, pc);
	for (unsigned lane = 0; lane < n; lane++) {
		uint64_t l[5], rz = 0, sz = 0;

		for (unsigned i = 0; i < 5; i++) {
			l[i] = rl[i][lane];
			rz |= l[i];
			sz |= sl[i][lane];
		}
		be_store(jobs[lane].r, l);
		for (unsigned i = 0; i < 5; i++)
			l[i] = sl[i][lane];
		be_store(jobs[lane].s, l);
		/* r, s and whether either is 0 are public (the signature) */
		jobs[lane].ok = kok[lane] && jobs[lane].key && rz && sz;
		/*
		 * A failed lane shows nothing: with r = 0 (as unlikely as it is)
		 * s would be k^-1 e, giving the nonce away.
		 */
		if (!jobs[lane].ok) {
			memset(jobs[lane].r, 0, 32);
			memset(jobs[lane].s, 0, 32);
		}
	}
	OPENSSL_cleanse(dg, sizeof(dg));
	OPENSSL_cleanse(kl, sizeof(kl));
	OPENSSL_cleanse(dl, sizeof(dl));
	ifma_burn(STACK_BURN);
}

static int ready(struct p256_ifma_job *jobs, unsigned n)
{
	if (!n || n > P256_IFMA_LANES)
		return 0;
	pthread_once(&pc_once, p256_init);
	if (!pc) {
		for (unsigned i = 0; i < n; i++)
			jobs[i].ok = 0;
		return 0;
	}
	return 1;
}

void p256_ifma_sign_k(struct p256_ifma_job *jobs, const uint8_t k[][32], unsigned n)
{
	int kok[P256_IFMA_LANES];

	if (!ready(jobs, n))
		return;
	for (unsigned i = 0; i < n; i++)
		kok[i] = scalar_ok(k[i]);
	sign_run(jobs, k, kok, n);
}

void p256_ifma_sign(struct p256_ifma_job *jobs, unsigned n)
{
	uint8_t k[P256_IFMA_LANES][32];
	int kok[P256_IFMA_LANES];

	if (!ready(jobs, n))
		return;
	for (unsigned i = 0; i < n; i++) {
		/*
		 * Hedged nonces, as BoringSSL's own ECDSA hedges them: k is the
		 * SHA-256 of the private scalar, the digest, 32 random bytes and a
		 * counter, uniform in [1, n-1] by rejection (a draw is refused
		 * with probability about 2^-32, and only that it was is seen). An
		 * RNG that repeats itself (a cloned VM) still gives distinct
		 * nonces for distinct keys and messages.
		 */
		uint8_t rnd[32];
		unsigned tries = 0;

		kok[i] = 0;
		if (jobs[i].key != NULL && RAND_bytes(rnd, sizeof(rnd))) {
			do {
				SHA256_CTX h;
				uint8_t ctr = (uint8_t)tries;

				SHA256_Init(&h);
				SHA256_Update(&h, jobs[i].key->d, sizeof(jobs[i].key->d));
				SHA256_Update(&h, jobs[i].digest, sizeof(jobs[i].digest));
				SHA256_Update(&h, rnd, sizeof(rnd));
				SHA256_Update(&h, &ctr, 1);
				SHA256_Final(k[i], &h);
				OPENSSL_cleanse(&h, sizeof(h));
				kok[i] = scalar_ok(k[i]);
			} while (!kok[i] && ++tries < 64);
		}
		OPENSSL_cleanse(rnd, sizeof(rnd));
	}
	sign_run(jobs, (const uint8_t (*)[32])k, kok, n);
	OPENSSL_cleanse(k, sizeof(k));
}

size_t p256_ifma_der(const struct p256_ifma_job *j, uint8_t *out, size_t max_out)
{
	ECDSA_SIG *sig;
	uint8_t *der = NULL;
	size_t len = 0;

	if (!j->ok || !(sig = ECDSA_SIG_new()))
		return 0;
	if (BN_bin2bn(j->r, 32, sig->r) && BN_bin2bn(j->s, 32, sig->s) &&
	    ECDSA_SIG_to_bytes(&der, &len, sig) && len <= max_out)
		memcpy(out, der, len);
	else
		len = 0;
	OPENSSL_free(der);
	ECDSA_SIG_free(sig);
	return len;
}

/* ---- verification ---- */

struct p256_ifma_pub *p256_ifma_pub_new(const EC_KEY *key)
{
	const EC_GROUP *g = key ? EC_KEY_get0_group(key) : NULL;
	const EC_POINT *q = key ? EC_KEY_get0_public_key(key) : NULL;
	struct p256_ifma_pub *pub = NULL;
	BN_CTX *ctx = NULL;
	BIGNUM *p, *rp;
	int ok = 0;

	if (!g || !q || EC_GROUP_get_curve_name(g) != NID_X9_62_prime256v1 || EC_POINT_is_at_infinity(g, q))
		return NULL;
	pthread_once(&pc_once, p256_init);
	if (!pc || !(pub = malloc(sizeof(*pub))) || !(ctx = BN_CTX_new()))
		goto out;
	BN_CTX_start(ctx);
	p = BN_CTX_get(ctx);
	rp = BN_CTX_get(ctx);
	ok = rp && EC_GROUP_get_curve_GFp(g, p, NULL, NULL, ctx) && BN_set_word(rp, 1) &&
	     BN_lshift(rp, rp, 260) && BN_nnmod(rp, rp, p, ctx) &&
	     EC_POINT_point2oct(g, q, POINT_CONVERSION_UNCOMPRESSED, pub->point, sizeof(pub->point), ctx) ==
		     sizeof(pub->point) &&
	     tab_build(pub->tab, g, q, rp, p, ctx);
	BN_CTX_end(ctx);
out:
	BN_CTX_free(ctx);
	if (!ok) {
		free(pub);
		pub = NULL;
	}
	return pub;
}

void p256_ifma_pub_free(struct p256_ifma_pub *q)
{
	free(q);
}

const uint8_t *p256_ifma_pub_point(const struct p256_ifma_pub *q)
{
	return q->point;
}

/* rn = r + n if that is below p (then x = r + n also has x mod n = r), else r */
static void r_plus_n(uint8_t rn[32], const uint8_t r[32])
{
	unsigned carry = 0;

	for (int i = 31; i >= 0; i--) {
		unsigned v = (unsigned)r[i] + n_be[i] + carry;

		rn[i] = (uint8_t)v;
		carry = v >> 8;
	}
	if (carry || memcmp(rn, p_be, 32) >= 0)
		memcpy(rn, r, 32);
}

/*
 * Public data only (key, digest, signature): nothing here is secret, so
 * plain branches on r and s are fine. A lane that cannot be valid (no key,
 * r or s outside [1, n-1]) runs with r = s = 1 and G's table and gets
 * ok = 0 whatever its sum.
 */
void p256_ifma_verify(struct p256_ifma_vjob *jobs, unsigned n)
{
	uint64_t sl[5][P256_IFMA_LANES], el[5][P256_IFMA_LANES], rl[5][P256_IFMA_LANES];
	uint64_t rnl[5][P256_IFMA_LANES], u1[5][P256_IFMA_LANES], u2[5][P256_IFMA_LANES];
	uint64_t dg[2][P256_NW][P256_IFMA_LANES];
	const uint64_t (*qt[P256_IFMA_LANES])[16][2][5];
	static const uint8_t one[32] = { [31] = 1 };
	unsigned width = n <= 4 ? 4 : 8, ok;
	int valid[P256_IFMA_LANES];

	if (!n || n > P256_IFMA_LANES)
		return;
	pthread_once(&pc_once, p256_init);
	if (!pc) {
		for (unsigned i = 0; i < n; i++)
			jobs[i].ok = 0;
		return;
	}
	for (unsigned lane = 0; lane < P256_IFMA_LANES; lane++) {
		const struct p256_ifma_vjob *j = &jobs[lane < n ? lane : 0];
		int v = j->pub && scalar_ok(j->r) && scalar_ok(j->s);
		const uint8_t *r = v ? j->r : one, *s = v ? j->s : one;
		uint8_t rn[32];
		uint64_t l[5];

		valid[lane] = v && lane < n;
		qt[lane] = v ? (const uint64_t (*)[16][2][5])j->pub->tab
			     : (const uint64_t (*)[16][2][5])pc->tab;
		r_plus_n(rn, r);
		be_load(l, NULL, s);
		for (unsigned i = 0; i < 5; i++)
			sl[i][lane] = l[i];
		be_load(l, NULL, j->digest);
		for (unsigned i = 0; i < 5; i++)
			el[i][lane] = l[i];
		be_load(l, NULL, r);
		for (unsigned i = 0; i < 5; i++)
			rl[i][lane] = l[i];
		be_load(l, NULL, rn);
		for (unsigned i = 0; i < 5; i++)
			rnl[i][lane] = l[i];
	}
	if (width == 4)
		vscalars_4(u1, u2, (const uint64_t (*)[P256_IFMA_LANES])sl,
			   (const uint64_t (*)[P256_IFMA_LANES])el, (const uint64_t (*)[P256_IFMA_LANES])rl, pc);
	else
		vscalars_8(u1, u2, (const uint64_t (*)[P256_IFMA_LANES])sl,
			   (const uint64_t (*)[P256_IFMA_LANES])el, (const uint64_t (*)[P256_IFMA_LANES])rl, pc);
	/* u1 and u2 (below n) into signed digits, as signing recodes k */
	for (unsigned lane = 0; lane < width; lane++) {
		uint64_t l[5], w[4];
		uint8_t b[32];

		for (unsigned i = 0; i < 5; i++)
			l[i] = u1[i][lane];
		be_store(b, l);
		be_load(l, w, b);
		recode(dg[0], w, lane);
		for (unsigned i = 0; i < 5; i++)
			l[i] = u2[i][lane];
		be_store(b, l);
		be_load(l, w, b);
		recode(dg[1], w, lane);
	}
	if (width == 4)
		ok = vpoint_4((const uint64_t (*)[P256_NW][P256_IFMA_LANES])dg, qt,
			      (const uint64_t (*)[P256_IFMA_LANES])rl, (const uint64_t (*)[P256_IFMA_LANES])rnl, pc);
	else
		ok = vpoint_8((const uint64_t (*)[P256_NW][P256_IFMA_LANES])dg, qt,
			      (const uint64_t (*)[P256_IFMA_LANES])rl, (const uint64_t (*)[P256_IFMA_LANES])rnl, pc);
	for (unsigned lane = 0; lane < n; lane++)
		jobs[lane].ok = valid[lane] && (ok >> lane & 1);
}
