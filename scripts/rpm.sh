#!/usr/bin/env bash
# The rpm packages of wsmand (RHEL 9 and 10 and their rebuilds, SUSE Linux Enterprise 16), built
# by one command on Debian with Debian's rpmbuild and a spec this script writes:
#
#   scripts/rpm.sh --release         build in release mode and package (for real use)
#   scripts/rpm.sh                   the same from a debug build (quick; what the test does)
#   scripts/rpm.sh --no-build        package the binaries already in target/debug (or
#                                    target/release with --release) without running cargo
#   scripts/rpm.sh --variant V       el9 (default), el10 or sles16: the release's suffix
#                                    (1.el9) and the family's PAM file as /etc/pam.d/wsmand
#   scripts/rpm.sh --output DIR      write the rpms to DIR (default target/rpm/VARIANT); prints
#                                    their paths, wsmand's first, one a line
#   scripts/rpm.sh --no-compress     store the payload uncompressed (the tests)
#   scripts/rpm.sh --revision N      the release number (default 1): 0.1.0-N.el9, so a second
#                                    build with N+1 is an upgrade of the first
#
# Two packages. wsmand: what the .deb of scripts/deb.sh holds, in the places of the RHEL and
# SUSE families (the five commands stripped in /usr/bin, the session helper in /usr/lib/wsmand,
# the units in /usr/lib/systemd/system, the preset that enables wsmand on the first
# installation, the man pages and completions written by the binaries, %config(noreplace)
# /etc/pam.d/wsmand and /etc/sysconfig/wsmand (RESTART_ON_UPGRADE, read by %post only), the
# firewalld services wsmand and wsmand-mgmt). Its Requires are the sonames and symbol versions
# the binaries need (readelf, as rpm's own elfdeps would write them), checked first against the
# floor of scripts/abi-floor.sh; its scriptlets are dist/rpm/{post,preun,postun}, written into
# the spec as they are (no systemd macros). wsmand-selinux (noarch): the policy module of
# dist/selinux, compiled here against Debian's reference policy headers (selinux-policy-dev),
# its interface file, and scriptlets dist/rpm/selinux-{post,postun} that act only where SELinux
# is enabled; wsmand requires it where selinux-policy-targeted is installed.
# Needs rpmbuild (Debian: rpm), readelf and strip (binutils), bzip2, make and the reference
# policy headers (selinux-policy-dev, checkpolicy); rpmlint to check the result.
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=debug
BUILD=1
VARIANT=el9
OUT=
PAYLOAD=w19.zstdio
REVISION=1
while [ $# -gt 0 ]; do
    case "$1" in
        --release) PROFILE=release ;;
        --no-build) BUILD=0 ;;
        --variant) VARIANT="$2"; shift ;;
        --output) OUT="$2"; shift ;;
        --no-compress) PAYLOAD=w0.ufdio ;;
        --revision) REVISION="$2"; shift ;;
        *) echo "rpm.sh: unknown argument $1 (--release, --no-build, --variant el9|el10|sles16, --output DIR, --no-compress, --revision N)" >&2; exit 2 ;;
    esac
    shift
done
case "$VARIANT" in
    el9 | el10) PAM_FILE=dist/pam/rhel ;;
    sles16) PAM_FILE=dist/pam/suse ;;
    *) echo "rpm.sh: unknown variant $VARIANT (el9, el10, sles16)" >&2; exit 2 ;;
esac
OUT="${OUT:-target/rpm/$VARIANT}"
for tool in rpmbuild readelf strip bzip2 make; do
    command -v "$tool" >/dev/null || { echo "rpm.sh: $tool is missing (Debian: rpm, binutils, bzip2, make)" >&2; exit 1; }
done
SELINUX_MAKEFILE=/usr/share/selinux/devel/Makefile
[ -f "$SELINUX_MAKEFILE" ] || { echo "rpm.sh: $SELINUX_MAKEFILE is missing (Debian: selinux-policy-dev)" >&2; exit 1; }

BINARIES="wsmand winrm winrs wevtutil wsmand-mgmt"
if [ "$BUILD" = 1 ]; then
    args=(build --bins)
    [ "$PROFILE" = release ] && args+=(--release)
    for b in $BINARIES; do args+=(-p "$b"); done
    cargo "${args[@]}" >&2
fi
BIN="target/$PROFILE"
for b in $BINARIES wsmand-session; do
    [ -x "$BIN/$b" ] || { echo "rpm.sh: $BIN/$b is missing (build first, or drop --no-build)" >&2; exit 1; }
done

VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
RELEASE="$REVISION.$VARIANT"
ARCH=$(uname -m)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
STAGE="$WORK/stage"
SELINUX="$WORK/selinux"
TOP="$WORK/rpmbuild"
DOC="$STAGE/usr/share/doc/wsmand"
UNITS="$STAGE/usr/lib/systemd/system"

install -d -m 0755 "$STAGE" "$STAGE/usr/bin" "$UNITS" "$STAGE/usr/lib/systemd/system-preset" \
    "$STAGE/etc/pam.d" "$STAGE/etc/sysconfig" "$STAGE/etc/wsmand" "$STAGE/usr/lib/wsmand" \
    "$STAGE/usr/share/man/man1" "$STAGE/usr/share/man/man8" \
    "$STAGE/usr/share/bash-completion/completions" "$STAGE/usr/share/zsh/site-functions" \
    "$STAGE/usr/share/fish/vendor_completions.d" "$STAGE/usr/lib/firewalld/services" \
    "$STAGE/usr/share/licenses/wsmand" "$DOC" \
    "$STAGE/usr/share/selinux/packages/wsmand" "$STAGE/usr/share/selinux/devel/include/distributed" \
    "$SELINUX" "$TOP"
install -d -m 0700 "$STAGE/var/lib/wsmand"
for b in $BINARIES; do
    install -m 0755 "$BIN/$b" "$STAGE/usr/bin/$b"
    strip --strip-unneeded --remove-section=.comment --remove-section=.note "$STAGE/usr/bin/$b"
done
# The PAM session helper: run by wsmand (as root) for each command, not a command of its own.
install -m 0755 "$BIN/wsmand-session" "$STAGE/usr/lib/wsmand/wsmand-session"
strip --strip-unneeded --remove-section=.comment --remove-section=.note \
    "$STAGE/usr/lib/wsmand/wsmand-session"
ELF=("$STAGE"/usr/bin/* "$STAGE/usr/lib/wsmand/wsmand-session")
# The floor (glibc 2.34, OpenSSL 3.0, the allowed sonames): what Requires below promises.
bash scripts/abi-floor.sh "${ELF[@]}" >&2

sed -e 's#/usr/local/bin/wsmand#/usr/bin/wsmand#g' \
    -e 's#^Documentation=.*#Documentation=man:wsmand(8)#' \
    -e 's#^\# Install: .*#\# Installed by the wsmand package.#' \
    -e '/^\#          systemctl enable/d' \
    dist/wsmand.service >"$UNITS/wsmand.service"
sed -e 's#/usr/local/bin/wsmand-mgmt#/usr/bin/wsmand-mgmt#g' \
    -e 's#^Documentation=.*#Documentation=man:wsmand-mgmt(8) file:///usr/share/doc/wsmand/management-service.md#' \
    dist/wsmand-mgmt.service >"$UNITS/wsmand-mgmt.service"
install -m 0644 dist/rpm/preset "$STAGE/usr/lib/systemd/system-preset/80-wsmand.preset"
install -m 0644 "$PAM_FILE" "$STAGE/etc/pam.d/wsmand"
install -m 0644 dist/rpm/sysconfig "$STAGE/etc/sysconfig/wsmand"
install -m 0644 dist/firewalld/wsmand.xml dist/firewalld/wsmand-mgmt.xml "$STAGE/usr/lib/firewalld/services/"

# Man pages and completions come from the binaries themselves.
for b in wsmand wsmand-mgmt; do
    "$STAGE/usr/bin/$b" --generate man | gzip -9n >"$STAGE/usr/share/man/man8/$b.8.gz"
done
for b in winrm winrs wevtutil; do
    "$STAGE/usr/bin/$b" --generate man | gzip -9n >"$STAGE/usr/share/man/man1/$b.1.gz"
done
for b in $BINARIES; do
    "$STAGE/usr/bin/$b" --generate bash >"$STAGE/usr/share/bash-completion/completions/$b"
    "$STAGE/usr/bin/$b" --generate zsh >"$STAGE/usr/share/zsh/site-functions/_$b"
    "$STAGE/usr/bin/$b" --generate fish >"$STAGE/usr/share/fish/vendor_completions.d/$b.fish"
done
install -m 0644 README.md "$DOC/README.md"
install -m 0644 docs/management-service.md docs/migrating-from-omi.md "$DOC/"
install -d -m 0755 "$STAGE/usr/share/doc/wsmand-selinux"
install -m 0644 docs/selinux.md "$STAGE/usr/share/doc/wsmand-selinux/selinux.md"
cat >"$STAGE/usr/share/licenses/wsmand/LICENSE" <<'LICENSE'
wsmand is Copyright 2024-2026 The wsmand developers, licensed under the MIT license or the
Apache License, Version 2.0 (https://www.apache.org/licenses/LICENSE-2.0), at your option.

The MIT license:

Permission is hereby granted, free of charge, to any person obtaining a copy of this software
and associated documentation files (the "Software"), to deal in the Software without
restriction, including without limitation the rights to use, copy, modify, merge, publish,
distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
LICENSE
install -m 0644 "$STAGE/usr/share/licenses/wsmand/LICENSE" "$STAGE/usr/share/licenses/wsmand/LICENSE.selinux"

# The SELinux module, compiled against the reference policy's headers.
cp dist/selinux/wsmand.te dist/selinux/wsmand.fc dist/selinux/wsmand.if "$SELINUX/"
make -s -C "$SELINUX" -f "$SELINUX_MAKEFILE" wsmand.pp >&2
bzip2 -9 -c "$SELINUX/wsmand.pp" >"$STAGE/usr/share/selinux/packages/wsmand/wsmand.pp.bz2"
install -m 0644 dist/selinux/wsmand.if "$STAGE/usr/share/selinux/devel/include/distributed/wsmand.if"
# The sources, which %post compiles against the host's own policy headers when the host's policy
# refuses the module built here (docs/selinux.md).
install -d -m 0755 "$STAGE/usr/share/selinux/devel/wsmand"
install -m 0644 dist/selinux/wsmand.te dist/selinux/wsmand.fc "$STAGE/usr/share/selinux/devel/wsmand/"
find "$STAGE" -type f -exec chmod 0644 {} +
chmod 0755 "$STAGE"/usr/bin/* "$STAGE/usr/lib/wsmand/wsmand-session"

# Requires: each soname the binaries link, and each symbol version they need of it, in rpm's
# own notation (libc.so.6(GLIBC_2.34)(64bit)).
elf_requires() {
    local file suffix=""
    for file in "$@"; do
        LC_ALL=C readelf -h "$file" | grep -q 'Class:[[:space:]]*ELF64' && suffix="(64bit)"
        LC_ALL=C readelf -d --wide "$file" |
            sed -n "s/.*(NEEDED).*Shared library: \[\(.*\)\]\$/\1()$suffix/p"
        LC_ALL=C readelf -V --wide "$file" | sed -n '/^Version needs section/,/^$/p' |
            awk -v s="$suffix" '
                /File:/ { for (i = 1; i < NF; i++) if ($i == "File:") lib = $(i + 1) }
                /Name:/ { for (i = 1; i < NF; i++) if ($i == "Name:" && $(i + 1) !~ /_PRIVATE$/) print lib "(" $(i + 1) ")" s }'
    done | LC_ALL=C sort -u
}
REQUIRES=$(elf_requires "${ELF[@]}" | sed 's/^/Requires:       /')
[ -n "$REQUIRES" ] || { echo "rpm.sh: the binaries need no library?" >&2; exit 1; }

# A scriptlet's text as the spec holds it: % doubled, so rpm expands no macro in it.
scriptlet() {
    sed 's/%/%%/g' "dist/rpm/$1"
}

WHEN=$(git log -1 --format=%ct 2>/dev/null || date +%s)
cat >"$WORK/wsmand.spec" <<SPEC
# Written by scripts/rpm.sh: the files are built and staged before rpmbuild runs.
%global debug_package %{nil}
%global __os_install_post %{nil}
%global _build_id_links none
%global _binary_payload $PAYLOAD
%global _source_payload $PAYLOAD

Name:           wsmand
Version:        $VERSION
Release:        $RELEASE
Summary:        WS-Management (WinRM) service and clients for Linux
License:        MIT OR Apache-2.0
Group:          System/Management
Packager:       wsmand developers <wsmand@example.invalid>
URL:            https://example.invalid/wsmand
AutoReqProv:    no
$REQUIRES
Requires(post): /usr/sbin/useradd /usr/sbin/groupadd /usr/bin/getent
Requires(postun): /usr/sbin/userdel /usr/sbin/groupdel /usr/bin/getent
Requires:       (wsmand-selinux = %{version}-%{release} if selinux-policy-targeted)

%description
wsmand answers WS-Management the way a Windows host with WinRM does: Identify,
the winrm/config tree, WinRS remote shells, CIM classes and the journal as
Windows event logs, with Basic, Negotiate/NTLM, Kerberos, CredSSP and client
certificates. winrm, winrs and wevtutil are the Windows commands of the same
names; wsmand-mgmt is the management service and its web console.

%package selinux
Summary:        SELinux policy module of wsmand
BuildArch:      noarch
Requires:       selinux-policy
Requires(post): selinux-policy /usr/sbin/semodule /usr/sbin/semanage /usr/sbin/restorecon
Requires(postun): /usr/sbin/semodule /usr/sbin/semanage /usr/sbin/restorecon

%description selinux
The SELinux policy module of wsmand: the domains of the daemon (wsmand_t), of
its PAM session helper (wsmand_session_t, which starts each command in the
user's domain) and of the management service (wsmand_mgmt_t), the types of
their files and ports, and booleans for the collector's outgoing connections.

%prep

%build

%install
cp -a "$STAGE/." "%{buildroot}/"

%post
$(scriptlet post)

%preun
$(scriptlet preun)

%postun
$(scriptlet postun)

%post selinux
$(scriptlet selinux-post)

%postun selinux
$(scriptlet selinux-postun)

%files
%defattr(-,root,root,-)
%license /usr/share/licenses/wsmand/LICENSE
/usr/bin/wsmand
/usr/bin/wsmand-mgmt
/usr/bin/winrm
/usr/bin/winrs
/usr/bin/wevtutil
%dir /usr/lib/wsmand
/usr/lib/wsmand/wsmand-session
/usr/lib/systemd/system/wsmand.service
/usr/lib/systemd/system/wsmand-mgmt.service
/usr/lib/systemd/system-preset/80-wsmand.preset
%config(noreplace) /etc/pam.d/wsmand
%config(noreplace) /etc/sysconfig/wsmand
%dir /etc/wsmand
%dir %attr(0700,root,root) /var/lib/wsmand
%dir /usr/lib/firewalld
%dir /usr/lib/firewalld/services
/usr/lib/firewalld/services/wsmand.xml
/usr/lib/firewalld/services/wsmand-mgmt.xml
/usr/share/man/man8/wsmand.8.gz
/usr/share/man/man8/wsmand-mgmt.8.gz
/usr/share/man/man1/winrm.1.gz
/usr/share/man/man1/winrs.1.gz
/usr/share/man/man1/wevtutil.1.gz
%dir /usr/share/bash-completion
%dir /usr/share/bash-completion/completions
/usr/share/bash-completion/completions/*
%dir /usr/share/zsh
%dir /usr/share/zsh/site-functions
/usr/share/zsh/site-functions/*
%dir /usr/share/fish
%dir /usr/share/fish/vendor_completions.d
/usr/share/fish/vendor_completions.d/*
%doc /usr/share/doc/wsmand

%files selinux
%defattr(-,root,root,-)
%license /usr/share/licenses/wsmand/LICENSE.selinux
%doc /usr/share/doc/wsmand-selinux
%dir /usr/share/selinux/packages/wsmand
/usr/share/selinux/packages/wsmand/wsmand.pp.bz2
/usr/share/selinux/devel/include/distributed/wsmand.if
%dir /usr/share/selinux/devel/wsmand
/usr/share/selinux/devel/wsmand/wsmand.te
/usr/share/selinux/devel/wsmand/wsmand.fc

%changelog
* $(LC_ALL=C date -u -d "@$WHEN" '+%a %b %d %Y') wsmand developers <wsmand@example.invalid> - $VERSION-$RELEASE
- Built by scripts/rpm.sh from wsmand $VERSION.
SPEC

mkdir -p "$OUT"
rpmbuild -bb --quiet --target "$ARCH" \
    --define "_topdir $TOP" \
    --define "_rpmdir $WORK/rpms" \
    --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
    --define "_buildhost wsmand-build" \
    --define "source_date_epoch_from_changelog 1" \
    --define "use_source_date_epoch_as_buildtime 1" \
    --define "clamp_mtime_to_source_date_epoch 1" \
    "$WORK/wsmand.spec" >&2
for rpm in "wsmand-$VERSION-$RELEASE.$ARCH.rpm" "wsmand-selinux-$VERSION-$RELEASE.noarch.rpm"; do
    mv "$WORK/rpms/$rpm" "$OUT/$rpm"
    echo "$OUT/$rpm"
done
