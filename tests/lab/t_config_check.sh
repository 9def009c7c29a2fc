#!/usr/bin/env bash
# t_config_check.sh - mxgate --check -c FILE validates a configuration
# without starting (no EAL, no root), like postfix check: exit 0 and
# "configuration FILE is valid", or exit 2 and "FILE:LINE: key: why"; it
# also loads the certificates and the access map. mxgate -n lists the keys
# the file sets, sorted, like postconf -n. A key set twice warns. No
# namespace: the binary runs directly, also as the unprivileged mxgate user.
. "$(dirname "$0")/lib.sh"
lab_begin
# a directory the mxgate user can read (LAB_DIR may sit below a private one)
tmp=$(mktemp -d /tmp/mx_config_check.XXXXXX) || fail "mktemp"
trap 'rm -rf "$tmp"; lab_down >/dev/null 2>&1' EXIT
chmod 755 "$tmp"
base=$LAB_REPO/deploy/lab.conf
N=$(($(wc -l <"$base") + 1))   # the line appended to a copy of base

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=mx.lab.example -keyout "$tmp/mx.key" -out "$tmp/mx.crt" >/dev/null 2>&1 ||
	fail "openssl could not make a certificate"
printf '# access map\nTo:lab.example\tRELAY\nFrom:spammer@bad.example\tREJECT\n' >"$tmp/access"
chmod 644 "$tmp"/*

# mxgate --check on CONF (as USER when given); sets out and rc
check_cfg() {
	local conf=$1 user=${2:-}
	if [ -n "$user" ]; then
		out=$(timeout -k 5 20 runuser -u "$user" -- "$MXGATE" --check -c "$conf" 2>&1 </dev/null)
	else
		out=$(timeout -k 5 20 "$MXGATE" --check -c "$conf" 2>&1 </dev/null)
	fi
	rc=$?
}
# a copy of base with LINE appended as line N
broken() { { cat "$base"; echo "$2"; } >"$tmp/$1.conf"; echo "$tmp/$1.conf"; }
# --check must fail with exit 2 and name FILE:LINE and KEY
expect_bad() {
	local what=$1 conf=$2 line=$3 key=$4
	check_cfg "$conf"
	[ "$rc" = 2 ] || fail "$what: exit $rc, not 2: $out"
	echo "$out" | grep -F "$conf:$line:" | grep -qF "$key" ||
		fail "$what: no '$conf:$line: ... $key' in: $out"
	echo "$out" | grep -q "is valid" && fail "$what: also says valid: $out"
	ok "$what: exit 2, names line $line and $key"
}

check_cfg "$base"
[ "$rc" = 0 ] || fail "lab.conf: exit $rc: $out"
[ "$out" = "configuration $base is valid" ] || fail "lab.conf: unexpected output: $out"
ok "lab.conf is valid"

# with certificates and an access map, also as the unprivileged mxgate user
good=$tmp/good.conf
{ cat "$base"; printf 'tls_cert_file = %s\ntls_key_file = %s\naccess_file = %s\n' \
	"$tmp/mx.crt" "$tmp/mx.key" "$tmp/access"; } >"$good"
chmod 644 "$good"
check_cfg "$good"
[ "$rc" = 0 ] && echo "$out" | grep -qxF "configuration $good is valid" || fail "good.conf: exit $rc: $out"
echo "$out" | grep -qF "access map $tmp/access: 2 entries" || fail "good.conf: access map not loaded: $out"
ok "certificate, key and access map load"
check_cfg "$good" mxgate
[ "$rc" = 0 ] && echo "$out" | grep -qxF "configuration $good is valid" ||
	fail "as mxgate: exit $rc: $out"
ok "--check runs as the unprivileged mxgate user (no EAL, no root)"

expect_bad "unknown key" "$(broken key 'no_such_key = 1')" "$N" no_such_key
expect_bad "bad number" "$(broken number 'mbuf_pool_size = lots')" "$N" mbuf_pool_size
# files named by the config: a missing certificate, a bad line in the access map
conf=$tmp/nocert.conf
{ cat "$base"; printf 'tls_cert_file = %s\ntls_key_file = %s\n' "$tmp/missing.crt" "$tmp/mx.key"; } >"$conf"
check_cfg "$conf"
[ "$rc" = 2 ] && echo "$out" | grep -qF "$tmp/missing.crt" || fail "missing certificate: exit $rc: $out"
ok "missing certificate: exit 2, names $tmp/missing.crt"
printf 'To:lab.example RELAY\nFrom:x@y.example BOGUS_ACTION\n' >"$tmp/badaccess"
check_cfg "$(broken access "access_file = $tmp/badaccess")"
[ "$rc" = 2 ] && echo "$out" | grep -F "$tmp/badaccess:2" | grep -q access_file ||
	fail "bad access map line: exit $rc: $out"
ok "bad access map line: exit 2, names $tmp/badaccess:2"
# a CA file or directory that is not there is named with the system's reason
tlsbroken() { { cat "$good"; echo "$2"; } >"$tmp/$1.conf"; echo "$tmp/$1.conf"; }
check_cfg "$(tlsbroken cafile "tls_ca_file = $tmp/no-ca.pem")"
[ "$rc" = 2 ] && echo "$out" | grep -qF "cannot read CA file $tmp/no-ca.pem: No such file or directory" ||
	fail "missing tls_ca_file: exit $rc: $out"
check_cfg "$(tlsbroken cadir "tls_ca_dir = $tmp/no-ca-dir")"
[ "$rc" = 2 ] && echo "$out" | grep -qF "cannot read CA directory $tmp/no-ca-dir: No such file or directory" ||
	fail "missing tls_ca_dir: exit $rc: $out"
check_cfg "$(tlsbroken cadirfile "tls_ca_dir = $tmp/mx.crt")"
[ "$rc" = 2 ] && echo "$out" | grep -qF "CA directory $tmp/mx.crt is not a directory" ||
	fail "tls_ca_dir naming a file: exit $rc: $out"
ok "missing tls_ca_file / tls_ca_dir, a file as tls_ca_dir: exit 2 with the reason"
check_cfg "$(tlsbroken nogroups "tls_groups =")"
[ "$rc" = 2 ] && echo "$out" | grep -qF "tls_groups is empty" || fail "empty tls_groups: exit $rc: $out"
ok "an empty tls_groups: exit 2, said so"
check_cfg "$(broken ciphers 'tls_ciphers = NO-SUCH-CIPHER')"
[ "$rc" = 2 ] && echo "$out" | grep -q "tls_ciphers" || fail "bad tls_ciphers: exit $rc: $out"
ok "bad tls_ciphers: exit 2"
check_cfg "$tmp/does-not-exist.conf"
[ "$rc" = 2 ] && echo "$out" | grep -qF "$tmp/does-not-exist.conf: cannot open" ||
	fail "missing file: exit $rc: $out"
ok "missing file: exit 2"

# -n: the keys the file sets, sorted; a default (not in the file) does not appear
out=$(timeout -k 5 20 runuser -u mxgate -- "$MXGATE" -n -c "$good" 2>&1 </dev/null)
rc=$?
[ "$rc" = 0 ] || fail "-n: exit $rc: $out"
echo "$out" | grep -qxF "access_file = $tmp/access" || fail "-n: access_file missing: $out"
echo "$out" | grep -qxF "mbuf_pool_size = 16383" || fail "-n: mbuf_pool_size missing: $out"
echo "$out" | grep -q "^smtpd_timeout_ms" && fail "-n: prints the default smtpd_timeout_ms: $out"
[ "$out" = "$(echo "$out" | LC_ALL=C sort)" ] || fail "-n: not sorted: $out"
[ "$(echo "$out" | wc -l)" = "$(grep -c '^[a-z]' "$good")" ] || fail "-n: not one line a key: $out"
ok "-n lists the $(echo "$out" | wc -l) keys set, sorted, no default"
{ cat "$good"; echo "redis_password = s3cret-Pa55"; } >"$tmp/withpw.conf"
out=$(timeout -k 5 20 "$MXGATE" -n -c "$tmp/withpw.conf" 2>&1 </dev/null)
echo "$out" | grep -q 's3cret-Pa55' && fail "-n shows redis_password: $out"
echo "$out" | grep -qx '# redis_password = (set; mxgate -n does not show it)' || fail "-n: no redis_password line: $out"
ok "-n does not show redis_password"
out=$(timeout -k 5 20 "$MXGATE" -n -c "$(broken nkey 'no_such_key = 1')" 2>&1 </dev/null)
rc=$?
[ "$rc" = 2 ] && echo "$out" | grep -q ":$N: unknown key" || fail "-n on a bad file: exit $rc: $out"
ok "-n on a bad file: exit 2"

# a key set twice: a warning naming both lines, the later value wins, still valid
conf=$(broken dup 'hostname = later.example')
line=$(grep -n '^hostname' "$base" | head -n1 | cut -d: -f1)
check_cfg "$conf"
[ "$rc" = 0 ] || fail "duplicate key: exit $rc: $out"
echo "$out" | grep -qxF "mxgate: $conf:$N: warning: key hostname also set at line $line; the later wins" ||
	fail "duplicate key: no warning: $out"
out=$(timeout -k 5 20 "$MXGATE" -n -c "$conf" 2>/dev/null </dev/null)
echo "$out" | grep -qxF "hostname = later.example" || fail "duplicate key: the later value does not win: $out"
ok "duplicate key warns (line $N, also at $line), the later wins"

# a normal start ("--" between the EAL options and mxgate's) is not taken for a check
# even with EAL's own -n: it gets to EAL and fails there on the bad key, not before
prefix=mxcheck_$LAB_NS
out=$(timeout -k 5 20 "$MXGATE" --no-huge --no-pci --no-shconf --no-telemetry -m 64 -l 0 -n 1 --vdev net_ring0 \
	'--log-level=*:error' --file-prefix "$prefix" -- -c "$tmp/key.conf" 2>&1 </dev/null)
rc=$?
rm -rf "/var/run/dpdk/$prefix"
[ "$rc" = 2 ] && echo "$out" | grep -qF "$tmp/key.conf:$N:" || fail "EAL -n start: exit $rc: $out"
echo "$out" | grep -q "is valid" && fail "EAL -n start ran the check: $out"
ok "a start with EAL's -n goes through EAL"
pass
