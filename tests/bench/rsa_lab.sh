#!/usr/bin/env bash
# rsa_lab.sh - RSA-2048 STARTTLS handshakes through the lab, the key door
# scalar against 8-lane IFMA, side by side in one run (make bench-rsa-lab):
# for each concurrency in BENCH_RSA_CONC and each mode (scalar: the
# environment variable MXGATE_RSA_IFMA_MIN_FILL=5 keeps every operation in
# BoringSSL; ifma: mxgate's default least fill), the lab (deploy/lab.sh,
# namespace $LAB_NS, one worker polling CPU 1, an RSA-2048 certificate) and
# build/mxgen smtp-handshake (kernel sockets, TLS 1.3, CPU 0) for
# BENCH_DURATION seconds. Printed per run: handshakes/s, the handshake's
# p50/p99 as the client saw it, the worker's busy microseconds per
# handshake, and from the key door's counters (control socket, mxctl
# stats): batches, operations per batch, IFMA runs, lanes per run, the
# fill histogram, scalar operations, failed checks.
#
# Environment: BENCH_DURATION (8 s per run), BENCH_RSA_CONC ("8 64"),
# LAB_NS (mx_rsalab; must not exist yet), BENCH_KEEP=1 keeps the temporary
# directory. Addresses: 198.18.0.0/24 inside the lab namespace only. Every
# step is bounded in time; a trap stops what this script started and takes
# the lab down.
set -u

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MXGATE=${MXGATE:-$REPO/build/mxgate}
MXGEN=${MXGEN:-$REPO/build/mxgen}
MXCTL=${MXCTL:-$REPO/build/mxctl}
DUR=${BENCH_DURATION:-8}
CONCS=${BENCH_RSA_CONC:-8 64}
KEEP=${BENCH_KEEP:-0}
GATE_IP=198.18.0.2
export LAB_NS=${LAB_NS:-mx_rsalab} LAB_CONTROL=0

msg() { printf 'bench-rsa-lab: %s\n' "$*" >&2; }
die() { msg "$*"; exit 1; }

case $DUR in ''|*[!0-9]*) die "BENCH_DURATION must be a positive integer" ;; esac
[ "$DUR" -ge 1 ] && [ "$DUR" -le 300 ] || die "BENCH_DURATION must be 1..300"
for c in $CONCS; do
	case $c in ''|*[!0-9]*) die "BENCH_RSA_CONC: positive integers" ;; esac
	[ "$c" -ge 1 ] && [ "$c" -le 1000 ] || die "BENCH_RSA_CONC: 1..1000"
done
[ "$(id -u)" = 0 ] || die "must run as root (the lab namespace)"
for b in "$MXGATE" "$MXGEN" "$MXCTL"; do
	[ -x "$b" ] || die "$b is missing: run 'make all'"
done
. "$REPO/tests/bench/lib.sh"   # stop_pid, bounded, kv, pn, keep_tmp, ns_exists, bench_lab_up, lab_down
ns_exists "$LAB_NS" &&
	die "namespace $LAB_NS exists already: choose another LAB_NS"

TMP=$(mktemp -d /tmp/mxbench-rsa.XXXXXX) || die "mktemp failed"
chmod 711 "$TMP"   # mxgate, once it dropped root, must reach its LAB_DIR below
export LAB_DIR=$TMP/lab LAB_CERTS=$TMP/labcerts MXGATE
export LAB_EAL_EXTRA="${LAB_EAL_EXTRA:-} --file-prefix mxbench-rsa-$LAB_NS"
LAB_IS_UP=
LAB_LOG=$TMP/lab.log
CLIENT_PID=

cleanup() {
	stop_pid "$CLIENT_PID"
	lab_down
	rm -rf "/var/run/dpdk/mxbench-rsa-$LAB_NS" 2>/dev/null
	keep_tmp "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Sum of a Prometheus counter over its lcore lines (0 when absent); a third
# argument k="v" keeps only that series of a labelled family.
psum() {
	awk -v k="$2" -v l="${3:-}" '$1 ~ "^"k"([{]|$)" && (l == "" || index($1, l)) { s += $2 }
		END { printf "%.0f\n", s }' "$1" 2>/dev/null
}
# Difference of a counter between $1.before and $1.after.
pds() { echo $(( $(psum "$TMP/$1.after" "$2" "${3:-}") - $(psum "$TMP/$1.before" "$2" "${3:-}") )); }

# The counters, from the control socket.
gate_stats() { timeout -k 2 10 "$MXCTL" -s "$LAB_DIR/ctl.sock" stats >"$1" 2>>"$TMP/lab.log" && [ -s "$1" ]; }

mkdir -p "$TMP/certs"
timeout 60 openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=mx.lab.example \
	-addext subjectAltName=DNS:mx.lab.example -keyout "$TMP/certs/rsa.key" \
	-out "$TMP/certs/rsa.crt" >/dev/null 2>&1 || die "openssl req could not make the certificate"
CONF="idle_sleep_us = 0
tls_cert_file = $TMP/certs/rsa.crt
tls_key_file = $TMP/certs/rsa.key
tls_ticket_rotate_s = 0"
GEN=(--server "$GATE_IP" --port 25 --tls-version 1.3 --cpu 0)

printf '%-6s %-7s %8s %9s %9s %9s %8s %8s %7s %7s %8s %8s %6s  %s\n' conc mode hs/s \
	hs_p50_ms hs_p99_ms busy_us/hs batches ops/bat runs lanes/r ifma_ops scalar vfail \
	"runs by ops 1..4"
for conc in $CONCS; do
	for mode in scalar ifma; do
		t=$mode.$conc
		if [ "$mode" = scalar ]; then export MXGATE_RSA_IFMA_MIN_FILL=5; else unset MXGATE_RSA_IFMA_MIN_FILL; fi
		msg "conc $conc, $mode: lab up, warm-up, ${DUR} s of handshakes"
		bench_lab_up "$CONF" ||
			{ tail -n 20 "$TMP/lab.log" >&2; die "the lab did not come up"; }
		bounded 60 "$TMP/$t.warm" "$TMP/$t.warm.err" ip netns exec "$LAB_NS" \
			"$MXGEN" smtp-handshake "${GEN[@]}" --concurrency 8 --count 100 --duration 20 ||
			msg "warm-up had errors"
		gate_stats "$TMP/$t.before" || msg "no counters before"
		bounded $((DUR + 40)) "$TMP/$t.out" "$TMP/$t.err" ip netns exec "$LAB_NS" \
			"$MXGEN" smtp-handshake "${GEN[@]}" --concurrency "$conc" --duration "$DUR" ||
			msg "mxgen exited with an error (see below)"
		gate_stats "$TMP/$t.after" || msg "no counters after"
		lab_down
		unset MXGATE_RSA_IFMA_MIN_FILL
		sum=$(grep '^mxgen smtp-handshake' "$TMP/$t.out" | tail -n1)
		[ -n "$sum" ] || { sed 's/^/  /' "$TMP/$t.err" >&2; msg "no summary from mxgen"; continue; }
		hz=$(pn "$TMP/$t.after" mxgate_tsc_hz)
		hs=$(pds "$t" mxgate_smtp_tls_handshakes_total)
		busy=$(pds "$t" mxgate_busy_cycles_total)
		bat=$(pds "$t" mxgate_tls_key_batches_total)
		ops=$(pds "$t" mxgate_tls_key_batch_ops_total)
		runs=$(pds "$t" mxgate_tls_key_ifma_runs_total)
		lanes=$(pds "$t" mxgate_tls_key_ifma_lanes_total)
		fills=
		for f in 1 2 3 4; do fills="$fills $(pds "$t" mxgate_tls_key_ifma_fill_total "ops=\"$f\"")"; done
		printf '%-6s %-7s %8.0f %9.2f %9.2f %9.1f %8d %8.2f %7d %7.2f %8d %8d %6d  %s\n' \
			"$conc" "$mode" "$(kv "$sum" handshakes_per_s)" \
			"$(awk -v v="$(kv "$sum" hs_p50_us)" 'BEGIN { print v / 1000 }')" \
			"$(awk -v v="$(kv "$sum" hs_p99_us)" 'BEGIN { print v / 1000 }')" \
			"$(awk -v b="$busy" -v h="$hs" -v z="$hz" 'BEGIN { print (h > 0 && z > 0) ? b / h / z * 1e6 : 0 }')" \
			"$bat" "$(awk -v o="$ops" -v b="$bat" 'BEGIN { print b ? o / b : 0 }')" "$runs" \
			"$(awk -v l="$lanes" -v r="$runs" 'BEGIN { print r ? l / r : 0 }')" \
			"$(pds "$t" mxgate_tls_key_ops_total 'engine="ifma"')" "$(pds "$t" mxgate_tls_key_ops_total 'engine="scalar"')" \
			"$(pds "$t" mxgate_tls_key_verify_failed_total)" "$fills"
	done
done
