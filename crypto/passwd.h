/*
 * passwd.h - SMTP AUTH password hashes: salted scrypt (RFC 7914) from
 * BoringSSL's EVP_PBE_scrypt, stored as one printable string
 *
 *   $scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt, base64>$<key, base64>
 *
 * (the PHC string format's layout; standard base64 with padding, so no '$'
 * and no space inside a field). The salt is 16 random bytes, the derived
 * key 32. Shared by mxctl (makes hashes), mxgate-control (checks them
 * before pushing) and mxgate (verifies, on its service lcore: scrypt is
 * deliberately slow and memory-hard, never run on a worker).
 *
 * Cost bounds, so a hash planted in Redis cannot stall the appliance:
 * 10 <= ln <= 20, 1 <= r <= 32, 1 <= p <= 4, and 128 * r * N * p at most
 * PASSWD_MAX_MEM. mxctl's default (ln=14, r=8, p=1: 16 MiB, tens of ms)
 * is the scrypt paper's interactive-login setting.
 */
#ifndef MX_PASSWD_H
#define MX_PASSWD_H

#include <stddef.h>
#include <stdint.h>

#define PASSWD_STR_MAX   128            /* longest stored string, NUL excluded */
#define PASSWD_SALT_LEN  16
#define PASSWD_KEY_LEN   32
#define PASSWD_MAX_MEM   (64u << 20)
#define PASSWD_LN_DEFAULT 14
#define PASSWD_R_DEFAULT  8
#define PASSWD_P_DEFAULT  1

struct passwd_hash {
	unsigned ln, r, p;
	uint8_t salt[PASSWD_SALT_LEN];
	uint8_t key[PASSWD_KEY_LEN];
};

/*
 * Parse and bound-check a stored string (len bytes, need not be
 * NUL-terminated). 0, or -1 with why (a short phrase) in why.
 */
int passwd_parse(const char *s, size_t len, struct passwd_hash *h, char *why, size_t whylen);

/* Whether an scrypt cost is within the bounds above: 1 or 0. */
int passwd_cost_ok(unsigned ln, unsigned r, unsigned p);

/*
 * Hash a password with a fresh random salt into out (PASSWD_STR_MAX + 1
 * bytes suffice). 0, or -1 with why.
 */
int passwd_make(const uint8_t *pw, size_t pwlen, unsigned ln, unsigned r, unsigned p,
		char *out, size_t outlen, char *why, size_t whylen);

/*
 * Does the password match? 1 yes, 0 no, -1 scrypt failed (out of memory).
 * Constant-time comparison of the derived keys.
 */
int passwd_verify(const struct passwd_hash *h, const uint8_t *pw, size_t pwlen);

#endif
