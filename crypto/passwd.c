/*
 * passwd.c - salted scrypt password hashes for SMTP AUTH (see passwd.h).
 * BoringSSL only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/base64.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/rand.h>

#include "passwd.h"

#define PREFIX "$scrypt$"

static int bad(char *why, size_t whylen, const char *text)
{
	snprintf(why, whylen, "%s", text);
	return -1;
}

/* Memory scrypt needs: 128 * r * N * p bytes (plus a little), bounded. */
int passwd_cost_ok(unsigned ln, unsigned r, unsigned p)
{
	return ln >= 10 && ln <= 20 && r >= 1 && r <= 32 && p >= 1 && p <= 4 &&
	       (uint64_t)128 * r * ((uint64_t)1 << ln) * p <= PASSWD_MAX_MEM;
}

/* "name=<decimal>" at s; 0 and *v, or -1. */
static int param(const char **s, const char *end, const char *name, unsigned *v)
{
	size_t n = strlen(name);
	unsigned x = 0, digits = 0;

	if ((size_t)(end - *s) < n + 2 || memcmp(*s, name, n) != 0 || (*s)[n] != '=')
		return -1;
	*s += n + 1;
	while (*s < end && **s >= '0' && **s <= '9' && digits < 3) {
		x = x * 10 + (unsigned)(**s - '0');
		(*s)++;
		digits++;
	}
	if (digits == 0)
		return -1;
	*v = x;
	return 0;
}

/* Decode one base64 field of exactly want bytes. */
static int field(const char *s, size_t n, uint8_t *out, size_t want)
{
	uint8_t buf[64];
	size_t got = 0, max = 0;

	if (n == 0 || !EVP_DecodedLength(&max, n) || max > sizeof(buf) ||
	    !EVP_DecodeBase64(buf, &got, sizeof(buf), (const uint8_t *)s, n) || got != want)
		return -1;
	memcpy(out, buf, want);
	return 0;
}

int passwd_parse(const char *s, size_t len, struct passwd_hash *h, char *why, size_t whylen)
{
	const char *end = s + len, *p = s, *d1, *d2;

	memset(h, 0, sizeof(*h));
	if (len > PASSWD_STR_MAX)
		return bad(why, whylen, "hash string too long");
	if (len < sizeof(PREFIX) - 1 || memcmp(s, PREFIX, sizeof(PREFIX) - 1) != 0)
		return bad(why, whylen, "not a \"$scrypt$\" hash");
	p += sizeof(PREFIX) - 1;
	if (param(&p, end, "ln", &h->ln) != 0 || p >= end || *p++ != ',' ||
	    param(&p, end, "r", &h->r) != 0 || p >= end || *p++ != ',' ||
	    param(&p, end, "p", &h->p) != 0 || p >= end || *p++ != '$')
		return bad(why, whylen, "parameters are not \"ln=N,r=N,p=N\"");
	if (!passwd_cost_ok(h->ln, h->r, h->p))
		return bad(why, whylen, "scrypt cost out of bounds (10<=ln<=20, 1<=r<=32, 1<=p<=4, 64 MiB)");
	d1 = memchr(p, '$', (size_t)(end - p));
	if (d1 == NULL)
		return bad(why, whylen, "no key field");
	d2 = d1 + 1;
	if (memchr(d2, '$', (size_t)(end - d2)) != NULL)
		return bad(why, whylen, "too many fields");
	if (field(p, (size_t)(d1 - p), h->salt, PASSWD_SALT_LEN) != 0)
		return bad(why, whylen, "salt is not 16 bytes of base64");
	if (field(d2, (size_t)(end - d2), h->key, PASSWD_KEY_LEN) != 0)
		return bad(why, whylen, "key is not 32 bytes of base64");
	return 0;
}

static int derive(const struct passwd_hash *h, const uint8_t *pw, size_t pwlen, uint8_t *key)
{
	return EVP_PBE_scrypt((const char *)pw, pwlen, h->salt, sizeof(h->salt), (uint64_t)1 << h->ln,
			      h->r, h->p, PASSWD_MAX_MEM + (1u << 20), key, PASSWD_KEY_LEN) == 1 ? 0 : -1;
}

int passwd_make(const uint8_t *pw, size_t pwlen, unsigned ln, unsigned r, unsigned p,
		char *out, size_t outlen, char *why, size_t whylen)
{
	struct passwd_hash h;
	uint8_t salt64[32], key64[64];
	int n;

	if (!passwd_cost_ok(ln, r, p))
		return bad(why, whylen, "scrypt cost out of bounds (10<=ln<=20, 1<=r<=32, 1<=p<=4, 64 MiB)");
	memset(&h, 0, sizeof(h));
	h.ln = ln;
	h.r = r;
	h.p = p;
	if (!RAND_bytes(h.salt, sizeof(h.salt)))
		return bad(why, whylen, "no random bytes");
	if (derive(&h, pw, pwlen, h.key) != 0)
		return bad(why, whylen, "scrypt failed (out of memory?)");
	EVP_EncodeBlock(salt64, h.salt, sizeof(h.salt));
	EVP_EncodeBlock(key64, h.key, sizeof(h.key));
	OPENSSL_cleanse(h.key, sizeof(h.key));
	n = snprintf(out, outlen, PREFIX "ln=%u,r=%u,p=%u$%s$%s", ln, r, p, salt64, key64);
	if (n < 0 || (size_t)n >= outlen)
		return bad(why, whylen, "output buffer too small");
	return 0;
}

int passwd_verify(const struct passwd_hash *h, const uint8_t *pw, size_t pwlen)
{
	uint8_t key[PASSWD_KEY_LEN];
	int same;

	if (derive(h, pw, pwlen, key) != 0)
		return -1;
	same = CRYPTO_memcmp(key, h->key, sizeof(key)) == 0;
	OPENSSL_cleanse(key, sizeof(key));
	return same;
}
