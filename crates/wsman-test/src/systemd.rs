//! A real systemd, booted as PID 1 of its own PID, mount, UTS and IPC namespaces, for the tests
//! that manage services or read the journal.
//!
//! systemd is not PID 1 on the test machines. It boots here inside the root file system that
//! `scripts/sysroot.sh` makes with debootstrap (cached), seen through a throwaway overlay so the
//! cached root is never written to and concurrent tests do not share state. Never on the
//! machine's own root: systemd's boot-time cleanup would empty the machine's /tmp and start the
//! host's enabled services.
//!
//! The daemon under test stays on the host and reaches this systemd through its D-Bus socket,
//! `/proc/PID/root/run/dbus/system_bus_socket` ([`BootedSystemd::bus_address`]); commands run
//! inside with `nsenter` ([`BootedSystemd::exec`]). Dropping the value SIGKILLs PID 1, which
//! ends every process of the namespace, and removes the overlay.
//!
//! Without root, without `unshare`, or without the cached root, [`BootedSystemd::boot`] prints
//! why and returns `None` so the caller can skip; `WSMAN_TEST_REQUIRE_SYSTEMD=1` (set by
//! `scripts/test.sh` as root) makes that a failure instead.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{self, Finished};

/// How long a boot may take before the test fails (it takes about a second here).
const BOOT_DEADLINE: Duration = Duration::from_secs(60);

/// A booted systemd; killed, with everything it started, when dropped.
#[derive(Debug)]
pub struct BootedSystemd {
    launcher: Child,
    pid: u32,
    dir: tempfile::TempDir,
}

impl BootedSystemd {
    /// Boot systemd over a fresh overlay of the cached root, and wait until it has finished
    /// starting up. `None` (reason printed) when this machine cannot; panics when it can but
    /// the boot fails.
    pub fn boot() -> Option<BootedSystemd> {
        let root = match usable_root() {
            Ok(root) => root,
            Err(reason) => {
                crate::skipped("WSMAN_TEST_REQUIRE_SYSTEMD", &reason);
                return None;
            }
        };
        let dir = crate::scratch_dir("wsman-systemd-", "the overlay");
        for sub in ["upper", "work", "merged"] {
            std::fs::create_dir(dir.path().join(sub)).expect("create an overlay directory");
        }
        let console =
            std::fs::File::create(dir.path().join("console.log")).expect("create the console log");
        // The overlay is mounted inside the new mount namespace, so it disappears with it.
        let script =
            "mount -t overlay overlay -o \"lowerdir=$1,upperdir=$2/upper,workdir=$2/work\" \
                      \"$2/merged\" && exec chroot \"$2/merged\" /lib/systemd/systemd --system";
        let launcher = Command::new("unshare")
            .args([
                "--pid",
                "--fork",
                "--mount",
                "--uts",
                "--ipc",
                "--propagation",
                "private",
            ])
            .args(["sh", "-c", script, "sh"])
            .arg(&root)
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(console.try_clone().expect("clone the console log handle"))
            .stderr(console)
            .spawn()
            .expect("spawn unshare");
        let mut booted = BootedSystemd {
            launcher,
            pid: 0,
            dir,
        };
        booted.pid = booted.find_pid_one();
        booted.wait_until_started();
        Some(booted)
    }

    /// systemd's process id, as the host sees it.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The booted system's root directory, as the host sees it (`/proc/PID/root`).
    pub fn root(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root", self.pid))
    }

    /// The D-Bus address of its system bus, reachable from the host.
    pub fn bus_address(&self) -> String {
        format!(
            "unix:path={}",
            self.root().join("run/dbus/system_bus_socket").display()
        )
    }

    /// Run `argv` inside the booted system (its namespaces and root), with a deadline.
    pub fn exec(&self, argv: &[&str]) -> Finished {
        let mut command = self.command(argv);
        process::run(&mut command, None, Duration::from_secs(60))
    }

    /// Like [`exec`](Self::exec), panicking with the output unless the command succeeds.
    pub fn exec_ok(&self, argv: &[&str]) -> Finished {
        let finished = self.exec(argv);
        assert!(
            finished.status.success(),
            "{argv:?} inside the booted systemd failed: {}",
            finished.describe()
        );
        finished
    }

    /// `nsenter` into the booted system, ready to run `argv`.
    pub fn command(&self, argv: &[&str]) -> Command {
        let mut command = Command::new("nsenter");
        command
            .arg("--target")
            .arg(self.pid.to_string())
            .args(["--mount", "--pid", "--uts", "--ipc", "--root", "--wd"])
            .args(argv);
        command
    }

    /// Write a file inside the booted system (e.g. a unit under `/etc/systemd/system`).
    pub fn write_file(&self, path: &str, contents: &str) {
        let target = self.root().join(path.trim_start_matches('/'));
        std::fs::write(&target, contents)
            .unwrap_or_else(|e| panic!("write {}: {e}", target.display()));
    }

    /// Every service unit file `systemctl list-unit-files` lists inside, as (unit, state),
    /// templates and aliases aside.
    pub fn service_unit_files(&self) -> Vec<(String, String)> {
        let listed = self.exec_ok(&[
            "systemctl",
            "list-unit-files",
            "--type=service",
            "--no-legend",
            "--no-pager",
        ]);
        listed
            .stdout
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                Some((fields.next()?.to_owned(), fields.next()?.to_owned()))
            })
            .filter(|(unit, state)| !unit.contains("@.") && state != "alias")
            .collect()
    }

    /// One property of a unit, as `systemctl show -p NAME --value` prints it.
    pub fn unit_property(&self, unit: &str, property: &str) -> String {
        self.exec_ok(&["systemctl", "show", "-p", property, "--value", unit])
            .stdout
            .trim()
            .to_owned()
    }

    /// Run `journalctl ARGS --no-pager` inside, after a `journalctl --sync`, until `done` holds
    /// for what it printed (journald writes asynchronously); returns that output. Panics when it
    /// does not within 10 s.
    pub fn journal_until(&self, args: &[&str], done: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        let mut argv = vec!["journalctl"];
        argv.extend_from_slice(args);
        argv.push("--no-pager");
        loop {
            self.exec_ok(&["journalctl", "--sync"]);
            let printed = self.exec_ok(&argv).stdout;
            if done(&printed) {
                return printed;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{argv:?} never printed what the test waits for; last output:\n{printed}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What the console printed so far (systemd's own boot messages), for failure messages.
    pub fn console(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("console.log")).unwrap_or_default()
    }

    /// The child of `unshare` once it has become systemd.
    fn find_pid_one(&mut self) -> u32 {
        let launcher = self.launcher.id();
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.launcher.try_wait() {
                panic!(
                    "unshare exited with {status} before systemd booted; console:\n{}",
                    self.console()
                );
            }
            let children = format!("/proc/{launcher}/task/{launcher}/children");
            let child = std::fs::read_to_string(children)
                .ok()
                .and_then(|text| text.split_whitespace().next()?.parse::<u32>().ok());
            if let Some(pid) = child {
                let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
                if exe.is_some_and(|exe| exe.ends_with("systemd")) {
                    return pid;
                }
            }
            assert!(
                started.elapsed() < BOOT_DEADLINE,
                "systemd did not start; console:\n{}",
                self.console()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait for the end of start-up (`running`, or `degraded` when some unit failed).
    fn wait_until_started(&self) {
        let started = Instant::now();
        loop {
            let state = self.exec(&["systemctl", "is-system-running"]);
            match state.stdout.trim() {
                "running" | "degraded" => return self.flush_journal(started),
                _ if started.elapsed() > BOOT_DEADLINE => panic!(
                    "systemd did not finish starting: {}\nconsole:\n{}",
                    state.describe(),
                    self.console()
                ),
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Move journald onto `/var/log/journal`, where the tests read it from the host. The boot's
    /// own `systemd-journal-flush.service` can fail in these namespaces (measured: exit
    /// 219/CGROUP when several systems boot at once on a loaded host), and journald then keeps
    /// writing to `/run` for good; `journalctl --flush` run directly needs no cgroup of its own.
    fn flush_journal(&self, started: Instant) {
        loop {
            let flushed = self.exec(&["journalctl", "--flush"]);
            if flushed.status.success() {
                return;
            }
            assert!(
                started.elapsed() < BOOT_DEADLINE,
                "journald never moved to persistent storage: {}",
                flushed.describe()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for BootedSystemd {
    fn drop(&mut self) {
        // SIGKILL to PID 1 of a PID namespace ends every process in it.
        if self.pid != 0 {
            let _ = Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .status();
        }
        let _ = self.launcher.kill();
        let _ = self.launcher.wait();
    }
}

/// Why systemd cannot be booted on this machine (the test is then skipped).
#[derive(Debug, thiserror::Error)]
enum Unusable {
    #[error("booting systemd in a namespace needs root")]
    NotRoot,
    #[error("{tool} not found (util-linux, coreutils)")]
    MissingTool { tool: &'static str },
    #[error("cannot run {program}: {source}")]
    NotRun {
        program: String,
        source: std::io::Error,
    },
    #[error("no systemd test root at {}: run scripts/sysroot.sh as root", root.display())]
    NoRoot { root: PathBuf },
    #[error("unshare of a PID and mount namespace is not allowed here")]
    NoNamespaces,
}

/// The cached root, or why it cannot be used here.
fn usable_root() -> Result<PathBuf, Unusable> {
    if !is_root() {
        return Err(Unusable::NotRoot);
    }
    for tool in ["unshare", "nsenter", "chroot"] {
        if !on_path(tool) {
            return Err(Unusable::MissingTool { tool });
        }
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/sysroot.sh");
    let printed = Command::new("bash")
        .arg(&script)
        .arg("--path")
        .output()
        .map_err(|source| Unusable::NotRun {
            program: script.display().to_string(),
            source,
        })?;
    let root = PathBuf::from(String::from_utf8_lossy(&printed.stdout).trim());
    if !root.join(".complete").exists() {
        return Err(Unusable::NoRoot { root });
    }
    // unshare may be refused (a container without CAP_SYS_ADMIN): try it once.
    let probe = Command::new("unshare")
        .args(["--pid", "--fork", "--mount", "true"])
        .status()
        .map_err(|source| Unusable::NotRun {
            program: "unshare".to_owned(),
            source,
        })?;
    if !probe.success() {
        return Err(Unusable::NoNamespaces);
    }
    Ok(root)
}

/// Whether this process runs with effective uid 0 (tests that act as other users need it).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    })
}

fn on_path(tool: &str) -> bool {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .any(|dir| Path::new(dir).join(tool).is_file())
}
