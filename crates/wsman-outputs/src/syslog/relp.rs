//! A RELP client session (librelp's protocol, rsyslog's `imrelp`): `open` with the offer of
//! the `syslog` command, then each message one `syslog` frame, at most `window` of them
//! unanswered, each acknowledged by its own `rsp` with code 200.
//!
//! Why RELP: plain syslog over TCP has no acknowledgement, so a receiver that dies loses what
//! its socket held. A RELP receiver answers each message once it has it (as its configuration
//! makes "has it" mean: rsyslog's ruleset queue), and the batch is acknowledged to the
//! forwarder only after every answer. A session that breaks tells which messages were
//! answered: [`Session::send`] reports each, so a resent batch skips them and only the window
//! that was in flight can reach the receiver twice.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};

use super::relp_frame::{self, Frame, RelpError, Response};

/// The most bytes of one frame the receiver may send (its answers are short; the `open`
/// answer lists its software and commands).
const MAX_ANSWER_DATA: usize = 64 * 1024;
/// What we offer at `open`: RELP version 0 (librelp's), the one command we send.
const OFFER_VERSION: &str = "relp_version=0";

/// Why a RELP session failed (the batch is answered 503; the session is closed).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("RELP: {0}")]
    Io(#[from] std::io::Error),
    #[error("RELP: the receiver closed the connection")]
    Closed,
    #[error("RELP: the receiver ended the session (serverclose)")]
    ServerClose,
    #[error("RELP: {0}")]
    Frame(#[from] RelpError),
    #[error("RELP: the receiver answered transaction {got}, expected {expected}")]
    OutOfOrder { expected: u32, got: u32 },
    #[error("RELP: the receiver sent the command {0:?}, not an answer")]
    NotAnAnswer(String),
    #[error("RELP: the receiver refused {what}: {code} {text:?}")]
    Refused {
        what: &'static str,
        code: u16,
        text: String,
    },
    #[error("RELP: the receiver does not offer the syslog command")]
    NoSyslogCommand,
}

/// One open session on `S` (a TCP or TLS stream with its read and write timeouts set).
pub struct Session<S> {
    stream: S,
    next_txnr: u32,
    /// Bytes read and not yet parsed.
    buffer: Vec<u8>,
}

impl<S: Read + Write> Session<S> {
    /// Open a session: offer version 0 and the `syslog` command as `software`, and read the
    /// receiver's answer (200, and `syslog` among its commands).
    pub fn open(stream: S, software: &str) -> Result<Session<S>, SessionError> {
        let mut session = Session {
            stream,
            next_txnr: 1,
            buffer: Vec::new(),
        };
        let offer = format!("{OFFER_VERSION}\nrelp_software={software}\ncommands=syslog");
        let txnr = session.take_txnr();
        let mut frame = Vec::new();
        relp_frame::encode(txnr, "open", offer.as_bytes(), &mut frame);
        session.stream.write_all(&frame)?;
        session.stream.flush()?;
        let answer = session.answer(txnr, "the session")?;
        let offers_syslog = answer.data.split(|b| *b == b'\n').any(|line| {
            line.strip_prefix(b"commands=")
                .is_some_and(|list| list.split(|b| *b == b',').any(|c| c == b"syslog"))
        });
        if !offers_syslog {
            return Err(SessionError::NoSyslogCommand);
        }
        Ok(session)
    }

    fn take_txnr(&mut self) -> u32 {
        let txnr = self.next_txnr;
        self.next_txnr = relp_frame::next_txnr(txnr);
        txnr
    }

    /// The next frame the receiver sends.
    fn frame(&mut self) -> Result<Frame, SessionError> {
        loop {
            if let Some((frame, used)) = relp_frame::parse(&self.buffer, MAX_ANSWER_DATA)? {
                self.buffer.drain(..used);
                return Ok(frame);
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(SessionError::Closed),
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The answer to transaction `txnr`, with code 200 (`what` names the request in the
    /// error otherwise).
    fn answer(&mut self, txnr: u32, what: &'static str) -> Result<Response, SessionError> {
        let frame = self.frame()?;
        match frame.command.as_str() {
            "rsp" => {}
            "serverclose" => return Err(SessionError::ServerClose),
            other => return Err(SessionError::NotAnAnswer(other.to_owned())),
        }
        if frame.txnr != txnr {
            return Err(SessionError::OutOfOrder {
                expected: txnr,
                got: frame.txnr,
            });
        }
        let answer = relp_frame::response(&frame.data)?;
        if answer.code != 200 {
            return Err(SessionError::Refused {
                what,
                code: answer.code,
                text: answer.text.chars().take(200).collect(),
            });
        }
        Ok(answer)
    }

    /// Send each of `messages` as a `syslog` frame, at most `window` unanswered at a time;
    /// `acknowledged(i)` is called as message `i` is answered 200, in order. Ok when every
    /// one was.
    pub fn send(
        &mut self,
        messages: &[Vec<u8>],
        window: usize,
        acknowledged: &mut dyn FnMut(usize),
    ) -> Result<(), SessionError> {
        let window = window.max(1);
        let mut waiting: VecDeque<(usize, u32)> = VecDeque::with_capacity(window);
        let mut next = 0;
        let mut frames = Vec::new();
        while next < messages.len() || !waiting.is_empty() {
            frames.clear();
            while next < messages.len() && waiting.len() < window {
                let txnr = self.take_txnr();
                relp_frame::encode(txnr, "syslog", &messages[next], &mut frames);
                waiting.push_back((next, txnr));
                next += 1;
            }
            if !frames.is_empty() {
                self.stream.write_all(&frames)?;
                self.stream.flush()?;
            }
            if let Some((index, txnr)) = waiting.pop_front() {
                self.answer(txnr, "a message")?;
                acknowledged(index);
            }
        }
        Ok(())
    }

    /// The stream, for the checks between batches.
    pub fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }
}
