//! Push delivery of event subscriptions (`Events`, `PushWithAck`): the real daemon over a test
//! journal delivers to a subscriber run by the test on a loopback port, which acknowledges
//! what it takes and refuses what the test tells it to. Checked: every selected event arrives
//! acknowledged exactly once, in order, in batches within MaxElements, with the bookmark and
//! the NotifyTo reference parameters; a refused delivery is sent again; heartbeats come when
//! nothing else does and stop with Unsubscribe; deliveries failing past ConnectionRetry end
//! the subscription with SubscriptionEnd to EndTo.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wsman_proto::eventing::EVENT_LOG_URI;
use wsman_proto::xml::{self, Element, Limits};
use wsman_proto::{ns, ns::action};
use wsman_test::soap;

use crate::eventing::{parsed, source, unsubscribe_request, APPLICATION, EARLIEST, EVENT_NS};
use crate::expect_fault;

pub(crate) const EVENTS_MODE: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Events";
const PUSH_WITH_ACK_MODE: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/PushWithAck";
pub(crate) const EVENTS_ACTION: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Events";
const HEARTBEAT_ACTION: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Heartbeat";
pub(crate) const SUBSCRIPTION_END_ACTION: &str =
    "http://schemas.xmlsoap.org/ws/2004/08/eventing/SubscriptionEnd";
const TOKEN_NS: &str = "urn:wsmand-test:subscriber";
/// Application events of the test journal (entry 3 is sshd: Security).
pub(crate) const APPLICATION_RECORDS: [u64; 4] = [1, 2, 4, 5];

/// One message the subscriber received.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub(crate) action: String,
    pub(crate) message_id: String,
    /// EventRecordID of each event, in order.
    pub(crate) records: Vec<u64>,
    /// The Application record id of the `w:Bookmark` header.
    bookmark: Option<u64>,
    /// The `Token` reference parameter echoed as a header.
    token: Option<String>,
    ack_requested: bool,
    utf16: bool,
    /// Whether the subscriber acknowledged it (or refused it with 500).
    pub(crate) acknowledged: bool,
    pub(crate) status: Option<String>,
}

/// A push subscriber on a loopback port: answers each POST with an `Ack`, or with 500 while
/// `refuse_next` is above zero or `refuse_all` is set.
struct Subscriber {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    refuse_next: Arc<AtomicUsize>,
    refuse_all: Arc<AtomicBool>,
}

impl Subscriber {
    fn start() -> Subscriber {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        let subscriber = Subscriber {
            port,
            received: Arc::default(),
            refuse_next: Arc::default(),
            refuse_all: Arc::default(),
        };
        let (received, refuse_next, refuse_all) = (
            subscriber.received.clone(),
            subscriber.refuse_next.clone(),
            subscriber.refuse_all.clone(),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (received, refuse_next, refuse_all) =
                    (received.clone(), refuse_next.clone(), refuse_all.clone());
                std::thread::spawn(move || serve(stream, &received, &refuse_next, &refuse_all));
            }
        });
        subscriber
    }

    fn address(&self) -> String {
        format!("http://127.0.0.1:{}/subscriber", self.port)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    /// Waits (up to 20 s) until `done` holds for what was received.
    fn wait_until(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        wsman_test::poll(
            Duration::from_secs(20),
            || Some(self.received()).filter(|received| done(received)),
            || {
                format!(
                    "timed out waiting for {what}; received: {:#?}",
                    self.received()
                )
            },
        )
    }
}

/// One keep-alive connection: request after request until the client closes it.
fn serve(
    stream: TcpStream,
    received: &Mutex<Vec<Received>>,
    refuse_next: &AtomicUsize,
    refuse_all: &AtomicBool,
) {
    let mut writer = stream.try_clone().expect("clone the stream");
    let mut reader = BufReader::new(stream);
    loop {
        let mut content_length = 0usize;
        let mut content_type = String::new();
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        assert!(
            line.starts_with("POST /subscriber "),
            "request line {line:?}"
        );
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => content_length = value.trim().parse().expect("a length"),
                    "content-type" => content_type = value.trim().to_owned(),
                    _ => {}
                }
            }
        }
        assert!(
            content_length <= 1 << 20,
            "a delivery of {content_length} bytes"
        );
        let mut body = vec![0; content_length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let mut message = read_delivery(&body, &content_type);
        let refuse = refuse_all.load(Ordering::SeqCst)
            || refuse_next
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        message.acknowledged = !refuse;
        let answer = if refuse {
            "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n".to_owned()
        } else {
            // The Ack as a subscriber writes it (WS-Management's wsman:Ack), made here rather
            // than with the source's own codec.
            let ack = format!(
                "<s:Envelope xmlns:s=\"{}\" xmlns:a=\"{}\"><s:Header><a:To>{}</a:To><a:Action s:mustUnderstand=\"true\">http://schemas.dmtf.org/wbem/wsman/1/wsman/Ack</a:Action><a:MessageID>uuid:00000000-0000-4000-8000-00000000A0C0</a:MessageID><a:RelatesTo>{}</a:RelatesTo></s:Header><s:Body/></s:Envelope>",
                ns::SOAP,
                ns::ADDRESSING,
                ns::ANONYMOUS,
                message.message_id
            );
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: {}\r\n\r\n{ack}",
                ack.len()
            )
        };
        received.lock().expect("lock").push(message);
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

pub(crate) fn read_delivery(body: &[u8], content_type: &str) -> Received {
    let charset = wsman_proto::charset::charset_param(content_type);
    let (text, encoding) =
        wsman_proto::charset::decode(body, charset).expect("a decodable delivery");
    let root = xml::parse(&text, &Limits::default()).expect("a well-formed delivery");
    let header = root.child(ns::SOAP, "Header").expect("s:Header");
    let text_of = |e: Option<&Element>| e.map(Element::trimmed_text);
    let records = root
        .child(ns::SOAP, "Body")
        .and_then(|b| b.child(ns::WSMAN, "Events"))
        .map(|events| {
            events
                .children_named(ns::WSMAN, "Event")
                .map(|event| {
                    // Each event is CDATA text inside w:Event.
                    let inner =
                        xml::parse(&event.text(), &Limits::default()).expect("an event document");
                    inner
                        .child(EVENT_NS, "System")
                        .and_then(|s| s.child(EVENT_NS, "EventRecordID"))
                        .map(|r| r.trimmed_text().parse().expect("a record id"))
                        .expect("EventRecordID")
                })
                .collect()
        })
        .unwrap_or_default();
    let bookmark = header
        .child(ns::WSMAN, "Bookmark")
        .and_then(|b| b.elements().next())
        .and_then(|list| {
            list.elements()
                .find(|b| b.attr("Channel") == Some("Application"))
                .and_then(|b| b.attr("RecordId"))
                .and_then(|r| r.parse().ok())
        });
    Received {
        action: text_of(header.child(ns::ADDRESSING, "Action")).unwrap_or_default(),
        message_id: text_of(header.child(ns::ADDRESSING, "MessageID")).unwrap_or_default(),
        records,
        bookmark,
        token: text_of(header.child(TOKEN_NS, "Token")),
        ack_requested: header.child(ns::WSMAN, "AckRequested").is_some(),
        utf16: encoding != wsman_proto::charset::Encoding::Utf8,
        acknowledged: false,
        status: root
            .child(ns::SOAP, "Body")
            .and_then(|b| b.child(ns::EVENTING, "SubscriptionEnd"))
            .and_then(|e| e.child(ns::EVENTING, "Status"))
            .map(Element::trimmed_text),
    }
}

pub(crate) fn push_subscribe(
    mode: &str,
    notify_to: &str,
    delivery_extra: &str,
    end_to: &str,
) -> String {
    soap::request(
        action::SUBSCRIBE,
        EVENT_LOG_URI,
        &[],
        &format!(
            r#"<e:Subscribe>{end_to}<e:Delivery Mode="{mode}"><e:NotifyTo><a:Address>{notify_to}</a:Address><a:ReferenceParameters><t:Token xmlns:t="{TOKEN_NS}">sink-7</t:Token></a:ReferenceParameters></e:NotifyTo>{delivery_extra}</e:Delivery><w:Filter Dialect="http://schemas.microsoft.com/win/2004/08/events/eventquery">{APPLICATION}</w:Filter><w:Bookmark>{EARLIEST}</w:Bookmark><w:SendBookmarks/></e:Subscribe>"#
        ),
    )
}

/// The e:Identifier of a SubscribeResponse, which must not offer an EnumerationContext.
pub(crate) fn pushed_subscription(response: &wsman_test::http::Response) -> String {
    let root = parsed(response);
    let body = root
        .child(ns::SOAP, "Body")
        .and_then(|b| b.child(ns::EVENTING, "SubscribeResponse"))
        .unwrap_or_else(|| panic!("not a SubscribeResponse: {}", response.describe()));
    assert!(
        body.child(ns::ENUMERATION, "EnumerationContext").is_none(),
        "a pushed subscription has nothing to pull"
    );
    body.child(ns::EVENTING, "SubscriptionManager")
        .and_then(|m| m.child(ns::ADDRESSING, "ReferenceParameters"))
        .and_then(|p| p.child(ns::EVENTING, "Identifier"))
        .map(Element::trimmed_text)
        .expect("an e:Identifier")
}

pub(crate) fn acknowledged_records(received: &[Received]) -> Vec<u64> {
    received
        .iter()
        .filter(|r| r.acknowledged && r.action == EVENTS_ACTION)
        .flat_map(|r| r.records.iter().copied())
        .collect()
}

#[test]
fn events_are_pushed_in_acknowledged_batches_resent_when_refused_and_end_with_unsubscribe() {
    let Some(source) = source(|_| {}) else {
        return;
    };
    let subscriber = Subscriber::start();
    // The first delivery is refused: it must come again, and nothing after it first.
    subscriber.refuse_next.store(1, Ordering::SeqCst);
    let delivery = "<w:Heartbeats>PT1S</w:Heartbeats><w:ConnectionRetry Total=\"3\">PT0.2S</w:ConnectionRetry><w:MaxElements>2</w:MaxElements><w:MaxTime>PT0.3S</w:MaxTime><w:ContentEncoding>UTF-16</w:ContentEncoding>";
    let identifier = pushed_subscription(&source.post(&push_subscribe(
        EVENTS_MODE,
        &subscriber.address(),
        delivery,
        "",
    )));

    let received = subscriber.wait_until("every Application event acknowledged", |r| {
        acknowledged_records(r).len() >= APPLICATION_RECORDS.len()
    });
    assert_eq!(acknowledged_records(&received), APPLICATION_RECORDS);
    let batches: Vec<&Received> = received
        .iter()
        .filter(|r| r.action == EVENTS_ACTION)
        .collect();
    assert!(!batches[0].acknowledged, "the first delivery was refused");
    assert_eq!(
        batches[0].records, batches[1].records,
        "the refused batch is sent again, first"
    );
    for batch in &batches {
        assert!(
            (1..=2).contains(&batch.records.len()),
            "MaxElements 2: {batch:?}"
        );
        assert!(batch.ack_requested && batch.utf16);
        assert_eq!(
            batch.token.as_deref(),
            Some("sink-7"),
            "NotifyTo's parameter echoed"
        );
        assert_eq!(
            batch.bookmark,
            batch.records.last().copied(),
            "the bookmark is after the batch's last event"
        );
    }

    // Nothing more to send: heartbeats, acknowledged like batches.
    let heartbeats = |r: &[Received]| r.iter().filter(|m| m.action == HEARTBEAT_ACTION).count();
    subscriber.wait_until("two heartbeats", |r| heartbeats(r) >= 2);

    let ended = source.post(&unsubscribe_request(&identifier));
    assert_eq!(ended.status, 200, "{}", ended.describe());
    // A heartbeat may have been on its way; after that, silence.
    std::thread::sleep(Duration::from_millis(1500));
    let settled = subscriber.received().len();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        subscriber.received().len(),
        settled,
        "nothing is delivered after Unsubscribe"
    );
    assert_eq!(
        acknowledged_records(&subscriber.received()),
        APPLICATION_RECORDS,
        "no event delivered twice once acknowledged"
    );
}

#[test]
fn push_with_ack_sends_one_event_per_message() {
    let Some(source) = source(|_| {}) else {
        return;
    };
    let subscriber = Subscriber::start();
    let identifier = pushed_subscription(&source.post(&push_subscribe(
        PUSH_WITH_ACK_MODE,
        &subscriber.address(),
        "",
        "",
    )));
    let received = subscriber.wait_until("every Application event", |r| {
        acknowledged_records(r).len() >= APPLICATION_RECORDS.len()
    });
    assert_eq!(acknowledged_records(&received), APPLICATION_RECORDS);
    assert!(received
        .iter()
        .filter(|r| r.action == EVENTS_ACTION)
        .all(|r| r.records.len() == 1 && r.ack_requested && !r.utf16));
    let ended = source.post(&unsubscribe_request(&identifier));
    assert_eq!(ended.status, 200, "{}", ended.describe());
}

#[test]
fn deliveries_failing_past_connection_retry_end_the_subscription_with_subscription_end() {
    let Some(source) = source(|_| {}) else {
        return;
    };
    let subscriber = Subscriber::start();
    subscriber.refuse_all.store(true, Ordering::SeqCst);
    let end_to = Subscriber::start();
    let identifier = pushed_subscription(&source.post(&push_subscribe(
        EVENTS_MODE,
        &subscriber.address(),
        "<w:ConnectionRetry Total=\"2\">PT0.1S</w:ConnectionRetry><w:MaxTime>PT0.1S</w:MaxTime>",
        &format!(
            "<e:EndTo><a:Address>{}</a:Address></e:EndTo>",
            end_to.address()
        ),
    )));
    let ends = end_to.wait_until("SubscriptionEnd", |r| {
        r.iter().any(|m| m.action == SUBSCRIPTION_END_ACTION)
    });
    assert_eq!(
        ends[0].status.as_deref(),
        Some("http://schemas.xmlsoap.org/ws/2004/08/eventing/DeliveryFailure")
    );
    // The first try and two retries, all of the same batch; then the subscription is gone.
    let tries = subscriber.received();
    assert_eq!(tries.len(), 3, "{tries:#?}");
    assert!(tries.iter().all(|t| t.records == tries[0].records));
    source.expect_gone(&identifier);
}

#[test]
fn push_is_for_administrators_and_never_with_an_authentication_it_cannot_do() {
    let Some(source) = source(|_| {}) else {
        return;
    };
    let subscriber = Subscriber::start();
    let as_user = source.post_user(&push_subscribe(EVENTS_MODE, &subscriber.address(), "", ""));
    expect_fault(&as_user, "AccessDenied");

    // Digest is a profile this source does not do (Kerberos and certificates: push_auth.rs).
    let digest = push_subscribe(EVENTS_MODE, &subscriber.address(), "", "").replace(
        "</e:NotifyTo>",
        r#"<c:Policy xmlns:c="http://schemas.xmlsoap.org/ws/2002/12/policy" xmlns:auth="http://schemas.microsoft.com/wbem/wsman/1/authentication"><c:ExactlyOne><c:All><auth:Authentication Profile="http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/digest"/></c:All></c:ExactlyOne></c:Policy></e:NotifyTo>"#,
    );
    let refused = source.post(&digest);
    let fault = expect_fault(&refused, "UnsupportedFeature");
    assert!(fault.reason.contains("http/digest"), "{fault:?}");
    assert!(
        subscriber.received().is_empty(),
        "nothing sent to a refused subscriber"
    );
}
