/*
 * tcp_syncookie.c - SYN cookies (RFC 4987): when the SYN backlog is full a
 * SYN is answered statelessly, our ISN carrying a 5-bit clock, an MSS index
 * and a 24-bit MAC of the tuple, and the window scale and SACK-permitted in
 * the low bits of our timestamp; the ACK that returns the cookie creates
 * the connection.
 */
#include <string.h>

#include "tcp_var.h"

static const uint16_t cookie_mss[8] = { 536, 1024, 1220, 1360, 1440, 1460, 4312, 8960 };

/* The 24-bit MAC of a cookie. */
static uint32_t cookie_mac(struct tcp_ctx *tc, const struct net_tuple *t, uint32_t count,
			   uint32_t peer_isn, unsigned mssidx)
{
	return (uint32_t)tcp_tuple_mac(tc, t, (count << 3 | mssidx) ^ peer_isn * 2654435761u) & 0xffffff;
}

/* Answer a SYN statelessly with a cookie as our ISN. */
void tcp_syncookie_send(struct net_ctx *ctx, const struct net_tuple *t, const struct seg *s)
{
	struct tcp_ctx *tc = T(ctx);
	uint32_t count = (uint32_t)(ctx->now_us / 64000000), isn;
	unsigned mssidx = 0, i, mss_max = ctx->ifs[t->ifidx].mtu - (t->family == NET_AF_INET ? 40 : 60);
	struct tcp_opts o;
	uint16_t want = s->o.mss ? s->o.mss : 536;

	for (i = 0; i < 8; i++)
		if (cookie_mss[i] <= want && cookie_mss[i] <= mss_max)
			mssidx = i;
	isn = (count & 0x1f) << 27 | (uint32_t)mssidx << 24 | cookie_mac(tc, t, count, s->seq, mssidx);
	memset(&o, 0, sizeof(o));
	o.mss = (uint16_t)mss_max;
	if (s->o.has_ts) {
		/* remember window scale and SACK in the low bits of our timestamp */
		uint32_t bits = (s->o.has_ws ? s->o.ws : 0xf) | (s->o.sack_ok ? 0x10 : 0);
		uint32_t clock = ts_now(ctx) + (uint32_t)tcp_tuple_mac(tc, t, 1);

		o.has_ts = 1;
		o.tsval = (clock & ~0x1fu) | bits;
		if ((int32_t)(o.tsval - clock) > 0)
			o.tsval -= 0x20;     /* never ahead of the clock the connection goes on with */
		o.tsecr = s->o.tsval;
		o.has_ws = s->o.has_ws;
		o.ws = tcp_rcv_wscale(tc);
		o.sack_ok = s->o.sack_ok;
	}
	tcp_emit(ctx, NULL, t, isn, s->seq + 1, TH_SYN | TH_ACK,
	     MIN(tc->p.rcvbuf, 65535u), 0, 0, &o);
	ctx->st.tcp_syncookies_sent++;
}

/* Check the ACK of a cookie; fills the MSS and options it carried. */
int tcp_syncookie_check(struct net_ctx *ctx, const struct net_tuple *t, const struct seg *s,
			struct tcp_opts *syn)
{
	struct tcp_ctx *tc = T(ctx);
	uint32_t isn = s->ack - 1, count = (uint32_t)(ctx->now_us / 64000000);
	uint32_t c5 = isn >> 27, mssidx = (isn >> 24) & 7, age = (count - c5) & 0x1f;

	if (age > 1)
		return -1;
	if ((isn & 0xffffff) != cookie_mac(tc, t, count - age, s->seq - 1, mssidx))
		return -1;
	memset(syn, 0, sizeof(*syn));
	syn->mss = cookie_mss[mssidx];
	if (s->o.has_ts) {
		uint32_t bits = s->o.tsecr & 0x1f;

		syn->has_ts = 1;
		syn->tsval = s->o.tsval;
		if ((bits & 0xf) != 0xf) {
			syn->has_ws = 1;
			syn->ws = (uint8_t)(bits & 0xf);
		}
		syn->sack_ok = !!(bits & 0x10);
	}
	return 0;
}
