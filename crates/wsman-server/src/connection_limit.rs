//! How many connections the service holds at once: Service/MaxConnections, and never more than
//! the open-file limit leaves room for.
//!
//! Why the open-file limit counts: a connection is a file descriptor. A daemon past its
//! `RLIMIT_NOFILE` cannot accept at all (`EMFILE`): the connection waits in the kernel's queue
//! unanswered, and the daemon's own files (outputs, databases, shells' pipes) fail with it. So
//! the cap in force is the smaller of MaxConnections and the limit less the daemon's reserve
//! ([`reserved_descriptors`]), and a connection past it is refused with 503 like any over
//! MaxConnections. The daemon raises its soft limit to the hard one at start
//! ([`raise_open_file_limit`]) and says so in the log when the limit is still below
//! MaxConnections and the reserve. The count itself is the front door's
//! (`wsman_front::slots`), as is the line per interval for refusals (`wsman_front::refusals`).

use std::sync::Mutex;

use wsman_front::slots::ConnectionSlots;
use wsman_outputs::file as file_output;

/// Descriptors kept for the daemon's own use beside client connections under the smallest
/// limits: refusals being answered (512 at most), the collector's output files held open
/// (512, [`file_output::MIN_OPEN_FILES`]), and the rest (listeners, databases, logs, shells'
/// pipes).
pub const RESERVED_DESCRIPTORS: u64 = 1280;

/// Descriptors kept from connections under an open-file soft limit of `soft_limit`:
/// [`RESERVED_DESCRIPTORS`], with the output files' share grown to what the collector holds
/// open under that limit ([`file_output::max_open_files`]), so that connections and files
/// together stay under it.
pub fn reserved_descriptors(soft_limit: u64) -> u64 {
    let files = u64::try_from(file_output::max_open_files(soft_limit)).unwrap_or(u64::MAX);
    let min_files = file_output::MIN_OPEN_FILES as u64;
    RESERVED_DESCRIPTORS.saturating_add(files.saturating_sub(min_files))
}

/// The connections an open-file soft limit leaves room for.
pub fn descriptor_cap(soft_limit: u64) -> usize {
    let left = soft_limit.saturating_sub(reserved_descriptors(soft_limit));
    usize::try_from(left).unwrap_or(usize::MAX)
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
        file_output::set_open_file_limit(soft);
        let mut checked = self.checked.lock().unwrap_or_else(|p| p.into_inner());
        if *checked == Some((soft, max_connections)) {
            return;
        }
        *checked = Some((soft, max_connections));
        let reserved = reserved_descriptors(soft);
        let needed = u64::from(max_connections) + reserved;
        if soft < needed {
            tracing::warn!(
                open_file_limit = soft,
                max_connections,
                reserved,
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

    /// Past 2,048 the output files' share grows with the limit, and is kept from
    /// connections: files and connections together never pass the limit.
    #[test]
    fn the_output_files_share_is_kept_from_connections() {
        for soft in [1024, 2048, 5096, 20_000, 65_536, 1 << 20] {
            let files = file_output::max_open_files(soft) as u64;
            let others = RESERVED_DESCRIPTORS - file_output::MIN_OPEN_FILES as u64;
            assert!(
                descriptor_cap(soft) as u64 + files + others <= soft.max(RESERVED_DESCRIPTORS),
                "{soft}"
            );
        }
        assert_eq!(descriptor_cap(65_536), 65_536 - 768 - 16_384);
        assert_eq!(descriptor_cap(2048), 2048 - 1280);
    }
}
