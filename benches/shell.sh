#!/usr/bin/env bash
# Benchmark: WinRS shells through the client library (benches/shell-bench) against wsmand, each
# figure next to a local baseline measured in the same run:
#   (a) Create + Command + Receive until Done + Delete of `true` vs a local fork+exec of `true`
#       (target <= 3x);
#   (b) stdout throughput of `head -c 1G /dev/zero` through Receive vs into a local pipe
#       (target >= 0.5x);
#   (c) wsmand's RSS growth per idle shell with 1,000 shells open that run nothing (a shell
#       exists without a command, so there are no child processes; target <= 64 KiB each).
#
#   benches/shell.sh
#   BENCH_SHELLS=200 SHELL_BENCH_ARGS="--iterations 50 --bytes 256M" benches/shell.sh
#   BENCH_RUN_AS=nobody SHELL_BENCH_ARGS="--only a" benches/shell.sh
#
# The daemon runs with the environment of dist/wsmand.service (its allocator settings). Shells run as root (the service account's run-as user) unless
# BENCH_RUN_AS names another existing account (the daemon then switches ids for every command,
# as for any user but root); the daemon needs root either way. scripts/test.sh runs only its smoke
# mode:
# figures depend on the machine; compare ratios.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
unit_environment
require_cargo

if [ "$(id -u)" -ne 0 ]; then
    echo "benches/shell.sh needs root: the daemon starts the shells as root or as BENCH_RUN_AS" >&2
    exit 1
fi
command -v python3 >/dev/null 2>&1 || ensure_packages python3

ACCOUNT=shellbench
RUN_AS="${BENCH_RUN_AS:-root}"
if ! id -u "$RUN_AS" >/dev/null 2>&1; then
    echo "BENCH_RUN_AS=$RUN_AS: no such user" >&2
    exit 1
fi
PASSWORD="bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
SHELLS="${BENCH_SHELLS:-$(bench_value 1000 5)}"

bench_binaries -p wsmand -p shell-bench
RELEASE="$BENCH_BIN"

WORK="$(mktemp -d -t wsmand-shell-bench-XXXXXX)"
WSMAND_PID=""
cleanup() {
    if [ -n "$WSMAND_PID" ] && kill -0 "$WSMAND_PID" 2>/dev/null; then
        kill -TERM "$WSMAND_PID" 2>/dev/null || true
        wait "$WSMAND_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

step "starting wsmand on loopback"
CONFIG="$WORK/config"
mkdir -p "$CONFIG"
PORT="$(free_port)"
# Limits raised so that one user may hold 1,000 idle shells for the whole run.
cat >"$CONFIG/config.toml" <<TOML
[Config.Service]
AllowUnencrypted = true
[Config.Service.Auth]
Basic = true
[Config.Winrs]
MaxShellsPerUser = $((SHELLS + 100))
MaxConcurrentUsers = 100
IdleTimeout = 3600000
[[Listener]]
Address = "IP:127.0.0.1"
Transport = "HTTP"
Port = $PORT
TOML
printf '%s\n' "$PASSWORD" | WSMAND_CONFIG_DIR="$CONFIG" "$RELEASE/wsmand" account add "$ACCOUNT" --password-stdin --run-as "$RUN_AS" >/dev/null
# 1,000 shells plus their connections while they open: more descriptors than a shell's default.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
env "${UNIT_ENV[@]}" \
    "$RELEASE/wsmand" --config-dir "$CONFIG" 2>"$WORK/wsmand.log" &
WSMAND_PID=$!
wait_for_port "$PORT" "$WSMAND_PID" "$WORK/wsmand.log"
echo "wsmand pid $WSMAND_PID on 127.0.0.1:$PORT (${UNIT_ENV[*]}), shells run as $RUN_AS"

step "benchmarks"
# shellcheck disable=SC2086 # SHELL_BENCH_ARGS is a list of switches
WSMAN_BENCH_PASSWORD="$PASSWORD" "$RELEASE/shell-bench" \
    --endpoint "http://127.0.0.1:$PORT/wsman" --user "$ACCOUNT" --daemon-pid "$WSMAND_PID" \
    --shells "$SHELLS" ${SHELL_BENCH_ARGS:-$(bench_value "" "--iterations 3 --baseline-iterations 10 --bytes 1M --throughput-runs 1")}

step "stopping wsmand"
kill -TERM "$WSMAND_PID"
wait "$WSMAND_PID" || { echo "wsmand exited with status $?; its log is below" >&2; tail -20 "$WORK/wsmand.log" >&2; }
WSMAND_PID=""
