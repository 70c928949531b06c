"""WS-Eventing on the event logs through real clients, over NTLM and Kerberos with message
encryption.

The test writes a journal of its own (export-format text turned into journal files by Debian's
`systemd-journal-remote`), starts wsmand on it, and subscribes in Pull mode with pypsrp's `WSMan`
and with pywinrm's `Protocol.send_message`, both sealing every message over HTTP. The events
pulled are checked against what `journalctl` reads back from that journal: each event's
EventRecordID is the entry's sequence number, Provider/@Name its SYSLOG_IDENTIFIER and Level
the Windows level of its PRIORITY.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from pypsrp.exceptions import WSManFaultError as PypsrpFault
from pypsrp.wsman import WSMan
from winrm.exceptions import WSManFaultError as PywinrmFault
from winrm.protocol import Protocol

from conftest import Account, DecryptSpy, running_daemon

JOURNAL_REMOTE = Path("/lib/systemd/systemd-journal-remote")
EVENT_LOG = "http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog"
SUBSCRIBE = "http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe"
UNSUBSCRIBE = "http://schemas.xmlsoap.org/ws/2004/08/eventing/Unsubscribe"
PULL = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull"
RELEASE = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Release"
PULL_MODE = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Pull"
EARLIEST = "http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest"
NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "e": "http://schemas.xmlsoap.org/ws/2004/08/eventing",
    "n": "http://schemas.xmlsoap.org/ws/2004/09/enumeration",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "ev": "http://schemas.microsoft.com/win/2004/08/events/event",
}
PASSWORD = "Events-Interop-Pass-3!"
ACCOUNT = Account("interop-events", PASSWORD, "root", ntlm=True)
QUERY = '<QueryList><Query Id="0"><Select Path="Application">*</Select></Query></QueryList>'

# What the test logs: (SYSLOG_IDENTIFIER, PRIORITY, MESSAGE), all in the Application log.
ENTRIES = [
    ("orders", 3, "order 17 could not be charged"),
    ("orders", 6, "order 18 shipped"),
    ("stockd", 4, "widgets running low"),
    ("stockd", 2, "warehouse database unreachable"),
    ("orders", 7, "cache statistics"),
]


def windows_level(priority: int) -> int:
    """The mapping docs/events.md states: 0-2 Critical, 3 Error, 4 Warning, 5-6 Information,
    7 Verbose."""
    return {0: 1, 1: 1, 2: 1, 3: 2, 4: 3, 5: 4, 6: 4, 7: 5}[priority]


@pytest.fixture(scope="module")
def journal():
    if not JOURNAL_REMOTE.exists():
        if os.environ.get("WSMAN_TEST_REQUIRE_SYSTEMD") == "1":
            pytest.fail(f"{JOURNAL_REMOTE} not found (Debian package systemd-journal-remote)")
        pytest.skip(f"{JOURNAL_REMOTE} not found (Debian package systemd-journal-remote)")
    root = Path(tempfile.mkdtemp(prefix="wsman-interop-journal-"))
    try:
        now = int(time.time() * 1_000_000)
        lines = []
        for i, (identifier, priority, message) in enumerate(ENTRIES):
            lines += [
                f"__REALTIME_TIMESTAMP={now - 60_000_000 + i * 1000}",
                f"__MONOTONIC_TIMESTAMP={1_000_000 + i * 1000}",
                "_BOOT_ID=7a1c0e5b2f3d4c6e8a9b0c1d2e3f4a5b",
                f"SYSLOG_IDENTIFIER={identifier}",
                f"PRIORITY={priority}",
                f"MESSAGE={message}",
                "_PID=4711",
                "_UID=1000",
                "",
            ]
        (root / "entries.export").write_text("\n".join(lines) + "\n")
        directory = root / "journal"
        directory.mkdir()
        subprocess.run(
            [str(JOURNAL_REMOTE), f"--output={directory / 'test.journal'}", str(root / "entries.export")],
            check=True,
            timeout=60,
            capture_output=True,
        )
        yield directory
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def expected(journal):
    """(record id, provider, level) of every entry, as journalctl reads the journal back."""
    out = subprocess.run(
        ["journalctl", f"--directory={journal}", "--output=export"],
        check=True,
        timeout=60,
        capture_output=True,
    ).stdout.decode()
    events = []
    for block in out.split("\n\n"):
        fields = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if "MESSAGE" not in fields:
            continue
        if "__SEQNUM" in fields:
            record = int(fields["__SEQNUM"])
        else:
            # Before systemd 254 the sequence number is only in the cursor, in hex.
            cursor = dict(part.split("=", 1) for part in fields["__CURSOR"].split(";"))
            record = int(cursor["i"], 16)
        events.append((record, fields["SYSLOG_IDENTIFIER"], windows_level(int(fields["PRIORITY"]))))
    assert len(events) == len(ENTRIES)
    return events


@pytest.fixture(scope="module")
def daemon(journal):
    with running_daemon(
        (ACCOUNT,),
        allow_unencrypted=False,
        env_extra={"WSMAND_JOURNAL_DIRECTORY": str(journal)},
    ) as started:
        yield started


def events_of(pull_response: ET.Element) -> list[tuple[int, str, int]]:
    out = []
    for event in pull_response.iterfind(".//n:Items/ev:Event", NS):
        system = event.find("ev:System", NS)
        out.append(
            (
                int(system.findtext("ev:EventRecordID", namespaces=NS)),
                system.find("ev:Provider", NS).get("Name"),
                int(system.findtext("ev:Level", namespaces=NS)),
            )
        )
    return out


def subscribe_element() -> ET.Element:
    subscribe = ET.Element(f"{{{NS['e']}}}Subscribe")
    ET.SubElement(subscribe, f"{{{NS['e']}}}Delivery", Mode=PULL_MODE)
    ET.SubElement(subscribe, f"{{{NS['e']}}}Expires").text = "PT10M"
    event_filter = ET.SubElement(
        subscribe,
        f"{{{NS['w']}}}Filter",
        Dialect="http://schemas.microsoft.com/win/2004/08/events/eventquery",
    )
    event_filter.append(ET.fromstring(QUERY))
    ET.SubElement(subscribe, f"{{{NS['w']}}}Bookmark").text = EARLIEST
    ET.SubElement(subscribe, f"{{{NS['w']}}}SendBookmarks")
    return subscribe


def pull_element(context: str, max_elements: int) -> ET.Element:
    pull = ET.Element(f"{{{NS['n']}}}Pull")
    ET.SubElement(pull, f"{{{NS['n']}}}EnumerationContext").text = context
    ET.SubElement(pull, f"{{{NS['n']}}}MaxTime").text = "PT1S"
    ET.SubElement(pull, f"{{{NS['n']}}}MaxElements").text = str(max_elements)
    return pull


def test_pypsrp_wsman_subscribes_pulls_and_releases_over_sealed_ntlm(daemon, expected, monkeypatch):
    import pypsrp.encryption

    spy = DecryptSpy(monkeypatch, pypsrp.encryption.WinRMEncryption, "unwrap_message")
    wsman = WSMan(
        "127.0.0.1",
        port=daemon.http_port,
        ssl=False,
        auth="ntlm",
        encryption="always",
        username=ACCOUNT.name,
        password=PASSWORD,
        operation_timeout=20,
    )
    with wsman:
        response = wsman.invoke(SUBSCRIBE, EVENT_LOG, subscribe_element())
        context = response.findtext(".//e:SubscribeResponse/n:EnumerationContext", namespaces=NS)
        assert context
        got = []
        while len(got) < len(expected):
            body = wsman.invoke(PULL, EVENT_LOG, pull_element(context, 2))
            batch = events_of(body)
            assert 1 <= len(batch) <= 2
            got += batch
            bookmark = body.find(".//s:Header/w:Bookmark/BookmarkList/Bookmark", NS)
            assert bookmark is not None and int(bookmark.get("RecordId")) == batch[-1][0]
        assert got == expected
        # Nothing more: the enumeration's TimedOut fault.
        with pytest.raises(PypsrpFault) as timed_out:
            wsman.invoke(PULL, EVENT_LOG, pull_element(context, 2))
        assert "TimedOut" in str(timed_out.value.code) or timed_out.value.code == 2150858780
        release = ET.Element(f"{{{NS['n']}}}Release")
        ET.SubElement(release, f"{{{NS['n']}}}EnumerationContext").text = context
        wsman.invoke(RELEASE, EVENT_LOG, release)
        with pytest.raises(PypsrpFault):
            wsman.invoke(PULL, EVENT_LOG, pull_element(context, 2))
    assert spy.calls >= len(expected) // 2 + 3, "the answers were not sealed"


def envelope(action: str, body: str, extra_header: str = "") -> str:
    return (
        f'<s:Envelope xmlns:s="{NS["s"]}" xmlns:a="{NS["a"]}" xmlns:e="{NS["e"]}" '
        f'xmlns:n="{NS["n"]}" xmlns:w="{NS["w"]}"><s:Header>'
        "<a:To>http://127.0.0.1/wsman</a:To>"
        f'<w:ResourceURI s:mustUnderstand="true">{EVENT_LOG}</w:ResourceURI>'
        "<a:ReplyTo><a:Address s:mustUnderstand=\"true\">"
        "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>"
        f'<a:Action s:mustUnderstand="true">{action}</a:Action>'
        '<w:MaxEnvelopeSize s:mustUnderstand="true">153600</w:MaxEnvelopeSize>'
        f"<a:MessageID>uuid:{str(uuid.uuid4()).upper()}</a:MessageID>"
        "<w:OperationTimeout>PT20S</w:OperationTimeout>"
        f"{extra_header}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    )


def test_pywinrm_send_message_subscribes_pulls_and_unsubscribes_over_sealed_ntlm(
    daemon, expected, monkeypatch
):
    import winrm.encryption

    spy = DecryptSpy(monkeypatch, winrm.encryption.Encryption, "_decrypt_ntlm_message")
    protocol = Protocol(
        daemon.url("http"),
        transport="ntlm",
        username=ACCOUNT.name,
        password=PASSWORD,
        message_encryption="always",
    )
    subscribe = ET.tostring(subscribe_element(), encoding="unicode")
    response = ET.fromstring(protocol.send_message(envelope(SUBSCRIBE, subscribe)))
    identifier = response.findtext(".//e:SubscriptionManager/a:ReferenceParameters/e:Identifier", namespaces=NS)
    context = response.findtext(".//e:SubscribeResponse/n:EnumerationContext", namespaces=NS)
    assert identifier and context
    pull = ET.tostring(pull_element(context, len(expected)), encoding="unicode")
    answer = ET.fromstring(protocol.send_message(envelope(PULL, pull)))
    assert events_of(answer) == expected
    ended = ET.fromstring(
        protocol.send_message(
            envelope(UNSUBSCRIBE, "<e:Unsubscribe/>", f"<e:Identifier>{identifier}</e:Identifier>")
        )
    )
    assert ended.findtext(".//a:Action", namespaces=NS).endswith("/UnsubscribeResponse")
    # Ended: a second Unsubscribe names no subscription.
    with pytest.raises(PywinrmFault) as gone:
        protocol.send_message(
            envelope(UNSUBSCRIBE, "<e:Unsubscribe/>", f"<e:Identifier>{identifier}</e:Identifier>")
        )
    assert gone.value.code == 2150858789 or "InvalidMessage" in str(gone.value)
    assert spy.calls >= 3, "the answers were not sealed"


# ---- Kerberos (the throwaway realm of test_kerberos.py), as a user who is not an administrator ----

from test_kerberos import realm  # noqa: E402,F401  (the module-scoped realm fixture)


@pytest.fixture(scope="module")
def kerberos_daemon(realm, journal):  # noqa: F811
    def prepare(config_dir: Path) -> None:
        target = config_dir / "krb5.keytab"
        shutil.copyfile(realm["WSMAN_KRB5_KEYTAB"], target)
        os.chmod(target, 0o600)
        # Users may read the event logs (Application and System; Security stays for administrators).
        with open(config_dir / "config.toml", "a") as config:
            config.write('[Security]\nEventLogSDDL = "O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;BU)"\n')

    with running_daemon(
        (),
        allow_unencrypted=False,
        prepare=prepare,
        env_extra={"WSMAND_JOURNAL_DIRECTORY": str(journal)},
    ) as started:
        yield started


def test_pypsrp_over_sealed_kerberos_as_a_user(kerberos_daemon, realm, expected, monkeypatch):  # noqa: F811
    import pypsrp.encryption

    spy = DecryptSpy(monkeypatch, pypsrp.encryption.WinRMEncryption, "unwrap_message")
    wsman = WSMan(
        "localhost",
        port=kerberos_daemon.http_port,
        ssl=False,
        auth="kerberos",
        encryption="always",
        # pypsrp's own default SPN would be host/localhost; Windows and wsmand use WSMAN/.
        negotiate_service="WSMAN",
        operation_timeout=20,
    )
    with wsman:
        response = wsman.invoke(SUBSCRIBE, EVENT_LOG, subscribe_element())
        context = response.findtext(".//e:SubscribeResponse/n:EnumerationContext", namespaces=NS)
        body = wsman.invoke(PULL, EVENT_LOG, pull_element(context, len(expected)))
        assert events_of(body) == expected
        # The Security log is for administrators.
        security = subscribe_element()
        security.find(".//Select").set("Path", "Security")
        with pytest.raises(PypsrpFault) as denied:
            wsman.invoke(SUBSCRIBE, EVENT_LOG, security)
        assert denied.value.code == 5 or "AccessDenied" in str(denied.value)
        release = ET.Element(f"{{{NS['n']}}}Release")
        ET.SubElement(release, f"{{{NS['n']}}}EnumerationContext").text = context
        wsman.invoke(RELEASE, EVENT_LOG, release)
    assert spy.calls >= 3, "the answers were not sealed"
