#!/usr/bin/env bash
# Benchmark: Enumerate every Win32_Process through our client (`winrm enumerate
# wmicimv2/Win32_Process`, Basic over HTTP on loopback, every Pull until EndOfSequence) on a host
# with CIM_BENCH_PROCESSES extra processes (default 5,000 sleeping `sleep`s), against
# `ps -eo pid,ppid,user,rss,vsz,etime,args` in the same run. Each side runs CIM_BENCH_RUNS
# times (default 3), interleaved; printed: the median wall time of each, the speed ratio
# (ps time / winrm time; goal >= 0.5), Win32_Process items per second end to end, and
# wsmand's peak RSS during the runs. Also printed: the CPU time of each side (ps; winrm plus
# wsmand's share of the run), a ratio that a loaded machine disturbs less than wall time.
#
#   benches/cim.sh
#   CIM_BENCH_PROCESSES=20000 CIM_BENCH_RUNS=5 benches/cim.sh
#   CIM_BENCH_FEATURES=wsmand/bench-synthetic benches/cim.sh   # reuse cim-synthetic.sh's build
#
# Needs root (it starts the extra processes, and the bench account runs as root so that it is an
# administrator and reads every process).
# scripts/test.sh runs only its smoke mode: figures depend on the machine; compare ratios.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
unit_environment
require_cargo

if [ "$(id -u)" -ne 0 ]; then
    echo "benches/cim.sh needs root: it starts thousands of processes and reads all of them" >&2
    exit 1
fi
command -v python3 >/dev/null 2>&1 || ensure_packages python3

PROCESSES="${CIM_BENCH_PROCESSES:-$(bench_value 5000 20)}"
RUNS="${CIM_BENCH_RUNS:-$(bench_value 3 1)}"
ACCOUNT=cimbench
PASSWORD="bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

# shellcheck disable=SC2086 # the feature list is one word or none
bench_binaries -p wsmand -p winrm ${CIM_BENCH_FEATURES:+--features "$CIM_BENCH_FEATURES"}
RELEASE="$BENCH_BIN"

WORK="$(mktemp -d -t wsmand-cim-bench-XXXXXX)"
WSMAND_PID=""
SLEEPERS_PID=""
cleanup() {
    if [ -n "$SLEEPERS_PID" ]; then
        kill -TERM -- "-$SLEEPERS_PID" 2>/dev/null || true
        wait "$SLEEPERS_PID" 2>/dev/null || true
    fi
    if [ -n "$WSMAND_PID" ] && kill -0 "$WSMAND_PID" 2>/dev/null; then
        kill -TERM "$WSMAND_PID" 2>/dev/null || true
        wait "$WSMAND_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

CONFIG="$WORK/config"
start_basic_wsmand "$RELEASE" "$CONFIG" "$ACCOUNT" "$PASSWORD" root "$WORK/wsmand.log" \
    "${UNIT_ENV[@]}"

step "starting $PROCESSES extra processes"
# One process group, so cleanup ends every one of them.
setsid bash -c "for _ in \$(seq 1 $PROCESSES); do sleep 3600 & done; wait" </dev/null >/dev/null 2>&1 &
SLEEPERS_PID=$!
for _ in $(seq 1 600); do
    [ "$(pgrep -c -g "$SLEEPERS_PID" sleep || true)" -ge "$PROCESSES" ] && break
    sleep 0.1
done
# The glob, not `ls` over it: a process that ends between the glob and `ls` made `ls` exit 2,
# and errexit ended the run.
PIDS=(/proc/[0-9]*)
TOTAL="${#PIDS[@]}"
echo "processes on the host: $TOTAL"

enumerate() {
    WSMAND_CONFIG_DIR="$CONFIG" "$RELEASE/winrm" enumerate wmicimv2/Win32_Process \
        "-r:http://127.0.0.1:$PORT" "-u:$ACCOUNT" "-p:$PASSWORD" -a:Basic -unencrypted
}
# Sanity: every process arrives.
ITEMS="$(enumerate | grep -c '^Win32_Process$' || true)"
if [ "$ITEMS" -lt "$PROCESSES" ]; then
    echo "sanity check failed: $ITEMS Win32_Process items, at least $PROCESSES expected" >&2
    enumerate | head -20 >&2
    exit 1
fi

seconds() {
    # seconds COMMAND...: "wall cpu" of one run (cpu: its user + system time), output discarded
    python3 -c '
import resource, subprocess, sys, time
start = time.monotonic()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
wall = time.monotonic() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(wall, usage.ru_utime + usage.ru_stime)
' "$@"
}
daemon_cpu() {
    # wsmand's user + system time so far, in seconds
    awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$WSMAND_PID/stat"
}

PS_TIMES=()
WINRM_TIMES=()
PS_CPU=()
WINRM_CPU=()
step "$RUNS runs each, interleaved"
for run in $(seq 1 "$RUNS"); do
    read -r ps_time ps_cpu < <(seconds ps -eo pid,ppid,user,rss,vsz,etime,args)
    daemon_before="$(daemon_cpu)"
    read -r winrm_time winrm_cpu < <(WSMAND_CONFIG_DIR="$CONFIG" seconds "$RELEASE/winrm" enumerate wmicimv2/Win32_Process \
        "-r:http://127.0.0.1:$PORT" "-u:$ACCOUNT" "-p:$PASSWORD" -a:Basic -unencrypted)
    daemon="$(python3 -c "print($(daemon_cpu) - $daemon_before)")"
    echo "  run $run: ps ${ps_time}s (cpu ${ps_cpu}s), winrm enumerate ${winrm_time}s (cpu: winrm ${winrm_cpu}s, wsmand ${daemon}s)"
    PS_TIMES+=("$ps_time")
    WINRM_TIMES+=("$winrm_time")
    PS_CPU+=("$ps_cpu")
    WINRM_CPU+=("$(python3 -c "print($winrm_cpu + $daemon)")")
done
PEAK_RSS_KB="$(awk '/^VmHWM:/ {print $2}' "/proc/$WSMAND_PID/status")"

step "results"
python3 - "$ITEMS" "$PEAK_RSS_KB" "${PS_TIMES[*]}" "${WINRM_TIMES[*]}" "${PS_CPU[*]}" "${WINRM_CPU[*]}" <<'PY'
import statistics, sys
items, peak_kb = int(sys.argv[1]), int(sys.argv[2])
ps = statistics.median(float(x) for x in sys.argv[3].split())
winrm = statistics.median(float(x) for x in sys.argv[4].split())
ps_cpu = statistics.median(float(x) for x in sys.argv[5].split())
winrm_cpu = statistics.median(float(x) for x in sys.argv[6].split())
ratio = ps / winrm
print(f"Win32_Process items per enumeration : {items}")
print(f"ps -eo ... median                   : {ps * 1000:.0f} ms")
print(f"winrm enumerate median              : {winrm * 1000:.0f} ms ({items / winrm:.0f} items/s end to end)")
print(f"speed ratio (ps time / winrm time)  : {ratio:.2f}  goal >= 0.5: {'met' if ratio >= 0.5 else 'MISSED'}")
print(f"cpu: ps / (winrm + wsmand) medians  : {ps_cpu * 1000:.0f} ms / {winrm_cpu * 1000:.0f} ms = {ps_cpu / winrm_cpu:.2f}")
print(f"wsmand peak RSS                     : {peak_kb / 1024:.1f} MB")
PY
