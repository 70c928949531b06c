"""Disconnected PowerShell pools, Receives smaller than pwsh's fragments, and a client's bad
fragments, with pypsrp from PyPI against the real wsmand and the pwsh stand-in (see
test_psrp.py).

A disconnected pool keeps its pwsh and its held output until its IdleTimeOut; the client that
disconnected Reconnects, another client of the same user Connects (`RunspacePool.
get_runspace_pools`, `connect`, `create_disconnected_power_shells`), another user is refused.
Windows' recorded Disconnect, Reconnect and Connect are answered in the recorded shapes.
"""

from __future__ import annotations

import base64
import re
import uuid
import xml.etree.ElementTree as ET

import pytest
from pypsrp.exceptions import WSManFaultError
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.shell import WinRS
from pypsrp.wsman import SelectorSet

from shell_support import (  # noqa: F401 (no_leftover_processes: autouse fixture)
    Target,
    login_for,
    no_leftover_processes,
    wait_until,
)
from test_psrp import (  # noqa: F401 (fixtures)
    RSP,
    SOAP,
    WINDOWS,
    body_shape,
    normal_mode,
    post,
    ps_daemon,
    pwsh_processes,
    standin,
    uid,
)

POWERSHELL = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"
SHELLS = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
# MS-PSRP 2.2.1 message types.
SESSION_CAPABILITY = 0x00010002
RUNSPACEPOOL_INIT_DATA = 0x0002100B
APPLICATION_PRIVATE_DATA = 0x00021009
RECORDED_SHELL = "B6631D8E-65A0-49F2-9053-A1B156C95777"


def messages(data: bytes) -> list[tuple[int, bytes]]:
    """The (message type, CLIXML) of each whole-message fragment of `data`."""
    out = []
    while data:
        length = int.from_bytes(data[17:21], "big")
        blob, data = data[21 : 21 + length], data[21 + length :]
        out.append((int.from_bytes(blob[4:8], "little"), blob[40:]))
    return out


def runspaces(clixml: bytes) -> tuple[str, str]:
    text = clixml.decode("utf-8-sig")
    return tuple(re.search(rf'<I32 N="{n}">(\d+)</I32>', text).group(1) for n in ("MinRunspaces", "MaxRunspaces"))


def shell_items(target: Target) -> list[ET.Element]:
    wsman = target.wsman()
    enum = ET.Element("{http://schemas.xmlsoap.org/ws/2004/09/enumeration}Enumerate")
    ET.SubElement(enum, "{http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd}OptimizeEnumeration")
    response = wsman.enumerate(SHELLS, enum)
    return response.findall(f".//{RSP}Shell")


def recorded(name: str, shell_id: str, target: Target) -> str:
    text = (WINDOWS / name).read_text()
    text = text.replace(RECORDED_SHELL, shell_id).replace("https://127.0.0.1:55986/wsman", target.url)
    # A fresh MessageID each time the recording is posted.
    return re.sub(r"uuid:[0-9A-F-]{36}</wsa:MessageID>", f"uuid:{str(uuid.uuid4()).upper()}</wsa:MessageID>", text)


def test_a_disconnected_pool_keeps_pwsh_and_its_client_reconnects(ps_daemon, uid):
    target = Target(ps_daemon, "http", login_for("run-as"))
    pool = RunspacePool(target.wsman())
    pool.open()
    try:
        pool.disconnect()
        assert len(pwsh_processes(uid)) == 1
        # Disconnected: the pool's Receive is refused (Windows' ShellDisconnected), pwsh stays.
        with pytest.raises(WSManFaultError) as fault:
            pool.shell.receive("stdout")
        assert "disconnected" in str(fault.value).lower()
        [item] = [s for s in shell_items(target) if s.findtext(f"{RSP}ShellId") == pool.shell.id.upper()]
        assert item.findtext(f"{RSP}State") == "Disconnected"
        assert item.findtext(f"{RSP}ResourceUri") == POWERSHELL
        pool.connect()  # the same client: a Reconnect
        ps = PowerShell(pool)
        ps.add_script("Write-Output again")
        assert ps.invoke() == ["again"]
        assert len(pwsh_processes(uid)) == 1
    finally:
        pool.close()
    assert wait_until(lambda: not pwsh_processes(uid), 15), pwsh_processes(uid)


def test_another_client_connects_to_a_disconnected_pool_and_gets_its_output(ps_daemon, uid):
    target = Target(ps_daemon, "http", login_for("run-as"))
    first = RunspacePool(target.wsman())
    first.open()
    ps = PowerShell(first)
    ps.add_script("Write-Output held-1; Write-Output held-2")
    ps.begin_invoke()
    first.disconnect()
    # Another client (its own WSMan SessionId) of the same user finds the pool and connects.
    pools = RunspacePool.get_runspace_pools(target.wsman())
    [pool] = [p for p in pools if p.id.upper() == first.shell.id.upper()]
    pool.connect()
    try:
        [pipeline] = pool.create_disconnected_power_shells()
        assert pipeline.id.upper() == ps.id.upper()
        assert pipeline.connect() == ["held-1", "held-2"]
        # The pool goes on for its new client.
        after = PowerShell(pool)
        after.add_script("Write-Output connected")
        assert after.invoke() == ["connected"]
        assert len(pwsh_processes(uid)) == 1
    finally:
        pool.close()
    assert wait_until(lambda: not pwsh_processes(uid), 15), pwsh_processes(uid)


def test_a_disconnected_pool_is_reaped_at_its_idle_timeout(ps_daemon, uid):
    """A client that disconnects (or never receives) leaves pwsh until the Disconnect's
    IdleTimeOut; then the shell and its pwsh are gone."""
    target = Target(ps_daemon, "http", login_for("run-as"))
    pool = RunspacePool(target.wsman())
    pool.open()
    ps = PowerShell(pool)
    ps.add_script("; ".join(f"Write-Output never-read-{i}" for i in range(200)))
    ps.begin_invoke()
    disconnect = recorded("psrp-disconnect.request.xml", pool.shell.id.upper(), target)
    disconnect = disconnect.replace("<rsp:Disconnect />", "<rsp:Disconnect><rsp:IdleTimeOut>PT3S</rsp:IdleTimeOut></rsp:Disconnect>")
    assert body_shape(post(target, disconnect)) == []
    assert len(pwsh_processes(uid)) == 1
    assert wait_until(lambda: not pwsh_processes(uid), 30), pwsh_processes(uid)
    assert not [s for s in shell_items(target) if s.findtext(f"{RSP}ShellId") == pool.shell.id.upper()]


def test_recorded_windows_disconnect_reconnect_and_connect_are_answered_in_windows_shapes(ps_daemon):
    """Windows' recorded PSRP Disconnect, Reconnect and Connect (pypsrp against Windows),
    posted with this shell's id, answered as the recorded responses are shaped; the Connect's
    PSRP answer holds the messages Windows' holds."""
    target = Target(ps_daemon, "http", login_for("run-as"))
    shell_id = str(uuid.uuid4()).upper()
    create = (WINDOWS / "psrp-shell-create.request.xml").read_text()
    create = create.replace("76056A84-51DC-4F24-9262-CA2A55464B2B", shell_id)
    create = create.replace("https://127.0.0.1:55986/wsman", target.url)
    assert body_shape(post(target, create))[0] == "ResourceCreated"
    shell = WinRS(target.wsman(), resource_uri=POWERSHELL, id=shell_id, input_streams="stdin pr", output_streams="stdout")
    selectors = SelectorSet()
    selectors.add_option("ShellId", shell_id)
    shell._selector_set = selectors
    shell.opened = True
    try:
        # The pool opens: pwsh's SESSION_CAPABILITY, APPLICATION_PRIVATE_DATA, RUNSPACEPOOL_STATE.
        opened = messages(shell.receive("stdout")[2]["stdout"])
        assert opened[0][0] == SESSION_CAPABILITY
        for name in ("psrp-disconnect", "psrp-reconnect", "psrp-disconnect"):
            ours = post(target, recorded(f"{name}.request.xml", shell_id, target))
            windows = ET.fromstring((WINDOWS / f"{name}.response.xml").read_bytes())
            assert body_shape(ours) == body_shape(windows) == [], ET.tostring(ours)
        # Enumerate shows it as Windows lists a disconnected PowerShell shell.
        recorded_items = ET.fromstring((WINDOWS.parent / "enumerate" / "enumerate-shells.response.xml").read_bytes())
        windows_shell = recorded_items.find(f".//{RSP}Shell")
        [item] = [s for s in shell_items(target) if s.findtext(f"{RSP}ShellId") == shell_id]
        for field in ("ResourceUri", "State", "InputStreams", "OutputStreams", "BufferMode"):
            assert item.findtext(f"{RSP}{field}") == windows_shell.findtext(f"{RSP}{field}"), field
        names = [e.tag for e in item]
        assert names == [e.tag for e in windows_shell if e.tag in names], names
        # Another user (its own authenticated name, though the same Linux account) is refused.
        other = Target(ps_daemon, "http", login_for("pam-user"))
        for name in ("psrp-connect", "psrp-reconnect"):
            refused = post(other, recorded(f"{name}.request.xml", shell_id, other))
            assert refused.find(f"{SOAP}Body/{SOAP}Fault") is not None, ET.tostring(refused)
            assert b"AccessDenied" in ET.tostring(refused), ET.tostring(refused)
        # The recorded Connect (another client's SessionId).
        ours = post(target, recorded("psrp-connect.request.xml", shell_id, target))
        windows = ET.fromstring((WINDOWS / "psrp-connect.response.xml").read_bytes())
        assert body_shape(ours) == body_shape(windows), ET.tostring(ours)
        answer = ours.find(f"{SOAP}Body/{RSP}ConnectResponse")
        xml = answer.find("{http://schemas.microsoft.com/powershell}connectResponseXml")
        windows_xml = windows.find(f"{SOAP}Body/{RSP}ConnectResponse/{{http://schemas.microsoft.com/powershell}}connectResponseXml")
        ours_messages = messages(base64.b64decode(xml.text))
        windows_messages = messages(base64.b64decode(windows_xml.text))
        assert [m[0] for m in ours_messages] == [m[0] for m in windows_messages] == [SESSION_CAPABILITY, RUNSPACEPOOL_INIT_DATA]
        # The pool the recorded Create asked for: MinRunspaces 1, MaxRunspaces 1, as Windows says.
        assert runspaces(ours_messages[1][1]) == runspaces(windows_messages[1][1])
        # Then the pool's next output is its APPLICATION_PRIVATE_DATA, as Windows sends it.
        after = messages(shell.receive("stdout")[2]["stdout"])
        assert after[0][0] == APPLICATION_PRIVATE_DATA
        # Connected now: another Connect is refused.
        again = post(target, recorded("psrp-connect.request.xml", shell_id, target))
        assert again.find(f"{SOAP}Body/{SOAP}Fault") is not None
    finally:
        shell.close()


def test_a_fragment_larger_than_the_envelope_is_split_across_receives(ps_daemon):
    """pwsh's fragments (up to 32 KiB) cut to fit a client's small MaxEnvelopeSize, as Windows
    fragments to it; pypsrp reassembles the object."""
    target = Target(ps_daemon, "http", login_for("run-as"))
    wsman = target.wsman()
    wsman.update_max_payload_size(16384)
    big = "x" * 70000
    with RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        ps.add_script(f"Write-Output {big}")
        assert ps.invoke() == [big]


def fragment(object_id: int, fragment_id: int, start: bool, end: bool, blob: bytes = b"<S />") -> bytes:
    """A PSRP fragment as MS-PSRP 2.2.4 lays it out."""
    flags = (1 if start else 0) | (2 if end else 0)
    header = object_id.to_bytes(8, "big") + fragment_id.to_bytes(8, "big") + bytes([flags])
    return header + len(blob).to_bytes(4, "big") + blob


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(fragment(900, 1, False, True), id="not-a-message-start"),
        pytest.param(fragment(900, 0, True, False) + fragment(901, 0, True, True), id="a-message-inside-another"),
        pytest.param(fragment(900, 0, True, True)[:-2], id="cut-short"),
        pytest.param(fragment(900, 0, True, True)[:19], id="cut-in-the-header"),
        pytest.param(fragment(900, 0, True, True)[:17] + (2 << 20).to_bytes(4, "big") + b"<S />", id="oversized"),
    ],
)
def test_fragments_out_of_order_or_oversized_are_refused_and_the_pool_goes_on(ps_daemon, uid, data):
    """Refused whole with a fault, never written to pwsh: the pool and its pwsh go on."""
    target = Target(ps_daemon, "http", login_for("run-as"))
    with RunspacePool(target.wsman()) as pool:
        with pytest.raises(WSManFaultError) as fault:
            pool.shell.send("stdin", data)
        assert fault.value.code == 87, fault.value
        assert "whole fragments in order" in str(fault.value)
        ps = PowerShell(pool)
        ps.add_script("Write-Output still-here")
        assert ps.invoke() == ["still-here"]
        assert len(pwsh_processes(uid)) == 1
    assert wait_until(lambda: not pwsh_processes(uid), 15), pwsh_processes(uid)
