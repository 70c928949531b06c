#!/usr/bin/env bash
# Benchmark: Enumerate+Pull of a synthetic class of CIM_SYNTHETIC_INSTANCES instances (default
# 100,000; `Wsman_BenchSynthetic`, served only by a wsmand built with the `bench-synthetic`
# feature), Basic over HTTP on loopback, through our client library without the command
# line's output formatting (benches/enum-bench), against the bare responder replaying the very
# responses wsmand gave for the same enumeration (recorded in this run), so the ratio is
# wsmand's cost over pure transport and parsing. Also timed: `winrm enumerate` of the class
# end to end (output formatting included). Printed: items/s of each, the ratio, and wsmand's
# peak RSS (VmHWM) over the whole run. Each side runs CIM_BENCH_RUNS times (default 3).
#
#   benches/cim-synthetic.sh
#   CIM_SYNTHETIC_INSTANCES=200000 CIM_BENCH_RUNS=5 benches/cim-synthetic.sh
#
# It builds target/release/wsmand with the feature: run `cargo build --release -p wsmand`
# afterwards before anything that needs a production binary there.
# scripts/test.sh runs only its smoke mode: figures depend on the machine; compare ratios.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
unit_environment
require_cargo
command -v python3 >/dev/null 2>&1 || ensure_packages python3

INSTANCES="${CIM_SYNTHETIC_INSTANCES:-100000}"
RUNS="${CIM_BENCH_RUNS:-$(bench_value 3 1)}"
ACCOUNT=cimbench
PASSWORD="bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
CLASS=Wsman_BenchSynthetic
# The smoke mode (scripts/lib.sh) runs the default debug build, which has no synthetic class (a
# build with the feature would take minutes): the same path with the one Win32_OperatingSystem.
if smoke_mode; then
    CLASS=Win32_OperatingSystem
    INSTANCES=1
fi
URI="http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/$CLASS"

bench_binaries -p wsmand -p winrm -p enum-bench -p bare-responder --features wsmand/bench-synthetic
RELEASE="$BENCH_BIN"

WORK="$(mktemp -d -t wsmand-cim-synthetic-XXXXXX)"
WSMAND_PID=""
BARE_PID=""
cleanup() {
    for pid in "$BARE_PID" "$WSMAND_PID"; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

CONFIG="$WORK/config"
start_basic_wsmand "$RELEASE" "$CONFIG" "$ACCOUNT" "$PASSWORD" "$(id -un)" "$WORK/wsmand.log" \
    WSMAND_BENCH_SYNTHETIC_INSTANCES="$INSTANCES" "${UNIT_ENV[@]}"
echo "wsmand pid $WSMAND_PID on 127.0.0.1:$PORT, $INSTANCES instances of $CLASS"

enumerate() {
    WSMAND_CONFIG_DIR="$CONFIG" "$RELEASE/winrm" enumerate "wmicimv2/$CLASS" \
        "-r:http://127.0.0.1:$PORT" "-u:$ACCOUNT" "-p:$PASSWORD" -a:Basic -unencrypted
}
# Sanity: every instance arrives through the command line.
ITEMS="$(enumerate | grep -c "^$CLASS\$" || true)"
if [ "$ITEMS" -ne "$INSTANCES" ]; then
    echo "sanity check failed: $ITEMS $CLASS items, $INSTANCES expected" >&2
    exit 1
fi

step "recording wsmand's responses to one enumeration (the bare responder's replay)"
mkdir -p "$WORK/replay"
WSMAN_BENCH_PASSWORD="$PASSWORD" python3 - "http://127.0.0.1:$PORT/wsman" "$ACCOUNT" "$URI" "$WORK/replay" <<'PY'
import base64, os, re, sys, urllib.request, uuid
url, user, uri, out = sys.argv[1:5]
auth = "Basic " + base64.b64encode(f"{user}:{os.environ['WSMAN_BENCH_PASSWORD']}".encode()).decode()
ENUM = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
def post(action, body):
    envelope = (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
        f'xmlns:n="{ENUM}"><s:Header><a:To>{url}</a:To>'
        f'<w:ResourceURI s:mustUnderstand="true">{uri}</w:ResourceURI>'
        '<a:ReplyTo><a:Address s:mustUnderstand="true">'
        'http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>'
        f'<a:Action s:mustUnderstand="true">{ENUM}/{action}</a:Action>'
        '<w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize>'
        f'<a:MessageID>uuid:{uuid.uuid4()}</a:MessageID>'
        '<w:OperationTimeout>PT60S</w:OperationTimeout></s:Header>'
        f'<s:Body>{body}</s:Body></s:Envelope>')
    request = urllib.request.Request(url, envelope.encode(), {
        "Authorization": auth, "Content-Type": "application/soap+xml;charset=UTF-8"})
    with urllib.request.urlopen(request) as response:
        return response.read()
reply = post("Enumerate", "<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>32000</w:MaxElements></n:Enumerate>")
pages = 0
while True:
    with open(os.path.join(out, f"{pages:06}.xml"), "wb") as f:
        f.write(reply)
    pages += 1
    if b"EndOfSequence" in reply:
        break
    context = re.search(rb"EnumerationContext>([^<]+)<", reply).group(1).decode()
    reply = post("Pull", f"<n:Pull><n:EnumerationContext>{context}</n:EnumerationContext>"
                         "<n:MaxElements>32000</n:MaxElements></n:Pull>")
print(f"{pages} responses recorded")
PY
"$RELEASE/bare-responder" 0 --replay "$WORK/replay" >"$WORK/bare.out" 2>"$WORK/bare.log" &
BARE_PID=$!
for _ in $(seq 1 100); do
    grep -q '^listening on' "$WORK/bare.out" 2>/dev/null && break
    sleep 0.1
done
BARE_ADDRESS="$(sed -n 's/^listening on //p' "$WORK/bare.out")"
[ -n "$BARE_ADDRESS" ] || { echo "the bare responder did not start" >&2; cat "$WORK/bare.log" >&2; exit 1; }

step "Enumerate+Pull through the client library: $RUNS runs each, interleaved"
WSMAN_BENCH_PASSWORD="$PASSWORD" "$RELEASE/enum-bench" \
    --endpoint "http://127.0.0.1:$PORT/wsman" --baseline "http://$BARE_ADDRESS/wsman" \
    --user "$ACCOUNT" --resource "$URI" --expect "$INSTANCES" --runs "$RUNS" --raw --item "$CLASS"

seconds() {
    local start end
    start="$(date +%s.%N)"
    "$@" >/dev/null
    end="$(date +%s.%N)"
    python3 -c "print($end - $start)"
}
step "winrm enumerate (command line, output formatting included): $RUNS runs"
CLI_TIMES=()
for run in $(seq 1 "$RUNS"); do
    t="$(seconds enumerate)"
    echo "  run $run: ${t}s"
    CLI_TIMES+=("$t")
done
PEAK_RSS_KB="$(awk '/^VmHWM:/ {print $2}' "/proc/$WSMAND_PID/status")"

step "results"
python3 - "$INSTANCES" "$PEAK_RSS_KB" "${CLI_TIMES[*]}" <<'PY'
import statistics, sys
items, peak_kb = int(sys.argv[1]), int(sys.argv[2])
cli = statistics.median(float(x) for x in sys.argv[3].split())
print(f"winrm enumerate median              : {cli * 1000:.0f} ms ({items / cli:.0f} items/s end to end)")
print(f"wsmand peak RSS (VmHWM, whole run)  : {peak_kb / 1024:.1f} MB")
PY
