//! Events forwarded to a real `wsmand` collector as a Windows forwarder sends them: the
//! transcribed messages of a Windows 10 forwarder
//! (`crates/wsman-events/tests/fixtures/windows-forwarder/`), UTF-16 and SLDC as Windows posts
//! them, under any collector account and Computer name; and a wait until the collector's store
//! answers for them in its own dialect.

use std::time::{Duration, Instant};

use wsman_client::enumerate::{Filter, FilterBody};
use wsman_client::{
    Auth, BlockingClient, ClientOptions, Credentials, Endpoint, EnumerateOptions, Resource,
};
use wsman_proto::xml::{self, Element, Limits};
use wsman_test::{SERVICE_ACCOUNT, SERVICE_PASSWORD};

use super::browser::repo_root;

/// The Windows forwarder's Computer in every fixture.
pub(crate) const WINDOWS_COMPUTER: &str = "win10.example.test";

fn fixture(name: &str) -> String {
    let path = repo_root()
        .join("crates/wsman-events/tests/fixtures/windows-forwarder")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse(text: &str) -> Element {
    xml::parse(text, &Limits::default()).expect("XML")
}

/// The first element called `name` in `element`'s tree.
fn find<'a>(element: &'a Element, name: &str) -> Option<&'a Element> {
    if element.name == name {
        return Some(element);
    }
    element.elements().find_map(|child| find(child, name))
}

fn text_of(element: &Element, name: &str) -> String {
    find(element, name)
        .map(Element::trimmed_text)
        .unwrap_or_else(|| panic!("no {name}"))
}

/// A client of the collector at `url`, as `account`.
pub(crate) fn collector_client(url: &str, account: &str) -> BlockingClient {
    let mut options = ClientOptions::default();
    options.auth = Auth::Basic(Credentials::new(account, SERVICE_PASSWORD));
    options.allow_unencrypted = true;
    BlockingClient::new(Endpoint::parse(url, false).expect("URL"), options).expect("client")
}

/// Waits (bounded) until the collector's store holds `count` events that `search` (the
/// elements of a `q:Search`) matches, asked in the store's own dialect as any WS-Management
/// client may, so that the browser starts from what was forwarded.
pub(crate) fn wait_for_stored(port: u16, search: &str, count: usize, logs: &dyn Fn() -> String) {
    let client = collector_client(&format!("http://127.0.0.1:{port}/wsman"), SERVICE_ACCOUNT);
    let mut options = EnumerateOptions::default();
    options.filter = Some(Filter {
        dialect: wsman_proto::ns::event_store::DIALECT.to_owned(),
        body: FilterBody::Xml(format!(
            "<q:Search xmlns:q=\"{}\">{search}</q:Search>",
            wsman_proto::ns::event_store::NS
        )),
    });
    let resource = Resource::new(wsman_proto::ns::event_store::EVENTS);
    let started = Instant::now();
    loop {
        let stored = client
            .enumerate(&resource, &options)
            .map(|items| items.len());
        if matches!(stored, Ok(n) if n >= count) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the store holds {stored:?} events of {search}, not {count}:\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Posts the Windows forwarder's messages to the collector on `port` as Windows does (the
/// Enumerate, then a heartbeat and the three batches to the address it offered), as the
/// collector's `account`, the events' Computer `computer` (the fixtures' own is
/// [`WINDOWS_COMPUTER`]); returns the `EventRecordID` of the fixtures' first Security 4624
/// event.
pub(crate) fn replay_windows(port: u16, account: &str, computer: &str) -> String {
    let client = |url: &str| collector_client(url, account);
    let post = |client: &BlockingClient, message: &str| {
        let message_id = text_of(&parse(message), "MessageID");
        let (bytes, content_type) = wsman_events::delivery::encode(message, true);
        let compressed = wsman_events::sldc::compress(&bytes);
        client
            .deliver(compressed, content_type, Some("SLDC"), &message_id)
            .unwrap_or_else(|e| panic!("the collector refused a Windows message: {e}"))
    };
    let manager = client(&format!(
        "http://127.0.0.1:{port}/wsman/SubscriptionManager/WEC"
    ));
    let enumerate = fixture("enumerate.request.xml");
    let message_id = text_of(&parse(&enumerate), "MessageID");
    let (bytes, content_type) = wsman_events::delivery::encode(&enumerate, true);
    let reply = manager
        .deliver(bytes, content_type, None, &message_id)
        .expect("the Enumerate");
    let (offers, errors) =
        wsman_events::offer::parse_enumerate_response(&reply.body.expect("an answer"));
    assert!(errors.is_empty() && offers.len() == 1, "{errors:?}");
    let notify = offers[0].subscribe.notify_to.clone().expect("NotifyTo");
    let identifier = notify
        .reference_parameters
        .iter()
        .find(|p| p.name == "Identifier")
        .expect("Identifier")
        .trimmed_text();
    let to = client(&notify.address);
    let mut first_4624 = None;
    for name in [
        "heartbeat.request.xml",
        "events.bookmark-event.request.xml",
        "events-1.request.xml",
        "events-2.request.xml",
    ] {
        let message = fixture(name).replace(WINDOWS_COMPUTER, computer);
        let envelope = parse(&message);
        let addressed = message
            .replace(&text_of(&envelope, "To"), &notify.address)
            .replace(&text_of(&envelope, "Identifier"), &identifier);
        post(&to, &addressed);
        for event in find(&envelope, "Events").map_or_else(Vec::new, |e| e.elements().collect()) {
            let event = parse(&event.text());
            if first_4624.is_none() && text_of(&event, "EventID") == "4624" {
                first_4624 = Some(text_of(&event, "EventRecordID"));
            }
        }
    }
    first_4624.expect("a 4624 event in the fixtures")
}
