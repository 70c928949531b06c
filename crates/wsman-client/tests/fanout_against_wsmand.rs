#![allow(clippy::unwrap_used)]
//! The fan-out API against real daemons (the wsman-test harness on free loopback ports; needs
//! `target/debug/wsmand`), a port nothing listens on and a host that accepts connections and
//! never answers: every host gets its own result, the silent one within its deadline, while
//! the others finish without waiting for it.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::Duration;

use wsman_client::fanout::{self, FanOut, FanOutOptions, HostOutput, Target};
use wsman_client::shell::{CommandOptions, ShellOptions};
use wsman_client::{Auth, ClientError, ClientOptions, Credentials, Endpoint};
use wsman_test::{free_port, Fixture, SERVICE_ACCOUNT, SERVICE_PASSWORD};

fn options() -> ClientOptions {
    let mut o = ClientOptions::default();
    o.auth = Auth::Basic(Credentials::new(SERVICE_ACCOUNT, SERVICE_PASSWORD));
    o.allow_unencrypted = true;
    o
}

fn target(url: &str) -> Target {
    Target::new(url, Endpoint::parse(url, false).unwrap(), options())
}

/// `command` without arguments, in default shells, on every target.
fn run_everywhere(
    targets: Vec<Target>,
    command: &str,
    options: &FanOutOptions,
) -> FanOut<HostOutput> {
    fanout::run_command(
        targets,
        command,
        &[],
        &ShellOptions::default(),
        &CommandOptions::default(),
        options,
    )
}

/// Accepts connections and never answers; they stay open until the test process ends.
fn silent_host() -> String {
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    format!("http://127.0.0.1:{port}/wsman")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_host_gets_its_own_result_and_a_silent_one_its_deadline() {
    let fleet = Fixture::fleet(4);
    let dead = format!("http://127.0.0.1:{}/wsman", free_port());
    let silent = silent_host();
    // The silent host first, with one host at a time less than the list: it holds a slot
    // while all the others run through the remaining ones.
    let mut targets = vec![target(&silent), target(&dead)];
    targets.extend(fleet.iter().map(|f| target(&f.url())));
    let mut o = FanOutOptions::default();
    o.parallel = 2;
    // The deadline is the silent host's: far longer than the others' whole run through the one
    // free slot, even on a loaded machine (at 3 s, a load average of 15 once let the silent
    // host's deadline come before the last of them).
    o.host_timeout = Some(Duration::from_secs(10));
    let mut results = run_everywhere(targets, "echo $PPID; echo err >&2; exit 4", &o);
    let mut order = Vec::new();
    let mut by_name = BTreeMap::new();
    while let Some(host) = results.next().await {
        order.push(host.name.clone());
        by_name.insert(host.name.clone(), host);
    }
    let progress = results.progress();
    assert_eq!(
        (
            progress.total,
            progress.done,
            progress.failed,
            progress.running
        ),
        (6, 6, 2, 0)
    );
    assert_eq!(order.last(), Some(&silent), "{order:?}");
    for fixture in &fleet {
        let host = &by_name[&fixture.url()];
        let out = host.outcome.as_ref().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{}\n", fixture.daemon.pid())
        );
        assert_eq!(out.stderr, b"err\n");
        assert_eq!(out.exit_code, 4);
        assert!(!out.truncated);
    }
    assert!(
        matches!(by_name[&dead].outcome, Err(ClientError::Io { .. })),
        "{:?}",
        by_name[&dead].outcome
    );
    let timed_out = &by_name[&silent];
    assert!(
        matches!(
            timed_out.outcome,
            Err(ClientError::Timeout { millis: 10_000 })
        ),
        "{:?}",
        timed_out.outcome
    );
    assert!(timed_out.duration >= Duration::from_secs(10));
    assert_eq!(by_name[&silent].index, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_is_bounded_per_host_and_any_operation_fans_out() {
    let fleet = Fixture::fleet(2);
    let targets: Vec<Target> = fleet.iter().map(|f| target(&f.url())).collect();
    let mut o = FanOutOptions::default();
    o.max_output_bytes = 1000;
    let mut results = run_everywhere(targets.clone(), "head -c 5000 /dev/zero", &o);
    let mut seen = 0;
    while let Some(host) = results.next().await {
        let out = host.outcome.unwrap();
        assert_eq!(
            (out.stdout.len(), out.truncated, out.exit_code),
            (1000, true, 0)
        );
        seen += 1;
    }
    assert_eq!(seen, 2);

    // The generic form: Identify on every host.
    let mut identified =
        fanout::fan_out(targets, &FanOutOptions::default(), |client, _| async move {
            client.identify().await.map(|e| e.name.clone())
        });
    let mut names = Vec::new();
    while let Some(host) = identified.next().await {
        names.push(host.outcome.unwrap());
    }
    assert_eq!(names, vec!["IdentifyResponse", "IdentifyResponse"]);
}

/// The same stdin reaches every host whole: `cat` on three daemons gives back each byte, in
/// order, more than one Send chunk and more than a pipe's buffer of it; `wc -c` counts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_host_gets_the_same_stdin() {
    let fleet = Fixture::fleet(3);
    let targets: Vec<Target> = fleet.iter().map(|f| target(&f.url())).collect();
    // Lines numbered by this test, about 300 KB: five Send chunks.
    let input: Vec<u8> = (0..20_000)
        .flat_map(|n| format!("line {n:05} of the input\n").into_bytes())
        .collect();
    let mut o = FanOutOptions::default();
    o.stdin = input.clone().into();
    for (command, expected) in [
        ("cat", input.clone()),
        ("wc -c", format!("{}\n", input.len()).into_bytes()),
    ] {
        let mut results = run_everywhere(targets.clone(), command, &o);
        let mut seen = 0;
        while let Some(host) = results.next().await {
            let out = host.outcome.unwrap();
            assert_eq!(out.exit_code, 0, "{command} on {}", host.name);
            assert!(
                out.stdout == expected,
                "{command} on {}: {} bytes back, {} expected",
                host.name,
                out.stdout.len(),
                expected.len()
            );
            seen += 1;
        }
        assert_eq!(seen, 3);
    }
    // A command that reads none of it still ends normally.
    let mut results = run_everywhere(targets, "exit 6", &o);
    while let Some(host) = results.next().await {
        assert_eq!(host.outcome.unwrap().exit_code, 6);
    }
}
