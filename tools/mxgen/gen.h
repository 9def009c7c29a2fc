/*
 * gen.h - what mxgen's DPDK modes share (mxgen.c: the TCP modes, the
 * command line, the worker and its phases; smtp_dpdk.c: the SMTP client
 * and the smtp-sink equivalent on mxgen's own stack): the options, the
 * state of one run, the error classes and the mode hooks.
 *
 * One worker lcore runs everything of a run (both ports, every client
 * session, every sink connection); counters are written by the worker
 * only and read by the main lcore for the progress lines and at the end.
 */
#ifndef MX_GEN_H
#define MX_GEN_H

#include <stdint.h>
#include <stdio.h>

#include "tools/common/hist.h"
#include "common/config.h"
#include "dataplane/net/tcp.h"

/* Error classes of failed exchanges / connections / sessions. */
#define ERR_CLASSES(X) \
	X(refused)    /* active open answered by RST */ \
	X(timeout)    /* no answer in time (SYN retries, exchange, drain) */ \
	X(reset)      /* RST on an established connection */ \
	X(mismatch)   /* echoed bytes differ from what was sent, or too many */ \
	X(eof)        /* the server closed before the exchange / session was over */ \
	X(local)      /* tcp_connect() failed here (ports, table, memory) */ \
	X(tls)        /* SMTP: the TLS handshake failed, or a TLS error afterwards */ \
	X(smtp_reply) /* SMTP: a reply with an unexpected code, or malformed */

enum err_class {
#define X(n) ERR_##n,
	ERR_CLASSES(X)
#undef X
	ERR__MAX
};

extern const char *const err_names[ERR__MAX];

enum phase { PH_WARMUP, PH_RUN, PH_DRAIN, PH_LINGER, PH_DONE };

/* How an SMTP client session protects itself. */
enum gen_tls { GEN_TLS_PLAIN, GEN_TLS_STARTTLS, GEN_TLS_IMPLICIT };

struct gen_mode;

struct opts {
	const struct gen_mode *mode;
	char dev[CFG_NAME_LEN];
	uint8_t family;
	struct net_addr local, remote;
	uint8_t plen;
	uint16_t port;
	double duration;
	unsigned concurrency;     /* crr, smtp */
	unsigned size;            /* crr request, smtp message body */
	unsigned conns;           /* bulk */
	uint64_t count;           /* crr: exchanges; smtp: sessions started; 0 = no limit */
	unsigned pool_size;
	unsigned max_conns;
	unsigned timewait_ms;
	const char *stats_file;
	unsigned hold_ports_s;    /* after the summary, keep the ports open until the peer
				     leaves, at most this long (0: close at once) */
	/* SMTP */
	enum gen_tls tls;
	unsigned timeout_ms;      /* longest wait for one step of a session */
	double rate;              /* --rate: sessions started per second, open loop (0: closed
				     loop, --concurrency always in flight); smtp_client.h */
	const char *sni;
	/* the sink: a second port where an smtp-sink equivalent listens */
	char sink_dev[CFG_NAME_LEN];
	struct net_addr sink_local;
	uint8_t sink_family, sink_plen;
	uint16_t sink_port;
	int sink_xclient;         /* offer XCLIENT in the EHLO reply (as smtp-sink does) */
	unsigned sink_forget;     /* tests: do not count every Nth arrival (0: count all),
				     to show that the delivery check fails when it should */
};

/* Everything of one run. Counters are written by the worker only, read by main. */
struct gen {
	const struct opts *o;
	struct net_ctx *ctx;
	unsigned lcore;
	uint64_t hz;
	volatile int phase;
	volatile int quit;        /* SIGINT/SIGTERM: 1 = drain now, 2 = stop now */
	volatile int force;       /* second signal: leave the poll loop now */
	const char *fatal;        /* why the run could not start */
	int ready;                /* the mode may start measuring */
	uint64_t window_start_us, window_end_us;
	uint64_t busy0, idle0, busy1, idle1;  /* worker cycles at window start / end */
	uint8_t *pat;             /* PAT_PERIOD + max(size, BULK_CHUNK) bytes */
	void *m;                  /* mode state */
	void *sink;               /* the sink's state (smtp_dpdk.c), NULL without --sink-dev */
	/* results */
	uint64_t done, done_window;       /* completed exchanges (crr) / sessions (smtp) */
	uint64_t bytes, bytes_window;     /* echoed bytes received and verified */
	uint64_t opened;                  /* tcp_connect() calls that succeeded */
	uint64_t errors[ERR__MAX];
	unsigned active;                  /* application connections open */
	struct hist h;
};

/*
 * A traffic mode. All hooks except init/fini/summary run on the worker
 * lcore. done(g) says whether the mode finished its work early (--count).
 */
struct gen_mode {
	const char *name;
	/* allocate mode state (main lcore, before the worker starts) */
	int (*init)(struct gen *g);
	/* once per poll round, any phase but linger/done; returns work done */
	unsigned (*tick)(struct gen *g);
	/* the run window closed: stop starting work */
	void (*drain)(struct gen *g);
	/* the drain grace is over: abort whatever is still open */
	void (*abort_all)(struct gen *g);
	/* progress fragment and summary line */
	void (*progress)(struct gen *g, FILE *f, double dt);
	void (*summary)(struct gen *g, FILE *f);
	void (*fini)(struct gen *g);
	/* all --count work is over (NULL: the window runs for --duration) */
	int (*finished)(struct gen *g);
};

extern struct gen gen;

/* TSC cycles to nanoseconds. */
static inline uint64_t cyc_to_ns(const struct gen *g, uint64_t cyc)
{
	return (uint64_t)((unsigned __int128)cyc * 1000000000u / g->hz);
}

/* True while the measuring window is open. */
static inline int in_window(const struct gen *g)
{
	return g->phase == PH_RUN;
}

/* Count an error of a class. */
void gen_error(struct gen *g, enum err_class cls);
/* Total errors. */
uint64_t gen_errors(const struct gen *g);
/* Map how a connection ended to an error class. */
enum err_class gen_end_class(enum tcp_end why);
/* Open a connection to the configured peer; counts local failures. */
struct tcp_conn *gen_connect(struct gen *g, const struct tcp_app_ops *ops, void *app);

/* The SMTP modes over the DPDK stack (smtp_dpdk.c). */
extern const struct gen_mode smtp_mode, smtp_handshake_mode;

/* Is this mode one of the SMTP modes? */
int smtp_dpdk_is_mode(const struct gen_mode *m);
/* Start the sink on the worker's stack (main lcore, before the worker runs); 0 or -1. */
int smtp_sink_start(struct gen *g);
/*
 * The sink's summary fragment (sink_* words) and the delivery check: returns
 * how many messages broke "accepted by mxgate => arrived exactly once"
 * (0 without a sink).
 */
uint64_t smtp_sink_summary(struct gen *g, FILE *f);
/* Progress fragment of the sink. */
void smtp_sink_progress(struct gen *g, FILE *f);
/* Free the sink. */
void smtp_sink_free(struct gen *g);

#endif
