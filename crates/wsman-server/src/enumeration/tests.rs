//! The enumeration store: paging, limits, ownership, expiry.

use super::*;
use wsman_proto::cim::Instance;
use wsman_providers::CountedItems;

/// The owner key of the Linux user `name`.
fn key(name: &str) -> OwnerKey {
    wsman_principal::Principal::linux_user(name).owner_key()
}

fn far() -> Instant {
    Instant::now() + Duration::from_secs(600)
}

fn items(n: usize) -> Pending {
    Pending::Rendered((0..n).map(|i| format!("<i>{i}</i>")).collect())
}

/// A store with `limits` (the service's are [`ContextLimits::default`]); the time and idle
/// timeout used.
fn bounded(limits: ContextLimits) -> (EnumerationStore, Instant, Duration) {
    let store = EnumerationStore {
        limits,
        ..EnumerationStore::default()
    };
    (store, Instant::now(), Duration::from_secs(60))
}

/// A store holding one context of alice's with `n` items; the time and idle timeout used.
fn store_with_alices(n: usize) -> (EnumerationStore, String, Instant, Duration) {
    let store = EnumerationStore::new();
    let now = Instant::now();
    let t = Duration::from_secs(60);
    let id = store
        .insert(&key("alice"), items(n), n, now, t, None)
        .unwrap_or_default();
    (store, id, now, t)
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
    let (store, id, now, t) = store_with_alices(3);
    let alice = key("alice");
    let pull = || store.pull(&alice, &id, now, t, 2, 10_000, far());
    // (items, end) of each page.
    let page = |b: Result<Batch, Fault>| b.map(|b| (b.items.len(), b.end)).ok();
    assert_eq!(page(pull().await), Some((2, false)));
    assert_eq!(page(pull().await), Some((1, true)));
    assert!(pull().await.is_err());
}

#[tokio::test]
async fn an_item_too_large_keeps_the_context() {
    let (store, id, now, t) = store_with_alices(2);
    assert!(store
        .pull(&key("alice"), &id, now, t, 2, 3, far())
        .await
        .is_err());
    let b = store
        .pull(&key("alice"), &id, now, t, 5, 10_000, far())
        .await;
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
        .insert(&key("alice"), items(3), 3, now, t, None)
        .unwrap_or_default();
    assert!(store
        .pull(
            &key("alice"),
            &id,
            now + Duration::from_secs(1),
            t,
            1,
            10_000,
            far()
        )
        .await
        .is_err());
    let id = store
        .insert(&key("alice"), items(3), 3, now, t, None)
        .unwrap_or_default();
    assert!(store.release(&key("alice"), &id).is_ok());
    assert!(store.release(&key("alice"), &id).is_err());
}

/// Past a user's limit a new Enumerate is refused, nothing open is evicted, and other
/// users still open theirs.
#[test]
fn store_is_bounded_per_user_without_evicting() {
    let (store, now, t) = bounded(ContextLimits {
        per_user: 3,
        total: 5,
        ..ContextLimits::default()
    });
    let mut alices = Vec::new();
    for _ in 0..3 {
        alices.push(store.insert(&key("alice"), items(1), 1, now, t, None));
    }
    assert!(alices.iter().all(Result::is_ok));
    assert!(store
        .insert(&key("alice"), items(1), 1, now, t, None)
        .is_err());
    assert!(store.insert(&key("bob"), items(1), 1, now, t, None).is_ok());
    assert!(store.insert(&key("bob"), items(1), 1, now, t, None).is_ok());
    // Five in all: a third user is refused too, and nobody's context was evicted.
    assert!(store
        .insert(&key("carol"), items(1), 1, now, t, None)
        .is_err());
    assert_eq!(store.len(), 5);
    let first = alices[0].clone().unwrap_or_default();
    assert!(store.release(&key("alice"), &first).is_ok());
    assert!(store
        .insert(&key("alice"), items(1), 1, now, t, None)
        .is_ok());
}

/// The bytes of rendered items count against the budget.
#[test]
fn store_is_bounded_in_bytes() {
    let (store, now, t) = bounded(ContextLimits {
        per_user_bytes: 1000,
        ..ContextLimits::default()
    });
    // 10 items of 8 bytes and 32 of overhead: 400 bytes.
    assert!(store
        .insert(&key("alice"), items(10), 10, now, t, None)
        .is_ok());
    assert_eq!(store.held_bytes(), 400);
    // Ten more of 8 and five of 9 (`<i>10</i>`): 605 bytes, 5 over.
    assert!(store
        .insert(&key("alice"), items(15), 15, now, t, None)
        .is_err());
    assert!(store
        .insert(&key("bob"), items(15), 15, now, t, None)
        .is_ok());
    assert!(store
        .insert(&key("alice"), items(14), 14, now, t, None)
        .is_ok());
}

/// Another user's Pull or Release is answered as for an unknown context, and leaves the
/// context to its owner.
#[tokio::test]
async fn a_context_belongs_to_its_owner() {
    let (store, id, now, t) = store_with_alices(3);
    let unknown = store
        .pull(
            &key("alice"),
            "uuid:NOT-A-CONTEXT",
            now,
            t,
            1,
            10_000,
            far(),
        )
        .await
        .err();
    assert!(unknown.is_some());
    let by_bob = store
        .pull(&key("bob"), &id, now, t, 1, 10_000, far())
        .await
        .err();
    assert_eq!(by_bob, unknown);
    assert_eq!(store.release(&key("bob"), &id).err(), unknown);
    let b = store
        .pull(&key("alice"), &id, now, t, 5, 10_000, far())
        .await;
    assert_eq!(b.map(|b| b.items.len()).ok(), Some(3));
}

/// A Pull whose budget runs out before one item is made answers `w:TimedOut`; the context
/// stays, and the next Pull gets every item, the one being decided included.
#[tokio::test]
async fn a_pull_out_of_time_times_out_and_loses_nothing() {
    let source = CountedItems::new(
        (0..3u32).map(|i| Item::Instance(Instance::new("T", "root/cimv2").with_key("Id", i))),
        3,
    );
    // Each item costs more steps than one check interval, as a hostile LIKE does.
    let render: Render = Box::new(|item, budget| {
        budget.spend(wsman_proto::budget::CHECK_EVERY * 2)?;
        Ok(match item {
            Item::Instance(i) => i.get("Id").map(|v| format!("<i>{}</i>", v.to_text())),
            Item::Xml { .. } => None,
        })
    });
    let store = EnumerationStore::new();
    let now = Instant::now();
    let t = Duration::from_secs(60);
    let pending = Pending::Lazy(LazyItems::new(Box::new(source), render));
    let id = store
        .insert(&key("alice"), pending, 3, now, t, None)
        .unwrap_or_default();
    let past = Instant::now();
    let late = store
        .pull(&key("alice"), &id, now, t, 10, 10_000, past)
        .await;
    assert_eq!(late.err(), Some(Fault::timed_out()));
    let b = store
        .pull(&key("alice"), &id, now, t, 10, 10_000, far())
        .await;
    assert_eq!(
        b.map(|b| (b.items, b.end)).ok(),
        Some((
            vec![
                "<i>0</i>".to_owned(),
                "<i>1</i>".to_owned(),
                "<i>2</i>".to_owned()
            ],
            true
        ))
    );
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
    let render: Render = Box::new(|item, _| {
        Ok(match item {
            Item::Instance(i) => {
                let id = i.get("Id").map(|v| v.to_text()).unwrap_or_default();
                let even = id.parse::<u32>().is_ok_and(|n| n % 2 == 0);
                even.then(|| format!("<i>{id}</i>"))
            }
            Item::Xml { .. } => None,
        })
    });
    let store = EnumerationStore::new();
    let now = Instant::now();
    let t = Duration::from_secs(60);
    let id = store
        .insert(
            &key("alice"),
            Pending::Lazy(LazyItems::new(Box::new(source), render)),
            10,
            now,
            t,
            None,
        )
        .unwrap_or_default();
    assert_eq!(made.load(Ordering::SeqCst), 0, "nothing made at Enumerate");
    let b = store
        .pull(&key("alice"), &id, now, t, 2, 10_000, far())
        .await
        .ok();
    assert_eq!(
        b.map(|b| (b.items, b.end)),
        Some((vec!["<i>0</i>".to_owned(), "<i>2</i>".to_owned()], false))
    );
    // 0..=2, then 3 (filtered) and 4 (ahead, kept for the next batch); the next batch
    // (two kept items and one more) may be being made ahead, never the whole source.
    let so_far = made.load(Ordering::SeqCst);
    assert!((5..=9).contains(&so_far), "{so_far} items made");
    let b = store
        .pull(&key("alice"), &id, now, t, 10, 10_000, far())
        .await
        .ok();
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
