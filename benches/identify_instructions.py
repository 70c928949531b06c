#!/usr/bin/env python3
"""Instructions per kept-alive Identify of a server running under callgrind (identify.sh's
IDENTIFY_INSTRUCTIONS mode). Instructions, unlike req/s, do not move with the host's load.

Usage: identify_instructions.py PORT AUTHORIZATION CONNECTIONS PID DUMP

200 Identify on one connection to warm up; then CONNECTIONS kept-alive connections, each
authenticated by one request (its password check); the counters zeroed (callgrind_control -z
PID), 2,000 more requests round-robin over those connections, a dump (callgrind_control -d;
its file DUMP), and its total divided by 2,000 printed."""
import re
import socket
import subprocess
import sys

REQUESTS = 2000
port, auth, connections, pid, dump = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
body = (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        b'xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">'
        b'<s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>')
request = (b'POST /wsman HTTP/1.1\r\nHost: 127.0.0.1:%s\r\n'
           b'Content-Type: application/soap+xml;charset=UTF-8\r\nConnection: Keep-Alive\r\n'
           b'Authorization: %s\r\nContent-Length: %d\r\n\r\n'
           % (port.encode(), auth.encode(), len(body))) + body


def identify(s):
    """One request and its whole answer, which must be a 200."""
    s.sendall(request)
    data = b''
    while b'\r\n\r\n' not in data:
        chunk = s.recv(65536)
        if not chunk:
            sys.exit('connection closed')
        data += chunk
    head, rest = data.split(b'\r\n\r\n', 1)
    if head.split(b' ')[1] != b'200':
        sys.exit(f'answer: {head!r}')
    length = int(re.search(rb'(?im)^content-length:\s*(\d+)', head).group(1))
    while len(rest) < length:
        rest += s.recv(65536)


def connect():
    s = socket.create_connection(('127.0.0.1', int(port)))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


warm = connect()
for _ in range(200):
    identify(warm)
kept = [connect() for _ in range(connections)]
for s in kept:
    identify(s)
subprocess.run(['callgrind_control', '-z', pid], check=True, stdout=subprocess.DEVNULL,
               stderr=subprocess.DEVNULL)
for i in range(REQUESTS):
    identify(kept[i % connections])
subprocess.run(['callgrind_control', '-d', pid], check=True, stdout=subprocess.DEVNULL,
               stderr=subprocess.DEVNULL)
with open(dump) as f:
    total = next(int(line.split()[1]) for line in f if line.startswith(('summary:', 'totals:')))
print(f'{total / REQUESTS:.0f}')
