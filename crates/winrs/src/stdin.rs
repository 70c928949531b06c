//! Whether winrs's stdin is already at its end when the command starts. Then the end of input
//! is sent before the first Receive, on the same connection, instead of by the stdin task
//! while that Receive waits (which makes the client open a second connection and run a second
//! handshake). Windows accepts a `Send` with `End="True"` before any Receive (the pypsrp
//! recording of Command, Send, Send End, Receive).

use std::os::fd::{AsFd, BorrowedFd};

use rustix::event::{poll, PollFd, PollFlags};
use rustix::fs::{fstat, major, minor, tell, FileType};

/// `/dev/null`'s device number (Linux's memory devices, major 1, minor 3).
const NULL_DEVICE: (u32, u32) = (1, 3);

/// Whether a read of stdin now would return the end of input at once: `/dev/null`, a regular
/// file read to its end, or a pipe whose writers are gone with nothing left in it. Decided
/// without reading (a read would take input meant for the command); anything else (a
/// terminal, a socket, a pipe still open or holding data) is not at its end.
pub(crate) fn at_end() -> bool {
    let stdin = std::io::stdin();
    fd_at_end(stdin.as_fd())
}

fn fd_at_end(fd: BorrowedFd<'_>) -> bool {
    let Ok(stat) = fstat(fd) else {
        return false;
    };
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::CharacterDevice => (major(stat.st_rdev), minor(stat.st_rdev)) == NULL_DEVICE,
        FileType::RegularFile => {
            let size = u64::try_from(stat.st_size).unwrap_or(u64::MAX);
            tell(fd).is_ok_and(|offset| offset >= size)
        }
        FileType::Fifo => drained_and_closed(fd),
        _ => false,
    }
}

/// A pipe reports hang-up without readable data once every writer closed it and it is empty.
fn drained_and_closed(fd: BorrowedFd<'_>) -> bool {
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    let zero = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    match poll(&mut fds, Some(&zero)) {
        Ok(1) => {
            let ready = fds[0].revents();
            ready.contains(PollFlags::HUP) && !ready.contains(PollFlags::IN)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::fd_at_end;
    use std::io::{Seek, SeekFrom, Write};
    use std::os::fd::AsFd;

    #[test]
    fn dev_null_is_at_end() {
        let null = std::fs::File::open("/dev/null").unwrap();
        assert!(fd_at_end(null.as_fd()));
    }

    #[test]
    fn other_character_devices_are_not() {
        let zero = std::fs::File::open("/dev/zero").unwrap();
        assert!(!fd_at_end(zero.as_fd()));
    }

    #[test]
    fn a_regular_file_is_at_end_only_once_read() {
        let mut file = tempfile::tempfile().unwrap();
        assert!(fd_at_end(file.as_fd()), "an empty file");
        file.write_all(b"input").unwrap();
        file.seek(SeekFrom::Start(0)).unwrap();
        assert!(!fd_at_end(file.as_fd()), "unread data");
        file.seek(SeekFrom::End(0)).unwrap();
        assert!(fd_at_end(file.as_fd()), "read to its end");
    }

    #[test]
    fn a_pipe_is_at_end_only_when_closed_and_empty() {
        let (reader, writer) = std::io::pipe().unwrap();
        assert!(!fd_at_end(reader.as_fd()), "open, empty");
        let mut writer = writer;
        writer.write_all(b"x").unwrap();
        drop(writer);
        assert!(!fd_at_end(reader.as_fd()), "closed, holding data");
        let (reader, writer) = std::io::pipe().unwrap();
        drop(writer);
        assert!(fd_at_end(reader.as_fd()), "closed, empty");
    }
}
