#!/usr/bin/env bash
# Benchmark: one legitimate client (authenticated Identify on a kept-alive connection, one every
# 10 ms) alone, then beside 20 hostile unauthenticated clients (namespace flood, slow 500 KB
# bodies, empty POSTs; benches/hostile.py), against the same wsmand in the same run. Prints the
# legitimate client's p50/p99 latency in both phases and their ratio, wsmand's peak RSS in each
# phase, and its RSS once the hostile clients have stopped, with the targets next to them.
#
#   benches/hostile.sh                       # 20 s per phase
#   BENCH_SECONDS=60 HOSTILE_CLIENTS=20 benches/hostile.sh
#   WSMAND_BIN=/path/to/wsmand benches/hostile.sh   # that binary instead of a release build
#
# Not part of scripts/test.sh: figures depend on the machine; the ratios are what to compare.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
require_cargo

SECONDS_PER_PHASE="${BENCH_SECONDS:-20}"
CLIENTS="${HOSTILE_CLIENTS:-20}"
ACCOUNT=bench
PASSWORD="bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
command -v python3 >/dev/null 2>&1 || ensure_packages python3

if [ -n "${WSMAND_BIN:-}" ]; then
    # A daemon built elsewhere (another profile, an older commit to compare against).
    WSMAND="$WSMAND_BIN"
else
    step "building the release daemon"
    cargo build --release -p wsmand
    WSMAND="$ROOT/target/release/wsmand"
fi

scratch_dir wsmand-hostile

CONFIG="$WORK/config"
mkdir -p "$CONFIG"
PORT="$(free_port)"
cat >"$CONFIG/config.toml" <<TOML
[Config.Service]
AllowUnencrypted = true
[Config.Service.Auth]
Basic = true
[[Listener]]
Address = "IP:127.0.0.1"
Transport = "HTTP"
Port = $PORT
TOML
printf '%s\n' "$PASSWORD" | WSMAND_CONFIG_DIR="$CONFIG" "$WSMAND" account add "$ACCOUNT" --password-stdin >/dev/null
"$WSMAND" --config-dir "$CONFIG" 2>"$WORK/wsmand.log" &
WSMAND_PID=$!
PIDS+=("$WSMAND_PID")
wait_for_port "$PORT" "$WSMAND_PID" "$WORK/wsmand.log"
AUTH="Basic $(printf '%s:%s' "$ACCOUNT" "$PASSWORD" | base64 -w0)"
DRIVER="$ROOT/benches/hostile.py"
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

step "phase 1: the legitimate client alone (${SECONDS_PER_PHASE}s)"
python3 "$DRIVER" rss "$WSMAND_PID" "$SECONDS_PER_PHASE" >"$WORK/rss1" &
RSS1=$!
ALONE="$(python3 "$DRIVER" legit "$PORT" "$SECONDS_PER_PHASE" "$AUTH")"
wait "$RSS1"
RSS_ALONE="$(cat "$WORK/rss1")"
echo "  $ALONE"
echo "  $RSS_ALONE"

step "phase 2: beside $CLIENTS hostile unauthenticated clients (${SECONDS_PER_PHASE}s)"
LOG_LINES_BEFORE="$(wc -l <"$WORK/wsmand.log")"
python3 "$DRIVER" rss "$WSMAND_PID" "$SECONDS_PER_PHASE" >"$WORK/rss2" &
RSS2=$!
python3 "$DRIVER" hostile "$PORT" "$SECONDS_PER_PHASE" "$CLIENTS" >"$WORK/hostile" &
HOSTILE=$!
# Let the hostile clients start first.
sleep 1
BESIDE="$(python3 "$DRIVER" legit "$PORT" "$((SECONDS_PER_PHASE - 2))" "$AUTH")"
wait "$HOSTILE" "$RSS2"
RSS_BESIDE="$(cat "$WORK/rss2")"
echo "  $BESIDE"
echo "  $(cat "$WORK/hostile")"
echo "  $RSS_BESIDE"
LOG_LINES="$(($(wc -l <"$WORK/wsmand.log") - LOG_LINES_BEFORE))"

step "after: idle for 5 s"
sleep 5
RSS_AFTER_KB="$(awk '/^VmRSS:/ {print $2}' "/proc/$WSMAND_PID/status")"
CPU_TICKS="$(awk '{print $14 + $15}' "/proc/$WSMAND_PID/stat")"

step "results"
python3 - "$ALONE" "$BESIDE" "$RSS_ALONE" "$RSS_BESIDE" "$RSS_AFTER_KB" "$LOG_LINES" \
    "$(cat "$WORK/hostile")" "$CPU_TICKS" "$(getconf CLK_TCK)" <<'PY'
import sys

def parse(line):
    return {k: float(v) for k, v in (f.split("=") for f in line.split()[1:])}
alone, beside, rss_alone, rss_beside, hostile = (
    parse(sys.argv[i]) for i in (1, 2, 3, 4, 7))
after_kb, log_lines = int(sys.argv[5]), int(sys.argv[6])
cpu_s = int(sys.argv[8]) / int(sys.argv[9])
print(f"{'':<28}{'alone':>12}{'beside hostile':>16}{'ratio':>8}")
for key, label in (("p50_ms", "Identify p50 ms"), ("p99_ms", "Identify p99 ms"), ("max_ms", "Identify max ms")):
    print(f"{label:<28}{alone[key]:>12.3f}{beside[key]:>16.3f}{beside[key] / max(alone[key], 0.001):>8.2f}")
print(f"{'Identify requests (errors)':<28}{int(alone['n']):>8} ({int(alone['errors'])}){int(beside['n']):>12} ({int(beside['errors'])})")
print(f"{'wsmand peak RSS MB':<28}{rss_alone['peak_kb'] / 1024:>12.1f}{rss_beside['peak_kb'] / 1024:>16.1f}")
print(f"wsmand RSS 5 s after the hostile clients stopped: {after_kb / 1024:.1f} MB")
print(f"hostile requests sent: {int(hostile['requests'])}, answered: {int(hostile['answered'])}, "
      f"connection errors: {int(hostile['errors'])}")
print(f"wsmand log lines written during phase 2: {log_lines}; wsmand CPU in all: {cpu_s:.1f} s")
print()
verdict = lambda ok: "met" if ok else "MISSED"
p99x = beside["p99_ms"] / max(alone["p99_ms"], 0.001)
peak_mb = rss_beside["peak_kb"] / 1024
print("targets:")
print(f"  p99 beside hostile clients <= 2x alone : {p99x:.2f}x  {verdict(p99x <= 2.0)}")
print(f"  peak RSS beside hostile clients <= 64 MB: {peak_mb:.1f} MB  {verdict(peak_mb <= 64)}")
PY
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
