#!/usr/bin/env bash
# t_smtp_swaks.sh - swaks through mxgate to smtp-sink: plaintext, STARTTLS,
# implicit TLS on 465, PIPELINING with and without TLS, HELO (SMTP), two
# recipients, IPv6. Each message is stored by the backend exactly once,
# byte-identical (dot-stuffed lines included), behind a Received header
# whose protocol, TLS clause and "for" clause match the session; the log
# has Postfix's "Anonymous TLS connection established" line; counters move.
. "$(dirname "$0")/lib.sh"
lab_begin
lab_up || fail "lab did not come up"

# A message with lines that need dot-stuffing, and a unique Message-ID.
make_msg() {
	printf 'From: <a@example.org>\r\nTo: <b@lab.example>\r\nSubject: swaks %s\r\nMessage-ID: <swaks-%s@client.example>\r\n\r\nfirst line of %s\r\n.leading dot\r\n..two dots\r\n.\r\n\r\nlast line\r\n' \
		"$1" "$1" "$1" >"$LAB_DIR/msg-$1.eml"
}

# swaks_case NAME SERVER [swaks options] -- [smtp_dump.py options]
swaks_case() {
	local name=$1 server=$2 out rc
	shift 2
	local sopts=() dopts=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do sopts+=("$1"); shift; done
	[ "${1:-}" = -- ] && shift
	dopts=("$@")
	make_msg "$name"
	echo "--- swaks $name: ${sopts[*]}"
	out=$(lab_exec timeout 30 swaks --server "$server" --helo client.example \
		--from a@example.org --data "@$LAB_DIR/msg-$name.eml" "${sopts[@]}" 2>&1)
	rc=$?
	if [ $rc -ne 0 ]; then
		echo "$out" | tail -n 15
		soft_fail "swaks $name exited $rc"
		return
	fi
	echo "$out" | grep -E '^(<~?|===) ' | grep -E '^<~?  (250 2\.0\.0|2[0-9][0-9] .*TLS)|TLS started' | head -n 3
	ok "swaks $name: delivered (exit 0)"
	soft_run "stored message of $name" \
		lab_py smtp_dump.py one --maildir "$LAB_MAIL" --match "<swaks-$name@client.example>" \
		--body "$LAB_DIR/msg-$name.eml" --swaks --helo client.example "${dopts[@]}"
}

TLS13=(--version TLSv1.3 --cipher TLS_AES_256_GCM_SHA384 --bits 256 --verify NOT)
V4=(--addr 198.18.0.1)

swaks_case plain 198.18.0.2 --to b@lab.example -- --with ESMTP "${V4[@]}" --rcpt b@lab.example
swaks_case starttls 198.18.0.2 --to b@lab.example --tls -- --with ESMTPS "${TLS13[@]}" "${V4[@]}" --rcpt b@lab.example
swaks_case smtps 198.18.0.2 --to b@lab.example --tlsc --port 465 -- --with ESMTPS "${TLS13[@]}" "${V4[@]}" --rcpt b@lab.example
swaks_case pipeline 198.18.0.2 --to b@lab.example --pipeline -- --with ESMTP "${V4[@]}" --rcpt b@lab.example
swaks_case tlspipe 198.18.0.2 --to b@lab.example --tls --pipeline -- --with ESMTPS "${TLS13[@]}" "${V4[@]}" --rcpt b@lab.example
swaks_case helo 198.18.0.2 --to b@lab.example --protocol SMTP -- --with SMTP "${V4[@]}" --rcpt b@lab.example
swaks_case tworcpt 198.18.0.2 --to b@lab.example,c@lab.example --tls -- --with ESMTPS "${TLS13[@]}" "${V4[@]}" --no-rcpt
# RFC 5321 4.4: the TCP-info of a Received "from" clause is an address
# literal, "[IPv6:2001:2::1]" for IPv6 (as Postfix and sendmail write it).
swaks_case ipv6 2001:2::2 --to b@lab.example --tls -- --with ESMTPS "${TLS13[@]}" --addr IPv6:2001:2::1 --rcpt b@lab.example
swaks_case ipv6pipe 2001:2::2 --to b@lab.example --pipeline -- --with ESMTP --addr IPv6:2001:2::1 --rcpt b@lab.example

n=$(mail_count)
if [ "$n" -eq 9 ]; then ok "9 messages stored, no more"; else soft_fail "$n messages stored, expected 9"; fi

expect_log 'Anonymous TLS connection established from unknown\[198\.18\.0\.1\]: TLSv1\.3 with cipher TLS_AES_256_GCM_SHA384' \
	"Anonymous TLS connection established from unknown[198.18.0.1]: TLSv1.3 with cipher ..."
expect_log 'Anonymous TLS connection established from unknown\[2001:2::1\]: TLSv1\.3 with cipher' \
	"Anonymous TLS connection established from unknown[2001:2::1]"
expect_log 'connect from unknown\[198\.18\.0\.1\]' "connect from unknown[198.18.0.1]"
expect_log 'disconnect from unknown\[198\.18\.0\.1\] ehlo=2 starttls=1 mail=1 rcpt=1 data=1 quit=1 commands=7$' \
	"disconnect from ... ehlo=2 starttls=1 mail=1 rcpt=1 data=1 quit=1 commands=7"
expect_log 'status=sent \(250' "status=sent (250 ...)"

expect_smtp sessions -ge 9
expect_smtp 'messages{result="accepted"}' -eq 9
expect_smtp 'tls_handshakes{mode="starttls"}' -eq 4
expect_smtp 'tls_handshakes{mode="smtps"}' -eq 1
expect_smtp 'tls_sessions{version="TLSv1.3"}' -eq 5
expect_smtp 'tls_verify{result="NOT"}' -eq 5
expect_smtp tls_failed -eq 0
expect_smtp backend_errors -eq 0
soft_wait_stat_eq mxgate_smtp_active 0 5
expect_alive "after the swaks runs"
expect_no_bug_drops
lab_end
