#!/usr/bin/env bash
# t_smtp_slow_backend.sh - a slow backend never duplicates mail. While mxgate
# waits for the backend's reply (MAIL, RCPT, DATA, the final dot), the
# client's deadline is paused and only backend_timeout_ms runs:
#  A  client deadline (2 s) shorter than the backend's (20 s), the backend
#     slow to answer MAIL (3 s) and the dot (4 s, after storing the message):
#     the client gets the backend's 250, once; the message is stored once.
#  B  backend deadline (2 s) shorter, the backend answers the dot after 6 s:
#     the client gets 451 4.4.1, the log says the message may have been
#     delivered, and the timeout is counted as END-OF-MESSAGE.
#  C  backend deadline (2 s), the backend slow to answer RCPT (6 s): 421 or
#     451 to the client, counted as RCPT; nothing stored.
# Before the fix, A gave "421 4.4.2 timeout exceeded" (logged "timeout after
# HELO") and the client's retry stored the message twice, and B hung until
# the client's own timeout with no backend timeout at all.
. "$(dirname "$0")/lib.sh"
lab_begin
rec=$LAB_DIR/backend.json
msgs=$LAB_DIR/messages.json

# backend PORT OPTIONS...: the recording backend in the namespace
backend() {
	local port=$1
	shift
	rm -f "$rec" "$msgs"
	lab_exec "$LAB_PY" "$LAB_T/smtp_backend.py" --port "$port" --out "$rec" --messages "$msgs" \
		--sessions 3 --timeout 60 "$@" >"$LAB_DIR/backend.log" 2>&1 &
	for ((i = 0; i < 50; i++)); do grep -q listening "$LAB_DIR/backend.log" 2>/dev/null && return 0; sleep 0.1; done
	fail "smtp_backend did not start: $(cat "$LAB_DIR/backend.log")"
}
stored() { local n; n=$(grep -c "$1" "$msgs" 2>/dev/null); echo "${n:-0}"; }

# A: the client's deadline is shorter than the backend's answers
lab_up "backends = 198.18.1.1:2600" "smtpd_timeout_ms = 2000" "backend_timeout_ms = 20000" ||
	fail "lab did not come up (A)"
backend 2600 --delay mail=3 --delay dot=4
soft_run "A: the slow backend's 250 reaches the client" \
	lab_py smtp_hostile.py one --msgid slow-a --expect 250 --final-timeout 30
n=$(stored slow-a)
[ "$n" = 1 ] && ok "A: stored once" || soft_fail "A: stored $n times"
expect_smtp timeouts -eq 0
expect_smtp 'messages{result="accepted"}' -eq 1
if grep -q 'timeout after' "$LAB_DIR/mxgate.log"; then
	soft_fail "A: a client timeout was logged: $(grep 'timeout after' "$LAB_DIR/mxgate.log")"
fi
# and the deadline still works once the backend has answered: an idle client
soft_run "A: an idle client still times out" lab_py smtp_hostile.py idle --within 6
expect_smtp timeouts -eq 1
expect_log 'timeout after EHLO from unknown\[198\.18\.0\.1\]' "timeout after EHLO"
lab_down >/dev/null 2>&1

# B: the backend's deadline is shorter: 451 4.4.1 after the dot, and said so
lab_up "backends = 198.18.1.1:2601" "smtpd_timeout_ms = 30000" "backend_timeout_ms = 2000" ||
	fail "lab did not come up (B)"
backend 2601 --delay dot=6
soft_run "B: the client is told 451 4.4.1 after the backend's deadline" \
	lab_py smtp_hostile.py one --msgid slow-b --expect 451 --final-timeout 20
expect_log 'timeout with backend 0 after END-OF-MESSAGE: the message may have been delivered' \
	"B: the log says the message may have been delivered"
expect_smtp backend_timeouts -eq 1
expect_smtp 'messages{result="tempfailed"}' -eq 1
expect_smtp timeouts -eq 0
v=$(lab_stat_label mxgate_smtp_backend_timeouts_by_wait_total waiting END-OF-MESSAGE)
[ "$v" = 1 ] && ok "B: counted as END-OF-MESSAGE" || soft_fail "B: backend timeouts{waiting=END-OF-MESSAGE} = $v"
lab_down >/dev/null 2>&1

# C: no reply to RCPT within the backend's deadline
lab_up "backends = 198.18.1.1:2602" "smtpd_timeout_ms = 30000" "backend_timeout_ms = 2000" ||
	fail "lab did not come up (C)"
backend 2602 --delay rcpt=6
out=$(lab_exec timeout 20 swaks --server 198.18.0.2 --port 25 --helo client.example \
	--from a@client.example --to b@lab.example --body "slow rcpt" 2>&1)
echo "$out" | grep -E '^<' | tail -3
echo "$out" | grep -qE '^<\*\* +4[25]1 4\.4\.[12]' && ok "C: 4xx to the RCPT" ||
	soft_fail "C: no 4xx to RCPT: $(echo "$out" | grep -E '^<' | tail -2)"
v=$(lab_stat_label mxgate_smtp_backend_timeouts_by_wait_total waiting RCPT)
[ "$v" = 1 ] && ok "C: counted as RCPT" || soft_fail "C: backend timeouts{waiting=RCPT} = $v"
[ "$(stored slow)" = 0 ] && ok "C: nothing stored" || soft_fail "C: a message was stored"
expect_log 'lost connection with backend 0 \(timeout\) while waiting for RCPT' "C: the log names RCPT"
expect_no_bug_drops
lab_end
