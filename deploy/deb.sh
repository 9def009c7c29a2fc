#!/usr/bin/env bash
# deb.sh - build the Debian package of mxgate (make deb), from this tree.
#
#   deploy/deb.sh [OUTDIR]     (default build/deb; prints the .deb's path last)
#
# What the package holds (dpkg -c shows it):
#   /usr/sbin/mxgate, /usr/sbin/mxgate-control, /usr/bin/mxctl
#   /usr/lib/mxgate/boringssl/lib{ssl,crypto}.so.0   BoringSSL rebuilt without
#        OPENSSL_SMALL (deploy/boringssl.sh). The three programs are linked
#        again for the package with this directory as their run path, so an
#        installed mxgate never needs /var/cache/mxgate nor loads Debian's
#        SMALL build or OpenSSL. libssl's own run path is $ORIGIN.
#   /usr/lib/mxgate/mxgate-prepare                   the unit's ExecStartPre
#   /lib/systemd/system/mxgate.service, mxgate-control.service
#   /etc/mxgate/mxgate.conf, /etc/mxgate/access, /etc/default/mxgate
#                                                    conffiles (the examples)
#   man pages mxgate(8), mxgate-control(8), mxgate.conf(5), mxctl(1)
#   /usr/share/doc/mxgate: README, copyright, BoringSSL's copyright
#
# Depends: what dpkg-shlibdeps finds for the programs (hiredis, libnuma,
# libbpf/libxdp, libbsd, libelf, zlib, libc, libstdc++ for BoringSSL),
# plus adduser (postinst) and dpdk (mxgate-prepare calls its
# dpdk-hugepages.py and dpdk-devbind.py).
#
# postinst creates the system user and group "mxgate" (mxgate_user and
# mxgate_group's defaults) if they are missing and reloads systemd; it
# enables and starts nothing, since mxgate needs its NICs configured first
# (README, "Install from the package"). prerm stops both units on removal.
#
# The version is 0~git<commit date>.<commit>[+dirty] so that later commits
# sort later. Nothing outside OUTDIR is written.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
OUT=${1:-build/deb}
PKG=mxgate
LIBDIR=/usr/lib/mxgate/boringssl
die() { echo "deb.sh: $*" >&2; exit 1; }

for t in dpkg-deb dpkg-shlibdeps fakeroot gzip; do
	command -v "$t" >/dev/null || die "$t missing (make deps installs dpkg-dev and fakeroot)"
done
BSSL=$(bash deploy/boringssl.sh dir) || die "BoringSSL rebuild unknown: make deps"
[ -f "$BSSL/lib/libssl.so.0" ] || die "BoringSSL rebuild missing in $BSSL: make deps"

commit=$(git rev-parse --short=10 HEAD)
cdate=$(git log -1 --format=%cd --date=format:%Y%m%d%H%M HEAD)
ver="0~git$cdate.$commit"
git diff --quiet HEAD -- 2>/dev/null || ver="$ver+dirty"

# 1. the programs, linked for the package's library directory
echo "deb.sh: building the programs for $LIBDIR" >&2
rm -f "$OUT/bin/mxgate" "$OUT/bin/mxgate-control" "$OUT/bin/mxctl"   # the version is compiled in
make --no-print-directory -j"$(nproc)" BUILD="$OUT/bin" BSSL_RPATH="$LIBDIR" \
	MX_VERSION="$ver" "$OUT/bin/mxgate" "$OUT/bin/mxgate-control" "$OUT/bin/mxctl" >&2

# 2. the tree
root="$OUT/root"
rm -rf "$root"
install -d "$root/DEBIAN" "$root/usr/sbin" "$root/usr/bin" "$root$LIBDIR" \
	"$root/lib/systemd/system" "$root/etc/mxgate" "$root/etc/default" \
	"$root/usr/share/man/man1" "$root/usr/share/man/man5" "$root/usr/share/man/man8" \
	"$root/usr/share/doc/$PKG"
install -m 0755 -s "$OUT/bin/mxgate" "$OUT/bin/mxgate-control" "$root/usr/sbin/"
install -m 0755 -s "$OUT/bin/mxctl" "$root/usr/bin/"
install -m 0644 "$BSSL/lib/libssl.so.0" "$BSSL/lib/libcrypto.so.0" "$root$LIBDIR/"
install -m 0755 deploy/mxgate-prepare.sh "$root/usr/lib/mxgate/mxgate-prepare"
install -m 0644 deploy/systemd/mxgate.service deploy/systemd/mxgate-control.service "$root/lib/systemd/system/"
install -m 0640 deploy/mxgate.conf.example "$root/etc/mxgate/mxgate.conf"
install -m 0640 deploy/access.example "$root/etc/mxgate/access"
install -m 0644 deploy/mxgate.default "$root/etc/default/mxgate"
for m in docs/mxctl.1 docs/mxgate.conf.5 docs/mxgate.8 docs/mxgate-control.8; do
	gzip -9n <"$m" >"$root/usr/share/man/man${m##*.}/$(basename "$m").gz"
done
gzip -9n <README.md >"$root/usr/share/doc/$PKG/README.md.gz"
cat >"$root/usr/share/doc/$PKG/copyright" <<EOF
mxgate: the mxgate developers.

/usr/lib/mxgate/boringssl holds BoringSSL, Debian's source package
android-platform-external-boringssl rebuilt without OPENSSL_SMALL; its
copyright and licences follow in copyright.boringssl.
EOF
cp /usr/share/doc/android-libboringssl/copyright "$root/usr/share/doc/$PKG/copyright.boringssl" 2>/dev/null ||
	die "/usr/share/doc/android-libboringssl/copyright missing (android-libboringssl)"

# 3. control: Depends from dpkg-shlibdeps, which needs a debian/control to read
work="$OUT/shlibs"
rm -rf "$work"; mkdir -p "$work/debian"
printf 'Source: %s\n\nPackage: %s\nArchitecture: amd64\n' "$PKG" "$PKG" >"$work/debian/control"
absroot=$(cd "$root" && pwd)
(cd "$work" && dpkg-shlibdeps -O -l"$absroot$LIBDIR" --ignore-missing-info \
	"$absroot/usr/sbin/mxgate" "$absroot/usr/sbin/mxgate-control" "$absroot/usr/bin/mxctl" \
	"$absroot$LIBDIR/libssl.so.0" "$absroot$LIBDIR/libcrypto.so.0") >"$work/substvars" 2>"$work/shlibdeps.log" ||
	{ cat "$work/shlibdeps.log" >&2; die "dpkg-shlibdeps failed"; }
shdeps=$(sed -n 's/^shlibs:Depends=//p' "$work/substvars")
[ -n "$shdeps" ] || die "dpkg-shlibdeps found no dependency"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<EOF
Package: $PKG
Version: $ver
Architecture: amd64
Maintainer: mxgate developers <postmaster@mxgate.example>
Installed-Size: $size
Depends: $shdeps, adduser, dpdk
Recommends: redis-server
Suggests: swaks, prometheus
Section: mail
Priority: optional
Homepage: https://mxgate.example/
Description: kernel-bypass mail TLS front end (DPDK, ESMTP, STARTTLS)
 mxgate takes SMTP, STARTTLS, implicit TLS (465) and submission (587) on
 dedicated NIC ports with DPDK and its own TCP/IP stack, applies an access
 map and SMTP AUTH, and relays each transaction to a backend MTA,
 answering 250 only after the backend's 250.
 .
 mxgate-control pulls policy, certificates, ticket keys and users from
 Redis and pushes them into mxgate live; mxctl is the operator's tool.
EOF
printf '/etc/mxgate/mxgate.conf\n/etc/mxgate/access\n/etc/default/mxgate\n' >"$root/DEBIAN/conffiles"
cat >"$root/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
	getent group mxgate >/dev/null || addgroup --system mxgate
	getent passwd mxgate >/dev/null ||
		adduser --system --ingroup mxgate --home /nonexistent --no-create-home \
			--gecos "mxgate appliance" mxgate
	chgrp mxgate /etc/mxgate/mxgate.conf /etc/mxgate/access
	# enables nothing; records the units' enable links so that purge removes them
	# even when the operator enabled them (as dh_installsystemd --no-enable does)
	deb-systemd-helper update-state mxgate.service mxgate-control.service >/dev/null || true
	if [ -d /run/systemd/system ]; then systemctl --system daemon-reload >/dev/null || true; fi
fi
exit 0
EOF
cat >"$root/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
	systemctl stop mxgate-control.service mxgate.service >/dev/null 2>&1 || true
fi
exit 0
EOF
cat >"$root/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
# purge: the enable links go too (remove keeps them, as Debian does, for a reinstall)
if [ "$1" = purge ]; then
	deb-systemd-helper purge mxgate.service mxgate-control.service >/dev/null || true
fi
if [ -d /run/systemd/system ]; then systemctl --system daemon-reload >/dev/null || true; fi
exit 0
EOF
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"

deb="$OUT/${PKG}_${ver}_amd64.deb"
rm -f "$OUT"/${PKG}_*_amd64.deb
fakeroot dpkg-deb --build -Zxz "$root" "$deb" >&2
echo "$deb"
