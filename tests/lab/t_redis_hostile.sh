#!/usr/bin/env bash
# t_redis_hostile.sh - corrupt and hostile data in Redis, seen by
# mxgate-control (against a fake control socket, tests/lab/fake_ctl.py) and
# by mxctl, no lab namespace:
#   - a certificate whose chain is not PEM, a ticket key of the wrong
#     length, a ticket hash of the wrong type: nothing pushed, the last good
#     state kept, each logged once and counted once in
#     mxgate_control_rejects_total{kind="certs"|"tickets"} however often
#     mxgate-control reads them again;
#   - a policy key of binary junk: counted under kind="policy";
#   - policy, user and certificate names and values of binary junk (not
#     UTF-8, control bytes, quotes): mxctl's --json output still parses
#     as strict UTF-8 JSON, its text output shows control bytes as \xHH;
#   - /metrics passes promtool check metrics throughout.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || fail "must run as root (like every lab test)"
mkdir -p "$LAB_DIR" || fail "cannot create $LAB_DIR"
export LAB_METRICS=${LAB_METRICS:-127.0.0.1:19540}
CONTROL=${MXGATE_CONTROL:-$LAB_REPO/build/mxgate-control}
MXCTL=${MXCTL:-$LAB_REPO/build/mxctl}
[ -x "$CONTROL" ] && [ -x "$MXCTL" ] || fail "mxgate-control or mxctl missing (make)"
for c in redis-server redis-cli curl openssl promtool; do
	command -v "$c" >/dev/null 2>&1 || fail "$c is not installed (make deps)"
done
MXU=mxgate
id -u "$MXU" >/dev/null 2>&1 || fail "no user $MXU (make deps: deploy/deps.sh)"
as_mxu=(setpriv --reuid="$MXU" --regid="$(id -g "$MXU")" --init-groups)
D=$LAB_DIR/hostile
RSOCK=$D/redis.sock
P=hx:
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
rm -rf "$D" && mkdir -p "$D" && chown "$MXU" "$D" || fail "cannot make $D"

rcli() { timeout 10 redis-cli -s "$RSOCK" "$@"; }
redis-server --port 0 --unixsocket "$RSOCK" --unixsocketperm 777 --save '' --appendonly no \
	--dir "$D" >"$D/redis.log" 2>&1 </dev/null &
pids+=("$!")
for ((i = 0; i < 50; i++)); do [ "$(rcli ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
[ "$(rcli ping)" = PONG ] || fail "redis-server did not come up"

{
	cat "$LAB_REPO/deploy/lab.conf"
	printf 'control_socket = %s\nredis_server = unix:%s\nredis_prefix = %s\n' "$D/ctl.sock" "$RSOCK" "$P"
	printf 'metrics_listen = %s\nappliance_id = hostile\n' "$LAB_METRICS"
	printf 'tls_cert_file = /nonexistent.crt\ntls_key_file = /nonexistent.key\n'   # tickets on
} >"$D/conf"
chmod 644 "$D/conf"
mx() { "$MXCTL" -c "$D/conf" "$@"; }
metric() {  # metric SERIES: its value on /metrics, or "none"
	curl -s -m 5 "http://$LAB_METRICS/metrics" | awk -v s="$1" '$1 == s { print $2; f = 1 } END { if (!f) print "none" }'
}
wait_log() {  # wait_log RE SECS
	for ((i = 0; i < $2 * 10; i++)); do grep -Eq -- "$1" "$D/control.log" 2>/dev/null && return 0; sleep 0.1; done
	return 1
}
wait_file() {  # wait_file PATH SECS
	for ((i = 0; i < $2 * 20; i++)); do [ -s "$1" ] && return 0; sleep 0.05; done
	return 1
}
promcheck() {  # promcheck WHAT: promtool check metrics on /metrics
	local out
	out=$(curl -s -m 5 "http://$LAB_METRICS/metrics" | promtool check metrics 2>&1) ||
		fail "$1: promtool check metrics: $out"
}
json_ok() {  # json_ok CMD...: mxctl CMD --json parses as strict UTF-8 JSON
	mx "$@" --json >"$D/out.json" || fail "mxctl $* --json: exit $?"
	"$LAB_PY" -c 'import json, sys; json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))' "$D/out.json" ||
		fail "mxctl $* --json is not valid JSON: $(head -c 300 "$D/out.json" | od -c | head -5)"
}

# ---- a good state: policy, ticket keys, one certificate ----
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=mx.lab.example \
	-keyout "$D/k.pem" -out "$D/c.pem" >/dev/null 2>&1 || fail "openssl"
rcli hset "${P}policy" To:lab.example RELAY >/dev/null && rcli set "${P}policy:version" 1 >/dev/null &&
	rcli -x hset "${P}cert:good" chain <"$D/c.pem" >/dev/null &&
	rcli -x hset "${P}cert:good" key <"$D/k.pem" >/dev/null && rcli sadd "${P}certs" good >/dev/null ||
	fail "seed"
"${as_mxu[@]}" "$LAB_PY" "$LAB_T/fake_ctl.py" "$D/ctl.sock" "$D" >>"$D/fake.log" 2>&1 &
pids+=("$!")
for ((i = 0; i < 50; i++)); do [ -S "$D/ctl.sock" ] && break; sleep 0.05; done
"${as_mxu[@]}" "$CONTROL" -f -i 1 -c "$D/conf" >>"$D/control.log" 2>&1 </dev/null &
control_pid=$!
pids+=("$control_pid")
wait_file "$D/policy.1" 5 && wait_file "$D/tickets" 5 && wait_file "$D/certs" 5 ||
	fail "good state not pushed: $(tail -5 "$D/control.log")"
for k in certs tickets policy; do
	[ "$(metric "mxgate_control_rejects_total{kind=\"$k\"}")" = 0 ] ||
		fail "rejects{kind=$k} not 0 in a good state: $(metric "mxgate_control_rejects_total{kind=\"$k\"}")"
done
promcheck "good state"
ok "good state pushed (policy, tickets, certificate); rejects 0 for certs, tickets, policy"
tickets0=$(cat "$D/tickets")

# ---- a certificate chain that is not PEM: logged once, counted once ----
rm -f "$D/certs"
rcli hset "${P}cert:good" chain "$(printf 'junk\001\377 not pem')" >/dev/null
rcli publish "${P}events" certs >/dev/null
wait_log 'certificates in Redis NOT pushed: .*cert:good: chain or key is not PEM' 3 ||
	fail "a chain that is not PEM is not logged: $(tail -3 "$D/control.log")"
rcli publish "${P}events" certs >/dev/null
sleep 2.5                                     # a few periodic reads (-i 1) and the event
[ -e "$D/certs" ] && fail "a chain that is not PEM was pushed"
n=$(grep -c 'cert:good: chain or key is not PEM' "$D/control.log")
[ "$n" = 1 ] || fail "the bad chain was logged $n times, not once"
v=$(metric 'mxgate_control_rejects_total{kind="certs"}')
[ "$v" = 1 ] || fail "a bad certificate in Redis: rejects_total{kind=\"certs\"} is $v, expected 1"
promcheck "bad certificate"
ok "a chain that is not PEM: not pushed, logged once, rejects_total{kind=\"certs\"} 1"

# ---- ticket keys: the wrong length, then the wrong type ----
rcli hset "${P}tickets" current "$(printf '%095d' 7)" >/dev/null
rcli publish "${P}events" tickets >/dev/null
wait_log 'session-ticket keys in hx:tickets NOT pushed: field current is not 96 hex digits \(95 bytes\)' 3 ||
	fail "a 95-digit ticket key is not logged: $(tail -3 "$D/control.log")"
sleep 2.5
[ "$(cat "$D/tickets")" = "$tickets0" ] || fail "a bad ticket key changed mxgate's keys"
v=$(metric 'mxgate_control_rejects_total{kind="tickets"}')
[ "$v" = 1 ] || fail "a 95-digit ticket key: rejects_total{kind=\"tickets\"} is $v, expected 1"
rcli del "${P}tickets" >/dev/null
rcli set "${P}tickets" "$(printf 'binary\377junk')" >/dev/null
rcli publish "${P}events" tickets >/dev/null
wait_log 'reading hx:tickets: .*WRONGTYPE' 3 || fail "a ticket key of the wrong type is not logged"
sleep 2.5
n=$(grep -c 'reading hx:tickets: .*WRONGTYPE' "$D/control.log")
[ "$n" = 1 ] || fail "the wrong type was logged $n times, not once"
v=$(metric 'mxgate_control_rejects_total{kind="tickets"}')
[ "$v" = 2 ] || fail "a ticket key of the wrong type: rejects_total{kind=\"tickets\"} is $v, expected 2"
[ "$(cat "$D/tickets")" = "$tickets0" ] || fail "a ticket hash of the wrong type changed mxgate's keys"
ok "ticket keys of 95 digits, then a string instead of the hash: mxgate keeps its keys, each counted once"

# ---- policy: an entry of binary junk ----
rcli hset "${P}policy" "$(printf 'To:\377\376\001"x')" "$(printf 'RELAY\001\300')" >/dev/null
v=$(rcli incr "${P}policy:version") && rcli publish "${P}events" "policy $v" >/dev/null
wait_log "policy version $v in Redis NOT pushed" 3 || fail "a binary policy key is not logged"
sleep 1.5
[ -e "$D/policy.$v" ] && fail "a binary policy key was pushed"
[ "$(metric 'mxgate_control_rejects_total{kind="policy"}')" = 1 ] || fail "policy rejects not 1"
promcheck "bad policy"
ok "a policy key of binary junk: not pushed, rejects_total{kind=\"policy\"} 1"

# ---- mxctl --json over binary junk ----
rcli set "$(printf '%sauth:bin\377\001"q\\' "$P")" "$(printf '$scrypt$\377')" >/dev/null
rcli sadd "${P}certs" "$(printf 'c\377\001"')" >/dev/null
rcli hset "${P}cert:good" sni "$(printf 'a\377.example')" >/dev/null
# a user name with a newline: it must not forge a line of the list
rcli set "$(printf '%sauth:eve\nforged-user' "$P")" '$scrypt$ln=14,r=8,p=1$c2FsdA$a2V5' >/dev/null
json_ok policy list
json_ok user list
json_ok cert list
mx policy list --json >"$D/out.json"
"$LAB_PY" - "$D/out.json" <<'EOF' || fail "mxctl policy list --json: junk key not kept as U+FFFD, control byte escaped"
import json, sys
d = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))
keys = [e["key"] for e in d["entries"]]
assert 'To:\ufffd\ufffd\x01"x' in keys, keys
assert "To:lab.example" in keys, keys
EOF
ok "mxctl policy list, user list, cert list --json parse as UTF-8 JSON over binary junk (bad bytes as U+FFFD)"
for l in "policy list" "user list" "cert list"; do
	mx $l >"$D/out.txt" || fail "mxctl $l: exit $?"
	LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$D/out.txt" &&
		fail "mxctl $l prints control bytes from Redis: $(od -c "$D/out.txt" | head -5)"
	grep -qF '\x01' "$D/out.txt" || fail "mxctl $l: the junk not shown as \\xHH: $(cat -v "$D/out.txt")"
done
mx user list >"$D/out.txt"
grep -q '^forged-user' "$D/out.txt" && fail "a newline in a user name forged a line of mxctl user list: $(cat "$D/out.txt")"
grep -qF 'eve\x0aforged-user' "$D/out.txt" || fail "the newline in a user name not shown as \\x0a: $(cat "$D/out.txt")"
ok "mxctl policy list, user list, cert list (text): Redis's control bytes, newlines too, shown as \\xHH, not sent to the terminal"

kill -0 "$control_pid" 2>/dev/null || fail "mxgate-control died: $(tail -5 "$D/control.log")"
promcheck "end"
ok "mxgate-control alive, /metrics clean for promtool"
pass
