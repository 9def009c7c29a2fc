#!/usr/bin/env bash
# t_mxgen_paced.sh - mxgen's open-loop mode (--rate, tools/mxgen/smtp_client.h)
# paces, on both of its paths:
#   memif   mxgen's own stack: client and sink around mxgate on net_memif
#           (tests/bench/smtp_memif.sh, 150 STARTTLS sessions with a message);
#   kernel  mxgen's kernel-socket client in the lab namespace against mxgate
#           on its tap, smtp-sink behind it (150 STARTTLS sessions).
# At 50 sessions/s for 3 s. The in-flight bound is the session count, so no
# start can be missed however slow the server or the shared CPUs are: the
# test says nothing about speed. Checks, per path: no error, no session
# missed; every scheduled session was started (paced_started = 150); the
# achieved start rate is within a loose band of the target (40..60/s: a
# closed loop runs far faster, so an unpaced client fails this); the
# latency histograms hold exactly one
# sample per session completed in the window (lat_tls_n = lat_250_n =
# sessions = 150) and their quantiles are ordered. Nothing about mxgate's
# speed is asserted.
. "$(dirname "$0")/lib.sh"
lab_begin
MXGEN=${MXGEN:-$LAB_REPO/build/mxgen}
[ -x "$MXGEN" ] || fail "$MXGEN is missing (make)"
N=150
RATE=50
OUT=$(mktemp /tmp/mxgen_paced.XXXXXX) || fail "mktemp"
trap 'rm -f "$OUT"; lab_down >/dev/null 2>&1' EXIT

kv() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n1; }
check() {       # $1 path, $2 mxgen's summary line
	local p=$1 l=$2 before=$LAB_NFAIL v k
	[ -n "$l" ] || { soft_fail "$p: no summary line from mxgen"; return; }
	for k in errors missed; do
		v=$(kv "$l" $k)
		[ "$v" = 0 ] || soft_fail "$p: $k=${v:-absent}, expected 0"
	done
	for k in paced_started sessions lat_tls_n lat_250_n; do
		v=$(kv "$l" $k)
		[ "$v" = "$N" ] || soft_fail "$p: $k=${v:-absent}, expected $N"
	done
	v=$(kv "$l" rate)
	[ "$v" = "$RATE.0" ] || soft_fail "$p: rate=${v:-absent}, expected $RATE.0"
	v=$(kv "$l" achieved_rate)
	awk -v r="${v:-0}" 'BEGIN { exit !(r >= 40 && r <= 60) }' ||
		soft_fail "$p: achieved_rate=${v:-absent}, expected 40..60 (target $RATE/s)"
	for k in lat_tls lat_250; do
		awk -v a="$(kv "$l" ${k}_p50_us)" -v b="$(kv "$l" ${k}_p90_us)" \
			-v c="$(kv "$l" ${k}_p99_us)" -v d="$(kv "$l" ${k}_p999_us)" \
			'BEGIN { exit !(a > 0 && a <= b && b <= c && c <= d) }' ||
			soft_fail "$p: $k quantiles not ordered or empty"
	done
	[ "$LAB_NFAIL" -eq "$before" ] &&
		ok "$p: $N sessions at $(kv "$l" achieved_rate)/s (asked $RATE), none missed, p99 to TLS $(kv "$l" lat_tls_p99_us) us, to the 250 $(kv "$l" lat_250_p99_us) us"
}

# memif: the bench script, one work, --sessions N at --rate
BENCH_SESSIONS=$N BENCH_CONCURRENCY=$N BENCH_SATURATE=0 BENCH_WORKS=starttls-ecdsa \
	BENCH_GEN_EXTRA="--rate $RATE" timeout -k 10 150 "$LAB_REPO/tests/bench/smtp_memif.sh" >"$OUT" ||
	fail "tests/bench/smtp_memif.sh exited with status $?"
raw=$(grep '^RAW work=starttls-ecdsa ' "$OUT" | tail -n1)
check memif "mxgen smtp:${raw#*mxgen smtp:}"

# kernel: mxgen's socket client in the lab
lab_up || fail "lab did not come up"
timeout -k 5 60 "$LAB_SH" exec "$MXGEN" smtp --server 198.18.0.2 --port 25 --rate $RATE \
	--count $N --concurrency $N --size 512 --sni mx.lab.example >"$OUT" 2>"$OUT.err"
rc=$?
[ $rc -eq 0 ] || { tail -n 5 "$OUT.err"; soft_fail "kernel: mxgen exited with status $rc"; }
rm -f "$OUT.err"
check kernel "$(grep '^mxgen smtp:' "$OUT" | tail -n1)"
lab_end
