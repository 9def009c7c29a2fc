#!/usr/bin/env bash
# t_smtp_auth.sh - SMTP AUTH (RFC 4954) with the users in Redis.
#   - alice's hash is made by Python's hashlib.scrypt (an independent scrypt)
#     and written with redis-cli; bob is added with "mxctl user add"; both
#     reach mxgate through mxgate-control within 2 s;
#   - AUTH is not offered before STARTTLS (538 if tried), is offered after;
#     AUTH PLAIN (smtplib) succeeds and gives relay rights: a recipient
#     outside the access map's RELAY domains is relayed, and the backend
#     (a recording one) gets XCLIENT LOGIN=alice and "with ESMTPSA";
#   - without AUTH the same recipient gets 554 5.7.1 Relay access denied;
#   - a wrong password (swaks) gets 535 5.7.8, answered no sooner than the
#     failure delay, and is counted; AUTH LOGIN (smtplib) and AUTH on 465
#     (swaks) work;
#   - after smtpd_auth_fail_limit failures the client's address gets 454
#     4.7.0 without a check, even with the right password; another address
#     (IPv6) still authenticates;
#   - Srv_Features A for a client: no AUTH in its EHLO;
#   - the counters (smtp_auth_*, service_auth_checks) say all of it.
. "$(dirname "$0")/lib.sh"
lab_begin
export LAB_CONTROL=1
rec=$LAB_DIR/backend.json
RSOCK=$LAB_DIR/redis.sock
P=mxgate:
lab_up "backends = 198.18.1.1:2525" "smtpd_auth_fail_limit = 3" "smtpd_auth_fail_delay_ms = 1000" ||
	fail "lab did not come up"
rm -f "$rec"
lab_exec "$LAB_PY" "$LAB_T/smtp_backend.py" --out "$rec" --xclient --sessions 40 --timeout 120 \
	>"$LAB_DIR/backend.log" 2>&1 &
for ((i = 0; i < 50; i++)); do grep -q listening "$LAB_DIR/backend.log" 2>/dev/null && break; sleep 0.1; done
grep -q listening "$LAB_DIR/backend.log" || fail "smtp_backend did not start: $(cat "$LAB_DIR/backend.log")"

rcli() { timeout 5 redis-cli -s "$RSOCK" "$@"; }
mx() { "$LAB_SH" ctl "$@"; }
status_users() { "$LAB_PY" "$LAB_T/ctl_client.py" "$LAB_DIR/ctl.sock" status | awk '$1 == "auth_users" { print $2 }'; }
# counter NAME [LABEL="VALUE"]: summed over lcores
counter() { "$LAB_PY" "$LAB_T/ctl_client.py" "$LAB_DIR/ctl.sock" stats |
	awk -v m="$1" -v l="${2:-}" '{ n = $1; sub(/\{.*/, "", n) } n == m && (l == "" || index($1, l)) { s += $2 }
		END { print s + 0 }'; }
auth() { lab_py smtp_auth.py --server "$@"; }
jget() { "$LAB_PY" -c 'import json,sys; print(eval(sys.argv[1], {"r": json.loads(sys.stdin.read())}))' "$1"; }

mx policy set To:lab.example RELAY >/dev/null || fail "mxctl policy set To:lab.example RELAY"

# users: alice by an independent scrypt, bob by mxctl
hash=$("$LAB_PY" -c '
import base64, hashlib, os, sys
s = os.urandom(16)
k = hashlib.scrypt(b"alice-secret", salt=s, n=1 << 14, r=8, p=1, maxmem=64 << 20, dklen=32)
print("$scrypt$ln=14,r=8,p=1$%s$%s" % (base64.b64encode(s).decode(), base64.b64encode(k).decode()))') ||
	fail "hashlib.scrypt"
t0=$(date +%s%3N)
rcli SET "${P}auth:alice" "$hash" >/dev/null && rcli PUBLISH "${P}events" users >/dev/null ||
	fail "redis-cli SET/PUBLISH"
echo bob-secret | mx user add bob >/dev/null || fail "mxctl user add bob"
for ((i = 0; i < 40; i++)); do [ "$(status_users)" = 2 ] && break; sleep 0.05; done
[ "$(status_users)" = 2 ] || fail "mxgate has $(status_users) users, 2 expected (control log: $(tail -3 "$LAB_DIR/control.log"))"
ok "2 users in force $(( $(date +%s%3N) - t0 )) ms after the Redis writes"
mx user list | grep -q '\$scrypt\$' && fail "mxctl user list shows a hash"

# PLAIN after STARTTLS, relaying to a domain that is not ours
out=$(auth 198.18.0.2 --port 25 --user alice --password alice-secret --plain-auth --to b@elsewhere.example) ||
	fail "smtp_auth.py: $out"
echo "$out"
[ "$(echo "$out" | jget 'r["auth_plain"]')" = None ] || fail "AUTH offered before TLS"
[ "$(echo "$out" | jget 'r["auth_before_tls"][0]')" = 538 ] || fail "AUTH before TLS not refused with 538"
echo "$out" | jget 'r["auth_tls"]' | grep -q 'PLAIN LOGIN' || fail "AUTH PLAIN LOGIN not offered after STARTTLS"
[ "$(echo "$out" | jget 'r["auth"][0]')" = 235 ] || fail "AUTH PLAIN with the right password not accepted"
[ "$(echo "$out" | jget 'r["sendmail"][0]')" = 250 ] || fail "an authenticated client was not relayed"
ok "no AUTH before TLS (538), AUTH PLAIN after STARTTLS: 235, relayed to elsewhere.example"
for ((i = 0; i < 50; i++)); do grep -q '"LOGIN": "alice"' "$rec" 2>/dev/null && break; sleep 0.1; done
grep -q '"LOGIN": "alice"' "$rec" || fail "the backend did not get XCLIENT LOGIN=alice: $(cat "$rec")"
grep -q 'with ESMTPSA id' "$rec" || fail "no 'with ESMTPSA' in the Received header"
ok "backend: XCLIENT LOGIN=alice, Received ... with ESMTPSA"

# no AUTH: relaying denied; our own domain is fine
out=$(lab_exec timeout 20 swaks --server 198.18.0.2 --tls --helo client.example --from a@client.example \
	--to b@elsewhere.example 2>&1)
echo "$out" | grep -q '554 5.7.1 <b@elsewhere.example>: Relay access denied\|554 5.7.1 .*[Rr]elay' ||
	fail "unauthenticated relaying not refused: $(echo "$out" | grep -E '^<' | tail -3)"
ok "without AUTH: $(echo "$out" | grep -E '^<.* 554' | head -1 | sed 's/^<[~*-]* *//')"

# a wrong password: 535 after the delay, counted
t0=$(date +%s%3N)
out=$(lab_exec timeout 20 swaks --server 198.18.0.2 --tls --auth PLAIN --auth-user alice \
	--auth-password wrong --from a@client.example --to b@lab.example 2>&1)
dt=$(( $(date +%s%3N) - t0 ))
echo "$out" | grep -q '535 5.7.8 Error: authentication failed' || fail "wrong password: $(echo "$out" | tail -8)"
[ "$dt" -ge 900 ] || fail "the 535 came after $dt ms, before the 1000 ms failure delay"
ok "wrong password: 535 5.7.8 after $dt ms (delay 1000 ms)"
[ "$(counter mxgate_smtp_auth_total 'result="failed"')" -ge 1 ] || fail "smtp_auth_failed not counted"
log_has 'SASL PLAIN authentication failed' || fail "no log line for the failure"
# credentials that cannot pass (an authzid that is not the user) fail as a wrong password does:
# after the delay, logged (fail2ban's line), counted
nfail=$(counter mxgate_smtp_auth_total 'result="failed"')
nlines=$(grep -c 'SASL PLAIN authentication failed' "$LAB_DIR/mxgate.log")
out=$(lab_exec timeout 20 "$LAB_PY" - <<'PY' 2>&1
import base64, smtplib, ssl, time
s = smtplib.SMTP("198.18.0.2", 25, timeout=10)
s.ehlo("client.example")
s.starttls(context=ssl._create_unverified_context())
s.ehlo("client.example")
t0 = time.time()
code, msg = s.docmd("AUTH", "PLAIN " + base64.b64encode(b"bob\0alice\0alice-secret").decode())
print(code, int((time.time() - t0) * 1000), msg.decode())
s.quit()
PY
)
set -- $out
[ "${1:-}" = 535 ] || fail "AUTH PLAIN with bob as the authzid of alice: $out"
[ "${2:-0}" -ge 900 ] || fail "the authzid's 535 came after ${2:-?} ms, before the 1000 ms failure delay"
[ "$(counter mxgate_smtp_auth_total 'result="failed"')" -gt "$nfail" ] || fail "the authzid's failure not counted"
[ "$(grep -c 'SASL PLAIN authentication failed' "$LAB_DIR/mxgate.log")" -gt "$nlines" ] ||
	fail "no log line for the authzid's failure"
ok "an authzid not the user's (bob for alice): 535 5.7.8 after $2 ms, logged and counted"

# LOGIN with smtplib, and AUTH on 465 with swaks
out=$(auth 198.18.0.2 --port 587 --user bob --password bob-secret --mech LOGIN --to b@lab.example)
[ "$(echo "$out" | jget 'r["auth"][0]')" = 235 ] || fail "AUTH LOGIN (bob, 587): $out"
ok "AUTH LOGIN on 587 (mxctl-made hash): 235"
out=$(lab_exec timeout 20 swaks --server 198.18.0.2 --port 465 --tlsc --auth LOGIN --auth-user bob \
	--auth-password bob-secret --from a@client.example --to c@elsewhere.example 2>&1)
echo "$out" | grep -q '235 2.7.0 Authentication successful' && echo "$out" | grep -q '250 2.0.0' ||
	fail "AUTH on 465: $(echo "$out" | grep -E '^<' | tail -3)"
ok "AUTH LOGIN on 465, relayed"

# failure limit per client address: 3 within the window, then 454 without a check
for n in 2 3; do
	auth 198.18.0.2 --port 25 --user alice --password "wrong$n" >/dev/null
done
t0=$(date +%s%3N)
out=$(auth 198.18.0.2 --port 25 --user alice --password alice-secret)
dt=$(( $(date +%s%3N) - t0 ))
[ "$(echo "$out" | jget 'r["auth"][0]')" = 454 ] || fail "after 3 failures the right password should get 454: $out"
ok "after 3 failures from 198.18.0.1: $(echo "$out" | jget 'r["auth"][1]') (session $dt ms)"
[ "$(counter mxgate_smtp_auth_total 'result="limited"')" -ge 1 ] || fail "smtp_auth_limited not counted"
out=$(auth 2001:2::2 --port 25 --user alice --password alice-secret)
[ "$(echo "$out" | jget 'r["auth"][0]')" = 235 ] || fail "another address (2001:2::1) should still authenticate: $out"
ok "another client address (IPv6) still authenticates"

# Srv_Features A: no AUTH for this client
mx policy set Srv_Features:198.18.0.1 A >/dev/null || fail "mxctl policy set Srv_Features"
sleep 1.5
out=$(auth 198.18.0.2 --port 25 --user alice --password alice-secret)
[ "$(echo "$out" | jget 'r["auth_tls"]')" = None ] || fail "Srv_Features A: AUTH still offered: $out"
ok "Srv_Features:198.18.0.1 A: no AUTH offered"

# labelled counters: decisions by the tag that decided, handshakes by cipher
stats=$("$LAB_PY" "$LAB_T/ctl_client.py" "$LAB_DIR/ctl.sock" stats)
echo "$stats" | grep -E 'policy_decisions|tls_cipher_total' | sed 's/^/    /'
echo "$stats" | grep -q 'mxgate_smtp_policy_decisions_total{lcore="[0-9]*",tag="auth",action="relay"} [1-9]' ||
	fail "no policy decision counted under tag auth / relay"
echo "$stats" | grep -q 'mxgate_smtp_policy_decisions_total{lcore="[0-9]*",tag="default",action="reject"} [1-9]' ||
	fail "Relay access denied not counted under tag default / reject"
echo "$stats" | grep -q 'mxgate_smtp_policy_decisions_total{lcore="[0-9]*",tag="To",action="relay"} [1-9]' ||
	fail "To:lab.example RELAY not counted under tag To / relay"
echo "$stats" | grep -q 'mxgate_smtp_tls_cipher_total{lcore="[0-9]*",version="TLSv1.3",cipher="TLS_AES_256_GCM_SHA384"} [1-9]' ||
	fail "no handshake counted under its cipher"
ok "policy decisions by tag and handshakes by cipher are counted"

checks=$(counter mxgate_service_auth_checks_total)
[ "$checks" -ge 6 ] || fail "service_auth_checks $checks, at least 6 expected"
ok "counters: auth_success $(counter mxgate_smtp_auth_total 'result="success"'), auth_failed $(counter mxgate_smtp_auth_total 'result="failed"'), auth_limited $(counter mxgate_smtp_auth_total 'result="limited"'), scrypt checks $checks"
pass
