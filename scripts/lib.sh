# Shared functions for scripts/start.sh, scripts/test.sh and the scripts in benches/. Sourced, not run.

# Print a step header.
step() {
    printf '\n==> %s\n' "$*"
}

# A free TCP port on 127.0.0.1 (the kernel's pick, released at once).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# The environment of dist/wsmand.service (its Environment= line: the allocator settings), so
# that benches run the daemon as it is deployed; one NAME=VALUE per element, for `env`.
#   unit_environment; env "${UNIT_ENV[@]}" wsmand ...
unit_environment() {
    local unit
    unit="$(dirname "${BASH_SOURCE[0]}")/../dist/wsmand.service"
    # shellcheck disable=SC2207 # the line is NAME=VALUE words without spaces inside
    UNIT_ENV=($(sed -n 's/^Environment=//p' "$unit"))
    [ "${#UNIT_ENV[@]}" -gt 0 ] || { echo "no Environment= line in $unit" >&2; exit 1; }
}

# Wait until 127.0.0.1:PORT accepts connections. Exits the script, printing LOG files, when
# PID (the server meant to listen there) exits first or after 30 s.
#   wait_for_port PORT PID LOG...
wait_for_port() {
    local port="$1" pid="$2" tries=0
    shift 2
    until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || { echo "process $pid exited; its log:" >&2; cat "$@" >&2 || true; exit 1; }
        tries=$((tries + 1))
        [ "$tries" -lt 300 ] || { echo "port $port never opened" >&2; exit 1; }
        sleep 0.1
    done
}

# A throwaway sshd on loopback, the benchmarks' baseline: keys in DIR (made once, the host key
# and a client key root logs in with), the server on a free 127.0.0.1 port with key login as
# root only and no PAM, its config DIR/sshd_config.NAME and its log DIR/sshd.NAME.log. Sets
# SSHD_PORT, SSHD_PID and SSH_CLIENT (the ssh command line to it, a command to follow);
# returns once it listens.
#   start_throwaway_sshd DIR NAME
start_throwaway_sshd() {
    local dir="$1" name="$2"
    mkdir -p "$dir" /run/sshd
    chmod 0700 "$dir"
    if [ ! -f "$dir/host_key" ]; then
        ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key"
        ssh-keygen -q -t ed25519 -N '' -f "$dir/client_key"
        install -m 0600 "$dir/client_key.pub" "$dir/authorized_keys"
    fi
    SSHD_PORT="$(free_port)"
    cat >"$dir/sshd_config.$name" <<CONF
ListenAddress 127.0.0.1
Port $SSHD_PORT
HostKey $dir/host_key
PidFile none
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
# The throwaway files live under /tmp, which is world-writable.
StrictModes no
CONF
    /usr/sbin/sshd -D -e -f "$dir/sshd_config.$name" 2>"$dir/sshd.$name.log" &
    SSHD_PID=$!
    wait_for_port "$SSHD_PORT" "$SSHD_PID" "$dir/sshd.$name.log"
    SSH_CLIENT=(ssh -q -T -p "$SSHD_PORT" -i "$dir/client_key" -o BatchMode=yes
        -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null root@127.0.0.1)
}

# Start BIN/wsmand for a benchmark: CONFIG gets a config with Basic over HTTP on a free
# 127.0.0.1 port (and a client section that allows it) and the service account ACCOUNT with
# PASSWORD, running as RUN_AS; wsmand's stderr goes to LOG. Further arguments are NAME=VALUE
# settings added to wsmand's environment. Sets PORT and WSMAND_PID; returns once it listens.
#   start_basic_wsmand BIN CONFIG ACCOUNT PASSWORD RUN_AS LOG [NAME=VALUE...]
start_basic_wsmand() {
    local bin="$1" config="$2" account="$3" password="$4" run_as="$5" log="$6"
    shift 6
    mkdir -p "$config"
    PORT="$(free_port)"
    cat >"$config/config.toml" <<TOML
[Config.Client]
AllowUnencrypted = true
TrustedHosts = "127.0.0.1,localhost"
[Config.Service]
AllowUnencrypted = true
[Config.Service.Auth]
Basic = true
[[Listener]]
Address = "IP:127.0.0.1"
Transport = "HTTP"
Port = $PORT
TOML
    printf '%s\n' "$password" | WSMAND_CONFIG_DIR="$config" "$bin/wsmand" account add "$account" \
        --password-stdin --run-as "$run_as" >/dev/null
    env "$@" "$bin/wsmand" --config-dir "$config" 2>"$log" &
    WSMAND_PID=$!
    wait_for_port "$PORT" "$WSMAND_PID" "$log"
}

# Debian packages this project needs: libpam0g-dev (PAM headers for wsman-os), libsystemd-dev
# (sd-journal, which wsman-os links for the in-process journal reader), pkg-config,
# curl (bad-input tests), wrk (benchmark), python3-venv (interop tests), a C compiler (ring),
# the MIT KDC and tools for the throwaway test realm (scripts/kdc.sh), libkrb5-dev + libclang-dev
# to build wsman-gss's `kerberos` feature (libgssapi-sys runs bindgen), and python3-dev for the
# interop tests' Kerberos clients (pykerberos, gssapi build against libkrb5-dev), and debootstrap
# for the root file system the systemd tests boot in (scripts/sysroot.sh); chromium and nodejs
# for the console's browser test (tests/browser; npm is installed by that stage if missing);
# make, libssl-dev and zlib1g-dev to build the collector's vendored librdkafka (rdkafka-sys:
# its configure and make, TLS through OpenSSL, gzip through zlib); rsyslog with its TLS and RELP
# inputs, the receivers of the collector's syslog output tests (run as child processes with their
# own configuration; syslog-ng, which conflicts with rsyslog, is unpacked by scripts/syslog-ng.sh);
# rpm (rpmbuild, rpm2cpio), cpio, bzip2 and rpmlint for the rpm packages (scripts/rpm.sh), and
# the reference policy's headers and modules with the SELinux tools (selinux-policy-dev,
# selinux-policy-default, checkpolicy, semodule-utils, setools, policycoreutils' semodule and
# selinux-utils' matchpathcon, on a copy of the policy store) to compile and analyse their
# SELinux module, python3-firewall, firewalld's own reader of its service files, without
# the service (crates/wsman-test/tests/rpm_package.rs), and libfaketime, preloaded into one
# collector to step its wall clock back (the collector's fault tests and benches/faults.sh).
REQUIRED_PACKAGES=(libpam0g-dev libsystemd-dev pkg-config curl wrk python3-venv python3-dev gcc libc6-dev binutils
    make libssl-dev zlib1g-dev dpkg-dev lintian
    krb5-kdc krb5-admin-server krb5-user libkrb5-dev libclang-dev debootstrap iproute2
    systemd-journal-remote tzdata openipmi ipmitool wsl uuid-runtime dmidecode tmux vim
    chromium nodejs nftables postgresql redis-server strace haproxy
    golang-go golang-github-masterzen-winrm-dev rsyslog rsyslog-gnutls rsyslog-relp libfaketime
    rpm cpio bzip2 rpmlint selinux-policy-dev selinux-policy-default checkpolicy semodule-utils setools
    policycoreutils selinux-utils python3-firewall packagekit packagekit-tools polkitd dbus-daemon
    dbus-bin)

# A benchmark's smoke mode (WSMAN_BENCH_SMOKE=1, the "benchmarks smoke" stage of
# scripts/test.sh): tiny sizes and short phases on the debug build, peers that are not installed
# left out. Its figures mean nothing; it proves that the script still runs its real path against
# the daemon, so a change that breaks a benchmark fails the test command.
smoke_mode() {
    [ "${WSMAN_BENCH_SMOKE:-0}" = 1 ]
}

# The default of a size or duration: SMOKE in smoke mode, else FULL.
#   EVENTS="${BENCH_EVENTS:-$(bench_value 20000 200)}"
bench_value() {
    if smoke_mode; then echo "$2"; else echo "$1"; fi
}

# Sets BENCH_BIN to the directory of the binaries a benchmark runs: WSMAN_BENCH_BIN_DIR when set
# (built already); in smoke mode the debug build, which must exist (a release build would take
# minutes); else a release build of what the arguments name (cargo's `-p PACKAGE`, `--features`).
#   bench_binaries -p wsmand -p winrs
bench_binaries() {
    if [ -n "${WSMAN_BENCH_BIN_DIR:-}" ]; then
        BENCH_BIN="$WSMAN_BENCH_BIN_DIR"
    elif smoke_mode; then
        BENCH_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug"
    else
        require_cargo
        step "building release binaries ($*)"
        cargo build --release "$@"
        BENCH_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
        return 0
    fi
    [ -x "$BENCH_BIN/wsmand" ] || {
        echo "no $BENCH_BIN/wsmand: build the workspace first (cargo build --workspace --bins)" >&2
        exit 1
    }
}

# Makes $WORK, a scratch directory named after $1, and $PIDS, the processes a benchmark
# starts; at exit every one of them gets SIGTERM and is reaped, then $WORK is removed. One
# definition, so no benchmark leaves a daemon behind when it fails half-way.
scratch_dir() {
    WORK="$(mktemp -d -t "$1-XXXXXX")"
    PIDS=()
    trap cleanup_scratch EXIT
}

cleanup_scratch() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}

# open_fds PID: how many descriptors PID has open now (fails once PID is gone).
open_fds() {
    find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l
}

# pypsrp and psrpcore in $ROOT/.venv (tests/interop/requirements.txt, installed when missing),
# and `pwsh` in $WORK/bin: the stand-in of tests/psrp-standin run by the venv's Python, for
# wsmand's PATH (pwsh itself is offered by no registry here). Needs ROOT and WORK (scratch_dir).
psrp_standin() {
    if ! "$ROOT/.venv/bin/python" -c 'import pypsrp, psrpcore' 2>/dev/null; then
        step "python venv with pypsrp and psrpcore (tests/interop/requirements.txt)"
        [ -x "$ROOT/.venv/bin/python" ] || python3 -m venv "$ROOT/.venv"
        "$ROOT/.venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            -r "$ROOT/tests/interop/requirements.txt"
    fi
    mkdir -p "$WORK/bin"
    cat >"$WORK/bin/pwsh" <<SH
#!/bin/sh
exec "$ROOT/.venv/bin/python" "$ROOT/tests/psrp-standin/pwsh_standin.py" "\$@"
SH
    chmod 0755 "$WORK/bin/pwsh"
}

# A self-signed listener certificate for 127.0.0.1 (ECDSA P-256, as wsmand makes its own) in
# $WORK/$1.crt and $WORK/$1.key; sets THUMBPRINT, the name wsmand's certs directory files it by.
listener_certificate() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
        -addext "basicConstraints=critical,CA:FALSE" -addext "keyUsage=critical,digitalSignature" \
        -addext "extendedKeyUsage=serverAuth" \
        -keyout "$WORK/$1.key" -out "$WORK/$1.crt" 2>/dev/null
    THUMBPRINT="$(openssl x509 -in "$WORK/$1.crt" -noout -fingerprint -sha1 | sed 's/^.*=//; s/://g' | tr 'a-f' 'A-F')"
}

# Installs the certificate $1 of listener_certificate into the config dir $2.
install_listener_certificate() {
    mkdir -p "$2/certs"
    install -m 0644 "$WORK/$1.crt" "$2/certs/$THUMBPRINT.crt"
    install -m 0600 "$WORK/$1.key" "$2/certs/$THUMBPRINT.key"
}

# Configure the config dir $1 as a collector for forwarders whose client certificates the CA
# certificate $2 issues: an HTTPS listener on a free 127.0.0.1 port with the certificate $3 of
# listener_certificate, a certificate mapping (Subject=*) to the service account $4 (made with
# a throwaway password: certificate logins never use it), and the TOML lines $5, if any, under
# [Config.Service]. The subscriptions are the caller's. Needs $WSMAND; sets PORT and THUMBPRINT.
certificate_collector_config() {
    local config="$1" ca="$2" listener="$3" account="$4" service="${5:-}" ca_thumb
    ca_thumb="$(openssl x509 -in "$ca" -noout -fingerprint -sha1 | sed 's/^.*=//; s/://g' | tr 'a-f' 'A-F')"
    mkdir -p "$config/certs" "$config/subscriptions"
    listener_certificate "$listener"
    install_listener_certificate "$listener" "$config"
    install -m 0644 "$ca" "$config/certs/$ca_thumb.crt"
    PORT="$(free_port)"
    {
        [ -z "$service" ] || printf '[Config.Service]\n%s\n' "$service"
        cat <<TOML
[Config.Service.Auth]
Certificate = true
[[Listener]]
Address = "IP:127.0.0.1"
Transport = "HTTPS"
Port = $PORT
CertificateThumbprint = "$THUMBPRINT"
[[CertMapping]]
Issuer = "$ca_thumb"
Subject = "*"
URI = "*"
UserName = "$account"
Enabled = true
TOML
    } >"$config/config.toml"
    printf '%s-%s\n' "$account" "$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" |
        WSMAND_CONFIG_DIR="$config" "$WSMAND" account add "$account" --password-stdin >/dev/null
}

# OpenWEC ($OPENWEC_BIN, built outside this project; its CLI `openwec` beside it or
# OPENWEC_CLI) on a free loopback port with TLS: the forwarders' CA $3, the server's certificate
# $4 and key $5, SQLite, one subscription named $6 (every Security event, heartbeat interval $7
# seconds when given) writing its Files output (Raw) to $2/openwec-out/{client}/messages. Its
# configuration and log go in $1, its database in $2; its soft open-file limit is raised to the
# hard one. Sets OPENWEC_PID and OPORT.
#   start_openwec CONF_DIR DATA_DIR CA_CERT SERVER_CERT SERVER_KEY NAME [HEARTBEAT]
start_openwec() {
    local conf="$1" data="$2" ca="$3" cert="$4" key="$5" name="$6" heartbeat="${7:-}"
    local cli="${OPENWEC_CLI:-$(dirname "$OPENWEC_BIN")/openwec}"
    OPORT="$(free_port)"
    cat >"$conf/openwec.toml" <<TOML
[logging]
verbosity = "warn"
[database]
type = "SQLite"
path = "$data/openwec.sqlite"
[[collectors]]
hostname = "127.0.0.1"
listen_address = "127.0.0.1"
listen_port = $OPORT
[collectors.authentication]
type = "Tls"
ca_certificate = "$ca"
server_certificate = "$cert"
server_private_key = "$key"
TOML
    mkdir -p "$conf/openwec-subscriptions"
    {
        cat <<TOML
uuid = "$(python3 -c 'import uuid; print(uuid.uuid4())')"
name = "$name"
query = '<QueryList><Query Id="0"><Select Path="Security">*</Select></Query></QueryList>'
[options]
enabled = true
TOML
        [ -z "$heartbeat" ] || echo "heartbeat_interval = $heartbeat"
        cat <<TOML
[[outputs]]
driver = "Files"
format = "Raw"
config = { path = "$data/openwec-out/{client}/messages" }
TOML
    } >"$conf/openwec-subscriptions/$name.toml"
    "$cli" -c "$conf/openwec.toml" db init >/dev/null
    "$cli" -c "$conf/openwec.toml" subscriptions load "$conf/openwec-subscriptions" >/dev/null
    (ulimit -n "$(ulimit -Hn)"; exec "$OPENWEC_BIN" -c "$conf/openwec.toml") >"$conf/openwec.log" 2>&1 &
    OPENWEC_PID=$!
    PIDS+=("$OPENWEC_PID")
    wait_for_port "$OPORT" "$OPENWEC_PID" "$conf/openwec.log"
}

# Start $WSMAND as the collector of the config dir $1 with the bookmark database $2, its stderr
# in $3, the allocator settings of dist/wsmand.service (unit_environment first); waits for PORT
# ($4, default $PORT) and sets COLLECTOR_PID.
start_collector() {
    env "${UNIT_ENV[@]}" WSMAND_WEC_DATABASE="$2" "$WSMAND" --config-dir "$1" 2>"$3" &
    COLLECTOR_PID=$!
    PIDS+=("$COLLECTOR_PID")
    wait_for_port "${4:-$PORT}" "$COLLECTOR_PID" "$3"
}

# A PostgreSQL cluster of its own for a benchmark, from Debian's `postgresql` binaries: initdb
# in $WORK/postgres (as the `postgres` user when run as root, which PostgreSQL refuses to run
# as), listening on 127.0.0.1 only, fsync on (its commits are as durable as the service's),
# one database `wec` of the user `wec` (scram-sha-256, a password made here). Sets PG_PORT,
# PG_PASSWORD, PG_CONNECTION (a libpq connection string without the password), PG_BIN,
# PG_SERVER_PID and adds the server to PIDS, so cleanup_scratch stops it.
#   start_postgres [MAX_CONNECTIONS]
start_postgres() {
    local bin data run=() max="${1:-200}"
    ensure_packages postgresql
    bin="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d | sort -V | tail -1)"
    [ -x "$bin/initdb" ] || { echo "PostgreSQL's initdb not found under /usr/lib/postgresql" >&2; exit 1; }
    mkdir -p "$WORK/postgres"
    if [ "$(id -u)" -eq 0 ]; then
        # Only traversal of $WORK for the postgres user: nothing else of it is readable.
        chmod 0711 "$WORK"
        chown postgres:postgres "$WORK/postgres"
        run=(setpriv --reuid=postgres --regid=postgres --init-groups)
    fi
    data="$WORK/postgres/data"
    PG_PORT="$(free_port)"
    PG_PASSWORD="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
    printf '%s\n' "$PG_PASSWORD" >"$WORK/postgres/pwfile"
    [ "${#run[@]}" -eq 0 ] || chown postgres:postgres "$WORK/postgres/pwfile"
    "${run[@]}" "$bin/initdb" -D "$data" -U wec --auth=scram-sha-256 \
        --pwfile="$WORK/postgres/pwfile" -E UTF8 --locale=C >"$WORK/postgres/initdb.log"
    rm -f "$WORK/postgres/pwfile"
    printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\nfsync = on\nmax_connections = %s\n" \
        "$PG_PORT" "$WORK/postgres" "$max" >>"$data/postgresql.conf"
    PG_CONNECTION="host=127.0.0.1 port=$PG_PORT user=wec dbname=wec"
    PG_BIN="$bin"
    postgres_serve
    pg_sql postgres "CREATE DATABASE wec" >/dev/null
}

# Starts the server of start_postgres's cluster (again, after a benchmark stopped it) and waits
# until it takes logins; sets PG_SERVER_PID and adds it to PIDS.
#   postgres_serve
postgres_serve() {
    local run=()
    [ "$(id -u)" -ne 0 ] || run=(setpriv --reuid=postgres --regid=postgres --init-groups)
    "${run[@]}" "$PG_BIN/postgres" -D "$WORK/postgres/data" >>"$WORK/postgres/server.log" 2>&1 &
    PG_SERVER_PID=$!
    PIDS+=("$PG_SERVER_PID")
    wait_for_port "$PG_PORT" "$PG_SERVER_PID" "$WORK/postgres/server.log"
    # The port opens before the server takes logins ("the database system is starting up").
    local tries=0
    until pg_sql postgres "SELECT 1" >/dev/null 2>&1; do
        tries=$((tries + 1))
        [ "$tries" -lt 300 ] || { echo "PostgreSQL never took a login" >&2; exit 1; }
        sleep 0.1
    done
}

# Run SQL on the benchmark's cluster (start_postgres), in database $1; prints the rows
# unaligned, fields separated by spaces.
#   pg_sql DATABASE SQL
pg_sql() {
    PGPASSWORD="$PG_PASSWORD" "$PG_BIN/psql" -X -q -A -t -F ' ' -h 127.0.0.1 -p "$PG_PORT" -U wec -d "$1" -c "$2"
}

# Install the packages from $@ that are missing. Runs apt-get update once, only when something
# is missing. Without root it prints the command to run instead and returns 1.
ensure_packages() {
    local missing=()
    local package
    for package in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$package")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing Debian packages: ${missing[*]}" >&2
        echo "run as root: apt-get install -y ${missing[*]}" >&2
        return 1
    fi
    step "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# The PAM service file wsmand authenticates Linux accounts with.
ensure_pam_service() {
    if [ -e /etc/pam.d/wsmand ]; then
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "note: /etc/pam.d/wsmand is missing and this is not root; Linux-account logins will fail" >&2
        return 0
    fi
    step "installing /etc/pam.d/wsmand"
    printf '# PAM configuration for wsmand (WS-Management service)\n@include common-auth\n@include common-account\n' >/etc/pam.d/wsmand
    chmod 0644 /etc/pam.d/wsmand
}

# cargo must be on PATH. `sudo` resets PATH to its secure_path, which usually lacks
# ~/.cargo/bin: say so instead of failing later with "command not found".
require_cargo() {
    if command -v cargo >/dev/null 2>&1; then
        return 0
    fi
    local home candidate
    for home in "${SUDO_USER:+$(getent passwd "$SUDO_USER" | cut -d: -f6)}" "$HOME"; do
        candidate="$home/.cargo/bin"
        if [ -n "$home" ] && [ -x "$candidate/cargo" ]; then
            echo "using cargo from $candidate (it was not on PATH)" >&2
            export PATH="$candidate:$PATH"
            # rustup's cargo finds its toolchains through RUSTUP_HOME (default ~/.rustup).
            if [ -z "${RUSTUP_HOME:-}" ] && [ -d "$home/.rustup" ]; then
                export RUSTUP_HOME="$home/.rustup"
            fi
            return 0
        fi
    done
    echo "cargo not found: install the Rust toolchain (https://rustup.rs), or if you ran this" >&2
    echo "with sudo, keep your PATH: sudo env PATH=\"\$PATH\" $0" >&2
    return 1
}

# What the console's benchmarks (benches/fleet.sh, benches/graphs.sh) need: root (the console
# starts as root and drops to wsmand-mgmt; $1 names the script in the refusal), that user,
# Debian's chromium and playwright-core from tests/browser's lockfile.
console_bench_prerequisites() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "$1 needs root: the console starts as root and drops to wsmand-mgmt" >&2
        exit 1
    fi
    getent passwd wsmand-mgmt >/dev/null || useradd --system --user-group --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin wsmand-mgmt
    [ -x /usr/bin/chromium ] || ensure_packages chromium
    [ -f tests/browser/node_modules/playwright-core/package.json ] \
        || (cd tests/browser && npm ci --ignore-scripts --no-audit --no-fund)
}

# Sets BIN to the directory of wsmand and wsmand-mgmt: $1 when given (built already), else
# bench_binaries' (a release build of both, or the smoke mode's debug build).
console_bench_binaries() {
    if [ -n "${1:-}" ]; then
        BIN="$1"
    else
        bench_binaries -p wsmand -p wsmand-mgmt
        BIN="$BENCH_BIN"
    fi
}
