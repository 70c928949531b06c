#!/usr/bin/env bash
# Benchmark: the collector under load, in two parts (BENCH_PARTS, default "cpu outputs").
#
# cpu (issue 31): CPU per event and time to Ack against OpenWEC. SENDERS forwarders, each with
# its own client certificate from a CA made in the run (CN senderN.bench.test, the Computer of
# its events), enumerate the subscription manager over TLS, then post batches of 100 events in
# UTF-16LE (CDATA, as Windows sends them) to the NotifyTo address the answer gave, each waiting
# for its Ack (benches/collector.py tls). wsmand maps the certificates to one service account
# and stores the batches in a file output (append + fsync before the Ack, bookmark in SQLite
# with synchronous writes). With OPENWEC_BIN (the path of an openwecd built from OpenWEC's
# public source, outside this project; its CLI `openwec` beside it or OPENWEC_CLI) the same
# load goes to OpenWEC (TLS listener on 127.0.0.1 with the same CA, SQLite, a subscription with
# its Files output, Raw), alternating with wsmand for BENCH_ROUNDS rounds (3), each round new
# record ids. Prints each round's CPU-s per 100k events (utime + stime of the collector process
# from /proc/PID/stat, before and after the round) and p50/p99 Ack, then the medians and the
# ratio wsmand / OpenWEC. Without OPENWEC_BIN it prints wsmand's alone.
#
# outputs: SENDERS forwarders (one Basic account each, the Computer of their events) post
# batches of 100 events of about 1 KB over loopback HTTPS, each waiting for its Ack before the
# next batch, as Windows forwarders do; first to a subscription with the file output (append +
# fsync before the Ack: the baseline), then to one with the Kafka output (librdkafka's mock
# cluster in a separate process, acks=all, idempotent producer, the Ack after every delivery
# report), then the TCP output (a line sink in a Python process on 127.0.0.1: written and
# flushed before the Ack), the Redis output (a real redis-server on 127.0.0.1 without
# persistence, one RPUSH per batch, the Ack after its reply) and, when this machine's journald
# listens on /run/systemd/journal/socket, the journal output, in the same run. Prints events/s
# and the time to Ack (p50, p99) of each and its ratio to the files.
#
#   benches/collector.sh                                   # 8 senders x 40 batches x 100 events
#   OPENWEC_BIN=/path/to/openwec/target/release/openwecd BENCH_PARTS=cpu benches/collector.sh
#   BENCH_SENDERS=16 BENCH_BATCHES=50 benches/collector.sh
#   WSMAND_BIN=/path/to/wsmand benches/collector.sh        # that binary instead of a release build
#   BENCH_DATA_DIR=/mnt/tmpfs benches/collector.sh         # the cpu part's files and databases there
#
# Needs .venv with tests/interop/requirements.txt (confluent-kafka hosts the mock cluster) and
# redis-server (REQUIRED_PACKAGES).
# scripts/test.sh runs only its smoke mode: figures depend on the machine; the ratio is what to
# compare.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
require_cargo

SENDERS="${BENCH_SENDERS:-$(bench_value 8 2)}"
BATCHES="${BENCH_BATCHES:-$(bench_value 40 2)}"
PER_BATCH="$(bench_value 100 10)"
EVENT_BYTES=1000
PASSWORD="bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
command -v openssl >/dev/null 2>&1 || ensure_packages openssl

if [ -n "${WSMAND_BIN:-}" ]; then
    WSMAND="$WSMAND_BIN"
else
    bench_binaries -p wsmand
    WSMAND="$BENCH_BIN/wsmand"
fi
PARTS=" ${BENCH_PARTS:-cpu outputs} "
ROUNDS="${BENCH_ROUNDS:-$(bench_value 3 1)}"
scratch_dir wsmand-collector

# --- cpu: CPU per event and time to Ack, wsmand against OpenWEC (issue 31) ---------------------
if [[ "$PARTS" == *" cpu "* ]]; then
    CPU="$WORK/cpu"
    DATA="${BENCH_DATA_DIR:-$CPU}"
    [ -n "${BENCH_DATA_DIR:-}" ] && DATA="$(mktemp -d -p "$BENCH_DATA_DIR" collector-bench-XXXXXX)"
    mkdir -p "$CPU/clients" "$DATA"
    echo "collectors' files and databases in $DATA ($(df -T "$DATA" | awk 'NR == 2 {print $2}'))"

    step "a test CA, a server certificate for OpenWEC and $SENDERS client certificates"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj "/CN=wsmand collector bench CA" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$CPU/ca.key" -out "$CPU/ca.crt" 2>/dev/null
    issue() { # issue NAME SUBJECT EXTENSIONS: a P-256 key and a certificate of the CA
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$2" \
            -keyout "$CPU/$1.key" -out "$CPU/$1.csr" 2>/dev/null
        printf '%b' "$3" >"$CPU/$1.ext"
        openssl x509 -req -in "$CPU/$1.csr" -CA "$CPU/ca.crt" -CAkey "$CPU/ca.key" \
            -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" -days 2 \
            -extfile "$CPU/$1.ext" -out "$CPU/$1.crt" 2>/dev/null
    }
    issue server 127.0.0.1 "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n"
    for i in $(seq 1 "$SENDERS"); do
        issue "client$i" "sender$i.bench.test" "subjectAltName=DNS:sender$i.bench.test\nextendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n"
        cat "$CPU/client$i.crt" "$CPU/client$i.key" >"$CPU/clients/$i.pem"
    done

    step "wsmand: HTTPS listener, certificate mapping (Subject=*), one subscription with the file output"
    WCONFIG="$CPU/wsmand"
    certificate_collector_config "$WCONFIG" "$CPU/ca.crt" cpu-listener wecbench
    WPORT="$PORT"
    cat >"$WCONFIG/subscriptions/files.toml" <<TOML
query = '<QueryList><Query Id="0"><Select Path="Security">*</Select></Query></QueryList>'
[[outputs]]
type = "file"
path = "$DATA/wsmand-out/{subscription}/{client}.xml"
format = "raw"
TOML
    unit_environment
    start_collector "$WCONFIG" "$DATA/wsmand.sqlite" "$CPU/wsmand.log" "$WPORT"
    WSMAND_CPU_PID=$COLLECTOR_PID
    COLLECTORS=("wsmand $WSMAND_CPU_PID $WPORT $WORK/cpu-listener.crt")

    if [ -n "${OPENWEC_BIN:-}" ]; then
        step "OpenWEC ($OPENWEC_BIN): TLS listener with the same CA, SQLite, a subscription with its Files output"
        start_openwec "$CPU" "$DATA" "$CPU/ca.crt" "$CPU/server.crt" "$CPU/server.key" files
        COLLECTORS+=("openwec $OPENWEC_PID $OPORT $CPU/ca.crt")
    else
        echo "no OPENWEC_BIN: wsmand's figures alone"
    fi

    ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
    HZ="$(getconf CLK_TCK)"
    : >"$CPU/rounds.txt"
    step "$ROUNDS rounds x ${#COLLECTORS[@]} collectors: $SENDERS senders x $BATCHES batches x $PER_BATCH events of ~$EVENT_BYTES bytes, UTF-16, TLS client certificates"
    for round in $(seq 1 "$ROUNDS"); do
        first=$((1 + (round - 1) * BATCHES * PER_BATCH))
        order=("${COLLECTORS[@]}")
        # Alternate which collector goes first, so neither always runs on the warmer machine.
        if [ $((round % 2)) -eq 0 ] && [ "${#order[@]}" -eq 2 ]; then
            order=("${COLLECTORS[1]}" "${COLLECTORS[0]}")
        fi
        for entry in "${order[@]}"; do
            read -r name pid port ca <<<"$entry"
            before="$(ticks "$pid")"
            result="$(python3 "$ROOT/benches/collector.py" tls 127.0.0.1 "$port" "$ca" \
                "$CPU/clients" "$SENDERS" "$BATCHES" "$PER_BATCH" "$EVENT_BYTES" "$first")" ||
                { tail -20 "$CPU/$name.log"; exit 1; }
            after="$(ticks "$pid")"
            python3 - "$name" "$round" "$result" "$((after - before))" "$HZ" <<'PY' | tee -a "$CPU/rounds.txt"
import json, sys
name, round_, result, ticks, hz = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
cpu = ticks / hz * 100000 / result["events"]
print(json.dumps({"collector": name, "round": int(round_), "cpu_s_per_100k": round(cpu, 2), **result}))
PY
        done
    done
    python3 - "$CPU/rounds.txt" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
medians = {}
for name in dict.fromkeys(r["collector"] for r in rows):
    mine = [r for r in rows if r["collector"] == name]
    medians[name] = {k: statistics.median(r[k] for r in mine) for k in ("cpu_s_per_100k", "ack_ms_p50", "ack_ms_p99", "events_per_second")}
    m = medians[name]
    print(f"{name:8} CPU-s per 100k events {m['cpu_s_per_100k']:.2f} "
          f"(rounds {', '.join(str(r['cpu_s_per_100k']) for r in mine)}); "
          f"Ack p50 {m['ack_ms_p50']:.1f} ms, p99 {m['ack_ms_p99']:.1f} ms "
          f"(rounds {', '.join(str(r['ack_ms_p99']) for r in mine)}); {m['events_per_second']:.0f} events/s")
if "openwec" in medians:
    w, o = medians["wsmand"], medians["openwec"]
    print(f"wsmand / OpenWEC: CPU per event {w['cpu_s_per_100k'] / o['cpu_s_per_100k']:.2f}x, "
          f"p99 Ack {w['ack_ms_p99'] / o['ack_ms_p99']:.2f}x, p50 Ack {w['ack_ms_p50'] / o['ack_ms_p50']:.2f}x "
          f"(goal issue 31: CPU per event <= 1.00x)")
PY
    # Every event acknowledged must be in the collector's files, once.
    expected=$((ROUNDS * SENDERS * BATCHES * PER_BATCH))
    for entry in "${COLLECTORS[@]}"; do
        read -r name _ <<<"$entry"
        stored="$(find "$DATA/$name-out" -type f -exec cat {} + | grep -c '<EventRecordID>')"
        echo "$name: $stored events in its files (expected $expected)"
        [ "$stored" -eq "$expected" ] || { echo "$name did not store every event once" >&2; exit 1; }
    done
    echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    if [ -n "${BENCH_DATA_DIR:-}" ]; then rm -rf "$DATA"; fi
fi
[[ "$PARTS" == *" outputs "* ]] || exit 0

# --- outputs: files, Kafka, TCP, Redis, journal ------------------------------------------------
PYTHON="$ROOT/.venv/bin/python"
if ! "$PYTHON" -c 'import confluent_kafka' 2>/dev/null; then
    step "python venv with confluent-kafka"
    [ -x "$PYTHON" ] || python3 -m venv "$ROOT/.venv"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check -r tests/interop/requirements.txt
fi
command -v redis-server >/dev/null 2>&1 || ensure_packages redis-server

step "configuring wsmand (HTTPS listener, $SENDERS forwarder accounts, two subscriptions)"
CONFIG="$WORK/config"
mkdir -p "$CONFIG/certs" "$CONFIG/subscriptions"
listener_certificate listener
install_listener_certificate listener "$CONFIG"
PORT="$(free_port)"
cat >"$CONFIG/config.toml" <<TOML
[Config.Service.Auth]
Basic = true
[[Listener]]
Address = "IP:127.0.0.1"
Transport = "HTTPS"
Port = $PORT
CertificateThumbprint = "$THUMBPRINT"
TOML
for i in $(seq 1 "$SENDERS"); do
    printf '%s\n' "$PASSWORD" | WSMAND_CONFIG_DIR="$CONFIG" "$WSMAND" account add "bench$i" \
        --password-stdin >/dev/null
done

step "librdkafka's mock cluster (separate process, 127.0.0.1)"
"$PYTHON" "$ROOT/tests/kafka/mock_cluster.py" >"$WORK/mock.out" 2>"$WORK/mock.log" &
PIDS+=("$!")
for _ in $(seq 1 100); do
    [ -s "$WORK/mock.out" ] && break
    sleep 0.1
done
BOOTSTRAP="$(head -1 "$WORK/mock.out")"
[ -n "$BOOTSTRAP" ] || { cat "$WORK/mock.log"; exit 1; }
echo "mock cluster at $BOOTSTRAP"

QUERY="query = '<QueryList><Query Id=\"0\"><Select Path=\"Security\">*</Select></Query></QueryList>'"
# Each forwarder account speaks for the Computer of its own name (benches/collector.py names each
# sender's Computer after its account): the No forging rule wants a bare name mapped explicitly.
QUERY+=$'\n[computers]'
for i in $(seq 1 "$SENDERS"); do
    QUERY+=$'\n'"\"bench$i\" = [\"bench$i\"]"
done
cat >"$CONFIG/subscriptions/files.toml" <<TOML
$QUERY
[[outputs]]
type = "file"
path = "$WORK/out/{subscription}/{client}.xml"
format = "raw"
TOML
cat >"$CONFIG/subscriptions/kafka.toml" <<TOML
$QUERY
[[outputs]]
type = "kafka"
brokers = ["$BOOTSTRAP"]
topic = "wec-{subscription}"
format = "raw"
TOML

step "TCP line sink (Python, 127.0.0.1) and redis-server (127.0.0.1, no persistence)"
TCP_PORT="$(free_port)"
python3 - "$TCP_PORT" >"$WORK/sink.log" 2>&1 <<'PY' &
import socket, sys, threading
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen(16)
def drain(connection):
    while connection.recv(1 << 16):
        pass
while True:
    connection, _ = server.accept()
    threading.Thread(target=drain, args=(connection,), daemon=True).start()
PY
PIDS+=("$!")
REDIS_PORT="$(free_port)"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" \
    >"$WORK/redis.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 1 100); do
    [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" PING 2>/dev/null)" = PONG ] && break
    sleep 0.1
done
cat >"$CONFIG/subscriptions/tcp.toml" <<TOML
$QUERY
[[outputs]]
type = "tcp"
address = "127.0.0.1:$TCP_PORT"
format = "raw"
TOML
cat >"$CONFIG/subscriptions/redis.toml" <<TOML
$QUERY
[[outputs]]
type = "redis"
url = "redis://127.0.0.1:$REDIS_PORT"
key = "wec:{subscription}:{client}"
format = "raw"
TOML
OUTPUTS=(kafka tcp redis)
if [ -S /run/systemd/journal/socket ]; then
    cat >"$CONFIG/subscriptions/journal.toml" <<TOML
$QUERY
[[outputs]]
type = "journal"
syslog_identifier = "wsmand-wec-bench"
TOML
    OUTPUTS+=(journal)
else
    echo "no journald socket at /run/systemd/journal/socket: the journal output is not measured"
fi

step "starting wsmand on loopback"
MALLOC_ARENA_MAX=2 WSMAND_WEC_DATABASE="$WORK/wec.sqlite" \
    "$WSMAND" --config-dir "$CONFIG" 2>"$WORK/wsmand.log" &
WSMAND_PID=$!
PIDS+=("$WSMAND_PID")
wait_for_port "$PORT" "$WSMAND_PID" "$WORK/wsmand.log"

run() {
    local name="$1" show identifier version
    show="$(WSMAND_CONFIG_DIR="$CONFIG" "$WSMAND" wec show "$name")"
    identifier="$(sed -n 's/^Identifier: //p' <<<"$show")"
    version="$(sed -n 's/^Version: //p' <<<"$show")"
    "$PYTHON" "$ROOT/benches/collector.py" "https://127.0.0.1:$PORT/wsman" "$WORK/listener.crt" \
        "$PASSWORD" bench "$SENDERS" "$BATCHES" "$PER_BATCH" "$EVENT_BYTES" \
        "/wsman/subscriptions/$identifier/1" "$version"
}

step "$SENDERS senders x $BATCHES batches x $PER_BATCH events of ~$EVENT_BYTES bytes, HTTPS"
FILES="$(run files)" || { tail -20 "$WORK/wsmand.log"; exit 1; }
echo "file output (baseline): $FILES"
for output in "${OUTPUTS[@]}"; do
    RESULT="$(run "$output")" || { tail -20 "$WORK/wsmand.log"; exit 1; }
    printf '%-23s %s\n' "$output output:" "$RESULT"
    python3 - "$FILES" "$RESULT" "$output" <<'PY'
import json, sys
files, other, name = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
print(f"{name} / files: {other['events_per_second'] / files['events_per_second']:.2f}x events/s, "
      f"p99 Ack {other['ack_ms_p99']} ms vs {files['ack_ms_p99']} ms")
PY
done
echo "wsmand CPU (user+sys ticks): $(awk '{print $14 + $15}' "/proc/$WSMAND_PID/stat")"
