#!/usr/bin/env bash
# The start command: installs what is missing, builds, configures a secure default and runs
# wsmand in the foreground.
#
#   scripts/start.sh             # as root: foreground (Ctrl+C stops it)
#   scripts/start.sh --systemd   # as root: install binaries + systemd unit, enable and start it
#   scripts/start.sh --console [--systemd]
#                                # the same, plus the web console (wsmand-mgmt, port 8172,
#                                # loopback only) managing this host; prints its URL and account
#
# Environment: WSMAND_CONFIG_DIR (default /etc/wsmand); WSMAND_BIN_DIR=DIR uses the wsmand,
# winrm and wsmand-mgmt already built in DIR (a debug build, a CI artefact) instead of building;
# WSMAND_KAFKA=1 builds the collector's Kafka output too (librdkafka: about 2 minutes more).
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

CONFIG_DIR="${WSMAND_CONFIG_DIR:-/etc/wsmand}"
ADMIN_GROUP=wsmand-admins
# Windows' WinRMRemoteWMIUsers__: its members may use the CIM classes (the WMI plug-in's
# default descriptor admits them), nothing else.
WMI_GROUP=wsmand-wmi-users
# Windows' Remote Management Users: its members may open PowerShell sessions (the PowerShell
# plug-in's default descriptor admits them).
REMOTE_GROUP=wsmand-remote-users
# Windows' Event Log Readers: its members may search the collector's event store (the store's
# default descriptor admits them, besides the administrators).
EVENT_READERS_GROUP=wsmand-event-readers
MODE=foreground
CONSOLE=no
for arg in "$@"; do
    case "$arg" in
        --systemd) MODE=systemd ;;
        --console) CONSOLE=yes ;;
        -h|--help)
            sed -n '2,18p' "$0"
            exit 0
            ;;
        *)
            echo "usage: $0 [--systemd] [--console]" >&2
            exit 2
            ;;
    esac
done

# The console's part: its system user, and a first mgmt.toml managing this host's wsmand
# through an account of its own (a random password in a 0600 file), shown to the members of
# the admin group. An existing mgmt.toml is kept as it is.
configure_console() {
    step "configuring the console (wsmand-mgmt)"
    getent passwd wsmand-mgmt >/dev/null || useradd --system --user-group --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin wsmand-mgmt
    local settings="$CONFIG_DIR/mgmt.toml" password_file="$CONFIG_DIR/hosts/local.pass"
    if [ -e "$settings" ]; then
        echo "$settings exists; keeping it"
        return
    fi
    install -d -m 0700 "$CONFIG_DIR/hosts"
    (umask 077 && head -c 32 /dev/urandom | base64 | tr -d '/+=\n' >"$password_file")
    "$WSMAND" --config-dir "$CONFIG_DIR" account add console-local --password-stdin \
        --run-as root <"$password_file"
    cat >"$settings" <<TOML
# The management service (wsmand-mgmt): every setting has its default (loopback only,
# port 8172, OS logins of the $ADMIN_GROUP group); see docs/management-service.md.

# This host's wsmand, reached as the account console-local (a wsmand account run as root),
# by the name its self-signed certificate holds.
[[Host]]
Name = "local"
Url = "https://$(hostname):$PORT/wsman"
Username = "console-local"
PasswordFile = "$password_file"
SkipCaCheck = true   # the listener's certificate is self-signed

# Members of $ADMIN_GROUP may do everything on every host.
[[Role]]
Name = "admins"
Members = ["os-group:$ADMIN_GROUP"]
[[Role.Rule]]
Effect = "Allow"
Hosts = ["*"]
Resources = ["*"]
Actions = ["read", "change", "shell", "update", "reboot"]
TOML
    chmod 0644 "$settings"
}

console_info() {
    cat <<INFO
The console (wsmand-mgmt) manages this host as "local".

  URL:      https://127.0.0.1:8172/   (loopback only; self-signed certificate: compare the
            fingerprint it prints at start; remote: wsmand mgmt set EnableRemoteManagement true)
  Account:  a Linux account in the "$ADMIN_GROUP" group, with its own password
              usermod -aG $ADMIN_GROUP alice
            (or a manager user: wsmand mgmt user add NAME --password-stdin, then
             wsmand mgmt set Credentials os+manager)
  Settings: $CONFIG_DIR/mgmt.toml; docs/management-service.md

INFO
}

if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/start.sh configures $CONFIG_DIR and /etc/pam.d/wsmand: run it as root (sudo)." >&2
    exit 1
fi

if [ -n "${WSMAND_BIN_DIR:-}" ]; then
    BIN_DIR="$(cd "$WSMAND_BIN_DIR" && pwd)"
    step "using the binaries in $BIN_DIR (WSMAND_BIN_DIR; not building)"
else
    require_cargo
    # libsystemd-dev: the in-process journal reader (wsman-os links libsystemd).
    # libkrb5-dev + libclang-dev: wsman-gss's default `kerberos` feature (GSS-API via libgssapi-sys).
    ensure_packages libpam0g-dev libsystemd-dev pkg-config gcc libc6-dev libkrb5-dev libclang-dev

    PACKAGES=(-p wsmand -p winrm)
    [ "$CONSOLE" = yes ] && PACKAGES+=(-p wsmand-mgmt)
    # The `local` profile: optimised at level 1, without LTO (Cargo.toml says why); packages
    # and benchmarks build `release`. The collector's Kafka output (librdkafka, built from
    # source: a quarter of this build) only with WSMAND_KAFKA=1; without it a subscription
    # naming a Kafka output is refused with a message saying so.
    FEATURES=(--no-default-features)
    [ "${WSMAND_KAFKA:-0}" = 1 ] && FEATURES=()
    step "building ${PACKAGES[*]//-p /} (profile local${FEATURES:+, without the Kafka output: WSMAND_KAFKA=1 adds it})"
    cargo build --profile local "${FEATURES[@]}" "${PACKAGES[@]}"
    BIN_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/local"
fi
WSMAND="$BIN_DIR/wsmand"
WINRM="$BIN_DIR/winrm"
WSMAND_MGMT="$BIN_DIR/wsmand-mgmt"
NEEDED=("$WSMAND" "$WINRM")
[ "$CONSOLE" = yes ] && NEEDED+=("$WSMAND_MGMT")
for binary in "${NEEDED[@]}"; do
    [ -x "$binary" ] || { echo "$binary is missing" >&2; exit 1; }
done

ensure_pam_service
getent group "$ADMIN_GROUP" >/dev/null || groupadd --system "$ADMIN_GROUP"
getent group "$WMI_GROUP" >/dev/null || groupadd --system "$WMI_GROUP"
getent group "$REMOTE_GROUP" >/dev/null || groupadd --system "$REMOTE_GROUP"
getent group "$EVENT_READERS_GROUP" >/dev/null || groupadd --system "$EVENT_READERS_GROUP"
install -d -m 0755 "$CONFIG_DIR"

if [ "$MODE" = systemd ]; then
    # Installed before quickconfig, so that quickconfig enables and starts the unit itself.
    step "installing /usr/local/bin/{wsmand,winrm} and /etc/systemd/system/wsmand.service"
    install -m 0755 "$WSMAND" "$WINRM" /usr/local/bin/
    install -m 0644 dist/wsmand.service /etc/systemd/system/wsmand.service
    if [ "$CONSOLE" = yes ]; then
        install -m 0755 "$WSMAND_MGMT" /usr/local/bin/
        install -m 0644 dist/wsmand-mgmt.service /etc/systemd/system/wsmand-mgmt.service
        WSMAND_MGMT=/usr/local/bin/wsmand-mgmt
    fi
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

if [ "$CONSOLE" = yes ]; then
    configure_console
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
    or, for the CIM classes only (monitoring; Windows' WinRMRemoteWMIUsers__), a member of
    "$WMI_GROUP" (usermod -aG $WMI_GROUP monitor; winrm configSDDL wmi/root/cimv2 to narrow it)
    or, to search a collector's event store only (Windows' Event Log Readers), a member of
    "$EVENT_READERS_GROUP" (usermod -aG $EVENT_READERS_GROUP analyst)
  * or a service account that exists only in wsmand (like IIS "manager credentials"):
      $WSMAND --config-dir $CONFIG_DIR account add NAME --password-stdin --run-as LINUXUSER
    (reads the password from stdin; --run-as root or a $ADMIN_GROUP member makes it an administrator)

Connect:
  winrm identify -r:https://$HOST:$PORT/wsman -u:alice -p:PASSWORD -a:Basic -skipCAcheck -skipCNcheck
  python: winrm.Session('https://$HOST:$PORT/wsman', auth=('alice', 'PASSWORD'), transport='basic', server_cert_validation='ignore')
          pypsrp.wsman.WSMan('$HOST', port=$PORT, ssl=True, auth='basic', username='alice', password='PASSWORD', cert_validation=False)

INFO

if [ "$CONSOLE" = yes ]; then
    console_info
fi

if [ "$MODE" = systemd ]; then
    systemctl --no-pager status wsmand.service || true
    echo "logs: journalctl -u wsmand"
    if [ "$CONSOLE" = yes ]; then
        systemctl enable --now wsmand-mgmt.service
        echo "console logs: journalctl -u wsmand-mgmt"
    fi
    exit 0
fi

if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet wsmand.service 2>/dev/null; then
    echo "wsmand is already running under systemd (systemctl status wsmand); not starting a second copy."
    exit 0
fi

if [ "$CONSOLE" = yes ]; then
    # Both in the foreground: wsmand (the console's host) in the background of this shell,
    # the console in front; Ctrl+C ends the console, and the trap ends wsmand with it and
    # waits for it (a background job of a script ignores Ctrl+C's SIGINT itself), so that
    # nothing runs on once the prompt is back.
    step "running wsmand and the console in the foreground (Ctrl+C to stop; logs on stderr)"
    "$WSMAND" --config-dir "$CONFIG_DIR" &
    WSMAND_PID=$!
    stop_wsmand() {
        kill "$WSMAND_PID" 2>/dev/null || true
        wait "$WSMAND_PID" 2>/dev/null || true
    }
    trap stop_wsmand EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    "$WSMAND_MGMT" --config-dir "$CONFIG_DIR" --run-as wsmand-mgmt
    exit $?
fi

step "running wsmand in the foreground (Ctrl+C to stop; logs on stderr)"
exec "$WSMAND" --config-dir "$CONFIG_DIR"
