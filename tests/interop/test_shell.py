"""WinRS shells with pywinrm and pypsrp from PyPI, unchanged, against the real wsmand.

pywinrm: `Session.run_cmd` and `Protocol` step by step (open_shell, run_command,
send_command_input, get_command_output with its timeout retries, cleanup_command,
close_shell). pypsrp: `Client.execute_cmd` and `WinRS`/`Process` (stdin, signals).

Every command runs as the non-root test user (see shell_support), reached both as its PAM
login and through a service account with `--run-as`, over Basic/HTTPS and Basic/HTTP with
AllowUnencrypted; commands print `id -u` to prove who they run as. After each test no process
of the test user may be left (the autouse `no_leftover_processes`).
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from pypsrp.exceptions import WSManFaultError
from pypsrp.shell import Process, SignalCode, WinRS

from conftest import running_daemon
from shell_support import (  # noqa: F401 (no_leftover_processes: autouse fixture)
    LOGINS,
    RUN_AS_ACCOUNT,
    TRANSPORTS,
    Target,
    login_for,
    no_leftover_processes,
    processes_of,
    receive_until_done,
    shell_user_entry,
    wait_until,
)

EXIT_CODES = [0, 1, 42, 255]


@pytest.fixture(scope="module")
def uid() -> int:
    return shell_user_entry().pw_uid


@pytest.fixture(scope="module")
def user_daemon(uid):
    with running_daemon((RUN_AS_ACCOUNT,)) as started:
        yield started


@pytest.fixture(params=LOGINS)
def login(request):
    return login_for(request.param)


@pytest.fixture(params=TRANSPORTS)
def target(request, user_daemon, login) -> Target:
    return Target(user_daemon, request.param, login)


def processes_running(uid: int, command_line: str) -> list[int]:
    """The test user's processes whose command line is exactly `command_line`."""
    return [pid for pid, text in processes_of(uid).items() if text.endswith(f" cmd={command_line}")]


@pytest.mark.parametrize("code", EXIT_CODES)
def test_pywinrm_run_cmd_exit_codes(target, uid, code):
    r = target.session().run_cmd(f"id -u; echo err >&2; exit {code}")
    assert r.status_code == code
    assert r.std_out == f"{uid}\n".encode()
    assert r.std_err == b"err\n"


def test_pywinrm_stdout_and_stderr_are_separate(target, uid):
    script = (
        "id -u; i=0; while [ $i -lt 200 ]; do echo out$i; echo err$i >&2; i=$((i+1)); done; "
        "head -c 100000 /dev/zero | tr '\\0' e >&2; echo last"
    )
    r = target.session().run_cmd(script)
    assert r.status_code == 0
    expected_out = f"{uid}\n" + "".join(f"out{i}\n" for i in range(200)) + "last\n"
    expected_err = "".join(f"err{i}\n" for i in range(200)) + "e" * 100_000
    assert r.std_out.decode() == expected_out
    assert r.std_err.decode() == expected_err


def test_pywinrm_utf8_both_ways(target, uid):
    text = "héllo wörld ✓ 日本"
    r = target.session().run_cmd("id -u; printf", ["'%s\\n'", f"'{text}'"])
    assert r.status_code == 0
    assert r.std_out.decode("utf-8") == f"{uid}\n{text}\n"
    p = target.protocol()
    shell_id = p.open_shell(codepage=65001)
    try:
        command_id = p.run_command(shell_id, "cat")
        p.send_command_input(shell_id, command_id, text.encode("utf-8"), end=True)
        out, err, code = receive_until_done(p, shell_id, command_id)
        assert (out.decode("utf-8"), err, code) == (text, b"", 0)
    finally:
        p.close_shell(shell_id)


def test_pywinrm_protocol_step_by_step_with_stdin(target, uid):
    p = target.protocol()
    shell_id = p.open_shell(codepage=65001)
    try:
        command_id = p.run_command(shell_id, "id -u; wc -c")
        payload = b"x" * (1024 * 1024)
        chunk = 64 * 1024
        for i in range(0, len(payload), chunk):
            p.send_command_input(shell_id, command_id, payload[i : i + chunk], end=i + chunk >= len(payload))
        out, err, code = p.get_command_output(shell_id, command_id)
        assert code == 0
        assert out.split() == [str(uid).encode(), b"1048576"]
        p.cleanup_command(shell_id, command_id)
    finally:
        p.close_shell(shell_id)


def test_pywinrm_keeps_polling_through_timeout_faults(target, uid):
    p = target.protocol(operation_timeout=1)
    shell_id = p.open_shell()
    try:
        command_id = p.run_command(shell_id, "id -u; sleep 3; echo done")
        out, _, code = p.get_command_output(shell_id, command_id)
        assert (out, code) == (f"{uid}\ndone\n".encode(), 0)
        p.cleanup_command(shell_id, command_id)
    finally:
        p.close_shell(shell_id)


def test_large_output(target, uid):
    r = target.session().run_cmd("id -u >&2; head -c 5000000 /dev/zero | tr '\\0' y")
    assert r.status_code == 0
    assert r.std_err == f"{uid}\n".encode()
    assert len(r.std_out) == 5_000_000
    assert set(r.std_out) == {ord("y")}


@pytest.mark.parametrize("code", EXIT_CODES)
def test_pypsrp_execute_cmd_exit_codes(target, uid, code):
    with target.client() as client:
        out, err, rc = client.execute_cmd(f"id -u; echo oops >&2; exit {code}")
    assert (out, err, rc) == (f"{uid}\n", "oops\n", code)


def test_pypsrp_process_exit_codes(target, uid):
    with target.wsman() as w, WinRS(w) as shell:
        for code in EXIT_CODES:
            process = Process(shell, f"id -u; echo e{code} >&2; exit {code}")
            process.invoke()
            assert (process.rc, process.stdout, process.stderr) == (code, f"{uid}\n".encode(), f"e{code}\n".encode())


def test_pypsrp_process_stdin_ctrl_c_and_terminate(target, uid):
    marker = f"sleep 40{uuid.uuid4().int % 1000:03d}"
    with target.wsman() as w, WinRS(w) as shell:
        # stdin
        process = Process(shell, "id -u; cat")
        process.begin_invoke()
        process.send(b"from stdin", end=True)
        process.end_invoke()
        assert process.stdout == f"{uid}\n".encode() + b"from stdin"
        assert process.rc == 0
        # ctrl_c reaches a trap in the shell
        process = Process(shell, "trap 'echo trapped; exit 9' INT; echo ready; while :; do sleep 0.1; done")
        process.begin_invoke()
        # Receive until "ready": the trap is installed.
        deadline = time.monotonic() + 20
        while b"ready" not in process.stdout and time.monotonic() < deadline:
            process.poll_invoke()
        assert b"ready" in process.stdout
        process.signal(SignalCode.CTRL_C)
        process.end_invoke()
        assert b"trapped" in process.stdout
        assert process.rc == 9
        # terminate a running process: it ran as the test user, and is gone afterwards
        process = Process(shell, marker)
        process.begin_invoke()
        assert wait_until(lambda: processes_running(uid, marker), 10), f"{marker} never ran as uid {uid}"
        process.signal(SignalCode.TERMINATE)
        assert wait_until(lambda: not processes_running(uid, marker), 15), f"{marker} survived terminate"


def test_delete_kills_the_processes(target, uid):
    marker = f"sleep 41{uuid.uuid4().int % 1000:03d}"
    p = target.protocol()
    shell_id = p.open_shell()
    p.run_command(shell_id, f"{marker} & {marker}; wait")
    assert wait_until(lambda: len(processes_running(uid, marker)) == 2, 10), f"{marker} x2 never ran as uid {uid}"
    p.close_shell(shell_id)
    assert wait_until(lambda: not processes_running(uid, marker), 15), f"{marker} survived Delete"


def test_powershell_create_of_an_ordinary_user_is_refused_before_its_body_is_read(user_daemon):
    """The PowerShell plug-in is served (tests/interop/test_psrp.py), but its default descriptor
    is Windows': administrators and Remote Management Users (wsmand-remote-users). An ordinary
    user's Create is refused with Windows' access fault before anything of it is read, even
    without its rsp:Shell body (which a permitted user gets the schema fault for)."""
    with Target(user_daemon, "http", login_for("run-as")).wsman() as w:
        with pytest.raises(WSManFaultError) as info:
            w.create("http://schemas.microsoft.com/powershell/Microsoft.PowerShell", None)
    assert info.value.code == 5


def test_twenty_concurrent_shells(target, uid):
    """20 shells of the test user open at once, each running a command at the same time."""
    count = 20
    opened = threading.Barrier(count, timeout=60)
    running = threading.Barrier(count + 1, timeout=60)
    marker = f"sleep 2.{uuid.uuid4().int % 1000:03d}"

    def one(i: int) -> tuple[int, bytes]:
        p = target.protocol()
        shell_id = p.open_shell()
        try:
            opened.wait()
            command_id = p.run_command(shell_id, f"id -u; {marker}; echo shell-{i}; exit {i}")
            running.wait()
            out, _, code = receive_until_done(p, shell_id, command_id)
            return code, out
        finally:
            p.close_shell(shell_id)

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(one, i) for i in range(count)]
        running.wait()
        # Each shell's command runs now, as the test user (bounded: the sleeps last 2 s).
        concurrently = wait_until(lambda: len(processes_running(uid, marker)) == count, 10, step=0.02)
        results = [f.result() for f in futures]
    assert results == [(i, f"{uid}\nshell-{i}\n".encode()) for i in range(count)]
    assert concurrently, f"never saw {count} commands of uid {uid} running at once"


def cgroups_in_force(daemon) -> bool:
    """Whether the daemon said it confines shells with cgroups (its startup log line)."""
    return any("WinRS shells ready" in line and "cgroups=true" in line for line in daemon.log.read_text().splitlines())


def test_delete_kills_processes_that_left_the_session(target, uid):
    """Daemonized children (setsid, double fork, stdio detached) are still the shell's."""
    if not cgroups_in_force(target.daemon):
        pytest.xfail("without cgroups a process that calls setsid escapes Delete (documented fallback weakness)")
    marker = f"sleep 42{uuid.uuid4().int % 1000:03d}"
    p = target.protocol()
    shell_id = p.open_shell()
    try:
        command_id = p.run_command(shell_id, f"(setsid {marker} </dev/null >/dev/null 2>&1 &); echo detached")
        out, _, code = receive_until_done(p, shell_id, command_id)
        assert (out, code) == (b"detached\n", 0)
        assert wait_until(lambda: processes_running(uid, marker), 10), f"{marker} never ran as uid {uid}"
    finally:
        p.close_shell(shell_id)
    assert wait_until(lambda: not processes_running(uid, marker), 15), f"{marker} survived Delete"


@pytest.mark.parametrize("transport", ["http"])
def test_done_comes_while_a_background_child_keeps_writing(user_daemon, transport, uid):
    p = Target(user_daemon, transport, login_for("run-as")).protocol()
    shell_id = p.open_shell()
    try:
        command_id = p.run_command(shell_id, "(while :; do echo tick; sleep 0.5; done) & exit 3")
        _, _, code = receive_until_done(p, shell_id, command_id, within=30)
        assert code == 3
    finally:
        p.close_shell(shell_id)
