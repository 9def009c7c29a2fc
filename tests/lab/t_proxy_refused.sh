#!/usr/bin/env bash
# t_proxy_refused.sh - behind a PROXY v2 header, a backend's policy refusal
# (an X.7.Y enhanced code) of the greeting or of the client's HELO concerns
# that client, not the backend (with backend_retry_ms = 60000 and one
# backend, a rest would give the next client 451 4.4.1 no backend available):
# A: tests/lab/smtp_backend.py --proxy greets 198.18.0.50 with Postfix's
#    "421 4.7.0 ... Error: too many connections from 198.18.0.50" and answers
#    198.18.0.51's EHLO with "554 5.7.1 ... Helo command rejected": each gets
#    a 451 with the backend's reason, and 198.18.0.1 right after each gets
#    250 for its message; logged, counted (backend_client_refused).
# B: the same backend greeting 198.18.0.50 with "421 4.3.2 All server ports
#    are busy" (out of service, not a policy): it rests as before, the next
#    client gets 451 4.4.1 and the backend sees no second connection.
# C: a real Postfix on its PROXY port with smtpd_client_connection_rate_limit
#    = 1: anvil counts the header's address, so 198.18.0.50's second session
#    is greeted with 421 4.7.0; that client gets 451 4.7.0 with Postfix's
#    reason and 198.18.0.1 right after gets Postfix's 250.
. "$(dirname "$0")/lib.sh"
lab_begin
rec=$LAB_DIR/backend.json

# backend OPTIONS...: start the recording backend in the namespace, wait for it
backend() {
	rm -f "$rec"
	lab_exec "$LAB_PY" "$LAB_T/smtp_backend.py" --out "$rec" --timeout 60 "$@" \
		>"$LAB_DIR/backend.log" 2>&1 &
	for ((i = 0; i < 50; i++)); do grep -q listening "$LAB_DIR/backend.log" 2>/dev/null && return 0; sleep 0.1; done
	fail "smtp_backend did not start: $(cat "$LAB_DIR/backend.log")"
}
# send SRC TAG: one message through mxgate from SRC; prints swaks' replies
send() {
	lab_exec timeout 20 swaks --server 198.18.0.2 --port 25 --local-interface "$1" --helo client.example \
		--from a@client.example --to b@lab.example --header "Subject: $2" --body "relay $2" 2>&1 | grep -E '^<'
}
# records PYEXPR: a value computed over the backend's session records (list r)
records() {
	"$LAB_PY" -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; print($1)" "$rec"
}
# wait_records N: until the backend has written N session records (5 s)
wait_records() {
	for ((i = 0; i < 50; i++)); do [ "$(wc -l <"$rec" 2>/dev/null)" -ge "$1" ] && return 0; sleep 0.1; done
	return 1
}
# queued OUT WHAT: swaks' replies OUT end in the backend's 250
queued() {
	echo "$1" | grep -qE '^<- +250 2\.0\.0 Ok: queued' || fail "$2: $1"
}

# A: per-client policy refusals behind PROXY v2
lab_up "backends = 198.18.1.1:2525/proxy" "backend_retry_ms = 60000" || fail "lab did not come up"
lab_exec ip addr add 198.18.0.50/24 dev mxout || fail "cannot add 198.18.0.50"
lab_exec ip addr add 198.18.0.51/24 dev mxout || fail "cannot add 198.18.0.51"
backend --port 2525 --proxy --proxy-refuse 198.18.0.50 --helo-refuse 198.18.0.51 --sessions 4
out=$(send 198.18.0.50 refused)
echo "$out" | grep -qE '^<\*\* +451 4\.7\.0 backend\.lab\.example Error: too many connections from 198\.18\.0\.50' ||
	fail "A: the client refused at the greeting did not get the backend's reason as a 4xx: $out"
ok "greeting refused: 451 4.7.0 backend.lab.example Error: too many connections from 198.18.0.50"
queued "$(send 198.18.0.1 good1)" "A: the next client did not get 250 (backend rested?)"
ok "the next client (198.18.0.1): 250 2.0.0 Ok: queued (the backend did not rest)"
out=$(send 198.18.0.51 helo)
echo "$out" | grep -qE '^<\*\* +451 4\.7\.1 <client\.example>: Helo command rejected: Access denied' ||
	fail "A: the client refused at HELO did not get the backend's reason as a 4xx: $out"
ok "HELO refused: 451 4.7.1 <client.example>: Helo command rejected: Access denied"
queued "$(send 198.18.0.1 good2)" "A: the client after the HELO refusal did not get 250 (backend rested?)"
ok "the next client (198.18.0.1): 250 2.0.0 Ok: queued"
wait_records 4 || fail "A: the backend recorded $(wc -l <"$rec" 2>/dev/null) sessions, expected 4: $(cat "$rec")"
[ "$(records "[s['proxy']['src'] for s in r if s['messages']]")" = "['198.18.0.1', '198.18.0.1']" ] ||
	fail "A: the messages did not come as 198.18.0.1's: $(cat "$rec")"
[ "$(records "sorted(s['proxy']['src'] for s in r if s.get('greeting') or s.get('helo_refused'))")" = \
	"['198.18.0.50', '198.18.0.51']" ] || fail "A: backend records: $(cat "$rec")"
ok "the backend refused 198.18.0.50 and 198.18.0.51 and stored both messages of 198.18.0.1"
expect_log 'backend 0 unknown\[198\.18\.1\.1\]:2525 refused client 198\.18\.0\.50 at greeting after PROXY: 421 4\.7\.0 .*; the backend stays in service' \
	"backend 0 refused client 198.18.0.50 at greeting after PROXY ...; the backend stays in service"
expect_log 'refused client 198\.18\.0\.51 at HELO after PROXY: 554 5\.7\.1 <client\.example>: Helo command rejected' \
	"backend 0 refused client 198.18.0.51 at HELO after PROXY: 554 5.7.1 ..."
expect_log 'NOQUEUE: reject: MAIL from unknown\[198\.18\.0\.50\]: 451 4\.7\.0 ' "NOQUEUE: reject: MAIL from unknown[198.18.0.50]: 451 4.7.0"
grep -q 'bad greeting\|EHLO refused' "$LAB_DIR/mxgate.log" && fail "A: a refusal was taken for a broken backend: $(grep -m1 'bad greeting\|EHLO refused' "$LAB_DIR/mxgate.log")"
expect_smtp backend_client_refused -eq 2
expect_smtp 'messages{result="accepted"}' -eq 2
lab_down >/dev/null 2>&1

# B: a backend out of service (4.3.2) still rests
lab_up "backends = 198.18.1.1:2526/proxy" "backend_retry_ms = 60000" || fail "lab did not come up (B)"
lab_exec ip addr add 198.18.0.50/24 dev mxout || fail "cannot add 198.18.0.50 (B)"
backend --port 2526 --proxy --proxy-refuse "198.18.0.50=421 4.3.2 backend.lab.example All server ports are busy" --sessions 2
out=$(send 198.18.0.50 busy)
echo "$out" | grep -qE '^<\*\* +451 4\.4\.1 ' || fail "B: a busy backend's client did not get 451 4.4.1: $out"
out=$(send 198.18.0.1 after-busy)
echo "$out" | grep -qE '^<\*\* +451 4\.4\.1 Error: no backend available' ||
	fail "B: the backend that said 4.3.2 did not rest: $out"
ok "421 4.3.2 at the greeting: the backend rests (the next client: 451 4.4.1 no backend available)"
wait_records 1 || fail "B: no backend record"
[ "$(wc -l <"$rec")" = 1 ] || fail "B: the resting backend was connected again: $(cat "$rec")"
expect_log 'lost connection with backend 0 \(bad greeting\)' "lost connection with backend 0 (bad greeting)"
expect_smtp backend_client_refused -eq 0
lab_down >/dev/null 2>&1

# C: a real Postfix's per-client connection rate limit behind PROXY v2
PF_SETUP=(--proxy-rate-limit 1)
postfix_lab_up "backends = 198.18.1.1:2526/proxy" "backend_retry_ms = 60000"
lab_exec ip addr add 198.18.0.50/24 dev mxout || fail "cannot add 198.18.0.50 (C)"
queued "$(send 198.18.0.50 first)" "C: 198.18.0.50's first message did not get Postfix's 250"
ok "198.18.0.50's first session: Postfix's 250"
out=$(send 198.18.0.50 second)
echo "$out" | grep -qE '^<\*\* +451 4\.7\.0 backend\.lab\.example Error: too many connections from 198\.18\.0\.50' ||
	fail "C: the client over Postfix's rate limit did not get its reason as a 4xx: $out"
ok "198.18.0.50's second session: 451 4.7.0 backend.lab.example Error: too many connections from 198.18.0.50"
queued "$(send 198.18.0.1 other)" "C: the next client did not get Postfix's 250 (backend rested?)"
ok "the next client (198.18.0.1): Postfix's 250 (the backend did not rest)"
pf wait-log --re 'Connection rate limit exceeded: 2 from unknown\[198\.18\.0\.50\]' --timeout 5 ||
	fail "C: Postfix did not log the rate limit for 198.18.0.50"
expect_log 'refused client 198\.18\.0\.50 at greeting after PROXY: 421 4\.7\.0 backend\.lab\.example Error: too many connections from 198\.18\.0\.50; the backend stays in service' \
	"refused client 198.18.0.50 at greeting after PROXY: 421 4.7.0 (Postfix)"
expect_smtp backend_client_refused -eq 1
expect_smtp 'messages{result="accepted"}' -eq 2
pf stop >/dev/null 2>&1
PF_UP=
expect_no_bug_drops
lab_end
