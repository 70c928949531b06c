//! Run a command to completion with a deadline: a test must fail, never hang.

use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// What a finished command printed and how it ended.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// Exit code, or -1 when killed by a signal.
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }

    /// Asserts the process exited 0 and printed `text` on stdout, describing it otherwise.
    #[track_caller]
    pub fn assert_printed(&self, text: &str) {
        assert_eq!(self.code(), 0, "{}", self.describe());
        assert!(self.stdout.contains(text), "{}", self.describe());
    }

    /// Asserts the process exited 0 having printed `expected` alone (surrounding white space
    /// aside), as `winrs HOST "id -un"` prints a user; `context` names the case on failure.
    #[track_caller]
    pub fn assert_output(&self, expected: &str, context: &str) {
        assert_eq!(self.code(), 0, "{context}: {}", self.describe());
        assert_eq!(
            self.stdout.trim(),
            expected,
            "{context}: {}",
            self.describe()
        );
    }

    /// Asserts the process exited 0 having printed each of `lines` as a line of its own
    /// (surrounding white space aside), as `winrm get` prints settings.
    #[track_caller]
    pub fn assert_printed_lines(&self, lines: &[&str]) {
        assert_eq!(self.code(), 0, "{}", self.describe());
        for line in lines {
            assert!(
                has_line(&self.stdout, line),
                "missing {line:?}\n{}",
                self.describe()
            );
        }
    }

    /// Both streams, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "exit {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code(),
            self.stdout,
            self.stderr
        )
    }
}

/// Whether `output` has `expected` as a line of its own, surrounding white space aside.
pub fn has_line(output: &str, expected: &str) -> bool {
    output.lines().any(|l| l.trim() == expected)
}

/// [`run`] without input, asserting that the command succeeded (the panic says `what` failed
/// and what it printed).
#[track_caller]
pub fn run_ok(command: &mut Command, deadline: Duration, what: &str) -> Finished {
    let finished = run(command, None, deadline);
    assert!(
        finished.status.success(),
        "{what} failed: {}",
        finished.describe()
    );
    finished
}

/// Run `command` with `stdin` fed in, killing it after `deadline`. Panics on a timeout with
/// what it printed so far, so the failure names the command.
pub fn run(command: &mut Command, stdin: Option<&str>, deadline: Duration) -> Finished {
    let description = format!("{command:?}");
    let mut child = command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {description}: {e}"));
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A child that exits without reading gives EPIPE; its exit status tells the story.
        let _ = pipe.write_all(input.as_bytes());
    }
    let bytes = collect(child, deadline, &description);
    Finished {
        status: bytes.status,
        stdout: String::from_utf8_lossy(&bytes.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&bytes.stderr).into_owned(),
    }
}

/// What a finished command printed, as bytes: for output that need not be UTF-8 (a shell's
/// code page, a binary stream).
#[derive(Debug)]
pub struct FinishedBytes {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl FinishedBytes {
    /// Exit code, or -1 when killed by a signal.
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }

    /// Both streams, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "exit {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code(),
            String::from_utf8_lossy(&self.stdout),
            String::from_utf8_lossy(&self.stderr)
        )
    }
}

/// Read `child`'s piped stdout and stderr to their end and wait for it up to `deadline`.
/// Panics when the deadline passes, naming `description`, with what it printed so far.
pub fn collect(mut child: Child, deadline: Duration, description: &str) -> FinishedBytes {
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = wait_until(&mut child, deadline);
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    match status {
        Some(status) => FinishedBytes {
            status,
            stdout,
            stderr,
        },
        None => panic!(
            "{description} did not finish within {deadline:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        ),
    }
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buffer = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut buffer);
        }
        buffer
    })
}

/// Wait for `child` up to `deadline`; kill and reap it when the deadline passes (returns None).
pub fn wait_until(child: &mut Child, deadline: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if start.elapsed() < deadline => thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}
