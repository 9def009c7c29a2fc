#!/usr/bin/env bash
# t_cert_rotate.sh - certificates pushed over the control socket replace the
# TLS context while 50 STARTTLS sessions are open: none of them is lost
# (each still delivers a message), new sessions get the new certificate, a
# ticket issued before the swap still resumes, and a bad certificate is
# refused with the old one kept in force.
. "$(dirname "$0")/lib.sh"
lab_begin
sock=$LAB_DIR/ctl.sock
d=$LAB_DIR/rot
mkdir -p "$d" || fail "cannot create $d"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=mx.lab.example \
	-addext subjectAltName=DNS:mx.lab.example -keyout "$d/new.key" -out "$d/new.crt" >/dev/null 2>&1 ||
	fail "openssl: cannot make the new certificate"
lab_up "control_socket = $sock" || fail "lab did not come up"
ctl() { "$LAB_PY" "$LAB_T/ctl_client.py" "$sock" "$@"; }
fp() {  # the SHA-256 prefix of the certificate a new STARTTLS session gets
	echo QUIT | lab_exec timeout 10 openssl s_client -starttls smtp -connect 198.18.0.2:25 2>/dev/null |
		openssl x509 -outform DER 2>/dev/null | sha256sum | cut -c1-16
}
old=$(fp)
[ -n "$old" ] || fail "no certificate from a first session"
(sleep 0.5; printf 'EHLO client.example\r\n'; sleep 0.5; printf 'QUIT\r\n') |
	lab_exec timeout 15 openssl s_client -starttls smtp -connect 198.18.0.2:25 -ign_eof \
	-sess_out "$d/ticket" >/dev/null 2>&1
[ -s "$d/ticket" ] || fail "no ticket before the swap"

rm -f "$d/go"
lab_py smtp_hold.py --count 50 --go "$d/go" --timeout 90 >"$d/hold.out" 2>&1 &
hold=$!
for ((i = 0; i < 300; i++)); do grep -q 'sessions open' "$d/hold.out" 2>/dev/null && break; sleep 0.1; done
grep -q '50 sessions open' "$d/hold.out" || fail "50 sessions did not open: $(cat "$d/hold.out")"
ok "$(head -1 "$d/hold.out")"

out=$(ctl set-certs "bad:$d/new.crt:$LAB_REPO/build/lab/certs/mx.lab.example.key") && fail "a key that does not match was accepted: $out"
ok "mismatched key refused: $out"
[ "$(fp)" = "$old" ] || fail "the refused certificate changed the one in force"
out=$(ctl set-certs "new:$d/new.crt:$d/new.key") || fail "set-certs: $out"
ok "set-certs: $out"
new=$(fp)
[ -n "$new" ] && [ "$new" != "$old" ] || fail "new sessions still get the old certificate ($old -> $new)"
ok "new sessions get the new certificate ($old -> $new)"
st=$(ctl status) || fail "status: $st"
echo "$st" | grep -qE '^certificate new not_after="[A-Z][a-z]{2} .*" source=control default$' ||
	fail "status does not show the certificate in force: $(echo "$st" | grep certificate)"
ok "status: $(echo "$st" | grep '^certificate')"

touch "$d/go"
wait "$hold" || fail "held sessions: $(tail -3 "$d/hold.out")"
ok "$(tail -1 "$d/hold.out")"
n=$(grep -l 'held-' "$LAB_DIR"/mail/* 2>/dev/null | wc -l)
[ "$n" = 50 ] || fail "$n held messages at the backend, expected 50"

out=$( (sleep 0.5; printf 'QUIT\r\n') | lab_exec timeout 15 openssl s_client -starttls smtp \
	-connect 198.18.0.2:25 -ign_eof -sess_in "$d/ticket" 2>&1 | grep -E '^(New|Reused)')
echo "$out" | grep -q '^Reused' || fail "a ticket from before the swap did not resume: $out"
ok "a ticket from before the swap resumes after it"
expect_no_bug_drops
pass
