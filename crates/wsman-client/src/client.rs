//! The asynchronous client: one endpoint, a small pool of kept connections, typed WS-Management
//! operations.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use wsman_auth::Credentials;
use wsman_proto::ns::{self, action};
use wsman_proto::request::{envelope, RequestHeader};
use wsman_proto::response::new_message_id;
use wsman_proto::xml::Element;

use crate::endpoint::{Endpoint, Scheme};
use crate::enumerate::{self, EnumerateOptions};
use crate::error::ClientError;
use crate::negotiate::{self, NegotiateAuth};
use crate::response;
use crate::tls::{self, TlsOptions};
use crate::transport::{ConnectionAuth, Limits, Transport};
use wsman_proto::flat::{EnumeratedItem, FlatPage};

/// How the client authenticates.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum Auth {
    /// No credentials: only an unauthenticated Identify can succeed.
    #[default]
    None,
    /// HTTP Basic on every request. Sends the password in clear text unless the transport is
    /// HTTPS, so plain HTTP needs [`ClientOptions::allow_unencrypted`].
    Basic(Credentials),
    /// `Negotiate` (NTLM, raw or inside SPNEGO), once per connection; over plain HTTP every
    /// body is encrypted with the connection's key (MS-WSMV), over HTTPS the context is bound
    /// to the TLS channel.
    Negotiate(NegotiateAuth),
    /// Kerberos, once per connection (mutual authentication: no TrustedHosts needed); over
    /// plain HTTP every body is encrypted, over HTTPS the context is bound to the TLS channel.
    Kerberos(crate::kerberos::KerberosAuth),
    /// CredSSP, once per connection: NTLM inside a TLS session, then the password is delegated
    /// to the server; over plain HTTP every body is encrypted with that TLS session.
    CredSsp(crate::credssp::CredSspAuth),
    /// A TLS client certificate (HTTPS only), announced with the
    /// `.../secprofile/https/mutual` Authorization value; the certificate itself is given in
    /// [`TlsOptions`].
    Certificate,
}

/// The `Authorization` value that asks for client-certificate authentication.
pub const CERTIFICATE_AUTHORIZATION: &str = wsman_proto::ns::secprofile::HTTPS_MUTUAL;

/// Client settings, with Windows' client defaults.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientOptions {
    /// Authentication scheme and credentials.
    pub auth: Auth,
    /// Allow Basic over plain HTTP (Windows' `Client/AllowUnencrypted`, `-unencrypted`).
    pub allow_unencrypted: bool,
    /// Windows' `Client/TrustedHosts`: when set, any authentication over plain HTTP but
    /// Kerberos needs the host on this list (Windows' rule: without Kerberos, HTTP does not
    /// authenticate the server). `None` skips the check (library use); the command-line tools
    /// pass the configured list.
    pub trusted_hosts: Option<String>,
    /// Certificate checks for HTTPS.
    pub tls: TlsOptions,
    /// `w:OperationTimeout` sent with each request.
    pub operation_timeout: Duration,
    /// Time allowed on top of the operation timeout before giving up on an answer
    /// (Windows' `Client/NetworkDelayms`, default 5000 ms).
    pub network_delay: Duration,
    /// Longest wait for a new connection (TCP, TLS and HTTP handshakes); `None` (the default):
    /// the operating system's limit. Fan-out sets it so one unreachable host fails fast.
    pub connect_timeout: Option<Duration>,
    /// `w:MaxEnvelopeSize` sent with each request (Windows clients send 512000).
    pub max_envelope_size: u64,
    /// Largest response body read from the wire; larger answers are refused.
    pub max_response_bytes: usize,
    /// `w:Locale` / `p:DataLocale`.
    pub locale: String,
    /// `User-Agent` header.
    pub user_agent: String,
    /// Where large reply bodies are read: a pool shared by many clients (the console's, one per
    /// host, share one so that memory follows the hosts being read, not every host ever read),
    /// or `None` (the default): a pool of the client's own, which keeps a few buffers for a
    /// stream of large answers (a shell's output) from one host.
    pub reply_buffers: Option<Arc<wsman_buffers::BufferPool>>,
    /// The most a kept connection's read buffer grows to (at least 8 KiB); `None` (the
    /// default): hyper's adaptive buffer, up to about 400 KiB, which a connection keeps after
    /// a large answer. A client keeping connections to thousands of hosts bounds it.
    pub max_read_buffer: Option<usize>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            auth: Auth::None,
            allow_unencrypted: false,
            trusted_hosts: None,
            tls: TlsOptions::default(),
            operation_timeout: Duration::from_secs(60),
            network_delay: Duration::from_millis(5000),
            connect_timeout: None,
            max_envelope_size: 512_000,
            max_response_bytes: 8 * 1024 * 1024,
            locale: "en-US".to_owned(),
            user_agent: concat!("wsman-client/", env!("CARGO_PKG_VERSION")).to_owned(),
            reply_buffers: None,
            max_read_buffer: None,
        }
    }
}

/// Windows' client-side rules, checked before any connection is opened:
/// * Basic over plain HTTP needs `allow_unencrypted` (Client/AllowUnencrypted plus
///   `-unencrypted` in the tools);
/// * any authentication over plain HTTP but Kerberos needs the host in TrustedHosts when a
///   list is given (without TLS or Kerberos the server is not authenticated);
/// * a client certificate needs HTTPS.
fn check_policy(endpoint: &Endpoint, options: &ClientOptions) -> Result<(), ClientError> {
    let http = endpoint.scheme == Scheme::Http;
    match &options.auth {
        Auth::Basic(_) if http && !options.allow_unencrypted => {
            return Err(ClientError::configuration(
                "Basic authentication over HTTP sends the password unencrypted; use HTTPS, or \
                 allow unencrypted traffic explicitly (Client/AllowUnencrypted and -unencrypted)",
            ));
        }
        Auth::Certificate if http => {
            return Err(ClientError::configuration(
                "certificate authentication needs HTTPS (-usessl or an https:// address)",
            ));
        }
        _ => {}
    }
    // Windows' rule: TrustedHosts is for schemes that cannot authenticate the server;
    // Kerberos does (mutual authentication).
    let authenticates = !matches!(options.auth, Auth::None | Auth::Kerberos(_));
    if let (true, true, Some(list)) = (http, authenticates, &options.trusted_hosts) {
        if !negotiate::trusted_hosts_allows(list, &endpoint.host) {
            return Err(ClientError::configuration(format!(
                "The WinRM client cannot process the request. If the authentication scheme is \
                 different from Kerberos, or if the client computer is not joined to a domain, \
                 then HTTPS transport must be used or the destination machine must be added to \
                 the TrustedHosts configuration setting ({} is not in Client/TrustedHosts).",
                endpoint.host
            )));
        }
    }
    Ok(())
}

/// A resource instance: the resource URI plus selectors (instance keys) and options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resource {
    /// The full resource URI (never an alias, never with a query string).
    pub uri: String,
    /// `w:SelectorSet` entries (name, value).
    pub selectors: Vec<(String, String)>,
    /// `w:OptionSet` entries (name, value, MustComply).
    pub options: Vec<(String, String, bool)>,
}

impl Resource {
    /// A resource without selectors.
    pub fn new(uri: impl Into<String>) -> Self {
        Self {
            uri: uri.into(),
            selectors: Vec::new(),
            options: Vec::new(),
        }
    }

    /// Add a selector.
    pub fn with_selector(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.selectors.push((name.into(), value.into()));
        self
    }
}

/// A WS-Management client bound to one endpoint. Each request takes an idle kept-alive
/// connection from a pool shared with the client's forks ([`Client::fork`]), or opens one, and
/// returns it after a complete reply; concurrent requests use different connections.
pub struct Client {
    endpoint: Endpoint,
    options: ClientOptions,
    session_id: String,
    transport: Arc<Transport>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// What a subscriber answered to [`Client::deliver`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryReply {
    /// The Action of the answer's envelope (`None`: an empty 2xx).
    pub action: Option<String>,
    /// The first element of the answer's body, if any (a subscription manager's
    /// EnumerateResponse to a forwarder's Enumerate).
    pub body: Option<Element>,
}

/// HTTP headers added to a request (Authorization for Basic).
type RequestHeaders = Vec<(HeaderName, HeaderValue)>;

impl Client {
    /// A client for `endpoint`. Refuses Basic over plain HTTP unless `allow_unencrypted` is
    /// set, as Windows' client does; no connection is opened yet.
    pub fn new(endpoint: Endpoint, options: ClientOptions) -> Result<Self, ClientError> {
        check_policy(&endpoint, &options)?;
        let tls = match endpoint.scheme {
            Scheme::Https => Some(tls::client_config(&options.tls)?),
            Scheme::Http => None,
        };
        Self::with_tls(endpoint, options, tls)
    }

    /// A client for `endpoint` (another address on the same server, as a collector's delivery
    /// addresses are) with this one's settings and TLS configuration, and a pool of its own.
    /// Why: a TLS configuration holds the parsed roots and a session cache of 256 entries
    /// (about 15 KiB with one CA file, more with the system's bundle); a forwarder makes three
    /// clients for every subscription, and building it for each was 46 of an idle
    /// subscription's 160 KiB (docs/benchmarks-history.md). The roots, certificate and key are
    /// the ones read when this client was made; the TLS session cache is shared.
    pub fn for_endpoint(&self, endpoint: Endpoint) -> Result<Self, ClientError> {
        check_policy(&endpoint, &self.options)?;
        let tls = match (endpoint.scheme, self.transport.tls()) {
            (Scheme::Https, Some(tls)) => Some(tls),
            (Scheme::Https, None) => Some(tls::client_config(&self.options.tls)?),
            (Scheme::Http, _) => None,
        };
        Self::with_tls(endpoint, self.options.clone(), tls)
    }

    /// A client for `endpoint` with `options`, taking `like`'s TLS configuration when both ask
    /// for the same certificate checks (otherwise one of its own, as [`Client::new`]). Why: a
    /// console keeps one client per host, each with its own account; the parsed roots (the
    /// system bundle: well over 100 KiB) and the session cache, built for each, would cost
    /// more than everything else a host costs it.
    pub fn new_like(
        endpoint: Endpoint,
        options: ClientOptions,
        like: &Client,
    ) -> Result<Self, ClientError> {
        check_policy(&endpoint, &options)?;
        let tls = match (endpoint.scheme, like.transport.tls()) {
            (Scheme::Https, Some(tls)) if like.options.tls == options.tls => Some(tls),
            (Scheme::Https, _) => Some(tls::client_config(&options.tls)?),
            (Scheme::Http, _) => None,
        };
        Self::with_tls(endpoint, options, tls)
    }

    fn with_tls(
        endpoint: Endpoint,
        options: ClientOptions,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<Self, ClientError> {
        let connection_auth = match &options.auth {
            Auth::Negotiate(negotiate) => ConnectionAuth::Negotiate(negotiate.clone()),
            Auth::Kerberos(kerberos) => ConnectionAuth::Kerberos(kerberos.clone()),
            Auth::CredSsp(credssp) => ConnectionAuth::CredSsp(credssp.clone()),
            _ => ConnectionAuth::PerRequest,
        };
        let limits = Limits {
            max_response_bytes: options.max_response_bytes,
            connect_timeout: options.connect_timeout,
            max_read_buffer: options.max_read_buffer,
            bodies: options.reply_buffers.clone(),
        };
        let transport = Transport::new(
            endpoint.clone(),
            tls,
            connection_auth,
            &options.user_agent,
            limits,
        )?;
        Ok(Self {
            endpoint,
            options,
            session_id: new_message_id(),
            transport: Arc::new(transport),
        })
    }

    /// The endpoint this client talks to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The settings this client was made with.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// Another client for the same endpoint, settings and `p:SessionId`, sharing this one's
    /// pool of idle connections. Why share: a new connection's first request pays the server's
    /// password check, so forks reuse whatever connection is idle; a request in flight still
    /// has its connection to itself, so a Receive long poll never delays a Send or Signal
    /// (Windows clients use several connections for one shell too). A client made with
    /// [`Client::new`] has a pool of its own.
    pub fn fork(&self) -> Result<Self, ClientError> {
        Ok(Self {
            endpoint: self.endpoint.clone(),
            options: self.options.clone(),
            session_id: self.session_id.clone(),
            transport: self.transport.clone(),
        })
    }

    /// Close the idle connections of the pool (shared with forks); requests in flight finish,
    /// and later requests open new connections.
    pub async fn disconnect(&self) {
        self.transport.disconnect();
    }

    /// The header every operation of this client starts from: To, Action, ResourceURI, a fresh
    /// MessageID, the selectors and options of `resource`, OperationTimeout, MaxEnvelopeSize,
    /// locale and SessionId. Adjust it and pass it to [`Client::send`] for messages without a
    /// typed method.
    pub fn request_header(&self, action: &str, resource: &Resource) -> RequestHeader {
        self.header(action, resource)
    }

    fn header(&self, action: &str, resource: &Resource) -> RequestHeader {
        let mut h = RequestHeader::new(
            &self.endpoint.url(),
            action,
            &resource.uri,
            &new_message_id(),
        );
        h.selectors = resource.selectors.clone();
        h.options = resource.options.clone();
        h.operation_timeout = Some(self.options.operation_timeout);
        h.max_envelope_size = Some(self.options.max_envelope_size);
        h.locale = Some(self.options.locale.clone());
        h.session_id = Some(self.session_id.clone());
        h
    }

    fn authorization(&self) -> Result<Option<(HeaderName, HeaderValue)>, ClientError> {
        match &self.options.auth {
            // Negotiate authenticates the connection, not the request (see the transport).
            Auth::None | Auth::Negotiate(_) | Auth::Kerberos(_) | Auth::CredSsp(_) => Ok(None),
            Auth::Certificate => Ok(Some((
                hyper::header::AUTHORIZATION,
                HeaderValue::from_static(CERTIFICATE_AUTHORIZATION),
            ))),
            Auth::Basic(c) => {
                let value = c.to_authorization_value();
                let mut v = HeaderValue::from_str(&value).map_err(|_| {
                    ClientError::configuration(
                        "the user name or password cannot be sent in a header",
                    )
                })?;
                v.set_sensitive(true);
                Ok(Some((hyper::header::AUTHORIZATION, v)))
            }
        }
    }

    /// POST an envelope and return the reply, within the operation timeout plus network delay.
    async fn exchange(
        &self,
        xml: String,
        headers: Vec<(HeaderName, HeaderValue)>,
        relates_to: Option<&str>,
    ) -> Result<Option<Element>, ClientError> {
        let reply = self.round_trip(xml, headers).await?;
        response::interpret(&reply, relates_to)
    }

    async fn round_trip(
        &self,
        xml: String,
        headers: Vec<(HeaderName, HeaderValue)>,
    ) -> Result<crate::transport::HttpReply, ClientError> {
        self.round_trip_as(
            Bytes::from(xml),
            crate::transport::SOAP_CONTENT_TYPE,
            headers,
        )
        .await
    }

    /// [`Client::round_trip`] of a body already encoded as `content_type` says.
    async fn round_trip_as(
        &self,
        body: Bytes,
        content_type: &str,
        headers: Vec<(HeaderName, HeaderValue)>,
    ) -> Result<crate::transport::HttpReply, ClientError> {
        self.within_budget(self.transport.post_as(body, content_type, &headers))
            .await
    }

    /// Send any request built from `header` with `body` (serialised XML, may be empty) and
    /// return the body element of the answer (the first of [`Client::send_for_body`]'s). The
    /// building block of every operation.
    pub async fn send(
        &self,
        header: &RequestHeader,
        body: &str,
    ) -> Result<Option<Element>, ClientError> {
        Ok(self.send_for_body(header, body).await?.into_iter().next())
    }

    /// [`Client::send`] without reading the answer: the HTTP reply as the transport returned
    /// it, for a caller with a faster reader of its own (the shell's Receive, see
    /// `shell.rs`), which falls back to [`crate::response::interpret`].
    pub(crate) async fn send_raw(
        &self,
        header: &RequestHeader,
        body: &str,
    ) -> Result<crate::transport::HttpReply, ClientError> {
        let headers = self.authorization()?.into_iter().collect();
        self.round_trip(envelope(header, body), headers).await
    }

    /// [`Client::send_raw`], and the request of `next` (the next Receive of a command's
    /// output) sent on the same sealed connection before the answer is unsealed, when the
    /// sealed answer is at least half the MaxEnvelopeSize this client asks for: a server fills
    /// an answer that far only while output is waiting (see
    /// [`crate::transport::Transport::post_then`]). Read its answer with
    /// [`Client::finish_early`].
    pub(crate) async fn send_raw_then(
        &self,
        header: &RequestHeader,
        body: &str,
        next: Option<(&RequestHeader, &str)>,
    ) -> Result<crate::transport::ChainedReply, ClientError> {
        let (headers, next_body) = self.chain_parts(next)?;
        let sent = self.transport.post_then(
            Bytes::from(envelope(header, body)),
            crate::transport::SOAP_CONTENT_TYPE,
            &headers,
            self.follow_up(next_body.as_ref(), &headers),
        );
        self.within_budget(sent).await
    }

    /// The answer to a request [`Client::send_raw_then`] sent early, within the operation
    /// timeout plus network delay, and `next` sent early in turn under the same rule.
    pub(crate) async fn finish_early(
        &self,
        early: crate::transport::EarlyRequest,
        next: Option<(&RequestHeader, &str)>,
    ) -> Result<crate::transport::ChainedReply, ClientError> {
        let (headers, next_body) = self.chain_parts(next)?;
        let finished = self
            .transport
            .finish_early(early, self.follow_up(next_body.as_ref(), &headers));
        self.within_budget(finished).await
    }

    /// The headers of a chain's requests and the body of `next`, for [`Client::follow_up`].
    fn chain_parts(
        &self,
        next: Option<(&RequestHeader, &str)>,
    ) -> Result<(RequestHeaders, Option<Bytes>), ClientError> {
        let headers = self.authorization()?.into_iter().collect();
        let next_body = next.map(|(header, body)| Bytes::from(envelope(header, body)));
        Ok((headers, next_body))
    }

    /// The next request of a Receive chain, sent early when the sealed answer before it is at
    /// least half the MaxEnvelopeSize this client asks for.
    fn follow_up<'a>(
        &self,
        body: Option<&'a Bytes>,
        headers: &'a [(HeaderName, HeaderValue)],
    ) -> Option<crate::transport::FollowUp<'a>> {
        body.map(|body| crate::transport::FollowUp {
            body,
            content_type: crate::transport::SOAP_CONTENT_TYPE,
            headers,
            min_sealed_reply: usize::try_from(self.options.max_envelope_size / 2)
                .unwrap_or(usize::MAX),
        })
    }

    /// `exchange` within the operation timeout plus network delay; an abandoned exchange
    /// drops its connection, so a half-read answer never goes back to the pool.
    async fn within_budget<T>(
        &self,
        exchange: impl std::future::Future<Output = Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        let budget = self.options.operation_timeout + self.options.network_delay;
        match tokio::time::timeout(budget, exchange).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::Timeout {
                millis: budget.as_millis(),
            }),
        }
    }

    /// POST an event delivery (an `Events` batch, a `Heartbeat`, a `SubscriptionEnd`) that the
    /// caller built and encoded as `content_type` says (and compressed as `content_encoding`
    /// says: `SLDC`), and return what the subscriber answered: the Action of its envelope,
    /// which must relate to `message_id` (an `Ack`), or nothing for an empty 2xx
    /// (unacknowledged Push). A fault or an error status is an error. Sealed like every other
    /// request on a Negotiate/Kerberos connection over HTTP; the compression is inside the
    /// seal, as Windows sends it.
    pub async fn deliver(
        &self,
        body: Vec<u8>,
        content_type: &str,
        content_encoding: Option<&str>,
        message_id: &str,
    ) -> Result<DeliveryReply, ClientError> {
        let mut headers: Vec<(HeaderName, HeaderValue)> =
            self.authorization()?.into_iter().collect();
        if let Some(encoding) = content_encoding {
            let value = HeaderValue::from_str(encoding)
                .map_err(|_| ClientError::protocol(format!("bad Content-Encoding {encoding:?}")))?;
            headers.push((hyper::header::CONTENT_ENCODING, value));
        }
        let reply = self
            .round_trip_as(Bytes::from(body), content_type, headers)
            .await?;
        let envelope = response::interpret_envelope(&reply, Some(message_id))?;
        Ok(match envelope {
            Some(envelope) => DeliveryReply {
                action: envelope.action,
                body: envelope.body,
            },
            None => DeliveryReply {
                action: None,
                body: None,
            },
        })
    }

    /// Like [`Client::send`], but returns every element of `s:Body` (in order) rather than
    /// only the first: a WinRS CreateResponse holds `x:ResourceCreated` and `rsp:Shell`.
    pub async fn send_for_body(
        &self,
        header: &RequestHeader,
        body: &str,
    ) -> Result<Vec<Element>, ClientError> {
        let reply = self.send_raw(header, body).await?;
        let (first, mut rest) = response::interpret_all(&reply, Some(&header.message_id))?;
        if let Some(first) = first {
            rest.insert(0, first);
        }
        Ok(rest)
    }

    async fn operation(
        &self,
        action: &str,
        resource: &Resource,
        body: &str,
    ) -> Result<Option<Element>, ClientError> {
        let header = self.header(action, resource);
        self.send(&header, body).await
    }

    fn required(body: Option<Element>, what: &str) -> Result<Element, ClientError> {
        body.ok_or_else(|| ClientError::protocol(format!("the {what} response has an empty body")))
    }

    /// Identify. Without credentials this is the unauthenticated form (header
    /// `WSMANIDENTIFY: unauthenticated`); with credentials it authenticates. Returns
    /// `wsmid:IdentifyResponse`.
    pub async fn identify(&self) -> Result<Element, ClientError> {
        let headers = match (self.authorization()?, &self.options.auth) {
            (Some(a), _) => vec![a],
            (None, Auth::Negotiate(_) | Auth::Kerberos(_) | Auth::CredSsp(_)) => Vec::new(),
            (None, _) => vec![(
                HeaderName::from_static("wsmanidentify"),
                HeaderValue::from_static("unauthenticated"),
            )],
        };
        let body = self
            .exchange(wsman_proto::identify::request(), headers, None)
            .await?;
        let body = Self::required(body, "Identify")?;
        if !body.is(ns::IDENTITY, "IdentifyResponse") {
            return Err(ClientError::protocol(format!(
                "expected wsmid:IdentifyResponse, got {}",
                body.name
            )));
        }
        Ok(body)
    }

    /// WS-Transfer Get: the resource representation.
    pub async fn get(&self, resource: &Resource) -> Result<Element, ClientError> {
        let body = self.operation(action::GET, resource, "").await?;
        Self::required(body, "Get")
    }

    /// WS-Transfer Put with `body` (serialised XML). Returns the updated representation when
    /// the server sends one.
    pub async fn put(
        &self,
        resource: &Resource,
        body: &str,
    ) -> Result<Option<Element>, ClientError> {
        self.operation(action::PUT, resource, body).await
    }

    /// WS-Transfer Create with `body`. Returns `x:ResourceCreated` (an EPR of the new instance).
    pub async fn create(&self, resource: &Resource, body: &str) -> Result<Element, ClientError> {
        let body = self.operation(action::CREATE, resource, body).await?;
        Self::required(body, "Create")
    }

    /// WS-Transfer Delete.
    pub async fn delete(&self, resource: &Resource) -> Result<(), ClientError> {
        self.operation(action::DELETE, resource, "")
            .await
            .map(|_| ())
    }

    /// Custom action `ResourceURI/Method` with `<p:Method_INPUT xmlns:p="ResourceURI">` holding
    /// one child per parameter. Returns the output element (`p:Method_OUTPUT`).
    pub async fn invoke(
        &self,
        resource: &Resource,
        method: &str,
        parameters: &[(String, String)],
    ) -> Result<Element, ClientError> {
        let body = crate::body::invoke_body(&resource.uri, method, parameters)?;
        self.invoke_raw(resource, method, &body).await
    }

    /// Invoke with a body the caller serialised (`-file:`).
    pub async fn invoke_raw(
        &self,
        resource: &Resource,
        method: &str,
        body: &str,
    ) -> Result<Element, ClientError> {
        let action = format!("{}/{}", resource.uri.trim_end_matches('/'), method);
        let out = self.operation(&action, resource, body).await?;
        Self::required(out, "Invoke")
    }
}

mod enumeration;

#[cfg(test)]
#[path = "sharing_tests.rs"]
mod sharing_tests;
