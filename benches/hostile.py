#!/usr/bin/env python3
"""Drivers of benches/hostile.sh (standard library only).

  hostile.py legit PORT SECONDS AUTH     one kept-alive client sending authenticated Identify
                                         back to back; prints "RESULT n=.. p50_ms=.. p99_ms=.."
  hostile.py hostile PORT SECONDS N      N unauthenticated clients, a third each: the namespace
                                         flood (an anonymous Identify with 25,000 namespace
                                         declarations, 491 KB), slow 500 KB bodies (sent in 10 KB
                                         pieces every 50 ms, with and without WSMANIDENTIFY),
                                         and empty POSTs on a kept-alive connection; prints
                                         "HOSTILE requests=.. answered=.. errors=.."
  hostile.py rss PID SECONDS             samples VmRSS every 50 ms; prints "RSS peak_kb=.. last_kb=.."
"""
import socket
import sys
import threading
import time

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


def legit(port, seconds, auth):
    latencies = []
    sock, buf = connect(port), b""
    request = head(port, len(IDENTIFY), [f"Authorization: {auth}"]) + IDENTIFY
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


def rss(pid, seconds):
    peak = last = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
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


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "legit":
        legit(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4])
    elif mode == "hostile":
        hostile(int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]))
    elif mode == "rss":
        rss(int(sys.argv[2]), float(sys.argv[3]))
    else:
        sys.exit(__doc__)
