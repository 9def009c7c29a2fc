#!/usr/bin/env bash
# tcp.sh - the TCP benchmark (make bench-tcp): mxgate's userspace stack
# against the Linux kernel, same traffic, same cores, in one run.
#
#   1. mxgate (echo service, deploy/bench-memif.conf) with one worker polling
#      on CPU 1, driven by mxgen on CPU 0 over DPDK net_memif (shared memory
#      between the two processes: no kernel network in the path);
#   2. the kernel: build/kbench server pinned to CPU 1, build/kbench crr/bulk
#      pinned to CPU 0, over 127.0.0.1;
#   3. a table with both sides and the ratios (connections/s, Gbit/s, and
#      per CPU-second).
#
# Tests: crr (connect, send SIZE bytes, read the echo, close client first;
# CONCURRENCY in flight) and bulk (BULK_CONNS streams, echo verified).
# Nothing is asserted: the numbers are printed as measured.
#
# Environment: BENCH_DURATION (10 s per test), BENCH_CONCURRENCY (64),
# BENCH_SIZE (64), BENCH_BULK_CONNS (4), BENCH_KEEP=1 keeps the temporary
# directory (logs, counters); MXGATE, MXGEN, KBENCH name other binaries
# than build/mxgate, build/mxgen, build/kbench. Addresses: 198.18.2.0/24 inside the memif
# link only, and 127.0.0.1. Every step is bounded in time; a trap stops
# what this script started and removes its temporary directory.
set -u

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MXGATE=${MXGATE:-$REPO/build/mxgate}
MXGEN=${MXGEN:-$REPO/build/mxgen}
KBENCH=${KBENCH:-$REPO/build/kbench}
CONF=$REPO/deploy/bench-memif.conf

DUR=${BENCH_DURATION:-10}
CONC=${BENCH_CONCURRENCY:-64}
SIZE=${BENCH_SIZE:-64}
BULK_CONNS=${BENCH_BULK_CONNS:-4}
KEEP=${BENCH_KEEP:-0}

GATE_IP=198.18.2.2
GEN_IP=198.18.2.1
ECHO_PORT=7
KPORT=7007
GATE_CPU=1
GEN_CPU=0
START_TIMEOUT=20                 # seconds for mxgate to come up
RUN_SLACK=30                     # beyond the duration, per client run

msg() { printf 'bench: %s\n' "$*" >&2; }
die() { msg "$*"; exit 1; }

for n in "$DUR" "$CONC" "$SIZE" "$BULK_CONNS"; do
	case $n in ''|*[!0-9]*) die "BENCH_* values must be positive integers" ;; esac
done
[ "$DUR" -ge 1 ] && [ "$DUR" -le 600 ] || die "BENCH_DURATION must be 1..600"
for b in "$MXGATE" "$MXGEN" "$KBENCH"; do
	[ -x "$b" ] || die "$b is missing: run 'make all build/kbench' (make bench-tcp does)"
done
[ -r "$CONF" ] || die "$CONF is missing"
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs (worker and generator on separate cores)"

TMP=$(mktemp -d /tmp/mxbench.XXXXXX) || die "mktemp failed"
chown mxgate "$TMP" || die "no user mxgate (make deps): mxgate drops root to it and writes its counters here"
SOCK=$TMP/memif.sock
GATE_PID=
KSRV_PID=
CLIENT_PID=

. "$REPO/tests/bench/lib.sh"   # stop_pid, bounded, kv, prom, keep_tmp, usr1_stats

cleanup() {
	stop_pid "$CLIENT_PID"
	CLIENT_PID=
	stop_pid "$GATE_PID"
	GATE_PID=
	stop_pid "$KSRV_PID"
	KSRV_PID=
	# the EAL runtime directories of our two file prefixes
	rm -rf /var/run/dpdk/mxbench-gate /var/run/dpdk/mxbench-gen 2>/dev/null
	keep_tmp "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Ask mxgate for its counters (SIGUSR1) and copy them to $1.
gate_stats() {
	usr1_stats "$GATE_PID" "$TMP/stats.prom" "$1"
}

# Nonzero drop reasons between two counter files, as "reason=N ...".
drop_delta() {
	awk 'FNR == NR { if ($1 ~ /^mxgate_drops_total/) a[$1] = $2; next }
	     $1 ~ /^mxgate_drops_total/ && $2 - a[$1] > 0 {
		r = $1; sub(/.*reason="/, "", r); sub(/".*/, "", r); printf " %s=%d", r, $2 - a[$1] }' "$1" "$2"
}

# ---- 1. mxgate over memif ----

cp "$CONF" "$TMP/gate.conf"
printf 'stats_file = %s\n' "$TMP/stats.prom" >> "$TMP/gate.conf"

EAL_COMMON=(--no-huge --no-pci -m 512 --no-shconf)
GATE_EAL=("${EAL_COMMON[@]}" --file-prefix mxbench-gate --lcores "0@$GEN_CPU,1@$GATE_CPU"
	--vdev "net_memif0,role=server,socket=$SOCK,socket-abstract=no,id=0,mac=02:00:c6:12:02:02")
GEN_EAL=("${EAL_COMMON[@]}" --file-prefix mxbench-gen --lcores "0@$GEN_CPU,1@$GEN_CPU"
	--vdev "net_memif0,role=client,socket=$SOCK,socket-abstract=no,id=0,mac=02:00:c6:12:02:01")
GEN_ARGS=(--dev net_memif0 --local "$GEN_IP/24" --remote "$GATE_IP" --port "$ECHO_PORT"
	--duration "$DUR")

msg "mxgate: worker on CPU $GATE_CPU, memif socket $SOCK"
"$MXGATE" "${GATE_EAL[@]}" -- -c "$TMP/gate.conf" > "$TMP/gate.log" 2>&1 &
GATE_PID=$!
for i in $(seq $((START_TIMEOUT * 10))); do
	grep -q '^mxgate: ready' "$TMP/gate.log" 2>/dev/null && [ -S "$SOCK" ] && break
	kill -0 "$GATE_PID" 2>/dev/null || break
	sleep 0.1
done
if ! grep -q '^mxgate: ready' "$TMP/gate.log" 2>/dev/null || ! [ -S "$SOCK" ]; then
	cat "$TMP/gate.log" >&2
	die "mxgate did not come up within $START_TIMEOUT s"
fi

# Run one mxgen test; $1 = name, rest = mode and options. Sets GEN_LINE.
run_gen() {
	local name=$1
	shift
	gate_stats "$TMP/$name.before.prom" || msg "$name: no counters from mxgate before the run"
	msg "mxgen $* (${DUR} s)"
	bounded $((DUR + RUN_SLACK)) "$TMP/$name.out" "$TMP/$name.err" \
		"$MXGEN" "${GEN_EAL[@]}" -- "$@" "${GEN_ARGS[@]}"
	local rc=$?
	grep -v '^EAL:\|^TELEMETRY:\|mp action callback' "$TMP/$name.err" | sed 's/^/  /' >&2
	[ $rc -eq 0 ] || msg "$name: mxgen exited with status $rc"
	gate_stats "$TMP/$name.after.prom" || msg "$name: no counters from mxgate after the run"
	GEN_LINE=$(grep '^mxgen ' "$TMP/$name.out" | tail -n1)
	[ -n "$GEN_LINE" ] || msg "$name: mxgen printed no summary"
}

# mxgate's busy CPU seconds and busy percentage between two counter files.
gate_busy() {
	local b0 b1 i0 i1 hz
	b0=$(prom "$1" mxgate_busy_cycles_total); b1=$(prom "$2" mxgate_busy_cycles_total)
	i0=$(prom "$1" mxgate_idle_cycles_total); i1=$(prom "$2" mxgate_idle_cycles_total)
	hz=$(prom "$2" mxgate_tsc_hz)
	[ -n "$b0" ] && [ -n "$b1" ] && [ -n "$hz" ] || { echo "- -"; return; }
	awk -v b="$((b1 - b0))" -v i="$((i1 - i0))" -v hz="$hz" \
		'BEGIN { printf "%.3f %.1f\n", b / hz, (b + i) ? 100 * b / (b + i) : 0 }'
}

GEN_LINE=
run_gen crr tcp-crr --concurrency "$CONC" --size "$SIZE"
G_CRR=$GEN_LINE
read -r G_CRR_CPU G_CRR_PCT <<< "$(gate_busy "$TMP/crr.before.prom" "$TMP/crr.after.prom")"
G_CRR_DROPS=$(drop_delta "$TMP/crr.before.prom" "$TMP/crr.after.prom" 2>/dev/null)
G_CRR_LEFT=$(prom "$TMP/crr.after.prom" mxgate_tcp_conns 2>/dev/null)

GEN_LINE=
run_gen bulk tcp-bulk --conns "$BULK_CONNS"
G_BULK=$GEN_LINE
read -r G_BULK_CPU G_BULK_PCT <<< "$(gate_busy "$TMP/bulk.before.prom" "$TMP/bulk.after.prom")"
G_BULK_DROPS=$(drop_delta "$TMP/bulk.before.prom" "$TMP/bulk.after.prom" 2>/dev/null)
G_BULK_LEFT=$(prom "$TMP/bulk.after.prom" mxgate_tcp_conns 2>/dev/null)

stop_pid "$GATE_PID"          # frees CPU 1 for the kernel server
GATE_PID=

# ---- 2. the kernel over loopback ----

# Run one kbench test against a fresh server; $1 = name, rest = client mode and options.
run_kernel() {
	local name=$1 i
	shift
	"$KBENCH" server --port "$KPORT" --cpu "$GATE_CPU" --duration $((DUR + RUN_SLACK)) \
		> "$TMP/k$name.srv" 2>&1 &
	KSRV_PID=$!
	sleep 0.3
	kill -0 "$KSRV_PID" 2>/dev/null || { cat "$TMP/k$name.srv" >&2; die "kbench server did not start"; }
	msg "kbench $* (${DUR} s)"
	bounded $((DUR + RUN_SLACK)) "$TMP/k$name.out" "$TMP/k$name.err" \
		"$KBENCH" "$@" --port "$KPORT" --cpu "$GEN_CPU" --duration "$DUR"
	local rc=$?
	sed 's/^/  /' "$TMP/k$name.err" >&2
	[ $rc -eq 0 ] || msg "$name: kbench exited with status $rc"
	stop_pid "$KSRV_PID"        # SIGTERM: it prints its line and exits
	KSRV_PID=
	sed 's/^/  /' "$TMP/k$name.srv" | grep -v '^  server: conns=' >&2
}

run_kernel crr crr --concurrency "$CONC" --size "$SIZE"
K_CRR=$(grep '^crr: ' "$TMP/kcrr.out" | tail -n1)
K_CRR_SRV=$(grep '^server: ' "$TMP/kcrr.srv" | tail -n1)
run_kernel bulk bulk --conns "$BULK_CONNS"
K_BULK=$(grep '^bulk: ' "$TMP/kbulk.out" | tail -n1)
K_BULK_SRV=$(grep '^server: ' "$TMP/kbulk.srv" | tail -n1)

# ---- 3. the table ----

# client CPU seconds of mxgen: busy cycles of its worker in the window
gen_cpu() {
	local b hz
	b=$(kv "$1" busy_cycles); hz=$(kv "$1" tsc_hz)
	[ -n "$b" ] && [ -n "$hz" ] && awk -v b="$b" -v hz="$hz" 'BEGIN { printf "%.3f", b / hz }' || echo -
}

awk -v dur="$DUR" -v conc="$CONC" -v size="$SIZE" -v bconns="$BULK_CONNS" \
    -v g_cps="$(kv "$G_CRR" conns_per_s)" -v k_cps="$(kv "$K_CRR" conns_per_s)" \
    -v g_conns="$(kv "$G_CRR" conns)" -v k_conns="$(kv "$K_CRR" conns)" \
    -v g_p50="$(kv "$G_CRR" p50_us)" -v k_p50="$(kv "$K_CRR" p50_us)" \
    -v g_p99="$(kv "$G_CRR" p99_us)" -v k_p99="$(kv "$K_CRR" p99_us)" \
    -v g_err="$(kv "$G_CRR" errors)" -v k_err="$(kv "$K_CRR" errors)" \
    -v g_srv="$G_CRR_CPU" -v g_srvpct="$G_CRR_PCT" -v k_srv="$(kv "$K_CRR_SRV" busy_cpu_s)" \
    -v g_cli="$(gen_cpu "$G_CRR")" -v k_cli="$(kv "$K_CRR" cpu_s)" \
    -v g_gbit="$(kv "$G_BULK" gbit_s)" -v k_gbit="$(kv "$K_BULK" gbit_s)" \
    -v g_berr="$(kv "$G_BULK" errors)" \
    -v g_bsrv="$G_BULK_CPU" -v g_bsrvpct="$G_BULK_PCT" -v k_bsrv="$(kv "$K_BULK_SRV" busy_cpu_s)" \
    -v g_bcli="$(gen_cpu "$G_BULK")" -v k_bcli="$(kv "$K_BULK" cpu_s)" '
function num(x) { return x != "" && x != "-" }
function ratio(a, b) { return (num(a) && num(b) && b + 0 > 0) ? sprintf("%.2fx", a / b) : "-" }
function per(a, b, f) { return (num(a) && num(b) && b + 0 > 0) ? sprintf(f, a / b) : "-" }
function show(x) { return num(x) ? x : "-" }
function row(label, g, k, r) { printf "%-34s %18s %18s %9s\n", label, g, k, r }
BEGIN {
	printf "\nTCP benchmark: %d s per test; crr: %d in flight, %d-byte request; bulk: %d streams\n",
		dur, conc, size, bconns
	printf "mxgate: 1 worker polling CPU 1, mxgen on CPU 0, net_memif; kernel: kbench server CPU 1, client CPU 0, 127.0.0.1\n\n"
	row("", "mxgate (memif)", "kernel (loopback)", "ratio")
	row("crr connections/s", show(g_cps), show(k_cps), ratio(g_cps, k_cps))
	row("crr completed (incl. drain)", show(g_conns), show(k_conns), "")
	row("crr latency p50 / p99 (us)", show(g_p50) " / " show(g_p99), show(k_p50) " / " show(k_p99), "")
	row("crr errors", show(g_err), show(k_err), "")
	row("crr server CPU-s (mxgate: busy)", show(g_srv), show(k_srv), "")
	row("crr client CPU-s (mxgen: busy)", show(g_cli), show(k_cli), "")
	gpc = per(g_conns, g_srv, "%.0f"); kpc = per(k_conns, k_srv, "%.0f")
	row("crr conns per server CPU-s", gpc, kpc, ratio(gpc, kpc))
	gus = per(g_srv * 1e6, g_conns, "%.2f"); kus = per(k_srv * 1e6, k_conns, "%.2f")
	row("crr server CPU-us per conn", gus, kus, "")
	gt = (num(g_srv) && num(g_cli)) ? g_srv + g_cli : ""; kt = (num(k_srv) && num(k_cli)) ? k_srv + k_cli : ""
	gpt = per(g_conns, gt, "%.0f"); kpt = per(k_conns, kt, "%.0f")
	row("crr conns per CPU-s (both sides)", gpt, kpt, ratio(gpt, kpt))
	row("bulk Gbit/s (echoed)", show(g_gbit), show(k_gbit), ratio(g_gbit, k_gbit))
	row("bulk errors", show(g_berr), "-", "")
	row("bulk server CPU-s (mxgate: busy)", show(g_bsrv), show(k_bsrv), "")
	row("bulk client CPU-s (mxgen: busy)", show(g_bcli), show(k_bcli), "")
	gb = per(g_gbit * dur, g_bsrv, "%.2f"); kb = per(k_gbit * dur, k_bsrv, "%.2f")
	row("bulk Gbit per server CPU-s", gb, kb, ratio(gb, kb))
	printf "\nmxgate worker busy: crr %s%%, bulk %s%% of its polls (the core itself is 100%% taken by polling)\n",
		show(g_srvpct), show(g_bsrvpct)
}'
printf 'mxgate after crr: tcp_conns=%s drops:%s\n' "${G_CRR_LEFT:--}" "${G_CRR_DROPS:- none}"
printf 'mxgate after bulk: tcp_conns=%s drops:%s\n' "${G_BULK_LEFT:--}" "${G_BULK_DROPS:- none}"
printf 'mxgen crr: left_conns=%s; bulk: left_conns=%s\n' "$(kv "$G_CRR" left_conns)" "$(kv "$G_BULK" left_conns)"
printf '\nraw lines:\n  %s\n  %s\n  %s\n  %s\n  %s\n  %s\n' "$G_CRR" "$G_BULK" "$K_CRR" "$K_CRR_SRV" "$K_BULK" "$K_BULK_SRV"
exit 0
