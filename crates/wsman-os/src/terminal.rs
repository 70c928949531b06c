//! Pseudo-terminals for interactive shells: the pair a command runs on, its window size, and
//! the foreground process group a terminal's interrupt goes to.
//!
//! Why `/dev/ptmx` and `TIOCGPTPEER` rather than `openpty(3)`: the peer is opened from the
//! master descriptor itself (Linux 4.13), never through a `/dev/pts/N` path another process
//! could swap, and no `libutil` is needed. Both ends are close-on-exec; the master is
//! non-blocking (the daemon reads it from its event loop). The daemon never takes either as
//! its controlling terminal (`O_NOCTTY`): the child does, after `setsid`, with `TIOCSCTTY`
//! (see `process/spawn.rs`).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Rows and columns of a terminal window (`struct winsize` without the pixel sizes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSize {
    /// Lines.
    pub rows: u16,
    /// Characters per line.
    pub columns: u16,
}

impl WindowSize {
    /// A size of `rows` lines of `columns` characters.
    pub fn new(rows: u16, columns: u16) -> Self {
        Self { rows, columns }
    }
}

/// A new pseudo-terminal: `(master, peer)`, the window already set to `size`.
pub fn open_pseudo_terminal(size: WindowSize) -> io::Result<(OwnedFd, OwnedFd)> {
    // SAFETY: open takes a NUL-terminated path from a C string literal; returns a new
    // descriptor or -1.
    let master = unsafe {
        libc::open(
            c"/dev/ptmx".as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC | libc::O_NONBLOCK,
        )
    };
    if master == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor owned by nobody else.
    let master = unsafe { OwnedFd::from_raw_fd(master) };
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int behind a live reference.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: TIOCGPTPEER takes open flags by value and returns a new descriptor or -1.
    let peer = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if peer == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor owned by nobody else.
    let peer = unsafe { OwnedFd::from_raw_fd(peer) };
    set_window_size(master.as_fd(), size)?;
    Ok((master, peer))
}

/// Sets the window size of the terminal behind `fd` (either end); the kernel sends SIGWINCH to
/// the terminal's foreground process group when the size changed.
pub fn set_window_size(fd: BorrowedFd<'_>, size: WindowSize) -> io::Result<()> {
    let window = libc::winsize {
        ws_row: size.rows,
        ws_col: size.columns,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize behind a live reference.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &window) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The window size of the terminal behind `fd`.
pub fn window_size(fd: BorrowedFd<'_>) -> io::Result<WindowSize> {
    let mut window = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize into a live local.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut window) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(WindowSize::new(window.ws_row, window.ws_col))
}

/// The foreground process group of the terminal behind `master` (what the terminal's
/// interrupt character reaches), if it has one.
pub fn foreground_process_group(master: BorrowedFd<'_>) -> Option<u32> {
    let mut group: libc::pid_t = 0;
    // SAFETY: TIOCGPGRP writes a pid_t into a live local.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPGRP, &mut group) } == -1 {
        return None;
    }
    u32::try_from(group).ok().filter(|group| *group > 0)
}

/// Whether a read of a master failed because every holder of its peer closed it (Linux
/// answers EIO then): the end of the terminal's output, not an error.
pub fn peer_closed(error: &io::Error) -> bool {
    error.raw_os_error() == Some(libc::EIO)
}

/// Gives the terminal's peer to the user who will run on it, as a login does (owner the user,
/// group `tty` where it exists, mode 0620: others of the group may write to it, as `write(1)`
/// expects), so that programs reopening it by name (`/dev/pts/N`) may.
pub fn give_terminal_to(peer: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    let group = nix::unistd::Group::from_name("tty")
        .ok()
        .flatten()
        .map_or(gid, |group| group.gid.as_raw());
    // SAFETY: fchown and fchmod take a descriptor and integers only.
    unsafe {
        if libc::fchown(peer.as_raw_fd(), uid, group) == -1
            || libc::fchmod(peer.as_raw_fd(), 0o620) == -1
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_peer_is_a_terminal_of_the_size_asked() {
        let (master, peer) = open_pseudo_terminal(WindowSize::new(33, 101)).unwrap();
        // The OS's own view of the peer: isatty and TIOCGWINSZ through nix.
        assert!(nix::unistd::isatty(peer.as_raw_fd()).unwrap());
        assert_eq!(window_size(peer.as_fd()).unwrap(), WindowSize::new(33, 101));
        set_window_size(master.as_fd(), WindowSize::new(40, 132)).unwrap();
        assert_eq!(window_size(peer.as_fd()).unwrap(), WindowSize::new(40, 132));
        let flags = nix::fcntl::fcntl(master.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL).unwrap();
        assert_ne!(flags & libc::O_NONBLOCK, 0);
        // No session has it as its controlling terminal yet.
        assert_eq!(foreground_process_group(master.as_fd()), None);
    }
}
