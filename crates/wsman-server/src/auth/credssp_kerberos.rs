//! Kerberos inside CredSSP: the server's GSS acceptor (`DIR/krb5.keytab`) behind
//! `wsman-auth`'s [`InnerKerberos`], so that Linux (PAM) users can delegate their password.
//! The principal maps to a Linux user exactly as for the `Kerberos` scheme; the CredSSP
//! acceptor then requires the delegated user to be that user, and [`super::credssp`] checks
//! the delegated password through PAM before the connection is authenticated.
//!
//! No channel binding here: the CredSSP public-key binding ties the context to the inner TLS
//! session. Every call blocks (keytab, replay cache, NSS): run on the blocking pool.

use std::sync::Arc;

use wsman_auth::credssp::{InnerKerberos, InnerKerberosError, InnerKerberosStep};
use wsman_gss::{AcceptStep, GssError, KerberosContext};
use wsman_os::UserError;

use super::kerberos::KerberosService;

/// Why Kerberos inside CredSSP failed; logged, never carries a key.
#[derive(Debug, thiserror::Error)]
pub enum CredSspKerberosError {
    #[error(transparent)]
    Gss(#[from] GssError),
    #[error("no Linux user for principal {principal}")]
    Unmapped { principal: String },
    #[error("principal {principal} maps to Linux user {user}, which does not exist")]
    NoSuchUser { principal: String, user: String },
    #[error("user lookup: {0}")]
    Lookup(#[from] UserError),
}

/// One CredSSP handshake's Kerberos context.
pub struct CredSspKerberos {
    service: Arc<KerberosService>,
    context: KerberosContext,
}

impl CredSspKerberos {
    pub fn new(service: Arc<KerberosService>) -> Self {
        let context = service.unbound_context();
        Self { service, context }
    }
}

impl InnerKerberos for CredSspKerberos {
    fn step(&mut self, token: &[u8]) -> Result<InnerKerberosStep, InnerKerberosError> {
        Ok(self.accept(token)?)
    }

    fn wrap(&mut self, plain: &[u8]) -> Result<Vec<u8>, InnerKerberosError> {
        Ok(self.context.wrap_token(plain)?)
    }

    fn unwrap(&mut self, token: &[u8]) -> Result<Vec<u8>, InnerKerberosError> {
        Ok(self.context.unwrap_token(token)?)
    }
}

impl CredSspKerberos {
    fn accept(&mut self, token: &[u8]) -> Result<InnerKerberosStep, CredSspKerberosError> {
        let established = match self.context.step(token)? {
            AcceptStep::Continue(out) => return Ok(InnerKerberosStep::Continue(out)),
            AcceptStep::Complete(established) => established,
        };
        let principal = &established.principal;
        let user = self
            .service
            .map_principal(principal, established.local_name.as_deref())
            .ok_or_else(|| CredSspKerberosError::Unmapped {
                principal: principal.to_string(),
            })?;
        if wsman_os::lookup_user(&user)?.is_none() {
            return Err(CredSspKerberosError::NoSuchUser {
                principal: principal.to_string(),
                user,
            });
        }
        tracing::debug!(%principal, %user, "Kerberos inside CredSSP authenticated");
        Ok(InnerKerberosStep::Complete {
            account: user,
            final_token: established.token,
        })
    }
}
