# shellcheck shell=bash
# haraka.sh - make bench's Haraka peer: Haraka (from the npm registry) with
# its smtp_forward plugin relaying to smtp-sink. Sourced by
# tests/bench/bench.sh, which provides PEER_ADDR, PEER_PORT, SINK_PORT,
# PEER_HOSTNAME, IDLE_MAX, the certificates and HARAKA_CACHE.
#
# Haraka is installed once with npm into HARAKA_CACHE (/var/cache/mxbench-
# haraka by default; peer_haraka_setup, called by bench.sh's set-up step),
# a pinned version. Each run has its own Haraka directory (haraka -c DIR:
# config/, plugins/) under the run directory. Haraka runs in the
# foreground, one Node.js process (nodes=0: no cluster), in bench.sh's
# network namespace and cgroup, pinned to the server core. What a postmaster
# would set for this role:
#   - listen on PEER_ADDR:PEER_PORT, host name PEER_HOSTNAME;
#   - plugins: tls (STARTTLS with the bench's certificate, ECDSA or RSA,
#     one at a time), rcpt_to.in_host_list (the sink's domain is ours),
#     queue/smtp_forward (each message is forwarded to the sink before the
#     client gets its reply to the end of DATA);
#   - no DNS: Haraka's core asks DNS for the client's name unless a
#     lookup_rdns hook answers; a three-line local plugin (mxbench_nodns)
#     answers with the address itself, as a postmaster without rDNS checks
#     would do. No DNS-based plugin (dnsbl, spf, mail_from.is_resolvable).
#   - no TLS session tickets (nothing resumes: like the other servers).

# Haraka 3.3.4 wants Node.js 20 or later; 3.1.1 is the last for Node.js 18
# (Debian 12's own nodejs). The table names the version that ran.
node_major=$(node --version 2>/dev/null | sed -n 's/^v\([0-9]*\).*/\1/p')
if [ "${node_major:-0}" -ge 20 ]; then
	HARAKA_VERSION=${HARAKA_VERSION:-3.3.4}
else
	HARAKA_VERSION=${HARAKA_VERSION:-3.1.1}
fi
HARAKA_CACHE=${HARAKA_CACHE:-/var/cache/mxbench-haraka}

# The haraka command of the cached install, or nothing.
haraka_js() {
	local f=$HARAKA_CACHE/$HARAKA_VERSION/node_modules/Haraka/bin/haraka
	[ -f "$f" ] && echo "$f"
}

# Install Haraka from the npm registry into the cache if it is not there (bounded).
peer_haraka_setup() {
	local dir=$HARAKA_CACHE/$HARAKA_VERSION
	[ -n "$(haraka_js)" ] && return 0
	# Debian's nodejs comes without npm (NodeSource's has it): install Debian's then
	command -v npm >/dev/null || "$REPO/deploy/deps.sh" npm >&2 || return 1
	mkdir -p "$dir" || return 1
	timeout -k 10 600 npm install --prefix "$dir" --no-audit --no-fund --omit=optional \
		--loglevel=error "Haraka@$HARAKA_VERSION" >"$dir/npm.log" 2>&1 ||
		{ tail -n 5 "$dir/npm.log" >&2; return 1; }
	[ -n "$(haraka_js)" ]
}

# Why the peer cannot run here (on stdout), or nothing.
peer_haraka_missing() {
	command -v node >/dev/null || { echo "node is not installed (make deps: nodejs)"; return; }
	[ -n "$(haraka_js)" ] || echo "Haraka $HARAKA_VERSION is not installed in $HARAKA_CACHE (npm install failed)"
}

# Version string for the table.
peer_haraka_version() { echo "Haraka $HARAKA_VERSION (node $(node --version 2>/dev/null))"; }

# Write the Haraka directory for key type $2 (ecdsa|rsa) in directory $1.
peer_haraka_config() {
	local dir=$1 key=$2
	mkdir -p "$dir/config" "$dir/plugins" || return 1
	# Haraka's shipped defaults (what haraka -i installs), then ours on top
	cp -r "$(dirname "$(haraka_js)")/../config/." "$dir/config/" || return 1
	cat >"$dir/config/smtp.ini" <<EOF
; make bench: one Node.js process, no cluster
listen=$PEER_ADDR:$PEER_PORT
nodes=0
inactivity_timeout=300
daemonize=false
EOF
	echo "$PEER_HOSTNAME" >"$dir/config/me"
	printf 'tls\nmxbench_nodns\nrcpt_to.in_host_list\nqueue/smtp_forward\n' >"$dir/config/plugins"
	printf 'backend.lab.example\n' >"$dir/config/host_list"
	cat >"$dir/config/smtp_forward.ini" <<EOF
host=127.0.0.1
port=$SINK_PORT
enable_tls=false
EOF
	cat >"$dir/config/tls.ini" <<EOF
[main]
key=$CERT_DIR/$key.key
cert=$CERT_DIR/$key.crt
minVersion=TLSv1.2
EOF
	cat >"$dir/plugins/mxbench_nodns.js" <<'EOF'
// make bench: no reverse DNS lookup of the client; its address is its name
exports.hook_lookup_rdns = function (next, connection) {
    next(OK, connection.remote.ip)
}
EOF
}

# The command that runs Haraka in the foreground (exec'd by bench.sh).
peer_haraka_cmd() { echo node "$(haraka_js)" -c "$1"; }

# Stop Haraka: nothing of its own to do (status 1); bench.sh's SIGTERM to
# the processes of its cgroup is Haraka's own way to stop.
peer_haraka_stop() { return 1; }

# The logs worth showing when it fails.
peer_haraka_logs() { echo ""; }
