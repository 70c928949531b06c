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
#
# Contents: wsmand, winrm, winrs and wevtutil (stripped) in /usr/bin; the PAM session helper
# in /usr/lib/wsmand; the systemd unit of
# dist/ with ExecStart=/usr/bin/wsmand; /etc/pam.d/wsmand (a conffile); an empty config dir
# /etc/wsmand; the man pages wsmand(8), winrm(1), winrs(1) and the bash, zsh and fish
# completions of the three commands, each written by the binary being packaged
# (`--generate ...`, from the same definitions as its --help). The maintainer scripts create
# the wsmand-admins group, enable and (re)start the unit when systemd runs, stop it on
# removal, and on purge delete /etc/wsmand and /var/lib/wsmand; users' group memberships and
# the group itself are kept. Needs dpkg-deb, strip and gzip (Debian: dpkg, binutils, gzip).
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=debug
BUILD=1
OUT=target/deb
COMPRESS=(-Zxz)
while [ $# -gt 0 ]; do
    case "$1" in
        --release) PROFILE=release ;;
        --no-build) BUILD=0 ;;
        --output) OUT="$2"; shift ;;
        --no-compress) COMPRESS=(-Znone) ;;
        *) echo "deb.sh: unknown argument $1 (--release, --no-build, --output DIR, --no-compress)" >&2; exit 2 ;;
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

VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
ARCH=$(dpkg --print-architecture)
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT

install -d "$STAGE/DEBIAN" "$STAGE/usr/bin" "$STAGE/lib/systemd/system" "$STAGE/etc/pam.d" \
    "$STAGE/usr/share/man/man1" "$STAGE/usr/share/man/man8" \
    "$STAGE/usr/share/bash-completion/completions" "$STAGE/usr/share/zsh/vendor-completions" \
    "$STAGE/usr/share/fish/vendor_completions.d" "$STAGE/usr/share/doc/wsmand"
install -d -m 0755 "$STAGE/etc/wsmand"
for b in $BINARIES; do
    install -m 0755 "$BIN/$b" "$STAGE/usr/bin/$b"
    strip --strip-unneeded "$STAGE/usr/bin/$b"
done
sed -e 's#/usr/local/bin/wsmand#/usr/bin/wsmand#g' \
    -e 's#^Documentation=.*#Documentation=man:wsmand(8)#' \
    -e 's#^\# Install: .*#\# Installed by the wsmand package.#' \
    dist/wsmand.service >"$STAGE/lib/systemd/system/wsmand.service"
chmod 0644 "$STAGE/lib/systemd/system/wsmand.service"
# The management service is installed disabled (WMSVC's Startup Type Manual): postinst
# neither enables nor starts it.
sed -e 's#/usr/local/bin/wsmand-mgmt#/usr/bin/wsmand-mgmt#g' \
    -e 's#^Documentation=.*#Documentation=file:///usr/share/doc/wsmand/management-service.md#' \
    dist/wsmand-mgmt.service >"$STAGE/lib/systemd/system/wsmand-mgmt.service"
chmod 0644 "$STAGE/lib/systemd/system/wsmand-mgmt.service"
install -m 0644 dist/wsmand.pam "$STAGE/etc/pam.d/wsmand"
# The PAM session helper: run by wsmand (as root) for each command, not a command of its own.
install -d "$STAGE/usr/lib/wsmand"
install -m 0755 "$BIN/wsmand-session" "$STAGE/usr/lib/wsmand/wsmand-session"
strip --strip-unneeded "$STAGE/usr/lib/wsmand/wsmand-session"

# Man pages and completions come from the binaries themselves.
"$STAGE/usr/bin/wsmand" --generate man | gzip -9n >"$STAGE/usr/share/man/man8/wsmand.8.gz"
for b in winrm winrs; do
    "$STAGE/usr/bin/$b" --generate man | gzip -9n >"$STAGE/usr/share/man/man1/$b.1.gz"
done
for b in wsmand winrm winrs; do
    "$STAGE/usr/bin/$b" --generate bash >"$STAGE/usr/share/bash-completion/completions/$b"
    "$STAGE/usr/bin/$b" --generate zsh >"$STAGE/usr/share/zsh/vendor-completions/_$b"
    "$STAGE/usr/bin/$b" --generate fish >"$STAGE/usr/share/fish/vendor_completions.d/$b.fish"
done
install -m 0644 README.md "$STAGE/usr/share/doc/wsmand/README.md"
install -m 0644 docs/management-service.md "$STAGE/usr/share/doc/wsmand/management-service.md"
cat >"$STAGE/usr/share/doc/wsmand/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: wsmand

Files: *
License: MIT OR Apache-2.0
COPYRIGHT
find "$STAGE/usr/share" -type f -exec chmod 0644 {} +

cat >"$STAGE/DEBIAN/control" <<CONTROL
Package: wsmand
Version: $VERSION
Architecture: $ARCH
Maintainer: wsmand developers <wsmand@example.invalid>
Section: admin
Priority: optional
Depends: libc6, libgcc-s1, libpam0g, libsystemd0, libgssapi-krb5-2, libkrb5-3, passwd
Installed-Size: $(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
Description: WS-Management (WinRM) service and clients for Linux
 wsmand answers WS-Management the way a Windows host with WinRM does: Identify,
 the winrm/config tree, WinRS remote shells, CIM classes and the journal as
 Windows event logs, with Basic, Negotiate/NTLM, Kerberos, CredSSP and client
 certificates. winrm, winrs and wevtutil are the Windows commands of the same
 names.
CONTROL
echo /etc/pam.d/wsmand >"$STAGE/DEBIAN/conffiles"

cat >"$STAGE/DEBIAN/postinst" <<'SCRIPT'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    getent group wsmand-admins >/dev/null || groupadd --system wsmand-admins
    # Windows' WinRMRemoteWMIUsers__: the WMI plug-in's default descriptor admits its members.
    getent group wsmand-wmi-users >/dev/null || groupadd --system wsmand-wmi-users
    # Windows' Remote Management Users: the PowerShell plug-in's default descriptor admits them.
    getent group wsmand-remote-users >/dev/null || groupadd --system wsmand-remote-users
    # The management service's own unprivileged user (it serves as this, never as root).
    getent passwd wsmand-mgmt >/dev/null || useradd --system --user-group --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin --comment "wsmand management service" \
        wsmand-mgmt
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload
        systemctl enable wsmand.service
        systemctl restart wsmand.service || true
    fi
fi
SCRIPT
cat >"$STAGE/DEBIAN/prerm" <<'SCRIPT'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
    case "$1" in
        remove|deconfigure) systemctl stop wsmand.service wsmand-mgmt.service || true ;;
    esac
    if [ "$1" = remove ]; then
        systemctl disable wsmand.service wsmand-mgmt.service || true
    fi
fi
SCRIPT
cat >"$STAGE/DEBIAN/postrm" <<'SCRIPT'
#!/bin/sh
set -e
case "$1" in
    remove)
        if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
        ;;
    purge)
        # The configuration (listeners, accounts, certificates) and the Kerberos replay cache.
        # The wsmand-admins, wsmand-wmi-users and wsmand-remote-users groups stay: their members were added by an
        # administrator. The
        # wsmand-mgmt system user stays too (files it may own outlive the package).
        rm -rf /etc/wsmand /var/lib/wsmand
        if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
        ;;
esac
SCRIPT
chmod 0755 "$STAGE/DEBIAN/postinst" "$STAGE/DEBIAN/prerm" "$STAGE/DEBIAN/postrm"

mkdir -p "$OUT"
DEB="$OUT/wsmand_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group "${COMPRESS[@]}" --build "$STAGE" "$DEB" >&2
echo "$DEB"
