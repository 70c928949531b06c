//! The Redis output: a batch appended with one `RPUSH` to a list, or one `XADD` per event to
//! a stream (pipelined), and durable when the server's replies came back without error (and,
//! with `wait_replicas`, when `WAIT` says that many replicas have it). A connection error, an
//! error reply or a late reply answers the forwarder 503 and it resends (at least once: a
//! command the server executed before the connection broke is sent again).
//!
//! Why one `RPUSH` per batch: the server applies it whole or not at all, so a list never holds
//! part of a batch. A stream has no multi-entry append; its `XADD`s go in one write and their
//! replies are all read.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;

use super::file::{client_path_part, render};
use super::settings::{
    check_range, check_timeouts, default_connect_timeout, default_io_timeout, default_max_backoff,
    raw_format, valid_name,
};
use super::{connect_first, failed, Batch, ConnectError, Link, Output, OutputError, OutputFormat};
use super::{OutputSettingError, OutputType, StartEnv, Started};
use crate::output_policy::{OutputsPolicy, PolicyError};
use crate::resp::{self, Endpoint, Reply, ReplyLimits, RespError, UrlError};
use crate::secrets::{Destination, SecretError};

/// Most bytes held while waiting for the end of one reply (our commands' replies are a
/// status, a number or an entry id).
const MAX_REPLY_BUFFER: usize = 64 * 1024;

/// Why a batch did not reach Redis, or Redis did not take it.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("write failed: {0}")]
    Write(#[source] std::io::Error),
    #[error("bad reply: {0}")]
    BadReply(#[from] RespError),
    #[error("a reply longer than {MAX_REPLY_BUFFER} bytes")]
    ReplyTooLong,
    #[error("the server closed the connection")]
    Closed,
    #[error("no reply: {0}")]
    NoReply(#[source] std::io::Error),
    /// An error reply (its first 200 characters).
    #[error("{command}: {message}")]
    Refused {
        command: &'static str,
        message: String,
    },
    #[error("WAIT: {have} of {wanted} replicas have the batch after {timeout_ms} ms")]
    Replicas {
        have: i64,
        wanted: u32,
        timeout_ms: u32,
    },
    #[error("WAIT: unexpected reply {0:?}")]
    WaitReply(Reply),
}

/// One connection with its unread reply bytes.
struct Connection {
    socket: TcpStream,
    buffer: Vec<u8>,
}

impl Connection {
    fn send(&mut self, bytes: &[u8]) -> Result<(), RedisError> {
        self.socket
            .write_all(bytes)
            .and_then(|()| self.socket.flush())
            .map_err(RedisError::Write)
    }

    /// The next reply, within the socket's read timeout and [`MAX_REPLY_BUFFER`].
    fn reply(&mut self) -> Result<Reply, RedisError> {
        let limits = ReplyLimits::default();
        loop {
            if let Some((reply, used)) = resp::parse(&self.buffer, &limits)? {
                self.buffer.drain(..used);
                return Ok(reply);
            }
            if self.buffer.len() >= MAX_REPLY_BUFFER {
                return Err(RedisError::ReplyTooLong);
            }
            let mut chunk = [0u8; 8192];
            let want = chunk.len().min(MAX_REPLY_BUFFER - self.buffer.len());
            match self.socket.read(&mut chunk[..want]) {
                Ok(0) => return Err(RedisError::Closed),
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(RedisError::NoReply(e)),
            }
        }
    }

    /// A reply that must not be an error.
    fn expect(&mut self, command: &'static str) -> Result<Reply, RedisError> {
        match self.reply()? {
            Reply::Error(message) => Err(RedisError::Refused {
                command,
                message: message.chars().take(200).collect(),
            }),
            reply => Ok(reply),
        }
    }
}

/// One `[[outputs]] type = "redis"` of a subscription.
pub struct RedisOutput {
    endpoint: Endpoint,
    key: String,
    mode: RedisMode,
    format: OutputFormat,
    wait_replicas: u32,
    wait_timeout_ms: u32,
    connect_timeout: Duration,
    reply_timeout: Duration,
    /// One batch at a time on the connection: replies are matched to commands in order.
    link: Mutex<Link<Connection>>,
}

/// The key of `template` for this client and subscription.
pub fn expand_key(template: &str, client: &str, subscription: &str) -> String {
    template
        .replace("{client}", &client_path_part(client))
        .replace("{subscription}", subscription)
}

impl RedisOutput {
    /// Check the URL; nothing connects until the first batch. `password` is the one read
    /// from the secret file `password_secret` names (it replaces none: the URL then has none).
    pub fn start(config: &RedisConfig, password: Option<String>) -> Result<RedisOutput, UrlError> {
        let mut endpoint = Endpoint::parse(&config.url.0)?;
        if password.is_some() {
            endpoint.password = password;
        }
        Ok(RedisOutput {
            endpoint,
            key: config.key.clone(),
            mode: config.mode,
            format: config.format,
            wait_replicas: config.wait_replicas,
            wait_timeout_ms: config.wait_timeout_ms,
            connect_timeout: Duration::from_millis(config.connect_timeout_ms.into()),
            reply_timeout: Duration::from_millis(config.reply_timeout_ms.into()),
            link: Mutex::new(Link::new(Duration::from_millis(
                config.max_backoff_ms.into(),
            ))),
        })
    }

    fn connect(&self) -> Result<Connection, RedisError> {
        let (socket, _) = connect_first(
            (self.endpoint.host.as_str(), self.endpoint.port),
            self.connect_timeout,
            self.reply_timeout,
        )?;
        let mut connection = Connection {
            socket,
            buffer: Vec::new(),
        };
        let mut hello = Vec::new();
        let mut expected = Vec::new();
        if let Some(password) = &self.endpoint.password {
            match &self.endpoint.user {
                Some(user) => {
                    resp::command(&mut hello, &[b"AUTH", user.as_bytes(), password.as_bytes()])
                }
                None => resp::command(&mut hello, &[b"AUTH", password.as_bytes()]),
            }
            expected.push("AUTH");
        }
        if self.endpoint.database != 0 {
            let database = self.endpoint.database.to_string();
            resp::command(&mut hello, &[b"SELECT", database.as_bytes()]);
            expected.push("SELECT");
        }
        if !hello.is_empty() {
            connection.send(&hello)?;
            for command in expected {
                connection.expect(command)?;
            }
        }
        Ok(connection)
    }

    /// Send the batch's commands and check every reply.
    fn store(&self, connection: &mut Connection, batch: &Batch<'_>) -> Result<(), RedisError> {
        let key = expand_key(&self.key, batch.client, batch.subscription);
        let payloads: Vec<String> = batch
            .events
            .iter()
            .map(|event| render(event, self.format, batch))
            .collect();
        let mut commands = Vec::with_capacity(payloads.iter().map(|p| p.len() + 64).sum());
        let mut replies = Vec::new();
        match self.mode {
            RedisMode::List => {
                let mut arguments: Vec<&[u8]> = vec![b"RPUSH", key.as_bytes()];
                arguments.extend(payloads.iter().map(|p| p.as_bytes()));
                resp::command(&mut commands, &arguments);
                replies.push("RPUSH");
            }
            RedisMode::Stream => {
                for payload in &payloads {
                    resp::command(
                        &mut commands,
                        &[
                            b"XADD",
                            key.as_bytes(),
                            b"*",
                            b"client",
                            batch.client.as_bytes(),
                            b"event",
                            payload.as_bytes(),
                        ],
                    );
                    replies.push("XADD");
                }
            }
        }
        let wanted = self.wait_replicas.to_string();
        let timeout = self.wait_timeout_ms.to_string();
        if self.wait_replicas > 0 {
            resp::command(
                &mut commands,
                &[b"WAIT", wanted.as_bytes(), timeout.as_bytes()],
            );
        }
        connection.send(&commands)?;
        let mut first_error = None;
        for command in replies {
            // Every reply is read, so the connection stays in step after an error.
            match connection.expect(command) {
                Ok(_) => {}
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        if self.wait_replicas > 0 {
            match connection.expect("WAIT")? {
                Reply::Integer(n) if n >= i64::from(self.wait_replicas) => {}
                Reply::Integer(n) => {
                    first_error.get_or_insert(RedisError::Replicas {
                        have: n,
                        wanted: self.wait_replicas,
                        timeout_ms: self.wait_timeout_ms,
                    });
                }
                other => {
                    first_error.get_or_insert(RedisError::WaitReply(other));
                }
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

impl Output for RedisOutput {
    fn describe(&self) -> String {
        format!("redis output {:?} key {}", self.endpoint, self.key)
    }

    fn write(&self, batch: &Batch<'_>) -> Result<(), OutputError> {
        let mut link = self.link.lock().unwrap_or_else(|p| p.into_inner());
        let open = link.open(self, "redis", |_| true, || self.connect())?;
        self.store(open, batch).map_err(|reason| {
            // Whatever went wrong, the next batch starts on a new connection: a reply that
            // never came would otherwise be read as the next batch's.
            link.broken();
            failed(self, reason.to_string())
        })
    }
}

/// Where a Redis output writes: a list (RPUSH) or a stream (XADD).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedisMode {
    List,
    Stream,
}

/// A Redis output.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[[user]:password@]host[:port][/db]`; its password is never shown.
    pub url: RedisUrl,
    /// The password by the name of a node-local secret file (`DIR/secrets/NAME`), read when
    /// the output starts; the URL then holds none.
    pub password_secret: Option<String>,
    /// List or stream key, a template of `{subscription}` and `{client}`.
    pub key: String,
    #[serde(default = "list_mode")]
    pub mode: RedisMode,
    #[serde(default = "raw_format")]
    pub format: OutputFormat,
    /// After each batch, `WAIT` until this many replicas have it (0: the primary's reply is
    /// enough).
    #[serde(default)]
    pub wait_replicas: u32,
    #[serde(default = "default_wait_timeout")]
    pub wait_timeout_ms: u32,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u32,
    /// A reply that takes longer fails the batch (503).
    #[serde(default = "default_io_timeout")]
    pub reply_timeout_ms: u32,
    #[serde(default = "default_max_backoff")]
    pub max_backoff_ms: u32,
}

/// A Redis URL. Its `Debug` hides the password: configurations are logged.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct RedisUrl(pub String);

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match crate::resp::Endpoint::parse(&self.0) {
            Ok(endpoint) => write!(f, "{endpoint:?}"),
            Err(_) => f.write_str("(a URL that does not parse)"),
        }
    }
}

fn list_mode() -> RedisMode {
    RedisMode::List
}
fn default_wait_timeout() -> u32 {
    1_000
}

/// Why a Redis output did not start.
#[derive(Debug, thiserror::Error)]
pub enum RedisStartError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Url(#[from] UrlError),
}

/// Where the password goes: the server, in clear (Redis is spoken without TLS here).
fn redis_destination(endpoint: &Endpoint) -> Destination {
    Destination {
        kind: "redis",
        host: endpoint.host.clone(),
        port: endpoint.port,
        tls: false,
    }
}

impl OutputType for RedisConfig {
    const KIND: &'static str = "redis";
    type Pool = ();
    type StartError = RedisStartError;

    fn needs_tree(&self) -> bool {
        self.format != OutputFormat::Raw
    }

    /// Why a Redis output's settings are refused.
    fn check(&self) -> Result<(), OutputSettingError> {
        let endpoint = crate::resp::Endpoint::parse(&self.url.0)?;
        if let Some(name) = &self.password_secret {
            if !valid_name(name) {
                return Err(OutputSettingError::SecretName(name.clone()));
            }
            if endpoint.password.is_some() {
                return Err(OutputSettingError::RedisPasswordTwice);
            }
        }
        let literal = self
            .key
            .replace("{subscription}", "s")
            .replace("{client}", "c");
        if literal.is_empty() || self.key.len() > 512 || self.key.contains(['\r', '\n']) {
            return Err(OutputSettingError::RedisKey(self.key.clone()));
        }
        check_range("redis output: wait_replicas", self.wait_replicas, 0..=64)?;
        check_range(
            "redis output: wait_timeout_ms",
            self.wait_timeout_ms,
            1..=600_000,
        )?;
        check_timeouts(
            "redis",
            self.connect_timeout_ms,
            ("reply_timeout_ms", self.reply_timeout_ms),
            self.max_backoff_ms,
        )?;
        if self.wait_replicas > 0 && self.reply_timeout_ms <= self.wait_timeout_ms {
            return Err(OutputSettingError::ReplyBeforeWait);
        }
        Ok(())
    }

    fn admit(&self, policy: &OutputsPolicy) -> Result<(), PolicyError> {
        // The URL parsed in the checks every subscription passes.
        let endpoint = Endpoint::parse(&self.url.0).map_err(|_| PolicyError::Destination {
            kind: "redis",
            address: "(a URL that does not parse)".to_owned(),
        })?;
        if endpoint.password.is_some() {
            return Err(PolicyError::LiteralSecret("the redis URL"));
        }
        policy.host_port("redis", &endpoint.host, endpoint.port)
    }

    fn secret_destinations(&self) -> Vec<(String, Vec<Destination>)> {
        let (Some(name), Ok(endpoint)) = (&self.password_secret, Endpoint::parse(&self.url.0))
        else {
            return Vec::new();
        };
        vec![(name.clone(), vec![redis_destination(&endpoint)])]
    }

    fn summary(&self) -> String {
        format!(
            "redis {:?} {:?} {} ({:?})",
            self.url, self.mode, self.key, self.format
        )
    }

    /// With the password its `password_secret` names, if that may be sent to this server
    /// (Redis is spoken in clear here: only a binding with `require_tls = false` allows it).
    fn start(&self, _: &Arc<()>, env: &StartEnv<'_>) -> Result<Started, RedisStartError> {
        let password = match &self.password_secret {
            Some(name) => {
                let endpoint = Endpoint::parse(&self.url.0)?;
                Some(env.secret(name, &redis_destination(&endpoint))?)
            }
            None => None,
        };
        Ok(Some(Arc::new(RedisOutput::start(self, password)?)))
    }
}
