//! What a Windows forwarder with a client certificate sends, and a minimal HTTP/1.1 exchange
//! over TLS on one kept-alive connection: the Enumerate of the subscription manager, then
//! Heartbeats and Events batches to the delivery address it gave, UTF-16LE with a byte-order
//! mark, SLDC-compressed (`Content-Encoding: SLDC`) when asked, each waiting for its answer.
//! The message shapes are those of `benches/collector.py` and `collector_idle.py` (the
//! forwarder's Enumerate, Heartbeat and Events as transcribed from a Windows forwarder).

use std::sync::Arc;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use wsman_events::offer::parse_enumerate_response;
use wsman_proto::ns;
use wsman_proto::xml::{self, Limits};

/// What a Windows forwarder puts in Authorization over HTTPS with a client certificate.
const MUTUAL: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual";
const NS: &str = "xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
    xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
    xmlns:e=\"http://schemas.xmlsoap.org/ws/2004/08/eventing\" \
    xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\" \
    xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" \
    xmlns:p=\"http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd\"";
const ANONYMOUS: &str = "<a:ReplyTo><a:Address s:mustUnderstand=\"true\">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>";
/// Bound on an answer's head and body.
const MAX_ANSWER: usize = 4 << 20;

/// An answer: its status, Retry-After (seconds), and its text (UTF-16 or UTF-8 decoded).
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<u64>,
    pub(crate) text: String,
    pub(crate) close: bool,
}

/// One forwarder's kept-alive connection.
pub(crate) struct Link {
    stream: TlsStream<TcpStream>,
    host: String,
}

impl Link {
    pub(crate) async fn open(
        connector: &TlsConnector,
        host: &str,
        port: u16,
        name: &rustls::pki_types::ServerName<'static>,
        source: Option<std::net::IpAddr>,
    ) -> anyhow::Result<Self> {
        let tcp = match source {
            None => TcpStream::connect((host, port)).await?,
            Some(source) => {
                // From a chosen local address: forwarders of several networks on one machine.
                let target = tokio::net::lookup_host((host, port))
                    .await?
                    .find(|a| a.is_ipv4() == source.is_ipv4())
                    .ok_or_else(|| anyhow::anyhow!("{host}: no address of {source}'s family"))?;
                let socket = if source.is_ipv4() {
                    tokio::net::TcpSocket::new_v4()?
                } else {
                    tokio::net::TcpSocket::new_v6()?
                };
                socket.bind(std::net::SocketAddr::new(source, 0))?;
                socket.connect(target).await?
            }
        };
        tcp.set_nodelay(true)?;
        let stream = connector.connect(name.clone(), tcp).await?;
        Ok(Self {
            stream,
            host: format!("{host}:{port}"),
        })
    }

    /// POST `body` (already encoded) to `path` and read the answer.
    pub(crate) async fn post(
        &mut self,
        path: &str,
        body: &[u8],
        sldc: bool,
    ) -> anyhow::Result<Answer> {
        let encoding = if sldc {
            "Content-Encoding: SLDC\r\n"
        } else {
            ""
        };
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {MUTUAL}\r\nContent-Type: application/soap+xml;charset=UTF-16\r\n{encoding}Content-Length: {}\r\n\r\n",
            self.host,
            body.len()
        );
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        self.stream.write_all(&request).await?;
        self.read_answer().await
    }

    async fn read_answer(&mut self) -> anyhow::Result<Answer> {
        let mut buffer = Vec::with_capacity(4096);
        let head_end = loop {
            if let Some(at) = find(&buffer, b"\r\n\r\n") {
                break at;
            }
            anyhow::ensure!(buffer.len() < MAX_ANSWER, "answer head too long");
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await?;
            anyhow::ensure!(n > 0, "connection closed before the answer");
            buffer.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .context("no status")?;
        let header = |name: &str| {
            head.lines().skip(1).find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
        };
        let length: usize = header("Content-Length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        anyhow::ensure!(length <= MAX_ANSWER, "answer body too long");
        let mut body = buffer[head_end + 4..].to_vec();
        while body.len() < length {
            let mut chunk = vec![0u8; (length - body.len()).min(65536)];
            let n = self.stream.read(&mut chunk).await?;
            anyhow::ensure!(n > 0, "connection closed in the answer");
            body.extend_from_slice(&chunk[..n]);
        }
        Ok(Answer {
            status,
            retry_after: header("Retry-After").and_then(|v| v.parse().ok()),
            text: decode(&body),
            close: header("Connection").is_some_and(|v| v.eq_ignore_ascii_case("close")),
        })
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// UTF-16 with a byte-order mark, else UTF-8.
fn decode(body: &[u8]) -> String {
    match body {
        [0xff, 0xfe, rest @ ..] => {
            let units: Vec<u16> = rest
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        _ => String::from_utf8_lossy(body).into_owned(),
    }
}

/// A message as Windows sends it: UTF-16LE with a byte-order mark, SLDC-compressed when asked.
pub(crate) fn encode(text: &str, sldc: bool) -> Vec<u8> {
    let mut out = vec![0xff, 0xfe];
    for unit in text.encode_utf16() {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    if sldc {
        wsman_events::sldc::compress(&out)
    } else {
        out
    }
}

fn message_id() -> String {
    format!("uuid:{}", uuid::Uuid::new_v4()).to_uppercase()
}

/// The forwarder's Enumerate of the subscription manager.
pub(crate) fn enumerate(host: &str) -> String {
    format!(
        "<s:Envelope {NS}><s:Header><a:To>https://{host}/wsman/SubscriptionManager/WEC</a:To>\
         <w:ResourceURI s:mustUnderstand=\"true\">http://schemas.microsoft.com/wbem/wsman/1/SubscriptionManager/Subscription</w:ResourceURI>\
         {ANONYMOUS}<a:Action s:mustUnderstand=\"true\">http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate</a:Action>\
         <w:MaxEnvelopeSize s:mustUnderstand=\"true\">512000</w:MaxEnvelopeSize>\
         <a:MessageID>{}</a:MessageID><w:OperationTimeout>PT60.000S</w:OperationTimeout>\
         </s:Header><s:Body><n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>32000</w:MaxElements>\
         </n:Enumerate></s:Body></s:Envelope>",
        message_id()
    )
}

/// Where the first subscription offered takes deliveries: its NotifyTo address (the path
/// part) and the reference headers a forwarder echoes with every delivery, as the Subscribe
/// reader of the event source reads them.
pub(crate) fn subscription(answer: &str) -> anyhow::Result<(String, String)> {
    let mut limits = Limits::default();
    limits.max_elements = 1_000_000;
    let envelope = xml::parse(answer, &limits)?;
    let body = envelope
        .child(ns::SOAP, "Body")
        .and_then(|b| b.elements().next())
        .context("an answer without a body")?;
    let (offers, errors) = parse_enumerate_response(body);
    let offer = offers
        .into_iter()
        .next()
        .with_context(|| format!("no subscription offered: {errors:?}"))?;
    let notify_to = offer.subscribe.notify_to.context("no NotifyTo")?;
    let path = format!(
        "/{}",
        notify_to
            .address
            .splitn(4, '/')
            .nth(3)
            .context("NotifyTo address path")?
    );
    let references: String = notify_to
        .reference_parameters
        .iter()
        .map(|parameter| parameter.to_xml_in(ns::WINDOWS_PREFIXES))
        .collect();
    anyhow::ensure!(!references.is_empty(), "no reference headers in NotifyTo");
    Ok((path, references))
}

/// One event of about `size` bytes, with its record id and Computer.
fn event(record: u64, computer: &str, size: usize) -> String {
    let head = format!(
        "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>\
         <Provider Name='fleet'/><EventID>4624</EventID><Level>4</Level>\
         <TimeCreated SystemTime='2026-11-25T00:00:00.0000000Z'/>\
         <EventRecordID>{record}</EventRecordID><Channel>Security</Channel>\
         <Computer>{computer}</Computer></System><EventData><Data Name='n'>"
    );
    let tail = "</Data></EventData></Event>";
    let fill = size.saturating_sub(head.len() + tail.len());
    format!("{head}{}{tail}", "x".repeat(fill))
}

/// An Events batch of `count` events from `first`, with its bookmark.
pub(crate) fn events(
    address: &str,
    references: &str,
    computer: &str,
    first: u64,
    count: u64,
    size: usize,
) -> String {
    let mut body = String::with_capacity((count as usize) * (size + 100));
    for record in first..first + count {
        body.push_str(
            "<w:Event Action=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/Event\"><![CDATA[",
        );
        body.push_str(&event(record, computer, size));
        body.push_str("]]></w:Event>");
    }
    let message = message_id();
    format!(
        "<s:Envelope {NS}><s:Header><a:To>{address}</a:To>\
         <m:MachineID xmlns:m=\"http://schemas.microsoft.com/wbem/wsman/1/machineid\" s:mustUnderstand=\"false\">{computer}</m:MachineID>\
         {ANONYMOUS}<a:Action s:mustUnderstand=\"true\">http://schemas.dmtf.org/wbem/wsman/1/wsman/Events</a:Action>\
         <w:MaxEnvelopeSize s:mustUnderstand=\"true\">512000</w:MaxEnvelopeSize>\
         <a:MessageID>{message}</a:MessageID><p:OperationID s:mustUnderstand=\"false\">{message}</p:OperationID>\
         <p:SequenceId s:mustUnderstand=\"false\">1</p:SequenceId><w:OperationTimeout>PT60.000S</w:OperationTimeout>\
         {references}<w:Bookmark><BookmarkList><Bookmark Channel=\"Security\" RecordId=\"{}\" IsCurrent=\"true\"/></BookmarkList></w:Bookmark>\
         <w:AckRequested/></s:Header><s:Body><w:Events>{body}</w:Events></s:Body></s:Envelope>",
        first + count - 1
    )
}

/// A Heartbeat.
pub(crate) fn heartbeat(address: &str, references: &str) -> String {
    format!(
        "<s:Envelope {NS}><s:Header><a:To>{address}</a:To>{ANONYMOUS}\
         <a:Action s:mustUnderstand=\"true\">http://schemas.dmtf.org/wbem/wsman/1/wsman/Heartbeat</a:Action>\
         <w:MaxEnvelopeSize s:mustUnderstand=\"true\">512000</w:MaxEnvelopeSize>\
         <a:MessageID>{}</a:MessageID><w:OperationTimeout>PT60.000S</w:OperationTimeout>\
         {references}<w:AckRequested/></s:Header><s:Body><w:Events></w:Events></s:Body></s:Envelope>",
        message_id()
    )
}

/// A connector for one forwarder's TLS configuration.
pub(crate) fn connector(config: Arc<rustls::ClientConfig>) -> TlsConnector {
    TlsConnector::from(config)
}

#[cfg(test)]
mod tests {
    /// The collector's answer (its golden file) gives the delivery path and the `e:Identifier`
    /// to echo.
    #[test]
    fn the_collectors_offer_gives_the_delivery_path_and_references() {
        let body = include_str!(
            "../../../crates/wsman-collector/tests/fixtures/enumerate-response-body.xml"
        );
        let answer = format!(
            "<s:Envelope {} xmlns:m=\"{}\"><s:Header/><s:Body>{}</s:Body></s:Envelope>",
            super::NS,
            wsman_proto::ns::SUBSCRIPTION,
            body.trim()
        );
        let (path, references) = super::subscription(&answer).unwrap();
        assert_eq!(path, "/wsman/subscriptions/IDENTIFIER/1");
        assert_eq!(references, "<e:Identifier>VERSION</e:Identifier>");
    }
}
