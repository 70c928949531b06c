#!/usr/bin/env bash
# Benchmark: `true` on 20 hosts at once, as an operator runs it, against parallel-ssh (pssh) to
# the same number of sshd in the same run. Everything is on loopback:
#   winrs-https        winrs -r:@hosts.txt with Negotiate (NTLM) over HTTPS: TLS, the login
#                      bound to the channel (winrs's default scheme with -u:), 20 wsmand daemons
#   winrs-http-sealed  the same daemons over HTTP, every message MS-WSMV sealed with the NTLM key
#   pssh               parallel-ssh -h hosts (Debian pssh) with a throwaway key, 20 sshd
# Both tools get the same parallelism (FANOUT_PARALLEL, default 20: every host at once), and
# every host is a separate server process on its own port. Each case runs FANOUT_RUNS times
# (default 5), the cases interleaved; printed per case: the median wall time, and the ratio of
# each winrs case to pssh's median (goal: at most 0.2). Every run must succeed on every host
# (exit code 0 from both tools), or the script fails.
#
#   benches/fanout.sh
#   FANOUT_HOSTS=50 FANOUT_RUNS=9 benches/fanout.sh
#   FANOUT_BIN_DIR=/path/to/release benches/fanout.sh   (wsmand and winrs from there, no build)
#
# Needs root (the bench account's shells and the ssh logins are root's; pssh and openssh-server
# are installed when missing). Every daemon is stopped at the end. scripts/test.sh runs only its
# smoke mode.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
unit_environment

if [ "$(id -u)" -ne 0 ]; then
    echo "benches/fanout.sh needs root: the bench account runs its shells as root" >&2
    exit 1
fi
export PATH="$PATH:/usr/sbin:/sbin"
command -v python3 >/dev/null 2>&1 || ensure_packages python3
command -v openssl >/dev/null 2>&1 || ensure_packages openssl
# The smoke mode (scripts/lib.sh) leaves the pssh peer out when it is not installed.
SSH=1
if smoke_mode && { [ ! -x /usr/sbin/sshd ] || ! command -v parallel-ssh >/dev/null 2>&1; }; then
    SSH=0
    echo "smoke mode without sshd or parallel-ssh: the pssh case is left out"
else
    [ -x /usr/sbin/sshd ] || ensure_packages openssh-server openssh-client
    command -v parallel-ssh >/dev/null 2>&1 || ensure_packages pssh
fi

HOSTS="${FANOUT_HOSTS:-$(bench_value 20 3)}"
RUNS="${FANOUT_RUNS:-$(bench_value 5 1)}"
PARALLEL="${FANOUT_PARALLEL:-20}"
ACCOUNT=fanbench
PASSWORD="Bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

if [ -n "${FANOUT_BIN_DIR:-}" ]; then
    RELEASE="$FANOUT_BIN_DIR"
else
    bench_binaries -p wsmand -p winrs
    RELEASE="$BENCH_BIN"
fi

scratch_dir wsmand-fanout-bench

start_sshd() {
    step "starting $HOSTS throwaway sshd on loopback"
    : >"$WORK/ssh-hosts.txt"
    SSH_PORTS=()
    for i in $(seq "$HOSTS"); do
        start_throwaway_sshd "$WORK/ssh" "$i"
        PIDS+=("$SSHD_PID")
        SSH_PORTS+=("$SSHD_PORT:$SSHD_PID")
        echo "root@127.0.0.1:$SSHD_PORT" >>"$WORK/ssh-hosts.txt"
    done
    PSSH=(parallel-ssh -h "$WORK/ssh-hosts.txt" -p "$PARALLEL" -t 60
        -x "-q -i $WORK/ssh/client_key -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null")
    echo "$(ssh -V 2>&1), $(parallel-ssh --version 2>&1 | head -1 || true)"
}
[ "$SSH" = 0 ] || start_sshd

step "starting $HOSTS wsmand daemons on loopback (HTTP and HTTPS listener each)"
listener_certificate listener
# The account is made once (an argon2id hash and the NT hash) and copied to every daemon.
TEMPLATE="$WORK/template"
mkdir -p "$TEMPLATE"
printf '%s\n' "$PASSWORD" | WSMAND_CONFIG_DIR="$TEMPLATE" "$RELEASE/wsmand" account add "$ACCOUNT" \
    --password-stdin --ntlm --run-as root >/dev/null
: >"$WORK/https-hosts.txt"
: >"$WORK/http-hosts.txt"
WS_PORTS=()
for i in $(seq "$HOSTS"); do
    config="$WORK/config.$i"
    install_listener_certificate listener "$config"
    install -m 0600 "$TEMPLATE/accounts.toml" "$config/accounts.toml"
    http="$(free_port)"
    https="$(free_port)"
    cat >"$config/config.toml" <<TOML
[Config.Service.Auth]
Negotiate = true
[Config.Client]
TrustedHosts = "127.0.0.1"
[[Listener]]
Address = "IP:127.0.0.1"
Transport = "HTTP"
Port = $http
[[Listener]]
Address = "IP:127.0.0.1"
Transport = "HTTPS"
Port = $https
CertificateThumbprint = "$THUMBPRINT"
TOML
    env "${UNIT_ENV[@]}" \
        "$RELEASE/wsmand" --config-dir "$config" 2>"$WORK/wsmand.$i.log" &
    PIDS+=($!)
    WS_PORTS+=("$http:$!" "$https:$!")
    echo "http://127.0.0.1:$http/wsman" >>"$WORK/http-hosts.txt"
    echo "https://127.0.0.1:$https/wsman" >>"$WORK/https-hosts.txt"
done
for entry in "${WS_PORTS[@]}"; do
    wait_for_port "${entry%%:*}" "${entry##*:}" "$WORK"/wsmand.*.log
done
# The client settings winrs reads (TrustedHosts for HTTP) come from the first daemon's dir.
WINRS=(env WSMAND_CONFIG_DIR="$WORK/config.1" "$RELEASE/winrs" "-parallel:$PARALLEL"
    "-u:$ACCOUNT" "-p:$PASSWORD")

case_argv() {
    case "$1" in
    pssh) ARGV=("${PSSH[@]}" true) ;;
    winrs-https) ARGV=("${WINRS[@]}" "-r:@$WORK/https-hosts.txt" "-cacert:$WORK/listener.crt" true) ;;
    winrs-http-sealed) ARGV=("${WINRS[@]}" "-r:@$WORK/http-hosts.txt" true) ;;
    esac
}

# Wall time of one run in seconds; fails the script when the command does.
timed() {
    local start end
    start="$(date +%s%N)"
    if ! "$@" >"$WORK/out" 2>"$WORK/err" </dev/null; then
        echo "failed: $*" >&2
        cat "$WORK/out" "$WORK/err" >&2
        exit 1
    fi
    end="$(date +%s%N)"
    python3 -c "print(f'{($end - $start) / 1e9:.3f}')"
}

step "check: every host runs the command, once each"
# Each wsmand command prints its daemon's pid ($PPID): 20 distinct pids, one per host.
pids="$("${WINRS[@]}" "-r:@$WORK/https-hosts.txt" "-cacert:$WORK/listener.crt" -output:json \
    'echo $PPID' 2>/dev/null | python3 -c 'import json,sys; print(len({json.loads(l)["stdout"] for l in sys.stdin if json.loads(l)["exit_code"] == 0}))')"
ssh_ok="$HOSTS"
[ "$SSH" = 0 ] || ssh_ok="$("${PSSH[@]}" -i 'echo ran' 2>/dev/null | grep -c '^ran$' || true)"
echo "winrs: $pids distinct daemons answered; pssh: $ssh_ok hosts printed the line"
if [ "$pids" != "$HOSTS" ] || [ "$ssh_ok" != "$HOSTS" ]; then
    echo "not every host ran the command" >&2
    exit 1
fi
WINRS_ONE=("${WINRS[@]}" "-r:$(head -1 "$WORK/https-hosts.txt")" "-cacert:$WORK/listener.crt" true)
CASES="winrs-https winrs-http-sealed"
if [ "$SSH" = 1 ]; then
    SSH_ONE=(ssh -q -p "${SSH_PORTS[0]%%:*}" -i "$WORK/ssh/client_key" -o BatchMode=yes
        -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null root@127.0.0.1 true)
    echo "one host, for scale: ssh $(timed "${SSH_ONE[@]}") s, winrs (HTTPS) $(timed "${WINRS_ONE[@]}") s"
    CASES="pssh $CASES"
else
    echo "one host, for scale: winrs (HTTPS) $(timed "${WINRS_ONE[@]}") s"
fi
step "warm-up: each case once (not counted)"
for name in $CASES; do
    case_argv "$name"
    echo "$name: $(timed "${ARGV[@]}") s"
done

step "benchmarks: \`true\` on $HOSTS hosts, parallelism $PARALLEL, $RUNS runs per case, interleaved"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$WORK/results"
for _ in $(seq "$RUNS"); do
    for name in $CASES; do
        case_argv "$name"
        seconds="$(timed "${ARGV[@]}")"
        echo "$name $seconds" >>"$WORK/results"
        echo "$name: $seconds s"
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

step "results ($HOSTS hosts, $(nproc) cores; median wall time of $RUNS runs)"
python3 - "$WORK/results" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, seconds = line.split()
    runs.setdefault(name, []).append(float(seconds))
medians = {name: statistics.median(values) for name, values in runs.items()}
base = medians.get("pssh")
for name, median in medians.items():
    spread = f"{min(runs[name]):.3f}-{max(runs[name]):.3f}"
    ratio = "" if name == "pssh" or base is None else f"  ratio to pssh {median / base:.3f}"
    print(f"{name:18} {median:.3f} s (range {spread}){ratio}")
PY
