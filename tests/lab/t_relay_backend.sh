#!/usr/bin/env bash
# t_relay_backend.sh - what the backend MTA learns, checked with a recording
# backend (tests/lab/smtp_backend.py): XCLIENT attributes (ADDR, PORT, HELO,
# PROTO); a PROXY v2 header with the client's address and the TLS facts in
# PP2_TYPE_SSL (version, cipher); STARTTLS to the backend (/starttls), and a
# /starttls backend that does not offer STARTTLS gets no plaintext message.
. "$(dirname "$0")/lib.sh"
lab_begin
certs=$LAB_REPO/build/lab/certs
rec=$LAB_DIR/backend.json

# backend OPTIONS...: start the recording backend in the namespace, wait for it
backend() {
	rm -f "$rec"
	lab_exec "$LAB_PY" "$LAB_T/smtp_backend.py" --out "$rec" --sessions 1 --timeout 40 "$@" \
		>"$LAB_DIR/backend.log" 2>&1 &
	for ((i = 0; i < 50; i++)); do grep -q listening "$LAB_DIR/backend.log" 2>/dev/null && return 0; sleep 0.1; done
	fail "smtp_backend did not start: $(cat "$LAB_DIR/backend.log")"
}
# send TAG: one STARTTLS message through mxgate; prints swaks' last replies
send() {
	lab_exec timeout 20 swaks --server 198.18.0.2 --port 25 --tls --helo client.example \
		--from a@client.example --to b@lab.example --body "relay $1" 2>&1 | grep -E '^<' | tail -3
}
# field PYEXPR: a value from the backend's record of the session
field() {
	for ((i = 0; i < 50; i++)); do [ -s "$rec" ] && break; sleep 0.1; done
	"$LAB_PY" -c "import json,sys; r=json.loads(open(sys.argv[1]).readline()); print($1)" "$rec"
}

# A: XCLIENT and STARTTLS to the backend
lab_up "backends = 198.18.1.1:2525/starttls" || fail "lab did not come up"
backend --port 2525 --xclient --tls-cert "$certs/mx.lab.example.crt" --tls-key "$certs/mx.lab.example.key"
out=$(send a)
echo "$out" | grep -q '250 2.0.0' || fail "A: not accepted: $out"
[ "$(field "r['tls']['version'] if r['tls'] else None")" = TLSv1.3 ] || fail "A: backend session not TLS 1.3: $(cat "$rec")"
ok "STARTTLS to the backend (TLSv1.3)"
[ "$(field "r['xclient'].get('ADDR')")" = 198.18.0.1 ] || fail "A: XCLIENT ADDR: $(field "r['xclient']")"
[ "$(field "r['xclient'].get('HELO')")" = client.example ] || fail "A: XCLIENT HELO: $(field "r['xclient']")"
[ "$(field "r['xclient'].get('PROTO')")" = ESMTP ] || fail "A: XCLIENT PROTO: $(field "r['xclient']")"
p=$(field "r['xclient'].get('PORT')")
[ "$p" -gt 0 ] 2>/dev/null || fail "A: XCLIENT PORT '$p'"
ok "XCLIENT ADDR=198.18.0.1 PORT=$p HELO=client.example PROTO=ESMTP"
field "r['messages'][0]['body']" | grep -q 'version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 bits=256 verify=NOT' ||
	fail "A: Received header without the TLS facts"
field "r['messages'][0]['body']" | grep -q '^relay a' || fail "A: body missing"
ok "message and Received header arrived"
expect_stat_ge 'smtp_announced{method="xclient"}' 1
lab_down >/dev/null 2>&1

# B: PROXY v2 with the TLS TLVs
lab_up "backends = 198.18.1.1:2526/proxy" || fail "lab did not come up (B)"
backend --port 2526 --proxy
out=$(send b)
echo "$out" | grep -q '250 2.0.0' || fail "B: not accepted: $out"
[ "$(field "r['proxy']['src']")" = 198.18.0.1 ] || fail "B: PROXY src: $(field "r['proxy']")"
[ "$(field "r['proxy']['dst']")" = 198.18.0.2 ] || fail "B: PROXY dst: $(field "r['proxy']")"
[ "$(field "r['proxy']['dport']")" = 25 ] || fail "B: PROXY dport: $(field "r['proxy']")"
[ "$(field "r['proxy']['tlvs']['ssl']['version']")" = TLSv1.3 ] || fail "B: SSL TLV version: $(field "r['proxy']['tlvs']")"
[ "$(field "r['proxy']['tlvs']['ssl']['cipher']")" = TLS_AES_256_GCM_SHA384 ] || fail "B: SSL TLV cipher"
[ "$(field "r['proxy']['tlvs']['ssl']['client'] & 1")" = 1 ] || fail "B: PP2_CLIENT_SSL not set"
[ "$(field "r['xclient']")" = None ] || fail "B: XCLIENT sent to a PROXY backend"
ok "PROXY v2: 198.18.0.1 -> 198.18.0.2:25, SSL TLV TLSv1.3 TLS_AES_256_GCM_SHA384"
expect_stat_ge 'smtp_announced{method="proxy_v2"}' 1
lab_down >/dev/null 2>&1

# C: /starttls required, not offered: a 4xx, never the message in plaintext
lab_up "backends = 198.18.1.1:2527/starttls" || fail "lab did not come up (C)"
backend --port 2527
out=$(send c)
echo "$out" | grep -qE '^<(\*\*|~\*) +451 4\.4\.1' || fail "C: expected 451 4.4.1, got: $out"
[ "$(field "len(r['messages'])")" = 0 ] || fail "C: the message went to the backend in plaintext"
ok "no STARTTLS at the backend: 451 4.4.1, nothing sent"
expect_no_bug_drops
pass
