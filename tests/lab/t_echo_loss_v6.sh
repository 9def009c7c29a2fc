#!/usr/bin/env bash
# t_echo_loss_v6.sh - bulk echo through loss and reordering (v6): mxgate's
# impairment stage reorders 10 % of what it sends (2 ms), nftables drops
# 2 % each way on mxout; 20 MB over 8 connections must come back byte for
# byte, and the retransmit and out-of-order counters prove loss happened.
. "$(dirname "$0")/lib.sh"
lab_begin
lab_up "impair = reorder=10 duplicate=0 delay=2ms" || fail "lab did not come up"
nft_loss 2
out=$(lab_py echo_load.py --host 2001:2::2 --port 7 --conns 8 --bytes 20000000 --timeout 180)
rc=$?
echo "$out"
echo "loss rules took: $(nft_loss_counts)"
nft_clear
[ $rc -eq 0 ] || fail "echo_load: $out"
expect_alive "after the load"
expect_stat_ge tcp_retransmits 1
expect_stat_ge tcp_ooo_segments 1
wait_stat_eq tcp_conns 0 10
expect_no_bug_drops
pass
