//! The subscriptions a collector serves when its bookmarks are in PostgreSQL: those stored in
//! the database (`wsmand wec create`/`import`), which every node sharing it serves alike, and
//! beside them the files of `DIR/subscriptions` whose names the database does not hold (the
//! single-node default, kept working; a stored one of the same name wins, and the file is
//! reported).
//!
//! A node learns of a change by reading the store's generation counter every
//! [`POLL_INTERVAL`] (why a poll rather than LISTEN/NOTIFY: see
//! `wsman_collector::bookmarks::PostgresStore::subscription_generation`'s module); when it
//! moved, the set is read again and served. When the database cannot be read, the stored
//! subscriptions last read are kept (forwarders keep delivering to them; their batches are
//! answered 503 anyway while the bookmarks cannot be stored).

use std::sync::Arc;
use std::time::Duration;

use wsman_collector::subscriptions::{self, Subscription, SubscriptionSet};

use super::CollectorService;

/// How often a node reads the stored subscriptions' generation.
pub(super) const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// What a node last read of the stored subscriptions.
#[derive(Debug, Default)]
pub(super) struct SharedState {
    /// Their generation; `None` before the first read.
    generation: Option<i64>,
    /// The stored subscriptions as read then.
    stored: Vec<Subscription>,
    /// Read failures since the last logged one (logged once per minute).
    failures_unlogged: u64,
    last_logged: Option<std::time::Instant>,
}

impl CollectorService {
    /// Read the files and, with a shared store, the stored subscriptions, and serve them.
    pub(super) fn load_subscriptions(&self) {
        let files = subscriptions::load_dir(&self.subscriptions_dir);
        let Some(store) = &self.shared else {
            self.serve_set(files);
            return;
        };
        let read = store.subscription_set();
        let mut state = self.shared_state.lock().unwrap_or_else(|p| p.into_inner());
        let mut errors = Vec::new();
        match read {
            Ok((generation, stored)) => {
                if state.generation != Some(generation) {
                    tracing::info!(
                        generation,
                        stored = stored.subscriptions.len(),
                        "collector: subscriptions read from the shared store"
                    );
                }
                state.generation = Some(generation);
                state.stored = stored.subscriptions;
                errors = stored.errors;
            }
            Err(error) => {
                tracing::error!(%error, kept = state.stored.len(), "collector: the shared store's subscriptions not read; the last read are served");
            }
        }
        let set = merge(&state.stored, files, errors);
        drop(state);
        self.serve_set(set);
    }

    /// Whether the stored subscriptions changed since they were read (a failed read counts as
    /// no change, logged at most once a minute).
    fn shared_changed(&self) -> bool {
        let Some(store) = &self.shared else {
            return false;
        };
        let read = store.subscription_generation();
        let mut state = self.shared_state.lock().unwrap_or_else(|p| p.into_inner());
        match read {
            Ok(generation) => state.generation != Some(generation),
            Err(error) => {
                state.failures_unlogged += 1;
                let due = state
                    .last_logged
                    .is_none_or(|at| at.elapsed() >= Duration::from_secs(60));
                if due {
                    tracing::warn!(%error, failures = state.failures_unlogged, "collector: the shared subscriptions' generation not read");
                    state.failures_unlogged = 0;
                    state.last_logged = Some(std::time::Instant::now());
                }
                false
            }
        }
    }

    /// With a shared store, follow its subscriptions: a thread reads the generation every
    /// `POLL_INTERVAL` and loads the set again when it moved; it ends once the service is
    /// dropped (a reload that stopped the collector).
    pub fn follow_shared_subscriptions(self: &Arc<Self>) {
        if self.shared.is_none() {
            return;
        }
        let service = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("wec-subscriptions".to_owned())
            .spawn(move || loop {
                std::thread::sleep(POLL_INTERVAL);
                let Some(service) = service.upgrade() else {
                    return;
                };
                if service.shared_changed() {
                    service.load_subscriptions();
                }
            });
        if let Err(error) = spawned {
            tracing::error!(%error, "collector: cannot follow the shared subscriptions (changes are taken at a reload only)");
        }
    }
}

/// The stored subscriptions, then the files whose names are not stored.
fn merge(
    stored: &[Subscription],
    files: SubscriptionSet,
    stored_errors: Vec<subscriptions::SubscriptionError>,
) -> SubscriptionSet {
    let mut set = SubscriptionSet {
        subscriptions: stored.to_vec(),
        errors: stored_errors,
    };
    set.errors.extend(files.errors);
    for file in files.subscriptions {
        if stored.iter().any(|s| s.name == file.name) {
            tracing::warn!(subscription = %file.name, file = %file.file.display(), "collector: the shared store holds this subscription; its file is not served");
        } else {
            set.subscriptions.push(file);
        }
    }
    set
}
