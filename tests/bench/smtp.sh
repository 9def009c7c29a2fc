#!/usr/bin/env bash
# smtp.sh - the TLS handshake and idle-session benchmark (make bench-smtp):
# mxgate's full TLS 1.3 handshakes per second of its worker core, next to
# an in-memory BoringSSL handshake loop on the same core in the same run,
# and mxgate's memory per idle STARTTLS session.
#
#   1. For each key (ECDSA P-256, RSA-2048; certificates made here with
#      openssl req): the lab (deploy/lab.sh, namespace $LAB_NS) with that
#      certificate and idle_sleep_us = 0, so mxgate's one worker (lcore 1)
#      polls CPU 1; build/mxgen smtp-handshake (kernel sockets, epoll,
#      BoringSSL; greeting, EHLO, STARTTLS, full handshake, QUIT) inside the
#      namespace, pinned to CPU 0, for BENCH_DURATION seconds. mxgate's
#      counters (SIGUSR1) before and after give its handshakes and its
#      worker's busy cycles: handshakes per busy second of the worker.
#      Then, with the lab down, build/tls_mem pinned to CPU 1 with the same
#      key type: client and server in one process, no network - the bound
#      for this BoringSSL build and crypto/tls.c.
#   2. Memory: the lab (ECDSA), mxgate's VmRSS, mxgen smtp-idle with
#      BENCH_IDLE_SESSIONS sessions (STARTTLS, EHLO, then idle), VmRSS once
#      all are idle, (difference) / sessions; then the sessions say QUIT.
#   3. A table: raw handshakes/s, per worker CPU-second, the in-memory
#      figures and the ratios; KiB per idle session.
#
# The in-memory loop runs the client AND the server on one core, so its
# handshakes/s is about half of what one core could serve; tls_mem also
# times the server's calls alone (server_only_bound = 1 / server time per
# handshake). Both ratios are printed: the fair one is against the
# server-only figure.
#
# Environment: BENCH_DURATION (10 s of handshakes per key), BENCH_CONCURRENCY
# (64 sessions in flight), BENCH_KEYS ("ecdsa rsa"), BENCH_TLSMEM_SECONDS (5:
# per server variant, tls.c and plain BoringSSL alternate), BENCH_IDLE_SESSIONS
# (10000), BENCH_IDLE_HOLD (10 s), BENCH_IDLE_RAMP (64 in set-up at once),
# BENCH_TICKETS (0: mxgate issues no session tickets, like tls_mem; 1: its
# default of one ticket per handshake), BENCH_PERF=1 (perf record -e
# cpu-clock -C 1 during each handshake run; reports kept in the temporary
# directory, top lines printed), BENCH_KEEP=1 (keep the temporary
# directory: logs, counters). MXGATE, MXGEN, TLS_MEM name other binaries
# than build/mxgate, build/mxgen, build/tls_mem. LAB_NS (mxbench) names the
# namespace; it must not exist yet. Addresses: 198.18.0.0/24 in the lab
# namespace only. Every step is bounded in time; a trap stops what this
# script started and takes the lab down.
set -u

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MXGATE=${MXGATE:-$REPO/build/mxgate}
MXGEN=${MXGEN:-$REPO/build/mxgen}
TLS_MEM=${TLS_MEM:-$REPO/build/tls_mem}
LAB=$REPO/deploy/lab.sh

DUR=${BENCH_DURATION:-10}
CONC=${BENCH_CONCURRENCY:-64}
KEYS=${BENCH_KEYS:-ecdsa rsa}
TM_SECONDS=${BENCH_TLSMEM_SECONDS:-5}
IDLE_N=${BENCH_IDLE_SESSIONS:-10000}
IDLE_HOLD=${BENCH_IDLE_HOLD:-10}
IDLE_RAMP=${BENCH_IDLE_RAMP:-64}
TICKETS=${BENCH_TICKETS:-0}
PERF=${BENCH_PERF:-0}
KEEP=${BENCH_KEEP:-0}

GATE_IP=198.18.0.2
GATE_CPU=1                       # lab.sh: --lcores 0@0,1@1, worker lcore 1 on CPU 1
GEN_CPU=0
RUN_SLACK=40                     # seconds beyond the duration, per client run
export LAB_NS=${LAB_NS:-mxbench}

msg() { printf 'bench: %s\n' "$*" >&2; }
die() { msg "$*"; exit 1; }

for n in "$DUR" "$CONC" "$TM_SECONDS" "$IDLE_N" "$IDLE_HOLD" "$IDLE_RAMP"; do
	case $n in ''|*[!0-9]*) die "BENCH_* values must be positive integers" ;; esac
done
[ "$DUR" -ge 1 ] && [ "$DUR" -le 600 ] || die "BENCH_DURATION must be 1..600"
[ "$IDLE_N" -ge 1 ] && [ "$IDLE_N" -le 100000 ] || die "BENCH_IDLE_SESSIONS must be 1..100000"
[ "$IDLE_HOLD" -ge 1 ] && [ "$IDLE_HOLD" -le 600 ] || die "BENCH_IDLE_HOLD must be 1..600"
for k in $KEYS; do
	case $k in ecdsa|rsa) ;; *) die "BENCH_KEYS: ecdsa and/or rsa, not '$k'" ;; esac
done
[ "$(id -u)" = 0 ] || die "must run as root (the lab namespace)"
for b in "$MXGATE" "$MXGEN" "$TLS_MEM"; do
	[ -x "$b" ] || die "$b is missing: run 'make all build/tls_mem' (make bench-smtp does)"
done
command -v openssl >/dev/null || die "openssl (the command) is needed to make the certificates"
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs (worker and generator on separate cores)"
ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF -- "$LAB_NS" &&
	die "namespace $LAB_NS exists already (another lab?): choose another LAB_NS"

TMP=$(mktemp -d /tmp/mxbench-smtp.XXXXXX) || die "mktemp failed"
chmod 711 "$TMP"   # mxgate, once it dropped root, must reach its LAB_DIR below
export LAB_DIR=$TMP/lab LAB_CERTS=$TMP/labcerts MXGATE
export LAB_EAL_EXTRA="${LAB_EAL_EXTRA:-} --file-prefix mxbench-smtp"
LAB_IS_UP=
LAB_LOG=$TMP/lab.log
CLIENT_PID=
PERF_PID=

. "$REPO/tests/bench/lib.sh"   # stop_pid, bounded, kv, pn, pd, keep_tmp, bench_lab_up, lab_down

cleanup() {
	stop_pid "$PERF_PID"
	PERF_PID=
	stop_pid "$CLIENT_PID"
	CLIENT_PID=
	lab_down
	rm -rf /var/run/dpdk/mxbench-smtp 2>/dev/null
	keep_tmp "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


# Bring the lab up with these extra configuration lines (later lines win).
lab_up() {
	bench_lab_up "$1" || {
		tail -n 30 "$TMP/lab.log" >&2
		die "the lab did not come up"
	}
	# more client ports than the default range, in our namespace only
	ip netns exec "$LAB_NS" sysctl -qw net.ipv4.ip_local_port_range="1024 65535" 2>/dev/null
	# the tap queue towards mxgate holds txqueuelen packets: room for bursts of 10,000 QUITs
	ip -n "$LAB_NS" link set mxout txqueuelen 10000 2>/dev/null
}

# mxgate's pid (lab.sh's pid file).
gate_pid() { tr -dc 0-9 <"$LAB_DIR/mxgate.pid" 2>/dev/null; }

# mxgate's counters (SIGUSR1, via lab.sh stats) into $1.
gate_stats() { timeout -k 2 10 "$LAB" stats >"$1" 2>>"$TMP/lab.log" && [ -s "$1" ]; }

# mxgate's resident set in KiB.
gate_rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$(gate_pid)/status" 2>/dev/null; }

# Certificates: ECDSA P-256 and RSA-2048, self-signed for mx.lab.example.
mkdir -p "$TMP/certs"
for k in $KEYS ecdsa; do
	[ -s "$TMP/certs/$k.crt" ] && continue
	case $k in
		ecdsa) newkey=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1) ;;
		rsa) newkey=(-newkey rsa:2048) ;;
	esac
	timeout 60 openssl req -x509 "${newkey[@]}" -nodes -days 30 -subj /CN=mx.lab.example \
		-addext subjectAltName=DNS:mx.lab.example \
		-keyout "$TMP/certs/$k.key" -out "$TMP/certs/$k.crt" >/dev/null 2>&1 ||
		die "openssl req could not make the $k certificate"
done

# Where CPU 1's time went in a perf recording: $1 data, $2 mxgate pid, $3 handshakes/s.
# perf script lines: "comm pid/tid period ip sym... (dso)"; the recording runs on
# one polled CPU, so the periods add up to the recording's length.
perf_summary() {
	local raw
	raw=$(timeout 120 perf script -i "$1" -F comm,pid,tid,period,ip,sym,dso 2>/dev/null |
	awk -v pid="$2" -v hps="$3" '
	{
		split($2, pt, "/"); per = $3; d = $NF; gsub(/[()]/, "", d); nd = split(d, dp, "/"); d = dp[nd]
		sym = $5; for (i = 6; i < NF; i++) sym = sym " " $i
		all += per; proc[$1 "[" pt[1] "]"] += per
		if (pt[1] == pid && $1 ~ /^rte-worker/) { w += per; dso[d] += per; fn[d " " sym] += per }
	}
	END {
		if (all == 0 || w == 0) { print "H no samples of the mxgate worker"; exit }
		span = all / 1e9; hs = hps * span
		line = sprintf("CPU 1 for %.1f s: mxgate worker %.1f%%; others:", span, 100 * w / all)
		n = 0
		for (p in proc)
			if (index(p, "rte-worker-1[" pid "]") != 1 && 100 * proc[p] / all >= 0.5) {
				line = line sprintf(" %s %.1f%%", p, 100 * proc[p] / all); n++
			}
		print "H " line (n ? "" : " (none over 0.5%)")
		for (x in dso) printf "L %7.1f%%  %7.1f us/hs  %s\n", 100 * dso[x] / w, (hs > 0 ? dso[x] / hs / 1e3 : 0), x
		for (x in fn) printf "F %7.1f%%  %s\n", 100 * fn[x] / w, x
	}')
	printf '%s\n' "$raw" | sed -n 's/^H //p'
	printf 'mxgate worker by library (share of its time; us per handshake at %s hs/s):\n' "$3"
	printf '%s\n' "$raw" | sed -n 's/^L //p' | sort -rn | head -n 8
	printf 'mxgate worker, top functions:\n'
	printf '%s\n' "$raw" | sed -n 's/^F //p' | sort -rn | head -n 25
}

# Configuration lines for a key.
conf_for() {
	printf 'idle_sleep_us = 0\ntls_cert_file = %s\ntls_key_file = %s\n' \
		"$TMP/certs/$1.crt" "$TMP/certs/$1.key"
	[ "$TICKETS" = 1 ] || printf 'tls_ticket_rotate_s = 0\n'
}

GEN_COMMON=(--server "$GATE_IP" --port 25 --tls-version 1.3 --cpu "$GEN_CPU")

# ---- 1. handshakes, per key ----

declare -A R
for k in $KEYS; do
	msg "$k: lab up (worker polling CPU $GATE_CPU), mxgen smtp-handshake on CPU $GEN_CPU"
	lab_up "$(conf_for "$k")"
	grep -q "tls_cert_file = $TMP/certs/$k.crt" "$LAB_DIR/mxgate.conf" ||
		die "the lab's configuration does not name the $k certificate"
	# warm-up: ARP, code and heap faulted in, first-use costs out of the window
	bounded 60 "$TMP/$k.warm.out" "$TMP/$k.warm.err" ip netns exec "$LAB_NS" \
		"$MXGEN" smtp-handshake "${GEN_COMMON[@]}" --concurrency 16 --count 300 --duration 20 ||
		{ cat "$TMP/$k.warm.err" >&2; msg "$k: warm-up had errors"; }
	gate_stats "$TMP/$k.before.prom" || msg "$k: no counters from mxgate before the run"
	if [ "$PERF" = 1 ] && command -v perf >/dev/null; then
		( sleep 1; exec timeout -k 2 $((DUR + 5)) perf record -q -e cpu-clock -C "$GATE_CPU" \
			-o "$TMP/perf.$k.data" -- sleep $((DUR > 3 ? DUR - 2 : 1)) ) \
			>"$TMP/perf.$k.log" 2>&1 &
		PERF_PID=$!
	fi
	msg "$k: mxgen smtp-handshake --concurrency $CONC --duration $DUR"
	bounded $((DUR + RUN_SLACK)) "$TMP/$k.out" "$TMP/$k.err" ip netns exec "$LAB_NS" \
		"$MXGEN" smtp-handshake "${GEN_COMMON[@]}" --concurrency "$CONC" --duration "$DUR"
	rc=$?
	sed 's/^/  /' "$TMP/$k.err" >&2
	[ $rc -eq 0 ] || msg "$k: mxgen exited with status $rc"
	if [ -n "$PERF_PID" ]; then
		wait "$PERF_PID" 2>/dev/null
		PERF_PID=
	fi
	gate_stats "$TMP/$k.after.prom" || msg "$k: no counters from mxgate after the run"
	cp "$LAB_DIR/mxgate.log" "$TMP/$k.mxgate.log" 2>/dev/null
	R[$k.pid]=$(gate_pid)
	lab_down
	R[$k.gen]=$(grep '^mxgen smtp-handshake' "$TMP/$k.out" | tail -n1)
	[ -n "${R[$k.gen]}" ] || msg "$k: mxgen printed no summary"
	R[$k.hz]=$(pn "$TMP/$k.after.prom" mxgate_tsc_hz)
	R[$k.busy]=$(pd "$k" mxgate_busy_cycles_total)
	R[$k.idle]=$(pd "$k" mxgate_idle_cycles_total)
	R[$k.hs]=$(( $(pd "$k" mxgate_smtp_tls_handshakes_total 'mode="starttls"') + \
		$(pd "$k" mxgate_smtp_tls_handshakes_total 'mode="smtps"') ))
	R[$k.tlsfail]=$(pd "$k" mxgate_smtp_tls_failed_total)
	R[$k.refused]=$(pd "$k" mxgate_smtp_sessions_refused_total)
	R[$k.rexmit]=$(pd "$k" mxgate_tcp_retransmits_total)
	R[$k.pkts]=$(( $(pd "$k" mxgate_rx_packets_total) + $(pd "$k" mxgate_tx_packets_total) ))
	if [ -s "$TMP/perf.$k.data" ]; then
		perf_summary "$TMP/perf.$k.data" "${R[$k.pid]}" "$(kv "${R[$k.gen]}" handshakes_per_s)" \
			>"$TMP/perf.$k.txt"
		msg "$k: perf record -e cpu-clock -C $GATE_CPU during the run ($TMP/perf.$k.txt):"
		sed 's/^/  /' "$TMP/perf.$k.txt" >&2
	fi

	msg "$k: tls_mem --key $k --seconds $TM_SECONDS on CPU $GATE_CPU (lab down)"
	bounded $((4 * TM_SECONDS + 60)) "$TMP/$k.tlsmem" "$TMP/$k.tlsmem.err" \
		taskset -c "$GATE_CPU" "$TLS_MEM" --key "$k" --seconds "$TM_SECONDS" --idle 1000 ||
		{ cat "$TMP/$k.tlsmem.err" >&2; msg "$k: tls_mem failed"; }
	sed 's/^/  /' "$TMP/$k.tlsmem" >&2
	R[$k.tm_ours]=$(grep '^tls.c' "$TMP/$k.tlsmem" | sed 's/^[^:]*: *//')
	R[$k.tm_plain]=$(grep '^plain' "$TMP/$k.tlsmem" | sed 's/^[^:]*: *//')
done

# ---- 2. memory per idle session ----

msg "memory: lab up (ecdsa), $IDLE_N idle STARTTLS sessions held ${IDLE_HOLD} s"
lab_up "$(conf_for ecdsa)
max_sessions = $((IDLE_N + 1000))
max_conns = $((2 * IDLE_N + 20000))
smtpd_timeout_ms = 600000"
bounded 60 "$TMP/idle.warm.out" "$TMP/idle.warm.err" ip netns exec "$LAB_NS" \
	"$MXGEN" smtp-handshake "${GEN_COMMON[@]}" --concurrency "$IDLE_RAMP" --count 2000 --duration 30 ||
	msg "memory: warm-up had errors"
sleep 1
gate_stats "$TMP/idle.before.prom"
RSS0=$(gate_rss)
(
	ulimit -n "$(ulimit -Hn)" 2>/dev/null
	exec timeout -k 5 $((IDLE_HOLD + 180)) ip netns exec "$LAB_NS" "$MXGEN" smtp-idle \
		"${GEN_COMMON[@]}" --concurrency "$IDLE_N" --duration "$IDLE_HOLD" --ramp "$IDLE_RAMP" \
		--setup-s 120
) >"$TMP/idle.out" 2>"$TMP/idle.err" &
CLIENT_PID=$!
RSS1= ACTIVE1=
for i in $(seq 1300); do          # set-up is bounded by --setup-s 120 in mxgen
	grep -q '^mxgen: idle:' "$TMP/idle.err" 2>/dev/null && break
	kill -0 "$CLIENT_PID" 2>/dev/null || break
	sleep 0.1
done
if grep -q '^mxgen: idle:' "$TMP/idle.err" 2>/dev/null; then
	sleep 1                       # the last EHLO replies have gone out
	RSS1=$(gate_rss)
	gate_stats "$TMP/idle.hold.prom"
	ACTIVE1=$(prom "$TMP/idle.hold.prom" mxgate_smtp_active)
else
	msg "memory: the sessions did not all become idle"
fi
wait "$CLIENT_PID"
rc=$?
CLIENT_PID=
sed 's/^/  /' "$TMP/idle.err" >&2
[ $rc -eq 0 ] || msg "memory: mxgen exited with status $rc"
sleep 1
RSS2=$(gate_rss)
gate_stats "$TMP/idle.after.prom"
ACTIVE2=$(prom "$TMP/idle.after.prom" mxgate_smtp_active)
IDLE_LINE=$(grep '^mxgen smtp-idle' "$TMP/idle.out" | tail -n1)
cp "$LAB_DIR/mxgate.log" "$TMP/idle.mxgate.log" 2>/dev/null
lab_down

# ---- 3. the table ----

printf '\nSMTP/TLS benchmark: mxgate (1 worker polling CPU %s, lab net_tap) driven by mxgen smtp-handshake on CPU %s\n' \
	"$GATE_CPU" "$GEN_CPU"
printf '%d s per key, %d sessions in flight, TLS 1.3, full handshakes (no resumption), mxgate tickets %s\n\n' \
	"$DUR" "$CONC" "$([ "$TICKETS" = 1 ] && echo on || echo off)"
for k in $KEYS; do
	g=${R[$k.gen]:-}
	awk -v key="$k" -v hs="${R[$k.hs]}" -v busy="${R[$k.busy]}" -v idle="${R[$k.idle]}" \
	    -v hz="${R[$k.hz]:-0}" -v raw="$(kv "$g" handshakes_per_s)" -v p50="$(kv "$g" p50_us)" \
	    -v p99="$(kv "$g" p99_us)" -v hp50="$(kv "$g" hs_p50_us)" -v hp99="$(kv "$g" hs_p99_us)" \
	    -v err="$(kv "$g" errors)" -v gcpu="$(kv "$g" cpu_s)" -v win="$(kv "$g" window_s)" \
	    -v sig="$(kv "$g" sigalg)" -v cip="$(kv "$g" cipher)" -v grp="$(kv "$g" group)" \
	    -v tfail="${R[$k.tlsfail]}" -v refused="${R[$k.refused]}" -v rex="${R[$k.rexmit]}" \
	    -v pkts="${R[$k.pkts]}" \
	    -v m_pair="$(kv "${R[$k.tm_ours]:-}" hs_per_s)" \
	    -v m_srv="$(kv "${R[$k.tm_ours]:-}" server_only_bound | tr -d /s)" \
	    -v m_us="$(kv "${R[$k.tm_ours]:-}" server_us_per_hs)" \
	    -v p_pair="$(kv "${R[$k.tm_plain]:-}" hs_per_s)" \
	    -v p_srv="$(kv "${R[$k.tm_plain]:-}" server_only_bound | tr -d /s)" \
	    -v p_us="$(kv "${R[$k.tm_plain]:-}" server_us_per_hs)" '
function num(x) { return x != "" && x != "-" }
function pct(a, b) { return (num(a) && num(b) && b + 0 > 0) ? sprintf("%.1f%%", 100 * a / b) : "-" }
function row(l, v) { printf "  %-52s %s\n", l, v }
BEGIN {
	bs = hz > 0 ? busy / hz : 0
	per = bs > 0 ? hs / bs : 0
	printf "%s (%s, %s, %s)\n", key == "rsa" ? "RSA-2048" : "ECDSA P-256", sig, cip, grp
	row("mxgen handshakes/s (raw, window " win " s)", raw)
	row("mxgen session latency p50 / p99 (us)", p50 " / " p99)
	row("mxgen handshake latency p50 / p99 (us)", hp50 " / " hp99)
	row("mxgen errors; mxgen CPU-s", err "; " gcpu)
	row("mxgate handshakes in the run (counters)", hs)
	row("mxgate worker busy CPU-s / busy share", sprintf("%.3f / %.1f%%", bs, (busy + idle) > 0 ? 100 * busy / (busy + idle) : 0))
	row("mxgate handshakes per worker CPU-second", sprintf("%.0f", per))
	row("mxgate worker us per handshake", per > 0 ? sprintf("%.1f", 1e6 / per) : "-")
	row("mxgate tls_failed / refused / retransmits", tfail " / " refused " / " rex)
	row("mxgate packets (rx + tx) per handshake", hs > 0 ? sprintf("%.1f", pkts / hs) : "-")
	row("in-memory tls.c: pair hs/s (client+server, 1 core)", m_pair)
	row("in-memory tls.c: server us/hs, server-only hs/s", m_us " / " m_srv)
	row("in-memory plain BoringSSL: pair hs/s", p_pair)
	row("in-memory plain BoringSSL: server us/hs, server-only", p_us " / " p_srv)
	row("ratio: mxgate per CPU-s / tls.c pair (as stated)", pct(per, m_pair))
	row("ratio: mxgate per CPU-s / tls.c server-only (fair)", pct(per, m_srv))
	row("ratio: mxgate per CPU-s / plain BoringSSL server-only", pct(per, p_srv))
	row("ratio: mxgate raw hs/s / tls.c server-only", pct(raw, m_srv))
	printf "\n"
}'
done
awk -v n="$IDLE_N" -v r0="${RSS0:-}" -v r1="${RSS1:-}" -v r2="${RSS2:-}" -v a1="${ACTIVE1:-}" \
    -v a2="${ACTIVE2:-}" -v hsps="$(kv "$IDLE_LINE" handshakes_per_s)" \
    -v imax="$(kv "$IDLE_LINE" idle_max)" -v err="$(kv "$IDLE_LINE" errors)" '
function num(x) { return x != "" && x != "-" }
function row(l, v) { printf "  %-52s %s\n", l, v }
BEGIN {
	printf "Idle STARTTLS sessions (ECDSA P-256, TLS 1.3, after STARTTLS + EHLO)\n"
	row("sessions asked / idle at once (mxgen) / active (mxgate)", n " / " imax " / " a1)
	row("mxgen errors; handshakes/s while opening", err "; " hsps)
	row("mxgate VmRSS before / all idle / after QUIT (KiB)", r0 " / " r1 " / " r2)
	if (num(r0) && num(r1) && a1 + 0 > 0) {
		row("RSS growth (KiB)", r1 - r0)
		row("per idle session (KiB), growth / active sessions", sprintf("%.2f", (r1 - r0) / a1))
	}
	row("mxgate active sessions after the QUITs", a2)
}'
printf '\nraw lines:\n'
for k in $KEYS; do printf '  %s\n' "${R[$k.gen]:-}"; done
printf '  %s\n' "$IDLE_LINE"
exit 0
