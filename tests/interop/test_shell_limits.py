"""WinRS limits and hostile commands through the real clients (pywinrm), as the non-root test
user (service account with `--run-as`), over Basic/HTTPS and Basic/HTTP with AllowUnencrypted:

- a fork bomb and a fork loop stopped by MaxProcessesPerShell,
- a memory hog stopped by MaxMemoryPerShellMB,
- a command printing flat out while the client receives slowly: the daemon's memory stays
  bounded and every byte arrives,
- a client that vanishes mid-command: the shell is reaped after IdleTimeout and no process is
  left.

Each test starts its own daemon with the `[Config.Winrs]` values it needs, checks the daemon
still serves a command afterwards, and (autouse `no_leftover_processes`) that no process of the
test user is left.
"""

from __future__ import annotations

import resource
import time
from contextlib import contextmanager

import pytest
import requests
from winrm.exceptions import WinRMOperationTimeoutError, WSManFaultError

from conftest import running_daemon
from shell_support import (  # noqa: F401 (no_leftover_processes: autouse fixture)
    RUN_AS_ACCOUNT,
    TRANSPORTS,
    Sampler,
    Target,
    assert_usable,
    login_for,
    no_leftover_processes,
    processes_of,
    receive_until_done,
    rss_of_processes_kib,
    shell_user_entry,
    vm_rss_kib,
    wait_until,
)

MAX_PROCESSES = 10
MAX_MEMORY_MB = 64
# Safety net under the test: should MaxProcessesPerShell not hold, the test user's processes
# stay bounded anyway (RLIMIT_NPROC is per user, inherited by the daemon's children; the root
# daemon itself is exempt), so a failing fork-bomb test fails instead of hanging the machine.
SAFETY_NPROC = 200
INVALID_SELECTORS = 2150858843


def nproc_safety_net() -> None:
    resource.setrlimit(resource.RLIMIT_NPROC, (SAFETY_NPROC, SAFETY_NPROC))


@pytest.fixture(scope="module")
def uid() -> int:
    return shell_user_entry().pw_uid


@pytest.fixture(params=TRANSPORTS)
def transport(request) -> str:
    return request.param


@contextmanager
def start(winrs: dict[str, int], transport: str, **kwargs):
    """A daemon with `winrs` as its `[Config.Winrs]`; yields a Target for the run-as login."""
    with running_daemon((RUN_AS_ACCOUNT,), winrs, **kwargs) as daemon:
        yield Target(daemon, transport, login_for("run-as"))


def test_process_limit_refuses_the_forks_beyond_it(uid, transport):
    limits = {"MaxProcessesPerShell": MAX_PROCESSES}
    with start(limits, transport, preexec=nproc_safety_net) as target:
        p = target.protocol()
        shell_id = p.open_shell()
        try:
            command_id = p.run_command(
                shell_id, "id -u; i=0; while [ $i -lt 40 ]; do sleep 60 & i=$((i+1)); done; echo spawned-all"
            )
            with Sampler(lambda: len(processes_of(uid))) as count:
                out, err, code = receive_until_done(p, shell_id, command_id)
            assert out == f"{uid}\n".encode(), err
            print(f"peak processes of uid {uid}: {count.peak}; exit code {code}; stderr {err[-200:]!r}")
            assert code != 0
            assert b"fork" in err.lower()
            assert count.peak <= MAX_PROCESSES, f"saw {count.peak} processes of uid {uid}"
        finally:
            p.close_shell(shell_id)
        assert_usable(target, uid)


def test_fork_bomb_is_stopped_by_max_processes_per_shell(uid, transport):
    limits = {"MaxProcessesPerShell": MAX_PROCESSES}
    with start(limits, transport, preexec=nproc_safety_net) as target:
        p = target.protocol()
        shell_id = p.open_shell()
        try:
            # bash, not dash: bash retries a failed fork and goes on, so the bomb keeps churning
            # at the limit instead of dying out at the first refused fork.
            command_id = p.run_command(shell_id, "exec bash -c ':(){ :|:& };:'")
            with Sampler(lambda: len(processes_of(uid))) as count:
                # The command itself ends at once; its children hold stdout and stderr while
                # they churn: Done must come anyway.
                _, _, code = receive_until_done(p, shell_id, command_id, within=120)
            print(f"peak processes of uid {uid} during the bomb: {count.peak}")
            assert code == 0
            assert count.peak <= MAX_PROCESSES, f"saw {count.peak} processes of uid {uid}"
            assert count.peak > 1, "the bomb never ran"
            # The daemon serves another shell while what is left of the bomb churns in this one.
            assert_usable(target, uid)
        finally:
            # Delete must end the churning bomb: the autouse check sees to it.
            p.close_shell(shell_id)
        assert_usable(target, uid)


def test_memory_hog_is_stopped_by_max_memory_per_shell_mb(uid, transport):
    with start({"MaxMemoryPerShellMB": MAX_MEMORY_MB}, transport) as target:
        p = target.protocol()
        shell_id = p.open_shell()
        try:
            # The shell keeps 300 MB of command substitution in its own memory.
            command_id = p.run_command(
                shell_id, "id -u; x=$(head -c 300000000 /dev/zero | tr '\\0' a); echo survived ${#x}"
            )
            with Sampler(lambda: rss_of_processes_kib(uid)) as rss:
                out, err, code = receive_until_done(p, shell_id, command_id)
            print(f"peak RSS of uid {uid}: {rss.peak} KiB; exit code {code}")
            assert out == f"{uid}\n".encode(), err
            assert code != 0
            # Sampled, so it may miss the peak, never overstate it; 16 MiB for the sampling
            # step and the few small processes around the hog.
            assert rss.peak <= (MAX_MEMORY_MB + 16) * 1024, f"processes of uid {uid} reached {rss.peak} KiB"
        finally:
            p.close_shell(shell_id)
        assert_usable(target, uid)


def test_slow_receiver_keeps_daemon_memory_bounded_and_loses_nothing(uid, transport):
    """A command printing 64 MiB flat out; the client first stalls, then receives slowly, then
    drains. Unbounded buffering would put the whole output in the daemon's memory."""
    total = 64 * 1024 * 1024
    bound_kib = 32 * 1024
    with start({}, transport) as target:
        pid = target.daemon.process.pid
        assert_usable(target, uid)  # warm up: connections, TLS, a first shell
        p = target.protocol()
        shell_id = p.open_shell()
        try:
            command_id = p.run_command(shell_id, f"head -c {total} /dev/zero")
            received, receives, done, code = 0, 0, False, None
            baseline = vm_rss_kib(pid)
            with Sampler(lambda: vm_rss_kib(pid), interval=0.05) as rss:
                time.sleep(5)  # the client stalls: the command must block on its pipe
                while not done:
                    try:
                        out, _, code, done = p.get_command_output_raw(shell_id, command_id)
                    except WinRMOperationTimeoutError:
                        continue
                    received += len(out)
                    receives += 1
                    if receives <= 50:
                        time.sleep(0.2)  # slow: 10 s of Receives far apart
            growth = rss.peak - baseline
            print(f"daemon VmRSS baseline {baseline} KiB, peak {rss.peak} KiB; {receives} Receives")
            assert (received, code) == (total, 0)
            assert growth < bound_kib, f"daemon VmRSS grew {growth} KiB (baseline {baseline} KiB)"
        finally:
            p.close_shell(shell_id)


def sleeping(uid: int) -> bool:
    return any(text.endswith(" cmd=sleep 300") for text in processes_of(uid).values())


@pytest.mark.parametrize("vanish", ["between-requests", "mid-receive"])
def test_vanished_client_shell_is_reaped_after_idle_timeout(uid, transport, vanish):
    idle_timeout_ms = 3000
    with start({"IdleTimeout": idle_timeout_ms}, transport) as target:
        p = target.protocol(operation_timeout=10)
        shell_id = p.open_shell()
        command_id = p.run_command(shell_id, "id -u; exec sleep 300")
        assert wait_until(lambda: sleeping(uid), 10), "sleep 300 never ran as the test user"
        if vanish == "mid-receive":
            # Receive until one long-polls (nothing more to read); the client gives up on it
            # after 2 s and drops the connection while the daemon still holds the Receive.
            p.transport.read_timeout_sec = 2
            with pytest.raises(requests.exceptions.ReadTimeout):
                for _ in range(5):
                    p.get_command_output_raw(shell_id, command_id)
        p.transport.close_session()  # no Delete: the client is gone
        # Reaped after IdleTimeout (+ a pending Receive's 10 s, the reaper's interval, slack).
        assert wait_until(lambda: not sleeping(uid), 40), (
            f"the shell's process outlived IdleTimeout ({idle_timeout_ms} ms):\n"
            f"{processes_of(uid)}\n{target.daemon.log_tail()}"
        )
        # The shell is gone too: Delete from a new client finds no such shell.
        with pytest.raises(WSManFaultError) as info:
            target.protocol().close_shell(shell_id)
        assert info.value.wsman_fault_code == INVALID_SELECTORS
        assert_usable(target, uid)
