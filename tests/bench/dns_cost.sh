#!/usr/bin/env bash
# dns_cost.sh - what DNS costs an SMTP session (docs/PERFORMANCE.md, "DNS
# at connect"): two labs side by side in one run, the same mxgate and
# clients, one without DNS and one with dns_servers (nsd in its namespace,
# tests/lab/dns_lib.sh) and one DNSBL site. Rounds alternate: no DNS; DNS
# with a cold cache (clients never seen: PTR, A and the DNSBL lookup go to
# nsd); DNS with a warm cache (the same clients again). Each session is
# connect, 220, QUIT, 221 from its own source address (198.18.0.100-249),
# one at a time. Per mode: the banner latency the client sees (median,
# p90) and the worker's busy microseconds per session (mxgate_busy_cycles
# over mxgate_tsc_hz, the median of the rounds; see "How busy cycles
# overcount": at concurrency 1
# the per-round overhead is charged to the session, the same in every
# mode, so compare the modes, not the absolute figure).
#   DNS_COST_ROUNDS (5), DNS_COST_N (30 sessions per round and mode)
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
ROUNDS=${DNS_COST_ROUNDS:-5}
N=${DNS_COST_N:-30}
BASE=$REPO/build/bench-dns
NS_A=${LAB_NS:-mxdnsbench}a
NS_B=${LAB_NS:-mxdnsbench}b
rm -rf "$BASE"
mkdir -p "$BASE/a" "$BASE/b"
export LAB_CONTROL=0 LAB_PY=/usr/bin/python3 MXGATE=${MXGATE:-$REPO/build/mxgate}
TOTAL=$((ROUNDS * N))
[ "$TOTAL" -le 150 ] || { echo "DNS_COST_ROUNDS x DNS_COST_N must be <= 150 (client addresses)"; exit 2; }

labA() { LAB_NS=$NS_A LAB_DIR=$BASE/a "$REPO/deploy/lab.sh" "$@"; }
labB() { LAB_NS=$NS_B LAB_DIR=$BASE/b "$REPO/deploy/lab.sh" "$@"; }
cleanup() { labA down >/dev/null 2>&1; labB down >/dev/null 2>&1; }
trap cleanup EXIT

LAB_NS=$NS_B LAB_DIR=$BASE/b
fail() { echo "dns_cost: $*" >&2; exit 1; }
ok() { :; }
lab_exec() { labB exec "$@"; }
# shellcheck source=../lab/dns_lib.sh
. "$REPO/tests/lab/dns_lib.sh"

labA up >/dev/null || fail "lab A (no DNS) did not come up"
LAB_CONF_EXTRA=$'dns_servers = 198.18.1.1:'$DNS_PORT$'\ndnsbl_sites = bl.example' \
	labB up >/dev/null || fail "lab B (DNS) did not come up"
# the bench's zones (replacing dns_lib.sh's): 150 clients with PTR and A, an empty DNSBL
dns_write_zones() {
	local i
	{
		dns_zone lab.example
		echo "client1 A 198.18.0.1"     # dns_up asks for it
		for i in $(seq 100 249); do echo "c$i A 198.18.0.$i"; done
	} >"$DNS_DIR/lab.example.zone"
	{
		dns_zone 18.198.in-addr.arpa
		for i in $(seq 100 249); do echo "$i.0 PTR c$i.lab.example."; done
	} >"$DNS_DIR/rev4.zone"
	dns_zone 0.0.0.0.2.0.0.0.1.0.0.2.ip6.arpa >"$DNS_DIR/rev6.zone"
	dns_zone bl.example >"$DNS_DIR/bl.zone"
	dns_zone wl.example >"$DNS_DIR/wl.zone"
}
dns_up
for i in $(seq 100 249); do
	labA exec ip addr add 198.18.0.$i/24 dev mxout || fail "address on A"
	labB exec ip addr add 198.18.0.$i/24 dev mxout || fail "address on B"
done

# counter VALUE of one lab: busy cycles and the TSC rate
busy() { "$1" stats | awk '$1 ~ /^mxgate_busy_cycles_total/ { s += $2 } END { printf "%.0f\n", s }'; }
hz() { "$1" stats | awk '$1 ~ /^mxgate_tsc_hz/ { print $2; exit }'; }
HZ=$(hz labA)

# run MODE LAB SRC...: append latencies to $BASE/MODE.lat and busy us/session to $BASE/MODE.us
run() {
	local mode=$1 lab=$2 b0 b1 lat
	shift 2
	b0=$(busy "$lab")
	lat=$("$lab" exec "$LAB_PY" "$REPO/tests/bench/dns_banner.py" 198.18.0.2 25 "$@") || fail "$mode sessions failed"
	b1=$(busy "$lab")
	echo "$lat" | tr ' ' '\n' >>"$BASE/$mode.lat"
	awk -v d=$((b1 - b0)) -v hz="$HZ" -v n=$# 'BEGIN { printf "%.1f\n", d / hz * 1e6 / n }' >>"$BASE/$mode.us"
}

for ((r = 0; r < ROUNDS; r++)); do
	srcs=()
	for ((k = 0; k < N; k++)); do srcs+=("198.18.0.$((100 + r * N + k))"); done
	run nodns labA "${srcs[@]}"
	run cold labB "${srcs[@]}"
	run warm labB "${srcs[@]}"
done
dns_down

stat_line() {
	local mode=$1
	sort -n "$BASE/$mode.lat" | awk -v m="$mode" -v us="$(sort -n "$BASE/$mode.us" | paste -sd' ')" '
		{ v[NR] = $1 }
		END { n = split(us, u, " ")
		      printf "RESULT dns mode=%s sessions=%d banner_us_p50=%d banner_us_p90=%d worker_us_per_session_median=%.1f rounds_us=[%s]\n",
			m, NR, v[int(NR * 0.5) + 1], v[int(NR * 0.9) + 1], u[int((n + 1) / 2)], us }'
}
stat_line nodns
stat_line cold
stat_line warm
B=$(labB stats)
echo "$B" | grep -E '^mxgate_dns_(queries|cache|client_names|timeouts)_total|^mxgate_dnsbl_lookups_total' | grep -v ' 0$' | sed 's/^/  /'
