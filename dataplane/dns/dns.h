/*
 * dns.h - DNS for one worker lcore, on the inside network (dns_servers):
 *
 *   msg.c       messages: a query built and a reply judged and read with
 *               Debian's c-ares (ares_create_query, ares_expand_name,
 *               ares_parse_*_reply); pure functions, fuzzed (fuzz_dns)
 *   cache.c     the worker's cache: (name, type) -> result, TTLs from the
 *               answer (negative answers from the SOA, RFC 2308), bounded
 *               in entries, least recently used evicted first
 *   resolver.c  queries over our UDP (udp.h), TCP on truncation
 *               (tcp_app.h): random ID and port per try, a bounded number
 *               in flight, a timeout per try and retries over the servers
 *   check.c     what a session asks at connect: the client's name (PTR,
 *               then forward confirmation, Postfix's client_name) and
 *               DNSBL/DNSWL scoring (postscreen_dnsbl_sites)
 *
 * No locks: every object here belongs to one worker. No DPDK types.
 */
#ifndef MX_DNS_H
#define MX_DNS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "dataplane/net/net_addr.h"

struct mx_config;
struct net_ctx;

#define DNS_T_A     1
#define DNS_T_PTR   12
#define DNS_T_TXT   16
#define DNS_T_AAAA  28

#define DNS_NAME_MAX   254     /* presentation form, without the trailing dot */
#define DNS_MAX_ADDRS  16      /* addresses kept from one answer */
#define DNS_MAX_NAMES  4       /* PTR names kept from one answer (Postfix checks a few) */
#define DNS_MSG_MAX    65535   /* a reply over TCP at most */
#define DNS_NEG_TTL_DEFAULT 300  /* negative answer without an SOA */
#define DNS_TTL_CAP    86400

enum dns_status {
	DNS_OK = 0,        /* records of the type asked */
	DNS_NXDOMAIN,      /* the name does not exist (negative, cached) */
	DNS_NODATA,        /* the name exists, no record of the type (negative, cached) */
	DNS_TEMP,          /* SERVFAIL, REFUSED, timeout, out of memory: try again later */
	DNS_STATUS_COUNT
};
extern const char *const dns_status_names[DNS_STATUS_COUNT];

/* One lookup's outcome. */
struct dns_result {
	uint8_t status;            /* enum dns_status */
	uint8_t n;                 /* addresses (A, AAAA) or names (PTR) */
	uint16_t type;
	uint32_t ttl;              /* seconds the result may be cached */
	union {
		struct net_addr addr[DNS_MAX_ADDRS];
		char name[DNS_MAX_NAMES][DNS_NAME_MAX + 1];
	} u;
};

/* ---- msg.c ---- */
/* A query for name/type with id (RD set, no EDNS): its length in out, or -1. */
int dns_msg_query(const char *name, uint16_t type, uint16_t id, uint8_t *out, size_t outlen);
/* What a reply came to (dns_msg_reply). */
enum dns_reply {
	DNS_REPLY_DONE = 0,        /* *res filled */
	DNS_REPLY_TRUNCATED,       /* TC set: ask again over TCP */
	DNS_REPLY_MISMATCH,        /* not the answer to this query (ID, QR, question): ignored */
	DNS_REPLY_MALFORMED,       /* lengths, names (compression loops) do not hold: ignored */
};
/*
 * Judge a reply to the query (id, qname, qtype) and read it: the header
 * (ID, QR, opcode, one question), the question (name compared without
 * case, type, class IN), the RCODE, every record's lengths, the TTLs
 * (answers: the smallest; negative: the SOA's, RFC 2308 5) and the data
 * (c-ares's parsers). Never reads beyond len.
 */
enum dns_reply dns_msg_reply(const uint8_t *buf, size_t len, uint16_t id, const char *qname, uint16_t qtype,
			     struct dns_result *res);
/* The reverse name of an address: "4.3.2.1.in-addr.arpa" or the ip6.arpa nibbles; 0 or -1. */
int dns_reverse_name(uint8_t family, const struct net_addr *a, const char *zone, char *out, size_t outlen);
/* A host name Postfix would accept as a client name (valid_hostname, not an address): 1 or 0. */
int dns_valid_hostname(const char *name);

/* ---- cache.c ---- */
struct dns_cache;
struct dns_cache *dns_cache_new(unsigned max_entries);
void dns_cache_free(struct dns_cache *c);
/* A result still fresh at now_us: 1 and *out (its TTL what remains), else 0. */
int dns_cache_get(struct dns_cache *c, const char *name, uint16_t type, uint64_t now_us, struct dns_result *out);
/* Keep a result (DNS_TEMP and TTL 0 are not kept); the least recently used goes when full. */
void dns_cache_put(struct dns_cache *c, const char *name, const struct dns_result *r, uint64_t now_us);
struct dns_cache_stats {
	uint64_t hits, misses, inserts, evictions, expired, entries, bytes;
};
const struct dns_cache_stats *dns_cache_stats(const struct dns_cache *c);

/* ---- resolver.c ---- */
struct dns_resolver;
struct dns_query;
typedef void dns_cb(void *arg, const struct dns_result *r);

/* The worker's resolver (cfg->dns_servers), registering UDP with ctx; NULL with a message in err. */
struct dns_resolver *dns_resolver_new(struct net_ctx *ctx, const struct mx_config *cfg, char *err, size_t errlen);
void dns_resolver_free(struct dns_resolver *r);
/* Read cfg from now on (SIGHUP; its DNS keys are the running ones: they need a restart). */
void dns_resolver_set_config(struct dns_resolver *r, const struct mx_config *cfg);
/*
 * Look name/type up. From the cache, cb runs before this returns and the
 * result is NULL; else cb runs once the answer, a timeout after the last
 * try, or a failure comes, and the query is returned (dns_detach() it to
 * stop hearing of it). With the in-flight bound reached, cb gets DNS_TEMP
 * at once.
 */
struct dns_query *dns_lookup(struct dns_resolver *r, const char *name, uint16_t type, dns_cb *cb, void *arg);
/* No callback for this query any more (its answer still fills the cache). */
void dns_detach(struct dns_query *q);
uint64_t dns_now_us(const struct dns_resolver *r);
unsigned dns_inflight(const struct dns_resolver *r);

/* ---- check.c ---- */
/* ${client_resolve} (sendmail), Postfix's name status. */
enum dns_name_status { DNS_NAME_NONE = 0, DNS_NAME_OK, DNS_NAME_FAIL, DNS_NAME_FORGED, DNS_NAME_TEMP,
		       DNS_NAME_STATUS_COUNT };
extern const char *const dns_name_status_names[DNS_NAME_STATUS_COUNT];

struct dns_check;
/*
 * The connect-time lookups of one client: PTR and forward confirmation,
 * and every DNSBL site, all at once. done(arg) runs once when the last
 * finishes, never from inside dns_check_start(): when everything came
 * from the cache, dns_check_pending() is 0 on return. NULL when out of memory.
 */
struct dns_check *dns_check_start(struct dns_resolver *r, uint8_t family, const struct net_addr *a,
				  void (*done)(void *arg), void *arg);
int dns_check_pending(const struct dns_check *k);
/* The verified name, or NULL ("unknown"); its status (unfinished lookups count as TEMP). */
const char *dns_check_name(const struct dns_check *k);
enum dns_name_status dns_check_name_status(const struct dns_check *k);
/* The DNSBL score so far, and the listing site with the largest weight (NULL if none). */
int dns_check_score(const struct dns_check *k, const char **site);
/* The DNSBL verdict, once: the site to name when the score reaches dnsbl_threshold (counted), else NULL. */
const char *dns_check_verdict(struct dns_check *k);
/* Stop: no more done() calls; counts what was unfinished. */
void dns_check_free(struct dns_check *k);

/* mxgate_dns_* lines of this worker (Prometheus text). */
void dns_print_labelled(FILE *f, const struct dns_resolver *r, unsigned lcore);

#endif
