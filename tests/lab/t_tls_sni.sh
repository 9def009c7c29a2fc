#!/usr/bin/env bash
# t_tls_sni.sh - TLS as a client sees it: two certificates (RSA-2048 for
# mx.lab.example, the default, and ECDSA P-256 for other.lab.example) are
# chosen by SNI; a session ticket from one connection resumes the next;
# TLS 1.2 works; garbage after STARTTLS ends the session and is counted.
. "$(dirname "$0")/lib.sh"
lab_begin
tmp=$LAB_DIR/sni
mkdir -p "$tmp" || fail "cannot create $tmp"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
	-subj /CN=other.lab.example -addext subjectAltName=DNS:other.lab.example \
	-keyout "$tmp/other.key" -out "$tmp/other.crt" >/dev/null 2>&1 || fail "openssl: cannot make a certificate"
certs=$LAB_REPO/build/lab/certs
lab_up "tls_cert_file = $certs/mx.lab.example.crt $tmp/other.crt" \
       "tls_key_file = $certs/mx.lab.example.key $tmp/other.key" || fail "lab did not come up"

# s_client NAME [options...]: the subject and signature type the server showed
sclient() {
	local sn=$1
	shift
	echo QUIT | lab_exec timeout 15 openssl s_client -starttls smtp -connect 198.18.0.2:25 \
		-servername "$sn" "$@" 2>&1
}
out=$(sclient other.lab.example)
echo "$out" | grep -q '^subject=CN = other.lab.example' || fail "SNI other.lab.example: $(echo "$out" | grep -E '^subject|error' | head -3)"
echo "$out" | grep -q 'Peer signature type: ECDSA' || fail "other.lab.example was not signed with ECDSA"
ok "SNI other.lab.example gets the ECDSA certificate"
for sn in mx.lab.example unknown.example; do
	out=$(sclient "$sn")
	echo "$out" | grep -q '^subject=CN = mx.lab.example' || fail "SNI $sn: $(echo "$out" | grep -E '^subject' | head -1)"
done
ok "mx.lab.example and unknown names get the default RSA certificate"

out=$(sclient mx.lab.example -tls1_2)
echo "$out" | grep -qE 'Protocol *: TLSv1.2' || fail "TLS 1.2: $(echo "$out" | grep -E 'Protocol|error' | head -2)"
ok "TLS 1.2 handshake"

# resumption: a ticket saved from one session is offered in the next. TLS 1.3
# tickets come after the handshake, so the client talks a little first.
slow() {
	(sleep 0.5; printf 'EHLO client.example\r\n'; sleep 0.5; printf 'QUIT\r\n') |
		lab_exec timeout 15 openssl s_client -starttls smtp -connect 198.18.0.2:25 \
		-servername mx.lab.example -ign_eof "$@" 2>&1
}
slow -sess_out "$tmp/sess" >/dev/null
[ -s "$tmp/sess" ] || fail "no session ticket was issued"
out=$(slow -sess_in "$tmp/sess")
echo "$out" | grep -q '^Reused, TLSv1.3' || fail "ticket not accepted: $(echo "$out" | grep -E '^(New|Reused)' | head -1)"
expect_stat_ge smtp_tls_resumed 1
ok "a session ticket resumes"

# garbage where the ClientHello should be
before=$(lab_stat smtp_tls_failed) || fail "cannot read smtp_tls_failed"
out=$(lab_py smtp_garbage.py 2>&1) || fail "garbage client: $out"
echo "$out"
wait_stat_ge() { local i v; for ((i = 0; i < 50; i++)); do v=$(lab_stat "$1"); [ "$v" -ge "$2" ] && return 0; sleep 0.1; done; return 1; }
wait_stat_ge smtp_tls_failed $((before + 1)) || fail "smtp_tls_failed did not rise"
expect_alive "after TLS garbage"
expect_echo 1000
expect_no_bug_drops
pass
