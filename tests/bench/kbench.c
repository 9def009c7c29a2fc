/*
 * kbench.c - the Linux-kernel side of the mxgate TCP benchmark. It runs
 * the same traffic patterns as the dataplane benchmark (an echo server,
 * connect/request/response, bulk echo streams) over ordinary kernel
 * sockets with one pinned thread per side, so that the userspace stack
 * can be compared with the kernel on the same pattern and core count.
 *
 *   kbench server --addr A --port P --cpu C --duration S
 *   kbench crr    --addr A --port P --cpu C --duration S --concurrency N [--size B]
 *   kbench bulk   --addr A --port P --cpu C --duration S --conns N
 *
 * server: level-triggered epoll; echoes every byte back (a partial write
 *         parks the rest in a per-connection buffer and reading pauses
 *         until EPOLLOUT drains it), closes when the peer closes, exits after
 *         S seconds or on SIGTERM/SIGINT and prints
 *         "server: conns=N bytes=N busy_cpu_s=X".
 * crr:    keeps N connections in flight; each connects, sends B bytes,
 *         reads them back (verified), closes (client first) and is
 *         replaced. After S seconds it stops opening, lets in-flight ones
 *         finish for at most 2 s and prints
 *         "crr: conns=N conns_per_s=X errors=N p50_us=X p99_us=X cpu_s=X"
 *         (error classes go to stderr). conns counts every completed
 *         exchange, conns_per_s only those completed within the S seconds.
 *         Towards a 127/8 address the source address rotates over
 *         127.0.0.2..127.0.0.250 (IP_BIND_ADDRESS_NO_PORT) so TIME_WAIT
 *         does not exhaust the ephemeral ports.
 * bulk:   N connections each stream a pattern in 64 KiB writes and verify
 *         the echo; prints "bulk: gbit_s=X bytes=N cpu_s=X" where bytes
 *         and gbit_s count echoed bytes received within the S seconds.
 *
 * All sockets use TCP_NODELAY. CPU seconds are getrusage(RUSAGE_THREAD)
 * user+sys of the single working thread. Setup failures print a message
 * and exit 1; a crr run with errors prints its line and exits 3; an
 * alarm()-based watchdog exits 4 if a run overruns its hard cap.
 *
 * Build: gcc -std=gnu11 -O2 -Wall -Wextra -Werror -o build/kbench \
 *            tests/bench/kbench.c -lpthread
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "tools/common/hist.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define NSEC_PER_SEC      1000000000ULL
#define IO_CHUNK          (64 * 1024)          /* bulk write / read size, server read size */
#define PAT_PERIOD        251u                 /* prime, so the pattern never aligns with buffers */
#define MAX_SIZE          (1024 * 1024)        /* largest crr request */
#define MAX_CONCURRENCY   65536
#define MAX_BULK_CONNS    4096
#define MAX_DURATION_S    86400.0
#define CRR_DRAIN_NS      (2 * NSEC_PER_SEC)   /* in-flight grace after the duration */
#define CRR_OP_TIMEOUT_NS (3 * NSEC_PER_SEC)   /* one exchange longer than this is a timeout */
#define CONNECT_TIMEOUT_NS (3 * NSEC_PER_SEC)  /* bulk connection setup */
#define WATCHDOG_SLACK_S  5                    /* hard cap = duration + drain + this */
#define SRC_FIRST         2                    /* 127.0.0.2 */
#define SRC_LAST          250                  /* 127.0.0.250 */
#define SERVER_READS_PER_EVENT 16
#define ACCEPTS_PER_EVENT 1024
#define MAX_EVENTS        1024

/* Latency histogram: log2 buckets split into 2^HIST_SUB_BITS linear sub-buckets (ns). */

enum mode { MODE_NONE, MODE_SERVER, MODE_CRR, MODE_BULK };

struct opts {
	enum mode mode;
	struct in_addr addr;
	int port;
	int cpu;
	double duration;
	int concurrency;
	int size;
	int conns;
};

static volatile sig_atomic_t g_stop;
static const char *g_prog = "kbench";

/* Print a formatted fatal error (with errno text if errnum != 0) and exit 1. */
static void __attribute__((noreturn, format(printf, 2, 3)))
die(int errnum, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: error: ", g_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (errnum)
		fprintf(stderr, ": %s", strerror(errnum));
	fputc('\n', stderr);
	exit(1);
}

/* Monotonic clock in nanoseconds. */
static uint64_t now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		die(errno, "clock_gettime");
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* User+system CPU seconds consumed by the calling thread. */
static double thread_cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru) != 0)
		die(errno, "getrusage(RUSAGE_THREAD)");
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* SIGTERM/SIGINT handler: ask the main loop to stop. */
static void on_stop_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

/* SIGALRM handler: the hard cap was exceeded, leave immediately. */
static void on_watchdog(int sig)
{
	static const char msg[] = "kbench: error: watchdog: run exceeded its hard time cap\n";
	ssize_t r;

	(void)sig;
	r = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)r;
	_exit(4);
}

/* Install the stop/watchdog handlers, ignore SIGPIPE and arm the hard cap. */
static void setup_signals(unsigned cap_s)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop_signal;          /* no SA_RESTART: epoll_wait returns EINTR */
	if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
		die(errno, "sigaction(SIGTERM/SIGINT)");
	sa.sa_handler = on_watchdog;
	if (sigaction(SIGALRM, &sa, NULL) != 0)
		die(errno, "sigaction(SIGALRM)");
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) != 0)
		die(errno, "sigaction(SIGPIPE)");
	alarm(cap_s);
}

/* Pin the calling thread to one CPU. */
static void pin_cpu(int cpu)
{
	cpu_set_t set;

	if (cpu < 0 || cpu >= CPU_SETSIZE)
		die(0, "--cpu %d out of range", cpu);
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		die(errno, "sched_setaffinity(cpu %d)", cpu);
}

/* Raise the open-file soft limit to the hard limit and check it covers need. */
static void raise_nofile(long need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		die(errno, "getrlimit(RLIMIT_NOFILE)");
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			die(errno, "setrlimit(RLIMIT_NOFILE)");
	}
	if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)need > rl.rlim_cur)
		die(0, "need %ld file descriptors but RLIMIT_NOFILE is %llu",
		    need, (unsigned long long)rl.rlim_cur);
}

/* Create the epoll instance or die. */
static int make_epoll(void)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0)
		die(errno, "epoll_create1");
	return ep;
}

/* epoll_ctl wrapper that dies on failure. */
static void ep_ctl(int ep, int op, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.u64 = data;
	if (epoll_ctl(ep, op, fd, &ev) != 0)
		die(errno, "epoll_ctl(op %d, fd %d)", op, fd);
}

/* Wait for events, at most timeout_ns; returns 0 on EINTR. */
static int ep_wait(int ep, struct epoll_event *evs, int max, uint64_t timeout_ns)
{
	int ms = (int)((timeout_ns + 999999) / 1000000);
	int n;

	if (ms > 100)
		ms = 100;
	n = epoll_wait(ep, evs, max, ms);
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		die(errno, "epoll_wait");
	}
	return n;
}

/* Set TCP_NODELAY on a socket or die. */
static void set_nodelay(int fd)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
		die(errno, "setsockopt(TCP_NODELAY)");
}

/* Fill the shared pattern buffer: pat[i] depends only on i % PAT_PERIOD. */
static uint8_t *make_pattern(size_t span)
{
	size_t len = PAT_PERIOD + span, i;
	uint8_t *pat = malloc(len);

	if (!pat)
		die(0, "out of memory for the %zu-byte pattern", len);
	for (i = 0; i < len; i++)
		pat[i] = (uint8_t)((i % PAT_PERIOD) * 97u + 13u);
	return pat;
}

/* ------------------------------------------------------------------ */
/* Latency histogram                                                    */
/* ------------------------------------------------------------------ */

/* struct hist and hist_add/hist_quantile: tools/common/hist.h */

/* Smallest integer >= x for x >= 0 (no libm in the build line). */
static uint64_t ceil_u64(double x)
{
	uint64_t v = (uint64_t)x;

	return (double)v < x ? v + 1 : v;
}

/* ------------------------------------------------------------------ */
/* server                                                               */
/* ------------------------------------------------------------------ */

struct sconn {
	int fd;
	uint32_t events;         /* currently registered epoll events */
	uint8_t *pend;           /* unsent echo bytes (IO_CHUNK, allocated lazily) */
	size_t pend_off, pend_len;
	struct sconn *prev, *next;
};

struct server {
	int ep, lfd;
	struct sconn *live;      /* every open connection, for cleanup at exit */
	uint64_t conns, bytes, resets;
	uint8_t rbuf[IO_CHUNK];
};

/* Create the listening socket: non-blocking, SO_REUSEADDR, backlog 4096. */
static int server_listen(const struct opts *o)
{
	struct sockaddr_in sa;
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die(errno, "socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
		die(errno, "setsockopt(SO_REUSEADDR)");
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr = o->addr;
	sa.sin_port = htons((uint16_t)o->port);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		die(errno, "bind %s:%d", inet_ntoa(o->addr), o->port);
	if (listen(fd, 4096) != 0)
		die(errno, "listen");
	return fd;
}

/* Close and free one server connection. */
static void sconn_close(struct server *s, struct sconn *c)
{
	close(c->fd);            /* also removes it from the epoll set */
	if (c->prev)
		c->prev->next = c->next;
	else
		s->live = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c->pend);
	free(c);
}

/* Change a connection's registered events if they differ. */
static void sconn_want(struct server *s, struct sconn *c, uint32_t events)
{
	if (c->events == events)
		return;
	ep_ctl(s->ep, EPOLL_CTL_MOD, c->fd, events, (uint64_t)(uintptr_t)c);
	c->events = events;
}

/* Accept every pending connection (bounded per call). */
static void server_accept(struct server *s)
{
	int i;

	for (i = 0; i < ACCEPTS_PER_EVENT; i++) {
		struct sconn *c;
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO ||
			    errno == EPERM)
				continue;
			die(errno, "server: accept4");
		}
		set_nodelay(fd);
		c = calloc(1, sizeof(*c));
		if (!c)
			die(0, "server: out of memory for a connection");
		c->fd = fd;
		c->events = EPOLLIN;
		c->next = s->live;
		if (s->live)
			s->live->prev = c;
		s->live = c;
		ep_ctl(s->ep, EPOLL_CTL_ADD, fd, EPOLLIN, (uint64_t)(uintptr_t)c);
		s->conns++;
	}
}

/* Send what is pending; returns 0 when drained, 1 when blocked, -1 on error. */
static int sconn_flush(struct server *s, struct sconn *c)
{
	while (c->pend_len > 0) {
		ssize_t w = send(c->fd, c->pend + c->pend_off, c->pend_len, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 1;
			s->resets++;
			return -1;
		}
		s->bytes += (uint64_t)w;
		c->pend_off += (size_t)w;
		c->pend_len -= (size_t)w;
	}
	c->pend_off = 0;
	return 0;
}

/* Echo n freshly read bytes; the unsent rest goes to the pending buffer. */
static int sconn_echo(struct server *s, struct sconn *c, const uint8_t *p, size_t n)
{
	if (!c->pend) {
		c->pend = malloc(IO_CHUNK);
		if (!c->pend)
			die(0, "server: out of memory for a pending buffer");
	}
	memcpy(c->pend, p, n);       /* n <= IO_CHUNK and pending is empty here */
	c->pend_off = 0;
	c->pend_len = n;
	return sconn_flush(s, c);
}

/* Handle readiness on one connection: flush pending, read, echo, detect close. */
static void server_conn_event(struct server *s, struct sconn *c, uint32_t rev)
{
	int i, r;

	if (rev & EPOLLERR) {
		s->resets++;
		sconn_close(s, c);
		return;
	}
	if (c->pend_len > 0) {
		r = sconn_flush(s, c);
		if (r < 0) {
			sconn_close(s, c);
			return;
		}
		if (r > 0)
			return;      /* still blocked; EPOLLOUT stays armed */
		sconn_want(s, c, EPOLLIN);
	}
	for (i = 0; i < SERVER_READS_PER_EVENT; i++) {
		ssize_t n = recv(c->fd, s->rbuf, sizeof(s->rbuf), 0);

		if (n > 0) {
			r = sconn_echo(s, c, s->rbuf, (size_t)n);
			if (r < 0) {
				sconn_close(s, c);
				return;
			}
			if (r > 0) {             /* back-pressure: stop reading until flushed */
				sconn_want(s, c, EPOLLOUT);
				return;
			}
			continue;
		}
		if (n == 0) {                    /* peer closed its side */
			sconn_close(s, c);
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			break;
		s->resets++;
		sconn_close(s, c);
		return;
	}
	if ((rev & EPOLLHUP) && c->pend_len == 0) {
		sconn_close(s, c);
		return;
	}
}

/* Run the echo server until the duration ends or a stop signal arrives. */
static int run_server(const struct opts *o)
{
	static struct server s;
	struct epoll_event evs[MAX_EVENTS];
	uint64_t start, deadline, now;

	raise_nofile(1024);
	pin_cpu(o->cpu);
	s.ep = make_epoll();
	s.lfd = server_listen(o);
	ep_ctl(s.ep, EPOLL_CTL_ADD, s.lfd, EPOLLIN, 0);

	start = now_ns();
	deadline = start + (uint64_t)(o->duration * (double)NSEC_PER_SEC);
	while (!g_stop && (now = now_ns()) < deadline) {
		int n = ep_wait(s.ep, evs, MAX_EVENTS, deadline - now), i;

		for (i = 0; i < n; i++) {
			if (evs[i].data.u64 == 0)
				server_accept(&s);
			else
				server_conn_event(&s, (struct sconn *)(uintptr_t)evs[i].data.u64,
						  evs[i].events);
		}
	}
	while (s.live)
		sconn_close(&s, s.live);
	close(s.lfd);
	close(s.ep);
	if (s.resets)
		fprintf(stderr, "server: note: %llu connections ended by reset/error (normal after bulk, whose client closes with echo data unread)\n",
			(unsigned long long)s.resets);
	printf("server: conns=%llu bytes=%llu busy_cpu_s=%.3f\n",
	       (unsigned long long)s.conns, (unsigned long long)s.bytes, thread_cpu_s());
	fflush(stdout);
	return 0;
}

/* ------------------------------------------------------------------ */
/* crr                                                                  */
/* ------------------------------------------------------------------ */

enum slot_state { SLOT_FREE, SLOT_CONNECTING, SLOT_OPEN };
enum err_class { ERR_CONNECT, ERR_RESET, ERR_TIMEOUT, ERR_MISMATCH, ERR_CLASSES };
static const char *const err_names[ERR_CLASSES] = { "connect", "reset", "timeout", "mismatch" };

struct slot {
	int fd;
	unsigned idx;            /* position in crr.slots, also the epoll cookie */
	enum slot_state state;
	uint64_t t0;             /* connect start */
	uint32_t pat_off;        /* this exchange's offset into the pattern */
	uint32_t sent, recvd;
};

struct crr {
	const struct opts *o;
	int ep;
	int rotate_src;          /* bind a rotating 127.0.0.x source before connect */
	unsigned src_next;
	uint64_t seq;
	struct slot *slots;
	unsigned *free_idx;      /* stack of free slot indexes */
	unsigned nfree;
	unsigned *batch;         /* free slots being refilled in this pass */
	int active;
	uint8_t *pat;
	uint8_t *rbuf;
	size_t rbuf_len;
	uint64_t done_total, done_in_window, errors[ERR_CLASSES];
	struct hist h;
};

/* Close a slot's socket and put the slot back on the free stack. */
static void crr_release(struct crr *k, struct slot *sl)
{
	close(sl->fd);           /* also removes it from the epoll set */
	sl->fd = -1;
	sl->state = SLOT_FREE;
	k->free_idx[k->nfree++] = sl->idx;
	k->active--;
}

/* Count one error of a class and release the slot. */
static void crr_fail(struct crr *k, struct slot *sl, enum err_class cls)
{
	k->errors[cls]++;
	crr_release(k, sl);
}

/* Map a socket errno to an error class. */
static enum err_class crr_classify(int err, int connecting)
{
	if (err == ETIMEDOUT)
		return ERR_TIMEOUT;
	if (connecting)
		return ERR_CONNECT;
	return ERR_RESET;
}

/* Push the unsent part of the request; returns -1 if the slot failed. */
static int crr_send(struct crr *k, struct slot *sl)
{
	size_t size = (size_t)k->o->size;

	while (sl->sent < size) {
		ssize_t w = send(sl->fd, k->pat + sl->pat_off + sl->sent, size - sl->sent,
				 MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;        /* EPOLLOUT edge will resume */
			crr_fail(k, sl, crr_classify(errno, 0));
			return -1;
		}
		sl->sent += (uint32_t)w;
	}
	return 0;
}

/* Read and verify echoed bytes; completes the exchange when all are back. */
static void crr_recv(struct crr *k, struct slot *sl, uint64_t window_end)
{
	size_t size = (size_t)k->o->size;

	for (;;) {
		ssize_t n = recv(sl->fd, k->rbuf, k->rbuf_len, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			crr_fail(k, sl, crr_classify(errno, 0));
			return;
		}
		if (n == 0) {                    /* server closed before the full echo */
			crr_fail(k, sl, ERR_RESET);
			return;
		}
		if (sl->recvd + (size_t)n > sl->sent ||
		    memcmp(k->rbuf, k->pat + sl->pat_off + sl->recvd, (size_t)n) != 0) {
			crr_fail(k, sl, ERR_MISMATCH);
			return;
		}
		sl->recvd += (uint32_t)n;
		if (sl->recvd == size) {
			uint64_t t = now_ns();

			hist_add(&k->h, t - sl->t0);
			k->done_total++;
			if (t <= window_end)
				k->done_in_window++;
			crr_release(k, sl);      /* client closes first */
			return;
		}
	}
}

/* Open a new connection in a free slot (connect errors are counted). */
static void crr_start(struct crr *k, struct slot *sl)
{
	struct sockaddr_in dst;
	int fd;

	sl->t0 = now_ns();
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die(errno, "crr: socket");
	set_nodelay(fd);
	if (k->rotate_src) {
		struct sockaddr_in src;
		int one = 1;

		if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) != 0)
			die(errno, "crr: setsockopt(IP_BIND_ADDRESS_NO_PORT)");
		memset(&src, 0, sizeof(src));
		src.sin_family = AF_INET;
		src.sin_addr.s_addr = htonl((127u << 24) | (SRC_FIRST + k->src_next));
		k->src_next = (k->src_next + 1) % (SRC_LAST - SRC_FIRST + 1);
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0)
			die(errno, "crr: bind source %s", inet_ntoa(src.sin_addr));
	}
	sl->fd = fd;
	sl->sent = sl->recvd = 0;
	sl->pat_off = (uint32_t)(k->seq++ % PAT_PERIOD);
	k->active++;
	/* Edge-triggered for both directions: no EPOLL_CTL_MOD per exchange. */
	ep_ctl(k->ep, EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, sl->idx);

	memset(&dst, 0, sizeof(dst));
	dst.sin_family = AF_INET;
	dst.sin_addr = k->o->addr;
	dst.sin_port = htons((uint16_t)k->o->port);
	if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) == 0) {
		sl->state = SLOT_OPEN;
		crr_send(k, sl);
		return;
	}
	if (errno == EINPROGRESS) {
		sl->state = SLOT_CONNECTING;
		return;
	}
	sl->state = SLOT_CONNECTING;
	crr_fail(k, sl, crr_classify(errno, 1));
}

/* Handle readiness on one crr slot. */
static void crr_event(struct crr *k, struct slot *sl, uint32_t rev, uint64_t window_end)
{
	if (sl->state == SLOT_FREE)
		return;                          /* stale event for a closed fd */
	if (sl->state == SLOT_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (!(rev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (getsockopt(sl->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
			die(errno, "crr: getsockopt(SO_ERROR)");
		if (err) {
			crr_fail(k, sl, crr_classify(err, 1));
			return;
		}
		sl->state = SLOT_OPEN;
	}
	if (sl->sent < (uint32_t)k->o->size && crr_send(k, sl) < 0)
		return;
	if (rev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		crr_recv(k, sl, window_end);
}

/* Fail every exchange older than the per-exchange timeout. */
static void crr_reap(struct crr *k, uint64_t now, uint64_t limit_ns)
{
	int i;

	for (i = 0; i < k->o->concurrency; i++) {
		struct slot *sl = &k->slots[i];

		if (sl->state != SLOT_FREE && now - sl->t0 > limit_ns)
			crr_fail(k, sl, ERR_TIMEOUT);
	}
}

/* Run the connect/request/response client and print its summary line. */
static int run_crr(const struct opts *o)
{
	static struct crr k;
	struct epoll_event evs[MAX_EVENTS];
	uint64_t start, window_end, hard_end, now, next_reap, errs = 0;
	int i;

	raise_nofile((long)o->concurrency + 64);
	pin_cpu(o->cpu);
	k.o = o;
	k.ep = make_epoll();
	k.rotate_src = (ntohl(o->addr.s_addr) >> 24) == 127;
	if (!k.rotate_src)
		fprintf(stderr, "crr: note: %s is not loopback; not rotating source addresses\n",
			inet_ntoa(o->addr));
	k.slots = calloc((size_t)o->concurrency, sizeof(*k.slots));
	k.free_idx = calloc((size_t)o->concurrency, sizeof(*k.free_idx));
	k.batch = calloc((size_t)o->concurrency, sizeof(*k.batch));
	k.rbuf_len = (size_t)o->size + 1 > IO_CHUNK ? (size_t)o->size + 1 : IO_CHUNK;
	k.rbuf = malloc(k.rbuf_len);
	if (!k.slots || !k.free_idx || !k.batch || !k.rbuf)
		die(0, "crr: out of memory");
	k.pat = make_pattern((size_t)o->size);
	for (i = o->concurrency - 1; i >= 0; i--) {
		k.slots[i].fd = -1;
		k.slots[i].idx = (unsigned)i;
		k.free_idx[k.nfree++] = (unsigned)i;
	}

	start = now_ns();
	window_end = start + (uint64_t)(o->duration * (double)NSEC_PER_SEC);
	hard_end = window_end + CRR_DRAIN_NS;
	next_reap = start + NSEC_PER_SEC / 20;
	for (;;) {
		int running, n;

		now = now_ns();
		running = !g_stop && now < window_end;
		if (!running && (k.active == 0 || now >= hard_end))
			break;                   /* a stop signal also gets the drain grace */
		if (running) {
			/* Refill each free slot once; failures wait for the next pass. */
			unsigned nstart = k.nfree, j;

			memcpy(k.batch, k.free_idx, nstart * sizeof(*k.batch));
			k.nfree = 0;
			for (j = 0; j < nstart; j++)
				crr_start(&k, &k.slots[k.batch[j]]);
			if (k.done_total == 0 && k.errors[ERR_CONNECT] >= 1000)
				die(0, "crr: %llu connects to %s:%d failed and none succeeded",
				    (unsigned long long)k.errors[ERR_CONNECT],
				    inet_ntoa(o->addr), o->port);
		}
		n = ep_wait(k.ep, evs, MAX_EVENTS,
			    running ? (window_end - now < 10000000 ? window_end - now : 10000000)
				    : hard_end - now);
		for (i = 0; i < n; i++)
			crr_event(&k, &k.slots[evs[i].data.u64], evs[i].events, window_end);
		now = now_ns();
		if (now >= next_reap) {
			crr_reap(&k, now, CRR_OP_TIMEOUT_NS);
			next_reap = now + NSEC_PER_SEC / 20;
		}
	}
	/* Whatever is still in flight after the drain grace counts as a timeout. */
	crr_reap(&k, UINT64_MAX / 2, 0);
	now = now_ns();
	close(k.ep);

	for (i = 0; i < ERR_CLASSES; i++)
		errs += k.errors[i];
	{
		uint64_t wend = now < window_end ? now : window_end;   /* shorter if stopped early */
		double window_s = (double)(wend - start) / 1e9;

		printf("crr: conns=%llu conns_per_s=%.1f errors=%llu p50_us=%.1f p99_us=%.1f cpu_s=%.3f\n",
		       (unsigned long long)k.done_total,
		       window_s > 0 ? (double)k.done_in_window / window_s : 0.0,
		       (unsigned long long)errs,
		       hist_quantile(&k.h, 0.50) / 1e3, hist_quantile(&k.h, 0.99) / 1e3,
		       thread_cpu_s());
		fflush(stdout);
	}
	fprintf(stderr, "crr: errors by class:");
	for (i = 0; i < ERR_CLASSES; i++)
		fprintf(stderr, " %s=%llu", err_names[i], (unsigned long long)k.errors[i]);
	fputc('\n', stderr);
	free(k.pat);
	free(k.rbuf);
	free(k.slots);
	free(k.free_idx);
	free(k.batch);
	if (errs) {
		fprintf(stderr, "%s: error: crr run had %llu failed exchanges\n", g_prog,
			(unsigned long long)errs);
		return 3;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* bulk                                                                 */
/* ------------------------------------------------------------------ */

struct bconn {
	int fd;
	uint32_t seed;           /* per-connection offset into the pattern */
	uint64_t tx, rx;         /* stream bytes sent / echoed back */
};

/* Open all bulk connections and wait (bounded) until every one is established. */
static void bulk_connect(const struct opts *o, int ep, struct bconn *bc)
{
	struct sockaddr_in dst;
	struct epoll_event evs[MAX_EVENTS];
	uint64_t deadline = now_ns() + CONNECT_TIMEOUT_NS, now;
	int i, pending = 0;

	memset(&dst, 0, sizeof(dst));
	dst.sin_family = AF_INET;
	dst.sin_addr = o->addr;
	dst.sin_port = htons((uint16_t)o->port);
	for (i = 0; i < o->conns; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		if (fd < 0)
			die(errno, "bulk: socket");
		set_nodelay(fd);
		bc[i].fd = fd;
		bc[i].seed = (uint32_t)(i * 7919u) % PAT_PERIOD;
		if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) != 0 && errno != EINPROGRESS)
			die(errno, "bulk: connect %s:%d", inet_ntoa(o->addr), o->port);
		ep_ctl(ep, EPOLL_CTL_ADD, fd, EPOLLOUT, (uint64_t)i);
		pending++;
	}
	while (pending > 0) {
		int n;

		now = now_ns();
		if (g_stop)
			die(0, "bulk: stopped by signal while connecting");
		if (now >= deadline)
			die(0, "bulk: %d of %d connections not established within %llu s",
			    pending, o->conns,
			    (unsigned long long)(CONNECT_TIMEOUT_NS / NSEC_PER_SEC));
		n = ep_wait(ep, evs, MAX_EVENTS, deadline - now);
		for (i = 0; i < n; i++) {
			struct bconn *b = &bc[evs[i].data.u64];
			int err = 0;
			socklen_t len = sizeof(err);

			if (getsockopt(b->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
				die(errno, "bulk: getsockopt(SO_ERROR)");
			if (err)
				die(err, "bulk: connect %s:%d", inet_ntoa(o->addr), o->port);
			/* Established: from now on level-triggered in both directions. */
			ep_ctl(ep, EPOLL_CTL_MOD, b->fd, EPOLLIN | EPOLLOUT,
			       evs[i].data.u64);
			pending--;
		}
	}
}

/* Run the bulk echo client and print its summary line. */
static int run_bulk(const struct opts *o)
{
	static uint8_t rbuf[IO_CHUNK];
	struct epoll_event evs[MAX_EVENTS];
	struct bconn *bc;
	uint8_t *pat;
	uint64_t start, deadline, now, bytes = 0;
	int ep, i;

	raise_nofile((long)o->conns + 64);
	pin_cpu(o->cpu);
	ep = make_epoll();
	bc = calloc((size_t)o->conns, sizeof(*bc));
	if (!bc)
		die(0, "bulk: out of memory");
	pat = make_pattern(IO_CHUNK);
	bulk_connect(o, ep, bc);

	start = now_ns();
	deadline = start + (uint64_t)(o->duration * (double)NSEC_PER_SEC);
	while (!g_stop && (now = now_ns()) < deadline) {
		int n = ep_wait(ep, evs, MAX_EVENTS, deadline - now);

		for (i = 0; i < n; i++) {
			struct bconn *b = &bc[evs[i].data.u64];
			uint32_t rev = evs[i].events;
			int r;

			if (rev & EPOLLERR) {
				int err = 0;
				socklen_t len = sizeof(err);

				getsockopt(b->fd, SOL_SOCKET, SO_ERROR, &err, &len);
				die(err, "bulk: connection %d failed after %llu echoed bytes",
				    (int)evs[i].data.u64, (unsigned long long)b->rx);
			}
			if (rev & EPOLLOUT) {
				size_t off = (size_t)((b->seed + b->tx) % PAT_PERIOD);
				ssize_t w = send(b->fd, pat + off, IO_CHUNK, MSG_NOSIGNAL);

				if (w > 0)
					b->tx += (uint64_t)w;
				else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
					 errno != EINTR)
					die(errno, "bulk: send on connection %d", (int)evs[i].data.u64);
			}
			if (!(rev & (EPOLLIN | EPOLLHUP)))
				continue;
			for (r = 0; r < 4; r++) {
				size_t off = (size_t)((b->seed + b->rx) % PAT_PERIOD);
				ssize_t m = recv(b->fd, rbuf, sizeof(rbuf), 0);

				if (m < 0) {
					if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
						break;
					die(errno, "bulk: recv on connection %d", (int)evs[i].data.u64);
				}
				if (m == 0)
					die(0, "bulk: server closed connection %d after %llu echoed bytes",
					    (int)evs[i].data.u64, (unsigned long long)b->rx);
				if (b->rx + (uint64_t)m > b->tx)
					die(0, "bulk: connection %d echoed more than was sent",
					    (int)evs[i].data.u64);
				if (memcmp(rbuf, pat + off, (size_t)m) != 0)
					die(0, "bulk: echo mismatch on connection %d at stream offset %llu",
					    (int)evs[i].data.u64, (unsigned long long)b->rx);
				b->rx += (uint64_t)m;
				bytes += (uint64_t)m;
				if ((size_t)m < sizeof(rbuf))
					break;
			}
		}
	}
	now = now_ns();
	for (i = 0; i < o->conns; i++)
		close(bc[i].fd);
	close(ep);
	{
		uint64_t wend = now < deadline ? now : deadline;
		double window_s = (double)(wend - start) / 1e9;

		printf("bulk: gbit_s=%.3f bytes=%llu cpu_s=%.3f\n",
		       window_s > 0 ? (double)bytes * 8.0 / 1e9 / window_s : 0.0,
		       (unsigned long long)bytes, thread_cpu_s());
		fflush(stdout);
	}
	free(pat);
	free(bc);
	return 0;
}

/* ------------------------------------------------------------------ */
/* command line                                                         */
/* ------------------------------------------------------------------ */

/* Print usage to the given stream. */
static void usage(FILE *f)
{
	fprintf(f,
		"usage:\n"
		"  %s server --addr A --port P --cpu C --duration S\n"
		"  %s crr    --addr A --port P --cpu C --duration S --concurrency N [--size B]\n"
		"  %s bulk   --addr A --port P --cpu C --duration S --conns N\n"
		"--addr defaults to 127.0.0.1, --port to 7007, --size to 64;\n"
		"--cpu and --duration are required.\n",
		g_prog, g_prog, g_prog);
}

/* Parse a bounded integer option value or die. */
static int parse_int(const char *name, const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < lo || v > hi)
		die(0, "%s: '%s' is not an integer in [%ld, %ld]", name, s, lo, hi);
	return (int)v;
}

/* Parse the command line into o, dying with a message on anything invalid. */
static void parse_args(int argc, char **argv, struct opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->port = 7007;
	o->cpu = -1;
	o->size = 64;
	inet_pton(AF_INET, "127.0.0.1", &o->addr);
	if (argc < 2) {
		usage(stderr);
		exit(1);
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		exit(0);
	}
	if (!strcmp(argv[1], "server"))
		o->mode = MODE_SERVER;
	else if (!strcmp(argv[1], "crr"))
		o->mode = MODE_CRR;
	else if (!strcmp(argv[1], "bulk"))
		o->mode = MODE_BULK;
	else {
		usage(stderr);
		die(0, "unknown mode '%s'", argv[1]);
	}
	for (i = 2; i < argc; i += 2) {
		const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			die(0, "option %s needs a value", k);
		if (!strcmp(k, "--addr")) {
			if (inet_pton(AF_INET, v, &o->addr) != 1)
				die(0, "--addr: '%s' is not an IPv4 address", v);
		} else if (!strcmp(k, "--port")) {
			o->port = parse_int(k, v, 1, 65535);
		} else if (!strcmp(k, "--cpu")) {
			o->cpu = parse_int(k, v, 0, CPU_SETSIZE - 1);
		} else if (!strcmp(k, "--duration")) {
			char *end;

			errno = 0;
			o->duration = strtod(v, &end);
			if (errno || end == v || *end != '\0' || !(o->duration > 0.0) ||
			    o->duration > MAX_DURATION_S)
				die(0, "--duration: '%s' is not a number of seconds in (0, %.0f]",
				    v, MAX_DURATION_S);
		} else if (!strcmp(k, "--concurrency") && o->mode == MODE_CRR) {
			o->concurrency = parse_int(k, v, 1, MAX_CONCURRENCY);
		} else if (!strcmp(k, "--size") && o->mode == MODE_CRR) {
			o->size = parse_int(k, v, 1, MAX_SIZE);
		} else if (!strcmp(k, "--conns") && o->mode == MODE_BULK) {
			o->conns = parse_int(k, v, 1, MAX_BULK_CONNS);
		} else {
			die(0, "option %s is not valid for mode %s", k, argv[1]);
		}
	}
	if (o->cpu < 0)
		die(0, "--cpu is required");
	if (o->duration <= 0.0)
		die(0, "--duration is required");
	if (o->mode == MODE_CRR && o->concurrency == 0)
		die(0, "crr: --concurrency is required");
	if (o->mode == MODE_BULK && o->conns == 0)
		die(0, "bulk: --conns is required");
}

/* Entry point: parse, arm the watchdog, run the chosen mode. */
int main(int argc, char **argv)
{
	struct opts o;
	unsigned cap;

	if (argc > 0 && argv[0] && argv[0][0])
		g_prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	parse_args(argc, argv, &o);
	cap = (unsigned)ceil_u64(o.duration) + WATCHDOG_SLACK_S;
	if (o.mode == MODE_CRR)
		cap += (unsigned)(CRR_DRAIN_NS / NSEC_PER_SEC);
	else if (o.mode == MODE_BULK)
		cap += (unsigned)(CONNECT_TIMEOUT_NS / NSEC_PER_SEC);
	setup_signals(cap);
	switch (o.mode) {
	case MODE_SERVER:
		return run_server(&o);
	case MODE_CRR:
		return run_crr(&o);
	case MODE_BULK:
		return run_bulk(&o);
	default:
		break;
	}
	die(0, "no mode");
}
