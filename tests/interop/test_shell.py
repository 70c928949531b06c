"""WinRS shells with pywinrm and pypsrp from PyPI, unchanged, against the real wsmand.

pywinrm: `Session.run_cmd` and `Protocol` step by step (open_shell, run_command,
send_command_input, get_command_output with its timeout retries, cleanup_command,
close_shell). pypsrp: `Client.execute_cmd` and `WinRS`/`Process` (stdin, signals).
Every test checks that no process it started is left over.
"""

from __future__ import annotations

import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from pypsrp.client import Client
from pypsrp.exceptions import WSManFaultError
from pypsrp.shell import Process, SignalCode, WinRS
from pypsrp.wsman import WSMan
from winrm import Session
from winrm.protocol import Protocol

from conftest import SERVICE_ACCOUNT, SERVICE_PASSWORD

TRANSPORTS = ["https", "http"]


def url(daemon, transport: str) -> str:
    port = daemon.https_port if transport == "https" else daemon.http_port
    return f"{transport}://127.0.0.1:{port}/wsman"


def session(daemon, transport: str) -> Session:
    return Session(
        url(daemon, transport),
        auth=(SERVICE_ACCOUNT, SERVICE_PASSWORD),
        transport="basic",
        server_cert_validation="ignore",
        message_encryption="never",
        proxy=None,
    )


def protocol(daemon, transport: str, operation_timeout: int = 20) -> Protocol:
    return Protocol(
        url(daemon, transport),
        transport="basic",
        username=SERVICE_ACCOUNT,
        password=SERVICE_PASSWORD,
        server_cert_validation="ignore",
        message_encryption="never",
        proxy=None,
        operation_timeout_sec=operation_timeout,
        read_timeout_sec=operation_timeout + 10,
    )


def wsman(daemon, transport: str) -> WSMan:
    common = dict(
        auth="basic",
        username=SERVICE_ACCOUNT,
        password=SERVICE_PASSWORD,
        no_proxy=True,
        connection_timeout=10,
        read_timeout=30,
    )
    if transport == "https":
        return WSMan("127.0.0.1", port=daemon.https_port, ssl=True, cert_validation=False, **common)
    return WSMan("127.0.0.1", port=daemon.http_port, ssl=False, encryption="never", **common)


def processes_with(marker: str) -> int:
    count = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    count += 1
        except OSError:
            pass
    return count


def assert_gone(marker: str, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_with(marker) == 0, f"processes matching {marker!r} left over"


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("code", [0, 1, 42, 255])
def test_pywinrm_run_cmd_exit_codes(daemon, transport, code):
    r = session(daemon, transport).run_cmd(f"echo out; echo err >&2; exit {code}")
    assert r.status_code == code
    assert r.std_out == b"out\n"
    assert r.std_err == b"err\n"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_pywinrm_utf8_both_ways(daemon, transport):
    r = session(daemon, transport).run_cmd("printf", ["'%s\\n'", "'héllo wörld ✓'"])
    assert r.status_code == 0
    assert r.std_out.decode("utf-8") == "héllo wörld ✓\n"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_pywinrm_protocol_step_by_step_with_stdin(daemon, transport):
    p = protocol(daemon, transport)
    shell_id = p.open_shell(codepage=65001)
    try:
        command_id = p.run_command(shell_id, "wc", ["-c"])
        payload = b"x" * (1024 * 1024)
        chunk = 64 * 1024
        for i in range(0, len(payload), chunk):
            p.send_command_input(shell_id, command_id, payload[i : i + chunk], end=i + chunk >= len(payload))
        out, err, code = p.get_command_output(shell_id, command_id)
        assert code == 0
        assert out.strip() == b"1048576"
        p.cleanup_command(shell_id, command_id)
    finally:
        p.close_shell(shell_id)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_pywinrm_keeps_polling_through_timeout_faults(daemon, transport):
    p = protocol(daemon, transport, operation_timeout=1)
    shell_id = p.open_shell()
    try:
        command_id = p.run_command(shell_id, "sleep 3; echo done")
        out, _, code = p.get_command_output(shell_id, command_id)
        assert (out, code) == (b"done\n", 0)
        p.cleanup_command(shell_id, command_id)
    finally:
        p.close_shell(shell_id)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_large_output(daemon, transport):
    r = session(daemon, transport).run_cmd("head -c 5000000 /dev/zero | tr '\\0' y")
    assert r.status_code == 0
    assert len(r.std_out) == 5_000_000
    assert set(r.std_out) == {ord("y")}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_pypsrp_execute_cmd(daemon, transport):
    with Client(
        "127.0.0.1",
        port=daemon.https_port if transport == "https" else daemon.http_port,
        ssl=transport == "https",
        auth="basic",
        encryption="never" if transport == "http" else "auto",
        username=SERVICE_ACCOUNT,
        password=SERVICE_PASSWORD,
        cert_validation=False,
        no_proxy=True,
    ) as client:
        out, err, code = client.execute_cmd("echo hi; echo oops >&2; exit 3")
    assert out == "hi\n"
    assert err == "oops\n"
    assert code == 3


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_pypsrp_process_stdin_ctrl_c_and_terminate(daemon, transport):
    marker = f"sleep 40{uuid.uuid4().int % 1000:03d}"
    with wsman(daemon, transport) as w, WinRS(w) as shell:
        # stdin
        process = Process(shell, "cat")
        process.begin_invoke()
        process.send(b"from stdin", end=True)
        process.end_invoke()
        assert process.stdout == b"from stdin"
        assert process.rc == 0
        # ctrl_c reaches a trap in the shell
        process = Process(shell, "trap 'echo trapped; exit 9' INT; echo ready; while :; do sleep 0.1; done")
        process.begin_invoke()
        # Receive once: "ready" means the trap is installed.
        process.poll_invoke()
        assert b"ready" in process.stdout
        process.signal(SignalCode.CTRL_C)
        process.end_invoke()
        assert b"trapped" in process.stdout
        assert process.rc == 9
        # terminate a running process
        process = Process(shell, marker)
        process.begin_invoke()
        time.sleep(0.5)
        assert processes_with(marker) > 0
        process.signal(SignalCode.TERMINATE)
        assert_gone(marker)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_delete_kills_the_processes(daemon, transport):
    marker = f"sleep 41{uuid.uuid4().int % 1000:03d}"
    p = protocol(daemon, transport)
    shell_id = p.open_shell()
    p.run_command(shell_id, f"{marker} & {marker}; wait")
    deadline = time.monotonic() + 10
    while processes_with(marker) < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_with(marker) >= 1
    p.close_shell(shell_id)
    assert_gone(marker)


def test_powershell_uri_is_a_clean_fault(daemon):
    with wsman(daemon, "http") as w:
        with pytest.raises(WSManFaultError) as info:
            w.create(
                "http://schemas.microsoft.com/powershell/Microsoft.PowerShell",
                None,
            )
    assert info.value.code == 2150858770


def test_twenty_concurrent_shells(daemon):
    def one(i: int) -> tuple[int, bytes]:
        r = session(daemon, "http").run_cmd(f"echo shell-{i}; exit {i}")
        return r.status_code, r.std_out

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(one, range(20)))
    assert results == [(i, f"shell-{i}\n".encode()) for i in range(20)]
