#!/usr/bin/env bash
# t_half_close.sh - the client sends, then shuts down its sending side
# (FIN); mxgate must still echo everything and close only after that.
# 1 MB and 0 bytes, IPv4 and IPv6.
. "$(dirname "$0")/lib.sh"
lab_begin
lab_up || fail "lab did not come up"
for host in 198.18.0.2 2001:2::2; do
	for n in 1000000 1 0; do
		out=$(lab_py half_close.py --host "$host" --bytes "$n" --timeout 30) || fail "$out"
		echo "$out"
	done
done
wait_stat_eq tcp_conns 0 5
expect_no_bug_drops
pass
