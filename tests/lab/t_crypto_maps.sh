#!/usr/bin/env bash
# t_crypto_maps.sh - DPDK is linked statically with only our drivers, so no
# plugin directory is loaded and OpenSSL's libcrypto.so.3 (which
# librte_crypto_openssl would drag in) never enters the process. The one
# TLS library mapped is BoringSSL from /usr/lib/x86_64-linux-gnu/android,
# and SMTP over TLS works with it (the handshake below proves the mapped
# library is the one in use).
. "$(dirname "$0")/lib.sh"
lab_begin
lab_up || fail "lab did not come up"
expect_echo 10000
out=$(lab_exec timeout 20 swaks --server 198.18.0.2 --port 25 --tls --helo client.example \
	--from a@client.example --to b@lab.example --body crypto-maps 2>&1)
echo "$out" | grep -q '^<~  250 2.0.0' || fail "STARTTLS session did not deliver: $(echo "$out" | tail -5)"
ok "a STARTTLS session delivered"
pid=$(lab_pid)
[ -r "/proc/$pid/maps" ] || fail "cannot read /proc/$pid/maps"
m=$(grep -iE 'libcrypto|libssl' "/proc/$pid/maps" | awk '{print $NF}' | sort -u)
echo "TLS libraries mapped: ${m//$'\n'/ }"
bad=$(echo "$m" | grep -vE '^/usr/lib/x86_64-linux-gnu/android/lib(crypto|ssl)\.so\.0$' | grep .)
[ -z "$bad" ] || fail "mxgate (pid $pid) maps a TLS library that is not BoringSSL: ${bad//$'\n'/ }"
echo "$m" | grep -q 'android/libcrypto.so.0' || fail "BoringSSL's libcrypto is not mapped"
grep -q 'librte_' "/proc/$pid/maps" && fail "a shared librte_ library is mapped (DPDK must be static)"
ok "only BoringSSL is mapped; no libcrypto.so.3, no shared librte_"
out=$(ldd "$MXGATE" 2>&1) || fail "ldd $MXGATE failed: $out"
r=$(echo "$out" | grep -E 'librte_|libcrypto\.so\.3|libssl\.so\.3')
[ -z "$r" ] || fail "ldd $MXGATE shows: ${r//$'\n'/ }"
ok "ldd: no librte_ and no OpenSSL shared library"
pass
