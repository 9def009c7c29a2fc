/*
 * metrics.c - the /metrics HTTP/1.0 server and the per-lcore summing of
 * mxgate's Prometheus text (see metrics.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "common/strutil.h"
#include "control/metrics.h"
#include "control/util.h"

/* ---- HTTP server ---- */

struct client {
	int fd;                         /* -1: free slot */
	size_t rlen;                    /* request bytes read */
	char req[METRICS_REQ_MAX + 1];
	char *out;                      /* response (headers + body) while writing */
	size_t olen, ooff;
	long long deadline;             /* monotonic ms */
};

struct metrics_srv {
	int lfd;
	struct client c[METRICS_MAX_CLIENTS];
	int nopen;
	int map[METRICS_POLLFDS];       /* pollfd index -> client slot; -1 = listener */
	int nmap;
	metrics_body_fn body;
	void *arg;
	unsigned long long served, refused;
};

/* "host:port" or "[v6]:port" (numeric) into a sockaddr; 0 or -1. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *sl)
{
	char host[64];
	int port;

	if (strncmp(s, "unix:", 5) == 0 || redis_addr_split(s, host, sizeof(host), &port) != 0)
		return -1;
	memset(ss, 0, sizeof(*ss));
	if (s[0] != '[') {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return -1;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		*sl = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return -1;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*sl = sizeof(*a);
	}
	return 0;
}

struct metrics_srv *metrics_open(const char *listen_addr, metrics_body_fn body, void *arg,
				 char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	struct metrics_srv *m;
	int one = 1, i;

	if (parse_listen(listen_addr, &ss, &sl) != 0) {
		snprintf(err, errlen, "metrics_listen '%s': expected a numeric ADDRESS:PORT "
			 "(127.0.0.1:9465 or [::1]:9465)", listen_addr);
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (i = 0; i < METRICS_MAX_CLIENTS; i++)
		m->c[i].fd = -1;
	m->body = body;
	m->arg = arg;
	m->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (m->lfd < 0) {
		snprintf(err, errlen, "metrics_listen %s: socket: %s", listen_addr, strerror(errno));
		free(m);
		return NULL;
	}
	setsockopt(m->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(m->lfd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(m->lfd, (struct sockaddr *)&ss, sl) != 0 || listen(m->lfd, 16) != 0) {
		snprintf(err, errlen, "metrics_listen %s: %s", listen_addr, strerror(errno));
		close(m->lfd);
		free(m);
		return NULL;
	}
	return m;
}

static void client_close(struct metrics_srv *m, struct client *c)
{
	if (c->fd < 0)
		return;
	close(c->fd);
	c->fd = -1;
	free(c->out);
	c->out = NULL;
	c->rlen = c->olen = c->ooff = 0;
	m->nopen--;
}

void metrics_close(struct metrics_srv *m)
{
	int i;

	if (!m)
		return;
	for (i = 0; i < METRICS_MAX_CLIENTS; i++)
		client_close(m, &m->c[i]);
	close(m->lfd);
	free(m);
}

int metrics_pollfds(struct metrics_srv *m, struct pollfd *pfd)
{
	int n = 0, i;

	/* a full table: leave new connections in the backlog until a slot frees */
	pfd[n].fd = m->nopen < METRICS_MAX_CLIENTS ? m->lfd : -1;
	pfd[n].events = POLLIN;
	pfd[n].revents = 0;
	m->map[n++] = -1;
	for (i = 0; i < METRICS_MAX_CLIENTS; i++) {
		if (m->c[i].fd < 0)
			continue;
		pfd[n].fd = m->c[i].fd;
		pfd[n].events = m->c[i].out ? POLLOUT : POLLIN;
		pfd[n].revents = 0;
		m->map[n++] = i;
	}
	m->nmap = n;
	return n;
}

/*
 * Queue a complete response; the body (may be NULL) is taken over. head:
 * the headers only (a HEAD request). extra: more header lines ("Allow: ...\r\n") or "".
 */
static void respond(struct metrics_srv *m, struct client *c, int code, const char *reason,
		    const char *ctype, char *body, size_t blen, int head, const char *extra)
{
	char hdr[320];
	int hl;

	hl = snprintf(hdr, sizeof(hdr), "HTTP/1.0 %d %s\r\nContent-Type: %s\r\n"
		      "Content-Length: %zu\r\n%sConnection: close\r\n\r\n", code, reason, ctype, blen, extra);
	c->out = malloc((size_t)hl + (head ? 0 : blen));
	if (!c->out) {
		free(body);
		client_close(m, c);
		return;
	}
	memcpy(c->out, hdr, (size_t)hl);
	if (!head && blen)
		memcpy(c->out + hl, body, blen);
	c->olen = (size_t)hl + (head ? 0 : blen);
	c->ooff = 0;
	free(body);
	if (code == 200)
		m->served++;
	else
		m->refused++;
}

static void respond_text(struct metrics_srv *m, struct client *c, int code, const char *reason,
			 const char *text, int head, const char *extra)
{
	char *b = strdup(text);

	respond(m, c, code, reason, "text/plain; charset=utf-8", b, b ? strlen(b) : 0, head, extra);
}

/* A complete request is in c->req: answer it. */
static void handle_request(struct metrics_srv *m, struct client *c)
{
	char *sp1, *sp2, *eol, *path;
	int head = 0;

	eol = strpbrk(c->req, "\r\n");
	if (eol)
		*eol = '\0';
	sp1 = strchr(c->req, ' ');
	if (!sp1) {
		respond_text(m, c, 400, "Bad Request", "bad request line\n", 0, "");
		return;
	}
	*sp1 = '\0';
	path = sp1 + 1;
	sp2 = strchr(path, ' ');
	if (sp2) {
		*sp2 = '\0';
		if (strncmp(sp2 + 1, "HTTP/", 5) != 0) {
			respond_text(m, c, 400, "Bad Request", "bad request line\n", 0, "");
			return;
		}
	}
	path[strcspn(path, "?#")] = '\0';
	head = strcmp(c->req, "HEAD") == 0;
	if (strcmp(path, "/metrics") != 0) {
		respond_text(m, c, 404, "Not Found", "only GET /metrics here\n", head, "");
		return;
	}
	if (!head && strcmp(c->req, "GET") != 0) {
		respond_text(m, c, 405, "Method Not Allowed", "only GET and HEAD here\n", 0,
			     "Allow: GET, HEAD\r\n");
		return;
	}
	{
		size_t blen = 0;
		char *body = m->body(m->arg, &blen);

		if (!body) {
			respond_text(m, c, 503, "Service Unavailable", "no counters\n", head, "");
			return;
		}
		respond(m, c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body, blen, head, "");
	}
}

/* The request is complete once the headers end (an empty line). */
static int request_complete(const struct client *c)
{
	return strstr(c->req, "\r\n\r\n") != NULL || strstr(c->req, "\n\n") != NULL;
}

static void client_read(struct metrics_srv *m, struct client *c)
{
	for (;;) {
		ssize_t n = read(c->fd, c->req + c->rlen, METRICS_REQ_MAX - c->rlen);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			client_close(m, c);
			return;
		}
		c->rlen += (size_t)n;
		c->req[c->rlen] = '\0';
		if (memchr(c->req, '\0', c->rlen)) {
			respond_text(m, c, 400, "Bad Request", "NUL in request\n", 0, "");
			return;
		}
		if (request_complete(c)) {
			handle_request(m, c);
			return;
		}
		if (c->rlen >= METRICS_REQ_MAX) {
			respond_text(m, c, 400, "Bad Request", "request too large\n", 0, "");
			return;
		}
	}
}

static void client_write(struct metrics_srv *m, struct client *c)
{
	while (c->ooff < c->olen) {
		ssize_t n = send(c->fd, c->out + c->ooff, c->olen - c->ooff, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			client_close(m, c);
			return;
		}
		c->ooff += (size_t)n;
	}
	shutdown(c->fd, SHUT_WR);
	client_close(m, c);
}

void metrics_handle(struct metrics_srv *m, const struct pollfd *pfd, int n)
{
	long long now;
	int i;

	for (i = 1; i < n && i < m->nmap; i++) {
		struct client *c = &m->c[m->map[i]];

		if (c->fd < 0 || c->fd != pfd[i].fd || !pfd[i].revents)
			continue;
		if (c->out)
			client_write(m, c);
		else if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
			client_read(m, c);
		/* a response queued by the read: try to send it at once */
		if (c->fd >= 0 && c->out)
			client_write(m, c);
	}
	if (n > 0 && pfd[0].fd >= 0 && (pfd[0].revents & POLLIN)) {
		while (m->nopen < METRICS_MAX_CLIENTS) {
			int fd = accept4(m->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

			if (fd < 0)
				break;
			for (i = 0; i < METRICS_MAX_CLIENTS; i++)
				if (m->c[i].fd < 0)
					break;
			m->c[i].fd = fd;
			m->c[i].rlen = 0;
			m->c[i].req[0] = '\0';
			m->c[i].deadline = now_ms() + METRICS_TIMEOUT_MS;
			m->nopen++;
		}
	}
	now = now_ms();
	for (i = 0; i < METRICS_MAX_CLIENTS; i++)
		if (m->c[i].fd >= 0 && now >= m->c[i].deadline) {
			m->refused += m->c[i].out == NULL;
			client_close(m, &m->c[i]);
		}
}

int metrics_timeout_ms(const struct metrics_srv *m)
{
	long long now = now_ms(), best = -1;
	int i;

	for (i = 0; i < METRICS_MAX_CLIENTS; i++) {
		long long d;

		if (m->c[i].fd < 0)
			continue;
		d = m->c[i].deadline - now;
		if (d < 0)
			d = 0;
		if (best < 0 || d < best)
			best = d;
	}
	return (int)best;
}

unsigned long long metrics_served(const struct metrics_srv *m) { return m->served; }
unsigned long long metrics_refused(const struct metrics_srv *m) { return m->refused; }

/* ---- summing over lcores ---- */

struct sum_tab {
	struct prom_total *v;
	int n, cap;
	int *slot;                      /* open addressing: index+1 into v, 0 = empty */
	unsigned nslot;                 /* power of two */
};

static int tab_grow(struct sum_tab *t)
{
	unsigned ns = t->nslot ? t->nslot * 2 : 256, i;
	int *slot = calloc(ns, sizeof(*slot));

	if (!slot)
		return -1;
	for (i = 0; i < (unsigned)t->n; i++) {
		uint64_t h = fnv64(FNV_INIT, t->v[i].name, strlen(t->v[i].name));
		unsigned j = (unsigned)h & (ns - 1);

		while (slot[j])
			j = (j + 1) & (ns - 1);
		slot[j] = (int)i + 1;
	}
	free(t->slot);
	t->slot = slot;
	t->nslot = ns;
	return 0;
}

/* The total for name (len n), created if new; NULL when full or out of memory. */
static struct prom_total *tab_get(struct sum_tab *t, const char *name, size_t n, int *oom)
{
	uint64_t h;
	unsigned j;

	if ((unsigned)(t->n + 1) * 2 > t->nslot && tab_grow(t) != 0) {
		*oom = 1;
		return NULL;
	}
	h = fnv64(FNV_INIT, name, n);
	for (j = (unsigned)h & (t->nslot - 1); t->slot[j]; j = (j + 1) & (t->nslot - 1)) {
		struct prom_total *p = &t->v[t->slot[j] - 1];

		if (strlen(p->name) == n && memcmp(p->name, name, n) == 0)
			return p;
	}
	if (t->n >= PROM_SERIES_MAX)
		return NULL;
	if (t->n == t->cap) {
		int nc = t->cap ? t->cap * 2 : 128;
		struct prom_total *nv = realloc(t->v, (size_t)nc * sizeof(*nv));

		if (!nv) {
			*oom = 1;
			return NULL;
		}
		t->v = nv;
		t->cap = nc;
	}
	t->v[t->n].name = malloc(n + 1);
	if (!t->v[t->n].name) {
		*oom = 1;
		return NULL;
	}
	memcpy(t->v[t->n].name, name, n);
	t->v[t->n].name[n] = '\0';
	t->v[t->n].u = 0;
	t->v[t->n].d = 0;
	t->v[t->n].is_int = 1;
	t->slot[j] = t->n + 1;
	return &t->v[t->n++];
}

/*
 * One sample line into key (name plus labels without lcore) and value
 * text; 0 or -1 when it does not parse.
 */
static int split_sample(const char *l, size_t n, char *key, size_t keymax, size_t *klen,
			const char **val, size_t *vlen)
{
	size_t i = 0, k = 0;
	int nlabels = 0;

	while (i < n && l[i] != '{' && l[i] != ' ' && l[i] != '\t') {
		if (k + 1 >= keymax)
			return -1;
		key[k++] = l[i++];
	}
	if (k == 0)
		return -1;
	if (i < n && l[i] == '{') {
		size_t open = k;

		key[k++] = '{';
		i++;
		for (;;) {
			size_t ls;
			int is_lcore;

			while (i < n && (l[i] == ' ' || l[i] == ','))
				i++;
			if (i < n && l[i] == '}') {
				i++;
				break;
			}
			ls = i;
			while (i < n && l[i] != '=' && l[i] != '}')
				i++;
			if (i >= n || l[i] != '=' || i + 1 >= n || l[i + 1] != '"')
				return -1;
			is_lcore = (i - ls == 5 && memcmp(l + ls, "lcore", 5) == 0);
			i += 2;
			while (i < n && l[i] != '"') {
				if (l[i] == '\\')
					i++;
				i++;
			}
			if (i >= n)
				return -1;
			i++;                    /* closing quote */
			if (!is_lcore) {
				size_t len = i - ls;

				if (nlabels) {
					if (k + 1 >= keymax)
						return -1;
					key[k++] = ',';
				}
				if (k + len + 2 >= keymax)
					return -1;
				memcpy(key + k, l + ls, len);
				k += len;
				nlabels++;
			}
		}
		if (nlabels == 0)
			k = open;               /* only lcore: no braces */
		else
			key[k++] = '}';
	}
	while (i < n && (l[i] == ' ' || l[i] == '\t'))
		i++;
	if (i >= n)
		return -1;
	*val = l + i;
	while (i < n && l[i] != ' ' && l[i] != '\t')
		i++;
	*vlen = (size_t)(l + i - *val);
	key[k] = '\0';
	*klen = k;
	return 0;
}

int prom_sum(const char *text, size_t len, struct prom_total **out, unsigned *skipped)
{
	struct sum_tab t = { 0 };
	const char *p = text, *end = text + len;
	unsigned skip = 0;
	int oom = 0;

	while (p < end && !oom) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end, *val;
		size_t n = (size_t)(le - p), klen, vlen;
		char key[512], num[64], *e;
		struct prom_total *tot;

		if (n && p[n - 1] == '\r')
			n--;
		if (n == 0 || p[0] == '#') {
			p = nl ? nl + 1 : end;
			continue;
		}
		if (split_sample(p, n, key, sizeof(key), &klen, &val, &vlen) != 0 ||
		    vlen == 0 || vlen >= sizeof(num)) {
			skip++;
			p = nl ? nl + 1 : end;
			continue;
		}
		memcpy(num, val, vlen);
		num[vlen] = '\0';
		tot = tab_get(&t, key, klen, &oom);
		if (!tot) {
			skip++;
			p = nl ? nl + 1 : end;
			continue;
		}
		if (num[strspn(num, "0123456789")] == '\0') {
			unsigned long long u;

			errno = 0;
			u = strtoull(num, &e, 10);
			if (errno)
				tot->is_int = 0;
			tot->u += u;
			tot->d += (double)u;
		} else {
			double d = strtod(num, &e);

			if (*e) {
				skip++;
			} else {
				tot->is_int = 0;
				tot->d += d;
			}
		}
		p = nl ? nl + 1 : end;
	}
	free(t.slot);
	if (oom) {
		prom_totals_free(t.v, t.n);
		*out = NULL;
		return -1;
	}
	*out = t.v;
	if (skipped)
		*skipped = skip;
	return t.n;
}

void prom_totals_free(struct prom_total *t, int n)
{
	int i;

	if (!t)
		return;
	for (i = 0; i < n; i++)
		free(t[i].name);
	free(t);
}

void prom_total_format(const struct prom_total *t, char *buf, size_t buflen)
{
	if (t->is_int)
		snprintf(buf, buflen, "%llu", t->u);
	else
		snprintf(buf, buflen, "%.17g", t->d);
}
