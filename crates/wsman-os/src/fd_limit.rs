//! The process's open-file limit (`RLIMIT_NOFILE`).
//!
//! Why: every client connection is a file descriptor, and a collector with thousands of
//! forwarders needs thousands of them. Most systems start a process with a soft limit of 1,024
//! and a much larger hard limit, kept low only for programs that still use `select()`; a
//! server that does not raises its soft limit to the hard one at start (as nginx's
//! `worker_rlimit_nofile` or systemd's own services do), so that the limit the administrator
//! set (`LimitNOFILE=`, `ulimit -Hn`) is the one that applies.

/// The soft and hard open-file limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NofileLimit {
    pub soft: u64,
    pub hard: u64,
}

/// The current limits.
pub fn nofile() -> std::io::Result<NofileLimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit for the call's duration.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(NofileLimit {
        soft: limit.rlim_cur,
        hard: limit.rlim_max,
    })
}

/// Raise the soft limit to the hard limit; the limits before and after. A failure leaves the
/// limits as they were (the caller logs the limits it has).
pub fn raise_nofile_to_hard() -> std::io::Result<(NofileLimit, NofileLimit)> {
    let before = nofile()?;
    if before.soft >= before.hard {
        return Ok((before, before));
    }
    let raised = libc::rlimit {
        rlim_cur: before.hard,
        rlim_max: before.hard,
    };
    // SAFETY: `raised` is a valid rlimit, read by the call only.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((before, nofile()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_reaches_the_hard_limit_and_never_lowers() {
        let before = nofile().expect("getrlimit");
        let (seen, after) = raise_nofile_to_hard().expect("setrlimit");
        assert_eq!(seen, before);
        assert_eq!(after.soft, before.hard);
        assert_eq!(after.hard, before.hard);
        assert_eq!(raise_nofile_to_hard().expect("again").1, after);
    }
}
