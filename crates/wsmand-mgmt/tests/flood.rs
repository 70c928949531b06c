//! The console under flood, as a client that never logs in would try it: refused connections
//! by the ten thousand, logins with names that are no account, wrong passwords for a real
//! user from one address. What must hold: the log grows by a bounded number of lines, the
//! audit trail keeps its logins and actions, and the real user still gets in.

use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::*;

/// Log lines about `client` that record a refusal, one by one or summarized.
fn refusal_lines(log: &str, client: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains(&format!("client={client} ")) && l.contains("audit"))
        .map(str::to_owned)
        .collect()
}

/// How many refusals `lines` account for: one per line recorded one by one, N per summary
/// ("N more refusal(s) ...").
fn refusals_accounted(lines: &[String]) -> u64 {
    lines
        .iter()
        .map(|line| match line.split_once("detail=\"") {
            Some((_, detail)) if line.contains("refusals summarized") => detail
                .split(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
            _ => 1,
        })
        .sum()
}

/// The audit records of `event` the session sees.
fn audited(service: &Service, session: &str, event: &str) -> Vec<serde_json::Value> {
    let mut records = service.audit(session);
    records.retain(|r| r["event"] == event);
    records
}

#[test]
fn ten_thousand_refused_connections_add_few_log_lines_and_keep_logins_and_actions() {
    const FLOOD: u64 = 10_000;
    let service = Service::start(1, "DeniedClients = [\"127.0.0.2\"]");
    // A login and an action before the flood: terminating a process this test started.
    let (session, csrf) = service.manager_session();
    let mut sleeper = Command::new("sleep").arg("300").spawn().expect("sleep");
    let path = format!("/hosts/host0/processes/{}/terminate", sleeper.id());
    let terminated = service.post_json((&session, &csrf), &path);
    assert_eq!(terminated.status, 200, "{}", terminated.body);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let to: SocketAddr = format!("127.0.0.1:{}", service.port).parse().expect("addr");
    let from: SocketAddr = "127.0.0.2:0".parse().expect("addr");
    for _ in 0..FLOOD {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        socket.bind(&from.into()).expect("bind source");
        // Reset on close: no TIME_WAIT left behind by ten thousand connections.
        socket.set_linger(Some(Duration::ZERO)).expect("linger");
        socket
            .connect_timeout(&to.into(), Duration::from_secs(20))
            .expect("connect");
        drop(TcpStream::from(socket));
    }
    // Every refusal is accounted for once the summaries of the last interval are written.
    let start = Instant::now();
    let lines = loop {
        let lines = refusal_lines(&without_colours(&service.log()), "127.0.0.2");
        if refusals_accounted(&lines) >= FLOOD {
            break lines;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{} of {FLOOD} refusals accounted for: {}",
            refusals_accounted(&lines),
            service.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(refusals_accounted(&lines), FLOOD, "{}", lines.join("\n"));
    assert!(
        lines.len() < 300,
        "{} log lines for {FLOOD} refusals",
        lines.len()
    );
    assert!(lines.iter().any(|l| l.contains("refusals summarized")));
    // The audit trail still holds the login and the action.
    let logins = audited(&service, &session, "login");
    assert!(
        logins.iter().any(|r| r["user"] == MANAGER),
        "the login was pushed out: {logins:?}"
    );
    let actions = audited(&service, &session, "action");
    assert!(
        actions.iter().any(|r| r["detail"]
            .as_str()
            .is_some_and(|d| d.contains("Terminate"))),
        "the action was pushed out: {actions:?}"
    );
}

#[test]
fn after_wrong_passwords_from_one_address_the_right_one_from_another_is_checked() {
    let service = Service::start(0, "");
    for _ in 0..4 {
        let (reply, _) = service.login_from("127.0.0.3", MANAGER, "wrong", None);
        assert_eq!(reply.status, 401);
    }
    // That address waits for this user, unchecked.
    let (held, _) = service.login_from("127.0.0.3", MANAGER, MANAGER_PASSWORD, None);
    assert_eq!(held.status, 429, "{}", held.body);
    // Another address, without failures, is checked and gets in.
    let (reply, session) = service.login_from("127.0.0.4", MANAGER, MANAGER_PASSWORD, None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(session.is_some());
}

#[test]
fn a_correct_os_login_succeeds_during_a_flood_of_unknown_names() {
    let Some((admin, admin_password)) = pam_user_as_root() else {
        return;
    };
    let service = Service::start(0, "Credentials = \"os\"\nOsLoginGroup = \"wsmand-admins\"");
    // Forty logins with names that are no account, ten from each of four addresses, all
    // posted together.
    let barrier = std::sync::Barrier::new(41);
    std::thread::scope(|scope| {
        let flood: Vec<_> = (0..40)
            .map(|n| {
                let (service, barrier) = (&service, &barrier);
                scope.spawn(move || {
                    let source = format!("127.0.0.{}", 2 + n % 4);
                    barrier.wait();
                    let (reply, session) = service.login_from(
                        &source,
                        &format!("flood-no-such-user-{n}"),
                        "not-a-password",
                        None,
                    );
                    assert!(session.is_none());
                    reply.status
                })
            })
            .collect();
        barrier.wait();
        // While they are being answered, the real user logs in from a fifth address.
        std::thread::sleep(Duration::from_secs(1));
        let (reply, session) = service.login(&admin, &admin_password, None);
        assert_eq!(reply.status, 200, "{} {}", reply.body, service.log());
        assert!(session.is_some());
        for thread in flood {
            let status = thread.join().expect("flood thread");
            assert!(status == 401 || status == 429, "{status}");
        }
    });
}
