/*
 * relay_wire.c - the backend's wire formats as pure functions (see
 * relay_wire.h): the reply assembler, EHLO keywords, xtext, XCLIENT,
 * PROXY v2 and the Received header. libc only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "relay_wire.h"
#include "common/strutil.h"

/* the longest XCLIENT command: fixed words, an IPv6 address, both values fully escaped */
_Static_assert(sizeof("XCLIENT ADDR=IPV6: PORT=65535 NAME= HELO= PROTO=ESMTP LOGIN=\r\n") +
	       46 + RW_NAME_MAX * 3 + RW_HELO_MAX * 3 + RW_LOGIN_MAX * 3 <= RW_XCLIENT_MAX, "RW_XCLIENT_MAX");

/* ---- the reply assembler ---- */

/* Forget the reply being assembled. */
void rw_reply_init(struct rw_reply *r)
{
	r->len = 0;
	r->over = 0;
	r->buf[0] = '\0';
}

/* Take bytes until one reply is complete (RFC 5321 4.2.1 multi-line replies). */
enum rw_reply_status rw_reply_feed(struct rw_reply *r, const uint8_t *in, size_t len, size_t *used,
				   int *code)
{
	size_t i;

	*code = 0;
	for (i = 0; i < len; i++) {
		size_t ls;

		if (r->len >= sizeof(r->buf) - 1) {
			/* longer than any reply we take: unusable now, not at a line end that may never come */
			r->over = 1;
			r->buf[r->len] = '\0';
			*used = i + 1;
			return RW_REPLY_MALFORMED;
		}
		r->buf[r->len++] = (char)in[i];
		if (in[i] != '\n')
			continue;
		/* end of a line: is it the last line of the reply ("ddd " or "ddd")? */
		ls = r->len - 1;
		while (ls > 0 && r->buf[ls - 1] != '\n')
			ls--;
		if (r->len - ls < 4) {
			r->buf[r->len] = '\0';
			*used = i + 1;         /* no reply line is shorter than "ddd" LF */
			return RW_REPLY_MALFORMED;
		}
		if (r->buf[ls + 3] == '-')
			continue;
		r->buf[r->len] = '\0';
		*used = i + 1;
		*code = atoi(r->buf + ls);
		if (r->over || *code < 200 || *code > 599)
			return RW_REPLY_MALFORMED;
		return RW_REPLY_DONE;
	}
	*used = len;
	return RW_REPLY_MORE;
}

/* Is line[0..ll) "dddKW", "dddKW params" or "dddKW\r" for the k bytes of keyword kw? */
static int line_offers(const char *line, size_t ll, const char *kw, size_t k)
{
	return ll >= 4 + k && strncasecmp(line + 4, kw, k) == 0 &&
	       (ll == 4 + k || line[4 + k] == ' ' || line[4 + k] == '\r');
}

/* Does an EHLO reply offer keyword kw (one line "dddKW", "dddKW params")? */
int rw_reply_has_keyword(const char *rep, size_t len, const char *kw)
{
	size_t k = strlen(kw), i = 0;

	while (i + 4 <= len) {
		const char *line = rep + i, *nl = memchr(line, '\n', len - i);
		size_t ll = nl ? (size_t)(nl - line) : len - i;

		if (line_offers(line, ll, kw, k))
			return 1;
		i += ll + 1;
	}
	return 0;
}

/* Does the EHLO reply's XCLIENT line list attribute attr? */
int rw_xclient_lists(const char *rep, size_t len, const char *attr)
{
	size_t k = strlen(attr), i = 0;

	while (i + 4 <= len) {
		const char *line = rep + i, *nl = memchr(line, '\n', len - i), *p;
		size_t ll = nl ? (size_t)(nl - line) : len - i;

		if (ll > 12 && strncasecmp(line + 4, "XCLIENT ", 8) == 0)
			for (p = line + 11; p + k < line + ll; p++)
				if (*p == ' ' && strncasecmp(p + 1, attr, k) == 0 &&
				    (p + 1 + k == line + ll || p[1 + k] == ' ' || p[1 + k] == '\r'))
					return 1;
		i += ll + 1;
	}
	return 0;
}

/* The RW_XA_* attributes among the words of a line "dddXCLIENT attr ..." (ll > 12). */
static unsigned xclient_words(const char *line, size_t ll)
{
	static const struct { const char *name; size_t n; unsigned bit; } xa[] = {
		{ "ADDR", 4, RW_XA_ADDR }, { "PORT", 4, RW_XA_PORT }, { "NAME", 4, RW_XA_NAME },
		{ "HELO", 4, RW_XA_HELO }, { "PROTO", 5, RW_XA_PROTO }, { "LOGIN", 5, RW_XA_LOGIN },
	};
	const char *p, *w, *end = line + ll;
	unsigned m = 0;
	size_t k;

	/* each word after a space, up to a space, a CR or the line's end, as rw_xclient_lists() takes them */
	for (p = line + 11; p != NULL && p < end; p = memchr(p + 1, ' ', (size_t)(end - p - 1))) {
		for (w = p + 1; w < end && *w != ' ' && *w != '\r'; w++)
			;
		for (k = 0; k < sizeof(xa) / sizeof(xa[0]); k++)
			if ((size_t)(w - (p + 1)) == xa[k].n && strncasecmp(p + 1, xa[k].name, xa[k].n) == 0)
				m |= xa[k].bit;
	}
	return m;
}

static unsigned auth_words(const char *line, size_t ll);

/*
 * What an EHLO reply offers that the relay uses, in one pass over its lines
 * (a backend connection's EHLO reply is read on every relayed session, and
 * twice with XCLIENT): a line's first letter picks the one keyword it can
 * be, so most lines cost one memchr and no string comparison.
 */
void rw_ehlo_scan(const char *rep, size_t len, struct rw_ehlo *e)
{
	size_t i = 0;

	memset(e, 0, sizeof(*e));
	while (i + 4 <= len) {
		const char *line = rep + i, *nl = memchr(line, '\n', len - i);
		size_t ll = nl ? (size_t)(nl - line) : len - i;

		/* every keyword below needs 10 bytes or more: line[4..9] are in the line */
		if (ll >= 10)
			switch (line[4] | 0x20) {
			case 's':
				e->starttls |= line_offers(line, ll, "STARTTLS", 8);
				break;
			case 'x':
				e->xclient |= line_offers(line, ll, "XCLIENT", 7);
				if (ll > 12 && strncasecmp(line + 4, "XCLIENT ", 8) == 0)
					e->xattrs |= xclient_words(line, ll);
				break;
			case 'a':
				if (strncasecmp(line + 4, "AUTH", 4) == 0 && (line[8] == ' ' || line[8] == '='))
					e->mechs |= auth_words(line, ll);
				break;
			default:
				break;
			}
		i += ll + 1;
	}
}

unsigned rw_xclient_attrs(const char *rep, size_t len)
{
	struct rw_ehlo e;

	rw_ehlo_scan(rep, len, &e);
	return e.xattrs;
}

/* ---- AUTH ---- */

/* the longest AUTH PLAIN command: three fields of RW_AUTH_FIELD_MAX, two NULs, base64, CRLF */
_Static_assert(sizeof("AUTH PLAIN \r\n") + (3 * RW_AUTH_FIELD_MAX + 2 + 2) / 3 * 4 <= RW_AUTH_MAX, "RW_AUTH_MAX");

/* Is word w[0..n) one of the mechanisms we speak? Its bit, else 0. */
static unsigned mech_bit(const char *w, size_t n)
{
	if (n == 5 && strncasecmp(w, "PLAIN", 5) == 0)
		return RW_MECH_PLAIN;
	if (n == 5 && strncasecmp(w, "LOGIN", 5) == 0)
		return RW_MECH_LOGIN;
	return 0;
}

/* The RW_MECH_* among the words of a line "dddAUTH mech ..." or "dddAUTH=mech ..." (ll > 9). */
static unsigned auth_words(const char *line, size_t ll)
{
	unsigned m = 0;
	size_t j;

	for (j = 9; j < ll;) {
		size_t w = j;

		while (j < ll && line[j] != ' ' && line[j] != '\r')
			j++;
		m |= mech_bit(line + w, j - w);
		while (j < ll && (line[j] == ' ' || line[j] == '\r'))
			j++;
	}
	return m;
}

/* The mechanisms of the EHLO reply's AUTH lines that mxgate speaks. */
unsigned rw_auth_mechs(const char *rep, size_t len)
{
	struct rw_ehlo e;

	rw_ehlo_scan(rep, len, &e);
	return e.mechs;
}

/* base64 (RFC 4648 4), padded. */
size_t rw_base64(const void *in, size_t n, char *out, size_t outlen)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const uint8_t *p = in;
	size_t o = 0, i;

	if (n == 0 || (n + 2) / 3 * 4 + 1 > outlen) {
		if (outlen > 0)
			out[0] = '\0';
		return 0;
	}
	for (i = 0; i + 2 < n; i += 3, o += 4) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		out[o] = tab[v >> 18];
		out[o + 1] = tab[v >> 12 & 63];
		out[o + 2] = tab[v >> 6 & 63];
		out[o + 3] = tab[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);

		out[o] = tab[v >> 18];
		out[o + 1] = tab[v >> 12 & 63];
		out[o + 2] = i + 1 < n ? tab[v >> 6 & 63] : '=';
		out[o + 3] = '=';
		o += 4;
	}
	out[o] = '\0';
	return o;
}

/* "AUTH PLAIN <base64>\r\n" (RFC 4616 2: authzid NUL authcid NUL passwd). */
size_t rw_auth_plain(const char *authzid, const char *authcid, const char *password, char *out,
		     size_t outlen)
{
	char msg[3 * RW_AUTH_FIELD_MAX + 2];
	size_t zl = strlen(authzid), cl = strlen(authcid), pl = strlen(password), n;

	if (outlen > 0)
		out[0] = '\0';
	if (cl == 0 || pl == 0 || zl > RW_AUTH_FIELD_MAX || cl > RW_AUTH_FIELD_MAX || pl > RW_AUTH_FIELD_MAX ||
	    outlen < 14)
		return 0;
	memcpy(msg, authzid, zl);
	msg[zl] = '\0';
	memcpy(msg + zl + 1, authcid, cl);
	msg[zl + 1 + cl] = '\0';
	memcpy(msg + zl + cl + 2, password, pl);
	memcpy(out, "AUTH PLAIN ", 11);
	n = rw_base64(msg, zl + cl + pl + 2, out + 11, outlen - 11 - 2);
	explicit_bzero(msg, sizeof(msg));
	if (n == 0) {
		out[0] = '\0';
		return 0;
	}
	memcpy(out + 11 + n, "\r\n", 3);
	return 11 + n + 2;
}

/* LOGIN's answer to a 334 challenge: the user or the password in base64, CRLF. */
size_t rw_auth_login_line(const char *s, char *out, size_t outlen)
{
	size_t l = strlen(s), n;

	if (outlen > 0)
		out[0] = '\0';
	if (l == 0 || l > RW_AUTH_FIELD_MAX || outlen < 3)
		return 0;
	n = rw_base64(s, l, out, outlen - 2);
	if (n == 0)
		return 0;
	memcpy(out + n, "\r\n", 3);
	return n + 2;
}

/* ---- XCLIENT ---- */

/* xtext (RFC 3461 4) of a value, cut whole so it fits in outlen. */
size_t rw_xtext(const char *in, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *in && o + 4 < outlen; in++) {
		unsigned char ch = (unsigned char)*in;

		if (ch < 33 || ch > 126 || ch == '+' || ch == '=') {
			out[o++] = '+';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		} else {
			out[o++] = (char)ch;
		}
	}
	out[o] = '\0';
	return o;
}

/* The XCLIENT command announcing the client (Postfix's XCLIENT_README): the announced attributes only. */
size_t rw_xclient(const struct rw_xclient_info *x, char *out, size_t outlen)
{
	/* xtext triples a byte at most; rw_xtext() wants 5 spare bytes */
	char helo[RW_HELO_MAX * 3 + 5], login[RW_LOGIN_MAX * 3 + 5], name[RW_NAME_MAX * 3 + 5];
	char port[16] = "", protov[16] = "";
	int n;

	if (!(x->attrs & RW_XA_ADDR)) {
		if (outlen > 0)
			out[0] = '\0';
		return 0;
	}
	helo[0] = login[0] = name[0] = '\0';
	if (x->attrs & RW_XA_HELO)
		rw_xtext(x->helo != NULL && x->helo[0] ? x->helo : "[UNAVAILABLE]", helo, sizeof(helo));
	if (x->attrs & RW_XA_NAME)
		rw_xtext(x->name != NULL && x->name[0] ? x->name : x->name_temp ? "[TEMPUNAVAIL]" : "[UNAVAILABLE]",
			 name, sizeof(name));
	if (x->login != NULL && (x->attrs & RW_XA_LOGIN))
		rw_xtext(x->login, login, sizeof(login));
	if (x->attrs & RW_XA_PORT)
		str_fmt(port, sizeof(port), "%u", (unsigned)x->port);
	if (x->attrs & RW_XA_PROTO)
		snprintf(protov, sizeof(protov), "%s", x->ehlo ? "ESMTP" : "SMTP");
	n = str_fmt(out, outlen, "XCLIENT ADDR=%s%s%s%s%s%s%s%s%s%s%s%s\r\n",
		     strchr(x->addr, ':') ? "IPV6:" : "", x->addr,
		     port[0] ? " PORT=" : "", port, (x->attrs & RW_XA_NAME) ? " NAME=" : "", name,
		     (x->attrs & RW_XA_HELO) ? " HELO=" : "", helo, protov[0] ? " PROTO=" : "", protov,
		     login[0] ? " LOGIN=" : "", login);
	if (n < 0 || (size_t)n >= outlen) {
		if (outlen > 0)
			out[0] = '\0';
		return 0;
	}
	return (size_t)n;
}

/* ---- PROXY v2 ---- */

/* Append one TLV (type, 16-bit big-endian length, value); 0 when it does not fit. */
static size_t pp2_tlv(uint8_t *p, size_t room, uint8_t type, const void *v, size_t len)
{
	if (len > 0xffff || room < 3 + len)
		return 0;
	p[0] = type;
	p[1] = (uint8_t)(len >> 8);
	p[2] = (uint8_t)len;
	memcpy(p + 3, v, len);
	return 3 + len;
}

/* The PROXY v2 header with the TLS facts (proxy-protocol.txt 2.2, 2.2.5). */
size_t rw_proxy_v2(const struct rw_proxy_info *pp, uint8_t *out, size_t outlen)
{
	static const uint8_t sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };
	uint8_t ssl[256];
	size_t n = 16, sl = 5, alen = pp->family == 4 ? 4 : 16, t;

	if (outlen < 16 + 2 * alen + 4)
		return 0;
	memcpy(out, sig, 12);
	out[12] = 0x21;                                   /* version 2, PROXY */
	out[13] = pp->family == 4 ? 0x11 : 0x21;          /* TCP over IPv4 / IPv6 */
	memcpy(out + n, pp->src, alen);
	memcpy(out + n + alen, pp->dst, alen);
	n += 2 * alen;
	out[n++] = (uint8_t)(pp->sport >> 8);
	out[n++] = (uint8_t)pp->sport;
	out[n++] = (uint8_t)(pp->dport >> 8);
	out[n++] = (uint8_t)pp->dport;
	if (pp->tls) {
		int ok = strcmp(pp->verify, "OK") == 0;
		uint32_t verify = ok ? 0 : 1;
		size_t vl = strlen(pp->version), cl = strlen(pp->cipher);

		if (vl > 255 || cl > 255)
			return 0;
		ssl[0] = 0x01;                            /* PP2_CLIENT_SSL */
		if (ok || strcmp(pp->verify, "FAIL") == 0)
			ssl[0] |= 0x02 | 0x04;            /* CERT_CONN | CERT_SESS: one was shown */
		ssl[1] = (uint8_t)(verify >> 24);
		ssl[2] = (uint8_t)(verify >> 16);
		ssl[3] = (uint8_t)(verify >> 8);
		ssl[4] = (uint8_t)verify;
		t = pp2_tlv(ssl + sl, sizeof(ssl) - sl, 0x21, pp->version, vl);     /* SSL_VERSION */
		sl += t;
		if (t == 0 || (t = pp2_tlv(ssl + sl, sizeof(ssl) - sl, 0x23, pp->cipher, cl)) == 0)
			return 0;
		sl += t;                                                             /* SSL_CIPHER */
		if (pp->cn != NULL && pp->cn[0]) {
			t = pp2_tlv(ssl + sl, sizeof(ssl) - sl, 0x22, pp->cn, strnlen(pp->cn, 64));
			if (t == 0)
				return 0;
			sl += t;                                                     /* SSL_CN */
		}
		t = pp2_tlv(out + n, outlen - n, 0x20, ssl, sl);   /* PP2_TYPE_SSL */
		if (t == 0)
			return 0;
		n += t;
	}
	out[14] = (uint8_t)((n - 16) >> 8);
	out[15] = (uint8_t)(n - 16);
	return n;
}

/* ---- Received ---- */

/* The Received header in sendmail's form, folded (RFC 5321 4.4, RFC 3848). */
size_t rw_received(const struct rw_received_info *r, char *out, size_t outlen)
{
	char date[64], tlsinfo[200] = "";
	/* RFC 3848: ESMTPSA for an authenticated client under TLS */
	const char *with = r->tls ? (r->ehlo ? (r->auth ? "ESMTPSA" : "ESMTPS") : "SMTPS")
				  : (r->ehlo ? "ESMTP" : "SMTP");
	struct tm tm;
	int n;

	if (r->tls)
		str_fmt(tlsinfo, sizeof(tlsinfo), "\r\n\t(version=%s cipher=%s bits=%d verify=%s)",
			 r->version, r->cipher, r->cipher_bits, r->verify);
	gmtime_r(&r->when, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	n = str_fmt(out, outlen, "Received: from %s (%s [%s%s])\r\n\tby %s (mxgate) with %s id %s%s%s%s%s;\r\n\t%s\r\n",
		     r->helo != NULL && r->helo[0] ? r->helo : "unknown", r->name ? r->name : "unknown", strchr(r->addr, ':') ? "IPv6:" : "",
		     r->addr, r->hostname, with, r->id, tlsinfo, r->rcpt ? "\r\n\tfor <" : "",
		     r->rcpt ? r->rcpt : "", r->rcpt ? ">" : "", date);
	return n > 0 && (size_t)n < outlen ? (size_t)n : 0;
}
