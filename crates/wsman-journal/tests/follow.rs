//! The in-process reader against real journals: files made by Debian's
//! `systemd-journal-remote`, one it is still writing, and the journal of a booted systemd. Every
//! expectation is what `journalctl --output=export` says of the same journal, read through the
//! eventing core's export reader: the same entries, field for field, so the same cursors and
//! sequence numbers.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use wsman_events::{ExportLimits, ExportReader, JournalEntry};
use wsman_journal::follow::Follower;
use wsman_journal::{Journal, Start};
use wsman_test::journal::JournalDir;
use wsman_test::systemd::BootedSystemd;

const JOURNAL_REMOTE: &str = "/lib/systemd/systemd-journal-remote";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// What journalctl exports of `directory` (after `cursor`, when given).
fn journalctl_export(directory: &Path, cursor: Option<&str>) -> Vec<JournalEntry> {
    let mut command = Command::new("journalctl");
    command
        .arg("--directory")
        .arg(directory)
        .args(["--output=export", "--no-pager"]);
    if let Some(cursor) = cursor {
        command.arg(format!("--after-cursor={cursor}"));
    }
    let output = command.output().expect("journalctl runs");
    assert!(output.status.success(), "journalctl: {output:?}");
    let mut entries = Vec::new();
    ExportReader::new(ExportLimits::default())
        .feed(&output.stdout, &mut |entry| entries.push(entry))
        .expect("journalctl writes the export format");
    entries
}

/// Every entry the follower has now.
fn read_all(follower: &mut Follower) -> Vec<JournalEntry> {
    let mut entries = Vec::new();
    while let Some(entry) = follower.next_entry().expect("the journal reads") {
        entries.push(entry);
    }
    entries
}

/// One export entry: timestamps, boot id and `fields`; a value with a newline is written in
/// the binary form, as the export format requires.
fn export_entry(n: u64, fields: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = format!(
        "__REALTIME_TIMESTAMP={}\n__MONOTONIC_TIMESTAMP={}\n_BOOT_ID=0b1c2d3e4f5061728394a5b6c7d8e9f0\n",
        1_700_000_000_000_000 + n * 1000,
        5_000_000 + n * 1000
    )
    .into_bytes();
    for (name, value) in fields {
        if value.contains(&b'\n') {
            out.extend_from_slice(name.as_bytes());
            out.push(b'\n');
            out.extend_from_slice(&(value.len() as u64).to_le_bytes());
            out.extend_from_slice(value);
            out.push(b'\n');
        } else {
            out.extend_from_slice(name.as_bytes());
            out.push(b'=');
            out.extend_from_slice(value);
            out.push(b'\n');
        }
    }
    out.push(b'\n');
    out
}

#[test]
fn files_from_journal_remote_read_as_journalctl_exports_them() {
    let big = "x".repeat(70_000);
    let mut export = Vec::new();
    for n in 0..40u64 {
        let message = format!("entry {n} with <markup> & \u{e9}t\u{e9}");
        let mut fields: Vec<(&str, &[u8])> = vec![
            ("MESSAGE", message.as_bytes()),
            ("PRIORITY", b"6"),
            ("SYSLOG_IDENTIFIER", b"follow-test"),
            ("_PID", b"4242"),
        ];
        if n == 7 {
            fields.push(("DETAIL", b"two\nlines"));
        }
        if n == 11 {
            // Over the reader's 64 KiB limit: noted, not forwarded, by both readers.
            fields.push(("BIG", big.as_bytes()));
        }
        export.extend(export_entry(n, &fields));
    }
    let Some(journal) = JournalDir::from_export(&String::from_utf8(export).unwrap()) else {
        return;
    };
    let expected = journalctl_export(&journal.path(), None);
    assert_eq!(expected.len(), 40);
    assert!(expected[11]
        .get("BIG")
        .is_some_and(|v| v.contains("not forwarded")));
    runtime().block_on(async {
        let directory = Journal::Directory(journal.path());
        let mut follower =
            Follower::open(&directory, &Start::Oldest, ExportLimits::default()).unwrap();
        let got = read_all(&mut follower);
        assert_eq!(got, expected);
        let seqnums: Vec<Option<u64>> = got.iter().map(JournalEntry::seqnum).collect();
        let journalctl_seqnums: Vec<Option<u64>> =
            expected.iter().map(JournalEntry::seqnum).collect();
        assert_eq!(seqnums, journalctl_seqnums);

        // After a cursor: exactly what `journalctl --after-cursor` gives.
        let cursor = expected[24].get("__CURSOR").unwrap().to_owned();
        let mut after = Follower::open(
            &directory,
            &Start::AfterCursor(cursor.clone()),
            ExportLimits::default(),
        )
        .unwrap();
        assert_eq!(
            read_all(&mut after),
            journalctl_export(&journal.path(), Some(&cursor))
        );
        // After the newest entry: nothing, and no wait ends with something.
        let newest = expected[39].get("__CURSOR").unwrap().to_owned();
        let mut at_end = Follower::open(
            &directory,
            &Start::AfterCursor(newest),
            ExportLimits::default(),
        )
        .unwrap();
        assert!(read_all(&mut at_end).is_empty());
    });

    // A cursor that is not one never reaches libsystemd.
    runtime().block_on(async {
        let error = Follower::open(
            &Journal::Directory(journal.path()),
            &Start::AfterCursor("s=1;i=2 --help".to_owned()),
            ExportLimits::default(),
        )
        .unwrap_err();
        assert!(matches!(error, wsman_journal::Error::Invalid(_)), "{error}");
    });
}

#[test]
fn a_follower_sees_entries_written_while_it_waits() {
    if !Path::new(JOURNAL_REMOTE).exists() {
        eprintln!("skipped: {JOURNAL_REMOTE} not found (Debian package systemd-journal-remote)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("live.journal");
    let mut writer = Command::new(JOURNAL_REMOTE)
        .arg(format!("--output={}", file.display()))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("systemd-journal-remote starts");
    let mut stdin = writer.stdin.take().unwrap();
    let entry = |n: u64| {
        let message = format!("live {n}");
        export_entry(
            n,
            &[
                ("MESSAGE", message.as_bytes()),
                ("SYSLOG_IDENTIFIER", b"follow-live"),
            ],
        )
    };
    stdin.write_all(&entry(0)).unwrap();
    stdin.flush().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !file.exists() || journalctl_export(dir.path(), None).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the first entry is written"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let got = runtime().block_on(async {
        let journal = Journal::Directory(dir.path().to_owned());
        let mut follower =
            Follower::open(&journal, &Start::Oldest, ExportLimits::default()).unwrap();
        let mut got = read_all(&mut follower);
        assert_eq!(got.len(), 1);
        // Written while the follower waits, a little at a time.
        let feeder = std::thread::spawn(move || {
            for n in 1..=20u64 {
                std::thread::sleep(Duration::from_millis(20));
                stdin.write_all(&entry(n)).unwrap();
                stdin.flush().unwrap();
            }
            stdin
        });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while got.len() < 21 && tokio::time::Instant::now() < deadline {
            follower.wait(deadline).await.unwrap();
            got.extend(read_all(&mut follower));
        }
        drop(feeder.join().unwrap());
        got
    });
    let _ = writer.wait();
    let expected = journalctl_export(dir.path(), None);
    assert_eq!(expected.len(), 21);
    assert_eq!(got, expected);
}

#[test]
fn the_booted_journal_reads_as_journalctl_exports_it() {
    let Some(systemd) = BootedSystemd::boot() else {
        return;
    };
    let directory = systemd.root().join("var/log/journal");
    let start = journalctl_export(&directory, None);
    let cursor = start
        .last()
        .and_then(|e| e.get("__CURSOR"))
        .expect("the boot logged something")
        .to_owned();
    let tag = format!("wsman-follow-{}", std::process::id());
    runtime().block_on(async {
        let journal = Journal::Directory(directory.clone());
        let mut follower = Follower::open(
            &journal,
            &Start::AfterCursor(cursor.clone()),
            ExportLimits::default(),
        )
        .unwrap();
        for n in 0..5 {
            systemd.exec_ok(&["logger", "-t", &tag, &format!("booted entry {n}")]);
        }
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while tokio::time::Instant::now() < deadline {
            got.extend(read_all(&mut follower));
            let tagged = got
                .iter()
                .filter(|e| e.get("SYSLOG_IDENTIFIER") == Some(tag.as_str()))
                .count();
            if tagged == 5 {
                break;
            }
            follower.wait(deadline).await.unwrap();
        }
        // journalctl after the same cursor, as far as the follower read.
        let expected = journalctl_export(&directory, Some(&cursor));
        assert!(expected.len() >= got.len());
        assert_eq!(got, expected[..got.len()]);
        let tagged: Vec<&str> = got
            .iter()
            .filter(|e| e.get("SYSLOG_IDENTIFIER") == Some(tag.as_str()))
            .filter_map(|e| e.get("MESSAGE"))
            .collect();
        assert_eq!(
            tagged,
            (0..5)
                .map(|n| format!("booted entry {n}"))
                .collect::<Vec<_>>()
        );
    });
}
