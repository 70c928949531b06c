//! The console's pages as a browser gets them (HTML over curl, a real console and real
//! `wsmand` hosts): the header and navigation on every page, errors and refusals included;
//! a host's failure in words with the raw detail one click away; the events filter.

use std::os::unix::fs::PermissionsExt as _;

use wsman_test::{SERVICE_ACCOUNT, SERVICE_PASSWORD};

mod common;
use common::*;

/// The HTML page at `path`, with the session's cookie if any.
fn page(service: &Service, session: Option<&str>, path: &str) -> Reply {
    let cookie = session.map(|s| format!("Cookie: __Host-wsmand-session={s}"));
    let mut args = Vec::new();
    if let Some(cookie) = &cookie {
        args.extend(["-H", cookie.as_str()]);
    }
    let url = service.url(path);
    args.push(&url);
    service.curl(&args)
}

/// What the service answers to `request` sent as is over TLS (openssl's client), until it
/// closes the connection.
fn raw_tls_exchange(port: u16, request: &[u8]) -> String {
    use std::io::{Read as _, Write as _};
    use std::process::{Command, Stdio};
    let mut client = Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-connect",
            &format!("127.0.0.1:{port}"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_client");
    let mut stdin = client.stdin.take().expect("stdin");
    let request = request.to_vec();
    // The service stops reading early: the rest of the write may fail.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&request);
        // Kept open until the answer is read: s_client ends when its input does.
        std::thread::sleep(std::time::Duration::from_secs(5));
    });
    let mut answer = Vec::new();
    client
        .stdout
        .take()
        .expect("stdout")
        .read_to_end(&mut answer)
        .expect("read");
    let _ = client.kill();
    let _ = client.wait();
    let _ = writer.join();
    String::from_utf8_lossy(&answer).into_owned()
}

/// The header of a logged-in page: the way back to the fleet, the audit, the user and log out.
fn assert_logged_in_header(reply: &Reply, user: &str) {
    let body = &reply.body;
    for part in [
        r#"<a href="/fleet">Fleet</a>"#,
        r#"<a href="/audit">Audit</a>"#,
        r#"action="/logout""#,
        &format!("<span>{user}</span>"),
    ] {
        assert!(
            body.contains(part),
            "{part} missing ({}): {body}",
            reply.status
        );
    }
}

#[test]
fn every_page_keeps_the_header_refusals_and_errors_included() {
    let roles = format!(
        "{ALL_POWERFUL_ROLE}\n[[Role]]\nName = \"readers\"\nMembers = [\"reader\"]\n\
         [[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"*\"]\nResources = [\"*\"]\nActions = [\"read\"]\n"
    );
    let service = Service::start_layout(&Layout {
        roles: Some(&roles),
        managers: &[("reader", "Reader-Pass-4-Console!")],
        ..Layout::default()
    });
    let (reader, _) = service.session_of("reader", "Reader-Pass-4-Console!");
    // A refusal (the reader may not open a shell).
    let refused = page(&service, Some(&reader), "/hosts/host0/terminal");
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("not allowed: shell on host0"));
    assert_logged_in_header(&refused, "reader");
    // Errors: a host not configured, a page that does not exist, a method not allowed.
    let (manager, _) = service.manager_session();
    // A search too long for an address says so.
    let long_search = format!("/hosts/host0/events?q={}", "a".repeat(4000));
    for (path, status) in [
        ("/hosts/elsewhere", 404),
        ("/no/such/page", 404),
        (long_search.as_str(), 414),
    ] {
        let reply = page(&service, Some(&manager), path);
        assert_eq!(reply.status, status, "{path}: {}", reply.body);
        assert_logged_in_header(&reply, MANAGER);
    }
    assert!(page(&service, Some(&manager), &long_search)
        .body
        .contains("shorten the search"));
    // A 1 MiB search string: more than the request head may hold, answered with a page.
    // (curl takes no address that long; openssl's client sends the request as written.)
    let request = format!(
        "GET /hosts/host0/events?q={} HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Cookie: __Host-wsmand-session={manager}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let refused = raw_tls_exchange(service.port, request.as_bytes());
    assert!(
        refused.starts_with("HTTP/1.1 431 "),
        "{}",
        &refused[..refused.len().min(500)]
    );
    assert!(refused.contains("shorten the search"), "{refused}");
    assert!(refused.contains(r#"href="/fleet""#));
    // The service still answers.
    assert_eq!(page(&service, Some(&manager), "/fleet").status, 200);
    // Without a session: the way to log in, never a logout.
    let anonymous = page(&service, None, "/no/such/page");
    anonymous.assert_shows(404, &[r#"href="/login""#]);
    assert!(!anonymous.body.contains("/logout"));
    // The JSON form of a refusal is unchanged.
    let json = service.get_json(&reader, "/hosts/host0/terminal");
    assert_eq!(json.status, 403);
    assert!(json.json()["error"].is_string());
}

#[test]
fn a_host_that_fails_is_explained_with_the_raw_detail_one_click_away() {
    // A host at an address where nothing listens.
    let dead_port = wsman_test::free_port();
    let secrets = tempfile::tempdir().expect("tempdir");
    let password_file = secrets.path().join("gone.pass");
    std::fs::write(&password_file, SERVICE_PASSWORD).expect("password");
    std::fs::set_permissions(&password_file, std::fs::Permissions::from_mode(0o600))
        .expect("chmod");
    let roles = format!(
        "[[Host]]\nName = \"gone\"\nUrl = \"http://127.0.0.1:{dead_port}/wsman\"\n\
         Username = \"{SERVICE_ACCOUNT}\"\nPasswordFile = \"{}\"\nAllowUnencrypted = true\n\n\
         {ALL_POWERFUL_ROLE}",
        password_file.display()
    );
    let service = Service::start_layout(&Layout {
        roles: Some(&roles),
        ..Layout::default()
    });
    let (session, _) = service.manager_session();
    service.fleet_sampled(&session);
    for path in [
        "/fleet",
        "/hosts/gone",
        "/hosts/gone/services",
        "/hosts/gone/events",
    ] {
        let reply = page(&service, Some(&session), path);
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        let body = &reply.body;
        assert!(
            body.contains("Nothing answered at the host&#39;s address.")
                || body.contains("Nothing answered at the host's address."),
            "{path}: {body}"
        );
        assert!(body.contains("[[Host]]&#39;s Url") || body.contains("[[Host]]'s Url"));
        // The raw error, behind a click.
        let details = body
            .find("<details><summary>Details</summary>")
            .expect("details");
        assert!(
            body[details..].contains(&format!("127.0.0.1:{dead_port}")),
            "{path}: {body}"
        );
    }
    // JSON keeps the raw text for scripts.
    let fleet = service.get_json(&session, "/fleet");
    let gone = fleet.json()["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .find(|h| h["name"] == "gone")
        .cloned()
        .expect("gone");
    assert!(gone["error"]
        .as_str()
        .is_some_and(|e| e.contains(&dead_port.to_string())));
}

/// 2026-01-01T00:00:59.950Z: the first 50 entries fall in minute 00:00, the rest in 00:01.
const FIRST_ENTRY_USEC: u64 = 1_767_225_659_950_000;
const ENTRIES: usize = 120;

fn source_of(i: usize) -> &'static str {
    ["alpha", "beta", "<i>gamma</i>"][i % 3]
}

#[test]
fn events_filter_by_log_level_source_time_and_text_on_the_host() {
    let messages: Vec<String> = (0..ENTRIES)
        .map(|i| match i {
            77 => "a needle in the haystack".to_owned(),
            _ => format!("entry {i} <b>marked</b>"),
        })
        .collect();
    let entries: Vec<Vec<(&str, &str)>> = (0..ENTRIES)
        .map(|i| {
            vec![
                ("SYSLOG_IDENTIFIER", source_of(i)),
                ("PRIORITY", if i % 4 == 0 { "3" } else { "6" }),
                ("MESSAGE", messages[i].as_str()),
                ("_PID", "4242"),
                ("_UID", "0"),
            ]
        })
        .collect();
    let refs: Vec<&[(&str, &str)]> = entries.iter().map(Vec::as_slice).collect();
    let Some(journal) = wsman_test::journal::JournalDir::from_entries(FIRST_ENTRY_USEC, &refs)
    else {
        return;
    };
    let directory = journal.path().to_str().expect("UTF-8").to_owned();
    let service = Service::with_journal(&directory);
    let (session, _) = service.manager_session();
    let events = |query: &str| -> Vec<serde_json::Value> {
        let reply = service.get_json(&session, &format!("/hosts/host0/events?{query}"));
        assert_eq!(reply.status, 200, "{query}: {}", reply.body);
        reply.json()["events"].as_array().expect("events").clone()
    };
    let expected = |keep: &dyn Fn(usize) -> bool| (0..ENTRIES).filter(|i| keep(*i)).count();
    // The host filters: every match, not a slice of the newest 100.
    let alpha = events("source=alpha");
    assert_eq!(alpha.len(), expected(&|i| i % 3 == 0));
    assert!(alpha.iter().all(|e| e["source"] == "alpha"));
    let errors = events("level=Error");
    assert_eq!(errors.len(), expected(&|i| i % 4 == 0));
    assert!(errors.iter().all(|e| e["event_type"] == "Error"));
    assert_eq!(
        events("source=alpha&level=error").len(),
        expected(&|i| i % 12 == 0)
    );
    let marked = events("source=%3Ci%3Egamma%3C%2Fi%3E");
    assert_eq!(marked.len(), expected(&|i| i % 3 == 2));
    assert_eq!(events("to=2026-01-01T00:00").len(), 50);
    assert_eq!(
        events("from=2026-01-01T00:01&source=beta").len(),
        expected(&|i| i >= 50 && i % 3 == 1)
    );
    assert_eq!(events("log=Application&from=2026-01-01T00:02").len(), 0);

    // The page: text searched, pages, markup as text, bad values named.
    let html = |query: &str| {
        let reply = page(
            &service,
            Some(&session),
            &format!("/hosts/host0/events?{query}"),
        );
        assert_eq!(reply.status, 200, "{query}: {}", reply.body);
        reply.body
    };
    let found = html("q=NEEDLE");
    assert!(found.contains("a needle in the haystack"), "{found}");
    assert!(found.contains("1 records matching of 100"), "{found}");
    let gamma = html("source=%3Ci%3Egamma%3C%2Fi%3E&page=2");
    assert!(gamma.contains("&lt;i&gt;gamma&lt;/i&gt;"));
    assert!(!gamma.contains("<i>gamma</i>"));
    assert!(!gamma.contains("<b>marked</b>"));
    // The filter is kept by the pager's links and shown in its form.
    assert!(
        gamma.contains(r#"value="&lt;i&gt;gamma&lt;/i&gt;""#),
        "{gamma}"
    );
    let past = html("level=Information&page=99");
    assert!(past.contains("There is no page 99"), "{past}");
    assert!(past.contains("page 2 of 2"), "{past}");
    assert!(
        past.contains(r#"href="?level=Information&amp;page=1""#)
            || past.contains(r#"href="?level=Information""#),
        "{past}"
    );
    let none = html("from=2027-01-01T00:00");
    assert!(none.contains("No record matches"), "{none}");
    let bad = html("level=loud&from=yesterday");
    assert!(bad.contains("There is no level of that name"), "{bad}");
    assert!(
        bad.contains("The From time is not a date and time"),
        "{bad}"
    );
    drop(service);
    drop(journal);
}
