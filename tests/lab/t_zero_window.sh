#!/usr/bin/env bash
# t_zero_window.sh - a client that stops reading: its receive window
# closes, mxgate must stop sending, probe the window, and not lose a byte
# when the client reads again. If mxgate counts zero-window probes, there
# must have been some.
. "$(dirname "$0")/lib.sh"
lab_begin
lab_up || fail "lab did not come up"
out=$(lab_py zero_window.py --host 198.18.0.2 --bytes 4000000 --hold 2 --timeout 90) || fail "$out"
echo "$out"
if v=$(lab_stat tcp_zero_window_probes 2>/dev/null); then
	[ "$v" -ge 1 ] || fail "tcp_zero_window_probes = 0 after a 2 s zero window"
	ok "tcp_zero_window_probes = $v"
else
	echo "note: no tcp_zero_window_probes counter; checked byte identity only"
fi
out=$(lab_py zero_window.py --host 2001:2::2 --bytes 4000000 --hold 1 --timeout 90) || fail "$out"
echo "$out"
expect_alive
wait_stat_eq tcp_conns 0 5
expect_no_bug_drops
pass
