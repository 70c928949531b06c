//! Selected events from a position in the journal: what a pull, a push batch and a forwarder
//! each need.
//!
//! A [`Feed`] reads journal entries after its position, maps each to a Windows event, keeps the
//! ones its selection wants, and moves its position past every entry it read, wanted or not, so
//! the next read starts where this one stopped. The position is a journal cursor, which
//! survives restarts of the reader (and of wsmand, when the caller stores it).
//!
//! A pull's query is untrusted and can be costly over large entries, so [`Feed::next_batch_by`]
//! decides entries in chunks in the feed owner's turns of the work pool's bulk lane
//! ([`wsman_work`]: a share per user, low-priority threads, so an administrator's requests
//! preempt it) with a step budget checked against the request's deadline; stopped there, the
//! position is past the entries it decided and no further, so nothing is skipped and nothing
//! delivered twice. The `journalctl` of such a read runs at the lowest priority too.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use wsman_events::journal::LINUX_JOURNAL;
use wsman_events::{
    ContentFormat, Event, ExportLimits, JournalEntry, Mapping, QueryList, Timestamp,
};
use wsman_proto::budget::{Budget, Expired};
use wsman_work::{Lane, WorkError, WorkPool};

use crate::follow::Follower;
use crate::gap::{Gap, GapCheck};
use crate::{Error, Journal, Query, Reader, Start};

/// Where a feed stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Position {
    /// Before the oldest entry (`ReadExistingEvents`, the `earliest` bookmark).
    Oldest,
    /// After the entry with this cursor.
    After(String),
    /// After the entry with this record id (the journal's sequence number): where a
    /// subscriber's bookmark points. Found by reading on from the oldest entry; `scanned` is
    /// how far that search has got, so a long journal is searched across several reads.
    AfterRecord {
        record: u64,
        scanned: Option<String>,
    },
}

/// Which events a feed selects.
#[derive(Clone, Debug)]
pub struct Selection {
    /// `None`: every event of every log in `logs`.
    /// Shared with the subscription (cloned per bulk job: a large query is a large tree).
    pub query: Option<Arc<QueryList>>,
    /// The logs the reader may see (the Security log only for administrators).
    pub logs: Vec<String>,
    pub format: ContentFormat,
    pub mapping: Mapping,
}

impl Selection {
    /// Whether the event of `entry` is selected, and in which log; the query's steps are
    /// counted in `budget`, which may stop it (`Err(Expired)`: not decided).
    fn select(
        &self,
        entry: &JournalEntry,
        now: Timestamp,
        budget: &mut Budget,
    ) -> Result<Option<SelectedEvent>, Expired> {
        let event = self.mapping.event(entry);
        let readable = |log: &str| self.logs.iter().any(|l| l.eq_ignore_ascii_case(log));
        let Some(log) = [event.channel.as_str(), LINUX_JOURNAL]
            .into_iter()
            .find(|log| readable(log))
        else {
            return Ok(None);
        };
        // One tree for the query and the XML when the delivery format is the query's (Raw);
        // none when the query's clauses for these logs are all `*` (a forwarder of everything).
        let mut raw_tree = None;
        if let Some(query) = &self.query {
            let logs = [event.channel.as_str(), LINUX_JOURNAL]
                .into_iter()
                .filter(|log| readable(log));
            let without_event = logs
                .clone()
                .map(|log| query.matches_without_event(log))
                .try_fold(false, |any, selected| Some(any || selected?));
            match without_event {
                Some(true) => {}
                Some(false) => return Ok(None),
                None => {
                    let tree = event.tree(ContentFormat::Raw);
                    let mut matched = false;
                    for log in logs {
                        if query.matches_within(log, &tree, now, budget)? {
                            matched = true;
                            break;
                        }
                    }
                    if !matched {
                        return Ok(None);
                    }
                    raw_tree = Some(tree);
                }
            }
        }
        let xml = match raw_tree {
            Some(tree) if self.format == ContentFormat::Raw => Event::tree_to_xml(&tree),
            _ => event.to_xml(self.format),
        };
        Ok(Some(SelectedEvent {
            xml,
            channel: log.to_owned(),
            record_id: event.record_id,
            created: event.time_created,
        }))
    }
}

/// One selected event, ready to deliver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectedEvent {
    pub xml: String,
    pub channel: String,
    pub record_id: u64,
    /// When the entry was logged (the event's TimeCreated).
    pub created: Timestamp,
}

/// A reader of selected events from a position.
#[derive(Clone, Debug)]
pub struct Feed {
    pub journal: Journal,
    pub program: std::path::PathBuf,
    pub position: Position,
    pub selection: Selection,
    /// The user whose bulk turns of the work pool the feed's decisions take (a
    /// subscription's owner).
    pub owner: String,
}

impl Feed {
    /// The position right after the newest entry now in the journal: where a subscription that
    /// does not read existing events starts.
    pub async fn end_position(journal: &Journal) -> Result<Position, Error> {
        let query = Query {
            journal: journal.clone(),
            start: Start::NewestFirst,
            ..Query::system()
        };
        let mut reader = Reader::start(&query, ExportLimits::default()).await?;
        let newest = reader.next().await?;
        Ok(match newest.as_ref().and_then(|e| e.get("__CURSOR")) {
            Some(cursor) => Position::After(cursor.to_owned()),
            None => Position::Oldest,
        })
    }

    /// Up to `max_items` selected events after the position, reading at most `max_entries`
    /// journal entries; when none is selected and `wait` is given, waits up to that long for new
    /// entries. The position moves past every entry read. It stops at `deadline` (a request's
    /// OperationTimeout), if any: the query runs in the owner's bulk turns, never on the async
    /// workers, waiting for a turn counts against the deadline, and
    /// the position moves only past the entries it decided, so the next read resumes there.
    /// Stopped with events selected, those are the batch; with none, [`Error::TimedOut`].
    pub async fn next_batch_by(
        &mut self,
        max_items: usize,
        max_entries: usize,
        wait: Option<Duration>,
        deadline: Option<Instant>,
    ) -> Result<Vec<SelectedEvent>, Error> {
        let mut selected = self.read(max_items, max_entries, false, deadline).await?;
        if selected.is_empty() {
            if let Some(wait) = wait {
                // A wait that ends without an event is an empty batch, not an error.
                let read = self.read(max_items, max_entries, true, deadline);
                let waited = tokio::time::timeout(wait, read).await;
                if let Ok(result) = waited {
                    selected = result?;
                }
            }
        }
        Ok(selected)
    }

    /// The journalctl query that reads on from the position.
    fn query(&self, follow: bool) -> Query {
        Query {
            // A read for a request scans at the lowest priority; a following one (push,
            // forwarding) is a delivery the host's administrator set up: normal priority.
            background: !follow,
            journal: self.journal.clone(),
            start: match &self.position {
                Position::Oldest | Position::AfterRecord { scanned: None, .. } => Start::Oldest,
                Position::After(cursor)
                | Position::AfterRecord {
                    scanned: Some(cursor),
                    ..
                } => Start::AfterCursor(cursor.clone()),
            },
            follow,
            matches: Vec::new(),
            program: self.program.clone(),
        }
    }

    /// Reads entries after the position and decides them in chunks in the owner's bulk turns,
    /// until `max_items` are selected, `max_entries` are read, the journal ends (a following
    /// read: something is selected) or `deadline` passes.
    async fn read(
        &mut self,
        max_items: usize,
        max_entries: usize,
        follow: bool,
        deadline: Option<Instant>,
    ) -> Result<Vec<SelectedEvent>, Error> {
        let source = self.source(follow).await?;
        self.read_from(source, max_items, max_entries, follow, deadline)
            .await
    }

    /// [`read`](Self::read) from the reader it chose.
    async fn read_from(
        &mut self,
        mut source: Source,
        max_items: usize,
        max_entries: usize,
        follow: bool,
        deadline: Option<Instant>,
    ) -> Result<Vec<SelectedEvent>, Error> {
        let (max_items, max_entries) = (max_items.max(1), max_entries.max(1));
        let now = Timestamp::from_system_time(SystemTime::now());
        let mut selected = Vec::new();
        let mut read = 0usize;
        // A following read decides each entry as it comes: it answers as soon as one is there.
        let chunk_size = if follow { 1 } else { DECIDE_CHUNK };
        while selected.len() < max_items && read < max_entries {
            let want = chunk_size.min(max_entries - read);
            let entries = match &mut source {
                Source::InProcess(slot) => match slot.take() {
                    Some(follower) => Entries::Follower(follower, want),
                    // Not handed back: the job that had it stopped the read.
                    None => break,
                },
                Source::Journalctl(reader) => {
                    let gathered = match deadline {
                        // Reader::next keeps partial input across a cancelled call.
                        Some(deadline) => {
                            tokio::time::timeout_at(deadline.into(), gather(reader, want)).await
                        }
                        None => Ok(gather(reader, want).await),
                    };
                    let Ok(gathered) = gathered else {
                        return stopped(selected);
                    };
                    match gathered {
                        Ok((chunk, ended)) => Entries::Read(chunk, ended),
                        Err(error) => return failed(selected, error),
                    }
                }
            };
            let wanted = max_items - selected.len();
            let decided = match self.decide(entries, wanted, now, deadline).await {
                Ok(decided) => decided,
                Err(error) => return failed(selected, error),
            };
            read += decided.read;
            selected.extend(decided.selected);
            if let (Source::InProcess(slot), Some(follower)) = (&mut source, decided.follower) {
                *slot = Some(follower);
            }
            if decided.expired || deadline.is_some_and(|d| Instant::now() >= d) {
                return stopped(selected);
            }
            if decided.ended || (follow && !selected.is_empty()) {
                break;
            }
        }
        Ok(selected)
    }

    /// Where a read takes its entries: a following read (a pull that waits) follows with
    /// journalctl; any other read opens the journal in-process, libsystemd's cursor API with no
    /// process and no export text to write and parse again (a journalctl per pull cost more
    /// than the pull's events), and with journalctl only where libsystemd cannot open it. The
    /// in-process reader is unwatched: it is closed after this read, and closing a watch waits
    /// for the kernel (see [`Follower::open_unwatched`]).
    async fn source(&self, follow: bool) -> Result<Source, Error> {
        let query = self.query(follow);
        if !follow {
            match Follower::open_unwatched(&query.journal, &query.start, ExportLimits::default()) {
                Ok(follower) => return Ok(Source::InProcess(Some(Box::new(follower)))),
                Err(error @ Error::Invalid(_)) => return Err(error),
                Err(error) => {
                    if !IN_PROCESS_REFUSED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                        tracing::warn!(%error, "the journal cannot be read in-process: reading it with journalctl (said once)");
                    }
                }
            }
        }
        Ok(Source::Journalctl(Box::new(
            Reader::start(&query, ExportLimits::default()).await?,
        )))
    }

    /// Decides entries in order in one of the owner's bulk turns until `wanted` are selected
    /// or the deadline stops the query (waiting for the turn counts); the position moves past
    /// the decided ones only. Entries of an in-process reader are read in the same turn (their
    /// decompression is the read's cost, kept off the async workers like the query's).
    async fn decide(
        &mut self,
        entries: Entries,
        wanted: usize,
        now: Timestamp,
        deadline: Option<Instant>,
    ) -> Result<Decided, Error> {
        if let Entries::Read(list, ended) = &entries {
            if list.is_empty() {
                return Ok(Decided::nothing(*ended));
            }
        }
        let pool = WorkPool::shared();
        // Without a deadline the read waits as long as the turn takes.
        let until = deadline.unwrap_or_else(|| Instant::now() + UNBOUNDED);
        let turn = match pool.wait_turn(Lane::Bulk, &self.owner, until).await {
            Ok(turn) => turn,
            // No turn before the deadline: nothing is decided.
            Err(WorkError::TimedOut) => {
                return Ok(Decided {
                    expired: true,
                    ..Decided::nothing(false)
                })
            }
            Err(error) => return Err(Error::Worker(error.to_string())),
        };
        let mut position = self.position.clone();
        let selection = self.selection.clone();
        let job = pool.run_in_turn(turn, until, move |budget| {
            let decided = decide_in_turn(
                &mut position,
                &selection,
                entries,
                wanted,
                now,
                until,
                budget,
            );
            (position, decided)
        });
        // Cancelled here (a wait that ended), the position stays before these entries.
        let (position, decided) = job.await.map_err(|e| Error::Worker(e.to_string()))?;
        let decided = decided?;
        self.position = position;
        Ok(decided)
    }

    /// Move the position past `entry`; its event, when selected. "now" (for `timediff`
    /// filters) is read once per batch.
    fn take_at(&mut self, entry: &JournalEntry, now: Timestamp) -> Option<SelectedEvent> {
        let mut unlimited = Budget::unlimited();
        // An unlimited budget never runs out.
        advance(
            &mut self.position,
            &self.selection,
            entry,
            now,
            &mut unlimited,
        )
        .unwrap_or(None)
    }
}

/// Entries decided in one job of the bulk lane: enough to make a job worth starting, few
/// enough that one job's entries are little memory.
const DECIDE_CHUNK: usize = 256;

/// The "deadline" of a read without one: later than any read lasts.
const UNBOUNDED: Duration = Duration::from_secs(365 * 24 * 3600);

/// Whether the in-process reader was refused once already (its warning is said once).
static IN_PROCESS_REFUSED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// The reader of one [`Feed::read`].
enum Source {
    /// Lent to each bulk job and handed back.
    InProcess(Option<Box<Follower>>),
    Journalctl(Box<Reader>),
}

/// The entries of one bulk job: read already (and whether the reader ended), or up to this
/// many to read from the in-process reader in the job.
enum Entries {
    Read(Vec<JournalEntry>, bool),
    Follower(Box<Follower>, usize),
}

/// What one bulk job decided.
struct Decided {
    selected: Vec<SelectedEvent>,
    /// Entries taken from the reader.
    read: usize,
    /// The reader has no entry after these.
    ended: bool,
    /// The deadline or the budget stopped it.
    expired: bool,
    /// The in-process reader, handed back for the next chunk.
    follower: Option<Box<Follower>>,
}

impl Decided {
    fn nothing(ended: bool) -> Decided {
        Decided {
            selected: Vec::new(),
            read: 0,
            ended,
            expired: false,
            follower: None,
        }
    }
}

/// The work of [`Feed::decide`]'s job: reads (from an in-process reader) and decides entries
/// until `wanted` are selected, the entries run out or the budget or `until` stops it. An
/// entry read but not decided is not passed: the position stays before it, and the read that
/// stopped there ends (its reader with it).
fn decide_in_turn(
    position: &mut Position,
    selection: &Selection,
    entries: Entries,
    wanted: usize,
    now: Timestamp,
    until: Instant,
    budget: &mut Budget,
) -> Result<Decided, Error> {
    let (mut list, mut follower, mut left, listed_end) = match entries {
        Entries::Read(list, ended) => (list.into_iter(), None, usize::MAX, ended),
        Entries::Follower(follower, want) => (Vec::new().into_iter(), Some(follower), want, false),
    };
    let mut decided = Decided::nothing(false);
    if Instant::now() >= until {
        // Started past its deadline: nothing is decided.
        decided.expired = true;
        decided.follower = follower;
        return Ok(decided);
    }
    while decided.selected.len() < wanted && left > 0 {
        let entry = match follower.as_mut() {
            Some(reader) => reader.next_entry()?,
            None => list.next(),
        };
        let Some(entry) = entry else {
            decided.ended = follower.is_some() || listed_end;
            break;
        };
        left -= 1;
        decided.read += 1;
        match advance(position, selection, &entry, now, budget) {
            Ok(event) => decided.selected.extend(event),
            Err(Expired) => {
                decided.expired = true;
                break;
            }
        }
    }
    decided.follower = follower;
    Ok(decided)
}

/// Up to `want` entries from `reader`, and whether it ended.
async fn gather(reader: &mut Reader, want: usize) -> Result<(Vec<JournalEntry>, bool), Error> {
    let mut chunk = Vec::with_capacity(want);
    while chunk.len() < want {
        match reader.next().await? {
            Some(entry) => chunk.push(entry),
            None => return Ok((chunk, true)),
        }
    }
    Ok((chunk, false))
}

/// A read that failed after it selected events: those are the batch, for the position is
/// already past them (an error here would lose them), and before the entries that failed, so
/// the next read meets the failure itself.
fn failed(selected: Vec<SelectedEvent>, error: Error) -> Result<Vec<SelectedEvent>, Error> {
    if selected.is_empty() {
        return Err(error);
    }
    tracing::debug!(%error, "a journal read failed after it selected events: those are delivered first");
    Ok(selected)
}

/// A read stopped at its deadline: what it selected, or [`Error::TimedOut`] when nothing.
fn stopped(selected: Vec<SelectedEvent>) -> Result<Vec<SelectedEvent>, Error> {
    if selected.is_empty() {
        Err(Error::TimedOut)
    } else {
        Ok(selected)
    }
}

/// Decides `entry` and then moves `position` past it: its event, when selected. Stopped by
/// `budget`, the position stays before it.
fn advance(
    position: &mut Position,
    selection: &Selection,
    entry: &JournalEntry,
    now: Timestamp,
    budget: &mut Budget,
) -> Result<Option<SelectedEvent>, Expired> {
    let cursor = entry.get("__CURSOR").map(str::to_owned);
    if let Position::AfterRecord { record, scanned } = position {
        if entry.seqnum().is_some_and(|n| n <= *record) {
            if cursor.is_some() {
                *scanned = cursor;
            }
            return Ok(None);
        }
    }
    let selected = selection.select(entry, now, budget)?;
    if let Some(cursor) = cursor {
        *position = Position::After(cursor);
    }
    Ok(selected)
}

/// A [`Feed`] for a reader that stays (a push delivery, a forwarder): one reader follows the
/// journal from the position for as long as the feed lives, instead of a journalctl started
/// for every read and for every wait. The reader is in-process ([`Follower`]); where
/// libsystemd cannot open the journal it is one `journalctl --follow` child, as before.
/// Starting journalctl costs more CPU than reading a batch of entries, and piping every entry
/// through its export text cost more than the rest of the forwarder (docs/benchmarks.md). An
/// idle follower waits on inotify, costing no CPU.
#[derive(Debug)]
pub struct LiveFeed {
    feed: Feed,
    follower: Option<Following>,
    gaps: Option<GapNotices>,
}

/// The event a [`LiveFeed`] puts in its batch where records were gone, before the entries
/// after them (a forwarder's notice); given the records and "now".
pub type GapEvent = Box<dyn FnMut(Gap, Timestamp) -> SelectedEvent + Send>;

/// A [`LiveFeed`]'s check for records gone between the entries it reads.
struct GapNotices {
    check: GapCheck,
    event: GapEvent,
}

impl std::fmt::Debug for GapNotices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GapNotices")
            .field("check", &self.check)
            .finish_non_exhaustive()
    }
}

/// How long a woken in-process follower lets more entries arrive before it reads: far below
/// any batch latency a subscription asks for (Windows' shortest, MinLatency, is 30 s).
const SETTLE: Duration = Duration::from_millis(20);

/// Which reader a [`LiveFeed`] follows with.
#[derive(Debug)]
enum Following {
    InProcess(Box<Follower>),
    Journalctl(Box<Reader>),
}

impl LiveFeed {
    pub fn new(feed: Feed) -> LiveFeed {
        LiveFeed {
            feed,
            follower: None,
            gaps: None,
        }
    }

    /// From now on, where two entries read one after the other are not consecutive records
    /// (the ones between were vacuumed or rotated away before they were read: [`crate::gap`]),
    /// the batch has `event` of those records right before the entry after them. It costs a
    /// look at each entry's cursor, no read of the journal.
    pub fn notify_gaps(&mut self, event: GapEvent) {
        self.gaps = Some(GapNotices {
            check: GapCheck::default(),
            event,
        });
    }

    /// Puts the event of the records gone right before `entry`, if any, in `selected`.
    fn note_gap(
        &mut self,
        entry: &JournalEntry,
        now: Timestamp,
        selected: &mut Vec<SelectedEvent>,
    ) {
        if let Some(gaps) = &mut self.gaps {
            if let Some(gap) = gaps.check.next(entry.cursor_part("s"), entry.seqnum()) {
                selected.push((gaps.event)(gap, now));
            }
        }
    }

    /// Where the feed stands: past every entry it has returned or passed over.
    pub fn position(&self) -> &Position {
        &self.feed.position
    }

    /// The in-process reader from the position, else a following journalctl.
    fn start(&self) -> Result<Following, Error> {
        let query = self.feed.query(true);
        match Follower::open(&query.journal, &query.start, ExportLimits::default()) {
            Ok(follower) => Ok(Following::InProcess(Box::new(follower))),
            Err(error @ Error::Invalid(_)) => Err(error),
            Err(error) => {
                tracing::warn!(%error, "the journal cannot be read in-process: following it with journalctl");
                Ok(Following::Journalctl(Box::new(Reader::spawn(
                    &query,
                    ExportLimits::default(),
                )?)))
            }
        }
    }

    /// As [`Feed::next_batch_by`]: up to `max_items` selected events, reading at most
    /// `max_entries` entries. Waits up to `wait` (none: not at all) for the first one; after
    /// it, takes only what is already in the journal. A reader that failed or ended is
    /// started again from the position at the next call.
    pub async fn next_batch(
        &mut self,
        max_items: usize,
        max_entries: usize,
        wait: Option<Duration>,
    ) -> Result<Vec<SelectedEvent>, Error> {
        let follower = match self.follower.take() {
            Some(follower) => follower,
            None => self.start()?,
        };
        let first_by = tokio::time::Instant::now() + wait.unwrap_or(Duration::ZERO);
        match follower {
            Following::InProcess(mut follower) => {
                let selected = self
                    .read_in_process(&mut follower, max_items, max_entries, first_by)
                    .await?;
                self.follower = Some(Following::InProcess(follower));
                Ok(selected)
            }
            Following::Journalctl(mut follower) => {
                let (selected, keep) = self
                    .read_journalctl(&mut follower, max_items, max_entries, first_by)
                    .await?;
                if keep {
                    self.follower = Some(Following::Journalctl(follower));
                }
                Ok(selected)
            }
        }
    }

    /// Reads what the journal has; when nothing is selected yet, waits for more until
    /// `first_by`. A cancelled wait loses nothing: entries are only read between waits.
    async fn read_in_process(
        &mut self,
        follower: &mut Follower,
        max_items: usize,
        max_entries: usize,
        first_by: tokio::time::Instant,
    ) -> Result<Vec<SelectedEvent>, Error> {
        let mut selected = Vec::new();
        let mut read = 0usize;
        let now = Timestamp::from_system_time(SystemTime::now());
        loop {
            while selected.len() < max_items.max(1) && read < max_entries.max(1) {
                let Some(entry) = follower.next_entry()? else {
                    break;
                };
                read += 1;
                self.note_gap(&entry, now, &mut selected);
                if let Some(event) = self.feed.take_at(&entry, now) {
                    selected.push(event);
                }
            }
            let full = selected.len() >= max_items.max(1) || read >= max_entries.max(1);
            if !selected.is_empty() || full || tokio::time::Instant::now() >= first_by {
                return Ok(selected);
            }
            if follower.wait(first_by).await? {
                // Journald writes entry by entry, each waking the descriptor: letting a few
                // more arrive reads them in one go instead of one wake-up each (at 1,000
                // entries a second, a wake-up per entry was a fifth of the forwarder's CPU).
                let settle = tokio::time::Instant::now() + SETTLE;
                tokio::time::sleep_until(settle.min(first_by)).await;
            }
        }
    }

    /// The journalctl reader's read: the events, and whether the child is kept.
    async fn read_journalctl(
        &mut self,
        follower: &mut Reader,
        max_items: usize,
        max_entries: usize,
        first_by: tokio::time::Instant,
    ) -> Result<(Vec<SelectedEvent>, bool), Error> {
        let mut selected = Vec::new();
        let mut read = 0usize;
        while selected.len() < max_items.max(1) && read < max_entries.max(1) {
            // Reader::next keeps partial input across a cancelled call: a timeout loses nothing.
            let until = if selected.is_empty() {
                first_by
            } else {
                tokio::time::Instant::now()
            };
            let next = match tokio::time::timeout_at(until, follower.next()).await {
                Ok(next) => next,
                Err(_) => break,
            };
            match next {
                Ok(Some(entry)) => {
                    read += 1;
                    let now = Timestamp::from_system_time(SystemTime::now());
                    self.note_gap(&entry, now, &mut selected);
                    if let Some(event) = self.feed.take_at(&entry, now) {
                        selected.push(event);
                    }
                }
                // A following journalctl does not end on its own: started again next time.
                Ok(None) => return Ok((selected, false)),
                Err(error) if selected.is_empty() => return Err(error),
                Err(_) => return Ok((selected, false)),
            }
        }
        Ok((selected, true))
    }

    /// Whether the feed reads in-process (false: through a journalctl child, or not started).
    pub fn in_process(&self) -> bool {
        matches!(self.follower, Some(Following::InProcess(_)))
    }
}

#[cfg(test)]
#[path = "feed_tests.rs"]
mod tests;
