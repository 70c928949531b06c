#![allow(clippy::unwrap_used)]
//! Shells that outlive their client, from the client library against the real wsmand
//! (spawned by the wsman-test harness on a free loopback port; needs `target/debug/wsmand`):
//! a command that keeps printing is started, its shell disconnected and the client's
//! connections dropped; the command prints on; a new client reconnects and reads every line in
//! order, then the exit code. Another identity is refused; a disconnected shell whose idle
//! timeout runs out is ended with its processes (checked in /proc).

mod common;
use common::{client_of, default_shell, start};

use std::time::{Duration, Instant};

use wsman_client::shell::{self, CommandOptions, Output, Shell, ShellOptions};
use wsman_client::{Client, ClientError};
use wsman_test::{Fixture, SERVICE_ACCOUNT, SERVICE_PASSWORD};

const OTHER: &str = "otheraccount";
const OTHER_PASSWORD: &str = "Other-Test-Pass1";

fn client(fx: &Fixture) -> Client {
    client_of(fx, SERVICE_ACCOUNT, SERVICE_PASSWORD)
}

/// A daemon, a client of the service account, and a shell it opened.
async fn a_shell() -> (Fixture, Client, Shell) {
    let fx = Fixture::http();
    let c = client(&fx);
    let shell = default_shell(&c).await;
    (fx, c, shell)
}

/// Every output event until the exit code: (stdout, exit code).
async fn read_to_end(command: &shell::Command) -> (String, i64) {
    let mut reader = command.output().unwrap();
    let mut out = Vec::new();
    loop {
        match reader.next().await.unwrap() {
            Some(Output::Data { data, .. }) => out.extend_from_slice(&data),
            Some(Output::Exited { exit_code }) => {
                return (String::from_utf8(out).unwrap(), exit_code)
            }
            Some(_) => {}
            None => panic!("no exit code"),
        }
    }
}

fn processes_with(marker: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|c| String::from_utf8_lossy(c).contains(marker))
        .count()
}

fn fault_code(e: &ClientError) -> Option<u32> {
    match e {
        ClientError::Fault { wsman_code, .. } => *wsman_code,
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_printed_while_disconnected_reaches_a_new_client_in_order() {
    let fx = Fixture::http();
    fx.config.add_account(OTHER, OTHER_PASSWORD, Some("root"));
    let first = client(&fx);
    let opened = default_shell(&first).await;
    let shell_id = opened.id().to_owned();
    let command = start(
        &opened,
        "for i in $(seq 1 40); do echo line$i; sleep 0.05; done; exit 7",
    )
    .await;
    let command_id = command.id().to_owned();
    opened.disconnect(None).await.unwrap();
    let listed = shell::list_shells(&first).await.unwrap();
    let mine = listed.iter().find(|d| d.shell_id == shell_id).unwrap();
    assert_eq!(mine.state.as_deref(), Some("Disconnected"));
    // The client goes away: its pooled connections are closed.
    first.disconnect().await;
    drop((command, opened, first));
    // The command keeps printing meanwhile (40 lines take about two seconds).
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Another identity may not take the shell over.
    let intruder = client_of(&fx, OTHER, OTHER_PASSWORD);
    let refused = Shell::connect(&intruder, &shell_id).await.unwrap_err();
    assert_eq!(fault_code(&refused), Some(5), "{refused}");
    let refused = Shell::reconnect(&intruder, &shell_id, &ShellOptions::default())
        .await
        .unwrap_err();
    assert_eq!(fault_code(&refused), Some(5), "{refused}");

    // A new client of the owner reconnects and gets every line, in order.
    let second = client(&fx);
    let shell = Shell::reconnect(&second, &shell_id, &ShellOptions::default())
        .await
        .unwrap();
    let commands = shell.commands().await.unwrap();
    assert_eq!(commands.len(), 1);
    assert_eq!(commands[0].command_id, command_id);
    let (out, code) = read_to_end(&shell.command(&command_id)).await;
    let expected: String = (1..=40).map(|i| format!("line{i}\n")).collect();
    assert_eq!(out, expected);
    assert_eq!(code, 7);
    let listed = shell::list_shells(&second).await.unwrap();
    let mine = listed.iter().find(|d| d.shell_id == shell_id).unwrap();
    assert_eq!(mine.state.as_deref(), Some("Connected"));
    shell.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_needs_a_disconnected_shell() {
    let (_fx, c, shell) = a_shell().await;
    // Connected: Connect is refused as Windows refuses it.
    let e = Shell::connect(&c, shell.id()).await.unwrap_err();
    assert_eq!(fault_code(&e), Some(2150859213), "{e}");
    shell.disconnect(None).await.unwrap();
    // Disconnected twice, and a command on a disconnected shell.
    let e = shell.disconnect(None).await.unwrap_err();
    assert_eq!(fault_code(&e), Some(2150859204), "{e}");
    let e = shell
        .run("true", &[], &CommandOptions::default())
        .await
        .unwrap_err();
    assert_eq!(fault_code(&e), Some(2150859204), "{e}");
    let again = Shell::connect(&c, shell.id()).await.unwrap();
    let (out, code) = read_to_end(&start(&again, "echo back").await).await;
    assert_eq!((out.as_str(), code), ("back\n", 0));
    again.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnected_shell_past_its_idle_timeout_leaves_no_process() {
    let (fx, c, shell) = a_shell().await;
    start(&shell, "sleep 3031 & sleep 3032").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while processes_with("sleep 3031") + processes_with("sleep 3032") < 2 {
        assert!(Instant::now() < deadline, "the command never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shell
        .disconnect(Some(Duration::from_secs(2)))
        .await
        .unwrap();
    c.disconnect().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while processes_with("sleep 3031") + processes_with("sleep 3032") > 0 {
        assert!(
            Instant::now() < deadline,
            "processes of the expired shell left behind"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let e = Shell::connect(&c, shell.id()).await.unwrap_err();
    assert_eq!(fault_code(&e), Some(2150858843), "{e}");
    assert!(fx.daemon.stderr().contains("idle timeout"));
}
