#!/usr/bin/env bash
# Benchmark: the daemon under a steady mix for a long run (issue 71, item 4: 30 minutes). Paced
# loops, each its own connection (pypsrp from PyPI; one Python process per kind):
#   shell  WinRS: Create, Command `true`, Receive until Done, Delete;
#   enum   Enumerate of a CIM class (BENCH_SOAK_CLASS, default Win32_OperatingSystem), Pull
#          until EndOfSequence;
#   psrp   a PowerShell runspace pool opened, `Write-Output 1`, the pool closed (pwsh: the
#          stand-in of tests/psrp-standin, as benches/psrp.sh).
# Every operation's start and latency is recorded; every BENCH_SOAK_SAMPLE seconds, wsmand's
# VmRSS, open descriptors and the processes below it. Printed for the first and the last
# BENCH_SOAK_WINDOW seconds: per kind operations/s, failures, p50 and p99; RSS mean and max,
# descriptors max, processes; the ratio last/first against the goal (RSS mean, descriptors max
# and each p99 within 10 % of each other, either way), then the daemon once the load has ended
# (its processes back to none). The baseline is the run's own first window. Paced, not flat
# out, so the machine stays usable beside other work: the rates are per loop.
#
#   benches/soak-daemon.sh                                   (30 minutes, 5-minute windows)
#   BENCH_SOAK_SECONDS=120 BENCH_SOAK_WINDOW=30 WSMAN_BENCH_BIN_DIR=target/local benches/soak-daemon.sh
#   BENCH_SOAK_SHELLS=4 BENCH_SOAK_SHELL_RATE=2 BENCH_SOAK_ENUMS=2 BENCH_SOAK_ENUM_RATE=4 \
#     BENCH_SOAK_PSRP=1 BENCH_SOAK_PSRP_RATE=0.5 benches/soak-daemon.sh
#
# Needs root (the bench account's shells run as root). Exits 1 when an operation failed (after
# printing everything). scripts/test.sh runs only its smoke mode (a few seconds): figures depend
# on the machine and the length of the run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
unit_environment

if [ "$(id -u)" -ne 0 ]; then
    echo "benches/soak-daemon.sh needs root: the bench account runs its shells as root" >&2
    exit 1
fi
SECONDS_TOTAL="${BENCH_SOAK_SECONDS:-$(bench_value 1800 8)}"
WINDOW="${BENCH_SOAK_WINDOW:-$(bench_value 300 3)}"
INTERVAL="${BENCH_SOAK_SAMPLE:-$(bench_value 5 0.5)}"
SHELLS="${BENCH_SOAK_SHELLS:-2}"
SHELL_RATE="${BENCH_SOAK_SHELL_RATE:-2}"
ENUMS="${BENCH_SOAK_ENUMS:-2}"
ENUM_RATE="${BENCH_SOAK_ENUM_RATE:-2}"
PSRP="${BENCH_SOAK_PSRP:-1}"
PSRP_RATE="${BENCH_SOAK_PSRP_RATE:-0.5}"
CLASS="${BENCH_SOAK_CLASS:-Win32_OperatingSystem}"
# Seconds after the load for the shells' and pools' processes to be reaped before the last look.
SETTLE="$(bench_value 5 2)"
ACCOUNT=soakbench
PASSWORD="Bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

bench_binaries -p wsmand
scratch_dir wsmand-soak-bench
# `pwsh` on wsmand's PATH: the stand-in.
psrp_standin
mkdir -p "$WORK/out"

step "starting wsmand on loopback (pwsh: the stand-in)"
start_basic_wsmand "$BENCH_BIN" "$WORK/config" "$ACCOUNT" "$PASSWORD" root "$WORK/wsmand.log" \
    "${UNIT_ENV[@]}" "PATH=$WORK/bin:$PATH"
PIDS+=("$WSMAND_PID")
echo "wsmand pid $WSMAND_PID on http://127.0.0.1:$PORT/wsman ($BENCH_BIN/wsmand)"

DRIVER=(.venv/bin/python benches/soak_daemon.py)
# Two seconds to start the drivers, so that every loop begins on the same clock.
START="$(python3 -c 'import time; print(f"{time.time() + 2:.3f}")')"
END="$(python3 -c "print($START + $SECONDS_TOTAL)")"
step "load for $SECONDS_TOTAL s: $SHELLS shell loops at $SHELL_RATE/s, $ENUMS Enumerate loops ($CLASS) at $ENUM_RATE/s, $PSRP PowerShell loops at $PSRP_RATE/s (each loop)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
LOADS=()
start_load() {
    local kind="$1" loops="$2" rate="$3"
    [ "$loops" -gt 0 ] || return 0
    WSMAN_BENCH_PASSWORD="$PASSWORD" "${DRIVER[@]}" load --kind "$kind" --loops "$loops" \
        --rate "$rate" --start "$START" --end "$END" --port "$PORT" --user "$ACCOUNT" \
        --cim-class "$CLASS" --out "$WORK/out/$kind.ops" &
    LOADS+=($!)
    PIDS+=($!)
}
start_load shell "$SHELLS" "$SHELL_RATE"
start_load enum "$ENUMS" "$ENUM_RATE"
start_load psrp "$PSRP" "$PSRP_RATE"
"${DRIVER[@]}" sample --pid "$WSMAND_PID" --interval "$INTERVAL" --start "$START" --end "$END" \
    --out "$WORK/out/daemon.samples" &
SAMPLER=$!
PIDS+=("$SAMPLER")
for pid in "${LOADS[@]}" "$SAMPLER"; do
    wait "$pid"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
kill -0 "$WSMAND_PID" 2>/dev/null || { echo "wsmand exited during the load; its log:" >&2; tail -30 "$WORK/wsmand.log" >&2; exit 1; }
sleep "$SETTLE"
AFTER="$("${DRIVER[@]}" once --pid "$WSMAND_PID")"

step "results"
STATUS=0
"${DRIVER[@]}" report --dir "$WORK/out" --start "$START" --seconds "$SECONDS_TOTAL" \
    --window "$WINDOW" --after "$AFTER" --settle "$SETTLE" --fail-on-error || STATUS=$?
if [ "$STATUS" -ne 0 ]; then
    echo "the end of wsmand's log:" >&2
    tail -20 "$WORK/wsmand.log" >&2
fi
exit "$STATUS"
