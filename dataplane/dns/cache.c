/*
 * cache.c - one worker's DNS cache (dns.h): a chained hash of entries
 * keyed by (type, name without case), each malloc'd to its size (the
 * name, then the addresses or names of the result), on an LRU list. At
 * most max_entries; the least recently used one goes first. An expired
 * entry is dropped when met. Negative answers (NXDOMAIN, NODATA) are kept
 * for their SOA TTL; DNS_TEMP never.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>

#include "dataplane/dns/dns.h"

struct centry {
	struct centry *hnext;          /* hash chain */
	struct centry *lprev, *lnext;  /* LRU list, most recent first */
	uint64_t expires_us, stored_us;
	uint32_t hash;
	uint16_t type;
	uint8_t status, n;
	uint16_t nlen, dlen;
	char data[];                   /* name '\0', then the result's data (dlen bytes) */
};

struct dns_cache {
	struct centry **tab;
	unsigned tsize, max;
	struct centry *head, *tail;
	struct dns_cache_stats st;
};

static uint32_t key_hash(const char *name, uint16_t type)
{
	uint32_t h = 2166136261u ^ type;

	for (; *name; name++)
		h = (h ^ (uint8_t)tolower((unsigned char)*name)) * 16777619u;
	return h;
}

struct dns_cache *dns_cache_new(unsigned max_entries)
{
	struct dns_cache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->max = max_entries;
	for (c->tsize = 64; c->tsize < max_entries; c->tsize <<= 1)
		;
	c->tab = calloc(c->tsize, sizeof(*c->tab));
	if (c->tab == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

static void lru_unlink(struct dns_cache *c, struct centry *e)
{
	if (e->lprev)
		e->lprev->lnext = e->lnext;
	else
		c->head = e->lnext;
	if (e->lnext)
		e->lnext->lprev = e->lprev;
	else
		c->tail = e->lprev;
	e->lprev = e->lnext = NULL;
}

static void lru_front(struct dns_cache *c, struct centry *e)
{
	e->lnext = c->head;
	e->lprev = NULL;
	if (c->head)
		c->head->lprev = e;
	c->head = e;
	if (c->tail == NULL)
		c->tail = e;
}

static void entry_drop(struct dns_cache *c, struct centry *e)
{
	struct centry **pp = &c->tab[e->hash & (c->tsize - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(c, e);
	c->st.entries--;
	c->st.bytes -= sizeof(*e) + e->nlen + 1 + e->dlen;
	free(e);
}

void dns_cache_free(struct dns_cache *c)
{
	if (c == NULL)
		return;
	while (c->head)
		entry_drop(c, c->head);
	free(c->tab);
	free(c);
}

static struct centry *find(struct dns_cache *c, const char *name, uint16_t type, uint32_t h)
{
	struct centry *e;

	for (e = c->tab[h & (c->tsize - 1)]; e != NULL; e = e->hnext)
		if (e->hash == h && e->type == type && strcasecmp(e->data, name) == 0)
			return e;
	return NULL;
}

/* The bytes of a result's data. */
static size_t data_len(uint16_t type, const struct dns_result *r)
{
	size_t n = 0;
	unsigned i;

	if (r->status != DNS_OK)
		return 0;
	if (type == DNS_T_PTR) {
		for (i = 0; i < r->n; i++)
			n += strlen(r->u.name[i]) + 1;
		return n;
	}
	return (size_t)r->n * sizeof(struct net_addr);
}

int dns_cache_get(struct dns_cache *c, const char *name, uint16_t type, uint64_t now_us, struct dns_result *out)
{
	uint32_t h = key_hash(name, type);
	struct centry *e = c ? find(c, name, type, h) : NULL;
	const char *d;
	unsigned i;

	if (c == NULL)
		return 0;
	if (e != NULL && e->expires_us <= now_us) {
		c->st.expired++;
		entry_drop(c, e);
		e = NULL;
	}
	if (e == NULL) {
		c->st.misses++;
		return 0;
	}
	c->st.hits++;
	lru_unlink(c, e);
	lru_front(c, e);
	memset(out, 0, sizeof(*out));
	out->status = e->status;
	out->type = e->type;
	out->n = e->n;
	out->ttl = (uint32_t)((e->expires_us - now_us + 999999) / 1000000);
	d = e->data + e->nlen + 1;
	if (e->type == DNS_T_PTR) {
		for (i = 0; i < e->n; i++) {
			size_t l = strlen(d);

			memcpy(out->u.name[i], d, l + 1);
			d += l + 1;
		}
	} else {
		memcpy(out->u.addr, d, (size_t)e->n * sizeof(struct net_addr));
	}
	return 1;
}

void dns_cache_put(struct dns_cache *c, const char *name, const struct dns_result *r, uint64_t now_us)
{
	size_t nlen = strlen(name), dlen, i;
	uint32_t h = key_hash(name, r->type);
	struct centry *e;
	char *d;

	if (c == NULL || c->max == 0 || r->status == DNS_TEMP || r->ttl == 0 || nlen > DNS_NAME_MAX + 1)
		return;
	if ((e = find(c, name, r->type, h)) != NULL)
		entry_drop(c, e);
	while (c->st.entries >= c->max && c->tail) {
		c->st.evictions++;
		entry_drop(c, c->tail);
	}
	dlen = data_len(r->type, r);
	e = malloc(sizeof(*e) + nlen + 1 + dlen);
	if (e == NULL)
		return;
	memset(e, 0, sizeof(*e));
	e->hash = h;
	e->type = r->type;
	e->status = r->status;
	e->n = r->status == DNS_OK ? r->n : 0;
	e->nlen = (uint16_t)nlen;
	e->dlen = (uint16_t)dlen;
	e->stored_us = now_us;
	e->expires_us = now_us + (uint64_t)r->ttl * 1000000;
	memcpy(e->data, name, nlen + 1);
	d = e->data + nlen + 1;
	if (r->type == DNS_T_PTR) {
		for (i = 0; i < e->n; i++) {
			size_t l = strlen(r->u.name[i]);

			memcpy(d, r->u.name[i], l + 1);
			d += l + 1;
		}
	} else if (dlen) {
		memcpy(d, r->u.addr, dlen);
	}
	e->hnext = c->tab[h & (c->tsize - 1)];
	c->tab[h & (c->tsize - 1)] = e;
	lru_front(c, e);
	c->st.inserts++;
	c->st.entries++;
	c->st.bytes += sizeof(*e) + nlen + 1 + dlen;
}

const struct dns_cache_stats *dns_cache_stats(const struct dns_cache *c)
{
	return &c->st;
}
