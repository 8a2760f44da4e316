#!/usr/bin/env bash
# CI's check of the Debian package that `make deb` built: its contents,
# lintian (no errors), then `apt install ./pppoe-xdp_*.deb` on this machine
# for real, the installed pppoed started as the unit starts it, and remove
# and purge, after which nothing of it is left. Needs root.
#
# It installs into the machine it runs on, so it refuses to run where
# pppoe-xdp is already installed; whatever happens, it purges what it
# installed.
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() { echo "deb check: $*" >&2; exit 1; }
shopt -s nullglob
debs=(pppoe-xdp_*.deb)
[ ${#debs[@]} -eq 1 ] || fail "want one pppoe-xdp_*.deb here (make deb), found ${#debs[@]}"
deb=${debs[0]}
[ "$(id -u)" -eq 0 ] || fail "needs root (it installs the package)"

echo "== $deb: contents"
contents=$(dpkg-deb --contents "$deb")
echo "$contents"
for want in \
	"-rwxr-xr-x root/root .* ./usr/sbin/pppoed$" \
	"-rwxr-xr-x root/root .* ./usr/sbin/pppoectl$" \
	"-rw-r--r-- root/root .* ./lib/systemd/system/pppoed.service$" \
	"-rw------- root/root .* ./etc/pppoe-xdp/pppoed.rsc$" \
	"-rw-r--r-- root/root .* ./etc/default/pppoed$" \
	"drwxr-xr-x root/root .* ./var/lib/pppoe-xdp/$" \
	"-rw-r--r-- root/root .* ./usr/share/pppoe-xdp/grafana/pppoe-xdp.json$" \
	"-rw-r--r-- root/root .* ./usr/share/doc/pppoe-xdp/copyright$"; do
	grep -Eq -- "^$want" <<<"$contents" || fail "no entry like '$want'"
done
conffiles=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)
[ "$conffiles" = $'/etc/pppoe-xdp/pppoed.rsc\n/etc/default/pppoed' ] || fail "conffiles: $conffiles"
# The example must come disabled, or installing it would start serving.
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./etc/pppoe-xdp/pppoed.rsc |
	grep -Eq '^add .*disabled=yes .*interface=ether3' || fail "the example server is not disabled=yes"

echo "== lintian"
# Errors fail; warnings are printed (README, Installing as a service).
lintian --fail-on error "$deb" ||
	fail "lintian reports errors"

echo "== apt install ./$deb"
if dpkg-query -W -f='${db:Status-Abbrev}' pppoe-xdp 2>/dev/null | grep -q '^[ih]i'; then
	fail "pppoe-xdp is installed on this machine already: not touching it"
fi
ns=pxdeb$$ work=$(mktemp -d)
cleanup() {
	set +e
	[ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	ip netns del "$ns" 2>/dev/null
	rm -rf "$work"
	if dpkg-query -W pppoe-xdp >/dev/null 2>&1; then
		DEBIAN_FRONTEND=noninteractive apt-get purge -y -q pppoe-xdp >/dev/null
	fi
}
trap cleanup EXIT
DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Use-Pty=0 "./$deb"
for f in /usr/sbin/pppoed /usr/sbin/pppoectl /lib/systemd/system/pppoed.service /etc/default/pppoed; do
	[ -f "$f" ] || fail "$f not installed"
done
[ "$(stat -c %a /etc/pppoe-xdp/pppoed.rsc)" = 600 ] || fail "pppoed.rsc is not mode 600"
[ -d /var/lib/pppoe-xdp ] || fail "no /var/lib/pppoe-xdp"
# postinst enables the unit whether or not systemd runs; it starts it only
# where systemd runs, which CI's machine need not.
[ -L /etc/systemd/system/multi-user.target.wants/pppoed.service ] || fail "pppoed.service not enabled"
if command -v systemd-analyze >/dev/null; then
	systemd-analyze verify /lib/systemd/system/pppoed.service 2>&1 | { grep pppoed || true; } >"$work/verify"
	if [ -s "$work/verify" ]; then cat "$work/verify"; fail "systemd-analyze verify pppoed.service"; fi
	echo "systemd-analyze verify pppoed.service: clean"
else
	echo "systemd-analyze not installed: unit not verified"
fi

echo "== the installed pppoed with the installed configuration"
# As the unit runs it (its ExecStart, /etc/default/pppoed), in a network
# namespace of its own so that it touches nothing of this machine's; only
# the paths a second daemon must not share (socket, pins, state,
# resolv.conf) are the check's own.
exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/pppoed.service)
[[ "$exec_start" == "/usr/sbin/pppoed --config /etc/pppoe-xdp/pppoed.rsc "* ]] || fail "ExecStart: $exec_start"
PPPOED_ARGS=
# shellcheck disable=SC1091
. /etc/default/pppoed
ip netns add "$ns"
ip -n "$ns" link set lo up
mkdir -p "$work/pins"
# shellcheck disable=SC2086
ip netns exec "$ns" /usr/sbin/pppoed --config /etc/pppoe-xdp/pppoed.rsc --socket "$work/pppoed.sock" \
	--bpffs "$work/pins/pppoe-xdp" --state-dir "$work/state" --resolv-conf "$work/resolv.conf" $PPPOED_ARGS >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 50); do
	[ -S "$work/pppoed.sock" ] && break
	kill -0 "$pid" 2>/dev/null || { cat "$work/log"; fail "pppoed exited"; }
	sleep 0.2
done
ctl() { /usr/sbin/pppoectl --socket "$work/pppoed.sock" "$@"; }
servers=$(ctl /interface pppoe-server server print)
echo "$servers"
grep -Eq '^ *0 +X +pppoeservice +ether3' <<<"$servers" || fail "the example server is not there, disabled"
active=$(ctl /ppp active print)
[ "$(wc -l <<<"$active")" = 1 ] || fail "sessions with the example: $active"
kill -TERM "$pid"
wait "$pid" || { cat "$work/log"; fail "pppoed did not stop cleanly"; }
pid=
grep -q 'pppoed started' "$work/log" || { cat "$work/log"; fail "no 'pppoed started' in the log"; }

echo "== apt remove, apt purge"
DEBIAN_FRONTEND=noninteractive apt-get remove -y -q -o Dpkg::Use-Pty=0 pppoe-xdp
[ ! -e /usr/sbin/pppoed ] || fail "pppoed left after remove"
[ -f /etc/pppoe-xdp/pppoed.rsc ] || fail "remove took the edited configuration (a conffile)"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q -o Dpkg::Use-Pty=0 pppoe-xdp
for f in /etc/pppoe-xdp /etc/default/pppoed /var/lib/pppoe-xdp /lib/systemd/system/pppoed.service \
	/etc/systemd/system/multi-user.target.wants/pppoed.service /var/lib/systemd/deb-systemd-helper-enabled/pppoed.service.dsh-also; do
	[ ! -e "$f" ] && [ ! -L "$f" ] || fail "$f left after purge"
done
! dpkg-query -W pppoe-xdp >/dev/null 2>&1 || fail "dpkg still knows pppoe-xdp after purge"
echo "== $deb: ok"
