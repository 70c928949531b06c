//! Scheduling priority for bulk work: the threads that evaluate users' filters and scan the
//! journal, and the `journalctl` children started for such scans, run at the lowest nice
//! value (19) and in the `SCHED_BATCH` policy, so that the async workers and one-instance
//! requests (nice 0) preempt them: a waking normal thread takes the core from a batch one,
//! which never preempts on its own wake-up.
//!
//! The trade-off: a bulk job gets less CPU only while something of higher priority wants the
//! cores (about 1/70 of what a nice-0 thread gets, it is not starved); on an idle host it runs
//! as fast as before. Not `SCHED_IDLE`: its weight is a fifth of nice 19's, so on a host busy
//! with other nice-19 work (builds, backups) a query would all but stop. Linux keeps both the
//! nice value and the policy per thread, so lowering one thread leaves the rest of the daemon
//! alone; a thread cannot raise itself back without `CAP_SYS_NICE`, which is why bulk work gets
//! threads of its own.

use std::io;

/// The nice value of bulk work: the lowest priority (Linux's CFS gives a nice-19 thread about
/// 1/70 of the CPU a nice-0 thread gets when both want it).
pub const BACKGROUND_NICE: i32 = 19;

/// Lower the calling thread to [`BACKGROUND_NICE`] and `SCHED_BATCH` (only that thread: both
/// are a thread's on Linux). Children the thread starts afterwards inherit them.
pub fn lower_this_thread() -> io::Result<()> {
    lower(nix::unistd::gettid().as_raw())
}

/// Lower a process just started for bulk work (a `journalctl` scan) as
/// [`lower_this_thread`] does. Done after the start rather than between fork and exec so that
/// the start keeps its `posix_spawn` path (no page-table copy of a large daemon).
pub fn lower_process(pid: u32) -> io::Result<()> {
    lower(i32::try_from(pid).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?)
}

/// The nice value first (it is what counts for the CPU share, and stays where the policy is
/// refused), then the policy.
fn lower(who: i32) -> io::Result<()> {
    let id = libc::id_t::try_from(who).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: setpriority takes plain integers and touches no memory of ours; with
    // PRIO_PROCESS and a thread id it changes that thread only (Linux), with a process id that
    // process's main thread, which for a child that has not started threads is all of it.
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, id, BACKGROUND_NICE) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid sched_param that outlives the call, which only reads it; a
    // thread id addresses that thread alone, as for setpriority.
    if unsafe { libc::sched_setscheduler(who, libc::SCHED_BATCH, &param) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// How a thread or process is scheduled: its nice value and whether it is in `SCHED_BATCH`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scheduling {
    pub nice: i32,
    pub batch: bool,
}

/// How the calling thread is scheduled, from `/proc/thread-self/stat`.
pub fn this_thread() -> io::Result<Scheduling> {
    scheduling_in_stat(&std::fs::read_to_string("/proc/thread-self/stat")?)
}

/// How process `pid` (its main thread) is scheduled, from `/proc/PID/stat`.
pub fn process(pid: u32) -> io::Result<Scheduling> {
    scheduling_in_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat"))?)
}

/// Fields 19 (nice) and 41 (policy) of a `stat` line; the command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last `)`.
fn scheduling_in_stat(stat: &str) -> io::Result<Scheduling> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "unexpected stat line");
    let after_name = &stat[stat.rfind(')').ok_or_else(bad)? + 1..];
    // After the name come field 3 (state) onwards: field N is the (N - 2)th.
    let field = |n: usize| -> io::Result<i32> {
        after_name
            .split_whitespace()
            .nth(n - 3)
            .and_then(|v| v.parse().ok())
            .ok_or_else(bad)
    };
    Ok(Scheduling {
        nice: field(19)?,
        batch: field(41)? == libc::SCHED_BATCH,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lowering a thread puts it in SCHED_BATCH at nice 19 and leaves its siblings alone.
    #[test]
    fn a_lowered_thread_alone_is_batch_and_niced() {
        let before = this_thread().unwrap();
        assert!(!before.batch);
        let lowered = std::thread::spawn(|| {
            lower_this_thread().unwrap();
            this_thread().unwrap()
        })
        .join()
        .unwrap();
        let expected = Scheduling {
            nice: BACKGROUND_NICE,
            batch: true,
        };
        assert_eq!(lowered, expected);
        assert_eq!(this_thread().unwrap(), before);
    }

    #[test]
    fn a_started_process_is_lowered() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        assert!(!process(child.id()).unwrap().batch);
        lower_process(child.id()).unwrap();
        let scheduling = process(child.id());
        let _ = child.kill();
        let _ = child.wait();
        let expected = Scheduling {
            nice: BACKGROUND_NICE,
            batch: true,
        };
        assert_eq!(scheduling.unwrap(), expected);
    }

    #[test]
    fn the_fields_are_found_after_a_name_with_parentheses() {
        let stat = "42 (a) b) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 5 1 0 9 0 0 \
                    0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 3 0";
        let expected = Scheduling {
            nice: 5,
            batch: true,
        };
        assert_eq!(scheduling_in_stat(stat).unwrap(), expected);
        assert!(scheduling_in_stat("no name").is_err());
        assert!(scheduling_in_stat("1 (short) S 1").is_err());
    }
}
