/*
 * crypto_speed.c - the public-key operations of a TLS handshake, timed one
 * by one against whichever BoringSSL this binary was linked with (the
 * Makefile links it twice: build/crypto_speed against the rebuild without
 * OPENSSL_SMALL, build/crypto_speed_stock against Debian's own build), so
 * that tests/bench/crypto_bench.py can run both side by side.
 *
 *   crypto_speed [--seconds S] [--only OP]     (S: CPU seconds per operation)
 *
 * Prints first the libcrypto/libssl files the process has loaded (from
 * dl_iterate_phdr, so the figures name the library that produced them),
 * then one line per operation, timed by the process's CPU clock (so time
 * during which a busy shared machine ran something else is not counted)
 * and with the wall time beside it:
 *
 *   op=ecdsa-p256-sign ops=N cpu_seconds=T wall_seconds=W
 *
 * Operations: ecdsa-p256-sign (ECDSA_sign over a SHA-256 digest),
 * ecdsa-p256-verify, x25519-keygen (X25519_keypair: a base-point
 * multiplication), x25519-shared (X25519: a variable-base multiplication),
 * x25519-exchange (both: the server's share of an X25519 key exchange),
 * p256-ecdh-exchange (key generation and ECDH on P-256), and rsa2048-sign
 * (RSA-PSS with SHA-256, the TLS 1.3 server signature; OPENSSL_SMALL does
 * not touch RSA, so it is the control of a side-by-side run). Every result
 * is checked (signatures verified once, shared secrets compared); a failure
 * exits 1.
 */
#define _GNU_SOURCE
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/curve25519.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/ecdh.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

/* Room for a DER ECDSA P-256 signature (ECDSA_size says 72). */
#define CS_ECSIG_MAX 80

/* Fixed inputs shared by the operations. */
struct cs_state {
	uint8_t digest[32];
	EC_KEY *ec;
	uint8_t ec_sig[CS_ECSIG_MAX];
	size_t ec_sig_len;
	const EC_GROUP *p256;
	EC_KEY *peer;
	uint8_t x_peer_pub[32], x_peer_priv[32];
	RSA *rsa;
	uint8_t rsa_sig[512];
};

/* One timed operation: returns 0 on success. */
typedef int (*cs_op_fn)(struct cs_state *st);

/* Seconds of the clock c (CLOCK_MONOTONIC or CLOCK_PROCESS_CPUTIME_ID). */
static double cs_clock(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Print the name of every loaded object that is a TLS library. */
static int cs_print_lib(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	(void)arg;
	if (info->dlpi_name && (strstr(info->dlpi_name, "libcrypto") || strstr(info->dlpi_name, "libssl")))
		printf("lib=%s\n", info->dlpi_name);
	return 0;
}

/* ECDSA P-256 signature over the digest. */
static int cs_ecdsa_sign(struct cs_state *st)
{
	uint8_t sig[CS_ECSIG_MAX];
	unsigned int len = sizeof(sig);

	return ECDSA_sign(0, st->digest, sizeof(st->digest), sig, &len, st->ec) == 1 ? 0 : -1;
}

/* ECDSA P-256 verification of the signature made at set-up. */
static int cs_ecdsa_verify(struct cs_state *st)
{
	return ECDSA_verify(0, st->digest, sizeof(st->digest), st->ec_sig, st->ec_sig_len, st->ec) == 1 ? 0 : -1;
}

/* X25519 key pair (base-point multiplication). */
static int cs_x25519_keygen(struct cs_state *st)
{
	uint8_t pub[32], priv[32];

	(void)st;
	X25519_keypair(pub, priv);
	return 0;
}

/* X25519 shared secret with the fixed peer (variable-base multiplication). */
static int cs_x25519_shared(struct cs_state *st)
{
	uint8_t out[32];

	return X25519(out, st->x_peer_priv, st->x_peer_pub) == 1 ? 0 : -1;
}

/* The server's side of an X25519 exchange: a key pair and the shared secret. */
static int cs_x25519_exchange(struct cs_state *st)
{
	uint8_t out[32], pub[32], priv[32];

	X25519_keypair(pub, priv);
	return X25519(out, priv, st->x_peer_pub) == 1 ? 0 : -1;
}

/* The server's side of a P-256 ECDH exchange: a key pair and the shared point. */
static int cs_p256_ecdh(struct cs_state *st)
{
	EC_KEY *k = EC_KEY_new();
	uint8_t out[32];
	int rc = -1;

	if (k && EC_KEY_set_group(k, st->p256) && EC_KEY_generate_key(k) &&
	    ECDH_compute_key(out, sizeof(out), EC_KEY_get0_public_key(st->peer), k, NULL) == (int)sizeof(out))
		rc = 0;
	EC_KEY_free(k);
	return rc;
}

/* RSA-2048 PSS signature with SHA-256. */
static int cs_rsa_sign(struct cs_state *st)
{
	uint8_t sig[512];
	size_t len;

	return RSA_sign_pss_mgf1(st->rsa, &len, sig, sizeof(sig), st->digest, sizeof(st->digest),
				 EVP_sha256(), EVP_sha256(), -1) == 1 ? 0 : -1;
}

/* Keys and reference results; every check that can fail is made here once (the RSA key only with_rsa). */
static int cs_setup(struct cs_state *st, int with_rsa)
{
	uint8_t a[32], b[32], p1[32], p2[32];
	unsigned int len = sizeof(st->ec_sig);
	BIGNUM *e = BN_new();

	RAND_bytes(st->digest, sizeof(st->digest));
	st->ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
	st->peer = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
	if (!st->ec || !st->peer || !EC_KEY_generate_key(st->ec) || !EC_KEY_generate_key(st->peer))
		return -1;
	st->p256 = EC_KEY_get0_group(st->ec);
	if (ECDSA_size(st->ec) > CS_ECSIG_MAX)
		return -1;
	if (!ECDSA_sign(0, st->digest, sizeof(st->digest), st->ec_sig, &len, st->ec))
		return -1;
	st->ec_sig_len = len;
	if (ECDSA_verify(0, st->digest, sizeof(st->digest), st->ec_sig, st->ec_sig_len, st->ec) != 1)
		return -1;
	X25519_keypair(st->x_peer_pub, st->x_peer_priv);
	X25519_keypair(p1, a);
	/* both sides must agree: a*(peer) == peer*(a*G) */
	if (!X25519(b, a, st->x_peer_pub) || !X25519(p2, st->x_peer_priv, p1) || memcmp(b, p2, 32))
		return -1;
	if (!with_rsa) {
		BN_free(e);
		return 0;
	}
	st->rsa = RSA_new();
	if (!e || !st->rsa || !BN_set_word(e, RSA_F4) || !RSA_generate_key_ex(st->rsa, 2048, e, NULL))
		return -1;
	BN_free(e);
	{
		size_t slen;

		if (!RSA_sign_pss_mgf1(st->rsa, &slen, st->rsa_sig, sizeof(st->rsa_sig), st->digest,
				       sizeof(st->digest), EVP_sha256(), EVP_sha256(), -1) ||
		    !RSA_verify_pss_mgf1(st->rsa, st->digest, sizeof(st->digest), EVP_sha256(), EVP_sha256(),
					 -1, st->rsa_sig, slen))
			return -1;
	}
	return 0;
}

/*
 * Run one operation for `seconds` of this process's CPU time, in batches;
 * print its line with the CPU time and the wall time.
 */
static int cs_time(struct cs_state *st, const char *name, cs_op_fn fn, double seconds)
{
	unsigned long ops = 0;
	double t0, w0, t;

	for (int i = 0; i < 8; i++)     /* warm the caches and the branch predictors */
		if (fn(st)) {
			fprintf(stderr, "crypto_speed: %s failed\n", name);
			return -1;
		}
	w0 = cs_clock(CLOCK_MONOTONIC);
	t0 = cs_clock(CLOCK_PROCESS_CPUTIME_ID);
	do {
		for (int i = 0; i < 16; i++)
			if (fn(st)) {
				fprintf(stderr, "crypto_speed: %s failed\n", name);
				return -1;
			}
		ops += 16;
		t = cs_clock(CLOCK_PROCESS_CPUTIME_ID) - t0;
	} while (t < seconds);
	printf("op=%s ops=%lu cpu_seconds=%.6f wall_seconds=%.6f\n", name, ops, t,
	       cs_clock(CLOCK_MONOTONIC) - w0);
	fflush(stdout);
	return 0;
}

/* Parse the options, set up the keys and time every operation. */
int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		cs_op_fn fn;
	} ops[] = {
		{ "ecdsa-p256-sign", cs_ecdsa_sign },
		{ "ecdsa-p256-verify", cs_ecdsa_verify },
		{ "x25519-keygen", cs_x25519_keygen },
		{ "x25519-shared", cs_x25519_shared },
		{ "x25519-exchange", cs_x25519_exchange },
		{ "p256-ecdh-exchange", cs_p256_ecdh },
		{ "rsa2048-sign", cs_rsa_sign },
	};
	struct cs_state st;
	double seconds = 1;
	const char *only = NULL;
	int found = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			only = argv[++i];
		else {
			fprintf(stderr, "usage: crypto_speed [--seconds S] [--only OP]\n");
			return 1;
		}
	}
	if (seconds <= 0 || seconds > 600) {
		fprintf(stderr, "crypto_speed: --seconds must be in (0, 600]\n");
		return 1;
	}
	dl_iterate_phdr(cs_print_lib, NULL);
	memset(&st, 0, sizeof(st));
	if (cs_setup(&st, !only || !strcmp(only, "rsa2048-sign"))) {
		fprintf(stderr, "crypto_speed: key set-up or a reference check failed\n");
		return 1;
	}
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (only && strcmp(only, ops[i].name))
			continue;
		found = 1;
		if (cs_time(&st, ops[i].name, ops[i].fn, seconds))
			return 1;
	}
	if (!found) {
		fprintf(stderr, "crypto_speed: no operation named %s\n", only);
		return 1;
	}
	EC_KEY_free(st.ec);
	EC_KEY_free(st.peer);
	RSA_free(st.rsa);
	return 0;
}
