#!/usr/bin/env bash
# t_xclient_refused.sh - a backend's refusal at XCLIENT concerns one client,
# not the backend (tests/lab/smtp_backend.py as the backend):
# A: the backend answers XCLIENT for 198.18.0.50 with 421 4.7.0 "too many
#    connections" (Postfix's per-client connection limits): that client's MAIL
#    gets a 4xx with the backend's reason, the backend does not rest (with
#    backend_retry_ms = 60000, a rest would give the next client 451 4.4.1),
#    and the next client (198.18.0.1) gets 250 for its message; counted
#    (mxgate_smtp_backend_client_refused_total) and logged.
# B: a backend announcing Haraka's "XCLIENT NAME ADDR PROTO HELO" (it refuses
#    any other attribute) gets no PORT=, and the message goes through.
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
		--from a@client.example --to b@lab.example --body "relay $2" 2>&1 | grep -E '^<'
}
# records PYEXPR: a value computed over the backend's session records (list r)
records() {
	"$LAB_PY" -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; print($1)" "$rec"
}

# A: a per-client 421 at XCLIENT
lab_up "backends = 198.18.1.1:2525" "backend_retry_ms = 60000" || fail "lab did not come up"
lab_exec ip addr add 198.18.0.50/24 dev mxout || fail "cannot add 198.18.0.50"
backend --port 2525 --xclient --xclient-refuse 198.18.0.50 --sessions 2
out=$(send 198.18.0.50 refused)
echo "$out" | grep -qE '^<\*\* +451 4\.7\.0 backend\.lab\.example Error: too many connections from 198\.18\.0\.50' ||
	fail "A: the refused client did not get the backend's reason as a 4xx: $out"
ok "refused client: 451 4.7.0 backend.lab.example Error: too many connections from 198.18.0.50"
out=$(send 198.18.0.1 good)
echo "$out" | grep -qE '^<- +250 2\.0\.0 Ok: queued' || fail "A: the next client did not get 250 (backend rested?): $out"
ok "the next client (198.18.0.1): 250 2.0.0 Ok: queued (the backend did not rest)"
for ((i = 0; i < 50; i++)); do [ "$(wc -l <"$rec" 2>/dev/null)" -ge 2 ] && break; sleep 0.1; done
[ "$(records "sum(len(s['messages']) for s in r)")" = 1 ] || fail "A: backend records: $(cat "$rec")"
[ "$(records "[s['xclient']['ADDR'] for s in r if s['messages']]")" = "['198.18.0.1']" ] ||
	fail "A: the message did not come as 198.18.0.1's: $(cat "$rec")"
ok "the backend stored 198.18.0.1's message"
expect_log 'backend 0 unknown\[198\.18\.1\.1\]:2525 refused client 198\.18\.0\.50 at XCLIENT: 421 4\.7\.0 .*; the backend stays in service' \
	"backend 0 refused client 198.18.0.50 at XCLIENT ...; the backend stays in service"
expect_log 'NOQUEUE: reject: MAIL from unknown\[198\.18\.0\.50\]: 451 4\.7\.0 ' "NOQUEUE: reject: MAIL from unknown[198.18.0.50]: 451 4.7.0"
expect_smtp backend_client_refused -eq 1
expect_smtp 'messages{result="accepted"}' -eq 1
lab_down >/dev/null 2>&1

# B: Haraka's attribute list, no PORT
lab_up "backends = 198.18.1.1:2526" || fail "lab did not come up (B)"
backend --port 2526 --xclient --xclient-attrs "NAME ADDR PROTO HELO" --sessions 1
out=$(send 198.18.0.1 haraka)
echo "$out" | grep -qE '^<- +250 2\.0\.0 Ok: queued' || fail "B: not accepted: $out ($(cat "$rec" 2>/dev/null))"
for ((i = 0; i < 50; i++)); do [ -s "$rec" ] && break; sleep 0.1; done
[ "$(records "sorted(r[0]['xclient'])")" = "['ADDR', 'HELO', 'NAME', 'PROTO']" ] ||
	fail "B: XCLIENT attributes sent: $(records "r[0]['xclient']")"
[ "$(records "r[0]['xclient']['ADDR']")" = 198.18.0.1 ] || fail "B: XCLIENT ADDR: $(records "r[0]['xclient']")"
ok "XCLIENT ADDR=198.18.0.1 NAME HELO PROTO, no PORT= (not announced); the message went through"
expect_smtp backend_client_refused -eq 0
expect_smtp backend_errors -eq 0
expect_no_bug_drops
lab_end
