#!/usr/bin/env bash
# t_config_hostile.sh - what a tired operator writes into mxgate.conf, seen
# by mxgate --check (no EAL, as the mxgate user) and by SIGHUP:
#   - every value below gets exit 2 and one line "FILE:LINE: key: why" (or
#     "FILE: key: why" for checks across keys), never a crash or "valid":
#     negative, hexadecimal, overflowing and empty numbers, a comment after
#     a value, a key without '=', a byte-order mark, a NUL byte, a line of
#     5000 bytes, a certificate whose key is another's;
#   - mxgate-control's keys in the same file: a metrics_listen or
#     redis_server mxgate-control refuses to start with, redis_sentinels
#     without redis_master_name (mxgate --check said "valid" before);
#   - backend_tls_ca_file that cannot be loaded (--check said "valid",
#     then mxgate did not start);
#   - a CRLF file and trailing blanks are valid;
#   - a file mxgate_user cannot read: exit 2, "Permission denied";
#   - SIGHUP with a bad metrics_listen or backend_tls_ca_file: refused as a
#     whole, mxgate serves on with the configuration in force.
. "$(dirname "$0")/lib.sh"
lab_begin
tmp=$(mktemp -d /tmp/mx_config_hostile.XXXXXX) || fail "mktemp"
trap 'rm -rf "$tmp"; lab_down >/dev/null 2>&1' EXIT
chmod 755 "$tmp"
base=$LAB_REPO/deploy/lab.conf
N=$(($(wc -l <"$base") + 1))   # the first line appended to a copy of base
for c in a b; do
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$c.lab.example" \
		-keyout "$tmp/$c.key" -out "$tmp/$c.crt" >/dev/null 2>&1 || fail "openssl"
done
chmod 644 "$tmp"/*

check_cfg() {  # mxgate --check on CONF as the mxgate user; sets out and rc
	out=$(timeout -k 5 20 runuser -u mxgate -- "$MXGATE" --check -c "$1" 2>&1 </dev/null)
	rc=$?
}
conf_with() {  # a new copy of base with the lines given (printf %b) appended
	local c
	c=$(mktemp "$tmp/cXXXXXX") || fail "mktemp"
	{ cat "$base"; printf '%b\n' "$1"; } >"$c"
	chmod 644 "$c"
	echo "$c"
}
expect_bad() {  # expect_bad WHAT LINES WHERE: exit 2, one line naming WHERE (FILE:LINE: key or FILE: key)
	local conf
	conf=$(conf_with "$2")
	check_cfg "$conf"
	[ "$rc" = 2 ] || fail "$1: exit $rc, not 2: $out"
	[ "$(echo "$out" | wc -l)" = 1 ] || fail "$1: more than one line: $out"
	echo "$out" | grep -qF "$conf$3" || fail "$1: no '$conf$3' in: $out"
	ok "$1: exit 2, $(echo "$out" | sed "s|$tmp/||g")"
}

expect_bad "negative number" "max_sessions = -1" ":$N: max_sessions:"
expect_bad "hexadecimal" "max_sessions = 0x10" ":$N: max_sessions:"
expect_bad "overflow" "max_sessions = 99999999999999999999999" ":$N: max_sessions:"
expect_bad "zero sessions" "max_sessions = 0" ":$N: max_sessions:"
expect_bad "empty number" "smtpd_timeout_ms =" ":$N: smtpd_timeout_ms:"
expect_bad "comment after a value" "max_sessions = 10 # ten" ":$N: max_sessions:"
expect_bad "no '='" "max_sessions 10" ":$N: syntax error"
expect_bad "byte-order mark" "\xef\xbb\xbfhostname = x" ":$N: unknown key"
expect_bad "NUL byte" "hostname = a\0b" ":$N: NUL byte"
expect_bad "5000-byte line" "hostname = $(head -c 5000 /dev/zero | tr '\0' a)" ":$N: line longer than"
check_cfg "$(conf_with "tls_cert_file = $tmp/a.crt\ntls_key_file = $tmp/b.key")"
[ "$rc" = 2 ] && echo "$out" | grep -q "key file $tmp/b.key does not match certificate file $tmp/a.crt" ||
	fail "key of another certificate: exit $rc: $out"
ok "key of another certificate: exit 2, names both files"
# mxgate-control's keys: the parser checks them for --check, mxgate-control and mxctl alike
expect_bad "metrics_listen not numeric" "metrics_listen = localhost:9465" ":$N: metrics_listen:"
expect_bad "metrics_listen port 99999" "metrics_listen = 127.0.0.1:99999" ":$N: metrics_listen:"
expect_bad "redis_server nonsense" "redis_server = nonsense" ":$N: redis_server:"
expect_bad "redis_sentinels unix:" "redis_sentinels = unix:/run/s.sock\nredis_master_name = m" ":$N: redis_sentinels:"
expect_bad "redis_sentinels without a master name" "redis_sentinels = 127.0.0.1:26379" ": redis_sentinels:"
expect_bad "backend_tls_ca_file missing" "backend_tls_ca_file = $tmp/missing.pem" ": backend_tls_ca_file:"
expect_bad "backend_tls_ca_file a key" "backend_tls_ca_file = $tmp/a.key" ": backend_tls_ca_file:"

# CRLF and trailing blanks: valid
conf=$tmp/crlf.conf
{ sed 's/$/\r/' "$base"; printf 'metrics_listen = 127.0.0.1:9465  \r\nbackend_tls_ca_file = %s\t\r\n' "$tmp/a.crt"; } >"$conf"
chmod 644 "$conf"
check_cfg "$conf"
[ "$rc" = 0 ] || fail "CRLF file with trailing blanks: exit $rc: $out"
ok "a CRLF file with trailing blanks, a good metrics_listen and backend_tls_ca_file: valid"
# a file the mxgate user cannot read
conf=$(conf_with "")
chmod 600 "$conf"
check_cfg "$conf"
[ "$rc" = 2 ] && echo "$out" | grep -q "$conf: cannot open: Permission denied" || fail "unreadable file: exit $rc: $out"
ok "a file mxgate cannot read: exit 2, Permission denied"

# ---- SIGHUP with such a file: refused as a whole, mxgate serves on ----
lab_up || fail "lab did not come up"
pid=$(lab_pid)
log=$LAB_DIR/mxgate.log
cp "$LAB_DIR/mxgate.conf" "$tmp/running.conf"
hup() {  # hup N: SIGHUP, wait for the Nth "refused" or "reloaded" line
	local i
	kill -HUP "$pid" || fail "kill -HUP"
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -cE 'mxgate: SIGHUP: configuration .* (reloaded|refused)' "$log")" -ge "$1" ] && return 0
		sleep 0.1
	done
	fail "no reload line after SIGHUP $1: $(tail -3 "$log")"
}
k=0
for bad in "metrics_listen = nonsense" "backend_tls_ca_file = $tmp/missing.pem"; do
	k=$((k + 1))
	{ cat "$tmp/running.conf"; echo "$bad"; echo "smtpd_recipient_limit = 1"; } >"$LAB_DIR/mxgate.conf"
	hup "$k"
	grep 'mxgate: SIGHUP: configuration' "$log" | tail -1 | grep -q "refused, the one in force stays: .*${bad%% *}" ||
		fail "SIGHUP with '$bad' not refused: $(tail -3 "$log")"
	grep -q 'smtpd_recipient_limit: changed' "$log" && fail "part of a refused file was applied"
	ok "SIGHUP with '${bad/$tmp\//}': refused, nothing applied"
done
lab_alive || fail "mxgate exited"
expect_echo
st=$("$LAB_PY" "$LAB_T/ctl_client.py" "$LAB_DIR/ctl.sock" stats) || fail "stats: $st"
echo "$st" | grep -q '^mxgate_service_config_reloads_total{result="failed"} 2$' ||
	fail "reloads failed: $(echo "$st" | grep reloads)"
ok "mxgate serves on; mxgate_service_config_reloads_total{result=\"failed\"} 2"
pass
