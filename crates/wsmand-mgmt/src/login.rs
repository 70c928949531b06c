//! Checking a login: the backoff first (an address or user still waiting is not checked at
//! all), then the manager users (argon2id; an unknown name is verified against a dummy hash,
//! so it costs the same work and gets the same answer as a wrong password), then the OS
//! accounts through the privileged PAM helper (`pam_helper`), which also decides the login
//! group. The hashing runs on the blocking pool, off the connection tasks.
//!
//! The helper checks one password at a time, a refusal taking at least a second, so it is
//! the scarce resource a flood would aim at: a name that is no OS account in the login group
//! (looked up here, unprivileged, through NSS) never reaches it and is refused after the same
//! floor, and each address has at most [`MAX_CHECKS_PER_ADDRESS`] checks under way (more are
//! answered "wait" unchecked), so neither unknown names nor one address can starve the
//! helper's queue for everyone else.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use wsman_auth::AccountStore;
use wsman_config::mgmt::Credentials;

use crate::backoff::Backoff;
use crate::pam_helper::{HelperClient, Verdict, REFUSAL_FLOOR};
use wsman_front::slots::AddressSlots;

/// Most login checks under way at once from one address.
pub const MAX_CHECKS_PER_ADDRESS: usize = 4;
/// Most addresses with checks under way (the table's bound; past it, a new address waits).
const MAX_CHECKING_ADDRESSES: usize = 4096;

/// What a login attempt gets.
#[derive(Debug, PartialEq, Eq)]
pub enum LoginOutcome {
    /// Logged in as this user, who runs as this uid (an OS user), with an OS user's groups
    /// by name.
    Accepted(Accepted),
    /// Wrong name or password (one answer for both).
    Refused,
    /// Too many failures: try again after this long.
    Wait(Duration),
}

/// Who a login proved to be.
#[derive(Debug, PartialEq, Eq)]
pub struct Accepted {
    /// A console manager account, or a Linux user checked by PAM.
    pub principal: wsman_principal::Principal,
    /// The uid a Linux user runs as; none for a manager account.
    pub uid: Option<u32>,
    /// A Linux user's groups by name.
    pub groups: Vec<String>,
}

/// The login checker.
pub struct Login {
    credentials: Credentials,
    managers: Arc<AccountStore>,
    os_accounts: Option<HelperClient>,
    /// The Linux group whose members may log in with OS credentials (empty: nobody).
    os_login_group: String,
    backoff: Backoff,
    /// Checks under way, by address.
    checking: AddressSlots,
}

impl Login {
    /// Checks against `managers` when `credentials` allows manager users, and OS accounts
    /// of `os_login_group` through the PAM helper (none: every OS login is refused).
    pub fn new(
        credentials: Credentials,
        managers: AccountStore,
        os_accounts: Option<HelperClient>,
        os_login_group: &str,
    ) -> Self {
        Self {
            credentials,
            managers: Arc::new(managers),
            os_accounts,
            os_login_group: os_login_group.to_owned(),
            backoff: Backoff::default(),
            checking: AddressSlots::new(MAX_CHECKS_PER_ADDRESS, MAX_CHECKING_ADDRESSES),
        }
    }

    /// Whether manager users may log in (`Credentials = os+manager`), as the login page says.
    pub fn accepts_manager_users(&self) -> bool {
        self.credentials == Credentials::OsOrManager
    }

    /// One attempt from `address`.
    pub async fn check(&self, address: IpAddr, user: &str, password: &str) -> LoginOutcome {
        let wait = self.backoff.wait(address, user);
        if !wait.is_zero() {
            return LoginOutcome::Wait(wait);
        }
        let Some(_slot) = self.checking.take(address) else {
            return LoginOutcome::Wait(REFUSAL_FLOOR);
        };
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
            Some(Accepted {
                principal: crate::sessions::manager_account(user),
                uid: None,
                groups: Vec::new(),
            })
        } else {
            self.os_account(user, password).await
        };
        match accepted {
            Some(accepted) => {
                self.backoff.succeeded(address, user);
                LoginOutcome::Accepted(accepted)
            }
            None => {
                self.backoff.failed(address, user);
                LoginOutcome::Refused
            }
        }
    }

    /// An OS account's check by the PAM helper: the Linux user, its uid and its groups by name.
    async fn os_account(&self, user: &str, password: &str) -> Option<Accepted> {
        let Some(helper) = &self.os_accounts else {
            tracing::warn!(user, "OS login refused: the PAM helper is not running");
            return None;
        };
        let (name, group) = (user.to_owned(), self.os_login_group.clone());
        let canonical = tokio::task::spawn_blocking(move || may_log_in(&name, &group))
            .await
            .ok()
            .flatten();
        let Some(canonical) = canonical else {
            // The helper's answer to such a name, without its time: the same floor.
            tokio::time::sleep(REFUSAL_FLOOR).await;
            return None;
        };
        match helper.check(user, password).await {
            Ok(Verdict::Accepted { uid, groups }) => {
                tracing::debug!(user, uid, "the PAM helper accepted an OS login");
                let names = tokio::task::spawn_blocking(move || group_names(&groups))
                    .await
                    .unwrap_or_default();
                // The account's own name from NSS, not the name as typed: where NSS ignores
                // case (SSSD with AD), `ALICE` is `alice`, and a Deny on `os:alice` holds.
                Some(Accepted {
                    principal: wsman_principal::Principal::linux_user(&canonical),
                    uid: Some(uid),
                    groups: names,
                })
            }
            Ok(Verdict::Refused) => None,
            Err(error) => {
                tracing::error!(user, %error, "the PAM helper failed; OS logins are refused");
                None
            }
        }
    }
}

/// The account's canonical name (NSS's `pw_name`) when `user` is an OS account in `group`:
/// only such a name is worth the PAM helper's time (the helper checks the group again, after
/// PAM), and the session is that account's, under the name NSS gives it.
pub(crate) fn may_log_in(user: &str, group: &str) -> Option<String> {
    if group.is_empty() || !crate::pam_helper::is_user_name(user) {
        return None;
    }
    match wsman_os::lookup_user(user) {
        Ok(Some(account)) => {
            let member = wsman_os::is_member_of_group(&account, group) == Ok(true);
            if !member {
                tracing::info!(
                    user,
                    group,
                    "OS login refused before the password check: not in the login group"
                );
            }
            member.then_some(account.name)
        }
        // No line of its own: a flood of made-up names must not grow the log (the failed
        // login is audited, rate-limited).
        Ok(None) => None,
        Err(error) => {
            tracing::warn!(user, %error, "user lookup failed");
            None
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

#[cfg(test)]
mod tests {
    use super::may_log_in;

    /// The session's name is NSS's for the account (`root` is in the group `root`); a name NSS
    /// does not know, or an account outside the group, gets no login at all.
    #[test]
    fn an_os_login_takes_the_accounts_name_from_nss() {
        assert_eq!(may_log_in("root", "root").as_deref(), Some("root"));
        assert_eq!(may_log_in("no-such-user-x9", "root"), None);
        assert_eq!(may_log_in("root", ""), None);
    }
}
