//! Console sessions: 256-bit random ids (from the OS's CSPRNG), a fresh id at every login (an
//! id presented before login never becomes a session: no fixation), idle and absolute
//! timeouts, a CSRF token per session, and a bound on how many exist.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::RngCore as _;
use subtle::ConstantTimeEq as _;
use wsman_principal::{OwnerKey, Principal, PrincipalKind};

/// The console's own account store (its manager users), the store its manager accounts'
/// principals name, so that such an account is never taken for the OS user of its name.
pub const CONSOLE_ACCOUNTS: &str = "managers";

/// The principal of the console's manager account `name`.
pub fn manager_account(name: &str) -> Principal {
    Principal::console_account(CONSOLE_ACCOUNTS, name)
}

/// Most live sessions; the oldest is dropped to make room.
const MAX_SESSIONS: usize = 10_000;
/// Most live sessions of one user (one principal): past it a login is refused (429), so one
/// account cannot fill the service's sessions and push everyone else's out.
pub const MAX_SESSIONS_PER_USER: usize = 16;

/// A login refused: the user already has [`MAX_SESSIONS_PER_USER`] sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this user has {MAX_SESSIONS_PER_USER} sessions already: log out of one, or wait until one ends")]
pub struct TooManySessions;

/// 32 random bytes as 64 hex digits.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Constant-time comparison of two tokens.
pub fn tokens_equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A logged-in user.
#[derive(Clone, Debug)]
pub struct Session {
    /// Who logged in: a console manager account or a Linux user; what the session's jobs,
    /// terminals and streams are owned by.
    pub owner: OwnerKey,
    /// The uid an OS user runs as on this host (as PAM's helper reported it); none for a
    /// manager account.
    pub uid: Option<u32>,
    /// An OS user's Linux groups (names), as the OS reported them at login; none for a
    /// manager user.
    pub groups: Vec<String>,
    /// The token every change must carry (form field `csrf` or header `X-CSRF-Token`).
    pub csrf: String,
    created: Instant,
    last_seen: Instant,
}

impl Session {
    /// The user's name within its store (the OS or the console's accounts).
    pub fn user(&self) -> &str {
        self.owner.principal().name()
    }
}

/// How the audit names `principal`: an OS user as `os:NAME` (the notation of a role's
/// `Members`), a console manager account by name, so the two of one name are told apart.
pub fn audit_name(principal: &Principal) -> String {
    if principal.kind() == PrincipalKind::LinuxUser {
        format!("os:{}", principal.name())
    } else {
        principal.name().to_owned()
    }
}

/// How a login's audit line names the principal's kind (and an OS user's uid).
pub fn describe_login(principal: &Principal, uid: Option<u32>) -> String {
    match uid {
        Some(uid) => format!("{principal} uid {uid}"),
        None => principal.to_string(),
    }
}

/// All sessions of the service.
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    idle: Duration,
    lifetime: Duration,
}

impl Sessions {
    /// Sessions that end after `idle` without a request, or `lifetime` after login.
    pub fn new(idle: Duration, lifetime: Duration) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            idle,
            lifetime,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new session for `principal` (running as `uid`); `previous` (the id the browser
    /// sent, if any) is ended, so the id changes at every login. Returns the new id, or the
    /// refusal when `principal` has as many sessions as allowed.
    pub fn create(
        &self,
        principal: &Principal,
        uid: Option<u32>,
        groups: Vec<String>,
        previous: Option<&str>,
    ) -> Result<String, TooManySessions> {
        let now = Instant::now();
        let id = random_token();
        let mut map = self.lock();
        if let Some(previous) = previous {
            map.remove(previous);
        }
        let (idle, lifetime) = (self.idle, self.lifetime);
        map.retain(|_, s| !expired(s, now, idle, lifetime));
        let owner = principal.owner_key();
        let of_user = map.values().filter(|s| s.owner.is(&owner)).count();
        if of_user >= MAX_SESSIONS_PER_USER {
            return Err(TooManySessions);
        }
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.created)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(
            id.clone(),
            Session {
                owner,
                uid,
                groups,
                csrf: random_token(),
                created: now,
                last_seen: now,
            },
        );
        Ok(id)
    }

    /// The live session with this id (its idle clock restarted), `None` when unknown or
    /// expired (an expired one is removed).
    pub fn touch(&self, id: &str) -> Option<Session> {
        let now = Instant::now();
        let mut map = self.lock();
        let session = map.get_mut(id)?;
        if expired(session, now, self.idle, self.lifetime) {
            map.remove(id);
            return None;
        }
        session.last_seen = now;
        Some(session.clone())
    }

    /// Whether the session with this id is live, without restarting its idle clock (an
    /// open terminal checks this to end with its session).
    pub fn is_live(&self, id: &str) -> bool {
        let now = Instant::now();
        self.lock()
            .get(id)
            .is_some_and(|s| !expired(s, now, self.idle, self.lifetime))
    }

    /// Ends every session of `owner` (an administrator's decision); returns their ids, so
    /// what they hold can be ended too.
    pub fn end_user(&self, owner: &OwnerKey) -> Vec<String> {
        let mut map = self.lock();
        let ids: Vec<String> = map
            .iter()
            .filter(|(_, s)| s.owner.is(owner))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &ids {
            map.remove(id);
        }
        ids
    }

    /// Ends a session (logout).
    pub fn remove(&self, id: &str) -> Option<Session> {
        self.lock().remove(id)
    }
}

fn expired(session: &Session, now: Instant, idle: Duration, lifetime: Duration) -> bool {
    now.duration_since(session.last_seen) >= idle || now.duration_since(session.created) >= lifetime
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_256_bit_and_rotate() {
        let sessions = Sessions::new(Duration::from_secs(60), Duration::from_secs(600));
        let first = sessions
            .create(&manager_account("a"), None, Vec::new(), None)
            .unwrap();
        assert_eq!(first.len(), 64);
        let second = sessions
            .create(&manager_account("a"), None, Vec::new(), Some(&first))
            .unwrap();
        assert_ne!(first, second);
        assert!(sessions.touch(&first).is_none());
        assert!(sessions.touch(&second).is_some());
        assert!(sessions.is_live(&second));
        assert!(!sessions.is_live(&first));
        assert!(sessions.remove(&second).is_some());
        assert!(!sessions.is_live(&second));
        assert!(sessions.touch(&second).is_none());
    }

    #[test]
    fn timeouts_end_sessions() {
        let idle = Sessions::new(Duration::ZERO, Duration::from_secs(600));
        let id = idle
            .create(&manager_account("a"), None, Vec::new(), None)
            .unwrap();
        assert!(idle.touch(&id).is_none());
        let absolute = Sessions::new(Duration::from_secs(600), Duration::ZERO);
        let id = absolute
            .create(&manager_account("a"), None, Vec::new(), None)
            .unwrap();
        assert!(absolute.touch(&id).is_none());
    }

    #[test]
    fn a_user_has_a_bounded_number_of_sessions_kept_apart_by_kind() {
        let sessions = Sessions::new(Duration::from_secs(60), Duration::from_secs(600));
        let ids: Vec<String> = (0..MAX_SESSIONS_PER_USER)
            .map(|_| {
                sessions
                    .create(&manager_account("a"), None, Vec::new(), None)
                    .unwrap()
            })
            .collect();
        assert_eq!(
            sessions.create(&manager_account("a"), None, Vec::new(), None),
            Err(TooManySessions)
        );
        // The OS user of the same name, and another manager user, are not affected.
        assert!(sessions
            .create(&Principal::linux_user("a"), Some(1000), Vec::new(), None)
            .is_ok());
        assert!(sessions
            .create(&manager_account("b"), None, Vec::new(), None)
            .is_ok());
        // Logging in again from one of them replaces it; a logout makes room.
        assert!(sessions
            .create(&manager_account("a"), None, Vec::new(), Some(&ids[0]))
            .is_ok());
        sessions.remove(&ids[1]);
        assert!(sessions
            .create(&manager_account("a"), None, Vec::new(), None)
            .is_ok());
        // Ended by an administrator: every session of that user, and only of that user.
        assert_eq!(
            sessions.end_user(&manager_account("a").owner_key()).len(),
            MAX_SESSIONS_PER_USER
        );
        assert!(sessions
            .create(&manager_account("a"), None, Vec::new(), None)
            .is_ok());
        assert!(sessions
            .end_user(&Principal::linux_user("b").owner_key())
            .is_empty());
    }

    #[test]
    fn the_audit_names_the_kind_of_each_user_of_one_name() {
        let manager = manager_account("alice");
        let os_user = Principal::linux_user("alice");
        assert_eq!(describe_login(&manager, None), "console:alice@managers");
        assert_eq!(describe_login(&os_user, Some(1000)), "linux:alice uid 1000");
        assert_eq!(audit_name(&manager), "alice");
        assert_eq!(audit_name(&os_user), "os:alice");
    }
}
