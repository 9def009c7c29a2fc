/*
 * test_x25519_ifma.c - unit tests for crypto/x25519_ifma.c, X25519 eight
 * lanes at once with AVX-512 IFMA.
 *
 * Every lane's result is compared byte for byte with BoringSSL's X25519()
 * (and X25519_public_from_private() for u = 9) on the same inputs: random
 * scalars with random u at every fill level 1..8, many rounds; u values at
 * the edges of the field (0, 1, p-1, p, p+1, 2^255-1, the top bit set, the
 * points of small order, whose result is all zeros and which BoringSSL
 * refuses); scalars whose clamped bits are all set or all clear; the RFC
 * 7748 section 5.2 vectors and 1,000 iterations of its section 5.2 chain
 * run eight lanes at a time.
 *
 * The fixed base (x25519_ifma_base): random scalars at every fill 1..8, 40
 * rounds each, every lane equal to BoringSSL's X25519_public_from_private()
 * and to the ladder's X25519(k, 9), the lanes beyond the fill untouched;
 * scalars at the signed recoding's edges (digits all -8 with +8 on top, all
 * +7, -7s, +8 nibbles), all zeros, all ones, 2^254 alone, the multiples 1..8
 * of the group order, and each single bit 3..254.
 *
 * Through the door (crypto/tls.c): BoringSSL clients handshake at once with
 * our server (tests/bench/hs_pairs.h); one tls_worker_run() round makes
 * every session's key pair and shared secret in IFMA runs of up to 8
 * lanes (8, 7, 5, 1 and 2 at once), the free lanes key pairs for the
 * worker's pool, which later sessions take (exact lanes and pool levels),
 * and BoringSSL takes every precomputed result (none unused). Clients that offer no
 * X25519 share, or a P-256 share first (HelloRetryRequest), and a server
 * whose groups put P-256 first, do not use the door and still complete. A
 * ClientHello whose X25519 share is rewritten in flight to a point of small
 * order fails on the server as BoringSSL's own X25519 makes it fail, alone
 * and in a run of two.
 *
 * The client side (tls_client_conn_set_worker): our clients against
 * BoringSSL servers and against our own servers on the same worker take
 * their key pairs from the worker's pool (exact pool levels and lanes per
 * run, wave after wave, the pool never beyond its 16) and their shared
 * secrets from runs, fed a byte at a time too; TLS 1.2 and a
 * HelloRetryRequest leave the secret to BoringSSL; a ServerHello whose
 * share is rewritten in flight (small order, one bit flipped), plain text
 * and a truncated record fail cleanly; a client freed while queued, a
 * worker freed under a queued client, and a worker freed while a client
 * and a server attached to it wait on their peers with nothing queued.
 *
 * The client's check of the server's CertificateVerify through the door:
 * right and high-s signatures finish only after the door's round (no
 * application data either way before it); a signature over another
 * transcript or by another key fails with the alert the server sees; BER
 * instead of DER is left to BoringSSL, which refuses it; the same verdicts
 * with the check off; a client freed while its check is queued, and a
 * worker freed under queued checks (made inline then). A round whose new
 * keys would push a key out of the worker's cache while the round's lanes
 * use its table (kept: no use after free); a client whose Finished cannot
 * go out at once (TLS_WANT_WRITE after the kept signature): the check
 * waits for the handshake's end, and a transport gone then stays an error.
 * Two keys coming the 4th time in one round: one table built a round.
 *
 * Without IFMA on the CPU the kernel tests are skipped and said so, and
 * the door must leave X25519 and the checks to BoringSSL.
 */
#include "crypto/x25519_ifma.h"
#include "crypto/tls.h"
#include "tests/unit/t.h"
#include "tests/unit/stack_scan.h"
#include "tests/bench/hs_pairs.h"

#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include <openssl/curve25519.h>
#include <openssl/ec_key.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

/* BoringSSL's answer, all-zero results included (X25519() returns 0 for them). */
static void ref(uint8_t out[32], const uint8_t k[32], const uint8_t u[32])
{
	uint8_t zero[32] = { 0 };

	if (!X25519(out, k, u))
		CHECK(memcmp(out, zero, 32) == 0);
}

static void hex(uint8_t *out, const char *s)
{
	for (unsigned i = 0; i < 32; i++) {
		unsigned v;

		sscanf(s + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

/* Random inputs at every fill level; lanes mix key pairs (u = 9) and shared secrets. */
TEST(random_fills)
{
	uint8_t k[8][32], u[8][32], out[8][32], want[32];
	unsigned bad = 0, n = 0;

	for (unsigned round = 0; round < 40; round++)
		for (unsigned fill = 1; fill <= 8; fill++) {
			RAND_bytes((uint8_t *)k, sizeof(k));
			RAND_bytes((uint8_t *)u, sizeof(u));
			for (unsigned i = 0; i < fill; i++)
				if ((round + i) % 3 == 0) {
					memset(u[i], 0, 32);
					u[i][0] = 9;
				}
			memset(out, 0xa5, sizeof(out));
			x25519_ifma_raw(out, (const uint8_t (*)[32])k, (const uint8_t (*)[32])u, fill);
			for (unsigned i = 0; i < fill; i++) {
				ref(want, k[i], u[i]);
				bad += memcmp(out[i], want, 32) != 0;
				n++;
			}
			/* lanes beyond the fill are not written */
			for (unsigned i = fill; i < 8; i++)
				bad += out[i][0] != 0xa5 || out[i][31] != 0xa5;
		}
	CHECK_EQ(bad, 0);
	CHECK_EQ(n, 40 * 36);
}

/* Each lane's clamped scalar and shared secret (not its public value), for stack_below(). */
struct x_needles {
	const uint8_t (*k)[32], (*u)[32];
	uint64_t *nd;
	unsigned m;
};

static void x_needles(void *arg)
{
	struct x_needles *xn = arg;
	uint8_t s[32], v[40] = { 0 };

	for (unsigned i = 0; i < 8; i++) {
		memcpy(s, xn->k[i], 32);
		s[0] &= 248;
		s[31] &= 127;
		s[31] |= 64;
		xn->m = needles_64(s, 32, xn->nd, xn->m);
		xn->m = needles_52(s, 32, xn->nd, xn->m, 5);
		ref(v, xn->k[i], xn->u[i]);
		xn->m = needles_52(v, sizeof(v), xn->nd, xn->m, 5);
		xn->m = needles_64(v, 32, xn->nd, xn->m);
	}
	OPENSSL_cleanse(s, sizeof(s));
	OPENSSL_cleanse(v, sizeof(v));
}

/* Lanes of the runs kept in out[run][] that differ from BoringSSL, for stack_below(). */
struct x_right {
	const uint8_t (*k)[32], (*u)[32];
	uint8_t (*out)[8][32];
	unsigned bad;
};

static void x_right(void *arg)
{
	struct x_right *xr = arg;
	uint8_t want[32];

	for (unsigned n = 1; n <= 8; n++)
		for (unsigned i = 0; i < n; i++) {
			ref(want, xr->k[i], xr->u[i]);
			xr->bad += memcmp(xr->out[2 * (n - 1)][i], want, 32) != 0;
			X25519_public_from_private(want, xr->k[i]);
			xr->bad += memcmp(xr->out[2 * (n - 1) + 1][i], want, 32) != 0;
		}
	OPENSSL_cleanse(want, sizeof(want));
}

/*
 * Both paths leave nothing of their scalars or results (a shared secret,
 * or what gives the scalar back) in the registers or in the stack below
 * their caller (crypto/ifma_burn.h).
 */
TEST(no_secret_left_on_the_stack)
{
	static uint64_t nd[NEEDLES];
	static uint8_t out[16][8][32];
	uint8_t k[8][32], u[8][32];
	struct x_needles xn = { (const uint8_t (*)[32])k, (const uint8_t (*)[32])u, nd, 0 };
	struct x_right xr = { (const uint8_t (*)[32])k, (const uint8_t (*)[32])u, out, 0 };
	unsigned m;

	RAND_bytes((uint8_t *)k, sizeof(k));
	RAND_bytes((uint8_t *)u, sizeof(u));
	stack_below(x_needles, &xn);
	m = xn.m;
	CHECK(m > 8 * 10);
	CHECK(stack_scan_works(nd, m));
	stack_clear();
	CHECK_EQ(stack_hits(nd, m), 0);
	for (unsigned n = 1; n <= 8; n++) {
		stack_fill();
		x25519_ifma_raw(out[2 * (n - 1)], (const uint8_t (*)[32])k, (const uint8_t (*)[32])u, n);
		CHECK_EQ(regs_hits(nd, m), 0);
		CHECK(stack_live(STACK_TOP, STACK_SCAN - 512) <= STACK_LIVE_MAX);
		CHECK_EQ(stack_hits(nd, m), 0);
		stack_fill();
		x25519_ifma_base(out[2 * (n - 1) + 1], (const uint8_t (*)[32])k, n);
		CHECK_EQ(regs_hits(nd, m), 0);
		CHECK(stack_live(STACK_TOP, STACK_SCAN - 512) <= STACK_LIVE_MAX);
		CHECK_EQ(stack_hits(nd, m), 0);
	}
	stack_below(x_right, &xr);
	CHECK_EQ(xr.bad, 0);
	OPENSSL_cleanse(nd, sizeof(nd));
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(out, sizeof(out));
}

/* The key pair path agrees with BoringSSL's base-point multiplication. */
TEST(public_from_private)
{
	uint8_t k[8][32], u[8][32] = { { 9 } }, out[8][32], want[32];
	unsigned bad = 0;

	for (unsigned i = 1; i < 8; i++)
		memcpy(u[i], u[0], 32);
	for (unsigned round = 0; round < 20; round++) {
		RAND_bytes((uint8_t *)k, sizeof(k));
		x25519_ifma_raw(out, (const uint8_t (*)[32])k, (const uint8_t (*)[32])u, 8);
		for (unsigned i = 0; i < 8; i++) {
			X25519_public_from_private(want, k[i]);
			bad += memcmp(out[i], want, 32) != 0;
		}
	}
	CHECK_EQ(bad, 0);
}

/* u at the field's edges, small-order points, non-canonical encodings. */
TEST(edge_points)
{
	static const char *const us[] = {
		"0000000000000000000000000000000000000000000000000000000000000000", /* 0 */
		"0100000000000000000000000000000000000000000000000000000000000000", /* 1 */
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* p-1 */
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* p */
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* p+1 */
		"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* 2^255-1 */
		"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", /* top bit set */
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800", /* order 8 */
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157", /* order 8 */
		"0900000000000000000000000000000000000000000000000000000000000080", /* 9, top bit */
		"daffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", /* p-19+top */
	};
	const unsigned nu = sizeof(us) / sizeof(us[0]);
	uint8_t k[8][32], u[8][32], out[8][32], want[32];
	unsigned bad = 0, zeros = 0;

	for (unsigned start = 0; start < nu; start += 8) {
		unsigned fill = nu - start < 8 ? nu - start : 8;

		for (unsigned variant = 0; variant < 3; variant++) {
			RAND_bytes((uint8_t *)k, sizeof(k));
			for (unsigned i = 0; i < fill; i++) {
				hex(u[i], us[start + i]);
				if (variant == 1)
					memset(k[i], 0xff, 32);  /* every bit clamping clears is set */
				else if (variant == 2)
					memset(k[i], 0x00, 32);  /* only the bits clamping sets */
			}
			x25519_ifma_raw(out, (const uint8_t (*)[32])k, (const uint8_t (*)[32])u, fill);
			for (unsigned i = 0; i < fill; i++) {
				uint8_t z[32] = { 0 };

				ref(want, k[i], u[i]);
				bad += memcmp(out[i], want, 32) != 0;
				zeros += memcmp(out[i], z, 32) == 0;
			}
		}
	}
	CHECK_EQ(bad, 0);
	/* small order: 0, 1, p-1, p (= 0), p+1 (= 1) and the two of order 8, three scalars each */
	CHECK_EQ(zeros, 7 * 3);
}

/* RFC 7748 section 5.2: the two vectors and the iterated chain (1,000 steps). */
TEST(rfc7748)
{
	uint8_t k[8][32], u[8][32], out[8][32], want[32];

	hex(k[0], "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4");
	hex(u[0], "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c");
	hex(k[1], "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d");
	hex(u[1], "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493");
	x25519_ifma_raw(out, (const uint8_t (*)[32])k, (const uint8_t (*)[32])u, 2);
	hex(want, "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
	CHECK(memcmp(out[0], want, 32) == 0);
	hex(want, "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957");
	CHECK(memcmp(out[1], want, 32) == 0);
	ref(want, k[1], u[1]);
	CHECK(memcmp(out[1], want, 32) == 0);

	/* k = u = 9; each step k' = X25519(k, u), u' = k; all eight lanes run the chain */
	for (unsigned i = 0; i < 8; i++) {
		memset(k[i], 0, 32);
		k[i][0] = 9;
		memcpy(u[i], k[i], 32);
	}
	for (unsigned step = 0; step < 1000; step++) {
		x25519_ifma_raw(out, (const uint8_t (*)[32])k, (const uint8_t (*)[32])u, 8);
		memcpy(u, k, sizeof(k));
		memcpy(k, out, sizeof(k));
		if (step == 0) {
			hex(want, "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079");
			CHECK(memcmp(k[0], want, 32) == 0);
		}
	}
	hex(want, "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51");
	for (unsigned i = 0; i < 8; i++)
		CHECK(memcmp(k[i], want, 32) == 0);
}

/* ---- the fixed base: x25519_ifma_base ---- */

/*
 * Lanes 0..n-1 of a base run on k against BoringSSL's public key and the
 * ladder's X25519(k, 9) on the same lanes; the lanes from n on must keep
 * their 0xa5. Returns the number of wrong lanes.
 */
static unsigned base_check(uint8_t k[8][32], unsigned n)
{
	uint8_t out[8][32], lad[8][32], u[8][32] = { { 9 } }, want[32];
	unsigned bad = 0;

	for (unsigned i = 1; i < 8; i++)
		memcpy(u[i], u[0], 32);
	memset(out, 0xa5, sizeof(out));
	x25519_ifma_base(out, (const uint8_t (*)[32])k, n);
	x25519_ifma_raw(lad, (const uint8_t (*)[32])k, (const uint8_t (*)[32])u, n);
	for (unsigned i = 0; i < 8; i++) {
		if (i < n) {
			X25519_public_from_private(want, k[i]);
			bad += memcmp(out[i], want, 32) != 0 || memcmp(out[i], lad[i], 32) != 0;
		} else {
			for (unsigned b = 0; b < 32; b++)
				bad += out[i][b] != 0xa5;
		}
	}
	return bad;
}

/* Random scalars at every fill, 40 rounds each (ymm for 1..4, zmm for 5..8). */
TEST(base_random_fills)
{
	uint8_t k[8][32];
	unsigned bad = 0, runs = 0;

	for (unsigned round = 0; round < 40; round++)
		for (unsigned fill = 1; fill <= 8; fill++) {
			RAND_bytes((uint8_t *)k, sizeof(k));
			bad += base_check(k, fill);
			runs++;
		}
	CHECK_EQ(bad, 0);
	CHECK_EQ(runs, 40 * 8);
}

/*
 * Scalars at the recoding's and the group's edges. The recoding gives
 * digits 0..62 in [-8, 7] and the top one in [4, 8] (clamped: bit 254 set,
 * 255 clear), so "every digit -8" is 78 77 .. 77 (nibble 8, then 7s with a
 * carry each: -8 63 times, and 4..7 + 1 = 8 on top, the only place +8 can
 * be); 70 77 .. 77 makes 0 then +7 everywhere (no carries); 88 .. 88 makes
 * -8 then -7s; all-zero and all-ones clamp to 2^254 alone and to 2^255 - 8
 * (bits 3..254); the multiples 1..8 of the group order L
 * (mod 2^256) clamp to ordinary scalars. Each alone (fill 1), then all
 * eight lanes of each set at once and at fill 5 (the zmm kernel).
 */
TEST(base_edges)
{
	static const uint8_t L[32] = {
		0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
		0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		[31] = 0x10,
	};
	uint8_t set[2][8][32], k[8][32];
	unsigned bad = 0;

	memset(set, 0, sizeof(set));
	memset(set[0][1], 0xff, 32);                    /* all ones */
	memset(set[0][2], 0x77, 32);                    /* every digit -8, the top +8 */
	set[0][2][0] = 0x78;
	memset(set[0][3], 0x77, 32);                    /* 0, then +7 everywhere */
	set[0][3][0] = 0x70;
	memset(set[0][4], 0x88, 32);                    /* -8, then -7s */
	set[0][5][31] = 0x40;                           /* 2^254 alone; set[0][0]: all zero */
	memset(set[0][6], 0x80, 32);                    /* +8 nibbles every other place */
	for (unsigned i = 0; i < 32; i++)
		set[0][7][i] = (uint8_t)(i & 1 ? 0x08 : 0xf8);
	for (unsigned m = 0; m < 8; m++) {              /* (m + 1) L mod 2^256 */
		unsigned c = 0;

		for (unsigned i = 0; i < 32; i++) {
			c += (m ? set[1][m - 1][i] : 0) + L[i];
			set[1][m][i] = (uint8_t)c;
			c >>= 8;
		}
	}
	for (unsigned s = 0; s < 2; s++) {
		for (unsigned i = 0; i < 8; i++) {
			memcpy(k[0], set[s][i], 32);
			bad += base_check(k, 1);
		}
		memcpy(k, set[s], sizeof(k));
		bad += base_check(k, 8);
		bad += base_check(k, 5);
	}
	CHECK_EQ(bad, 0);
	/* 8L's low byte is 0x68: clamping keeps a multiple of 8, not of L */
	CHECK_EQ(set[1][7][0], 0x68);
}

/* Each single bit of a clamped scalar (3..254): every digit position and row. */
TEST(base_single_bits)
{
	uint8_t k[8][32];
	unsigned bad = 0, n = 0;

	for (unsigned bit = 3; bit < 255; bit += 8) {
		memset(k, 0, sizeof(k));
		for (unsigned i = 0; i < 8 && bit + i < 255; i++, n++)
			k[i][(bit + i) / 8] |= (uint8_t)(1u << ((bit + i) % 8));
		bad += base_check(k, 8);
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(n, 252);
}

/* ---- through the door ---- */

static struct tls_ctx *door_ctx(const char *groups)
{
	EVP_PKEY *ek = EVP_PKEY_new();
	EC_KEY *ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
	struct tls_server_cfg cfg;
	struct tls_ctx *ctx;
	char *c, *k, err[256];
	size_t cl, kl;

	EC_KEY_generate_key(ec);
	EVP_PKEY_assign_EC_KEY(ek, ec);
	hs_self_signed(ek, "ec.lab.example", &c, &cl, &k, &kl);
	memset(&cfg, 0, sizeof(cfg));
	cfg.certs[0] = (struct tls_cert_cfg){ .chain_file = "ec", .key_file = "ec", .chain_pem = c,
		.chain_pem_len = cl, .key_pem = k, .key_pem_len = kl };
	cfg.ncerts = 1;
	cfg.min_version = 0x0303;
	cfg.groups = groups;
	ctx = tls_ctx_new(&cfg, err, sizeof(err));
	if (!ctx)
		fprintf(stderr, "tls_ctx_new: %s\n", err);
	EVP_PKEY_free(ek);
	free(c);
	free(k);
	return ctx;
}

/* The client's groups (arg: a BoringSSL curves list, or NULL for its defaults). */
static void groups_setup(SSL *cli, unsigned i, const void *arg)
{
	(void)i;
	if (arg != NULL)
		SSL_set1_curves_list(cli, arg);
}

/* n clients at once (groups: theirs) against ctx; handshakes completed on both sides. */
static unsigned door_round(struct tls_ctx *ctx, struct tls_worker *w, unsigned n, const char *groups)
{
	SSL_CTX *cctx = SSL_CTX_new(TLS_method());
	unsigned done;

	done = hs_round(cctx, ctx, w, n, groups_setup, groups, NULL);
	SSL_CTX_free(cctx);
	return done;
}

#define DELTA(f) (st->f - before.f)

TEST(through_the_door)
{
	struct tls_worker *w = tls_worker_new(hs_key_done);
	const struct tls_key_stats *st = tls_worker_stats(w);
	struct tls_ctx *ctx = door_ctx(NULL), *p256_first = door_ctx("P-256:X25519");
	int cpu = x25519_ifma_cpu();
	struct tls_key_stats before;

	CHECK(ctx != NULL && p256_first != NULL);
	if (!ctx || !p256_first)
		goto out;
	/*
	 * eight at once, the pool empty: a ladder run of their 8 shared
	 * secrets and a fixed-base run of their 8 key pairs (no lane free);
	 * one batch for X25519, one to sign
	 */
	before = *st;
	CHECK_EQ(door_round(ctx, w, 8, NULL), 8);
	CHECK_EQ(DELTA(key_x25519_runs), cpu ? 2 : 0);
	CHECK_EQ(DELTA(key_x25519_lanes), cpu ? 16 : 0);
	CHECK_EQ(tls_worker_x25519_pool(w), 0);
	CHECK_EQ(DELTA(key_batches), cpu ? 2 : 1);
	CHECK_EQ(DELTA(key_batch_ops), 8);              /* the signatures */
	/* seven: a ladder run of 7, a fixed-base run of 7 whose free lane fills the pool */
	before = *st;
	CHECK_EQ(door_round(ctx, w, 7, NULL), 7);
	CHECK_EQ(DELTA(key_x25519_runs), cpu ? 2 : 0);
	CHECK_EQ(DELTA(key_x25519_lanes), cpu ? 15 : 0);
	CHECK_EQ(tls_worker_x25519_pool(w), cpu ? 1 : 0);
	/* five: one takes the pooled key pair; 5 shared secrets, 4 key pairs and 4 for the pool */
	before = *st;
	CHECK_EQ(door_round(ctx, w, 5, NULL), 5);
	CHECK_EQ(DELTA(key_x25519_runs), cpu ? 2 : 0);
	CHECK_EQ(DELTA(key_x25519_lanes), cpu ? 13 : 0);
	CHECK_EQ(tls_worker_x25519_pool(w), cpu ? 4 : 0);
	/* one on a pooled key pair: its shared secret, and a run of 8 for the pool (13 had room) */
	before = *st;
	CHECK_EQ(door_round(ctx, w, 1, NULL), 1);
	CHECK_EQ(DELTA(key_x25519_runs), cpu ? 2 : 0);
	CHECK_EQ(DELTA(key_x25519_lanes), cpu ? 9 : 0);
	CHECK_EQ(tls_worker_x25519_pool(w), cpu ? 11 : 0);
	/* two on pooled key pairs: their shared secrets; 7 places are too few for a pool run */
	before = *st;
	CHECK_EQ(door_round(ctx, w, 2, NULL), 2);
	CHECK_EQ(DELTA(key_x25519_runs), cpu ? 1 : 0);
	CHECK_EQ(DELTA(key_x25519_lanes), cpu ? 2 : 0);
	CHECK_EQ(tls_worker_x25519_pool(w), cpu ? 9 : 0);
	/*
	 * clients without an X25519 share, or whose only share is P-256 (a
	 * HelloRetryRequest for X25519, whose second share BoringSSL computes)
	 */
	before = *st;
	CHECK_EQ(door_round(ctx, w, 4, "P-256"), 4);
	CHECK_EQ(door_round(ctx, w, 4, "P-256:X25519"), 4);
	/* a server that prefers P-256 leaves X25519 to BoringSSL even for clients that share it */
	CHECK_EQ(door_round(p256_first, w, 4, NULL), 4);
	CHECK_EQ(DELTA(key_x25519_runs), 0);
	CHECK_EQ(st->key_x25519_unused, 0);
	CHECK_EQ(st->key_failed, 0);
out:
	tls_ctx_free(ctx);
	tls_ctx_free(p256_first);
	tls_worker_free(w);
}

/* Replace the X25519 share in a ClientHello record with u = 0 (a point of small order). */
static int zero_share(uint8_t *b, size_t len)
{
	static const uint8_t pat[] = { 0x00, 0x1d, 0x00, 0x20 };

	for (size_t i = 0; i + sizeof(pat) + 32 <= len; i++)
		if (memcmp(b + i, pat, sizeof(pat)) == 0) {
			memset(b + i + sizeof(pat), 0, 32);
			return 1;
		}
	return 0;
}

/*
 * n clients whose ClientHello's X25519 share is rewritten to zero in flight;
 * returns how many server sessions failed the handshake (each should).
 */
static unsigned small_order_round(struct tls_ctx *ctx, struct tls_worker *w, unsigned n)
{
	SSL_CTX *cctx = SSL_CTX_new(TLS_method());
	struct hs_pair ps[HS_PAIRS_MAX];
	unsigned failed = 0;
	enum tls_status r[HS_PAIRS_MAX];

	SSL_CTX_set1_curves_list(cctx, "X25519");
	for (unsigned i = 0; i < n; i++) {
		struct hs_pair *p = &ps[i];
		uint8_t buf[4096];
		int len;

		hs_pair_client(p, cctx);
		SSL_do_handshake(p->cli);
		ERR_clear_error();
		len = BIO_read(p->from_cli, buf, sizeof(buf));
		CHECK(len > 0 && zero_share(buf, (size_t)len));
		if (len > 0)
			BIO_write(p->from_cli, buf, len);
		p->srv = hs_pair_server(p, ctx, w);
		r[i] = tls_handshake(p->srv);
	}
	tls_worker_run(w, 64);
	for (unsigned i = 0; i < n; i++) {
		if (r[i] == TLS_WANT_KEY)
			r[i] = tls_handshake(ps[i].srv);
		failed += r[i] == TLS_ERROR;
		hs_pair_free(&ps[i]);
	}
	SSL_CTX_free(cctx);
	return failed;
}

TEST(small_order_share_fails)
{
	struct tls_worker *w = tls_worker_new(hs_key_done);
	const struct tls_key_stats *st = tls_worker_stats(w);
	struct tls_ctx *ctx = door_ctx(NULL);
	int cpu = x25519_ifma_cpu();
	struct tls_key_stats before = *st;

	CHECK(ctx != NULL);
	if (ctx) {
		CHECK_EQ(small_order_round(ctx, w, 1), 1);      /* runs of one (seven key pairs pooled) */
		CHECK_EQ(small_order_round(ctx, w, 2), 2);      /* two, on pooled key pairs; 8 for the pool */
		CHECK_EQ(DELTA(key_x25519_runs), cpu ? 4 : 0);
		CHECK_EQ(DELTA(key_x25519_lanes), cpu ? 19 : 0);
		CHECK_EQ(tls_worker_x25519_pool(w), cpu ? 13 : 0);
		CHECK_EQ(st->key_x25519_unused, 0);
		/* and the same sessions with a real share still complete */
		CHECK_EQ(door_round(ctx, w, 2, NULL), 2);
	}
	tls_ctx_free(ctx);
	tls_worker_free(w);
}

/* Step both ends (and the worker, if any) until the handshake ends; 1 when both are done. */
static int pair_finish(struct hs_pair *p, struct tls_worker *w)
{
	for (unsigned round = 0; round < 20 && !(p->cli_done && p->srv_done); round++) {
		if (!p->cli_done && SSL_do_handshake(p->cli) == 1)
			p->cli_done = 1;
		ERR_clear_error();
		if (!p->srv_done && tls_handshake(p->srv) == TLS_DONE)
			p->srv_done = 1;
		if (w)
			tls_worker_run(w, 64);
	}
	return p->cli_done && p->srv_done;
}

/* Sessions freed while their X25519 work waits; a worker freed under one. */
TEST(queue_frees)
{
	struct tls_worker *w = tls_worker_new(hs_key_done);
	const struct tls_key_stats *st = tls_worker_stats(w);
	struct tls_ctx *ctx = door_ctx(NULL);
	SSL_CTX *cctx = SSL_CTX_new(TLS_method());
	int cpu = x25519_ifma_cpu();
	struct hs_pair ps[3], last;
	struct tls_key_stats before = *st;

	if (!ctx || !cctx) {
		CHECK(0);
		return;
	}
	for (unsigned i = 0; i < 3; i++) {
		hs_pair_client(&ps[i], cctx);
		ps[i].srv = hs_pair_server(&ps[i], ctx, w);
		SSL_do_handshake(ps[i].cli);
		ERR_clear_error();
		CHECK_EQ(tls_handshake(ps[i].srv), TLS_WANT_KEY);   /* X25519, or the signature */
		if (cpu)
			CHECK_EQ(tls_handshake(ps[i].srv), TLS_WANT_KEY);  /* still waiting: retry again */
	}
	CHECK_EQ(tls_worker_pending(w), 3);
	hs_pair_free(&ps[1]);                     /* freed while queued */
	CHECK_EQ(tls_worker_pending(w), 2);
	CHECK(pair_finish(&ps[0], w));
	CHECK(pair_finish(&ps[2], w));
	CHECK_EQ(DELTA(key_x25519_runs), cpu ? 2 : 0);
	CHECK_EQ(DELTA(key_x25519_lanes), cpu ? 10 : 0);   /* 2 shared secrets; 2 key pairs and 6 pooled */
	CHECK_EQ(tls_worker_x25519_pool(w), cpu ? 6 : 0);
	hs_pair_free(&ps[0]);
	hs_pair_free(&ps[2]);
	/* the worker goes away under a queued session: BoringSSL's own X25519 then, signed inline */
	hs_pair_client(&last, cctx);
	last.srv = hs_pair_server(&last, ctx, w);
	SSL_do_handshake(last.cli);
	ERR_clear_error();
	CHECK_EQ(tls_handshake(last.srv), TLS_WANT_KEY);
	CHECK_EQ(st->key_x25519_unused, 0);
	tls_worker_free(w);
	CHECK(pair_finish(&last, NULL));
	hs_pair_free(&last);
	SSL_CTX_free(cctx);
	tls_ctx_free(ctx);
}

/*
 * A ClientHello with an X25519 share whose supported_groups is rewritten in
 * flight to name P-384 instead of X25519: BoringSSL picks P-256 (a
 * HelloRetryRequest), the door's work is not taken, the handshake fails on
 * the altered transcript, and the job is counted unused, once.
 */
TEST(unused_counted)
{
	static const uint8_t groups[] = { 0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x00, 0x1d, 0x00, 0x17 };
	struct tls_worker *w = tls_worker_new(hs_key_done);
	const struct tls_key_stats *st = tls_worker_stats(w);
	struct tls_ctx *ctx = door_ctx(NULL);
	SSL_CTX *cctx = SSL_CTX_new(TLS_method());
	int cpu = x25519_ifma_cpu();
	struct hs_pair p;
	uint8_t buf[4096];
	int len, found = 0, failed = 0;

	if (!ctx || !cctx) {
		CHECK(0);
		return;
	}
	SSL_CTX_set1_curves_list(cctx, "X25519:P-256");
	hs_pair_client(&p, cctx);
	p.srv = hs_pair_server(&p, ctx, w);
	SSL_do_handshake(p.cli);
	ERR_clear_error();
	len = BIO_read(p.from_cli, buf, sizeof(buf));
	for (int i = 0; len > 0 && i + (int)sizeof(groups) <= len; i++)
		if (memcmp(buf + i, groups, sizeof(groups)) == 0) {
			buf[i + 7] = 0x18;      /* secp384r1 */
			found = 1;
			break;
		}
	CHECK(found);
	if (len > 0)
		BIO_write(p.from_cli, buf, len);
	for (unsigned round = 0; round < 20 && !failed; round++) {
		SSL_do_handshake(p.cli);
		ERR_clear_error();
		failed = tls_handshake(p.srv) == TLS_ERROR;
		tls_worker_run(w, 64);
	}
	CHECK(failed);
	CHECK_EQ(st->key_x25519_unused, cpu ? 1 : 0);
	hs_pair_free(&p);
	CHECK_EQ(st->key_x25519_unused, cpu ? 1 : 0);   /* freeing does not count again */
	SSL_CTX_free(cctx);
	tls_ctx_free(ctx);
	tls_worker_free(w);
}


/* ---- the client's X25519 through the door ---- */

/*
 * Our client session (tls_client_conn_new with a worker) and its server: a
 * BoringSSL server (raw) or our own server session (srv), over two memory
 * BIOs.
 */
struct cpair {
	BIO *c2s, *s2c;
	struct tls_conn *cli, *srv;
	SSL *raw;
	int dribble;                            /* the client reads a byte at a time, every other call */
	unsigned rcalls;
	void (*tamper)(uint8_t *b, size_t len); /* rewrites the server's first flight */
	int tampered;
	enum tls_status cst;                    /* the client's last status */
	int srv_st;                             /* 0 going, 1 done, -1 failed */
	int woken;
	int wblock;                             /* the client's writes: 1 take nothing, 2 fail */
};

static void cp_done(void *arg)
{
	((struct cpair *)arg)->woken++;
}

static long cp_cli_read(void *arg, uint8_t *buf, size_t len)
{
	struct cpair *p = arg;
	int n;

	if (p->tamper && !p->tampered && BIO_pending(p->s2c) > 0) {
		uint8_t b[8192];
		int got = BIO_read(p->s2c, b, sizeof(b));

		if (got > 0) {
			p->tamper(b, (size_t)got);
			BIO_write(p->s2c, b, got);
		}
		p->tampered = 1;
	}
	if (p->dribble) {
		if (++p->rcalls & 1)
			return -1;
		len = 1;
	}
	n = BIO_read(p->s2c, buf, (int)len);
	return n >= 0 ? n : -1;         /* 0: the end of the stream (BIO_set_mem_eof_return 0) */
}

static long cp_cli_write(void *arg, const uint8_t *buf, size_t len)
{
	struct cpair *p = arg;

	if (p->wblock)
		return p->wblock == 1 ? 0 : -1;
	return BIO_write(p->c2s, buf, (int)len);
}

static long cp_srv_read(void *arg, uint8_t *buf, size_t len)
{
	int n = BIO_read(((struct cpair *)arg)->c2s, buf, (int)len);

	return n > 0 ? n : -1;
}

static long cp_srv_write(void *arg, const uint8_t *buf, size_t len)
{
	return BIO_write(((struct cpair *)arg)->s2c, buf, (int)len);
}

/* p's client (on worker cw) and its server: raw from sctx, or ours from ctx on worker sw. */
static void cp_open(struct cpair *p, struct tls_ctx *cctx, struct tls_worker *cw, SSL_CTX *sctx,
		    struct tls_ctx *ctx, struct tls_worker *sw)
{
	struct tls_transport ct = { .arg = p, .read = cp_cli_read, .write = cp_cli_write };
	struct tls_transport st = { .arg = p, .read = cp_srv_read, .write = cp_srv_write };

	memset(p, 0, sizeof(*p));
	p->c2s = BIO_new(BIO_s_mem());
	p->s2c = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(p->c2s, -1);
	BIO_set_mem_eof_return(p->s2c, -1);
	p->cli = tls_client_conn_new(cctx, &ct, "mx.lab.example", p);
	CHECK(p->cli != NULL);
	tls_client_conn_set_worker(p->cli, cw);
	if (sctx) {
		p->raw = SSL_new(sctx);
		BIO_up_ref(p->c2s);
		BIO_up_ref(p->s2c);
		SSL_set_bio(p->raw, p->c2s, p->s2c);
		SSL_set_accept_state(p->raw);
	} else {
		p->srv = tls_conn_new(ctx, sw, &st, p);
	}
	p->cst = TLS_WANT_READ;
}

static void cp_free(struct cpair *p)
{
	tls_conn_free(p->cli);
	tls_conn_free(p->srv);
	SSL_free(p->raw);
	BIO_free(p->c2s);
	BIO_free(p->s2c);
	memset(p, 0, sizeof(*p));
}

static int cp_over(const struct cpair *p)
{
	return (p->cst == TLS_DONE || p->cst == TLS_ERROR || p->cst == TLS_CLOSED) && p->srv_st != 0;
}

/* Step n pairs and run the workers (cw, then sw) each round, until every pair is over. */
static void cp_run(struct cpair *ps, unsigned n, struct tls_worker *cw, struct tls_worker *sw)
{
	for (unsigned round = 0; round < 4000; round++) {      /* dribble: a byte a round */
		unsigned over = 0;

		for (unsigned i = 0; i < n; i++) {
			struct cpair *p = &ps[i];

			if (p->cst != TLS_DONE && p->cst != TLS_ERROR && p->cst != TLS_CLOSED)
				p->cst = tls_handshake(p->cli);
			if (p->srv_st == 0 && p->raw) {
				int r = SSL_do_handshake(p->raw);

				if (r == 1)
					p->srv_st = 1;
				else if (SSL_get_error(p->raw, r) != SSL_ERROR_WANT_READ)
					p->srv_st = -1;
				ERR_clear_error();
			} else if (p->srv_st == 0 && p->srv) {
				enum tls_status st = tls_handshake(p->srv);

				p->srv_st = st == TLS_DONE ? 1 : st == TLS_ERROR || st == TLS_CLOSED ? -1 : 0;
			}
			/* a client whose server failed has nothing more to read */
			if (p->srv_st == -1 && p->cst != TLS_DONE && BIO_pending(p->s2c) == 0 &&
			    p->cst != TLS_WANT_KEY)
				p->cst = TLS_ERROR;
			over += cp_over(p);
		}
		if (over == n)
			return;
		if (cw)
			tls_worker_run(cw, 64);
		if (sw && sw != cw)
			tls_worker_run(sw, 64);
	}
}

/* A BoringSSL server context with an ECDSA certificate: groups and the highest version. */
static SSL_CTX *raw_server(const char *groups, uint16_t maxv)
{
	EVP_PKEY *ek = EVP_PKEY_new();
	EC_KEY *ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
	SSL_CTX *sctx = SSL_CTX_new(TLS_method());
	char *c, *k;
	size_t cl, kl;
	BIO *bc, *bk;
	X509 *x;
	EVP_PKEY *pk;

	EC_KEY_generate_key(ec);
	EVP_PKEY_assign_EC_KEY(ek, ec);
	hs_self_signed(ek, "mx.lab.example", &c, &cl, &k, &kl);
	bc = BIO_new_mem_buf(c, (long)cl);
	bk = BIO_new_mem_buf(k, (long)kl);
	x = PEM_read_bio_X509(bc, NULL, NULL, NULL);
	pk = PEM_read_bio_PrivateKey(bk, NULL, NULL, NULL);
	CHECK(x && pk && SSL_CTX_use_certificate(sctx, x) && SSL_CTX_use_PrivateKey(sctx, pk));
	if (groups)
		CHECK(SSL_CTX_set1_curves_list(sctx, groups));
	SSL_CTX_set_max_proto_version(sctx, maxv);
	X509_free(x);
	EVP_PKEY_free(pk);
	EVP_PKEY_free(ek);
	BIO_free(bc);
	BIO_free(bk);
	free(c);
	free(k);
	return sctx;
}

/* Application data both ways over a finished pair (the secrets agree). */
static int cp_talk(struct cpair *p)
{
	static const char ping[] = "EHLO mx.lab.example\r\n", pong[] = "250 mx.lab.example\r\n";
	char buf[64];
	long n;
	int r;

	if (tls_write(p->cli, (const uint8_t *)ping, sizeof(ping) - 1) != (long)sizeof(ping) - 1)
		return 0;
	if (p->raw) {
		r = SSL_read(p->raw, buf, sizeof(buf));
		if (r != (int)sizeof(ping) - 1 || memcmp(buf, ping, (size_t)r) != 0 ||
		    SSL_write(p->raw, pong, sizeof(pong) - 1) != (int)sizeof(pong) - 1)
			return 0;
	} else {
		n = tls_read(p->srv, (uint8_t *)buf, sizeof(buf));
		if (n != (long)sizeof(ping) - 1 || memcmp(buf, ping, (size_t)n) != 0 ||
		    tls_write(p->srv, (const uint8_t *)pong, sizeof(pong) - 1) != (long)sizeof(pong) - 1)
			return 0;
	}
	n = tls_read(p->cli, (uint8_t *)buf, sizeof(buf));
	return n == (long)sizeof(pong) - 1 && memcmp(buf, pong, (size_t)n) == 0;
}

/* The server's X25519 share in its first flight (the ServerHello) set to u = 0. */
static void sh_share_zero(uint8_t *b, size_t len)
{
	CHECK(zero_share(b, len));
}

/* ... or one bit of it flipped (a valid point, the wrong one). */
static void sh_share_flip(uint8_t *b, size_t len)
{
	static const uint8_t pat[] = { 0x00, 0x33, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20 };
	int found = 0;

	for (size_t i = 0; !found && i + sizeof(pat) + 32 <= len; i++)
		if (memcmp(b + i, pat, sizeof(pat)) == 0) {
			b[i + sizeof(pat) + 5] ^= 0x10;
			found = 1;
		}
	CHECK(found);
}

/* Open n pairs (clients on w, BoringSSL servers of sctx), each client's first call made. */
static void cp_wave(struct cpair *ps, unsigned n, struct tls_ctx *cctx, struct tls_worker *w, SSL_CTX *sctx)
{
	for (unsigned i = 0; i < n; i++) {
		cp_open(&ps[i], cctx, w, sctx, NULL, NULL);
		ps[i].cst = tls_handshake(ps[i].cli);   /* the ClientHello: no wait for a key pair */
		CHECK_EQ(ps[i].cst, TLS_WANT_READ);
	}
}

/* Run a wave to its end: every pair done, data both ways, freed. */
static void cp_finish(struct cpair *ps, unsigned n, struct tls_worker *w)
{
	cp_run(ps, n, w, NULL);
	for (unsigned i = 0; i < n; i++) {
		CHECK_EQ(ps[i].cst, TLS_DONE);
		CHECK_EQ(ps[i].srv_st, 1);
		ps[i].dribble = 0;
		CHECK(cp_talk(&ps[i]));
		/* the shared secret, then the server's CertificateVerify (ECDSA P-256) */
		CHECK_EQ(ps[i].woken, x25519_ifma_cpu() ? 2 : 0);
		cp_free(&ps[i]);
	}
}

/*
 * Clients with a worker against BoringSSL servers. The first five find the
 * pool empty (BoringSSL's key pairs); their shared secrets take one ladder
 * run, and a fixed-base run makes 8 key pairs for the pool. The next five
 * take five of those (the handshakes complete: the pool's key pairs are
 * right); their ladder run, and 8 more for the pool. Then one client at a
 * time, each on a pooled key pair: its shared secret is the round's one
 * lane, and once 8 fit, a fixed-base run fills the pool to its 16 (never
 * beyond). One byte at a time, the held ServerHello still assembles.
 * Without a worker, nothing in lanes and the pool is left alone.
 */
TEST(client_door)
{
	struct tls_worker *w = tls_worker_new(cp_done);
	const struct tls_key_stats *st = tls_worker_stats(w);
	char err[256];
	struct tls_ctx *cctx = tls_client_ctx_new(err, sizeof(err));
	SSL_CTX *sctx = raw_server(NULL, TLS1_3_VERSION);
	int cpu = x25519_ifma_cpu();
	static const unsigned pool_after[] = { 10, 9, 16, 15, 14 }, lanes_of[] = { 1, 1, 9, 1, 1 };
	static const unsigned runs_of[] = { 1, 1, 2, 1, 1 };
	struct tls_key_stats before = *st;
	struct cpair ps[5];

	CHECK(cctx != NULL);
	if (!cctx)
		return;
	for (unsigned wave = 0; wave < 2; wave++) {
		before = *st;
		cp_wave(ps, 5, cctx, w, sctx);
		CHECK_EQ(tls_worker_x25519_pool(w), cpu && wave ? 3 : 0);    /* 8 pooled, 5 taken */
		cp_finish(ps, 5, w);
		CHECK_EQ(DELTA(key_x25519_runs), cpu ? 2 : 0);
		CHECK_EQ(DELTA(key_x25519_lanes), cpu ? 13 : 0);  /* 5 shared secrets, 8 key pairs */
		CHECK_EQ(tls_worker_x25519_pool(w), cpu ? (wave ? 11 : 8) : 0);
	}
	for (unsigned wave = 0; wave < 5; wave++) {
		before = *st;
		cp_wave(ps, 1, cctx, w, sctx);
		cp_finish(ps, 1, w);
		CHECK_EQ(DELTA(key_x25519_runs), cpu ? runs_of[wave] : 0);
		CHECK_EQ(DELTA(key_x25519_lanes), cpu ? lanes_of[wave] : 0);
		CHECK_EQ(tls_worker_x25519_pool(w), cpu ? pool_after[wave] : 0);
	}
	/* a byte at a time, with nothing to read every other call */
	before = *st;
	cp_wave(ps, 1, cctx, w, sctx);
	ps[0].dribble = 1;
	cp_run(ps, 1, w, NULL);
	CHECK(ps[0].rcalls > 500);
	cp_finish(ps, 1, w);
	CHECK_EQ(DELTA(key_x25519_lanes), cpu ? 1 : 0);
	CHECK_EQ(st->key_x25519_unused, 0);
	/* without a worker, BoringSSL's own as before; the pool is left alone */
	before = *st;
	cp_open(&ps[0], cctx, NULL, sctx, NULL, NULL);
	cp_run(ps, 1, NULL, NULL);
	CHECK_EQ(ps[0].cst, TLS_DONE);
	CHECK(cp_talk(&ps[0]));
	CHECK_EQ(DELTA(key_x25519_lanes), 0);
	CHECK_EQ(tls_worker_x25519_pool(w), cpu ? 13 : 0);
	cp_free(&ps[0]);
	SSL_CTX_free(sctx);
	tls_ctx_free(cctx);
	tls_worker_free(w);
}

/*
 * Servers that do not give the client's lanes a share: TLS 1.2 (its
 * ECDHE key is BoringSSL's), a HelloRetryRequest for P-256. The client
 * takes a key pair from the pool for its ClientHello, nothing is queued,
 * and the handshakes complete.
 */
TEST(client_door_fallbacks)
{
	struct tls_worker *w = tls_worker_new(cp_done);
	const struct tls_key_stats *st = tls_worker_stats(w);
	char err[256];
	struct tls_ctx *cctx = tls_client_ctx_new(err, sizeof(err));
	SSL_CTX *s13 = raw_server(NULL, TLS1_3_VERSION), *s12 = raw_server(NULL, TLS1_2_VERSION),
		*s12x = raw_server("X25519", TLS1_2_VERSION), *hrr = raw_server("P-256", TLS1_3_VERSION);
	SSL_CTX *const servers[] = { s12, s12x, hrr };
	int cpu = x25519_ifma_cpu();
	struct cpair p;

	CHECK(cctx != NULL);
	if (!cctx)
		return;
	cp_wave(&p, 1, cctx, w, s13);   /* fills the pool: 7 key pairs */
	cp_finish(&p, 1, w);
	for (unsigned i = 0; i < 3; i++) {
		struct tls_key_stats before = *st;
		unsigned pool = tls_worker_x25519_pool(w);
		struct tls_macros m;

		cp_open(&p, cctx, w, servers[i], NULL, NULL);
		cp_run(&p, 1, w, NULL);
		CHECK_EQ(p.cst, TLS_DONE);
		CHECK(cp_talk(&p));
		tls_get_macros(p.cli, &m);
		CHECK(strcmp(m.version, i < 2 ? "TLSv1.2" : "TLSv1.3") == 0);
		CHECK_EQ(DELTA(key_x25519_runs), 0);
		CHECK_EQ(p.woken, cpu && i == 2 ? 1 : 0);       /* TLS 1.3: the CertificateVerify */
		CHECK_EQ(tls_worker_x25519_pool(w), cpu ? pool - 1 : 0);
		cp_free(&p);
	}
	CHECK_EQ(st->key_x25519_unused, 0);
	SSL_CTX_free(s13);
	SSL_CTX_free(s12);
	SSL_CTX_free(s12x);
	SSL_CTX_free(hrr);
	tls_ctx_free(cctx);
	tls_worker_free(w);
}

/*
 * A ServerHello rewritten in flight: a share of small order (the lanes make
 * an all-zero secret, refused as BoringSSL refuses it) and a share with one
 * bit flipped (the secrets differ; the server's Finished fails). The client
 * fails cleanly. Plain text where the ServerHello should be (a server that
 * did not start TLS), and a record header announcing more than ever comes:
 * BoringSSL's own errors, nothing queued.
 */
TEST(client_door_hostile_server)
{
	struct tls_worker *w = tls_worker_new(cp_done);
	const struct tls_key_stats *st = tls_worker_stats(w);
	char err[256];
	struct tls_ctx *cctx = tls_client_ctx_new(err, sizeof(err));
	SSL_CTX *sctx = raw_server("X25519", TLS1_3_VERSION);
	void (*const tamper[])(uint8_t *, size_t) = { sh_share_zero, sh_share_flip };
	static const char *const junk[] = { "220 mx.lab.example ESMTP\r\n", "\x16\x03\x03\x40\x00\x02" };
	int cpu = x25519_ifma_cpu();
	struct cpair p;

	CHECK(cctx != NULL);
	if (!cctx)
		return;
	for (unsigned i = 0; i < 2; i++) {
		struct tls_key_stats before = *st;

		cp_open(&p, cctx, w, sctx, NULL, NULL);
		p.tamper = tamper[i];
		cp_run(&p, 1, w, NULL);
		CHECK_EQ(p.cst, TLS_ERROR);
		CHECK(p.tampered);
		/* the shared secret went through lanes, and 8 key pairs to the pool (room for 16, then 8) */
		CHECK_EQ(DELTA(key_x25519_runs), cpu ? 2 : 0);
		CHECK_EQ(p.woken, cpu ? 1 : 0);
		cp_free(&p);
	}
	for (unsigned i = 0; i < 2; i++) {
		struct tls_key_stats before = *st;
		enum tls_status r = TLS_WANT_KEY;

		cp_open(&p, cctx, w, sctx, NULL, NULL);
		SSL_free(p.raw);
		p.raw = NULL;
		for (unsigned round = 0; round < 4 && (r == TLS_WANT_KEY || r == TLS_WANT_READ); round++) {
			r = tls_handshake(p.cli);
			tls_worker_run(w, 64);
			if (round == 1)
				BIO_write(p.s2c, junk[i], (int)strlen(junk[i]));
		}
		if (i == 1) {   /* the rest never comes: the stream ends */
			CHECK_EQ(r, TLS_WANT_READ);
			BIO_set_mem_eof_return(p.s2c, 0);
			r = tls_handshake(p.cli);
		}
		CHECK(r == TLS_ERROR || r == TLS_CLOSED);
		CHECK_EQ(DELTA(key_x25519_runs), 0);
		CHECK_EQ(tls_worker_pending(w), 0);
		cp_free(&p);
	}
	SSL_CTX_free(sctx);
	tls_ctx_free(cctx);
	tls_worker_free(w);
}

/* Step a client and its BoringSSL server until the client's shared secret is queued in w. */
static void cp_until_queued(struct cpair *p, struct tls_worker *w)
{
	for (unsigned round = 0; round < 6 && tls_worker_pending(w) == 0; round++) {
		tls_handshake(p->cli);
		SSL_do_handshake(p->raw);
		ERR_clear_error();
	}
}

/*
 * Our clients and our servers on one worker, as an mxgate worker relaying
 * to a TLS backend would have them: the servers' key pairs share
 * fixed-base runs with the pool's, and the pool, filled by the servers'
 * round, feeds the clients' round. Then a
 * client freed while its shared secret is queued, and a worker freed under
 * a queued client (BoringSSL's own X25519 then).
 */
TEST(client_and_server_door)
{
	struct tls_worker *w = tls_worker_new(cp_done);
	const struct tls_key_stats *st = tls_worker_stats(w);
	char err[256];
	struct tls_ctx *cctx = tls_client_ctx_new(err, sizeof(err)), *ctx = door_ctx(NULL);
	SSL_CTX *sctx = raw_server(NULL, TLS1_3_VERSION);
	int cpu = x25519_ifma_cpu();
	struct tls_key_stats before = *st;
	struct cpair ps[3];

	CHECK(cctx != NULL && ctx != NULL);
	if (!cctx || !ctx)
		return;
	for (unsigned i = 0; i < 3; i++)
		cp_open(&ps[i], cctx, w, NULL, ctx, w);
	cp_run(ps, 3, w, w);
	for (unsigned i = 0; i < 3; i++) {
		CHECK_EQ(ps[i].cst, TLS_DONE);
		CHECK_EQ(ps[i].srv_st, 1);
		CHECK(cp_talk(&ps[i]));
		cp_free(&ps[i]);
	}
	/*
	 * the servers' 3 shared secrets, and their 3 key pairs + 5 for the pool;
	 * then the clients' 3 shared secrets, and 8 for the pool
	 */
	CHECK_EQ(DELTA(key_x25519_runs), cpu ? 4 : 0);
	CHECK_EQ(DELTA(key_x25519_lanes), cpu ? 22 : 0);
	CHECK_EQ(tls_worker_x25519_pool(w), cpu ? 13 : 0);
	CHECK_EQ(st->key_x25519_unused, 0);
	/* freed with its shared secret queued */
	cp_open(&ps[0], cctx, w, sctx, NULL, NULL);
	cp_until_queued(&ps[0], w);
	CHECK_EQ(tls_worker_pending(w), cpu ? 1 : 0);
	cp_free(&ps[0]);
	CHECK_EQ(tls_worker_pending(w), 0);
	/* the worker goes away under a client whose shared secret is queued */
	cp_open(&ps[0], cctx, w, sctx, NULL, NULL);
	cp_until_queued(&ps[0], w);
	CHECK_EQ(tls_worker_pending(w), cpu ? 1 : 0);
	tls_worker_free(w);
	cp_run(ps, 1, NULL, NULL);
	CHECK_EQ(ps[0].cst, TLS_DONE);
	CHECK(cp_talk(&ps[0]));
	cp_free(&ps[0]);
	/*
	 * a worker freed while its sessions wait on the peer, nothing queued:
	 * a client after its ClientHello, our server before the ClientHello
	 * (their worker is gone for them: BoringSSL's own and inline signing
	 * from then on; ASan sees any use of the freed worker)
	 */
	w = tls_worker_new(cp_done);
	cp_open(&ps[0], cctx, w, sctx, NULL, NULL);
	cp_open(&ps[1], cctx, NULL, NULL, ctx, w);
	CHECK_EQ(tls_handshake(ps[0].cli), TLS_WANT_READ);
	CHECK_EQ(tls_handshake(ps[1].srv), TLS_WANT_READ);
	tls_worker_free(w);
	cp_run(ps, 2, NULL, NULL);
	for (unsigned i = 0; i < 2; i++) {
		CHECK_EQ(ps[i].cst, TLS_DONE);
		CHECK_EQ(ps[i].srv_st, 1);
		CHECK(cp_talk(&ps[i]));
		CHECK_EQ(ps[i].woken, 0);
		cp_free(&ps[i]);
	}
	SSL_CTX_free(sctx);
	tls_ctx_free(cctx);
	tls_ctx_free(ctx);
}

/* ---- the server's CertificateVerify checked by the client's door ---- */

/*
 * A BoringSSL server whose signatures come from cv_sign below (a private
 * key method): honest, or what a false or broken server would send.
 */
enum cv_mode { CV_HONEST, CV_OTHER_MSG, CV_OTHER_KEY, CV_LAX_DER, CV_HIGH_S };
static enum cv_mode cv_mode;
static EVP_PKEY *cv_key, *cv_other;

static enum ssl_private_key_result_t cv_sign(SSL *ssl, uint8_t *out, size_t *out_len, size_t max_out,
					     uint16_t alg, const uint8_t *in, size_t in_len)
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	uint8_t msg[512], dig[32];
	ECDSA_SIG *es = NULL;
	uint8_t *der = NULL;
	size_t len = max_out, dl = 0;
	int ok;

	if (SSL_get_app_data(ssl))      /* this server's own mode, + 1 */
		cv_mode = (enum cv_mode)((uintptr_t)SSL_get_app_data(ssl) - 1);
	CHECK(alg == SSL_SIGN_ECDSA_SECP256R1_SHA256 && in_len <= sizeof(msg));
	memcpy(msg, in, in_len);
	if (cv_mode == CV_OTHER_MSG)
		msg[in_len - 1] ^= 1;           /* the transcript hash's last bit */
	/* (the lax DER needs a byte of room: a signature of 71 bytes at most) */
	for (unsigned t = 0; t < 64; t++) {
		len = max_out;
		ok = EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, cv_mode == CV_OTHER_KEY ? cv_other : cv_key) &&
		     EVP_DigestSign(m, out, &len, msg, in_len);
		if (!ok || cv_mode != CV_LAX_DER || len < max_out)
			break;
	}
	EVP_MD_CTX_free(m);
	if (ok && (cv_mode == CV_LAX_DER || cv_mode == CV_HIGH_S)) {
		es = ECDSA_SIG_from_bytes(out, len);
		CHECK(es != NULL);
		if (cv_mode == CV_HIGH_S) {     /* n - s: as valid, ECDSA has no canonical s */
			const BIGNUM *n = EC_GROUP_get0_order(EC_KEY_get0_group(EVP_PKEY_get0_EC_KEY(cv_key)));

			CHECK(BN_sub(es->s, n, es->s));
			CHECK(ECDSA_SIG_to_bytes(&der, &dl, es) && dl <= max_out);
			memcpy(out, der, dl);
			len = dl;
		} else {                        /* the same r and s, a long-form length: not DER */
			CHECK(len + 1 <= max_out && out[1] < 0x80);
			memmove(out + 3, out + 2, len - 2);
			out[2] = out[1];
			out[1] = 0x81;
			len++;
		}
		SHA256(in, in_len, dig);
		CHECK_EQ(ECDSA_do_verify(dig, 32, es, EVP_PKEY_get0_EC_KEY(cv_key)), 1);
		OPENSSL_free(der);
		ECDSA_SIG_free(es);
	}
	*out_len = len;
	return ok ? ssl_private_key_success : ssl_private_key_failure;
}

static enum ssl_private_key_result_t cv_complete(SSL *ssl, uint8_t *out, size_t *out_len, size_t max_out)
{
	(void)ssl, (void)out, (void)out_len, (void)max_out;
	return ssl_private_key_failure;
}

static const SSL_PRIVATE_KEY_METHOD cv_method = { .sign = cv_sign, .complete = cv_complete };

/* A TLS 1.3 server with an ECDSA P-256 certificate signing through cv_sign. */
static SSL_CTX *cv_server(void)
{
	SSL_CTX *sctx = SSL_CTX_new(TLS_method());
	EC_KEY *ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1), *eo = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
	char *c, *k;
	size_t cl, kl;
	BIO *bc;
	X509 *x;

	CHECK(EC_KEY_generate_key(ec) && EC_KEY_generate_key(eo));
	cv_key = EVP_PKEY_new();
	cv_other = EVP_PKEY_new();
	EVP_PKEY_assign_EC_KEY(cv_key, ec);
	EVP_PKEY_assign_EC_KEY(cv_other, eo);
	hs_self_signed(cv_key, "mx.lab.example", &c, &cl, &k, &kl);
	bc = BIO_new_mem_buf(c, (long)cl);
	x = PEM_read_bio_X509(bc, NULL, NULL, NULL);
	CHECK(x && SSL_CTX_use_certificate(sctx, x));
	SSL_CTX_set_private_key_method(sctx, &cv_method);
	SSL_CTX_set_min_proto_version(sctx, TLS1_3_VERSION);
	X509_free(x);
	BIO_free(bc);
	free(c);
	free(k);
	return sctx;
}

/*
 * Our clients on a worker against servers whose CertificateVerify is
 * right, signed over another transcript, signed by another key, high-s,
 * and in BER instead of DER. The right ones finish only after the door's
 * round (TLS_WANT_KEY before it, however often asked); the wrong ones fail
 * with a decrypt_error alert the server sees, and nothing else reaches it;
 * the lax DER is never taken (BoringSSL refuses it inline). With the
 * check off, BoringSSL does it all inline, with the same verdicts.
 */
TEST(client_cv_door)
{
	struct tls_worker *w = tls_worker_new(cp_done);
	const struct tls_key_stats *st = tls_worker_stats(w);
	char err[256];
	struct tls_ctx *cctx = tls_client_ctx_new(err, sizeof(err));
	SSL_CTX *sctx = cv_server();
	int cpu = x25519_ifma_cpu();
	static const enum cv_mode modes[] = { CV_HONEST, CV_OTHER_MSG, CV_OTHER_KEY, CV_HIGH_S, CV_LAX_DER };
	struct cpair ps[6];
	int first_wave = 1, first;

	CHECK(cctx != NULL);
	if (!cctx)
		return;
	for (unsigned off = 0; off < 2; off++) {
		tls_cv_lanes_set(!off);
		for (unsigned m = 0; m < 5; m++) {
			int good = modes[m] == CV_HONEST || modes[m] == CV_HIGH_S;
			int kept = cpu && !off && modes[m] != CV_LAX_DER;
			struct tls_key_stats before = *st;
			uint8_t buf[64];

			cv_mode = modes[m];
			cp_wave(ps, 6, cctx, w, sctx);
			/* until every client has sent its Finished and waits on the door (or is over) */
			for (unsigned round = 0; round < 8; round++) {
				for (unsigned i = 0; i < 6; i++) {
					if (SSL_do_handshake(ps[i].raw) != 1)
						ERR_clear_error();
					if (ps[i].cst != TLS_ERROR && ps[i].cst != TLS_DONE)
						ps[i].cst = tls_handshake(ps[i].cli);
				}
				if (tls_worker_pending(w) == 6 && DELTA(key_x25519_runs) > 0)
					break;  /* the CertificateVerify checks queued */
				tls_worker_run(w, 64);
			}
			for (unsigned i = 0; i < 6; i++) {
				if (!kept)
					continue;
				CHECK_EQ(ps[i].cst, TLS_WANT_KEY);
				CHECK_EQ(tls_handshake(ps[i].cli), TLS_WANT_KEY);       /* asked again: still */
				/* no application data either way before the check */
				CHECK_EQ(tls_read(ps[i].cli, buf, sizeof(buf)), -(long)TLS_WANT_KEY);
				CHECK_EQ(tls_write(ps[i].cli, (const uint8_t *)"QUIT\r\n", 6), -(long)TLS_WANT_KEY);
			}
			if (kept)
				CHECK_EQ(tls_worker_pending(w), 6);
			cp_run(ps, 6, w, NULL);
			for (unsigned i = 0; i < 6; i++) {
				CHECK_EQ(ps[i].cst, good ? TLS_DONE : TLS_ERROR);
				if (good) {
					CHECK(cp_talk(&ps[i]));
				} else {
					int n = SSL_read(ps[i].raw, buf, sizeof(buf));

					CHECK(n <= 0);  /* the alert, no data */
					if (kept)
						CHECK(strcmp(tls_error_reason(ps[i].cli),
							     "bad CertificateVerify signature") == 0);
					ERR_clear_error();
				}
				cp_free(&ps[i]);
			}
			/*
			 * The key's lane table is built when it comes the 4th time: the
			 * first three checks are BoringSSL's, then one run of 3; from
			 * then on one run of 6, and BoringSSL judges what the lanes
			 * did not show valid.
			 */
			first = kept && first_wave;
			CHECK_EQ(DELTA(key_cv_runs), kept ? 1 : 0);
			CHECK_EQ(DELTA(key_cv_lanes), first ? 3 : kept ? 6 : 0);
			CHECK_EQ(DELTA(key_cv_scalar), first ? 3 : kept && !good ? 6 : 0);
			CHECK_EQ(DELTA(key_cv_bad), kept && !good ? 6 : 0);
			first_wave &= !kept;
		}
	}
	tls_cv_lanes_set(1);
	/* servers showing a new key each time: BoringSSL checks each, no table is built */
	{
		struct tls_worker *w2 = tls_worker_new(cp_done);
		const struct tls_key_stats *st2 = tls_worker_stats(w2);

		cv_mode = CV_HONEST;
		EVP_PKEY_free(cv_key);  /* sctx's keys: sctx is made afresh below */
		EVP_PKEY_free(cv_other);
		for (unsigned i = 0; i < 6; i++) {
			SSL_CTX *fresh = cv_server();

			cp_wave(ps, 2, cctx, w2, fresh);
			cp_run(ps, 2, w2, NULL);
			for (unsigned k = 0; k < 2; k++) {
				CHECK_EQ(ps[k].cst, TLS_DONE);
				CHECK(cp_talk(&ps[k]));
				cp_free(&ps[k]);
			}
			SSL_CTX_free(fresh);
			EVP_PKEY_free(cv_key);
			EVP_PKEY_free(cv_other);
		}
		CHECK_EQ(st2->key_cv_runs, 0);
		CHECK_EQ(st2->key_cv_scalar, cpu ? 12 : 0);
		tls_worker_free(w2);
		cv_key = cv_other = NULL;
		SSL_CTX_free(sctx);
		sctx = cv_server();     /* a fresh one for the rest */
	}
	/* a client freed while its check is queued; then the worker freed under queued checks */
	cv_mode = CV_HONEST;
	cp_wave(ps, 1, cctx, w, sctx);
	for (unsigned round = 0; round < 3; round++) {
		if (SSL_do_handshake(ps[0].raw) != 1)
			ERR_clear_error();
		ps[0].cst = tls_handshake(ps[0].cli);
		if (round == 0)
			tls_worker_run(w, 64);  /* the shared secret */
	}
	CHECK_EQ(ps[0].cst, cpu ? TLS_WANT_KEY : TLS_DONE);
	CHECK_EQ(tls_worker_pending(w), cpu ? 1 : 0);
	cp_free(&ps[0]);
	CHECK_EQ(tls_worker_pending(w), 0);
	cp_wave(ps, 2, cctx, w, sctx);
	SSL_set_app_data(ps[1].raw, (void *)(uintptr_t)(CV_OTHER_KEY + 1));
	for (unsigned round = 0; round < 8 && tls_worker_pending(w) < 2; round++) {
		for (unsigned i = 0; i < 2; i++) {
			if (SSL_do_handshake(ps[i].raw) != 1)
				ERR_clear_error();
			ps[i].cst = tls_handshake(ps[i].cli);
		}
		if (round == 0)
			tls_worker_run(w, 64);  /* the shared secrets */
	}
	CHECK_EQ(tls_worker_pending(w), cpu ? 2 : 0);
	tls_worker_free(w);     /* the checks are made inline, when the clients next ask */
	w = NULL;
	cp_run(ps, 2, NULL, NULL);
	CHECK_EQ(ps[0].cst, TLS_DONE);
	CHECK(cp_talk(&ps[0]));
	CHECK_EQ(ps[1].cst, TLS_ERROR);
	cp_free(&ps[0]);
	cp_free(&ps[1]);
	SSL_CTX_free(sctx);
	EVP_PKEY_free(cv_key);
	EVP_PKEY_free(cv_other);
	tls_ctx_free(cctx);
	tls_worker_free(w);
}

/*
 * One round of checks whose new keys push out of the worker's cache (4
 * keys) a key whose lane table the same round's lanes use: two clients of
 * a server whose key has its table, then four of servers with fresh keys,
 * queued in that order. The table must outlive the round's lanes (ASan:
 * no use after free; in a build without it, the freed table's memory may
 * go to a table built later in the round, and the lanes would check the
 * first key's signatures with another key); every handshake completes.
 */
TEST(client_cv_evict_in_round)
{
	struct tls_worker *w = tls_worker_new(cp_done);
	const struct tls_key_stats *st = tls_worker_stats(w);
	char err[256];
	struct tls_ctx *cctx = tls_client_ctx_new(err, sizeof(err));
	int cpu = x25519_ifma_cpu();
	struct tls_key_stats before;
	SSL_CTX *s[5];
	struct cpair ps[6];

	CHECK(cctx != NULL);
	if (!cctx)
		return;
	for (unsigned i = 0; i < 5; i++)
		s[i] = raw_server(NULL, TLS1_3_VERSION);
	/* s[0]'s key comes 4 times in one round: its table is built */
	cp_wave(ps, 4, cctx, w, s[0]);
	cp_run(ps, 4, w, NULL);
	for (unsigned i = 0; i < 4; i++) {
		CHECK_EQ(ps[i].cst, TLS_DONE);
		cp_free(&ps[i]);
	}
	before = *st;
	for (unsigned i = 0; i < 6; i++) {
		cp_open(&ps[i], cctx, w, s[i < 2 ? 0 : i - 1], NULL, NULL);
		ps[i].cst = tls_handshake(ps[i].cli);
	}
	cp_run(ps, 6, w, NULL);
	for (unsigned i = 0; i < 6; i++) {
		CHECK_EQ(ps[i].cst, TLS_DONE);
		CHECK(cp_talk(&ps[i]));
		cp_free(&ps[i]);
	}
	/* s[0]'s two in a run of 2 lanes; the four new keys BoringSSL's */
	CHECK_EQ(DELTA(key_cv_runs), cpu ? 1 : 0);
	CHECK_EQ(DELTA(key_cv_lanes), cpu ? 2 : 0);
	CHECK_EQ(DELTA(key_cv_scalar), cpu ? 4 : 0);
	CHECK_EQ(DELTA(key_cv_bad), 0);
	for (unsigned i = 0; i < 5; i++)
		SSL_CTX_free(s[i]);
	tls_ctx_free(cctx);
	tls_worker_free(w);
}

/*
 * A round builds one key table at most: two servers' keys each come the
 * 4th time in one round: only the first gets its table (its one lane is a
 * lone check: BoringSSL's), the second waits for the next round, which
 * then runs both keys' four checks in one run.
 */
TEST(client_cv_one_build_a_round)
{
	struct tls_worker *w = tls_worker_new(cp_done);
	const struct tls_key_stats *st = tls_worker_stats(w);
	char err[256];
	struct tls_ctx *cctx = tls_client_ctx_new(err, sizeof(err));
	int cpu = x25519_ifma_cpu();
	SSL_CTX *s[2] = { raw_server(NULL, TLS1_3_VERSION), raw_server(NULL, TLS1_3_VERSION) };
	struct tls_key_stats before = *st;
	struct cpair ps[8];

	CHECK(cctx != NULL);
	if (!cctx)
		return;
	for (unsigned round = 0; round < 2; round++) {
		unsigned n = round ? 4 : 8;

		before = *st;
		for (unsigned i = 0; i < n; i++) {
			cp_open(&ps[i], cctx, w, s[i % 2], NULL, NULL);
			ps[i].cst = tls_handshake(ps[i].cli);
		}
		cp_run(ps, n, w, NULL);
		for (unsigned i = 0; i < n; i++) {
			CHECK_EQ(ps[i].cst, TLS_DONE);
			CHECK(cp_talk(&ps[i]));
			cp_free(&ps[i]);
		}
		CHECK_EQ(DELTA(key_cv_runs), cpu && round ? 1 : 0);
		CHECK_EQ(DELTA(key_cv_lanes), cpu && round ? 4 : 0);
		CHECK_EQ(DELTA(key_cv_scalar), cpu && !round ? 8 : 0);
	}
	SSL_CTX_free(s[0]);
	SSL_CTX_free(s[1]);
	tls_ctx_free(cctx);
	tls_worker_free(w);
}

/*
 * The server's CertificateVerify kept, then the client's Finished cannot
 * go out (the transport takes nothing: TLS_WANT_WRITE): the handshake is
 * not over, and the next call must finish it (the Finished out, the check
 * queued, TLS_WANT_KEY) rather than end it with the kept check alone. A
 * transport gone at that point is TLS_ERROR, and stays so when asked
 * again (not TLS_DONE on the strength of the kept signature).
 */
TEST(client_cv_write_blocked)
{
	struct tls_worker *w = tls_worker_new(cp_done);
	const struct tls_key_stats *st = tls_worker_stats(w);
	char err[256];
	struct tls_ctx *cctx = tls_client_ctx_new(err, sizeof(err));
	SSL_CTX *sctx = raw_server(NULL, TLS1_3_VERSION);
	struct tls_key_stats before;
	struct tls_macros m;
	struct cpair p;

	CHECK(cctx != NULL);
	if (!cctx || !x25519_ifma_cpu()) {      /* without IFMA nothing is kept: nothing to see */
		SSL_CTX_free(sctx);
		tls_ctx_free(cctx);
		tls_worker_free(w);
		return;
	}
	for (int gone = 0; gone < 2; gone++) {
		before = *st;
		cp_wave(&p, 1, cctx, w, sctx);
		CHECK_EQ(SSL_do_handshake(p.raw), -1);          /* the server's flight */
		ERR_clear_error();
		CHECK_EQ(tls_handshake(p.cli), TLS_WANT_KEY);   /* the shared secret */
		tls_worker_run(w, 64);
		CHECK_EQ(p.woken, 1);
		p.wblock = gone ? 2 : 1;
		p.cst = tls_handshake(p.cli);   /* the CertificateVerify kept, the Finished stuck */
		CHECK_EQ(p.cst, gone ? TLS_ERROR : TLS_WANT_WRITE);
		if (gone) {     /* asked again, the transport still gone: not TLS_DONE */
			CHECK_EQ(tls_handshake(p.cli), TLS_ERROR);
			CHECK_EQ(tls_worker_pending(w), 0);
			cp_free(&p);
			continue;
		}
		p.wblock = 0;
		p.cst = tls_handshake(p.cli);
		CHECK_EQ(p.cst, TLS_WANT_KEY);
		CHECK_EQ(tls_worker_pending(w), 1);
		CHECK_EQ(SSL_do_handshake(p.raw), 1);           /* the client's Finished came */
		tls_worker_run(w, 64);
		CHECK_EQ(p.woken, 2);
		p.cst = tls_handshake(p.cli);
		CHECK_EQ(p.cst, TLS_DONE);
		tls_get_macros(p.cli, &m);
		CHECK_STR(m.version, "TLSv1.3");
		CHECK(cp_talk(&p));
		CHECK_EQ(DELTA(key_cv_scalar), 1);      /* the door's check, not one inline */
		cp_free(&p);
	}
	SSL_CTX_free(sctx);
	tls_ctx_free(cctx);
	tls_worker_free(w);
}

/*
 * A process where another libcrypto's EVP_DigestVerify comes before
 * BoringSSL's (build/foreign_evp.so preloaded): a copy of this program
 * running client_cv_door must stop at once, naming the stranger, and never
 * call it (which would pass it BoringSSL's structures).
 */
TEST(foreign_libcrypto_refused)
{
	char exe[4096], so[4200], pre[8400] = "", line[4600], err[4096] = "";
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	FILE *maps = fopen("/proc/self/maps", "r");
	int fds[2], status = 0;
	pid_t pid;

	CHECK(n > 0 && maps && pipe(fds) == 0);
	if (n <= 0 || !maps)
		return;
	exe[n] = 0;
	snprintf(so, sizeof(so), "%.*s/foreign_evp.so", (int)(strrchr(exe, '/') - exe), exe);
	while (fgets(line, sizeof(line), maps))         /* ASan's runtime must come first */
		if (!pre[0] && strstr(line, "/libasan.so"))
			snprintf(pre, sizeof(pre), "%s", strchr(line, '/'));
	fclose(maps);
	pre[strcspn(pre, "\n")] = 0;
	snprintf(pre + strlen(pre), sizeof(pre) - strlen(pre), "%s%s", pre[0] ? " " : "", so);
	CHECK(access(so, R_OK) == 0);
	pid = fork();
	if (pid == 0) {
		dup2(fds[1], 2);
		setenv("LD_PRELOAD", pre, 1);
		setenv("MXT_FOREIGN", "1", 1);
		execl(exe, exe, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	for (size_t got = 0; (n = read(fds[0], err + got, sizeof(err) - 1 - got)) > 0; got += (size_t)n)
		err[got + (size_t)n] = 0;
	close(fds[0]);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
	CHECK(strstr(err, "mxgate: EVP_DigestVerify comes from") && strstr(err, "foreign_evp.so"));
	CHECK(!strstr(err, "foreign EVP_DigestVerify called"));
}

int main(void)
{
	if (getenv("MXT_FOREIGN")) {    /* the copy foreign_libcrypto_refused runs */
		RUN(client_cv_door);
		return t_done("test_x25519_ifma (foreign)");
	}
	if (!x25519_ifma_cpu()) {
		printf("test_x25519_ifma: this CPU has no AVX-512 IFMA: the kernel tests are skipped\n");
	} else {
		RUN(random_fills);
		RUN(no_secret_left_on_the_stack);
		RUN(public_from_private);
		RUN(edge_points);
		RUN(rfc7748);
		RUN(base_random_fills);
		RUN(base_edges);
		RUN(base_single_bits);
	}
	RUN(through_the_door);
	RUN(small_order_share_fails);
	RUN(queue_frees);
	RUN(unused_counted);
	RUN(client_door);
	RUN(client_door_fallbacks);
	RUN(client_door_hostile_server);
	RUN(client_and_server_door);
	RUN(client_cv_door);
	RUN(client_cv_one_build_a_round);
	RUN(client_cv_evict_in_round);
	RUN(client_cv_write_blocked);
	RUN(foreign_libcrypto_refused);
	return t_done("test_x25519_ifma");
}
