"""pywinrm's Protocol (from PyPI, unchanged) sending a Get of winrm/config with send_message.

pywinrm writes `mustUnderstand` without a namespace prefix and uses the `env:` prefix for SOAP:
the service must match by namespace and accept the unqualified attribute.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET

import pytest
import xmltodict
from conftest import SERVICE_ACCOUNT
from winrm.exceptions import InvalidCredentialsError
from winrm.protocol import Protocol

CONFIG_URI = "http://schemas.microsoft.com/wbem/wsman/1/config"
NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "cfg": CONFIG_URI,
}


def endpoint(daemon, transport: str) -> str:
    port = daemon.https_port if transport == "https" else daemon.http_port
    return f"{transport}://127.0.0.1:{port}/wsman"


def protocol(daemon, transport: str, username: str, password: str) -> Protocol:
    return Protocol(
        endpoint(daemon, transport),
        transport="basic",
        username=username,
        password=password,
        server_cert_validation="ignore",
        message_encryption="never",
        proxy=None,
    )


def get_config_message(p: Protocol) -> tuple[str, str]:
    message_id = str(uuid.uuid4())
    envelope = {
        "env:Envelope": p.build_wsman_header(
            "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get", CONFIG_URI, message_id=message_id
        )
    }
    envelope["env:Envelope"]["env:Body"] = {}
    return message_id, xmltodict.unparse(envelope)


@pytest.mark.parametrize("transport", ["https", "http"])
def test_send_message_get_config(daemon, credentials, transport):
    username, password = credentials
    p = protocol(daemon, transport, username, password)
    message_id, message = get_config_message(p)
    response = ET.fromstring(p.send_message(message))
    assert response.findtext("s:Header/a:RelatesTo", namespaces=NS) == f"uuid:{message_id}"
    assert response.findtext("s:Body/cfg:Config/cfg:MaxEnvelopeSizekb", namespaces=NS) == "500"


def test_wrong_password(daemon):
    p = protocol(daemon, "https", SERVICE_ACCOUNT, "wrong")
    _, message = get_config_message(p)
    with pytest.raises(InvalidCredentialsError):
        p.send_message(message)
