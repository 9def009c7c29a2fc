#!/usr/bin/env bash
# t_policy_routing.sh - the access map against quoted local parts and
# sender-specified routing, with a real client (smtp_routing.py) and a
# recording backend (smtp_backend.py, no XCLIENT: the backend trusts mxgate):
#  - <"victim"@lab.example>, <"Vic\tim"@...> meet To:victim@lab.example REJECT,
#    <"b\ad"@good.example> meets From:bad@good.example REJECT (550);
#  - <u%evil.example@lab.example>, <"v@evil.example"@lab.example>,
#    <evil.example!w@lab.example> are not relayed for To:lab.example RELAY:
#    554 5.7.1 Relay access denied, counted and logged as any relay refusal,
#    and the backend never sees them;
#  - a client with Connect: RELAY (2001:2::1) still sends them.
. "$(dirname "$0")/lib.sh"
lab_begin
acc=$LAB_DIR/access
rec=$LAB_DIR/backend.json
msgs=$LAB_DIR/messages.json
cat >"$acc" <<'MAP' || fail "cannot write $acc"
To:lab.example			RELAY
To:victim@lab.example		REJECT
From:bad@good.example		REJECT
Connect:2001:2::1/128		RELAY
MAP
export LAB_SINK=0
lab_up "access_file = $acc" "backends = 198.18.1.1:2525" "smtpd_hard_error_limit = 100" ||
	fail "lab did not come up"
rm -f "$rec" "$msgs"
lab_exec "$LAB_PY" "$LAB_T/smtp_backend.py" --out "$rec" --messages "$msgs" --port 2525 --sessions 10 --timeout 120 \
	>"$LAB_DIR/backend.log" 2>&1 &
for ((i = 0; i < 50; i++)); do grep -q listening "$LAB_DIR/backend.log" 2>/dev/null && break; sleep 0.1; done
grep -q listening "$LAB_DIR/backend.log" || fail "smtp_backend did not start: $(cat "$LAB_DIR/backend.log")"

# messages TAG: the envelopes of the backend's messages whose body has "policy routing TAG"
messages() {
	"$LAB_PY" - "$msgs" "$1" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if "policy routing " + sys.argv[2] in m["body"]:
        print(m["from"], " ".join(m["to"]))
PY
}
# wait_messages TAG: wait up to 10 s for the backend to have recorded TAG's session
wait_messages() {
	for ((i = 0; i < 100; i++)); do [ -n "$(messages "$1" 2>/dev/null)" ] && return 0; sleep 0.1; done
	return 1
}

# A: 198.18.0.1 may not relay
soft_run "client not allowed to relay" lab_py smtp_routing.py --host 198.18.0.2 --relay no --tag deny
wait_messages deny || soft_fail "the backend recorded no message from the first session"
env=$(messages deny)
if [ "$env" = '<a@client.example> <good@lab.example> <"quoted.ok"@lab.example>' ]; then
	ok "backend got only <good@lab.example> and <\"quoted.ok\"@lab.example>"
else
	soft_fail "backend's envelope: '$env'"
fi
grep -aiE 'evil|victim|bad@' "$msgs" && soft_fail "a refused address reached the backend"
expect_log 'NOQUEUE: reject: RCPT from unknown\[198\.18\.0\.1\]: 554 5\.7\.1 <u%evil\.example@lab\.example>: Relay access denied; from=<a@client\.example> to=<u%evil\.example@lab\.example> proto=ESMTP' \
	"u%evil.example@lab.example: NOQUEUE reject, Relay access denied"
expect_log 'reject: RCPT from unknown\[198\.18\.0\.1\]: 554 5\.7\.1 <"v@evil\.example"@lab\.example>: Relay access denied' \
	'"v@evil.example"@lab.example: Relay access denied'
expect_log 'reject: RCPT from unknown\[198\.18\.0\.1\]: 554 5\.7\.1 <evil\.example!w@lab\.example>: Relay access denied' \
	"evil.example!w@lab.example: Relay access denied"
expect_log 'reject: RCPT from unknown\[198\.18\.0\.1\]: 550 5\.2\.1 <"victim"@lab\.example>' '"victim"@lab.example: 550 5.2.1'
expect_log 'reject: MAIL from unknown\[198\.18\.0\.1\]: 550 5\.7\.1 <"b\\ad"@good\.example>' '"b\ad"@good.example: 550 5.7.1'
# 4 MAIL (From:), 3 RCPT (To:), 1 + 5 RCPT relay refusals; the relay refusals under tag "default"
expect_smtp 'policy_rejects{stage="mail"}' -eq 4
expect_smtp 'policy_rejects{stage="rcpt"}' -eq 9
lab_snap || soft_fail "cannot read counters"
v=$(awk '/^mxgate_smtp_policy_decisions_total/ && /tag="default"/ && /action="reject"/ { s += $NF } END { print s + 0 }' "$LAB_DIR/snap.prom")
if [ "$v" -eq 6 ]; then
	ok 'policy_decisions{tag="default",action="reject"} = 6 (the relay refusals)'
else
	soft_fail "policy_decisions{tag=default,action=reject} = $v, expected 6"
fi

# B: 2001:2::1 has Connect: RELAY: routed recipients are its to send
soft_run "client allowed to relay" lab_py smtp_routing.py --host 2001:2::2 --relay yes --tag relay
wait_messages relay || soft_fail "the backend recorded no message from the second session"
env=$(messages relay)
want='<a@client.example> <u%evil.example@lab.example> <"v@evil.example"@lab.example> <evil.example!w@lab.example> <"u%evil.example"@lab.example> <U%EVIL.EXAMPLE@LAB.EXAMPLE> <good@lab.example> <"quoted.ok"@lab.example>'
if [ "$env" = "$want" ]; then
	ok "Connect: RELAY client: routed recipients relayed verbatim"
else
	soft_fail "backend's envelope for the relaying client: '$env'"
fi
expect_smtp 'policy_rejects{stage="rcpt"}' -eq 12
expect_no_bug_drops
lab_end
