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
#include "common/schema.h"
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
	/*
	 * The two layers of the map in force (README "access_file and the
	 * Redis map"): access_file's text (NULL: none) under the map pushed
	 * last over the socket (NULL: none yet); a pushed entry replaces the
	 * file's entry of the same key, the file's other entries stay. Owned
	 * (freed by service_close()).
	 */
	char *pol_file, *pol_pushed;
	size_t pol_file_len, pol_pushed_len;
	size_t pol_file_entries, pol_pushed_entries, pol_replaced;  /* STATUS policy_layers */
	char generation[GEN_MAX + 1];   /* CTL_SET_GENERATION's marker ("" = none given) */
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
 * SIGHUP's last step but one (mxgate.c read and checked the file;
 * config.h's cfg_merge() put back what needs a restart): publish next
 * (malloc'd; the service's from now on) to every worker, with the TLS
 * context built from it (NULL: the one in force stays); wait one RCU grace
 * period; free what they replaced. access_file's map follows with
 * service_set_access_file().
 */
void service_apply_config(struct service *sv, struct mx_config *next, struct tls_ctx *tls);
/* Whether the certificates or the client-certificate trust in force came over the control socket. */
int service_tls_from_control(const struct service *sv);
/* The names of sv->reloads[] for the counters ("config_reloads_ok", "..._failed"). */
extern const char *const service_reload_names[2];

/* Open the control socket (cfg->control_socket); 0, or -1 with a message. */
int service_open(struct service *sv, char *err, size_t errlen);
/* Wait up to timeout_ms for requests and answer them. */
void service_poll(struct service *sv, int timeout_ms);
/* Close the socket, remove its path, free the policy texts (a reloaded sv->cfg is the caller's
 * to free, after the workers). */
void service_close(struct service *sv);
/*
 * A new access_file text (malloc'd; NULL: none), for a reload: laid under
 * the map pushed last and swapped in as SET_POLICY does. 0 (the service
 * owns text), or -1 with why in err (the map in force stays; text is the
 * caller's).
 */
int service_set_access_file(struct service *sv, char *text, size_t len, char *err, size_t errlen);

#endif
