"""Load generator of benches/collector.sh: N forwarders posting Events batches to a collector.

    collector.py URL CA_FILE PASSWORD ACCOUNT_PREFIX SENDERS BATCHES EVENTS_PER_BATCH \
        EVENT_BYTES DELIVERY_PATH VERSION

Sender i authenticates (Basic over HTTPS, one kept-alive connection) as ACCOUNT_PREFIX<i>, the
Computer of its events, and posts BATCHES batches of EVENTS_PER_BATCH events of about
EVENT_BYTES each (UTF-8, CDATA, record ids counting up, the bookmark after the last), as the
push side of wsmand writes them, each waiting for its answer before the next (as a forwarder
does). Before the timed batches each sender sends one heartbeat on its connection, untimed: it
carries the connection's Basic password check (argon2id), whose cost is the authentication's and
is paid once per kept-alive connection (its largest time is printed as first_request_ms_max).
Prints one JSON line: events acknowledged, wall seconds, events/s and the time to Ack per batch
(p50, p99, max, in ms). A batch answered other than 200 Ack stops the run.

    collector.py tls HOST PORT SERVER_CA CERT_DIR SENDERS BATCHES EVENTS_PER_BATCH \
        EVENT_BYTES FIRST_RECORD

The same load as Windows forwarders with client certificates send it, to any collector
(wsmand's or OpenWEC): each sender enumerates the subscription manager, then posts UTF-16LE
batches to the address it was given, echoing the reference headers it was given
(see tls_main).
"""

import base64
import http.client
import json
import ssl
import sys
import threading
import time
import uuid

# The certificate profile and the forwarder's Enumerate, as the idle forwarders send them.
from collector_idle import ENUMERATE, MUTUAL

NS = (
    'xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing" '
    'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
    'xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"'
)


def event(record, computer, size):
    head = (
        "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
        "<Provider Name='bench'/><EventID>4624</EventID><Level>4</Level>"
        "<TimeCreated SystemTime='2026-11-24T00:00:00.0000000Z'/>"
        f"<EventRecordID>{record}</EventRecordID><Channel>Security</Channel>"
        f"<Computer>{computer}</Computer></System><EventData><Data Name='n'>"
    )
    tail = "</Data></EventData></Event>"
    return head + "x" * max(0, size - len(head) - len(tail)) + tail


def envelope_text(address, references, computer, first, count, size):
    """An Events batch as a Windows forwarder sends it, `references` being the headers it
    echoes from the subscription's NotifyTo."""
    events = "".join(
        f'<w:Event Action="http://schemas.dmtf.org/wbem/wsman/1/wsman/Event"><![CDATA[{event(r, computer, size)}]]></w:Event>'
        for r in range(first, first + count)
    )
    message = f"uuid:{uuid.uuid4()}".upper()
    return (
        f"<s:Envelope {NS}><s:Header><a:To>{address}</a:To>"
        f'<m:MachineID xmlns:m="http://schemas.microsoft.com/wbem/wsman/1/machineid" s:mustUnderstand="false">{computer}</m:MachineID>'
        '<a:ReplyTo><a:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>'
        '<a:Action s:mustUnderstand="true">http://schemas.dmtf.org/wbem/wsman/1/wsman/Events</a:Action>'
        '<w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize>'
        f"<a:MessageID>{message}</a:MessageID>"
        f'<p:OperationID s:mustUnderstand="false">{message}</p:OperationID>'
        '<p:SequenceId s:mustUnderstand="false">1</p:SequenceId>'
        "<w:OperationTimeout>PT60.000S</w:OperationTimeout>"
        f"{references}"
        f'<w:Bookmark><BookmarkList><Bookmark Channel="Security" RecordId="{first + count - 1}" IsCurrent="true"/></BookmarkList></w:Bookmark>'
        "<w:AckRequested/></s:Header>"
        f"<s:Body><w:Events>{events}</w:Events></s:Body></s:Envelope>"
    )


def envelope(address, version, computer, first, count, size):
    """An Events batch to wsmand's subscription `version`, in UTF-8."""
    references = f"<e:Identifier>{version}</e:Identifier>"
    return envelope_text(address, references, computer, first, count, size).encode()


def heartbeat(address, version):
    message = f"uuid:{uuid.uuid4()}".upper()
    return (
        f"<s:Envelope {NS}><s:Header><a:To>{address}</a:To>"
        '<a:ReplyTo><a:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>'
        '<a:Action s:mustUnderstand="true">http://schemas.dmtf.org/wbem/wsman/1/wsman/Heartbeat</a:Action>'
        '<w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize>'
        f"<a:MessageID>{message}</a:MessageID>"
        "<w:OperationTimeout>PT60.000S</w:OperationTimeout>"
        f"<e:Identifier>{version}</e:Identifier><w:AckRequested/></s:Header>"
        "<s:Body><w:Events></w:Events></s:Body></s:Envelope>"
    ).encode()


def main():
    (url, ca_file, password, prefix, senders, batches, per_batch, size, path, version) = sys.argv[1:11]
    senders, batches, per_batch, size = int(senders), int(batches), int(per_batch), int(size)
    host, port = url.split("//")[1].split("/")[0].split(":")
    context = ssl.create_default_context(cafile=ca_file)
    latencies = []
    first_requests = []
    failures = []
    lock = threading.Lock()
    start_gate = threading.Barrier(senders + 1)

    def sender(index):
        computer = f"{prefix}{index}"
        auth = "Basic " + base64.b64encode(f"{computer}:{password}".encode()).decode()
        connection = http.client.HTTPSConnection(host, int(port), context=context, timeout=120)
        address = f"https://{host}:{port}{path}"
        bodies = [envelope(address, version, computer, 1 + b * per_batch, per_batch, size) for b in range(batches)]
        mine = []
        # One heartbeat first, untimed: it carries the connection's Basic password check
        # (argon2id, tens of ms by design), which is the authentication's cost, not the
        # collector's; a forwarder pays it once per kept-alive connection.
        started = time.perf_counter()
        connection.request(
            "POST",
            path,
            body=heartbeat(address, version),
            headers={"Authorization": auth, "Content-Type": "application/soap+xml;charset=UTF-8"},
        )
        answer = connection.getresponse()
        reply = answer.read()
        with lock:
            first_requests.append(time.perf_counter() - started)
        if answer.status != 200 or b"wsman/Ack" not in reply:
            with lock:
                failures.append(f"{computer}: heartbeat HTTP {answer.status} {reply[:200]!r}")
            start_gate.wait()
            return
        start_gate.wait()
        for body in bodies:
            started = time.perf_counter()
            connection.request(
                "POST",
                path,
                body=body,
                headers={"Authorization": auth, "Content-Type": "application/soap+xml;charset=UTF-8"},
            )
            answer = connection.getresponse()
            reply = answer.read()
            mine.append(time.perf_counter() - started)
            if answer.status != 200 or b"wsman/Ack" not in reply:
                with lock:
                    failures.append(f"{computer}: HTTP {answer.status} {reply[:200]!r}")
                return
        with lock:
            latencies.extend(mine)

    report(sender, senders, per_batch, start_gate, latencies, first_requests, failures)

UTF16 = "application/soap+xml;charset=UTF-16"
ADDRESSING = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
EVENTING = "http://schemas.xmlsoap.org/ws/2004/08/eventing"

def utf16(text):
    """A message as Windows sends it: UTF-16LE with a byte order mark."""
    return b"\xff\xfe" + text.encode("utf-16-le")


def decoded(reply):
    """An answer in UTF-16 (with its byte order mark) or UTF-8."""
    if reply[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return reply.decode("utf-16")
    return reply.decode("utf-8", "replace")


def notify_to(answer):
    """The delivery address of the first subscription offered and the reference headers a
    forwarder echoes with every delivery to it (wsmand: e:Identifier in ReferenceProperties;
    OpenWEC: e:Identifier and Version in ReferenceParameters), serialized."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(answer)
    notify = root.find(f".//{{{EVENTING}}}NotifyTo")
    if notify is None:
        raise ValueError(f"no subscription offered: {answer[:300]}")
    address = notify.find(f"{{{ADDRESSING}}}Address").text.strip()
    headers = ""
    for child in notify:
        if child.tag.endswith("ReferenceProperties") or child.tag.endswith("ReferenceParameters"):
            for reference in child:
                ET.register_namespace("e", EVENTING)
                headers += ET.tostring(reference, encoding="unicode")
    return address, headers


def tls_envelope(address, references, computer, first, count, size):
    """An Events batch as a Windows forwarder with a client certificate sends it: UTF-16."""
    return utf16(envelope_text(address, references, computer, first, count, size))


def tls_main(argv):
    """collector.py tls HOST PORT SERVER_CA CERT_DIR SENDERS BATCHES EVENTS_PER_BATCH
    EVENT_BYTES FIRST_RECORD

    Sender i presents CERT_DIR/i.pem (its certificate and key; its CN, sender<i>.bench.test,
    is the Computer of its events), enumerates the subscription manager once on its
    kept-alive connection (untimed: the handshake and the mapping are paid once per
    connection), then posts BATCHES batches in UTF-16LE to the NotifyTo address the answer
    gave, echoing its reference headers, record ids from FIRST_RECORD, each waiting for its
    Ack. Prints the JSON line of main()."""
    host, port, server_ca, cert_dir = argv[0], int(argv[1]), argv[2], argv[3]
    senders, batches, per_batch, size, first_record = (int(x) for x in argv[4:9])
    latencies, first_requests, failures = [], [], []
    lock = threading.Lock()
    start_gate = threading.Barrier(senders + 1)

    def post(connection, path, body):
        connection.request(
            "POST", path, body=body, headers={"Authorization": MUTUAL, "Content-Type": UTF16}
        )
        answer = connection.getresponse()
        return answer.status, decoded(answer.read())

    def sender(index):
        computer = f"sender{index}.bench.test"
        started = time.perf_counter()
        try:
            context = ssl.create_default_context(cafile=server_ca)
            context.load_cert_chain(f"{cert_dir}/{index}.pem")
            connection = http.client.HTTPSConnection(host, port, context=context, timeout=120)
            status, text = post(
                connection,
                "/wsman/SubscriptionManager/WEC",
                utf16(ENUMERATE.format(host=host, port=port, message=uuid.uuid4())),
            )
            if status != 200:
                raise ValueError(f"Enumerate HTTP {status} {text[:300]}")
            address, references = notify_to(text)
        except Exception as error:  # noqa: BLE001 - reported, then the run stops
            with lock:
                failures.append(f"{computer}: {error}")
            start_gate.wait()
            return
        with lock:
            first_requests.append(time.perf_counter() - started)
        path = "/" + address.split("/", 3)[3]
        first = first_record
        bodies = [
            tls_envelope(address, references, computer, first + b * per_batch, per_batch, size)
            for b in range(batches)
        ]
        mine = []
        start_gate.wait()
        for body in bodies:
            started = time.perf_counter()
            status, text = post(connection, path, body)
            mine.append(time.perf_counter() - started)
            if status != 200 or "wsman/Ack" not in text:
                with lock:
                    failures.append(f"{computer}: HTTP {status} {text[:300]!r}")
                return
        with lock:
            latencies.extend(mine)

    report(sender, senders, per_batch, start_gate, latencies, first_requests, failures)


def report(sender, senders, per_batch, start_gate, latencies, first_requests, failures):
    """Run `sender` on SENDERS threads from one start and print the JSON line."""
    threads = [threading.Thread(target=sender, args=(i,)) for i in range(1, senders + 1)]
    for thread in threads:
        thread.start()
    start_gate.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if failures:
        sys.exit("\n".join(failures))
    latencies.sort()

    def percentile(q):
        return round(1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))], 2)

    events = len(latencies) * per_batch
    print(
        json.dumps(
            {
                "events": events,
                "seconds": round(wall, 3),
                "events_per_second": round(events / wall),
                "ack_ms_p50": percentile(0.50),
                "ack_ms_p99": percentile(0.99),
                "ack_ms_max": round(1000 * latencies[-1], 2),
                "first_request_ms_max": round(1000 * max(first_requests), 2),
            }
        )
    )


if __name__ == "__main__":
    if sys.argv[1] == "tls":
        tls_main(sys.argv[2:])
    else:
        main()
