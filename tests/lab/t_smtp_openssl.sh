#!/usr/bin/env bash
# t_smtp_openssl.sh - `openssl s_client -starttls smtp` on 25 and 587 and
# plain s_client on 465, TLS 1.3 and forced TLS 1.2, IPv4 and IPv6: the
# handshake completes, the certificate subject is CN=mx.lab.example, a
# typed EHLO/MAIL/RCPT/DATA/QUIT goes through, the backend stores the
# message once with the negotiated version and cipher in mxgate's Received
# header, and the tls_v12 / tls_v13 counters count the sessions.
. "$(dirname "$0")/lib.sh"
lab_begin
lab_up || fail "lab did not come up"

# case NAME HOST PORT VERSION CIPHER BITS [smtp_openssl.py options]
ssl_case() {
	local name=$1 host=$2 port=$3 ver=$4 cipher=$5 bits=$6 addr=198.18.0.1
	shift 6
	case $host in *:*) addr=IPv6:2001:2::1 ;; esac
	echo "--- s_client $name"
	soft_run "s_client $name" lab_py smtp_openssl.py --host "$host" --port "$port" --msgid "ossl-$name" "$@" ||
		return
	# s_client does not dot-stuff: ".line with a dot" arrives as "line with a dot"
	printf 'Subject: openssl\r\nMessage-ID: <ossl-%s@client.example>\r\n\r\nsent by openssl s_client\r\nline with a dot\r\n' \
		"$name" >"$LAB_DIR/ossl-$name.eml"
	soft_run "stored message of s_client $name" \
		lab_py smtp_dump.py one --maildir "$LAB_MAIL" --match "<ossl-$name@client.example>" \
		--body "$LAB_DIR/ossl-$name.eml" --with ESMTPS --helo client.example --addr "$addr" \
		--version "$ver" --cipher "$cipher" --bits "$bits" --verify NOT --rcpt b@lab.example
}

ssl_case starttls13 198.18.0.2 25 TLSv1.3 TLS_AES_256_GCM_SHA384 256 --starttls
ssl_case smtps13 198.18.0.2 465 TLSv1.3 TLS_AES_256_GCM_SHA384 256
ssl_case submission13 198.18.0.2 587 TLSv1.3 TLS_AES_256_GCM_SHA384 256 --starttls
ssl_case starttls13v6 2001:2::2 25 TLSv1.3 TLS_AES_256_GCM_SHA384 256 --starttls
ssl_case starttls12 198.18.0.2 25 TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 128 --starttls --tls1_2
ssl_case smtps12 198.18.0.2 465 TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 128 --tls1_2

n=$(mail_count)
if [ "$n" -eq 6 ]; then ok "6 messages stored"; else soft_fail "$n messages stored, expected 6"; fi
expect_log 'Anonymous TLS connection established from unknown\[198\.18\.0\.1\]: TLSv1\.2 with cipher ECDHE-RSA-AES128-GCM-SHA256 \(128/128 bits\)' \
	"Anonymous TLS connection established ... TLSv1.2 with cipher ECDHE-RSA-AES128-GCM-SHA256 (128/128 bits)"
expect_log 'Anonymous TLS connection established from unknown\[198\.18\.0\.1\]: TLSv1\.3 with cipher TLS_AES_256_GCM_SHA384 \(256/256 bits\)' \
	"Anonymous TLS connection established ... TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"
expect_smtp 'tls_sessions{version="TLSv1.2"}' -eq 2
expect_smtp 'tls_sessions{version="TLSv1.3"}' -eq 4
expect_smtp 'tls_handshakes{mode="starttls"}' -eq 4
expect_smtp 'tls_handshakes{mode="smtps"}' -eq 2
expect_smtp 'messages{result="accepted"}' -eq 6
expect_smtp tls_failed -eq 0
soft_wait_stat_eq mxgate_smtp_active 0 5
expect_alive "after the s_client runs"
expect_no_bug_drops
lab_end
