#!/usr/bin/env bash
# mxgate-prepare.sh CONF - what mxgate needs from the machine before it starts
# on real NICs (the systemd unit's ExecStartPre, as root; installed as
# /usr/lib/mxgate/mxgate-prepare):
#   1. hugepages: MXGATE_HUGEPAGES (e.g. 2G; "" = leave them) reserved with
#      DPDK's dpdk-hugepages.py (--reserve, on MXGATE_HUGEPAGE_NODE if set,
#      pages of MXGATE_HUGEPAGE_SIZE if set) and hugetlbfs mounted (--mount)
#      if it is not; pages already reserved for others are not cleared;
#   2. the NICs: every *_device of CONF that is a PCI address (0000:01:00.0)
#      is bound to MXGATE_DRIVER (vfio-pci) with DPDK's dpdk-devbind.py,
#      after loading the module; a NIC already bound to it is left alone, one
#      with an active kernel route is refused by dpdk-devbind (no --force);
#   3. /run/mxgate, 0750 mxgate_user:mxgate_group, for the control socket
#      and the counters file (mxgate writes them after dropping root).
# Exits non-zero, naming what failed, so that systemd does not start mxgate.
set -euo pipefail
CONF=${1:-/etc/mxgate/mxgate.conf}
HUGEPAGES=${MXGATE_HUGEPAGES-2G}
DRIVER=${MXGATE_DRIVER:-vfio-pci}
RUNDIR=${MXGATE_RUNDIR:-/run/mxgate}

die() { echo "mxgate-prepare: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"
[ -r "$CONF" ] || die "cannot read $CONF"

# key = value of CONF (last one wins, as in mxgate); default if absent
conf_get() {
	awk -v k="$1" -v d="$2" '
		{ line = $0; sub(/#.*/, "", line) }
		match(line, /^[ \t]*[A-Za-z0-9_]+[ \t]*=/) {
			key = substr(line, 1, RLENGTH - 1); gsub(/[ \t=]/, "", key)
			if (key == k) { v = substr(line, RLENGTH + 1); gsub(/^[ \t]+|[ \t]+$/, "", v); val = v; set = 1 }
		}
		END { print set ? val : d }' "$CONF"
}

user=$(conf_get mxgate_user mxgate)
group=$(conf_get mxgate_group mxgate)
id -u "$user" >/dev/null 2>&1 || die "no user '$user' (mxgate_user): useradd --system --user-group $user"
getent group "$group" >/dev/null || die "no group '$group' (mxgate_group)"

if [ -n "$HUGEPAGES" ]; then
	command -v dpdk-hugepages.py >/dev/null || die "dpdk-hugepages.py missing (apt-get install dpdk)"
	opts=()
	[ -n "${MXGATE_HUGEPAGE_SIZE:-}" ] && opts+=(--pagesize "$MXGATE_HUGEPAGE_SIZE")
	[ -n "${MXGATE_HUGEPAGE_NODE:-}" ] && opts+=(--node "$MXGATE_HUGEPAGE_NODE")
	dpdk-hugepages.py "${opts[@]}" --reserve "$HUGEPAGES" || die "cannot reserve $HUGEPAGES of hugepages"
	if ! grep -qs ' hugetlbfs ' /proc/mounts; then
		dpdk-hugepages.py "${opts[@]}" --mount || die "cannot mount hugetlbfs"
	fi
fi

pcis=()
for role in outside inside; do
	dev=$(conf_get "${role}_device" "")
	if [[ $dev =~ ^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$ ]]; then
		pcis+=("$dev")
	fi
done
if [ ${#pcis[@]} -gt 0 ]; then
	command -v dpdk-devbind.py >/dev/null || die "dpdk-devbind.py missing (apt-get install dpdk)"
	modprobe "$DRIVER" || die "cannot load $DRIVER"
	for dev in "${pcis[@]}"; do
		[ -e "/sys/bus/pci/devices/$dev" ] || die "no PCI device $dev (${CONF}: *_device)"
		cur=$(basename "$(readlink -f "/sys/bus/pci/devices/$dev/driver" 2>/dev/null)" 2>/dev/null || true)
		[ "$cur" = "$DRIVER" ] && continue
		dpdk-devbind.py --bind="$DRIVER" "$dev" || die "cannot bind $dev to $DRIVER"
	done
fi

install -d -m 0750 -o "$user" -g "$group" "$RUNDIR" || die "cannot create $RUNDIR"
exit 0
