#!/usr/bin/env bash
# t_smtp_no_read.sh - a client that pipelines EHLO after EHLO and never
# reads a reply (its receive window closes) and never closes: with
# smtpd_timeout_ms = 2000 the command deadline ends the session with a 421
# that cannot be delivered; the session must still be gone within the
# closing bound (10 s), its slot free while the client holds the socket.
# Counted and logged once as a timeout. Before the fix the session, with
# its slot, lived as long as the client kept the connection open.
. "$(dirname "$0")/lib.sh"
lab_begin
lab_up "smtpd_timeout_ms = 2000" || fail "lab did not come up"

lab_py smtp_stranger.py noread --hold 40 >"$LAB_DIR/noread.out" 2>&1 &
cpid=$!
trap 'kill $cpid 2>/dev/null; lab_down >/dev/null 2>&1' EXIT
sleep 4
expect_smtp active -eq 1
# 2 s of deadline plus the 10 s closing bound, with margin for a busy machine
soft_wait_stat_eq mxgate_smtp_active 0 25
kill -0 $cpid 2>/dev/null && ok "the client still holds its socket" || soft_fail "the client ended early: $(cat "$LAB_DIR/noread.out")"
expect_smtp timeouts -eq 1
expect_log 'timeout after EHLO from unknown\[198\.18\.0\.1\]' "timeout after EHLO"
expect_log 'disconnect from unknown\[198\.18\.0\.1\] ehlo=' "disconnect from ..."
wait_stat_eq tcp_conns 0 10
kill $cpid 2>/dev/null
wait $cpid 2>/dev/null
grep -q '^ok: noread' "$LAB_DIR/noread.out" && ok "the client filled the window" || soft_fail "client: $(cat "$LAB_DIR/noread.out")"
expect_alive "after the client that never reads"
lab_end
