//! Push delivery (`Events`, `PushWithAck`, `Push`): one task per subscription reads the
//! subscription's feed into the eventing core's [`Scheduler`], and sends what it says is due to
//! the subscriber's `NotifyTo` through a [`Subscriber`] the daemon opens (this crate does no
//! network I/O).
//!
//! At least once and in order: a batch leaves the queue, and the bookmark moves past it, only
//! when the subscriber acknowledged it (`Push` has no acknowledgement: a 2xx answer is taken as
//! delivery). A failed send is retried as the subscription's `ConnectionRetry` says; when the
//! retries are spent, or at once when the subscriber refuses the source's credentials
//! ([`CredentialsRefused`]), the subscription ends with `SubscriptionEnd` (DeliveryFailure) to
//! `EndTo`.
//! Memory is bounded: the feed is read only while the queue has room.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::watch;
use wsman_events::batch::{Due, Pending, Scheduler, Settings};
use wsman_events::delivery::{self, DeliveryHeaders, Embedding, EndStatus, ACK_ACTION};
use wsman_events::subscribe::{AuthenticationProfile, EndpointReference, EnvelopePolicy};
use wsman_events::{BookmarkList, DeliveryMode, SubscribeRequest, Timestamp};
use wsman_journal::feed::{Feed, GapEvent, LiveFeed};
use wsman_proto::response::new_message_id;

/// Why a delivery failed: the daemon's own typed error, boxed.
pub type DeliveryError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What [`Subscriber::send`] returns: the Action of the subscriber's answer (`None`: an empty
/// 2xx).
pub type DeliveryFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<String>, DeliveryError>> + Send + 'a>>;

/// A connection to one subscriber address.
pub trait Subscriber: Send + Sync {
    /// POST one delivery message, encoded as `content_type` says, compressed as
    /// `content_encoding` (`Content-Encoding`; `Some("SLDC")` when the subscription asked).
    fn send<'a>(
        &'a self,
        body: Vec<u8>,
        content_type: &'static str,
        content_encoding: Option<&'static str>,
        message_id: &'a str,
    ) -> DeliveryFuture<'a>;
}

/// What a [`Subscriber`] returns when the subscriber refused the source's credentials (HTTP
/// 401 or 403) or is not the certificate the subscription named: sending again cannot help,
/// so the subscription ends at once, without the `ConnectionRetry` of a network failure.
#[derive(Debug, thiserror::Error)]
#[error("the subscriber refused the source's credentials: {0}")]
pub struct CredentialsRefused(pub String);

/// What a [`Subscriber`] returns when the subscriber refused the delivery and said why (a
/// `w:DeliveryRefused` fault, as our collector answers a forged `Computer`). Sent again as
/// `ConnectionRetry` says (the collector may be mended meanwhile), but the reason is logged
/// once per reason: a forwarder refused every minute says so once, not at every retry.
#[derive(Debug, thiserror::Error)]
#[error("the subscriber refused the delivery: {0}")]
pub struct DeliveryRefused(pub String);

/// Reasons of refusals already logged in this process, at most [`MAX_REFUSAL_REASONS`] (then
/// forgotten all at once, so a new reason is never silenced).
static LOGGED_REFUSALS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
const MAX_REFUSAL_REASONS: usize = 64;

/// Whether `reason` is logged now: the first time this process sees it.
fn first_refusal(reason: &str) -> bool {
    let mut logged = LOGGED_REFUSALS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if logged.iter().any(|r| r == reason) {
        return false;
    }
    if logged.len() >= MAX_REFUSAL_REASONS {
        logged.clear();
    }
    logged.push(reason.to_owned());
    true
}

/// The `Content-Encoding` of an SLDC-compressed delivery (MS-WSMV 3.1.4.1.30.1).
pub const SLDC_ENCODING: &str = "SLDC";

/// Opens [`Subscriber`]s: the daemon's HTTP client. Refusing an address or an authentication
/// profile refuses the Subscribe.
pub trait Connector: Send + Sync {
    fn connect(
        &self,
        to: &EndpointReference,
        authentication: &[AuthenticationProfile],
    ) -> Result<Box<dyn Subscriber>, DeliveryError>;
}

/// Room kept in each message for the headers (reference parameters and a bookmark included).
const HEADER_ROOM: usize = 16 * 1024;
/// `MaxElements` of an `Events` subscription that names none.
const DEFAULT_BATCH_ITEMS: usize = 100;
/// `MaxTime` of an `Events` subscription that names none: deliver promptly.
const DEFAULT_LATENCY: Duration = Duration::from_secs(1);
/// `ConnectionRetry` of a subscription that names none.
const DEFAULT_RETRY: (u32, Duration) = (3, Duration::from_secs(10));
/// Events and bytes read ahead of delivery at most.
const MAX_QUEUED: usize = 1000;
const MAX_QUEUED_BYTES: usize = 4 * 1024 * 1024;
/// Journal entries one read scans at most.
const MAX_SCAN: usize = 10_000;
/// Events read from the journal at once.
const READ_ITEMS: usize = 256;
/// `w:OperationTimeout` of a SubscriptionEnd, as Windows' forwarders send it.
const END_OPERATION_TIMEOUT: Duration = Duration::from_millis(500);
/// Longest one wait for new journal entries, so due heartbeats and batches are never late by
/// more than this.
const MAX_WAIT: Duration = Duration::from_secs(1);

/// Everything the task needs from the Subscribe.
#[derive(Clone)]
pub(crate) struct Plan {
    pub id: String,
    pub mode: DeliveryMode,
    pub settings: Settings,
    pub retry: (u32, Duration),
    pub policy: EnvelopePolicy,
    pub utf16: bool,
    /// Events and heartbeats are SLDC-compressed (the `Compression` option).
    pub sldc: bool,
    pub embedding: Embedding,
    pub notify_to: EndpointReference,
    pub end_to: Option<EndpointReference>,
    pub machine_id: String,
    pub max_envelope: u64,
    pub send_bookmarks: bool,
    pub bookmark: BookmarkList,
    /// `p:SessionId` of every delivery of this run, as Windows' forwarders send one.
    pub session_id: String,
    /// Events delivered before any from the feed (a forwarder's EventID 111 and lost-range
    /// notices); those with an empty channel move no bookmark.
    pub preamble: Vec<Pending>,
}

impl Plan {
    /// The plan of a push `request`; `None` for Pull or without `NotifyTo`.
    pub(crate) fn of(request: &SubscribeRequest, id: &str, machine_id: &str) -> Option<Plan> {
        let notify_to = request.notify_to.clone()?;
        let acknowledged_batches = request.mode == DeliveryMode::Events;
        if request.mode == DeliveryMode::Pull {
            return None;
        }
        let max_envelope = request
            .max_envelope_size
            .map_or(delivery::DEFAULT_MAX_ENVELOPE, |(size, _)| size);
        let room = usize::try_from(max_envelope)
            .unwrap_or(usize::MAX)
            .saturating_sub(HEADER_ROOM);
        // UTF-16 takes at most twice the bytes of UTF-8 for any text.
        let max_batch_bytes = if request.utf16 { room / 2 } else { room }.max(1);
        let (max_items, max_latency) = if acknowledged_batches {
            (
                request
                    .max_elements
                    .map_or(DEFAULT_BATCH_ITEMS, |n| n as usize)
                    .clamp(1, MAX_QUEUED),
                request.max_time.unwrap_or(DEFAULT_LATENCY),
            )
        } else {
            (1, Duration::ZERO)
        };
        Some(Plan {
            id: id.to_owned(),
            mode: request.mode,
            settings: Settings {
                max_items,
                max_latency,
                heartbeat: request.heartbeats,
                max_batch_bytes,
                max_queued: MAX_QUEUED,
                max_queued_bytes: MAX_QUEUED_BYTES,
            },
            retry: request.connection_retry.unwrap_or(DEFAULT_RETRY),
            policy: request
                .max_envelope_size
                .map_or(EnvelopePolicy::Skip, |(_, policy)| policy),
            utf16: request.utf16,
            sldc: request.compress_sldc,
            embedding: Embedding::Cdata,
            notify_to,
            end_to: request.end_to.clone(),
            machine_id: machine_id.to_owned(),
            max_envelope,
            send_bookmarks: request.send_bookmarks,
            bookmark: BookmarkList::new(),
            session_id: new_message_id(),
            preamble: Vec::new(),
        })
    }
}

/// Told the events a subscriber acknowledged, in order.
pub(crate) type OnDelivered = Box<dyn Fn(&[Pending]) + Send + Sync>;

/// Where the task reports delivered events (the subscription's bookmark) and learns that the
/// subscription ended (unsubscribed, expired, source dropped): the sender side is dropped.
pub(crate) struct Link {
    pub ended: watch::Receiver<()>,
    pub delivered: OnDelivered,
    /// Ends the subscription from the task's side (delivery failure).
    pub end: Box<dyn Fn() + Send + Sync>,
    /// The event put before the entries after records the journal lost while they were
    /// unread (a forwarder's notice); none: such records pass without a word.
    pub lost: Option<GapEvent>,
}

/// Why the task stopped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Stopped {
    /// The subscription ended on the source's side.
    Ended,
    /// Deliveries failed past `ConnectionRetry`, or an event did not fit and the policy
    /// cancels.
    DeliveryFailure,
}

/// Run the delivery of one subscription until it ends.
pub(crate) async fn run(
    mut plan: Plan,
    feed: Feed,
    subscriber: Box<dyn Subscriber>,
    end_to: Option<Box<dyn Subscriber>>,
    mut link: Link,
) -> Stopped {
    let mut feed = LiveFeed::new(feed);
    if let Some(lost) = link.lost.take() {
        feed.notify_gaps(lost);
    }
    let mut scheduler = Scheduler::new(plan.settings, now());
    // Events read but not yet taken by the scheduler (it was full): they go first.
    let mut backlog: VecDeque<Pending> = std::mem::take(&mut plan.preamble).into();
    let stopped = 'delivery: loop {
        if link.ended.has_changed().is_err() {
            break Stopped::Ended;
        }
        if backlog.is_empty() && scheduler.queued() < MAX_QUEUED {
            // Wait for the journal only until the next batch or heartbeat is due.
            let at = now();
            let wait = scheduler
                .next_deadline()
                .map_or(MAX_WAIT, |d| d.saturating_duration_since(at).min(MAX_WAIT));
            let want = (MAX_QUEUED - scheduler.queued()).min(READ_ITEMS);
            let read = tokio::select! {
                read = feed.next_batch(want, MAX_SCAN, Some(wait)) => read,
                _ = link.ended.changed() => break Stopped::Ended,
            };
            if !take_read(&plan.id, read, &mut backlog, now()) {
                tokio::select! {
                    _ = tokio::time::sleep(MAX_WAIT) => {}
                    _ = link.ended.changed() => break Stopped::Ended,
                }
            }
        }
        if let Err(stopped) = admit(&plan, &mut scheduler, &mut backlog) {
            break 'delivery stopped;
        }
        if let Err(stopped) = deliver_due(
            &mut plan,
            subscriber.as_ref(),
            &mut scheduler,
            &mut link,
            &mut feed,
            &mut backlog,
        )
        .await
        {
            break 'delivery stopped;
        }
        // Events read while the last batch was in flight go to the scheduler at once (the next
        // turn of the loop) when it has room for them; otherwise it is full and nothing is due
        // yet: wait for the batch's deadline.
        let blocked = backlog.front().is_some_and(|event| {
            event.xml.len() <= plan.settings.max_batch_bytes && !scheduler.has_room(event.xml.len())
        });
        if blocked {
            let now = now();
            let wait = scheduler
                .next_deadline()
                .map_or(MAX_WAIT, |d| d.saturating_duration_since(now).min(MAX_WAIT));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = link.ended.changed() => break Stopped::Ended,
            }
        }
    };
    if stopped == Stopped::DeliveryFailure {
        tracing::warn!(subscription = %plan.id, address = %plan.notify_to.address, "event delivery failed: the subscription ends");
        (link.end)();
        if let (Some(end_to), Some(notice)) = (end_to, plan.end_notice()) {
            send_subscription_end(
                &notice,
                end_to.as_ref(),
                EndStatus::DeliveryFailure,
                "The events could not be delivered.",
            )
            .await;
        }
    }
    stopped
}

/// Moves events of `backlog` into the scheduler while it has room, in order; an event larger
/// than a delivery is skipped, or ends the subscription when its `MaxEnvelopeSize` policy says
/// so.
fn admit(
    plan: &Plan,
    scheduler: &mut Scheduler,
    backlog: &mut VecDeque<Pending>,
) -> Result<(), Stopped> {
    while let Some(front) = backlog.front() {
        let size = front.xml.len();
        if size > plan.settings.max_batch_bytes {
            backlog.pop_front();
            if plan.policy == EnvelopePolicy::CancelSubscription {
                tracing::warn!(subscription = %plan.id, size, "an event does not fit one delivery: the subscription is cancelled, as it asked");
                return Err(Stopped::DeliveryFailure);
            }
            tracing::warn!(subscription = %plan.id, size, "an event does not fit one delivery: skipped");
            continue;
        }
        if !scheduler.has_room(size) {
            break;
        }
        if let Some(event) = backlog.pop_front() {
            if let Err(error) = scheduler.push(event) {
                // has_room said yes and the size was checked: not reached.
                tracing::error!(subscription = %plan.id, %error, "event not queued");
            }
        }
    }
    Ok(())
}

/// Sends what the scheduler says is due, one message at a time, until nothing is; the
/// subscription's end or a failed delivery stops it. After each acknowledgement the events read
/// while the batch travelled join the queue, so the next batch is full rather than what was
/// left of the last read.
///
/// While a batch travels, the next one, when the scheduler already knows it
/// ([`Scheduler::next_after_ack`]), is made on a blocking thread: its envelope, UTF-16 and SLDC
/// are most of the forwarder's CPU per batch, and made after the Ack they were on every round
/// trip, while the collector decodes, parses and syncs the batch before. The message made ahead
/// is sent only when it is what the scheduler hands out after the Ack and was made after the
/// bookmark the Ack left: nothing is sent or recorded earlier than before, and one message is in
/// flight at a time as before.
async fn deliver_due(
    plan: &mut Plan,
    subscriber: &dyn Subscriber,
    scheduler: &mut Scheduler,
    link: &mut Link,
    feed: &mut LiveFeed,
    backlog: &mut VecDeque<Pending>,
) -> Result<(), Stopped> {
    let mut made: Option<Message> = None;
    while let Some(due) = scheduler.poll(now()) {
        // Ended while the last batch travelled (or while its successor was made): nothing more
        // is sent, made or read for a subscription that is gone.
        if link.ended.has_changed().is_err() {
            return Err(Stopped::Ended);
        }
        let message = match made.take() {
            Some(message) if message.due == due && message.base == plan.bookmark => message,
            _ => Message::make(plan, &plan.bookmark, due),
        };
        let ahead = Ahead {
            scheduler,
            feed,
            backlog,
        };
        let (delivery, making) = deliver_reading(plan, subscriber, message, link, ahead).await;
        match delivery {
            Delivery::Taken(bookmark) => {
                let delivered = scheduler.acked(now());
                if !delivered.is_empty() {
                    plan.bookmark = bookmark;
                    (link.delivered)(&delivered);
                    tracing::debug!(subscription = %plan.id, events = delivered.len(), "events delivered");
                }
            }
            Delivery::Failed => {
                scheduler.failed();
                return Err(Stopped::DeliveryFailure);
            }
            Delivery::Ended => return Err(Stopped::Ended),
        }
        // Events read while it travelled join the queue now: the next batch is full instead of
        // what was left of the last read.
        admit(plan, scheduler, backlog)?;
        if let Some(making) = making {
            made = making.await.ok();
        }
    }
    Ok(())
}

/// What is read and made ahead while a batch travels.
struct Ahead<'a> {
    scheduler: &'a Scheduler,
    feed: &'a mut LiveFeed,
    backlog: &'a mut VecDeque<Pending>,
}

/// The next message, being made on a blocking thread.
type Making = tokio::task::JoinHandle<Message>;

/// [`deliver`], and while the subscriber takes the batch (its round trip is mostly the
/// collector's decoding and fsyncs), the next batch's message is made when the scheduler
/// already knows it ([`Scheduler::next_after_ack`]), and the journal is read for the next
/// ones, within the same bounds: what the scheduler holds (this batch included), and one read
/// more.
///
/// Both start only once the send has handed its request to the connection's own task (woken
/// into this worker's LIFO slot) and that task has run: the read (which reads and renders its
/// entries in one poll, without an await point), the copy of the next batch's events and the
/// making thread's allocations, done first, held the request back (0.7 to 1.4 ms of every
/// batch's round trip in a trace, with the collector idle meanwhile). Neither starts once the
/// subscription has ended: its delivery is abandoned then, and the work would be thrown away.
async fn deliver_reading(
    plan: &Plan,
    subscriber: &dyn Subscriber,
    message: Message,
    link: &mut Link,
    ahead: Ahead<'_>,
) -> (Delivery, Option<Making>) {
    let Ahead {
        scheduler,
        feed,
        backlog,
    } = ahead;
    let want = if backlog.is_empty() {
        MAX_QUEUED
            .saturating_sub(scheduler.queued())
            .min(READ_ITEMS)
    } else {
        0
    };
    let base = message.bookmark.clone();
    let ended = link.ended.clone();
    let sending = deliver(plan, subscriber, message, link);
    let making_and_reading = async {
        // Two turns: the client's pool takes one of its own before it hands the request over
        // (to see a close the collector sent while the connection was idle), then its
        // connection's task writes it.
        for _ in 0..2 {
            tokio::task::yield_now().await;
        }
        // The subscription ended during those turns (its delivery then ends too): a read or a
        // message made now would be thrown away with the task, and a making thread would
        // outlive it.
        if ended.has_changed().is_err() {
            return (None, None);
        }
        #[cfg(test)]
        tests::note(tests::Note::Ahead);
        let making = scheduler.next_after_ack().map(|events| {
            let plan = plan.clone();
            tokio::task::spawn_blocking(move || Message::make(&plan, &base, Due::Batch(events)))
        });
        let read = match want {
            0 => None,
            want => Some(feed.next_batch(want, MAX_SCAN, None).await),
        };
        (making, read)
    };
    let (delivery, (making, read)) = tokio::join!(sending, making_and_reading);
    // A failed read is tried again at the next turn of the loop.
    if let Some(read) = read {
        take_read(&plan.id, read, backlog, now());
    }
    (delivery, making)
}

/// Puts the events of a journal read behind `backlog`; false (logged) when the read failed.
fn take_read(
    subscription: &str,
    read: Result<Vec<wsman_journal::feed::SelectedEvent>, wsman_journal::Error>,
    backlog: &mut VecDeque<Pending>,
    now: Timestamp,
) -> bool {
    match read {
        Ok(events) => {
            // An event waits for its batch from when it was logged, not from when it was read:
            // MaxTime bounds its latency. Events read from a backlog are older than that, so a
            // partial batch of them goes at once instead of a MaxTime later; fresh ones batch
            // as before. A time ahead of the clock counts as now.
            backlog.extend(events.into_iter().map(|event| Pending {
                xml: event.xml,
                channel: event.channel,
                record_id: event.record_id,
                queued: event.created.min(now),
            }));
            true
        }
        Err(error) => {
            tracing::error!(%subscription, %error, "the journal could not be read; trying again");
            false
        }
    }
}

/// How one due message went.
enum Delivery {
    /// Acknowledged (or, for `Push`, answered 2xx); the bookmark after its events.
    Taken(BookmarkList),
    /// Not taken after every retry.
    Failed,
    /// The subscription ended meanwhile.
    Ended,
}

/// One delivery message, made and ready to send.
struct Message {
    /// What the scheduler handed out.
    due: Due,
    /// The bookmark it was made after, and the one after its events.
    base: BookmarkList,
    bookmark: BookmarkList,
    message_id: String,
    body: Vec<u8>,
    content_type: &'static str,
    content_encoding: Option<&'static str>,
}

impl Message {
    /// The message of `due` after the bookmark `base` (the subscription's, or that of the batch
    /// in flight when made ahead): its envelope, encoded and compressed as the subscription
    /// asked.
    fn make(plan: &Plan, base: &BookmarkList, due: Due) -> Message {
        let message_id = new_message_id();
        let operation_id = new_message_id();
        let events: &[Pending] = match &due {
            Due::Batch(events) => events,
            Due::Heartbeat => &[],
        };
        let mut bookmark = base.clone();
        for event in events.iter().filter(|e| !e.channel.is_empty()) {
            bookmark.advance(&event.channel, event.record_id);
        }
        // Each delivery is an operation of its own: a new OperationID and SequenceId 1, as
        // Windows' forwarders send them.
        let headers = DeliveryHeaders {
            session_id: Some(&plan.session_id),
            max_envelope_size: plan.max_envelope,
            // As Windows: the bookmark with events only, and only once it names a log (the
            // EventID 111 batch of a new subscription carries none; heartbeats never do).
            bookmark: (plan.send_bookmarks
                && matches!(&due, Due::Batch(_))
                && bookmark.positions().next().is_some())
            .then_some(&bookmark),
            ack_requested: plan.mode != DeliveryMode::Push,
            ..DeliveryHeaders::new(
                &plan.notify_to,
                &message_id,
                &operation_id,
                &plan.machine_id,
            )
        };
        let xml = match &due {
            Due::Batch(_) => {
                let xmls: Vec<&str> = events.iter().map(|e| e.xml.as_str()).collect();
                delivery::events_envelope(&headers, &xmls, plan.embedding)
            }
            Due::Heartbeat => delivery::heartbeat_envelope(&headers),
        };
        // Compressed after encoding, as Windows does: the stream holds the UTF-16 bytes.
        let ((body, content_type), content_encoding) = if plan.sldc {
            let compressed = delivery::encode_compressed(&xml, plan.utf16);
            (compressed, Some(SLDC_ENCODING))
        } else {
            (delivery::encode(&xml, plan.utf16), None)
        };
        Message {
            due,
            base: base.clone(),
            bookmark,
            message_id,
            body,
            content_type,
            content_encoding,
        }
    }
}

async fn deliver(
    plan: &Plan,
    subscriber: &dyn Subscriber,
    message: Message,
    link: &mut Link,
) -> Delivery {
    let Message {
        bookmark,
        message_id,
        body,
        content_type,
        content_encoding,
        ..
    } = message;
    tokio::select! {
        sent = send_with_retry(plan, subscriber, body, content_type, content_encoding, &message_id) => {
            if sent { Delivery::Taken(bookmark) } else { Delivery::Failed }
        }
        _ = link.ended.changed() => Delivery::Ended,
    }
}

/// What a `SubscriptionEnd` needs from the subscription, kept after its task has ended.
#[derive(Clone, Debug)]
pub(crate) struct EndNotice {
    pub id: String,
    /// The subscription manager named in the message: where deliveries went.
    pub manager_address: String,
    pub end_to: EndpointReference,
    pub machine_id: String,
    pub max_envelope: u64,
    pub utf16: bool,
}

impl Plan {
    /// `None` without `EndTo`: nobody to tell.
    pub(crate) fn end_notice(&self) -> Option<EndNotice> {
        Some(EndNotice {
            id: self.id.clone(),
            manager_address: self.notify_to.address.clone(),
            end_to: self.end_to.clone()?,
            machine_id: self.machine_id.clone(),
            max_envelope: self.max_envelope,
            utf16: self.utf16,
        })
    }
}

/// Send `SubscriptionEnd` with `status` to the subscriber's `EndTo` (one-way: a failure is
/// logged, never retried).
pub(crate) async fn send_subscription_end(
    notice: &EndNotice,
    end_to: &dyn Subscriber,
    status: EndStatus,
    reason: &str,
) {
    let message_id = new_message_id();
    let (operation_id, session_id) = (new_message_id(), new_message_id());
    let manager = delivery::endpoint(&notice.manager_address, Vec::new());
    // The header set of a Windows forwarder's SubscriptionEnd: its session, AckRequested and
    // an OperationTimeout of half a second.
    let headers = DeliveryHeaders {
        session_id: Some(&session_id),
        max_envelope_size: notice.max_envelope,
        operation_timeout: END_OPERATION_TIMEOUT,
        ..DeliveryHeaders::new(
            &notice.end_to,
            &message_id,
            &operation_id,
            &notice.machine_id,
        )
    };
    let xml = delivery::subscription_end_envelope(&headers, &manager, status, reason);
    let (body, content_type) = delivery::encode(&xml, notice.utf16);
    // Not compressed: Windows' forwarders send SubscriptionEnd plain too.
    match end_to.send(body, content_type, None, &message_id).await {
        Ok(_) => {
            tracing::info!(subscription = %notice.id, status = status.uri(), "SubscriptionEnd sent")
        }
        Err(error) => {
            tracing::info!(subscription = %notice.id, %error, "SubscriptionEnd not delivered")
        }
    }
}

/// One message, sent again as `ConnectionRetry` says; whether the subscriber took it.
async fn send_with_retry(
    plan: &Plan,
    subscriber: &dyn Subscriber,
    body: Vec<u8>,
    content_type: &'static str,
    content_encoding: Option<&'static str>,
    message_id: &str,
) -> bool {
    let (retries, interval) = plan.retry;
    for attempt in 0..=retries {
        if attempt > 0 {
            tokio::time::sleep(interval).await;
        }
        match subscriber
            .send(body.clone(), content_type, content_encoding, message_id)
            .await
        {
            Ok(answer) => {
                let acknowledged = answer.as_deref() == Some(ACK_ACTION);
                if plan.mode == DeliveryMode::Push || acknowledged {
                    return true;
                }
                tracing::info!(subscription = %plan.id, answer = ?answer, attempt, "the subscriber did not acknowledge the delivery");
            }
            Err(error) if error.downcast_ref::<CredentialsRefused>().is_some() => {
                tracing::warn!(subscription = %plan.id, %error, "event delivery refused");
                return false;
            }
            Err(error) if error.downcast_ref::<DeliveryRefused>().is_some() => {
                let reason = error.to_string();
                if first_refusal(&reason) {
                    tracing::warn!(subscription = %plan.id, address = %plan.notify_to.address, %reason, "event delivery refused by the subscriber (said once per reason; retried)");
                } else {
                    tracing::debug!(subscription = %plan.id, %reason, attempt, "event delivery refused again");
                }
            }
            Err(error) => {
                tracing::info!(subscription = %plan.id, %error, attempt, "event delivery failed");
            }
        }
    }
    false
}

/// The wall clock as the eventing core counts time.
fn now() -> Timestamp {
    Timestamp::from_system_time(std::time::SystemTime::now())
}

#[cfg(test)]
#[path = "push_tests.rs"]
mod tests;
