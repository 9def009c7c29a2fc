#!/usr/bin/env bash
# t_policy_limit.sh - the access map's Limit: entries: conn=2 for one
# address lets two sessions in at once and refuses a third with 421 4.7.0
# (no banner), and lets one in again when a session closes; rate=3/min for
# another refuses the fourth connection in a row. Both counted.
. "$(dirname "$0")/lib.sh"
lab_begin
acc=$LAB_DIR/access
printf 'To:lab.example RELAY\nLimit:198.18.0.1 conn=2\nLimit:2001:2::1/128 rate=3/min\n' >"$acc"
lab_up "access_file = $acc" || fail "lab did not come up"
out=$(lab_exec timeout 30 "$LAB_PY" - <<'PY' 2>&1
import socket, time

def banner(addr):
    s = socket.create_connection((addr, 25), timeout=5)
    return s, s.recv(512).decode().strip()

# conn=2 from 198.18.0.1
a, ba = banner("198.18.0.2")
b, bb = banner("198.18.0.2")
c, bc = banner("198.18.0.2")
print("first:", ba)
print("second:", bb)
print("third:", bc)
a.sendall(b"QUIT\r\n"); a.recv(512); a.close()
time.sleep(0.5)
d, bd = banner("198.18.0.2")
print("after one closed:", bd)
for s in (b, c, d):
    s.close()
# rate=3/min from 2001:2::1
for i in range(4):
    s, bn = banner("2001:2::2")
    print("v6 %d:" % (i + 1), bn)
    s.close()
PY
)
echo "$out"
echo "$out" | grep -q '^first: 220 ' || fail "first session refused"
echo "$out" | grep -q '^second: 220 ' || fail "second session refused"
echo "$out" | grep -q '^third: 421 4.7.0 Error: too many connections from your address' || fail "third session not refused"
echo "$out" | grep -q '^after one closed: 220 ' || fail "no room after a session closed"
ok "conn=2: two sessions, the third 421 4.7.0 without a banner, room again after one closes"
for i in 1 2 3; do echo "$out" | grep -q "^v6 $i: 220 " || fail "rate=3/min: connection $i refused"; done
echo "$out" | grep -q '^v6 4: 421 4.7.0 Error: too many connection attempts' || fail "rate=3/min: the fourth not refused"
ok "rate=3/min: the fourth connection in a row gets 421 4.7.0"
log_has 'NOQUEUE: reject: CONNECT from unknown\[198.18.0.1\]: 421 4.7.0' || fail "no NOQUEUE log line"
expect_stat_ge smtp_limit_refused 2
for ((i = 0; i < 20; i++)); do [ "$(lab_smtp_stat active)" = 0 ] && break; sleep 0.25; done
[ "$(lab_smtp_stat active)" = 0 ] || fail "sessions still counted as active"
ok "every session ended (smtp_active 0)"
expect_no_bug_drops
pass
