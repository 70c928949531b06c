//! Kerberos inside CredSSP: the server's GSS acceptor (`DIR/krb5.keytab`) behind
//! `wsman-auth`'s [`InnerKerberos`], so that Linux (PAM) users can delegate their password.
//! The principal maps to a Linux user exactly as for the `Kerberos` scheme; the CredSSP
//! acceptor then requires the delegated user to be that user, and [`super::credssp`] checks
//! the delegated password through PAM before the connection is authenticated.
//!
//! No channel binding here: the CredSSP public-key binding ties the context to the inner TLS
//! session. Every call blocks (keytab, replay cache, NSS): run on the blocking pool.

use std::sync::Arc;

use wsman_auth::credssp::{InnerKerberos, InnerKerberosStep};
use wsman_gss::{AcceptStep, KerberosContext};

use super::kerberos::KerberosService;

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
    fn step(&mut self, token: &[u8]) -> Result<InnerKerberosStep, String> {
        let established = match self.context.step(token).map_err(|e| e.to_string())? {
            AcceptStep::Continue(out) => return Ok(InnerKerberosStep::Continue(out)),
            AcceptStep::Complete(established) => established,
        };
        let principal = &established.principal;
        let user = self
            .service
            .map_principal(principal, established.local_name.as_deref())
            .ok_or_else(|| format!("no Linux user for principal {principal}"))?;
        match wsman_os::lookup_user(&user) {
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(format!(
                    "principal {principal} maps to Linux user {user}, which does not exist"
                ))
            }
            Err(e) => return Err(format!("user lookup: {e}")),
        }
        tracing::debug!(%principal, %user, "Kerberos inside CredSSP authenticated");
        Ok(InnerKerberosStep::Complete {
            account: user,
            final_token: established.token,
        })
    }

    fn wrap(&mut self, plain: &[u8]) -> Result<Vec<u8>, String> {
        self.context.wrap_token(plain).map_err(|e| e.to_string())
    }

    fn unwrap(&mut self, token: &[u8]) -> Result<Vec<u8>, String> {
        self.context.unwrap_token(token).map_err(|e| e.to_string())
    }
}
