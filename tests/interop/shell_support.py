"""Helpers for the WinRS shell interop tests: who the shells run as, client factories for
pywinrm and pypsrp, and the per-test check that no process of the test user is left over.

Shells run as the non-root test user (`wsmanuser`, created by scripts/test.sh as root), reached
two ways: the PAM login of that user, and a service account with `--run-as wsmanuser`. Running
as a dedicated user is what makes "no process of the test user left over" checkable.
"""

from __future__ import annotations

import os
import pwd
import signal
import threading
import time
from dataclasses import dataclass

import pytest
from pypsrp.client import Client
from pypsrp.wsman import WSMan
from winrm import Session
from winrm.exceptions import WinRMOperationTimeoutError
from winrm.protocol import Protocol

from conftest import Account, Daemon

TEST_USER = os.environ.get("WSMAN_TEST_PAM_PLAIN_USER") or "wsmanuser"
RUN_AS_ACCOUNT = Account("interop-runas", "Interop-RunAs-Pass-7!", TEST_USER)
TRANSPORTS = ["https", "http"]
LOGINS = ["pam-user", "run-as"]
# How long a test's processes may take to go away after the test (Delete waits for its
# kills; this covers reaping and slow machines).
LEFTOVER_GRACE_SECONDS = 15.0


@dataclass(frozen=True)
class Login:
    """Basic credentials that make shells run as the test user."""

    kind: str
    username: str
    password: str


def shell_user_entry() -> pwd.struct_passwd:
    """The test user, or a skip with the reason the shells cannot run as it here."""
    if os.geteuid() != 0:
        pytest.skip(
            "not root: wsmand runs shells as its own user unless it is root, so the shells "
            f"cannot run as {TEST_USER} (CI runs scripts/test.sh as root)"
        )
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        pytest.skip(f"test user {TEST_USER} does not exist (scripts/test.sh creates it as root)")


def login_for(kind: str) -> Login:
    if kind == "run-as":
        return Login(kind, RUN_AS_ACCOUNT.name, RUN_AS_ACCOUNT.password)
    user = os.environ.get("WSMAN_TEST_PAM_PLAIN_USER")
    password = os.environ.get("WSMAN_TEST_PAM_PLAIN_PASSWORD")
    if not user or not password:
        pytest.skip(
            "WSMAN_TEST_PAM_PLAIN_USER/WSMAN_TEST_PAM_PLAIN_PASSWORD not set "
            "(scripts/test.sh sets them as root)"
        )
    return Login(kind, user, password)


@dataclass(frozen=True)
class Target:
    """One daemon, one transport, one login: builds the clients the tests use."""

    daemon: Daemon
    transport: str
    login: Login

    @property
    def url(self) -> str:
        return self.daemon.url(self.transport)

    def session(self) -> Session:
        return Session(
            self.url,
            auth=(self.login.username, self.login.password),
            transport="basic",
            server_cert_validation="ignore",
            message_encryption="never",
            proxy=None,
        )

    def protocol(self, operation_timeout: int = 20, read_timeout: int | None = None) -> Protocol:
        return Protocol(
            self.url,
            transport="basic",
            username=self.login.username,
            password=self.login.password,
            server_cert_validation="ignore",
            message_encryption="never",
            proxy=None,
            operation_timeout_sec=operation_timeout,
            read_timeout_sec=read_timeout or operation_timeout + 10,
        )

    def wsman(self, operation_timeout: int = 20) -> WSMan:
        common = dict(
            auth="basic",
            username=self.login.username,
            password=self.login.password,
            no_proxy=True,
            connection_timeout=10,
            read_timeout=operation_timeout + 10,
            operation_timeout=operation_timeout,
        )
        port = self.daemon.port(self.transport)
        if self.transport == "https":
            return WSMan("127.0.0.1", port=port, ssl=True, cert_validation=False, **common)
        return WSMan("127.0.0.1", port=port, ssl=False, encryption="never", **common)

    def client(self) -> Client:
        return Client(
            "127.0.0.1",
            port=self.daemon.port(self.transport),
            ssl=self.transport == "https",
            auth="basic",
            encryption="never" if self.transport == "http" else "auto",
            username=self.login.username,
            password=self.login.password,
            cert_validation=False,
            no_proxy=True,
        )


def processes_of(uid: int) -> dict[int, str]:
    """Every process whose real or effective uid is `uid` (what `pgrep -u`/`-U` match), as
    pid -> "state=... ppid=... cmd=..." for failure messages. Zombies whose parent is init are
    left out: they are gone already, waiting for init to reap them (this container's init does
    so late); a zombie the daemon fails to reap is still listed."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        real, effective = (int(v) for v in fields.get("Uid", "-1 -1").split()[:2])
        if uid not in (real, effective):
            continue
        state = fields.get("State", "?").strip()
        ppid = fields.get("PPid", "?").strip()
        if state.startswith("Z") and ppid == "1":
            continue
        found[int(entry)] = f"state={state} ppid={ppid} cmd={cmdline or fields.get('Name', '').strip()}"
    return found


def describe(processes: dict[int, str]) -> str:
    return "\n".join(f"  pid {pid}: {text}" for pid, text in sorted(processes.items()))


def wait_until(condition, within: float, step: float = 0.1) -> bool:
    """Polls `condition` until it is true or `within` seconds passed; returns whether it became true."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return bool(value)
        time.sleep(step)


def kill_leftovers(uid: int, keep: set[int]) -> None:
    """SIGKILL, by pid, the test user's processes not in `keep`, repeatedly (a fork bomb
    replaces what is killed) for a bounded time."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pids = {p for p, text in processes_of(uid).items() if not text.startswith("state=Z")} - keep
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def no_leftover_processes():
    """After the test: wait a bounded time, then fail listing every process of the test user
    the test left behind, and kill them so one failure does not cascade into the next tests.

    Processes that existed before the test (not started by it) are not counted; there are none
    in CI."""
    uid = shell_user_entry().pw_uid
    before = set(processes_of(uid))
    if before:
        print(f"note: {TEST_USER} already had processes before the test:\n{describe(processes_of(uid))}")
    yield

    def new() -> dict[int, str]:
        return {pid: text for pid, text in processes_of(uid).items() if pid not in before}

    if wait_until(lambda: not new(), LEFTOVER_GRACE_SECONDS):
        return
    leftovers = new()
    kill_leftovers(uid, before)
    if leftovers:
        pytest.fail(
            f"{len(leftovers)} process(es) of {TEST_USER} left over "
            f"{LEFTOVER_GRACE_SECONDS:.0f}s after the test:\n{describe(leftovers)}"
        )


def vm_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def receive_until_done(protocol, shell_id: str, command_id: str, within: float = 60.0):
    """pywinrm's get_command_output, but bounded: Receives (retrying the w:TimedOut fault)
    until Done; returns (stdout, stderr, exit code) or fails after `within` seconds."""
    out, err = [], []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            stdout, stderr, code, done = protocol.get_command_output_raw(shell_id, command_id)
        except WinRMOperationTimeoutError:
            continue
        out.append(stdout)
        err.append(stderr)
        if done:
            return b"".join(out), b"".join(err), code
    pytest.fail(f"command {command_id} not Done within {within:.0f}s; stdout so far {b''.join(out)[-500:]!r}")


def assert_usable(target: Target, uid: int) -> None:
    """The daemon still runs a command as the test user."""
    r = target.session().run_cmd("id -u")
    assert (r.status_code, r.std_out) == (0, f"{uid}\n".encode()), target.daemon.log_tail()


class Sampler:
    """Calls `measure` every `interval` seconds on a thread and keeps the largest value, so a
    test can bound what it watches (process count, memory) while a command runs."""

    def __init__(self, measure, interval: float = 0.02):
        self.measure = measure
        self.interval = interval
        self.peak = measure()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.peak = max(self.peak, self.measure())
            except OSError:
                pass

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def rss_of_processes_kib(uid: int) -> int:
    """Sum of VmRSS over the test user's processes."""
    total = 0
    for pid in processes_of(uid):
        try:
            total += vm_rss_kib(pid)
        except (OSError, AssertionError):
            pass
    return total
