//! What one caller may hold and spend, against the real daemon: enumeration contexts belong to
//! the user who opened them (PAM accounts), a user's open contexts end at Windows' quota fault
//! with the daemon's memory bounded (a journal of large records read as Win32_NTLogEvent), and
//! costly filters (a LIKE, an event query) stop at the request's OperationTimeout.

use std::time::Duration;

use wsman_proto::ns::action;
use wsman_test::http::{self, Response};
use wsman_test::journal::JournalDir;
use wsman_test::{free_port, soap, ConfigDir, Daemon, Fixture, ListenerSpec};

use crate::expect_fault;

const CIMV2: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/*";
const PROCESSES: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Process";
/// Every user passes RootSDDL: what is checked is the context's owner, not the descriptor.
const ROOT_SDDL_USERS_TOO: &str = "\"O:NSG:BAD:P(A;;GA;;;BA)(A;;GA;;;BU)\"";
const READER: &str = "log-reader";
const READER_PASSWORD: &str = "Log-Reader-Pass-7!";

fn enumerate(resource_uri: &str, filter: Option<&str>) -> String {
    let filter = filter.map_or(String::new(), |query| {
        format!(
            "<w:Filter Dialect=\"http://schemas.microsoft.com/wbem/wsman/1/WQL\">{}</w:Filter>",
            wsman_proto::xml::escape_text(query)
        )
    });
    soap::enumerate(
        resource_uri,
        &format!("<n:Enumerate>{filter}</n:Enumerate>"),
    )
}

fn pull(resource_uri: &str, context: &str) -> String {
    soap::request(
        action::PULL,
        resource_uri,
        &[],
        &format!("<n:Pull><n:EnumerationContext>{context}</n:EnumerationContext><n:MaxElements>5</n:MaxElements></n:Pull>"),
    )
}

fn release(resource_uri: &str, context: &str) -> String {
    soap::request(
        action::RELEASE,
        resource_uri,
        &[],
        &format!("<n:Release><n:EnumerationContext>{context}</n:EnumerationContext></n:Release>"),
    )
}

fn context_of(response: &Response) -> String {
    assert_eq!(response.status, 200, "{}", response.describe());
    soap::find_text(&response.text(), "EnumerationContext")
        .unwrap_or_else(|| panic!("no context in {}", response.describe()))
}

fn post_as(port: u16, (user, password): (&str, &str), body: &str) -> Response {
    http::post_as(port, user, password, body)
}

/// The two PAM test accounts, when the environment names them.
fn pam_accounts() -> Option<((String, String), (String, String))> {
    let administrator = wsman_test::pam_credentials()?;
    match (
        std::env::var("WSMAN_TEST_PAM_PLAIN_USER"),
        std::env::var("WSMAN_TEST_PAM_PLAIN_PASSWORD"),
    ) {
        (Ok(user), Ok(password)) if !user.is_empty() => Some((administrator, (user, password))),
        _ => {
            eprintln!("skipped: WSMAN_TEST_PAM_PLAIN_USER not set");
            None
        }
    }
}

/// Another identity's Pull or Release of a context is answered exactly as for a context that
/// does not exist, whichever of the two opened it, and the owner still pulls it whole.
#[test]
fn another_users_pull_or_release_is_an_invalid_enumeration_context() {
    let Some((administrator, user)) = pam_accounts() else {
        return;
    };
    let fixture = Fixture::http_setting("Config.Service", "RootSDDL", ROOT_SDDL_USERS_TOO);
    let port = fixture.port;
    let administrator = (administrator.0.as_str(), administrator.1.as_str());
    let user = (user.0.as_str(), user.1.as_str());
    let unknown = expect_fault(
        &post_as(
            port,
            user,
            &pull(PROCESSES, "uuid:00000000-0000-0000-0000-000000000000"),
        ),
        "InvalidEnumerationContext",
    );
    for (owner, other) in [(user, administrator), (administrator, user)] {
        let context = context_of(&post_as(port, owner, &enumerate(PROCESSES, None)));
        let pulled = expect_fault(
            &post_as(port, other, &pull(PROCESSES, &context)),
            "InvalidEnumerationContext",
        );
        assert_eq!(pulled, unknown);
        let released = expect_fault(
            &post_as(port, other, &release(PROCESSES, &context)),
            "InvalidEnumerationContext",
        );
        assert_eq!(released, unknown);
        // Still the owner's: its Pull answers items, its Release ends it.
        let response = post_as(port, owner, &pull(PROCESSES, &context));
        assert_eq!(response.status, 200, "{}", response.describe());
        assert!(response.text().contains("Win32_Process"));
        let response = post_as(port, owner, &release(PROCESSES, &context));
        if response.status != 200 {
            // The last batch may have ended the context already.
            expect_fault(&response, "InvalidEnumerationContext");
        }
    }
}

/// A journal of `count` records of about `size` bytes each, in the Application log.
fn large_journal(count: usize, size: usize) -> Option<JournalDir> {
    let messages: Vec<String> = (0..count)
        .map(|i| format!("record {i} {}", "m".repeat(size)))
        .collect();
    let entries: Vec<Vec<(&str, &str)>> = messages
        .iter()
        .map(|message| {
            vec![
                ("SYSLOG_IDENTIFIER", "billing"),
                ("PRIORITY", "6"),
                ("MESSAGE", message.as_str()),
                ("_PID", "4242"),
                ("_UID", "1000"),
            ]
        })
        .collect();
    JournalDir::from_entries_before_now(Duration::from_secs(600), &entries)
}

/// The daemon over `journal` with RootSDDL open to users and the [`READER`] account.
/// Field order: the daemon is killed before its config dir and journal are deleted.
pub(crate) struct LogSource {
    pub(crate) daemon: Daemon,
    _config: ConfigDir,
    pub(crate) port: u16,
    _journal: JournalDir,
}

impl LogSource {
    pub(crate) fn start(journal: JournalDir) -> Self {
        let port = free_port();
        let mut config = ConfigDir::new();
        config.listener(ListenerSpec::http(port));
        config.set("Config.Service", "RootSDDL", ROOT_SDDL_USERS_TOO);
        config.write();
        config.add_service_account();
        config.add_account(READER, READER_PASSWORD, Some("nobody"));
        let directory = journal.path();
        let daemon = Daemon::start_with_env(
            &config,
            &[port],
            &[(
                "WSMAND_JOURNAL_DIRECTORY",
                directory.to_str().expect("a UTF-8 path"),
            )],
        );
        Self {
            daemon,
            _config: config,
            port,
            _journal: journal,
        }
    }

    pub(crate) fn post_reader(&self, body: &str) -> Response {
        post_as(self.port, (READER, READER_PASSWORD), body)
    }

    /// The daemon's resident set, from /proc.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.daemon.pid()))
            .expect("the daemon's /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc status")
    }
}

/// The most the daemon may grow while one user holds every context it is allowed: twice the
/// per-user budget of 64 MiB (what is counted is the items' text; allocation adds to it).
const RSS_GROWTH_BOUND_KIB: u64 = 128 * 1024;

/// 1,000 Enumerates of Win32_NTLogEvent (about 8 MB of records each) by one user, never
/// pulled: the contexts stop at Windows' quota fault, every later Enumerate gets it too, the
/// daemon's RSS grows by less than [`RSS_GROWTH_BOUND_KIB`], and releasing the contexts
/// gives most of it back.
#[test]
fn one_users_open_ntlogevent_enumerations_end_at_the_quota_with_memory_bounded() {
    let Some(journal) = large_journal(2_000, 4_000) else {
        return;
    };
    let source = LogSource::start(journal);
    let query = enumerate(CIMV2, Some("SELECT * FROM Win32_NTLogEvent"));
    let before = source.rss_kib();
    let mut contexts = Vec::new();
    let mut refused = 0;
    for attempt in 0..1_000 {
        let response = source.post_reader(&query);
        if response.status == 200 {
            assert_eq!(refused, 0, "a context opened after a refusal, at {attempt}");
            contexts.push(context_of(&response));
        } else {
            let fault = expect_fault(&response, "QuotaLimit");
            assert!(
                ["2150859174", "2150858815"].contains(&fault.wsman_code.as_deref().unwrap_or("")),
                "{fault:?}"
            );
            refused += 1;
        }
        let grown = source.rss_kib().saturating_sub(before);
        assert!(
            grown < RSS_GROWTH_BOUND_KIB,
            "RSS grew by {grown} KiB with {} contexts open",
            contexts.len()
        );
    }
    assert!(
        !contexts.is_empty() && refused > 0,
        "{} open",
        contexts.len()
    );
    let peak = source.rss_kib();
    for context in &contexts {
        let response = source.post_reader(&release(CIMV2, context));
        assert_eq!(response.status, 200, "{}", response.describe());
    }
    // A new Enumerate is admitted again once the user's contexts are released.
    let response = source.post_reader(&query);
    context_of(&response);
    // Freed memory goes back to the system (on the blocking pool, right after each release).
    let mut after = source.rss_kib();
    for _ in 0..50 {
        if after < peak.saturating_sub((peak - before) / 2) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        after = source.rss_kib();
    }
    eprintln!(
        "RSS before {before} KiB, with {} contexts {peak} KiB, after release {after} KiB",
        contexts.len()
    );
    assert!(
        after < peak.saturating_sub((peak - before) / 2),
        "released contexts kept: before {before} KiB, peak {peak} KiB, after {after} KiB"
    );
}

/// `body` as an Enumerate-family request with `OperationTimeout` set to `timeout`.
fn with_timeout(action: &str, resource_uri: &str, body: &str, timeout: Duration) -> String {
    let mut header = wsman_proto::request::RequestHeader::new(
        "http://127.0.0.1:5985/wsman",
        action,
        resource_uri,
        soap::MESSAGE_ID,
    );
    header.operation_timeout = Some(timeout);
    wsman_proto::request::envelope(&header, body)
}

/// A LIKE under the 8 KiB query limit that no machine finishes over these records: a 6,000
/// character segment that fails at its last character at every place of every message.
fn hostile_like() -> String {
    format!(
        "SELECT * FROM Win32_NTLogEvent WHERE Message LIKE '%{}X%'",
        "m".repeat(6_000)
    )
}

fn filter_body(query: &str, optimize: bool) -> String {
    format!(
        "<n:Enumerate>{}<w:MaxElements>100</w:MaxElements><w:Filter Dialect=\"http://schemas.microsoft.com/wbem/wsman/1/WQL\">{}</w:Filter></n:Enumerate>",
        if optimize { "<w:OptimizeEnumeration/>" } else { "" },
        wsman_proto::xml::escape_text(query)
    )
}

/// The 8 KiB LIKE over Win32_NTLogEvent ends with `w:TimedOut` at its OperationTimeout, in
/// the Enumerate (OptimizeEnumeration) and in a Pull, whose context stays usable; and while a
/// read-only user's hostile query runs, an administrator's request on another connection is
/// answered before it ends.
#[test]
fn a_hostile_like_times_out_and_an_administrator_is_answered_meanwhile() {
    let Some(journal) = large_journal(300, 12_000) else {
        return;
    };
    let source = LogSource::start(journal);
    let short = Duration::from_secs(2);
    let optimized = with_timeout(
        action::ENUMERATE,
        CIMV2,
        &filter_body(&hostile_like(), true),
        short,
    );
    let fault = expect_fault(&source.post_reader(&optimized), "TimedOut");
    assert_eq!(fault.wsman_code.as_deref(), Some("2150858793"));

    let plain = with_timeout(
        action::ENUMERATE,
        CIMV2,
        &filter_body(&hostile_like(), false),
        short,
    );
    let context = context_of(&source.post_reader(&plain));
    let pull_body = format!(
        "<n:Pull><n:EnumerationContext>{context}</n:EnumerationContext><n:MaxElements>5</n:MaxElements></n:Pull>"
    );
    let pull = with_timeout(action::PULL, CIMV2, &pull_body, short);
    expect_fault(&source.post_reader(&pull), "TimedOut");
    // The context is still there: a second Pull times out the same way, not as unknown.
    expect_fault(&source.post_reader(&pull), "TimedOut");
    let response = source.post_reader(&release(CIMV2, &context));
    assert_eq!(response.status, 200, "{}", response.describe());

    // The hostile query with a longer timeout, and an administrator meanwhile.
    let long = with_timeout(
        action::ENUMERATE,
        CIMV2,
        &filter_body(&hostile_like(), true),
        Duration::from_secs(20),
    );
    let port = source.port;
    let hostile = std::thread::spawn(move || post_as(port, (READER, READER_PASSWORD), &long));
    std::thread::sleep(Duration::from_millis(300));
    let administrator = (wsman_test::SERVICE_ACCOUNT, wsman_test::SERVICE_PASSWORD);
    let os = post_as(
        port,
        administrator,
        &soap::enumerate(
            "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_OperatingSystem",
            "<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>10</w:MaxElements></n:Enumerate>",
        ),
    );
    assert_eq!(os.status, 200, "{}", os.describe());
    assert!(os.text().contains("Win32_OperatingSystem"));
    assert!(
        !hostile.is_finished(),
        "the hostile query ended before the administrator was answered"
    );
    let hostile = hostile.join().expect("the hostile request's thread");
    expect_fault(&hostile, "TimedOut");
}

/// A journal of `fillers` Application records of about 8 KB each with a record of the
/// provider `marker` after every 25th: the markers are the events the hostile query selects.
fn marked_journal(fillers: usize) -> Option<JournalDir> {
    let message = "m".repeat(8_000);
    let mut entries: Vec<Vec<(&str, &str)>> = Vec::new();
    for i in 1..=fillers {
        entries.push(vec![
            ("SYSLOG_IDENTIFIER", "billing"),
            ("PRIORITY", "6"),
            ("MESSAGE", message.as_str()),
        ]);
        if i % 25 == 0 {
            entries.push(vec![
                ("SYSLOG_IDENTIFIER", "marker"),
                ("PRIORITY", "2"),
                ("MESSAGE", "marked"),
            ]);
        }
    }
    JournalDir::from_entries_before_now(Duration::from_secs(600), &entries)
}

/// A large but legal event query: 6 Select clauses of about 1,900 terms, each term reading
/// every value of the event, that select only the `marker` provider's events (its test last,
/// so every other event costs every term).
fn hostile_query_list() -> String {
    let terms: Vec<String> = (0..1_900).map(|i| format!("*/*='n{i}'")).collect();
    let xpath = format!(
        "*[{} or System/Provider/@Name='marker']",
        terms.join(" or ")
    );
    let select = format!("<Select Path=\"Application\">{xpath}</Select>");
    format!(
        "<QueryList><Query Id=\"0\">{}</Query></QueryList>",
        select.repeat(6)
    )
}

/// The record ids of a PullResponse's events.
fn pulled_record_ids(response: &Response) -> Vec<u64> {
    crate::eventing::pulled(response)
        .0
        .into_iter()
        .map(|(record, _, _)| record)
        .collect()
}

/// The large XPath Pull ends with `w:TimedOut` at its OperationTimeout (its query runs off the
/// async workers and stops there), and nothing is skipped or lost: later Pulls of the same
/// subscription resume where it stopped and deliver every selected event exactly once.
#[test]
fn a_large_xpath_pull_times_out_and_later_pulls_deliver_every_event_once() {
    let fillers = 100;
    let Some(journal) = marked_journal(fillers) else {
        return;
    };
    let source = LogSource::start(journal);
    let administrator = (wsman_test::SERVICE_ACCOUNT, wsman_test::SERVICE_PASSWORD);
    let subscribe = with_timeout(
        action::SUBSCRIBE,
        wsman_proto::eventing::EVENT_LOG_URI,
        &format!(
            "<e:Subscribe><e:Delivery Mode=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/Pull\"/><w:Filter Dialect=\"http://schemas.microsoft.com/win/2004/08/events/eventquery\">{}</w:Filter><w:Bookmark>{}</w:Bookmark></e:Subscribe>",
            hostile_query_list(),
            crate::eventing::EARLIEST
        ),
        Duration::from_secs(60),
    );
    let context = context_of(&post_as(source.port, administrator, &subscribe));
    let pull = |timeout: Duration| {
        let body = format!(
            "<n:Pull><n:EnumerationContext>{context}</n:EnumerationContext><n:MaxTime>PT0.5S</n:MaxTime><n:MaxElements>2</n:MaxElements></n:Pull>"
        );
        post_as(
            source.port,
            administrator,
            &with_timeout(
                action::PULL,
                wsman_proto::eventing::EVENT_LOG_URI,
                &body,
                timeout,
            ),
        )
    };

    let fault = expect_fault(&pull(Duration::from_millis(200)), "TimedOut");
    assert_eq!(fault.wsman_code.as_deref(), Some("2150858793"));

    // Record ids count from 1: every 26th record is a marker. Each Pull's OperationTimeout is
    // below the client's own deadline ([`http::RESPONSE_DEADLINE`]): on a loaded machine a
    // scan may run out of it, and the next Pull must go on from where that one stopped.
    let expected: Vec<u64> = (1..=(fillers / 25) as u64).map(|n| n * 26).collect();
    let operation_timeout = http::RESPONSE_DEADLINE / 2;
    let mut delivered = Vec::new();
    let mut pulls = 0;
    while delivered.len() < expected.len() {
        pulls += 1;
        assert!(pulls <= 40, "40 Pulls delivered only {delivered:?}");
        let response = pull(operation_timeout);
        if response.status != 200 {
            expect_fault(&response, "TimedOut");
            continue;
        }
        delivered.extend(pulled_record_ids(&response));
    }
    assert_eq!(delivered, expected);
    // Nothing more: the Pull's wait (MaxTime) ends without an event.
    expect_fault(&pull(operation_timeout), "TimedOut");
}
