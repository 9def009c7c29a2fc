/*
 * stats.c - counters in Prometheus text: mxgate_<field>_total{lcore="N"},
 * drops as mxgate_drops_total{lcore="N",reason="..."}, gauges without
 * _total; a counter that common/metric_table.c maps to a labelled family
 * under that family's name with its label. Read from the workers' structs
 * without locks: each is a plain 64-bit integer written by one lcore.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <rte_version.h>
#include "stats.h"
#include "common/metric_table.h"

/* Set by the Makefile: git describe of the tree, the BoringSSL rebuild's cache key. */
#ifndef MX_VERSION
#define MX_VERSION "unknown"
#endif
#ifndef MX_BORINGSSL_VERSION
#define MX_BORINGSSL_VERSION "unknown"
#endif

struct field {
	const char *name;
	size_t off;
	int gauge;
};

#define F(n) { #n, offsetof(struct net_stats, n), 0 }
#define G(n) { #n, offsetof(struct net_stats, n), 1 }
static const struct field fields[] = {
	F(rx_packets), F(rx_bytes), F(tx_packets), F(tx_bytes),
	F(steered_out), F(steered_in),
	F(arp_requests_sent), F(arp_replies_sent), F(nd_solicits_sent), F(nd_adverts_sent),
	F(icmp_echo_replies), F(pmtu_updates),
	F(tcp_passive_opens), F(tcp_active_opens), F(tcp_active_fails), F(tcp_closed),
	F(tcp_refused), F(tcp_resets_in), F(tcp_resets_out), F(tcp_retransmits), F(tcp_rto),
	F(tcp_fast_retransmits), F(tcp_ooo_segments), F(tcp_dup_segments),
	F(tcp_syncookies_sent), F(tcp_syncookies_ok), F(tcp_challenge_acks),
	F(tcp_timewait_recycled), F(tcp_zero_window_probes), G(tcp_conns),
	F(busy_cycles), F(idle_cycles),
};
#undef F
#undef G

const uint64_t stats_round_le_us[NET_ROUND_BUCKETS] = {
	10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000
};
static const char *const round_le[NET_ROUND_BUCKETS] = {
	"1e-05", "2.5e-05", "5e-05", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01"
};

/*
 * mxgate_worker_busy_round_seconds{lcore}: the poll rounds that found work
 * by time; their sum is busy_cycles. Nothing before the first.
 */
static void print_rounds(FILE *f, const struct net_ctx *c)
{
	/* the worker adds to busy_cycles meanwhile: read it once */
	uint64_t busy = __atomic_load_n(&c->st.busy_cycles, __ATOMIC_RELAXED);
	uint64_t n = 0, hz = c->tsc_hz ? c->tsc_hz : 1, sec = busy / hz;
	unsigned i;

	for (i = 0; i <= NET_ROUND_BUCKETS; i++)
		n += c->st.busy_rounds[i];
	if (!n)
		return;
	n = 0;
	for (i = 0; i <= NET_ROUND_BUCKETS; i++) {
		n += c->st.busy_rounds[i];
		fprintf(f, "mxgate_worker_busy_round_seconds_bucket{lcore=\"%u\",le=\"%s\"} %llu\n", c->lcore_id,
			i < NET_ROUND_BUCKETS ? round_le[i] : "+Inf", (unsigned long long)n);
	}
	fprintf(f, "mxgate_worker_busy_round_seconds_sum{lcore=\"%u\"} %llu.%06llu\n", c->lcore_id,
		(unsigned long long)sec,
		(unsigned long long)((busy - sec * hz) * 1000000 / hz));
	fprintf(f, "mxgate_worker_busy_round_seconds_count{lcore=\"%u\"} %llu\n", c->lcore_id,
		(unsigned long long)n);
}

unsigned stats_field_count(void)
{
	return (unsigned)(sizeof(fields) / sizeof(fields[0]));
}

/* One counter of a struct, for one lcore (lcore < 0: none), under its series (metric_table.h). */
static void print_field(FILE *f, const char *prefix, const char *name, int gauge, int lcore, uint64_t v)
{
	char fam[128], lc[24] = "";
	const char *label;

	metric_field_series(prefix, name, gauge, fam, sizeof(fam), &label);
	if (lcore >= 0)
		snprintf(lc, sizeof(lc), "lcore=\"%d\"", lcore);
	if (lcore < 0 && label == NULL)
		fprintf(f, "%s %llu\n", fam, (unsigned long long)v);
	else
		fprintf(f, "%s{%s%s%s} %llu\n", fam, lc, lcore >= 0 && label ? "," : "", label ? label : "",
			(unsigned long long)v);
}

void stats_print_flat(FILE *f, const char *prefix, const char *const *names, unsigned count,
		      const uint64_t *vals, const char *gauge)
{
	unsigned k;

	for (k = 0; k < count; k++)
		print_field(f, prefix, names[k], gauge != NULL && strcmp(names[k], gauge) == 0, -1, vals[k]);
}

void stats_print(FILE *f, struct net_ctx *const *ctxs, unsigned n, const struct stats_group *extra)
{
	unsigned i, k;

	for (k = 0; k < stats_field_count(); k++)
		for (i = 0; i < n; i++)
			print_field(f, "", fields[k].name, fields[k].gauge, (int)ctxs[i]->lcore_id,
				    *(const uint64_t *)((const char *)&ctxs[i]->st + fields[k].off));
	for (i = 0; i < n; i++)
		print_rounds(f, ctxs[i]);
	for (k = 0; k < NET_DROP__MAX; k++)
		for (i = 0; i < n; i++)
			fprintf(f, "mxgate_drops_total{lcore=\"%u\",reason=\"%s\"} %llu\n",
				ctxs[i]->lcore_id, net_drop_names[k],
				(unsigned long long)ctxs[i]->st.drops[k]);
	for (k = 0; extra != NULL && k < extra->count; k++)
		for (i = 0; i < n; i++) {
			int gauge = extra->gauge != NULL && strcmp(extra->names[k], extra->gauge) == 0;

			if (extra->vals[i] == NULL)
				continue;
			print_field(f, extra->prefix, extra->names[k], gauge, (int)ctxs[i]->lcore_id,
				    extra->vals[i][k]);
		}
	for (i = 0; extra != NULL && extra->labelled != NULL && i < n; i++)
		if (extra->objs[i] != NULL)
			extra->labelled(f, extra->objs[i], ctxs[i]->lcore_id);
	if (n > 0)
		fprintf(f, "mxgate_tsc_hz %llu\n", (unsigned long long)ctxs[0]->tsc_hz);
}

void stats_print_build_info(FILE *f)
{
	const char *dpdk = rte_version();

	if (strncmp(dpdk, "DPDK ", 5) == 0)
		dpdk += 5;
	fprintf(f, "mxgate_build_info{version=\"%s\",boringssl=\"%s\",dpdk=\"%s\"} 1\n", MX_VERSION,
		MX_BORINGSSL_VERSION, dpdk);
}

int stats_write_file(const char *path, struct net_ctx *const *ctxs, unsigned n,
		     const struct stats_group *extra)
{
	char tmp[512];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -1;
	f = fopen(tmp, "w");
	if (f == NULL)
		return -1;
	stats_print(f, ctxs, n, extra);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		remove(tmp);
		return -1;
	}
	return 0;
}
