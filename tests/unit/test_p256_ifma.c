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
 * without a private scalar. Without IFMA on the CPU the tests are skipped
 * and said so.
 */
#include "crypto/p256_ifma.h"
#include "tests/unit/t.h"

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
		if (!ik[i]) {
			printf("test_p256_ifma: p256_ifma_key_new failed\n");
			return 1;
		}
	}
	RUN(random_fills);
	RUN(same_key);
	RUN(edge_nonces);
	RUN(edge_digests_keys);
	RUN(refused_lanes);
	RUN(random_nonces);
	RUN(der);
	RUN(threads);
	RUN(keys);
	for (unsigned i = 0; i < 8; i++) {
		p256_ifma_key_free(ik[i]);
		EC_KEY_free(eck[i]);
	}
	BN_CTX_free(ctx);
	return t_done("test_p256_ifma");
}
