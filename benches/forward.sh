#!/usr/bin/env bash
# Benchmark: one forwarder pushing a journal to a collector (both wsmand, Basic over loopback
# HTTP), against reading the same journal directly, in the same run. A journal of BENCH_EVENTS
# entries of about 1 KB (made by Debian's systemd-journal-remote from export text) is forwarded
# from the oldest entry (the subscription reads existing events) to a collector that writes
# each event to a file and fsyncs before its Ack; the baseline is `journalctl --output=export`
# of the same journal (what the forwarder itself runs). Prints events/s of both, their ratio,
# and the forwarder's CPU per 1,000 events, which is its share of one core at 1,000 events/s.
#
#   benches/forward.sh                              # 20,000 events
#   BENCH_EVENTS=50000 benches/forward.sh
#   WSMAND_BIN=/path/to/wsmand benches/forward.sh   # that binary instead of a release build
#
# Not part of scripts/test.sh: figures depend on the machine; the ratio is what to compare.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
require_cargo

EVENTS="${BENCH_EVENTS:-20000}"
ACCOUNT=bench
PASSWORD="bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
JOURNAL_REMOTE=/lib/systemd/systemd-journal-remote
command -v python3 >/dev/null 2>&1 || ensure_packages python3
[ -x "$JOURNAL_REMOTE" ] || ensure_packages systemd-journal-remote

if [ -n "${WSMAND_BIN:-}" ]; then
    WSMAND="$WSMAND_BIN"
else
    step "building the release daemon"
    cargo build --release -p wsmand
    WSMAND="$ROOT/target/release/wsmand"
fi

WORK="$(mktemp -d -t wsmand-forward-XXXXXX)"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

step "a journal of $EVENTS entries of about 1 KB"
python3 "$ROOT/benches/events.py" export "$EVENTS" 1000 >"$WORK/entries.export"
mkdir -p "$WORK/journal"
"$JOURNAL_REMOTE" --output="$WORK/journal/bench.journal" "$WORK/entries.export" 2>/dev/null

listener() {
    cat <<TOML
[Config.Service]
AllowUnencrypted = true
[Config.Service.Auth]
Basic = true
[[Listener]]
Address = "IP:127.0.0.1"
Transport = "HTTP"
Port = $1
TOML
}

COLLECTOR="$WORK/collector"
COLLECTOR_PORT="$(free_port)"
mkdir -p "$COLLECTOR/subscriptions"
listener "$COLLECTOR_PORT" >"$COLLECTOR/config.toml"
cat >"$COLLECTOR/subscriptions/bench.toml" <<TOML
query = '<QueryList><Query Id="0"><Select Path="Application">*</Select></Query></QueryList>'
max_items = 100
max_latency_seconds = 1
read_existing_events = true
[[outputs]]
type = "file"
path = "$WORK/out/{client}.xml"
format = "raw"
TOML
printf '%s\n' "$PASSWORD" | WSMAND_CONFIG_DIR="$COLLECTOR" "$WSMAND" account add "$ACCOUNT" --password-stdin --run-as root >/dev/null
WSMAND_WEC_DATABASE="$WORK/wec.sqlite" "$WSMAND" --config-dir "$COLLECTOR" 2>"$WORK/collector.log" &
COLLECTOR_PID=$!
PIDS+=("$COLLECTOR_PID")
wait_for_port "$COLLECTOR_PORT" "$COLLECTOR_PID" "$WORK/collector.log"

step "baseline: journalctl --output=export of the same journal"
START="$EPOCHREALTIME"
journalctl --directory="$WORK/journal" --output=export >/dev/null
BASELINE_S="$(python3 -c 'import sys; print(float(sys.argv[2]) - float(sys.argv[1]))' "$START" "$EPOCHREALTIME")"

FORWARDER="$WORK/forwarder"
FORWARDER_PORT="$(free_port)"
mkdir -p "$FORWARDER"
listener "$FORWARDER_PORT" >"$FORWARDER/config.toml"
printf '%s\n' "$PASSWORD" >"$WORK/password"
cat >"$FORWARDER/forwarding.toml" <<TOML
computer = "$ACCOUNT.bench.test"
state_directory = "$WORK/cursors"
[[collector]]
server = "Server=http://127.0.0.1:$COLLECTOR_PORT/wsman/SubscriptionManager/WEC,Refresh=60"
authentication = "basic"
username = "$ACCOUNT"
password_file = "$WORK/password"
allow_unencrypted = true
TOML

step "forwarder: every entry to the collector"
START="$EPOCHREALTIME"
"$WSMAND" --config-dir "$FORWARDER" --journal-directory "$WORK/journal" 2>"$WORK/forwarder.log" &
FORWARDER_PID=$!
PIDS+=("$FORWARDER_PID")
OUT="$WORK/out/$ACCOUNT.xml"
# The EventID 111 event comes first, then every entry.
until [ -f "$OUT" ] && [ "$(wc -l <"$OUT")" -ge "$((EVENTS + 1))" ]; do
    kill -0 "$FORWARDER_PID" 2>/dev/null || { cat "$WORK/forwarder.log" >&2; exit 1; }
    sleep 0.05
done
FORWARD_S="$(python3 -c 'import sys; print(float(sys.argv[2]) - float(sys.argv[1]))' "$START" "$EPOCHREALTIME")"
# utime, stime and the journalctl children it has waited for (cutime, cstime).
CPU_TICKS="$(awk '{print $14 + $15 + $16 + $17}' "/proc/$FORWARDER_PID/stat")"
COLLECTOR_TICKS="$(awk '{print $14 + $15}' "/proc/$COLLECTOR_PID/stat")"

step "results"
python3 - "$EVENTS" "$BASELINE_S" "$FORWARD_S" "$CPU_TICKS" "$COLLECTOR_TICKS" "$(getconf CLK_TCK)" <<'PY'
import sys
events, baseline_s, forward_s = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
tick = int(sys.argv[6])
cpu_s, collector_s = int(sys.argv[4]) / tick, int(sys.argv[5]) / tick
base_rate, rate = events / baseline_s, events / forward_s
print(f"{'':<44}{'events/s':>12}")
print(f"{'journalctl --output=export (baseline)':<44}{base_rate:>12.0f}")
print(f"{'forwarded and acknowledged (start to last)':<44}{rate:>12.0f}")
print(f"ratio forwarder / baseline: {rate / base_rate:.3f}")
per_thousand = cpu_s / events * 1000
print(f"forwarder CPU: {cpu_s:.2f} s for {events} events ({per_thousand:.3f} s per 1,000: "
      f"{per_thousand * 100:.1f}% of one core at 1,000 events/s)")
print(f"collector CPU: {collector_s:.2f} s")
PY
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
