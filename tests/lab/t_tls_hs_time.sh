#!/usr/bin/env bash
# t_tls_hs_time.sh - mxgate_smtp_tls_handshake_seconds, the histogram of
# client handshake times, against clients that decide when their flights
# leave (tls_hs_time.py, Python's ssl over memory BIOs): a client that
# waits 1.5 s after the 220 to STARTTLS before its ClientHello has a fast
# handshake (the clock starts with the ClientHello, not the command); one
# that holds its Finished 1.2 s has a slow one (the clock stops when the
# Finished is read, not when the server's flight leaves). Then an
# openssl s_client on 465 (implicit TLS) is counted too: count = +Inf
# bucket = the TLS sessions counted, buckets never fall, and the sum
# holds the 1.2 s.
. "$(dirname "$0")/lib.sh"
lab_begin
lab_up || fail "lab did not come up"

# the histogram's series of the last snapshot: VALUE of le="LE" (or _sum/_count when LE is sum/count)
hs() {
	case $1 in
		sum|count) awk -v m="mxgate_smtp_tls_handshake_seconds_$1" '$1 ~ "^" m "\\{" { s += $2 } END { print s + 0 }' "$LAB_DIR/snap.prom" ;;
		*) awk -v le="le=\"$1\"" '/^mxgate_smtp_tls_handshake_seconds_bucket\{/ && index($1, le) { s += $2 } END { print s + 0 }' "$LAB_DIR/snap.prom" ;;
	esac
}

lab_snap || fail "no stats"
grep -q '^mxgate_smtp_tls_handshake_seconds' "$LAB_DIR/snap.prom" &&
	fail "a histogram before any handshake: $(grep -m2 tls_handshake_seconds "$LAB_DIR/snap.prom")"
ok "no histogram before the first handshake"

out=$(lab_py tls_hs_time.py --pause 1.5 2>&1) || fail "tls_hs_time.py: $(echo "$out" | tail -5)"
echo "$out" | grep -E '^(ok|slow)'
lab_snap || fail "no stats"
grep '^mxgate_smtp_tls_handshake_seconds' "$LAB_DIR/snap.prom" | sed 's/^/    /'
[ "$(hs count)" = 2 ] && [ "$(hs +Inf)" = 2 ] || fail "count $(hs count), +Inf $(hs +Inf); expected 2 handshakes"
[ "$(hs 0.5)" = 1 ] || fail "le=0.5: $(hs 0.5), expected 1 (the ClientHello 1.5 s after STARTTLS: a fast handshake)"
[ "$(hs 1)" = 1 ] && [ "$(hs 2.5)" = 2 ] ||
	fail "le=1: $(hs 1), le=2.5: $(hs 2.5); expected 1 and 2 (the Finished held 1.5 s)"
awk -v s="$(hs sum)" 'BEGIN { exit !(s >= 1.45 && s < 2.5) }' || fail "sum $(hs sum) s, expected 1.5 to 2.5"
ok "fast ClientHello-late handshake under 0.5 s, slow-Finished one in (1, 2.5] s, sum $(hs sum) s"

out=$(lab_exec bash -c 'echo QUIT | timeout 10 openssl s_client -connect 198.18.0.2:465 -servername mx.lab.example -quiet' 2>&1)
echo "$out" | grep -q '^220 ' || fail "s_client on 465: $(echo "$out" | tail -3)"
lab_snap || fail "no stats"
tls=$(lab_stat_cached smtp_tls_sessions) || fail "no TLS session counter"
[ "$(hs count)" = 3 ] && [ "$(hs +Inf)" = 3 ] && [ "$tls" = 3 ] ||
	fail "count $(hs count), +Inf $(hs +Inf), TLS sessions $tls; expected 3"
prev=0
while read -r v; do
	awk -v a="$prev" -v b="$v" 'BEGIN { exit !(b >= a) }' || fail "buckets fall: $prev then $v"
	prev=$v
done < <(awk '/^mxgate_smtp_tls_handshake_seconds_bucket\{/ { print $2 }' "$LAB_DIR/snap.prom")
n=$(grep -c '^mxgate_smtp_tls_handshake_seconds_bucket{' "$LAB_DIR/snap.prom")
[ "$n" = 15 ] || fail "$n buckets, expected 15 (14 bounds and +Inf)"
ok "implicit TLS counted: 3 handshakes = 3 TLS sessions, 15 buckets that never fall"
pass
