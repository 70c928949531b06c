//! WinRS input and output edge cases over raw HTTP on 127.0.0.1: a Send is all-or-nothing
//! (a refused Send wrote nothing, so a client's retry neither loses nor duplicates input), a
//! declared stream the client never receives cannot make Receive hang, the output a user's
//! commands hold unreceived stays within `MaxBufferedOutputPerUserMB`, and the service's
//! graceful shutdown ends every shell's processes.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use wsman_proto::shell::requests::{Receive, Send};
use wsman_proto::shell::StreamData;

const TIMED_OUT: &str = "2150858793";

/// A config with an HTTP listener, Basic over HTTP, and `extra` under `[Config]`.
fn config(port: u16, extra: &str) -> String {
    format!(
        "[Config]\n{extra}\n[Config.Service]\nAllowUnencrypted = true\n\
         [Config.Service.Auth]\nBasic = true\n\n\
         [[Listener]]\nAddress = \"IP:127.0.0.1\"\nTransport = \"HTTP\"\nPort = {port}\n"
    )
}

impl Shell {
    async fn send(&mut self, command_id: &str, data: &[u8], end: bool, seconds: u32) -> Response {
        let stream = StreamData::new("stdin", Some(command_id), data.to_vec(), end);
        let body = Send::new(vec![stream]).to_xml();
        self.call(SEND, seconds, &body).await
    }

    async fn receive(&mut self, command_id: &str, streams: &[&str], seconds: u32) -> Response {
        let body = Receive::new(Some(command_id), streams).to_xml();
        self.call(RECEIVE, seconds, &body).await
    }

    /// Receive both streams until Done: (stdout, stderr, exit code).
    async fn collect(&mut self, command_id: &str) -> (Vec<u8>, Vec<u8>, i64) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        for _ in 0..2000 {
            let r = self.receive(command_id, &["stdout", "stderr"], 5).await;
            if r.status == 500 && fault_code(&r) == TIMED_OUT {
                continue;
            }
            if let Some(code) = take_output(&r, None, &mut out, &mut err) {
                return (out, err, code);
            }
        }
        panic!("command never finished")
    }
}

/// Processes whose command line contains `marker`.
fn processes_with(marker: &str) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            if String::from_utf8_lossy(&cmdline).contains(marker) {
                n += 1;
            }
        }
    }
    n
}

/// A `sleep` argument no other test uses (the marker to look for in command lines).
fn unique_sleep() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}.{:03}", 5000 + std::process::id() % 1000, nanos % 1000)
}

/// A child that does not read its stdin until a gate file exists. Sends fill the pipe and the
/// daemon's bounded input queue until one is refused with w:TimedOut; that Send must have
/// written nothing, so after the gate opens the client's retry of the same data delivers every
/// byte exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_send_writes_nothing_so_a_retry_duplicates_nothing() {
    let svc = TestService::start_with(|port, _| config(port, "MaxEnvelopeSizekb = 150")).await;
    let gate = svc.dir.path().join("gate");
    let mut shell = Shell::open(&svc).await;
    let line = format!(
        "while [ ! -e '{}' ]; do sleep 0.05; done; cat",
        gate.display()
    );
    let id = shell.run(&line).await;

    const CHUNK: usize = 100_000;
    let chunk = |i: usize| vec![b'a' + i as u8; CHUNK];
    let mut expected = Vec::new();
    let mut refused = None;
    for i in 0..8 {
        let r = shell.send(&id, &chunk(i), false, 1).await;
        if r.status == 200 {
            expected.extend(chunk(i));
            continue;
        }
        assert_eq!(fault_code(&r), TIMED_OUT, "{}", r.text());
        refused = Some(i);
        break;
    }
    let refused = refused.expect("the pipe and the input queue never filled up");

    // The child starts reading; the client retries the refused Send until it is taken.
    std::fs::write(&gate, b"").unwrap();
    let mut retried = false;
    for _ in 0..30 {
        let r = shell.send(&id, &chunk(refused), false, 2).await;
        if r.status == 200 {
            retried = true;
            break;
        }
        assert_eq!(fault_code(&r), TIMED_OUT, "{}", r.text());
    }
    assert!(retried, "the retry was never accepted");
    expected.extend(chunk(refused));
    let r = shell.send(&id, b"", true, 30).await;
    assert_eq!(r.status, 200, "{}", r.text());

    let (out, err, code) = shell.collect(&id).await;
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    assert_eq!(out.len(), expected.len(), "bytes lost or duplicated");
    assert!(out == expected, "stdin arrived out of order or corrupted");
}

/// OutputStreams "stdout stderr", but the client only ever asks for stdout while the command
/// writes megabytes to stderr: the stderr buffer fills and the child blocks, and every Receive
/// still answers w:TimedOut in time. Asking for stderr later gets everything and Done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_stream_never_received_blocks_the_child_not_the_client() {
    let svc = TestService::start_with(|port, _| config(port, "")).await;
    let mut shell = Shell::open(&svc).await;
    let id = shell
        // More than the stream's buffer (1 MiB) and its grown pipe (1 MiB) hold together.
        .run("head -c 8000000 /dev/zero >&2; echo out-done")
        .await;
    for _ in 0..3 {
        let started = Instant::now();
        let r = shell.receive(&id, &["stdout"], 1).await;
        assert_eq!(fault_code(&r), TIMED_OUT, "{}", r.text());
        assert!(
            started.elapsed() < Duration::from_secs(25),
            "Receive did not answer in time"
        );
    }
    let (out, err, code) = shell.collect(&id).await;
    assert_eq!(out, b"out-done\n");
    assert_eq!(err.len(), 8_000_000);
    assert_eq!(code, 0);
}

/// The daemon's graceful shutdown (what SIGTERM runs) ends every shell and its processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_ends_every_shell() {
    let svc = TestService::start_with(|port, _| config(port, "")).await;
    let marker = unique_sleep();
    let mut shell = Shell::open(&svc).await;
    shell
        .run(&format!("sleep {marker} & sleep {marker}; wait"))
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    // The shell and its two sleeps.
    while processes_with(&marker) < 3 {
        assert!(Instant::now() < deadline, "the command never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let TestService { dir, service, .. } = svc;
    let service =
        std::sync::Arc::try_unwrap(service).unwrap_or_else(|_| panic!("the service is shared"));
    let (_reload_tx, reload_rx) = tokio::sync::mpsc::channel(1);
    tokio::time::timeout(
        Duration::from_secs(60),
        service.run(reload_rx, async {}, &|_| {}),
    )
    .await
    .expect("shutdown hung");
    let deadline = Instant::now() + Duration::from_secs(20);
    while processes_with(&marker) > 0 {
        assert!(
            Instant::now() < deadline,
            "shell processes survived the shutdown"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(shell);
    drop(dir);
}

/// `[Config.Winrs] MaxBufferedOutputPerUserMB` bounds the output one user's commands hold
/// unreceived, all together: four commands each printing 3 MB that nobody receives hold about
/// the configured 1 MiB between them, not their own 1 MiB buffer each (4 MiB under the default
/// of 64 MiB), and each still delivers all of its output once received.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_buffered_output_per_user_bounds_a_users_unreceived_output() {
    const MIB: u64 = 1 << 20;
    let winrs = "[Config.Winrs]\nMaxBufferedOutputPerUserMB = 1\n";
    let svc = TestService::start_with(|port, _| config(port, winrs)).await;
    let mut shell = Shell::open(&svc).await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(shell.run("head -c 3000000 /dev/zero").await);
    }
    let server = svc.service.server();
    let manager = server.shells().expect("shells are served").manager();
    let held = || -> u64 {
        manager
            .list_shells(&wsman_shell::Principal::service_account(USER).owner_key())
            .iter()
            .flat_map(|s| &s.commands)
            .map(|c| c.bytes_out)
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while held() < MIB {
        assert!(Instant::now() < deadline, "the user's budget never filled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Time for pumps that ignored the user's budget to read on.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Pumps racing for the last room may each take a pipe's read beyond it.
    assert!(
        held() <= 2 * MIB,
        "{} bytes held with nothing received (the user's budget is 1 MiB)",
        held()
    );
    for id in &ids {
        let (out, _, code) = shell.collect(id).await;
        assert_eq!((out.len(), code), (3_000_000, 0));
    }
}
