#!/usr/bin/env bash
# The start command: installs what is missing, builds, configures a secure default and runs
# wsmand in the foreground.
#
#   scripts/start.sh             # as root: foreground (Ctrl+C stops it)
#   scripts/start.sh --systemd   # as root: install binaries + systemd unit, enable and start it
#
# What "secure default" means here: one HTTPS listener on port 5986 (all addresses) with a
# self-signed certificate stored under /etc/wsmand/certs; Basic authentication over TLS only
# (AllowUnencrypted stays false, so no plain-HTTP logins); Linux accounts through PAM service
# `wsmand`; only root and members of `wsmand-admins` may change configuration.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
require_cargo

CONFIG_DIR="${WSMAND_CONFIG_DIR:-/etc/wsmand}"
ADMIN_GROUP=wsmand-admins
MODE=foreground
case "${1:-}" in
    "") ;;
    --systemd) MODE=systemd ;;
    -h|--help)
        sed -n '2,12p' "$0"
        exit 0
        ;;
    *)
        echo "usage: $0 [--systemd]" >&2
        exit 2
        ;;
esac

if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/start.sh configures $CONFIG_DIR and /etc/pam.d/wsmand: run it as root (sudo)." >&2
    exit 1
fi

# libsystemd-dev: the in-process journal reader (wsman-os links libsystemd).
# libkrb5-dev + libclang-dev: wsman-gss's default `kerberos` feature (GSS-API via libgssapi-sys).
ensure_packages libpam0g-dev libsystemd-dev pkg-config gcc libc6-dev libkrb5-dev libclang-dev

step "building wsmand and winrm (release)"
cargo build --release -p wsmand -p winrm
WSMAND="$ROOT/target/release/wsmand"
WINRM="$ROOT/target/release/winrm"

ensure_pam_service
getent group "$ADMIN_GROUP" >/dev/null || groupadd --system "$ADMIN_GROUP"
install -d -m 0755 "$CONFIG_DIR"

if [ "$MODE" = systemd ]; then
    # Installed before quickconfig, so that quickconfig enables and starts the unit itself.
    step "installing /usr/local/bin/{wsmand,winrm} and /etc/systemd/system/wsmand.service"
    install -m 0755 "$WSMAND" "$WINRM" /usr/local/bin/
    install -m 0644 dist/wsmand.service /etc/systemd/system/wsmand.service
    systemctl daemon-reload
    WSMAND=/usr/local/bin/wsmand
    WINRM=/usr/local/bin/winrm
fi

step "configuring an HTTPS listener (winrm quickconfig -q -transport:https)"
listeners="$("$WINRM" enumerate winrm/config/listener --config-dir "$CONFIG_DIR" 2>/dev/null || true)"
if printf '%s\n' "$listeners" | grep -q 'Transport = HTTPS'; then
    echo "an HTTPS listener already exists in $CONFIG_DIR; keeping it"
else
    "$WINRM" quickconfig -q -transport:https --config-dir "$CONFIG_DIR"
    listeners="$("$WINRM" enumerate winrm/config/listener --config-dir "$CONFIG_DIR")"
fi

# The first HTTPS listener's port and thumbprint, from winrm's text output.
read -r PORT THUMBPRINT < <(printf '%s\n' "$listeners" | awk '
    function emit() { if (https && !done) { print port, thumb; done = 1 } }
    /^Listener/ { emit(); https = 0; port = ""; thumb = "" }
    /^ *Transport = HTTPS *$/ { https = 1 }
    /^ *Port = / { port = $3 }
    /^ *CertificateThumbprint = / { thumb = $3 }
    END { emit() }') || true
PORT="${PORT:-5986}"
if [ -z "$THUMBPRINT" ]; then
    THUMBPRINT="$(basename "$(ls "$CONFIG_DIR"/certs/*.crt 2>/dev/null | head -n1)" .crt 2>/dev/null || true)"
fi
HOST="$(hostname -f 2>/dev/null || hostname)"

if [ "$MODE" = systemd ]; then
    systemctl enable --now wsmand.service
fi

cat <<INFO

wsmand is configured.

  URL:                     https://$HOST:$PORT/wsman
  Certificate thumbprint:  ${THUMBPRINT:-"(see $CONFIG_DIR/certs)"}   (self-signed: clients must skip CA/CN checks or trust it)
  Config dir:              $CONFIG_DIR

Which account to use:
  * any Linux account, checked through PAM (service "wsmand"). Identify works for every user;
    everything else needs an administrator: root or a member of the "$ADMIN_GROUP" group
      usermod -aG $ADMIN_GROUP alice
  * or a service account that exists only in wsmand (like IIS "manager credentials"):
      $WSMAND --config-dir $CONFIG_DIR account add NAME --password-stdin --run-as LINUXUSER
    (reads the password from stdin; --run-as root or a $ADMIN_GROUP member makes it an administrator)

Connect:
  winrm identify -r:https://$HOST:$PORT/wsman -u:alice -p:PASSWORD -a:Basic -skipCAcheck -skipCNcheck
  python: winrm.Session('https://$HOST:$PORT/wsman', auth=('alice', 'PASSWORD'), transport='basic', server_cert_validation='ignore')
          pypsrp.wsman.WSMan('$HOST', port=$PORT, ssl=True, auth='basic', username='alice', password='PASSWORD', cert_validation=False)

INFO

if [ "$MODE" = systemd ]; then
    systemctl --no-pager status wsmand.service || true
    echo "logs: journalctl -u wsmand"
    exit 0
fi

if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet wsmand.service 2>/dev/null; then
    echo "wsmand is already running under systemd (systemctl status wsmand); not starting a second copy."
    exit 0
fi

step "running wsmand in the foreground (Ctrl+C to stop; logs on stderr)"
exec "$WSMAND" --config-dir "$CONFIG_DIR"
