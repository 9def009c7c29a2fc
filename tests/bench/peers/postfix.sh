# shellcheck shell=bash
# postfix.sh - make bench's Postfix peer: a private Postfix instance as a
# before-queue SMTP proxy (smtpd_proxy_filter) in front of smtp-sink.
# Sourced by tests/bench/bench.sh, which provides PEER_ADDR, PEER_PORT,
# SINK_PORT, PEER_HOSTNAME, IDLE_MAX and the certificates.
#
# The instance has its own configuration directory (postfix -c DIR), its
# own queue, data and log directories, all under the run directory; the
# system's /etc/postfix and its postfix service are never read or touched.
# Its master daemon runs in the foreground ("postfix -c DIR start-fg") in
# bench.sh's network namespace and cgroup, pinned to the server core:
# every Postfix process (master, smtpd, tlsmgr, anvil, postlogd) is a child
# and is counted. What a postmaster would set for this role:
#   - smtpd on PEER_ADDR:PEER_PORT with STARTTLS offered (security level
#     may), the bench's certificate (ECDSA or RSA, one at a time), TLS
#     session cache off (the client never resumes anyway);
#   - smtpd_proxy_filter = the sink: each MAIL transaction is relayed to it
#     as it arrives, the sink's reply to the end of DATA is the client's;
#   - no DNS: smtpd_peername_lookup = no, smtp_dns_support_level = disabled
#     (nothing is resolved: the client's address stays a number);
#   - relaying allowed from mynetworks (the loopback only);
#   - process and connection limits raised for the idle test (Postfix runs
#     one smtpd process per session), logging to a file through postlogd
#     (no syslog daemon in the namespace).

# Why the peer cannot run here (on stdout), or nothing.
peer_postfix_missing() {
	command -v postfix >/dev/null || { echo "postfix is not installed (make deps)"; return; }
	postconf -d mail_version >/dev/null 2>&1 || echo "postconf does not work"
	id postfix >/dev/null 2>&1 || echo "the postfix user is missing"
}

# Version string for the table.
peer_postfix_version() { postconf -dh mail_version 2>/dev/null | sed 's/^/Postfix /'; }

# Write the instance's configuration for key type $2 (ecdsa|rsa) in directory $1.
peer_postfix_config() {
	local dir=$1 key=$2 procs
	procs=$((IDLE_MAX + 100))
	mkdir -p "$dir/etc" "$dir/queue" "$dir/data" || return 1
	chown postfix "$dir/data" 2>/dev/null
	cat >"$dir/etc/main.cf" <<EOF
# make bench: private Postfix instance, before-queue proxy to smtp-sink
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
mail_owner = postfix
setgid_group = postdrop
myhostname = $PEER_HOSTNAME
mydomain = lab.example
myorigin = \$myhostname
mydestination =
inet_interfaces = $PEER_ADDR
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
relay_domains =
alias_maps =
alias_database =
local_recipient_maps =
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
smtpd_banner = \$myhostname ESMTP
biff = no
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
smtpd_proxy_filter = 127.0.0.1:$SINK_PORT
smtpd_proxy_ehlo = \$myhostname
smtpd_proxy_timeout = 100s
smtpd_tls_security_level = may
smtpd_tls_chain_files = $CERT_DIR/$key.key, $CERT_DIR/$key.crt
smtpd_tls_session_cache_database =
smtpd_tls_session_cache_timeout = 0
smtpd_tls_loglevel = 0
tls_random_source = dev:/dev/urandom
default_process_limit = $procs
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_timeout = 300s
EOF
	cat >"$dir/etc/master.cf" <<EOF
# make bench: the services the proxy uses (no chroot: the queue is private)
$PEER_ADDR:$PEER_PORT inet n - n - - smtpd
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
anvil     unix  -       -       n       -       1       anvil
postlog   unix-dgram n  -       n       -       1       postlogd
rewrite   unix  -       -       n       -       -       trivial-rewrite
proxymap  unix  -       -       n       -       -       proxymap
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
error     unix  -       -       n       -       -       error
EOF
	postfix -c "$dir/etc" check >>"$dir/setup.log" 2>&1 ||
		{ tail -n 5 "$dir/setup.log" >&2; return 1; }
}

# The command that runs the instance in the foreground (exec'd by bench.sh).
peer_postfix_cmd() { echo postfix -c "$1/etc" start-fg; }

# Stop the instance cleanly (bench.sh kills what is left in the cgroup after this).
peer_postfix_stop() { timeout -k 2 20 postfix -c "$1/etc" stop >>"$1/setup.log" 2>&1; }

# The logs worth showing when it fails.
peer_postfix_logs() { echo "$1/maillog $1/setup.log"; }
