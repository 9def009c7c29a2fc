#!/usr/bin/env bash
# t_two_workers.sh - two worker lcores (1 and 2): 64 concurrent
# connections echo correctly, and both workers own some of them (passive
# opens on each lcore). Steered packets are reported, not required.
. "$(dirname "$0")/lib.sh"
lab_begin
export LAB_WORKERS=2
lab_up "worker_lcores = 1,2" || fail "lab did not come up"
out=$(lab_py echo_load.py --host 198.18.0.2 --conns 64 --bytes 16000000 --timeout 150) || fail "$out"
echo "$out"
out=$(lab_py echo_load.py --host 2001:2::2 --conns 16 --bytes 4000000 --timeout 60) || fail "$out"
echo "$out"
lab_snap || fail "cannot read counters"
p1=$(lab_stat_cached tcp_passive_opens "" 1) || fail "no tcp_passive_opens for lcore 1"
p2=$(lab_stat_cached tcp_passive_opens "" 2) || fail "no tcp_passive_opens for lcore 2"
s1=$(lab_stat_cached steered_out 2>/dev/null)
s2=$(lab_stat_cached steered_in 2>/dev/null)
echo "passive opens: lcore 1 $p1, lcore 2 $p2; steered out $s1, in $s2"
[ $((p1 + p2)) -ge 80 ] || fail "passive opens $p1 + $p2 < 80 connections made"
[ "$p1" -gt 0 ] || fail "lcore 1 accepted no connection"
[ "$p2" -gt 0 ] || fail "lcore 2 accepted no connection"
ok "both workers accepted connections"
wait_stat_eq tcp_conns 0 10
expect_no_bug_drops
pass
