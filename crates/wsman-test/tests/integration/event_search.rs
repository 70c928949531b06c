//! The event store's search over WS-Management (`docs/event-search.md`), through a real
//! client: events forwarded to a collector whose subscription writes to the store, then
//! searched with pywinrm's `Protocol.send_message` over HTTP (Basic): filters, pages newest
//! first by Enumerate and Pull, one event's XML by Get, the cursor and the tail, the
//! histogram, and the faults of bad filters, bad selectors and an account without the right.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use wsman_proto::ns::action::{DELETE, ENUMERATE, GET, PULL};
use wsman_proto::ns::event_store::{CURSOR, DIALECT, EVENTS, HISTOGRAM};
use wsman_test::postgres::Postgres;
use wsman_test::{http, soap};
use wsman_test::{wec_database_env, ConfigDir, Fixture, SERVICE_ACCOUNT, SERVICE_PASSWORD};

use crate::collector::{deliver_acknowledged, enumerate};

/// An account that is no administrator: RootSDDL does not let it read.
const READER: &str = "store-reader";
const READER_PASSWORD: &str = "Store-Reader-Pass-5!";
/// The number of the next message (its MessageID).
static MESSAGES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One event of the service account's host (the forwarder's own Computer).
fn event(record: u64, id: u32, level: u8, second: u32, message: &str) -> String {
    format!("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing'/><EventID>{id}</EventID><Level>{level}</Level><TimeCreated SystemTime='2026-11-26T10:00:{second:02}.0000000Z'/><EventRecordID>{record}</EventRecordID><Channel>Security</Channel><Computer>{SERVICE_ACCOUNT}</Computer></System><EventData><Data Name='IpAddress'>10.0.0.{record}</Data></EventData><RenderingInfo Culture='en-US'><Message>{message}</Message></RenderingInfo></Event>")
}

fn envelope(uri: &str, action: &str, header: &str, body: &str) -> String {
    format!(
        r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header><a:To>http://127.0.0.1/wsman</a:To><w:ResourceURI s:mustUnderstand="true">{uri}</w:ResourceURI><a:ReplyTo><a:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><a:Action s:mustUnderstand="true">{action}</a:Action><w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize><a:MessageID>uuid:2E6B2E9C-5555-4A4B-9C1D-{:012}</a:MessageID><w:OperationTimeout>PT60.000S</w:OperationTimeout>{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>"#,
        MESSAGES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// An Enumerate of `uri` with the first `max` results in the answer, filtered by `search`
/// (the inside of `q:Search`; `None`: no filter).
fn search(uri: &str, search: Option<&str>, max: u32) -> String {
    let filter = search.map_or(String::new(), |inner| {
        format!("<w:Filter Dialect=\"{DIALECT}\"><q:Search xmlns:q=\"urn:wsmand:event-store\">{inner}</q:Search></w:Filter>")
    });
    envelope(
        uri,
        ENUMERATE,
        "",
        &format!("<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>{max}</w:MaxElements>{filter}</n:Enumerate>"),
    )
}

fn pull(max: u32) -> String {
    envelope(
        EVENTS,
        PULL,
        "",
        &format!("<n:Pull><n:EnumerationContext>{{context}}</n:EnumerationContext><n:MaxElements>{max}</n:MaxElements></n:Pull>"),
    )
}

fn get(uri: &str, selectors: &str) -> String {
    let set = if selectors.is_empty() {
        String::new()
    } else {
        format!("<w:SelectorSet>{selectors}</w:SelectorSet>")
    };
    envelope(uri, GET, &set, "")
}

/// The answers of pywinrm to `messages`, in order: `Ok(envelope)` or `Err(fault subcode)`.
fn pywinrm(port: u16, user: &str, password: &str, messages: &[String]) -> Vec<Answer> {
    let python = repository().join(".venv/bin/python");
    let job = serde_json::json!({
        "endpoint": format!("http://127.0.0.1:{port}/wsman"),
        "username": user,
        "password": password,
        "messages": messages,
    });
    let mut child = Command::new(&python)
        .arg(repository().join("tests/interop/event_search_client.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{} with pywinrm is needed (tests/interop/requirements.txt): {e}",
                python.display()
            )
        });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(job.to_string().as_bytes())
        .expect("write the job");
    let out = child.wait_with_output().expect("pywinrm");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            match value["answer"].as_str() {
                Some(answer) => Answer::Envelope(answer.to_owned()),
                None => Answer::Fault(value["subcode"].as_str().unwrap_or("").to_owned()),
            }
        })
        .collect()
}

/// The values of `element` (`q:Id`, ...) in an answer, in order.
fn values(answer: &str, element: &str) -> Vec<String> {
    answer
        .split(&format!("<q:{element}>"))
        .skip(1)
        .filter_map(|rest| rest.split('<').next())
        .map(str::to_owned)
        .collect()
}

fn ok(answer: &Answer) -> &str {
    match answer {
        Answer::Envelope(envelope) => envelope,
        Answer::Fault(fault) => panic!("a fault: {fault}"),
    }
}

/// What pywinrm made of one message: the answer's envelope, or the fault's subcode.
#[derive(Debug)]
enum Answer {
    Envelope(String),
    Fault(String),
}

impl Answer {
    fn is_fault(&self, subcode: &str) -> bool {
        matches!(self, Answer::Fault(got) if got.ends_with(subcode))
    }
}

/// A collector storing the `wef` subscription's events, with [`READER`] as an account too;
/// six events forwarded in two batches (the second sent twice: a lost Ack).
fn collector(state: &Path) -> Fixture {
    collector_on(state, None)
}

/// A collector storing the `wef` subscription's events in its event store, with the account
/// `(name, password, run-as user)` too; its database in `state`, its bookmarks and so its store
/// in `postgres`'s database when given.
pub(crate) fn store_collector(
    state: &Path,
    account: (&str, &str, &str),
    postgres: Option<&Postgres>,
) -> Fixture {
    store_collector_with(state, account, postgres, |_| {})
}

/// [`store_collector`] with `adjust` applied to its configuration too.
fn store_collector_with(
    state: &Path,
    (name, password, run_as): (&str, &str, &str),
    postgres: Option<&Postgres>,
    adjust: impl FnOnce(&mut ConfigDir),
) -> Fixture {
    let database = state.join("wec.sqlite");
    Fixture::http_with_env(
        |config| {
            adjust(config);
            config.add_account(name, password, Some(run_as));
            if let Some(server) = postgres {
                crate::collector_postgres::use_postgres_store(config, server, 4);
            }
            config.write_raw(
                "subscriptions/wef.toml",
                &crate::collector_computer::with_own_computers(
                    "query = '<QueryList><Query Id=\"0\"><Select Path=\"Security\">*</Select></Query></QueryList>'\n[[outputs]]\ntype = \"store\"\n",
                ),
            );
        },
        &wec_database_env(&database),
    )
}

/// [`collector`] with its bookmarks, and so its store, in `postgres`'s database when given.
fn collector_on(state: &Path, postgres: Option<&Postgres>) -> Fixture {
    let fixture = store_collector(state, (READER, READER_PASSWORD, "nobody"), postgres);
    let offer = enumerate(fixture.port);
    let first = [
        event(1, 4624, 0, 1, "An account was successfully logged on."),
        event(2, 4625, 0, 2, "An account failed to log on."),
        event(3, 4625, 0, 3, "An account failed to log on."),
    ];
    let second = [
        event(4, 1102, 2, 4, "The audit log was cleared."),
        event(5, 4625, 0, 5, "An account failed to log on."),
        event(6, 4624, 0, 6, "An account was successfully logged on."),
    ];
    deliver_acknowledged(fixture.port, &offer, 1, &first);
    deliver_acknowledged(fixture.port, &offer, 2, &second);
    deliver_acknowledged(fixture.port, &offer, 2, &second);
    fixture
}

#[test]
fn a_real_client_searches_pages_gets_and_tails_the_store() {
    searches_pages_gets_and_tails(None);
}

#[test]
fn a_real_client_searches_the_store_in_postgres() {
    crate::on_postgres(searches_pages_gets_and_tails);
}

/// A real client searches, pages, gets and tails the store of a collector, its bookmarks and
/// store in PostgreSQL when `postgres` is given.
fn searches_pages_gets_and_tails(postgres: Option<&Postgres>) {
    let state = tempfile::tempdir().expect("tempdir");
    let fixture = collector_on(state.path(), postgres);
    let port = fixture.port;
    let answers = pywinrm(
        port,
        SERVICE_ACCOUNT,
        SERVICE_PASSWORD,
        &[
            // Every event, newest first, two per page: stored once each despite the resend.
            search(EVENTS, None, 2),
            pull(2),
            pull(2),
            search(EVENTS, Some("<q:EventID>4625</q:EventID><q:Text>FAILED</q:Text>"), 10),
            search(EVENTS, Some(&format!("<q:Computer>{}</q:Computer><q:Level>2</q:Level>", SERVICE_ACCOUNT.to_uppercase())), 10),
            search(EVENTS, Some("<q:From>2026-11-26T10:00:02Z</q:From><q:To>2026-11-26T10:00:04Z</q:To>"), 10),
            get(EVENTS, "<w:Selector Name=\"Id\">4</w:Selector>"),
            get(CURSOR, ""),
            search(EVENTS, Some("<q:After>4</q:After>"), 10),
            search(HISTOGRAM, Some("<q:From>2026-11-26T10:00:00Z</q:From><q:To>2026-11-26T10:00:08Z</q:To><q:BucketSeconds>4</q:BucketSeconds>"), 10),
        ],
    );
    let ids = |i: usize| values(ok(&answers[i]), "Id");
    assert_eq!(
        [ids(0), ids(1), ids(2)].concat(),
        ["6", "5", "4", "3", "2", "1"]
    );
    assert!(ok(&answers[2]).contains("EndOfSequence"));
    assert_eq!(ids(3), ["5", "3", "2"]);
    assert_eq!(ids(4), ["4"]);
    assert_eq!(
        values(ok(&answers[4]), "Message"),
        ["The audit log was cleared."]
    );
    assert_eq!(values(ok(&answers[4]), "Subscription"), ["wef"]);
    assert_eq!(
        values(ok(&answers[4]), "TimeCreated"),
        ["2026-11-26T10:00:04.0000000Z"]
    );
    assert_eq!(ids(5), ["3", "2"]);
    let full = ok(&answers[6]);
    assert!(
        full.contains("<EventID>1102</EventID>") && full.contains("The audit log was cleared."),
        "{full}"
    );
    assert_eq!(ids(7), ["6"]);
    assert_eq!(ids(8), ["5", "6"], "the tail: stored after 4, oldest first");
    assert_eq!(values(ok(&answers[9]), "Count"), ["3", "3"]);
    assert_eq!(
        values(ok(&answers[9]), "Start"),
        ["2026-11-26T10:00:00Z", "2026-11-26T10:00:04Z"]
    );
}

#[test]
fn bad_filters_selectors_and_rights_get_their_faults() {
    let state = tempfile::tempdir().expect("tempdir");
    let mut fixture = collector(state.path());
    let port = fixture.port;
    let other_dialect = envelope(
        EVENTS,
        ENUMERATE,
        "",
        "<n:Enumerate><w:Filter Dialect=\"http://schemas.microsoft.com/wbem/wsman/1/WQL\">SELECT * FROM x</w:Filter></n:Enumerate>",
    );
    let answers = pywinrm(
        port,
        SERVICE_ACCOUNT,
        SERVICE_PASSWORD,
        &[
            other_dialect,
            search(EVENTS, Some("<q:Level>256</q:Level>"), 10),
            search(EVENTS, Some("<q:Colour>red</q:Colour>"), 10),
            search(EVENTS, Some("<q:From>2026-11-27T00:00:00Z</q:From><q:To>2026-11-26T00:00:00Z</q:To>"), 10),
            search(EVENTS, Some("<q:BucketSeconds>60</q:BucketSeconds>"), 10),
            search(HISTOGRAM, Some("<q:BucketSeconds>1</q:BucketSeconds><q:From>2026-01-01T00:00:00Z</q:From><q:To>2026-11-26T00:00:00Z</q:To>"), 10),
            get(EVENTS, ""),
            get(EVENTS, "<w:Selector Name=\"Id\">four</w:Selector>"),
            get(EVENTS, "<w:Selector Name=\"Id\">999</w:Selector>"),
            envelope(EVENTS, DELETE, "<w:SelectorSet><w:Selector Name=\"Id\">1</w:Selector></w:SelectorSet>", ""),
        ],
    );
    let expected = [
        "FilterDialectRequestedUnavailable",
        "CannotProcessFilter",
        "CannotProcessFilter",
        "CannotProcessFilter",
        "CannotProcessFilter",
        "CannotProcessFilter",
        "InvalidSelectors",
        "InvalidSelectors",
        "DestinationUnreachable",
        "ActionNotSupported",
    ];
    assert_eq!(answers.len(), expected.len());
    for (answer, want) in answers.iter().zip(expected) {
        assert!(answer.is_fault(want), "{want}: {answer:?}");
    }
    // No administrator, no store descriptor: the store's default refuses the search.
    let denied = pywinrm(port, READER, READER_PASSWORD, &[search(EVENTS, None, 10)]);
    assert!(denied[0].is_fault("AccessDenied"), "{denied:?}");
    assert!(fixture.daemon.is_running());
    assert!(fixture
        .daemon
        .stderr()
        .contains("event store: search refused"));
}

/// A PAM account of the environment (`WSMAN_TEST_PAM_<WHICH>USER`, set by `scripts/test.sh`).
fn pam_account(which: &str) -> Option<(String, String)> {
    let user = std::env::var(format!("WSMAN_TEST_PAM_{which}USER")).ok()?;
    let password = std::env::var(format!("WSMAN_TEST_PAM_{which}PASSWORD")).ok()?;
    (!user.is_empty()).then_some((user, password))
}

/// The fault subcode of `user`'s answer to `message`, or `None` for an answer.
fn refusal(port: u16, (user, password): &(String, String), message: &str) -> Option<String> {
    let response = http::post_as(port, user, password, message);
    if response.status == 200 {
        return None;
    }
    let subcode = soap::fault(&response.text()).and_then(|f| f.subcode);
    Some(subcode.unwrap_or_else(|| panic!("not a fault\n{}", response.describe())))
}

/// docs/events.md's advice lets every Linux user read this host's Application and System logs
/// (`EventLogSDDL` with `(A;;GR;;;BU)`); the store, every forwarder's Security events, stays
/// with the administrators and the members of `wsmand-event-readers`.
#[test]
fn event_log_sddl_for_users_leaves_the_store_to_administrators_and_event_readers() {
    let (Some(admin), Some(plain), Some(reader)) = (
        pam_account(""),
        pam_account("PLAIN_"),
        pam_account("EVENT_READER_"),
    ) else {
        eprintln!("skipped: the PAM test accounts are not set (scripts/test.sh sets them as root)");
        return;
    };
    let state = tempfile::tempdir().expect("tempdir");
    let fixture = store_collector_with(
        state.path(),
        (READER, READER_PASSWORD, "nobody"),
        None,
        |c| {
            c.set(
                "Security",
                "EventLogSDDL",
                "\"O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;BU)\"",
            );
        },
    );
    let offer = enumerate(fixture.port);
    deliver_acknowledged(
        fixture.port,
        &offer,
        1,
        &[event(1, 4624, 0, 1, "Logged on.")],
    );
    let messages = [
        search(EVENTS, None, 10),
        search(
            HISTOGRAM,
            Some("<q:From>2026-11-26T10:00:00Z</q:From><q:To>2026-11-26T10:00:08Z</q:To><q:BucketSeconds>4</q:BucketSeconds>"),
            10,
        ),
        get(EVENTS, "<w:Selector Name=\"Id\">1</w:Selector>"),
        get(CURSOR, ""),
    ];
    for message in &messages {
        let denied = refusal(fixture.port, &plain, message);
        assert_eq!(denied.as_deref(), Some("AccessDenied"), "{message}");
        assert_eq!(refusal(fixture.port, &admin, message), None, "{message}");
        assert_eq!(refusal(fixture.port, &reader, message), None, "{message}");
    }
    let found = http::post_as(fixture.port, &reader.0, &reader.1, &messages[0]).text();
    assert_eq!(values(&found, "Id"), ["1"], "{found}");
}
