#!/usr/bin/env bash
# t_tls_abort_rsa.sh - clients that go away in the middle of RSA
# handshakes, against the key door's runs in steps (tls_abort.py, 5
# rounds of 24 implicit-TLS clients at once on the lab's RSA-2048
# certificate): a third reset right after their ClientHello (their
# signature waits for, or is in, a run), a third after the server's flight
# (their Finished never sent), the rest complete and get 220 and 221.
# Then: mxgate runs, no operation of the door failed, the RSA operations
# went through IFMA runs, no stack-bug drops, and a fresh openssl s_client
# still gets its banner.
. "$(dirname "$0")/lib.sh"
lab_begin
lab_up || fail "lab did not come up"

# the key door's counters, from the control socket's STATS (the service lcore's)
door() { awk -v m="$1" '$1 == m { print $2; f = 1 } END { exit !f }' "$LAB_DIR/ctl_stats.txt"; }
"$LAB_SH" ctl stats >"$LAB_DIR/ctl_stats.txt" || fail "mxctl stats"
f0=$(door mxgate_tls_key_failed_total) || fail "no key-door counters: $(head -3 "$LAB_DIR/ctl_stats.txt")"
out=$(lab_py tls_abort.py --rounds 5 --conns 24 2>&1)
rc=$?
echo "$out" | grep -E '^(ok|FAIL|client)' | sed 's/^/    /'
[ $rc -eq 0 ] || fail "tls_abort.py: $(echo "$out" | tail -3)"
expect_alive
"$LAB_SH" ctl stats >"$LAB_DIR/ctl_stats.txt" || fail "mxctl stats"
f1=$(door mxgate_tls_key_failed_total)
runs=$(door mxgate_tls_key_ifma_runs_total)
ops=$(door 'mxgate_tls_key_ops_total{engine="ifma"}')
[ "$f1" = "$f0" ] || fail "key-door operations failed: $f0 -> $f1"
ok "no key-door operation failed ($f1)"
if [ "$(lab_exec grep -c avx512ifma /proc/cpuinfo)" -gt 0 ]; then
	[ "$runs" -gt 0 ] && [ "$ops" -ge 80 ] || fail "IFMA runs $runs, operations $ops: expected the RSA signatures in lanes"
	ok "$ops RSA signatures in $runs IFMA runs"
fi
expect_no_bug_drops
out=$(lab_exec bash -c 'echo QUIT | timeout 10 openssl s_client -connect 198.18.0.2:465 -servername mx.lab.example -quiet' 2>&1)
echo "$out" | grep -q '^220 ' || fail "a fresh client on 465 got no banner: $(echo "$out" | tail -3)"
ok "a fresh openssl s_client on 465 gets its banner"
lab_end
