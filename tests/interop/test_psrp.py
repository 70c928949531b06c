"""PowerShell remoting (PSRP) through the PowerShell plug-in, bridged to `pwsh -s`, with
pypsrp from PyPI, unchanged, against the real wsmand.

PowerShell is not installable here, so `pwsh` is the stand-in of tests/psrp-standin (psrpcore's
server-side runspace pool behind `pwsh -s`'s out-of-process transport; it runs only the few
statements its doc lists). What these tests show is the bridge: WinRM shells, commands,
sends, receives, signals and deletes mapped onto that transport, as the authenticated Linux
user, bounded, and no `pwsh` left behind (the autouse `no_leftover_processes`).

The stand-in's mode (normal, or failing as a pwsh could: exits mid-pipeline, writes garbage,
never answers) is read from a file at each start, so one daemon serves every mode.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import requests
from pypsrp.client import Client
from pypsrp.exceptions import WSManFaultError
from pypsrp.powershell import PowerShell, PSInvocationState, RunspacePool
from pypsrp.shell import WinRS
from pypsrp.wsman import SelectorSet

from conftest import REPO, Account, DecryptSpy, binary, running_daemon
from shell_support import (  # noqa: F401 (no_leftover_processes: autouse fixture)
    LOGINS,
    RUN_AS_ACCOUNT,
    TEST_USER,
    TRANSPORTS,
    Target,
    login_for,
    no_leftover_processes,
    processes_of,
    shell_user_entry,
    wait_until,
)

sys.path.insert(0, str(REPO / "tests" / "psrp-standin"))
from standin_client import Direct  # noqa: E402
from test_kerberos import mapped_user, pypsrp_client, realm  # noqa: E402,F401 (realm: fixture)

STANDIN = REPO / "tests" / "psrp-standin" / "pwsh_standin.py"
TIMED_OUT = 2150858793


def interpreter() -> str:
    """A Python of this one's version that the test user can run (the shells run as it; a
    virtual environment made from an interpreter under /root is not), given this one's
    site-packages through PYTHONPATH."""
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    for candidate in (f"/usr/bin/python{version}", sys.executable):
        try:
            mode = os.stat(os.path.realpath(candidate)).st_mode
        except OSError:
            continue
        if mode & stat.S_IXOTH:
            return candidate
    pytest.skip(f"no Python {version} the shells' user can run")


class StandIn:
    """An executable `pwsh` that runs the stand-in in the mode written in its mode file."""

    def __init__(self):
        # Readable by the test user the shells run as (mkdtemp's own mode is 0700).
        self.dir = Path(tempfile.mkdtemp(prefix="wsmand-pwsh-"))
        self.dir.chmod(0o755)
        self.mode_file = self.dir / "mode"
        self.set_mode("normal")
        self.path = self.dir / "pwsh"
        site = ":".join(dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]))
        self.path.write_text(
            "#!/bin/sh\n"
            f'PYTHONPATH="{site}" exec "{interpreter()}" "{STANDIN}" --mode="$(cat "{self.mode_file}")" "$@"\n'
        )
        self.path.chmod(0o755)

    def set_mode(self, mode: str) -> None:
        self.mode_file.write_text(mode)
        self.mode_file.chmod(0o644)

    def remove(self) -> None:
        for child in self.dir.iterdir():
            child.unlink()
        self.dir.rmdir()


# These tests' users are ordinary Linux users, whom the plug-in's default descriptor (Windows':
# administrators and Remote Management Users, here wsmand-remote-users) refuses; the daemon
# under test widens it to every user, as an operator would with `winrm configSDDL`. Who the
# default admits is the access table's test (crates/wsman-test/tests/integration/access_table.rs).
EVERY_USER_SDDL = "O:NSG:BAD:P(A;;GA;;;BA)(A;;GA;;;BU)S:P(AU;FA;GA;;;WD)(AU;SA;GXGW;;;WD)"


def powershell_config(path: Path):
    def prepare(config_dir: Path) -> None:
        with open(config_dir / "config.toml", "a") as config:
            config.write(f'\n[PowerShell]\nPath = "{path}"\n')
            config.write(f'\n[Security]\nPowerShellSDDL = "{EVERY_USER_SDDL}"\n')

    return prepare


@pytest.fixture(scope="module")
def uid() -> int:
    return shell_user_entry().pw_uid


@pytest.fixture(scope="module")
def standin():
    made = StandIn()
    try:
        yield made
    finally:
        made.remove()


@pytest.fixture(scope="module")
def ps_daemon(uid, standin):
    with running_daemon((RUN_AS_ACCOUNT,), prepare=powershell_config(standin.path)) as started:
        yield started


@pytest.fixture(autouse=True)
def normal_mode(standin):
    standin.set_mode("normal")


@pytest.fixture(params=LOGINS)
def login(request):
    return login_for(request.param)


@pytest.fixture(params=TRANSPORTS)
def target(request, ps_daemon, login) -> Target:
    return Target(ps_daemon, request.param, login)


def pwsh_processes(uid: int) -> dict[int, str]:
    return {pid: text for pid, text in processes_of(uid).items() if "pwsh_standin" in text}


def test_the_standin_speaks_pwsh_s_on_stdio():
    """The stand-in itself, driven by psrpcore's client over its stdin/stdout (no daemon)."""
    direct = Direct()
    try:
        assert direct.run("Write-Output one; 'two'") == (["one", "two"], 4)
        outputs, state = direct.run('throw "boom"')
        assert (outputs, state) == ([], 5)
    finally:
        direct.close()


def test_execute_ps_runs_as_the_authenticated_user(target):
    output, streams, had_errors = target.client().execute_ps("Write-Output hello; whoami")
    assert output.splitlines() == ["hello", TEST_USER]
    assert not had_errors


def test_runspace_pool_output_and_a_script_that_throws(target):
    with RunspacePool(target.wsman()) as pool:
        ps = PowerShell(pool)
        ps.add_script("Write-Output first; [Environment]::UserName")
        assert ps.invoke() == ["first", TEST_USER]
        assert not ps.had_errors
        failing = PowerShell(pool)
        failing.add_script('Write-Output before; throw "it broke"')
        assert failing.invoke() == ["before"]
        assert failing.had_errors
        assert failing.state == PSInvocationState.FAILED
        assert "it broke" in str(failing.streams.error[0])


def test_a_long_script_is_stopped(ps_daemon, uid):
    target = Target(ps_daemon, "https", login_for("run-as"))
    with RunspacePool(target.wsman()) as pool:
        ps = PowerShell(pool)
        ps.add_script("Start-Sleep 600; Write-Output never")
        ps.begin_invoke()
        ps.stop()
        assert ps.state == PSInvocationState.STOPPED
        # The pool goes on: the stop reached the pipeline, not the host.
        after = PowerShell(pool)
        after.add_script("Write-Output still-here")
        assert after.invoke() == ["still-here"]
        assert len(pwsh_processes(uid)) == 1


def test_two_pools_at_once(ps_daemon, uid):
    target = Target(ps_daemon, "http", login_for("run-as"))
    with RunspacePool(target.wsman()) as first, RunspacePool(target.wsman()) as second:
        assert first.id != second.id
        assert len(pwsh_processes(uid)) == 2
        a, b = PowerShell(first), PowerShell(second)
        a.add_script("Write-Output from-a")
        b.add_script("Write-Output from-b")
        a.begin_invoke()
        b.begin_invoke()
        assert b.end_invoke() == ["from-b"]
        assert a.end_invoke() == ["from-a"]
    assert wait_until(lambda: not pwsh_processes(uid), 15), pwsh_processes(uid)


def test_delete_ends_pwsh(ps_daemon, uid):
    target = Target(ps_daemon, "http", login_for("run-as"))
    pool = RunspacePool(target.wsman())
    pool.open()
    assert len(pwsh_processes(uid)) == 1
    pool.close()
    assert wait_until(lambda: not pwsh_processes(uid), 15), pwsh_processes(uid)


@pytest.mark.parametrize(
    "mode, reason",
    [
        ("exit-mid-pipeline", "pwsh exited with status 3"),
        ("garbage", "not PowerShell's out-of-process protocol"),
    ],
)
def test_a_failing_pwsh_is_a_fault_and_is_reaped(ps_daemon, standin, uid, mode, reason):
    target = Target(ps_daemon, "http", login_for("run-as"))
    pool = RunspacePool(target.wsman(operation_timeout=10))
    pool.open()
    try:
        # The pool's pwsh was started in normal mode; the next one fails. Start a fresh pool.
        standin.set_mode(mode)
        failing_pool = RunspacePool(target.wsman(operation_timeout=10))
        failing_pool.open()
        ps = PowerShell(failing_pool)
        ps.add_script("Write-Output 1; Write-Output 2; Start-Sleep 600")
        started = time.monotonic()
        with pytest.raises(WSManFaultError) as fault:
            ps.invoke()
        assert reason in str(fault.value)
        # Within OperationTimeout, not after the stand-in's sleep.
        assert time.monotonic() - started < 60
        failing_pool.close()
        # The other pool still works.
        ok = PowerShell(pool)
        ok.add_script("Write-Output fine")
        assert ok.invoke() == ["fine"]
    finally:
        pool.close()
    assert wait_until(lambda: not pwsh_processes(uid), 15), pwsh_processes(uid)


def test_a_pwsh_that_never_answers_times_out_and_is_reaped(ps_daemon, standin, uid):
    standin.set_mode("silent")
    target = Target(ps_daemon, "http", login_for("run-as"))
    pool = RunspacePool(target.wsman(operation_timeout=3))
    with pytest.raises(WSManFaultError) as fault:
        pool.open()
    assert fault.value.code == TIMED_OUT
    assert len(pwsh_processes(uid)) == 1
    pool.close()
    assert wait_until(lambda: not pwsh_processes(uid), 15), pwsh_processes(uid)


def test_no_pwsh_is_a_fault_naming_it(uid):
    missing = Path(tempfile.gettempdir()) / "no-such-dir" / "pwsh"
    with running_daemon((RUN_AS_ACCOUNT,), prepare=powershell_config(missing)) as daemon:
        target = Target(daemon, "http", login_for("run-as"))
        with pytest.raises(WSManFaultError) as fault:
            RunspacePool(target.wsman()).open()
    assert "pwsh" in str(fault.value) and str(missing) in str(fault.value)


def test_another_configuration_name_is_refused(ps_daemon):
    target = Target(ps_daemon, "http", login_for("run-as"))
    with pytest.raises(WSManFaultError) as fault:
        RunspacePool(target.wsman(), configuration_name="Microsoft.Exchange").open()
    assert "Microsoft.Exchange" in str(fault.value)


WINDOWS = REPO / "crates" / "wsman-proto" / "tests" / "fixtures" / "windows" / "shell"
SOAP = "{http://www.w3.org/2003/05/soap-envelope}"
RSP = "{http://schemas.microsoft.com/wbem/wsman/1/windows/shell}"
# What a Create answer must hold, as Windows' does; what else wsmand writes must be among
# Windows' elements, in Windows' order (the rest describes Windows' plug-in host: its
# ProcessId, Locale, CompressionMode, ProfileLoaded, Encoding, BufferMode).
REQUIRED = ["ResourceCreated", "Address", "ReferenceParameters", "ResourceURI", "SelectorSet",
            "Selector", "Shell", "ShellId", "ResourceUri", "Owner", "ClientIP", "IdleTimeOut",
            "InputStreams", "OutputStreams"]


def post(target: Target, envelope: str) -> ET.Element:
    response = requests.post(
        target.url,
        data=envelope.encode(),
        headers={"Content-Type": "application/soap+xml;charset=UTF-8"},
        auth=(target.login.username, target.login.password),
        verify=False,
        timeout=60,
    )
    return ET.fromstring(response.content)


def body_shape(envelope: ET.Element) -> list[str]:
    """The Body's element names, depth first, without namespaces' prefixes."""
    body = envelope.find(f"{SOAP}Body")
    return [element.tag.split("}")[1] for element in body.iter()][1:]


def test_recorded_windows_create_and_terminate_are_answered_in_windows_shapes(ps_daemon):
    """pypsrp's recorded PSRP Create (a real runspace pool's creationXml) and terminate Signal,
    posted as recorded (fresh ids), answered as the recorded Windows responses are shaped."""
    target = Target(ps_daemon, "http", login_for("run-as"))
    shell_id = str(uuid.uuid4()).upper()
    create = (WINDOWS / "psrp-shell-create.request.xml").read_text()
    create = create.replace("76056A84-51DC-4F24-9262-CA2A55464B2B", shell_id)
    create = create.replace("https://127.0.0.1:55986/wsman", target.url)
    ours = post(target, create)
    windows = ET.fromstring((WINDOWS / "psrp-shell-create.response.xml").read_bytes())
    shape = body_shape(ours)
    assert [name for name in body_shape(windows) if name in shape] == shape, shape
    assert [name for name in shape if name in REQUIRED] == REQUIRED, shape
    shell = ours.find(f"{SOAP}Body/{RSP}Shell")
    assert shell.findtext(f"{RSP}ShellId") == shell_id
    assert shell.findtext(f"{RSP}ResourceUri") == windows.find(
        f"{SOAP}Body/{RSP}Shell/{RSP}ResourceUri").text
    assert shell.findtext(f"{RSP}InputStreams") == "stdin pr"
    assert shell.findtext(f"{RSP}OutputStreams") == "stdout"
    # The recorded terminate, for a pipeline of this shell.
    command_id = str(uuid.uuid4()).upper()
    signal = (WINDOWS / "signal-terminate.psrp.request.xml").read_text()
    signal = signal.replace("B2DDE5BA-F22F-4493-9B8E-8B565073F563", shell_id)
    signal = signal.replace("5B1BE6C6-ECFA-4BA8-806B-8DD7C290A0FA", command_id)
    signal = signal.replace("https://127.0.0.1:55986/wsman", target.url)
    wsman = target.wsman()
    # A pipeline to terminate: the command as pypsrp sends it (an empty CREATE_PIPELINE is
    # enough for the bridge; the stand-in ignores what it cannot read).
    shell = WinRS(wsman, resource_uri="http://schemas.microsoft.com/powershell/Microsoft.PowerShell",
                  id=shell_id, input_streams="stdin pr", output_streams="stdout")
    selectors = SelectorSet()
    selectors.add_option("ShellId", shell_id)
    shell._selector_set = selectors
    shell.opened = True
    shell.command("", arguments=[""], command_id=command_id)
    answer = post(target, signal)
    recorded = ET.fromstring((WINDOWS / "signal-terminate.psrp.response.xml").read_bytes())
    assert body_shape(answer) == body_shape(recorded) == ["SignalResponse"], ET.tostring(answer)
    shell.close()


def test_pipeline_receives_are_shaped_as_windows_answers_them(ps_daemon, monkeypatch):
    """Windows' PSRP Receive answers (recorded `psrp-receive.streams`, `psrp-receive.failed`):
    `stdout` elements with the pipeline's CommandId and no `End="true"`, the last answer with
    CommandState Done. The bridge marked its last data element End until issue 47."""
    target = Target(ps_daemon, "http", login_for("run-as"))
    wsman = target.wsman()
    answers = []
    original = wsman.transport.send

    def send(message, **kwargs):
        response = original(message, **kwargs)
        if b"ReceiveResponse" in response:
            answers.append(ET.fromstring(response))
        return response

    monkeypatch.setattr(wsman.transport, "send", send)
    with RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        ps.add_script("Write-Output first; Write-Output second")
        assert ps.invoke() == ["first", "second"]
    recorded = ET.fromstring((WINDOWS / "psrp-receive.streams.response.xml").read_bytes())

    def streams(envelope):
        return envelope.findall(f"{SOAP}Body/{RSP}ReceiveResponse/{RSP}Stream")

    assert all(s.get("End") is None for s in streams(recorded))
    pipeline = [a for a in answers if a.find(f"{SOAP}Body/{RSP}ReceiveResponse/{RSP}CommandState") is not None]
    assert pipeline, [ET.tostring(a) for a in answers]
    for answer in answers:
        for stream in streams(answer):
            assert stream.get("Name") == "stdout"
            assert stream.get("End") is None, ET.tostring(answer)
    last = pipeline[-1].find(f"{SOAP}Body/{RSP}ReceiveResponse/{RSP}CommandState")
    assert last.get("State").endswith("/Done")


# ---- other schemes: NTLM with message encryption on HTTP, Kerberos ----

NTLM_PSRP_ACCOUNT = Account("interop-psrp-ntlm", "Psrp-Ntlm-Pass-5!", TEST_USER, ntlm=True)


@pytest.fixture(scope="module")
def ntlm_daemon(uid, standin):
    with running_daemon(
        (NTLM_PSRP_ACCOUNT,), allow_unencrypted=False, prepare=powershell_config(standin.path)
    ) as started:
        yield started


def test_over_ntlm_with_message_encryption_on_http(ntlm_daemon, monkeypatch):
    import pypsrp.encryption

    spy = DecryptSpy(monkeypatch, pypsrp.encryption.WinRMEncryption, "unwrap_message")
    client = Client(
        "127.0.0.1",
        port=ntlm_daemon.http_port,
        ssl=False,
        auth="ntlm",
        encryption="always",
        username=NTLM_PSRP_ACCOUNT.name,
        password=NTLM_PSRP_ACCOUNT.password,
        no_proxy=True,
    )
    output, _, had_errors = client.execute_ps("Write-Output sealed; whoami")
    assert output.splitlines() == ["sealed", TEST_USER]
    assert not had_errors
    assert spy.calls >= 4, spy.calls


@pytest.fixture(scope="module")
def kerberos_daemon(realm, standin):
    def prepare(config_dir: Path) -> None:
        target = config_dir / "krb5.keytab"
        shutil.copyfile(realm["WSMAN_KRB5_KEYTAB"], target)
        os.chmod(target, 0o600)
        powershell_config(standin.path)(config_dir)

    with running_daemon((), allow_unencrypted=False, prepare=prepare) as started:
        yield started


@pytest.mark.parametrize("transport", ["http", "https"])
def test_over_kerberos(realm, kerberos_daemon, transport, monkeypatch):
    user = mapped_user(realm)
    import pypsrp.encryption

    spy = DecryptSpy(monkeypatch, pypsrp.encryption.WinRMEncryption, "unwrap_message")
    client = pypsrp_client(kerberos_daemon, realm, "kerberos", transport)
    output, _, had_errors = client.execute_ps("[Environment]::UserName")
    assert output.strip() == user, kerberos_daemon.log_tail()
    assert not had_errors
    if transport == "http":
        assert spy.calls >= 4, spy.calls
    assert "authenticated (Kerberos)" in kerberos_daemon.log_tail(400)


@pytest.mark.parametrize(
    "creation, reason",
    [("!!not base64!!", "not base64"), (None, "creationXml")],
)
def test_a_create_whose_creation_xml_does_not_decode_starts_nothing(ps_daemon, uid, creation, reason):
    target = Target(ps_daemon, "http", login_for("run-as"))
    create = (WINDOWS / "psrp-shell-create.request.xml").read_text()
    create = create.replace("76056A84-51DC-4F24-9262-CA2A55464B2B", str(uuid.uuid4()).upper())
    create = create.replace("https://127.0.0.1:55986/wsman", target.url)
    start = create.index("<creationXml")
    end = create.index("</creationXml>") + len("</creationXml>")
    element = "" if creation is None else (
        f'<creationXml xmlns="http://schemas.microsoft.com/powershell">{creation}</creationXml>')
    answer = post(target, create[:start] + element + create[end:])
    fault = answer.find(f"{SOAP}Body/{SOAP}Fault")
    assert fault is not None, ET.tostring(answer)
    assert reason in ET.tostring(fault, encoding="unicode")
    assert fault.findtext(f"{SOAP}Code/{SOAP}Subcode/{SOAP}Value").endswith("InvalidParameter")
    assert not pwsh_processes(uid)


POWERSHELL_URI = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"


def test_config_sddl_edits_the_plugin_descriptor_and_the_daemon_applies_it(uid, standin):
    """`winrm configSDDL` on the PowerShell plug-in's URI: the default admits BUILTIN\\Users;
    narrowed to administrators, the run-as user's pool is refused before any pwsh starts."""
    winrm = str(binary("winrm"))

    def configsddl(config_dir: Path, *edits: str) -> str:
        return subprocess.run(
            [winrm, "--config-dir", str(config_dir), "configSDDL", POWERSHELL_URI, *edits],
            capture_output=True, text=True, check=True, timeout=60,
        ).stdout

    shown: dict[str, str] = {}

    def prepare(config_dir: Path) -> None:
        powershell_config(standin.path)(config_dir)
        shown["default"] = configsddl(config_dir)
        shown["narrowed"] = configsddl(config_dir, "-sddl:O:NSG:BAD:P(A;;GA;;;BA)")

    with running_daemon((RUN_AS_ACCOUNT,), prepare=prepare) as daemon:
        target = Target(daemon, "http", login_for("run-as"))
        with pytest.raises(WSManFaultError) as fault:
            RunspacePool(target.wsman()).open()
        assert "Access is denied" in str(fault.value), str(fault.value)
        assert not pwsh_processes(uid)
    assert "BUILTIN\\Users" in shown["default"], shown
    assert "BUILTIN\\Users" not in shown["narrowed"], shown
    assert "BUILTIN\\Administrators" in shown["narrowed"], shown
