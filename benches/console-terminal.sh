#!/usr/bin/env bash
# Benchmark: the console's terminal (issue 12), against the real wsmand-mgmt and a real wsmand
# on loopback, in one run:
#   (a) the console's resident set (VmRSS) idle and with 20 open terminals (20 sessions, one
#       WinRS shell each), and the ratio;
#   (b) the wall time to print BENCH_TERMINAL_MB MiB of base64 text through the console's
#       WebSocket relay against the same command on the same kind of pseudo-terminal read
#       directly with wsman-client (the baseline); ratio = console / direct.
#
#   benches/console-terminal.sh
#   BENCH_TERMINAL_MB=16 benches/console-terminal.sh
#   BENCH_PROFILE=debug benches/console-terminal.sh   # the debug binaries, no release build
#
# scripts/test.sh runs only its smoke mode: figures depend on the machine; compare ratios.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
require_cargo
if [ "$(id -u)" -ne 0 ]; then
    echo "benches/console-terminal.sh needs root: the daemon starts the shells as root" >&2
    exit 1
fi
PROFILE="${BENCH_PROFILE:-$(bench_value release debug)}"
FLAGS=()
[ "$PROFILE" = release ] && FLAGS+=(--release)
# The smoke mode (scripts/lib.sh): 1 MiB, on the debug build the test command made.
smoke_mode && export BENCH_TERMINAL_MB="${BENCH_TERMINAL_MB:-1}"
if ! smoke_mode; then
    step "building wsmand and the console ($PROFILE)"
    cargo build "${FLAGS[@]}" -p wsmand --bins
fi
# In smoke mode the whole workspace's feature set, as scripts/test.sh's cargo test built it (one
# package alone may resolve other features and rebuild).
PACKAGES=(-p wsmand-mgmt)
smoke_mode && PACKAGES=(--workspace)
cargo test "${FLAGS[@]}" "${PACKAGES[@]}" --test console_terminal -- --ignored --exact bench_console_terminal \
    --nocapture 2>&1 | grep -E '^BENCH|test result'
