"""Kerberos against the real wsmand, with a real MIT KDC (scripts/kdc.sh, realm WSMAN.TEST).

The daemon gets the realm's keytab (HTTP/localhost and WSMAN/localhost) as DIR/krb5.keytab;
clients connect to `localhost` so that their service principal is in it. pywinrm
(`transport='kerberos'`, pykerberos) over sealed HTTP and over HTTPS, pypsrp (`auth='kerberos'`
and `auth='negotiate'`, pyspnego over gssapi) over sealed HTTP and HTTPS: each runs commands in
a WinRS shell as the Linux user the principal maps to (wsmankrb@WSMAN.TEST -> wsmankrb), and a
spy on the decrypt path proves the answers were sealed. Wrong credentials are refused for each.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import DecryptSpy, running_daemon

REPO = Path(__file__).resolve().parents[2]
KDC_TOOLS = ("krb5kdc", "kdb5_util", "kadmin.local", "kinit")
SBIN_PATH = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"


def _kdc_tools_missing() -> str | None:
    for tool in KDC_TOOLS:
        if shutil.which(tool, path=SBIN_PATH) is None:
            return tool
    return None


@pytest.fixture(scope="module")
def realm():
    """A throwaway realm; its variables (KRB5_CONFIG, KRB5CCNAME, ...) are set in this process
    (the clients' libkrb5 and the daemon read them) for the module's duration."""
    missing = _kdc_tools_missing()
    if missing:
        if os.environ.get("WSMAN_TEST_REQUIRE_KDC") == "1":
            pytest.fail(f"WSMAN_TEST_REQUIRE_KDC=1 but {missing} is not installed")
        pytest.skip(f"{missing} not found: install krb5-kdc krb5-admin-server krb5-user")
    directory = Path(tempfile.mkdtemp(prefix="wsman-kdc-py-"))
    env = dict(os.environ, PATH=SBIN_PATH)
    subprocess.run(
        ["bash", str(REPO / "scripts/kdc.sh"), "start", str(directory)],
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
    )
    variables = {}
    for line in (directory / "env").read_text().splitlines():
        if line.startswith("export ") and "=" in line:
            name, value = line[len("export ") :].split("=", 1)
            variables[name] = value.strip().strip("'")
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield variables
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        subprocess.run(["bash", str(REPO / "scripts/kdc.sh"), "stop", str(directory)], env=env, timeout=60)


@pytest.fixture(scope="module")
def daemon(realm):
    def install_keytab(config_dir: Path) -> None:
        target = config_dir / "krb5.keytab"
        shutil.copyfile(realm["WSMAN_KRB5_KEYTAB"], target)
        os.chmod(target, 0o600)

    with running_daemon((), allow_unencrypted=False, prepare=install_keytab) as started:
        yield started


@pytest.fixture(scope="module")
def admin_daemon(realm):
    """The test principal mapped to root (`kerberos.toml` `[PrincipalMap]`): an administrator,
    whom the WMI descriptor lets read."""

    def install_keytab_and_map(config_dir: Path) -> None:
        target = config_dir / "krb5.keytab"
        shutil.copyfile(realm["WSMAN_KRB5_KEYTAB"], target)
        os.chmod(target, 0o600)
        (config_dir / "kerberos.toml").write_text(f'[PrincipalMap]\n"{principal(realm)}" = "root"\n')

    with running_daemon((), allow_unencrypted=False, prepare=install_keytab_and_map) as started:
        yield started


def mapped_user(realm) -> str:
    """The Linux user of the test principal, or a skip when shells cannot run as it."""
    user = realm["WSMAN_KRB5_USER"]
    if os.geteuid() != 0:
        pytest.skip("not root: wsmand cannot run shells as another user")
    try:
        pwd.getpwnam(user)
    except KeyError:
        pytest.skip(f"Linux user {user} missing (scripts/test.sh creates it as root)")
    return user


def principal(realm) -> str:
    return f"{realm['WSMAN_KRB5_USER']}@{realm['WSMAN_KRB5_REALM']}"


def url(daemon, transport: str) -> str:
    return f"{transport}://localhost:{daemon.port(transport)}/wsman"


# ---- pywinrm (transport='kerberos': pykerberos, the caller's credential cache) ----


def pywinrm_session(daemon, transport: str, service: str = "HTTP"):
    from winrm import Session

    return Session(
        url(daemon, transport),
        auth=(None, None),
        transport="kerberos",
        service=service,
        server_cert_validation="ignore",
        message_encryption="always" if transport == "http" else "auto",
        proxy=None,
    )


@pytest.mark.parametrize("transport", ["http", "https"])
def test_pywinrm_kerberos_runs_commands_as_the_mapped_user(realm, daemon, transport, monkeypatch):
    user = mapped_user(realm)
    import winrm.encryption

    spy = DecryptSpy(monkeypatch, winrm.encryption.Encryption, "_decrypt_kerberos_message")
    session = pywinrm_session(daemon, transport)
    result = session.run_cmd("id", ["-un"])
    assert result.status_code == 0, daemon.log_tail()
    assert result.std_out.strip() == user.encode()
    result = session.run_cmd("echo", ["kerberos-hello"])
    assert result.std_out.strip() == b"kerberos-hello"
    if transport == "http":
        # Create, Command, Receive, Signal, Delete for both commands: every answer sealed.
        assert spy.calls >= 8, spy.calls
    assert f"principal={principal(realm)}" in daemon.log_tail(400) or principal(realm) in daemon.log_tail(400)


def test_pywinrm_ticket_for_another_service_is_refused(realm, daemon):
    from winrm.exceptions import InvalidCredentialsError, WinRMError

    session = pywinrm_session(daemon, "http", service="FOO")
    with pytest.raises((InvalidCredentialsError, WinRMError)):
        session.run_cmd("echo", ["never"])
    assert "401" in daemon.log_tail(200)


def test_pywinrm_without_a_ticket_is_refused(realm, daemon, monkeypatch, tmp_path):
    from winrm.exceptions import WinRMError

    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'empty-ccache'}")
    session = pywinrm_session(daemon, "http")
    with pytest.raises((WinRMError, Exception)) as raised:
        session.run_cmd("echo", ["never"])
    assert not isinstance(raised.value, AssertionError)


# ---- pypsrp (pyspnego over gssapi) ----


def pypsrp_client(daemon, realm, auth: str, transport: str, password: str | None = None):
    from pypsrp.client import Client

    return Client(
        "localhost",
        port=daemon.port(transport),
        ssl=transport == "https",
        auth=auth,
        encryption="always" if transport == "http" else "auto",
        username=principal(realm) if password is not None else None,
        password=password,
        # pypsrp's own default SPN would be host/localhost; Windows and wsmand use WSMAN/.
        negotiate_service="WSMAN",
        cert_validation=False,
        no_proxy=True,
    )


@pytest.mark.parametrize("auth", ["kerberos", "negotiate"])
@pytest.mark.parametrize("transport", ["http", "https"])
def test_pypsrp_runs_commands_as_the_mapped_user(realm, daemon, auth, transport, monkeypatch):
    user = mapped_user(realm)
    import pypsrp.encryption

    spy = DecryptSpy(monkeypatch, pypsrp.encryption.WinRMEncryption, "unwrap_message")
    client = pypsrp_client(daemon, realm, auth, transport)
    stdout, stderr, code = client.execute_cmd("id -un")
    assert code == 0, (stderr, daemon.log_tail())
    assert stdout.strip() == user
    if transport == "http":
        assert spy.calls >= 4, spy.calls
    # negotiate -> Kerberos: SPNEGO offering Kerberos goes to the Kerberos acceptor, not NTLM.
    assert "authenticated (Kerberos)" in daemon.log_tail(400)


@pytest.mark.parametrize("auth", ["kerberos", "negotiate"])
def test_pypsrp_sealed_reads_and_invokes_wmi(realm, admin_daemon, sleeper, auth, monkeypatch):
    """pypsrp's WSMan with Kerberos over sealed HTTP: WQL Enumerate, Get and Invoke of Win32_Process."""
    import pypsrp.encryption
    from test_cim import read_and_invoke

    if os.geteuid() != 0:
        pytest.skip("not root: the principal is mapped to root")
    spy = DecryptSpy(monkeypatch, pypsrp.encryption.WinRMEncryption, "unwrap_message")
    with pypsrp_client(admin_daemon, realm, auth, "http") as client:
        read_and_invoke(client.wsman, sleeper.pid)
    assert spy.calls >= 3, spy.calls
    assert "authenticated (Kerberos)" in admin_daemon.log_tail(400)


def test_pypsrp_with_a_password_gets_its_own_ticket(realm, daemon):
    mapped_user(realm)
    client = pypsrp_client(daemon, realm, "kerberos", "http", password=realm["WSMAN_KRB5_PASSWORD"])
    stdout, _, code = client.execute_cmd("echo with-password")
    assert code == 0
    assert stdout.strip() == "with-password"


@pytest.mark.parametrize("auth", ["kerberos", "negotiate"])
def test_pypsrp_wrong_password_is_refused(realm, daemon, auth):
    client = pypsrp_client(daemon, realm, auth, "http", password="Not-The-Password-1")
    with pytest.raises(Exception) as raised:
        client.execute_cmd("echo never")
    assert not isinstance(raised.value, AssertionError)
    # The KDC refused the password (its reply does not decrypt with the wrong key): no ticket.
    text = str(raised.value).lower()
    assert "integrity check failed" in text or "failed to authenticate" in text, text


def test_pypsrp_ticket_for_another_service_is_refused(realm, daemon):
    from pypsrp.client import Client

    client = Client(
        "localhost",
        port=daemon.port("http"),
        ssl=False,
        auth="kerberos",
        encryption="always",
        negotiate_service="FOO",
        cert_validation=False,
        no_proxy=True,
    )
    with pytest.raises(Exception) as raised:
        client.execute_cmd("echo never")
    assert not isinstance(raised.value, AssertionError)
    assert "401" in daemon.log_tail(200)
