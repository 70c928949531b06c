#![allow(clippy::unwrap_used)]
//! `winrs -pty` end to end: the real wsmand on a free loopback port, our real winrs running in
//! a tmux pane (a real terminal), the pane read back with `tmux capture-pane`. The sizes the
//! tests expect come from tmux (`#{pane_height}`, `#{pane_width}`), the terminal facts from
//! `tty`, `stty` and `vi` on the host. Needs `target/debug/wsmand` and `target/debug/winrs`
//! (`cargo build -p wsmand -p winrs`) and tmux and vi (Debian `tmux`, `vim`).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use wsman_test::{binaries, Fixture, SERVICE_ACCOUNT, SERVICE_PASSWORD};

/// No wait of a test is longer than this.
const DEADLINE: Duration = Duration::from_secs(60);

/// A tmux server of its own (own socket in a temporary directory), killed on drop with
/// everything running in it.
struct Tmux {
    dir: tempfile::TempDir,
    socket: PathBuf,
}

impl Tmux {
    /// A detached session of `columns` x `rows` running `winrs ARGS` against `fx`; the pane
    /// stays after winrs exits so its exit status can be read.
    fn winrs(fx: &Fixture, columns: u16, rows: u16, args: &[&str]) -> Self {
        Self::winrs_then(fx, columns, rows, args, "")
    }

    /// [`Tmux::winrs`], the pane's shell running `after` once winrs has exited (`$WINRS_PID`
    /// is not set: winrs runs in the foreground).
    fn winrs_then(fx: &Fixture, columns: u16, rows: u16, args: &[&str], after: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let tmux = Self {
            socket: dir.path().join("tmux.sock"),
            dir,
        };
        let mut command = vec![
            binaries::path("winrs").display().to_string(),
            format!("-r:{}", fx.url()),
            "-a:Basic".into(),
            "-unencrypted".into(),
            format!("-u:{SERVICE_ACCOUNT}"),
            format!("-p:{SERVICE_PASSWORD}"),
        ];
        command.extend(args.iter().map(|a| (*a).to_owned()));
        let (columns, rows) = (columns.to_string(), rows.to_string());
        let config = format!("WSMAND_CONFIG_DIR={}", fx.config.path().display());
        // Options in a configuration file, in force before the pane exists: the pane has the
        // session's size from the start and stays after winrs exits (for its exit status).
        let conf = tmux.dir.path().join("tmux.conf");
        std::fs::write(
            &conf,
            "set -g status off\nset -g remain-on-exit on\nset -g default-terminal screen-256color\n",
        )
        .unwrap();
        let conf = conf.display().to_string();
        let mut new_session = vec![
            "-f",
            &conf,
            "new-session",
            "-d",
            "-x",
            &columns,
            "-y",
            &rows,
            "-e",
            &config,
            "--",
        ];
        let mut script = command
            .iter()
            .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
            .collect::<Vec<_>>()
            .join(" ");
        if !after.is_empty() {
            script = format!("{script}; {after}");
        }
        new_session.push(&script);
        tmux.run(&new_session);
        tmux
    }

    fn run(&self, args: &[&str]) -> String {
        let output = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// The pane's text, its scrolled-off history first (a line written while tmux sets the
    /// window up may scroll off the visible part).
    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-J", "-S", "-"])
    }

    /// The visible part of the pane only: what a full-screen program drew.
    fn visible(&self) -> String {
        self.run(&["capture-pane", "-p", "-J"])
    }

    fn format(&self, format: &str) -> String {
        self.run(&["display-message", "-p", format])
            .trim()
            .to_owned()
    }

    /// `rows columns` of the pane, as tmux (and `stty size`) say it.
    fn pane_size(&self) -> String {
        self.format("#{pane_height} #{pane_width}")
    }

    /// Waits until the screen satisfies `predicate`; the screen then.
    fn wait_for(&self, what: &str, predicate: impl Fn(&str) -> bool) -> String {
        self.wait_for_in(what, Self::screen, predicate)
    }

    fn wait_for_in(
        &self,
        what: &str,
        capture: fn(&Self) -> String,
        predicate: impl Fn(&str) -> bool,
    ) -> String {
        let start = Instant::now();
        loop {
            let screen = capture(self);
            if predicate(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "gave up waiting for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for winrs to exit; its exit status (128 + N when a signal N ended it).
    fn exit_status(&self) -> i32 {
        let start = Instant::now();
        loop {
            let ended = self.format("#{pane_dead} #{pane_dead_status} #{pane_dead_signal}");
            let mut fields = ended.split_whitespace();
            if fields.next() == Some("1") {
                match (fields.next().map(str::parse::<i32>), fields.next()) {
                    (Some(Ok(status)), _) => return status,
                    (_, Some(signal)) => panic!(
                        "winrs was killed by signal {signal}; the screen:\n{}",
                        self.screen()
                    ),
                    // The pane is dead, its status not yet recorded.
                    _ => {}
                }
            }
            assert!(
                start.elapsed() < DEADLINE,
                "winrs never exited; the screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend(keys);
        self.run(&args);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .status();
    }
}

/// The first line of the screen that starts with `prefix`.
fn line_starting<'a>(screen: &'a str, prefix: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.starts_with(prefix))
}

#[test]
fn the_command_sees_a_terminal_of_the_panes_size_and_follows_a_resize() {
    let fx = Fixture::http();
    // The remote shell prints the size the kernel reports at each SIGWINCH it gets.
    let tmux = Tmux::winrs(
        &fx,
        100,
        30,
        &[
            "-pty",
            "trap 'echo winch=$(stty size)' WINCH; tty; echo size=$(stty size); \
             echo term=$TERM; while :; do sleep 0.1; done",
        ],
    );
    let screen = tmux.wait_for("the first size", |s| s.contains("term="));
    let before = tmux.pane_size();
    assert!(
        line_starting(&screen, "/dev/pts/").is_some(),
        "tty names a pseudo-terminal:\n{screen}"
    );
    assert!(screen.contains(&format!("size={before}\n")), "{screen}");
    // TERM on the host is the pane's: what tmux gives its panes.
    let pane_term = tmux.run(&["show-options", "-gv", "default-terminal"]);
    assert!(
        screen.contains(&format!("term={}\n", pane_term.trim())),
        "{screen}"
    );
    // The window changes: tmux resizes the pane, winrs gets SIGWINCH and sends the resize,
    // the remote terminal's foreground job gets SIGWINCH with the new size in place.
    tmux.run(&["resize-window", "-x", "132", "-y", "43"]);
    let after = tmux.pane_size();
    assert_ne!(before, after);
    tmux.wait_for("the remote SIGWINCH", |s| {
        s.contains(&format!("winch={after}"))
    });
    // Ctrl+C typed here is the remote terminal's interrupt: sh dies of SIGINT.
    tmux.keys(&["C-c"]);
    assert_eq!(tmux.exit_status(), 128 + 2);
}

#[test]
fn a_full_screen_program_and_a_silent_prompt_work() {
    let fx = Fixture::http();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("motd.txt");
    std::fs::write(&file, "first line of the file\nsecond line\n").unwrap();
    // The remote user (whoever the service account runs as) reads it.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let file = file.display().to_string();
    let vi = format!("vi -u NONE {file}");
    let tmux = Tmux::winrs(&fx, 80, 24, &["-pty", &vi]);
    // vi fills the window: the file's lines at the top, `~` for the rows past its end, down
    // to the last lines of the pane.
    let screen = tmux.wait_for_in("vi's screen", Tmux::visible, |s| {
        s.starts_with("first line of the file\nsecond line\n~")
    });
    let rows: usize = tmux.format("#{pane_height}").parse().unwrap();
    let tildes = screen.lines().filter(|l| l.trim_end() == "~").count();
    assert!(
        tildes + 3 >= rows - 1,
        "vi uses the whole window:\n{screen}"
    );
    tmux.keys(&["Escape", ":q!", "Enter"]);
    assert_eq!(tmux.exit_status(), 0, "{}", tmux.screen());
    drop(tmux);

    // read -s: the typed secret is not echoed; the program gets it.
    let tmux = Tmux::winrs(
        &fx,
        80,
        24,
        &[
            "-pty",
            "bash -c 'read -s -p \"password: \" secret; echo; echo \"got:$secret\"'",
        ],
    );
    tmux.wait_for("the prompt", |s| s.contains("password: "));
    tmux.keys(&["-l", "hunter2-xyz"]);
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("the answer", |s| s.contains("got:"));
    assert!(screen.contains("got:hunter2-xyz"), "{screen}");
    assert_eq!(
        screen.matches("hunter2-xyz").count(),
        1,
        "the secret shows only where the program printed it:\n{screen}"
    );
    assert_eq!(tmux.exit_status(), 0);
}

#[test]
fn ctrl_c_typed_in_raw_mode_interrupts_the_remote_job() {
    let fx = Fixture::http();
    let tmux = Tmux::winrs(
        &fx,
        80,
        24,
        &[
            "-pty",
            "trap 'echo remote-got-int; exit 9' INT; echo ready; while :; do sleep 0.1; done",
        ],
    );
    tmux.wait_for("the command", |s| s.contains("ready"));
    tmux.keys(&["C-c"]);
    tmux.wait_for("the trap", |s| s.contains("remote-got-int"));
    assert_eq!(tmux.exit_status(), 9);
}

#[test]
fn without_pty_the_command_keeps_pipes_even_on_a_terminal() {
    let fx = Fixture::http();
    let tmux = Tmux::winrs(&fx, 80, 24, &["tty; echo done"]);
    let screen = tmux.wait_for("the output", |s| s.contains("done"));
    assert!(screen.contains("not a tty"), "{screen}");
    assert_eq!(tmux.exit_status(), 0);
}

#[test]
fn pty_without_a_terminal_is_a_usage_error() {
    let fx = Fixture::http();
    let output = Command::new(binaries::path("winrs"))
        .env("WSMAND_CONFIG_DIR", fx.config.path())
        .arg(format!("-r:{}", fx.url()))
        .args(["-a:Basic", "-unencrypted"])
        .arg(format!("-u:{SERVICE_ACCOUNT}"))
        .arg(format!("-p:{SERVICE_PASSWORD}"))
        .args(["-pty", "true"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_ne!(output.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("-pty needs a terminal"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_local_terminal_mode_comes_back_after_the_run_and_after_sigterm() {
    let fx = Fixture::http();
    let dir = tempfile::tempdir().unwrap();
    let report = |name: &str| dir.path().join(name).display().to_string();
    // The pane's own mode before winrs, as stty reports it.
    let mut expected = None;
    for (name, remote, stop) in [
        ("ended", "echo ran", false),
        ("stopped", "echo ran; sleep 600", true),
    ] {
        let file = report(name);
        let tmux = Tmux::winrs_then(
            &fx,
            80,
            24,
            &["-pty", remote],
            &format!("stty -g > {file}.after"),
        );
        tmux.wait_for("the command", |s| s.contains("ran"));
        if expected.is_none() {
            // A second pane of the same server, never touched by winrs: the mode to expect.
            tmux.run(&[
                "split-window",
                "-d",
                &format!("stty -g > {}; sleep 600", report("fresh")),
            ]);
            let start = Instant::now();
            while std::fs::metadata(report("fresh")).map_or(true, |m| m.len() == 0) {
                assert!(start.elapsed() < DEADLINE);
                std::thread::sleep(Duration::from_millis(50));
            }
            expected = Some(std::fs::read_to_string(report("fresh")).unwrap());
        }
        if stop {
            // winrs is the pane's foreground process: SIGTERM it, as a logout would.
            let pid = tmux.format("#{pane_pid}");
            let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .unwrap_or_default();
            for child in children.split_whitespace() {
                Command::new("kill")
                    .args(["-TERM", child])
                    .status()
                    .unwrap();
            }
        }
        let start = Instant::now();
        let after = format!("{file}.after");
        while std::fs::metadata(&after).map_or(true, |m| m.len() == 0) {
            assert!(start.elapsed() < DEADLINE, "{}", tmux.screen());
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(
            std::fs::read_to_string(&after).unwrap(),
            *expected.as_ref().unwrap(),
            "{name}: the terminal's mode after winrs"
        );
    }
}
