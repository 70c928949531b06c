//! Deterministic journals for the event tests: export-format text turned into journal files by
//! Debian's `systemd-journal-remote`, read back by the daemon with `journalctl --directory`.
//!
//! Without the tool, [`JournalDir::from_export`] prints why and returns `None` so the caller
//! can skip; `WSMAN_TEST_REQUIRE_SYSTEMD=1` (set by `scripts/test.sh` as root, where the
//! package is installed) makes that a failure instead.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::process;

/// Where Debian installs the tool.
const JOURNAL_REMOTE: &str = "/lib/systemd/systemd-journal-remote";

/// A journal directory holding the entries of one export text; deleted when dropped.
#[derive(Debug)]
pub struct JournalDir {
    dir: tempfile::TempDir,
}

/// One journal entry as `FIELD=value` pairs (values without newlines), in the export order.
pub type Entry<'a> = &'a [(&'a str, &'a str)];

impl JournalDir {
    /// The journal of `entries`, each given `__REALTIME_TIMESTAMP` (one millisecond apart from
    /// `first_usec`), `__MONOTONIC_TIMESTAMP` and a fixed `_BOOT_ID`; their sequence numbers
    /// (the events' EventRecordID) are 1, 2, 3, ... in order.
    pub fn from_entries(first_usec: u64, entries: &[Entry<'_>]) -> Option<JournalDir> {
        Self::from_export(&export_text(first_usec, 0, entries))
    }

    /// [`JournalDir::from_entries`] with the first entry `age` before now: a recent journal.
    pub fn from_entries_before_now<'a>(
        age: Duration,
        entries: &'a [Vec<(&'a str, &'a str)>],
    ) -> Option<JournalDir> {
        let refs: Vec<Entry<'a>> = entries.iter().map(Vec::as_slice).collect();
        Self::from_entries(usec_before_now(age), &refs)
    }

    /// [`JournalDir::from_entries_before_now`] of `count` copies of `entry`.
    pub fn repeated_before_now(
        age: Duration,
        count: usize,
        entry: &[(&str, &str)],
    ) -> Option<JournalDir> {
        Self::from_entries_before_now(age, &vec![entry.to_vec(); count])
    }

    /// The journal of an export-format text.
    pub fn from_export(export: &str) -> Option<JournalDir> {
        if !Path::new(JOURNAL_REMOTE).exists() {
            let reason =
                format!("{JOURNAL_REMOTE} not found (Debian package systemd-journal-remote)");
            crate::skipped("WSMAN_TEST_REQUIRE_SYSTEMD", &reason);
            return None;
        }
        let dir = crate::scratch_dir("wsman-journal-", "a journal");
        let input = dir.path().join("entries.export");
        std::fs::write(&input, export).expect("write the export text");
        let output = dir.path().join("journal");
        std::fs::create_dir(&output).expect("create the journal's directory");
        write_journal(&output, &input);
        Some(JournalDir { dir })
    }

    /// Add `entries` after the `before` entries of a journal made by
    /// [`JournalDir::from_entries_before_now`], into the same file while the daemon may be
    /// reading it: their sequence numbers follow on, their times after the earlier ones (one
    /// millisecond apart, counted from `age` before now).
    pub fn append_before_now(&self, age: Duration, before: usize, entries: &[Vec<(&str, &str)>]) {
        let entries: Vec<Entry<'_>> = entries.iter().map(Vec::as_slice).collect();
        let input = self.dir.path().join(format!("entries-{before}.export"));
        std::fs::write(
            &input,
            export_text(usec_before_now(age), before as u64, &entries),
        )
        .expect("write the export text");
        write_journal(&self.path(), &input);
    }

    /// The directory to hand `journalctl --directory` (and `wsmand --journal-directory`).
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("journal")
    }
}

/// `__REALTIME_TIMESTAMP` of the moment `age` before now.
fn usec_before_now(age: Duration) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    now - age.as_micros() as u64
}

/// The export text of `entries`, the first numbered `first_index` (its timestamps).
fn export_text(first_usec: u64, first_index: u64, entries: &[Entry<'_>]) -> String {
    let mut export = String::new();
    for (i, fields) in entries.iter().enumerate() {
        let i = first_index + i as u64;
        export.push_str(&format!(
            "__REALTIME_TIMESTAMP={}\n__MONOTONIC_TIMESTAMP={}\n_BOOT_ID=5f0c6a1e2b3d4c5e8f9a0b1c2d3e4f50\n",
            first_usec + i * 1000,
            1_000_000 + i * 1000
        ));
        for (name, value) in fields.iter() {
            assert!(!value.contains('\n'), "export values here are single lines");
            export.push_str(&format!("{name}={value}\n"));
        }
        export.push('\n');
    }
    export
}

/// Write the entries of the export text `input` into the journal file of `directory`
/// (created, or appended to).
fn write_journal(directory: &Path, input: &Path) {
    process::run_ok(
        Command::new(JOURNAL_REMOTE)
            .arg(format!(
                "--output={}",
                directory.join("fixture.journal").display()
            ))
            .arg("--compress=no")
            .arg(input),
        Duration::from_secs(60),
        "systemd-journal-remote",
    );
}
