//! WS-Eventing on the event logs against the real daemon reading a real journal: a journal
//! directory made by `systemd-journal-remote` from export text, so every event, its record id,
//! provider and level are known. Subscribe / Pull / Unsubscribe over Basic on HTTP and HTTPS
//! (curl), ownership between two Linux users, the Security log for administrators only, and
//! every refusal of the issue's bad-input list with its fault.

use std::time::{Duration, SystemTime};

use wsman_proto::eventing::EVENT_LOG_URI;
use wsman_proto::ns::{self, action};
use wsman_proto::xml::{self, Element, Limits};
use wsman_test::http::{self, Response};
use wsman_test::journal::JournalDir;
use wsman_test::{binaries, free_port, process, soap, ConfigDir, Daemon, ListenerSpec};
use wsman_test::{SERVICE_ACCOUNT, SERVICE_PASSWORD};

use crate::expect_fault;

const USER: &str = "event-reader";
const USER_PASSWORD: &str = "Event-Reader-Pass-7!";
const PULL_MODE: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Pull";
pub(crate) const EARLIEST: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest";
pub(crate) const EVENT_NS: &str = "http://schemas.microsoft.com/win/2004/08/events/event";
pub(crate) const APPLICATION: &str =
    r#"<QueryList><Query Id="0"><Select Path="Application">*</Select></Query></QueryList>"#;

/// The journal of these tests: record ids 1 to 5 in this order.
fn journal() -> Option<JournalDir> {
    let big = "x".repeat(12_000);
    let entries: Vec<Vec<(&str, &str)>> = vec![
        vec![
            ("SYSLOG_IDENTIFIER", "billing"),
            ("PRIORITY", "3"),
            ("MESSAGE", "payment failed"),
            ("_PID", "4242"),
            ("_UID", "1000"),
        ],
        vec![
            ("SYSLOG_IDENTIFIER", "billing"),
            ("PRIORITY", "6"),
            ("MESSAGE", "payment accepted"),
            ("_PID", "4242"),
            ("_UID", "1000"),
        ],
        vec![
            ("SYSLOG_IDENTIFIER", "sshd"),
            ("SYSLOG_FACILITY", "4"),
            ("PRIORITY", "6"),
            ("MESSAGE", "Accepted password for alice"),
            ("_PID", "77"),
            ("_UID", "0"),
        ],
        vec![
            ("SYSLOG_IDENTIFIER", "inventory"),
            ("PRIORITY", "4"),
            ("MESSAGE", "stock low"),
            ("_PID", "555"),
            ("_UID", "1000"),
        ],
        vec![
            ("SYSLOG_IDENTIFIER", "inventory"),
            ("PRIORITY", "6"),
            ("MESSAGE", big.as_str()),
            ("_PID", "555"),
            ("_UID", "1000"),
        ],
    ];
    JournalDir::from_entries_before_now(Duration::from_secs(60), &entries)
}

/// Field order matters: the daemon is killed before its config dir and journal are deleted.
pub(crate) struct Source {
    pub(crate) daemon: Daemon,
    pub(crate) config: ConfigDir,
    port: u16,
    https_port: Option<u16>,
    journal: JournalDir,
}

/// The daemon over the test journal: Basic on HTTP (and HTTPS when asked), the root service
/// account, and a second account running as `nobody`; the event logs open to users.
pub(crate) fn source(adjust: impl FnOnce(&mut ConfigDir)) -> Option<Source> {
    source_with(false, adjust)
}

fn source_with(https: bool, adjust: impl FnOnce(&mut ConfigDir)) -> Option<Source> {
    source_with_env(https, adjust, &[])
}

/// [`source`] with more environment for the daemon (e.g. a Kerberos realm's).
pub(crate) fn source_with_env(
    https: bool,
    adjust: impl FnOnce(&mut ConfigDir),
    env: &[(&str, &str)],
) -> Option<Source> {
    Some(source_over(journal()?, https, adjust, env))
}

/// [`source_with_env`] over `journal`.
fn source_over(
    journal: JournalDir,
    https: bool,
    adjust: impl FnOnce(&mut ConfigDir),
    env: &[(&str, &str)],
) -> Source {
    let port = free_port();
    let mut config = ConfigDir::new();
    config.listener(ListenerSpec::http(port));
    let mut ports = vec![port];
    let https_port = https.then(|| {
        let https_port = free_port();
        config.add_https_listener(https_port);
        ports.push(https_port);
        https_port
    });
    config.set(
        "Security",
        "EventLogSDDL",
        "\"O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;BU)\"",
    );
    adjust(&mut config);
    config.write();
    config.add_service_account();
    config.add_account(USER, USER_PASSWORD, Some("nobody"));
    let directory = journal.path();
    let mut env = env.to_vec();
    env.push((
        "WSMAND_JOURNAL_DIRECTORY",
        directory.to_str().expect("a UTF-8 path"),
    ));
    let daemon = Daemon::start_with_env(&config, &ports, &env);
    Source {
        daemon,
        config,
        port,
        https_port,
        journal,
    }
}

impl Source {
    /// The subscription `identifier` is no more: its Unsubscribe is refused as an invalid
    /// message.
    pub(crate) fn expect_gone(&self, identifier: &str) {
        expect_fault(
            &self.post(&unsubscribe_request(identifier)),
            "InvalidMessage",
        );
    }

    pub(crate) fn post_as(&self, user: &str, password: &str, body: &str) -> Response {
        http::post_as(self.port, user, password, body)
    }

    pub(crate) fn post(&self, body: &str) -> Response {
        self.post_as(SERVICE_ACCOUNT, SERVICE_PASSWORD, body)
    }

    pub(crate) fn post_user(&self, body: &str) -> Response {
        self.post_as(USER, USER_PASSWORD, body)
    }
}

fn subscribe_body(filter: &str, extra: &str) -> String {
    format!(
        r#"<e:Subscribe><e:Delivery Mode="{PULL_MODE}"/>{extra}<w:Filter Dialect="http://schemas.microsoft.com/win/2004/08/events/eventquery">{filter}</w:Filter><w:Bookmark>{EARLIEST}</w:Bookmark><w:SendBookmarks/></e:Subscribe>"#
    )
}

pub(crate) fn subscribe_request(filter: &str, extra: &str) -> String {
    soap::request(
        wsman_proto::ns::action::SUBSCRIBE,
        EVENT_LOG_URI,
        &[],
        &subscribe_body(filter, extra),
    )
}

fn pull_request(context: &str, max_elements: u32, max_envelope: Option<u64>) -> String {
    let text = soap::request(
        action::PULL,
        EVENT_LOG_URI,
        &[],
        &format!(
            "<n:Pull><n:EnumerationContext>{context}</n:EnumerationContext><n:MaxTime>PT1S</n:MaxTime><n:MaxElements>{max_elements}</n:MaxElements></n:Pull>"
        ),
    );
    match max_envelope {
        Some(size) => with_header(
            &text,
            &format!("<w:MaxEnvelopeSize s:mustUnderstand=\"true\">{size}</w:MaxEnvelopeSize>"),
        ),
        None => text,
    }
}

/// A request to the subscription manager: its `e:Identifier` reference parameter as a header.
pub(crate) fn manager_request(action: &str, identifier: &str, body: &str) -> String {
    with_header(
        &soap::request(action, EVENT_LOG_URI, &[], body),
        &format!("<e:Identifier>{identifier}</e:Identifier>"),
    )
}

/// Unsubscribe from the subscription `identifier`.
pub(crate) fn unsubscribe_request(identifier: &str) -> String {
    manager_request(
        wsman_proto::ns::action::UNSUBSCRIBE,
        identifier,
        "<e:Unsubscribe/>",
    )
}

fn with_header(envelope: &str, header: &str) -> String {
    envelope.replacen("</s:Header>", &format!("{header}</s:Header>"), 1)
}

/// The element reached from `e` by each (namespace, local name) child step of `path` in turn.
fn descend<'a>(e: &'a Element, path: &[(&str, &str)]) -> Option<&'a Element> {
    path.iter().try_fold(e, |at, (ns, name)| at.child(ns, name))
}

pub(crate) fn parsed(response: &Response) -> Element {
    assert_eq!(response.status, 200, "{}", response.describe());
    xml::parse(&response.text(), &Limits::default()).expect("a well-formed response")
}

/// The subscription's identifier and EnumerationContext from a SubscribeResponse.
fn subscribed(response: &Response) -> (String, String) {
    let root = parsed(response);
    let body = descend(
        &root,
        &[(ns::SOAP, "Body"), (ns::EVENTING, "SubscribeResponse")],
    )
    .unwrap_or_else(|| panic!("not a SubscribeResponse: {}", response.describe()));
    let manager = [
        (ns::EVENTING, "SubscriptionManager"),
        (ns::ADDRESSING, "ReferenceParameters"),
        (ns::EVENTING, "Identifier"),
    ];
    let identifier = descend(body, &manager)
        .map(|i| i.trimmed_text())
        .expect("an e:Identifier");
    assert!(body.child(wsman_proto::ns::EVENTING, "Expires").is_some());
    let context = body
        .child(wsman_proto::ns::ENUMERATION, "EnumerationContext")
        .map(|c| c.trimmed_text())
        .expect("an EnumerationContext");
    (identifier, context)
}

/// (EventRecordID, Provider/@Name, Level) of each event of a PullResponse, and the bookmark's
/// record id for `Application`.
pub(crate) fn pulled(response: &Response) -> (Vec<(u64, String, u32)>, Option<u64>) {
    let root = parsed(response);
    let pull = [
        (ns::SOAP, "Body"),
        (ns::ENUMERATION, "PullResponse"),
        (ns::ENUMERATION, "Items"),
    ];
    let items = descend(&root, &pull)
        .unwrap_or_else(|| panic!("not a PullResponse: {}", response.describe()));
    let events = items
        .children_named(EVENT_NS, "Event")
        .map(|event| {
            let system = event.child(EVENT_NS, "System").expect("System");
            let text = |name: &str| {
                system
                    .child(EVENT_NS, name)
                    .map(|e| e.trimmed_text())
                    .unwrap_or_default()
            };
            (
                text("EventRecordID").parse().expect("a record id"),
                system
                    .child(EVENT_NS, "Provider")
                    .and_then(|p| p.attr("Name"))
                    .unwrap_or_default()
                    .to_owned(),
                text("Level").parse().expect("a level"),
            )
        })
        .collect();
    let bookmark = descend(&root, &[(ns::SOAP, "Header"), (ns::WSMAN, "Bookmark")])
        .and_then(|b| b.elements().next().cloned())
        .and_then(|list| {
            list.elements()
                .find(|b| b.attr("Channel") == Some("Application"))
                .and_then(|b| b.attr("RecordId"))
                .and_then(|r| r.parse().ok())
        });
    (events, bookmark)
}

#[test]
fn subscribe_pull_in_order_with_bookmarks_then_unsubscribe() {
    let Some(source) = source(|_| {}) else {
        return;
    };
    let (identifier, context) = subscribed(&source.post(&subscribe_request(
        APPLICATION,
        "<e:Expires>PT1H</e:Expires>",
    )));

    // GetStatus answers the expiry the subscription got: an hour from now, give or take the
    // time this test took so far.
    let status = parsed(&source.post(&manager_request(
        "http://schemas.xmlsoap.org/ws/2004/08/eventing/GetStatus",
        &identifier,
        "<e:GetStatus/>",
    )));
    let get_status = [
        (ns::SOAP, "Body"),
        (ns::EVENTING, "GetStatusResponse"),
        (ns::EVENTING, "Expires"),
    ];
    let expires = descend(&status, &get_status)
        .map(|e| e.trimmed_text())
        .expect("GetStatusResponse/Expires");
    let expires = wsman_events::Timestamp::parse_system_time(&expires)
        .unwrap_or_else(|| panic!("an xs:dateTime, not {expires:?}"));
    let in_an_hour =
        wsman_events::Timestamp::from_system_time(SystemTime::now() + Duration::from_secs(3600));
    let slack = expires
        .saturating_duration_since(in_an_hour)
        .max(in_an_hour.saturating_duration_since(expires));
    assert!(slack < Duration::from_secs(120), "Expires {expires:?}");

    let (first, bookmark) = pulled(&source.post(&pull_request(&context, 2, None)));
    assert_eq!(
        first,
        [(1, "billing".to_owned(), 2), (2, "billing".to_owned(), 4)]
    );
    assert_eq!(bookmark, Some(2));

    // The sshd entry (3) is in Security: not selected by an Application query.
    let (second, bookmark) = pulled(&source.post(&pull_request(&context, 1, None)));
    assert_eq!(second, [(4, "inventory".to_owned(), 3)]);
    assert_eq!(bookmark, Some(4));

    // Entry 5 does not fit an 8 KiB envelope: refused, and still there for a larger pull.
    let small = source.post(&pull_request(&context, 10, Some(8192)));
    expect_fault(&small, "EncodingLimit");
    let (third, _) = pulled(&source.post(&pull_request(&context, 10, None)));
    assert_eq!(third, [(5, "inventory".to_owned(), 4)]);

    // Nothing more within MaxTime: the enumeration's TimedOut.
    let empty = source.post(&pull_request(&context, 10, None));
    expect_fault(&empty, "TimedOut");

    // Renew is refused as Windows refuses it; Unsubscribe ends it.
    let renew = source.post(&manager_request(
        "http://schemas.xmlsoap.org/ws/2004/08/eventing/Renew",
        &identifier,
        "<e:Renew><e:Expires>PT1H</e:Expires></e:Renew>",
    ));
    expect_fault(&renew, "UnableToRenew");
    let ended = source.post(&unsubscribe_request(&identifier));
    assert_eq!(ended.status, 200, "{}", ended.describe());
    assert!(ended
        .text()
        .contains(wsman_proto::ns::action::UNSUBSCRIBE_RESPONSE));
    let gone = source.post(&pull_request(&context, 1, None));
    expect_fault(&gone, "InvalidEnumerationContext");
    source.expect_gone(&identifier);
}

/// Entries `from..to` of the read-ahead journal: Application events of about 1 KB, each
/// message naming its number.
fn numbered_entries(from: usize, to: usize) -> Vec<Vec<(&'static str, String)>> {
    (from..to)
        .map(|i| {
            vec![
                ("SYSLOG_IDENTIFIER", "ahead".to_owned()),
                ("PRIORITY", "6".to_owned()),
                ("MESSAGE", format!("event {i} {}", "x".repeat(1000))),
            ]
        })
        .collect()
}

fn as_entries<'a>(owned: &'a [Vec<(&'static str, String)>]) -> Vec<Vec<(&'a str, &'a str)>> {
    owned
        .iter()
        .map(|e| e.iter().map(|(n, v)| (*n, v.as_str())).collect())
        .collect()
}

/// The server reads a Pull subscription's next events ahead while the client reads the last
/// ones. Pulls of varying MaxElements, some in envelopes too small for what was read ahead,
/// while entries are added to the journal, get every event once, in order, each answer's
/// bookmark at its last event; a Release ends the subscription and what it read ahead.
#[test]
fn pulls_of_any_size_get_every_event_once_in_order_while_the_journal_grows() {
    let age = Duration::from_secs(60);
    let first = numbered_entries(0, 40);
    let Some(journal) = JournalDir::from_entries_before_now(age, &as_entries(&first)) else {
        return;
    };
    let source = source_over(journal, false, |_| {}, &[]);
    let (_, context) = subscribed(&source.post(&subscribe_request(APPLICATION, "")));
    // (MaxElements, MaxEnvelopeSize): an 8 KiB envelope carries two of these events, fewer
    // than the pull before read ahead.
    let plan = [
        (5, None),
        (1, None),
        (12, Some(8192)),
        (3, None),
        (20, None),
        (7, Some(8192)),
        (2, None),
        (30, None),
    ];
    let (mut got, mut added, mut pulls) = (Vec::new(), 40, 0);
    while got.len() < 100 {
        assert!(pulls < 300, "{} events after {pulls} pulls", got.len());
        let (max, envelope) = plan[pulls % plan.len()];
        pulls += 1;
        let response = source.post(&pull_request(&context, max, envelope));
        if response.status != 200 {
            // Nothing new within MaxTime: only once every entry written so far arrived.
            expect_fault(&response, "TimedOut");
            assert_eq!(got.len(), added, "a pull timed out with events left");
        } else {
            let (events, bookmark) = pulled(&response);
            assert!(!events.is_empty() && events.len() <= max as usize);
            got.extend(events.iter().map(|(record, _, _)| *record));
            assert_eq!(
                bookmark,
                got.last().copied(),
                "the bookmark is at the last event"
            );
        }
        // The journal grows between pulls, 20 entries at a time.
        if pulls % 4 == 0 && added < 100 {
            let more = numbered_entries(added, added + 20);
            source
                .journal
                .append_before_now(age, added, &as_entries(&more));
            added += 20;
        }
    }
    let expected: Vec<u64> = (1..=100).collect();
    assert_eq!(got, expected, "every event once, in journal order");

    let release = soap::request(
        action::RELEASE,
        EVENT_LOG_URI,
        &[],
        &format!("<n:Release><n:EnumerationContext>{context}</n:EnumerationContext></n:Release>"),
    );
    let released = source.post(&release);
    assert_eq!(released.status, 200, "{}", released.describe());
    expect_fault(
        &source.post(&pull_request(&context, 5, None)),
        "InvalidEnumerationContext",
    );
}

/// A Pull's events get what MaxEnvelopeSize leaves around the answer without them, its
/// bookmark at its longest (a few hundred bytes more than these): an envelope as long as another
/// subscription's answer of two events, and that slack, carries those two, never more than it
/// allows; when not even one event fits, `w:EncodingLimit` says the size of the envelope. Then
/// small events in envelopes of sizes over a range longer than one: each answer within its
/// MaxEnvelopeSize (a reserve too small would pass it when the last event nearly fits) and
/// short of it by less than one more event and the slack.
#[test]
fn a_pull_fills_its_envelope_to_max_envelope_size_and_never_beyond() {
    const SLACK: usize = 600;
    const SMALL: usize = 120;
    let small = (0..SMALL).map(|i| 400 + i * 37 % 300);
    let sizes: Vec<usize> = [3500, 3500, 3500, 3500, 7600]
        .into_iter()
        .chain(small)
        .collect();
    let owned: Vec<Vec<(&str, String)>> = (sizes.iter().enumerate())
        .map(|(i, size)| {
            let message = format!("event {i} {}", "x".repeat(*size));
            vec![
                ("SYSLOG_IDENTIFIER", "sized".to_owned()),
                ("MESSAGE", message),
            ]
        })
        .collect();
    let age = Duration::from_secs(60);
    let Some(journal) = JournalDir::from_entries_before_now(age, &as_entries(&owned)) else {
        return;
    };
    let source = source_over(journal, false, |_| {}, &[]);
    let records = |response: &Response, max: usize| {
        assert!(
            response.body.len() <= max,
            "{} > {max}",
            response.body.len()
        );
        let (events, _) = pulled(response);
        events
            .iter()
            .map(|(record, _, _)| *record)
            .collect::<Vec<_>>()
    };
    // Subscription A pulls without a limit: the lengths of answers of two events and of the
    // large one.
    let (_, a) = subscribed(&source.post(&subscribe_request(APPLICATION, "")));
    let two = source.post(&pull_request(&a, 2, None));
    assert_eq!(records(&two, usize::MAX), [1, 2]);
    assert_eq!(
        records(&source.post(&pull_request(&a, 2, None)), usize::MAX),
        [3, 4]
    );
    let large = source.post(&pull_request(&a, 1, None));
    assert_eq!(records(&large, usize::MAX), [5]);
    // Subscription B pulls as much as each envelope holds.
    let (_, b) = subscribed(&source.post(&subscribe_request(APPLICATION, "")));
    let max = two.body.len() + SLACK;
    for expected in [[1, 2], [3, 4]] {
        let response = source.post(&pull_request(&b, 10, Some(max as u64)));
        assert_eq!(records(&response, max), expected);
    }
    let refused = expect_fault(
        &source.post(&pull_request(&b, 10, Some(8192))),
        "EncodingLimit",
    );
    let computed: usize = (refused.reason.split("packet size (").nth(1))
        .and_then(|rest| rest.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no computed size in {:?}", refused.reason));
    assert!(
        computed > 8192 && computed.abs_diff(large.body.len()) < SLACK,
        "computed {computed}, the answer was {}",
        large.body.len()
    );
    let max = large.body.len() + SLACK;
    let response = source.post(&pull_request(&b, 10, Some(max as u64)));
    assert_eq!(records(&response, max), [5]);
    let mut got = Vec::new();
    for pull in 0.. {
        assert!(pull < 100, "{} events after {pull} pulls", got.len());
        let max = 8192 + pull * 97 % 1500;
        let response = source.post(&pull_request(&b, 1000, Some(max as u64)));
        got.extend(records(&response, max));
        if got.len() == SMALL {
            break;
        }
        let short = max - response.body.len();
        assert!(
            short < 400 + 300 + 1000 + SLACK,
            "{short} bytes left unused"
        );
    }
    assert_eq!(got, (6..6 + SMALL as u64).collect::<Vec<_>>());
}

#[test]
fn subscriptions_belong_to_their_user_and_security_needs_an_administrator() {
    let Some(source) = source(|_| {}) else {
        return;
    };
    // Administrators read Security.
    let security =
        r#"<QueryList><Query Id="0"><Select Path="Security">*</Select></Query></QueryList>"#;
    let (_, admin_context) = subscribed(&source.post(&subscribe_request(security, "")));
    let (events, _) = pulled(&source.post(&pull_request(&admin_context, 10, None)));
    assert_eq!(events, [(3, "sshd".to_owned(), 4)]);

    // A user does not.
    let refused = source.post_user(&subscribe_request(security, ""));
    expect_fault(&refused, "AccessDenied");

    // A user's own subscription: only that user pulls from it or ends it.
    let (identifier, context) = subscribed(&source.post_user(&subscribe_request(APPLICATION, "")));
    let stolen = source.post(&pull_request(&context, 1, None));
    expect_fault(&stolen, "AccessDenied");
    let ended = source.post(&unsubscribe_request(&identifier));
    expect_fault(&ended, "AccessDenied");
    let (mine, _) = pulled(&source.post_user(&pull_request(&context, 1, None)));
    assert_eq!(mine, [(1, "billing".to_owned(), 2)]);
}

#[test]
fn every_bad_subscribe_gets_its_fault() {
    let Some(source) = source(|config| {
        config.set("Config.Service", "MaxSubscriptionsPerUser", "2");
    }) else {
        return;
    };
    let post = |body: &str| source.post(body);

    let dialect = subscribe_request(APPLICATION, "").replace(
        "http://schemas.microsoft.com/win/2004/08/events/eventquery",
        "http://www.w3.org/TR/1999/REC-xpath-19991116",
    );
    let fault = expect_fault(&post(&dialect), "FilteringRequestedUnavailable");
    assert_eq!(fault.wsman_code.as_deref(), Some("2150858786"));

    let xpath = r#"<QueryList><Query Id="0"><Select Path="Application">*[System[Level=</Select></Query></QueryList>"#;
    expect_fault(&post(&subscribe_request(xpath, "")), "CannotProcessFilter");

    let channel = r#"<QueryList><Query Id="0"><Select Path="Microsoft-Windows-Nope/Operational">*</Select></Query></QueryList>"#;
    let fault = expect_fault(
        &post(&subscribe_request(channel, "")),
        "EventSourceUnableToProcess",
    );
    assert_eq!(fault.wsman_code.as_deref(), Some("15007"));

    let past = subscribe_request(
        APPLICATION,
        "<e:Expires>2001-01-01T00:00:00.000Z</e:Expires>",
    );
    expect_fault(&post(&past), "InvalidExpirationTime");
    let nonsense = subscribe_request(APPLICATION, "<e:Expires>soon</e:Expires>");
    expect_fault(&post(&nonsense), "InvalidExpirationTime");

    let mode = subscribe_request(APPLICATION, "").replace(PULL_MODE, "urn:carrier-pigeon");
    expect_fault(&post(&mode), "DeliveryModeRequestedUnavailable");

    let not_subscribe = soap::request(
        wsman_proto::ns::action::SUBSCRIBE,
        EVENT_LOG_URI,
        &[],
        "<e:Unsubscribe/>",
    );
    expect_fault(&post(&not_subscribe), "InvalidMessage");

    // Malformed XML: 400 before any engine; oversized: 413 before the body is read.
    let malformed = subscribe_request(APPLICATION, "").replace("</e:Subscribe>", "");
    assert_eq!(post(&malformed).status, 400);
    let oversized = subscribe_request(
        APPLICATION,
        &format!(
            "<w:Heartbeats>PT60S</w:Heartbeats><!-- {} -->",
            "x".repeat(600 * 1024)
        ),
    );
    let outcome = http::curl_post(
        &format!("http://127.0.0.1:{}/wsman", source.port),
        Some((SERVICE_ACCOUNT, SERVICE_PASSWORD)),
        "application/soap+xml;charset=UTF-8",
        oversized.as_bytes(),
        &[],
    );
    assert_eq!(outcome.response.status, 413, "{outcome:?}");

    // MaxSubscriptionsPerUser = 2.
    for _ in 0..2 {
        subscribed(&post(&subscribe_request(APPLICATION, "")));
    }
    let fault = expect_fault(&post(&subscribe_request(APPLICATION, "")), "QuotaLimit");
    assert!(fault.reason.contains("maximum"), "{}", fault.reason);
    // Another user still has their own.
    subscribed(&source.post_user(&subscribe_request(APPLICATION, "")));

    // A pull of a context that never existed.
    let unknown = post(&pull_request(
        "uuid:00000000-0000-4000-8000-000000000000",
        1,
        None,
    ));
    expect_fault(&unknown, "InvalidEnumerationContext");
    assert!(source.daemon.stderr().contains("Subscribe refused"));
}

#[test]
fn subscribe_and_pull_over_https() {
    let Some(source) = source_with(true, |_| {}) else {
        return;
    };
    let port = source.https_port.expect("an HTTPS listener");
    let url = format!("https://127.0.0.1:{port}/wsman");
    let post = |body: String| {
        let outcome = http::curl_post(
            &url,
            Some((SERVICE_ACCOUNT, SERVICE_PASSWORD)),
            "application/soap+xml;charset=UTF-8",
            body.as_bytes(),
            &["-k"],
        );
        assert_eq!(outcome.exit_code, 0, "curl: {}", outcome.stderr);
        outcome.response
    };
    let (identifier, context) = subscribed(&post(subscribe_request(APPLICATION, "")));
    let (events, bookmark) = pulled(&post(pull_request(&context, 3, None)));
    assert_eq!(
        events,
        [
            (1, "billing".to_owned(), 2),
            (2, "billing".to_owned(), 4),
            (4, "inventory".to_owned(), 3)
        ]
    );
    assert_eq!(bookmark, Some(4));
    let ended = post(unsubscribe_request(&identifier));
    assert_eq!(ended.status, 200, "{}", ended.describe());
}

#[test]
fn the_server_ends_expired_subscriptions_on_its_own() {
    let Some(mut source) = source(|_| {}) else {
        return;
    };
    let (_, context) = subscribed(&source.post(&subscribe_request(
        APPLICATION,
        "<e:Expires>PT1S</e:Expires>",
    )));
    // Nobody pulls: the server's timer ends it.
    let stderr = source.daemon.stderr_path();
    source.daemon.wait_until("the subscription to expire", || {
        std::fs::read_to_string(&stderr).is_ok_and(|log| log.contains("event subscription expired"))
    });
    let gone = source.post(&pull_request(&context, 1, None));
    expect_fault(&gone, "InvalidEnumerationContext");
}

#[test]
fn winrm_events_over_sealed_ntlm() {
    const NTLM_USER: &str = "events-ntlm";
    const NTLM_PASSWORD: &str = "Events-Ntlm-Pass-4!";
    // AllowUnencrypted=false on the service: over HTTP only sealed NTLM gets through.
    let Some(source) = source(|config| {
        config.set("Config.Service", "AllowUnencrypted", "false");
    }) else {
        return;
    };
    source
        .config
        .add_ntlm_account(NTLM_USER, NTLM_PASSWORD, "root");
    let winrm = |args: &[&str]| {
        let mut command = std::process::Command::new(binaries::winrm());
        command
            .args(args)
            .arg(format!("-r:http://127.0.0.1:{}", source.port))
            .arg(format!("-u:{NTLM_USER}"))
            .arg(format!("-p:{NTLM_PASSWORD}"))
            .arg("-a:Negotiate")
            .env("WSMAND_CONFIG_DIR", source.config.path());
        process::run(&mut command, None, Duration::from_secs(90))
    };
    let listed = winrm(&[
        "events",
        "Application",
        "-filter:*[System[Level<=3]]",
        "-existing",
        "-batches:5",
        "-maxElements:1",
    ]);
    assert!(listed.status.success(), "{}", listed.describe());
    let lines: Vec<&str> = listed.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", listed.stdout);
    assert!(lines[0].starts_with("1 ") && lines[0].contains("Level=2 billing: payment failed"));
    assert!(lines[1].starts_with("4 ") && lines[1].contains("Level=3 inventory: stock low"));
    assert!(
        lines[2].starts_with("Bookmark: <BookmarkList>") && lines[2].contains("RecordId=\"4\""),
        "{}",
        lines[2]
    );
    // It unsubscribed: a second run may subscribe again at once, and the daemon logged the end.
    assert!(source.daemon.stderr().contains("event subscription ended"));
    let xml = winrm(&["events", "Application", "-existing", "-format:xml"]);
    assert!(xml.status.success(), "{}", xml.describe());
    assert!(xml.stdout.contains("EventRecordID>1</"), "{}", xml.stdout);

    // A bad query comes back as the server's fault, exit status 1.
    let refused = winrm(&[
        "events",
        "Application",
        "-filter:*[System[Level=",
        "-existing",
    ]);
    assert_eq!(refused.status.code(), Some(1), "{}", refused.describe());
}

mod ntlogevent;
