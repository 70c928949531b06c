"""Negotiate/NTLM with MS-WSMV message encryption, against the real wsmand.

pywinrm (`transport='ntlm'`: raw NTLMSSP through requests_ntlm) and pypsrp (`auth='ntlm'`, and
`auth='negotiate'`: SPNEGO through pyspnego) log in with a service account created with
`wsmand account add --ntlm`, run commands in WinRS shells over sealed HTTP connections (and over
HTTPS with channel binding), and a spy on each client's decrypt path proves that the answers
really were sealed: both clients silently accept a plaintext answer, so without the spy a server
that forgot to seal would pass.
"""

from __future__ import annotations

import os
import pwd
import threading
import time
import uuid

import pytest
from pypsrp.client import Client
from pypsrp.exceptions import AuthenticationError, WinRMTransportError
from winrm import Session
from winrm.exceptions import InvalidCredentialsError, WSManFaultError
from winrm.protocol import Protocol

from conftest import Account, DecryptSpy, running_daemon
from shell_support import TEST_USER, shell_user_entry

NTLM_PASSWORD = "Ntlm-Interop-Pass-9!"


def _run_as() -> str | None:
    try:
        pwd.getpwnam(TEST_USER)
    except KeyError:
        return None
    return TEST_USER if os.geteuid() == 0 else None


NTLM_ACCOUNT = Account("interop-ntlm", NTLM_PASSWORD, _run_as(), ntlm=True)
# An NTLM service account run as root: an administrator, whom the WMI descriptor lets read.
NTLM_ADMIN_ACCOUNT = Account(
    "interop-ntlm-admin", NTLM_PASSWORD, "root" if os.geteuid() == 0 else None, ntlm=True
)
# The same kind of service account without --ntlm: NTLM has no hash to check against.
NO_NTLM_ACCOUNT = Account("interop-no-ntlm", "No-Ntlm-Pass-3!", None)


@pytest.fixture(scope="module")
def daemon():
    """AllowUnencrypted=false: over HTTP, NTLM traffic must be sealed."""
    with running_daemon((NTLM_ACCOUNT, NO_NTLM_ACCOUNT, NTLM_ADMIN_ACCOUNT), allow_unencrypted=False) as started:
        yield started


@pytest.fixture(scope="module")
def strict_daemon():
    with running_daemon(
        (NTLM_ACCOUNT,), allow_unencrypted=False, auth={"CbtHardeningLevel": "Strict"}
    ) as started:
        yield started


# ---- spies on the clients' decrypt paths ----


@pytest.fixture
def pywinrm_decrypts(monkeypatch):
    import winrm.encryption

    return DecryptSpy(monkeypatch, winrm.encryption.Encryption, "_decrypt_ntlm_message")


@pytest.fixture
def pypsrp_decrypts(monkeypatch):
    import pypsrp.encryption

    return DecryptSpy(monkeypatch, pypsrp.encryption.WinRMEncryption, "unwrap_message")


# ---- client factories ----


def pywinrm_session(daemon, transport: str, password: str = NTLM_PASSWORD, user: str = NTLM_ACCOUNT.name, **kw):
    return Session(
        daemon.url(transport),
        auth=(user, password),
        transport="ntlm",
        server_cert_validation="ignore",
        message_encryption=kw.pop("message_encryption", "always" if transport == "http" else "auto"),
        proxy=None,
        **kw,
    )


def pywinrm_protocol(daemon, transport: str = "http") -> Protocol:
    return Protocol(
        daemon.url(transport),
        transport="ntlm",
        username=NTLM_ACCOUNT.name,
        password=NTLM_PASSWORD,
        server_cert_validation="ignore",
        message_encryption="always",
        proxy=None,
        operation_timeout_sec=20,
        read_timeout_sec=30,
    )


def pypsrp_client(
    daemon, auth: str, transport: str = "http", password: str = NTLM_PASSWORD, user: str = NTLM_ACCOUNT.name, **kw
) -> Client:
    return Client(
        "127.0.0.1",
        port=daemon.port(transport),
        ssl=transport == "https",
        auth=auth,
        encryption="always",
        username=user,
        password=password,
        cert_validation=False,
        no_proxy=True,
        **kw,
    )


def needs_shells() -> None:
    shell_user_entry()
    if NTLM_ACCOUNT.run_as is None:
        pytest.skip(f"test user {TEST_USER} missing: the NTLM account has no run-as user")


# ---- pywinrm ----


def test_pywinrm_ntlm_http_sealed_runs_commands(daemon, pywinrm_decrypts):
    needs_shells()
    session = pywinrm_session(daemon, "http")
    result = session.run_cmd("echo", ["sealed-hello"])
    assert result.status_code == 0, daemon.log_tail()
    assert result.std_out.strip() == b"sealed-hello"
    result = session.run_cmd("id", ["-un"])
    assert result.std_out.strip() == TEST_USER.encode()
    # Create, Command, Receive, Signal, Delete: every answer of both commands was sealed.
    assert pywinrm_decrypts.calls >= 8, pywinrm_decrypts.calls


def test_pywinrm_ntlm_https_runs_commands(daemon):
    needs_shells()
    session = pywinrm_session(daemon, "https")
    result = session.run_cmd("echo", ["over-tls"])
    assert result.status_code == 0, daemon.log_tail()
    assert result.std_out.strip() == b"over-tls"


def test_pywinrm_wrong_password_refused(daemon):
    for transport in ("http", "https"):
        session = pywinrm_session(daemon, transport, password="Wrong-Pass-1")
        with pytest.raises(InvalidCredentialsError):
            session.run_cmd("echo", ["never"])
    assert "wrong password for 'interop-ntlm'" in daemon.log_tail(200)


def test_pywinrm_plaintext_on_ntlm_over_http_is_refused(daemon):
    session = pywinrm_session(daemon, "http", message_encryption="never")
    with pytest.raises(WSManFaultError) as raised:
        session.run_cmd("echo", ["plain"])
    assert raised.value.code == 500
    assert raised.value.fault_subcode == "w:AccessDenied"
    assert "AllowUnencrypted is false" in daemon.log_tail(100)


def test_large_output_and_stdin_over_a_sealed_connection(daemon, pywinrm_decrypts):
    needs_shells()
    protocol = pywinrm_protocol(daemon)
    shell_id = protocol.open_shell()
    try:
        # 2 MB of output.
        command_id = protocol.run_command(shell_id, "head -c 2000000 /dev/zero | tr '\\0' x")
        stdout, stderr, code = protocol.get_command_output(shell_id, command_id)
        protocol.cleanup_command(shell_id, command_id)
        assert code == 0, stderr
        assert len(stdout) == 2_000_000 and set(stdout) == {ord("x")}
        # 1 MiB of stdin, in 64 KiB Send messages, echoed back through sha256sum.
        data = os.urandom(1024 * 1024)
        command_id = protocol.run_command(shell_id, "sha256sum")
        chunk = 64 * 1024
        for offset in range(0, len(data), chunk):
            last = offset + chunk >= len(data)
            protocol.send_command_input(shell_id, command_id, data[offset : offset + chunk], end=last)
        stdout, stderr, code = protocol.get_command_output(shell_id, command_id)
        protocol.cleanup_command(shell_id, command_id)
        import hashlib

        assert code == 0, stderr
        assert stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()
    finally:
        protocol.close_shell(shell_id)
    assert pywinrm_decrypts.calls > 20


def test_ten_concurrent_sealed_connections(daemon, pywinrm_decrypts, pypsrp_decrypts):
    needs_shells()
    errors: list[str] = []
    outputs: dict[int, bytes] = {}

    def worker(index: int) -> None:
        try:
            token = uuid.uuid4().hex
            if index % 2 == 0:
                result = pywinrm_session(daemon, "http").run_cmd("echo", [token])
                out = result.std_out.strip()
            else:
                auth = "negotiate" if index % 4 == 1 else "ntlm"
                with pypsrp_client(daemon, auth) as client:
                    stdout, _, _ = client.execute_cmd(f"echo {token}")
                out = stdout.strip().encode()
            outputs[index] = out
            if out != token.encode():
                errors.append(f"worker {index}: {out!r} != {token!r}")
        except Exception as error:  # noqa: BLE001 - collected for the assertion below
            errors.append(f"worker {index}: {error!r}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    assert not errors, f"{errors}\n{daemon.log_tail()}"
    assert len(outputs) == 10
    assert pywinrm_decrypts.calls >= 5 and pypsrp_decrypts.calls >= 5


# ---- pypsrp ----


@pytest.mark.parametrize("auth", ["ntlm", "negotiate"])
def test_pypsrp_sealed_runs_commands(daemon, pypsrp_decrypts, auth):
    needs_shells()
    with pypsrp_client(daemon, auth) as client:
        stdout, stderr, code = client.execute_cmd("echo pypsrp-" + auth)
        assert code == 0, stderr
        assert stdout.strip() == "pypsrp-" + auth
        stdout, _, _ = client.execute_cmd("whoami")
        assert stdout.strip() == TEST_USER
    assert pypsrp_decrypts.calls >= 8, pypsrp_decrypts.calls
    assert "authenticated (NTLM)" in daemon.log_tail(200)


@pytest.mark.parametrize("auth", ["ntlm", "negotiate"])
def test_pypsrp_sealed_reads_and_invokes_wmi(daemon, sleeper, pypsrp_decrypts, auth):
    """pypsrp's WSMan over sealed HTTP: WQL Enumerate, Get and Invoke of Win32_Process."""
    from test_cim import read_and_invoke

    if os.geteuid() != 0:
        pytest.skip("not root: the administrator account runs as root")
    with pypsrp_client(daemon, auth, user=NTLM_ADMIN_ACCOUNT.name) as client:
        read_and_invoke(client.wsman, sleeper.pid)
    assert pypsrp_decrypts.calls >= 3, pypsrp_decrypts.calls


def test_pypsrp_reuses_its_sealed_connection_after_90_seconds_idle(daemon, monkeypatch):
    """HTTP.sys keeps an idle WinRM connection 120 s (IdleConnectionTimeout), and pypsrp relies
    on it: a connection closed earlier makes it authenticate afresh and then send a body sealed
    with its old context (HTTP 400). Two commands 90 s apart over one TCP connection."""
    import urllib3.connection

    needs_shells()
    connects = []
    original = urllib3.connection.HTTPConnection.connect

    def counting_connect(self):
        connects.append(self.port)
        return original(self)

    monkeypatch.setattr(urllib3.connection.HTTPConnection, "connect", counting_connect)
    with pypsrp_client(daemon, "ntlm") as client:
        stdout, stderr, code = client.execute_cmd("echo before")
        assert (code, stdout.strip()) == (0, "before"), stderr
        time.sleep(90)
        stdout, stderr, code = client.execute_cmd("echo after")
        assert (code, stdout.strip()) == (0, "after"), stderr
    assert connects == [daemon.port("http")], connects


@pytest.mark.parametrize("auth", ["ntlm", "negotiate"])
def test_pypsrp_https_with_channel_binding_under_strict(strict_daemon, auth):
    needs_shells()
    with pypsrp_client(strict_daemon, auth, transport="https") as client:
        stdout, stderr, code = client.execute_cmd("echo bound")
        assert code == 0, stderr
        assert stdout.strip() == "bound"


def test_strict_refuses_a_client_without_channel_binding(strict_daemon):
    with pytest.raises((AuthenticationError, WinRMTransportError)):
        with pypsrp_client(strict_daemon, "negotiate", transport="https", negotiate_send_cbt=False) as client:
            client.execute_cmd("echo never")
    assert "channel binding required" in strict_daemon.log_tail(100)


@pytest.mark.parametrize("auth", ["ntlm", "negotiate"])
def test_pypsrp_wrong_password_refused(daemon, auth):
    with pytest.raises((AuthenticationError, WinRMTransportError)):
        with pypsrp_client(daemon, auth, password="Wrong-Pass-2") as client:
            client.execute_cmd("echo never")
    assert "wrong password for 'interop-ntlm'" in daemon.log_tail(200)


# ---- who cannot use NTLM ----


def test_ntlm_refused_for_a_pam_only_user(daemon):
    user = os.environ.get("WSMAN_TEST_PAM_PLAIN_USER")
    password = os.environ.get("WSMAN_TEST_PAM_PLAIN_PASSWORD")
    if not user or not password:
        pytest.skip("WSMAN_TEST_PAM_PLAIN_USER/WSMAN_TEST_PAM_PLAIN_PASSWORD not set")
    session = pywinrm_session(daemon, "http", user=user, password=password)
    with pytest.raises(InvalidCredentialsError):
        session.run_cmd("echo", ["never"])
    log = daemon.log_tail(200)
    assert f"'{user}' is a Linux (PAM) user: NTLM needs the user's NT hash" in log, log


def test_ntlm_refused_for_an_account_without_nt_hash(daemon):
    session = pywinrm_session(daemon, "http", user=NO_NTLM_ACCOUNT.name, password=NO_NTLM_ACCOUNT.password)
    with pytest.raises(InvalidCredentialsError):
        session.run_cmd("echo", ["never"])
    assert f"service account '{NO_NTLM_ACCOUNT.name}' has no NT hash" in daemon.log_tail(200)
