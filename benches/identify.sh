#!/usr/bin/env bash
# Benchmark: authenticated Identify over keep-alive, wsmand against a bare hyper responder in
# the same run, at 1 and 32 connections. Prints req/s, p50/p99 latency, the ratios, the CPU each
# server used per request (from /proc/PID/stat over each wrk run; wsmand's also without its
# blocking-pool threads, where each new connection's password check runs), wsmand's idle RSS,
# and the targets next to them.
#
#   benches/identify.sh            # ~10 s per run, 4 runs
#   BENCH_SECONDS=30 benches/identify.sh
#   IDENTIFY_BIN_DIR=DIR           # wsmand and bare-responder from DIR (no build)
#   IDENTIFY_BASELINE_BIN_DIR=DIR IDENTIFY_ROUNDS=3 benches/identify.sh
#       # also DIR/wsmand (an older build) beside the first, and IDENTIFY_ROUNDS rounds at 32
#       # connections of bare, wsmand and the baseline in turn; medians of the ratios printed
#   IDENTIFY_INSTRUCTIONS=1 IDENTIFY_BIN_DIR=DIR benches/identify.sh
#       # instead of wrk: the servers under callgrind, instructions per kept-alive Identify at 32
#       # connections (benches/identify_instructions.py), which the host's load does not move
#
# scripts/test.sh runs only its smoke mode: figures depend on the machine; the ratios are what to
# compare.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
unit_environment
require_cargo

SECONDS_PER_RUN="${BENCH_SECONDS:-$(bench_value 10 1)}"
ACCOUNT=bench
PASSWORD="bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

command -v wrk >/dev/null 2>&1 || ensure_packages wrk
command -v curl >/dev/null 2>&1 || ensure_packages curl
command -v python3 >/dev/null 2>&1 || ensure_packages python3

if [ -n "${IDENTIFY_BIN_DIR:-}" ]; then
    RELEASE="$IDENTIFY_BIN_DIR"
else
    bench_binaries -p wsmand -p bare-responder
    RELEASE="$BENCH_BIN"
fi

scratch_dir wsmand-bench
# The servers' command prefix: callgrind in the instructions mode, its dumps in $WORK.
UNDER=()
if [ -n "${IDENTIFY_INSTRUCTIONS:-}" ]; then
    command -v callgrind_control >/dev/null 2>&1 || ensure_packages valgrind
    UNDER=(valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.%p")
fi

step "starting bare-responder and wsmand on loopback"
"${UNDER[@]}" "$RELEASE/bare-responder" >"$WORK/bare.out" 2>"$WORK/bare.log" &
BARE_PID=$!
PIDS+=("$BARE_PID")
for _ in $(seq 1 100); do
    grep -q '^listening on ' "$WORK/bare.out" 2>/dev/null && break
    sleep 0.05
done
BARE_PORT="$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$WORK/bare.out")"
[ -n "$BARE_PORT" ] || { echo "bare-responder did not report its port" >&2; exit 1; }

CONFIG="$WORK/config"
mkdir -p "$CONFIG"
WSMAND_PORT="$(free_port)"
cat >"$CONFIG/config.toml" <<TOML
[Config.Service]
AllowUnencrypted = true
[Config.Service.Auth]
Basic = true
[[Listener]]
Address = "IP:127.0.0.1"
Transport = "HTTP"
Port = $WSMAND_PORT
TOML
printf '%s\n' "$PASSWORD" | WSMAND_CONFIG_DIR="$CONFIG" "$RELEASE/wsmand" account add "$ACCOUNT" --password-stdin >/dev/null
env "${UNIT_ENV[@]}" "${UNDER[@]}" "$RELEASE/wsmand" --config-dir "$CONFIG" 2>"$WORK/wsmand.log" &
WSMAND_PID=$!
PIDS+=("$WSMAND_PID")
wait_for_port "$WSMAND_PORT" "$WSMAND_PID" "$WORK"/*.log
wait_for_port "$BARE_PORT" "$BARE_PID" "$WORK"/*.log
# The threads wsmand has before its first request (main thread, async workers): any thread
# started later is the blocking pool, which runs each new connection's password check.
ls "/proc/$WSMAND_PID/task" >"$WORK/wsmand-start-threads"
BASELINE_PORT=""
if [ -n "${IDENTIFY_BASELINE_BIN_DIR:-}" ]; then
    # The same configuration and account, another port, the other build.
    BASELINE_CONFIG="$WORK/baseline-config"
    cp -r "$CONFIG" "$BASELINE_CONFIG"
    BASELINE_PORT="$(free_port)"
    sed -i "s/^Port = .*/Port = $BASELINE_PORT/" "$BASELINE_CONFIG/config.toml"
    env "${UNIT_ENV[@]}" "${UNDER[@]}" "$IDENTIFY_BASELINE_BIN_DIR/wsmand" --config-dir "$BASELINE_CONFIG" \
        2>"$WORK/baseline.log" &
    BASELINE_PID=$!
    PIDS+=("$BASELINE_PID")
    wait_for_port "$BASELINE_PORT" "$BASELINE_PID" "$WORK"/*.log
fi

rss_kb() {
    awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}
IDLE_RSS_KB="$(rss_kb "$WSMAND_PID")"

export WSMAN_BENCH_AUTH="Basic $(printf '%s:%s' "$ACCOUNT" "$PASSWORD" | base64 -w0)"
IDENTIFY='<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"><s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>'
status="$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: $WSMAN_BENCH_AUTH" \
    -H 'Content-Type: application/soap+xml;charset=UTF-8' --data-binary "$IDENTIFY" \
    "http://127.0.0.1:$WSMAND_PORT/wsman")"
if [ "$status" != 200 ]; then
    echo "sanity check failed: wsmand answered Identify with HTTP $status" >&2
    cat "$WORK/wsmand.log" >&2
    exit 1
fi

if [ -n "${IDENTIFY_INSTRUCTIONS:-}" ]; then
    step "instructions per kept-alive Identify, 32 connections (callgrind, user space)"
    for server in "bare hyper:$BARE_PORT:$BARE_PID" "wsmand:$WSMAND_PORT:$WSMAND_PID" \
        ${BASELINE_PORT:+"baseline:$BASELINE_PORT:$BASELINE_PID"}; do
        IFS=: read -r name port pid <<<"$server"
        echo "$name: $(python3 "$ROOT/benches/identify_instructions.py" "$port" \
            "$WSMAN_BENCH_AUTH" 32 "$pid" "$WORK/callgrind.$pid.1")"
    done
    exit 0
fi

# cpu_ticks PID [START_THREADS_FILE] -> "TOTAL LATER": clock ticks of user+system CPU of the
# whole process, and of its threads not named in START_THREADS_FILE (0 without one). Threads
# that ended are counted in neither; the blocking pool keeps its threads 10 s, longer than the
# gap between two runs of the same server.
cpu_ticks() {
    python3 - "$@" <<'PY'
import os, sys
pid = sys.argv[1]
start = set(open(sys.argv[2]).read().split()) if len(sys.argv) > 2 else None
def ticks(path):
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime
total = ticks(f"/proc/{pid}/stat")
later = 0
if start is not None:
    for tid in os.listdir(f"/proc/{pid}/task"):
        if tid not in start:
            try:
                later += ticks(f"/proc/{pid}/task/{tid}/stat")
            except OSError:
                pass
print(total, later)
PY
}

# run_wrk NAME PORT CONNECTIONS PID [START_THREADS_FILE] -> RESULTS[NAME/CONNECTIONS]: wrk's
# RESULT line with cpu_ticks= and later_ticks= (the server's CPU over the run) appended
declare -A RESULTS
run_wrk() {
    local name="$1" port="$2" connections="$3" pid="$4" start_threads="${5:-}" threads=2
    [ "$connections" -ge "$threads" ] || threads="$connections"
    echo "wrk: $name, $connections connection(s), $threads thread(s), ${SECONDS_PER_RUN}s"
    local line before after
    # shellcheck disable=SC2086 # the optional file is one word or none
    before="$(cpu_ticks "$pid" $start_threads)"
    line="$(wrk -t"$threads" -c"$connections" -d"${SECONDS_PER_RUN}s" --timeout 10s \
        -s "$ROOT/benches/identify.lua" "http://127.0.0.1:$port/wsman" | grep '^RESULT ')"
    # shellcheck disable=SC2086
    after="$(cpu_ticks "$pid" $start_threads)"
    line="$line cpu_ticks=$((${after% *} - ${before% *})) later_ticks=$((${after#* } - ${before#* }))"
    echo "  $line"
    RESULTS["$name/$connections"]="$line"
}

field() {
    # field LINE KEY
    printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

step "load"
for connections in 1 32; do
    run_wrk bare "$BARE_PORT" "$connections" "$BARE_PID"
    run_wrk wsmand "$WSMAND_PORT" "$connections" "$WSMAND_PID" "$WORK/wsmand-start-threads"
done
PEAK_RSS_KB="$(awk '/^VmHWM:/ {print $2}' "/proc/$WSMAND_PID/status")"
if [ -n "$BASELINE_PORT" ]; then
    for round in $(seq 1 "${IDENTIFY_ROUNDS:-$(bench_value 3 1)}"); do
        run_wrk "bare-r$round" "$BARE_PORT" 32 "$BARE_PID"
        run_wrk "wsmand-r$round" "$WSMAND_PORT" 32 "$WSMAND_PID"
        run_wrk "baseline-r$round" "$BASELINE_PORT" 32 "$BASELINE_PID"
    done
fi

for key in "${!RESULTS[@]}"; do
    errors="$(field "${RESULTS[$key]}" errors)"
    non2xx="$(field "${RESULTS[$key]}" non2xx)"
    if [ "$errors" != 0 ] || [ "$non2xx" != 0 ]; then
        echo "warning: $key had $errors socket errors and $non2xx non-2xx answers" >&2
    fi
done

step "results (Identify, Basic auth, keep-alive, loopback)"
python3 - "$IDLE_RSS_KB" "$PEAK_RSS_KB" \
    "${RESULTS[bare/1]}" "${RESULTS[wsmand/1]}" "${RESULTS[bare/32]}" "${RESULTS[wsmand/32]}" <<'PY'
import os
import sys

idle_kb, peak_kb = int(sys.argv[1]), int(sys.argv[2])
def parse(line):
    return {k: float(v) for k, v in (f.split("=") for f in line.split()[1:])}
bare1, ws1, bare32, ws32 = (parse(x) for x in sys.argv[3:7])

print(f"{'':<22}{'bare hyper':>14}{'wsmand':>14}{'ratio':>10}")
for label, b, w in (("1 connection", bare1, ws1), ("32 connections", bare32, ws32)):
    print(f"{label + ' req/s':<22}{b['rps']:>14.0f}{w['rps']:>14.0f}{w['rps'] / b['rps']:>10.2f}")
    print(f"{label + ' p50 ms':<22}{b['p50_us'] / 1000:>14.3f}{w['p50_us'] / 1000:>14.3f}{w['p50_us'] / max(b['p50_us'], 1):>10.2f}")
    print(f"{label + ' p99 ms':<22}{b['p99_us'] / 1000:>14.3f}{w['p99_us'] / 1000:>14.3f}{w['p99_us'] / max(b['p99_us'], 1):>10.2f}")
tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
def cpu_us(r, ticks="cpu_ticks"):
    return r[ticks] * tick_us / max(r["requests"], 1)
for label, b, w in (("1 connection", bare1, ws1), ("32 connections", bare32, ws32)):
    print(f"{label + ' CPU us/req':<22}{cpu_us(b):>14.1f}{cpu_us(w):>14.1f}{cpu_us(w) / max(cpu_us(b), 1e-9):>10.2f}")
print(f"{'  of which wsmand':<22}{'':>14}{cpu_us(ws32, 'later_ticks'):>14.1f}   (32 connections: its blocking pool, the 32 password checks)")
print(f"{'  without them':<22}{cpu_us(bare32):>14.1f}{cpu_us(ws32) - cpu_us(ws32, 'later_ticks'):>14.1f}{(cpu_us(ws32) - cpu_us(ws32, 'later_ticks')) / max(cpu_us(bare32), 1e-9):>10.2f}")
print(f"wsmand idle RSS before load: {idle_kb / 1024:.1f} MB (peak during load: {peak_kb / 1024:.1f} MB)")
print("note: each connection's first request pays one password check (argon2id); wrk back-fills")
print("      slow samples (coordinated-omission correction), so those dominate p99 at 32 connections.")
print("      See docs/benchmarks.md.")
print()

def verdict(ok):
    return "met" if ok else "MISSED"
ratio32 = ws32["rps"] / bare32["rps"]
p50x = ws1["p50_us"] / max(bare1["p50_us"], 1)
print("targets:")
print(f"  req/s ratio at 32 connections >= 0.5     : {ratio32:.2f}  {verdict(ratio32 >= 0.5)}")
print(f"  p50 at 1 connection <= 2x bare responder : {p50x:.2f}x  {verdict(p50x <= 2.0)}")
print(f"  idle RSS <= 8 MB                         : {idle_kb / 1024:.1f} MB  {verdict(idle_kb <= 8 * 1024)}")
PY

if [ -n "$BASELINE_PORT" ]; then
    step "this build and the baseline ($IDENTIFY_BASELINE_BIN_DIR), 32 connections, rounds in turn (load $(cut -d' ' -f1-3 /proc/loadavg))"
    for round in $(seq 1 "${IDENTIFY_ROUNDS:-$(bench_value 3 1)}"); do
        printf '%s|%s|%s\n' "${RESULTS[bare-r$round/32]}" "${RESULTS[wsmand-r$round/32]}" "${RESULTS[baseline-r$round/32]}"
    done | python3 -c '
import statistics, sys
import os
tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
def parse(line):
    d = {k: float(v) for k, v in (f.split("=") for f in line.split()[1:])}
    return d["rps"], d["cpu_ticks"] * tick_us / max(d["requests"], 1)
rows = [[parse(x) for x in l.strip().split("|")] for l in sys.stdin if l.strip()]
for i, ((bare, bare_cpu), (new, new_cpu), (old, old_cpu)) in enumerate(rows, 1):
    print(f"round {i}: bare {bare:.0f} req/s {bare_cpu:.1f} us/req, this build {new:.0f} ({new / bare:.2f}x) {new_cpu:.1f} us/req, baseline {old:.0f} ({old / bare:.2f}x) {old_cpu:.1f} us/req")
new = statistics.median(r[1][0] / r[0][0] for r in rows)
old = statistics.median(r[2][0] / r[0][0] for r in rows)
new_cpu = statistics.median(r[1][1] / r[0][1] for r in rows)
old_cpu = statistics.median(r[2][1] / r[0][1] for r in rows)
print(f"median ratio to bare hyper at 32 connections: this build {new:.2f}x, baseline {old:.2f}x (target >= 0.8)")
print(f"median CPU per request against bare hyper: this build {new_cpu:.2f}x, baseline {old_cpu:.2f}x")
'
fi
