//! A command on a pseudo-terminal: its master read and written from the event loop.
//!
//! The master is one file description used three ways, each through a descriptor of its own
//! (so each can be registered with the runtime and closed on its own): the output pump reads
//! it (the terminal merges stdout and stderr, as a terminal does), the stdin writer writes
//! Send data to it, and the command keeps a third for window-size changes and Ctrl+C until
//! the process has exited. When every process holding the peer has closed it, Linux answers a
//! read of the master with EIO: that is the end of output here, not an error.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use wsman_os::terminal::{foreground_process_group, peer_closed, set_window_size, WindowSize};

/// What the terminal's line discipline turns into SIGINT (VINTR, Ctrl+C).
const INTERRUPT_CHARACTER: u8 = 0x03;
/// What it turns into SIGQUIT (VQUIT, Ctrl+\), the nearest to Windows' Ctrl+Break.
const QUIT_CHARACTER: u8 = 0x1c;
/// What ends a read in canonical mode with nothing (VEOF, Ctrl+D): a terminal's end of input,
/// which is what the client's `End` means on a terminal (the master cannot be closed while
/// the output is still read from it).
pub(crate) const END_OF_INPUT: &[u8] = &[0x04];

/// One descriptor of the master, registered with the runtime.
#[derive(Debug)]
pub(crate) struct MasterIo {
    fd: AsyncFd<File>,
}

impl MasterIo {
    /// Registers `fd` (non-blocking, as `wsman_os::terminal` opens it).
    pub(crate) fn new(fd: OwnedFd) -> io::Result<Self> {
        // As in `command::wait_for_exit`: the `File` owned by the `AsyncFd` cannot change or
        // close its descriptor while registered, which is the contract of the unsafe
        // replacement of this constructor.
        #[allow(deprecated)]
        Ok(Self {
            fd: AsyncFd::with_interest(File::from(fd), Interest::READABLE | Interest::WRITABLE)?,
        })
    }
}

impl AsFd for MasterIo {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.get_ref().as_fd()
    }
}

impl AsyncRead for MasterIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|inner| inner.get_ref().read(unfilled)) {
                Ok(Ok(count)) => {
                    buf.advance(count);
                    return Poll::Ready(Ok(()));
                }
                // Every holder of the peer closed it: the end of the output.
                Ok(Err(error)) if peer_closed(&error) => return Poll::Ready(Ok(())),
                Ok(Err(error)) => return Poll::Ready(Err(error)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for MasterIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            match guard.try_io(|inner| inner.get_ref().write(data)) {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The command's own hold on its terminal: window size and interrupts. Dropped (closed) when
/// the process has exited.
#[derive(Debug)]
pub(crate) struct TerminalControl {
    master: File,
}

impl TerminalControl {
    pub(crate) fn new(master: OwnedFd) -> Self {
        Self {
            master: File::from(master),
        }
    }

    /// Sets the window size; the kernel sends SIGWINCH to the foreground process group.
    pub(crate) fn resize(&self, size: WindowSize) -> io::Result<()> {
        set_window_size(self.master.as_fd(), size)
    }

    /// Ctrl+C as typed on the terminal: the interrupt character, which the line discipline
    /// turns into SIGINT to the foreground process group (or a program in raw mode reads as a
    /// key). When the terminal's input is full, the foreground group is signalled directly.
    pub(crate) fn interrupt(&self) -> Option<u32> {
        self.type_or_group(INTERRUPT_CHARACTER)
    }

    /// Ctrl+Break as the quit character (SIGQUIT), with the same fallback.
    pub(crate) fn quit(&self) -> Option<u32> {
        self.type_or_group(QUIT_CHARACTER)
    }

    /// Writes `character`; `None` when it was typed, else the foreground process group to
    /// signal instead.
    fn type_or_group(&self, character: u8) -> Option<u32> {
        match (&self.master).write(&[character]) {
            Ok(1) => None,
            _ => foreground_process_group(self.master.as_fd()),
        }
    }
}
