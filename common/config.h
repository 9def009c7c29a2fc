/*
 * config.h - mxgate's configuration file: Postfix main.cf style
 * ("key = value", '#' comments, blank lines, continuation lines that start
 * with white space). Parsed and validated at start and on SIGHUP; every error names
 * the file, the line and the key. libc only, no DPDK.
 */
#ifndef MX_CONFIG_H
#define MX_CONFIG_H

#include <stdint.h>
#include <stddef.h>
#include <stdio.h>

#define CFG_MAX_PORTS   4
#define CFG_MAX_WORKERS 16
#define CFG_NAME_LEN    64

enum cfg_role { CFG_ROLE_NONE = 0, CFG_ROLE_OUTSIDE, CFG_ROLE_INSIDE };

/* One port with a role. Addresses are kept in network byte order. */
struct cfg_port {
	enum cfg_role role;
	char dev[CFG_NAME_LEN];     /* DPDK device name ("net_tap0", "0000:01:00.0") */
	int has_ip4;
	uint32_t ip4;               /* appliance address */
	uint8_t ip4_plen;
	int has_gw4;
	uint32_t gw4;
	int has_ip6;
	uint8_t ip6[16];
	uint8_t ip6_prefix;
	int has_gw6;
	uint8_t gw6[16];
	uint16_t mtu;               /* default 1500 */
};

/* Impairment stage of the port layer (lab and soak tests only). */
struct cfg_impair {
	int enabled;
	unsigned reorder_pct;       /* % of packets held back by delay_us */
	unsigned dup_pct;           /* % of packets sent twice */
	unsigned delay_us;          /* hold time of a reordered packet */
};

#define CFG_MAX_BACKENDS 16
#define CFG_PATH_LEN     256

/* A backend MTA the SMTP sessions relay to. */
struct cfg_backend {
	uint8_t family;             /* 4 or 6 */
	uint8_t addr[16];           /* network byte order; IPv4 in the first 4 bytes */
	char addr_text[46];         /* addr as inet_ntop writes it (INET6_ADDRSTRLEN): the logs' */
	uint16_t port;
	int proxy_v2;               /* "/proxy": send a PROXY v2 header instead of XCLIENT */
	int starttls;               /* "/starttls": STARTTLS required (without it: tried when offered,
				       unless the access map's Try_TLS says NO) */
	char name[CFG_NAME_LEN];    /* "/name=HOST": its name for the access map (Try_TLS:, TLS_Srv:,
				       AuthInfo:), the TLS_Srv +CN check and logs; "" = none */
};

#define CFG_MAX_DNS_SERVERS 4
#define CFG_MAX_DNSBL       16

/* A DNSBL or DNSWL site (postscreen_dnsbl_sites: domain[=filter][*weight]). */
struct cfg_dnsbl {
	char domain[128];
	int has_filter;
	uint8_t filter[4][32];      /* reply octets that match: a bitmap per octet */
	int weight;                 /* default 1; negative for an allowlist */
};

enum cfg_dnsbl_action { CFG_DNSBL_ENFORCE = 0, CFG_DNSBL_DROP };

struct mx_config {
	char path[256];
	char hostname[CFG_NAME_LEN];          /* default "localhost" */
	struct cfg_port ports[CFG_MAX_PORTS];
	unsigned nports;
	unsigned worker_lcores[CFG_MAX_WORKERS]; /* empty: every EAL worker lcore */
	unsigned nworkers;
	unsigned mbuf_pool_size;              /* mbufs per pool, default 32767 */
	unsigned mbuf_cache_size;             /* default 256 */
	unsigned rx_ring_size, tx_ring_size;  /* descriptors, default 1024 */
	unsigned max_conns;                   /* TCP connections per lcore, default 65536 */
	unsigned syn_backlog;                 /* half-open per lcore before SYN cookies, default 1024 */
	unsigned reasm_limit;                 /* out-of-order bytes per connection, default 262144 */
	unsigned reasm_total;                 /* out-of-order bytes per lcore, default 67108864 */
	unsigned rcvbuf, sndbuf;              /* bytes per connection, default 262144 each */
	unsigned timewait_max;                /* TIME_WAIT entries per lcore, default 16384 */
	unsigned timewait_ms;                 /* TIME_WAIT hold time, default 60000 */
	unsigned echo_port;                   /* 0 = off */
	unsigned echo_idle_ms;                /* idle timeout of echo sessions, default 300000 */
	unsigned idle_sleep_us;               /* sleep after an empty poll streak, 0 = pure polling */
	char stats_file[256];                 /* where SIGUSR1 and exit write counters; "" = stderr */
	/* SMTP front end (0 = port off) */
	unsigned smtp_port, submission_port, smtps_port;
	/*
	 * Deadlines, as Postfix's smtpd_per_request_deadline: a whole command
	 * line must arrive within smtpd_timeout_ms of the previous reply (bytes
	 * that trickle in do not re-arm it); the message within
	 * smtpd_data_timeout_ms, extended by each line's bytes at
	 * smtpd_min_data_rate and never beyond smtpd_data_timeout_ms from now.
	 * While an answer waits for the backend, only backend_timeout_ms runs.
	 */
	unsigned smtpd_timeout_ms;            /* per command, default 300000 (RFC 5321 4.5.3.2) */
	unsigned smtpd_data_timeout_ms;       /* message deadline, default 180000 */
	unsigned smtpd_min_data_rate;         /* bytes/s that extend the DATA deadline, default 500 */
	/* Postfix's stress mode: once this share of max_sessions is in use ... */
	unsigned smtpd_stress_percent;        /* percent, default 80, 0 = never */
	unsigned smtpd_stress_timeout_ms;     /* ... command, DATA and TLS deadlines at most this,
						 default 10000 */
	unsigned smtpd_stress_error_limit;    /* ... and sessions started then close at this many
						 errors, default 1 */
	unsigned smtpd_greet_delay_ms;        /* wait before the banner; input before it = pregreet */
	unsigned smtpd_client_connection_count_limit; /* open sessions per client address where no
						 ClientConn: entry applies; 0 = none; default 50 */
	unsigned smtpd_client_ipv6_prefix_length; /* the IPv6 prefix counted as one client by the
						 connection limits (ClientConn, ClientRate, Limit:); default 64 */
	unsigned message_size_limit;          /* bytes, default 10240000 */
	unsigned smtpd_recipient_limit;       /* default 100 */
	unsigned smtpd_hard_error_limit;      /* default 10 */
	unsigned smtpd_junk_command_limit;    /* NOOP/RSET/VRFY/EXPN/HELP before each counts as an
						 error (until a message is accepted), default 100 */
	unsigned max_sessions;                /* SMTP sessions per worker, default 10000 */
	/* SMTP AUTH (users come from the control plane; checked on the service lcore) */
	unsigned smtpd_auth_fail_delay_ms;    /* a failure is answered this late, default 1000 */
	unsigned smtpd_auth_fail_limit;       /* failures per client address ..., default 5, 0 = none */
	unsigned smtpd_auth_fail_window_s;    /* ... within this window, then 454, default 300 */
	unsigned smtpd_auth_queue;            /* checks waiting per worker, default 64 */
	unsigned smtpd_auth_ipv6_48_limit;    /* checks in flight per IPv6 /48, all workers, default 8, 0 = none */
	unsigned submission_auth_required;    /* yes/no: 587 wants AUTH before MAIL, default no */
	/* TLS */
	/* lists, paired in order: the first is the default, the others are chosen by SNI */
	char tls_cert_file[4 * CFG_PATH_LEN], tls_key_file[4 * CFG_PATH_LEN];
	char tls_ca_file[CFG_PATH_LEN], tls_ca_dir[CFG_PATH_LEN], tls_crl_file[CFG_PATH_LEN];
	char tls_ciphers[CFG_PATH_LEN], tls_groups[CFG_NAME_LEN];
	unsigned tls_min_version;             /* 0x0303 or 0x0304, default 0x0303 */
	unsigned tls_ask_client_cert;         /* yes/no, default no */
	unsigned tls_handshake_timeout_ms;    /* default 60000 */
	unsigned tls_ticket_rotate_s;         /* 0 = no tickets, default 3600 */
	/* policy: a sendmail access file (Redis later); empty = the backend decides everything */
	char access_file[CFG_PATH_LEN];
	/* control plane (mxgate, mxgate-control, mxctl read the same file) */
	char control_socket[CFG_PATH_LEN];    /* "" = no control socket */
	char redis_server[CFG_PATH_LEN];      /* "unix:/path" or "127.0.0.1:6379" */
	char redis_user[CFG_NAME_LEN], redis_password[CFG_NAME_LEN];
	char redis_prefix[CFG_NAME_LEN];      /* default "mxgate:" */
	char redis_sentinels[CFG_PATH_LEN];   /* "host:port host:port": the master through Sentinel */
	char redis_master_name[CFG_NAME_LEN]; /* the master's name at the sentinels */
	char metrics_listen[CFG_NAME_LEN];    /* "127.0.0.1:9465", "" = off */
	char appliance_id[CFG_NAME_LEN];      /* default: hostname */
	/* privileges: mxgate runs as this user once EAL and the ports are set up (Postfix's
	   mail_owner); the control socket belongs to it and to the group, mode 0660 */
	char mxgate_user[CFG_NAME_LEN];       /* default "mxgate"; never root */
	char mxgate_group[CFG_NAME_LEN];      /* default "mxgate" */
	/* the SMTP log (dataplane/smtp/slog.h): Postfix's wording, "<syslog_name>/smtpd[<session>]" */
	unsigned log_syslog;                  /* log_target: 1 = syslog (default), 0 = stderr */
	int syslog_facility;                  /* LOG_MAIL (default) or LOG_LOCAL0..7 */
	char syslog_name[CFG_NAME_LEN];       /* default "mxgate" (Postfix's syslog_name) */
	/* relay */
	struct cfg_backend backends[CFG_MAX_BACKENDS];
	unsigned nbackends;
	unsigned backend_timeout_ms;          /* per backend reply, default 300000 */
	unsigned backend_retry_ms;            /* a failed backend rests this long, default 30000 */
	char backend_tls_ca_file[CFG_PATH_LEN];  /* trust anchors for backends' certificates (TLS_Srv
						    VERIFY), "" = none: no backend verifies */
	unsigned backend_auth_without_tls;    /* AuthInfo's AUTH also over plaintext (default no) */
	/* DNS on the inside network (dataplane/dns): client names, DNSBL scoring */
	struct cfg_backend dns_servers[CFG_MAX_DNS_SERVERS];  /* port 53 unless given */
	unsigned ndns_servers;
	unsigned dns_timeout_ms;              /* per try, default 1000 */
	unsigned dns_retries;                 /* tries after the first, default 2 */
	unsigned dns_max_inflight;            /* queries per worker, default 512 */
	unsigned dns_cache_size;              /* entries per worker, default 8192, 0 = none */
	unsigned dns_banner_wait_ms;          /* the banner waits this long at most, default 5000 */
	struct cfg_dnsbl dnsbl_sites[CFG_MAX_DNSBL];
	unsigned ndnsbl_sites;
	unsigned dnsbl_threshold;             /* score that blocks, default 1 */
	unsigned dnsbl_action;                /* enum cfg_dnsbl_action, default enforce */
	struct cfg_impair impair;
};

/*
 * A Redis address as redis_server takes it (mxgate-control, mxctl; checked by the parser):
 * "unix:/path" (host = the path, *port = 0), "host:port" or "[v6]:port".
 * 0, or -1 when it is none of these (or host does not fit).
 */
int redis_addr_split(const char *s, char *host, size_t hostlen, int *port);

#define SENTINELS_MAX           8
#define SENTINEL_ADDR_LEN       256
/*
 * redis_sentinels: "host:port" addresses (no unix:) separated by spaces or
 * commas, 1..SENTINELS_MAX of them, into out; the count, or -1 (bad entry,
 * none, too many).
 */
int sentinel_list_parse(const char *list, char out[][SENTINEL_ADDR_LEN], int max);

/*
 * Parse and validate FILE into *cfg (defaults first).
 * Returns 0, or -1 with a one-line message in err: "FILE:LINE: key: why".
 */
int cfg_load(const char *file, struct mx_config *cfg, char *err, size_t errlen);

/* Same, from a string (tests); name is used in messages. */
int cfg_parse(const char *name, const char *text, struct mx_config *cfg,
	      char *err, size_t errlen);

/*
 * cfg_load() and then print to out the keys FILE sets, one "key = value" a
 * line, sorted by key, each with its last value as written (postconf -n).
 * Returns 0, or -1 with the error in err as cfg_load().
 */
int cfg_show_set(const char *file, struct mx_config *cfg, FILE *out, char *err, size_t errlen);

/*
 * A key set twice warns "FILE:LINE: warning: key KEY also set at line N;
 * the later wins" (the later value is the one used). Warnings go to fn;
 * with fn NULL (the default) they are dropped. mxgate prints them on
 * stderr; mxctl and mxgate-control, which read the same file on every
 * run, stay quiet (the lab layers its extra lines over deploy/lab.conf).
 */
typedef void cfg_warn_fn(void *arg, const char *msg);
void cfg_set_warn(cfg_warn_fn *fn, void *arg);

/*
 * SIGHUP. Each key is either live (a new value applies to the running
 * mxgate: new sessions and new commands see it) or needs a restart (see
 * the tables of config.c and docs/mxgate.conf.5). cfg_merge() compares the
 * configuration in force (run) with one just read and checked (next): for
 * every key whose value differs it calls fn(arg, key, live), and where the
 * key needs a restart it puts run's value back into next, so that next is
 * what will be in force. Turning TLS on or off (tls_cert_file set or empty)
 * needs a restart; other certificate files are live. Returns the number of
 * live keys that changed.
 */
typedef void cfg_change_fn(void *arg, const char *key, int live);
unsigned cfg_merge(const struct mx_config *run, struct mx_config *next, cfg_change_fn *fn, void *arg);

/* 1 when SIGHUP applies key live, 0 when it needs a restart, -1 for an unknown key. */
int cfg_key_live(const char *key);

/* The i-th known key (0, 1, ...), or NULL past the last; a static buffer for outside_*, inside_*. */
const char *cfg_key_name(unsigned i);

/* The port with this role, or NULL. */
const struct cfg_port *cfg_port_by_role(const struct mx_config *cfg, enum cfg_role role);

#endif
