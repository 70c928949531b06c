#!/usr/bin/env bash
# Benchmark: what a PAM session costs a command. Create + Command + Receive until Done + Delete
# of `true` (shell-bench's benchmark a) as a Linux account, against one wsmand opening a PAM
# session per command with the stack the package ships (dist/wsmand.pam: pam_loginuid,
# pam_keyinit, common-session, pam_limits, pam_env) and one with `--pam-sessions=off`, same
# PAM service, same binaries, alternating in one run; the ratio is of the medians.
#
#   BENCH_PAM_USER=alice BENCH_PAM_PASSWORD=... benches/pam-session.sh
#   BENCH_PROFILE=debug BENCH_ROUNDS=2 SHELL_BENCH_ARGS="--iterations 50" benches/pam-session.sh
#
# The account defaults to the test account (WSMAN_TEST_PAM_USER, WSMAN_TEST_PAM_PASSWORD).
# Needs root (the daemons switch users; the PAM service file is written to /etc/pam.d as
# wsmand-bench-session-PID and removed at exit). scripts/test.sh runs only its smoke mode.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
require_cargo

if [ "$(id -u)" -ne 0 ]; then
    echo "benches/pam-session.sh needs root: the daemons switch users and it writes /etc/pam.d" >&2
    exit 1
fi
USER_NAME="${BENCH_PAM_USER:-${WSMAN_TEST_PAM_USER:-}}"
PASSWORD="${BENCH_PAM_PASSWORD:-${WSMAN_TEST_PAM_PASSWORD:-}}"
if [ -z "$USER_NAME" ] || [ -z "$PASSWORD" ]; then
    echo "set BENCH_PAM_USER and BENCH_PAM_PASSWORD to a Linux account" >&2
    exit 1
fi
PROFILE="${BENCH_PROFILE:-release}"
ROUNDS="${BENCH_ROUNDS:-$(bench_value 2 1)}"

if smoke_mode || [ -n "${WSMAN_BENCH_BIN_DIR:-}" ]; then
    bench_binaries
    BIN="$BENCH_BIN"
    PROFILE="$(basename "$BIN")"
else
    step "building $PROFILE binaries (wsmand, wsmand-session, shell-bench)"
    if [ "$PROFILE" = release ]; then
        cargo build --release -p wsmand -p shell-bench
    else
        cargo build -p wsmand -p shell-bench
    fi
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE"
fi

scratch_dir wsmand-pam-bench
SERVICE="wsmand-bench-session-$$"
install -m 0644 dist/wsmand.pam "/etc/pam.d/$SERVICE"
trap 'rm -f "/etc/pam.d/$SERVICE"; cleanup_scratch' EXIT

declare -A PORTS
for mode in on off; do
    start_basic_wsmand "$BIN" "$WORK/$mode" bench "bench-unused-$$" root "$WORK/$mode.log" \
        WSMAND_PAM_SERVICE="$SERVICE" WSMAND_PAM_SESSIONS="$mode"
    PIDS+=("$WSMAND_PID")
    PORTS[$mode]="$PORT"
    eval "PID_$mode=$WSMAND_PID"
done
grep -h "PAM session" "$WORK/on.log" "$WORK/off.log" | sed 's/^/  /'

declare -A MEDIANS
for round in $(seq 1 "$ROUNDS"); do
    for mode in off on; do
        pid_var="PID_$mode"
        step "round $round, sessions $mode"
        # shellcheck disable=SC2086 # SHELL_BENCH_ARGS is a list of switches
        out="$(WSMAN_BENCH_PASSWORD="$PASSWORD" "$BIN/shell-bench" \
            --endpoint "http://127.0.0.1:${PORTS[$mode]}/wsman" --user "$USER_NAME" \
            --daemon-pid "${!pid_var}" --only a --threads 1 ${SHELL_BENCH_ARGS:-$(bench_value "" "--iterations 3 --baseline-iterations 10")})"
        printf '%s\n' "$out" | grep "remote, " | sed 's/^ */  /'
        MEDIANS[$mode]+="$(printf '%s\n' "$out" | sed -n 's/^ *remote, \/bin\/sh -c true (default): .* median \([0-9.]*\) ms.*/\1/p') "
    done
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
on="$(printf '%s' "${MEDIANS[on]}" | median)"
off="$(printf '%s' "${MEDIANS[off]}" | median)"
step "result ($PROFILE build)"
awk -v on="$on" -v off="$off" -v rounds="$ROUNDS" 'BEGIN {
    printf "  /bin/sh -c true, Create to Delete, median of %s rounds: with a PAM session %.3f ms, without %.3f ms, ratio %.2fx (+%.3f ms per command)\n", rounds, on, off, on / off, on - off
}'
