//! The events page's live stream: new journal entries as they are written, the host's
//! subscription ended with the socket, and the upgrade checks the terminals pass.
//!
//! The real `wsmand-mgmt` on a loopback port with its generated certificate, real `wsmand`
//! daemons as its hosts, curl as the client (tokio-tungstenite for the WebSockets). Every
//! value checked comes from the OS or from a process the test started, never from the
//! service itself.

use std::path::Path;
use std::time::{Duration, Instant};

use wsman_test::Daemon;

mod common;
use common::upgrade::*;
use common::*;

/// The events page's live stream, from a real WebSocket client.
mod live_events {
    use super::*;
    use futures_util::StreamExt as _;
    use tokio_tungstenite::tungstenite::Message;

    /// How long an entry may take to arrive (journald, the host's pull, the relay).
    pub(crate) const WAIT: Duration = Duration::from_secs(30);

    /// Opens the stream of `host` for a session (`query` after `csrf=`).
    pub(crate) async fn open(
        service: &Service,
        host: &str,
        session: &str,
        csrf: &str,
        logs: &str,
    ) -> Result<terminal::Ws, u16> {
        let origin = format!("https://127.0.0.1:{}", service.port);
        terminal::connect_path(
            service,
            &format!("/hosts/{host}/events/ws?csrf={csrf}{logs}"),
            Some(session),
            Some(&origin),
        )
        .await
    }

    /// Reads event frames until one's message is `message`; returns that event.
    pub(crate) async fn event_with_message(
        ws: &mut terminal::Ws,
        message: &str,
    ) -> serde_json::Value {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, ws.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    let frame: serde_json::Value =
                        serde_json::from_str(text.as_str()).expect("a JSON frame");
                    if frame["event"]["message"] == message {
                        return frame["event"].clone();
                    }
                    seen.push(frame);
                }
                Ok(Some(Ok(_))) => {}
                other => panic!("{message:?} never came; saw {seen:?}, then {other:?}"),
            }
        }
    }

    /// The journal's record number of the entry whose message is `message`, as journalctl
    /// of the booted system reads it: `__SEQNUM`, else the cursor's `i=` (hex).
    pub(crate) fn record_number(
        systemd: &wsman_test::systemd::BootedSystemd,
        message: &str,
    ) -> u64 {
        let output = systemd.journal_until(&["-o", "json", &format!("MESSAGE={message}")], |o| {
            o.contains(message)
        });
        let entry: serde_json::Value = serde_json::from_str(
            output
                .lines()
                .find(|l| l.contains(message))
                .expect("the entry"),
        )
        .expect("journalctl's JSON");
        if let Some(seqnum) = entry["__SEQNUM"].as_str() {
            return seqnum.parse().expect("a number");
        }
        let cursor = entry["__CURSOR"].as_str().expect("a cursor");
        let index = cursor
            .split(';')
            .find_map(|part| part.strip_prefix("i="))
            .expect("i= in the cursor");
        u64::from_str_radix(index, 16).expect("hex")
    }

    /// The id of the newest subscription the daemon logged as created.
    pub(crate) fn newest_subscription(daemon: &Daemon) -> Option<String> {
        daemon
            .stderr()
            .lines()
            .rev()
            .filter(|l| l.contains("event subscription created"))
            .find_map(|l| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix("subscription="))
                    .map(str::to_owned)
            })
    }

    /// Waits until the daemon logs that subscription `id` ended (an Unsubscribe).
    pub(crate) fn wait_for_unsubscribe(daemon: &Daemon, id: &str) {
        let deadline = Instant::now() + WAIT;
        while !daemon.stderr().lines().any(|l| {
            l.contains("event subscription ended") && l.contains(&format!("subscription={id}"))
        }) {
            assert!(
                Instant::now() < deadline,
                "subscription {id} never ended: {}",
                daemon.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The service with one host whose event logs are the booted systemd's journal.
fn service_on_journal_of(systemd: &wsman_test::systemd::BootedSystemd) -> Service {
    let directory = systemd
        .root()
        .join("var/log/journal")
        .to_str()
        .expect("UTF-8")
        .to_owned();
    let env = [("WSMAND_JOURNAL_DIRECTORY", directory.as_str())];
    Service::start_with(1, "", (&|_| {}, &env))
}

/// The JSON page names the stream; the HTML page loads its script, which the page's
/// policy lets connect, and the script served is the asset's.
fn the_page_names_the_stream_and_loads_its_script(service: &Service, session: &str) {
    let page = service.get_json(session, "/hosts/host0/events");
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.json()["stream"], "/hosts/host0/events/ws");
    let html = service.page(session, "/hosts/host0/events");
    assert!(html
        .body
        .contains(r#"<script src="/assets/events.js" defer>"#));
    let policy = html.header("content-security-policy").expect("CSP");
    assert!(policy.contains("script-src 'self';") && policy.contains("connect-src 'self';"));
    let script =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/events.js"))
            .expect("asset");
    assert_eq!(
        service.curl(&[&service.url("/assets/events.js")]).body,
        script
    );
}

/// The audit's "event stream closed" records, waited for (the console records the close once
/// the host's unsubscription is done).
fn audited_close(service: &Service, session: &str) -> Vec<String> {
    let deadline = Instant::now() + live_events::WAIT;
    loop {
        let closed = terminal::audited(service, session, "event stream closed");
        if !closed.is_empty() || Instant::now() > deadline {
            break closed;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_events_page_streams_new_journal_entries_and_unsubscribes_when_closed() {
    let Some(systemd) = wsman_test::systemd::BootedSystemd::boot() else {
        return;
    };
    let service = service_on_journal_of(&systemd);
    let daemon = &service.daemons[0].1;
    let (session, csrf) = service.manager_session();
    the_page_names_the_stream_and_loads_its_script(&service, &session);

    let marker = format!(
        "console live <i>{}</i> {}",
        service.port,
        std::process::id()
    );
    let second = format!("{marker} again");
    // One runtime for the socket's whole life.
    let runtime = terminal::runtime();
    let mut ws = runtime.block_on(async {
        let mut ws = live_events::open(&service, "host0", &session, &csrf, "")
            .await
            .unwrap_or_else(|status| panic!("refused with {status}: {}", service.log()));
        // Logged after the subscription: the stream carries it, as the host read it.
        systemd.exec_ok(&[
            "logger",
            "-t",
            "console-live",
            "-p",
            "user.warning",
            &marker,
        ]);
        let event = live_events::event_with_message(&mut ws, &marker).await;
        assert_eq!(event["provider"], "console-live");
        assert_eq!(event["level_name"], "Warning");
        assert_eq!(
            event["record_id"].as_u64(),
            Some(live_events::record_number(&systemd, &marker))
        );
        systemd.exec_ok(&["logger", "-t", "console-live", "-p", "user.err", &second]);
        let event = live_events::event_with_message(&mut ws, &second).await;
        assert_eq!(event["level_name"], "Error");
        ws
    });
    let subscription =
        live_events::newest_subscription(daemon).expect("the host logged the subscription");
    // The browser closes the socket: the console unsubscribes at the host.
    runtime.block_on(async {
        ws.close(None).await.expect("close");
        drop(ws);
    });
    live_events::wait_for_unsubscribe(daemon, &subscription);
    let closed = audited_close(&service, &session);
    // At least the two entries the test logged (the booted system logs on its own too).
    let carried = |detail: &str| -> u64 {
        detail
            .split(", ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    assert!(
        closed.iter().any(|d| d.starts_with("host0: ")
            && carried(d) >= 2
            && d.ends_with("the browser closed the socket; unsubscribed")),
        "{closed:?}"
    );
    assert_eq!(
        terminal::audited(&service, &session, "event stream opened"),
        ["host0: Application,System"]
    );

    // Logout: the stream is closed as a policy end and its subscription ended too.
    runtime.block_on(async {
        let mut ws = loop {
            match live_events::open(
                &service,
                "host0",
                &session,
                &csrf,
                "&logs=System,Application",
            )
            .await
            {
                Ok(ws) => break ws,
                // The closed stream's slot is freed once it has unsubscribed.
                Err(409) => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(status) => panic!("refused with {status}"),
            }
        };
        let subscription = live_events::newest_subscription(daemon).expect("subscription");
        let out = service.logout(&session, &csrf);
        assert_eq!(out.status, 200, "{}", out.body);
        assert_eq!(
            terminal::close_code(&mut ws, live_events::WAIT).await,
            Some(tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Policy)
        );
        live_events::wait_for_unsubscribe(daemon, &subscription);
    });
}

#[test]
fn event_stream_upgrades_are_checked_as_the_terminals_are() {
    let service = upgrade_checks_service();
    assert_every_upgrade_check(&service, &EVENTS_SOCKET);
}

#[test]
fn one_user_holds_at_most_two_streams_on_a_host() {
    let Some(systemd) = wsman_test::systemd::BootedSystemd::boot() else {
        return;
    };
    let service = service_on_journal_of(&systemd);
    // Three sessions of one user: each may open the host's stream once, the user twice.
    let sessions: Vec<(String, String)> = (0..3).map(|_| service.manager_session()).collect();
    terminal::runtime().block_on(async {
        let mut open = Vec::new();
        for (session, csrf) in &sessions[..2] {
            let ws = live_events::open(&service, "host0", session, csrf, "&logs=System")
                .await
                .expect("a stream");
            open.push(ws);
        }
        let (session, csrf) = &sessions[2];
        let third = live_events::open(&service, "host0", session, csrf, "&logs=System").await;
        assert_eq!(
            third.err(),
            Some(429),
            "a third stream of one user on one host"
        );
    });
}
