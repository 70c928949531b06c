#!/usr/bin/env bash
# The Debian package of wsmand, built by one command:
#
#   scripts/deb.sh --release       build in release mode and package (for real use)
#   scripts/deb.sh                 the same from a debug build (quick; what the package test does)
#   scripts/deb.sh --no-build      package the binaries already in target/debug (or
#                                  target/release with --release) without running cargo
#   scripts/deb.sh --output DIR    write the .deb to DIR (default target/deb); prints its path
#   scripts/deb.sh --no-compress   store the contents uncompressed (the tests: xz of debug
#                                  binaries takes minutes)
#   scripts/deb.sh --revision N    the Debian revision (default 1): version CARGO_VERSION-N, so
#                                  a second build with N+1 is an upgrade of the first
#
# Contents: wsmand, wsmand-mgmt, winrm, winrs and wevtutil (stripped) in /usr/bin; the PAM
# session helper in /usr/lib/wsmand; the systemd units of dist/ with their ExecStart in
# /usr/bin; the conffiles /etc/pam.d/wsmand and /etc/default/wsmand (read by the maintainer
# scripts only: RESTART_ON_UPGRADE); an empty config dir /etc/wsmand; the man pages wsmand(8),
# wsmand-mgmt(8), winrm(1), winrs(1), wevtutil(1) and the bash, zsh and fish completions of the
# five commands, each written by the binary being packaged (`--generate ...`, from the same
# definitions as its --help); changelog.Debian.gz and a machine-readable copyright (DEP-5).
# Depends is what dpkg-shlibdeps finds the binaries link (plus passwd for the accounts).
# The maintainer scripts are dist/deb/ (their semantics: docs/operations.md, "The Debian
# package"). Needs dpkg-deb, dpkg-shlibdeps, strip and gzip (Debian: dpkg, dpkg-dev, binutils,
# gzip); lintian to check the result.
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=debug
BUILD=1
OUT=target/deb
COMPRESS=(-Zxz)
REVISION=1
while [ $# -gt 0 ]; do
    case "$1" in
        --release) PROFILE=release ;;
        --no-build) BUILD=0 ;;
        --output) OUT="$2"; shift ;;
        --no-compress) COMPRESS=(-Znone) ;;
        --revision) REVISION="$2"; shift ;;
        *) echo "deb.sh: unknown argument $1 (--release, --no-build, --output DIR, --no-compress, --revision N)" >&2; exit 2 ;;
    esac
    shift
done

BINARIES="wsmand winrm winrs wevtutil wsmand-mgmt"
if [ "$BUILD" = 1 ]; then
    args=(build --bins)
    [ "$PROFILE" = release ] && args+=(--release)
    for b in $BINARIES; do args+=(-p "$b"); done
    cargo "${args[@]}" >&2
fi
BIN="target/$PROFILE"
for b in $BINARIES wsmand-session; do
    [ -x "$BIN/$b" ] || { echo "deb.sh: $BIN/$b is missing (build first, or drop --no-build)" >&2; exit 1; }
done


UPSTREAM=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
VERSION="$UPSTREAM-$REVISION"
ARCH=$(dpkg --print-architecture)
MAINTAINER="wsmand developers <wsmand@example.invalid>"
STAGE=$(mktemp -d)
SHLIBS=$(mktemp -d)
trap 'rm -rf "$STAGE" "$SHLIBS"' EXIT
# mktemp makes 0700: the package's root entry must be 0755 like every directory it holds.
chmod 0755 "$STAGE"
DOC="$STAGE/usr/share/doc/wsmand"

install -d -m 0755 "$STAGE/DEBIAN" "$STAGE/usr/bin" "$STAGE/lib/systemd/system" \
    "$STAGE/etc/pam.d" "$STAGE/etc/default" "$STAGE/etc/wsmand" "$STAGE/usr/lib/wsmand" \
    "$STAGE/usr/share/man/man1" "$STAGE/usr/share/man/man8" \
    "$STAGE/usr/share/bash-completion/completions" "$STAGE/usr/share/zsh/vendor-completions" \
    "$STAGE/usr/share/fish/vendor_completions.d" "$DOC"
for b in $BINARIES; do
    install -m 0755 "$BIN/$b" "$STAGE/usr/bin/$b"
    strip --strip-unneeded --remove-section=.comment --remove-section=.note "$STAGE/usr/bin/$b"
done
# The PAM session helper: run by wsmand (as root) for each command, not a command of its own.
install -m 0755 "$BIN/wsmand-session" "$STAGE/usr/lib/wsmand/wsmand-session"
strip --strip-unneeded --remove-section=.comment --remove-section=.note \
    "$STAGE/usr/lib/wsmand/wsmand-session"
# The floor the package promises (glibc 2.34, OpenSSL 3.0, the allowed sonames): Ubuntu 22.04,
# RHEL 9 (scripts/abi-floor.sh).
bash scripts/abi-floor.sh "$STAGE"/usr/bin/* "$STAGE/usr/lib/wsmand/wsmand-session" >&2

sed -e 's#/usr/local/bin/wsmand#/usr/bin/wsmand#g' \
    -e 's#^Documentation=.*#Documentation=man:wsmand(8)#' \
    -e 's#^\# Install: .*#\# Installed by the wsmand package.#' \
    dist/wsmand.service >"$STAGE/lib/systemd/system/wsmand.service"
# The management service is installed disabled (WMSVC's Startup Type Manual): postinst
# neither enables nor starts it.
sed -e 's#/usr/local/bin/wsmand-mgmt#/usr/bin/wsmand-mgmt#g' \
    -e 's#^Documentation=.*#Documentation=man:wsmand-mgmt(8) file:///usr/share/doc/wsmand/management-service.md#' \
    dist/wsmand-mgmt.service >"$STAGE/lib/systemd/system/wsmand-mgmt.service"
install -m 0644 dist/wsmand.pam "$STAGE/etc/pam.d/wsmand"
install -m 0644 dist/deb/default "$STAGE/etc/default/wsmand"

# Man pages and completions come from the binaries themselves.
for b in wsmand wsmand-mgmt; do
    "$STAGE/usr/bin/$b" --generate man | gzip -9n >"$STAGE/usr/share/man/man8/$b.8.gz"
done
for b in winrm winrs wevtutil; do
    "$STAGE/usr/bin/$b" --generate man | gzip -9n >"$STAGE/usr/share/man/man1/$b.1.gz"
done
for b in $BINARIES; do
    "$STAGE/usr/bin/$b" --generate bash >"$STAGE/usr/share/bash-completion/completions/$b"
    "$STAGE/usr/bin/$b" --generate zsh >"$STAGE/usr/share/zsh/vendor-completions/_$b"
    "$STAGE/usr/bin/$b" --generate fish >"$STAGE/usr/share/fish/vendor_completions.d/$b.fish"
done

install -m 0644 README.md "$DOC/README.md"
install -m 0644 docs/management-service.md "$DOC/management-service.md"
# The changelog of this build: one entry, dated by the last commit (reproducible).
WHEN=$(git log -1 --format=%ct 2>/dev/null || date +%s)
gzip -9n >"$DOC/changelog.Debian.gz" <<CHANGELOG
wsmand ($VERSION) unstable; urgency=medium

  * Built by scripts/deb.sh from wsmand $UPSTREAM.

 -- $MAINTAINER  $(LC_ALL=C date -u -R -d "@$WHEN")
CHANGELOG
cat >"$DOC/copyright" <<'COPYRIGHT'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: wsmand
Upstream-Contact: wsmand developers <wsmand@example.invalid>

Files: *
Copyright: 2024-2026 The wsmand developers
License: Expat or Apache-2.0

License: Expat
 Permission is hereby granted, free of charge, to any person obtaining a copy
 of this software and associated documentation files (the "Software"), to deal
 in the Software without restriction, including without limitation the rights
 to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
 copies of the Software, and to permit persons to whom the Software is
 furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in all
 copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
 FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
 AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
 LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
 OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
 SOFTWARE.

License: Apache-2.0
 Licensed under the Apache License, Version 2.0 (the "License"); you may not
 use this file except in compliance with the License.
 .
 On Debian systems, the full text of the Apache License, Version 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
COPYRIGHT
find "$STAGE" -path "$STAGE/DEBIAN" -prune -o -type f -exec chmod 0644 {} +
chmod 0755 "$STAGE"/usr/bin/* "$STAGE/usr/lib/wsmand/wsmand-session"

# Depends: the shared libraries the binaries link, with the versions their symbols need, as
# dpkg-shlibdeps finds them (it wants a debian/control to read; a minimal one does).
mkdir "$SHLIBS/debian"
printf 'Source: wsmand\n\nPackage: wsmand\nArchitecture: any\n' >"$SHLIBS/debian/control"
ELF=()
for f in "$STAGE"/usr/bin/* "$STAGE/usr/lib/wsmand/wsmand-session"; do ELF+=("-e$f"); done
SHLIB_DEPENDS=$(cd "$SHLIBS" && dpkg-shlibdeps -O "${ELF[@]}" | sed -n 's/^shlibs:Depends=//p')
[ -n "$SHLIB_DEPENDS" ] || { echo "deb.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

cat >"$STAGE/DEBIAN/control" <<CONTROL
Package: wsmand
Version: $VERSION
Architecture: $ARCH
Maintainer: $MAINTAINER
Section: admin
Priority: optional
Depends: $SHLIB_DEPENDS, passwd
Installed-Size: $(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
Description: WS-Management (WinRM) service and clients for Linux
 wsmand answers WS-Management the way a Windows host with WinRM does: Identify,
 the winrm/config tree, WinRS remote shells, CIM classes and the journal as
 Windows event logs, with Basic, Negotiate/NTLM, Kerberos, CredSSP and client
 certificates. winrm, winrs and wevtutil are the Windows commands of the same
 names; wsmand-mgmt is the management service and its web console.
CONTROL
printf '%s\n' /etc/default/wsmand /etc/pam.d/wsmand >"$STAGE/DEBIAN/conffiles"
for script in postinst prerm postrm; do
    install -m 0755 "dist/deb/$script" "$STAGE/DEBIAN/$script"
done
(cd "$STAGE" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
    xargs -0 md5sum >DEBIAN/md5sums)
chmod 0644 "$STAGE/DEBIAN/control" "$STAGE/DEBIAN/conffiles" "$STAGE/DEBIAN/md5sums"

mkdir -p "$OUT"
DEB="$OUT/wsmand_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group "${COMPRESS[@]}" --build "$STAGE" "$DEB" >&2
echo "$DEB"
