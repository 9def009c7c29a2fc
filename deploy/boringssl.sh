#!/usr/bin/env bash
# boringssl.sh - Debian's BoringSSL rebuilt without OPENSSL_SMALL, cached
# machine-wide. mxgate and its tools link against this build; the headers
# of the installed android-libboringssl-dev (/usr/include/android) stay the
# API, since OPENSSL_SMALL changes no public header.
#
#   boringssl.sh dir     print the cache directory of this recipe (no build;
#                        cheap: the Makefile calls it on every run)
#   boringssl.sh build   build into that directory unless it is there
#                        (make deps); silent when it is
#   boringssl.sh stock   print the directory of Debian's own (SMALL) build
#
# Recipe (the functions write_sources and build_in below: the cache key is
# the source version and the SHA-256 of their text as bash prints it with
# declare -f, so comments and messages elsewhere in this file change no key):
#   1. The version is that of the installed android-libboringssl-dev
#      (its source package android-platform-external-boringssl).
#   2. A private apt configuration in the build directory: one deb-src
#      line for each Debian archive the machine's own apt sources name
#      (apt-get indextargets, Origin: Debian), its own lists directory and
#      no binary caches. /etc/apt and /var/lib/apt/lists are not touched.
#      apt-get source fetches and unpacks that exact version.
#   3. debian/rules: the line "-DOPENSSL_SMALL \" goes, nothing else
#      (hardening flags, clang, lld, -O2 stay Debian's). debian/libssl.mk:
#      libssl's run path becomes $ORIGIN instead of
#      /usr/lib/x86_64-linux-gnu/android, so that the rebuilt libssl loads
#      the rebuilt libcrypto next to it and never Debian's.
#   4. dpkg-buildpackage -B -uc -us (DEB_BUILD_OPTIONS=parallel=N): the
#      build dependencies must be installed (the Makefile's
#      BSSL_BUILD_DEPS; dpkg-checkbuilddeps stops otherwise), and Debian's
#      own test suites (crypto_test, ssl_test, bssl-tool genrsa) run
#      against the rebuilt libraries, as in any Debian build.
#   5. The libraries come out of the built android-libboringssl .deb
#      (dpkg-deb -x) into lib/, with the .debs in debs/ (the -dbgsym ones
#      hold the debug symbols, for perf) and the log in build.log.
#   6. Checks: the build is a normal one (deploy/bssl_build_kind.py finds
#      the nistz256 table that OPENSSL_SMALL removes), the sonames are
#      libcrypto.so.0 and libssl.so.0, libssl's run path is $ORIGIN.
#   7. The directory is built under CACHE/.tmp-* (same file system) and
#      renamed into place, under a lock: an interrupted build leaves no
#      half cache, and two builds at once wait for each other.
#
# Environment: MXGATE_CACHE (/var/cache/mxgate) is the cache root;
# BSSL_JOBS (nproc) the parallel jobs. A failed build exits non-zero with
# the reason and keeps its log in CACHE/boringssl-<key>.failed.log.
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
HERE=$(dirname "$SELF")
CACHE=${MXGATE_CACHE:-/var/cache/mxgate}
SRCPKG=android-platform-external-boringssl
DEVPKG=android-libboringssl-dev
STOCK_DIR=/usr/lib/x86_64-linux-gnu/android

# Print an error and stop.
die() {
	echo "boringssl: $*" >&2
	exit 1
}

# The source version of the installed android-libboringssl-dev (empty if absent).
src_version() {
	dpkg-query -W -f='${source:Version}' "$DEVPKG" 2>/dev/null || true
}

# SHA-256 of the recipe: the two functions that fetch, patch and build.
recipe_sha256() {
	{
		echo "$SRCPKG $STOCK_DIR"
		declare -f write_sources build_in
	} | sha256sum | cut -d' ' -f1
}

# The cache key: source version (':' of an epoch made '_') and the recipe hash.
cache_key() {
	local ver h
	ver=$(src_version)
	[ -n "$ver" ] || die "$DEVPKG is not installed: run 'make deps' (as root)"
	h=$(recipe_sha256 | cut -c1-12)
	echo "boringssl-${ver//:/_}-$h"
}

# Write deb-src lines for the Debian archives the machine's apt sources use.
write_sources() {
	local out=$1 signed=""
	[ -r /usr/share/keyrings/debian-archive-keyring.gpg ] &&
		signed="[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
	apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' \
		'Identifier: Packages' 'Origin: Debian' | sort -u |
		awk -v s="$signed" 'NF == 3 { print "deb-src " s $1 " " $2 " " $3 }' >"$out"
	[ -s "$out" ] || die "no Debian archive in the machine's apt sources (apt-get indextargets found none; run apt-get update)"
}

# The whole build in the temporary directory $1; the result goes to $1/out.
build_in() {
	local tmp=$1 ver=$2 jobs=$3 apt src deb t0
	apt=$tmp/apt
	mkdir -p "$apt/lists/partial" "$apt/parts" "$tmp/src" "$tmp/out/lib" "$tmp/out/debs"
	write_sources "$apt/parts/deb-src.list"
	local aptopt=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt/parts"
		-o "Dir::State::Lists=$apt/lists" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
		-o APT::Sandbox::User=root -q)
	t0=$(date +%s)
	echo "== apt-get update (private deb-src list: $(tr '\n' ';' <"$apt/parts/deb-src.list"))"
	apt-get "${aptopt[@]}" update
	echo "== apt-get source $SRCPKG=$ver"
	(cd "$tmp/src" && apt-get "${aptopt[@]}" source "$SRCPKG=$ver")
	src=$(find "$tmp/src" -mindepth 1 -maxdepth 1 -type d | head -1)
	[ -f "$src/debian/rules" ] || die "apt-get source unpacked no debian/rules"
	echo "== recipe: drop -DOPENSSL_SMALL from debian/rules; libssl run path \$ORIGIN"
	grep -q -- '-DOPENSSL_SMALL \\$' "$src/debian/rules" ||
		die "debian/rules of $ver has no '-DOPENSSL_SMALL \\' line: recipe out of date"
	sed -i '/-DOPENSSL_SMALL \\$/d' "$src/debian/rules"
	sed -i "s|-Wl,-rpath=/usr/lib/\$(DEB_HOST_MULTIARCH)/android|-Wl,-rpath='\$\$ORIGIN'|" \
		"$src/debian/libssl.mk"
	! grep -rq OPENSSL_SMALL "$src/debian" || die "OPENSSL_SMALL still set in debian/"
	grep -q "rpath='\$\$ORIGIN'" "$src/debian/libssl.mk" || die "libssl.mk run path not patched"
	echo "== dpkg-buildpackage -B (jobs $jobs)"
	(cd "$src" && DEB_BUILD_OPTIONS="parallel=$jobs" nice -n 10 dpkg-buildpackage -B -uc -us)
	for deb in "$tmp/src"/*.deb; do
		cp "$deb" "$tmp/out/debs/"
	done
	deb=$(ls "$tmp/src"/android-libboringssl_*.deb)
	dpkg-deb -x "$deb" "$tmp/x"
	cp -a "$tmp/x$STOCK_DIR/libcrypto.so.0" "$tmp/x$STOCK_DIR/libssl.so.0" "$tmp/out/lib/"
	ln -s libcrypto.so.0 "$tmp/out/lib/libcrypto.so"
	ln -s libssl.so.0 "$tmp/out/lib/libssl.so"
	echo "== checks"
	python3 "$HERE/bssl_build_kind.py" --expect full "$tmp/out/lib/libcrypto.so.0" ||
		die "the rebuilt libcrypto still looks like an OPENSSL_SMALL build"
	readelf -d "$tmp/out/lib/libcrypto.so.0" | grep -q 'soname: \[libcrypto.so.0\]' || die "libcrypto soname"
	readelf -d "$tmp/out/lib/libssl.so.0" | grep -q 'soname: \[libssl.so.0\]' || die "libssl soname"
	readelf -d "$tmp/out/lib/libssl.so.0" | grep -q 'RUNPATH.*\[\$ORIGIN\]' || die "libssl run path"
	{
		echo "source=$SRCPKG"
		echo "version=$ver"
		echo "recipe_sha256=$(recipe_sha256)"
		echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "build_seconds=$(($(date +%s) - t0))"
		echo "jobs=$jobs"
		echo "host=$(hostname) cpus=$(nproc)"
		echo "cc=$(clang --version | head -1)"
	} >"$tmp/out/BUILDINFO"
	touch "$tmp/out/lib/.stamp"
}

# Build the cache directory for this recipe unless it exists.
cmd_build() {
	local key dir ver jobs rc
	key=$(cache_key)
	dir=$CACHE/$key
	[ -f "$dir/lib/.stamp" ] && return 0
	[ "$(id -u)" = 0 ] || [ -w "$CACHE" ] ||
		die "$dir is missing and building it needs root: run 'make deps' as root"
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.boringssl.lock"
	flock 9
	[ -f "$dir/lib/.stamp" ] && return 0       # built by another run while we waited
	rm -rf "$CACHE"/.tmp-boringssl-*           # left by a killed build (we hold the lock)
	ver=$(src_version)
	jobs=${BSSL_JOBS:-$(nproc)}
	tmp=$(mktemp -d "$CACHE/.tmp-$key.XXXXXX")   # global: the EXIT trap needs it
	trap 'rm -rf "$tmp"' EXIT
	trap 'exit 130' INT TERM HUP
	echo "boringssl: building $SRCPKG $ver without OPENSSL_SMALL into $dir" \
		"(once per machine; about 9 minutes on 2 cores; log $tmp/build.log)"
	local t0=$SECONDS
	set +e
	(set -euo pipefail; build_in "$tmp" "$ver" "$jobs") >"$tmp/build.log" 2>&1
	rc=$?
	set -e
	if [ $rc -ne 0 ]; then
		cp "$tmp/build.log" "$CACHE/$key.failed.log"
		tail -25 "$CACHE/$key.failed.log" >&2
		die "build of $SRCPKG $ver FAILED (exit $rc); full log: $CACHE/$key.failed.log"
	fi
	mv "$tmp/build.log" "$tmp/out/build.log"
	chmod -R a+rX "$tmp/out"   # readable by every user whatever root's umask
	rm -rf "$dir"      # a directory without the stamp: not a complete build
	mv -T "$tmp/out" "$dir"
	rm -f "$CACHE/$key.failed.log"
	echo "boringssl: built in $((SECONDS - t0)) s: $dir"
}

case "${1:-}" in
dir) echo "$CACHE/$(cache_key)" ;;
stock) echo "$STOCK_DIR" ;;
build) cmd_build ;;
*) die "usage: boringssl.sh dir|build|stock" ;;
esac
