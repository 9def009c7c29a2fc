#!/usr/bin/env bash
# memif_ab.sh - two mxgate binaries side by side on the same SMTP work
# over net_memif (tests/bench/smtp_memif.sh), run alternately in one script
# so that both see the same machine: the figure to read is the ratio.
#
#   tests/bench/memif_ab.sh OLD_MXGATE NEW_MXGATE [ROUNDS]
#
# Each round runs OLD then NEW (NEW then OLD on even rounds, so that neither
# always goes first), each a fresh mxgate for BENCH_DURATION (default 8) s of
# BENCH_AB_WORK sessions (plain by default; any work of smtp_memif.sh, e.g.
# handshake-ecdsa) at BENCH_CONCURRENCY (32) in flight, with one mxgen
# (MXGEN, default build/mxgen; give the same one for both sides; or
# MXGEN_OLD and MXGEN_NEW to compare two clients against the same mxgate,
# OLD_MXGATE = NEW_MXGATE: then sess/s, the pair's sessions per second, is
# the figure to read with busy_us). Also
# BENCH_AB_CONC1=1 (adds the same work at 1 in flight). mxgate runs with
# idle_sleep_us = BENCH_AB_SLEEP (20; the worker sleeps after 256 empty
# polls), so that its thread's time on CPU (schedstat) is its work plus
# a bounded polling overhead, whatever else runs on the machine: cpu_us is
# that time per session, the main figure here. busy_us is the worker's
# busy cycles per session (server_us_per_session of smtp_memif.sh: it
# counts the time another process took CPU 1 inside a busy poll round).
# Per run it also prints the counts per session that no other process
# changes: frames mxgate received and sent, the worker's write system calls
# and minor page faults. At the
# end: the medians of each side, and the median of the rounds' paired
# ratios NEW / OLD (robust to a load that changes between rounds).
# Every step is bounded by smtp_memif.sh, which also cleans up.
set -u
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OLD=${1:?usage: memif_ab.sh OLD_MXGATE NEW_MXGATE [ROUNDS]}
NEW=${2:?usage: memif_ab.sh OLD_MXGATE NEW_MXGATE [ROUNDS]}
ROUNDS=${3:-5}
case $ROUNDS in ''|*[!0-9]*) echo "memif_ab: ROUNDS must be a number" >&2; exit 2 ;; esac
for b in "$OLD" "$NEW"; do [ -x "$b" ] || { echo "memif_ab: $b is not executable" >&2; exit 2; }; done
export BENCH_DURATION=${BENCH_DURATION:-8} BENCH_SATURATE=0 BENCH_WORKS=${BENCH_AB_WORK:-plain}
WORK=$BENCH_WORKS
case $WORK in ''|*' '*) echo "memif_ab: BENCH_AB_WORK is one work" >&2; exit 2 ;; esac
SLEEP=${BENCH_AB_SLEEP:-20}
[ "${BENCH_AB_PERF:-0}" = 1 ] && SLEEP=${BENCH_AB_SLEEP:-0}
export BENCH_GATE_CONF="idle_sleep_us = $SLEEP"
CONC=${BENCH_CONCURRENCY:-32}
TMP=$(mktemp -d /tmp/memif_ab.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

# BENCH_AB_PERF=1: perf record -e cpu-clock on mxgate's worker thread for the
# whole run; work_us is then the worker's sampled CPU time outside the poll
# loop's skeleton (the functions in SKELETON of mxgate itself and of the
# kernel, memif's RX and TX included: they are mostly empty polls here) per
# session. Every sample in a library (libcrypto, libssl, libc) is work,
# named or not: BoringSSL's assembly has no symbols. Samples count only time on
# CPU, so other processes do not inflate it; idle polls are left out, and
# so are the scheduler's own functions that a preempted thread's samples
# land in. With BENCH_AB_PERF=1 the worker polls without sleeping
# (BENCH_AB_SLEEP defaults to 0), as in production.
# BENCH_AB_KEEP=DIR keeps each run's perf data there.
SKELETON='^(eth_memif_rx|eth_memif_tx|worker_main|port_poll|port_xmit|net_steer_poll|ring_get|smtp_worker_poll|net_timers|tcp_timers|tcp_events_run|tcp_reap|net_flush|tx_flush|sess_reap|relay_pool_reap|auth_take|auth_poll|rte_rdtsc|rte_rcu_qsbr_quiescent|smtp_worker_sync|slog_bind|tcp_worker|tls_worker_pending|neigh_timers|\[unknown\]|finish_task_switch.*|_raw_spin_unlock_irq.*|exit_to_user_mode_loop|irqentry_exit_to_user_mode|__rseq_handle_notify_resume|schedule|__schedule|preempt_schedule.*|asm_sysvec_.*|sysvec_.*)$'
perf_worker() {    # $1: pid of the smtp_memif.sh run, $2: output file
	local i p t tid=
	for i in $(seq 600); do
		for p in $(pgrep -f "file-prefix memif_br-gate-$1 "); do
			for t in /proc/"$p"/task/*; do
				[ "$(cat "$t/comm" 2>/dev/null)" = rte-worker-1 ] && tid=${t##*/}
			done
		done
		[ -n "$tid" ] && break
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.05
	done
	[ -n "$tid" ] && exec timeout -k 5 300 perf record -q -e cpu-clock -t "$tid" -o "$2" >/dev/null 2>&1
}
work_us() {        # $1 perf data, $2 sessions
	[ -s "$1" ] || { echo -; return; }
	timeout 120 perf script -i "$1" -F period,ip,sym,dso 2>/dev/null | awk -v re="$SKELETON" -v n="$2" '
		NF >= 3 { s = (NF >= 4) ? $3 : "[unknown]"; if ($NF ~ /\/lib[a-z]+\.so/ || s !~ re) w += $1 }
		END { if (n > 0) printf "%.1f", w / 1000 / n; else print "-" }'
}

MXGEN_OLD=${MXGEN_OLD:-${MXGEN:-$REPO/build/mxgen}}
MXGEN_NEW=${MXGEN_NEW:-${MXGEN:-$REPO/build/mxgen}}
# one run: $1 label, $2 binary, $3 concurrency, $4 round, $5 mxgen; appends a line of the table to $TMP/res
one() {
	local raw bp pp wu=- sps
	BENCH_CONCURRENCY=$3 MXGATE=$2 MXGEN=$5 "$REPO/tests/bench/smtp_memif.sh" >"$TMP/out" 2>"$TMP/err" &
	bp=$!
	if [ "${BENCH_AB_PERF:-0}" = 1 ]; then
		rm -f "$TMP/perf.data"
		perf_worker "$bp" "$TMP/perf.data" &
		pp=$!
	fi
	wait "$bp"
	[ -n "${pp:-}" ] && wait "$pp"
	raw=$(grep "^RAW work=$WORK " "$TMP/out" | head -n1)
	bu=$(sed -n "s/^RESULT system=mxgate .* work=$WORK .*server_us_per_session=\([0-9.]*\).*/\1/p" "$TMP/out" | head -n1)
	sps=$(sed -n "s/^RESULT system=mxgate .* work=$WORK .*sessions_per_s=\([0-9.]*\).*/\1/p" "$TMP/out" | head -n1)
	[ -n "${pp:-}" ] && wu=$(work_us "$TMP/perf.data" "$(printf '%s\n' "$raw" | tr ' ' '\n' | sed -n 's/^sessions_total=//p' | head -n1)")
	[ -n "${pp:-}" ] && [ -n "${BENCH_AB_KEEP:-}" ] && cp "$TMP/perf.data" "$BENCH_AB_KEEP/$1.c$3.r$4.perf.data"
	if [ -z "$raw" ]; then
		echo "memif_ab: $1 run failed:" >&2
		tail -n 20 "$TMP/err" >&2
		return 1
	fi
	# the RAW line's own words first: mxgen's summary at its end reuses some names
	awk -v l="$1" -v c="$3" -v rd="$4" -v raw="$raw" -v wu="$wu" -v bu="${bu:--}" -v sps="${sps:--}" 'BEGIN {
		n = split(raw, w, " ")
		for (i = n; i >= 1; i--) { split(w[i], kv, "="); v[kv[1]] = kv[2] }
		printf "%s %s %s %s %s %s %s %s %s %s %s %s %s %s %s\n", l, c, rd, v["worker_cpu_us_per_session"],
			v["worker_on_cpu_pct"], v["mxgate_rx_pkts_per_session"],
			v["mxgate_tx_pkts_per_session"], v["worker_writes_per_session"], v["worker_minflt_per_session"],
			v["sessions_total"], v["errors"] + v["missing"] + v["duplicates"], v["worker_busy_pct"], wu, bu, sps }' | tee -a "$TMP/res"
}

CONCS="$CONC $([ "${BENCH_AB_CONC1:-0}" = 1 ] && echo 1)"
echo "work $WORK"
echo "side conc round cpu_us oncpu% rx/sess tx/sess writes/sess minflt/sess sessions errors busy% work_us busy_us sess/s"
for r in $(seq "$ROUNDS"); do
	for c in $CONCS; do
		if [ $((r % 2)) = 1 ]; then
			one old "$OLD" "$c" "$r" "$MXGEN_OLD"; one new "$NEW" "$c" "$r" "$MXGEN_NEW"
		else
			one new "$NEW" "$c" "$r" "$MXGEN_NEW"; one old "$OLD" "$c" "$r" "$MXGEN_OLD"
		fi
	done
done
echo
echo "per column: median old, median new, and the median of the rounds' new/old ratios (paired):"
med() { sort -g | awk '{ a[NR] = $1 } END { if (NR) print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; else print 0 }'; }
for c in $CONCS; do
	for col in 4:cpu_us 13:work_us 14:busy_us 15:sess/s 6:rx/sess 7:tx/sess 8:writes/sess 9:minflt/sess; do
		k=${col%%:*}
		# work_us is "-" without BENCH_AB_PERF=1: nothing to compare
		awk -v k="$k" '$1 == "old" || $1 == "new" { if ($k == "-") f = 1 } END { exit !f }' "$TMP/res" && continue
		o=$(awk -v c="$c" -v k="$k" '$1 == "old" && $2 == c { print $k }' "$TMP/res" | med)
		n=$(awk -v c="$c" -v k="$k" '$1 == "new" && $2 == c { print $k }' "$TMP/res" | med)
		p=$(awk -v c="$c" -v k="$k" '$2 == c { x[$3, $1] = $k; r[$3] = 1 }
			END { for (i in r) if (x[i, "old"] > 0 && x[i, "new"] > 0) print x[i, "new"] / x[i, "old"] }' "$TMP/res" | med)
		printf 'conc %-3s %-12s old %9.3f  new %9.3f  new/old (paired median) %.3f\n' "$c" "${col#*:}" "$o" "$n" "$p"
	done
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
