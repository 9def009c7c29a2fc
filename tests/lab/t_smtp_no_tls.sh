#!/usr/bin/env bash
# t_smtp_no_tls.sh - without a certificate mxgate still serves SMTP: EHLO
# offers no STARTTLS, a STARTTLS anyway gets "454 4.7.0 TLS not available
# due to temporary reason" (RFC 3207), counted as smtp_tls_unavailable,
# and the session goes on in plaintext to deliver.
. "$(dirname "$0")/lib.sh"
lab_begin
lab_up "tls_cert_file =" "tls_key_file =" "smtps_port = 0" || fail "lab did not come up"
out=$(lab_exec timeout 20 "$LAB_PY" - <<'PY' 2>&1
import smtplib
s = smtplib.SMTP("198.18.0.2", 25, local_hostname="client.example", timeout=10)
s.ehlo("client.example")
print("starttls offered:", s.has_extn("starttls"))
code, text = s.docmd("STARTTLS")
print("STARTTLS ->", code, text.decode())
s.sendmail("a@client.example", ["b@lab.example"], "Subject: plain\r\n\r\nno tls\r\n")
print("delivered")
s.quit()
PY
)
echo "$out"
echo "$out" | grep -q '^starttls offered: False$' || fail "STARTTLS offered without a certificate"
echo "$out" | grep -q '^STARTTLS -> 454 4.7.0 TLS not available due to temporary reason$' || fail "no 454"
echo "$out" | grep -q '^delivered$' || fail "the plaintext session did not deliver"
ok "no STARTTLS offered, 454 when asked, plaintext delivery goes on"
wait_stat_eq smtp_tls_unavailable 1 5
expect_no_bug_drops
pass
