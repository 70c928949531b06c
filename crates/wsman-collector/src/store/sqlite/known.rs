//! The bookmarks this process last read or committed, so that a delivery's claim does not read
//! its forwarder's rows back from the file each time.
//!
//! Why: the claim's read went through the reader connection, whose page cache SQLite drops
//! whenever any other connection commits, and the writer commits every few milliseconds with
//! a fleet delivering: each claim then fetched the table's pages again, took the WAL's read
//! locks (`fcntl`) and parsed the rows, about a twentieth of the collector's CPU per batch.
//!
//! Why it is never stale: an entry is what the file holds as of this process's last commit,
//! updated under the writer's lock by each commit as the upsert changes the rows (the larger
//! record id per log). Another process may write the file too (`wsmand wec forget`); the
//! writer connection's `PRAGMA data_version` changes exactly when another connection has
//! committed, never for its own commits, and every use of an entry is preceded by that check
//! under the writer's lock: on a change, every entry is dropped and read again.

use std::collections::HashMap;

/// A pair's rows as the file holds them: (log, record id), sorted by log as `LOAD`'s
/// `ORDER BY channel` returns them (byte order, SQLite's BINARY collation); empty for a pair
/// without rows.
type Rows = Vec<(String, i64)>;

/// Entries held at most; past it the map is emptied and fills again from the file. Why a
/// bound: one entry per (forwarder, subscription) that delivered, and a fleet's names are
/// not ours to count; 65,536 entries of a few logs each are a few megabytes.
const MAX_ENTRIES: usize = 65_536;

/// The known rows, valid for one `data_version` of the writer connection.
#[derive(Debug, Default)]
pub(super) struct Known {
    version: Option<i64>,
    /// By subscription, then by client: looked up with the names as they come (a claim
    /// and a commit per batch), with no key built for it.
    rows: HashMap<String, HashMap<String, Rows>>,
}

impl Known {
    /// The writer saw `version`: entries made under another version are dropped.
    pub(super) fn validate(&mut self, version: i64) {
        if self.version != Some(version) {
            self.rows.clear();
            self.version = Some(version);
        }
    }

    /// The rows of the pair, if known (call [`Known::validate`] first).
    pub(super) fn get(&self, client: &str, subscription: &str) -> Option<&[(String, i64)]> {
        self.rows.get(subscription)?.get(client).map(Vec::as_slice)
    }

    /// The pair's rows as just read from the file under `version`.
    pub(super) fn insert(&mut self, client: &str, subscription: &str, rows: Rows) {
        // Counted here only: a read that fills an entry, not every lookup.
        if self.rows.values().map(HashMap::len).sum::<usize>() >= MAX_ENTRIES {
            self.rows.clear();
        }
        self.rows
            .entry(subscription.to_owned())
            .or_default()
            .insert(client.to_owned(), rows);
    }

    /// A committed merge of `positions` into the pair, applied as the upsert applies it (a
    /// new log inserted in order, a known one kept at the larger record id). A pair not
    /// known stays unknown: its next read fills it.
    pub(super) fn merged(&mut self, client: &str, subscription: &str, positions: &[(String, i64)]) {
        let Some(rows) = self
            .rows
            .get_mut(subscription)
            .and_then(|clients| clients.get_mut(client))
        else {
            return;
        };
        for (channel, record) in positions {
            match rows.binary_search_by(|(c, _)| c.as_bytes().cmp(channel.as_bytes())) {
                Ok(at) => rows[at].1 = rows[at].1.max(*record),
                Err(at) => rows.insert(at, (channel.clone(), *record)),
            }
        }
    }

    /// The pair's rows were deleted or changed otherwise: read them again.
    pub(super) fn forget(&mut self, client: &str, subscription: &str) {
        if let Some(clients) = self.rows.get_mut(subscription) {
            clients.remove(client);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn rows(list: &[(&str, i64)]) -> Vec<(String, i64)> {
        list.iter().map(|(c, r)| ((*c).to_owned(), *r)).collect()
    }

    /// A merge keeps the larger record id per log and inserts a new log in byte order, as
    /// the upsert and `ORDER BY channel` do; an unknown pair stays unknown; another version
    /// drops everything.
    #[test]
    fn merges_follow_the_upsert_and_a_new_version_drops_all() {
        let mut known = Known::default();
        known.validate(7);
        known.insert("a", "s", rows(&[("Security", 10), ("System", 5)]));
        known.merged(
            "a",
            "s",
            &rows(&[
                ("Security", 8),
                ("Application", 3),
                ("System", 9),
                ("Setup", 1),
            ]),
        );
        assert_eq!(
            known.get("a", "s").unwrap(),
            rows(&[
                ("Application", 3),
                ("Security", 10),
                ("Setup", 1),
                ("System", 9)
            ])
        );
        known.merged("b", "s", &rows(&[("Security", 1)]));
        assert!(known.get("b", "s").is_none());
        known.validate(7);
        assert!(known.get("a", "s").is_some(), "same version: kept");
        known.validate(8);
        assert!(
            known.get("a", "s").is_none(),
            "another connection committed"
        );
        known.insert("a", "s", Vec::new());
        known.forget("a", "s");
        assert!(known.get("a", "s").is_none());
    }
}
