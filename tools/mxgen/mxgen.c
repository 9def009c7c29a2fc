/*
 * mxgen.c - the traffic generator: a DPDK process on mxgate's own TCP/IP
 * stack (dataplane/net), one worker lcore that polls its ports and runs
 * every connection, and the main lcore that prints progress and enforces
 * the time limits. It measures mxgate (and later its peers) over net_memif
 * or a NIC with no kernel in the path.
 *
 *   mxgen [EAL options] -- MODE --dev NAME --local ADDR/LEN --remote ADDR
 *                          --port P --duration S [mode options]
 *
 * Modes (a table, modes[]; the SMTP ones live in smtp_dpdk.c, gen.h is
 * what they share):
 *   tcp-crr   keep --concurrency connections in flight: connect, send
 *             --size bytes, read them back (verified), close first, repeat.
 *   tcp-bulk  --conns connections each stream a pattern and verify the echo.
 *   smtp      --concurrency SMTP sessions in flight (default 32): greeting,
 *             EHLO, [STARTTLS, handshake, EHLO,] MAIL, RCPT, DATA of
 *             --size bytes (default 1024), QUIT; --tls plain|starttls|
 *             implicit (465: handshake first); BoringSSL via crypto/tls.c.
 *   smtp-handshake  greeting, EHLO, STARTTLS, handshake, QUIT (implicit:
 *             handshake, greeting, QUIT; plain: greeting, EHLO, QUIT).
 * The SMTP modes take --sessions N (instead of, or as well as, --duration)
 * and, with --sink-dev/--sink-local, run an smtp-sink equivalent on a
 * second port of the same process: the backend mxgate relays to. Every
 * message mxgate accepted must arrive there exactly once (Message-ID
 * check); the summary line reports delivered_once, missing, duplicates.
 * With --rate R they run open loop instead: R sessions started per second,
 * at most --concurrency in flight, latency p50..p99.9 from connect to the
 * end of TLS and to the final 250 (smtp_client.h, shared with smtp_kernel.c).
 *
 * The benchmark's command lines (tests/bench/smtp_memif.sh, make
 * bench-memif; TMP is its temporary directory, PID the script's):
 *   build/mxgen --no-huge --no-pci -m 512 --no-shconf --file-prefix memif_br-gen-PID
 *     --lcores 0@0,1@0
 *     --vdev net_memif0,role=client,socket=TMP/memif_br-out.sock,socket-abstract=no,id=0,rsize=12,mac=02:00:c6:12:02:01
 *     --vdev net_memif1,role=client,socket=TMP/memif_br-in.sock,socket-abstract=no,id=0,rsize=12,mac=02:00:c6:12:03:01
 *     -- WORK --concurrency 32 --dev net_memif0 --local 198.18.2.1/24 --remote 198.18.2.2
 *        --sink-dev net_memif1 --sink-local 198.18.3.1/24 --sink-port 25 --hold-ports 20
 * with WORK one of
 *   plain            smtp --tls plain --port 25 --size 1024 --duration 10
 *   starttls-ecdsa   smtp --tls starttls --port 25 --size 1024 --duration 10
 *   starttls-rsa     the same (mxgate holds an RSA-2048 certificate)
 *   handshake-ecdsa  smtp-handshake --tls starttls --port 25 --size 1024 --duration 10
 *   handshake-rsa    the same against the RSA certificate
 * against mxgate (deploy/bench-memif-smtp.conf) started with
 *   --lcores 0@0,1@1 and the two net_memif vdevs as role=server.
 *
 * Life of a run (the worker's phases):
 *   warmup  one probe connection resolves the peer's MAC and proves the
 *           port works (bulk: then all --conns are opened); the measuring
 *           window starts when the mode is ready (at most 5 s)
 *   run     --duration seconds of load (smtp: or until --sessions are done)
 *   drain   no new work; in-flight exchanges get 2 s to finish, the rest
 *           are aborted (and counted as timeouts)
 *   linger  wait for our TIME_WAIT entries to expire (timewait + 0.5 s),
 *           so that "left_conns" shows whether the table drains to 0
 * A progress line goes to stderr every second, one summary line to stdout
 * at the end. --hold-ports S then keeps the ports open until the memif
 * peer has left (at most S s): a peer that still polls when we disconnect
 * can crash in DPDK 22.11's net_memif RX, so the bench stops mxgate first.
 * Exit status: 0, 1 set-up failure, 2 usage, 3 the run had errors (or a
 * message was not delivered exactly once), 4 the watchdog fired.
 *
 * SMTP modes over kernel sockets (smtp, smtp-handshake, smtp-idle:
 * smtp_kernel.c) are dispatched on argv[1] before the EAL is initialised
 * (with DPDK the mode comes after "--", so the names do not clash):
 *   mxgen smtp-handshake --server 198.18.0.2 --port 25 --concurrency 64 ...
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_cycles.h>
#include <rte_ring.h>
#include <rte_errno.h>
#include <rte_mempool.h>

#include "tools/common/hist.h"
#include "tools/common/opt.h"

#include "common/config.h"
#include "dataplane/port.h"
#include "dataplane/net/tcp.h"
#include "smtp_kernel.h"
#include "smtp_client.h"
#include "gen.h"

#define PAT_PERIOD        251u        /* prime: the pattern never lines up with buffers */
#define MAX_SIZE          (1u << 20)  /* largest crr request */
#define MAX_CONCURRENCY   65536u
#define MAX_BULK_CONNS    4096u
#define BULK_CHUNK        16384u      /* bytes offered to tcp_send() per call */
#define WARMUP_US         5000000ull  /* the probe must succeed within this */
#define DRAIN_US          2000000ull  /* in-flight grace after the duration */
#define LINGER_SLACK_US   500000ull   /* beyond timewait_ms before giving up on TIME_WAIT */
#define OP_TIMEOUT_MS     3000u       /* one crr exchange longer than this is a timeout */
#define LINK_WAIT_MS      5000u
#define WATCHDOG_SLACK_S  10u

const char *const err_names[ERR__MAX] = {
#define X(n) #n,
	ERR_CLASSES(X)
#undef X
};

static const char *const phase_names[] = { "warmup", "run", "drain", "linger", "done" };

struct gen gen;
static struct opts opts;
static const char *prog = "mxgen";

/* ---------------------------------------------------------------- */
/* small helpers                                                     */
/* ---------------------------------------------------------------- */

/* the latency histogram: tools/common/hist.h */

/* The pattern: pat[i] depends only on i % PAT_PERIOD. */
static uint8_t *make_pattern(size_t span)
{
	uint8_t *p = malloc(PAT_PERIOD + span);
	size_t i;

	if (p == NULL)
		return NULL;
	for (i = 0; i < PAT_PERIOD + span; i++)
		p[i] = (uint8_t)((i % PAT_PERIOD) * 97u + 13u);
	return p;
}

/* Count an error of a class. */
void gen_error(struct gen *g, enum err_class cls)
{
	g->errors[cls]++;
}

/* Total errors. */
uint64_t gen_errors(const struct gen *g)
{
	uint64_t n = 0;
	unsigned i;

	for (i = 0; i < ERR__MAX; i++)
		n += g->errors[i];
	return n;
}

/* Map how a connection ended to an error class. */
enum err_class gen_end_class(enum tcp_end why)
{
	switch (why) {
	case TCP_END_REFUSED:
		return ERR_refused;
	case TCP_END_TIMEOUT:
		return ERR_timeout;
	case TCP_END_RESET:
		return ERR_reset;
	case TCP_END_CLOSED:
		return ERR_eof;
	default:
		return ERR_local;
	}
}

/* Open a connection to the configured peer; counts local failures. */
struct tcp_conn *gen_connect(struct gen *g, const struct tcp_app_ops *ops, void *app)
{
	struct tcp_conn *c = tcp_connect(g->ctx, 0, g->o->family, &g->o->remote, g->o->port,
					 ops, app);

	if (c == NULL) {
		gen_error(g, ERR_local);
		return NULL;
	}
	g->opened++;
	return c;
}

/* ---------------------------------------------------------------- */
/* tcp-crr: connect, request, response, close                        */
/* ---------------------------------------------------------------- */

struct crr_slot {
	struct tcp_conn *c;       /* NULL: free */
	uint64_t t0;              /* TSC at tcp_connect() */
	uint32_t sent, recvd, pat_off;
	unsigned idx;
	int probe;                /* the warm-up connection: not in the histogram */
};

struct crr {
	struct crr_slot *slots;
	unsigned *free;           /* stack of free slot indexes */
	unsigned nfree;
	uint64_t seq;
	unsigned local_streak;    /* tcp_connect() failures in a row */
};

static const struct tcp_app_ops crr_ops;

/* Give a slot back (the connection is closed, aborted or gone). */
static void crr_release(struct gen *g, struct crr_slot *sl)
{
	struct crr *k = g->m;

	sl->c = NULL;
	k->free[k->nfree++] = sl->idx;
	g->active--;
}

/* Fail an exchange: count it, reset the connection, free the slot. */
static void crr_fail(struct gen *g, struct crr_slot *sl, enum err_class cls)
{
	struct tcp_conn *c = sl->c;

	gen_error(g, cls);
	if (sl->probe && g->phase == PH_WARMUP)
		g->fatal = cls == ERR_refused ? "the probe connection was refused (is the echo "
						"service on that port?)"
					      : "the probe connection failed";
	crr_release(g, sl);
	tcp_abort(c);
}

/* Start an exchange in a free slot; returns 0 or -1. */
static int crr_start(struct gen *g, int probe)
{
	struct crr *k = g->m;
	struct crr_slot *sl;
	struct tcp_conn *c;

	if (k->nfree == 0)
		return -1;
	sl = &k->slots[k->free[k->nfree - 1]];
	sl->t0 = rte_rdtsc();
	sl->sent = sl->recvd = 0;
	sl->pat_off = (uint32_t)(k->seq % PAT_PERIOD);
	sl->probe = probe;
	c = gen_connect(g, &crr_ops, sl);
	if (c == NULL) {
		k->local_streak++;
		return -1;
	}
	k->local_streak = 0;
	k->seq++;
	k->nfree--;
	sl->c = c;
	g->active++;
	tcp_set_timeout(c, probe ? (unsigned)(WARMUP_US / 1000) : OP_TIMEOUT_MS);
	return 0;
}

/* Push the unsent part of the request. */
static void crr_send(struct crr_slot *sl)
{
	struct gen *g = &gen;

	while (sl->sent < g->o->size) {
		size_t n = tcp_send(sl->c, g->pat + sl->pat_off + sl->sent, g->o->size - sl->sent);

		if (n == 0)
			return;           /* writable() resumes */
		sl->sent += (uint32_t)n;
	}
}

/* Handshake done (or failed: closed() follows and counts it). */
static void crr_connected(struct tcp_conn *c, int err)
{
	struct crr_slot *sl = tcp_app(c);

	if (err < 0)
		return;
	if (sl->probe)
		gen.ready = 1;            /* the peer's MAC is known: full load may start */
	crr_send(sl);
}

static void crr_writable(struct tcp_conn *c)
{
	crr_send(tcp_app(c));
}

/* Read and verify the echo; complete the exchange when all of it is back. */
static void crr_readable(struct tcp_conn *c)
{
	struct crr_slot *sl = tcp_app(c);
	struct gen *g = &gen;
	const uint8_t *p;
	size_t n;

	while ((p = tcp_peek(c, &n)) != NULL) {
		if (sl->recvd + n > sl->sent ||
		    memcmp(p, g->pat + sl->pat_off + sl->recvd, n) != 0) {
			crr_fail(g, sl, ERR_mismatch);
			return;
		}
		sl->recvd += (uint32_t)n;
		g->bytes += n;
		tcp_consume(c, n);
	}
	if (sl->recvd == g->o->size) {
		uint64_t dt = rte_rdtsc() - sl->t0;

		g->done++;
		if (in_window(g) && !sl->probe) {
			g->done_window++;
			hist_add(&g->h, cyc_to_ns(g, dt));
		}
		crr_release(g, sl);
		tcp_close(c);             /* the client closes first: TIME_WAIT is ours */
	}
}

/* The server closed before echoing everything. */
static void crr_peer_closed(struct tcp_conn *c)
{
	crr_fail(&gen, tcp_app(c), ERR_eof);
}

/* The connection ended under us (refused, reset, retransmissions exhausted). */
static void crr_closed(struct tcp_conn *c, enum tcp_end why)
{
	struct crr_slot *sl = tcp_app(c);
	struct gen *g = &gen;

	gen_error(g, gen_end_class(why));
	if (sl->probe && g->phase == PH_WARMUP)
		g->fatal = why == TCP_END_REFUSED ? "the probe connection was refused (is the echo "
						    "service listening on that port?)"
						  : "the probe connection failed (no answer)";
	crr_release(g, sl);
}

/* The exchange took longer than OP_TIMEOUT_MS. */
static void crr_timeout(struct tcp_conn *c)
{
	crr_fail(&gen, tcp_app(c), ERR_timeout);
}

static const struct tcp_app_ops crr_ops = {
	.connected = crr_connected,
	.readable = crr_readable,
	.writable = crr_writable,
	.peer_closed = crr_peer_closed,
	.closed = crr_closed,
	.timeout = crr_timeout,
};

static int crr_init(struct gen *g)
{
	struct crr *k = calloc(1, sizeof(*k));
	unsigned i, n = g->o->concurrency;

	if (k == NULL)
		return -1;
	k->slots = calloc(n, sizeof(*k->slots));
	k->free = calloc(n, sizeof(*k->free));
	if (k->slots == NULL || k->free == NULL)
		return -1;
	for (i = n; i-- > 0;) {
		k->slots[i].idx = i;
		k->free[k->nfree++] = i;
	}
	g->m = k;
	return 0;
}

/* Keep the slots busy: refill every free one once per round. */
static unsigned crr_tick(struct gen *g)
{
	struct crr *k = g->m;
	unsigned n = 0, want;

	if (g->phase == PH_WARMUP) {
		/* one probe until the peer answers */
		if (g->active == 0 && !g->ready && g->opened == 0 && crr_start(g, 1) == 0)
			n++;
		return n;
	}
	if (g->phase != PH_RUN)
		return 0;
	want = k->nfree;
	while (want-- > 0) {
		if (g->o->count && g->done + g->active >= g->o->count)
			break;
		if (crr_start(g, 0) != 0)
			break;        /* local failure: try again next round */
		n++;
	}
	if (k->local_streak >= 100000 && g->done == 0)
		g->fatal = "tcp_connect() keeps failing";
	return n;
}

static void crr_drain(struct gen *g)
{
	(void)g;
}

/* After the drain grace: whatever is in flight counts as a timeout. */
static void crr_abort_all(struct gen *g)
{
	struct crr *k = g->m;
	unsigned i, shown = 0;

	for (i = 0; i < g->o->concurrency; i++) {
		struct crr_slot *sl = &k->slots[i];

		if (sl->c == NULL)
			continue;
		if (shown++ < 8)
			fprintf(stderr, "mxgen: aborting exchange (local port %u) in %s after %.0f ms: "
				"sent=%u echoed=%u unacked=%zu\n", tcp_tuple(sl->c)->lport,
				tcp_state_name(sl->c), (double)cyc_to_ns(g, rte_rdtsc() - sl->t0) / 1e6,
				sl->sent, sl->recvd, tcp_unacked(sl->c));
		crr_fail(g, sl, ERR_timeout);
	}
}

static void crr_progress(struct gen *g, FILE *f, double dt)
{
	static uint64_t last;
	uint64_t d = g->done;

	fprintf(f, " conns/s=%.0f done=%llu active=%u", dt > 0 ? (double)(d - last) / dt : 0.0,
		(unsigned long long)d, g->active);
	last = d;
}

static void crr_summary(struct gen *g, FILE *f)
{
	double win = (double)(g->window_end_us - g->window_start_us) / 1e6;
	uint64_t busy = g->busy1 - g->busy0, idle = g->idle1 - g->idle0;

	fprintf(f, "mxgen tcp-crr: conns=%llu conns_per_s=%.1f errors=%llu p50_us=%.1f "
		   "p99_us=%.1f busy_pct=%.1f cycles_per_conn=%.0f",
		(unsigned long long)g->done, win > 0 ? (double)g->done_window / win : 0.0,
		(unsigned long long)gen_errors(g), hist_quantile(&g->h, 0.50) / 1e3,
		hist_quantile(&g->h, 0.99) / 1e3,
		busy + idle ? 100.0 * (double)busy / (double)(busy + idle) : 0.0,
		g->done_window ? (double)busy / (double)g->done_window : 0.0);
}

static void crr_fini(struct gen *g)
{
	struct crr *k = g->m;

	if (k == NULL)
		return;
	free(k->slots);
	free(k->free);
	free(k);
	g->m = NULL;
}

/* ---------------------------------------------------------------- */
/* tcp-bulk: streams of a pattern, echo verified                     */
/* ---------------------------------------------------------------- */

struct bconn {
	struct tcp_conn *c;       /* NULL: not open (any more) */
	uint64_t tx, rx;          /* stream bytes queued / echoed back */
	uint32_t seed;            /* offset into the pattern */
	int up;                   /* handshake done */
};

struct bulk {
	struct bconn *b;
	unsigned nup, started;
	int sending;              /* cleared at drain */
};

static const struct tcp_app_ops bulk_ops;

/* A bulk connection is over (closed by us, failed, or aborted). */
static void bulk_release(struct gen *g, struct bconn *b)
{
	b->c = NULL;
	g->active--;
}

/* Fail a connection: count, reset, forget. */
static void bulk_fail(struct gen *g, struct bconn *b, enum err_class cls)
{
	struct tcp_conn *c = b->c;

	gen_error(g, cls);
	if (g->phase == PH_WARMUP)
		g->fatal = "a bulk connection failed while starting";
	bulk_release(g, b);
	tcp_abort(c);
}

/* Queue as much of the stream as the send buffer takes. */
static void bulk_send(struct bconn *b)
{
	struct gen *g = &gen;
	struct bulk *k = g->m;

	while (k->sending) {
		size_t off = (size_t)((b->seed + b->tx) % PAT_PERIOD);
		size_t n = tcp_send(b->c, g->pat + off, BULK_CHUNK);

		b->tx += n;
		if (n < BULK_CHUNK)
			return;           /* writable() resumes */
	}
}

static void bulk_connected(struct tcp_conn *c, int err)
{
	struct bconn *b = tcp_app(c);
	struct bulk *k = gen.m;

	if (err < 0)
		return;
	b->up = 1;
	k->nup++;
	bulk_send(b);
}

static void bulk_writable(struct tcp_conn *c)
{
	bulk_send(tcp_app(c));
}

/* Verify and consume the echo; after the drain, close once all came back. */
static void bulk_readable(struct tcp_conn *c)
{
	struct bconn *b = tcp_app(c);
	struct gen *g = &gen;
	struct bulk *k = g->m;
	const uint8_t *p;
	size_t n;

	while ((p = tcp_peek(c, &n)) != NULL) {
		size_t off = (size_t)((b->seed + b->rx) % PAT_PERIOD);

		if (b->rx + n > b->tx) {
			bulk_fail(g, b, ERR_mismatch);
			return;
		}
		while (n > 0) {
			/* the pattern buffer holds BULK_CHUNK bytes past any period offset */
			size_t k2 = n < BULK_CHUNK ? n : BULK_CHUNK;

			if (memcmp(p, g->pat + off, k2) != 0) {
				bulk_fail(g, b, ERR_mismatch);
				return;
			}
			b->rx += k2;
			g->bytes += k2;
			if (in_window(g))
				g->bytes_window += k2;
			tcp_consume(c, k2);
			p += k2;
			n -= k2;
			off = (size_t)((b->seed + b->rx) % PAT_PERIOD);
		}
	}
	if (!k->sending && b->rx == b->tx) {
		bulk_release(g, b);
		tcp_close(c);
	}
}

static void bulk_peer_closed(struct tcp_conn *c)
{
	bulk_fail(&gen, tcp_app(c), ERR_eof);
}

static void bulk_closed(struct tcp_conn *c, enum tcp_end why)
{
	struct bconn *b = tcp_app(c);

	gen_error(&gen, gen_end_class(why));
	if (gen.phase == PH_WARMUP)
		gen.fatal = why == TCP_END_REFUSED ? "bulk connection refused (is the echo service "
						     "listening on that port?)"
						   : "a bulk connection failed while starting";
	bulk_release(&gen, b);
}

static const struct tcp_app_ops bulk_ops = {
	.connected = bulk_connected,
	.readable = bulk_readable,
	.writable = bulk_writable,
	.peer_closed = bulk_peer_closed,
	.closed = bulk_closed,
};

static int bulk_init(struct gen *g)
{
	struct bulk *k = calloc(1, sizeof(*k));
	unsigned i;

	if (k == NULL)
		return -1;
	k->b = calloc(g->o->conns, sizeof(*k->b));
	if (k->b == NULL)
		return -1;
	for (i = 0; i < g->o->conns; i++)
		k->b[i].seed = (uint32_t)(i * 7919u) % PAT_PERIOD;
	k->sending = 1;
	g->m = k;
	return 0;
}

/* Open one probe connection, then the rest once it is up; ready when all are. */
static unsigned bulk_open(struct gen *g, unsigned i)
{
	struct bulk *k = g->m;
	struct bconn *b = &k->b[i];

	b->c = gen_connect(g, &bulk_ops, b);
	if (b->c == NULL) {
		g->fatal = "tcp_connect() failed for a bulk connection";
		return 0;
	}
	g->active++;
	k->started++;
	return 1;
}

static unsigned bulk_tick(struct gen *g)
{
	struct bulk *k = g->m;
	unsigned n = 0;

	if (g->phase != PH_WARMUP)
		return 0;
	if (k->started == 0)
		return bulk_open(g, 0);
	if (k->nup >= 1)
		while (k->started < g->o->conns && g->fatal == NULL)
			n += bulk_open(g, k->started);
	if (k->nup == g->o->conns)
		g->ready = 1;
	return n;
}

/* Stop streaming; connections whose echo is complete close now. */
static void bulk_drain(struct gen *g)
{
	struct bulk *k = g->m;
	unsigned i;

	k->sending = 0;
	for (i = 0; i < g->o->conns; i++) {
		struct bconn *b = &k->b[i];

		if (b->c != NULL && b->rx == b->tx) {
			struct tcp_conn *c = b->c;

			bulk_release(g, b);
			tcp_close(c);
		}
	}
}

static void bulk_abort_all(struct gen *g)
{
	struct bulk *k = g->m;
	unsigned i;

	for (i = 0; i < g->o->conns; i++) {
		struct bconn *b = &k->b[i];

		if (b->c == NULL)
			continue;
		/* diagnostics: where the stream stood when the grace ran out */
		fprintf(stderr, "mxgen: aborting bulk connection %u (local port %u) in %s: "
			"sent=%llu echoed=%llu unacked=%zu unread=%zu\n", i,
			tcp_tuple(b->c)->lport, tcp_state_name(b->c), (unsigned long long)b->tx,
			(unsigned long long)b->rx, tcp_unacked(b->c), tcp_readable(b->c));
		bulk_fail(g, b, ERR_timeout);
	}
}

static void bulk_progress(struct gen *g, FILE *f, double dt)
{
	static uint64_t last;
	uint64_t b = g->bytes;

	fprintf(f, " gbit/s=%.3f active=%u", dt > 0 ? (double)(b - last) * 8 / 1e9 / dt : 0.0,
		g->active);
	last = b;
}

static void bulk_summary(struct gen *g, FILE *f)
{
	double win = (double)(g->window_end_us - g->window_start_us) / 1e6;
	uint64_t busy = g->busy1 - g->busy0, idle = g->idle1 - g->idle0;

	fprintf(f, "mxgen tcp-bulk: gbit_s=%.3f bytes=%llu conns=%u errors=%llu busy_pct=%.1f "
		   "cycles_per_kib=%.0f",
		win > 0 ? (double)g->bytes_window * 8 / 1e9 / win : 0.0,
		(unsigned long long)g->bytes_window, g->o->conns,
		(unsigned long long)gen_errors(g),
		busy + idle ? 100.0 * (double)busy / (double)(busy + idle) : 0.0,
		g->bytes_window ? (double)busy * 1024 / (double)g->bytes_window : 0.0);
}

static void bulk_fini(struct gen *g)
{
	struct bulk *k = g->m;

	if (k == NULL)
		return;
	free(k->b);
	free(k);
	g->m = NULL;
}

/* ---------------------------------------------------------------- */
/* the mode table                                                    */
/* ---------------------------------------------------------------- */

/* crr: all --count exchanges are done. */
static int crr_finished(struct gen *g)
{
	return g->o->count && g->done >= g->o->count;
}

static const struct gen_mode crr_mode = {
	"tcp-crr", crr_init, crr_tick, crr_drain, crr_abort_all, crr_progress, crr_summary,
	crr_fini, crr_finished,
};

static const struct gen_mode bulk_mode = {
	"tcp-bulk", bulk_init, bulk_tick, bulk_drain, bulk_abort_all, bulk_progress,
	bulk_summary, bulk_fini, NULL,
};

static const struct gen_mode *const modes[] = {
	&crr_mode, &bulk_mode, &smtp_mode, &smtp_handshake_mode,
};

/* ---------------------------------------------------------------- */
/* the worker                                                        */
/* ---------------------------------------------------------------- */

/* Move between phases; returns work done by the mode. */
static unsigned gen_step(struct gen *g, uint64_t *deadline)
{
	struct net_ctx *ctx = g->ctx;
	uint64_t now = ctx->now_us;
	unsigned work = 0;

	if (g->phase <= PH_DRAIN)
		work = g->o->mode->tick(g);
	switch (g->phase) {
	case PH_WARMUP:
		if (g->fatal != NULL || g->quit) {
			g->o->mode->abort_all(g);
			*deadline = now + LINGER_SLACK_US;
			g->phase = PH_LINGER;
		} else if (g->ready) {
			g->window_start_us = now;
			g->busy0 = ctx->st.busy_cycles;
			g->idle0 = ctx->st.idle_cycles;
			*deadline = now + (uint64_t)(g->o->duration * 1e6);
			g->phase = PH_RUN;
		} else if (now >= *deadline) {
			g->fatal = "no connection established within 5 s (is mxgate up? link? "
				   "addresses in one subnet?)";
		}
		break;
	case PH_RUN:
		if (now >= *deadline || g->quit || g->fatal != NULL ||
		    (g->o->mode->finished != NULL && g->o->mode->finished(g))) {
			g->window_end_us = now;
			g->busy1 = ctx->st.busy_cycles;
			g->idle1 = ctx->st.idle_cycles;
			g->phase = PH_DRAIN;
			g->o->mode->drain(g);
			*deadline = now + DRAIN_US;
		}
		break;
	case PH_DRAIN:
		if (g->active == 0 || now >= *deadline || g->quit > 1) {
			if (g->active > 0)
				g->o->mode->abort_all(g);
			*deadline = now + (uint64_t)g->o->timewait_ms * 1000 + LINGER_SLACK_US;
			g->phase = PH_LINGER;
		}
		break;
	case PH_LINGER:
		if (tcp_conn_count(ctx) == 0 || now >= *deadline || g->quit > 1)
			g->phase = PH_DONE;
		break;
	default:
		break;
	}
	return work;
}

/* Worker lcore: poll, run the stack and the mode until the run is done. */
static int worker_main(void *arg)
{
	struct gen *g = arg;
	struct net_ctx *ctx = g->ctx;
	uint64_t tsc0 = rte_rdtsc(), prev = tsc0;
	uint64_t mult = (1000000ull << 32) / g->hz;
	uint64_t deadline = WARMUP_US;
	unsigned i;

	ctx->now_us = 0;
	net_announce(ctx);
	while (g->phase != PH_DONE && !g->force) {
		unsigned work = 0;
		uint64_t t;

		ctx->now_us = (uint64_t)(((unsigned __int128)(prev - tsc0) * mult) >> 32);
		for (i = 0; i < ctx->nifs; i++)
			work += port_poll(ctx, &ctx->ifs[i]);
		work += net_steer_poll(ctx);
		/* before the timers: ACKs held for this round's replies (tcp_hold_ack) ride on them */
		work += gen_step(g, &deadline);
		net_timers(ctx);
		net_flush(ctx);
		t = rte_rdtsc();
		if (work)
			ctx->st.busy_cycles += t - prev;
		else
			ctx->st.idle_cycles += t - prev;
		prev = t;
	}
	net_flush(ctx);
	if (g->phase != PH_DONE && g->window_end_us == 0 && g->phase >= PH_RUN) {
		g->window_end_us = ctx->now_us;
		g->busy1 = ctx->st.busy_cycles;
		g->idle1 = ctx->st.idle_cycles;
	}
	g->phase = PH_DONE;
	return 0;
}

/* ---------------------------------------------------------------- */
/* command line and main                                             */
/* ---------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s [EAL options] -- MODE --dev NAME --local ADDR/LEN --remote ADDR\n"
		"             --port P --duration S [options]\n"
		"modes:\n"
		"  tcp-crr   connect, send --size bytes, read the echo, close (client first), repeat,\n"
		"            --concurrency connections in flight (default 64)\n"
		"  tcp-bulk  --conns connections (default 4) stream a pattern, echo verified\n"
		"  smtp      --concurrency SMTP sessions in flight (default 32), each: greeting, EHLO,\n"
		"            [STARTTLS, handshake, EHLO,] MAIL, RCPT, DATA of --size bytes, QUIT\n"
		"            (--tls implicit: handshake, greeting, EHLO, MAIL, ...)\n"
		"  smtp-handshake  greeting, EHLO, STARTTLS, handshake, QUIT (implicit: handshake,\n"
		"            greeting, QUIT; plain: greeting, EHLO, QUIT)\n"
		"options:\n"
		"  --size B          crr request size, 1..%u (default 64); smtp body (default 1024)\n"
		"  --count N         crr: stop after N exchanges; smtp: start N sessions (default:\n"
		"                    duration only); --sessions N is the same\n"
		"  --pool N          mbufs in the pool (default 65535)\n"
		"  --max-conns N     TCP table size (default 131072)\n"
		"  --timewait-ms N   our TIME_WAIT hold time (default 1000)\n"
		"  --stats-file F    write the stack's counters (Prometheus text) there at the end\n"
		"  --hold-ports S    after the summary, keep the ports open until the peer has left\n"
		"                    (link down), at most S seconds (default 0: close at once)\n"
		"SMTP options:\n"
		"  --tls T           plain, starttls or implicit (default starttls; implicit if\n"
		"                    --port 465)\n"
		"  --timeout-ms N    longest wait for one step of a session (default 10000)\n"
		"  --sni NAME        server name in the ClientHello (default mx.bench.example)\n"
		"  --rate R[/s]      open loop: start R sessions per second (a due session that\n"
		"                    finds --concurrency in flight is not started: missed);\n"
		"                    latency p50/p90/p99/p99.9 from connect to the end of TLS and\n"
		"                    to the final 250 (tools/mxgen/smtp_client.h)\n"
		"  --sink-dev NAME   a second port where an smtp-sink equivalent listens (the\n"
		"                    backend mxgate relays to); every message is checked to arrive\n"
		"                    there exactly once\n"
		"  --sink-local A/L  the sink's address (required with --sink-dev)\n"
		"  --sink-port P     the sink's port (default 25)\n"
		"  --sink-xclient B  yes (default, as smtp-sink) or no: offer XCLIENT\n"
		"  --sink-forget N   tests: the sink leaves every Nth arrival uncounted, so the\n"
		"                    delivery check must report it missing (default 0: off)\n"
		"EAL: one worker lcore is used, e.g. --lcores 0@0,1@0 --vdev net_memif0,role=client,...\n"
		"Output: a progress line per second on stderr, one summary line on stdout.\n",
		prog, MAX_SIZE);
	fputc('\n', f);
	smtp_kernel_usage(f, prog);
}


/* An address of either family into a; returns its family or 0. */
static uint8_t parse_addr(const char *s, struct net_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a->a) == 1)
		return NET_AF_INET;
	if (inet_pton(AF_INET6, s, a->a) == 1)
		return NET_AF_INET6;
	return 0;
}

/* ADDRESS/LEN into a; returns LEN, the family into *fam. */
static uint8_t parse_prefix(const char *v, const char *name, struct net_addr *a, uint8_t *fam)
{
	char buf[64], *slash;

	if (strlen(v) >= sizeof(buf) || (slash = strchr(strcpy(buf, v), '/')) == NULL) {
		fprintf(stderr, "%s: %s: expected ADDRESS/LEN, got '%s'\n", prog, name, v);
		exit(2);
	}
	*slash = '\0';
	*fam = parse_addr(buf, a);
	if (*fam == 0) {
		fprintf(stderr, "%s: %s: '%s' is not an address\n", prog, name, buf);
		exit(2);
	}
	return (uint8_t)opt_num(prog, name, slash + 1, 1, *fam == NET_AF_INET ? 32 : 128);
}

/* Fill opts from the arguments after the EAL's; exits 2 on anything wrong. */
static void parse_args(int argc, char **argv, struct opts *o)
{
	int i, have_local = 0, have_remote = 0, have_port = 0, have_conc = 0, have_conns = 0;
	int have_size = 0, have_tls = 0, have_sink_local = 0, have_duration = 0;
	unsigned m;
	uint8_t rfam = 0;

	memset(o, 0, sizeof(*o));
	o->concurrency = 64;
	o->size = 64;
	o->conns = 4;
	o->pool_size = 65535;
	o->max_conns = 131072;
	o->timewait_ms = 1000;
	o->timeout_ms = 10000;
	o->sni = "mx.bench.example";
	o->sink_port = 25;
	o->sink_xclient = 1;
	if (argc < 2) {
		usage(stderr);
		exit(2);
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		exit(0);
	}
	for (m = 0; m < RTE_DIM(modes); m++)
		if (!strcmp(argv[1], modes[m]->name))
			o->mode = modes[m];
	if (o->mode == NULL) {
		fprintf(stderr, "%s: unknown mode '%s'\n", prog, argv[1]);
		usage(stderr);
		exit(2);
	}
	for (i = 2; i < argc; i += 2) {
		const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (v == NULL) {
			fprintf(stderr, "%s: option %s needs a value\n", prog, k);
			exit(2);
		}
		if (!strcmp(k, "--dev")) {
			if (strlen(v) >= sizeof(o->dev)) {
				fprintf(stderr, "%s: --dev: name too long\n", prog);
				exit(2);
			}
			strcpy(o->dev, v);
		} else if (!strcmp(k, "--local")) {
			o->plen = parse_prefix(v, "--local", &o->local, &o->family);
			have_local = 1;
		} else if (!strcmp(k, "--sink-local")) {
			o->sink_plen = parse_prefix(v, "--sink-local", &o->sink_local, &o->sink_family);
			have_sink_local = 1;
		} else if (!strcmp(k, "--sink-dev")) {
			if (strlen(v) >= sizeof(o->sink_dev)) {
				fprintf(stderr, "%s: --sink-dev: name too long\n", prog);
				exit(2);
			}
			strcpy(o->sink_dev, v);
		} else if (!strcmp(k, "--sink-port")) {
			o->sink_port = (uint16_t)opt_num(prog, k, v, 1, 65535);
		} else if (!strcmp(k, "--sink-xclient")) {
			if (strcmp(v, "yes") && strcmp(v, "no")) {
				fprintf(stderr, "%s: --sink-xclient: yes or no, not '%s'\n", prog, v);
				exit(2);
			}
			o->sink_xclient = !strcmp(v, "yes");
		} else if (!strcmp(k, "--sink-forget")) {
			o->sink_forget = (unsigned)opt_num(prog, k, v, 0, 1000000);
		} else if (!strcmp(k, "--tls")) {
			if (!strcmp(v, "plain"))
				o->tls = GEN_TLS_PLAIN;
			else if (!strcmp(v, "starttls"))
				o->tls = GEN_TLS_STARTTLS;
			else if (!strcmp(v, "implicit"))
				o->tls = GEN_TLS_IMPLICIT;
			else {
				fprintf(stderr, "%s: --tls: plain, starttls or implicit, not '%s'\n", prog, v);
				exit(2);
			}
			have_tls = 1;
		} else if (!strcmp(k, "--timeout-ms")) {
			o->timeout_ms = (unsigned)opt_num(prog, k, v, 100, 600000);
		} else if (!strcmp(k, "--sni")) {
			o->sni = v;
		} else if (!strcmp(k, "--rate")) {
			o->rate = pace_rate_opt(prog, v);
		} else if (!strcmp(k, "--remote")) {
			rfam = parse_addr(v, &o->remote);
			if (rfam == 0) {
				fprintf(stderr, "%s: --remote: '%s' is not an address\n", prog, v);
				exit(2);
			}
			have_remote = 1;
		} else if (!strcmp(k, "--port")) {
			o->port = (uint16_t)opt_num(prog, k, v, 1, 65535);
			have_port = 1;
		} else if (!strcmp(k, "--duration")) {
			char *end;

			errno = 0;
			o->duration = strtod(v, &end);
			if (errno || end == v || *end != '\0' || !(o->duration > 0) ||
			    o->duration > 86400) {
				fprintf(stderr, "%s: --duration: '%s' is not seconds in (0, 86400]\n",
					prog, v);
				exit(2);
			}
			have_duration = 1;
		} else if (!strcmp(k, "--concurrency")) {
			o->concurrency = (unsigned)opt_num(prog, k, v, 1, MAX_CONCURRENCY);
			have_conc = 1;
		} else if (!strcmp(k, "--size")) {
			o->size = (unsigned)opt_num(prog, k, v, 1, MAX_SIZE);
			have_size = 1;
		} else if (!strcmp(k, "--conns")) {
			o->conns = (unsigned)opt_num(prog, k, v, 1, MAX_BULK_CONNS);
			have_conns = 1;
		} else if (!strcmp(k, "--count") || !strcmp(k, "--sessions")) {
			o->count = opt_num(prog, k, v, 1, UINT64_MAX / 2);
		} else if (!strcmp(k, "--pool")) {
			o->pool_size = (unsigned)opt_num(prog, k, v, 1023, 16777215);
		} else if (!strcmp(k, "--max-conns")) {
			o->max_conns = (unsigned)opt_num(prog, k, v, 16, 4194304);
		} else if (!strcmp(k, "--timewait-ms")) {
			o->timewait_ms = (unsigned)opt_num(prog, k, v, 0, 600000);
		} else if (!strcmp(k, "--hold-ports")) {
			o->hold_ports_s = (unsigned)opt_num(prog, k, v, 0, 3600);
		} else if (!strcmp(k, "--stats-file")) {
			o->stats_file = v;
		} else {
			fprintf(stderr, "%s: unknown option %s\n", prog, k);
			usage(stderr);
			exit(2);
		}
	}
	if (!have_duration && o->count && smtp_dpdk_is_mode(o->mode))
		o->duration = 600;        /* --sessions bounds the run; this caps it */
	if (!o->dev[0] || !have_local || !have_remote || !have_port || o->duration <= 0) {
		fprintf(stderr, "%s: --dev, --local, --remote, --port and --duration (or, for smtp, "
			"--sessions) are required\n", prog);
		exit(2);
	}
	if (smtp_dpdk_is_mode(o->mode)) {
		if (!have_conc)
			o->concurrency = 32;
		if (!have_size)
			o->size = 1024;
		if (!have_tls && o->port == 465)
			o->tls = GEN_TLS_IMPLICIT;
		else if (!have_tls)
			o->tls = GEN_TLS_STARTTLS;
	} else if (have_tls || o->sink_dev[0] || o->rate > 0) {
		fprintf(stderr, "%s: --tls, --rate and --sink-* are for the smtp modes\n", prog);
		exit(2);
	}
	if (o->sink_dev[0] && !have_sink_local) {
		fprintf(stderr, "%s: --sink-dev needs --sink-local\n", prog);
		exit(2);
	}
	if (o->sink_dev[0] && !strcmp(o->sink_dev, o->dev)) {
		fprintf(stderr, "%s: --sink-dev must be another port than --dev\n", prog);
		exit(2);
	}
	if (rfam != o->family) {
		fprintf(stderr, "%s: --local and --remote are of different address families\n", prog);
		exit(2);
	}
	if (o->mode->init == bulk_init && have_conc) {
		fprintf(stderr, "%s: tcp-bulk takes --conns, not --concurrency\n", prog);
		exit(2);
	}
	if (o->mode->init == crr_init && have_conns) {
		fprintf(stderr, "%s: tcp-crr takes --concurrency, not --conns\n", prog);
		exit(2);
	}
	if (o->max_conns < o->concurrency + 16) {
		fprintf(stderr, "%s: --max-conns must exceed --concurrency\n", prog);
		exit(2);
	}
}

static void on_signal(int sig)
{
	(void)sig;
	if (gen.quit < 2)
		gen.quit++;
}

/* Wait for the port's link (memif: the peer process connected). */
static int wait_link(uint16_t pid)
{
	struct rte_eth_link link;
	unsigned ms;

	for (ms = 0; ms < LINK_WAIT_MS; ms += 10) {
		memset(&link, 0, sizeof(link));
		if (rte_eth_link_get_nowait(pid, &link) == 0 && link.link_status)
			return 0;
		if (gen.quit)
			return -1;
		usleep(10000);
	}
	return -1;
}

/*
 * Keep the ports open until every peer has gone (link down), at most secs.
 * A memif peer that polls while we disconnect can crash in its RX burst
 * (DPDK 22.11 net_memif unmaps the shared regions in its control thread):
 * with --hold-ports the peer is stopped first, then we close.
 */
static void hold_ports(const struct port_info *pi, unsigned n, unsigned secs)
{
	unsigned ms, i, up;

	fprintf(stderr, "mxgen: holding the ports until the peer leaves (at most %u s)\n", secs);
	for (ms = 0; ms < secs * 1000u && !gen.quit; ms += 10) {
		for (i = 0, up = 0; i < n; i++) {
			struct rte_eth_link link;

			memset(&link, 0, sizeof(link));
			if (rte_eth_link_get_nowait(pi[i].port_id, &link) == 0 && link.link_status)
				up++;
		}
		if (up == 0)
			return;
		usleep(10000);
	}
}

/* Stack counters worth a look after a run, one line to stderr. */
static void print_stack(FILE *f, const struct net_ctx *ctx)
{
	const struct net_stats *s = &ctx->st;
	unsigned i;

	fprintf(f, "mxgen: stack: rx=%llu tx=%llu active_opens=%llu active_fails=%llu closed=%llu "
		   "resets_in=%llu resets_out=%llu retransmits=%llu rto=%llu tw_recycled=%llu "
		   "tcp_conns=%llu drops:",
		(unsigned long long)s->rx_packets, (unsigned long long)s->tx_packets,
		(unsigned long long)s->tcp_active_opens, (unsigned long long)s->tcp_active_fails,
		(unsigned long long)s->tcp_closed, (unsigned long long)s->tcp_resets_in,
		(unsigned long long)s->tcp_resets_out, (unsigned long long)s->tcp_retransmits,
		(unsigned long long)s->tcp_rto, (unsigned long long)s->tcp_timewait_recycled,
		(unsigned long long)s->tcp_conns);
	for (i = 0; i < NET_DROP__MAX; i++)
		if (s->drops[i])
			fprintf(f, " %s=%llu", net_drop_names[i], (unsigned long long)s->drops[i]);
	fputc('\n', f);
}

/* The stack's counters as Prometheus text (mxgen_*), written atomically. */
static int write_stats(const char *path, const struct net_ctx *ctx)
{
	const struct net_stats *s = &ctx->st;
	const struct { const char *name; uint64_t v; } f[] = {
		{ "rx_packets", s->rx_packets }, { "rx_bytes", s->rx_bytes },
		{ "tx_packets", s->tx_packets }, { "tx_bytes", s->tx_bytes },
		{ "arp_requests_sent", s->arp_requests_sent },
		{ "tcp_active_opens", s->tcp_active_opens }, { "tcp_active_fails", s->tcp_active_fails },
		{ "tcp_closed", s->tcp_closed }, { "tcp_resets_in", s->tcp_resets_in },
		{ "tcp_resets_out", s->tcp_resets_out }, { "tcp_retransmits", s->tcp_retransmits },
		{ "tcp_rto", s->tcp_rto }, { "tcp_fast_retransmits", s->tcp_fast_retransmits },
		{ "tcp_ooo_segments", s->tcp_ooo_segments }, { "tcp_dup_segments", s->tcp_dup_segments },
		{ "tcp_challenge_acks", s->tcp_challenge_acks },
		{ "tcp_timewait_recycled", s->tcp_timewait_recycled },
		{ "tcp_zero_window_probes", s->tcp_zero_window_probes },
		{ "busy_cycles", s->busy_cycles }, { "idle_cycles", s->idle_cycles },
	};
	char tmp[512];
	unsigned i;
	FILE *fp;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp) ||
	    (fp = fopen(tmp, "w")) == NULL)
		return -1;
	for (i = 0; i < RTE_DIM(f); i++)
		fprintf(fp, "mxgen_%s_total %llu\n", f[i].name, (unsigned long long)f[i].v);
	fprintf(fp, "mxgen_tcp_conns %llu\n", (unsigned long long)s->tcp_conns);
	for (i = 0; i < NET_DROP__MAX; i++)
		fprintf(fp, "mxgen_drops_total{reason=\"%s\"} %llu\n", net_drop_names[i],
			(unsigned long long)s->drops[i]);
	fprintf(fp, "mxgen_tsc_hz %llu\n", (unsigned long long)ctx->tsc_hz);
	if (fclose(fp) != 0 || rename(tmp, path) != 0) {
		remove(tmp);
		return -1;
	}
	return 0;
}

/* A port of the generator by hand: device, role, one address. */
static void port_cfg(struct cfg_port *cp, enum cfg_role role, const char *dev, uint8_t family,
		     const struct net_addr *a, uint8_t plen)
{
	memset(cp, 0, sizeof(*cp));
	cp->role = role;
	strcpy(cp->dev, dev);
	cp->mtu = 1500;
	if (family == NET_AF_INET) {
		cp->has_ip4 = 1;
		memcpy(&cp->ip4, a->a, 4);
		cp->ip4_plen = plen;
	} else {
		cp->has_ip6 = 1;
		memcpy(cp->ip6, a->a, 16);
		cp->ip6_prefix = plen;
	}
}

int main(int argc, char **argv)
{
	struct gen *g = &gen;
	struct mx_config mcfg;
	struct cfg_port cp[2];
	struct port_info pi[2];
	unsigned nports;
	struct tcp_params tp;
	struct rte_mempool *pool;
	struct net_ctx *ctx;
	struct rte_ring *ring;
	char err[512];
	unsigned lcore, i;
	uint64_t t_last, tsc_start;
	uint64_t busy_last = 0, idle_last = 0, sink_bad;
	int r, rc = 0;

	/* SMTP over kernel sockets: no EAL, no ports (tools/mxgen/smtp_kernel.c) */
	if (argc > 1 && smtp_kernel_is_mode(argv[1]))
		return smtp_kernel_main(argc - 1, argv + 1);
	r = rte_eal_init(argc, argv);
	if (r < 0) {
		fprintf(stderr, "mxgen: EAL initialisation failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	argc -= r;
	argv += r;
	parse_args(argc, argv, &opts);
	g->o = &opts;
	g->hz = rte_get_tsc_hz();

	lcore = rte_get_next_lcore((unsigned)-1, 1, 0);
	if (lcore >= RTE_MAX_LCORE) {
		fprintf(stderr, "mxgen: no worker lcore: give EAL two lcores (e.g. --lcores 0@0,1@0)\n");
		rte_eal_cleanup();
		return 1;
	}
	g->lcore = lcore;

	/* ports by hand: the client's interface, and the sink's if asked for */
	nports = opts.sink_dev[0] ? 2 : 1;
	port_cfg(&cp[0], CFG_ROLE_OUTSIDE, opts.dev, opts.family, &opts.local, opts.plen);
	if (nports == 2)
		port_cfg(&cp[1], CFG_ROLE_INSIDE, opts.sink_dev, opts.sink_family, &opts.sink_local,
			 opts.sink_plen);
	memset(&mcfg, 0, sizeof(mcfg));
	strcpy(mcfg.path, "mxgen");
	mcfg.rx_ring_size = 1024;
	mcfg.tx_ring_size = 1024;

	pool = rte_pktmbuf_pool_create("mxgen_pool", opts.pool_size, 256, 0,
				       RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (pool == NULL) {
		fprintf(stderr, "mxgen: cannot create the mbuf pool of %u: %s (lower --pool or give "
			"EAL more memory with -m)\n", opts.pool_size, rte_strerror(rte_errno));
		rte_eal_cleanup();
		return 1;
	}
	for (i = 0; i < nports; i++) {
		if (port_setup(&cp[i], 1, &mcfg, pool, &pi[i], err, sizeof(err)) != 0) {
			fprintf(stderr, "mxgen: %s\n", err);
			while (i-- > 0)
				port_close(pi[i].port_id);
			rte_mempool_free(pool);
			rte_eal_cleanup();
			return 1;
		}
	}

	memset(&tp, 0, sizeof(tp));
	tp.max_conns = opts.max_conns;
	tp.syn_backlog = 1024;
	tp.reasm_limit = 262144;
	tp.reasm_total = 67108864;
	tp.rcvbuf = 262144;
	tp.sndbuf = 262144;
	tp.timewait_max = opts.max_conns / 2;   /* < max_conns: TIME_WAIT never fills the table */
	tp.timewait_ms = opts.timewait_ms;
	/* SMTP is request/response, as mxgate's own set-up: ACK at once (Linux's quick-ACK
	   mode) rather than let a Nagle-held segment of the peer wait for a delayed ACK */
	if (smtp_dpdk_is_mode(opts.mode))
		tp.quickacks = 16;
	if (getrandom(tp.secret, sizeof(tp.secret), 0) != sizeof(tp.secret)) {
		fprintf(stderr, "mxgen: getrandom: %s\n", strerror(errno));
		return 1;
	}
	ctx = net_ctx_create(0, 1, pool, port_xmit);
	ring = rte_ring_create("mxgen_steer0", 1024, (int)rte_socket_id(), RING_F_SC_DEQ);
	if (ctx == NULL || ring == NULL) {
		fprintf(stderr, "mxgen: out of memory for the stack\n");
		return 1;
	}
	ctx->lcore_id = lcore;
	ctx->nifs = nports;
	ctx->steer[0] = ring;
	for (i = 0; i < nports; i++)
		port_if_fill(&ctx->ifs[i], &cp[i], &pi[i], i, 0);
	ctx->now_us = 0;
	if (tcp_ctx_init(ctx, &tp) != 0) {
		fprintf(stderr, "mxgen: out of memory for %u TCP connections (lower --max-conns or "
			"raise EAL -m)\n", tp.max_conns);
		return 1;
	}
	g->ctx = ctx;
	g->pat = make_pattern(opts.size > BULK_CHUNK ? opts.size : BULK_CHUNK);
	if (g->pat == NULL || opts.mode->init(g) != 0) {
		fprintf(stderr, "mxgen: out of memory\n");
		return 1;
	}
	if (nports == 2 && smtp_sink_start(g) != 0) {
		fprintf(stderr, "mxgen: cannot start the sink on port %u\n", opts.sink_port);
		return 1;
	}

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGALRM, mxgen_watchdog);
	alarm((unsigned)(WARMUP_US / 1000000 + opts.duration + DRAIN_US / 1000000 +
			 opts.timewait_ms / 1000 + LINK_WAIT_MS / 1000 + WATCHDOG_SLACK_S + 1));

	for (i = 0; i < nports; i++) {
		if (wait_link(pi[i].port_id) != 0) {
			fprintf(stderr, "mxgen: %s: link not up within %u ms (is the peer running? "
				"memif: the server side must start first)\n", cp[i].dev, LINK_WAIT_MS);
			rc = 1;
			goto out;
		}
	}
	{
		char ra[INET6_ADDRSTRLEN] = "?";

		inet_ntop(opts.family == NET_AF_INET ? AF_INET : AF_INET6, opts.remote.a, ra,
			  sizeof(ra));
		fprintf(stderr, "mxgen: %s on %s (worker lcore %u) to %s port %u for %.1f s\n",
			opts.mode->name, opts.dev, lcore, ra, opts.port, opts.duration);
	}
	g->phase = PH_WARMUP;
	if (rte_eal_remote_launch(worker_main, g, lcore) != 0) {
		fprintf(stderr, "mxgen: cannot launch the worker on lcore %u\n", lcore);
		rc = 1;
		goto out;
	}

	tsc_start = t_last = rte_rdtsc();
	while (g->phase != PH_DONE) {
		uint64_t now = rte_rdtsc();
		double dt = (double)(now - t_last) / (double)g->hz;

		usleep(20000);
		if (dt >= 1.0) {
			uint64_t busy = ctx->st.busy_cycles, idle = ctx->st.idle_cycles;
			uint64_t db = busy - busy_last, di = idle - idle_last;

			fprintf(stderr, "mxgen: %5.1fs %-6s", (double)(now - tsc_start) / (double)g->hz,
				phase_names[g->phase]);
			opts.mode->progress(g, stderr, dt);
			smtp_sink_progress(g, stderr);
			fprintf(stderr, " errors=%llu tcp_conns=%u busy=%.0f%%\n",
				(unsigned long long)gen_errors(g), (unsigned)ctx->st.tcp_conns,
				db + di ? 100.0 * (double)db / (double)(db + di) : 0.0);
			busy_last = busy;
			idle_last = idle;
			t_last = now;
		}
		if (g->quit > 1)
			g->force = 1;
	}
	rte_eal_wait_lcore(lcore);
	alarm(0);

	if (g->fatal != NULL) {
		fprintf(stderr, "mxgen: %s\n", g->fatal);
		rc = 1;
	}
	opts.mode->summary(g, stdout);
	for (i = 0; i < ERR__MAX; i++)
		printf(" %s=%llu", err_names[i], (unsigned long long)g->errors[i]);
	printf(" window_s=%.3f busy_cycles=%llu idle_cycles=%llu tsc_hz=%llu left_conns=%u",
	       (double)(g->window_end_us - g->window_start_us) / 1e6,
	       (unsigned long long)(g->busy1 - g->busy0), (unsigned long long)(g->idle1 - g->idle0),
	       (unsigned long long)g->hz, tcp_conn_count(ctx));
	sink_bad = smtp_sink_summary(g, stdout);
	putchar('\n');
	fflush(stdout);
	print_stack(stderr, ctx);
	if (tcp_conn_count(ctx) != 0)
		fprintf(stderr, "mxgen: note: %u connections still in the table after the linger "
			"time\n", tcp_conn_count(ctx));
	if (opts.stats_file != NULL && write_stats(opts.stats_file, ctx) != 0)
		fprintf(stderr, "mxgen: cannot write %s\n", opts.stats_file);
	if (opts.hold_ports_s > 0)
		hold_ports(pi, nports, opts.hold_ports_s);
	if (rc == 0 && (gen_errors(g) > 0 || sink_bad > 0))
		rc = 3;
out:
	for (i = 0; i < nports; i++)
		port_close(pi[i].port_id);
	opts.mode->fini(g);
	smtp_sink_free(g);
	free(g->pat);
	net_ctx_free(ctx);
	rte_ring_free(ring);
	rte_mempool_free(pool);
	rte_eal_cleanup();
	return rc;
}
