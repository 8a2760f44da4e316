#!/usr/bin/env bash
# make demo: a network-namespace lab running pppoed as a PPPoE access
# concentrator and as clients, with the RouterOS reference's own
# configuration examples, live traffic through the eBPF data plane, the
# operator's view (pppoectl) and bpftool's view of the maps.
#
#   core ──cor0/up0── ac ──ether3/ether2── cl1   Quick Example server+client
#                        ──ether4/wlan1─── cl2   older example: pool
#                                                10.1.1.62-10.1.1.72, two
#                                                clients on one interface
#
# Every veth end is as plain as a real host's: cor0 has no XDP program and
# no GRO, so it cannot take XDP frames and the AC's upstream fast path hands
# those packets to the kernel (pass_no_xdp_xmit); the clients' pppoed runs
# XDP on ether2 and wlan1, so the downstream fast path redirects to ether3
# and ether4. The AC's log says which path each device gets.
#
# Runs until Ctrl-C, or DEMO_SECONDS=N seconds. Everything it creates
# (namespaces, veths, bpffs pins, processes, files) goes on exit.
# Needs root, iproute2, procps, bpftool and Go (make demo installs the
# packages through scripts/deps.sh); builds bin/pppoed, bin/pppoectl (make
# build) and bin/labtool. The lab's plumbing is scripts/lab.sh, shared
# with make demo-fleet.
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO_SECONDS=${DEMO_SECONDS:-0} # 0: until Ctrl-C; counted once traffic runs
LAB=demo LAB_DEPS=demo LAB_TMP=pppoe-demo
source scripts/lab.sh
lab_init ip sysctl bpftool
CORE=pxdemo-core-$ID AC=pxdemo-ac-$ID CL1=pxdemo-cl1-$ID CL2=pxdemo-cl2-$ID

echo "== lab: namespaces and veths"
lab_netns "$CORE" "$AC" "$CL1" "$CL2"
ip link add up0 netns "$AC" type veth peer name cor0 netns "$CORE"
ip link add ether3 netns "$AC" type veth peer name ether2 netns "$CL1"
ip link add ether4 netns "$AC" type veth peer name wlan1 netns "$CL2"
for pair in "$AC up0" "$AC ether3" "$AC ether4" "$CORE cor0" "$CL1 ether2" "$CL2 wlan1"; do
	set -- $pair
	nsx "$1" ip link set "$2" up
done
nsx "$CORE" ip addr add 198.51.100.2/24 dev cor0
nsx "$CORE" ip route add 10.0.0.0/24 via 198.51.100.1
nsx "$CORE" ip route add 10.1.1.0/24 via 198.51.100.1
nsx "$CORE" "$BIN/labtool" txoff cor0   # veth checksum offload vs XDP redirect
nsx "$AC" ip addr add 198.51.100.1/24 dev up0
nsx "$AC" sysctl -qw net.ipv4.ip_forward=1

echo "== configuration (RouterOS reference examples)"
cat >"$WORK/ac.rsc" <<'EOF'
# Quick Example server, verbatim
/ip pool
add name=pppoe-pool ranges=10.0.0.2-10.0.0.5
/ppp profile
add local-address=10.0.0.1 name=for-pppoe remote-address=pppoe-pool
/ppp secret
add name=MT-User password=StrongPass profile=for-pppoe service=pppoe
/interface pppoe-server server
add default-profile=for-pppoe disabled=no interface=ether3 service-name=pppoeservice
# The older example: a pool from 10.1.1.62 to 10.1.1.72, a profile,
# secrets, the server.
/ip pool add name=pool-older ranges=10.1.1.62-10.1.1.72
/ppp profile add name=profile-older local-address=10.1.1.1 remote-address=pool-older dns-server=192.0.2.53
/ppp secret add name=user password=passwd profile=profile-older service=pppoe
/ppp secret add name=user2 password=passwd2 profile=profile-older service=pppoe
/interface pppoe-server server add interface=ether4 service-name=internet default-profile=profile-older disabled=no
EOF
cat >"$WORK/cl1.rsc" <<'EOF'
# Quick Example client, with a default route
interface pppoe-client add interface=ether2 password=StrongPass service-name=pppoeservice name=PPPoE-Out disabled=no user=MT-User
/interface pppoe-client set PPPoE-Out add-default-route=yes
EOF
cat >"$WORK/cl2.rsc" <<'EOF'
# The reference's client line, verbatim, then a default route and DNS;
# a second client on the same interface.
/interface pppoe-client add name=pppoe-user-mike user=user password=passwd interface=wlan1 service-name=internet disabled=no
/interface pppoe-client set pppoe-user-mike add-default-route=yes use-peer-dns=yes
/interface pppoe-client add name=pppoe-out2 user=user2 password=passwd2 interface=wlan1 service-name=internet disabled=no
EOF
for f in ac cl1 cl2; do
	echo "--- $f.rsc"
	cat "$WORK/$f.rsc"
done

echo "== starting pppoed: access concentrator, then clients"
start "$AC" ac --uplink up0 --metrics 127.0.0.1:9815
waitfor 10 "the AC" ctl ac /system identity print
start "$CL1" cl1 --metrics ""
start "$CL2" cl2 --metrics ""
connected() { ctl "$1" /interface pppoe-client monitor "$2" once | grep -q "status: connected"; }
waitfor 20 "PPPoE-Out" connected cl1 PPPoE-Out
waitfor 20 "pppoe-user-mike" connected cl2 pppoe-user-mike
waitfor 20 "pppoe-out2" connected cl2 pppoe-out2
# pppoe-out2 is not the default route: its traffic leaves by source.
OUT2=$(ctl cl2 /interface pppoe-client monitor pppoe-out2 once | awk '/local-address/ {print $2}')
nsx "$CL2" ip rule add from "$OUT2" table 100
nsx "$CL2" ip route add default dev pppoe-out2 table 100

echo
echo "== sessions (pppoectl /ppp active print on the AC)"
ctl ac /ppp active print
echo
echo "== client monitor (pppoectl /interface pppoe-client monitor pppoe-user-mike once)"
ctl cl2 /interface pppoe-client monitor pppoe-user-mike once
echo
echo "== scan from cl2 (pppoectl /interface pppoe-client scan wlan1 duration=1)"
ctl cl2 /interface pppoe-client scan wlan1 duration=1
echo
echo "== routes: AC pppoe0, cl2; DNS file of cl2"
nsx "$AC" ip -4 addr show dev pppoe0 | grep inet
nsx "$AC" ip route show dev pppoe0
nsx "$CL2" ip route show
cat "$WORK/cl2.resolv.conf"

echo
echo "== traffic: ping through every session, then TCP streams to a sink in core"
nsx "$CL1" "$BIN/labtool" ping 10.0.0.2 198.51.100.2 3
nsx "$CL2" "$BIN/labtool" ping "$OUT2" 198.51.100.2 3
nsx "$CORE" "$BIN/labtool" ping 198.51.100.2 10.0.0.2 3
nsx "$CL1" "$BIN/labtool" ping 10.0.0.2 10.0.0.1 2 # the AC itself: slow path
ip netns exec "$CORE" "$BIN/labtool" sink 198.51.100.2:5001 &
PIDS+=($!)
sleep 0.5
STREAM=$((DEMO_SECONDS > 0 ? DEMO_SECONDS : 86400))
END=$((SECONDS + DEMO_SECONDS))
ip netns exec "$CL1" "$BIN/labtool" stream 198.51.100.2:5001 "$STREAM" &
PIDS+=($!)
ip netns exec "$CL2" "$BIN/labtool" stream 198.51.100.2:5001 "$STREAM" &
PIDS+=($!)
ip netns exec "$CL2" "$BIN/labtool" stream 198.51.100.2:5001 "$STREAM" "$OUT2" &
PIDS+=($!)

echo
echo "== the AC's egress devices: where the XDP fast path redirects, and where the kernel forwards (pppoed log)"
grep "egress device" "$WORK/ac.log" || true

echo
echo "== bpftool: the AC's programs and maps"
nsx "$AC" bpftool net show
echo "--- bpftool map dump pinned $PINS/ac/sessions (key → the session's attributes)"
bpftool map dump pinned "$PINS/ac/sessions"
# session_info and session_stats are arrays sized for every possible
# session: look the installed ones up rather than dump them. A key is the
# index's four bytes, little-endian; session_stats holds CPU 0's counters at
# the index itself (CPU c's at c * 262144 + index).
for idx in $(bpftool -j map dump pinned "$PINS/ac/sessions" | grep -o '"index": *[0-9]*' | grep -o '[0-9]*$'); do
	key="$((idx & 255)) $((idx >> 8 & 255)) $((idx >> 16 & 255)) $((idx >> 24))"
	echo "--- bpftool map lookup pinned $PINS/ac/session_info key $key"
	bpftool map lookup pinned "$PINS/ac/session_info" key $key
	echo "--- bpftool map lookup pinned $PINS/ac/session_stats key $key (CPU 0)"
	bpftool map lookup pinned "$PINS/ac/session_stats" key $key
done

if ((DEMO_SECONDS > 0)); then
	echo "== running for $DEMO_SECONDS s"
else
	echo "== running; Ctrl-C to stop"
fi
while ((DEMO_SECONDS == 0 || SECONDS < END)); do
	sleep 2
	echo
	echo "--- $(date +%T) /ppp active print"
	ctl ac /ppp active print
	echo "--- data-plane counters (metrics)"
	nsx "$AC" "$BIN/labtool" get http://127.0.0.1:9815/metrics |
		grep -E 'reason="(fast_up|fast_down|pass_no_xdp_xmit|slow_up|slow_down)"' || true
done
