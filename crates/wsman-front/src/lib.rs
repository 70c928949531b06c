//! The one HTTP front door of wsmand's two HTTP services, the WinRM listeners (`wsman-server`)
//! and the management console (`wsmand-mgmt`): what a connection passes before a request
//! reaches the service, written once so that a hole closed here is closed for both, and
//! without the console depending on the server.
//!
//! In order: accepting ([`accept`]: a failed accept backed off and logged at a bounded rate),
//! the connection cap ([`slots`]: in all, lowered to what the open-file limit leaves, and per
//! client address; past it [`over_cap`] closes or answers), TLS from PEM files ([`tls`]) and
//! its handshake within a deadline, then HTTP/1.1 with a bounded request head ([`http`]: its
//! size, header lines and time; [`head`]: a head too large answered with the service's own
//! page). Refusals that cost the client nothing are logged at a bounded rate through
//! `wsman_proto::refusal_log` ([`refusals`]). What differs between the services (their
//! limits, the answer past the cap, client certificates, the key file's checks) is a
//! parameter of the caller; what a service does between the cap and TLS (the server's PROXY
//! header, the console's client rules) stays the service's.
#![forbid(unsafe_code)]

pub mod accept;
pub mod head;
pub mod http;
pub mod over_cap;
pub mod refusals;
pub mod slots;
pub mod tls;
