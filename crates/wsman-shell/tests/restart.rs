//! Shells of a daemon killed with SIGKILL: the next [`ShellManager`] on the
//! same cgroup base ends their processes and removes their groups at start;
//! shells of a manager still running are left alone. And after
//! [`ShellManager::shutdown`], nothing new starts.
//!
//! The "daemon" is this test binary run again as a child process (the
//! `daemon_role` test, which does nothing unless the environment asks it to
//! play the daemon).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use wsman_os::process::{all_processes, signal_process, ProcessSignal};
use wsman_shell::{CgroupSupport, ShellError, ShellManager};

/// Set in the child: `BASE MARKER`.
const ROLE_VARIABLE: &str = "WSMAN_SHELL_TEST_DAEMON_ROLE";
/// The cgroup base of these tests (not shared with the other test files).
const RESTART_BASE: &str = "wsman-shell-restart-test";

/// Processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<u32> {
    all_processes()
        .into_iter()
        .filter(|stat| {
            std::fs::read(format!("/proc/{}/cmdline", stat.pid))
                .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(marker))
        })
        .map(|stat| stat.pid)
        .collect()
}

/// Kills what a failed test left (only processes it started: the marker is
/// unique).
struct KillOnDrop(String);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for pid in processes_with(&self.0) {
            let _ = signal_process(pid, ProcessSignal::Kill);
        }
    }
}

/// A `sleep` argument no other process uses; `first` keeps two of them
/// apart (neither contains the other).
fn unique_marker(first: u32) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}.{:03}", first + std::process::id() % 1000, nanos % 1000)
}

/// The child's part: open a shell running two sleeps, say READY, and wait
/// to be killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_role() {
    let Ok(role) = std::env::var(ROLE_VARIABLE) else {
        return;
    };
    let (base, marker) = role.split_once(' ').unwrap();
    let manager = ShellManager::new(limits(), base).unwrap();
    let owner = owner("root", root_user());
    let shell = shell(&manager, &owner).await;
    start(
        &manager,
        "root",
        &shell.shell_id,
        &format!("sleep {marker} & sleep {marker}; wait"),
    )
    .await;
    wait_until("the sleeps run", || processes_with(marker).len() >= 3).await;
    println!("READY");
    tokio::time::sleep(Duration::from_secs(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shells_left_by_a_killed_daemon_are_ended_at_the_next_start() {
    let support = CgroupSupport::detect(RESTART_BASE);
    if !support.is_available() {
        eprintln!("skipped: no usable cgroups here ({support}); without cgroups a dead daemon's shells cannot be found");
        return;
    }
    let marker = unique_marker(6000);
    let _cleanup = KillOnDrop(marker.clone());
    // A live manager on the same base: its shell must survive the cleanup.
    let live = ShellManager::new(limits(), RESTART_BASE).unwrap();
    let owner = owner("root", root_user());
    let live_shell = shell(&live, &owner).await;
    let live_marker = unique_marker(8000);
    let _live_cleanup = KillOnDrop(live_marker.clone());
    start(
        &live,
        "root",
        &live_shell.shell_id,
        &format!("sleep {live_marker}"),
    )
    .await;
    wait_until("the live shell's command runs", || {
        !processes_with(&live_marker).is_empty()
    })
    .await;

    let mut daemon = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "daemon_role", "--nocapture", "--test-threads=1"])
        .env(ROLE_VARIABLE, format!("{RESTART_BASE} {marker}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = daemon.stdout.take().unwrap();
    let ready = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.contains("READY"))
    });
    let ready = tokio::time::timeout(Duration::from_secs(60), ready).await;
    assert!(
        matches!(ready, Ok(Ok(true))),
        "the child daemon never started its shell"
    );
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    // The defect: the daemon is gone, its shell's processes are not.
    assert!(
        processes_with(&marker).len() >= 3,
        "the processes died with the daemon; nothing to test"
    );

    let started = Instant::now();
    let _log =
        tracing::subscriber::set_default(tracing_subscriber::fmt().with_test_writer().finish());
    let next = ShellManager::new(limits(), RESTART_BASE).unwrap();
    wait_until("the dead daemon's processes are gone", || {
        processes_with(&marker).is_empty()
    })
    .await;
    eprintln!("cleaned in {:?}", started.elapsed());
    assert!(
        !processes_with(&live_marker).is_empty(),
        "the live manager's shell was touched"
    );
    live.delete_shell(&key("root"), &live_shell.shell_id)
        .await
        .unwrap();
    drop(next);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_starts_after_shutdown() {
    let manager = manager(limits());
    let owner = owner("root", root_user());
    let shell = shell(&manager, &owner).await;
    manager.shutdown().await;
    assert!(manager.list_all_shells().is_empty());
    let error = manager
        .create_shell(owner.clone(), options())
        .await
        .unwrap_err();
    assert!(matches!(error, ShellError::ShuttingDown), "{error:?}");
    let error = manager
        .run_command(&key("root"), &shell.shell_id, line("true"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, ShellError::UnknownShell { .. }),
        "{error:?}"
    );
    // Without cgroups too.
    let manager = manager_without_cgroups(limits());
    manager.shutdown().await;
    assert!(manager.create_shell(owner, options()).await.is_err());
}
