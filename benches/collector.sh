#!/usr/bin/env bash
# Benchmark: the collector's outputs under load. SENDERS forwarders (one Basic account each,
# the Computer of their events) post batches of 100 events of about 1 KB over loopback HTTPS,
# each waiting for its Ack before the next batch, as Windows forwarders do; first to a
# subscription with the file output (append + fsync before the Ack: the baseline), then to one
# with the Kafka output (librdkafka's mock cluster in a separate process, acks=all, idempotent
# producer, the Ack after every delivery report), then the TCP output (a line sink in a Python
# process on 127.0.0.1: written and flushed before the Ack), the Redis output (a real
# redis-server on 127.0.0.1 without persistence, one RPUSH per batch, the Ack after its reply)
# and, when this machine's journald listens on /run/systemd/journal/socket, the journal output,
# in the same run. Prints events/s and the time to Ack (p50, p99) of each and its ratio to the
# files.
#
#   benches/collector.sh                                   # 8 senders x 40 batches x 100 events
#   BENCH_SENDERS=16 BENCH_BATCHES=50 benches/collector.sh
#   WSMAND_BIN=/path/to/wsmand benches/collector.sh        # that binary instead of a release build
#
# Needs .venv with tests/interop/requirements.txt (confluent-kafka hosts the mock cluster) and
# redis-server (REQUIRED_PACKAGES).
# Not part of scripts/test.sh: figures depend on the machine; the ratio is what to compare.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
require_cargo

SENDERS="${BENCH_SENDERS:-8}"
BATCHES="${BENCH_BATCHES:-40}"
PER_BATCH=100
EVENT_BYTES=1000
PASSWORD="bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
command -v openssl >/dev/null 2>&1 || ensure_packages openssl
command -v redis-server >/dev/null 2>&1 || ensure_packages redis-server

if [ -n "${WSMAND_BIN:-}" ]; then
    WSMAND="$WSMAND_BIN"
else
    step "building the release daemon"
    cargo build --release -p wsmand
    WSMAND="$ROOT/target/release/wsmand"
fi
PYTHON="$ROOT/.venv/bin/python"
if ! "$PYTHON" -c 'import confluent_kafka' 2>/dev/null; then
    step "python venv with confluent-kafka"
    [ -x "$PYTHON" ] || python3 -m venv "$ROOT/.venv"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check -r tests/interop/requirements.txt
fi

scratch_dir wsmand-collector

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
