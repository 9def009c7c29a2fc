#!/usr/bin/env bash
# smtp_memif.sh - the SMTP benchmark on the kernel-free path (make
# bench-memif): full SMTP sessions through mxgate whose only neighbours are
# two polling DPDK processes, as a NIC would give it.
#
#   mxgen client (net_memif0) <-memif-> mxgate outside 198.18.2.2
#   mxgate inside 198.18.3.2  <-memif-> mxgen sink (net_memif1) 198.18.3.1:25
#
# One mxgen process holds both the client and the sink (one worker lcore
# polling both ports), so the machine's two cores split as:
#   CPU 1: mxgate's worker lcore alone (polls, never sleeps);
#   CPU 0: mxgen (main lcore, mostly asleep, and its worker, polling) and
#          mxgate's main/service lcore (asleep in its control socket poll).
# Two mxgen processes (client, sink) would both poll CPU 0 and share it by
# time slices of the scheduler: milliseconds of latency added to every
# exchange. Hence one process.
#
# Runs (WORK: the mxgen command line after "--", besides the EAL options and
# the addresses shown below; S = BENCH_DURATION, C = BENCH_CONCURRENCY,
# B = BENCH_SIZE):
#   plain            smtp --tls plain --port 25 --size B --duration S
#   starttls-ecdsa   smtp --tls starttls --port 25 --size B --duration S
#                    (mxgate with an ECDSA P-256 certificate)
#   starttls-rsa     the same, mxgate with an RSA-2048 certificate
#   handshake-ecdsa  smtp-handshake --tls starttls --port 25 --size B --duration S
#   handshake-rsa    the same against the RSA certificate
# and on request (BENCH_WORKS): implicit-ecdsa / implicit-rsa (smtp --tls
# implicit --port 465), handshake-implicit-ecdsa / -rsa, handshake-plain
# (greeting, EHLO, QUIT). With BENCH_SESSIONS=N, "--sessions N" replaces
# "--duration S". Every mxgen run is, in full:
#   build/mxgen --no-huge --no-pci -m 512 --no-shconf --file-prefix memif_br-gen-PID
#     --lcores 0@0,1@0
#     --vdev net_memif0,role=client,socket=TMP/memif_br-out.sock,socket-abstract=no,id=0,rsize=12,mac=02:00:c6:12:02:01
#     --vdev net_memif1,role=client,socket=TMP/memif_br-in.sock,socket-abstract=no,id=0,rsize=12,mac=02:00:c6:12:03:01
#     -- WORK --concurrency C --dev net_memif0 --local 198.18.2.1/24 --remote 198.18.2.2
#        --sink-dev net_memif1 --sink-local 198.18.3.1/24 --sink-port 25 --hold-ports 20
# against a fresh mxgate per run (deploy/bench-memif-smtp.conf plus the
# certificate, stats_file and, unless BENCH_TICKETS=1, tls_ticket_rotate_s = 0):
#   build/mxgate --no-huge --no-pci -m 512 --no-shconf --file-prefix memif_br-gate-PID
#     --lcores 0@0,1@1
#     --vdev net_memif0,role=server,socket=TMP/memif_br-out.sock,socket-abstract=no,id=0,rsize=12,mac=02:00:c6:12:02:02
#     --vdev net_memif1,role=server,socket=TMP/memif_br-in.sock,socket-abstract=no,id=0,rsize=12,mac=02:00:c6:12:03:02
#     -- -c TMP/gate.conf
# (TMP: this script's temporary directory, PID: its process id). Order of a
# run: mxgate up, its counters (SIGUSR1), mxgen runs (its probe session
# resolves the MACs, then the load), once mxgen printed its summary
# mxgate's counters again, then mxgate stops, then mxgen closes its ports
# and exits (--hold-ports). A fresh mxgate per run because a memif peer
# that disconnects while mxgate's worker polls can crash mxgate in DPDK
# 22.11's net_memif RX (seen here; the regions are unmapped by the control
# thread under the worker's feet).
#
# Server CPU is mxgate's worker busy cycles (mxgate_busy_cycles_total, the
# counters before and after the run), divided by the sessions the client
# completed in the run (probe and drain included, as the busy cycles are):
# server_us_per_session. Busy cycles overcount at low load: the worker's
# loop counts a whole iteration (RX poll of both ports, timers, TX flush)
# as busy when it found any work, so an iteration that handles one packet
# costs its full fixed overhead, which at high load is shared by a burst of
# up to 32 packets; and when the kernel preempts the worker inside a busy
# iteration (another process on CPU 1), that time counts as busy too. At
# saturation (busy ~100%, the worker alone on its core) busy cycles per
# session equal 1 / capacity, the honest figure. So the bench ends with
# saturation runs: BENCH_SAT_WORKS at BENCH_SAT_CONCURRENCY (RSA: the
# client's side of an RSA handshake is a small fraction of the server's,
# so one mxgen core can saturate mxgate's worker), and plain at concurrency
# 1 next to plain at C, to show the overcount side by side. The table also
# shows oncpu%: the share of the run mxgate's worker thread was actually on
# CPU 1 (/proc schedstat), and busy us/session times that share, which
# corrects for preemption if it hit busy and idle polls alike.
#
# Output: progress lines on stderr; a table, then one line per run on
# stdout that make bench (tests/bench/bench.sh) reads:
#   RESULT system=mxgate path=memif work=W sessions=N errors=N server_us_per_session=X sessions_per_s=X p50_ms=X p99_ms=X
# (errors: mxgen's failed sessions plus messages that were accepted but
# did not arrive exactly once at the sink; p50/p99: connect to the 221 of
# QUIT); saturation and low-load runs print SATURATION lines instead (same
# words, plus concurrency and worker_busy_pct); "RAW work=W ... <mxgen
# summary line>" gives every figure (the lab test t_mxgen_memif reads them).
#
# Environment: BENCH_DURATION (10 s per run), BENCH_SESSIONS (instead of a
# duration: N sessions per run), BENCH_CONCURRENCY (32), BENCH_SIZE (1024),
# BENCH_WORKS (the five above), BENCH_SATURATE (1; 0 skips the saturation
# runs), BENCH_SAT_WORKS ("starttls-rsa handshake-rsa"),
# BENCH_SAT_CONCURRENCY (256), BENCH_TICKETS (0: no session tickets, as the
# client never resumes; 1: mxgate's default), BENCH_LATENCY_WORKS (none:
# works whose handshake latency at BENCH_LATENCY_PCT (80) % of capacity is
# measured: a closed-loop run at BENCH_SAT_CONCURRENCY gives the capacity,
# then mxgen --rate at that share of it, at most as many in flight; a
# LATENCY line each, with the RSA key door's lanes per IFMA run and
# operations per batch read with MXCTL over mxgate's control socket, and
# the buckets of mxgate's p99 and longest poll round that found work:
# gate_round_p99_le_ms, gate_round_max_le_ms), BENCH_LATENCY_RATE (a
# number of sessions/s: the paced run at that rate, without the capacity
# run; for two builds side by side on a machine whose speed varies, where
# 80 % of each run's own capacity would be two different loads),
# BENCH_GATE_CONF (lines added to mxgate's configuration, e.g. "idle_sleep_us
# = 20": then the worker's time on CPU per session, worker_cpu_us_per_session
# in the RAW line, is a figure that other processes on CPU 1 do not inflate),
# BENCH_KEEP=1 (keep the
# temporary directory: logs, counters). MXGATE, MXGEN name other binaries
# than build/mxgate, build/mxgen; BENCH_GEN_EXTRA adds mxgen options (the
# lab test's --sink-forget). Every step is bounded in time; a trap
# stops what this script started and removes its sockets, EAL directories
# and temporary directory, also on failure or Ctrl-C. Root: for DPDK's
# runtime directory under /var/run/dpdk; no namespace, tap or address of
# the host is touched (the memif sockets live in the temporary directory).
set -u

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MXGATE=${MXGATE:-$REPO/build/mxgate}
MXGEN=${MXGEN:-$REPO/build/mxgen}
MXCTL=${MXCTL:-$REPO/build/mxctl}
CONF=$REPO/deploy/bench-memif-smtp.conf

DUR=${BENCH_DURATION:-10}
SESSIONS=${BENCH_SESSIONS:-}
CONC=${BENCH_CONCURRENCY:-32}
SIZE=${BENCH_SIZE:-1024}
WORKS=${BENCH_WORKS-plain starttls-ecdsa starttls-rsa handshake-ecdsa handshake-rsa}
SATURATE=${BENCH_SATURATE:-1}
SAT_WORKS=${BENCH_SAT_WORKS:-starttls-rsa handshake-rsa}
SAT_CONC=${BENCH_SAT_CONCURRENCY:-256}
TICKETS=${BENCH_TICKETS:-0}
LAT_WORKS=${BENCH_LATENCY_WORKS:-}
LAT_PCT=${BENCH_LATENCY_PCT:-80}
LAT_RATE=${BENCH_LATENCY_RATE:-}
case $LAT_RATE in *[!0-9]*) echo "smtp_memif: BENCH_LATENCY_RATE must be a whole number of sessions/s" >&2; exit 2 ;; esac
KEEP=${BENCH_KEEP:-0}

GATE_CPU=1
GEN_CPU=0
START_TIMEOUT=20                 # seconds for mxgate to come up
RUN_SLACK=40                     # beyond the duration, per client run

msg() { printf 'bench-memif: %s\n' "$*" >&2; }
die() { msg "$*"; exit 1; }

for n in "$DUR" "$CONC" "$SIZE" "$SAT_CONC" "$LAT_PCT" ${SESSIONS:+"$SESSIONS"}; do
	case $n in ''|*[!0-9]*) die "BENCH_* values must be positive integers" ;; esac
done
[ "$DUR" -ge 1 ] && [ "$DUR" -le 600 ] || die "BENCH_DURATION must be 1..600"
[ -z "$SESSIONS" ] || { [ "$SESSIONS" -ge 1 ] && [ "$SESSIONS" -le 10000000 ]; } ||
	die "BENCH_SESSIONS must be 1..10000000"
[ "$CONC" -ge 1 ] && [ "$CONC" -le 65536 ] || die "BENCH_CONCURRENCY must be 1..65536"
# Which key a work needs, and its mxgen words; "" for an unknown work.
work_key() {
	case $1 in
		plain|handshake-plain) echo ecdsa ;;
		*-ecdsa) echo ecdsa ;;
		*-rsa) echo rsa ;;
	esac
}
work_args() {
	case $1 in
		plain) echo "smtp --tls plain --port 25" ;;
		handshake-plain) echo "smtp-handshake --tls plain --port 25" ;;
		starttls-ecdsa|starttls-rsa) echo "smtp --tls starttls --port 25" ;;
		handshake-ecdsa|handshake-rsa) echo "smtp-handshake --tls starttls --port 25" ;;
		implicit-ecdsa|implicit-rsa) echo "smtp --tls implicit --port 465" ;;
		handshake-implicit-ecdsa|handshake-implicit-rsa) echo "smtp-handshake --tls implicit --port 465" ;;
	esac
}
[ "$LAT_PCT" -ge 1 ] && [ "$LAT_PCT" -le 100 ] || die "BENCH_LATENCY_PCT must be 1..100"
for w in $WORKS $SAT_WORKS $LAT_WORKS; do
	[ -n "$(work_args "$w")" ] || die "unknown work '$w'"
done
for b in "$MXGATE" "$MXGEN"; do
	[ -x "$b" ] || die "$b is missing: run 'make all' (make bench-memif does)"
done
[ -r "$CONF" ] || die "$CONF is missing"
command -v openssl >/dev/null || die "openssl (the command) is needed to make the certificates"
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs (mxgate's worker alone on CPU $GATE_CPU)"

TMP=$(mktemp -d /tmp/memif_br.XXXXXX) || die "mktemp failed"
chown mxgate "$TMP" || die "no user mxgate (make deps): mxgate drops root to it and writes its counters here"
# a FIFO nobody writes: run_gen's wait loop sleeps in a builtin read on it
mkfifo "$TMP/never" && exec {NEVER_FD}<>"$TMP/never" || die "cannot make $TMP/never"
GATE_PREFIX=memif_br-gate-$$
GEN_PREFIX=memif_br-gen-$$
OUT_SOCK=$TMP/memif_br-out.sock
IN_SOCK=$TMP/memif_br-in.sock
GATE_PID=
CLIENT_PID=
TAIL_PID=

. "$REPO/tests/bench/lib.sh"   # stop_pid, kv, pn, pd, keep_tmp, usr1_stats, ms_words, lat_rate

cleanup() {
	# mxgate first: mxgen keeps its memif ports open until mxgate has gone (--hold-ports)
	stop_pid "$GATE_PID"
	GATE_PID=
	stop_pid "$CLIENT_PID"
	CLIENT_PID=
	stop_pid "$TAIL_PID"
	TAIL_PID=
	rm -rf "/var/run/dpdk/$GATE_PREFIX" "/var/run/dpdk/$GEN_PREFIX" 2>/dev/null
	rm -f "$OUT_SOCK" "$IN_SOCK"
	keep_tmp "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


# Certificates: ECDSA P-256 and RSA-2048, self-signed for mx.bench.example.
mkdir -p "$TMP/certs"
for k in ecdsa rsa; do
	case $k in
		ecdsa) newkey=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1) ;;
		rsa) newkey=(-newkey rsa:2048) ;;
	esac
	timeout 60 openssl req -x509 "${newkey[@]}" -nodes -days 30 -subj /CN=mx.bench.example \
		-addext subjectAltName=DNS:mx.bench.example \
		-keyout "$TMP/certs/$k.key" -out "$TMP/certs/$k.crt" >/dev/null 2>&1 ||
		die "openssl req could not make the $k certificate"
done

EAL_COMMON=(--no-huge --no-pci -m 512 --no-shconf)
MEMIF_ARGS=socket-abstract=no,id=0,rsize=12
GATE_EAL=("${EAL_COMMON[@]}" --file-prefix "$GATE_PREFIX" --lcores "0@$GEN_CPU,1@$GATE_CPU"
	--vdev "net_memif0,role=server,socket=$OUT_SOCK,$MEMIF_ARGS,mac=02:00:c6:12:02:02"
	--vdev "net_memif1,role=server,socket=$IN_SOCK,$MEMIF_ARGS,mac=02:00:c6:12:03:02")
GEN_EAL=("${EAL_COMMON[@]}" --file-prefix "$GEN_PREFIX" --lcores "0@$GEN_CPU,1@$GEN_CPU"
	--vdev "net_memif0,role=client,socket=$OUT_SOCK,$MEMIF_ARGS,mac=02:00:c6:12:02:01"
	--vdev "net_memif1,role=client,socket=$IN_SOCK,$MEMIF_ARGS,mac=02:00:c6:12:03:01")
GEN_NET=(--dev net_memif0 --local 198.18.2.1/24 --remote 198.18.2.2
	--sink-dev net_memif1 --sink-local 198.18.3.1/24 --sink-port 25)

# Ask mxgate for its counters (SIGUSR1) and copy them to $1.
gate_stats() {
	local out=$1
	usr1_stats "$GATE_PID" "$TMP/stats.prom" "$out" || return 1
	# the key door's counters are only on the control socket
	[ -x "$MXCTL" ] && timeout -k 2 10 "$MXCTL" -s "$TMP/ctl.sock" stats 2>/dev/null |
		grep '^mxgate_tls_key_' >>"$out"
	return 0
}

# Nanoseconds mxgate's worker thread (rte-worker-1) has run on a CPU (schedstat).
worker_ns() {
	local t
	for t in /proc/"$GATE_PID"/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = rte-worker-1 ] || continue
		awk '{ print $1 }' "$t/schedstat" 2>/dev/null
		return 0
	done
	echo 0
}

# The worker thread's write system calls and minor page faults so far ("SYSCW MINFLT";
# /proc task io and stat): per session, counts that other processes on the CPU do not change.
worker_counts() {
	local t
	for t in /proc/"$GATE_PID"/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = rte-worker-1 ] || continue
		echo "$(awk '$1 == "syscw:" { print $2 }' "$t/io" 2>/dev/null) $(sed 's/^.*) //' "$t/stat" 2>/dev/null | awk '{ print $8 }')"
		return 0
	done
	echo "0 0"
}

# Start a fresh mxgate with the certificate of key $1, its log in $2 (stopping the one running).
gate_up() {
	local k=$1 log=$2 i
	stop_pid "$GATE_PID"
	GATE_PID=
	rm -f "$OUT_SOCK" "$IN_SOCK"
	rm -rf "/var/run/dpdk/$GATE_PREFIX" 2>/dev/null
	{
		cat "$CONF"
		printf 'tls_cert_file = %s\ntls_key_file = %s\nstats_file = %s\ncontrol_socket = %s\n' \
			"$TMP/certs/$k.crt" "$TMP/certs/$k.key" "$TMP/stats.prom" "$TMP/ctl.sock"
		[ "$TICKETS" = 1 ] || printf 'tls_ticket_rotate_s = 0\n'
		# the log on stderr, kept in $log (as before the syslog target existed, so an
		# older binary compares; the service lcore shares CPU 0 with mxgen here, and
		# syslog(3) with no syslog daemon costs a failed connect per line)
		! grep -q log_target "$MXGATE" || printf 'log_target = stderr\n'
		[ -z "${BENCH_GATE_CONF:-}" ] || printf '%s\n' "$BENCH_GATE_CONF"
	} >"$TMP/gate.conf"
	# not under timeout(1): it would not pass SIGUSR1 on; cleanup stops mxgate
	"$MXGATE" "${GATE_EAL[@]}" -- -c "$TMP/gate.conf" >"$log" 2>&1 &
	GATE_PID=$!
	for i in $(seq $((START_TIMEOUT * 10))); do
		grep -q '^mxgate: ready' "$log" 2>/dev/null && [ -S "$OUT_SOCK" ] &&
			[ -S "$IN_SOCK" ] && break
		kill -0 "$GATE_PID" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q '^mxgate: ready' "$log" 2>/dev/null || ! [ -S "$IN_SOCK" ]; then
		cat "$log" >&2
		die "mxgate did not come up within $START_TIMEOUT s"
	fi
	}

# Run mxgen against a fresh mxgate; $1 = run name, $2 = key, $3 = concurrency, rest = mode
# and options. mxgate's counters are read once mxgen printed its summary, then mxgate
# stops before mxgen closes its ports (--hold-ports): a memif peer that disconnects
# while mxgate polls can crash mxgate's RX (DPDK 22.11 net_memif). Sets GEN_LINE.
run_gen() {
	local name=$1 k=$2 conc=$3 rc secs i
	shift 3
	secs=$((DUR + RUN_SLACK))
	[ -n "$SESSIONS" ] && secs=$((600 + RUN_SLACK))
	gate_up "$k" "$TMP/$name.gate.log"
	rm -rf "/var/run/dpdk/$GEN_PREFIX" 2>/dev/null
	gate_stats "$TMP/$name.before.prom" || msg "$name: no counters from mxgate before the run"
	RUN_NS0=$(worker_ns)
	RUN_CNT0=$(worker_counts)
	RUN_T0=$(date +%s%N)
	timeout -k 5 "$secs" "$MXGEN" "${GEN_EAL[@]}" -- "$@" --concurrency "$conc" "${GEN_NET[@]}" \
		--hold-ports 20 ${BENCH_GEN_EXTRA:-} >"$TMP/$name.out" 2>"$TMP/$name.err" &
	CLIENT_PID=$!
	# progress: mxgen's lines as they come
	tail -n +1 -f --pid="$CLIENT_PID" "$TMP/$name.err" 2>/dev/null |
		grep --line-buffered -v '^EAL:\|^TELEMETRY:\|mp action callback' | sed -u 's/^/  /' >&2 &
	TAIL_PID=$!
	# the summary (or mxgen's end); bounded by mxgen's own timeout. Builtins
	# only while mxgen's stdout is empty: a grep and a sleep 20 times a
	# second took 3.5 % of CPU 1 from mxgate's worker, in stalls of up to
	# 2 ms (perf's sched_switch on CPU 1 during a paced run)
	for i in $(seq $((secs * 20))); do
		[ -s "$TMP/$name.out" ] && grep -q '^mxgen smtp' "$TMP/$name.out" 2>/dev/null && break
		kill -0 "$CLIENT_PID" 2>/dev/null || break
		read -r -t 0.05 -u "$NEVER_FD" _ || :
	done
	RUN_NS1=$(worker_ns)
	RUN_CNT1=$(worker_counts)
	RUN_T1=$(date +%s%N)
	gate_stats "$TMP/$name.after.prom" || msg "$name: no counters from mxgate after the run"
	stop_pid "$GATE_PID"
	GATE_PID=
	wait "$CLIENT_PID"
	rc=$?
	CLIENT_PID=
	wait "$TAIL_PID" 2>/dev/null   # tail ends with mxgen
	TAIL_PID=
	[ $rc -eq 0 ] || msg "$name: mxgen exited with status $rc"
	grep -q '^mxgate: stopped' "$TMP/$name.gate.log" 2>/dev/null ||
		msg "$name: mxgate did not stop cleanly (see $TMP/$name.gate.log)"
	GEN_LINE=$(grep '^mxgen smtp' "$TMP/$name.out" | tail -n1)
	[ -n "$GEN_LINE" ] || msg "$name: mxgen printed no summary"
	return $rc
}

# Nonzero mxgate drop reasons and retransmissions between the counter files of run $1.
gate_losses() {
	awk 'FNR == NR { a[$1] = $2; next }
	     ($1 ~ /^mxgate_drops_total/ || $1 ~ /^mxgate_tcp_(retransmits|rto)_total/) && $2 - a[$1] > 0 {
		r = $1; sub(/^mxgate_/, "", r); sub(/_total/, "", r); sub(/\{lcore="[0-9]+"\}/, "", r)
		sub(/\{lcore="[0-9]+",reason="/, ":", r); sub(/"\}/, "", r)
		printf " gate_%s=%d", r, $2 - a[$1] }' "$TMP/$1.before.prom" "$TMP/$1.after.prom" 2>/dev/null
}

# Value of key $2 in line $1, or $3 when absent.
kvd() { local v; v=$(kv "$1" "$2"); echo "${v:-$3}"; }

# The run of one work at one concurrency; $1 = label (RESULT or SATURATION), $2 work, $3 conc.
LINES=()
ROWS=()
bench_one() {
	local label=$1 w=$2 conc=$3 name k bound busy hz sess us errs sps p50 p99 bad pct gsess share cus pkts gus
	k=$(work_key "$w")
	name=$w.c$conc
	if [ -n "$SESSIONS" ]; then
		bound=(--sessions "$SESSIONS")
	else
		bound=(--duration "$DUR")
	fi
	msg "$w: mxgen $(work_args "$w") --concurrency $conc ${bound[*]} --size $SIZE"
	# shellcheck disable=SC2046
	run_gen "$name" "$k" "$conc" $(work_args "$w") --size "$SIZE" "${bound[@]}"
	busy=$(pd "$name" mxgate_busy_cycles_total)
	pct=$(awk -v b="$busy" -v i="$(pd "$name" mxgate_idle_cycles_total)" \
		'BEGIN { printf "%.1f", (b + i) ? 100 * b / (b + i) : 0 }')
	hz=$(pn "$TMP/$name.after.prom" mxgate_tsc_hz)
	gsess=$(pd "$name" mxgate_smtp_sessions_total)
	sess=$(kvd "$GEN_LINE" sessions_total 0)
	# errors: failed sessions, and accepted messages that did not arrive exactly once
	bad=$(( $(kvd "$GEN_LINE" missing 0) + $(kvd "$GEN_LINE" duplicates 0) ))
	errs=$(( $(kvd "$GEN_LINE" errors 1) + bad ))
	us=$(awk -v b="$busy" -v hz="$hz" -v n="$sess" \
		'BEGIN { if (n > 0 && hz > 0) printf "%.1f", b / hz * 1e6 / n; else print "-" }')
	# the share of wall time the worker thread was on its CPU: below 100% another
	# process took CPU 1 for a while, and busy cycles also counted that time
	share=$(awk -v c=$((RUN_NS1 - RUN_NS0)) -v w=$((RUN_T1 - RUN_T0)) \
		'BEGIN { printf "%.1f", (w > 0) ? 100 * c / w : 0 }')
	cus=$(awk -v u="$us" -v s="$share" 'BEGIN { if (u == "-") print "-"; else printf "%.1f", u * s / 100 }')
	sps=$(kvd "$GEN_LINE" sessions_per_s -)
	p50=$(awk -v u="$(kvd "$GEN_LINE" p50_us 0)" 'BEGIN { printf "%.3f", u / 1000 }')
	p99=$(awk -v u="$(kvd "$GEN_LINE" p99_us 0)" 'BEGIN { printf "%.3f", u / 1000 }')
	if [ "$label" = RESULT ]; then
		LINES+=("RESULT system=mxgate path=memif work=$w sessions=$sess errors=$errs server_us_per_session=$us sessions_per_s=$sps p50_ms=$p50 p99_ms=$p99")
	else
		LINES+=("SATURATION system=mxgate path=memif work=$w concurrency=$conc sessions=$sess errors=$errs server_us_per_session=$us sessions_per_s=$sps p50_ms=$p50 p99_ms=$p99 worker_busy_pct=$pct")
	fi
	# mxgen's own busy cycles per session in its window (client and sink): when it is
	# near mxgate's figure, one mxgen core cannot saturate mxgate's worker
	gus=$(awk -v b="$(kvd "$GEN_LINE" busy_cycles 0)" -v hz="$(kvd "$GEN_LINE" tsc_hz 0)" \
		-v n="$(kvd "$GEN_LINE" sessions 0)" \
		'BEGIN { if (n > 0 && hz > 0) printf "%.1f", b / hz * 1e6 / n; else print "-" }')
	pkts=$(awk -v r="$(pd "$name" mxgate_rx_packets_total)" -v n="$sess" \
		'BEGIN { if (n > 0) printf "%.1f", r / n; else print "-" }')
	LINES+=("RAW work=$w concurrency=$conc worker_busy_pct=$pct worker_on_cpu_pct=$share us_per_session_on_cpu=$cus worker_cpu_us_per_session=$(awk -v c=$((RUN_NS1 - RUN_NS0)) -v n="$sess" 'BEGIN { if (n > 0) printf "%.1f", c / 1000 / n; else print "-" }') $(awk -v a="$RUN_CNT0" -v b="$RUN_CNT1" -v n="$sess" 'BEGIN { split(a, x, " "); split(b, y, " "); if (n > 0) printf "worker_writes_per_session=%.3f worker_minflt_per_session=%.3f", (y[1] - x[1]) / n, (y[2] - x[2]) / n; else printf "worker_writes_per_session=- worker_minflt_per_session=-" }') mxgate_tx_pkts_per_session=$(awk -v r="$(pd "$name" mxgate_tx_packets_total)" -v n="$sess" 'BEGIN { if (n > 0) printf "%.1f", r / n; else print "-" }') mxgen_us_per_session=$gus mxgate_sessions=$gsess mxgate_rx_pkts_per_session=$pkts$(gate_losses "$name") $GEN_LINE")
	ROWS+=("$(printf '%-11s %-24s %6s %9s %7s %10s %10s %9s %9s %6s %6s %10s %9s' "$label" "$w" \
		"$conc" "$sess" "$errs" "$us" "$sps" "$p50" "$p99" "$pct" "$share" "$cus" "$gus")")
	msg "$w: sessions=$sess errors=$errs server_us_per_session=$us sessions/s=$sps worker busy ${pct}%"
}

# p99 handshake latency at LAT_PCT% of capacity, for work $1: first the
# capacity (closed loop, SAT_CONC in flight, sessions/s), then an open-loop
# run at LAT_PCT% of it (mxgen --rate, at most SAT_CONC in flight). Adds a
# LATENCY line: capacity, rate asked and achieved, missed starts, latency
# from connect to the end of TLS (p50/p90/p99/p99.9) and to the final 250
# (p99), the handshake alone on each side's clock (hs_*: mxgen's,
# ClientHello sent to handshake done; gate_hs_*_le: the upper bound of the
# bucket of mxgate_smtp_tls_handshake_seconds, ClientHello's first bytes
# to the Finished read, that holds the quantile), the worker's busy share,
# and the RSA key door's lanes per IFMA run and operations per batch
# (mxgate_tls_key_* counters) in the paced run.
LATS=()
latency_one() {
	local w=$1 k cap rate name line errs lanes ops
	k=$(work_key "$w")
	if [ -n "$LAT_RATE" ]; then
		cap=- rate=$LAT_RATE
	else
		msg "$w: capacity: closed loop, $SAT_CONC in flight, $DUR s"
		# shellcheck disable=SC2046
		run_gen "$w.cap" "$k" "$SAT_CONC" $(work_args "$w") --size "$SIZE" --duration "$DUR"
		cap=$(kvd "$GEN_LINE" sessions_per_s 0)
	fi
	if [ -z "$LAT_RATE" ] && ! rate=$(lat_rate "$cap" "$LAT_PCT"); then
		msg "$w: capacity $cap sessions/s: no paced run"
		LATS+=("LATENCY system=mxgate path=memif work=$w capacity_per_s=$cap rate=- note=no_capacity")
		return
	fi
	msg "$w: open loop at $rate sessions/s ($LAT_PCT% of a capacity of $cap, or BENCH_LATENCY_RATE), at most $SAT_CONC in flight, $DUR s"
	name=$w.lat
	# shellcheck disable=SC2046
	run_gen "$name" "$k" "$SAT_CONC" $(work_args "$w") --size "$SIZE" --duration "$DUR" --rate "$rate"
	line=$GEN_LINE
	errs=$(( $(kvd "$line" errors 1) + $(kvd "$line" missing 0) + $(kvd "$line" duplicates 0) ))
	lanes=$(awk -v l="$(pd "$name" mxgate_tls_key_ifma_lanes_total)" -v r="$(pd "$name" mxgate_tls_key_ifma_runs_total)" \
		'BEGIN { if (r > 0) printf "%.2f", l / r; else print "-" }')
	ops=$(awk -v o="$(pd "$name" mxgate_tls_key_batch_ops_total)" -v b="$(pd "$name" mxgate_tls_key_batches_total)" \
		'BEGIN { if (b > 0) printf "%.2f", o / b; else print "-" }')
	# lanes per X25519 IFMA run (ladder runs of shared secrets, fixed-base runs of key pairs)
	xlanes=$(awk -v l="$(pd "$name" mxgate_tls_key_x25519_lanes_total)" -v r="$(pd "$name" mxgate_tls_key_x25519_runs_total)" \
		'BEGIN { if (r > 0) printf "%.2f", l / r; else print "-" }')
	LATS+=("LATENCY system=mxgate path=memif work=$w capacity_per_s=$cap pct=$LAT_PCT rate=$rate achieved_per_s=$(kvd "$line" achieved_rate -) missed=$(kvd "$line" missed -) sessions=$(kvd "$line" sessions 0) errors=$errs $(ms_words "$line") worker_busy_pct=$(awk -v b="$(pd "$name" mxgate_busy_cycles_total)" -v i="$(pd "$name" mxgate_idle_cycles_total)" 'BEGIN { printf "%.1f", (b + i) ? 100 * b / (b + i) : 0 }') worker_oncpu_pct=$(awk -v c=$((RUN_NS1 - RUN_NS0)) -v w=$((RUN_T1 - RUN_T0)) 'BEGIN { printf "%.1f", (w > 0) ? 100 * c / w : 0 }') mxgen_start_lag_p99_ms=$(awk -v u="$(kvd "$line" start_lag_p99_us 0)" 'BEGIN { printf "%.2f", u / 1000 }') rsa_lanes_per_run=$lanes key_ops_per_batch=$ops x25519_lanes_per_run=$xlanes gate_hs_p50_le_ms=$(hist_q "$name" mxgate_smtp_tls_handshake_seconds 0.5) gate_hs_p99_le_ms=$(hist_q "$name" mxgate_smtp_tls_handshake_seconds 0.99) gate_round_p99_le_ms=$(hist_q "$name" mxgate_worker_busy_round_seconds 0.99) gate_round_max_le_ms=$(hist_q "$name" mxgate_worker_busy_round_seconds 1) ifma_runs=$(pd "$name" mxgate_tls_key_ifma_runs_total) scalar_ops=$(pd "$name" mxgate_tls_key_ops_total 'engine="scalar"')")
	msg "$w: ${LATS[-1]#LATENCY system=mxgate path=memif }"
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
msg "runs: ${WORKS}$([ "$SATURATE" = 1 ] && printf '; saturation: %s at %s, plain at 1' "$SAT_WORKS" "$SAT_CONC") ($( [ -n "$SESSIONS" ] && echo "$SESSIONS sessions" || echo "${DUR} s") each)"
# one mxgate per key: the runs of the ECDSA certificate first
for k in ecdsa rsa; do
	for w in $WORKS; do
		[ "$(work_key "$w")" = "$k" ] && bench_one RESULT "$w" "$CONC"
	done
	if [ "$SATURATE" = 1 ]; then
		for w in $SAT_WORKS; do
			[ "$(work_key "$w")" = "$k" ] && bench_one SATURATION "$w" "$SAT_CONC"
		done
		[ "$k" = ecdsa ] && bench_one SATURATION plain 1
	fi
	for w in $LAT_WORKS; do
		[ "$(work_key "$w")" = "$k" ] && latency_one "$w"
	done
done
stop_pid "$GATE_PID"
GATE_PID=

printf '\nSMTP over net_memif: mxgate (1 worker alone on CPU %s) between mxgen client and mxgen sink (one process, CPU %s)\n' \
	"$GATE_CPU" "$GEN_CPU"
printf '%s per run, %s sessions in flight (saturation: %s), %s-byte messages, TLS 1.3, full handshakes, tickets %s\n\n' \
	"$( [ -n "$SESSIONS" ] && echo "$SESSIONS sessions" || echo "$DUR s")" "$CONC" "$SAT_CONC" "$SIZE" \
	"$( [ "$TICKETS" = 1 ] && echo on || echo off)"
printf '%-11s %-24s %6s %9s %7s %10s %10s %9s %9s %6s %6s %10s %9s\n' kind work conc sessions errors \
	us/session sessions/s p50_ms p99_ms busy% oncpu% us/s*oncpu mxgen_us
for r in "${ROWS[@]}"; do
	printf '%s\n' "$r"
done
printf '\nus/session: mxgate worker busy cycles / sessions; it overcounts at low load (see the header of\n'
printf 'tests/bench/smtp_memif.sh). oncpu%%: the share of the run the worker thread was on CPU %s\n' "$GATE_CPU"
printf '(schedstat); below 100%% other processes took the CPU and busy cycles include that time;\n'
printf 'us/s*oncpu corrects for it, assuming preemption hit busy and idle polls alike.\n'
printf 'mxgen_us: mxgen'"'"'s own busy us per session (client and sink, CPU %s): near us/session,\n' "$GEN_CPU"
printf 'one mxgen core cannot saturate mxgate'"'"'s worker with that work.\n'
printf 'load average at the start: %s; at the end: %s\n\n' "$LOAD0" "$(cut -d' ' -f1-3 /proc/loadavg)"
if [ ${#LATS[@]} -gt 0 ]; then
	printf 'Handshake latency at %s%% of capacity (capacity: closed loop, %s in flight; then mxgen --rate,\n' "$LAT_PCT" "$SAT_CONC"
	printf 'open loop, at most %s in flight; latency from connect to the end of TLS, and to the final 250):\n' "$SAT_CONC"
	printf '%-16s %10s %8s %8s %6s %8s %8s %8s %9s %12s %6s %10s %9s\n' work capacity/s rate achieved missed \
		tls_p50 tls_p90 tls_p99 tls_p99.9 final250_p99 busy% lanes/run ops/batch
	for l in "${LATS[@]}"; do
		printf '%-16s %10s %8s %8s %6s %8s %8s %8s %9s %12s %6s %10s %9s\n' "$(kv "$l" work)" \
			"$(kv "$l" capacity_per_s)" "$(kv "$l" rate)" "$(kv "$l" achieved_per_s)" "$(kv "$l" missed)" \
			"$(kv "$l" tls_p50_ms)" "$(kv "$l" tls_p90_ms)" "$(kv "$l" tls_p99_ms)" "$(kv "$l" tls_p999_ms)" \
			"$(kv "$l" final250_p99_ms)" "$(kv "$l" worker_busy_pct)" "$(kv "$l" rsa_lanes_per_run)" \
			"$(kv "$l" key_ops_per_batch)"
	done
	printf '(ms; lanes/run: lanes used per 8-lane RSA-2048 IFMA run, two an operation; ops/batch: private-key operations per\n'
	printf 'door batch, one poll round)\n\n'
fi
for l in "${LINES[@]}" "${LATS[@]}"; do
	printf '%s\n' "$l"
done
exit 0
