/*
 * policy.c - the policy engine (see policy.h): entries parsed from an
 * access file or (key, value) pairs into a builder, compiled into an
 * immutable snapshot (a hash for names, sorted prefix arrays for
 * addresses), and the lookups of each SMTP stage in sendmail's order
 * (cf/README and proto.m4: check_relay, tls_client/TLS_connection,
 * check_mail, check_rcpt with RelayTLS/Rcpt_ok/Relay_ok, srv_features),
 * each lookup written to an optional trace.
 *
 * Sections: entries and keys, values, builder and access-file parser,
 * snapshot build, lookups, stages, small public helpers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

#define POOL_MAX        (1u << 30)      /* bytes of strings in one builder */
#define ERR_MAX         1024            /* first error kept by a builder */
#define ADDR_PART_MAX   255             /* local part or domain looked up */
#define WHY_MAX         192             /* reason part of an error message */

/* ---- entries and keys ---- */

enum tag {
	T_NONE = 0, T_CONNECT, T_FROM, T_TO, T_TLS_CLT, T_CERTISSUER, T_CERTSUBJECT,
	T_SRV_FEATURES, T_LIMIT, T_REQUIRE_TLS, T_GREETPAUSE, T_CLIENTRATE, T_CLIENTCONN,
	T_TRY_TLS, T_TLS_SRV, T_AUTHINFO, T_COUNT
};

static const char *const tag_names[T_COUNT] = {
	"", "Connect", "From", "To", "TLS_Clt", "CERTISSUER", "CERTSUBJECT",
	"Srv_Features", "Limit", "Require_TLS", "GreetPause", "ClientRate", "ClientConn",
	"Try_TLS", "TLS_Srv", "AuthInfo",
};

const char *const pol_tag_names[POL_TAG_COUNT] = {
	"default", "Connect", "From", "To", "TLS_Clt", "CERTISSUER", "CERTSUBJECT",
	"Srv_Features", "Limit", "Require_TLS", "GreetPause", "ClientRate", "ClientConn",
	"Try_TLS", "TLS_Srv", "AuthInfo", "auth",
};
_Static_assert((int)T_CONNECT == (int)POL_TAG_CONNECT && (int)T_REQUIRE_TLS == (int)POL_TAG_REQUIRE_TLS &&
	       (int)T_GREETPAUSE == (int)POL_TAG_GREETPAUSE && (int)T_CLIENTCONN == (int)POL_TAG_CLIENTCONN &&
	       (int)T_AUTHINFO == (int)POL_TAG_AUTHINFO &&
	       (int)T_COUNT == (int)POL_TAG_AUTH, "enum tag and enum pol_tag_id must agree");

/* sendmail tags mxgate does not implement: refused, never silently ignored. */
static const char *const tags_refused[] = {
	"TLS_Rcpt", "Spam", "QGRP", "Compat",
};

/* The server-side tags (mxgate towards its backends): keys like TLS_Clt's, with a bare default. */
static int server_tag(int tag)
{
	return tag == T_TRY_TLS || tag == T_TLS_SRV || tag == T_AUTHINFO;
}

enum ktype {
	K_EMPTY,        /* bare tag: the default */
	K_NAME,         /* host name or domain */
	K_DOT,          /* .domain: subdomains only */
	K_LITERAL,      /* [address], matched as text */
	K_PREFIX,       /* address or prefix: the prefix tables */
	K_FULL,         /* user@domain */
	K_USER,         /* user@ */
	K_DN,           /* +HEX quoted distinguished name */
};

enum vkind {
	V_OK, V_RELAY, V_REJECT, V_DISCARD, V_SKIP, V_ERROR, V_TLS, V_SUBJECT,
	V_FEATURES, V_LIMIT, V_YES, V_NO, V_AUTHINFO,
	V_NUMBER,       /* GreetPause (ms), ClientRate, ClientConn: u.n */
};

enum tls_req { REQ_VERIFY, REQ_VERIFY_BITS, REQ_ENCR };

/* One entry, in the builder and (copied) in the snapshot. */
struct ent {
	uint32_t key;           /* pool: lookup key, lower case, tag removed */
	uint32_t okey;          /* pool: key as written, tag included */
	uint32_t val;           /* pool: value as written */
	uint32_t msg;           /* pool: V_ERROR text, V_TLS extensions ("" = none) */
	uint32_t line;          /* access-file line, 0 = (key, value) pair */
	uint16_t klen;          /* strlen of key */
	uint8_t tag, ktype, kind;
	uint8_t family;         /* K_PREFIX: 4 or 6 */
	uint8_t plen;           /* K_PREFIX: prefix length */
	uint8_t perm;           /* V_TLS: PERM+ */
	uint8_t req;            /* V_TLS: enum tls_req */
	uint16_t bits;          /* V_TLS */
	uint16_t code;          /* V_ERROR */
	char enh[12];           /* V_ERROR */
	uint64_t hi, lo;        /* K_PREFIX: the prefix, left-aligned (IPv4 in hi's top 32 bits) */
	union {
		struct pol_features f;  /* V_FEATURES */
		struct pol_limits l;    /* V_LIMIT */
		unsigned n;             /* V_NUMBER */
	} u;
};

struct pol_builder {
	struct ent *e;
	size_t n, cap;
	char *pool;             /* pool[0] = "" */
	size_t plen, pcap;
	int failed;             /* a pol_add() failed: pol_build() refuses */
	char err[ERR_MAX];      /* its message */
	const char *src;        /* access file being parsed, for messages */
	unsigned line;
	size_t layer;           /* pol_layer(): entries from here on are the upper layer; 0 = none */
};

/* One prefix in a sorted table. */
struct pfx {
	uint64_t hi, lo;
	uint32_t ent;
	uint8_t len;
};

/* The prefixes of one tag and family, grouped by length, longest first. */
struct lpm {
	struct pfx *v;
	uint32_t n;
	uint32_t ngroups;
	uint8_t glen[129];
	uint32_t gstart[130];
};

struct pol_snapshot {
	struct ent *e;
	size_t n;
	char *pool;
	uint32_t *slot;         /* hash: entry index + 1, 0 = empty */
	size_t mask;            /* slots - 1 */
	struct lpm lpm[T_COUNT][2];
	unsigned ntag[T_COUNT]; /* entries per tag */
	unsigned ndot[T_COUNT]; /* .domain entries per tag */
	unsigned nlit[T_COUNT]; /* [literal] entries per tag */
};

/* ASCII lower case, whatever the locale. */
static char lc(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

/* ASCII upper case. */
static char uc(char c)
{
	return (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
}

/* An ASCII digit. */
static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* An ASCII hex digit. */
static int is_hex(char c)
{
	return is_digit(c) || (lc(c) >= 'a' && lc(c) <= 'f');
}

/* Space or tab: what separates key and value. */
static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Copy n bytes lower-cased and NUL-terminate. */
static void lcopy(char *dst, const char *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = lc(src[i]);
	dst[n] = 0;
}

/* Case-insensitive equality of n bytes. */
static int ieqn(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lc(a[i]) != lc(b[i]))
			return 0;
	return 1;
}

/* Case-insensitive string equality. */
static int ieq(const char *a, const char *b)
{
	size_t n = strlen(b);

	return strlen(a) == n && ieqn(a, b, n);
}

/* Length of prefix p when s starts with it (case-insensitive), else 0. */
static size_t ipre(const char *s, const char *p)
{
	size_t n = strlen(p);

	return strlen(s) >= n && ieqn(s, p, n) ? n : 0;
}

/* Copy at most n bytes of s for a message, control bytes shown as '?'. */
static void clean(char *dst, size_t dl, const char *s, size_t n)
{
	size_t i;

	if (!dl)
		return;
	for (i = 0; i < n && i + 1 < dl && s[i]; i++)
		dst[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	dst[i] = 0;
}

/* Length of an RFC 3463 code (class.subject.detail) at p, else 0. */
static size_t enh_len(const char *p)
{
	size_t i = 2, d;

	if ((p[0] != '2' && p[0] != '4' && p[0] != '5') || p[1] != '.')
		return 0;
	for (d = 0; is_digit(p[i]) && d < 3; d++)
		i++;
	if (!d || p[i] != '.')
		return 0;
	i++;
	for (d = 0; is_digit(p[i]) && d < 3; d++)
		i++;
	if (!d || is_digit(p[i]))
		return 0;
	return i;
}

/* How many times c occurs in s. */
static int count_char(const char *s, char c)
{
	int n = 0;

	for (; *s; s++)
		n += *s == c;
	return n;
}

/* All n bytes are hex digits. */
static int all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_hex(s[i]))
			return 0;
	return 1;
}

/* A decimal number of at most maxd digits at *pp (advanced): value or -1. */
static long num(const char **pp, int maxd)
{
	const char *p = *pp;
	long v = 0;
	int d = 0;

	while (is_digit(*p)) {
		if (++d > maxd)
			return -1;
		v = v * 10 + (*p++ - '0');
	}
	if (!d)
		return -1;
	*pp = p;
	return v;
}

/* True when host bits beyond len are set in (hi, lo). */
static int host_bits(uint64_t hi, uint64_t lo, unsigned len)
{
	if (len == 0)
		return hi || lo;
	if (len < 64)
		return (hi << len) != 0 || lo;
	if (len == 64)
		return lo != 0;
	if (len < 128)
		return (lo << (len - 64)) != 0;
	return 0;
}

/* (hi, lo) with the bits beyond len cleared. */
static void mask(uint64_t *hi, uint64_t *lo, unsigned len)
{
	if (len == 0) {
		*hi = 0;
		*lo = 0;
	} else if (len < 64) {
		*hi &= ~0ULL << (64 - len);
		*lo = 0;
	} else if (len == 64) {
		*lo = 0;
	} else if (len < 128) {
		*lo &= ~0ULL << (128 - len);
	}
}

/* 16 address bytes as two big-endian halves. */
static void split128(const uint8_t *a, uint64_t *hi, uint64_t *lo)
{
	*hi = 0;
	*lo = 0;
	for (int i = 0; i < 8; i++) {
		*hi = *hi << 8 | a[i];
		*lo = *lo << 8 | a[8 + i];
	}
}

/* An IPv4 address or prefix (a.b.c.d, a.b.c, a.b.c.d/N): 0, or -1 with why. */
static int parse_v4(const char *s, struct ent *e, char *why, size_t wl)
{
	uint32_t a = 0;
	unsigned oct = 0;
	const char *p = s;
	long v, len;

	for (;;) {
		const char *start = p;

		v = num(&p, 3);
		if (v < 0 || v > 255 || (p - start > 1 && *start == '0') || oct == 4)
			goto bad;
		a = a << 8 | (uint32_t)v;
		oct++;
		if (*p != '.')
			break;
		p++;
	}
	len = oct * 8;
	a <<= 32 - len;
	if (*p == '/') {
		if (oct != 4) {
			snprintf(why, wl, "bad prefix: CIDR needs four octets");
			return -1;
		}
		p++;
		len = num(&p, 2);
		if (len < 0 || len > 32 || *p)
			goto bad;
		if (host_bits((uint64_t)a << 32, 0, (unsigned)len)) {
			uint64_t h = (uint64_t)a << 32, l = 0;

			mask(&h, &l, (unsigned)len);
			snprintf(why, wl, "bad prefix: host bits set (%u.%u.%u.%u/%ld?)",
				 (unsigned)(h >> 56) & 255, (unsigned)(h >> 48) & 255,
				 (unsigned)(h >> 40) & 255, (unsigned)(h >> 32) & 255, len);
			return -1;
		}
	}
	if (*p)
		goto bad;
	e->family = 4;
	e->plen = (uint8_t)len;
	e->hi = (uint64_t)a << 32;
	e->lo = 0;
	return 0;
bad:
	snprintf(why, wl, "bad address");
	return -1;
}

/* An IPv6 address, CIDR, or sendmail's partial g:g:g prefix: 0, or -1 with why. */
static int parse_v6(const char *s, struct ent *e, char *why, size_t wl)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	uint8_t a[16] = {0};
	long len = 128;

	if (n == 0 || n >= sizeof(buf))
		goto bad;
	memcpy(buf, s, n);
	buf[n] = 0;
	if (slash || strstr(buf, "::") || strchr(buf, '.') || count_char(buf, ':') == 7) {
		if (inet_pton(AF_INET6, buf, a) != 1)
			goto bad;
		if (slash) {
			const char *p = slash + 1;

			len = num(&p, 3);
			if (len < 0 || len > 128 || *p)
				goto bad;
		}
	} else {
		/* partial: 1..7 groups of 1..4 hex digits, 16 bits each */
		unsigned g = 0;
		const char *p = buf;

		for (;;) {
			unsigned v = 0, d = 0;

			while (is_hex(*p) && d < 4) {
				v = v << 4 | (unsigned)(is_digit(*p) ? *p - '0' : lc(*p) - 'a' + 10);
				p++;
				d++;
			}
			if (!d || g == 7)
				goto bad;
			a[2 * g] = (uint8_t)(v >> 8);
			a[2 * g + 1] = (uint8_t)v;
			g++;
			if (!*p)
				break;
			if (*p != ':')
				goto bad;
			p++;
		}
		len = 16 * g;
	}
	split128(a, &e->hi, &e->lo);
	if (host_bits(e->hi, e->lo, (unsigned)len)) {
		char t[INET6_ADDRSTRLEN];
		uint64_t h = e->hi, l = e->lo;

		mask(&h, &l, (unsigned)len);
		for (int i = 0; i < 8; i++) {
			a[i] = (uint8_t)(h >> (56 - 8 * i));
			a[8 + i] = (uint8_t)(l >> (56 - 8 * i));
		}
		inet_ntop(AF_INET6, a, t, sizeof(t));
		snprintf(why, wl, "bad prefix: host bits set (%s/%ld?)", t, len);
		return -1;
	}
	/* IPv4-mapped: an IPv4 prefix, as client addresses are */
	if (len >= 96 && e->hi == 0 && (e->lo >> 32) == 0xffff) {
		e->family = 4;
		e->plen = (uint8_t)(len - 96);
		e->hi = e->lo << 32;
		e->lo = 0;
		return 0;
	}
	e->family = 6;
	e->plen = (uint8_t)len;
	return 0;
bad:
	snprintf(why, wl, "bad address");
	return -1;
}

/* Only digits, dots and a slash: an IPv4 key, never a host name. */
static int looks_v4(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!is_digit(*s) && *s != '.' && *s != '/')
			return 0;
	return 1;
}

/* A host name or domain (optionally .domain), lower-cased into out: 0 / -1. */
static int parse_name(const char *s, int allow_dot, char *out, int *kt, char *why, size_t wl)
{
	size_t n = strlen(s), i, label = 0;

	if (n > 1 && s[n - 1] == '.')
		n--;
	*kt = K_NAME;
	i = 0;
	if (s[0] == '.') {
		if (!allow_dot)
			goto bad;
		*kt = K_DOT;
		i = 1;
	}
	if (n - i == 0 || n > 254)
		goto bad;
	for (; i < n; i++) {
		char c = lc(s[i]);

		if (c == '.') {
			if (!label)
				goto bad;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || is_digit(c) || c == '-' || c == '_') {
			if (++label > 63)
				goto bad;
		} else {
			goto bad;
		}
	}
	if (!label)
		goto bad;
	lcopy(out, s, n);
	return 0;
bad:
	snprintf(why, wl, "bad host name");
	return -1;
}

/* A [literal]: [a.b.c.d] or [IPv6:...], lower-cased: 0 / -1. */
static int parse_literal(const char *s, char *out, char *why, size_t wl)
{
	size_t n = strlen(s), i = 1;

	if (n < 3 || s[0] != '[' || s[n - 1] != ']')
		goto bad;
	i += ipre(s + 1, "IPv6:");
	if (i == n - 1)
		goto bad;
	for (; i < n - 1; i++)
		if (!is_hex(s[i]) && s[i] != '.' && s[i] != ':')
			goto bad;
	lcopy(out, s, n);
	return 0;
bad:
	snprintf(why, wl, "bad address literal");
	return -1;
}

/*
 * A local part as the mailbox it names (RFC 5321 4.1.2, RFC 5322 3.4.1:
 * <"victim"@x> and <victim@x> are one mailbox): the double quotes dropped,
 * a backslash-escaped character kept without its backslash, a backslash
 * at the end dropped (as Postfix's unquote_822_local()), lower case.
 * Copies n bytes at most into out (NUL-terminated); returns the length.
 */
static size_t dequote_local(char *out, const char *in, size_t n)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (in[i] == '"')
			continue;
		if (in[i] == '\\') {
			if (++i == n)
				break;
		}
		out[o++] = lc(in[i]);
	}
	out[o] = 0;
	return o;
}

/* A local part: printable, no '@' (8-bit allowed, SMTPUTF8). */
static int good_local(const char *s, size_t n)
{
	if (!n || n > ADDR_PART_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '@' || ((unsigned char)s[i] <= 0x20) || s[i] == 0x7f)
			return 0;
	return 1;
}

/* A +HEX quoted DN: nothing str_dn_quote() would quote, +XX well formed. */
static int parse_dn(const char *s, char *out, char *why, size_t wl)
{
	size_t n = strlen(s);

	if (!n)
		goto bad;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x21 || c > 0x7e || strchr("<>()\"", c))
			goto bad;
		if (c == '+' && !(is_hex(s[i + 1]) && is_hex(s[i + 2])))
			goto bad;
	}
	lcopy(out, s, n);
	return 0;
bad:
	snprintf(why, wl, "bad DN: write it +HEX quoted (a blank is +20, '+' is +2B)");
	return -1;
}

/*
 * sendmail's client connection tags (FEATURE greet_pause, ratecontrol,
 * conncontrol): GreetPause:, ClientRate:, ClientConn:.
 */
static int client_tag(int tag)
{
	return tag == T_GREETPAUSE || tag == T_CLIENTRATE || tag == T_CLIENTCONN;
}

/*
 * Tags looked up by address only (LookUpAddress, then the bare tag):
 * mxgate's Limit:, and ClientRate:/ClientConn: as sendmail's RateControl
 * and ConnControl rulesets look them up (<A:${client_addr}> <E:>).
 */
static int addr_only(int tag)
{
	return tag == T_LIMIT || tag == T_CLIENTRATE || tag == T_CLIENTCONN;
}

/*
 * The key of an entry after its tag: fills e (ktype, prefix) and out (the
 * lookup key). 0, or -1 with why.
 */
static int parse_key(int tag, const char *s, struct ent *e, char *out, char *why, size_t wl)
{
	const char *at;
	int kt;

	out[0] = 0;
	if (!*s) {
		if (tag == T_TLS_CLT || tag == T_SRV_FEATURES || tag == T_LIMIT || tag == T_REQUIRE_TLS ||
		    client_tag(tag) || server_tag(tag)) {
			e->ktype = K_EMPTY;
			return 0;
		}
		if (tag == T_FROM || tag == T_TO)
			snprintf(why, wl, "empty key: sendmail has no %s: default", tag_names[tag]);
		else
			snprintf(why, wl, "empty key");
		return -1;
	}
	if (tag == T_CERTISSUER || tag == T_CERTSUBJECT) {
		e->ktype = K_DN;
		return parse_dn(s, out, why, wl);
	}
	at = strchr(s, '@');
	if (at) {
		if (tag != T_NONE && tag != T_FROM && tag != T_TO) {
			snprintf(why, wl, "a %s: key is a host name or an address, not a mailbox",
				 tag_names[tag]);
			return -1;
		}
		/* the mailbox a quoted local part names, as lookups see it */
		if (!good_local(s, (size_t)(at - s)) || !dequote_local(out, s, (size_t)(at - s))) {
			snprintf(why, wl, "bad local part");
			return -1;
		}
		out += strlen(out);
		*out++ = '@';
		*out = 0;
		if (!at[1]) {
			e->ktype = K_USER;
			return 0;
		}
		e->ktype = K_FULL;
		return at[1] == '[' ? parse_literal(at + 1, out, why, wl)
				    : parse_name(at + 1, 0, out, &kt, why, wl);
	}
	if (s[0] == '[') {
		if (addr_only(tag))
			goto need_addr;
		e->ktype = K_LITERAL;
		return parse_literal(s, out, why, wl);
	}
	if (looks_v4(s) || ipre(s, "IPv6:") || strchr(s, ':')) {
		size_t v6 = ipre(s, "IPv6:");

		if (tag == T_FROM || tag == T_TO) {
			snprintf(why, wl, "an address literal needs brackets: %s:[%.64s]", tag_names[tag], s);
			return -1;
		}
		if (tag == T_NONE && !v6 && strchr(s, ':')) {
			snprintf(why, wl, "an untagged IPv6 key needs the IPv6: prefix");
			return -1;
		}
		e->ktype = K_PREFIX;
		lcopy(out, s, strlen(s));
		if (!v6 && !strchr(s, ':'))
			return parse_v4(s, e, why, wl);
		return parse_v6(s + v6, e, why, wl);
	}
	if (addr_only(tag))
		goto need_addr;
	if (parse_name(s, 1, out, &kt, why, wl) < 0)
		return -1;
	e->ktype = (uint8_t)kt;
	return 0;
need_addr:
	snprintf(why, wl, "a %s: key is an address or a prefix", tag_names[tag]);
	return -1;
}

/*
 * The tag of a key: *tag and *rest (the key after the tag). 0, or -1 with
 * why for an unknown or unsupported tag.
 */
static int split_tag(const char *key, int *tag, const char **rest, char *why, size_t wl)
{
	const char *colon = strchr(key, ':');
	size_t tl;

	*tag = T_NONE;
	*rest = key;
	if (key[0] == '[' || !colon || ipre(key, "IPv6:"))
		return 0;
	tl = (size_t)(colon - key);
	for (int t = 1; t < T_COUNT; t++) {
		if (strlen(tag_names[t]) == tl && ieqn(key, tag_names[t], tl)) {
			*tag = t;
			*rest = colon + 1;
			return 0;
		}
	}
	for (size_t i = 0; i < sizeof(tags_refused) / sizeof(tags_refused[0]); i++) {
		if (strlen(tags_refused[i]) == tl && ieqn(key, tags_refused[i], tl)) {
			snprintf(why, wl, "tag %s: is not supported by mxgate", tags_refused[i]);
			return -1;
		}
	}
	if (tl <= 4 && all_hex(key, tl)) {
		snprintf(why, wl, "an untagged IPv6 key needs the IPv6: prefix");
		return -1;
	}
	snprintf(why, wl, "unknown tag '%.*s'", (int)(tl > 40 ? 40 : tl), key);
	return -1;
}

/* ---- values ---- */

/* Shown in "unknown value" messages. */
static void why_value(char *why, size_t wl, const char *v, const char *hint)
{
	char c[64];

	clean(c, sizeof(c), v, strlen(v));
	snprintf(why, wl, "unknown value '%s'%s%s", c, hint ? " " : "", hint ? hint : "");
}

/*
 * An error reply: [D.S.N:]CODE [D.S.N] TEXT, double quotes dropped. Fills
 * code and enh; text goes to out. 0, or -1 with why.
 */
static int parse_error(const char *v, int tagged, struct ent *e, char *out, char *why, size_t wl)
{
	char buf[POL_VALUE_MAX + 1], dsn[12] = "", inner[12] = "";
	const char *p = v, *q;
	size_t n = 0, dl;
	long code;

	if (tagged && (dl = enh_len(p)) && p[dl] == ':') {
		memcpy(dsn, p, dl);
		dsn[dl] = 0;
		p += dl + 1;
	}
	for (; *p && n < POL_VALUE_MAX; p++)
		if (*p != '"')
			buf[n++] = *p;
	buf[n] = 0;
	q = buf;
	while (is_blank(*q))
		q++;
	if (!(is_digit(q[0]) && is_digit(q[1]) && is_digit(q[2])) || (q[3] && q[3] != ' ')) {
		snprintf(why, wl, "an error needs a reply code (ERROR:550 text)");
		return -1;
	}
	code = (q[0] - '0') * 100 + (q[1] - '0') * 10 + (q[2] - '0');
	if (code < 400 || code > 599) {
		snprintf(why, wl, "reply code %ld is not 4xx or 5xx", code);
		return -1;
	}
	q += 3;
	while (is_blank(*q))
		q++;
	if ((dl = enh_len(q)) && (q[dl] == ' ' || !q[dl])) {
		memcpy(inner, q, dl);
		inner[dl] = 0;
		q += dl;
		while (is_blank(*q))
			q++;
	}
	if (dsn[0] && inner[0] && strcmp(dsn, inner)) {
		snprintf(why, wl, "two enhanced status codes, %s and %s", dsn, inner);
		return -1;
	}
	if (dsn[0])
		memcpy(e->enh, dsn, sizeof(dsn));
	else if (inner[0])
		memcpy(e->enh, inner, sizeof(inner));
	else
		snprintf(e->enh, sizeof(e->enh), "%ld.0.0", code / 100);
	if (e->enh[0] - '0' != code / 100) {
		snprintf(why, wl, "enhanced status code %s does not match reply code %ld", e->enh, code);
		return -1;
	}
	n = strlen(q);
	while (n && is_blank(q[n - 1]))
		n--;
	if (!n) {
		snprintf(why, wl, "no reply text after %ld", code);
		return -1;
	}
	if (n >= POL_TEXT_MAX) {
		snprintf(why, wl, "reply text longer than %d bytes", POL_TEXT_MAX - 1);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)q[i] < 0x20 || (unsigned char)q[i] > 0x7e) {
			snprintf(why, wl, "reply text has a control or non-ASCII byte");
			return -1;
		}
	}
	memcpy(out, q, n);
	out[n] = 0;
	e->code = (uint16_t)code;
	return 0;
}

/* Connect/From/To/untagged values. */
static int parse_access(const char *v, struct ent *e, char *msg, char *why, size_t wl)
{
	size_t n;

	if (ieq(v, "OK"))
		e->kind = V_OK;
	else if (ieq(v, "RELAY"))
		e->kind = V_RELAY;
	else if (ieq(v, "REJECT"))
		e->kind = V_REJECT;
	else if (ieq(v, "DISCARD"))
		e->kind = V_DISCARD;
	else if (ieq(v, "SKIP"))
		e->kind = V_SKIP;
	else if ((n = ipre(v, "ERROR:"))) {
		e->kind = V_ERROR;
		return parse_error(v + n, 1, e, msg, why, wl);
	} else if (is_digit(v[0]) || v[0] == '"') {
		e->kind = V_ERROR;
		return parse_error(v, 0, e, msg, why, wl);
	} else {
		why_value(why, wl, v, strstr(v, " #") ? "(a comment must be on a line of its own)" : NULL);
		return -1;
	}
	return 0;
}

/* A TLS_Clt requirement extension list: CN, CN:name, CS:dn, CI:dn joined by "++". */
static int check_tls_ext(const char *x, char *why, size_t wl)
{
	while (*x) {
		const char *end = strstr(x, "++");
		size_t n = end ? (size_t)(end - x) : strlen(x);

		if (!((n == 2 && ieqn(x, "CN", 2)) ||
		      (n > 3 && (ieqn(x, "CN:", 3) || ieqn(x, "CS:", 3) || ieqn(x, "CI:", 3))))) {
			char c[48];

			clean(c, sizeof(c), x, n);
			snprintf(why, wl, "unknown TLS requirement '%s' (CN, CN:name, CS:dn or CI:dn)", c);
			return -1;
		}
		x += n;
		if (end)
			x += 2;
		if (end && !*x) {
			snprintf(why, wl, "empty TLS requirement after '++'");
			return -1;
		}
	}
	return 0;
}

/* TLS_Clt values. */
static int parse_tls(const char *v, struct ent *e, char *msg, char *why, size_t wl)
{
	const char *p = v;
	size_t n;
	long bits = 0;

	if (ieq(v, "OK")) {
		e->kind = V_OK;
		return 0;
	}
	if ((n = ipre(p, "TEMP+"))) {
		p += n;
	} else if ((n = ipre(p, "PERM+"))) {
		e->perm = 1;
		p += n;
	}
	if ((n = ipre(p, "VERIFY"))) {
		p += n;
		e->req = REQ_VERIFY;
		if (*p == ':') {
			p++;
			e->req = REQ_VERIFY_BITS;
			bits = num(&p, 5);
		}
	} else if ((n = ipre(p, "ENCR:"))) {
		p += n;
		e->req = REQ_ENCR;
		bits = num(&p, 5);
	} else {
		char hint[96];

		snprintf(hint, sizeof(hint), "(%s takes VERIFY, VERIFY:bits or ENCR:bits, "
			 "after TEMP+ or PERM+ if wanted, or OK)", tag_names[e->tag]);
		why_value(why, wl, v, hint);
		return -1;
	}
	if (bits < 0 || bits > 65535) {
		snprintf(why, wl, "bad bit count in '%.40s'", v);
		return -1;
	}
	if (*p == '+') {
		if (check_tls_ext(p + 1, why, wl) < 0)
			return -1;
		strcpy(msg, p + 1);
	} else if (*p) {
		why_value(why, wl, v, NULL);
		return -1;
	}
	e->kind = V_TLS;
	e->bits = (uint16_t)bits;
	return 0;
}

/* Srv_Features letters. */
static int parse_features(const char *v, struct ent *e, char *why, size_t wl)
{
	int any = 0;

	for (const char *p = v; *p; p++) {
		if (is_blank(*p))
			continue;
		if (!strchr("ABCDELPRSVX", uc(*p)) || !((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z')) {
			snprintf(why, wl, "unknown feature letter '%c' (A B C D E L P R S V X, "
				 "upper case off, lower case on)", (unsigned char)*p < 0x20 ? '?' : *p);
			return -1;
		}
		if (*p >= 'A' && *p <= 'Z') {
			e->u.f.off |= POL_SF(*p);
			e->u.f.on &= ~POL_SF(*p);
		} else {
			e->u.f.on |= POL_SF(*p);
			e->u.f.off &= ~POL_SF(*p);
		}
		any = 1;
	}
	if (!any) {
		snprintf(why, wl, "no feature letters");
		return -1;
	}
	e->kind = V_FEATURES;
	return 0;
}

/* Limit values: conn=N rate=N/s|/min|/h. */
static int parse_limit(const char *v, struct ent *e, char *why, size_t wl)
{
	const char *p = v;
	int have_conn = 0, have_rate = 0;

	while (*p) {
		const char *w = p, *q;
		size_t n;
		long x;

		while (*p && !is_blank(*p))
			p++;
		n = (size_t)(p - w);
		while (is_blank(*p))
			p++;
		if (n > 5 && ieqn(w, "conn=", 5)) {
			q = w + 5;
			x = num(&q, 9);
			if (x < 0 || q != w + n || have_conn++)
				goto bad;
			e->u.l.conn = (unsigned)x;
		} else if (n > 5 && ieqn(w, "rate=", 5)) {
			q = w + 5;
			x = num(&q, 9);
			if (x < 0 || have_rate++)
				goto bad;
			e->u.l.rate = (unsigned)x;
			if (q + 2 == w + n && ieqn(q, "/s", 2))
				e->u.l.per_s = 1;
			else if (q + 4 == w + n && ieqn(q, "/min", 4))
				e->u.l.per_s = 60;
			else if (q + 2 == w + n && ieqn(q, "/h", 2))
				e->u.l.per_s = 3600;
			else
				goto bad;
		} else {
			goto bad;
		}
		continue;
bad:
		{
			char c[48];

			clean(c, sizeof(c), w, n);
			snprintf(why, wl, "bad limit '%s' (conn=N, rate=N/s, rate=N/min or rate=N/h, "
				 "each once)", c);
			return -1;
		}
	}
	if (!have_conn && !have_rate) {
		snprintf(why, wl, "no limit given");
		return -1;
	}
	if (!have_rate)
		e->u.l.per_s = 60;
	e->kind = V_LIMIT;
	return 0;
}

/*
 * GreetPause (milliseconds, at most 300000: sendmail caps the pause at
 * RFC 5321's 5-minute greeting timeout), ClientRate (connections per
 * POL_CLIENT_RATE_WINDOW_S) and ClientConn (open connections): a
 * decimal number, 0 = no pause or no limit.
 */
static int parse_client_value(int tag, const char *v, struct ent *e, char *why, size_t wl)
{
	const char *p = v;
	long n = num(&p, 9);
	long max = tag == T_GREETPAUSE ? POL_GREET_PAUSE_MAX_MS : 999999999;

	if (n < 0 || *p) {
		why_value(why, wl, v, tag == T_GREETPAUSE ? "(GreetPause takes milliseconds, 0 = no pause)"
			  : tag == T_CLIENTRATE ? "(ClientRate takes connections per minute, 0 = no limit)"
			  : "(ClientConn takes open connections, 0 = no limit)");
		return -1;
	}
	if (n > max) {
		snprintf(why, wl, "GreetPause %ld ms is over %ld (sendmail's cap: the 5-minute greeting "
			 "timeout)", n, max);
		return -1;
	}
	e->kind = V_NUMBER;
	e->u.n = (unsigned)n;
	return 0;
}

/* Try_TLS values: NO (no STARTTLS towards that server), YES (an exception under a NO). */
static int parse_try_tls(const char *v, struct ent *e, char *why, size_t wl)
{
	if (ieq(v, "NO"))
		e->kind = V_NO;
	else if (ieq(v, "YES"))
		e->kind = V_YES;
	else
		return why_value(why, wl, v, "(Try_TLS takes NO, or YES as an exception)"), -1;
	return 0;
}

/* Base64 (RFC 4648, padded) of n bytes at in into out (outlen); the length, or -1 when bad or too long. */
static long b64_decode(const char *in, size_t n, char *out, size_t outlen)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0, pad = 0;

	if (n % 4)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *q = strchr(tab, in[i]);

		if (in[i] == '=' && i + 2 >= n && (pad || i + 1 == n || in[i + 1] == '=')) {
			pad++;
			continue;
		}
		if (!in[i] || !q || pad)
			return -1;
		acc = acc << 6 | (uint32_t)(q - tab);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o + 1 >= outlen)
				return -1;
			out[o++] = (char)(acc >> bits);
		}
	}
	out[o] = 0;
	return (long)o;
}

/*
 * AuthInfo values (sendmail's cf/README): double-quoted items "U:user"
 * (authorization id), "I:authid" (authentication id), "P:password" or
 * "P=base64", "M:mechanisms" (blank-separated preference; mxgate speaks
 * PLAIN and LOGIN); "R:realm" (DIGEST-MD5's) is refused. U or I, and P,
 * are needed. msg gets the credentials as POL_AI_SEP-separated fields
 * user, authid, password, mechanisms. No message quotes the value: it
 * holds a password.
 */
#define POL_AI_SEP '\x01'
static int parse_authinfo(const char *v, struct ent *e, char *msg, char *why, size_t wl)
{
	char f[5][POL_VALUE_MAX + 1] = { "", "", "", "", "" };    /* U I P M, and M filtered */
	int seen = 0;
	const char *p = v;

	while (*p) {
		const char *end;
		char c, *slot;
		size_t n;
		int k;

		if (is_blank(*p)) {
			p++;
			continue;
		}
		if (*p != '"' || !(end = strchr(p + 1, '"'))) {
			snprintf(why, wl, "AuthInfo items are double-quoted: \"U:user\" \"P:password\" "
				 "[\"I:authid\"] [\"M:PLAIN LOGIN\"]");
			return -1;
		}
		n = (size_t)(end - p - 1);
		c = n >= 2 ? uc(p[1]) : 0;
		k = c == 'U' ? 0 : c == 'I' ? 1 : c == 'P' ? 2 : c == 'M' ? 3 : -1;
		if (c == 'R' && p[2] == ':') {
			snprintf(why, wl, "AuthInfo \"R:\" (a realm) is DIGEST-MD5's: mxgate authenticates "
				 "with PLAIN or LOGIN");
			return -1;
		}
		if (k < 0 || !(p[2] == ':' || (k == 2 && p[2] == '='))) {
			snprintf(why, wl, "unknown AuthInfo item (\"U:\", \"I:\", \"P:\", \"P=\" "
				 "or \"M:\")");
			return -1;
		}
		if (seen & 1 << k) {
			snprintf(why, wl, "AuthInfo item \"%c\" given twice", c);
			return -1;
		}
		seen |= 1 << k;
		slot = f[k];
		if (p[2] == '=') {
			if (b64_decode(p + 3, n - 2, slot, sizeof(f[0])) < 0 || strlen(slot) == 0 ||
			    strchr(slot, POL_AI_SEP)) {
				snprintf(why, wl, "AuthInfo \"P=\" is not base64 of a password");
				return -1;
			}
		} else {
			memcpy(slot, p + 3, n - 2);
			slot[n - 2] = 0;
		}
		p = end + 1;
	}
	if (!(seen & 3) || !(seen & 4) || !f[2][0] || !(f[0][0] || f[1][0])) {
		snprintf(why, wl, "AuthInfo needs \"U:user\" (or \"I:authid\") and \"P:password\"");
		return -1;
	}
	if (seen & 8) {
		for (const char *m = f[3]; *m;) {
			size_t n;

			while (is_blank(*m))
				m++;
			for (n = 0; m[n] && !is_blank(m[n]); n++)
				;
			if ((n == 5 && ieqn(m, "PLAIN", 5)) || (n == 5 && ieqn(m, "LOGIN", 5))) {
				if (!strstr(f[4], n == 5 && uc(m[0]) == 'P' ? "PLAIN" : "LOGIN")) {
					strcat(f[4], f[4][0] ? " " : "");
					strcat(f[4], uc(m[0]) == 'P' ? "PLAIN" : "LOGIN");
				}
			}
			m += n;
		}
		if (!f[4][0]) {
			snprintf(why, wl, "AuthInfo \"M:\" lists neither PLAIN nor LOGIN, the mechanisms "
				 "mxgate speaks");
			return -1;
		}
	} else {
		strcpy(f[4], "PLAIN LOGIN");
	}
	if ((size_t)snprintf(msg, POL_VALUE_MAX + 1, "%s%c%s%c%s%c%s", f[0], POL_AI_SEP, f[1], POL_AI_SEP,
			     f[2], POL_AI_SEP, f[4]) > POL_VALUE_MAX) {
		snprintf(why, wl, "AuthInfo value too long");
		return -1;
	}
	e->kind = V_AUTHINFO;
	return 0;
}

/* An AuthInfo value as shown (traces, rules): the password's items hidden. */
static void authinfo_shown(const char *v, char *out, size_t outlen)
{
	size_t o = 0;

	for (const char *p = v; *p && o + 1 < outlen;) {
		const char *end = p[0] == '"' ? strchr(p + 1, '"') : NULL;

		if (end && uc(p[1]) == 'P' && (p[2] == ':' || p[2] == '=')) {
			o += (size_t)snprintf(out + o, outlen - o, "\"P:****\"");
			if (o >= outlen)
				o = outlen - 1;
			p = end + 1;
		} else {
			out[o++] = *p++;
		}
	}
	out[o] = 0;
}

/* The value of an entry, by tag. */
static int parse_value(int tag, const char *v, struct ent *e, char *msg, char *why, size_t wl)
{
	int named = e->ktype == K_NAME || e->ktype == K_DOT || e->ktype == K_LITERAL ||
		    e->ktype == K_PREFIX;

	msg[0] = 0;
	if (ieq(v, "SKIP") && tag != T_CERTISSUER && tag != T_CERTSUBJECT) {
		if (!named) {
			snprintf(why, wl, "SKIP applies to host names, domains and addresses only");
			return -1;
		}
		e->kind = V_SKIP;
		return 0;
	}
	switch (tag) {
	case T_NONE:
	case T_CONNECT:
	case T_FROM:
	case T_TO:
		return parse_access(v, e, msg, why, wl);
	case T_TLS_CLT:
	case T_TLS_SRV:
		e->tag = (uint8_t)tag;   /* parse_tls() names it */
		return parse_tls(v, e, msg, why, wl);
	case T_TRY_TLS:
		return parse_try_tls(v, e, why, wl);
	case T_AUTHINFO:
		return parse_authinfo(v, e, msg, why, wl);
	case T_CERTISSUER:
		if (ieq(v, "RELAY"))
			e->kind = V_RELAY;
		else if (ieq(v, "SUBJECT"))
			e->kind = V_SUBJECT;
		else
			return why_value(why, wl, v, "(CERTISSUER takes RELAY or SUBJECT)"), -1;
		return 0;
	case T_CERTSUBJECT:
		if (!ieq(v, "RELAY"))
			return why_value(why, wl, v, "(CERTSUBJECT takes RELAY)"), -1;
		e->kind = V_RELAY;
		return 0;
	case T_SRV_FEATURES:
		return parse_features(v, e, why, wl);
	case T_LIMIT:
		return parse_limit(v, e, why, wl);
	case T_REQUIRE_TLS:
		if (ieq(v, "YES"))
			e->kind = V_YES;
		else if (ieq(v, "NO"))
			e->kind = V_NO;
		else
			return why_value(why, wl, v, "(Require_TLS takes YES or NO)"), -1;
		return 0;
	case T_GREETPAUSE:
	case T_CLIENTRATE:
	case T_CLIENTCONN:
		return parse_client_value(tag, v, e, why, wl);
	}
	return -1;
}

/* ---- builder and access-file parser ---- */

/* Record an error (the first one poisons the builder) and copy it to err. */
static int fail(struct pol_builder *b, char *err, size_t errlen, const char *key, size_t klen,
		const char *fmt, ...)
{
	char why[WHY_MAX], where[96] = "", k[POL_KEY_MAX + 1] = "";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (b->src)
		snprintf(where, sizeof(where), "%.80s:%u: ", b->src, b->line);
	if (key)
		clean(k, sizeof(k), key, klen);
	if (!b->failed) {
		snprintf(b->err, sizeof(b->err), "%s%s%s%s", where, k, key ? ": " : "", why);
		b->failed = 1;
	}
	if (err && errlen)
		snprintf(err, errlen, "%s%s%s%s", where, k, key ? ": " : "", why);
	return -1;
}

/* Copy n bytes into the pool: its offset, or 0 when full (offset 0 is ""). */
static uint32_t pool_add(struct pol_builder *b, const char *s, size_t n)
{
	uint32_t off;

	if (!n)
		return 0;
	if (b->plen + n + 1 > b->pcap) {
		size_t cap = b->pcap ? b->pcap : 4096;
		char *p;

		while (cap < b->plen + n + 1)
			cap *= 2;
		if (cap > POOL_MAX)
			return 0;
		p = realloc(b->pool, cap);
		if (!p)
			return 0;
		b->pool = p;
		b->pcap = cap;
	}
	off = (uint32_t)b->plen;
	memcpy(b->pool + b->plen, s, n);
	b->pool[b->plen + n] = 0;
	b->plen += n + 1;
	return off;
}

/* A new, empty builder. */
struct pol_builder *pol_builder_new(void)
{
	struct pol_builder *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->pool = malloc(4096);
	if (!b->pool) {
		free(b);
		return NULL;
	}
	b->pool[0] = 0;
	b->plen = 1;
	b->pcap = 4096;
	return b;
}

/* Free a builder (its snapshots live on). */
void pol_builder_free(struct pol_builder *b)
{
	if (!b)
		return;
	free(b->e);
	free(b->pool);
	free(b);
}

/* Entries added so far. */
size_t pol_builder_count(const struct pol_builder *b)
{
	return b ? b->n : 0;
}

/* Validate, parse and append one entry (key and value not NUL-terminated). */
static int add_entry(struct pol_builder *b, const char *key, size_t klen, const char *val,
		     size_t vlen, char *err, size_t errlen)
{
	char k[POL_KEY_MAX + 1], v[POL_VALUE_MAX + 1], lkey[POL_KEY_MAX + 1];
	char msg[POL_VALUE_MAX + 1], why[WHY_MAX];
	const char *rest;
	struct ent e;
	int tag;

	if (b->n >= POL_ENTRIES_MAX)
		return fail(b, err, errlen, NULL, 0, "too many entries (most %u)", POL_ENTRIES_MAX);
	if (!klen)
		return fail(b, err, errlen, NULL, 0, "empty key");
	if (klen > POL_KEY_MAX)
		return fail(b, err, errlen, key, 60, "key longer than %d bytes", POL_KEY_MAX);
	for (size_t i = 0; i < klen; i++)
		if ((unsigned char)key[i] <= 0x20 || key[i] == 0x7f || !key[i])
			return fail(b, err, errlen, key, klen, "blank or control byte in key");
	while (vlen && is_blank(*val)) {
		val++;
		vlen--;
	}
	while (vlen && (is_blank(val[vlen - 1]) || val[vlen - 1] == '\r'))
		vlen--;
	if (!vlen)
		return fail(b, err, errlen, key, klen, "missing value");
	if (vlen > POL_VALUE_MAX)
		return fail(b, err, errlen, key, klen, "value longer than %d bytes", POL_VALUE_MAX);
	for (size_t i = 0; i < vlen; i++)
		if (((unsigned char)val[i] < 0x20 && val[i] != '\t') || val[i] == 0x7f)
			return fail(b, err, errlen, key, klen, "control byte in value");
	memcpy(k, key, klen);
	k[klen] = 0;
	memcpy(v, val, vlen);
	v[vlen] = 0;

	memset(&e, 0, sizeof(e));
	if (split_tag(k, &tag, &rest, why, sizeof(why)) < 0 ||
	    parse_key(tag, rest, &e, lkey, why, sizeof(why)) < 0 ||
	    parse_value(tag, v, &e, msg, why, sizeof(why)) < 0)
		return fail(b, err, errlen, key, klen, "%s", why);
	e.tag = (uint8_t)tag;
	e.line = b->line;
	e.klen = (uint16_t)strlen(lkey);
	e.key = pool_add(b, lkey, e.klen);
	e.okey = pool_add(b, k, klen);
	if (tag == T_AUTHINFO) {        /* the password never leaves msg */
		char shown[POL_VALUE_MAX + 1];

		authinfo_shown(v, shown, sizeof(shown));
		e.val = pool_add(b, shown, strlen(shown));
	} else {
		e.val = pool_add(b, v, vlen);
	}
	e.msg = pool_add(b, msg, strlen(msg));
	if ((e.klen && !e.key) || !e.okey || !e.val || (msg[0] && !e.msg))
		return fail(b, err, errlen, NULL, 0, "out of memory (or more than %u bytes of keys "
			    "and values)", POOL_MAX);
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		struct ent *p = realloc(b->e, cap * sizeof(*p));

		if (!p)
			return fail(b, err, errlen, NULL, 0, "out of memory");
		b->e = p;
		b->cap = cap;
	}
	b->e[b->n++] = e;
	return 0;
}

/* Add one (key, value) entry. */
int pol_add(struct pol_builder *b, const char *key, const char *value, char *err, size_t errlen)
{
	if (!b || !key || !value) {
		if (err && errlen)
			snprintf(err, errlen, "no builder, key or value");
		return -1;
	}
	return add_entry(b, key, strlen(key), value, strlen(value), err, errlen);
}

/* Add the entries of access-file text. */
int pol_parse(struct pol_builder *b, const char *name, const char *text, size_t len,
	      char *err, size_t errlen)
{
	const char *p = text, *end = text + len;
	int rc = 0;

	if (!b || (!text && len)) {
		if (err && errlen)
			snprintf(err, errlen, "no builder or text");
		return -1;
	}
	b->src = name ? name : "access";
	b->line = 0;
	while (p < end && rc == 0) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end, *q = p, *kend;
		size_t n = (size_t)(le - p);

		b->line++;
		if (n && p[n - 1] == '\r')
			n--;
		if (memchr(p, 0, n))
			rc = fail(b, err, errlen, NULL, 0, "NUL byte in line");
		else if (n > POL_LINE_MAX)
			rc = fail(b, err, errlen, NULL, 0, "line longer than %d bytes", POL_LINE_MAX);
		if (rc)
			break;
		while (q < p + n && (is_blank(*q) || *q == '\r'))
			q++;
		if (q < p + n && *q != '#') {
			if (q != p) {
				rc = fail(b, err, errlen, NULL, 0, "line starts with a blank: no key");
				break;
			}
			for (kend = p; kend < p + n && !is_blank(*kend); kend++)
				;
			rc = add_entry(b, p, (size_t)(kend - p), kend, (size_t)(p + n - kend),
				       err, errlen);
		}
		p = nl ? nl + 1 : end;
	}
	b->src = NULL;
	b->line = 0;
	return rc;
}

/* Read an access file into memory. */
char *pol_read_file(const char *path, size_t *lenp, char *err, size_t errlen)
{
	FILE *f;
	char *buf = NULL;
	size_t len = 0, cap = 0;

	f = path ? fopen(path, "rb") : NULL;
	if (!f) {
		if (err && errlen)
			snprintf(err, errlen, "%s: %s", path ? path : "(no path)", strerror(errno));
		return NULL;
	}
	for (;;) {
		size_t got;

		if (len + 1 >= cap) {
			char *p;

			cap = cap ? cap * 2 : 65536;
			if (cap > (size_t)POL_FILE_MAX + 2)
				cap = (size_t)POL_FILE_MAX + 2;
			if (len + 1 >= cap) {
				fclose(f);
				free(buf);
				if (err && errlen)
					snprintf(err, errlen, "%s: larger than %u bytes", path,
						 POL_FILE_MAX);
				return NULL;
			}
			p = realloc(buf, cap);
			if (!p) {
				fclose(f);
				free(buf);
				if (err && errlen)
					snprintf(err, errlen, "%s: out of memory", path);
				return NULL;
			}
			buf = p;
		}
		got = fread(buf + len, 1, cap - 1 - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		if (err && errlen)
			snprintf(err, errlen, "%s: read error", path);
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	buf[len] = 0;
	*lenp = len;
	return buf;
}

/* Read an access file and parse it. */
int pol_load_file(struct pol_builder *b, const char *path, char *err, size_t errlen)
{
	char *buf;
	size_t len;
	int rc;

	if (!b || !path) {
		if (err && errlen)
			snprintf(err, errlen, "no builder or path");
		return -1;
	}
	buf = pol_read_file(path, &len, err, errlen);
	if (!buf)
		return -1;
	rc = pol_parse(b, path, buf, len, err, errlen);
	free(buf);
	return rc;
}

/* Start the upper layer. */
void pol_layer(struct pol_builder *b)
{
	if (b)
		b->layer = b->n;
}

/* ---- snapshot build ---- */

/* FNV-1a over the tag and the lower-case key. */
static uint64_t hkey(int tag, const char *k, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	h = (h ^ (uint8_t)tag) * 1099511628211ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)k[i]) * 1099511628211ULL;
	return h;
}

/* Order of a prefix table: length descending, then prefix. */
static int pfx_cmp(const void *a, const void *b)
{
	const struct pfx *x = a, *y = b;

	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;
	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return 0;
}

/* pol_build()'s notion of one key: same tag, and same prefix or same folded key. */
static int same_key(const char *pool, const struct ent *a, const struct ent *b)
{
	if (a->tag != b->tag || (a->ktype == K_PREFIX) != (b->ktype == K_PREFIX))
		return 0;
	if (a->ktype == K_PREFIX)
		return a->family == b->family && a->plen == b->plen && a->hi == b->hi && a->lo == b->lo;
	return a->klen == b->klen && !memcmp(pool + a->key, pool + b->key, a->klen);
}

/* A hash of that key. */
static uint64_t key_hash(const char *pool, const struct ent *e)
{
	char p[18];

	if (e->ktype != K_PREFIX)
		return hkey(e->tag, pool + e->key, e->klen);
	p[0] = (char)e->family;
	p[1] = (char)e->plen;
	memcpy(p + 2, &e->hi, 8);
	memcpy(p + 10, &e->lo, 8);
	return hkey(e->tag + 128, p, sizeof(p));
}

/*
 * Mark in drop[] the entries of the lower layer that one of the upper
 * layer replaces (pol_layer()); how many, or -1 when out of memory.
 */
static long shadowed(const struct pol_builder *b, uint8_t *drop)
{
	size_t slots = 16, mask, up = b->n - b->layer;
	uint32_t *slot;
	long n = 0;

	while (slots < 2 * up)
		slots *= 2;
	mask = slots - 1;
	slot = calloc(slots, sizeof(*slot));
	if (!slot)
		return -1;
	for (size_t i = b->layer; i < b->n; i++) {
		size_t h = key_hash(b->pool, &b->e[i]) & mask;

		while (slot[h])
			h = (h + 1) & mask;
		slot[h] = (uint32_t)i + 1;
	}
	for (size_t i = 0; i < b->layer; i++)
		for (size_t h = key_hash(b->pool, &b->e[i]) & mask; slot[h]; h = (h + 1) & mask)
			if (same_key(b->pool, &b->e[i], &b->e[slot[h] - 1])) {
				drop[i] = 1;
				n++;
				break;
			}
	free(slot);
	return n;
}

/* The message for two entries that are one key. */
static void dup_err(const struct pol_snapshot *s, const struct ent *a, const struct ent *b,
		    char *err, size_t errlen)
{
	char ka[POL_KEY_MAX + 1], kb[POL_KEY_MAX + 1], la[24] = "", lb[24] = "";

	if (!err || !errlen)
		return;
	clean(ka, sizeof(ka), s->pool + a->okey, POL_KEY_MAX);
	clean(kb, sizeof(kb), s->pool + b->okey, POL_KEY_MAX);
	if (a->line)
		snprintf(la, sizeof(la), " (line %u)", a->line);
	if (b->line)
		snprintf(lb, sizeof(lb), " (line %u)", b->line);
	snprintf(err, errlen, "%s%s: same key as %s%s", ka, la, kb, lb);
}

/* Compile a builder into a snapshot. */
struct pol_snapshot *pol_build(const struct pol_builder *b, char *err, size_t errlen)
{
	struct pol_snapshot *s;
	size_t slots = 16, nt[T_COUNT][2] = {{0}};
	uint8_t *drop = NULL;   /* lower-layer entries replaced by the upper layer */
	long ndrop = 0;

	if (!b) {
		if (err && errlen)
			snprintf(err, errlen, "no builder");
		return NULL;
	}
	if (b->failed) {
		if (err && errlen)
			snprintf(err, errlen, "%s", b->err);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		goto oom;
	if (b->layer) {
		drop = calloc(b->layer, 1);
		if (!drop || (ndrop = shadowed(b, drop)) < 0)
			goto oom;
	}
	s->n = b->n - (size_t)ndrop;
	s->e = malloc((s->n ? s->n : 1) * sizeof(*s->e));
	s->pool = malloc(b->plen);
	while (slots < 2 * s->n)
		slots *= 2;
	s->slot = calloc(slots, sizeof(*s->slot));
	s->mask = slots - 1;
	if (!s->e || !s->pool || !s->slot)
		goto oom;
	for (size_t i = 0, j = 0; i < b->n; i++)
		if (!drop || i >= b->layer || !drop[i])
			s->e[j++] = b->e[i];
	free(drop);
	drop = NULL;
	memcpy(s->pool, b->pool, b->plen);

	for (size_t i = 0; i < s->n; i++) {
		const struct ent *e = &s->e[i];

		s->ntag[e->tag]++;
		s->ndot[e->tag] += e->ktype == K_DOT;
		s->nlit[e->tag] += e->ktype == K_LITERAL;
		if (e->ktype == K_PREFIX) {
			nt[e->tag][e->family == 6]++;
			continue;
		}
		for (size_t h = hkey(e->tag, s->pool + e->key, e->klen) & s->mask;;
		     h = (h + 1) & s->mask) {
			const struct ent *o;

			if (!s->slot[h]) {
				s->slot[h] = (uint32_t)i + 1;
				break;
			}
			o = &s->e[s->slot[h] - 1];
			if (o->tag == e->tag && o->klen == e->klen &&
			    !memcmp(s->pool + o->key, s->pool + e->key, e->klen)) {
				dup_err(s, e, o, err, errlen);
				pol_snapshot_free(s);
				return NULL;
			}
		}
	}
	for (int t = 0; t < T_COUNT; t++) {
		for (int f = 0; f < 2; f++) {
			struct lpm *l = &s->lpm[t][f];

			if (!nt[t][f])
				continue;
			l->v = malloc(nt[t][f] * sizeof(*l->v));
			if (!l->v)
				goto oom;
		}
	}
	for (size_t i = 0; i < s->n; i++) {
		const struct ent *e = &s->e[i];
		struct lpm *l;

		if (e->ktype != K_PREFIX)
			continue;
		l = &s->lpm[e->tag][e->family == 6];
		l->v[l->n++] = (struct pfx){ e->hi, e->lo, (uint32_t)i, e->plen };
	}
	for (int t = 0; t < T_COUNT; t++) {
		for (int f = 0; f < 2; f++) {
			struct lpm *l = &s->lpm[t][f];

			if (!l->n)
				continue;
			qsort(l->v, l->n, sizeof(*l->v), pfx_cmp);
			for (uint32_t i = 0; i < l->n; i++) {
				if (i && !pfx_cmp(&l->v[i - 1], &l->v[i])) {
					dup_err(s, &s->e[l->v[i].ent], &s->e[l->v[i - 1].ent], err, errlen);
					pol_snapshot_free(s);
					return NULL;
				}
				if (!i || l->v[i - 1].len != l->v[i].len) {
					l->glen[l->ngroups] = l->v[i].len;
					l->gstart[l->ngroups++] = i;
				}
			}
			l->gstart[l->ngroups] = l->n;
		}
	}
	return s;
oom:
	if (err && errlen)
		snprintf(err, errlen, "out of memory");
	free(drop);
	pol_snapshot_free(s);
	return NULL;
}

/* Free a snapshot (once no reader can hold it). */
void pol_snapshot_free(struct pol_snapshot *s)
{
	if (!s)
		return;
	for (int t = 0; t < T_COUNT; t++)
		for (int f = 0; f < 2; f++)
			free(s->lpm[t][f].v);
	free(s->slot);
	free(s->pool);
	free(s->e);
	free(s);
}

/* Entries in a snapshot. */
size_t pol_snapshot_count(const struct pol_snapshot *s)
{
	return s ? s->n : 0;
}

/* ---- lookups ---- */

/* Append a line to a trace (control bytes shown as '?'). */
__attribute__((format(printf, 2, 3)))
static void tr(struct pol_trace *t, const char *fmt, ...)
{
	va_list ap;
	char *l;
	int r;

	if (!t)
		return;
	if (t->n >= POL_TRACE_LINES) {
		t->dropped++;
		return;
	}
	l = t->line[t->n++];
	va_start(ap, fmt);
	r = vsnprintf(l, POL_TRACE_WIDTH, fmt, ap);
	va_end(ap);
	if (r >= POL_TRACE_WIDTH)
		memcpy(l + POL_TRACE_WIDTH - 4, "...", 4);
	for (; *l; l++)
		if ((unsigned char)*l < 0x20 || *l == 0x7f)
			*l = '?';
}

/* "Tag:" for a trace line ("" untagged). */
static const char *tagp(int tag, char *buf)
{
	if (tag == T_NONE)
		return "";
	snprintf(buf, 20, "%s:", tag_names[tag]);
	return buf;
}

/* The entry of (tag, key), key lower-case. */
static const struct ent *hget(const struct pol_snapshot *s, int tag, const char *key, size_t n)
{
	for (size_t h = hkey(tag, key, n) & s->mask;; h = (h + 1) & s->mask) {
		uint32_t v = s->slot[h];
		const struct ent *e;

		if (!v)
			return NULL;
		e = &s->e[v - 1];
		if (e->tag == tag && e->klen == n && !memcmp(s->pool + e->key, key, n))
			return e;
	}
}

/* One exact lookup, traced. */
static const struct ent *probe(const struct pol_snapshot *s, int tag, const char *key, size_t n,
			       struct pol_trace *t)
{
	const struct ent *e = hget(s, tag, key, n);
	char tb[20];

	if (e)
		tr(t, "%s%.*s -> found %s", tagp(tag, tb), (int)n, key, s->pool + e->val);
	else
		tr(t, "%s%.*s -> not found", tagp(tag, tb), (int)n, key);
	return e;
}

/* Any entries to look at: of the tag, or untagged when plus. */
static int has_entries(const struct pol_snapshot *s, int tag, int plus)
{
	return s->ntag[tag] || (plus && s->ntag[T_NONE]);
}

/* Tagged lookup, then untagged (sendmail's "+" lookups) when there are any. */
static const struct ent *get_plus(const struct pol_snapshot *s, int tag, int plus, const char *key,
				  size_t n, struct pol_trace *t)
{
	const struct ent *e = NULL;

	if (s->ntag[tag])
		e = probe(s, tag, key, n, t);
	if (!e && plus && s->ntag[T_NONE])
		e = probe(s, T_NONE, key, n, t);
	return e;
}

/* SKIP ends a walk as "not found". */
static const struct ent *unskip(const struct ent *e, struct pol_trace *t)
{
	if (e && e->kind == V_SKIP) {
		tr(t, "SKIP: stop looking, as if not found");
		return NULL;
	}
	return e;
}

/* LookUpDomain on a [literal]: [1.2.3.4], [1.2.3], ... as text. */
static const struct ent *walk_literal(const struct pol_snapshot *s, int tag, int plus, char *buf,
				      size_t n, struct pol_trace *t)
{
	if (!s->nlit[tag] && !(plus && s->nlit[T_NONE]))
		return NULL;
	for (;;) {
		const struct ent *e = get_plus(s, tag, plus, buf, n, t);
		char *q;

		if (e)
			return unskip(e, t);
		for (q = buf + n - 2; q > buf && *q != '.' && *q != ':'; q--)
			;
		if (q <= buf + 1)
			return NULL;
		if (*q == ':' && q[-1] == ':')
			q--;
		if (q - buf - 1 == 4 && ieqn(buf + 1, "ipv6", 4))
			return NULL;
		q[0] = ']';
		q[1] = 0;
		n = (size_t)(q - buf) + 1;
	}
}

/* LookUpDomain: host.a.b, .a.b, a.b, .b, b; SKIP ends the walk. */
static const struct ent *walk_name(const struct pol_snapshot *s, int tag, int plus, const char *name,
				   struct pol_trace *t)
{
	char buf[POL_KEY_MAX + 2];
	size_t n = strlen(name);
	int dots = s->ndot[tag] || (plus && s->ndot[T_NONE]);
	const char *p = buf;

	if (!n)
		return NULL;
	if (n > POL_KEY_MAX) {
		tr(t, "name longer than %d bytes: not looked up", POL_KEY_MAX);
		return NULL;
	}
	lcopy(buf, name, n);
	if (buf[0] == '[')
		return buf[n - 1] == ']' ? walk_literal(s, tag, plus, buf, n, t) : NULL;
	if (n > 1 && buf[n - 1] == '.')
		buf[--n] = 0;
	for (;;) {
		const struct ent *e = get_plus(s, tag, plus, p, n - (size_t)(p - buf), t);
		const char *dot;

		if (e)
			return unskip(e, t);
		dot = strchr(p, '.');
		if (!dot || !dot[1])
			return NULL;
		if (dots && (e = get_plus(s, tag, plus, dot, n - (size_t)(dot - buf), t)))
			return unskip(e, t);
		p = dot + 1;
	}
}

/* Longest prefix of one table matching (hi, lo): the entry, *len its length. */
static const struct ent *lpm_get(const struct pol_snapshot *s, const struct lpm *l, uint64_t hi,
				 uint64_t lo, int *len)
{
	for (uint32_t g = 0; g < l->ngroups; g++) {
		uint64_t h = hi, w = lo;
		uint32_t a = l->gstart[g], b = l->gstart[g + 1];

		mask(&h, &w, l->glen[g]);
		while (a < b) {
			uint32_t m = a + (b - a) / 2;
			const struct pfx *p = &l->v[m];

			if (p->hi == h && p->lo == w) {
				*len = p->len;
				return &s->e[p->ent];
			}
			if (p->hi < h || (p->hi == h && p->lo < w))
				a = m + 1;
			else
				b = m;
		}
	}
	return NULL;
}

/* LookUpAddress: the longest prefix, tagged before untagged at one length. */
static const struct ent *walk_addr(const struct pol_snapshot *s, int tag, int plus,
				   const struct pol_addr *a, struct pol_trace *t)
{
	const struct ent *e = NULL, *u = NULL;
	char as[64], tb[20];
	uint64_t hi, lo;
	int f = a->family == 6, el = -1, ul = -1;

	if (a->family != 4 && a->family != 6)
		return NULL;
	if (t)
		pol_addr_format(a, as, sizeof(as));
	if (f) {
		split128(a->a, &hi, &lo);
	} else {
		hi = (uint64_t)((uint32_t)a->a[0] << 24 | (uint32_t)a->a[1] << 16 |
				(uint32_t)a->a[2] << 8 | a->a[3]) << 32;
		lo = 0;
	}
	if (s->ntag[tag])
		e = lpm_get(s, &s->lpm[tag][f], hi, lo, &el);
	if (plus && s->ntag[T_NONE])
		u = lpm_get(s, &s->lpm[T_NONE][f], hi, lo, &ul);
	if (u && ul > el)
		e = u;
	if (e)
		tr(t, "%s%s -> found %s %s", tagp(tag, tb), as, s->pool + e->okey, s->pool + e->val);
	else
		tr(t, "%s%s -> not found", tagp(tag, tb), as);
	return unskip(e, t);
}

/* ${client_name}: the name, else "[address]" when literal entries could match. */
static const char *client_name(const struct pol_snapshot *s, int tag, int plus,
			       const struct pol_client *c, char *buf, size_t len)
{
	char as[64];

	if (c->name && c->name[0])
		return c->name;
	if ((!s->nlit[tag] && !(plus && s->nlit[T_NONE])) || !c->addr.family)
		return NULL;
	pol_addr_format(&c->addr, as, sizeof(as));
	snprintf(buf, len, "[%s]", as);
	return buf;
}

/* Name walk, address, bare tag (tls_client, srv_features): tagged entries only. */
static const struct ent *look_client(const struct pol_snapshot *s, int tag, int use_name,
				     const struct pol_client *c, struct pol_trace *t)
{
	const struct ent *e = NULL;
	const char *name;
	char nb[80];

	if (!s || !s->ntag[tag]) {
		tr(t, "no %s: entries", tag_names[tag]);
		return NULL;
	}
	if (use_name && (name = client_name(s, tag, 0, c, nb, sizeof(nb))))
		e = walk_name(s, tag, 0, name, t);
	if (!e)
		e = walk_addr(s, tag, 0, &c->addr, t);
	if (!e)
		e = probe(s, tag, "", 0, t);
	return e;
}

/* ---- stages ---- */

/* A reject result; the text is made printable ASCII (it may quote client data). */
__attribute__((format(printf, 4, 5)))
static void reject(struct pol_result *r, int code, const char *enh, const char *fmt, ...)
{
	va_list ap;

	r->action = POL_REJECT;
	r->code = code;
	snprintf(r->enh, sizeof(r->enh), "%s", enh);
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
	for (char *p = r->text; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
}

/* The rule that decided: the entry as written. */
static void rule(const struct pol_snapshot *s, struct pol_result *r, const struct ent *e)
{
	snprintf(r->rule, sizeof(r->rule), "%s %s", s->pool + e->okey, s->pool + e->val);
	r->tag = e->tag;
}

/* What an access entry means for a stage (REJECT's reply is the stage's). */
static void apply_access(const struct pol_snapshot *s, const struct ent *e, struct pol_result *r,
			 int code, const char *enh, const char *text)
{
	switch (e->kind) {
	case V_OK:
		r->action = POL_OK;
		break;
	case V_RELAY:
		r->action = POL_RELAY;
		break;
	case V_DISCARD:
		r->action = POL_DISCARD;
		break;
	case V_REJECT:
		reject(r, code, enh, "%s", text);
		break;
	case V_ERROR:
		reject(r, e->code, e->enh, "%s", s->pool + e->msg);
		break;
	default:
		return;
	}
	rule(s, r, e);
}

/* After the connection is accepted: check_relay. */
struct pol_result pol_check_connect(const struct pol_snapshot *s, const struct pol_client *c,
				    struct pol_trace *t)
{
	struct pol_result r;
	const struct ent *e = NULL;
	const char *name;
	char nb[80];

	memset(&r, 0, sizeof(r));
	if (!s || !has_entries(s, T_CONNECT, 1)) {
		tr(t, "no Connect: entries");
		return r;
	}
	name = client_name(s, T_CONNECT, 1, c, nb, sizeof(nb));
	if (name)
		e = walk_name(s, T_CONNECT, 1, name, t);
	if (!e)
		e = walk_addr(s, T_CONNECT, 1, &c->addr, t);
	if (e)
		apply_access(s, e, &r, 550, "5.7.1", "Access denied");
	return r;
}

/* {verify}, NONE when empty. */
static const char *verify_of(const struct pol_client *c)
{
	return c->verify && c->verify[0] ? c->verify : "NONE";
}

/* The CN/CS/CI extensions of a requirement: 0, or -1 with r rejected. */
static int tls_ext(const struct pol_client *c, const char *x, struct pol_result *r, int code,
		   const char *enh)
{
	while (*x) {
		const char *end = strstr(x, "++"), *have, *what;
		size_t n = end ? (size_t)(end - x) : strlen(x), wl;
		char want[POL_VALUE_MAX + 1];

		if (n == 2) {
			what = "CN";
			have = c->cn_subject ? c->cn_subject : "";
			snprintf(want, sizeof(want), "%s", c->name ? c->name : "");
		} else {
			what = ieqn(x, "CN:", 3) ? "CN" : ieqn(x, "CS:", 3) ? "Cert Subject" : "Cert Issuer";
			have = ieqn(x, "CN:", 3) ? c->cn_subject : ieqn(x, "CS:", 3) ? c->cert_subject
										   : c->cert_issuer;
			have = have ? have : "";
			snprintf(want, sizeof(want), "%.*s", (int)(n - 3), x + 3);
		}
		wl = strlen(want);
		if (strlen(have) != wl || !ieqn(have, want, wl)) {
			reject(r, code, enh, "%s %s does not match %s", what, have, want);
			return -1;
		}
		x += n;
		if (end)
			x += 2;
	}
	return 0;
}

/* sendmail's TLS_connection: the requirement of e (or none) against the session. */
static void tls_connection(const struct pol_snapshot *s, const struct pol_client *c,
			   const struct ent *e, struct pol_result *r, struct pol_trace *t)
{
	const char *verify = verify_of(c);
	int req = e && e->kind == V_TLS, code = 403, need = -1, have;
	const char *enh = "4.7.0";

	if (req && e->perm) {
		code = 503;
		enh = "5.7.0";
	}
	if (e || !strcmp(verify, "SOFTWARE") || !strcmp(verify, "PROTOCOL"))
		tr(t, "tls: verify=%s cipher_bits=%d auth_ssf=%d%s%s", verify, c->cipher_bits,
		   c->auth_ssf, req ? " requirement " : "", req ? s->pool + e->val : "");
	if (!strcmp(verify, "SOFTWARE") || !strcmp(verify, "PROTOCOL")) {
		reject(r, code, enh, "%s", verify[0] == 'S' ? "TLS handshake failed." : "STARTTLS failed.");
		if (e) {
			rule(s, r, e);
		} else {
			snprintf(r->rule, sizeof(r->rule), "verify=%s", verify);
			r->tag = POL_TAG_TLS_CLT;
		}
		return;
	}
	if (!req) {
		if (e && e->kind == V_OK) {     /* an exception: no requirement */
			r->action = POL_OK;
			rule(s, r, e);
		}
		return;
	}
	if (e->req == REQ_ENCR)
		need = e->bits;
	else if (!strcmp(verify, "OK"))
		need = e->req == REQ_VERIFY_BITS ? e->bits : 0;
	if (need < 0) {
		if (!strcmp(verify, "FAIL"))
			reject(r, code, enh, "authentication failed");
		else if (!strcmp(verify, "NO"))
			reject(r, code, enh, "not authenticated");
		else if (!strcmp(verify, "NOT"))
			reject(r, code, enh, "no authentication requested");
		else if (!strcmp(verify, "NONE"))
			reject(r, code, enh, "other side does not support STARTTLS");
		else
			reject(r, code, enh, "authentication failure %s", verify);
		rule(s, r, e);
		return;
	}
	have = c->cipher_bits > c->auth_ssf ? c->cipher_bits : c->auth_ssf;
	if (have < need) {
		reject(r, code, enh, "encryption too weak %d less than %d", have, need);
		rule(s, r, e);
		return;
	}
	if (tls_ext(c, s->pool + e->msg, r, code, enh) < 0) {
		rule(s, r, e);
		return;
	}
	r->action = POL_OK;
	rule(s, r, e);
}

/* After the TLS handshake: tls_client with STARTTLS. */
struct pol_result pol_check_tls(const struct pol_snapshot *s, const struct pol_client *c,
				struct pol_trace *t)
{
	struct pol_result r;

	memset(&r, 0, sizeof(r));
	tls_connection(s, c, look_client(s, T_TLS_CLT, 1, c, t), &r, t);
	return r;
}

/* Require_TLS's entry for this client, if it says YES. */
static const struct ent *require_tls(const struct pol_snapshot *s, const struct pol_client *c,
				     struct pol_trace *t)
{
	const struct ent *e = look_client(s, T_REQUIRE_TLS, 1, c, t);

	return e && e->kind == V_YES ? e : NULL;
}

/* Require_TLS for this client. */
int pol_require_tls(const struct pol_snapshot *s, const struct pol_client *c, struct pol_trace *t)
{
	return require_tls(s, c, t) != NULL;
}

/* ---- the server side: mxgate towards a backend (Try_TLS, TLS_Srv, AuthInfo) ---- */

/* Try_TLS: 0 when the entry for this server says NO, else 1 (sendmail's try_tls). */
int pol_try_tls(const struct pol_snapshot *s, const struct pol_client *srv, struct pol_trace *t)
{
	const struct ent *e = look_client(s, T_TRY_TLS, 1, srv, t);

	return !(e && e->kind == V_NO);
}

/* TLS_Srv: the requirement on the server's certificate and cipher (sendmail's tls_server). */
struct pol_result pol_check_tls_srv(const struct pol_snapshot *s, const struct pol_client *srv,
				    struct pol_trace *t)
{
	struct pol_result r;

	memset(&r, 0, sizeof(r));
	tls_connection(s, srv, look_client(s, T_TLS_SRV, 1, srv, t), &r, t);
	return r;
}

/* AuthInfo: the credentials for this server, if an entry gives them. */
int pol_authinfo(const struct pol_snapshot *s, const struct pol_client *srv, struct pol_authinfo *a,
		 struct pol_trace *t)
{
	const struct ent *e = look_client(s, T_AUTHINFO, 1, srv, t);
	char *f[4] = { a->user, a->authid, a->password, a->mechs };
	const char *p;

	memset(a, 0, sizeof(*a));
	if (!e || e->kind != V_AUTHINFO)
		return 0;
	p = s->pool + e->msg;
	for (int i = 0; i < 4; i++) {
		size_t n = strcspn(p, (char[]){ POL_AI_SEP, 0 });

		memcpy(f[i], p, n);
		f[i][n] = 0;
		p += n + (p[n] != 0);
	}
	snprintf(a->rule, sizeof(a->rule), "%s %s", s->pool + e->okey, s->pool + e->val);
	return 1;
}

/*
 * Sender-specified routing in a dequoted local part: '@', '%' (the
 * "percent hack") or '!' (a UUCP bang path). A backend that trusts mxgate
 * may route u%evil.example@ours, "u@evil.example"@ours or
 * evil.example!u@ours to evil.example (Postfix's allow_untrusted_routing,
 * sendmail's FEATURE(loose_relay_check) are about these).
 */
static int routed_local(const char *local)
{
	return strpbrk(local, "@%!") != NULL;
}

/*
 * A mailbox for lookups: local part and domain, lower case, without <>,
 * source route or the domain's trailing dot; the domain starts after the
 * last '@' that is neither inside a quoted string nor escaped by a
 * backslash, and the local part is dequoted (dequote_local()). An
 * unterminated quoted string runs to the end (no domain). 1 = null path,
 * 0 = ok (dom "" when there is none), -1 = too long. *routed: the local
 * part has sender-specified routing (routed_local()).
 */
static int split_addr(const char *in, char *local, char *dom, int *routed)
{
	const char *p = in ? in : "", *end, *at = NULL, *q;
	size_t n;
	int quoted = 0;

	*routed = 0;
	while (is_blank(*p))
		p++;
	n = strlen(p);
	while (n && is_blank(p[n - 1]))
		n--;
	if (n >= 2 && p[0] == '<' && p[n - 1] == '>') {
		p++;
		n -= 2;
	}
	end = p + n;
	if (n && p[0] == '@') {
		const char *colon = memchr(p, ':', n);

		if (colon)
			p = colon + 1;
	}
	if (p >= end)
		return 1;
	for (q = p; q < end; q++) {
		if (*q == '\\') {
			if (q + 1 < end)
				q++;
		} else if (*q == '"') {
			quoted = !quoted;
		} else if (*q == '@' && !quoted) {
			at = q;
		}
	}
	if (!at) {
		if ((size_t)(end - p) > ADDR_PART_MAX)
			return -1;
		dom[0] = 0;
		if (!dequote_local(local, p, (size_t)(end - p)))
			return 1;               /* <""> names no one */
		*routed = routed_local(local);
		return 0;
	}
	if ((size_t)(at - p) > ADDR_PART_MAX || (size_t)(end - at - 1) > ADDR_PART_MAX)
		return -1;
	dequote_local(local, p, (size_t)(at - p));
	*routed = routed_local(local);
	lcopy(dom, at + 1, (size_t)(end - at - 1));
	n = strlen(dom);
	if (n > 1 && dom[n - 1] == '.')
		dom[n - 1] = 0;
	return 0;
}

/*
 * check_mail/check_rcpt's SearchList: user@domain (and +detail forms),
 * user@ (and +detail forms), domain walk; the first found decides.
 * *walked says whether the domain walk ran (its result is then the answer).
 */
static const struct ent *search_addr(const struct pol_snapshot *s, int tag, const char *local,
				     const char *dom, struct pol_trace *t, int *walked)
{
	char key[2 * ADDR_PART_MAX + 8];
	const char *plus = strchr(local, '+');
	size_t bl = plus && plus != local ? (size_t)(plus - local) : 0;
	const struct ent *e;
	int n;

	*walked = 0;
	if (!has_entries(s, tag, 1)) {
		tr(t, "no %s: entries", tag_names[tag]);
		*walked = 1;
		return NULL;
	}
	if (!local[0])
		tr(t, "empty local part: no user lookups");
	if (dom[0] && local[0]) {
		n = snprintf(key, sizeof(key), "%s@%s", local, dom);
		if ((e = get_plus(s, tag, 1, key, (size_t)n, t)))
			return e;
		if (bl) {
			n = snprintf(key, sizeof(key), "%.*s+*@%s", (int)bl, local, dom);
			if ((e = get_plus(s, tag, 1, key, (size_t)n, t)))
				return e;
			n = snprintf(key, sizeof(key), "%.*s@%s", (int)bl, local, dom);
			if ((e = get_plus(s, tag, 1, key, (size_t)n, t)))
				return e;
		}
	}
	if (local[0]) {
		n = snprintf(key, sizeof(key), "%s@", local);
		if ((e = get_plus(s, tag, 1, key, (size_t)n, t)))
			return e;
	}
	if (bl) {
		n = snprintf(key, sizeof(key), "%.*s+*@", (int)bl, local);
		if ((e = get_plus(s, tag, 1, key, (size_t)n, t)))
			return e;
		n = snprintf(key, sizeof(key), "%.*s@", (int)bl, local);
		if ((e = get_plus(s, tag, 1, key, (size_t)n, t)))
			return e;
	}
	if (!dom[0])
		return NULL;
	*walked = 1;
	return walk_name(s, tag, 1, dom, t);
}

/* MAIL FROM: Require_TLS, tls_client with MAIL, then check_mail. */
struct pol_result pol_check_mail(const struct pol_snapshot *s, const struct pol_client *c,
				 const char *from, struct pol_trace *t)
{
	struct pol_result r;
	char local[ADDR_PART_MAX + 1], dom[ADDR_PART_MAX + 1];
	const struct ent *e;
	int walked, rc, routed;

	memset(&r, 0, sizeof(r));
	if (!s) {
		tr(t, "no policy");
		return r;
	}
	if ((e = require_tls(s, c, t)) && !c->tls) {
		reject(&r, 530, "5.7.0", "Must issue a STARTTLS command first");
		rule(s, &r, e);
		return r;
	}
	tls_connection(s, c, look_client(s, T_TLS_CLT, 1, c, t), &r, t);
	if (r.action == POL_REJECT)
		return r;
	memset(&r, 0, sizeof(r));
	rc = split_addr(from, local, dom, &routed);
	if (rc == 1) {
		tr(t, "<>: the null sender is always accepted");
		return r;
	}
	if (rc < 0) {
		tr(t, "sender too long: not looked up");
		return r;
	}
	e = search_addr(s, T_FROM, local, dom, t, &walked);
	if (e)
		apply_access(s, e, &r, 550, "5.7.1", "Access denied");
	return r;
}

/* RelayTLS: a verified certificate whose issuer (or subject) is RELAY. */
static const struct ent *relay_tls(const struct pol_snapshot *s, const struct pol_client *c,
				   struct pol_trace *t)
{
	char k[POL_KEY_MAX + 1];
	const struct ent *e;
	size_t n;

	if (strcmp(verify_of(c), "OK")) {
		tr(t, "relay: verify=%s, no certificate to trust", verify_of(c));
		return NULL;
	}
	if (!s->ntag[T_CERTISSUER]) {
		tr(t, "relay: no CERTISSUER: entries");
		return NULL;
	}
	n = c->cert_issuer ? strlen(c->cert_issuer) : 0;
	if (!n || n > POL_KEY_MAX) {
		tr(t, "relay: no certificate issuer");
		return NULL;
	}
	lcopy(k, c->cert_issuer, n);
	e = probe(s, T_CERTISSUER, k, n, t);
	if (!e || e->kind == V_RELAY)
		return e;
	n = c->cert_subject ? strlen(c->cert_subject) : 0;
	if (!n || n > POL_KEY_MAX)
		return NULL;
	lcopy(k, c->cert_subject, n);
	e = probe(s, T_CERTSUBJECT, k, n, t);
	return e && e->kind == V_RELAY ? e : NULL;
}

/* RCPT TO: check_rcpt (To: entries, then relaying). */
struct pol_result pol_check_rcpt(const struct pol_snapshot *s, const struct pol_client *c,
				 const char *to, struct pol_trace *t)
{
	struct pol_result r;
	char local[ADDR_PART_MAX + 1], dom[ADDR_PART_MAX + 1], nb[80];
	const struct ent *e, *d = NULL;
	const char *name;
	int walked, rc, routed;

	memset(&r, 0, sizeof(r));
	rc = split_addr(to, local, dom, &routed);
	if (rc == 1) {
		reject(&r, 553, "5.1.3", "User address required");
		return r;
	}
	if (rc < 0) {
		reject(&r, 553, "5.1.3", "Address too long");
		return r;
	}
	if (!s) {
		tr(t, "no policy");
		if (!dom[0] && !routed)
			r.action = POL_RELAY;
		else
			reject(&r, 554, "5.7.1", "Relay access denied");  /* Postfix's text (fail2ban knows it) */
		return r;
	}
	e = search_addr(s, T_TO, local, dom, t, &walked);
	if (e && (e->kind == V_REJECT || e->kind == V_ERROR || e->kind == V_DISCARD)) {
		apply_access(s, e, &r, 550, "5.2.1", "Mailbox disabled for this recipient");
		return r;
	}
	if (!dom[0] && !routed) {
		tr(t, "relay: no domain, a local recipient");
		r.action = POL_RELAY;
		snprintf(r.rule, sizeof(r.rule), "local recipient");
		return r;
	}
	/* relaying: any one of these (sendmail's Rcpt_ok and Relay_ok; the
	   recipient domain first, the common case for an MX). Not the domain
	   when the local part routes elsewhere (u%evil@ours, "u@evil"@ours,
	   evil!u@ours, a routed domain-less one): only a client allowed to
	   relay may send those, as Postfix's allow_untrusted_routing = no and
	   sendmail without FEATURE(loose_relay_check) */
	if (routed) {
		tr(t, "relay: routing in the local part (@, %%, !): the recipient domain does not relay it");
	} else if (walked) {
		d = e;
	} else if (has_entries(s, T_TO, 1)) {
		d = walk_name(s, T_TO, 1, dom, t);
	}
	if (d && d->kind == V_RELAY) {
		tr(t, "relay: recipient domain is RELAY");
		r.action = POL_RELAY;
		rule(s, &r, d);
		return r;
	}
	if ((e = relay_tls(s, c, t))) {
		tr(t, "relay: trusted certificate");
		r.action = POL_RELAY;
		rule(s, &r, e);
		return r;
	}
	if (c->auth) {
		tr(t, "relay: authenticated");
		r.action = POL_RELAY;
		snprintf(r.rule, sizeof(r.rule), "authenticated (SMTP AUTH)");
		r.tag = POL_TAG_AUTH;
		return r;
	}
	tr(t, "relay: not authenticated");
	if (has_entries(s, T_CONNECT, 1)) {
		e = walk_addr(s, T_CONNECT, 1, &c->addr, t);
		if ((!e || e->kind != V_RELAY) && c->resolve == POL_RESOLVE_TEMP) {
			/* sendmail's Relay_ok: a name entry might have said RELAY; ask again later */
			tr(t, "relay: client name lookup failed for now (TEMP)");
			pol_addr_format(&c->addr, nb, sizeof(nb));
			reject(&r, 450, "4.7.1", "Relaying temporarily denied. Cannot resolve PTR record for %s", nb);
			return r;
		}
		name = client_name(s, T_CONNECT, 1, c, nb, sizeof(nb));
		if ((!e || e->kind != V_RELAY) && name)
			e = walk_name(s, T_CONNECT, 1, name, t);
		if (e && e->kind == V_RELAY) {
			tr(t, "relay: client is RELAY");
			r.action = POL_RELAY;
			rule(s, &r, e);
			return r;
		}
	}
	reject(&r, 554, "5.7.1", "Relay access denied");  /* Postfix's text (fail2ban knows it) */
	return r;
}

/* Srv_Features for this client. */
int pol_srv_features(const struct pol_snapshot *s, const struct pol_client *c,
		     struct pol_features *f, struct pol_trace *t)
{
	const struct ent *e = look_client(s, T_SRV_FEATURES, 1, c, t);

	memset(f, 0, sizeof(*f));
	if (!e || e->kind != V_FEATURES)
		return 0;
	*f = e->u.f;
	return 1;
}

/*
 * A number entry of a client tag (GreetPause: by name, address, bare tag;
 * ClientRate:/ClientConn: by address, bare tag): 1 and *n, or 0 when none
 * applies. Silent when the map has no entry of the tag (it is one of
 * several lookups of a stage).
 */
static int client_number(const struct pol_snapshot *s, int tag, const struct pol_client *c,
			 unsigned *n, struct pol_trace *t)
{
	const struct ent *e;

	*n = 0;
	if (!s || !s->ntag[tag])
		return 0;
	e = look_client(s, tag, tag == T_GREETPAUSE, c, t);
	if (!e || e->kind != V_NUMBER)
		return 0;
	*n = e->u.n;
	return 1;
}

/* Limit, then sendmail's ClientRate and ClientConn for this client. */
int pol_limit(const struct pol_snapshot *s, const struct pol_client *c, struct pol_limits *l,
	      struct pol_trace *t)
{
	const struct ent *e = look_client(s, T_LIMIT, 0, c, t);
	int found = 0;

	memset(l, 0, sizeof(*l));
	if (e && e->kind == V_LIMIT) {
		*l = e->u.l;
		found = 1;
	}
	found |= client_number(s, T_CLIENTRATE, c, &l->client_rate, t);
	l->client_conn_found = client_number(s, T_CLIENTCONN, c, &l->client_conn, t);
	return found | l->client_conn_found;
}

/* GreetPause for this client. */
int pol_greet_pause(const struct pol_snapshot *s, const struct pol_client *c, unsigned *ms,
		    struct pol_trace *t)
{
	if (!s || !s->ntag[T_GREETPAUSE]) {
		*ms = 0;
		tr(t, "no GreetPause: entries");
		return 0;
	}
	return client_number(s, T_GREETPAUSE, c, ms, t);
}

/* ---- small public helpers ---- */

/* Empty a trace. */
void pol_trace_init(struct pol_trace *t)
{
	t->n = 0;
	t->dropped = 0;
}

/* A result as one line. */
void pol_result_format(const struct pol_result *r, char *out, size_t outlen)
{
	static const char *const names[] = { "CONTINUE", "OK", "RELAY", "DISCARD" };

	if (r->action == POL_REJECT)
		snprintf(out, outlen, "%d %s %s", r->code, r->enh, r->text);
	else if (r->action >= 0 && r->action < POL_REJECT)
		snprintf(out, outlen, "%s", names[r->action]);
	else
		snprintf(out, outlen, "?");
}

/* Parse a client address. */
int pol_addr_parse(const char *s, struct pol_addr *a)
{
	uint8_t b[16];
	size_t n;

	memset(a, 0, sizeof(*a));
	if (!s)
		return -1;
	n = ipre(s, "IPv6:");
	if (!n && inet_pton(AF_INET, s, b) == 1) {
		a->family = 4;
		memcpy(a->a, b, 4);
		return 0;
	}
	if (inet_pton(AF_INET6, s + n, b) != 1)
		return -1;
	if (!memcmp(b, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12)) {
		a->family = 4;
		memcpy(a->a, b + 12, 4);
		return 0;
	}
	a->family = 6;
	memcpy(a->a, b, 16);
	return 0;
}

/* sendmail's ${client_addr} text. */
void pol_addr_format(const struct pol_addr *a, char *out, size_t outlen)
{
	char t[INET6_ADDRSTRLEN];

	if (!outlen)
		return;
	if (a->family == 4 && inet_ntop(AF_INET, a->a, t, sizeof(t)))
		snprintf(out, outlen, "%s", t);
	else if (a->family == 6 && inet_ntop(AF_INET6, a->a, t, sizeof(t)))
		snprintf(out, outlen, "IPv6:%s", t);
	else
		snprintf(out, outlen, "(none)");
}
