"""CredSSP against the real wsmand: pywinrm (`transport='credssp'`, through requests-credssp)
and pypsrp (`auth='credssp'`), both driving pyspnego's CredSSP client, log in with a service
account that has an NT hash (CredSSP's inner authentication is NTLM), delegate its password,
and run commands in WinRS shells as its run-as user: over HTTPS (plain SOAP inside TLS) and over
HTTP sealed by the CredSSP TLS session, including requests and answers over 16 KiB
(`multipart/x-multi-encrypted`, one group per 16 KiB chunk). A spy on each client's decrypt
path proves the answers really were sealed.
"""

from __future__ import annotations

import os
import pwd

import pytest

pytest.importorskip("requests_credssp")

from pypsrp.client import Client  # noqa: E402
from pypsrp.exceptions import AuthenticationError, WinRMTransportError  # noqa: E402
from winrm import Session  # noqa: E402
from winrm.exceptions import InvalidCredentialsError, WinRMError  # noqa: E402
from winrm.protocol import Protocol  # noqa: E402

from conftest import Account, DecryptSpy, running_daemon  # noqa: E402
from shell_support import TEST_USER, shell_user_entry  # noqa: E402

CREDSSP_PASSWORD = "CredSSP-Interop-Pass-4!"


def _run_as() -> str | None:
    try:
        pwd.getpwnam(TEST_USER)
    except KeyError:
        return None
    return TEST_USER if os.geteuid() == 0 else None


CREDSSP_ACCOUNT = Account("interop-credssp", CREDSSP_PASSWORD, _run_as(), ntlm=True)


@pytest.fixture(scope="module")
def daemon():
    """AllowUnencrypted=false: over HTTP, CredSSP traffic must be sealed."""
    with running_daemon((CREDSSP_ACCOUNT,), allow_unencrypted=False, auth={"CredSSP": "true"}) as started:
        yield started


@pytest.fixture(autouse=True)
def no_kerberos_credentials(monkeypatch, tmp_path):
    """CredSSP's inner mechanism here is NTLM (the service account's NT hash). If the Kerberos
    tests left a ticket cache or realm configuration in the environment, pyspnego's `auto`
    would try Kerberos inside CredSSP, which wsmand does not accept yet."""
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path}/no-ccache")
    monkeypatch.setenv("KRB5_CONFIG", str(tmp_path / "no-krb5.conf"))


@pytest.fixture
def pywinrm_decrypts(monkeypatch):
    import winrm.encryption

    return DecryptSpy(monkeypatch, winrm.encryption.Encryption, "_decrypt_credssp_message")


@pytest.fixture
def pypsrp_decrypts(monkeypatch):
    import pypsrp.encryption

    return DecryptSpy(monkeypatch, pypsrp.encryption.WinRMEncryption, "unwrap_message")


@pytest.fixture
def pywinrm_content_types(monkeypatch):
    """The Content-Type of every sealed request pywinrm sends and every answer it parses."""
    import winrm.encryption

    seen: dict[str, list[str]] = {"requests": [], "responses": []}
    prepare = winrm.encryption.Encryption.prepare_encrypted_request
    parse = winrm.encryption.Encryption.parse_encrypted_response

    def spy_prepare(self, session, endpoint, message):
        prepared = prepare(self, session, endpoint, message)
        seen["requests"].append(prepared.headers["Content-Type"])
        return prepared

    def spy_parse(self, response):
        seen["responses"].append(response.headers.get("Content-Type", ""))
        return parse(self, response)

    monkeypatch.setattr(winrm.encryption.Encryption, "prepare_encrypted_request", spy_prepare)
    monkeypatch.setattr(winrm.encryption.Encryption, "parse_encrypted_response", spy_parse)
    return seen


def needs_shells() -> None:
    shell_user_entry()
    if CREDSSP_ACCOUNT.run_as is None:
        pytest.skip(f"test user {TEST_USER} missing: the CredSSP account has no run-as user")


def pywinrm_protocol(daemon, transport: str, password: str = CREDSSP_PASSWORD) -> Protocol:
    return Protocol(
        daemon.url(transport),
        transport="credssp",
        username=CREDSSP_ACCOUNT.name,
        password=password,
        server_cert_validation="ignore",
        message_encryption="auto",
        proxy=None,
        operation_timeout_sec=20,
        read_timeout_sec=30,
    )


def pypsrp_client(daemon, transport: str, password: str = CREDSSP_PASSWORD, **kw) -> Client:
    return Client(
        "127.0.0.1",
        port=daemon.port(transport),
        ssl=transport == "https",
        auth="credssp",
        encryption=kw.pop("encryption", "auto"),
        username=CREDSSP_ACCOUNT.name,
        password=password,
        cert_validation=False,
        no_proxy=True,
        **kw,
    )


@pytest.mark.parametrize("transport", ["https", "http"])
def test_pywinrm_credssp_runs_commands_as_the_delegated_user(
    daemon, pywinrm_decrypts, pywinrm_content_types, transport
):
    needs_shells()
    protocol = pywinrm_protocol(daemon, transport)
    shell_id = protocol.open_shell()
    try:
        command_id = protocol.run_command(shell_id, "id", ["-un"])
        stdout, stderr, code = protocol.get_command_output(shell_id, command_id)
        protocol.cleanup_command(shell_id, command_id)
        assert code == 0, stderr
        assert stdout.strip() == TEST_USER.encode()
        # A request over 16 KiB: the command line alone is 40 000 characters, so the sealed
        # request is multipart/x-multi-encrypted over HTTP; the answer echoes it back.
        token = "x" * 40_000
        command_id = protocol.run_command(shell_id, "printf", ["%s", token])
        stdout, stderr, code = protocol.get_command_output(shell_id, command_id)
        protocol.cleanup_command(shell_id, command_id)
        assert code == 0, stderr
        assert stdout == token.encode()
    finally:
        protocol.close_shell(shell_id)
    if transport == "http":
        assert pywinrm_decrypts.calls >= 8, pywinrm_decrypts.calls
        multi = 'multipart/x-multi-encrypted;protocol="application/HTTP-CredSSP-session-encrypted"'
        assert any(t.startswith(multi) for t in pywinrm_content_types["requests"]), pywinrm_content_types
        assert any(t.startswith(multi) for t in pywinrm_content_types["responses"]), pywinrm_content_types
        single = 'multipart/encrypted;protocol="application/HTTP-CredSSP-session-encrypted"'
        assert any(t.startswith(single) for t in pywinrm_content_types["responses"]), pywinrm_content_types
    log = daemon.log_tail(200)
    assert "authenticated (CredSSP, credentials delegated)" in log, log
    assert CREDSSP_PASSWORD not in log


@pytest.mark.parametrize("transport", ["https", "http"])
def test_pypsrp_credssp_runs_commands_as_the_delegated_user(daemon, pypsrp_decrypts, transport):
    needs_shells()
    with pypsrp_client(daemon, transport) as client:
        stdout, stderr, code = client.execute_cmd("whoami")
        assert code == 0, stderr
        assert stdout.strip() == TEST_USER
        big = "y" * 30_000
        stdout, stderr, code = client.execute_cmd("echo " + big)
        assert code == 0, stderr
        assert stdout.strip() == big
    if transport == "http":
        assert pypsrp_decrypts.calls >= 6, pypsrp_decrypts.calls


@pytest.mark.parametrize("version", [2, 4, 5])
def test_older_credssp_versions_bind_the_public_key_their_way(daemon, monkeypatch, version):
    """Versions 2 to 4 echo the public key (the server adds one), 5 and 6 hash it with the
    client's nonce; pyspnego speaks what it is told to."""
    import spnego._credssp

    needs_shells()
    monkeypatch.setattr(spnego._credssp, "_CREDSSP_VERSION", version)
    protocol = pywinrm_protocol(daemon, "http")
    shell_id = protocol.open_shell()
    try:
        command_id = protocol.run_command(shell_id, "echo", [f"v{version}"])
        stdout, stderr, code = protocol.get_command_output(shell_id, command_id)
        protocol.cleanup_command(shell_id, command_id)
        assert code == 0, stderr
        assert stdout.strip() == f"v{version}".encode()
    finally:
        protocol.close_shell(shell_id)


def test_pypsrp_credssp_encrypted_inside_https(daemon, pypsrp_decrypts):
    """pypsrp `encryption='always'` seals with CredSSP even inside HTTPS; wsmand mirrors it."""
    needs_shells()
    with pypsrp_client(daemon, "https", encryption="always") as client:
        stdout, stderr, code = client.execute_cmd("echo sealed-in-tls")
        assert code == 0, stderr
        assert stdout.strip() == "sealed-in-tls"
    assert pypsrp_decrypts.calls >= 4, pypsrp_decrypts.calls


def test_pywinrm_identify_over_credssp_http(daemon):
    session = Session(
        daemon.url("http"),
        auth=(CREDSSP_ACCOUNT.name, CREDSSP_PASSWORD),
        transport="credssp",
        server_cert_validation="ignore",
        proxy=None,
    )
    identify = (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">'
        "<s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>"
    )
    answer = session.protocol.send_message(identify)
    assert b"IdentifyResponse" in answer


@pytest.mark.parametrize("transport", ["https", "http"])
def test_wrong_credssp_password_is_refused(daemon, transport):
    protocol = pywinrm_protocol(daemon, transport, password="Wrong-Pass-5")
    with pytest.raises((InvalidCredentialsError, WinRMError, Exception)) as raised:
        protocol.open_shell()
    assert "IdentifyResponse" not in str(raised.value)
    with pytest.raises((AuthenticationError, WinRMTransportError, Exception)):
        with pypsrp_client(daemon, transport, password="Wrong-Pass-6") as client:
            client.execute_cmd("echo never")
    log = daemon.log_tail(200)
    assert "scheme=\"CredSSP\"" in log or "CredSSP" in log, log
    assert "wrong password for 'interop-credssp'" in log, log
    assert "Wrong-Pass-5" not in log and "Wrong-Pass-6" not in log


def test_credssp_not_offered_when_disabled():
    with running_daemon((CREDSSP_ACCOUNT,), allow_unencrypted=False) as started:
        protocol = pywinrm_protocol(started, "https")
        # Not advertised, so the client gives up before sending a token.
        with pytest.raises(Exception) as raised:
            protocol.open_shell()
        assert "CredSSP" in str(raised.value)
        assert "authenticated (CredSSP" not in started.log_tail(100)
