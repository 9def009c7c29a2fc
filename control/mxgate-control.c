/*
 * mxgate-control.c - the control plane of one appliance (DESIGN.md,
 * "Processes"): an ordinary process that reads the policy, the
 * certificates (with the client-certificate CA and CRL, and OCSP responses
 * to staple), the session-ticket keys and the SMTP AUTH users from Redis,
 * validates them,
 * pushes them to mxgate over its control socket (common/ctl.h), follows
 * changes on the Redis channel <prefix>events, keeps the last good state
 * while Redis is away (and gives it again to an mxgate that restarted
 * meanwhile), and exports mxgate's counters: Prometheus text over HTTP at
 * metrics_listen, and appliance totals in the Redis hash
 * <prefix>stats:<appliance_id>.
 *
 *   mxgate-control -c FILE [-f] [-i SECONDS]
 *
 * FILE is mxgate's own configuration file (control_socket, redis_server,
 * or redis_sentinels and redis_master_name (the master through Sentinel,
 * following +switch-master, store.c), redis_user, redis_password,
 * redis_prefix, metrics_listen, appliance_id, mxgate_user (started by
 * root, it becomes that user: drop_root);
 * session tickets only when tls_cert_file is set and tls_ticket_rotate_s
 * is not 0). -f: stay in the foreground and log to stderr with timestamps
 * (else: daemon, syslog facility mail). -i: seconds between two counter
 * fetches [5]. SIGTERM/SIGINT: clean stop. SIGHUP: full resync from Redis
 * and push everything again.
 *
 * Redis schema (common/schema.h, shared with mxctl), as read here:
 *   <prefix>policy            hash: access-map key -> value ("To:lab.example" -> "RELAY")
 *   <prefix>policy:version    string: INCR on every change
 *   <prefix>events            channel: "policy <version>", "tickets", "certs", "users"
 *   <prefix>tickets           hash: current, previous: 96 hex digits (48 bytes) each;
 *                             no current: one is made here (WATCH/MULTI: one appliance wins)
 *   <prefix>certs             set: certificate names (mxctl cert add)
 *   <prefix>cert:<name>       hash: chain, key (PEM), sni ("a.example,b.example"), ocsp
 *                             (optional DER OCSP response stapled, 1..64 KiB); the
 *                             default certificate is the first name in byte order
 *   <prefix>ca                string: PEM CA certificates trusted for client certificates
 *                             (replaces tls_ca_file/tls_ca_dir while set)
 *   <prefix>crl               string: PEM CRL(s) (replaces tls_crl_file while set); ca and
 *                             crl go with the certificates ("certs"), also without any
 *   <prefix>auth:<user>       string: SMTP AUTH password hash (crypto/passwd.h "$scrypt$...");
 *                             read with SCAN, at most 2^20 users, bad ones skipped and logged
 *   <prefix>stats:<id>        hash: metric name (lcore label dropped) -> appliance total,
 *                             and "updated" (unix time)
 *   <prefix>generation        string: "<16 hex> <writer>", the data set's marker: stamped
 *                             here (SET NX) when none is found and nothing is held yet;
 *                             checked before every sync (store.c sync_generation): gone,
 *                             or changed by anything but mxctl (reload --force), = Redis
 *                             lost its data: nothing is read or pushed, no ticket key is
 *                             made, mxgate keeps the last good state until the marker is
 *                             back or re-stamped by mxctl; given to mxgate first
 *                             (CTL_SET_GENERATION), and learnt back from its CTL_STATUS
 *                             before Redis is read when we hold none (a restart)
 *
 * Change detection: each event triggers a check; the policy is re-read
 * only when <prefix>policy:version differs from the one held (the full
 * resync after each reconnect also compares the content). Every interval
 * the version, the ticket keys, the certificates and the users are checked again, so
 * a change whose PUBLISH was lost is applied within one interval. Invalid
 * data in Redis is logged (once per content, with the key and why) and
 * never pushed; what mxgate refuses is not retried until it changes.
 * An mxgate restart is noticed by a failed call, or by CTL_STATUS no
 * longer showing the policy version pushed or the ticket keys given
 * ("tickets local rotation"); then everything is pushed again. An
 * "auth_users" count in CTL_STATUS other than the one pushed gets the
 * users pushed again.
 *
 * One thread, one poll() loop over the subscriber connection, the HTTP
 * server and its clients. Redis commands are synchronous with a 2 s
 * socket timeout; control-socket calls have a 5 s one. Every retry backs
 * off from 0.1 s to 5 s (with jitter).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <pwd.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "common/metric_table.h"
#include "control/control.h"
#include "control/util.h"
#include "common/ctl.h"

static volatile sig_atomic_t g_stop, g_hup;

/* ---- mxgate's control socket ---- */

/* mxgate (restarted, or back) gets everything we hold again, refused things included. */
static void push_all_again(struct app *a)
{
	int k;

	for (k = 0; k < SY_KINDS; k++)
		a->sy[k].pushed = a->sy[k].refused = 0;
}

/* One request, one reply, on a fresh connection with I/O timeouts; 0 or -1 (logged once per outage). */
static int mx_call(struct app *a, uint8_t type, const void *payload, size_t len, struct ctl_msg *m)
{
	char err[512];

	memset(m, 0, sizeof(*m));
	if (ctl_call(a->cfg.control_socket, type, payload, len, m, err, sizeof(err)) != 0) {
		if (!a->ctl_down)
			logm("mxgate control socket: %s; retrying with back-off (mxgate keeps what it has)",
			     err);
		a->ctl_down = 1;
		/* whatever mxgate comes back as, it gets everything again */
		push_all_again(a);
		a->ctl_retry_at = now_ms() + backoff_next(&a->ctl_backoff);
		return -1;
	}
	if (a->ctl_down)
		logm("mxgate answers on %s again", a->cfg.control_socket);
	a->ctl_down = 0;
	a->ctl_backoff = 0;
	return 0;
}

/* The value of "key value" line key in CTL_STATUS text, into out ("" if absent). */
static void status_field(const char *text, const char *key, char *out, size_t outlen)
{
	size_t kl = strlen(key);
	const char *p = text;

	out[0] = '\0';
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		if (n > kl && strncmp(p, key, kl) == 0 && (p[kl] == ' ' || p[kl] == '\t')) {
			const char *v = p + kl;
			size_t vl;

			while (*v == ' ' || *v == '\t')
				v++;
			vl = (size_t)(p + n - v);
			while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
				vl--;
			if (vl >= outlen)
				vl = outlen - 1;
			memcpy(out, v, vl);
			out[vl] = '\0';
			return;
		}
		p = nl ? nl + 1 : NULL;
	}
}

/*
 * The first CTL_STATUS answer, before Redis is read (main: no sync until
 * then while no marker is held): a restarted mxgate-control holds nothing,
 * but mxgate may hold the state pushed before, of the data set whose
 * generation marker it reports. That marker becomes the one held, so an
 * empty Redis (marker gone) is "lost" now too, not a new store whose
 * emptiness would be pushed. An mxgate that reports no marker but holds
 * pushed state (one that predates SET_GENERATION): a missing marker is
 * "lost" as well (store.c sync_generation).
 */
static void mx_learn(struct app *a, const char *gen, const char *polver, const char *tickets,
		     const char *users)
{
	a->mx_known = 1;
	if (a->gen[0])
		return;
	if (gen[0] && strcmp(gen, "-") != 0 && strlen(gen) <= GEN_MAX) {
		snprintf(a->gen, sizeof(a->gen), "%s", gen);
		synced_hold(&a->sy[SY_GEN], 0);
		logm("mxgate holds the state of Redis generation \"%s\": that marker is the one expected "
		     "in Redis", a->gen);
		return;
	}
	/* "-": no map, "file": access_file's (dataplane/mxgate.c); else one pushed */
	a->mx_holds = (polver[0] && strcmp(polver, "-") != 0 && strcmp(polver, "file") != 0) ||
		      strcmp(tickets, "from control plane") == 0 || strtoull(users, NULL, 10) > 0;
	if (a->mx_holds)
		logm("mxgate holds pushed state but reports no generation marker (policy version %s, "
		     "tickets %s, %s users): a Redis without a marker will be taken as lost",
		     polver[0] ? polver : "-", tickets[0] ? tickets : "-", users[0] ? users : "0");
}

/*
 * CTL_STATUS: notice a restarted mxgate (its pid or start time changed)
 * or one whose policy version is no longer the one we pushed; either way
 * it gets everything again. after_push: record the version it reports now.
 */
static void mx_check_status(struct app *a, int after_push)
{
	const struct synced *pol = &a->sy[SY_POLICY], *tk = &a->sy[SY_TICKETS];
	struct synced *usr = &a->sy[SY_USERS];
	struct ctl_msg m;
	char ident[128], pid[48], started[48], polver[32], tickets[48], users[32], gen[GEN_MAX + 8];

	if (mx_call(a, CTL_STATUS, NULL, 0, &m) != 0)
		return;
	if (m.type != CTL_DATA) {
		free(m.data);
		return;
	}
	status_field(m.data, "pid", pid, sizeof(pid));
	status_field(m.data, "started", started, sizeof(started));
	status_field(m.data, "policy_version", polver, sizeof(polver));
	status_field(m.data, "tickets", tickets, sizeof(tickets));
	status_field(m.data, "auth_users", users, sizeof(users));
	status_field(m.data, "generation", gen, sizeof(gen));
	free(m.data);
	if (!a->mx_known)
		mx_learn(a, gen, polver, tickets, users);
	snprintf(ident, sizeof(ident), "%s/%s", pid, started);
	if (strcmp(ident, "/") != 0) {
		if (a->mx_ident[0] && strcmp(ident, a->mx_ident) != 0) {
			logm("mxgate restarted (pid/started %s, was %s): pushing everything again", ident,
			     a->mx_ident);
			push_all_again(a);
		}
		snprintf(a->mx_ident, sizeof(a->mx_ident), "%s", ident);
	}
	if (after_push) {
		snprintf(a->mx_polver, sizeof(a->mx_polver), "%s", polver);
	} else if (pol->have && pol->pushed && a->mx_polver[0] && strcmp(polver, a->mx_polver) != 0) {
		/* most likely a restart: then its ticket keys are its own again too */
		logm("mxgate reports policy version %s, not %s as pushed (restarted?): pushing "
		     "everything again", polver[0] ? polver : "(none)", a->mx_polver);
		push_all_again(a);
		a->mx_polver[0] = '\0';
	}
	/* mxgate rotates its own keys until it is given some: it forgot ours */
	if (synced_taken(tk) && strcmp(tickets, "local rotation") == 0) {
		logm("mxgate's session tickets: \"%s\" (restarted?): pushing everything again", tickets);
		push_all_again(a);
	}
	/* the users it holds are not the ones pushed (it restarted, or someone else pushed) */
	if (!after_push && synced_taken(usr) && users[0] &&
	    strtoull(users, NULL, 10) != (unsigned long long)a->usr_count) {
		logm("mxgate reports auth_users %s, not %zu as pushed: pushing the users again", users,
		     a->usr_count);
		usr->pushed = 0;
	}
}

static void push_generation(struct app *a)
{
	struct ctl_msg m;

	if (mx_call(a, CTL_SET_GENERATION, a->gen, strlen(a->gen), &m) != 0)
		return;
	a->sy[SY_GEN].pushed = 1;
	if (m.type != CTL_OK) {
		a->sy[SY_GEN].refused = 1;
		logm("mxgate refused the generation marker: %s %.300s (an older mxgate? after a restart of "
		     "mxgate-control an empty Redis cannot be told from a new one)", ctl_type_name(m.type),
		     m.data);
	}
	free(m.data);
}

static void push_policy(struct app *a)
{
	struct ctl_msg m;

	if (mx_call(a, CTL_SET_POLICY, a->pol.payload, a->pol.len, &m) != 0)
		return;
	a->sy[SY_POLICY].pushed = 1;
	if (m.type == CTL_OK) {
		a->policy_pushes++;
		logm("policy version %" PRIu64 " pushed to mxgate: %zu entr%s (mxgate: %.200s)",
		     a->pol.version, a->pol.entries, a->pol.entries == 1 ? "y" : "ies", m.data);
		free(m.data);
		mx_check_status(a, 1);
		return;
	}
	a->sy[SY_POLICY].refused = 1;
	a->policy_rejects++;
	logm("mxgate refused policy version %" PRIu64 ": %s %.300s (it keeps the one it has; "
	     "not retried until the map changes)", a->pol.version, ctl_type_name(m.type), m.data);
	free(m.data);
	mx_check_status(a, 1);
}

static void push_tickets(struct app *a)
{
	struct ctl_msg m;

	if (mx_call(a, CTL_SET_TICKET_KEYS, a->tk, sizeof(a->tk), &m) != 0)
		return;
	a->sy[SY_TICKETS].pushed = 1;
	if (m.type == CTL_OK) {
		a->ticket_pushes++;
		logm("session-ticket keys pushed to mxgate");
	} else {
		a->sy[SY_TICKETS].refused = 1;
		a->ticket_rejects++;
		logm("mxgate refused the session-ticket keys: %s %.300s", ctl_type_name(m.type), m.data);
	}
	free(m.data);
}

static void push_certs(struct app *a)
{
	struct ctl_msg m;

	if (mx_call(a, CTL_SET_CERTS, a->crt, a->crt_len, &m) != 0)
		return;
	a->sy[SY_CERTS].pushed = 1;
	if (m.type == CTL_OK) {
		a->cert_pushes++;
		logm("certificates pushed to mxgate (mxgate: %.200s)", m.data);
	} else {
		a->sy[SY_CERTS].refused = 1;
		a->cert_rejects++;
		logm("mxgate refused the certificates in Redis: %s %.300s (it keeps the ones in force; "
		     "not retried until they change)", ctl_type_name(m.type), m.data);
	}
	free(m.data);
}

static void push_users(struct app *a)
{
	struct ctl_msg m;

	if (mx_call(a, CTL_SET_USERS, a->usr, a->usr_len, &m) != 0)
		return;
	a->sy[SY_USERS].pushed = 1;
	if (m.type == CTL_OK) {
		a->user_pushes++;
		logm("SMTP AUTH users pushed to mxgate: %zu (mxgate: %.200s)", a->usr_count, m.data);
	} else {
		a->sy[SY_USERS].refused = 1;
		a->user_rejects++;
		logm("mxgate refused the SMTP AUTH users: %s %.300s (it keeps the ones it has; not "
		     "retried until they change)", ctl_type_name(m.type), m.data);
	}
	free(m.data);
}

/* Push what mxgate does not have yet, certificates first, unless the control socket is resting. */
static void push_pending(struct app *a)
{
	static void (*const push[SY_KINDS])(struct app *) = {
		[SY_GEN] = push_generation, [SY_CERTS] = push_certs, [SY_TICKETS] = push_tickets,
		[SY_POLICY] = push_policy, [SY_USERS] = push_users,
	};
	int k;

	for (k = 0; k < SY_KINDS && now_ms() >= a->ctl_retry_at; k++)
		if (synced_due(&a->sy[k]))
			push[k](a);
}

static int push_pending_wanted(const struct app *a)
{
	int k;

	for (k = 0; k < SY_KINDS; k++)
		if (synced_due(&a->sy[k]))
			return 1;
	return 0;
}

static void tick(struct app *a)
{
	struct ctl_msg m;

	if (now_ms() >= a->ctl_retry_at) {
		mx_check_status(a, 0);
		if (!a->ctl_down && mx_call(a, CTL_STATS, NULL, 0, &m) == 0) {
			if (m.type == CTL_DATA) {
				free(a->stats);
				a->stats = m.data;
				a->stats_len = m.len;
				a->stats_at = now_ms();
				a->stats_ok = 1;
				a->stats_fetches++;
			} else {
				if (a->stats_ok || a->stats_errors == 0)
					logm("mxgate answered STATS with %s %.200s", ctl_type_name(m.type),
					     m.data);
				free(m.data);
				a->stats_ok = 0;
				a->stats_errors++;
			}
		} else {
			a->stats_ok = 0;
			a->stats_errors++;
		}
	} else {
		a->stats_ok = 0;
	}
	if (a->rc) {
		char err[512];

		if (redis_check_master(a, err, sizeof(err)) != 0) {
			redis_lost(a, err);
			return;
		}
		if (a->stats_ok && stats_to_redis(a) < 0) {
			redis_lost(a, a->rc->errstr);
			return;
		}
		/* a change whose PUBLISH was lost is still seen within one interval */
		a->need_policy = 1;
		a->need_tickets = 1;
		a->need_certs = 1;
		a->need_users = 1;
	}
}

/*
 * The body of /metrics: mxgate's counters (when fresh) and our own, with
 * HELP and TYPE from common/metric_table.c once per family (metric_render).
 */
static char *metrics_body(void *arg, size_t *len)
{
	struct app *a = arg;
	char *buf = NULL, *raw = NULL;
	size_t sz = 0, rsz = 0;
	FILE *f = open_memstream(&raw, &rsz);
	long long age = a->stats_at ? (now_ms() - a->stats_at) / 1000 : -1;
	int fresh = a->stats_ok && a->stats && age >= 0 && age <= 3 * (long long)a->interval_s;

	if (!f)
		return NULL;
	if (fresh)
		fwrite(a->stats, 1, a->stats_len, f);
	fprintf(f, "\nmxgate_control_mxgate_up %d\nmxgate_control_redis_up %d\n", fresh, a->rc != NULL);
	if (a->sy[SY_USERS].have)
		fprintf(f, "mxgate_control_auth_users{status=\"valid\"} %zu\n"
			"mxgate_control_auth_users{status=\"skipped\"} %zu\n", a->usr_count, a->usr_nbad);
	if (a->sy[SY_POLICY].have)
		fprintf(f, "mxgate_control_policy_version %" PRIu64 "\nmxgate_control_policy_pushed %d\n",
			a->pol.version, a->sy[SY_POLICY].pushed && !a->sy[SY_POLICY].refused);
	fprintf(f, "mxgate_control_pushes_total{kind=\"policy\"} %llu\n"
		"mxgate_control_pushes_total{kind=\"tickets\"} %llu\n"
		"mxgate_control_pushes_total{kind=\"certs\"} %llu\n"
		"mxgate_control_pushes_total{kind=\"users\"} %llu\n"
		"mxgate_control_rejects_total{kind=\"policy\"} %llu\n"
		"mxgate_control_rejects_total{kind=\"tickets\"} %llu\n"
		"mxgate_control_rejects_total{kind=\"certs\"} %llu\n"
		"mxgate_control_rejects_total{kind=\"users\"} %llu\n"
		"mxgate_control_redis_connects_total %llu\n"
		"mxgate_control_redis_store_lost_total %llu\n"
		"mxgate_control_stats_fetches_total{result=\"ok\"} %llu\n"
		"mxgate_control_stats_fetches_total{result=\"error\"} %llu\n",
		a->policy_pushes, a->ticket_pushes, a->cert_pushes, a->user_pushes, a->policy_rejects,
		a->ticket_rejects, a->cert_rejects, a->user_rejects, a->redis_connects, a->store_losses, a->stats_fetches, a->stats_errors);
	if (a->ms)
		fprintf(f, "mxgate_control_http_requests_total{code=\"200\"} %llu\n"
			"mxgate_control_http_requests_total{code=\"other\"} %llu\n",
			metrics_served(a->ms), metrics_refused(a->ms));
	if (age >= 0)
		fprintf(f, "mxgate_control_stats_age_seconds %lld\n", age);
	if (fclose(f) != 0) {
		free(raw);
		return NULL;
	}
	f = open_memstream(&buf, &sz);
	if (!f) {
		free(raw);
		return NULL;
	}
	metric_render(f, raw, rsz);
	free(raw);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	*len = sz;
	return buf;
}

/* ---- start, loop, stop ---- */

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		g_hup = 1;
	else
		g_stop = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: mxgate-control -c FILE [-f] [-i SECONDS]\n"
		"  -c FILE     mxgate's configuration file (control_socket, redis_*, metrics_listen, ...)\n"
		"  -f          foreground, log to stderr (else daemon, syslog)\n"
		"  -i SECONDS  counter fetch interval, 1..%d [%d]\n", INTERVAL_MAX, INTERVAL_DEFAULT);
	exit(2);
}

/* out = x y z (a Redis key; the parts are config strings, shorter than KEY_LEN together). */
static void key_join(char *out, const char *x, const char *y, const char *z)
{
	size_t lx = strnlen(x, CFG_NAME_LEN), ly = strlen(y), lz = strnlen(z, CFG_NAME_LEN);

	memcpy(out, x, lx);
	memcpy(out + lx, y, ly);
	memcpy(out + lx + ly, z, lz);
	out[lx + ly + lz] = '\0';
}

/*
 * Never root (README "Privileges"): started by root (an init script, a
 * lab), once what may need root is open (the configuration, which holds
 * redis_password, and the metrics port), become mxgate_user for good, in
 * its primary group only, with no_new_privs; that user owns the control
 * socket. Refuse to run on when that cannot be done. Started as any other
 * user (systemd's User=mxgate): nothing to do. 0, or -1 with why.
 */
static int drop_root(const struct app *a, const char *conf, char *err, size_t errlen)
{
	const char *u = a->cfg.mxgate_user;
	uid_t r, e, s;
	struct passwd *pw;

	if (getresuid(&r, &e, &s) != 0) {
		snprintf(err, errlen, "getresuid: %s", strerror(errno));
		return -1;
	}
	if (r != 0 && e != 0 && s != 0)
		return 0;
	pw = getpwnam(u);
	if (!pw) {
		snprintf(err, errlen, "started as root and %s: mxgate_user: no user '%s' to become: "
			 "refusing to run as root (create it: useradd --system --user-group "
			 "--no-create-home --shell /usr/sbin/nologin %s, or start mxgate-control as "
			 "that user)", conf, u, u);
		return -1;
	}
	if (pw->pw_uid == 0 || pw->pw_gid == 0) {
		snprintf(err, errlen, "started as root and %s: mxgate_user: '%s' has uid or gid 0: "
			 "refusing to run as root", conf, u);
		return -1;
	}
	if (setgroups(1, &pw->pw_gid) != 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) != 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0) {
		snprintf(err, errlen, "cannot become %s (uid %u gid %u): %s: refusing to run as root", u,
			 (unsigned)pw->pw_uid, (unsigned)pw->pw_gid, strerror(errno));
		return -1;
	}
	/* no way back: each of these must fail now */
	if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0 || setegid(0) == 0 ||
	    setgroups(0, NULL) == 0) {
		snprintf(err, errlen, "root could be regained after becoming %s", u);
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		snprintf(err, errlen, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return -1;
	}
	logm("started as root: running as %s (uid %u, gid %u) from now on", u, (unsigned)pw->pw_uid,
	     (unsigned)pw->pw_gid);
	return 0;
}

int main(int argc, char **argv)
{
	static struct app app;
	struct app *a = &app;
	const char *conf = NULL;
	char err[512];
	struct sigaction sa;
	sigset_t block, orig;
	int opt, fg = 0, port;

	a->interval_s = INTERVAL_DEFAULT;
	while ((opt = getopt(argc, argv, "c:fi:h")) != -1) {
		switch (opt) {
		case 'c':
			conf = optarg;
			break;
		case 'f':
			fg = 1;
			break;
		case 'i': {
			char *e;
			long v = strtol(optarg, &e, 10);

			if (*e || v < 1 || v > INTERVAL_MAX)
				usage();
			a->interval_s = (unsigned)v;
			break;
		}
		default:
			usage();
		}
	}
	/* errors of the start go to stderr, -f or not */
	{
		if (optind != argc || !conf)
			usage();
		if (cfg_load(conf, &a->cfg, err, sizeof(err)) != 0) {
			fprintf(stderr, "mxgate-control: %s\n", err);
			return 1;
		}
		if (!a->cfg.control_socket[0]) {
			fprintf(stderr, "mxgate-control: %s: control_socket is not set: nothing to "
				"control\n", conf);
			return 1;
		}
		/* cfg_load() checked redis_server, redis_sentinels (with redis_master_name), metrics_listen */
		if (a->cfg.redis_server[0] &&
		    redis_addr_split(a->cfg.redis_server, a->redis_addr, sizeof(a->redis_addr), &port) != 0) {
			fprintf(stderr, "mxgate-control: %s: redis_server '%s' too long\n", conf,
				a->cfg.redis_server);
			return 1;
		}
		if (a->cfg.redis_sentinels[0])
			a->sentinels_n = sentinel_list_parse(a->cfg.redis_sentinels, a->sentinels,
							     SENTINELS_MAX);
		a->redis_enabled = a->cfg.redis_server[0] != '\0' || a->sentinels_n > 0;
		a->tickets_on = a->cfg.tls_ticket_rotate_s != 0 && a->cfg.tls_cert_file[0] != '\0';
		key_join(a->k_policy, a->cfg.redis_prefix, RK_POLICY, "");
		key_join(a->k_version, a->cfg.redis_prefix, RK_POLICY_VER, "");
		key_join(a->k_events, a->cfg.redis_prefix, RK_EVENTS, "");
		key_join(a->k_tickets, a->cfg.redis_prefix, RK_TICKETS, "");
		key_join(a->k_stats, a->cfg.redis_prefix, RK_STATS, a->cfg.appliance_id);
		key_join(a->k_certs, a->cfg.redis_prefix, RK_CERTS, "");
		key_join(a->k_cert, a->cfg.redis_prefix, RK_CERT, "");
		key_join(a->k_ca, a->cfg.redis_prefix, RK_CA, "");
		key_join(a->k_crl, a->cfg.redis_prefix, RK_CRL, "");
		key_join(a->k_auth, a->cfg.redis_prefix, RK_AUTH, "");
		key_join(a->k_gen, a->cfg.redis_prefix, RK_GENERATION, "");
		if (a->cfg.metrics_listen[0]) {
			a->ms = metrics_open(a->cfg.metrics_listen, metrics_body, a, err, sizeof(err));
			if (!a->ms) {
				fprintf(stderr, "mxgate-control: %s\n", err);
				return 1;
			}
		}
		if (drop_root(a, conf, err, sizeof(err)) != 0) {
			fprintf(stderr, "mxgate-control: %s\n", err);
			return 1;
		}
		if (!fg) {
			if (daemon(1, 0) != 0) {        /* nochdir: relative paths of the file keep working */
				fprintf(stderr, "mxgate-control: daemon: %s\n", strerror(errno));
				return 1;
			}
			logm_to_syslog("mxgate-control");
		}
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* the signals arrive only inside ppoll(): no race between a check and the wait */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &orig);
	sigdelset(&orig, SIGTERM);
	sigdelset(&orig, SIGINT);
	sigdelset(&orig, SIGHUP);

	if (a->sentinels_n)
		snprintf(a->redis_addr, sizeof(a->redis_addr), "master '%.64s' through Sentinel",
			 a->cfg.redis_master_name);
	else
		snprintf(a->redis_addr, sizeof(a->redis_addr), "%.*s", (int)sizeof(a->redis_addr) - 1,
			 a->cfg.redis_server);
	logm("starting: control socket %s, Redis %s%s (prefix \"%s\"), metrics %s, appliance %s, "
	     "counters every %u s%s", a->cfg.control_socket,
	     a->redis_enabled ? a->redis_addr : "(none: counters only)",
	     a->sentinels_n && a->cfg.redis_server[0] ? " (redis_server not used)" : "", a->cfg.redis_prefix,
	     a->cfg.metrics_listen[0] ? a->cfg.metrics_listen : "(off)", a->cfg.appliance_id,
	     a->interval_s, a->tickets_on ? "" : ", session tickets off");
	a->next_tick = now_ms();

	while (!g_stop) {
		struct pollfd pfd[2 + METRICS_POLLFDS];
		long long now = now_ms(), wake;
		struct timespec ts;
		int n = 0, sub = -1, snt = -1, moff = 0, mn = 0, t;

		if (g_hup) {
			g_hup = 0;
			logm("SIGHUP: full resync, everything pushed again");
			a->need_full = 1;
			push_all_again(a);
			a->have_rej = 0;
		}
		if (a->redis_enabled && !a->rc && now >= a->redis_retry_at)
			redis_connect(a);
		/* holding no marker: ask mxgate what it holds before Redis is read (mx_learn) */
		if (a->rc && !a->gen[0] && !a->mx_known && now >= a->ctl_retry_at)
			mx_check_status(a, 0);
		if (a->rc && (a->gen[0] || a->mx_known) && (a->need_full || a->need_policy || a->need_tickets || a->need_certs ||
			      a->need_users) &&
		    redis_sync(a) < 0)
			redis_lost(a, a->rc->errstr[0] ? a->rc->errstr : "connection lost");
		push_pending(a);
		now = now_ms();
		if (now >= a->next_tick) {
			tick(a);
			a->next_tick = now + (long long)a->interval_s * 1000;
			continue;               /* the tick asked Redis for a check: do it now */
		}

		if (a->rs) {
			pfd[n].fd = a->rs->fd;
			pfd[n].events = POLLIN;
			pfd[n].revents = 0;
			sub = n++;
		}
		if (a->rsn) {
			pfd[n].fd = a->rsn->fd;
			pfd[n].events = POLLIN;
			pfd[n].revents = 0;
			snt = n++;
		}
		if (a->ms) {
			moff = n;
			mn = metrics_pollfds(a->ms, pfd + n);
			n += mn;
		}
		wake = a->next_tick;
		if (a->redis_enabled && !a->rc && a->redis_retry_at < wake)
			wake = a->redis_retry_at;
		if ((push_pending_wanted(a) || (a->rc && !a->gen[0] && !a->mx_known)) &&
		    a->ctl_retry_at < wake)
			wake = a->ctl_retry_at;
		t = (int)(wake > now ? wake - now : 0);
		if (a->ms) {
			int mt = metrics_timeout_ms(a->ms);

			if (mt >= 0 && mt < t)
				t = mt;
		}
		ts.tv_sec = t / 1000;
		ts.tv_nsec = (long)(t % 1000) * 1000000;
		if (ppoll(pfd, (nfds_t)n, &ts, &orig) < 0) {
			if (errno == EINTR)
				continue;
			logm("poll: %s", strerror(errno));
			break;
		}
		if (sub >= 0 && a->rs && pfd[sub].revents)
			sub_read(a);
		if (snt >= 0 && a->rsn && pfd[snt].revents)
			sentinel_sub_read(a);
		if (a->ms)
			metrics_handle(a->ms, pfd + moff, mn);
	}
	logm("stopping");
	redis_drop(a);
	metrics_close(a->ms);
	free(a->pol.payload);
	free(a->stats);
	explicit_bzero(a->tk, sizeof(a->tk));
	if (a->crt) {
		explicit_bzero(a->crt, a->crt_len);
		free(a->crt);
	}
	if (a->usr) {
		explicit_bzero(a->usr, a->usr_len);
		free(a->usr);
	}
	free(a->usr_bad);
	return 0;
}
