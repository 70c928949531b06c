//! What the open enumeration contexts may hold: how many per user and in all, and how many
//! bytes per user and in all. A new Enumerate past a limit is refused with Windows' quota fault;
//! nothing already open is evicted to make room, so no caller can push out another's context.

use wsman_principal::OwnerKey;
use wsman_proto::fault::code;
use wsman_proto::refusal_log::{RefusalLimits, RefusalLog};
use wsman_proto::Fault;

use crate::error::operations_quota_fault;

/// Bytes counted for each item besides its text (the `String` and its queue slot).
pub const ITEM_OVERHEAD: usize = 32;

/// Limits on the contexts kept at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContextLimits {
    /// Open contexts of one user (Windows counts an open enumeration as one of the user's
    /// concurrent operations).
    pub per_user: usize,
    /// Open contexts of every user.
    pub total: usize,
    /// Bytes the contexts of one user hold.
    pub per_user_bytes: usize,
    /// Bytes every context holds.
    pub total_bytes: usize,
}

impl Default for ContextLimits {
    /// 100 contexts and 64 MiB per user, 1,024 contexts and 256 MiB in all: a monitoring
    /// client keeps a handful open, and the daemon's memory stays within a few hundred MiB
    /// whatever its clients do.
    fn default() -> Self {
        Self {
            per_user: 100,
            total: 1024,
            per_user_bytes: 64 << 20,
            total_bytes: 256 << 20,
        }
    }
}

/// What the contexts already open hold, for one owner and in all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Held {
    pub owner_contexts: usize,
    pub owner_bytes: usize,
    pub contexts: usize,
    pub bytes: usize,
}

impl Held {
    /// Add up `entries` (owner, bytes) for `owner`.
    pub fn of<'a>(owner: &OwnerKey, entries: impl Iterator<Item = (&'a OwnerKey, usize)>) -> Self {
        entries.fold(Self::default(), |mut held, (entry_owner, bytes)| {
            held.contexts += 1;
            held.bytes += bytes;
            if entry_owner.is(owner) {
                held.owner_contexts += 1;
                held.owner_bytes += bytes;
            }
            held
        })
    }
}

impl ContextLimits {
    /// Whether one more context of `bytes` may be kept beside what is `held`; the quota fault
    /// when not.
    pub fn admit(&self, held: Held, bytes: usize) -> Result<(), Fault> {
        if held.owner_contexts >= self.per_user {
            return Err(operations_quota_fault(self.per_user));
        }
        if held.contexts >= self.total {
            return Err(Fault::quota_limit(
                code::QUOTA_LIMIT,
                format!("The WS-Management service cannot process the request. The maximum number of concurrent enumerations on this system ({}) has been exceeded. Release enumerations or retry the request later. ", self.total),
            ));
        }
        if held.owner_bytes.saturating_add(bytes) > self.per_user_bytes
            || held.bytes.saturating_add(bytes) > self.total_bytes
        {
            return Err(Fault::quota_limit(
                code::QUOTA_LIMIT,
                format!("The WS-Management service cannot process the request. The open enumerations would hold more than the {} MB allowed per user ({} MB in all). Pull or release open enumerations, or narrow the filter. ", self.per_user_bytes >> 20, self.total_bytes >> 20),
            ));
        }
        Ok(())
    }
}

/// Quota refusals of Enumerates, on the one [`RefusalLog`]: a line per user at most every
/// [`QuotaRefusals::INTERVAL`], then one with the count left out: a client sending a thousand
/// Enumerates past its quota writes a line, not a thousand.
#[derive(Debug)]
pub struct QuotaRefusals {
    log: RefusalLog<String>,
}

impl Default for QuotaRefusals {
    fn default() -> Self {
        QuotaRefusals {
            log: RefusalLog::new(RefusalLimits {
                interval: Self::INTERVAL,
                per_key: 1,
                total: 20,
                max_keys: 256,
            }),
        }
    }
}

impl QuotaRefusals {
    pub const INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

    /// Note one refusal of `user`'s Enumerate; log it unless a line was written lately.
    pub fn refused(&self, user: &str, bytes: usize, now: std::time::Instant) {
        let admission = self.log.admit(user.to_owned(), "quota", now);
        for left in &admission.ended {
            tracing::warn!(
                user = left.key.as_deref().unwrap_or("(other users)"),
                refused = left.count,
                seconds = left.over.as_secs(),
                "more Enumerates refused by the enumeration context quota (not logged one by one)"
            );
        }
        if admission.log {
            tracing::warn!(user = %user, bytes, "Enumerate refused: enumeration context quota");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subcode_and_code(fault: &Fault) -> String {
        let quota = fault
            .subcode
            .as_ref()
            .is_some_and(|s| s.name == "QuotaLimit");
        format!("{quota} {}", fault.wsman_code)
    }

    #[test]
    fn each_limit_refuses_with_a_quota_fault() {
        let limits = ContextLimits {
            per_user: 2,
            total: 3,
            per_user_bytes: 100,
            total_bytes: 150,
        };
        let key = |name: &str| wsman_principal::Principal::linux_user(name).owner_key();
        let held = |entries: &[(&str, usize)]| {
            let entries: Vec<(OwnerKey, usize)> = entries
                .iter()
                .map(|&(name, bytes)| (key(name), bytes))
                .collect();
            Held::of(&key("alice"), entries.iter().map(|(k, b)| (k, *b)))
        };
        assert!(limits.admit(held(&[("alice", 10)]), 10).is_ok());
        let per_user = limits.admit(held(&[("alice", 10), ("alice", 10)]), 10);
        assert_eq!(
            per_user.as_ref().map_err(subcode_and_code),
            Err("true 2150859174".to_owned())
        );
        let total = limits.admit(held(&[("bob", 1), ("bob", 1), ("carol", 1)]), 1);
        assert_eq!(
            total.map_err(|f| subcode_and_code(&f)),
            Err("true 2150858815".to_owned())
        );
        assert!(limits.admit(held(&[("alice", 60)]), 41).is_err());
        assert!(limits.admit(held(&[("bob", 140)]), 11).is_err());
        assert!(limits.admit(held(&[("bob", 90)]), 60).is_ok());
    }
}
