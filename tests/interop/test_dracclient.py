"""python-dracclient (OpenStack's iDRAC client, from PyPI, unchanged; it needs `six` beside it)
reading WMI classes from the real wsmand over HTTPS with Basic: Enumerate with a CQL filter (its
default dialect) and a WQL one, Pull through its auto-pull, and Invoke. Values are checked against
/proc for a process this test starts.
"""

from __future__ import annotations

import os
import pwd
import subprocess

import pytest
from dracclient import wsman

from conftest import SERVICE_ACCOUNT, SERVICE_PASSWORD

WMI = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/"
PROCESS = WMI + "Win32_Process"


def client(daemon) -> wsman.Client:
    # dracclient does not verify certificates (its own TODO); the daemon's is self-signed.
    return wsman.Client(
        "127.0.0.1",
        SERVICE_ACCOUNT,
        SERVICE_PASSWORD,
        port=daemon.https_port,
        path="/wsman",
        protocol="https",
        ssl_retries=1,
    )


def processes(doc) -> list:
    return doc.findall(f".//{{{PROCESS}}}Win32_Process")


def text(instance, name: str) -> str | None:
    return instance.findtext(f"{{{PROCESS}}}{name}")


@pytest.mark.parametrize("dialect", ["cql", "wql"])
def test_enumerate_with_a_filter_finds_the_process(daemon, sleeper, dialect):
    query = f"SELECT * FROM Win32_Process WHERE ProcessId = {sleeper.pid}"
    doc = client(daemon).enumerate(PROCESS, filter_query=query, filter_dialect=dialect)
    found = processes(doc)
    assert len(found) == 1, daemon.log_tail()
    process = found[0]
    assert text(process, "Handle") == str(sleeper.pid)
    assert text(process, "Name") == "sleep"
    assert text(process, "ParentProcessId") == str(os.getpid())
    with open(f"/proc/{sleeper.pid}/cmdline", "rb") as cmdline:
        assert text(process, "CommandLine") == " ".join(
            part.decode() for part in cmdline.read().split(b"\0") if part
        )


def test_enumerate_pulls_every_process_in_pages(daemon, sleeper):
    # Twenty per message: the first twenty in the EnumerateResponse (optimized, dracclient's
    # default and what its auto-pull expects), the rest by many Pulls followed to the end.
    drac = client(daemon)
    requests = []
    send = drac._do_request

    def counted(payload):
        requests.append(type(payload).__name__)
        return send(payload)

    drac._do_request = counted
    doc = drac.enumerate(PROCESS, max_elems=20)
    handles = {text(p, "Handle") for p in processes(doc)}
    # dracclient writes MaxElements in WS-Management's namespace inside Pull: honoured, so
    # twenty come per message (one message more at most, for the end of the sequence).
    assert len(requests) <= len(handles) // 20 + 2, (len(requests), len(handles))
    if len(handles) > 20:
        assert requests.count("_PullPayload") >= 1
    assert str(sleeper.pid) in handles
    assert str(os.getpid()) in handles
    assert len(handles) == len(processes(doc)), "no process twice"


def test_invoke_get_owner(daemon, sleeper):
    doc = client(daemon).invoke(PROCESS, "GetOwner", {"Handle": str(sleeper.pid)}, {})
    output = doc.find(f".//{{{PROCESS}}}GetOwner_OUTPUT")
    assert output is not None, daemon.log_tail()
    assert output.findtext(f"{{{PROCESS}}}ReturnValue") == "0"
    owner = pwd.getpwuid(os.stat(f"/proc/{sleeper.pid}").st_uid).pw_name
    assert output.findtext(f"{{{PROCESS}}}User") == owner
