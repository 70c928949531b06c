#!/usr/bin/env bash
# Benchmark: events delivered through Pull subscriptions against reading the same journal
# directly, in the same run. A journal of BENCH_EVENTS entries of about 1 KB (made by Debian's
# systemd-journal-remote from export text) is pulled through wsmand (Subscribe from the earliest
# event, Pull of BENCH_BATCH events until empty, Basic over loopback HTTP) and read by
# `journalctl --output=export` (the baseline: what wsmand itself runs per pull); prints events/s
# of both, their ratio, and the CPU seconds per 10,000 events of wsmand and of the client apart.
# The client checks that every event of the journal arrived exactly once; it reads each
# PullResponse without building its tree (expat checks it is well-formed, a pattern takes each
# event's message number), as a tree cost more CPU per event than wsmand spends making it.
#
#   benches/events.sh                               # 20,000 events, batches of 500
#   BENCH_EVENTS=50000 BENCH_BATCH=1000 benches/events.sh
#   WSMAND_BIN=/path/to/wsmand benches/events.sh    # that binary instead of a release build
#
# scripts/test.sh runs only its smoke mode: figures depend on the machine; the ratio is what to
# compare.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
require_cargo

EVENTS="${BENCH_EVENTS:-$(bench_value 20000 300)}"
BATCH="${BENCH_BATCH:-$(bench_value 500 100)}"
ACCOUNT=bench
PASSWORD="bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
JOURNAL_REMOTE=/lib/systemd/systemd-journal-remote
command -v python3 >/dev/null 2>&1 || ensure_packages python3
[ -x "$JOURNAL_REMOTE" ] || ensure_packages systemd-journal-remote

if [ -n "${WSMAND_BIN:-}" ]; then
    WSMAND="$WSMAND_BIN"
else
    bench_binaries -p wsmand
    WSMAND="$BENCH_BIN/wsmand"
fi

scratch_dir wsmand-events
DRIVER="$ROOT/benches/events.py"

step "a journal of $EVENTS entries of about 1 KB"
python3 "$DRIVER" export "$EVENTS" 1000 >"$WORK/entries.export"
mkdir -p "$WORK/journal"
"$JOURNAL_REMOTE" --output="$WORK/journal/bench.journal" "$WORK/entries.export" 2>/dev/null

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
printf '%s\n' "$PASSWORD" | WSMAND_CONFIG_DIR="$CONFIG" "$WSMAND" account add "$ACCOUNT" --password-stdin --run-as root >/dev/null
"$WSMAND" --config-dir "$CONFIG" --journal-directory "$WORK/journal" 2>"$WORK/wsmand.log" &
WSMAND_PID=$!
PIDS+=("$WSMAND_PID")
wait_for_port "$PORT" "$WSMAND_PID" "$WORK/wsmand.log"
AUTH="Basic $(printf '%s:%s' "$ACCOUNT" "$PASSWORD" | base64 -w0)"

step "baseline: journalctl --output=export of the same journal"
START="$EPOCHREALTIME"
journalctl --directory="$WORK/journal" --output=export >/dev/null
BASELINE_S="$(python3 -c 'import sys; print(float(sys.argv[2]) - float(sys.argv[1]))' "$START" "$EPOCHREALTIME")"

step "wsmand: Subscribe, then Pull $BATCH at a time until empty"
CPU_BEFORE="$(awk '{print $14 + $15}' "/proc/$WSMAND_PID/stat")"
PULLED="$(python3 "$DRIVER" pull "http://127.0.0.1:$PORT/wsman" "$AUTH" "$BATCH" "$EVENTS")"
CPU_AFTER="$(awk '{print $14 + $15}' "/proc/$WSMAND_PID/stat")"
echo "  $PULLED"

step "results"
python3 - "$EVENTS" "$BASELINE_S" "$PULLED" "$((CPU_AFTER - CPU_BEFORE))" "$(getconf CLK_TCK)" <<'PY'
import sys
events, baseline_s = int(sys.argv[1]), float(sys.argv[2])
pulled = dict(f.split("=") for f in sys.argv[3].split())
got, seconds = int(pulled["events"]), float(pulled["seconds"])
client_cpu_s = float(pulled["client_cpu"])
cpu_s = int(sys.argv[4]) / int(sys.argv[5])
assert got == events, f"pulled {got} events of {events}"
base_rate, rate = events / baseline_s, got / seconds
print(f"{'':<36}{'events/s':>12}")
print(f"{'journalctl --output=export (baseline)':<36}{base_rate:>12.0f}")
print(f"{'wsmand Pull (mapped, selected, XML)':<36}{rate:>12.0f}")
print(f"ratio wsmand / baseline: {rate / base_rate:.3f}")
print(f"wsmand CPU: {cpu_s:.2f} s for {got} events ({cpu_s / got * 10000:.2f} s per 10,000)")
print(f"client CPU (the driver): {client_cpu_s:.2f} s for {got} events ({client_cpu_s / got * 10000:.2f} s per 10,000)")
PY
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
