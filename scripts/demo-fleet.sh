#!/usr/bin/env bash
# make demo-fleet: a fleet of two pppoed access concentrators on one
# broadcast domain sharing subscribers by pado-delay, their addresses from
# one pool in SQL behind RADIUS, and a failover (issue 19).
#
#                 ┌─ swa1 ── ether3  ac-one  up0 192.0.2.1, .11 ─┐
#   subs ── swc ─ br0                                            br1 ── core 192.0.2.254
#                 └─ swa2 ── ether3  ac-two  up0 192.0.2.2, .12 ─┘  FreeRADIUS sqlippool,
#                                                                    PostgreSQL, radclient
#
# ac-one   pado-delay=0,300:N/2  (accel-ppp's form) at once below N/2
#          sessions, then 300 ms late
# ac-two   pado-delay=150        (RouterOS's form) always 150 ms late
#
# Subscribers take the first PADO, so the first N/2 go to ac-one and the
# rest to ac-two. FLEET_SUBSCRIBERS emulated subscribers (default 200) dial
# through the project's load client (labtool dial: test/peer's
# Subscriber, as the fleet lab TestFleetRadiusFailover), 8 at a time, with
# a 1 s keepalive: when their AC stops answering they rediscover and dial
# again. Then:
#
#   - the split, as the subscribers, the ACs and PostgreSQL count it (each
#     AC's leases under its NAS-IP-Address: its /radius src-address, .11
#     and .12, not the kernel's first address on up0);
#   - radclient sends ac-one a Disconnect-Request for a session of ac-two:
#     NAK, Error-Cause 503 (Session-Context-Not-Found); to ac-two: ACK;
#   - kill -9 of ac-one: its subscribers' keepalives notice, they
#     rediscover and come back on ac-two (the time is reported); ac-one's
#     leases stay in the pool until ac-one is started again and its
#     Accounting-On clears them (Debian's sqlippool on_clear).
#
# FLEET_AAA=local is the fleet without RADIUS: each AC hands out addresses
# from a local /ip pool of its own (disjoint ranges); split only.
#
# Runs until Ctrl-C, or DEMO_SECONDS=N seconds. Everything it creates goes
# on exit. Needs root, iproute2, bpftool and Go; with RADIUS also
# freeradius, freeradius-postgresql, freeradius-utils and postgresql (make
# demo-fleet installs them through scripts/deps.sh). The lab's plumbing is
# scripts/lab.sh, shared with make demo.
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO_SECONDS=${DEMO_SECONDS:-0}
N=${FLEET_SUBSCRIBERS:-200}
AAA=${FLEET_AAA:-radius}
case "$AAA" in radius | local) ;; *) echo "demo-fleet: FLEET_AAA=$AAA: radius or local" >&2; exit 2 ;; esac
LAB=demo-fleet LAB_DEPS="demo fleet" LAB_TMP=pppoe-fleet
source scripts/lab.sh
if [ "$AAA" = radius ]; then
	lab_init ip bpftool freeradius radclient runuser
else
	lab_init ip bpftool
fi
SW=pxfleet-sw-$ID AC1=pxfleet-ac1-$ID AC2=pxfleet-ac2-$ID SUBS=pxfleet-subs-$ID CORE=pxfleet-core-$ID
SECRET=fleet-secret # test/sqlippool's

echo "== lab: one bridge, two ACs, a namespace of subscribers"
lab_netns "$SW" "$AC1" "$AC2" "$SUBS"
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

if [ "$AAA" = radius ]; then
	echo "== core: FreeRADIUS with sqlippool on PostgreSQL, reached by both ACs' up0"
	lab_netns "$CORE"
	nsx "$CORE" ip link add br1 type bridge
	ip link add up0 netns "$AC1" type veth peer name c1 netns "$CORE"
	ip link add up0 netns "$AC2" type veth peer name c2 netns "$CORE"
	for p in c1 c2; do
		nsx "$CORE" ip link set "$p" master br1 up
	done
	nsx "$CORE" ip link set br1 up
	nsx "$CORE" ip addr add 192.0.2.254/24 dev br1
	for a in "$AC1 1" "$AC2 2"; do
		set -- $a
		nsx "$1" ip link set up0 up
		nsx "$1" ip addr add "192.0.2.$2/24" dev up0
		nsx "$1" ip addr add "192.0.2.1$2/24" dev up0
	done
	# Twice the subscribers: a dead AC's leases stay until it is back.
	ip netns exec "$CORE" "$BIN/labtool" sqlippool "$WORK/radius" 192.0.2.254 192.0.2.0/24 100.64.0.1 $((2 * N)) >"$WORK/sqlippool.log" 2>&1 &
	PIDS+=($!)
	waitfor 120 "FreeRADIUS and PostgreSQL" grep -q "ready" "$WORK/sqlippool.log"
	cat "$WORK/sqlippool.log"
	PSQL=$(sed -n 's/^sqlippool: psql: //p' "$WORK/sqlippool.log")
fi

# ac IDENTITY PADO-DELAY N SRC: an AC's configuration. With RADIUS no pool
# and no secret of its own; locally, pools 10.N.0.0/22, disjoint.
ac() {
	echo "/system identity set name=$1"
	if [ "$AAA" = radius ]; then
		cat <<EOF
/ppp profile add name=fleet local-address=100.64.255.1
/interface pppoe-server server add interface=ether3 service-name=fleet default-profile=fleet pado-delay=$2 disabled=no
/radius add service=ppp address=192.0.2.254 secret=$SECRET src-address=$4 timeout=2s
/ppp aaa set use-radius=yes accounting=yes
/radius incoming set accept=yes
EOF
	else
		cat <<EOF
/ip pool add name=subs ranges=10.$3.0.2-10.$3.3.254
/ppp profile add name=fleet local-address=10.$3.255.1 remote-address=subs
/ppp secret add name=sub password=subpass profile=fleet service=pppoe
/interface pppoe-server server add interface=ether3 service-name=fleet default-profile=fleet pado-delay=$2 disabled=no
EOF
	fi
}
ac ac-one "0,300:$((N / 2))" 20 192.0.2.11 >"$WORK/ac1.rsc"
ac ac-two 150 21 192.0.2.12 >"$WORK/ac2.rsc"
for f in ac1 ac2; do
	echo "--- $f.rsc"
	cat "$WORK/$f.rsc"
done

echo "== starting the ACs"
start "$AC1" ac1 --metrics 127.0.0.1:9815
AC1PID=${PIDS[-1]}
start "$AC2" ac2 --metrics 127.0.0.1:9815
waitfor 60 "ac-one" ctl ac1 /system identity print
waitfor 60 "ac-two" ctl ac2 /system identity print

echo
echo "== $N subscribers dial (labtool dial: the project's load client), 8 at a time"
if [ "$AAA" = radius ]; then
	# Until the end of the demo, with a 1 s keepalive: they follow a dead AC's sessions elsewhere.
	ip netns exec "$SUBS" "$BIN/labtool" dial subs "$N" fleet sub subpass 0 8 1s >"$WORK/dial.log" 2>&1 &
else
	ip netns exec "$SUBS" "$BIN/labtool" dial subs "$N" fleet sub subpass "$DEMO_SECONDS" 8 >"$WORK/dial.log" 2>&1 &
fi
DIAL=$!
PIDS+=($DIAL)

# count AC: its sessions with an address (/ppp active print --json).
count() { ctl "$1" --json /ppp active print | grep -o '"address": *"[0-9]' | wc -l; }
# leases: the live leases of the SQL pool per NAS-IP-Address.
leases() {
	$PSQL -Atc "SELECT '  NAS-IP-Address ' || nasipaddress || ': ' || count(*) || ' leases' FROM radippool
		WHERE expiry_time > 'now'::timestamp(0) GROUP BY nasipaddress ORDER BY nasipaddress"
}
no_leases() {
	local l
	l=$(leases)
	! grep -q "$1" <<<"$l"
}
# upagain: how often the dialler has seen every subscriber back up.
upagain() { grep -c "up again" "$WORK/dial.log" || true; }
more_upagain() { (($(upagain) > $1)); }
# all_on AC: the dialler's newest census has every subscriber up on AC.
# (Not "up again": that is printed as soon as those that noticed the
# dead AC are back, while others' keepalive has not yet given up.)
all_on() { grep '^dial: [0-9]' "$WORK/dial.log" | tail -n 1 | grep -q " $1 $N, down 0\$"; }
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

if [ "$AAA" = radius ]; then
	echo
	echo "== the SQL pool (PostgreSQL radippool, as sqlippool keeps it): each AC's leases under its NAS-IP-Address"
	leases
	on_acs=$( (ctl ac1 --json /ppp active print; ctl ac2 --json /ppp active print) | grep -o '"address": *"[0-9.]*"')
	echo "  addresses on the ACs: $(wc -l <<<"$on_acs"), distinct: $(sort -u <<<"$on_acs" | wc -l)"

	echo
	echo "== CoA/Disconnect reach the AC that owns the session"
	rows=$(ctl ac2 --json /ppp active print | tr -d '\n' | grep -o '{[^}]*}')
	row=${rows%%$'\n'*} # not head: its early exit would be a SIGPIPE, fatal under pipefail
	id=$(grep -o '"\.id": *"\*[0-9a-fA-F]*"' <<<"$row" | grep -o '[0-9a-fA-F]*"$' | tr -d '"')
	addr=$(grep -o '"address": *"[0-9.]*"' <<<"$row" | grep -o '[0-9.]*"$' | tr -d '"')
	acct=$(printf '%08x' "0x$id") # Acct-Session-Id: the .id in eight hex digits
	for nas in "192.0.2.1 ac-one" "192.0.2.2 ac-two"; do
		set -- $nas
		echo "--- radclient $1:3799 disconnect: Acct-Session-Id $acct, Framed-IP-Address $addr (ac-two's session) to $2"
		printf 'Acct-Session-Id = "%s"\nFramed-IP-Address = %s\n' "$acct" "$addr" |
			nsx "$CORE" radclient -x -t 5 -r 1 "$1:3799" disconnect "$SECRET" 2>&1 | grep -E "Received|Error-Cause" || true
	done
	ups=$(upagain)
	waitfor 60 "the disconnected subscriber back" more_upagain "$ups"
	grep "up again" "$WORK/dial.log" | tail -n 1

	echo
	echo "== failover: kill -9 ac-one ($(count ac1) sessions)"
	lines=$(wc -l <"$WORK/dial.log")
	killed=$(date +%s%N)
	kill -KILL "$AC1PID"
	echo "killed at $(date -d "@${killed:0:10}.${killed:10:3}" +%T.%3N); the subscribers' keepalive gives up after 2 s"
	wait "$AC1PID" 2>/dev/null || true
	waitfor 120 "every subscriber on ac-two" all_on ac-two
	back=$(date +%s%N)
	tail -n +$((lines + 1)) "$WORK/dial.log"
	echo "every subscriber up on ac-two within $(((back - killed) / 1000000)) ms of kill -9 (polled every 0.2 s)"
	echo "ac-two: $(count ac2) sessions"
	echo "--- the SQL pool: ac-one (192.0.2.11) died without its Stops, its leases stay"
	leases

	echo
	echo "== ac-one starts again: its Accounting-On clears its leases (sqlippool on_clear, by NAS-IP-Address)"
	start "$AC1" ac1 --metrics 127.0.0.1:9815
	waitfor 60 "ac-one" ctl ac1 /system identity print
	waitfor 60 "ac-one's leases cleared" no_leases 192.0.2.11
	leases
fi

if ((DEMO_SECONDS > 0)); then
	echo "== holding the sessions for $DEMO_SECONDS s"
else
	echo "== holding the sessions; Ctrl-C to stop"
fi
if [ "$AAA" = radius ]; then
	if ((DEMO_SECONDS > 0)); then sleep "$DEMO_SECONDS"; else wait "$DIAL"; fi
else
	wait "$DIAL" || true
	tail -n 1 "$WORK/dial.log"
fi
