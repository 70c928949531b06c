//! The host as a Windows Event Forwarding source (source-initiated subscriptions): a
//! subscription a collector offered ([`Offer`]) runs as a push `Events` subscription through
//! the same task as a collector-initiated one ([`crate::push`]), with a durable cursor.
//!
//! Where it starts: after the collector's bookmark, else after our own saved one, else at the
//! oldest entry when the collector asks for existing events, else at the end of the journal.
//! Started without the collector's bookmark, the first event is Windows' EventID 111
//! `SubscriptionBookmarkEvent`, so the collector learns of the forwarder at once. When the
//! journal no longer holds the entries right after the start (vacuumed, rotated away), an
//! event naming the lost record ids goes first; records the journal loses while the
//! subscription runs, before it read them, get the same event before the entries after them
//! (the live feed's gap check, `wsman_journal::gap`). Windows is silent there; we are not.
//!
//! At least once, in order: the cursor (a `BookmarkList` per collector and subscription) is
//! written only after the collector acknowledged the batch, durably, so that a crash leaves the
//! old cursor or the new one ([`crate::cursor`]: one of two slots written in place and
//! `fdatasync`ed). The write is off the delivery's path (`save_cursor`): the next batch goes
//! while the last acknowledged position reaches the disk, and positions acknowledged meanwhile
//! are written together, the latest one. So a restart resends at most the batches acknowledged
//! since the last write that finished (one write's time, one flush), which the collector, whose
//! bookmark moves with what it stored, drops as already stored; on the delivery's path these
//! fsyncs were half of each batch's round trip.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use wsman_events::batch::Pending;
use wsman_events::delivery::EndStatus;
use wsman_events::event::EVENT_NS;
use wsman_events::offer::Offer;
use wsman_events::subscribe::StartAt;
use wsman_events::{BookmarkList, ExportLimits, Guid, Mapping, Timestamp};
use wsman_journal::feed::{Feed, GapEvent, Position, SelectedEvent};
use wsman_journal::gap::Gap;
use wsman_journal::{Journal, Query, Reader, Start};
use wsman_proto::refusal_log::{RefusalLimits, RefusalLog};
use wsman_proto::xml::escape_text;

pub use crate::cursor::read_cursor;
use crate::cursor::CursorFile;
use crate::push::{self, Connector, EndNotice, Link, Subscriber};
use crate::{SourceError, LOGS};

/// Provider of Windows' subscription bookmark event (EventID 111).
const FORWARDER_PROVIDER: &str = "Microsoft-Windows-EventForwarder";
/// Provider of our own notices (entries lost before they were forwarded).
pub const NOTICE_PROVIDER: &str = "wsmand-forwarder";
/// EventID of the lost-entries notice.
pub const LOST_EVENT_ID: u32 = 112;

/// Starts forwarded subscriptions over one journal.
#[derive(Clone, Debug)]
pub struct Forwarder {
    pub journal: Journal,
    pub program: PathBuf,
    /// `Computer` of every event and the `MachineID` of every delivery: the configured FQDN.
    pub mapping: Mapping,
    /// Where the cursors are kept (the daemon's state directory).
    pub state_directory: PathBuf,
    /// Longest wait between two tries of a delivery, whatever `ConnectionRetry` says.
    pub max_retry_interval: Option<Duration>,
}

/// A running forwarded subscription; dropping it stops its task.
pub struct Forwarding {
    /// The offered version it runs.
    pub version: String,
    stop: Option<watch::Sender<()>>,
    finished: Arc<AtomicBool>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// Where `SubscriptionEnd` goes when this host ends the subscription (its `EndTo`).
    end_to: Option<(EndNotice, Box<dyn Subscriber>)>,
}

impl std::fmt::Debug for Forwarding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarding")
            .field("version", &self.version)
            .field("running", &self.is_running())
            .field("end_to", &self.end_to.as_ref().map(|(notice, _)| notice))
            .finish()
    }
}

/// Longest wait for a `SubscriptionEnd` to be taken: a collector that does not answer does not
/// hold up a shutdown.
const END_WAIT: Duration = Duration::from_secs(5);

/// Longest wait for a stopped task to end (it ends at its next await; a delivery in flight is
/// abandoned, and resent by the next task from the cursor).
const STOP_WAIT: Duration = Duration::from_secs(10);

impl Forwarding {
    /// False once deliveries failed past `ConnectionRetry`: started again at the next refresh,
    /// from the bookmark.
    pub fn is_running(&self) -> bool {
        !self.finished.load(Ordering::SeqCst)
    }

    /// Stop the task and wait until it has ended, so that a new task for the same subscription
    /// is its cursor file's only writer. With `end`, the collector is then told with
    /// `SubscriptionEnd` (wsmand stops, or the collector left `forwarding.toml`); without, the
    /// subscription stops silently (the collector withdrew or changed it, as Windows does).
    pub async fn stop(mut self, end: Option<EndStatus>) {
        self.stop.take();
        if let Some(task) = self.task.take() {
            if tokio::time::timeout(STOP_WAIT, task).await.is_err() {
                tracing::warn!(version = %self.version, "a forwarded subscription did not stop in time");
            }
        }
        if let (Some(status), Some((notice, end_to))) = (end, self.end_to.take()) {
            let reason = match status {
                EndStatus::SourceShuttingDown => "The forwarder is shutting down.",
                _ => "The forwarder no longer forwards to this collector.",
            };
            let sent = push::send_subscription_end(&notice, end_to.as_ref(), status, reason);
            if tokio::time::timeout(END_WAIT, sent).await.is_err() {
                tracing::info!(subscription = %notice.id, "SubscriptionEnd not taken in time");
            }
        }
    }
}

impl Forwarder {
    /// The cursor file of `subscription_key` at `collector`.
    pub fn cursor_file(&self, collector: &str, subscription_key: &str) -> PathBuf {
        let name = Guid::for_provider_name(&format!("{collector}\n{subscription_key}")).to_string();
        self.state_directory
            .join(format!("{}.bookmark", name.trim_matches(['{', '}'])))
    }

    /// Start delivering `offer` of `collector` through `connector`.
    pub async fn start(
        &self,
        collector: &str,
        offer: &Offer,
        connector: &dyn Connector,
    ) -> Result<Forwarding, SourceError> {
        let request = &offer.subscribe;
        let key = offer.key();
        let file = self.cursor_file(collector, &key);
        let collector_bookmark = match &request.start_at {
            Some(StartAt::After(list)) if list.positions().next().is_some() => Some(list.clone()),
            _ => None,
        };
        let saved = match read_cursor(&file) {
            Ok(saved) => saved,
            Err(error) => {
                tracing::warn!(file = %file.display(), %error, "the forwarding cursor cannot be read; starting without it");
                None
            }
        };
        let resume = collector_bookmark.clone().or(saved);
        // One feed in record order: every entry up to the largest position was delivered.
        let after = resume
            .as_ref()
            .and_then(|list| list.positions().map(|(_, r)| r).max());
        let position = match after {
            Some(record) => Position::AfterRecord {
                record,
                scanned: None,
            },
            None if request.read_existing_events || request.start_at == Some(StartAt::Earliest) => {
                Position::Oldest
            }
            None => Feed::end_position(&self.journal).await?,
        };
        let now = Timestamp::from_system_time(std::time::SystemTime::now());
        let preamble = self
            .preamble(&key, collector_bookmark.is_none(), after, now)
            .await?;
        let logs: Vec<String> = LOGS.iter().map(|l| (*l).to_owned()).collect();
        check_channels(request, &logs)?;
        let feed = Feed {
            journal: self.journal.clone(),
            program: self.program.clone(),
            position,
            selection: crate::selection(request, logs, &self.mapping),
            // The forwarder follows the journal in-process (a LiveFeed): it takes no turns.
            owner: String::new(),
        };
        let Some(mut plan) = push::Plan::of(request, &key, &self.mapping.computer) else {
            return Err(SourceError::DeliveryModeUnavailable(request.mode.uri()));
        };
        let start_list = resume.unwrap_or_default();
        plan.bookmark = start_list.clone();
        plan.preamble = preamble;
        if let Some(cap) = self.max_retry_interval {
            plan.retry.1 = plan.retry.1.min(cap);
        }
        let subscriber = connector
            .connect(&plan.notify_to, &request.authentication)
            .map_err(SourceError::Subscriber)?;
        let end_to = match &plan.end_to {
            Some(end_to) => connector.connect(end_to, &request.authentication).ok(),
            None => None,
        };
        // A second connection for the SubscriptionEnd this host sends when it stops (the task's
        // own sends the one of a delivery failure).
        let stop_end_to = match plan.end_notice() {
            Some(notice) => connector
                .connect(&notice.end_to, &request.authentication)
                .ok()
                .map(|subscriber| (notice, subscriber)),
            None => None,
        };
        let (stop, ended) = watch::channel(());
        let finished = Arc::new(AtomicBool::new(false));
        let (cursor, cursor_changes) = watch::channel(start_list);
        let cursor_saver = tokio::spawn(save_cursor(file, key.clone(), cursor_changes));
        let end_flag = finished.clone();
        let link = Link {
            ended,
            delivered: Box::new(move |events: &[Pending]| {
                cursor.send_modify(|list| {
                    for event in events.iter().filter(|e| !e.channel.is_empty()) {
                        list.advance(&event.channel, event.record_id);
                    }
                });
            }),
            end: Box::new(move || end_flag.store(true, Ordering::SeqCst)),
            lost: Some(lost_notices(key.clone(), self.mapping.computer.clone())),
        };
        let task_flag = finished.clone();
        let task_key = key.clone();
        let task = tokio::spawn(async move {
            let stopped = push::run(plan, feed, subscriber, end_to, link).await;
            // The link, and with it the cursor's sender, is gone: the saver writes the last
            // acknowledged position and ends.
            let _ = cursor_saver.await;
            tracing::info!(subscription = %task_key, ?stopped, "forwarded subscription stopped");
            task_flag.store(true, Ordering::SeqCst);
        });
        tracing::info!(subscription = %key, %collector, version = %offer.version, start = ?after, "forwarded subscription started");
        Ok(Forwarding {
            version: offer.version.clone(),
            stop: Some(stop),
            finished,
            task: Some(task),
            end_to: stop_end_to,
        })
    }

    /// The events sent before the journal's: Windows' bookmark event (111) to a collector that
    /// has no bookmark, and a notice of the entries the journal dropped between the position
    /// resumed `after` and its oldest, so that the collector sees the loss. A step of
    /// [`Self::start`].
    async fn preamble(
        &self,
        key: &str,
        no_collector_bookmark: bool,
        after: Option<u64>,
        now: Timestamp,
    ) -> Result<Vec<Pending>, SourceError> {
        let mut preamble = Vec::new();
        if no_collector_bookmark {
            preamble.push(pending(bookmark_event(&self.mapping.computer, now), now));
        }
        if let Some(record) = after {
            if let Some(oldest) = self.oldest_record().await? {
                if oldest > record.saturating_add(1) {
                    let (first, last) = (record + 1, oldest - 1);
                    tracing::warn!(subscription = %key, first, last, "journal entries were removed before they were forwarded");
                    preamble.push(pending(
                        lost_event(&self.mapping.computer, first, last, now),
                        now,
                    ));
                }
            }
        }
        Ok(preamble)
    }

    /// The record id (sequence number) of the oldest entry still in the journal.
    async fn oldest_record(&self) -> Result<Option<u64>, SourceError> {
        let query = Query {
            journal: self.journal.clone(),
            start: Start::Oldest,
            program: self.program.clone(),
            ..Query::system()
        };
        let mut reader = Reader::start(&query, ExportLimits::default()).await?;
        Ok(reader.next().await?.and_then(|entry| entry.seqnum()))
    }
}

/// A query naming a channel this host does not have is refused, unless the subscription
/// asked for such channels to be ignored (`IgnoreChannelError`).
fn check_channels(
    request: &wsman_events::subscribe::SubscribeRequest,
    logs: &[String],
) -> Result<(), SourceError> {
    if let Some(query) = &request.filter {
        for channel in query.channels() {
            if !logs.iter().any(|l| l.eq_ignore_ascii_case(&channel))
                && !request.ignore_channel_error
            {
                return Err(SourceError::UnknownChannel(channel));
            }
        }
    }
    Ok(())
}

fn pending(xml: String, now: Timestamp) -> Pending {
    Pending {
        xml,
        channel: String::new(),
        record_id: 0,
        queued: now,
    }
}

/// Windows' EventID 111, as a forwarder sends it first to a collector that has no bookmark
/// for it (the shape recorded in openwec's `doc/protocol.md`).
pub fn bookmark_event(computer: &str, now: Timestamp) -> String {
    format!(
        "<Event xmlns='{EVENT_NS}'><System>\
         <Provider Name='{FORWARDER_PROVIDER}'/><EventID>111</EventID>\
         <TimeCreated SystemTime='{}'/><Computer>{}</Computer></System>\
         <SubscriptionBookmarkEvent><SubscriptionId></SubscriptionId></SubscriptionBookmarkEvent></Event>",
        now.to_system_time(),
        escape_text(computer)
    )
}

/// Our notice that journal records `first..=last` were gone before they were forwarded.
pub fn lost_event(computer: &str, first: u64, last: u64, now: Timestamp) -> String {
    format!(
        "<Event xmlns='{EVENT_NS}'><System>\
         <Provider Name='{NOTICE_PROVIDER}'/><EventID>{LOST_EVENT_ID}</EventID><Level>3</Level>\
         <TimeCreated SystemTime='{}'/><Channel>Linux/Journal</Channel><Computer>{}</Computer></System>\
         <EventData><Data Name='FirstLostRecordId'>{first}</Data><Data Name='LastLostRecordId'>{last}</Data>\
         <Data Name='Message'>The journal no longer holds records {first} to {last}: they were removed before they were forwarded.</Data></EventData></Event>",
        now.to_system_time(),
        escape_text(computer)
    )
}

/// The notice of records the journal lost under a running subscription (vacuumed or rotated
/// away before it read them): the same event and line as at a start. The line is written at
/// most once per [`LOST_LOG_INTERVAL`] (a journal vacuumed again and again under a forwarder
/// that stays behind); every gap has its notice.
fn lost_notices(key: String, computer: String) -> GapEvent {
    let log = LostLog::default();
    Box::new(move |gap: Gap, now: Timestamp| {
        if let Some(left_out) = log.admit(std::time::Instant::now()) {
            tracing::warn!(subscription = %key, first = gap.first, last = gap.last, not_logged_since = left_out, "journal entries were removed before they were forwarded");
        }
        SelectedEvent {
            xml: lost_event(&computer, gap.first, gap.last, now),
            // No channel: the notice moves no bookmark.
            channel: String::new(),
            record_id: 0,
            created: now,
        }
    })
}

/// Shortest time between two lost-records lines of one running subscription.
const LOST_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Which of a running subscription's lost-records lines are written: the project's one rate
/// limit for log lines ([`RefusalLog`]), with one key.
#[derive(Debug)]
struct LostLog(RefusalLog<()>);

impl Default for LostLog {
    fn default() -> Self {
        LostLog(RefusalLog::new(RefusalLimits {
            interval: LOST_LOG_INTERVAL,
            per_key: 1,
            total: 1,
            max_keys: 1,
        }))
    }
}

impl LostLog {
    /// The lines left out since the last one written, when this one is written.
    fn admit(&self, now: std::time::Instant) -> Option<u64> {
        let admission = self.0.admit((), "lost", now);
        admission.log.then(|| admission.left_out_of(&()))
    }
}

/// Writes the cursor each time `changes` moves, the latest position when several moved during
/// one write, off the async workers; after the sender is dropped, writes the last position if
/// it is not on disk yet, and ends. Positions only move forward, and one write finishes before
/// the next starts, so the file never goes back.
async fn save_cursor(file: PathBuf, key: String, mut changes: watch::Receiver<BookmarkList>) {
    let file = Arc::new(file);
    let mut written = changes.borrow_and_update().clone();
    // Opened (read) at the first write, on the blocking pool; given back after each write.
    let mut cursor: Option<CursorFile> = None;
    loop {
        let closed = changes.changed().await.is_err();
        let list = changes.borrow_and_update().clone();
        if list != written {
            let (to, saved, writer) = (file.clone(), list.clone(), cursor.take());
            let result = tokio::task::spawn_blocking(move || {
                let mut writer = writer.unwrap_or_else(|| CursorFile::open(&to));
                let result = writer.write(&saved);
                (writer, result)
            })
            .await;
            match result {
                Ok((writer, Ok(()))) => {
                    cursor = Some(writer);
                    written = list;
                }
                Ok((writer, Err(error))) => {
                    cursor = Some(writer);
                    tracing::error!(subscription = %key, file = %file.display(), %error, "the forwarding cursor was not saved; a restart resends from the previous one");
                }
                Err(error) => {
                    tracing::error!(subscription = %key, %error, "the forwarding cursor's writer failed");
                }
            }
        }
        if closed {
            break;
        }
    }
}

#[cfg(test)]
mod lost_tests {
    use super::*;

    #[test]
    fn a_gap_under_a_running_subscription_is_the_notice_of_a_start() {
        let now = Timestamp::from_system_time(std::time::SystemTime::UNIX_EPOCH);
        let mut notice = lost_notices("sub".to_owned(), "host.example".to_owned());
        let event = notice(
            Gap {
                first: 1509,
                last: 1514,
            },
            now,
        );
        assert_eq!(event.xml, lost_event("host.example", 1509, 1514, now));
        assert!(event
            .xml
            .contains("<Data Name='FirstLostRecordId'>1509</Data>"));
        assert!(event
            .xml
            .contains("<Data Name='LastLostRecordId'>1514</Data>"));
        assert!(event.channel.is_empty(), "a notice moves no bookmark");
    }

    #[test]
    fn the_lost_line_is_written_once_an_interval_and_counts_the_rest() {
        let log = LostLog::default();
        let start = std::time::Instant::now();
        assert_eq!(log.admit(start), Some(0));
        assert_eq!(log.admit(start + Duration::from_secs(1)), None);
        assert_eq!(log.admit(start + Duration::from_secs(59)), None);
        assert_eq!(log.admit(start + LOST_LOG_INTERVAL), Some(2));
        assert_eq!(log.admit(start + LOST_LOG_INTERVAL * 3), Some(0));
    }
}
