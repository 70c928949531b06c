//! Tests of starting commands: environment, ids, directories, PATH search, exit codes,
//! signal state and descriptors, concurrent spawns and reaping.
#![allow(clippy::unwrap_used)]
use std::fs;
use std::io::Read;
use std::os::fd::OwnedFd;

use nix::errno::Errno;

use super::*;
use crate::users::lookup_user;

fn root() -> LinuxUser {
    lookup_user("root").unwrap().unwrap()
}

/// Closes stdin, reads stdout and stderr to the end, reaps: (status, stdout, stderr).
pub(crate) fn finish(mut child: Child) -> (std::process::ExitStatus, String, String) {
    drop(child.stdin.take());
    let read = |pipe: Option<OwnedFd>| {
        let mut text = String::new();
        if let Some(pipe) = pipe {
            fs::File::from(pipe).read_to_string(&mut text).unwrap();
        }
        text
    };
    let stderr = child.stderr.take();
    let stderr = std::thread::spawn(move || read(stderr));
    let stdout = read(child.stdout.take());
    let status = child.wait().unwrap();
    (status, stdout, stderr.join().unwrap())
}

fn path_only() -> Vec<(String, String)> {
    vec![("PATH".into(), "/usr/bin:/bin".into())]
}

fn start(program: Program, environment: Vec<(String, String)>) -> Result<Child, ProcessError> {
    let request = SpawnRequest::new(program, RunAs::Daemon, environment, "/".into());
    PreparedCommand::new(request).unwrap().spawn()
}

fn shell_line(line: &str) -> Program {
    Program::ShellCommandLine { line: line.into() }
}

#[test]
fn runs_shell_command_line_with_clean_environment() {
    let user = root();
    let mut environment = login_environment(&user, false);
    environment.push(("EXTRA".to_owned(), "x y".to_owned()));
    let program = Program::ShellCommandLine {
        line: "echo \"$EXTRA|$HOME|$USER|$(pwd)\"; env | wc -l".to_owned(),
    };
    let request = SpawnRequest::new(program, RunAs::Daemon, environment, "/tmp".into());
    let child = PreparedCommand::new(request).unwrap().spawn().unwrap();
    let (_, text, _) = finish(child);
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), "x y|/root|root|/tmp");
    // HOME USER LOGNAME SHELL PATH EXTRA + PWD (sh sets it)
    let count: usize = lines.next().unwrap().trim().parse().unwrap();
    assert!(count <= 8, "environment not clean: {count} variables");
}

#[test]
fn missing_directory_and_program_are_typed() {
    let request = SpawnRequest::new(
        Program::ShellCommandLine {
            line: "true".into(),
        },
        RunAs::Daemon,
        Vec::new(),
        "/nonexistent-wsman-dir".into(),
    );
    let error = PreparedCommand::new(request).unwrap().spawn().unwrap_err();
    assert!(
        matches!(
            error,
            ProcessError::WorkingDirectory {
                errno: Errno::ENOENT,
                ..
            }
        ),
        "{error:?}"
    );
    let request = SpawnRequest::new(
        Program::Direct {
            program: "wsman-no-such-program".into(),
            args: vec![],
        },
        RunAs::Daemon,
        vec![("PATH".into(), "/usr/bin:/bin".into())],
        "/".into(),
    );
    let error = PreparedCommand::new(request).unwrap().spawn().unwrap_err();
    assert!(
        matches!(error, ProcessError::ProgramNotFound { .. }),
        "{error:?}"
    );
}

#[test]
fn switches_to_the_user_and_checks_the_directory_as_the_user() {
    if !daemon_is_root() {
        eprintln!("skipped: switching users needs root");
        return;
    }
    let Some(nobody) = lookup_user("nobody").unwrap() else {
        eprintln!("skipped: no 'nobody' user here");
        return;
    };
    let program = Program::ShellCommandLine {
        line: "id -u; id -g; id -G".into(),
    };
    let environment = vec![("PATH".into(), "/usr/bin:/bin".into())];
    let request = SpawnRequest::new(program, RunAs::User(&nobody), environment, "/".into());
    let child = PreparedCommand::new(request).unwrap().spawn().unwrap();
    let (_, text, _) = finish(child);
    let groups: Vec<String> = nobody.groups.iter().map(u32::to_string).collect();
    let expected = format!("{}\n{}\n{}\n", nobody.uid, nobody.gid, groups.join(" "));
    assert_eq!(text, expected);
    // Root may enter a 0700 directory of its own; nobody may not.
    let private = std::env::temp_dir().join(format!("wsman-os-private-{}", std::process::id()));
    fs::create_dir_all(&private).unwrap();
    std::fs::set_permissions(
        &private,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let denied = check_working_directory(RunAs::User(&nobody), &private);
    let allowed = check_working_directory(RunAs::Daemon, &private);
    fs::remove_dir(&private).unwrap();
    assert!(
        matches!(
            denied,
            Err(ProcessError::WorkingDirectory {
                errno: Errno::EACCES,
                ..
            })
        ),
        "{denied:?}"
    );
    allowed.unwrap();
}
#[test]
fn exit_codes_pipes_and_stderr() {
    for (line, expected) in [("exit 0", 0), ("exit 42", 42), ("kill -9 $$", 137)] {
        let (status, _, _) = finish(start(shell_line(line), path_only()).unwrap());
        assert_eq!(exit_code(status), expected, "{line}");
    }
    let mut child = start(shell_line("cat; echo oops >&2; exit 3"), path_only()).unwrap();
    let stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut fs::File::from(stdin), b"through the pipe\n").unwrap();
    let (status, stdout, stderr) = finish(child);
    assert_eq!(
        (exit_code(status), stdout.as_str(), stderr.as_str()),
        (3, "through the pipe\n", "oops\n")
    );
    // Not piped: /dev/null on all three, and no pipe ends for the daemon.
    let mut request = SpawnRequest::new(shell_line("cat"), RunAs::Daemon, path_only(), "/".into());
    request.piped = false;
    let mut child = PreparedCommand::new(request).unwrap().spawn().unwrap();
    assert!(child.stdin.is_none() && child.stdout.is_none() && child.stderr.is_none());
    assert!(child.pidfd().is_some(), "this kernel gives pidfds");
    assert_eq!(exit_code(child.wait().unwrap()), 0);
}

/// PATH search as `execvp` does it: missing directories skipped, a file without `#!`
/// run by /bin/sh, a file without execute permission refused with EACCES.
#[test]
fn direct_exec_searches_path_like_execvp() {
    let dir = std::env::temp_dir().join(format!("wsman-os-exec-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let script = dir.join("wsman-script");
    fs::write(&script, "echo \"from script: $1 $2\"\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let plain = dir.join("wsman-not-executable");
    fs::write(&plain, "echo never\n").unwrap();
    let search = format!("/nonexistent-wsman-dir:{}", dir.display());
    let environment = vec![("PATH".to_owned(), search)];
    let direct = |program: &str| Program::Direct {
        program: program.to_owned(),
        args: vec!["a b".to_owned(), "c".to_owned()],
    };
    let found = start(direct("wsman-script"), environment.clone()).map(finish);
    let by_path = start(direct(&script.display().to_string()), Vec::new()).map(finish);
    let denied = start(direct("wsman-not-executable"), environment.clone());
    let missing = start(direct("wsman-no-such-program"), environment);
    fs::remove_dir_all(&dir).unwrap();
    let (status, stdout, _) = found.unwrap();
    assert_eq!(
        (exit_code(status), stdout.as_str()),
        (0, "from script: a b c\n")
    );
    let (_, stdout, _) = by_path.unwrap();
    assert_eq!(stdout, "from script: a b c\n");
    assert!(
        matches!(
            denied,
            Err(ProcessError::Exec {
                errno: Errno::EACCES,
                ..
            })
        ),
        "{denied:?}"
    );
    assert!(
        matches!(missing, Err(ProcessError::ProgramNotFound { .. })),
        "{missing:?}"
    );
    // glibc's default search path when the environment has none.
    let (_, stdout, _) = finish(
        start(
            Program::Direct {
                program: "echo".into(),
                args: vec!["default path".into()],
            },
            Vec::new(),
        )
        .unwrap(),
    );
    assert_eq!(stdout, "default path\n");
}

/// The child starts with default signal dispositions, an empty mask (the daemon ignores
/// SIGPIPE, and its spawning thread blocks everything around the clone), and none of the
/// daemon's descriptors beyond 0-2, close-on-exec or not.
#[test]
fn child_inherits_no_signal_state_and_no_descriptors() {
    // SAFETY: dup of stderr gives a new descriptor without close-on-exec.
    let leaked = unsafe { libc::dup(2) };
    assert!(leaked > 2);
    let direct = |program: &str, args: &[&str]| Program::Direct {
        program: program.to_owned(),
        args: args.iter().map(|arg| (*arg).to_owned()).collect(),
    };
    // The programs read their own status: run directly, not through sh (whose own mask
    // changes while it starts a command).
    let status_lines = direct("grep", &["-E", "^Sig(Blk|Ign)", "/proc/self/status"]);
    let (_, signals, _) = finish(start(status_lines, path_only()).unwrap());
    let fd = format!("/proc/self/fd/{leaked}");
    let (status, _, _) = finish(start(direct("test", &["-e", &fd]), path_only()).unwrap());
    let (control, _, _) =
        finish(start(direct("test", &["-e", "/proc/self/fd/2"]), path_only()).unwrap());
    // SAFETY: closes the descriptor duplicated above.
    unsafe { libc::close(leaked) };
    assert_eq!(
        signals,
        "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"
    );
    assert_eq!(
        (exit_code(status), exit_code(control)),
        (1, 0),
        "descriptor {leaked} inherited"
    );
}

/// Several threads spawning at once each get their own child stack and plan.
#[test]
fn concurrent_spawns() {
    let threads: Vec<_> = (0..6)
        .map(|thread| {
            std::thread::spawn(move || {
                for round in 0..20 {
                    let line = format!("echo {thread}.{round}");
                    let (status, stdout, _) =
                        finish(start(shell_line(&line), path_only()).unwrap());
                    assert_eq!(
                        (exit_code(status), stdout),
                        (0, format!("{line}\n")[5..].to_owned())
                    );
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

/// A child dropped while it runs is reaped by a later spawn, not left a zombie.
#[test]
fn dropped_child_is_reaped_later() {
    let child = start(shell_line("sleep 0.5"), path_only()).unwrap();
    let pid = child.id();
    drop(child);
    // Still running when dropped: nothing could reap it then.
    assert!(process_stat(pid).is_some_and(|stat| stat.state != 'Z'));
    // Once it has exited it is a zombie, until a spawn (here or in a test running beside
    // this one) reaps it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while process_stat(pid).is_some_and(|stat| stat.state != 'Z') {
        assert!(std::time::Instant::now() < deadline, "sleep never ended");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (status, _, _) = finish(start(shell_line("exit 0"), path_only()).unwrap());
    assert!(status.success());
    assert_eq!(process_stat(pid), None);
}
