"""pypsrp's WSMan class (from PyPI, unchanged) reading WMI classes from the real wsmand: Enumerate
with a WQL filter, Pull, and Get by selector, each value checked against /proc for a process this
test starts.
"""

from __future__ import annotations

import os
import subprocess
import xml.etree.ElementTree as ET

import pytest
from pypsrp.wsman import NAMESPACES, SelectorSet, WSMan

from conftest import SERVICE_ACCOUNT, SERVICE_PASSWORD
from test_pypsrp import TRANSPORTS, make_wsman

WMI = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/"
WQL = "http://schemas.microsoft.com/wbem/wsman/1/WQL"
ENUMERATION = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
PROCESS_NS = WMI + "Win32_Process"


def wql_enumerate(query: str) -> ET.Element:
    body = ET.Element(f"{{{ENUMERATION}}}Enumerate")
    ET.SubElement(body, f"{{{WSMAN}}}OptimizeEnumeration")
    ET.SubElement(body, f"{{{WSMAN}}}MaxElements").text = "100"
    f = ET.SubElement(body, f"{{{WSMAN}}}Filter", Dialect=WQL)
    f.text = query
    return body


def proc_status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError(f"{key} not in /proc/{pid}/status")


def instances(body: ET.Element) -> list[ET.Element]:
    return body.findall(f".//{{{PROCESS_NS}}}Win32_Process")


def field(instance: ET.Element, name: str) -> str | None:
    return instance.findtext(f"{{{PROCESS_NS}}}{name}")


def read_and_invoke(wsman: WSMan, pid: int) -> None:
    """Enumerate with a WQL filter, Get by Handle and Invoke GetOwner for process `pid` through
    pypsrp's WSMan, whatever its authentication: each value checked against /proc."""
    import pwd

    body = wsman.enumerate(WMI + "*", wql_enumerate(f"SELECT * FROM Win32_Process WHERE ProcessId = {pid}"))
    found = instances(body)
    assert len(found) == 1, ET.tostring(body)
    assert field(found[0], "Handle") == str(pid)
    assert field(found[0], "ParentProcessId") == str(os.getpid())
    selectors = SelectorSet()
    selectors.add_option("Handle", str(pid))
    process = wsman.get(WMI + "Win32_Process", selector_set=selectors).find(f"{{{PROCESS_NS}}}Win32_Process")
    assert process is not None
    assert field(process, "ProcessId") == str(pid) and field(process, "Name") == "sleep"
    uri = WMI + "Win32_Process"
    response = wsman.invoke(uri + "/GetOwner", uri, ET.Element(f"{{{PROCESS_NS}}}GetOwner_INPUT"), selector_set=selectors)
    output = response.find(f".//{{{PROCESS_NS}}}GetOwner_OUTPUT")
    assert output is not None, ET.tostring(response)
    assert output.findtext(f"{{{PROCESS_NS}}}ReturnValue") == "0"
    with open(f"/proc/{pid}/status", encoding="utf-8") as status:
        uid = next(int(line.split()[1]) for line in status if line.startswith("Uid:"))
    assert output.findtext(f"{{{PROCESS_NS}}}User") == pwd.getpwuid(uid).pw_name


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_enumerate_win32_process_with_wql(daemon, sleeper, transport):
    pid = sleeper.pid
    with make_wsman(daemon, transport, SERVICE_ACCOUNT, SERVICE_PASSWORD) as wsman:
        body = wsman.enumerate(
            WMI + "*",
            wql_enumerate(f"SELECT * FROM Win32_Process WHERE ProcessId = {pid}"),
        )
    found = instances(body)
    assert len(found) == 1, ET.tostring(body)
    process = found[0]
    assert field(process, "Handle") == str(pid)
    assert field(process, "ParentProcessId") == str(os.getpid())
    assert field(process, "CommandLine") == "sleep 300"
    assert field(process, "WorkingSetSize") == str(proc_status_kb(pid, "VmRSS") * 1024)
    assert body.find(f".//{{{WSMAN}}}EndOfSequence") is not None


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_get_win32_process_by_handle(daemon, sleeper, transport):
    pid = sleeper.pid
    selectors = SelectorSet()
    selectors.add_option("Handle", str(pid))
    with make_wsman(daemon, transport, SERVICE_ACCOUNT, SERVICE_PASSWORD) as wsman:
        body = wsman.get(WMI + "Win32_Process", selector_set=selectors)
    process = body.find(f"{{{PROCESS_NS}}}Win32_Process")
    assert process is not None, ET.tostring(body)
    assert field(process, "ProcessId") == str(pid)
    assert field(process, "Name") == "sleep"


def test_enumerate_and_pull_every_process(daemon, sleeper):
    """Without OptimizeEnumeration every item comes through Pull, in pages."""
    with make_wsman(daemon, "http", SERVICE_ACCOUNT, SERVICE_PASSWORD) as wsman:
        body = wsman.enumerate(WMI + "Win32_Process")
        context = body.findtext("wsen:EnumerateResponse/wsen:EnumerationContext", namespaces=NAMESPACES)
        handles = []
        for _ in range(100000):
            pull = ET.Element(f"{{{ENUMERATION}}}Pull")
            ET.SubElement(pull, f"{{{ENUMERATION}}}EnumerationContext").text = context
            ET.SubElement(pull, f"{{{ENUMERATION}}}MaxElements").text = "20"
            body = wsman.pull(WMI + "Win32_Process", pull)
            handles += [field(p, "Handle") for p in instances(body)]
            if body.find(f".//{{{ENUMERATION}}}EndOfSequence") is not None:
                break
            context = body.findtext(f".//{{{ENUMERATION}}}EnumerationContext")
    assert str(sleeper.pid) in handles
    assert str(os.getpid()) in handles


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_invoke_get_owner(daemon, sleeper, transport):
    """WSMan.invoke with the class URI + method as the action, as PowerShell's CIM cmdlets do."""
    import pwd

    uri = WMI + "Win32_Process"
    selectors = SelectorSet()
    selectors.add_option("Handle", str(sleeper.pid))
    body = ET.Element(f"{{{PROCESS_NS}}}GetOwner_INPUT")
    with make_wsman(daemon, transport, SERVICE_ACCOUNT, SERVICE_PASSWORD) as wsman:
        response = wsman.invoke(uri + "/GetOwner", uri, body, selector_set=selectors)
    output = response.find(f".//{{{PROCESS_NS}}}GetOwner_OUTPUT")
    assert output is not None, ET.tostring(response)
    assert output.findtext(f"{{{PROCESS_NS}}}ReturnValue") == "0"
    with open(f"/proc/{sleeper.pid}/status", encoding="utf-8") as status:
        uid = next(int(line.split()[1]) for line in status if line.startswith("Uid:"))
    assert output.findtext(f"{{{PROCESS_NS}}}User") == pwd.getpwuid(uid).pw_name


@pytest.fixture
def shared_dir():
    """A directory every user may write to (pytest's own tmp_path is root's alone)."""
    import shutil
    import tempfile

    path = tempfile.mkdtemp(prefix="wsman-interop-create-")
    os.chmod(path, 0o777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_invoke_create_runs_as_the_caller(daemon, credentials, shared_dir, transport):
    """Win32_Process.Create through WSMan.invoke: the process really runs, as the Linux user
    the credentials map to, in CurrentDirectory, and is left running."""
    import pwd
    import signal
    import time

    user, password = credentials
    linux_user = "root" if user == SERVICE_ACCOUNT else user
    uri = WMI + "Win32_Process"
    body = ET.Element(f"{{{PROCESS_NS}}}Create_INPUT")
    ET.SubElement(body, f"{{{PROCESS_NS}}}CommandLine").text = "echo $$ > written; exec sleep 304"
    ET.SubElement(body, f"{{{PROCESS_NS}}}CurrentDirectory").text = shared_dir
    with make_wsman(daemon, transport, user, password) as wsman:
        response = wsman.invoke(uri + "/Create", uri, body)
    output = response.find(f".//{{{PROCESS_NS}}}Create_OUTPUT")
    assert output is not None, ET.tostring(response)
    assert output.findtext(f"{{{PROCESS_NS}}}ReturnValue") == "0", ET.tostring(response)
    pid = int(output.findtext(f"{{{PROCESS_NS}}}ProcessId"))
    try:
        written = os.path.join(shared_dir, "written")
        deadline = time.monotonic() + 30
        while not (os.path.exists(written) and open(written, encoding="utf-8").read().endswith("\n")):
            assert time.monotonic() < deadline, "the created process wrote nothing"
            time.sleep(0.02)
        assert int(open(written, encoding="utf-8").read()) == pid
        account = pwd.getpwnam(linux_user)
        assert os.stat(written).st_uid == account.pw_uid
        with open(f"/proc/{pid}/status", encoding="utf-8") as status:
            uid = next(int(line.split()[1]) for line in status if line.startswith("Uid:"))
        assert uid == account.pw_uid
        assert os.readlink(f"/proc/{pid}/cwd") == shared_dir
    finally:
        os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_get_singleton_without_selectors(daemon, transport):
    """Win32_OperatingSystem is a Singleton in Windows' MOF: WSMan.get with no selector set
    answers its one instance, as `winrm get wmicimv2/Win32_OperatingSystem` does on Windows."""
    os_ns = WMI + "Win32_OperatingSystem"
    with make_wsman(daemon, transport, SERVICE_ACCOUNT, SERVICE_PASSWORD) as wsman:
        body = wsman.get(os_ns)
    instance = body.find(f"{{{os_ns}}}Win32_OperatingSystem")
    assert instance is not None, ET.tostring(body)
    assert instance.findtext(f"{{{os_ns}}}OSType") == "36"


def test_property_list_with_a_nil_property_parses(daemon):
    """A `SELECT a,b` answer whose property is nil (BootDevice has no Linux counterpart):
    pypsrp's parser refuses a document with an undeclared `xsi` prefix, so this parses only
    when the fragment declares it."""
    xsi = "http://www.w3.org/2001/XMLSchema-instance"
    with make_wsman(daemon, "http", SERVICE_ACCOUNT, SERVICE_PASSWORD) as wsman:
        body = wsman.enumerate(WMI + "*", wql_enumerate("SELECT BootDevice, OSType FROM Win32_OperatingSystem"))
    fragment = body.find(f".//{{{WSMAN}}}XmlFragment")
    assert fragment is not None, ET.tostring(body)
    boot_device = fragment.find("BootDevice")
    assert boot_device is not None and boot_device.get(f"{{{xsi}}}nil") == "true", ET.tostring(body)
    assert fragment.findtext("OSType") == "36"


def test_get_of_a_missing_process_is_windows_fault(daemon):
    """Windows Server 2012 R2 answers a Get of a process that does not exist with WSManFault
    2150858752 (a:DestinationUnreachable); pypsrp reports that code."""
    from pypsrp.exceptions import WSManFaultError

    selectors = SelectorSet()
    selectors.add_option("Handle", "4294967295")
    with make_wsman(daemon, "http", SERVICE_ACCOUNT, SERVICE_PASSWORD) as wsman:
        with pytest.raises(WSManFaultError) as raised:
            wsman.get(WMI + "Win32_Process", selector_set=selectors)
    assert raised.value.code == 2150858752, raised.value.message


def test_microsoft_form_of_the_class_uri(daemon):
    """pypsrp addressing Win32_OperatingSystem as OMI serves classes and Windows' MI client
    names them (`http://schemas.microsoft.com/wbem/wscim/1/cim-schema/2/<Class>` with
    `__cimnamespace`): Get and an optimized Enumerate answer the instance the WMI URI answers,
    named by its DMTF class URI as OMI names it."""
    microsoft = "http://schemas.microsoft.com/wbem/wscim/1/cim-schema/2/Win32_OperatingSystem"
    dmtf = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/Win32_OperatingSystem"
    selectors = SelectorSet()
    selectors.add_option("__cimnamespace", "root/cimv2")
    body = ET.Element(f"{{{ENUMERATION}}}Enumerate")
    ET.SubElement(body, f"{{{WSMAN}}}OptimizeEnumeration")
    ET.SubElement(body, f"{{{WSMAN}}}MaxElements").text = "10"
    with make_wsman(daemon, "http", SERVICE_ACCOUNT, SERVICE_PASSWORD) as wsman:
        wmi = wsman.get(WMI + "Win32_OperatingSystem").find(f"{{{WMI}Win32_OperatingSystem}}Win32_OperatingSystem")
        got = wsman.get(microsoft, selector_set=selectors).find(f"{{{dmtf}}}Win32_OperatingSystem")
        listed = wsman.enumerate(microsoft, body, selector_set=selectors).findall(f".//{{{dmtf}}}Win32_OperatingSystem")
    assert wmi is not None and got is not None, "the instance in both forms"
    assert len(listed) == 1
    for instance in (got, listed[0]):
        assert instance.findtext(f"{{{dmtf}}}Name") == wmi.findtext(f"{{{WMI}Win32_OperatingSystem}}Name")
        assert instance.findtext(f"{{{dmtf}}}OSType") == "36"
