# shellcheck shell=bash
# lib.sh - helpers for the lab tests (sourced by every tests/lab/t_*.sh):
# bringing the lab up and down, running clients in the namespace, reading
# mxgate's counters, and nftables packet loss on the kernel side of mxout.
#
# A test: source this file, call lab_begin (root and binary checks, cleanup
# on any exit), lab_up with the config lines it needs, run clients, check
# counters with lab_stat, finish with pass; fail "why" stops it.

LAB_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB_SH=$LAB_REPO/deploy/lab.sh
LAB_T=$LAB_REPO/tests/lab
export LAB_NS=${LAB_NS:-mxlab}
export LAB_DIR=${LAB_DIR:-$LAB_REPO/build/lab}
export MXGATE=${MXGATE:-$LAB_REPO/build/mxgate}
export LAB_PY=${LAB_PY:-/usr/bin/python3}
export PYTHONDONTWRITEBYTECODE=1   # no __pycache__ in the work tree
LAB_TEST=$(basename "$0" .sh)

# Stop the test: say why on stdout (run.sh shows the last lines).
fail() {
	echo "FAIL: $LAB_TEST: $*"
	exit 1
}

# A check that held.
ok() { echo "ok: $*"; }

# The test passed (cleanup happens in the EXIT trap).
pass() {
	echo "PASS: $LAB_TEST"
	exit 0
}

# Preconditions and cleanup; every test calls this first.
lab_begin() {
	[ "$(id -u)" = 0 ] || fail "must run as root (network namespaces)"
	[ -x "$MXGATE" ] || fail "mxgate binary missing or not executable: $MXGATE (make)"
	mkdir -p "$LAB_DIR" || fail "cannot create $LAB_DIR"
	trap 'lab_down >/dev/null 2>&1' EXIT
	trap 'exit 143' TERM
	trap 'exit 130' INT
}

# Bring the lab up; each argument is one extra config line (on top of LAB_CONF_EXTRA).
lab_up() {
	local extra=${LAB_CONF_EXTRA:-} l
	for l in "$@"; do
		extra=${extra:+$extra$'\n'}$l
	done
	LAB_CONF_EXTRA=$extra "$LAB_SH" up
}

lab_down() { "$LAB_SH" down; }

# Run a command inside the namespace.
lab_exec() { "$LAB_SH" exec "$@"; }

# Run tests/lab/SCRIPT.py inside the namespace with the lab's python.
lab_py() {
	local script=$1
	shift
	"$LAB_SH" exec "$LAB_PY" "$LAB_T/$script" "$@"
}

# Pid of the running mxgate.
lab_pid() { head -n1 "$LAB_DIR/mxgate.pid" 2>/dev/null; }

# True while mxgate runs.
lab_alive() {
	local pid
	pid=$(lab_pid)
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null
}

# Fresh counters (SIGUSR1) into $LAB_DIR/snap.prom.
lab_snap() {
	"$LAB_SH" stats >"$LAB_DIR/snap.prom" || { echo "note: deploy/lab.sh stats failed" >&2; return 1; }
}

# Metric name for a struct net_stats field (or a full mxgate_* name). A
# label selector may follow the name: smtp_messages{result="accepted"} is
# mxgate_smtp_messages_total{result="accepted"} (common/metric_table.c).
lab_metric() {
	local base=${1%%\{*}
	case $1 in
		mxgate_*) echo "$1" ;;
		tcp_conns) echo mxgate_tcp_conns ;;
		*) echo "mxgate_${base}_total${1#"$base"}" ;;
	esac
}

# Sum of NAME over lcores in the last snapshot; NAME may carry a label
# selector (lab_metric), REASON is one for drops, LCORE for one lcore.
# Prints the sum; returns 2 (with a note on stderr) if the counter is not
# in the file at all.
lab_stat_cached() {
	local name=$1 reason=${2:-} lcore=${3:-} metric sel
	metric=$(lab_metric "$name")
	sel=${metric#"${metric%%\{*}"}
	sel=${sel#\{}
	awk -v m="${metric%%\{*}" -v sel="${sel%\}}" -v r="$reason" -v l="$lcore" '
		BEGIN { ns = split(sel, want, ",") }
		/^#/ || NF < 2 { next }
		{
			n = $0; sub(/[{ \t].*/, "", n)
			if (n != m) next
			lab = $0; sub(/[ \t]+[^ \t]+[ \t]*$/, "", lab)
			if (r != "" && index(lab, "reason=\"" r "\"") == 0) next
			if (l != "" && index(lab, "lcore=\"" l "\"") == 0) next
			for (i = 1; i <= ns; i++) if (index(lab, want[i]) == 0) next
			s += $NF; found = 1
		}
		END { printf "%.0f\n", s + 0; exit(found ? 0 : 2) }' "$LAB_DIR/snap.prom"
	local rc=$?
	[ $rc -eq 2 ] && echo "note: counter $metric${reason:+{reason=$reason\}}${lcore:+ lcore $lcore} not in the stats file" >&2
	return $rc
}

# SIGUSR1, then the sum over lcores of the labelled series METRIC{KEY="VALUE"}
# (a full mxgate_* name), 0 when no such series is printed (counters of
# labelled families appear once non-zero).
lab_stat_label() {
	local metric=$1 key=$2 val=$3
	lab_snap || return 1
	awk -v m="$metric" -v l="$key=\"$val\"" '
		/^#/ || NF < 2 { next }
		{ n = $0; sub(/[{ \t].*/, "", n); if (n == m && index($0, l) > 0) s += $NF }
		END { printf "%.0f\n", s + 0 }' "$LAB_DIR/snap.prom"
}

# SIGUSR1, then the sum of counter NAME [REASON] over all lcores.
lab_stat() {
	lab_snap || return 1
	lab_stat_cached "$@"
}

# Counter NAME on one lcore (fresh snapshot).
lab_stat_lcore() {
	lab_snap || return 1
	lab_stat_cached "$1" "" "$2"
}

# Fail unless counter NAME [REASON] (fresh snapshot) is at least MIN.
expect_stat_ge() {
	local name=$1 min=$2 reason=${3:-} v
	v=$(lab_stat "$name" "$reason") || fail "cannot read counter $name${reason:+ reason=$reason} (see above)"
	[ "$v" -ge "$min" ] || fail "counter $name${reason:+ reason=$reason} = $v, expected >= $min"
	ok "$name${reason:+ reason=$reason} = $v (>= $min)"
}

# Wait up to SECS for counter NAME to equal VALUE; fails with the last value.
wait_stat_eq() {
	local name=$1 want=$2 secs=$3 v i
	for ((i = 0; i < secs * 4; i++)); do
		v=$(lab_stat "$name") || fail "cannot read counter $name (see above)"
		[ "$v" = "$want" ] && { ok "$name = $want"; return 0; }
		sleep 0.25
	done
	fail "counter $name = $v after ${secs}s, expected $want"
}

# Random loss of PCT % on mxout, both ways, in the lab namespace.
# Input: packets from mxgate are dropped in the inet input hook: real loss.
# Output: the kernel's TCP treats a drop in the output hook as a local send
# error and sends the same segment again, so the peer would never see a gap.
# So the output chain only marks PCT % of the packets, and a netdev egress
# chain on mxout steals the marked ones (fwd to a dead-end veth, mxsink):
# the kernel counts them as sent, mxgate never receives them. Set
# NFT_LOSS_PLAIN=1 for a plain drop in the output hook instead.
LAB_LOSS_MARK=0x6d786c73
nft_loss() {
	local pct=$1
	case $pct in '' | *[!0-9]*) fail "nft_loss: percentage expected, got '$pct'" ;; esac
	[ "$pct" -le 100 ] || fail "nft_loss: $pct > 100"
	nft_clear
	if [ "${NFT_LOSS_PLAIN:-0}" = 1 ]; then
		lab_exec nft -f - <<-EOF || fail "nft_loss: nft failed"
		table inet mxloss {
			chain input {
				type filter hook input priority 0; policy accept;
				iifname "mxout" numgen random mod 100 < $pct counter drop
			}
			chain output {
				type filter hook output priority 0; policy accept;
				oifname "mxout" numgen random mod 100 < $pct counter drop
			}
		}
		EOF
		return 0
	fi
	lab_exec ip link add mxsink type veth peer name mxsink1 || fail "nft_loss: cannot add mxsink"
	lab_exec ip link set mxsink up || fail "nft_loss: mxsink up"
	lab_exec nft -f - <<-EOF || fail "nft_loss: nft failed"
	table inet mxloss {
		chain input {
			type filter hook input priority 0; policy accept;
			iifname "mxout" numgen random mod 100 < $pct counter drop
		}
		chain output {
			type filter hook output priority 0; policy accept;
			oifname "mxout" numgen random mod 100 < $pct counter meta mark set $LAB_LOSS_MARK
		}
	}
	table netdev mxloss_egress {
		chain egress {
			type filter hook egress device "mxout" priority 0; policy accept;
			meta mark $LAB_LOSS_MARK counter fwd to "mxsink"
		}
	}
	EOF
}

# Packets the loss rules took so far, "in=N out=M" (informational).
nft_loss_counts() {
	lab_exec nft list table inet mxloss 2>/dev/null | awk '
		/iifname/ { for (i = 1; i < NF; i++) if ($i == "packets") inn = $(i + 1) }
		/oifname/ { for (i = 1; i < NF; i++) if ($i == "packets") out = $(i + 1) }
		END { printf "in=%d out=%d\n", inn, out }'
}

# Remove the loss rules (idempotent).
nft_clear() {
	lab_exec nft delete table inet mxloss 2>/dev/null
	lab_exec nft delete table netdev mxloss_egress 2>/dev/null
	lab_exec ip link del mxsink 2>/dev/null
	return 0
}

# Fail if mxgate is gone.
expect_alive() {
	lab_alive || fail "mxgate is not running any more ($*)"
}

# A quick echo check: N bytes (default 65536) over v4 and v6.
expect_echo() {
	local n=${1:-65536} out
	out=$(lab_py half_close.py --host 198.18.0.2 --bytes "$n" --timeout 20) || fail "echo (v4) failed: $out"
	out=$(lab_py half_close.py --host 2001:2::2 --bytes "$n" --timeout 20) || fail "echo (v6) failed: $out"
	ok "echo still works (v4 and v6, $n bytes)"
}

# COUNT (default 5) echo requests to ADDR from inside the namespace; fails
# unless every one is answered. iputils ping if installed, else ping.py.
lab_ping() {
	local addr=$1 n=${2:-5} out
	if command -v ping >/dev/null 2>&1; then
		out=$(lab_exec ping -n -c "$n" -i 0.2 -W 1 "$addr" 2>&1)
	else
		out=$(lab_py ping.py -c "$n" -i 0.2 -W 1 "$addr" 2>&1)
	fi
	echo "$out" | grep -qE "(^|[ ,])$n received" ||
		fail "ping $addr: not all $n answered: $(echo "$out" | tail -n 3 | tr '\n' ' ')"
	ok "ping $addr: $n of $n answered"
}

# Fail if a drop reason that only a stack bug can produce has moved
# (checked only where mxgate has the counter).
LAB_BUG_DROPS="tx_too_big"
expect_no_bug_drops() {
	local r v
	lab_snap || fail "cannot read counters"
	for r in $LAB_BUG_DROPS; do
		v=$(lab_stat_cached drops "$r" 2>/dev/null) || continue
		[ "$v" -eq 0 ] || fail "drops{reason=$r} = $v: a stack bug"
	done
	ok "no drops of a kind that means a stack bug ($LAB_BUG_DROPS)"
}

# ---- SMTP tests (tests/lab/t_smtp_*.sh) ----

# smtp-sink's dump folder (deploy/lab.sh start_sink) and the lab certificate.
LAB_MAIL=$LAB_DIR/mail
LAB_CERT=${LAB_CERTS:-$LAB_REPO/build/lab/certs}/mx.lab.example.crt

# Metric name of an SMTP counter (mxgate_smtp_<NAME>_total), with a label
# selector if one follows: messages{result="accepted"} (common/metric_table.c).
lab_smtp_metric() {
	local base=${1%%\{*}
	case $1 in
		active) echo mxgate_smtp_active ;;
		*) echo "mxgate_smtp_${base}_total${1#"$base"}" ;;
	esac
}

# SIGUSR1, then the SMTP counter NAME summed over lcores.
lab_smtp_stat() { lab_stat "$(lab_smtp_metric "$1")"; }

# Check SMTP counter NAME with OP (-eq, -ge, -le) against VALUE; soft_fail if not.
expect_smtp() {
	local name=$1 op=$2 want=$3 v
	v=$(lab_smtp_stat "$name") || { soft_fail "cannot read counter smtp_$name"; return 1; }
	local good=0
	case $op in
		-eq) [ "$v" -eq "$want" ] && good=1 ;;
		-ge) [ "$v" -ge "$want" ] && good=1 ;;
		-le) [ "$v" -le "$want" ] && good=1 ;;
		*) soft_fail "expect_smtp: unknown operator $op"; return 1 ;;
	esac
	if [ $good = 1 ]; then
		ok "smtp_$name = $v ($op $want)"
	else
		soft_fail "counter smtp_$name = $v, expected $op $want"
		return 1
	fi
}

# Wait up to SECS for counter NAME (lab_metric form, e.g. tcp_conns) to be VALUE; soft_fail if not.
soft_wait_stat_eq() {
	local name=$1 want=$2 secs=$3 v i
	for ((i = 0; i < secs * 4; i++)); do
		v=$(lab_stat "$name") || { soft_fail "cannot read counter $name"; return 1; }
		[ "$v" = "$want" ] && { ok "$name = $want"; return 0; }
		sleep 0.25
	done
	soft_fail "counter $name = $v after ${secs}s, expected $want"
	return 1
}

# A check that failed without stopping the test: later checks still run,
# and lab_end fails the test at the end.
LAB_NFAIL=0
soft_fail() {
	echo "FAIL: $LAB_TEST: $*"
	LAB_NFAIL=$((LAB_NFAIL + 1))
}

# Run a command whose non-zero exit is a soft failure; prints its output.
soft_run() {
	local what=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	echo "$out"
	[ $rc -eq 0 ] || soft_fail "$what (exit $rc)"
	return $rc
}

# Pass, unless a soft_fail happened.
lab_end() {
	[ "$LAB_NFAIL" -eq 0 ] || fail "$LAB_NFAIL check(s) failed (FAIL lines above)"
	pass
}

# Soft-fail unless mxgate's log has a line matching the extended regex RE.
# Workers hand their lines to the service lcore, which writes them within
# its next poll (tens of ms): a line may follow the reply it belongs to, so
# wait up to 5 s for it.
expect_log() {
	local re=$1 what=${2:-$1}
	if log_has "$re"; then
		ok "log: $what"
	else
		soft_fail "no log line matching: $re"
	fi
}

# Whether mxgate's log has (at least N, default 1) lines matching the
# extended regex RE, waiting up to 5 s for them (see expect_log).
log_has() {
	local re=$1 n=${2:-1} i
	for ((i = 0; i < 50; i++)); do
		[ "$(grep -Ec -- "$re" "$LAB_DIR/mxgate.log" 2>/dev/null)" -ge "$n" ] && return 0
		sleep 0.1
	done
	return 1
}

# Number of files in the smtp-sink dump folder.
mail_count() { find "$LAB_MAIL" -maxdepth 1 -type f 2>/dev/null | wc -l; }

# ---- a private Postfix smtpd in the namespace as the backend (smtp_postfix.py) ----

PFD=
PF_UP=
PF_SETUP=()   # extra smtp_postfix.py setup options (the 2527 listener with TLS and AUTH)
# pf CMD ARGS...: drive the Postfix instance of this test.
pf() {
	local cmd=$1
	shift
	lab_py smtp_postfix.py "$cmd" --dir "$PFD" "$@"
}

# postfix_lab_up CONFIG-LINE...: the lab without smtp-sink, and Postfix started in it
# (stopped again, with the lab, however the test ends).
postfix_lab_up() {
	export LAB_SINK=0
	lab_up "$@" || fail "lab did not come up"
	PFD=$LAB_DIR/postfix
	rm -rf "$PFD"
	trap '[ -n "$PF_UP" ] && pf stop >/dev/null 2>&1; lab_down >/dev/null 2>&1' EXIT
	pf setup "${PF_SETUP[@]}" || fail "cannot set up the Postfix instance"
	PF_UP=1
	pf start || fail "Postfix could not be started in the namespace (see above)"
}

# pf_send NAME SERVER HELO [swaks options]: one message through mxgate; Postfix must queue it.
pf_send() {
	local name=$1 server=$2 helo=$3 out rc
	shift 3
	out=$(lab_exec timeout 30 swaks --server "$server" --helo "$helo" --from a@example.org \
		--to b@lab.example --header "Subject: $name" "$@" 2>&1)
	rc=$?
	if [ $rc -eq 0 ] && echo "$out" | grep -Eq '^<[-~] +250 2\.0\.0 Ok: queued as'; then
		ok "swaks $name: 250 from Postfix (via mxgate)"
	else
		echo "$out" | tail -n 12
		soft_fail "swaks $name did not get Postfix's 250 through mxgate"
	fi
}

# pfl RE WHAT: Postfix's log must show RE within 5 s (a soft check).
pfl() { soft_run "Postfix log: $2" pf wait-log --re "$1" --timeout 5; }

# pf_real_client NAME: the messages NAME-v4 (client.example from 198.18.0.1)
# and NAME-v6 (client6.example from 2001:2::1), announced by mxgate with
# XCLIENT or PROXY v2, are the real client's in Postfix's log and headers,
# and the v4 one also carries mxgate's own Received header (soft checks).
pf_real_client() {
	local name=$1 hdr first want='Received: from client.example (unknown [198.18.0.1])'
	pfl 'client=unknown\[198\.18\.0\.1\]' "the v4 message is from the client, 198.18.0.1"
	pfl 'client=unknown\[2001:2::1\]' "the v6 message is from the client, 2001:2::1"
	pfl "hold: header Subject: $name-v4 from unknown\\[198\\.18\\.0\\.1\\];" "hold line names the v4 client"
	pfl "hold: header Subject: $name-v4 from .* helo=<client\\.example>" "the v4 client's HELO name reached Postfix"
	pfl "hold: header Subject: $name-v6 from unknown\\[2001:2::1\\];.* helo=<client6\\.example>" \
		"the v6 client and its HELO name reached Postfix"
	pfl 'disconnect from unknown\[198\.18\.0\.1\]' "Postfix's session ends as the client's"
	hdr=$(pf headers --match "Subject: $name-v4")
	echo "$hdr"
	# the first Received header is Postfix's own (mxgate's follows it)
	first=$(echo "$hdr" | grep -m1 '^Received:')
	if [ "$first" = "$want" ]; then
		ok "Postfix's Received header: $first"
	else
		soft_fail "Postfix's Received header is '$first', expected '$want'"
	fi
	if echo "$hdr" | grep -q 'by mx\.lab\.example (mxgate) with ESMTPS id'; then
		ok "mxgate's Received header (ESMTPS) is in the queued message"
	else
		soft_fail "mxgate's Received header missing from the queued message"
	fi
}
