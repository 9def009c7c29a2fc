/*
 * dns_var.h - what the files of dataplane/dns share (private): the
 * resolver of one worker and its counters. check.c counts its outcomes
 * here; resolver.c prints them all.
 */
#ifndef MX_DNS_VAR_H
#define MX_DNS_VAR_H

#include "dataplane/dns/dns.h"
#include "common/config.h"

struct dns_stats {
	uint64_t udp_queries;          /* datagrams sent (every try) */
	uint64_t tcp_queries;          /* truncated answers asked again over TCP */
	uint64_t timeouts;             /* tries that timed out */
	uint64_t mismatched;           /* replies not for the query (ID, question): ignored */
	uint64_t malformed;            /* replies whose lengths or names do not hold: ignored */
	uint64_t busy;                 /* lookups refused at dns_max_inflight (DNS_TEMP) */
	uint64_t results[DNS_STATUS_COUNT];   /* lookups answered, by outcome (cache hits too) */
	uint64_t names[DNS_NAME_STATUS_COUNT]; /* client names by status */
	uint64_t dnsbl[CFG_MAX_DNSBL][3];     /* per site: listed, unlisted, error */
	uint64_t dnsbl_blocked;        /* clients over the threshold */
};

struct dns_resolver {
	struct net_ctx *ctx;
	const struct mx_config *cfg;
	unsigned ifidx;                /* the inside interface */
	struct dns_query *q;           /* dns_max_inflight slots */
	struct dns_query *free_q;
	unsigned inflight, next_server;
	struct dns_cache *cache;
	struct dns_stats st;
};

#endif
