#![allow(clippy::unwrap_used)]
//! Commands inside a PAM session, against the real wsmand (needs `target/debug/wsmand` and
//! `target/debug/wsmand-session`: `cargo build -p wsmand`), real PAM and a real Linux
//! account (`WSMAN_TEST_PAM_USER`/`WSMAN_TEST_PAM_PASSWORD`), as root: each test writes a
//! PAM service of its own, `/etc/pam.d/wsmand-test-session-PID-TAG` (removed when done),
//! whose session stack has pam_env with a test conffile, pam_limits with a test limits
//! file, and pam_exec writing an open and a close marker; the daemon is started with that
//! service (`WSMAND_PAM_SERVICE`) and `--pam-sessions=auto`, so the stack is found as an
//! operator's would be.

mod common;
use common::{client_of, default_shell, run_in, start};

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use wsman_client::shell::{CommandOptions, Output, Shell, ShellOptions, Signal, Terminal};
use wsman_client::{Client, ClientError};
use wsman_test::Fixture;

/// A PAM service written for one test, and the files its session stack reads and writes.
struct TestService {
    name: String,
    directory: PathBuf,
    /// The value pam_env gives `WSMAN_PAM_PROBE`.
    probe: String,
    /// The `nofile` limit pam_limits sets for the test user.
    nofile: u64,
}

impl TestService {
    fn new(tag: &str, user: &str) -> Self {
        let name = format!("wsmand-test-session-{}-{tag}", std::process::id());
        let directory = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&directory).unwrap();
        let probe = format!("probe-{}-{tag}", std::process::id());
        // Below the machine's usual 1024 soft limit and far from wsmand's own.
        let nofile = 300 + u64::from(std::process::id() % 400);
        let conffile = directory.join("env.conf");
        std::fs::write(&conffile, format!("WSMAN_PAM_PROBE DEFAULT={probe}\n")).unwrap();
        let limits = directory.join("limits.conf");
        std::fs::write(&limits, format!("{user} - nofile {nofile}\n")).unwrap();
        let marker = directory.join("marker.sh");
        std::fs::write(
            &marker,
            format!(
                "#!/bin/sh\necho \"$PAM_TYPE $PAM_USER ${{PAM_TTY:-none}} $PAM_RHOST\" >>{}\n",
                directory.join("markers").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&marker, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        std::fs::write(
            Path::new("/etc/pam.d").join(&name),
            format!(
                "@include common-auth\n@include common-account\n\
                 session required pam_env.so readenv=0 conffile={}\n\
                 session required pam_limits.so conf={}\n\
                 session optional pam_exec.so {}\n",
                conffile.display(),
                limits.display(),
                marker.display()
            ),
        )
        .unwrap();
        Self {
            name,
            directory,
            probe,
            nofile,
        }
    }

    /// The markers pam_exec wrote: (`open_session`/`close_session`, user, tty, rhost).
    fn markers(&self) -> Vec<[String; 4]> {
        std::fs::read_to_string(self.directory.join("markers"))
            .unwrap_or_default()
            .lines()
            .map(|line| {
                let words: Vec<String> = line.split(' ').map(str::to_owned).collect();
                words.try_into().unwrap()
            })
            .collect()
    }

    fn count(&self, kind: &str) -> usize {
        self.markers()
            .iter()
            .filter(|marker| marker[0] == kind)
            .count()
    }

    /// Waits until pam_exec has written `opens` open and `closes` close markers.
    fn wait_for(&self, opens: usize, closes: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while (self.count("open_session"), self.count("close_session")) != (opens, closes) {
            assert!(
                Instant::now() < deadline,
                "expected {opens} opens and {closes} closes: {:?}",
                self.markers()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TestService {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(Path::new("/etc/pam.d").join(&self.name));
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

/// The Linux account, when this machine has one for tests and we are root (the test writes
/// to /etc/pam.d and the daemon must switch users).
fn account() -> Option<(String, String)> {
    let (Ok(user), Ok(password)) = (
        std::env::var("WSMAN_TEST_PAM_USER"),
        std::env::var("WSMAN_TEST_PAM_PASSWORD"),
    ) else {
        eprintln!("skipped: set WSMAN_TEST_PAM_USER and WSMAN_TEST_PAM_PASSWORD");
        return None;
    };
    if std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) != 0) {
        eprintln!("skipped: writing a PAM service and switching users need root");
        return None;
    }
    Some((user, password))
}

/// What every test starts from: the PAM test account, its own PAM service `tag` (with
/// `more_session` lines after the session stack), a daemon that uses the service and a client
/// of the account; `None` (the test is skipped) without the account or root.
struct SetUp {
    user: String,
    password: String,
    service: TestService,
    fx: Fixture,
    client: Client,
}

fn set_up(tag: &str, more_session: &str) -> Option<SetUp> {
    let (user, password) = account()?;
    let service = TestService::new(tag, &user);
    if !more_session.is_empty() {
        let file = Path::new("/etc/pam.d").join(&service.name);
        let stack = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, format!("{stack}{more_session}")).unwrap();
    }
    let (fx, client) = start_with(&service, &user, &password, "auto");
    Some(SetUp {
        user,
        password,
        service,
        fx,
        client,
    })
}

/// A daemon with `service` and `--pam-sessions=sessions`, and a client of `user`.
fn start_with(
    service: &TestService,
    user: &str,
    password: &str,
    sessions: &str,
) -> (Fixture, Client) {
    let fx = Fixture::http_with_env(
        |_| {},
        &[
            ("WSMAND_PAM_SERVICE", service.name.as_str()),
            ("WSMAND_PAM_SESSIONS", sessions),
            // One async worker, as on a two-core host: what blocks it blocks every request.
            ("TOKIO_WORKER_THREADS", "1"),
        ],
    );
    let client = client_of(&fx, user, password);
    (fx, client)
}

/// The error of running a program that does not exist, directly (no `/bin/sh -c`).
async fn missing_program_fault(shell: &Shell) -> ClientError {
    let mut direct = CommandOptions::default();
    direct.skip_cmd_shell = true;
    match shell.run("wsman-no-such-program", &[], &direct).await {
        Ok(command) => command.collect().await.map(|_| ()).unwrap_err(),
        Err(error) => error,
    }
}

/// `Max open files` of a process, soft and hard, as the kernel reports them.
fn open_files_limit(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/limits"))
        .unwrap()
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .unwrap()
        .to_owned()
}

/// The parent of `pid`, from `/proc/PID/stat` (the field after the state).
fn parent_pid(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 1..];
    after_name
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

/// The exit code `sh -c LINE` has here, as wsmand reports codes (128 + signal).
fn local_exit_code(line: &str) -> i64 {
    let status = std::process::Command::new("/bin/sh")
        .args(["-c", line])
        .status()
        .unwrap();
    i64::from(
        status.code().unwrap_or_else(|| {
            128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap()
        }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_on_pipes_get_the_session_environment_limits_and_one_open_and_close() {
    let Some(SetUp {
        user,
        password,
        service,
        fx,
        client,
    }) = set_up("pipes", "")
    else {
        return;
    };
    let daemon_limits = open_files_limit(fx.daemon.pid());
    let shell = default_shell(&client).await;
    let out = run_in(
        &shell,
        "echo \"$WSMAN_PAM_PROBE\"; ulimit -Sn; ulimit -Hn; id -un; echo err >&2",
    )
    .await;
    let expected = format!(
        "{}\n{}\n{}\n{user}\n",
        service.probe, service.nofile, service.nofile
    );
    assert_eq!(
        (
            String::from_utf8_lossy(&out.stdout).as_ref(),
            out.stderr.as_slice(),
            out.exit_code
        ),
        (expected.as_str(), &b"err\n"[..], 0)
    );
    // The Done state came once the helper had closed the session: both markers are there.
    let markers = service.markers();
    assert_eq!(markers.len(), 2, "{markers:?}");
    assert_eq!(
        markers,
        ["open_session", "close_session"].map(|kind| [
            kind.to_owned(),
            user.clone(),
            "none".to_owned(),
            "127.0.0.1".to_owned()
        ])
    );
    // Exit codes and signals as without a session (a local sh is the reference).
    for line in ["exit 7", "kill -TERM $$", "kill -KILL $$"] {
        let out = run_in(&shell, line).await;
        assert_eq!(out.exit_code, local_exit_code(line), "{line}");
    }
    service.wait_for(4, 4);
    // A program that does not exist is the same fault as from a daemon without sessions
    // (the session was opened for it, and closed).
    let with_session = missing_program_fault(&shell).await;
    let (_plain_fx, plain_client) = start_with(&service, &user, &password, "off");
    let plain_shell = default_shell(&plain_client).await;
    let without_session = missing_program_fault(&plain_shell).await;
    plain_shell.close().await.unwrap();
    assert!(
        matches!(with_session, ClientError::Fault { .. }),
        "{with_session:?}"
    );
    assert_eq!(with_session.to_string(), without_session.to_string());
    service.wait_for(5, 5);
    shell.close().await.unwrap();
    // pam_limits changed the helper and the command, never the daemon.
    assert_eq!(open_files_limit(fx.daemon.pid()), daemon_limits);
    assert!(
        !daemon_limits.contains(&format!(" {} ", service.nofile)),
        "{daemon_limits}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_and_delete_close_the_session_once() {
    let Some(SetUp {
        service,
        mut fx,
        client,
        ..
    }) = set_up("kill", "")
    else {
        return;
    };
    let shell = default_shell(&client).await;
    let command = start(&shell, "echo started; exec sleep 600").await;
    let mut reader = command.output().unwrap();
    match reader.next().await.unwrap() {
        Some(Output::Data { data, .. }) => assert_eq!(data, b"started\n"),
        other => panic!("{other:?}"),
    }
    service.wait_for(1, 0);
    command.signal(Signal::Terminate).await.unwrap();
    service.wait_for(1, 1);
    // The command's process (the helper's child) is gone too.
    let second = start(&shell, "echo $$; exec sleep 600").await;
    let mut reader = second.output().unwrap();
    let pid: u32 = match reader.next().await.unwrap() {
        Some(Output::Data { data, .. }) => String::from_utf8(data).unwrap().trim().parse().unwrap(),
        other => panic!("{other:?}"),
    };
    service.wait_for(2, 1);
    // The helper is the command's parent, and it runs as root.
    let parent = parent_pid(pid);
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{parent}/comm"))
            .unwrap()
            .trim(),
        "wsmand-session"
    );
    shell.close().await.unwrap();
    service.wait_for(2, 2);
    fx.daemon
        .wait_until("the command and its helper are gone", || {
            !Path::new(&format!("/proc/{pid}")).exists()
                && !Path::new(&format!("/proc/{parent}")).exists()
        });
    fx.assert_still_serving();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_command_gets_its_tty_and_the_session_environment() {
    // The daemon is bound (`_fx`) so that it lives to the test's end.
    let Some(SetUp {
        service,
        fx: _fx,
        client,
        ..
    }) = set_up("pty", "")
    else {
        return;
    };
    let mut options = ShellOptions::default();
    options.terminal = Some(Terminal::new("vt100", 24, 80));
    let shell = Shell::open(&client, &options).await.unwrap();
    let out = run_in(&shell, "tty; echo \"$WSMAN_PAM_PROBE\"").await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(out.exit_code, 0);
    assert!(lines[0].starts_with("/dev/pts/"), "{text:?}");
    assert_eq!(lines[1], service.probe, "{text:?}");
    // The session was opened on that terminal (PAM_TTY), as a login's is.
    let markers = service.markers();
    assert_eq!(
        markers
            .iter()
            .map(|m| (m[0].as_str(), m[2].as_str()))
            .collect::<Vec<_>>(),
        [("open_session", lines[0]), ("close_session", lines[0])],
    );
    shell.close().await.unwrap();
}

/// A session stack that refuses (here pam_deny) is a failed command start, with the PAM call
/// in the fault and the daemon's log; the shell stays usable for the next command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_session_is_a_failed_start_with_a_log_line() {
    let Some(SetUp {
        service,
        fx,
        client,
        ..
    }) = set_up("deny", "session required pam_deny.so\n")
    else {
        return;
    };
    let shell = default_shell(&client).await;
    let error = match shell
        .run("echo never", &[], &CommandOptions::default())
        .await
    {
        Ok(command) => command.collect().await.map(|_| ()).unwrap_err(),
        Err(error) => error,
    };
    assert!(matches!(error, ClientError::Fault { .. }), "{error:?}");
    assert!(error.to_string().contains("pam_open_session"), "{error}");
    // pam_exec's open ran before pam_deny refused; a session that did not open is not
    // closed (as sshd and login do: pam_close_session follows a successful open only).
    service.wait_for(1, 0);
    let log = fx.daemon.stderr();
    assert!(
        log.lines()
            .any(|line| line.contains("ERROR") && line.contains("pam_open_session")),
        "{log}"
    );
    shell.close().await.unwrap();
}

/// The client chooses the command's environment, never the root helper's: a shell variable
/// `LD_PRELOAD` naming a missing library makes the dynamic loader complain once, for the
/// command (run as the user), and not a second time for the helper (run as root).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clients_environment_never_reaches_the_root_helper() {
    // The daemon is bound (`_fx`) so that it lives to the test's end.
    let Some(SetUp {
        service,
        fx: _fx,
        client,
        ..
    }) = set_up("preload", "")
    else {
        return;
    };
    let library = format!("/nonexistent-wsman-preload-{}.so", std::process::id());
    let mut options = ShellOptions::default();
    options.environment = vec![("LD_PRELOAD".to_owned(), library.clone())];
    let shell = Shell::open(&client, &options).await.unwrap();
    let out = run_in(&shell, "echo \"$LD_PRELOAD\"").await;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{library}\n"));
    assert_eq!(
        stderr.matches(library.as_str()).count(),
        1,
        "one loader complaint (the command's) expected: {stderr:?}"
    );
    service.wait_for(1, 1);
    shell.close().await.unwrap();
}

/// Opening a PAM session waits on the session stack's modules (pam_systemd waits for logind,
/// which may start the user's manager): while one user's command waits for its session,
/// another user's Identify is answered. The stack's pam_exec holds the open until the test
/// lets it go, so the order is certain: the Identify's answer comes while the open is held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_identify_is_answered_while_a_session_opens() {
    let Some((other, other_password)) = std::env::var("WSMAN_TEST_PAM_PLAIN_USER")
        .ok()
        .zip(std::env::var("WSMAN_TEST_PAM_PLAIN_PASSWORD").ok())
    else {
        eprintln!("skipped: set WSMAN_TEST_PAM_PLAIN_USER and WSMAN_TEST_PAM_PLAIN_PASSWORD");
        return;
    };
    let gate_dir = std::env::temp_dir().join(format!("wsmand-test-gate-{}", std::process::id()));
    std::fs::create_dir_all(&gate_dir).unwrap();
    let gate = gate_dir.join("gate.sh");
    let (waiting, open, released) = (
        gate_dir.join("waiting"),
        gate_dir.join("open"),
        gate_dir.join("released"),
    );
    // Gives up after 30 s, so that a daemon that never answers fails the test, not hangs it.
    std::fs::write(
        &gate,
        format!(
            "#!/bin/sh\nPATH=/usr/bin:/bin\n[ \"$PAM_TYPE\" = open_session ] || exit 0\n: >{waiting}\n\
             i=0\nwhile [ ! -e {open} ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done\n\
             : >{released}\n",
            waiting = waiting.display(),
            open = open.display(),
            released = released.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&gate, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // The service is bound (`_service`): its drop removes the PAM stack.
    let Some(SetUp {
        fx,
        client,
        service: _service,
        ..
    }) = set_up(
        "gate",
        &format!("session required pam_exec.so {}\n", gate.display()),
    )
    else {
        return;
    };
    let shell = default_shell(&client).await;
    let command = tokio::spawn(async move {
        let out = run_in(&shell, "echo started").await;
        shell.close().await.unwrap();
        out
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while !waiting.exists() {
        assert!(Instant::now() < deadline, "the session stack never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let identified = client_of(&fx, &other, &other_password).identify().await;
    let answered_while_held = !released.exists();
    std::fs::write(&open, b"").unwrap();
    let out = command.await.unwrap();
    let _ = std::fs::remove_dir_all(&gate_dir);
    identified.unwrap();
    assert!(
        answered_while_held,
        "the Identify was answered only once the session had opened"
    );
    assert_eq!(
        (out.stdout.as_slice(), out.exit_code),
        (&b"started\n"[..], 0)
    );
}
