//! The WS-Management wire protocol, sans I/O.
//!
//! This crate parses and builds the messages WinRM speaks: SOAP 1.2 envelopes with
//! WS-Addressing and WS-Management headers, WS-Transfer, WS-Enumeration, Identify and typed
//! faults. It does no I/O and owns no clock or randomness: message ids are passed in. Every
//! parser of untrusted input is bounded ([`xml::Limits`]) and fuzzed (`fuzz/`).
//!
//! The pipe: bytes → [`charset::decode`] → [`envelope::parse_request`] → a typed
//! [`envelope::Request`] → handler → body XML → [`response::envelope`] or
//! [`response::fault_envelope`] → [`charset::encode`] → bytes.
#![forbid(unsafe_code)]

pub mod budget;
pub mod charset;
pub mod cim;
pub mod duration;
pub mod enumeration;
pub mod envelope;
pub mod eventing;
pub mod fault;
pub mod flat;
pub mod headers;
pub mod identify;
pub mod ns;
pub mod operation;
pub mod proxy_protocol;
pub mod refusal_log;
pub mod request;
pub mod response;
pub mod shell;
pub mod transfer;
pub mod wql;
pub mod xml;
pub mod xpress;

pub use envelope::{parse_request, Request, RequestError};
pub use fault::Fault;
pub use operation::{Action, Operation, Resource};
