"""Client certificate authentication with pywinrm (`transport='certificate'`) and pypsrp
(`auth='certificate'`) from PyPI, unchanged, against the real wsmand over HTTPS.

A throwaway CA is installed as `certs/THUMB.crt` in the daemon's config dir, the mapping is
made with the local `winrm` CLI while the daemon runs (so it also proves the mapping applies
live), and the clients present a certificate with the UPN `interop@example`. Shells run as
the mapped non-root test user, proven by `id -u`/`whoami`, with large output and stdin.
Refusals (unmapped issuer, no mapping, expired) come back as 401, which both clients report
as bad credentials.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pypsrp.client import Client
from pypsrp.exceptions import AuthenticationError
from pypsrp.shell import Process, WinRS
from pypsrp.wsman import WSMan
from winrm import Session
from winrm.exceptions import InvalidCredentialsError

from conftest import Daemon, binary, running_daemon
from shell_support import TEST_USER, no_leftover_processes, shell_user_entry  # noqa: F401

UPN_OID = x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")
UPN = "interop@example"


@dataclass(frozen=True)
class ClientCert:
    cert_pem: str
    key_pem: str


def utf8_der(text: str) -> bytes:
    """A DER UTF8String (the value of the UPN otherName)."""
    data = text.encode()
    assert len(data) < 128
    return bytes([0x0C, len(data)]) + data


def new_key():
    return ec.generate_private_key(ec.SECP256R1())


def make_ca(name: str):
    key = new_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def thumbprint(cert) -> str:
    return cert.fingerprint(hashes.SHA1()).hex().upper()


def issue(ca, directory: Path, name: str, upn: str = UPN, expired: bool = False) -> ClientCert:
    ca_cert, ca_key = ca
    key = new_key()
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = (
        (now - datetime.timedelta(days=60), now - datetime.timedelta(days=30))
        if expired
        else (now - datetime.timedelta(days=1), now + datetime.timedelta(days=30))
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, upn)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(
            x509.SubjectAlternativeName([x509.OtherName(UPN_OID, utf8_der(upn))]), critical=False
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path = directory / f"{name}.crt"
    key_path = directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return ClientCert(str(cert_path), str(key_path))


def local_winrm(daemon: Daemon, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, WSMAND_CONFIG_DIR=str(daemon.config_dir))
    return subprocess.run(
        [str(binary("winrm")), *args], env=env, capture_output=True, text=True, timeout=60
    )


def pywinrm_session(daemon: Daemon, cert: ClientCert) -> Session:
    return Session(
        daemon.url("https"),
        auth=(None, None),
        transport="certificate",
        cert_pem=cert.cert_pem,
        cert_key_pem=cert.key_pem,
        server_cert_validation="ignore",
        proxy=None,
    )


def pypsrp_wsman(daemon: Daemon, cert: ClientCert) -> WSMan:
    return WSMan(
        "127.0.0.1",
        port=daemon.https_port,
        ssl=True,
        auth="certificate",
        certificate_pem=cert.cert_pem,
        certificate_key_pem=cert.key_pem,
        cert_validation=False,
        no_proxy=True,
        connection_timeout=10,
        read_timeout=40,
        operation_timeout=20,
    )


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A daemon with Certificate auth on, the CA installed and mapped to the test user."""
    directory = tmp_path_factory.mktemp("client-certs")
    ca = make_ca("wsmand interop CA")
    stranger = make_ca("unmapped CA")
    with running_daemon((), auth={"Certificate": "true"}) as daemon:
        certs = daemon.config_dir / "certs"
        for authority, _ in (ca, stranger):
            (certs / f"{thumbprint(authority)}.crt").write_bytes(
                authority.public_bytes(serialization.Encoding.PEM)
            )
        created = local_winrm(
            daemon,
            "create",
            f"winrm/config/service/certmapping?Issuer={thumbprint(ca[0])}+Subject=*@example+URI=*",
            f'@{{UserName="{TEST_USER}";Enabled="true"}}',
        )
        assert created.returncode == 0, created.stdout + created.stderr
        good = issue(ca, directory, "good")
        # The daemon notices the changed config.toml within a second or so.
        deadline = time.monotonic() + 20
        while True:
            try:
                pywinrm_session(daemon, good).run_cmd("true")
                break
            except InvalidCredentialsError:
                if time.monotonic() > deadline:
                    pytest.fail("the mapping never applied:\n" + daemon.log_tail())
                time.sleep(0.2)
        yield daemon, ca, stranger, directory, good


@pytest.fixture
def uid():
    return shell_user_entry().pw_uid


def test_mapping_is_listed_by_winrm(setup):
    daemon, ca, _, _, _ = setup
    listed = local_winrm(daemon, "enumerate", "winrm/config/service/certmapping")
    assert listed.returncode == 0, listed.stderr
    assert thumbprint(ca[0]) in listed.stdout
    assert TEST_USER in listed.stdout


def test_pywinrm_certificate_runs_commands_as_the_mapped_user(setup, uid):
    daemon, _, _, _, good = setup
    session = pywinrm_session(daemon, good)
    r = session.run_cmd("id -u; whoami")
    assert r.status_code == 0, r.std_err
    assert r.std_out.decode().split() == [str(uid), TEST_USER]
    big = session.run_cmd("head -c 3000000 /dev/zero | tr '\\0' c")
    assert big.status_code == 0
    assert big.std_out == b"c" * 3_000_000


def test_pypsrp_certificate_runs_commands_with_stdin(setup, uid):
    daemon, _, _, _, good = setup
    client = Client(
        "127.0.0.1",
        port=daemon.https_port,
        ssl=True,
        auth="certificate",
        certificate_pem=good.cert_pem,
        certificate_key_pem=good.key_pem,
        cert_validation=False,
        no_proxy=True,
    )
    out, err, rc = client.execute_cmd("id -u; head -c 2000000 /dev/zero | tr '\\0' p")
    assert rc == 0, err
    assert out == f"{uid}\n" + "p" * 2_000_000
    with WinRS(pypsrp_wsman(daemon, good)) as shell:
        process = Process(shell, "id -u; cat")
        process.begin_invoke()
        process.send(b"through stdin", end=True)
        process.end_invoke()
        assert process.rc == 0
        assert process.stdout == f"{uid}\n".encode() + b"through stdin"


def test_refused_certificates_are_bad_credentials(setup):
    daemon, ca, stranger, directory, _ = setup
    refused = {
        "unmapped issuer": issue(stranger, directory, "stranger"),
        "no mapping for the name": issue(ca, directory, "nobody", upn="someone@elsewhere"),
        "expired": issue(ca, directory, "expired", expired=True),
    }
    for why, cert in refused.items():
        with pytest.raises(InvalidCredentialsError):
            pywinrm_session(daemon, cert).run_cmd("true")
        with pytest.raises(AuthenticationError):
            with WinRS(pypsrp_wsman(daemon, cert)):
                pass
        refusals = [
            line
            for line in daemon.log.read_text().splitlines()
            if "401: authentication failed" in line and "Certificate" in line
        ]
        assert refusals, why
