#!/usr/bin/env bash
# t_smtp_relay_fresh.sh - the backend's connection carries what it was
# told of the client when it opened (XCLIENT HELO=, LOGIN=; PROXY v2's TLS
# facts). A client that sends a message, then STARTTLS and a new EHLO, then
# a second message (or only a new EHLO between two): each message must
# reach the backend in a backend session announced with the HELO of its
# own time, the one after STARTTLS over a new connection (RFC 3207 4.2:
# nothing from before TLS goes on). Before the fix the second message went
# down the first connection, under HELO=before-tls.example.
. "$(dirname "$0")/lib.sh"
lab_begin
rec=$LAB_DIR/backend.json
rm -f "$rec"

lab_up "backends = 198.18.1.1:2610" || fail "lab did not come up"
lab_exec "$LAB_PY" "$LAB_T/smtp_backend.py" --port 2610 --xclient --out "$rec" --sessions 10 --timeout 60 \
	>"$LAB_DIR/backend.log" 2>&1 &
for ((i = 0; i < 200; i++)); do grep -q listening "$LAB_DIR/backend.log" 2>/dev/null && break; sleep 0.1; done
grep -q listening "$LAB_DIR/backend.log" || fail "smtp_backend did not start: $(cat "$LAB_DIR/backend.log")"

soft_run "two messages around STARTTLS, two around a new EHLO" lab_py smtp_stranger.py refacts --tag rf
soft_wait_stat_eq mxgate_smtp_active 0 10
sleep 1     # the backend writes a session's record when mxgate's QUIT ends it
# each message: the XCLIENT HELO= of the backend session that carried it
out=$("$LAB_PY" - "$rec" <<'PY'
import json, re, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    helo = (d.get("xclient") or {}).get("HELO", "-")
    for m in d.get("messages", []):
        tag = re.search(r"Message-ID: <(rf-\d)@", m["body"])
        print("%s %s" % (tag.group(1) if tag else "?", helo))
PY
)
echo "$out"
for want in "rf-1 before-tls.example" "rf-2 after-tls.example" "rf-3 first.example" "rf-4 second.example"; do
	echo "$out" | grep -qx "$want" && ok "backend saw ${want% *} under HELO=${want#* }" ||
		soft_fail "backend did not see ${want% *} under HELO=${want#* }"
done
[ "$(echo "$out" | wc -l)" = 4 ] && ok "4 messages at the backend" || soft_fail "$(echo "$out" | wc -l) messages at the backend"
expect_smtp backend_connects -eq 4
expect_smtp 'messages{result="accepted"}' -eq 4
expect_alive "after the sessions"
lab_end
