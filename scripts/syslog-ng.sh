#!/usr/bin/env bash
# Debian's syslog-ng for the collector's syslog output tests, next to rsyslog.
#
#   scripts/syslog-ng.sh           extract it if it is missing, print the directory it is in
#   scripts/syslog-ng.sh --path    print where it is (or would be), extract nothing
#
# syslog-ng-core conflicts with rsyslog (both provide system-log-daemon), and the tests need
# both, so the package is not installed: its dependencies are (apt-get), and the package itself
# is downloaded (apt-get download) and unpacked (dpkg -x) under $WSMAN_SYSLOG_NG_CACHE (default
# /var/cache/wsmand-test), once. The tests run DIR/usr/sbin/syslog-ng as a child process with
# their own configuration, `--module-path DIR/usr/lib/syslog-ng/VERSION` and LD_LIBRARY_PATH
# DIR/usr/lib/syslog-ng; the machine's own syslog daemon is never touched. Root only.
set -euo pipefail

# Bump when the recipe below changes, so a stale extraction is not reused.
RECIPE_VERSION=1
CACHE="${WSMAN_SYSLOG_NG_CACHE:-/var/cache/wsmand-test}"
ROOT="$CACHE/syslog-ng-v$RECIPE_VERSION"

if [ "${1:-}" = "--path" ]; then
    echo "$ROOT"
    exit 0
fi

if [ -e "$ROOT/.complete" ]; then
    echo "$ROOT"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "syslog-ng.sh: extracting syslog-ng needs root (apt-get)" >&2
    exit 1
fi

mkdir -p "$CACHE"
# One extraction at a time; a second caller waits and then finds it complete.
exec 9>"$CACHE/.syslog-ng.lock"
flock 9
if [ -e "$ROOT/.complete" ]; then
    echo "$ROOT"
    exit 0
fi

# The libraries syslog-ng-core depends on (its Depends: line, less the init-script helpers).
DEPENDS=(libcap2 libglib2.0-0 libivykis0 libjson-c5 libnet1 libpcre3 libssl3 libsystemd0 libwrap0)
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${DEPENDS[@]}" >&2 || {
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${DEPENDS[@]}" >&2
}

BUILD="$ROOT.building"
rm -rf "$BUILD"
mkdir -p -m 0700 "$BUILD/deb"
# Downloaded as root into a directory only root may write (apt's sandbox user could not write
# there, and a directory it could write others could too).
(cd "$BUILD/deb" && apt-get download -o APT::Sandbox::User=root syslog-ng-core >&2)
dpkg -x "$BUILD"/deb/syslog-ng-core_*.deb "$BUILD"
rm -rf "$BUILD/deb"
[ -x "$BUILD/usr/sbin/syslog-ng" ] || { echo "syslog-ng.sh: no usr/sbin/syslog-ng in the package" >&2; exit 1; }
touch "$BUILD/.complete"
mv "$BUILD" "$ROOT"
echo "$ROOT"
