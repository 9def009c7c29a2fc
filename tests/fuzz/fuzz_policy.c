/*
 * fuzz_policy.c - libFuzzer target for the access-map parser and lookups
 * (policy/policy.c).
 *
 * Input: access-file text; optionally, after a NUL byte, query lines
 * "address name from to" (any field may be "-"). Queries are also made
 * from the map's own keys (each key after its tag, as a client address,
 * a client name, a sender and a recipient), so lookups hit entries.
 *
 * Asserted:
 *  - a refusal always says why, and names the map ("fuzz:LINE: ...");
 *  - parsing the lines in reverse order accepts exactly the same maps and
 *    every lookup of every stage gives the same result (an access map is a
 *    map: order never matters, duplicates are refused whatever the order);
 *  - the map laid over itself (pol_layer()) is the same map: refused
 *    alike, half the builder's entries, every lookup the same;
 *  - the snapshot has the builder's entry count and keeps nothing of the
 *    builder or the text (both are freed before the lookups; ASan checks);
 *  - results are sane: a reject has a 4xx/5xx code and an enhanced code of
 *    the same class; strings are terminated within their arrays; a trace
 *    keeps at most POL_TRACE_LINES lines;
 *  - pol_addr_parse/pol_addr_format round trip; pol_dn_quote never writes
 *    a byte it should have quoted, never ends in a cut "+X", and fits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/strutil.h"
#include "policy/policy.h"
#include "fuzz.h"

#define QUERIES_MAX 48
#define FIELD_MAX   300

/* One query: what a session would ask about. */
struct query {
	char addr[FIELD_MAX], name[FIELD_MAX], from[FIELD_MAX], to[FIELD_MAX];
};

static struct query q[QUERIES_MAX];
static unsigned nq;

/* Copy n bytes of s as a string into a FIELD_MAX field ("-" = empty). */
static void field(char *out, const char *s, size_t n)
{
	if (n >= FIELD_MAX)
		n = FIELD_MAX - 1;
	memcpy(out, s, n);
	out[n] = '\0';
	if (strcmp(out, "-") == 0)
		out[0] = '\0';
}

/* Queries from the keys of the map text (the part after the tag). */
static void queries_from_map(const char *t, size_t len)
{
	const char *e = t + len;

	while (t < e && nq < QUERIES_MAX) {
		const char *nl = memchr(t, '\n', (size_t)(e - t)), *k = t, *ke, *colon;
		struct query *x = &q[nq];

		if (nl == NULL)
			nl = e;
		while (k < nl && (*k == ' ' || *k == '\t'))
			k++;
		ke = k;
		while (ke < nl && *ke != ' ' && *ke != '\t')
			ke++;
		colon = memchr(k, ':', (size_t)(ke - k));
		/* "Connect:1.2.3.4" -> "1.2.3.4"; an IPv6 key keeps its colons */
		if (colon && colon - k < 13 && memchr(k, '.', (size_t)(colon - k)) == NULL &&
		    !(colon - k == 4 && strncasecmp(k, "IPv6", 4) == 0))
			k = colon + 1;
		if (ke > k) {
			field(x->addr, k, (size_t)(ke - k));
			field(x->name, k, (size_t)(ke - k));
			field(x->from, k, (size_t)(ke - k));
			snprintf(x->to, sizeof(x->to), "user@%s", x->from[0] == '@' ? x->from + 1 : x->from);
			if (strchr(x->from, '@'))
				snprintf(x->to, sizeof(x->to), "%s", x->from);
			nq++;
		}
		t = nl + 1;
	}
}

/* Queries written after the NUL: "addr name from to" per line. */
static void queries_from_text(const char *t, size_t len)
{
	const char *e = t + len;

	while (t < e && nq < QUERIES_MAX) {
		const char *nl = memchr(t, '\n', (size_t)(e - t)), *f[4] = { t, t, t, t }, *fe[4];
		unsigned i = 0;

		if (nl == NULL)
			nl = e;
		for (const char *c = t; i < 4; i++) {
			while (c < nl && *c == ' ')
				c++;
			f[i] = c;
			while (c < nl && *c != ' ')
				c++;
			fe[i] = c;
		}
		field(q[nq].addr, f[0], (size_t)(fe[0] - f[0]));
		field(q[nq].name, f[1], (size_t)(fe[1] - f[1]));
		field(q[nq].from, f[2], (size_t)(fe[2] - f[2]));
		field(q[nq].to, f[3], (size_t)(fe[3] - f[3]));
		nq++;
		t = nl + 1;
	}
}

/*
 * Build a snapshot from text (rev 1: lines reversed; rev 2: text laid over
 * itself with pol_layer()): NULL and err when refused.
 */
static struct pol_snapshot *build(const char *text, size_t len, int rev, char *err, size_t errlen)
{
	struct pol_builder *b = pol_builder_new();
	struct pol_snapshot *s = NULL;
	char *t = NULL;
	int rc;

	FUZZ_ASSERT(b != NULL);
	err[0] = '\0';
	if (rev == 2) {
		rc = pol_parse(b, "fuzz", text, len, err, errlen);
		pol_layer(b);
		if (rc == 0)
			rc = pol_parse(b, "fuzz", text, len, err, errlen);
	} else if (rev) {
		/* the same lines, last first; each line keeps its own text */
		size_t o = 0, end = len;

		t = malloc(len + 2);
		FUZZ_ASSERT(t != NULL);
		while (end > 0) {
			size_t start = end - 1;

			while (start > 0 && text[start - 1] != '\n')
				start--;
			memcpy(t + o, text + start, end - start);
			o += end - start;
			if (end - start > 0 && t[o - 1] != '\n')
				t[o++] = '\n';
			end = start;
		}
		rc = pol_parse(b, "fuzz", t, o, err, errlen);
	} else {
		rc = pol_parse(b, "fuzz", text, len, err, errlen);
	}
	if (rc == 0) {
		s = pol_build(b, err, errlen);
		if (s != NULL)
			FUZZ_ASSERT(pol_snapshot_count(s) * (rev == 2 ? 2 : 1) == pol_builder_count(b));
	}
	if (s == NULL) {
		FUZZ_ASSERT(err[0] != '\0' && memchr(err, '\0', errlen) != NULL);
		FUZZ_ASSERT(rc == 0 || strncmp(err, "fuzz:", 5) == 0);
	}
	pol_builder_free(b);
	free(t);
	return s;
}

/* A result must be sane; then it is folded into a digest line for comparison. */
static void check_result(const struct pol_result *r, char *out, size_t outlen)
{
	char f[POL_TEXT_MAX + 64];

	FUZZ_ASSERT(r->tag >= 0 && r->tag < POL_TAG_COUNT);
	FUZZ_ASSERT(r->action >= POL_CONTINUE && r->action <= POL_REJECT);
	FUZZ_ASSERT(memchr(r->enh, '\0', sizeof(r->enh)) && memchr(r->text, '\0', sizeof(r->text)) &&
		    memchr(r->rule, '\0', sizeof(r->rule)));
	if (r->action == POL_REJECT) {
		FUZZ_ASSERT(r->code >= 400 && r->code <= 599);
		FUZZ_ASSERT(r->enh[0] == '0' + r->code / 100 && r->enh[1] == '.');
	}
	pol_result_format(r, f, sizeof(f));
	FUZZ_ASSERT(memchr(f, '\0', sizeof(f)) != NULL);
	snprintf(out, outlen, "%d %d %d %s|%s|%s|%s\n", r->tag, r->action, r->code, r->enh, r->text,
		 r->rule, f);
}

/* Every stage for every query; the digest of all answers into buf. */
static size_t lookups(const struct pol_snapshot *s, char *buf, size_t cap)
{
	static const char *const verify[] = { "OK", "NO", "FAIL", "NONE", "TEMP", "PROTOCOL", "SOFTWARE", NULL };
	size_t o = 0;
	unsigned i;

	for (i = 0; i < nq; i++) {
		struct pol_client c;
		struct pol_trace t;
		struct pol_result r[4];
		struct pol_features f;
		struct pol_limits l;
		char line[1024];
		int k, sf, lim, rt, gp;
		unsigned pause;

		memset(&c, 0, sizeof(c));
		if (pol_addr_parse(q[i].addr, &c.addr) != 0)
			pol_addr_parse(i & 1 ? "2001:2::1" : "198.18.0.1", &c.addr);
		c.name = q[i].name[0] ? q[i].name : NULL;
		c.tls = i & 1;
		c.verify = verify[i % 8];
		c.cipher_bits = (int)(i * 37 % 300);
		c.auth = (i % 5) == 0;
		c.cert_subject = q[i].from;
		c.cert_issuer = q[i].name;
		c.cn_subject = q[i].name;
		pol_trace_init(&t);
		r[0] = pol_check_connect(s, &c, &t);
		r[1] = pol_check_tls(s, &c, &t);
		r[2] = pol_check_mail(s, &c, q[i].from, &t);
		r[3] = pol_check_rcpt(s, &c, q[i].to, &t);
		sf = pol_srv_features(s, &c, &f, &t);
		lim = pol_limit(s, &c, &l, &t);
		rt = pol_require_tls(s, &c, &t);
		gp = pol_greet_pause(s, &c, &pause, &t);
		FUZZ_ASSERT(gp == 1 || pause == 0);
		FUZZ_ASSERT(pause <= POL_GREET_PAUSE_MAX_MS);
		FUZZ_ASSERT(t.n <= POL_TRACE_LINES);
		for (k = 0; k < (int)t.n; k++)
			FUZZ_ASSERT(memchr(t.line[k], '\0', POL_TRACE_WIDTH) != NULL);
		FUZZ_ASSERT(sf == 0 || sf == 1);
		FUZZ_ASSERT(sf == 1 || (f.on == 0 && f.off == 0));
		FUZZ_ASSERT(lim == 1 || (l.conn == 0 && l.rate == 0 && l.client_rate == 0 && l.client_conn == 0));
		FUZZ_ASSERT(lim == 0 || l.rate == 0 || l.per_s == 1 || l.per_s == 60 || l.per_s == 3600);
		FUZZ_ASSERT(rt == 0 || rt == 1);
		for (k = 0; k < 4; k++) {
			size_t n;

			check_result(&r[k], line, sizeof(line));
			n = strlen(line);
			if (n > cap - o)
				n = cap - o;
			memcpy(buf + o, line, n);
			o += n;
		}
		o += (size_t)snprintf(buf + o, cap - o, "%d %x %x %d %u %u %u %u %u %d %d %u\n", sf, f.on, f.off,
				       lim, l.conn, l.rate, l.per_s, l.client_rate, l.client_conn, rt, gp, pause);
		if (o >= cap)
			o = cap - 1;
	}
	return o;
}

/* Address text round trip and DN quoting on each query's fields. */
static void helpers(void)
{
	unsigned i;

	for (i = 0; i < nq; i++) {
		struct pol_addr a, b;
		char txt[80], dn[FIELD_MAX * 3 + 1];
		size_t n, k;

		memset(&a, 0, sizeof(a));
		if (pol_addr_parse(q[i].addr, &a) == 0) {
			FUZZ_ASSERT(a.family == 4 || a.family == 6);
			pol_addr_format(&a, txt, sizeof(txt));
			memset(&b, 0, sizeof(b));
			FUZZ_ASSERT(pol_addr_parse(txt, &b) == 0);
			FUZZ_ASSERT(a.family == b.family && memcmp(a.a, b.a, a.family == 4 ? 4 : 16) == 0);
		}
		n = str_dn_quote(q[i].name, dn, sizeof(dn));
		FUZZ_ASSERT(n == strlen(dn));
		for (k = 0; k < n; k++) {
			unsigned char ch = (unsigned char)dn[k];

			FUZZ_ASSERT(ch > 0x20 && ch < 0x7f && !strchr("<>()\"", ch));
			if (ch == '+')          /* only as "+XX" (upper-case hex) */
				FUZZ_ASSERT(k + 2 < n && strchr("0123456789ABCDEF", dn[k + 1]) &&
					    strchr("0123456789ABCDEF", dn[k + 2]));
		}
		/* a small buffer: terminated, never a cut "+X" */
		n = str_dn_quote(q[i].name, dn, 8);
		FUZZ_ASSERT(n < 8 && n == strlen(dn));
		FUZZ_ASSERT(!(n >= 1 && dn[n - 1] == '+') && !(n >= 2 && dn[n - 2] == '+'));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input: see the file comment. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *nul = memchr(data, '\0', size);
	size_t tlen = nul ? (size_t)(nul - text) : size;
	static char d1[1 << 17], d2[1 << 17];
	char err[1024], err2[1024];
	struct pol_snapshot *s1, *s2, *s3;
	size_t n1, n2;

	nq = 0;
	if (nul)
		queries_from_text(nul + 1, size - tlen - 1);
	queries_from_map(text, tlen);
	s1 = build(text, tlen, 0, err, sizeof(err));
	s2 = build(text, tlen, 1, err2, sizeof(err2));
	FUZZ_ASSERT((s1 == NULL) == (s2 == NULL));
	helpers();
	/* no snapshot (a refused map) is the empty policy: lookups still answer */
	n1 = lookups(s1, d1, sizeof(d1));
	n2 = lookups(s2, d2, sizeof(d2));
	FUZZ_ASSERT(n1 == n2 && memcmp(d1, d2, n1) == 0);
	pol_snapshot_free(s2);
	s3 = build(text, tlen, 2, err2, sizeof(err2));
	FUZZ_ASSERT((s1 == NULL) == (s3 == NULL));
	n2 = lookups(s3, d2, sizeof(d2));
	FUZZ_ASSERT(n1 == n2 && memcmp(d1, d2, n1) == 0);
	pol_snapshot_free(s1);
	pol_snapshot_free(s3);
	return 0;
}
