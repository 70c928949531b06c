//! A real PackageKit for the update tests: Debian's `packagekitd` with a test backend
//! (`dummy`: three updates, gtkhtml2 as security, a kernel that needs a reboot, powertop;
//! `test_fail`: every transaction fails), on a D-Bus system bus of its own, with polkitd.
//!
//! packagekitd clears its environment and always connects to `/run/dbus/system_bus_socket`,
//! and it asks polkit before installing; so it runs in a mount namespace of its own (`unshare
//! -m`) where a tmpfs covers `/run/dbus` (and PackageKit's state directories), with its own
//! `dbus-daemon` listening there and, for the test, at a socket in a temporary directory
//! ([`PackageKitBus::address`]), which wsmand and `pkcon` reach through
//! `DBUS_SYSTEM_BUS_ADDRESS`. Nothing is installed on the machine: the backends are
//! PackageKit's own test backends. Everything is killed on drop.
//!
//! When a tool is missing or the test is not root, [`PackageKitBus::start`] prints why and
//! returns `None`; `WSMAN_TEST_REQUIRE_PACKAGEKIT=1` makes that a failure.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{self, Finished};

/// Where Debian installs the daemons.
pub const PACKAGEKITD: &str = "/usr/libexec/packagekitd";
pub const POLKITD: &str = "/usr/lib/polkit-1/polkitd";

/// A bus policy that lets every local peer own and call anything: the bus is the test's own.
const BUS_CONFIG: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <listen>unix:path=@BUS@</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
  </policy>
</busconfig>
"#;

/// What runs inside the namespace: the tmpfs mounts, the bus, polkitd, then packagekitd.
const START: &str = r#"set -e
mkdir -p /run/dbus /var/lib/PackageKit /var/cache/PackageKit
mount -t tmpfs tmpfs /run/dbus
mount -t tmpfs tmpfs /var/lib/PackageKit
mount -t tmpfs tmpfs /var/cache/PackageKit
dbus-daemon --config-file="$1/bus.conf" --nofork &
for i in $(seq 100); do [ -S /run/dbus/system_bus_socket ] && break; sleep 0.1; done
"$3" --no-debug &
exec "$4" --backend "$2" --disable-timer
"#;

/// packagekitd with a test backend on a bus of its own.
pub struct PackageKitBus {
    dir: tempfile::TempDir,
    child: Child,
}

impl PackageKitBus {
    /// packagekitd with `backend` (`dummy`, `test_fail`), ready to answer; `None` (with the
    /// reason printed) where it cannot run.
    pub fn start(backend: &str) -> Option<Self> {
        if let Some(missing) = Self::missing() {
            let why = format!("PackageKit tests need {missing}");
            assert!(
                std::env::var_os("WSMAN_TEST_REQUIRE_PACKAGEKIT").is_none(),
                "{why}"
            );
            eprintln!("skipped: {why}");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("wsman-packagekit")
            .tempdir()
            .expect("temporary directory");
        let bus = dir.path().join("bus");
        std::fs::write(
            dir.path().join("bus.conf"),
            BUS_CONFIG.replace("@BUS@", &bus.display().to_string()),
        )
        .expect("bus.conf");
        let log = std::fs::File::create(dir.path().join("packagekitd.log")).expect("log file");
        let child = {
            use std::os::unix::process::CommandExt as _;
            Command::new("unshare")
                .args(["-m", "--propagation", "private", "sh", "-c", START, "sh"])
                .arg(dir.path())
                .args([backend, POLKITD, PACKAGEKITD])
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log file"))
                .stderr(log)
                .process_group(0)
                .spawn()
                .expect("unshare")
        };
        let mut started = Self { dir, child };
        started.wait_ready();
        Some(started)
    }

    /// What this host lacks to run the daemons here, if anything.
    fn missing() -> Option<String> {
        let tools = [
            PACKAGEKITD,
            POLKITD,
            "/usr/bin/dbus-daemon",
            "/usr/bin/pkcon",
        ];
        if let Some(tool) = tools.iter().find(|t| !Path::new(t).exists()) {
            return Some(format!(
                "{tool} (Debian's packagekit, polkitd, dbus-daemon)"
            ));
        }
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
        (!root).then(|| "root (a mount namespace of its own)".to_owned())
    }

    /// Wait until PackageKit answers on the bus.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answered = Command::new("dbus-send")
                .arg(format!("--bus={}", self.address()))
                .args([
                    "--print-reply",
                    "--dest=org.freedesktop.PackageKit",
                    "/org/freedesktop/PackageKit",
                    "org.freedesktop.DBus.Properties.Get",
                    "string:org.freedesktop.PackageKit",
                    "string:BackendName",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if answered {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("packagekitd ended ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "packagekitd did not answer within 30 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The bus's address for clients outside the namespace (`DBUS_SYSTEM_BUS_ADDRESS`).
    pub fn address(&self) -> String {
        format!("unix:path={}", self.socket().display())
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("bus")
    }

    /// What the daemons wrote.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("packagekitd.log")).unwrap_or_default()
    }

    /// `pkcon ARGS` against this PackageKit, bounded by `deadline`.
    pub fn pkcon(&self, args: &[&str], deadline: Duration) -> Finished {
        process::run(
            Command::new("pkcon")
                .args(args)
                .env("DBUS_SYSTEM_BUS_ADDRESS", self.address()),
            None,
            deadline,
        )
    }
}

impl Drop for PackageKitBus {
    fn drop(&mut self) {
        // The process group: the shell became packagekitd; the bus and polkitd are its
        // children.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-TERM", "--", &group])
            .stderr(Stdio::null())
            .status();
        if process::wait_until(&mut self.child, Duration::from_secs(5)).is_none() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &group])
                .stderr(Stdio::null())
                .status();
            let _ = self.child.wait();
        }
    }
}
