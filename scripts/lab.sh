# scripts/lab.sh: the namespace lab make demo (scripts/demo.sh) and make
# demo-fleet (scripts/demo-fleet.sh) share. Sourced, not run:
#
#   LAB=demo LAB_DEPS=demo LAB_TMP=pppoe-demo
#   source scripts/lab.sh
#   lab_init TOOL...
#
# lab_init checks for root and the TOOLs (and go), builds bin/pppoed,
# bin/pppoectl and bin/labtool, makes WORK (a temp dir) with PINS in it, a
# bpffs every namespace sees (for bpftool), and arranges that on exit
# (Ctrl-C, the end of DEMO_SECONDS, an error) everything goes: the
# processes in PIDS last first, the namespaces made by lab_netns last
# first, the bpffs, WORK.
#
# Then: lab_netns NS... makes namespaces with lo up; nsx NS CMD... runs in
# one; start NS NAME ARGS... runs pppoed on $WORK/NAME.rsc; ctl NAME ARGS...
# is pppoectl to it; waitfor SECONDS DESCRIPTION CMD... polls.

BIN=$PWD/bin
ID=$$
PIDS=()
LAB_NS=()

lab_init() {
	[ "$(id -u)" -eq 0 ] || { echo "$LAB: needs root" >&2; exit 1; }
	local tool
	for tool in "$@" go; do
		command -v "$tool" >/dev/null || { echo "$LAB: $tool missing: make $LAB installs it (scripts/deps.sh $LAB_DEPS)" >&2; exit 1; }
	done
	[ -x bin/pppoed ] && [ -x bin/pppoectl ] || go build -o bin/ ./cmd/...
	go build -o bin/ ./scripts/labtool
	WORK=$(mktemp -d "/tmp/$LAB_TMP.XXXXXX")
	PINS=$WORK/bpf
	trap lab_cleanup EXIT
	trap 'exit 130' INT TERM
	mkdir -p "$PINS"
	mount -t bpf bpf "$PINS" # one bpffs every namespace sees, for bpftool
}

lab_cleanup() {
	set +e
	trap - EXIT INT TERM
	echo
	echo "== tearing down"
	# Last started first: clients before the ACs they would send PADT to,
	# the ACs before what they use.
	local i
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		kill -TERM "${PIDS[i]}" 2>/dev/null && wait "${PIDS[i]}" 2>/dev/null
	done
	for ((i = ${#LAB_NS[@]} - 1; i >= 0; i--)); do
		ip netns del "${LAB_NS[i]}" 2>/dev/null
	done
	mountpoint -q "$PINS" && umount "$PINS"
	rm -rf "$WORK"
	echo "== done: namespaces, veths, pins, processes and files removed"
}

lab_netns() {
	local ns
	for ns in "$@"; do
		ip netns add "$ns"
		LAB_NS+=("$ns")
		nsx "$ns" ip link set lo up
	done
}

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# start NS NAME ARGS...: pppoed in NS, logging to $WORK/NAME.log.
start() {
	local ns=$1 name=$2; shift 2
	# ip execs pppoed, so $! is pppoed's pid (a shell function would
	# leave a subshell in between that the TERM would stop alone).
	ip netns exec "$ns" "$BIN/pppoed" --config "$WORK/$name.rsc" --socket "$WORK/$name.sock" \
		--bpffs "$PINS/$name" --state-dir "$WORK/$name.state" --resolv-conf "$WORK/$name.resolv.conf" \
		--log-format console "$@" >>"$WORK/$name.log" 2>&1 &
	PIDS+=($!)
}
ctl() { local name=$1; shift; "$BIN/pppoectl" --socket "$WORK/$name.sock" "$@"; }

# waitfor SECONDS DESCRIPTION COMMAND...
waitfor() {
	local end=$((SECONDS + $1)) what=$2; shift 2
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= end)); then
			echo "$LAB: timed out waiting for $what" >&2
			tail -n 20 "$WORK"/*.log >&2
			exit 1
		fi
		sleep 0.2
	done
}
