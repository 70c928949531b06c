#!/usr/bin/env bash
# Benchmark: WinRS shells through the client library (benches/shell-bench) against wsmand, each
# figure next to a local baseline measured in the same run:
#   (a) Create + Command + Receive until Done + Delete of `true` vs a local fork+exec of `true`
#       (target <= 3x);
#   (b) stdout throughput of `head -c 1G /dev/zero` through Receive vs into a local pipe
#       (target >= 0.5x);
#   (c) wsmand's RSS growth per idle shell with 1,000 shells open that run nothing (a shell
#       exists without a command, so there are no child processes; target <= 64 KiB each);
#   (d) the winrs command running `true` (Negotiate, sealed over HTTP) against `ssh true` to a
#       throwaway sshd on loopback (key login as root, UsePAM no), each a new process and
#       login per run, interleaved (target <= 0.03x); then the table of where winrs's time
#       goes: its start-up, each NTLM leg, Create, Command, Send, each Receive, Signal,
#       Delete and its exit, timed by a relay between winrs (-un) and wsmand.
#
#   benches/shell.sh
#   BENCH_SHELLS=200 SHELL_BENCH_ARGS="--iterations 50 --bytes 256M" benches/shell.sh
#   BENCH_RUN_AS=nobody SHELL_BENCH_ARGS="--only a" benches/shell.sh
#   SHELL_BENCH_ARGS="--only d --process-runs 200" benches/shell.sh
#   SHELL_BENCH_ARGS="--only d --process-runs 20 --winrs-compare OLD/winrs" benches/shell.sh
#     (another winrs build, sealed, in the same interleaved rounds: before and after a change)
#
# The daemon runs with the environment of dist/wsmand.service (its allocator settings). Shells run as root (the service account's run-as user) unless
# BENCH_RUN_AS names another existing account (the daemon then switches ids for every command,
# as for any user but root); the daemon needs root either way. scripts/test.sh runs only its smoke
# mode (without the ssh side when sshd is not installed):
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
export PATH="$PATH:/usr/sbin:/sbin"
SSH_SIDE=1
if smoke_mode && [ ! -x /usr/sbin/sshd ]; then
    SSH_SIDE=0
    echo "smoke mode without sshd: benchmark (d) runs without its ssh side"
else
    [ -x /usr/sbin/sshd ] || ensure_packages openssh-server openssh-client
fi

ACCOUNT=shellbench
RUN_AS="${BENCH_RUN_AS:-root}"
if ! id -u "$RUN_AS" >/dev/null 2>&1; then
    echo "BENCH_RUN_AS=$RUN_AS: no such user" >&2
    exit 1
fi
PASSWORD="bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
SHELLS="${BENCH_SHELLS:-$(bench_value 1000 5)}"

bench_binaries -p wsmand -p shell-bench -p winrs
RELEASE="$BENCH_BIN"

WORK="$(mktemp -d -t wsmand-shell-bench-XXXXXX)"
WSMAND_PID=""
SSHD_PID=""
cleanup() {
    local pid
    for pid in "$WSMAND_PID" "$SSHD_PID"; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

SSH_LINE=()
if [ "$SSH_SIDE" = 1 ]; then
    step "starting a throwaway sshd on loopback (benchmark d)"
    start_throwaway_sshd "$WORK/ssh" d
    SSH_LINE=("${SSH_CLIENT[@]}")
    "${SSH_LINE[@]}" true
    echo "sshd pid $SSHD_PID on 127.0.0.1:$SSHD_PORT ($(ssh -V 2>&1))"
fi

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
Negotiate = true
# Read by winrs (WSMAND_CONFIG_DIR) in benchmark d: HTTP to 127.0.0.1 is trusted, -un allowed.
[Config.Client]
AllowUnencrypted = true
TrustedHosts = "127.0.0.1"
[Config.Winrs]
MaxShellsPerUser = $((SHELLS + 100))
MaxConcurrentUsers = 100
IdleTimeout = 3600000
[[Listener]]
Address = "IP:127.0.0.1"
Transport = "HTTP"
Port = $PORT
TOML
printf '%s\n' "$PASSWORD" | WSMAND_CONFIG_DIR="$CONFIG" "$RELEASE/wsmand" account add "$ACCOUNT" --password-stdin --ntlm --run-as "$RUN_AS" >/dev/null
# 1,000 shells plus their connections while they open: more descriptors than a shell's default.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
env "${UNIT_ENV[@]}" \
    "$RELEASE/wsmand" --config-dir "$CONFIG" 2>"$WORK/wsmand.log" &
WSMAND_PID=$!
wait_for_port "$PORT" "$WSMAND_PID" "$WORK/wsmand.log"
echo "wsmand pid $WSMAND_PID on 127.0.0.1:$PORT (${UNIT_ENV[*]}), shells run as $RUN_AS"

step "benchmarks"
SSH_ARGS=()
[ "${#SSH_LINE[@]}" -eq 0 ] || SSH_ARGS=(--ssh "${SSH_LINE[*]}")
# shellcheck disable=SC2086 # SHELL_BENCH_ARGS is a list of switches
WSMAN_BENCH_PASSWORD="$PASSWORD" "$RELEASE/shell-bench" \
    --endpoint "http://127.0.0.1:$PORT/wsman" --user "$ACCOUNT" --daemon-pid "$WSMAND_PID" \
    --winrs "$RELEASE/winrs" --winrs-config-dir "$CONFIG" "${SSH_ARGS[@]}" \
    --shells "$SHELLS" ${SHELL_BENCH_ARGS:-$(bench_value "" "--iterations 3 --baseline-iterations 10 --bytes 1M --throughput-runs 1 --process-runs 2")}

step "stopping wsmand"
kill -TERM "$WSMAND_PID"
wait "$WSMAND_PID" || { echo "wsmand exited with status $?; its log is below" >&2; tail -20 "$WORK/wsmand.log" >&2; }
WSMAND_PID=""
