//! Server-side enumeration contexts (WS-Enumeration, reference §3.6).
//!
//! Items are rendered once, at Enumerate time, in the requested mode (object, EPR, or both) and
//! kept under an opaque `uuid:` context until the last batch, Release, or
//! Service/EnumerationTimeoutms of idleness. The store is bounded: when full, the least
//! recently used context is dropped.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use wsman_proto::Fault;

/// Most contexts kept at once; beyond this the least recently used one is evicted.
const MAX_CONTEXTS: usize = 1024;

struct Entry {
    items: VecDeque<String>,
    /// Items in the whole enumeration (for `w:TotalItemsCountEstimate`).
    total: usize,
    last_used: Instant,
}

/// The live enumeration contexts of the service.
#[derive(Default)]
pub struct EnumerationStore {
    entries: Mutex<HashMap<String, Entry>>,
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

/// Take up to `max_items` items whose total length fits `budget` bytes. At least one item is
/// taken when any remain; if even the first does not fit, the caller gets `Err(its length)`.
pub fn take_fitting(
    items: &mut VecDeque<String>,
    max_items: usize,
    budget: usize,
) -> Result<Vec<String>, usize> {
    let mut out = Vec::new();
    let mut used = 0usize;
    while out.len() < max_items.max(1) {
        let Some(next) = items.front() else { break };
        if used + next.len() > budget {
            if out.is_empty() {
                return Err(next.len());
            }
            break;
        }
        used += next.len();
        if let Some(item) = items.pop_front() {
            out.push(item);
        }
    }
    Ok(out)
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

    /// Keep `items` under a new context and return its id.
    pub fn insert(
        &self,
        items: VecDeque<String>,
        total: usize,
        now: Instant,
        idle_timeout: Duration,
    ) -> String {
        let id = format!(
            "uuid:{}",
            uuid::Uuid::new_v4().to_string().to_ascii_uppercase()
        );
        let mut map = self.lock();
        map.retain(|_, e| now.saturating_duration_since(e.last_used) <= idle_timeout);
        if map.len() >= MAX_CONTEXTS {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(
            id.clone(),
            Entry {
                items,
                total,
                last_used: now,
            },
        );
        id
    }

    /// The next batch of a context. Unknown or expired: `n:InvalidEnumerationContext`.
    /// `budget` bounds the total item bytes (the envelope must fit MaxEnvelopeSize).
    pub fn pull(
        &self,
        context: &str,
        now: Instant,
        idle_timeout: Duration,
        max_items: usize,
        budget: usize,
    ) -> Result<Batch, Fault> {
        let mut map = self.lock();
        let entry = match map.get_mut(context) {
            Some(e) if now.saturating_duration_since(e.last_used) <= idle_timeout => e,
            Some(_) => {
                map.remove(context);
                return Err(Fault::invalid_enumeration_context());
            }
            None => return Err(Fault::invalid_enumeration_context()),
        };
        entry.last_used = now;
        let items = take_fitting(&mut entry.items, max_items, budget)
            .map_err(|len| Fault::max_envelope_size_exceeded(len, budget as u64))?;
        let end = entry.items.is_empty();
        let total = entry.total;
        if end {
            map.remove(context);
        }
        Ok(Batch { items, end, total })
    }

    /// Release a context. Unknown: `n:InvalidEnumerationContext`.
    pub fn release(&self, context: &str) -> Result<(), Fault> {
        match self.lock().remove(context) {
            Some(_) => Ok(()),
            None => Err(Fault::invalid_enumeration_context()),
        }
    }

    /// Number of live contexts (for tests and diagnostics).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: usize) -> VecDeque<String> {
        (0..n).map(|i| format!("<i>{i}</i>")).collect()
    }

    #[test]
    fn batches_respect_count_and_budget() {
        let mut q = items(5);
        assert_eq!(take_fitting(&mut q, 2, 1000).map(|v| v.len()), Ok(2));
        // each item is 8 bytes: a 20-byte budget fits two
        assert_eq!(take_fitting(&mut q, 10, 20).map(|v| v.len()), Ok(2));
        assert_eq!(take_fitting(&mut q, 10, 3), Err(8));
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn pull_to_the_end_then_context_is_gone() {
        let store = EnumerationStore::new();
        let now = Instant::now();
        let t = Duration::from_secs(60);
        let id = store.insert(items(3), 3, now, t);
        let b = store.pull(&id, now, t, 2, 10_000);
        assert_eq!(
            b.as_ref().map(|b| (b.items.len(), b.end)).ok(),
            Some((2, false))
        );
        let b = store.pull(&id, now, t, 2, 10_000);
        assert_eq!(
            b.as_ref().map(|b| (b.items.len(), b.end)).ok(),
            Some((1, true))
        );
        assert!(store.pull(&id, now, t, 2, 10_000).is_err());
    }

    #[test]
    fn idle_contexts_expire_and_release_works() {
        let store = EnumerationStore::new();
        let now = Instant::now();
        let t = Duration::from_millis(10);
        let id = store.insert(items(3), 3, now, t);
        assert!(store
            .pull(&id, now + Duration::from_secs(1), t, 1, 10_000)
            .is_err());
        let id = store.insert(items(3), 3, now, t);
        assert!(store.release(&id).is_ok());
        assert!(store.release(&id).is_err());
    }

    #[test]
    fn store_is_bounded() {
        let store = EnumerationStore::new();
        let now = Instant::now();
        for _ in 0..MAX_CONTEXTS + 10 {
            store.insert(items(1), 1, now, Duration::from_secs(60));
        }
        assert_eq!(store.len(), MAX_CONTEXTS);
    }
}
