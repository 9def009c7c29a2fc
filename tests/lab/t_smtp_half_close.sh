#!/usr/bin/env bash
# t_smtp_half_close.sh - a client that sends a whole transaction in one
# write and then shuts down its sending side (FIN), reading on (nc -N, a
# pipelining client that is done), while the backend holds its 250 to the
# final dot for 2 s: the client must hear that 250 (and the 221 when QUIT
# followed the dot), then mxgate closes; each message is at the backend
# once and logged as sent. Before the fix, the FIN ended the session at
# once: the backend had the message, the client heard nothing after 354
# and would send it again.
# Then a client that resets the connection right after its final dot:
# the backend has the message, the client heard nothing, so the log must
# say "lost connection after END-OF-MESSAGE" and that the message may have
# been delivered (before the fix mxgate logged nothing of the kind: only a
# "disconnect ... data=0/1", while the backend had stored it).
. "$(dirname "$0")/lib.sh"
lab_begin
msgs=$LAB_DIR/messages.jsonl
rm -f "$msgs"

lab_up "backends = 198.18.1.1:2610" || fail "lab did not come up"
lab_exec "$LAB_PY" "$LAB_T/smtp_backend.py" --port 2610 --out "$LAB_DIR/backend.json" --messages "$msgs" \
	--delay dot=2 --sessions 3 --timeout 60 >"$LAB_DIR/backend.log" 2>&1 &
for ((i = 0; i < 200; i++)); do grep -q listening "$LAB_DIR/backend.log" 2>/dev/null && break; sleep 0.1; done
grep -q listening "$LAB_DIR/backend.log" || fail "smtp_backend did not start: $(cat "$LAB_DIR/backend.log")"

soft_run "half-closed clients hear the backend's 250" lab_py smtp_stranger.py halfclose --tag hc
for t in hc-fin hc-quit; do
	n=$(grep -c "<$t@client.example>" "$msgs" 2>/dev/null)
	[ "${n:-0}" = 1 ] && ok "$t: at the backend once" || soft_fail "$t: at the backend ${n:-0} time(s)"
done
expect_log 'status=sent \(250 ' "the messages logged as sent"
log_has 'disconnect from unknown\[198\.18\.0\.1\] ehlo=1 mail=1 rcpt=1 data=1 commands=4$' &&
	ok "log: disconnect ... data=1 commands=4 (FIN after the dot)" ||
	soft_fail "no disconnect line with data=1 for the FIN after the dot"
expect_smtp 'messages{result="accepted"}' -eq 2

soft_run "a reset right after the final dot" lab_py smtp_stranger.py rstdot --tag hc-rst
sleep 1
n=$(grep -c "<hc-rst@client.example>" "$msgs" 2>/dev/null)
[ "${n:-0}" = 1 ] && ok "hc-rst: at the backend once" || soft_fail "hc-rst: at the backend ${n:-0} time(s)"
expect_log 'lost connection after END-OF-MESSAGE from unknown\[198\.18\.0\.1\]$' \
	"lost connection after END-OF-MESSAGE"
expect_log '[0-9A-Za-z]+: the client left before the backend.s verdict on its message: the message may have been delivered' \
	"the message may have been delivered"
soft_wait_stat_eq mxgate_smtp_active 0 5
expect_alive "after the half-closed clients"
lab_end
