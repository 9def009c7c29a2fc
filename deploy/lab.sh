#!/usr/bin/env bash
# lab.sh - the mxgate lab: a network namespace of our own in which mxgate
# runs with two DPDK net_tap ports, whose kernel sides play the Internet
# client (mxout: 198.18.0.1, 2001:2::1) and the backend MTA (mxin:
# 198.18.1.1, 2001:2:0:1::1). Nothing outside the namespace is touched:
# no host interface, no host route, no name resolution.
#
#   deploy/lab.sh up           start mxgate in the namespace, wait until it answers ping
#   deploy/lab.sh down         stop mxgate, kill what is left in the namespace, delete it
#   deploy/lab.sh exec CMD...  run CMD inside the namespace
#   deploy/lab.sh status       namespace, pid, interfaces
#   deploy/lab.sh stats        SIGUSR1, wait for the stats file to be renewed, print it
#   deploy/lab.sh ctl ARGS...  run build/mxctl against the lab (e.g. ctl status, ctl policy list)
#
# With LAB_CONTROL=1 (the default; tests/lab/run.sh sets 0 and tests opt in)
# "up" also starts redis-server on a Unix socket under LAB_DIR (no TCP port)
# and mxgate-control, both outside the namespace: the management side.
#
# Environment: LAB_NS (mxlab), LAB_DIR (<repo>/build/lab), LAB_WORKERS (1 or
# 2), LAB_CONF_EXTRA (config lines appended), MXGATE (<repo>/build/mxgate),
# LAB_EAL_EXTRA (more EAL options, split on white space), LAB_PY
# (/usr/bin/python3, used when the iputils ping is not installed).
set -u

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB_NS=${LAB_NS:-mxlab}
LAB_DIR=${LAB_DIR:-$REPO/build/lab}
LAB_WORKERS=${LAB_WORKERS:-1}
LAB_CONF_EXTRA=${LAB_CONF_EXTRA:-}
LAB_EAL_EXTRA=${LAB_EAL_EXTRA:-}
MXGATE=${MXGATE:-$REPO/build/mxgate}
LAB_PY=${LAB_PY:-/usr/bin/python3}
UP_TIMEOUT=30          # seconds for the whole of "up"
TERM_TIMEOUT=5         # seconds between SIGTERM and SIGKILL in "down"

LAB_SINK=${LAB_SINK:-1}          # start smtp-sink as the backend
LAB_SINK_OPTS=${LAB_SINK_OPTS:-}  # e.g. "-r RCPT" to make it fail a stage
CERTS=${LAB_CERTS:-$REPO/build/lab/certs}
MAILDIR=$LAB_DIR/mail

LAB_CONTROL=${LAB_CONTROL:-1}     # start redis-server and mxgate-control
LAB_REDIS=${LAB_REDIS:-}          # unix:/path of a Redis to share (a second appliance): none started
LAB_METRICS=${LAB_METRICS:-127.0.0.1:9465}
MXCTL=${MXCTL:-$REPO/build/mxctl}
MXCONTROL=${MXCONTROL:-$REPO/build/mxgate-control}

PIDFILE=$LAB_DIR/mxgate.pid
RCFILE=$LAB_DIR/mxgate.rc
LOG=$LAB_DIR/mxgate.log
CONF=$LAB_DIR/mxgate.conf
STATS=$LAB_DIR/stats.prom

msg() { printf 'lab: %s\n' "$*" >&2; }
die() { msg "$*"; exit 1; }

# Refuse names that could escape into paths or options.
case $LAB_NS in
	''|*[!A-Za-z0-9_.-]*|-*) die "LAB_NS '$LAB_NS': use letters, digits, '_', '.', '-'" ;;
esac

need_root() { [ "$(id -u)" = 0 ] || die "must run as root (network namespaces, taps, nftables)"; }

# True if our namespace exists.
ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF -- "$LAB_NS"; }

# True if pid is a live process (a zombie counts as dead).
alive() {
	local st
	[ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# True if pid is alive and is the mxgate this lab started (not a reused pid).
is_ours() {
	alive "$1" || return 1
	tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$CONF"
}

# The pid from the pid file, or nothing.
lab_pid() { [ -s "$PIDFILE" ] && head -n1 "$PIDFILE" 2>/dev/null | tr -dc 0-9; }

# One ICMP echo with a 1 s wait, from inside the namespace; v6 if addr has ':'.
lab_ping1() {
	local fam=-4
	case $1 in *:*) fam=-6 ;; esac
	if command -v ping >/dev/null 2>&1; then
		ip netns exec "$LAB_NS" ping "$fam" -n -q -c1 -W1 "$1" >/dev/null 2>&1
	else
		ip netns exec "$LAB_NS" "$LAB_PY" "$REPO/tests/lab/ping.py" -q -c1 -W1 "$1" >/dev/null 2>&1
	fi
}

# Last lines of the mxgate log, indented.
log_tail() {
	if [ -s "$LOG" ]; then
		msg "last ${1:-20} lines of $LOG:"
		tail -n "${1:-20}" "$LOG" | sed 's/^/  | /' >&2
	else
		msg "($LOG is empty or missing)"
	fi
}

# Stop mxgate and delete the namespace; quiet if nothing is there.
do_down() {
	local pid i p left
	stop_pidfile "$LAB_DIR/control.pid"
	stop_pidfile "$LAB_DIR/redis.pid"
	pid=$(lab_pid)
	if [ -n "$pid" ] && is_ours "$pid"; then
		kill -TERM "$pid" 2>/dev/null
		for ((i = 0; i < TERM_TIMEOUT * 20; i++)); do
			alive "$pid" || break
			sleep 0.05
		done
		if alive "$pid"; then
			msg "mxgate (pid $pid) still alive ${TERM_TIMEOUT}s after SIGTERM: SIGKILL"
			kill -KILL "$pid" 2>/dev/null
			for ((i = 0; i < 40; i++)); do alive "$pid" || break; sleep 0.05; done
		fi
		# the wrapper writes the exit status right after mxgate ends
		for ((i = 0; i < 20; i++)); do [ -s "$RCFILE" ] && break; sleep 0.05; done
		[ -s "$RCFILE" ] && msg "mxgate exited with status $(cat "$RCFILE")"
	fi
	if ns_exists; then
		# anything else still running inside: clients, a crashed mxgate's children
		left=$(ip netns pids "$LAB_NS" 2>/dev/null)
		if [ -n "$left" ]; then
			for p in $left; do kill -TERM "$p" 2>/dev/null; done
			for ((i = 0; i < 40; i++)); do
				left=$(ip netns pids "$LAB_NS" 2>/dev/null)
				[ -z "$left" ] && break
				sleep 0.05
			done
			for p in $left; do kill -KILL "$p" 2>/dev/null; done
			for ((i = 0; i < 40; i++)); do
				[ -z "$(ip netns pids "$LAB_NS" 2>/dev/null)" ] && break
				sleep 0.05
			done
		fi
		# deleting the namespace drops its nft tables, taps and veths
		ip netns del "$LAB_NS" || { msg "could not delete namespace $LAB_NS"; return 1; }
		msg "namespace $LAB_NS deleted"
	fi
	rm -f "$PIDFILE"
	# EAL's runtime directory (default prefix; empty with --no-shconf --no-telemetry):
	# removed when no other lab's mxgate still has something in it
	rmdir /var/run/dpdk/rte 2>/dev/null
	return 0
}

# Failure during "up": say why, show the log, tear down, exit 1.
up_fail() {
	msg "up failed: $*"
	log_tail 20
	do_down >/dev/null 2>&1
	msg "lab torn down"
	exit 1
}

# The lab's TLS certificate: self-signed RSA-2048 for mx.lab.example, made once.
make_certs() {
	mkdir -p "$CERTS" || die "cannot create $CERTS"
	[ -s "$CERTS/mx.lab.example.crt" ] && [ -s "$CERTS/mx.lab.example.key" ] && return 0
	openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=mx.lab.example \
		-addext subjectAltName=DNS:mx.lab.example \
		-keyout "$CERTS/mx.lab.example.key.tmp" -out "$CERTS/mx.lab.example.crt.tmp" \
		>/dev/null 2>&1 || die "openssl could not make the lab certificate"
	mv "$CERTS/mx.lab.example.key.tmp" "$CERTS/mx.lab.example.key" &&
	mv "$CERTS/mx.lab.example.crt.tmp" "$CERTS/mx.lab.example.crt"
}

# Postfix's smtp-sink as the backend MTA on 198.18.1.1:25, one file per message in $MAILDIR.
start_sink() {
	local i
	mkdir -p "$MAILDIR" && chmod 1777 "$MAILDIR" || return 1
	rm -f "$MAILDIR"/* 2>/dev/null
	# shellcheck disable=SC2086  # LAB_SINK_OPTS is a list of options
	ip netns exec "$LAB_NS" smtp-sink -u nobody -h backend.lab.example \
		-d "$MAILDIR/%Y%m%d%H%M%S." $LAB_SINK_OPTS 198.18.1.1:25 256 \
		>"$LAB_DIR/smtp-sink.log" 2>&1 </dev/null &
	echo $! >"$LAB_DIR/smtp-sink.pid"
	for ((i = 0; i < 50; i++)); do
		ip netns exec "$LAB_NS" ss -Hltn 'sport = :25' 2>/dev/null | grep -q . && return 0
		sleep 0.1
	done
	return 1
}

# The management side, outside the namespace: redis-server on a Unix socket
# (no TCP port) and mxgate-control, which pushes Redis' state into mxgate.
# Both run as mxgate_user, never as root, as mxgate-control.service does
# (User=mxgate): the control socket is that user's, and so is LAB_DIR.
start_control() {
	local i
	# setpriv execs the program: $! is its pid, which "down" stops
	local as_user=(setpriv --reuid="$LAB_USER" --regid="$(id -g "$LAB_USER")" --init-groups)
	[ -x "$MXCONTROL" ] || { msg "missing $MXCONTROL (make)"; return 1; }
	if [ -n "$LAB_REDIS" ]; then
		# another lab's Redis: this appliance joins its fleet
		"${as_user[@]}" "$MXCONTROL" -c "$CONF" -f >"$LAB_DIR/control.log" 2>&1 </dev/null &
		echo $! >"$LAB_DIR/control.pid"
		sleep 0.2
		alive "$(cat "$LAB_DIR/control.pid")"
		return
	fi
	rm -f "$LAB_DIR/redis.sock"
	"${as_user[@]}" redis-server --port 0 --unixsocket "$LAB_DIR/redis.sock" --unixsocketperm 700 \
		--dir "$LAB_DIR" --save '' --appendonly no --daemonize no >"$LAB_DIR/redis.log" 2>&1 </dev/null &
	echo $! >"$LAB_DIR/redis.pid"
	for ((i = 0; i < 50; i++)); do [ -S "$LAB_DIR/redis.sock" ] && break; sleep 0.1; done
	[ -S "$LAB_DIR/redis.sock" ] || return 1
	"${as_user[@]}" "$MXCONTROL" -c "$CONF" -f >"$LAB_DIR/control.log" 2>&1 </dev/null &
	echo $! >"$LAB_DIR/control.pid"
	sleep 0.2
	alive "$(cat "$LAB_DIR/control.pid")"
}

# Stop a management-side process by its pid file (SIGTERM, then SIGKILL).
stop_pidfile() {
	local f=$1 pid i
	[ -s "$f" ] || return 0
	pid=$(tr -dc 0-9 <"$f")
	if [ -n "$pid" ] && alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null
		for ((i = 0; i < 60; i++)); do alive "$pid" || break; sleep 0.05; done
		alive "$pid" && kill -KILL "$pid" 2>/dev/null
	fi
	rm -f "$f"
}

cmd_up() {
	local lcores pid i deadline ready ifs_ok eal
	need_root
	case $LAB_WORKERS in
		1) lcores=0@0,1@1 ;;
		2) lcores=0@0,1@1,2@0 ;;
		*) die "LAB_WORKERS must be 1 or 2, not '$LAB_WORKERS'" ;;
	esac
	[ -e "$MXGATE" ] || die "mxgate binary missing: $MXGATE (build it first, or set MXGATE)"
	[ -x "$MXGATE" ] || die "mxgate binary not executable: $MXGATE"
	[ -f "$REPO/deploy/lab.conf" ] || die "missing $REPO/deploy/lab.conf"
	ns_exists && die "namespace $LAB_NS already exists: the lab is up, or left over (deploy/lab.sh down)"
	mkdir -p "$LAB_DIR" || die "cannot create $LAB_DIR"
	rm -f "$PIDFILE" "$RCFILE" "$STATS" "$LOG"

	make_certs
	{
		cat "$REPO/deploy/lab.conf"
		printf '\n# added by deploy/lab.sh\nstats_file = %s\n' "$STATS"
		printf 'tls_cert_file = %s\ntls_key_file = %s\n' "$CERTS/mx.lab.example.crt" "$CERTS/mx.lab.example.key"
		printf 'control_socket = %s\n' "$LAB_DIR/ctl.sock"
		if [ "$LAB_CONTROL" = 1 ]; then
			printf 'redis_server = %s\nmetrics_listen = %s\nappliance_id = %s\n' \
				"${LAB_REDIS:-unix:$LAB_DIR/redis.sock}" "$LAB_METRICS" "$LAB_NS"
		fi
		if [ -n "$LAB_CONF_EXTRA" ]; then printf '%s\n' "$LAB_CONF_EXTRA"; fi
	} >"$CONF" || die "cannot write $CONF"
	# mxgate drops root to mxgate_user once its ports are up: that user writes
	# stats_file and removes the control socket in LAB_DIR (nothing else changes)
	local user
	user=$(awk -F= '{ k = $1; gsub(/[ \t]/, "", k) } k == "mxgate_user" { v = $2; gsub(/[ \t]/, "", v); u = v }
		END { print u ? u : "mxgate" }' "$CONF")
	id -u "$user" >/dev/null 2>&1 ||
		die "no user '$user' for mxgate_user (make deps creates mxgate: deploy/deps.sh)"
	chown "$user" "$LAB_DIR" || die "cannot give $LAB_DIR to $user"
	LAB_USER=$user
	setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups test -w "$LAB_DIR/." ||
		die "$user cannot write $LAB_DIR (a parent folder is closed to it: chmod o+x)"

	deadline=$((SECONDS + UP_TIMEOUT))
	trap 'up_fail "interrupted"' INT TERM HUP
	ip netns add "$LAB_NS" || die "ip netns add $LAB_NS failed"
	ip -n "$LAB_NS" link set lo up || up_fail "cannot set lo up in $LAB_NS"

	# shellcheck disable=SC2206,SC2054  # commas belong to the EAL arguments
	eal=(--no-huge --no-pci -m 512 --no-shconf --no-telemetry '--log-level=*:notice'
	     --vdev net_tap0,iface=mxout --vdev net_tap1,iface=mxin
	     --lcores "$lcores" $LAB_EAL_EXTRA)
	# A wrapper in its own session starts mxgate inside the namespace,
	# records its pid, and writes its exit status when it ends.
	setsid bash -c 'set -m; pidf=$1 rcf=$2; shift 2
		"$@" &
		echo $! >"$pidf"
		exec 2>/dev/null   # no job notices in the log
		wait $!
		echo $? >"$rcf"' mxgate-lab "$PIDFILE" "$RCFILE" \
		ip netns exec "$LAB_NS" "$MXGATE" "${eal[@]}" -- -c "$CONF" \
		>"$LOG" 2>&1 </dev/null &

	for ((i = 0; i < 100; i++)); do [ -s "$PIDFILE" ] && break; sleep 0.02; done
	pid=$(lab_pid)
	[ -n "$pid" ] || up_fail "mxgate did not start (no pid file)"

	# the tap PMD creates mxout and mxin when the EAL probes the vdevs
	ifs_ok=
	while [ $SECONDS -lt $deadline ]; do
		alive "$pid" || up_fail "mxgate exited during start-up (status $(cat "$RCFILE" 2>/dev/null || echo '?'))"
		if ip -n "$LAB_NS" link show mxout >/dev/null 2>&1 &&
		   ip -n "$LAB_NS" link show mxin >/dev/null 2>&1; then
			ifs_ok=1
			break
		fi
		sleep 0.1
	done
	[ -n "$ifs_ok" ] || up_fail "tap interfaces mxout/mxin did not appear within ${UP_TIMEOUT}s"

	ip -n "$LAB_NS" addr add 198.18.0.1/24 dev mxout &&
	ip -n "$LAB_NS" -6 addr add 2001:2::1/64 dev mxout nodad &&
	ip -n "$LAB_NS" link set mxout up &&
	ip -n "$LAB_NS" addr add 198.18.1.1/24 dev mxin &&
	ip -n "$LAB_NS" -6 addr add 2001:2:0:1::1/64 dev mxin nodad &&
	ip -n "$LAB_NS" link set mxin up ||
		up_fail "cannot configure mxout/mxin in $LAB_NS"

	if [ "$LAB_SINK" = 1 ]; then
		start_sink || up_fail "smtp-sink did not start on 198.18.1.1:25"
	fi
	if [ "$LAB_CONTROL" = 1 ]; then
		start_control || up_fail "redis-server or mxgate-control did not start (see $LAB_DIR/control.log)"
	fi

	ready=
	while [ $SECONDS -lt $deadline ]; do
		alive "$pid" || up_fail "mxgate exited during start-up (status $(cat "$RCFILE" 2>/dev/null || echo '?'))"
		if grep -q 'mxgate: ready' "$LOG" 2>/dev/null &&
		   lab_ping1 198.18.0.2 && lab_ping1 2001:2::2; then
			ready=1
			break
		fi
		sleep 0.1
	done
	if [ -z "$ready" ]; then
		grep -q 'mxgate: ready' "$LOG" 2>/dev/null ||
			up_fail "no 'mxgate: ready' line in $LOG within ${UP_TIMEOUT}s"
		up_fail "198.18.0.2 / 2001:2::2 did not answer ping within ${UP_TIMEOUT}s"
	fi
	trap - INT TERM HUP

	local me="deploy/lab.sh"
	[ "$LAB_NS" != mxlab ] && me="LAB_NS=$LAB_NS $me"
	msg "up: mxgate pid $pid in namespace $LAB_NS, $LAB_WORKERS worker(s); log $LOG"
	cat >&2 <<EOF
  talk to it:
    $me exec $LAB_PY $REPO/tests/lab/nc.py 198.18.0.2 7      (echo, IPv4)
    $me exec $LAB_PY $REPO/tests/lab/nc.py 2001:2::2 7       (echo, IPv6)
EOF
	command -v nc >/dev/null 2>&1 &&
		echo "    $me exec nc 198.18.0.2 7" >&2
	cat >&2 <<EOF
    $me exec ping 198.18.0.2    ($LAB_PY tests/lab/ping.py if ping is not installed)
    $me stats                   (counters)
    $me down
EOF
}

cmd_down() {
	need_root
	do_down
}

cmd_exec() {
	need_root
	[ $# -gt 0 ] || die "usage: lab.sh exec CMD [ARGS...]"
	ns_exists || die "namespace $LAB_NS does not exist (deploy/lab.sh up)"
	exec ip netns exec "$LAB_NS" "$@"
}

cmd_status() {
	local pid rc=0 p
	need_root
	if ns_exists; then
		echo "namespace: $LAB_NS"
	else
		echo "namespace: $LAB_NS (absent)"
		rc=3
	fi
	pid=$(lab_pid)
	if [ -z "$pid" ]; then
		echo "mxgate: no pid file ($PIDFILE)"
		rc=3
	elif is_ours "$pid"; then
		echo "mxgate: pid $pid, alive"
	else
		echo "mxgate: pid $pid, not running$([ -s "$RCFILE" ] && echo ", exit status $(cat "$RCFILE")")"
		rc=3
	fi
	for p in redis control; do
		[ -s "$LAB_DIR/$p.pid" ] || continue
		pid=$(tr -dc 0-9 <"$LAB_DIR/$p.pid")
		echo "$([ $p = control ] && echo mxgate-control || echo redis-server): pid $pid, $(alive "$pid" && echo alive || echo 'not running')"
	done
	if ns_exists; then
		echo "interfaces:"
		ip -n "$LAB_NS" -br addr show 2>/dev/null | sed 's/^/  /'
	fi
	return $rc
}

cmd_stats() {
	local pid i
	need_root
	pid=$(lab_pid)
	is_ours "$pid" || die "mxgate is not running (deploy/lab.sh up)"
	# mxgate renames a complete file into place: wait for a new one
	rm -f "$STATS"
	kill -USR1 "$pid" || die "cannot signal mxgate (pid $pid)"
	for ((i = 0; i < 100; i++)); do
		[ -f "$STATS" ] && break
		alive "$pid" || die "mxgate died after SIGUSR1"
		sleep 0.05
	done
	[ -f "$STATS" ] || die "no stats file $STATS within 5 s of SIGUSR1"
	cat "$STATS"
}

usage() {
	sed -n '2,/^set -u/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
	up) cmd_up "$@" ;;
	down) cmd_down "$@" ;;
	exec) cmd_exec "$@" ;;
	status) cmd_status "$@" ;;
	stats) cmd_stats "$@" ;;
	ctl) [ -f "$CONF" ] || die "no lab configuration $CONF (is the lab up?)"; exec "$MXCTL" -c "$CONF" "$@" ;;
	-h|--help|help) usage ;;
	*) msg "unknown command '$cmd'"; usage ;;
esac
