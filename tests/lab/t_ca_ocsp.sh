#!/usr/bin/env bash
# t_ca_ocsp.sh - client-certificate CA and CRL, and OCSP stapling, from
# Redis (the whole lab: redis-server, mxgate-control, mxgate with
# tls_ask_client_cert = yes and no CA file). A PKI made with the openssl
# CLI ("openssl ca", so an index.txt exists for "openssl ocsp"):
#   - no CA anywhere: a client certificate gets {verify} FAIL;
#   - "mxctl ca set": one from that CA gets OK, one from another CA FAIL;
#     garbage written into <prefix>ca is logged, not pushed (still OK);
#   - "mxctl crl set" with a CRL revoking it: FAIL; "crl del": OK again;
#   - "mxctl cert add --ocsp" with a response made offline by openssl ocsp:
#     "openssl s_client -status" shows "OCSP Response Status: successful"
#     and the response is for that certificate; without -status nothing is
#     stapled; the same certificate added without --ocsp: no staple.
# The {verify} results are read from the Received header at the backend.
. "$(dirname "$0")/lib.sh"
lab_begin
export LAB_CONTROL=1
command -v redis-cli >/dev/null 2>&1 || fail "redis-cli is not installed (make deps)"
P=mxgate:
CLOG=$LAB_DIR/control.log
d=$LAB_DIR/pki
rm -rf "$d" && mkdir -p "$d/ca1" || fail "cannot create $d"
o() { openssl "$@" >>"$d/openssl.log" 2>&1 || fail "openssl $1 failed: $(tail -3 "$d/openssl.log")"; }

# CA 1, run with "openssl ca" (index.txt, serial)
cat >"$d/ca1.cnf" <<EOF
[ ca ]
default_ca = ca1
[ ca1 ]
dir = $d/ca1
database = \$dir/index.txt
serial = \$dir/serial
crlnumber = \$dir/crlnumber
new_certs_dir = \$dir
certificate = $d/ca1.crt
private_key = $d/ca1.key
default_md = sha256
default_days = 30
default_crl_days = 7
policy = any
unique_subject = no
copy_extensions = copy
[ any ]
commonName = supplied
organizationName = optional
[ client ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
[ server ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:mx.lab.example
EOF
touch "$d/ca1/index.txt"
echo 1000 >"$d/ca1/serial"
echo 01 >"$d/ca1/crlnumber"
o req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/O=Lab/CN=Lab Test CA 1" -keyout "$d/ca1.key" -out "$d/ca1.crt"
o req -newkey rsa:2048 -nodes -subj "/O=Lab/CN=client1.example" -keyout "$d/c1.key" -out "$d/c1.csr"
o ca -batch -config "$d/ca1.cnf" -extensions client -in "$d/c1.csr" -out "$d/c1.crt"
o req -newkey rsa:2048 -nodes -subj "/O=Lab/CN=mx.lab.example" -keyout "$d/srv.key" -out "$d/srv.csr"
o ca -batch -config "$d/ca1.cnf" -extensions server -in "$d/srv.csr" -out "$d/srv.crt"
openssl x509 -in "$d/srv.crt" >"$d/srv-chain.pem" && cat "$d/ca1.crt" >>"$d/srv-chain.pem" || fail "chain"
# CA 2 and a client of it
o req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/O=Other/CN=Other CA" -keyout "$d/ca2.key" -out "$d/ca2.crt"
o req -newkey rsa:2048 -nodes -subj "/O=Other/CN=client2.example" -keyout "$d/c2.key" -out "$d/c2.csr"
o x509 -req -in "$d/c2.csr" -CA "$d/ca2.crt" -CAkey "$d/ca2.key" -CAcreateserial -days 30 -out "$d/c2.crt"
# the CRL revoking client 1 (made now; the index keeps the revocation for OCSP too)
o ca -config "$d/ca1.cnf" -revoke "$d/c1.crt"
o ca -config "$d/ca1.cnf" -gencrl -out "$d/crl1.pem"
# the OCSP response for the server certificate, made offline
o ocsp -issuer "$d/ca1.crt" -cert "$d/srv.crt" -no_nonce -reqout "$d/ocsp-req.der"
o ocsp -index "$d/ca1/index.txt" -rsigner "$d/ca1.crt" -rkey "$d/ca1.key" -CA "$d/ca1.crt" \
	-reqin "$d/ocsp-req.der" -respout "$d/ocsp-resp.der" -ndays 1
[ -s "$d/ocsp-resp.der" ] || fail "openssl ocsp made no response"
srv_serial=$(openssl x509 -in "$d/srv.crt" -noout -serial | cut -d= -f2)

lab_up "tls_ask_client_cert = yes" || fail "lab did not come up"
rcli() { timeout 5 redis-cli -s "$LAB_DIR/redis.sock" "$@"; }
ctl() { "$LAB_SH" ctl "$@"; }
# wait_status RE: mxgate's status has a line matching RE within 3 s
wait_status() {
	local i
	for ((i = 0; i < 30; i++)); do
		ctl status 2>/dev/null | grep -Eq -- "$1" && return 0
		sleep 0.1
	done
	return 1
}
# send TAG [swaks options]: one STARTTLS message; its Received line at the backend
send() {
	local tag=$1 out f
	shift
	out=$(lab_exec timeout 20 swaks --server 198.18.0.2 --port 25 --tls --helo client.example \
		--from a@client.example --to b@lab.example --body "ca-ocsp $tag" "$@" 2>&1)
	echo "$out" | grep -qE '^<~  250 2\.0\.0' || fail "$tag: not accepted: $(echo "$out" | grep -E '^<' | tail -3)"
	f=$(grep -l "^ca-ocsp $tag\$" "$LAB_DIR"/mail/* 2>/dev/null | head -1)
	[ -n "$f" ] || fail "$tag: message not at the backend"
	grep -A3 '^Received: from client.example' "$f" | tr -d '\r' | tr '\n\t' '  '
}
verify_of() { send "$@" | grep -oE 'verify=[A-Z]+' | head -1; }
c1=(--tls-cert "$d/c1.crt" --tls-key "$d/c1.key")
c2=(--tls-cert "$d/c2.crt" --tls-key "$d/c2.key")

v=$(verify_of noca "${c1[@]}")
[ "$v" = verify=FAIL ] || fail "no CA configured or in Redis: client 1 got $v, expected verify=FAIL"
ok "no CA anywhere: client 1 verify=FAIL"

out=$(ctl ca set "$d/ca1.crt" 2>&1) || fail "ca set: $out"
echo "$out" | grep -q 'Lab Test CA 1' || fail "ca set does not describe what it stored: $out"
wait_status '^ *tls_ca control certificates=1$' || fail "status shows no CA from control: $(ctl status | grep tls_)"
v=$(verify_of ca1 "${c1[@]}")
[ "$v" = verify=OK ] || fail "CA 1 in Redis: client 1 got $v, expected verify=OK"
v=$(verify_of ca1-other "${c2[@]}")
[ "$v" = verify=FAIL ] || fail "CA 1 in Redis: client 2 (other CA) got $v, expected verify=FAIL"
ctl ca show | grep -q 'Lab Test CA 1.*CA$' || fail "ca show: $(ctl ca show 2>&1)"
ok "ca set: client 1 verify=OK, client 2 of another CA verify=FAIL; status: tls_ca control"

# garbage in <prefix>ca: logged once, not pushed, the CA in force stays
rcli set "${P}ca" "not a certificate" >/dev/null && rcli publish "${P}events" certs >/dev/null
for ((i = 0; i < 30; i++)); do grep -q "NOT pushed: ${P}ca: not PEM certificates" "$CLOG" && break; sleep 0.1; done
grep -q "NOT pushed: ${P}ca: not PEM certificates" "$CLOG" || fail "bad CA not logged: $(tail -3 "$CLOG")"
v=$(verify_of garbage "${c1[@]}")
[ "$v" = verify=OK ] || fail "after garbage in ${P}ca: client 1 got $v, expected the CA in force (OK)"
ok "garbage in ${P}ca: logged, not pushed, mxgate keeps CA 1"
ctl ca set "$d/ca1.crt" >/dev/null 2>&1 || fail "ca set again"

out=$(ctl crl set "$d/crl1.pem" 2>&1) || fail "crl set: $out"
echo "$out" | grep -q 'revoked 1' || fail "crl set does not describe the CRL: $out"
wait_status '^ *tls_crl control crls=1$' || fail "status shows no CRL from control"
v=$(verify_of crl "${c1[@]}")
[ "$v" = verify=FAIL ] || fail "client 1 revoked by the CRL in Redis got $v, expected verify=FAIL"
ok "crl set revoking client 1: verify=FAIL"
ctl crl del >/dev/null || fail "crl del"
wait_status '^ *tls_crl none$' || fail "status still shows a CRL after crl del: $(ctl status | grep tls_)"
v=$(verify_of nocrl "${c1[@]}")
[ "$v" = verify=OK ] || fail "after crl del: client 1 got $v, expected verify=OK"
ok "crl del: client 1 verify=OK again"

# OCSP stapling
ctl cert add srv --chain "$d/srv-chain.pem" --key "$d/srv.key" --ocsp "$d/ocsp-resp.der" >/dev/null ||
	fail "cert add --ocsp"
wait_status "^ *certificate srv .*source=control default ocsp=$(stat -c %s "$d/ocsp-resp.der")\$" ||
	fail "status does not show the stapled response: $(ctl status | grep certificate)"
sclient() {
	echo QUIT | lab_exec timeout 10 openssl s_client -starttls smtp -connect 198.18.0.2:25 \
		-servername mx.lab.example "$@" 2>&1
}
out=$(sclient -status)
echo "$out" | grep -q 'subject=.*CN *= *mx.lab.example' || fail "s_client: not the certificate from Redis: $(echo "$out" | grep -E 'subject|issuer' | head -2)"
echo "$out" | grep -q 'OCSP Response Status: successful' ||
	fail "s_client -status: no stapled response: $(echo "$out" | grep -i -A2 ocsp | head -5)"
echo "$out" | grep -qi "Serial Number: *$srv_serial" || fail "the stapled response is not for serial $srv_serial"
echo "$out" | grep -q 'Cert Status: good' || fail "stapled status is not good"
ok "cert add --ocsp: s_client -status sees \"OCSP Response Status: successful\", serial $srv_serial good"
out=$(sclient)
echo "$out" | grep -q 'OCSP Response Status' && fail "a response was stapled to a client that did not ask"
ok "no status_request: nothing stapled"
ctl cert add srv --chain "$d/srv-chain.pem" --key "$d/srv.key" >/dev/null || fail "cert add without --ocsp"
wait_status '^ *certificate srv .*source=control default$' || fail "status still shows a staple"
out=$(sclient -status)
echo "$out" | grep -q 'OCSP response: no response sent' ||
	fail "without --ocsp something was stapled: $(echo "$out" | grep -i -A2 ocsp | head -5)"
ok "cert add without --ocsp: \"OCSP response: no response sent\""

# mxctl refuses what is not an OCSP response, a CA or a CRL
ctl cert add srv --chain "$d/srv-chain.pem" --key "$d/srv.key" --ocsp "$d/ca1.crt" >/dev/null 2>&1 &&
	fail "cert add --ocsp with a PEM file was accepted"
ctl crl set "$d/ca1.crt" >/dev/null 2>&1 && fail "crl set with a certificate was accepted"
ctl ca set "$d/crl1.pem" >/dev/null 2>&1 && fail "ca set with a CRL was accepted"
ctl ca del >/dev/null || fail "ca del"
ctl ca del >/dev/null 2>&1 && fail "a second ca del exited 0"
ok "mxctl refuses a non-OCSP file, a certificate as CRL, a CRL as CA; ca del twice fails"
expect_no_bug_drops
pass
