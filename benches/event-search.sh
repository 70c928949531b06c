#!/usr/bin/env bash
# Benchmark: the event store's search (docs/event-search.md) over BENCH_EVENTS (10,000,000)
# stored events. crates/wsman-collector/examples/store_bench.rs fills an SQLite store through
# the store's own insert (a synthetic fleet of 2,000 hosts, one partition per day of arrivals
# over BENCH_DAYS days, transactions of 10,000 events), then times the first page (50 results,
# newest first) of the searches a console makes, each on the store opened anew: every event,
# one host, an EventID and a level, a word, two words on one host, a rare word. Prints one line
# per search and the worst; the goal is under 1 s.
#
#   benches/event-search.sh                        # 10,000,000 events over 10 days
#   BENCH_EVENTS=1000000 benches/event-search.sh
#   BENCH_DB=/var/tmp/store.sqlite benches/event-search.sh   # keep (and reuse) the filled store
#
# Filling 10 million events takes minutes and about 6 GB of disk. scripts/test.sh runs only
# its smoke mode (10,000 events): figures depend on the machine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

EVENTS="${BENCH_EVENTS:-$(bench_value 10000000 10000)}"
DAYS="${BENCH_DAYS:-$(bench_value 10 2)}"
require_cargo
if smoke_mode; then
    step "building the store benchmark (debug)"
    # --workspace: the features the test command's cargo test resolved when it built the
    # workspace's examples, so this finds the example built (-p alone resolves anew and rebuilt
    # the collector and its dependencies: 89 s of the smoke stage).
    cargo build --workspace --example store_bench
    BENCH="${CARGO_TARGET_DIR:-$ROOT/target}/debug/examples/store_bench"
else
    step "building the store benchmark (release)"
    cargo build --release -p wsman-collector --example store_bench
    BENCH="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/store_bench"
fi
scratch_dir wsmand-event-search
DB="${BENCH_DB:-$WORK/store.sqlite}"

step "$EVENTS events over $DAYS days in $DB, then the first page of each search"
"$BENCH" "$DB" "$EVENTS" "$DAYS" | tee "$WORK/result.txt"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
