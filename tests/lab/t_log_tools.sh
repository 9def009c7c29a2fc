#!/usr/bin/env bash
# t_log_tools.sh - the postmaster's own tools read mxgate's log as they read
# Postfix's (issue 11): with syslog_name = postfix, stock pflogsumm and
# fail2ban-regex with the stock filter.d/postfix.conf (modes normal, auth,
# ddos, aggressive; no fail2ban server) are run on the lab's log of a known
# mix (tests/lab/smtp_logmix.py: two messages in one session, one after
# STARTTLS, two relay-denied recipients, a too-many-errors client, a
# pipelining client that is then lost, a failed AUTH, a timeout), and their counts must be what the
# mix sent: received, delivered, rejected, bytes, the per-domain lines, and
# fail2ban's matched lines per mode. Also: every session has its own key in
# [pid] (one connect and one disconnect per key), each message its own
# queue ID in Postfix's long form (client=, from=, to= and the Received
# header agree), and the disconnect lines carry Postfix's n/m counts.
. "$(dirname "$0")/lib.sh"
lab_begin
command -v pflogsumm >/dev/null || fail "pflogsumm missing (deploy/deps.sh installs it)"
command -v fail2ban-regex >/dev/null || fail "fail2ban-regex missing (deploy/deps.sh installs fail2ban)"
F2B_FILTER=/etc/fail2ban/filter.d/postfix.conf
[ -f "$F2B_FILTER" ] || fail "no stock $F2B_FILTER"
ERRORS=3
acc=$LAB_DIR/access
printf 'To:lab.example\tRELAY\n' >"$acc" || fail "cannot write $acc"
lab_up "access_file = $acc" "syslog_name = postfix" "smtpd_hard_error_limit = $ERRORS" \
	"smtpd_timeout_ms = 3000" || fail "lab did not come up"

# a user for AUTH to fail against (the password is never the one tried)
users=$LAB_DIR/users
"$LAB_PY" -c '
import base64, hashlib, os
s = os.urandom(16)
k = hashlib.scrypt(b"carol-secret", salt=s, n=1 << 14, r=8, p=1, maxmem=64 << 20, dklen=32)
print("carol $scrypt$ln=14,r=8,p=1$%s$%s" % (base64.b64encode(s).decode(), base64.b64encode(k).decode()))' >"$users" ||
	fail "hashlib.scrypt"
"$LAB_PY" "$LAB_T/ctl_client.py" "$LAB_DIR/ctl.sock" set-users "$users" >/dev/null || fail "SET_USERS refused"

sent=$LAB_DIR/sent.json
lab_py smtp_logmix.py --server 198.18.0.2 --errors "$ERRORS" --out "$sent" || fail "the mix did not go as planned"
[ -s "$sent" ] || fail "smtp_logmix wrote nothing"
# every session ended (the service lcore drains the workers' rings every 20 ms)
nsess=7
for ((i = 0; i < 100; i++)); do
	[ "$(grep -c ']: disconnect from ' "$LAB_DIR/mxgate.log")" -ge $nsess ] && break
	sleep 0.1
done
log=$LAB_DIR/maillog
grep ' postfix/' "$LAB_DIR/mxgate.log" >"$log"
[ "$(grep -c ']: disconnect from ' "$log")" = $nsess ] || fail "expected $nsess disconnect lines: $(grep disconnect "$log")"
ok "$(wc -l <"$log") log lines of $nsess sessions"

# expect KEY: a value computed from what the mix sent
expect() {
	"$LAB_PY" -c '
import json, sys
s = json.load(open(sys.argv[1]))
m = s["messages"]
v = {"received": len(m), "delivered": sum(len(x["to"]) for x in m), "rejected": len(s["rejects"]),
     "bytes_received": sum(x["size"] for x in m), "bytes_delivered": sum(x["size"] * len(x["to"]) for x in m),
     "normal": len(s["rejects"]) + s["errors"] + s["pipelining"], "auth": s["auth_failed"],
     "ddos": s["lost"] + s["auth_failed"]}
v["aggressive"] = v["normal"] + v["auth"] + v["ddos"]
print(v[sys.argv[2]])' "$sent" "$1"
}

# ---- pflogsumm ----
pf=$LAB_DIR/pflogsumm.out
pflogsumm "$log" >"$pf" 2>&1 || fail "pflogsumm failed: $(tail -3 "$pf")"
# total NAME: pflogsumm's Grand Totals line "<n>   NAME"
total() { awk -v k="$1" '{ line = $0; sub(/^ +[0-9]+[km]? +/, "", line) } line ~ "^" k && $1 ~ /^[0-9]+$/ { print $1; exit }' "$pf"; }
for k in received delivered rejected "bytes received" "bytes delivered"; do
	want=$(expect "${k/ /_}")
	got=$(total "$k")
	[ "$got" = "$want" ] || fail "pflogsumm: $k $got, sent $want; $(sed -n 1,24p "$pf")"
	ok "pflogsumm: $k = $got"
done
for k in deferred bounced; do
	[ "$(total "$k")" = 0 ] || fail "pflogsumm: $k $(total "$k"), expected 0"
done
# per-domain lines: delivery to lab.example, reception from client.example
dl=$(awk '/^Host\/Domain Summary: Message Delivery/ { on = 1 } on && $NF == "lab.example" { print $1, $2; exit }' "$pf")
[ "$dl" = "$(expect delivered) $(expect bytes_delivered)" ] ||
	fail "pflogsumm: delivery line for lab.example '$dl', expected '$(expect delivered) $(expect bytes_delivered)'"
rl=$(awk '/^Host\/Domain Summary: Messages Received/ { on = 1 } on && $NF == "client.example" { print $1, $2; exit }' "$pf")
[ "$rl" = "$(expect received) $(expect bytes_received)" ] ||
	fail "pflogsumm: reception line for client.example '$rl', expected '$(expect received) $(expect bytes_received)'"
ok "pflogsumm: lab.example delivered '$dl', client.example received '$rl'"
grep -q 'Relay access denied' "$pf" || fail "pflogsumm's reject detail lacks 'Relay access denied'"

# ---- fail2ban-regex, stock filter, each mode ----
for mode in normal auth ddos aggressive; do
	out=$(timeout 120 fail2ban-regex "$log" "postfix[mode=$mode]" 2>&1) || fail "fail2ban-regex $mode: $out"
	got=$(echo "$out" | sed -nE 's/^Lines: [0-9]+ lines, [0-9]+ ignored, ([0-9]+) matched.*/\1/p')
	want=$(expect $mode)
	[ "$got" = "$want" ] || fail "fail2ban postfix[mode=$mode]: $got lines matched, expected $want: $(echo "$out" | grep -A3 '^Failregex')"
	ok "fail2ban postfix[mode=$mode]: $got matched"
done

# ---- the default syslog_name (mxgate): pflogsumm --syslog-name, and the shipped jail's filter ----
# the same lines under the other name (only the name differs between the two settings)
sed 's# postfix/# mxgate/#' "$log" >"$log.mxgate"
jail=$LAB_REPO/deploy/fail2ban/jail.d/mxgate.conf
for j in mxgate mxgate-sasl; do
	filter=$(awk -v j="[$j]" '$0 == j { on = 1; next } /^\[/ { on = 0 } on && $1 == "filter" { sub(/^filter *= */, ""); print; exit }' "$jail")
	[ -n "$filter" ] || fail "no filter for [$j] in $jail"
	out=$(timeout 120 fail2ban-regex "$log.mxgate" "$filter" 2>&1) || fail "fail2ban-regex $filter: $out"
	got=$(echo "$out" | sed -nE 's/^Lines: [0-9]+ lines, [0-9]+ ignored, ([0-9]+) matched.*/\1/p')
	want=$(expect "$([ $j = mxgate ] && echo aggressive || echo auth)")
	[ "$got" = "$want" ] || fail "shipped jail [$j] ($filter): $got matched, expected $want"
	ok "deploy/fail2ban jail [$j] on syslog_name = mxgate: $got matched"
done
pflogsumm --syslog-name=mxgate "$log.mxgate" >"$pf.mxgate" 2>&1 || fail "pflogsumm --syslog-name=mxgate failed"
pf=$pf.mxgate
[ "$(total received)/$(total delivered)/$(total rejected)" = "$(expect received)/$(expect delivered)/$(expect rejected)" ] ||
	fail "pflogsumm --syslog-name=mxgate: $(sed -n 1,12p "$pf")"
ok "pflogsumm --syslog-name=mxgate: the same totals"

# ---- sessions and queue IDs ----
keys=$(sed -nE 's/.* postfix\/smtpd\[([0-9]+)\]: connect from .*/\1/p' "$log")
[ "$(echo "$keys" | sort -u | wc -l)" = $nsess ] || fail "session keys not unique: $keys"
for k in $keys; do
	[ "$(grep -c "postfix/smtpd\[$k\]: disconnect from" "$log")" = 1 ] || fail "session $k: not one disconnect"
done
ok "$nsess sessions, $nsess keys, one connect and one disconnect each"
qids=$(sed -nE 's/.* postfix\/smtpd\[[0-9]+\]: ([0-9A-Za-z]+): client=.*/\1/p' "$log")
[ "$(echo "$qids" | sort -u | wc -l)" = "$(expect received)" ] || fail "queue IDs not one per message: $qids"
for q in $qids; do
	echo "$q" | grep -qE '^[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,}z[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-y]+$' ||
		fail "queue ID $q is not in Postfix's long form"
	grep -q "postfix/qmgr\[[0-9]*\]: $q: from=<.*>, size=[0-9]*, nrcpt=[0-9]* (queue active)" "$log" ||
		fail "no qmgr from= line for $q"
	grep -q "postfix/smtp\[[0-9]*\]: $q: to=<.*>, relay=198.18.1.1\[198.18.1.1\]:25, delay=[0-9.]*, delays=[0-9.]*/0/0/[0-9.]*, dsn=2.0.0, status=sent (250 " "$log" ||
		fail "no smtp to= line for $q"
	grep -rqs "id $q" "$LAB_DIR/mail" || fail "no Received header with id $q in the delivered mail"
done
first=$(echo "$keys" | head -1)
[ "$(grep -c "postfix/smtpd\[$first\]: .*: client=" "$log")" = 2 ] || fail "the first session's two messages: not two queue IDs"
ok "queue IDs: $(echo "$qids" | tr '\n' ' ')(two in the first session; Received agrees)"
grep -q "postfix/smtpd\[$first\]: disconnect from unknown\[198.18.0.1\] ehlo=1 mail=2 rcpt=3 data=2 quit=1 commands=9$" "$log" ||
	fail "first session's counts: $(grep "smtpd\[$first\]: disconnect" "$log")"
grep -q ': disconnect from unknown\[198.18.0.1\] ehlo=1 mail=1 rcpt=0/2 quit=1 commands=3/5$' "$log" ||
	fail "relay-denied session's counts: $(grep 'rcpt=0' "$log")"
grep -q ": disconnect from unknown\[198.18.0.1\] ehlo=1 unknown=0/$ERRORS commands=1/$((ERRORS + 1))$" "$log" ||
	fail "too-many-errors session's counts: $(grep 'unknown=' "$log")"
grep -q ': disconnect from unknown\[198.18.0.1\] commands=0/0$' "$log" || fail "the silent session: no commands=0/0"
grep -q ': timeout after CONNECT from unknown\[198.18.0.1\]$' "$log" || fail "no 'timeout after CONNECT'"
grep -q ': lost connection after NOOP from unknown\[198.18.0.1\]$' "$log" || fail "no 'lost connection after NOOP'"
grep -qF ': improper command pipelining after EHLO from unknown[198.18.0.1]: NOOP\r\n' "$log" ||
	fail "no 'improper command pipelining after EHLO ...: NOOP\r\n'"
ok "disconnect n/m counts, timeout after CONNECT, lost connection after NOOP, improper command pipelining"
v=$(lab_stat smtp_log_dropped) || fail "no mxgate_smtp_log_dropped_total"
[ "$v" = 0 ] || fail "$v log lines dropped"
ok "no log line dropped (mxgate_smtp_log_dropped_total 0)"
pass
