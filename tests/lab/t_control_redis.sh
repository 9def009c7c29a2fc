#!/usr/bin/env bash
# t_control_redis.sh - mxgate-control between Redis and mxgate. Redis runs
# on a Unix socket under $LAB_DIR (the management side, outside the lab
# namespace); mxgate-control runs outside the namespace too, talks to
# mxgate's control socket (a Unix socket) and serves /metrics on the
# host's 127.0.0.1. Checks:
#   - started before mxgate, it retries and pushes the policy in Redis once
#     mxgate answers; it makes a session-ticket key (none in Redis) and
#     pushes it;
#   - a change written with redis-cli (HSET + INCR version + PUBLISH) is
#     enforced on the next connection within 2 s, and undone by HDEL;
#   - a malformed entry is not pushed (mxgate keeps the old map; the log
#     names the key and why); fixing it is pushed;
#   - certificates stored as mxctl stores them: a mismatched key is refused
#     by mxgate (the old one stays), a good one is in force for new sessions;
#   - Redis killed: mail still flows, the outage is logged once; Redis
#     restarted on the same socket (empty: no persistence): it lost its
#     data (the generation marker is gone), so a change made then is not
#     applied until "mxctl reload --force" accepts the store; then it is;
#   - /metrics agrees with mxgate's own counters (CTL_STATS); 404 elsewhere;
#     the hash <prefix>stats:<appliance_id> holds the totals and a recent
#     "updated";
#   - SIGTERM: a clean stop.
# Started by root, mxgate-control becomes mxgate_user (mxgate) once its
# configuration and metrics port are open: every check runs with it as that
# user; Redis runs as that user too (its socket is mode 700), as in lab.sh.
. "$(dirname "$0")/lib.sh"
lab_begin

CONTROL=${MXGATE_CONTROL:-$LAB_REPO/build/mxgate-control}
[ -x "$CONTROL" ] || fail "mxgate-control missing: $CONTROL (make)"
for c in redis-server redis-cli curl swaks; do
	command -v "$c" >/dev/null 2>&1 || fail "$c is not installed (make deps)"
done

RSOCK=$LAB_DIR/redis.sock
CSOCK=$LAB_DIR/ctl.sock
CLOG=$LAB_DIR/control.log
CCONF=$LAB_DIR/control.conf
ID=lab-1
P=mxgate:                       # the default redis_prefix
PORT=$("$LAB_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') ||
	fail "no free port on 127.0.0.1"
redis_pid=
control_pid=
MXU=mxgate                      # lab.conf's mxgate_user (the default)
id -u "$MXU" >/dev/null 2>&1 || fail "no user $MXU (make deps: deploy/deps.sh)"
chown "$MXU" "$LAB_DIR" || fail "cannot give $LAB_DIR to $MXU"

rcli() { timeout 5 redis-cli -s "$RSOCK" "$@"; }

start_redis() {
	local i
	rm -f "$RSOCK"
	setpriv --reuid="$MXU" --regid="$(id -g "$MXU")" --init-groups \
		redis-server --port 0 --unixsocket "$RSOCK" --unixsocketperm 700 --save '' --appendonly no \
		--dir "$LAB_DIR" >>"$LAB_DIR/redis.log" 2>&1 </dev/null &
	redis_pid=$!
	for ((i = 0; i < 50; i++)); do
		[ "$(rcli ping 2>/dev/null)" = PONG ] && return 0
		sleep 0.1
	done
	fail "redis-server did not answer on $RSOCK"
}

stop_redis() {
	[ -n "$redis_pid" ] || return 0
	kill -TERM "$redis_pid" 2>/dev/null
	wait "$redis_pid" 2>/dev/null
	redis_pid=
}

stop_control() {
	[ -n "$control_pid" ] || return 0
	kill -TERM "$control_pid" 2>/dev/null
	wait "$control_pid" 2>/dev/null
	control_pid=
}

cleanup() {
	stop_control
	stop_redis
	lab_down >/dev/null 2>&1
}
trap cleanup EXIT

# mxgate's own answers over the control socket
ctl() { "$LAB_PY" "$LAB_T/ctl_client.py" "$CSOCK" "$@"; }
mx_polver() { ctl status 2>/dev/null | awk '$1 == "policy_version" { print $2 }'; }

# Wait up to SECS for mxgate to report policy version V; prints the seconds it took.
wait_polver() {
	local v=$1 ms=$(($2 * 1000)) t0 dt
	t0=$(date +%s%3N)
	while :; do
		dt=$(($(date +%s%3N) - t0))
		[ "$(mx_polver)" = "$v" ] && { printf '%d.%03d\n' $((dt / 1000)) $((dt % 1000)); return 0; }
		[ "$dt" -gt "$ms" ] && return 1
		sleep 0.05
	done
}

# Wait up to SECS for the control log to match the extended regex RE.
wait_log() {
	local re=$1 secs=$2 i
	for ((i = 0; i < secs * 10; i++)); do
		grep -Eq -- "$re" "$CLOG" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# The last lines the client saw for one message to RCPT.
mail_to() {
	lab_exec timeout 20 swaks --server 198.18.0.2 --port 25 --helo client.example \
		--from a@client.example --to "$1" --body "control $1" 2>&1 | grep -E '^<' | tail -2
}
expect_denied() {
	local out
	out=$(mail_to "$1")
	echo "$out" | grep -q "554 5.7.1 <$1>: Relay access denied" || fail "$2: expected Relay access denied for $1: $out"
}
expect_relayed() {
	local out
	out=$(mail_to "$1")
	echo "$out" | grep -q '^<-  250 2.0.0' || fail "$2: expected $1 relayed: $out"
}

# A policy change as an operator (or mxctl) makes it: hash, version, event.
bump() {
	local v
	v=$(rcli incr "${P}policy:version") || fail "INCR version"
	rcli publish "${P}events" "policy $v" >/dev/null || fail "PUBLISH"
	echo "$v"
}

# ---- Redis first, with a policy and no ticket key ----
start_redis
rcli hset "${P}policy" To:lab.example RELAY >/dev/null || fail "HSET"
rcli set "${P}policy:version" 1 >/dev/null || fail "SET version"

extra=("control_socket = $CSOCK" "redis_server = unix:$RSOCK" "metrics_listen = 127.0.0.1:$PORT"
       "appliance_id = $ID")
# mxgate-control reads the same configuration as mxgate: the one lab.sh writes
{
	cat "$LAB_REPO/deploy/lab.conf"
	printf 'tls_cert_file = %s\ntls_key_file = %s\n' "$LAB_CERT" "${LAB_CERT%.crt}.key"
	printf '%s\n' "${extra[@]}"
} >"$CCONF" || fail "cannot write $CCONF"

# ---- mxgate-control before mxgate: it must wait for it ----
"$CONTROL" -f -i 1 -c "$CCONF" >"$CLOG" 2>&1 </dev/null &
control_pid=$!
wait_log 'connected to Redis' 5 || fail "mxgate-control did not connect to Redis: $(tail -5 "$CLOG")"
wait_log 'mxgate control socket: .*retrying' 5 || fail "no 'retrying' line while mxgate is down: $(tail -5 "$CLOG")"
ok "mxgate-control up before mxgate: connected to Redis, waits for mxgate"
uid=$(id -u "$MXU")
grep -q "started as root: running as $MXU (uid $uid" "$CLOG" || fail "no 'running as $MXU' line: $(head -3 "$CLOG")"
ids=$(awk '$1 == "Uid:" || $1 == "Gid:" { $1 = ""; print }' "/proc/$control_pid/status" | tr '\n' ' ')
[ "$ids" = " $uid $uid $uid $uid  $(id -g "$MXU") $(id -g "$MXU") $(id -g "$MXU") $(id -g "$MXU") " ] ||
	fail "mxgate-control's uids/gids: '$ids', expected all $uid / $(id -g "$MXU")"
grep -q '^NoNewPrivs:[[:space:]]*1$' "/proc/$control_pid/status" || fail "mxgate-control may gain privileges"
ok "started by root, mxgate-control runs as $MXU (all uids $uid, no_new_privs)"

lab_up "${extra[@]}" || fail "lab did not come up"
wait_polver 1 10 >/dev/null || fail "policy version 1 not pushed within 10 s of mxgate's start: $(tail -5 "$CLOG")"
grep -q 'policy version 1 pushed to mxgate: 1 entry' "$CLOG" || fail "no push line: $(tail -5 "$CLOG")"
ok "policy version 1 pushed once mxgate answered"

cur=$(rcli hget "${P}tickets" current)
[[ $cur =~ ^[0-9a-f]{96}$ ]] || fail "no 96-hex-digit ticket key in ${P}tickets: '$cur'"
wait_log 'session-ticket keys pushed to mxgate' 5 || fail "ticket keys not pushed: $(tail -5 "$CLOG")"
ctl status | grep -q '^tickets from control plane$' || fail "mxgate does not use the pushed ticket keys: $(ctl status | grep tickets)"
ok "ticket key made (WATCH/MULTI), stored in Redis and pushed; mxgate uses it"

# ---- changes through Redis ----
expect_relayed b@lab.example "v1"
expect_denied x@other.example "v1"
ok "v1: lab.example relayed, other.example: 554 5.7.1 Relay access denied"

rcli hset "${P}policy" To:other.example RELAY >/dev/null || fail "HSET"
v=$(bump)
t=$(wait_polver "$v" 2) || fail "version $v not in force within 2 s of PUBLISH: $(tail -5 "$CLOG")"
expect_relayed x@other.example "v$v"
ok "HSET To:other.example RELAY: in force after ${t}s, mail to it relayed"

rcli hdel "${P}policy" To:other.example >/dev/null || fail "HDEL"
v=$(bump)
t=$(wait_polver "$v" 2) || fail "version $v not in force within 2 s of PUBLISH: $(tail -5 "$CLOG")"
expect_denied x@other.example "v$v (HDEL)"
ok "HDEL: in force after ${t}s, other.example denied again"

# ---- a malformed entry is not pushed ----
good=$v
rcli hset "${P}policy" To:other.example RELAY To:bad.example RELAYY >/dev/null || fail "HSET"
v=$(bump)
wait_log "policy version $v in Redis: bad entry in ${P}policy: To:bad.example: unknown value 'RELAYY'" 3 ||
	fail "the bad entry is not logged with its key and why: $(tail -5 "$CLOG")"
wait_log "policy version $v in Redis NOT pushed: .*mxgate keeps version $good" 3 ||
	fail "no 'NOT pushed' line: $(tail -5 "$CLOG")"
sleep 1
[ "$(mx_polver)" = "$good" ] || fail "mxgate's policy version is $(mx_polver), expected $good kept"
expect_denied x@other.example "bad v$v"
ok "malformed entry: logged with key and why, not pushed; mxgate keeps version $good"
rcli hdel "${P}policy" To:bad.example >/dev/null || fail "HDEL"
v=$(bump)
wait_polver "$v" 2 >/dev/null || fail "the fixed map (version $v) not in force within 2 s"
expect_relayed x@other.example "fixed v$v"
ok "fixed (HDEL of the bad entry): version $v pushed, other.example relayed"

# ---- certificates (as mxctl cert add stores them) ----
cd_=$LAB_DIR/certs2
mkdir -p "$cd_" || fail "cannot create $cd_"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=mx.lab.example \
	-addext subjectAltName=DNS:mx.lab.example -keyout "$cd_/new.key" -out "$cd_/new.crt" >/dev/null 2>&1 ||
	fail "openssl: cannot make a certificate"
fp() {  # SHA-256 prefix of the certificate a new STARTTLS session gets
	echo QUIT | lab_exec timeout 10 openssl s_client -starttls smtp -connect 198.18.0.2:25 2>/dev/null |
		openssl x509 -outform DER 2>/dev/null | sha256sum | cut -c1-16
}
old_fp=$(fp)
new_fp=$(openssl x509 -in "$cd_/new.crt" -outform DER | sha256sum | cut -c1-16)
[ -n "$old_fp" ] && [ "$old_fp" != "$new_fp" ] || fail "certificate fingerprints: '$old_fp' '$new_fp'"
rcli -x hset "${P}cert:bad" chain <"$cd_/new.crt" >/dev/null &&
	rcli -x hset "${P}cert:bad" key <"${LAB_CERT%.crt}.key" >/dev/null &&
	rcli sadd "${P}certs" bad >/dev/null && rcli publish "${P}events" certs >/dev/null || fail "storing cert:bad"
wait_log 'mxgate refused the certificates in Redis' 3 || fail "a mismatched key was not refused: $(tail -3 "$CLOG")"
[ "$(fp)" = "$old_fp" ] || fail "the refused certificate replaced the one in force"
ok "a certificate whose key does not match: refused by mxgate, logged, the old one stays"
rcli del "${P}cert:bad" >/dev/null && rcli srem "${P}certs" bad >/dev/null || fail "removing cert:bad"
rcli -x hset "${P}cert:new" chain <"$cd_/new.crt" >/dev/null &&
	rcli -x hset "${P}cert:new" key <"$cd_/new.key" >/dev/null &&
	rcli hset "${P}cert:new" sni mx.lab.example >/dev/null &&
	rcli sadd "${P}certs" new >/dev/null && rcli publish "${P}events" certs >/dev/null || fail "storing cert:new"
wait_log 'certificates pushed to mxgate' 3 || fail "certificates not pushed: $(tail -3 "$CLOG")"
[ "$(fp)" = "$new_fp" ] || fail "new sessions do not get the certificate from Redis"
expect_relayed b@lab.example "after the certificate change"
ok "certificate from Redis (${P}certs, ${P}cert:new) in force for new sessions"

# ---- Redis away ----
stop_redis
wait_log 'Redis lost' 3 || fail "the outage is not logged: $(tail -5 "$CLOG")"
sleep 3                                 # several reconnect attempts
n=$(grep -c 'Redis lost\|cannot reach Redis' "$CLOG")
[ "$n" = 1 ] || fail "the outage was logged $n times, expected once: $(grep 'Redis' "$CLOG" | tail -5)"
expect_relayed b@lab.example "Redis down"
expect_relayed x@other.example "Redis down"
[ "$(mx_polver)" = "$v" ] || fail "mxgate's policy changed while Redis was away: $(mx_polver)"
curl -s "http://127.0.0.1:$PORT/metrics" | grep -q '^mxgate_control_redis_up 0$' || fail "/metrics: redis_up is not 0"
ok "Redis killed: outage logged once, mail flows, mxgate keeps version $v, /metrics says redis_up 0"

start_redis                             # same socket, empty (no persistence)
wait_log 'Redis at .* back after' 8 || fail "no reconnect within 8 s: $(tail -5 "$CLOG")"
wait_log 'Redis lost its data \(generation marker' 3 || fail "the empty Redis is not taken as lost: $(tail -3 "$CLOG")"
rcli hset "${P}policy" To:lab.example RELAY >/dev/null || fail "HSET"
rcli set "${P}policy:version" 100 >/dev/null || fail "SET version"
rcli publish "${P}events" "policy 100" >/dev/null || fail "PUBLISH"
sleep 1
[ "$(mx_polver)" = "$v" ] || fail "a change in the empty Redis was pushed before --force: $(mx_polver)"
[ -z "$(rcli hget "${P}tickets" current)" ] || fail "a ticket key was made in the empty Redis before --force"
"$LAB_REPO/build/mxctl" -c "$CCONF" reload --force >/dev/null || fail "mxctl reload --force"
wait_polver 100 2 >/dev/null || fail "a change after reload --force is not in force within 2 s: $(tail -5 "$CLOG")"
expect_denied x@other.example "after the outage"
ok "Redis back empty: kept version $v (store lost); after mxctl reload --force version 100 is enforced"
cur2=$(rcli hget "${P}tickets" current)
[[ $cur2 =~ ^[0-9a-f]{96}$ ]] || fail "the empty Redis did not get a ticket key: '$cur2'"
ok "the empty Redis got a new ticket key"

# ---- a change without PUBLISH is still seen (the periodic version check) ----
rcli hset "${P}policy" To:quiet.example RELAY >/dev/null || fail "HSET"
rcli incr "${P}policy:version" >/dev/null || fail "INCR"
wait_polver 101 3 >/dev/null || fail "a change without PUBLISH not in force within 3 s (-i 1)"
ok "a change whose PUBLISH was lost is applied at the next check"

# ---- counters ----
sleep 2.5                               # quiet: at least one fetch after the last mail
hdr=$(curl -s -D - -o "$LAB_DIR/metrics.txt" "http://127.0.0.1:$PORT/metrics") || fail "curl /metrics failed"
echo "$hdr" | grep -q '^HTTP/1.0 200' || fail "/metrics: $hdr"
echo "$hdr" | grep -qi '^Content-Type: text/plain; version=0.0.4' || fail "/metrics content type: $hdr"
ctl stats >"$LAB_DIR/ctl_stats.txt" || fail "CTL_STATS"
# sum of series NAME or NAME{label="value"} (one label besides lcore) over lcores
sum() {
	awk -v m="${1%%\{*}" -v l="$(echo "$1" | sed -n 's/.*{\(.*\)}$/\1/p')" '{ n = $1; sub(/[{ ].*/, "", n) }
		n == m && (l == "" || index($1, l)) { s += $NF; f = 1 } END { if (f) printf "%.0f\n", s }' "$2"
}
for m in mxgate_tcp_passive_opens_total mxgate_smtp_sessions_total 'mxgate_smtp_messages_total{result="accepted"}' \
	 'mxgate_smtp_policy_rejects_total{stage="rcpt"}'; do
	a=$(sum "$m" "$LAB_DIR/metrics.txt")
	b=$(sum "$m" "$LAB_DIR/ctl_stats.txt")
	[ -n "$a" ] && [ "$a" = "$b" ] || fail "$m: /metrics says '$a', mxgate says '$b'"
	[ "$a" -gt 0 ] || fail "$m is 0: the test's mail should have counted"
	h=$(rcli hget "${P}stats:$ID" "$m")
	[ "$h" = "$b" ] || fail "$m: ${P}stats:$ID says '$h', mxgate says '$b'"
	ok "$m = $a in /metrics, in ${P}stats:$ID and in mxgate's CTL_STATS"
done
upd=$(rcli hget "${P}stats:$ID" updated)
now=$(date +%s)
[ -n "$upd" ] && [ $((now - upd)) -le 5 ] || fail "${P}stats:$ID updated = '$upd', now $now"
ok "${P}stats:$ID updated $((now - upd)) s ago"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/other")
[ "$code" = 404 ] || fail "GET /other: $code, expected 404"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/metrics")
[ "$code" = 405 ] || fail "POST /metrics: $code, expected 405"
big=$(head -c 6000 /dev/zero | tr '\0' a)
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $big" "http://127.0.0.1:$PORT/metrics")
[ "$code" = 400 ] || fail "a 6 KB request: $code, expected 400"
ok "/metrics: 200 text/plain; version=0.0.4; other paths and methods 404; oversized request 400"

# ---- clean stop ----
kill -TERM "$control_pid"
for ((i = 0; i < 50; i++)); do kill -0 "$control_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$control_pid" 2>/dev/null && fail "mxgate-control still running 5 s after SIGTERM"
wait "$control_pid"
rc=$?
control_pid=
[ "$rc" = 0 ] || fail "mxgate-control exited with $rc after SIGTERM"
grep -q 'stopping' "$CLOG" || fail "no 'stopping' line"
ok "SIGTERM: mxgate-control stopped cleanly (exit 0)"
expect_alive "after mxgate-control stopped"
expect_no_bug_drops
pass
