#!/usr/bin/env bash
# t_tls_client_cert.sh - with tls_ask_client_cert = yes and a CA file, the
# session's {verify} is OK for a certificate from that CA, NO without one,
# FAIL for a self-signed one; the Received header and the log say so
# ("Trusted TLS connection established"), and the handshake never fails
# because of it (sendmail's behaviour: policy decides, not the handshake).
# Srv_Features:<addr> V in the access map: that client is asked for no
# certificate ({verify} NOT even with one to show), the others still are;
# with tls_ask_client_cert = no, Srv_Features:<addr> v asks that client only.
. "$(dirname "$0")/lib.sh"
lab_begin
d=$LAB_DIR/pki
mkdir -p "$d" || fail "cannot create $d"
o() { openssl "$@" >/dev/null 2>&1 || fail "openssl $1 failed"; }
o req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/O=Lab/CN=Lab CA" -keyout "$d/ca.key" -out "$d/ca.crt"
o req -newkey rsa:2048 -nodes -subj "/O=Client+Co/CN=client.example" -keyout "$d/c.key" -out "$d/c.csr"
o x509 -req -in "$d/c.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 30 -out "$d/c.crt"
o req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=stranger.example" -keyout "$d/s.key" -out "$d/s.crt"
printf 'To:lab.example RELAY\nSrv_Features:2001:2::1 V\n' >"$d/access"
lab_up "tls_ask_client_cert = yes" "tls_ca_file = $d/ca.crt" "access_file = $d/access" ||
	fail "lab did not come up"

# send TAG [swaks options]: one STARTTLS message; the Received line of it in the dump
send() {
	local tag=$1 out f
	shift
	out=$(lab_exec timeout 20 swaks --server "${server:-198.18.0.2}" --port 25 --tls --helo client.example \
		--from a@client.example --to b@lab.example --body "cert $tag" "$@" 2>&1)
	echo "$out" | grep -qE '^<~  250 2\.0\.0' || fail "$tag: not accepted: $(echo "$out" | grep -E '^<' | tail -3)"
	f=$(grep -l "^cert $tag" "$LAB_DIR"/mail/* 2>/dev/null | head -1)
	[ -n "$f" ] || fail "$tag: message not at the backend"
	grep -A3 '^Received: from client.example' "$f" | tr -d '\r' | tr '\n\t' '  '
}
r=$(send ok --tls-cert "$d/c.crt" --tls-key "$d/c.key")
echo "$r" | grep -q 'verify=OK' || fail "CA-signed certificate: $r"
log_has 'Trusted TLS connection established from unknown\[198.18.0.1\]' ||
	fail "no 'Trusted TLS connection established' log line"
ok "certificate from the CA: verify=OK, logged as Trusted"
r=$(send none)
echo "$r" | grep -q 'verify=NO)' || fail "no certificate: $r"
ok "no certificate: verify=NO"
r=$(send stranger --tls-cert "$d/s.crt" --tls-key "$d/s.key")
echo "$r" | grep -q 'verify=FAIL' || fail "self-signed certificate: $r"
ok "self-signed certificate: verify=FAIL (handshake completed)"
# Srv_Features V for 2001:2::1: the same certificate is not asked for

r=$(server=2001:2::2 send v6 --tls-cert "$d/c.crt" --tls-key "$d/c.key")
echo "$r" | grep -q 'verify=NOT)' || fail "Srv_Features V: a certificate was still asked for: $r"
r=$(send v4again --tls-cert "$d/c.crt" --tls-key "$d/c.key")
echo "$r" | grep -q 'verify=OK' || fail "a client without V: $r"
ok "Srv_Features:2001:2::1 V: verify=NOT for that client, OK for 198.18.0.1"
expect_stat_ge 'smtp_tls_verify{result="OK"}' 1
expect_stat_ge 'smtp_tls_verify{result="NO"}' 1
expect_stat_ge 'smtp_tls_verify{result="FAIL"}' 1
expect_no_bug_drops

# Srv_Features v: tls_ask_client_cert = no, but 2001:2::1 is asked
lab_down >/dev/null 2>&1
printf 'To:lab.example RELAY\nSrv_Features:2001:2::1 v\n' >"$d/access"
lab_up "tls_ask_client_cert = no" "tls_ca_file = $d/ca.crt" "access_file = $d/access" ||
	fail "lab did not come up (v)"
r=$(server=2001:2::2 send lv6 --tls-cert "$d/c.crt" --tls-key "$d/c.key")
echo "$r" | grep -q 'verify=OK' || fail "Srv_Features v: the certificate was not asked for: $r"
r=$(send lv4 --tls-cert "$d/c.crt" --tls-key "$d/c.key")
echo "$r" | grep -q 'verify=NOT)' || fail "a client without v was asked: $r"
ok "Srv_Features:2001:2::1 v: verify=OK for that client, NOT for 198.18.0.1"
pass
