#!/usr/bin/env bash
# check-deps.sh - check the capabilities the build and the suite rely on,
# not only that packages are present. Each check names the package that
# brings what is missing; the script exits 1 after listing every failure,
# so a half-set-up machine fails here, loudly, instead of in the tests.
set -u
fails=0
bad() { echo "deps: MISSING: $1 (install: apt-get install $2)" >&2; fails=$((fails + 1)); }
has() { command -v "$1" >/dev/null 2>&1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# build
for c in gcc make pkg-config; do has "$c" || bad "$c" "$c"; done
pkg-config --exists libdpdk 2>/dev/null || bad "DPDK development files (pkg-config libdpdk)" libdpdk-dev
[ -f /usr/include/android/openssl/ssl.h ] || bad "BoringSSL headers" android-libboringssl-dev
[ -f /usr/include/hiredis/hiredis.h ] || bad "hiredis headers" libhiredis-dev

# swaks: STARTTLS, implicit TLS and IPv6 are used by the lab tests
if has swaks; then
	sup=$(swaks --support 2>&1)
	echo "$sup" | grep -q '^=== TLS supported' || bad "swaks TLS support (Net::SSLeay)" libnet-ssleay-perl
	echo "$sup" | grep -q '^=== IPv6 supported' || bad "swaks IPv6 support (IO::Socket::INET6)" libio-socket-inet6-perl
	echo "$sup" | grep -q '^=== Basic AUTH supported' || bad "swaks AUTH support (MIME::Base64)" perl
else
	bad "swaks" swaks
fi

# Postfix tools, run from a private configuration directory (MAIL_CONFIG):
# the machine's own Postfix is never configured
for c in smtp-sink smtp-source posttls-finger postconf; do
	has "$c" || bad "$c" postfix
done
if has posttls-finger; then
	: >"$tmp/main.cf"
	out=$(MAIL_CONFIG=$tmp timeout 10 posttls-finger -o smtp_dns_support_level=disabled \
		"[127.0.0.1]:9" 2>&1)
	echo "$out" | grep -q 'fatal' && bad "posttls-finger with a private MAIL_CONFIG: $out" postfix
fi

# lab: namespaces, nftables, ping, the management side
has ip || bad ip iproute2
has nft || bad nft nftables
ip -V >/dev/null 2>&1 || bad "ip (iproute2)" iproute2
has ping || bad ping iputils-ping
has ss || bad ss iproute2
has curl || bad curl curl
has openssl || bad "openssl (s_client, certificates)" openssl
# c-ares builds and reads mxgate's DNS messages; nsd and dig serve and check the DNS lab tests (t_dns_*)
[ -r /usr/include/ares.h ] || bad "c-ares headers" libc-ares-dev
has nsd && has nsd-checkconf || bad nsd nsd
has dig || bad dig bind9-dnsutils
# promtool lints mxgate-control's /metrics (t_metrics_promtool)
if has promtool; then
	printf '# HELP mx_check_total A check.\n# TYPE mx_check_total counter\nmx_check_total 1\n' |
		promtool check metrics >/dev/null 2>&1 || bad "promtool check metrics does not run" prometheus
else
	bad promtool prometheus
fi
if has redis-server; then
	timeout 10 redis-server --port 0 --unixsocket "$tmp/r.sock" --save '' --appendonly no \
		--daemonize no >"$tmp/redis.log" 2>&1 &
	rpid=$!
	for _ in $(seq 50); do [ -S "$tmp/r.sock" ] && break; sleep 0.1; done
	if ! redis-cli -s "$tmp/r.sock" ping 2>/dev/null | grep -q PONG; then
		bad "redis-server does not start: $(tail -2 "$tmp/redis.log")" redis-server
	fi
	kill "$rpid" 2>/dev/null; wait "$rpid" 2>/dev/null
else
	bad redis-server redis-server
fi
has redis-cli || bad redis-cli redis-tools
has redis-sentinel || bad redis-sentinel redis-sentinel
if [ -x /usr/bin/python3 ]; then
	/usr/bin/python3 -c 'import ssl, smtplib, socket, json; socket.socket(socket.AF_INET6)' \
		2>/dev/null || bad "python3 with ssl and IPv6" python3
else
	bad /usr/bin/python3 python3
fi

# testssl.sh scans 25 and 465 (tests/lab/t_tls_testssl.sh); its socket checks need hexdump
if has testssl; then
	testssl --version 2>/dev/null | grep -q 'testssl.sh' || bad "testssl that runs" testssl.sh
	has hexdump || bad "hexdump (testssl's socket checks)" bsdextrautils
else
	bad "testssl" testssl.sh
fi

# t_log_tools: stock pflogsumm and fail2ban-regex with fail2ban's postfix filter read the lab's log
has pflogsumm || bad "pflogsumm" pflogsumm
if has fail2ban-regex; then
	[ -f /etc/fail2ban/filter.d/postfix.conf ] || bad "fail2ban's stock filter.d/postfix.conf" fail2ban
else
	bad "fail2ban-regex" fail2ban
fi

# t_deploy: systemd-analyze verify on the units, groff and man on the manual pages
has systemd-analyze || bad "systemd-analyze" systemd
has groff || bad "groff" groff-base
has man || bad "man" man-db

# the user mxgate drops root to (mxgate_user, mxgate_group), made by deploy/deps.sh
if ! getent passwd mxgate >/dev/null || ! getent group mxgate >/dev/null; then
	echo "deps: MISSING: system user and group mxgate (run deploy/deps.sh as root, or:" \
		"useradd --system --user-group --no-create-home --home-dir /nonexistent" \
		"--shell /usr/sbin/nologin mxgate)" >&2
	fails=$((fails + 1))
fi

[ $fails -eq 0 ] || { echo "deps: $fails capability check(s) failed" >&2; exit 1; }
exit 0
