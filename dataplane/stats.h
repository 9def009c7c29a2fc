/*
 * stats.h - printing the per-lcore counters of the stack in Prometheus text
 * format (SIGUSR1, exit, and the control socket's STATS request).
 */
#ifndef MX_STATS_H
#define MX_STATS_H

#include <stdio.h>
#include "dataplane/net/net.h"

/*
 * More counters of each worker from another module (e.g. SMTP): printed as
 * mxgate_<prefix><name>_total{lcore="N"}, the one named `gauge` without
 * _total, or as a series of a labelled family (common/metric_table.c).
 * Counters with their own labels are printed by the module's labelled().
 */
struct stats_group {
	const char *prefix;
	const char *const *names;
	unsigned count;
	const char *gauge;
	const uint64_t *vals[NET_MAX_WORKERS];   /* per worker, count values each; NULL = none */
	/* counters with more labels than lcore (e.g. by cipher name): printed by the module */
	void (*labelled)(FILE *f, const void *obj, unsigned lcore);
	const void *objs[NET_MAX_WORKERS];       /* per worker, passed to labelled(); NULL = none */
};

/* Write every counter of every worker, one line per lcore (extra may be NULL). */
void stats_print(FILE *f, struct net_ctx *const *ctxs, unsigned n, const struct stats_group *extra);

/*
 * Counters of the service lcore (no lcore label): mxgate_<prefix><name>_total
 * or the labelled series of metric_table.h; the one named gauge without _total.
 */
void stats_print_flat(FILE *f, const char *prefix, const char *const *names, unsigned count,
		      const uint64_t *vals, const char *gauge);

/*
 * mxgate_build_info{version,boringssl,dpdk} 1: mxgate's git describe, the
 * BoringSSL rebuild (Debian version and recipe hash, deploy/boringssl.sh)
 * and DPDK's version.
 */
void stats_print_build_info(FILE *f);

/* Write to path atomically (temp file + rename); 0 or -1. */
int stats_write_file(const char *path, struct net_ctx *const *ctxs, unsigned n,
		     const struct stats_group *extra);

/*
 * The poll-round histogram's bounds in µs: worker_main() counts each round
 * that found work in busy_rounds[] by its time.
 */
extern const uint64_t stats_round_le_us[NET_ROUND_BUCKETS];

/* Number of named counter fields (tests check it covers struct net_stats). */
unsigned stats_field_count(void);

#endif
