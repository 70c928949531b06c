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
pub mod unfit;

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use wsman_principal::OwnerKey;

use wsman_proto::budget::{Budget, Expired};
use wsman_proto::Fault;
use wsman_providers::{Item, ItemSource};

use wsman_work::{Ahead, Lane, WorkPool, MAKE_AHEAD_TIME};

use crate::error::{blocking_fault, unfit_fault, BlockingWork};
pub use unfit::Unfit;

pub use quota::ContextLimits;
use quota::{Held, ITEM_OVERHEAD};

/// A context that held at least this much is followed by giving free heap back to the system.
const TRIM_AFTER_BYTES: usize = 1 << 20;

/// Steps counted for making one item (a provider may read the host for it): the budget's
/// clock is read at least every [`wsman_proto::budget::CHECK_EVERY`] / 64 items.
const STEPS_PER_ITEM: u64 = 64;

/// Renders one item of a lazy enumeration within a budget; `Ok(None)`: the filter leaves it
/// out; `Err(Expired)`: the budget ran out before it was decided (the item is kept for later).
pub type Render = Box<dyn FnMut(&Item, &mut Budget) -> Result<Option<String>, Expired> + Send>;

/// Items made as they are pulled: the provider's source and how the request renders them.
pub struct LazyItems {
    source: Box<dyn ItemSource>,
    render: Render,
    /// Items rendered but not sent yet: made ahead, or one that did not fit the last batch.
    ready: VecDeque<String>,
    ready_bytes: usize,
    /// The item whose filter ran out of budget: decided first next time, never lost.
    held_back: Option<Item>,
}

impl LazyItems {
    pub fn new(source: Box<dyn ItemSource>, render: Render) -> Self {
        Self {
            source,
            render,
            ready: VecDeque::new(),
            ready_bytes: 0,
            held_back: None,
        }
    }

    /// Render the next item the filter keeps into `ready`; false at the end.
    fn make_one(&mut self, budget: &mut Budget) -> Result<bool, Expired> {
        loop {
            budget.spend(STEPS_PER_ITEM)?;
            let Some(item) = self.held_back.take().or_else(|| self.source.next_item()) else {
                return Ok(false);
            };
            match (self.render)(&item, budget) {
                Ok(Some(rendered)) => {
                    self.ready_bytes += rendered.len();
                    self.ready.push_back(rendered);
                    return Ok(true);
                }
                Ok(None) => {}
                Err(expired) => {
                    self.held_back = Some(item);
                    return Err(expired);
                }
            }
        }
    }

    /// Bytes held: items ready and what the source keeps.
    fn held_bytes(&self) -> usize {
        self.ready_bytes + self.ready.len() * ITEM_OVERHEAD + self.source.held_bytes()
    }

    /// Make items ahead until `max_items` or `budget` bytes are ready (one batch), plus one
    /// to know whether that batch is the last.
    fn make_ahead(&mut self, max_items: usize, bytes: usize, budget: &mut Budget) {
        while self.ready.len() <= max_items && self.ready_bytes <= bytes {
            if !matches!(self.make_one(budget), Ok(true)) {
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
    /// Whether no item is left (a lazy source makes and renders the next one to know); not
    /// when the budget ran out before that was known.
    fn ended(&mut self, budget: &mut Budget) -> bool {
        matches!(self.peek_len(budget), Ok(None))
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

    fn peek_len(&mut self, budget: &mut Budget) -> Result<Option<usize>, Expired> {
        Ok(match self {
            Self::Rendered(items) => items.front().map(String::len),
            Self::Lazy(lazy) => {
                if lazy.ready.is_empty() && !lazy.make_one(budget)? {
                    return Ok(None);
                }
                lazy.ready.front().map(String::len)
            }
        })
    }

    /// The next item, once [`Pending::peek_len`] made it.
    fn pop_ready(&mut self) -> Option<String> {
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

/// A context's items in the store: ready, or being made ahead on the blocking pool (the job
/// ends when the slot is dropped: released, expired).
pub enum Slot {
    Ready(Pending),
    MakingAhead(Ahead<Result<Pending, Fault>>),
}

impl Slot {
    /// A slot for `pending`, its next batch (`next`: `max_items`, `budget`) made ahead when
    /// it is lazy and a runtime is at hand: in `owner`'s turn of the work pool, for at most
    /// [`MAKE_AHEAD_TIME`] (what is not made then is made by the next Pull).
    fn ahead(pending: Pending, next: Option<(usize, usize)>, owner: &OwnerKey) -> Self {
        match (pending, next, tokio::runtime::Handle::try_current()) {
            (Pending::Lazy(mut lazy), Some((max_items, bytes)), Ok(runtime)) => {
                let owner = owner.to_string();
                Self::MakingAhead(Ahead::spawn_on(&runtime, async move {
                    let until = Instant::now() + MAKE_AHEAD_TIME;
                    let pool = WorkPool::shared();
                    let Ok(turn) = pool.wait_turn(Lane::Bulk, &owner, until).await else {
                        return Ok(Pending::Lazy(lazy));
                    };
                    let made = pool.run_in_turn(turn, until, move |budget| {
                        lazy.make_ahead(max_items, bytes, budget);
                        Pending::Lazy(lazy)
                    });
                    Ok(made.await?)
                }))
            }
            (pending, _, _) => Self::Ready(pending),
        }
    }

    /// The items, once made.
    pub async fn ready(self) -> Result<Pending, Fault> {
        match self {
            Self::Ready(pending) => Ok(pending),
            Self::MakingAhead(job) => job
                .ready()
                .await
                .unwrap_or_else(|join| Err(blocking_fault(join, BlockingWork::NextItems))),
        }
    }
}

struct Entry {
    /// The principal that opened it ([`wsman_providers::Caller::owner_key`]).
    owner: OwnerKey,
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
    refusals: quota::QuotaRefusals,
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
    pub owner: OwnerKey,
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
    take_fitting_within(items, max_items, budget, &mut Budget::unlimited()).map_err(|unfit| {
        match unfit {
            Unfit::TooLarge(len) => len,
            Unfit::Expired => 0,
        }
    })
}

/// [`take_fitting`] within `budget` of work: when it runs out, the items made so far (none:
/// [`Unfit::Expired`]); nothing is lost, the rest stays in `items`.
pub fn take_fitting_within(
    items: &mut Pending,
    max_items: usize,
    space: usize,
    budget: &mut Budget,
) -> Result<Vec<String>, Unfit> {
    let mut out = Vec::new();
    let mut used = 0usize;
    while out.len() < max_items.max(1) {
        let next = match items.peek_len(budget) {
            Ok(Some(next)) => next,
            Ok(None) => break,
            Err(Expired) if out.is_empty() => return Err(Unfit::Expired),
            Err(Expired) => break,
        };
        if used + next > space {
            if out.is_empty() {
                return Err(Unfit::TooLarge(next));
            }
            break;
        }
        used += next;
        if let Some(item) = items.pop_ready() {
            out.push(item);
        }
    }
    Ok(out)
}

/// A batch taken by [`take_batch`]: what is left, the items (or why none), and whether nothing
/// is left.
pub type Taken = (Pending, Result<Vec<String>, Unfit>, bool);

/// [`take_fitting`], then whether anything is left, for `owner` by `deadline`: a lazy source
/// reads the host and evaluates the filter as it makes items (the one after the batch too, to
/// know whether the batch is the last), so its batch is made in the owner's turn of the work
/// pool, never on the async workers, and stops at the deadline with what it has (nothing:
/// [`Unfit::Expired`], the items kept for the next Pull).
pub async fn take_batch(
    items: Pending,
    max_items: usize,
    space: usize,
    owner: &str,
    deadline: Instant,
) -> Result<Taken, Fault> {
    if !items.is_lazy() {
        return Ok(take_now(items, max_items, space, &mut Budget::unlimited()));
    }
    let pool = WorkPool::shared();
    let turn = match pool.wait_turn(Lane::Bulk, owner, deadline).await {
        Ok(turn) => turn,
        Err(_) => return Ok((items, Err(Unfit::Expired), false)),
    };
    let taken = pool.run_in_turn(turn, deadline, move |budget| {
        take_now(items, max_items, space, budget)
    });
    Ok(taken.await?)
}

fn take_now(mut items: Pending, max_items: usize, space: usize, budget: &mut Budget) -> Taken {
    let batch = take_fitting_within(&mut items, max_items, space, budget);
    let end = batch.is_ok() && items.ended(budget);
    (items, batch, end)
}

impl EnumerationStore {
    pub fn new() -> Self {
        Self::default()
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
        owner: &OwnerKey,
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
        let held = Held::of(owner, map.values().map(|e| (&e.owner, e.bytes)));
        let refused = match self.limits.admit(held, bytes) {
            Ok(()) => {
                let entry = Entry {
                    owner: owner.clone(),
                    items: Slot::ahead(items, next, owner),
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
                self.refusals.refused(&owner.to_string(), bytes, now);
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
        owner: &OwnerKey,
        context: &str,
        now: Instant,
        idle_timeout: Duration,
    ) -> Result<CheckedOut, Fault> {
        let mut map = self.lock();
        let entry = match map.get(context) {
            Some(e) if !e.owner.is(owner) => None,
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
        let items = Slot::ahead(pending, next, &out.owner);
        let entry = Entry {
            owner: out.owner,
            items,
            bytes,
            total: out.total,
            last_used: now,
        };
        self.lock().insert(out.id, entry);
    }

    /// The next batch of `owner`'s context, made by `deadline` (`w:TimedOut` when not one
    /// item was; the context stays). Unknown, expired or another user's:
    /// `n:InvalidEnumerationContext`. `space` bounds the total item bytes (the envelope must
    /// fit MaxEnvelopeSize).
    #[allow(clippy::too_many_arguments)]
    pub async fn pull(
        &self,
        owner: &OwnerKey,
        context: &str,
        now: Instant,
        idle_timeout: Duration,
        max_items: usize,
        space: usize,
        deadline: Instant,
    ) -> Result<Batch, Fault> {
        let (out, slot) = self.check_out(owner, context, now, idle_timeout)?.split();
        let pending = slot.ready().await?;
        let (pending, batch, end) =
            take_batch(pending, max_items, space, &owner.to_string(), deadline).await?;
        let total = out.total;
        let next = (!end).then_some((max_items, space));
        self.check_in(out, pending, next, now, idle_timeout);
        let items = batch.map_err(|unfit| unfit_fault(unfit, 0, space as u64))?;
        Ok(Batch { items, end, total })
    }

    /// Release `owner`'s context. Unknown or another user's: `n:InvalidEnumerationContext`
    /// (and another user's stays).
    pub fn release(&self, owner: &OwnerKey, context: &str) -> Result<(), Fault> {
        let mut map = self.lock();
        let entry = match map.get(context) {
            Some(e) if e.owner.is(owner) => map.remove(context),
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
    pub fn admits(&self, owner: &OwnerKey) -> Result<(), Fault> {
        let map = self.lock();
        let held = Held::of(owner, map.values().map(|e| (&e.owner, e.bytes)));
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
        // A lazy context being made ahead: its job ends as its slot is dropped.
        drop(gone);
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
mod tests;
