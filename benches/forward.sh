#!/usr/bin/env bash
# Benchmark: one forwarder pushing a journal to a collector (both wsmand, Basic over loopback
# HTTPS), with baselines measured in the same run. Three figures, as issue 10 asks:
#
# 1. Throughput: a journal of BENCH_EVENTS entries of about 1 KB (made by Debian's
#    systemd-journal-remote from export text) forwarded from the oldest entry to a collector
#    that writes each event to a file and fsyncs before its Ack; timed from the forwarder's
#    start to the last event at the collector. Baseline: `journalctl --output=export` of the
#    same journal (what the forwarder itself runs).
# 2. CPU at a paced rate: BENCH_RATE entries a second (1,000) for BENCH_SECONDS, written by
#    systemd-journal-remote as they come, forwarded as they arrive; the forwarder's CPU (its
#    own and any journalctl children's: it reads the journal in-process, so none unless
#    libsystemd could not open it) per second of that stream is its share of one core.
#    Baseline: `journalctl --follow --output=export` of the same growing journal.
# 3. Idle memory per subscription: the RSS of a forwarder offered BENCH_IDLE subscriptions that
#    select nothing, minus that of a forwarder offered none, divided by BENCH_IDLE; and the
#    proportional set size (PSS) with its journalctl children; and the idle CPU of each.
#
#   benches/forward.sh                              # 20,000 events, 1,000/s for 20 s, 100 idle
#   BENCH_EVENTS=50000 BENCH_RATE=1000 BENCH_SECONDS=30 BENCH_IDLE=200 benches/forward.sh
#   WSMAND_BIN=/path/to/wsmand benches/forward.sh   # that binary instead of a release build
#   WSMAN_BENCH_SMOKE=1 benches/forward.sh          # smoke mode (scripts/lib.sh): tiny, seconds
#
# The forwarder's Computer (bench.bench.test) is not its account's name (bench): each
# subscription maps the account to it (`[computers]`), as the collector's No forging rule asks.
# Figures depend on the machine; the ratios are what to compare. scripts/test.sh runs only the
# smoke mode.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
require_cargo

EVENTS="${BENCH_EVENTS:-$(bench_value 20000 200)}"
RATE="${BENCH_RATE:-$(bench_value 1000 100)}"
SECONDS_PACED="${BENCH_SECONDS:-$(bench_value 20 2)}"
IDLE="${BENCH_IDLE:-$(bench_value 100 3)}"
# Seconds the idle forwarders settle, then are measured over.
IDLE_SETTLE="$(bench_value 5 1)"
IDLE_WINDOW="$(bench_value 10 1)"
ACCOUNT=bench
COMPUTER="$ACCOUNT.bench.test"
PASSWORD="bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
JOURNAL_REMOTE=/lib/systemd/systemd-journal-remote
# journalctl --follow waits only on a journal of the running boot.
BOOT_ID="$(tr -d '-' </proc/sys/kernel/random/boot_id)"
TICK="$(getconf CLK_TCK)"
command -v python3 >/dev/null 2>&1 || ensure_packages python3
command -v openssl >/dev/null 2>&1 || ensure_packages openssl
[ -x "$JOURNAL_REMOTE" ] || ensure_packages systemd-journal-remote

if [ -n "${WSMAND_BIN:-}" ]; then
    WSMAND="$WSMAND_BIN"
else
    bench_binaries -p wsmand
    WSMAND="$BENCH_BIN/wsmand"
fi

scratch_dir wsmand-forward

seconds_since() {
    python3 -c 'import sys; print(float(sys.argv[2]) - float(sys.argv[1]))' "$1" "$EPOCHREALTIME"
}

# CPU ticks of PID: its own, its waited-for children's, and its live children's.
cpu_ticks() {
    local pid="$1" total child
    total="$(awk '{print $14 + $15 + $16 + $17}' "/proc/$pid/stat")"
    for child in $(ps --ppid "$pid" -o pid= 2>/dev/null); do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$child/stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
}

# Resident KiB of PID alone; and the proportional set (shared pages divided among the
# processes mapping them: journalctl maps the journal files) of PID and its live children.
rss_kib() {
    awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}
pss_with_children_kib() {
    local pid="$1" total=0 process
    for process in "$pid" $(ps --ppid "$pid" -o pid= 2>/dev/null); do
        total=$((total + $(awk '/^Pss:/ {print $2}' "/proc/$process/smaps_rollup" 2>/dev/null || echo 0)))
    done
    echo "$total"
}

lines() {
    if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi
}

# wait_for_lines FILE COUNT PID LOG: until FILE has COUNT lines; exits if PID ends.
wait_for_lines() {
    until [ "$(lines "$1")" -ge "$2" ]; do
        kill -0 "$3" 2>/dev/null || { cat "$4" >&2; exit 1; }
        sleep 0.05
    done
}

step "the collectors' certificate (ECDSA P-256, self-signed, as wsmand makes its own)"
listener_certificate collector
printf '%s\n' "$PASSWORD" >"$WORK/password"

# start_collector NAME: a collector in $WORK/NAME (subscriptions already written there), HTTPS
# only; sets COLLECTOR_PORT and COLLECTOR_PID.
start_collector() {
    local dir="$WORK/$1"
    mkdir -p "$dir/subscriptions" "$dir/certs"
    install_listener_certificate collector "$dir"
    COLLECTOR_PORT="$(free_port)"
    cat >"$dir/config.toml" <<TOML
[Config.Service.Auth]
Basic = true
[[Listener]]
Address = "IP:127.0.0.1"
Transport = "HTTPS"
Port = $COLLECTOR_PORT
CertificateThumbprint = "$THUMBPRINT"
TOML
    printf '%s\n' "$PASSWORD" | WSMAND_CONFIG_DIR="$dir" "$WSMAND" account add "$ACCOUNT" --password-stdin --run-as root >/dev/null
    WSMAND_WEC_DATABASE="$dir/wec.sqlite" "$WSMAND" --config-dir "$dir" 2>"$dir/log" &
    COLLECTOR_PID=$!
    PIDS+=("$COLLECTOR_PID")
    wait_for_port "$COLLECTOR_PORT" "$COLLECTOR_PID" "$dir/log"
}

# subscription FILE OUT SELECT READ_EXISTING: a collector's subscription file; the account
# speaks for the forwarders' Computer.
subscription() {
    cat >"$1" <<TOML
query = '<QueryList><Query Id="0"><Select Path="Application">$3</Select></Query></QueryList>'
max_items = 100
max_latency_seconds = 1
read_existing_events = $4
[computers]
"$ACCOUNT" = ["$COMPUTER"]
[[outputs]]
type = "file"
path = "$2"
format = "raw"
TOML
}

# start_forwarder NAME JOURNAL COLLECTOR_PORT: a forwarder in $WORK/NAME reading JOURNAL,
# Basic over HTTPS to the collector; sets FORWARDER_PID.
start_forwarder() {
    local dir="$WORK/$1" port
    port="$(free_port)"
    mkdir -p "$dir"
    cat >"$dir/config.toml" <<TOML
[Config.Service]
AllowUnencrypted = true
[[Listener]]
Address = "IP:127.0.0.1"
Transport = "HTTP"
Port = $port
TOML
    cat >"$dir/forwarding.toml" <<TOML
computer = "$COMPUTER"
state_directory = "$dir/cursors"
[[collector]]
server = "Server=https://127.0.0.1:$3/wsman/SubscriptionManager/WEC,Refresh=60"
authentication = "basic"
username = "$ACCOUNT"
password_file = "$WORK/password"
ca_file = "$WORK/collector.crt"
TOML
    "$WSMAND" --config-dir "$dir" --journal-directory "$2" 2>"$dir/log" &
    FORWARDER_PID=$!
    PIDS+=("$FORWARDER_PID")
}

step "1. throughput: a journal of $EVENTS entries of about 1 KB"
python3 "$ROOT/benches/events.py" export "$EVENTS" 1000 "$BOOT_ID" >"$WORK/entries.export"
mkdir -p "$WORK/journal"
"$JOURNAL_REMOTE" --output="$WORK/journal/bench.journal" "$WORK/entries.export" 2>/dev/null
rm "$WORK/entries.export"

START="$EPOCHREALTIME"
journalctl --directory="$WORK/journal" --output=export >/dev/null
BASELINE_S="$(seconds_since "$START")"

mkdir -p "$WORK/bulk/subscriptions"
subscription "$WORK/bulk/subscriptions/bench.toml" "$WORK/bulk/out.xml" '*' true
start_collector bulk
BULK_COLLECTOR_PID="$COLLECTOR_PID"
START="$EPOCHREALTIME"
start_forwarder bulk-forwarder "$WORK/journal" "$COLLECTOR_PORT"
# The EventID 111 event comes first, then every entry.
wait_for_lines "$WORK/bulk/out.xml" "$((EVENTS + 1))" "$FORWARDER_PID" "$WORK/bulk-forwarder/log"
FORWARD_S="$(seconds_since "$START")"
BULK_CPU="$(cpu_ticks "$FORWARDER_PID")"
BULK_COLLECTOR_CPU="$(awk '{print $14 + $15}' "/proc/$BULK_COLLECTOR_PID/stat")"
kill "$FORWARDER_PID" "$BULK_COLLECTOR_PID"

step "2. CPU at $RATE entries/s for $SECONDS_PACED s"
mkdir -p "$WORK/paced-journal" "$WORK/paced/subscriptions"
python3 "$ROOT/benches/events.py" paced "$RATE" "$SECONDS_PACED" 1000 "$BOOT_ID" "$WORK/go" |
    "$JOURNAL_REMOTE" --output="$WORK/paced-journal/bench.journal" - 2>/dev/null &
WRITER_PID=$!
PIDS+=("$WRITER_PID")
until journalctl --directory="$WORK/paced-journal" -q -n1 -o export 2>/dev/null | grep -q __CURSOR; do
    sleep 0.05
done
SEED_CURSOR="$(journalctl --directory="$WORK/paced-journal" -n1 -o export | sed -n 's/^__CURSOR=//p')"
subscription "$WORK/paced/subscriptions/bench.toml" "$WORK/paced/out.xml" '*' true
start_collector paced
start_forwarder paced-forwarder "$WORK/paced-journal" "$COLLECTOR_PORT"
# EventID 111 and the seed entry: the subscription runs.
wait_for_lines "$WORK/paced/out.xml" 2 "$FORWARDER_PID" "$WORK/paced-forwarder/log"
sleep "$(bench_value 2 0.5)"
journalctl --directory="$WORK/paced-journal" --follow --output=export --after-cursor="$SEED_CURSOR" >/dev/null 2>&1 &
FOLLOW_PID=$!
PIDS+=("$FOLLOW_PID")
PACED_CPU_START="$(cpu_ticks "$FORWARDER_PID")"
START="$EPOCHREALTIME"
touch "$WORK/go"
wait "$WRITER_PID"
wait_for_lines "$WORK/paced/out.xml" "$((RATE * SECONDS_PACED + 2))" "$FORWARDER_PID" "$WORK/paced-forwarder/log"
PACED_S="$(seconds_since "$START")"
PACED_CPU="$(($(cpu_ticks "$FORWARDER_PID") - PACED_CPU_START))"
FOLLOW_CPU="$(awk '{print $14 + $15}' "/proc/$FOLLOW_PID/stat")"
kill "$FORWARDER_PID" "$FOLLOW_PID" "$COLLECTOR_PID"

step "3. idle memory: $IDLE subscriptions that select nothing, and none"
mkdir -p "$WORK/idle/subscriptions" "$WORK/none/subscriptions"
for n in $(seq 1 "$IDLE"); do
    subscription "$WORK/idle/subscriptions/idle-$n.toml" "$WORK/idle/out.xml" \
        '*[System[Provider[@Name="nobody-logs-this"]]]' false
done
start_collector idle
start_forwarder idle-forwarder "$WORK/journal" "$COLLECTOR_PORT"
IDLE_PID="$FORWARDER_PID"
start_collector none
start_forwarder none-forwarder "$WORK/journal" "$COLLECTOR_PORT"
NONE_PID="$FORWARDER_PID"
until [ "$(grep -c 'forwarded subscription started' "$WORK/idle-forwarder/log" || true)" -ge "$IDLE" ]; do
    kill -0 "$IDLE_PID" 2>/dev/null || { cat "$WORK/idle-forwarder/log" >&2; exit 1; }
    sleep 0.1
done
sleep "$IDLE_SETTLE"
IDLE_CPU_START="$(cpu_ticks "$IDLE_PID")"
NONE_CPU_START="$(cpu_ticks "$NONE_PID")"
sleep "$IDLE_WINDOW"
IDLE_CPU="$(($(cpu_ticks "$IDLE_PID") - IDLE_CPU_START))"
NONE_CPU="$(($(cpu_ticks "$NONE_PID") - NONE_CPU_START))"
IDLE_RSS="$(rss_kib "$IDLE_PID")"
IDLE_RSS_ALL="$(pss_with_children_kib "$IDLE_PID")"
NONE_RSS="$(rss_kib "$NONE_PID")"
NONE_RSS_ALL="$(pss_with_children_kib "$NONE_PID")"

step "results"
python3 - "$EVENTS" "$BASELINE_S" "$FORWARD_S" "$BULK_CPU" "$BULK_COLLECTOR_CPU" "$TICK" \
    "$RATE" "$SECONDS_PACED" "$PACED_S" "$PACED_CPU" "$FOLLOW_CPU" \
    "$IDLE" "$IDLE_RSS" "$IDLE_RSS_ALL" "$NONE_RSS" "$NONE_RSS_ALL" "$IDLE_CPU" "$NONE_CPU" "$IDLE_WINDOW" <<'PY'
import sys
a = sys.argv[1:]
events, baseline_s, forward_s = int(a[0]), float(a[1]), float(a[2])
tick = int(a[5])
bulk_cpu, collector_cpu = int(a[3]) / tick, int(a[4]) / tick
rate, seconds, paced_s = int(a[6]), float(a[7]), float(a[8])
paced_cpu, follow_cpu = int(a[9]) / tick, int(a[10]) / tick
idle = int(a[11])
idle_rss, idle_all, none_rss, none_all = (int(x) for x in a[12:16])
idle_cpu, none_cpu = int(a[16]) / tick, int(a[17]) / tick
window = float(a[18])
base_rate, fwd_rate = events / baseline_s, events / forward_s
print(f"1. throughput over HTTPS ({events} entries of ~1 KB)")
print(f"   journalctl --output=export (baseline)      {base_rate:>10.0f} events/s")
print(f"   forwarded and acknowledged                  {fwd_rate:>10.0f} events/s")
print(f"   ratio forwarder / baseline: {fwd_rate / base_rate:.3f}")
print(f"   forwarder CPU {bulk_cpu:.2f} s ({bulk_cpu / events * 1000:.3f} s per 1,000 events), collector CPU {collector_cpu:.2f} s")
paced_events = rate * seconds
print(f"2. paced: {paced_events:.0f} entries at {rate}/s, all at the collector after {paced_s:.1f} s")
print(f"   forwarder CPU {paced_cpu:.2f} s: {paced_cpu / paced_events * 1000 * 100:.1f}% of one core at 1,000 events/s")
print(f"   journalctl --follow (baseline) CPU {follow_cpu:.2f} s: {follow_cpu / paced_events * 1000 * 100:.1f}% of one core at 1,000 events/s")
print(f"   ratio forwarder / baseline CPU: {paced_cpu / max(follow_cpu, 1 / tick):.1f}")
print(f"3. idle: {idle} subscriptions vs none")
print(f"   RSS forwarder alone: {idle_rss} KiB vs {none_rss} KiB: {(idle_rss - none_rss) / idle:.1f} KiB per subscription")
print(f"   PSS with journalctl children: {idle_all} KiB vs {none_all} KiB: {(idle_all - none_all) / idle:.1f} KiB per subscription")
print(f"   idle CPU over {window:.0f} s: {idle_cpu / window * 100:.1f}% of one core vs {none_cpu / window * 100:.1f}% "
      f"({(idle_cpu - none_cpu) / window / idle * 100:.3f}% per subscription)")
PY
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
