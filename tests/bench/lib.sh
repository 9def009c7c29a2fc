# shellcheck shell=bash
# lib.sh - what the benchmark scripts share (sourced by tests/bench/*.sh):
# processes, bounded commands, key=value and Prometheus look-ups, and the
# lab (deploy/lab.sh) up and down. A script that uses the lab sets LAB_LOG
# (where deploy/lab.sh's output goes) and LAB_IS_UP= before; one that uses
# bounded sets CLIENT_PID= (its cleanup stops it).

BENCH_LIB_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# True if pid is a live process (a zombie counts as dead).
alive() {
	local st
	[ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# Stop one process we started: TERM, wait up to 5 s, then KILL.
stop_pid() {
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 50; i++)); do alive "$pid" || break; sleep 0.1; done
	alive "$pid" && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# Run a command bounded by timeout ($1 s; stdout to $2, stderr to $3), in the
# background so that a signal to the script is handled at once; returns the
# command's status.
bounded() {
	local secs=$1 out=$2 err=$3 rc
	shift 3
	timeout -k 5 "$secs" "$@" >"$out" 2>"$err" &
	CLIENT_PID=$!
	wait "$CLIENT_PID"
	rc=$?
	CLIENT_PID=
	return $rc
}

# Value of key=value in a line of "k=v k=v" words.
kv() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n1; }

# Value of a Prometheus line in a counters file (first match, labels ignored).
# (a third argument k="v" picks that series of a labelled family)
prom() { awk -v k="$2" -v l="${3:-}" '$1 ~ "^"k"([{]|$)" && (l == "" || index($1, l)) { print $2; exit }' "$1" 2>/dev/null; }
# The same, 0 when absent (for arithmetic).
pn() { local v; v=$(prom "$1" "$2" "${3:-}"); echo "${v:-0}"; }

# Quantile $3 (0..1) of histogram $2 over the counts between $TMP/$1.before.prom
# and $TMP/$1.after.prom: the upper bound, in ms, of the first bucket that
# holds that share ("-": nothing counted; ">B": above the last bound B).
hist_q() {
	awk -v f="$2_bucket" -v q="$3" '
		function le(s) { sub(/.*le="/, "", s); sub(/".*/, "", s); return s }
		$1 ~ "^" f "[{]" { l = le($1); if (FILENAME == ARGV[1]) b[l] = $2; else { a[l] = $2; o[n++] = l } }
		END {
			t = a["+Inf"] - b["+Inf"]
			if (t <= 0) { print "-"; exit }
			for (i = 0; i < n; i++) {
				if (a[o[i]] - b[o[i]] < q * t) { prev = o[i]; continue }
				if (o[i] == "+Inf") printf ">%g\n", prev * 1000; else printf "%g\n", o[i] * 1000
				exit
			}
		}' "$TMP/$1.before.prom" "$TMP/$1.after.prom"
}

# mxgate (pid $1) writes its counters to its stats_file $2 on SIGUSR1: ask,
# wait up to 5 s, copy them to $3.
usr1_stats() {
	local i
	rm -f "$2"
	kill -USR1 "$1" 2>/dev/null || return 1
	for ((i = 0; i < 50; i++)); do
		[ -s "$2" ] && break
		sleep 0.1
	done
	[ -s "$2" ] && cp "$2" "$3"
}

# Difference of counter $2 between the counter files TMP/$1.before.prom and TMP/$1.after.prom.
pd() { echo $(( $(pn "$TMP/$1.after.prom" "$2" "${3:-}") - $(pn "$TMP/$1.before.prom" "$2" "${3:-}") )); }

# The script's temporary directory $1 at the end: kept with KEEP=1 (BENCH_KEEP), else removed.
keep_tmp() {
	if [ "${KEEP:-0}" = 1 ]; then
		msg "kept $1"
	else
		rm -rf "$1"
	fi
}

# Does network namespace $1 exist?
ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF -- "$1"; }

# The lab up (deploy/lab.sh, LAB_NS, LAB_DIR) with extra configuration lines $1
# (later lines win); its output goes to LAB_LOG. Returns lab.sh's status.
bench_lab_up() {
	LAB_IS_UP=1                   # from here on, lab_down takes it down (a no-op if absent)
	LAB_CONF_EXTRA=$1 timeout -k 5 60 "$BENCH_LIB_REPO/deploy/lab.sh" up >>"$LAB_LOG" 2>&1
}

# The lab down, if bench_lab_up brought it up.
lab_down() {
	[ -n "${LAB_IS_UP:-}" ] || return 0
	timeout -k 5 30 "$BENCH_LIB_REPO/deploy/lab.sh" down >>"$LAB_LOG" 2>&1
	LAB_IS_UP=
}

# LAT_PCT % ($2) of a capacity $1 in sessions/s, for mxgen --rate; fails below 1/s.
lat_rate() {
	awk -v c="${1:-0}" -v p="$2" 'BEGIN { r = c * p / 100; printf "%.1f\n", r; exit !(r >= 1) }'
}

# The latency words of an mxgen --rate summary line, in ms: connect to the
# end of TLS p50, p90, p99, p99.9; connect to the final 250, p99.
ms_words() {
	local q out=
	for q in p50 p90 p99 p999; do
		out="$out tls_${q}_ms=$(awk -v u="$(kv "$1" "lat_tls_${q}_us")" 'BEGIN { printf "%.2f", u / 1000 }')"
	done
	for q in p50 p99; do
		out="$out hs_${q}_ms=$(awk -v u="$(kv "$1" "hs_${q}_us")" 'BEGIN { printf "%.2f", u / 1000 }')"
	done
	echo "${out# } final250_p99_ms=$(awk -v u="$(kv "$1" lat_250_p99_us)" 'BEGIN { printf "%.2f", u / 1000 }')"
}
