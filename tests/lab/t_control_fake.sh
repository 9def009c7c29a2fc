#!/usr/bin/env bash
# t_control_fake.sh - mxgate-control alone, against Redis (TCP on 127.0.0.1,
# Redis 6 ACL user) and fake control sockets (tests/lab/fake_ctl.py), no
# lab namespace: what t_control_redis.sh cannot easily provoke.
#   - start-up errors: no control_socket, bad redis_server, metrics port taken;
#   - two appliances starting at once on an empty Redis agree on one ticket
#     key (WATCH/MULTI); both push it;
#   - a wrong password: logged once, nothing pushed;
#   - a 50,000-entry map is validated and pushed within 2 s of PUBLISH, sorted;
#   - mxgate restarted (a new fake): everything is pushed again;
#   - a map that mxgate refuses is not retried every interval;
#   - bad ticket keys in Redis are not pushed; good ones (current, previous) are;
#   - certificates: the SET_CERTS payload, the default first; a bad one not pushed;
#   - a key of the wrong type: logged once;
#   - totals over 2 lcores in <prefix>stats:<id> (lcore label dropped, others kept);
#   - 40 idle HTTP connections: at most 32 held, each dropped after 5 s,
#     /metrics answers again; SIGHUP: full resync and push.
# mxgate-control runs as the mxgate user (as systemd's User=mxgate does), the
# fake mxgates too (they own the sockets it connects to); started by root it
# becomes that user, or refuses to run when it cannot.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || fail "must run as root (like every lab test)"
mkdir -p "$LAB_DIR" || fail "cannot create $LAB_DIR"

CONTROL=${MXGATE_CONTROL:-$LAB_REPO/build/mxgate-control}
[ -x "$CONTROL" ] || fail "mxgate-control missing: $CONTROL (make)"
for c in redis-server redis-cli curl; do
	command -v "$c" >/dev/null 2>&1 || fail "$c is not installed (make deps)"
done
free_port() { "$LAB_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
RPORT=$(free_port) && MPA=$(free_port) && MPB=$(free_port) || fail "no free port"
RSOCK=$LAB_DIR/redis.sock
P=fk:
MXU=mxgate                      # lab.conf's mxgate_user (the default)
id -u "$MXU" >/dev/null 2>&1 || fail "no user $MXU (make deps: deploy/deps.sh)"
as_mxu=(setpriv --reuid="$MXU" --regid="$(id -g "$MXU")" --init-groups)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

rcli() { timeout 10 redis-cli -s "$RSOCK" --user admin --pass adminpw --no-auth-warning "$@"; }

# Redis on 127.0.0.1 (and a Unix socket for redis-cli); the default user is off
rm -f "$RSOCK"
redis-server --port "$RPORT" --bind 127.0.0.1 --unixsocket "$RSOCK" --unixsocketperm 700 \
	--save '' --appendonly no --dir "$LAB_DIR" >"$LAB_DIR/redis.log" 2>&1 </dev/null &
pids+=("$!")
for ((i = 0; i < 50; i++)); do
	[ "$(timeout 2 redis-cli -s "$RSOCK" ping 2>/dev/null)" = PONG ] && break
	sleep 0.1
done
timeout 5 redis-cli -s "$RSOCK" >/dev/null <<-EOF || fail "ACL set-up"
	ACL SETUSER admin on >adminpw ~* &* +@all
	ACL SETUSER ctl on >ctlpw ~${P}* &${P}* +@all -@dangerous
	ACL SETUSER default off
EOF
[ "$(rcli ping)" = PONG ] || fail "redis-server on 127.0.0.1:$RPORT did not come up"

# conf NAME ID METRICS_PORT [PASSWORD]: a configuration for one appliance
conf() {
	local d=$LAB_DIR/$1
	mkdir -p "$d" && chown "$MXU" "$d" && rm -f "$d"/policy.* "$d"/tickets "$d"/requests.log "$d"/control.log "$d"/fake.log
	{
		cat "$LAB_REPO/deploy/lab.conf"
		printf 'tls_cert_file = /nonexistent.crt\ntls_key_file = /nonexistent.key\n'
		printf 'control_socket = %s\nredis_server = 127.0.0.1:%s\nredis_user = ctl\n' "$d/ctl.sock" "$RPORT"
		printf 'redis_password = %s\nredis_prefix = %s\nmetrics_listen = 127.0.0.1:%s\nappliance_id = %s\n' \
			"${4:-ctlpw}" "$P" "$3" "$2"
	} >"$d/conf"
}
fake() {  # fake NAME [options]: start a fake control socket; its pid in fake_pid
	local d=$LAB_DIR/$1
	shift
	"${as_mxu[@]}" "$LAB_PY" "$LAB_T/fake_ctl.py" "$d/ctl.sock" "$d" "$@" >>"$d/fake.log" 2>&1 &
	fake_pid=$!
	pids+=("$fake_pid")
	for ((i = 0; i < 50; i++)); do [ -S "$d/ctl.sock" ] && return 0; sleep 0.05; done
	fail "fake control socket $1 did not start"
}
control() {  # control NAME [options]: start mxgate-control; its pid in control_pid
	"${as_mxu[@]}" "$CONTROL" -f -i 1 "${@:2}" -c "$LAB_DIR/$1/conf" >>"$LAB_DIR/$1/control.log" 2>&1 </dev/null &
	control_pid=$!
	pids+=("$control_pid")
}
wait_file() {  # wait_file PATH SECS
	for ((i = 0; i < $2 * 20; i++)); do [ -s "$1" ] && return 0; sleep 0.05; done
	return 1
}
wait_log() {  # wait_log NAME RE SECS
	for ((i = 0; i < $3 * 10; i++)); do grep -Eq -- "$2" "$LAB_DIR/$1/control.log" 2>/dev/null && return 0; sleep 0.1; done
	return 1
}
bump() {
	local v
	v=$(rcli incr "${P}policy:version") && rcli publish "${P}events" "policy $v" >/dev/null || fail "bump"
	echo "$v"
}

# ---- start-up errors ----
conf bad x "$MPA"
sed -i '/^control_socket/d' "$LAB_DIR/bad/conf"
out=$("$CONTROL" -f -c "$LAB_DIR/bad/conf" 2>&1) && fail "started without control_socket"
echo "$out" | grep -q 'control_socket is not set' || fail "no control_socket: $out"
conf bad x "$MPA"
sed -i 's/^redis_server = .*/redis_server = nonsense/' "$LAB_DIR/bad/conf"
out=$("$CONTROL" -f -c "$LAB_DIR/bad/conf" 2>&1) && fail "started with redis_server = nonsense"
echo "$out" | grep -q "bad/conf:[0-9]*: redis_server: 'nonsense'" || fail "bad redis_server: $out"
conf bad x "$RPORT"
out=$("$CONTROL" -f -c "$LAB_DIR/bad/conf" 2>&1) && fail "started on a port in use"
echo "$out" | grep -q "metrics_listen 127.0.0.1:$RPORT: Address already in use" || fail "port in use: $out"
out=$("$CONTROL" -f 2>&1) && fail "started without -c"
echo "$out" | grep -q usage || fail "no usage: $out"
ok "start-up errors: no control_socket, bad redis_server, metrics port in use, no -c"
conf bad x "$MPA"
echo "mxgate_user = mxgate-nope" >>"$LAB_DIR/bad/conf"
out=$("$CONTROL" -f -c "$LAB_DIR/bad/conf" 2>&1) && fail "started as root with no mxgate_user to become"
echo "$out" | grep -q "started as root and .*bad/conf: mxgate_user: no user 'mxgate-nope' to become: refusing to run as root" ||
	fail "no clear refusal: $out"
ok "root with mxgate_user = mxgate-nope: refused, \"$(echo "$out" | grep -o "mxgate_user: no user.*as root")\""
conf bad x "$MPA"
sed -i '/^redis_server/d' "$LAB_DIR/bad/conf"          # not into the Redis of the checks below
out=$(timeout 3 "$CONTROL" -f -c "$LAB_DIR/bad/conf" 2>&1)
[ $? = 124 ] || fail "started by root with a good mxgate_user, it did not keep running: $out"
echo "$out" | grep -q "started as root: running as $MXU (uid $(id -u "$MXU")" || fail "no 'running as $MXU' line: $out"
ok "started by root: $(echo "$out" | grep -o "running as $MXU ([^)]*)")"

# ---- two appliances at once, empty Redis ----
rcli hset "${P}policy" To:lab.example RELAY >/dev/null && rcli set "${P}policy:version" 1 >/dev/null || fail "seed"
conf a app-a "$MPA"
conf b app-b "$MPB"
fake a; fake_a=$fake_pid
fake b
control a; control_a=$control_pid
control b
wait_file "$LAB_DIR/a/tickets" 5 && wait_file "$LAB_DIR/b/tickets" 5 || fail "ticket keys not pushed to both"
cur=$(rcli hget "${P}tickets" current)
[[ $cur =~ ^[0-9a-f]{96}$ ]] || fail "no ticket key in Redis: $cur"
for x in a b; do
	[ "$(cat "$LAB_DIR/$x/tickets")" = "$cur$cur" ] || fail "appliance $x has other ticket keys than Redis"
done
n=$(cat "$LAB_DIR"/[ab]/control.log | grep -c 'made one and stored it')
[ "$n" = 1 ] || fail "$n appliances stored a ticket key, expected exactly 1"
ok "two appliances at once: one ticket key made, both pushed it (current = previous)"
wait_file "$LAB_DIR/a/policy.1" 5 && wait_file "$LAB_DIR/b/policy.1" 5 || fail "policy 1 not pushed to both"
[ "$(cat "$LAB_DIR/a/policy.1")" = $'1\nTo:lab.example RELAY' ] || fail "policy.1: $(cat "$LAB_DIR/a/policy.1")"
ok "policy version 1 pushed to both: \"1\\nTo:lab.example RELAY\\n\""
kill -TERM "$control_pid"

# ---- a wrong password ----
conf c app-c "$(free_port)" wrongpw
fake c
control c
wait_log c 'cannot reach Redis at 127.0.0.1:[0-9]+: AUTH as ctl: WRONGPASS' 5 || fail "wrong password not logged: $(tail -3 "$LAB_DIR/c/control.log")"
sleep 2
[ "$(grep -c 'cannot reach Redis' "$LAB_DIR/c/control.log")" = 1 ] || fail "the AUTH failure was logged more than once"
[ -e "$LAB_DIR/c/policy.last" ] && fail "a policy was pushed without Redis"
kill -TERM "$control_pid"
ok "wrong password: logged once, nothing pushed"

# ---- a big map ----
rcli eval "for i = 1, 50000 do redis.call('HSET', KEYS[1], 'To:d' .. i .. '.example', 'RELAY') end" 1 "${P}policy" >/dev/null ||
	fail "EVAL"
t0=$(date +%s%3N)
v=$(bump)
wait_file "$LAB_DIR/a/policy.$v" 3 || fail "50,001-entry map not pushed: $(tail -3 "$LAB_DIR/a/control.log")"
dt=$(($(date +%s%3N) - t0))
[ "$dt" -le 2000 ] || fail "50,001-entry map took $dt ms"
[ "$(wc -l <"$LAB_DIR/a/policy.$v")" = 50002 ] || fail "policy.$v: $(wc -l <"$LAB_DIR/a/policy.$v") lines"
tail -n +2 "$LAB_DIR/a/policy.$v" | LC_ALL=C sort -c || fail "entries not sorted"
ok "50,001 entries validated and pushed in $dt ms, sorted by key"
rcli del "${P}policy" >/dev/null
rcli hset "${P}policy" To:lab.example RELAY >/dev/null
v=$(bump)
wait_file "$LAB_DIR/a/policy.$v" 3 || fail "small map again"

# ---- mxgate restarted ----
kill -TERM "$fake_a"; wait "$fake_a" 2>/dev/null
rm -f "$LAB_DIR/a/policy.last" "$LAB_DIR/a/tickets"
fake a; fake_a=$fake_pid
wait_file "$LAB_DIR/a/policy.last" 8 && wait_file "$LAB_DIR/a/tickets" 2 ||
	fail "a restarted mxgate did not get policy and tickets again: $(tail -3 "$LAB_DIR/a/control.log")"
[ "$(head -1 "$LAB_DIR/a/policy.last")" = "$v" ] || fail "restarted: version $(head -1 "$LAB_DIR/a/policy.last")"
ok "mxgate restarted: policy version $v and ticket keys pushed again"

# ---- a map mxgate refuses ----
kill -TERM "$fake_a"; wait "$fake_a" 2>/dev/null
rm -f "$LAB_DIR/a/requests.log"
fake a --refuse-policy; fake_a=$fake_pid
wait_log a 'mxgate refused policy version' 8 || fail "refusal not logged"
sleep 3
n=$(grep -c SET_POLICY "$LAB_DIR/a/requests.log")
[ "$n" = 1 ] || fail "a refused map was sent $n times in 3 s"
ok "a map mxgate refuses: logged, not sent again until it changes"
kill -TERM "$fake_a"; wait "$fake_a" 2>/dev/null
rm -f "$LAB_DIR/a/policy.last" "$LAB_DIR/a/tickets"
fake a; fake_a=$fake_pid
wait_file "$LAB_DIR/a/policy.last" 8 && wait_file "$LAB_DIR/a/tickets" 2 || fail "not pushed to the next mxgate"

# ---- ticket keys ----
rm -f "$LAB_DIR/a/tickets" "$LAB_DIR/a/requests.log"
rcli hset "${P}tickets" current xyz >/dev/null
rcli publish "${P}events" tickets >/dev/null
wait_log a 'session-ticket keys in fk:tickets NOT pushed: field current is not 96 hex digits' 3 ||
	fail "bad ticket key not logged"
sleep 1.5
grep -q SET_TICKET_KEYS "$LAB_DIR/a/requests.log" && fail "ticket keys were pushed after a bad one was stored"
k1=$(head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n')
k2=$(head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n')
rcli hset "${P}tickets" current "$k1" previous "$k2" >/dev/null
rcli publish "${P}events" tickets >/dev/null
wait_file "$LAB_DIR/a/tickets" 2 || fail "rotated keys not pushed within 2 s"
[ "$(cat "$LAB_DIR/a/tickets")" = "$k1$k2" ] || fail "pushed keys are not current|previous"
ok "ticket keys: a bad one not pushed; current|previous pushed within 2 s"

# ---- certificates: SET_CERTS payload, default = first name ----
printf -- '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' >"$LAB_DIR/c.pem"
printf -- '-----BEGIN PRIVATE KEY-----\nBBBB\n-----END PRIVATE KEY-----\n' >"$LAB_DIR/k.pem"
for n in zeta alpha; do
	rcli -x hset "${P}cert:$n" chain <"$LAB_DIR/c.pem" >/dev/null && rcli -x hset "${P}cert:$n" key <"$LAB_DIR/k.pem" >/dev/null ||
		fail "cert:$n"
done
rcli hset "${P}cert:zeta" sni a.example,b.example >/dev/null
rcli sadd "${P}certs" zeta alpha >/dev/null && rcli publish "${P}events" certs >/dev/null || fail "certs"
wait_file "$LAB_DIR/a/certs" 3 || fail "certificates not pushed"
grep -a '^CERT ' "$LAB_DIR/a/certs" >"$LAB_DIR/certs.heads"
[ "$(cat "$LAB_DIR/certs.heads")" = $'CERT alpha -\nCERT zeta a.example,b.example' ] ||
	fail "SET_CERTS headers: $(cat "$LAB_DIR/certs.heads")"
cl=$(wc -c <"$LAB_DIR/c.pem"); kl=$(wc -c <"$LAB_DIR/k.pem")
[ "$(grep -ac "^$cl $kl\$" "$LAB_DIR/a/certs")" = 2 ] || fail "SET_CERTS sizes"
ok "certificates: SET_CERTS with alpha first (the default), sni '-' when none, sizes right"
rm -f "$LAB_DIR/a/certs"
rcli hset "${P}cert:alpha" sni 'bad name' >/dev/null && rcli publish "${P}events" certs >/dev/null
wait_log a "cert:alpha: sni \"bad name\" unusable" 3 || fail "a bad sni field is not logged"
sleep 1.2
[ -e "$LAB_DIR/a/certs" ] && fail "certificates with a bad sni field were pushed"
ok "a bad sni field: logged, not pushed"

# ---- wrong type ----
# the key changes type first, then the version: a periodic check between the
# two must not see version 999 with the old hash
rcli del "${P}policy" >/dev/null
rcli set "${P}policy" oops >/dev/null
rcli set "${P}policy:version" 999 >/dev/null
rcli publish "${P}events" "policy 999" >/dev/null
wait_log a 'WRONGTYPE' 3 || fail "a policy key of the wrong type is not logged"
sleep 2
[ "$(grep -c WRONGTYPE "$LAB_DIR/a/control.log")" = 1 ] || fail "WRONGTYPE logged more than once"
ok "a policy key of the wrong type: logged once, nothing pushed"

# ---- counters ----
sleep 1.2
h=$(rcli hgetall "${P}stats:app-a")
echo "$h" | grep -qx 'mxgate_smtp_sessions_total' || fail "stats hash: $h"
[ "$(rcli hget "${P}stats:app-a" mxgate_smtp_sessions_total)" = 21 ] || fail "sessions total over 2 lcores != 21"
[ "$(rcli hget "${P}stats:app-a" 'mxgate_drops_total{reason="tcp_csum"}')" = 3 ] || fail "labelled total: $h"
[ "$(rcli hget "${P}stats:app-a" mxgate_tsc_hz)" = 2000000000 ] || fail "unlabelled value"
upd=$(rcli hget "${P}stats:app-a" updated)
[ $(($(date +%s) - upd)) -le 3 ] || fail "updated = $upd"
curl -s "http://127.0.0.1:$MPA/metrics" | grep -q '^mxgate_smtp_sessions_total{lcore="2"} 14$' || fail "/metrics"
ok "totals over 2 lcores in ${P}stats:app-a (labels kept, lcore dropped), /metrics serves the text"

# ---- idle HTTP connections ----
fds0=$(ls "/proc/$control_a/fd" | wc -l)
"$LAB_PY" - "$MPA" <<'EOF' &
import socket, sys, time
conns = []
for i in range(40):
    s = socket.socket()
    s.settimeout(2)
    s.connect(("127.0.0.1", int(sys.argv[1])))
    conns.append(s)
time.sleep(8)
EOF
idle=$!
pids+=("$idle")
sleep 1
held=$(($(ls "/proc/$control_a/fd" | wc -l) - fds0))    # accepted; the rest wait in the backlog
[ "$held" -le 32 ] || fail "$held HTTP connections held, at most 32 expected"
t0=$(date +%s%3N)
code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPA/metrics")
dt=$(($(date +%s%3N) - t0))
[ "$code" = 200 ] || fail "/metrics behind 40 idle connections: $code"
[ "$dt" -le 7000 ] || fail "/metrics behind 40 idle connections took $dt ms"
kill "$idle" 2>/dev/null
ok "40 idle HTTP connections: $held held, dropped after 5 s, /metrics answered in $dt ms"

# ---- SIGHUP ----
rcli del "${P}policy" >/dev/null
rcli hset "${P}policy" To:hup.example RELAY >/dev/null
rcli set "${P}policy:version" 1000 >/dev/null
rm -f "$LAB_DIR/a/requests.log"
kill -HUP "$control_a"
wait_file "$LAB_DIR/a/policy.1000" 3 || fail "SIGHUP did not resync"
grep -q SET_TICKET_KEYS "$LAB_DIR/a/requests.log" || fail "SIGHUP did not push the ticket keys again"
ok "SIGHUP: full resync, policy and ticket keys pushed"

kill -TERM "$control_a"
wait "$control_a"
[ $? = 0 ] || fail "mxgate-control did not exit 0 on SIGTERM"
ok "SIGTERM: exit 0"

# ---- restarted on a store without marker, with an mxgate that holds pushed state ----
# (this fake, like an mxgate older than SET_GENERATION, reports no marker)
rcli del "${P}generation" >/dev/null
rm -f "$LAB_DIR/a/requests.log"
control a
wait_log a 'mxgate holds pushed state but reports no generation marker \(policy version 1000, tickets from control plane' 5 ||
	fail "the restarted mxgate-control did not see what mxgate holds: $(tail -3 "$LAB_DIR/a/control.log")"
wait_log a 'warning: Redis lost its data \(generation marker fk:generation gone; mxgate holds pushed state' 5 ||
	fail "a store without marker was not taken as lost: $(tail -3 "$LAB_DIR/a/control.log")"
sleep 2
grep -E 'SET_(POLICY|TICKET|CERTS|USERS)' "$LAB_DIR/a/requests.log" && fail "something was pushed from the store without marker"
[ -z "$(rcli get "${P}generation")" ] || fail "the marker was stamped"
curl -s "http://127.0.0.1:$MPA/metrics" | grep -q '^mxgate_control_redis_store_lost_total 1$' || fail "store_lost_total is not 1"
ok "restarted while the marker is gone and mxgate holds pushed state: lost, nothing pushed or stamped, counted"
kill -TERM "$control_pid"
wait "$control_pid"
pass
