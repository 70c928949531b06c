"""Apache Airflow's `microsoft-winrm` provider's pattern, through pywinrm's `Protocol` as its hook
uses it, against the real wsmand, over Basic and over sealed NTLM.

The hook's `get_conn()` is a fresh `winrm.protocol.Protocol` (a new HTTP session, so a new
connection) each time: the operator opens a shell in a working directory and starts the command
on one; its deferrable trigger polls `get_command_output_raw` from a new one at every poll; the
task's kill (or its end) sends the terminate Signal (`cleanup_command`) and deletes the shell
from a third. Nothing of a command may be tied to the connection that started it.
"""

from __future__ import annotations

import os
import tempfile
import time

import pytest
from winrm.protocol import Protocol

from conftest import Account, running_daemon

BASIC_ACCOUNT = Account("airflow-basic", "Airflow-Basic-Pass-4!", "root" if os.geteuid() == 0 else None)
NTLM_ACCOUNT = Account(
    "airflow-ntlm", "Airflow-Ntlm-Pass-6!", "root" if os.geteuid() == 0 else None, ntlm=True
)
AUTHS = ["basic", "ntlm"]


@pytest.fixture(scope="module")
def daemon():
    with running_daemon((BASIC_ACCOUNT, NTLM_ACCOUNT)) as started:
        yield started


def hook_conn(daemon, auth: str) -> Protocol:
    """What the provider's `WinRMHook.get_conn()` returns: a new Protocol, a new connection.
    NTLM over HTTP seals every message (pywinrm's `message_encryption='auto'`)."""
    account = BASIC_ACCOUNT if auth == "basic" else NTLM_ACCOUNT
    return Protocol(
        daemon.url("http"),
        transport=auth,
        username=account.name,
        password=account.password,
        message_encryption="auto",
        proxy=None,
        operation_timeout_sec=10,
        read_timeout_sec=30,
    )


def poll_until_done(daemon, auth: str, shell_id: str, command_id: str, deadline: float = 60.0):
    """The deferrable trigger: every poll on a new connection, output accumulated until done."""
    stdout, stderr = b"", b""
    polls = 0
    end = time.monotonic() + deadline
    while True:
        out, err, code, done = hook_conn(daemon, auth).get_command_output_raw(shell_id, command_id)
        stdout, stderr, polls = stdout + out, stderr + err, polls + 1
        if done:
            return stdout, stderr, code, polls
        assert time.monotonic() < end, f"not done after {polls} polls: {stdout!r} {stderr!r}"


@pytest.mark.parametrize("auth", AUTHS)
def test_started_on_one_connection_polled_from_new_ones(daemon, auth):
    starter = hook_conn(daemon, auth)
    shell_id = starter.open_shell()
    command_id = starter.run_command(
        shell_id, "for i in 1 2 3 4 5; do echo line$i; sleep 0.2; done; echo oops >&2; exit 4"
    )
    stdout, stderr, code, polls = poll_until_done(daemon, auth, shell_id, command_id)
    assert stdout == b"".join(f"line{i}\n".encode() for i in range(1, 6))
    assert stderr == b"oops\n"
    assert code == 4
    assert polls >= 1
    finisher = hook_conn(daemon, auth)
    finisher.cleanup_command(shell_id, command_id)
    finisher.close_shell(shell_id)


@pytest.mark.parametrize("auth", AUTHS)
def test_working_directory(daemon, auth):
    directory = tempfile.mkdtemp(prefix="airflow-wd-")
    os.chmod(directory, 0o755)
    try:
        starter = hook_conn(daemon, auth)
        shell_id = starter.open_shell(working_directory=directory)
        command_id = starter.run_command(shell_id, "pwd")
        stdout, stderr, code, _ = poll_until_done(daemon, auth, shell_id, command_id)
        assert (stdout, stderr, code) == (f"{directory}\n".encode(), b"", 0)
        hook_conn(daemon, auth).close_shell(shell_id)
    finally:
        os.rmdir(directory)


@pytest.mark.parametrize("auth", AUTHS)
def test_terminated_from_a_third_connection(daemon, auth):
    """A task killed while its command runs: the terminate Signal and the Delete come on a third
    connection, after a poll on a second one saw the command running."""
    # A number of seconds no other process sleeps: its command line is the marker.
    marker = f"sleep 300.{time.monotonic_ns() % 10**9:09d}"
    starter = hook_conn(daemon, auth)
    shell_id = starter.open_shell()
    command_id = starter.run_command(shell_id, f"echo started; exec {marker}")
    out, _, _, done = hook_conn(daemon, auth).get_command_output_raw(shell_id, command_id)
    assert (out, done) == (b"started\n", False)
    killer = hook_conn(daemon, auth)
    killer.cleanup_command(shell_id, command_id)
    killer.close_shell(shell_id)
    deadline = time.monotonic() + 30
    while any(marker in cmdline for cmdline in _cmdlines()):
        assert time.monotonic() < deadline, "the terminated command still runs"
        time.sleep(0.05)


def _cmdlines() -> list[str]:
    lines = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    lines.append(f.read().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                pass
    return lines
