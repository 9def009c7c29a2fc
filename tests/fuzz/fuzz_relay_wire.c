/*
 * fuzz_relay_wire.c - libFuzzer target for what mxgate writes to a backend
 * (dataplane/smtp/relay_wire.c): xtext, the XCLIENT command, the PROXY v2
 * header and the Received header. Output buffers are allocated at the
 * exact size asked (ASan sees a write past them).
 *
 * Input: a selector byte, then fields read with the fuzz.h reader: client
 * and mxgate addresses (16 raw bytes each, written as text with inet_ntop
 * as mxgate does), ports, flags, and strings (HELO name, AUTH user, TLS
 * version, cipher, {verify}, certificate CN, recipient) of fuzzer-chosen
 * lengths, NUL-terminated; an output buffer size.
 *
 * Asserted:
 *  - xtext: only printable bytes other than '+' and '=', or "+XX" in upper
 *    case; decoding gives back a prefix of the input (all of it when the
 *    output was not cut), cut only when fewer than 5 bytes of room remain;
 *  - XCLIENT: NUL-terminated within the buffer, the length returned is its
 *    length; no CR or LF anywhere but its final CRLF; HELO= and LOGIN=
 *    decode to (a prefix of) the client's HELO name and user; ADDR= and
 *    PORT= are the client's; never cut: empty (0) only when it does not fit;
 *  - PROXY v2: the header parses back field by field (signature, version
 *    and command, family, length, addresses, ports; under TLS one
 *    PP2_TYPE_SSL TLV with the client flags, verify, version, cipher and
 *    the CN's first 64 bytes, nothing after it), and 0 is returned exactly
 *    when it cannot fit (a model of its size);
 *  - Received: 0 or a header of the returned length that ends in CRLF,
 *    whose line breaks are all CRLF followed by a tab, naming the client's
 *    address and mxgate's host name.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dataplane/smtp/relay_wire.h"
#include "fuzz.h"

/* A NUL-terminated string of up to max bytes from the input (NUL bytes inside end it early). */
static char *fuzz_str(struct fuzz_in *in, size_t max, int no_crlf)
{
	size_t want = fuzz_u16(in) % (max + 1), got, i;
	const uint8_t *p = fuzz_bytes(in, want, &got);
	char *s = malloc(got + 1);

	FUZZ_ASSERT(s != NULL);
	memcpy(s, p, got);
	s[got] = '\0';
	if (no_crlf)            /* what the SMTP engine lets through: no CR or LF in a command's argument */
		for (i = 0; i < got; i++)
			if (s[i] == '\r' || s[i] == '\n')
				s[i] = ' ';
	return s;
}

/* Value of a hex digit (upper case only), or -1. */
static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decode xtext s[0..n) into out; check every byte on the way. Returns the decoded length. */
static size_t xtext_decode(const char *s, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		FUZZ_ASSERT(c >= 33 && c <= 126 && c != '=');
		if (c == '+') {
			FUZZ_ASSERT(i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0);
			out[o++] = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
			i += 2;
		} else {
			out[o++] = (char)c;
		}
	}
	return o;
}

/* xtext of s into a buffer of exactly outlen bytes. */
static void check_xtext(const char *s, size_t outlen)
{
	char *out = malloc(outlen), *dec;
	size_t n = rw_xtext(s, out, outlen), d, sl = strlen(s);

	FUZZ_ASSERT(n < outlen && out[n] == '\0' && strlen(out) == n);
	dec = malloc(n + 1);
	d = xtext_decode(out, n, dec);
	FUZZ_ASSERT(d <= sl && memcmp(dec, s, d) == 0);
	if (d < sl)     /* cut: the next byte needs up to 3 more, and room was short */
		FUZZ_ASSERT(n + 4 >= outlen);
	free(dec);
	free(out);
}

/* The value of "KEY=" in an XCLIENT line (up to the next space), or NULL. */
static const char *field(const char *line, const char *key, size_t *len)
{
	const char *p = strstr(line, key), *e;

	if (p == NULL)
		return NULL;
	p += strlen(key);
	e = strpbrk(p, " \r");
	*len = e ? (size_t)(e - p) : strlen(p);
	return p;
}

/* XCLIENT for fuzzed client facts, into exactly outlen bytes. */
static void check_xclient(struct fuzz_in *in, const char *addr, uint16_t port)
{
	uint8_t fl = fuzz_u8(in);
	char *helo = fuzz_str(in, 600, 1), *login = fuzz_str(in, 300, 0), *out, *dec;
	size_t outlen = fl & 1 ? RW_XCLIENT_MAX : 1 + fuzz_u16(in) % 1400, n, vl, d;
	struct rw_xclient_info x = { .addr = addr, .port = port, .helo = helo, .ehlo = (fl >> 1) & 1,
				     .login = (fl >> 2) & 1 ? login : NULL,
				     .attrs = RW_XA_ALL & ~((fl >> 3) & 1 ? 0 : RW_XA_LOGIN) };
	const char *v, *cr;
	char want[64];
	int cut;

	out = malloc(outlen);
	n = rw_xclient(&x, out, outlen);
	FUZZ_ASSERT(n < outlen && out[n] == '\0' && strlen(out) == n);
	/* never a cut command: nothing (0) only when it does not fit the caller's buffer */
	cut = n == 0;
	FUZZ_ASSERT(!cut || outlen < RW_XCLIENT_MAX);
	/* no CR or LF but the final CRLF */
	cr = strpbrk(out, "\r\n");
	FUZZ_ASSERT(cut || (n >= 2 && cr == out + n - 2 && out[n - 1] == '\n'));
	FUZZ_ASSERT(strncmp(out, "XCLIENT ADDR=", n < 13 ? n : 13) == 0);
	if (!cut) {
		snprintf(want, sizeof(want), "%s%s PORT=%u ", strchr(addr, ':') ? "IPV6:" : "", addr, port);
		FUZZ_ASSERT(strncmp(out + 13, want, strlen(want)) == 0);
		FUZZ_ASSERT(strstr(out, x.ehlo ? " PROTO=ESMTP" : " PROTO=SMTP") != NULL);
		v = field(out, " HELO=", &vl);
		FUZZ_ASSERT(v != NULL);
		dec = malloc(vl + 1);
		d = xtext_decode(v, vl, dec);
		if (helo[0]) {
			FUZZ_ASSERT(d <= strlen(helo) && memcmp(dec, helo, d) == 0);
		} else {
			FUZZ_ASSERT(d == 13 && memcmp(dec, "[UNAVAILABLE]", 13) == 0);
		}
		free(dec);
		v = field(out, " LOGIN=", &vl);
		FUZZ_ASSERT((v != NULL) == (x.login != NULL && x.login[0] && (x.attrs & RW_XA_LOGIN)));
		if (v != NULL) {
			dec = malloc(vl + 1);
			d = xtext_decode(v, vl, dec);
			FUZZ_ASSERT(d <= strlen(login) && memcmp(dec, login, d) == 0);
			/* a user of up to 255 bytes is never cut (rw_xclient_info's promise) */
			FUZZ_ASSERT(strlen(login) > 255 || d == strlen(login));
			free(dec);
		}
	}
	check_xtext(helo, 1 + (fl >> 4) * 20);
	check_xtext(login, 1 + (size_t)fuzz_u8(in) * 4);
	free(out);
	free(helo);
	free(login);
}

/* Big-endian 16 bits. */
static unsigned be16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* PROXY v2 for fuzzed facts into exactly outlen bytes, parsed back. */
static void check_proxy(struct fuzz_in *in, const uint8_t *src, const uint8_t *dst, uint16_t sport,
			uint16_t dport, int v6)
{
	static const uint8_t sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };
	static const char *const verifies[] = { "OK", "FAIL", "NO", "NOT", "NONE", "TEMP", "PROTOCOL", "SOFTWARE" };
	uint8_t fl = fuzz_u8(in), *out;
	char *version = fuzz_str(in, 300, 0), *cipher = fuzz_str(in, 300, 0), *cn = fuzz_str(in, 100, 0);
	size_t outlen = fl & 1 ? RW_PROXY_V2_MAX : fuzz_u16(in) % 600, n, alen = v6 ? 16 : 4, want, ssl = 0;
	struct rw_proxy_info pp = { .family = v6 ? 6 : 4, .sport = sport, .dport = dport,
				    .tls = (fl >> 1) & 1, .verify = verifies[(fl >> 2) & 7],
				    .version = version, .cipher = cipher, .cn = (fl >> 5) & 1 ? cn : NULL };
	size_t vl = strlen(version), cl = strlen(cipher), cnl = strnlen(cn, 64);

	memcpy(pp.src, src, 16);
	memcpy(pp.dst, dst, 16);
	out = malloc(outlen ? outlen : 1);
	n = rw_proxy_v2(&pp, out, outlen);
	/* the model: what the header needs, and when it cannot be made */
	want = 16 + 2 * alen + 4;
	if (pp.tls) {
		ssl = 5 + 3 + vl + 3 + cl + (pp.cn && cn[0] ? 3 + cnl : 0);
		want += 3 + ssl;
	}
	if (outlen < want || (pp.tls && (vl > 255 || cl > 255 || ssl > 256))) {
		FUZZ_ASSERT(n == 0);
	} else {
		const uint8_t *a = out + 16 + 2 * alen + 4;

		FUZZ_ASSERT(n == want && n <= RW_PROXY_V2_MAX);
		FUZZ_ASSERT(memcmp(out, sig, 12) == 0 && out[12] == 0x21 && out[13] == (v6 ? 0x21 : 0x11));
		FUZZ_ASSERT(be16(out + 14) == n - 16);
		FUZZ_ASSERT(memcmp(out + 16, src, alen) == 0 && memcmp(out + 16 + alen, dst, alen) == 0);
		FUZZ_ASSERT(be16(out + 16 + 2 * alen) == sport && be16(out + 18 + 2 * alen) == dport);
		if (pp.tls) {
			int ok = strcmp(pp.verify, "OK") == 0, shown = ok || strcmp(pp.verify, "FAIL") == 0;
			const uint8_t *t;

			FUZZ_ASSERT(a[0] == 0x20 && be16(a + 1) == ssl && a + 3 + ssl == out + n);
			FUZZ_ASSERT(a[3] == (shown ? 0x07 : 0x01));
			FUZZ_ASSERT(a[4] == 0 && a[5] == 0 && a[6] == 0 && a[7] == (ok ? 0 : 1));
			t = a + 8;
			FUZZ_ASSERT(t[0] == 0x21 && be16(t + 1) == vl && memcmp(t + 3, version, vl) == 0);
			t += 3 + vl;
			FUZZ_ASSERT(t[0] == 0x23 && be16(t + 1) == cl && memcmp(t + 3, cipher, cl) == 0);
			t += 3 + cl;
			if (pp.cn && cn[0]) {
				FUZZ_ASSERT(t[0] == 0x22 && be16(t + 1) == cnl && memcmp(t + 3, cn, cnl) == 0);
				t += 3 + cnl;
			}
			FUZZ_ASSERT(t == out + n);
		} else {
			FUZZ_ASSERT(a == out + n);
		}
	}
	free(out);
	free(version);
	free(cipher);
	free(cn);
}

/* Received for fuzzed facts (no CR or LF in what clients and config give) into exactly outlen bytes. */
static void check_received(struct fuzz_in *in, const char *addr)
{
	uint8_t fl = fuzz_u8(in);
	char *helo = fuzz_str(in, 300, 1), *host = fuzz_str(in, 64, 1), *id = fuzz_str(in, 20, 1),
	     *ver = fuzz_str(in, 40, 1), *cip = fuzz_str(in, 60, 1), *vrf = fuzz_str(in, 10, 1),
	     *rcpt = fuzz_str(in, 300, 1), *out;
	size_t outlen = fl & 1 ? RW_RECEIVED_MAX : 1 + fuzz_u16(in) % 1500, n, i;
	struct rw_received_info r = { .helo = helo, .addr = addr, .hostname = host, .id = id,
				      .ehlo = (fl >> 1) & 1, .tls = (fl >> 2) & 1, .auth = (fl >> 3) & 1,
				      .version = ver, .cipher = cip, .verify = vrf, .cipher_bits = fl * 3,
				      .rcpt = (fl >> 4) & 1 ? rcpt : NULL, .when = (time_t)fuzz_u32(in) * 4 };

	out = malloc(outlen);
	n = rw_received(&r, out, outlen);
	if (n != 0) {
		FUZZ_ASSERT(n < outlen && strlen(out) == n);
		FUZZ_ASSERT(strncmp(out, "Received: from ", 15) == 0);
		FUZZ_ASSERT(n >= 2 && out[n - 2] == '\r' && out[n - 1] == '\n');
		for (i = 0; i + 2 < n; i++) {
			if (out[i] == '\n')
				FUZZ_ASSERT(i > 0 && out[i - 1] == '\r' && out[i + 1] == '\t');
			if (out[i] == '\r')
				FUZZ_ASSERT(out[i + 1] == '\n');
		}
		FUZZ_ASSERT(strstr(out, addr) != NULL && strstr(out, host) != NULL);
	}
	free(out);
	free(helo);
	free(host);
	free(id);
	free(ver);
	free(cip);
	free(vrf);
	free(rcpt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input: see the file comment. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t sel = fuzz_u8(&in), src[16] = { 0 }, dst[16] = { 0 };
	int v6 = sel & 1;
	char addr[INET6_ADDRSTRLEN];
	size_t got;
	uint16_t sport, dport;

	memcpy(src, fuzz_bytes(&in, 16, &got), got);
	memcpy(dst, fuzz_bytes(&in, 16, &got), got);
	sport = fuzz_u16(&in);
	dport = fuzz_u16(&in);
	FUZZ_ASSERT(inet_ntop(v6 ? AF_INET6 : AF_INET, src, addr, sizeof(addr)) != NULL);
	switch ((sel >> 1) % 3) {
	case 0: check_xclient(&in, addr, sport); break;
	case 1: check_proxy(&in, src, dst, sport, dport, v6); break;
	default: check_received(&in, addr); break;
	}
	return 0;
}
