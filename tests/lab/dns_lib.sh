# shellcheck shell=bash
# dns_lib.sh - an authoritative DNS server for the lab tests t_dns_*.sh:
# Debian's nsd in the lab namespace on the backend side (198.18.1.1 and
# 2001:2:0:1::1, port 19540), never the host's resolver. It serves
#   lab.example                    the clients' forward names
#   18.198.in-addr.arpa            reverse names of 198.18.0.0/16 (the lab's)
#   0.0.0.0.2.0.0.0.1.0.0.2.ip6.arpa  reverse names of 2001:2::/48
#   bl.example, wl.example         a DNSBL and a DNSWL
# Clients (extra addresses on mxout, the client side):
#   198.18.0.1   client1.lab.example, forward-confirmed
#   2001:2::1    client6.lab.example, forward-confirmed (AAAA)
#   198.18.0.11  PTR forged.lab.example, whose A is 198.18.0.99: unknown
#   198.18.0.12  client12.lab.example, listed in bl.example (127.0.0.2)
#   198.18.0.13  client13.lab.example, listed in bl.example and wl.example
#   198.18.0.14  twelve PTR names of 60 bytes: the reply is truncated over
#                UDP (no EDNS: 512 bytes), TCP brings it; each name's A is .14
#   198.18.0.15  listed in bl.example with 127.0.0.50 (outside the filter)
# Sourced after lib.sh; dns_up after lab_up; lab_down's namespace cleanup
# stops nsd if dns_down did not.

DNS_PORT=19540
DNS_DIR=$LAB_DIR/nsd

dns_zone() {
	local origin=$1
	cat <<Z
\$ORIGIN $origin.
\$TTL 300
@ IN SOA ns.lab.example. hostmaster.lab.example. 1 3600 600 86400 60
@ IN NS ns.lab.example.
Z
}

dns_write_zones() {
	local i
	{
		dns_zone lab.example
		echo "ns A 198.18.1.1"
		echo "client1 A 198.18.0.1"
		echo "client6 AAAA 2001:2::1"
		echo "forged A 198.18.0.99"
		echo "client12 A 198.18.0.12"
		echo "client13 A 198.18.0.13"
		echo "client15 A 198.18.0.15"
		for i in $(seq -w 1 12); do
			echo "big$i-a-label-long-enough-to-fill-a-datagram-quickly A 198.18.0.14"
		done
	} >"$DNS_DIR/lab.example.zone"
	{
		dns_zone 18.198.in-addr.arpa
		echo "1.0 PTR client1.lab.example."
		echo "11.0 PTR forged.lab.example."
		echo "12.0 PTR client12.lab.example."
		echo "13.0 PTR client13.lab.example."
		echo "15.0 PTR client15.lab.example."
		for i in $(seq -w 1 12); do
			echo "14.0 PTR big$i-a-label-long-enough-to-fill-a-datagram-quickly.lab.example."
		done
	} >"$DNS_DIR/rev4.zone"
	{
		dns_zone 0.0.0.0.2.0.0.0.1.0.0.2.ip6.arpa
		echo "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0 PTR client6.lab.example."
	} >"$DNS_DIR/rev6.zone"
	{
		dns_zone bl.example
		echo "12.0.18.198 A 127.0.0.2"
		echo "13.0.18.198 A 127.0.0.2"
		echo "15.0.18.198 A 127.0.0.50"
	} >"$DNS_DIR/bl.zone"
	{
		dns_zone wl.example
		echo "13.0.18.198 A 127.0.5.1"
	} >"$DNS_DIR/wl.zone"
}

# dns_up: write the zones, start nsd in the namespace, wait until it answers.
dns_up() {
	local i
	rm -rf "$DNS_DIR"
	mkdir -p "$DNS_DIR" || fail "cannot create $DNS_DIR"
	dns_write_zones
	cat >"$DNS_DIR/nsd.conf" <<C
server:
	ip-address: 198.18.1.1@$DNS_PORT
	ip-address: 2001:2:0:1::1@$DNS_PORT
	username: ""
	chroot: ""
	zonesdir: "$DNS_DIR"
	pidfile: "$DNS_DIR/nsd.pid"
	database: ""
	zonelistfile: "$DNS_DIR/zone.list"
	xfrdfile: "$DNS_DIR/xfrd.state"
	xfrdir: "$DNS_DIR"
	logfile: "$DNS_DIR/nsd.log"
	server-count: 1
	verbosity: 1
remote-control:
	control-enable: no
zone:
	name: lab.example
	zonefile: lab.example.zone
zone:
	name: 18.198.in-addr.arpa
	zonefile: rev4.zone
zone:
	name: 0.0.0.0.2.0.0.0.1.0.0.2.ip6.arpa
	zonefile: rev6.zone
zone:
	name: bl.example
	zonefile: bl.zone
zone:
	name: wl.example
	zonefile: wl.zone
C
	nsd-checkconf "$DNS_DIR/nsd.conf" || fail "nsd-checkconf refused $DNS_DIR/nsd.conf"
	lab_exec nsd -c "$DNS_DIR/nsd.conf" || fail "nsd did not start (see $DNS_DIR/nsd.log)"
	for ((i = 0; i < 40; i++)); do
		lab_exec dig +short +time=1 +tries=1 -p $DNS_PORT @198.18.1.1 client1.lab.example A 2>/dev/null |
			grep -qx 198.18.0.1 && { ok "nsd answers on 198.18.1.1:$DNS_PORT"; return 0; }
		sleep 0.25
	done
	fail "nsd does not answer on 198.18.1.1:$DNS_PORT (see $DNS_DIR/nsd.log)"
}

dns_down() {
	local pid
	pid=$(cat "$DNS_DIR/nsd.pid" 2>/dev/null)
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	for ((i = 0; i < 20; i++)); do
		[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
}

# dns_clients: the extra client addresses on mxout (the client side).
dns_clients() {
	local a
	for a in 11 12 13 14 15; do
		lab_exec ip addr add 198.18.0.$a/24 dev mxout || fail "cannot add 198.18.0.$a to mxout"
	done
}

# dns_mail SRC [swaks options]: one message from source address SRC (to mxgate's address of its family);
# prints the server's lines.
dns_mail() {
	local src=$1 dst=198.18.0.2
	shift
	case $src in *:*) dst=2001:2::2 ;; esac
	lab_exec timeout 30 swaks --server "$dst" --port "${DNS_MAIL_PORT:-25}" --local-interface "$src" --helo helo.example \
		--from a@client.example --to b@lab.example --body "dns test from $src" "$@" 2>&1 | grep -E '^<'
}
