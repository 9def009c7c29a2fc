#!/usr/bin/env bash
# t_ping.sh - ICMP echo and neighbour resolution on both ports, IPv4 and
# IPv6: every echo request is answered, and the kernel side holds an ARP /
# ND entry for each appliance address.
. "$(dirname "$0")/lib.sh"
lab_begin
lab_up || fail "lab did not come up"

for a in 198.18.0.2 2001:2::2 198.18.1.2 2001:2:0:1::2; do
	lab_ping "$a" 5
done
for e in mxout:198.18.0.2 mxout:2001:2::2 mxin:198.18.1.2 mxin:2001:2:0:1::2; do
	dev=${e%%:*}
	addr=${e#*:}
	n=$(lab_exec ip neigh show to "$addr" dev "$dev")
	echo "$n" | grep -q lladdr || fail "no neighbour entry for $addr on $dev: '$n'"
	echo "$n" | grep -qE 'FAILED|INCOMPLETE' && fail "neighbour entry for $addr on $dev: $n"
	ok "neighbour $addr on $dev: $n"
done
expect_stat_ge icmp_echo_replies 20
# informational: the kernel may learn mxgate's MAC from mxgate's own
# requests, so none of these has to be non-zero
for c in arp_requests_sent arp_replies_sent nd_solicits_sent nd_adverts_sent; do
	echo "$c = $(lab_stat_cached "$c" 2>/dev/null)"
done
expect_no_bug_drops
pass
