#!/usr/bin/env bash
# t_bad_config.sh - a bad configuration stops mxgate before it does
# anything: non-zero exit and a "FILE:LINE: key: why" message naming the
# right line. Runs the binary directly (a net_ring port, no namespace).
. "$(dirname "$0")/lib.sh"
lab_begin
prefix=mxbadcfg_$LAB_NS   # EAL's runtime directory, per lab namespace
trap 'rm -rf "/var/run/dpdk/$prefix"; lab_down >/dev/null 2>&1' EXIT
base=$LAB_REPO/deploy/lab.conf
N=$(($(wc -l <"$base") + 1))
# run mxgate on CONF; prints its output, returns its exit status
run_cfg() {
	timeout -k 5 20 "$MXGATE" --no-huge --no-pci --no-shconf --no-telemetry -m 64 -l 0 \
		--vdev net_ring0 '--log-level=*:error' --file-prefix "$prefix" -- -c "$1" 2>&1 </dev/null
}
check() {
	local what=$1 line=$2 key=$3 conf=$4 out rc
	out=$(run_cfg "$conf")
	rc=$?
	echo "$what: exit $rc: $(echo "$out" | grep -F "$key" | head -n 2)"
	[ $rc -ne 0 ] || fail "$what: mxgate exited 0"
	[ $rc -ne 124 ] && [ $rc -ne 137 ] || fail "$what: mxgate did not exit within 20 s"
	# "FILE:LINE: key: why": the file and line, then the key somewhere after
	echo "$out" | grep -F "$(basename "$conf"):$line:" | grep -qF "$key" ||
		fail "$what: no '$(basename "$conf"):$line: ... $key ...' message in: $(echo "$out" | tail -n 5)"
	ok "$what: names line $line and $key"
}
conf=$LAB_DIR/bad_key.conf
{ cat "$base"; echo "no_such_key = 1"; } >"$conf"
check "unknown key" "$N" no_such_key "$conf"
conf=$LAB_DIR/bad_value.conf
{ cat "$base"; echo "mbuf_pool_size = lots"; } >"$conf"
check "bad number" "$N" mbuf_pool_size "$conf"
out=$(run_cfg "$LAB_DIR/does-not-exist.conf")
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "missing config file: exit status $rc"
ok "missing config file: exit $rc"
pass
