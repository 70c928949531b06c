#!/usr/bin/env bash
# Benchmark: the console's live figures. (1) Time to a drawn host overview whose graphs hold an
# hour's worth of points, against the same page with a few points in the same run. (2) What the
# console's sampling costs a sampled host: wsmand's CPU time (utime+stime of /proc/PID/stat) per
# minute while a console samples it at the default interval, against an identical daemon no
# console samples, over the same minutes.
#
#   benches/graphs.sh
#   GRAPHS_POINTS=360 GRAPHS_RUNS=7 benches/graphs.sh
#   GRAPHS_BIN_DIR=/path/to/release benches/graphs.sh   (wsmand and wsmand-mgmt from there, no build)
#
# Three wsmand daemons on loopback (Basic over HTTP, a service account): "sampled", sampled by
# a console at the default 10 s; "idle", in no console (the cost baseline); "hour", sampled by
# a second console every second until its ring holds GRAPHS_POINTS points (default 360: an
# hour at the default interval; the page draws what the ring holds, however fast it filled).
# Real samples only: the points are the sampler's own reads of the daemon. Then Debian's
# chromium (tests/browser/graphs-bench.mjs) loads both hosts' overviews GRAPHS_RUNS times
# (default 7), interleaved, each timed until the graphs are drawn, and split by the page's own
# clock into the server's answer (the overview, rendered from the sampler's data) and the graphs' part
# (samples.json fetched and drawn). Printed: the medians, their ratio, the goal (an hour of graphs under 300 ms), the CPU seconds per minute of each daemon,
# their difference (the sampling's cost) and that as a share of one core. Needs root, as
# benches/fleet.sh. Every process is stopped at the end. scripts/test.sh runs only its smoke mode.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

console_bench_prerequisites benches/graphs.sh

POINTS="${GRAPHS_POINTS:-$(bench_value 360 3)}"
RUNS="${GRAPHS_RUNS:-$(bench_value 7 1)}"
ACCOUNT=graphsbench
PASSWORD="Bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
MANAGER=bench-admin
MANAGER_PASSWORD="Mgr-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

console_bench_binaries "${GRAPHS_BIN_DIR:-}"

scratch_dir wsmand-graphs-bench
chmod 0755 "$WORK"
printf '%s' "$PASSWORD" >"$WORK/host-password"
chmod 0600 "$WORK/host-password"

step "starting three wsmand daemons on loopback (sampled, idle, hour)"
declare -A PORT_OF PID_OF
for name in sampled idle hour; do
    start_basic_wsmand "$BIN" "$WORK/$name" "$ACCOUNT" "$PASSWORD" root "$WORK/$name.log"
    PIDS+=("$WSMAND_PID")
    PORT_OF[$name]="$PORT" PID_OF[$name]="$WSMAND_PID"
done

# start_console NAME INTERVAL HOST: a console sampling HOST every INTERVAL s; sets CONSOLE_PORT.
start_console() {
    local name="$1" interval="$2" host="$3" dir="$WORK/console-$1"
    mkdir -p "$dir"
    chmod 0755 "$dir"
    CONSOLE_PORT="$(free_port)"
    cat >"$dir/mgmt.toml" <<TOML
Port = $CONSOLE_PORT
Credentials = "os+manager"
RequestLog = "off"
SampleIntervalSeconds = $interval

[[Host]]
Name = "$host"
Url = "http://127.0.0.1:${PORT_OF[$host]}/wsman"
Username = "$ACCOUNT"
PasswordFile = "$WORK/host-password"
AllowUnencrypted = true

[[Role]]
Name = "admins"
Members = ["$MANAGER"]

[[Role.Rule]]
Effect = "Allow"
Hosts = ["*"]
Resources = ["*"]
Actions = ["read"]
TOML
    printf '%s\n' "$MANAGER_PASSWORD" | WSMAND_CONFIG_DIR="$dir" "$BIN/wsmand" mgmt user add \
        "$MANAGER" --password-stdin >/dev/null
    env -u JOURNAL_STREAM "$BIN/wsmand-mgmt" --config-dir "$dir" 2>"$dir/console.log" &
    PIDS+=("$!")
    wait_for_port "$CONSOLE_PORT" "$!" "$dir/console.log"
}

# cpu_ticks PID: utime + stime in clock ticks.
cpu_ticks() {
    awk '{print $14 + $15}' "/proc/$1/stat"
}

# login PORT: a session cookie in $WORK/cookie.PORT.
login() {
    local port="$1" cookie="$WORK/cookie.$1" token
    token="$(curl -sk -c "$cookie" "https://127.0.0.1:$port/login" | sed -nE 's/.*name="csrf" value="([^"]+)".*/\1/p' | head -1)"
    curl -sk -b "$cookie" -c "$cookie" -o /dev/null -H "Origin: https://127.0.0.1:$port" \
        --data-urlencode "csrf=$token" --data-urlencode "user=$MANAGER" \
        --data-urlencode "password=$MANAGER_PASSWORD" "https://127.0.0.1:$port/login"
}

# points PORT HOST: how many points the console holds for HOST.
points() {
    curl -sk -b "$WORK/cookie.$1" "https://127.0.0.1:$1/hosts/$2/samples.json" \
        | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["points"]))'
}

step "starting the consoles (sampled: every 10 s; hour: every 1 s)"
start_console sampled 10 sampled
SAMPLED_CONSOLE="$CONSOLE_PORT"
start_console hour 1 hour
HOUR_CONSOLE="$CONSOLE_PORT"
login "$SAMPLED_CONSOLE"
login "$HOUR_CONSOLE"

TICK="$(getconf CLK_TCK)"
START_SAMPLED="$(cpu_ticks "${PID_OF[sampled]}")" START_IDLE="$(cpu_ticks "${PID_OF[idle]}")"
START_TIME="$(date +%s.%N)"
step "sampling until the hour console holds $POINTS points"
while :; do
    have="$(points "$HOUR_CONSOLE" hour)"
    [ "$have" -ge "$POINTS" ] && break
    sleep "$(bench_value 5 0.5)"
done
END_SAMPLED="$(cpu_ticks "${PID_OF[sampled]}")" END_IDLE="$(cpu_ticks "${PID_OF[idle]}")"
END_TIME="$(date +%s.%N)"
FEW="$(points "$SAMPLED_CONSOLE" sampled)"

step "loading both overviews $RUNS times in chromium"
RESULT="$WORK/result.txt"
(cd tests/browser && MANAGER_USER="$MANAGER" MANAGER_PASSWORD="$MANAGER_PASSWORD" \
    node graphs-bench.mjs "$RUNS" "few=https://127.0.0.1:$SAMPLED_CONSOLE/hosts/sampled" \
    "hour=https://127.0.0.1:$HOUR_CONSOLE/hosts/hour") | tee "$RESULT"

median() { sed -nE "s/^$1 .* median_ms=([0-9.]+).*/\1/p" "$RESULT"; }
part() { sed -nE "s/^$1 .* $2_median_ms=([0-9.]+).*/\1/p" "$RESULT"; }
HOUR_MS="$(median hour)" FEW_MS="$(median few)"
step "results"
printf 'host page, %s points (an hour at 10 s): median %s ms (server %s ms, graphs %s ms)\n' \
    "$POINTS" "$HOUR_MS" "$(part hour server)" "$(part hour graphs)"
printf 'host page, %s points:                  median %s ms (server %s ms, graphs %s ms)\n' \
    "$FEW" "$FEW_MS" "$(part few server)" "$(part few graphs)"
awk -v h="$HOUR_MS" -v f="$FEW_MS" 'BEGIN { printf "ratio hour / few: %.2f\n", h / f }'
awk -v h="$HOUR_MS" 'BEGIN { printf "goal: an hour of graphs under 300 ms: %s\n", (h < 300 ? "met" : "NOT met") }'
awk -v s0="$START_SAMPLED" -v s1="$END_SAMPLED" -v i0="$START_IDLE" -v i1="$END_IDLE" \
    -v t0="$START_TIME" -v t1="$END_TIME" -v tick="$TICK" 'BEGIN {
    minutes = (t1 - t0) / 60
    sampled = (s1 - s0) / tick / minutes
    idle = (i1 - i0) / tick / minutes
    printf "over %.1f min: sampled wsmand %.3f CPU s/min, idle wsmand %.3f CPU s/min\n", minutes, sampled, idle
    printf "sampling cost (10 s interval): %.3f CPU s/min = %.2f %% of one core\n", sampled - idle, (sampled - idle) / 60 * 100
}'
printf 'load average at the end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
