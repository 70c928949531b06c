#!/usr/bin/env bash
# Benchmark: time to a rendered fleet page of the management console with 50 hosts, against
# the same console with one host in the same run, and the console's RSS.
#
#   benches/fleet.sh
#   FLEET_HOSTS=50 FLEET_RUNS=9 benches/fleet.sh
#   FLEET_BIN_DIR=/path/to/release benches/fleet.sh   (wsmand and wsmand-mgmt from there, no build)
#   FLEET_HOSTS=500 FLEET_DAEMONS=25 benches/fleet.sh   (500 host entries over 25 daemons)
#
# FLEET_HOSTS (default 50) hosts served by FLEET_DAEMONS (default FLEET_HOSTS) wsmand daemons on
# loopback ports (Basic over HTTP, a service account; host i is daemon i modulo FLEET_DAEMONS,
# so every host entry is a real daemon answering, several entries sharing one when fewer), two
# consoles (`wsmand-mgmt`, HTTPS on free loopback ports): "fleet" with every daemon as a
# host, "baseline" with the first daemon only. Debian's chromium (driven by
# tests/browser/fleet-bench.mjs) logs in to both and loads /fleet FLEET_RUNS times (default 7),
# interleaved, each load timed to the `load` event; the page is server-rendered, so that is the
# complete table. The loads begin once the fleet console's sampler has sampled every host
# (its first round: /fleet's JSON has a newest point for each). Printed: the median per console, the ratio fleet/baseline, the goal (fleet
# page under 1 s), and each console's RSS (VmRSS) idle after start and after the loads.
# Needs root (the consoles drop to the wsmand-mgmt user, which scripts/test.sh creates), and
# `npm ci --ignore-scripts` in tests/browser. Every process is stopped at the end. scripts/test.sh
# runs only its smoke mode.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

console_bench_prerequisites benches/fleet.sh

HOSTS="${FLEET_HOSTS:-$(bench_value 50 2)}"
DAEMONS="${FLEET_DAEMONS:-$HOSTS}"
RUNS="${FLEET_RUNS:-$(bench_value 7 1)}"
ACCOUNT=fleetbench
PASSWORD="Bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
MANAGER=bench-admin
MANAGER_PASSWORD="Mgr-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

console_bench_binaries "${FLEET_BIN_DIR:-}"

scratch_dir wsmand-fleet-bench
chmod 0755 "$WORK"

step "starting $DAEMONS wsmand daemons on loopback for $HOSTS hosts"
DAEMON_PORTS=()
for i in $(seq "$DAEMONS"); do
    start_basic_wsmand "$BIN" "$WORK/host$i" "$ACCOUNT" "$PASSWORD" root "$WORK/host$i.log"
    PIDS+=("$WSMAND_PID")
    DAEMON_PORTS+=("$PORT")
done
printf '%s' "$PASSWORD" >"$WORK/host-password"
chmod 0600 "$WORK/host-password"

# start_console NAME HOST_COUNT: a console with the first HOST_COUNT daemons; sets CONSOLE_PORT
# and CONSOLE_PID.
start_console() {
    local name="$1" count="$2" dir="$WORK/$1" i
    mkdir -p "$dir"
    chmod 0755 "$dir"
    CONSOLE_PORT="$(free_port)"
    cat >"$dir/mgmt.toml" <<TOML
EnableRemoteManagement = false
Port = $CONSOLE_PORT
BindAddresses = ["*"]
Certificate = "auto"
Credentials = "os+manager"
UnspecifiedClients = "Allow"
AllowedClients = []
DeniedClients = []
RequestLog = "off"
SessionIdleMinutes = 15
SessionLifetimeHours = 8
TOML
    for i in $(seq "$count"); do
        cat >>"$dir/mgmt.toml" <<TOML

[[Host]]
Name = "host$i"
Url = "http://127.0.0.1:${DAEMON_PORTS[$(((i - 1) % DAEMONS))]}/wsman"
Username = "$ACCOUNT"
PasswordFile = "$WORK/host-password"
AllowUnencrypted = true
TOML
    done
    # Deny by default: the manager's role allows everything on every host.
    cat >>"$dir/mgmt.toml" <<TOML

[[Role]]
Name = "admins"
Members = ["$MANAGER"]

[[Role.Rule]]
Effect = "Allow"
Hosts = ["*"]
Resources = ["*"]
Actions = ["read", "change", "shell"]
TOML
    printf '%s\n' "$MANAGER_PASSWORD" | WSMAND_CONFIG_DIR="$dir" "$BIN/wsmand" mgmt user add \
        "$MANAGER" --password-stdin >/dev/null
    env -u JOURNAL_STREAM "$BIN/wsmand-mgmt" --config-dir "$dir" 2>"$dir/console.log" &
    CONSOLE_PID=$!
    PIDS+=("$CONSOLE_PID")
    wait_for_port "$CONSOLE_PORT" "$CONSOLE_PID" "$dir/console.log"
}

rss_kb() {
    awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}

step "starting the consoles (fleet: $HOSTS hosts, baseline: 1 host)"
start_console fleet "$HOSTS"
FLEET_PORT="$CONSOLE_PORT" FLEET_PID="$CONSOLE_PID"
start_console baseline 1
BASE_PORT="$CONSOLE_PORT" BASE_PID="$CONSOLE_PID"
sleep 1
# After the first sample: every host has a newest point in /fleet's JSON.
wait_sampled() {
    local port="$1" count="$2" cookie="$WORK/cookie.$1" token i
    token="$(curl -sk -c "$cookie" "https://127.0.0.1:$port/login" | sed -nE 's/.*name="csrf" value="([^"]+)".*/\1/p' | head -1)"
    curl -sk -b "$cookie" -c "$cookie" -o /dev/null -H "Origin: https://127.0.0.1:$port" \
        --data-urlencode "csrf=$token" --data-urlencode "user=$MANAGER" \
        --data-urlencode "password=$MANAGER_PASSWORD" "https://127.0.0.1:$port/login"
    for i in $(seq 120); do
        if curl -sk -b "$cookie" -H 'Accept: application/json' "https://127.0.0.1:$port/fleet" \
            | python3 -c 'import json,sys; d=json.load(sys.stdin)["latest"]; sys.exit(0 if len(d)=='"$count"' and all(v is not None for v in d.values()) else 1)'; then
            echo "every one of $count hosts sampled after ${i}x1 s"
            return 0
        fi
        sleep 1
    done
    echo "not every host sampled within 120 s" >&2
    return 1
}
wait_sampled "$FLEET_PORT" "$HOSTS"
FLEET_IDLE="$(rss_kb "$FLEET_PID")" BASE_IDLE="$(rss_kb "$BASE_PID")"

step "loading /fleet $RUNS times per console in chromium"
RESULT="$WORK/result.txt"
(cd tests/browser && MANAGER_USER="$MANAGER" MANAGER_PASSWORD="$MANAGER_PASSWORD" \
    node fleet-bench.mjs "$RUNS" "baseline=https://127.0.0.1:$BASE_PORT" \
    "fleet=https://127.0.0.1:$FLEET_PORT") | tee "$RESULT"
FLEET_AFTER="$(rss_kb "$FLEET_PID")" BASE_AFTER="$(rss_kb "$BASE_PID")"

median() { sed -nE "s/^$1 .*median_ms=([0-9.]+).*/\1/p" "$RESULT"; }
FLEET_MS="$(median fleet)" BASE_MS="$(median baseline)"
step "results"
printf 'fleet page, %s hosts:  median %s ms\n' "$HOSTS" "$FLEET_MS"
printf 'fleet page, 1 host:    median %s ms\n' "$BASE_MS"
awk -v f="$FLEET_MS" -v b="$BASE_MS" 'BEGIN { printf "ratio %s hosts / 1 host: %.2f\n", '"$HOSTS"', f / b }'
awk -v f="$FLEET_MS" 'BEGIN { printf "goal: %s hosts under 1000 ms: %s\n", '"$HOSTS"', (f < 1000 ? "met" : "NOT met") }'
printf 'console RSS, %s hosts: idle %s kB, after the loads %s kB\n' "$HOSTS" "$FLEET_IDLE" "$FLEET_AFTER"
printf 'console RSS, 1 host:   idle %s kB, after the loads %s kB\n' "$BASE_IDLE" "$BASE_AFTER"
