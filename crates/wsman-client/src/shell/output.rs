//! A command's output read by Receive long polls ([`OutputReader`]): timeouts polled through,
//! lost answers asked for again with the same SequenceId, and the next Receive sent before the
//! last answer is decoded (or unsealed) so that the server and this side work at once. Apart
//! from the shell and command calls because this is where the pipelining's state lives.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use wsman_proto::ns::action;
use wsman_proto::shell::{
    read_receive_envelope_bytes, CommandStateValue, Receive, ReceiveResponse, WinrsOptions,
};

use super::{is_timed_out, protocol, Output, ShellShared, MAX_RECEIVE_RESENDS};
use crate::client::Client;
use crate::error::ClientError;

/// The output of one command as a sequence of [`Output`] events, fetched by Receive long
/// polls: `w:TimedOut` answers are polled through, and a Receive whose answer was lost is
/// sent again with the same SequenceId so the server replays it (no output lost).
///
/// While a command is running, the next Receive is sent as soon as an answer has arrived and
/// shows the command is not done, before that answer's stream data is decoded: the server
/// prepares the next response while this side decodes the last one. On a sealed connection
/// (NTLM, Kerberos, CredSSP over HTTP) a large answer is not looked into before it is
/// unsealed: the next Receive goes out on the same connection before the unsealing, so the
/// server seals answer N+1 while this side unseals answer N; when answer N turns out to be
/// the last, the early Receive's answer is read and discarded. Each exchange runs as a
/// task of the current Tokio runtime; dropping the reader aborts the one in flight (the
/// server gives output away only in an answer, so an aborted Receive loses nothing).
pub struct OutputReader {
    exchange: Arc<ReceiveExchange>,
    sequence_id: u64,
    events: EventQueue<Output>,
    /// The Receive already sent for `sequence_id`, if any.
    ahead: Option<Ahead>,
}

impl std::fmt::Debug for OutputReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputReader")
            .field("command_id", &self.exchange.command_id)
            .field("sequence_id", &self.sequence_id)
            .field("finished", &self.events.is_finished())
            .finish_non_exhaustive()
    }
}

/// What every Receive of one reader needs.
struct ReceiveExchange {
    client: Client,
    shell: Arc<ShellShared>,
    command_id: String,
}

/// A decoded answer, and the Receive sent after it (when the command was not done).
struct Fetched {
    response: ReceiveResponse,
    next: Option<Ahead>,
}

/// A Receive exchange running as a task; aborted when dropped, so that an abandoned reader
/// leaves no request behind.
struct Ahead(tokio::task::JoinHandle<Result<Fetched, ClientError>>);

impl Drop for Ahead {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Ahead {
    fn start(exchange: Arc<ReceiveExchange>, sequence_id: u64) -> Self {
        Self(tokio::spawn(exchange.fetch(sequence_id, None)))
    }

    /// The exchange of a Receive already sent (see [`EarlyReceive`]).
    fn finish(exchange: Arc<ReceiveExchange>, sequence_id: u64, sent: EarlyReceive) -> Self {
        Self(tokio::spawn(exchange.fetch(sequence_id, Some(sent))))
    }

    async fn wait(mut self) -> Result<Fetched, ClientError> {
        match (&mut self.0).await {
            Ok(result) => result,
            Err(e) => Err(ClientError::protocol(format!(
                "the Receive task failed: {e}"
            ))),
        }
    }
}

/// A Receive sent on a sealed connection before the answer to the previous one was unsealed
/// (see [`Client::send_raw_then`]): the server seals its answer while this side unseals and
/// decodes the previous one. When the previous answer reports the command done, this one is
/// still read and discarded (see [`ReceiveExchange::discard`]).
struct EarlyReceive {
    message_id: String,
    request: crate::transport::EarlyRequest,
}

/// Longest wait for the answer to a Receive sent early for a command that turned out done.
/// A server answers such a Receive at once (ours and Windows' with `w:InvalidSelectors`, the
/// command's output having been delivered); one that holds it as a long poll costs this
/// wait and the connection, never the operation timeout.
const DISCARD_WAIT: Duration = Duration::from_secs(2);

/// Text that every answer reporting a command done contains (`rsp:CommandState@State`),
/// looked for in the answer's last [`DONE_MARK_WINDOW`] bytes, where servers write the
/// CommandState (after the streams). Without it there, the next Receive goes out before the
/// answer is decoded. A wrong guess costs nothing but time: stream data containing the text
/// means no early Receive; a server writing the state elsewhere means one Receive too many,
/// which is aborted when the reader sees the command done.
const DONE_MARK: &[u8] = b"CommandState/Done";
/// The UTF-8 byte order mark, which the general path reads.
const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";
const DONE_MARK_WINDOW: usize = 4096;

/// Whether the answer may report the command done (see [`DONE_MARK`]).
fn may_report_done(body: &[u8]) -> bool {
    let tail = &body[body.len().saturating_sub(DONE_MARK_WINDOW)..];
    tail.windows(DONE_MARK.len()).any(|w| w == DONE_MARK)
}

impl ReceiveExchange {
    /// One Receive that produced an answer (looping over timeouts and lost answers), decoded,
    /// starting with `sent` when that Receive went out already. On a sealed connection the
    /// next Receive may go out before this answer is unsealed (see [`EarlyReceive`]);
    /// otherwise, unless the answer may report the command done, it is started before the
    /// decoding (see [`OutputReader`]).
    async fn fetch(
        self: Arc<Self>,
        sequence_id: u64,
        sent: Option<EarlyReceive>,
    ) -> Result<Fetched, ClientError> {
        let (reply, message_id, early) = self.receive(sequence_id, sent).await?;
        let utf8 = reply
            .content_type
            .as_deref()
            .and_then(wsman_proto::charset::charset_param)
            .is_none_or(|c| c.eq_ignore_ascii_case("utf-8") || c.eq_ignore_ascii_case("utf8"));
        // UTF-8 without a byte order mark: the one-pass reader may read it (it checks the
        // UTF-8 as it goes).
        let plain = utf8 && !reply.body.starts_with(UTF8_BOM);
        let next = if early.is_none() && plain && !may_report_done(&reply.body) {
            let next = Ahead::start(self.clone(), sequence_id + 1);
            // Let the next request go out before this task decodes (single-threaded runtimes).
            tokio::task::yield_now().await;
            Some(next)
        } else {
            None
        };
        // One pass over the envelope, decoding the stream text in place; anything it does
        // not recognise (or a RelatesTo that does not match) goes the general way, which
        // reports errors.
        let fast = plain
            .then(|| read_receive_envelope_bytes(&reply.body))
            .flatten()
            .filter(|envelope| envelope.relates_to.as_deref() == Some(message_id.as_str()));
        let response = match fast {
            Some(envelope) => envelope.response,
            None => {
                let body =
                    crate::response::interpret(&reply, Some(&message_id))?.ok_or_else(|| {
                        ClientError::protocol("the Receive response has an empty body")
                    })?;
                ReceiveResponse::parse(&body).map_err(protocol)?
            }
        };
        let done = matches!(response.state, Some((_, CommandStateValue::Done { .. })));
        let next = match early {
            Some(sent) if done => {
                self.discard(sent).await;
                None
            }
            Some(sent) => Some(Ahead::finish(self.clone(), sequence_id + 1, sent)),
            None => next,
        };
        Ok(Fetched { response, next })
    }

    /// Reads the answer to a Receive sent early for a command that turned out done, so that
    /// its connection goes back to the pool clean for the Signal and Delete that follow; the
    /// answer itself (a fault for a finished command) is of no use. Not answered within
    /// [`DISCARD_WAIT`], the connection is closed instead.
    async fn discard(&self, sent: EarlyReceive) {
        let read = self.client.finish_early(sent.request, None);
        let _ = tokio::time::timeout(DISCARD_WAIT, read).await;
    }

    /// The Receive request for `sequence_id`: its header and body.
    fn request(&self, sequence_id: u64) -> (wsman_proto::request::RequestHeader, String) {
        let mut resource = self.shell.resource();
        let mut winrs = WinrsOptions::default();
        winrs.keepalive = Some(true);
        resource.options = winrs.to_options();
        let header = self.client.request_header(action::SHELL_RECEIVE, &resource);
        let streams: Vec<&str> = self
            .shell
            .output_streams
            .iter()
            .map(String::as_str)
            .collect();
        let mut receive = Receive::new(Some(&self.command_id), &streams);
        receive.sequence_id = Some(sequence_id);
        (header, receive.to_xml())
    }

    /// Sends Receive `sequence_id` (or reads the answer to `sent`, that Receive sent early)
    /// until a success reply arrives; returns it with the request's MessageID, and the
    /// Receive of `sequence_id + 1` when it went out before this answer was unsealed.
    async fn receive(
        &self,
        sequence_id: u64,
        mut sent: Option<EarlyReceive>,
    ) -> Result<(crate::transport::HttpReply, String, Option<EarlyReceive>), ClientError> {
        let mut resends = 0;
        loop {
            // The next Receive goes out early whenever this answer is large, whether this
            // Receive went out early itself or goes out now.
            let (next_header, next_body) = self.request(sequence_id + 1);
            let next = Some((&next_header, next_body.as_str()));
            let (answer, message_id) = match sent.take() {
                Some(sent) => (
                    self.client.finish_early(sent.request, next).await,
                    sent.message_id,
                ),
                None => {
                    let (header, body) = self.request(sequence_id);
                    let answer = self.client.send_raw_then(&header, &body, next).await;
                    (answer, header.message_id)
                }
            };
            let (answer, early) = match answer {
                Ok((reply, early)) => (
                    Ok(reply),
                    early.map(|request| EarlyReceive {
                        message_id: next_header.message_id.clone(),
                        request,
                    }),
                ),
                Err(e) => (Err(e), None),
            };
            let error = match answer {
                Ok(reply) if (200..300).contains(&reply.status) && !reply.body.is_empty() => {
                    return Ok((reply, message_id, early))
                }
                // Faults, HTTP errors, an empty answer: read the general way.
                Ok(reply) => match crate::response::interpret(&reply, Some(&message_id)) {
                    Err(e) => e,
                    Ok(_) => ClientError::protocol("the Receive response has an empty body"),
                },
                Err(e) => e,
            };
            // A Receive sent early after an answer that is not used is dropped with its
            // connection (the transport sends one only after a 200).
            drop(early);
            match error {
                e if is_timed_out(&e) => resends = 0,
                e if answer_lost(&e) && resends < MAX_RECEIVE_RESENDS => {
                    resends += 1;
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(resends))).await;
                }
                e => return Err(e),
            }
        }
    }
}

/// True when the answer to a request may have been lost on the way (as opposed to refused).
fn answer_lost(e: &ClientError) -> bool {
    matches!(e, ClientError::Io { .. } | ClientError::Timeout { .. })
}

impl OutputReader {
    /// A reader of command `command_id`'s output, its Receives sent through `client`.
    pub(super) fn new(client: Client, shell: Arc<ShellShared>, command_id: String) -> Self {
        Self {
            exchange: Arc::new(ReceiveExchange {
                client,
                shell,
                command_id,
            }),
            sequence_id: 0,
            events: EventQueue::new(),
            ahead: None,
        }
    }

    /// The next event; `Ok(None)` after [`Output::Exited`] was returned.
    pub async fn next(&mut self) -> Result<Option<Output>, ClientError> {
        loop {
            if let Some(next) = self.events.next() {
                return Ok(next);
            }
            self.receive_once().await?;
        }
    }

    /// One Receive exchange that produced an answer: the one already in flight, or a new one.
    async fn receive_once(&mut self) -> Result<(), ClientError> {
        let ahead = match self.ahead.take() {
            Some(ahead) => ahead,
            None => Ahead::start(self.exchange.clone(), self.sequence_id),
        };
        let fetched = ahead.wait().await?;
        self.sequence_id += 1;
        self.ahead = fetched.next;
        self.absorb(fetched.response)?;
        if self.events.is_finished() {
            self.ahead = None;
        }
        Ok(())
    }

    /// Queue the data and the final state of one ReceiveResponse (parts of other commands
    /// are ignored).
    fn absorb(&mut self, received: ReceiveResponse) -> Result<(), ClientError> {
        let ours = |id: &Option<String>| {
            id.as_deref()
                .is_none_or(|id| id.eq_ignore_ascii_case(&self.exchange.command_id))
        };
        for part in received.streams {
            if ours(&part.command_id) && !part.data.is_empty() {
                self.events.push(Output::Data {
                    stream: part.name,
                    data: part.data,
                });
            }
        }
        if let Some((id, CommandStateValue::Done { exit_code })) = received.state {
            if ours(&id) {
                let exit_code = exit_code.ok_or_else(|| {
                    ClientError::protocol("the command is done but the response has no ExitCode")
                })?;
                self.events.finish(Output::Exited { exit_code });
            }
        }
        Ok(())
    }
}

/// Events decoded from the answers, handed out one at a time; after the last one
/// ([`EventQueue::finish`]) nothing more is read. A command's output and a PowerShell
/// pipeline's are both read this way.
#[derive(Debug)]
pub(crate) struct EventQueue<T> {
    queue: VecDeque<T>,
    finished: bool,
}

impl<T> EventQueue<T> {
    pub(crate) fn new() -> Self {
        Self {
            queue: VecDeque::new(),
            finished: false,
        }
    }

    /// The next event (`Some(None)` once the last was handed out), or `None` while more must
    /// be read.
    pub(crate) fn next(&mut self) -> Option<Option<T>> {
        match self.queue.pop_front() {
            Some(event) => Some(Some(event)),
            None => self.finished.then_some(None),
        }
    }

    pub(crate) fn push(&mut self, event: T) {
        self.queue.push_back(event);
    }

    /// Queue the last event.
    pub(crate) fn finish(&mut self, last: T) {
        self.queue.push_back(last);
        self.finished = true;
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.finished
    }
}
