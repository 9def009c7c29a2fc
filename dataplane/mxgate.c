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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <fcntl.h>
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
#include "crypto/tls.h"
#include "policy/policy.h"
#include "dataplane/service.h"
#include <rte_malloc.h>

static volatile sig_atomic_t quit, dump, hup;
static struct mx_config cfg;
static struct net_ctx *ctxs[CFG_MAX_WORKERS];
static struct smtp_worker *smtpw[CFG_MAX_WORKERS];
static struct stats_group smtp_group;
static struct rte_rcu_qsbr *rcu;
static unsigned nworkers;

/* SIGTERM/SIGINT stop, SIGUSR1 dumps the counters, SIGHUP reloads the configuration. */
static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		dump = 1;
	else if (sig == SIGHUP)
		hup = 1;
	else
		quit = 1;
}

/* Worker lcore: poll the ports and the steering ring, run timers, flush. */
static int worker_main(void *arg)
{
	struct net_ctx *ctx = arg;
	struct smtp_worker *sw = smtpw[ctx->worker];
	uint64_t hz = rte_get_tsc_hz(), tsc0 = rte_rdtsc(), prev = tsc0;
	uint64_t mult = (1000000ull << 32) / hz, round_le[NET_ROUND_BUCKETS];
	unsigned i, empty = 0;

	ctx->now_us = 0;
	for (i = 0; i < NET_ROUND_BUCKETS; i++)
		round_le[i] = stats_round_le_us[i] * hz / 1000000;
	rte_rcu_qsbr_thread_register(rcu, ctx->worker);
	rte_rcu_qsbr_thread_online(rcu, ctx->worker);
	if (ctx->worker == 0)
		net_announce(ctx);
	while (!quit) {
		/* nothing shared (the access map, the configuration) is held across polls */
		rte_rcu_qsbr_quiescent(rcu, ctx->worker);
		uint64_t t;
		unsigned work = 0;

		if (sw != NULL)
			smtp_worker_sync(sw);    /* a configuration from SIGHUP, from here on */

		ctx->now_us = (uint64_t)(((unsigned __int128)(prev - tsc0) * mult) >> 32);
		for (i = 0; i < ctx->nifs; i++)
			work += port_poll(ctx, &ctx->ifs[i]);
		work += net_steer_poll(ctx);
		if (sw != NULL)
			work += smtp_worker_poll(sw);
		net_timers(ctx);
		net_flush(ctx);
		t = rte_rdtsc();
		if (work) {
			uint64_t d = t - prev;

			for (i = 0; i < NET_ROUND_BUCKETS && d > round_le[i]; i++)
				;
			ctx->st.busy_rounds[i]++;
			ctx->st.busy_cycles += d;
			empty = 0;
		} else {
			/* not while an RSA run is held for more operations (tls_worker_set_rsa_pace) */
			if (cfg.idle_sleep_us && ++empty > 256 &&
			    (sw == NULL || !smtp_worker_keys_waiting(sw))) {
				usleep(cfg.idle_sleep_us);
				t = rte_rdtsc();
			}
			ctx->st.idle_cycles += t - prev;
		}
		prev = t;
	}
	net_flush(ctx);
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
		   "signals: SIGTERM/SIGINT stop cleanly, SIGUSR1 writes the counters to stats_file,\n"
		   "         SIGHUP reads FILE again and applies what can change live (mxgate.conf(5))\n");
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

/* access_file's text, kept as the lower layer of every map pushed later (service.h) */
static char *access_text;
static size_t access_len;

/*
 * The access map from c's access_file, or NULL when none is configured
 * (*failed 0) or on an error (1, why in err); the file's text (malloc'd,
 * the caller's) in *text and *len.
 */
static struct pol_snapshot *policy_setup(const struct mx_config *c, int *failed, char **text, size_t *len,
					 char *err, size_t errlen)
{
	struct pol_builder *b;
	struct pol_snapshot *snap;
	char why[400];

	*failed = 0;
	if (c->access_file[0] == 0)
		return NULL;
	b = pol_builder_new();
	*text = NULL;
	if (b == NULL || (*text = pol_read_file(c->access_file, len, why, sizeof(why))) == NULL ||
	    pol_parse(b, c->access_file, *text, *len, why, sizeof(why)) != 0 ||
	    (snap = pol_build(b, why, sizeof(why))) == NULL) {
		snprintf(err, errlen, "access_file: %s", b == NULL ? "out of memory" : why);
		pol_builder_free(b);
		free(*text);
		*text = NULL;
		*failed = 1;
		return NULL;
	}
	pol_builder_free(b);
	fprintf(stderr, "mxgate: access map %s: %zu entries\n", c->access_file, pol_snapshot_count(snap));
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

/*
 * The TLS context from c, or NULL when no certificate is set (*failed 0)
 * or on an error (1, why in err). The files are read now: a reload with
 * the same names takes what they hold then.
 */
static struct tls_ctx *tls_setup(const struct mx_config *c, int *failed, char *err, size_t errlen)
{
	struct tls_server_cfg tc;
	struct tls_ctx *t;
	char why[400], *chains[TLS_MAX_CERTS], *keys[TLS_MAX_CERTS];
	char cert_files[sizeof(c->tls_cert_file)], key_files[sizeof(c->tls_key_file)];
	unsigned nchains, nkeys, i;

	*failed = 0;
	if (c->tls_cert_file[0] == 0 && c->tls_key_file[0] == 0)
		return NULL;
	*failed = 1;
	if (c->tls_cert_file[0] == 0 || c->tls_key_file[0] == 0) {
		snprintf(err, errlen, "%s: tls_cert_file and tls_key_file go together", c->path);
		return NULL;
	}
	service_tls_settings(c, &tc);
	memcpy(cert_files, c->tls_cert_file, sizeof(cert_files));   /* split in place */
	memcpy(key_files, c->tls_key_file, sizeof(key_files));
	if (split_files(cert_files, chains, &nchains) != 0 ||
	    split_files(key_files, keys, &nkeys) != 0 || nchains != nkeys) {
		snprintf(err, errlen, "%s: tls_cert_file and tls_key_file must list the same number "
			 "of files (at most %d), paired in order", c->path, TLS_MAX_CERTS);
		return NULL;
	}
	for (i = 0; i < nchains; i++) {
		tc.certs[i].chain_file = chains[i];
		tc.certs[i].key_file = keys[i];
	}
	tc.ncerts = nchains;
	t = tls_ctx_new(&tc, why, sizeof(why));
	if (t == NULL)
		snprintf(err, errlen, "TLS: %s", why);
	else
		*failed = 0;
	return t;
}

/*
 * backend_tls_ca_file, read here as the workers' relay pools will read it at
 * start (dataplane/smtp/relay.c), so that a file they cannot load is found
 * by mxgate --check and by SIGHUP, not by the next start. 0, or -1 with err.
 */
static int backend_ca_check(const struct mx_config *c, char *err, size_t errlen)
{
	struct tls_ctx *t;
	char why[400];
	int rc;

	if (c->backend_tls_ca_file[0] == 0 || c->nbackends == 0)
		return 0;
	t = tls_client_ctx_new(why, sizeof(why));
	rc = t != NULL ? tls_client_ctx_set_ca(t, c->backend_tls_ca_file, why, sizeof(why)) : -1;
	tls_ctx_free(t);
	if (rc != 0)
		snprintf(err, errlen, "%.100s: backend_tls_ca_file: %.380s", c->path, why);
	return rc;
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
	if (backend_ca_check(&cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "mxgate: %s\n", err);
		return 2;
	}
	*tls = tls_setup(&cfg, &failed, err, sizeof(err));
	if (!failed)
		*pol = policy_setup(&cfg, &failed, &access_text, &access_len, err, sizeof(err));
	if (failed) {
		fprintf(stderr, "mxgate: %s\n", err);
		tls_ctx_free(*tls);
		*tls = NULL;
		return 2;
	}
	return 0;
}

/*
 * The log. mxgate writes it on stderr, which the service manager points
 * at a file or the journal. When that is a file, SIGHUP opens its path
 * again (after logrotate moved it: logrotate's "create" makes the new one,
 * writable by mxgate_user) and points stdout and stderr there if both were
 * the file. This is the one place SIGHUP touches the log: a syslog writer
 * hooks its closelog()/openlog() here.
 */
static char log_path[512];
static int log_stdout_too;

/* At start: remember the file stderr is, if it is one. */
static void log_init(void)
{
	struct stat e, o;
	ssize_t n;

	if (fstat(2, &e) != 0 || !S_ISREG(e.st_mode))
		return;
	n = readlink("/proc/self/fd/2", log_path, sizeof(log_path) - 1);
	log_path[n > 0 ? n : 0] = '\0';
	log_stdout_too = fstat(1, &o) == 0 && o.st_dev == e.st_dev && o.st_ino == e.st_ino;
}

/* SIGHUP: write on to a new file at the log's path (see log_init()). */
static void log_reopen(void)
{
	struct stat now, open_one;
	int fd;

	if (log_path[0] == '\0')
		return;
	if (stat(log_path, &now) == 0 && fstat(2, &open_one) == 0 && now.st_dev == open_one.st_dev &&
	    now.st_ino == open_one.st_ino)
		return;         /* not moved: nothing to reopen */
	fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		fprintf(stderr, "mxgate: SIGHUP: cannot reopen the log %s: %s; writing on to the open one\n",
			log_path, strerror(errno));
		return;
	}
	fflush(stdout);
	if (log_stdout_too)
		dup2(fd, 1);
	dup2(fd, 2);
	close(fd);
	fprintf(stderr, "mxgate: SIGHUP: log %s reopened\n", log_path);
}

/* What cfg_merge() reported, printed once the reload is known to apply. */
struct reload_note {
	char text[8192];
	size_t len;
};

/* Add a line "mxgate: SIGHUP: ..." to the note. */
static void __attribute__((format(printf, 2, 3)))
reload_say(struct reload_note *n, const char *fmt, ...)
{
	va_list ap;
	int k = snprintf(n->text + n->len, sizeof(n->text) - n->len, "mxgate: SIGHUP: ");

	if (k < 0 || n->len + (size_t)k >= sizeof(n->text) - 1)
		return;
	va_start(ap, fmt);
	k += vsnprintf(n->text + n->len + (size_t)k, sizeof(n->text) - n->len - (size_t)k, fmt, ap);
	va_end(ap);
	if (k > 0 && n->len + (size_t)k < sizeof(n->text) - 1) {
		n->len += (size_t)k;
		n->text[n->len++] = '\n';
		n->text[n->len] = '\0';
	}
}

/* Note one key that changed (cfg_change_fn). */
static void reload_change(void *arg, const char *key, int live)
{
	reload_say(arg, "%s: %s", key, live ? "changed, applied" :
		   "changed, restart needed: the running value stays");
}

/*
 * SIGHUP (service lcore): reopen the log; read the configuration file
 * again; keep the running value of every key that needs a restart
 * (cfg_merge(), logged per key); run mxgate --check's checks on the rest
 * and build the TLS context (the files are read again, the same names may
 * hold new certificates) and the access map; then publish all of it at
 * once (service_apply_config()). A file that fails anywhere is refused as
 * a whole: one log line, nothing changes. Certificates that the control
 * plane pushed stay in force (logged); access_file's map goes under the
 * one it pushed, as at start (service_set_access_file()).
 */
static void config_reload(struct service *sv, const char *conf)
{
	struct mx_config *next = malloc(sizeof(*next));
	struct reload_note *note = calloc(1, sizeof(*note));
	struct tls_ctx *tls = NULL;
	struct pol_snapshot *pol = NULL;
	int failed = 0;
	unsigned live;
	char err[512], why[400], *text = NULL;
	size_t tlen = 0;

	log_reopen();
	if (next == NULL || note == NULL) {
		snprintf(err, sizeof(err), "out of memory");
		goto refused;
	}
	/* the file's own backend_tls_ca_file (a restart key: cfg_merge() puts the running one back),
	   checked when it changed: the running one was read as root at start and may be readable
	   by root alone, while this runs as mxgate_user */
	if (cfg_load(conf, next, err, sizeof(err)) != 0 ||
	    (strcmp(next->backend_tls_ca_file, sv->cfg->backend_tls_ca_file) != 0 &&
	     backend_ca_check(next, err, sizeof(err)) != 0))
		goto refused;
	live = cfg_merge(sv->cfg, next, reload_change, note);
	if (next->tls_ciphers[0] && tls_check_ciphers(next->tls_ciphers, why, sizeof(why)) != 0) {
		snprintf(err, sizeof(err), "%.100s: tls_ciphers: %.380s", next->path, why);
		goto refused;
	}
	if (sv->tls != NULL && service_tls_from_control(sv)) {
		reload_say(note, "certificates: the ones the control plane set stay in force; the files are not read");
	} else if (sv->tls != NULL) {
		tls = tls_setup(next, &failed, err, sizeof(err));
		if (failed)
			goto refused;
	}
	/* access_file is read again and checked alone; it goes under the pushed map below */
	pol = policy_setup(next, &failed, &text, &tlen, err, sizeof(err));
	if (failed)
		goto refused;
	pol_snapshot_free(pol);
	pol = NULL;
	service_apply_config(sv, next, tls);
	if ((text != NULL || sv->pol_file != NULL) &&
	    service_set_access_file(sv, text, tlen, why, sizeof(why)) != 0) {
		/* the file alone was good; with the pushed map over it, it is not (a bound) */
		reload_say(note, "access_file: not applied, the map in force stays: %s", why);
		free(text);
	}
	fputs(note->text, stderr);
	fprintf(stderr, "mxgate: SIGHUP: configuration %s reloaded: %u live setting%s changed%s\n", conf,
		live, live == 1 ? "" : "s", tls != NULL ? ", certificates read again" : "");
	free(note);
	return;
refused:
	sv->reloads[1]++;
	fprintf(stderr, "mxgate: SIGHUP: configuration %s refused, the one in force stays: %s\n", conf, err);
	tls_ctx_free(tls);
	pol_snapshot_free(pol);
	free(next);
	free(note);
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
	free(access_text);
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
	log_init();
	signal(SIGHUP, on_signal);     /* from now on a SIGHUP waits for the service loop */
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
		free(access_text);
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
	acfg.ipv6_48_max = cfg.smtpd_auth_ipv6_48_limit;
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
	if (pol != NULL) {
		snprintf(sv.pol_version, sizeof(sv.pol_version), "file");
		sv.pol_file = access_text;             /* the service's from now on */
		sv.pol_file_len = access_len;
		sv.pol_file_entries = pol_snapshot_count(pol);
		access_text = NULL;
	}
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
		if (hup) {
			hup = 0;
			config_reload(&sv, conf);
		}
		if (dump) {
			dump = 0;
			if (sv.cfg->stats_file[0])
				stats_write_file(sv.cfg->stats_file, ctxs, nworkers, &smtp_group);
			else
				stats_print(stderr, ctxs, nworkers, &smtp_group);
		}
		if (sv.tls != NULL && sv.cfg->tls_ticket_rotate_s && !sv.tickets_from_control &&
		    rte_get_timer_cycles() - last_rotate > sv.cfg->tls_ticket_rotate_s * rte_get_timer_hz()) {
			last_rotate = rte_get_timer_cycles();
			tls_ctx_rotate_tickets(sv.tls);
		}
	}
	rte_eal_mp_wait_lcore();
	fprintf(stderr, "mxgate: stopping; counters:\n");
	stats_print(stderr, ctxs, nworkers, &smtp_group);
	if (sv.cfg->stats_file[0])
		stats_write_file(sv.cfg->stats_file, ctxs, nworkers, &smtp_group);
	service_close(&sv);
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
	if (sv.cfg_reloaded)
		free((void *)sv.cfg);  /* after the workers: their sessions log with it as they end */
	tls_ctx_free(sv.tls);
	pol_snapshot_free(sv.pol);
	auth_service_free(auth);
	rte_free(rcu);
	rte_eal_cleanup();
	fprintf(stderr, "mxgate: stopped\n");
	return 0;
}
