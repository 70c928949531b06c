//! Who an authenticated caller is, as a typed principal, and the one key that ownership is
//! compared on and quotas are counted by.
//!
//! A bare account name is not an identity: the Kerberos principal `backup@EXAMPLE.COM`, the
//! Linux user `backup` that logged in through PAM and the service account `backup` of
//! `accounts.toml` (which may run as root) are three callers. Shells, PowerShell pools,
//! enumeration contexts and subscriptions are owned by an [`OwnerKey`], which only
//! [`Principal::owner_key`] makes, so that no engine can compare names by accident.
#![forbid(unsafe_code)]

use std::fmt;

/// How the caller proved who it is; part of its identity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum PrincipalKind {
    /// A Linux account whose password PAM checked.
    #[default]
    LinuxUser,
    /// A Kerberos principal (mapped to a Linux user for running processes).
    Kerberos,
    /// A service account of `accounts.toml` (password or NTLM).
    ServiceAccount,
    /// A client certificate mapped to an account by a `CertMapping` entry.
    Certificate,
    /// An event forwarder of the collector, by the client name it proved (several may share
    /// one account).
    Forwarder,
    /// A manager account of the management console's own account store (not an OS user).
    ConsoleAccount,
}

impl PrincipalKind {
    /// The word logs and the audit use.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::LinuxUser => "linux",
            PrincipalKind::Kerberos => "kerberos",
            PrincipalKind::ServiceAccount => "account",
            PrincipalKind::Certificate => "certificate",
            PrincipalKind::Forwarder => "forwarder",
            PrincipalKind::ConsoleAccount => "console",
        }
    }
}

/// An authenticated caller: its kind, the realm or store that vouches for it, and its name
/// there. The default (a Linux user without a name) stands for no caller, in tests.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Principal {
    kind: PrincipalKind,
    realm: String,
    name: String,
}

impl Principal {
    /// A Linux user checked by PAM on this host.
    pub fn linux_user(name: impl Into<String>) -> Self {
        Self::new(PrincipalKind::LinuxUser, "", name)
    }

    /// A service account of this host's `accounts.toml`.
    pub fn service_account(name: impl Into<String>) -> Self {
        Self::new(PrincipalKind::ServiceAccount, "", name)
    }

    /// The Kerberos principal `principal` (`name@REALM`, the name possibly with `/`
    /// instances); without a realm, the realm is empty.
    pub fn kerberos(principal: &str) -> Self {
        let (name, realm) = principal.rsplit_once('@').unwrap_or((principal, ""));
        Self::new(PrincipalKind::Kerberos, realm, name)
    }

    /// The account `name` that a certificate of `issuer` (the mapping's issuer thumbprint)
    /// was mapped to.
    pub fn certificate(issuer: impl Into<String>, name: impl Into<String>) -> Self {
        Self::new(PrincipalKind::Certificate, issuer, name)
    }

    /// The event forwarder that proved the client name `client_name`.
    pub fn forwarder(client_name: impl Into<String>) -> Self {
        Self::new(PrincipalKind::Forwarder, "", client_name)
    }

    /// The manager account `name` of the console's account store `store`.
    pub fn console_account(store: impl Into<String>, name: impl Into<String>) -> Self {
        Self::new(PrincipalKind::ConsoleAccount, store, name)
    }

    fn new(kind: PrincipalKind, realm: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            kind,
            realm: realm.into(),
            name: name.into(),
        }
    }

    pub fn kind(&self) -> PrincipalKind {
        self.kind
    }

    /// The Kerberos realm, the certificate's issuer; empty for the host's own accounts.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The name within its realm or store (`alice` of `alice@EXAMPLE.COM`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ownership is compared on and per-caller quotas are counted by.
    pub fn owner_key(&self) -> OwnerKey {
        OwnerKey(self.clone())
    }
}

/// `linux:alice`, `kerberos:alice@EXAMPLE.COM`, `account:backup`, `certificate:alice@<issuer>`.
impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.name)?;
        if !self.realm.is_empty() {
            write!(f, "@{}", self.realm)?;
        }
        Ok(())
    }
}

/// What owns a shell, a pool, an enumeration context or a subscription: equal only for the
/// same kind, realm or store, and name. Made only by [`Principal::owner_key`]; there is no
/// conversion from a bare name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OwnerKey(Principal);

impl OwnerKey {
    /// Whether `caller` is this owner: the one ownership check.
    pub fn is(&self, caller: &OwnerKey) -> bool {
        self == caller
    }

    /// The principal the key was made from.
    pub fn principal(&self) -> &Principal {
        &self.0
    }
}

impl fmt::Display for OwnerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_name_of_another_kind_is_another_owner() {
        let kerberos = Principal::kerberos("backup@EXAMPLE.COM").owner_key();
        let account = Principal::service_account("backup").owner_key();
        let linux = Principal::linux_user("backup").owner_key();
        assert!(!kerberos.is(&account));
        assert!(!account.is(&linux));
        assert!(!linux.is(&kerberos));
        assert!(account.is(&Principal::service_account("backup").owner_key()));
        let console = Principal::console_account("managers", "backup").owner_key();
        assert!(!console.is(&linux) && !console.is(&account));
        assert_eq!(console.to_string(), "console:backup@managers");
    }

    #[test]
    fn the_realm_is_part_of_a_kerberos_principal() {
        let one = Principal::kerberos("alice@ONE.EXAMPLE").owner_key();
        let other = Principal::kerberos("alice@OTHER.EXAMPLE").owner_key();
        assert!(!one.is(&other));
        assert_eq!(one.to_string(), "kerberos:alice@ONE.EXAMPLE");
        assert_eq!(Principal::kerberos("HTTP/web@R").name(), "HTTP/web");
    }
}
