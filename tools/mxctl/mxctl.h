/*
 * mxctl.h - what the parts of mxctl, the operator's CLI, share: exit
 * codes, the lazily loaded configuration, the control-socket and Redis
 * helpers, the policy hash, JSON output, and one entry point per command
 * group. mxctl talks to mxgate over the control socket (common/ctl.h) and
 * to Redis (hiredis) with the schema shared with mxgate-control; see
 * docs/mxctl.1.
 */
#ifndef MX_MXCTL_H
#define MX_MXCTL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <hiredis/hiredis.h>

#include "common/config.h"
#include "common/ctl.h"
#include "common/schema.h"   /* Redis keys (RK_*), events (EV_*), limits */

/* Exit codes. */
#define EX_OK           0       /* done */
#define EX_FAIL         1       /* something failed: message on stderr */
#define EX_USAGE        2       /* bad command line */
#define EX_REJECTED     3       /* policy test: the session would be refused somewhere */

/* Global options and the configuration (loaded on first need). */
struct mxctl {
	const char *config_path;        /* -c FILE, $MXCTL_CONFIG or the default */
	int config_explicit;            /* -c or $MXCTL_CONFIG given */
	const char *socket_override;    /* -s PATH */
	const char *redis_override;     /* -r SERVER */
	const char *prog;               /* "mxctl" */
	int config_loaded;
	struct mx_config cfg;
};

extern struct mxctl mx;

/* "mxctl: " + message on stderr. */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* say() and return EX_FAIL (for "return fail(...)"). */
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "mxctl: message" and the usage text on stderr; return EX_USAGE. */
int usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print a command's help on stdout; return EX_OK. */
int help(const char *text);
/* True for "--help", "-h" and "help". */
int is_help(const char *arg);
/* Reset getopt_long for a command's own argv (argv[0] = the command). */
void opt_reset(void);
/* After getopt_long returned '?': "unknown option --x" or "option --x needs an argument". */
const char *bad_opt(char **argv);
/*
 * A command whose only option is --help (-h): its argv parsed. -1: go on,
 * the operands start at optind; else the exit code to return at once (the
 * help shown: EX_OK; "cmd: unknown option --x" and usage: EX_USAGE).
 */
int help_only(int argc, char **argv, const char *help_text, const char *usage, const char *cmd);
/*
 * A command whose only options are --json and --help, and no operand (a
 * list): its argv parsed, *json set. -1: go on; else the exit code to
 * return at once, as help_only().
 */
int json_only(int argc, char **argv, const char *help_text, const char *usage, const char *cmd,
	      int *json);

/* True if the configuration file can be read (explicit or the default). */
int config_exists(void);
/* The configuration; NULL (message said) when it cannot be read. */
const struct mx_config *need_config(void);
/* The control socket path (config or -s); NULL with a message when none. */
const char *ctl_path(void);
/* One control request; 0 with the reply in *m (DATA/OK), or -1 (message said; ERR included). */
int ctl_request(unsigned char type, const void *payload, size_t len, struct ctl_msg *m);

/* Connect (and AUTH) to the configured Redis; NULL with a message. */
redisContext *rds_connect(void);
/* The Redis server as configured ("unix:/path" or "host:port"), or NULL. */
const char *rds_server(void);
/* "<prefix>NAME" in a static rotating buffer. */
const char *rkey(const char *name);
/* Run a command (argv form); the reply, or NULL with a message (Redis errors included). */
redisReply *rds_cmd(redisContext *c, int argc, const char **argv);
/* Run a command from printf-free fixed words; NULL-terminated list. */
redisReply *rds_cmdv(redisContext *c, ...);
/* PUBLISH text on <prefix>events; receivers, or -1 with a message. */
long long rds_publish(redisContext *c, const char *text);
/* Current policy version (0 when unset); -1 with a message. */
long long rds_policy_version(redisContext *c);

/* One access-map entry. */
struct entry {
	char *key;
	char *value;
};

/* A list of entries. */
struct entries {
	struct entry *v;
	size_t n, cap;
};

/* Append a copy of key/value; 0 or -1 (out of memory). */
int entries_add(struct entries *e, const char *key, const char *value);
/* Free every entry. */
void entries_free(struct entries *e);
/* Sort by key (case-insensitive, then as bytes). */
void entries_sort(struct entries *e);
/* Read the whole policy hash into *e (sorted); 0 or -1 with a message. */
int rds_policy_read(redisContext *c, struct entries *e);

/* Write s as a JSON string (quotes and escapes). */
void json_str(FILE *f, const char *s);
/*
 * Write s for a terminal as one field: printable ASCII and well-formed
 * UTF-8 other than the C1 controls as they are; every other byte
 * (newlines and tabs too: a name from Redis cannot forge a line), and
 * '\\', as \\xHH (what a client or Redis wrote cannot drive it).
 */
void text_safe(FILE *f, const char *s);
/* The same, but newlines pass: text of several lines (mxgate's session list). */
void text_lines(FILE *f, const char *s);
/* text_safe() of s, then blanks up to width w (by s's own length). */
void text_pad(FILE *f, const char *s, int w);
/* Write s as a JSON number if it is one, else as a string. */
void json_scalar(FILE *f, const char *s);

/* Command groups: argv[0] is the command name; they return an exit code. */
int cmd_status(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_sessions(int argc, char **argv);
int cmd_drain(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_cert(int argc, char **argv);
int cmd_tickets(int argc, char **argv);
int cmd_reload(int argc, char **argv);
int cmd_ca(int argc, char **argv);
int cmd_crl(int argc, char **argv);
int cmd_user(int argc, char **argv);

#endif
