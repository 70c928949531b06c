#!/usr/bin/env bash
# Benchmark: `winrs -pty` against plain `winrs` (pipes) to the same wsmand on loopback, in one
# run, both under `script` (a real local terminal, Debian bsdutils) so that only the remote
# side differs:
#   (a) wall time of N runs of `true`: what a pseudo-terminal adds to a command's start and
#       end (target: ratio <= 1.5);
#   (b) wall time of printing BENCH_PTY_MB MiB of base64 text: the terminal's line discipline
#       and the merged stream against two pipes (target: ratio <= 2).
#
#   benches/pty.sh
#   BENCH_PTY_RUNS=50 BENCH_PTY_MB=64 benches/pty.sh
#   BENCH_PROFILE=debug benches/pty.sh      # the debug binaries, without a release build
#
# scripts/test.sh runs only its smoke mode: figures depend on the machine; compare ratios.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
require_cargo
if [ "$(id -u)" -ne 0 ]; then
    echo "benches/pty.sh needs root: the daemon starts the shells as root" >&2
    exit 1
fi
command -v script >/dev/null 2>&1 || ensure_packages bsdutils

RUNS="${BENCH_PTY_RUNS:-$(bench_value 30 2)}"
MEGABYTES="${BENCH_PTY_MB:-$(bench_value 32 1)}"
PROFILE="${BENCH_PROFILE:-release}"
ACCOUNT=ptybench
PASSWORD="bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

if smoke_mode || [ -n "${WSMAN_BENCH_BIN_DIR:-}" ]; then
    bench_binaries
    BIN="$BENCH_BIN"
elif [ "$PROFILE" = release ]; then
    step "building release binaries (wsmand, winrs)"
    cargo build --release -p wsmand -p winrs
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
else
    cargo build -p wsmand -p winrs
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug"
fi

WORK="$(mktemp -d -t wsmand-pty-bench-XXXXXX)"
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
start_basic_wsmand "$BIN" "$CONFIG" "$ACCOUNT" "$PASSWORD" root "$WORK/wsmand.log"

# One winrs run under script(1); $1 is "-pty" or "", the rest the remote command.
winrs_on_terminal() {
    local pty="$1"
    shift
    WSMAND_CONFIG_DIR="$CONFIG" script -qec \
        "$BIN/winrs -r:http://127.0.0.1:$PORT/wsman -a:Basic -unencrypted -u:$ACCOUNT -p:$PASSWORD $pty '$*'" \
        /dev/null </dev/null >"$WORK/out" || { echo "winrs $pty failed:" >&2; cat "$WORK/out" >&2; exit 1; }
}

# Seconds (with fractions) that running "$@" took.
seconds() {
    local start end
    start=$(date +%s.%N)
    "$@"
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }'
}

runs() {
    local pty="$1" i
    for ((i = 0; i < RUNS; i++)); do winrs_on_terminal "$pty" true; done
}

step "(a) $RUNS runs of true"
PIPES_A=$(seconds runs "")
PTY_A=$(seconds runs -pty)
step "(b) $MEGABYTES MiB of output"
PRINT="head -c $((MEGABYTES * 1024 * 1024 * 3 / 4)) /dev/zero | base64"
PIPES_B=$(seconds winrs_on_terminal "" "$PRINT")
PTY_B=$(seconds winrs_on_terminal -pty "$PRINT")

printf '\n%-34s %10s %10s %8s %8s\n' benchmark pipes pty ratio target
printf '%-34s %9.2fs %9.2fs %8.2f %8s\n' "(a) $RUNS x true" "$PIPES_A" "$PTY_A" "$(awk -v a="$PTY_A" -v b="$PIPES_A" 'BEGIN { print a / b }')" "<= 1.5"
printf '%-34s %9.2fs %9.2fs %8.2f %8s\n' "(b) $MEGABYTES MiB base64 text" "$PIPES_B" "$PTY_B" "$(awk -v a="$PTY_B" -v b="$PIPES_B" 'BEGIN { print a / b }')" "<= 2"
