#!/usr/bin/env bash
# t_rst.sh - a client resets its connection in the middle of a big echo
# (SO_LINGER 0); mxgate takes the RST, frees the connection, and a fresh
# connection still echoes. IPv4 and IPv6.
. "$(dirname "$0")/lib.sh"
lab_begin
lab_up || fail "lab did not come up"
out=$(lab_py rst_mid.py --host 198.18.0.2 --rounds 3 --timeout 60) || fail "$out"
echo "$out"
out=$(lab_py rst_mid.py --host 2001:2::2 --rounds 1 --timeout 30) || fail "$out"
echo "$out"
expect_alive "after the resets"
expect_stat_ge tcp_resets_in 1
wait_stat_eq tcp_conns 0 5
expect_no_bug_drops
pass
