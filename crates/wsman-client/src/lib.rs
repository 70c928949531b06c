//! A WS-Management (WinRM) client: the messages Windows clients send, over kept-alive HTTP/1.1
//! connections (plain or TLS) from a small pool, with typed operations and typed errors.
//!
//! ```no_run
//! # async fn demo() -> Result<(), wsman_client::ClientError> {
//! use wsman_client::{Auth, Client, ClientOptions, Endpoint, Resource};
//! let endpoint = Endpoint::parse("https://server.example.com", false)?;
//! let mut options = ClientOptions::default();
//! options.auth = Auth::Basic(wsman_auth::Credentials::new("admin", "secret"));
//! let client = Client::new(endpoint, options)?;
//! let config = client.get(&Resource::new("http://schemas.microsoft.com/wbem/wsman/1/config")).await?;
//! println!("{}", config.name);
//! # Ok(()) }
//! ```
//!
//! WinRS remote shells (open, run, send stdin, receive output as it comes, signal, close) are
//! in [`shell`]; the same operations on many hosts at once, results as each host finishes,
//! in [`fanout`]. What the `winrm` and `winrs` command lines share (connection switches, password
//! prompt, Windows-style error text) is the `wsman-cli` crate, which builds on this one.
//!
//! Every operation returns the parsed body element ([`wsman_proto::xml::Element`]) after
//! checking that `wsa:RelatesTo` equals the request's MessageID. Responses are bounded
//! ([`ClientOptions::max_response_bytes`]) and parsed with the protocol crate's XML limits.
#![forbid(unsafe_code)]

pub mod blocking;
pub mod body;
mod client;
pub mod credssp;
pub mod endpoint;
pub mod enumerate;
mod error;
pub mod events;
pub mod fanout;
mod initiator;
pub mod kerberos;
pub mod negotiate;
pub mod powershell;
mod response;
pub mod shell;
pub mod tls;
mod transport;

pub use blocking::BlockingClient;
pub use client::{Auth, Client, ClientOptions, DeliveryReply, Resource, CERTIFICATE_AUTHORIZATION};
pub use credssp::CredSspAuth;
pub use endpoint::{Endpoint, Scheme};
pub use enumerate::{EnumerateOptions, Filter, FilterBody};
pub use error::{ClientError, TlsFailure};
pub use events::{EventBatch, PullSubscription, SubscribeOptions};
pub use kerberos::{KerberosAuth, KerberosScheme};
pub use negotiate::{trusted_hosts_allows, NegotiateAuth};
pub use wsman_auth::initiator::TokenForm;
pub use wsman_auth::Credentials;
pub use wsman_buffers::BufferPool;
pub use wsman_proto::enumeration::EnumerationMode;
pub use wsman_proto::flat::{EnumeratedItem, FlatElement, FlatPage};
pub use wsman_proto::xml::Element;

/// Parse a SOAP fault envelope (as a server sends it) into [`ClientError::Fault`]; `None` when
/// the bytes hold no fault. Useful for tools that read recorded traffic.
pub fn fault_from_envelope(bytes: &[u8], status: u16) -> Option<ClientError> {
    let env = response::parse_envelope(bytes, None).ok()?;
    let body = env.body?;
    body.is(wsman_proto::ns::SOAP, "Fault")
        .then(|| response::fault_error(&body, status))
}
