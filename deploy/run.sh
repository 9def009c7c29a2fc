#!/usr/bin/env bash
# run.sh - "make run": bring the lab up, show how to talk to mxgate, follow
# its log; Ctrl-C (or the end of this script) tears the lab down.
set -u
cd "$(dirname "$0")/.." || exit 1
[ "$(id -u)" = 0 ] || { echo "make run: needs root (network namespace, taps)" >&2; exit 1; }
down() { trap - EXIT INT TERM; echo; deploy/lab.sh down; exit 0; }
trap down EXIT INT TERM
deploy/lab.sh up || exit 1
echo
echo "following ${LAB_DIR:-build/lab}/mxgate.log; Ctrl-C stops mxgate and removes the lab"
tail -n +1 -f "${LAB_DIR:-build/lab}/mxgate.log" &
wait $!
