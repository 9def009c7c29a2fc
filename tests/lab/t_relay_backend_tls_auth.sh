#!/usr/bin/env bash
# t_relay_backend_tls_auth.sh - the access map's server-side tags (issue 13)
# against a real Postfix smtpd in the lab namespace (smtp_postfix.py: its
# 198.18.1.1:2527 offers STARTTLS with a certificate of the test's own CA
# and requires SMTP AUTH, Cyrus sasldb): mxgate relays over TLS with AUTH
# (TLS_Srv VERIFY met, AuthInfo PLAIN; Postfix logs the TLS session and the
# SASL login, and holds the message; XCLIENT still names the client); a
# wrong AuthInfo password gets the client a 4xx and stores nothing;
# Try_TLS NO relays in plaintext (AUTH allowed there by
# backend_auth_without_tls = yes). Then mxgate again with another CA as
# backend_tls_ca_file: TLS_Srv VERIFY fails, the client gets 403 4.7.0,
# nothing is stored; and AUTH without TLS is refused by default (4xx).
# The maps change at run time with mxctl policy push --file.
. "$(dirname "$0")/lib.sh"
lab_begin
MXCTL=${MXCTL:-$LAB_REPO/build/mxctl}
[ -x "$MXCTL" ] || fail "mxctl missing: $MXCTL (make build/mxctl)"

# ---- certificates: the test's CA, the backend's certificate from it, and another CA ----
K=$LAB_DIR/bk
rm -rf "$K"
mkdir -p "$K" || fail "cannot create $K"
ossl() { openssl "$@" >/dev/null 2>&1 || fail "openssl $1 failed"; }
ossl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=lab-backend-ca -keyout "$K/ca.key" -out "$K/ca.crt"
ossl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=other-ca -keyout "$K/other.key" -out "$K/other.crt"
ossl req -newkey rsa:2048 -nodes -subj /CN=backend.lab.example -keyout "$K/backend.key" -out "$K/backend.csr"
printf 'subjectAltName=DNS:backend.lab.example\n' >"$K/ext"
ossl x509 -req -in "$K/backend.csr" -CA "$K/ca.crt" -CAkey "$K/ca.key" -CAcreateserial -days 30 \
	-extfile "$K/ext" -out "$K/backend.crt"
chmod 644 "$K"/*.crt

PASS='S3cret pass+word'
WRONG='not-the-password'
PF_SETUP=(--tls-cert "$K/backend.crt" --tls-key "$K/backend.key" --sasl-user relayuser --sasl-password "$PASS")
map() {   # map NAME LINE...: an access file in $LAB_DIR
	local f=$LAB_DIR/$1
	shift
	printf '%s\n' "$@" >"$f"
	chmod 644 "$f"
}
push() { "$MXCTL" -c "$LAB_DIR/mxgate.conf" policy push --file "$LAB_DIR/$1" >/dev/null ||
	soft_fail "mxctl policy push --file $1"; }
BK='backends = 198.18.1.1:2527/name=backend.lab.example'
AUTH_OK="AuthInfo:198.18.1.1 \"U:relayuser\" \"P:$PASS\""
map verify "Connect:198.18.0 RELAY" "TLS_Srv:backend.lab.example VERIFY" "$AUTH_OK"
map wrongpw "Connect:198.18.0 RELAY" "AuthInfo:backend.lab.example \"U:relayuser\" \"P:$WRONG\" \"M:LOGIN\""
map plain "Connect:198.18.0 RELAY" "Try_TLS:backend.lab.example NO" "TLS_Srv:backend.lab.example OK" "$AUTH_OK"

# swaks_reply NAME RE WHAT: one message; mxgate's reply must match RE
swaks_reply() {
	local name=$1 re=$2 what=$3 out
	out=$(lab_exec timeout 30 swaks --server 198.18.0.2 --helo client.example --from a@example.org \
		--to b@lab.example --header "Subject: $name" 2>&1)
	if echo "$out" | grep -Eq "^<[-~*]+ +$re"; then
		ok "swaks $name: $what"
	else
		echo "$out" | tail -n 12
		soft_fail "swaks $name: no reply matching $re ($what)"
	fi
}
# stored NAME N: Postfix held N messages with Subject NAME
stored() {
	local n
	n=$(grep -c "hold: header Subject: $1 from" "$PFD/maillog")
	[ "$n" -eq "$2" ] && ok "Postfix stored $n message(s) '$1'" ||
		soft_fail "Postfix stored $n message(s) '$1', expected $2"
}

# ---- mxctl policy test explains the tags (no password shown) ----
out=$("$MXCTL" policy test --file "$LAB_DIR/verify" --backend 198.18.1.1 --backend-name backend.lab.example \
	--backend-verify FAIL --backend-bits 256 2>&1)
rc=$?
if [ $rc -eq 3 ] && echo "$out" | grep -q '=> 403 4.7.0 authentication failed (TLS_Srv:backend.lab.example VERIFY)' &&
	echo "$out" | grep -q 'AuthInfo:198.18.1.1 -> found AuthInfo:198.18.1.1 "U:relayuser" "P:\*\*\*\*"' &&
	! echo "$out" | grep -qF "$PASS"; then
	ok "mxctl policy test --backend: TLS_Srv refusal and AuthInfo explained, password hidden"
else
	echo "$out"
	soft_fail "mxctl policy test --backend (exit $rc)"
fi

# ---- 1: the right CA ----
postfix_lab_up "$BK" "backend_tls_ca_file = $K/ca.crt" "backend_auth_without_tls = yes" \
	"access_file = $LAB_DIR/verify"

pf_send tls-auth 198.18.0.2 client.example --tls
pfl 'TLS connection established from unknown\[198\.18\.1\.2\]' "mxgate's STARTTLS to Postfix"
pfl 'client=unknown\[198\.18\.0\.1\], sasl_method=PLAIN, sasl_username=relayuser' \
	"AUTH PLAIN as relayuser, after XCLIENT named the client"
pfl 'hold: header Subject: tls-auth from unknown\[198\.18\.0\.1\]' "the message is held"
expect_log 'Verified TLS connection established to backend\.lab\.example\[198\.18\.1\.1\]:2527: TLSv1\.[23] with cipher' \
	"Verified TLS connection established to backend.lab.example[198.18.1.1]:2527"
expect_smtp 'backend_tls{result="established"}' -ge 1
expect_smtp 'backend_auth{result="success"}' -ge 1

push wrongpw
swaks_reply wrong-pw '451 4\.7\.0' "a wrong AuthInfo password: 451 4.7.0"
stored wrong-pw 0
pfl 'SASL LOGIN authentication failed' "Postfix refused the LOGIN"
expect_log 'SASL authentication failed: AUTH refused: backend said 535' "mxgate logs the refusal"
expect_smtp 'backend_auth{result="failed"}' -ge 1

push plain
ntls=$(grep -c 'TLS connection established from' "$PFD/maillog")
pf_send try-tls-no 198.18.0.2 client.example
pfl 'hold: header Subject: try-tls-no from unknown\[198\.18\.0\.1\]' "Try_TLS NO: the message is held"
n=$(grep -c 'TLS connection established from' "$PFD/maillog")
[ "$n" -eq "$ntls" ] && ok "Try_TLS NO: no TLS session with Postfix" ||
	soft_fail "Try_TLS NO: Postfix logged $((n - ntls)) more TLS session(s)"
pfl 'sasl_method=PLAIN, sasl_username=relayuser' "AUTH over plaintext (backend_auth_without_tls = yes)"

for pw in "$PASS" "$WRONG" "S3cret"; do
	grep -qF -- "$pw" "$LAB_DIR/mxgate.log" && soft_fail "mxgate's log holds a password" || true
done
ok "no password in mxgate's log"
pf stop
PF_UP=
lab_down >/dev/null 2>&1

# ---- 2: another CA: VERIFY fails; AUTH without TLS refused by default ----
# the pushed map lies over access_file (verify): its TLS_Srv entry is overridden with OK
map plainauth "Connect:198.18.0 RELAY" "Try_TLS:198.18.1.1 NO" "TLS_Srv:backend.lab.example OK" "$AUTH_OK"
postfix_lab_up "$BK" "backend_tls_ca_file = $K/other.crt" "access_file = $LAB_DIR/verify"
swaks_reply wrong-ca '403 4\.7\.0 authentication failed' "TLS_Srv VERIFY with another CA: 403 4.7.0"
stored wrong-ca 0
expect_log 'Untrusted TLS connection established to backend\.lab\.example\[198\.18\.1\.1\]:2527' \
	"Untrusted TLS connection established to backend.lab.example[198.18.1.1]:2527"
expect_log 'TLS_Srv: 403 4\.7\.0 authentication failed \(TLS_Srv:backend\.lab\.example VERIFY\)' \
	"the TLS_Srv refusal is logged with its rule"
expect_smtp 'backend_tls{result="refused"}' -ge 1

push plainauth
swaks_reply no-tls-auth '451 4\.7\.0' "AuthInfo without TLS (backend_auth_without_tls = no): 451 4.7.0"
stored no-tls-auth 0
expect_log 'no TLS to the backend \(backend_auth_without_tls = no\)' "the refusal to AUTH in plaintext is logged"
expect_smtp messages{result=\"accepted\"} -eq 0
pf stop
PF_UP=
expect_alive "after the backend TLS and AUTH checks"
lab_end
