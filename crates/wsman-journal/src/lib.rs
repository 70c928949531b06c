//! The systemd journal, read through `journalctl --output=export`.
//!
//! Why journalctl for one-shot reads: it is the journal's stable interface (file format
//! versions, compression and sealing are its business), it needs no unsafe FFI here, and its
//! export format is exactly specified and binary-safe. The eventing core reads that format
//! bounded ([`wsman_events::ExportReader`]), so a huge field costs no memory.
//!
//! A [`Reader`] is one `journalctl` child, killed when the reader is dropped. It reads the host's
//! journal, or a journal directory (`--directory`: another root's journal, or a copy), forward
//! from the start, from after a cursor, or newest first, and optionally keeps following.
//! [`feed`] builds on it: the selected Windows events after a position, for pulls, pushes and
//! forwarding. A reader that stays (push delivery, forwarding) is in-process instead
//! ([`follow`], libsystemd's sd-journal through `wsman-os`): per entry, journalctl's export
//! text, pipe and parse cost more than the rest of the forwarder, and per subscription its
//! process cost about 1 MiB. One-shot reads (pulls, `wevtutil`, `Win32_NTLogEvent`, the
//! forwarder's vacuum check) keep journalctl: a process per query costs nothing that matters
//! there, and its newest-first and match switches are used as they are.
#![forbid(unsafe_code)]

pub mod feed;
pub mod follow;
pub mod gap;

use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::AsyncReadExt as _;
use tokio::process::{Child, ChildStdout, Command};
use wsman_events::{ExportError, ExportLimits, ExportReader, JournalEntry};

/// How much is read from the pipe at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Which journal to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Journal {
    /// The host's journal (what `journalctl` reads by default; root reads all of it).
    System,
    /// The journal files under a directory (`journalctl --directory`).
    Directory(PathBuf),
}

/// Where to start and which way to go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// The oldest entry still in the journal.
    Oldest,
    /// Right after the entry with this cursor (`__CURSOR`).
    AfterCursor(String),
    /// New entries only (with `follow`): the bookmark-less "from now on".
    Tail,
    /// Newest first, going back (`wevtutil qe /rd:true`).
    NewestFirst,
}

/// A query of the journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub journal: Journal,
    pub start: Start,
    /// Keep reading as entries arrive (never with `NewestFirst`).
    pub follow: bool,
    /// Only entries with this field value (`FIELD=value` matches, ANDed), passed to journalctl.
    pub matches: Vec<(String, String)>,
    /// The journalctl program (tests may point at another build).
    pub program: PathBuf,
    /// A scan for a user's request: journalctl runs at the lowest priority
    /// ([`wsman_os::priority`]), so the host's interactive work preempts it.
    pub background: bool,
}

impl Query {
    /// The whole host journal, oldest first, not following.
    pub fn system() -> Query {
        Query {
            journal: Journal::System,
            start: Start::Oldest,
            follow: false,
            matches: Vec::new(),
            program: PathBuf::from("journalctl"),
            background: false,
        }
    }

    fn command(&self) -> Result<Command, Error> {
        let mut command = Command::new(&self.program);
        command.args(["--output=export", "--no-pager"]);
        if let Journal::Directory(dir) = &self.journal {
            command.arg("--directory").arg(dir);
        }
        match &self.start {
            // journalctl --follow alone shows the last 10 entries of the current boot only.
            Start::Oldest if self.follow => {
                command.arg("--no-tail");
            }
            Start::Oldest => {}
            Start::AfterCursor(cursor) => {
                check_cursor(cursor)?;
                command.arg(format!("--after-cursor={cursor}"));
            }
            Start::Tail => {
                command.args(["--lines=0"]);
            }
            Start::NewestFirst => {
                command.arg("--reverse");
            }
        }
        if self.follow {
            if self.start == Start::NewestFirst {
                return Err(Error::Invalid("cannot follow newest first".to_owned()));
            }
            command.arg("--follow");
        }
        for (field, value) in &self.matches {
            check_field(field)?;
            command.arg(format!("{field}={value}"));
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        Ok(command)
    }
}

/// What can go wrong reading the journal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("reading journalctl's output: {0}")]
    Read(#[source] std::io::Error),
    #[error("journalctl's output is not the export format: {0}")]
    Format(#[from] ExportError),
    #[error("journalctl failed ({status}): {stderr}")]
    Failed { status: String, stderr: String },
    #[error("invalid journal query: {0}")]
    Invalid(String),
    #[error("opening the journal: {0}")]
    Open(#[source] std::io::Error),
    /// A read with a deadline (a request's OperationTimeout) reached it before it selected
    /// anything; the position is where the read stopped.
    #[error("the read ran past its deadline")]
    TimedOut,
    /// The blocking job that decided entries failed (panicked).
    #[error("deciding journal entries failed: {0}")]
    Worker(String),
}

/// A running read of the journal.
#[derive(Debug)]
pub struct Reader {
    child: Child,
    stdout: ChildStdout,
    parser: ExportReader,
    ready: std::collections::VecDeque<JournalEntry>,
    buffer: Vec<u8>,
    done: bool,
}

impl Reader {
    /// Start `journalctl` for `query`.
    pub fn spawn(query: &Query, limits: ExportLimits) -> Result<Reader, Error> {
        let mut child = query.command()?.spawn().map_err(|source| Error::Spawn {
            program: query.program.display().to_string(),
            source,
        })?;
        if query.background {
            if let Some(pid) = child.id() {
                if let Err(error) = wsman_os::priority::lower_process(pid) {
                    tracing::debug!(%error, "journalctl runs at normal priority");
                }
            }
        }
        let stdout = child.stdout.take().ok_or_else(|| Error::Spawn {
            program: query.program.display().to_string(),
            source: std::io::Error::other("no stdout pipe"),
        })?;
        Ok(Reader {
            child,
            stdout,
            parser: ExportReader::new(limits),
            ready: std::collections::VecDeque::new(),
            buffer: vec![0; READ_CHUNK],
            done: false,
        })
    }

    /// [`Reader::spawn`] from async code: on a blocking thread, never on the async worker.
    /// Starting a child is a `vfork`-style clone whose parent sleeps until the child has
    /// exec'd, several milliseconds on a loaded host; on the daemon's only async worker that
    /// sleep stalls every other request (measured: up to 14 ms at a time beside users'
    /// journal scans).
    pub async fn start(query: &Query, limits: ExportLimits) -> Result<Reader, Error> {
        let query = query.clone();
        tokio::task::spawn_blocking(move || Reader::spawn(&query, limits))
            .await
            .map_err(|error| Error::Worker(error.to_string()))?
    }

    /// The next entry; `None` when a non-following read reached the end.
    pub async fn next(&mut self) -> Result<Option<JournalEntry>, Error> {
        loop {
            if let Some(entry) = self.ready.pop_front() {
                return Ok(Some(entry));
            }
            if self.done {
                return Ok(None);
            }
            let read = self
                .stdout
                .read(&mut self.buffer)
                .await
                .map_err(Error::Read)?;
            if read == 0 {
                self.done = true;
                self.check_exit().await?;
                continue;
            }
            let ready = &mut self.ready;
            self.parser
                .feed(&self.buffer[..read], &mut |entry| ready.push_back(entry))?;
        }
    }

    /// A journalctl that ended with an error (no such directory, a bad cursor) says why.
    async fn check_exit(&mut self) -> Result<(), Error> {
        let status = self.child.wait().await.map_err(Error::Read)?;
        if status.success() {
            return Ok(());
        }
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let mut bytes = Vec::new();
            let _ = (&mut pipe).take(4096).read_to_end(&mut bytes).await;
            stderr = String::from_utf8_lossy(&bytes).trim().to_owned();
        }
        Err(Error::Failed {
            status: status.to_string(),
            stderr,
        })
    }
}

/// A cursor is `key=hex;...`: anything else never reaches the command line.
fn check_cursor(cursor: &str) -> Result<(), Error> {
    let ok = !cursor.is_empty()
        && cursor.len() <= 512
        && cursor
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'=' || b == b';');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!("not a journal cursor: {cursor:?}")))
    }
}

/// A journal field name: upper-case letters, digits and underscores, not starting with a digit.
fn check_field(field: &str) -> Result<(), Error> {
    let ok = !field.is_empty()
        && field.len() <= 64
        && !field.as_bytes()[0].is_ascii_digit()
        && field
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "not a journal field name: {field:?}"
        )))
    }
}
