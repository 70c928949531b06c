"""CredSSP with Kerberos inside, against the real wsmand and a real MIT KDC (scripts/kdc.sh,
realm WSMAN.TEST): how Linux (PAM) users delegate their password. pypsrp `auth='credssp'`
(pyspnego's CredSSP client) authenticates inside the CredSSP TLS session with a Kerberos
ticket for HTTP/localhost, raw (`credssp_auth_mechanism='kerberos'`) or SPNEGO (`auto`),
binds the public key with the Kerberos context and delegates wsmankrb's password. wsmand maps
the principal to the Linux user wsmankrb, checks that the delegated user is that user and the
password through PAM, and runs the shell as wsmankrb: over HTTPS and sealed over HTTP.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("requests_credssp")

from pypsrp.client import Client  # noqa: E402

from conftest import running_daemon  # noqa: E402
from test_kerberos import mapped_user, principal, realm  # noqa: E402,F401

# scripts/test.sh gives the Linux user the principal's password (PAM checks the delegated one).
LINUX_PASSWORD = "Wsman-Krb-Pass1"


@pytest.fixture(scope="module")
def daemon(realm):  # noqa: F811
    def install_keytab(config_dir: Path) -> None:
        target = config_dir / "krb5.keytab"
        shutil.copyfile(realm["WSMAN_KRB5_KEYTAB"], target)
        os.chmod(target, 0o600)

    with running_daemon(
        (), allow_unencrypted=False, auth={"CredSSP": "true"}, prepare=install_keytab
    ) as started:
        yield started


def pam_user(realm) -> str:  # noqa: F811
    """The mapped Linux user, whose Linux password must be the principal's."""
    user = mapped_user(realm)
    assert realm["WSMAN_KRB5_PASSWORD"] == LINUX_PASSWORD
    status = subprocess.run(["passwd", "--status", user], capture_output=True, text=True)
    if status.returncode != 0 or status.stdout.split()[1:2] != ["P"]:
        pytest.skip(f"Linux user {user} has no password (scripts/test.sh create_test_users sets it)")
    return user


def client(daemon, realm, transport: str, mechanism: str, password: str | None = None) -> Client:  # noqa: F811
    return Client(
        "localhost",
        port=daemon.port(transport),
        ssl=transport == "https",
        auth="credssp",
        credssp_auth_mechanism=mechanism,
        encryption="always" if transport == "http" else "auto",
        username=principal(realm),
        password=password if password is not None else realm["WSMAN_KRB5_PASSWORD"],
        cert_validation=False,
        no_proxy=True,
    )


@pytest.mark.parametrize("mechanism", ["kerberos", "auto"])
@pytest.mark.parametrize("transport", ["https", "http"])
def test_pypsrp_credssp_with_kerberos_runs_commands_as_the_linux_user(realm, daemon, transport, mechanism):  # noqa: F811
    user = pam_user(realm)
    with client(daemon, realm, transport, mechanism) as c:
        stdout, stderr, code = c.execute_cmd("id -un")
    assert code == 0, (stderr, daemon.log_tail())
    assert stdout.strip() == user
    log = daemon.log_tail(200)
    assert "authenticated (CredSSP, credentials delegated)" in log, log
    assert f"user={user}" in log, log
    assert 'inner="Kerberos"' in log, log
    assert LINUX_PASSWORD not in log


def credssp_login(daemon, delegated_user: str, delegated_password: str):
    """A CredSSP handshake over HTTPS whose inner Kerberos uses the ticket in the credential
    cache (KRB5CCNAME: the realm's wsmankrb ticket) while delegating `delegated_user` and
    `delegated_password`, which pypsrp cannot separate. Returns the last response."""
    import base64

    import requests
    import spnego

    inner = spnego.client(spnego.CredentialCache(), hostname="localhost", service="HTTP", protocol="kerberos")
    context = spnego.client(
        spnego.Password(delegated_user, delegated_password),
        hostname="localhost",
        service="HTTP",
        protocol="credssp",
        credssp_negotiate_context=inner,
    )
    url = f"https://localhost:{daemon.port('https')}/wsman"
    headers = {"Content-Type": "application/soap+xml;charset=UTF-8"}
    with requests.Session() as session:
        session.trust_env = False
        token = None
        response = None
        for _ in range(10):
            try:
                out = context.step(token)
            except spnego.exceptions.SpnegoError:
                # The server's refusal came as an errorCode TSRequest in a 401.
                assert response is not None
                return response
            headers["Authorization"] = "CredSSP " + base64.b64encode(out).decode()
            response = session.post(url, data=b"", headers=headers, verify=False, timeout=30)
            challenge = response.headers.get("WWW-Authenticate", "")
            if response.status_code != 401 or not challenge.startswith("CredSSP "):
                return response
            token = base64.b64decode(challenge.split(" ", 1)[1])
    raise AssertionError("the CredSSP handshake did not end")


def test_the_delegated_password_is_checked_through_pam(realm, daemon):  # noqa: F811
    user = pam_user(realm)
    # Control: the right password with the same helper is accepted.
    accepted = credssp_login(daemon, principal(realm), LINUX_PASSWORD)
    assert accepted.status_code != 401, daemon.log_tail()
    assert 'inner="Kerberos"' in daemon.log_tail(50)
    # A valid ticket, a wrong delegated password: PAM refuses it.
    refused = credssp_login(daemon, principal(realm), "not-the-password")
    assert refused.status_code == 401
    log = daemon.log_tail(50)
    assert "delegated credentials refused" in log, log
    assert f'user="{user}"' in log or f"user={user}" in log, log
    assert "not-the-password" not in log


def test_the_delegated_user_must_be_the_kerberos_user(realm, daemon):  # noqa: F811
    pam_user(realm)
    # wsmanuser's own (valid) credentials, delegated over wsmankrb's ticket.
    refused = credssp_login(daemon, "wsmanuser", "Wsman-User-Pass1")
    assert refused.status_code == 401
    log = daemon.log_tail(50)
    assert "delegated user 'wsmanuser' is not the authenticated account 'wsmankrb'" in log, log
