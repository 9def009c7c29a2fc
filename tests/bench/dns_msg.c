/*
 * dns_msg.c - CPU time of the DNS message work one session costs the
 * worker (make bench-dns, docs/PERFORMANCE.md "DNS at connect"): per
 * session three queries built (PTR, its name's A, one DNSBL A) and three
 * replies judged and read (dataplane/dns/msg.c through c-ares), and the
 * cache's put and get; thread CPU time, so other load on the machine
 * does not count.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dataplane/dns/dns.h"

static double cpu_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A reply to query q (qlen bytes) with one answer of type/rdata, into out. */
static size_t reply(const uint8_t *q, size_t qlen, uint16_t type, const uint8_t *rd, size_t rdlen, uint8_t *out)
{
	memcpy(out, q, qlen);
	out[2] = 0x81;
	out[3] = 0x80;
	out[7] = 1;
	out[qlen + 0] = 0xc0;
	out[qlen + 1] = 12;
	out[qlen + 2] = (uint8_t)(type >> 8);
	out[qlen + 3] = (uint8_t)type;
	out[qlen + 4] = 0;
	out[qlen + 5] = 1;
	memset(out + qlen + 6, 0, 4);
	out[qlen + 8] = 1;                 /* TTL 256 */
	out[qlen + 10] = (uint8_t)(rdlen >> 8);
	out[qlen + 11] = (uint8_t)rdlen;
	memcpy(out + qlen + 12, rd, rdlen);
	return qlen + 12 + rdlen;
}

int main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 200000, i;
	static const uint8_t ptr_rd[] = "\x04" "c123" "\x03" "lab" "\x07" "example";
	static const uint8_t a_rd[4] = { 198, 18, 0, 123 }, bl_rd[4] = { 127, 0, 0, 2 };
	uint8_t q[300], r[600];
	struct dns_result res;
	struct dns_cache *c = dns_cache_new(8192);
	char name[64];
	double t0, t1;
	int ql;
	size_t rl;
	unsigned ok = 0;

	t0 = cpu_s();
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%u.%u.18.198.in-addr.arpa", i & 255, (i >> 8) & 255);
		ql = dns_msg_query(name, DNS_T_PTR, (uint16_t)i, q, sizeof(q));
		rl = reply(q, (size_t)ql, DNS_T_PTR, ptr_rd, sizeof(ptr_rd), r);
		ok += dns_msg_reply(r, rl, (uint16_t)i, name, DNS_T_PTR, &res) == DNS_REPLY_DONE && res.status == DNS_OK;
		dns_cache_put(c, name, &res, 1000000);
		ql = dns_msg_query("c123.lab.example", DNS_T_A, (uint16_t)i, q, sizeof(q));
		rl = reply(q, (size_t)ql, DNS_T_A, a_rd, 4, r);
		ok += dns_msg_reply(r, rl, (uint16_t)i, "c123.lab.example", DNS_T_A, &res) == DNS_REPLY_DONE;
		snprintf(name, sizeof(name), "%u.%u.18.198.bl.example", i & 255, (i >> 8) & 255);
		ql = dns_msg_query(name, DNS_T_A, (uint16_t)i, q, sizeof(q));
		rl = reply(q, (size_t)ql, DNS_T_A, bl_rd, 4, r);
		ok += dns_msg_reply(r, rl, (uint16_t)i, name, DNS_T_A, &res) == DNS_REPLY_DONE;
		ok += dns_cache_get(c, name, DNS_T_PTR, 1000000, &res) >= 0;
	}
	t1 = cpu_s();
	printf("RESULT dns_msg sessions=%u us_per_session=%.2f (3 queries built, 3 replies read, 1 put, 1 get) ok=%u\n",
	       n, (t1 - t0) * 1e6 / n, ok);
	dns_cache_free(c);
	return ok == 4 * n ? 0 : 1;
}
