//! Server-side enumeration contexts (WS-Enumeration, reference §3.6).
//!
//! A context holds what is left to send: items rendered at Enumerate time in the requested
//! mode (object, EPR, or both), or a provider's [`ItemSource`] whose items are made, filtered
//! and rendered as they are pulled, so that an enumeration of every process holds one page,
//! not 50,000 rendered instances. After each batch of a lazy context the next one is made
//! ahead on the blocking pool while the client reads this one (at most one batch ahead, the
//! size of the last), so reading the host overlaps the client's parsing instead of adding to
//! it. Contexts live under an opaque `uuid:` id until the last
//! batch, Release, or Service/EnumerationTimeoutms of idleness. A context belongs to the user
//! who opened it: anyone else's Pull or Release of it is answered as for an unknown context.
//! The store is bounded per user and in all, in contexts and in bytes ([`quota`]): past a
//! limit a new Enumerate gets Windows' quota fault, and nothing open is evicted for it. A
//! large context's memory is given back to the system when it goes.

pub mod quota;

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use wsman_proto::Fault;
use wsman_providers::{Item, ItemSource};

pub use quota::ContextLimits;
use quota::{Held, ITEM_OVERHEAD};

/// A context that held at least this much is followed by giving free heap back to the system.
const TRIM_AFTER_BYTES: usize = 1 << 20;

/// Renders one item of a lazy enumeration; `None`: the filter leaves it out.
pub type Render = Box<dyn FnMut(Item) -> Option<String> + Send>;

/// Items made as they are pulled: the provider's source and how the request renders them.
pub struct LazyItems {
    source: Box<dyn ItemSource>,
    render: Render,
    /// Items rendered but not sent yet: made ahead, or one that did not fit the last batch.
    ready: VecDeque<String>,
    ready_bytes: usize,
}

impl LazyItems {
    pub fn new(source: Box<dyn ItemSource>, render: Render) -> Self {
        Self {
            source,
            render,
            ready: VecDeque::new(),
            ready_bytes: 0,
        }
    }

    /// Render the next item the filter keeps into `ready`; false at the end.
    fn make_one(&mut self) -> bool {
        while let Some(item) = self.source.next_item() {
            if let Some(rendered) = (self.render)(item) {
                self.ready_bytes += rendered.len();
                self.ready.push_back(rendered);
                return true;
            }
        }
        false
    }

    /// Bytes held: items ready and what the source keeps.
    fn held_bytes(&self) -> usize {
        self.ready_bytes + self.ready.len() * ITEM_OVERHEAD + self.source.held_bytes()
    }

    /// Make items ahead until `max_items` or `budget` bytes are ready (one batch), plus one
    /// to know whether that batch is the last.
    fn make_ahead(&mut self, max_items: usize, budget: usize) {
        while self.ready.len() <= max_items && self.ready_bytes <= budget {
            if !self.make_one() {
                break;
            }
        }
    }
}

/// What a context has left to send.
pub enum Pending {
    /// Rendered at Enumerate.
    Rendered(VecDeque<String>),
    /// Made and rendered as pulled.
    Lazy(LazyItems),
}

impl Pending {
    /// Whether any item is left (a lazy source makes and renders the next one to know).
    pub fn is_empty(&mut self) -> bool {
        self.peek_len().is_none()
    }

    /// Bytes held (counted against the owner's and the service's budget).
    pub fn held_bytes(&self) -> usize {
        match self {
            Self::Rendered(items) => items.iter().map(|i| i.len() + ITEM_OVERHEAD).sum(),
            Self::Lazy(lazy) => lazy.held_bytes(),
        }
    }

    /// Whether taking a batch makes items: the caller runs it where blocking is allowed.
    pub fn is_lazy(&self) -> bool {
        matches!(self, Self::Lazy(_))
    }

    fn peek_len(&mut self) -> Option<usize> {
        match self {
            Self::Rendered(items) => items.front().map(String::len),
            Self::Lazy(lazy) => {
                if lazy.ready.is_empty() && !lazy.make_one() {
                    return None;
                }
                lazy.ready.front().map(String::len)
            }
        }
    }

    fn pop(&mut self) -> Option<String> {
        self.peek_len()?;
        match self {
            Self::Rendered(items) => items.pop_front(),
            Self::Lazy(lazy) => {
                let item = lazy.ready.pop_front()?;
                lazy.ready_bytes -= item.len();
                Some(item)
            }
        }
    }
}

/// A context's items in the store: ready, or being made ahead on the blocking pool.
pub enum Slot {
    Ready(Pending),
    MakingAhead(tokio::task::JoinHandle<Pending>),
}

impl Slot {
    /// A slot for `pending`, its next batch (`next`: `max_items`, `budget`) made ahead when
    /// it is lazy and a runtime is at hand.
    fn ahead(pending: Pending, next: Option<(usize, usize)>) -> Self {
        match (pending, next, tokio::runtime::Handle::try_current()) {
            (Pending::Lazy(mut lazy), Some((max_items, budget)), Ok(runtime)) => {
                Self::MakingAhead(runtime.spawn_blocking(move || {
                    lazy.make_ahead(max_items, budget);
                    Pending::Lazy(lazy)
                }))
            }
            (pending, _, _) => Self::Ready(pending),
        }
    }

    /// The items, once made.
    pub async fn ready(self) -> Result<Pending, Fault> {
        match self {
            Self::Ready(pending) => Ok(pending),
            Self::MakingAhead(job) => job.await.map_err(|join| {
                Fault::internal_error(format!(
                    "The provider failed while making the next items: {join}. "
                ))
            }),
        }
    }
}

struct Entry {
    /// The user who opened it ([`wsman_providers::Caller::user`]).
    owner: String,
    items: Slot,
    /// What its items held when last put in the store.
    bytes: usize,
    /// Items in the whole enumeration (for `w:TotalItemsCountEstimate`).
    total: usize,
    last_used: Instant,
}

/// The live enumeration contexts of the service.
#[derive(Default)]
pub struct EnumerationStore {
    entries: Mutex<HashMap<String, Entry>>,
    limits: ContextLimits,
    refusals: quota::RefusalLog,
}

/// One batch taken from a context.
#[derive(Debug, PartialEq, Eq)]
pub struct Batch {
    pub items: Vec<String>,
    /// No items are left: the context is gone.
    pub end: bool,
    /// Items in the whole enumeration.
    pub total: usize,
}

/// A context taken out of the store for one Pull (see [`EnumerationStore::check_out`]),
/// with its items (`T`: a [`Slot`]) or without them, while they are used.
pub struct CheckedOut<T = Slot> {
    pub id: String,
    pub owner: String,
    pub items: T,
    pub total: usize,
}

impl CheckedOut {
    /// The context without its items, and the items.
    pub fn split(self) -> (CheckedOut<()>, Slot) {
        (
            CheckedOut {
                id: self.id,
                owner: self.owner,
                items: (),
                total: self.total,
            },
            self.items,
        )
    }
}

/// Take up to `max_items` items whose total length fits `budget` bytes. At least one item is
/// taken when any remain; if even the first does not fit, the caller gets `Err(its length)`.
pub fn take_fitting(
    items: &mut Pending,
    max_items: usize,
    budget: usize,
) -> Result<Vec<String>, usize> {
    let mut out = Vec::new();
    let mut used = 0usize;
    while out.len() < max_items.max(1) {
        let Some(next) = items.peek_len() else { break };
        if used + next > budget {
            if out.is_empty() {
                return Err(next);
            }
            break;
        }
        used += next;
        if let Some(item) = items.pop() {
            out.push(item);
        }
    }
    Ok(out)
}

/// A batch taken by [`take_batch`]: what is left, the items (or the length of a first item
/// that does not fit), and whether nothing is left.
pub type Taken = (Pending, Result<Vec<String>, usize>, bool);

/// [`take_fitting`], then whether anything is left, where blocking is allowed: a lazy source
/// reads the host (/proc) as it makes items (the one after the batch too, to know whether
/// the batch is the last), so its batch is made on the blocking pool, never on the async
/// workers.
pub async fn take_batch(
    mut items: Pending,
    max_items: usize,
    budget: usize,
) -> Result<Taken, Fault> {
    let lazy = items.is_lazy();
    let take = move || {
        let batch = take_fitting(&mut items, max_items, budget);
        let end = items.is_empty();
        (items, batch, end)
    };
    if !lazy {
        return Ok(take());
    }
    tokio::task::spawn_blocking(take).await.map_err(|join| {
        Fault::internal_error(format!(
            "The provider failed while making the next items: {join}. "
        ))
    })
}
impl EnumerationStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store with other limits than [`ContextLimits::default`].
    pub fn with_limits(limits: ContextLimits) -> Self {
        Self {
            entries: Mutex::default(),
            limits,
            refusals: quota::RefusalLog::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the lock cannot leave the map inconsistent (single inserts
        // and removals), so a poisoned lock is still usable.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keep `items` under a new context of `owner` and return its id; `next` (`max_items`,
    /// `budget`): the batch to make ahead for the first Pull of a lazy context. Past the
    /// owner's or the service's limits: Windows' quota fault, and `items` are dropped.
    pub fn insert(
        &self,
        owner: &str,
        items: Pending,
        total: usize,
        now: Instant,
        idle_timeout: Duration,
        next: Option<(usize, usize)>,
    ) -> Result<String, Fault> {
        let bytes = items.held_bytes();
        let id = format!(
            "uuid:{}",
            uuid::Uuid::new_v4().to_string().to_ascii_uppercase()
        );
        let mut map = self.lock();
        let expired = take_expired(&mut map, now, idle_timeout);
        let held = Held::of(owner, map.values().map(|e| (e.owner.as_str(), e.bytes)));
        let refused = match self.limits.admit(held, bytes) {
            Ok(()) => {
                let entry = Entry {
                    owner: owner.to_owned(),
                    items: Slot::ahead(items, next),
                    bytes,
                    total,
                    last_used: now,
                };
                map.insert(id.clone(), entry);
                None
            }
            Err(fault) => Some((fault, items)),
        };
        drop(map);
        dispose(expired);
        match refused {
            None => Ok(id),
            Some((fault, items)) => {
                self.refusals.refused(owner, bytes, now);
                dispose(vec![(bytes, Slot::Ready(items))]);
                Err(fault)
            }
        }
    }

    /// Take a context out of the store while its next batch is made (outside the store's
    /// lock: a lazy batch reads the host). Meanwhile a second Pull of the same context is
    /// answered `n:InvalidEnumerationContext`, as for any context that is not live. Unknown,
    /// expired, or another user's: `n:InvalidEnumerationContext` (and another user's stays).
    pub fn check_out(
        &self,
        owner: &str,
        context: &str,
        now: Instant,
        idle_timeout: Duration,
    ) -> Result<CheckedOut, Fault> {
        let mut map = self.lock();
        let entry = match map.get(context) {
            Some(e) if e.owner != owner => None,
            Some(_) => map.remove(context),
            None => None,
        };
        drop(map);
        match entry {
            Some(e) if now.saturating_duration_since(e.last_used) <= idle_timeout => {
                Ok(CheckedOut {
                    id: context.to_owned(),
                    owner: e.owner,
                    items: e.items,
                    total: e.total,
                })
            }
            Some(e) => {
                dispose(vec![(e.bytes, e.items)]);
                Err(Fault::invalid_enumeration_context())
            }
            None => Err(Fault::invalid_enumeration_context()),
        }
    }

    /// Put a context back after a batch, unless nothing is left (`next` is `None`); a lazy
    /// one makes its next batch (`next`: `max_items`, `budget`) ahead. A context put back is
    /// not checked against the limits again: it was admitted, and it only shrinks.
    pub fn check_in(
        &self,
        out: CheckedOut<()>,
        pending: Pending,
        next: Option<(usize, usize)>,
        now: Instant,
        _idle_timeout: Duration,
    ) {
        let bytes = pending.held_bytes();
        if next.is_none() {
            dispose(vec![(bytes, Slot::Ready(pending))]);
            return;
        }
        let entry = Entry {
            owner: out.owner,
            items: Slot::ahead(pending, next),
            bytes,
            total: out.total,
            last_used: now,
        };
        self.lock().insert(out.id, entry);
    }

    /// The next batch of `owner`'s context. Unknown, expired or another user's:
    /// `n:InvalidEnumerationContext`. `budget` bounds the total item bytes (the envelope must
    /// fit MaxEnvelopeSize).
    pub async fn pull(
        &self,
        owner: &str,
        context: &str,
        now: Instant,
        idle_timeout: Duration,
        max_items: usize,
        budget: usize,
    ) -> Result<Batch, Fault> {
        let (out, slot) = self.check_out(owner, context, now, idle_timeout)?.split();
        let (pending, batch, end) = take_batch(slot.ready().await?, max_items, budget).await?;
        let total = out.total;
        let next = (!end).then_some((max_items, budget));
        self.check_in(out, pending, next, now, idle_timeout);
        let items = batch.map_err(|len| Fault::max_envelope_size_exceeded(len, budget as u64))?;
        Ok(Batch { items, end, total })
    }

    /// Release `owner`'s context. Unknown or another user's: `n:InvalidEnumerationContext`
    /// (and another user's stays).
    pub fn release(&self, owner: &str, context: &str) -> Result<(), Fault> {
        let mut map = self.lock();
        let entry = match map.get(context) {
            Some(e) if e.owner == owner => map.remove(context),
            _ => None,
        };
        drop(map);
        match entry {
            Some(e) => {
                dispose(vec![(e.bytes, e.items)]);
                Ok(())
            }
            None => Err(Fault::invalid_enumeration_context()),
        }
    }

    /// Whether `owner` may open one more context as things stand (before the provider is
    /// asked for anything): a user at its limit is refused at once, not after the work. The
    /// next context is expected to be as large as the owner's average, so a user whose
    /// budget is nearly used by large enumerations is refused before it makes another.
    pub fn admits(&self, owner: &str) -> Result<(), Fault> {
        let map = self.lock();
        let held = Held::of(owner, map.values().map(|e| (e.owner.as_str(), e.bytes)));
        let average = held.owner_bytes / held.owner_contexts.max(1);
        self.limits.admit(held, average)
    }

    /// Number of live contexts (for tests and diagnostics).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the live contexts hold, as counted against the budget (diagnostics, tests).
    pub fn held_bytes(&self) -> usize {
        self.lock().values().map(|e| e.bytes).sum()
    }
}

/// Remove the contexts idle longer than `idle_timeout`, to be disposed of outside the lock.
fn take_expired(
    map: &mut HashMap<String, Entry>,
    now: Instant,
    idle_timeout: Duration,
) -> Vec<(usize, Slot)> {
    let expired: Vec<String> = map
        .iter()
        .filter(|(_, e)| now.saturating_duration_since(e.last_used) > idle_timeout)
        .map(|(id, _)| id.clone())
        .collect();
    expired
        .iter()
        .filter_map(|id| map.remove(id))
        .map(|e| (e.bytes, e.items))
        .collect()
}

/// Drop contexts (their bytes, their items) and, when they held much, give the freed heap back
/// to the system: many small rendered items sit below the allocator's mmap threshold and would
/// stay resident. On the blocking pool when a runtime is at hand (freeing and trimming a large
/// heap takes a while).
fn dispose(gone: Vec<(usize, Slot)>) {
    if gone.is_empty() {
        return;
    }
    let bytes: usize = gone.iter().map(|(b, _)| b).sum();
    let work = move || {
        // A lazy context being made ahead finishes on the blocking pool and is dropped there.
        for (_, slot) in gone {
            if let Slot::MakingAhead(job) = slot {
                job.abort();
            }
        }
        if bytes >= TRIM_AFTER_BYTES {
            wsman_os::allocator::trim_free_memory();
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) if bytes >= TRIM_AFTER_BYTES => drop(runtime.spawn_blocking(work)),
        _ => work(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wsman_proto::cim::Instance;
    use wsman_providers::CountedItems;

    fn items(n: usize) -> Pending {
        Pending::Rendered((0..n).map(|i| format!("<i>{i}</i>")).collect())
    }

    fn left(p: &Pending) -> usize {
        match p {
            Pending::Rendered(q) => q.len(),
            Pending::Lazy(_) => usize::MAX,
        }
    }

    #[test]
    fn batches_respect_count_and_budget() {
        let mut q = items(5);
        assert_eq!(take_fitting(&mut q, 2, 1000).map(|v| v.len()), Ok(2));
        // each item is 8 bytes: a 20-byte budget fits two
        assert_eq!(take_fitting(&mut q, 10, 20).map(|v| v.len()), Ok(2));
        assert_eq!(take_fitting(&mut q, 10, 3), Err(8));
        assert_eq!(left(&q), 1);
    }

    #[tokio::test]
    async fn pull_to_the_end_then_context_is_gone() {
        let store = EnumerationStore::new();
        let now = Instant::now();
        let t = Duration::from_secs(60);
        let id = store
            .insert("alice", items(3), 3, now, t, None)
            .unwrap_or_default();
        let b = store.pull("alice", &id, now, t, 2, 10_000).await;
        assert_eq!(
            b.as_ref().map(|b| (b.items.len(), b.end)).ok(),
            Some((2, false))
        );
        let b = store.pull("alice", &id, now, t, 2, 10_000).await;
        assert_eq!(
            b.as_ref().map(|b| (b.items.len(), b.end)).ok(),
            Some((1, true))
        );
        assert!(store.pull("alice", &id, now, t, 2, 10_000).await.is_err());
    }

    #[tokio::test]
    async fn an_item_too_large_keeps_the_context() {
        let store = EnumerationStore::new();
        let now = Instant::now();
        let t = Duration::from_secs(60);
        let id = store
            .insert("alice", items(2), 2, now, t, None)
            .unwrap_or_default();
        assert!(store.pull("alice", &id, now, t, 2, 3).await.is_err());
        let b = store.pull("alice", &id, now, t, 5, 10_000).await;
        assert_eq!(
            b.map(|b| (b.items, b.end)).ok(),
            Some((vec!["<i>0</i>".to_owned(), "<i>1</i>".to_owned()], true))
        );
    }

    #[tokio::test]
    async fn idle_contexts_expire_and_release_works() {
        let store = EnumerationStore::new();
        let now = Instant::now();
        let t = Duration::from_millis(10);
        let id = store
            .insert("alice", items(3), 3, now, t, None)
            .unwrap_or_default();
        assert!(store
            .pull("alice", &id, now + Duration::from_secs(1), t, 1, 10_000)
            .await
            .is_err());
        let id = store
            .insert("alice", items(3), 3, now, t, None)
            .unwrap_or_default();
        assert!(store.release("alice", &id).is_ok());
        assert!(store.release("alice", &id).is_err());
    }

    /// Past a user's limit a new Enumerate is refused, nothing open is evicted, and other
    /// users still open theirs.
    #[test]
    fn store_is_bounded_per_user_without_evicting() {
        let limits = ContextLimits {
            per_user: 3,
            total: 5,
            ..ContextLimits::default()
        };
        let store = EnumerationStore::with_limits(limits);
        let now = Instant::now();
        let t = Duration::from_secs(60);
        let mut alices = Vec::new();
        for _ in 0..3 {
            alices.push(store.insert("alice", items(1), 1, now, t, None));
        }
        assert!(alices.iter().all(Result::is_ok));
        assert!(store.insert("alice", items(1), 1, now, t, None).is_err());
        assert!(store.insert("bob", items(1), 1, now, t, None).is_ok());
        assert!(store.insert("bob", items(1), 1, now, t, None).is_ok());
        // Five in all: a third user is refused too, and nobody's context was evicted.
        assert!(store.insert("carol", items(1), 1, now, t, None).is_err());
        assert_eq!(store.len(), 5);
        let first = alices[0].clone().unwrap_or_default();
        assert!(store.release("alice", &first).is_ok());
        assert!(store.insert("alice", items(1), 1, now, t, None).is_ok());
    }

    /// The bytes of rendered items count against the budget.
    #[test]
    fn store_is_bounded_in_bytes() {
        let limits = ContextLimits {
            per_user_bytes: 1000,
            ..ContextLimits::default()
        };
        let store = EnumerationStore::with_limits(limits);
        let now = Instant::now();
        let t = Duration::from_secs(60);
        // 10 items of 8 bytes and 32 of overhead: 400 bytes.
        assert!(store.insert("alice", items(10), 10, now, t, None).is_ok());
        assert_eq!(store.held_bytes(), 400);
        // Ten more of 8 and five of 9 (`<i>10</i>`): 605 bytes, 5 over.
        assert!(store.insert("alice", items(15), 15, now, t, None).is_err());
        assert!(store.insert("bob", items(15), 15, now, t, None).is_ok());
        assert!(store.insert("alice", items(14), 14, now, t, None).is_ok());
    }

    /// Another user's Pull or Release is answered as for an unknown context, and leaves the
    /// context to its owner.
    #[tokio::test]
    async fn a_context_belongs_to_its_owner() {
        let store = EnumerationStore::new();
        let now = Instant::now();
        let t = Duration::from_secs(60);
        let id = store
            .insert("alice", items(3), 3, now, t, None)
            .unwrap_or_default();
        let unknown = store
            .pull("alice", "uuid:NOT-A-CONTEXT", now, t, 1, 10_000)
            .await
            .err();
        assert!(unknown.is_some());
        let by_bob = store.pull("bob", &id, now, t, 1, 10_000).await.err();
        assert_eq!(by_bob, unknown);
        assert_eq!(store.release("bob", &id).err(), unknown);
        let b = store.pull("alice", &id, now, t, 5, 10_000).await;
        assert_eq!(b.map(|b| b.items.len()).ok(), Some(3));
    }

    /// A lazy source is read only as far as each batch needs (and one batch ahead), its
    /// filtered items are skipped, and the last batch says so.
    #[tokio::test]
    async fn lazy_items_are_made_as_pulled() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let made = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&made);
        let source = CountedItems::new(
            (0..10u32).map(move |i| {
                counter.fetch_add(1, Ordering::SeqCst);
                Item::Instance(Instance::new("T", "root/cimv2").with_key("Id", i))
            }),
            10,
        );
        // Odd ids are filtered out; even ones render as <i>ID</i>.
        let render: Render = Box::new(|item| match item {
            Item::Instance(i) => {
                let id = i.get("Id").map(|v| v.to_text()).unwrap_or_default();
                (id.parse::<u32>().ok()? % 2 == 0).then(|| format!("<i>{id}</i>"))
            }
            Item::Xml { .. } => None,
        });
        let store = EnumerationStore::new();
        let now = Instant::now();
        let t = Duration::from_secs(60);
        let id = store
            .insert(
                "alice",
                Pending::Lazy(LazyItems::new(Box::new(source), render)),
                10,
                now,
                t,
                None,
            )
            .unwrap_or_default();
        assert_eq!(made.load(Ordering::SeqCst), 0, "nothing made at Enumerate");
        let b = store.pull("alice", &id, now, t, 2, 10_000).await.ok();
        assert_eq!(
            b.map(|b| (b.items, b.end)),
            Some((vec!["<i>0</i>".to_owned(), "<i>2</i>".to_owned()], false))
        );
        // 0..=2, then 3 (filtered) and 4 (ahead, kept for the next batch); the next batch
        // (two kept items and one more) may be being made ahead, never the whole source.
        let so_far = made.load(Ordering::SeqCst);
        assert!((5..=9).contains(&so_far), "{so_far} items made");
        let b = store.pull("alice", &id, now, t, 10, 10_000).await.ok();
        assert_eq!(
            b.map(|b| (b.items, b.end, b.total)),
            Some((
                vec![
                    "<i>4</i>".to_owned(),
                    "<i>6</i>".to_owned(),
                    "<i>8</i>".to_owned()
                ],
                true,
                10
            ))
        );
        assert!(store.is_empty());
    }
}
