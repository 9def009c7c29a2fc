/*
 * stats.h - printing the per-lcore counters of the stack in Prometheus text
 * format (SIGUSR1, exit; the control socket will serve the same later).
 */
#ifndef MX_STATS_H
#define MX_STATS_H

#include <stdio.h>
#include "net/net.h"

/* Write every counter of every worker, one line per lcore. */
void stats_print(FILE *f, struct net_ctx *const *ctxs, unsigned n);

/* Write to path atomically (temp file + rename); 0 or -1. */
int stats_write_file(const char *path, struct net_ctx *const *ctxs, unsigned n);

/* Number of named counter fields (tests check it covers struct net_stats). */
unsigned stats_field_count(void);

#endif
