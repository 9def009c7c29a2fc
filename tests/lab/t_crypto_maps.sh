#!/usr/bin/env bash
# t_crypto_maps.sh - the TLS library in the running mxgate is the BoringSSL
# that make deps rebuilt without OPENSSL_SMALL, and nothing else.
#
# DPDK is linked statically with only our drivers, so no plugin directory
# is loaded and OpenSSL's libcrypto.so.3 (which librte_crypto_openssl would
# drag in) never enters the process. The TLS libraries mapped are exactly
# libcrypto.so.0 and libssl.so.0 of the rebuild's cache directory
# (deploy/boringssl.sh dir), the very files there (same inode), and not
# Debian's copies in /usr/lib/x86_64-linux-gnu/android. The libcrypto
# object mapped in the process (read through /proc/PID/map_files, so what
# is checked is what runs) is a normal build: it holds the nistz256 P-256
# table that OPENSSL_SMALL removes (deploy/bssl_build_kind.py), and the
# same check says "small" of Debian's own libcrypto, so it tells the two
# apart. SMTP over TLS works with it (the handshake below proves the mapped
# library is the one in use).
. "$(dirname "$0")/lib.sh"
lab_begin
BDIR=$(bash "$LAB_REPO/deploy/boringssl.sh" dir) || fail "deploy/boringssl.sh dir failed"
BLIB=$BDIR/lib
STOCK=$(bash "$LAB_REPO/deploy/boringssl.sh" stock)
KIND="$LAB_PY $LAB_REPO/deploy/bssl_build_kind.py"
[ -f "$BLIB/libcrypto.so.0" ] && [ -f "$BLIB/libssl.so.0" ] || fail "no rebuilt BoringSSL in $BLIB (make deps)"

lab_up || fail "lab did not come up"
expect_echo 10000
out=$(lab_exec timeout 20 swaks --server 198.18.0.2 --port 25 --tls --helo client.example \
	--from a@client.example --to b@lab.example --body crypto-maps 2>&1)
echo "$out" | grep -q '^<~  250 2.0.0' || fail "STARTTLS session did not deliver: $(echo "$out" | tail -5)"
ok "a STARTTLS session delivered"
pid=$(lab_pid)
[ -r "/proc/$pid/maps" ] || fail "cannot read /proc/$pid/maps"
maps=$(cat "/proc/$pid/maps")
m=$(echo "$maps" | grep -iE 'libcrypto|libssl' | awk '{print $NF}' | sort -u)
echo "TLS libraries mapped: ${m//$'\n'/ }"
bad=$(echo "$m" | awk -v a="$BLIB/libcrypto.so.0" -v b="$BLIB/libssl.so.0" '$0 != a && $0 != b')
[ -z "$bad" ] || fail "mxgate (pid $pid) maps a TLS library that is not the rebuilt BoringSSL: ${bad//$'\n'/ }"
echo "$maps" | grep -q 'librte_' && fail "a shared librte_ library is mapped (DPDK must be static)"
ok "only the rebuilt BoringSSL ($BLIB) is mapped; no libcrypto.so.3, no Debian copy, no shared librte_"

for lib in libcrypto.so.0 libssl.so.0; do
	ino=$(stat -c %i "$BLIB/$lib")
	line=$(echo "$maps" | awk -v p="$BLIB/$lib" '$6 == p' | head -1)
	[ -n "$line" ] || fail "$BLIB/$lib is not mapped"
	mino=$(echo "$line" | awk '{print $5}')
	[ "$mino" = "$ino" ] || fail "$lib mapped with inode $mino, the cache file has $ino (replaced after start?)"
done
ok "libcrypto.so.0 and libssl.so.0 mapped are the cache's files (inodes match)"

range=$(echo "$maps" | awk -v p="$BLIB/libcrypto.so.0" '$6 == p {print $1; exit}')
r=$($KIND --expect full "/proc/$pid/map_files/$range") ||
	fail "the libcrypto mapped in mxgate is not a normal build: $r"
echo "  mapped: $r"
ok "the mapped libcrypto holds the nistz256 P-256 table (built without OPENSSL_SMALL)"
r=$($KIND --expect small "$STOCK/libcrypto.so.0") ||
	fail "the check does not find Debian's libcrypto SMALL, so it tells nothing apart: $r"
echo "  control: $r"
ok "the same check calls Debian's own libcrypto an OPENSSL_SMALL build"

# the binaries of make all: mxgate and the three tools
for bin in "$MXGATE" "$LAB_REPO/build/mxgen" "$LAB_REPO/build/mxgate-control" "$LAB_REPO/build/mxctl"; do
	[ -x "$bin" ] || fail "$bin is missing (make all)"
	out=$(ldd "$bin" 2>&1) || fail "ldd $bin failed: $out"
	r=$(echo "$out" | grep -E 'librte_|libcrypto\.so\.3|libssl\.so\.3')
	[ -z "$r" ] || fail "ldd $bin shows: ${r//$'\n'/ }"
	to=$(echo "$out" | awk '$1 == "libcrypto.so.0" {print $3}')
	[ "$to" = "$BLIB/libcrypto.so.0" ] || fail "ldd $bin: libcrypto.so.0 resolves to '$to', not to $BLIB"
	to=$(echo "$out" | awk '$1 == "libssl.so.0" {print $3}')
	[ -z "$to" ] || [ "$to" = "$BLIB/libssl.so.0" ] || fail "ldd $bin: libssl.so.0 resolves to '$to', not to $BLIB"
done
ok "ldd: mxgate, mxgen, mxgate-control, mxctl resolve BoringSSL to the rebuild; no librte_, no OpenSSL"
pass
