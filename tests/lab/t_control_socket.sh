#!/usr/bin/env bash
# t_control_socket.sh - mxgate's control socket, driven directly: an access
# map pushed live is enforced on the next connection and an invalid one is
# refused with the old kept; STATUS and STATS answer; SESSIONS lists an
# open session; DRAIN refuses new sessions (421) and RESUME accepts again.
. "$(dirname "$0")/lib.sh"
lab_begin
sock=$LAB_DIR/ctl.sock
lab_up "control_socket = $sock" || fail "lab did not come up"
ctl() { "$LAB_PY" "$LAB_T/ctl_client.py" "$sock" "$@"; }
swaks_to() {
	lab_exec timeout 15 swaks --server 198.18.0.2 --helo client.example --from a@client.example \
		--to "$1" 2>&1 | grep -E '^<' | tail -2
}
out=$(swaks_to x@other.example)
echo "$out" | grep -q '^<-  250 2.0.0' || fail "without a map the backend decides: $out"
printf 'To:lab.example RELAY\n' >"$LAB_DIR/map1"
out=$(ctl set-policy v1 "$LAB_DIR/map1") || fail "set-policy: $out"
ok "set-policy: $out"
out=$(swaks_to x@other.example)
echo "$out" | grep -q '554 5.7.1 <x@other.example>: Relay access denied' || fail "map not enforced: $out"
ok "the pushed map is enforced on the next connection"
printf 'To:lab.example RELAYY\n' >"$LAB_DIR/map2"
out=$(ctl set-policy v2 "$LAB_DIR/map2") && fail "an invalid map was accepted: $out"
echo "$out" | grep -q "To:lab.example: unknown value 'RELAYY'" || fail "refusal does not say why: $out"
ok "invalid map refused: $out"
st=$(ctl status) || fail "status: $st"
echo "$st" | grep -q '^policy_version v1$' || fail "status does not show version v1: $st"
echo "$st" | grep -q '^certificate .*not_after=' || fail "status without certificate expiry"
ok "status: policy v1 kept, certificate expiry shown"
ctl stats | grep -q '^mxgate_smtp_policy_rejects_total{lcore="1",stage="rcpt"} 1$' || fail "stats over the socket"
ok "stats over the socket"
# a session that stays open while we list
(printf 'EHLO client.example\r\n'; sleep 2) | lab_exec timeout 5 "$LAB_PY" "$LAB_T/nc.py" 198.18.0.2 25 >/dev/null 2>&1 &
sleep 0.7
out=$(ctl sessions) || fail "sessions: $out"
echo "$out" | grep -q 'client=198.18.0.1 .*helo=client.example' || fail "sessions: $out"
ok "sessions: $(echo "$out" | head -1)"
wait
ctl drain >/dev/null || fail "drain"
out=$(swaks_to b@lab.example)
echo "$out" | grep -q '421 4.3.2' || fail "draining: a new session was not refused: $out"
ctl resume >/dev/null || fail "resume"
out=$(swaks_to b@lab.example)
echo "$out" | grep -q '^<-  250 2.0.0' || fail "after resume: $out"
ok "drain refuses new sessions with 421 4.3.2, resume accepts again"
expect_no_bug_drops
pass
