#!/usr/bin/env bash
# t_deb.sh - make deb's package, built from this tree and installed the way
# an operator would (dpkg -i), without touching the machine: dpkg runs in a
# chroot whose root is an overlay of / with its writable layer on a tmpfs,
# inside a private mount namespace, so every write (the package's files,
# dpkg's database, the user postinst adds) is gone when the namespace ends,
# also when the test fails. Checks:
#   - the package holds the programs, BoringSSL, the units, the conffiles and
#     the manual pages, and its programs' run path is the package's own
#     /usr/lib/mxgate/boringssl;
#   - dpkg -i succeeds with the machine's own packages (its Depends hold),
#     postinst creates the mxgate user and group when they are missing;
#   - the installed programs load only the package's BoringSSL (the build
#     cache /var/cache/mxgate is hidden in the chroot), and `mxgate --check`
#     refuses the shipped configuration until its certificates exist, then
#     accepts it; the installed units pass systemd-analyze verify; man
#     finds the pages;
#   - dpkg -r keeps the conffiles, dpkg -P removes them, and the enable
#     links of units the operator enabled (no dangling link left).
. "$(dirname "$0")/lib.sh"
lab_begin
for c in dpkg-deb unshare chroot readelf; do
	command -v "$c" >/dev/null || fail "$c missing"
done
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null
grep -qw overlay /proc/filesystems || fail "no overlay file system"
host_had=$(ls -d /usr/sbin/mxgate /etc/mxgate 2>/dev/null)

out=$(timeout -k 5 600 "$LAB_REPO/deploy/deb.sh" "$LAB_DIR/deb" 2>"$LAB_DIR/deb-build.log") ||
	fail "deploy/deb.sh failed: $(tail -5 "$LAB_DIR/deb-build.log")"
deb=$(echo "$out" | tail -1)
[ -f "$deb" ] || fail "no package: $out"
ok "built $(basename "$deb")"

list=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/sbin/mxgate ./usr/sbin/mxgate-control ./usr/bin/mxctl \
	./usr/lib/mxgate/boringssl/libssl.so.0 ./usr/lib/mxgate/boringssl/libcrypto.so.0 \
	./usr/lib/mxgate/mxgate-prepare ./lib/systemd/system/mxgate.service \
	./lib/systemd/system/mxgate-control.service ./etc/mxgate/mxgate.conf ./etc/mxgate/access \
	./etc/default/mxgate ./usr/share/man/man8/mxgate.8.gz ./usr/share/man/man5/mxgate.conf.5.gz \
	./usr/share/man/man8/mxgate-control.8.gz ./usr/share/man/man1/mxctl.1.gz \
	./usr/share/doc/mxgate/copyright; do
	echo "$list" | grep -qxF "$f" || fail "package lacks $f"
done
[ "$(dpkg-deb -f "$deb" Package)" = mxgate ] || fail "package name: $(dpkg-deb -f "$deb" Package)"
dpkg-deb -f "$deb" Depends | grep -q libhiredis || fail "Depends lacks hiredis: $(dpkg-deb -f "$deb" Depends)"
x=$LAB_DIR/deb-x
rm -rf "$x" && dpkg-deb -x "$deb" "$x" || fail "dpkg-deb -x"
for b in usr/sbin/mxgate usr/sbin/mxgate-control usr/bin/mxctl; do
	rp=$(readelf -d "$x/$b" | sed -n 's/.*R.*PATH.*\[\(.*\)\]/\1/p')
	[ "$rp" = /usr/lib/mxgate/boringssl ] || fail "$b: run path '$rp', not /usr/lib/mxgate/boringssl"
done
ok "contents, Depends and run paths"

# Everything below runs in the overlay chroot; its output is checked here.
T=$LAB_DIR/deb-ns
rm -rf "$T" && mkdir -p "$T" || fail "cannot make $T"
cp "$deb" "$LAB_DIR/deb-in.deb" || fail "copy"
cat >"$LAB_DIR/deb-in.sh" <<'IN'
set -u
step() { echo "== $*"; }
step user-removed; userdel mxgate 2>/dev/null; groupdel mxgate 2>/dev/null; getent passwd mxgate || echo none
step install; dpkg -i /deb-in.deb >/dev/null 2>&1; echo "rc=$?"; dpkg-query -W -f '${Status}\n' mxgate
step user; id mxgate; stat -c '%U:%G %a' /etc/mxgate/mxgate.conf
step ldd; ldd /usr/sbin/mxgate | grep -E 'lib(ssl|crypto)\.so|not found'
step ldd-tools; ldd /usr/sbin/mxgate-control /usr/bin/mxctl | grep -E 'lib(ssl|crypto)\.so|not found'
step check-nocert; /usr/sbin/mxgate --check -c /etc/mxgate/mxgate.conf 2>&1; echo "rc=$?"
mkdir -p /etc/mxgate/tls && cd /etc/mxgate/tls &&
	openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=mx1.example.net \
		-keyout mx1.example.net.rsa.key -out mx1.example.net.rsa.crt >/dev/null 2>&1 &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=mx1.example.net \
		-keyout mx1.example.net.ecdsa.key -out mx1.example.net.ecdsa.crt >/dev/null 2>&1 && cd /
step check; /usr/sbin/mxgate --check -c /etc/mxgate/mxgate.conf 2>&1; echo "rc=$?"
step mxctl; /usr/bin/mxctl -c /etc/mxgate/mxgate.conf help >/dev/null 2>&1; echo "rc=$?"
step verify; systemd-analyze verify --man=no /lib/systemd/system/mxgate.service /lib/systemd/system/mxgate-control.service 2>&1; echo "rc=$?"
step man; man -w mxgate.conf mxgate mxgate-control mxctl 2>&1
step enable; systemctl enable mxgate.service mxgate-control.service >/dev/null 2>&1; echo "rc=$?"; ls /etc/systemd/system/multi-user.target.wants/ | grep mxgate
step remove; dpkg -r mxgate >/dev/null 2>&1; echo "rc=$?"; ls /usr/sbin/mxgate 2>&1; ls /etc/mxgate/mxgate.conf
step purge; dpkg -P mxgate >/dev/null 2>&1; echo "rc=$?"; ls /etc/mxgate/mxgate.conf 2>&1
step purge-links; find /etc/systemd/system -name 'mxgate*.service' 2>&1
IN
res=$(timeout -k 5 300 unshare --mount --propagation private bash -c '
	set -e
	T=$1 LAB_DIR=$2
	mount -t tmpfs tmpfs "$T"
	mkdir "$T/u" "$T/w" "$T/r"
	mount -t overlay overlay -o lowerdir=/,upperdir="$T/u",workdir="$T/w" "$T/r"
	mount --rbind /proc "$T/r/proc"
	mount --rbind /dev "$T/r/dev"
	mount -t tmpfs tmpfs "$T/r/var/cache/mxgate"     # the build cache is not there
	mount -t tmpfs tmpfs "$T/r/run"
	cp "$LAB_DIR/deb-in.deb" "$T/r/deb-in.deb"
	cp "$LAB_DIR/deb-in.sh" "$T/r/deb-in.sh"
	chroot "$T/r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 bash /deb-in.sh
' _ "$T" "$LAB_DIR" 2>&1)
echo "$res" >"$LAB_DIR/deb-in.out"
# the section of res after "== NAME" up to the next "=="
sect() { echo "$res" | awk -v s="== $1" '$0 == s { on = 1; next } /^== / { on = 0 } on'; }

[ "$(sect user-removed)" = none ] || fail "the user could not be removed in the chroot: $(sect user-removed)"
s=$(sect install)
echo "$s" | grep -qx 'rc=0' && echo "$s" | grep -qx 'install ok installed' || fail "dpkg -i: $s"
ok "dpkg -i with the machine's packages: installed"
sect user | grep -q 'uid=.*(mxgate) gid=.*(mxgate)' || fail "postinst made no mxgate user: $(sect user)"
sect user | grep -qx 'root:mxgate 640' || fail "mxgate.conf: $(sect user)"
ok "postinst: mxgate user and group, mxgate.conf root:mxgate 0640"
s=$(sect ldd)
echo "$s" | grep -q 'libssl.so.0 => /usr/lib/mxgate/boringssl/libssl.so.0 ' &&
	echo "$s" | grep -q 'libcrypto.so.0 => /usr/lib/mxgate/boringssl/libcrypto.so.0 ' || fail "ldd mxgate: $s"
s="$s"$'\n'$(sect ldd-tools)
[ "$(echo "$s" | grep -c .)" -ge 4 ] && ! echo "$s" | grep -v '=> /usr/lib/mxgate/boringssl/lib' ||
	fail "ldd: a library from elsewhere or missing: $s"
ok "the three programs load the package's BoringSSL (the build cache hidden)"
s=$(sect check-nocert)
echo "$s" | grep -q 'rc=2' && echo "$s" | grep -q 'mx1.example.net.rsa.crt' ||
	fail "--check without certificates: $s"
s=$(sect check)
echo "$s" | grep -qx 'rc=0' || fail "--check of the installed configuration: $s"
ok "mxgate --check: refuses the shipped configuration without its certificates, accepts it with them"
sect mxctl | grep -qx 'rc=0' || fail "mxctl help: $(sect mxctl)"
s=$(sect verify)
[ "$s" = "rc=0" ] || fail "systemd-analyze verify of the installed units: $s"
ok "installed units: systemd-analyze verify clean"
s=$(sect man)
for p in man5/mxgate.conf.5.gz man8/mxgate.8.gz man8/mxgate-control.8.gz man1/mxctl.1.gz; do
	echo "$s" | grep -qx "/usr/share/man/$p" || fail "man -w: $p missing: $s"
done
ok "man finds the four pages"
s=$(sect remove)
echo "$s" | grep -qx 'rc=0' && echo "$s" | grep -q 'cannot access.*/usr/sbin/mxgate' &&
	echo "$s" | grep -qx '/etc/mxgate/mxgate.conf' || fail "dpkg -r: $s"
s=$(sect purge)
echo "$s" | grep -qx 'rc=0' && echo "$s" | grep -q 'cannot access.*mxgate.conf' || fail "dpkg -P: $s"
ok "dpkg -r keeps the conffiles, dpkg -P removes them"
[ "$(sect enable | head -1)" = rc=0 ] && [ "$(sect enable | tail -n +2 | sort | tr '\n' ' ')" = "mxgate-control.service mxgate.service " ] ||
	fail "systemctl enable in the chroot: $(sect enable)"
[ -z "$(sect purge-links)" ] || fail "dpkg -P left the units' enable links: $(sect purge-links)"
ok "units enabled by the operator: dpkg -P leaves no (dangling) enable link"
[ "$(ls -d /usr/sbin/mxgate /etc/mxgate 2>/dev/null)" = "$host_had" ] ||
	fail "the package leaked onto the machine: $(ls -d /usr/sbin/mxgate /etc/mxgate 2>/dev/null)"
pass
