/*
 * fuzz_passwd.c - libFuzzer target for crypto/passwd.c's "$scrypt$" parser.
 *
 * The input is a stored hash string as it comes from Redis. Asserted:
 *  - the parser reads only len bytes (the input sits in an exact-size heap
 *    buffer under ASan; a NUL or garbage after it changes nothing);
 *  - an accepted string has its cost within the documented bounds, and the
 *    canonical string made from what was parsed is at most PASSWD_STR_MAX,
 *    parses again to the very same fields (round trip);
 *  - no strict prefix of an accepted string is accepted;
 *  - a refusal always says why;
 *  - for the cheapest cost (ln=10, r=1, p=1), verifying is deterministic,
 *    and passwd_make() with the input as password gives a string that
 *    parses and verifies that password (and not another).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/base64.h>

#include "crypto/passwd.h"
#include "fuzz.h"

/* The canonical string of a parsed hash, as passwd_make() writes it. */
static int canonical(const struct passwd_hash *h, char *out, size_t outlen)
{
	uint8_t salt64[32], key64[64];

	EVP_EncodeBlock(salt64, h->salt, sizeof(h->salt));
	EVP_EncodeBlock(key64, h->key, sizeof(h->key));
	return snprintf(out, outlen, "$scrypt$ln=%u,r=%u,p=%u$%s$%s", h->ln, h->r, h->p,
			(const char *)salt64, (const char *)key64);
}

/* Is the cost within passwd.h's bounds? */
static int cost_in_bounds(const struct passwd_hash *h)
{
	return h->ln >= 10 && h->ln <= 20 && h->r >= 1 && h->r <= 32 && h->p >= 1 && h->p <= 4 &&
	       (uint64_t)128 * h->r * ((uint64_t)1 << h->ln) * h->p <= PASSWD_MAX_MEM;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input: see the file comment. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct passwd_hash h, h2;
	char why[128] = "", why2[128], canon[PASSWD_STR_MAX + 64], *copy;
	int rc, n;

	rc = passwd_parse((const char *)data, size, &h, why, sizeof(why));
	/* the same bytes followed by a NUL and junk: the same verdict, the same fields */
	copy = malloc(size + 8);
	FUZZ_ASSERT(copy != NULL);
	memcpy(copy, data, size);
	memcpy(copy + size, "\0$AAAA$x", 8);
	FUZZ_ASSERT(passwd_parse(copy, size, &h2, why2, sizeof(why2)) == rc);
	FUZZ_ASSERT(memcmp(&h, &h2, sizeof(h)) == 0);
	free(copy);
	if (rc != 0) {
		FUZZ_ASSERT(rc == -1 && why[0] != '\0');
		return 0;
	}
	FUZZ_ASSERT(size <= PASSWD_STR_MAX);
	FUZZ_ASSERT(cost_in_bounds(&h));
	n = canonical(&h, canon, sizeof(canon));
	FUZZ_ASSERT(n > 0 && (size_t)n <= PASSWD_STR_MAX);
	FUZZ_ASSERT(passwd_parse(canon, (size_t)n, &h2, why2, sizeof(why2)) == 0);
	FUZZ_ASSERT(memcmp(&h, &h2, sizeof(h)) == 0);
	/* nothing shorter than an accepted string is a whole hash */
	if (size > 0) {
		FUZZ_ASSERT(passwd_parse((const char *)data, size - 1, &h2, why2, sizeof(why2)) == -1);
		FUZZ_ASSERT(passwd_parse((const char *)data, size / 2, &h2, why2, sizeof(why2)) == -1);
	}
	if (h.ln == 10 && h.r == 1 && h.p == 1) {
		static const uint8_t pw[] = "fuzz";
		char made[PASSWD_STR_MAX + 1];
		int v1 = passwd_verify(&h, pw, sizeof(pw) - 1), v2 = passwd_verify(&h, pw, sizeof(pw) - 1);

		FUZZ_ASSERT(v1 == v2 && (v1 == 0 || v1 == 1));
		FUZZ_ASSERT(passwd_make(data, size, 10, 1, 1, made, sizeof(made), why, sizeof(why)) == 0);
		FUZZ_ASSERT(passwd_parse(made, strlen(made), &h2, why2, sizeof(why2)) == 0);
		FUZZ_ASSERT(passwd_verify(&h2, data, size) == 1);
		FUZZ_ASSERT(passwd_verify(&h2, pw, sizeof(pw) - 1) == (size == sizeof(pw) - 1 &&
									 memcmp(data, pw, size) == 0));
	}
	return 0;
}
