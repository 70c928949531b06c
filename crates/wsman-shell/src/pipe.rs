//! The read end of a command's stdout or stderr pipe, in the runtime's reactor only while a
//! read waits for data.
//!
//! Linux wakes an epoll waiter at every write into a pipe it watches, whether or not the pipe
//! already held data (`pipe_write`: "Epoll nonsensically wants a wakeup whether the pipe was
//! already empty or not"). A command printing flat out writes a block at a time (8 KiB for
//! `head` or `cat`), and while its output buffer is full the pump does not read: every such
//! write then woke an idle async worker for nothing. With one worker on two cores the worker
//! was mostly busy and the wake-ups rare; with a second worker idle beside it, it woke for
//! nearly every block the command wrote. So the pipe leaves the reactor while the pump waits
//! for room ([`QuietPipe::unwatch`]) and is registered again only when a read finds it empty.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, Interest, ReadBuf};
use tokio::net::unix::pipe;

/// A non-blocking pipe read end, registered with the reactor only while a read waits.
#[derive(Debug)]
pub(crate) struct QuietPipe {
    /// The registration while a read waits for data. Declared before `file` so that it is
    /// dropped (deregistered) before the descriptor is closed.
    watched: Option<AsyncFd<Descriptor>>,
    file: File,
}

/// The pipe's descriptor number as the reactor registers it; `QuietPipe::file` owns it.
#[derive(Debug)]
struct Descriptor(RawFd);

impl AsRawFd for Descriptor {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

impl QuietPipe {
    /// Takes the read end of a pipe (checked to be one, and made non-blocking).
    pub(crate) fn new(fd: OwnedFd) -> io::Result<Self> {
        let fd = pipe::Receiver::from_owned_fd(fd)?.into_nonblocking_fd()?;
        Ok(Self {
            watched: None,
            file: File::from(fd),
        })
    }

    /// Leaves the reactor: writes into the pipe wake nobody until a read finds it empty.
    pub(crate) fn unwatch(&mut self) {
        self.watched = None;
    }
}

impl AsFd for QuietPipe {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl AsyncRead for QuietPipe {
    /// Cancel-safe: a read that returned `Pending` took nothing from the pipe.
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            let read = match &this.watched {
                None => (&this.file).read(buf.initialize_unfilled()),
                Some(watched) => {
                    let mut guard = ready!(watched.poll_read_ready(cx))?;
                    match guard.try_io(|_| (&this.file).read(buf.initialize_unfilled())) {
                        Ok(read) => read,
                        Err(_would_block) => continue,
                    }
                }
            };
            match read {
                Ok(count) => {
                    buf.advance(count);
                    return Poll::Ready(Ok(()));
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    // Empty: wait for the command to write. The registration cannot outlive
                    // the descriptor (field order), which is the contract of the unsafe
                    // replacement of this constructor (as in `command::wait_for_exit`).
                    #[allow(deprecated)]
                    let watched = AsyncFd::with_interest(
                        Descriptor(this.file.as_raw_fd()),
                        Interest::READABLE,
                    )?;
                    this.watched = Some(watched);
                }
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }
}
