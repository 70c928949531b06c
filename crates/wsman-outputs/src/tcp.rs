//! The TCP output: each event one line (Raw XML, JSON or Raw+JSON) on one connection to a
//! receiver (a SIEM's TCP input, a log relay), in TLS when configured.
//!
//! Why a failed write answers 503 instead of being dropped or queued: a TCP output that
//! drops what it could not write loses events silently (OpenWEC's issue 297), and a queue in
//! front of a receiver that is down grows without bound. Here a batch is acknowledged only
//! when all of its lines were written and flushed to the socket; a write error closes the
//! connection and the forwarder resends the batch after reconnection, which is tried again
//! with a bounded backoff ([`Backoff`](super::Backoff)).
//!
//! TCP itself does not tell when the receiver has read the data: a receiver that died after
//! our last write makes the kernel accept one more write before the reset arrives. Before
//! each batch the connection is therefore checked for an end of stream or a reset the
//! receiver already sent (a receiver that closes or whose process dies sends one), and the
//! batch goes to a fresh connection instead. What stays is the window of a receiver dying
//! between that check and its reading of the batch; receivers that must never lose a line
//! need an acknowledging protocol (Kafka, Redis).

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use serde::Deserialize;

use super::file::render_lines;
use super::settings::{
    check_host_port, check_timeouts, default_connect_timeout, default_io_timeout,
    default_max_backoff, raw_format,
};
use super::tls::{check_tls_settings, client_tls, TlsClientFiles, TlsSetupError};
use super::{connect_first, failed, Batch, ConnectError, Link, Output, OutputError, OutputFormat};
use super::{OutputSettingError, OutputType, StartEnv, Started};
use crate::output_policy::{OutputsPolicy, PolicyError};

/// Most bytes the receiver may have sent that are read and dropped before a batch (a
/// receiver is not expected to send anything).
const MAX_DRAINED_BYTES: usize = 64 * 1024;

/// Why no connection to the receiver is open.
#[derive(Debug, thiserror::Error)]
pub enum TcpError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("TLS: {0}")]
    Tls(#[source] rustls::Error),
    #[error("TLS handshake with {address}: {source}")]
    Handshake {
        address: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// A connection to a receiver, in TLS or not (the TCP and syslog outputs').
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl std::io::Read for Stream {
    /// Each read first asks the kernel to acknowledge what arrives at once (`TCP_QUICKACK`,
    /// which Linux clears by itself). Why: a receiver that writes its answers as separate
    /// small segments with Nagle on (librelp's `rsp` frames, one per message) sends the second
    /// only once the first is acknowledged, and with nothing of ours to send Linux delays that
    /// acknowledgement up to 40 ms. Against rsyslog's `imrelp` a batch of 10 took 44 ms
    /// whatever its size (227 events/s); with quick acknowledgements 0.4 ms.
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        // Only a hint: a socket that refuses it is read as before.
        let _ = rustix::net::sockopt::set_tcp_quickack(self.socket(), true);
        match self {
            Stream::Plain(socket) => socket.read(buffer),
            Stream::Tls(tls) => tls.read(buffer),
        }
    }
}

impl std::io::Write for Stream {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(socket) => socket.write(bytes),
            Stream::Tls(tls) => tls.write(bytes),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(socket) => socket.flush(),
            Stream::Tls(tls) => tls.flush(),
        }
    }
}

impl Stream {
    fn socket(&self) -> &TcpStream {
        match self {
            Stream::Plain(socket) => socket,
            Stream::Tls(tls) => &tls.sock,
        }
    }

    fn write_all_flushed(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Plain(socket) => socket.write_all(bytes).and_then(|()| socket.flush()),
            Stream::Tls(tls) => tls.write_all(bytes).and_then(|()| tls.flush()),
        }
    }

    /// Whether the receiver has not closed or reset the connection: read without waiting
    /// what it sent (dropped; bounded), an end of stream or an error means gone.
    pub(crate) fn still_open(&mut self) -> bool {
        if self.socket().set_nonblocking(true).is_err() {
            return false;
        }
        let open = match self {
            Stream::Plain(socket) => {
                let mut scratch = [0u8; 4096];
                let mut drained = 0;
                loop {
                    match socket.read(&mut scratch) {
                        Ok(0) => break false,
                        Ok(n) if drained + n <= MAX_DRAINED_BYTES => drained += n,
                        Ok(_) => break false,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break true,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(_) => break false,
                    }
                }
            }
            Stream::Tls(tls) => {
                let mut drained = 0;
                loop {
                    let StreamOwned { conn, sock } = &mut **tls;
                    match conn.read_tls(sock) {
                        Ok(0) => break false,
                        Ok(n) if drained + n <= MAX_DRAINED_BYTES => {
                            drained += n;
                            let Ok(state) = conn.process_new_packets() else {
                                break false;
                            };
                            if state.peer_has_closed() {
                                break false;
                            }
                            // Session tickets are handled by rustls; plaintext is dropped.
                            let mut scratch = [0u8; 4096];
                            while matches!(conn.reader().read(&mut scratch), Ok(n) if n > 0) {}
                        }
                        Ok(_) => break false,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break true,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(_) => break false,
                    }
                }
            }
        };
        open && self.socket().set_nonblocking(false).is_ok()
    }
}

/// One `[[outputs]] type = "tcp"` of a subscription.
pub struct TcpOutput {
    address: String,
    format: OutputFormat,
    tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
    connect_timeout: Duration,
    write_timeout: Duration,
    /// One batch at a time on the connection, so the lines of two batches never interleave.
    link: Mutex<Link<Stream>>,
}

/// A TLS client of the receiver at `address` (`host:port`): `files`, and `server_name` or
/// else the address's host as the name its certificate must carry.
pub(crate) fn tls_client(
    address: &str,
    files: &TlsClientFiles,
    server_name: Option<&str>,
) -> Result<(Arc<ClientConfig>, ServerName<'static>), TlsSetupError> {
    client_tls(files, server_name.unwrap_or_else(|| host_of(address)))
}

/// A connection to `address` (the first of its addresses that answers within
/// `connect_timeout`), `io_timeout` on its reads and writes, in TLS with `tls` (its handshake
/// done).
pub(crate) fn connect_stream(
    address: &str,
    tls: Option<&(Arc<ClientConfig>, ServerName<'static>)>,
    connect_timeout: Duration,
    io_timeout: Duration,
) -> Result<Stream, TcpError> {
    let (socket, address) = connect_first(address, connect_timeout, io_timeout)?;
    let Some((config, name)) = tls else {
        return Ok(Stream::Plain(socket));
    };
    let connection =
        ClientConnection::new(Arc::clone(config), name.clone()).map_err(TcpError::Tls)?;
    let mut tls = StreamOwned::new(connection, socket);
    while tls.conn.is_handshaking() {
        let StreamOwned { conn, sock } = &mut tls;
        conn.complete_io(sock)
            .map_err(|source| TcpError::Handshake { address, source })?;
    }
    Ok(Stream::Tls(Box::new(tls)))
}

/// The host of `host:port` (an IPv6 address without its brackets).
fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

impl TcpOutput {
    /// Read the TLS files and check them; nothing connects until the first batch.
    pub fn start(config: &TcpConfig) -> Result<TcpOutput, TlsSetupError> {
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
        Ok(TcpOutput {
            address: config.address.clone(),
            format: config.format,
            tls,
            connect_timeout: Duration::from_millis(config.connect_timeout_ms.into()),
            write_timeout: Duration::from_millis(config.write_timeout_ms.into()),
            link: Mutex::new(Link::new(Duration::from_millis(
                config.max_backoff_ms.into(),
            ))),
        })
    }

    fn connect(&self) -> Result<Stream, TcpError> {
        connect_stream(
            &self.address,
            self.tls.as_ref(),
            self.connect_timeout,
            self.write_timeout,
        )
    }
}

impl Output for TcpOutput {
    fn describe(&self) -> String {
        let scheme = if self.tls.is_some() { "tls" } else { "tcp" };
        format!("tcp output {scheme}://{}", self.address)
    }

    fn write(&self, batch: &Batch<'_>) -> Result<(), OutputError> {
        let text = render_lines(batch, self.format);
        let mut link = self.link.lock().unwrap_or_else(|p| p.into_inner());
        let stream = link.open(self, "tcp", Stream::still_open, || self.connect())?;
        if let Err(error) = stream.write_all_flushed(text.as_bytes()) {
            // Part of the batch may have gone out: the resend writes it again (at least
            // once); the connection is closed so no line follows a torn one.
            link.broken();
            return Err(failed(self, format!("write failed: {error}")));
        }
        Ok(())
    }
}

/// A TCP output: one connection, each event one line (`format`), reconnected with a bounded
/// backoff after a failure.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpConfig {
    /// `host:port` of the receiver.
    pub address: String,
    #[serde(default = "raw_format")]
    pub format: OutputFormat,
    /// Speak TLS (rustls; TLS 1.2 and 1.3) to the receiver.
    #[serde(default)]
    pub tls: bool,
    /// `ca_file`, `client_certificate`, `client_key`.
    #[serde(flatten)]
    pub tls_files: TlsClientFiles,
    /// The name the receiver's certificate must carry (default: the host of `address`).
    pub server_name: Option<String>,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u32,
    /// A write (or TLS handshake) that takes longer fails the batch (503).
    #[serde(default = "default_io_timeout")]
    pub write_timeout_ms: u32,
    /// Longest wait between reconnection attempts (it doubles from 100 ms up to this).
    #[serde(default = "default_max_backoff")]
    pub max_backoff_ms: u32,
}

impl OutputType for TcpConfig {
    const KIND: &'static str = "tcp";
    type Pool = ();
    type StartError = TlsSetupError;

    fn needs_tree(&self) -> bool {
        self.format != OutputFormat::Raw
    }

    /// Why a TCP output's settings are refused (the files are read when it starts).
    fn check(&self) -> Result<(), OutputSettingError> {
        check_host_port("tcp output: address", &self.address)?;
        check_tls_settings(
            "tcp",
            self.tls,
            &self.tls_files,
            self.server_name.as_deref(),
        )?;
        check_timeouts(
            "tcp",
            self.connect_timeout_ms,
            ("write_timeout_ms", self.write_timeout_ms),
            self.max_backoff_ms,
        )?;
        Ok(())
    }

    fn admit(&self, policy: &OutputsPolicy) -> Result<(), PolicyError> {
        policy.destination("tcp", &self.address)?;
        self.tls_files.admit("tcp", policy)
    }

    fn summary(&self) -> String {
        let tls = if self.tls { " over TLS" } else { "" };
        format!("tcp {}{tls} ({:?})", self.address, self.format)
    }

    fn describe(&self, subscription: &str) -> String {
        format!("tcp output of {subscription} ({})", self.address)
    }

    fn start(&self, _: &Arc<()>, _: &StartEnv<'_>) -> Result<Started, TlsSetupError> {
        Ok(Some(Arc::new(TcpOutput::start(self)?)))
    }
}
