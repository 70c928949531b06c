//! Where a collector's subscriptions come from: the files of `DIR/subscriptions` and, when its
//! bookmarks are in PostgreSQL, the subscriptions stored there (`wsmand wec create`/`import`),
//! which every node sharing the database serves alike. One rule joins them, [`merge`]: a stored
//! subscription wins over a file of the same name (the file is reported, not served), so the
//! daemon and `wsmand wec list` can never disagree on what is served.
//!
//! A node learns of a change in the store by reading its generation counter every
//! [`POLL_INTERVAL`] ([`SubscriptionSource::changed`]; why a poll rather than LISTEN/NOTIFY:
//! see `PostgresStore::subscription_generation`'s module). When the database cannot be read,
//! the stored subscriptions last read are kept (forwarders keep delivering to them; their
//! batches are answered 503 anyway while the bookmarks cannot be stored).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::store::PostgresStore;
use crate::subscriptions::{self, Subscription, SubscriptionSet};

/// How often a node reads the stored subscriptions' generation.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// The subscriptions served: the stored ones, then the files of names not stored.
#[derive(Debug, Default)]
pub struct Merged {
    /// What is served, with the refusals of both sources (the store's first).
    pub set: SubscriptionSet,
    /// How many of `set.subscriptions`, from the first, are stored ones.
    pub stored: usize,
    /// The files not served because a stored subscription has their name.
    pub shadowed: Vec<Subscription>,
}

/// The one rule: `stored`, then each of `files` whose name no stored subscription has.
pub fn merge(stored: SubscriptionSet, files: SubscriptionSet) -> Merged {
    let mut merged = Merged {
        stored: stored.subscriptions.len(),
        set: stored,
        shadowed: Vec::new(),
    };
    merged.set.errors.extend(files.errors);
    for file in files.subscriptions {
        if merged.set.subscriptions[..merged.stored]
            .iter()
            .any(|s| s.name == file.name)
        {
            merged.shadowed.push(file);
        } else {
            merged.set.subscriptions.push(file);
        }
    }
    merged
}

/// What was last read of the stored subscriptions.
#[derive(Debug, Default)]
struct StoredState {
    /// Their generation; `None` before the first read.
    generation: Option<i64>,
    stored: Vec<Subscription>,
    /// Read failures since the last logged one (logged once per minute).
    failures_unlogged: u64,
    last_logged: Option<Instant>,
}

/// A collector's subscriptions: its directory, and the shared store when there is one.
pub struct SubscriptionSource {
    dir: PathBuf,
    shared: Option<Arc<PostgresStore>>,
    state: Mutex<StoredState>,
}

impl SubscriptionSource {
    pub fn new(dir: PathBuf, shared: Option<Arc<PostgresStore>>) -> SubscriptionSource {
        SubscriptionSource {
            dir,
            shared,
            state: Mutex::default(),
        }
    }

    /// Whether stored subscriptions are served (and [`Self::changed`] worth polling).
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Read the files and the stored subscriptions (the last read, if the store cannot be
    /// read now), joined by [`merge`]; a shadowed file is logged.
    pub fn load(&self) -> SubscriptionSet {
        let files = subscriptions::load_dir(&self.dir);
        let Some(store) = &self.shared else {
            return files;
        };
        let read = store.subscription_set();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
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
        let stored = SubscriptionSet {
            subscriptions: state.stored.clone(),
            errors,
        };
        drop(state);
        let merged = merge(stored, files);
        for file in &merged.shadowed {
            tracing::warn!(subscription = %file.name, file = %file.file.display(), "collector: the shared store holds this subscription; its file is not served");
        }
        merged.set
    }

    /// Whether the stored subscriptions changed since they were read (a failed read counts as
    /// no change, logged at most once a minute).
    pub fn changed(&self) -> bool {
        let Some(store) = &self.shared else {
            return false;
        };
        let read = store.subscription_generation();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
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
                    state.last_logged = Some(Instant::now());
                }
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::subscriptions::SubscriptionError;

    const QUERY: &str = r#"query = '<QueryList><Query Id="0"><Select Path="Security">*</Select></Query></QueryList>'"#;

    fn subscription(file: &str, extra: &str) -> Subscription {
        subscriptions::parse(Path::new(file), &format!("{QUERY}\n{extra}\n")).unwrap()
    }

    #[test]
    fn a_stored_subscription_wins_over_a_file_of_its_name() {
        let stored = SubscriptionSet {
            subscriptions: vec![subscription("security.toml", "max_items = 7")],
            errors: vec![SubscriptionError::TooMany],
        };
        let files = SubscriptionSet {
            subscriptions: vec![
                subscription("/etc/wec/security.toml", "max_items = 1"),
                subscription("/etc/wec/system.toml", ""),
            ],
            errors: vec![SubscriptionError::TooLarge("/etc/wec/big.toml".into())],
        };
        let merged = merge(stored, files);
        let served: Vec<_> = merged
            .set
            .subscriptions
            .iter()
            .map(|s| (s.name.as_str(), s.max_items))
            .collect();
        assert_eq!(served, [("security", Some(7)), ("system", None)]);
        assert_eq!(merged.stored, 1);
        assert_eq!(merged.shadowed.len(), 1);
        assert_eq!(merged.shadowed[0].file, Path::new("/etc/wec/security.toml"));
        // Both sources' refusals, the store's first.
        assert!(matches!(
            merged.set.errors[..],
            [SubscriptionError::TooMany, SubscriptionError::TooLarge(_)]
        ));
    }

    #[test]
    fn without_a_shared_store_the_files_are_served() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("security.toml"), QUERY).unwrap();
        let source = SubscriptionSource::new(dir.path().to_owned(), None);
        assert!(!source.is_shared() && !source.changed());
        let set = source.load();
        assert_eq!(set.subscriptions.len(), 1);
        assert_eq!(set.subscriptions[0].name, "security");
    }
}
