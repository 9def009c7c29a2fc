#!/usr/bin/env bash
# t_policy_client.sh - sendmail's connection control in the access map
# (cf/README: greet_pause, conncontrol, ratecontrol), with two workers so
# that one client's connections land on both:
#   - GreetPause:198.18.0.1 1500: no banner before the pause, the banner
#     after it; a client that talks first gets 554 ... not accepting
#     messages and is disconnected (PREGREET logged); smtplib, which
#     waits, delivers; 198.18.0.3 (0) is greeted without a pause;
#   - ClientConn:198.18.0.1 8: eight sessions at once all get the banner
#     however RSS spreads them, the ninth gets 421 4.3.2 Too many open
#     connections. (no banner), and there is room again once one closes;
#   - ClientConn: 1 (the default) refuses a second session from 198.18.0.4,
#     while ClientConn:198.18.0.3 0 (unlimited) lets three in at once;
#   - ClientRate:2001:2::1 4: the fifth connection within the minute gets
#     421 4.3.2 Connection rate limit exceeded., and so does a sixth (every
#     attempt counts, as in sendmail); 198.18.0.3 is not affected.
# Log lines and counters for each refusal.
. "$(dirname "$0")/lib.sh"
lab_begin
export LAB_WORKERS=2
acc=$LAB_DIR/access
cat >"$acc" <<'EOF'
To:lab.example			RELAY
GreetPause:198.18.0.1		1500
GreetPause:198.18.0.3		0
ClientConn:198.18.0.1		8
ClientConn:198.18.0.3		0
ClientConn:IPv6:2001:2::/48	0
ClientConn:			1
ClientRate:2001:2::1		4
EOF
lab_up "worker_lcores = 1,2" "access_file = $acc" || fail "lab did not come up"
lab_exec ip addr add 198.18.0.3/24 dev mxout || fail "cannot add 198.18.0.3"
lab_exec ip addr add 198.18.0.4/24 dev mxout || fail "cannot add 198.18.0.4"
out=$(lab_exec timeout 60 "$LAB_PY" - <<'PY' 2>&1
import select, smtplib, socket, time

def conn(addr="198.18.0.2", src=None):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(10)
    if src:
        s.bind((src, 0))
    s.connect((addr, 25))
    return s

def line(s):
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = s.recv(512)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").strip()

def quit(s):
    s.sendall(b"QUIT\r\n")
    line(s)
    s.close()

# GreetPause: nothing before the pause, the banner after it
a = conn()
t0 = time.monotonic()
early = select.select([a], [], [], 0.5)[0]
print("pause: before 0.5 s:", "data" if early else "nothing")
b = line(a)
print("pause: banner after %.2f s: %s" % (time.monotonic() - t0, b))
quit(a)
# a real client waits for the banner and delivers
m = smtplib.SMTP("198.18.0.2", 25, timeout=10)
m.ehlo("client.example")
print("smtplib after the pause: refused", m.sendmail("a@client.example", ["b@lab.example"],
                                                      "Subject: t\r\n\r\nhi\r\n"))
m.quit()

# pregreet under GreetPause
p = conn()
p.sendall(b"EHLO robot.example\r\n")
print("pregreet:", line(p))
print("pregreet then:", "closed" if p.recv(512) == b"" else "open")
p.close()

# an exempt address (GreetPause 0) is greeted without waiting for 1.5 s
x = conn(src="198.18.0.3")
print("exempt banner:", line(x))
x.close()

# ClientConn:198.18.0.1 8 over two workers
held = [conn() for _ in range(8)]
for i, s in enumerate(held):
    print("held %d: %s" % (i + 1, line(s)))
ninth = conn()
print("ninth:", line(ninth))
ninth.close()
# another address while .1 is at its limit: ClientConn 0 = unlimited
others = [conn(src="198.18.0.3") for _ in range(3)]
for i, s in enumerate(others):
    print("other %d: %s" % (i + 1, line(s)))
# the default (ClientConn: 1) for 198.18.0.4
d1 = conn(src="198.18.0.4")
print("default first:", line(d1))
d2 = conn(src="198.18.0.4")
print("default second:", line(d2))
for s in others + [d1, d2]:
    s.close()
quit(held.pop())
time.sleep(0.5)
again = conn()
print("after one closed:", line(again))
for s in held + [again]:
    s.close()

# ClientRate:2001:2::1 4 (ClientConn 0 for 2001:2::/48)
for i in range(6):
    s = conn("2001:2::2")
    print("v6 %d: %s" % (i + 1, line(s)))
    s.close()
y = conn(src="198.18.0.3")
print("other after the rate:", line(y))
y.close()
PY
)
echo "$out"
has() { echo "$out" | grep -Eq -- "$1" || fail "$2"; }
has '^pause: before 0.5 s: nothing' "a banner came before the pause"
has '^pause: banner after (1\.(4|5|6|7|8|9)|[2-9])[0-9.]* s: 220 ' "no banner after the pause, or one too early"
has '^smtplib after the pause: refused \{\}' "smtplib could not deliver after the pause"
ok "GreetPause 1500: no banner before the pause, 220 after it; smtplib delivers"
has '^pregreet: 554 5\.5\.1 [^ ]+ ESMTP not accepting messages$' "pregreet not refused in sendmail's words"
has '^pregreet then: closed' "the pregreet client was not disconnected"
ok "pregreet: 554 5.5.1 <host> ESMTP not accepting messages, then closed"
has '^exempt banner: 220 ' "GreetPause 0: no banner"
for i in 1 2 3 4 5 6 7 8; do has "^held $i: 220 " "ClientConn 8: session $i refused"; done
has '^ninth: 421 4\.3\.2 Too many open connections\.$' "ClientConn 8: the ninth not refused"
has '^after one closed: 220 ' "ClientConn 8: no room after a session closed"
ok "ClientConn 8 over two workers: eight sessions, the ninth 421 4.3.2 Too many open connections., room after one closes"
for i in 1 2 3; do has "^other $i: 220 " "ClientConn 0: session $i from 198.18.0.3 refused"; done
has '^default first: 220 ' "ClientConn: 1: the first session refused"
has '^default second: 421 4\.3\.2 Too many open connections\.$' "ClientConn: 1: the second not refused"
ok "another address unaffected (0 = unlimited), the bare default applies to a third"
for i in 1 2 3 4; do has "^v6 $i: 220 " "ClientRate 4: connection $i refused"; done
has '^v6 5: 421 4\.3\.2 Connection rate limit exceeded\.$' "ClientRate 4: the fifth not refused"
has '^v6 6: 421 4\.3\.2 Connection rate limit exceeded\.$' "ClientRate 4: the sixth not refused"
has '^other after the rate: 220 ' "ClientRate: another address refused"
ok "ClientRate 4: the fifth and sixth 421 4.3.2 Connection rate limit exceeded., another address unaffected"
grep -q 'NOQUEUE: reject: CONNECT from unknown\[198.18.0.1\]: 421 4.3.2 Too many open connections\.' \
	"$LAB_DIR/mxgate.log" || fail "no NOQUEUE line for ClientConn"
grep -q 'NOQUEUE: reject: CONNECT from unknown\[2001:2::1\]: 421 4.3.2 Connection rate limit exceeded\.' \
	"$LAB_DIR/mxgate.log" || fail "no NOQUEUE line for ClientRate"
log_has 'PREGREET [0-9]+ after .* from \[198.18.0.1\]' || fail "no PREGREET line"
ok "log lines: NOQUEUE for both refusals, PREGREET"
expect_stat_ge smtp_client_conn_refused 2
expect_stat_ge smtp_client_rate_refused 2
expect_stat_ge smtp_pregreet 1
lab_snap || fail "cannot read counters"
p1=$(lab_stat_cached tcp_passive_opens "" 1) || fail "no tcp_passive_opens for lcore 1"
p2=$(lab_stat_cached tcp_passive_opens "" 2) || fail "no tcp_passive_opens for lcore 2"
echo "passive opens: lcore 1 $p1, lcore 2 $p2"
for ((i = 0; i < 20; i++)); do [ "$(lab_smtp_stat active)" = 0 ] && break; sleep 0.25; done
[ "$(lab_smtp_stat active)" = 0 ] || fail "sessions still counted as active"
ok "every session ended (smtp_active 0)"
expect_no_bug_drops
pass
