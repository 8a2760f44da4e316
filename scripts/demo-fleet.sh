#!/usr/bin/env bash
# make demo-fleet: a fleet of two pppoed access concentrators on one
# broadcast domain sharing subscribers by pado-delay (issue 19).
#
#                 ┌─ swa1 ── ether3  ac1   pado-delay=0,200:80  (accel-ppp form)
#   subs ── swc ─ br0
#                 └─ swa2 ── ether3  ac2   pado-delay=100       (RouterOS form)
#
# ac1 answers at once until it has 80 sessions, then 200 ms late; ac2
# always 100 ms late. Subscribers take the first PADO, so the first ~80
# go to ac1 and the rest to ac2. FLEET_SUBSCRIBERS emulated subscribers
# (default 200) dial through the project's load client (labtool dial,
# test/peer), 8 at a time; the split is reported by the subscribers and
# by each AC.
#
# Not yet the whole fleet of issue 19: RADIUS is not wired to sessions, so
# each AC hands out addresses from its own local /ip pool (disjoint
# ranges), not from the shared SQL pool (test/sqlippool), and no AC is
# killed for failover yet.
#
# Runs until Ctrl-C, or DEMO_SECONDS=N seconds. Everything it creates goes
# on exit. Needs root, iproute2, bpftool and Go.
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO_SECONDS=${DEMO_SECONDS:-0}
N=${FLEET_SUBSCRIBERS:-200}
[ "$(id -u)" -eq 0 ] || { echo "demo-fleet: needs root" >&2; exit 1; }
for tool in ip bpftool go; do
	command -v "$tool" >/dev/null || { echo "demo-fleet: $tool missing: make demo-fleet installs it (scripts/deps.sh demo)" >&2; exit 1; }
done
[ -x bin/pppoed ] && [ -x bin/pppoectl ] || go build -o bin/ ./cmd/...
go build -o bin/ ./scripts/labtool

BIN=$PWD/bin
ID=$$
SW=pxfleet-sw-$ID AC1=pxfleet-ac1-$ID AC2=pxfleet-ac2-$ID SUBS=pxfleet-subs-$ID
WORK=$(mktemp -d /tmp/pppoe-fleet.XXXXXX)
PINS=$WORK/bpf
PIDS=()

cleanup() {
	set +e
	trap - EXIT INT TERM
	echo
	echo "== tearing down"
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		kill -TERM "${PIDS[i]}" 2>/dev/null && wait "${PIDS[i]}" 2>/dev/null
	done
	for ns in "$SUBS" "$AC1" "$AC2" "$SW"; do
		ip netns del "$ns" 2>/dev/null
	done
	mountpoint -q "$PINS" && umount "$PINS"
	rm -rf "$WORK"
	echo "== done: namespaces, veths, pins, processes and files removed"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
start() {
	local ns=$1 name=$2; shift 2
	ip netns exec "$ns" "$BIN/pppoed" --config "$WORK/$name.rsc" --socket "$WORK/$name.sock" \
		--bpffs "$PINS/$name" --resolv-conf "$WORK/$name.resolv.conf" \
		--log-format console "$@" >"$WORK/$name.log" 2>&1 &
	PIDS+=($!)
}
ctl() { local name=$1; shift; "$BIN/pppoectl" --socket "$WORK/$name.sock" "$@"; }
waitfor() {
	local end=$((SECONDS + $1)) what=$2; shift 2
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= end)); then
			echo "demo-fleet: timed out waiting for $what" >&2
			tail -n 20 "$WORK"/*.log >&2
			exit 1
		fi
		sleep 0.2
	done
}

echo "== lab: one bridge, two ACs, a namespace of subscribers"
mkdir -p "$PINS"
mount -t bpf bpf "$PINS"
for ns in "$SW" "$AC1" "$AC2" "$SUBS"; do
	ip netns add "$ns"
	nsx "$ns" ip link set lo up
done
nsx "$SW" ip link add br0 type bridge
ip link add ether3 netns "$AC1" type veth peer name swa1 netns "$SW"
ip link add ether3 netns "$AC2" type veth peer name swa2 netns "$SW"
ip link add subs netns "$SUBS" type veth peer name swc netns "$SW"
for p in swa1 swa2 swc; do
	nsx "$SW" ip link set "$p" master br0 up
done
nsx "$SW" ip link set br0 up
nsx "$AC1" ip link set ether3 up
nsx "$AC2" ip link set ether3 up
nsx "$SUBS" ip link set subs up

# ac N NAME DELAY: an AC's configuration; pools are disjoint because they
# are local (see the header).
ac() {
	cat <<EOF
/system identity set name=$2
/ip pool add name=subs ranges=10.$1.0.2-10.$1.3.254
/ppp profile add name=fleet local-address=10.$1.255.1 remote-address=subs
/ppp secret add name=sub password=subpass profile=fleet service=pppoe
/interface pppoe-server server add interface=ether3 service-name=fleet default-profile=fleet pado-delay=$3 disabled=no
EOF
}
ac 20 ac1 0,200:80 >"$WORK/ac1.rsc"
ac 21 ac2 100 >"$WORK/ac2.rsc"
for f in ac1 ac2; do
	echo "--- $f.rsc"
	cat "$WORK/$f.rsc"
done

echo "== starting the ACs"
start "$AC1" ac1 --metrics 127.0.0.1:9815
start "$AC2" ac2 --metrics 127.0.0.1:9815
waitfor 10 "ac1" ctl ac1 /system identity print
waitfor 10 "ac2" ctl ac2 /system identity print

echo
echo "NOTE: RADIUS is not wired to sessions yet: each AC uses its own local /ip pool."
echo "      The shared SQL pool (FreeRADIUS sqlippool on PostgreSQL, test/sqlippool) replaces them once it is."
echo
echo "== $N subscribers dial (labtool dial: the project's load client), 8 at a time"
HOLD=$((DEMO_SECONDS > 0 ? DEMO_SECONDS : 0))
ip netns exec "$SUBS" "$BIN/labtool" dial subs "$N" fleet sub subpass "$HOLD" 8 >"$WORK/dial.log" 2>&1 &
DIAL=$!
PIDS+=($DIAL)

# count AC: its sessions with an address (/ppp active print --json).
count() { ctl "$1" --json /ppp active print | grep -o '"address": *"[0-9]' | wc -l; }
# Wait for the dialler's report, then show each AC's side.
waitfor 300 "the subscribers" bash -c "grep -q 'given twice' '$WORK/dial.log' || ! kill -0 $DIAL"
cat "$WORK/dial.log"
echo
echo "== the split, as each AC counts it (/ppp active print, pado-delay metrics)"
for a in ac1 ac2; do
	ns=$AC1
	[ "$a" = ac2 ] && ns=$AC2
	printf '%s: %s sessions; ' "$a" "$(count "$a")"
	nsx "$ns" "$BIN/labtool" get http://127.0.0.1:9815/metrics |
		awk '/^pppoe_discovery_(pado_sent|pado_delayed|padi_silenced)_total/ {printf "%s=%s ", $1, $2} END {print ""}'
done

if ((DEMO_SECONDS > 0)); then
	echo "== holding the sessions for $DEMO_SECONDS s"
else
	echo "== holding the sessions; Ctrl-C to stop"
fi
wait "$DIAL" || true
tail -n 1 "$WORK/dial.log"
