//! The one HTTP front door of wsmand's two HTTP services, the WinRM listeners (`wsman-server`)
//! and the console (`wsmand-mgmt`), so that a hole closed here is closed for both, without the
//! console depending on the server. In order: [`accept`] (failures backed off, logged at a
//! bounded rate), the cap ([`slots`]; [`over_cap`] answers past it), TLS from PEM files
//! ([`tls`]), then HTTP/1.1 with a bounded head ([`http`], [`head`]); connection-level refusals
//! are logged through the one refusal rate limit ([`refusals`]). Each service's limits are
//! its parameters; what it does between the cap and TLS (a PROXY header, client rules) stays
//! its own.
#![forbid(unsafe_code)]

pub mod accept;
pub mod head;
pub mod http;
pub mod over_cap;
pub mod refusals;
pub mod slots;
pub mod tls;
