//! The el9 rpms of `scripts/rpm.sh` (debug binaries, revisions 1 and 2) installed with the
//! host's `rpm --root` into a real systemd booted as PID 1 of its own namespaces over the cached
//! Debian root (`wsman_test::systemd`; `rpm` reaches it through `/proc/PID/root`, so the
//! scriptlets run chrooted in that system and its `systemctl` talks to that systemd), the
//! host's `winrm identify` reaching the installed daemon on 127.0.0.1 after every step:
//!
//! - first install (wsmand and wsmand-selinux, `--nodeps`: the root is Debian's, with no rpm
//!   database of its libraries): quiet; wsmand enabled through the preset and started,
//!   wsmand-mgmt disabled; the groups and the management service's user made; wsmand-selinux's
//!   scriptlets silent without SELinux;
//! - upgrade to revision 2: the running daemon and management service (started by hand, as the
//!   preset leaves it disabled) restarted onto the new programs, and said so; a detached shell
//!   gone; wsmand-mgmt still disabled;
//! - disable + reinstall: still disabled, and (running) restarted; mask + reinstall: masked and
//!   stopped; `RESTART_ON_UPGRADE=no` in `/etc/sysconfig/wsmand`: nothing restarted, and said;
//! - erase: both stopped and disabled, the programs gone, `/etc/wsmand` kept, the state
//!   directory, the user and the member-less groups gone, a group with a member kept and named;
//! - reinstall: a first installation again, answering with the kept configuration;
//! - and, in an overlay of the same root that is never booted (a container's case), install
//!   and erase quiet, the preset's link made offline, the accounts made and removed.
//!
//! Every step's failures are collected and the test fails at its end with all of them.
//! Skipped with a printed reason where systemd cannot be booted or rpm is missing
//! (`WSMAN_TEST_REQUIRE_SYSTEMD=1` and `WSMAN_TEST_REQUIRE_RPM=1` make those failures).

#[path = "operator/booted.rs"]
mod booted;
#[path = "operator/steps.rs"]
mod steps;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use booted::{configure, start_and_wait, winrs_as, ACCOUNT, PASSWORD};
use steps::{Steps, GROUPS};
use wsman_test::process;
use wsman_test::systemd::BootedSystemd;
use wsman_test::{binaries, free_port};

/// A Linux account the test creates inside, made a member of a package group before erase.
const MEMBER: &str = "rpmmember";

impl Steps<'_> {
    /// The host's `rpm` with `args` on the booted system; what it printed (a failure when it
    /// does not succeed). It runs in the booted system's mount and PID namespaces without its
    /// root: there the host's files are what the namespace was made from (the host's rpm, the
    /// packages under /tmp) and the booted root is the overlay's mount point, which `--root`
    /// names as a plain directory (SQLite would resolve `/proc/PID/root` as a path). So the
    /// scriptlets run chrooted in the booted system, in its PID namespace, and its systemd
    /// answers their `systemctl` as it answers its own.
    fn rpm(&mut self, args: &[&str]) -> String {
        let mount_point = std::fs::read_link(self.systemd.root()).expect("the booted root");
        assert!(
            mount_point.ends_with("merged") && mount_point != Path::new("/"),
            "the booted root is {}, not the overlay's mount point",
            mount_point.display()
        );
        let mut command = Command::new("nsenter");
        // Debian's rpm keeps its database in the user's home, and warns unless told it is
        // meant; an rpm system's database is /var/lib/rpm.
        command
            .arg("--target")
            .arg(self.systemd.pid().to_string())
            .args(["--mount", "--pid", "rpm", "--root"])
            .arg(&mount_point)
            .args(["--dbpath", "/var/lib/rpm"]);
        if args != ["--initdb"] {
            command.arg("--force-debian");
        }
        command.args(args);
        let ran = process::run(&mut command, None, Duration::from_secs(300));
        self.check(
            ran.status.success(),
            format!("rpm {args:?}: {}", ran.describe()),
        );
        let printed = format!("{}{}", ran.stdout, ran.stderr);
        eprintln!("rpm {args:?} printed:\n{printed}");
        printed
    }
}

/// `scripts/rpm.sh --no-build --no-compress --variant el9 --revision REVISION` into `out`:
/// wsmand's rpm and wsmand-selinux's.
fn build(out: &Path, revision: &str) -> [PathBuf; 2] {
    let root = binaries::workspace_root();
    let mut build = Command::new("bash");
    build
        .arg(root.join("scripts/rpm.sh"))
        .args([
            "--no-build",
            "--no-compress",
            "--variant",
            "el9",
            "--revision",
        ])
        .arg(revision)
        .arg("--output")
        .arg(out.join(revision))
        .current_dir(&root);
    let built = process::run(&mut build, None, Duration::from_secs(300));
    assert_eq!(built.code(), 0, "{}", built.describe());
    let paths: Vec<PathBuf> = built.stdout.lines().map(PathBuf::from).collect();
    [paths[0].clone(), paths[1].clone()]
}

fn rpm_present() -> bool {
    let found = ["rpm", "rpmbuild"].iter().all(|tool| {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(tool).is_file()))
    });
    if !found {
        wsman_test::skipped(
            "WSMAN_TEST_REQUIRE_RPM",
            "rpm or rpmbuild is missing (Debian: rpm)",
        );
    }
    found
}

fn text(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

#[test]
fn the_rpm_installs_upgrades_and_erases_as_its_scriptlets_say() {
    if !rpm_present() {
        return;
    }
    let Some(systemd) = BootedSystemd::boot() else {
        return;
    };
    let started = Instant::now();
    let out = tempfile::tempdir().expect("a directory for the packages");
    let [first, first_selinux] = build(out.path(), "1");
    let [second, _] = build(out.path(), "2");
    let mut steps = Steps::new(&systemd, "rpm");
    steps.begin("initdb");
    steps.run(&["mkdir", "-p", "/var/lib/rpm"]);
    steps.rpm(&["--initdb"]);
    assert!(
        steps.exists("/var/lib/rpm/rpmdb.sqlite"),
        "no rpm database inside the booted system"
    );
    let port = first_install(&mut steps, &first, &first_selinux);
    upgrades_restart_and_keep_disable_and_mask(&mut steps, &second, port);
    erase_removes_what_the_package_made(&mut steps, port);
    steps.begin("reinstall");
    steps.rpm(&["-i", "--nodeps", text(&second)]);
    let state = steps.property("wsmand.service", "UnitFileState");
    steps.equal("wsmand after a reinstall", &state, "enabled");
    steps.answers_identify(port);
    eprintln!("rpm install test took {:?}", started.elapsed());
    assert!(
        steps.failures.is_empty(),
        "{} failures:\n{}",
        steps.failures.len(),
        steps.failures.join("\n")
    );
}

/// First install: quiet, enabled by the preset and started, accounts made; the daemon
/// configured and answering. Returns its port.
fn first_install(steps: &mut Steps, wsmand: &Path, selinux: &Path) -> u16 {
    steps.begin("first install");
    let printed = steps.rpm(&["-i", "--nodeps", text(wsmand), text(selinux)]);
    steps.check(printed.trim().is_empty(), format!("not quiet: {printed:?}"));
    let wsmand_state = steps.property("wsmand.service", "UnitFileState");
    steps.equal("wsmand", &wsmand_state, "enabled");
    let mgmt_state = steps.property("wsmand-mgmt.service", "UnitFileState");
    steps.equal("wsmand-mgmt", &mgmt_state, "disabled");
    let active = steps.property("wsmand.service", "ActiveState");
    steps.equal("wsmand", &active, "active");
    for group in GROUPS {
        steps.run(&["getent", "group", group]);
    }
    let account = steps.run(&["getent", "passwd", "wsmand-mgmt"]).stdout;
    steps.check(
        account.trim_end().ends_with(":/usr/sbin/nologin"),
        format!("wsmand-mgmt user {account:?}"),
    );
    for path in [
        "/etc/pam.d/wsmand",
        "/etc/sysconfig/wsmand",
        "/usr/lib/wsmand/wsmand-session",
    ] {
        steps.run(&["test", "-s", path]);
    }
    let port = free_port();
    configure(steps.systemd, "/usr/bin/wsmand", port);
    steps.run(&["systemctl", "restart", "wsmand.service"]);
    steps.answers_identify(port);
    start_the_console(steps);
    port
}

/// The management service, started by hand (the preset leaves it disabled), serving as the
/// user the package made.
fn start_the_console(steps: &mut Steps) {
    let port = free_port();
    steps.systemd.write_file(
        "/etc/wsmand/mgmt.toml",
        &format!(
            "EnableRemoteManagement = false\nPort = {port}\nBindAddresses = [\"*\"]\n\
             Certificate = \"auto\"\nCredentials = \"os\"\nUnspecifiedClients = \"Allow\"\n\
             AllowedClients = []\nDeniedClients = []\nRequestLog = \"journal\"\n\
             SessionIdleMinutes = 15\nSessionLifetimeHours = 8\n"
        ),
    );
    start_and_wait(steps.systemd, "wsmand-mgmt.service", port);
    let pid = steps.property("wsmand-mgmt.service", "MainPID");
    let owner = steps.run(&["stat", "-c", "%U", &format!("/proc/{pid}")]);
    steps.equal("the console's user", owner.stdout.trim(), "wsmand-mgmt");
}

/// Upgrade: restarted onto the new program, and said so. Disable, mask and
/// RESTART_ON_UPGRADE=no each survive a reinstall, which runs the same scriptlets.
fn upgrades_restart_and_keep_disable_and_mask(steps: &mut Steps, second: &Path, port: u16) {
    steps.begin("upgrade");
    let detached = winrs_as(port, ACCOUNT, PASSWORD, &["-detach", "sleep 600"]);
    steps.check(
        detached.code() == 0,
        format!("-detach: {}", detached.describe()),
    );
    let units = ["wsmand.service", "wsmand-mgmt.service"];
    let before = units.map(|unit| steps.property(unit, "MainPID"));
    let printed = steps.rpm(&["-U", "--nodeps", text(second)]);
    steps.check(
        printed.contains("shells end"),
        format!("not said: {printed:?}"),
    );
    let after = units.map(|unit| steps.property(unit, "MainPID"));
    for ((unit, before), after) in units.iter().zip(&before).zip(&after) {
        steps.check(
            before != after,
            format!("{unit} not restarted ({before}, {after})"),
        );
    }
    let mgmt_state = steps.property("wsmand-mgmt.service", "UnitFileState");
    steps.equal("wsmand-mgmt after the upgrade", &mgmt_state, "disabled");
    steps.answers_identify(port);
    let shell = detached.stdout.trim();
    let attached = winrs_as(port, ACCOUNT, PASSWORD, &[&format!("-attach:{shell}")]);
    steps.check(
        attached.code() != 0,
        "the detached shell outlived the upgrade",
    );

    let reinstall = ["-U", "--nodeps", "--replacepkgs", text(second)];
    steps.begin("disable + reinstall");
    steps.run(&["systemctl", "disable", "wsmand.service"]);
    let before = steps.property("wsmand.service", "MainPID");
    steps.rpm(&reinstall);
    let state = steps.property("wsmand.service", "UnitFileState");
    steps.equal("wsmand", &state, "disabled");
    let after = steps.property("wsmand.service", "MainPID");
    steps.check(before != after, "running, it was not restarted");
    steps.answers_identify(port);

    steps.begin("mask + reinstall");
    steps.run(&["systemctl", "mask", "--now", "wsmand.service"]);
    steps.rpm(&reinstall);
    let state = steps.property("wsmand.service", "UnitFileState");
    steps.equal("wsmand", &state, "masked");
    let active = steps.property("wsmand.service", "ActiveState");
    steps.equal("wsmand", &active, "inactive");
    steps.refuses(port);
    steps.run(&["systemctl", "unmask", "wsmand.service"]);
    steps.run(&["systemctl", "enable", "--now", "wsmand.service"]);
    steps.answers_identify(port);

    steps.begin("RESTART_ON_UPGRADE=no + reinstall");
    steps.run(&[
        "sed",
        "-i",
        "s/^RESTART_ON_UPGRADE=.*/RESTART_ON_UPGRADE=no/",
        "/etc/sysconfig/wsmand",
    ]);
    let before = steps.property("wsmand.service", "MainPID");
    let printed = steps.rpm(&reinstall);
    let after = steps.property("wsmand.service", "MainPID");
    steps.equal("wsmand's MainPID", &after, &before);
    steps.check(
        printed.contains("not restarted"),
        format!("not said: {printed:?}"),
    );
    let kept = steps.run(&[
        "grep",
        "-c",
        "^RESTART_ON_UPGRADE=no",
        "/etc/sysconfig/wsmand",
    ]);
    steps.equal("the kept setting", kept.stdout.trim(), "1");
    steps.answers_identify(port);
}

/// Erase: stopped and disabled, programs, state, user and member-less groups gone; the
/// configuration and a group with a member kept.
fn erase_removes_what_the_package_made(steps: &mut Steps, port: u16) {
    steps.begin("erase");
    steps.run(&["useradd", MEMBER]);
    steps.run(&["usermod", "-aG", "wsmand-admins", MEMBER]);
    let printed = steps.rpm(&["-e", "--nodeps", "wsmand-selinux", "wsmand"]);
    steps.check(
        printed.contains(&format!(
            "kept the group wsmand-admins: it has members ({MEMBER})"
        )),
        format!("the kept group is not named: {printed:?}"),
    );
    steps.refuses(port);
    for unit in ["wsmand.service", "wsmand-mgmt.service"] {
        let active = steps.property(unit, "ActiveState");
        steps.equal(unit, &active, "inactive");
    }
    let links = steps.systemd.exec(&[
        "sh",
        "-c",
        "ls /etc/systemd/system/*.wants/ | grep wsmand || true",
    ]);
    steps.check(
        links.stdout.trim().is_empty(),
        format!("still enabled: {}", links.stdout),
    );
    for gone in [
        "/usr/bin/wsmand",
        "/var/lib/wsmand",
        "/usr/lib/systemd/system/wsmand.service",
    ] {
        steps.check(!steps.exists(gone), format!("{gone} left after erase"));
    }
    steps.check(
        steps.exists("/etc/wsmand/config.toml"),
        "/etc/wsmand/config.toml gone after erase",
    );
    let user = steps.systemd.exec(&["getent", "passwd", "wsmand-mgmt"]);
    steps.check(!user.status.success(), "the user wsmand-mgmt is left");
    for group in [
        "wsmand-wmi-users",
        "wsmand-remote-users",
        "wsmand-event-readers",
        "wsmand-mgmt",
    ] {
        let found = steps.systemd.exec(&["getent", "group", group]);
        steps.check(
            !found.status.success(),
            format!("the group {group} is left"),
        );
    }
    steps.run(&["getent", "group", "wsmand-admins"]);
}

/// What the script of the offline test prints: each step's marker, then what it found.
const OFFLINE_SCRIPT: &str = r#"
mount -t overlay overlay -o "lowerdir=$1,upperdir=$2/upper,workdir=$2/work" "$2/merged" || exit 9
root=$2/merged
shift 2
rpm() { command rpm --root "$root" --dbpath /var/lib/rpm "$@"; }
inside() { chroot "$root" "$@"; }
mkdir -p "$root/var/lib/rpm"
rpm --initdb
printed=$(rpm --force-debian -i --nodeps "$@" 2>&1); echo "install: $?"
echo "install printed: [$printed]"
echo "wanted: [$(ls "$root/etc/systemd/system/multi-user.target.wants/" | grep wsmand | tr '\n' ' ')]"
echo "user: [$(inside getent passwd wsmand-mgmt)]"
echo "groups: [$(inside getent group wsmand-admins wsmand-wmi-users wsmand-remote-users wsmand-event-readers | cut -d: -f1 | tr '\n' ' ')]"
printed=$(rpm --force-debian -e --nodeps wsmand-selinux wsmand 2>&1); echo "erase: $?"
echo "erase printed: [$printed]"
echo "wanted after: [$(ls "$root/etc/systemd/system/multi-user.target.wants/" | grep wsmand | tr '\n' ' ')]"
echo "user after: [$(inside getent passwd wsmand-mgmt)]"
echo "state after: [$(ls -d "$root/var/lib/wsmand" 2>/dev/null)]"
"#;

/// Where systemd does not run (a container, an image build: no `/run/systemd/system`), install
/// and erase are quiet and do their work on files: the preset enables wsmand (a link, as
/// `systemctl enable` offline makes it), the accounts are made; erase removes the link, the
/// accounts and the state. An overlay of the cached Debian root, in a mount namespace of its
/// own, never booted.
#[test]
fn without_systemd_running_the_scriptlets_are_quiet_and_still_enable_and_clean_up() {
    if !rpm_present() {
        return;
    }
    let root = binaries::workspace_root();
    let printed = Command::new("bash")
        .arg(root.join("scripts/sysroot.sh"))
        .arg("--path")
        .output()
        .expect("scripts/sysroot.sh --path");
    let sysroot = PathBuf::from(String::from_utf8_lossy(&printed.stdout).trim());
    let root_user = Command::new("id").arg("-u").output().expect("id -u").stdout == b"0\n";
    if !root_user || !sysroot.join(".complete").exists() {
        wsman_test::skipped(
            "WSMAN_TEST_REQUIRE_SYSTEMD",
            format!("not root, or no cached root at {}", sysroot.display()),
        );
        return;
    }
    let out = tempfile::tempdir().expect("a directory for the packages");
    let [wsmand, selinux] = build(out.path(), "1");
    let overlay = wsman_test::scratch_dir("wsman-rpm-offline-", "the overlay");
    for sub in ["upper", "work", "merged"] {
        std::fs::create_dir(overlay.path().join(sub)).expect("an overlay directory");
    }
    let mut script = Command::new("unshare");
    script
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            OFFLINE_SCRIPT,
            "sh",
        ])
        .arg(&sysroot)
        .arg(overlay.path())
        .arg(&wsmand)
        .arg(&selinux);
    let ran = process::run(&mut script, None, Duration::from_secs(300));
    eprintln!("{}", ran.describe());
    assert!(ran.status.success(), "{}", ran.describe());
    for line in [
        "install: 0",
        "install printed: []",
        "wanted: [wsmand.service ]",
        "groups: [wsmand-admins wsmand-wmi-users wsmand-remote-users wsmand-event-readers ]",
        "erase: 0",
        "erase printed: []",
        "wanted after: []",
        "user after: []",
        "state after: []",
    ] {
        assert!(
            ran.stdout.lines().any(|l| l == line),
            "no line {line:?}: {}",
            ran.describe()
        );
    }
    assert!(
        ran.stdout
            .lines()
            .any(|l| l.starts_with("user: [wsmand-mgmt:") && l.ends_with(":/usr/sbin/nologin]")),
        "{}",
        ran.describe()
    );
}
