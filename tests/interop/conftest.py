"""Fixtures that start the real wsmand (from target/debug) on free loopback ports.

Each test module gets a daemon with two listeners (HTTP with AllowUnencrypted + Basic, and HTTPS
with a self-signed certificate generated here), a service account created with
`wsmand account add`, and a temporary config dir, all removed afterwards.
"""

from __future__ import annotations

import datetime
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REPO = Path(__file__).resolve().parents[2]
SERVICE_ACCOUNT = "interop-svc"
SERVICE_PASSWORD = "Interop-Pass-42!"

# Loopback only: keep any proxy settings of the environment out of the way.
os.environ["NO_PROXY"] = "127.0.0.1,localhost"
os.environ["no_proxy"] = "127.0.0.1,localhost"


def target_dir() -> Path:
    configured = os.environ.get("CARGO_TARGET_DIR")
    base = Path(configured) if configured else REPO / "target"
    return base / "debug"


def binary(name: str) -> Path:
    path = target_dir() / name
    if not path.is_file():
        pytest.fail(f"{path} not found: run `cargo build --workspace --bins` first")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_certificate(config_dir: Path) -> str:
    """A self-signed certificate stored as certs/THUMB.crt + THUMB.key; returns THUMB."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    thumbprint = cert.fingerprint(hashes.SHA1()).hex().upper()
    certs = config_dir / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    (certs / f"{thumbprint}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path = certs / f"{thumbprint}.key"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return thumbprint


def wait_for_port(process: subprocess.Popen, port: int, log: Path, deadline: float = 30.0) -> None:
    start = time.monotonic()
    while time.monotonic() - start < deadline:
        if process.poll() is not None:
            pytest.fail(f"wsmand exited with {process.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"wsmand did not open port {port}:\n{log.read_text()}")


@dataclass
class Daemon:
    http_port: int
    https_port: int
    config_dir: Path
    log: Path
    process: subprocess.Popen

    def url(self, transport: str) -> str:
        port = self.https_port if transport == "https" else self.http_port
        return f"{transport}://127.0.0.1:{port}/wsman"

    def port(self, transport: str) -> int:
        return self.https_port if transport == "https" else self.http_port

    def log_tail(self, lines: int = 40) -> str:
        """The end of the daemon's stderr, for failure messages."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError as error:
            return f"(log unreadable: {error})"


@dataclass(frozen=True)
class Account:
    """A service account `wsmand account add` creates before the daemon starts."""

    name: str
    password: str
    run_as: str | None
    # `--ntlm`: also store the NT hash, for Negotiate/NTLM logins.
    ntlm: bool = False


def config_toml(
    http_port: int,
    https_port: int,
    thumbprint: str,
    winrs: dict[str, int],
    allow_unencrypted: bool = True,
    auth: dict[str, str] | None = None,
) -> str:
    winrs_table = "".join(f"{key} = {value}\n" for key, value in winrs.items())
    auth_lines = "".join(f'{key} = "{value}"\n' for key, value in (auth or {}).items())
    return (
        "[Config.Service]\n"
        f"AllowUnencrypted = {'true' if allow_unencrypted else 'false'}\n"
        "[Config.Service.Auth]\n"
        "Basic = true\n"
        + auth_lines
        + (f"[Config.Winrs]\n{winrs_table}" if winrs else "")
        + "[[Listener]]\n"
        'Address = "IP:127.0.0.1"\n'
        'Transport = "HTTP"\n'
        f"Port = {http_port}\n"
        "[[Listener]]\n"
        'Address = "IP:127.0.0.1"\n'
        'Transport = "HTTPS"\n'
        f"Port = {https_port}\n"
        f'CertificateThumbprint = "{thumbprint}"\n'
    )


@contextmanager
def running_daemon(
    accounts: tuple[Account, ...],
    winrs: dict[str, int] | None = None,
    preexec: Callable[[], None] | None = None,
    allow_unencrypted: bool = True,
    auth: dict[str, str] | None = None,
    prepare: Callable[[Path], None] | None = None,
    env_extra: dict[str, str] | None = None,
):
    """The real wsmand with an HTTP (AllowUnencrypted) and an HTTPS listener, Basic auth,
    `accounts`, and `winrs` as the `[Config.Winrs]` table; stopped and removed afterwards.
    `preexec` runs in the daemon's process before exec (e.g. a safety rlimit); `prepare` gets
    the config dir before the daemon starts (e.g. to install a Kerberos keytab); `env_extra`
    is added to the daemon's environment (e.g. WSMAND_JOURNAL_DIRECTORY)."""
    wsmand = binary("wsmand")
    config_dir = Path(tempfile.mkdtemp(prefix="wsmand-interop-"))
    try:
        http_port, https_port = free_port(), free_port()
        thumbprint = write_certificate(config_dir)
        (config_dir / "config.toml").write_text(
            config_toml(http_port, https_port, thumbprint, winrs or {}, allow_unencrypted, auth)
        )
        if prepare is not None:
            prepare(config_dir)
        env = dict(os.environ, WSMAND_CONFIG_DIR=str(config_dir))
        for account in accounts:
            run_as = ["--run-as", account.run_as] if account.run_as else []
            subprocess.run(
                [
                    str(wsmand),
                    "--config-dir",
                    str(config_dir),
                    "account",
                    "add",
                    account.name,
                    "--password-stdin",
                    *run_as,
                    *(["--ntlm"] if account.ntlm else []),
                ],
                input=account.password + "\n",
                text=True,
                env=env,
                check=True,
                timeout=60,
                capture_output=True,
            )
        log = config_dir.parent / (config_dir.name + ".stderr.log")
        env.pop("WSMAND_CONFIG_DIR")
        env.pop("NOTIFY_SOCKET", None)
        env.update(env_extra or {})
        with open(log, "wb") as stderr:
            process = subprocess.Popen(
                [str(wsmand), "--config-dir", str(config_dir)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=env,
                preexec_fn=preexec,
            )
        try:
            wait_for_port(process, http_port, log)
            wait_for_port(process, https_port, log)
            yield Daemon(http_port, https_port, config_dir, log, process)
        finally:
            # SIGTERM: the daemon ends its shells and removes their cgroups; SIGKILL if it hangs.
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
            if os.environ.get("WSMAN_INTEROP_SHOW_LOG"):
                print(log.read_text())
            log.unlink(missing_ok=True)
    finally:
        shutil.rmtree(config_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def daemon():
    with running_daemon((Account(SERVICE_ACCOUNT, SERVICE_PASSWORD, "root"),)) as started:
        yield started


@pytest.fixture
def sleeper():
    """A `sleep 300` child of the test: a process whose pid, owner and command line the test knows."""
    child = subprocess.Popen(["sleep", "300"])
    # Returned once asleep: Popen returns when the exec is past its point of no return, before
    # the kernel has set up the new argument area (cmdline can still read empty) and while the
    # loader still grows the resident set.
    deadline = time.monotonic() + 10
    while True:
        try:
            with open(f"/proc/{child.pid}/stat", encoding="utf-8") as stat:
                if stat.read().rsplit(") ", 1)[1].startswith("S"):
                    break
        except (OSError, IndexError):
            pass
        assert time.monotonic() < deadline, "sleep did not settle"
        time.sleep(0.005)
    try:
        yield child
    finally:
        child.kill()
        child.wait()


def pam_credentials():
    user = os.environ.get("WSMAN_TEST_PAM_USER")
    password = os.environ.get("WSMAN_TEST_PAM_PASSWORD")
    if not user or not password:
        return None
    return user, password


@pytest.fixture(params=["service-account", "pam-user"])
def credentials(request):
    if request.param == "service-account":
        return SERVICE_ACCOUNT, SERVICE_PASSWORD
    pam = pam_credentials()
    if pam is None:
        pytest.skip("WSMAN_TEST_PAM_USER/WSMAN_TEST_PAM_PASSWORD not set (scripts/test.sh sets them as root)")
    return pam


class DecryptSpy:
    """Counts calls of a client's decrypt function (and still decrypts): proof that the
    answers a test received were really sealed."""

    def __init__(self, monkeypatch, owner, name):
        self.calls = 0
        original = getattr(owner, name)

        def counting(*args, **kwargs):
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, counting)
