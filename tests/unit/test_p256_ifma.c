/*
 * test_p256_ifma.c - unit tests for crypto/p256_ifma.c, ECDSA P-256
 * signing eight lanes at once with AVX-512 IFMA.
 *
 * With caller-given nonces (p256_ifma_sign_k) every lane's r and s are
 * compared byte for byte with a reference made by BoringSSL's BIGNUM and
 * EC_POINT arithmetic (r = x(kG) mod n, s = k^-1 (e + r d) mod n), and
 * every signature is checked with ECDSA_do_verify: random keys (a
 * different key in every lane), random digests, every fill 1..8 (1..4 the
 * ymm kernel, 5..8 zmm); nonces at the edges (1, 2, n-1, n-2, 2^255, only
 * zero or only 0xf nibbles below the top one, alternating nibbles, signed
 * 5-bit digits of size 15 and 16 in every window, both signs);
 * digests at and above n; private keys 1 and n-1. Nonces outside [1, n-1]
 * and jobs without a key give ok = 0 and leave the other lanes right.
 * With RAND_bytes nonces (p256_ifma_sign) the signatures verify and
 * differ run to run, also from threads signing at once with the same
 * keys; a refused lane's r and s are zeros. p256_ifma_der() parses back with
 * ECDSA_SIG_from_bytes and verifies; key_new refuses P-384 and a key
 * without a private scalar.
 *
 * Verification (p256_ifma_verify), written as an attacker: ok = 1 must
 * mean ECDSA_do_verify accepts. BoringSSL's signatures (half high-s) verify
 * at every fill with mixed keys; a flipped bit of r, s, the digest or the
 * private key gives 0; r and s at 0, n, n+1, 2^256-1, p give 0, valid s = 1
 * and n-1 give 1 and s = n+1 0; x(u1 G + u2 Q) in [n, p) (only the r + n
 * match) gives 1 and r + n itself 0, and r = x + p - n with a small x (r +
 * n is x mod p) 0; crafted signatures whose additions meet +-their own
 * point (keys 1, 2, 3, 7), valid or not, give 0, and a scalar model of the
 * additions tells which; 4000 random jobs against ECDSA_do_verify, no
 * false accept, no false reject; threads verifying at once with shared
 * tables. Without IFMA on the CPU the tests are
 * skipped and said so.
 */
#include "crypto/p256_ifma.h"
#include "tests/unit/t.h"
#include "tests/unit/stack_scan.h"

#include <pthread.h>
#include <stdlib.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/ecdsa.h>
#include <openssl/nid.h>
#include <openssl/rand.h>

static const EC_GROUP *grp;
static BN_CTX *ctx;

static const uint8_t n_be[32] = {
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
};

/* n + delta (delta small, may be negative) as 32 big-endian bytes (mod 2^256) */
static void n_plus(uint8_t out[32], int delta)
{
	int carry = delta;

	memcpy(out, n_be, 32);
	for (int i = 31; i >= 0 && carry; i--) {
		int v = out[i] + carry;

		out[i] = (uint8_t)v;
		carry = v >> 8;         /* arithmetic: -1 on a borrow */
	}
}

/* A P-256 key with private scalar d (32 big-endian bytes), or a random one (d NULL). */
static EC_KEY *key_make(const uint8_t *d)
{
	EC_KEY *k = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
	BIGNUM *bd;
	EC_POINT *pub;

	if (!d) {
		EC_KEY_generate_key(k);
		return k;
	}
	bd = BN_bin2bn(d, 32, NULL);
	pub = EC_POINT_new(EC_KEY_get0_group(k));
	EC_POINT_mul(EC_KEY_get0_group(k), pub, bd, NULL, NULL, ctx);
	EC_KEY_set_private_key(k, bd);
	EC_KEY_set_public_key(k, pub);
	BN_free(bd);
	EC_POINT_free(pub);
	return k;
}

/* The reference: r = x(kG) mod n, s = k^-1 (e + r d) mod n; 0 when r or s is 0. */
static int ref_sign(const EC_KEY *key, const uint8_t dg[32], const uint8_t k[32], uint8_t r[32],
		    uint8_t s[32])
{
	const BIGNUM *n = EC_GROUP_get0_order(grp);
	BIGNUM *bk = BN_bin2bn(k, 32, NULL), *e = BN_bin2bn(dg, 32, NULL), *x = BN_new();
	BIGNUM *br = BN_new(), *bs = BN_new(), *ki = BN_new();
	EC_POINT *pt = EC_POINT_new(grp);
	int ok;

	EC_POINT_mul(grp, pt, bk, NULL, NULL, ctx);
	EC_POINT_get_affine_coordinates_GFp(grp, pt, x, NULL, ctx);
	BN_nnmod(br, x, n, ctx);
	BN_mod_inverse(ki, bk, n, ctx);
	BN_mod_mul(bs, br, EC_KEY_get0_private_key(key), n, ctx);
	BN_nnmod(e, e, n, ctx);
	BN_mod_add(bs, bs, e, n, ctx);
	BN_mod_mul(bs, bs, ki, n, ctx);
	ok = !BN_is_zero(br) && !BN_is_zero(bs);
	BN_bn2bin_padded(r, 32, br);
	BN_bn2bin_padded(s, 32, bs);
	BN_free(bk);
	BN_free(e);
	BN_free(x);
	BN_free(br);
	BN_free(bs);
	BN_free(ki);
	EC_POINT_free(pt);
	return ok;
}

static int verify(const EC_KEY *key, const struct p256_ifma_job *j)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	int ok;

	BN_bin2bn(j->r, 32, sig->r);
	BN_bin2bn(j->s, 32, sig->s);
	ok = ECDSA_do_verify(j->digest, 32, sig, key);
	ECDSA_SIG_free(sig);
	return ok;
}

/* 1 if job j (nonce k, key) equals the reference and verifies */
static int job_right(const EC_KEY *key, const struct p256_ifma_job *j, const uint8_t k[32])
{
	uint8_t r[32], s[32];

	if (!ref_sign(key, j->digest, k, r, s) || !j->ok)
		return 0;
	return memcmp(r, j->r, 32) == 0 && memcmp(s, j->s, 32) == 0 && verify(key, j);
}

static void hex(uint8_t *out, const char *s)
{
	for (unsigned i = 0; i < 32; i++) {
		unsigned v;

		sscanf(s + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

/* a random nonce in [1, n-1] */
static void rand_k(uint8_t k[32])
{
	do
		RAND_bytes(k, 32);
	while (memcmp(k, n_be, 32) >= 0);
}

static EC_KEY *eck[8];
static struct p256_ifma_key *ik[8];

/* Each lane's private key, nonce and its inverse mod n, for stack_below(). */
struct sign_needles {
	const uint8_t (*k)[32];
	uint64_t *nd;
	unsigned m;
};

static void sign_needles(void *arg)
{
	struct sign_needles *sn = arg;
	BIGNUM *bk = BN_new(), *ki = BN_new();
	uint8_t le[40];

	for (unsigned i = 0; i < 8; i++) {
		const BIGNUM *d = EC_KEY_get0_private_key(eck[i]);

		CHECK(BN_bin2bn(sn->k[i], 32, bk) && BN_mod_inverse(ki, bk, EC_GROUP_get0_order(grp), ctx));
		for (const BIGNUM *const *v = (const BIGNUM *const[]){ d, bk, ki, NULL }; *v; v++) {
			memset(le, 0, sizeof(le));
			CHECK(BN_bn2le_padded(le, 32, *v));
			sn->m = needles_52(le, sizeof(le), sn->nd, sn->m, 5);
			sn->m = needles_64(le, 32, sn->nd, sn->m);
		}
	}
	OPENSSL_cleanse(le, sizeof(le));
	BN_clear_free(bk);
	BN_clear_free(ki);
}

/* Whether every lane of the n-lane runs kept in j[n - 1][] is right, for stack_below(). */
struct sign_right {
	struct p256_ifma_job (*j)[8];
	const uint8_t (*k)[32];
	unsigned bad;
};

static void sign_right(void *arg)
{
	struct sign_right *sr = arg;

	for (unsigned n = 1; n <= 8; n++)
		for (unsigned i = 0; i < n; i++)
			sr->bad += !job_right(eck[i], &sr->j[n - 1][i], sr->k[i]);
}

/*
 * A run leaves nothing of its nonces, their inverses or its keys in the
 * registers or in the stack below its caller (crypto/ifma_burn.h): any of
 * them with the signature gives the private key.
 */
TEST(no_secret_left_on_the_stack)
{
	static uint64_t nd[NEEDLES];
	static struct p256_ifma_job j[8][8], hj[8];
	uint8_t k[8][32];
	unsigned hok = 0;
	struct sign_needles sn = { (const uint8_t (*)[32])k, nd, 0 };
	struct sign_right sr = { j, (const uint8_t (*)[32])k, 0 };
	unsigned m;

	for (unsigned i = 0; i < 8; i++)
		rand_k(k[i]);
	stack_below(sign_needles, &sn);
	m = sn.m;
	CHECK(m > 8 * 20);
	CHECK(stack_scan_works(nd, m));
	stack_clear();
	CHECK_EQ(stack_hits(nd, m), 0);
	for (unsigned n = 1; n <= 8; n++) {
		for (unsigned i = 0; i < 8; i++) {
			memset(&j[n - 1][i], 0, sizeof(j[n - 1][i]));
			j[n - 1][i].key = ik[i];
			RAND_bytes(j[n - 1][i].digest, 32);
		}
		stack_fill();
		p256_ifma_sign_k(j[n - 1], (const uint8_t (*)[32])k, n);
		CHECK_EQ(regs_hits(nd, m), 0);
		CHECK(stack_live(STACK_TOP, STACK_SCAN - 512) <= STACK_LIVE_MAX);
		CHECK_EQ(stack_hits(nd, m), 0);
		/* the door's own path: hedged nonces (unknown here), the same keys */
		memcpy(hj, j[n - 1], sizeof(hj));
		stack_fill();
		p256_ifma_sign(hj, n);
		CHECK_EQ(regs_hits(nd, m), 0);
		CHECK(stack_live(STACK_TOP, STACK_SCAN - 512) <= STACK_LIVE_MAX);
		CHECK_EQ(stack_hits(nd, m), 0);
		for (unsigned i = 0; i < n; i++)
			hok += hj[i].ok;
	}
	CHECK_EQ(hok, 36);
	stack_below(sign_right, &sr);
	CHECK_EQ(sr.bad, 0);
	OPENSSL_cleanse(nd, sizeof(nd));
	OPENSSL_cleanse(k, sizeof(k));
}

/* Random keys (one per lane), digests and nonces at every fill. */
TEST(random_fills)
{
	struct p256_ifma_job jobs[8];
	uint8_t k[8][32];
	unsigned bad = 0, n = 0, untouched = 1;

	for (unsigned round = 0; round < 12; round++)
		for (unsigned fill = 1; fill <= 8; fill++) {
			memset(jobs, 0xa5, sizeof(jobs));
			for (unsigned i = 0; i < 8; i++) {
				jobs[i].key = ik[(i + round) % 8];
				RAND_bytes(jobs[i].digest, 32);
				rand_k(k[i]);
			}
			p256_ifma_sign_k(jobs, (const uint8_t (*)[32])k, fill);
			for (unsigned i = 0; i < fill; i++) {
				bad += !job_right(eck[(i + round) % 8], &jobs[i], k[i]);
				n++;
			}
			/* lanes beyond the fill are not written */
			for (unsigned i = fill; i < 8; i++)
				untouched &= jobs[i].ok == (int)0xa5a5a5a5 && jobs[i].r[0] == 0xa5;
		}
	CHECK_EQ(bad, 0);
	CHECK_EQ(n, 12 * 36);
	CHECK(untouched);
}

/* One key in every lane, as a busy server signs. */
TEST(same_key)
{
	struct p256_ifma_job jobs[8];
	uint8_t k[8][32];
	unsigned bad = 0;

	for (unsigned fill = 1; fill <= 8; fill++) {
		for (unsigned i = 0; i < 8; i++) {
			jobs[i].key = ik[0];
			RAND_bytes(jobs[i].digest, 32);
			rand_k(k[i]);
		}
		p256_ifma_sign_k(jobs, (const uint8_t (*)[32])k, fill);
		for (unsigned i = 0; i < fill; i++)
			bad += !job_right(eck[0], &jobs[i], k[i]);
	}
	CHECK_EQ(bad, 0);
}

/* Nonces at the edges, each alone (ymm) and among random lanes (zmm). */
TEST(edge_nonces)
{
	uint8_t ks[20][32];
	unsigned nk = 0, bad = 0;
	struct p256_ifma_job jobs[8];
	uint8_t k[8][32];

	memset(ks, 0, sizeof(ks));
	ks[nk++][31] = 1;                               /* 1 */
	ks[nk++][31] = 2;                               /* 2 */
	n_plus(ks[nk++], -1);                           /* n-1 */
	n_plus(ks[nk++], -2);                           /* n-2 */
	ks[nk++][0] = 0x80;                             /* 2^255 */
	ks[nk][0] = 0x80;                               /* 2^255 + 2^255-ish: all 0xf below the top */
	memset(ks[nk++] + 1, 0xff, 31);
	ks[nk++][0] = 0x10;                             /* 2^252: every window 0 but the top */
	ks[nk][0] = 0x0f;                               /* 2^252 - 1: every window 0xf but the top 0 */
	memset(ks[nk++] + 1, 0xff, 31);
	ks[nk++][31] = 0x0f;                            /* 15: only the lowest window */
	ks[nk++][31] = 0x10;                            /* 16: lowest window 0 */
	memset(ks[nk++], 0x0f, 32);                     /* alternating 0 and 0xf windows */
	memset(ks[nk++], 0xf0, 32);                     /* the other way round (below n) */
	ks[nk][0] = 0x7f;                               /* 2^255 - 1 */
	memset(ks[nk++] + 1, 0xff, 31);
	n_plus(ks[nk++], -16);                          /* n-16 */
	/* signed digits of size 15 and 16 in every window, both signs, top digit 0 and 1 */
	hex(ks[nk++], "4210842108421084210842108421084210842108421084210842108421084210");
	hex(ks[nk++], "3def7bdef7bdef7bdef7bdef7bdef7bdef7bdef7bdef7bdef7bdef7bdef7bdf0");
	hex(ks[nk++], "bdef7bdef7bdef7bdef7bdef7bdef7bdef7bdef7bdef7bdef7bdef7bdef7bdf0");
	for (unsigned e = 0; e < nk; e++) {
		jobs[0].key = ik[1];
		RAND_bytes(jobs[0].digest, 32);
		p256_ifma_sign_k(jobs, (const uint8_t (*)[32])ks[e], 1);
		if (!job_right(eck[1], &jobs[0], ks[e])) {
			bad++;
			fprintf(stderr, "edge nonce %u alone differs\n", e);
		}
		for (unsigned i = 0; i < 8; i++) {
			jobs[i].key = ik[i];
			RAND_bytes(jobs[i].digest, 32);
			if ((i + e) % 3 == 0)
				memcpy(k[i], ks[(e + i) % nk], 32);
			else
				rand_k(k[i]);
		}
		memcpy(k[e % 8], ks[e], 32);
		p256_ifma_sign_k(jobs, (const uint8_t (*)[32])k, 8);
		for (unsigned i = 0; i < 8; i++)
			if (!job_right(eck[i], &jobs[i], k[i])) {
				bad++;
				fprintf(stderr, "edge nonce %u, lane %u of 8 differs\n", e, i);
			}
	}
	CHECK_EQ(bad, 0);
}

/* Digests 0, n-1, n, n+1, 2^256-1; private keys 1, 2 and n-1. */
TEST(edge_digests_keys)
{
	uint8_t dg[5][32], d[3][32], k[8][32];
	EC_KEY *ek[3];
	struct p256_ifma_key *kk[3];
	struct p256_ifma_job jobs[8];
	unsigned bad = 0;

	memset(dg[0], 0, 32);
	n_plus(dg[1], -1);
	n_plus(dg[2], 0);
	n_plus(dg[3], 1);
	memset(dg[4], 0xff, 32);
	memset(d, 0, sizeof(d));
	d[0][31] = 1;
	d[1][31] = 2;
	n_plus(d[2], -1);
	for (unsigned i = 0; i < 3; i++) {
		ek[i] = key_make(d[i]);
		kk[i] = p256_ifma_key_new(ek[i]);
		CHECK(kk[i] != NULL);
		if (!kk[i])
			return;
	}
	for (unsigned fill = 1; fill <= 8; fill += 7)
		for (unsigned x = 0; x < 15; x++) {
			for (unsigned i = 0; i < 8; i++) {
				jobs[i].key = kk[(x + i) % 3];
				memcpy(jobs[i].digest, dg[(x / 3 + i) % 5], 32);
				rand_k(k[i]);
			}
			p256_ifma_sign_k(jobs, (const uint8_t (*)[32])k, fill);
			for (unsigned i = 0; i < fill; i++)
				bad += !job_right(ek[(x + i) % 3], &jobs[i], k[i]);
		}
	CHECK_EQ(bad, 0);
	for (unsigned i = 0; i < 3; i++) {
		p256_ifma_key_free(kk[i]);
		EC_KEY_free(ek[i]);
	}
}

/* Nonces 0, n, n+1, 2^256-1 and a job without a key: ok = 0, other lanes right. */
TEST(refused_lanes)
{
	struct p256_ifma_job jobs[8];
	uint8_t k[8][32];
	unsigned bad = 0;

	for (unsigned i = 0; i < 8; i++) {
		jobs[i].key = ik[i];
		RAND_bytes(jobs[i].digest, 32);
		rand_k(k[i]);
	}
	memset(k[1], 0, 32);
	n_plus(k[3], 0);
	n_plus(k[4], 1);
	memset(k[6], 0xff, 32);
	jobs[7].key = NULL;
	p256_ifma_sign_k(jobs, (const uint8_t (*)[32])k, 8);
	CHECK_EQ(jobs[1].ok, 0);
	CHECK_EQ(jobs[3].ok, 0);
	CHECK_EQ(jobs[4].ok, 0);
	CHECK_EQ(jobs[6].ok, 0);
	CHECK_EQ(jobs[7].ok, 0);
	{
		static const uint8_t zero[32];
		unsigned shown = 0;

		/* a refused lane's r and s are zeros */
		static const unsigned refused[] = { 1, 3, 4, 6, 7 };

		for (unsigned x = 0; x < 5; x++) {
			unsigned i = refused[x];

			shown += memcmp(jobs[i].r, zero, 32) != 0 || memcmp(jobs[i].s, zero, 32) != 0;
		}
		CHECK_EQ(shown, 0);
	}
	bad += !job_right(eck[0], &jobs[0], k[0]);
	bad += !job_right(eck[2], &jobs[2], k[2]);
	bad += !job_right(eck[5], &jobs[5], k[5]);
	CHECK_EQ(bad, 0);
	/* lane 0 refused in a ymm run */
	memset(k[0], 0, 32);
	p256_ifma_sign_k(jobs, (const uint8_t (*)[32])k, 3);
	CHECK_EQ(jobs[0].ok, 0);
	CHECK_EQ(jobs[1].ok, 0);
	CHECK(job_right(eck[2], &jobs[2], k[2]));
}

/* RAND_bytes nonces: every fill verifies; the same digest twice gives two signatures. */
TEST(random_nonces)
{
	struct p256_ifma_job jobs[8], again[8];
	unsigned bad = 0, same = 0;

	for (unsigned round = 0; round < 4; round++)
		for (unsigned fill = 1; fill <= 8; fill++) {
			for (unsigned i = 0; i < 8; i++) {
				jobs[i].key = ik[(i * 3 + round) % 8];
				RAND_bytes(jobs[i].digest, 32);
			}
			memcpy(again, jobs, sizeof(jobs));
			p256_ifma_sign(jobs, fill);
			p256_ifma_sign(again, fill);
			for (unsigned i = 0; i < fill; i++) {
				bad += !jobs[i].ok || !verify(eck[(i * 3 + round) % 8], &jobs[i]);
				bad += !again[i].ok || !verify(eck[(i * 3 + round) % 8], &again[i]);
				same += memcmp(jobs[i].r, again[i].r, 32) == 0;
			}
		}
	CHECK_EQ(bad, 0);
	CHECK_EQ(same, 0);
}

/* DER: parses with ECDSA_SIG_from_bytes, verifies, equals ECDSA_SIG_to_bytes'; no room, not ok: 0. */
TEST(der)
{
	struct p256_ifma_job jobs[8];
	uint8_t der[80], small[8];
	unsigned bad = 0;

	for (unsigned i = 0; i < 8; i++) {
		jobs[i].key = ik[i];
		RAND_bytes(jobs[i].digest, 32);
	}
	p256_ifma_sign(jobs, 8);
	for (unsigned i = 0; i < 8; i++) {
		size_t len = p256_ifma_der(&jobs[i], der, sizeof(der));
		ECDSA_SIG *sig = len ? ECDSA_SIG_from_bytes(der, len) : NULL;
		uint8_t r[32], s[32];

		if (!sig) {
			bad++;
			continue;
		}
		BN_bn2bin_padded(r, 32, sig->r);
		BN_bn2bin_padded(s, 32, sig->s);
		bad += memcmp(r, jobs[i].r, 32) != 0 || memcmp(s, jobs[i].s, 32) != 0;
		bad += ECDSA_do_verify(jobs[i].digest, 32, sig, eck[i]) != 1;
		bad += ECDSA_verify(0, jobs[i].digest, 32, der, len, eck[i]) != 1;
		ECDSA_SIG_free(sig);
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(p256_ifma_der(&jobs[0], small, sizeof(small)), 0);
	jobs[0].ok = 0;
	CHECK_EQ(p256_ifma_der(&jobs[0], der, sizeof(der)), 0);
	/* small r and s: DER drops their leading zeros */
	{
		struct p256_ifma_job j = { .ok = 1 };
		size_t len;

		j.r[31] = 1;
		j.s[30] = 0x80;
		len = p256_ifma_der(&j, der, sizeof(der));
		CHECK_EQ(len, 10);
		CHECK(len == 10 && memcmp(der, "\x30\x08\x02\x01\x01\x02\x03\x00\x80\x00", 10) == 0);
	}
}

/* Threads sign at once with the same keys (immutable, shared). */
static void *signer(void *arg)
{
	struct p256_ifma_job jobs[8];
	unsigned *bad = arg;

	for (unsigned round = 0; round < 6; round++) {
		unsigned fill = round % 2 ? 8 : 3;

		for (unsigned i = 0; i < 8; i++) {
			jobs[i].key = ik[i];
			RAND_bytes(jobs[i].digest, 32);
		}
		p256_ifma_sign(jobs, fill);
		for (unsigned i = 0; i < fill; i++)
			*bad += !jobs[i].ok || !verify(eck[i], &jobs[i]);
	}
	return NULL;
}

TEST(threads)
{
	pthread_t th[3];
	unsigned bad[3] = { 0 };

	for (unsigned i = 0; i < 3; i++)
		CHECK_EQ(pthread_create(&th[i], NULL, signer, &bad[i]), 0);
	for (unsigned i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	CHECK_EQ(bad[0] + bad[1] + bad[2], 0);
}

TEST(keys)
{
	EC_KEY *k384 = EC_KEY_new_by_curve_name(NID_secp384r1), *pub;

	EC_KEY_generate_key(k384);
	CHECK(p256_ifma_key_new(k384) == NULL);
	CHECK(p256_ifma_key_new(NULL) == NULL);
	pub = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
	EC_KEY_set_public_key(pub, EC_KEY_get0_public_key(eck[0]));
	CHECK(p256_ifma_key_new(pub) == NULL);
	p256_ifma_key_free(NULL);
	EC_KEY_free(k384);
	EC_KEY_free(pub);
}

/* ---- verification (p256_ifma_verify) ---- */

static struct p256_ifma_pub *vk[8];

/* ECDSA_do_verify on (digest, r, s) with key */
static int bssl_verify(const EC_KEY *key, const uint8_t dg[32], const uint8_t r[32], const uint8_t s[32])
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	int ok;

	BN_bin2bn(r, 32, sig->r);
	BN_bin2bn(s, 32, sig->s);
	ok = ECDSA_do_verify(dg, 32, sig, key);
	ECDSA_SIG_free(sig);
	return ok;
}

/* A signature by BoringSSL (ECDSA_do_sign) on a random digest; high s (n - s) when high. */
static void bssl_sign(const EC_KEY *key, struct p256_ifma_vjob *j, int high)
{
	ECDSA_SIG *sig;

	RAND_bytes(j->digest, 32);
	sig = ECDSA_do_sign(j->digest, 32, key);
	if (high)
		BN_sub(sig->s, EC_GROUP_get0_order(grp), sig->s);
	BN_bn2bin_padded(j->r, 32, sig->r);
	BN_bn2bin_padded(j->s, 32, sig->s);
	ECDSA_SIG_free(sig);
}

/* Valid signatures (half of them high-s), keys mixed across lanes, every fill. */
TEST(verify_valid)
{
	struct p256_ifma_vjob jobs[8];
	const EC_KEY *key[8];
	unsigned bad = 0, n = 0, untouched = 1;

	for (unsigned round = 0; round < 6; round++)
		for (unsigned fill = 1; fill <= 8; fill++) {
			memset(jobs, 0xa5, sizeof(jobs));
			for (unsigned i = 0; i < 8; i++) {
				unsigned ki = (3 * i + round) % 8;

				jobs[i].pub = vk[ki];
				key[i] = eck[ki];
				bssl_sign(key[i], &jobs[i], (i + round) & 1);
			}
			p256_ifma_verify(jobs, fill);
			for (unsigned i = 0; i < fill; i++) {
				bad += jobs[i].ok != 1 || !bssl_verify(key[i], jobs[i].digest, jobs[i].r, jobs[i].s);
				n++;
			}
			for (unsigned i = fill; i < 8; i++)
				untouched &= jobs[i].ok == (int)0xa5a5a5a5;
		}
	CHECK_EQ(bad, 0);
	CHECK_EQ(n, 6 * 36);
	CHECK(untouched);
}

/*
 * One bit flipped in r, s, the digest or the private key (so the lane
 * verifies against another public key), among unchanged valid lanes: the
 * flipped lanes 0, as ECDSA_do_verify says, the others 1.
 */
TEST(verify_bitflips)
{
	struct p256_ifma_vjob jobs[8];
	EC_KEY *fk[8];
	struct p256_ifma_pub *fq[8];
	unsigned wrong = 0, agree = 0, total = 0;

	for (unsigned i = 0; i < 8; i++) {
		/* eck[i] with one bit of d flipped */
		uint8_t d[32];

		BN_bn2bin_padded(d, 32, EC_KEY_get0_private_key(eck[i]));
		d[31 - i * 4 % 32] ^= (uint8_t)(1u << (i % 8));
		fk[i] = key_make(d);
		fq[i] = p256_ifma_pub_new(fk[i]);
		CHECK(fq[i] != NULL);
		if (!fq[i])
			return;
	}
	for (unsigned round = 0; round < 16; round++)
		for (unsigned what = 0; what < 4; what++) {
			unsigned fill = round % 2 ? 8 : 3, flipped = 0;
			const EC_KEY *key[8];

			for (unsigned i = 0; i < 8; i++) {
				uint32_t bit;

				jobs[i].pub = vk[i];
				key[i] = eck[i];
				bssl_sign(eck[i], &jobs[i], round & 2);
				if ((i + round) % 2)
					continue;               /* unchanged lane */
				flipped |= 1u << i;
				RAND_bytes((uint8_t *)&bit, sizeof(bit));
				bit %= 256;
				if (what == 0)
					jobs[i].r[bit / 8] ^= (uint8_t)(1u << (bit % 8));
				else if (what == 1)
					jobs[i].s[bit / 8] ^= (uint8_t)(1u << (bit % 8));
				else if (what == 2)
					jobs[i].digest[bit / 8] ^= (uint8_t)(1u << (bit % 8));
				else {
					jobs[i].pub = fq[i];
					key[i] = fk[i];
				}
			}
			p256_ifma_verify(jobs, fill);
			for (unsigned i = 0; i < fill; i++) {
				int ref = bssl_verify(key[i], jobs[i].digest, jobs[i].r, jobs[i].s);

				wrong += jobs[i].ok != !(flipped >> i & 1);
				agree += jobs[i].ok == ref;
				total++;
			}
		}
	CHECK_EQ(wrong, 0);
	CHECK_EQ(agree, total);
	for (unsigned i = 0; i < 8; i++) {
		p256_ifma_pub_free(fq[i]);
		EC_KEY_free(fk[i]);
	}
}

/* x mod n of u1 G + u2 Q, and the signature (r, s, e) that makes those u1 and u2 */
static BIGNUM *bn_rand_n(void)
{
	BIGNUM *b = BN_new();

	BN_rand_range_ex(b, 1, EC_GROUP_get0_order(grp));
	return b;
}

/*
 * The signature with u1 = e/s and u2 = r/s as given (u2 != 0): when honest,
 * r = x(u1 G + u2 Q) mod n if that is a point with r != 0 (then it is
 * valid), else r random (invalid); s = r/u2, e = u1 s. Returns 1 if valid
 * by construction.
 */
static int craft(const EC_KEY *key, const BIGNUM *u1, const BIGNUM *u2, int honest,
		 struct p256_ifma_vjob *j)
{
	const BIGNUM *n = EC_GROUP_get0_order(grp);
	EC_POINT *pt = EC_POINT_new(grp);
	BIGNUM *r = BN_new(), *s = BN_new(), *e = BN_new(), *x = BN_new();
	int valid = 0;

	EC_POINT_mul(grp, pt, u1, EC_KEY_get0_public_key(key), u2, ctx);
	if (!EC_POINT_is_at_infinity(grp, pt)) {
		EC_POINT_get_affine_coordinates_GFp(grp, pt, x, NULL, ctx);
		BN_nnmod(r, x, n, ctx);
		valid = honest && !BN_is_zero(r);
	}
	if (!valid) {
		BN_free(r);
		r = bn_rand_n();
	}
	BN_mod_inverse(s, u2, n, ctx);
	BN_mod_mul(s, s, r, n, ctx);
	BN_mod_mul(e, u1, s, n, ctx);
	BN_bn2bin_padded(j->r, 32, r);
	BN_bn2bin_padded(j->s, 32, s);
	BN_bn2bin_padded(j->digest, 32, e);
	BN_free(r);
	BN_free(s);
	BN_free(e);
	BN_free(x);
	EC_POINT_free(pt);
	return valid;
}

/* the signed 5-bit digits of u < 2^256, as p256_ifma.c recodes (Booth, BoringSSL's) */
static void digits(int dg[52], const BIGNUM *u)
{
	uint8_t b[32];
	uint64_t w[5] = { 0 };

	BN_bn2bin_padded(b, 32, u);
	for (unsigned i = 0; i < 32; i++)
		w[i / 8] |= (uint64_t)b[31 - i] << (8 * (i % 8));
	for (int i = 0; i < 52; i++) {
		int pos = 5 * i - 1;
		uint64_t in = pos < 0 ? w[0] << 1 : w[pos / 64] >> (pos % 64);

		if (pos >= 0 && pos % 64 > 58)
			in |= w[pos / 64 + 1] << (64 - pos % 64);
		in &= 63;
		dg[i] = in < 32 ? (int)((in + 1) >> 1) : -(int)((64 - in) >> 1);
	}
}

/*
 * The additions the lanes make for u1 G + u2 Q, Q = d G, followed as
 * scalars mod n (a digit of u1, then one of u2, each window): 1 if one of
 * them adds to an accumulator (not infinity) equal to +-the added point,
 * where the mixed addition cannot be right.
 */
static int exceptional(const BIGNUM *u1, const BIGNUM *u2, unsigned d)
{
	const BIGNUM *n = EC_GROUP_get0_order(grp);
	BIGNUM *acc = BN_new(), *add = BN_new(), *neg = BN_new();
	int a[52], b[52], inf = 1, hit = 0;

	digits(a, u1);
	digits(b, u2);
	for (unsigned w = 0; w < 52 && !hit; w++)
		for (unsigned part = 0; part < 2 && !hit; part++) {
			int dig = part ? b[w] : a[w];

			if (!dig)
				continue;
			BN_set_word(add, (BN_ULONG)abs(dig) * (part ? d : 1));
			BN_lshift(add, add, 5 * w);
			if (dig < 0)
				BN_sub(add, n, add);    /* BN_nnmod below keeps it in [0, n) */
			BN_nnmod(add, add, n, ctx);
			if (inf) {
				BN_copy(acc, add);
				inf = 0;
				continue;
			}
			BN_mod_sub(neg, n, add, n, ctx);
			hit = BN_cmp(acc, add) == 0 || BN_cmp(acc, neg) == 0;
			BN_mod_add(acc, acc, add, n, ctx);
		}
	BN_free(acc);
	BN_free(add);
	BN_free(neg);
	return hit;
}

/*
 * Crafted exceptional sums: keys d = 1, 2, 3, 7 (Q = d G) and u1, u2 whose
 * digits make the accumulator equal +-the added point at a window (a
 * doubling or a cancellation), some of them valid signatures, and sums that
 * are exactly infinity (u1 = -d u2); one lane in four with r not x mod n
 * (invalid, the same additions: a doubling leaves X = Z = 0, which
 * X == r Z^2 would take for a match). Never ok = 1 where ECDSA_do_verify
 * says no; every lane with such an addition ok = 0; every other valid
 * lane ok = 1.
 */
TEST(verify_crafted)
{
	static const unsigned ds[4] = { 1, 2, 3, 7 };
	const BIGNUM *n = EC_GROUP_get0_order(grp);
	EC_KEY *key[4];
	struct p256_ifma_pub *pub[4];
	struct p256_ifma_vjob jobs[8];
	unsigned false_acc = 0, exc = 0, exc_ok = 0, valid_exc = 0, valid_exc_ok = 0;
	unsigned plain_wrong = 0, inf_sums = 0, total = 0;

	for (unsigned i = 0; i < 4; i++) {
		uint8_t d[32] = { 0 };

		d[31] = (uint8_t)ds[i];
		key[i] = key_make(d);
		pub[i] = p256_ifma_pub_new(key[i]);
		CHECK(pub[i] != NULL);
		if (!pub[i])
			return;
	}
	for (unsigned round = 0; round < 40; round++) {
		int exc_of[8], valid[8];
		unsigned ki[8], kinds[8];

		for (unsigned i = 0; i < 8; i++) {
			unsigned kind = (round * 8 + i) % 5, d, w, a;
			BIGNUM *u1 = BN_new(), *u2 = BN_new(), *hi = bn_rand_n(), *t = BN_new();
			uint32_t rnd;

			RAND_bytes((uint8_t *)&rnd, sizeof(rnd));
			ki[i] = rnd % 4;
			d = ds[ki[i]];
			w = (rnd >> 8) % 51;                    /* the window of the collision */
			a = 1 + (rnd >> 16) % 7;                /* u2's digit there; u1's is d a (at most 49: 15 for d <= 2) */
			if (d * a > 15)
				a = 1;
			BN_rshift(hi, hi, 5 * (w + 1) + 1);     /* random digits above w, the sum below n */
			BN_lshift(hi, hi, 5 * (w + 1));
			if (kind == 0 || kind == 1) {
				/* u1 = d a 32^w + ..., u2 = +-a 32^w + ...: doubling (+) or cancellation (-) at w */
				BN_set_word(u1, d * a);
				BN_lshift(u1, u1, 5 * w);
				BN_add(u1, u1, hi);
				BN_set_word(t, a);
				BN_lshift(t, t, 5 * w);
				BN_rshift(u2, hi, 3);
				BN_rshift(u2, u2, 5 * (w + 1));
				BN_lshift(u2, u2, 5 * (w + 1));
				if (kind == 0)
					BN_add(u2, u2, t);
				else {
					/* window value 32 - a (bit 4 set): Booth digit -a, a carry into w+1 */
					BN_set_word(t, 32 - a);
					BN_lshift(t, t, 5 * w);
					BN_add(u2, u2, t);
				}
			} else if (kind == 2) {
				/* u1 = d u2: a collision at a low window for d = 1 (a doubling), maybe for others */
				BN_rshift(u2, hi, 3);
				BN_set_word(t, a);
				BN_lshift(t, t, 5 * w);
				BN_add(u2, u2, t);
				BN_copy(u1, u2);
				BN_mul_word(u1, d);
				BN_nnmod(u1, u1, n, ctx);
			} else if (kind == 3) {
				/* u1 = -d u2: the sum is the point at infinity */
				BN_copy(u2, hi);
				BN_add_word(u2, a);
				BN_copy(u1, u2);
				BN_mul_word(u1, d);
				BN_nnmod(u1, u1, n, ctx);
				BN_sub(u1, n, u1);
				BN_nnmod(u1, u1, n, ctx);
			} else {
				/* u1 = 0: u2 Q alone (valid; no collision unless d G doubles into it) */
				BN_zero(u1);
				BN_copy(u2, hi);
				BN_add_word(u2, a);
			}
			BN_nnmod(u2, u2, n, ctx);
			if (BN_is_zero(u2))
				BN_one(u2);
			exc_of[i] = exceptional(u1, u2, d);
			jobs[i].pub = pub[ki[i]];
			/* one lane in four with a wrong r: the same additions, invalid */
			valid[i] = craft(key[ki[i]], u1, u2, (rnd >> 24) % 4 != 0, &jobs[i]);
			kinds[i] = kind;
			BN_free(u1);
			BN_free(u2);
			BN_free(hi);
			BN_free(t);
		}
		p256_ifma_verify(jobs, round % 2 ? 8 : 4);
		for (unsigned i = 0; i < (round % 2 ? 8u : 4u); i++) {
			int ref = bssl_verify(key[ki[i]], jobs[i].digest, jobs[i].r, jobs[i].s);

			total++;
			inf_sums += kinds[i] == 3;
			false_acc += jobs[i].ok && !ref;
			if (ref != valid[i])
				plain_wrong++;  /* the crafting itself is wrong */
			if (exc_of[i]) {
				exc++;
				exc_ok += jobs[i].ok;
				valid_exc += ref;
				valid_exc_ok += ref && jobs[i].ok;
			} else if (ref) {
				plain_wrong += jobs[i].ok != 1;
			}
		}
	}
	printf("verify_crafted: %u lanes, %u with an exceptional addition (%u of them valid "
	       "signatures: %u came out ok = 1), %u sums at infinity, %u false accepts\n",
	       total, exc, valid_exc, valid_exc_ok, inf_sums, false_acc);
	CHECK_EQ(false_acc, 0);
	CHECK_EQ(exc_ok, 0);
	CHECK_EQ(plain_wrong, 0);
	CHECK(exc > total / 4);
	CHECK(valid_exc > 10);
	CHECK(exc - valid_exc > 20);
	for (unsigned i = 0; i < 4; i++) {
		p256_ifma_pub_free(pub[i]);
		EC_KEY_free(key[i]);
	}
}

/*
 * r and s at and outside the range's ends, each in a lane among valid
 * ones: 0, n, n+1, 2^256-1, p give ok = 0 (as ECDSA_do_verify); s = n-1
 * and s = 1 made valid (e chosen for a random nonce: s = k^-1 (e + r d))
 * give ok = 1, and the s = 1 ones with s = n + 1 instead (the same mod n)
 * ok = 0.
 */
TEST(verify_edges)
{
	const BIGNUM *n = EC_GROUP_get0_order(grp);
	uint8_t bad_v[5][32];
	struct p256_ifma_vjob jobs[8];
	unsigned wrong = 0, disagree = 0;

	memset(bad_v[0], 0, 32);
	n_plus(bad_v[1], 0);
	n_plus(bad_v[2], 1);
	memset(bad_v[3], 0xff, 32);
	hex(bad_v[4], "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");
	for (unsigned v = 0; v < 10; v++) {
		for (unsigned i = 0; i < 8; i++) {
			jobs[i].pub = vk[i];
			bssl_sign(eck[i], &jobs[i], i & 1);
		}
		memcpy(v < 5 ? jobs[v % 8].r : jobs[v % 8].s, bad_v[v % 5], 32);
		p256_ifma_verify(jobs, v % 2 ? 8 : 4 + v % 4);
		for (unsigned i = 0; i < (v % 2 ? 8u : 4u + v % 4); i++) {
			wrong += jobs[i].ok != (i != v % 8);
			disagree += jobs[i].ok != bssl_verify(eck[i], jobs[i].digest, jobs[i].r, jobs[i].s);
		}
	}
	/* s = n-1 and s = 1: k random, r = x(kG) mod n, e = k s - r d mod n */
	for (unsigned round = 0; round < 4; round++) {
		for (unsigned i = 0; i < 8; i++) {
			BIGNUM *k = bn_rand_n(), *x = BN_new(), *r = BN_new(), *e = BN_new(), *sv = BN_new();
			EC_POINT *pt = EC_POINT_new(grp);

			if ((i + round) % 2)
				BN_sub(sv, n, BN_value_one());
			else
				BN_one(sv);
			EC_POINT_mul(grp, pt, k, NULL, NULL, ctx);
			EC_POINT_get_affine_coordinates_GFp(grp, pt, x, NULL, ctx);
			BN_nnmod(r, x, n, ctx);
			BN_mod_mul(e, k, sv, n, ctx);
			BN_mod_mul(x, r, EC_KEY_get0_private_key(eck[i]), n, ctx);
			BN_mod_sub(e, e, x, n, ctx);
			jobs[i].pub = vk[i];
			BN_bn2bin_padded(jobs[i].r, 32, r);
			BN_bn2bin_padded(jobs[i].s, 32, sv);
			BN_bn2bin_padded(jobs[i].digest, 32, e);
			BN_free(k);
			BN_free(x);
			BN_free(r);
			BN_free(e);
			BN_free(sv);
			EC_POINT_free(pt);
		}
		p256_ifma_verify(jobs, 8 - round);
		for (unsigned i = 0; i < 8 - round; i++) {
			wrong += jobs[i].ok != 1;
			disagree += jobs[i].ok != bssl_verify(eck[i], jobs[i].digest, jobs[i].r, jobs[i].s);
		}
		/* s = 1 as n + 1 (the same s mod n, out of range): ok = 0 */
		for (unsigned i = 0; i < 8; i++)
			if ((i + round) % 2 == 0)
				n_plus(jobs[i].s, 1);
		p256_ifma_verify(jobs, 8 - round);
		for (unsigned i = 0; i < 8 - round; i++) {
			wrong += jobs[i].ok != (int)((i + round) % 2);
			disagree += jobs[i].ok != bssl_verify(eck[i], jobs[i].digest, jobs[i].r, jobs[i].s);
		}
	}
	CHECK_EQ(wrong, 0);
	CHECK_EQ(disagree, 0);
}

/*
 * A key and a signature (r given) whose u1 G + u2 Q is the point pt: random
 * a, b, Q = (pt - a G) / b (its private key unknown), u1 = a, u2 = b, so
 * s = r / b and e = a s. Valid exactly when x(pt) mod n = r. The job's pub
 * is new (the caller frees it and *key).
 */
static void sig_at(const EC_POINT *pt, const BIGNUM *r, EC_KEY **key, struct p256_ifma_vjob *j)
{
	const BIGNUM *n = EC_GROUP_get0_order(grp);
	BIGNUM *a = bn_rand_n(), *b = bn_rand_n(), *bi = BN_new(), *s = BN_new(), *e = BN_new();
	EC_POINT *q = EC_POINT_new(grp);

	EC_POINT_mul(grp, q, a, NULL, NULL, ctx);
	EC_POINT_invert(grp, q, ctx);
	EC_POINT_add(grp, q, q, pt, ctx);
	BN_mod_inverse(bi, b, n, ctx);
	EC_POINT_mul(grp, q, NULL, q, bi, ctx);
	*key = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
	EC_KEY_set_public_key(*key, q);
	BN_mod_mul(s, r, bi, n, ctx);
	BN_mod_mul(e, a, s, n, ctx);
	j->pub = p256_ifma_pub_new(*key);
	BN_bn2bin_padded(j->r, 32, r);
	BN_bn2bin_padded(j->s, 32, s);
	BN_bn2bin_padded(j->digest, 32, e);
	BN_free(a);
	BN_free(b);
	BN_free(bi);
	BN_free(s);
	BN_free(e);
	EC_POINT_free(q);
}

/*
 * x(u1 G + u2 Q) in [n, p), so r = x - n and only X == (r + n) Z^2
 * matches (sig_at): valid, ok = 1 as ECDSA_do_verify says; r changed by
 * one gives ok = 0, and so does r + n (= x, out of range, the same sum).
 * And the other way round: x small and r = x + (p - n), so r + n = x + p
 * (below 2^256) is x mod p but r is not x mod n: the second match is taken
 * only where r + n < p, and these come out ok = 0 (ECDSA_do_verify:
 * invalid); r = x itself, valid, as a control.
 */
TEST(verify_x_above_n)
{
	const BIGNUM *n = EC_GROUP_get0_order(grp);
	BIGNUM *x = BN_new(), *p = BN_new(), *r = BN_new(), *pn = BN_new();
	EC_POINT *pt = EC_POINT_new(grp);
	struct p256_ifma_vjob jobs[8];
	EC_KEY *key[8];
	unsigned wrong = 0, disagree = 0;

	EC_GROUP_get_curve_GFp(grp, p, NULL, NULL, ctx);
	BN_sub(pn, p, n);
	BN_copy(x, n);
	for (unsigned i = 0; i < 8; i++) {
		/* the next x above n (or the last one's) on the curve */
		do
			BN_add_word(x, 1);
		while (!EC_POINT_set_compressed_coordinates_GFp(grp, pt, x, i & 1, ctx));
		CHECK(BN_cmp(x, p) < 0);
		BN_sub(r, x, n);
		sig_at(pt, r, &key[i], &jobs[i]);
		CHECK(jobs[i].pub != NULL);
	}
	for (unsigned fill = 1; fill <= 8; fill++) {
		p256_ifma_verify(jobs, fill);
		for (unsigned i = 0; i < fill; i++) {
			wrong += jobs[i].ok != 1;
			disagree += jobs[i].ok != bssl_verify(key[i], jobs[i].digest, jobs[i].r, jobs[i].s);
		}
	}
	/* r one off: neither r nor r + n is x */
	for (unsigned i = 0; i < 8; i += 2)
		jobs[i].r[31] ^= 1;
	p256_ifma_verify(jobs, 8);
	for (unsigned i = 0; i < 8; i++) {
		wrong += jobs[i].ok != (int)(i % 2);
		disagree += jobs[i].ok != bssl_verify(key[i], jobs[i].digest, jobs[i].r, jobs[i].s);
	}
	/* r + n = x itself (out of range: u2 and the sum stay the same) */
	for (unsigned i = 0; i < 8; i += 2) {
		jobs[i].r[31] ^= 1;
		BN_bin2bn(jobs[i].r, 32, r);
		BN_add(r, r, n);
		BN_bn2bin_padded(jobs[i].r, 32, r);
	}
	p256_ifma_verify(jobs, 8);
	for (unsigned i = 0; i < 8; i++) {
		wrong += jobs[i].ok != (int)(i % 2);
		disagree += jobs[i].ok != bssl_verify(key[i], jobs[i].digest, jobs[i].r, jobs[i].s);
	}
	for (unsigned i = 0; i < 8; i++) {
		p256_ifma_pub_free((struct p256_ifma_pub *)jobs[i].pub);
		EC_KEY_free(key[i]);
	}
	/*
	 * r = x + (p - n) for a point with a small x (even lanes: r + n = x + p
	 * is below 2^256, as a 256-bit sum it does not overflow, and is x mod
	 * p); r = x of a random point (odd lanes)
	 */
	BN_zero(x);
	for (unsigned round = 0; round < 4; round++) {
		for (unsigned i = 0; i < 8; i++) {
			BIGNUM *k = bn_rand_n();

			if (i % 2 == 0) {
				do
					BN_add_word(x, 1);
				while (!EC_POINT_set_compressed_coordinates_GFp(grp, pt, x, i & 2, ctx));
				BN_add(r, x, pn);
			} else {
				EC_POINT_mul(grp, pt, k, NULL, NULL, ctx);
				EC_POINT_get_affine_coordinates_GFp(grp, pt, r, NULL, ctx);
			}
			CHECK(BN_cmp(r, n) < 0);
			sig_at(pt, r, &key[i], &jobs[i]);
			BN_free(k);
		}
		p256_ifma_verify(jobs, 8 - round);
		for (unsigned i = 0; i < 8 - round; i++) {
			wrong += jobs[i].ok != (int)(i % 2);
			disagree += jobs[i].ok != bssl_verify(key[i], jobs[i].digest, jobs[i].r, jobs[i].s);
		}
		for (unsigned i = 0; i < 8; i++) {
			p256_ifma_pub_free((struct p256_ifma_pub *)jobs[i].pub);
			EC_KEY_free(key[i]);
		}
	}
	CHECK_EQ(wrong, 0);
	CHECK_EQ(disagree, 0);
	BN_free(x);
	BN_free(p);
	BN_free(r);
	BN_free(pn);
	EC_POINT_free(pt);
}

/*
 * Differential: 4000 jobs in runs of random fill, random keys, half of them
 * valid (some high-s) and half damaged at random (a bit of r, s or the
 * digest, r or s random or swapped, s = n - s of a damaged one, another
 * key, r = x's neighbour): against ECDSA_do_verify, no false accept, and no
 * false reject either (random inputs never hit an exceptional addition).
 */
TEST(verify_differential)
{
	struct p256_ifma_vjob jobs[8];
	const EC_KEY *key[8];
	unsigned false_acc = 0, false_rej = 0, valid = 0, total = 0;

	while (total < 4000) {
		uint8_t rnd[8 * 4 + 1];
		unsigned fill;

		RAND_bytes(rnd, sizeof(rnd));
		fill = 1 + rnd[32] % 8;
		for (unsigned i = 0; i < fill; i++) {
			unsigned ki = rnd[4 * i] % 8, bit = rnd[4 * i + 2];

			jobs[i].pub = vk[ki];
			key[i] = eck[ki];
			bssl_sign(key[i], &jobs[i], rnd[4 * i + 1] & 1);
			switch ((rnd[4 * i + 1] >> 1) % 16) {
			case 0:
				jobs[i].r[bit / 8] ^= (uint8_t)(1u << (bit % 8));
				break;
			case 1:
				jobs[i].s[bit / 8] ^= (uint8_t)(1u << (bit % 8));
				break;
			case 2:
				jobs[i].digest[bit / 8] ^= (uint8_t)(1u << (bit % 8));
				break;
			case 3:
				RAND_bytes(jobs[i].r, 32);
				break;
			case 4:
				RAND_bytes(jobs[i].s, 32);
				break;
			case 5: {
				uint8_t t[32];

				memcpy(t, jobs[i].r, 32);
				memcpy(jobs[i].r, jobs[i].s, 32);
				memcpy(jobs[i].s, t, 32);
				break;
			}
			case 6:
				jobs[i].pub = vk[(ki + 1) % 8];
				key[i] = eck[(ki + 1) % 8];
				break;
			case 7:
				jobs[i].r[31] += 1;
				break;
			default:
				break;          /* valid */
			}
		}
		p256_ifma_verify(jobs, fill);
		for (unsigned i = 0; i < fill; i++) {
			int ref = bssl_verify(key[i], jobs[i].digest, jobs[i].r, jobs[i].s);

			false_acc += jobs[i].ok && !ref;
			false_rej += !jobs[i].ok && ref;
			valid += ref;
			total++;
		}
	}
	printf("verify_differential: %u jobs, %u valid, %u false accepts, %u false rejects\n", total,
	       valid, false_acc, false_rej);
	CHECK_EQ(false_acc, 0);
	CHECK_EQ(false_rej, 0);
	CHECK(valid > total / 3 && valid < total - total / 4);
}

/* Threads verifying at once with the same keys' tables (shared, read only). */
static void *verifier(void *arg)
{
	struct p256_ifma_vjob jobs[8];
	unsigned *bad = arg;

	for (unsigned round = 0; round < 8; round++) {
		unsigned fill = round % 2 ? 8 : 3;

		for (unsigned i = 0; i < 8; i++) {
			jobs[i].pub = vk[i];
			bssl_sign(eck[i], &jobs[i], 0);
			if ((i + round) % 3 == 0)
				jobs[i].digest[i] ^= 1;
		}
		p256_ifma_verify(jobs, fill);
		for (unsigned i = 0; i < fill; i++)
			*bad += jobs[i].ok != ((i + round) % 3 != 0);
	}
	return NULL;
}

TEST(verify_threads)
{
	pthread_t th[3];
	unsigned bad[3] = { 0 };

	for (unsigned i = 0; i < 3; i++)
		CHECK_EQ(pthread_create(&th[i], NULL, verifier, &bad[i]), 0);
	for (unsigned i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	CHECK_EQ(bad[0] + bad[1] + bad[2], 0);
}

/*
 * pub_new refuses P-384, NULL and a key without a public point; the point
 * as BoringSSL encodes it; a NULL pub gives 0 (with a signature valid for
 * Q = G: the lane's stand-in table is G's).
 */
TEST(verify_keys)
{
	EC_KEY *k384 = EC_KEY_new_by_curve_name(NID_secp384r1), *nopub;
	uint8_t pt[65];
	struct p256_ifma_vjob jobs[3];

	EC_KEY_generate_key(k384);
	CHECK(p256_ifma_pub_new(k384) == NULL);
	CHECK(p256_ifma_pub_new(NULL) == NULL);
	nopub = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
	CHECK(p256_ifma_pub_new(nopub) == NULL);
	p256_ifma_pub_free(NULL);
	for (unsigned i = 0; i < 8; i++) {
		CHECK_EQ(EC_POINT_point2oct(grp, EC_KEY_get0_public_key(eck[i]), POINT_CONVERSION_UNCOMPRESSED,
					    pt, sizeof(pt), ctx), 65);
		CHECK(memcmp(p256_ifma_pub_point(vk[i]), pt, 65) == 0);
	}
	for (unsigned i = 0; i < 3; i++) {
		jobs[i].pub = vk[i];
		bssl_sign(eck[i], &jobs[i], 0);
	}
	/* no pub, and a signature valid for Q = G (d = 1), as if a missing key were G */
	{
		uint8_t d1[32] = { [31] = 1 };
		EC_KEY *g = key_make(d1);

		bssl_sign(g, &jobs[1], 0);
		CHECK_EQ(bssl_verify(g, jobs[1].digest, jobs[1].r, jobs[1].s), 1);
		EC_KEY_free(g);
	}
	jobs[1].pub = NULL;
	p256_ifma_verify(jobs, 3);
	CHECK_EQ(jobs[0].ok, 1);
	CHECK_EQ(jobs[1].ok, 0);
	CHECK_EQ(jobs[2].ok, 1);
	EC_KEY_free(k384);
	EC_KEY_free(nopub);
}

int main(void)
{
	if (!p256_ifma_cpu()) {
		printf("test_p256_ifma: this CPU has no AVX-512 IFMA: the kernel tests are skipped\n");
		return t_done("test_p256_ifma");
	}
	ctx = BN_CTX_new();
	grp = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	for (unsigned i = 0; i < 8; i++) {
		eck[i] = key_make(NULL);
		ik[i] = p256_ifma_key_new(eck[i]);
		vk[i] = p256_ifma_pub_new(eck[i]);
		if (!ik[i] || !vk[i]) {
			printf("test_p256_ifma: p256_ifma_key_new failed\n");
			return 1;
		}
	}
	RUN(random_fills);
	RUN(no_secret_left_on_the_stack);
	RUN(same_key);
	RUN(edge_nonces);
	RUN(edge_digests_keys);
	RUN(refused_lanes);
	RUN(random_nonces);
	RUN(der);
	RUN(threads);
	RUN(keys);
	RUN(verify_valid);
	RUN(verify_bitflips);
	RUN(verify_edges);
	RUN(verify_x_above_n);
	RUN(verify_crafted);
	RUN(verify_differential);
	RUN(verify_threads);
	RUN(verify_keys);
	for (unsigned i = 0; i < 8; i++) {
		p256_ifma_key_free(ik[i]);
		p256_ifma_pub_free(vk[i]);
		EC_KEY_free(eck[i]);
	}
	BN_CTX_free(ctx);
	return t_done("test_p256_ifma");
}
