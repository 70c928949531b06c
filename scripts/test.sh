#!/usr/bin/env bash
# The one test command: installs what is missing, then runs every check and test.
#
#   scripts/test.sh
#
# As root (CI): installs missing Debian packages, creates the test Linux users `wsmantest`
# (administrator: group wsmand-admins) and `wsmanuser` (not an administrator) with known
# passwords, and /etc/pam.d/wsmand. Not as root: skips those steps with a message; the tests that
# need them are skipped with a printed reason.
# Then: rustfmt check, clippy -D warnings, rustdoc -D warnings, the console's embedded browser
# assets against a fresh npm build (scripts/web-assets.sh check), build, cargo test, the pytest interop suite against
# the real daemon, every benchmark in its smoke mode (benches/, seconds each), and a short fuzz
# smoke run. Setup and build failures stop the run; check and
# test failures are recorded and the run goes on, so the summary lists every failing stage.
# Exit status: 0 when every stage passed, non-zero otherwise.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

# The test users. The passwords are test fixtures for throwaway accounts on a test machine.
ADMIN_USER=wsmantest
ADMIN_PASSWORD='Wsman-Test-Pass1'
PLAIN_USER=wsmanuser
# The Linux user the Kerberos test principal wsmankrb@WSMAN.TEST (scripts/kdc.sh) maps to.
KRB_USER=wsmankrb
# Its Linux password is the principal's (scripts/kdc.sh): CredSSP with Kerberos inside checks
# the delegated password through PAM.
KRB_PASSWORD='Wsman-Krb-Pass1'
PLAIN_PASSWORD='Wsman-User-Pass1'
ADMIN_GROUP=wsmand-admins
# The WMI users group (Windows' WinRMRemoteWMIUsers__) and a monitoring account in it.
WMI_GROUP=wsmand-wmi-users
# Windows' Remote Management Users: the PowerShell plug-in's default descriptor admits them.
REMOTE_GROUP=wsmand-remote-users
# Windows' Event Log Readers (the event store's default descriptor admits them) and an account
# in it.
EVENT_READERS_GROUP=wsmand-event-readers
EVENT_READER_USER=wsmanreader
EVENT_READER_PASSWORD='Wsman-Reader-Pass1'
WMI_USER=wsmanwmi
WMI_PASSWORD='Wsman-Wmi-Pass1'
# The fuzz smoke's whole budget, shared evenly by the targets (at least 2 s each); one target's
# own seconds may be set instead (WSMAN_FUZZ_SECONDS).
FUZZ_TOTAL_SECONDS="${WSMAN_FUZZ_TOTAL_SECONDS:-90}"
# How the targets are built: the dev profile (overflow checks and debug assertions on) without a
# sanitizer builds in about a third of the CPU time of cargo-fuzz's default (release with
# AddressSanitizer), and the parsers fuzzed are safe Rust (`forbid(unsafe_code)` outside
# wsman-os and wsman-gss's FFI). WSMAN_FUZZ_BUILD="--release -s address" is the thorough run.
read -r -a FUZZ_BUILD <<<"${WSMAN_FUZZ_BUILD:---dev -s none}"

# One build, run once: incremental caches would only add gigabytes to the target directory
# (4.4 GB of its 18 in a fresh clone), and full debug info is most of the rest. Line tables keep
# file:line in panics and backtraces. A developer's own settings win.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
export CARGO_PROFILE_DEV_DEBUG="${CARGO_PROFILE_DEV_DEBUG:-line-tables-only}"
# What a fresh clone's target directories reach with the two settings above and no debug
# information for dependencies (Cargo.toml, fuzz/Cargo.toml): about 5.6 GB for the workspace and
# 1.6 GB for the fuzz targets, with a margin. Below it, builds fail part way with "No space left
# on device" (CI's run of 2026-11-27 did, in the fuzz build, at 9.9 and 2.9 GB).
NEEDED_FREE_GB=9
FUZZ_NEEDED_FREE_GB=2

START_TIME=$(date +%s)
SUMMARY=()
FAILURES=0
LOG_DIR="$(mktemp -d -t wsmand-test-logs-XXXXXX)"

finish() {
    local status=$?
    stop_fuzz_build
    local elapsed=$(( $(date +%s) - START_TIME ))
    if [ "$FAILURES" -gt 0 ] && [ "$status" -eq 0 ]; then
        status=1
    fi
    echo
    echo "==================== summary ===================="
    local line
    for line in "${SUMMARY[@]}"; do
        echo "  $line"
    done
    rm -rf "$LOG_DIR"
    if [ "$status" -ne 0 ]; then
        echo "tests FAILED ($FAILURES stage(s) failed) after ${elapsed}s"
    else
        echo "all tests passed in ${elapsed}s"
    fi
    exit "$status"
}
trap finish EXIT

# stage NAME required|continue COMMAND...: run COMMAND in a subshell with errexit on, record its
# result and duration. A failed "required" stage stops the run (later stages need it); a failed
# "continue" stage is recorded and the run goes on, so one report shows every failure.
stage() {
    local name="$1" mode="$2"
    shift 2
    step "$name"
    local begin status
    begin=$(date +%s)
    set +e
    (set -e; "$@")
    status=$?
    set -e
    local took=$(( $(date +%s) - begin ))
    if [ "$status" -eq 0 ]; then
        SUMMARY+=("ok      $name (${took}s)")
        return 0
    fi
    SUMMARY+=("FAILED  $name (exit $status, ${took}s)")
    FAILURES=$((FAILURES + 1))
    if [ "$mode" = required ]; then
        echo "stopping: later stages need \"$name\"" >&2
        exit 1
    fi
}

install_packages() {
    # npm builds the console's browser assets. Debian's nodejs comes without it; a nodejs that
    # brings its own npm (NodeSource's) conflicts with Debian's npm package, so it is added
    # only when the command is missing.
    local extra=()
    command -v npm >/dev/null 2>&1 || extra+=(npm)
    if [ "$(id -u)" -eq 0 ]; then
        ensure_packages "${REQUIRED_PACKAGES[@]}" "${extra[@]}"
    else
        ensure_packages "${REQUIRED_PACKAGES[@]}" "${extra[@]}" || {
            echo "continuing without root: missing packages will make some stages fail" >&2
        }
    fi
}

create_test_users() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "not root: not creating $ADMIN_USER / $PLAIN_USER; PAM tests will be skipped"
        return 0
    fi
    getent group "$ADMIN_GROUP" >/dev/null || groupadd --system "$ADMIN_GROUP"
    id "$ADMIN_USER" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$ADMIN_USER"
    id "$PLAIN_USER" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$PLAIN_USER"
    id "$KRB_USER" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$KRB_USER"
    usermod -aG "$ADMIN_GROUP" "$ADMIN_USER"
    getent group "$WMI_GROUP" >/dev/null || groupadd --system "$WMI_GROUP"
    getent group "$REMOTE_GROUP" >/dev/null || groupadd --system "$REMOTE_GROUP"
    id "$WMI_USER" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$WMI_USER"
    usermod -aG "$WMI_GROUP" "$WMI_USER"
    getent group "$EVENT_READERS_GROUP" >/dev/null || groupadd --system "$EVENT_READERS_GROUP"
    id "$EVENT_READER_USER" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$EVENT_READER_USER"
    usermod -aG "$EVENT_READERS_GROUP" "$EVENT_READER_USER"
    # The management service's own user (the package creates it; the console tests run the
    # service as root, which then serves as this user).
    getent passwd wsmand-mgmt >/dev/null || useradd --system --user-group --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin wsmand-mgmt
    printf '%s:%s\n%s:%s\n%s:%s\n%s:%s\n%s:%s\n' "$ADMIN_USER" "$ADMIN_PASSWORD" "$PLAIN_USER" \
        "$PLAIN_PASSWORD" "$KRB_USER" "$KRB_PASSWORD" "$WMI_USER" "$WMI_PASSWORD" \
        "$EVENT_READER_USER" "$EVENT_READER_PASSWORD" | chpasswd
    ensure_pam_service
    echo "test users ready: $ADMIN_USER (in $ADMIN_GROUP), $PLAIN_USER"
}

# The PAM tests read these; without root (no users) they skip with a printed reason.
export_test_users() {
    if [ "$(id -u)" -eq 0 ] && id "$ADMIN_USER" >/dev/null 2>&1 && id "$PLAIN_USER" >/dev/null 2>&1; then
        export WSMAN_TEST_PAM_USER="$ADMIN_USER"
        export WSMAN_TEST_PAM_PASSWORD="$ADMIN_PASSWORD"
        export WSMAN_TEST_PAM_PLAIN_USER="$PLAIN_USER"
        export WSMAN_TEST_PAM_PLAIN_PASSWORD="$PLAIN_PASSWORD"
    fi
    if [ "$(id -u)" -eq 0 ] && id "$WMI_USER" >/dev/null 2>&1; then
        export WSMAN_TEST_PAM_WMI_USER="$WMI_USER"
        export WSMAN_TEST_PAM_WMI_PASSWORD="$WMI_PASSWORD"
    fi
    if [ "$(id -u)" -eq 0 ] && id "$EVENT_READER_USER" >/dev/null 2>&1; then
        export WSMAN_TEST_PAM_EVENT_READER_USER="$EVENT_READER_USER"
        export WSMAN_TEST_PAM_EVENT_READER_PASSWORD="$EVENT_READER_PASSWORD"
    fi
    # As root the KDC and OpenIPMI packages were just installed: the Kerberos and BMC tests must
    # run, not skip.
    if [ "$(id -u)" -eq 0 ]; then
        export WSMAN_TEST_REQUIRE_KDC=1
        export WSMAN_TEST_REQUIRE_SYSTEMD=1
        export WSMAN_TEST_REQUIRE_IPMI=1
        export WSMAN_TEST_REQUIRE_PACKAGEKIT=1
        export WSMAN_TEST_REQUIRE_POSTGRES=1
        export WSMAN_TEST_REQUIRE_HAPROXY=1
        export WSMAN_TEST_REQUIRE_GO_WINRM=1
        export WSMAN_TEST_REQUIRE_RPM=1
    fi
}

# The root file system the systemd tests boot a real systemd in (scripts/sysroot.sh), made once
# and cached. As root the tests that need it must run, not skip (export_test_users).
systemd_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "not root: the systemd tests will be skipped"
        return 0
    fi
    bash scripts/sysroot.sh
}

python_venv() {
    if [ ! -x .venv/bin/python ]; then
        python3 -m venv .venv
    fi
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check \
        -r tests/interop/requirements.txt
}

# Every crate's tests. With cargo-nextest (CI's image has it) the tests of all binaries run side
# by side, several at a time (.config/nextest.toml: most wait on real daemons; tests that share
# something outside their process are grouped there), then the doc tests, which nextest does not
# run. Without it, `cargo test`: one binary after another. Both run every test to the end.
run_cargo_test() {
    local status=0
    if cargo nextest --version >/dev/null 2>&1; then
        cargo nextest run --workspace --no-fail-fast 2>&1 | tee "$LOG_DIR/cargo-test.log" \
            || status=$?
        cargo test --workspace --doc --no-fail-fast 2>&1 | tee -a "$LOG_DIR/cargo-test.log" \
            || status=$?
    else
        cargo test --workspace --no-fail-fast 2>&1 | tee "$LOG_DIR/cargo-test.log" || status=$?
    fi
    return "$status"
}

run_pytest() {
    local status=0
    PYTHONDONTWRITEBYTECODE=1 .venv/bin/python -m pytest tests/interop -v -p no:cacheprovider 2>&1 \
        | tee "$LOG_DIR/pytest.log" || status=$?
    if [ "$status" -eq 5 ]; then
        echo "pytest collected no tests: that is a failure" >&2
    fi
    return "$status"
}

# npm's winrm-client at its lockfile's version, without install scripts, for
# crates/wsman-server/tests/node_winrm.rs (which installs it itself when this did not run).
node_clients() {
    (cd tests/node-winrm && npm ci --ignore-scripts --no-audit --no-fund)
}

# The console in Debian's chromium (crates/wsmand-mgmt/tests/browser.rs driving
# tests/browser/console.mjs, browser_events.rs driving events.mjs, browser_updates.rs driving
# updates.mjs): playwright-core from the npm registry at the lockfile's version,
# without its install scripts (they would download a browser).
browser_tests() {
    # npm itself comes from install_packages (Debian's, when the command is missing).
    (cd tests/browser && npm ci --ignore-scripts --no-audit --no-fund)
    # The graphs' time axis without a browser (node's own test runner, no package).
    node --test crates/wsmand-mgmt/web/src/time_axis.test.mjs
    # --workspace, not -p wsmand-mgmt: the same features as the "cargo test" stage, so its
    # executables are reused; -p resolves features anew and rebuilt the crate and its tests.
    # One cargo run, its binaries one after another, each to the end (--no-fail-fast): the
    # console (browser), the Events page against a collector node with the event store and
    # forwarded events (browser_events), the Updates page over 60 hosts on PackageKit's dummy
    # backend, a bus of its own (browser_updates).
    # On nextest the three binaries run side by side (browser.rs's two runs one after the other:
    # .config/nextest.toml's browser-fleet group), 120 s instead of their 186 s in turn.
    if cargo nextest --version >/dev/null 2>&1; then
        WSMAN_TEST_BROWSER=1 cargo nextest run --profile browser --workspace --no-fail-fast -E \
            'binary_id(wsmand-mgmt::browser) | binary_id(wsmand-mgmt::browser_events) | binary_id(wsmand-mgmt::browser_updates)' \
            2>&1 | tee "$LOG_DIR/browser.log"
    else
        WSMAN_TEST_BROWSER=1 cargo test --workspace --no-fail-fast --test browser \
            --test browser_events --test browser_updates -- --nocapture 2>&1 \
            | tee "$LOG_DIR/browser.log"
    fi
}

# Every cargo-fuzz target (crates/wsman-test/tests/architecture.rs checks that this list names
# every file of fuzz/fuzz_targets).
FUZZ_TARGETS=(envelope xml sealed_body sddl keytab client_cert_names ntlm auth_header tsrequest
    wql event_query journal_export subscribe offer sldc xpress mgmt_http mgmt_pam_helper
    mgmt_terminal mgmt_event_stream smbios bmc krb5_wrap_token flat_page resp relp collector_event
    proxy_header psrp psrp_client)

# The fuzz targets' build: their own workspace and target directory, every target in one cargo
# run so that their links share both cores. It starts in the background, in a session of its own
# at the lowest CPU priority, once the cargo test stage is done: the stages after it (pytest, the
# browser, the benchmarks' smoke) mostly wait on daemons and browsers, and the build takes the
# cores they leave (its 260 s were a stage of their own). The fuzz stage waits for it.
FUZZ_BUILD_PID=
start_fuzz_build() {
    # shellcheck disable=SC2016 # the inner shell expands these, from its own arguments
    setsid bash -c '
        status_file=$1
        shift
        status=0
        if ! command -v cargo-fuzz >/dev/null 2>&1; then
            nice -n 19 cargo install cargo-fuzz --locked || status=$?
        fi
        if [ "$status" -eq 0 ]; then
            cd fuzz && RUSTC_BOOTSTRAP=1 nice -n 19 cargo fuzz build "$@" || status=$?
        fi
        echo "$status" >"$status_file"
    ' fuzz-build "$LOG_DIR/fuzz-build.status" "${FUZZ_BUILD[@]}" \
        >"$LOG_DIR/fuzz-build.log" 2>&1 </dev/null &
    FUZZ_BUILD_PID=$!
}

# Ends the background build (its whole session: cargo and its compilers) if it still runs.
stop_fuzz_build() {
    if [ -n "$FUZZ_BUILD_PID" ] && fuzz_build_running; then
        kill -- "-$FUZZ_BUILD_PID" 2>/dev/null || true
    fi
}

# Whether the background build still runs: once ended it stays a zombie (the script reaps it
# only between stages), which `kill -0` would still find.
fuzz_build_running() {
    local state
    state=$(ps -o stat= -p "$FUZZ_BUILD_PID" 2>/dev/null) || return 1
    [[ "$state" != Z* ]]
}

# Waits for the background build (started now if it was not) and prints its output.
wait_fuzz_build() {
    [ -n "$FUZZ_BUILD_PID" ] || start_fuzz_build
    while [ ! -f "$LOG_DIR/fuzz-build.status" ] && fuzz_build_running; do
        sleep 2
    done
    cat "$LOG_DIR/fuzz-build.log"
    local status
    status=$(cat "$LOG_DIR/fuzz-build.status" 2>/dev/null || echo "no status: the build was killed")
    if [ "$status" != 0 ]; then
        echo "the fuzz targets' build failed: $status" >&2
        return 1
    fi
}

fuzz_smoke() {
    local seconds="${WSMAN_FUZZ_SECONDS:-$((FUZZ_TOTAL_SECONDS / ${#FUZZ_TARGETS[@]}))}"
    [ "$seconds" -ge 2 ] || seconds=2
    local target
    # Each run below finds its binary built with the same options.
    wait_fuzz_build
    for target in "${FUZZ_TARGETS[@]}"; do
        echo "fuzz target $target: ${seconds}s"
        # cargo-fuzz needs nightly-only flags (-Zsanitizer); RUSTC_BOOTSTRAP lets stable accept them.
        mkdir -p "fuzz/corpus/$target"
        (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run "${FUZZ_BUILD[@]}" "$target" \
            "corpus/$target" "seeds/$target" -- -max_total_time="$seconds" -print_final_stats=1)
    done
}

# Every script in benches/ in its smoke mode (WSMAN_BENCH_SMOKE=1, scripts/lib.sh): tiny sizes on
# the debug build of the "cargo build" stage, peers that are not installed left out, no figure
# asserted; a change that breaks a benchmark fails here. crates/wsman-test/tests/architecture.rs
# checks that this list names every script in benches/.
BENCH_SMOKE_SCRIPTS=(auth.sh cim-synthetic.sh cim.sh collector-fleet.sh collector-idle.sh
    collector.sh console-terminal.sh event-search.sh events.sh fanout.sh faults.sh fleet.sh forward.sh graphs.sh hostile.sh
    identify.sh idle-rss.sh kerberos.sh pam-session.sh psrp.sh pty.sh sealed-compare.sh sealed.sh
    shell.sh soak-daemon.sh updates.sh)

bench_smoke() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "not root: the benchmarks' smoke run is skipped (they start shells and daemons as root)"
        return 0
    fi
    local script begin status failed=0
    for script in "${BENCH_SMOKE_SCRIPTS[@]}"; do
        begin=$(date +%s)
        status=0
        WSMAN_BENCH_SMOKE=1 WSMAN_BENCH_BIN_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/debug" \
            timeout --kill-after=10 300 bash "benches/$script" >"$LOG_DIR/bench-$script.log" 2>&1 \
            || status=$?
        if [ "$status" -eq 0 ]; then
            echo "ok      benches/$script ($(($(date +%s) - begin))s)"
        else
            echo "FAILED  benches/$script (exit $status, $(($(date +%s) - begin))s); the end of its output:"
            tail -n 30 "$LOG_DIR/bench-$script.log" | sed 's/^/    /'
            failed=$((failed + 1))
        fi
    done
    [ "$failed" -eq 0 ]
}

run_bench_smoke() {
    bench_smoke 2>&1 | tee "$LOG_DIR/bench-smoke.log"
}

# Add the names of failed tests (lines of LOG matching the extended regex PATTERN, its group
# GROUP, the first by default) to the summary, under the stage just run.
list_failed_tests() {
    local pattern="$1" log="$2" group="${3:-1}" name
    [ -f "$log" ] || return 0
    while IFS= read -r name; do
        SUMMARY+=("          $name")
    done < <(sed -nE "s#$pattern#\\$group#p" "$log" | sort -u)
}

# Add where each failed Rust test panicked and the first lines of its message, so that the
# summary (often all that is kept of a CI log) says why, not only what.
list_panics() {
    local log="$1" line
    [ -f "$log" ] || return 0
    while IFS= read -r line; do
        SUMMARY+=("            ${line:0:300}")
    done < <(awk '/panicked at /{n=8} n>0{print; n--}' "$log" | head -n 40)
}

require_cargo

# Interop tests and integration tests need not see the developer's shell settings.
unset WSMAND_CONFIG_DIR

# free_space_note GB WHAT: free space is noted, not enforced (the figure is an estimate, and a
# build that fits should run), so that a stage failing on writes names the disk in the summary.
free_space_note() {
    local needed_gb="$1" what="$2" free_gb
    free_gb=$(df --output=avail -BG "$ROOT" | tail -n 1 | tr -dc 0-9)
    if [ -n "$free_gb" ] && [ "$free_gb" -lt "$needed_gb" ]; then
        echo "warning: ${free_gb} GB free under $ROOT; $what needs about ${needed_gb} GB" >&2
        SUMMARY+=("note    ${free_gb} GB free under $ROOT, about ${needed_gb} GB needed by $what: a stage failing on writes may be the disk")
    fi
}

# What scripts/start.sh builds by default (wsmand without the `kafka` feature), linted, and
# wsman-outputs' tests in that build (a Kafka output refused by its check).
without_kafka() {
    cargo clippy -p wsmand -p winrm --no-default-features -- -D warnings &&
        cargo test -p wsman-outputs --no-default-features --lib kafka
}

free_space_note "$NEEDED_FREE_GB" "the build and tests"
stage "install Debian packages" required install_packages
stage "test users and PAM service" required create_test_users
export_test_users
stage "python venv (pypsrp, pywinrm, pytest)" required python_venv
stage "systemd test root (debootstrap, cached)" continue systemd_root
stage "cargo fmt --check" continue cargo fmt --all -- --check
stage "cargo clippy -D warnings" continue cargo clippy --workspace --all-targets -- -D warnings
stage "cargo doc -D warnings" continue env RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
stage "console assets match a fresh npm build" continue scripts/web-assets.sh check
stage "cargo build" required cargo build --workspace --bins
# scripts/start.sh's build leaves the Kafka output's librdkafka out (--no-default-features):
# that build is linted, and the output's check refusing a Kafka output there is tested.
stage "without Kafka (start.sh's build)" continue without_kafka
stage "npm clients (winrm-client)" continue node_clients
stage "cargo test" continue run_cargo_test
list_failed_tests '^test (.*) \.\.\. FAILED$' "$LOG_DIR/cargo-test.log"
# nextest's: "FAIL [ 1.2s] ( 3/900) crate::binary module::test" (also SIGSEGV, TIMEOUT...).
list_failed_tests '^ +(FAIL|SIG[A-Z]+|TIMEOUT|ABORT) \[[^]]*\][ ()/0-9]*(.+)$' \
    "$LOG_DIR/cargo-test.log" 2
list_panics "$LOG_DIR/cargo-test.log"
free_space_note "$FUZZ_NEEDED_FREE_GB" "the fuzz build"
start_fuzz_build
stage "pytest tests/interop" continue run_pytest
list_failed_tests '^(tests/interop/[^ ]*) FAILED.*$' "$LOG_DIR/pytest.log"
grep -E '^E   ' "$LOG_DIR/pytest.log" 2>/dev/null | head -n 20 | while IFS= read -r line; do echo "${line:0:300}"; done >"$LOG_DIR/pytest-errors" || true
while IFS= read -r line; do SUMMARY+=("            $line"); done <"$LOG_DIR/pytest-errors"
stage "browser (chromium + playwright-core)" continue browser_tests
list_panics "$LOG_DIR/browser.log"
stage "benchmarks smoke (benches/, WSMAN_BENCH_SMOKE=1)" continue run_bench_smoke
list_failed_tests '^FAILED  (benches/[^ ]*) .*$' "$LOG_DIR/bench-smoke.log"
stage "fuzz smoke run" continue fuzz_smoke
