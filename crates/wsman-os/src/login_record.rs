//! utmp and wtmp records for commands on a pseudo-terminal: the terminal is a login seat
//! while the command runs, so `who` lists it and `last` shows when it began and ended, as for
//! an ssh login with a terminal. Commands on pipes get none (ssh without a tty writes none
//! either).
//!
//! Through glibc's `pututxline` (the utmp file, `/run/utmp`, locked and updated in place) and
//! `updwtmpx` (appended to `/var/log/wtmp`), as `login` and sshd write them: the formats and
//! locking are glibc's, not ours to reimplement. A record that cannot be written (no utmp
//! file, a read-only `/var/log`) is skipped: it is accounting, not a condition of the command.

use std::ffi::{c_char, CStr};
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where `last` reads (glibc's `_PATH_WTMP`).
const WTMP_FILE: &CStr = c"/var/log/wtmp";

extern "C" {
    /// glibc: appends `utmpx` to the wtmp file `wtmpx_file` under a lock.
    fn updwtmpx(wtmpx_file: *const c_char, utmpx: *const libc::utmpx);
}

/// glibc's utmp functions keep one open file and position per process: one caller at a time.
static UTMP: Mutex<()> = Mutex::new(());

/// The login record of one command on a terminal: written when made, the logout record
/// (`DEAD_PROCESS`) written when dropped.
#[derive(Debug)]
pub struct LoginRecord {
    /// `pts/N`, as `ut_line` holds it (without `/dev/`).
    line: String,
    pid: libc::pid_t,
}

impl LoginRecord {
    /// Writes the login (`USER_PROCESS`) of `user`, whose command `pid` runs on the terminal of
    /// `master`, from `host`, to utmp and wtmp. Fails only when the terminal's number cannot be
    /// read; a record that cannot be written is skipped.
    pub fn open(
        master: BorrowedFd<'_>,
        user: &str,
        pid: u32,
        host: Option<IpAddr>,
    ) -> io::Result<Self> {
        let mut number: libc::c_uint = 0;
        // SAFETY: TIOCGPTN writes the terminal's number into a live local.
        if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut number) } == -1 {
            return Err(io::Error::last_os_error());
        }
        let record = Self {
            line: format!("pts/{number}"),
            pid: libc::pid_t::try_from(pid).map_err(|_| io::ErrorKind::InvalidInput)?,
        };
        record.write(libc::USER_PROCESS, user, host);
        Ok(record)
    }

    /// The terminal, as `who` shows it (`pts/N`).
    pub fn line(&self) -> &str {
        &self.line
    }

    fn write(&self, kind: libc::c_short, user: &str, host: Option<IpAddr>) {
        // SAFETY: utmpx is a plain C struct of integers and byte arrays: all zero is valid.
        let mut entry: libc::utmpx = unsafe { std::mem::zeroed() };
        entry.ut_type = kind;
        entry.ut_pid = self.pid;
        copy_text(&mut entry.ut_line, &self.line);
        // As login and sshd do: the id is the line's last four bytes ("ts/3" for pts/3).
        let id_from = self.line.len().saturating_sub(entry.ut_id.len());
        copy_text(&mut entry.ut_id, &self.line[id_from..]);
        copy_text(&mut entry.ut_user, user);
        if let Some(host) = host {
            copy_text(&mut entry.ut_host, &host.to_string());
            match host {
                IpAddr::V4(v4) => entry.ut_addr_v6[0] = i32::from_ne_bytes(v4.octets()),
                IpAddr::V6(v6) => {
                    for (slot, bytes) in entry.ut_addr_v6.iter_mut().zip(v6.octets().chunks(4)) {
                        *slot = i32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                    }
                }
            }
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        entry.ut_tv.tv_sec = now.as_secs().try_into().unwrap_or_default();
        entry.ut_tv.tv_usec = now.subsec_micros().try_into().unwrap_or_default();
        let _one_at_a_time = UTMP.lock().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: glibc's utmp calls with a fully initialised entry behind a live reference;
        // the lock keeps other threads of ours from moving the shared utmp position meanwhile.
        unsafe {
            libc::setutxent();
            libc::pututxline(&entry);
            libc::endutxent();
            updwtmpx(WTMP_FILE.as_ptr(), &entry);
        }
    }
}

impl Drop for LoginRecord {
    fn drop(&mut self) {
        self.write(libc::DEAD_PROCESS, "", None);
    }
}

/// Copies `text` into a fixed C field, cut to fit; the field is zero beyond it (as utmp
/// fields are: NUL-padded, not necessarily NUL-terminated).
fn copy_text(field: &mut [c_char], text: &str) {
    for (slot, byte) in field.iter_mut().zip(text.bytes()) {
        *slot = c_char::from_ne_bytes([byte]);
    }
}
