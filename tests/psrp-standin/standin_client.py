"""Drives the pwsh stand-in directly over its stdin/stdout with psrpcore's client classes: the
stand-in's own check (tests/interop/test_psrp.py), and the baseline of the bridge's cost."""

import base64
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

from psrpcore import (
    ClientPowerShell,
    ClientRunspacePool,
    PipelineOutputEvent,
    PipelineStateEvent,
    PSRPPayload,
    StreamType,
)
from psrpcore.types import RunspacePoolState

STANDIN = Path(__file__).with_name("pwsh_standin.py")
EMPTY = uuid.UUID(int=0)


class Direct:
    """One stand-in process and a client runspace pool on its stdio."""

    def __init__(self, *args):
        self.process = subprocess.Popen(
            [sys.executable, str(STANDIN), "-s", "-NoLogo", "-NoProfile", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.pool = ClientRunspacePool()
        self.pool.open()
        self.pump(EMPTY)
        while self.pool.state != RunspacePoolState.Opened:
            self.read_event()

    def write(self, line):
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def pump(self, guid):
        while True:
            payload = self.pool.data_to_send()
            if payload is None:
                return
            data = base64.b64encode(payload.data).decode()
            self.write(f"<Data Stream='Default' PSGuid='{payload.pipeline_id or guid}'>{data}</Data>")

    def read_event(self):
        """Reads lines until psrpcore has an event; returns it."""
        while True:
            event = self.pool.next_event()
            if event is not None:
                return event
            line = self.process.stdout.readline()
            if not line:
                raise EOFError("the stand-in exited")
            element = ET.fromstring(line)
            if element.tag == "Data":
                data = base64.b64decode(element.text or "")
                self.pool.receive_data(PSRPPayload(data, StreamType.default, None))

    def run(self, script):
        """Runs a script; returns (outputs, final state)."""
        ps = ClientPowerShell(self.pool)
        ps.add_script(script)
        ps.start()
        self.write(f"<Command PSGuid='{ps.pipeline_id}' />")
        self.pump(ps.pipeline_id)
        outputs = []
        while True:
            event = self.read_event()
            if isinstance(event, PipelineOutputEvent):
                outputs.append(event.data)
            elif isinstance(event, PipelineStateEvent):
                self.write(f"<Close PSGuid='{ps.pipeline_id}' />")
                return outputs, event.state

    def close(self):
        self.write(f"<Close PSGuid='{EMPTY}' />")
        self.process.stdin.close()
        self.process.wait(timeout=10)


if __name__ == "__main__":
    direct = Direct()
    print(direct.run(sys.argv[1] if len(sys.argv) > 1 else "Write-Output 1"))
    direct.close()
