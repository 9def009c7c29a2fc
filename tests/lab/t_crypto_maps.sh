#!/usr/bin/env bash
# t_crypto_maps.sh - mxgate carries its own TLS library (BoringSSL, static)
# and DPDK statically: the running process maps no libcrypto (OpenSSL's
# libcrypto.so.3 or any other) and ldd shows no librte_ shared library.
. "$(dirname "$0")/lib.sh"
lab_begin
lab_up || fail "lab did not come up"
expect_echo 10000
pid=$(lab_pid)
[ -r "/proc/$pid/maps" ] || fail "cannot read /proc/$pid/maps"
m=$(grep -iE 'libcrypto|libssl' "/proc/$pid/maps" | awk '{print $NF}' | sort -u)
[ -z "$m" ] || fail "mxgate (pid $pid) maps: ${m//$'\n'/ }"
ok "no libcrypto/libssl in /proc/$pid/maps"
if out=$(ldd "$MXGATE" 2>&1); then
	r=$(echo "$out" | grep -E 'librte_|libcrypto')
	[ -z "$r" ] || fail "ldd $MXGATE shows: ${r//$'\n'/ }"
	ok "ldd: no librte_ or libcrypto shared libraries"
else
	ok "ldd: $MXGATE is not a dynamic executable (${out##*:})"
fi
pass
