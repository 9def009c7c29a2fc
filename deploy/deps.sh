#!/usr/bin/env bash
# deps.sh PKG... - install the Debian packages that are missing, then check
# that the machine can do what the build, the lab, the tests and the
# benchmarks rely on (deploy/check-deps.sh). Quiet when everything is there.
# Needs root to install (the lab needs root anyway).
#
# Packages are named one by one, each with the optional parts the suite uses
# (for example swaks with Net::SSLeay for STARTTLS and IO::Socket::INET6 for
# IPv6), and installed with --no-install-recommends, so that what a fresh
# machine gets does not depend on apt's recommends policy.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
missing=()
for p in "$@"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "deps: missing packages: ${missing[*]}; run 'make deps' as root" >&2
		exit 1
	fi
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# postfix: we only use its tools (smtp-sink, smtp-source, posttls-finger)
	# and private instances; the system's own instance is never configured
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	apt-get update -q >/dev/null
	if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; then
		echo "deps: apt-get install failed for: ${missing[*]}" >&2
		exit 1
	fi
fi
exec "$here/check-deps.sh"
