//! The terminal page's WebSocket: a login shell on a pseudo-terminal, every upgrade check,
//! what ends the shell, and the terminal benchmark.
//!
//! The real `wsmand-mgmt` on a loopback port with its generated certificate, real `wsmand`
//! daemons as its hosts, curl as the client (tokio-tungstenite for the WebSockets). Every
//! value checked comes from the OS or from a process the test started, never from the
//! service itself.

use std::path::Path;
use std::time::{Duration, Instant};

use wsman_test::{SERVICE_ACCOUNT, SERVICE_PASSWORD};

mod common;
use common::upgrade::*;
use common::*;

/// How long a terminal's socket may take to be closed by the service.
const WAIT_CLOSE: Duration = Duration::from_secs(30);

#[test]
fn the_terminal_runs_a_login_shell_on_a_pseudo_terminal() {
    use futures_util::SinkExt as _;
    let service = Service::for_terminals("");
    let marker = format!("sleep 7{}1", service.port);
    terminal::runtime().block_on(async {
        let (mut ws, session, csrf) = terminal::open(&service, "host0").await;
        // The upgrade is in the request log, without its query (the CSRF token).
        let log = without_colours(&service.log());
        assert!(log.contains("path=/hosts/host0/terminal/ws "), "{log}");
        assert!(!log.contains(&csrf), "{log}");
        let mut seen = String::new();
        // The shell computes what was typed: 42 is in no byte sent.
        terminal::type_text(&mut ws, "echo $((6*7))\r").await;
        terminal::read_line_until(&mut ws, &mut seen, |l| l == "42").await;
        terminal::type_text(&mut ws, "tty\r").await;
        let tty = terminal::read_line_until(&mut ws, &mut seen, |l| {
            l.strip_prefix("/dev/pts/")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .await;
        // The OS agrees: a command started at that prompt has the terminal as its stdin.
        terminal::type_text(&mut ws, &format!("{marker}\r")).await;
        let pids = terminal::wait_for_process(&marker, true);
        let stdin = std::fs::read_link(format!("/proc/{}/fd/0", pids[0])).expect("fd 0");
        assert_eq!(stdin, std::path::PathBuf::from(&tty));
        // Ctrl+C reaches the foreground job through the terminal's line discipline.
        terminal::type_text(&mut ws, "\u{3}").await;
        terminal::wait_for_process(&marker, false);
        // A resize is what the terminal reports afterwards.
        ws.send(tokio_tungstenite::tungstenite::Message::Text(
            r#"{"resize":[33,101]}"#.into(),
        ))
        .await
        .expect("resize");
        terminal::type_text(&mut ws, "stty size\r").await;
        terminal::read_line_until(&mut ws, &mut seen, |l| l == "33 101").await;
        let opened = terminal::audited(&service, &session, "terminal opened");
        assert!(
            opened
                .iter()
                .any(|d| d.starts_with("host0: pseudo-terminal")),
            "{opened:?}"
        );
    });
}

#[test]
fn terminal_upgrades_are_refused_by_every_check_and_audited() {
    let service = upgrade_checks_service();
    let session = assert_every_upgrade_check(&service, &TERMINAL_SOCKET);
    // The page loads its script and stylesheet from the service, as built into the binary
    // from the files in the source tree.
    let page = service.page(&session, "/hosts/host0/terminal");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(r#"<script src="/assets/terminal.js">"#));
    let policy = page.header("content-security-policy").expect("CSP");
    assert!(policy.contains("script-src 'self';"), "{policy}");
    assert!(!policy.contains("unsafe-eval"), "{policy}");
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    for (name, content_type) in [
        ("terminal.js", "text/javascript; charset=utf-8"),
        ("terminal.css", "text/css; charset=utf-8"),
    ] {
        let file = std::fs::read_to_string(assets.join(name)).expect("asset");
        let reply = service.curl(&[&service.url(&format!("/assets/{name}"))]);
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("content-type"), Some(content_type));
        assert_eq!(reply.header("cache-control"), Some("public, max-age=3600"));
        assert_eq!(reply.body, file, "{name}");
    }
}

#[test]
fn closing_the_socket_or_logging_out_ends_the_shell() {
    let service = Service::for_terminals("");
    let first = format!("sleep 7{}2", service.port);
    let second = format!("sleep 7{}3", service.port);
    terminal::runtime().block_on(async {
        // The browser closes the socket: the shell and its processes end.
        let (mut ws, session, csrf) = terminal::open(&service, "host0").await;
        terminal::type_text(&mut ws, &format!("{first}\r")).await;
        terminal::wait_for_process(&first, true);
        ws.close(None).await.expect("close");
        drop(ws);
        terminal::wait_for_process(&first, false);
        // Logout: the session's shell ends and its socket is closed as a policy end.
        let origin = format!("https://127.0.0.1:{}", service.port);
        let mut ws = loop {
            match terminal::connect(
                &service,
                "host0",
                Some(&session),
                Some(&origin),
                &format!("?csrf={csrf}"),
            )
            .await
            {
                Ok(ws) => break ws,
                // The closed terminal's slot is freed once its shell is deleted.
                Err(409) => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(status) => panic!("refused with {status}"),
            }
        };
        terminal::type_text(&mut ws, &format!("{second}\r")).await;
        terminal::wait_for_process(&second, true);
        let out = service.logout(&session, &csrf);
        assert_eq!(out.status, 200, "{}", out.body);
        assert_eq!(
            terminal::close_code(&mut ws, WAIT_CLOSE).await,
            Some(tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Policy)
        );
        terminal::wait_for_process(&second, false);
    });
    let (admin, _) = service.manager_session();
    let closed = terminal::audited(&service, &admin, "terminal closed");
    assert!(
        closed
            .iter()
            .any(|d| d.contains("the browser closed the socket")),
        "{closed:?}"
    );
    assert!(closed.iter().any(|d| d.contains("logout")), "{closed:?}");
}

#[test]
fn an_oversized_frame_closes_the_terminal_with_1009_and_a_log_line() {
    use futures_util::SinkExt as _;
    let service = Service::for_terminals("");
    terminal::runtime().block_on(async {
        let (mut ws, _, _) = terminal::open(&service, "host0").await;
        let frame = vec![b'x'; wsmand_mgmt::terminal_proto::MAX_INPUT_FRAME + 1];
        ws.send(tokio_tungstenite::tungstenite::Message::Binary(
            frame.into(),
        ))
        .await
        .expect("send");
        // RFC 6455's 1009: "a message that is too big for it to process".
        assert_eq!(
            terminal::close_code(&mut ws, WAIT_CLOSE).await,
            Some(tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::from(1009))
        );
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !service.log().contains("terminal socket closed with 1009") {
        assert!(Instant::now() < deadline, "{}", service.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The console process's resident set in KiB, from the OS (`/proc/PID/status`).
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("status")
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}

/// The benchmark's baseline: the time to run `command` on a pseudo-terminal of the daemon on
/// `daemon_port`, read directly with wsman-client.
async fn direct_terminal_time(daemon_port: u16, command: &str) -> Duration {
    let mut options = wsman_client::ClientOptions::default();
    options.auth = wsman_client::Auth::Basic(wsman_client::Credentials::new(
        SERVICE_ACCOUNT,
        SERVICE_PASSWORD,
    ));
    options.allow_unencrypted = true;
    let endpoint =
        wsman_client::Endpoint::parse(&format!("http://127.0.0.1:{daemon_port}/wsman"), false)
            .expect("endpoint");
    let client = wsman_client::Client::new(endpoint, options).expect("client");
    let mut shell_options = wsman_client::shell::ShellOptions::default();
    shell_options.terminal = Some(wsman_client::shell::Terminal::new("xterm-256color", 24, 80));
    let shell = wsman_client::shell::Shell::open(&client, &shell_options)
        .await
        .expect("shell");
    let started = Instant::now();
    let run = shell
        .run(
            command,
            &[],
            &wsman_client::shell::CommandOptions::default(),
        )
        .await
        .expect("command");
    let output = run.collect().await.expect("output");
    let direct = started.elapsed();
    assert!(String::from_utf8_lossy(&output.stdout).contains("END42"));
    let _ = shell.close().await;
    direct
}

/// The benchmark of `benches/console-terminal.sh` (ignored: figures, no assertion on time):
/// (a) the console's RSS idle and with 20 open terminals; (b) the time to print
/// BENCH_TERMINAL_MB MiB through the console's terminal against the same command on the same
/// kind of pseudo-terminal read directly with wsman-client (the baseline, same run).
#[test]
#[ignore = "benchmark: run by benches/console-terminal.sh"]
fn bench_console_terminal() {
    let megabytes: usize = std::env::var("BENCH_TERMINAL_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    // Ten manager users with two sessions each: one user may hold only a share of the
    // service's terminals.
    let users: Vec<(String, String)> = (0..10)
        .map(|n| {
            (
                format!("bench-user-{n}"),
                format!("Bench-Pass-{n}-Console!"),
            )
        })
        .collect();
    let managers: Vec<(&str, &str)> = users
        .iter()
        .map(|(user, password)| (user.as_str(), password.as_str()))
        .collect();
    let members: Vec<String> = users
        .iter()
        .map(|(user, _)| format!("\"{user}\""))
        .collect();
    let roles = format!(
        "[[Role]]\nName = \"bench\"\nMembers = [{}]\n[[Role.Rule]]\nEffect = \"Allow\"\n\
         Hosts = [\"*\"]\nResources = [\"*\"]\nActions = [\"read\", \"change\", \"shell\"]\n{ALL_POWERFUL_ROLE}",
        members.join(", ")
    );
    let service = Service::start_layout(&Layout {
        roles: Some(&roles),
        managers: &managers,
        ..Layout::default()
    });
    let pid = service.child.id();
    let daemon_port = service.daemons[0].2;
    // Settle, then the idle figure.
    std::thread::sleep(Duration::from_millis(500));
    let idle = rss_kib(pid);
    let command = format!(
        "head -c {} /dev/zero | base64 -w 76; echo END$((40+2))",
        megabytes << 20
    );
    // 20 sessions (a terminal per session and host), logged in before any terminal opens so
    // that what the logins cost (argon2id) and what the terminals cost are told apart.
    let sessions: Vec<(String, String)> = users
        .iter()
        .flat_map(|(user, password)| [(user, password), (user, password)])
        .map(|(user, password)| service.session_of(user, password))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let logged_in = rss_kib(pid);
    terminal::runtime().block_on(async {
        let mut terminals = Vec::new();
        for (session, csrf) in &sessions {
            let mut ws = terminal::open_as(&service, "host0", session, csrf).await;
            let mut seen = String::new();
            terminal::type_text(&mut ws, "echo READY$((1+1))\r").await;
            terminal::read_line_until(&mut ws, &mut seen, |l| l == "READY2").await;
            terminals.push(ws);
        }
        let open20 = rss_kib(pid);
        println!(
            "BENCH rss_idle_kib={idle} rss_20_sessions_kib={logged_in} rss_20_terminals_kib={open20} \
             ratio={:.2} per_login_kib={} per_terminal_kib={}",
            open20 as f64 / idle as f64,
            logged_in.saturating_sub(idle) / 20,
            open20.saturating_sub(logged_in) / 20
        );
        for mut ws in terminals.drain(..) {
            let _ = ws.close(None).await;
        }
        // (b) through the console.
        let (mut ws, _, _) = terminal::open(&service, "host0").await;
        let mut seen = String::new();
        let started = Instant::now();
        terminal::type_text(&mut ws, &format!("{command}\r")).await;
        terminal::read_line_until(&mut ws, &mut seen, |l| l == "END42").await;
        let console = started.elapsed();
        let direct = direct_terminal_time(daemon_port, &command).await;
        println!(
            "BENCH output_mib={megabytes} console_s={:.3} direct_s={:.3} ratio={:.2}",
            console.as_secs_f64(),
            direct.as_secs_f64(),
            console.as_secs_f64() / direct.as_secs_f64()
        );
    });
}

#[test]
fn an_idle_session_expiring_ends_its_terminal() {
    // The shortest idle timeout the settings allow; the terminal is opened and then left alone.
    let service = Service::for_terminals("SessionIdleMinutes = 1");
    let marker = format!("sleep 7{}4", service.port);
    terminal::runtime().block_on(async {
        let (mut ws, session, _) = terminal::open(&service, "host0").await;
        terminal::type_text(&mut ws, &format!("{marker}\r")).await;
        terminal::wait_for_process(&marker, true);
        // The socket is closed as a policy end once the session has expired ...
        let code = terminal::close_code(&mut ws, Duration::from_secs(150)).await;
        assert_eq!(
            code,
            Some(tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Policy)
        );
        // ... and the shell's processes are gone.
        terminal::wait_for_process(&marker, false);
        assert_eq!(service.get_json(&session, "/fleet").status, 401);
    });
    let (admin, _) = service.manager_session();
    let closed = terminal::audited(&service, &admin, "terminal closed");
    assert!(
        closed.iter().any(|d| d.contains("the session expired")),
        "{closed:?}"
    );
}
