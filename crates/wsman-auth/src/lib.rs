//! Authentication for wsmand: Basic credential parsing, the 401 challenge
//! set, the service's own account store, and the per-connection cache.
//!
//! This crate decides; it does no I/O beyond reading and writing
//! `accounts.toml`. It has no sockets, no async runtime and no `unsafe`:
//! the system password check (PAM) lives in `wsman-os` and is plugged in
//! through [`PasswordChecker`].
//!
//! Flow in the server, per TCP connection:
//!
//! 1. [`ChallengeConfig::basic_allowed`] says whether Basic may be used on
//!    this listener; if not, or without an `Authorization` header, answer
//!    401 with [`ChallengeConfig::challenges`].
//! 2. If the connection has a [`ConnectionAuth`] and
//!    [`ConnectionAuth::matches`] the header, the request is authenticated.
//! 3. Otherwise [`parse_basic_authorization`], then
//!    [`Authenticator::authenticate`] (blocking: use `spawn_blocking`), then
//!    store a new [`ConnectionAuth`].
//!
//! ```
//! use wsman_auth::{parse_basic_authorization, ConnectionAuth, Identity};
//!
//! let header = b"Basic YWxpY2U6c2VjcmV0"; // alice:secret
//! let credentials = parse_basic_authorization(header).unwrap();
//! assert_eq!(credentials.user, "alice");
//! let cache = ConnectionAuth::new(header, Identity::linux_user("alice"));
//! assert!(cache.matches(header).is_some());
//! ```

#![forbid(unsafe_code)]

/// rustls, for [`provider_signature_checks!`] in crates that name it through this one.
#[doc(hidden)]
pub use rustls as __rustls;

pub mod accounts;
pub mod authenticator;
pub mod authorization;
pub mod basic;
pub mod challenge;
pub mod channel_binding;
pub mod connection;
pub mod credssp;
pub mod initiator;
pub mod keytab;
pub mod negotiate_route;
pub mod ntlm;
mod rustls_verify;
pub mod sealing;
#[cfg(test)]
mod test_accounts;

pub use accounts::{
    validate_account_name, Account, AccountError, AccountFile, AccountStore, AccountsChange,
};
pub use authenticator::{AuthError, Authenticator, Identity, IdentityKind, PasswordChecker};
pub use basic::{bare_linux_name, parse_basic_authorization, BasicError, Credentials};
pub use challenge::{ChallengeConfig, BASIC_CHALLENGE};
pub use connection::ConnectionAuth;
pub use initiator::{ClientCredentials, InitiatorError, NegotiateInitiator, TokenForm};
pub use sealing::{
    is_sealed_content_type, seal_body, seal_body_parts, seal_body_parts_into, unseal_body,
    unseal_body_in_place, unseal_body_into, MessageSealer, SealError, SealedBody, UnsealedBody,
    UnsealedLabels,
};
