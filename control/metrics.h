/*
 * metrics.h - the two halves of mxgate-control's counter export:
 *
 *   - a tiny HTTP/1.0 server for Prometheus: single-threaded, driven by the
 *     caller's poll() loop, non-blocking sockets, bounded request size,
 *     connection count and time; "GET /metrics" (or HEAD: the headers only)
 *     -> 200 text/plain; version=0.0.4, any other method on /metrics 405
 *     with "Allow: GET, HEAD", any other path 404, anything unparsable 400;
 *   - prom_sum(): appliance totals of mxgate's per-lcore Prometheus text
 *     (the lcore label removed, the other labels kept), for the Redis hash
 *     <prefix>stats:<appliance_id>.
 *
 * libc only.
 */
#ifndef MX_CONTROL_METRICS_H
#define MX_CONTROL_METRICS_H

#include <poll.h>
#include <stddef.h>

#define METRICS_MAX_CLIENTS   32        /* open HTTP connections at once */
#define METRICS_REQ_MAX       4096      /* bytes of request line + headers */
#define METRICS_TIMEOUT_MS    5000      /* whole exchange, per connection */
#define METRICS_POLLFDS       (METRICS_MAX_CLIENTS + 1)

struct metrics_srv;

/*
 * The body of /metrics: called once per request; returns a malloc'd buffer
 * (the server frees it) and its length in *len, or NULL (then 503).
 */
typedef char *(*metrics_body_fn)(void *arg, size_t *len);

/*
 * Listen on "host:port" ("127.0.0.1:9465", "[::1]:9465"); numeric
 * addresses only. NULL with a message in err.
 */
struct metrics_srv *metrics_open(const char *listen_addr, metrics_body_fn body, void *arg,
				 char *err, size_t errlen);
void metrics_close(struct metrics_srv *m);

/* Fill up to METRICS_POLLFDS entries of pfd; returns how many. */
int metrics_pollfds(struct metrics_srv *m, struct pollfd *pfd);
/* Handle the revents of the n entries metrics_pollfds() filled, and timeouts. */
void metrics_handle(struct metrics_srv *m, const struct pollfd *pfd, int n);
/* Milliseconds until the next connection timeout (-1: none). */
int metrics_timeout_ms(const struct metrics_srv *m);
/* Requests served (200), refused (404/400/...), for mxgate-control's own counters. */
unsigned long long metrics_served(const struct metrics_srv *m);
unsigned long long metrics_refused(const struct metrics_srv *m);

/* One appliance total. */
struct prom_total {
	char *name;                     /* "mxgate_drops_total{reason=\"tcp_csum\"}" */
	unsigned long long u;           /* sum, while every value was an integer */
	double d;                       /* sum as double */
	int is_int;
};

#define PROM_SERIES_MAX 16384           /* distinct series kept; more are counted, not kept */

/*
 * Sum Prometheus text over its lcore label. Returns the number of series
 * in *out (malloc'd array, free with prom_totals_free), or -1 (out of
 * memory). Comment lines and unparsable lines are skipped (*skipped
 * counts them, with the series past PROM_SERIES_MAX); order is first
 * appearance.
 */
int prom_sum(const char *text, size_t len, struct prom_total **out, unsigned *skipped);
void prom_totals_free(struct prom_total *t, int n);
/* The value as text: an integer, or %.17g. */
void prom_total_format(const struct prom_total *t, char *buf, size_t buflen);

#endif
