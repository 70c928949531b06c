"""Sends WS-Management messages with pywinrm's low-level `Protocol.send_message` (Basic over
HTTP) and prints each answer or fault as one JSON line: the event store's search test drives
it (crates/wsman-test/tests/integration/event_search.rs). Reads JSON from stdin: the endpoint,
the account and the messages; `{context}` in a message is the EnumerationContext of the last
answer that had one."""

import json
import re
import sys

from winrm.exceptions import WSManFaultError
from winrm.protocol import Protocol


def main() -> None:
    job = json.load(sys.stdin)
    protocol = Protocol(
        endpoint=job["endpoint"],
        transport="basic",
        username=job["username"],
        password=job["password"],
        server_cert_validation="ignore",
    )
    context = ""
    for message in job["messages"]:
        try:
            answer = protocol.send_message(message.replace("{context}", context))
            text = answer.decode("utf-8") if isinstance(answer, bytes) else answer
            found = re.search(r"<n:EnumerationContext>([^<]*)</n:EnumerationContext>", text)
            if found:
                context = found.group(1)
            print(json.dumps({"answer": text}))
        except WSManFaultError as fault:
            print(json.dumps({"subcode": fault.fault_subcode, "code": fault.wsman_fault_code, "reason": fault.reason}))
        except Exception as error:  # an HTTP status without a fault (401, ...): its class and text
            print(json.dumps({"subcode": f"{type(error).__name__}: {error}"}))


if __name__ == "__main__":
    main()
