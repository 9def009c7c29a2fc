/*
 * test_config.c - unit tests of common/config.c: the lab configuration
 * field by field, defaults, continuation and comment lines, last-wins and
 * its warning, the non-default listing (cfg_show_set),
 * CRLF, line length limits, cfg_load() on real files, and a table of bad
 * configurations, each of which must fail with a message that names the
 * right line and key; SIGHUP's live/restart flag of every key, against
 * docs/mxgate.conf.5, and cfg_merge().
 */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "common/config.h"
#include "tests/unit/t.h"

#define LAB_CONF \
	"# mxgate lab configuration\n" \
	"hostname = mx.lab.example\n" \
	"outside_device = net_tap0\n" \
	"outside_ipv4 = 198.18.0.2/24\n" \
	"outside_gateway4 = 198.18.0.1\n" \
	"outside_ipv6 = 2001:2::2/64\n" \
	"outside_gateway6 = 2001:2::1\n" \
	"inside_device = net_tap1\n" \
	"inside_ipv4 = 198.18.1.2/24\n" \
	"inside_ipv6 = 2001:2:0:1::2/64\n" \
	"mbuf_pool_size = 16383\n" \
	"worker_lcores = 1\n" \
	"echo_port = 7\n" \
	"idle_sleep_us = 100\n" \
	"impair = reorder=10 duplicate=1 delay=2ms\n"

/* Two lines that make a valid configuration; a bad line appended is line 3. */
#define BASE "outside_device = net_tap0\noutside_ipv4 = 198.18.0.2/24\n"

static struct mx_config cfg;
static char err[512];

/* Parse text as "t.conf"; on an unexpected failure print the message. */
static int parse_ok(const char *text)
{
	int rc = cfg_parse("t.conf", text, &cfg, err, sizeof(err));

	if (rc != 0)
		fprintf(stderr, "  unexpected error: %s\n", err);
	return rc;
}

/* Parse text that must fail with a one-line message holding want1 and want2 (NULL = none). */
static void expect_error(const char *text, const char *want1, const char *want2)
{
	int rc;

	memset(err, 0, sizeof(err));
	rc = cfg_parse("t.conf", text, &cfg, err, sizeof(err));
	CHECK_EQ(rc, -1);
	CHECK(strchr(err, '\n') == NULL);
	if (strstr(err, want1) == NULL || (want2 != NULL && strstr(err, want2) == NULL)) {
		CHECK(0);
		fprintf(stderr, "  text: \"%.200s\"\n  want: \"%s\" and \"%s\"\n  got:  \"%s\"\n",
			text, want1, want2 != NULL ? want2 : "", err);
	} else {
		CHECK(1);
	}
}

/* The address text a in network byte order. */
static uint32_t ip4(const char *a)
{
	struct in_addr in;

	if (inet_pton(AF_INET, a, &in) != 1)
		abort();
	return in.s_addr;
}

/* Whether the 16 bytes at got are the IPv6 address text a. */
static int ip6_eq(const uint8_t *got, const char *a)
{
	uint8_t want[16];

	if (inet_pton(AF_INET6, a, want) != 1)
		abort();
	return memcmp(got, want, 16) == 0;
}

/* Check that cfg holds the lab configuration. */
static void check_lab(const char *path)
{
	const struct cfg_port *o = &cfg.ports[0], *i = &cfg.ports[1];

	CHECK_STR(cfg.path, path);
	CHECK_STR(cfg.hostname, "mx.lab.example");
	CHECK_EQ(cfg.nports, 2);
	CHECK_EQ(o->role, CFG_ROLE_OUTSIDE);
	CHECK_STR(o->dev, "net_tap0");
	CHECK_EQ(o->has_ip4, 1);
	CHECK_EQ(o->ip4, ip4("198.18.0.2"));
	CHECK_EQ(o->ip4_plen, 24);
	CHECK_EQ(o->has_gw4, 1);
	CHECK_EQ(o->gw4, ip4("198.18.0.1"));
	CHECK_EQ(o->has_ip6, 1);
	CHECK(ip6_eq(o->ip6, "2001:2::2"));
	CHECK_EQ(o->ip6_prefix, 64);
	CHECK_EQ(o->has_gw6, 1);
	CHECK(ip6_eq(o->gw6, "2001:2::1"));
	CHECK_EQ(o->mtu, 1500);
	CHECK_EQ(i->role, CFG_ROLE_INSIDE);
	CHECK_STR(i->dev, "net_tap1");
	CHECK_EQ(i->has_ip4, 1);
	CHECK_EQ(i->ip4, ip4("198.18.1.2"));
	CHECK_EQ(i->ip4_plen, 24);
	CHECK_EQ(i->has_gw4, 0);
	CHECK_EQ(i->has_ip6, 1);
	CHECK(ip6_eq(i->ip6, "2001:2:0:1::2"));
	CHECK_EQ(i->ip6_prefix, 64);
	CHECK_EQ(i->has_gw6, 0);
	CHECK_EQ(i->mtu, 1500);
	CHECK_EQ(cfg.nworkers, 1);
	CHECK_EQ(cfg.worker_lcores[0], 1);
	CHECK_EQ(cfg.mbuf_pool_size, 16383);
	CHECK_EQ(cfg.mbuf_cache_size, 256);
	CHECK_EQ(cfg.rx_ring_size, 1024);
	CHECK_EQ(cfg.tx_ring_size, 1024);
	CHECK_EQ(cfg.max_conns, 65536);
	CHECK_EQ(cfg.syn_backlog, 1024);
	CHECK_EQ(cfg.reasm_limit, 262144);
	CHECK_EQ(cfg.reasm_total, 67108864);
	CHECK_EQ(cfg.rcvbuf, 262144);
	CHECK_EQ(cfg.sndbuf, 262144);
	CHECK_EQ(cfg.timewait_max, 16384);
	CHECK_EQ(cfg.timewait_ms, 60000);
	CHECK_EQ(cfg.echo_port, 7);
	CHECK_EQ(cfg.echo_idle_ms, 300000);
	CHECK_EQ(cfg.idle_sleep_us, 100);
	CHECK_STR(cfg.stats_file, "");
	CHECK_EQ(cfg.impair.enabled, 1);
	CHECK_EQ(cfg.impair.reorder_pct, 10);
	CHECK_EQ(cfg.impair.dup_pct, 1);
	CHECK_EQ(cfg.impair.delay_us, 2000);
}

TEST(lab_config)
{
	CHECK_EQ(cfg_parse("lab.conf", LAB_CONF, &cfg, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	check_lab("lab.conf");
	CHECK(cfg_port_by_role(&cfg, CFG_ROLE_OUTSIDE) == &cfg.ports[0]);
	CHECK(cfg_port_by_role(&cfg, CFG_ROLE_INSIDE) == &cfg.ports[1]);
	CHECK(cfg_port_by_role(&cfg, CFG_ROLE_NONE) == NULL);
}

/* The lab configuration with "\r\n" line ends. */
TEST(crlf)
{
	static char text[2048];
	const char *s;
	char *d = text;

	for (s = LAB_CONF; *s != '\0'; s++) {
		if (*s == '\n')
			*d++ = '\r';
		*d++ = *s;
	}
	*d = '\0';
	CHECK_EQ(cfg_parse("lab.conf", text, &cfg, err, sizeof(err)), 0);
	check_lab("lab.conf");
	/* a continuation line with CRLF too */
	CHECK_EQ(parse_ok(BASE "worker_lcores = 1,\r\n  2\r\n"), 0);
	CHECK_EQ(cfg.nworkers, 2);
	CHECK_EQ(cfg.worker_lcores[1], 2);
}

TEST(defaults)
{
	const struct cfg_port *o;

	CHECK_EQ(parse_ok("outside_device = net_tap0\noutside_ipv6 = 2001:db8::1/64"), 0);
	CHECK_STR(cfg.path, "t.conf");
	CHECK_STR(cfg.hostname, "localhost");
	CHECK_EQ(cfg.nports, 1);
	o = cfg_port_by_role(&cfg, CFG_ROLE_OUTSIDE);
	CHECK(o == &cfg.ports[0]);
	CHECK(cfg_port_by_role(&cfg, CFG_ROLE_INSIDE) == NULL);
	CHECK_EQ(o->has_ip4, 0);
	CHECK_EQ(o->has_gw4, 0);
	CHECK_EQ(o->has_ip6, 1);
	CHECK_EQ(o->has_gw6, 0);
	CHECK_EQ(o->mtu, 1500);
	CHECK_EQ(cfg.nworkers, 0);
	CHECK_EQ(cfg.mbuf_pool_size, 32767);
	CHECK_EQ(cfg.mbuf_cache_size, 256);
	CHECK_EQ(cfg.rx_ring_size, 1024);
	CHECK_EQ(cfg.tx_ring_size, 1024);
	CHECK_EQ(cfg.max_conns, 65536);
	CHECK_EQ(cfg.syn_backlog, 1024);
	CHECK_EQ(cfg.reasm_limit, 262144);
	CHECK_EQ(cfg.reasm_total, 67108864);
	CHECK_EQ(cfg.rcvbuf, 262144);
	CHECK_EQ(cfg.sndbuf, 262144);
	CHECK_EQ(cfg.timewait_max, 16384);
	CHECK_EQ(cfg.timewait_ms, 60000);
	CHECK_EQ(cfg.echo_port, 0);
	CHECK_EQ(cfg.echo_idle_ms, 300000);
	CHECK_EQ(cfg.idle_sleep_us, 0);
	CHECK_STR(cfg.stats_file, "");
	CHECK_EQ(cfg.impair.enabled, 0);
	CHECK_EQ(cfg.impair.reorder_pct, 0);
	CHECK_EQ(cfg.impair.dup_pct, 0);
	CHECK_EQ(cfg.impair.delay_us, 0);

	/* a second parse starts from the defaults again */
	CHECK_EQ(parse_ok(LAB_CONF), 0);
	CHECK_EQ(parse_ok(BASE), 0);
	CHECK_STR(cfg.hostname, "localhost");
	CHECK_EQ(cfg.nports, 1);
	CHECK_EQ(cfg.impair.enabled, 0);
	CHECK_EQ(cfg.nworkers, 0);
}

TEST(continuation)
{
	CHECK_EQ(parse_ok(BASE "worker_lcores = 1,\n  2\n\t3-4\n"), 0);
	CHECK_EQ(cfg.nworkers, 4);
	CHECK_EQ(cfg.worker_lcores[0], 1);
	CHECK_EQ(cfg.worker_lcores[3], 4);
	/* the value may start on the continuation line; pieces are trimmed */
	CHECK_EQ(parse_ok(BASE "stats_file =\n    /var/tmp/a   \n  b\n"), 0);
	CHECK_STR(cfg.stats_file, "/var/tmp/a b");
	/* comment and blank lines do not end a logical line (Postfix) */
	CHECK_EQ(parse_ok(BASE "impair = reorder=5\n# note\n\n   \n  duplicate=2\n"), 0);
	CHECK_EQ(cfg.impair.reorder_pct, 5);
	CHECK_EQ(cfg.impair.dup_pct, 2);
	CHECK_EQ(cfg.impair.delay_us, 1000);
	/* the last entry of a file without a final newline */
	CHECK_EQ(parse_ok(BASE "worker_lcores = 1\n 2"), 0);
	CHECK_EQ(cfg.nworkers, 2);
	/* "a b" is no hostname, and the error names the key's line */
	expect_error(BASE "hostname = a\n b", "t.conf:3: hostname: 'a b'", NULL);
	expect_error(BASE "outside_mtu = 1500\n  1400\n",
		     "t.conf:3: outside_mtu: '1500 1400'", NULL);
}

TEST(comments)
{
	CHECK_EQ(parse_ok("# a comment\n#hostname = x\n   # indented comment\n\t#\n"
			  BASE "#\n"), 0);
	CHECK_STR(cfg.hostname, "localhost");
	/* only whole-line comments: a '#' after a value is part of it */
	CHECK_EQ(parse_ok(BASE "stats_file = /tmp/x # not a comment\n"), 0);
	CHECK_STR(cfg.stats_file, "/tmp/x # not a comment");
	expect_error(BASE "hostname = mx # comment\n", "t.conf:3: hostname:", "mx # comment");
}

TEST(last_wins)
{
	CHECK_EQ(parse_ok(BASE "hostname = a\nhostname = b.example\n"), 0);
	CHECK_STR(cfg.hostname, "b.example");
	CHECK_EQ(parse_ok(BASE "outside_ipv4 = 10.0.0.5/8\n"), 0);
	CHECK_EQ(cfg.ports[0].ip4, ip4("10.0.0.5"));
	CHECK_EQ(cfg.ports[0].ip4_plen, 8);
	/* impair is replaced as a whole */
	CHECK_EQ(parse_ok(BASE "impair = reorder=10\nimpair = duplicate=5\n"), 0);
	CHECK_EQ(cfg.impair.reorder_pct, 0);
	CHECK_EQ(cfg.impair.dup_pct, 5);
	CHECK_EQ(cfg.impair.delay_us, 0);
	CHECK_EQ(cfg.impair.enabled, 1);
	CHECK_EQ(parse_ok(BASE "worker_lcores = 1-4\nworker_lcores = 7\n"), 0);
	CHECK_EQ(cfg.nworkers, 1);
	CHECK_EQ(cfg.worker_lcores[0], 7);
	/* a later bad value is still an error, even if an earlier one was good */
	expect_error(BASE "echo_port = 25\necho_port = 70000\n", "t.conf:4: echo_port:", NULL);
}

/* Ports in the order their _device keys first appear; address keys before or after. */
TEST(port_order)
{
	CHECK_EQ(parse_ok("inside_ipv4 = 10.1.0.2/16\n"
			  "inside_device = a\n"
			  "outside_gateway4 = 10.2.0.1\n"
			  "outside_device = b\n"
			  "outside_ipv4 = 10.2.0.2/16\n"
			  "inside_device = c\n"
			  "inside_mtu = 9000\n"), 0);
	CHECK_EQ(cfg.nports, 2);
	CHECK_EQ(cfg.ports[0].role, CFG_ROLE_INSIDE);
	CHECK_STR(cfg.ports[0].dev, "c");
	CHECK_EQ(cfg.ports[0].mtu, 9000);
	CHECK_EQ(cfg.ports[0].ip4, ip4("10.1.0.2"));
	CHECK_EQ(cfg.ports[1].role, CFG_ROLE_OUTSIDE);
	CHECK_STR(cfg.ports[1].dev, "b");
	CHECK_EQ(cfg.ports[1].gw4, ip4("10.2.0.1"));
	CHECK_EQ(cfg.ports[1].mtu, 1500);
	CHECK(cfg_port_by_role(&cfg, CFG_ROLE_OUTSIDE) == &cfg.ports[1]);
	CHECK(cfg_port_by_role(&cfg, CFG_ROLE_INSIDE) == &cfg.ports[0]);
}

/* Values at the edges that must be accepted. */
TEST(good_values)
{
	static const char *const good[] = {
		BASE "hostname = a\n",
		BASE "hostname = MX-1.Lab-2.example\n",
		BASE "hostname = 123456789012345678901234567890123456789012345678901234567890123\n",
		"outside_device = 0000:01:00.0\noutside_ipv4 = 10.0.0.1/32\n",
		"outside_device = net_tap0,iface=mx0\noutside_ipv4 = 10.0.0.0/31\n"
		"outside_gateway4 = 10.0.0.1\n",
		"outside_device = x\noutside_ipv4 = 10.0.0.1/1\n",
		"outside_device = x\noutside_ipv6 = 2001:db8::1/128\n",
		"outside_device = x\noutside_ipv6 = 2001:db8::1/1\n",
		"outside_device = x\noutside_ipv6 = 2001:db8::1/64\noutside_gateway6 = fe80::1\n",
		BASE "outside_mtu = 576\n",
		BASE "outside_mtu = 9000\n",
		"outside_device = x\noutside_ipv6 = 2001:db8::1/64\noutside_mtu = 1280\n",
		BASE "stats_file =\n",
		BASE "worker_lcores =\n",
		BASE "impair =\n",
		BASE "impair = off\n",
		BASE "mbuf_pool_size = 0001023\n",
		/* prefixes that touch but do not overlap */
		BASE "inside_device = y\ninside_ipv4 = 198.18.1.2/24\n",
		"outside_device = x\noutside_ipv4 = 10.0.0.2/25\n"
		"inside_device = y\ninside_ipv4 = 10.0.0.130/25\n",
		/* both ports may share an IPv6 prefix, just not an address */
		"outside_device = x\noutside_ipv6 = 2001:db8::1/64\n"
		"inside_device = y\ninside_ipv6 = 2001:db8::2/64\n",
		/* key = value without blanks; '=' in the value */
		"outside_device=net_tap0,mac=02:00:00:00:00:01\noutside_ipv4=10.0.0.1/8\n",
	};
	unsigned i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (parse_ok(good[i]) != 0)
			fprintf(stderr, "  text: \"%s\"\n", good[i]);
		CHECK_STR(err, "");
	}
	CHECK_EQ(parse_ok("outside_device=net_tap0,mac=02:00:00:00:00:01\n"
			  "outside_ipv4=10.0.0.1/8\n"), 0);
	CHECK_STR(cfg.ports[0].dev, "net_tap0,mac=02:00:00:00:00:01");
}

/* Every integer key: its bounds are accepted and stored, one past them is not. */
TEST(integer_ranges)
{
	static const struct {
		const char *key;
		size_t off;
		unsigned min, max;
	} keys[] = {
#define K(n, lo, hi) { #n, offsetof(struct mx_config, n), lo, hi }
		K(mbuf_pool_size, 1023, 16777215),
		K(mbuf_cache_size, 0, 512),
		K(rx_ring_size, 64, 16384),
		K(tx_ring_size, 64, 16384),
		K(max_conns, 16, 4194304),
		K(syn_backlog, 1, 1048576),
		K(reasm_limit, 0, 67108864),
		K(reasm_total, 0, 1073741824),
		K(rcvbuf, 4096, 16777216),
		K(sndbuf, 4096, 16777216),
		K(timewait_max, 0, 4194304),
		K(timewait_ms, 0, 600000),
		K(echo_port, 0, 65535),
		K(echo_idle_ms, 1000, 86400000),
		K(idle_sleep_us, 0, 100000),
		K(smtpd_auth_queue, 1, 65536),
		K(smtpd_auth_ipv6_48_limit, 0, 65536),
#undef K
	};
	static const char *const junk[] = {
		"-1", "+5", "0x40", "1e3", "12 34", "1.5", "64k", "99999999999999999999999",
		"4294967296", "4294967360",
	};
	char text[256], want[128];
	unsigned i, j;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *k = keys[i].key;
		unsigned *field = (unsigned *)((char *)&cfg + keys[i].off);

		snprintf(text, sizeof(text), BASE "%s = %u\n", k, keys[i].min);
		CHECK_EQ(parse_ok(text), 0);
		CHECK_EQ(*field, keys[i].min);
		snprintf(text, sizeof(text), BASE "%s = %u\n", k, keys[i].max);
		CHECK_EQ(parse_ok(text), 0);
		CHECK_EQ(*field, keys[i].max);

		snprintf(want, sizeof(want), "t.conf:3: %s: ", k);
		snprintf(text, sizeof(text), BASE "%s = %u\n", k, keys[i].max + 1);
		expect_error(text, want, "out of range");
		if (keys[i].min > 0) {
			snprintf(text, sizeof(text), BASE "%s = %u\n", k, keys[i].min - 1);
			expect_error(text, want, "out of range");
		}
		snprintf(text, sizeof(text), BASE "%s =\n", k);
		expect_error(text, want, "missing value");
		for (j = 0; j < sizeof(junk) / sizeof(junk[0]); j++) {
			snprintf(text, sizeof(text), BASE "%s = %s\n", k, junk[j]);
			expect_error(text, want, NULL);
		}
	}
	CHECK_EQ(parse_ok(BASE "rx_ring_size = 2048\ntx_ring_size = 128\n"), 0);
	CHECK_EQ(cfg.rx_ring_size, 2048);
	CHECK_EQ(cfg.tx_ring_size, 128);
	expect_error(BASE "rx_ring_size = 1000\n",
		     "t.conf:3: rx_ring_size: 1000 is not a power of two", NULL);
	expect_error(BASE "tx_ring_size = 16383\n", "t.conf:3: tx_ring_size: ", "power of two");
	/* the smallest pool still takes the largest cache */
	CHECK_EQ(parse_ok(BASE "mbuf_pool_size = 1023\nmbuf_cache_size = 512\n"), 0);
}

/*
 * mxgate-control's addresses: checked where the file is read, so that
 * mxgate --check finds what mxgate-control would refuse to start with.
 */
TEST(control_addresses)
{
	static const char *const good[] = {
		"redis_server = unix:/run/redis/redis.sock\n", "redis_server = 127.0.0.1:6379\n",
		"redis_server = [2001:2::1]:6379\n", "redis_server = redis.example:6379\n",
		"redis_server =\n", "metrics_listen = 127.0.0.1:9465\n", "metrics_listen = [::1]:9465\n",
		"metrics_listen =\n",
		"redis_sentinels = a.example:26379, [::1]:26380 10.0.0.1:26379\nredis_master_name = m\n",
	};
	static const char *const bad[][2] = {
		{ "redis_server = nonsense\n", "t.conf:3: redis_server: " },
		{ "redis_server = 127.0.0.1:0\n", "t.conf:3: redis_server: " },
		{ "redis_server = 127.0.0.1:65536\n", "t.conf:3: redis_server: " },
		{ "redis_server = unix:\n", "t.conf:3: redis_server: " },
		{ "redis_server = [::1:6379\n", "t.conf:3: redis_server: " },
		{ "metrics_listen = garbage\n", "t.conf:3: metrics_listen: " },
		{ "metrics_listen = localhost:9465\n", "t.conf:3: metrics_listen: " },
		{ "metrics_listen = :9465\n", "t.conf:3: metrics_listen: " },
		{ "metrics_listen = 127.0.0.1:99999\n", "t.conf:3: metrics_listen: " },
		{ "metrics_listen = unix:/run/m.sock\n", "t.conf:3: metrics_listen: " },
		{ "metrics_listen = [127.0.0.1]:9465\n", "t.conf:3: metrics_listen: " },
		{ "redis_sentinels = a:1 unix:/run/s.sock\nredis_master_name = m\n", "t.conf:3: redis_sentinels: " },
		{ "redis_sentinels = a:1 b\nredis_master_name = m\n", "t.conf:3: redis_sentinels: " },
		{ "redis_sentinels = a:1 b:2 c:3 d:4 e:5 f:6 g:7 h:8 i:9\nredis_master_name = m\n",
		  "t.conf:3: redis_sentinels: " },
		{ "redis_sentinels = a:1\n", "redis_sentinels: " },
	};
	char text[512];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), BASE "%s", good[i]);
		CHECK_EQ(parse_ok(text), 0);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), BASE "%s", bad[i][0]);
		expect_error(text, bad[i][1], NULL);
	}
	expect_error(BASE "redis_sentinels = a:1\n", "redis_sentinels", "redis_master_name is not");
	CHECK_EQ(parse_ok(BASE "redis_server = 127.0.0.1:6379\nmetrics_listen = [::1]:9465\n"), 0);
	CHECK_STR(cfg.redis_server, "127.0.0.1:6379");
	CHECK_STR(cfg.metrics_listen, "[::1]:9465");
}

TEST(worker_lcores)
{
	static const struct {
		const char *val;
		unsigned n;
		unsigned ids[CFG_MAX_WORKERS];
	} cases[] = {
		{ "1", 1, { 1 } },
		{ "1,2", 2, { 1, 2 } },
		{ "1-3", 3, { 1, 2, 3 } },
		{ "1 3-4", 3, { 1, 3, 4 } },
		{ "5, 2 ,9", 3, { 5, 2, 9 } },
		{ "0,1023", 2, { 0, 1023 } },
		{ "7-7", 1, { 7 } },
		{ "0-15", 16, { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 } },
		{ "", 0, { 0 } },
	};
	static const char *const bad[] = {
		"1,,2", ",1", "1,", ",", "1024", "3-1", "1-x", "x", "-1", "1-", "1-2-3",
		"+1", "0x1", "1 1", "1,0-2", "0-16", "1-3 2", "1;2",
	};
	char text[256];
	unsigned i, j;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), BASE "worker_lcores = %s\n", cases[i].val);
		CHECK_EQ(parse_ok(text), 0);
		CHECK_EQ(cfg.nworkers, cases[i].n);
		for (j = 0; j < cases[i].n; j++)
			CHECK_EQ(cfg.worker_lcores[j], cases[i].ids[j]);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), BASE "worker_lcores = %s\n", bad[i]);
		expect_error(text, "t.conf:3: worker_lcores: ", NULL);
	}
	expect_error(BASE "worker_lcores = 1,2,1\n",
		     "t.conf:3: worker_lcores: lcore 1 listed twice", NULL);
	expect_error(BASE "worker_lcores = 0-16\n", "t.conf:3: worker_lcores: more than 16", NULL);
}

TEST(impair)
{
	static const struct {
		const char *val;
		unsigned enabled, reorder, dup, delay;
	} cases[] = {
		{ "off", 0, 0, 0, 0 },
		{ "", 0, 0, 0, 0 },
		{ "reorder=10 duplicate=1 delay=2ms", 1, 10, 1, 2000 },
		{ "reorder=5", 1, 5, 0, 1000 },
		{ "reorder=5%,delay=300us", 1, 5, 0, 300 },
		{ "duplicate=100%", 1, 0, 100, 0 },
		{ "delay=0", 0, 0, 0, 0 },
		{ "reorder=0, duplicate=0", 0, 0, 0, 0 },
		{ "reorder=3 delay=0", 1, 3, 0, 0 },
		{ "delay=1000000", 1, 0, 0, 1000000 },
		{ "delay=1000ms", 1, 0, 0, 1000000 },
		{ "delay=7", 1, 0, 0, 7 },
		{ "duplicate=0 reorder=100", 1, 100, 0, 1000 },
	};
	static const char *const bad[] = {
		"delay=1001ms", "delay=1000001", "delay=5s", "delay=", "delay=ms", "delay=-1",
		"delay=4294967296ms", "reorder=101", "reorder=-1", "reorder=10%%", "reorder=%",
		"reorder=1.5", "reorder=", "reorder=1,,duplicate=1", "reorder=1,", "on",
		"Reorder=1",
	};
	char text[256];
	unsigned i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), BASE "impair = %s\n", cases[i].val);
		CHECK_EQ(parse_ok(text), 0);
		CHECK_EQ(cfg.impair.enabled, cases[i].enabled);
		CHECK_EQ(cfg.impair.reorder_pct, cases[i].reorder);
		CHECK_EQ(cfg.impair.dup_pct, cases[i].dup);
		CHECK_EQ(cfg.impair.delay_us, cases[i].delay);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), BASE "impair = %s\n", bad[i]);
		expect_error(text, "t.conf:3: impair: ", NULL);
	}
	expect_error(BASE "impair = reorder=1 jitter=5\n",
		     "t.conf:3: impair: unknown item 'jitter=5'", NULL);
	expect_error(BASE "impair = off reorder=1\n", "t.conf:3: impair: unknown item 'off'", NULL);
	expect_error(BASE "impair = reorder\n", "t.conf:3: impair: 'reorder' needs a value", NULL);
	expect_error(BASE "impair = reorder=1 reorder=2\n",
		     "t.conf:3: impair: 'reorder' given twice", NULL);
}

/* Bad configurations: each must fail, naming the line and the key. */
struct bad_case {
	const char *text;
	const char *want1, *want2;
};

static const struct bad_case bad_cases[] = {
	/* syntax and keys */
	{ BASE "foo = 1\n", "t.conf:3: unknown key 'foo'", NULL },
	{ BASE "Hostname = x\n", "t.conf:3: unknown key 'Hostname'", NULL },
	{ BASE "outside_dev = x\n", "t.conf:3: unknown key 'outside_dev'", NULL },
	{ BASE "dmz_device = x\n", "t.conf:3: unknown key 'dmz_device'", NULL },
	{ BASE "just words\n", "t.conf:3: syntax error: expected 'key = value'", NULL },
	{ BASE "= value\n", "t.conf:3: syntax error", NULL },
	{ BASE "two words = value\n", "t.conf:3: syntax error", NULL },
	{ "  indented = first\n" BASE, "t.conf:1: syntax error", NULL },
	{ "# only a comment\n\tcontinued\n" BASE, "t.conf:2: syntax error", NULL },
	/* ports */
	{ "", "t.conf: no port", NULL },
	{ "# nothing\n\n", "t.conf: no port", NULL },
	{ "hostname = mx\n", "t.conf: no port", NULL },
	{ "outside_device = net_tap0\n",
	  "t.conf: outside_device: port 'net_tap0' has neither", NULL },
	{ BASE "inside_ipv4 = 198.18.1.2/24\n",
	  "t.conf: inside_ipv4: given (line 3)", "inside_device" },
	{ BASE "inside_mtu = 1500\n", "t.conf: inside_mtu: given (line 3)", "inside_device" },
	{ BASE "inside_gateway6 = fe80::1\n", "t.conf: inside_gateway6: given (line 3)", NULL },
	{ "outside_ipv4 = 198.18.0.2/24\n",
	  "t.conf: outside_ipv4: given (line 1)", "outside_device" },
	{ BASE "inside_device = net_tap0\ninside_ipv4 = 198.18.1.2/24\n",
	  "t.conf: outside_device and inside_device both name device 'net_tap0'", NULL },
	{ BASE "inside_device = net_tap1\ninside_ipv4 = 198.18.0.2/24\n",
	  "t.conf: outside_ipv4 and inside_ipv4 both use address 198.18.0.2", NULL },
	{ BASE "inside_device = net_tap1\ninside_ipv4 = 198.18.1.2/16\n",
	  "t.conf: outside_ipv4 198.18.0.2/24 and inside_ipv4 198.18.1.2/16 overlap", NULL },
	{ BASE "inside_device = net_tap1\ninside_ipv4 = 198.18.0.200/25\n",
	  "t.conf: outside_ipv4", "overlap" },
	{ BASE "outside_ipv6 = 2001:db8::1/64\n"
	  "inside_device = net_tap1\ninside_ipv6 = 2001:db8::1/48\n",
	  "t.conf: outside_ipv6 and inside_ipv6 both use address 2001:db8::1", NULL },
	/* device */
	{ "outside_device = net tap0\noutside_ipv4 = 10.0.0.1/8\n",
	  "t.conf:1: outside_device: ", "white space" },
	{ "outside_device =\noutside_ipv4 = 10.0.0.1/8\n",
	  "t.conf:1: outside_device: missing value", NULL },
	{ "outside_device = net_tap0\n  extra\noutside_ipv4 = 10.0.0.1/8\n",
	  "t.conf:1: outside_device: ", NULL },
	{ "outside_device = 1234567890123456789012345678901234567890123456789012345678901234\n"
	  "outside_ipv4 = 10.0.0.1/8\n", "t.conf:1: outside_device: ", "longer than 63" },
	/* IPv4 */
	{ "outside_device = x\noutside_ipv4 = 198.18.0.2/33\n",
	  "t.conf:2: outside_ipv4: bad IPv4 prefix '198.18.0.2/33'", NULL },
	{ BASE "outside_ipv4 = 198.18.0.2/0\n", "t.conf:3: outside_ipv4: bad IPv4 prefix", NULL },
	{ BASE "outside_ipv4 = 198.18.0.2\n", "t.conf:3: outside_ipv4: bad IPv4 prefix", NULL },
	{ BASE "outside_ipv4 = 198.18.0.2/\n", "t.conf:3: outside_ipv4: bad IPv4 prefix", NULL },
	{ BASE "outside_ipv4 = 198.18.0.2/+24\n", "t.conf:3: outside_ipv4: bad IPv4 prefix", NULL },
	{ BASE "outside_ipv4 = 198.18.0.2/24x\n", "t.conf:3: outside_ipv4: bad IPv4 prefix", NULL },
	{ BASE "outside_ipv4 = 198.18.0/24\n", "t.conf:3: outside_ipv4: bad IPv4 prefix", NULL },
	{ BASE "outside_ipv4 = 198.18.0.256/24\n",
	  "t.conf:3: outside_ipv4: bad IPv4 prefix", NULL },
	{ BASE "outside_ipv4 = 2001:db8::1/24\n", "t.conf:3: outside_ipv4: bad IPv4 prefix", NULL },
	{ BASE "outside_ipv4 = 198.18.0.0/24\n", "t.conf:3: outside_ipv4: ", "network address" },
	{ BASE "outside_ipv4 = 198.18.0.255/24\n", "t.conf:3: outside_ipv4: ", "broadcast" },
	{ BASE "outside_ipv4 = 198.18.0.3/30\n", "t.conf:3: outside_ipv4: ", "broadcast" },
	{ BASE "outside_ipv4 = 224.0.0.1/24\n", "t.conf:3: outside_ipv4: ", "not a unicast" },
	{ BASE "outside_ipv4 = 127.0.0.1/8\n", "t.conf:3: outside_ipv4: ", "not a unicast" },
	/* IPv4 gateway */
	{ BASE "outside_gateway4 = 198.18.0.300\n",
	  "t.conf:3: outside_gateway4: bad IPv4 address", NULL },
	{ BASE "outside_gateway4 = 198.18.0.1/24\n",
	  "t.conf:3: outside_gateway4: bad IPv4 address", NULL },
	{ BASE "outside_gateway4 = 255.255.255.255\n",
	  "t.conf:3: outside_gateway4: ", "not a unicast" },
	{ BASE "outside_gateway4 = 198.18.1.1\n",
	  "t.conf: outside_gateway4: 198.18.1.1 (line 3) is not inside"
	  " outside_ipv4 198.18.0.2/24 (line 2)", NULL },
	{ "outside_gateway4 = 10.0.0.1\noutside_device = x\noutside_ipv4 = 198.18.0.2/24\n",
	  "t.conf: outside_gateway4: 10.0.0.1 (line 1) is not inside", NULL },
	{ BASE "outside_gateway4 = 198.18.0.2\n", "t.conf: outside_gateway4: ", "own address" },
	{ BASE "outside_gateway4 = 198.18.0.0\n",
	  "t.conf: outside_gateway4: ", "network or broadcast" },
	{ "outside_device = x\noutside_ipv6 = 2001:db8::1/64\noutside_gateway4 = 10.0.0.1\n",
	  "t.conf: outside_gateway4: given (line 3) without outside_ipv4", NULL },
	/* IPv6 */
	{ BASE "outside_ipv6 = 2001:2::2\n",
	  "t.conf:3: outside_ipv6: bad IPv6 prefix '2001:2::2'", NULL },
	{ BASE "outside_ipv6 = 2001:2::2/129\n", "t.conf:3: outside_ipv6: bad IPv6 prefix", NULL },
	{ BASE "outside_ipv6 = 2001:2::2/0\n", "t.conf:3: outside_ipv6: bad IPv6 prefix", NULL },
	{ BASE "outside_ipv6 = 2001:::2/64\n", "t.conf:3: outside_ipv6: bad IPv6 prefix", NULL },
	{ BASE "outside_ipv6 = 2001:2::2%eth0/64\n",
	  "t.conf:3: outside_ipv6: bad IPv6 prefix", NULL },
	{ BASE "outside_ipv6 = 198.18.0.2/64\n", "t.conf:3: outside_ipv6: bad IPv6 prefix", NULL },
	{ BASE "outside_ipv6 = ff02::1/64\n", "t.conf:3: outside_ipv6: ", "not a unicast" },
	{ BASE "outside_ipv6 = ::/64\n", "t.conf:3: outside_ipv6: ", "not a unicast" },
	{ BASE "outside_ipv6 = ::1/128\n", "t.conf:3: outside_ipv6: ", "not a unicast" },
	/* IPv6 gateway */
	{ BASE "outside_ipv6 = 2001:2::2/64\noutside_gateway6 = 2001:2::zz\n",
	  "t.conf:4: outside_gateway6: bad IPv6 address", NULL },
	{ BASE "outside_ipv6 = 2001:2::2/64\noutside_gateway6 = ff02::2\n",
	  "t.conf:4: outside_gateway6: ", "not a unicast" },
	{ BASE "outside_ipv6 = 2001:2::2/64\noutside_gateway6 = 2001:3::1\n",
	  "t.conf: outside_gateway6: 2001:3::1 (line 4) is neither inside"
	  " outside_ipv6 2001:2::2/64 (line 3)", NULL },
	{ BASE "outside_ipv6 = 2001:2::2/64\noutside_gateway6 = 2001:2::2\n",
	  "t.conf: outside_gateway6: ", "own address" },
	{ BASE "outside_gateway6 = fe80::1\n",
	  "t.conf: outside_gateway6: given (line 3) without outside_ipv6", NULL },
	/* MTU */
	{ BASE "outside_mtu = 575\n", "t.conf:3: outside_mtu: 575 out of range 576..9000", NULL },
	{ BASE "outside_mtu = 9001\n", "t.conf:3: outside_mtu: ", "out of range" },
	{ BASE "outside_mtu = big\n", "t.conf:3: outside_mtu: ", "not a decimal number" },
	{ BASE "outside_ipv6 = 2001:2::2/64\noutside_mtu = 1279\n",
	  "t.conf: outside_mtu: 1279 (line 4)", "IPv6" },
	/* hostname */
	{ BASE "hostname =\n", "t.conf:3: hostname: missing value", NULL },
	{ BASE "hostname = mx_lab\n", "t.conf:3: hostname: ", NULL },
	{ BASE "hostname = mx..lab\n", "t.conf:3: hostname: ", "empty label" },
	{ BASE "hostname = .mx\n", "t.conf:3: hostname: ", "empty label" },
	{ BASE "hostname = mx.\n", "t.conf:3: hostname: ", "empty label" },
	{ BASE "hostname = -mx.lab\n", "t.conf:3: hostname: ", "'-'" },
	{ BASE "hostname = mx-.lab\n", "t.conf:3: hostname: ", "'-'" },
	{ BASE "hostname = 1234567890123456789012345678901234567890123456789012345678901234\n",
	  "t.conf:3: hostname: ", "longer than 63" },
};

TEST(errors)
{
	unsigned i;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++)
		expect_error(bad_cases[i].text, bad_cases[i].want1, bad_cases[i].want2);
	/* stats_file: 255 bytes are fine, 256 are not */
	{
		static char text[512];
		char *s;

		strcpy(text, BASE "stats_file = /");
		s = text + strlen(text);
		memset(s, 'p', 254);
		strcpy(s + 254, "\n");
		CHECK_EQ(parse_ok(text), 0);
		CHECK_EQ(strlen(cfg.stats_file), 255);
		strcpy(s + 254, "p\n");
		expect_error(text, "t.conf:3: stats_file: path longer than 255", NULL);
	}
	/* the exact format of a line error */
	CHECK_EQ(cfg_parse("lab.conf", "outside_device = net_tap0\n"
			   "outside_ipv4 = 198.18.0.2/33\n", &cfg, err, sizeof(err)), -1);
	CHECK_STR(err, "lab.conf:2: outside_ipv4: bad IPv4 prefix '198.18.0.2/33'");
	/* a short error buffer is cut, not overrun */
	{
		char small[12];

		memset(small, 'x', sizeof(small));
		CHECK_EQ(cfg_parse("lab.conf", "foo = 1\n", &cfg, small, sizeof(small)), -1);
		CHECK_STR(small, "lab.conf:1:");
		CHECK_EQ(cfg_parse("lab.conf", "foo = 1\n", &cfg, NULL, 0), -1);
	}
	/* user text quoted in a message is cut and has no control bytes */
	{
		static char text[600];

		memset(text, 'k', 500);
		strcpy(text + 500, "\x1b = 1\n");
		expect_error(text, "t.conf:1: unknown key 'kkkk", "...'");
		CHECK(strlen(err) < 120);
	}
}

/* Lines longer than 4096 bytes are rejected; exactly 4096 is fine, with "\n" or "\r\n". */
TEST(long_lines)
{
	static char text[3 * 4096 + 256];
	char *s;

	/* a 4096-byte comment line */
	strcpy(text, BASE "#");
	s = text + strlen(text);
	memset(s, 'c', 4095);
	strcpy(s + 4095, "\n");
	CHECK_EQ(parse_ok(text), 0);
	/* the same with CRLF */
	strcpy(s + 4095, "\r\n");
	CHECK_EQ(parse_ok(text), 0);
	/* 4097 bytes, even a comment, is an error at its line */
	strcpy(text, BASE "#");
	s = text + strlen(text);
	memset(s, 'c', 4096);
	strcpy(s + 4096, "\nhostname = x\n");
	expect_error(text, "t.conf:3: line longer than 4096 bytes", NULL);
	/* also without a final newline */
	s[4096] = '\0';
	expect_error(text, "t.conf:3: line longer than 4096 bytes", NULL);
	/* a 4096-byte value line, then a too long value made of continuation lines */
	strcpy(text, BASE "stats_file =");
	s = text + strlen(text);
	memset(s, 'v', 4096 - 12);
	strcpy(s + 4096 - 12, "\n");
	expect_error(text, "t.conf:3: stats_file: path longer than 255", NULL);
	strcpy(text, BASE "worker_lcores = 1\n ");
	s = text + strlen(text);
	memset(s, '1', 4000);
	strcpy(s + 4000, "\n ");
	s += strlen(s);
	memset(s, '2', 100);
	strcpy(s + 100, "\n");
	expect_error(text, "t.conf:3: worker_lcores: value longer than 4096 bytes", NULL);
}

/* Write text to a new temporary file; returns its name in path. */
static int write_tmp(char *path, size_t size, const char *text, size_t len)
{
	int fd;

	snprintf(path, size, "/tmp/test_config.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return 0;
}

TEST(load)
{
	static const char nul_text[] = BASE "hostname = a\0b\n";
	char path[64];

	CHECK_EQ(write_tmp(path, sizeof(path), LAB_CONF, strlen(LAB_CONF)), 0);
	CHECK_EQ(cfg_load(path, &cfg, err, sizeof(err)), 0);
	check_lab(path);
	unlink(path);

	CHECK_EQ(cfg_load("/nonexistent/mx.conf", &cfg, err, sizeof(err)), -1);
	CHECK_STR(err, "/nonexistent/mx.conf: cannot open: No such file or directory");

	/* a NUL byte is an error at its line */
	CHECK_EQ(write_tmp(path, sizeof(path), nul_text, sizeof(nul_text) - 1), 0);
	CHECK_EQ(cfg_load(path, &cfg, err, sizeof(err)), -1);
	CHECK(strstr(err, ":3: NUL byte") != NULL);
	unlink(path);

	/* an error in a file names the file and the line */
	CHECK_EQ(write_tmp(path, sizeof(path), BASE "foo = 1\n", strlen(BASE "foo = 1\n")), 0);
	CHECK_EQ(cfg_load(path, &cfg, err, sizeof(err)), -1);
	CHECK(strncmp(err, path, strlen(path)) == 0);
	CHECK(strstr(err, ":3: unknown key 'foo'") != NULL);
	unlink(path);

	/* a directory cannot be read */
	CHECK_EQ(cfg_load("/tmp", &cfg, err, sizeof(err)), -1);
	CHECK(strstr(err, "/tmp: ") == err);
}

/* Warnings collected by the hook of cfg_set_warn(). */
static char warnings[1024];
static unsigned nwarnings;

static void collect_warning(void *arg, const char *msg)
{
	size_t n = strlen(warnings);

	(void)arg;
	nwarnings++;
	snprintf(warnings + n, sizeof(warnings) - n, "%s\n", msg);
}

/* A key set twice warns with both lines, as postconf does; the later value is used. */
TEST(duplicate_warning)
{
	cfg_set_warn(collect_warning, NULL);
	warnings[0] = '\0';
	nwarnings = 0;
	CHECK_EQ(parse_ok(BASE "hostname = a\necho_port = 7\nhostname = b.example\n"
			  "outside_ipv4 = 10.0.0.5/8\n"), 0);
	CHECK_STR(cfg.hostname, "b.example");
	CHECK_EQ(cfg.ports[0].ip4, ip4("10.0.0.5"));
	CHECK_EQ(nwarnings, 2);
	CHECK_STR(warnings, "t.conf:5: warning: key hostname also set at line 3; the later wins\n"
		  "t.conf:6: warning: key outside_ipv4 also set at line 2; the later wins\n");
	/* a third time names the second, the last one before it */
	warnings[0] = '\0';
	nwarnings = 0;
	CHECK_EQ(parse_ok(BASE "smtp_port = 25\nsmtp_port = 26\nsmtp_port = 27\n"), 0);
	CHECK_EQ(cfg.smtp_port, 27);
	CHECK_EQ(nwarnings, 2);
	CHECK(strstr(warnings, "t.conf:5: warning: key smtp_port also set at line 4;") != NULL);
	/* no duplicate, no warning; a fresh parse forgets the keys of the last one */
	warnings[0] = '\0';
	nwarnings = 0;
	CHECK_EQ(parse_ok(LAB_CONF), 0);
	CHECK_EQ(parse_ok(BASE "smtp_port = 25\n"), 0);
	CHECK_EQ(nwarnings, 0);
	/* a continuation line belongs to the entry above it, its line is the first one */
	CHECK_EQ(parse_ok(BASE "backends = 198.18.1.1:25\n  198.18.1.1:26\n"
			  "backends = 198.18.1.1:27\n"), 0);
	CHECK_EQ(cfg.nbackends, 1);
	CHECK_STR(warnings, "t.conf:5: warning: key backends also set at line 3; the later wins\n");
	cfg_set_warn(NULL, NULL);
}

/* cfg_show_set(): the keys the file sets, sorted, with their last value as written. */
TEST(show_set)
{
	static const char text[] = BASE "smtp_port = 25\nbackends = 198.18.1.1:25\n"
		"   198.18.1.1:26/proxy\n# a comment\nhostname = a\nhostname = mx.example\n";
	char path[64], *buf = NULL;
	size_t len = 0;
	FILE *out;

	cfg_set_warn(collect_warning, NULL);
	CHECK_EQ(write_tmp(path, sizeof(path), text, strlen(text)), 0);
	out = open_memstream(&buf, &len);
	CHECK(out != NULL);
	CHECK_EQ(cfg_show_set(path, &cfg, out, err, sizeof(err)), 0);
	fclose(out);
	CHECK_STR(buf, "backends = 198.18.1.1:25 198.18.1.1:26/proxy\n"
		  "hostname = mx.example\n"
		  "outside_device = net_tap0\n"
		  "outside_ipv4 = 198.18.0.2/24\n"
		  "smtp_port = 25\n");
	CHECK_STR(cfg.hostname, "mx.example");
	free(buf);
	unlink(path);
	/* an invalid file prints nothing and fails as cfg_load() does */
	CHECK_EQ(write_tmp(path, sizeof(path), BASE "foo = 1\n", strlen(BASE "foo = 1\n")), 0);
	buf = NULL;
	out = open_memstream(&buf, &len);
	CHECK_EQ(cfg_show_set(path, &cfg, out, err, sizeof(err)), -1);
	fclose(out);
	CHECK_STR(buf, "");
	CHECK(strstr(err, ":3: unknown key 'foo'") != NULL);
	free(buf);
	unlink(path);
	cfg_set_warn(NULL, NULL);
}

#define PORT_LINES "outside_device = net_tap0\noutside_ipv4 = 198.18.0.2/24\n"

/* SMTP, TLS and relay keys: backends with options, versions, booleans, limits. */
TEST(smtp_keys)
{
	CHECK(parse_ok(PORT_LINES "backends = 198.18.1.1:25 [2001:2:0:1::1]:2525/proxy,198.18.1.1:26/starttls/proxy\n"
		       "tls_min_version = TLSv1.3\ntls_ask_client_cert = yes\nsmtp_port = 25\n"
		       "tls_cert_file = /x/cert.pem\nmessage_size_limit = 2147483647\n") == 0);
	CHECK_EQ(cfg.nbackends, 3);
	CHECK_EQ(cfg.backends[0].family, 4);
	CHECK_EQ(cfg.backends[0].port, 25);
	CHECK(cfg.backends[0].addr[0] == 198 && cfg.backends[0].addr[3] == 1);
	CHECK_EQ(cfg.backends[1].family, 6);
	CHECK(ip6_eq(cfg.backends[1].addr, "2001:2:0:1::1"));
	CHECK_EQ(cfg.backends[1].proxy_v2, 1);
	CHECK_EQ(cfg.backends[1].starttls, 0);
	CHECK_EQ(cfg.backends[2].proxy_v2, 1);
	CHECK_EQ(cfg.backends[2].starttls, 1);
	/* the logs' text of the address, as inet_ntop writes it whatever the spelling */
	CHECK_STR(cfg.backends[0].addr_text, "198.18.1.1");
	CHECK_STR(cfg.backends[1].addr_text, "2001:2:0:1::1");
	CHECK_EQ(cfg.tls_min_version, 0x0304);
	CHECK_EQ(cfg.tls_ask_client_cert, 1);
	CHECK_EQ(cfg.smtp_port, 25);
	CHECK_STR(cfg.tls_cert_file, "/x/cert.pem");
	CHECK_EQ(cfg.message_size_limit, 2147483647u);
	CHECK(parse_ok(PORT_LINES) == 0);
	CHECK_EQ(cfg.nbackends, 0);
	CHECK_EQ(cfg.smtpd_recipient_limit, 100);
	CHECK_EQ(cfg.smtpd_client_connection_count_limit, 50);   /* Postfix's default: a cap unless set to 0 */
	CHECK_EQ(cfg.smtpd_hard_error_limit, 20);
	CHECK_EQ(cfg.smtpd_auth_queue, 64);
	CHECK_EQ(cfg.smtpd_auth_ipv6_48_limit, 8);
	CHECK_EQ(cfg.tls_min_version, 0x0303);
	CHECK_STR(cfg.tls_groups, "X25519:P-256");
	expect_error(PORT_LINES "backends = 198.18.1.1\n", ":3: backends", "address:port");
	expect_error(PORT_LINES "backends = 198.18.1.1:0\n", ":3: backends", "bad port");
	expect_error(PORT_LINES "backends = 198.18.1.1:70000\n", ":3: backends", "bad port");
	expect_error(PORT_LINES "backends = mx.example:25\n", ":3: backends", "not an IPv4 or IPv6");
	expect_error(PORT_LINES "backends = 198.18.1.1:25/tls\n", ":3: backends", "unknown option");
	expect_error(PORT_LINES "backends = [2001:2::1:25\n", ":3: backends", "[IPv6]:port");
	expect_error(PORT_LINES "tls_min_version = TLSv1.1\n", ":3: tls_min_version", "TLSv1.2 or TLSv1.3");
	expect_error(PORT_LINES "tls_ask_client_cert = maybe\n", ":3: tls_ask_client_cert", "yes or no");
	expect_error(PORT_LINES "smtpd_recipient_limit = 0\n", ":3: smtpd_recipient_limit", NULL);
	CHECK(parse_ok(PORT_LINES "backends = [2001:0002:0000:0001:0000:0000:0000:00AB]:25\n") == 0);
	CHECK_STR(cfg.backends[0].addr_text, "2001:2:0:1::ab");
	CHECK_EQ(cfg.smtpd_client_ipv6_prefix_length, 64);      /* an IPv6 client is its /64 */
	CHECK(parse_ok(PORT_LINES "smtpd_client_ipv6_prefix_length = 128\n") == 0);
	CHECK_EQ(cfg.smtpd_client_ipv6_prefix_length, 128);
	expect_error(PORT_LINES "smtpd_client_ipv6_prefix_length = 129\n", ":3: smtpd_client_ipv6_prefix_length", NULL);
	expect_error(PORT_LINES "smtpd_client_ipv6_prefix_length = 15\n", ":3: smtpd_client_ipv6_prefix_length", NULL);
}

/* Towards backends (issue 13): /name=, backend_tls_ca_file, backend_auth_without_tls. */
TEST(backend_tls_keys)
{
	CHECK(parse_ok(PORT_LINES) == 0);
	CHECK_STR(cfg.backend_tls_ca_file, "");
	CHECK_EQ(cfg.backend_auth_without_tls, 0);
	CHECK(parse_ok(PORT_LINES "backends = 198.18.1.1:25/name=mx1.lab.example "
		       "[2001:2:0:1::1]:2525/starttls/name=mx-2.lab.example/proxy 198.18.1.2:25\n"
		       "backend_tls_ca_file = /etc/mxgate/backend-ca.pem\nbackend_auth_without_tls = yes\n") == 0);
	CHECK_EQ(cfg.nbackends, 3);
	CHECK_STR(cfg.backends[0].name, "mx1.lab.example");
	CHECK_EQ(cfg.backends[0].starttls, 0);
	CHECK_STR(cfg.backends[1].name, "mx-2.lab.example");
	CHECK_EQ(cfg.backends[1].starttls, 1);
	CHECK_EQ(cfg.backends[1].proxy_v2, 1);
	CHECK_STR(cfg.backends[2].name, "");
	CHECK_STR(cfg.backend_tls_ca_file, "/etc/mxgate/backend-ca.pem");
	CHECK_EQ(cfg.backend_auth_without_tls, 1);
	expect_error(PORT_LINES "backends = 198.18.1.1:25/name=\n", ":3: backends", "is not a host name");
	expect_error(PORT_LINES "backends = 198.18.1.1:25/name=a..b\n", ":3: backends", "is not a host name");
	expect_error(PORT_LINES "backends = 198.18.1.1:25/name=a_b\n", ":3: backends", "is not a host name");
	expect_error(PORT_LINES "backends = 198.18.1.1:25/name=a234567890123456789012345678901234567890"
		     "123456789012345678901234\n", ":3: backends", "is not a host name");   /* 64 bytes */
	expect_error(PORT_LINES "backend_auth_without_tls = maybe\n", ":3: backend_auth_without_tls", "yes or no");
}

/* mxgate_user and mxgate_group: defaults, names, never root */
TEST(privilege_keys)
{
	CHECK(parse_ok(PORT_LINES) == 0);
	CHECK_STR(cfg.mxgate_user, "mxgate");
	CHECK_STR(cfg.mxgate_group, "mxgate");
	CHECK(parse_ok(PORT_LINES "mxgate_user = _mx-gate1\nmxgate_group = mxctl\n") == 0);
	CHECK_STR(cfg.mxgate_user, "_mx-gate1");
	CHECK_STR(cfg.mxgate_group, "mxctl");
	expect_error(PORT_LINES "mxgate_user = root\n", ":3: mxgate_user", "must not be root");
	expect_error(PORT_LINES "mxgate_group = root\n", ":3: mxgate_group", "must not be root");
	expect_error(PORT_LINES "mxgate_user = Mx\n", ":3: mxgate_user", "not a user or group name");
	expect_error(PORT_LINES "mxgate_user = 1mx\n", ":3: mxgate_user", "not a user or group name");
	expect_error(PORT_LINES "mxgate_user = mx/../x\n", ":3: mxgate_user", "not a user or group name");
	expect_error(PORT_LINES "mxgate_group = 123456789012345678901234567890123\n", ":3: mxgate_group",
		     "1 to 32");
}

/* The SMTP log: log_target, syslog_name, syslog_facility (dataplane/smtp/slog.h). */
TEST(log_keys)
{
	CHECK(parse_ok(PORT_LINES) == 0);
	CHECK_EQ(cfg.log_syslog, 1);
	CHECK_STR(cfg.syslog_name, "mxgate");
	CHECK_EQ(cfg.syslog_facility, LOG_MAIL);
	CHECK(parse_ok(PORT_LINES "log_target = stderr\nsyslog_name = postfix\nsyslog_facility = local7\n") == 0);
	CHECK_EQ(cfg.log_syslog, 0);
	CHECK_STR(cfg.syslog_name, "postfix");
	CHECK_EQ(cfg.syslog_facility, LOG_LOCAL7);
	CHECK(parse_ok(PORT_LINES "log_target = syslog\nsyslog_name = post-fix_2.out\nsyslog_facility = mail\n") == 0);
	CHECK_EQ(cfg.log_syslog, 1);
	CHECK_STR(cfg.syslog_name, "post-fix_2.out");
	CHECK_EQ(cfg.syslog_facility, LOG_MAIL);
	expect_error(PORT_LINES "log_target = file\n", ":3: log_target", "syslog or stderr");
	expect_error(PORT_LINES "syslog_facility = local8\n", ":3: syslog_facility", "local0 to local7");
	expect_error(PORT_LINES "syslog_facility = daemon\n", ":3: syslog_facility", "mail or local0");
	expect_error(PORT_LINES "syslog_name = mx/gate\n", ":3: syslog_name", "letters, digits");
	expect_error(PORT_LINES "syslog_name = mx[1]\n", ":3: syslog_name", "letters, digits");
	expect_error(PORT_LINES "syslog_name = 12345678901234567890123456789012\n", ":3: syslog_name", "1 to 31");
}

/* ---- SIGHUP: which keys apply live (cfg_key_live, cfg_merge) ---- */

TEST(live_flags)
{
	unsigned i, n = 0, live = 0;
	const char *k;

	CHECK_EQ(cfg_key_live("smtpd_recipient_limit"), 1);
	CHECK_EQ(cfg_key_live("smtpd_hard_error_limit"), 1);
	CHECK_EQ(cfg_key_live("smtpd_timeout_ms"), 1);
	CHECK_EQ(cfg_key_live("access_file"), 1);
	CHECK_EQ(cfg_key_live("tls_cert_file"), 1);
	CHECK_EQ(cfg_key_live("tls_key_file"), 1);
	CHECK_EQ(cfg_key_live("backends"), 1);
	CHECK_EQ(cfg_key_live("backend_timeout_ms"), 1);
	CHECK_EQ(cfg_key_live("smtp_port"), 0);
	CHECK_EQ(cfg_key_live("smtps_port"), 0);
	CHECK_EQ(cfg_key_live("worker_lcores"), 0);
	CHECK_EQ(cfg_key_live("mbuf_pool_size"), 0);
	CHECK_EQ(cfg_key_live("hostname"), 0);
	CHECK_EQ(cfg_key_live("outside_ipv4"), 0);
	CHECK_EQ(cfg_key_live("inside_device"), 0);
	CHECK_EQ(cfg_key_live("control_socket"), 0);
	CHECK_EQ(cfg_key_live("mxgate_user"), 0);
	CHECK_EQ(cfg_key_live("no_such_key"), -1);
	CHECK_EQ(cfg_key_live("outside_nothing"), -1);
	/* every key the parser knows has a flag, and is listed once */
	for (i = 0; cfg_key_name(i) != NULL; i++) {
		char text[256], key[64];
		int v;

		snprintf(key, sizeof(key), "%s", cfg_key_name(i));	/* a static buffer for some */
		k = key;
		v = cfg_key_live(k);

		CHECK(v == 0 || v == 1);
		live += v == 1;
		n++;
		for (unsigned j = 0; j < i; j++) {
			char a[64];

			snprintf(a, sizeof(a), "%s", cfg_key_name(j));
			CHECK(strcmp(a, k) != 0);
		}
		/* and the parser takes it (an unknown name would fail as "unknown key") */
		snprintf(text, sizeof(text), BASE "%s = x\n", k);
		cfg_parse("t.conf", text, &cfg, err, sizeof(err));
		CHECK(strstr(err, "unknown key") == NULL);
	}
	CHECK(n > 60);
	CHECK(live > 20 && live < n);
}

/* The keys named \fBlike_this\fR on the line after ".B WHAT" of the SIGHUP section. */
static unsigned doc_keys(const char *text, const char *what, char keys[][48], unsigned max)
{
	char head[64];
	const char *p, *e;
	unsigned n = 0;

	snprintf(head, sizeof(head), "\n.B %s\n", what);
	p = strstr(text, head);
	if (p == NULL)
		return 0;
	p += strlen(head);
	e = strchr(p, '\n');
	while (n < max && (p = strstr(p, "\\fB")) != NULL && p < e) {
		const char *q = strstr(p + 3, "\\fR");
		size_t len = (size_t)(q - p - 3);

		if (q == NULL || q > e || len >= 48)
			break;
		memcpy(keys[n], p + 3, len);
		keys[n][len] = '\0';
		n++;
		p = q + 3;
	}
	return n;
}

/* Whether key is in keys[] (an item "outside_*" stands for every outside_ key). */
static int doc_has(char keys[][48], unsigned n, const char *key)
{
	for (unsigned i = 0; i < n; i++) {
		size_t l = strlen(keys[i]);

		if (strcmp(keys[i], key) == 0 ||
		    (l > 1 && keys[i][l - 1] == '*' && strncmp(keys[i], key, l - 1) == 0))
			return 1;
	}
	return 0;
}

/* docs/mxgate.conf.5's SIGHUP section lists every key, live or restart, as the tables say. */
TEST(live_flags_documented)
{
	static char live[128][48], restart[128][48];
	FILE *f = fopen("docs/mxgate.conf.5", "r");
	char *text = calloc(1, 1 << 20);
	unsigned nl, nr, i;
	const char *k;
	size_t n;

	CHECK(f != NULL && text != NULL);
	if (f == NULL || text == NULL) {
		free(text);
		if (f)
			fclose(f);
		return;
	}
	n = fread(text, 1, (1 << 20) - 1, f);
	fclose(f);
	text[n] = '\0';
	nl = doc_keys(text, "Live", live, 128);
	nr = doc_keys(text, "Restart", restart, 128);
	CHECK(nl > 10);
	CHECK(nr > 10);
	for (i = 0; (k = cfg_key_name(i)) != NULL; i++) {
		int in_live = doc_has(live, nl, k), in_restart = doc_has(restart, nr, k);

		if (in_live + in_restart != 1 || in_live != cfg_key_live(k))
			fprintf(stderr, "  %s: code says %s, the manual %s\n", k,
				cfg_key_live(k) ? "live" : "restart",
				in_live && in_restart ? "both" : in_live ? "live" : in_restart ? "restart" :
				"nothing");
		CHECK_EQ(in_live + in_restart, 1);
		CHECK_EQ(in_live, cfg_key_live(k));
	}
	for (i = 0; i < nl; i++)
		CHECK(strchr(live[i], '*') != NULL || cfg_key_live(live[i]) == 1);
	for (i = 0; i < nr; i++)
		CHECK(strchr(restart[i], '*') != NULL || cfg_key_live(restart[i]) == 0);
	free(text);
}

/* What cfg_merge() reported: "key=live" items, in order. */
static char merged[2048];

static void collect_change(void *arg, const char *key, int live)
{
	size_t o = strlen(merged);

	(void)arg;
	snprintf(merged + o, sizeof(merged) - o, "%s%s=%s", o ? " " : "", key, live ? "live" : "restart");
}

#define RUN_CONF \
	BASE "inside_device = net_tap1\ninside_ipv4 = 198.18.1.2/24\n" \
	"worker_lcores = 1\nsmtp_port = 25\nsmtpd_recipient_limit = 100\n" \
	"backends = 198.18.1.1:25\naccess_file = /etc/a\n" \
	"tls_cert_file = /c1.pem\ntls_key_file = /k1.pem\n"

TEST(merge)
{
	static struct mx_config run, next;

	CHECK_EQ(parse_ok(RUN_CONF), 0);
	run = cfg;
	/* the same file: nothing to report */
	CHECK_EQ(cfg_parse("t.conf", RUN_CONF, &next, err, sizeof(err)), 0);
	merged[0] = '\0';
	CHECK_EQ(cfg_merge(&run, &next, collect_change, NULL), 0);
	CHECK_STR(merged, "");
	/* a list set twice, the later shorter, equals the shorter set once */
	CHECK_EQ(cfg_parse("t.conf", RUN_CONF "backends = 198.18.1.1:25 198.18.1.3:25\n"
			   "backends = 198.18.1.1:25\nworker_lcores = 1-3\nworker_lcores = 1\n",
			   &next, err, sizeof(err)), 0);
	merged[0] = '\0';
	CHECK_EQ(cfg_merge(&run, &next, collect_change, NULL), 0);
	CHECK_STR(merged, "");
	/* live keys take the new value; the others keep the running one and are reported */
	CHECK_EQ(cfg_parse("t.conf", RUN_CONF "smtpd_recipient_limit = 2\nsmtp_port = 2525\n"
			   "backends = 198.18.1.9:2525/proxy\naccess_file = /etc/b\nworker_lcores = 1,2\n"
			   "outside_ipv4 = 198.18.0.3/24\ninside_mtu = 9000\ntls_cert_file = /c2.pem\n"
			   "tls_key_file = /k2.pem\nhostname = other.example\n", &next, err, sizeof(err)), 0);
	merged[0] = '\0';
	CHECK_EQ(cfg_merge(&run, &next, collect_change, NULL), 5);
	/* appliance_id follows hostname by default */
	CHECK_STR(merged, "smtp_port=restart smtpd_recipient_limit=live tls_cert_file=live "
		  "tls_key_file=live access_file=live appliance_id=restart hostname=restart "
		  "worker_lcores=restart backends=live outside_ipv4=restart inside_mtu=restart");
	CHECK_EQ(next.smtpd_recipient_limit, 2);
	CHECK_EQ(next.smtp_port, 25);
	CHECK_STR(next.hostname, "localhost");
	CHECK_STR(next.appliance_id, "localhost");
	CHECK_EQ(next.nworkers, 1);
	CHECK_EQ(next.worker_lcores[1], 0);
	CHECK_EQ(next.nbackends, 1);
	CHECK_EQ(next.backends[0].port, 2525);
	CHECK_EQ(next.backends[0].proxy_v2, 1);
	CHECK_STR(next.access_file, "/etc/b");
	CHECK_STR(next.tls_cert_file, "/c2.pem");
	CHECK_STR(next.tls_key_file, "/k2.pem");
	CHECK(memcmp(next.ports, run.ports, sizeof(run.ports)) == 0);
	CHECK_EQ(next.nports, run.nports);
	/* merged again with the running one, what is left is only the live changes */
	merged[0] = '\0';
	CHECK_EQ(cfg_merge(&run, &next, collect_change, NULL), 5);
	CHECK(strstr(merged, "restart") == NULL);
	/* a port that goes away: every key it had is reported, the port stays */
	CHECK_EQ(cfg_parse("t.conf", BASE, &next, err, sizeof(err)), 0);
	merged[0] = '\0';
	cfg_merge(&run, &next, collect_change, NULL);
	CHECK(strstr(merged, "inside_device=restart inside_ipv4=restart") != NULL);
	CHECK_EQ(next.nports, 2);
	CHECK(cfg_port_by_role(&next, CFG_ROLE_INSIDE) != NULL);
}

/* Turning TLS on or off is a restart; other certificate files are live. */
TEST(merge_tls_toggle)
{
	static struct mx_config run, next;

	CHECK_EQ(parse_ok(BASE "smtp_port = 25\n"), 0);
	run = cfg;
	CHECK_EQ(cfg_parse("t.conf", BASE "smtp_port = 25\ntls_cert_file = /c.pem\ntls_key_file = /k.pem\n"
			   "tls_ciphers = ECDHE+AESGCM\n", &next, err, sizeof(err)), 0);
	merged[0] = '\0';
	CHECK_EQ(cfg_merge(&run, &next, collect_change, NULL), 1);
	CHECK_STR(merged, "tls_cert_file=restart tls_key_file=restart tls_ciphers=live");
	CHECK_STR(next.tls_cert_file, "");
	CHECK_STR(next.tls_key_file, "");
	/* and back: from TLS to none */
	merged[0] = '\0';
	CHECK_EQ(cfg_parse("t.conf", BASE "smtp_port = 25\ntls_cert_file = /c.pem\ntls_key_file = /k.pem\n",
			   &run, err, sizeof(err)), 0);
	CHECK_EQ(cfg_parse("t.conf", BASE "smtp_port = 25\n", &next, err, sizeof(err)), 0);
	CHECK_EQ(cfg_merge(&run, &next, collect_change, NULL), 0);
	CHECK_STR(merged, "tls_cert_file=restart tls_key_file=restart");
	CHECK_STR(next.tls_cert_file, "/c.pem");
}

/* dns_servers (port 53 unless given), the DNS bounds, dnsbl_sites (postscreen's syntax), dnsbl_action. */
TEST(dns_keys)
{
	CHECK_EQ(parse_ok(BASE), 0);
	CHECK_EQ(cfg.ndns_servers, 0);
	CHECK_EQ(cfg.dns_timeout_ms, 1000);
	CHECK_EQ(cfg.dns_retries, 2);
	CHECK_EQ(cfg.dns_banner_wait_ms, 5000);
	CHECK_EQ(cfg.dnsbl_threshold, 1);
	CHECK_EQ(parse_ok(BASE "dns_servers = 198.18.1.1, 198.18.1.3:5353 [2001:2:0:1::1] [2001:2:0:1::2]:54\n"
			  "dns_timeout_ms = 300\ndns_retries = 0\ndns_max_inflight = 7\ndns_cache_size = 0\n"), 0);
	CHECK_EQ(cfg.ndns_servers, 4);
	CHECK_EQ(cfg.dns_servers[0].family, 4);
	CHECK_EQ(cfg.dns_servers[0].port, 53);
	CHECK_EQ(cfg.dns_servers[1].port, 5353);
	CHECK_EQ(cfg.dns_servers[2].family, 6);
	CHECK_EQ(cfg.dns_servers[2].port, 53);
	CHECK_EQ(cfg.dns_servers[3].port, 54);
	CHECK_EQ(cfg.dns_servers[2].addr[15], 1);
	CHECK_EQ(cfg.dns_timeout_ms, 300);
	CHECK_EQ(cfg.dns_retries, 0);
	CHECK_EQ(cfg.dns_max_inflight, 7);
	CHECK_EQ(cfg.dns_cache_size, 0);
	expect_error(BASE "dns_servers = dns.example\n", "dns_servers", "not an IPv4 or IPv6 address");
	expect_error(BASE "dns_servers = 198.18.1.1/proxy\n", "dns_servers", "expected address[:port]");
	expect_error(BASE "dns_servers = 1.1.1.1 1.1.1.2 1.1.1.3 1.1.1.4 1.1.1.5\n", "dns_servers", "more than 4");
	expect_error(BASE "dns_timeout_ms = 10\n", "dns_timeout_ms", "out of range");
	CHECK_EQ(parse_ok(BASE "dnsbl_sites = zen.example.org*3, bl.example=127.0.0.[2..11;20]*2\n"
			  "  wl.example=127.0.[0..255].[1;2]*-5 plain.example\n"
			  "dnsbl_threshold = 3\ndnsbl_action = drop\n"), 0);
	CHECK_EQ(cfg.ndnsbl_sites, 4);
	CHECK_STR(cfg.dnsbl_sites[0].domain, "zen.example.org");
	CHECK_EQ(cfg.dnsbl_sites[0].weight, 3);
	CHECK_EQ(cfg.dnsbl_sites[0].has_filter, 0);
	CHECK_STR(cfg.dnsbl_sites[1].domain, "bl.example");
	CHECK_EQ(cfg.dnsbl_sites[1].has_filter, 1);
	CHECK_EQ(cfg.dnsbl_sites[1].weight, 2);
	CHECK(cfg.dnsbl_sites[1].filter[0][127 / 8] & (1 << (127 % 8)));
	CHECK(!(cfg.dnsbl_sites[1].filter[0][126 / 8] & (1 << (126 % 8))));
	CHECK(cfg.dnsbl_sites[1].filter[3][0] & (1 << 2));             /* 2 */
	CHECK(cfg.dnsbl_sites[1].filter[3][1] & (1 << 3));             /* 11 */
	CHECK(!(cfg.dnsbl_sites[1].filter[3][1] & (1 << 4)));          /* 12 */
	CHECK(cfg.dnsbl_sites[1].filter[3][2] & (1 << 4));             /* 20 */
	CHECK_EQ(cfg.dnsbl_sites[2].weight, -5);
	CHECK_EQ(cfg.dnsbl_sites[2].filter[2][31], 0xff);              /* ..255 */
	CHECK_EQ(cfg.dnsbl_sites[3].weight, 1);
	CHECK_EQ(cfg.dnsbl_threshold, 3);
	CHECK_EQ(cfg.dnsbl_action, CFG_DNSBL_DROP);
	expect_error(BASE "dnsbl_sites = bl.example=127.0.0\n", "dnsbl_sites", "bad reply filter");
	expect_error(BASE "dnsbl_sites = bl.example=127.0.0.[5..2]\n", "dnsbl_sites", "bad reply filter");
	expect_error(BASE "dnsbl_sites = bl.example=127.0.0.256\n", "dnsbl_sites", "bad reply filter");
	expect_error(BASE "dnsbl_sites = bl.example*x\n", "dnsbl_sites", "bad weight");
	expect_error(BASE "dnsbl_sites = bl/example\n", "dnsbl_sites", "bad domain");
	expect_error(BASE "dnsbl_sites = *2\n", "dnsbl_sites", "expected domain");
	expect_error(BASE "dnsbl_action = ignore\n", "dnsbl_action", "expected enforce or drop");
}

int main(void)
{
	RUN(smtp_keys);
	RUN(log_keys);
	RUN(backend_tls_keys);
	RUN(privilege_keys);
	RUN(lab_config);
	RUN(crlf);
	RUN(defaults);
	RUN(continuation);
	RUN(comments);
	RUN(last_wins);
	RUN(duplicate_warning);
	RUN(show_set);
	RUN(port_order);
	RUN(good_values);
	RUN(integer_ranges);
	RUN(worker_lcores);
	RUN(impair);
	RUN(errors);
	RUN(dns_keys);
	RUN(long_lines);
	RUN(load);
	RUN(control_addresses);
	RUN(live_flags);
	RUN(live_flags_documented);
	RUN(merge);
	RUN(merge_tls_toggle);
	return t_done("test_config");
}
