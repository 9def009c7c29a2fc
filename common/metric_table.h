/*
 * metric_table.h - every metric family mxgate and mxgate-control export:
 * name, type and HELP, in one table (metric_table.c), and the text
 * renderer that adds "# HELP" and "# TYPE" once per family.
 *
 * Who uses it:
 *   - mxgate's printers (dataplane/stats.c): a counter of a struct (a
 *     field of struct net_stats, SMTP_STATS, AUTH_STATS, TLS_KEY_STATS)
 *     is printed under its own name, mxgate_<prefix><name>_total, unless
 *     metric_members maps it to one series of a labelled family (the name
 *     variants "tls_v12", "tls_v13" become
 *     mxgate_smtp_tls_sessions_total{version="TLSv1.2"} and {...="TLSv1.3"});
 *   - mxgate-control's /metrics (metric_render): mxgate's sample lines and
 *     its own, grouped by family, each family headed by HELP and TYPE.
 *
 * A new counter needs a row here: tests/unit/test_metrics.c prints every
 * counter of every struct and scans the sources for literal names, and
 * fails on any family without a row. libc only.
 */
#ifndef MX_METRIC_TABLE_H
#define MX_METRIC_TABLE_H

#include <stddef.h>
#include <stdio.h>

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metric_family {
	const char *name;       /* as printed: "mxgate_smtp_messages_total" */
	enum metric_type type;  /* counters end in _total, gauges do not; a histogram's
				 * samples are name_bucket, name_sum and name_count */
	const char *help;       /* one line, no backslash */
};

/* A counter of a struct printed as one series of a labelled family. */
struct metric_member {
	const char *field;      /* prefix + name: "smtp_messages_accepted" */
	const char *family;     /* "mxgate_smtp_messages_total" */
	const char *label;      /* "result=\"accepted\"" */
};

extern const struct metric_family metric_families[];
extern const unsigned metric_family_count;
extern const struct metric_member metric_members[];
extern const unsigned metric_member_count;

/* The family named name (len bytes), or NULL. */
const struct metric_family *metric_family_find(const char *name, size_t len);

/*
 * The family of a sample named name (len bytes): the one of that name, or
 * the histogram whose _bucket, _sum or _count it is; or NULL. *flen: the
 * family name's length.
 */
const struct metric_family *metric_family_of_sample(const char *name, size_t len, size_t *flen);

/* "counter", "gauge" or "histogram". */
const char *metric_type_name(enum metric_type t);

/*
 * The series of counter prefix+name of a struct: its family name in buf
 * ("mxgate_<prefix><name>_total", or without _total for a gauge, unless a
 * member maps it) and the extra label ("k=\"v\"") in *label, NULL if none.
 * Returns buf.
 */
const char *metric_field_series(const char *prefix, const char *name, int gauge, char *buf,
				size_t buflen, const char **label);

/*
 * Prometheus text (sample lines; comment lines are dropped) to out, grouped
 * by family in the order of first appearance, each family headed by its
 * "# HELP" and "# TYPE" lines. A family without a row gets only
 * "# TYPE name untyped" (promtool then reports the missing HELP). Returns
 * the number of such families.
 */
unsigned metric_render(FILE *out, const char *text, size_t len);

#endif
