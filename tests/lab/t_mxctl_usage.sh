#!/usr/bin/env bash
# t_mxctl_usage.sh - mxctl as a tired operator types it, with no mxgate and
# a Redis that holds nothing: the exit status is 2 for every usage error
# (missing, extra or out-of-range arguments; an unknown option or command),
# 1 for a failure (mxgate not running, no such entry, no such file, a
# missing password), 0 for what worked; a usage error is found before
# anything is read or asked for (a --cost out of bounds is refused before
# the password, not after it was typed). No namespace: a redis-server on a
# Unix socket under LAB_DIR only.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || fail "must run as root (like every lab test)"
MXCTL=${MXCTL:-$LAB_REPO/build/mxctl}
[ -x "$MXCTL" ] || fail "mxctl missing: $MXCTL (make)"
command -v redis-server >/dev/null 2>&1 || fail "redis-server is not installed (make deps)"
D=$LAB_DIR/usage
RSOCK=$D/redis.sock
rpid=
cleanup() {
	[ -n "$rpid" ] && kill -TERM "$rpid" 2>/dev/null && wait "$rpid" 2>/dev/null
	rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
rm -rf "$D" && mkdir -p "$D" || fail "cannot make $D"
redis-server --port 0 --unixsocket "$RSOCK" --save '' --appendonly no --dir "$D" >"$D/redis.log" 2>&1 </dev/null &
rpid=$!
for ((i = 0; i < 50; i++)); do [ "$(timeout 2 redis-cli -s "$RSOCK" ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
{
	cat "$LAB_REPO/deploy/lab.conf"
	printf 'control_socket = %s\nredis_server = unix:%s\n' "$D/none.sock" "$RSOCK"
} >"$D/conf"

expect() {  # expect STATUS "ARGS" [STDIN]: mxctl ARGS exits STATUS, says something on stderr when not 0
	local want=$1 args=$2 in=${3:-} got
	# shellcheck disable=SC2086
	printf '%b' "$in" | timeout 20 "$MXCTL" -c "$D/conf" $args >"$D/out" 2>"$D/err"
	got=$?
	[ "$got" = "$want" ] || fail "mxctl $args: exit $got, expected $want: $(head -3 "$D/err")"
	[ "$want" = 0 ] || [ -s "$D/err" ] || fail "mxctl $args: exit $got and nothing on stderr"
}

# usage errors: 2
for a in "" "bogus" "status extra" "stats --bogus" "stats --watch 0" "stats --watch -1" "stats --watch nan" \
	"stats --count 3" "stats --watch 1 --count 0" "sessions extra" "drain --timeout 0" "drain --timeout 1.5" \
	"resume extra" "policy" "policy bogus" "policy set" "policy set To:a.example" "policy get" "policy del" \
	"policy import" "policy test" "policy test --client" "policy test --client not-an-ip" \
	"policy test --client 198.18.0.1 --bits abc" "cert" "cert add" "cert list extra" "ca set" "crl set" \
	"user" "user add" "user del" "user add a b" "tickets" "tickets bogus" "tickets rotate extra" \
	"reload --bogus" "reload extra"; do
	expect 2 "$a"
done
ok "usage errors: exit 2 with a message (38 forms)"
# a --cost mxctl cannot use: a usage error, before the password is read
for c in ln=99,r=1,p=1 ln=10,r=0,p=1 ln=20,r=8,p=1 ln=10,r=1,p=5 ln=x; do
	expect 2 "user add alice --cost $c" "pw\n"
	grep -qi "cost" "$D/err" || fail "user add --cost $c: the message does not name the cost: $(cat "$D/err")"
	expect 2 "user add alice --cost $c"
	grep -q "no password" "$D/err" && fail "user add --cost $c: asked for the password first: $(cat "$D/err")"
done
[ -z "$(timeout 5 redis-cli -s "$RSOCK" --scan --pattern 'mxgate:auth:*')" ] || fail "a user was stored"
ok "--cost out of bounds: exit 2 before the password is read, nothing stored"

# failures: 1
expect 1 "status"                               # no mxgate
expect 1 "stats"
expect 1 "sessions"
expect 1 "policy get To:none.example"
expect 1 "policy del To:none.example"
expect 1 "policy import $D/missing"
expect 1 "user del nobody"
expect 1 "cert del nobody"
expect 1 "user add alice"                       # no password on stdin
expect 1 "user add alice" "\n"                  # an empty one
expect 1 "crl set $D/missing"
"$MXCTL" -c "$D/missing.conf" status >/dev/null 2>&1
[ $? = 1 ] || fail "mxctl -c MISSING status: not exit 1"
# a control socket that takes the connection and never answers (a wedged mxgate)
"$LAB_PY" - "$D/mute.sock" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(8)
held = []
end = time.time() + 60
while time.time() < end:
    s.settimeout(1)
    try:
        held.append(s.accept()[0])
    except socket.timeout:
        pass
PY
mute=$!
for ((i = 0; i < 50; i++)); do [ -S "$D/mute.sock" ] && break; sleep 0.1; done
for a in status stats drain; do
	timeout 40 "$MXCTL" -c "$D/conf" -s "$D/mute.sock" $a >/dev/null 2>"$D/err"
	rc=$?
	[ "$rc" = 1 ] || { kill "$mute"; fail "mxctl $a on a control socket that never answers: exit $rc (124: hung)"; }
	grep -q "no answer" "$D/err" || { kill "$mute"; fail "mxctl $a on a mute socket: $(cat "$D/err")"; }
done
kill "$mute" 2>/dev/null
wait "$mute" 2>/dev/null
ok "failures: exit 1 with a message (mxgate not running or never answering, no such entry or file, no password)"

# what works: 0
expect 0 "user add alice --cost ln=10,r=1,p=1" "pw\n"
expect 0 "user list --json"
expect 0 "policy set To:lab.example RELAY"
expect 0 "policy get To:lab.example"
grep -qx RELAY "$D/out" || fail "policy get: $(cat "$D/out")"
expect 0 "policy export"
cp "$D/out" "$D/export"
expect 0 "policy import $D/export"
expect 0 "--help"
ok "what works: exit 0 (user add, policy set/get/export/import, --help)"
pass
