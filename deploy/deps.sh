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
#
# No system service may come up listening on the host's interfaces because
# of this install (postfix on 25, nginx on 80, prometheus on 9090,
# redis-sentinel on 26379, nsd on 53; only prometheus's promtool is used,
# t_sentinel runs its own sentinel and the DNS lab tests their own nsd):
# postfix is installed with
# "No configuration" (only its tools and private instances are used), and
# while apt runs, a policy-rc.d that answers 101 ("action forbidden") keeps
# invoke-rc.d / deb-systemd-invoke from starting any service (the machine's
# own policy-rc.d is kept if it has one). Afterwards the nginx, postfix,
# prometheus, redis-sentinel, fail2ban and nsd system services are
# disabled, so a reboot does not start them
# either: make bench runs private instances of its own.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# one install at a time: several checkouts may run make deps at once
if [ "$(id -u)" = 0 ]; then
	exec 8>/run/lock/mxgate-deps.lock
	flock 8
fi
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
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	POLICY=/usr/sbin/policy-rc.d
	if [ ! -e "$POLICY" ]; then
		printf '#!/bin/sh\n# deploy/deps.sh: no service starts while it installs packages\nexit 101\n' >"$POLICY"
		chmod 755 "$POLICY"
		trap 'rm -f "$POLICY"' EXIT
	fi
	apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
	if ! apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >/dev/null; then
		echo "deps: apt-get install failed for: ${missing[*]}" >&2
		exit 1
	fi
	# the system's nginx, postfix, prometheus, redis-sentinel, fail2ban and nsd
	# services stay off when this run installed them (make bench runs its own
	# instances, the tests use only promtool and fail2ban-regex, t_sentinel
	# starts its own sentinel, the DNS tests their own nsd); ones installed
	# before are left alone
	for svc in nginx postfix prometheus redis-sentinel fail2ban nsd; do
		case " ${missing[*]} " in *" $svc "*|*" $svc-"*) ;; *) continue ;; esac
		if [ -d /run/systemd/system ]; then
			systemctl disable --now "$svc" >/dev/null 2>&1 || true
		elif [ -e "/etc/init.d/$svc" ]; then
			update-rc.d "$svc" disable >/dev/null 2>&1 || true
		fi
	done
fi
# The unprivileged user mxgate becomes once its ports are up (mxgate_user and
# mxgate_group in the configuration), as Postfix's postfix user: a system user
# with its own group, no home, no shell. The lab and the tests run as it too.
if ! getent passwd mxgate >/dev/null; then
	if [ "$(id -u)" != 0 ]; then
		echo "deps: missing user mxgate; run 'make deps' as root" >&2
		exit 1
	fi
	echo "deps: creating the system user mxgate"
	useradd --system --user-group --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin --comment "mxgate mail TLS appliance" mxgate
fi
"$here/check-deps.sh"
