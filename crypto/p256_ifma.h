/*
 * p256_ifma.h - ECDSA P-256 signing eight at a time with AVX-512 IFMA, for
 * the key door of crypto/tls.c, and verification eight at a time (a client
 * checking one server key's CertificateVerify again and again: mxgen).
 *
 * Model: as crypto/x25519_ifma.h, each 64-bit lane of a zmm register
 * belongs to one signature ("lane-sliced"): limb j of the eight values sits
 * in vector j. Values mod p and mod n are five limbs of radix 2^52 in
 * Montgomery form (R = 2^260); products are made by vpmadd52luq and
 * vpmadd52huq. k*G is 52 mixed additions of signed 5-bit windows of k from
 * a table of affine multiples of G built once; the table is read whole under
 * lane masks, the point at infinity and zero digits are lane masks too, and
 * inversions are fixed exponentiations (Fermat). Nothing branches on, or
 * addresses memory by, a nonce, a private key or an intermediate value.
 *
 * Signatures are ECDSA's (r = x(kG) mod n, s = k^-1 (e + r d) mod n) with
 * e the digest's 256 bits; with the same nonce they equal BoringSSL's
 * arithmetic, and each verifies with ECDSA_do_verify
 * (tests/unit/test_p256_ifma.c).
 */
#ifndef MX_P256_IFMA_H
#define MX_P256_IFMA_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ec_key.h>

#define P256_IFMA_LANES 8

struct p256_ifma_key;                       /* immutable once built, shareable by threads */

/* Does this CPU (and OS) run AVX-512 IFMA? (rsa_ifma_cpu(), checked once) */
int p256_ifma_cpu(void);

/* NULL if the key is not P-256 or has no private scalar (or on allocation failure). */
struct p256_ifma_key *p256_ifma_key_new(const EC_KEY *key);
void p256_ifma_key_free(struct p256_ifma_key *k);  /* wipes the private scalar */

struct p256_ifma_job {
	const struct p256_ifma_key *key;   /* lanes may use different keys */
	uint8_t digest[32];                /* SHA-256 of the message (e = leftmost 256 bits) */
	uint8_t r[32], s[32];              /* out: big-endian */
	int ok;                            /* out: 1 done, 0 failed (caller then signs with BoringSSL) */
};

/*
 * Sign n jobs (1..8) in one run: up to 4 in ymm, 5..8 in zmm. Nonces are
 * hedged (SHA-256 of the key, the digest and RAND_bytes), uniform in
 * [1, n-1]. Requires p256_ifma_cpu(). A job whose
 * key is NULL, or whose r or s comes out 0, gets ok = 0 (and zeros for r
 * and s). Jobs beyond n are not touched.
 */
void p256_ifma_sign(struct p256_ifma_job *jobs, unsigned n);

/*
 * The same with caller-given nonces k[i] (big-endian, must be in [1, n-1];
 * outside it the job gets ok = 0); for tests only.
 */
void p256_ifma_sign_k(struct p256_ifma_job *jobs, const uint8_t k[][32], unsigned n);

/* ECDSA signature DER from r, s (ECDSA_SIG_to_bytes'); its length, or 0 (job not ok, no room). */
size_t p256_ifma_der(const struct p256_ifma_job *j, uint8_t *out, size_t max_out);

/*
 * ECDSA verification eight at a time: u1 G + u2 Q as 104 mixed additions
 * (a digit of u1 from G's table, then one of u2 from a table of Q built
 * once per key, each window), no doublings, and x(u1 G + u2 Q) checked
 * against r as X == r Z^2 (or (r + n) Z^2) mod p, no inversion. Public data
 * only: not constant time.
 */
struct p256_ifma_pub;                       /* a public key's tables: built once, immutable, shareable by threads */

/* NULL if the key is not P-256, has no public point, or on allocation failure. May take milliseconds. */
struct p256_ifma_pub *p256_ifma_pub_new(const EC_KEY *key);
void p256_ifma_pub_free(struct p256_ifma_pub *q);
/* The public point, uncompressed (0x04 | X | Y), for the caller's cache lookup. */
const uint8_t *p256_ifma_pub_point(const struct p256_ifma_pub *q);   /* 65 bytes */

struct p256_ifma_vjob {
	const struct p256_ifma_pub *pub;   /* lanes may use different keys */
	uint8_t digest[32];                /* SHA-256 of the message (e = its 256 bits) */
	uint8_t r[32], s[32];              /* the signature, big-endian */
	int ok;                            /* out: 1 = valid; 0 = not shown valid */
};

/*
 * Verify n jobs (1..8) in one run (up to 4 in ymm, 5..8 in zmm, as
 * signing). Requires p256_ifma_cpu(). ok = 1 only if ECDSA_do_verify
 * accepts the same digest, r, s and key. ok = 0 for an invalid signature,
 * r or s outside [1, n-1], pub NULL, and the rare sums the additions
 * cannot make (the accumulator equal to +-the added point on the way, as
 * crafted signatures can force): the caller re-checks those with
 * ECDSA_do_verify. Jobs beyond n are not touched.
 */
void p256_ifma_verify(struct p256_ifma_vjob *jobs, unsigned n);

#endif
