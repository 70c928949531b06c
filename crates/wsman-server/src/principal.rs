//! Who a connection proved to be, resolved once: the identity, whether it is an
//! administrator, and the SIDs access checks are evaluated against.
//!
//! A module of its own below both `auth` (which makes principals) and `access` (which checks
//! them), so that neither reaches into the other.

use std::fmt;
use std::sync::Arc;

use wsman_auth::{Identity, IdentityKind};
use wsman_config::Sid;

/// The authenticated user of a connection, resolved once (admin check included).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Principal {
    /// Who proved the credentials (service account or Linux user).
    pub identity: Identity,
    /// Windows' BA: the identity's Linux user is uid 0 or a member of `wsmand-admins`.
    pub is_administrator: bool,
    /// The SIDs RootSDDL is evaluated against (see [`crate::access`]).
    pub sids: Arc<[wsman_config::Sid]>,
    /// The Kerberos principal the client proved (`WEB01$@EXAMPLE.COM`), when it authenticated
    /// with Kerberos: the collector checks the `Computer` of a forwarder's events against it.
    pub kerberos_principal: Option<String>,
    /// The typed principal (kind, realm or store, name) that owns what this caller opens:
    /// shells, pools, enumeration contexts, subscriptions. Set by how the caller
    /// authenticated, never from the account name alone.
    pub who: wsman_principal::Principal,
}

impl Principal {
    /// A principal with the SIDs every authenticated caller has (plus BA for an
    /// administrator); [`crate::access::resolve_principal`] adds the Linux user's.
    pub fn new(identity: Identity, is_administrator: bool) -> Self {
        let who = match identity.kind {
            IdentityKind::ServiceAccount => {
                wsman_principal::Principal::service_account(identity.name.clone())
            }
            _ => wsman_principal::Principal::linux_user(identity.name.clone()),
        };
        Self {
            who,
            identity,
            is_administrator,
            sids: base_sids(is_administrator).into(),
            kerberos_principal: None,
        }
    }

    /// The caller proved the Kerberos principal `principal` (`name@REALM`): it owns what it
    /// opens as that principal, not as the Linux user it maps to.
    pub fn via_kerberos(mut self, principal: &str) -> Self {
        self.who = wsman_principal::Principal::kerberos(principal);
        self.kerberos_principal = Some(principal.to_owned());
        self
    }

    /// The caller presented a certificate that the mapping of issuer `issuer` maps to its
    /// account.
    pub fn via_certificate(mut self, issuer: &str) -> Self {
        self.who = wsman_principal::Principal::certificate(issuer, self.identity.name.clone());
        self
    }

    /// Builder-style SID setter.
    pub fn with_sids(mut self, sids: Vec<wsman_config::Sid>) -> Self {
        self.sids = sids.into();
        self
    }
}

/// The name logs show: the account, and for a service account its run-as user.
impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.identity.kind, &self.identity.linux_user) {
            (IdentityKind::ServiceAccount, Some(linux_user)) => {
                write!(f, "{} (as {linux_user})", self.identity.name)
            }
            _ => f.write_str(&self.identity.name),
        }
    }
}

/// The SIDs every authenticated caller has: Everyone, Authenticated Users, NETWORK (WinRM
/// logons are network logons), plus Administrators when `is_administrator`.
pub fn base_sids(is_administrator: bool) -> Vec<Sid> {
    let mut out = vec![Sid::everyone(), Sid::authenticated_users(), Sid::network()];
    if is_administrator {
        out.push(Sid::builtin_administrators());
    }
    out
}

/// The SIDs of a caller whose Linux user is `uid` with groups `gids` (primary included):
/// [`base_sids`], BUILTIN\Users, `S-1-22-1-<uid>` and `S-1-22-2-<gid>` per group.
/// (BUILTIN\Remote Management Users is not derived: ACEs name Linux groups by Unix SID.)
pub fn linux_sids(uid: u32, gids: &[u32], is_administrator: bool) -> Vec<Sid> {
    let mut out = base_sids(is_administrator);
    out.push(Sid::builtin_users());
    out.push(Sid::unix_user(uid));
    for gid in gids {
        let sid = Sid::unix_group(*gid);
        if !out.contains(&sid) {
            out.push(sid);
        }
    }
    out
}
