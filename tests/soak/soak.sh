#!/usr/bin/env bash
# soak.sh - make soak: a bounded soak of the whole lab under load and faults.
#
#   SOAK_MINUTES=10 tests/soak/soak.sh      (default 10; SOAK_MINUTES=1 for a short run)
#
# 1. The lab (deploy/lab.sh: mxgate, redis-server, mxgate-control) with two
#    recording backends (tests/lab/smtp_backend.py) on 198.18.1.1:2601 and
#    :2602, mxgate's impairment stage reordering SOAK_REORDER % of packets.
# 2. Capacity: the soak's clients (tests/soak/soak_client.py, two processes,
#    half the sessions with STARTTLS) unpaced for SOAK_CAP_SECS against clean
#    backends: the messages accepted per second are the lab's capacity (this
#    machine, these clients, this mxgate, this backend, all together).
# 3. The soak: the same clients paced at SOAK_LOAD_PCT (80) % of it for
#    SOAK_MINUTES, with SOAK_LOSS (1) % nftables loss both ways on mxout,
#    while backend 1 answers 4xx/5xx to MAIL, RCPT, DATA and dots, drops
#    messages mid-DATA and answers a few stored ones past mxgate's
#    backend_timeout_ms, a policy is swapped every 3 s and a certificate
#    every 6 s (deploy/lab.sh ctl), and at set times: mxctl drain then a
#    restart of mxgate (15 %), each backend killed and restarted (40 %, 70 %),
#    Redis killed and restarted (55 %). Progress lines every SOAK_PROGRESS s.
# 4. Checks (tests/soak/soak_check.py and counters): every message a client
#    saw accepted with 250 is at a backend exactly once; nothing is at a
#    backend without a 250 unless mxgate logged "may have been delivered" for
#    its session; mxgate_smtp_active and tcp_conns back to their idle
#    baseline, the RSS of mxgate within SOAK_RSS_SLACK_PCT (10) % + 8 MiB of
#    its idle baseline after warm-up; no counter that means a stack bug.
#    Prints the totals. Exit 0 only if every check held.
#
# Everything it starts is stopped and the namespace deleted on any exit,
# Ctrl-C included. Files in build/soak/ (SOAK_DIR).
#
# Environment: SOAK_MINUTES (10), SOAK_LOAD_PCT (80), SOAK_LOSS (1),
# SOAK_REORDER (1), SOAK_THREADS (16 per client process in the capacity run,
# four times that in the soak, paced), SOAK_CAP_SECS (20),
# SOAK_PROGRESS (30, or 10 for runs under 5 minutes), SOAK_DIR, LAB_NS
# (mxsoak), LAB_METRICS, MXGATE (build/mxgate; build/asan/mxgate for a
# sanitized soak), MXCONTROL.
set -u

SOAK_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOAK_REPO=$(cd "$SOAK_HERE/../.." && pwd)
export LAB_NS=${LAB_NS:-mxsoak}
export LAB_DIR=${SOAK_DIR:-$SOAK_REPO/build/soak}
export LAB_CONTROL=1 LAB_SINK=0 LAB_WORKERS=1
# shellcheck source=../lab/lib.sh
. "$SOAK_REPO/tests/lab/lib.sh"
LAB_TEST=soak

MINUTES=${SOAK_MINUTES:-10}
LOAD_PCT=${SOAK_LOAD_PCT:-80}
LOSS=${SOAK_LOSS:-1}
REORDER=${SOAK_REORDER:-1}
THREADS=${SOAK_THREADS:-16}
CAP_SECS=${SOAK_CAP_SECS:-20}
RSS_SLACK_PCT=${SOAK_RSS_SLACK_PCT:-10}
for v in MINUTES LOAD_PCT LOSS REORDER THREADS CAP_SECS RSS_SLACK_PCT; do
	case ${!v} in '' | *[!0-9]*) echo "soak: SOAK_$v must be a whole number, not '${!v}'"; exit 2 ;; esac
done
[ "$MINUTES" -ge 1 ] && [ "$MINUTES" -le 1440 ] || { echo "soak: SOAK_MINUTES 1..1440"; exit 2; }
DUR=$((MINUTES * 60))
PROGRESS=${SOAK_PROGRESS:-$([ "$MINUTES" -lt 5 ] && echo 10 || echo 30)}
CONF=$LAB_DIR/mxgate.conf
MSGS=$LAB_DIR/messages.jsonl      # what the backends stored
BFAULTS=$LAB_DIR/backend-faults.txt
EVENTS=$LAB_DIR/events.txt        # faults and steps of the soak, timestamped
PAUSE=$LAB_DIR/pause
STOP=$LAB_DIR/stop
T0=$SECONDS

say() { printf 'soak: [%4ds] %s\n' $((SECONDS - T0)) "$*"; }
event() { printf '%s %s\n' "$(date +%s)" "$*" >>"$EVENTS"; }

# ---- clean-up, whatever happens ----
BPID=() SWAP_PID= CLIENT_PIDS=()
soak_cleanup() {
	local p
	touch "$STOP" 2>/dev/null
	[ -n "$SWAP_PID" ] && kill "$SWAP_PID" 2>/dev/null
	for p in "${CLIENT_PIDS[@]}" "${BPID[@]}"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null
	done
	nft_clear >/dev/null 2>&1
	lab_down >/dev/null 2>&1   # mxgate, redis, mxgate-control (pid files), all in the namespace
	wait 2>/dev/null
}
trap 'soak_cleanup' EXIT
trap 'echo "soak: interrupted"; exit 130' INT
trap 'exit 143' TERM

[ "$(id -u)" = 0 ] || fail "must run as root (network namespaces)"
for b in "$MXGATE" "$SOAK_REPO/build/mxctl" "${MXCONTROL:-$SOAK_REPO/build/mxgate-control}"; do
	[ -x "$b" ] || fail "missing $b (make)"
done
if ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF -- "$LAB_NS"; then
	say "namespace $LAB_NS left over: bringing it down"
	lab_down >/dev/null 2>&1
fi
mkdir -p "$LAB_DIR" || fail "cannot create $LAB_DIR"
rm -f "$LAB_DIR"/*.jsonl "$LAB_DIR"/*.txt "$LAB_DIR"/mxgate*.log "$LAB_DIR"/backend*.log "$PAUSE" "$STOP"
: >"$EVENTS"
say "$MINUTES minute(s), load $LOAD_PCT % of capacity, loss $LOSS %, reorder $REORDER %; files in $LAB_DIR"
say "mxgate $MXGATE, commit $(git -C "$SOAK_REPO" rev-parse --short HEAD 2>/dev/null || echo '?')"

# ---- the lab ----
lab_up "backends = 198.18.1.1:2601 198.18.1.1:2602" "backend_timeout_ms = 10000" \
	"backend_retry_ms = 2000" "impair = reorder=$REORDER" "timewait_ms = 10000" >/dev/null 2>&1 ||
	fail "lab did not come up (see $LAB_DIR/mxgate.log)"
say "lab up: mxgate pid $(lab_pid)"

# backend N [fault options]: (re)start backend N (1 or 2) on port 260N
backend() {
	local n=$1 port=$((2600 + $1)) i
	shift
	# lab.sh exec ends in exec, so $! is the backend's own pid (a shell function would fork)
	"$LAB_SH" exec "$LAB_PY" "$LAB_T/smtp_backend.py" --port "$port" --out /dev/null --messages "$MSGS" \
		--sessions 100000000 --timeout $((DUR + 3600)) --faults "$BFAULTS" --seed "$RANDOM" "$@" \
		>>"$LAB_DIR/backend$n.log" 2>&1 &
	BPID[$n]=$!
	for ((i = 0; i < 50; i++)); do
		[ "$(listener "$port")" = "${BPID[$n]}" ] && return 0
		sleep 0.1
	done
	fail "backend $n did not listen on :$port: $(tail -n 3 "$LAB_DIR/backend$n.log")"
}
# pid of the process listening on PORT in the namespace (nothing if none)
listener() {
	lab_exec ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2
}
# kill_backend N: SIGKILL, as a crash; fails unless its port is free afterwards
kill_backend() {
	local port=$((2600 + $1)) i
	kill -KILL "${BPID[$1]}" 2>/dev/null
	wait "${BPID[$1]}" 2>/dev/null
	BPID[$1]=
	for ((i = 0; i < 50; i++)); do
		[ -z "$(listener "$port")" ] && return 0
		sleep 0.1
	done
	fail "backend $1 still listening on :$port after SIGKILL (pid $(listener "$port"))"
}
# backend 1 in the soak: 451 to MAIL, 550 to RCPT, 554 to DATA, 451 to the dot, each to 1 %,
# 1 % of messages dropped mid-DATA, and 0.2 % stored but answered after 12 s, past
# backend_timeout_ms (10 s): mxgate must say those "may have been delivered"
# (smtp_backend.py --fail, --drop-data, --slow-dot)
BACKEND1_FAULTS=(--fail mail=451:1 --fail rcpt=550:1 --fail data=554:1 --fail dot=451:1 --drop-data 1
	--slow-dot 0.2=12)
backend 1
backend 2

# mxgate's RSS in KiB, of the running process
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$(lab_pid)/status" 2>/dev/null; }
# wait up to SECS for smtp_active to be 0; prints the last value
wait_idle() {
	local secs=$1 i v=
	for ((i = 0; i < secs * 2; i++)); do
		v=$(lab_smtp_stat active 2>/dev/null) && [ "$v" = 0 ] && { echo 0; return 0; }
		sleep 0.5
	done
	echo "${v:-?}"
	return 1
}
# wait up to SECS for tcp_conns to be WANT or less; prints the last value
wait_conns() {
	local want=$1 secs=$2 i v=
	for ((i = 0; i < secs * 2; i++)); do
		v=$(lab_stat tcp_conns 2>/dev/null) && [ "$v" -le "$want" ] && { echo "$v"; return 0; }
		sleep 0.5
	done
	echo "${v:-?}"
	return 1
}

# clients DURATION RATE PREFIX THREADS: the two client processes (half STARTTLS each), in the background
clients() {
	local dur=$1 rate=$2 prefix=$3 threads=$4 k
	CLIENT_PIDS=()
	for k in 1 2; do
		"$LAB_SH" exec "$LAB_PY" "$SOAK_HERE/soak_client.py" --out "$LAB_DIR/$prefix-$k.jsonl" --prefix "$prefix$k" \
			--threads "$threads" --rate "$rate" --duration "$dur" --starttls 50 --blocked 2 \
			--timeout 60 --pause-file "$PAUSE" --stop-file "$STOP" --seed "$k$RANDOM" \
			>>"$LAB_DIR/clients.log" 2>&1 &
		CLIENT_PIDS+=($!)
	done
}
wait_clients() {
	local p
	for p in "${CLIENT_PIDS[@]}"; do wait "$p"; done
	CLIENT_PIDS=()
}
# count FILES... : "sent accepted" over client record files
count() {
	cat "$@" 2>/dev/null | awk '{n++} /"code": 250,/ {a++} END {printf "%d %d\n", n, a}'
}

# ---- capacity ----
say "measuring capacity: $((2 * THREADS)) unpaced clients for ${CAP_SECS}s, clean backends, no loss"
clients "$CAP_SECS" 0 cap "$THREADS"
wait_clients
read -r cap_sent cap_acc < <(count "$LAB_DIR"/cap-*.jsonl)
CAP_RATE=$(awk -v a="$cap_acc" -v s="$CAP_SECS" 'BEGIN {printf "%.1f", a / s}')
RATE=$(awk -v c="$CAP_RATE" -v p="$LOAD_PCT" 'BEGIN {printf "%.2f", c * p / 100}')
[ "$cap_acc" -gt 0 ] || fail "capacity run: no message accepted ($cap_sent sent; see $LAB_DIR/cap-*.jsonl)"
say "capacity: $cap_acc of $cap_sent accepted in ${CAP_SECS}s = $CAP_RATE msg/s; soak rate $RATE msg/s ($LOAD_PCT %)"
event "capacity $CAP_RATE"
# the capacity run's messages are checked with the rest

# ---- idle baseline of the first process ----
v=$(wait_idle 60) || fail "sessions did not end after the capacity run (active=$v)"
# TIME_WAIT is 10 s here (timewait_ms): tcp_conns is back to 0 soon after
base_conns=$(wait_conns 0 60) || say "note: tcp_conns = $base_conns 60 s after the capacity run"
RSS1=$(rss_kib)
say "baseline (first mxgate, idle after the capacity run): active 0, tcp_conns $base_conns, RSS $((RSS1 / 1024)) MiB"

# backend 1 becomes the faulty one
kill_backend 1
backend 1 "${BACKEND1_FAULTS[@]}"
nft_loss "$LOSS"
say "faults on: loss $LOSS %, backend 1 with ${BACKEND1_FAULTS[*]}"

# ---- policy and certificate swaps, in the background ----
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=mx.lab.example \
	-addext subjectAltName=DNS:mx.lab.example -keyout "$LAB_DIR/alt.key" -out "$LAB_DIR/alt.crt" \
	>/dev/null 2>&1 || fail "openssl: cannot make the second certificate"
CERT_A=("$LAB_REPO/build/lab/certs/mx.lab.example.crt" "$LAB_REPO/build/lab/certs/mx.lab.example.key")
CERT_B=("$LAB_DIR/alt.crt" "$LAB_DIR/alt.key")
# every 3 s a policy swap (REJECT <-> OK for blocked.soak.example), every 6 s a
# certificate swap (the lab's RSA certificate <-> an ECDSA one)
swapper() {
	local i=0 c k act
	while [ ! -e "$STOP" ]; do
		if [ $((i % 2)) = 0 ]; then act=REJECT; else act=OK; fi
		# a policy in force denies relaying to domains it does not list: the
		# lab's domain first (again after Redis came back empty)
		"$LAB_SH" ctl policy set To:lab.example RELAY >/dev/null 2>&1 || event "policy To:lab.example failed"
		if "$LAB_SH" ctl policy set From:blocked.soak.example "$act" >/dev/null 2>&1; then
			event "swap policy $act"
		else
			event "swap policy $act failed"
		fi
		if [ $((i % 2)) = 0 ]; then
			if [ $((i / 2 % 2)) = 0 ]; then c=${CERT_B[0]} k=${CERT_B[1]}; else c=${CERT_A[0]} k=${CERT_A[1]}; fi
			if "$LAB_SH" ctl cert add mx --chain "$c" --key "$k" >/dev/null 2>&1; then
				event "swap cert ${c##*/}"
			else
				event "swap cert ${c##*/} failed"
			fi
		fi
		i=$((i + 1))
		sleep 3
	done
}

# restart_mxgate: stop mxgate, start it again as deploy/lab.sh does (same
# configuration, namespace, taps), configure the kernel side of the new taps,
# wait until it answers; the loss rules are set again (they follow mxout)
restart_mxgate() {
	local pid i eal lcores=0@0,1@1 n
	pid=$(lab_pid)
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 200; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	kill -0 "$pid" 2>/dev/null && { say "mxgate still alive 10 s after SIGTERM: SIGKILL"; kill -KILL "$pid"; sleep 0.5; }
	for ((i = 0; i < 40; i++)); do [ -s "$LAB_DIR/mxgate.rc" ] && break; sleep 0.05; done
	say "first mxgate exited with status $(cat "$LAB_DIR/mxgate.rc" 2>/dev/null || echo '?')"
	n=1
	while [ -e "$LAB_DIR/mxgate.$n.log" ]; do n=$((n + 1)); done
	mv "$LAB_DIR/mxgate.log" "$LAB_DIR/mxgate.$n.log"
	rm -f "$LAB_DIR/mxgate.pid" "$LAB_DIR/mxgate.rc"
	# shellcheck disable=SC2054
	eal=(--no-huge --no-pci -m 512 --no-shconf '--log-level=*:notice'
	     --vdev net_tap0,iface=mxout --vdev net_tap1,iface=mxin --lcores "$lcores")
	setsid bash -c 'set -m; pidf=$1 rcf=$2; shift 2
		"$@" &
		echo $! >"$pidf"
		exec 2>/dev/null
		wait $!
		echo $? >"$rcf"' mxgate-lab "$LAB_DIR/mxgate.pid" "$LAB_DIR/mxgate.rc" \
		ip netns exec "$LAB_NS" "$MXGATE" "${eal[@]}" -- -c "$CONF" \
		>"$LAB_DIR/mxgate.log" 2>&1 </dev/null &
	for ((i = 0; i < 300; i++)); do
		lab_exec ip link show mxin >/dev/null 2>&1 && lab_exec ip link show mxout >/dev/null 2>&1 && break
		sleep 0.1
	done
	lab_exec ip addr add 198.18.0.1/24 dev mxout &&
	lab_exec ip -6 addr add 2001:2::1/64 dev mxout nodad &&
	lab_exec ip link set mxout up &&
	lab_exec ip addr add 198.18.1.1/24 dev mxin &&
	lab_exec ip -6 addr add 2001:2:0:1::1/64 dev mxin nodad &&
	lab_exec ip link set mxin up || fail "restart: cannot configure the new taps"
	for ((i = 0; i < 300; i++)); do
		grep -q 'mxgate: ready' "$LAB_DIR/mxgate.log" 2>/dev/null &&
			lab_exec ping -n -q -c1 -W1 198.18.0.2 >/dev/null 2>&1 && break
		sleep 0.1
	done
	grep -q 'mxgate: ready' "$LAB_DIR/mxgate.log" || fail "restart: mxgate not ready (see $LAB_DIR/mxgate.log)"
	nft_loss "$LOSS"
}

# status line: t, sent/accepted so far, sessions, RSS, faults
progress() {
	local s a act rss nf
	read -r s a < <(count "$LAB_DIR"/soak-*.jsonl)
	act=$(lab_smtp_stat active 2>/dev/null || echo '?')
	rss=$(rss_kib)
	nf=$(($(wc -l <"$BFAULTS" 2>/dev/null || echo 0) + $(grep -c -E ' (kill|drain|restart|swap)' "$EVENTS")))
	say "t=$((SECONDS - MAIN0))/${DUR}s sent $s accepted $a active $act rss $((${rss:-0} / 1024)) MiB faults $nf"
}

# ---- the soak ----
say "soak: $((2 * THREADS * 4 > 1024 ? 1024 : 2 * THREADS * 4)) client threads at $RATE msg/s for ${DUR}s"
rm -f "$STOP" "$PAUSE"
# four times the threads of the capacity run, held to the rate: under loss a
# session waits for retransmissions (a lost SYN costs the kernel's client 1 s),
# and the rate must not fall for want of threads
SOAK_THR=$((THREADS * 4 > 512 ? 512 : THREADS * 4))
clients "$DUR" "$(awk -v r="$RATE" 'BEGIN {printf "%.2f", r / 2}')" soak "$SOAK_THR"
swapper >/dev/null 2>&1 &
SWAP_PID=$!
MAIN0=$SECONDS
event "soak start"
# the fault schedule: fraction of the run (per mille) -> step
at_drain=$((DUR * 150 / 1000)) at_b2=$((DUR * 400 / 1000)) at_redis=$((DUR * 550 / 1000))
at_b1=$((DUR * 700 / 1000))
done_drain= done_b2= done_redis= done_b1= base2_at= RSS2= RSS1_END=
next_progress=$((MAIN0 + PROGRESS))
# until the time is up and every step has run (a step that blocks, as the
# drain does, delays the later ones; none is skipped)
while [ $((SECONDS - MAIN0)) -lt "$DUR" ] || [ -z "$done_b1" ] || [ -z "$RSS2" ]; do
	sleep 1
	t=$((SECONDS - MAIN0))
	lab_alive || fail "mxgate is gone at t=${t}s (see $LAB_DIR/mxgate.log)"
	if [ -z "$done_drain" ] && [ $t -ge $at_drain ]; then
		done_drain=1
		out=$("$LAB_SH" ctl drain 2>&1) || fail "mxctl drain: $out"
		event "drain"
		say "mxctl drain: $out"
		v=$(wait_idle 120) || fail "sessions still active 120 s after the drain ($v)"
		RSS1_END=$(rss_kib)
		say "drained: active 0; RSS $((RSS1_END / 1024)) MiB (idle baseline $((RSS1 / 1024)) MiB); restarting mxgate"
		restart_mxgate
		event "restart mxgate"
		say "mxgate restarted: pid $(lab_pid)"
		base2_at=$((t + 20 > DUR / 5 ? t + 20 : DUR / 5))
	fi
	if [ -n "$base2_at" ] && [ -z "$RSS2" ] && [ $t -ge "$base2_at" ]; then
		# idle baseline of the second mxgate, after a warm-up under load
		touch "$PAUSE"
		if v=$(wait_idle 120); then
			base2_conns=$(wait_conns "$base_conns" 60)
			RSS2=$(rss_kib)
			say "baseline (second mxgate, idle after warm-up): active 0, tcp_conns $base2_conns, RSS $((RSS2 / 1024)) MiB"
		else
			say "clients paused but sessions still active ($v) after 120 s"
			RSS2=0
		fi
		rm -f "$PAUSE"
	fi
	if [ -z "$done_b2" ] && [ $t -ge $at_b2 ]; then
		done_b2=1
		kill_backend 2
		event "kill backend 2"
		say "backend 2 killed (SIGKILL); restarting it in 3 s"
		sleep 3
		backend 2
		event "restart backend 2"
	fi
	if [ -z "$done_redis" ] && [ $t -ge $at_redis ]; then
		done_redis=1
		rp=$(tr -dc 0-9 <"$LAB_DIR/redis.pid")
		kill -KILL "$rp" 2>/dev/null
		event "kill redis"
		say "redis-server killed (SIGKILL); restarting it in 3 s (empty: mxctl reload --force, the swaps refill it)"
		sleep 3
		rm -f "$LAB_DIR/redis.sock"
		# as deploy/lab.sh starts it: as mxgate_user, whose mxgate-control must reconnect
		setpriv --reuid=mxgate --regid=mxgate --init-groups \
			redis-server --port 0 --unixsocket "$LAB_DIR/redis.sock" --unixsocketperm 700 \
			--save '' --appendonly no --daemonize no >>"$LAB_DIR/redis.log" 2>&1 </dev/null &
		echo $! >"$LAB_DIR/redis.pid"
		event "restart redis"
		# it came back empty: mxgate-control keeps the last good state until the
		# operator accepts the empty store (README, "When Redis loses its data")
		for ((w = 0; w < 50; w++)); do [ -S "$LAB_DIR/redis.sock" ] && break; sleep 0.1; done
		if "$LAB_SH" ctl reload --force >/dev/null 2>&1; then
			event "reload --force"
		else
			event "reload --force failed"
		fi
	fi
	if [ -z "$done_b1" ] && [ $t -ge $at_b1 ]; then
		done_b1=1
		kill_backend 1
		event "kill backend 1"
		say "backend 1 killed (SIGKILL); restarting it in 3 s"
		sleep 3
		backend 1 "${BACKEND1_FAULTS[@]}"
		event "restart backend 1"
	fi
	if [ $SECONDS -ge $next_progress ]; then
		progress
		next_progress=$((SECONDS + PROGRESS))
	fi
done
touch "$STOP"
say "stopping the clients (soak phase: $((SECONDS - MAIN0))s)"
wait_clients
kill "$SWAP_PID" 2>/dev/null
wait "$SWAP_PID" 2>/dev/null
SWAP_PID=
nft_loss_c=$(nft_loss_counts)
nft_clear
event "soak end"
progress

# ---- checks ----
NFAIL=0
bad() { echo "FAIL: soak: $*"; NFAIL=$((NFAIL + 1)); }
good() { echo "ok: $*"; }
lab_alive || fail "mxgate is gone at the end"
if v=$(wait_idle 120); then good "mxgate_smtp_active back to 0"; else bad "mxgate_smtp_active = $v 120 s after the end"; fi
if v=$(wait_conns "${base2_conns:-$base_conns}" 120); then
	good "tcp_conns back to its baseline (${base2_conns:-$base_conns}): $v"
else
	bad "tcp_conns = $v 120 s after the end, baseline ${base2_conns:-$base_conns}"
fi
rss_ok() {  # rss_ok WHAT NOW BASE
	local lim=$(($3 + $3 * RSS_SLACK_PCT / 100 + 8192))
	if [ -n "$2" ] && [ "$2" -le "$lim" ]; then
		good "$1: RSS $(($2 / 1024)) MiB, baseline $(($3 / 1024)) MiB (limit $((lim / 1024)) MiB)"
	else
		bad "$1: RSS $(($2 / 1024)) MiB above $((lim / 1024)) MiB (baseline $(($3 / 1024)) MiB + $RSS_SLACK_PCT % + 8 MiB)"
	fi
}
[ -n "$RSS1_END" ] && rss_ok "first mxgate, drained" "$RSS1_END" "$RSS1"
if [ -n "$RSS2" ] && [ "$RSS2" -gt 0 ]; then
	rss_ok "second mxgate, at the end" "$(rss_kib)" "$RSS2"
else
	bad "no idle baseline of the second mxgate was taken"
fi
lab_snap || bad "cannot read the counters"
for r in $LAB_BUG_DROPS; do
	v=$(lab_stat_cached drops "$r" 2>/dev/null) || continue
	if [ "$v" -eq 0 ]; then good "drops{reason=$r} = 0"; else bad "drops{reason=$r} = $v: a stack bug"; fi
done
for c in tcp_retransmits tcp_ooo_segments tcp_rto; do
	echo "  $c = $(lab_stat_cached "$c" 2>/dev/null)"
done
echo "  impairment: reorder $REORDER % (mxgate impair stage); nft loss taken: $nft_loss_c"
cp "$LAB_DIR/snap.prom" "$LAB_DIR/final.prom" 2>/dev/null
read -r s a < <(count "$LAB_DIR"/soak-*.jsonl)
if [ "$a" -gt 0 ]; then
	good "soak phase: $a of $s sessions accepted, $(awk -v a="$a" -v t=$((SECONDS - MAIN0)) 'BEGIN {printf "%.1f", a / t}') msg/s"
else
	bad "soak phase: none of $s sessions accepted"
fi
"$LAB_PY" "$SOAK_HERE/soak_check.py" --clients "$LAB_DIR"/cap-*.jsonl "$LAB_DIR"/soak-*.jsonl \
	--messages "$MSGS" --logs "$LAB_DIR"/mxgate*.log --backend-faults "$BFAULTS" --events "$EVENTS" ||
	NFAIL=$((NFAIL + 1))
# a sanitized build (MXGATE=build/asan/mxgate) reports on stderr: in these logs
san=$(grep -lE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$LAB_DIR"/mxgate*.log "$LAB_DIR/control.log" 2>/dev/null)
if [ -n "$san" ]; then bad "sanitizer report(s) in: $san"; else good "no sanitizer report in the logs"; fi
say "done in $((SECONDS - T0))s"
if [ "$NFAIL" -eq 0 ]; then
	echo "soak: PASS"
	exit 0
fi
echo "soak: FAIL ($NFAIL check(s) failed)"
exit 1
