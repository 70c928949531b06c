//! Checking a login: the backoff first (an address or user still waiting is not checked at
//! all), then the manager users (argon2id; an unknown name is verified against a dummy hash,
//! so it costs the same work and gets the same answer as a wrong password), then the OS
//! accounts. The hashing runs on the blocking pool, off the connection tasks.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use wsman_auth::AccountStore;
use wsman_config::mgmt::Credentials;

use crate::backoff::Backoff;

/// What a login attempt gets.
#[derive(Debug, PartialEq, Eq)]
pub enum LoginOutcome {
    /// Logged in, as this kind of user (`manager` or `os`).
    Accepted(&'static str),
    /// Wrong name or password (one answer for both).
    Refused,
    /// Too many failures: try again after this long.
    Wait(Duration),
}

/// The login checker.
pub struct Login {
    credentials: Credentials,
    managers: Arc<AccountStore>,
    backoff: Backoff,
}

impl Login {
    /// Checks against `managers` when `credentials` allows manager users.
    pub fn new(credentials: Credentials, managers: AccountStore) -> Self {
        Self {
            credentials,
            managers: Arc::new(managers),
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
        let accepted = match self.credentials {
            Credentials::OsOrManager if manager => Some("manager"),
            // OS accounts need the privileged PAM helper (docs/management-service.md: not
            // built yet); until it exists they are refused with the same answer.
            _ => {
                tracing::debug!(user, "OS credentials are not checked yet: no PAM helper");
                None
            }
        };
        match accepted {
            Some(kind) => {
                self.backoff.succeeded(user);
                LoginOutcome::Accepted(kind)
            }
            None => {
                self.backoff.failed(address, user);
                LoginOutcome::Refused
            }
        }
    }
}
