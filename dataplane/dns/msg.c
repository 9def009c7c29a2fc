/*
 * msg.c - DNS messages with Debian's c-ares (docs/DESIGN.md says why
 * c-ares and not libldns): ares_create_query builds a query;
 * ares_expand_name reads every name (it follows compression pointers
 * with a bound, so a loop is an error, never a hang); ares_parse_a_reply,
 * ares_parse_aaaa_reply and ares_parse_ptr_reply read the data. What is
 * ours is the judgement c-ares leaves to its caller: that the reply
 * answers this query (ID, QR, opcode, the question), the RCODE, and the
 * TTLs for the cache (c-ares gives none for PTR nor for negative
 * answers), read while walking every record with its lengths checked.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ares.h>

#include "dataplane/dns/dns.h"

const char *const dns_status_names[DNS_STATUS_COUNT] = { "ok", "nxdomain", "nodata", "temp" };

#define HDR 12

static unsigned get16(const uint8_t *p) { return (unsigned)p[0] << 8 | p[1]; }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }

int dns_msg_query(const char *name, uint16_t type, uint16_t id, uint8_t *out, size_t outlen)
{
	unsigned char *q = NULL;
	int qlen = 0;

	if (ares_create_query(name, 1 /* C_IN */, type, id, 1, &q, &qlen, 0) != ARES_SUCCESS)
		return -1;
	if (qlen <= 0 || (size_t)qlen > outlen) {
		ares_free_string(q);
		return -1;
	}
	memcpy(out, q, (size_t)qlen);
	ares_free_string(q);
	return qlen;
}

/* Two names equal without case and without a trailing dot. */
static int name_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la && a[la - 1] == '.')
		la--;
	if (lb && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

/* Skip a name at *off (through c-ares, loops refused): 0, or -1. */
static int skip_name(const uint8_t *buf, size_t len, size_t *off)
{
	char *n = NULL;
	long enc = 0;

	if (*off >= len || ares_expand_name(buf + *off, buf, (int)len, &n, &enc) != ARES_SUCCESS)
		return -1;
	ares_free_string(n);
	if (enc <= 0 || (size_t)enc > len - *off)
		return -1;
	*off += (size_t)enc;
	return 0;
}

/*
 * Walk the answer and authority records: their lengths, the smallest TTL
 * of the answers of qtype (or CNAME) and the negative TTL from an SOA in
 * the authority section. -1 when something does not hold.
 */
static int walk_records(const uint8_t *buf, size_t len, size_t off, unsigned an, unsigned ns, uint16_t qtype,
			uint32_t *ans_ttl, uint32_t *neg_ttl)
{
	unsigned i;

	*ans_ttl = UINT32_MAX;
	*neg_ttl = UINT32_MAX;
	for (i = 0; i < an + ns; i++) {
		unsigned type, rdlen;
		uint32_t ttl;
		size_t rd;

		if (skip_name(buf, len, &off) != 0 || len - off < 10)
			return -1;
		type = get16(buf + off);
		ttl = get32(buf + off + 4);
		if (ttl > 0x7fffffffu)      /* RFC 2181 8: treated as zero */
			ttl = 0;
		rdlen = get16(buf + off + 8);
		off += 10;
		if (rdlen > len - off)
			return -1;
		rd = off;
		if (i < an && (type == qtype || type == 5 /* CNAME */) && ttl < *ans_ttl)
			*ans_ttl = ttl;
		if (i >= an && type == 6 /* SOA */) {
			size_t p = rd;
			uint32_t min;

			if (skip_name(buf, rd + rdlen, &p) != 0 || skip_name(buf, rd + rdlen, &p) != 0 ||
			    rd + rdlen - p != 20)
				return -1;
			min = get32(buf + p + 16);
			if (min < ttl)
				ttl = min;
			if (ttl < *neg_ttl)
				*neg_ttl = ttl;
		}
		off += rdlen;
	}
	return 0;
}

/* The data of a NOERROR answer with records of qtype, through c-ares. */
static enum dns_status read_data(const uint8_t *buf, size_t len, uint16_t qtype, struct dns_result *res)
{
	struct hostent *h = NULL;
	int rc, n = DNS_MAX_ADDRS, i;

	if (qtype == DNS_T_A) {
		struct ares_addrttl at[DNS_MAX_ADDRS];

		rc = ares_parse_a_reply(buf, (int)len, NULL, at, &n);
		if (rc != ARES_SUCCESS)
			return rc == ARES_ENODATA ? DNS_NODATA : DNS_TEMP;
		for (i = 0; i < n && i < DNS_MAX_ADDRS; i++)
			memcpy(res->u.addr[i].a, &at[i].ipaddr, 4);
		res->n = (uint8_t)i;
		return n > 0 ? DNS_OK : DNS_NODATA;
	}
	if (qtype == DNS_T_AAAA) {
		struct ares_addr6ttl at[DNS_MAX_ADDRS];

		rc = ares_parse_aaaa_reply(buf, (int)len, NULL, at, &n);
		if (rc != ARES_SUCCESS)
			return rc == ARES_ENODATA ? DNS_NODATA : DNS_TEMP;
		for (i = 0; i < n && i < DNS_MAX_ADDRS; i++)
			memcpy(res->u.addr[i].a, &at[i].ip6addr, 16);
		res->n = (uint8_t)i;
		return n > 0 ? DNS_OK : DNS_NODATA;
	}
	if (qtype == DNS_T_PTR) {
		static const uint8_t any[16];
		char **al;

		rc = ares_parse_ptr_reply(buf, (int)len, any, 4, AF_INET, &h);
		if (rc != ARES_SUCCESS)
			return rc == ARES_ENODATA ? DNS_NODATA : DNS_TEMP;
		/* c-ares puts every PTR target in the aliases (and one in h_name) */
		n = 0;
		for (al = h->h_aliases; al != NULL && *al != NULL && n < DNS_MAX_NAMES; al++) {
			if (strlen(*al) > DNS_NAME_MAX)
				continue;
			snprintf(res->u.name[n++], DNS_NAME_MAX + 1, "%s", *al);
		}
		if (n == 0 && h->h_name != NULL && strlen(h->h_name) <= DNS_NAME_MAX)
			snprintf(res->u.name[n++], DNS_NAME_MAX + 1, "%s", h->h_name);
		ares_free_hostent(h);
		res->n = (uint8_t)n;
		return n > 0 ? DNS_OK : DNS_NODATA;
	}
	return DNS_TEMP;
}

enum dns_reply dns_msg_reply(const uint8_t *buf, size_t len, uint16_t id, const char *qname, uint16_t qtype,
			     struct dns_result *res)
{
	unsigned flags, qd, an, ns, rcode;
	uint32_t ans_ttl, neg_ttl;
	size_t off = HDR;
	char *n = NULL;
	long enc = 0;
	int same;

	if (len < HDR || len > DNS_MSG_MAX)
		return DNS_REPLY_MALFORMED;
	flags = get16(buf + 2);
	qd = get16(buf + 4);
	an = get16(buf + 6);
	ns = get16(buf + 8);
	if (get16(buf) != id || !(flags & 0x8000) || ((flags >> 11) & 0xf) != 0 || qd != 1)
		return DNS_REPLY_MISMATCH;
	if (ares_expand_name(buf + off, buf, (int)len, &n, &enc) != ARES_SUCCESS)
		return DNS_REPLY_MALFORMED;
	same = name_eq(n, qname);
	ares_free_string(n);
	if (enc <= 0 || (size_t)enc > len - off || len - off - (size_t)enc < 4)
		return DNS_REPLY_MALFORMED;
	off += (size_t)enc;
	if (!same || get16(buf + off) != qtype || get16(buf + off + 2) != 1)
		return DNS_REPLY_MISMATCH;
	off += 4;
	if (flags & 0x0200)
		return DNS_REPLY_TRUNCATED;
	memset(res, 0, sizeof(*res));
	res->type = qtype;
	rcode = flags & 0xf;
	if (rcode != 0 && rcode != 3) {
		res->status = DNS_TEMP;     /* SERVFAIL, REFUSED, NOTIMP, FORMERR: not an answer about the name */
		return DNS_REPLY_DONE;
	}
	if (walk_records(buf, len, off, an, ns, qtype, &ans_ttl, &neg_ttl) != 0)
		return DNS_REPLY_MALFORMED;
	if (rcode == 3)
		res->status = DNS_NXDOMAIN;
	else
		res->status = (uint8_t)read_data(buf, len, qtype, res);
	if (res->status == DNS_OK)
		res->ttl = ans_ttl == UINT32_MAX ? 0 : ans_ttl;
	else if (res->status != DNS_TEMP)
		res->ttl = neg_ttl == UINT32_MAX ? DNS_NEG_TTL_DEFAULT : neg_ttl;
	if (res->ttl > DNS_TTL_CAP)
		res->ttl = DNS_TTL_CAP;
	if (res->status != DNS_OK)
		res->n = 0;
	return DNS_REPLY_DONE;
}

int dns_reverse_name(uint8_t family, const struct net_addr *a, const char *zone, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	int i, n;

	if (family == NET_AF_INET) {
		n = snprintf(out, outlen, "%u.%u.%u.%u.%s", a->a[3], a->a[2], a->a[1], a->a[0],
			     zone ? zone : "in-addr.arpa");
		return n < 0 || (size_t)n >= outlen ? -1 : 0;
	}
	if (outlen < 64 + 1)
		return -1;
	for (i = 15; i >= 0; i--) {
		out[o++] = hex[a->a[i] & 0xf];
		out[o++] = '.';
		out[o++] = hex[a->a[i] >> 4];
		out[o++] = '.';
	}
	n = snprintf(out + o, outlen - o, "%s", zone ? zone : "ip6.arpa");
	return n < 0 || (size_t)n >= outlen - o ? -1 : 0;
}

int dns_valid_hostname(const char *name)
{
	size_t len = strlen(name), label = 0, i;
	int digits_only = 1;
	unsigned char tmp[16];

	if (len == 0 || len > DNS_NAME_MAX)
		return 0;
	if (inet_pton(AF_INET, name, tmp) == 1 || inet_pton(AF_INET6, name, tmp) == 1)
		return 0;            /* a name that looks like an address is a forgery (Postfix) */
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '.') {
			if (label == 0 || name[i - 1] == '-')
				return 0;
			label = 0;
			digits_only = 1;
			continue;
		}
		if (!isalnum(c) && c != '-' && c != '_')
			return 0;
		if ((c == '-' && label == 0) || ++label > 63)
			return 0;
		if (!isdigit(c))
			digits_only = 0;
	}
	return label > 0 && !digits_only;   /* the last label is not numeric */
}
