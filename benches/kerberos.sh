#!/usr/bin/env bash
# Benchmark: Identify over a Kerberos-sealed keep-alive connection vs Basic over HTTPS, in the
# same run, through the client library (benches/auth-bench, cases `kerberos-sealed-http` and
# `basic-https`) against wsmand. Kerberos needs a realm: a throwaway MIT KDC on 127.0.0.1
# (scripts/kdc.sh) whose keytab becomes wsmand's DIR/krb5.keytab; the client authenticates
# from the realm's credential cache as wsmankrb@WSMAN.TEST, to HTTP/localhost. Reported: req/s
# and p50 on 1 and N kept-alive connections after the handshake, and the handshake cost of a
# new connection, each as the median of 3 runs with the ratio to Basic over HTTPS.
#
#   benches/kerberos.sh
#   AUTH_BENCH_ARGS="--runs 5 --seconds 5 --connections 32" benches/kerberos.sh
#
# Needs krb5-kdc, krb5-admin-server and krb5-user (scripts/lib.sh installs them as root). scripts/test.sh runs only its
# smoke mode: figures depend on the machine; compare ratios.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
unit_environment
require_cargo
command -v python3 >/dev/null 2>&1 || ensure_packages python3
command -v openssl >/dev/null 2>&1 || ensure_packages openssl
export PATH="$PATH:/usr/sbin:/sbin"
command -v krb5kdc >/dev/null 2>&1 || ensure_packages krb5-kdc krb5-admin-server krb5-user

ACCOUNT=kerbbench
PASSWORD="bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

bench_binaries -p wsmand -p auth-bench
RELEASE="$BENCH_BIN"

WORK="$(mktemp -d -t wsmand-kerberos-bench-XXXXXX)"
WSMAND_PID=""
cleanup() {
    if [ -n "$WSMAND_PID" ] && kill -0 "$WSMAND_PID" 2>/dev/null; then
        kill -TERM "$WSMAND_PID" 2>/dev/null || true
        wait "$WSMAND_PID" 2>/dev/null || true
    fi
    bash "$ROOT/scripts/kdc.sh" stop "$WORK/kdc" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

step "starting a throwaway realm (WSMAN.TEST on 127.0.0.1)"
bash "$ROOT/scripts/kdc.sh" start "$WORK/kdc"
# shellcheck disable=SC1091 # written by kdc.sh
source "$WORK/kdc/env"

step "configuring wsmand (HTTP + HTTPS listeners, a Basic account, the realm's keytab)"
CONFIG="$WORK/config"
mkdir -p "$CONFIG/certs"
listener_certificate listener
install_listener_certificate listener "$CONFIG"
install -m 0600 "$WSMAN_KRB5_KEYTAB" "$CONFIG/krb5.keytab"
HTTP_PORT="$(free_port)"
HTTPS_PORT="$(free_port)"
cat >"$CONFIG/config.toml" <<TOML
[Config.Service]
AllowUnencrypted = false
[Config.Service.Auth]
Basic = true
Kerberos = true
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
    --password-stdin >/dev/null

step "starting wsmand on loopback"
env "${UNIT_ENV[@]}" \
    "$RELEASE/wsmand" --config-dir "$CONFIG" 2>"$WORK/wsmand.log" &
WSMAND_PID=$!
wait_for_port "$HTTP_PORT" "$WSMAND_PID" "$WORK/wsmand.log"
wait_for_port "$HTTPS_PORT" "$WSMAND_PID" "$WORK/wsmand.log"
grep -q "Kerberos on" "$WORK/wsmand.log" || { echo "wsmand did not load the keytab:" >&2; cat "$WORK/wsmand.log" >&2; exit 1; }
echo "wsmand pid $WSMAND_PID on 127.0.0.1:$HTTP_PORT (HTTP) and 127.0.0.1:$HTTPS_PORT (HTTPS)"

step "benchmarks"
# shellcheck disable=SC2086 # AUTH_BENCH_ARGS is a list of switches
WSMAN_BENCH_PASSWORD="$PASSWORD" "$RELEASE/auth-bench" \
    --http "http://127.0.0.1:$HTTP_PORT/wsman" --https "https://127.0.0.1:$HTTPS_PORT/wsman" \
    --kerberos-http "http://localhost:$HTTP_PORT/wsman" \
    --ca-file "$CONFIG/certs/$THUMBPRINT.crt" --user "$ACCOUNT" --daemon-pid "$WSMAND_PID" \
    --only identify --cases basic-https,kerberos-sealed-http \
    ${AUTH_BENCH_ARGS:-$(bench_value "" "--runs 1 --seconds 0.2 --connections 2 --handshakes 2")}

step "stopping wsmand"
kill -TERM "$WSMAND_PID"
wait "$WSMAND_PID" || { echo "wsmand exited with status $?; its log is below" >&2; tail -20 "$WORK/wsmand.log" >&2; }
WSMAND_PID=""
