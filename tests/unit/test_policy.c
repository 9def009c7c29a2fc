/*
 * test_policy.c - unit tests of policy/policy.c: sendmail's access-map
 * semantics taken from its cf/README and proto.m4 (lookup order, longest
 * prefix, parent domains, untagged entries, SKIP, TEMP+/PERM+, VERIFY:bits
 * against the cipher bits, CERTISSUER -> SUBJECT -> CERTSUBJECT, the +HEX
 * DN quoting, Srv_Features, relaying, the ERROR: forms), mxgate's Limit:
 * and Require_TLS:, a table of malformed entries whose messages must name
 * the key and the reason, an access-file round trip, a seeded random
 * pass that must never crash (run under ASan and UBSan), and the stage
 * driver (policy/stage.c) that sessions and mxctl policy test share.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/strutil.h"
#include "policy/policy.h"
#include "policy/stage.h"
#include "t.h"

static char err[1024];
static struct pol_trace tr;

/* Parse text as "t" and build it; NULL (and the message printed) on error. */
static struct pol_snapshot *snap_of(const char *text)
{
	struct pol_builder *b = pol_builder_new();
	struct pol_snapshot *s = NULL;

	if (pol_parse(b, "t", text, strlen(text), err, sizeof(err)) == 0)
		s = pol_build(b, err, sizeof(err));
	if (!s)
		fprintf(stderr, "  unexpected error: %s\n", err);
	pol_builder_free(b);    /* the snapshot must not need it */
	return s;
}

/* A client at addr (IPv4 or IPv6 text), with a name or none. */
static struct pol_client client(const char *addr, const char *name)
{
	struct pol_client c;

	memset(&c, 0, sizeof(c));
	if (pol_addr_parse(addr, &c.addr) < 0)
		fprintf(stderr, "  bad test address %s\n", addr);
	c.name = name;
	return c;
}

/* Whether a line of the trace tr holds needle. */
static int traced(const char *needle)
{
	for (unsigned i = 0; i < tr.n; i++)
		if (strstr(tr.line[i], needle))
			return 1;
	return 0;
}

/* A result as text, "550 5.7.1 Access denied" or "OK". */
static const char *fmt(const struct pol_result *r)
{
	static char buf[POL_TEXT_MAX + 32];

	pol_result_format(r, buf, sizeof(buf));
	return buf;
}

/* pol_add(key, value) must fail with exactly want, and so must pol_build. */
static void expect_add_error(const char *key, const char *value, const char *want)
{
	struct pol_builder *b = pol_builder_new();
	char err2[1024];

	memset(err, 0, sizeof(err));
	CHECK_EQ(pol_add(b, "To:example.com", "RELAY", err, sizeof(err)), 0);
	CHECK_EQ(pol_add(b, key, value, err, sizeof(err)), -1);
	CHECK_STR(err, want);
	CHECK(strchr(err, '\n') == NULL);
	CHECK_EQ(pol_add(b, "To:example.org", "RELAY", err2, sizeof(err2)), 0);
	CHECK(pol_build(b, err2, sizeof(err2)) == NULL);
	CHECK_STR(err2, want);
	pol_builder_free(b);
}

/* The text must parse and then fail to build with exactly want. */
static void expect_build_error(const char *text, const char *want)
{
	struct pol_builder *b = pol_builder_new();

	CHECK_EQ(pol_parse(b, "t", text, strlen(text), err, sizeof(err)), 0);
	CHECK(pol_build(b, err, sizeof(err)) == NULL);
	CHECK_STR(err, want);
	pol_builder_free(b);
}

/* ---- DN quoting ---- */

/* ---- addresses ---- */

TEST(addresses)
{
	struct pol_addr a;
	char s[64];

	CHECK_EQ(pol_addr_parse("198.18.0.1", &a), 0);
	CHECK_EQ(a.family, 4);
	pol_addr_format(&a, s, sizeof(s));
	CHECK_STR(s, "198.18.0.1");
	CHECK_EQ(pol_addr_parse("IPv6:2001:2::1", &a), 0);
	CHECK_EQ(a.family, 6);
	pol_addr_format(&a, s, sizeof(s));
	CHECK_STR(s, "IPv6:2001:2::1");
	CHECK_EQ(pol_addr_parse("2001:2:0:0:0:0:0:1", &a), 0);
	pol_addr_format(&a, s, sizeof(s));
	CHECK_STR(s, "IPv6:2001:2::1");
	CHECK_EQ(pol_addr_parse("::ffff:198.18.0.9", &a), 0);       /* mapped: IPv4 */
	CHECK_EQ(a.family, 4);
	pol_addr_format(&a, s, sizeof(s));
	CHECK_STR(s, "198.18.0.9");
	CHECK_EQ(pol_addr_parse("198.18.0", &a), -1);
	CHECK_EQ(pol_addr_parse("mx.example", &a), -1);
	CHECK_EQ(pol_addr_parse(NULL, &a), -1);
	CHECK_EQ(a.family, 0);
}

/* ---- Connect: (check_relay) ---- */

#define CONNECT_MAP \
	"# cf/README's examples, tagged, in the benchmarking ranges\n" \
	"Connect:cyberspammer.com\tERROR:\"550 We don't accept mail from spammers\"\n" \
	"Connect:okay.cyberspammer.com\tOK\n" \
	"Connect:sendmail.org\t\tRELAY\n" \
	"Connect:198.18\t\tREJECT\n" \
	"Connect:198.18.5\tOK\n" \
	"Connect:198.18.5.0/25\tDISCARD\n" \
	"Connect:198.18.5.7\tERROR:4.7.1:421 come back later\n" \
	"198.18.9\t\tREJECT\n" \
	"Connect:198.18.9\tOK\n" \
	"untagged.test\t\tREJECT\n" \
	"Connect:skip.example\tSKIP\n" \
	"Connect:example\t\tREJECT\n" \
	"Connect:.dot.test\tREJECT\n" \
	"Connect:[198.19.7.7]\tOK\n" \
	"Connect:[198.19.8]\tREJECT\n" \
	"Connect:IPv6:2001:2:0:a\tRELAY\n" \
	"Connect:2001:2::/48\tREJECT\n" \
	"Connect:IPv6:2001:2:0:a::5\tDISCARD\n" \
	"Connect:2001:2:0:b::/64\tOK\n" \
	"Connect:::ffff:198.19.9.0/120\tREJECT\n"

static const struct {
	const char *addr, *name, *want, *rule;
} connect_cases[] = {
	/* longest prefix: sendmail's partial dotted prefixes and CIDR together */
	{ "198.18.0.1", NULL, "550 5.7.1 Access denied", "Connect:198.18 REJECT" },
	{ "198.18.5.200", NULL, "OK", "Connect:198.18.5 OK" },
	{ "198.18.5.100", NULL, "DISCARD", "Connect:198.18.5.0/25 DISCARD" },
	{ "198.18.5.7", NULL, "421 4.7.1 come back later", "Connect:198.18.5.7 ERROR:4.7.1:421 come back later" },
	/* a tagged and an untagged prefix of one length: the tagged one */
	{ "198.18.9.1", NULL, "OK", "Connect:198.18.9 OK" },
	{ "198.19.0.1", NULL, "CONTINUE", "" },
	/* the name first, most specific first, then parent domains */
	{ "198.19.0.1", "mail.cyberspammer.com", "550 5.0.0 We don't accept mail from spammers",
	  "Connect:cyberspammer.com ERROR:\"550 We don't accept mail from spammers\"" },
	{ "198.19.0.1", "okay.cyberspammer.com", "OK", "Connect:okay.cyberspammer.com OK" },
	{ "198.19.0.1", "x.okay.cyberspammer.com", "OK", "Connect:okay.cyberspammer.com OK" },
	{ "198.19.0.1", "www.sendmail.org", "RELAY", "Connect:sendmail.org RELAY" },
	{ "198.18.5.200", "cyberspammer.com", "550 5.0.0 We don't accept mail from spammers",
	  "Connect:cyberspammer.com ERROR:\"550 We don't accept mail from spammers\"" },
	{ "198.18.5.200", "unknown.test", "OK", "Connect:198.18.5 OK" },
	/* untagged entries apply to Connect too */
	{ "198.19.0.1", "a.untagged.test", "550 5.7.1 Access denied", "untagged.test REJECT" },
	/* SKIP ends the name walk before "example" (then the address decides) */
	{ "198.19.0.1", "a.skip.example", "CONTINUE", "" },
	{ "198.18.0.1", "a.skip.example", "550 5.7.1 Access denied", "Connect:198.18 REJECT" },
	{ "198.19.0.1", "a.other.example", "550 5.7.1 Access denied", "Connect:example REJECT" },
	/* .domain: subdomains only */
	{ "198.19.0.1", "host.dot.test", "550 5.7.1 Access denied", "Connect:.dot.test REJECT" },
	{ "198.19.0.1", "dot.test", "CONTINUE", "" },
	/* [literal]: an unnamed client's bracketed address, walked as text */
	{ "198.19.7.7", NULL, "OK", "Connect:[198.19.7.7] OK" },
	{ "198.19.8.9", NULL, "550 5.7.1 Access denied", "Connect:[198.19.8] REJECT" },
	{ "198.19.7.7", "named.test", "CONTINUE", "" },
	/* IPv6: sendmail's group prefixes (16 bits each) and CIDR */
	{ "2001:2::1", NULL, "550 5.7.1 Access denied", "Connect:2001:2::/48 REJECT" },
	{ "2001:2:0:a::1", NULL, "RELAY", "Connect:IPv6:2001:2:0:a RELAY" },
	{ "IPv6:2001:2:0:a::5", NULL, "DISCARD", "Connect:IPv6:2001:2:0:a::5 DISCARD" },
	{ "2001:2:0:b::9", NULL, "OK", "Connect:2001:2:0:b::/64 OK" },
	{ "2001:3::1", NULL, "CONTINUE", "" },
	/* an IPv4-mapped key is an IPv4 prefix */
	{ "198.19.9.4", NULL, "550 5.7.1 Access denied", "Connect:::ffff:198.19.9.0/120 REJECT" },
	{ "::ffff:198.19.9.4", NULL, "550 5.7.1 Access denied", "Connect:::ffff:198.19.9.0/120 REJECT" },
};

TEST(connect)
{
	struct pol_snapshot *s = snap_of(CONNECT_MAP);

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_EQ(pol_snapshot_count(s), 20);
	for (size_t i = 0; i < sizeof(connect_cases) / sizeof(connect_cases[0]); i++) {
		struct pol_client c = client(connect_cases[i].addr, connect_cases[i].name);
		struct pol_result r = pol_check_connect(s, &c, NULL);

		CHECK_STR(fmt(&r), connect_cases[i].want);
		CHECK_STR(r.rule, connect_cases[i].rule);
		if (strcmp(fmt(&r), connect_cases[i].want))
			fprintf(stderr, "  case %zu: %s %s\n", i, connect_cases[i].addr,
				connect_cases[i].name ? connect_cases[i].name : "");
	}
	pol_snapshot_free(s);
}

/* The trace shows sendmail's order: name, parents, then the address. */
TEST(connect_trace)
{
	struct pol_snapshot *s = snap_of("Connect:198.18.0\tREJECT\nConnect:example.net\tOK\n");
	struct pol_client c = client("198.18.0.3", "mx.sub.example.org");
	struct pol_result r;

	pol_trace_init(&tr);
	r = pol_check_connect(s, &c, &tr);
	CHECK_STR(fmt(&r), "550 5.7.1 Access denied");
	CHECK_EQ(tr.n, 5);
	CHECK_STR(tr.line[0], "Connect:mx.sub.example.org -> not found");
	CHECK_STR(tr.line[1], "Connect:sub.example.org -> not found");
	CHECK_STR(tr.line[2], "Connect:example.org -> not found");
	CHECK_STR(tr.line[3], "Connect:org -> not found");
	CHECK_STR(tr.line[4], "Connect:198.18.0.3 -> found Connect:198.18.0 REJECT");
	CHECK_EQ(tr.dropped, 0);

	/* no name: only the address (no literal entries to try "[198.18.0.3]") */
	c.name = NULL;
	pol_trace_init(&tr);
	pol_check_connect(s, &c, &tr);
	CHECK_EQ(tr.n, 1);
	pol_snapshot_free(s);
}

/* A trace keeps POL_TRACE_LINES lines and counts the rest. */
TEST(trace_bounds)
{
	struct pol_snapshot *s = snap_of("Connect:x.test\tOK\n");
	char name[400] = "";
	struct pol_client c;

	for (int i = 0; i < 90; i++)
		strcat(name, "a.");
	strcat(name, "test");
	c = client("198.18.0.1", name);
	pol_trace_init(&tr);
	pol_check_connect(s, &c, &tr);
	CHECK_EQ(tr.n, POL_TRACE_LINES);
	CHECK_EQ(tr.dropped, 91 + 1 - POL_TRACE_LINES);
	for (unsigned i = 0; i < tr.n; i++)
		CHECK(strlen(tr.line[i]) < POL_TRACE_WIDTH);
	pol_snapshot_free(s);
}

/* ---- TLS_Clt: (tls_client, TLS_connection) ---- */

#define TLS_MAP \
	"TLS_Clt:laptop.example.com\tPERM+VERIFY:112\n" \
	"TLS_Clt:secure.example.com\tENCR:112\n" \
	"TLS_Clt:198.18.1\t\tTEMP+VERIFY\n" \
	"TLS_Clt:198.18.2.0/24\t\tVERIFY+CN:smtp.endmail.org\n" \
	"TLS_Clt:198.18.3.0/24\t\tENCR:128+CS:/CN=good++CI:/CN=ca\n" \
	"TLS_Clt:198.18.4.0/24\t\tVERIFY+CN\n" \
	"TLS_Clt:exempt.example.com\tOK\n" \
	"TLS_Clt:skip.example.com\tSKIP\n" \
	"TLS_Clt:\t\t\tENCR:56\n"

static const struct {
	const char *addr, *name, *verify;
	int bits, ssf;
	const char *cn, *subject, *issuer, *want;
} tls_cases[] = {
	/* PERM+VERIFY:112: each {verify} value and sendmail's words */
	{ "198.19.0.1", "a.laptop.example.com", "OK", 128, 0, 0, 0, 0, "OK" },
	{ "198.19.0.1", "a.laptop.example.com", "OK", 56, 0, 0, 0, 0,
	  "503 5.7.0 encryption too weak 56 less than 112" },
	{ "198.19.0.1", "a.laptop.example.com", "NO", 256, 0, 0, 0, 0, "503 5.7.0 not authenticated" },
	{ "198.19.0.1", "a.laptop.example.com", "FAIL", 256, 0, 0, 0, 0, "503 5.7.0 authentication failed" },
	{ "198.19.0.1", "a.laptop.example.com", "NOT", 256, 0, 0, 0, 0,
	  "503 5.7.0 no authentication requested" },
	{ "198.19.0.1", "a.laptop.example.com", "NONE", 0, 0, 0, 0, 0,
	  "503 5.7.0 other side does not support STARTTLS" },
	{ "198.19.0.1", "a.laptop.example.com", NULL, 0, 0, 0, 0, 0,
	  "503 5.7.0 other side does not support STARTTLS" },
	{ "198.19.0.1", "a.laptop.example.com", "TEMP", 256, 0, 0, 0, 0,
	  "503 5.7.0 authentication failure TEMP" },
	{ "198.19.0.1", "a.laptop.example.com", "SOFTWARE", 0, 0, 0, 0, 0, "503 5.7.0 TLS handshake failed." },
	{ "198.19.0.1", "a.laptop.example.com", "PROTOCOL", 0, 0, 0, 0, 0, "503 5.7.0 STARTTLS failed." },
	/* ENCR: bits only; the larger of cipher bits and the SASL ssf; default TEMP */
	{ "198.19.0.1", "secure.example.com", "NO", 128, 0, 0, 0, 0, "OK" },
	{ "198.19.0.1", "secure.example.com", "NO", 64, 0, 0, 0, 0,
	  "403 4.7.0 encryption too weak 64 less than 112" },
	{ "198.19.0.1", "secure.example.com", "NONE", 0, 128, 0, 0, 0, "OK" },
	/* by address; TEMP+ spelled out */
	{ "198.18.1.9", NULL, "OK", 0, 0, 0, 0, 0, "OK" },
	{ "198.18.1.9", NULL, "NO", 256, 0, 0, 0, 0, "403 4.7.0 not authenticated" },
	/* the name decides before the address */
	{ "198.18.1.9", "laptop.example.com", "NO", 256, 0, 0, 0, 0, "503 5.7.0 not authenticated" },
	/* extensions: CN:name, CN (= the client name), CS:, CI: */
	{ "198.18.2.9", NULL, "OK", 256, 0, "smtp.endmail.org", 0, 0, "OK" },
	{ "198.18.2.9", NULL, "OK", 256, 0, "SMTP.endmail.org", 0, 0, "OK" },
	{ "198.18.2.9", NULL, "OK", 256, 0, "other.org", 0, 0,
	  "403 4.7.0 CN other.org does not match smtp.endmail.org" },
	{ "198.18.2.9", NULL, "NO", 256, 0, "smtp.endmail.org", 0, 0, "403 4.7.0 not authenticated" },
	{ "198.18.3.9", NULL, "NO", 128, 0, 0, "/CN=good", "/CN=ca", "OK" },
	{ "198.18.3.9", NULL, "NO", 128, 0, 0, "/CN=bad", "/CN=ca",
	  "403 4.7.0 Cert Subject /CN=bad does not match /CN=good" },
	{ "198.18.3.9", NULL, "NO", 128, 0, 0, "/CN=good", "/CN=other",
	  "403 4.7.0 Cert Issuer /CN=other does not match /CN=ca" },
	{ "198.18.4.9", "mx.example.org", "OK", 256, 0, "mx.example.org", 0, 0, "OK" },
	{ "198.18.4.9", "mx.example.org", "OK", 256, 0, "evil.example.org", 0, 0,
	  "403 4.7.0 CN evil.example.org does not match mx.example.org" },
	/* OK: an exception under the default; SKIP: on to the address, then the default */
	{ "198.19.0.1", "exempt.example.com", "NONE", 0, 0, 0, 0, 0, "OK" },
	{ "198.19.0.1", "host.skip.example.com", "NO", 40, 0, 0, 0, 0,
	  "403 4.7.0 encryption too weak 40 less than 56" },
	{ "198.19.0.1", NULL, "NO", 56, 0, 0, 0, 0, "OK" },
	{ "198.19.0.1", NULL, "SOFTWARE", 256, 0, 0, 0, 0, "403 4.7.0 TLS handshake failed." },
};

TEST(tls)
{
	struct pol_snapshot *s = snap_of(TLS_MAP);

	CHECK(s != NULL);
	if (!s)
		return;
	for (size_t i = 0; i < sizeof(tls_cases) / sizeof(tls_cases[0]); i++) {
		struct pol_client c = client(tls_cases[i].addr, tls_cases[i].name);
		struct pol_result r;

		c.verify = tls_cases[i].verify;
		c.cipher_bits = tls_cases[i].bits;
		c.auth_ssf = tls_cases[i].ssf;
		c.cn_subject = tls_cases[i].cn;
		c.cert_subject = tls_cases[i].subject;
		c.cert_issuer = tls_cases[i].issuer;
		r = pol_check_tls(s, &c, NULL);
		CHECK_STR(fmt(&r), tls_cases[i].want);
		if (strcmp(fmt(&r), tls_cases[i].want))
			fprintf(stderr, "  case %zu\n", i);
	}
	pol_snapshot_free(s);
}

TEST(tls_order_and_defaults)
{
	struct pol_snapshot *s = snap_of(TLS_MAP);
	struct pol_client c = client("198.18.1.9", "host.example.com");
	struct pol_result r;

	/* name walk, address, then the bare tag */
	pol_trace_init(&tr);
	c.verify = "OK";
	r = pol_check_tls(s, &c, &tr);
	CHECK_STR(fmt(&r), "OK");
	CHECK_STR(r.rule, "TLS_Clt:198.18.1 TEMP+VERIFY");
	CHECK_STR(tr.line[0], "TLS_Clt:host.example.com -> not found");
	CHECK_STR(tr.line[1], "TLS_Clt:example.com -> not found");
	CHECK_STR(tr.line[2], "TLS_Clt:com -> not found");
	CHECK_STR(tr.line[3], "TLS_Clt:198.18.1.9 -> found TLS_Clt:198.18.1 TEMP+VERIFY");
	c = client("198.19.0.1", NULL);
	c.cipher_bits = 128;
	c.verify = "NO";
	pol_trace_init(&tr);
	r = pol_check_tls(s, &c, &tr);
	CHECK_STR(r.rule, "TLS_Clt: ENCR:56");
	CHECK_STR(tr.line[0], "TLS_Clt:198.19.0.1 -> not found");
	CHECK_STR(tr.line[1], "TLS_Clt: -> found ENCR:56");
	pol_snapshot_free(s);

	/* no entries at all: accepted, unless the handshake failed */
	s = snap_of("To:example.com RELAY\n");
	c.verify = "NONE";
	r = pol_check_tls(s, &c, NULL);
	CHECK_STR(fmt(&r), "CONTINUE");
	c.verify = "SOFTWARE";
	r = pol_check_tls(s, &c, NULL);
	CHECK_STR(fmt(&r), "403 4.7.0 TLS handshake failed.");
	CHECK_STR(r.rule, "verify=SOFTWARE");
	c.verify = "PROTOCOL";
	r = pol_check_tls(NULL, &c, NULL);
	CHECK_STR(fmt(&r), "403 4.7.0 STARTTLS failed.");
	pol_snapshot_free(s);
}

/* ---- From: (check_mail) and Require_TLS: ---- */

#define MAIL_MAP \
	"From:spammer@some.dom\tREJECT\n" \
	"From:another.dom\tREJECT\n" \
	"From:good@another.dom\tOK\n" \
	"From:FREE.STEALTH.MAILER@\tERROR:550 Spam not accepted\n" \
	"From:list+*@lists.example\tDISCARD\n" \
	"From:bounce+*@\tERROR:5.7.1:550 no bounces\n" \
	"From:joe@detail.example\tREJECT\n" \
	"From:.sub.example\tREJECT\n" \
	"From:[198.19.0.1]\tOK\n" \
	"Require_TLS:198.18.8.0/24\tYES\n" \
	"Require_TLS:198.18.8.8\tNO\n"

static const struct {
	const char *from, *want, *rule;
} mail_cases[] = {
	{ "spammer@some.dom", "550 5.7.1 Access denied", "From:spammer@some.dom REJECT" },
	{ "<SPAMMER@Some.Dom.>", "550 5.7.1 Access denied", "From:spammer@some.dom REJECT" },
	/* the full address before the domain */
	{ "other@another.dom", "550 5.7.1 Access denied", "From:another.dom REJECT" },
	{ "good@another.dom", "OK", "From:good@another.dom OK" },
	{ "good@x.another.dom", "550 5.7.1 Access denied", "From:another.dom REJECT" },
	/* user@ matches any domain */
	{ "free.stealth.mailer@anywhere.test", "550 5.0.0 Spam not accepted",
	  "From:FREE.STEALTH.MAILER@ ERROR:550 Spam not accepted" },
	/* +detail: user+*@domain, user@domain, user+*@, user@ */
	{ "list+news@lists.example", "DISCARD", "From:list+*@lists.example DISCARD" },
	{ "list@lists.example", "CONTINUE", "" },
	{ "bounce+123@any.test", "550 5.7.1 no bounces", "From:bounce+*@ ERROR:5.7.1:550 no bounces" },
	{ "joe+tag@detail.example", "550 5.7.1 Access denied", "From:joe@detail.example REJECT" },
	/* .domain */
	{ "a@host.sub.example", "550 5.7.1 Access denied", "From:.sub.example REJECT" },
	{ "a@sub.example", "CONTINUE", "" },
	/* a domain literal, source route */
	{ "a@[198.19.0.1]", "OK", "From:[198.19.0.1] OK" },
	{ "<@relay.test:spammer@some.dom>", "550 5.7.1 Access denied", "From:spammer@some.dom REJECT" },
	/* the null sender is always accepted */
	{ "<>", "CONTINUE", "" },
	{ "", "CONTINUE", "" },
	{ "nobody@nowhere.test", "CONTINUE", "" },
};

TEST(mail)
{
	struct pol_snapshot *s = snap_of(MAIL_MAP);
	struct pol_client c = client("198.19.0.1", NULL);
	struct pol_result r;

	CHECK(s != NULL);
	if (!s)
		return;
	for (size_t i = 0; i < sizeof(mail_cases) / sizeof(mail_cases[0]); i++) {
		r = pol_check_mail(s, &c, mail_cases[i].from, NULL);
		CHECK_STR(fmt(&r), mail_cases[i].want);
		CHECK_STR(r.rule, mail_cases[i].rule);
		if (strcmp(fmt(&r), mail_cases[i].want))
			fprintf(stderr, "  case %zu: %s\n", i, mail_cases[i].from);
	}

	/* the SearchList order in the trace: full, +* , user@, domain walk */
	pol_trace_init(&tr);
	r = pol_check_mail(s, &c, "eve+x@a.other.test", &tr);
	CHECK_STR(fmt(&r), "CONTINUE");
	CHECK_EQ(tr.n, 14);
	CHECK_STR(tr.line[0], "Require_TLS:198.19.0.1 -> not found");
	CHECK_STR(tr.line[1], "Require_TLS: -> not found");
	CHECK_STR(tr.line[2], "no TLS_Clt: entries");
	CHECK_STR(tr.line[3], "From:eve+x@a.other.test -> not found");
	CHECK_STR(tr.line[4], "From:eve+*@a.other.test -> not found");
	CHECK_STR(tr.line[5], "From:eve@a.other.test -> not found");
	CHECK_STR(tr.line[6], "From:eve+x@ -> not found");
	CHECK_STR(tr.line[7], "From:eve+*@ -> not found");
	CHECK_STR(tr.line[8], "From:eve@ -> not found");
	CHECK_STR(tr.line[9], "From:a.other.test -> not found");
	CHECK_STR(tr.line[10], "From:.other.test -> not found");
	CHECK_STR(tr.line[11], "From:other.test -> not found");
	CHECK_STR(tr.line[12], "From:.test -> not found");
	CHECK_STR(tr.line[13], "From:test -> not found");

	/* Require_TLS: 530 before STARTTLS, fine after; NO exempts one address */
	c = client("198.18.8.1", NULL);
	r = pol_check_mail(s, &c, "good@another.dom", NULL);
	CHECK_STR(fmt(&r), "530 5.7.0 Must issue a STARTTLS command first");
	CHECK_STR(r.rule, "Require_TLS:198.18.8.0/24 YES");
	CHECK_EQ(pol_require_tls(s, &c, NULL), 1);
	c.tls = 1;
	c.verify = "NO";
	r = pol_check_mail(s, &c, "good@another.dom", NULL);
	CHECK_STR(fmt(&r), "OK");
	c = client("198.18.8.8", NULL);
	CHECK_EQ(pol_require_tls(s, &c, NULL), 0);
	r = pol_check_mail(s, &c, "good@another.dom", NULL);
	CHECK_STR(fmt(&r), "OK");
	pol_snapshot_free(s);

	/* tls_client runs again at MAIL: no STARTTLS against ENCR:128 */
	s = snap_of("TLS_Clt:198.18.6.0/24\tENCR:128\nRequire_TLS:ok.example\tyes\n");
	c = client("198.18.6.1", NULL);
	r = pol_check_mail(s, &c, "a@b.example", NULL);
	CHECK_STR(fmt(&r), "403 4.7.0 encryption too weak 0 less than 128");
	c.verify = "OK";
	c.cipher_bits = 256;
	c.tls = 1;
	r = pol_check_mail(s, &c, "a@b.example", NULL);
	CHECK_STR(fmt(&r), "CONTINUE");
	c = client("198.19.0.2", "mx.ok.example");
	r = pol_check_mail(s, &c, "a@b.example", NULL);
	CHECK_STR(fmt(&r), "530 5.7.0 Must issue a STARTTLS command first");
	pol_snapshot_free(s);
}

/* ---- To: and relaying (check_rcpt) ---- */

#define DARTH_ISSUER "/C=US/ST=California/O=endmail.org/OU=private/" \
		     "CN=Darth Mail (Cert)/Email=darth+cert@endmail.org"
#define DEATHSTAR "/C=US/ST=California/O=endmail.org/OU=private/" \
		  "CN=DeathStar/Email=deathstar@endmail.org"

#define RCPT_MAP \
	"To:example.com\t\tRELAY\n" \
	"To:friend.domain\t\tRELAY\n" \
	"To:badlocaluser@\t\tERROR:550 Mailbox disabled for this username\n" \
	"To:gone@example.com\t\tREJECT\n" \
	"To:trash@example.com\t\tDISCARD\n" \
	"To:ok@elsewhere.test\t\tOK\n" \
	"To:.sub.example.net\t\tRELAY\n" \
	"Connect:198.18.0\t\tRELAY\n" \
	"Connect:relayhost.test\t\tRELAY\n" \
	"Connect:okhost.test\t\tOK\n" \
	"CERTISSUER:/C=US/ST=California/O=endmail.org/OU=private/CN=Darth+20Mail+20+28Cert+29/" \
	"Email=darth+2Bcert@endmail.org\tSUBJECT\n" \
	"CERTSubject:/C=US/ST=California/O=endmail.org/OU=private/CN=DeathStar/" \
	"Email=deathstar@endmail.org\tRELAY\n" \
	"CERTIssuer:/CN=Trusted+20CA\tRELAY\n"

enum { NONE_, AUTH_, DARTH_, DARTH_OTHER_, TRUSTED_, TRUSTED_FAIL_ };

static const struct {
	const char *addr, *name;
	int how;
	const char *to, *want, *rule;
} rcpt_cases[] = {
	/* our domains and their subdomains */
	{ "198.19.0.1", NULL, NONE_, "user@example.com", "RELAY", "To:example.com RELAY" },
	{ "198.19.0.1", NULL, NONE_, "<User@Mail.EXAMPLE.com.>", "RELAY", "To:example.com RELAY" },
	{ "198.19.0.1", NULL, NONE_, "a@x.sub.example.net", "RELAY", "To:.sub.example.net RELAY" },
	{ "198.19.0.1", NULL, NONE_, "a@sub.example.net", "554 5.7.1 Relay access denied", "" },
	/* anyone else's: denied, To: OK does not allow relaying */
	{ "198.19.0.1", NULL, NONE_, "user@elsewhere.test", "554 5.7.1 Relay access denied", "" },
	{ "198.19.0.1", NULL, NONE_, "ok@elsewhere.test", "554 5.7.1 Relay access denied", "" },
	/* blacklisted recipients (checked before relaying, even for trusted clients) */
	{ "198.19.0.1", NULL, NONE_, "gone@example.com", "550 5.2.1 Mailbox disabled for this recipient",
	  "To:gone@example.com REJECT" },
	{ "198.18.0.1", NULL, AUTH_, "gone@example.com", "550 5.2.1 Mailbox disabled for this recipient",
	  "To:gone@example.com REJECT" },
	{ "198.19.0.1", NULL, NONE_, "trash@example.com", "DISCARD", "To:trash@example.com DISCARD" },
	{ "198.19.0.1", NULL, NONE_, "badlocaluser@example.com", "550 5.0.0 Mailbox disabled for this username",
	  "To:badlocaluser@ ERROR:550 Mailbox disabled for this username" },
	/* local recipients (no domain), bad paths */
	{ "198.19.0.1", NULL, NONE_, "<postmaster>", "RELAY", "local recipient" },
	{ "198.19.0.1", NULL, NONE_, "<>", "553 5.1.3 User address required", "" },
	/* relaying allowed by: SMTP AUTH, Connect: address, Connect: name */
	{ "198.19.0.1", NULL, AUTH_, "user@elsewhere.test", "RELAY", "authenticated (SMTP AUTH)" },
	{ "198.18.0.77", NULL, NONE_, "user@elsewhere.test", "RELAY", "Connect:198.18.0 RELAY" },
	{ "198.19.0.1", "a.relayhost.test", NONE_, "user@elsewhere.test", "RELAY",
	  "Connect:relayhost.test RELAY" },
	{ "198.19.0.1", "okhost.test", NONE_, "user@elsewhere.test", "554 5.7.1 Relay access denied", "" },
	/* by certificate: CERTISSUER SUBJECT, then CERTSUBJECT RELAY */
	{ "198.19.0.1", NULL, DARTH_, "user@elsewhere.test", "RELAY",
	  "CERTSubject:/C=US/ST=California/O=endmail.org/OU=private/CN=DeathStar/"
	  "Email=deathstar@endmail.org RELAY" },
	{ "198.19.0.1", NULL, DARTH_OTHER_, "user@elsewhere.test", "554 5.7.1 Relay access denied", "" },
	{ "198.19.0.1", NULL, TRUSTED_, "user@elsewhere.test", "RELAY", "CERTIssuer:/CN=Trusted+20CA RELAY" },
	/* only a verified certificate counts */
	{ "198.19.0.1", NULL, TRUSTED_FAIL_, "user@elsewhere.test", "554 5.7.1 Relay access denied", "" },
};

TEST(rcpt)
{
	static char issuer[256], subject[256];
	struct pol_snapshot *s = snap_of(RCPT_MAP);

	CHECK(s != NULL);
	if (!s)
		return;
	for (size_t i = 0; i < sizeof(rcpt_cases) / sizeof(rcpt_cases[0]); i++) {
		struct pol_client c = client(rcpt_cases[i].addr, rcpt_cases[i].name);
		struct pol_result r;

		switch (rcpt_cases[i].how) {
		case AUTH_:
			c.auth = 1;
			break;
		case DARTH_:
		case DARTH_OTHER_:
			c.verify = "OK";
			str_dn_quote(DARTH_ISSUER, issuer, sizeof(issuer));
			str_dn_quote(rcpt_cases[i].how == DARTH_ ? DEATHSTAR : "/CN=Luke", subject,
				     sizeof(subject));
			c.cert_issuer = issuer;
			c.cert_subject = subject;
			break;
		case TRUSTED_:
		case TRUSTED_FAIL_:
			c.verify = rcpt_cases[i].how == TRUSTED_ ? "OK" : "FAIL";
			str_dn_quote("/CN=trusted ca", issuer, sizeof(issuer));
			c.cert_issuer = issuer;
			c.cert_subject = "/CN=x";
			break;
		}
		r = pol_check_rcpt(s, &c, rcpt_cases[i].to, NULL);
		CHECK_STR(fmt(&r), rcpt_cases[i].want);
		CHECK_STR(r.rule, rcpt_cases[i].rule);
		/* the tag counted is the deciding entry's ("To:x RELAY": To), or auth, or default */
		if (!r.rule[0] || strcmp(r.rule, "local recipient") == 0) {
			CHECK_STR(pol_tag_names[r.tag], "default");
		} else if (strncmp(r.rule, "authenticated", 13) == 0) {
			CHECK_STR(pol_tag_names[r.tag], "auth");
		} else {
			size_t tl = strlen(pol_tag_names[r.tag]);

			CHECK(r.tag != POL_TAG_DEFAULT && strncasecmp(r.rule, pol_tag_names[r.tag], tl) == 0 &&
			      r.rule[tl] == ':');
		}
		if (strcmp(fmt(&r), rcpt_cases[i].want))
			fprintf(stderr, "  case %zu: %s\n", i, rcpt_cases[i].to);
	}
	pol_snapshot_free(s);

	/* no policy: nothing is relayed, local recipients still are */
	{
		struct pol_client c = client("198.18.0.1", NULL);
		struct pol_result r = pol_check_rcpt(NULL, &c, "a@example.com", NULL);

		CHECK_STR(fmt(&r), "554 5.7.1 Relay access denied");
		r = pol_check_rcpt(NULL, &c, "postmaster", NULL);
		CHECK_STR(fmt(&r), "RELAY");
		r = pol_check_connect(NULL, &c, NULL);
		CHECK_STR(fmt(&r), "CONTINUE");
		r = pol_check_mail(NULL, &c, "a@b.example", NULL);
		CHECK_STR(fmt(&r), "CONTINUE");
	}
}

/* Untagged entries: "sendmail.org RELAY" relays to and from sendmail.org. */

/*
 * ${client_resolve} TEMP (the name lookup failed for now): where relaying
 * would depend on the client's name (Connect: entries exist and the address
 * does not relay), sendmail's Relay_ok answers 450 4.7.1; what does not
 * depend on the name decides as before.
 */
TEST(rcpt_resolve_temp)
{
	struct pol_snapshot *s = snap_of(RCPT_MAP), *noconn = snap_of("To:example.com\t\tRELAY\n");
	struct pol_client c;
	struct pol_result r;

	CHECK(s != NULL && noconn != NULL);
	if (!s || !noconn)
		return;
	c = client("198.19.0.1", NULL);
	c.resolve = POL_RESOLVE_TEMP;
	r = pol_check_rcpt(s, &c, "user@elsewhere.test", NULL);
	CHECK_STR(fmt(&r), "450 4.7.1 Relaying temporarily denied. Cannot resolve PTR record for 198.19.0.1");
	r = pol_check_rcpt(s, &c, "user@example.com", NULL);          /* our domain: the name does not matter */
	CHECK_STR(fmt(&r), "RELAY");
	c.auth = 1;
	r = pol_check_rcpt(s, &c, "user@elsewhere.test", NULL);       /* authenticated */
	CHECK_STR(fmt(&r), "RELAY");
	c = client("198.18.0.77", NULL);                              /* Connect:198.18.0 RELAY by address */
	c.resolve = POL_RESOLVE_TEMP;
	r = pol_check_rcpt(s, &c, "user@elsewhere.test", NULL);
	CHECK_STR(fmt(&r), "RELAY");
	c = client("198.19.0.1", NULL);                               /* FORGED or FAIL: the usual refusal */
	c.resolve = POL_RESOLVE_FORGED;
	r = pol_check_rcpt(s, &c, "user@elsewhere.test", NULL);
	CHECK_STR(fmt(&r), "554 5.7.1 Relay access denied");
	c = client("198.19.0.1", "a.relayhost.test");                 /* resolved: the name relays */
	c.resolve = POL_RESOLVE_OK;
	r = pol_check_rcpt(s, &c, "user@elsewhere.test", NULL);
	CHECK_STR(fmt(&r), "RELAY");
	c = client("198.19.0.1", NULL);                               /* no Connect: entries: no name could relay */
	c.resolve = POL_RESOLVE_TEMP;
	r = pol_check_rcpt(noconn, &c, "user@elsewhere.test", NULL);
	CHECK_STR(fmt(&r), "554 5.7.1 Relay access denied");
	pol_snapshot_free(s);
	pol_snapshot_free(noconn);
}
/*
 * Quoted local parts are the mailbox they name (RFC 5321 4.1.2, RFC 5322
 * 3.4.1): dequoted (quotes and backslashes dropped, lower case) before
 * every From:, To: and untagged user lookup, and in keys.
 */
#define QUOTE_MAP \
	"To:lab.example\t\tRELAY\n" \
	"To:victim@lab.example\t\tREJECT\n" \
	"To:gone@\t\tREJECT\n" \
	"From:bad@good.example\t\tREJECT\n" \
	"From:\"Q.Uoted\"@good.example\tREJECT\n" \
	"spammer@aol.com\t\tREJECT\n"

static const struct {
	const char *addr, *want, *rule;
} quoted_mail_cases[] = {
	{ "<bad@good.example>", "550 5.7.1 Access denied", "From:bad@good.example REJECT" },
	{ "<\"bad\"@good.example>", "550 5.7.1 Access denied", "From:bad@good.example REJECT" },
	{ "<\"b\\ad\"@good.example>", "550 5.7.1 Access denied", "From:bad@good.example REJECT" },
	{ "<\"BAD\"@Good.Example>", "550 5.7.1 Access denied", "From:bad@good.example REJECT" },
	{ "<\"b\"\"ad\"@good.example>", "550 5.7.1 Access denied", "From:bad@good.example REJECT" },
	{ "<b\\ad@good.example>", "550 5.7.1 Access denied", "From:bad@good.example REJECT" },
	{ "<\"b.ad\"@good.example>", "CONTINUE", "" },             /* another mailbox */
	{ "<\"b@ad\"@good.example>", "CONTINUE", "" },
	{ "<q.uoted@good.example>", "550 5.7.1 Access denied", "From:\"Q.Uoted\"@good.example REJECT" },
	{ "<\"q.uoted\"@good.example>", "550 5.7.1 Access denied", "From:\"Q.Uoted\"@good.example REJECT" },
	{ "<\"spammer\"@aol.com>", "550 5.7.1 Access denied", "spammer@aol.com REJECT" },
	{ "<\"\"@good.example>", "CONTINUE", "" },                   /* empty: no user lookups */
	{ "<\"\">", "CONTINUE", "" },                                /* names no one: as <> */
};

static const struct {
	const char *addr, *want, *rule;
} quoted_rcpt_cases[] = {
	{ "<victim@lab.example>", "550 5.2.1 Mailbox disabled for this recipient", "To:victim@lab.example REJECT" },
	{ "<\"victim\"@lab.example>", "550 5.2.1 Mailbox disabled for this recipient",
	  "To:victim@lab.example REJECT" },
	{ "<\"Victim\"@LAB.example>", "550 5.2.1 Mailbox disabled for this recipient",
	  "To:victim@lab.example REJECT" },
	{ "<\"vic\\tim\"@lab.example>", "550 5.2.1 Mailbox disabled for this recipient",
	  "To:victim@lab.example REJECT" },
	{ "<vic\\tim@lab.example>", "550 5.2.1 Mailbox disabled for this recipient",
	  "To:victim@lab.example REJECT" },
	{ "<\"gone\"@elsewhere.test>", "550 5.2.1 Mailbox disabled for this recipient", "To:gone@ REJECT" },
	{ "<gone\\>", "550 5.2.1 Mailbox disabled for this recipient", "To:gone@ REJECT" }, /* \ at the end */
	{ "<\"spammer\"@aol.com>", "550 5.2.1 Mailbox disabled for this recipient", "spammer@aol.com REJECT" },
	{ "<\"abc\\\\\"@lab.example>", "RELAY", "To:lab.example RELAY" },           /* "abc\\": abc\ */
	{ "<\"\"@lab.example>", "RELAY", "To:lab.example RELAY" },                  /* the backend's to judge */
	{ "<\"\">", "553 5.1.3 User address required", "" },
	{ "<\"victim.x\"@lab.example>", "RELAY", "To:lab.example RELAY" },
};

TEST(quoted_local_parts)
{
	struct pol_snapshot *s = snap_of(QUOTE_MAP);
	struct pol_client c = client("198.19.0.1", NULL);
	struct pol_result r;
	struct pol_builder *b;

	CHECK(s != NULL);
	if (!s)
		return;
	for (size_t i = 0; i < sizeof(quoted_mail_cases) / sizeof(quoted_mail_cases[0]); i++) {
		r = pol_check_mail(s, &c, quoted_mail_cases[i].addr, NULL);
		CHECK_STR(fmt(&r), quoted_mail_cases[i].want);
		CHECK_STR(r.rule, quoted_mail_cases[i].rule);
		if (strcmp(fmt(&r), quoted_mail_cases[i].want) || strcmp(r.rule, quoted_mail_cases[i].rule))
			fprintf(stderr, "  MAIL case %zu: %s\n", i, quoted_mail_cases[i].addr);
	}
	for (size_t i = 0; i < sizeof(quoted_rcpt_cases) / sizeof(quoted_rcpt_cases[0]); i++) {
		r = pol_check_rcpt(s, &c, quoted_rcpt_cases[i].addr, NULL);
		CHECK_STR(fmt(&r), quoted_rcpt_cases[i].want);
		CHECK_STR(r.rule, quoted_rcpt_cases[i].rule);
		if (strcmp(fmt(&r), quoted_rcpt_cases[i].want) || strcmp(r.rule, quoted_rcpt_cases[i].rule))
			fprintf(stderr, "  RCPT case %zu: %s\n", i, quoted_rcpt_cases[i].addr);
	}
	/* the lookups use the dequoted, lower-cased user */
	pol_trace_init(&tr);
	r = pol_check_mail(s, &c, "\"B\\ad\"@Good.Example", &tr);
	CHECK(traced("From:bad@good.example -> found REJECT"));
	CHECK(!traced("\""));
	pol_trace_init(&tr);
	r = pol_check_mail(s, &c, "\"\"@good.example", &tr);
	CHECK(traced("empty local part: no user lookups"));
	CHECK(!traced("From:@"));
	pol_snapshot_free(s);

	/* a quoted key and its plain form are one key */
	b = pol_builder_new();
	CHECK_EQ(pol_add(b, "To:victim@lab.example", "REJECT", err, sizeof(err)), 0);
	CHECK_EQ(pol_add(b, "To:\"victim\"@lab.example", "OK", err, sizeof(err)), 0);
	s = pol_build(b, err, sizeof(err));
	CHECK(s == NULL);
	CHECK(strstr(err, "same key") != NULL);
	if (s)
		pol_snapshot_free(s);
	pol_builder_free(b);
	/* a key whose user dequotes to nothing */
	b = pol_builder_new();
	CHECK_EQ(pol_add(b, "To:\"\"@lab.example", "REJECT", err, sizeof(err)), -1);
	CHECK(strstr(err, "bad local part") != NULL);
	pol_builder_free(b);
}

/*
 * Sender-specified routing in the local part (u%evil@ours, "u@evil"@ours,
 * evil!u@ours): the recipient domain's RELAY does not relay it (Postfix's
 * allow_untrusted_routing = no, sendmail without loose_relay_check);
 * clients allowed to relay still may.
 */
static const char *const routed_rcpts[] = {
	"<u%evil.example@lab.example>",
	"<\"v@evil.example\"@lab.example>",
	"<evil.example!w@lab.example>",
	"<\"u%evil.example\"@lab.example>",
	"<\"evil.example!w\"@lab.example>",
	"<U%EVIL.EXAMPLE@LAB.EXAMPLE>",
	"<\"u\\@evil.example\"@lab.example>",
	"<u\\@evil.example@lab.example>",                  /* the escaped '@' is the local part's */
	"<u%evil.example@x.lab.example.>",
	"<@relay.example:u%evil.example@lab.example>",   /* the source route goes, the % stays */
	"<u%evil.example@[198.18.1.1]>",
	"<postmaster%evil.example>",                       /* domain-less: not local */
	"<evil.example!postmaster>",
	"<\"postmaster@evil.example\">",
	"<\"victim\\\"@lab.example>",                      /* "victim\" never ends: no domain, '@' in the user */
};

TEST(rcpt_routing)
{
	struct pol_snapshot *s = snap_of("To:lab.example\t\tRELAY\n"
					 "To:.lab.example\t\tRELAY\n"
					 "To:[198.18.1.1]\t\tRELAY\n"
					 "To:victim@lab.example\t\tREJECT\n"
					 "Connect:198.18.0\t\tRELAY\n"
					 "Connect:relayhost.test\t\tRELAY\n");
	struct pol_snapshot *toonly = snap_of("To:lab.example\t\tRELAY\n");
	struct pol_client c;
	struct pol_result r;

	CHECK(s != NULL && toonly != NULL);
	if (!s || !toonly)
		return;
	for (size_t i = 0; i < sizeof(routed_rcpts) / sizeof(routed_rcpts[0]); i++) {
		const char *to = routed_rcpts[i];
		int bad = 0;

		/* not allowed to relay: refused as any relay attempt (the default's tag and reply) */
		c = client("198.19.0.1", NULL);
		r = pol_check_rcpt(s, &c, to, NULL);
		bad |= strcmp(fmt(&r), "554 5.7.1 Relay access denied") != 0 || r.rule[0] || r.tag != POL_TAG_DEFAULT;
		r = pol_check_rcpt(toonly, &c, to, NULL);
		bad |= strcmp(fmt(&r), "554 5.7.1 Relay access denied") != 0;
		r = pol_check_rcpt(NULL, &c, to, NULL);
		bad |= strcmp(fmt(&r), "554 5.7.1 Relay access denied") != 0;
		c = client("198.19.0.1", "okhost.test");
		r = pol_check_rcpt(s, &c, to, NULL);
		bad |= strcmp(fmt(&r), "554 5.7.1 Relay access denied") != 0;
		/* allowed to relay: by address, by name, by AUTH */
		c = client("198.18.0.9", NULL);
		r = pol_check_rcpt(s, &c, to, NULL);
		bad |= strcmp(fmt(&r), "RELAY") != 0 || strcmp(r.rule, "Connect:198.18.0 RELAY") != 0 ||
		       r.tag != POL_TAG_CONNECT;
		c = client("198.19.0.1", "mx.relayhost.test");
		r = pol_check_rcpt(s, &c, to, NULL);
		bad |= strcmp(fmt(&r), "RELAY") != 0 || strcmp(r.rule, "Connect:relayhost.test RELAY") != 0;
		c = client("198.19.0.1", NULL);
		c.auth = 1;
		r = pol_check_rcpt(toonly, &c, to, NULL);
		bad |= strcmp(fmt(&r), "RELAY") != 0 || r.tag != POL_TAG_AUTH;
		CHECK(!bad);
		if (bad)
			fprintf(stderr, "  routed case %zu: %s\n", i, to);
	}

	/* the trace says why */
	c = client("198.19.0.1", NULL);
	pol_trace_init(&tr);
	r = pol_check_rcpt(s, &c, "u%evil.example@lab.example", &tr);
	CHECK_STR(fmt(&r), "554 5.7.1 Relay access denied");
	CHECK(traced("relay: routing in the local part (@, %, !): the recipient domain does not relay it"));
	/* To: entries still come first: a routed recipient they reject is rejected */
	r = pol_check_rcpt(s, &c, "\"victim\"@lab.example", NULL);
	CHECK_STR(fmt(&r), "550 5.2.1 Mailbox disabled for this recipient");
	/* not routing: plain, quoted without routing characters, the local postmaster */
	r = pol_check_rcpt(s, &c, "<u@lab.example>", NULL);
	CHECK_STR(fmt(&r), "RELAY");
	r = pol_check_rcpt(s, &c, "<\"u.v\"@lab.example>", NULL);
	CHECK_STR(fmt(&r), "RELAY");
	r = pol_check_rcpt(s, &c, "<u@evil.example>", NULL);
	CHECK_STR(fmt(&r), "554 5.7.1 Relay access denied");
	r = pol_check_rcpt(s, &c, "<postmaster>", NULL);
	CHECK_STR(fmt(&r), "RELAY");
	CHECK_STR(r.rule, "local recipient");
	r = pol_check_rcpt(s, &c, "<POSTMASTER>", NULL);
	CHECK_STR(fmt(&r), "RELAY");
	r = pol_check_rcpt(NULL, &c, "<\"postmaster\">", NULL);
	CHECK_STR(fmt(&r), "RELAY");
	/* MAIL FROM does not care about routing */
	r = pol_check_mail(s, &c, "<u%evil.example@lab.example>", NULL);
	CHECK_STR(fmt(&r), "CONTINUE");
	pol_snapshot_free(s);
	pol_snapshot_free(toonly);
}
TEST(untagged)
{
	struct pol_snapshot *s = snap_of("# cf/README, untagged\n"
					 "sendmail.org\t\tRELAY\n"
					 "spammer@aol.com\t\tREJECT\n"
					 "IPv6:2001:2:0:7\t\tRELAY\n"
					 "To:sendmail.org\t\tOK\n");
	struct pol_client c = client("198.19.0.1", NULL);
	struct pol_result r;

	r = pol_check_mail(s, &c, "spammer@aol.com", NULL);
	CHECK_STR(fmt(&r), "550 5.7.1 Access denied");
	CHECK_STR(r.rule, "spammer@aol.com REJECT");
	/* To:sendmail.org OK (tagged) wins the lookup but is not RELAY:
	   the relay check walks the domain again and finds the same entry */
	r = pol_check_rcpt(s, &c, "x@sendmail.org", NULL);
	CHECK_STR(fmt(&r), "554 5.7.1 Relay access denied");
	r = pol_check_rcpt(s, &c, "x@www.sendmail.org", NULL);
	CHECK_STR(fmt(&r), "554 5.7.1 Relay access denied");
	c = client("198.19.0.1", "mx.sendmail.org");
	r = pol_check_rcpt(s, &c, "x@elsewhere.test", NULL);
	CHECK_STR(fmt(&r), "RELAY");
	CHECK_STR(r.rule, "sendmail.org RELAY");
	c = client("2001:2:0:7::1", NULL);
	r = pol_check_rcpt(s, &c, "x@elsewhere.test", NULL);
	CHECK_STR(fmt(&r), "RELAY");
	CHECK_STR(r.rule, "IPv6:2001:2:0:7 RELAY");
	r = pol_check_connect(s, &c, NULL);
	CHECK_STR(fmt(&r), "RELAY");
	pol_snapshot_free(s);
}

/* ---- Srv_Features: and Limit: ---- */

TEST(srv_features)
{
	struct pol_snapshot *s = snap_of("# cf/README's example, and more\n"
					 "Srv_Features:my.domain\tv\n"
					 "Srv_Features:198.18.0\tS A\n"
					 "Srv_Features:198.18.0.9\tS s\n"
					 "Srv_Features:\t\tV\n");
	struct pol_client c = client("198.19.0.1", "h.my.domain");
	struct pol_features f;

	CHECK_EQ(pol_srv_features(s, &c, &f, NULL), 1);
	CHECK_EQ(f.on, POL_SF_VERIFY);
	CHECK_EQ(f.off, 0);
	c = client("198.18.0.1", NULL);
	CHECK_EQ(pol_srv_features(s, &c, &f, NULL), 1);
	CHECK_EQ(f.off, POL_SF_STARTTLS | POL_SF_AUTH);
	CHECK_EQ(f.on, 0);
	c = client("198.18.0.9", NULL);                 /* a later letter wins */
	CHECK_EQ(pol_srv_features(s, &c, &f, NULL), 1);
	CHECK_EQ(f.on, POL_SF_STARTTLS);
	CHECK_EQ(f.off, 0);
	c = client("198.19.0.1", "other.example");
	CHECK_EQ(pol_srv_features(s, &c, &f, NULL), 1);
	CHECK_EQ(f.off, POL_SF_VERIFY);
	CHECK_EQ(POL_SF('l'), POL_SF_AUTH_REQUIRED);
	CHECK_EQ(POL_SF('P'), POL_SF_PIPELINING);
	pol_snapshot_free(s);
	s = snap_of("Connect:x.test OK\n");
	CHECK_EQ(pol_srv_features(s, &c, &f, NULL), 0);
	CHECK_EQ(f.on | f.off, 0);
	pol_snapshot_free(s);
}

TEST(limit)
{
	struct pol_snapshot *s = snap_of("Limit:198.18.0.0/16\tconn=10 rate=60/min\n"
					 "Limit:198.18.5.0/24\tconn=0 rate=0/s\n"
					 "Limit:2001:2::/48\trate=5/s\n"
					 "Limit:\t\t\tconn=100\n"
					 "Limit:198.18.6\tSKIP\n");
	struct pol_client c = client("198.18.1.1", "ignored.example");
	struct pol_limits l;

	CHECK_EQ(pol_limit(s, &c, &l, NULL), 1);
	CHECK_EQ(l.conn, 10);
	CHECK_EQ(l.rate, 60);
	CHECK_EQ(l.per_s, 60);
	c = client("198.18.5.1", NULL);                 /* 0: exempt */
	CHECK_EQ(pol_limit(s, &c, &l, NULL), 1);
	CHECK_EQ(l.conn, 0);
	CHECK_EQ(l.rate, 0);
	c = client("2001:2::1", NULL);
	CHECK_EQ(pol_limit(s, &c, &l, NULL), 1);
	CHECK_EQ(l.conn, 0);
	CHECK_EQ(l.rate, 5);
	CHECK_EQ(l.per_s, 1);
	c = client("198.19.0.1", NULL);
	CHECK_EQ(pol_limit(s, &c, &l, NULL), 1);
	CHECK_EQ(l.conn, 100);
	CHECK_EQ(l.rate, 0);
	c = client("198.18.6.1", NULL);                 /* SKIP: the default */
	CHECK_EQ(pol_limit(s, &c, &l, NULL), 1);
	CHECK_EQ(l.conn, 100);
	pol_snapshot_free(s);
	s = snap_of("Limit:198.18.0.0/16\tconn=10\n");
	c = client("198.19.0.1", NULL);
	CHECK_EQ(pol_limit(s, &c, &l, NULL), 0);
	CHECK_EQ(l.conn, 0);
	pol_snapshot_free(s);
}

/* ---- sendmail's connection control: ClientRate:, ClientConn:, GreetPause: ---- */

/*
 * cf/README, FEATURE(`ratecontrol'): "10.1.2.3 can only make up to 4
 * connections, the general limit it 10, and 127.0.0.1 can make an
 * unlimited number of connections per ConnectionRateWindowSize" - the
 * lookup is RateControl's <A:${client_addr}> <E:>: the address and its
 * subnets, then the bare tag; never the client's name.
 */
TEST(client_rate)
{
	struct pol_snapshot *s = snap_of("ClientRate:10.1.2.3\t\t4\n"
					 "ClientRate:127.0.0.1\t\t0\n"
					 "ClientRate:\t\t\t10\n"
					 "ClientRate:198.18.0\t\t2\n"
					 "ClientRate:IPv6:2001:2::/48\t7\n"
					 "ClientRate:198.18.9\t\tSKIP\n");
	static const struct { const char *addr, *name; unsigned want; } cases[] = {
		{ "10.1.2.3", NULL, 4 },
		{ "127.0.0.1", NULL, 0 },                 /* 0: unlimited, under the default */
		{ "10.1.2.4", NULL, 10 },                 /* the general limit */
		{ "198.18.0.77", NULL, 2 },               /* a subnet (LookUpAddress: 198.18.0) */
		{ "2001:2::1", NULL, 7 },
		{ "198.18.9.1", NULL, 10 },               /* SKIP: on to the default */
		{ "10.9.9.9", "host.example", 10 },       /* a name is not looked up */
	};
	struct pol_limits l;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pol_client c = client(cases[i].addr, cases[i].name);

		CHECK_EQ(pol_limit(s, &c, &l, NULL), 1);
		CHECK_EQ(l.client_rate, cases[i].want);
		CHECK_EQ(l.client_conn, 0);
		CHECK_EQ(l.conn | l.rate, 0);
	}
	pol_snapshot_free(s);
	/* no default: an address with no entry has no limit */
	s = snap_of("ClientRate:10.1.2.3\t4\n");
	struct pol_client c = client("10.1.2.4", NULL);

	CHECK_EQ(pol_limit(s, &c, &l, NULL), 0);
	CHECK_EQ(l.client_rate, 0);
	pol_snapshot_free(s);
}

/*
 * cf/README, FEATURE(`conncontrol'): "10.1.2.3 can only have up to 4
 * open connections, the general limit it 10, and 127.0.0.1 does not have
 * any explicit limit" (ConnControl: <A:${client_addr}> <E:>); beside
 * Limit: and ClientRate:, each looked up on its own.
 */
TEST(client_conn)
{
	struct pol_snapshot *s = snap_of("ClientConn:10.1.2.3\t\t4\n"
					 "ClientConn:127.0.0.1\t\t0\n"
					 "ClientConn:\t\t\t10\n"
					 "ClientRate:10.1.2\t\t30\n"
					 "Limit:10.1.2.3\t\tconn=2\n");
	struct pol_client c = client("10.1.2.3", NULL);
	struct pol_limits l;

	pol_trace_init(&tr);
	CHECK_EQ(pol_limit(s, &c, &l, &tr), 1);
	CHECK_EQ(l.client_conn, 4);
	CHECK_EQ(l.client_rate, 30);
	CHECK_EQ(l.conn, 2);                            /* Limit: too: the stricter wins at the gate */
	CHECK(traced("ClientConn:10.1.2.3 -> found ClientConn:10.1.2.3 4"));
	CHECK(traced("ClientRate:10.1.2.3 -> found ClientRate:10.1.2 30"));
	c = client("127.0.0.1", NULL);
	CHECK_EQ(pol_limit(s, &c, &l, NULL), 1);
	CHECK_EQ(l.client_conn, 0);
	c = client("10.1.9.9", NULL);
	CHECK_EQ(pol_limit(s, &c, &l, NULL), 1);
	CHECK_EQ(l.client_conn, 10);
	CHECK_EQ(l.client_rate, 0);
	CHECK_EQ(l.conn, 0);
	pol_snapshot_free(s);
}

/*
 * cf/README, FEATURE(`greet_pause'): "an access database lookup with the
 * GreetPause tag is done using client hostname, domain, IP address, or
 * subnet to determine the pause time" (greet_pause: D on ${client_name},
 * then A on ${client_addr}); the bare tag is the default, as the
 * sendmail cookbook's Local_greet_pause adds (sendmail's own default is
 * FEATURE's argument: mxgate's smtpd_greet_delay_ms).
 */
TEST(greet_pause)
{
	struct pol_snapshot *s = snap_of("GreetPause:my.domain\t0\n"
					 "GreetPause:example.com\t5000\n"
					 "GreetPause:10.1.2\t2000\n"
					 "GreetPause:127.0.0.1\t0\n"
					 "GreetPause:[198.18.7.7]\t700\n"
					 "GreetPause:\t\t1500\n");
	static const struct { const char *addr, *name; unsigned want; } cases[] = {
		{ "198.19.0.1", "mx.my.domain", 0 },      /* host in the domain: no pause */
		{ "198.19.0.1", "mail.example.com", 5000 },
		{ "10.1.2.3", NULL, 2000 },               /* the subnet */
		{ "10.1.2.3", "mail.example.com", 5000 }, /* the name first */
		{ "10.1.2.3", "other.example", 2000 },    /* then the address */
		{ "127.0.0.1", NULL, 0 },
		{ "198.18.7.7", NULL, 700 },              /* an unresolved client's [literal] */
		{ "198.19.0.1", NULL, 1500 },             /* the default */
	};
	unsigned ms;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pol_client c = client(cases[i].addr, cases[i].name);

		CHECK_EQ(pol_greet_pause(s, &c, &ms, NULL), 1);
		CHECK_EQ(ms, cases[i].want);
	}
	pol_snapshot_free(s);
	s = snap_of("GreetPause:10.1.2\t2000\n");
	struct pol_client c = client("10.1.3.1", NULL);

	ms = 9;
	CHECK_EQ(pol_greet_pause(s, &c, &ms, NULL), 0);  /* no entry: smtpd_greet_delay_ms */
	CHECK_EQ(ms, 0);
	pol_snapshot_free(s);
	s = snap_of("Connect:x.test OK\n");
	pol_trace_init(&tr);
	CHECK_EQ(pol_greet_pause(s, &c, &ms, &tr), 0);
	CHECK(traced("no GreetPause: entries"));
	pol_snapshot_free(s);
}

/* ---- the ERROR: forms sendmail accepts ---- */

static const struct {
	const char *value, *want;
} error_cases[] = {
	{ "ERROR:550 We don't accept mail", "550 5.0.0 We don't accept mail" },
	{ "ERROR:\"550 We don't accept mail from spammers\"", "550 5.0.0 We don't accept mail from spammers" },
	{ "ERROR:550 \"We don't accept mail from spammers\"", "550 5.0.0 We don't accept mail from spammers" },
	{ "ERROR:5.7.1:550 Go away", "550 5.7.1 Go away" },
	{ "ERROR:5.7.1:\"550 Go away\"", "550 5.7.1 Go away" },
	{ "ERROR:\"550 5.7.1 Go away\"", "550 5.7.1 Go away" },
	{ "ERROR:550 5.7.1 Go away", "550 5.7.1 Go away" },
	{ "ERROR:5.7.1:550 5.7.1 Go away", "550 5.7.1 Go away" },
	{ "ERROR:4.2.2:450 mailbox full", "450 4.2.2 mailbox full" },
	{ "ERROR:450 mailbox full", "450 4.0.0 mailbox full" },
	{ "ERROR:5.123.456:554 long codes", "554 5.123.456 long codes" },
	{ "error:550 tag in lower case", "550 5.0.0 tag in lower case" },
	{ "550 the deprecated form", "550 5.0.0 the deprecated form" },
	{ "\"550 the deprecated form, quoted\"", "550 5.0.0 the deprecated form, quoted" },
	{ "ERROR:550   spaced   out  ", "550 5.0.0 spaced   out" },
};

TEST(error_forms)
{
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		struct pol_builder *b = pol_builder_new();
		struct pol_snapshot *s;
		struct pol_client c = client("198.18.0.1", NULL);
		struct pol_result r;

		CHECK_EQ(pol_add(b, "Connect:198.18.0.1", error_cases[i].value, err, sizeof(err)), 0);
		s = pol_build(b, err, sizeof(err));
		CHECK(s != NULL);
		if (!s) {
			fprintf(stderr, "  case %zu: %s\n", i, err);
			pol_builder_free(b);
			continue;
		}
		r = pol_check_connect(s, &c, NULL);
		CHECK_EQ(r.action, POL_REJECT);
		CHECK_STR(fmt(&r), error_cases[i].want);
		pol_snapshot_free(s);
		pol_builder_free(b);
	}
}

/* ---- malformed entries ---- */

static const struct {
	const char *key, *value, *want;
} bad_entries[] = {
	/* the two examples of the issue */
	{ "Connect:198.18.300.1", "REJECT", "Connect:198.18.300.1: bad address" },
	{ "To:x@y", "RELAYY", "To:x@y: unknown value 'RELAYY'" },
	/* addresses and prefixes */
	{ "Connect:198.018.0.1", "REJECT", "Connect:198.018.0.1: bad address" },
	{ "Connect:1.2.3.4.5", "REJECT", "Connect:1.2.3.4.5: bad address" },
	{ "Connect:198.18.0.", "REJECT", "Connect:198.18.0.: bad address" },
	{ "Connect:198.18.0.5/24", "REJECT", "Connect:198.18.0.5/24: bad prefix: host bits set (198.18.0.0/24?)" },
	{ "Connect:198.18/16", "REJECT", "Connect:198.18/16: bad prefix: CIDR needs four octets" },
	{ "Connect:198.18.0.0/33", "REJECT", "Connect:198.18.0.0/33: bad address" },
	{ "Connect:IPv6:2001:2::1/48", "OK", "Connect:IPv6:2001:2::1/48: bad prefix: host bits set (2001:2::/48?)" },
	{ "Connect:IPv6:2001:zz", "OK", "Connect:IPv6:2001:zz: bad address" },
	{ "Connect:IPv6:20011:2", "OK", "Connect:IPv6:20011:2: bad address" },
	{ "Connect:IPv6:1:2:3:4:5:6:7:8:9", "OK", "Connect:IPv6:1:2:3:4:5:6:7:8:9: bad address" },
	{ "Connect:2001:2::/129", "OK", "Connect:2001:2::/129: bad address" },
	{ "2001:2::1", "OK", "2001:2::1: an untagged IPv6 key needs the IPv6: prefix" },
	{ "From:1.2.3.4", "OK", "From:1.2.3.4: an address literal needs brackets: From:[1.2.3.4]" },
	{ "Connect:[1.2.x.4]", "OK", "Connect:[1.2.x.4]: bad address literal" },
	/* names, mailboxes, DNs */
	{ "Connect:bad!host", "OK", "Connect:bad!host: bad host name" },
	{ "Connect:a..b", "OK", "Connect:a..b: bad host name" },
	{ "To:user@bad..example", "OK", "To:user@bad..example: bad host name" },
	{ "To:@example.com", "OK", "To:@example.com: bad local part" },
	{ "TLS_Clt:x@y.example", "VERIFY", "TLS_Clt:x@y.example: a TLS_Clt: key is a host name or an "
					    "address, not a mailbox" },
	{ "Limit:mx.example", "conn=1", "Limit:mx.example: a Limit: key is an address or a prefix" },
	{ "ClientRate:mx.example", "4", "ClientRate:mx.example: a ClientRate: key is an address or a prefix" },
	{ "ClientConn:[10.1.2.3]", "4", "ClientConn:[10.1.2.3]: a ClientConn: key is an address or a prefix" },
	{ "ClientConn:10.1.2.3", "four", "ClientConn:10.1.2.3: unknown value 'four' (ClientConn takes open "
					 "connections, 0 = no limit)" },
	{ "ClientRate:", "-1", "ClientRate:: unknown value '-1' (ClientRate takes connections per minute, "
			       "0 = no limit)" },
	{ "GreetPause:example.com", "5s", "GreetPause:example.com: unknown value '5s' (GreetPause takes "
					  "milliseconds, 0 = no pause)" },
	{ "GreetPause:", "300001", "GreetPause:: GreetPause 300001 ms is over 300000 (sendmail's cap: the "
				   "5-minute greeting timeout)" },
	{ "GreetPause:user@example.com", "10", "GreetPause:user@example.com: a GreetPause: key is a host "
					       "name or an address, not a mailbox" },
	{ "CERTISSUER:/CN=a(b)", "RELAY", "CERTISSUER:/CN=a(b): bad DN: write it +HEX quoted "
					  "(a blank is +20, '+' is +2B)" },
	{ "CERTISSUER:/CN=a+2", "RELAY", "CERTISSUER:/CN=a+2: bad DN: write it +HEX quoted "
					 "(a blank is +20, '+' is +2B)" },
	/* tags */
	{ "Conect:1.2.3.4", "OK", "Conect:1.2.3.4: unknown tag 'Conect'" },
	{ "TLS_Rcpt:secure.example.com", "ENCR:112", "TLS_Rcpt:secure.example.com: tag TLS_Rcpt: is not "
						    "supported by mxgate" },
	{ "From:", "REJECT", "From:: empty key: sendmail has no From: default" },
	{ "To:", "RELAY", "To:: empty key: sendmail has no To: default" },
	{ "Connect:", "REJECT", "Connect:: empty key" },
	{ "CERTSUBJECT:", "RELAY", "CERTSUBJECT:: empty key" },
	/* values */
	{ "From:user@", "SKIP", "From:user@: SKIP applies to host names, domains and addresses only" },
	{ "TLS_Clt:", "SKIP", "TLS_Clt:: SKIP applies to host names, domains and addresses only" },
	{ "Connect:1.2.3.4", "REJECT # spammer", "Connect:1.2.3.4: unknown value 'REJECT # spammer' "
						 "(a comment must be on a line of its own)" },
	{ "Connect:1.2.3.4", "QUARANTINE:spam", "Connect:1.2.3.4: unknown value 'QUARANTINE:spam'" },
	{ "TLS_Clt:x.example", "VERIFY:abc", "TLS_Clt:x.example: bad bit count in 'VERIFY:abc'" },
	{ "TLS_Clt:x.example", "ENCR:999999", "TLS_Clt:x.example: bad bit count in 'ENCR:999999'" },
	{ "TLS_Clt:x.example", "ENCR", "TLS_Clt:x.example: unknown value 'ENCR' (TLS_Clt takes VERIFY, "
				       "VERIFY:bits or ENCR:bits, after TEMP+ or PERM+ if wanted, or OK)" },
	{ "TLS_Clt:x.example", "PERM+RELAY", "TLS_Clt:x.example: unknown value 'PERM+RELAY' (TLS_Clt takes "
					     "VERIFY, VERIFY:bits or ENCR:bits, after TEMP+ or PERM+ if "
					     "wanted, or OK)" },
	{ "TLS_Clt:x.example", "ENCR:128+XX:y", "TLS_Clt:x.example: unknown TLS requirement 'XX:y' (CN, "
						"CN:name, CS:dn or CI:dn)" },
	{ "TLS_Clt:x.example", "VERIFY+CN++", "TLS_Clt:x.example: empty TLS requirement after '++'" },
	{ "TLS_Clt:x.example", "VERIFYX", "TLS_Clt:x.example: unknown value 'VERIFYX'" },
	{ "CERTISSUER:/CN=x", "REJECT", "CERTISSUER:/CN=x: unknown value 'REJECT' (CERTISSUER takes RELAY "
					"or SUBJECT)" },
	{ "CERTSUBJECT:/CN=x", "SUBJECT", "CERTSUBJECT:/CN=x: unknown value 'SUBJECT' (CERTSUBJECT takes "
					  "RELAY)" },
	{ "Srv_Features:", "V Q", "Srv_Features:: unknown feature letter 'Q' (A B C D E L P R S V X, upper "
				  "case off, lower case on)" },
	{ "Srv_Features:", "1", "Srv_Features:: unknown feature letter '1' (A B C D E L P R S V X, upper "
				"case off, lower case on)" },
	{ "Limit:198.18.0.0/24", "conn=x", "Limit:198.18.0.0/24: bad limit 'conn=x' (conn=N, rate=N/s, "
					   "rate=N/min or rate=N/h, each once)" },
	{ "Limit:198.18.0.0/24", "rate=5/day", "Limit:198.18.0.0/24: bad limit 'rate=5/day' (conn=N, "
					       "rate=N/s, rate=N/min or rate=N/h, each once)" },
	{ "Limit:198.18.0.0/24", "conn=1 conn=2", "Limit:198.18.0.0/24: bad limit 'conn=2' (conn=N, "
						  "rate=N/s, rate=N/min or rate=N/h, each once)" },
	{ "Require_TLS:", "MAYBE", "Require_TLS:: unknown value 'MAYBE' (Require_TLS takes YES or NO)" },
	/* error replies */
	{ "To:x@y", "ERROR:250 fine", "To:x@y: reply code 250 is not 4xx or 5xx" },
	{ "To:x@y", "ERROR:4.2.2:550 x", "To:x@y: enhanced status code 4.2.2 does not match reply code 550" },
	{ "To:x@y", "ERROR:450 5.2.2 x", "To:x@y: enhanced status code 5.2.2 does not match reply code 450" },
	{ "To:x@y", "ERROR:550", "To:x@y: no reply text after 550" },
	{ "To:x@y", "ERROR:\"550\"", "To:x@y: no reply text after 550" },
	{ "To:x@y", "ERROR:go away", "To:x@y: an error needs a reply code (ERROR:550 text)" },
	{ "To:x@y", "ERROR:550-go away", "To:x@y: an error needs a reply code (ERROR:550 text)" },
	{ "To:x@y", "ERROR:5.7.1:550 5.7.2 x", "To:x@y: two enhanced status codes, 5.7.1 and 5.7.2" },
	{ "To:x@y", "ERROR:550 caf\xc3\xa9", "To:x@y: reply text has a control or non-ASCII byte" },
	/* bytes */
	{ "To:x@y", "   ", "To:x@y: missing value" },
	{ "To:x@y", "REJ\001ECT", "To:x@y: control byte in value" },
	{ "To:x y", "OK", "To:x y: blank or control byte in key" },
	{ "", "OK", "empty key" },
};

TEST(malformed)
{
	char key[700], val[700];

	for (size_t i = 0; i < sizeof(bad_entries) / sizeof(bad_entries[0]); i++) {
		expect_add_error(bad_entries[i].key, bad_entries[i].value, bad_entries[i].want);
		if (strcmp(err, bad_entries[i].want))
			fprintf(stderr, "  case %zu\n", i);
	}
	/* lengths */
	memset(key, 'a', sizeof(key) - 1);
	key[sizeof(key) - 1] = 0;
	memcpy(key, "To:", 3);
	{
		struct pol_builder *b = pol_builder_new();

		CHECK_EQ(pol_add(b, key, "OK", err, sizeof(err)), -1);
		CHECK(strstr(err, ": key longer than 512 bytes") != NULL);
		CHECK(strncmp(err, "To:aaa", 6) == 0);
		memset(val, 'x', sizeof(val) - 1);
		val[sizeof(val) - 1] = 0;
		CHECK_EQ(pol_add(b, "To:x@y", val, err, sizeof(err)), -1);
		CHECK_STR(err, "To:x@y: value longer than 512 bytes");
		CHECK_EQ(pol_add(b, NULL, "OK", err, sizeof(err)), -1);
		pol_builder_free(b);
	}
	/* keys that are one key after case folding or prefix normalisation */
	expect_build_error("Connect:198.18.0\tREJECT\nConnect:198.18.0.0/24\tOK\n",
			   "Connect:198.18.0.0/24 (line 2): same key as Connect:198.18.0 (line 1)");
	expect_build_error("To:Example.COM\tRELAY\n# between\n\nto:example.com.\tRELAY\n",
			   "to:example.com. (line 4): same key as To:Example.COM (line 1)");
	expect_build_error("Connect:IPv6:2001:2:0:1\tOK\nConnect:2001:2:0:1::/64\tOK\n",
			   "Connect:2001:2:0:1::/64 (line 2): same key as Connect:IPv6:2001:2:0:1 (line 1)");
	expect_build_error("Connect:198.18.0.1\tOK\nConnect:::ffff:198.18.0.1\tOK\n",
			   "Connect:::ffff:198.18.0.1 (line 2): same key as Connect:198.18.0.1 (line 1)");
	/* but one key under two tags, or as a name and a literal, is fine */
	{
		struct pol_snapshot *s = snap_of("Connect:198.18.0\tOK\n198.18.0\tOK\nTLS_Clt:198.18.0\tVERIFY\n"
						 "Connect:[198.18.0]\tOK\nTo:example.com RELAY\n"
						 "From:example.com OK\n");

		CHECK(s != NULL);
		pol_snapshot_free(s);
	}
}

/* Access-file syntax: errors carry the file name and line. */
TEST(parse_errors)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "To:example.com RELAY\nTo:x@y RELAYY\n", "t:2: To:x@y: unknown value 'RELAYY'" },
		{ "# c\n  Connect:1.2.3.4 OK\n", "t:2: line starts with a blank: no key" },
		{ "Connect:1.2.3.4\n", "t:1: Connect:1.2.3.4: missing value" },
		{ "\n\n\nConnect:198.18.300.1 REJECT\r\n", "t:4: Connect:198.18.300.1: bad address" },
	};
	struct pol_builder *b;
	char line[POL_LINE_MAX + 100];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		b = pol_builder_new();
		CHECK_EQ(pol_parse(b, "t", cases[i].text, strlen(cases[i].text), err, sizeof(err)), -1);
		CHECK_STR(err, cases[i].want);
		CHECK(pol_build(b, err, sizeof(err)) == NULL);
		CHECK_STR(err, cases[i].want);
		pol_builder_free(b);
	}
	b = pol_builder_new();
	CHECK_EQ(pol_parse(b, "t", "To:a.b OK\nTo:c\0.d OK\n", 21, err, sizeof(err)), -1);
	CHECK_STR(err, "t:2: NUL byte in line");
	pol_builder_free(b);
	b = pol_builder_new();
	memset(line, 'a', sizeof(line));
	CHECK_EQ(pol_parse(b, "t", line, sizeof(line), err, sizeof(err)), -1);
	CHECK(strcmp(err, "t:1: line longer than 1088 bytes") == 0);
	pol_builder_free(b);
	b = pol_builder_new();
	CHECK_EQ(pol_load_file(b, "/nonexistent/access", err, sizeof(err)), -1);
	CHECK_STR(err, "/nonexistent/access: No such file or directory");
	pol_builder_free(b);
}

/* ---- a file, parsed, built and looked up ---- */

#define ACCESS_FILE \
	"# /etc/mail/access for mx.example.com\r\n" \
	"\r\n" \
	"   # an indented comment\n" \
	"To:example.com\t\t\tRELAY\n" \
	"To:example.org   RELAY   \n" \
	"Connect:198.18.0.0/24\t\tRELAY\n" \
	"Connect:spam.example.net\tERROR:5.7.1:\"550 No spam, please\"\n" \
	"From:abuse@example.com\tOK\n" \
	"TLS_Clt:\t\t\tTEMP+ENCR:128\n" \
	"Srv_Features:198.18.0\tV\n" \
	"Limit:\t\t\tconn=50 rate=600/h\n" \
	"Require_TLS:2001:2::/48\tYES\n" \
	"CERTISSUER:/C=US/O=Example/CN=Example+20CA\tRELAY\n" \
	"no-newline-at-end.example\tREJECT"

TEST(roundtrip)
{
	char path[] = "/tmp/test_policy.XXXXXX";
	int fd = mkstemp(path);
	struct pol_builder *b = pol_builder_new();
	struct pol_snapshot *s;
	struct pol_client c;
	struct pol_result r;
	struct pol_features f;
	struct pol_limits l;

	CHECK(fd >= 0);
	CHECK_EQ(write(fd, ACCESS_FILE, strlen(ACCESS_FILE)), (long long)strlen(ACCESS_FILE));
	close(fd);
	CHECK_EQ(pol_load_file(b, path, err, sizeof(err)), 0);
	unlink(path);
	CHECK_EQ(pol_builder_count(b), 11);
	s = pol_build(b, err, sizeof(err));
	pol_builder_free(b);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_EQ(pol_snapshot_count(s), 11);

	/* a client of ours: relays, TLS required to be 128 bits at MAIL */
	c = client("198.18.0.20", "mua.example.com");
	c.tls = 1;
	c.verify = "NO";
	c.cipher_bits = 256;
	r = pol_check_connect(s, &c, NULL);
	CHECK_STR(fmt(&r), "RELAY");
	CHECK_EQ(pol_srv_features(s, &c, &f, NULL), 1);
	CHECK_EQ(f.off, POL_SF_VERIFY);
	CHECK_EQ(pol_limit(s, &c, &l, NULL), 1);
	CHECK_EQ(l.conn, 50);
	CHECK_EQ(l.rate, 600);
	CHECK_EQ(l.per_s, 3600);
	r = pol_check_tls(s, &c, NULL);
	CHECK_STR(fmt(&r), "OK");
	r = pol_check_mail(s, &c, "me@example.com", NULL);
	CHECK_STR(fmt(&r), "CONTINUE");
	r = pol_check_rcpt(s, &c, "friend@elsewhere.test", NULL);
	CHECK_STR(fmt(&r), "RELAY");
	CHECK_STR(r.rule, "Connect:198.18.0.0/24 RELAY");

	/* a stranger without STARTTLS: accepted for our domains at connect,
	   refused at MAIL by TLS_Clt's default */
	c = client("198.19.3.3", "mx.spam.example.net");
	r = pol_check_connect(s, &c, NULL);
	CHECK_STR(fmt(&r), "550 5.7.1 No spam, please");
	c.name = "mx.elsewhere.test";
	r = pol_check_connect(s, &c, NULL);
	CHECK_STR(fmt(&r), "CONTINUE");
	r = pol_check_mail(s, &c, "a@elsewhere.test", NULL);
	CHECK_STR(fmt(&r), "403 4.7.0 encryption too weak 0 less than 128");
	c.verify = "OK";
	c.cipher_bits = 128;
	c.tls = 1;
	r = pol_check_mail(s, &c, "a@elsewhere.test", NULL);
	CHECK_STR(fmt(&r), "CONTINUE");
	r = pol_check_rcpt(s, &c, "x@example.org", NULL);
	CHECK_STR(fmt(&r), "RELAY");
	r = pol_check_rcpt(s, &c, "x@example.net", NULL);
	CHECK_STR(fmt(&r), "554 5.7.1 Relay access denied");
	c.name = "x.no-newline-at-end.example";
	r = pol_check_connect(s, &c, NULL);
	CHECK_STR(fmt(&r), "550 5.7.1 Access denied");

	/* a certificate from the trusted CA relays */
	c.cert_issuer = "/C=US/O=Example/CN=Example+20CA";
	r = pol_check_rcpt(s, &c, "x@example.net", NULL);
	CHECK_STR(fmt(&r), "RELAY");
	/* IPv6 clients in 2001:2::/48 must use STARTTLS */
	c = client("2001:2::25", NULL);
	r = pol_check_mail(s, &c, "a@b.example", NULL);
	CHECK_STR(fmt(&r), "530 5.7.0 Must issue a STARTTLS command first");
	pol_snapshot_free(s);
}

/* Random valid /32 entries: each address finds its own entry. */
TEST(random_roundtrip)
{
	static const char *const vals[] = { "OK", "RELAY", "REJECT", "DISCARD", "ERROR:451 later" };
	static char keys[2000][40];
	static int kinds[2000];
	struct pol_builder *b = pol_builder_new();
	struct pol_snapshot *s;
	uint32_t x = 12345;
	int n = 0, bad = 0;

	for (int i = 0; i < 2000; i++) {
		x = x * 1103515245u + 12345u;
		snprintf(keys[n], sizeof(keys[n]), "Connect:198.%u.%u.%u", 18 + ((x >> 8) & 1),
			 (x >> 12) & 255, (x >> 20) & 255);
		kinds[n] = (int)((x >> 28) % 5);
		if (pol_add(b, keys[n], vals[kinds[n]], err, sizeof(err)) < 0)
			bad++;
		n++;
	}
	CHECK_EQ(bad, 0);
	s = pol_build(b, err, sizeof(err));
	if (!s) {
		/* the generator made a duplicate: rebuild without them */
		pol_builder_free(b);
		b = pol_builder_new();
		for (int i = 0; i < n; i++) {
			int dup = 0;

			for (int j = 0; j < i && !dup; j++)
				dup = !strcmp(keys[i], keys[j]);
			if (dup) {
				memmove(keys[i], keys[n - 1], sizeof(keys[i]));
				kinds[i] = kinds[n - 1];
				n--;
				i--;
				continue;
			}
			pol_add(b, keys[i], vals[kinds[i]], err, sizeof(err));
		}
		s = pol_build(b, err, sizeof(err));
	}
	CHECK(s != NULL);
	pol_builder_free(b);
	if (!s)
		return;
	bad = 0;
	for (int i = 0; i < n; i++) {
		static const int action[] = { POL_OK, POL_RELAY, POL_REJECT, POL_DISCARD, POL_REJECT };
		struct pol_client c = client(keys[i] + 8, NULL);
		struct pol_result r = pol_check_connect(s, &c, NULL);
		char want[128];

		snprintf(want, sizeof(want), "%.40s %s", keys[i], vals[kinds[i]]);
		bad += r.action != action[kinds[i]] || strcmp(r.rule, want);
	}
	CHECK_EQ(bad, 0);
	pol_snapshot_free(s);
}

/* ---- random robustness: never crash, every result well formed ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

/* xorshift64* */
static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ULL;
}

/* A random string from pieces (and now and then a random byte). */
static void rstr(char *out, size_t outlen, const char *const *pieces, size_t np, int maxp)
{
	size_t o = 0;
	int n = 1 + (int)(rnd() % (uint64_t)maxp);

	out[0] = 0;
	for (int i = 0; i < n; i++) {
		const char *p;
		char byte[2];

		if (rnd() % 16 == 0) {
			byte[0] = (char)(1 + rnd() % 255);
			byte[1] = 0;
			p = byte;
		} else {
			p = pieces[rnd() % np];
		}
		if (o + strlen(p) + 1 >= outlen)
			break;
		memcpy(out + o, p, strlen(p) + 1);
		o += strlen(p);
	}
}

/* A result is well formed. */
static int result_ok(const struct pol_result *r)
{
	if (r->action < POL_CONTINUE || r->action > POL_REJECT)
		return 0;
	if (r->action != POL_REJECT)
		return 1;
	if (r->code < 400 || r->code > 599 || r->enh[0] - '0' != r->code / 100 || !r->text[0])
		return 0;
	for (const char *p = r->text; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			return 0;
	return 1;
}

/* A trace is well formed. */
static int trace_ok(const struct pol_trace *t)
{
	if (t->n > POL_TRACE_LINES)
		return 0;
	for (unsigned i = 0; i < t->n; i++) {
		size_t n = strnlen(t->line[i], POL_TRACE_WIDTH);

		if (n >= POL_TRACE_WIDTH)
			return 0;
		for (size_t j = 0; j < n; j++)
			if ((unsigned char)t->line[i][j] < 0x20 || t->line[i][j] == 0x7f)
				return 0;
	}
	return 1;
}

TEST(random_input)
{
	static const char *const kp[] = {
		"Connect:", "From:", "To:", "TLS_Clt:", "CERTISSUER:", "CERTSUBJECT:", "Srv_Features:",
		"Limit:", "Require_TLS:", "connect:", "IPv6:", "Bogus:", "198.18.", "198.19.", "0", "1",
		"255", "300", ".", "/", "24", "8", "33", ":", "::", "2001", ":2", "a", "example", ".com",
		"@", "[", "]", "+", "+2B", "+*", "*", "-", "_", "user", "/CN=", "x", " ", "\t",
	};
	static const char *const vp[] = {
		"OK", "RELAY", "REJECT", "DISCARD", "SKIP", "ERROR:", "550 ", "450 ", "5.7.1", "4.2.2",
		":", "\"", "VERIFY", ":112", "ENCR:", "PERM+", "TEMP+", "+CN", "+CN:", "++", "CS:", "conn=",
		"rate=", "/min", "/s", "10", "YES", "NO", "V", "s", "a", "SUBJECT", " ", "text", "#",
	};
	static const char *const np[] = {
		"a", "b", ".", "example", "com", "test", "[", "]", "198.19.0.1", "IPv6:", "2001:2::1", "-",
		"@", "+", "x", "<", ">", " ",
	};
	static const char *const verifies[] = {
		"OK", "NO", "NOT", "FAIL", "NONE", "TEMP", "PROTOCOL", "SOFTWARE", "", "BOGUS",
	};
	char key[POL_KEY_MAX + 64], val[POL_VALUE_MAX + 64], name[300], from[300], to[300];
	char text[16384];
	unsigned built = 0, dups = 0, bad_err = 0, bad_result = 0, bad_trace = 0;
	unsigned poisoned_built = 0, rejected = 0, lookups = 0;

	for (int round = 0; round < 400; round++) {
		struct pol_builder *all = pol_builder_new(), *good = pol_builder_new();
		struct pol_snapshot *s;
		int any_fail = 0;
		size_t o = 0;

		for (int i = 0; i < 60; i++) {
			struct pol_builder *one = pol_builder_new();
			int rc;

			rstr(key, rnd() % 2 ? sizeof(key) : 120, kp, sizeof(kp) / sizeof(kp[0]), 6);
			rstr(val, rnd() % 2 ? sizeof(val) : 100, vp, sizeof(vp) / sizeof(vp[0]), 4);
			err[0] = 0;
			rc = pol_add(one, key, val, err, sizeof(err));
			if (rc < 0) {
				rejected++;
				bad_err += !err[0] || strchr(err, '\n') != NULL;
			} else {
				bad_err += rc != 0 || pol_add(good, key, val, err, sizeof(err)) != 0;
			}
			pol_builder_free(one);
			if (round % 2) {
				any_fail |= pol_add(all, key, val, NULL, 0) < 0;
			} else if (o + strlen(key) + strlen(val) + 4 < sizeof(text)) {
				o += (size_t)snprintf(text + o, sizeof(text) - o, "%s%s%s%s\n",
						      rnd() % 8 ? "" : "#", key, rnd() % 2 ? "\t" : " ", val);
			}
		}
		if (round % 2 == 0 && pol_parse(all, "r", text, o, err, sizeof(err)) < 0) {
			any_fail = 1;
			bad_err += !err[0] || strchr(err, '\n') != NULL || strncmp(err, "r:", 2) != 0;
		}
		s = pol_build(all, err, sizeof(err));
		poisoned_built += any_fail && s != NULL;
		pol_snapshot_free(s);
		pol_builder_free(all);

		/* the valid ones: build (unless two are one key), then look up */
		s = pol_build(good, err, sizeof(err));
		pol_builder_free(good);
		if (!s) {
			dups++;
			bad_err += strstr(err, ": same key as ") == NULL;
			good = pol_builder_new();
			pol_add(good, "Connect:198.18.0", "REJECT", err, sizeof(err));
			pol_add(good, "To:example.com", "RELAY", err, sizeof(err));
			s = pol_build(good, err, sizeof(err));
			pol_builder_free(good);
		} else {
			built++;
		}
		if (!s)
			continue;
		for (int i = 0; i < 30; i++) {
			struct pol_client c;
			struct pol_result r;
			struct pol_features f;
			struct pol_limits l;
			char as[64];

			memset(&c, 0, sizeof(c));
			if (rnd() % 2)
				snprintf(as, sizeof(as), "198.%u.%u.%u", 18 + (unsigned)(rnd() % 2),
					 (unsigned)(rnd() % 4), (unsigned)(rnd() % 256));
			else
				snprintf(as, sizeof(as), "2001:2::%x", (unsigned)(rnd() % 65536));
			pol_addr_parse(as, &c.addr);
			rstr(name, sizeof(name), np, sizeof(np) / sizeof(np[0]), 8);
			rstr(from, sizeof(from), np, sizeof(np) / sizeof(np[0]), 10);
			rstr(to, sizeof(to), np, sizeof(np) / sizeof(np[0]), 10);
			c.name = rnd() % 3 ? name : NULL;
			c.helo = name;
			c.auth = rnd() % 4 == 0;
			c.tls = (int)(rnd() % 2);
			c.verify = verifies[rnd() % 10];
			c.cipher_bits = (int)(rnd() % 300);
			c.auth_ssf = (int)(rnd() % 2 ? 0 : rnd() % 300);
			c.cert_issuer = rnd() % 2 ? from : NULL;
			c.cert_subject = rnd() % 2 ? to : NULL;
			c.cn_subject = rnd() % 2 ? name : NULL;

			pol_trace_init(&tr);
			r = pol_check_connect(s, &c, &tr);
			bad_result += !result_ok(&r);
			bad_trace += !trace_ok(&tr);
			pol_trace_init(&tr);
			r = pol_check_tls(s, &c, &tr);
			bad_result += !result_ok(&r);
			bad_trace += !trace_ok(&tr);
			pol_trace_init(&tr);
			r = pol_check_mail(s, &c, from, rnd() % 2 ? &tr : NULL);
			bad_result += !result_ok(&r);
			bad_trace += !trace_ok(&tr);
			pol_trace_init(&tr);
			r = pol_check_rcpt(s, &c, to, &tr);
			bad_result += !result_ok(&r);
			bad_trace += !trace_ok(&tr);
			bad_result += (unsigned)pol_srv_features(s, &c, &f, NULL) > 1;
			bad_result += (unsigned)pol_limit(s, &c, &l, NULL) > 1;
			bad_result += (unsigned)pol_require_tls(s, &c, NULL) > 1;
			lookups += 7;
		}
		pol_snapshot_free(s);
	}
	CHECK_EQ(bad_err, 0);
	CHECK_EQ(poisoned_built, 0);
	CHECK_EQ(bad_result, 0);
	CHECK_EQ(bad_trace, 0);
	CHECK(rejected > 0);            /* random input does hit the error paths */
	CHECK(built > 0);               /* and builds snapshots of what is valid */
	CHECK_EQ(lookups, 400 * 30 * 7);
}

/* ---- the stage driver (policy/stage.h) ----
 *
 * What mxgate's sessions (dataplane/smtp/gate.c) and `mxctl policy test`
 * share: the connect stages come in one order (Connect:, Limit: with
 * ClientRate:/ClientConn:, Srv_Features, GreetPause) and a Connect:
 * refusal ends the walk before Limit: is
 * looked up; the TLS facts make no decision of their own but are judged
 * at MAIL (TLS_Clt, Require_TLS) and RCPT (CERTISSUER/CERTSUBJECT); AUTH
 * feeds RCPT's relaying; each stage is the engine's own check.
 */

/* A client at addr with nothing else known. */
static struct pol_client stage_client(const char *addr)
{
	struct pol_client c;

	memset(&c, 0, sizeof(c));
	CHECK_EQ(pol_addr_parse(addr, &c.addr), 0);
	return c;
}

/* Walk the connect stages into out[] in the order they come; how many came. */
static unsigned stage_walk(const struct pol_snapshot *s, const struct pol_client *c, struct pol_trace *t,
			   struct pol_stage_out out[5])
{
	enum pol_stage next = POL_STAGE_CONNECT;
	unsigned n = 0;

	while (n < 5 && pol_walk_connect(&next, s, c, &out[n], t))
		n++;
	/* over means over: further calls run nothing */
	CHECK_EQ(pol_walk_connect(&next, s, c, &out[4], t), 0);
	return n;
}

/* Whether any trace line holds needle. */
static int stage_traced(const struct pol_trace *t, const char *needle)
{
	for (unsigned i = 0; i < t->n; i++)
		if (strstr(t->line[i], needle))
			return 1;
	return 0;
}

#define STAGE_CONNECT_MAP \
	"Connect:198.18.0.99\tREJECT\n" \
	"Connect:198.18.0.1\tOK\n" \
	"Limit:198.18.0\t\tconn=2 rate=10/min\n" \
	"ClientConn:198.18.0.1\t3\n" \
	"ClientRate:198.18.0.1\t20\n" \
	"Srv_Features:198.18.0.1\tS v l\n" \
	"GreetPause:198.18.0.1\t3000\n"

TEST(stage_names)
{
	for (unsigned i = 0; i < POL_STAGE_COUNT; i++)
		CHECK(pol_stage_names[i] != NULL && pol_stage_names[i][0]);
	/* mxgate's "NOQUEUE: reject: MAIL from ..." and "RCPT from ..." use these */
	CHECK_STR(pol_stage_names[POL_STAGE_MAIL], "MAIL");
	CHECK_STR(pol_stage_names[POL_STAGE_RCPT], "RCPT");
	/* mxctl's headings */
	CHECK_STR(pol_stage_names[POL_STAGE_LIMIT], "Limit");
	CHECK_STR(pol_stage_names[POL_STAGE_FEATURES], "Srv_Features");
	CHECK_STR(pol_stage_names[POL_STAGE_GREETPAUSE], "GreetPause");
}

TEST(stage_connect_order)
{
	struct pol_snapshot *s = snap_of(STAGE_CONNECT_MAP);
	struct pol_client c = stage_client("198.18.0.1");
	struct pol_stage_out o[5];
	static struct pol_trace t;

	if (!s)
		return;
	pol_trace_init(&t);
	CHECK_EQ(stage_walk(s, &c, &t, o), 4);
	CHECK_EQ(o[0].stage, POL_STAGE_CONNECT);
	CHECK_EQ(o[0].r.action, POL_OK);
	CHECK_EQ(o[0].r.tag, POL_TAG_CONNECT);
	CHECK_EQ(o[1].stage, POL_STAGE_LIMIT);
	CHECK_EQ(o[1].found, 1);
	CHECK_EQ(o[1].lim.conn, 2);
	CHECK_EQ(o[1].lim.rate, 10);
	CHECK_EQ(o[1].lim.per_s, 60);
	CHECK_EQ(o[1].r.action, POL_CONTINUE);
	CHECK_EQ(o[2].stage, POL_STAGE_FEATURES);
	CHECK_EQ(o[2].found, 1);
	CHECK(o[2].f.off & POL_SF_STARTTLS);
	CHECK(o[2].f.on & POL_SF_VERIFY);
	CHECK(o[2].f.on & POL_SF_AUTH_REQUIRED);
	CHECK_EQ(o[2].r.action, POL_CONTINUE);
	CHECK_EQ(o[3].stage, POL_STAGE_GREETPAUSE);     /* last: just before the banner */
	CHECK_EQ(o[3].found, 1);
	CHECK_EQ(o[3].pause_ms, 3000);
	CHECK_EQ(o[1].lim.client_conn, 3);              /* ClientConn: with Limit:, one stage */
	CHECK_EQ(o[1].lim.client_rate, 20);
	pol_snapshot_free(s);
}

TEST(stage_connect_refused_ends_the_walk)
{
	struct pol_snapshot *s = snap_of(STAGE_CONNECT_MAP);
	struct pol_client c = stage_client("198.18.0.99");
	struct pol_stage_out o[5];
	static struct pol_trace t;

	if (!s)
		return;
	pol_trace_init(&t);
	CHECK_EQ(stage_walk(s, &c, &t, o), 1);
	CHECK_EQ(o[0].stage, POL_STAGE_CONNECT);
	CHECK_EQ(o[0].r.action, POL_REJECT);
	CHECK_EQ(o[0].r.code, 550);
	CHECK(stage_traced(&t, "Connect:198.18.0.99"));
	/* no later stage is looked up for a refused client */
	CHECK(!stage_traced(&t, "Limit"));
	CHECK(!stage_traced(&t, "ClientConn"));
	CHECK(!stage_traced(&t, "Srv_Features"));
	CHECK(!stage_traced(&t, "GreetPause"));
	pol_snapshot_free(s);
}

TEST(stage_connect_defaults)
{
	struct pol_snapshot *s = snap_of(STAGE_CONNECT_MAP);
	struct pol_client c = stage_client("2001:2::1");
	struct pol_stage_out o[5];

	if (!s)
		return;
	/* no entry applies: every stage runs and lets the client on */
	CHECK_EQ(stage_walk(s, &c, NULL, o), 4);
	CHECK_EQ(o[0].r.action, POL_CONTINUE);
	CHECK_EQ(o[1].stage, POL_STAGE_LIMIT);
	CHECK_EQ(o[1].found, 0);
	CHECK_EQ(o[2].stage, POL_STAGE_FEATURES);
	CHECK_EQ(o[2].found, 0);
	CHECK_EQ(o[3].stage, POL_STAGE_GREETPAUSE);
	CHECK_EQ(o[3].found, 0);
	/* no map at all: the same four stages, nothing found */
	CHECK_EQ(stage_walk(NULL, &c, NULL, o), 4);
	CHECK_EQ(o[0].r.action, POL_CONTINUE);
	CHECK_EQ(o[1].found + o[2].found + o[3].found, 0);
	pol_snapshot_free(s);
}

#define STAGE_TLS_MAP \
	"TLS_Clt:198.18.0.1\tENCR:256\n" \
	"Require_TLS:198.18.0.2\tYES\n" \
	"To:lab.example\t\tRELAY\n" \
	"CERTIssuer:/CN=Trusted+20CA\tRELAY\n"

TEST(stage_tls_judged_at_mail_not_at_connect)
{
	struct pol_snapshot *s = snap_of(STAGE_TLS_MAP);
	struct pol_client c = stage_client("198.18.0.1");
	struct pol_stage_out o[5];
	static struct pol_trace t;

	if (!s)
		return;
	c.tls = 1;
	c.verify = "OK";
	c.cipher_bits = 128;
	/* the connect stages make no TLS decision */
	CHECK_EQ(stage_walk(s, &c, NULL, o), 4);
	for (unsigned i = 0; i < 4; i++)
		CHECK(o[i].r.action != POL_REJECT);
	/* MAIL does: encryption too weak */
	pol_trace_init(&t);
	CHECK_EQ(pol_stage_run(POL_STAGE_MAIL, s, &c, "a@client.example", &o[0], &t), 1);
	CHECK_EQ(o[0].stage, POL_STAGE_MAIL);
	CHECK_EQ(o[0].r.tag, POL_TAG_TLS_CLT);
	CHECK_EQ(o[0].r.code, 403);
	CHECK(stage_traced(&t, "TLS_Clt:198.18.0.1"));
	c.cipher_bits = 256;
	CHECK_EQ(pol_stage_run(POL_STAGE_MAIL, s, &c, "a@client.example", &o[0], NULL), 0);
	/* Require_TLS: MAIL without STARTTLS gets 530, with it goes on */
	c = stage_client("198.18.0.2");
	CHECK_EQ(pol_stage_run(POL_STAGE_MAIL, s, &c, "a@client.example", &o[0], NULL), 1);
	CHECK_EQ(o[0].r.code, 530);
	CHECK_EQ(o[0].r.tag, POL_TAG_REQUIRE_TLS);
	c.tls = 1;
	c.verify = "NO";
	CHECK_EQ(pol_stage_run(POL_STAGE_MAIL, s, &c, "a@client.example", &o[0], NULL), 0);
	pol_snapshot_free(s);
}

TEST(stage_rcpt_relaying)
{
	struct pol_snapshot *s = snap_of(STAGE_TLS_MAP);
	struct pol_client c = stage_client("198.19.0.1");
	struct pol_stage_out o;

	if (!s)
		return;
	CHECK_EQ(pol_stage_run(POL_STAGE_RCPT, s, &c, "b@lab.example", &o, NULL), 0);
	CHECK_EQ(o.r.action, POL_RELAY);
	CHECK_EQ(pol_stage_run(POL_STAGE_RCPT, s, &c, "x@other.example", &o, NULL), 1);
	CHECK_EQ(o.r.code, 554);
	CHECK_STR(o.r.text, "Relay access denied");
	/* a trusted certificate relays (CERTISSUER at RCPT) */
	c.tls = 1;
	c.verify = "OK";
	c.cert_issuer = "/CN=Trusted+20CA";
	CHECK_EQ(pol_stage_run(POL_STAGE_RCPT, s, &c, "x@other.example", &o, NULL), 0);
	CHECK_EQ(o.r.tag, POL_TAG_CERTISSUER);
	/* ... only when verified */
	c.verify = "FAIL";
	CHECK_EQ(pol_stage_run(POL_STAGE_RCPT, s, &c, "x@other.example", &o, NULL), 1);
	/* AUTH relays */
	c.auth = 1;
	CHECK_EQ(pol_stage_run(POL_STAGE_RCPT, s, &c, "x@other.example", &o, NULL), 0);
	CHECK_EQ(o.r.tag, POL_TAG_AUTH);
	pol_snapshot_free(s);
}

/* Each stage is the engine's own check: the same decision, rule and trace. */
TEST(stage_runs_the_engines_checks)
{
	struct pol_snapshot *s = snap_of(STAGE_CONNECT_MAP STAGE_TLS_MAP "From:spammer@bad.example\tREJECT\n");
	struct pol_client c = stage_client("198.18.0.1");
	static struct pol_trace t1, t2;
	struct pol_stage_out o;
	struct pol_result r;
	struct pol_limits l;
	struct pol_features f;
	const char *const args[] = { "spammer@bad.example", "a@b.example", "<>", "b@lab.example", "x@y.example" };

	if (!s)
		return;
	c.tls = 1;
	c.verify = "OK";
	c.cipher_bits = 256;
	for (unsigned i = 0; i < sizeof(args) / sizeof(args[0]); i++) {
		pol_trace_init(&t1);
		pol_trace_init(&t2);
		pol_stage_run(POL_STAGE_MAIL, s, &c, args[i], &o, &t1);
		r = pol_check_mail(s, &c, args[i], &t2);
		CHECK(memcmp(&o.r, &r, sizeof(r)) == 0);
		CHECK(t1.n == t2.n && memcmp(t1.line, t2.line, sizeof(t1.line[0]) * t1.n) == 0);
		pol_stage_run(POL_STAGE_RCPT, s, &c, args[i], &o, NULL);
		r = pol_check_rcpt(s, &c, args[i], NULL);
		CHECK(memcmp(&o.r, &r, sizeof(r)) == 0);
	}
	pol_stage_run(POL_STAGE_CONNECT, s, &c, NULL, &o, NULL);
	r = pol_check_connect(s, &c, NULL);
	CHECK(memcmp(&o.r, &r, sizeof(r)) == 0);
	CHECK_EQ(pol_stage_run(POL_STAGE_LIMIT, s, &c, NULL, &o, NULL), 0);
	CHECK_EQ(o.found, pol_limit(s, &c, &l, NULL));
	CHECK(memcmp(&o.lim, &l, sizeof(l)) == 0);
	CHECK_EQ(pol_stage_run(POL_STAGE_FEATURES, s, &c, NULL, &o, NULL), 0);
	CHECK_EQ(o.found, pol_srv_features(s, &c, &f, NULL));
	CHECK(memcmp(&o.f, &f, sizeof(f)) == 0);
	pol_snapshot_free(s);
}

/* Two layers (access_file under the control plane's map): the upper one wins per key. */
TEST(layers)
{
	static const char lower[] =
		"Connect:198.18.0.0/24 REJECT\n"     /* replaced by the same prefix written otherwise */
		"Connect:198.18.5.1 OK\n"            /* untouched */
		"To:LAB.example RELAY\n"             /* replaced, key in another case */
		"From:spam.example REJECT\n";        /* untouched */
	static const char upper[] =
		"Connect:198.18.0 OK\n"
		"to:lab.example REJECT\n"
		"To:new.example RELAY\n";
	struct pol_builder *b = pol_builder_new();
	struct pol_snapshot *s;
	struct pol_client c = client("198.18.0.9", NULL);
	struct pol_result r;

	CHECK_EQ(pol_parse(b, "file", lower, strlen(lower), err, sizeof(err)), 0);
	pol_layer(b);
	CHECK_EQ(pol_parse(b, "control", upper, strlen(upper), err, sizeof(err)), 0);
	s = pol_build(b, err, sizeof(err));
	CHECK(s != NULL);
	if (s == NULL)
		goto out;
	CHECK_EQ(pol_snapshot_count(s), 5);             /* 4 + 3, two replaced */
	r = pol_check_connect(s, &c, NULL);
	CHECK_STR(fmt(&r), "OK");
	c = client("198.18.5.1", NULL);
	r = pol_check_connect(s, &c, NULL);
	CHECK_STR(fmt(&r), "OK");
	r = pol_check_mail(s, &c, "x@spam.example", NULL);
	CHECK_EQ(r.action, POL_REJECT);
	c = client("198.18.7.7", NULL);
	r = pol_check_rcpt(s, &c, "x@lab.example", NULL);
	CHECK_EQ(r.action, POL_REJECT);
	r = pol_check_rcpt(s, &c, "x@new.example", NULL);
	CHECK_EQ(r.action, POL_RELAY);
	pol_snapshot_free(s);
	/* within one layer the same key twice is still refused */
	CHECK_EQ(pol_parse(b, "control", "TO:NEW.example OK\n", 18, err, sizeof(err)), 0);
	s = pol_build(b, err, sizeof(err));
	CHECK(s == NULL);
	CHECK(strstr(err, "same key") != NULL);
	pol_snapshot_free(s);
out:
	pol_builder_free(b);
}

/* ---- the server side: Try_TLS, TLS_Srv, AuthInfo (mxgate towards its backends) ---- */

/* A backend after STARTTLS: {verify} and {cipher_bits} of its certificate. */
static struct pol_client backend(const char *addr, const char *name, const char *verify, int bits)
{
	struct pol_client c = client(addr, name);

	c.tls = verify != NULL;
	c.verify = verify;
	c.cipher_bits = bits;
	return c;
}

/* cf/README: "Try_TLS:broken.server NO" stops STARTTLS towards that server; name, address, default. */
static void try_tls(void)
{
	struct pol_snapshot *s = snap_of("Try_TLS:broken.lab.example NO\n"
					 "Try_TLS:198.18.1 NO\n"
					 "Try_TLS:198.18.1.5 YES\n"
					 "Try_TLS:[198.18.2.9] NO\n");
	struct pol_client c;

	CHECK(s != NULL);
	c = client("198.18.3.1", "broken.lab.example");
	CHECK_EQ(pol_try_tls(s, &c, NULL), 0);
	c = client("198.18.3.1", "mx.broken.lab.example");   /* parent domains are walked */
	CHECK_EQ(pol_try_tls(s, &c, NULL), 0);
	c = client("198.18.3.1", "good.lab.example");
	CHECK_EQ(pol_try_tls(s, &c, NULL), 1);
	c = client("198.18.1.7", NULL);                      /* prefix */
	CHECK_EQ(pol_try_tls(s, &c, NULL), 0);
	c = client("198.18.1.5", NULL);                      /* a longer prefix says YES */
	CHECK_EQ(pol_try_tls(s, &c, NULL), 1);
	c = client("198.18.2.9", NULL);                      /* [literal] of an unnamed backend */
	CHECK_EQ(pol_try_tls(s, &c, NULL), 0);
	CHECK_EQ(pol_try_tls(NULL, &c, NULL), 1);            /* no map: try */
	pol_snapshot_free(s);

	s = snap_of("Try_TLS: NO\nTry_TLS:secure.lab.example YES\n");
	CHECK(s != NULL);
	c = client("198.18.1.1", NULL);
	pol_trace_init(&tr);
	CHECK_EQ(pol_try_tls(s, &c, &tr), 0);                /* the bare default */
	CHECK(tr.n >= 2);
	CHECK_STR(tr.line[tr.n - 1], "Try_TLS: -> found NO");
	c = client("198.18.1.1", "secure.lab.example");
	CHECK_EQ(pol_try_tls(s, &c, NULL), 1);
	pol_snapshot_free(s);
	expect_add_error("Try_TLS:x.example", "MAYBE", "Try_TLS:x.example: unknown value 'MAYBE' (Try_TLS "
			 "takes NO, or YES as an exception)");
	expect_add_error("Try_TLS:u@x.example", "NO", "Try_TLS:u@x.example: a Try_TLS: key is a host name "
			 "or an address, not a mailbox");
}

/* cf/README's TLS_Srv examples: "TLS_Srv:secure.example.com ENCR:112", VERIFY, VERIFY:bits, PERM+. */
static void tls_srv(void)
{
	struct pol_snapshot *s = snap_of("TLS_Srv:secure.lab.example ENCR:112\n"
					 "TLS_Srv:198.18.1.1 VERIFY\n"
					 "TLS_Srv:198.18.1.2 VERIFY:256\n"
					 "TLS_Srv:198.18.1.3 PERM+VERIFY\n"
					 "TLS_Srv:198.18.1.4 VERIFY+CN\n"
					 "TLS_Srv:198.18.1.5 OK\n");
	struct pol_client c;
	struct pol_result r;

	CHECK(s != NULL);
	c = backend("198.18.9.9", "secure.lab.example", "NOT", 128);  /* ENCR: no verify needed */
	r = pol_check_tls_srv(s, &c, NULL);
	CHECK_STR(fmt(&r), "OK");
	CHECK_EQ(r.tag, POL_TAG_TLS_SRV);
	c = backend("198.18.9.9", "secure.lab.example", "OK", 56);
	r = pol_check_tls_srv(s, &c, NULL);
	CHECK_STR(fmt(&r), "403 4.7.0 encryption too weak 56 less than 112");
	c = backend("198.18.9.9", "secure.lab.example", NULL, 0);      /* no STARTTLS at all */
	r = pol_check_tls_srv(s, &c, NULL);
	CHECK_STR(fmt(&r), "403 4.7.0 encryption too weak 0 less than 112");
	c = backend("198.18.1.1", NULL, "OK", 128);
	r = pol_check_tls_srv(s, &c, NULL);
	CHECK_STR(fmt(&r), "OK");
	CHECK_STR(r.rule, "TLS_Srv:198.18.1.1 VERIFY");
	c = backend("198.18.1.1", NULL, "FAIL", 256);
	r = pol_check_tls_srv(s, &c, NULL);
	CHECK_STR(fmt(&r), "403 4.7.0 authentication failed");
	c = backend("198.18.1.1", NULL, NULL, 0);
	r = pol_check_tls_srv(s, &c, NULL);
	CHECK_STR(fmt(&r), "403 4.7.0 other side does not support STARTTLS");
	c = backend("198.18.1.2", NULL, "OK", 128);
	r = pol_check_tls_srv(s, &c, NULL);
	CHECK_STR(fmt(&r), "403 4.7.0 encryption too weak 128 less than 256");
	c = backend("198.18.1.3", NULL, "FAIL", 256);
	r = pol_check_tls_srv(s, &c, NULL);
	CHECK_STR(fmt(&r), "503 5.7.0 authentication failed");
	c = backend("198.18.1.4", "mx.lab.example", "OK", 256);        /* +CN: the configured name */
	c.cn_subject = "other.lab.example";
	r = pol_check_tls_srv(s, &c, NULL);
	CHECK_STR(fmt(&r), "403 4.7.0 CN other.lab.example does not match mx.lab.example");
	c.cn_subject = "mx.lab.example";
	r = pol_check_tls_srv(s, &c, NULL);
	CHECK_STR(fmt(&r), "OK");
	c = backend("198.18.1.5", NULL, "FAIL", 0);
	r = pol_check_tls_srv(s, &c, NULL);
	CHECK_EQ(r.action, POL_OK);
	c = backend("198.18.7.7", NULL, "FAIL", 0);                    /* no entry: no requirement */
	r = pol_check_tls_srv(s, &c, NULL);
	CHECK_EQ(r.action, POL_CONTINUE);
	pol_snapshot_free(s);
	expect_add_error("TLS_Srv:x.example", "ENCR", "TLS_Srv:x.example: unknown value 'ENCR' (TLS_Srv "
			 "takes VERIFY, VERIFY:bits or ENCR:bits, after TEMP+ or PERM+ if wanted, or OK)");
}

/* cf/README: AuthInfo:host "U:user" "I:authid" "P:secret" "M:mechs"; the password never shows. */
static void authinfo(void)
{
	struct pol_snapshot *s = snap_of("AuthInfo:backend.lab.example \"U:relay\" \"P:s3cret pass\"\n"
					 "AuthInfo:198.18.1.2 \"U:zid\" \"I:cid\" \"P=c2VjcmV0\" \"M:CRAM-MD5 login plain\"\n"
					 "AuthInfo: \"I:dflt\" \"P:x\" \"M:LOGIN\"\n"
					 "AuthInfo:198.18.1.9 SKIP\n");
	struct pol_authinfo a;
	struct pol_client c;

	CHECK(s != NULL);
	c = client("198.18.1.1", "backend.lab.example");
	pol_trace_init(&tr);
	CHECK_EQ(pol_authinfo(s, &c, &a, &tr), 1);
	CHECK_STR(a.user, "relay");
	CHECK_STR(a.authid, "");
	CHECK_STR(a.password, "s3cret pass");
	CHECK_STR(a.mechs, "PLAIN LOGIN");                 /* the default */
	CHECK_STR(a.rule, "AuthInfo:backend.lab.example \"U:relay\" \"P:****\"");
	for (unsigned i = 0; i < tr.n; i++)
		CHECK(strstr(tr.line[i], "s3cret") == NULL);
	CHECK(tr.n >= 1 && strstr(tr.line[tr.n - 1], "\"P:****\"") != NULL);
	c = client("198.18.1.2", NULL);
	CHECK_EQ(pol_authinfo(s, &c, &a, NULL), 1);
	CHECK_STR(a.user, "zid");
	CHECK_STR(a.authid, "cid");
	CHECK_STR(a.password, "secret");                   /* P= is base64 */
	CHECK_STR(a.mechs, "LOGIN PLAIN");                 /* the order given, the ones mxgate speaks */
	c = client("198.18.1.3", NULL);
	CHECK_EQ(pol_authinfo(s, &c, &a, NULL), 1);        /* the bare default */
	CHECK_STR(a.authid, "dflt");
	CHECK_STR(a.mechs, "LOGIN");
	c = client("198.18.1.9", NULL);
	CHECK_EQ(pol_authinfo(s, &c, &a, NULL), 1);        /* SKIP ends the address walk, the default applies */
	CHECK_STR(a.authid, "dflt");
	CHECK_EQ(pol_authinfo(NULL, &c, &a, NULL), 0);
	CHECK_STR(a.password, "");
	pol_snapshot_free(s);

	/* no error message quotes the value (it holds the password) */
	expect_add_error("AuthInfo:x.example", "U:u P:pw", "AuthInfo:x.example: AuthInfo items are "
			 "double-quoted: \"U:user\" \"P:password\" [\"I:authid\"] [\"M:PLAIN LOGIN\"]");
	expect_add_error("AuthInfo:x.example", "\"U:u\" \"P:pw", "AuthInfo:x.example: AuthInfo items are "
			 "double-quoted: \"U:user\" \"P:password\" [\"I:authid\"] [\"M:PLAIN LOGIN\"]");
	expect_add_error("AuthInfo:x.example", "\"U:u\"", "AuthInfo:x.example: AuthInfo needs \"U:user\" "
			 "(or \"I:authid\") and \"P:password\"");
	expect_add_error("AuthInfo:x.example", "\"P:pw\"", "AuthInfo:x.example: AuthInfo needs \"U:user\" "
			 "(or \"I:authid\") and \"P:password\"");
	expect_add_error("AuthInfo:x.example", "\"U:u\" \"P:pw\" \"R:realm\"", "AuthInfo:x.example: "
			 "AuthInfo \"R:\" (a realm) is DIGEST-MD5's: mxgate authenticates with PLAIN or LOGIN");
	expect_add_error("AuthInfo:x.example", "\"U:u\" \"P:pw\" \"M:DIGEST-MD5 CRAM-MD5\"",
			 "AuthInfo:x.example: AuthInfo \"M:\" lists neither PLAIN nor LOGIN, the mechanisms "
			 "mxgate speaks");
	expect_add_error("AuthInfo:x.example", "\"U:u\" \"P=c2VjcmV0!\"", "AuthInfo:x.example: AuthInfo "
			 "\"P=\" is not base64 of a password");
	expect_add_error("AuthInfo:x.example", "\"U:u\" \"P:pw\" \"U:v\"", "AuthInfo:x.example: AuthInfo "
			 "item \"U\" given twice");
	expect_add_error("AuthInfo:x.example", "\"U:u\" \"X:pw\"", "AuthInfo:x.example: unknown AuthInfo "
			 "item (\"U:\", \"I:\", \"P:\", \"P=\" or \"M:\")");
	expect_add_error("AuthInfo:u@x.example", "\"U:u\" \"P:pw\"", "AuthInfo:u@x.example: a AuthInfo: key "
			 "is a host name or an address, not a mailbox");
}

int main(void)
{
	RUN(addresses);
	RUN(connect);
	RUN(connect_trace);
	RUN(trace_bounds);
	RUN(tls);
	RUN(tls_order_and_defaults);
	RUN(mail);
	RUN(rcpt);
	RUN(rcpt_resolve_temp);
	RUN(quoted_local_parts);
	RUN(rcpt_routing);
	RUN(untagged);
	RUN(srv_features);
	RUN(limit);
	RUN(client_rate);
	RUN(client_conn);
	RUN(greet_pause);
	RUN(error_forms);
	RUN(malformed);
	RUN(parse_errors);
	RUN(roundtrip);
	RUN(random_roundtrip);
	RUN(random_input);
	RUN(stage_names);
	RUN(stage_connect_order);
	RUN(stage_connect_refused_ends_the_walk);
	RUN(stage_connect_defaults);
	RUN(stage_tls_judged_at_mail_not_at_connect);
	RUN(stage_rcpt_relaying);
	RUN(stage_runs_the_engines_checks);
	RUN(layers);
	RUN(try_tls);
	RUN(tls_srv);
	RUN(authinfo);
	return t_done("test_policy");
}
