"""Debian's `wsl` ("Wsman Shell commandLine", shell scripts over curl and xmllint, unchanged)
against the real wsmand: enumerate with a CQL filter, get by selector, invoke an instance
method (wsl finds the instance by an EnumerateEPR first), and the association filters against
a real BMC simulator (OpenIPMI's ipmi_sim) whose SEL records are associated with its log.

What we found about wsl 0.2.1:
- `-associators` sends DSP0227's AssociationInstances and `-references` AssociatedInstances:
  the two options are swapped. The dialect's element names are what count; the tests name the
  element they expect next to the option that sends it.
- Its enumerate and invoke filters default to CQL (`dsp0202.pdf`), which wsmand reads with the
  WQL parser.
- It invokes only instance methods (it needs the selectors of an EPR), so a static method such
  as Win32_Process.Create cannot be called through it. It pastes the selectors of the EPR it
  enumerated into its Invoke verbatim, where only its own `wsman:` prefix is declared, so
  `wsl invoke -filter` fails against a server whose prefix is `w:` (ours, and Windows'); its
  `-inst FILE` works with the EPR written with `wsman:`.
- It needs `uuidgen` (Debian's uuid-runtime) for its MessageIDs.
- It reads the endpoint and credentials from the environment (WSENDPOINT, WSUSER, WSPASS;
  WSNOSSL=1 for HTTP) and writes each answer to response.xml in its working directory.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import SERVICE_ACCOUNT, SERVICE_PASSWORD, Account, running_daemon

WSL = shutil.which("wsl")
WMI = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/"
PROCESS_NS = WMI + "Win32_Process"
HARDWARE = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"

pytestmark = pytest.mark.skipif(WSL is None, reason="wsl not installed (Debian package wsl, scripts/lib.sh)")


def run_wsl(daemon, *args: str) -> ET.Element:
    """`wsl ARGS` against the daemon's HTTP listener; the parsed response.xml."""
    with tempfile.TemporaryDirectory(prefix="wsman-wsl-") as work:
        env = dict(
            os.environ,
            WSENDPOINT=f"127.0.0.1:{daemon.http_port}",
            WSUSER=SERVICE_ACCOUNT,
            WSPASS=SERVICE_PASSWORD,
            WSNOSSL="1",
            KEEPHISTORY="0",
            WSAUTOMATED="1",
            OUTPREFIX=work,
            OUTLEVEL="0",
        )
        finished = subprocess.run(
            [WSL, *args], cwd=work, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
        )
        response = Path(work) / "response.xml"
        assert response.exists(), f"wsl {args} wrote no response\n{finished.stdout}\n{finished.stderr}"
        text = response.read_text()
        assert finished.returncode == 0, f"wsl {args} failed ({finished.returncode})\n{text}\n{finished.stderr}"
        return ET.fromstring(text)


def field(instance: ET.Element, name: str) -> str | None:
    return instance.findtext(f"{{{PROCESS_NS}}}{name}")


def test_wsl_enumerates_with_a_cql_filter(daemon, sleeper):
    body = run_wsl(
        daemon, "enum", WMI + "Win32_Process", "-filter", f"select * from Win32_Process where ProcessId={sleeper.pid}"
    )
    found = body.findall(f".//{{{PROCESS_NS}}}Win32_Process")
    assert [field(p, "Handle") for p in found] == [str(sleeper.pid)], ET.tostring(body)
    assert field(found[0], "ParentProcessId") == str(os.getpid())
    assert field(found[0], "CommandLine") == "sleep 300"


def test_wsl_gets_by_selector(daemon, sleeper):
    body = run_wsl(daemon, "get", WMI + "Win32_Process", f"Handle={sleeper.pid}")
    process = body.find(f".//{{{PROCESS_NS}}}Win32_Process")
    assert process is not None, ET.tostring(body)
    assert field(process, "ProcessId") == str(sleeper.pid)
    with open(f"/proc/{sleeper.pid}/status", encoding="utf-8") as status:
        rss_kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    assert field(process, "WorkingSetSize") == str(rss_kb * 1024)


def epr_file(daemon, pid: int, directory: str) -> str:
    """The EPR of process `pid` as wsmand answers it (`wsl enum -mode epr`), saved for
    `wsl invoke -inst`. wsl pastes the selector lines of an EPR into its own request verbatim,
    where only its own `wsman:` prefix is declared: the server's `w:` (Windows' prefix too)
    is renamed here, the only change."""
    body = run_wsl(
        daemon, "enum", WMI + "Win32_Process", "-mode", "epr", "-filter", f"select * from Win32_Process where Handle='{pid}'"
    )
    wsman = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
    selectors = body.findall(f".//{{{wsman}}}Selector")
    assert [s.text for s in selectors] == [str(pid)], ET.tostring(body)
    uri = body.findtext(f".//{{{wsman}}}ResourceURI")
    path = os.path.join(directory, "process.epr.xml")
    with open(path, "w", encoding="utf-8") as out:
        out.write("<wsa:ReferenceParameters>\n")
        out.write(f"<wsman:ResourceURI>{uri}</wsman:ResourceURI>\n")
        out.write("<wsman:SelectorSet>")
        for s in selectors:
            out.write(f'<wsman:Selector Name="{s.get("Name")}">{s.text}</wsman:Selector>')
        out.write("</wsman:SelectorSet>\n</wsa:ReferenceParameters>\n")
    return path


def test_wsl_invokes_instance_methods_on_an_epr_it_enumerated(daemon, sleeper, tmp_path):
    import pwd

    epr = epr_file(daemon, sleeper.pid, str(tmp_path))
    body = run_wsl(daemon, "invoke", WMI + "Win32_Process", "GetOwner", "-inst", epr)
    output = body.find(f".//{{{PROCESS_NS}}}GetOwner_OUTPUT")
    assert output is not None, ET.tostring(body)
    assert output.findtext(f"{{{PROCESS_NS}}}ReturnValue") == "0"
    assert output.findtext(f"{{{PROCESS_NS}}}User") == pwd.getpwuid(os.getuid()).pw_name
    # Terminate ends that process, as the kernel reports.
    body = run_wsl(daemon, "invoke", WMI + "Win32_Process", "Terminate", "Reason=0", "-inst", epr)
    output = body.find(f".//{{{PROCESS_NS}}}Terminate_OUTPUT")
    assert output is not None and output.findtext(f"{{{PROCESS_NS}}}ReturnValue") == "0", ET.tostring(body)
    assert sleeper.wait(timeout=30) == -9


# --- association filters against a real BMC simulator ---------------------------------------

BMC_USER = "wsmanbmc"
BMC_PASSWORD = "bmc-Pass-1"
SDRS = """
sdr type 18
\tdevice_slave_address\t0x20
\tdevice_channel_number\t0
\tchassis\t\t\ttrue
\tipmb_event_gen\t\tfalse
\tipmb_event_recv\t\tfalse
\tfru_inventory\t\tfalse
\tsel\t\t\ttrue
\tsdr\t\t\ttrue
\tsensor\t\t\ttrue
\tentity_id\t\tsystem_board
\tentity_instance\t\t1
\tid_string\t\t"wsman bmc"
endsdr
"""
EMU = """mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
sel_enable 0x20 128 0x0a
mc_enable 0x20
"""
# Two SEL entries (ipmitool sel add's format): a temperature and a fan event.
SEL_EVENTS = "0x04 0x01 0x01 0x01 0x59 0x53 0x50\n0x04 0x04 0x02 0x01 0x52 0x0a 0x14\n"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ipmitool(port: int, *args: str) -> str:
    return subprocess.run(
        ["ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p", str(port), "-U", BMC_USER, "-P", BMC_PASSWORD,
         # -C 3: without it ipmitool first asks for cipher suites, which ipmi_sim never answers (~9 s).
         "-N", "2", "-R", "3", "-C", "3", *args],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout


@pytest.fixture(scope="module")
def bmc():
    """OpenIPMI's ipmi_sim on a free 127.0.0.1 UDP port with a SEL holding two records."""
    missing = [t for t in ("ipmi_sim", "sdrcomp", "ipmitool") if shutil.which(t) is None]
    if missing:
        if os.environ.get("WSMAN_TEST_REQUIRE_IPMI") == "1":
            pytest.fail(f"WSMAN_TEST_REQUIRE_IPMI=1 but {missing} not found (Debian openipmi, ipmitool)")
        pytest.skip(f"{missing} not found (Debian openipmi, ipmitool)")
    work = Path(tempfile.mkdtemp(prefix="wsman-wsl-ipmi-"))
    state = work / "state" / "ipmi_sim" / "wsmansim"
    state.mkdir(parents=True)
    (work / "sim.sdrs").write_text(SDRS)
    (work / "sim.emu").write_text(EMU)
    subprocess.run(["sdrcomp", "-o", str(state / "sdr.20.main"), str(work / "sim.sdrs")], check=True, timeout=30)
    port = free_udp_port()
    (work / "lan.conf").write_text(
        'name "wsmansim"\nset_working_mc 0x20\n  startlan 1\n'
        f"    addr 127.0.0.1 {port}\n    priv_limit admin\n"
        "    allowed_auths_callback none md5 straight\n    allowed_auths_user none md5 straight\n"
        "    allowed_auths_operator none md5 straight\n    allowed_auths_admin none md5 straight\n"
        "    guid a123456789abcdefa123456789abcdef\n  endlan\n"
        f'  user 2 true "{BMC_USER}" "{BMC_PASSWORD}" admin 10 none md5 straight\n'
    )
    with open(work / "sim.log", "wb") as log:
        sim = subprocess.Popen(
            ["ipmi_sim", "-c", str(work / "lan.conf"), "-f", str(work / "sim.emu"), "-s", str(work / "state"), "-n"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                ipmitool(port, "mc", "info")
                break
            except subprocess.CalledProcessError:
                assert sim.poll() is None, (work / "sim.log").read_text()
                assert time.monotonic() < deadline, "ipmi_sim did not answer"
                time.sleep(0.1)
        (work / "events.txt").write_text(SEL_EVENTS)
        ipmitool(port, "sel", "add", str(work / "events.txt"))
        yield port
    finally:
        sim.kill()
        sim.wait()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def bmc_daemon(bmc):
    def prepare(config_dir: Path) -> None:
        path = config_dir / "bmc.toml"
        path.write_text(f'address = "127.0.0.1:{bmc}"\nuser = "{BMC_USER}"\npassword = "{BMC_PASSWORD}"\n')
        path.chmod(0o600)

    with running_daemon((Account(SERVICE_ACCOUNT, SERVICE_PASSWORD, "root"),), prepare=prepare) as started:
        yield started


def sel_record_ids(port: int) -> list[str]:
    """The SEL's record ids as ipmitool lists them (`sel elist -v`'s "SEL Record ID")."""
    ids = []
    for line in ipmitool(port, "sel", "list", "-v").splitlines():
        if line.strip().startswith("SEL Record ID"):
            ids.append(str(int(line.split(":", 1)[1].strip(), 16)))
    return ids


def test_wsl_association_filters_are_swapped_and_both_work(bmc_daemon, bmc):
    log_ns = HARDWARE + "CIM_LogRecord"
    assoc_ns = HARDWARE + "CIM_LogManagesRecord"
    expected = sorted(sel_record_ids(bmc))
    assert len(expected) == 2, expected
    # `-references` sends AssociatedInstances: the records the log is associated with.
    body = run_wsl(bmc_daemon, "enum", HARDWARE + "CIM_RecordLog", "-references", "InstanceID=IPMI:SEL")
    records = body.findall(f".//{{{log_ns}}}CIM_LogRecord")
    assert sorted(r.findtext(f"{{{log_ns}}}RecordID") for r in records) == expected, ET.tostring(body)
    # `-associators` sends AssociationInstances: the CIM_LogManagesRecord instances.
    body = run_wsl(bmc_daemon, "enum", HARDWARE + "CIM_RecordLog", "-associators", "InstanceID=IPMI:SEL")
    associations = body.findall(f".//{{{assoc_ns}}}CIM_LogManagesRecord")
    assert len(associations) == len(expected), ET.tostring(body)
    dependents = [
        a.findtext(f".//{{http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd}}Selector[@Name='RecordID']")
        for a in associations
    ]
    assert sorted(dependents) == expected
