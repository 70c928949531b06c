"""pypsrp's WSMan.invoke (from PyPI, unchanged) scanning and installing a host's updates through
the real wsmand and a real PackageKit: Debian's packagekitd with its dummy backend (three
updates: gtkhtml2 as security, a kernel whose restart flag is `system`, powertop), polkitd and a
D-Bus system bus of their own, in a mount namespace of their own (as the Rust harness
`crates/wsman-test/src/packagekit.rs` runs them). The scan's embedded MSFT_WUUpdate instances
are sent back to InstallUpdates as they came.
"""

from __future__ import annotations

import copy
import os
import shutil
import signal
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from pathlib import Path

import pytest
from pypsrp.exceptions import WSManFaultError
from pypsrp.wsman import WSMan

from conftest import SERVICE_ACCOUNT, SERVICE_PASSWORD, Account, running_daemon

NAMESPACE = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/Microsoft/Windows/WindowsUpdate/"
OPERATIONS = NAMESPACE + "MSFT_WUOperations"
SETTINGS = NAMESPACE + "MSFT_WUSettings"
UPDATE = NAMESPACE + "MSFT_WUUpdate"
PLAIN = "interop-plain-updates"
PLAIN_PASSWORD = "Plain-Updates-42!"
PACKAGEKITD = "/usr/libexec/packagekitd"
POLKITD = "/usr/lib/polkit-1/polkitd"

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <listen>unix:path=@BUS@</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/> <allow own="*"/>
    <allow send_type="method_call"/> <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/> <allow receive_type="method_return"/>
    <allow receive_type="error"/> <allow receive_type="signal"/>
  </policy>
</busconfig>
"""

START = """set -e
mkdir -p /run/dbus /var/lib/PackageKit /var/cache/PackageKit
mount -t tmpfs tmpfs /run/dbus
mount -t tmpfs tmpfs /var/lib/PackageKit
mount -t tmpfs tmpfs /var/cache/PackageKit
dbus-daemon --config-file="$1/bus.conf" --nofork &
for i in $(seq 100); do [ -S /run/dbus/system_bus_socket ] && break; sleep 0.1; done
"$3" --no-debug &
exec "$4" --backend "$2" --disable-timer
"""


@contextmanager
def packagekit(backend: str = "dummy"):
    """packagekitd with `backend` on a bus of its own; yields the bus address."""
    missing = [p for p in (PACKAGEKITD, POLKITD) if not Path(p).exists()]
    missing += [t for t in ("dbus-daemon", "dbus-send", "unshare") if shutil.which(t) is None]
    why = f"needs root and {missing}" if missing or os.geteuid() != 0 else None
    if why:
        if os.environ.get("WSMAN_TEST_REQUIRE_PACKAGEKIT"):
            pytest.fail(why)
        pytest.skip(why)
    work = Path(tempfile.mkdtemp(prefix="wsman-interop-packagekit-"))
    (work / "bus.conf").write_text(BUS_CONFIG.replace("@BUS@", str(work / "bus")))
    log = open(work / "packagekitd.log", "wb")
    process = subprocess.Popen(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", START, "sh", str(work), backend, POLKITD, PACKAGEKITD],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    address = f"unix:path={work / 'bus'}"
    try:
        deadline = time.monotonic() + 30
        while True:
            ready = subprocess.run(
                ["dbus-send", f"--bus={address}", "--print-reply", "--dest=org.freedesktop.PackageKit",
                 "/org/freedesktop/PackageKit", "org.freedesktop.DBus.Properties.Get",
                 "string:org.freedesktop.PackageKit", "string:BackendName"],
                capture_output=True,
            )
            if ready.returncode == 0:
                break
            assert process.poll() is None, (work / "packagekitd.log").read_text()
            assert time.monotonic() < deadline, "packagekitd did not answer within 30 s"
            time.sleep(0.1)
        yield address
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def updates_daemon():
    with packagekit() as bus:
        accounts = (
            Account(SERVICE_ACCOUNT, SERVICE_PASSWORD, "root"),
            Account(PLAIN, PLAIN_PASSWORD, "nobody"),
        )
        with running_daemon(accounts, env_extra={"DBUS_SYSTEM_BUS_ADDRESS": bus}) as started:
            yield started


def wsman(daemon, username: str = SERVICE_ACCOUNT, password: str = SERVICE_PASSWORD) -> WSMan:
    # An OperationTimeout longer than the dummy backend's install, which sleeps through its steps.
    return WSMan(
        "127.0.0.1",
        port=daemon.http_port,
        ssl=False,
        auth="basic",
        username=username,
        password=password,
        no_proxy=True,
        connection_timeout=10,
        operation_timeout=120,
        read_timeout=150,
        encryption="never",
    )


def scan(client: WSMan, criteria: str = "IsInstalled=0") -> list[ET.Element]:
    body = ET.Element(f"{{{OPERATIONS}}}ScanForUpdates_INPUT")
    ET.SubElement(body, f"{{{OPERATIONS}}}SearchCriteria").text = criteria
    response = client.invoke(OPERATIONS + "/ScanForUpdates", OPERATIONS, body)
    output = response.find(f".//{{{OPERATIONS}}}ScanForUpdates_OUTPUT")
    assert output is not None, ET.tostring(response)
    assert output.findtext(f"{{{OPERATIONS}}}ReturnValue") == "0"
    return output.findall(f"{{{OPERATIONS}}}Updates")


def settings(client: WSMan, method: str, output: str) -> str | None:
    body = ET.Element(f"{{{SETTINGS}}}{method}_INPUT")
    response = client.invoke(f"{SETTINGS}/{method}", SETTINGS, body)
    return response.findtext(f".//{{{SETTINGS}}}{output}")


def test_scan_install_rescan_and_reboot(updates_daemon):
    with wsman(updates_daemon) as client:
        updates = scan(client, "IsInstalled=0 AND Type='Software'")
        assert len(updates) == 3, [ET.tostring(u) for u in updates]
        by_title = {u.findtext(f"{{{UPDATE}}}Title").split()[0]: u for u in updates}
        assert set(by_title) == {"gtkhtml2", "kernel", "powertop"}
        assert by_title["gtkhtml2"].findtext(f"{{{UPDATE}}}MsrcSeverity") == "Important"
        assert by_title["kernel"].findtext(f"{{{UPDATE}}}KBArticleID") == "CVE-2007-3381"

        # The embedded instances back, as the scan gave them.
        body = ET.Element(f"{{{OPERATIONS}}}InstallUpdates_INPUT")
        for update in updates:
            body.append(copy.deepcopy(update))
        ET.SubElement(body, f"{{{OPERATIONS}}}DownloadOnly").text = "false"
        response = client.invoke(OPERATIONS + "/InstallUpdates", OPERATIONS, body)
        assert response.findtext(f".//{{{OPERATIONS}}}RebootRequired") == "true", ET.tostring(response)

        assert len(scan(client)) < 3
        assert settings(client, "IsPendingReboot", "PendingReboot") == "true"
        installed = settings(client, "GetLastUpdateInstallationDate", "LastUpdateInstallationDate")
        assert installed is not None


def test_a_plain_account_is_refused(updates_daemon):
    body = ET.Element(f"{{{OPERATIONS}}}InstallUpdates_INPUT")
    ET.SubElement(body, f"{{{OPERATIONS}}}Updates").text = "powertop;1.8-1.fc8;i386;fedora"
    with wsman(updates_daemon, PLAIN, PLAIN_PASSWORD) as client:
        with pytest.raises(WSManFaultError) as refused:
            client.invoke(OPERATIONS + "/InstallUpdates", OPERATIONS, body)
    assert refused.value.code == 5, refused.value


def test_criteria_windows_clients_do_not_send_are_refused(updates_daemon):
    with wsman(updates_daemon) as client:
        with pytest.raises(WSManFaultError) as refused:
            scan(client, "IsInstalled=1")
    assert refused.value.code == 0x80240032, refused.value
