"""Load generator of benches/collector-idle.sh: N idle forwarders, each its own identity.

    collector_idle.py certs DIR CA_KEY CA_CERT COUNT
        write COUNT client certificates (P-256, Client Authentication EKU, CN and DNS name
        idleNNNNN.bench.test) signed by the CA, as DIR/NNNNN.pem (certificate and key)

    collector_idle.py run HOST PORT SERVER_CA DIR COUNT HEARTBEATS WORKERS
        every forwarder, each on connections of its own (TLS with its certificate, one request
        per connection: keep-alive off), enumerates the subscription manager once (the
        certificate profile, as Windows forwarders with client certificates do), then sends
        HEARTBEATS heartbeats to the delivery address the answer gave, all answered with an
        Ack; WORKERS forwarders at a time. Prints one JSON line: forwarders, requests, seconds,
        and any failure (the run stops at the first).

Why certificates: the collector names a forwarder after what authenticated it, so 10,000
distinct forwarders need 10,000 identities; one CA with a mapping `Subject=*` gives each host
its own name without 10,000 accounts (a password check per connection would measure argon2id,
not the collector).
"""

import concurrent.futures
import datetime
import http.client
import json
import os
import re
import ssl
import sys
import time
import uuid

MUTUAL = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"

ENUMERATE = (
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" '
    'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header>'
    "<a:To>https://{host}:{port}/wsman/SubscriptionManager/WEC</a:To>"
    '<w:ResourceURI s:mustUnderstand="true">http://schemas.microsoft.com/wbem/wsman/1/SubscriptionManager/Subscription</w:ResourceURI>'
    '<a:ReplyTo><a:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>'
    '<a:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate</a:Action>'
    '<w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize>'
    "<a:MessageID>uuid:{message}</a:MessageID><w:OperationTimeout>PT60.000S</w:OperationTimeout>"
    "</s:Header><s:Body><n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>32000</w:MaxElements>"
    "</n:Enumerate></s:Body></s:Envelope>"
)

HEARTBEAT = (
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing" '
    'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header>'
    "<a:To>{address}</a:To>"
    '<a:ReplyTo><a:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>'
    '<a:Action s:mustUnderstand="true">http://schemas.dmtf.org/wbem/wsman/1/wsman/Heartbeat</a:Action>'
    '<w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize>'
    "<a:MessageID>uuid:{message}</a:MessageID><w:OperationTimeout>PT60.000S</w:OperationTimeout>"
    "<e:Identifier>{version}</e:Identifier><w:AckRequested/></s:Header>"
    "<s:Body><w:Events></w:Events></s:Body></s:Envelope>"
)


def certs(directory, ca_key_file, ca_cert_file, count):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    with open(ca_key_file, "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), password=None)
    with open(ca_cert_file, "rb") as f:
        ca_cert = x509.load_pem_x509_certificate(f.read())
    os.makedirs(directory, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    # One key for every forwarder: the collector keys nothing on it, and 10,000 key
    # generations would only slow the setup.
    key = ec.generate_private_key(ec.SECP256R1())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    for i in range(count):
        name = f"idle{i:05d}.bench.test"
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        with open(os.path.join(directory, f"{i:05d}.pem"), "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM) + key_pem)


def post(host, port, context, path, body):
    connection = http.client.HTTPSConnection(host, port, context=context, timeout=120)
    try:
        connection.request(
            "POST",
            path,
            body=body.encode(),
            headers={
                "Authorization": MUTUAL,
                "Content-Type": "application/soap+xml;charset=UTF-8",
                "Connection": "close",
            },
        )
        answer = connection.getresponse()
        return answer.status, answer.read().decode("utf-8", "replace")
    finally:
        connection.close()


def run(host, port, server_ca, directory, count, heartbeats, workers):
    port, count, heartbeats, workers = int(port), int(count), int(heartbeats), int(workers)

    def forwarder(i):
        context = ssl.create_default_context(cafile=server_ca)
        context.load_cert_chain(os.path.join(directory, f"{i:05d}.pem"))
        status, text = post(
            host,
            port,
            context,
            "/wsman/SubscriptionManager/WEC",
            ENUMERATE.format(host=host, port=port, message=uuid.uuid4()),
        )
        if status != 200:
            return f"forwarder {i}: Enumerate HTTP {status} {text[:300]}"
        address = re.search(r"<a:Address>([^<]*/wsman/subscriptions/[^<]*)</a:Address>", text)
        version = re.search(r"<e:Identifier[^>]*>([^<]*)</e:Identifier>", text)
        if not address or not version:
            return f"forwarder {i}: no subscription offered: {text[:300]}"
        address, version = address.group(1), version.group(1)
        path = "/" + address.split("/", 3)[3]
        for _ in range(heartbeats):
            status, text = post(
                host,
                port,
                context,
                path,
                HEARTBEAT.format(address=address, version=version, message=uuid.uuid4()),
            )
            if status != 200 or "wsman/Ack" not in text:
                return f"forwarder {i}: Heartbeat HTTP {status} {text[:300]}"
        return None

    started = time.perf_counter()
    failures = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=int(workers)) as pool:
        for failure in pool.map(forwarder, range(int(count))):
            if failure:
                failures.append(failure)
                break
    wall = time.perf_counter() - started
    if failures:
        sys.exit(failures[0])
    print(
        json.dumps(
            {
                "forwarders": int(count),
                "requests": int(count) * (1 + int(heartbeats)),
                "seconds": round(wall, 1),
            }
        )
    )


if __name__ == "__main__":
    if sys.argv[1] == "certs":
        certs(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        run(*sys.argv[2:9])
