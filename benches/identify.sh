#!/usr/bin/env bash
# Benchmark: authenticated Identify over keep-alive, wsmand against a bare hyper responder in
# the same run, at 1 and 32 connections. Prints req/s, p50/p99 latency, the ratios, wsmand's idle
# RSS, and the targets next to them.
#
#   benches/identify.sh            # ~10 s per run, 4 runs
#   BENCH_SECONDS=30 benches/identify.sh
#   IDENTIFY_BIN_DIR=DIR           # wsmand and bare-responder from DIR (no build)
#   IDENTIFY_BASELINE_BIN_DIR=DIR IDENTIFY_ROUNDS=3 benches/identify.sh
#       # also DIR/wsmand (an older build) beside the first, and IDENTIFY_ROUNDS rounds at 32
#       # connections of bare, wsmand and the baseline in turn; medians of the ratios printed
#
# Not part of scripts/test.sh: figures depend on the machine; the ratios are what to compare.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
require_cargo

SECONDS_PER_RUN="${BENCH_SECONDS:-10}"
ACCOUNT=bench
PASSWORD="bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

command -v wrk >/dev/null 2>&1 || ensure_packages wrk
command -v curl >/dev/null 2>&1 || ensure_packages curl
command -v python3 >/dev/null 2>&1 || ensure_packages python3

if [ -n "${IDENTIFY_BIN_DIR:-}" ]; then
    RELEASE="$IDENTIFY_BIN_DIR"
else
    step "building release binaries (wsmand, bare-responder)"
    cargo build --release -p wsmand -p bare-responder
    RELEASE="${CARGO_TARGET_DIR:-$ROOT/target}/release"
fi

scratch_dir wsmand-bench

step "starting bare-responder and wsmand on loopback"
"$RELEASE/bare-responder" >"$WORK/bare.out" 2>"$WORK/bare.log" &
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
"$RELEASE/wsmand" --config-dir "$CONFIG" 2>"$WORK/wsmand.log" &
WSMAND_PID=$!
PIDS+=("$WSMAND_PID")
wait_for_port "$WSMAND_PORT" "$WSMAND_PID" "$WORK"/*.log
wait_for_port "$BARE_PORT" "$BARE_PID" "$WORK"/*.log
BASELINE_PORT=""
if [ -n "${IDENTIFY_BASELINE_BIN_DIR:-}" ]; then
    # The same configuration and account, another port, the other build.
    BASELINE_CONFIG="$WORK/baseline-config"
    cp -r "$CONFIG" "$BASELINE_CONFIG"
    BASELINE_PORT="$(free_port)"
    sed -i "s/^Port = .*/Port = $BASELINE_PORT/" "$BASELINE_CONFIG/config.toml"
    "$IDENTIFY_BASELINE_BIN_DIR/wsmand" --config-dir "$BASELINE_CONFIG" 2>"$WORK/baseline.log" &
    PIDS+=("$!")
    wait_for_port "$BASELINE_PORT" "$!" "$WORK"/*.log
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

# run_wrk NAME PORT CONNECTIONS -> sets RESULT_<NAME>_<CONNECTIONS>
declare -A RESULTS
run_wrk() {
    local name="$1" port="$2" connections="$3" threads=2
    [ "$connections" -ge "$threads" ] || threads="$connections"
    echo "wrk: $name, $connections connection(s), $threads thread(s), ${SECONDS_PER_RUN}s"
    local line
    line="$(wrk -t"$threads" -c"$connections" -d"${SECONDS_PER_RUN}s" --timeout 10s \
        -s "$ROOT/benches/identify.lua" "http://127.0.0.1:$port/wsman" | grep '^RESULT ')"
    echo "  $line"
    RESULTS["$name/$connections"]="$line"
}

field() {
    # field LINE KEY
    printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

step "load"
for connections in 1 32; do
    run_wrk bare "$BARE_PORT" "$connections"
    run_wrk wsmand "$WSMAND_PORT" "$connections"
done
PEAK_RSS_KB="$(awk '/^VmHWM:/ {print $2}' "/proc/$WSMAND_PID/status")"
if [ -n "$BASELINE_PORT" ]; then
    for round in $(seq 1 "${IDENTIFY_ROUNDS:-3}"); do
        run_wrk "bare-r$round" "$BARE_PORT" 32
        run_wrk "wsmand-r$round" "$WSMAND_PORT" 32
        run_wrk "baseline-r$round" "$BASELINE_PORT" 32
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
    for round in $(seq 1 "${IDENTIFY_ROUNDS:-3}"); do
        printf '%s|%s|%s\n' "${RESULTS[bare-r$round/32]}" "${RESULTS[wsmand-r$round/32]}" "${RESULTS[baseline-r$round/32]}"
    done | python3 -c '
import statistics, sys
def rps(line):
    return float(dict(f.split("=") for f in line.split()[1:])["rps"])
rows = [[rps(x) for x in l.strip().split("|")] for l in sys.stdin if l.strip()]
for i, (bare, new, old) in enumerate(rows, 1):
    print(f"round {i}: bare {bare:.0f}, this build {new:.0f} ({new / bare:.2f}x), baseline {old:.0f} ({old / bare:.2f}x) req/s")
new = statistics.median(r[1] / r[0] for r in rows)
old = statistics.median(r[2] / r[0] for r in rows)
print(f"median ratio to bare hyper at 32 connections: this build {new:.2f}x, baseline {old:.2f}x (target >= 0.8)")
'
fi
