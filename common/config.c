/*
 * config.c - reads and validates mxgate's configuration file, a Postfix
 * main.cf style list of "key = value" lines (see config.h). The input is
 * read one physical line at a time into fixed buffers: no dynamic
 * allocation (but the value copies of cfg_show_set()), libc only, no DPDK.
 * Every error is one line naming the file, the line and the key; checks
 * that involve several keys run after the whole file has been read and
 * report line 0 ("FILE: key: why"). A key set twice warns (cfg_set_warn()).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "common/config.h"

#define LINE_MAX_LEN  4096	/* longest physical line and longest joined value */
#define SHOW_SIZE     72	/* longest quoted piece of user text in a message */
#define NROLES        2		/* outside, inside */

/* read_line() flags */
#define LINE_LONG     0x1	/* more than LINE_MAX_LEN bytes */
#define LINE_NUL      0x2	/* holds a NUL byte */

/* The per-role keys: "outside_" or "inside_" followed by one of these. */
enum field { F_DEV, F_IP4, F_GW4, F_IP6, F_GW6, F_MTU, F_COUNT };

static const char *const field_name[F_COUNT] = {
	[F_DEV] = "device",
	[F_IP4] = "ipv4",
	[F_GW4] = "gateway4",
	[F_IP6] = "ipv6",
	[F_GW6] = "gateway6",
	[F_MTU] = "mtu",
};

static const char *const role_name[NROLES + 1] = {
	[CFG_ROLE_NONE] = "none",
	[CFG_ROLE_OUTSIDE] = "outside",
	[CFG_ROLE_INSIDE] = "inside",
};

/*
 * Every key is a row of one of the tables below (int_keys[], str_keys[],
 * spec_keys[]; the per-role keys outside_* and inside_* all need a
 * restart), with one flag: LIVE when SIGHUP applies a new value to the
 * running mxgate (new sessions and new commands see it), RESTART when only
 * a restart does (SIGHUP logs it and keeps the running value). cfg_merge()
 * reads the flags; docs/mxgate.conf.5 lists the same.
 */
#define UNUSED  __attribute__((unused))
#define RESTART 0
#define LIVE    1

/* An integer key: where it goes and its range. */
struct int_key {
	const char *name;
	size_t off;		/* offset of its unsigned field in struct mx_config */
	unsigned min, max;
	int pow2;		/* must be a power of two */
	int live;		/* LIVE: SIGHUP applies it; RESTART: only a restart does */
};

#define INT_KEY(n, lo, hi, p2, when) { #n, offsetof(struct mx_config, n), lo, hi, p2, when }

static const struct int_key int_keys[] = {
	INT_KEY(mbuf_pool_size, 1023, 16777215, 0, RESTART),
	INT_KEY(mbuf_cache_size, 0, 512, 0, RESTART),
	INT_KEY(rx_ring_size, 64, 16384, 1, RESTART),
	INT_KEY(tx_ring_size, 64, 16384, 1, RESTART),
	INT_KEY(max_conns, 16, 4194304, 0, RESTART),
	INT_KEY(syn_backlog, 1, 1048576, 0, RESTART),
	INT_KEY(reasm_limit, 0, 67108864, 0, RESTART),
	INT_KEY(reasm_total, 0, 1073741824, 0, RESTART),
	INT_KEY(rcvbuf, 4096, 16777216, 0, RESTART),
	INT_KEY(sndbuf, 4096, 16777216, 0, RESTART),
	INT_KEY(timewait_max, 0, 4194304, 0, RESTART),
	INT_KEY(timewait_ms, 0, 600000, 0, RESTART),
	INT_KEY(echo_port, 0, 65535, 0, RESTART),
	INT_KEY(echo_idle_ms, 1000, 86400000, 0, RESTART),
	INT_KEY(idle_sleep_us, 0, 100000, 0, RESTART),
	INT_KEY(smtp_port, 0, 65535, 0, RESTART),
	INT_KEY(submission_port, 0, 65535, 0, RESTART),
	INT_KEY(smtps_port, 0, 65535, 0, RESTART),
	INT_KEY(smtpd_timeout_ms, 1000, 3600000, 0, LIVE),
	INT_KEY(smtpd_data_timeout_ms, 1000, 3600000, 0, LIVE),
	INT_KEY(smtpd_min_data_rate, 1, 1000000000, 0, LIVE),
	INT_KEY(smtpd_stress_percent, 0, 100, 0, LIVE),
	INT_KEY(smtpd_stress_timeout_ms, 1000, 3600000, 0, LIVE),
	INT_KEY(smtpd_stress_error_limit, 1, 1000, 0, LIVE),
	INT_KEY(smtpd_greet_delay_ms, 0, 60000, 0, LIVE),
	INT_KEY(smtpd_client_connection_count_limit, 0, 1000000, 0, LIVE),
	INT_KEY(smtpd_client_ipv6_prefix_length, 16, 128, 0, LIVE),
	INT_KEY(message_size_limit, 0, 2147483647, 0, LIVE),
	INT_KEY(smtpd_recipient_limit, 1, 100000, 0, LIVE),
	INT_KEY(smtpd_hard_error_limit, 1, 1000, 0, LIVE),
	INT_KEY(smtpd_junk_command_limit, 1, 100000, 0, LIVE),
	INT_KEY(max_sessions, 1, 4194304, 0, LIVE),
	INT_KEY(smtpd_auth_fail_delay_ms, 0, 60000, 0, RESTART),
	INT_KEY(smtpd_auth_fail_limit, 0, 1000000, 0, RESTART),
	INT_KEY(smtpd_auth_fail_window_s, 1, 86400, 0, RESTART),
	INT_KEY(smtpd_auth_queue, 1, 65536, 0, RESTART),
	INT_KEY(smtpd_auth_ipv6_48_limit, 0, 65536, 0, RESTART),
	INT_KEY(tls_handshake_timeout_ms, 1000, 600000, 0, LIVE),
	INT_KEY(tls_ticket_rotate_s, 0, 604800, 0, LIVE),
	INT_KEY(backend_timeout_ms, 1000, 3600000, 0, LIVE),
	INT_KEY(backend_retry_ms, 1000, 3600000, 0, LIVE),
	INT_KEY(dns_timeout_ms, 100, 60000, 0, RESTART),
	INT_KEY(dns_retries, 0, 10, 0, RESTART),
	INT_KEY(dns_max_inflight, 1, 32768, 0, RESTART),
	INT_KEY(dns_cache_size, 0, 1048576, 0, RESTART),
	INT_KEY(dns_banner_wait_ms, 100, 60000, 0, RESTART),
	INT_KEY(dnsbl_threshold, 1, 100000, 0, RESTART),
};

/* A string key: where it goes and how long it may be. */
struct str_key {
	const char *name;
	size_t off, size;
	int live;		/* as in int_keys[] */
};

#define STR_KEY(n, when) { #n, offsetof(struct mx_config, n), sizeof(((struct mx_config *)0)->n), when }

static const struct str_key str_keys[] = {
	STR_KEY(tls_cert_file, LIVE), STR_KEY(tls_key_file, LIVE), STR_KEY(tls_ca_file, LIVE),
	STR_KEY(tls_ca_dir, LIVE), STR_KEY(tls_crl_file, LIVE), STR_KEY(tls_ciphers, LIVE),
	STR_KEY(tls_groups, LIVE), STR_KEY(access_file, LIVE), STR_KEY(control_socket, RESTART),
	STR_KEY(redis_user, RESTART), STR_KEY(redis_password, RESTART), STR_KEY(redis_prefix, RESTART),
	STR_KEY(appliance_id, RESTART), STR_KEY(redis_master_name, RESTART),
	STR_KEY(backend_tls_ca_file, RESTART),   /* read when the relay pool starts */
};

/* Where the text comes from: a string (cfg_parse) or a file (cfg_load). */
struct reader {
	const char *text;
	FILE *fp;
};

/* What the file said about one role, before it becomes a port. */
struct role_state {
	struct cfg_port port;
	unsigned line[F_COUNT];	/* line of the last occurrence of each key, 0 = absent */
	unsigned seq;		/* order in which its _device key first appeared, 0 = never */
};

/* A key the file has set: the line of its last occurrence and, for cfg_show_set(), its value. */
struct seen_key {
	char key[CFG_NAME_LEN];
	unsigned line;
	char *val;		/* malloc'd copy, only when the parser keeps values */
};

#define MAX_SEEN 128	/* more than there are keys */

struct parser {
	const char *name;	/* file name for messages */
	struct seen_key seen[MAX_SEEN];
	unsigned nseen;
	int keep_vals;		/* copy each key's last value into seen[] (cfg_show_set) */
	struct mx_config *cfg;
	char *err;
	size_t errlen;
	struct role_state role[NROLES + 1];	/* indexed by enum cfg_role */
	unsigned nseq;
	/* the logical line being collected */
	unsigned line;		/* its first physical line, 0 = none pending */
	char key[LINE_MAX_LEN + 1];
	char val[LINE_MAX_LEN + 1];
	size_t vlen;
};

/* White space as Postfix sees it (C locale isspace without the locale). */
static int is_ws(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* ASCII letter or digit, independent of the locale. */
static int is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Write "NAME:LINE: KEY: why" into err (no LINE if 0, no KEY if NULL); returns -1. */
static int vfail(struct parser *p, unsigned line, const char *key, const char *fmt, va_list ap)
{
	char why[512];
	char where[32] = "";

	if (p->err == NULL || p->errlen == 0)
		return -1;
	vsnprintf(why, sizeof(why), fmt, ap);
	if (line != 0)
		snprintf(where, sizeof(where), ":%u", line);
	snprintf(p->err, p->errlen, "%s%s: %s%s%s", p->name, where,
		 key != NULL ? key : "", key != NULL ? ": " : "", why);
	return -1;
}

/* Report an error at a given line and key (see vfail); returns -1. */
static int __attribute__((format(printf, 4, 5)))
fail(struct parser *p, unsigned line, const char *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(p, line, key, fmt, ap);
	va_end(ap);
	return -1;
}

/* Report an error in the value of the entry being processed; returns -1. */
static int __attribute__((format(printf, 2, 3)))
bad(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(p, p->line, p->key, fmt, ap);
	va_end(ap);
	return -1;
}

/* Copy user text into buf for quoting: control bytes become '?', long text ends in "...". */
static const char *show_n(const char *s, size_t len, char *buf, size_t size)
{
	size_t i, n = len;

	if (n > size - 1)
		n = size - 4;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		buf[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	if (n < len) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

/* show_n() of a whole string. */
static const char *show(const char *s, char *buf, size_t size)
{
	return show_n(s, strlen(s), buf, size);
}

/* Parse len bytes of s as unsigned decimal (huge values saturate above UINT32_MAX); 0 or -1. */
static int parse_dec(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > UINT32_MAX)
			v = (uint64_t)UINT32_MAX + 1;
	}
	*out = v;
	return 0;
}

/* Parse the current value as a decimal number in min..max into *out; returns 0 or -1. */
static int get_uint(struct parser *p, const char *val, unsigned min, unsigned max, unsigned *out)
{
	char sb[SHOW_SIZE];
	uint64_t v;

	if (*val == '\0')
		return bad(p, "missing value");
	if (parse_dec(val, strlen(val), &v) < 0)
		return bad(p, "'%s' is not a decimal number", show(val, sb, sizeof(sb)));
	if (v < min || v > max)
		return bad(p, "%s out of range %u..%u", show(val, sb, sizeof(sb)), min, max);
	*out = (unsigned)v;
	return 0;
}

/* Netmask of an IPv4 prefix length 0..32, host byte order. */
static uint32_t mask4(unsigned plen)
{
	return plen == 0 ? 0 : 0xffffffffu << (32 - plen);
}

/* Whether a host-order IPv4 address can be a host's: not 0/8, 127/8 or 224/3. */
static int ip4_unicast(uint32_t a)
{
	unsigned top = a >> 24;

	return top != 0 && top != 127 && top < 224;
}

/* Whether an IPv6 address can be a host's: not ::, ::1 or multicast. */
static int ip6_unicast(const uint8_t *a)
{
	static const uint8_t zero[16];

	if (a[0] == 0xff)
		return 0;
	if (memcmp(a, zero, 15) == 0 && (a[15] == 0 || a[15] == 1))
		return 0;
	return 1;
}

/* Whether IPv6 address a lies in prefix net/plen. */
static int ip6_in_prefix(const uint8_t *a, const uint8_t *net, unsigned plen)
{
	unsigned bytes = plen / 8, bits = plen % 8;

	if (memcmp(a, net, bytes) != 0)
		return 0;
	if (bits == 0)
		return 1;
	return ((a[bytes] ^ net[bytes]) & (0xff00 >> bits) & 0xff) == 0;
}

/* Whether an IPv6 address is link-local (fe80::/10). */
static int ip6_link_local(const uint8_t *a)
{
	return a[0] == 0xfe && (a[1] & 0xc0) == 0x80;
}

/* Split "ADDR/LEN" into ADDR (copied into abuf) and LEN 1..maxlen; returns 0 or -1. */
static int split_prefix(const char *s, char *abuf, size_t asize, unsigned maxlen, uint8_t *plen)
{
	const char *slash = strchr(s, '/');
	uint64_t v;

	if (slash == NULL || (size_t)(slash - s) >= asize)
		return -1;
	memcpy(abuf, s, (size_t)(slash - s));
	abuf[slash - s] = '\0';
	if (parse_dec(slash + 1, strlen(slash + 1), &v) < 0 || v < 1 || v > maxlen)
		return -1;
	*plen = (uint8_t)v;
	return 0;
}

/* One of int_keys[]: range and power-of-two checks, then store. */
static int set_int_key(struct parser *p, const struct int_key *k, const char *val)
{
	unsigned v;

	if (get_uint(p, val, k->min, k->max, &v) < 0)
		return -1;
	if (k->pow2 && (v & (v - 1)) != 0)
		return bad(p, "%u is not a power of two", v);
	*(unsigned *)(void *)((char *)p->cfg + k->off) = v;
	return 0;
}

/* R_device: a DPDK device name, no white space, shorter than CFG_NAME_LEN. */
static int set_dev(struct parser *p, struct cfg_port *port, const char *val)
{
	char sb[SHOW_SIZE];
	size_t i, len = strlen(val);

	if (len >= CFG_NAME_LEN)
		return bad(p, "device name '%s' is longer than %d characters",
			   show(val, sb, sizeof(sb)), CFG_NAME_LEN - 1);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)val[i];

		if (c <= ' ' || c == 0x7f)
			return bad(p, "device name '%s' has white space or a control character",
				   show(val, sb, sizeof(sb)));
	}
	memcpy(port->dev, val, len + 1);
	return 0;
}

/* R_ipv4: a.b.c.d/plen, plen 1..32, unicast, not its prefix's network or broadcast address. */
static int set_ip4(struct parser *p, struct cfg_port *port, const char *val)
{
	char sb[SHOW_SIZE], abuf[INET_ADDRSTRLEN];
	struct in_addr in;
	uint8_t plen;
	uint32_t a, host;

	if (split_prefix(val, abuf, sizeof(abuf), 32, &plen) < 0 ||
	    inet_pton(AF_INET, abuf, &in) != 1)
		return bad(p, "bad IPv4 prefix '%s'%s", show(val, sb, sizeof(sb)),
			   strchr(val, '/') == NULL ? " (expected a.b.c.d/len)" : "");
	a = ntohl(in.s_addr);
	if (!ip4_unicast(a))
		return bad(p, "'%s' is not a unicast address", show(val, sb, sizeof(sb)));
	/* /31 and /32 have no network or broadcast address (RFC 3021). */
	if (plen <= 30) {
		host = a & ~mask4(plen);
		if (host == 0)
			return bad(p, "'%s' is the network address of its prefix"
				   " (host part all zero)", show(val, sb, sizeof(sb)));
		if (host == ~mask4(plen))
			return bad(p, "'%s' is the broadcast address of its prefix",
				   show(val, sb, sizeof(sb)));
	}
	port->has_ip4 = 1;
	port->ip4 = in.s_addr;
	port->ip4_plen = plen;
	return 0;
}

/* R_gateway4: a unicast a.b.c.d (checked against R_ipv4 in check_port()). */
static int set_gw4(struct parser *p, struct cfg_port *port, const char *val)
{
	char sb[SHOW_SIZE];
	struct in_addr in;

	if (inet_pton(AF_INET, val, &in) != 1)
		return bad(p, "bad IPv4 address '%s'", show(val, sb, sizeof(sb)));
	if (!ip4_unicast(ntohl(in.s_addr)))
		return bad(p, "'%s' is not a unicast address", show(val, sb, sizeof(sb)));
	port->has_gw4 = 1;
	port->gw4 = in.s_addr;
	return 0;
}

/* R_ipv6: an RFC 4291 address with /plen 1..128, unicast. */
static int set_ip6(struct parser *p, struct cfg_port *port, const char *val)
{
	char sb[SHOW_SIZE], abuf[INET6_ADDRSTRLEN];
	uint8_t a[16];
	uint8_t plen;

	if (split_prefix(val, abuf, sizeof(abuf), 128, &plen) < 0 ||
	    inet_pton(AF_INET6, abuf, a) != 1)
		return bad(p, "bad IPv6 prefix '%s'%s", show(val, sb, sizeof(sb)),
			   strchr(val, '/') == NULL ? " (expected ADDRESS/len)" : "");
	if (!ip6_unicast(a))
		return bad(p, "'%s' is not a unicast address", show(val, sb, sizeof(sb)));
	port->has_ip6 = 1;
	memcpy(port->ip6, a, 16);
	port->ip6_prefix = plen;
	return 0;
}

/* R_gateway6: a unicast IPv6 address (checked against R_ipv6 in check_port()). */
static int set_gw6(struct parser *p, struct cfg_port *port, const char *val)
{
	char sb[SHOW_SIZE];
	uint8_t a[16];

	if (inet_pton(AF_INET6, val, a) != 1)
		return bad(p, "bad IPv6 address '%s'", show(val, sb, sizeof(sb)));
	if (!ip6_unicast(a))
		return bad(p, "'%s' is not a unicast address", show(val, sb, sizeof(sb)));
	port->has_gw6 = 1;
	memcpy(port->gw6, a, 16);
	return 0;
}

/* Recognise "outside_X" and "inside_X"; returns 0 with the role and field, or -1. */
static int split_port_key(const char *key, enum cfg_role *role, enum field *f)
{
	enum cfg_role r;
	unsigned i;

	for (r = CFG_ROLE_OUTSIDE; r <= CFG_ROLE_INSIDE; r++) {
		size_t n = strlen(role_name[r]);

		if (strncmp(key, role_name[r], n) != 0 || key[n] != '_')
			continue;
		for (i = 0; i < F_COUNT; i++) {
			if (strcmp(key + n + 1, field_name[i]) == 0) {
				*role = r;
				*f = (enum field)i;
				return 0;
			}
		}
	}
	return -1;
}

/* One per-role key: parse the value into that role's pending port. */
static int set_port_key(struct parser *p, enum cfg_role role, enum field f, const char *val)
{
	struct role_state *rs = &p->role[role];
	unsigned mtu;
	int rc;

	if (*val == '\0')
		return bad(p, "missing value");
	switch (f) {
	case F_DEV:
		rc = set_dev(p, &rs->port, val);
		if (rc == 0 && rs->seq == 0)
			rs->seq = ++p->nseq;
		break;
	case F_IP4:
		rc = set_ip4(p, &rs->port, val);
		break;
	case F_GW4:
		rc = set_gw4(p, &rs->port, val);
		break;
	case F_IP6:
		rc = set_ip6(p, &rs->port, val);
		break;
	case F_GW6:
		rc = set_gw6(p, &rs->port, val);
		break;
	case F_MTU:
		rc = get_uint(p, val, 576, 9000, &mtu);
		if (rc == 0)
			rs->port.mtu = (uint16_t)mtu;
		break;
	default:
		rc = bad(p, "internal error: unknown field");
		break;
	}
	if (rc == 0)
		rs->line[f] = p->line;
	return rc;
}

/* hostname: 1..63 letters, digits, '-', '.'; labels non-empty, not starting or ending in '-'. */
static int set_hostname(struct parser *p, const char *val, void *field UNUSED)
{
	char sb[SHOW_SIZE];
	size_t i, len = strlen(val);

	if (len == 0)
		return bad(p, "missing value");
	if (len >= CFG_NAME_LEN)
		return bad(p, "'%s' is longer than %d characters", show(val, sb, sizeof(sb)),
			   CFG_NAME_LEN - 1);
	for (i = 0; i < len; i++) {
		char c = val[i];

		if (!is_alnum((unsigned char)c) && c != '-' && c != '.')
			return bad(p, "'%s' has a character other than letters, digits,"
				   " '-' and '.'", show(val, sb, sizeof(sb)));
		if (c == '.' && (i == 0 || i == len - 1 || val[i + 1] == '.'))
			return bad(p, "'%s' has an empty label", show(val, sb, sizeof(sb)));
		if (c == '-' && (i == 0 || i == len - 1 || val[i - 1] == '.' || val[i + 1] == '.'))
			return bad(p, "'%s' has a label that starts or ends with '-'",
				   show(val, sb, sizeof(sb)));
	}
	memcpy(p->cfg->hostname, val, len + 1);
	return 0;
}

/* stats_file: a path shorter than 256 bytes, or empty for stderr. */
static int set_stats_file(struct parser *p, const char *val, void *field UNUSED)
{
	size_t len = strlen(val);

	if (len >= sizeof(p->cfg->stats_file))
		return bad(p, "path longer than %zu bytes", sizeof(p->cfg->stats_file) - 1);
	memcpy(p->cfg->stats_file, val, len + 1);
	return 0;
}

/*
 * Next item of a list separated by white space and/or one comma: returns 1
 * with the item in *item and *len, 0 at the end, -1 on an empty item (a
 * leading, trailing or doubled comma). *first is 1 before the first call.
 */
static int list_next(const char **sp, int *first, const char **item, size_t *len)
{
	const char *s = *sp;
	unsigned commas = 0;

	for (; is_ws((unsigned char)*s) || *s == ','; s++)
		if (*s == ',')
			commas++;
	if (*s == '\0') {
		*sp = s;
		return commas != 0 ? -1 : 0;
	}
	if (commas > (*first ? 0u : 1u))
		return -1;
	*item = s;
	while (*s != '\0' && !is_ws((unsigned char)*s) && *s != ',')
		s++;
	*len = (size_t)(s - *item);
	*sp = s;
	*first = 0;
	return 1;
}

/* worker_lcores: ids 0..1023 and ranges a-b, no duplicates, at most CFG_MAX_WORKERS. */
static int set_workers(struct parser *p, const char *val, void *field UNUSED)
{
	unsigned ids[CFG_MAX_WORKERS], n = 0, i;
	const char *s = val, *item, *dash;
	char sb[SHOW_SIZE];
	uint64_t lo, hi, id;
	int first = 1, rc;
	size_t len;

	while ((rc = list_next(&s, &first, &item, &len)) > 0) {
		dash = memchr(item, '-', len);
		if (dash == NULL) {
			if (parse_dec(item, len, &lo) < 0)
				lo = UINT64_MAX;
			hi = lo;
		} else if (parse_dec(item, (size_t)(dash - item), &lo) < 0 ||
			   parse_dec(dash + 1, len - (size_t)(dash - item) - 1, &hi) < 0) {
			lo = hi = UINT64_MAX;
		}
		if (lo > 1023 || hi > 1023)
			return bad(p, "bad lcore id or range '%s' (ids are 0..1023)",
				   show_n(item, len, sb, sizeof(sb)));
		if (lo > hi)
			return bad(p, "bad range '%s' (start above end)",
				   show_n(item, len, sb, sizeof(sb)));
		for (id = lo; id <= hi; id++) {
			for (i = 0; i < n; i++)
				if (ids[i] == id)
					return bad(p, "lcore %u listed twice", (unsigned)id);
			if (n == CFG_MAX_WORKERS)
				return bad(p, "more than %d lcores", CFG_MAX_WORKERS);
			ids[n++] = (unsigned)id;
		}
	}
	if (rc < 0)
		return bad(p, "empty item in list '%s'", show(val, sb, sizeof(sb)));
	memset(p->cfg->worker_lcores, 0, sizeof(p->cfg->worker_lcores));	/* cfg_merge() compares it all */
	memcpy(p->cfg->worker_lcores, ids, n * sizeof(ids[0]));
	p->cfg->nworkers = n;
	return 0;
}

/* A percentage 0..100 with an optional trailing '%'; returns 0 or -1. */
static int parse_pct(const char *s, size_t len, unsigned *out)
{
	uint64_t v;

	if (len > 0 && s[len - 1] == '%')
		len--;
	if (parse_dec(s, len, &v) < 0 || v > 100)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* Microseconds 0..1000000 with an optional suffix "us" or "ms"; returns 0 or -1. */
static int parse_delay(const char *s, size_t len, unsigned *out)
{
	uint64_t v, mult = 1;

	if (len >= 2 && memcmp(s + len - 2, "us", 2) == 0) {
		len -= 2;
	} else if (len >= 2 && memcmp(s + len - 2, "ms", 2) == 0) {
		len -= 2;
		mult = 1000;
	}
	if (parse_dec(s, len, &v) < 0 || v * mult > 1000000)
		return -1;
	*out = (unsigned)(v * mult);
	return 0;
}

/* impair: "off", empty, or reorder=P duplicate=P delay=N; replaces the whole setting. */
static int set_impair(struct parser *p, const char *val, void *field UNUSED)
{
	static const char *const names[] = { "reorder", "duplicate", "delay" };
	struct cfg_impair im = { 0 };
	const char *s = val, *item, *eq, *v;
	unsigned seen = 0, which, *dst;
	char sb[SHOW_SIZE];
	size_t len, nlen, vlen;
	int first = 1, rc;

	if (strcmp(val, "off") == 0)
		val = s = "";
	while ((rc = list_next(&s, &first, &item, &len)) > 0) {
		eq = memchr(item, '=', len);
		nlen = eq != NULL ? (size_t)(eq - item) : len;
		for (which = 0; which < 3; which++)
			if (strlen(names[which]) == nlen && memcmp(item, names[which], nlen) == 0)
				break;
		if (which == 3)
			return bad(p, "unknown item '%s'", show_n(item, len, sb, sizeof(sb)));
		if (seen & (1u << which))
			return bad(p, "'%s' given twice", names[which]);
		seen |= 1u << which;
		if (eq == NULL)
			return bad(p, "'%s' needs a value ('%s=...')", names[which], names[which]);
		v = eq + 1;
		vlen = len - nlen - 1;
		dst = which == 0 ? &im.reorder_pct : which == 1 ? &im.dup_pct : &im.delay_us;
		if (which < 2 && parse_pct(v, vlen, dst) < 0)
			return bad(p, "bad percentage '%s' (0..100)",
				   show_n(item, len, sb, sizeof(sb)));
		if (which == 2 && parse_delay(v, vlen, dst) < 0)
			return bad(p, "bad delay '%s' (0..1000000 us, suffix us or ms)",
				   show_n(item, len, sb, sizeof(sb)));
	}
	if (rc < 0)
		return bad(p, "empty item in list '%s'", show(val, sb, sizeof(sb)));
	if (im.reorder_pct != 0 && !(seen & (1u << 2)))
		im.delay_us = 1000;
	im.enabled = im.reorder_pct != 0 || im.dup_pct != 0 || im.delay_us != 0;
	p->cfg->impair = im;
	return 0;
}

/* Any text shorter than size into field. */
static int set_str_at(struct parser *p, const char *val, char *field, size_t size)
{
	size_t len = strlen(val);

	if (len >= size)
		return bad(p, "longer than %zu bytes", size - 1);
	memcpy(field, val, len + 1);
	return 0;
}

/* A string key: any text shorter than its field. */
static int set_str_key(struct parser *p, const struct str_key *k, const char *val)
{
	return set_str_at(p, val, (char *)p->cfg + k->off, k->size);
}

/* See config.h. */
int redis_addr_split(const char *s, char *host, size_t hostlen, int *port)
{
	const char *h = s, *colon;
	size_t hl;
	char *e;
	long p;

	if (strncmp(s, "unix:", 5) == 0) {
		if ((s[5] != '/' && s[5] != '.') || strlen(s + 5) >= hostlen)
			return -1;
		strcpy(host, s + 5);
		*port = 0;
		return 0;
	}
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb == s + 1 || rb[1] != ':')
			return -1;
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || colon == s)
			return -1;
		hl = (size_t)(colon - s);
	}
	p = strtol(colon + 1, &e, 10);
	if (*e || colon[1] == '\0' || p < 1 || p > 65535 || hl >= hostlen)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (int)p;
	return 0;
}

/* See config.h. */
int sentinel_list_parse(const char *list, char out[][SENTINEL_ADDR_LEN], int max)
{
	char host[SENTINEL_ADDR_LEN];
	int n = 0, port;

	for (;;) {
		size_t l;

		list += strspn(list, " \t,");
		if (!*list)
			break;
		l = strcspn(list, " \t,");
		if (n == max || l >= SENTINEL_ADDR_LEN)
			return -1;
		memcpy(out[n], list, l);
		out[n][l] = '\0';
		if (strncmp(out[n], "unix:", 5) == 0 || redis_addr_split(out[n], host, sizeof(host), &port) != 0)
			return -1;
		n++;
		list += l;
	}
	return n ? n : -1;
}

/* redis_server: unix:/PATH, HOST:PORT or [IPV6]:PORT, or empty (no Redis). */
static int set_redis_server(struct parser *p, const char *val, void *field UNUSED)
{
	char sb[SHOW_SIZE], host[sizeof(p->cfg->redis_server)];
	int port;

	if (set_str_at(p, val, p->cfg->redis_server, sizeof(p->cfg->redis_server)) < 0)
		return -1;
	if (*val != '\0' && redis_addr_split(val, host, sizeof(host), &port) != 0)
		return bad(p, "'%s': expected unix:/PATH, HOST:PORT or [IPV6]:PORT", show(val, sb, sizeof(sb)));
	return 0;
}

/* redis_sentinels: 1..SENTINELS_MAX HOST:PORT separated by spaces or commas, or empty. */
static int set_redis_sentinels(struct parser *p, const char *val, void *field UNUSED)
{
	char sb[SHOW_SIZE], list[SENTINELS_MAX][SENTINEL_ADDR_LEN];

	if (set_str_at(p, val, p->cfg->redis_sentinels, sizeof(p->cfg->redis_sentinels)) < 0)
		return -1;
	if (*val != '\0' && sentinel_list_parse(val, list, SENTINELS_MAX) < 0)
		return bad(p, "'%s': expected 1..%d HOST:PORT separated by spaces or commas",
			   show(val, sb, sizeof(sb)), SENTINELS_MAX);
	return 0;
}

/* metrics_listen: a numeric ADDRESS:PORT (127.0.0.1:9465, [::1]:9465), or empty (off). */
static int set_metrics_listen(struct parser *p, const char *val, void *field UNUSED)
{
	char sb[SHOW_SIZE], host[INET6_ADDRSTRLEN];
	uint8_t a[16];
	int port;

	if (set_str_at(p, val, p->cfg->metrics_listen, sizeof(p->cfg->metrics_listen)) < 0)
		return -1;
	if (*val != '\0' &&
	    (strncmp(val, "unix:", 5) == 0 || redis_addr_split(val, host, sizeof(host), &port) != 0 ||
	     inet_pton(val[0] == '[' ? AF_INET6 : AF_INET, host, a) != 1))
		return bad(p, "'%s': expected a numeric ADDRESS:PORT (127.0.0.1:9465 or [::1]:9465)",
			   show(val, sb, sizeof(sb)));
	return 0;
}

/* yes / no, as Postfix spells booleans. */
static int set_bool(struct parser *p, const char *val, unsigned *out)
{
	if (strcmp(val, "yes") == 0)
		*out = 1;
	else if (strcmp(val, "no") == 0)
		*out = 0;
	else
		return bad(p, "expected yes or no");
	return 0;
}

/* TLSv1.2 or TLSv1.3. */
static int set_tls_version(struct parser *p, const char *val, void *field UNUSED)
{
	if (strcmp(val, "TLSv1.2") == 0)
		p->cfg->tls_min_version = 0x0303;
	else if (strcmp(val, "TLSv1.3") == 0)
		p->cfg->tls_min_version = 0x0304;
	else
		return bad(p, "expected TLSv1.2 or TLSv1.3");
	return 0;
}

/* log_target: syslog (the default) or stderr (foreground, the lab). */
static int set_log_target(struct parser *p, const char *val, void *field UNUSED)
{
	if (strcmp(val, "syslog") == 0)
		p->cfg->log_syslog = 1;
	else if (strcmp(val, "stderr") == 0)
		p->cfg->log_syslog = 0;
	else
		return bad(p, "expected syslog or stderr");
	return 0;
}

/* syslog_facility: mail (the default, as Postfix's) or local0..local7. */
static int set_syslog_facility(struct parser *p, const char *val, void *field UNUSED)
{
	static const int local[8] = { LOG_LOCAL0, LOG_LOCAL1, LOG_LOCAL2, LOG_LOCAL3,
				      LOG_LOCAL4, LOG_LOCAL5, LOG_LOCAL6, LOG_LOCAL7 };

	if (strcmp(val, "mail") == 0)
		p->cfg->syslog_facility = LOG_MAIL;
	else if (strncmp(val, "local", 5) == 0 && val[5] >= '0' && val[5] <= '7' && val[6] == '\0')
		p->cfg->syslog_facility = local[val[5] - '0'];
	else
		return bad(p, "expected mail or local0 to local7");
	return 0;
}

/* syslog_name: Postfix's syntax (letters, digits, '.', '-', '_'; "postfix" makes stock tools work as they are). */
static int set_syslog_name(struct parser *p, const char *val, void *field UNUSED)
{
	size_t i, len = strlen(val);

	if (len == 0 || len >= 32)
		return bad(p, "expected 1 to 31 characters");
	for (i = 0; i < len; i++)
		if (!is_alnum((unsigned char)val[i]) && val[i] != '.' && val[i] != '-' && val[i] != '_')
			return bad(p, "only letters, digits, '.', '-' and '_' may be used");
	memcpy(p->cfg->syslog_name, val, len + 1);
	return 0;
}

/* A backend's name (the access map's Try_TLS:, TLS_Srv:, AuthInfo: keys): letters, digits, '-', '.'. */
static int backend_name(const char *v, char *out, size_t outlen)
{
	size_t n = strlen(v);

	if (n == 0 || n >= outlen || v[0] == '.' || v[0] == '-' || strstr(v, "..") != NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)v[i]) && v[i] != '-' && v[i] != '.')
			return -1;
	memcpy(out, v, n + 1);
	return 0;
}

/* One backend: "198.18.1.1:25", "[2001:2:0:1::1]:25", options "/proxy", "/starttls", "/name=HOST". */
static int parse_backend(struct parser *p, const char *item, size_t len, struct cfg_backend *b)
{
	char buf[256], *opt, *colon, *host;
	uint64_t port;

	if (len >= sizeof(buf))
		return bad(p, "backend '%.*s' too long", (int)len, item);
	memcpy(buf, item, len);
	buf[len] = '\0';
	memset(b, 0, sizeof(*b));
	while ((opt = strrchr(buf, '/')) != NULL) {
		if (strcmp(opt, "/proxy") == 0)
			b->proxy_v2 = 1;
		else if (strcmp(opt, "/starttls") == 0)
			b->starttls = 1;
		else if (strncmp(opt, "/name=", 6) == 0 && backend_name(opt + 6, b->name, sizeof(b->name)) == 0)
			;
		else if (strncmp(opt, "/name=", 6) == 0)
			return bad(p, "backend '%s': '%s' is not a host name", buf, opt + 6);
		else
			return bad(p, "backend '%s': unknown option '%s' (use /proxy, /starttls or /name=HOST)",
				   buf, opt);
		*opt = '\0';
	}
	host = buf;
	if (host[0] == '[') {
		char *end = strchr(host, ']');

		if (end == NULL || end[1] != ':')
			return bad(p, "backend '%s': expected [IPv6]:port", buf);
		*end = '\0';
		host++;
		colon = end + 1;
	} else {
		colon = strrchr(host, ':');
		if (colon == NULL)
			return bad(p, "backend '%s': expected address:port", buf);
		*colon = '\0';
	}
	if (parse_dec(colon + 1, strlen(colon + 1), &port) != 0 || port == 0 || port > 65535)
		return bad(p, "backend '%s': bad port '%s'", buf, colon + 1);
	b->port = (uint16_t)port;
	if (inet_pton(AF_INET, host, b->addr) == 1)
		b->family = 4;
	else if (inet_pton(AF_INET6, host, b->addr) == 1)
		b->family = 6;
	else
		return bad(p, "backend '%s': '%s' is not an IPv4 or IPv6 address", buf, host);
	inet_ntop(b->family == 4 ? AF_INET : AF_INET6, b->addr, b->addr_text, sizeof(b->addr_text));
	return 0;
}

/* backends = addr:port[/proxy][/starttls][/name=HOST] ... */
static int set_backends(struct parser *p, const char *val, void *field UNUSED)
{
	const char *item;
	size_t len;
	int first = 1, r;

	memset(p->cfg->backends, 0, sizeof(p->cfg->backends));	/* cfg_merge() compares it all */
	p->cfg->nbackends = 0;
	while ((r = list_next(&val, &first, &item, &len)) == 1) {
		if (p->cfg->nbackends == CFG_MAX_BACKENDS)
			return bad(p, "more than %d backends", CFG_MAX_BACKENDS);
		if (parse_backend(p, item, len, &p->cfg->backends[p->cfg->nbackends]) != 0)
			return -1;
		p->cfg->nbackends++;
	}
	if (r < 0)
		return bad(p, "empty item in the list");
	return 0;
}

/* dns_servers = addr[:port] ...: IPv6 as [addr] or [addr]:port; port 53 unless given. */
static int set_dns_servers(struct parser *p, const char *val, void *field UNUSED)
{
	const char *item;
	size_t len;
	int first = 1, r;
	char buf[160];

	p->cfg->ndns_servers = 0;
	while ((r = list_next(&val, &first, &item, &len)) == 1) {
		struct cfg_backend *b = &p->cfg->dns_servers[p->cfg->ndns_servers];
		const char *colon = memchr(item, ':', len), *rb = memchr(item, ']', len);

		if (p->cfg->ndns_servers == CFG_MAX_DNS_SERVERS)
			return bad(p, "more than %d DNS servers", CFG_MAX_DNS_SERVERS);
		if (len + 4 >= sizeof(buf) || memchr(item, '/', len))
			return bad(p, "DNS server '%.*s': expected address[:port]", (int)(len < 64 ? len : 64), item);
		/* no port: add 53, so that the backends' parser reads it */
		if (rb ? rb == item + len - 1 : colon == NULL)
			snprintf(buf, sizeof(buf), "%.*s:53", (int)len, item);
		else
			snprintf(buf, sizeof(buf), "%.*s", (int)len, item);
		if (parse_backend(p, buf, strlen(buf), b) != 0)
			return -1;
		p->cfg->ndns_servers++;
	}
	if (r < 0)
		return bad(p, "empty item in the list");
	return 0;
}

/* One octet of a DNSBL filter: N, or [a..b;c;...] (postscreen_dnsbl_sites): 0 or -1. */
static int dnsbl_octet(const char *s, size_t len, uint8_t map[32])
{
	uint64_t a, b;
	size_t i, j;

	if (len > 0 && s[0] != '[') {
		if (parse_dec(s, len, &a) != 0 || a > 255)
			return -1;
		map[a / 8] |= (uint8_t)(1u << (a % 8));
		return 0;
	}
	if (len < 3 || s[len - 1] != ']')
		return -1;
	for (i = 1; i < len - 1; i = j + 1) {
		const char *dots;

		for (j = i; j < len - 1 && s[j] != ';'; j++)
			;
		for (dots = s + i; dots + 1 < s + j && !(dots[0] == '.' && dots[1] == '.'); dots++)
			;
		if (dots + 1 >= s + j)
			dots = NULL;
		if (dots) {
			if (parse_dec(s + i, (size_t)(dots - (s + i)), &a) != 0 ||
			    parse_dec(dots + 2, (size_t)(s + j - dots - 2), &b) != 0 || a > b || b > 255)
				return -1;
		} else if (parse_dec(s + i, j - i, &a) != 0 || (b = a) > 255) {
			return -1;
		}
		for (; a <= b; a++)
			map[a / 8] |= (uint8_t)(1u << (a % 8));
	}
	return 0;
}

/* dnsbl_sites = domain[=filter][*weight] ... (postscreen_dnsbl_sites) */
static int set_dnsbl_sites(struct parser *p, const char *val, void *field UNUSED)
{
	const char *item;
	size_t len;
	int first = 1, r;

	p->cfg->ndnsbl_sites = 0;
	while ((r = list_next(&val, &first, &item, &len)) == 1) {
		struct cfg_dnsbl *d = &p->cfg->dnsbl_sites[p->cfg->ndnsbl_sites];
		const char *eq = memchr(item, '=', len), *star = memchr(item, '*', len), *end = item + len;
		size_t dlen = (size_t)((eq ? eq : star ? star : end) - item);
		int show = (int)(len < 64 ? len : 64);

		if (p->cfg->ndnsbl_sites == CFG_MAX_DNSBL)
			return bad(p, "more than %d DNSBL sites", CFG_MAX_DNSBL);
		memset(d, 0, sizeof(*d));
		d->weight = 1;
		if (dlen == 0 || dlen >= sizeof(d->domain) || (eq && star && star < eq))
			return bad(p, "'%.*s': expected domain[=filter][*weight]", show, item);
		memcpy(d->domain, item, dlen);
		for (size_t i = 0; i < dlen; i++)
			if (!isalnum((unsigned char)item[i]) && item[i] != '.' && item[i] != '-' && item[i] != '_')
				return bad(p, "'%.*s': bad domain", show, item);
		if (eq) {
			const char *f = eq + 1, *fe = star ? star : end;
			unsigned o;

			d->has_filter = 1;
			for (o = 0; o < 4; o++) {
				const char *dot = f;

				while (dot < fe && (*dot != '.' || (memchr(f, '[', (size_t)(dot - f)) &&
								  !memchr(f, ']', (size_t)(dot - f)))))
					dot++;
				if ((o < 3) != (dot < fe) || dnsbl_octet(f, (size_t)(dot - f), d->filter[o]) != 0)
					return bad(p, "'%.*s': bad reply filter (d.d.d.d, each N or [a..b;c])", show, item);
				f = dot + 1;
			}
		}
		if (star) {
			const char *w = star + 1;
			int neg = w < end && *w == '-';
			uint64_t v;

			if (parse_dec(w + neg, (size_t)(end - w - neg), &v) != 0 || v > 100000)
				return bad(p, "'%.*s': bad weight", show, item);
			d->weight = neg ? -(int)v : (int)v;
		}
		p->cfg->ndnsbl_sites++;
	}
	if (r < 0)
		return bad(p, "empty item in the list");
	return 0;
}

/* mxgate_user, mxgate_group: an account name as Debian's adduser takes it, never root. */
static int set_account(struct parser *p, const char *val, char *out)
{
	size_t len = strlen(val), i;

	if (len == 0 || len > 32)
		return bad(p, "expected a user or group name of 1 to 32 characters");
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)val[i];

		if (!(c >= 'a' && c <= 'z') && c != '_' &&
		    (i == 0 || !((c >= '0' && c <= '9') || c == '-')))
			return bad(p, "'%s' is not a user or group name ([a-z_][a-z0-9_-]*)", val);
	}
	if (strcmp(val, "root") == 0)
		return bad(p, "must not be root: mxgate drops root once its ports are set up");
	memcpy(out, val, len + 1);
	return 0;
}

/* set_bool() and set_account() with their field given by spec_keys[]. */
static int set_bool_at(struct parser *p, const char *val, void *field)
{
	return set_bool(p, val, field);
}

static int set_account_at(struct parser *p, const char *val, void *field)
{
	return set_account(p, val, field);
}

/* dnsbl_action: enforce (550 before the banner) or drop (521 and close). */
static int set_dnsbl_action(struct parser *p, const char *val, void *field UNUSED)
{
	if (strcmp(val, "enforce") != 0 && strcmp(val, "drop") != 0)
		return bad(p, "expected enforce or drop");
	p->cfg->dnsbl_action = val[0] == 'd' ? CFG_DNSBL_DROP : CFG_DNSBL_ENFORCE;
	return 0;
}

/* The keys with a setter of their own; field is where spec_keys[] says the key goes. */
struct spec_key {
	const char *name;
	int (*set)(struct parser *p, const char *val, void *field);
	size_t off, size;	/* every byte the key sets (a list and its count are adjacent) */
	int str;		/* compared as a string (bytes past its NUL do not count) */
	int live;		/* as in int_keys[] */
};

#define FIELD_SPAN(a, b) offsetof(struct mx_config, a), \
	offsetof(struct mx_config, b) + sizeof(((struct mx_config *)0)->b) - offsetof(struct mx_config, a)
#define SPEC_KEY(n, fn, str, when) { #n, fn, FIELD_SPAN(n, n), str, when }

static const struct spec_key spec_keys[] = {
	SPEC_KEY(hostname, set_hostname, 1, RESTART),
	{ "worker_lcores", set_workers, FIELD_SPAN(worker_lcores, nworkers), 0, RESTART },
	SPEC_KEY(stats_file, set_stats_file, 1, LIVE),
	SPEC_KEY(impair, set_impair, 0, RESTART),
	{ "backends", set_backends, FIELD_SPAN(backends, nbackends), 0, LIVE },
	SPEC_KEY(tls_min_version, set_tls_version, 0, LIVE),
	SPEC_KEY(tls_ask_client_cert, set_bool_at, 0, LIVE),
	SPEC_KEY(submission_auth_required, set_bool_at, 0, LIVE),
	SPEC_KEY(backend_auth_without_tls, set_bool_at, 0, LIVE),
	/* the resolver and its sites are set up when the workers start */
	{ "dns_servers", set_dns_servers, FIELD_SPAN(dns_servers, ndns_servers), 0, RESTART },
	{ "dnsbl_sites", set_dnsbl_sites, FIELD_SPAN(dnsbl_sites, ndnsbl_sites), 0, RESTART },
	SPEC_KEY(dnsbl_action, set_dnsbl_action, 0, RESTART),
	SPEC_KEY(mxgate_user, set_account_at, 1, RESTART),
	SPEC_KEY(mxgate_group, set_account_at, 1, RESTART),
	/* the log's target and name: set up once at start (the log is reopened on SIGHUP) */
	{ "log_target", set_log_target, FIELD_SPAN(log_syslog, log_syslog), 0, RESTART },
	SPEC_KEY(syslog_facility, set_syslog_facility, 0, RESTART),
	SPEC_KEY(syslog_name, set_syslog_name, 1, RESTART),
	/* mxgate-control's (and mxctl's), checked here so that mxgate --check finds them */
	SPEC_KEY(redis_server, set_redis_server, 1, RESTART),
	SPEC_KEY(redis_sentinels, set_redis_sentinels, 1, RESTART),
	SPEC_KEY(metrics_listen, set_metrics_listen, 1, RESTART),
};

/* Apply the collected logical line (p->key, p->val) to the configuration. */
static int process_entry(struct parser *p)
{
	const char *key = p->key, *val = p->val;
	char sb[SHOW_SIZE];
	enum cfg_role role;
	enum field f;
	unsigned i;

	for (i = 0; i < sizeof(spec_keys) / sizeof(spec_keys[0]); i++)
		if (strcmp(key, spec_keys[i].name) == 0)
			return spec_keys[i].set(p, val, (char *)p->cfg + spec_keys[i].off);
	for (i = 0; i < sizeof(str_keys) / sizeof(str_keys[0]); i++)
		if (strcmp(key, str_keys[i].name) == 0)
			return set_str_key(p, &str_keys[i], val);
	for (i = 0; i < sizeof(int_keys) / sizeof(int_keys[0]); i++)
		if (strcmp(key, int_keys[i].name) == 0)
			return set_int_key(p, &int_keys[i], val);
	if (split_port_key(key, &role, &f) == 0)
		return set_port_key(p, role, f, val);
	return fail(p, p->line, NULL, "unknown key '%s'", show(key, sb, sizeof(sb)));
}

static cfg_warn_fn *warn_fn;
static void *warn_arg;

/* Where warnings go (see config.h). */
void cfg_set_warn(cfg_warn_fn *fn, void *arg)
{
	warn_fn = fn;
	warn_arg = arg;
}

/* Report a warning "NAME:LINE: warning: ..." through the hook, if there is one. */
static void __attribute__((format(printf, 3, 4)))
warn(struct parser *p, unsigned line, const char *fmt, ...)
{
	char why[512], msg[800];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(msg, sizeof(msg), "%s:%u: warning: %s", p->name, line, why);
	if (warn_fn != NULL)
		warn_fn(warn_arg, msg);
}

/*
 * Apply the collected logical line. A key set again warns, as postconf
 * does, and the later value wins (each setter overwrites, lists restart).
 */
static int apply_entry(struct parser *p)
{
	struct seen_key *sk = NULL;
	unsigned i;

	for (i = 0; i < p->nseen; i++)
		if (strcmp(p->seen[i].key, p->key) == 0) {
			sk = &p->seen[i];
			warn(p, p->line, "key %s also set at line %u; the later wins", p->key, sk->line);
			break;
		}
	if (process_entry(p) < 0)
		return -1;
	/* only known keys get here, all shorter than CFG_NAME_LEN and fewer than MAX_SEEN */
	if (sk == NULL) {
		if (p->nseen == MAX_SEEN || strlen(p->key) >= sizeof(sk->key))
			return fail(p, p->line, p->key, "internal error: too many keys");
		sk = &p->seen[p->nseen++];
		strcpy(sk->key, p->key);
	}
	sk->line = p->line;
	if (p->keep_vals) {
		free(sk->val);
		sk->val = strdup(p->val);
		if (sk->val == NULL)
			return fail(p, p->line, p->key, "out of memory");
	}
	return 0;
}

/* Pointer past the leading white space of s. */
static char *skip_ws(char *s)
{
	while (is_ws((unsigned char)*s))
		s++;
	return s;
}

/* Cut the trailing white space off s; returns its new length. */
static size_t rtrim(char *s)
{
	size_t len = strlen(s);

	while (len > 0 && is_ws((unsigned char)s[len - 1]))
		s[--len] = '\0';
	return len;
}

/* Start a new logical line from "key = value" in s (line lineno). */
static int start_entry(struct parser *p, char *s, unsigned lineno)
{
	char *eq = strchr(s, '='), *k, *v;
	size_t klen;

	if (eq == NULL)
		return fail(p, lineno, NULL, "syntax error: expected 'key = value'");
	*eq = '\0';
	k = s;
	klen = rtrim(k);
	if (klen == 0 || strpbrk(k, " \t\r\f\v") != NULL)
		return fail(p, lineno, NULL, "syntax error: expected 'key = value'");
	v = skip_ws(eq + 1);
	p->vlen = rtrim(v);
	memcpy(p->key, k, klen + 1);
	memcpy(p->val, v, p->vlen + 1);
	p->line = lineno;
	return 0;
}

/* Append a continuation line (leading blanks skipped) to the pending value after one space. */
static int append_continuation(struct parser *p, char *s, unsigned lineno)
{
	size_t len = rtrim(s), sep = p->vlen != 0 ? 1 : 0;

	if (p->line == 0)
		return fail(p, lineno, NULL,
			    "syntax error: continuation line without a preceding 'key = value'");
	if (p->vlen + sep + len > LINE_MAX_LEN)
		return fail(p, p->line, p->key, "value longer than %d bytes", LINE_MAX_LEN);
	if (sep)
		p->val[p->vlen++] = ' ';
	memcpy(p->val + p->vlen, s, len + 1);
	p->vlen += len;
	return 0;
}

/*
 * One physical line: blank lines and lines whose first non-blank is '#' are
 * skipped (they do not end a logical line, as in Postfix), a line starting
 * with white space continues the pending value, any other line ends the
 * pending entry and starts a new one.
 */
static int handle_line(struct parser *p, char *s, unsigned lineno)
{
	char *t = skip_ws(s);

	if (*t == '\0' || *t == '#')
		return 0;
	if (t != s)
		return append_continuation(p, t, lineno);
	if (p->line != 0 && apply_entry(p) < 0)
		return -1;
	p->line = 0;
	return start_entry(p, s, lineno);
}

/* Next byte of the input, or EOF at its end (or on a read error). */
static int rd_getc(struct reader *r)
{
	if (r->fp != NULL)
		return getc(r->fp);
	if (*r->text == '\0')
		return EOF;
	return (unsigned char)*r->text++;
}

/*
 * Read one physical line into buf (LINE_MAX_LEN + 2 bytes) without its "\n"
 * or "\r\n", setting LINE_LONG and LINE_NUL in *flags. Returns 1, 0 at the
 * end of the input, -1 on a read error (errno set).
 */
static int read_line(struct reader *r, char *buf, unsigned *flags)
{
	size_t len = 0;
	int c, any = 0;

	*flags = 0;
	while ((c = rd_getc(r)) != EOF) {
		any = 1;
		if (c == '\n')
			break;
		if (c == '\0')
			*flags |= LINE_NUL;
		if (len < LINE_MAX_LEN + 1)
			buf[len++] = (char)c;
		else
			*flags |= LINE_LONG;
	}
	if (r->fp != NULL && ferror(r->fp)) {
		if (errno == 0)
			errno = EIO;
		return -1;
	}
	if (!(*flags & LINE_LONG) && len > 0 && buf[len - 1] == '\r')
		len--;
	if (len > LINE_MAX_LEN)
		*flags |= LINE_LONG;
	buf[len] = '\0';
	return any;
}

/* Key name "ROLE_FIELD" for messages, in buf. */
static const char *pkey(char *buf, size_t size, enum cfg_role role, enum field f)
{
	snprintf(buf, size, "%s_%s", role_name[role], field_name[f]);
	return buf;
}

/* Checks within one port across keys: addresses present, gateways in prefix, MTU for IPv6. */
static int check_port(struct parser *p, const struct cfg_port *pt)
{
	const struct role_state *rs = &p->role[pt->role];
	char k[32], k2[32], a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	uint32_t ip, gw, m;

	if (!pt->has_ip4 && !pt->has_ip6)
		return fail(p, 0, pkey(k, sizeof(k), pt->role, F_DEV),
			    "port '%s' has neither %s nor %s", pt->dev,
			    pkey(a, sizeof(a), pt->role, F_IP4),
			    pkey(b, sizeof(b), pt->role, F_IP6));
	pkey(k, sizeof(k), pt->role, F_GW4);
	pkey(k2, sizeof(k2), pt->role, F_IP4);
	if (pt->has_gw4) {
		if (!pt->has_ip4)
			return fail(p, 0, k, "given (line %u) without %s", rs->line[F_GW4], k2);
		ip = ntohl(pt->ip4);
		gw = ntohl(pt->gw4);
		m = mask4(pt->ip4_plen);
		inet_ntop(AF_INET, &pt->gw4, a, sizeof(a));
		inet_ntop(AF_INET, &pt->ip4, b, sizeof(b));
		if ((ip & m) != (gw & m))
			return fail(p, 0, k, "%s (line %u) is not inside %s %s/%u (line %u)",
				    a, rs->line[F_GW4], k2, b, pt->ip4_plen, rs->line[F_IP4]);
		if (gw == ip)
			return fail(p, 0, k, "%s (line %u) is the port's own address (%s, line %u)",
				    a, rs->line[F_GW4], k2, rs->line[F_IP4]);
		if (pt->ip4_plen <= 30 && ((gw & ~m) == 0 || (gw & ~m) == ~m))
			return fail(p, 0, k, "%s (line %u) is the network or broadcast address"
				    " of %s %s/%u", a, rs->line[F_GW4], k2, b, pt->ip4_plen);
	}
	pkey(k, sizeof(k), pt->role, F_GW6);
	pkey(k2, sizeof(k2), pt->role, F_IP6);
	if (pt->has_gw6) {
		if (!pt->has_ip6)
			return fail(p, 0, k, "given (line %u) without %s", rs->line[F_GW6], k2);
		inet_ntop(AF_INET6, pt->gw6, a, sizeof(a));
		inet_ntop(AF_INET6, pt->ip6, b, sizeof(b));
		if (!ip6_in_prefix(pt->gw6, pt->ip6, pt->ip6_prefix) && !ip6_link_local(pt->gw6))
			return fail(p, 0, k, "%s (line %u) is neither inside %s %s/%u (line %u)"
				    " nor link-local", a, rs->line[F_GW6], k2, b, pt->ip6_prefix,
				    rs->line[F_IP6]);
		if (memcmp(pt->gw6, pt->ip6, 16) == 0)
			return fail(p, 0, k, "%s (line %u) is the port's own address (%s, line %u)",
				    a, rs->line[F_GW6], k2, rs->line[F_IP6]);
	}
	if (pt->has_ip6 && pt->mtu < 1280)
		return fail(p, 0, pkey(k, sizeof(k), pt->role, F_MTU),
			    "%u (line %u) is below the IPv6 minimum of 1280 (%s is set)",
			    pt->mtu, rs->line[F_MTU], k2);
	return 0;
}

/* Checks between two ports: device names, addresses, IPv4 prefixes. */
static int check_pair(struct parser *p, const struct cfg_port *x, const struct cfg_port *y)
{
	char kx[32], ky[32], a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	uint32_t m;

	if (strcmp(x->dev, y->dev) == 0)
		return fail(p, 0, NULL, "%s and %s both name device '%s'",
			    pkey(kx, sizeof(kx), x->role, F_DEV),
			    pkey(ky, sizeof(ky), y->role, F_DEV), x->dev);
	pkey(kx, sizeof(kx), x->role, F_IP4);
	pkey(ky, sizeof(ky), y->role, F_IP4);
	if (x->has_ip4 && y->has_ip4) {
		inet_ntop(AF_INET, &x->ip4, a, sizeof(a));
		inet_ntop(AF_INET, &y->ip4, b, sizeof(b));
		if (x->ip4 == y->ip4)
			return fail(p, 0, NULL, "%s and %s both use address %s", kx, ky, a);
		m = mask4(x->ip4_plen < y->ip4_plen ? x->ip4_plen : y->ip4_plen);
		if ((ntohl(x->ip4) & m) == (ntohl(y->ip4) & m))
			return fail(p, 0, NULL, "%s %s/%u and %s %s/%u overlap",
				    kx, a, x->ip4_plen, ky, b, y->ip4_plen);
	}
	if (x->has_ip6 && y->has_ip6 && memcmp(x->ip6, y->ip6, 16) == 0) {
		inet_ntop(AF_INET6, x->ip6, a, sizeof(a));
		return fail(p, 0, NULL, "%s and %s both use address %s",
			    pkey(kx, sizeof(kx), x->role, F_IP6),
			    pkey(ky, sizeof(ky), y->role, F_IP6), a);
	}
	return 0;
}

/* After the last line: build ports[] in _device order and run the checks across keys. */
static int finish(struct parser *p)
{
	struct mx_config *cfg = p->cfg;
	char k[32], kd[32];
	enum cfg_role r;
	unsigned seq, i, j, f;

	if (cfg->appliance_id[0] == '\0')
		snprintf(cfg->appliance_id, sizeof(cfg->appliance_id), "%s", cfg->hostname);
	for (r = CFG_ROLE_OUTSIDE; r <= CFG_ROLE_INSIDE; r++) {
		if (p->role[r].line[F_DEV] != 0)
			continue;
		for (f = F_IP4; f < F_COUNT; f++)
			if (p->role[r].line[f] != 0)
				return fail(p, 0, pkey(k, sizeof(k), r, (enum field)f),
					    "given (line %u) but %s is not", p->role[r].line[f],
					    pkey(kd, sizeof(kd), r, F_DEV));
	}
	cfg->nports = 0;
	for (seq = 1; seq <= p->nseq; seq++) {
		for (r = CFG_ROLE_OUTSIDE; r <= CFG_ROLE_INSIDE; r++) {
			if (p->role[r].seq != seq)
				continue;
			cfg->ports[cfg->nports] = p->role[r].port;
			cfg->ports[cfg->nports].role = r;
			cfg->nports++;
		}
	}
	if (cfg->nports == 0)
		return fail(p, 0, NULL, "no port: set outside_device and/or inside_device");
	for (i = 0; i < cfg->nports; i++)
		if (check_port(p, &cfg->ports[i]) < 0)
			return -1;
	for (i = 0; i < cfg->nports; i++)
		for (j = i + 1; j < cfg->nports; j++)
			if (check_pair(p, &cfg->ports[i], &cfg->ports[j]) < 0)
				return -1;
	if (p->cfg->redis_sentinels[0] && !p->cfg->redis_master_name[0])
		return fail(p, 0, "redis_sentinels", "set, but redis_master_name is not");
	/* DPDK's rule for a mempool cache: 1.5 * cache_size <= pool size. */
	if ((uint64_t)cfg->mbuf_cache_size * 3 > (uint64_t)cfg->mbuf_pool_size * 2)
		return fail(p, 0, "mbuf_cache_size",
			    "%u is more than mbuf_pool_size / 1.5 (%u / 1.5)",
			    cfg->mbuf_cache_size, cfg->mbuf_pool_size);
	return 0;
}

/* Read every line from r, apply the entries, then finish(). */
static int parse_input(struct parser *p, struct reader *r)
{
	char buf[LINE_MAX_LEN + 2];
	unsigned lineno = 0, flags;
	int rc;

	while ((rc = read_line(r, buf, &flags)) > 0) {
		lineno++;
		if (flags & LINE_LONG)
			return fail(p, lineno, NULL, "line longer than %d bytes", LINE_MAX_LEN);
		if (flags & LINE_NUL)
			return fail(p, lineno, NULL, "NUL byte in line");
		if (handle_line(p, buf, lineno) < 0)
			return -1;
	}
	if (rc < 0)
		return fail(p, 0, NULL, "read error: %s", strerror(errno));
	if (p->line != 0 && apply_entry(p) < 0)
		return -1;
	return finish(p);
}

/* Defaults of every setting (config.h). */
static void set_defaults(struct mx_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	strcpy(cfg->hostname, "localhost");
	cfg->log_syslog = 1;
	cfg->syslog_facility = LOG_MAIL;
	strcpy(cfg->syslog_name, "mxgate");
	cfg->mbuf_pool_size = 32767;
	cfg->mbuf_cache_size = 256;
	cfg->rx_ring_size = 1024;
	cfg->tx_ring_size = 1024;
	cfg->max_conns = 65536;
	cfg->syn_backlog = 1024;
	cfg->reasm_limit = 262144;
	cfg->reasm_total = 67108864;
	cfg->rcvbuf = 262144;
	cfg->sndbuf = 262144;
	cfg->timewait_max = 16384;
	cfg->timewait_ms = 60000;
	cfg->echo_port = 0;
	cfg->echo_idle_ms = 300000;
	cfg->idle_sleep_us = 0;
	cfg->smtpd_timeout_ms = 300000;
	cfg->smtpd_data_timeout_ms = 180000;
	cfg->smtpd_min_data_rate = 500;
	cfg->smtpd_stress_percent = 80;
	cfg->smtpd_stress_timeout_ms = 10000;
	cfg->smtpd_stress_error_limit = 1;
	cfg->message_size_limit = 10240000;
	cfg->smtpd_recipient_limit = 100;
	cfg->smtpd_client_connection_count_limit = 50;   /* Postfix's default */
	cfg->smtpd_client_ipv6_prefix_length = 64;
	cfg->smtpd_hard_error_limit = 20;                  /* Postfix's ${stress?{1}:{20}}: stress has its own */
	cfg->smtpd_junk_command_limit = 100;
	cfg->max_sessions = 10000;
	cfg->smtpd_auth_fail_delay_ms = 1000;
	cfg->smtpd_auth_fail_limit = 5;
	cfg->smtpd_auth_fail_window_s = 300;
	cfg->smtpd_auth_queue = 64;
	cfg->smtpd_auth_ipv6_48_limit = 8;
	cfg->tls_min_version = 0x0303;
	cfg->tls_handshake_timeout_ms = 60000;
	cfg->tls_ticket_rotate_s = 3600;
	strcpy(cfg->tls_groups, "X25519:P-256");
	cfg->backend_timeout_ms = 300000;
	cfg->backend_retry_ms = 30000;
	cfg->dns_timeout_ms = 1000;
	cfg->dns_retries = 2;
	cfg->dns_max_inflight = 512;
	cfg->dns_cache_size = 8192;
	cfg->dns_banner_wait_ms = 5000;
	cfg->dnsbl_threshold = 1;
	strcpy(cfg->redis_prefix, "mxgate:");
	strcpy(cfg->mxgate_user, "mxgate");
	strcpy(cfg->mxgate_group, "mxgate");
}

/* Set up the parser state and the defaults in *cfg; returns 0 or -1. */
static int parser_init(struct parser *p, const char *name, struct mx_config *cfg,
		       char *err, size_t errlen)
{
	enum cfg_role r;

	memset(p, 0, sizeof(*p));
	p->name = name != NULL ? name : "(config)";
	p->cfg = cfg;
	p->err = err;
	p->errlen = errlen;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	for (r = CFG_ROLE_OUTSIDE; r <= CFG_ROLE_INSIDE; r++)
		p->role[r].port.mtu = 1500;
	if (cfg == NULL)
		return fail(p, 0, NULL, "no configuration to fill");
	set_defaults(cfg);
	if (strlen(p->name) >= sizeof(cfg->path))
		return fail(p, 0, NULL, "file name longer than %zu bytes", sizeof(cfg->path) - 1);
	strcpy(cfg->path, p->name);
	return 0;
}

/* Parse and validate a configuration held in a string (see config.h). */
int cfg_parse(const char *name, const char *text, struct mx_config *cfg,
	      char *err, size_t errlen)
{
	struct parser p;
	struct reader r = { .text = text, .fp = NULL };

	if (parser_init(&p, name, cfg, err, errlen) < 0)
		return -1;
	if (text == NULL)
		return fail(&p, 0, NULL, "no text");
	return parse_input(&p, &r);
}

/* Parse FILE with the parser p set up by parser_init(). */
static int load_file(struct parser *p, const char *file)
{
	struct reader r = { .text = NULL, .fp = NULL };
	int rc;

	if (file == NULL)
		return fail(p, 0, NULL, "no file name");
	r.fp = fopen(file, "r");
	if (r.fp == NULL)
		return fail(p, 0, NULL, "cannot open: %s", strerror(errno));
	errno = 0;
	rc = parse_input(p, &r);
	fclose(r.fp);
	return rc;
}

/* Parse and validate a configuration file (see config.h). */
int cfg_load(const char *file, struct mx_config *cfg, char *err, size_t errlen)
{
	struct parser p;

	if (parser_init(&p, file, cfg, err, errlen) < 0)
		return -1;
	return load_file(&p, file);
}

static int seen_cmp(const void *a, const void *b)
{
	return strcmp(((const struct seen_key *)a)->key, ((const struct seen_key *)b)->key);
}

/* Validate FILE, then print the keys it sets, sorted (see config.h). */
int cfg_show_set(const char *file, struct mx_config *cfg, FILE *out, char *err, size_t errlen)
{
	struct parser *p = malloc(sizeof(*p));
	unsigned i;
	int rc;

	if (p == NULL) {
		snprintf(err, errlen, "%s: out of memory", file != NULL ? file : "(config)");
		return -1;
	}
	rc = parser_init(p, file, cfg, err, errlen);
	if (rc == 0) {
		p->keep_vals = 1;
		rc = load_file(p, file);
	}
	if (rc == 0) {
		qsort(p->seen, p->nseen, sizeof(p->seen[0]), seen_cmp);
		for (i = 0; i < p->nseen; i++)
			if (strcmp(p->seen[i].key, "redis_password") == 0)   /* -n output gets pasted into tickets */
				fprintf(out, "# %s = (set; mxgate -n does not show it)\n", p->seen[i].key);
			else
				fprintf(out, "%s = %s\n", p->seen[i].key, p->seen[i].val);
	}
	for (i = 0; i < p->nseen; i++)
		free(p->seen[i].val);
	free(p);
	return rc;
}

/* The first port with this role, or NULL. */
const struct cfg_port *cfg_port_by_role(const struct mx_config *cfg, enum cfg_role role)
{
	unsigned i;

	if (cfg == NULL)
		return NULL;
	for (i = 0; i < cfg->nports && i < CFG_MAX_PORTS; i++)
		if (cfg->ports[i].role == role)
			return &cfg->ports[i];
	return NULL;
}

/* Whether the per-role keys (outside_*, inside_*) apply live: never, the ports are set up once. */
#define PORT_KEYS_LIVE RESTART

/* 1 when SIGHUP applies key live, 0 when it needs a restart, -1 for an unknown key. */
int cfg_key_live(const char *key)
{
	enum cfg_role role;
	enum field f;
	unsigned i;

	for (i = 0; i < sizeof(spec_keys) / sizeof(spec_keys[0]); i++)
		if (strcmp(key, spec_keys[i].name) == 0)
			return spec_keys[i].live;
	for (i = 0; i < sizeof(str_keys) / sizeof(str_keys[0]); i++)
		if (strcmp(key, str_keys[i].name) == 0)
			return str_keys[i].live;
	for (i = 0; i < sizeof(int_keys) / sizeof(int_keys[0]); i++)
		if (strcmp(key, int_keys[i].name) == 0)
			return int_keys[i].live;
	if (split_port_key(key, &role, &f) == 0)
		return PORT_KEYS_LIVE;
	return -1;
}

/* Whether one field of two ports (a missing port: no addresses, MTU 1500) differs. */
static int port_field_differs(const struct cfg_port *a, const struct cfg_port *b, enum field f)
{
	switch (f) {
	case F_DEV:
		return strcmp(a->dev, b->dev) != 0;
	case F_IP4:
		return a->has_ip4 != b->has_ip4 || a->ip4 != b->ip4 || a->ip4_plen != b->ip4_plen;
	case F_GW4:
		return a->has_gw4 != b->has_gw4 || a->gw4 != b->gw4;
	case F_IP6:
		return a->has_ip6 != b->has_ip6 || memcmp(a->ip6, b->ip6, 16) != 0 ||
		       a->ip6_prefix != b->ip6_prefix;
	case F_GW6:
		return a->has_gw6 != b->has_gw6 || memcmp(a->gw6, b->gw6, 16) != 0;
	case F_MTU:
		return a->mtu != b->mtu;
	default:
		return 0;
	}
}

/* Report one key that differs; keep run's bytes [off, off + size) in next when it needs a restart. */
static unsigned merge_key(const struct mx_config *run, struct mx_config *next, const char *key,
			  int live, size_t off, size_t size, cfg_change_fn *fn, void *arg)
{
	if (fn != NULL)
		fn(arg, key, live);
	if (live)
		return 1;
	memcpy((char *)next + off, (const char *)run + off, size);
	return 0;
}

/*
 * Whether key applies live: its flag, but turning TLS on or off (tls_toggle:
 * tls_cert_file empty in one configuration, not in the other) changes what
 * the listeners offer and needs a restart; new files, or new contents, are live.
 */
static int key_live(int tls_toggle, const char *key, int live)
{
	if (tls_toggle && (strcmp(key, "tls_cert_file") == 0 || strcmp(key, "tls_key_file") == 0))
		return RESTART;
	return live;
}

/* SIGHUP: report what differs, keep the running value of what needs a restart (config.h). */
unsigned cfg_merge(const struct mx_config *run, struct mx_config *next, cfg_change_fn *fn, void *arg)
{
	const char *a, *b;
	unsigned i, n = 0, ports = 0;
	enum cfg_role r;
	enum field f;
	char k[32];
	int tls_toggle = (run->tls_cert_file[0] == '\0') != (next->tls_cert_file[0] == '\0');

	for (i = 0; i < sizeof(int_keys) / sizeof(int_keys[0]); i++) {
		const struct int_key *x = &int_keys[i];

		if (*(const unsigned *)(const void *)((const char *)run + x->off) !=
		    *(const unsigned *)(const void *)((const char *)next + x->off))
			n += merge_key(run, next, x->name, x->live, x->off, sizeof(unsigned), fn, arg);
	}
	for (i = 0; i < sizeof(str_keys) / sizeof(str_keys[0]); i++) {
		const struct str_key *x = &str_keys[i];

		if (strcmp((const char *)run + x->off, (const char *)next + x->off) != 0)
			n += merge_key(run, next, x->name, key_live(tls_toggle, x->name, x->live),
				       x->off, x->size, fn, arg);
	}
	for (i = 0; i < sizeof(spec_keys) / sizeof(spec_keys[0]); i++) {
		const struct spec_key *x = &spec_keys[i];

		a = (const char *)run + x->off;
		b = (const char *)next + x->off;
		if (x->str ? strcmp(a, b) != 0 : memcmp(a, b, x->size) != 0)
			n += merge_key(run, next, x->name, x->live, x->off, x->size, fn, arg);
	}
	for (r = CFG_ROLE_OUTSIDE; r <= CFG_ROLE_INSIDE; r++) {
		static const struct cfg_port none = { .mtu = 1500 };
		const struct cfg_port *pa = cfg_port_by_role(run, r), *pb = cfg_port_by_role(next, r);

		for (f = F_DEV; f < F_COUNT; f++)
			if (port_field_differs(pa ? pa : &none, pb ? pb : &none, f)) {
				ports++;
				if (fn != NULL)
					fn(arg, pkey(k, sizeof(k), r, f), PORT_KEYS_LIVE);
			}
	}
	if (ports != 0)
		n += merge_key(run, next, NULL, PORT_KEYS_LIVE, FIELD_SPAN(ports, nports), NULL, NULL) * ports;
	return n;
}

/* The i-th key of every table (the per-role keys last), or NULL past the end. */
const char *cfg_key_name(unsigned i)
{
	static char buf[32];
	const unsigned ns = sizeof(spec_keys) / sizeof(spec_keys[0]);
	const unsigned nt = sizeof(str_keys) / sizeof(str_keys[0]);
	const unsigned ni = sizeof(int_keys) / sizeof(int_keys[0]);

	if (i < ns)
		return spec_keys[i].name;
	i -= ns;
	if (i < nt)
		return str_keys[i].name;
	i -= nt;
	if (i < ni)
		return int_keys[i].name;
	i -= ni;
	if (i < NROLES * F_COUNT)
		return pkey(buf, sizeof(buf), (enum cfg_role)(CFG_ROLE_OUTSIDE + i / F_COUNT),
			    (enum field)(i % F_COUNT));
	return NULL;
}
