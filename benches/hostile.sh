#!/usr/bin/env bash
# Benchmark, two parts against the same release build, each with its baseline in the same run.
#
# Part "clients": one legitimate client (authenticated Identify on a kept-alive connection, one
# every 10 ms) alone, then beside 20 hostile unauthenticated clients (namespace flood, slow 500 KB
# bodies, empty POSTs; benches/hostile.py). Prints the legitimate client's p50/p99 latency in both
# phases and their ratio, wsmand's peak RSS in each phase, and its RSS once the hostile clients
# have stopped, with the targets next to them.
#
# Part "users" (as root: it creates HOSTILE_USERS Linux accounts and a group, and removes them at
# exit): an administrator's Get of Win32_OperatingSystem every 10 ms alone, then beside the
# read-only users (RootSDDL grants the group read through its Unix SID S-1-22-2-<gid>), who first
# open every enumeration context their quotas allow (8 KiB LIKEs over Win32_NTLogEvent and over a
# process with a 1.9 MB command line, then plain ones until the quota fault) and then, three
# clients each, Pull their LIKE contexts and Pull a large XPath event query back to back, each
# request spending its whole OperationTimeout (HOSTILE_TIMEOUT s). Prints the Get's p50/p99 in
# both phases and their ratio, and wsmand's peak RSS against the budget the quotas give.
#
# Part "powershell" (as root: the PowerShell user's shells run as `nobody`): an administrator's
# authenticated Identify every 10 ms alone, then beside a PowerShell user whose HOSTILE_SHELLS
# Xpress-compressed shells send, back to back, Sends of 460 KB that would inflate to 17 MiB each
# (17 streams of a 1 MiB message, benches/hostile.py), and whose host is a pathological pwsh
# writing one endless message in one-byte fragments, received as fast as it comes. Prints the
# Identify's p50/p99 in both phases and their ratio, and wsmand's peak RSS against the budget
# the bounds give (see the results).
#
#   benches/hostile.sh                       # every part, 20 s per phase
#   BENCH_SECONDS=60 HOSTILE_CLIENTS=20 HOSTILE_PARTS=clients benches/hostile.sh
#   HOSTILE_PARTS=users HOSTILE_USERS=10 HOSTILE_TIMEOUT=5 benches/hostile.sh
#   HOSTILE_PARTS=powershell HOSTILE_SHELLS=4 BENCH_SECONDS=10 benches/hostile.sh
#   WSMAND_BIN=/path/to/wsmand benches/hostile.sh   # that binary instead of a release build
#
# scripts/test.sh runs only its smoke mode: figures depend on the machine; the ratios are what to
# compare.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
require_cargo

SECONDS_PER_PHASE="${BENCH_SECONDS:-$(bench_value 20 3)}"
CLIENTS="${HOSTILE_CLIENTS:-$(bench_value 20 3)}"
PARTS="${HOSTILE_PARTS:-clients users powershell}"
SHELLS="${HOSTILE_SHELLS:-$(bench_value 4 1)}"
USERS="${HOSTILE_USERS:-$(bench_value 10 2)}"
TIMEOUT_S="${HOSTILE_TIMEOUT:-$(bench_value 5 1)}"
JOURNAL_REMOTE=/lib/systemd/systemd-journal-remote
ACCOUNT=bench
PASSWORD="bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
command -v python3 >/dev/null 2>&1 || ensure_packages python3

if [ -n "${WSMAND_BIN:-}" ]; then
    # A daemon built elsewhere (another profile, an older commit to compare against).
    WSMAND="$WSMAND_BIN"
else
    bench_binaries -p wsmand
    WSMAND="$BENCH_BIN/wsmand"
fi

scratch_dir wsmand-hostile
DRIVER="$ROOT/benches/hostile.py"
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

# A config directory in $WORK/$1 with one HTTP listener (Basic) and $2 as extra [Config.Service]
# lines; sets CONFIG and PORT.
write_config() {
    CONFIG="$WORK/$1"
    mkdir -p "$CONFIG"
    PORT="$(free_port)"
    cat >"$CONFIG/config.toml" <<TOML
[Config.Service]
AllowUnencrypted = true
$2
[Config.Service.Auth]
Basic = true
[[Listener]]
Address = "IP:127.0.0.1"
Transport = "HTTP"
Port = $PORT
TOML
}

part_clients() {
    write_config clients ""
    printf '%s\n' "$PASSWORD" | WSMAND_CONFIG_DIR="$CONFIG" "$WSMAND" account add "$ACCOUNT" --password-stdin >/dev/null
    "$WSMAND" --config-dir "$CONFIG" 2>"$WORK/wsmand.log" &
    WSMAND_PID=$!
    PIDS+=("$WSMAND_PID")
    wait_for_port "$PORT" "$WSMAND_PID" "$WORK/wsmand.log"
    AUTH="Basic $(printf '%s:%s' "$ACCOUNT" "$PASSWORD" | base64 -w0)"

    step "phase 1: the legitimate client alone (${SECONDS_PER_PHASE}s)"
    python3 "$DRIVER" rss "$WSMAND_PID" "$SECONDS_PER_PHASE" >"$WORK/rss1" &
    RSS1=$!
    ALONE="$(python3 "$DRIVER" legit "$PORT" "$SECONDS_PER_PHASE" "$AUTH")"
    wait "$RSS1"
    RSS_ALONE="$(cat "$WORK/rss1")"
    echo "  $ALONE"
    echo "  $RSS_ALONE"

    step "phase 2: beside $CLIENTS hostile unauthenticated clients (${SECONDS_PER_PHASE}s)"
    LOG_LINES_BEFORE="$(wc -l <"$WORK/wsmand.log")"
    python3 "$DRIVER" rss "$WSMAND_PID" "$SECONDS_PER_PHASE" >"$WORK/rss2" &
    RSS2=$!
    python3 "$DRIVER" hostile "$PORT" "$SECONDS_PER_PHASE" "$CLIENTS" >"$WORK/hostile" &
    HOSTILE=$!
    # Let the hostile clients start first.
    sleep 1
    BESIDE="$(python3 "$DRIVER" legit "$PORT" "$((SECONDS_PER_PHASE - 2))" "$AUTH")"
    wait "$HOSTILE" "$RSS2"
    RSS_BESIDE="$(cat "$WORK/rss2")"
    echo "  $BESIDE"
    echo "  $(cat "$WORK/hostile")"
    echo "  $RSS_BESIDE"
    LOG_LINES="$(($(wc -l <"$WORK/wsmand.log") - LOG_LINES_BEFORE))"

    step "after: idle for $(bench_value 5 1) s"
    sleep "$(bench_value 5 1)"
    RSS_AFTER_KB="$(awk '/^VmRSS:/ {print $2}' "/proc/$WSMAND_PID/status")"
    CPU_TICKS="$(awk '{print $14 + $15}' "/proc/$WSMAND_PID/stat")"

    step "results"
    python3 - "$ALONE" "$BESIDE" "$RSS_ALONE" "$RSS_BESIDE" "$RSS_AFTER_KB" "$LOG_LINES" \
        "$(cat "$WORK/hostile")" "$CPU_TICKS" "$(getconf CLK_TCK)" <<'PY'
import sys

def parse(line):
    return {k: float(v) for k, v in (f.split("=") for f in line.split()[1:])}
alone, beside, rss_alone, rss_beside, hostile = (
    parse(sys.argv[i]) for i in (1, 2, 3, 4, 7))
after_kb, log_lines = int(sys.argv[5]), int(sys.argv[6])
cpu_s = int(sys.argv[8]) / int(sys.argv[9])
print(f"{'':<28}{'alone':>12}{'beside hostile':>16}{'ratio':>8}")
for key, label in (("p50_ms", "Identify p50 ms"), ("p99_ms", "Identify p99 ms"), ("max_ms", "Identify max ms")):
    print(f"{label:<28}{alone[key]:>12.3f}{beside[key]:>16.3f}{beside[key] / max(alone[key], 0.001):>8.2f}")
print(f"{'Identify requests (errors)':<28}{int(alone['n']):>8} ({int(alone['errors'])}){int(beside['n']):>12} ({int(beside['errors'])})")
print(f"{'wsmand peak RSS MB':<28}{rss_alone['peak_kb'] / 1024:>12.1f}{rss_beside['peak_kb'] / 1024:>16.1f}")
print(f"wsmand RSS 5 s after the hostile clients stopped: {after_kb / 1024:.1f} MB")
print(f"hostile requests sent: {int(hostile['requests'])}, answered: {int(hostile['answered'])}, "
      f"connection errors: {int(hostile['errors'])}")
print(f"wsmand log lines written during phase 2: {log_lines}; wsmand CPU in all: {cpu_s:.1f} s")
print()
verdict = lambda ok: "met" if ok else "MISSED"
p99x = beside["p99_ms"] / max(alone["p99_ms"], 0.001)
peak_mb = rss_beside["peak_kb"] / 1024
print("targets:")
print(f"  p99 beside hostile clients <= 2x alone : {p99x:.2f}x  {verdict(p99x <= 2.0)}")
print(f"  peak RSS beside hostile clients <= 64 MB: {peak_mb:.1f} MB  {verdict(peak_mb <= 64)}")
PY
    kill -TERM "$WSMAND_PID" 2>/dev/null || true
    wait "$WSMAND_PID" 2>/dev/null || true
}

# The read-only users' Linux accounts and group, made by part_users and removed at exit after
# the daemons are stopped.
BENCH_GROUP=wsbench-readers
BENCH_USERS=()
GROUP_MADE=""
remove_accounts() {
    local user
    for user in "${BENCH_USERS[@]}"; do
        userdel "$user" 2>/dev/null || true
    done
    if [ -n "$GROUP_MADE" ]; then
        groupdel "$BENCH_GROUP" 2>/dev/null || true
    fi
}
cleanup_all() {
    cleanup_scratch
    remove_accounts
}
trap cleanup_all EXIT

make_accounts() {
    local i user
    if getent group "$BENCH_GROUP" >/dev/null; then
        echo "the group $BENCH_GROUP exists already: remove it or run elsewhere" >&2
        exit 1
    fi
    groupadd "$BENCH_GROUP"
    GROUP_MADE=1
    BENCH_GID="$(getent group "$BENCH_GROUP" | cut -d: -f3)"
    USER_PASSWORD="Bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')-1"
    for i in $(seq 1 "$USERS"); do
        user="wsbench-reader$i"
        if getent passwd "$user" >/dev/null; then
            echo "the account $user exists already: remove it or run elsewhere" >&2
            exit 1
        fi
        useradd --no-create-home --gid "$BENCH_GROUP" --shell /usr/sbin/nologin "$user"
        BENCH_USERS+=("$user")
        printf '%s:%s\n' "$user" "$USER_PASSWORD" | chpasswd
    done
}

part_users() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "part users skipped: it creates Linux accounts and a group, run it as root"
        return
    fi
    [ -x "$JOURNAL_REMOTE" ] || ensure_packages systemd-journal-remote
    step "$USERS read-only Linux users in the group $BENCH_GROUP"
    make_accounts
    echo "  ${BENCH_USERS[0]} .. ${BENCH_USERS[-1]}, gid $BENCH_GID"

    step "a journal of $(bench_value 2,000 200) entries of 8 KB; a process with a 1.9 MB command line"
    # Messages longer than the LIKE's 6,000-character run, so that it is tried at every place.
    python3 "$ROOT/benches/events.py" export "$(bench_value 2000 200)" 8000 >"$WORK/entries.export"
    mkdir -p "$WORK/journal"
    "$JOURNAL_REMOTE" --output="$WORK/journal/bench.journal" "$WORK/entries.export" 2>/dev/null
    local long_arg long_args=() i
    long_arg="$(head -c 120000 /dev/zero | tr '\0' x)"
    for i in $(seq 16); do long_args+=("$long_arg"); done
    python3 -c 'import time; time.sleep(100000)' "${long_args[@]}" &
    PIDS+=("$!")

    write_config users "RootSDDL = \"O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;S-1-22-2-$BENCH_GID)\""
    printf '%s\n' "$PASSWORD" | WSMAND_CONFIG_DIR="$CONFIG" "$WSMAND" account add "$ACCOUNT" --password-stdin --run-as root >/dev/null
    "$WSMAND" --config-dir "$CONFIG" --journal-directory "$WORK/journal" 2>"$WORK/wsmand-users.log" &
    WSMAND_PID=$!
    PIDS+=("$WSMAND_PID")
    wait_for_port "$PORT" "$WSMAND_PID" "$WORK/wsmand-users.log"
    AUTH="Basic $(printf '%s:%s' "$ACCOUNT" "$PASSWORD" | base64 -w0)"

    step "phase 3: the administrator's Get of Win32_OperatingSystem alone (${SECONDS_PER_PHASE}s)"
    python3 "$DRIVER" rss "$WSMAND_PID" "$SECONDS_PER_PHASE" >"$WORK/rss3" &
    RSS3=$!
    GET_ALONE="$(python3 "$DRIVER" get "$PORT" "$SECONDS_PER_PHASE" "$AUTH")"
    wait "$RSS3"
    echo "  $GET_ALONE"
    echo "  $(cat "$WORK/rss3")"

    step "the read-only users open every enumeration context their quotas allow"
    python3 "$DRIVER" rss "$WSMAND_PID" 100000 "$WORK/stop-rss" >"$WORK/rss4" &
    RSS4=$!
    CPU_BEFORE="$(awk '{print $14 + $15}' "/proc/$WSMAND_PID/stat")"
    HELD="$(python3 "$DRIVER" hold "$PORT" "$USER_PASSWORD" "$WORK/held.json" "${BENCH_USERS[@]}")"
    RSS_HELD_KB="$(awk '/^VmRSS:/ {print $2}' "/proc/$WSMAND_PID/status")"
    echo "  $HELD"
    echo "  wsmand RSS with them held: $((RSS_HELD_KB / 1024)) MB"

    step "phase 4: beside the users' worst-case requests, OperationTimeout ${TIMEOUT_S}s (${SECONDS_PER_PHASE}s)"
    python3 "$DRIVER" users "$PORT" "$SECONDS_PER_PHASE" "$TIMEOUT_S" "$USER_PASSWORD" \
        "$WORK/held.json" >"$WORK/users.out" &
    USERS_DRIVER=$!
    sleep 1
    GET_BESIDE="$(python3 "$DRIVER" get "$PORT" "$((SECONDS_PER_PHASE - 2))" "$AUTH")"
    wait "$USERS_DRIVER"
    touch "$WORK/stop-rss"
    wait "$RSS4"
    CPU_AFTER="$(awk '{print $14 + $15}' "/proc/$WSMAND_PID/stat")"
    echo "  $GET_BESIDE"
    echo "  $(cat "$WORK/users.out")"
    echo "  $(cat "$WORK/rss4")"

    step "results"
    python3 - "$GET_ALONE" "$GET_BESIDE" "$(cat "$WORK/rss3")" "$(cat "$WORK/rss4")" \
        "$RSS_HELD_KB" "$((CPU_AFTER - CPU_BEFORE))" "$(getconf CLK_TCK)" <<'PY'
import sys

def parse(line):
    return {k: float(v) for k, v in (f.split("=") for f in line.split()[1:])}
alone, beside, rss_alone, rss_loaded = (parse(sys.argv[i]) for i in (1, 2, 3, 4))
held_kb, cpu_s = int(sys.argv[5]), int(sys.argv[6]) / int(sys.argv[7])
print(f"{'':<28}{'alone':>12}{'beside users':>16}{'ratio':>8}")
for key, label in (("p50_ms", "Get p50 ms"), ("p99_ms", "Get p99 ms"), ("max_ms", "Get max ms")):
    print(f"{label:<28}{alone[key]:>12.3f}{beside[key]:>16.3f}{beside[key] / max(alone[key], 0.001):>8.2f}")
print(f"{'Get requests (errors)':<28}{int(alone['n']):>8} ({int(alone['errors'])}){int(beside['n']):>12} ({int(beside['errors'])})")
# The budget from the quotas: every open context's items count against 256 MiB for all users
# (64 MiB each), and the tests allow twice what is counted for allocation around the text.
before_mb = rss_alone["peak_kb"] / 1024
budget_mb = before_mb + 2 * 256
peak_mb = rss_loaded["peak_kb"] / 1024
print(f"wsmand RSS MB: {before_mb:.1f} before the users, {held_kb / 1024:.1f} with their contexts held, "
      f"peak {peak_mb:.1f} while opening and loaded")
print(f"wsmand CPU from the first Enumerate to the end: {cpu_s:.1f} s")
print()
verdict = lambda ok: "met" if ok else "MISSED"
p99x = beside["p99_ms"] / max(alone["p99_ms"], 0.001)
print("targets:")
print(f"  Get p99 beside the users <= 2x alone: {p99x:.2f}x  {verdict(p99x <= 2.0)}")
print(f"  peak RSS <= before + 2 x 256 MiB = {budget_mb:.0f} MB: {peak_mb:.1f} MB  {verdict(peak_mb <= budget_mb)}")
PY
}

part_powershell() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "part powershell skipped: its shells run as nobody, run it as root"
        return
    fi
    # The host every PowerShell shell starts, readable by nobody.
    local host_dir="$WORK/pwsh-host"
    mkdir -p "$host_dir"
    chmod 755 "$WORK" "$host_dir"
    cp "$DRIVER" "$host_dir/hostile.py"
    printf '#!/bin/sh\nexec python3 %s/hostile.py pwsh\n' "$host_dir" >"$host_dir/pwsh"
    chmod 755 "$host_dir/pwsh" "$host_dir/hostile.py"
    write_config powershell ""
    # Every user may use the PowerShell plug-in (Builtin Users, as a service account is).
    printf '\n[PowerShell]\nPath = "%s"\n[Security]\nPowerShellSDDL = "%s"\n' "$host_dir/pwsh" \
        "O:NSG:BAD:P(A;;GA;;;BA)(A;;GA;;;BU)S:P(AU;FA;GA;;;WD)(AU;SA;GXGW;;;WD)" >>"$CONFIG/config.toml"
    local ps_user=psbench ps_password
    ps_password="Ps-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')-1"
    printf '%s\n' "$PASSWORD" | WSMAND_CONFIG_DIR="$CONFIG" "$WSMAND" account add "$ACCOUNT" --password-stdin --run-as root >/dev/null
    printf '%s\n' "$ps_password" | WSMAND_CONFIG_DIR="$CONFIG" "$WSMAND" account add "$ps_user" --password-stdin --run-as nobody >/dev/null
    "$WSMAND" --config-dir "$CONFIG" 2>"$WORK/wsmand-powershell.log" &
    WSMAND_PID=$!
    PIDS+=("$WSMAND_PID")
    wait_for_port "$PORT" "$WSMAND_PID" "$WORK/wsmand-powershell.log"
    AUTH="Basic $(printf '%s:%s' "$ACCOUNT" "$PASSWORD" | base64 -w0)"

    step "phase 5: the administrator's Identify alone (${SECONDS_PER_PHASE}s)"
    python3 "$DRIVER" rss "$WSMAND_PID" "$SECONDS_PER_PHASE" >"$WORK/rss5" &
    RSS5=$!
    PS_ALONE="$(python3 "$DRIVER" legit "$PORT" "$SECONDS_PER_PHASE" "$AUTH")"
    wait "$RSS5"
    echo "  $PS_ALONE"
    echo "  $(cat "$WORK/rss5")"

    step "phase 6: beside a PowerShell user's $SHELLS shells of Xpress Sends and a pathological pwsh (${SECONDS_PER_PHASE}s)"
    python3 "$DRIVER" rss "$WSMAND_PID" "$SECONDS_PER_PHASE" >"$WORK/rss6" &
    RSS6=$!
    python3 "$DRIVER" powershell "$PORT" "$SECONDS_PER_PHASE" "$ps_user" "$ps_password" "$SHELLS" \
        >"$WORK/powershell.out" &
    PS_DRIVER=$!
    sleep 1
    PS_BESIDE="$(python3 "$DRIVER" legit "$PORT" "$((SECONDS_PER_PHASE - 2))" "$AUTH")"
    wait "$PS_DRIVER" "$RSS6"
    echo "  $PS_BESIDE"
    echo "  $(cat "$WORK/powershell.out")"
    echo "  $(cat "$WORK/rss6")"

    step "results"
    python3 - "$PS_ALONE" "$PS_BESIDE" "$(cat "$WORK/rss5")" "$(cat "$WORK/rss6")" "$SHELLS" <<'PY'
import sys

def parse(line):
    return {k: float(v) for k, v in (f.split("=") for f in line.split()[1:])}
alone, beside, rss_alone, rss_loaded = (parse(sys.argv[i]) for i in (1, 2, 3, 4))
shells = int(sys.argv[5])
print(f"{'':<28}{'alone':>12}{'beside pwsh':>16}{'ratio':>8}")
for key, label in (("p50_ms", "Identify p50 ms"), ("p99_ms", "Identify p99 ms"), ("max_ms", "Identify max ms")):
    print(f"{label:<28}{alone[key]:>12.3f}{beside[key]:>16.3f}{beside[key] / max(alone[key], 0.001):>8.2f}")
print(f"{'Identify requests (errors)':<28}{int(alone['n']):>8} ({int(alone['errors'])}){int(beside['n']):>12} ({int(beside['errors'])})")
# The budget the bounds give, per shell: its input queue and one Send in flight (the 500 KB
# envelope, its decoded streams, what they inflate to: each at most MaxEnvelopeSize), and its
# held output (1 MiB of fragments counted by their bytes; one-byte fragments cost about four
# times that in allocations): 8 MB a shell, twice that for the allocator's slack.
before_mb = rss_alone["peak_kb"] / 1024
budget_mb = before_mb + shells * 2 * 8
peak_mb = rss_loaded["peak_kb"] / 1024
print(f"wsmand peak RSS MB: {before_mb:.1f} alone, {peak_mb:.1f} beside the PowerShell user")
print()
verdict = lambda ok: "met" if ok else "MISSED"
p99x = beside["p99_ms"] / max(alone["p99_ms"], 0.001)
print("targets:")
print(f"  Identify p99 beside the PowerShell user <= 2x alone: {p99x:.2f}x  {verdict(p99x <= 2.0)}")
print(f"  peak RSS <= alone + {shells} shells x 2 x 8 MB = {budget_mb:.0f} MB: {peak_mb:.1f} MB  {verdict(peak_mb <= budget_mb)}")
PY
    kill -TERM "$WSMAND_PID" 2>/dev/null || true
    wait "$WSMAND_PID" 2>/dev/null || true
}

for part in $PARTS; do
    case "$part" in
        clients) part_clients ;;
        users) part_users ;;
        powershell) part_powershell ;;
        *) echo "unknown part $part (clients, users, powershell)" >&2; exit 2 ;;
    esac
done
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
