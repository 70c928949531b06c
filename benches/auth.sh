#!/usr/bin/env bash
# Benchmark: authentication schemes and MS-WSMV message encryption through the client library
# (benches/auth-bench) against wsmand, every figure next to Basic over HTTPS from the same run:
#   (1) authenticated Identify on kept-alive connections, after the handshake: req/s and p50 on
#       1 and on N concurrent connections, and the one-time handshake cost of a new connection;
#   (2) stdout streaming of `head -c 256M /dev/zero` through Receive, MiB/s.
# Cases: NTLM sealed over HTTP, NTLM unsealed over HTTP (AllowUnencrypted), NTLM over HTTPS
# (channel-bound), Basic over HTTP and the baseline, Basic over HTTPS. Each measurement runs 3
# times, cases interleaved; medians are printed with the load average.
#
#   benches/auth.sh
#   AUTH_BENCH_ARGS="--runs 5 --seconds 5 --connections 32 --bytes 1G" benches/auth.sh
#   AUTH_BENCH_ARGS="--only identify --cases basic-https,ntlm-sealed-http" benches/auth.sh
#
# One account serves every scheme: `wsmand account add NAME --ntlm` (argon2id hash for Basic,
# NT hash for NTLM), run-as root for the shells, so this needs root. The HTTPS listener uses a
# throwaway self-signed ECDSA P-256 certificate (the kind wsmand generates itself). The daemon
# runs with the allocator settings of dist/wsmand.service. scripts/test.sh runs only its smoke mode:
# figures depend on the machine; compare ratios.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
unit_environment
require_cargo

if [ "$(id -u)" -ne 0 ]; then
    echo "benches/auth.sh needs root: the bench account runs its shells as root" >&2
    exit 1
fi
command -v python3 >/dev/null 2>&1 || ensure_packages python3
command -v openssl >/dev/null 2>&1 || ensure_packages openssl

ACCOUNT=authbench
PASSWORD="bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

bench_binaries -p wsmand -p auth-bench
RELEASE="$BENCH_BIN"

WORK="$(mktemp -d -t wsmand-auth-bench-XXXXXX)"
WSMAND_PID=""
cleanup() {
    if [ -n "$WSMAND_PID" ] && kill -0 "$WSMAND_PID" 2>/dev/null; then
        kill -TERM "$WSMAND_PID" 2>/dev/null || true
        wait "$WSMAND_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

step "configuring wsmand (HTTP + HTTPS listeners, an NTLM-enabled account)"
CONFIG="$WORK/config"
mkdir -p "$CONFIG/certs"
listener_certificate listener
install_listener_certificate listener "$CONFIG"
HTTP_PORT="$(free_port)"
HTTPS_PORT="$(free_port)"
# AllowUnencrypted so that the unsealed NTLM and Basic-over-HTTP cases are allowed; a client
# that seals is answered sealed regardless.
cat >"$CONFIG/config.toml" <<TOML
[Config.Service]
AllowUnencrypted = true
[Config.Service.Auth]
Basic = true
Negotiate = true
[[Listener]]
Address = "IP:127.0.0.1"
Transport = "HTTP"
Port = $HTTP_PORT
[[Listener]]
Address = "IP:127.0.0.1"
Transport = "HTTPS"
Port = $HTTPS_PORT
CertificateThumbprint = "$THUMBPRINT"
TOML
printf '%s\n' "$PASSWORD" | WSMAND_CONFIG_DIR="$CONFIG" "$RELEASE/wsmand" account add "$ACCOUNT" \
    --password-stdin --ntlm --run-as root >/dev/null

step "starting wsmand on loopback"
env "${UNIT_ENV[@]}" \
    "$RELEASE/wsmand" --config-dir "$CONFIG" 2>"$WORK/wsmand.log" &
WSMAND_PID=$!
wait_for_port "$HTTP_PORT" "$WSMAND_PID" "$WORK/wsmand.log"
wait_for_port "$HTTPS_PORT" "$WSMAND_PID" "$WORK/wsmand.log"
echo "wsmand pid $WSMAND_PID on 127.0.0.1:$HTTP_PORT (HTTP) and 127.0.0.1:$HTTPS_PORT (HTTPS)"

step "benchmarks"
# shellcheck disable=SC2086 # AUTH_BENCH_ARGS is a list of switches
WSMAN_BENCH_PASSWORD="$PASSWORD" "$RELEASE/auth-bench" \
    --http "http://127.0.0.1:$HTTP_PORT/wsman" --https "https://127.0.0.1:$HTTPS_PORT/wsman" \
    --ca-file "$CONFIG/certs/$THUMBPRINT.crt" --user "$ACCOUNT" --daemon-pid "$WSMAND_PID" \
    ${AUTH_BENCH_ARGS:-$(bench_value "" "--runs 1 --seconds 0.2 --connections 2 --handshakes 2 --bytes 1M")}

step "stopping wsmand"
kill -TERM "$WSMAND_PID"
wait "$WSMAND_PID" || { echo "wsmand exited with status $?; its log is below" >&2; tail -20 "$WORK/wsmand.log" >&2; }
WSMAND_PID=""
