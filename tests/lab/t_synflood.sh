#!/usr/bin/env bash
# t_synflood.sh - 10000 spoofed SYNs (198.19.0.0/16, off-link: mxgate's
# SYN-ACKs go to the gateway, which drops them) against a 256-entry SYN
# backlog: mxgate must switch to SYN cookies, and a legitimate client must
# still connect and echo within 10 s while the flood runs.
. "$(dirname "$0")/lib.sh"
lab_begin
lab_up "syn_backlog = 256" || fail "lab did not come up"
out=$(lab_py synflood.py --host 198.18.0.2 --port 7 --count 10000 --rate 5000 \
	--legit-after 2000 --legit-timeout 10 --timeout 60) || fail "$out"
echo "$out"
expect_alive "after the flood"
expect_stat_ge tcp_syncookies_sent 1
expect_echo 65536
expect_no_bug_drops
pass
