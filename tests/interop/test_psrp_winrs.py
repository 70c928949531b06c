"""Our own client's PowerShell remoting, `winrs -ps`, end to end against the real wsmand with
the `pwsh` stand-in of tests/psrp-standin (psrpcore's server-side runspace pool: a PSRP
implementation written by others, which must accept the messages winrs builds and whose
answers winrs must read). Over Basic on HTTPS and NTLM with message encryption on HTTP.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import binary, running_daemon
from shell_support import (  # noqa: F401 (no_leftover_processes: autouse fixture)
    RUN_AS_ACCOUNT,
    TEST_USER,
    login_for,
    no_leftover_processes,
    wait_until,
)
from test_psrp import (  # noqa: F401 (fixtures)
    NTLM_PSRP_ACCOUNT,
    normal_mode,
    ntlm_daemon,
    ps_daemon,
    pwsh_processes,
    standin,
    uid,
)


@pytest.fixture(scope="module")
def client_dir():
    """The client machine's configuration: HTTP needs the host in TrustedHosts, as on Windows."""
    path = Path(tempfile.mkdtemp(prefix="wsmand-winrs-ps-"))
    (path / "config.toml").write_text(
        '[Config.Client]\nAllowUnencrypted = true\nTrustedHosts = "127.0.0.1"\n'
    )
    yield path
    for child in path.iterdir():
        child.unlink()
    path.rmdir()


def winrs_ps(daemon, client_dir: Path, script: str, *, https: bool = True, username=None,
             password=None, auth="Basic", wait=True):
    login = login_for("run-as")
    url = daemon.url("https" if https else "http")
    command = [
        str(binary("winrs")), f"-r:{url}", f"-u:{username or login.username}",
        f"-p:{password or login.password}", f"-a:{auth}", "-skipCAcheck", "-skipCNcheck",
        "-ps", script,
    ]
    env = dict(os.environ, WSMAND_CONFIG_DIR=str(client_dir))
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    if not wait:
        return process
    stdout, stderr = process.communicate(timeout=120)
    return process.returncode, stdout, stderr


def test_winrs_ps_writes_the_output_as_the_authenticated_user(ps_daemon, client_dir, uid):
    code, stdout, stderr = winrs_ps(ps_daemon, client_dir, "Write-Output hello; whoami; Get-Date")
    assert code == 0, stderr
    lines = stdout.splitlines()
    assert lines[:2] == ["hello", TEST_USER], stdout
    assert len(lines) == 3 and lines[2], stdout
    assert stderr == ""
    # The pool was closed: its pwsh is gone.
    assert wait_until(lambda: not pwsh_processes(uid), 15), pwsh_processes(uid)


def test_winrs_ps_exits_1_when_the_script_writes_errors_or_throws(ps_daemon, client_dir):
    code, stdout, stderr = winrs_ps(ps_daemon, client_dir, "Write-Output before; Write-Error oops; 'after'")
    assert (code, stdout.splitlines()) == (1, ["before", "after"]), stderr
    assert "oops" in stderr
    code, stdout, stderr = winrs_ps(ps_daemon, client_dir, 'Write-Output first; throw "it broke"; "never"')
    assert (code, stdout.splitlines()) == (1, ["first"]), stderr
    assert "it broke" in stderr
    code, _, stderr = winrs_ps(ps_daemon, client_dir, "No-SuchCommand")
    assert code == 1 and "not recognized" in stderr, stderr


def test_winrs_ps_ctrl_c_stops_the_pipeline_and_closes_the_pool(ps_daemon, client_dir, uid):
    process = winrs_ps(ps_daemon, client_dir, "Write-Output started; Start-Sleep 600; 'never'", wait=False)
    first = process.stdout.readline()
    assert first == "started\n", process.stderr.read() if first == "" else first
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    # Stopped, as a second Ctrl-C or a command killed by SIGINT reports it.
    assert process.returncode == 130, stderr
    assert "never" not in stdout
    assert wait_until(lambda: not pwsh_processes(uid), 15), pwsh_processes(uid)


def test_winrs_ps_over_ntlm_with_message_encryption_on_http(ntlm_daemon, client_dir):
    started = time.monotonic()
    code, stdout, stderr = winrs_ps(ntlm_daemon, client_dir, "Write-Output sealed; whoami", https=False,
                                    username=NTLM_PSRP_ACCOUNT.name, password=NTLM_PSRP_ACCOUNT.password,
                                    auth="Negotiate")
    assert code == 0, stderr
    assert stdout.splitlines() == ["sealed", TEST_USER]
    assert time.monotonic() - started < 120


def test_winrs_ps_when_pwsh_dies_mid_pipeline_is_a_fault_and_nothing_is_left(ps_daemon, client_dir, standin, uid):
    standin.set_mode("exit-mid-pipeline")
    code, stdout, stderr = winrs_ps(ps_daemon, client_dir, "Write-Output 1; Write-Output 2; Start-Sleep 600")
    # A WS-Management fault (253) naming why, after what pwsh wrote before it died.
    assert code == 253, (code, stdout, stderr)
    assert "pwsh exited with status 3" in stderr, stderr
    assert stdout.splitlines() == ["1"], stdout
    assert wait_until(lambda: not pwsh_processes(uid), 15), pwsh_processes(uid)
