#!/usr/bin/env bash
# t_dns_xclient.sh - a real Postfix smtpd as the backend (as t_smtp_xclient)
# and nsd in the namespace (tests/lab/dns_lib.sh): mxgate's XCLIENT carries
# the verified client name (NAME=client1.lab.example), so Postfix logs and
# writes the mail as the named client's ("client=client1.lab.example[198.18.0.1]",
# "Received: from helo.example (client1.lab.example [198.18.0.1])"), and
# an unverified client (forged PTR) stays unknown there too.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dns_lib.sh"
lab_begin
postfix_lab_up "backends = 198.18.1.1:2525" "dns_servers = 198.18.1.1:$DNS_PORT"
dns_up
dns_clients

for src in 198.18.0.1 198.18.0.11; do
	out=$(lab_exec timeout 30 swaks --server 198.18.0.2 --local-interface $src --helo helo.example \
		--from a@example.org --to b@lab.example --header "Subject: dns-$src" 2>&1)
	echo "$out" | grep -Eq '^<[-~] +250 2\.0\.0 Ok: queued as' || { echo "$out" | tail -8; fail "from $src: no 250 from Postfix"; }
	ok "from $src: queued by Postfix through mxgate"
done
pfl 'client=client1\.lab\.example\[198\.18\.0\.1\]' "Postfix has the verified name from XCLIENT NAME="
pfl 'client=unknown\[198\.18\.0\.11\]' "the forged PTR stays unknown at Postfix"
hdr=$(pf headers --match "Subject: dns-198.18.0.1")
echo "$hdr" | grep -q '^Received: from helo\.example (client1\.lab\.example \[198\.18\.0\.1\])' ||
	soft_fail "Postfix's Received header does not name client1.lab.example: $(echo "$hdr" | grep -m2 '^Received')"
ok "Postfix's and mxgate's Received headers name the client"
dns_down
pf stop
PF_UP=
expect_alive "after relaying named clients to Postfix"
lab_end
