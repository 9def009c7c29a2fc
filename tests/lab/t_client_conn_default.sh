#!/usr/bin/env bash
# t_client_conn_default.sh - smtpd_client_connection_count_limit, Postfix's
# default cap on one client address's open sessions, for clients that no
# ClientConn: entry covers (so a stranger cannot hold every session slot
# from one address). Two workers, so the count is the appliance's:
#   - no access map, limit 3: three sessions from 198.18.0.1 get the
#     banner, the fourth 421 4.3.2 Too many open connections. (sendmail's
#     ClientConn reply), logged as NOQUEUE and counted; once one closes,
#     there is room again;
#   - an access map with ClientConn:198.18.0.1 5: the entry wins for .1
#     (five at once), while 198.18.0.3, which no entry covers, still gets
#     the default of 3; ClientConn:198.18.0.4 0 exempts .4 (four at once);
#   - IPv6, limit 2, max_sessions 20: a stranger with 16 addresses of one
#     /64 (2001:2::100 to ::10f), two sessions from each, holds 2 sessions,
#     not every slot (smtpd_client_ipv6_prefix_length, 64 by default), and
#     a client from 198.18.0.1 still gets the banner; with the prefix at
#     126 (a part of a byte), each group of four addresses holds 2: 8.
export LAB_WORKERS=2
. "$(dirname "$0")/lib.sh"
lab_begin

hold() {   # print one line per connection: "<label> <n>: <first line>"; arguments: label src count
	lab_exec timeout 60 "$LAB_PY" - "$@" <<'PY' 2>&1
import socket, sys, time
label, src, n = sys.argv[1], sys.argv[2], int(sys.argv[3])

def conn():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    s.bind((src, 0))
    s.connect(("198.18.0.2", 25))
    return s

def line(s):
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = s.recv(512)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").strip()

held = []
for i in range(n):
    s = conn()
    print("%s %d: %s" % (label, i + 1, line(s)), flush=True)
    held.append(s)
extra = conn()
print("%s extra: %s" % (label, line(extra)), flush=True)
extra.close()
held[0].sendall(b"QUIT\r\n")
line(held[0])
held[0].close()
time.sleep(0.5)
again = conn()
print("%s after one closed: %s" % (label, line(again)), flush=True)
for s in held[1:] + [again]:
    s.close()
PY
}
has() { echo "$out" | grep -Eq -- "$1" || fail "$2: $out"; }

lab_up "worker_lcores = 1,2" "smtpd_client_connection_count_limit = 3" || fail "lab did not come up"
lab_exec ip addr add 198.18.0.3/24 dev mxout || fail "cannot add 198.18.0.3"
lab_exec ip addr add 198.18.0.4/24 dev mxout || fail "cannot add 198.18.0.4"
out=$(hold one 198.18.0.1 3)
for i in 1 2 3; do has "^one $i: 220 " "default 3: session $i refused"; done
has '^one extra: 421 4\.3\.2 Too many open connections\.$' "default 3: the fourth was not refused"
has '^one after one closed: 220 ' "default 3: no room after one closed"
ok "no map, smtpd_client_connection_count_limit = 3: three at once, the fourth 421 4.3.2, room after one closes"
expect_log 'NOQUEUE: reject: CONNECT from unknown\[198\.18\.0\.1\]: 421 4\.3\.2 Too many open connections\.' \
	"NOQUEUE: reject: CONNECT ... 421 4.3.2 Too many open connections."
v=$(lab_stat mxgate_smtp_client_conn_refused_total) || true
[ "${v:-0}" -eq 1 ] && ok "mxgate_smtp_client_conn_refused_total 1" || fail "client_conn_refused = $v, expected 1"

lab_down >/dev/null 2>&1
acc=$LAB_DIR/access
printf 'To:lab.example\tRELAY\nClientConn:198.18.0.1\t5\nClientConn:198.18.0.4\t0\n' >"$acc" || fail "cannot write $acc"
lab_up "worker_lcores = 1,2" "smtpd_client_connection_count_limit = 3" "access_file = $acc" ||
	fail "lab did not come up (access map)"
lab_exec ip addr add 198.18.0.3/24 dev mxout || fail "cannot add 198.18.0.3"
lab_exec ip addr add 198.18.0.4/24 dev mxout || fail "cannot add 198.18.0.4"
out=$(hold one 198.18.0.1 5; hold three 198.18.0.3 3; hold four 198.18.0.4 4)
for i in 1 2 3 4 5; do has "^one $i: 220 " "ClientConn:198.18.0.1 5: session $i refused"; done
has '^one extra: 421 4\.3\.2 ' "ClientConn:198.18.0.1 5: the sixth was not refused"
ok "ClientConn:198.18.0.1 5 replaces the default for .1"
for i in 1 2 3; do has "^three $i: 220 " "default for .3: session $i refused"; done
has '^three extra: 421 4\.3\.2 ' "no entry for .3: the default 3 did not apply"
ok "198.18.0.3, no entry: the default of 3"
has '^four extra: 220 ' "ClientConn:198.18.0.4 0: the fifth session was refused"
ok "ClientConn:198.18.0.4 0: no limit"

# IPv6: one stranger's /64 is one client
slots6() {   # print "held N refused M" for --per sessions from each of 16 addresses, then one IPv4 banner
	lab_exec timeout 60 "$LAB_PY" - <<'PY' 2>&1
import socket
held, refused = [], 0
for i in range(16):
    for j in range(2):
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.settimeout(10)
        s.bind(("2001:2::%x" % (0x100 + i), 0))
        s.connect(("2001:2::2", 25))
        g = s.recv(512).decode(errors="replace")
        if g.startswith("220"):
            held.append(s)
        else:
            refused += 1
            s.close()
print("held %d refused %d" % (len(held), refused), flush=True)
o = socket.create_connection(("198.18.0.2", 25), timeout=10)
print("ipv4: %s" % o.recv(512).decode(errors="replace").strip(), flush=True)
o.close()
for s in held:
    s.close()
PY
}
v6_lab() {   # extra config lines
	lab_down >/dev/null 2>&1
	lab_up "worker_lcores = 1,2" "smtpd_client_connection_count_limit = 2" "max_sessions = 20" "$@" ||
		fail "lab did not come up (IPv6 $*)"
	for ((i = 0; i < 16; i++)); do
		lab_exec ip -6 addr add "2001:2::$(printf %x $((0x100 + i)))/64" dev mxout nodad ||
			fail "cannot add 2001:2::$(printf %x $((0x100 + i)))"
	done
}
v6_lab
out=$(slots6)
has '^held 2 refused 30$' "one /64, default prefix: not 2 sessions held"
has '^ipv4: 220 ' "one /64 held the IPv4 client's slot"
ok "16 addresses of one /64: 2 sessions in all (smtpd_client_ipv6_prefix_length 64), IPv4 still served"
expect_log 'NOQUEUE: reject: CONNECT from unknown\[2001:2::10[0-9a-f]\]: 421 4\.3\.2 Too many open connections\.' \
	"NOQUEUE: reject: CONNECT from unknown[2001:2::1xx]: 421 4.3.2 Too many open connections."
v6_lab "smtpd_client_ipv6_prefix_length = 126"
out=$(slots6)
has '^held 8 refused 24$' "prefix 126: not 2 sessions for each group of four addresses"
ok "prefix 126: 8 sessions held (2 per four addresses)"
expect_alive "after the connection caps"
lab_end
