//! The syslog output: each event one RFC 5424 message (its XML or JSON record as the MSG,
//! structured data naming the subscription, the forwarder and the event's Computer), over TCP
//! or TLS with octet counting (RFC 5425, RFC 6587) or a line feed after each message, over UDP
//! (RFC 5426), or over RELP, in TLS when configured.
//!
//! Why RELP besides plain syslog: plain syslog has no acknowledgement. Over TCP a batch is
//! acknowledged to the forwarder once written and flushed to the socket (as the TCP output
//! does, with its check for a receiver that is gone before each batch), which a receiver
//! that crashes before reading loses; over UDP once each datagram was sent. Over RELP each
//! message is answered by the receiver and the batch is acknowledged only after every answer;
//! a session that breaks mid-batch is answered 503, and the resend skips the messages the
//! receiver had answered, so only those in flight can reach it twice.
//!
//! (Formatting and framing: [`rfc5424`]; RELP's frames: [`relp_frame`]; its session: [`relp`].)

pub mod relp;
pub mod relp_frame;
pub mod rfc5424;

use std::collections::VecDeque;
use std::io::Write as _;
use std::net::{ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use serde::Deserialize;
use sha1::{Digest, Sha1};

use self::relp::{Session, SessionError};
use self::rfc5424::{Header, SdElement};
use super::file::render;
use super::journal::priority;
use super::settings::{
    check_host_port, check_range, check_timeouts, default_connect_timeout, default_io_timeout,
    default_max_backoff, raw_format,
};
use super::tcp::{connect_stream, tls_client, Stream, TcpError};
use super::tls::{check_tls_settings, TlsClientFiles, TlsSetupError};
use super::{
    failed, Batch, Link, Output, OutputError, OutputFormat, OutputSettingError, OutputType,
};
use super::{StartEnv, Started};
use crate::output_policy::{OutputsPolicy, PolicyError};
use wsman_events::received::ReceivedEvent;

/// The largest message sent in one UDP datagram (IPv4's largest UDP payload); a longer one is
/// cut there (RFC 5426 §3.2 lets a sender truncate).
pub const MAX_UDP_MESSAGE: usize = 65_507;

/// How messages reach the receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyslogTransport {
    /// Octet-counted frames on one TCP connection (RFC 6587; with `tls`, RFC 5425).
    Tcp,
    /// One message per datagram (RFC 5426): no acknowledgement, no flow control.
    Udp,
    /// RELP: each message acknowledged by the receiver (with `tls`, RELP over TLS).
    Relp,
}

/// How messages are delimited on a TCP connection (RFC 6587 §3.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Framing {
    /// Each message after its length and a space (RFC 5425, RFC 6587 §3.4.1): any content.
    OctetCounting,
    /// Each message followed by a line feed (RFC 6587 §3.4.2), for receivers that read lines
    /// (syslog-ng's `network()`); a message never holds one (see [`rfc5424::format()`]).
    Lf,
}

/// A syslog facility (RFC 5424 §6.2.1), by the names of syslog.conf.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Facility {
    Kern,
    User,
    Mail,
    Daemon,
    Auth,
    Syslog,
    Lpr,
    News,
    Uucp,
    Cron,
    Authpriv,
    Ftp,
    Ntp,
    Audit,
    Alert,
    Clock,
    Local0,
    Local1,
    Local2,
    Local3,
    Local4,
    Local5,
    Local6,
    Local7,
}

/// A syslog output.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    /// `host:port` of the receiver.
    pub address: String,
    #[serde(default = "tcp_transport")]
    pub transport: SyslogTransport,
    /// The MSG of each message: the event's XML, or its JSON record.
    #[serde(default = "raw_format")]
    pub format: OutputFormat,
    /// TCP: octet counting (the default) or a line feed after each message.
    #[serde(default = "octet_counting")]
    pub framing: Framing,
    #[serde(default = "local0")]
    pub facility: Facility,
    /// APP-NAME of the messages.
    #[serde(default = "default_app_name")]
    pub app_name: String,
    /// The SD-ID of the structured data, `name@enterprise-number`.
    #[serde(default = "default_sd_id")]
    pub sd_id: String,
    /// TLS (rustls; TLS 1.2 and 1.3) over TCP or RELP.
    #[serde(default)]
    pub tls: bool,
    /// As the TCP output's: the CA file (default: the Mozilla roots compiled in), our client
    /// certificate and key, the name the receiver's certificate must carry.
    #[serde(flatten)]
    pub tls_files: TlsClientFiles,
    pub server_name: Option<String>,
    /// RELP: the most messages sent and not yet acknowledged.
    #[serde(default = "default_window")]
    pub window: u32,
    /// TCP and RELP: connections to the receiver, each carrying one batch at a time, so that
    /// a receiver's round trip per batch bounds each connection's batches per second and not
    /// the whole output's. Opened as batches need them.
    #[serde(default = "default_connections")]
    pub connections: u32,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u32,
    /// A write, TLS handshake or RELP answer that takes longer fails the batch (503).
    #[serde(default = "default_io_timeout")]
    pub timeout_ms: u32,
    #[serde(default = "default_max_backoff")]
    pub max_backoff_ms: u32,
}

fn tcp_transport() -> SyslogTransport {
    SyslogTransport::Tcp
}
fn octet_counting() -> Framing {
    Framing::OctetCounting
}
fn local0() -> Facility {
    Facility::Local0
}
fn default_app_name() -> String {
    "wsmand-wec".to_owned()
}
/// 32473 is the enterprise number RFC 5612 reserves for documentation: a site with its own
/// sets `sd_id`.
fn default_sd_id() -> String {
    "wec@32473".to_owned()
}
fn default_window() -> u32 {
    128
}
fn default_connections() -> u32 {
    4
}
/// The most connections an output may open: its in-flight budget, past which a batch is
/// answered 503 before it would wait for one.
const MAX_CONNECTIONS: u32 = super::MAX_IN_FLIGHT_BATCHES as u32;

/// Why a syslog output's own settings are refused.
#[derive(Debug, thiserror::Error)]
pub enum SyslogSettingError {
    #[error("tls = true over udp: DTLS is not supported")]
    TlsOverUdp,
    #[error("framing = \"lf\" is for transport = \"tcp\"")]
    FramingWithoutTcp,
    #[error("app_name {0:?}: 1 to 48 printable ASCII characters, no space")]
    AppName(String),
    #[error("sd_id {0:?}: name@enterprise-number, at most 32 printable ASCII characters without space, = ] \"")]
    SdId(String),
}

fn setting(error: SyslogSettingError) -> OutputSettingError {
    OutputSettingError::Setting {
        kind: "syslog",
        source: Box::new(error),
    }
}

impl SyslogConfig {
    /// Why these settings are refused (the TLS files are read when the output starts).
    pub fn check_settings(&self) -> Result<(), OutputSettingError> {
        check_host_port("syslog output: address", &self.address)?;
        check_tls_settings(
            "syslog",
            self.tls,
            &self.tls_files,
            self.server_name.as_deref(),
        )?;
        if self.tls && self.transport == SyslogTransport::Udp {
            return Err(setting(SyslogSettingError::TlsOverUdp));
        }
        if self.framing == Framing::Lf && self.transport != SyslogTransport::Tcp {
            return Err(setting(SyslogSettingError::FramingWithoutTcp));
        }
        let app = &self.app_name;
        if !(1..=rfc5424::MAX_APP_NAME).contains(&app.len())
            || !app.bytes().all(|b| (33..=126).contains(&b))
        {
            return Err(setting(SyslogSettingError::AppName(app.clone())));
        }
        if !rfc5424::is_private_sd_id(&self.sd_id) {
            return Err(setting(SyslogSettingError::SdId(self.sd_id.clone())));
        }
        check_range("syslog output: window", self.window, 1..=1024)?;
        check_range(
            "syslog output: connections",
            self.connections,
            1..=MAX_CONNECTIONS,
        )?;
        check_timeouts(
            "syslog",
            self.connect_timeout_ms,
            ("timeout_ms", self.timeout_ms),
            self.max_backoff_ms,
        )?;
        Ok(())
    }
}

impl OutputType for SyslogConfig {
    const KIND: &'static str = "syslog";
    type Pool = ();
    type StartError = TlsSetupError;

    /// The header's time, severity and MSGID come from the event's System values.
    fn needs_tree(&self) -> bool {
        true
    }

    fn check(&self) -> Result<(), OutputSettingError> {
        self.check_settings()
    }

    fn admit(&self, policy: &OutputsPolicy) -> Result<(), PolicyError> {
        policy.destination("syslog", &self.address)?;
        self.tls_files.admit("syslog", policy)
    }

    fn summary(&self) -> String {
        let tls = if self.tls { " over TLS" } else { "" };
        format!(
            "syslog {:?} {}{tls} ({:?})",
            self.transport, self.address, self.format
        )
    }

    fn describe(&self, subscription: &str) -> String {
        format!("syslog output of {subscription} ({})", self.address)
    }

    fn start(&self, _: &Arc<()>, _: &StartEnv<'_>) -> Result<Started, TlsSetupError> {
        Ok(Some(Arc::new(SyslogOutput::start(self)?)))
    }
}

/// Why a batch did not reach the receiver (the batch is answered 503).
#[derive(Debug, thiserror::Error)]
pub enum SyslogError {
    #[error("cannot resolve: {0}")]
    Resolve(#[source] std::io::Error),
    #[error("the name has no address")]
    NoAddress,
    #[error("udp socket to {address}: {source}")]
    Udp {
        address: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Connect(#[from] TcpError),
    #[error(transparent)]
    Relp(#[from] SessionError),
    #[error("write failed: {0}")]
    Write(#[source] std::io::Error),
    #[error("send failed: {0}")]
    Send(#[source] std::io::Error),
}

/// The connection of an output, by transport.
enum Connection {
    Tcp(Stream),
    Udp(UdpSocket),
    Relp(Session<Stream>),
}

/// The messages of a batch the receiver answered over RELP before the session broke, by the
/// digest of each event's XML: the resend, on whichever connection, skips them.
struct Answered {
    subscription: String,
    client: String,
    events: Vec<[u8; 20]>,
}

impl Answered {
    /// Whether these are the answers of `client`'s batch for `subscription`.
    fn of(&self, subscription: &str, client: &str) -> bool {
        self.subscription == subscription && self.client == client
    }
}

/// One `[[outputs]] type = "syslog"` of a subscription.
pub struct SyslogOutput {
    config: SyslogConfig,
    tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
    connect_timeout: Duration,
    timeout: Duration,
    /// One batch at a time on each connection: messages of two batches never interleave on
    /// one, and RELP's answers come in the order sent. A forwarder's batches are one at a time
    /// (the delivery's lock), so its messages keep their order whichever connections carry them.
    links: Vec<Mutex<Link<Connection>>>,
    /// Where the next batch starts looking for a free connection.
    next: AtomicUsize,
    /// The broken batches' answered messages, the latest last: at most one a batch in flight
    /// ([`super::MAX_IN_FLIGHT_BATCHES`]), the oldest forgotten past that (its resend is then
    /// sent whole: at least once).
    answered: Mutex<VecDeque<Answered>>,
}

fn digest(event: &ReceivedEvent) -> [u8; 20] {
    Sha1::digest(event.xml.as_bytes()).into()
}

impl SyslogOutput {
    /// Read the TLS files and check them; nothing connects until the first batch.
    pub fn start(config: &SyslogConfig) -> Result<SyslogOutput, TlsSetupError> {
        let tls = config
            .tls
            .then(|| {
                tls_client(
                    &config.address,
                    &config.tls_files,
                    config.server_name.as_deref(),
                )
            })
            .transpose()?;
        Ok(SyslogOutput {
            config: config.clone(),
            tls,
            connect_timeout: Duration::from_millis(config.connect_timeout_ms.into()),
            timeout: Duration::from_millis(config.timeout_ms.into()),
            links: (0..config.connections.max(1))
                .map(|_| {
                    Mutex::new(Link::new(Duration::from_millis(
                        config.max_backoff_ms.into(),
                    )))
                })
                .collect(),
            next: AtomicUsize::new(0),
            answered: Mutex::new(VecDeque::new()),
        })
    }

    /// One event as an RFC 5424 message.
    fn message(&self, event: &ReceivedEvent, batch: &Batch<'_>) -> Vec<u8> {
        let tree = event.element();
        let system = tree.elements().find(|e| e.name == "System");
        let child = |name: &str| system.and_then(|s| s.elements().find(|e| e.name == name));
        let level = child("Level").map(|e| e.trimmed_text());
        let event_id = child("EventID")
            .map(|e| e.trimmed_text())
            .unwrap_or_default();
        let time = child("TimeCreated")
            .and_then(|e| e.attr("SystemTime"))
            .unwrap_or("-");
        let record = event.record_id.map(|r| r.to_string());
        let mut params = vec![
            ("subscription", batch.subscription),
            ("client", batch.client),
            ("computer", event.computer.as_str()),
            ("channel", event.channel.as_str()),
        ];
        if let Some(record) = &record {
            params.push(("recordId", record));
        }
        let body = render(event, self.config.format, batch);
        let mut out = Vec::with_capacity(body.len() + 256);
        rfc5424::format(
            &Header {
                facility: self.config.facility as u8,
                severity: priority(level.as_deref()),
                timestamp: time,
                hostname: &event.computer,
                app_name: &self.config.app_name,
                procid: "-",
                msgid: &event_id,
            },
            &[SdElement {
                id: &self.config.sd_id,
                params: &params,
            }],
            Some(body.as_bytes()),
            false,
            &mut out,
        );
        out
    }

    /// A connection no other batch holds, tried from a rotating start so that batches spread
    /// over the connections; when every one is busy, the first tried, waited for.
    fn free_link(&self) -> MutexGuard<'_, Link<Connection>> {
        let count = self.links.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % count;
        for i in 0..count {
            match self.links[(start + i) % count].try_lock() {
                Ok(link) => return link,
                Err(TryLockError::Poisoned(p)) => return p.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        self.links[start]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// How many of `batch`'s first events the receiver answered before a session broke.
    fn answered_before(&self, batch: &Batch<'_>) -> usize {
        let answered = self.answered.lock().unwrap_or_else(PoisonError::into_inner);
        answered
            .iter()
            .rev()
            .find(|a| a.of(batch.subscription, batch.client))
            .map_or(0, |a| {
                a.events
                    .iter()
                    .zip(batch.events)
                    .take_while(|(digest_of, event)| **digest_of == digest(event))
                    .count()
            })
    }

    fn forget_answered(&self, batch: &Batch<'_>) {
        let mut answered = self.answered.lock().unwrap_or_else(PoisonError::into_inner);
        answered.retain(|a| !a.of(batch.subscription, batch.client));
    }

    fn note_answered(&self, noted: Answered) {
        let mut answered = self.answered.lock().unwrap_or_else(PoisonError::into_inner);
        answered.retain(|a| !a.of(&noted.subscription, &noted.client));
        if answered.len() == super::MAX_IN_FLIGHT_BATCHES {
            answered.pop_front();
        }
        answered.push_back(noted);
    }

    fn connect(&self) -> Result<Connection, SyslogError> {
        let address = self.config.address.as_str();
        match self.config.transport {
            SyslogTransport::Udp => {
                let target = address
                    .to_socket_addrs()
                    .map_err(SyslogError::Resolve)?
                    .next()
                    .ok_or(SyslogError::NoAddress)?;
                let local = if target.is_ipv4() {
                    "0.0.0.0:0"
                } else {
                    "[::]:0"
                };
                let socket = UdpSocket::bind(local)
                    .and_then(|s| s.connect(target).map(|()| s))
                    .and_then(|s| s.set_write_timeout(Some(self.timeout)).map(|()| s))
                    .map_err(|source| SyslogError::Udp {
                        address: target,
                        source,
                    })?;
                Ok(Connection::Udp(socket))
            }
            SyslogTransport::Tcp => connect_stream(
                address,
                self.tls.as_ref(),
                self.connect_timeout,
                self.timeout,
            )
            .map(Connection::Tcp)
            .map_err(SyslogError::from),
            SyslogTransport::Relp => {
                let stream = connect_stream(
                    address,
                    self.tls.as_ref(),
                    self.connect_timeout,
                    self.timeout,
                )?;
                let software = concat!("wsmand,", env!("CARGO_PKG_VERSION"));
                Session::open(stream, software)
                    .map(Connection::Relp)
                    .map_err(SyslogError::from)
            }
        }
    }

    /// Send `messages` of `events` on the connection; on RELP, note in `answered` the events
    /// the receiver acknowledged.
    fn send(
        &self,
        connection: &mut Connection,
        messages: &[Vec<u8>],
        events: &[&ReceivedEvent],
        answered: &mut Vec<[u8; 20]>,
    ) -> Result<(), SyslogError> {
        match connection {
            Connection::Tcp(stream) => {
                let mut frames = Vec::with_capacity(messages.iter().map(|m| m.len() + 8).sum());
                for message in messages {
                    match self.config.framing {
                        Framing::OctetCounting => rfc5424::octet_counted(message, &mut frames),
                        Framing::Lf => {
                            frames.extend_from_slice(message);
                            frames.push(b'\n');
                        }
                    }
                }
                stream
                    .write_all(&frames)
                    .and_then(|()| stream.flush())
                    .map_err(SyslogError::Write)
            }
            Connection::Udp(socket) => {
                for message in messages {
                    let mut end = message.len().min(MAX_UDP_MESSAGE);
                    // Cut at a character's start, not inside one.
                    while end < message.len() && end > 0 && message[end] & 0xC0 == 0x80 {
                        end -= 1;
                    }
                    socket.send(&message[..end]).map_err(SyslogError::Send)?;
                }
                Ok(())
            }
            Connection::Relp(session) => session
                .send(messages, self.config.window as usize, &mut |i| {
                    answered.push(digest(events[i]));
                })
                .map_err(SyslogError::from),
        }
    }
}

impl Output for SyslogOutput {
    fn describe(&self) -> String {
        let scheme = match (self.config.transport, self.tls.is_some()) {
            (SyslogTransport::Tcp, false) => "syslog+tcp",
            (SyslogTransport::Tcp, true) => "syslog+tls",
            (SyslogTransport::Udp, _) => "syslog+udp",
            (SyslogTransport::Relp, false) => "relp",
            (SyslogTransport::Relp, true) => "relp+tls",
        };
        format!("syslog output {scheme}://{}", self.config.address)
    }

    fn write(&self, batch: &Batch<'_>) -> Result<(), OutputError> {
        // A resend of a batch whose RELP session broke: the events answered then are skipped.
        let skip = self.answered_before(batch);
        let events = &batch.events[skip..];
        if events.is_empty() {
            // Every event was answered before: the receiver has the whole batch.
            self.forget_answered(batch);
            return Ok(());
        }
        let messages: Vec<Vec<u8>> = events.iter().map(|e| self.message(e, batch)).collect();
        let mut link = self.free_link();
        let connection = link.open(
            self,
            "syslog",
            |connection| match connection {
                Connection::Tcp(stream) => stream.still_open(),
                Connection::Relp(session) => session.stream_mut().still_open(),
                Connection::Udp(_) => true,
            },
            || self.connect(),
        )?;
        let mut answered = Vec::new();
        match self.send(connection, &messages, events, &mut answered) {
            Ok(()) => {
                drop(link);
                self.forget_answered(batch);
                Ok(())
            }
            Err(reason) => {
                // Part of the batch may have gone out: the resend sends it again (at least
                // once), on a new connection.
                link.broken();
                drop(link);
                if !answered.is_empty() || skip > 0 {
                    let mut events: Vec<[u8; 20]> =
                        batch.events[..skip].iter().map(|e| digest(e)).collect();
                    events.extend(answered);
                    self.note_answered(Answered {
                        subscription: batch.subscription.to_owned(),
                        client: batch.client.to_owned(),
                        events,
                    });
                }
                Err(failed(self, reason.to_string()))
            }
        }
    }
}
