#!/usr/bin/env bash
# Benchmark: the PowerShell bridge's own cost per pipeline. A round trip of `Write-Output 1`
# (CREATE_PIPELINE to PIPELINE_STATE) through wsmand's PowerShell plug-in with pypsrp, against
# the same script sent straight to the same `pwsh -s` stand-in on its stdin/stdout with
# psrpcore's client classes, in the same run. The stand-in (tests/psrp-standin, PyPI's
# psrpcore) stands for pwsh, which no registry here offers; both cases pay its cost, so the
# difference is the bridge's (WinRM envelopes, HTTP, Command/Receive/Signal, the process
# plumbing). Printed per case: median and p99 milliseconds per pipeline; last line: both and
# the ratio bridge/direct of the medians.
#
#   benches/psrp.sh
#   PSRP_RUNS=500 benches/psrp.sh
#   PSRP_BIN_DIR=/path/to/old/release benches/psrp.sh   (wsmand from there, no build)
#
# Needs root (the bench account's shells run as root). scripts/test.sh runs only its smoke mode:
# figures
# depend on the machine; compare the ratio.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
unit_environment
require_cargo

if [ "$(id -u)" -ne 0 ]; then
    echo "benches/psrp.sh needs root: the bench account runs its shells as root" >&2
    exit 1
fi
RUNS="${PSRP_RUNS:-$(bench_value 200 3)}"
ACCOUNT=psrpbench
PASSWORD="Bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

if [ -n "${PSRP_BIN_DIR:-}" ]; then
    RELEASE="$PSRP_BIN_DIR"
else
    bench_binaries -p wsmand
    RELEASE="$BENCH_BIN"
fi
scratch_dir wsmand-psrp-bench
# `pwsh` on wsmand's PATH: the stand-in.
psrp_standin

step "starting wsmand on loopback (pwsh: the stand-in)"
start_basic_wsmand "$RELEASE" "$WORK/config" "$ACCOUNT" "$PASSWORD" root "$WORK/wsmand.log" \
    "${UNIT_ENV[@]}" "PATH=$WORK/bin:$PATH"
PIDS+=("$WSMAND_PID")
URL="http://127.0.0.1:$PORT/wsman"
echo "wsmand pid $WSMAND_PID on $URL"

step "benchmarks: $RUNS pipelines of Write-Output 1 per case"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
DIRECT="$(.venv/bin/python benches/psrp.py direct --runs "$RUNS")"
echo "direct: $DIRECT"
BRIDGE="$(.venv/bin/python benches/psrp.py bridge --runs "$RUNS" --url "$URL" --user "$ACCOUNT" --password "$PASSWORD")"
echo "bridge: $BRIDGE"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$DIRECT" "$BRIDGE" <<'PY'
import json, sys
direct, bridge = (json.loads(a) for a in sys.argv[1:])
print(f"psrp Write-Output 1 per pipeline: bridge {bridge['median_ms']} ms (p99 {bridge['p99_ms']}), "
      f"direct {direct['median_ms']} ms (p99 {direct['p99_ms']}), "
      f"ratio {bridge['median_ms'] / direct['median_ms']:.2f}")
PY
