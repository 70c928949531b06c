//! How many connections the service holds at once: Service/MaxConnections, and never more than
//! the open-file limit leaves room for.
//!
//! Why the open-file limit counts: a connection is a file descriptor. A daemon past its
//! `RLIMIT_NOFILE` cannot accept at all (`EMFILE`): the connection waits in the kernel's queue
//! unanswered, and the daemon's own files (outputs, databases, shells' pipes) fail with it. So
//! the cap in force is the smaller of MaxConnections and the limit less
//! [`RESERVED_DESCRIPTORS`], and a connection past it is refused with 503 like any over
//! MaxConnections. The daemon raises its soft limit to the hard one at start
//! ([`raise_open_file_limit`]) and says so in the log when the limit is still below
//! MaxConnections and the reserve. The count itself is the front door's
//! (`wsman_front::slots`), as is the line per interval for refusals (`wsman_front::refusals`).

use std::sync::Mutex;

use wsman_front::slots::ConnectionSlots;

/// Descriptors kept for the daemon's own use beside client connections: refusals being
/// answered (512 at most), the collector's output files held open (512 at most), and the
/// rest (listeners, databases, logs, shells' pipes).
pub const RESERVED_DESCRIPTORS: u64 = 1280;

/// The connections an open-file soft limit leaves room for.
pub fn descriptor_cap(soft_limit: u64) -> usize {
    usize::try_from(soft_limit.saturating_sub(RESERVED_DESCRIPTORS)).unwrap_or(usize::MAX)
}

/// Sets the connection cap from the open-file limit, and says so when it is below
/// MaxConnections and the reserve.
#[derive(Debug, Default)]
pub struct OpenFileLimit {
    /// The (soft limit, MaxConnections) last checked, so a reload logs only a change.
    checked: Mutex<Option<(u64, u32)>>,
}

impl OpenFileLimit {
    /// Read the open-file limit again and set the cap of `slots` from it; a warning when it
    /// is below `max_connections` and the reserve (once per change of either).
    pub fn check(&self, slots: &ConnectionSlots, max_connections: u32) {
        let soft = match wsman_os::fd_limit::nofile() {
            Ok(limit) => limit.soft,
            Err(error) => {
                tracing::warn!(%error, "cannot read the open-file limit (RLIMIT_NOFILE)");
                return;
            }
        };
        self.set(slots, soft, max_connections);
    }

    fn set(&self, slots: &ConnectionSlots, soft: u64, max_connections: u32) {
        let cap = descriptor_cap(soft);
        slots.set_descriptor_cap(cap);
        let mut checked = self.checked.lock().unwrap_or_else(|p| p.into_inner());
        if *checked == Some((soft, max_connections)) {
            return;
        }
        *checked = Some((soft, max_connections));
        let needed = u64::from(max_connections) + RESERVED_DESCRIPTORS;
        if soft < needed {
            tracing::warn!(
                open_file_limit = soft,
                max_connections,
                reserved = RESERVED_DESCRIPTORS,
                connections = cap.min(max_connections as usize),
                "the open-file limit (RLIMIT_NOFILE) is below MaxConnections and the daemon's own reserve: connections past the lower cap are refused (503); raise LimitNOFILE= in the unit (or ulimit -Hn) to at least {needed}"
            );
        }
    }
}

/// Raise the open-file soft limit to the hard one (once, at start), logging what it is.
pub fn raise_open_file_limit() {
    match wsman_os::fd_limit::raise_nofile_to_hard() {
        Ok((before, after)) if before.soft != after.soft => {
            tracing::info!(
                from = before.soft,
                to = after.soft,
                "open-file limit (RLIMIT_NOFILE) raised to the hard limit"
            );
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "cannot raise the open-file limit (RLIMIT_NOFILE)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_file_limit_lowers_the_cap() {
        let slots = std::sync::Arc::new(ConnectionSlots::default());
        let limit = OpenFileLimit::default();
        let ip = std::net::IpAddr::from([192, 0, 2, 1]);
        assert_eq!(slots.limit(300), 300);
        limit.set(&slots, RESERVED_DESCRIPTORS + 2, 300);
        assert_eq!(slots.limit(300), 2);
        let held = [slots.take(ip, 300), slots.take(ip, 300)];
        assert!(held.iter().all(Result::is_ok));
        assert!(slots.take(ip, 300).is_err(), "past the open-file cap");
        limit.set(&slots, RESERVED_DESCRIPTORS - 1, 300);
        assert_eq!(slots.limit(300), 0, "a limit below the reserve admits none");
        limit.set(&slots, 1 << 20, 300);
        assert_eq!(
            slots.limit(300),
            300,
            "MaxConnections is the lower cap again"
        );
    }
}
