#!/usr/bin/env bash
# memif_ab.sh - two mxgate binaries side by side on the same plain SMTP work
# over net_memif (tests/bench/smtp_memif.sh), run alternately in one script
# so that both see the same machine: the figure to read is the ratio.
#
#   tests/bench/memif_ab.sh OLD_MXGATE NEW_MXGATE [ROUNDS]
#
# Each round runs OLD then NEW (NEW then OLD on even rounds, so that neither
# always goes first), each a fresh mxgate for BENCH_DURATION (default 8) s of
# plain sessions at BENCH_CONCURRENCY (32) in flight, with one mxgen
# (MXGEN, default build/mxgen; give the same one for both sides). Also
# BENCH_AB_CONC1=1 (adds plain at 1 in flight). mxgate runs with
# idle_sleep_us = BENCH_AB_SLEEP (20; the worker sleeps after 256 empty
# polls), so that its thread's time on CPU (schedstat) is its work plus
# a bounded polling overhead, whatever else runs on the machine: cpu_us is
# that time per session, the main figure here. Per run it also prints the
# counts per session that no other process changes: frames mxgate received
# and sent, the worker's write system calls and minor page faults. At the
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
export BENCH_DURATION=${BENCH_DURATION:-8} BENCH_SATURATE=0 BENCH_WORKS=plain
export BENCH_GATE_CONF="idle_sleep_us = ${BENCH_AB_SLEEP:-20}"
CONC=${BENCH_CONCURRENCY:-32}
TMP=$(mktemp -d /tmp/memif_ab.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

# one run: $1 label, $2 binary, $3 concurrency, $4 round; appends a line of the table to $TMP/res
one() {
	local raw
	BENCH_CONCURRENCY=$3 MXGATE=$2 "$REPO/tests/bench/smtp_memif.sh" >"$TMP/out" 2>"$TMP/err"
	raw=$(grep "^RAW work=plain" "$TMP/out" | head -n1)
	if [ -z "$raw" ]; then
		echo "memif_ab: $1 run failed:" >&2
		tail -n 20 "$TMP/err" >&2
		return 1
	fi
	# the RAW line's own words first: mxgen's summary at its end reuses some names
	awk -v l="$1" -v c="$3" -v rd="$4" -v raw="$raw" 'BEGIN {
		n = split(raw, w, " ")
		for (i = n; i >= 1; i--) { split(w[i], kv, "="); v[kv[1]] = kv[2] }
		printf "%s %s %s %s %s %s %s %s %s %s %s %s\n", l, c, rd, v["worker_cpu_us_per_session"],
			v["worker_on_cpu_pct"], v["mxgate_rx_pkts_per_session"],
			v["mxgate_tx_pkts_per_session"], v["worker_writes_per_session"], v["worker_minflt_per_session"],
			v["sessions_total"], v["errors"] + v["missing"] + v["duplicates"], v["worker_busy_pct"] }' | tee -a "$TMP/res"
}

CONCS="$CONC $([ "${BENCH_AB_CONC1:-0}" = 1 ] && echo 1)"
echo "side conc round cpu_us oncpu% rx/sess tx/sess writes/sess minflt/sess sessions errors busy%"
for r in $(seq "$ROUNDS"); do
	for c in $CONCS; do
		if [ $((r % 2)) = 1 ]; then
			one old "$OLD" "$c" "$r"; one new "$NEW" "$c" "$r"
		else
			one new "$NEW" "$c" "$r"; one old "$OLD" "$c" "$r"
		fi
	done
done
echo
echo "per column: median old, median new, and the median of the rounds' new/old ratios (paired):"
med() { sort -g | awk '{ a[NR] = $1 } END { if (NR) print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; else print 0 }'; }
for c in $CONCS; do
	for col in 4:cpu_us 6:rx/sess 7:tx/sess 8:writes/sess 9:minflt/sess; do
		k=${col%%:*}
		o=$(awk -v c="$c" -v k="$k" '$1 == "old" && $2 == c { print $k }' "$TMP/res" | med)
		n=$(awk -v c="$c" -v k="$k" '$1 == "new" && $2 == c { print $k }' "$TMP/res" | med)
		p=$(awk -v c="$c" -v k="$k" '$2 == c { x[$3, $1] = $k; r[$3] = 1 }
			END { for (i in r) if (x[i, "old"] > 0 && x[i, "new"] != "") print x[i, "new"] / x[i, "old"] }' "$TMP/res" | med)
		printf 'conc %-3s %-12s old %9.3f  new %9.3f  new/old (paired median) %.3f\n' "$c" "${col#*:}" "$o" "$n" "$p"
	done
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
