//! The events page's live stream: one WS-Eventing Pull subscription on the host (through
//! `wsman-client`, on the `EventLog` resource), relayed to the browser over a WebSocket as
//! JSON text frames, one event each, so a script reads the same stream the page shows.
//!
//! The upgrade is checked in `http` as the terminal's is (session, Origin, CSRF token, then
//! delegation: `read` on the EventLog resource; which logs a user may read, the Security log
//! above all, the host decides and refuses at Subscribe). The subscription belongs to the
//! browser session: closing the socket, logout, the session's expiry or the host ending it all
//! end the relay, and the console then sends Unsubscribe. Bounded everywhere: as many streams
//! as terminals (per session and in the service), each pull at most [`PULL_BATCH`] events,
//! pulled only when the socket has taken the previous frame, each event cut to
//! [`MAX_MESSAGE_CHARS`] characters of message.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use hyper::upgrade::Upgraded;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use wsman_client::events::{PullSubscription, SubscribeOptions};
use wsman_client::Client;
use wsman_proto::xml::Element;

use crate::socket_bounds::{
    end_at_host, finish_writer, send_close, server_socket, Relay, Socket, MAX_UPGRADE_QUERY_BYTES,
    QUEUED_OUTPUT_FRAMES,
};

/// The resource a stream subscribes on, and the one delegation rules name to allow it.
pub const EVENT_LOG_URI: &str = wsman_proto::eventing::EVENT_LOG_URI;
/// Most events one Pull asks for.
pub const PULL_BATCH: u32 = 50;
/// How long one Pull waits at the host for a first event (under the client's operation
/// timeout), so a stream notices a closed socket or an ended session between pulls too.
const PULL_WAIT: Duration = Duration::from_secs(4);
/// How long a stream asks its subscription to live (the host may shorten it): a session's
/// absolute lifetime at most.
const SUBSCRIPTION_LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// Longest message of one streamed event, in characters (a longer one is cut and marked).
pub const MAX_MESSAGE_CHARS: usize = 8 * 1024;
/// Longest other field of a streamed event, in characters.
const MAX_FIELD_CHARS: usize = 256;
/// Largest frame the browser may send (it sends none but the close).
const MAX_INCOMING_FRAME: usize = 1024;

/// A log a stream may subscribe to (the host decides who may read which).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Log {
    /// Applications' entries.
    Application,
    /// The system's services and kernel.
    System,
    /// Authentication and audit entries (administrators only, on wsmand and on Windows).
    Security,
}

impl Log {
    /// The log's name in a query and in the URL.
    pub fn name(self) -> &'static str {
        match self {
            Self::Application => "Application",
            Self::System => "System",
            Self::Security => "Security",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Application, Self::System, Self::Security]
            .into_iter()
            .find(|log| log.name() == text)
    }
}

/// The logs a stream follows unless the query names others.
pub const DEFAULT_LOGS: [Log; 2] = [Log::Application, Log::System];

/// Why an upgrade query was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Longer than the limit.
    #[error("the query is too long")]
    TooLong,
    /// Not a form, or a log named twice.
    #[error("the query is malformed")]
    Malformed,
    /// A log that is not Application, System or Security.
    #[error("an unknown log")]
    UnknownLog,
}

/// What the upgrade's query asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamRequest {
    /// The session's CSRF token (a browser's WebSocket cannot send headers).
    pub csrf: Option<String>,
    /// The logs to follow, each once, in the order named.
    pub logs: Vec<Log>,
}

/// Parses `csrf=TOKEN&logs=Application,Security` (untrusted input; property-tested and
/// fuzzed). Without `logs`, [`DEFAULT_LOGS`].
pub fn parse_query(query: &str) -> Result<StreamRequest, QueryError> {
    if query.len() > MAX_UPGRADE_QUERY_BYTES {
        return Err(QueryError::TooLong);
    }
    let form = crate::form::Form::parse(query.as_bytes()).map_err(|_| QueryError::Malformed)?;
    let logs = match form.get("logs") {
        None => DEFAULT_LOGS.to_vec(),
        Some(list) => {
            let mut logs = Vec::new();
            for name in list.split(',') {
                let log = Log::parse(name).ok_or(QueryError::UnknownLog)?;
                if logs.contains(&log) {
                    return Err(QueryError::Malformed);
                }
                logs.push(log);
            }
            logs
        }
    };
    Ok(StreamRequest {
        csrf: form.get("csrf").map(str::to_owned),
        logs,
    })
}

/// The Subscribe of a stream: every event of `logs` from now on, with the bookmark after each
/// batch (the host keeps its place between pulls).
pub fn subscribe_options(logs: &[Log]) -> SubscribeOptions {
    let mut query = String::from("<QueryList><Query Id=\"0\">");
    for log in logs {
        query.push_str(&format!("<Select Path=\"{}\">*</Select>", log.name()));
    }
    query.push_str("</Query></QueryList>");
    SubscribeOptions {
        query,
        read_existing: false,
        expires: Some(SUBSCRIPTION_LIFETIME),
        send_bookmarks: true,
    }
}

/// One event as the stream sends it: the `System` values and the message, as text from the
/// host (untrusted: the page shows it as text, never markup).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StreamedEvent {
    /// `EventRecordID`.
    pub record_id: Option<u64>,
    /// `TimeCreated/@SystemTime`.
    pub time: String,
    /// `Channel`: the log.
    pub log: String,
    /// `Provider/@Name`.
    pub provider: String,
    /// `EventID`.
    pub event_id: Option<u32>,
    /// `Level`: 1 Critical, 2 Error, 3 Warning, 4 Information, 5 Verbose (0: always logged).
    pub level: Option<u8>,
    /// The level's name.
    pub level_name: String,
    /// `Computer`.
    pub computer: String,
    /// `RenderingInfo/Message` when the host rendered it, else the `MESSAGE` datum (a
    /// wsmand host's journal entry), else the data joined.
    pub message: String,
}

fn cut(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

fn child<'a>(element: &'a Element, name: &str) -> Option<&'a Element> {
    element.elements().find(|c| c.name == name)
}

fn level_name(level: Option<u8>) -> &'static str {
    match level {
        Some(1) => "Critical",
        Some(2) => "Error",
        Some(3) => "Warning",
        Some(0 | 4) | None => "Information",
        Some(5) => "Verbose",
        Some(_) => "Other",
    }
}

/// Reads one pulled item (an `Event`, or an element wrapping one) into what the stream sends;
/// whatever is missing is empty.
pub fn streamed_event(item: &Element) -> StreamedEvent {
    let event = if item.name == "Event" {
        item
    } else {
        child(item, "Event").unwrap_or(item)
    };
    let system = child(event, "System");
    let text = |name: &str| {
        system
            .and_then(|s| child(s, name))
            .map(|e| cut(&e.trimmed_text(), MAX_FIELD_CHARS))
            .unwrap_or_default()
    };
    let attribute = |name: &str, attr: &str| {
        system
            .and_then(|s| child(s, name))
            .and_then(|e| e.attr(attr))
            .map(|v| cut(v, MAX_FIELD_CHARS))
            .unwrap_or_default()
    };
    let level = text("Level").parse::<u8>().ok();
    let rendered = child(event, "RenderingInfo")
        .and_then(|r| child(r, "Message"))
        .map(Element::trimmed_text)
        .filter(|m| !m.is_empty());
    let message = rendered.unwrap_or_else(|| {
        let data: Vec<&Element> = child(event, "EventData")
            .map(|d| d.elements().filter(|e| e.name == "Data").collect())
            .unwrap_or_default();
        data.iter()
            .find(|d| d.attr("Name") == Some("MESSAGE"))
            .map(|d| d.text())
            .unwrap_or_else(|| data.iter().map(|d| d.text()).collect::<Vec<_>>().join("; "))
    });
    StreamedEvent {
        record_id: text("EventRecordID").parse().ok(),
        time: attribute("TimeCreated", "SystemTime"),
        log: text("Channel"),
        provider: attribute("Provider", "Name"),
        event_id: text("EventID").parse().ok(),
        level,
        level_name: level_name(level).to_owned(),
        computer: text("Computer"),
        message: cut(&message, MAX_MESSAGE_CHARS),
    }
}

/// The text frame of one event: `{"event":{...}}`.
pub fn event_message(event: &StreamedEvent) -> String {
    serde_json::json!({ "event": event }).to_string()
}

/// The text frame before the server closes the socket: `{"closed":"why"}`.
pub fn closed_message(why: &str) -> String {
    serde_json::json!({ "closed": why }).to_string()
}

/// A subscription made on the host for one stream, with the client that made it.
pub struct Subscribed {
    /// The host's client, as the allowing role's account.
    pub client: Client,
    /// What to pull with and to Unsubscribe.
    pub subscription: PullSubscription,
}

/// What ended a stream, as audited.
#[derive(Debug)]
enum End {
    ClientClosed,
    Logout,
    SessionExpired,
    BadMessage,
    HostError(String),
    SocketError(String),
}

impl End {
    fn describe(&self) -> String {
        match self {
            Self::ClientClosed => "the browser closed the socket".to_owned(),
            Self::Logout => "logout".to_owned(),
            Self::SessionExpired => "the session expired".to_owned(),
            Self::BadMessage => "the browser sent a message (the stream takes none)".to_owned(),
            Self::HostError(error) => format!("the host: {error}"),
            Self::SocketError(error) => format!("socket: {error}"),
        }
    }

    fn close_code(&self) -> CloseCode {
        match self {
            Self::ClientClosed => CloseCode::Normal,
            Self::Logout | Self::SessionExpired => CloseCode::Policy,
            Self::BadMessage => CloseCode::Unsupported,
            Self::HostError(_) => CloseCode::Away,
            Self::SocketError(_) => CloseCode::Error,
        }
    }
}

/// Reads the socket until the browser closes it; a data frame ends the stream.
async fn read_socket(mut stream: futures_util::stream::SplitStream<Socket>) -> End {
    while let Some(message) = stream.next().await {
        match message {
            Ok(Message::Close(_)) => return End::ClientClosed,
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
            Ok(Message::Text(_) | Message::Binary(_)) | Err(WsError::Capacity(_)) => {
                return End::BadMessage
            }
            Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => return End::ClientClosed,
            Err(error) => return End::SocketError(error.to_string()),
        }
    }
    End::ClientClosed
}

/// Pulls events into the socket's queue, one Pull at a time and only once the queue has room.
async fn pull(
    client: Arc<Client>,
    subscription: PullSubscription,
    output: mpsc::Sender<String>,
    sent: Arc<std::sync::atomic::AtomicU64>,
) -> End {
    loop {
        let batch = match client
            .pull_events(&subscription, PULL_BATCH, PULL_WAIT)
            .await
        {
            Ok(Some(batch)) => batch,
            Ok(None) => continue,
            Err(error) => return End::HostError(error.to_string()),
        };
        for item in &batch.events {
            let frame = event_message(&streamed_event(item));
            if output.send(frame).await.is_err() {
                return End::ClientClosed;
            }
            sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// Writes queued frames to the socket until told to close it (with the reason, then the close
/// frame).
async fn write_socket(
    mut sink: futures_util::stream::SplitSink<Socket, Message>,
    mut output: mpsc::Receiver<String>,
    mut close: tokio::sync::oneshot::Receiver<(CloseCode, String)>,
) {
    let mut open = true;
    let closing = loop {
        tokio::select! {
            frame = output.recv(), if open => match frame {
                Some(frame) => {
                    if sink.send(Message::Text(frame.into())).await.is_err() {
                        return;
                    }
                }
                // The puller has ended: only the close is left to send.
                None => open = false,
            },
            closing = &mut close => break closing,
        }
    };
    if let Ok((code, why)) = closing {
        send_close(&mut sink, closed_message(&why), code, &why).await;
    }
}

/// Runs one stream from the upgraded connection to its end, then ends the subscription with
/// Unsubscribe and audits how long it ran, how many events it carried and why it ended.
pub async fn run(upgraded: Upgraded, relay: Relay, subscribed: Subscribed) {
    let socket = server_socket(upgraded, MAX_INCOMING_FRAME).await;
    let (sink, stream) = socket.split();
    let (output_tx, output_rx) = mpsc::channel(QUEUED_OUTPUT_FRAMES);
    let (close_tx, close_rx) = tokio::sync::oneshot::channel();
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let writer = tokio::spawn(write_socket(sink, output_rx, close_rx));
    let mut reader = tokio::spawn(read_socket(stream));
    let client = Arc::new(subscribed.client);
    let mut puller = tokio::spawn(pull(
        Arc::clone(&client),
        subscribed.subscription.clone(),
        output_tx,
        Arc::clone(&sent),
    ));
    let end = tokio::select! {
        end = &mut reader => end.unwrap_or_else(|e| End::SocketError(e.to_string())),
        end = &mut puller => end.unwrap_or_else(|e| End::HostError(e.to_string())),
        end = relay.session_over(End::Logout, End::SessionExpired) => end,
    };
    // A Pull in flight is dropped: the subscription ends with the Unsubscribe below.
    puller.abort();
    reader.abort();
    let why = end.describe();
    if !matches!(end, End::ClientClosed | End::Logout | End::SessionExpired) {
        tracing::warn!(
            host = %relay.context.host,
            user = %relay.context.owner,
            client = %relay.context.client,
            why = %why,
            "event stream ended"
        );
    }
    let _ = close_tx.send((end.close_code(), why.clone()));
    finish_writer(writer).await;
    let unsubscribe = client.unsubscribe(&subscribed.subscription);
    let unsubscribed = end_at_host(unsubscribe, "unsubscribed", "unsubscribe").await;
    let events = sent.load(std::sync::atomic::Ordering::Relaxed);
    relay.finish("event stream closed", |seconds| {
        format!("{seconds} s, {events} event(s): {why}; {unsubscribed}")
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use wsman_proto::xml::{parse, Limits};

    #[test]
    fn upgrade_queries() {
        assert_eq!(
            parse_query("csrf=ab12"),
            Ok(StreamRequest {
                csrf: Some("ab12".into()),
                logs: DEFAULT_LOGS.to_vec()
            })
        );
        assert_eq!(
            parse_query("logs=Security%2CApplication&csrf=x"),
            Ok(StreamRequest {
                csrf: Some("x".into()),
                logs: vec![Log::Security, Log::Application]
            })
        );
        assert_eq!(parse_query("logs=Setup"), Err(QueryError::UnknownLog));
        assert_eq!(parse_query("logs="), Err(QueryError::UnknownLog));
        assert_eq!(
            parse_query("logs=System,System"),
            Err(QueryError::Malformed)
        );
        assert_eq!(
            parse_query(&format!("csrf={}", "a".repeat(600))),
            Err(QueryError::TooLong)
        );
    }

    #[test]
    fn the_subscribe_query_selects_each_log_once() {
        let options = subscribe_options(&[Log::System, Log::Security]);
        let query = parse(&options.query, &Limits::default()).expect("XML");
        let paths: Vec<&str> = query
            .elements()
            .flat_map(|q| q.elements())
            .filter_map(|select| select.attr("Path"))
            .collect();
        assert_eq!(paths, ["System", "Security"]);
        assert!(!options.read_existing);
    }

    /// An event as Windows writes it in Pull mode with RenderedText, and as wsmand writes a
    /// journal entry (its message in the `MESSAGE` datum).
    #[test]
    fn events_read_from_either_shape() {
        let windows = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Service Control Manager'/><EventID Qualifiers='16384'>7036</EventID><Level>4</Level><TimeCreated SystemTime='2026-03-02T10:00:00.1234567Z'/><EventRecordID>9913</EventRecordID><Channel>System</Channel><Computer>win1</Computer></System><EventData><Data Name='param1'>Spooler</Data></EventData><RenderingInfo Culture='en-US'><Message>The Print Spooler service entered the running state.</Message></RenderingInfo></Event>";
        let event = streamed_event(&parse(windows, &Limits::default()).expect("XML"));
        assert_eq!(event.record_id, Some(9913));
        assert_eq!(event.event_id, Some(7036));
        assert_eq!(event.provider, "Service Control Manager");
        assert_eq!(event.log, "System");
        assert_eq!(event.level_name, "Information");
        assert_eq!(event.time, "2026-03-02T10:00:00.1234567Z");
        assert_eq!(
            event.message,
            "The Print Spooler service entered the running state."
        );
        let journal = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='app'/><EventID>0</EventID><Level>2</Level><EventRecordID>7</EventRecordID><Channel>Application</Channel></System><EventData><Data Name='SYSLOG_IDENTIFIER'>app</Data><Data Name='MESSAGE'>&lt;b&gt;broke&lt;/b&gt;</Data></EventData></Event>";
        let event = streamed_event(&parse(journal, &Limits::default()).expect("XML"));
        assert_eq!(event.message, "<b>broke</b>");
        assert_eq!(event.level_name, "Error");
        let frame: serde_json::Value = serde_json::from_str(&event_message(&event)).expect("JSON");
        assert_eq!(frame["event"]["message"], "<b>broke</b>");
        assert_eq!(frame["event"]["record_id"], 7);
    }

    proptest! {
        #[test]
        fn any_query_parses_or_fails_cleanly(query in "\\PC{0,700}") {
            if let Ok(request) = parse_query(&query) {
                prop_assert!(!request.logs.is_empty() && request.logs.len() <= 3);
            }
        }

        #[test]
        fn any_event_text_is_bounded(message in "\\PC{0,12000}", provider in "\\PC{0,400}") {
            let mut element = Element::new(None, "Event");
            let mut system = Element::new(None, "System");
            let mut provider_element = Element::new(None, "Provider");
            provider_element.attributes.push(wsman_proto::xml::Attribute {
                ns: None,
                name: "Name".into(),
                value: provider,
            });
            system.children.push(wsman_proto::xml::Node::Element(provider_element));
            let mut rendering = Element::new(None, "RenderingInfo");
            let mut text = Element::new(None, "Message");
            text.children.push(wsman_proto::xml::Node::Text(message));
            rendering.children.push(wsman_proto::xml::Node::Element(text));
            element.children.push(wsman_proto::xml::Node::Element(system));
            element.children.push(wsman_proto::xml::Node::Element(rendering));
            let event = streamed_event(&element);
            prop_assert!(event.message.chars().count() <= MAX_MESSAGE_CHARS + 1);
            prop_assert!(event.provider.chars().count() <= MAX_FIELD_CHARS + 1);
        }
    }
}
