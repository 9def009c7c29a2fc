#!/usr/bin/env bash
# t_malformed.sh - a few hundred broken frames of each kind (tests/lab/
# malformed.py) go straight onto mxout; each kind must raise its drop
# counter, mxgate must live on, and ping and echo must still work.
. "$(dirname "$0")/lib.sh"
lab_begin
lab_up || fail "lab did not come up"
COUNT=300
KINDS="ip4_csum tcp_csum ip4_short tcp_short tcp_bad_options ip4_fragment icmp_bad ip6_short"
lab_snap || fail "cannot read counters"
declare -A before
for r in $KINDS; do
	before[$r]=$(lab_stat_cached drops "$r") || fail "no drops counter for reason $r"
done
cp "$LAB_DIR/snap.prom" "$LAB_DIR/snap.before.prom"
out=$(lab_py malformed.py --iface mxout --count $COUNT --kinds "${KINDS// /,}" --timeout 60) || fail "$out"
echo "$out"
sleep 0.5
expect_alive "after the malformed frames"
lab_snap || fail "cannot read counters"
bad=
for r in $KINDS; do
	a=$(lab_stat_cached drops "$r")
	d=$((a - before[$r]))
	echo "drops{reason=$r} +$d (sent $COUNT)"
	[ $d -ge $((COUNT / 2)) ] || bad="$bad $r(+$d)"
done
# every drop reason that moved, to see where frames went instead
echo "all drop counters that rose:"
awk 'NR==FNR { if ($1 ~ /^mxgate_drops_total/) { k=$1; sub(/lcore="[0-9]+",?/, "", k); b[k]+=$NF } next }
     $1 ~ /^mxgate_drops_total/ { k=$1; sub(/lcore="[0-9]+",?/, "", k); a[k]+=$NF }
     END { for (k in a) if (a[k] > b[k]) printf "  %s +%d\n", k, a[k]-b[k] }' \
	"$LAB_DIR/snap.before.prom" "$LAB_DIR/snap.prom"
[ -z "$bad" ] || fail "drop counters that did not rise by $((COUNT / 2)) or more:$bad"
lab_ping 198.18.0.2 3
lab_ping 2001:2::2 3
expect_echo 65536
expect_no_bug_drops
pass
