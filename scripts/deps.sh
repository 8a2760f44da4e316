#!/usr/bin/env bash
# Installs the Debian packages a make target needs, saying what each is for.
# `make test`, `make demo`, `make generate` and `make deb` run it before their
# work, and .ci/run runs it for everything: one list, one place.
#
#   scripts/deps.sh [--check] GROUP...
#
# GROUP: generate (make generate), demo (make demo), fleet (make
# demo-fleet's RADIUS, beside demo), test (make test), deb (make deb),
# debcheck (scripts/deb/check.sh: lintian), all.
#
# With --check, or NO_INSTALL=1 in the environment (for people who manage
# their packages themselves), nothing is installed: a missing package is an
# error naming it, and the script exits 1.
#
# When everything is there it costs one dpkg-query; apt-get update runs only
# when something is missing.
set -euo pipefail

usage() {
	echo "usage: $0 [--check] {generate|demo|fleet|test|deb|debcheck|all}..." >&2
	exit 2
}

check=0
case "${NO_INSTALL:-0}" in 0 | "" | no | false) ;; *) check=1 ;; esac
groups=()
for a in "$@"; do
	case "$a" in
	--check) check=1 ;;
	generate | demo | fleet | test | deb | debcheck) groups+=("$a") ;;
	all) groups+=(generate demo fleet test deb debcheck) ;;
	*) usage ;;
	esac
done
[ ${#groups[@]} -gt 0 ] || usage

# package → why, per group. A package in several groups is listed once.
declare -A why
want=()
need() {
	local pkg=$1 reason=$2
	if [ -z "${why[$pkg]:-}" ]; then
		want+=("$pkg")
		why[$pkg]=$reason
	fi
}
# Every target: make itself (a bare Debian has none: run this script
# first), git (go build stamps the commit, make lint lists the sources),
# and the CA certificates Go needs to fetch modules over HTTPS.
need make "runs the Makefile"
need git "go build stamps the commit; make lint and make deb read the tree"
need ca-certificates "Go fetches the modules in go.mod over HTTPS"
for g in "${groups[@]}"; do
	case "$g" in
	generate)
		need clang-19 "compiles bpf/*.c to BPF (make generate)"
		need llvm-19 "llvm-strip-19 strips the BPF objects (make generate)"
		need libbpf-dev "bpf/bpf_helpers.h and friends for bpf/*.c (make generate)"
		;;
	demo)
		need iproute2 "ip: the lab's namespaces, veths, addresses and routes"
		need procps "sysctl: IP forwarding in the lab's AC namespace"
		need bpftool "shows the AC's programs and pinned maps"
		;;
	fleet)
		need freeradius "make demo-fleet: the fleet's RADIUS server"
		need freeradius-postgresql "make demo-fleet: FreeRADIUS's PostgreSQL driver for sqlippool"
		need freeradius-utils "make demo-fleet: radclient sends the Disconnect-Requests"
		need postgresql "make demo-fleet: the fleet's shared address pool (radippool)"
		;;
	test)
		need iproute2 "ip and tc: the tests' namespaces, veths, routes and qdiscs"
		need procps "sysctl: IP forwarding in the tests' AC namespaces"
		need bpftool "the tests read the pinned maps as an operator would"
		need iperf3 "real TCP and UDP through rate-limited sessions (TestRateLimit, make bench-ratelimit)"
		need tshark "cross-check: dissects every frame the codecs and the data plane write"
		need python3-scapy "cross-check: frames scapy builds must parse to the right values"
		need nftables "nft: TestDHCPv6RebindEndToEnd drops the client's DHCPv6 Renews at ether2's egress"
		need pppoe "interop: rp-pppoe's pppoe, pppoe-discovery and pppoe-server against ours"
		need ppp "interop: pppd, which rp-pppoe's client runs for PPP"
		need freeradius "interop: a real RADIUS server for the RADIUS client"
		need freeradius-utils "interop: radclient sends Disconnect and CoA requests"
		need freeradius-postgresql "interop: FreeRADIUS's PostgreSQL driver, for the fleet's shared sqlippool"
		need postgresql "interop: the fleet's shared address pool (sqlippool's radippool table)"
		;;
	deb) ;; # dpkg-deb, which builds it, is in dpkg: on every Debian system
	debcheck)
		need lintian "checks the package against Debian policy"
		;;
	esac
done

command -v dpkg-query >/dev/null || {
	echo "deps: no dpkg here: install these (Debian names) yourself: ${want[*]}" >&2
	exit 1
}

# One dpkg-query for all: a package it does not know is simply not "ii".
installed=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${want[@]}" 2>/dev/null | awk '$1 == "ii" { print $2 }' || true)
missing=()
for p in "${want[@]}"; do
	grep -qx -- "$p" <<<"$installed" || missing+=("$p")
done

# Go is not installed from Debian (its golang is older than go.mod asks).
gocheck() {
	command -v "${GO:-go}" >/dev/null && return 0
	echo "deps: Go is missing (go.mod asks for $(awk '$1 == "go" { print $2 }' "$(dirname "$0")/../go.mod")):" \
		"install it from go.dev/dl and put its bin/ on PATH" >&2
	return 1
}

if [ ${#missing[@]} -eq 0 ]; then
	gocheck
	exit 0
fi

echo "deps: missing for ${groups[*]}:"
for p in "${missing[@]}"; do
	printf '  %-17s %s\n' "$p" "${why[$p]}"
done
if [ "$check" = 1 ]; then
	echo "deps: installing is off (NO_INSTALL=1 or --check): apt-get install ${missing[*]}" >&2
	exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: installing needs root: run as root, or apt-get install ${missing[*]} yourself and set NO_INSTALL=1" >&2
	exit 1
fi
echo "deps: installing them (NO_INSTALL=1 turns this off)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q -o Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}"
gocheck
