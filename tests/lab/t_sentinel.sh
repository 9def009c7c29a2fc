#!/usr/bin/env bash
# t_sentinel.sh - Redis Sentinel is the fleet's HA engine: mxgate-control and
# mxctl find the master through it (redis_sentinels, redis_master_name) and
# follow +switch-master. Debian's redis-server as master (127.0.0.1:19510)
# and replica (19511), one redis-sentinel (19512, quorum 1); the first
# sentinel listed (19513) is down and must be skipped. All of them run as
# mxgate_user, started here, stopped on any exit. While a client sends
# mail through mxgate without pause:
#   1. SENTINEL FAILOVER (master 19510 -> 19511) while "mxctl policy set"
#      relays a new domain: mxctl finds the new master, mxgate-control follows
#      +switch-master, the change lands (mail to that domain relayed);
#   2. the new master is killed (SIGKILL; the sentinel promotes 19510 again)
#      while "mxctl user add" adds a user: it can AUTH afterwards;
#   3. every message got 250 and the sink holds each of them; no false
#      "Redis lost its data" (the generation marker travels with the data),
#      mxgate_control_redis_store_lost_total stays 0.
. "$(dirname "$0")/lib.sh"
lab_begin
export LAB_CONTROL=1 LAB_METRICS=${LAB_METRICS:-127.0.0.1:19514}
for c in redis-server redis-sentinel redis-cli swaks curl; do
	command -v "$c" >/dev/null 2>&1 || fail "$c is not installed (make deps)"
done
M1=19510 M2=19511 SP=19512 DEAD=19513 NAME=mxm
MXU=mxgate
id -u "$MXU" >/dev/null 2>&1 || fail "no user $MXU (make deps: deploy/deps.sh)"
as_mxu=(setpriv --reuid="$MXU" --regid="$(id -g "$MXU")" --init-groups)
CLOG=$LAB_DIR/control.log
STOP=$LAB_DIR/mail.stop
SENT=$LAB_DIR/mail.sent
pids=()
loop_pid=

cleanup() {
	local p
	touch "$STOP" 2>/dev/null
	[ -n "$loop_pid" ] && { kill -TERM "$loop_pid" 2>/dev/null; wait "$loop_pid" 2>/dev/null; }
	lab_down >/dev/null 2>&1
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
}
trap cleanup EXIT

rcli() { timeout 5 redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }
ctl() { "$LAB_SH" ctl "$@"; }
wait_log() {  # wait_log RE SECS [COUNT]: the control log matches RE at least COUNT times
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		[ "$(grep -Ec -- "$1" "$CLOG" 2>/dev/null)" -ge "${3:-1}" ] && return 0
		sleep 0.1
	done
	return 1
}
until_ok() {  # until_ok SECS CMD...: run CMD until it succeeds, SECS at most
	local end=$((SECONDS + $1))
	shift
	while ! "$@" >"$LAB_DIR/until.out" 2>&1; do
		[ $SECONDS -lt "$end" ] || return 1
		sleep 0.2
	done
}
relayed() {  # relayed RCPT: one message to RCPT gets 250
	lab_exec timeout 20 swaks --server 198.18.0.2 --port 25 --helo client.example \
		--from a@client.example --to "$1" --body "sentinel $1" 2>&1 | grep -q '^<-  250 2.0.0'
}
auth_code() {
	lab_py smtp_auth.py --server 198.18.0.2 --port 25 --user "$1" --password "$2" |
		"$LAB_PY" -c 'import json,sys; print(json.load(sys.stdin)["auth"][0])'
}
auth_ok() { [ "$(auth_code "$1" "$2")" = 235 ]; }
lost_metric() {
	curl -s "http://$LAB_METRICS/metrics" | awk '$1 == "mxgate_control_redis_store_lost_total" { print $2 }'
}
role() { rcli "$1" role 2>/dev/null | head -1; }

# ---- master, replica, sentinel (as mxgate_user) ----
chown "$MXU" "$LAB_DIR" || fail "cannot give $LAB_DIR to $MXU"
for d in r1 r2 s; do
	rm -rf "${LAB_DIR:?}/$d" && mkdir -p "$LAB_DIR/$d" && chown "$MXU" "$LAB_DIR/$d" || fail "mkdir $d"
done
start_redis() {  # start_redis PORT DIR [options]: pid in redis_pid
	"${as_mxu[@]}" redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no --dir "$LAB_DIR/$2" \
		"${@:3}" >>"$LAB_DIR/$2/redis.log" 2>&1 </dev/null &
	redis_pid=$!
	pids+=("$redis_pid")
	until_ok 5 rcli "$1" ping || fail "redis-server on $1 did not start: $(tail -3 "$LAB_DIR/$2/redis.log")"
}
# a master refuses writes once its replica has left it (min-replicas-to-write, as
# README advises with Sentinel): a write to a master being failed over is refused
# (mxctl fails and is run again), never acknowledged and then lost
start_redis $M1 r1 --min-replicas-to-write 1 --min-replicas-max-lag 2; pid1=$redis_pid
start_redis $M2 r2 --replicaof 127.0.0.1 $M1; pid2=$redis_pid
until_ok 10 sh -c "redis-cli -p $M2 info replication | grep -q master_link_status:up" || fail "the replica did not sync"
cat >"$LAB_DIR/s/sentinel.conf" <<EOF
port $SP
bind 127.0.0.1
daemonize no
dir $LAB_DIR/s
sentinel monitor $NAME 127.0.0.1 $M1 1
sentinel down-after-milliseconds $NAME 1000
sentinel failover-timeout $NAME 5000
EOF
chown "$MXU" "$LAB_DIR/s/sentinel.conf"
"${as_mxu[@]}" redis-sentinel "$LAB_DIR/s/sentinel.conf" >"$LAB_DIR/s/sentinel.log" 2>&1 </dev/null &
pids+=("$!")
until_ok 15 sh -c "redis-cli -p $SP sentinel replicas $NAME | grep -qx $M2" ||
	fail "the sentinel does not know the replica: $(tail -3 "$LAB_DIR/s/sentinel.log")"
ok "master $M1, replica $M2, sentinel $SP (quorum 1) up as $MXU"

# ---- the appliance, Redis through Sentinel ----
LAB_REDIS=127.0.0.1:$M1 lab_up "redis_sentinels = 127.0.0.1:$DEAD, 127.0.0.1:$SP" "redis_master_name = $NAME" ||
	fail "lab did not come up"
wait_log "connected to Redis at 127.0.0.1:$M1 \(master '$NAME' through sentinel 127.0.0.1:$SP\)" 10 ||
	fail "mxgate-control did not find the master through the sentinel: $(tail -5 "$CLOG")"
ok "mxgate-control: master $M1 through sentinel $SP (the dead one, $DEAD, skipped)"
ctl policy set To:lab.example RELAY >/dev/null || fail "mxctl policy set (through Sentinel)"
relayed b@lab.example || fail "lab.example not relayed"
relayed x@other.example && fail "other.example relayed before the change"
ok "mxctl policy set through Sentinel: lab.example relayed, other.example not"

# ---- mail without pause ----
rm -f "$STOP" "$SENT"
lab_exec timeout 300 "$LAB_PY" - "$STOP" "$SENT" <<'EOF' &
import os, smtplib, sys, time
stop, out = sys.argv[1], sys.argv[2]
with open(out, "a") as f:
    for i in range(3000):
        if os.path.exists(stop):
            break
        mid = "sent-%d@client.example" % i
        msg = ("From: <a@client.example>\r\nTo: <b@lab.example>\r\nSubject: sentinel %d\r\n"
               "Message-ID: <%s>\r\n\r\nbody %d\r\n" % (i, mid, i))
        try:
            s = smtplib.SMTP("198.18.0.2", 25, local_hostname="client.example", timeout=20)
            s.sendmail("a@client.example", ["b@lab.example"], msg)   # raises unless 250
            s.quit()
            f.write("%s 250\n" % mid)
        except Exception as e:
            f.write("%s error %s\n" % (mid, str(e).replace("\n", " ")))
        f.flush()
        time.sleep(0.05)
EOF
loop_pid=$!
until_ok 10 grep -q ' 250$' "$SENT" || fail "the mail loop does not get 250: $(tail -2 "$SENT")"

# ---- 1: SENTINEL FAILOVER while mxctl policy set runs ----
until_ok 15 sh -c "redis-cli -p $SP sentinel failover $NAME | grep -q OK" || fail "SENTINEL FAILOVER: $(cat "$LAB_DIR/until.out")"
until_ok 30 ctl policy set To:other.example RELAY || fail "mxctl policy set during the failover: $(cat "$LAB_DIR/until.out")"
until_ok 15 sh -c "[ \"\$(redis-cli -p $M2 role | head -1)\" = master ]" || fail "$M2 did not become master"
wait_log "\+switch-master $NAME 127.0.0.1 $M1 127.0.0.1 $M2" 15 || fail "mxgate-control did not see +switch-master: $(tail -5 "$CLOG")"
wait_log "Redis at 127.0.0.1:$M2 \(master '$NAME' through sentinel 127.0.0.1:$SP\) back" 15 ||
	fail "mxgate-control did not reconnect to the new master: $(tail -5 "$CLOG")"
[ "$(rcli $M2 hget mxgate:policy To:other.example)" = RELAY ] || fail "the change is not in the new master"
until_ok 15 relayed x@other.example || fail "the policy change did not land in mxgate: $(tail -5 "$CLOG")"
ok "failover $M1 -> $M2 during mxctl policy set: +switch-master followed, the change landed (other.example relayed)"

# ---- 2: the master killed while mxctl user add runs ----
# (the replica left, $M1, has no replica once promoted: it must take writes alone)
rcli $M1 config set min-replicas-to-write 0 >/dev/null || fail "CONFIG SET on $M1"
{ kill -KILL "$pid2" && wait "$pid2"; } 2>/dev/null
until_ok 30 sh -c "printf 'dave-secret\n' | '$LAB_SH' ctl user add dave --cost ln=10,r=1,p=1" ||
	fail "mxctl user add during the failover: $(cat "$LAB_DIR/until.out")"
until_ok 20 sh -c "[ \"\$(redis-cli -p $M1 role | head -1)\" = master ]" || fail "$M1 was not promoted again"
wait_log "Redis at 127.0.0.1:$M1 \(master '$NAME' through sentinel 127.0.0.1:$SP\) back" 20 ||
	fail "mxgate-control did not reconnect to $M1: $(tail -5 "$CLOG")"
until_ok 20 auth_ok dave dave-secret || fail "dave cannot AUTH: $(tail -5 "$CLOG")"
ok "master $M2 killed during mxctl user add: $M1 promoted, mxgate-control followed, dave AUTHs (235)"

# ---- 3: nothing lost, served throughout ----
sleep 1
touch "$STOP"
wait "$loop_pid"
loop_pid=
n=$(wc -l <"$SENT")
good=$(grep -c ' 250$' "$SENT")
[ "$n" -ge 20 ] || fail "only $n messages were sent during the test"
[ "$good" = "$n" ] || fail "$((n - good)) of $n messages did not get 250: $(grep -v ' 250$' "$SENT" | head -3)"
sleep 1
cat "$LAB_MAIL"/* 2>/dev/null | grep -o 'sent-[0-9]*@client.example' | sort -u >"$LAB_DIR/mail.stored"
awk '{ print $1 }' "$SENT" | sort -u >"$LAB_DIR/mail.250"
missing=$(comm -23 "$LAB_DIR/mail.250" "$LAB_DIR/mail.stored" | wc -l)
[ "$missing" = 0 ] || fail "$missing messages with a 250 are not at the backend: $(comm -23 "$LAB_DIR/mail.250" "$LAB_DIR/mail.stored" | head -3)"
ok "$n messages during both failovers: every one 250, every one stored at the backend"
grep -q 'Redis lost its data' "$CLOG" && fail "a failover was taken for lost data: $(grep -m1 'Redis lost its data' "$CLOG")"
[ "$(lost_metric)" = 0 ] || fail "mxgate_control_redis_store_lost_total is '$(lost_metric)', expected 0"
ok "no 'Redis lost its data' across the failovers (marker replicated), store_lost_total 0"
expect_alive "after the failovers"
expect_no_bug_drops
pass
