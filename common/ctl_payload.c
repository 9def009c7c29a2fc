/*
 * ctl_payload.c - SET_CERTS and SET_USERS payloads (ctl_payload.h).
 */
#include <stdio.h>
#include <string.h>

#include "common/ctl_payload.h"

#define LEN_DIGITS_MAX  20              /* a decimal size_t */

int ctl_cert_name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > CERT_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

/* No space, control character or DEL in n octets. */
static int graphic(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] == 0x7f)
			return 0;
	return 1;
}

int ctl_sni_field_ok(const char *s, size_t n)
{
	return n > 0 && n <= SNI_FIELD_MAX && graphic(s, n);
}

/* Append n bytes at *o when out is not NULL; always count them. */
static void put(char *out, size_t *o, const void *p, size_t n)
{
	if (out && n)
		memcpy(out + *o, p, n);
	*o += n;
}

int ctl_certs_encode(const struct ctl_certs *c, char *out, size_t *len, char *err, size_t errlen)
{
	char hdr[5 + CERT_NAME_MAX + 1 + SNI_FIELD_MAX + 1 + 3 * (LEN_DIGITS_MAX + 1) + 1];
	size_t o = 0;
	unsigned i;

	if (c->n > CERTS_MAX) {
		snprintf(err, errlen, "%u certificates, at most %d", c->n, CERTS_MAX);
		return -1;
	}
	for (i = 0; i < c->n; i++) {
		const struct ctl_cert *x = &c->cert[i];

		if (!ctl_cert_name_ok(x->name, x->name_len) ||
		    (x->sni_len && !ctl_sni_field_ok(x->sni, x->sni_len))) {
			snprintf(err, errlen, "certificate %u: name or sni field unusable", i + 1);
			return -1;
		}
	}
	for (i = 0; i < c->n; i++) {
		const struct ctl_cert *x = &c->cert[i];
		int hl;

		if (x->ocsp_len)
			hl = snprintf(hdr, sizeof(hdr), "CERT %.*s %.*s\n%zu %zu %zu\n", (int)x->name_len,
				      x->name, x->sni_len ? (int)x->sni_len : 1, x->sni_len ? x->sni : "-",
				      x->chain_len, x->key_len, x->ocsp_len);
		else
			hl = snprintf(hdr, sizeof(hdr), "CERT %.*s %.*s\n%zu %zu\n", (int)x->name_len,
				      x->name, x->sni_len ? (int)x->sni_len : 1, x->sni_len ? x->sni : "-",
				      x->chain_len, x->key_len);
		put(out, &o, hdr, (size_t)hl);
		put(out, &o, x->chain, x->chain_len);
		put(out, &o, x->key, x->key_len);
		put(out, &o, x->ocsp, x->ocsp_len);
	}
	if (c->ca) {
		put(out, &o, hdr, (size_t)snprintf(hdr, sizeof(hdr), "CA %zu\n", c->ca_len));
		put(out, &o, c->ca, c->ca_len);
	}
	if (c->crl) {
		put(out, &o, hdr, (size_t)snprintf(hdr, sizeof(hdr), "CRL %zu\n", c->crl_len));
		put(out, &o, c->crl, c->crl_len);
	}
	*len = o;
	return 0;
}

/* n bytes of decimal digits (1..20, no sign, no space) into *v; 0 or -1. */
static int dec_len(const char *s, size_t n, size_t *v)
{
	size_t i, x = 0;

	if (n == 0 || n > LEN_DIGITS_MAX)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (x > (SIZE_MAX - (size_t)(s[i] - '0')) / 10)
			return -1;
		x = x * 10 + (size_t)(s[i] - '0');
	}
	*v = x;
	return 0;
}

/* "a b[ c]" (n bytes) into v[0..2]; the count (2 or 3), or -1. */
static int dec_lens(const char *s, size_t n, size_t v[3])
{
	const char *e = s + n;
	int k = 0;

	for (;;) {
		const char *sp = memchr(s, ' ', (size_t)(e - s));
		const char *w = sp ? sp : e;

		if (k == 3 || dec_len(s, (size_t)(w - s), &v[k]) != 0)
			return -1;
		k++;
		if (!sp)
			break;
		s = sp + 1;
	}
	return k >= 2 ? k : -1;
}

/* "CERT <name> <sni|->" (n bytes, no newline) into x; 0 or -1. */
static int dec_cert_line(const char *s, size_t n, struct ctl_cert *x)
{
	const char *e = s + n, *sp;

	if (n < 5 || memcmp(s, "CERT ", 5) != 0)
		return -1;
	s += 5;
	sp = memchr(s, ' ', (size_t)(e - s));
	if (!sp || !ctl_cert_name_ok(s, (size_t)(sp - s)))
		return -1;
	x->name = s;
	x->name_len = (size_t)(sp - s);
	s = sp + 1;
	if (!ctl_sni_field_ok(s, (size_t)(e - s)))
		return -1;
	if (e - s == 1 && s[0] == '-') {
		x->sni = NULL;
		x->sni_len = 0;
	} else {
		x->sni = s;
		x->sni_len = (size_t)(e - s);
	}
	return 0;
}

int ctl_certs_decode(const char *p, size_t len, struct ctl_certs *c, char *err, size_t errlen)
{
	const char *end = p + len;

	memset(c, 0, sizeof(*c));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *nl2;
		struct ctl_cert *x;
		size_t v[3] = { 0, 0, 0 }, rest;
		int got;

		if (nl && ((nl - p >= 3 && memcmp(p, "CA ", 3) == 0) ||
			   (nl - p >= 4 && memcmp(p, "CRL ", 4) == 0))) {
			int ca = p[1] == 'A';
			size_t hl = ca ? 3 : 4;

			if (dec_len(p + hl, (size_t)(nl - p) - hl, &v[0]) != 0 ||
			    v[0] > (size_t)(end - nl - 1) || (ca ? c->ca : c->crl) != NULL) {
				snprintf(err, errlen, "%s block: bad or repeated header", ca ? "CA" : "CRL");
				return -1;
			}
			if (ca) {
				c->ca = nl + 1;
				c->ca_len = v[0];
			} else {
				c->crl = nl + 1;
				c->crl_len = v[0];
			}
			p = nl + 1 + v[0];
			continue;
		}
		if (c->n == CERTS_MAX) {
			snprintf(err, errlen, "more than %d certificates", CERTS_MAX);
			return -1;
		}
		if (!nl || !(nl2 = memchr(nl + 1, '\n', (size_t)(end - nl - 1)))) {
			snprintf(err, errlen, "certificate %u: header lines expected", c->n + 1);
			return -1;
		}
		x = &c->cert[c->n];
		rest = (size_t)(end - nl2 - 1);
		got = dec_lens(nl + 1, (size_t)(nl2 - nl - 1), v);
		if (dec_cert_line(p, (size_t)(nl - p), x) != 0 || got < 0 ||
		    v[0] > rest || v[1] > rest - v[0] || v[2] > rest - v[0] - v[1] ||
		    (got == 3 && v[2] == 0)) {
			snprintf(err, errlen, "certificate %u: bad header", c->n + 1);
			return -1;
		}
		x->chain = nl2 + 1;
		x->chain_len = v[0];
		x->key = nl2 + 1 + v[0];
		x->key_len = v[1];
		if (v[2]) {
			x->ocsp = (const uint8_t *)nl2 + 1 + v[0] + v[1];
			x->ocsp_len = v[2];
		}
		c->n++;
		p = nl2 + 1 + v[0] + v[1] + v[2];
	}
	return 0;
}

const char *ctl_user_name_bad(const char *s, size_t n)
{
	if (n == 0)
		return "empty";
	if (n > USER_NAME_MAX)
		return "longer than 255 octets";
	if (!graphic(s, n))
		return "space or control character";
	return NULL;
}

size_t ctl_users_encode(const struct ctl_user *u, size_t n, char *out)
{
	size_t o = 0, i;

	for (i = 0; i < n; i++) {
		put(out, &o, u[i].name, u[i].name_len);
		put(out, &o, " ", 1);
		put(out, &o, u[i].hash, u[i].hash_len);
		put(out, &o, "\n", 1);
	}
	return o;
}

int ctl_users_next(const char *p, size_t len, size_t *off, size_t *line, struct ctl_user *u)
{
	while (*off < len) {
		const char *s = p + *off, *nl = memchr(s, '\n', len - *off), *sp;
		size_t l = nl ? (size_t)(nl - s) : len - *off;

		*off += l + (nl != NULL);
		(*line)++;
		if (l == 0)
			continue;
		sp = memchr(s, ' ', l);
		if (!sp || ctl_user_name_bad(s, (size_t)(sp - s)))
			return -1;
		u->name = s;
		u->name_len = (size_t)(sp - s);
		u->hash = sp + 1;
		u->hash_len = l - u->name_len - 1;
		return 1;
	}
	return 0;
}
