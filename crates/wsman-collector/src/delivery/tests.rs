//! [`deliver`] without a socket or a runtime: a real file output in a temporary directory and a
//! real SQLite bookmark store, deliveries written by the push side's message builder.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use wsman_events::delivery::{self, DeliveryHeaders, Embedding};
use wsman_events::{BookmarkList, Timestamp};
use wsman_proto::{parse_request, xml, Request};

use super::*;
use crate::manager::version_identifier;
use crate::store::SqliteStore;
use crate::subscriptions::{self, Subscription};

const QUERY: &str =
    r#"<QueryList><Query Id="0"><Select Path="Security">*</Select></Query></QueryList>"#;
const EVENT: &str = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='sshd'/><EventID>4624</EventID><EventRecordID>RECORD</EventRecordID><Channel>Security</Channel><Computer>COMPUTER</Computer></System></Event>";
const CLIENT: &str = "WEB01$@EXAMPLE.COM";
/// The MessageID of every delivery [`request`] writes.
const MESSAGE_ID: &str = "uuid:6C1E1F3A-0000-0000-0000-000000000001";

/// A collector over one subscription whose one output is a file under a temporary directory.
struct Fixture {
    dir: tempfile::TempDir,
    set: SubscriptionSet,
    store: SqliteStore,
    outputs: Outputs,
    pairs: PairLocks,
}

impl Fixture {
    /// `output_path`: the file output's path template (default: `DIR/{client}.xml`).
    fn new(output_path: Option<&str>) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = output_path.map_or_else(
            || dir.path().join("{client}.xml").display().to_string(),
            str::to_owned,
        );
        let text = format!(
            "query = '{QUERY}'\nallowed_principals = [\"{CLIENT}\"]\nallowed_addresses = [\"192.0.2.0/24\"]\n[[outputs]]\ntype = \"file\"\npath = \"{path}\"\nformat = \"raw\"\n"
        );
        let subscription = subscriptions::parse(Path::new("/etc/wec/security.toml"), &text)
            .expect("the subscription parses");
        let set = SubscriptionSet {
            subscriptions: vec![subscription],
            errors: Vec::new(),
        };
        let outputs = Outputs::new();
        assert!(outputs.configure(&set).is_empty());
        let store = SqliteStore::open(&dir.path().join("bookmarks.sqlite")).unwrap();
        Fixture {
            dir,
            set,
            store,
            outputs,
            pairs: PairLocks::default(),
        }
    }

    fn subscription(&self) -> &Subscription {
        &self.set.subscriptions[0]
    }

    fn collector(&self) -> Collector<'_> {
        Collector {
            subscriptions: &self.set,
            store: &self.store,
            outputs: &self.outputs,
            pairs: &self.pairs,
        }
    }

    /// Deliver `request` from `sender` at `remote`, its groups none.
    fn deliver_from(&self, request: &Request, sender: &Sender, remote: &str) -> Decision {
        let forwarder = Forwarder {
            sender,
            remote: Some(remote.parse::<IpAddr>().unwrap()),
            in_group: &|_| false,
        };
        let identifier = &self.subscription().identifier;
        deliver(&self.collector(), identifier, request, &forwarder, now())
    }

    fn deliver(&self, request: &Request) -> Decision {
        self.deliver_from(request, &web01(), "192.0.2.7")
    }

    /// The lines the file output wrote for [`CLIENT`].
    fn written(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("WEB01__EXAMPLE.COM.xml"))
            .map(|text| text.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    fn bookmark(&self) -> Option<BookmarkList> {
        self.store.load(CLIENT, "security").unwrap()
    }
}

fn web01() -> Sender {
    Sender::Kerberos(CLIENT.to_owned())
}

fn now() -> Timestamp {
    Timestamp::from_system_time(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1 << 30))
}

fn event(record: u64, computer: &str) -> String {
    EVENT
        .replace("RECORD", &record.to_string())
        .replace("COMPUTER", computer)
}

/// A delivery naming subscription version `version`: events (with the forwarder's bookmark at
/// the last one), or a heartbeat when `events` is `None`.
fn request(version: &str, events: Option<&[String]>) -> Request {
    let to = delivery::endpoint(
        "http://collector/wsman/subscriptions/X/1",
        vec![version_identifier(version)],
    );
    let mut bookmark = BookmarkList::new();
    bookmark.advance("Security", events.map_or(0, |e| e.len() as u64));
    let headers = DeliveryHeaders {
        bookmark: Some(&bookmark),
        ..DeliveryHeaders::new(
            &to,
            MESSAGE_ID,
            "uuid:6C1E1F3A-0000-0000-0000-000000000002",
            "web01.example.com",
        )
    };
    let text = match events {
        Some(events) => delivery::events_envelope(&headers, events, Embedding::Cdata),
        None => delivery::heartbeat_envelope(&headers),
    };
    parse_request(&text, &xml::Limits::default()).expect("a SOAP request")
}

/// The acknowledgement of a [`request`], what it stored being `stored`.
fn acknowledged(stored: Stored) -> Outcome {
    Outcome::Acknowledged {
        message_id: MESSAGE_ID.to_owned(),
        stored,
    }
}

fn events(records: std::ops::RangeInclusive<u64>) -> Vec<String> {
    records.map(|r| event(r, "web01.example.com")).collect()
}

#[test]
fn a_batch_is_written_once_and_its_resend_acknowledged_without_writing_again() {
    let fixture = Fixture::new(None);
    let version = fixture.subscription().version.clone();
    let first = fixture.deliver(&request(&version, Some(&events(1..=2))));
    assert_eq!(
        first.outcome,
        acknowledged(Stored::Events {
            new: 2,
            already_stored: 0
        })
    );
    assert_eq!(first.subscription.as_deref(), Some("security"));
    assert_eq!(first.received, Some(2));
    assert_eq!(first.writes.len(), 1);
    assert_eq!(
        (first.writes[0].0.as_str(), first.writes[0].2),
        ("file", true)
    );
    assert_eq!(fixture.written(), events(1..=2));
    assert_eq!(
        fixture.bookmark().and_then(|b| b.position("Security")),
        Some(2)
    );

    // The same batch again (a lost acknowledgement), then one overlapping it.
    let again = fixture.deliver(&request(&version, Some(&events(1..=2))));
    assert_eq!(
        again.outcome,
        acknowledged(Stored::Events {
            new: 0,
            already_stored: 2
        })
    );
    let overlapping = fixture.deliver(&request(&version, Some(&events(2..=3))));
    assert_eq!(
        overlapping.outcome,
        acknowledged(Stored::Events {
            new: 1,
            already_stored: 1
        })
    );
    assert_eq!(fixture.written(), events(1..=3));
}

#[test]
fn every_check_refuses_before_anything_is_claimed_or_written() {
    let fixture = Fixture::new(None);
    let version = fixture.subscription().version.clone();
    let batch = events(1..=2);
    let stale = fixture.deliver(&request("STALE-VERSION", Some(&batch)));
    let forged = fixture.deliver(&request(
        &version,
        Some(&[event(1, "web01.example.com"), event(2, "dc01.example.com")]),
    ));
    let stranger = fixture.deliver_from(
        &request(&version, Some(&batch)),
        &Sender::Kerberos("WEB02$@EXAMPLE.COM".to_owned()),
        "192.0.2.7",
    );
    let elsewhere =
        fixture.deliver_from(&request(&version, Some(&batch)), &web01(), "198.51.100.7");
    let mut not_a_delivery = request(&version, Some(&batch));
    not_a_delivery.action = Some("http://example.com/NotADelivery".to_owned());
    let malformed = fixture.deliver(&not_a_delivery);
    let why = |decision: &Decision| match &decision.outcome {
        Outcome::Refused { why, .. } => ("refused", *why),
        Outcome::Denied { why, .. } => ("denied", *why),
        other => panic!("not refused: {other:?}"),
    };
    assert_eq!(why(&stale), ("refused", Refusal::StaleVersion));
    assert_eq!(why(&forged), ("refused", Refusal::ForgedComputer));
    assert_eq!(why(&stranger), ("denied", Refusal::NotAllowed));
    assert_eq!(why(&elsewhere), ("denied", Refusal::AddressNotAllowed));
    assert_eq!(why(&malformed), ("refused", Refusal::Malformed));
    for decision in [&stale, &forged, &stranger, &elsewhere, &malformed] {
        assert_eq!(decision.subscription.as_deref(), Some("security"));
        assert!(decision.writes.is_empty());
    }
    assert!(fixture.written().is_empty());
    assert_eq!(fixture.bookmark(), None);

    // An identifier no subscription has.
    let forwarder = Forwarder {
        sender: &web01(),
        remote: None,
        in_group: &|_| true,
    };
    let unknown = deliver(
        &fixture.collector(),
        "00000000-0000-0000-0000-000000000000",
        &request(&version, Some(&batch)),
        &forwarder,
        now(),
    );
    assert_eq!(unknown.subscription, None);
    assert!(matches!(
        unknown.outcome,
        Outcome::Refused {
            why: Refusal::UnknownSubscription,
            ..
        }
    ));
}

#[test]
fn a_batch_an_output_refuses_is_unavailable_and_moves_no_bookmark() {
    // A file output under a regular file: its directory cannot be made.
    let blocker = tempfile::NamedTempFile::new().unwrap();
    let path: PathBuf = blocker.path().join("{client}.xml");
    let fixture = Fixture::new(Some(path.to_str().unwrap()));
    let version = fixture.subscription().version.clone();
    let decision = fixture.deliver(&request(&version, Some(&events(1..=2))));
    assert!(
        matches!(
            decision.outcome,
            Outcome::Unavailable {
                why: Refusal::OutputError,
                ..
            }
        ),
        "{:?}",
        decision.outcome
    );
    assert_eq!(decision.writes.len(), 1);
    assert!(!decision.writes[0].2);
    assert_eq!(fixture.bookmark(), None);
}

#[test]
fn a_heartbeat_is_stored_and_acknowledged_and_writes_no_event() {
    let fixture = Fixture::new(None);
    let version = fixture.subscription().version.clone();
    let decision = fixture.deliver(&request(&version, None));
    assert_eq!(decision.outcome, acknowledged(Stored::Heartbeat));
    let clients = fixture.store.clients("security").unwrap();
    assert_eq!(clients.len(), 1);
    assert_eq!(clients[0].last_heartbeat, Some(now()));
    assert!(fixture.written().is_empty());
}
