#!/usr/bin/env bash
# deps.sh PKG... - install the Debian packages that are missing; quiet when
# everything is there. Needs root (the lab needs it anyway).
#
# No system service may come up listening on the host's interfaces because
# of this install (postfix on 25, nginx on 80): postfix is installed with
# "No configuration" (only its tools and a private instance of make bench
# are used), and while apt runs, a policy-rc.d that answers 101 ("action
# forbidden") keeps invoke-rc.d / deb-systemd-invoke from starting any
# service (the machine's own policy-rc.d is kept if it has one). Afterwards
# the nginx and postfix system services are disabled, so a reboot does not
# start them either: make bench runs private instances of its own.
set -euo pipefail
missing=()
for p in "$@"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages: ${missing[*]}; run 'make deps' as root" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# postfix: we only use its tools (smtp-sink, smtp-source, posttls-finger)
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
POLICY=/usr/sbin/policy-rc.d
if [ ! -e "$POLICY" ]; then
	printf '#!/bin/sh\n# deploy/deps.sh: no service starts while it installs packages\nexit 101\n' >"$POLICY"
	chmod 755 "$POLICY"
	trap 'rm -f "$POLICY"' EXIT
fi
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
# the system's nginx and postfix services stay off when this run installed
# them (make bench runs its own instances); ones installed before are left alone
for svc in nginx postfix; do
	case " ${missing[*]} " in *" $svc "*|*" $svc-"*) ;; *) continue ;; esac
	if [ -d /run/systemd/system ]; then
		systemctl disable --now "$svc" >/dev/null 2>&1 || true
	elif [ -e "/etc/init.d/$svc" ]; then
		update-rc.d "$svc" disable >/dev/null 2>&1 || true
	fi
done
