#!/usr/bin/env python3
"""A stand-in for `pwsh -s` (PowerShell's server mode), for tests only.

PowerShell is not installable from any registry the test machines reach, so the bridge
between WinRM shells of the PowerShell plug-in and `pwsh -s` is tested against this program.
It speaks the out-of-process transport `pwsh -s` speaks on stdin/stdout (one XML element per
line: `<Data Stream='Default|PromptResponse' PSGuid='...'>base64</Data>`, `<DataAck/>`,
`<Command/>`/`<CommandAck/>`, `<Signal/>`/`<SignalAck/>`, `<Close/>`/`<CloseAck/>`, each with
a `PSGuid` attribute) and runs the PowerShell Remoting Protocol with PyPI's `psrpcore`
(server-side runspace pool and pipelines).

It is NOT PowerShell. It "runs" a script one statement at a time (statements split on new
lines and `;`), knowing only:

* `Write-Output X`, `echo X`, or a quoted string: writes X;
* `Get-Date`: writes the current date and time as text;
* `whoami`, `[Environment]::UserName`, `$env:USER`: the Linux user it runs as;
* `Start-Sleep N` (or `-Seconds N`): sleeps, stopped early by a stop signal;
* `throw "msg"`: fails the pipeline with that message (state Failed, as pwsh does);
* `Write-Error X`: writes an error record and goes on;
* `exit N`: ends the script;
* anything else: a CommandNotFoundException error record, as pwsh writes it.

pypsrp's `Client.execute_ps` wraps the script in `Invoke-Expression -Command <script> |
Out-String -Stream`; the stand-in unwraps that.

`--mode` makes it fail the ways a real pwsh could, so the bridge's answers can be tested:

* `normal` (default);
* `exit-mid-pipeline`: writes one output object of a pipeline, then exits with status 3;
* `garbage`: when a pipeline starts, writes a line that is not the protocol's XML;
* `silent`: reads everything and never answers anything.
"""

import argparse
import base64
import datetime
import os
import pwd
import re
import sys
import threading
import uuid
import xml.etree.ElementTree as ET

from psrpcore import (
    CreatePipelineEvent,
    PSRPPayload,
    ServerPipeline,
    ServerRunspacePool,
    StreamType,
)
from psrpcore._base import Pipeline as BasePipeline
from psrpcore.types import (
    ErrorCategory,
    ErrorCategoryInfo,
    ErrorRecord,
    NETException,
    PSInvocationState,
)

EMPTY = uuid.UUID(int=0)


class StandIn:
    """The server session: one runspace pool and its pipelines."""

    def __init__(self, mode):
        self.mode = mode
        self.pool = ServerRunspacePool()
        self.lock = threading.RLock()
        self.out = sys.stdout
        self.stops = {}

    def write_line(self, line):
        with self.lock:
            self.out.write(line + "\n")
            self.out.flush()

    def flush(self):
        """Writes every PSRP payload psrpcore has queued as Data packets."""
        with self.lock:
            while True:
                payload = self.pool.data_to_send()
                if payload is None:
                    return
                stream = "PromptResponse" if payload.stream_type == StreamType.prompt_response else "Default"
                guid = payload.pipeline_id or EMPTY
                data = base64.b64encode(payload.data).decode()
                self.write_line(f"<Data Stream='{stream}' PSGuid='{guid}'>{data}</Data>")

    def handle(self, line):
        element = ET.fromstring(line)
        guid = uuid.UUID(element.attrib["PSGuid"])
        if self.mode == "silent":
            return True
        if element.tag == "Data":
            self.on_data(guid, base64.b64decode(element.text or ""))
            self.write_line(f"<DataAck PSGuid='{guid}' />")
        elif element.tag == "Command":
            with self.lock:
                ServerPipeline(self.pool, guid)
                self.stops[guid] = threading.Event()
            self.write_line(f"<CommandAck PSGuid='{guid}' />")
        elif element.tag == "Signal":
            self.on_signal(guid)
            self.write_line(f"<SignalAck PSGuid='{guid}' />")
        elif element.tag == "Close":
            if guid == EMPTY:
                self.write_line(f"<CloseAck PSGuid='{guid}' />")
                return False
            with self.lock:
                pipeline = self.pool.pipeline_table.get(guid)
                if pipeline is not None and pipeline.state != PSInvocationState.Running:
                    pipeline.close()
            self.write_line(f"<CloseAck PSGuid='{guid}' />")
        return True

    def on_data(self, guid, data):
        with self.lock:
            self.pool.receive_data(PSRPPayload(data, StreamType.default, None if guid == EMPTY else guid))
            while True:
                event = self.pool.next_event()
                if event is None:
                    break
                if isinstance(event, CreatePipelineEvent):
                    pipeline = self.pool.pipeline_table[event.pipeline_id]
                    # pwsh sends PIPELINE_STATE for terminal states only (Completed, Failed,
                    # Stopped); psrpcore's start() would queue a Running one.
                    BasePipeline._change_state(pipeline, PSInvocationState.Running)
                    threading.Thread(target=self.run, args=(pipeline,), daemon=True).start()
            self.flush()

    def on_signal(self, guid):
        with self.lock:
            stop = self.stops.get(guid)
            if stop is not None:
                stop.set()
            pipeline = self.pool.pipeline_table.get(guid)
            if pipeline is not None and pipeline.state == PSInvocationState.Running:
                pipeline.stop()
            self.flush()

    def run(self, pipeline):
        """Runs a pipeline's script on its own thread, as pwsh runs each in a runspace."""
        stop = self.stops.setdefault(pipeline.pipeline_id, threading.Event())
        script = script_of(pipeline.metadata)
        if self.mode == "garbage":
            self.write_line("this is not the out-of-process protocol <Data")
            return
        try:
            for statement in statements(script):
                if stop.is_set():
                    return
                if not self.statement(pipeline, statement, stop):
                    break
                if self.mode == "exit-mid-pipeline":
                    os._exit(3)
        except Failed as failure:
            with self.lock:
                if pipeline.state == PSInvocationState.Running:
                    record = error_record(str(failure), "RuntimeException", ErrorCategory.OperationStopped)
                    pipeline._change_state(PSInvocationState.Failed, error=record)
                self.flush()
            return
        with self.lock:
            if pipeline.state == PSInvocationState.Running:
                pipeline.complete()
            self.flush()

    def statement(self, pipeline, text, stop):
        """Runs one statement; False ends the script."""
        words = text.split(None, 1)
        verb = words[0].lower()
        rest = words[1].strip() if len(words) > 1 else ""
        if verb in ("write-output", "echo"):
            self.output(pipeline, unquote(rest))
        elif text[0] in "'\"":
            self.output(pipeline, unquote(text))
        elif verb == "get-date":
            self.output(pipeline, datetime.datetime.now().strftime("%A, %B %d, %Y %I:%M:%S %p"))
        elif verb == "whoami" or text.lower() in ("[environment]::username", "$env:user"):
            self.output(pipeline, pwd.getpwuid(os.geteuid()).pw_name)
        elif verb == "start-sleep":
            seconds = float(re.sub(r"(?i)^-seconds\s+", "", rest) or "0")
            stop.wait(seconds)
        elif verb == "throw":
            raise Failed(unquote(rest) or "ScriptHalted")
        elif verb == "write-error":
            with self.lock:
                exception = NETException(Message=unquote(rest))
                pipeline.write_error(exception, ErrorCategoryInfo(Category=ErrorCategory.NotSpecified))
                self.flush()
        elif verb == "exit":
            return False
        else:
            with self.lock:
                message = (
                    f"The term '{words[0]}' is not recognized as a name of a cmdlet, function, "
                    "script file, or executable program."
                )
                pipeline.write_error(
                    NETException(Message=message),
                    ErrorCategoryInfo(Category=ErrorCategory.ObjectNotFound, Reason="CommandNotFoundException"),
                    fully_qualified_error_id="CommandNotFoundException",
                )
                self.flush()
        return True

    def output(self, pipeline, value):
        with self.lock:
            if pipeline.state == PSInvocationState.Running:
                pipeline.write_output(value)
            self.flush()


class Failed(Exception):
    """A `throw`: the pipeline fails."""


def error_record(message, reason, category):
    return ErrorRecord(
        Exception=NETException(Message=message),
        CategoryInfo=ErrorCategoryInfo(Category=category, Reason=reason),
        FullyQualifiedErrorId=message,
    )


def script_of(powershell):
    """The script text of a pipeline: a script command's text, Invoke-Expression's -Command,
    or the command line of the first command and its positional arguments."""
    commands = powershell.commands if powershell is not None else []
    if not commands:
        return ""
    first = commands[0]
    if first.is_script:
        return first.command_text
    if first.command_text.lower() == "invoke-expression":
        for name, value in first.parameters:
            if name is None or name.lower() == "command":
                return str(value)
        return ""
    arguments = " ".join(f"'{value}'" for name, value in first.parameters if name is None)
    return f"{first.command_text} {arguments}".strip()


def statements(script):
    for line in script.splitlines():
        for statement in line.split(";"):
            statement = statement.strip()
            if statement and not statement.startswith("#"):
                yield statement


def unquote(text):
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def main():
    parser = argparse.ArgumentParser(description="a pwsh -s stand-in for tests")
    parser.add_argument("-s", action="store_true", help="server mode (the only mode)")
    parser.add_argument("-NoLogo", action="store_true")
    parser.add_argument("-NoProfile", action="store_true")
    parser.add_argument("--mode", default="normal", choices=["normal", "exit-mid-pipeline", "garbage", "silent"])
    args = parser.parse_args()
    stand_in = StandIn(args.mode)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        if not stand_in.handle(line):
            break


if __name__ == "__main__":
    main()
