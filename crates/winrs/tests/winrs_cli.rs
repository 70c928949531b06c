#![allow(clippy::unwrap_used)]
//! `winrs` end to end against the real wsmand (spawned by the wsman-test harness on a free
//! loopback port, Basic over HTTP with AllowUnencrypted, the harness's service account).
//! Needs `target/debug/wsmand` and `target/debug/winrs` (`cargo build -p wsmand -p winrs`).

use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use wsman_test::{binaries, process, ConfigDir, Fixture, SERVICE_ACCOUNT, SERVICE_PASSWORD};

/// No test may hang: a winrs that has not finished by then is killed and the test fails.
const DEADLINE: Duration = Duration::from_secs(90);

/// What winrs printed: bytes, as its streams carry the shell's code page.
type Finished = process::FinishedBytes;

/// The winrs binary with `fx`'s config dir as the machine's client configuration (the test
/// defaults there allow unencrypted traffic to 127.0.0.1, as Windows' client requires).
fn winrs_bin(fx: &Fixture) -> Command {
    let mut command = Command::new(binaries::path("winrs"));
    command.env("WSMAND_CONFIG_DIR", fx.config.path());
    command
}

fn winrs_command(fx: &Fixture, args: &[&str]) -> Command {
    let mut command = winrs_bin(fx);
    command
        .arg(format!("-r:{}", fx.url()))
        .arg("-a:Basic")
        .arg("-unencrypted")
        .arg(format!("-u:{SERVICE_ACCOUNT}"))
        .arg(format!("-p:{SERVICE_PASSWORD}"))
        .args(args);
    command
}

fn finish(child: Child) -> Finished {
    process::collect(child, DEADLINE, "winrs")
}

/// Starts `command` with `stdin` and its stdout and stderr piped to the test.
fn spawn_piped(command: &mut Command, stdin: Stdio) -> Child {
    command
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Run winrs with `stdin` (None: /dev/null) and collect everything.
fn run(mut command: Command, stdin: Option<Vec<u8>>) -> Finished {
    let mut child = spawn_piped(
        &mut command,
        if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        },
    );
    let feeder = stdin.map(|input| {
        let mut pipe = child.stdin.take().unwrap();
        thread::spawn(move || {
            let _ = pipe.write_all(&input);
        })
    });
    let done = finish(child);
    if let Some(f) = feeder {
        f.join().unwrap();
    }
    done
}

fn winrs(fx: &Fixture, args: &[&str]) -> Finished {
    run(winrs_command(fx, args), None)
}

/// Lines of a child's stdout, delivered as they arrive, plus everything at the end.
fn stdout_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let mut out = child.stdout.take().unwrap();
    thread::spawn(move || {
        let mut pending = Vec::new();
        let mut buffer = [0u8; 4096];
        while let Ok(n) = out.read(&mut buffer) {
            if n == 0 {
                break;
            }
            pending.extend_from_slice(&buffer[..n]);
            while let Some(i) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=i).collect();
                let _ = tx.send(String::from_utf8_lossy(&line).trim_end().to_owned());
            }
        }
    });
    rx
}

fn wait_for_line(lines: &mpsc::Receiver<String>, wanted: &str) {
    loop {
        match lines.recv_timeout(DEADLINE) {
            Ok(line) if line == wanted => return,
            Ok(_) => {}
            Err(e) => panic!("no line {wanted:?} from winrs: {e}"),
        }
    }
}

fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// The exit status if `child` ends within `patience` (it is left running otherwise).
fn exited_within(child: &mut Child, patience: Duration) -> Option<ExitStatus> {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if start.elapsed() > patience {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(raw) = std::fs::read(entry.path().join("cmdline")) {
            let line = String::from_utf8_lossy(&raw).replace('\0', " ");
            if line.contains(marker) {
                found.push(format!("{}: {line}", entry.file_name().to_string_lossy()));
            }
        }
    }
    found
}

/// Wait (bounded) until no process carries `marker`; panic with the survivors otherwise.
fn assert_no_process_left(marker: &str) {
    for _ in 0..200 {
        if processes_with(marker).is_empty() {
            return;
        }
        thread::sleep(Duration::from_millis(50));
    }
    panic!("left over: {:?}", processes_with(marker));
}

#[test]
fn exit_codes_pass_through() {
    let fx = Fixture::http();
    for code in [0, 1, 42, 255] {
        let done = winrs(&fx, &[&format!("exit {code}")]);
        assert_eq!(done.code(), code, "{}", done.describe());
    }
}

#[test]
fn stdout_and_stderr_stay_apart() {
    let fx = Fixture::http();
    let done = winrs(&fx, &["echo out; echo err >&2; echo out2"]);
    assert_eq!(done.code(), 0, "{}", done.describe());
    assert_eq!(done.stdout, b"out\nout2\n", "{}", done.describe());
    assert_eq!(done.stderr, b"err\n", "{}", done.describe());
}

#[test]
fn one_mebibyte_of_stdin_comes_back_unchanged() {
    let fx = Fixture::http();
    // Every byte value, in an order that is not periodic in 64 KiB chunks.
    let input: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let done = run(winrs_command(&fx, &["cat"]), Some(input.clone()));
    assert_eq!(done.code(), 0, "{}", String::from_utf8_lossy(&done.stderr));
    assert_eq!(done.stdout.len(), input.len());
    assert!(done.stdout == input, "the bytes differ");
}

#[test]
fn utf8_in_arguments_environment_and_stdin() {
    let fx = Fixture::http();
    let text = "héllo wörld ✓ 日本語";
    let done = winrs(&fx, &[&format!("printf '%s' '{text}'")]);
    assert_eq!(
        String::from_utf8_lossy(&done.stdout),
        text,
        "{}",
        done.describe()
    );
    let done = winrs(&fx, &["-env:GREETING=grüße", "printf '%s' \"$GREETING\""]);
    assert_eq!(
        String::from_utf8_lossy(&done.stdout),
        "grüße",
        "{}",
        done.describe()
    );
    let done = run(winrs_command(&fx, &["cat"]), Some(text.as_bytes().to_vec()));
    assert_eq!(
        String::from_utf8_lossy(&done.stdout),
        text,
        "{}",
        done.describe()
    );
}

#[test]
fn directory_environment_and_skipcmdshell() {
    let fx = Fixture::http();
    let done = winrs(&fx, &["-d:/tmp", "-env:FOO=bar", "-nop", "pwd; echo $FOO"]);
    assert_eq!(done.stdout, b"/tmp\nbar\n", "{}", done.describe());
    // Executed directly: the arguments arrive as given, spaces included.
    let done = winrs(&fx, &["-skipcmdshell", "printf", "%s|", "a b", "c"]);
    assert_eq!(done.stdout, b"a b|c|", "{}", done.describe());
}

#[test]
fn five_megabytes_of_output_and_a_silent_command_under_short_polls() {
    let fx = Fixture::http();
    let done = winrs(&fx, &["head -c 5000000 /dev/zero; echo tail >&2"]);
    assert_eq!(done.code(), 0, "{}", String::from_utf8_lossy(&done.stderr));
    assert_eq!(done.stdout.len(), 5_000_000);
    assert!(done.stdout.iter().all(|b| *b == 0));
    assert_eq!(done.stderr, b"tail\n");
    // One-second long polls: three seconds of silence are several w:TimedOut answers, which
    // winrs polls through.
    let done = winrs(&fx, &["-timeout:1000", "sleep 3; echo late; exit 6"]);
    assert_eq!(done.code(), 6, "{}", done.describe());
    assert_eq!(done.stdout, b"late\n", "{}", done.describe());
}

/// winrs running `args` (stdin empty, output piped) once the remote side printed `ready`;
/// its stdout lines from then on.
fn started_and_ready(fx: &Fixture, args: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut child = spawn_piped(&mut winrs_command(fx, args), Stdio::null());
    let lines = stdout_lines(&mut child);
    wait_for_line(&lines, "ready");
    (child, lines)
}

#[test]
fn ctrl_c_reaches_a_trap() {
    let fx = Fixture::http();
    let (child, lines) = started_and_ready(
        &fx,
        &["trap 'echo trapped; exit 7' INT; echo ready; while :; do sleep 1; done"],
    );
    interrupt(&child);
    wait_for_line(&lines, "trapped");
    let done = finish(child);
    assert_eq!(done.code(), 7, "{}", done.describe());
}

#[test]
fn repeated_ctrl_c_terminates_a_command_that_ignores_it() {
    let fx = Fixture::http();
    let marker = format!("marker-{}", std::process::id());
    let script = format!("trap '' INT; echo ready; sleep 120 && echo {marker}");
    let (mut child, _lines) = started_and_ready(&fx, &[&script]);
    // Signals sent close together may be coalesced: keep pressing until winrs gives up.
    let mut status = None;
    for _ in 0..100 {
        interrupt(&child);
        status = exited_within(&mut child, Duration::from_millis(500));
        if status.is_some() {
            break;
        }
    }
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("winrs still running after repeated Ctrl-C");
    };
    assert_eq!(status.code(), Some(130));
    // Terminated on the server too, not merely abandoned.
    assert_no_process_left(&marker);
}

#[test]
fn interactive_shell_answers_line_by_line() {
    let fx = Fixture::http();
    let mut child = spawn_piped(&mut winrs_command(&fx, &["/bin/sh"]), Stdio::piped());
    let mut stdin = child.stdin.take().unwrap();
    let lines = stdout_lines(&mut child);
    // The answer to the first line must arrive while stdin is still open.
    stdin.write_all(b"echo first\n").unwrap();
    wait_for_line(&lines, "first");
    stdin.write_all(b"echo second; exit 5\n").unwrap();
    wait_for_line(&lines, "second");
    drop(stdin);
    let done = finish(child);
    assert_eq!(done.code(), 5, "{}", done.describe());
}

#[test]
fn local_failures_have_their_own_exit_codes() {
    let fx = Fixture::http();
    // Wrong password: 251, printed as a WSManFault.
    let done = run(
        {
            let mut c = winrs_bin(&fx);
            c.args([
                &format!("-r:{}", fx.url()),
                "-a:Basic",
                "-un",
                &format!("-u:{SERVICE_ACCOUNT}"),
                "-p:wrong",
                "true",
            ]);
            c
        },
        None,
    );
    assert_eq!(done.code(), 251, "{}", done.describe());
    assert!(String::from_utf8_lossy(&done.stderr).starts_with("WSManFault"));
    // -u: without -p: when stdin is not a terminal (stdin belongs to the command): 250.
    let mut c = winrs_bin(&fx);
    c.args([
        &format!("-r:{}", fx.url()),
        "-un",
        &format!("-u:{SERVICE_ACCOUNT}"),
        "true",
    ]);
    let done = run(c, Some(b"not a password\n".to_vec()));
    assert_eq!(done.code(), 250, "{}", done.describe());
    // Usage error: 250.
    let done = winrs(&fx, &["-bogus", "true"]);
    assert_eq!(done.code(), 250, "{}", done.describe());
    // Nothing listening: 252.
    let port = wsman_test::free_port();
    let mut c = winrs_bin(&fx);
    c.args([
        &format!("-r:http://127.0.0.1:{port}"),
        "-un",
        "-u:x",
        "-p:y",
        "true",
    ]);
    let done = run(c, None);
    assert_eq!(done.code(), 252, "{}", done.describe());
    assert!(String::from_utf8_lossy(&done.stderr).contains("Error number:  -2144108526 0x80338012"));
}

#[test]
fn help_is_printed_for_the_question_mark() {
    let mut c = Command::new(binaries::path("winrs"));
    c.arg("-?");
    let done = run(c, None);
    assert_eq!(done.code(), 0);
    let text = String::from_utf8_lossy(&done.stdout);
    assert!(
        text.contains("EXIT STATUS") && text.contains("-skipcmdshell"),
        "{text}"
    );
}

/// Everything a child printed so far, collected by a thread.
fn collect_output(child: &mut Child) -> Arc<Mutex<Vec<u8>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let mut out = child.stdout.take().unwrap();
    thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = out.read(&mut buffer) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buffer[..n]);
        }
    });
    seen
}

fn wait_for_text(seen: &Arc<Mutex<Vec<u8>>>, wanted: &str) {
    for _ in 0..(DEADLINE.as_millis() / 20) {
        if String::from_utf8_lossy(&seen.lock().unwrap()).contains(wanted) {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "no {wanted:?} in {:?}",
        String::from_utf8_lossy(&seen.lock().unwrap())
    );
}

/// On a terminal (util-linux `script` provides one): the password is asked without echo, and
/// Ctrl-C typed on the terminal reaches the remote command's trap.
#[test]
fn terminal_password_prompt_and_ctrl_c() {
    if !std::path::Path::new("/usr/bin/script").exists() {
        eprintln!("skipped: /usr/bin/script (util-linux) is not installed");
        return;
    }
    let fx = Fixture::http();
    // `exec`: `script` runs this line with $SHELL (/bin/sh when unset, as under CI), and a
    // shell that stayed as winrs' parent would itself die of the terminal's SIGINT.
    let winrs = format!(
        "exec {} -r:{} -a:Basic -un -u:{SERVICE_ACCOUNT} \"trap 'echo TRAPPED; exit 3' INT; echo ready; while :; do sleep 0.2; done\"",
        binaries::path("winrs").display(),
        fx.url()
    );
    let mut child = spawn_piped(
        Command::new("/usr/bin/script")
            .args(["-qec", &winrs, "/dev/null"])
            .env("WSMAND_CONFIG_DIR", fx.config.path()),
        Stdio::piped(),
    );
    let mut terminal = child.stdin.take().unwrap();
    let seen = collect_output(&mut child);
    wait_for_text(&seen, "Enter the password for 'svc-test': ");
    terminal
        .write_all(format!("{SERVICE_PASSWORD}\n").as_bytes())
        .unwrap();
    wait_for_text(&seen, "ready");
    terminal.write_all(b"\x03").unwrap();
    wait_for_text(&seen, "TRAPPED");
    let status = process::wait_until(&mut child, DEADLINE).expect("winrs did not end");
    drop(terminal);
    let text = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    assert!(
        !text.contains(SERVICE_PASSWORD),
        "the password was echoed: {text}"
    );
    assert_eq!(status.code(), Some(3), "{text}");
}

#[test]
fn https_with_the_servers_certificate_or_skipped_checks() {
    let (fixture, thumbprint) = Fixture::https_with(|c| {
        c.set("Config.Service", "AllowUnencrypted", "false");
    });
    let port = fixture.port;
    let base = |extra: &[&str]| {
        let mut c = Command::new(binaries::path("winrs"));
        c.arg(format!("-r:127.0.0.1:{port}"))
            .arg("-usessl")
            .arg("-a:Basic")
            .arg(format!("-u:{SERVICE_ACCOUNT}"))
            .arg(format!("-p:{SERVICE_PASSWORD}"))
            .args(extra);
        c
    };
    let done = run(
        base(&["-skipCAcheck", "-skipCNcheck", "echo secure; exit 2"]),
        None,
    );
    assert_eq!(done.code(), 2, "{}", done.describe());
    assert_eq!(done.stdout, b"secure\n");
    // Trusting the server's own certificate (issued for localhost and 127.0.0.1).
    let cert = fixture
        .config
        .path()
        .join(format!("certs/{thumbprint}.crt"));
    let done = run(
        base(&[&format!("-cacert:{}", cert.display()), "echo pinned"]),
        None,
    );
    assert_eq!(done.stdout, b"pinned\n", "{}", done.describe());
    // A self-signed certificate is not trusted by default: a connection failure (252).
    let done = run(base(&["true"]), None);
    assert_eq!(done.code(), 252, "{}", done.describe());
    assert!(String::from_utf8_lossy(&done.stderr).contains("unknown certificate authority"));
}

#[test]
fn sigterm_terminates_the_remote_command_and_deletes_the_shell() {
    let fx = Fixture::http();
    let marker = format!("sigterm-marker-{}", std::process::id());
    let script = format!("echo ready; sleep 120 && echo {marker}");
    let (mut child, _lines) = started_and_ready(&fx, &[&script]);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = process::wait_until(&mut child, DEADLINE).expect("winrs did not end");
    assert_eq!(status.code(), Some(143));
    assert_no_process_left(&marker);
}

const NTLM_USER: &str = "ntlmuser";
const NTLM_PASSWORD: &str = "Ntlm-Test-Pass1";

/// wsmand with Negotiate on and an NTLM-enabled account acting as root.
fn negotiate_fixture() -> Fixture {
    let fx = Fixture::http_with(|c| {
        c.set("Config.Service.Auth", "Negotiate", "true");
    });
    fx.config.add_ntlm_account(NTLM_USER, NTLM_PASSWORD, "root");
    fx
}

/// Windows' default: `-u:` without `-a:` is Negotiate, sealed over HTTP.
#[test]
fn negotiate_is_the_default_and_seals_over_http() {
    let fx = negotiate_fixture();
    let mut c = winrs_bin(&fx);
    c.args([
        &format!("-r:{}", fx.url()),
        &format!("-u:{NTLM_USER}"),
        &format!("-p:{NTLM_PASSWORD}"),
        "read l; echo \"got $l\"; head -c 200000 /dev/zero | tr '\\0' y; exit 4",
    ]);
    let done = run(c, Some(b"sealed stdin\n".to_vec()));
    assert_eq!(done.code(), 4, "{}", done.describe());
    assert!(
        done.stdout.starts_with(b"got sealed stdin\n"),
        "{}",
        done.describe()
    );
    assert_eq!(done.stdout.len(), "got sealed stdin\n".len() + 200_000);
    // Explicit -a:Negotiate, and raw plaintext with -unencrypted (the server allows it).
    for extra in [&["-a:Negotiate"][..], &["-a:Negotiate", "-unencrypted"][..]] {
        let mut c = winrs_bin(&fx);
        c.arg(format!("-r:{}", fx.url())).args(extra).args([
            &format!("-u:{NTLM_USER}"),
            &format!("-p:{NTLM_PASSWORD}"),
            "echo ok",
        ]);
        let done = run(c, None);
        assert_eq!(done.code(), 0, "{extra:?}: {}", done.describe());
        assert_eq!(done.stdout, b"ok\n");
    }
    // A wrong password: access denied (251).
    let mut c = winrs_bin(&fx);
    c.args([
        &format!("-r:{}", fx.url()),
        &format!("-u:{NTLM_USER}"),
        "-p:wrong",
        "true",
    ]);
    let done = run(c, None);
    assert_eq!(done.code(), 251, "{}", done.describe());
}

/// Like Windows: no authentication over HTTP to a host missing from Client/TrustedHosts, and
/// no -unencrypted without Client/AllowUnencrypted.
#[test]
fn client_settings_are_honoured() {
    let fx = negotiate_fixture();
    let mut client = ConfigDir::new();
    client.set("Config.Client", "TrustedHosts", "\"other.example\"");
    client.set("Config.Client", "AllowUnencrypted", "false");
    client.write();
    let attempt = |extra: &[&str]| {
        let mut c = Command::new(binaries::path("winrs"));
        c.env("WSMAND_CONFIG_DIR", client.path())
            .arg(format!("-r:{}", fx.url()))
            .args(extra)
            .args([
                &format!("-u:{NTLM_USER}"),
                &format!("-p:{NTLM_PASSWORD}"),
                "echo ok",
            ]);
        run(c, None)
    };
    let done = attempt(&[]);
    assert_ne!(done.code(), 0, "{}", done.describe());
    assert!(
        String::from_utf8_lossy(&done.stderr).contains("TrustedHosts"),
        "{}",
        done.describe()
    );
    let done = attempt(&["-a:Basic", "-unencrypted"]);
    assert_ne!(done.code(), 0, "{}", done.describe());
    assert!(
        String::from_utf8_lossy(&done.stderr).contains("Unencrypted traffic is currently disabled"),
        "{}",
        done.describe()
    );
}

#[test]
fn detach_list_and_attach_from_another_winrs() {
    let fx = Fixture::http();
    let detached = winrs(
        &fx,
        &[
            "-detach",
            "-idletimeout:60000",
            "for i in $(seq 1 20); do echo part$i; sleep 0.05; done; exit 4",
        ],
    );
    assert_eq!(detached.code(), 0, "{}", detached.describe());
    let shell_id = String::from_utf8(detached.stdout.clone()).unwrap();
    let shell_id = shell_id.trim();
    assert_eq!(shell_id.len(), 36, "{}", detached.describe());
    let listed = winrs(&fx, &["-list"]);
    assert_eq!(listed.code(), 0, "{}", listed.describe());
    let text = String::from_utf8_lossy(&listed.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with(shell_id))
        .unwrap_or_else(|| panic!("{}", listed.describe()));
    assert!(line.contains("Disconnected"), "{line}");
    assert!(text.contains("seq 1 20"), "{text}");
    // Output printed while nobody was attached arrives whole and in order.
    thread::sleep(Duration::from_secs(2));
    let attached = winrs(&fx, &[&format!("-attach:{shell_id}")]);
    let expected: String = (1..=20).map(|i| format!("part{i}\n")).collect();
    assert_eq!(
        String::from_utf8_lossy(&attached.stdout),
        expected,
        "{}",
        attached.describe()
    );
    assert_eq!(attached.code(), 4, "{}", attached.describe());
    // -attach deleted the shell.
    let listed = winrs(&fx, &["-list"]);
    assert!(!String::from_utf8_lossy(&listed.stdout).contains(shell_id));
    let usage = winrs(&fx, &["-attach:not-a-guid"]);
    assert_eq!(usage.code(), 250, "{}", usage.describe());
    let usage = winrs(&fx, &["-list", "true"]);
    assert_eq!(usage.code(), 250, "{}", usage.describe());
}

/// `-r:@FILE` of a file that is no hosts file (a password file) is a usage error naming the
/// line, never showing it: the test's own file and the system's `/etc/shadow` (as root).
#[test]
fn errors_about_a_hosts_file_never_echo_its_content() {
    let fx = Fixture::http();
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("not-hosts");
    std::fs::write(&secret, "root:$6$s4lt$h4shh4sh:19000:0:99999:7:::\n").unwrap();
    let mut files = vec![secret.display().to_string()];
    let shadow_first = std::fs::read_to_string("/etc/shadow")
        .ok()
        .and_then(|text| text.lines().next().map(str::to_owned));
    if shadow_first.is_some() {
        files.push("/etc/shadow".to_owned());
    }
    for file in files {
        let mut c = winrs_bin(&fx);
        c.args([&format!("-r:@{file}"), "-un", "-u:x", "-p:y", "true"]);
        let done = run(c, None);
        assert_eq!(done.code(), 250, "{}", done.describe());
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&done.stdout),
            String::from_utf8_lossy(&done.stderr)
        );
        assert!(said.contains("line 1 is not a host name or URL"), "{said}");
        for secret in ["s4lt", "h4shh4sh", "root:"]
            .into_iter()
            .chain(shadow_first.as_deref())
        {
            assert!(!said.contains(secret), "{said}");
        }
    }
}

/// In text form, a host's control characters reach the terminal as text (`\x1b`), not as
/// escape sequences; `-output:json` and `-rawoutput` keep them as sent.
#[test]
fn fan_out_text_escapes_a_host_s_control_characters() {
    let fx = Fixture::http();
    let script = r"printf 'red\033[31m\033]0;title\007\rover\tok\n'; printf 'err\033[2J\n' >&2";
    let done = winrs(&fx, &["-output:text", script]);
    assert_eq!(done.code(), 0, "{}", done.describe());
    let label = fx.url();
    assert_eq!(
        String::from_utf8_lossy(&done.stdout),
        format!("{label}: red\\x1b[31m\\x1b]0;title\\x07\\x0dover\tok\n")
    );
    assert!(
        String::from_utf8_lossy(&done.stderr).contains(&format!("{label}: err\\x1b[2J\n")),
        "{}",
        done.describe()
    );
    assert!(!done.stdout.contains(&0x1b) && !done.stderr.contains(&0x1b));
    // Raw on request, and in JSON (where the encoding escapes them).
    let done = winrs(&fx, &["-output:text", "-rawoutput", script]);
    assert_eq!(
        done.stdout,
        format!("{label}: red\x1b[31m\x1b]0;title\x07\rover\tok\n").into_bytes()
    );
    let done = winrs(&fx, &["-output:json", script]);
    let object: serde_json::Value =
        serde_json::from_slice(&done.stdout).unwrap_or_else(|e| panic!("{e}: {}", done.describe()));
    assert_eq!(object["stdout"], "red\x1b[31m\x1b]0;title\x07\rover\tok\n");
}

/// What a [`RecordingRelay`] saw: the connections it accepted, and the client's bytes in the
/// order they arrived (all connections together).
#[derive(Default)]
struct Relayed {
    connections: usize,
    upstream: Vec<u8>,
}

/// A TCP relay on a free loopback port in front of `port` that keeps what the client sent.
fn recording_relay(port: u16) -> (u16, Arc<Mutex<Relayed>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let relay_port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Relayed::default()));
    let record = Arc::clone(&seen);
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
                return;
            };
            record.lock().unwrap().connections += 1;
            let (mut to_client, mut from_server) = (client.try_clone().unwrap(), server);
            let mut to_server = from_server.try_clone().unwrap();
            thread::spawn(move || {
                let _ = std::io::copy(&mut from_server, &mut to_client);
            });
            let record = Arc::clone(&record);
            thread::spawn(move || {
                let mut buffer = [0u8; 16384];
                while let Ok(n @ 1..) = client.read(&mut buffer) {
                    record
                        .lock()
                        .unwrap()
                        .upstream
                        .extend_from_slice(&buffer[..n]);
                    if to_server.write_all(&buffer[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (relay_port, seen)
}

/// With stdin at its end from the start (`< /dev/null`), the end of input is sent right after
/// the Command, before the first Receive, on the one connection: no Send waits beside a
/// Receive for a second connection.
#[test]
fn stdin_at_its_end_is_sent_before_the_first_receive() {
    let fx = Fixture::http();
    let (relay_port, seen) = recording_relay(fx.port);
    let mut c = winrs_bin(&fx);
    c.args([
        &format!("-r:http://127.0.0.1:{relay_port}/wsman"),
        "-a:Basic",
        "-unencrypted",
        &format!("-u:{SERVICE_ACCOUNT}"),
        &format!("-p:{SERVICE_PASSWORD}"),
        "cat; echo read",
    ]);
    let done = run(c, None);
    assert_eq!(done.code(), 0, "{}", done.describe());
    assert_eq!(done.stdout, b"read\n");
    let seen = seen.lock().unwrap();
    let text = String::from_utf8_lossy(&seen.upstream);
    let action = |name: &str| {
        let marker = format!("/windows/shell/{name}</");
        text.find(&marker)
            .unwrap_or_else(|| panic!("no {name} request"))
    };
    assert!(
        action("Command") < action("Send") && action("Send") < action("Receive"),
        "Command, Send, Receive expected in this order"
    );
    assert!(text.contains("End=\"true\""), "the Send carries End");
    assert_eq!(seen.connections, 1, "one connection for the whole run");
}
