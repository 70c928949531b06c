#![allow(clippy::unwrap_used)]
//! Commands on a pseudo-terminal (the Linux extension a client asks for at Create): the
//! terminal is real (`tty`, `stty` and the kernel say so), resizes and Ctrl+C reach it, and
//! nothing of it is left when the command ends.

mod common;

use std::time::Duration;

use common::*;
use wsman_shell::{ShellError, ShellOptions, ShellSignal, TerminalOptions, WindowSize};

fn terminal_options(rows: u16, columns: u16) -> ShellOptions {
    let mut options = options();
    options.terminal = Some(TerminalOptions::new(
        "xterm-256color",
        WindowSize::new(rows, columns),
    ));
    options
}

/// Descriptors of this process open on the pseudo-terminal multiplexer (masters), read from
/// the kernel's own table.
fn open_masters() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().contains("ptmx"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_shell_runs_commands_on_a_pseudo_terminal() {
    let user = TestUser::lock("a_terminal_shell_runs_commands_on_a_pseudo_terminal").await;
    let manager = manager(limits());
    let before = open_masters();
    let (out, err, code) = run_in(
        &manager,
        &user.owner,
        terminal_options(37, 113),
        "tty; stty size; echo \"term=$TERM\"; echo to-stderr >&2; id -u; \
         test -t 0 && test -t 1 && test -t 2 && echo all-three; stat -c %U:%a \"$(tty)\"",
    )
    .await;
    assert_eq!(code, 0, "{out}");
    // A terminal turns \n into \r\n (ONLCR): the output is what a terminal shows.
    let lines: Vec<&str> = out.split("\r\n").collect();
    assert!(lines[0].starts_with("/dev/pts/"), "{out:?}");
    assert_eq!(lines[1], "37 113");
    assert_eq!(lines[2], "term=xterm-256color");
    // stderr is the terminal too: merged into stdout, the stderr stream stays empty.
    assert_eq!(lines[3], "to-stderr");
    assert_eq!(err, "");
    assert_eq!(
        lines[4],
        user.user.uid.to_string(),
        "the same user switch as pipes"
    );
    assert_eq!(lines[5], "all-three");
    // The terminal belongs to the user it runs as, as a login gives it (stat on the host).
    assert_eq!(lines[6], format!("{}:620", user.user.name));
    // Closed as the command ends: by the waiter and the stdin writer, just after Done.
    wait_until("the master closed with the command", || {
        open_masters() == before
    })
    .await;
    user.assert_nothing_left().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shell_without_the_option_keeps_pipes() {
    let user = TestUser::lock("a_shell_without_the_option_keeps_pipes").await;
    let (out, _, code) = user
        .run(&manager(limits()), "tty; echo \"term=$TERM\"")
        .await;
    assert_eq!(code, 0);
    assert!(out.starts_with("not a tty\n"), "{out:?}");
    assert!(!out.contains("xterm-256color"));
    user.assert_nothing_left().await;
}

/// A shell of the test user on a 24x80 pseudo-terminal.
async fn terminal_session(test: &str) -> Session {
    Session::of_test_user_with(test, manager(limits()), terminal_options(24, 80)).await
}

/// Receives the command's stdout until what came holds `wanted`.
async fn read_stdout_until(session: &Session, command_id: &str, wanted: &str) {
    let request = wsman_shell::ReceiveRequest::new(vec!["stdout".into()], Duration::from_secs(5));
    let mut seen = String::new();
    while !seen.contains(wanted) {
        if let wsman_shell::ReceiveOutcome::Output(output) =
            session.receive(command_id, &request).await.unwrap()
        {
            for chunk in output.chunks {
                seen.push_str(&String::from_utf8(chunk.decoded()).unwrap());
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resize_reaches_the_running_command_and_later_ones() {
    let session = terminal_session("a_resize_reaches_the_running_command_and_later_ones").await;
    // The shell traps SIGWINCH, which the kernel sends the foreground job on a size change.
    let id = session
        .start("trap 'echo winch' WINCH; stty size; read line; stty size")
        .await;
    // The first size is printed before the resize is sent.
    read_stdout_until(&session, &id, "24 80\r\n").await;
    let resize = ShellSignal::WindowSize(WindowSize::new(50, 160));
    session.signal(&id, resize).await;
    session.send(&id, b"go\n", false).await;
    let (out, _, code) = session.collect(&id).await;
    assert_eq!(code, 0);
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("winch"), "{out:?}");
    // The size `stty` printed after the resize (the first was read above); the terminal's echo
    // of "go" may come before or after it (the kernel echoes when its line discipline runs,
    // which a loaded machine defers).
    let sizes: Vec<&str> = out
        .split("\r\n")
        .filter(|line| {
            let mut words = line.split(' ');
            words.clone().count() == 2 && words.all(|w| w.parse::<u16>().is_ok())
        })
        .collect();
    assert_eq!(sizes, ["50 160"], "{out:?}");
    // A later command starts with the new size.
    let next = session.start("stty size").await;
    let (out, _, _) = session.collect(&next).await;
    assert_eq!(String::from_utf8(out).unwrap(), "50 160\r\n");
    session.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_is_the_terminals_interrupt() {
    let session = terminal_session("ctrl_c_is_the_terminals_interrupt").await;
    let id = session
        .start("trap 'echo interrupted; exit 3' INT; echo ready; while :; do sleep 0.1; done")
        .await;
    read_stdout_until(&session, &id, "ready").await;
    session.signal(&id, ShellSignal::CtrlC).await;
    let (out, _, code) = session.collect(&id).await;
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("interrupted"), "{out:?}");
    assert_eq!(code, 3);
    session.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_of_input_is_the_terminals_eof() {
    let session = terminal_session("end_of_input_is_the_terminals_eof").await;
    let id = session.start("wc -l").await;
    session.send(&id, b"a\nb\n", true).await;
    let (out, _, code) = session.collect(&id).await;
    assert_eq!(code, 0);
    // The terminal echoes the input (ECHO is on); the last line is wc's count of the lines before the EOF.
    let out = String::from_utf8(out).unwrap();
    assert_eq!(out.trim_end().rsplit("\r\n").next(), Some("2"), "{out:?}");
    session.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_terminal_options_and_resizes_are_refused() {
    let (owner, _) = user_or_root("bad_terminal_options_and_resizes_are_refused");
    let manager = manager(limits());
    for (term, rows, columns) in [("../../etc/x", 24, 80), ("", 24, 80), ("xterm", 0, 80)] {
        let mut options = options();
        options.terminal = Some(TerminalOptions::new(term, WindowSize::new(rows, columns)));
        let refused = manager.create_shell(owner.clone(), options).await;
        assert!(
            matches!(refused, Err(ShellError::InvalidOption { .. })),
            "{term:?} {rows}x{columns}: {refused:?}"
        );
    }
    // A shell on pipes has no terminal to resize.
    let shell = shell(&manager, &owner).await;
    let id = start(&manager, &owner.user_name, &shell.shell_id, "true").await;
    let refused = manager
        .signal(
            &owner.key,
            &shell.shell_id,
            &id,
            ShellSignal::WindowSize(WindowSize::new(10, 10)),
        )
        .await;
    assert!(matches!(refused, Err(ShellError::InvalidOption { .. })));
    manager
        .delete_shell(&owner.key, &shell.shell_id)
        .await
        .unwrap();
}

/// `who`'s lines naming `line` (`pts/N`).
fn who_lists(line: &str) -> Vec<String> {
    let out = std::process::Command::new("who").output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some(line))
        .map(str::to_owned)
        .collect()
}

/// util-linux `utmpdump` of the wtmp file: one line per record.
fn wtmp_records() -> Vec<String> {
    let out = std::process::Command::new("utmpdump")
        .arg("/var/log/wtmp")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The fields of a utmpdump line, trimmed: `[7] [pid] [id] [user] [line] [host] ...`.
fn fields(record: &str) -> Vec<String> {
    record
        .split("] [")
        .map(|f| f.trim_matches(['[', ']', ' ']).to_owned())
        .collect()
}

/// A command on a terminal is a login seat while it runs: `who` lists its terminal (found from
/// the process's own stdin link) under the user's name, wtmp gets a login record (type 7,
/// USER_PROCESS) and, once the shell is deleted, a logout record (type 8, DEAD_PROCESS) of
/// the same process and line, and `who` no longer lists it. A command on pipes writes none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_is_a_login_seat_in_utmp_and_wtmp() {
    let _guard = USER_LOCK.lock().await;
    if !wsman_os::process::daemon_is_root() {
        eprintln!("skipped: utmp and wtmp are written by root only");
        return;
    }
    let usable = std::process::Command::new("utmpdump")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !usable || !std::path::Path::new("/var/log/wtmp").exists() {
        eprintln!("skipped: needs util-linux utmpdump and /var/log/wtmp");
        return;
    }
    // A container without systemd may have no utmp file, and glibc does not create one:
    // make it empty, as systemd-tmpfiles does at boot (`f /run/utmp 0664 root utmp`).
    if !std::path::Path::new("/run/utmp").exists() {
        std::fs::File::create("/run/utmp").unwrap();
    }
    let (owner, user) = user_or_root("a_terminal_is_a_login_seat_in_utmp_and_wtmp");
    let manager = manager(limits());
    let name = &owner.user_name;

    // Pipes first: no record names the command's process (other logins on this machine
    // may write wtmp meanwhile).
    let before = wtmp_records().len();
    let (out, _, code) = run_in(&manager, &owner, options(), "echo $$").await;
    assert_eq!(code, 0);
    let pipes_pid = out.trim().to_owned();
    let written: Vec<String> = wtmp_records()[before..]
        .iter()
        .filter(|r| fields(r).get(1) == Some(&pipes_pid))
        .cloned()
        .collect();
    assert!(written.is_empty(), "a pipes-only command wrote {written:?}");

    let shell = manager
        .create_shell(owner.clone(), terminal_options(24, 80))
        .await
        .unwrap();
    start(&manager, name, &shell.shell_id, "exec sleep 30.25").await;
    let mut sleeper = None;
    wait_until("the sleep on the terminal", || {
        sleeper = wsman_os::process::all_processes()
            .into_iter()
            .map(|stat| stat.pid)
            .find(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| c == b"sleep\x0030.25\x00")
            });
        sleeper.is_some()
    })
    .await;
    let pid = sleeper.unwrap();
    let terminal = std::fs::read_link(format!("/proc/{pid}/fd/0")).unwrap();
    let pts = terminal
        .to_string_lossy()
        .strip_prefix("/dev/")
        .unwrap()
        .to_owned();
    assert!(pts.starts_with("pts/"), "{pts}");
    wait_until("who lists the terminal", || !who_lists(&pts).is_empty()).await;
    let listed = who_lists(&pts);
    assert_eq!(
        listed[0].split_whitespace().next(),
        Some(user.name.as_str()),
        "{listed:?}"
    );

    manager
        .delete_shell(&key(name), &shell.shell_id)
        .await
        .unwrap();
    wait_until("who no longer lists the terminal", || {
        who_lists(&pts).is_empty()
    })
    .await;
    let records: Vec<Vec<String>> = wtmp_records()[before..]
        .iter()
        .map(|r| fields(r))
        .filter(|f| f.get(4) == Some(&pts))
        .collect();
    let kinds: Vec<(&str, &str)> = records
        .iter()
        .map(|f| (f[0].as_str(), f[3].as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![("7", user.name.as_str()), ("8", "")],
        "{records:?}"
    );
    // The shell ran `exec sleep`: the process of the records is the sleep (utmpdump pads the
    // pid with zeros to five digits).
    assert!(
        records
            .iter()
            .all(|f| f[1].parse::<u32>().ok() == Some(pid)),
        "{records:?} (pid {pid})"
    );
    assert_no_user_processes(&user).await;
}
