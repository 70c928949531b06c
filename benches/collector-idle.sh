#!/usr/bin/env bash
# Benchmark: the collector's resident memory with BENCH_CLIENTS (10,000) idle forwarders that
# are subscribed and send only heartbeats, against the same daemon before any forwarder came
# (the baseline of the same run). Each forwarder is its own identity: a client certificate
# (CN idleNNNNN.bench.test) from one throwaway CA, mapped by one certificate mapping
# (Subject=*) to one service account, as Windows forwarders with certificates are. Each
# enumerates the subscription manager once and sends BENCH_HEARTBEATS heartbeats over HTTPS,
# one request per TLS connection (keep-alive off), BENCH_WORKERS at a time
# (benches/collector_idle.py). Prints VmRSS and RssAnon before and after, the peak (VmHWM),
# the growth per forwarder, and the forwarders `wsmand wec clients` counts alive (the store's
# own view: the check that every heartbeat was taken).
#
#   benches/collector-idle.sh                               # 10,000 forwarders, 2 heartbeats
#   BENCH_CLIENTS=1000 benches/collector-idle.sh
#   WSMAND_BIN=/path/to/wsmand benches/collector-idle.sh    # that binary instead of a release build
#
# Needs .venv with tests/interop/requirements.txt (its `cryptography` makes the certificates).
# scripts/test.sh runs only its smoke mode: figures depend on the machine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
unit_environment

CLIENTS="${BENCH_CLIENTS:-$(bench_value 10000 20)}"
HEARTBEATS="${BENCH_HEARTBEATS:-2}"
WORKERS="${BENCH_WORKERS:-$(bench_value 32 4)}"
ACCOUNT=wecidle
command -v openssl >/dev/null 2>&1 || ensure_packages openssl

if [ -n "${WSMAND_BIN:-}" ]; then
    WSMAND="$WSMAND_BIN"
else
    bench_binaries -p wsmand
    WSMAND="$BENCH_BIN/wsmand"
fi
PYTHON="${BENCH_PYTHON:-$ROOT/.venv/bin/python}"
if ! "$PYTHON" -c 'import cryptography' 2>/dev/null; then
    step "python venv with tests/interop/requirements.txt"
    [ -x "$PYTHON" ] || python3 -m venv "$ROOT/.venv"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check -r tests/interop/requirements.txt
fi

scratch_dir wsmand-collector-idle

step "a CA and $CLIENTS forwarder certificates"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=wsmand idle bench CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign" -keyout "$WORK/ca.key" -out "$WORK/ca.crt" 2>/dev/null
"$PYTHON" "$ROOT/benches/collector_idle.py" certs "$WORK/clients" "$WORK/ca.key" "$WORK/ca.crt" "$CLIENTS"

step "configuring wsmand (HTTPS listener, certificate mapping, one subscription)"
CONFIG="$WORK/config"
certificate_collector_config "$CONFIG" "$WORK/ca.crt" listener "$ACCOUNT"
cat >"$CONFIG/subscriptions/idle.toml" <<TOML
query = '<QueryList><Query Id="0"><Select Path="Security">*</Select></Query></QueryList>'
heartbeat_seconds = 900
[[outputs]]
type = "file"
path = "$WORK/out/{subscription}/{client}.xml"
format = "raw"
TOML

step "starting wsmand on loopback (the allocator settings of dist/wsmand.service)"
start_collector "$CONFIG" "$WORK/wec.sqlite" "$WORK/wsmand.log"
WSMAND_PID=$COLLECTOR_PID
sleep "$(bench_value 2 0.2)"
kb() { awk -v key="$1:" '$1 == key {print $2}' "/proc/$WSMAND_PID/status"; }
BASE_RSS="$(kb VmRSS)"
BASE_ANON="$(kb RssAnon)"
echo "baseline (no forwarder yet): VmRSS $BASE_RSS kB, RssAnon $BASE_ANON kB"

step "$CLIENTS forwarders: Enumerate, then $HEARTBEATS heartbeats each, $WORKERS at a time"
RESULT="$("$PYTHON" "$ROOT/benches/collector_idle.py" run 127.0.0.1 "$PORT" "$WORK/listener.crt" \
    "$WORK/clients" "$CLIENTS" "$HEARTBEATS" "$WORKERS")" || { tail -20 "$WORK/wsmand.log"; exit 1; }
echo "load: $RESULT"
sleep "$(bench_value 2 0.2)"
RSS="$(kb VmRSS)"
ANON="$(kb RssAnon)"
PEAK="$(kb VmHWM)"
ALIVE="$(WSMAND_CONFIG_DIR="$CONFIG" WSMAND_WEC_DATABASE="$WORK/wec.sqlite" "$WSMAND" wec clients idle |
    awk 'NR > 1 && $NF == "alive"' | wc -l)"
echo "after $CLIENTS idle forwarders: VmRSS $RSS kB, RssAnon $ANON kB, peak VmHWM $PEAK kB"
echo "forwarders alive in the store (wsmand wec clients): $ALIVE of $CLIENTS"
python3 - "$BASE_RSS" "$RSS" "$PEAK" "$CLIENTS" <<'PY'
import sys
base, rss, peak, clients = (int(x) for x in sys.argv[1:])
print(f"VmRSS {rss / 1024:.1f} MB with {clients} forwarders vs {base / 1024:.1f} MB without "
      f"({rss / base:.2f}x; {(rss - base) * 1024 / clients:.0f} bytes per forwarder); "
      f"peak {peak / 1024:.1f} MB; goal < 200 MB: {'met' if peak < 200 * 1024 else 'missed'}")
PY
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$ALIVE" -eq "$CLIENTS" ] || { echo "not every forwarder is alive in the store" >&2; exit 1; }
