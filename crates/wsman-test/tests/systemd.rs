//! The booted-systemd harness itself: a real systemd as PID 1 of its own namespaces starts and
//! stops a real unit, keeps its journal, and leaves nothing behind on the host.
//!
//! Skipped with a printed reason where the machine cannot boot one (not root, no unshare, no
//! cached root); `scripts/test.sh` as root sets `WSMAN_TEST_REQUIRE_SYSTEMD=1` so CI runs it.

use std::time::{Duration, Instant};

use wsman_test::systemd::BootedSystemd;

const UNIT: &str = "[Unit]\nDescription=wsmand harness probe\n\n[Service]\n\
                    ExecStart=/bin/sh -c 'echo probe-started; exec sleep 1000'\n";

#[test]
fn boots_starts_and_stops_a_unit_and_cleans_up() {
    let host_marker = tempfile::NamedTempFile::new().expect("a file in the host's /tmp");
    let Some(systemd) = BootedSystemd::boot() else {
        return;
    };
    let pid_one = systemd.pid();

    // PID 1 inside is the systemd we booted.
    let inside = systemd.exec_ok(&["cat", "/proc/1/comm"]);
    assert_eq!(inside.stdout.trim(), "systemd");

    systemd.write_file("/etc/systemd/system/wsman-probe.service", UNIT);
    systemd.exec_ok(&["systemctl", "daemon-reload"]);
    systemd.exec_ok(&["systemctl", "start", "wsman-probe.service"]);
    assert_eq!(
        systemd.unit_property("wsman-probe.service", "ActiveState"),
        "active"
    );
    let main_pid: u32 = systemd
        .unit_property("wsman-probe.service", "MainPID")
        .parse()
        .expect("MainPID is a number");
    assert!(main_pid > 1, "a running unit has a main process");
    let comm = systemd.exec_ok(&["cat", &format!("/proc/{main_pid}/comm")]);
    assert_eq!(comm.stdout.trim(), "sleep");

    // Its output went to the namespace's own journal.
    let logged = wait_for(|| {
        let journal = systemd.exec(&[
            "journalctl",
            "-u",
            "wsman-probe.service",
            "-o",
            "cat",
            "--no-pager",
        ]);
        journal.stdout.contains("probe-started")
    });
    assert!(logged, "the unit's output reached the journal");

    systemd.exec_ok(&["systemctl", "stop", "wsman-probe.service"]);
    assert_eq!(
        systemd.unit_property("wsman-probe.service", "ActiveState"),
        "inactive"
    );

    // The host's /tmp was not touched by the boot.
    assert!(host_marker.path().exists());

    drop(systemd);
    assert!(
        wait_for(|| !std::path::Path::new(&format!("/proc/{pid_one}")).exists()),
        "systemd (pid {pid_one}) is gone after drop"
    );
}

fn wait_for(mut condition: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
