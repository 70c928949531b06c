//! Checking a login: the backoff first (an address or user still waiting is not checked at
//! all), then the manager users (argon2id; an unknown name is verified against a dummy hash,
//! so it costs the same work and gets the same answer as a wrong password), then the OS
//! accounts through the privileged PAM helper (`pam_helper`), which also decides the login
//! group. The hashing runs on the blocking pool, off the connection tasks.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use wsman_auth::AccountStore;
use wsman_config::mgmt::Credentials;

use crate::backoff::Backoff;
use crate::pam_helper::{HelperClient, Verdict};

/// What a login attempt gets.
#[derive(Debug, PartialEq, Eq)]
pub enum LoginOutcome {
    /// Logged in, as this kind of user (`manager` or `os`), with an OS user's groups by name.
    Accepted(&'static str, Vec<String>),
    /// Wrong name or password (one answer for both).
    Refused,
    /// Too many failures: try again after this long.
    Wait(Duration),
}

/// The login checker.
pub struct Login {
    credentials: Credentials,
    managers: Arc<AccountStore>,
    os_accounts: Option<HelperClient>,
    backoff: Backoff,
}

impl Login {
    /// Checks against `managers` when `credentials` allows manager users, and OS accounts
    /// through the PAM helper (none: every OS login is refused).
    pub fn new(
        credentials: Credentials,
        managers: AccountStore,
        os_accounts: Option<HelperClient>,
    ) -> Self {
        Self {
            credentials,
            managers: Arc::new(managers),
            os_accounts,
            backoff: Backoff::default(),
        }
    }

    /// One attempt from `address`.
    pub async fn check(&self, address: IpAddr, user: &str, password: &str) -> LoginOutcome {
        let wait = self.backoff.wait(address, user);
        if !wait.is_zero() {
            return LoginOutcome::Wait(wait);
        }
        let managers = Arc::clone(&self.managers);
        let (name, secret) = (
            user.to_owned(),
            zeroize::Zeroizing::new(password.to_owned()),
        );
        // Always verified, even when manager users are off: the same work for every name.
        let manager =
            tokio::task::spawn_blocking(move || managers.verify(&name, &secret).is_some())
                .await
                .unwrap_or(false);
        let accepted = if self.credentials == Credentials::OsOrManager && manager {
            Some(("manager", Vec::new()))
        } else {
            self.os_account(user, password).await
        };
        match accepted {
            Some((kind, groups)) => {
                self.backoff.succeeded(user);
                LoginOutcome::Accepted(kind, groups)
            }
            None => {
                self.backoff.failed(address, user);
                LoginOutcome::Refused
            }
        }
    }

    /// `Some("os")` when the PAM helper accepts the user (password, account, login group).
    /// An OS account's check by the PAM helper: `os` and the user's groups by name.
    async fn os_account(&self, user: &str, password: &str) -> Option<(&'static str, Vec<String>)> {
        let Some(helper) = &self.os_accounts else {
            tracing::warn!(user, "OS login refused: the PAM helper is not running");
            return None;
        };
        match helper.check(user, password).await {
            Ok(Verdict::Accepted { uid, groups }) => {
                tracing::debug!(user, uid, "the PAM helper accepted an OS login");
                let names = tokio::task::spawn_blocking(move || group_names(&groups))
                    .await
                    .unwrap_or_default();
                Some(("os", names))
            }
            Ok(Verdict::Refused) => None,
            Err(error) => {
                tracing::error!(user, %error, "the PAM helper failed; OS logins are refused");
                None
            }
        }
    }
}

/// The names of the group ids the PAM helper reported (the user's primary and supplementary
/// groups, from the OS at this login), looked up through NSS; an id without a name is left out.
fn group_names(ids: &[u32]) -> Vec<String> {
    ids.iter()
        .filter_map(
            |&gid| match nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid)) {
                Ok(Some(group)) => Some(group.name),
                Ok(None) => None,
                Err(error) => {
                    tracing::warn!(gid, %error, "group lookup failed");
                    None
                }
            },
        )
        .collect()
}
