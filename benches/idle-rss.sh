#!/usr/bin/env bash
# Benchmark: the resident memory of a started wsmand that has served nothing yet, with one HTTP
# and one HTTPS listener on loopback (a throwaway self-signed certificate) and the allocator
# settings of dist/wsmand.service. Read from /proc/PID/status (VmRSS, RssAnon, RssFile) and
# /proc/PID/smaps two seconds after the listeners accept, then again after one authenticated
# Identify (what the first request brings back in), and once more when the daemon has been
# idle again for 11 s (it gives back what serving made resident 5 to 10 s after its last
# connection closed), for each build named, the builds alternating, IDLE_RSS_RUNS rounds (default 3);
# medians printed per build. The target (issues 14 and 49) is VmRSS <= 8 MB idle, at start and
# after the first requests.
#
#   benches/idle-rss.sh                                  (builds and measures target/release)
#   IDLE_RSS_BIN_DIRS="/old/release target/release" benches/idle-rss.sh   (no build: compare)
#
# scripts/test.sh runs only its smoke mode: figures depend on the machine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
unit_environment

RUNS="${IDLE_RSS_RUNS:-$(bench_value 3 1)}"
command -v openssl >/dev/null 2>&1 || ensure_packages openssl
command -v curl >/dev/null 2>&1 || ensure_packages curl
if [ -n "${IDLE_RSS_BIN_DIRS:-}" ]; then
    read -r -a DIRS <<<"$IDLE_RSS_BIN_DIRS"
else
    bench_binaries -p wsmand
    DIRS=("$BENCH_BIN")
fi

scratch_dir wsmand-rss-bench

listener_certificate listener
ACCOUNT=rssbench
PASSWORD="Bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
IDENTIFY='<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"><s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>'

# kB of a field of /proc/PID/status
status_kb() {
    awk -v key="$2:" '$1 == key {print $2}' "/proc/$1/status"
}

# measure DIR -> prints "vmrss anon file vmrss_after_identify vmrss_idle_again" (kB)
measure() {
    local bin="$1/wsmand" config="$WORK/config-$RANDOM"
    install_listener_certificate listener "$config"
    local http_port https_port
    http_port="$(free_port)"
    https_port="$(free_port)"
    cat >"$config/config.toml" <<TOML
[Config.Service]
AllowUnencrypted = true
[Config.Service.Auth]
Basic = true
[[Listener]]
Address = "IP:127.0.0.1"
Transport = "HTTP"
Port = $http_port
[[Listener]]
Address = "IP:127.0.0.1"
Transport = "HTTPS"
Port = $https_port
CertificateThumbprint = "$THUMBPRINT"
TOML
    printf '%s\n' "$PASSWORD" | WSMAND_CONFIG_DIR="$config" "$bin" account add "$ACCOUNT" --password-stdin >/dev/null
    env "${UNIT_ENV[@]}" "$bin" --config-dir "$config" 2>"$config/wsmand.log" &
    WSMAND_PID=$!
    PIDS=("$WSMAND_PID")
    wait_for_port "$http_port" "$WSMAND_PID" "$config/wsmand.log"
    wait_for_port "$https_port" "$WSMAND_PID" "$config/wsmand.log"
    sleep "$(bench_value 2 0.5)"
    local rss anon file after
    rss="$(status_kb "$WSMAND_PID" VmRSS)"
    anon="$(status_kb "$WSMAND_PID" RssAnon)"
    file="$(status_kb "$WSMAND_PID" RssFile)"
    cp "/proc/$WSMAND_PID/smaps" "$config/smaps.idle"
    curl -s -o /dev/null -u "$ACCOUNT:$PASSWORD" -H 'Content-Type: application/soap+xml;charset=UTF-8' \
        --data-binary "$IDENTIFY" "http://127.0.0.1:$http_port/wsman"
    after="$(status_kb "$WSMAND_PID" VmRSS)"
    sleep "$(bench_value 11 0.5)"
    idle_again="$(status_kb "$WSMAND_PID" VmRSS)"
    kill -TERM "$WSMAND_PID"
    wait "$WSMAND_PID" 2>/dev/null || true
    PIDS=()
    echo "$rss $anon $file $after $idle_again"
    # The largest resident mappings, for the record.
    awk '/^[0-9a-f]+-[0-9a-f]+ / {name = ($6 == "" ? "[anon]" : $6); perms = $2}
         /^Rss:/ {rss[name " " perms] += $2}
         END {for (k in rss) if (rss[k] >= 200) printf "    %6d kB  %s\n", rss[k], k}' \
        "$config/smaps.idle" | sort -rn | head -8 >&2
}

declare -A RESULTS
for round in $(seq 1 "$RUNS"); do
    for dir in "${DIRS[@]}"; do
        echo "round $round: $dir" >&2
        line="$(measure "$dir")"
        RESULTS["$dir"]+="$line;"
    done
done

step "idle RSS, one HTTP and one HTTPS listener, 2 s after start (medians of $RUNS; load $(cut -d' ' -f1-3 /proc/loadavg))"
for dir in "${DIRS[@]}"; do
    python3 - "$dir" "${RESULTS[$dir]}" <<'PY'
import statistics, sys
rows = [list(map(int, r.split())) for r in sys.argv[2].split(";") if r.strip()]
med = [statistics.median(col) / 1024 for col in zip(*rows)]
runs = ", ".join(f"{r[0] / 1024:.1f}" for r in rows)
verdict = "met" if med[0] <= 8 and med[4] <= 8 else "MISSED"
print(f"{sys.argv[1]}: VmRSS {med[0]:.1f} MB (runs {runs}; anonymous {med[1]:.2f} MB, "
      f"file {med[2]:.2f} MB), after one Identify {med[3]:.1f} MB, idle again {med[4]:.1f} MB; "
      f"<= 8 MB idle {verdict}")
PY
done
