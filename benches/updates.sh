#!/usr/bin/env bash
# Benchmark: a scan of the host's updates through wsmand (`winrm invoke ScanForUpdates
# wmi/root/Microsoft/Windows/WindowsUpdate/MSFT_WUOperations`, Basic over HTTP on loopback:
# PackageKit's GetUpdates and GetUpdateDetail of every update, each an embedded MSFT_WUUpdate)
# against `pkcon get-updates` on the same PackageKit in the same run (GetUpdates alone, the
# distribution's own client). PackageKit is Debian's packagekitd with its dummy backend (three
# updates), on a system bus of its own in a mount namespace of its own with polkitd, as the
# tests run it. Each side runs UPDATES_BENCH_RUNS times (default 10), interleaved; printed: the
# median wall time of each and the ratio (pkcon time / winrm time; goal >= 0.5: a scan through
# wsmand costs at most twice what the local client costs, with the details it adds).
#
#   benches/updates.sh
#   UPDATES_BENCH_RUNS=30 benches/updates.sh
#
# Needs root (the mount namespace) and Debian's packagekit, packagekit-tools, polkitd,
# dbus-daemon. scripts/test.sh runs only its smoke mode: figures depend on the machine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
unit_environment
require_cargo

if [ "$(id -u)" -ne 0 ]; then
    echo "benches/updates.sh needs root: packagekitd runs in a mount namespace of its own" >&2
    exit 1
fi
PACKAGEKITD=/usr/libexec/packagekitd
POLKITD=/usr/lib/polkit-1/polkitd
[ -x "$PACKAGEKITD" ] && [ -x "$POLKITD" ] && command -v pkcon >/dev/null 2>&1 \
    && command -v dbus-daemon >/dev/null 2>&1 \
    || ensure_packages packagekit packagekit-tools polkitd dbus-daemon dbus-bin
command -v python3 >/dev/null 2>&1 || ensure_packages python3

RUNS="${UPDATES_BENCH_RUNS:-$(bench_value 10 2)}"
ACCOUNT=updatesbench
PASSWORD="bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
bench_binaries -p wsmand -p winrm
RELEASE="$BENCH_BIN"

WORK="$(mktemp -d -t wsmand-updates-bench-XXXXXX)"
WSMAND_PID=""
PACKAGEKIT_PID=""
cleanup() {
    if [ -n "$WSMAND_PID" ] && kill -0 "$WSMAND_PID" 2>/dev/null; then
        kill -TERM "$WSMAND_PID" 2>/dev/null || true
        wait "$WSMAND_PID" 2>/dev/null || true
    fi
    if [ -n "$PACKAGEKIT_PID" ]; then
        # its process group: packagekitd, the bus and polkitd
        kill -TERM -- "-$PACKAGEKIT_PID" 2>/dev/null || true
        wait "$PACKAGEKIT_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

step "packagekitd (dummy backend) on a bus of its own"
cat >"$WORK/bus.conf" <<XML
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <listen>unix:path=$WORK/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/> <allow own="*"/>
    <allow send_type="method_call"/> <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/> <allow receive_type="method_return"/>
    <allow receive_type="error"/> <allow receive_type="signal"/>
  </policy>
</busconfig>
XML
setsid unshare -m --propagation private sh -c '
set -e
mkdir -p /run/dbus /var/lib/PackageKit /var/cache/PackageKit
mount -t tmpfs tmpfs /run/dbus
mount -t tmpfs tmpfs /var/lib/PackageKit
mount -t tmpfs tmpfs /var/cache/PackageKit
dbus-daemon --config-file="$1/bus.conf" --nofork &
for i in $(seq 100); do [ -S /run/dbus/system_bus_socket ] && break; sleep 0.1; done
"$2" --no-debug &
exec "$3" --backend dummy --disable-timer
' sh "$WORK" "$POLKITD" "$PACKAGEKITD" </dev/null >"$WORK/packagekitd.log" 2>&1 &
PACKAGEKIT_PID=$!
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$WORK/bus"
for _ in $(seq 1 300); do
    dbus-send --system --print-reply --dest=org.freedesktop.PackageKit /org/freedesktop/PackageKit \
        org.freedesktop.DBus.Properties.Get string:org.freedesktop.PackageKit string:BackendName \
        >/dev/null 2>&1 && break
    sleep 0.1
done

CONFIG="$WORK/config"
start_basic_wsmand "$RELEASE" "$CONFIG" "$ACCOUNT" "$PASSWORD" root "$WORK/wsmand.log" \
    "${UNIT_ENV[@]}" "DBUS_SYSTEM_BUS_ADDRESS=$DBUS_SYSTEM_BUS_ADDRESS"

scan() {
    WSMAND_CONFIG_DIR="$CONFIG" "$RELEASE/winrm" invoke ScanForUpdates \
        wmi/root/Microsoft/Windows/WindowsUpdate/MSFT_WUOperations \
        '@{SearchCriteria="IsInstalled=0"}' \
        "-r:http://127.0.0.1:$PORT" "-u:$ACCOUNT" "-p:$PASSWORD" -a:Basic -unencrypted
}
# Sanity: both sides see the three updates.
WINRM_ITEMS="$(scan | grep -c 'UpdateID = ' || true)"
PKCON_ITEMS="$(pkcon --plain get-updates | grep -cE '^(Security|Bug fix|Normal|Enhancement|Low|Important|Critical) ' || true)"
if [ "$WINRM_ITEMS" -ne 3 ] || [ "$PKCON_ITEMS" -ne 3 ]; then
    echo "sanity check failed: winrm $WINRM_ITEMS updates, pkcon $PKCON_ITEMS, 3 expected" >&2
    scan >&2 || true
    tail -20 "$WORK/wsmand.log" "$WORK/packagekitd.log" >&2
    exit 1
fi

seconds() {
    # seconds COMMAND...: the wall time of one run, output discarded
    python3 -c '
import subprocess, sys, time
start = time.monotonic()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
print(time.monotonic() - start)
' "$@"
}

PKCON_TIMES=()
WINRM_TIMES=()
step "$RUNS runs each, interleaved"
for run in $(seq 1 "$RUNS"); do
    pkcon_time="$(seconds pkcon --plain get-updates)"
    winrm_time="$(WSMAND_CONFIG_DIR="$CONFIG" seconds "$RELEASE/winrm" invoke ScanForUpdates \
        wmi/root/Microsoft/Windows/WindowsUpdate/MSFT_WUOperations \
        '@{SearchCriteria="IsInstalled=0"}' \
        "-r:http://127.0.0.1:$PORT" "-u:$ACCOUNT" "-p:$PASSWORD" -a:Basic -unencrypted)"
    echo "  run $run: pkcon get-updates ${pkcon_time}s, winrm invoke ScanForUpdates ${winrm_time}s"
    PKCON_TIMES+=("$pkcon_time")
    WINRM_TIMES+=("$winrm_time")
done

step "results"
python3 - "${PKCON_TIMES[*]}" "${WINRM_TIMES[*]}" <<'PY'
import statistics, sys
pkcon = statistics.median(float(x) for x in sys.argv[1].split())
winrm = statistics.median(float(x) for x in sys.argv[2].split())
ratio = pkcon / winrm
print(f"updates per scan                          : 3 (dummy backend)")
print(f"pkcon get-updates median                  : {pkcon * 1000:.0f} ms")
print(f"winrm invoke ScanForUpdates median        : {winrm * 1000:.0f} ms")
print(f"ratio (pkcon time / winrm time)           : {ratio:.2f}  goal >= 0.5: {'met' if ratio >= 0.5 else 'MISSED'}")
PY
