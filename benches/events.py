"""Driver of benches/events.sh: writes the journal export text, and pulls every event of a
Pull subscription through wsmand (Basic over HTTP, standard library only). The pulls go over
one kept-alive connection, as real clients send them (pywinrm's and pypsrp's transports keep a
`requests.Session`): a connection per request would time the server's password check (argon2id
for a local account, done once per connection) once per pull."""

from __future__ import annotations

import os
import re
import sys
import time
import http.client
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
import xml.parsers.expat
from pathlib import Path

EVENT_LOG = "http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog"
NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "e": "http://schemas.xmlsoap.org/ws/2004/08/eventing",
    "n": "http://schemas.xmlsoap.org/ws/2004/09/enumeration",
    "ev": "http://schemas.microsoft.com/win/2004/08/events/event",
}


def entry(i: int, realtime: int, monotonic: int, boot_id: str, filler: str) -> str:
    return (
        f"__REALTIME_TIMESTAMP={realtime}\n__MONOTONIC_TIMESTAMP={monotonic}\n"
        f"_BOOT_ID={boot_id}\nSYSLOG_IDENTIFIER=bench\n"
        f"PRIORITY={3 + i % 4}\n_PID=1234\n_UID=1000\nMESSAGE=event {i} {filler}\n\n"
    )


def export(count: int, size: int, boot_id: str = "3c5d7e9f1a2b4c6d8e0f1a2b3c4d5e6f") -> None:
    """`count` journal entries with a message of `size` bytes, in export format. journalctl
    follows (`--follow`) only a journal with entries of the running boot: pass its id for a
    journal a forwarder will wait on."""
    now = int(time.time() * 1_000_000) - count * 1000
    filler = "x" * size
    out = sys.stdout
    for i in range(count):
        out.write(entry(i, now + i * 1000, 1_000_000 + i * 1000, boot_id, filler))


def paced(rate: int, seconds: float, size: int, boot_id: str, go: str) -> None:
    """One entry at once, then, when the file `go` exists, entries like `export`'s, `rate` a
    second for `seconds`, written in ticks of 10 ms and flushed (for systemd-journal-remote
    reading standard input): a journal growing at a steady pace."""
    filler = "x" * size
    out = sys.stdout
    out.write(entry(0, time.time_ns() // 1000, time.monotonic_ns() // 1000, boot_id, "seed"))
    out.flush()
    while not os.path.exists(go):
        time.sleep(0.01)
    start = time.monotonic()
    written = 0
    total = int(rate * seconds)
    while written < total:
        due = min(total, int((time.monotonic() - start) * rate) + 1)
        while written < due:
            now = time.time_ns() // 1000
            out.write(entry(written + 1, now, time.monotonic_ns() // 1000, boot_id, filler))
            written += 1
        out.flush()
        time.sleep(0.01)


def envelope(url: str, action: str, body: str) -> bytes:
    return (
        f'<s:Envelope xmlns:s="{NS["s"]}" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        f'xmlns:e="{NS["e"]}" xmlns:n="{NS["n"]}" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">'
        f"<s:Header><a:To>{url}</a:To><w:ResourceURI>{EVENT_LOG}</w:ResourceURI>"
        "<a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>"
        f"<a:Action>{action}</a:Action><w:MaxEnvelopeSize>4096000</w:MaxEnvelopeSize>"
        f"<a:MessageID>uuid:{uuid.uuid4()}</a:MessageID><w:OperationTimeout>PT60S</w:OperationTimeout>"
        f"</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


# A Subscribe a Windows client sent (Microsoft's 2006 interoperability workshop, scenario
# "10 Eventing": a pull subscription with heartbeats, bookmarks and a QueryList filter), as the
# repository's copy of the recording has it.
RECORDING = (
    Path(__file__).resolve().parent.parent
    / "crates/wsman-proto/tests/fixtures/windows/interop/Scenarios.InteropWorkshop.Dec2006.MSFT.xml"
)
EARLIEST = "http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest"


def recorded_subscribe(to: str, query_list: str) -> bytes:
    """The recorded Subscribe, its whitespace between elements dropped, with what a bench
    changes: the address, a new MessageID, `query_list` as the filter (the recording carries
    its QueryList as escaped text, which a QueryList reader refuses), delivery from the earliest
    event, and Raw events (the recording asks for RenderedText; the benches measure Raw)."""
    text = RECORDING.read_text()
    recorded = text[text.index("<SubscribeRequest>") + 18 : text.index("</SubscribeRequest>")]
    recorded = re.sub(r">\s+<", "><", recorded.strip())
    for pattern, value in (
        (r"<a:To>[^<]*</a:To>", f"<a:To>{to}</a:To>"),
        (r"<a:MessageID>[^<]*</a:MessageID>", f"<a:MessageID>uuid:{uuid.uuid4()}</a:MessageID>"),
        (r"<w:Filter>.*?</w:Filter>", f"<w:Filter>{query_list}</w:Filter>"),
        (r"<w:Bookmark>.*?</w:Bookmark>", f"<w:Bookmark>{EARLIEST}</w:Bookmark>"),
        (r'(?<=<w:Option Name="ContentFormat">)[^<]*', "Raw"),
    ):
        recorded, count = re.subn(pattern, lambda _match, v=value: v, recorded, count=1, flags=re.S)
        assert count == 1, f"the recording has no {pattern}"
    return recorded.encode()


class Session:
    """One HTTP connection for every request, as pywinrm's `requests.Session` keeps one."""

    def __init__(self, url: str, auth: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        self.path = parts.path
        self.auth = auth

    def post_raw(self, data: bytes) -> tuple[int, bytes]:
        headers = {"Authorization": self.auth, "Content-Type": "application/soap+xml;charset=UTF-8"}
        self.connection.request("POST", self.path, body=data, headers=headers)
        response = self.connection.getresponse()
        return response.status, response.read()

    def post(self, data: bytes) -> tuple[int, ET.Element]:
        status, body = self.post_raw(data)
        return status, ET.fromstring(body)


# What the pull loop reads of a PullResponse without building its tree (ElementTree took more
# CPU per event than wsmand spends making it): the context for the next pull, the events, and
# the number `export` wrote in each event's message.
CONTEXT = re.compile(rb"<(?:\w+:)?EnumerationContext>([^<]*)</(?:\w+:)?EnumerationContext>")
EVENT_START = re.compile(rb"<Event[ >]")
MESSAGE_NUMBER = re.compile(rb"<Data Name='MESSAGE'>event (\d+) ")


def pulled_events(body: bytes) -> list[int]:
    """The message numbers of a PullResponse's events, after checking the envelope is
    well-formed XML (expat, no tree) and that every event has exactly one."""
    xml.parsers.expat.ParserCreate().Parse(body, True)
    numbers = [int(n) for n in MESSAGE_NUMBER.findall(body)]
    events = len(EVENT_START.findall(body))
    if events != len(numbers):
        sys.exit(f"{events} events but {len(numbers)} bench messages in one PullResponse")
    return numbers


def pull(url: str, auth: str, batch: int, expected: int) -> None:
    """Subscribe from the earliest event, pull until a pull comes back empty; check that events
    0 to `expected` - 1 of `export` each arrived exactly once; print the count, the seconds the
    pulls took and this client's own CPU seconds over them (wsmand's are measured apart)."""
    query = '<QueryList><Query Id="0"><Select Path="Application">*</Select></Query></QueryList>'
    session = Session(url, auth)
    status, answer = session.post(recorded_subscribe(url, query))
    context = answer.findtext(".//n:EnumerationContext", namespaces=NS)
    if status != 200 or not context:
        sys.exit(f"Subscribe failed: HTTP {status}")
    seen = bytearray(expected)
    events = 0
    start = time.monotonic()
    cpu_start = time.process_time()
    while True:
        body = (
            f"<n:Pull><n:EnumerationContext>{context}</n:EnumerationContext>"
            f"<n:MaxTime>PT1S</n:MaxTime><n:MaxElements>{batch}</n:MaxElements></n:Pull>"
        )
        status, answer = session.post_raw(envelope(url, "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull", body))
        if status != 200:
            break
        for number in pulled_events(answer):
            if number >= expected or seen[number]:
                sys.exit(f"event {number} pulled twice or not written")
            seen[number] = 1
            events += 1
        found = CONTEXT.search(answer)
        if found:
            context = found[1].decode()
    # The last pull waited its MaxTime for nothing: not part of the delivery.
    elapsed = time.monotonic() - start - 1.0
    cpu = time.process_time() - cpu_start
    missing = expected - events
    print(f"events={events} missing={missing} seconds={elapsed:.3f} client_cpu={cpu:.3f}")


if __name__ == "__main__":
    if sys.argv[1] == "export":
        export(int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:5])
    elif sys.argv[1] == "paced":
        paced(int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6])
    else:
        pull(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
