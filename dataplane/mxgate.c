/*
 * mxgate.c - the dataplane process: EAL and port set-up, one network stack
 * per worker lcore polling its queues (run to completion), and the main
 * lcore as service thread (signals, counters).
 *
 *   mxgate [EAL options] -- -c FILE
 */
#define _GNU_SOURCE     /* setresuid, setresgid */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_cycles.h>
#include <rte_ring.h>
#include <rte_errno.h>

#include "common/config.h"
#include "dataplane/port.h"
#include "dataplane/echo.h"
#include "dataplane/stats.h"
#include "dataplane/net/tcp.h"
#include "dataplane/smtp/session.h"
#include "dataplane/smtp/auth.h"
#include "dataplane/smtp/slog.h"
#include "crypto/tls.h"
#include "policy/policy.h"
#include "dataplane/service.h"
#include <rte_malloc.h>

static volatile sig_atomic_t quit, dump;
static struct mx_config cfg;
static struct net_ctx *ctxs[CFG_MAX_WORKERS];
static struct smtp_worker *smtpw[CFG_MAX_WORKERS];
static struct stats_group smtp_group;
static struct rte_rcu_qsbr *rcu;
static unsigned nworkers;

/* SIGTERM/SIGINT stop, SIGUSR1 dumps the counters. */
static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		dump = 1;
	else
		quit = 1;
}

/* Worker lcore: poll the ports and the steering ring, run timers, flush. */
static int worker_main(void *arg)
{
	struct net_ctx *ctx = arg;
	struct smtp_worker *sw = smtpw[ctx->worker];
	uint64_t hz = rte_get_tsc_hz(), tsc0 = rte_rdtsc(), prev = tsc0;
	uint64_t mult = (1000000ull << 32) / hz;
	unsigned i, empty = 0;

	ctx->now_us = 0;
	slog_batch();
	rte_rcu_qsbr_thread_register(rcu, ctx->worker);
	rte_rcu_qsbr_thread_online(rcu, ctx->worker);
	if (ctx->worker == 0)
		net_announce(ctx);
	while (!quit) {
		/* nothing shared (the access map) is held across polls */
		rte_rcu_qsbr_quiescent(rcu, ctx->worker);
		uint64_t t;
		unsigned work = 0;

		ctx->now_us = (uint64_t)(((unsigned __int128)(prev - tsc0) * mult) >> 32);
		for (i = 0; i < ctx->nifs; i++)
			work += port_poll(ctx, &ctx->ifs[i]);
		work += net_steer_poll(ctx);
		if (sw != NULL)
			work += smtp_worker_poll(sw);
		net_timers(ctx);
		net_flush(ctx);
		/* log lines are written when there is nothing else to do (counted as busy) */
		if (work)
			slog_flush_late(ctx->now_us, 10000);
		else
			work = slog_flush();
		t = rte_rdtsc();
		if (work) {
			ctx->st.busy_cycles += t - prev;
			empty = 0;
		} else {
			if (cfg.idle_sleep_us && ++empty > 256) {
				usleep(cfg.idle_sleep_us);
				t = rte_rdtsc();
			}
			ctx->st.idle_cycles += t - prev;
		}
		prev = t;
	}
	net_flush(ctx);
	slog_flush();
	rte_rcu_qsbr_thread_offline(rcu, ctx->worker);
	rte_rcu_qsbr_thread_unregister(rcu, ctx->worker);
	return 0;
}

/*
 * Privileges. mxgate starts as root (EAL: hugepages, VFIO or taps, the
 * ports) and, once the ports, the TLS keys, the access map and the control
 * socket are set up and before any packet is processed, becomes mxgate_user
 * for good: setgroups (the user's primary group only), setresgid, setresuid,
 * all three ids, so that nothing can switch back. glibc applies each of
 * these to every thread of the process (the EAL's lcore, interrupt and
 * telemetry threads exist already), and the kernel clears the permitted,
 * effective and ambient capabilities of every thread whose uids all leave
 * 0: no capability is kept (none is needed afterwards, see README
 * "Privileges"). no_new_privs, set before EAL creates any thread, keeps an
 * exec from gaining anything back through set-uid files or file
 * capabilities. The result is checked thread by thread in /proc/self/task.
 */
/* ASan/UBSan builds (make test-asan): LeakSanitizer ptraces the process at exit */
#if defined(__SANITIZE_ADDRESS__)
#define MX_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MX_SANITIZED 1
#endif
#endif
#ifndef MX_SANITIZED
#define MX_SANITIZED 0
#endif

struct privs {
	uid_t uid;
	gid_t gid, group;       /* the user's primary group; the control socket's group */
};

/* Look up mxgate_user and mxgate_group (before anything is set up); 0 or -1 with why. */
static int privs_lookup(struct privs *pv, char *err, size_t errlen)
{
	struct passwd *pw = getpwnam(cfg.mxgate_user);
	struct group *gr = getgrnam(cfg.mxgate_group);

	if (pw == NULL) {
		snprintf(err, errlen, "%.200s: mxgate_user: no user '%.32s' (create it: useradd --system "
			 "--user-group --no-create-home --shell /usr/sbin/nologin %.32s)",
			 cfg.path, cfg.mxgate_user, cfg.mxgate_user);
		return -1;
	}
	if (pw->pw_uid == 0 || pw->pw_gid == 0) {
		snprintf(err, errlen, "%s: mxgate_user: '%s' has uid or gid 0", cfg.path, cfg.mxgate_user);
		return -1;
	}
	pv->uid = pw->pw_uid;
	pv->gid = pw->pw_gid;
	if (gr == NULL) {
		snprintf(err, errlen, "%.200s: mxgate_group: no group '%.32s' (create it: groupadd --system %.32s)",
			 cfg.path, cfg.mxgate_group, cfg.mxgate_group);
		return -1;
	}
	if (gr->gr_gid == 0) {
		snprintf(err, errlen, "%s: mxgate_group: '%s' has gid 0", cfg.path, cfg.mxgate_group);
		return -1;
	}
	pv->group = gr->gr_gid;
	return 0;
}

/* A "Key:\t..." line of a status file; NULL if absent. */
static const char *status_field(const char *buf, const char *key)
{
	size_t kl = strlen(key);

	for (const char *p = buf; p != NULL && *p; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, key, kl) == 0)
			return p + kl;
	}
	return NULL;
}

/* Every thread runs as uid/gid with no capability and no other group; count them. */
static int privs_check_threads(const struct privs *pv, unsigned *nthreads, char *err, size_t errlen)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	char path[64], buf[4096], want_uid[64], want_gid[64], want_groups[32];
	int bad = 0;

	*nthreads = 0;
	if (d == NULL) {
		snprintf(err, errlen, "cannot check the threads: /proc/self/task: %s", strerror(errno));
		return -1;
	}
	snprintf(want_uid, sizeof(want_uid), "\t%u\t%u\t%u\t%u\n", pv->uid, pv->uid, pv->uid, pv->uid);
	snprintf(want_gid, sizeof(want_gid), "\t%u\t%u\t%u\t%u\n", pv->gid, pv->gid, pv->gid, pv->gid);
	snprintf(want_groups, sizeof(want_groups), "\t%u \n", pv->gid);
	while (!bad && (e = readdir(d)) != NULL) {
		static const char *const caps[] = { "CapInh:", "CapPrm:", "CapEff:", "CapAmb:" };
		const char *f;
		FILE *fp;
		size_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%.16s/status", e->d_name);
		if ((fp = fopen(path, "r")) == NULL)
			continue;       /* a thread that has just ended */
		n = fread(buf, 1, sizeof(buf) - 1, fp);
		fclose(fp);
		buf[n] = '\0';
		(*nthreads)++;
		if ((f = status_field(buf, "Uid:")) == NULL || strncmp(f, want_uid, strlen(want_uid)) != 0 ||
		    (f = status_field(buf, "Gid:")) == NULL || strncmp(f, want_gid, strlen(want_gid)) != 0 ||
		    (f = status_field(buf, "Groups:")) == NULL || strncmp(f, want_groups, strlen(want_groups)) != 0 ||
		    (f = status_field(buf, "NoNewPrivs:")) == NULL || strncmp(f, "\t1\n", 3) != 0) {
			snprintf(err, errlen, "thread %s kept ids, groups or may gain privileges: %.200s",
				 e->d_name, buf);
			bad = 1;
		}
		for (unsigned i = 0; !bad && i < sizeof(caps) / sizeof(caps[0]); i++)
			if ((f = status_field(buf, caps[i])) == NULL ||
			    strncmp(f, "\t0000000000000000\n", 18) != 0) {
				snprintf(err, errlen, "thread %s kept capabilities (%s%.17s)", e->d_name,
					 caps[i], f ? f + 1 : "?");
				bad = 1;
			}
	}
	closedir(d);
	return bad || *nthreads == 0 ? -1 : 0;
}

/* Become mxgate_user for good in every thread; 0, or -1 with why (then mxgate must exit). */
static int privs_drop(const struct privs *pv, char *err, size_t errlen)
{
	unsigned n;

	if (cfg.control_socket[0] &&
	    (chown(cfg.control_socket, pv->uid, pv->group) != 0 || chmod(cfg.control_socket, 0660) != 0)) {
		snprintf(err, errlen, "control_socket %s: cannot give it to %s:%s: %s", cfg.control_socket,
			 cfg.mxgate_user, cfg.mxgate_group, strerror(errno));
		return -1;
	}
	/* supplementary groups first (needs root), then the gid (needs root), the uid last */
	if (setgroups(1, &pv->gid) != 0 || setresgid(pv->gid, pv->gid, pv->gid) != 0 ||
	    setresuid(pv->uid, pv->uid, pv->uid) != 0) {
		snprintf(err, errlen, "cannot become %s (uid %u gid %u): %s", cfg.mxgate_user, pv->uid,
			 pv->gid, strerror(errno));
		return -1;
	}
	/* no way back: each of these must fail now */
	if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0 || setegid(0) == 0 ||
	    setgroups(0, NULL) == 0) {
		snprintf(err, errlen, "root could be regained after becoming %s", cfg.mxgate_user);
		return -1;
	}
	if (privs_check_threads(pv, &n, err, errlen) != 0)
		return -1;
	/* Changing ids made the process non-dumpable: no core file with keys in it, no
	   ptrace by processes of the same user (mxgate-control runs as it). A sanitized
	   build only turns that back on, for LeakSanitizer's tracer at exit. */
	if (MX_SANITIZED && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) {
		snprintf(err, errlen, "PR_SET_DUMPABLE: %s", strerror(errno));
		return -1;
	}
	fprintf(stderr, "mxgate: running as %s (uid %u, gid %u) in all %u threads, no capabilities; "
		"control socket %s:%s 0660\n", cfg.mxgate_user, pv->uid, pv->gid, n, cfg.mxgate_user,
		cfg.mxgate_group);
	return 0;
}

/* Print usage. */
static void usage(FILE *f)
{
	fprintf(f, "usage: mxgate [EAL options] -- -c FILE\n"
		   "       mxgate --check -c FILE    validate FILE and exit (no EAL, no root)\n"
		   "       mxgate -n -c FILE         print the keys FILE sets, sorted (no EAL)\n"
		   "  -c FILE   configuration (Postfix main.cf style), see deploy/lab.conf\n"
		   "  -h        this help\n"
		   "signals: SIGTERM/SIGINT stop cleanly, SIGUSR1 writes the counters to stats_file\n");
}

/* Worker lcores: the configured list, or every EAL worker. */
static int pick_workers(unsigned *lcores, char *err, size_t errlen)
{
	unsigned i, n = 0, l;

	if (cfg.nworkers > 0) {
		for (i = 0; i < cfg.nworkers; i++) {
			l = cfg.worker_lcores[i];
			if (l >= RTE_MAX_LCORE || !rte_lcore_is_enabled(l) || l == rte_get_main_lcore()) {
				snprintf(err, errlen, "%s: worker_lcores: lcore %u is not an EAL worker "
					 "lcore (give it to EAL with -l/--lcores; the main lcore %u is "
					 "the service thread)", cfg.path, l, rte_get_main_lcore());
				return -1;
			}
			lcores[n++] = l;
		}
		return (int)n;
	}
	RTE_LCORE_FOREACH_WORKER(l) {
		if (n == CFG_MAX_WORKERS)
			break;
		lcores[n++] = l;
	}
	if (n == 0) {
		snprintf(err, errlen, "no worker lcore: give EAL at least two lcores (e.g. -l 0,1)");
		return -1;
	}
	return (int)n;
}

/* The access map from access_file, or NULL when none is configured. */
static struct pol_snapshot *policy_setup(int *failed)
{
	struct pol_builder *b;
	struct pol_snapshot *snap;
	char err[512];

	*failed = 0;
	if (cfg.access_file[0] == 0)
		return NULL;
	b = pol_builder_new();
	if (b == NULL || pol_load_file(b, cfg.access_file, err, sizeof(err)) != 0 ||
	    (snap = pol_build(b, err, sizeof(err))) == NULL) {
		fprintf(stderr, "mxgate: access_file: %s\n", b == NULL ? "out of memory" : err);
		pol_builder_free(b);
		*failed = 1;
		return NULL;
	}
	pol_builder_free(b);
	fprintf(stderr, "mxgate: access map %s: %zu entries\n", cfg.access_file, pol_snapshot_count(snap));
	return snap;
}

/* Split a list of file names (white space or commas) in place; 0 or -1 if too many. */
static int split_files(char *list, char *out[TLS_MAX_CERTS], unsigned *n)
{
	char *save = NULL, *tok;

	*n = 0;
	for (tok = strtok_r(list, " \t,", &save); tok != NULL; tok = strtok_r(NULL, " \t,", &save)) {
		if (*n == TLS_MAX_CERTS)
			return -1;
		out[(*n)++] = tok;
	}
	return 0;
}

/* The TLS context from the configuration, or NULL when no certificate is set. */
static struct tls_ctx *tls_setup(int *failed)
{
	struct tls_server_cfg tc;
	struct tls_ctx *t;
	char err[512], *chains[TLS_MAX_CERTS], *keys[TLS_MAX_CERTS];
	unsigned nchains, nkeys, i;

	*failed = 0;
	if (cfg.tls_cert_file[0] == 0 && cfg.tls_key_file[0] == 0)
		return NULL;
	if (cfg.tls_cert_file[0] == 0 || cfg.tls_key_file[0] == 0) {
		fprintf(stderr, "mxgate: %s: tls_cert_file and tls_key_file go together\n", cfg.path);
		*failed = 1;
		return NULL;
	}
	service_tls_settings(&cfg, &tc);
	if (split_files(cfg.tls_cert_file, chains, &nchains) != 0 ||
	    split_files(cfg.tls_key_file, keys, &nkeys) != 0 || nchains != nkeys) {
		fprintf(stderr, "mxgate: %s: tls_cert_file and tls_key_file must list the same number "
			"of files (at most %d), paired in order\n", cfg.path, TLS_MAX_CERTS);
		*failed = 1;
		return NULL;
	}
	for (i = 0; i < nchains; i++) {
		tc.certs[i].chain_file = chains[i];
		tc.certs[i].key_file = keys[i];
	}
	tc.ncerts = nchains;
	t = tls_ctx_new(&tc, err, sizeof(err));
	if (t == NULL) {
		fprintf(stderr, "mxgate: TLS: %s\n", err);
		*failed = 1;
	}
	return t;
}

/*
 * What can be checked of the configuration without EAL: the file (unless
 * loaded already), tls_ciphers, mxgate_user and mxgate_group (when root,
 * or always with all set), the certificates and keys, the access map.
 * 0 with *tls and *pol set up (NULL when not configured), or 2 once the
 * reason is on stderr.
 */
static int config_setup(const char *conf, int loaded, int all, struct privs *pv,
			struct tls_ctx **tls, struct pol_snapshot **pol)
{
	char err[512];
	int failed;

	*tls = NULL;
	*pol = NULL;
	if (!loaded && cfg_load(conf, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "mxgate: %s\n", err);
		return 2;
	}
	if (cfg.tls_ciphers[0] && tls_check_ciphers(cfg.tls_ciphers, err, sizeof(err)) != 0) {
		fprintf(stderr, "mxgate: %s: tls_ciphers: %s\n", cfg.path, err);
		return 2;
	}
	if ((all || geteuid() == 0) && privs_lookup(pv, err, sizeof(err)) != 0) {
		fprintf(stderr, "mxgate: %s\n", err);
		return 2;
	}
	*tls = tls_setup(&failed);
	if (!failed)
		*pol = policy_setup(&failed);
	if (failed) {
		tls_ctx_free(*tls);
		*tls = NULL;
		return 2;
	}
	return 0;
}

/* A warning of the configuration parser (a key set twice), on stderr. */
static void config_warning(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "mxgate: %s\n", msg);
}

/*
 * mxgate --check -c FILE and mxgate -n -c FILE, dispatched before EAL (no
 * hugepages, no ports, no root), like postfix check and postconf -n. Runs
 * only when argv has no "--" (the normal start always has one, between the
 * EAL options, where -n is EAL's, and mxgate's). The exit status, or -1
 * when this is a normal start.
 */
static int offline_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "check", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct tls_ctx *tls;
	struct pol_snapshot *pol;
	struct privs pv;
	const char *conf = NULL;
	char err[512];
	int i, opt, check = 0, show = 0, rc;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return -1;
		check |= strcmp(argv[i], "--check") == 0;
		show |= strcmp(argv[i], "-n") == 0;
	}
	if (!check && !show)
		return -1;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:nh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			conf = optarg;
			break;
		case 'k':
		case 'n':
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (conf == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (show && cfg_show_set(conf, &cfg, stdout, err, sizeof(err)) != 0) {
		fprintf(stderr, "mxgate: %s\n", err);
		return 2;
	}
	if (!check)
		return 0;
	rc = config_setup(conf, show, 1, &pv, &tls, &pol);
	tls_ctx_free(tls);
	pol_snapshot_free(pol);
	if (rc == 0)
		printf("configuration %s is valid\n", conf);
	return rc;
}

int main(int argc, char **argv)
{
	struct port_info pis[CFG_MAX_PORTS];
	unsigned lcores[CFG_MAX_WORKERS], w, p;
	const char *conf = NULL;
	struct rte_mempool *pool;
	struct tcp_params tp;
	struct tls_ctx *tls = NULL;
	struct pol_snapshot *pol = NULL;
	struct service sv;
	struct auth_service *auth;
	struct auth_cfg acfg;
	struct privs pv = { 0, 0, 0 };
	uint64_t last_rotate;
	int auth_wait_ms = -1;
	char err[512];
	int r, opt;

	/* before EAL makes threads, so that every thread has it: an exec never gains privileges */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		fprintf(stderr, "mxgate: PR_SET_NO_NEW_PRIVS: %s\n", strerror(errno));
		return 1;
	}
	cfg_set_warn(config_warning, NULL);
	r = offline_main(argc, argv);
	if (r >= 0)
		return r;
	r = rte_eal_init(argc, argv);
	if (r < 0) {
		fprintf(stderr, "mxgate: EAL initialisation failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	argc -= r;
	argv += r;
	optind = 1;
	while ((opt = getopt(argc, argv, "c:h")) != -1) {
		switch (opt) {
		case 'c':
			conf = optarg;
			break;
		case 'h':
			usage(stdout);
			rte_eal_cleanup();
			return 0;
		default:
			usage(stderr);
			rte_eal_cleanup();
			return 2;
		}
	}
	if (conf == NULL) {
		usage(stderr);
		rte_eal_cleanup();
		return 2;
	}
	if (config_setup(conf, 0, 0, &pv, &tls, &pol) != 0) {
		rte_eal_cleanup();
		return 2;
	}
	r = pick_workers(lcores, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "mxgate: %s\n", err);
		tls_ctx_free(tls);
		pol_snapshot_free(pol);
		rte_eal_cleanup();
		return 2;
	}
	nworkers = (unsigned)r;
	pool = rte_pktmbuf_pool_create("mx_pool", cfg.mbuf_pool_size, cfg.mbuf_cache_size, 0,
				       RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (pool == NULL) {
		fprintf(stderr, "mxgate: cannot create the mbuf pool of %u: %s (lower mbuf_pool_size "
			"or give EAL more memory with -m)\n", cfg.mbuf_pool_size, rte_strerror(rte_errno));
		rte_eal_cleanup();
		return 1;
	}
	for (p = 0; p < cfg.nports; p++)
		if (port_setup(&cfg.ports[p], nworkers, &cfg, pool, &pis[p], err, sizeof(err)) != 0) {
			fprintf(stderr, "mxgate: %s\n", err);
			while (p-- > 0)
				port_close(pis[p].port_id);
			rte_eal_cleanup();
			return 1;
		}
	memset(&tp, 0, sizeof(tp));
	tp.max_conns = cfg.max_conns;
	tp.syn_backlog = cfg.syn_backlog;
	tp.reasm_limit = cfg.reasm_limit;
	tp.reasm_total = cfg.reasm_total;
	tp.rcvbuf = cfg.rcvbuf;
	tp.sndbuf = cfg.sndbuf;
	tp.timewait_max = cfg.timewait_max;
	tp.timewait_ms = cfg.timewait_ms;
	tp.quickacks = 16;          /* as Linux: request/response peers with Nagle never wait 40 ms */
	if (getrandom(tp.secret, sizeof(tp.secret), 0) != sizeof(tp.secret)) {
		fprintf(stderr, "mxgate: getrandom: %s\n", strerror(errno));
		return 1;
	}
	acfg.fail_delay_ms = cfg.smtpd_auth_fail_delay_ms;
	acfg.fail_limit = cfg.smtpd_auth_fail_limit;
	acfg.fail_window_s = cfg.smtpd_auth_fail_window_s;
	acfg.queue_max = cfg.smtpd_auth_queue;
	if ((auth = auth_service_new(&acfg, nworkers)) == NULL) {
		fprintf(stderr, "mxgate: out of memory for SMTP AUTH\n");
		return 1;
	}
	for (w = 0; w < nworkers; w++) {
		struct net_ctx *ctx = net_ctx_create(w, nworkers, pool, port_xmit);
		char rname[32];

		if (ctx == NULL) {
			fprintf(stderr, "mxgate: out of memory for worker %u\n", w);
			return 1;
		}
		ctx->lcore_id = lcores[w];
		ctx->nifs = cfg.nports;
		for (p = 0; p < cfg.nports; p++) {
			port_if_fill(&ctx->ifs[p], &cfg.ports[p], &pis[p], p, w);
			if (port_impair_attach(&ctx->ifs[p], &cfg.impair, tp.secret[0] * 7919ull + w * 104729 + p + 1) != 0) {
				fprintf(stderr, "mxgate: out of memory for the impairment stage\n");
				return 1;
			}
		}
		snprintf(rname, sizeof(rname), "steer%u", w);
		ctx->steer[w] = rte_ring_create(rname, 4096, (int)rte_socket_id(), RING_F_SC_DEQ);
		if (ctx->steer[w] == NULL || tcp_ctx_init(ctx, &tp) != 0) {
			fprintf(stderr, "mxgate: out of memory for worker %u (max_conns %u)\n", w,
				cfg.max_conns);
			return 1;
		}
		if (cfg.echo_port && echo_start(ctx, (uint16_t)cfg.echo_port, cfg.echo_idle_ms) != 0) {
			fprintf(stderr, "mxgate: cannot listen on echo port %u\n", cfg.echo_port);
			return 1;
		}
		ctxs[w] = ctx;
		if (cfg.smtp_port || cfg.submission_port || cfg.smtps_port) {
			smtpw[w] = smtp_worker_start(ctx, &cfg, tls, pol, auth, err, sizeof(err));
			if (smtpw[w] == NULL) {
				fprintf(stderr, "mxgate: %s: %s\n", cfg.path, err);
				return 2;
			}
			smtp_group.vals[w] = (const uint64_t *)smtp_worker_stats(smtpw[w]);
			smtp_group.objs[w] = smtpw[w];
		}
	}
	smtp_group.prefix = "smtp_";
	smtp_group.names = smtp_stat_names;
	smtp_group.count = SMTP_STAT_COUNT;
	smtp_group.gauge = "active";
	smtp_group.labelled = smtp_worker_print_labelled;
	for (w = 0; w < nworkers; w++)
		for (p = 0; p < nworkers; p++)
			ctxs[w]->steer[p] = ctxs[p]->steer[p];

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGUSR1, on_signal);
	fprintf(stderr, "mxgate: %s: %u worker%s, %u port%s", cfg.hostname, nworkers,
		nworkers == 1 ? "" : "s", cfg.nports, cfg.nports == 1 ? "" : "s");
	for (p = 0; p < cfg.nports; p++)
		fprintf(stderr, "; %s %s %02x:%02x:%02x:%02x:%02x:%02x%s%s",
			cfg.ports[p].role == CFG_ROLE_OUTSIDE ? "outside" : "inside", cfg.ports[p].dev,
			pis[p].mac.addr_bytes[0], pis[p].mac.addr_bytes[1], pis[p].mac.addr_bytes[2],
			pis[p].mac.addr_bytes[3], pis[p].mac.addr_bytes[4], pis[p].mac.addr_bytes[5],
			pis[p].tx_csum_l4 ? " tx-csum" : "", pis[p].rss ? " rss" : "");
	fprintf(stderr, "%s\n", cfg.impair.enabled ? "; impairment ON" : "");
	rcu = rte_zmalloc("rcu", rte_rcu_qsbr_get_memsize(nworkers), RTE_CACHE_LINE_SIZE);
	if (rcu == NULL || rte_rcu_qsbr_init(rcu, nworkers) != 0) {
		fprintf(stderr, "mxgate: cannot set up RCU\n");
		return 1;
	}
	memset(&sv, 0, sizeof(sv));
	sv.cfg = &cfg;
	sv.ctxs = ctxs;
	sv.smtpw = smtpw;
	sv.nworkers = nworkers;
	sv.extra = &smtp_group;
	sv.tls = tls;
	sv.pol = pol;
	sv.rcu = rcu;
	sv.auth = auth;
	sv.started = time(NULL);
	if (pol != NULL)
		snprintf(sv.pol_version, sizeof(sv.pol_version), "file");
	if (service_open(&sv, err, sizeof(err)) != 0) {
		fprintf(stderr, "mxgate: %s\n", err);
		return 1;
	}
	if (geteuid() == 0) {
		if (privs_drop(&pv, err, sizeof(err)) != 0) {
			fprintf(stderr, "mxgate: %s\n", err);
			return 1;
		}
	} else {
		fprintf(stderr, "mxgate: not started as root: running as uid %u, mxgate_user not applied\n",
			(unsigned)geteuid());
	}
	for (w = 0; w < nworkers; w++)
		rte_eal_remote_launch(worker_main, ctxs[w], lcores[w]);
	fprintf(stderr, "mxgate: ready\n");

	last_rotate = rte_get_timer_cycles();
	while (!quit) {
		/* one password check (tens of ms) between two looks at the control socket */
		service_poll(&sv, auth_wait_ms < 0 || auth_wait_ms > 20 ? 20 : auth_wait_ms);
		auth_service_poll(auth, rte_get_timer_cycles() / (rte_get_timer_hz() / 1000000),
				  1, &auth_wait_ms);
		if (dump) {
			dump = 0;
			if (cfg.stats_file[0])
				stats_write_file(cfg.stats_file, ctxs, nworkers, &smtp_group);
			else
				stats_print(stderr, ctxs, nworkers, &smtp_group);
		}
		if (sv.tls != NULL && cfg.tls_ticket_rotate_s && !sv.tickets_from_control &&
		    rte_get_timer_cycles() - last_rotate > cfg.tls_ticket_rotate_s * rte_get_timer_hz()) {
			last_rotate = rte_get_timer_cycles();
			tls_ctx_rotate_tickets(sv.tls);
		}
	}
	rte_eal_mp_wait_lcore();
	service_close(&sv);
	fprintf(stderr, "mxgate: stopping; counters:\n");
	stats_print(stderr, ctxs, nworkers, &smtp_group);
	if (cfg.stats_file[0])
		stats_write_file(cfg.stats_file, ctxs, nworkers, &smtp_group);
	for (p = 0; p < cfg.nports; p++)
		port_close(pis[p].port_id);
	for (w = 0; w < nworkers; w++) {
		struct rte_ring *ring = ctxs[w]->steer[w];
		void *obj = NULL;

		while (rte_ring_dequeue(ring, &obj) == 0)
			rte_pktmbuf_free((struct rte_mbuf *)((uintptr_t)obj & ~1ul));
		for (p = 0; p < cfg.nports; p++)
			port_impair_free(&ctxs[w]->ifs[p]);
		smtp_worker_free(smtpw[w]);
		net_ctx_free(ctxs[w]);
		rte_ring_free(ring);
	}
	rte_mempool_free(pool);
	tls_ctx_free(sv.tls);
	pol_snapshot_free(sv.pol);
	auth_service_free(auth);
	rte_free(rcu);
	rte_eal_cleanup();
	fprintf(stderr, "mxgate: stopped\n");
	return 0;
}
