#![allow(clippy::unwrap_used)]
//! The shell API against the real wsmand (spawned by the wsman-test harness on a free loopback
//! port; needs `target/debug/wsmand`).

mod common;
use common::{default_shell, run_to_end, start};

use std::time::Duration;

use wsman_client::shell::{self, CommandOptions, Output, Shell, ShellOptions, Signal};
use wsman_client::{BlockingClient, Client, ClientError, ClientOptions, Endpoint};
use wsman_test::{Fixture, SERVICE_ACCOUNT, SERVICE_PASSWORD};

fn options(timeout: Duration) -> ClientOptions {
    common::basic_options(SERVICE_ACCOUNT, SERVICE_PASSWORD, timeout)
}

fn endpoint(fx: &Fixture) -> Endpoint {
    Endpoint::parse(&fx.url(), false).unwrap()
}

#[test]
fn blocking_run_command_collects_both_streams_and_the_exit_code() {
    let fx = Fixture::http();
    let client = BlockingClient::new(endpoint(&fx), options(Duration::from_secs(20))).unwrap();
    let out = run_to_end(
        &client,
        "read line; printf 'got %s' \"$line\"; printf err >&2; exit 3",
        b"hello\n",
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got hello");
    assert_eq!(out.stderr, b"err");
    assert_eq!(out.exit_code, 3);
}

/// A daemon, a client of it with long polls of `poll`, and a shell it opened.
async fn a_shell(poll: Duration) -> (Fixture, Client, Shell) {
    let fx = Fixture::http();
    let client = Client::new(endpoint(&fx), options(poll)).unwrap();
    let shell = default_shell(&client).await;
    (fx, client, shell)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_polls_through_timeouts_and_signals_reach_the_command() {
    // One-second long polls: a three-second silence means several w:TimedOut answers.
    let (_fx, _client, shell) = a_shell(Duration::from_secs(1)).await;

    let slow = start(&shell, "sleep 3; echo late").await;
    let out = slow.collect().await.unwrap();
    assert_eq!((out.stdout.as_slice(), out.exit_code), (&b"late\n"[..], 0));
    slow.signal(Signal::Terminate).await.unwrap();

    // A second command in the same shell, interrupted through a trap.
    let trapped = start(
        &shell,
        "trap 'echo trapped; exit 9' INT; echo ready; while :; do sleep 1; done",
    )
    .await;
    let mut reader = trapped.output().unwrap();
    let mut seen = Vec::new();
    let mut signalled = false;
    let exit = loop {
        match reader.next().await.unwrap() {
            Some(Output::Data { data, .. }) => {
                seen.extend_from_slice(&data);
                if !signalled && seen.ends_with(b"ready\n") {
                    trapped.signal(Signal::CtrlC).await.unwrap();
                    signalled = true;
                }
            }
            Some(Output::Exited { exit_code }) => break exit_code,
            Some(_) => {}
            None => panic!("no exit code"),
        }
    };
    assert_eq!(String::from_utf8_lossy(&seen), "ready\ntrapped\n");
    assert_eq!(exit, 9);
    // Signals after Done succeed (pywinrm and pypsrp send them).
    trapped.signal(Signal::CtrlC).await.unwrap();
    trapped.signal(Signal::Terminate).await.unwrap();

    let again = shell.clone();
    shell.close().await.unwrap();
    // The shell is gone: the server says so with the Windows fault.
    let err = again
        .run("true", &[], &CommandOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Fault {
                wsman_code: Some(2_150_858_843),
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_command_with_large_input_and_output() {
    let fx = Fixture::http();
    let client = Client::new(endpoint(&fx), options(Duration::from_secs(20))).unwrap();
    let input: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let out = shell::run_command(
        &client,
        "cat",
        &[],
        &input,
        &ShellOptions::default(),
        &CommandOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(out.exit_code, 0);
    assert!(out.stdout == input, "{} bytes back", out.stdout.len());
}

/// Several MiB through the pipelined reader (the next Receive goes out before an answer is
/// decoded) arrive whole and in order, on a single-threaded runtime too.
async fn large_output_arrives_whole_and_in_order() {
    let (_fx, _client, shell) = a_shell(Duration::from_secs(20)).await;
    // 6 MiB of numbered lines (so order and loss both show), and a little stderr at the end.
    let command = start(&shell, "seq 1 800000; echo tail >&2").await;
    let out = command.collect().await.unwrap();
    let expected: String = (1..=800_000).map(|n| format!("{n}\n")).collect();
    assert_eq!(out.stdout.len(), expected.len());
    assert!(out.stdout == expected.as_bytes(), "stdout differs");
    assert_eq!(out.stderr, b"tail\n");
    assert_eq!(out.exit_code, 0);
    shell.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_output_multi_threaded() {
    large_output_arrives_whole_and_in_order().await;
}

#[tokio::test(flavor = "current_thread")]
async fn large_output_single_threaded() {
    large_output_arrives_whole_and_in_order().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_shell_gets_its_size_and_resizes() {
    let fx = Fixture::http();
    let client = Client::new(endpoint(&fx), options(Duration::from_secs(5))).unwrap();
    let mut shell_options = ShellOptions::default();
    shell_options.terminal = Some(shell::Terminal::new("vt100", 33, 97));
    let shell = Shell::open(&client, &shell_options).await.unwrap();
    let command = start(&shell, "echo \"$TERM $(stty size)\"; read line; stty size").await;
    let mut reader = command.output().unwrap();
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("vt100 33 97\r\n") {
        match reader.next().await.unwrap() {
            Some(Output::Data { data, .. }) => seen.extend(data),
            other => panic!("{other:?} before the first size: {seen:?}"),
        }
    }
    command.resize(52, 181).await.unwrap();
    command.send(b"\n", false).await.unwrap();
    let code = loop {
        match reader.next().await.unwrap() {
            Some(Output::Data { stream, data }) => {
                assert_eq!(stream, "stdout", "a terminal has one stream");
                seen.extend(data);
            }
            Some(Output::Exited { exit_code }) => break exit_code,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(code, 0);
    // stty reads the size the resize set from the kernel.
    assert!(
        String::from_utf8_lossy(&seen).ends_with("52 181\r\n"),
        "{seen:?}"
    );
    command.signal(Signal::Terminate).await.unwrap();
    shell.close().await.unwrap();
}
