#!/usr/bin/env bash
# Benchmark: the collector through slow faults at a steady fleet load (issue 71). For each row
# a fresh collector (HTTPS, one certificate mapping, a subscription writing to the event store
# and to one other output: a file output, or the RELP output in the receiver's row and the Kafka
# output in Kafka's) takes BENCH_FORWARDERS forwarders of benches/fleet-load at BENCH_RATE
# events/s; BENCH_BEFORE seconds in, one fault is injected, held for the row's time, and mended,
# and the fleet runs BENCH_AFTER seconds more and drains. Rows:
#
#   store-full    the event store's file system (a tmpfs of the bench's own, root only) filled,
#                 then the filler removed                              (BENCH_FULL_SECONDS)
#   postgres-down PostgreSQL holding the bookmarks and the store stopped (fast), then started
#                                                                      (BENCH_PG_SECONDS)
#   relp-down     the RELP receiver (rsyslog's imrelp) killed, then started on the same port
#                                                                      (BENCH_RELP_SECONDS)
#   clock-back    the collector's wall clock stepped back 3,600 s (libfaketime preloaded into the
#                 collector alone; a time namespace moves only the monotonic clocks)
#   pg-partition  three nodes sharing PostgreSQL (bookmarks and store), a third of the fleet
#                 each; one node, with its forwarders, in a network namespace whose link to
#                 PostgreSQL is taken down, then up                    (BENCH_PG_SECONDS)
#   kafka-down    the Kafka output's broker (librdkafka's mock cluster in a Python process,
#                 BENCH_PYTHON or .venv with confluent-kafka) stopped (SIGSTOP), then let go on
#                 (SIGCONT); the output's message_timeout_ms is BENCH_KAFKA_TIMEOUT_MS
#                                                                      (BENCH_KAFKA_SECONDS)
#
# Each row prints: events offered (acknowledged by the fleet), stored once, lost (acknowledged,
# not stored), twice (stored more than once); the same at the other output (benches/
# faults_report.py: its promise is at least once, so only a loss there fails the row); the longest
# Ack and the 503s the fleet counted; the collector's peak RSS (VmHWM) and most open descriptors
# (sampled each second); the seconds from the fault's end until the store took the rate again
# (its arrival times per second, at 90 % of the median second before the fault: the baseline,
# measured in the same row; the cut node's alone in pg-partition); and the distinct log lines
# (WARN/ERROR) the operator saw. Rows whose parts are missing (not root, no libfaketime, no
# rsyslog-relp, no iproute2, no confluent-kafka) say so and are skipped.
#
#   soak          no fault: an hour at load (BENCH_SOAK_SECONDS, default 3,600; a few seconds in
#                 smoke mode), the store and a syslog output over RELP (rsyslog's imrelp, which
#                 keeps each event's Computer and record id); the collector's RSS (VmRSS) and
#                 open descriptors sampled every BENCH_SOAK_SAMPLE seconds (5), the fleet's Acks
#                 per BENCH_SOAK_WINDOW seconds (300; fleet-load --window-seconds). It prints
#                 the first window beside the last (events/s, Ack p50 and p99, mean and max
#                 RSS, most descriptors), their ratio and whether it is within 10 % (issue 71's
#                 goal, printed, not asserted), each window's figures, and lost and twice as
#                 the other rows (benches/soak_report.py). Not among the default rows but in
#                 smoke mode: run it alone, with the issue's fleet:
#
#   BENCH_ROWS=soak BENCH_FORWARDERS=2000 BENCH_RATE=5000 benches/faults.sh    # the hour
#   benches/faults.sh                                    # 1,000 forwarders, 2,000 events/s
#   BENCH_ROWS="postgres-down relp-down" benches/faults.sh
#   BENCH_FORWARDERS=200 BENCH_RATE=1000 BENCH_PG_SECONDS=20 benches/faults.sh   # a reduced run
#
# scripts/test.sh runs only its smoke mode (seconds per row, the debug build).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
unit_environment

FORWARDERS="${BENCH_FORWARDERS:-$(bench_value 1000 10)}"
RATE="${BENCH_RATE:-$(bench_value 2000 100)}"
PER_BATCH="${BENCH_PER_BATCH:-10}"
BEFORE="${BENCH_BEFORE:-$(bench_value 30 3)}"
AFTER="${BENCH_AFTER:-$(bench_value 60 4)}"
FULL_SECONDS="${BENCH_FULL_SECONDS:-$(bench_value 60 3)}"
PG_SECONDS="${BENCH_PG_SECONDS:-$(bench_value 120 3)}"
RELP_SECONDS="${BENCH_RELP_SECONDS:-$(bench_value 300 3)}"
CLOCK_SECONDS="${BENCH_CLOCK_SECONDS:-$(bench_value 60 3)}"
KAFKA_SECONDS="${BENCH_KAFKA_SECONDS:-$(bench_value 120 3)}"
KAFKA_TIMEOUT_MS="${BENCH_KAFKA_TIMEOUT_MS:-$(bench_value 30000 2000)}"
PYTHON="${BENCH_PYTHON:-$ROOT/.venv/bin/python}"
SOAK_SECONDS="${BENCH_SOAK_SECONDS:-$(bench_value 3600 4)}"
SOAK_WINDOW="${BENCH_SOAK_WINDOW:-$(bench_value 300 2)}"
SOAK_SAMPLE="${BENCH_SOAK_SAMPLE:-$(bench_value 5 1)}"
# The soak takes an hour: its own run (BENCH_ROWS=soak), but a few seconds of it in smoke mode.
ROWS="${BENCH_ROWS:-store-full postgres-down relp-down clock-back pg-partition kafka-down$(bench_value "" " soak")}"
case " $ROWS " in
*" soak "*)
    if [ "$SOAK_WINDOW" -le 0 ] || [ $((SOAK_SECONDS % SOAK_WINDOW)) -ne 0 ] \
        || [ "$SOAK_SECONDS" -lt $((2 * SOAK_WINDOW)) ]; then
        echo "BENCH_SOAK_SECONDS ($SOAK_SECONDS) must be a multiple of BENCH_SOAK_WINDOW ($SOAK_WINDOW), at least two of them" >&2
        exit 2
    fi
    ;;
esac
command -v openssl >/dev/null 2>&1 || ensure_packages openssl
WANT_FDS=$((FORWARDERS + 4096))
if [ "$(ulimit -n)" -lt "$WANT_FDS" ]; then
    ulimit -Hn "$WANT_FDS" 2>/dev/null || true
    ulimit -n "$WANT_FDS" 2>/dev/null || echo "open-file limit $(ulimit -n) is below $WANT_FDS" >&2
fi
if [ -n "${WSMAND_BIN:-}" ] && [ -n "${FLEET_LOAD_BIN:-}" ]; then
    BENCH_BIN=""
else
    bench_binaries -p wsmand -p fleet-load
fi
WSMAND="${WSMAND_BIN:-$BENCH_BIN/wsmand}"
LOAD="${FLEET_LOAD_BIN:-$BENCH_BIN/fleet-load}"
scratch_dir wsmand-faults
MOUNTS=()
NETNS=()
MOCK_PID=""
# At exit: a stopped mock cluster takes its SIGTERM only once it goes on; the mounts go; the
# processes are stopped (cleanup_scratch); the namespaces go after the processes in them.
cleanup() {
    local m n
    [ -z "$MOCK_PID" ] || kill -CONT "$MOCK_PID" 2>/dev/null || true
    for m in "${MOUNTS[@]}"; do umount -l "$m" 2>/dev/null || true; done
    cleanup_scratch
    for n in "${NETNS[@]}"; do ip netns del "$n" 2>/dev/null || true; done
}
trap cleanup EXIT

step "the forwarders' CA (rcgen)"
"$LOAD" ca "$WORK/ca"

# collector ROW [OUTPUT-TOML]: a config dir $WORK/ROW/wsmand for the fleet, its subscription
# writing to the store and to one other output: OUTPUT-TOML, or by default a file output
# (`raw`, one file per forwarder in $WORK/ROW/out, on the scratch file system, not the store's);
# sets CONFIG and PORT.
collector() {
    local other="${2:-}"
    CONFIG="$WORK/$1/wsmand"
    certificate_collector_config "$CONFIG" "$WORK/ca/ca.crt" "$1-listener" wecfleet \
        "MaxConnections = $((FORWARDERS + 1000))"
    cp "$WORK/$1-listener.crt" "$WORK/$1/listener.crt"
    [ -n "$other" ] || other="$(printf '[[outputs]]\ntype = "file"\npath = "%s/{client}.log"\nformat = "raw"\n' "$WORK/$1/out")"
    printf '%s\nheartbeat_seconds = 30\n[[outputs]]\ntype = "store"\n%s\n' \
        "query = '<QueryList><Query Id=\"0\"><Select Path=\"Security\">*</Select></Query></QueryList>'" \
        "$other" >"$CONFIG/subscriptions/fleet.toml"
}

# watch PID FILE: the most open descriptors of PID, sampled each second, kept in FILE.
watch_fds() {
    local most=0 n
    while kill -0 "$1" 2>/dev/null; do
        n="$(open_fds "$1")"
        [ "$n" -le "$most" ] || { most="$n"; echo "$most" >"$2"; }
        sleep 1
    done
}

# start_collector ROW DATABASE [ENV...]: the collector of CONFIG (bookmarks in the SQLite file
# DATABASE, or in PostgreSQL per its collector.toml), its log in $WORK/ROW/wsmand.log, once it
# listens; sets COLLECTOR_PID.
start_collector() {
    local row="$1" database="$2"
    shift 2
    env "${UNIT_ENV[@]}" "$@" WSMAND_WEC_DATABASE="$database" "$WSMAND" --config-dir "$CONFIG" \
        2>"$WORK/$row/wsmand.log" &
    COLLECTOR_PID=$!
    PIDS+=("$COLLECTOR_PID")
    wait_for_port "$PORT" "$COLLECTOR_PID" "$WORK/$row/wsmand.log"
}

# run ROW DATABASE FAULT_SECONDS FAULT MEND [ENV...]: the collector of CONFIG (bookmarks in the
# SQLite file DATABASE, or in PostgreSQL per its collector.toml) under the fleet; FAULT and MEND
# are commands run BEFORE seconds in and FAULT_SECONDS later. Leaves the fleet's JSON in
# $WORK/ROW/fleet.json, the acknowledged records in $WORK/ROW/acked, the fault's end (epoch
# seconds) in $WORK/ROW/mended, the peak RSS and descriptors in $WORK/ROW/peak.
run() {
    local row="$1" database="$2" hold="$3" fault="$4" mend="$5" fleet_pid
    shift 5
    start_collector "$row" "$database" "$@"
    watch_fds "$COLLECTOR_PID" "$WORK/$row/fds" &
    step "$row: $FORWARDERS forwarders, $RATE events/s; the fault ${BEFORE} s in, held ${hold} s"
    "$LOAD" run --ca-dir "$WORK/ca" --server-ca "$WORK/$row/listener.crt" --port "$PORT" \
        --forwarders "$FORWARDERS" --rate "$RATE" --per-batch "$PER_BATCH" --event-bytes 500 \
        --seconds $((BEFORE + hold + AFTER)) --drain-seconds $((hold + 120)) \
        --max-retry-seconds 5 --acked "$WORK/$row/acked" >"$WORK/$row/fleet.json" &
    fleet_pid=$!
    PIDS+=("$fleet_pid")
    sleep "$BEFORE"
    date +%s.%N >"$WORK/$row/faulted"
    $fault
    sleep "$hold"
    $mend
    date +%s.%N >"$WORK/$row/mended"
    wait "$fleet_pid" || echo "fleet-load exited $? in $row" >&2
    awk '/^VmHWM:/ {print $2}' "/proc/$COLLECTOR_PID/status" >"$WORK/$row/rss"
    kill -TERM "$COLLECTOR_PID"
    wait "$COLLECTOR_PID" 2>/dev/null || true
}

# watch_memory PID FILE: PID's VmRSS (KiB) and open descriptors every SOAK_SAMPLE seconds, a line
# `EPOCH RSS FDS` each in FILE, while PID lives.
watch_memory() {
    local rss fds
    while kill -0 "$1" 2>/dev/null; do
        rss="$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null)" || return 0
        fds="$(open_fds "$1")" || return 0
        [ -z "$rss" ] || echo "$(date +%s.%N) $rss $fds" >>"$2"
        sleep "$SOAK_SAMPLE"
    done
}

# soak_row ROW: no fault. The collector (the store, and a syslog output over RELP to rsyslog)
# under the fleet for SOAK_SECONDS; its RSS and descriptors sampled (watch_memory), the fleet's
# Acks per SOAK_WINDOW seconds (fleet-load --window-seconds); benches/soak_report.py sets the
# first window against the last and counts every acknowledged event in the store and at the
# receiver.
soak_row() {
    local row="$1"
    RELP_PORT="$(free_port)"
    relp_receiver "$WORK/$row" relp ids
    collector "$row" "$(printf '[[outputs]]\ntype = "syslog"\naddress = "127.0.0.1:%s"\ntransport = "relp"\n' "$RELP_PORT")"
    start_collector "$row" "$WORK/$row/wec.sqlite"
    watch_memory "$COLLECTOR_PID" "$WORK/$row/samples" &
    step "$row: $FORWARDERS forwarders, $RATE events/s for $SOAK_SECONDS s, no fault; the first and the last $SOAK_WINDOW s compared"
    "$LOAD" run --ca-dir "$WORK/ca" --server-ca "$WORK/$row/listener.crt" --port "$PORT" \
        --forwarders "$FORWARDERS" --rate "$RATE" --per-batch "$PER_BATCH" --event-bytes 500 \
        --seconds "$SOAK_SECONDS" --drain-seconds 120 --max-retry-seconds 5 \
        --window-seconds "$SOAK_WINDOW" --acked "$WORK/$row/acked" >"$WORK/$row/fleet.json" \
        || echo "fleet-load exited $? in $row" >&2
    kill -TERM "$COLLECTOR_PID"
    wait "$COLLECTOR_PID" 2>/dev/null || true
    python3 "$ROOT/benches/soak_report.py" "$WORK/$row" "$WORK/$row/wec.sqlite" \
        "$WORK/$row/relp.ids" "$RATE" | tee -a "$WORK/table"
}

# The bench's PostgreSQL cluster (lib.sh's start_postgres), started by the first row that needs
# it; sets PG_SERVER_PID. pg_down stops it (fast), pg_up starts it again on the same data.
postgres_once() {
    [ -z "${PG_SERVER_PID:-}" ] || return 0
    start_postgres 300
}

pg_down() {
    kill -INT "$PG_SERVER_PID"
    wait "$PG_SERVER_PID" 2>/dev/null || true
}
pg_up() {
    postgres_serve
}

# report ROW SOURCE [REPORT-ARGS...]: the row's line (benches/faults_report.py) from what the
# store holds (SOURCE: `sqlite:FILE` or `postgres:DATABASE`), the fleet's JSON, the peaks and the log;
# REPORT-ARGS name the second output's copies (`--other KIND PATH...`).
report() {
    local row="$1" source="$2"
    shift 2
    if [ "${source%%:*}" = postgres ]; then
        pg_sql "${source#postgres:}" "SELECT arrived, computer, substring(xml from '<EventRecordID>([0-9]+)</EventRecordID>') FROM wec_event" \
            >"$WORK/$row/stored"
    else
        python3 - "${source#sqlite:}" >"$WORK/$row/stored" <<'PY'
import re, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for (part,) in db.execute("SELECT part FROM store_partition").fetchall():
    for arrived, computer, xml in db.execute(f"SELECT arrived, computer, xml FROM ev_{part}"):
        m = re.search(r"<EventRecordID>(\d+)</EventRecordID>", xml)
        print(arrived, computer, m.group(1))
PY
    fi
    python3 "$ROOT/benches/faults_report.py" "$row" "$WORK/$row" "$RATE" "$@" | tee -a "$WORK/table"
}

# node ROW NAME [NETNS]: collector NAME of ROW sharing the bench's PostgreSQL (database
# wec_partition: bookmarks and store) with the other nodes, reaching it at 127.0.0.1, or from
# inside NETNS (when given) at NS_PG_ADDRESS over TLS. Sets NODE_PID.
node() {
    local row="$1" name="$2" netns="${3:-}" host="127.0.0.1" wrap=() tries=0
    [ -z "$netns" ] || { host="$NS_PG_ADDRESS"; wrap=(ip netns exec "$netns"); }
    mkdir -p "$WORK/$row/$name"
    collector "$row/$name"
    install -m 0600 /dev/null "$CONFIG/wec-db.password"
    printf '%s\n' "$PG_PASSWORD" >"$CONFIG/wec-db.password"
    printf '[bookmarks]\nbackend = "postgres"\nconnection = "host=%s port=%s user=wec dbname=wec_partition"\npassword_file = "%s"\nconnect_timeout_seconds = 2\nstatement_timeout_seconds = 5\n' \
        "$host" "$PG_PORT" "$CONFIG/wec-db.password" >"$CONFIG/collector.toml"
    [ -z "$netns" ] || printf 'tls = true\nca_file = "%s"\n' "$WORK/postgres/server.crt" >>"$CONFIG/collector.toml"
    "${wrap[@]}" env "${UNIT_ENV[@]}" WSMAND_WEC_DATABASE="$WORK/$row/$name/unused.sqlite" \
        "$WSMAND" --config-dir "$CONFIG" 2>"$WORK/$row/wsmand-$name.log" &
    NODE_PID=$!
    PIDS+=("$NODE_PID")
    # Its port from where its forwarders are (its namespace's loopback for the cut node).
    until "${wrap[@]}" bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" 2>/dev/null; do
        if ! kill -0 "$NODE_PID" 2>/dev/null || [ "$tries" -ge 300 ]; then
            cat "$WORK/$row/wsmand-$name.log" >&2
            echo "node $name never listened" >&2
            exit 1
        fi
        tries=$((tries + 1))
        sleep 0.1
    done
}

# partition_row ROW: three nodes sharing PostgreSQL, each with a third of the fleet (forwarders
# fwd<i>.nN.fleet.test, their own names, so their bookmarks are their own). Node n3 and its
# forwarders are in a network namespace of their own: the forwarders reach it on that
# namespace's loopback, and it reaches PostgreSQL over a veth pair, which the fault takes down
# on the host's side (packets vanish: no reset, no refusal) and the mend brings up again.
# fleet-load forwarders talk to one collector each, so n3's forwarders wait for n3 (they
# cannot move to n1 or n2).
partition_row() {
    local row="$1" name pids=() fleet_pids=() forwarders rate wrap pid
    NS="wsmfault$$"
    NS_HOST_LINK="wsmf$$h"
    NS_PG_ADDRESS=10.213.71.1
    ip netns add "$NS"
    NETNS+=("$NS")
    ip link add "$NS_HOST_LINK" type veth peer name "wsmf$$n"
    ip link set "wsmf$$n" netns "$NS"
    ip addr add "$NS_PG_ADDRESS/30" dev "$NS_HOST_LINK"
    ip link set "$NS_HOST_LINK" up
    ip netns exec "$NS" ip addr add 10.213.71.2/30 dev "wsmf$$n"
    ip netns exec "$NS" ip link set "wsmf$$n" up
    ip netns exec "$NS" ip link set lo up
    postgres_once
    # PostgreSQL listens on the veth's host side too, and takes n3's logins from there over
    # TLS (a node verifies a database that is not on loopback: a certificate for that address).
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj "/CN=$NS_PG_ADDRESS" -addext "subjectAltName=IP:$NS_PG_ADDRESS" \
        -addext "basicConstraints=critical,CA:FALSE" -addext "extendedKeyUsage=serverAuth" \
        -keyout "$WORK/postgres/server.key" -out "$WORK/postgres/server.crt" 2>/dev/null
    chown postgres:postgres "$WORK/postgres/server.key"
    chmod 0600 "$WORK/postgres/server.key"
    echo "hostssl all all 10.213.71.2/32 scram-sha-256" >>"$WORK/postgres/data/pg_hba.conf"
    pg_sql postgres "ALTER SYSTEM SET listen_addresses = '127.0.0.1,$NS_PG_ADDRESS'" >/dev/null
    pg_sql postgres "ALTER SYSTEM SET ssl_cert_file = '$WORK/postgres/server.crt'" >/dev/null
    pg_sql postgres "ALTER SYSTEM SET ssl_key_file = '$WORK/postgres/server.key'" >/dev/null
    pg_sql postgres "ALTER SYSTEM SET ssl = on" >/dev/null
    pg_down
    pg_up
    pg_sql postgres "CREATE DATABASE wec_partition" >/dev/null
    node "$row" n1
    pids+=("$NODE_PID")
    node "$row" n2
    pids+=("$NODE_PID")
    node "$row" n3 "$NS"
    COLLECTOR_PID="$NODE_PID"
    watch_fds "$COLLECTOR_PID" "$WORK/$row/fds" &
    forwarders=$(((FORWARDERS + 2) / 3))
    rate=$(((RATE + 2) / 3))
    step "$row: 3 nodes, each $forwarders forwarders at $rate events/s; n3 cut from PostgreSQL ${BEFORE} s in, for ${PG_SECONDS} s"
    for name in n1 n2 n3; do
        wrap=()
        [ "$name" != n3 ] || wrap=(ip netns exec "$NS")
        "${wrap[@]}" "$LOAD" run --ca-dir "$WORK/ca" --server-ca "$WORK/$row/$name/listener.crt" \
            --port "$(sed -n 's/^Port = //p' "$WORK/$row/$name/wsmand/config.toml")" \
            --domain "$name.fleet.test" --forwarders "$forwarders" --rate "$rate" \
            --per-batch "$PER_BATCH" --event-bytes 500 --seconds $((BEFORE + PG_SECONDS + AFTER)) \
            --drain-seconds $((PG_SECONDS + 120)) --max-retry-seconds 5 \
            --acked "$WORK/$row/acked-$name" >"$WORK/$row/fleet-$name.json" &
        fleet_pids+=("$!")
        PIDS+=("$!")
    done
    sleep "$BEFORE"
    date +%s.%N >"$WORK/$row/faulted"
    ip link set "$NS_HOST_LINK" down
    sleep "$PG_SECONDS"
    ip link set "$NS_HOST_LINK" up
    date +%s.%N >"$WORK/$row/mended"
    for pid in "${fleet_pids[@]}"; do
        wait "$pid" || echo "fleet-load exited $? in $row" >&2
    done
    awk '/^VmHWM:/ {print $2}' "/proc/$COLLECTOR_PID/status" >"$WORK/$row/rss"
    for pid in "${pids[@]}" "$COLLECTOR_PID"; do
        kill -TERM "$pid"
        wait "$pid" 2>/dev/null || true
    done
    cp "$WORK/$row/wsmand-n3.log" "$WORK/$row/wsmand.log"
    report "$row" postgres:wec_partition --other file "$WORK/$row"/n*/out --node n3.fleet.test
}

# kafka_row ROW: the store and a Kafka output (librdkafka's mock cluster, hosted by
# tests/kafka/mock_cluster.py); the fault stops the cluster's process (SIGSTOP: its broker no
# longer answers) and the mend lets it go on (SIGCONT). A mock cluster killed and started again
# would be a new, empty cluster (the topic and what it held gone), which a real broker's restart
# is not; a paused one keeps them. What reached the topic is read back by tests/kafka/consume.py.
kafka_row() {
    local row="$1" bootstrap="" tries=0
    "$PYTHON" "$ROOT/tests/kafka/mock_cluster.py" >"$WORK/$row/bootstrap" &
    MOCK_PID=$!
    PIDS+=("$MOCK_PID")
    until [ -n "$bootstrap" ]; do
        bootstrap="$(head -1 "$WORK/$row/bootstrap" 2>/dev/null || true)"
        tries=$((tries + 1))
        if [ "$tries" -ge 300 ] || ! kill -0 "$MOCK_PID" 2>/dev/null; then
            echo "the mock cluster did not start" >&2
            exit 1
        fi
        sleep 0.1
    done
    collector "$row" "$(printf '[[outputs]]\ntype = "kafka"\nbrokers = ["%s"]\ntopic = "wec-{subscription}"\nformat = "raw"\nmessage_timeout_ms = %s\n[outputs.properties]\n"linger.ms" = "5"\n' \
        "$bootstrap" "$KAFKA_TIMEOUT_MS")"
    kafka_stop() { kill -STOP "$MOCK_PID"; }
    kafka_go_on() { kill -CONT "$MOCK_PID"; }
    run "$row" "$WORK/$row/wec.sqlite" "$KAFKA_SECONDS" kafka_stop kafka_go_on
    "$PYTHON" "$ROOT/tests/kafka/consume.py" "$bootstrap" wec-fleet 120 >"$WORK/$row/topic.jsonl"
    report "$row" "sqlite:$WORK/$row/wec.sqlite" --other kafka "$WORK/$row/topic.jsonl"
}

relp_installed() {
    command -v rsyslogd >/dev/null 2>&1 && ls /usr/lib/x86_64-linux-gnu/rsyslog/imrelp.so >/dev/null 2>&1
}

# relp_receiver DIR NAME KIND: rsyslogd with imrelp on RELP_PORT (its configuration and work
# directory in DIR, named NAME), each message written before its answer (a Direct queue) to
# DIR/NAME.KIND: `jsonl`, the message as JSON (faults_report.py reads its `msg`), or `ids`, the
# event's Computer and EventRecordID on a line (an hour's messages in a few hundred MB, where
# their JSON would take tens of GB). Sets RELP_PID.
relp_receiver() {
    local d="$1" name="$2" template
    mkdir -p "$d/$name.work"
    if [ "$3" = ids ]; then
        template='property(name="msg" regex.type="ERE" regex.submatch="1" regex.expression="<Computer>([^<]*)</Computer>") constant(value=" ") property(name="msg" regex.type="ERE" regex.submatch="1" regex.expression="<EventRecordID>([0-9]+)</EventRecordID>") constant(value="\n")'
    else
        template='property(name="jsonmesg") constant(value="\n")'
    fi
    cat >"$d/$name.conf" <<CONF
global(workDirectory="$d/$name.work" maxMessageSize="256k")
module(load="imrelp")
template(name="out" type="list") { $template }
ruleset(name="events" queue.type="Direct") { action(type="omfile" file="$d/$name.$3" template="out") }
input(type="imrelp" address="127.0.0.1" port="$RELP_PORT" ruleset="events")
CONF
    rsyslogd -n -f "$d/$name.conf" -i "$d/$name.pid" >/dev/null 2>&1 &
    RELP_PID=$!
    PIDS+=("$RELP_PID")
    wait_for_port "$RELP_PORT" "$RELP_PID" /dev/null
}

for row in $ROWS; do
    mkdir -p "$WORK/$row"
    case "$row" in
    store-full)
        if [ "$(id -u)" -ne 0 ]; then
            echo "store-full: skipped (mounting a tmpfs needs root)"
            continue
        fi
        mkdir -p "$WORK/$row/disk"
        mount -t tmpfs -o "size=$(bench_value 2g 64m),mode=0755" tmpfs "$WORK/$row/disk"
        MOUNTS+=("$WORK/$row/disk")
        collector "$row"
        fill() { dd if=/dev/zero of="$WORK/store-full/disk/filler" bs=1M 2>/dev/null || true; }
        unfill() { rm -f "$WORK/store-full/disk/filler"; }
        run "$row" "$WORK/$row/disk/wec.sqlite" "$FULL_SECONDS" fill unfill
        report "$row" "sqlite:$WORK/$row/disk/wec.sqlite" --other file "$WORK/$row/out"
        ;;
    postgres-down)
        if ! command -v pg_ctl >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
            echo "postgres-down: skipped (PostgreSQL is not installed)"
            continue
        fi
        postgres_once
        collector "$row"
        install -m 0600 /dev/null "$CONFIG/wec-db.password"
        printf '%s\n' "$PG_PASSWORD" >"$CONFIG/wec-db.password"
        printf '[bookmarks]\nbackend = "postgres"\nconnection = "%s"\npassword_file = "%s"\nconnect_timeout_seconds = 2\nstatement_timeout_seconds = 5\n' \
            "$PG_CONNECTION" "$CONFIG/wec-db.password" >"$CONFIG/collector.toml"
        run "$row" "$WORK/$row/unused.sqlite" "$PG_SECONDS" pg_down pg_up
        report "$row" postgres:wec --other file "$WORK/$row/out"
        ;;
    relp-down)
        if ! relp_installed; then
            echo "relp-down: skipped (rsyslog-relp is not installed)"
            continue
        fi
        RELP_PORT="$(free_port)"
        # relp_up NAME: the receiver writing each message as JSON to NAME.jsonl.
        relp_up() { relp_receiver "$WORK/relp-down" "${1:-second}" jsonl; }
        relp_down() {
            kill -KILL "$RELP_PID"
            wait "$RELP_PID" 2>/dev/null || true
        }
        relp_up first
        collector "$row" "$(printf '[[outputs]]\ntype = "syslog"\naddress = "127.0.0.1:%s"\ntransport = "relp"\n' "$RELP_PORT")"
        run "$row" "$WORK/$row/wec.sqlite" "$RELP_SECONDS" relp_down relp_up
        report "$row" "sqlite:$WORK/$row/wec.sqlite" --other relp "$WORK/$row/first.jsonl" "$WORK/$row/second.jsonl"
        ;;
    clock-back)
        FAKETIME_LIB="$(find /usr/lib -path '*/faketime/libfaketime.so.1' 2>/dev/null | head -1)"
        if [ -z "$FAKETIME_LIB" ]; then
            echo "clock-back: skipped (libfaketime is not installed)"
            continue
        fi
        echo "+0" >"$WORK/$row/offset"
        collector "$row"
        step_back() { echo "-3600" >"$WORK/clock-back/offset"; }
        run "$row" "$WORK/$row/wec.sqlite" "$CLOCK_SECONDS" step_back true \
            LD_PRELOAD="$FAKETIME_LIB" FAKETIME_TIMESTAMP_FILE="$WORK/$row/offset" \
            FAKETIME_CACHE_DURATION=1 FAKETIME_DONT_FAKE_MONOTONIC=1
        report "$row" "sqlite:$WORK/$row/wec.sqlite" --other file "$WORK/$row/out"
        ;;
    pg-partition)
        if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
            echo "pg-partition: skipped (needs root, iproute2 and PostgreSQL)"
            continue
        fi
        partition_row "$row"
        ;;
    kafka-down)
        if ! "$PYTHON" -c 'import confluent_kafka' 2>/dev/null; then
            echo "kafka-down: skipped ($PYTHON with confluent-kafka is needed: scripts/test.sh makes .venv)"
            continue
        fi
        kafka_row "$row"
        ;;
    soak)
        if ! relp_installed; then
            echo "soak: skipped (rsyslog-relp is not installed)"
            continue
        fi
        soak_row "$row"
        ;;
    *)
        echo "unknown row $row (store-full, postgres-down, relp-down, clock-back, pg-partition, kafka-down, soak)" >&2
        exit 2
        ;;
    esac
done
step "the fault table ($FORWARDERS forwarders, $RATE events/s)"
grep -v '^    ' "$WORK/table" || true
if grep -q ' NOT 0/0' "$WORK/table"; then
    echo "a row lost or doubled events" >&2
    exit 1
fi
