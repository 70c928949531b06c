//! Negotiate/NTLM as a [`Handshake`]: one `wsman-auth` acceptor per connection, the service
//! account it proves (NT hashes from `accounts.toml`), and the NTLM sealer of MS-WSMV bodies.
//!
//! After the handshake the connection stays authenticated: later requests carry no
//! Authorization header (as with Windows); a new NEGOTIATE restarts authentication. A failed
//! handshake cannot be continued: a replayed AUTHENTICATE finds no CHALLENGE to answer.

use wsman_auth::ntlm::{AcceptStep, ChannelBindingPolicy, NegotiateAcceptor, NtlmError};
use wsman_auth::{AccountStore, Identity};

use super::accounts::AccountCache;
use super::{Channel, Completed, Detail, Handshake, Mechanism, Proof, Refusal, RefusalKind, Step};
use crate::settings::{ServiceSettings, Transport};

/// Whether Negotiate may be used here at all (Service/Auth/Negotiate, read live).
pub fn enabled(settings: &ServiceSettings) -> bool {
    settings.auth_negotiate
}

/// One NTLM handshake.
pub struct NtlmHandshake {
    acceptor: NegotiateAcceptor,
}

impl NtlmHandshake {
    /// A handshake for a NEGOTIATE message on `channel`, with the channel binding policy of
    /// `settings`.
    pub fn new(channel: &Channel, settings: &ServiceSettings) -> Self {
        let policy = ChannelBindingPolicy {
            hardening: settings.cbt_hardening,
            expected: (channel.transport == Transport::Https)
                .then_some(channel.channel_binding)
                .flatten(),
        };
        Self {
            acceptor: NegotiateAcceptor::new(policy, &host_short_name()),
        }
    }
}

impl Handshake for NtlmHandshake {
    fn mechanism(&self) -> Mechanism {
        Mechanism::Ntlm
    }

    fn attempted_user(&self) -> Option<String> {
        self.acceptor.attempted_user().map(str::to_owned)
    }

    fn step(&mut self, token: &[u8], accounts: &AccountCache) -> Step {
        let store = match accounts.current() {
            Ok(store) => store,
            Err(error) => return Step::Refused(Refusal::backend(error.to_string())),
        };
        let done = match self.acceptor.step(token, &*store) {
            Ok(AcceptStep::Continue(out)) => return Step::Continue(out),
            Ok(AcceptStep::Complete(done)) => done,
            Err(error) => {
                let kind = if error.is_credential_failure() {
                    RefusalKind::Credentials
                } else {
                    RefusalKind::Protocol
                };
                let user = self.acceptor.attempted_user().unwrap_or("").to_owned();
                return Step::Refused(Refusal::new(user, explain(&error, &store), kind));
            }
        };
        let run_as = store.get(&done.account).and_then(|a| a.run_as);
        let identity = Identity::service_account(done.account.clone(), run_as);
        let principal = match crate::access::resolve_principal(identity) {
            Ok(principal) => principal,
            Err(e) => return Step::Refused(Refusal::backend(format!("user lookup: {e}"))),
        };
        let wire = if done.wire_domain.is_empty() {
            done.wire_user.clone()
        } else {
            format!("{}\\{}", done.wire_domain, done.wire_user)
        };
        Step::Complete(Completed {
            proof: Proof::Principal(principal),
            sealer: done.sealer,
            final_token: done.final_token,
            detail: Detail::Ntlm { client_user: wire },
        })
    }
}

/// The reason logged for a refusal; for an unknown user, why NTLM cannot work for it.
fn explain(error: &NtlmError, store: &AccountStore) -> String {
    let NtlmError::UnknownUser { user } = error else {
        return error.to_string();
    };
    if store.get(user).is_some() {
        return format!(
            "service account '{user}' has no NT hash: enable NTLM with \
             `wsmand account passwd {user} --password-stdin --ntlm`"
        );
    }
    if wsman_os::lookup_user(user).ok().flatten().is_some() {
        return format!(
            "'{user}' is a Linux (PAM) user: NTLM needs the user's NT hash, which PAM cannot \
             provide; use Basic over HTTPS, or a service account created with --ntlm"
        );
    }
    error.to_string()
}

/// This host's short name (the NetBIOS-style name local-account clients put as domain).
fn host_short_name() -> String {
    wsman_os::host_name()
        .ok()
        .and_then(|name| name.split('.').next().map(str::to_ascii_uppercase))
        .unwrap_or_default()
}
