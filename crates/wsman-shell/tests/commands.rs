#![allow(clippy::unwrap_used)]
//! Commands with real processes: exit codes, streams, stdin, bounded
//! output, timeouts, signals.

mod common;

use std::time::Duration;

use common::*;
use wsman_shell::{
    CommandSpec, CommandState, ReceiveOutcome, ReceiveRequest, SendOutcome, ShellError, ShellSignal,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_pass_through() {
    let user = TestUser::lock("exit_codes_pass_through").await;
    let manager = manager(limits());
    for code in [0, 1, 42, 255] {
        let (_, _, exit_code) = user.run(&manager, &format!("exit {code}")).await;
        assert_eq!(exit_code, code);
    }
    let (_, _, killed) = user.run(&manager, "kill -9 $$").await;
    assert_eq!(killed, 137, "killed by signal 9 maps to 128+9");
    user.assert_nothing_left().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdout_and_stderr_stay_apart() {
    let user = TestUser::lock("stdout_and_stderr_stay_apart").await;
    let script = "echo out; echo err >&2; echo out2; exit 1";
    let (out, err, code) = user.run(&manager(limits()), script).await;
    assert_eq!(out, "out\nout2\n");
    assert_eq!(err, "err\n");
    assert_eq!(code, 1);
    user.assert_nothing_left().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn utf8_both_ways() {
    let session = Session::of_test_user("utf8_both_ways", manager(limits())).await;
    let text = "héllo wörld ✓ 日本語 🚀\n";
    // Through the command line.
    let (out, _, _) = run(
        &session.manager,
        &session.owner,
        &format!("printf '%s' '{text}'"),
    )
    .await;
    assert_eq!(out, text);
    // Through stdin.
    let id = session.start("cat").await;
    session.send(&id, text.as_bytes(), true).await;
    let (out, err, code) = session.collect(&id).await;
    assert_eq!(
        (String::from_utf8(out).unwrap().as_str(), err.len(), code),
        (text, 0, 0)
    );
    session.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_mebibyte_of_stdin_comes_back_through_cat() {
    let session = Session::of_test_user("one_mebibyte_of_stdin", manager(limits())).await;
    let id = session.start("cat").await;
    let input: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    // Receive while sending: cat blocks once its output is not read.
    let receiver = {
        let manager = session.manager.clone();
        let user_name = session.user_name().to_owned();
        let (shell_id, id) = (session.shell_id.clone(), id.clone());
        tokio::spawn(async move { collect(&manager, &user_name, &shell_id, &id).await })
    };
    for (index, chunk) in input.chunks(60_000).enumerate() {
        let last = (index + 1) * 60_000 >= input.len();
        session.send(&id, chunk, last).await;
    }
    let (out, err, code) = receiver.await.unwrap();
    assert_eq!(code, 0);
    assert!(err.is_empty());
    assert!(
        out == input,
        "echoed {} bytes, sent {}",
        out.len(),
        input.len()
    );
    session.close().await;
}

/// Commands whose output nobody receives hold, together, about their user's budget rather
/// than a buffer each; received one after the other, both deliver all their output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_commands_share_one_output_budget() {
    let mut limits = limits();
    let per_user = 256 * 1024;
    limits.output_buffer_bytes_per_user = per_user;
    let test = "a_users_commands_share_one_output_budget";
    let session = Session::of_test_user(test, manager(limits)).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        ids.push(session.start("head -c 3000000 /dev/zero").await);
    }
    let read = || -> u64 { session.info().commands.iter().map(|c| c.bytes_out).sum() };
    wait_until("the user's budget fills", || read() >= per_user as u64).await;
    // Time for pumps that ignored the user's budget to read on (a buffer each would hold 2 MiB).
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Two pumps may each have asked for the room they saw before the other read.
    assert!(
        read() <= 2 * per_user as u64,
        "read {} bytes with nothing received (user budget {per_user})",
        read()
    );
    for id in &ids {
        let (out, _, code) = session.collect(id).await;
        assert_eq!((out.len(), code), (3_000_000, 0));
    }
    session.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_megabytes_with_bounded_buffers() {
    let limits = limits();
    let bound = limits.output_buffer_bytes;
    let test = "five_megabytes_with_bounded_buffers";
    let session = Session::of_test_user(test, manager(limits)).await;
    let id = session.start("head -c 5000000 /dev/zero").await;
    // Nobody receives: the engine fills its buffer and stops reading.
    let info = || session.info().commands[0].clone();
    wait_until("the output buffer fills", || {
        info().peak_buffered_bytes >= bound
    })
    .await;
    let stalled = info();
    assert_eq!(stalled.state, CommandState::Running);
    assert!(
        stalled.bytes_out <= bound as u64,
        "read {} bytes with nothing received (bound {bound})",
        stalled.bytes_out
    );
    let (out, _, code) = session.collect(&id).await;
    assert_eq!((out.len(), code), (5_000_000, 0));
    assert!(out.iter().all(|&byte| byte == 0));
    let done = info();
    assert!(
        done.peak_buffered_bytes <= bound,
        "peak {}",
        done.peak_buffered_bytes
    );
    assert_eq!(done.bytes_out, 5_000_000);
    session.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_command_times_out_then_finishes() {
    let session = Session::of_test_user("silent_command_times_out", manager(limits())).await;
    let id = session.start("read line; echo got $line").await;
    let request = ReceiveRequest::new(vec!["stdout".into()], Duration::from_millis(300));
    let outcome = session.receive(&id, &request).await.unwrap();
    assert_eq!(outcome, ReceiveOutcome::TimedOut);
    // Nothing was lost: the command is still there and finishes normally.
    session.send(&id, b"it\n", true).await;
    let (out, _, code) = session.collect(&id).await;
    assert_eq!((out.as_slice(), code), (&b"got it\n"[..], 0));
    session.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_reaches_a_trap() {
    let session = Session::of_test_user("ctrl_c_reaches_a_trap", manager(limits())).await;
    let script = "trap 'echo caught; exit 7' INT; echo ready; while :; do sleep 1; done";
    let id = session.start(script).await;
    let request = ReceiveRequest::new(vec!["stdout".into()], Duration::from_secs(30));
    let ReceiveOutcome::Output(first) = session.receive(&id, &request).await.unwrap() else {
        panic!("no output from the script");
    };
    assert_eq!(first.chunks[0].decoded(), b"ready\n");
    session.signal(&id, ShellSignal::CtrlC).await;
    let (out, _, code) = session.collect(&id).await;
    assert_eq!((out.as_slice(), code), (&b"caught\n"[..], 7));
    // Signals after the end succeed (pywinrm and pypsrp send one).
    session.signal(&id, ShellSignal::CtrlC).await;
    session.signal(&id, ShellSignal::Terminate).await;
    session.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_kills_the_command_and_releases_its_id() {
    let session = Session::of_test_user("terminate", manager(limits())).await;
    let id = session.start("sleep 300 & sleep 301; wait").await;
    let pid = session.first_command_pid();
    wait_until("both sleeps run", || {
        processes_in_sessions(&[pid]).len() >= 3
    })
    .await;
    session.signal(&id, ShellSignal::Terminate).await;
    wait_until("the tree is gone", || {
        processes_in_sessions(&[pid]).is_empty()
    })
    .await;
    let request = ReceiveRequest::new(vec!["stdout".into()], Duration::from_secs(1));
    let error = session.receive(&id, &request).await.unwrap_err();
    assert!(
        matches!(error, ShellError::UnknownCommand { .. }),
        "{error:?}"
    );
    session.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_kills_descendants_in_their_own_session() {
    let session = Session::of_test_user("terminate_setsid", manager(limits())).await;
    let id = session.start("setsid sleep 1004 & sleep 1005").await;
    let pid = session.first_command_pid();
    // The child that left the command's session, found by its parent.
    let escaped = || -> Vec<u32> {
        wsman_os::process::all_processes()
            .into_iter()
            .filter(|p| p.ppid == pid && p.session != pid)
            .map(|p| p.pid)
            .collect()
    };
    wait_until("the setsid child runs", || !escaped().is_empty()).await;
    let outside = escaped()[0];
    session.signal(&id, ShellSignal::Terminate).await;
    // Terminate alone, before any Delete, ends it (the kernel may need a moment to reap).
    wait_until("the setsid child is gone", || {
        !wsman_os::process::all_processes()
            .iter()
            .any(|p| p.pid == outside)
    })
    .await;
    session.close().await;
}

/// The live processes whose command line is exactly `argv` (NUL-separated, as /proc has it).
fn running_exactly(argv: &[&str]) -> Vec<u32> {
    let wanted: Vec<u8> = argv
        .iter()
        .flat_map(|arg| [arg.as_bytes(), b"\0"].concat())
        .collect();
    wsman_os::process::all_processes()
        .into_iter()
        .filter(|p| p.state != 'Z')
        .filter(|p| std::fs::read(format!("/proc/{}/cmdline", p.pid)).is_ok_and(|c| c == wanted))
        .map(|p| p.pid)
        .collect()
}

/// What a command started and that left its session twice over (`setsid -f` forks a new
/// session and its parent exits; `(setsid ... &)` is reparented to init) ends with the
/// command's Terminate, before any Delete, thanks to the command's own cgroup; another
/// command of the same shell runs on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_ends_what_left_the_session_and_spares_other_commands() {
    let Some(manager) = manager_with_cgroups(limits()) else {
        return;
    };
    let session = Session::of_test_user("terminate_setsid_cgroup", manager).await;
    let script = "setsid -f sleep 600.411; (setsid sleep 600.412 &); sleep 600.413";
    let id = session.start(script).await;
    let other = session.start("sleep 600.414").await;
    wait_until("the command's sleeps run", || {
        ["600.411", "600.412", "600.413", "600.414"]
            .iter()
            .all(|marker| !running_exactly(&["sleep", marker]).is_empty())
    })
    .await;
    session.signal(&id, ShellSignal::Terminate).await;
    wait_until("the command's sleeps are gone", || {
        ["600.411", "600.412", "600.413"]
            .iter()
            .all(|marker| running_exactly(&["sleep", marker]).is_empty())
    })
    .await;
    assert_eq!(running_exactly(&["sleep", "600.414"]).len(), 1);
    session.signal(&other, ShellSignal::Terminate).await;
    session.close().await;
    wait_until("the other command is gone", || {
        running_exactly(&["sleep", "600.414"]).is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequence_id_replays_a_lost_response() {
    let session = Session::of_root(manager(limits())).await;
    let id = session.start("printf abc; read x; printf def").await;
    let mut request = ReceiveRequest::new(vec!["stdout".into()], Duration::from_secs(30));
    request.sequence_id = Some(0);
    let first = session.receive(&id, &request).await.unwrap();
    let ReceiveOutcome::Output(output) = &first else {
        panic!("{first:?}")
    };
    assert_eq!(output.chunks[0].decoded(), b"abc");
    // The response was "lost": the same SequenceId gets the same answer.
    let again = session.receive(&id, &request).await.unwrap();
    assert_eq!(first, again);
    session.send(&id, b"\n", true).await;
    let mut data = Vec::new();
    let mut done = 0;
    for sequence_id in 1..100 {
        request.sequence_id = Some(sequence_id);
        let ReceiveOutcome::Output(output) = session.receive(&id, &request).await.unwrap() else {
            continue;
        };
        for chunk in &output.chunks {
            data.extend(chunk.decoded());
        }
        if let CommandState::Done { exit_code } = output.state {
            assert_eq!(exit_code, 0);
            done += 1;
            // A lost Done is replayed too.
            let replay = session.receive(&id, &request).await.unwrap();
            assert_eq!(replay, ReceiveOutcome::Output(output));
            request.sequence_id = Some(sequence_id + 1);
            let after = session.receive(&id, &request).await;
            assert!(
                matches!(after, Err(ShellError::CommandAlreadyDone { .. })),
                "{after:?}"
            );
            break;
        }
    }
    assert_eq!((data.as_slice(), done), (&b"def"[..], 1));
    session.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_cmd_shell_execs_directly() {
    let session = Session::of_root(manager(limits())).await;
    let mut spec = CommandSpec::new("printf", vec!["%s|".into(), "a b".into(), "$HOME".into()]);
    spec.skip_cmd_shell = true;
    let id = session.run(spec).await.unwrap();
    let (out, _, code) = session.collect(&id).await;
    assert_eq!((out.as_slice(), code), (&b"a b|$HOME|"[..], 0));
    let mut missing = CommandSpec::new("wsman-no-such-program", Vec::new());
    missing.skip_cmd_shell = true;
    let error = session.run(missing).await.unwrap_err();
    assert!(
        matches!(error, ShellError::CommandNotFound { .. }),
        "{error:?}"
    );
    // Through /bin/sh a missing program is exit code 127, as in a shell.
    let id = session.start("wsman-no-such-program").await;
    let (_, err, code) = session.collect(&id).await;
    assert_eq!(code, 127);
    assert!(!err.is_empty());
    session.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_child_holding_stdout_does_not_block_done() {
    let test = "background_child_holding_stdout";
    let session = Session::of_test_user(test, manager(limits())).await;
    let id = session.start("sleep 300 & echo hi").await;
    // Done comes after the exit-drain grace although `sleep` keeps the
    // pipes open; Delete then ends `sleep`.
    let (out, _, code) = session.collect(&id).await;
    assert_eq!((out.as_slice(), code), (&b"hi\n"[..], 0));
    session.close().await;
}

/// A background child that keeps writing to the inherited stdout must not hold Done back
/// beyond the exit-drain grace (a per-read idle timeout would: every tick restarts it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_child_writing_steadily_does_not_block_done() {
    let test = "background_child_writing_steadily";
    let session = Session::of_test_user(test, manager(limits())).await;
    // Without the fix this command would never reach Done: the writer never stops.
    let id = session
        .start("(while :; do echo tick; sleep 0.2; done) & echo main; exit 3")
        .await;
    let collected = tokio::time::timeout(std::time::Duration::from_secs(60), session.collect(&id))
        .await
        .expect("Done must come while the background writer still writes");
    let (out, _, code) = collected;
    assert_eq!(code, 3);
    assert!(out.windows(5).any(|w| w == b"main\n"), "{out:?}");
    session.close().await;
}

/// A child that does not read stdin until a gate file exists. A Send that
/// does not fit the bounded input queue in time is refused whole: nothing of
/// it reaches the child. End is accepted even with the queue full and
/// arrives after the queued data. The queue never holds more than its bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_is_queued_whole_or_refused_whole() {
    let session = Session::of_root_with_input_queue(100_000).await;
    let gate = std::env::temp_dir().join(format!(
        "wsman-shell-gate-{}-{}",
        std::process::id(),
        session.shell_id
    ));
    let command = format!(
        "while [ ! -e '{}' ]; do sleep 0.05; done; cat",
        gate.display()
    );
    let id = session.start(&command).await;
    let send = |data: Vec<u8>, end: bool, timeout: Duration| {
        let (session, id) = (&session, &id);
        async move { session.try_send(id, &data, end, timeout).await }
    };
    let chunk = |byte: u8| vec![byte; 60_000];
    // Until one is refused: the pipe takes about 64 KiB, the queue 100 kB.
    let mut accepted = Vec::new();
    let mut refused = false;
    for byte in b'a'..=b'h' {
        match send(chunk(byte), false, Duration::from_millis(300)).await {
            Ok(SendOutcome::Accepted) => accepted.extend(chunk(byte)),
            Ok(SendOutcome::TimedOut) => {
                refused = true;
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(refused, "the input queue never filled up");
    let queued_peak = session.info().commands[0].peak_input_queued_bytes;
    assert!(queued_peak <= 100_000, "queued {queued_peak} bytes");
    // End does not wait for room; it follows the queued data.
    let ended = send(Vec::new(), true, Duration::from_millis(300)).await;
    assert!(matches!(ended, Ok(SendOutcome::Accepted)), "{ended:?}");
    let after_end = send(b"late".to_vec(), false, Duration::from_millis(300)).await;
    assert!(
        matches!(after_end, Err(ShellError::InputAlreadyEnded { .. })),
        "{after_end:?}"
    );
    std::fs::write(&gate, b"").unwrap();
    let (out, _, code) = session.collect(&id).await;
    let _ = std::fs::remove_file(&gate);
    assert_eq!(code, 0);
    assert_eq!(out.len(), accepted.len(), "refused input reached the child");
    assert!(out == accepted);
    session.close().await;
}

/// OutputStreams "stdout stderr" but the client only ever asks for stdout
/// while the command floods stderr: the child blocks on its full stderr
/// pipe, each Receive still times out (never hangs), memory stays bounded,
/// and receiving stderr later finishes the command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_stream_never_received_times_out_and_stays_bounded() {
    let limits = limits();
    let bound = limits.output_buffer_bytes;
    let session = Session::of_root(manager(limits)).await;
    let id = session
        .start("head -c 3000000 /dev/zero >&2; echo out-done")
        .await;
    let stdout_only = ReceiveRequest::new(vec!["stdout".into()], Duration::from_millis(300));
    for _ in 0..3 {
        let outcome = session.receive(&id, &stdout_only).await.unwrap();
        assert_eq!(outcome, ReceiveOutcome::TimedOut);
    }
    let info = session.info();
    assert_eq!(info.commands[0].state, CommandState::Running);
    assert!(info.commands[0].peak_buffered_bytes <= bound);
    let (out, err, code) = session.collect(&id).await;
    assert_eq!(out, b"out-done\n");
    assert_eq!(err.len(), 3_000_000);
    assert_eq!(code, 0);
    session.close().await;
}

/// A command that closes its stdout and stderr and runs on: no `End` before its `Done` (every
/// recorded Windows answer sends the ends with Done; clients stop reading at the first End).
/// The Receives before the exit answer nothing (they time out); the one after it carries both
/// ends, empty, and Done. Before issue 47 each end came in a Running answer of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_ends_come_with_the_exit() {
    let test = "stream_ends_come_with_the_exit";
    let session = Session::of_test_user(test, manager(limits())).await;
    let id = session.start("exec >&- 2>&-; sleep 2").await;
    let request = ReceiveRequest::new(
        vec!["stdout".into(), "stderr".into()],
        Duration::from_millis(300),
    );
    let last = loop {
        match session.receive(&id, &request).await.unwrap() {
            ReceiveOutcome::TimedOut => continue,
            ReceiveOutcome::Output(output) => break output,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(last.state, CommandState::Done { exit_code: 0 });
    let ends: Vec<(&str, usize, bool)> = last
        .chunks
        .iter()
        .map(|c| (c.stream.as_str(), c.len, c.end))
        .collect();
    assert_eq!(ends, [("stdout", 0, true), ("stderr", 0, true)]);
    session.close().await;
}

/// A Send larger than the whole input queue could never fit: it is refused at once, even into
/// an empty queue, and nothing of it is queued or reaches the child; one that fits exactly is
/// taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_larger_than_the_input_queue_is_refused_not_queued() {
    let session = Session::of_root_with_input_queue(1000).await;
    let id = session.start("cat").await;
    let send = |data: Vec<u8>, end: bool| {
        let (session, id) = (&session, &id);
        async move {
            session
                .try_send(id, &data, end, Duration::from_secs(5))
                .await
        }
    };
    let refused = send(vec![b'x'; 1001], false).await;
    assert!(
        matches!(
            refused,
            Err(ShellError::InputTooLarge {
                bytes: 1001,
                limit: 1000
            })
        ),
        "{refused:?}"
    );
    assert_eq!(session.info().commands[0].peak_input_queued_bytes, 0);
    let taken = send(vec![b'y'; 1000], true).await;
    assert!(matches!(taken, Ok(SendOutcome::Accepted)), "{taken:?}");
    assert_eq!(session.info().commands[0].peak_input_queued_bytes, 1000);
    let (out, _, code) = session.collect(&id).await;
    assert_eq!((out, code), (vec![b'y'; 1000], 0));
}

/// Starting a command waits for the exec and, inside a PAM session, for the session stack
/// (pam_systemd may wait for logind): it never holds a thread of the caller's runtime, even a
/// current-thread one, so the runtime's other tasks (other users' requests) go on meanwhile.
/// The stack's pam_exec holds the open until the test lets it go, so the order is certain.
/// Needs root, the PAM test account and `wsmand-session` beside the test's target directory
/// (`cargo build -p wsmand`); skipped otherwise.
#[tokio::test(flavor = "current_thread")]
async fn a_command_waiting_for_its_session_holds_no_runtime_thread() {
    let (Ok(name), Some(helper)) = (
        std::env::var("WSMAN_TEST_PAM_USER"),
        std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.parent()?.join("wsmand-session")))
            .filter(|path| path.is_file()),
    ) else {
        eprintln!("skipped: needs WSMAN_TEST_PAM_USER and wsmand-session (cargo build -p wsmand)");
        return;
    };
    let Some(user) = wsman_os::lookup_user(&name).ok().flatten() else {
        eprintln!("skipped: no account {name}");
        return;
    };
    if !wsman_os::process::daemon_is_root() {
        eprintln!("skipped: writing a PAM service and switching users need root");
        return;
    }
    let tag = format!("wsman-shell-gate-{}", std::process::id());
    let dir = std::env::temp_dir().join(&tag);
    std::fs::create_dir_all(&dir).unwrap();
    let (gate, waiting, open, released) = (
        dir.join("gate.sh"),
        dir.join("waiting"),
        dir.join("open"),
        dir.join("released"),
    );
    // Gives up after 30 s, so that a held runtime fails the test, not hangs it.
    std::fs::write(
        &gate,
        format!(
            "#!/bin/sh\nPATH=/usr/bin:/bin\n[ \"$PAM_TYPE\" = open_session ] || exit 0\n\
             : >{w}\ni=0\nwhile [ ! -e {o} ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done\n\
             : >{r}\n",
            w = waiting.display(),
            o = open.display(),
            r = released.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&gate, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let service = std::path::Path::new("/etc/pam.d").join(&tag);
    std::fs::write(
        &service,
        format!(
            "@include common-auth\n@include common-account\nsession required pam_exec.so {}\n",
            gate.display()
        ),
    )
    .unwrap();
    let manager = manager(limits());
    manager.set_login_sessions(Some(wsman_os::process::SessionHelper {
        path: helper,
        service: tag.clone(),
    }));
    let mut owner = owner(&name, user);
    owner.linux_account = true;
    let shell_id = shell(&manager, &owner).await.shell_id;
    let starting = {
        let (manager, shell_id, key) = (manager.clone(), shell_id.clone(), key(&name));
        tokio::spawn(async move {
            manager
                .run_command(&key, &shell_id, line("echo started"))
                .await
        })
    };
    while !waiting.exists() && !released.exists() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // This task ran while the session was opening, not only after.
    let held = released.exists();
    std::fs::write(&open, b"").unwrap();
    let id = starting.await.unwrap();
    let _ = std::fs::remove_file(&service);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        !held,
        "the runtime's only thread was held until the session had opened"
    );
    let (out, _, code) = collect(&manager, &name, &shell_id, &id.unwrap()).await;
    assert_eq!((out.as_slice(), code), (&b"started\n"[..], 0));
    manager.delete_shell(&key(&name), &shell_id).await.unwrap();
}
