#!/usr/bin/env bash
# t_mxgen_memif.sh - the kernel-free measuring path end to end: mxgate
# between mxgen's SMTP client and mxgen's smtp-sink equivalent, both on
# net_memif (tests/bench/smtp_memif.sh with a fixed number of sessions).
# Every SMTP mode runs once, 60 sessions, 8 at a time: plain, plain
# handshake-only, STARTTLS (ECDSA and RSA), STARTTLS handshake-only,
# implicit TLS (465) and its handshake-only variant.
#
# Checks, per run: mxgen had no error; it completed every session;
# mxgate counted the same number of sessions; and for the runs with a
# message: every message mxgate accepted with 250 arrived at the sink
# exactly once (delivered_once = sessions, missing = duplicates = 0, no
# message without this run's Message-ID), and the sink saw exactly one
# XCLIENT per message (mxgate announces the client to a backend that
# offers it); on a CPU with IFMA, every TLS session's client shared secret
# went through mxgen's lanes (x25519_lanes >= sessions, at most 8 a run;
# the other lanes make key pairs for its pool). No namespace or tap: the memif sockets live in a temporary
# directory; the bench script cleans up after itself. Last, the check is
# shown to fail when it should: with mxgen --sink-forget 10 the sink
# leaves 3 of 30 arrivals uncounted, which must come out as 3 missing
# messages and errors=3 on the RESULT line.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
NAME=t_mxgen_memif
N=60
WORKS="plain handshake-plain starttls-ecdsa handshake-ecdsa implicit-ecdsa handshake-implicit-ecdsa starttls-rsa"

fail() { echo "FAIL: $NAME: $*"; exit 1; }
ok() { echo "ok: $*"; }
bad=0
soft_fail() { echo "not ok: $*"; bad=$((bad + 1)); }

[ "$(id -u)" = 0 ] || fail "must run as root (DPDK EAL runtime directory)"
for b in "$REPO/build/mxgate" "$REPO/build/mxgen"; do
	[ -x "$b" ] || fail "$b is missing (make)"
done
OUT=$(mktemp /tmp/memif_br-t.XXXXXX) || fail "mktemp"
trap 'rm -f "$OUT"' EXIT

BENCH_SESSIONS=$N BENCH_CONCURRENCY=8 BENCH_SIZE=2000 BENCH_SATURATE=0 \
	BENCH_WORKS="$WORKS" timeout -k 10 200 "$REPO/tests/bench/smtp_memif.sh" >"$OUT"
rc=$?
cat "$OUT"
[ $rc -eq 0 ] || fail "tests/bench/smtp_memif.sh exited with status $rc"

kv() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n1; }
# key $2 of line $1 must equal $3
want() {
	local v
	v=$(kv "$1" "$2")
	if [ "$v" = "$3" ]; then return 0; fi
	soft_fail "$(kv "$1" work): $2=${v:-absent}, expected $3"
	return 1
}

IFMA=0
grep -qw avx512ifma /proc/cpuinfo && IFMA=1
for w in $WORKS; do
	raw=$(grep "^RAW work=$w " "$OUT" | tail -n1)
	res=$(grep "^RESULT system=mxgate path=memif work=$w " "$OUT" | tail -n1)
	if [ -z "$raw" ] || [ -z "$res" ] || [ -z "$(kv "$raw" sessions_total)" ]; then
		soft_fail "$w: no result from mxgen"
		continue
	fi
	before=$bad
	want "$res" errors 0
	want "$raw" errors 0
	want "$raw" sessions_total "$N"
	want "$raw" started "$N"
	want "$raw" mxgate_sessions "$N"
	want "$raw" missing 0
	want "$raw" duplicates 0
	want "$raw" sink_noid 0
	want "$raw" sink_overflow 0
	case $w in
		handshake-*)
			want "$raw" messages_accepted 0
			want "$raw" sink_msgs 0 ;;
		*)
			want "$raw" messages_accepted "$N"
			want "$raw" delivered_once "$N"
			want "$raw" sink_msgs "$N"
			want "$raw" sink_xclient "$N" ;;
	esac
	case $w in
		*plain) want "$raw" tls_mode plain ;;
		implicit-*|handshake-implicit-*) want "$raw" tls_mode implicit; want "$raw" version TLSv1.3 ;;
		*) want "$raw" tls_mode starttls; want "$raw" version TLSv1.3 ;;
	esac
	# every session's client shared secret went through mxgen's lanes (the
	# rest of the lanes made key pairs for its pool), at most 8 lanes a run
	case $w in
		*plain) ;;
		*)
			if [ "$IFMA" = 1 ]; then
				xl=$(kv "$raw" x25519_lanes) xr=$(kv "$raw" x25519_runs)
				if [ -z "$xl" ] || [ -z "$xr" ] || [ "$xl" -lt "$N" ] || [ "$xl" -gt $((8 * xr)) ]; then
					soft_fail "$w: x25519_lanes=${xl:-absent} x25519_runs=${xr:-absent}, expected >= $N lanes, <= 8 a run"
				fi
			fi ;;
	esac
	[ $bad -eq "$before" ] && ok "$w: $N sessions, every accepted message delivered once, no errors"
done
# The check itself must be able to fail: a sink that leaves every 10th
# arrival uncounted (mxgen --sink-forget 10) must show 3 of 30 missing.
BENCH_SESSIONS=30 BENCH_CONCURRENCY=4 BENCH_SATURATE=0 BENCH_WORKS=plain \
	BENCH_GEN_EXTRA="--sink-forget 10" timeout -k 10 100 "$REPO/tests/bench/smtp_memif.sh" >"$OUT"
rc=$?
[ $rc -eq 0 ] || fail "tests/bench/smtp_memif.sh (--sink-forget) exited with status $rc"
raw=$(grep "^RAW work=plain " "$OUT" | tail -n1)
res=$(grep "^RESULT system=mxgate path=memif work=plain " "$OUT" | tail -n1)
before=$bad
want "$raw" sink_forgotten 3
want "$raw" missing 3
want "$raw" delivered_once 27
want "$raw" messages_accepted 30
want "$res" errors 3
[ $bad -eq "$before" ] && ok "a sink that loses 3 of 30 messages is reported: missing=3, errors=3"
[ $bad -eq 0 ] || fail "$bad checks failed"
echo "PASS: $NAME"
