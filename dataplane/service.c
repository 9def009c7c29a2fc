/*
 * service.c - the control socket of mxgate, served by the service (main)
 * lcore between its other chores. One request, one reply (common/ctl.h).
 * Nothing here runs on a worker: the workers see new maps through an
 * atomic pointer and report RCU quiescence each poll, and list their
 * sessions when asked, in their own loop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <rte_cycles.h>

#include "dataplane/service.h"
#include "common/ctl.h"
#include "common/ctl_payload.h"
#include "crypto/tls.h"
#include "policy/policy.h"
#include "dataplane/smtp/auth.h"
#include "dataplane/smtp/slog.h"

#define LIST_BUF CTL_SESSIONS_PER_WORKER     /* session list of one worker */
_Static_assert(CFG_MAX_WORKERS <= CTL_WORKERS_MAX, "a SESSIONS reply must fit in CTL_DATA_MAX");

/* STATUS lines on the client-certificate trust given by SET_CERTS ("" = the configuration's) */
static char trust_in_force[256];

/* Open the Unix socket, replacing a stale one. */
int service_open(struct service *sv, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	const char *path = sv->cfg->control_socket;

	sv->listen_fd = -1;
	slog_open(sv->cfg->log_syslog, sv->cfg->syslog_facility, sv->cfg->syslog_name, sv->cfg->hostname);
	if (path[0] == '\0')
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control_socket: path too long: %s", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	unlink(path);
	sv->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (sv->listen_fd < 0 || bind(sv->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    chmod(path, 0600) != 0 || listen(sv->listen_fd, 16) != 0) {
		snprintf(err, errlen, "control_socket %s: %s", path, strerror(errno));
		if (sv->listen_fd >= 0)
			close(sv->listen_fd);
		sv->listen_fd = -1;
		return -1;
	}
	return 0;
}

/* Reply with text from a memory stream. */
static void send_stream(int fd, char *buf, size_t len)
{
	ctl_send(fd, CTL_DATA, buf, len);
	free(buf);
}

/* Expiry of the first certificate of a PEM file, or of PEM in memory (pem != NULL), or "?". */
static void cert_expiry(const char *file, const char *pem, size_t pem_len, char *out, size_t len)
{
	FILE *f = pem ? fmemopen((void *)pem, pem_len, "r") : fopen(file, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	BIO *b;

	snprintf(out, len, "?");
	if (x != NULL && (b = BIO_new(BIO_s_mem())) != NULL) {
		const uint8_t *p;
		size_t n;

		if (ASN1_TIME_print(b, X509_get0_notAfter(x)) && BIO_mem_contents(b, &p, &n))
			snprintf(out, len, "%.*s", (int)n, (const char *)p);
		BIO_free(b);
	}
	X509_free(x);
	if (f)
		fclose(f);
}

/* STATUS: what an operator asks first. */
static void do_status(struct service *sv, int fd)
{
	char *buf = NULL, exp[64], files[sizeof(sv->cfg->tls_cert_file)], *save = NULL, *tok;
	size_t len = 0;
	uint64_t active = 0;
	FILE *f = open_memstream(&buf, &len);
	unsigned i;

	if (f == NULL) {
		ctl_send(fd, CTL_ERR, "out of memory", 13);
		return;
	}
	fprintf(f, "hostname %s\nappliance_id %s\npid %d\nstarted %lld\nworkers %u\n",
		sv->cfg->hostname, sv->cfg->appliance_id, (int)getpid(), (long long)sv->started,
		sv->nworkers);
	for (i = 0; i < sv->ctxs[0]->nifs; i++) {
		const struct net_if *ifp = &sv->ctxs[0]->ifs[i];
		const uint8_t *m = ifp->mac.addr_bytes;

		fprintf(f, "port %s role=%s mac=%02x:%02x:%02x:%02x:%02x:%02x mtu=%u\n",
			sv->cfg->ports[i].dev, ifp->role == CFG_ROLE_OUTSIDE ? "outside" : "inside",
			m[0], m[1], m[2], m[3], m[4], m[5], ifp->mtu);
	}
	for (i = 0; i < sv->nworkers; i++) {
		fprintf(f, "lcore %u worker=%u tcp_conns=%llu\n", sv->ctxs[i]->lcore_id, i,
			(unsigned long long)sv->ctxs[i]->st.tcp_conns);
		if (sv->smtpw[i])
			active += smtp_worker_stats(sv->smtpw[i])->active;
	}
	fprintf(f, "sessions %llu\ndraining %s\n", (unsigned long long)active, sv->draining ? "yes" : "no");
	fprintf(f, "policy_version %s\npolicy_entries %zu\n", sv->pol_version[0] ? sv->pol_version : "-",
		sv->pol ? pol_snapshot_count(sv->pol) : (size_t)0);
	fprintf(f, "policy_layers access_file=%zu pushed=%zu replaced=%zu\n", sv->pol_file_entries,
		sv->pol_pushed_entries, sv->pol_replaced);
	if (sv->certs_in_force[0]) {
		fputs(sv->certs_in_force, f);
	} else {
		snprintf(files, sizeof(files), "%s", sv->cfg->tls_cert_file);
		for (tok = strtok_r(files, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
			cert_expiry(tok, NULL, 0, exp, sizeof(exp));
			fprintf(f, "certificate %s not_after=\"%s\" source=file\n", tok, exp);
		}
	}
	if (trust_in_force[0])
		fputs(trust_in_force, f);
	else
		fprintf(f, "tls_ca %s%s\ntls_crl %s%s\n",
			sv->cfg->tls_ca_file[0] ? "file " : sv->cfg->tls_ca_dir[0] ? "dir " : "none",
			sv->cfg->tls_ca_file[0] ? sv->cfg->tls_ca_file : sv->cfg->tls_ca_dir,
			sv->cfg->tls_crl_file[0] ? "file " : "none", sv->cfg->tls_crl_file);
	fprintf(f, "tickets %s\n", sv->tls == NULL ? "off" : sv->tickets_from_control ?
		"from control plane" : "local rotation");
	fprintf(f, "auth_users %llu\n",
		(unsigned long long)(sv->auth ? auth_service_stats(sv->auth)->auth_users : 0));
	fprintf(f, "generation %s\n", sv->generation[0] ? sv->generation : "-");
	fclose(f);
	send_stream(fd, buf, len);
}

/* STATS: every counter. */
static void do_stats(struct service *sv, int fd)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL) {
		ctl_send(fd, CTL_ERR, "out of memory", 13);
		return;
	}
	stats_print(f, sv->ctxs, sv->nworkers, sv->extra);
	ctl_refused_print(f, "mxgate_service_control_");
	/* the service lcore's own counters: no lcore label */
	if (sv->auth != NULL)
		stats_print_flat(f, "service_", auth_stat_names, AUTH_STAT_COUNT,
				 (const uint64_t *)auth_service_stats(sv->auth), "auth_users");
	if (sv->tls != NULL) {
		struct tls_key_stats ks;

		/* the key door's counters, summed over the workers by crypto/tls.c */
		tls_key_stats_total(&ks);
		stats_print_flat(f, "tls_", tls_key_stat_names, TLS_KEY_STAT_COUNT, (const uint64_t *)&ks, NULL);
	}
	stats_print_flat(f, "service_", service_reload_names, 2, sv->reloads, NULL);
	stats_print_build_info(f);
	fclose(f);
	send_stream(fd, buf, len);
}

/* SESSIONS: each worker lists its own, in its loop; we wait (bounded). */
static void do_sessions(struct service *sv, int fd)
{
	char *out = malloc((size_t)sv->nworkers * LIST_BUF + 1), *bufs[CFG_MAX_WORKERS];
	size_t o = 0;
	unsigned i;

	if (out == NULL) {
		ctl_send(fd, CTL_ERR, "out of memory", 13);
		return;
	}
	for (i = 0; i < sv->nworkers; i++) {
		bufs[i] = out + (size_t)i * LIST_BUF;
		if (sv->smtpw[i])
			smtp_worker_request_list(sv->smtpw[i], bufs[i], LIST_BUF);
	}
	for (i = 0; i < sv->nworkers; i++) {
		long n = 0;
		unsigned tries;

		if (sv->smtpw[i] == NULL)
			continue;
		for (tries = 0; tries < 1000 && (n = smtp_worker_list_done(sv->smtpw[i])) < 0; tries++)
			usleep(1000);
		if (n < 0) {
			/* the worker may still write into its buffer: leak it rather than race */
			ctl_send(fd, CTL_ERR, "a worker did not answer", 23);
			return;
		}
		memmove(out + o, bufs[i], (size_t)n);
		o += (size_t)n;
	}
	ctl_send(fd, CTL_DATA, out, o);
	free(out);
}

/* SET_USERS: the whole SMTP AUTH user set; a bad one never replaces the set in force. */
static void do_set_users(struct service *sv, int fd, const struct ctl_msg *m)
{
	char msg[300];

	if (sv->auth == NULL) {
		ctl_send(fd, CTL_ERR, "no SMTP AUTH", 12);
		return;
	}
	if (auth_set_users(sv->auth, m->data, m->len, msg, sizeof(msg)) != 0) {
		ctl_send(fd, CTL_ERR, msg, strlen(msg));
		return;
	}
	fprintf(stderr, "mxgate: SMTP AUTH users set: %s\n", msg);
	ctl_send(fd, CTL_OK, msg, strlen(msg));
}

/*
 * Build access_file's text (file; NULL: none) with the control plane's map
 * (pushed; NULL: none yet) over it, publish the snapshot, free the old one
 * after a grace period; the service then owns both texts. 0, or -1 with
 * why in err: the map in force and the texts held stay.
 */
static int policy_swap(struct service *sv, char *file, size_t flen, char *pushed, size_t plen,
		       char *err, size_t errlen)
{
	struct pol_builder *b = pol_builder_new();
	struct pol_snapshot *snap, *old;
	size_t nfile, npushed;
	unsigned i;

	if (b == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* a failed parse poisons the builder: pol_build() then gives its message */
	if (file != NULL && pol_parse(b, sv->cfg->access_file, file, flen, err, errlen) == 0)
		pol_layer(b);
	nfile = pol_builder_count(b);
	if (pushed != NULL)
		pol_parse(b, "control", pushed, plen, err, errlen);
	npushed = pol_builder_count(b) - nfile;
	snap = pol_build(b, err, errlen);
	pol_builder_free(b);
	if (snap == NULL)
		return -1;
	old = sv->pol;
	for (i = 0; i < sv->nworkers; i++)
		if (sv->smtpw[i])
			smtp_worker_set_policy(sv->smtpw[i], snap);
	sv->pol = snap;
	/* every worker has polled since the swap: nobody can hold the old map */
	rte_rcu_qsbr_synchronize(sv->rcu, RTE_QSBR_THRID_INVALID);
	pol_snapshot_free(old);
	if (file != sv->pol_file) {
		free(sv->pol_file);
		sv->pol_file = file;
		sv->pol_file_len = flen;
	}
	if (pushed != sv->pol_pushed) {
		free(sv->pol_pushed);
		sv->pol_pushed = pushed;
		sv->pol_pushed_len = plen;
	}
	sv->pol_file_entries = nfile;
	sv->pol_pushed_entries = npushed;
	sv->pol_replaced = nfile + npushed - pol_snapshot_count(snap);
	return 0;
}

/* A new access_file text (a reload): laid under the map pushed last (see service.h). */
int service_set_access_file(struct service *sv, char *text, size_t len, char *err, size_t errlen)
{
	if (policy_swap(sv, text, len, sv->pol_pushed, sv->pol_pushed_len, err, errlen) != 0)
		return -1;
	if (sv->pol_pushed == NULL)
		snprintf(sv->pol_version, sizeof(sv->pol_version), "%s", text ? "file" : "");
	fprintf(stderr, "mxgate: access_file %s: %zu entries, under %zu pushed (version %s), %zu in force\n",
		sv->cfg->access_file, sv->pol_file_entries, sv->pol_pushed_entries,
		sv->pol_version[0] ? sv->pol_version : "-", pol_snapshot_count(sv->pol));
	return 0;
}

/* SET_POLICY: the control plane's map, over access_file (policy_swap()). */
static void do_set_policy(struct service *sv, int fd, const struct ctl_msg *m)
{
	const char *nl = memchr(m->data, '\n', m->len);
	char err[512], msg[200], *pushed;
	size_t vlen, plen;
	unsigned i;

	if (nl == NULL || (vlen = (size_t)(nl - m->data)) >= sizeof(sv->pol_version)) {
		ctl_send(fd, CTL_ERR, "payload: version line expected", 30);
		return;
	}
	/* STATUS shows it as one word: no NUL (found by tests/fuzz/fuzz_ctl.c), space or control */
	for (i = 0; i < vlen; i++)
		if ((unsigned char)m->data[i] <= 0x20 || (unsigned char)m->data[i] >= 0x7f)
			break;
	if (vlen == 0 || i < vlen) {
		snprintf(msg, sizeof(msg), "payload: the version must be 1..%zu printable characters, no space",
			 sizeof(sv->pol_version) - 1);
		ctl_send(fd, CTL_ERR, msg, strlen(msg));
		return;
	}
	plen = m->len - vlen - 1;
	pushed = malloc(plen + 1);
	if (pushed == NULL)
		snprintf(err, sizeof(err), "out of memory");
	else
		memcpy(pushed, nl + 1, plen);
	if (pushed == NULL ||
	    policy_swap(sv, sv->pol_file, sv->pol_file_len, pushed, plen, err, sizeof(err)) != 0) {
		free(pushed);
		fprintf(stderr, "mxgate: policy refused, keeping version %s: %s\n",
			sv->pol_version[0] ? sv->pol_version : "-", err);
		ctl_send(fd, CTL_ERR, err, strlen(err));
		return;
	}
	memcpy(sv->pol_version, m->data, vlen);
	sv->pol_version[vlen] = '\0';
	if (sv->pol_file != NULL)
		snprintf(msg, sizeof(msg), "policy version %s: %zu entries (%zu pushed over access_file's "
			 "%zu, %zu of which replaced)", sv->pol_version, pol_snapshot_count(sv->pol),
			 sv->pol_pushed_entries, sv->pol_file_entries, sv->pol_replaced);
	else
		snprintf(msg, sizeof(msg), "policy version %s: %zu entries", sv->pol_version,
			 pol_snapshot_count(sv->pol));
	fprintf(stderr, "mxgate: %s\n", msg);
	ctl_send(fd, CTL_OK, msg, strlen(msg));
}

/* SET_GENERATION: the Redis generation marker of what the control plane pushes, for STATUS. */
static void do_set_generation(struct service *sv, int fd, const struct ctl_msg *m)
{
	uint32_t i;

	for (i = 0; i < m->len; i++)
		if ((unsigned char)m->data[i] < 0x20 || (unsigned char)m->data[i] >= 0x7f)
			break;
	if (m->len == 0 || m->len >= sizeof(sv->generation) || i < m->len) {
		ctl_send(fd, CTL_ERR, "expected 1..64 printable characters", 35);
		return;
	}
	memcpy(sv->generation, m->data, m->len);
	sv->generation[m->len] = '\0';
	ctl_send(fd, CTL_OK, "generation set", 14);
}

/* SET_TICKET_KEYS: 48-byte current and previous keys from the control plane. */
static void do_ticket_keys(struct service *sv, int fd, const struct ctl_msg *m)
{
	if (sv->tls == NULL) {
		ctl_send(fd, CTL_ERR, "no TLS configured", 17);
		return;
	}
	if (m->len != 2 * TLS_TICKET_KEY_LEN ||
	    tls_ctx_set_ticket_keys(sv->tls, (const uint8_t *)m->data,
				    (const uint8_t *)m->data + TLS_TICKET_KEY_LEN) != 0) {
		ctl_send(fd, CTL_ERR, "expected two 48-byte keys", 25);
		return;
	}
	sv->tickets_from_control = 1;
	ctl_send(fd, CTL_OK, "ticket keys set", 15);
}

/* The TLS settings of the configuration, certificates aside. */
void service_tls_settings(const struct mx_config *cfg, struct tls_server_cfg *tc)
{
	memset(tc, 0, sizeof(*tc));
	tc->min_version = (int)cfg->tls_min_version;
	tc->ciphers = cfg->tls_ciphers[0] ? cfg->tls_ciphers : NULL;
	tc->groups = cfg->tls_groups;
	tc->request_client_cert = (int)cfg->tls_ask_client_cert;
	tc->ca_file = cfg->tls_ca_file[0] ? cfg->tls_ca_file : NULL;
	tc->ca_dir = cfg->tls_ca_dir[0] ? cfg->tls_ca_dir : NULL;
	tc->crl_file = cfg->tls_crl_file[0] ? cfg->tls_crl_file : NULL;
	tc->ticket_rotate_s = cfg->tls_ticket_rotate_s;
}

/* Occurrences of a PEM header in n bytes. */
static unsigned pem_count(const char *p, size_t n, const char *begin)
{
	size_t bl = strlen(begin);
	const char *e = p + n, *q;
	unsigned c = 0;

	while (p < e && (q = memmem(p, (size_t)(e - p), begin, bl)) != NULL) {
		c++;
		p = q + bl;
	}
	return c;
}

/*
 * A decoded SET_CERTS payload into tc (pointers into the payload; names and
 * SNI lists copied into names and sni, NUL-terminated, the lists cut at
 * ',' into tc's sni arrays).
 */
static void certs_to_tls(const struct ctl_certs *cc, struct tls_server_cfg *tc,
			 char (*names)[CERT_NAME_MAX + 1], char (*sni)[SNI_FIELD_MAX + 1])
{
	unsigned n;

	for (n = 0; n < cc->n; n++) {
		const struct ctl_cert *x = &cc->cert[n];
		char *save = NULL, *tok;
		unsigned k = 0;

		memcpy(names[n], x->name, x->name_len);
		names[n][x->name_len] = '\0';
		if (x->sni_len)
			memcpy(sni[n], x->sni, x->sni_len);
		sni[n][x->sni_len] = '\0';
		tc->certs[n].chain_file = names[n];
		tc->certs[n].key_file = names[n];
		tc->certs[n].chain_pem = x->chain;
		tc->certs[n].chain_pem_len = x->chain_len;
		tc->certs[n].key_pem = x->key;
		tc->certs[n].key_pem_len = x->key_len;
		tc->certs[n].ocsp = x->ocsp;
		tc->certs[n].ocsp_len = x->ocsp_len;
		for (tok = strtok_r(sni[n], ",", &save); tok && k < TLS_MAX_SNI - 1;
		     tok = strtok_r(NULL, ",", &save))
			tc->certs[n].sni[k++] = tok;
	}
	tc->ncerts = cc->n;
	tc->ca_pem = cc->ca;
	tc->ca_pem_len = cc->ca_len;
	tc->crl_pem = cc->crl;
	tc->crl_pem_len = cc->crl_len;
}

/*
 * Give every worker a new TLS context for new sessions, with the ticket
 * keys of the one in force (tickets issued before must still open); the
 * old one, to free after a grace period (open sessions hold references).
 */
static struct tls_ctx *publish_tls(struct service *sv, struct tls_ctx *nt)
{
	struct tls_ctx *old = sv->tls;
	uint8_t cur[TLS_TICKET_KEY_LEN], prev[TLS_TICKET_KEY_LEN];
	int has_prev = 0;
	unsigned i;

	if (old != NULL && tls_ctx_get_ticket_keys(old, cur, prev, &has_prev) == 0)
		tls_ctx_set_ticket_keys(nt, cur, has_prev ? prev : NULL);
	OPENSSL_cleanse(cur, sizeof(cur));
	OPENSSL_cleanse(prev, sizeof(prev));
	for (i = 0; i < sv->nworkers; i++)
		if (sv->smtpw[i])
			smtp_worker_set_tls(sv->smtpw[i], nt);
	sv->tls = nt;
	return old;
}

/*
 * SET_CERTS: a new TLS context for new sessions; open ones keep theirs.
 * Without CERT blocks the certificates in force stay and only the CA/CRL
 * change (an empty payload: back to the configuration's files).
 */
static void do_set_certs(struct service *sv, int fd, const struct ctl_msg *m)
{
	struct tls_server_cfg tc;
	struct tls_ctx *nt, *old = sv->tls;
	struct ctl_certs cc;
	char names[CERTS_MAX][CERT_NAME_MAX + 1], sni[CERTS_MAX][SNI_FIELD_MAX + 1], err[512],
	     trust[sizeof(trust_in_force)];
	unsigned i;

	service_tls_settings(sv->cfg, &tc);
	nt = NULL;
	if (ctl_certs_decode(m->data, m->len, &cc, err, sizeof(err)) == 0) {
		certs_to_tls(&cc, &tc, names, sni);
		if (tc.ncerts == 0 && old == NULL) {
			snprintf(err, sizeof(err), "no certificate given and none in force");
		} else {
			tc.certs_from = tc.ncerts == 0 ? old : NULL;
			nt = tls_ctx_new(&tc, err, sizeof(err));
		}
	}
	if (nt == NULL) {
		fprintf(stderr, "mxgate: certificates refused, keeping the ones in force: %s\n", err);
		ctl_send(fd, CTL_ERR, err, strlen(err));
		return;
	}
	publish_tls(sv, nt);
	if (tc.ncerts)
		sv->certs_in_force[0] = '\0';
	for (i = 0; i < tc.ncerts; i++) {
		size_t o = strlen(sv->certs_in_force);
		char exp[64], ocsp[32] = "";

		cert_expiry(NULL, tc.certs[i].chain_pem, tc.certs[i].chain_pem_len, exp, sizeof(exp));
		if (tc.certs[i].ocsp)
			snprintf(ocsp, sizeof(ocsp), " ocsp=%zu", tc.certs[i].ocsp_len);
		snprintf(sv->certs_in_force + o, sizeof(sv->certs_in_force) - o,
			 "certificate %s not_after=\"%s\" source=control%s%s\n", names[i], exp,
			 i == 0 ? " default" : "", ocsp);
	}
	trust[0] = '\0';
	if (tc.ca_pem || tc.crl_pem) {
		char ca[96], crl[96];

		if (tc.ca_pem)
			snprintf(ca, sizeof(ca), "control certificates=%u",
				 pem_count(tc.ca_pem, tc.ca_pem_len, "-----BEGIN CERTIFICATE-----"));
		else
			snprintf(ca, sizeof(ca), "%s%.80s", sv->cfg->tls_ca_file[0] ? "file " :
				 sv->cfg->tls_ca_dir[0] ? "dir " : "none", sv->cfg->tls_ca_file[0] ?
				 sv->cfg->tls_ca_file : sv->cfg->tls_ca_dir);
		if (tc.crl_pem)
			snprintf(crl, sizeof(crl), "control crls=%u",
				 pem_count(tc.crl_pem, tc.crl_pem_len, "-----BEGIN X509 CRL-----"));
		else
			snprintf(crl, sizeof(crl), "%s%.80s", sv->cfg->tls_crl_file[0] ? "file " : "none",
				 sv->cfg->tls_crl_file);
		snprintf(trust, sizeof(trust), "tls_ca %s\ntls_crl %s\n", ca, crl);
	}
	memcpy(trust_in_force, trust, sizeof(trust));
	rte_rcu_qsbr_synchronize(sv->rcu, RTE_QSBR_THRID_INVALID);
	tls_ctx_free(old);              /* live sessions hold their own references */
	if (tc.ncerts)
		snprintf(err, sizeof(err), "%u certificate(s) in force, default %s%s%s", tc.ncerts,
			 names[0], tc.ca_pem ? ", CA from control" : "", tc.crl_pem ? ", CRL from control" : "");
	else
		snprintf(err, sizeof(err), "certificates in force kept; CA %s, CRL %s",
			 tc.ca_pem ? "from control" : "as configured", tc.crl_pem ? "from control" : "as configured");
	fprintf(stderr, "mxgate: %s\n", err);
	ctl_send(fd, CTL_OK, err, strlen(err));
}

/* Whether SET_CERTS set the certificates or the trust in force (service.h). */
int service_tls_from_control(const struct service *sv)
{
	return sv->certs_in_force[0] != '\0' || trust_in_force[0] != '\0';
}

const char *const service_reload_names[2] = { "config_reloads_ok", "config_reloads_failed" };

/* SIGHUP: publish a checked configuration and what was built from it (service.h). */
void service_apply_config(struct service *sv, struct mx_config *next, struct tls_ctx *tls)
{
	const struct mx_config *old = sv->cfg;
	int old_reloaded = sv->cfg_reloaded;
	struct tls_ctx *old_tls = NULL;
	unsigned i;

	for (i = 0; i < sv->nworkers; i++)
		if (sv->smtpw[i])
			smtp_worker_set_config(sv->smtpw[i], next);
	sv->cfg = next;
	sv->cfg_reloaded = 1;
	if (tls != NULL)
		old_tls = publish_tls(sv, tls);
	/* every worker has taken the new ones at the top of a loop since (smtp_worker_sync) */
	rte_rcu_qsbr_synchronize(sv->rcu, RTE_QSBR_THRID_INVALID);
	tls_ctx_free(old_tls);
	if (old_reloaded)
		free((void *)old);
	sv->reloads[0]++;
}

/* DRAIN / RESUME. */
static void do_drain(struct service *sv, int fd, int on)
{
	unsigned i;

	sv->draining = on;
	for (i = 0; i < sv->nworkers; i++)
		if (sv->smtpw[i])
			smtp_worker_set_draining(sv->smtpw[i], on);
	fprintf(stderr, "mxgate: %s\n", on ? "draining: new SMTP sessions are refused" : "accepting again");
	ctl_send(fd, CTL_OK, on ? "draining" : "accepting", on ? 8 : 9);
}

/* Answer one request on a client connection; -1 to close it. */
static int serve(struct service *sv, int fd)
{
	struct ctl_msg m;

	if (ctl_recv(fd, &m) != 0) {
		if (errno == EPROTO) {
			ctl_send(fd, CTL_ERR, "version", 7);
		} else if (errno == EMSGSIZE) {
			char why[128];

			snprintf(why, sizeof(why), "%s: frame too large (%u bytes, at most %u)",
				 ctl_type_name(m.type), m.len, ctl_max_payload(m.type));
			ctl_send(fd, CTL_ERR, why, strlen(why));
		}
		return -1;
	}
	switch (m.type) {
	case CTL_STATUS: do_status(sv, fd); break;
	case CTL_STATS: do_stats(sv, fd); break;
	case CTL_SESSIONS: do_sessions(sv, fd); break;
	case CTL_SET_POLICY: do_set_policy(sv, fd, &m); break;
	case CTL_SET_TICKET_KEYS: do_ticket_keys(sv, fd, &m); break;
	case CTL_SET_CERTS: do_set_certs(sv, fd, &m); break;
	case CTL_SET_USERS: do_set_users(sv, fd, &m); break;
	case CTL_SET_GENERATION: do_set_generation(sv, fd, &m); break;
	case CTL_DRAIN: do_drain(sv, fd, 1); break;
	case CTL_RESUME: do_drain(sv, fd, 0); break;
	default:
		ctl_send(fd, CTL_ERR, "unknown request", 15);
		break;
	}
	free(m.data);
	return 0;
}

/* Accept clients and answer what they ask, waiting up to timeout_ms. */
void service_poll(struct service *sv, int timeout_ms)
{
	struct pollfd pfd[17];
	unsigned n = 0, i;

	slog_drain();                /* the workers' log lines (dataplane/smtp/slog.h) */
	if (sv->listen_fd < 0) {
		usleep((useconds_t)timeout_ms * 1000);
		return;
	}
	pfd[n].fd = sv->listen_fd;
	pfd[n++].events = POLLIN;
	for (i = 0; i < sv->nclients; i++) {
		pfd[n].fd = sv->clients[i];
		pfd[n++].events = POLLIN;
	}
	if (poll(pfd, n, timeout_ms) <= 0)
		return;
	for (i = sv->nclients; i-- > 0;) {
		if (!(pfd[1 + i].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (serve(sv, sv->clients[i]) != 0) {
			close(sv->clients[i]);
			sv->clients[i] = sv->clients[--sv->nclients];
		}
	}
	if (pfd[0].revents & POLLIN) {
		int fd = accept4(sv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		struct timeval tv = { 2, 0 };

		if (fd < 0)
			return;
		if (sv->nclients == sizeof(sv->clients) / sizeof(sv->clients[0])) {
			ctl_send(fd, CTL_ERR, "too many control clients", 24);
			close(fd);
			return;
		}
		/* a client that stalls mid-frame cannot hold the service lcore for long */
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		sv->clients[sv->nclients++] = fd;
	}
}

/* Close everything. */
void service_close(struct service *sv)
{
	unsigned i;

	slog_drain();
	for (i = 0; i < sv->nclients; i++)
		close(sv->clients[i]);
	sv->nclients = 0;
	free(sv->pol_file);
	free(sv->pol_pushed);
	sv->pol_file = sv->pol_pushed = NULL;
	if (sv->listen_fd >= 0) {
		close(sv->listen_fd);
		unlink(sv->cfg->control_socket);
		sv->listen_fd = -1;
	}
}
