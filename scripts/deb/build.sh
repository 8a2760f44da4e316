#!/usr/bin/env bash
# make deb: builds pppoe-xdp_VERSION_ARCH.deb in the current directory with
# dpkg-deb alone (no debhelper, no source package): pppoed and pppoectl,
# the systemd unit, the example configuration (disabled until edited),
# /etc/default/pppoed, the state directory, the Grafana dashboard, and a
# copyright file listing every Go module linked in with its license.
#
# DEB_VERSION overrides the version (default 0~gitDATE.COMMIT of HEAD: no
# release exists yet, and ~ sorts below any future 0.x); DEB_MAINTAINER
# the Maintainer field (default DEBFULLNAME <DEBEMAIL>, else HEAD's author).
set -euo pipefail
cd "$(dirname "$0")/../.."
GO=${GO:-go}

commit() { TZ=UTC git log -1 --date=format-local:%Y%m%d%H%M%S --format="$1" 2>/dev/null || true; }
version=${DEB_VERSION:-}
if [ -z "$version" ]; then
	date=$(commit %cd)
	[ -n "$date" ] || { echo "deb: not a git checkout: set DEB_VERSION" >&2; exit 1; }
	version="0~git$date.$(commit %h)"
fi
maintainer=${DEB_MAINTAINER:-}
if [ -z "$maintainer" ] && [ -n "${DEBFULLNAME:-}" ] && [ -n "${DEBEMAIL:-}" ]; then
	maintainer="$DEBFULLNAME <$DEBEMAIL>"
fi
maintainer=${maintainer:-$(commit '%an <%ae>')}
[ -n "$maintainer" ] || { echo "deb: set DEB_MAINTAINER (Name <email>)" >&2; exit 1; }

arch=$(dpkg --print-architecture)
case "$arch" in
amd64 | arm64 | riscv64 | ppc64el | s390x) goarch=${arch/ppc64el/ppc64le} ;;
i386) goarch=386 ;;
armhf) goarch=arm ;;
*) echo "deb: no GOARCH known for Debian architecture $arch" >&2; exit 1 ;;
esac

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/root
doc=$root/usr/share/doc/pppoe-xdp

# No cgo, so the binaries load no shared library and the package depends on
# nothing; position-independent, so a root daemon gets ASLR (Go's internal
# linker then names the system's dynamic loader, which only relocates it;
# lintian takes that for what Go builds, not a static binary); -trimpath
# keeps the build machine's paths out; symbols stripped (Go's stack traces do
# not need them).
mkdir -p "$root/usr/sbin"
CGO_ENABLED=0 GOOS=linux GOARCH=$goarch "$GO" build -buildmode=pie -trimpath -ldflags='-s -w' \
	-o "$root/usr/sbin/" ./cmd/pppoed ./cmd/pppoectl

install -D -m 0644 scripts/pppoed.service "$root/lib/systemd/system/pppoed.service"
# The example holds a password: readable by root only.
install -D -m 0600 scripts/deb/pppoed.rsc "$root/etc/pppoe-xdp/pppoed.rsc"
install -D -m 0644 scripts/deb/default "$root/etc/default/pppoed"
install -d -m 0755 "$root/var/lib/pppoe-xdp"
install -D -m 0644 scripts/grafana/pppoe-xdp.json "$root/usr/share/pppoe-xdp/grafana/pppoe-xdp.json"
install -D -m 0644 scripts/deb/lintian-overrides "$root/usr/share/lintian/overrides/pppoe-xdp"
install -d -m 0755 "$doc"
gzip -9n <README.md >"$doc/README.md.gz"

# A native package's changelog: one entry for this build.
{
	echo "pppoe-xdp ($version) unstable; urgency=medium"
	echo
	echo "  * Built from commit $(commit %H)."
	echo
	echo " -- $maintainer  $(commit %aD)"
} | gzip -9n >"$doc/changelog.gz"

# The copyright file: the project's own terms as its sources state them,
# then every module linked into the binaries with its license files.
{
	echo "pppoe-xdp"
	echo "Source: https://github.com/pppoe-xdp/pppoe-xdp"
	echo
	echo "The BPF programs (bpf/*.c, *.h, compiled into pppoed) carry"
	echo "SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause); the GPL-2"
	echo "text is in /usr/share/common-licenses/GPL-2. The rest of pppoe-xdp's"
	echo "sources state no license yet."
	echo
	echo "pppoed and pppoectl are statically linked Go programs. They contain the"
	echo "Go standard library and runtime and the modules below, each under the"
	echo "license that follows it."
	gomod=$("$GO" env GOMODCACHE)
	goroot=$("$GO" env GOROOT)
	license() { # file: the text, or a pointer for licenses Debian ships
		if grep -q 'Apache License' "$1" && grep -q 'Version 2.0, January 2004' "$1"; then
			echo "Apache License 2.0: /usr/share/common-licenses/Apache-2.0"
		else
			sed 's/^\s*$/./; s/^/ /' "$1"
		fi
	}
	echo
	echo "Go $("$GO" env GOVERSION) (standard library, runtime):"
	license "$goroot/LICENSE"
	for bin in "$root"/usr/sbin/*; do
		"$GO" version -m "$bin" | awk '$1 == "dep" { print $2, $3 }'
	done | sort -u | while read -r mod ver; do
		# The module cache escapes capitals as !lower.
		dir=$gomod/$(sed 's/[A-Z]/!\L&/g' <<<"$mod")@$ver
		echo
		echo "$mod $ver:"
		found=0
		# github.com/josharian/native names its file "license".
		for f in "$dir"/LICENSE* "$dir"/License* "$dir"/license* "$dir"/COPYING* "$dir"/NOTICE*; do
			[ -f "$f" ] || continue
			license "$f"
			found=1
		done
		[ $found = 1 ] || { echo "deb: no license file in $dir" >&2; exit 1; }
	done
} >"$doc/copyright"
chmod 0644 "$doc"/*

mkdir -p "$root/DEBIAN"
for s in postinst prerm postrm; do
	install -m 0755 "scripts/deb/$s" "$root/DEBIAN/$s"
done
printf '%s\n' /etc/pppoe-xdp/pppoed.rsc /etc/default/pppoed >"$root/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<EOF
Package: pppoe-xdp
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Section: net
Priority: optional
Homepage: https://github.com/pppoe-xdp/pppoe-xdp
Description: PPPoE access concentrator and client with an eBPF data plane
 pppoed is a PPPoE access concentrator (BNG) and PPPoE client for Linux
 whose data plane runs in XDP and TC programs: no pppd, no ppp.ko, no
 netdev per session. Discovery (RFC 2516), LCP, PAP, CHAP, MS-CHAP and
 IPCP run in pppoed; sessions are BPF map entries. The configuration file
 and pppoectl speak RouterOS commands (/ppp secret, /ip pool, ...).
 .
 The example configuration installed in /etc/pppoe-xdp/pppoed.rsc has its
 server disabled: the service starts and serves nothing until it is edited.
EOF
(cd "$root" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"

out="pppoe-xdp_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
echo "$out"
