/*
 * test_metrics.c - the metric table (common/metric_table.c) against what is
 * printed:
 *   - the table itself: names, types, HELP, members that name real families;
 *   - every series the struct counters print (stats_print with the stack's
 *     and the SMTP counters of two lcores, the service lcore's AUTH and
 *     key-door counters, the control socket's refusals, build_info) has a
 *     family with a row, and every member is printed;
 *   - every literal "mxgate_..." metric name in the sources has a row (the
 *     labelled printers of dataplane/smtp and mxgate-control's own);
 *   - metric_render: HELP and TYPE once per family, lines grouped, unknown
 *     families untyped and counted.
 * A counter added without a row fails here.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "common/metric_table.h"
#include "dataplane/stats.h"
#include "dataplane/smtp/smtp_stats.h"
#include "dataplane/smtp/auth.h"
#include "crypto/tls.h"
#if __has_include("common/ctl.h")
#include "common/ctl.h"
#else
#include "common/ctl.h"
#endif

#ifndef MX_SRCDIR
#define MX_SRCDIR "."
#endif

/* The names of the X-macro lists, as session.c, auth.c and tls.c make them. */
#define X(n) #n,
static const char *const smtp_names[] = { SMTP_STATS(X) };
static const char *const auth_names[] = { AUTH_STATS(X) };
static const char *const key_names[] = { TLS_KEY_STATS(X) };
/* dataplane/service.c's service_reload_names (SIGHUP reloads) */
static const char *const reload_names[] = { "config_reloads_ok", "config_reloads_failed" };
static const uint64_t reload_vals[2] = { 1, 2 };
#undef X

static int is_snake(const char *s)
{
	return s[0] != '\0' && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(s);
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

TEST(table_is_sane)
{
	unsigned i, j;

	CHECK(metric_family_count > 50);
	for (i = 0; i < metric_family_count; i++) {
		const struct metric_family *m = &metric_families[i];
		int ok = strncmp(m->name, "mxgate_", 7) == 0 && is_snake(m->name) &&
			 (m->type == METRIC_COUNTER) == ends_with(m->name, "_total") &&
			 m->help != NULL && m->help[0] != '\0' && strpbrk(m->help, "\\\n") == NULL;

		if (!ok)
			fprintf(stderr, "bad family row: %s\n", m->name);
		CHECK(ok);
		for (j = i + 1; j < metric_family_count; j++)
			if (strcmp(m->name, metric_families[j].name) == 0) {
				fprintf(stderr, "family twice: %s\n", m->name);
				CHECK(0);
			}
	}
	for (i = 0; i < metric_member_count; i++) {
		const struct metric_member *m = &metric_members[i];
		const struct metric_family *f = metric_family_find(m->family, strlen(m->family));
		const char *eq = strchr(m->label, '=');
		int ok = f != NULL && f->type == METRIC_COUNTER && is_snake(m->field) && eq != NULL &&
			 eq[1] == '"' && ends_with(m->label, "\"") && strchr(eq + 2, '"') == m->label + strlen(m->label) - 1;

		if (!ok)
			fprintf(stderr, "bad member row: %s -> %s{%s}\n", m->field, m->family, m->label);
		CHECK(ok);
		for (j = i + 1; j < metric_member_count; j++)
			if (strcmp(m->field, metric_members[j].field) == 0 ||
			    (strcmp(m->family, metric_members[j].family) == 0 &&
			     strcmp(m->label, metric_members[j].label) == 0)) {
				fprintf(stderr, "member twice: %s\n", m->field);
				CHECK(0);
			}
	}
	CHECK(metric_family_find("mxgate_smtp_messages_total", 26) != NULL);
	CHECK(metric_family_find("mxgate_smtp_messages_total", 20) == NULL);
	CHECK(metric_family_find("mxgate_smtp_messages_accepted_total", 35) == NULL);
}

/* Everything the struct printers write, as mxgate's STATS reply has it. */
static char *print_all(size_t *len)
{
	static uint64_t smtp_vals[2][SMTP_STAT_COUNT], auth_vals[AUTH_STAT_COUNT];
	static uint64_t key_vals[TLS_KEY_STAT_COUNT];
	struct stats_group g = { 0 };
	struct net_ctx *ctxs[2];
	size_t sz = (sizeof(struct net_ctx) + 63) / 64 * 64;
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	unsigned i, k;

	for (i = 0; i < 2; i++) {
		ctxs[i] = aligned_alloc(64, sz);
		memset(ctxs[i], 0, sz);
		ctxs[i]->lcore_id = i + 1;
		ctxs[i]->tsc_hz = 2000000000;
		ctxs[i]->st.rx_packets = 7;
		/* lcore 1: 5 rounds up to 10 us, 2 in (50, 100] us, 1 above 10 ms; lcore 2 none */
		if (i == 0) {
			ctxs[i]->st.busy_rounds[0] = 5;
			ctxs[i]->st.busy_rounds[3] = 2;
			ctxs[i]->st.busy_rounds[NET_ROUND_BUCKETS] = 1;
			ctxs[i]->st.busy_cycles = 3000000000ull + 2000;         /* 1.500001 s */
		}
		for (k = 0; k < SMTP_STAT_COUNT; k++)
			smtp_vals[i][k] = k + i;
		g.vals[i] = smtp_vals[i];
	}
	/* as dataplane/mxgate.c sets up the SMTP group */
	g.prefix = "smtp_";
	g.names = smtp_names;
	g.count = SMTP_STAT_COUNT;
	g.gauge = "active";
	stats_print(f, ctxs, 2, &g);
	/* as dataplane/service.c prints the service lcore's */
	ctl_refused_print(f, "mxgate_service_control_");
	stats_print_flat(f, "service_", auth_names, AUTH_STAT_COUNT, auth_vals, "auth_users");
	stats_print_flat(f, "tls_", key_names, TLS_KEY_STAT_COUNT, key_vals, NULL);
	stats_print_flat(f, "service_", reload_names, 2, reload_vals, NULL);
	stats_print_build_info(f);
	fclose(f);
	for (i = 0; i < 2; i++)
		free(ctxs[i]);
	return buf;
}

TEST(every_printed_series_has_a_row)
{
	size_t len = 0, nlines = 0;
	char *text = print_all(&len), *line, *save = NULL;
	unsigned i, missing = 0;
	int *seen = calloc(metric_member_count, sizeof(int));

	CHECK(text != NULL && len > 0);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t n = strcspn(line, "{ "), flen = 0;
		/* a histogram's _bucket, _sum and _count are its family's */
		const struct metric_family *f = metric_family_of_sample(line, n, &flen);

		nlines++;
		if (f == NULL) {
			fprintf(stderr, "printed without a row in common/metric_table.c: %s\n", line);
			missing++;
			continue;
		}
		for (i = 0; i < metric_member_count; i++)
			if (strcmp(metric_members[i].family, f->name) == 0 && strstr(line, metric_members[i].label))
				seen[i]++;
	}
	CHECK(nlines > 100);
	CHECK_EQ(missing, 0);
	for (i = 0; i < metric_member_count; i++)
		if (seen[i] == 0) {
			fprintf(stderr, "member never printed (no such counter?): %s\n", metric_members[i].field);
			CHECK(0);
		}
	free(seen);
	free(text);
}

TEST(members_are_labelled_series)
{
	size_t len = 0;
	char *text = print_all(&len);

	/* the name variants are gone, their values are labels */
	CHECK(strstr(text, "mxgate_smtp_tls_v13_total") == NULL);
	CHECK(strstr(text, "mxgate_smtp_reject_530_auth_total") == NULL);
	CHECK(strstr(text, "mxgate_tls_key_ifma_fill_3_total") == NULL);
	CHECK(strstr(text, "\nmxgate_smtp_tls_sessions_total{lcore=\"1\",version=\"TLSv1.3\"} ") != NULL);
	CHECK(strstr(text, "\nmxgate_smtp_reject_530_total{lcore=\"2\",cause=\"require_tls\"} ") != NULL);
	CHECK(strstr(text, "\nmxgate_tls_key_ifma_fill_total{ops=\"3\"} 0\n") != NULL);
	CHECK(strstr(text, "\nmxgate_service_auth_users 0\n") != NULL);
	CHECK(strstr(text, "\nmxgate_smtp_active{lcore=\"1\"} ") != NULL);
	CHECK(strstr(text, "mxgate_rx_packets_total{lcore=\"2\"} 7\n") != NULL);
	CHECK(strstr(text, "\nmxgate_build_info{version=\"") != NULL);
	free(text);
}

/* Every "mxgate_name" literal in one file has a row (prefixes and formats skipped). */
static unsigned scan_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL, *p;
	size_t cap = 0;
	ssize_t n;
	unsigned bad = 0, lineno = 0;

	if (f == NULL)
		return 0;
	while ((n = getline(&buf, &cap, f)) > 0) {
		lineno++;
		for (p = buf; (p = strstr(p, "\"mxgate_")) != NULL; p++) {
			size_t len = strspn(p + 1, "abcdefghijklmnopqrstuvwxyz0123456789_");

			if (p[len] == '_' || p[1 + len] == '%')
				continue;       /* a prefix ("mxgate_service_control_") or a format */
			size_t flen;

			if (metric_family_of_sample(p + 1, len, &flen) == NULL) {
				fprintf(stderr, "%s:%u: metric %.*s has no row in common/metric_table.c\n", path,
					lineno, (int)len, p + 1);
				bad++;
			}
		}
	}
	free(buf);
	fclose(f);
	return bad;
}

TEST(literal_names_in_the_sources_have_rows)
{
	static const char *const dirs[] = { "dataplane", "dataplane/net", "dataplane/smtp", "crypto",
					     "control", "common", "policy" };
	unsigned d, files = 0, bad = 0;

	for (d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++) {
		char path[4096];
		DIR *dir;
		struct dirent *e;

		snprintf(path, sizeof(path), "%s/%s", MX_SRCDIR, dirs[d]);
		dir = opendir(path);
		if (dir == NULL)
			continue;
		while ((e = readdir(dir)) != NULL) {
			if (!ends_with(e->d_name, ".c") && !ends_with(e->d_name, ".h"))
				continue;
			if (strncmp(e->d_name, "config.", 7) == 0)
				continue;       /* configuration keys (mxgate_user), not metric names */
			snprintf(path, sizeof(path), "%s/%s/%s", MX_SRCDIR, dirs[d], e->d_name);
			bad += scan_file(path);
			files++;
		}
		closedir(dir);
	}
	CHECK(files > 20);
	CHECK_EQ(bad, 0);
}

TEST(render_heads_each_family_once)
{
	static const char in[] =
		"mxgate_smtp_tls_cipher_total{lcore=\"1\",version=\"TLSv1.3\",cipher=\"X\"} 2\n"
		"mxgate_smtp_timeouts_after_total{lcore=\"1\",after=\"EHLO\"} 1\n"
		"# a comment from upstream\n"
		"mxgate_smtp_tls_cipher_total{lcore=\"2\",version=\"TLSv1.2\",cipher=\"Y\"} 3\n"
		"mxgate_no_such_thing 5\n"
		"\n"
		"mxgate_tsc_hz 1000";
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	unsigned unknown = metric_render(f, in, sizeof(in) - 1);

	fclose(f);
	CHECK_EQ(unknown, 1);
	CHECK_STR(out,
		  "# HELP mxgate_smtp_tls_cipher_total TLS handshakes, by protocol version and cipher.\n"
		  "# TYPE mxgate_smtp_tls_cipher_total counter\n"
		  "mxgate_smtp_tls_cipher_total{lcore=\"1\",version=\"TLSv1.3\",cipher=\"X\"} 2\n"
		  "mxgate_smtp_tls_cipher_total{lcore=\"2\",version=\"TLSv1.2\",cipher=\"Y\"} 3\n"
		  "# HELP mxgate_smtp_timeouts_after_total Client deadlines missed, by the last command.\n"
		  "# TYPE mxgate_smtp_timeouts_after_total counter\n"
		  "mxgate_smtp_timeouts_after_total{lcore=\"1\",after=\"EHLO\"} 1\n"
		  "# TYPE mxgate_no_such_thing untyped\n"
		  "mxgate_no_such_thing 5\n"
		  "# HELP mxgate_tsc_hz TSC frequency in Hz: divides the cycle counters into seconds.\n"
		  "# TYPE mxgate_tsc_hz gauge\n"
		  "mxgate_tsc_hz 1000\n");
	free(out);
}

/*
 * A histogram's _bucket, _sum and _count samples are one family, headed
 * once as a histogram; the same suffixes on a counter's name, or on no
 * family, are not taken for it.
 */
TEST(render_histogram)
{
	static const char in[] =
		"mxgate_smtp_tls_handshake_seconds_bucket{lcore=\"1\",le=\"0.001\"} 2\n"
		"mxgate_smtp_tls_handshake_seconds_bucket{lcore=\"1\",le=\"+Inf\"} 3\n"
		"mxgate_smtp_tls_handshake_seconds_sum{lcore=\"1\"} 0.004100\n"
		"mxgate_smtp_tls_cipher_total{lcore=\"1\",version=\"TLSv1.3\",cipher=\"X\"} 2\n"
		"mxgate_smtp_tls_handshake_seconds_count{lcore=\"1\"} 3\n"
		"mxgate_smtp_tls_cipher_total_count 1\n"
		"mxgate_smtp_tls_handshake_seconds_max 1\n";
	char *out = NULL;
	size_t len = 0, flen = 0;
	FILE *f = open_memstream(&out, &len);
	const struct metric_family *mf;

	CHECK_EQ(metric_render(f, in, sizeof(in) - 1), 2);
	fclose(f);
	CHECK_STR(out,
		  "# HELP mxgate_smtp_tls_handshake_seconds Completed client TLS handshakes by time, from the ClientHello's "
		  "first bytes to the handshake's end.\n"
		  "# TYPE mxgate_smtp_tls_handshake_seconds histogram\n"
		  "mxgate_smtp_tls_handshake_seconds_bucket{lcore=\"1\",le=\"0.001\"} 2\n"
		  "mxgate_smtp_tls_handshake_seconds_bucket{lcore=\"1\",le=\"+Inf\"} 3\n"
		  "mxgate_smtp_tls_handshake_seconds_sum{lcore=\"1\"} 0.004100\n"
		  "mxgate_smtp_tls_handshake_seconds_count{lcore=\"1\"} 3\n"
		  "# HELP mxgate_smtp_tls_cipher_total TLS handshakes, by protocol version and cipher.\n"
		  "# TYPE mxgate_smtp_tls_cipher_total counter\n"
		  "mxgate_smtp_tls_cipher_total{lcore=\"1\",version=\"TLSv1.3\",cipher=\"X\"} 2\n"
		  "# TYPE mxgate_smtp_tls_cipher_total_count untyped\n"
		  "mxgate_smtp_tls_cipher_total_count 1\n"
		  "# TYPE mxgate_smtp_tls_handshake_seconds_max untyped\n"
		  "mxgate_smtp_tls_handshake_seconds_max 1\n");
	free(out);
	mf = metric_family_of_sample("mxgate_smtp_tls_handshake_seconds_sum", 37, &flen);
	CHECK(mf != NULL && mf->type == METRIC_HISTOGRAM);
	CHECK_EQ(flen, 33);
	CHECK(metric_family_of_sample("_count", 6, &flen) == NULL);
	CHECK(metric_family_of_sample("mxgate_smtp_tls_handshake_seconds", 33, &flen) != NULL);
	CHECK_STR(metric_type_name(METRIC_HISTOGRAM), "histogram");
}

TEST(round_histogram_printed)
{
	size_t len = 0;
	char *text = print_all(&len);

	CHECK(strstr(text, "mxgate_worker_busy_round_seconds_bucket{lcore=\"1\",le=\"1e-05\"} 5\n"));
	CHECK(strstr(text, "mxgate_worker_busy_round_seconds_bucket{lcore=\"1\",le=\"5e-05\"} 5\n"));
	CHECK(strstr(text, "mxgate_worker_busy_round_seconds_bucket{lcore=\"1\",le=\"0.0001\"} 7\n"));
	CHECK(strstr(text, "mxgate_worker_busy_round_seconds_bucket{lcore=\"1\",le=\"0.01\"} 7\n"));
	CHECK(strstr(text, "mxgate_worker_busy_round_seconds_bucket{lcore=\"1\",le=\"+Inf\"} 8\n"));
	CHECK(strstr(text, "mxgate_worker_busy_round_seconds_sum{lcore=\"1\"} 1.500001\n"));
	CHECK(strstr(text, "mxgate_worker_busy_round_seconds_count{lcore=\"1\"} 8\n"));
	CHECK(strstr(text, "mxgate_worker_busy_round_seconds_bucket{lcore=\"2\"") == NULL);
	free(text);
}

TEST(render_of_everything_printed)
{
	size_t len = 0, olen = 0;
	char *text = print_all(&len), *out = NULL, *line, *save = NULL, prev[256] = "";
	FILE *f = open_memstream(&out, &olen);
	unsigned helps = 0, types = 0, samples = 0, regrouped = 0;
	char seen[8192] = " ";

	CHECK_EQ(metric_render(f, text, len), 0);
	fclose(f);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[256];

		if (strncmp(line, "# HELP ", 7) == 0) {
			helps++;
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			types++;
			continue;
		}
		samples++;
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(line, "{ "), line);
		if (strcmp(name, prev) != 0) {
			char key[260];

			/* a family's lines come in one block */
			snprintf(key, sizeof(key), " %s ", name);
			if (strstr(seen, key))
				regrouped++;
			else if (strlen(seen) + strlen(key) < sizeof(seen))
				strcat(seen, key + 1);
			snprintf(prev, sizeof(prev), "%s", name);
		}
	}
	CHECK(samples > 100);
	CHECK_EQ(helps, types);
	CHECK(helps > 50);
	CHECK_EQ(regrouped, 0);
	free(out);
	free(text);
}

int main(void)
{
	RUN(table_is_sane);
	RUN(every_printed_series_has_a_row);
	RUN(members_are_labelled_series);
	RUN(literal_names_in_the_sources_have_rows);
	RUN(render_histogram);
	RUN(render_heads_each_family_once);
	RUN(round_histogram_printed);
	RUN(render_of_everything_printed);
	return t_done("test_metrics");
}
