#!/usr/bin/env bash
# t_short_conns.sh - 1000 short connections in a row (IPv4) and 200 more
# over IPv6: each connects, echoes 64 bytes and closes. Every one is
# counted as a passive open, and the connection table empties again.
. "$(dirname "$0")/lib.sh"
lab_begin
lab_up || fail "lab did not come up"
out=$(lab_py short_conns.py --host 198.18.0.2 --count 1000 --timeout 120) || fail "$out"
echo "$out"
out=$(lab_py short_conns.py --host 2001:2::2 --count 200 --timeout 60) || fail "$out"
echo "$out"
expect_stat_ge tcp_passive_opens 1200
wait_stat_eq tcp_conns 0 5
expect_no_bug_drops
pass
