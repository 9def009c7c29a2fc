#!/usr/bin/env bash
# t_smtp_posttls.sh - Postfix's posttls-finger against mxgate (no DNS: the
# destination is an address literal, smtp_dns_support_level=disabled):
# STARTTLS on 25 is reported as "Untrusted TLS connection established ...
# TLSv1.3", as "Verified" with the lab certificate as CAfile and the
# matching name, "Untrusted" with a name that does not match; TLS 1.2 when
# the client insists; implicit TLS on 465 (-w); over IPv6 a reconnection
# resumes the session (tls_resumed counter). posttls-finger reads a private
# MAIL_CONFIG in the test's own folder.
. "$(dirname "$0")/lib.sh"
lab_begin
lab_up || fail "lab did not come up"

# A private configuration directory: the machine's Postfix may have no
# main.cf ("No configuration"), and the test never writes /etc/postfix.
mkdir -p "$LAB_DIR/ptf"
printf '# posttls-finger only: everything else is compiled-in defaults\n' >"$LAB_DIR/ptf/main.cf"
PTF=(env MAIL_CONFIG="$LAB_DIR/ptf" timeout 30 posttls-finger -o smtp_dns_support_level=disabled
	-o smtp_helo_name=client.example)

# ptf NAME 'regex that must be in the output' ['regex that must not'] -- ARGS...
ptf() {
	local name=$1 want=$2 not=${3:-} out rc
	shift 3
	[ "${1:-}" = -- ] && shift
	echo "--- posttls-finger $name: $*"
	out=$(lab_exec "${PTF[@]}" "$@" 2>&1)
	rc=$?
	echo "$out" | sed 's/^/  | /'
	[ $rc -eq 0 ] || soft_fail "posttls-finger $name exited $rc"
	if echo "$out" | grep -Eq -- "$want"; then
		ok "$name: output has /$want/"
	else
		soft_fail "$name: no line matching /$want/"
	fi
	if [ -n "$not" ] && echo "$out" | grep -Eq -- "$not"; then
		soft_fail "$name: output has /$not/"
	fi
}

EST='TLS connection established to 198\.18\.0\.2\[198\.18\.0\.2\]'
ptf starttls "Untrusted $EST:25: TLSv1\.3 with cipher TLS_AES_256_GCM_SHA384 \(256/256 bits\)" "" -- \
	-c "[198.18.0.2]:25"
ptf subject "subject_CN=mx\.lab\.example, issuer_CN=mx\.lab\.example" "" -- -c "[198.18.0.2]:25"
ptf verified "Verified $EST:25: TLSv1\.3" "Untrusted" -- \
	-c -l secure -F "$LAB_CERT" "[198.18.0.2]:25" mx.lab.example
ptf mismatch "Untrusted $EST:25" "Verified" -- \
	-c -l secure -F "$LAB_CERT" "[198.18.0.2]:25" other.example
ptf tls12 "Untrusted $EST:25: TLSv1\.2 with cipher ECDHE-RSA-AES(128|256)-GCM-SHA(256|384)" "" -- \
	-p TLSv1.2 "[198.18.0.2]:25"
ptf chat "< 220 2\.0\.0 Ready to start TLS" "" -- -p TLSv1.2 "[198.18.0.2]:25"
ptf smtps "Untrusted $EST:465: TLSv1\.3" "" -- -c -w "[198.18.0.2]:465"
ptf resume "Reusing old session" "" -- -c -r 1 "[2001:2::2]:25"

expect_log 'Anonymous TLS connection established from unknown\[198\.18\.0\.1\]: TLSv1\.3 with cipher TLS_AES_256_GCM_SHA384' \
	"Anonymous TLS connection established from unknown[198.18.0.1]: TLSv1.3 ..."
expect_log 'Anonymous TLS connection established from unknown\[2001:2::1\]' \
	"Anonymous TLS connection established from unknown[2001:2::1]"
expect_smtp 'tls_sessions{version="TLSv1.2"}' -eq 2
expect_smtp 'tls_sessions{version="TLSv1.3"}' -ge 6
expect_smtp tls_resumed -ge 1
expect_smtp 'tls_handshakes{mode="smtps"}' -eq 1
expect_smtp tls_failed -eq 0
soft_wait_stat_eq mxgate_smtp_active 0 5
expect_alive "after posttls-finger"
expect_no_bug_drops
lab_end
