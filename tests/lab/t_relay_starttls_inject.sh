#!/usr/bin/env bash
# t_relay_starttls_inject.sh - STARTTLS response injection towards a
# backend (the "NO STARTTLS" class, CVE-2011-0411 seen from the client's
# side): a backend (or someone in its path) sends plaintext with its 220 to
# STARTTLS, here "250-XCLIENT NAME ADDR PORT PROTO HELO LOGIN" (the first
# line of a reply). mxgate must not carry it into TLS: the connection is
# given up at once (backend error, logged), the client's MAIL gets 451,
# nothing is delivered, and the backend never sees the XCLIENT the
# injected line offered. Before the fix the plaintext line stayed in the
# reply assembler and joined the EHLO reply received inside TLS, so mxgate
# believed the offer and sent XCLIENT to a backend that never made it.
. "$(dirname "$0")/lib.sh"
lab_begin
certs=$LAB_REPO/build/lab/certs
rec=$LAB_DIR/backend.json
rm -f "$rec"

lab_up "backends = 198.18.1.1:2611/starttls" || fail "lab did not come up"
lab_exec "$LAB_PY" "$LAB_T/smtp_backend.py" --port 2611 --out "$rec" --sessions 4 --timeout 40 \
	--tls-cert "$certs/mx.lab.example.crt" --tls-key "$certs/mx.lab.example.key" \
	--inject-after-starttls '250-XCLIENT NAME ADDR PORT PROTO HELO LOGIN\r\n' >"$LAB_DIR/backend.log" 2>&1 &
for ((i = 0; i < 200; i++)); do grep -q listening "$LAB_DIR/backend.log" 2>/dev/null && break; sleep 0.1; done
grep -q listening "$LAB_DIR/backend.log" || fail "smtp_backend did not start: $(cat "$LAB_DIR/backend.log")"

out=$(lab_exec timeout 30 swaks --server 198.18.0.2 --helo client.example --from a@client.example \
	--to b@lab.example --body "injected" 2>&1)
echo "$out" | grep -E '^<' | tail -3
echo "$out" | grep -qE '^<\** +451 4\.4\.1' && ok "MAIL: 451 4.4.1" || soft_fail "MAIL did not get 451 4.4.1"
echo "$out" | grep -qE '^<\** +250 2\.0\.0' && soft_fail "the message was accepted" || ok "no 250 for the message"
for ((i = 0; i < 50; i++)); do [ -s "$rec" ] && break; sleep 0.1; done
sleep 0.5
cat "$rec"
if grep -q '"XCLIENT"' "$rec"; then
	soft_fail "the backend got XCLIENT: the injected offer was believed"
else
	ok "no XCLIENT sent on the strength of the injected line"
fi
grep -q '"messages": \[\]' "$rec" && ! grep -q '"messages": \[{' "$rec" && ok "nothing delivered" ||
	soft_fail "a message reached the backend"
expect_log 'lost connection with backend 0 \(plaintext after the 220 to STARTTLS\)' \
	"lost connection with backend 0 (plaintext after the 220 to STARTTLS)"
expect_smtp backend_errors -ge 1
expect_alive "after the injection"
lab_end
