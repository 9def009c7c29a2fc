/*
 * service.h - the service lcore's control socket: answers mxgate-control
 * and mxctl (common/ctl.h) with status, counters and sessions, swaps in
 * new access maps (RCU: workers never lock), sets session-ticket keys,
 * drains and resumes.
 */
#ifndef MX_SERVICE_H
#define MX_SERVICE_H

#include <time.h>
#include <rte_rcu_qsbr.h>
#include "common/config.h"
#include "dataplane/stats.h"
#include "dataplane/net/net.h"
#include "dataplane/smtp/session.h"

struct tls_ctx;
struct pol_snapshot;

/* What the service lcore looks after (filled by main). */
struct service {
	const struct mx_config *cfg;    /* in force; replaced by service_apply_config() */
	int cfg_reloaded;               /* cfg came from a reload (malloc'd), not from main */
	uint64_t reloads[2];            /* SIGHUP: configurations applied, refused */
	struct net_ctx **ctxs;
	struct smtp_worker **smtpw;     /* entries may be NULL (no SMTP) */
	unsigned nworkers;
	const struct stats_group *extra;
	struct tls_ctx *tls;            /* may be NULL */
	struct pol_snapshot *pol;       /* the map in force, may be NULL */
	char pol_version[64];
	struct rte_rcu_qsbr *rcu;       /* workers report quiescence every poll */
	int draining;
	int tickets_from_control;       /* keys came over the socket: no local rotation */
	char certs_in_force[2048];      /* STATUS lines after SET_CERTS ("" = the config's files) */
	time_t started;                 /* for STATUS: the control plane notices restarts */
	struct auth_service *auth;      /* SMTP AUTH users and checks (smtp/auth.h) */
	int listen_fd;
	int clients[16];
	unsigned nclients;
};

/* The TLS settings of the configuration, certificates aside. */
struct tls_server_cfg;
void service_tls_settings(const struct mx_config *cfg, struct tls_server_cfg *tc);

/*
 * SIGHUP's last step (mxgate.c read and checked the file; config.h's
 * cfg_merge() put back what needs a restart): publish next (malloc'd; the
 * service's from now on) to every worker, with the TLS context built from
 * it (NULL: the one in force stays) and, when set_pol, the access map pol
 * (NULL: none); wait one RCU grace period; free what they replaced.
 */
void service_apply_config(struct service *sv, struct mx_config *next, struct tls_ctx *tls,
			  int set_pol, struct pol_snapshot *pol);
/* Whether the certificates or the client-certificate trust in force came over the control socket. */
int service_tls_from_control(const struct service *sv);
/* The names of sv->reloads[] for the counters ("config_reloads_ok", "..._failed"). */
extern const char *const service_reload_names[2];

/* Open the control socket (cfg->control_socket); 0, or -1 with a message. */
int service_open(struct service *sv, char *err, size_t errlen);
/* Wait up to timeout_ms for requests and answer them. */
void service_poll(struct service *sv, int timeout_ms);
/* Close the socket, remove its path (a reloaded sv->cfg is the caller's to free, after the workers). */
void service_close(struct service *sv);

#endif
