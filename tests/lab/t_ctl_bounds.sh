#!/usr/bin/env bash
# t_ctl_bounds.sh - the control socket's per-type frame bounds in a running
# mxgate (control/ctl.h): a frame one byte over its type's bound is refused
# from its header with ERR "frame too large" and the connection closed,
# counted in STATS (mxgate_service_control_frames_refused_total{type=...})
# and logged; a frame exactly at the bound is read and handled (its
# payload's own checks answer); mxctl and the service go on working.
. "$(dirname "$0")/lib.sh"
lab_begin
sock=$LAB_DIR/ctl.sock
lab_up "control_socket = $sock" || fail "lab did not come up"
raw() { "$LAB_PY" "$LAB_T/ctl_oversize.py" "$sock" "$@"; }
ctl() { "$LAB_PY" "$LAB_T/ctl_client.py" "$sock" "$@"; }
refused() {
	ctl stats | sed -n "s/^mxgate_service_control_frames_refused_total{type=\"$1\"} //p"
}
[ "$(refused SET_TICKET_KEYS)" = 0 ] || fail "refusal counter missing or not 0: $(ctl stats | grep refused)"

# SET_TICKET_KEYS: exactly 96 bytes (two 48-byte keys)
out=$(raw 5 97 all)
echo "$out" | grep -q '^65 SET_TICKET_KEYS: frame too large (97 bytes, at most 96)$' || fail "97-byte keys: $out"
echo "$out" | grep -q '^closed$' || fail "connection not closed after a refused frame: $out"
out=$(raw 5 96 all)
echo "$out" | grep -q '^64 ticket keys set$' || fail "96-byte keys: $out"
ok "SET_TICKET_KEYS: 97 bytes refused and the connection closed, 96 bytes set"

# STATUS carries nothing: one byte is too much
out=$(raw 1 1 all)
echo "$out" | grep -q '^65 STATUS: frame too large (1 bytes, at most 0)$' || fail "STATUS with a payload: $out"
ok "STATUS with one payload byte refused"

# SET_CERTS: 8 x (header, 1 MiB chain, 1 MiB key, 64 KiB OCSP) + CA + CRL blocks
max=$(( 8 * (388 + 2 * 1048576 + 65536) + 2 * (25 + 1048576) ))
out=$(raw 8 $((max + 1)) 0)
echo "$out" | grep -q "^65 SET_CERTS: frame too large ($((max + 1)) bytes, at most $max)\$" || fail "SET_CERTS over: $out"
out=$(raw 8 "$max" all)
echo "$out" | grep -q '^65 certificate 1: header lines expected$' || fail "SET_CERTS at the bound not handled: $out"
ok "SET_CERTS: $((max + 1)) bytes refused from the header, $max bytes read and parsed"

# a frame over the 64 MiB cap, and an unknown type with a payload
out=$(raw 4 $((64 << 20)) 0)
echo "$out" | grep -q '^65 SET_POLICY: frame too large (67108864 bytes, at most 67108862)$' || fail "policy over: $out"
out=$(raw 99 5 all)
echo "$out" | grep -q '^65 ?: frame too large (5 bytes, at most 0)$' || fail "unknown type: $out"
out=$(raw 99 0 all)
echo "$out" | grep -q '^65 unknown request$' || fail "unknown type without payload: $out"
ok "over the frame cap and unknown types refused"

[ "$(refused SET_TICKET_KEYS)" = 1 ] || fail "SET_TICKET_KEYS refusals: $(refused SET_TICKET_KEYS)"
[ "$(refused STATUS)" = 1 ] || fail "STATUS refusals: $(refused STATUS)"
[ "$(refused SET_CERTS)" = 1 ] || fail "SET_CERTS refusals: $(refused SET_CERTS)"
[ "$(refused SET_POLICY)" = 1 ] || fail "SET_POLICY refusals: $(refused SET_POLICY)"
[ "$(refused other)" = 1 ] || fail "other refusals: $(refused other)"
ok "refusals counted per type in STATS"
grep -q 'mxgate: control socket: SET_CERTS frame (type 8) of [0-9]* payload bytes refused, at most' \
	"$LAB_DIR/mxgate.log" || fail "no log line for the refusal"
ok "refusals logged"

# the real clients still work: mxctl over the same socket, a policy push
st=$("$LAB_REPO/build/mxctl" -s "$sock" status 2>&1) || fail "mxctl status after the refusals: $st"
printf 'To:lab.example RELAY\n' >"$LAB_DIR/map"
out=$(ctl set-policy v7 "$LAB_DIR/map") || fail "set-policy after the refusals: $out"
ok "status and set-policy answered after the refusals: $out"
pass
