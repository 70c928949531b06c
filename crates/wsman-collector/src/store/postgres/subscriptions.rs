//! Subscriptions in the PostgreSQL store, so that every collector sharing the database serves
//! the same ones (`wsmand wec` edits them there; files stay the single-node default).
//!
//! Why these choices:
//! - a subscription is stored as the text of its file (`DIR/subscriptions/NAME.toml`), checked
//!   by the same parser before it is written and again when a node reads it: one format for
//!   both homes, and `wsmand wec import` is a copy; and then against the node's own outputs
//!   policy (`wsman_outputs::output_policy`): a row is data whoever holds the database role can write,
//!   so what it may make a node do as root is what the node's `[outputs]` allows;
//! - every change (create, replace, enable, disable, delete) takes the one row of
//!   `wec_subscription_generation` and adds one to it, in the change's transaction: changes are
//!   serialized, and the new generation is the subscription's revision, which is part of the
//!   version forwarders see ([`Subscription::with_revision`]), so each change makes them
//!   subscribe again at their next refresh, as a saved subscription does on Windows;
//! - nodes learn of a change by reading that counter every few seconds rather than by
//!   LISTEN/NOTIFY: a notification sent while a node's connection is broken (the database
//!   restarting, a failover, the node's own pool reconnecting) is lost, and a LISTEN needs a
//!   connection held outside the bounded pool; one primary-key read per node per interval
//!   costs nothing next to the bookmarks, and a missed change is impossible;
//! - the counter and the rows are read in one REPEATABLE READ transaction, so a node never
//!   serves a set that is newer than the generation it believes it has.

use std::path::PathBuf;

use tokio_postgres::Transaction;

use super::PostgresStore;
use crate::store::StoreError;
use crate::subscriptions::{
    self, Subscription, SubscriptionError, SubscriptionSet, MAX_FILE_BYTES, MAX_SUBSCRIPTIONS,
};
use wsman_outputs::output_policy::OutputsPolicy;

/// The tables, created (or added to an older schema) at start with the bookmarks'.
pub(super) const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS wec_subscription (
        name TEXT PRIMARY KEY,
        definition TEXT NOT NULL,
        revision BIGINT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS wec_subscription_generation (
        only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
        generation BIGINT NOT NULL
    );
    INSERT INTO wec_subscription_generation (only_row, generation) VALUES (TRUE, 0)
        ON CONFLICT DO NOTHING;
";

const GENERATION: &str = "SELECT generation FROM wec_subscription_generation";

const BUMP: &str =
    "UPDATE wec_subscription_generation SET generation = generation + 1 RETURNING generation";

/// Move the subscription generation within `transaction`: the new value is the revision of
/// what the transaction changes, and nodes see it once the transaction commits.
async fn next_generation(transaction: &Transaction<'_>) -> Result<i64, StoreError> {
    Ok(transaction.query_one(BUMP, &[]).await?.get(0))
}

/// Whether a change was made: only then is its transaction, with the generation it moved,
/// committed.
fn done(change: &Change) -> bool {
    matches!(change, Change::Done(_))
}

/// One stored subscription as `wsmand wec` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSubscription {
    pub name: String,
    /// The subscription file's text.
    pub definition: String,
    /// The generation of its last change.
    pub revision: i64,
}

/// What a change to the stored subscriptions did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Done; the subscription's new revision.
    Done(i64),
    /// Not done: `create` of a name already stored.
    Exists,
    /// Not done: no subscription of that name.
    Missing,
}

/// Why a subscription text was not stored.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Invalid(#[from] SubscriptionError),
    #[error("the store holds {MAX_SUBSCRIPTIONS} subscriptions already")]
    TooMany,
}

/// The file name a stored subscription is parsed as (its name is the file's stem).
fn file_of(name: &str) -> PathBuf {
    PathBuf::from(format!("{name}.toml"))
}

/// Check a subscription's text as a file named `name.toml` would be checked, then its outputs
/// against the node's `policy`.
pub fn check(
    name: &str,
    definition: &str,
    policy: &OutputsPolicy,
) -> Result<Subscription, SubscriptionError> {
    if !subscriptions::valid_name(name) {
        return Err(SubscriptionError::Invalid(
            file_of(name),
            format!("{name:?} is not a subscription name (1 to 64 of A-Z a-z 0-9 . _ -)"),
        ));
    }
    if definition.len() as u64 > MAX_FILE_BYTES {
        return Err(SubscriptionError::TooLarge(file_of(name)));
    }
    let subscription = subscriptions::parse(&file_of(name), definition)?;
    policy
        .admit(&subscription.outputs)
        .map_err(|e| SubscriptionError::Policy(file_of(name), e))?;
    Ok(subscription)
}

impl PostgresStore {
    /// The generation of the stored subscriptions: it changes with every change to them.
    pub fn subscription_generation(&self) -> Result<i64, StoreError> {
        self.run(|pool| async move {
            let row = pool.with(async |c| c.query_one(GENERATION, &[]).await);
            Ok(row.await?.get(0))
        })
    }

    /// Every stored subscription, by name, with the generation they are of.
    pub fn stored_subscriptions(&self) -> Result<(i64, Vec<StoredSubscription>), StoreError> {
        let limit = i64::try_from(MAX_SUBSCRIPTIONS).unwrap_or(i64::MAX) + 1;
        self.run(|pool| async move {
            let mut connection = pool.get().await?;
            let transaction = connection
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let generation: i64 = transaction.query_one(GENERATION, &[]).await?.get(0);
            let rows = transaction
                .query(
                    "SELECT name, definition, revision FROM wec_subscription ORDER BY name LIMIT $1",
                    &[&limit],
                )
                .await?;
            transaction.commit().await?;
            connection.reuse();
            let stored = rows
                .iter()
                .map(|row| StoredSubscription {
                    name: row.get(0),
                    definition: row.get(1),
                    revision: row.get(2),
                })
                .collect();
            Ok((generation, stored))
        })
    }

    /// The stored subscriptions checked as files are, each at its revision's version; the
    /// rows that do not pass are in the set's errors (a row another build wrote, say).
    pub fn subscription_set(&self) -> Result<(i64, SubscriptionSet), StoreError> {
        let (generation, stored) = self.stored_subscriptions()?;
        let mut set = SubscriptionSet::default();
        for (index, row) in stored.into_iter().enumerate() {
            if index >= MAX_SUBSCRIPTIONS {
                set.errors.push(SubscriptionError::TooMany);
                break;
            }
            match check(&row.name, &row.definition, &self.pool.settings.outputs) {
                Ok(subscription) => set
                    .subscriptions
                    .push(subscription.with_revision(row.revision)),
                Err(error) => set.errors.push(error),
            }
        }
        Ok((generation, set))
    }

    /// Store `definition` as subscription `name` (checked first); an existing one is replaced
    /// only when `replace` (`wsmand wec import`), not by `create`.
    pub fn put_subscription(
        &self,
        name: &str,
        definition: &str,
        replace: bool,
    ) -> Result<Change, PutError> {
        check(name, definition, &self.pool.settings.outputs)?;
        let (name, definition) = (name.to_owned(), definition.to_owned());
        let limit = i64::try_from(MAX_SUBSCRIPTIONS).unwrap_or(i64::MAX);
        let work = async move |transaction: &Transaction<'_>| {
            let generation = next_generation(transaction).await?;
            let exists = transaction
                .query_opt("SELECT 1 FROM wec_subscription WHERE name = $1", &[&name])
                .await?
                .is_some();
            if exists && !replace {
                return Ok(Some(Change::Exists));
            }
            let count: i64 = transaction
                .query_one("SELECT count(*) FROM wec_subscription", &[])
                .await?
                .get(0);
            if !exists && count >= limit {
                return Ok(None);
            }
            transaction
                .execute(
                    "INSERT INTO wec_subscription (name, definition, revision) VALUES ($1, $2, $3)
                     ON CONFLICT (name) DO UPDATE SET definition = EXCLUDED.definition,
                         revision = EXCLUDED.revision",
                    &[&name, &definition, &generation],
                )
                .await?;
            Ok(Some(Change::Done(generation)))
        };
        let done = |outcome: &Option<Change>| outcome.as_ref().is_some_and(done);
        let outcome = self.run(|pool| async move { pool.transaction(done, work).await })?;
        outcome.ok_or(PutError::TooMany)
    }

    /// Set `enabled` in stored subscription `name` (its text rewritten as `wsmand wec enable`
    /// rewrites a file).
    pub fn set_subscription_enabled(&self, name: &str, enabled: bool) -> Result<Change, PutError> {
        let owned = name.to_owned();
        let current = self.run(move |pool| async move {
            let sql = "SELECT definition FROM wec_subscription WHERE name = $1";
            let row = pool.with(async |c| c.query_opt(sql, &[&owned]).await);
            Ok(row.await?.map(|r| r.get::<_, String>(0)))
        })?;
        let Some(current) = current else {
            return Ok(Change::Missing);
        };
        let changed = subscriptions::with_enabled(&current, enabled);
        check(name, &changed, &self.pool.settings.outputs)?;
        let (name, expected) = (name.to_owned(), current);
        let work = async move |transaction: &Transaction<'_>| {
            let generation = next_generation(transaction).await?;
            // Only over the text it was computed from: a change made in between wins, and
            // this one is reported missing rather than undoing it.
            let updated = transaction
                .execute(
                    "UPDATE wec_subscription SET definition = $2, revision = $3
                     WHERE name = $1 AND definition = $4",
                    &[&name, &changed, &generation, &expected],
                )
                .await?;
            Ok(if updated == 0 {
                Change::Missing
            } else {
                Change::Done(generation)
            })
        };
        let changed = self.run(|pool| async move { pool.transaction(done, work).await });
        Ok(changed?)
    }

    /// Remove stored subscription `name` (its forwarders' bookmarks stay: a subscription
    /// created again under the name resumes them).
    pub fn delete_subscription(&self, name: &str) -> Result<Change, StoreError> {
        let name = name.to_owned();
        let work = async move |transaction: &Transaction<'_>| {
            let generation = next_generation(transaction).await?;
            let removed = transaction
                .execute("DELETE FROM wec_subscription WHERE name = $1", &[&name])
                .await?;
            Ok(if removed == 0 {
                Change::Missing
            } else {
                Change::Done(generation)
            })
        };
        self.run(|pool| async move { pool.transaction(done, work).await })
    }
}
