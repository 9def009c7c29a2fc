#!/usr/bin/env bash
# bench.sh - make bench: one run, mxgate and the peers side by side.
#
# The same client, build/mxgen's kernel-socket SMTP modes
# (tools/mxgen/smtp_kernel.c), does the same work against every server,
# each server on one core (CPU 1), the client and the sink on the other
# (CPU 0):
#   starttls-ecdsa   greeting, EHLO, STARTTLS, TLS 1.3 handshake (ECDSA
#                    P-256 certificate), EHLO, MAIL, RCPT, DATA of 1 KiB
#                    relayed to the sink, QUIT       (mxgen smtp)
#   starttls-rsa     the same with an RSA-2048 certificate
#   plain            the same session without STARTTLS (mxgen smtp --plain 1)
#   handshake-ecdsa  greeting, EHLO, STARTTLS, full handshake, QUIT: no
#                    message (mxgen smtp-handshake)
#   handshake-rsa    the same with the RSA certificate
# and, with the ECDSA certificate, the memory of idle STARTTLS sessions
# (mxgen smtp-idle: STARTTLS, EHLO, then idle). Each server is started
# afresh (and warmed up) for the idle test, for the ECDSA works and for the
# RSA works.
#
# Systems and paths:
#   mxgate memif     mxgate on net_memif driven by mxgen's DPDK client and
#                    sink: tests/bench/smtp_memif.sh when it exists (see
#                    run_memif below); otherwise its rows are "not measured"
#   mxgate tap       mxgate in the lab (deploy/lab.sh, namespace LAB_NS,
#                    net_tap), worker lcore polling CPU 1 (idle_sleep_us 0),
#                    relaying to the lab's smtp-sink on 198.18.1.1:25;
#                    mxgen in the lab namespace on CPU 0 to 198.18.0.2:25
#   nginx loopback   nginx's mail proxy, Postfix as a before-queue proxy,
#   postfix loopback Haraka with smtp_forward (tests/bench/peers/*.sh say how
#   haraka loopback  each is configured), each a private instance pinned to
#                    CPU 1 (taskset), in a network namespace of this bench
#                    (BENCH_PEER_NS) whose loopback is the only interface:
#                    server on 127.0.0.1:25, smtp-sink on 127.0.0.1:2525
#                    (CPU 0), mxgen on CPU 0. No DNS anywhere.
#
# Server CPU per session: for the peers, the CPU time of a cgroup made for
# the peer (cgroup v2 cpu.stat usage_usec; on a hybrid cgroup machine the
# v2 hierarchy is /sys/fs/cgroup/unified) over the client's run, divided by
# the sessions the client completed in it; every process of the peer is in
# its cgroup (nginx master and worker; Postfix master, smtpd, tlsmgr, anvil,
# postlogd; Node.js). For mxgate, its worker's busy cycles (SIGUSR1
# counters before and after) over the same sessions. The sink and the
# client are not counted for anyone. Idle KiB per STARTTLS session: the
# growth of the peer cgroup's memory (v2 memory.current; v1
# memory.usage_in_bytes on a hybrid machine) / mxgate's VmRSS, once all
# sessions are idle, divided by the idle sessions.
# Ratio: best peer's server us/session / mxgate's (per-core capacity; > 1
# means mxgate needs less CPU per session), on every line.
#
# Output: progress lines on stderr; the table on stdout (also in
# build/bench/summary.txt); build/bench/summary.tsv: a header line, then
# one line per system, path and work: system path work sessions errors
# server_us_per_session sessions_per_s p50_ms p99_ms ("-" where not
# measured); build/bench/idle.tsv: system path idle_sessions
# kib_per_idle_session; build/bench/bound.tsv (when mxgate memif ran a
# handshake work): the in-memory handshake bound of the same BoringSSL
# (build/tls_mem on the servers' core, run_bound), measured in the same run,
# next to mxgate memif's CPU per handshake session, as issue 9's 95 % target
# wants them compared.
#
# Environment: BENCH=short (about 3 minutes) or full (the default);
# BENCH_DURATION (s per run: short 4, full 20), BENCH_CONCURRENCY (32),
# BENCH_IDLE_SESSIONS (short 300, full 5000; Postfix, one process per
# session, at most BENCH_IDLE_POSTFIX: short 200, full 1000),
# BENCH_IDLE_HOLD (s: short 2, full 5), BENCH_SYSTEMS ("mxgate-memif
# mxgate-tap nginx postfix haraka"), BENCH_WORKS (all five),
# BENCH_MAX_SESSIONS (per run, 1000000), BENCH_TIME_CAP (s for the whole
# run: short 600, full 3600; what is left when it is reached is "not
# measured (time cap)"), BENCH_VERBOSE=1 (mxgen's progress lines too),
# BENCH_KEEP=1 (keep the run directory: configurations, logs, counters);
# BENCH_GROUPS ("idle ecdsa rsa": which server starts run); BENCH_LATENCY=1
# (make bench-latency): for the STARTTLS works, each system's capacity
# (closed loop, BENCH_LATENCY_CONCURRENCY = 256 in flight), then mxgen
# --rate at BENCH_LATENCY_PCT (80) % of it: latency from connect to the end
# of TLS (p50..p99.9) and to the final 250, and of the handshake alone
# (ClientHello made to handshake done, p50 and p99), side by side, in the
# table and in build/bench/latency.txt (memif: tests/bench/smtp_memif.sh
# does it, and adds mxgate's own p50 and p99 bucket of the handshake).
# LAB_NS (mxbench_lab) names the lab namespace, BENCH_PEER_NS (mxbench_lo)
# the peers' one; neither may exist yet. HARAKA_CACHE
# (/var/cache/mxbench-haraka): where npm installs Haraka once.
#
# Every step is bounded in time and count; a trap stops every process this
# script started (the peers by their cgroups), removes the cgroups, the
# namespaces and the run directory, also on failure or Ctrl-C.
set -u

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# binaries named by the caller go to the memif script too; else it uses its repository's build/
MEMIF_BINS="${MXGATE:+MXGATE=$MXGATE} ${MXGEN:+MXGEN=$MXGEN}"
MXGATE=${MXGATE:-$REPO/build/mxgate}
MXGEN=${MXGEN:-$REPO/build/mxgen}
LAB=$REPO/deploy/lab.sh
MEMIF_SCRIPT=${BENCH_MEMIF_SCRIPT:-$REPO/tests/bench/smtp_memif.sh}
TLS_MEM=${BENCH_TLS_MEM:-$REPO/build/tls_mem}   # the in-memory handshake bound (run_bound)
OUT=$REPO/build/bench

BENCH=${BENCH:-full}
case $BENCH in
	short) d_dur=4 d_idle=300 d_idle_pf=200 d_hold=2 d_cap=600 ;;
	full|'') BENCH=full d_dur=20 d_idle=5000 d_idle_pf=1000 d_hold=5 d_cap=3600 ;;
	*) echo "bench: BENCH must be short or full, not '$BENCH'" >&2; exit 2 ;;
esac
DUR=${BENCH_DURATION:-$d_dur}
BOUND_S=${BENCH_BOUND_SECONDS:-$DUR}   # tls_mem --seconds per key (its tls.c and plain servers run that long each)
CONC=${BENCH_CONCURRENCY:-32}
IDLE_N=${BENCH_IDLE_SESSIONS:-$d_idle}
IDLE_PF=${BENCH_IDLE_POSTFIX:-$d_idle_pf}
IDLE_HOLD=${BENCH_IDLE_HOLD:-$d_hold}
TIME_CAP=${BENCH_TIME_CAP:-$d_cap}
MAX_SESS=${BENCH_MAX_SESSIONS:-1000000}
SYSTEMS=${BENCH_SYSTEMS:-mxgate-memif mxgate-tap nginx postfix haraka}
ALL_WORKS="starttls-ecdsa starttls-rsa plain handshake-ecdsa handshake-rsa"
WORKS=${BENCH_WORKS:-$ALL_WORKS}
VERBOSE=${BENCH_VERBOSE:-0}
# p99 handshake latency at LAT_PCT % of capacity (BENCH_LATENCY=1): the STARTTLS works of WORKS
LAT_WORKS=
[ "${BENCH_LATENCY:-0}" = 1 ] && for w in $WORKS; do case $w in starttls-*) LAT_WORKS="$LAT_WORKS $w" ;; esac; done
LAT_WORKS=${LAT_WORKS# }
LAT_PCT=${BENCH_LATENCY_PCT:-80}
LAT_CONC=${BENCH_LATENCY_CONCURRENCY:-256}
KEEP=${BENCH_KEEP:-0}
MSG_SIZE=1024

SRV_CPU=1                        # every server's core (lab.sh: mxgate worker lcore 1 on CPU 1)
GEN_CPU=0                        # client and sink
RUN_SLACK=40                     # seconds beyond the duration, per client run
PEER_ADDR=127.0.0.1 PEER_PORT=25 SINK_PORT=2525 AUTH_PORT=8025
PEER_HOSTNAME=mx.peer.lab.example
GATE_IP=198.18.0.2
export LAB_NS=${LAB_NS:-mxbench_lab}
PEER_NS=${BENCH_PEER_NS:-mxbench_lo}

msg() { printf 'bench: [%s] %s\n' "$(elapsed)" "$*" >&2; }
die() { msg "$*"; exit 1; }
T0=$SECONDS
elapsed() { local s=$((SECONDS - T0)); printf '%d:%02d' $((s / 60)) $((s % 60)); }

for n in "$DUR" "$CONC" "$IDLE_N" "$IDLE_PF" "$IDLE_HOLD" "$TIME_CAP" "$MAX_SESS" "$LAT_PCT" "$LAT_CONC"; do
	case $n in ''|*[!0-9]*|0) die "BENCH_* values must be positive integers" ;; esac
done
[ "$DUR" -le 600 ] || die "BENCH_DURATION must be 1..600"
[ "$IDLE_N" -le 15000 ] || die "BENCH_IDLE_SESSIONS must be 1..15000"
for w in $WORKS; do
	case " $ALL_WORKS " in *" $w "*) ;; *) die "BENCH_WORKS: unknown work '$w' ($ALL_WORKS)" ;; esac
done
for s in $SYSTEMS; do
	case $s in mxgate-memif|mxgate-tap|nginx|postfix|haraka) ;;
		*) die "BENCH_SYSTEMS: unknown system '$s'" ;; esac
done
for ns in "$LAB_NS" "$PEER_NS"; do
	case $ns in ''|*[!A-Za-z0-9_.-]*|-*) die "namespace name '$ns': letters, digits, '_', '.', '-'" ;; esac
done
[ "$(id -u)" = 0 ] || die "must run as root (namespaces, cgroups)"
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs (servers on CPU $SRV_CPU, client on CPU $GEN_CPU)"
for b in "$MXGATE" "$MXGEN"; do [ -x "$b" ] || die "$b is missing: run 'make all' (make bench does)"; done
command -v openssl >/dev/null || die "openssl (the command) is needed to make the certificates"
command -v smtp-sink >/dev/null || die "smtp-sink (package postfix) is needed: make deps"
# shellcheck source=tests/bench/lib.sh
. "$REPO/tests/bench/lib.sh"   # alive, stop_pid, bounded, kv, pn, keep_tmp, ns_exists, bench_lab_up, lab_down
for ns in "$LAB_NS" "$PEER_NS"; do
	ns_exists "$ns" && die "namespace $ns exists already (another bench, or left over): ip netns del $ns"
done

mkdir -p "$OUT" || die "cannot create $OUT"
RUN=$(mktemp -d "$OUT/run.XXXXXX") || die "mktemp failed"
rm -f "$OUT/bound.tsv"   # only this run's bound, if it measures one
chmod 755 "$RUN"                 # the peers drop privileges: they must reach their files
CERT_DIR=$OUT/certs
export LAB_DIR=$RUN/lab LAB_CERTS=$RUN/lab/certs LAB_CONTROL=0 MXGATE
export LAB_EAL_EXTRA="${LAB_EAL_EXTRA:-} --file-prefix mxbench-tap"
LAB_IS_UP=
LAB_LOG=$RUN/lab.log
CLIENT_PID=
SINK_PID=
PEER_PID=
PEER_UP=
MEMIF_PID=
CGROUPS=()

# shellcheck source=tests/bench/peers/nginx.sh
. "$REPO/tests/bench/peers/nginx.sh"
# shellcheck source=tests/bench/peers/postfix.sh
. "$REPO/tests/bench/peers/postfix.sh"
# shellcheck source=tests/bench/peers/haraka.sh
. "$REPO/tests/bench/peers/haraka.sh"

# ---------------------------------------------------------------- cgroups

# cgroup v2 (pure, or the unified hierarchy of a hybrid machine) for CPU;
# the memory controller of v2, or of v1 under our own memory cgroup.
CG_V2=
CG_MEMV1=
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	CG_V2=/sys/fs/cgroup
elif [ -f /sys/fs/cgroup/unified/cgroup.controllers ]; then
	CG_V2=/sys/fs/cgroup/unified
	own=$(sed -n 's/^[0-9]*:memory://p' /proc/self/cgroup | head -n1)
	[ -d /sys/fs/cgroup/memory ] && CG_MEMV1=/sys/fs/cgroup/memory${own%/}
fi
[ -n "$CG_V2" ] || die "no cgroup v2 hierarchy (/sys/fs/cgroup or /sys/fs/cgroup/unified)"

# The directories of peer $1's cgroups: the v2 one, and the v1 memory one (or nothing).
cg_dir() { echo "$CG_V2/mxbench_$1"; }
cg_memdir() { [ -n "$CG_MEMV1" ] && echo "$CG_MEMV1/mxbench_$1"; }

# Make the cgroups of peer $1 (empty, fresh).
cg_create() {
	local d m
	d=$(cg_dir "$1")
	m=$(cg_memdir "$1")
	cg_remove "$1"
	mkdir "$d" || return 1
	CGROUPS+=("$1")
	[ -z "$m" ] || mkdir "$m" || return 1
}

# Move the calling shell ($BASHPID) into peer $1's cgroups.
cg_enter() {
	local m
	echo "$BASHPID" >"$(cg_dir "$1")/cgroup.procs" || return 1
	m=$(cg_memdir "$1")
	[ -z "$m" ] || echo "$BASHPID" >"$m/cgroup.procs"
}

# The pids in peer $1's cgroup.
cg_pids() { cat "$(cg_dir "$1")/cgroup.procs" 2>/dev/null; }

# CPU microseconds used by peer $1's cgroup so far.
cg_cpu_usec() { awk '$1 == "usage_usec" { print $2 }' "$(cg_dir "$1")/cpu.stat" 2>/dev/null; }

# Memory charged to peer $1's cgroup, in bytes (nothing if not available).
cg_mem_bytes() {
	local m
	m=$(cg_memdir "$1")
	if [ -n "$m" ]; then
		cat "$m/memory.usage_in_bytes" 2>/dev/null
	else
		cat "$(cg_dir "$1")/memory.current" 2>/dev/null
	fi
}

# Kill every process in peer $1's cgroup (TERM, then KILL), wait until it is empty.
cg_kill() {
	local p i left
	left=$(cg_pids "$1")
	[ -n "$left" ] || return 0
	for p in $left; do kill -TERM "$p" 2>/dev/null; done
	for ((i = 0; i < 50; i++)); do
		left=$(cg_pids "$1")
		[ -z "$left" ] && return 0
		sleep 0.1
	done
	for p in $left; do kill -KILL "$p" 2>/dev/null; done
	for ((i = 0; i < 50; i++)); do [ -z "$(cg_pids "$1")" ] && return 0; sleep 0.1; done
	msg "processes left in cgroup mxbench_$1: $(cg_pids "$1" | tr '\n' ' ')"
	return 1
}

# Kill what is in peer $1's cgroups and remove them.
cg_remove() {
	local d m
	d=$(cg_dir "$1")
	m=$(cg_memdir "$1")
	[ -d "$d" ] && { cg_kill "$1"; rmdir "$d" 2>/dev/null || msg "could not remove $d"; }
	[ -n "$m" ] && [ -d "$m" ] && { rmdir "$m" 2>/dev/null || msg "could not remove $m"; }
	return 0
}

# ---------------------------------------------------------------- clean-up

# Stop the current peer: its own stop command, then whatever is left in its cgroup.
peer_down() {
	local name=$1 dir=$2 i
	[ -n "$PEER_UP" ] || return 0
	if "peer_${name}_stop" "$dir" 2>/dev/null; then
		for ((i = 0; i < 100; i++)); do [ -z "$(cg_pids "$name")" ] && break; sleep 0.1; done
	fi
	cg_kill "$name"
	stop_pid "$PEER_PID"
	PEER_PID=
	PEER_UP=
}

cleanup() {
	local c p i
	trap '' INT TERM
	stop_pid "$CLIENT_PID"
	CLIENT_PID=
	[ -n "$MEMIF_PID" ] && stop_pid "$MEMIF_PID"
	[ -n "$PEER_UP" ] && peer_down "$PEER_UP" "$RUN/$PEER_UP"
	for c in "${CGROUPS[@]}"; do cg_remove "$c"; done
	stop_pid "$SINK_PID"
	if ns_exists "$PEER_NS"; then
		for p in $(ip netns pids "$PEER_NS" 2>/dev/null); do kill -TERM "$p" 2>/dev/null; done
		for ((i = 0; i < 30; i++)); do [ -z "$(ip netns pids "$PEER_NS" 2>/dev/null)" ] && break; sleep 0.1; done
		for p in $(ip netns pids "$PEER_NS" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
		ip netns del "$PEER_NS" 2>/dev/null || msg "could not delete namespace $PEER_NS"
	fi
	lab_down
	rm -rf /var/run/dpdk/mxbench-tap 2>/dev/null
	keep_tmp "$RUN"
}
trap cleanup EXIT
trap 'msg "interrupted: cleaning up"; exit 130' INT TERM HUP

# ---------------------------------------------------------------- results

# Value of key=value in a line of "k=v k=v" words.

declare -A RES=() NOTE=() IDLE=() VERSION=() ONCPU=() ESTUS=() BOUND=()
LATS=()                          # LATENCY lines (BENCH_LATENCY=1): the memif script's and the peers'
# Record a result: system path work sessions errors us sps p50_ms p99_ms.
put() { RES[$1/$2/$3]="$4 $5 $6 $7 $8 $9"; }
# Record why a row has no figures.
not_measured() { NOTE[$1/$2/$3]=$4; }

# Over the time cap? (then the remaining steps are skipped)
over_cap() { [ $((SECONDS - T0)) -ge "$TIME_CAP" ]; }

# The result of one mxgen run: $1 system, $2 path, $3 work, $4 summary line,
# $5 server CPU microseconds over the run.
record() {
	local sys=$1 path=$2 work=$3 line=$4 cpu=$5 n err us sps p50 p99
	n=$(kv "$line" sessions_total)
	err=$(kv "$line" errors)
	sps=$(kv "$line" sessions_per_s)
	p50=$(awk -v v="$(kv "$line" p50_us)" 'BEGIN { printf "%.2f", v / 1000 }')
	p99=$(awk -v v="$(kv "$line" p99_us)" 'BEGIN { printf "%.2f", v / 1000 }')
	if [ -z "$n" ]; then
		not_measured "$sys" "$path" "$work" "the client printed no summary"
		msg "$sys $path $work: no result (the client printed no summary)"
		return
	fi
	if [ "$n" = 0 ]; then
		not_measured "$sys" "$path" "$work" "no session completed (${err:-?} errors)"
		msg "$sys $path $work: no session completed (${err:-?} errors)"
		return
	fi
	us=$(awk -v c="$cpu" -v n="$n" 'BEGIN { if (n > 0 && c != "") printf "%.1f", c / n; else print "-" }')
	put "$sys" "$path" "$work" "$n" "${err:-0}" "$us" "${sps:--}" "$p50" "$p99"
	msg "$sys $path $work: $n sessions, ${err:-?} errors, server $us us/session, ${sps} sessions/s, p50 $p50 ms, p99 $p99 ms"
}

# ---------------------------------------------------------------- the client

# mxgen's arguments for a work: mode and options.
work_args() {
	case $1 in
		starttls-*) echo "smtp --size $MSG_SIZE" ;;
		plain) echo "smtp --size $MSG_SIZE --plain 1" ;;
		handshake-*) echo "smtp-handshake" ;;
	esac
}

# The certificate a work needs.
work_key() { case $1 in *-rsa) echo rsa ;; *) echo ecdsa ;; esac; }

# Run mxgen ($1 = namespace, $2 = server address, $3 = tag for files, rest: mode and options).
run_client() {
	local ns=$1 addr=$2 tag=$3 rc
	shift 3
	if [ "$VERBOSE" = 1 ]; then
		timeout -k 5 $((DUR + RUN_SLACK)) ip netns exec "$ns" "$MXGEN" "$@" --server "$addr" \
			--port 25 --cpu "$GEN_CPU" >"$RUN/$tag.out" 2> >(tee "$RUN/$tag.err" | sed 's/^/    /' >&2) &
		CLIENT_PID=$!
		wait "$CLIENT_PID"
		rc=$?
		CLIENT_PID=
	else
		bounded $((DUR + RUN_SLACK)) "$RUN/$tag.out" "$RUN/$tag.err" ip netns exec "$ns" \
			"$MXGEN" "$@" --server "$addr" --port 25 --cpu "$GEN_CPU"
		rc=$?
	fi
	grep '^mxgen: session failed' "$RUN/$tag.err" 2>/dev/null | head -n 3 | sed 's/^/    /' >&2
	return $rc
}

# The client's summary line of a run.
client_line() { grep '^mxgen smtp' "$RUN/$1.out" 2>/dev/null | tail -n1; }

# Warm-up against a server that just started: code and heap faulted in,
# first-use costs out of the measured runs. Fails if no session succeeded.
warm_up() {
	local ns=$1 addr=$2 tag=$3 key=$4 line
	run_client "$ns" "$addr" "$tag.warm" smtp --size "$MSG_SIZE" --concurrency 8 --count 200 \
		--duration 5 >/dev/null 2>&1
	line=$(client_line "$tag.warm")
	[ -n "$line" ] && [ "$(kv "$line" sessions_total)" -gt 0 ] 2>/dev/null || return 1
	[ "$(kv "$line" errors)" = 0 ] || msg "$tag: warm-up had $(kv "$line" errors) errors"
	# the certificate the server presented
	case $(kv "$line" sigalg) in
		ecdsa*) [ "$key" = ecdsa ] ;;
		rsa*) [ "$key" = rsa ] ;;
		*) false ;;
	esac || { msg "$tag: the server signed with $(kv "$line" sigalg), not $key"; return 1; }
}

# smtp-idle with the idle count $2 in namespace $1 to $3; calls $4 (a function
# name) once all sessions are idle, with the idle count as its argument.
# Prints nothing; the function records what it measures.
run_idle() {
	local ns=$1 n=$2 addr=$3 fn=$4 tag=$5 i got rc
	(
		ulimit -n "$(ulimit -Hn)" 2>/dev/null
		exec timeout -k 5 $((IDLE_HOLD + 200)) ip netns exec "$ns" "$MXGEN" smtp-idle \
			--server "$addr" --port 25 --cpu "$GEN_CPU" --concurrency "$n" \
			--duration "$IDLE_HOLD" --ramp 64 --setup-s 120
	) >"$RUN/$tag.out" 2>"$RUN/$tag.err" &
	CLIENT_PID=$!
	for ((i = 0; i < 1300; i++)); do
		grep -q '^mxgen: idle:' "$RUN/$tag.err" 2>/dev/null && break
		alive "$CLIENT_PID" || break
		sleep 0.1
	done
	got=$(sed -n 's/^mxgen: idle: \([0-9]*\) sessions idle.*/\1/p' "$RUN/$tag.err" | head -n1)
	if [ -n "$got" ] && [ "$got" -gt 0 ]; then
		sleep 1                          # the last EHLO replies have gone out
		"$fn" "$got"
	else
		msg "$tag: the sessions did not become idle"
	fi
	wait "$CLIENT_PID"
	rc=$?
	CLIENT_PID=
	[ $rc -eq 0 ] || { msg "$tag: mxgen smtp-idle exited with status $rc"; tail -n 3 "$RUN/$tag.err" | sed 's/^/    /' >&2; }
}

# ---------------------------------------------------------------- certificates

mkdir -p "$CERT_DIR" || die "cannot create $CERT_DIR"
for k in ecdsa rsa; do
	[ -s "$CERT_DIR/$k.crt" ] && [ -s "$CERT_DIR/$k.key" ] &&
		openssl x509 -in "$CERT_DIR/$k.crt" -noout -checkend 86400 >/dev/null 2>&1 && continue
	case $k in
		ecdsa) newkey=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1) ;;
		rsa) newkey=(-newkey rsa:2048) ;;
	esac
	timeout 60 openssl req -x509 "${newkey[@]}" -nodes -days 365 -subj /CN=mx.lab.example \
		-addext subjectAltName=DNS:mx.lab.example \
		-keyout "$CERT_DIR/$k.key" -out "$CERT_DIR/$k.crt" >/dev/null 2>&1 ||
		die "openssl req could not make the $k certificate"
done
chmod 644 "$CERT_DIR"/*.crt
chmod 640 "$CERT_DIR"/*.key

# ---------------------------------------------------------------- mxgate on memif

# The memif path: tests/bench/smtp_memif.sh (mxgate on net_memif, mxgen's
# DPDK SMTP client and sink) run with this bench's duration, concurrency,
# message size and works; its "RESULT system=mxgate path=memif work=W
# sessions=N errors=N server_us_per_session=X sessions_per_s=X p50_ms=X
# p99_ms=X" lines become the memif rows (an optional idle_kib=X gives the
# idle figure). Absent script, failure or missing lines: "not measured".
run_memif() {
	local w line rc sat
	if [ ! -f "$MEMIF_SCRIPT" ]; then
		for w in $WORKS; do not_measured mxgate memif "$w" "not measured ($(basename "$MEMIF_SCRIPT") absent)"; done
		msg "mxgate memif: not measured ($MEMIF_SCRIPT is absent)"
		return
	fi
	sat=0
	[ "$BENCH" = full ] && sat=1
	msg "mxgate memif: $MEMIF_SCRIPT (works: $WORKS; $DUR s each)"
	# shellcheck disable=SC2086  # MEMIF_BINS is a list of assignments
	# (in the run directory: whatever it leaves in its working directory goes with it)
	(cd "$RUN" && exec env -u MXGATE -u MXGEN $MEMIF_BINS BENCH_DURATION=$DUR BENCH_CONCURRENCY=$CONC \
		BENCH_SIZE=$MSG_SIZE BENCH_WORKS="$WORKS" BENCH_SATURATE=${BENCH_SATURATE:-$sat} \
		BENCH_LATENCY_WORKS="$LAT_WORKS" BENCH_LATENCY_PCT=$LAT_PCT BENCH_SAT_CONCURRENCY=$LAT_CONC \
		timeout -k 10 $((TIME_CAP / 2 + 60)) bash "$MEMIF_SCRIPT") >"$RUN/memif.out" 2> >(sed 's/^/    memif: /' >&2) &
	MEMIF_PID=$!
	wait "$MEMIF_PID"
	rc=$?
	MEMIF_PID=
	[ $rc -eq 0 ] || msg "mxgate memif: $(basename "$MEMIF_SCRIPT") exited with status $rc"
	for w in $WORKS; do
		line=$(grep "^RESULT system=mxgate path=memif work=$w " "$RUN/memif.out" | tail -n1)
		if [ -z "$line" ]; then
			not_measured mxgate memif "$w" "not measured (no RESULT line)"
			continue
		fi
		put mxgate memif "$w" "$(kv "$line" sessions)" "$(kv "$line" errors)" \
			"$(kv "$line" server_us_per_session)" "$(kv "$line" sessions_per_s)" \
			"$(kv "$line" p50_ms)" "$(kv "$line" p99_ms)"
		[ -n "$(kv "$line" idle_kib)" ] && IDLE[mxgate/memif]="- $(kv "$line" idle_kib)"
	done
	grep '^SATURATION' "$RUN/memif.out" >"$RUN/memif.saturation" 2>/dev/null
	mapfile -t -O "${#LATS[@]}" LATS < <(grep '^LATENCY ' "$RUN/memif.out")
	VERSION[mxgate]="mxgate $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)"
}

# ---------------------------------------------------------------- the in-memory bound

# The handshake bound of the library mxgate is linked with, in the same run:
# build/tls_mem (client and our tls.c server in one thread, no network)
# pinned to the servers' core, for each certificate type of the handshake
# works. tls_mem times the server's calls with the wall clock, so its figure
# is scaled by the share of the core its process got (CPU / wall time over
# its run, from the shell's `times`), as make bench-crypto does.
# BOUND[key] = "tls.c us per handshake, plain BoringSSL us per handshake".
run_bound() {
	local key w out t wall share
	[ -x "$TLS_MEM" ] || { msg "in-memory bound: $TLS_MEM is missing (make $TLS_MEM)"; return; }
	for key in ecdsa rsa; do
		w=" $WORKS "
		[ "${w#* handshake-$key }" != "$w" ] || continue
		over_cap && return
		msg "in-memory bound: $TLS_MEM --key $key --seconds $BOUND_S on CPU $SRV_CPU"
		t=$EPOCHREALTIME
		# tls_mem's exit status, then the subshell's `times`: its children's user and system
		# CPU on the last line
		out=$( (timeout -k 5 $((BOUND_S * 3 + 30)) taskset -c "$SRV_CPU" "$TLS_MEM" --key "$key" --seconds "$BOUND_S"
			echo "tls_mem_status=$?"; times) 2>&1)
		wall=$(awk -v a="$t" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')
		if ! printf '%s\n' "$out" | grep -qx 'tls_mem_status=0'; then
			msg "in-memory bound: tls_mem --key $key failed: $(printf '%s\n' "$out" | grep -v '^[0-9]*m[0-9.]*s ' | tail -n 3 | tr '\n' ' ')"
			continue
		fi
		share=$(printf '%s\n' "$out" | tail -n1 | awk -v wall="$wall" '
			function sec(x) { split(x, a, /[ms]/); return a[1] * 60 + a[2] }
			{ cpu = sec($1) + sec($2); if (wall > 0) { s = cpu / wall; print (s > 1 ? 1 : s) } }')
		BOUND[$key]=$(printf '%s\n' "$out" | awk -v sh="${share:-1}" '
			/^tls.c / { for (i = 1; i <= NF; i++) if ($i ~ /^server_us_per_hs=/) { split($i, a, "="); t = a[2] * sh } }
			/^plain BoringSSL/ { for (i = 1; i <= NF; i++) if ($i ~ /^server_us_per_hs=/) { split($i, a, "="); p = a[2] * sh } }
			END { if (t != "" && p != "") printf "%.1f %.1f %.2f", t, p, sh }')
		msg "in-memory bound, $key: ${BOUND[$key]:-no result} (tls.c us, plain BoringSSL us, core share)"
	done
}

# ---------------------------------------------------------------- mxgate in the tap lab

gate_stats() { timeout -k 2 10 "$LAB" stats >"$1" 2>>"$RUN/lab.log" && [ -s "$1" ]; }
gate_pid() { tr -dc 0-9 <"$LAB_DIR/mxgate.pid" 2>/dev/null; }
gate_rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$(gate_pid)/status" 2>/dev/null; }
# The worker thread's schedstat: ns on the CPU, ns runnable but waiting for it.
worker_sched() {
	local t
	for t in /proc/"$(gate_pid)"/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = rte-worker-1 ] && { cut -d' ' -f1,2 "$t/schedstat"; return; }
	done
}

# The lab up with certificate $1: worker polling CPU 1, no tickets, room for the idle sessions.
tap_up() {
	local key=$1
	bench_lab_up "idle_sleep_us = 0
tls_cert_file = $CERT_DIR/$key.crt
tls_key_file = $CERT_DIR/$key.key
tls_ticket_rotate_s = 0
max_sessions = $((IDLE_N + 1000))
max_conns = $((2 * IDLE_N + 20000))
smtpd_timeout_ms = 600000" || {
		tail -n 20 "$RUN/lab.log" | sed 's/^/    /' >&2
		return 1
	}
	ip netns exec "$LAB_NS" sysctl -qw net.ipv4.ip_local_port_range="1024 65535" 2>/dev/null
	ip -n "$LAB_NS" link set mxout txqueuelen 10000 2>/dev/null
	# the sink shares the client's core, as for the peers
	taskset -apc "$GEN_CPU" "$(tr -dc 0-9 <"$LAB_DIR/smtp-sink.pid")" >/dev/null 2>&1
	return 0
}

# One measured run against the lab: $1 work.
tap_run() {
	local w=$1 hz busy idle line s0 s1 n
	msg "mxgate tap $w: $DUR s, $CONC in flight"
	gate_stats "$RUN/tap.$w.before" || { not_measured mxgate tap "$w" "no counters from mxgate"; return; }
	s0=$(worker_sched)
	# shellcheck disable=SC2046  # work_args is a list of words
	run_client "$LAB_NS" "$GATE_IP" "tap.$w" $(work_args "$w") --concurrency "$CONC" \
		--duration "$DUR" --count "$MAX_SESS"
	gate_stats "$RUN/tap.$w.after" || { not_measured mxgate tap "$w" "no counters from mxgate"; return; }
	s1=$(worker_sched)
	# busy cycles are wall time: a worker preempted by other processes on its
	# core counts the lost time as busy when it was inside a busy iteration.
	# Its share of the time on the CPU tells how contended the core was.
	ONCPU[$w]=$(awk -v a="$s0" -v b="$s1" 'BEGIN { split(a, x, " "); split(b, y, " ")
		r = y[1] - x[1]; q = y[2] - x[2]; if (r + q > 0) printf "%.0f", 100 * r / (r + q) }')
	[ -n "${ONCPU[$w]}" ] && msg "mxgate tap $w: the worker was on its CPU ${ONCPU[$w]}% of the run (the rest: other processes' turn)"
	hz=$(pn "$RUN/tap.$w.after" mxgate_tsc_hz)
	busy=$(( $(pn "$RUN/tap.$w.after" mxgate_busy_cycles_total) - $(pn "$RUN/tap.$w.before" mxgate_busy_cycles_total) ))
	idle=$(( $(pn "$RUN/tap.$w.after" mxgate_idle_cycles_total) - $(pn "$RUN/tap.$w.before" mxgate_idle_cycles_total) ))
	line=$(client_line "tap.$w")
	record mxgate tap "$w" "$line" "$(awk -v b="$busy" -v hz="$hz" 'BEGIN { if (hz > 0) printf "%.0f", b / hz * 1e6 }')"
	# A second estimate, shown next to it: the worker's time on the CPU
	# (schedstat) times its busy share (busy / (busy + idle) cycles), per
	# session: what busy cycles would be if preemption struck busy and idle
	# iterations alike. Equal to busy cycles on an otherwise idle core.
	n=$(kv "$line" sessions_total)
	ESTUS[$w]=$(awk -v a="$s0" -v b="$s1" -v bu="$busy" -v id="$idle" -v n="${n:-0}" 'BEGIN {
		split(a, x, " "); split(b, y, " "); r = y[1] - x[1]
		if (r > 0 && bu + id > 0 && n > 0) printf "%.1f", r / 1e3 * bu / (bu + id) / n }')
	[ -n "${ESTUS[$w]}" ] && msg "mxgate tap $w: on-CPU estimate ${ESTUS[$w]} us/session (worker CPU time x busy share)"
}

# Idle measurement callback for the lab: $1 idle sessions.
tap_idle_measure() {
	local rss1
	rss1=$(gate_rss)
	[ -n "$rss1" ] && [ -n "$TAP_RSS0" ] &&
		IDLE[mxgate/tap]="$1 $(awk -v a="$TAP_RSS0" -v b="$rss1" -v n="$1" 'BEGIN { printf "%.2f", (b - a) / n }')"
}

# The works of group $1 (idle: none; ecdsa, rsa: those needing that key).
group_works() {
	local w
	[ "$1" = idle ] && return
	for w in $WORKS; do [ "$(work_key "$w")" = "$1" ] && echo "$w"; done
}

# The certificate of group $1.
group_key() { case $1 in rsa) echo rsa ;; *) echo ecdsa ;; esac; }

# Each group runs against a freshly started server: the idle sessions (ECDSA)
# alone, then the ECDSA works, then the RSA works. A server that served
# thousands of sessions before keeps what they left (Postfix: its idle smtpd
# processes; Haraka: garbage in its heap), which would blur the next figure.
GROUPS_ORDER=${BENCH_GROUPS:-idle ecdsa rsa}

run_tap() {
	local grp key w works
	VERSION[mxgate]="mxgate $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)"
	for grp in $GROUPS_ORDER; do
		key=$(group_key "$grp")
		works=$(group_works "$grp")
		[ "$grp" = idle ] || [ -n "$works" ] || continue
		if over_cap; then
			for w in $works; do not_measured mxgate tap "$w" "not measured (time cap)"; done
			continue
		fi
		msg "mxgate tap: lab up ($key certificate, worker polling CPU $SRV_CPU)"
		if ! tap_up "$key"; then
			lab_down
			for w in $works; do not_measured mxgate tap "$w" "the lab did not come up"; done
			continue
		fi
		if ! warm_up "$LAB_NS" "$GATE_IP" "tap.$grp" "$key"; then
			msg "mxgate tap: warm-up failed: its rows are not measured"
			tail -n 5 "$RUN/tap.$grp.warm.err" | sed 's/^/    /' >&2
			for w in $works; do not_measured mxgate tap "$w" "the warm-up failed"; done
			lab_down
			continue
		fi
		if [ "$grp" = idle ]; then
			msg "mxgate tap: $IDLE_N idle STARTTLS sessions, held $IDLE_HOLD s"
			sleep 1
			TAP_RSS0=$(gate_rss)
			run_idle "$LAB_NS" "$IDLE_N" "$GATE_IP" tap_idle_measure tap.idle
			[ -n "${IDLE[mxgate/tap]:-}" ] && msg "mxgate tap idle: ${IDLE[mxgate/tap]#* } KiB per idle session (${IDLE[mxgate/tap]%% *} sessions)"
		fi
		for w in $works; do
			if over_cap; then not_measured mxgate tap "$w" "not measured (time cap)"; continue; fi
			tap_run "$w"
			case " $LAT_WORKS " in *" $w "*) over_cap || client_latency mxgate tap "$LAB_NS" "$GATE_IP" "$w" ;; esac
		done
		cp "$LAB_DIR/mxgate.log" "$RUN/tap.$grp.mxgate.log" 2>/dev/null
		lab_down
	done
}

# ---------------------------------------------------------------- the peers

# The peers' namespace: loopback only, and the sink on 127.0.0.1:SINK_PORT (CPU 0).
peers_ns_up() {
	ns_exists "$PEER_NS" && return 0
	ip netns add "$PEER_NS" || return 1
	ip -n "$PEER_NS" link set lo up || return 1
	ip netns exec "$PEER_NS" sysctl -qw net.ipv4.ip_local_port_range="1024 65535" 2>/dev/null
	ip netns exec "$PEER_NS" sysctl -qw net.core.somaxconn=4096 2>/dev/null
	ip netns exec "$PEER_NS" taskset -c "$GEN_CPU" smtp-sink -u nobody -h sink.lab.example \
		127.0.0.1:"$SINK_PORT" 1024 >"$RUN/smtp-sink.log" 2>&1 </dev/null &
	SINK_PID=$!
	wait_port "$SINK_PORT" "$SINK_PID"
}

# Wait until something listens on 127.0.0.1:$1 in the peers' namespace while pid $2 lives (30 s).
wait_port() {
	local i
	for ((i = 0; i < 300; i++)); do
		ip netns exec "$PEER_NS" ss -Hltn "sport = :$1" 2>/dev/null | grep -q . && return 0
		alive "$2" || return 1
		sleep 0.1
	done
	return 1
}

# Start peer $1 with certificate $2 in its cgroup, pinned to the server core.
peer_up() {
	local name=$1 key=$2 dir=$RUN/$1 cmd
	mkdir -p "$dir" || return 1
	IDLE_MAX=$IDLE_N
	[ "$name" = postfix ] && IDLE_MAX=$IDLE_PF
	"peer_${name}_config" "$dir" "$key" || { msg "$name: configuration failed"; return 1; }
	cmd=$("peer_${name}_cmd" "$dir")
	cg_create "$name" || { msg "$name: cannot create its cgroup"; return 1; }
	(
		ulimit -n "$(ulimit -Hn)" 2>/dev/null
		cg_enter "$name" || exit 1
		# shellcheck disable=SC2086  # cmd is a list of words (paths without blanks)
		exec ip netns exec "$PEER_NS" taskset -c "$SRV_CPU" $cmd
	) >>"$dir/stdout.log" 2>&1 </dev/null &
	PEER_PID=$!
	PEER_UP=$name
	wait_port "$PEER_PORT" "$PEER_PID" || {
		msg "$name: did not start listening"
		local f
		for f in $("peer_${name}_logs" "$dir") "$dir/stdout.log"; do
			[ -s "$f" ] && tail -n 5 "$f" | sed "s|^|    $(basename "$f"): |" >&2
		done
		return 1
	}
}

# One measured run against a peer: $1 name, $2 work.
peer_run() {
	local name=$1 w=$2 c0 c1 line
	msg "$name loopback $w: $DUR s, $CONC in flight"
	c0=$(cg_cpu_usec "$name")
	# shellcheck disable=SC2046  # work_args is a list of words
	run_client "$PEER_NS" "$PEER_ADDR" "$name.$w" $(work_args "$w") --concurrency "$CONC" \
		--duration "$DUR" --count "$MAX_SESS"
	c1=$(cg_cpu_usec "$name")
	line=$(client_line "$name.$w")
	record "$name" loopback "$w" "$line" "$([ -n "$c0" ] && [ -n "$c1" ] && echo $((c1 - c0)))"
}

# p99 handshake latency at LAT_PCT % of capacity, as smtp_memif.sh measures
# mxgate's on memif: $1 system, $2 path, $3 namespace, $4 server address, $5
# work, $6 (optional) a function printing the server's CPU microseconds so far.
# First the capacity with LAT_CONC in flight (closed loop), then mxgen --rate
# at LAT_PCT % of it, at most LAT_CONC in flight; one LATENCY line in LATS.
client_latency() {
	local sys=$1 path=$2 ns=$3 addr=$4 w=$5 cpu=${6:-} tag=$1.$2.$5 cap rate line c0='' c1=''
	msg "$sys $path $w: capacity: closed loop, $LAT_CONC in flight, $DUR s"
	# shellcheck disable=SC2046  # work_args is a list of words
	run_client "$ns" "$addr" "$tag.cap" $(work_args "$w") --concurrency "$LAT_CONC" \
		--duration "$DUR" --count "$MAX_SESS"
	cap=$(kv "$(client_line "$tag.cap")" sessions_per_s)
	if ! rate=$(lat_rate "$cap" "$LAT_PCT"); then
		LATS+=("LATENCY system=$sys path=$path work=$w capacity_per_s=${cap:--} rate=- note=no_capacity")
		return
	fi
	msg "$sys $path $w: open loop at $LAT_PCT% of $cap = $rate sessions/s, $DUR s"
	[ -n "$cpu" ] && c0=$("$cpu")
	# shellcheck disable=SC2046
	run_client "$ns" "$addr" "$tag.lat" $(work_args "$w") --concurrency "$LAT_CONC" \
		--duration "$DUR" --rate "$rate"
	[ -n "$cpu" ] && c1=$("$cpu")
	line=$(client_line "$tag.lat")
	LATS+=("LATENCY system=$sys path=$path work=$w capacity_per_s=$cap pct=$LAT_PCT rate=$rate achieved_per_s=$(kv "$line" achieved_rate) missed=$(kv "$line" missed) sessions=$(kv "$line" sessions) errors=$(kv "$line" errors) $(ms_words "$line") server_cpu_pct=$(awk -v a="$c0" -v b="$c1" -v w="$(kv "$line" window_s)" 'BEGIN { if (w > 0 && b != "") printf "%.1f", (b - a) / 1e4 / w; else print "-" }')")
	msg "$sys $path $w: ${LATS[-1]#LATENCY system=$sys path=$path }"
}

# The CPU microseconds of the running peer's cgroup.
peer_cpu_usec() { cg_cpu_usec "$PEER_UP"; }

# Idle measurement callback for a peer: $1 idle sessions.
peer_idle_measure() {
	local m1
	m1=$(cg_mem_bytes "$PEER_UP")
	[ -n "$m1" ] && [ -n "$PEER_MEM0" ] &&
		IDLE[$PEER_UP/loopback]="$1 $(awk -v a="$PEER_MEM0" -v b="$m1" -v n="$1" 'BEGIN { printf "%.2f", (b - a) / 1024 / n }')"
}

run_peer() {
	local name=$1 grp key w works why n
	# Haraka is installed on first use: only a missing node stops it before
	# the install (its "missing" check also says "not installed").
	if [ "$name" = haraka ] && command -v node >/dev/null && [ -z "$(haraka_js)" ]; then
		msg "haraka: npm install Haraka@$HARAKA_VERSION into $HARAKA_CACHE (once)"
		peer_haraka_setup || msg "haraka: npm install failed (log: $HARAKA_CACHE/$HARAKA_VERSION/npm.log)"
	fi
	why=$("peer_${name}_missing")
	if [ -n "$why" ]; then
		msg "$name: not measured: $why"
		for w in $WORKS; do not_measured "$name" loopback "$w" "not measured ($why)"; done
		return
	fi
	VERSION[$name]=$("peer_${name}_version")
	peers_ns_up || { for w in $WORKS; do not_measured "$name" loopback "$w" "the peers' namespace failed"; done; return; }
	for grp in $GROUPS_ORDER; do
		key=$(group_key "$grp")
		works=$(group_works "$grp")
		[ "$grp" = idle ] || [ -n "$works" ] || continue
		if over_cap; then
			for w in $works; do not_measured "$name" loopback "$w" "not measured (time cap)"; done
			continue
		fi
		msg "$name: starting (${VERSION[$name]}, $key certificate, CPU $SRV_CPU, cgroup mxbench_$name)"
		if ! peer_up "$name" "$key"; then
			peer_down "$name" "$RUN/$name"
			for w in $works; do not_measured "$name" loopback "$w" "$name did not start"; done
			continue
		fi
		if ! warm_up "$PEER_NS" "$PEER_ADDR" "$name.$grp" "$key"; then
			msg "$name: warm-up failed: its rows are not measured"
			tail -n 5 "$RUN/$name.$grp.warm.err" | sed 's/^/    /' >&2
			for w in $works; do not_measured "$name" loopback "$w" "the warm-up failed"; done
			peer_down "$name" "$RUN/$name"
			continue
		fi
		if [ "$grp" = idle ]; then
			n=$IDLE_N
			[ "$name" = postfix ] && [ "$n" -gt "$IDLE_PF" ] && n=$IDLE_PF
			msg "$name: $n idle STARTTLS sessions, held $IDLE_HOLD s"
			sleep 1
			PEER_MEM0=$(cg_mem_bytes "$name")
			run_idle "$PEER_NS" "$n" "$PEER_ADDR" peer_idle_measure "$name.idle"
			[ -n "${IDLE[$name/loopback]:-}" ] && msg "$name idle: ${IDLE[$name/loopback]#* } KiB per idle session (${IDLE[$name/loopback]%% *} sessions)"
		fi
		for w in $works; do
			if over_cap; then not_measured "$name" loopback "$w" "not measured (time cap)"; continue; fi
			peer_run "$name" "$w"
			case " $LAT_WORKS " in *" $w "*) over_cap || client_latency "$name" loopback "$PEER_NS" "$PEER_ADDR" "$w" peer_cpu_usec ;; esac
		done
		peer_down "$name" "$RUN/$name"
	done
	cg_remove "$name"
}

# ---------------------------------------------------------------- the run

COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo "+changes")
CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
msg "make bench BENCH=$BENCH: $DUR s per run, $CONC sessions in flight, 1 KiB messages, idle $IDLE_N sessions (Postfix $IDLE_PF); time cap $TIME_CAP s"
msg "systems: $SYSTEMS; works: $WORKS; run directory $RUN"

for s in $SYSTEMS; do
	case $s in
		mxgate-memif) run_memif; run_bound ;;
		mxgate-tap) run_tap ;;
		*) run_peer "$s" ;;
	esac
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- the table

rows() {   # system path pairs in table order
	local s
	for s in $SYSTEMS; do
		case $s in
			mxgate-memif) echo "mxgate memif" ;;
			mxgate-tap) echo "mxgate tap" ;;
			*) echo "$s loopback" ;;
		esac
	done
}

{
	printf 'sys\tpath\twork\tsessions\terrors\tus\tsps\tp50\tp99\tnote\n'
	while read -r s p; do
		for w in $WORKS; do
			if [ -n "${RES[$s/$p/$w]:-}" ]; then
				printf '%s\t%s\t%s\t%s\t\n' "$s" "$p" "$w" "$(echo "${RES[$s/$p/$w]}" | tr ' ' '\t')"
			else
				printf '%s\t%s\t%s\t-\t-\t-\t-\t-\t-\t%s\n' "$s" "$p" "$w" "${NOTE[$s/$p/$w]:-not measured}"
			fi
		done
	done < <(rows)
} >"$RUN/all.tsv"

# summary.tsv: the nine columns
awk -F'\t' 'BEGIN { OFS = "\t" }
NR == 1 { print "system", "path", "work", "sessions", "errors", "server_us_per_session", "sessions_per_s", "p50_ms", "p99_ms"; next }
{ print $1, $2, $3, $4, $5, $6, $7, $8, $9 }' "$RUN/all.tsv" >"$OUT/summary.tsv"
{
	printf 'system\tpath\tidle_sessions\tkib_per_idle_session\n'
	while read -r s p; do
		v=${IDLE[$s/$p]:-}
		printf '%s\t%s\t%s\t%s\n' "$s" "$p" "${v%% *}" "${v#* }" | sed 's/\t\t/\t-\t-/'
	done < <(rows)
} >"$OUT/idle.tsv"

{
	printf '\nmake bench BENCH=%s: commit %s, %s, %s CPUs, kernel %s, %s\n' "$BENCH" "$COMMIT" \
		"$CPU_MODEL" "$(nproc)" "$(uname -r)" "$(date -u '+%Y-%m-%d %H:%M UTC')"
	printf 'servers on CPU %s (one core each), client mxgen and smtp-sink on CPU %s; %s s per run, %s sessions in flight,\n' \
		"$SRV_CPU" "$GEN_CPU" "$DUR" "$CONC"
	printf 'TLS 1.3 full handshakes (no tickets, no resumption), 1 KiB relayed messages; load average %s at the start, %s at the end\n' \
		"$LOAD0" "$LOAD1"
	for s in mxgate nginx postfix haraka; do
		[ -n "${VERSION[$s]:-}" ] && printf '  %-8s %s\n' "$s" "${VERSION[$s]}"
	done
	printf '\nServer CPU per session (us), sessions/s, latency; ratio = best peer us / this line us (> 1: fewer CPU per session than the best peer)\n'
	awk -F'\t' '
	NR == 1 { next }
	{
		k = $1 "/" $2 "/" $3; us[k] = $6; line[++n] = k; sys[k] = $1; path[k] = $2; work[k] = $3
		ses[k] = $4; err[k] = $5; sps[k] = $7; p50[k] = $8; p99[k] = $9; note[k] = $10
		if ($1 != "mxgate" && $6 != "-" && $6 + 0 > 0 && $4 + 0 > 0 && (best[$3] == "" || $6 + 0 < best[$3] + 0)) {
			best[$3] = $6; bestsys[$3] = $1
		}
	}
	END {
		printf "%-16s %-7s %-9s %9s %7s %10s %11s %9s %9s  %s\n", "work", "system", "path", "sessions", "errors", "us/session", "sessions/s", "p50 ms", "p99 ms", "vs best peer"
		nw = split("starttls-ecdsa starttls-rsa plain handshake-ecdsa handshake-rsa", W, " ")
		for (i = 1; i <= nw; i++)
			for (j = 1; j <= n; j++) {
				k = line[j]
				if (work[k] != W[i]) continue
				if (us[k] == "-") {
					printf "%-16s %-7s %-9s  %s\n", work[k], sys[k], path[k], note[k]
					continue
				}
				r = (best[W[i]] != "" && us[k] + 0 > 0) ? sprintf("%.2fx (%s %s us)", best[W[i]] / us[k], bestsys[W[i]], best[W[i]]) : "-"
				printf "%-16s %-7s %-9s %9s %7s %10s %11s %9s %9s  %s\n", work[k], sys[k], path[k], ses[k], err[k], us[k], sps[k], p50[k], p99[k], r
			}
	}' "$RUN/all.tsv"
	printf '\nmxgate / best peer, server CPU per session (per-core capacity ratio), one line per work\n'
	awk -F'\t' '
	NR == 1 { next }
	{ k = $1 "/" $2; v[$3 "/" k] = $6
	  if ($1 != "mxgate" && $6 != "-" && $6 + 0 > 0 && (best[$3] == "" || $6 + 0 < best[$3] + 0)) { best[$3] = $6; bs[$3] = $1 } }
	function cell(x) { return (x == "" || x == "-") ? "-" : x }
	function ratio(b, m) { return (b != "" && m != "" && m != "-" && m + 0 > 0) ? sprintf("%.2fx", b / m) : "-" }
	END {
		printf "%-16s %12s %12s %10s %10s %10s %18s %12s %12s\n", "work", "mxgate memif", "mxgate tap", "nginx", "postfix", "haraka", "best peer", "memif/best", "tap/best"
		nw = split("starttls-ecdsa starttls-rsa plain handshake-ecdsa handshake-rsa", W, " ")
		for (i = 1; i <= nw; i++) {
			w = W[i]
			if (!((w "/mxgate/tap") in v) && !((w "/nginx/loopback") in v) && !((w "/mxgate/memif") in v) && \
			    !((w "/postfix/loopback") in v) && !((w "/haraka/loopback") in v)) continue
			printf "%-16s %12s %12s %10s %10s %10s %18s %12s %12s\n", w, cell(v[w "/mxgate/memif"]), cell(v[w "/mxgate/tap"]),
				cell(v[w "/nginx/loopback"]), cell(v[w "/postfix/loopback"]), cell(v[w "/haraka/loopback"]),
				best[w] != "" ? bs[w] " " best[w] : "-", ratio(best[w], v[w "/mxgate/memif"]), ratio(best[w], v[w "/mxgate/tap"])
		}
	}' "$RUN/all.tsv"
	if [ ${#ONCPU[@]} -gt 0 ]; then
		printf '\nmxgate tap: its worker polls CPU %s; share of each run it was on that CPU (schedstat; below 100%%: other\n' "$SRV_CPU"
		printf 'processes had turns, and busy cycles, being wall time, then overcount), and the on-CPU estimate of its\n'
		printf 'CPU per session (worker CPU time x busy share / sessions) with the ratio to the best peer:\n'
		for w in $WORKS; do
			[ -n "${ONCPU[$w]:-}" ] || continue
			printf '  %-16s on CPU %3s%%  estimate %8s us/session  %s\n' "$w" "${ONCPU[$w]}" "${ESTUS[$w]:--}" \
				"$(awk -F'\t' -v w="$w" -v e="${ESTUS[$w]:-}" 'NR > 1 && $3 == w && $1 != "mxgate" && $6 != "-" && $6 + 0 > 0 && (b == "" || $6 + 0 < b + 0) { b = $6; s = $1 }
					END { if (b != "" && e + 0 > 0) printf "%.2fx vs %s %s us", b / e, s, b }' "$RUN/all.tsv")"
		done
	fi
	printf '\nIdle STARTTLS sessions (ECDSA, after STARTTLS + EHLO): KiB per idle session (peers: cgroup memory growth; mxgate: VmRSS growth)\n'
	awk -F'\t' 'NR > 1 { printf "  %-8s %-9s %8s sessions  %s KiB\n", $1, $2, $3, $4 }' "$OUT/idle.tsv"
	if [ ${#BOUND[@]} -gt 0 ]; then
		printf '\nHandshakes against the in-memory bound of the same library, measured in this run (build/tls_mem on CPU %s,\n' "$SRV_CPU"
		printf 'client and server in one thread, server calls only; %%: bound / mxgate memif handshake work, per session):\n' 
		printf 'key\tbound_tls_c_us\tbound_plain_us\tmxgate_memif_us\tpct_of_tls_c_bound\tpct_of_plain_bound\n' >"$OUT/bound.tsv"
		for key in ecdsa rsa; do
			[ -n "${BOUND[$key]:-}" ] || continue
			m=$(awk -F'\t' -v w="handshake-$key" '$1 == "mxgate" && $2 == "memif" && $3 == w { print $6 }' "$RUN/all.tsv")
			read -r bt bp _ <<<"${BOUND[$key]}"
			pt=$(awk -v b="$bt" -v m="${m:--}" 'BEGIN { if (m + 0 > 0) printf "%.0f%%", 100 * b / m; else print "-" }')
			pp=$(awk -v b="$bp" -v m="${m:--}" 'BEGIN { if (m + 0 > 0) printf "%.0f%%", 100 * b / m; else print "-" }')
			printf '  handshake-%-6s bound %7.1f us via tls.c, %7.1f us plain BoringSSL; mxgate memif %7s us: %s of the tls.c bound, %s of the plain one\n' \
				"$key" "$bt" "$bp" "${m:--}" "$pt" "$pp"
			printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$key" "$bt" "$bp" "${m:--}" "$pt" "$pp" >>"$OUT/bound.tsv"
		done
	fi
	if [ -s "$RUN/memif.saturation" ]; then
		printf '\nmxgate memif, saturated and low-load runs (tests/bench/smtp_memif.sh):\n'
		sed 's/^/  /' "$RUN/memif.saturation"
	fi
	if [ ${#LATS[@]} -gt 0 ]; then
		printf '\nHandshake latency at %s%% of each system'"'"'s own capacity (closed loop, %s in flight), open loop\n' "$LAT_PCT" "$LAT_CONC"
		printf '(mxgen --rate, at most %s in flight), ms from connect to the end of TLS and to the final 250, and\n' "$LAT_CONC"
		printf 'of the handshake alone (hs: from the ClientHello made to the handshake done, on mxgen'"'"'s clock);\n'
		printf 'p99 ratio = the peer'"'"'s TLS p99 / mxgate memif'"'"'s (> 1: mxgate lower):\n'
		printf '%-16s %-7s %-9s %10s %8s %8s %6s %8s %8s %8s %9s %7s %7s %12s  %s\n' work system path capacity/s rate \
			achieved missed tls_p50 tls_p90 tls_p99 tls_p99.9 hs_p50 hs_p99 final250_p99 "p99 ratio"
		for w in $LAT_WORKS; do
			m=$(printf '%s\n' "${LATS[@]}" | grep " system=mxgate path=memif work=$w " | tail -n1)
			for l in "${LATS[@]}"; do
				[ "$(kv "$l" work)" = "$w" ] || continue
				printf '%-16s %-7s %-9s %10s %8s %8s %6s %8s %8s %8s %9s %7s %7s %12s  %s\n' "$w" "$(kv "$l" system)" \
					"$(kv "$l" path)" "$(kv "$l" capacity_per_s)" "$(kv "$l" rate)" "$(kv "$l" achieved_per_s)" \
					"$(kv "$l" missed)" "$(kv "$l" tls_p50_ms)" "$(kv "$l" tls_p90_ms)" "$(kv "$l" tls_p99_ms)" \
					"$(kv "$l" tls_p999_ms)" "$(kv "$l" hs_p50_ms)" "$(kv "$l" hs_p99_ms)" "$(kv "$l" final250_p99_ms)" \
					"$(awk -v p="$(kv "$l" tls_p99_ms)" -v m="$(kv "$m" tls_p99_ms)" 'BEGIN { if (m + 0 > 0 && p + 0 > 0) printf "%.2fx", p / m; else print "-" }')"
			done
		done
		printf 'mxgate memif in the paced runs (RSA key door: lanes used per 8-lane RSA-2048 IFMA run, two an operation; private-key\n'
		printf 'operations per door batch (X25519 rounds count as batches); lanes per X25519 IFMA run; the\n'
		printf 'worker'"'"'s busy share and its time on CPU; mxgen'"'"'s p99 start lag; the handshake p50 and p99 on\n'
		printf 'mxgate'"'"'s clock, ClientHello in to Finished read: the bound of the bucket of\n'
		printf 'mxgate_smtp_tls_handshake_seconds that holds them; and so for its poll rounds that found\n'
		printf 'work, p99 and longest, from mxgate_worker_busy_round_seconds):\n'
		printf '%s\n' "${LATS[@]}" | awk '/system=mxgate path=memif/ { delete v; for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
			printf "  %-16s lanes/run %s  ops/batch %s  x25519 lanes/run %s  worker busy %s%%  on CPU %s%%  mxgen start lag p99 %s ms  mxgate hs p50 <= %s ms, p99 <= %s ms  round p99 <= %s ms, max <= %s ms\n", v["work"],
				v["rsa_lanes_per_run"], v["key_ops_per_batch"], v["x25519_lanes_per_run"], v["worker_busy_pct"], v["worker_oncpu_pct"], v["mxgen_start_lag_p99_ms"],
				v["gate_hs_p50_le_ms"], v["gate_hs_p99_le_ms"], v["gate_round_p99_le_ms"], v["gate_round_max_le_ms"] }'
		printf '%s\n' "${LATS[@]}" >"$OUT/latency.txt"
	fi
	printf '\nwritten: %s, %s%s\n' "$OUT/summary.tsv" "$OUT/idle.tsv" "$([ ${#BOUND[@]} -gt 0 ] && echo ", $OUT/bound.tsv")"
} | tee "$OUT/summary.txt"
msg "done in $(elapsed)"
exit 0
