//! The WS-Management service: listeners, the guard pipeline, authentication, dispatch, and
//! the one module mapping every error to an HTTP status and SOAP fault.
//!
//! # The guard order
//!
//! This is the one statement of what runs before authentication and in which order
//! (ARCHITECTURE.md points here). Every request passes these guards in this order; a guard
//! that refuses answers at once and the later ones never run. The names are
//! [`pipeline::GUARDS`], and each per-request guard is the step of that name in
//! `pipeline::process` (a test keeps the three equal).
//!
//! Per connection ([`listener`]):
//! 1. `address_filter`: a connection on a local address outside Service/IPv4Filter /
//!    IPv6Filter is closed before one byte is read ([`access`], logged at a bounded rate);
//!    connection limit: Service/MaxConnections across all listeners, lowered to what the
//!    open-file limit leaves room for ([`connection_limit`]); an extra connection is
//!    answered 503 with a Retry-After and closed (over HTTPS after a TLS handshake bounded at
//!    3 s), the others are unaffected (logged at warn once per 10 s, with a count)
//!    PROXY protocol: from an address in `[HTTP] ProxyProtocolFrom`, a PROXY v2 header is
//!    read first (bounded in size and time) and its client address is the connection's
//!    remote address from then on; from any other address, with balancers configured, a
//!    connection that starts with a header is closed ([`proxy_header`]; both refusals logged
//!    at a bounded rate per address)
//! 2. `tls_handshake`: bounded by [`listener::TLS_HANDSHAKE_TIMEOUT`] (HTTPS listeners)
//! 3. `request_head`: HTTP/1.1 with keep-alive; request headers bounded in size (64 KiB; more
//!    than 100 header lines is 431, hyper's bound) and in time by `[HTTP]
//!    IdleConnectionTimeout` (HTTP.sys's name and default, 120 s: the idle limit between
//!    requests, and the time a client has to send a request's headers)
//!
//! Per request ([`pipeline`]):
//! 4. `method`: POST, else 405
//! 5. `path`: `/` + URLPrefix or `/wsman-anon/identify` (the WS-Management endpoint), or an
//!    endpoint an engine claims (the collector's subscription manager,
//!    `/wsman/SubscriptionManager/WEC` or a subscription's own URIs, and its deliveries,
//!    `/wsman/subscriptions/<identifier>/...`: [`catalog::Catalog::endpoint`]), else 404
//! 6. `one_authorization`: a repeated Authorization header is 400
//! 7. `media_type`: Content-Type `application/soap+xml`, or an MS-WSMV sealed body
//!    (`multipart/encrypted`, `multipart/x-multi-encrypted`), or none at all (read as SOAP:
//!    pypsrp's empty handshake POST and every python-dracclient request have none); another
//!    type is 415
//! 8. `declared_size`: Content-Length over MaxEnvelopeSizekb × 1024 is 413 before any body
//!    byte is read
//! 9. `authentication`: from the headers alone ([`auth::gate`]): Basic, Negotiate/NTLM,
//!    Kerberos, CredSSP, and on HTTPS a client certificate; HTTP only with AllowUnencrypted or
//!    message encryption. Refused requests have their body drained (bounded, never parsed) and
//!    get 401 + one challenge per enabled scheme, connection kept. Exception:
//!    `WSMANIDENTIFY: unauthenticated` without credentials, whose body, at most
//!    [`pipeline::ANONYMOUS_BODY_LIMIT`] (16 KiB, else 413), is parsed only to check that it
//!    is an Identify. Requests without credentials are paced per address
//!    ([`throttle::UnauthenticatedPacing`]). Handshake legs ([`auth::leg`]) answer 401 with
//!    one `WWW-Authenticate: <scheme> <token>`; the completed handshake authenticates the
//!    connection (later requests carry no Authorization); Kerberos' 200 carries the
//!    mutual-authentication token. An encrypted body without a security context is 401
//! 10. `body`: chunked bodies counted and cut at the limit (413); the whole read bounded by
//!     Service/MaxPacketRetrievalTimeSeconds (408); an encrypted body is unsealed with the
//!     connection's context (400 and the context dropped when it cannot be); a plaintext body
//!     on an NTLM connection over HTTP without AllowUnencrypted is refused (500, as Windows);
//!     every answer to a sealed request is sealed, faults included; at the collector's
//!     endpoints an SLDC body is decompressed within the same limit (400 when it cannot be)
//! 11. `parse`: charset decode (UTF-8 / UTF-16, BOM first) -> envelope parse (bounded XML,
//!     linear in the input; bodies over 64 KiB are parsed on the blocking pool)
//! 12. `identify`: Identify at the WS-Management endpoint (any authenticated user)
//! 13. `authorization` ([`access`]): a client certificate's scope, AllowRemoteAccess (or a
//!     loopback peer), then RootSDDL (the WinRS and PowerShell resources: `[Security]
//!     ShellSDDL`; an engine that names a descriptor: that one) evaluated on the caller's
//!     SIDs; refused: `w:AccessDenied`, code 5, HTTP 500. The collector's engine decides for
//!     itself: each subscription's allow list (a forwarder is a machine, not an administrator)
//! 14. `dispatch`: the engine the catalog keys by (endpoint, typed operation) ([`catalog`]);
//!     responses over the request's MaxEnvelopeSize become `w:EncodingLimit` faults
//!
//! Nothing reaches the XML parser before guard 9 has accepted the request (OMI's
//! CVE-2021-38647 executed unauthenticated bodies).
//!
//! Every error becomes its status and fault in [`error`], and its response in [`response`].
//! Responses carry `Server: wsmand`, a Content-Length (never chunked), and the request's
//! charset.
#![forbid(unsafe_code)]

pub mod access;
pub mod addresses;
pub mod auth;
pub mod body;
pub mod catalog;
pub use engines::collector;
pub mod connection;
pub mod connection_limit;
pub mod control;
pub mod engine;
pub mod engines;
pub mod enumeration;
pub mod error;
pub mod identify;
pub mod listener;
pub mod live;
pub mod metrics;
pub mod pipeline;
pub mod principal;
pub mod proof;
pub mod proxy_header;
pub mod render;
pub mod response;
pub mod response_body;
pub mod server;
pub mod settings;
pub mod system;
pub mod throttle;
pub mod tls;
pub mod workers;

pub use auth::basic::CredentialVerifier;
pub use auth::Principal;
pub use error::ServiceError;
pub use live::LiveService;
pub use server::{ListenerTable, Server, ServerParts};
pub use settings::{Listener, ListenerAddress, ServiceSettings, Transport};
pub use system::{default_product_version, settings_from_config};
/// The tracing target of the shell engine's audit records (the daemon routes them).
pub use wsman_shell::AUDIT_TARGET;
