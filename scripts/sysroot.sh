#!/usr/bin/env bash
# The root file system a real systemd boots in for the tests that need systemd and its journal.
#
#   scripts/sysroot.sh           make it if it is missing, print its path
#   scripts/sysroot.sh --path    print where it is (or would be), make nothing
#
# systemd is not PID 1 on the test machines, so the tests boot one as PID 1 of its own PID and
# mount namespace (crates/wsman-test/src/systemd.rs), inside this root and never on the machine's
# own: systemd's boot-time cleanup would empty the machine's /tmp and start the host's services.
# Each test boots it over a throwaway overlay, so the cached root itself is never written to.
#
# The root is Debian bookworm, minbase plus systemd, dbus and systemd-journal-remote, made with
# debootstrap from Debian's archive and cached under $WSMAN_SYSROOT_CACHE (default
# /var/cache/wsmand-test): a few minutes the first time, nothing after. The units that would wait
# for hardware a namespace does not have (serial and virtual consoles) or fail in it (logind) are
# masked, so the system reaches a steady state in about a second. Root only.
set -euo pipefail

# Bump when the recipe below changes, so a stale cached root is not reused.
RECIPE_VERSION=1
SUITE=bookworm
MIRROR="${WSMAN_SYSROOT_MIRROR:-http://deb.debian.org/debian}"
PACKAGES=systemd,systemd-sysv,dbus,systemd-journal-remote,procps
CACHE="${WSMAN_SYSROOT_CACHE:-/var/cache/wsmand-test}"
ROOT="$CACHE/$SUITE-systemd-v$RECIPE_VERSION"

if [ "${1:-}" = "--path" ]; then
    echo "$ROOT"
    exit 0
fi

if [ -e "$ROOT/.complete" ]; then
    echo "$ROOT"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "sysroot.sh: making the systemd test root needs root (debootstrap, chroot)" >&2
    exit 1
fi

mkdir -p "$CACHE"
# One builder at a time; a second caller waits and then finds the root complete.
exec 9>"$CACHE/.lock"
flock 9
if [ -e "$ROOT/.complete" ]; then
    echo "$ROOT"
    exit 0
fi

if ! command -v debootstrap >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >&2 || {
        apt-get update -q >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >&2
    }
fi

BUILD="$ROOT.building"
rm -rf "$BUILD"
echo "sysroot.sh: debootstrap $SUITE with $PACKAGES into $BUILD" >&2
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$BUILD" "$MIRROR" >&2

# Units that wait for consoles the namespace lacks, or fail without a real seat/session manager.
for unit in serial-getty@ttyS0.service console-getty.service getty@tty1.service getty.target \
    systemd-logind.service e2scrub_reap.service systemd-firstboot.service; do
    ln -sf /dev/null "$BUILD/etc/systemd/system/$unit"
done
mkdir -p "$BUILD/etc/systemd/system-generators"
ln -sf /dev/null "$BUILD/etc/systemd/system-generators/systemd-gpt-auto-generator"
ln -sf /lib/systemd/system/multi-user.target "$BUILD/etc/systemd/system/default.target"
# A persistent journal, so tests can read what a unit logged after it stopped.
mkdir -p "$BUILD/var/log/journal"
echo wsmand-sysroot >"$BUILD/etc/hostname"
: >"$BUILD/etc/machine-id"
touch "$BUILD/.complete"
mv "$BUILD" "$ROOT"
echo "$ROOT"
