"""Xpress compression of a PowerShell shell's stream data (`rsp:CompressionType` `xpress`, as
Windows' PowerShell client sends it), end to end through wsmand and the pwsh stand-in.

The oracle is independent: dissect.util's LZ77+Huffman decompressor (PyPI) unpacks what wsmand
compresses, in WinRM's block framing (MS-WSMV product note <134>: per block, the original
length - 1 and the compressed length - 1 as little-endian u16, a block stored as it is when
the two are equal). psrpcore's client runspace pool reads the PSRP messages inside. No
LZ77+Huffman compressor is on a registry, so what the client sends is framed in stored blocks,
as Windows frames blocks under 266 bytes and blocks compression does not shrink.
"""

from __future__ import annotations

import base64
import struct
import sys
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from dissect.util.compression import lzxpress_huffman
from psrpcore import (
    ClientPowerShell,
    ClientRunspacePool,
    PipelineOutputEvent,
    PipelineStateEvent,
    PSRPPayload,
    StreamType,
)
from psrpcore.types import PSInvocationState, RunspacePoolState

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "psrp-standin"))
import xpress_bomb  # noqa: E402

from shell_support import Target, login_for, no_leftover_processes  # noqa: F401 (autouse fixture)
from test_psrp import RSP, SOAP, WINDOWS, normal_mode, post, ps_daemon, standin, uid  # noqa: F401

PS_URI = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"
COMPRESSION = (
    '<rsp:CompressionType s:mustUnderstand="true" '
    'xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell">xpress</rsp:CompressionType>'
)
WSMAN_FAULT = "{http://schemas.microsoft.com/wbem/wsman/1/wsmanfault}WSManFault"


def unframe(data: bytes) -> tuple[bytes, int]:
    """WinRM's blocks decompressed with dissect.util; returns the data and how many blocks
    were compressed (not stored)."""
    out, compressed = b"", 0
    while data:
        original, length = struct.unpack_from("<HH", data)
        original, length = original + 1, length + 1
        body, data = data[4 : 4 + length], data[4 + length :]
        assert len(body) == length, "a block runs past the stream data"
        if length == original:
            out += body
        else:
            compressed += 1
            # dissect.util decodes until its input is read, not until the declared length, so
            # the last symbols, still in its 32-bit register when it reads the final word, would
            # be left out: two zero words after the block let it reach them (what it decodes
            # past the declared length, the EOF symbol and the padding, is cut off).
            plain = lzxpress_huffman.decompress(body + bytes(4))
            assert len(plain) >= original, (len(plain), original)
            out += plain[:original]
    return out, compressed


def stored(data: bytes, split: int) -> bytes:
    """`data` in two stored blocks, cut at `split`."""
    return b"".join(
        struct.pack("<HH", len(part) - 1, len(part) - 1) + part
        for part in (data[:split], data[split:])
        if part
    )


class Shell:
    """A PowerShell shell opened with compression, driven with recorded Windows messages."""

    def __init__(self, target: Target, compress: bool = True):
        self.target = target
        self.id = str(uuid.uuid4()).upper()
        self.pool = ClientRunspacePool()
        self.pool.open()
        creation = base64.b64encode(self.pool.data_to_send().data).decode()
        create = (WINDOWS / "psrp-shell-create.request.xml").read_text()
        create = create.replace("76056A84-51DC-4F24-9262-CA2A55464B2B", self.id)
        create = create.replace("https://127.0.0.1:55986/wsman", target.url)
        start = create.index(">", create.index("<creationXml")) + 1
        create = create[:start] + creation + create[create.index("</creationXml>") :]
        if compress:
            create = create.replace("<wsmv:DataLocale", COMPRESSION + "<wsmv:DataLocale", 1)
        self.created = post(target, create)
        self.compressed_blocks = 0

    def envelope(self, template: str, body: str) -> str:
        text = (WINDOWS / template).read_text()
        text = text.replace("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd", PS_URI)
        text = text.replace("http://192.168.56.11:5985/wsman", self.target.url)
        head = text[: text.index("<wsman:SelectorSet>")]
        head = head.replace(text[text.index("<wsa:MessageID>") : text.index("</wsa:MessageID>")],
                            f"<wsa:MessageID>uuid:{str(uuid.uuid4()).upper()}")
        return (
            f'{head}<wsman:SelectorSet><wsman:Selector Name="ShellId">{self.id}</wsman:Selector>'
            f"</wsman:SelectorSet></s:Header><s:Body>{body}</s:Body></s:Envelope>"
        )

    def receive(self, command_id: str | None = None) -> ET.Element:
        attribute = f' CommandId="{command_id}"' if command_id else ""
        answer = post(self.target, self.envelope(
            "receive.request.xml",
            f"<rsp:Receive><rsp:DesiredStream{attribute}>stdout</rsp:DesiredStream></rsp:Receive>",
        ))
        for stream in answer.iter(f"{RSP}Stream"):
            if stream.text:
                data, compressed = unframe(base64.b64decode(stream.text))
                self.compressed_blocks += compressed
                self.pool.receive_data(PSRPPayload(data, StreamType.default, None))
        return answer

    def send(self, command_id: str | None, framed: bytes) -> ET.Element:
        data = base64.b64encode(framed).decode()
        attribute = f' CommandId="{command_id}"' if command_id else ""
        return post(self.target, self.envelope(
            "send.request.xml",
            f'<rsp:Send><rsp:Stream Name="stdin"{attribute}>{data}</rsp:Stream></rsp:Send>',
        ))

    def events(self, command_id: str | None = None):
        while True:
            event = self.pool.next_event()
            if event is not None:
                yield event
                continue
            answer = self.receive(command_id)
            assert answer.find(f"{SOAP}Body/{SOAP}Fault") is None, ET.tostring(answer)

    def delete(self) -> None:
        post(self.target, self.envelope("receive.request.xml", "").replace(
            "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive",
            "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"))


def run_pipeline(target: Target, shell: Shell, text: str) -> list:
    """The outputs of `Write-Output 'text'` run in the shell's opened pool, its
    CREATE_PIPELINE sent in two stored blocks."""
    ps = ClientPowerShell(shell.pool)
    ps.add_script(f"Write-Output '{text}'")
    ps.start()
    command_id = str(ps.pipeline_id).upper()
    command = post(target, shell.envelope(
        "receive.request.xml",
        f'<rsp:CommandLine CommandId="{command_id}"><rsp:Command></rsp:Command>'
        "<rsp:Arguments></rsp:Arguments></rsp:CommandLine>",
    ).replace("windows/shell/Receive", "windows/shell/Command"))
    assert command.find(f"{SOAP}Body/{SOAP}Fault") is None, ET.tostring(command)
    payload = shell.pool.data_to_send().data
    answer = shell.send(command_id, stored(payload, len(payload) // 3))
    assert answer.find(f"{SOAP}Body/{RSP}SendResponse") is not None, ET.tostring(answer)
    outputs = []
    for event in shell.events(command_id):
        if isinstance(event, PipelineOutputEvent):
            outputs.append(event.data)
        elif isinstance(event, PipelineStateEvent):
            assert event.state == PSInvocationState.Completed
            break
    return outputs


@pytest.fixture
def target(ps_daemon) -> Target:
    return Target(ps_daemon, "http", login_for("run-as"))


def test_a_pool_opens_and_a_pipeline_runs_with_xpress_compression(target):
    shell = Shell(target)
    try:
        mode = shell.created.findtext(f"{SOAP}Body/{RSP}Shell/{RSP}CompressionMode")
        assert mode == "XpressCompression", ET.tostring(shell.created)
        # The pool's opening messages, compressed by wsmand, decompressed by dissect.util.
        for _ in shell.events():
            if shell.pool.state == RunspacePoolState.Opened:
                break
        # A pipeline whose CREATE_PIPELINE goes in a Send, in two stored blocks.
        text = "wsmand compresses this line, " * 40
        assert run_pipeline(target, shell, text) == [text]
        # The output was long enough for wsmand to compress it, not store it.
        assert shell.compressed_blocks >= 1
    finally:
        shell.delete()


def test_send_data_that_is_not_xpress_is_refused(target):
    shell = Shell(target)
    try:
        for _ in shell.events():
            if shell.pool.state == RunspacePoolState.Opened:
                break
        # A block that says it is compressed (lengths differ) but is no Huffman block.
        bad = struct.pack("<HH", 599, 299) + bytes(300)
        answer = shell.send(None, bad)
        fault = answer.find(f"{SOAP}Body/{SOAP}Fault")
        assert fault is not None, ET.tostring(answer)
        assert "Xpress" in ET.tostring(fault, encoding="unicode")
    finally:
        shell.delete()


def test_without_compression_the_create_says_so(target):
    shell = Shell(target, compress=False)
    try:
        mode = shell.created.findtext(f"{SOAP}Body/{RSP}Shell/{RSP}CompressionMode")
        assert mode == "NoCompression", ET.tostring(shell.created)
    finally:
        shell.delete()


def test_a_cmd_shell_create_with_compression_is_still_not_understood(target):
    create = (WINDOWS / "shell-create.request.xml").read_text()
    create = create.replace("<wsa:MessageID>", COMPRESSION + "<wsa:MessageID>", 1)
    answer = post(target, create)
    code = answer.find(f"{SOAP}Body/{SOAP}Fault/{SOAP}Code/{SOAP}Value")
    assert code is not None and code.text.endswith(":MustUnderstand"), ET.tostring(answer)


def test_a_send_whose_streams_together_inflate_past_the_input_queue_is_refused(target):
    """Each stream alone is a whole message whose line to pwsh (256 KiB, 350 KB in base64)
    fits the shell's input queue (MaxEnvelopeSize, 512000 bytes); the two of one Send do not.
    Both are a few KB compressed. The Send is refused whole with w:QuotaLimit before any of it
    is queued: the pool then runs a pipeline as if the Send had never come."""
    shell = Shell(target)
    try:
        for _ in shell.events():
            if shell.pool.state == RunspacePoolState.Opened:
                break
        streams = "".join(
            f'<rsp:Stream Name="stdin">{base64.b64encode(xpress_bomb.message(object_id, 4)).decode()}'
            "</rsp:Stream>"
            for object_id in (1000, 1001)
        )
        answer = post(target, shell.envelope("send.request.xml", f"<rsp:Send>{streams}</rsp:Send>"))
        fault = answer.find(f"{SOAP}Body/{SOAP}Fault")
        assert fault is not None, ET.tostring(answer)[:2000]
        subcode = fault.findtext(f"{SOAP}Code/{SOAP}Subcode/{SOAP}Value")
        assert subcode is not None and subcode.endswith(":QuotaLimit"), ET.tostring(fault)
        assert "bytes a PowerShell shell takes in one request" in ET.tostring(fault, encoding="unicode")
        assert run_pipeline(target, shell, "after the refused Send") == ["after the refused Send"]
        # One stream alone inflates within the budget (and is then pwsh's to judge).
        alone = base64.b64encode(xpress_bomb.message(1000, 4)).decode()
        answer = post(target, shell.envelope(
            "send.request.xml", f'<rsp:Send><rsp:Stream Name="stdin">{alone}</rsp:Stream></rsp:Send>'))
        assert answer.find(f"{SOAP}Body/{RSP}SendResponse") is not None, ET.tostring(answer)[:2000]
    finally:
        shell.delete()
