/*
 * fuzz_dns.c - libFuzzer target for DNS replies (dataplane/dns/msg.c:
 * dns_msg_reply, through c-ares's name expansion and parsers, and
 * dns_valid_hostname on what it returns).
 *
 * Input: byte 0 picks the query (A, AAAA or PTR, each with its fixed
 * name); the rest is the reply, whose first two bytes are taken as the
 * query's ID (so the header checks pass and the fuzzer reaches the
 * question, the records and the data).
 *
 * Asserted: a second reading of the same bytes gives the same outcome
 * (no hidden state); an outcome is one of the four; a finished reply has
 * a status of the four, the type asked, a TTL within the cap; records only
 * for DNS_OK, and then 1..DNS_MAX_ADDRS addresses or 1..DNS_MAX_NAMES
 * NUL-terminated names of at most DNS_NAME_MAX bytes; an answer that is
 * not for the question asked (another type) is a mismatch. ASan sees
 * every read (the reply is copied to a buffer of exactly its length).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/dns/dns.h"
#include "fuzz.h"

static const struct { const char *name; uint16_t type; } queries[] = {
	{ "client1.lab.example", DNS_T_A },
	{ "client6.lab.example", DNS_T_AAAA },
	{ "1.0.18.198.in-addr.arpa", DNS_T_PTR },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_result r1, r2;
	enum dns_reply o1, o2;
	uint8_t *buf;
	uint16_t id;
	size_t len, i;
	unsigned q;

	if (size < 1)
		return 0;
	q = data[0] % 3;
	len = size - 1;
	buf = malloc(len ? len : 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data + 1, len);
	id = len >= 2 ? (uint16_t)(buf[0] << 8 | buf[1]) : 0;
	memset(&r1, 0xa5, sizeof(r1));
	memset(&r2, 0x5a, sizeof(r2));
	o1 = dns_msg_reply(buf, len, id, queries[q].name, queries[q].type, &r1);
	o2 = dns_msg_reply(buf, len, id, queries[q].name, queries[q].type, &r2);
	FUZZ_ASSERT(o1 == o2);
	FUZZ_ASSERT(o1 == DNS_REPLY_DONE || o1 == DNS_REPLY_TRUNCATED || o1 == DNS_REPLY_MISMATCH ||
		    o1 == DNS_REPLY_MALFORMED);
	if (o1 == DNS_REPLY_DONE) {
		FUZZ_ASSERT(r1.status == r2.status && r1.n == r2.n && r1.ttl == r2.ttl);
		FUZZ_ASSERT(r1.status < DNS_STATUS_COUNT);
		FUZZ_ASSERT(r1.type == queries[q].type);
		FUZZ_ASSERT(r1.ttl <= DNS_TTL_CAP);
		if (r1.status != DNS_OK) {
			FUZZ_ASSERT(r1.n == 0);
		} else if (r1.type == DNS_T_PTR) {
			FUZZ_ASSERT(r1.n >= 1 && r1.n <= DNS_MAX_NAMES);
			for (i = 0; i < r1.n; i++) {
				FUZZ_ASSERT(memchr(r1.u.name[i], '\0', DNS_NAME_MAX + 1) != NULL);
				FUZZ_ASSERT(strcmp(r1.u.name[i], r2.u.name[i]) == 0);
				(void)dns_valid_hostname(r1.u.name[i]);
			}
		} else {
			FUZZ_ASSERT(r1.n >= 1 && r1.n <= DNS_MAX_ADDRS);
			FUZZ_ASSERT(memcmp(r1.u.addr, r2.u.addr, r1.n * sizeof(r1.u.addr[0])) == 0);
		}
	}
	/* the same bytes asked as another type never pass as its answer */
	if (len >= 12) {
		enum dns_reply o3 = dns_msg_reply(buf, len, id, queries[q].name, DNS_T_TXT, &r2);

		FUZZ_ASSERT(o3 != DNS_REPLY_DONE || o1 != DNS_REPLY_DONE);
	}
	free(buf);
	return 0;
}
