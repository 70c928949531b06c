"""pypsrp's WSMan class (from PyPI, unchanged) against the real wsmand.

Identify goes through WSMan's transport (pypsrp has no Identify method, and its invoke() insists
on a RelatesTo that an Identify response does not carry); Get uses WSMan.get and
WSMan.update_max_payload_size() exactly as PowerShell-over-pypsrp code does.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import pytest
from pypsrp.exceptions import AuthenticationError, WSManFaultError
from pypsrp.wsman import NAMESPACES, WSMan

from conftest import SERVICE_ACCOUNT, SERVICE_PASSWORD

CONFIG_URI = "http://schemas.microsoft.com/wbem/wsman/1/config"
IDENTITY_NS = "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"
SOAP_NS = "http://www.w3.org/2003/05/soap-envelope"
IDENTIFY = (
    f'<s:Envelope xmlns:s="{SOAP_NS}" xmlns:wsmid="{IDENTITY_NS}">'
    "<s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>"
).encode()

TRANSPORTS = ["https", "http"]


def make_wsman(daemon, transport: str, username: str, password: str) -> WSMan:
    if transport == "https":
        return WSMan(
            "127.0.0.1",
            port=daemon.https_port,
            ssl=True,
            auth="basic",
            username=username,
            password=password,
            cert_validation=False,
            no_proxy=True,
            connection_timeout=10,
            read_timeout=30,
        )
    return WSMan(
        "127.0.0.1",
        port=daemon.http_port,
        ssl=False,
        auth="basic",
        encryption="never",
        username=username,
        password=password,
        no_proxy=True,
        connection_timeout=10,
        read_timeout=30,
    )


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_identify(daemon, credentials, transport):
    username, password = credentials
    with make_wsman(daemon, transport, username, password) as wsman:
        response = ET.fromstring(wsman.transport.send(IDENTIFY))
    identify = response.find(f"{{{SOAP_NS}}}Body/{{{IDENTITY_NS}}}IdentifyResponse")
    assert identify is not None, ET.tostring(response)
    assert (
        identify.findtext(f"{{{IDENTITY_NS}}}ProtocolVersion")
        == "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
    )
    assert "Stack: 3.0" in identify.findtext(f"{{{IDENTITY_NS}}}ProductVersion", "")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_get_config(daemon, credentials, transport):
    username, password = credentials
    with make_wsman(daemon, transport, username, password) as wsman:
        body = wsman.get(CONFIG_URI)
    assert body.findtext("cfg:Config/cfg:MaxEnvelopeSizekb", namespaces=NAMESPACES) == "500"
    assert body.findtext("cfg:Config/cfg:MaxTimeoutms", namespaces=NAMESPACES) == "60000"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_update_max_payload_size(daemon, credentials, transport):
    username, password = credentials
    with make_wsman(daemon, transport, username, password) as wsman:
        wsman.update_max_payload_size()
        assert wsman.max_envelope_size == 500 * 1024


def test_wrong_password_is_authentication_error(daemon):
    with make_wsman(daemon, "https", SERVICE_ACCOUNT, "not-the-password") as wsman:
        with pytest.raises(AuthenticationError):
            wsman.get(CONFIG_URI)


def test_unknown_resource_is_a_parsed_fault(daemon):
    with make_wsman(daemon, "https", SERVICE_ACCOUNT, SERVICE_PASSWORD) as wsman:
        with pytest.raises(WSManFaultError) as raised:
            wsman.get(CONFIG_URI + "/nosuchthing")
    assert raised.value.code == 2150858770


def test_non_administrator_gets_access_denied(daemon):
    user = os.environ.get("WSMAN_TEST_PAM_PLAIN_USER")
    password = os.environ.get("WSMAN_TEST_PAM_PLAIN_PASSWORD")
    if not user or not password:
        pytest.skip("WSMAN_TEST_PAM_PLAIN_USER not set (scripts/test.sh sets it as root)")
    with make_wsman(daemon, "https", user, password) as wsman:
        response = ET.fromstring(wsman.transport.send(IDENTIFY))
        assert response.find(f"{{{SOAP_NS}}}Body/{{{IDENTITY_NS}}}IdentifyResponse") is not None
        with pytest.raises(WSManFaultError) as raised:
            wsman.get(CONFIG_URI)
    assert raised.value.code == 5
