#!/usr/bin/env bash
# t_tickets_fleet.sh - two appliances (two lab namespaces, each its own
# mxgate and mxgate-control) share one Redis: a session ticket issued by the
# first resumes on the second, because both use the ticket keys in Redis;
# after "mxctl tickets rotate" the old ticket still resumes (the previous
# key decrypts) and both appliances follow the rotation.
. "$(dirname "$0")/lib.sh"
lab_begin
B_NS=${LAB_NS}b
B_DIR=$LAB_DIR/second
mkdir -p "$B_DIR" || fail "cannot create $B_DIR"
trap 'LAB_NS=$B_NS LAB_DIR=$B_DIR "$LAB_SH" down >/dev/null 2>&1; lab_down >/dev/null 2>&1' EXIT
export LAB_CONTROL=1
LAB_METRICS=127.0.0.1:19466 lab_up || fail "first appliance did not come up"
shared="unix:$LAB_DIR/redis.sock"
LAB_NS=$B_NS LAB_DIR=$B_DIR LAB_METRICS=127.0.0.1:19467 LAB_REDIS=$shared \
	"$LAB_SH" up || fail "second appliance did not come up"
ok "two appliances up, one Redis"
# both must have taken the shared keys before we test
for d in "$LAB_DIR" "$B_DIR"; do
	for ((i = 0; i < 50; i++)); do
		"$LAB_PY" "$LAB_T/ctl_client.py" "$d/ctl.sock" status 2>/dev/null |
			grep -q '^tickets from control plane' && break
		sleep 0.1
	done
	[ $i -lt 50 ] || fail "appliance of $d did not get the ticket keys from the control plane"
done
ok "both appliances use the control plane's ticket keys"
# s_client NS OPTIONS...: a short STARTTLS session in a namespace
sess() {
	local ns=$1
	shift
	(sleep 0.5; printf 'EHLO client.example\r\n'; sleep 0.5; printf 'QUIT\r\n') |
		ip netns exec "$ns" timeout 15 openssl s_client -starttls smtp -connect 198.18.0.2:25 \
		-ign_eof "$@" 2>&1 | grep -E '^(New|Reused),'
}
sess "$LAB_NS" -sess_out "$LAB_DIR/ticket" >/dev/null
[ -s "$LAB_DIR/ticket" ] || fail "no ticket from the first appliance"
out=$(sess "$B_NS" -sess_in "$LAB_DIR/ticket")
echo "$out" | grep -q '^Reused' || fail "the ticket from the first appliance did not resume on the second: $out"
ok "a ticket issued by the first appliance resumes on the second"
"$LAB_SH" ctl tickets rotate >/dev/null || fail "mxctl tickets rotate"
sleep 1.5
out=$(sess "$B_NS" -sess_in "$LAB_DIR/ticket")
echo "$out" | grep -q '^Reused' || fail "after one rotation the old ticket should still resume: $out"
sess "$B_NS" -sess_out "$LAB_DIR/ticket2" >/dev/null
out=$(sess "$LAB_NS" -sess_in "$LAB_DIR/ticket2")
echo "$out" | grep -q '^Reused' || fail "a ticket from the second appliance after the rotation did not resume on the first: $out"
ok "after a rotation: the old ticket still resumes, and new tickets work across the fleet"
pass
