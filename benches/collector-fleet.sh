#!/usr/bin/env bash
# Benchmark: the collector with a fleet of forwarders. benches/fleet-load (Rust: tokio and
# rustls) runs BENCH_FORWARDERS forwarders, each with its own client certificate (rcgen, made
# in the run, one throwaway CA mapped by one certificate mapping with Subject=*) and its own
# kept-alive TLS connection, as Windows forwarders send: an Enumerate of the subscription
# manager, then Events batches of BENCH_PER_BATCH events (UTF-16LE, SLDC, a bookmark, each
# waiting for its Ack) at their share of BENCH_RATE events/s across the fleet, and a Heartbeat
# after BENCH_HEARTBEAT seconds of silence, for BENCH_SECONDS. The collector writes to the file
# output ({client}.xml, fsync before the Ack) with SQLite bookmarks. Afterwards every
# forwarder's acknowledged events are looked for in the files by record id: lost (acknowledged,
# not in the file) and duplicated (in the file more than once). The collector's peak RSS
# (VmHWM) and its RSS before the fleet connected give the memory per forwarder.
#
# With OPENWEC_BIN (openwecd built outside the project, as benches/collector.sh takes it) the
# same fleet runs against OpenWEC (TLS, SQLite, its Files output) in the same run, and the
# ratio of events/s (wsmand / OpenWEC) is printed; where OpenWEC cannot hold the load the
# fleet's failures say how far it got.
# With BENCH_OPENWEC_TOGETHER=1 the two collectors run at the same time, each with its own
# fleet of BENCH_FORWARDERS at BENCH_RATE, and their CPU is counted over the same seconds: on a
# host whose speed drifts from minute to minute (a shared virtual machine: the same build's CPU
# per 100k events moves by a fifth within an hour) the ratio then compares the two under the
# same conditions, where runs one after the other compare two moments.
# Rounds started minutes apart on ext4 without a journal also measure the kernel's search for
# a free inode: it passes over every inode deleted in the last 60 s (360 s while its table
# block is dirty), and each run deletes its forwarders' files at its end. Between rounds, wait
# or drop the page cache (as root: sync; echo 3 > /proc/sys/vm/drop_caches).
#
# The restart storm (BENCH_STORM_SECONDS, default 90; 0 skips it): the same fleet runs again
# with fresh record ids; after BENCH_STORM_KILL_AT seconds the collector is SIGKILLed with every
# forwarder connected and started again on the same configuration and bookmark database. It
# reports the time from the kill until every forwarder had an Ack again (and how the fleet's
# first Acks spread: p50, p90, p99), and the lost and duplicated events of that run. A storm
# only measures the restart while the collector keeps the fleet's rate: where the first run's
# events/s fall short of BENCH_RATE, the last forwarders get back in only once the fleet stops
# sending new batches (BENCH_STORM_SECONDS after its start), and that is the figure.
# BENCH_CONNECT_CONCURRENCY (default 64): connections fleet-load opens at once (TLS handshake
# and Enumerate), in every run.
#
# The store run (BENCH_STORE_OUTPUT, default 1): the same fleet against a second collector whose
# subscription writes to the event store instead of a file; its p99 Ack is printed beside the
# file output's, its lost and duplicated events counted from the store's database, its CPU per
# 100k events and the load average at its end. BENCH_STORE_PERF=FILE: a `perf record -g` of
# the store's collector, 15 s from 10 s into its run, written to FILE. With BENCH_STORE=postgres
# the store run's events and bookmarks are in PostgreSQL (a database of their own, `wecstore`,
# in the same cluster: the file output's bookmarks would otherwise mark the same record ids as
# already stored), counted from its `wec_event` table, with the commits and WAL syncs the
# server counted over the store run.
#
# The instructions mode (FLEET_INSTRUCTIONS=1, valgrind): instead of the runs above, the
# collector runs under callgrind and BENCH_FORWARDERS (default 100) forwarders send 2 batches
# each, then 6, paced to a batch every 5 s per forwarder and no heartbeat; the difference of
# the collector's instruction counts over the 4 extra batches per forwarder is printed as
# instructions per batch (user space only: the kernel's part of a write, an fsync or a TLS
# record is not in it). Unlike CPU seconds, the count does not move with the host's load. Past
# 512 forwarders (the file output's open files) every batch also opens its file.
# FLEET_CALLGRIND_DIR=DIR keeps the two counts there (fewer.callgrind, more.callgrind) for
# callgrind_annotate.
#
# The last line: forwarders, events/s, p99 Ack, RSS, lost, duplicated, ratio to OpenWEC, the
# storm's recovery time, lost and duplicated, and the store run's events/s and p99 Ack.
#
#   benches/collector-fleet.sh                                  # 1,000 forwarders, 20 s
#   BENCH_FORWARDERS=10000 BENCH_RATE=10000 BENCH_SECONDS=600 benches/collector-fleet.sh
#   BENCH_OPENWEC_TOGETHER=1 OPENWEC_BIN=... BENCH_FORWARDERS=10000 BENCH_RATE=5000 BENCH_SECONDS=180 \
#     BENCH_STORM_SECONDS=0 BENCH_STORE_OUTPUT=0 benches/collector-fleet.sh   # issue 49's fleet size
#   OPENWEC_BIN=/path/to/openwec/target/release/openwecd benches/collector-fleet.sh
#   WSMAND_BIN=target/release/wsmand FLEET_LOAD_BIN=target/release/fleet-load benches/collector-fleet.sh
#   FLEET_INSTRUCTIONS=1 WSMAND_BIN=... FLEET_LOAD_BIN=... benches/collector-fleet.sh
#   BENCH_PROFILE=debug benches/collector-fleet.sh              # debug builds (figures not comparable)
#   BENCH_STORE=postgres benches/collector-fleet.sh              # bookmarks (and the store run) in PostgreSQL
#
# With BENCH_STORE=postgres the bookmarks are in a PostgreSQL cluster started for the run
# (fsync on; BENCH_POOL connections, default 8, as a node's default pool) instead of SQLite, as
# the nodes behind a load balancer keep them. Each delivery commits its own transaction (its
# claim on the forwarder is a lock in it) and PostgreSQL flushes the WAL of the commits that
# wait together in one fsync: its own group commit. The run reports the commits and the WAL
# syncs the server counted (pg_stat_database, pg_stat_wal), so how many Acks share an fsync is
# measured, not assumed.
#
# scripts/test.sh runs only its smoke mode: figures depend on the machine; the ratio is what to
# compare.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
unit_environment

FORWARDERS="${BENCH_FORWARDERS:-$(bench_value 1000 5)}"
RATE="${BENCH_RATE:-$(bench_value 2000 50)}"
SECONDS_="${BENCH_SECONDS:-$(bench_value 20 2)}"
PER_BATCH="${BENCH_PER_BATCH:-10}"
EVENT_BYTES="${BENCH_EVENT_BYTES:-500}"
HEARTBEAT="${BENCH_HEARTBEAT:-30}"
CONNECT_CONCURRENCY="${BENCH_CONNECT_CONCURRENCY:-64}"
STORM_SECONDS="${BENCH_STORM_SECONDS:-$(bench_value 90 5)}"
STORM_KILL_AT="${BENCH_STORM_KILL_AT:-$(bench_value 30 2)}"
STORE="${BENCH_STORE:-sqlite}"
TOGETHER="${BENCH_OPENWEC_TOGETHER:-0}"
case "$TOGETHER" in
0 | 1) ;;
*) echo "BENCH_OPENWEC_TOGETHER: 0 or 1, not $TOGETHER" >&2; exit 2 ;;
esac
if [ "$TOGETHER" = 1 ] && [ -z "${OPENWEC_BIN:-}" ]; then
    echo "BENCH_OPENWEC_TOGETHER=1 needs OPENWEC_BIN" >&2
    exit 2
fi
POOL="${BENCH_POOL:-8}"
case "$STORE" in
sqlite | postgres) ;;
*) echo "BENCH_STORE is sqlite or postgres, not $STORE" >&2; exit 2 ;;
esac
if [ -n "${FLEET_INSTRUCTIONS:-}" ]; then
    # Paced so that batches arrive a few at a time under callgrind (a batch every 5 s per
    # forwarder) and no heartbeat falls in the counted runs.
    FORWARDERS="${BENCH_FORWARDERS:-100}"
    RATE="${BENCH_RATE:-$((FORWARDERS * PER_BATCH / 5))}"
    HEARTBEAT="${BENCH_HEARTBEAT:-3600}"
fi
# The storm's record ids start here, above any the first run can reach.
STORM_FIRST=1000000000
PROFILE="${BENCH_PROFILE:-release}"
command -v openssl >/dev/null 2>&1 || ensure_packages openssl
# Every forwarder is a descriptor in fleet-load and one in the collector: raise this shell's
# limit (the hard one too, as root) so that both inherit enough; say so when it cannot.
WANT_FDS=$((FORWARDERS + 4096))
if [ "$(ulimit -n)" -lt "$WANT_FDS" ]; then
    ulimit -Hn "$WANT_FDS" 2>/dev/null || true
    ulimit -n "$WANT_FDS" 2>/dev/null ||
        echo "open-file limit $(ulimit -n) is below $WANT_FDS: forwarders past it will fail" >&2
fi

PROFILE_FLAG=(--release)
[ "$PROFILE" = debug ] && PROFILE_FLAG=()
BIN_DIR="$ROOT/target/$PROFILE"
if [ -n "${WSMAND_BIN:-}" ] && [ -n "${FLEET_LOAD_BIN:-}" ]; then
    :
elif smoke_mode || [ -n "${WSMAN_BENCH_BIN_DIR:-}" ]; then
    bench_binaries
    BIN_DIR="$BENCH_BIN"
else
    require_cargo
    step "building wsmand and fleet-load ($PROFILE)"
    cargo build "${PROFILE_FLAG[@]}" -p wsmand -p fleet-load
fi
WSMAND="${WSMAND_BIN:-$BIN_DIR/wsmand}"
LOAD="${FLEET_LOAD_BIN:-$BIN_DIR/fleet-load}"
scratch_dir wsmand-collector-fleet

step "the forwarders' CA (rcgen)"
"$LOAD" ca "$WORK/ca"

step "wsmand: HTTPS listener, certificate mapping (Subject=*), MaxConnections for the fleet, file output"
CONFIG="$WORK/wsmand"
certificate_collector_config "$CONFIG" "$WORK/ca/ca.crt" listener wecfleet \
    "MaxConnections = $((FORWARDERS + 1000))"
cat >"$CONFIG/subscriptions/fleet.toml" <<TOML
query = '<QueryList><Query Id="0"><Select Path="Security">*</Select></Query></QueryList>'
heartbeat_seconds = $HEARTBEAT
[[outputs]]
type = "file"
path = "$WORK/wsmand-out/{client}.xml"
format = "raw"
TOML
if [ "$STORE" = postgres ]; then
    step "PostgreSQL for the bookmarks (pool of $POOL connections)"
    start_postgres $((POOL * 2 + 20))
    install -m 0600 /dev/null "$CONFIG/wec-db.password"
    printf '%s\n' "$PG_PASSWORD" >"$CONFIG/wec-db.password"
    printf '[bookmarks]\nbackend = "postgres"\nconnection = "%s"\npassword_file = "%s"\npool_size = %s\n' \
        "$PG_CONNECTION" "$CONFIG/wec-db.password" "$POOL" >"$CONFIG/collector.toml"
fi
# fleet NAME PORT SERVER_CA OUT_DIR [SECONDS FIRST_RECORD FLEET-LOAD-ARGS...]: the fleet against
# one collector; its JSON line in $WORK/NAME.json, then lost and duplicated (of the record ids
# from FIRST_RECORD on) counted from OUT_DIR's files into $WORK/NAME.count.
fleet() {
    local name="$1" port="$2" server_ca="$3" out="$4" seconds="${5:-$SECONDS_}" first="${6:-1}"
    shift 4
    shift $(($# < 2 ? $# : 2))
    step "$name: $FORWARDERS forwarders, $RATE events/s in batches of $PER_BATCH, ${seconds} s"
    "$LOAD" run --ca-dir "$WORK/ca" --server-ca "$server_ca" --port "$port" \
        --forwarders "$FORWARDERS" --rate "$RATE" --per-batch "$PER_BATCH" \
        --event-bytes "$EVENT_BYTES" --seconds "$seconds" --heartbeat-seconds "$HEARTBEAT" \
        --first-record "$first" --acked "$WORK/$name.acked" --resent "$WORK/$name.resent" \
        --connect-concurrency "$CONNECT_CONCURRENCY" "$@" |
        tee "$WORK/$name.json"
    # A store's events are counted from its database, written out as a file first.
    [ -z "${EXPORT_DB:-}" ] || export_store "$EXPORT_DB" "$out"
    [ -z "${EXPORT_PG:-}" ] || { mkdir -p "$out" && pg_sql "$EXPORT_PG" "SELECT xml FROM wec_event" >"$out/store.xml"; }
    python3 - "$WORK/$name.acked" "$out" "$first" "$WORK/$name.resent" <<'PY' | tee "$WORK/$name.count"
import collections, os, re, sys
acked = dict(line.split() for line in open(sys.argv[1]))
first = int(sys.argv[3])
resent = set()
for line in open(sys.argv[4]):
    c, a, b = line.split()
    resent.update((c, r) for r in range(int(a), int(b) + 1))
seen = collections.Counter()
for root, _, files in os.walk(sys.argv[2]):
    for f in files:
        text = open(os.path.join(root, f), errors="replace").read()
        for m in re.finditer(r"<EventRecordID>(\d+)</EventRecordID><Channel>[^<]*</Channel><Computer>([^<]+)</Computer>", text):
            if int(m.group(1)) >= first:
                seen[(m.group(2), int(m.group(1)))] += 1
lost = sum(1 for c, last in acked.items() for r in range(first, int(last) + 1) if seen[(c, r)] == 0)
duplicated = sum(n - 1 for k, n in seen.items() if n > 1 and k not in resent)
unacked = sum(n - 1 for k, n in seen.items() if n > 1 and k in resent)
print(f"lost {lost} duplicated {duplicated} stored {len(seen)} resent-unacknowledged-twice {unacked}")
PY
}

# export_store DB OUT_DIR: every event the store in the SQLite file DB holds, one per line, in
# OUT_DIR/store.xml (read by the count as an output file is).
export_store() {
    mkdir -p "$2"
    python3 - "$1" "$2/store.xml" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
parts = [r[0] for r in db.execute("SELECT part FROM store_partition")]
with open(sys.argv[2], "w") as out:
    for part in parts:
        for (xml,) in db.execute(f"SELECT xml FROM ev_{part}"):
            out.write(xml + "\n")
PY
}

# The server's count of commits in the bookmarks' database (DB, default wec) and of WAL syncs,
# cluster-wide.
pg_counts() {
    pg_sql "${1:-wec}" "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = '${1:-wec}'), wal_sync FROM pg_stat_wal"
}
# A process's CPU time so far (user + system), in seconds.
cpu_seconds() {
    awk -v tick="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / tick }' "/proc/$1/stat"
}
# callgrind's count of the collector's instructions (user space) while FLEET_LOAD_ARGS... run.
instructions_of() {
    local pid="$1" dump="$2"
    shift 2
    callgrind_control -z "$pid" >/dev/null
    fleet "$@"
    callgrind_control -d "$pid" >/dev/null
    awk '/^(summary|totals):/ { print $2; exit }' "$dump"
}

# The instructions mode: the collector under callgrind, the same fleet twice with a different
# number of batches per forwarder; the difference divided by the extra batches is what one
# batch costs, the connections, handshakes and Enumerates of both runs cancelling out.
if [ -n "${FLEET_INSTRUCTIONS:-}" ]; then
    command -v callgrind_control >/dev/null 2>&1 || ensure_packages valgrind
    FEWER=2 MORE=6
    env "${UNIT_ENV[@]}" WSMAND_WEC_DATABASE="$WORK/wec.sqlite" valgrind --tool=callgrind \
        --callgrind-out-file="$WORK/callgrind.%p" "$WSMAND" --config-dir "$CONFIG" 2>"$WORK/wsmand.log" &
    WSMAND_PID=$!
    PIDS+=("$WSMAND_PID")
    wait_for_port "$PORT" "$WSMAND_PID" "$WORK/wsmand.log"
    # Every forwarder's file made and its bookmark row written before anything is counted.
    fleet warm "$PORT" "$WORK/listener.crt" "$WORK/wsmand-out" 3600 1 --batches 1
    I_FEWER="$(instructions_of "$WSMAND_PID" "$WORK/callgrind.$WSMAND_PID.1" fewer "$PORT" \
        "$WORK/listener.crt" "$WORK/wsmand-out" 3600 100000 --batches "$FEWER" | tail -1)"
    I_MORE="$(instructions_of "$WSMAND_PID" "$WORK/callgrind.$WSMAND_PID.2" more "$PORT" \
        "$WORK/listener.crt" "$WORK/wsmand-out" 3600 200000 --batches "$MORE" | tail -1)"
    cat "$WORK/fewer.count" "$WORK/more.count"
    if [ -n "${FLEET_CALLGRIND_DIR:-}" ]; then
        # The two counts kept for callgrind_annotate: fewer.callgrind and more.callgrind.
        mkdir -p "$FLEET_CALLGRIND_DIR"
        cp "$WORK/callgrind.$WSMAND_PID.1" "$FLEET_CALLGRIND_DIR/fewer.callgrind"
        cp "$WORK/callgrind.$WSMAND_PID.2" "$FLEET_CALLGRIND_DIR/more.callgrind"
    fi
    python3 - "$I_FEWER" "$I_MORE" "$FORWARDERS" "$FEWER" "$MORE" "$PER_BATCH" "$WORK/more.json" <<'PY'
import json, sys
fewer, more, forwarders, a, b, per_batch = (int(x) for x in sys.argv[1:7])
run = json.load(open(sys.argv[7]))
batches = forwarders * (b - a)
print(f"instructions per batch of {per_batch}: {(more - fewer) / batches:,.0f} "
      f"({fewer:,} for {a} batches per forwarder, {more:,} for {b}; {forwarders} forwarders, "
      f"p99 Ack {run['ack_ms_p99']:.1f} ms under callgrind)")
PY
    exit 0
fi

# OpenWEC (TLS with the forwarders' CA, SQLite, its Files output) configured and started, with
# a server certificate of that CA; sets OPENWEC_PID and OPORT (scripts/lib.sh).
start_fleet_openwec() {
    step "OpenWEC ($OPENWEC_BIN): TLS with the forwarders' CA, SQLite, its Files output"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$WORK/openwec.key" -out "$WORK/openwec.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$WORK/openwec.ext"
    openssl x509 -req -in "$WORK/openwec.csr" -CA "$WORK/ca/ca.crt" -CAkey "$WORK/ca/ca.key" \
        -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" -days 2 \
        -extfile "$WORK/openwec.ext" -out "$WORK/openwec.crt" 2>/dev/null
    start_openwec "$WORK" "$WORK" "$WORK/ca/ca.crt" "$WORK/openwec.crt" "$WORK/openwec.key" \
        fleet "$HEARTBEAT"
}

start_collector "$CONFIG" "$WORK/wec.sqlite" "$WORK/wsmand.log"
WSMAND_PID=$COLLECTOR_PID
sleep "$(bench_value 1 0.2)"
RSS_BEFORE="$(awk '/^VmRSS:/ {print $2}' "/proc/$WSMAND_PID/status")"

[ "$STORE" = postgres ] && PG_BEFORE="$(pg_counts)"
CPU_OPENWEC=""
if [ "$TOGETHER" = 1 ]; then
    # Both collectors at once, each with its own fleet, their CPU counted over the same
    # seconds: what the host does to one it does to the other.
    start_fleet_openwec
    OPENWEC_BEFORE="$(cpu_seconds "$OPENWEC_PID")"
    CPU_BEFORE="$(cpu_seconds "$WSMAND_PID")"
    fleet openwec "$OPORT" "$WORK/ca/ca.crt" "$WORK/openwec-out" &
    OPENWEC_FLEET=$!
    fleet wsmand "$PORT" "$WORK/listener.crt" "$WORK/wsmand-out"
    wait "$OPENWEC_FLEET"
    CPU_OPENWEC="$(python3 -c 'import sys; print(float(sys.argv[2]) - float(sys.argv[1]))' "$OPENWEC_BEFORE" "$(cpu_seconds "$OPENWEC_PID")")"
else
    CPU_BEFORE="$(cpu_seconds "$WSMAND_PID")"
    fleet wsmand "$PORT" "$WORK/listener.crt" "$WORK/wsmand-out"
fi
CPU_WSMAND="$(python3 -c 'import sys; print(float(sys.argv[2]) - float(sys.argv[1]))' "$CPU_BEFORE" "$(cpu_seconds "$WSMAND_PID")")"
PG_LINE=""
if [ "$STORE" = postgres ]; then
    # An idle backend reports its counts within 10 s (PostgreSQL's PGSTAT_IDLE_INTERVAL).
    sleep 11
    PG_LINE="$(python3 - "$PG_BEFORE" "$(pg_counts)" <<'PY'
import sys
(c0, s0), (c1, s1) = (map(int, a.split()) for a in sys.argv[1:3])
commits, syncs = c1 - c0, s1 - s0
print(f"PostgreSQL bookmarks: {commits} commits, {syncs} WAL syncs, "
      f"{commits / max(syncs, 1):.1f} commits per sync")
PY
)"
    echo "$PG_LINE"
fi
RSS_PEAK="$(awk '/^VmHWM:/ {print $2}' "/proc/$WSMAND_PID/status")"
kill -0 "$WSMAND_PID" || { tail -20 "$WORK/wsmand.log"; exit 1; }

# The same fleet against a second collector whose subscription writes to the event store (its
# events and bookmarks in one SQLite transaction, docs/collector.md): its p99 Ack beside the
# file output's. BENCH_STORE_OUTPUT=0 skips it. With BENCH_STORE=postgres the store is in
# PostgreSQL, in a database of its own.
STORE_LINE=""
if [ "${BENCH_STORE_OUTPUT:-1}" = 1 ]; then
    FILE_PORT="$PORT"
    step "wsmand with the event store output (a second collector, its own database)"
    certificate_collector_config "$WORK/wsmand-store" "$WORK/ca/ca.crt" storelistener wecfleet \
        "MaxConnections = $((FORWARDERS + 1000))"
    cat >"$WORK/wsmand-store/subscriptions/fleet.toml" <<TOML
query = '<QueryList><Query Id="0"><Select Path="Security">*</Select></Query></QueryList>'
heartbeat_seconds = $HEARTBEAT
[[outputs]]
type = "store"
TOML
    STORE_EXPORT=(EXPORT_DB="$WORK/store.sqlite")
    if [ "$STORE" = postgres ]; then
        pg_sql postgres "CREATE DATABASE wecstore" >/dev/null
        install -m 0600 "$CONFIG/wec-db.password" "$WORK/wsmand-store/wec-db.password"
        printf '[bookmarks]\nbackend = "postgres"\nconnection = "%s"\npassword_file = "%s"\npool_size = %s\n' \
            "${PG_CONNECTION/dbname=wec/dbname=wecstore}" "$WORK/wsmand-store/wec-db.password" "$POOL" \
            >"$WORK/wsmand-store/collector.toml"
        STORE_EXPORT=(EXPORT_PG=wecstore)
    fi
    start_collector "$WORK/wsmand-store" "$WORK/store.sqlite" "$WORK/wsmand-store.log"
    STORE_PID=$COLLECTOR_PID
    [ "$STORE" = postgres ] && PG_STORE_BEFORE="$(pg_counts wecstore)"
    if [ -n "${BENCH_STORE_PERF:-}" ]; then
        # A profile of the store's collector while it is loaded: from 10 s into the run, 15 s.
        (sleep 10 && perf record -g -p "$STORE_PID" -o "$BENCH_STORE_PERF" -- sleep 15) \
            >"$WORK/perf.log" 2>&1 &
    fi
    CPU_BEFORE="$(cpu_seconds "$STORE_PID")"
    export "${STORE_EXPORT[@]}"
    fleet store "$PORT" "$WORK/storelistener.crt" "$WORK/store-out"
    unset EXPORT_DB EXPORT_PG
    STORE_PG=""
    if [ "$STORE" = postgres ]; then
        read -r C0 W0 <<<"$PG_STORE_BEFORE"
        read -r C1 W1 <<<"$(pg_counts wecstore)"
        STORE_PG="; PostgreSQL: $((C1 - C0)) commits, $((W1 - W0)) WAL syncs in the store run"
    fi
    CPU_STORE="$(python3 -c 'import sys; print(float(sys.argv[2]) - float(sys.argv[1]))' "$CPU_BEFORE" "$(cpu_seconds "$STORE_PID")")"
    STORE_LOAD="$(cut -d' ' -f1-3 /proc/loadavg)"
    kill "$STORE_PID"
    wait "$STORE_PID" 2>/dev/null || true
    PORT="$FILE_PORT"
    STORE_LINE="$(python3 - "$WORK/store.json" "$WORK/store.count" "$WORK/wsmand.json" "$CPU_STORE" "$STORE_LOAD" <<'PY'
import json, sys
store, file = json.load(open(sys.argv[1])), json.load(open(sys.argv[3]))
lost, duplicated = (int(x) for x in open(sys.argv[2]).read().split()[1:4:2])
events = store["events_acked"] or 1
print(f"store output: {store['events_per_second']:.0f} events/s, p99 Ack {store['ack_ms_p99']:.1f} ms "
      f"(the file output's {file['ack_ms_p99']:.1f} ms in this run), lost {lost}, duplicated {duplicated}, "
      f"{float(sys.argv[4]) * 100000 / events:.2f} CPU-s per 100k events, load average at its end {sys.argv[5]}"
      f" ({store['ack_ms_p99'] / max(file['ack_ms_p99'], 0.1):.2f}x the file output's p99)")
PY
)$STORE_PG"
    echo "$STORE_LINE"
fi

STORM=""
if [ "$STORM_SECONDS" -gt 0 ]; then
    (
        sleep "$STORM_KILL_AT"
        kill -KILL "$WSMAND_PID"
        date +%s.%N >"$WORK/storm.at"
        echo "storm: collector SIGKILLed at ${STORM_KILL_AT} s; starting it again" >&2
    ) &
    STORM_KILLER=$!
    # The restarted collector must be listening while the fleet runs: start it as soon as the
    # kill is written, from this shell (so the process is ours to stop at the end).
    (
        fleet storm "$PORT" "$WORK/listener.crt" "$WORK/wsmand-out" "$STORM_SECONDS" \
            "$STORM_FIRST" --storm-file "$WORK/storm.at" --max-retry-seconds 30
    ) &
    STORM_FLEET=$!
    wait "$STORM_KILLER"
    wait "$WSMAND_PID" 2>/dev/null || true
    start_collector "$CONFIG" "$WORK/wec.sqlite" "$WORK/wsmand-restarted.log"
    wait "$STORM_FLEET"
    STORM="$(python3 - "$WORK/storm.json" "$WORK/storm.count" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
lost, duplicated = (int(x) for x in open(sys.argv[2]).read().split()[1:4:2])
unacked = int(open(sys.argv[2]).read().split()[7])
spread = "/".join(f"{x:.1f}" for x in run["storm_recovery_p50_p90_p99"])
print(f"storm: all delivering again {run['storm_recovery_seconds']:.1f} s after the kill "
      f"({run['storm_not_recovered']} never; p50/p90/p99 {spread} s; {run['refused_503']} answered 503, "
      f"{run['reconnects']} reconnects), lost {lost}, duplicated {duplicated} "
      f"(and {unacked} events of batches lost unanswered at the kill stored twice)")
PY
)"
    echo "$STORM"
fi

if [ -n "${OPENWEC_BIN:-}" ] && [ "$TOGETHER" = 0 ]; then
    start_fleet_openwec
    CPU_BEFORE="$(cpu_seconds "$OPENWEC_PID")"
    fleet openwec "$OPORT" "$WORK/ca/ca.crt" "$WORK/openwec-out"
    CPU_OPENWEC="$(python3 -c 'import sys; print(float(sys.argv[2]) - float(sys.argv[1]))' "$CPU_BEFORE" "$(cpu_seconds "$OPENWEC_PID")")"
fi
OPENWEC_EPS=""
if [ -n "${OPENWEC_BIN:-}" ]; then
    OPENWEC_EPS="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["events_per_second"])' "$WORK/openwec.json")"
else
    echo "no OPENWEC_BIN: wsmand's figures alone"
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$WORK/wsmand.json" "$WORK/wsmand.count" "$RSS_BEFORE" "$RSS_PEAK" "$FORWARDERS" "$OPENWEC_EPS" "$STORM" "$PG_LINE" \
    "$CPU_WSMAND" "$CPU_OPENWEC" "$WORK/openwec.json" "$STORE_LINE" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
def per_100k(cpu, acked):
    return f"{float(cpu) * 100000 / max(acked, 1):.2f} CPU-s per 100k events"
cpu = per_100k(sys.argv[9], run["events_acked"])
if sys.argv[10]:
    cpu += f" (OpenWEC {per_100k(sys.argv[10], json.load(open(sys.argv[11]))['events_acked'])})"
lost, duplicated = (int(x) for x in open(sys.argv[2]).read().split()[1:4:2])
before, peak, forwarders = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
openwec = float(sys.argv[6]) if sys.argv[6] else None
per = (peak - before) * 1024 / forwarders
ratio = "no OpenWEC in this run"
if openwec:
    theirs = json.load(open(sys.argv[11]))
    ratio = (f"{run['events_per_second'] / openwec:.2f}x OpenWEC events/s, OpenWEC's p99 Ack "
             f"{theirs['ack_ms_p99']:.1f} ms ({theirs['ack_ms_p99'] / max(run['ack_ms_p99'], 0.1):.1f}x ours), "
             f"{theirs['failed']} of its forwarders failed")
if run["failed"]:
    print(f"{run['failed']} forwarders failed, first: {run['first_failures']}")
print(f"fleet: {forwarders} forwarders ({run['connected']} connected), {run['events_per_second']:.0f} events/s, "
      f"p99 Ack {run['ack_ms_p99']:.1f} ms, RSS {peak / 1024:.1f} MB peak ({before / 1024:.1f} MB before, "
      f"{per / 1024:.1f} KiB per forwarder), lost {lost}, duplicated {duplicated}, {ratio}, {cpu}"
      + (f"; {sys.argv[7]}" if sys.argv[7] else "")
      + (f"; {sys.argv[8]}" if sys.argv[8] else "")
      + (f"; {sys.argv[12]}" if sys.argv[12] else ""))
PY
