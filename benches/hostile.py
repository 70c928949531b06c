#!/usr/bin/env python3
"""Drivers of benches/hostile.sh (standard library only).

  hostile.py legit PORT SECONDS AUTH     one kept-alive client sending authenticated Identify
                                         back to back; prints "RESULT n=.. p50_ms=.. p99_ms=.."
  hostile.py get PORT SECONDS AUTH       the same with a Get of Win32_OperatingSystem (an
                                         administrator's monitoring request)
  hostile.py hold PORT PASSWORD FILE USER...
                                         read-only USERs open every enumeration context their
                                         quotas allow, in turns (per user: one 8 KiB LIKE over
                                         Win32_NTLogEvent, one LIKE over Win32_Process, then
                                         plain Win32_NTLogEvent and Win32_Process ones until
                                         the quota fault); writes them to FILE, prints "HELD .."
  hostile.py users PORT SECONDS TIMEOUT PASSWORD FILE
                                         per user of FILE, three clients back to back: Pulls of
                                         its LIKE contexts, Subscribe + one Pull + Unsubscribe of
                                         a large XPath event query; OperationTimeout TIMEOUT s;
                                         prints "USERS requests=.. timed_out=.. .."
  hostile.py hostile PORT SECONDS N      N unauthenticated clients, a third each: the namespace
                                         flood (an anonymous Identify with 25,000 namespace
                                         declarations, 491 KB), slow 500 KB bodies (sent in 10 KB
                                         pieces every 50 ms, with and without WSMANIDENTIFY),
                                         and empty POSTs on a kept-alive connection; prints
                                         "HOSTILE requests=.. answered=.. errors=.."
  hostile.py rss PID SECONDS [STOP]      samples VmRSS every 50 ms (until the file STOP exists);
                                         prints "RSS peak_kb=.. last_kb=.."
  hostile.py powershell PORT SECONDS USER PASSWORD SHELLS
                                         a PowerShell user's SHELLS Xpress-compressed shells, each
                                         sending back to back Sends of 17 streams (460 KB, each
                                         stream a 1 MiB message inflated from 27 KB) while a
                                         second client Receives its output; a shell that fails
                                         is deleted and created again; prints "POWERSHELL .."
  hostile.py pwsh                        a pathological `pwsh -s` (the shells' host): drops its
                                         input and writes, for the pool, one message that never
                                         ends in fragments of one byte, in lines of 59 KB
"""
import base64
import http.client
import json
import os
import re
import socket
import struct
import sys
import threading
import time
import uuid
from pathlib import Path

# The hostile Xpress data (tests/psrp-standin/xpress_bomb.py); beside this file when copied
# for the pathological pwsh, which does not need it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "psrp-standin"))

SOAP = "http://www.w3.org/2003/05/soap-envelope"
IDENTITY = "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"
IDENTIFY = (
    f'<s:Envelope xmlns:s="{SOAP}" xmlns:wsmid="{IDENTITY}"><s:Header/>'
    "<s:Body><wsmid:Identify/></s:Body></s:Envelope>"
).encode()


def flood_body(count=25_000):
    decls = "".join(f' xmlns:a{i}="{i}"' for i in range(count))
    return (
        f'<s:Envelope xmlns:s="{SOAP}" xmlns:wsmid="{IDENTITY}"><s:Header><e{decls}/></s:Header>'
        "<s:Body><wsmid:Identify/></s:Body></s:Envelope>"
    ).encode()


def head(port, length, extra=()):
    lines = [
        "POST /wsman HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/soap+xml;charset=UTF-8",
        f"Content-Length: {length}",
        *extra,
        "",
        "",
    ]
    return "\r\n".join(lines).encode()


def read_response(sock, buf):
    """Reads one response (Content-Length bodies); returns (status, rest of buffer)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    header, _, rest = buf.partition(b"\r\n\r\n")
    lines = header.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed in body")
        rest += chunk
    return status, rest[length:]


def connect(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def legit(port, seconds, auth, body=IDENTIFY):
    latencies = []
    sock, buf = connect(port), b""
    request = head(port, len(body), [f"Authorization: {auth}"]) + body
    end = time.monotonic() + seconds
    errors = 0
    while time.monotonic() < end:
        start = time.perf_counter()
        try:
            sock.sendall(request)
            status, buf = read_response(sock, buf)
            if status != 200:
                errors += 1
        except (OSError, ConnectionError):
            errors += 1
            sock.close()
            sock, buf = connect(port), b""
            continue
        latencies.append(time.perf_counter() - start)
        # A monitoring client, not a load generator: one Identify every 10 ms.
        time.sleep(0.01)
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
    print(f"RESULT n={len(latencies)} errors={errors} p50_ms={pick(0.50):.3f} "
          f"p99_ms={pick(0.99):.3f} max_ms={latencies[-1] * 1000:.3f}", flush=True)


class Counters:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = self.answered = self.errors = 0

    def add(self, requests=0, answered=0, errors=0):
        with self.lock:
            self.requests += requests
            self.answered += answered
            self.errors += errors


def namespace_flood(port, end, counters, body):
    anonymous = ["WSMANIDENTIFY: unauthenticated"]
    while time.monotonic() < end:
        try:
            with connect(port) as sock:
                sock.sendall(head(port, len(body), anonymous))
                try:
                    sock.sendall(body)
                except OSError:
                    pass  # answered (413) and closed before the whole body went out
                counters.add(requests=1)
                status, _ = read_response(sock, b"")
                counters.add(answered=1)
        except (OSError, ConnectionError, ValueError, IndexError):
            counters.add(errors=1)


def slow_body(port, end, counters, anonymous):
    extra = ["WSMANIDENTIFY: unauthenticated"] if anonymous else []
    size = 500 * 1024
    piece = b" " * 10240
    while time.monotonic() < end:
        try:
            with connect(port) as sock:
                sock.sendall(head(port, size, extra))
                counters.add(requests=1)
                sent = 0
                sock.settimeout(0.05)
                answered = False
                while sent < size and time.monotonic() < end:
                    try:
                        if sock.recv(65536):
                            answered = True
                            break
                        break  # closed
                    except socket.timeout:
                        pass
                    sock.sendall(piece[: size - sent])
                    sent += len(piece)
                counters.add(answered=int(answered))
        except (OSError, ConnectionError):
            counters.add(errors=1)


def empty_posts(port, end, counters):
    while time.monotonic() < end:
        try:
            with connect(port) as sock:
                buf = b""
                while time.monotonic() < end:
                    sock.sendall(head(port, 0))
                    counters.add(requests=1)
                    status, buf = read_response(sock, buf)
                    counters.add(answered=1)
        except (OSError, ConnectionError, ValueError, IndexError):
            counters.add(errors=1)


def hostile(port, seconds, clients):
    end = time.monotonic() + seconds
    counters = Counters()
    body = flood_body()
    threads = []
    for i in range(clients):
        kind = i % 3
        if kind == 0:
            target = (namespace_flood, (port, end, counters, body))
        elif kind == 1:
            target = (slow_body, (port, end, counters, i % 2 == 0))
        else:
            target = (empty_posts, (port, end, counters))
        threads.append(threading.Thread(target=target[0], args=target[1], daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    print(f"HOSTILE requests={counters.requests} answered={counters.answered} "
          f"errors={counters.errors}", flush=True)


def rss(pid, seconds, stop=None):
    peak = last = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end and not (stop and os.path.exists(stop)):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        last = int(line.split()[1])
                        peak = max(peak, last)
        except OSError:
            break
        time.sleep(0.05)
    print(f"RSS peak_kb={peak} last_kb={last}", flush=True)


# Read-only users' worst-case filters (issue 29).
ADDRESSING = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
ENUMERATION = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
EVENTING = "http://schemas.xmlsoap.org/ws/2004/08/eventing"
WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
CIMV2 = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/"
EVENT_LOG = "http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog"
TRANSFER_GET = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"
WQL = "http://schemas.microsoft.com/wbem/wsman/1/WQL"
# A 6,000-character run that fails at its last character at every place of every subject: the
# costliest LIKE under the 8 KiB query limit (the bench's journal messages and the long
# command line are runs of "x").
HOSTILE_RUN = "%" + "x" * 6000 + "Y%"
LOG_LIKE = f"SELECT * FROM Win32_NTLogEvent WHERE Message LIKE '{HOSTILE_RUN}'"
PROCESS_LIKE = f"SELECT * FROM Win32_Process WHERE CommandLine LIKE '{HOSTILE_RUN}'"


def envelope(action, resource_uri, body, timeout_s, header=""):
    return (
        f'<s:Envelope xmlns:s="{SOAP}" xmlns:a="{ADDRESSING}" xmlns:n="{ENUMERATION}" '
        f'xmlns:e="{EVENTING}" xmlns:w="{WSMAN}"><s:Header>'
        "<a:To>http://127.0.0.1/wsman</a:To>"
        f"<w:ResourceURI>{resource_uri}</w:ResourceURI>"
        f"<a:ReplyTo><a:Address>{ADDRESSING}/role/anonymous</a:Address></a:ReplyTo>"
        f"<a:Action>{action}</a:Action><w:MaxEnvelopeSize>512000</w:MaxEnvelopeSize>"
        f"<a:MessageID>uuid:{uuid.uuid4()}</a:MessageID>"
        f"<w:OperationTimeout>PT{timeout_s:g}S</w:OperationTimeout>{header}"
        f"</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def wql_enumerate(query):
    escaped = query.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    filter_ = f'<w:Filter Dialect="{WQL}">{escaped}</w:Filter>' if query else ""
    return f"<n:Enumerate>{filter_}</n:Enumerate>"


def xpath_query_list():
    """A large but legal event query: 6 Selects of 1,900 terms, each reading every value of
    the event, selecting nothing of the bench's journal."""
    terms = " or ".join(f"*/*='n{i}'" for i in range(1900))
    select = f"<Select Path='Application'>*[{terms} or System/Provider/@Name='marker']</Select>"
    return f'<QueryList><Query Id="0">{select * 6}</Query></QueryList>'


class User:
    """One read-only user's kept-alive connection (one PAM login)."""

    def __init__(self, port, name, password):
        self.port, self.name = port, name
        self.auth = "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()
        self.conn = None

    def post(self, action, resource_uri, body, timeout_s, header=""):
        """(HTTP status, response text); a broken connection is opened again."""
        return self.send(envelope(action, resource_uri, body, timeout_s, header), timeout_s)

    def send(self, data, timeout_s):
        """`post` of an envelope as it is."""
        for _ in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout_s + 60)
            try:
                self.conn.request("POST", "/wsman", data, {
                    "Authorization": self.auth,
                    "Content-Type": "application/soap+xml;charset=UTF-8"})
                response = self.conn.getresponse()
                return response.status, response.read().decode("utf-8", "replace")
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
        return 0, ""


def fault_of(text):
    match = re.search(r"<s:Subcode><s:Value>[^:<]*:([A-Za-z]+)", text)
    return match.group(1) if match else "unknown"


def context_of(text):
    match = re.search(r"EnumerationContext[^>]*>([^<]+)<", text)
    return match.group(1) if match else None


# What each user opens, in order: (kind, resource, query); the last two until the quota fault.
OPENINGS = (
    ("log_like", CIMV2 + "*", LOG_LIKE),
    ("process_like", CIMV2 + "*", PROCESS_LIKE),
    ("log", CIMV2 + "Win32_NTLogEvent", ""),
    ("process", CIMV2 + "Win32_Process", ""),
)


def hold(port, password, path, names):
    """Every user opens what its quotas allow, one context per user in turn (so that the
    service-wide byte budget is shared, not taken by the first user)."""
    users = [User(port, name, password) for name in names]
    step = {name: 0 for name in names}
    held = {name: [] for name in names}
    faults = {}
    while any(step[n] < len(OPENINGS) for n in names):
        for user in users:
            if step[user.name] >= len(OPENINGS):
                continue
            kind, resource, query = OPENINGS[step[user.name]]
            status, text = user.post(f"{ENUMERATION}/Enumerate", resource, wql_enumerate(query), 60)
            context = context_of(text) if status == 200 else None
            if context:
                held[user.name].append((kind, resource, context))
            else:
                fault = fault_of(text) if status else "connection"
                faults[fault] = faults.get(fault, 0) + 1
            # The LIKE contexts once each; the plain ones until refused.
            if not context or kind.endswith("_like"):
                step[user.name] += 1
    with open(path, "w") as f:
        json.dump({"password": password, "held": held}, f)
    kinds = {}
    for contexts in held.values():
        for kind, _, _ in contexts:
            kinds[kind] = kinds.get(kind, 0) + 1
    counts = " ".join(f"{k}={v}" for k, v in sorted(kinds.items()))
    refusals = " ".join(f"fault_{k}={v}" for k, v in sorted(faults.items()))
    print(f"HELD contexts={sum(kinds.values())} {counts} {refusals}", flush=True)


class Tally(Counters):
    def __init__(self):
        super().__init__()
        self.kinds = {}

    def outcome(self, what):
        with self.lock:
            self.kinds[what] = self.kinds.get(what, 0) + 1


def pull_loop(user, contexts, end, timeout_s, tally):
    """Pulls of the user's LIKE contexts back to back, each spending its OperationTimeout."""
    while time.monotonic() < end and contexts:
        for entry in list(contexts):
            kind, resource, context = entry
            body = (f"<n:Pull><n:EnumerationContext>{context}</n:EnumerationContext>"
                    "<n:MaxElements>5</n:MaxElements></n:Pull>")
            status, text = user.post(f"{ENUMERATION}/Pull", resource, body, timeout_s)
            tally.add(requests=1, answered=int(status != 0), errors=int(status == 0))
            outcome = "items" if status == 200 else fault_of(text)
            tally.outcome(f"{kind}_{outcome}")
            if "EndOfSequence" in text or outcome == "InvalidEnumerationContext":
                contexts.remove(entry)
            if time.monotonic() >= end:
                return


def xpath_loop(user, end, timeout_s, tally):
    """Subscribe from the earliest event with the large query, one Pull, Unsubscribe: every
    Pull scans the journal from its start for its whole OperationTimeout."""
    # The Subscribe a Windows client recorded (events.py, beside this file), this query its filter.
    from events import recorded_subscribe
    query = xpath_query_list()
    while time.monotonic() < end:
        status, text = user.send(recorded_subscribe("http://127.0.0.1/wsman", query), 60)
        tally.add(requests=1, answered=int(status != 0), errors=int(status == 0))
        context = context_of(text) if status == 200 else None
        identifier = re.search(r"Identifier[^>]*>([^<]+)<", text) if context else None
        if not identifier:
            tally.outcome("subscribe_" + fault_of(text))
            time.sleep(0.1)
            continue
        body = (f"<n:Pull><n:EnumerationContext>{context}</n:EnumerationContext>"
                f"<n:MaxTime>PT{timeout_s:g}S</n:MaxTime><n:MaxElements>5</n:MaxElements></n:Pull>")
        status, text = user.post(f"{ENUMERATION}/Pull", EVENT_LOG, body, timeout_s)
        tally.add(requests=1, answered=int(status != 0), errors=int(status == 0))
        tally.outcome("xpath_items" if status == 200 else "xpath_" + fault_of(text))
        header = f"<e:Identifier>{identifier.group(1)}</e:Identifier>"
        status, _ = user.post(f"{EVENTING}/Unsubscribe", EVENT_LOG, "<e:Unsubscribe/>", 60, header)
        tally.add(requests=1, answered=int(status != 0), errors=int(status == 0))


def users(port, seconds, timeout_s, password, path):
    with open(path) as f:
        held = json.load(f)["held"]
    end = time.monotonic() + seconds
    tally = Tally()
    threads = []
    for name, contexts in held.items():
        for kind in ("log_like", "process_like"):
            mine = [tuple(c) for c in contexts if c[0] == kind]
            threads.append(threading.Thread(
                target=pull_loop, args=(User(port, name, password), mine, end, timeout_s, tally),
                daemon=True))
        threads.append(threading.Thread(
            target=xpath_loop, args=(User(port, name, password), end, timeout_s, tally), daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + timeout_s + 60)
    outcomes = " ".join(f"{k}={v}" for k, v in sorted(tally.kinds.items()))
    print(f"USERS clients={len(threads)} requests={tally.requests} answered={tally.answered} "
          f"errors={tally.errors} {outcomes}", flush=True)


# A PowerShell user's hostile Sends and a pathological pwsh (issue 46).
SHELL_NS = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
POWERSHELL = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"
TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
NIL = "00000000-0000-0000-0000-000000000000"


def selector(shell_id):
    return (f'<w:SelectorSet><w:Selector Name="ShellId">{shell_id}</w:Selector>'
            "</w:SelectorSet>")


def create_powershell(user):
    """A PowerShell shell with Xpress compression; its ShellId, or None (counted)."""
    from xpress_bomb import fragment_header
    creation = base64.b64encode(fragment_header(1, 5) + b"hello").decode()
    header = (f'<rsp:CompressionType s:mustUnderstand="true" xmlns:rsp="{SHELL_NS}">xpress'
              "</rsp:CompressionType>")
    body = (f'<rsp:Shell xmlns:rsp="{SHELL_NS}"><rsp:InputStreams>stdin pr</rsp:InputStreams>'
            "<rsp:OutputStreams>stdout</rsp:OutputStreams>"
            f'<creationXml xmlns="http://schemas.microsoft.com/powershell">{creation}'
            "</creationXml></rsp:Shell>")
    status, text = user.post(f"{TRANSFER}/Create", POWERSHELL, body, 20, header)
    found = re.search(r'Name="ShellId">([^<]+)<', text) if status == 200 else None
    return (found.group(1), "created") if found else (None, "create_" + fault_of(text))


def receive_loop(user, shell_id, stop, tally):
    body = (f'<rsp:Receive xmlns:rsp="{SHELL_NS}"><rsp:DesiredStream>stdout</rsp:DesiredStream>'
            "</rsp:Receive>")
    while not stop.is_set():
        status, text = user.post(f"{SHELL_NS}/Receive", POWERSHELL, body, 5, selector(shell_id))
        tally.add(requests=1, answered=int(status != 0), errors=int(status == 0))
        outcome = "receive_output" if status == 200 else "receive_" + fault_of(text)
        tally.outcome(outcome)
        if status != 200 and outcome != "receive_TimedOut":
            stop.set()


def powershell_shell(port, name, password, end, tally):
    """One shell of the user, created again whenever it fails, Sends back to back."""
    from xpress_bomb import message
    sender, receiver = User(port, name, password), User(port, name, password)
    # One body for all the Sends (the fragments' order allows a message again), so that the
    # driver spends its time sending, not compressing.
    streams = "".join(f'<rsp:Stream Name="stdin">{base64.b64encode(message(10 + i, 16)).decode()}'
                      "</rsp:Stream>" for i in range(17))
    body = f'<rsp:Send xmlns:rsp="{SHELL_NS}">{streams}</rsp:Send>'
    while time.monotonic() < end:
        shell_id, outcome = create_powershell(sender)
        tally.add(requests=1)
        tally.outcome(outcome)
        if shell_id is None:
            time.sleep(0.2)
            continue
        stop = threading.Event()
        reading = threading.Thread(target=receive_loop, args=(receiver, shell_id, stop, tally),
                                   daemon=True)
        reading.start()
        while time.monotonic() < end and not stop.is_set():
            status, text = sender.post(f"{SHELL_NS}/Send", POWERSHELL, body, 5, selector(shell_id))
            tally.add(requests=1, answered=int(status != 0), errors=int(status == 0))
            tally.outcome("send_accepted" if status == 200 else "send_" + fault_of(text))
        stop.set()
        sender.post(f"{TRANSFER}/Delete", POWERSHELL, "", 20, selector(shell_id))
        reading.join(30)


def powershell(port, seconds, name, password, shells):
    end = time.monotonic() + seconds
    tally = Tally()
    threads = [threading.Thread(target=powershell_shell, args=(port, name, password, end, tally),
                                daemon=True) for _ in range(shells)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 90)
    outcomes = " ".join(f"{k}={v}" for k, v in sorted(tally.kinds.items()))
    print(f"POWERSHELL shells={shells} requests={tally.requests} answered={tally.answered} "
          f"errors={tally.errors} {outcomes}", flush=True)


def pathological_pwsh():
    """Reads and drops its input (and exits at its end); writes, for the pool, one message that
    never ends, in fragments of one byte, as fast as the daemon takes them."""
    def drain():
        for _ in sys.stdin.buffer:
            pass
        os._exit(0)
    threading.Thread(target=drain, daemon=True).start()
    out = sys.stdout.buffer
    # The start fragment holds the message's header (MS-PSRP 2.2.1: destination, type,
    # RPID, PID; a PIPELINE_OUTPUT to the client), every later one a byte.
    header = struct.pack("<II", 1, 0x00041004) + bytes(32)
    fragments = bytearray(struct.pack(">QQBI", 1, 0, 0x1, len(header)) + header)
    fragment_id = 1
    while True:
        for _ in range(2000):
            fragments += struct.pack(">QQBI", 1, fragment_id, 0, 1) + b"x"
            fragment_id += 1
        data = base64.b64encode(bytes(fragments)).decode()
        fragments = bytearray()
        try:
            out.write(f"<Data Stream='Default' PSGuid='{NIL}'>{data}</Data>\n".encode())
            out.flush()
        except BrokenPipeError:
            os._exit(0)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "legit":
        legit(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4])
    elif mode == "get":
        legit(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4],
              envelope(TRANSFER_GET, CIMV2 + "Win32_OperatingSystem", "", 60))
    elif mode == "hold":
        hold(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:])
    elif mode == "users":
        users(int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6])
    elif mode == "hostile":
        hostile(int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]))
    elif mode == "powershell":
        powershell(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6]))
    elif mode == "pwsh":
        pathological_pwsh()
    elif mode == "rss":
        rss(int(sys.argv[2]), float(sys.argv[3]), *sys.argv[4:5])
    else:
        sys.exit(__doc__)
