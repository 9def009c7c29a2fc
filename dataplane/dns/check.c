/*
 * check.c - a client's connect-time lookups (dns.h), all started at once:
 *
 *  - its name, as Postfix's smtpd_peer: the PTR names of the address,
 *    each a valid host name (not one that looks like an address), then
 *    their A (or AAAA) records: the first name whose records contain the
 *    address is the verified client name (sendmail ${client_resolve} OK).
 *    No PTR: FAIL; PTR names but no forward match: FORGED; a temporary
 *    error on the way (and nothing verified): TEMP. Otherwise "unknown".
 *  - DNSBL/DNSWL scoring, as postscreen_dnsbl_sites: each site is asked
 *    for the reversed address under its domain; an A reply that passes
 *    its filter (every octet in its set; no filter: any reply) adds its
 *    weight (negative for an allowlist). The caller compares the score
 *    with dnsbl_threshold.
 */
#include <stdlib.h>
#include <string.h>

#include "dataplane/dns/dns_var.h"

const char *const dns_name_status_names[DNS_NAME_STATUS_COUNT] = { "none", "ok", "fail", "forged", "temp" };

enum sub_kind { SUB_PTR, SUB_FWD, SUB_BL };
enum { BL_PENDING = 0, BL_LISTED, BL_UNLISTED, BL_ERROR };

#define NSUBS (1 + DNS_MAX_NAMES + CFG_MAX_DNSBL)

struct sub {
	struct dns_check *k;
	struct dns_query *q;
	uint8_t kind, idx, busy;
};

struct dns_check {
	struct dns_resolver *r;
	uint8_t family;
	struct net_addr addr;
	void (*done)(void *arg);
	void *arg;
	int pending, starting, counted;
	enum dns_name_status nstatus;  /* NONE until known */
	int fwd_temp;                  /* a forward lookup failed for now */
	char ptr[DNS_MAX_NAMES][DNS_NAME_MAX + 1];
	char name[DNS_NAME_MAX + 1];   /* the verified name, "" if none */
	uint8_t bl[CFG_MAX_DNSBL];     /* BL_* per site */
	int score;
	int best;                      /* listing site with the largest weight, -1 */
	struct sub subs[NSUBS];
};

static void sub_done(void *arg, const struct dns_result *res);

/* Start one lookup of the check (pending counted first: the answer may come at once). */
static void sub_start(struct dns_check *k, unsigned i, enum sub_kind kind, unsigned idx, const char *name,
		      uint16_t type)
{
	struct sub *s = &k->subs[i];

	s->k = k;
	s->kind = (uint8_t)kind;
	s->idx = (uint8_t)idx;
	s->busy = 1;
	k->pending++;
	s->q = dns_lookup(k->r, name, type, sub_done, s);
}

/* The name's outcome is known: count it once. */
static void name_final(struct dns_check *k, enum dns_name_status st)
{
	k->nstatus = st;
	k->r->st.names[st]++;
}

/* Does a reply address pass a site's filter? */
static int bl_match(const struct cfg_dnsbl *d, const struct net_addr *a)
{
	unsigned o;

	if (!d->has_filter)
		return 1;
	for (o = 0; o < 4; o++)
		if (!(d->filter[o][a->a[o] / 8] & (1u << (a->a[o] % 8))))
			return 0;
	return 1;
}

static void on_ptr(struct dns_check *k, const struct dns_result *res)
{
	unsigned i, n = 0;

	if (res->status == DNS_TEMP) {
		name_final(k, DNS_NAME_TEMP);
		return;
	}
	if (res->status != DNS_OK) {
		name_final(k, DNS_NAME_FAIL);
		return;
	}
	for (i = 0; i < res->n; i++)
		if (dns_valid_hostname(res->u.name[i]))
			snprintf(k->ptr[n++], DNS_NAME_MAX + 1, "%s", res->u.name[i]);
	if (n == 0) {
		name_final(k, DNS_NAME_FORGED);     /* Postfix: a malformed name is not a name */
		return;
	}
	for (i = 0; i < n; i++)
		k->subs[1 + i].busy = 1;             /* all owed before any answer (from the cache) counts */
	for (i = 0; i < n; i++)
		sub_start(k, 1 + i, SUB_FWD, i, k->ptr[i], k->family == NET_AF_INET ? DNS_T_A : DNS_T_AAAA);
}

static void on_fwd(struct dns_check *k, unsigned idx, const struct dns_result *res)
{
	unsigned i, n = k->family == NET_AF_INET ? 4 : 16;
	int busy = 0;

	if (k->nstatus != DNS_NAME_NONE)
		return;                              /* another name verified already */
	if (res->status == DNS_TEMP)
		k->fwd_temp = 1;
	for (i = 0; res->status == DNS_OK && i < res->n; i++)
		if (memcmp(res->u.addr[i].a, k->addr.a, n) == 0) {
			snprintf(k->name, sizeof(k->name), "%s", k->ptr[idx]);
			name_final(k, DNS_NAME_OK);
			return;
		}
	for (i = 0; i < DNS_MAX_NAMES; i++)
		busy |= k->subs[1 + i].busy;
	if (!busy)
		name_final(k, k->fwd_temp ? DNS_NAME_TEMP : DNS_NAME_FORGED);
}

static void on_bl(struct dns_check *k, unsigned idx, const struct dns_result *res)
{
	const struct cfg_dnsbl *d = &k->r->cfg->dnsbl_sites[idx];
	unsigned i;

	k->bl[idx] = res->status == DNS_TEMP ? BL_ERROR : BL_UNLISTED;
	for (i = 0; res->status == DNS_OK && i < res->n; i++)
		if (bl_match(d, &res->u.addr[i])) {
			k->bl[idx] = BL_LISTED;
			k->score += d->weight;
			if (d->weight > 0 && (k->best < 0 || d->weight > k->r->cfg->dnsbl_sites[k->best].weight))
				k->best = (int)idx;
			break;
		}
	k->r->st.dnsbl[idx][k->bl[idx] - 1]++;
}

static void sub_done(void *arg, const struct dns_result *res)
{
	struct sub *s = arg;
	struct dns_check *k = s->k;

	s->q = NULL;
	s->busy = 0;
	switch (s->kind) {
	case SUB_PTR:
		on_ptr(k, res);
		break;
	case SUB_FWD:
		on_fwd(k, s->idx, res);
		break;
	case SUB_BL:
		on_bl(k, s->idx, res);
		break;
	}
	if (--k->pending == 0 && !k->starting && k->done)
		k->done(k->arg);
}

struct dns_check *dns_check_start(struct dns_resolver *r, uint8_t family, const struct net_addr *a,
				  void (*done)(void *arg), void *arg)
{
	struct dns_check *k = calloc(1, sizeof(*k));
	char qn[DNS_NAME_MAX + 1];
	unsigned i;

	if (k == NULL)
		return NULL;
	k->r = r;
	k->family = family;
	k->addr = *a;
	k->done = done;
	k->arg = arg;
	k->best = -1;
	k->starting = 1;
	if (dns_reverse_name(family, a, NULL, qn, sizeof(qn)) == 0)
		sub_start(k, 0, SUB_PTR, 0, qn, DNS_T_PTR);
	else
		name_final(k, DNS_NAME_FAIL);
	for (i = 0; i < r->cfg->ndnsbl_sites; i++) {
		if (dns_reverse_name(family, a, r->cfg->dnsbl_sites[i].domain, qn, sizeof(qn)) == 0) {
			sub_start(k, 1 + DNS_MAX_NAMES + i, SUB_BL, i, qn, DNS_T_A);
		} else {
			k->bl[i] = BL_ERROR;
			r->st.dnsbl[i][BL_ERROR - 1]++;
		}
	}
	k->starting = 0;
	return k;
}

int dns_check_pending(const struct dns_check *k)
{
	return k->pending;
}

const char *dns_check_name(const struct dns_check *k)
{
	return k->nstatus == DNS_NAME_OK ? k->name : NULL;
}

enum dns_name_status dns_check_name_status(const struct dns_check *k)
{
	return k->nstatus == DNS_NAME_NONE ? DNS_NAME_TEMP : k->nstatus;
}

int dns_check_score(const struct dns_check *k, const char **site)
{
	if (site)
		*site = k->best >= 0 ? k->r->cfg->dnsbl_sites[k->best].domain : NULL;
	return k->score;
}

const char *dns_check_verdict(struct dns_check *k)
{
	const struct mx_config *cfg = k->r->cfg;

	if (cfg->ndnsbl_sites == 0 || k->best < 0 || k->score < (int)cfg->dnsbl_threshold)
		return NULL;
	k->r->st.dnsbl_blocked++;
	return cfg->dnsbl_sites[k->best].domain;
}

void dns_check_free(struct dns_check *k)
{
	unsigned i;

	if (k == NULL)
		return;
	for (i = 0; i < NSUBS; i++)
		if (k->subs[i].busy)
			dns_detach(k->subs[i].q);
	if (k->nstatus == DNS_NAME_NONE)
		name_final(k, DNS_NAME_TEMP);        /* the banner could wait no longer */
	for (i = 0; i < k->r->cfg->ndnsbl_sites; i++)
		if (k->bl[i] == BL_PENDING)
			k->r->st.dnsbl[i][BL_ERROR - 1]++;
	free(k);
}
