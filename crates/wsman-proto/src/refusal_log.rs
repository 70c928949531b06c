//! The one rate limit for refusal log lines, used by every service that logs what a client can
//! make it refuse at no cost to itself: refused connections and requests, quota faults,
//! collector deliveries, the console's audit trail. Without a bound, a client that repeats a
//! refused request writes tens of thousands of lines a second, and journald's own rate limit
//! then drops the lines that matter.
//!
//! Each key (an address, a forwarder, a user) has a window of [`RefusalLimits::interval`]
//! starting at its first refusal: its first [`RefusalLimits::per_key`] refusals are logged one
//! by one (while the service-wide [`RefusalLimits::total`] allows), the rest only counted, by
//! kind. When the window has ended, the next refusal of that key or a [`RefusalLog::flush`]
//! hands back what was left out as one [`LeftOut`], for the caller to write as one summary
//! line. Memory is bounded: at most [`RefusalLimits::max_keys`] keys have windows of their
//! own; past that, the others share one window (its [`LeftOut::key`] is `None`).
//!
//! The caller passes the time, so the rules are tested without waiting.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The bounds of one refusal log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefusalLimits {
    /// The length of each key's window.
    pub interval: Duration,
    /// Lines logged one by one per key and window.
    pub per_key: u32,
    /// Lines logged one by one across every key per interval.
    pub total: u32,
    /// Keys with a window of their own; the rest share one.
    pub max_keys: usize,
}

/// The refusals of a key that were not logged one by one in a window that has ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeftOut<K> {
    /// The key; `None` for the keys past [`RefusalLimits::max_keys`], counted together.
    pub key: Option<K>,
    /// How many refusals were left out in all.
    pub count: u64,
    /// How many of each kind.
    pub by_kind: BTreeMap<String, u64>,
    /// How long the window lasted, from its first refusal to its summary.
    pub over: Duration,
}

/// What [`RefusalLog::admit`] decided.
#[derive(Debug, PartialEq, Eq)]
pub struct Admission<K> {
    /// Whether this refusal is logged one by one (the caller writes its line).
    pub log: bool,
    /// Windows that ended with refusals left out: the caller writes one summary each.
    pub ended: Vec<LeftOut<K>>,
}

impl<K> Admission<K> {
    /// How many refusals of `key` were left out in its window that just ended (0 if none).
    pub fn left_out_of(&self, key: &K) -> u64
    where
        K: PartialEq,
    {
        self.ended
            .iter()
            .filter(|e| e.key.as_ref() == Some(key))
            .map(|e| e.count)
            .sum()
    }
}

/// A rate-limited refusal log keyed by `K`.
#[derive(Debug)]
pub struct RefusalLog<K> {
    limits: RefusalLimits,
    state: Mutex<State<K>>,
}

#[derive(Debug)]
struct State<K> {
    windows: HashMap<Option<K>, Window>,
    /// The service-wide window: when it started and how many lines it logged.
    total: Option<(Instant, u32)>,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    logged: u32,
    left_out: BTreeMap<String, u64>,
}

impl Window {
    fn new(started: Instant) -> Window {
        Window {
            started,
            logged: 0,
            left_out: BTreeMap::new(),
        }
    }

    fn ended(&self, now: Instant, interval: Duration) -> bool {
        now.saturating_duration_since(self.started) >= interval
    }

    fn into_left_out<K>(self, key: Option<K>, now: Instant) -> Option<LeftOut<K>> {
        let count: u64 = self.left_out.values().sum();
        (count > 0).then(|| LeftOut {
            key,
            count,
            by_kind: self.left_out,
            over: now.saturating_duration_since(self.started),
        })
    }
}

impl<K: Clone + Eq + Hash> RefusalLog<K> {
    pub fn new(limits: RefusalLimits) -> Self {
        RefusalLog {
            limits,
            state: Mutex::new(State {
                windows: HashMap::new(),
                total: None,
            }),
        }
    }

    /// One refusal of `kind` for `key` at `now`: whether to log it, and the summaries due.
    pub fn admit(&self, key: K, kind: &str, now: Instant) -> Admission<K> {
        let limits = self.limits;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut ended = Vec::new();
        let mut slot = Some(key);
        if !state.windows.contains_key(&slot) && state.windows.len() >= limits.max_keys {
            // Ended windows make room (summarised); if none has ended, the key shares one.
            ended = state.take_ended(now, limits.interval);
            if state.windows.len() >= limits.max_keys {
                slot = None;
            }
        }
        if state
            .windows
            .get(&slot)
            .is_some_and(|w| w.ended(now, limits.interval))
        {
            if let Some(window) = state.windows.remove(&slot) {
                ended.extend(window.into_left_out(slot.clone(), now));
            }
        }
        let total_open = state.total_allows(now, limits);
        let window = state
            .windows
            .entry(slot.clone())
            .or_insert_with(|| Window::new(now));
        let log = slot.is_some() && window.logged < limits.per_key && total_open;
        if log {
            window.logged += 1;
            if let Some((_, logged)) = state.total.as_mut() {
                *logged += 1;
            }
        } else {
            *window.left_out.entry(kind.to_owned()).or_insert(0) += 1;
        }
        Admission { log, ended }
    }

    /// The summaries of every window that has ended by `now` (call it now and then, so a
    /// flood that stops is still summarised).
    pub fn flush(&self, now: Instant) -> Vec<LeftOut<K>> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.take_ended(now, self.limits.interval)
    }

    /// Keys with a window now (at most `max_keys + 1`).
    pub fn tracked(&self) -> usize {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.windows.len()
    }
}

impl<K: Clone + Eq + Hash> State<K> {
    fn take_ended(&mut self, now: Instant, interval: Duration) -> Vec<LeftOut<K>> {
        let keys: Vec<Option<K>> = self
            .windows
            .iter()
            .filter(|(_, w)| w.ended(now, interval))
            .map(|(k, _)| k.clone())
            .collect();
        keys.into_iter()
            .filter_map(|k| {
                let window = self.windows.remove(&k)?;
                window.into_left_out(k, now)
            })
            .collect()
    }

    /// Whether the service-wide window has room for one more line (a new one is started when
    /// the last has ended).
    fn total_allows(&mut self, now: Instant, limits: RefusalLimits) -> bool {
        match self.total {
            Some((started, logged)) if now.saturating_duration_since(started) < limits.interval => {
                logged < limits.total
            }
            _ => {
                self.total = Some((now, 0));
                limits.total > 0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn limits(per_key: u32, total: u32, max_keys: usize) -> RefusalLimits {
        RefusalLimits {
            interval: MINUTE,
            per_key,
            total,
            max_keys,
        }
    }

    #[test]
    fn a_key_logs_its_share_then_is_summarised_by_kind_when_its_window_ends() {
        let log = RefusalLog::new(limits(2, 100, 10));
        let start = Instant::now();
        let logged: Vec<bool> = (0..5)
            .map(|i| {
                let kind = if i % 2 == 0 { "refused" } else { "denied" };
                log.admit("a", kind, start).log
            })
            .collect();
        assert_eq!(logged, [true, true, false, false, false]);
        // Another key is not silenced by the first.
        assert!(log.admit("b", "refused", start).log);
        let later = start + MINUTE;
        let next = log.admit("a", "refused", later);
        assert!(next.log);
        assert_eq!(next.left_out_of(&"a"), 3);
        let by_kind: Vec<(&str, u64)> = next.ended[0]
            .by_kind
            .iter()
            .map(|(k, n)| (k.as_str(), *n))
            .collect();
        assert_eq!(by_kind, [("denied", 1), ("refused", 2)]);
        // b left nothing out: nothing to summarise.
        assert!(log.flush(later).is_empty());
    }

    #[test]
    fn the_service_wide_total_bounds_lines_across_keys() {
        let log = RefusalLog::new(limits(10, 25, 1000));
        let now = Instant::now();
        let lines = (0..100)
            .filter(|i| log.admit(*i, "refused", now).log)
            .count();
        assert_eq!(lines, 25);
        let left: u64 = log.flush(now + MINUTE).iter().map(|l| l.count).sum();
        assert_eq!(left, 75);
    }

    #[test]
    fn keys_past_the_bound_share_one_window_and_memory_stays_bounded() {
        let log = RefusalLog::new(limits(1, u32::MAX, 100));
        let now = Instant::now();
        for i in 0..1000 {
            log.admit(i, "refused", now);
        }
        assert_eq!(log.tracked(), 101);
        let left = log.flush(now + MINUTE);
        assert_eq!(
            left,
            vec![LeftOut {
                key: None,
                count: 900,
                by_kind: BTreeMap::from([("refused".to_owned(), 900)]),
                over: MINUTE,
            }]
        );
        // Once windows have ended, new keys get their own again.
        assert!(log.admit(5000, "refused", now + MINUTE * 2).log);
    }

    #[test]
    fn a_full_table_summarises_ended_windows_to_make_room() {
        let log = RefusalLog::new(limits(1, u32::MAX, 2));
        let now = Instant::now();
        log.admit(1, "refused", now);
        log.admit(1, "refused", now);
        log.admit(2, "refused", now);
        let newcomer = log.admit(3, "refused", now + MINUTE);
        assert!(newcomer.log);
        assert_eq!(newcomer.left_out_of(&1), 1);
        assert_eq!(log.tracked(), 1);
    }
}
