#!/usr/bin/env bash
# Before and after: benches/sealed.sh with two sets of release binaries (wsmand and winrs),
# alternated so that both meet the same load: before, after, before, after, ... Each half is a
# whole benches/sealed.sh run (its own daemon, sshd and realm; ssh measured in every half, so
# each half's ratio stands on its own). Prints each half's table as it ends, then the load.
#
#   SEALED_BEFORE_DIR=/path/to/old/target/release benches/sealed-compare.sh
#   SEALED_BEFORE_DIR=... SEALED_AFTER_DIR=target/release SEALED_PAIRS=2 \
#       SEALED_RUNS=3 SEALED_CASES="ssh winrs-ntlm-http winrs-kerberos-http" benches/sealed-compare.sh
#
# SEALED_AFTER_DIR defaults to this tree's release build (built when missing); SEALED_PAIRS
# (default 2) is how many before/after pairs run; SEALED_RUNS, SEALED_CASES and SEALED_BYTES
# go to benches/sealed.sh as they are. Needs root, as benches/sealed.sh does.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

# The smoke mode (scripts/lib.sh): the debug build against itself, one pair, one case.
if smoke_mode; then
    bench_binaries
    SEALED_BEFORE_DIR="${SEALED_BEFORE_DIR:-$BENCH_BIN}"
    export SEALED_CASES="${SEALED_CASES:-winrs-ntlm-http}"
fi
BEFORE="${SEALED_BEFORE_DIR:?set SEALED_BEFORE_DIR to the release directory of the build to compare with}"
AFTER="${SEALED_AFTER_DIR:-}"
if [ -z "$AFTER" ]; then
    bench_binaries -p wsmand -p winrs -p auth-bench
    AFTER="$BENCH_BIN"
fi
for dir in "$BEFORE" "$AFTER"; do
    for binary in wsmand winrs; do
        [ -x "$dir/$binary" ] || { echo "no $binary in $dir" >&2; exit 1; }
    done
done
PAIRS="${SEALED_PAIRS:-$(bench_value 2 1)}"

echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
for pair in $(seq "$PAIRS"); do
    for side in before after; do
        if [ "$side" = before ]; then dir="$BEFORE"; else dir="$AFTER"; fi
        step "pair $pair, $side ($dir)"
        SEALED_BIN_DIR="$dir" bash "$ROOT/benches/sealed.sh" 2>&1 |
            sed -n -e '/^load average/p' -e '/^RC4: /p' -e '/^HMAC-MD5: /p' -e '/^| /p'
    done
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
