//! The Debian package of `scripts/deb.sh` (from the debug binaries, stripped), as an
//! administrator lives with it, inside a real systemd booted as PID 1 of its own namespaces over
//! the cached Debian root (see `wsman_test::systemd`), sharing the host's network so the host's
//! `winrm identify` reaches the installed daemon on 127.0.0.1 after every step:
//!
//! - the .deb itself: root entry 0755, Depends naming the libraries the binaries link (libc6
//!   with a version, libssl3, zlib1g), the changelog and DEP-5 copyright, no lintian error;
//! - first install: the unit enabled and started, the groups and the management service's
//!   user made, wsmand-mgmt installed disabled, five man pages and fifteen completions, a
//!   Linux account's command inside a session of the package's PAM file;
//! - upgrade (revision 2): both running services restarted onto the new program (no
//!   `/proc/PID/exe -> ... (deleted)`), the postinst saying that shells end, and a detached
//!   shell indeed gone;
//! - disable + upgrade: still disabled (and, running, restarted); mask + upgrade: the install
//!   succeeds and the mask stays; `RESTART_ON_UPGRADE=no` in /etc/default/wsmand: nothing
//!   restarted;
//! - remove + reinstall: each unit's enable state back as it was;
//! - purge: configuration, the system user and the member-less groups gone, a group with a
//!   member kept and named.
//!
//! Every step's failures are collected and the test fails at its end with all of them, so a
//! run against an older `deb.sh` shows each step that does not hold. Skipped with a printed
//! reason where the machine cannot boot systemd (`WSMAN_TEST_REQUIRE_SYSTEMD=1` makes that a
//! failure).

#[path = "operator/booted.rs"]
mod booted;
#[path = "operator/steps.rs"]
mod steps;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use booted::{configure, start_and_wait, winrs_as, ACCOUNT, PASSWORD};
use steps::{Steps, GROUPS};
use wsman_test::free_port;
use wsman_test::process;
use wsman_test::systemd::BootedSystemd;

/// A Linux account the test creates inside the booted system.
const PAM_USER: &str = "pamuser";
const PAM_PASSWORD: &str = "Pam-User-Pass1";

impl Steps<'_> {
    /// What `/proc/PID/exe` of `unit`'s main process points to ("" when it has none).
    fn executable(&self, unit: &str) -> String {
        match self.property(unit, "MainPID").as_str() {
            "0" | "" => String::new(),
            pid => {
                let link = self
                    .systemd
                    .exec(&["readlink", &format!("/proc/{pid}/exe")]);
                link.stdout.trim().to_owned()
            }
        }
    }

    /// `dpkg -i` of `deb` inside; its output (a failure when it does not succeed or leaves the
    /// package other than installed).
    fn install(&mut self, deb: &str) -> String {
        let installed = self.run(&["dpkg", "-i", deb]);
        let status = self
            .systemd
            .exec(&["dpkg-query", "-W", "-f=${Status}", "wsmand"]);
        let status = status.stdout.trim().to_owned();
        self.equal("package status", &status, "install ok installed");
        format!("{}{}", installed.stdout, installed.stderr)
    }
}

/// `scripts/deb.sh --no-build --no-compress --revision REVISION` into `out`: the .deb's path.
fn build_deb(out: &Path, revision: &str) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut build = Command::new("bash");
    build
        .arg(repo.join("scripts/deb.sh"))
        .args([
            "--no-build",
            "--no-compress",
            "--revision",
            revision,
            "--output",
        ])
        .arg(out)
        .current_dir(&repo);
    let built = process::run(&mut build, None, Duration::from_secs(300));
    assert_eq!(built.code(), 0, "{}", built.describe());
    PathBuf::from(built.stdout.trim())
}

#[test]
fn the_package_installs_upgrades_and_purges_as_debian_does() {
    let Some(systemd) = BootedSystemd::boot() else {
        return;
    };
    let started = Instant::now();
    let out = tempfile::tempdir().expect("a directory for the packages");
    let debs = [build_deb(out.path(), "1"), build_deb(out.path(), "2")];
    for (deb, inside) in debs.iter().zip(["tmp/wsmand-1.deb", "tmp/wsmand-2.deb"]) {
        std::fs::copy(deb, systemd.root().join(inside))
            .unwrap_or_else(|e| panic!("copy {}: {e}", deb.display()));
    }
    let mut steps = Steps::new(&systemd, "package");
    steps.begin("the .deb");
    the_deb_declares_what_it_needs(&mut steps, &debs[0]);
    let port = first_install(&mut steps);
    an_upgrade_restarts_both(&mut steps, port);
    disable_and_mask_survive_upgrades(&mut steps, port);
    remove_and_reinstall_keep_the_enable_state(&mut steps, port);
    purge_removes_what_the_package_made(&mut steps, port);
    eprintln!("package test took {:?}", started.elapsed());
    assert!(
        steps.failures.is_empty(),
        "{} failures:\n{}",
        steps.failures.len(),
        steps.failures.join("\n")
    );
}

/// The .deb: root entry 0755, Depends from the binaries, changelog, copyright, lintian.
fn the_deb_declares_what_it_needs(steps: &mut Steps, deb: &Path) {
    let dpkg_deb = |args: &[&str]| {
        let mut command = Command::new("dpkg-deb");
        command.args(args).arg(deb);
        process::run(&mut command, None, Duration::from_secs(120))
    };
    let listing = dpkg_deb(&["-c"]).stdout;
    let root = listing.lines().next().unwrap_or_default().to_owned();
    steps.check(
        root.starts_with("drwxr-xr-x root/root") && root.ends_with(" ./"),
        format!("root entry {root:?}"),
    );
    for file in ["changelog.Debian.gz", "copyright"] {
        let path = format!("./usr/share/doc/wsmand/{file}");
        steps.check(listing.contains(&path), format!("no {path}"));
    }
    let depends = dpkg_deb(&["-f"]).stdout;
    let depends = depends
        .lines()
        .find_map(|l| l.strip_prefix("Depends: "))
        .unwrap_or_default()
        .to_owned();
    for needed in ["libc6 (>= 2.", "libssl3", "zlib1g", "libpam0g", "passwd"] {
        steps.check(
            depends.contains(needed),
            format!("Depends {depends:?} lacks {needed}"),
        );
    }
    let mut lintian = Command::new("lintian");
    // The test's package is uncompressed (xz of debug binaries takes minutes): lintian's
    // errors about exactly that are not the package's.
    lintian
        .args([
            "--fail-on",
            "error",
            "--tag-display-limit",
            "0",
            "--suppress-tags",
        ])
        .arg("uses-no-compression-for-control-tarball,uses-no-compression-for-data-tarball")
        .arg(deb);
    let linted = process::run(&mut lintian, None, Duration::from_secs(600));
    steps.check(
        linted.status.success()
            && !linted.stdout.contains("\nE: ")
            && !linted.stdout.starts_with("E: "),
        format!("lintian: {}", linted.describe()),
    );
}

/// First install: enabled and running, accounts made, pages and completions, PAM session;
/// the daemon configured and answering; the console started by hand. Returns the port.
fn first_install(steps: &mut Steps) -> u16 {
    steps.begin("first install");
    steps.install("/tmp/wsmand-1.deb");
    for group in GROUPS {
        steps.run(&["getent", "group", group]);
    }
    let account = steps.run(&["getent", "passwd", "wsmand-mgmt"]).stdout;
    steps.check(
        account.trim_end().ends_with(":/usr/sbin/nologin"),
        format!("wsmand-mgmt user {account:?}"),
    );
    let wsmand_state = steps.property("wsmand.service", "UnitFileState");
    steps.equal("wsmand", &wsmand_state, "enabled");
    let mgmt_state = steps.property("wsmand-mgmt.service", "UnitFileState");
    steps.equal("wsmand-mgmt", &mgmt_state, "disabled");
    pages_and_completions_are_in_place(steps);
    let port = free_port();
    configure(steps.systemd, "/usr/bin/wsmand", port);
    steps.run(&["systemctl", "restart", "wsmand.service"]);
    steps.answers_identify(port);
    commands_run_in_a_pam_session(steps, port);
    start_the_console(steps);
    port
}

/// Five man pages, each a page `man` reads, and the bash, zsh and fish completions of the five
/// commands.
fn pages_and_completions_are_in_place(steps: &mut Steps) {
    let pages = [
        ("wsmand", "8"),
        ("wsmand-mgmt", "8"),
        ("winrm", "1"),
        ("winrs", "1"),
        ("wevtutil", "1"),
    ];
    for (command, section) in pages {
        steps.run(&["test", "-x", &format!("/usr/bin/{command}")]);
        let page = format!("/usr/share/man/man{section}/{command}.{section}.gz");
        let text = steps.run(&["zcat", &page]).stdout;
        let title = format!(".TH {} {section}", command);
        let upper = format!(".TH {} {section}", command.to_uppercase());
        steps.check(
            text.contains(&title) || text.contains(&upper),
            format!("{page} has no {title}"),
        );
        for completion in [
            format!("/usr/share/bash-completion/completions/{command}"),
            format!("/usr/share/zsh/vendor-completions/_{command}"),
            format!("/usr/share/fish/vendor_completions.d/{command}.fish"),
        ] {
            steps.run(&["test", "-s", &completion]);
        }
    }
    for path in [
        "/usr/lib/wsmand/wsmand-session",
        "/etc/pam.d/wsmand",
        "/etc/default/wsmand",
    ] {
        steps.run(&["test", "-s", path]);
    }
}

/// A Linux account's command runs in a session of the package's PAM file, opened by its helper.
fn commands_run_in_a_pam_session(steps: &mut Steps, port: u16) {
    steps.run(&["useradd", "--create-home", PAM_USER]);
    let password = format!("echo '{PAM_USER}:{PAM_PASSWORD}' | chpasswd");
    steps.run(&["sh", "-c", &password]);
    let ran = winrs_as(
        port,
        PAM_USER,
        PAM_PASSWORD,
        &["cat /proc/$PPID/comm; id -un"],
    );
    steps.check(
        ran.code() == 0 && ran.stdout == format!("wsmand-session\n{PAM_USER}\n"),
        format!("a command as {PAM_USER}: {}", ran.describe()),
    );
    let opened = format!("pam_unix(wsmand:session): session opened for user {PAM_USER}");
    let closed = format!("pam_unix(wsmand:session): session closed for user {PAM_USER}");
    let journal = steps
        .systemd
        .journal_until(&[], |text| text.contains(&opened) && text.contains(&closed));
    let counts = (
        journal.matches(&opened).count(),
        journal.matches(&closed).count(),
    );
    steps.check(counts == (1, 1), format!("session lines {counts:?}"));
}

/// The management service, started by hand (it is installed disabled), serving as its user.
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

/// Each unit's main process runs the installed program, not a deleted one.
fn run_the_installed_programs(steps: &mut Steps) {
    for (unit, program) in [
        ("wsmand.service", "/usr/bin/wsmand"),
        ("wsmand-mgmt.service", "/usr/bin/wsmand-mgmt"),
    ] {
        // Seen from inside, the link still names the overlay's path on the host.
        let exe = steps.executable(unit);
        steps.check(
            exe.ends_with(program),
            format!("{unit}'s /proc/PID/exe is {exe:?}, not {program}"),
        );
    }
}

/// Upgrade to revision 2: both restarted onto the new programs, shells ended, as said.
fn an_upgrade_restarts_both(steps: &mut Steps, port: u16) {
    steps.begin("upgrade");
    let detached = winrs_as(port, ACCOUNT, PASSWORD, &["-detach", "sleep 600"]);
    steps.check(
        detached.code() == 0,
        format!("-detach: {}", detached.describe()),
    );
    let shell_id = detached.stdout.trim().to_owned();
    let printed = steps.install("/tmp/wsmand-2.deb");
    eprintln!("the upgrade printed:\n{printed}");
    steps.check(
        printed.contains("shells end"),
        format!("the upgrade does not say that shells end:\n{printed}"),
    );
    steps.answers_identify(port);
    run_the_installed_programs(steps);
    let attached = winrs_as(port, ACCOUNT, PASSWORD, &[&format!("-attach:{shell_id}")]);
    steps.check(
        attached.code() != 0,
        format!(
            "the detached shell outlived the restart: {}",
            attached.describe()
        ),
    );
}

/// Disable, mask and RESTART_ON_UPGRADE=no each survive an upgrade (a reinstall of the same
/// version runs the same maintainer scripts).
fn disable_and_mask_survive_upgrades(steps: &mut Steps, port: u16) {
    steps.begin("disable + upgrade");
    steps.run(&["systemctl", "disable", "wsmand.service"]);
    let before = steps.property("wsmand.service", "MainPID");
    steps.install("/tmp/wsmand-2.deb");
    let state = steps.property("wsmand.service", "UnitFileState");
    steps.equal("wsmand", &state, "disabled");
    let after = steps.property("wsmand.service", "MainPID");
    steps.check(before != after, "running, it was not restarted");
    steps.answers_identify(port);
    run_the_installed_programs(steps);

    steps.begin("mask + upgrade");
    steps.run(&["systemctl", "mask", "--now", "wsmand.service"]);
    steps.install("/tmp/wsmand-2.deb");
    let state = steps.property("wsmand.service", "UnitFileState");
    steps.equal("wsmand", &state, "masked");
    let active = steps.property("wsmand.service", "ActiveState");
    steps.equal("wsmand", &active, "inactive");
    steps.refuses(port);
    steps.run(&["systemctl", "unmask", "wsmand.service"]);
    steps.run(&["systemctl", "enable", "--now", "wsmand.service"]);
    steps.answers_identify(port);

    steps.begin("RESTART_ON_UPGRADE=no + upgrade");
    steps.run(&[
        "sed",
        "-i",
        "s/^RESTART_ON_UPGRADE=.*/RESTART_ON_UPGRADE=no/",
        "/etc/default/wsmand",
    ]);
    let before = steps.property("wsmand.service", "MainPID");
    let printed = steps.install("/tmp/wsmand-2.deb");
    eprintln!("the upgrade with RESTART_ON_UPGRADE=no printed:\n{printed}");
    let after = steps.property("wsmand.service", "MainPID");
    steps.equal("wsmand's MainPID", &after, &before);
    steps.check(
        printed.contains("not restarted"),
        format!("the upgrade does not say it left the services running:\n{printed}"),
    );
    steps.answers_identify(port);
    let setting = steps.run(&[
        "grep",
        "-c",
        "^RESTART_ON_UPGRADE=no",
        "/etc/default/wsmand",
    ]);
    steps.equal("the kept setting", setting.stdout.trim(), "1");
    steps.run(&[
        "systemctl",
        "restart",
        "wsmand.service",
        "wsmand-mgmt.service",
    ]);
    run_the_installed_programs(steps);
}

/// Remove stops both and keeps the configuration; reinstall brings each enable state back.
fn remove_and_reinstall_keep_the_enable_state(steps: &mut Steps, port: u16) {
    steps.begin("remove + reinstall");
    steps.run(&["systemctl", "enable", "wsmand-mgmt.service"]);
    steps.run(&["dpkg", "-r", "wsmand"]);
    for unit in ["wsmand.service", "wsmand-mgmt.service"] {
        let active = steps.property(unit, "ActiveState");
        steps.equal(unit, &active, "inactive");
    }
    steps.refuses(port);
    for gone in ["/usr/bin/wsmand", "/lib/systemd/system/wsmand.service"] {
        steps.check(!steps.exists(gone), format!("{gone} left after remove"));
    }
    for kept in [
        "/etc/wsmand/config.toml",
        "/etc/wsmand/accounts.toml",
        "/etc/pam.d/wsmand",
    ] {
        steps.check(steps.exists(kept), format!("{kept} gone after remove"));
    }
    steps.install("/tmp/wsmand-2.deb");
    for unit in ["wsmand.service", "wsmand-mgmt.service"] {
        let state = steps.property(unit, "UnitFileState");
        steps.equal(unit, &state, "enabled");
    }
    steps.answers_identify(port);
}

/// Purge: configuration, user and member-less groups gone; a group with a member kept.
fn purge_removes_what_the_package_made(steps: &mut Steps, port: u16) {
    steps.begin("purge");
    steps.run(&["usermod", "-aG", "wsmand-admins", PAM_USER]);
    let purged = steps.run(&["dpkg", "-P", "wsmand"]);
    steps.refuses(port);
    for gone in [
        "/etc/wsmand",
        "/etc/pam.d/wsmand",
        "/etc/default/wsmand",
        "/var/lib/wsmand",
        "/run/wsmand",
    ] {
        steps.check(!steps.exists(gone), format!("{gone} left after purge"));
    }
    let user = steps.systemd.exec(&["getent", "passwd", "wsmand-mgmt"]);
    steps.check(
        !user.status.success(),
        "the user wsmand-mgmt left after purge",
    );
    for group in &GROUPS[1..] {
        let left = steps.systemd.exec(&["getent", "group", group]);
        steps.check(
            !left.status.success(),
            format!("the group {group} left after purge"),
        );
    }
    steps.run(&["getent", "group", "wsmand-admins"]);
    let said = format!("{}{}", purged.stdout, purged.stderr);
    eprintln!("the purge printed:\n{said}");
    steps.check(
        said.contains("kept the group wsmand-admins"),
        format!("purge does not name the kept group:\n{said}"),
    );
    let links = steps
        .systemd
        .exec(&["sh", "-c", "ls /etc/systemd/system/*.wants/ | grep wsmand"]);
    steps.check(
        links.stdout.trim().is_empty(),
        format!("enable links left after purge: {}", links.stdout),
    );
}
