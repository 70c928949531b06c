//! The request log in a directory (WMSVC's `LoggingDirectory`): W3C extended log format, one
//! file per UTC day (`wsmand-mgmt-YYYYMMDD.log`), a new file when the day changes and files
//! older than [`KEEP_DAYS`] removed then. A line never holds a query string (the terminal's
//! upgrade carries its CSRF token there) nor a body; every field from the client is cut to a
//! bound and has its spaces and control characters replaced, so a line stays one line.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Days of request log files kept.
pub const KEEP_DAYS: i64 = 31;
/// Longest field written (a path, a user agent).
const MAX_FIELD: usize = 200;
/// The W3C `#Fields:` directive: what each line holds.
pub const FIELDS: &str =
    "date time c-ip cs-username cs-method cs-uri-stem sc-status time-taken cs(User-Agent)";
const PREFIX: &str = "wsmand-mgmt-";

/// One request as logged.
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    /// The client's address.
    pub client: IpAddr,
    /// The session's user, if any.
    pub user: Option<&'a str>,
    /// The method.
    pub method: &'a str,
    /// The request target; its query is dropped here.
    pub target: &'a str,
    /// The answer's status.
    pub status: u16,
    /// Milliseconds taken.
    pub elapsed_ms: u64,
    /// The User-Agent header.
    pub user_agent: Option<&'a str>,
}

/// A field as W3C logs want it: `-` when empty, no spaces or control characters, bounded.
pub fn field(text: &str) -> String {
    let out: String = text
        .chars()
        .take(MAX_FIELD)
        .enumerate()
        .map(|(index, c)| {
            if c == ' ' {
                '+'
            } else if c.is_control() || (index == 0 && c == '#') {
                '_'
            } else {
                c
            }
        })
        .collect();
    if out.is_empty() {
        "-".to_owned()
    } else {
        out
    }
}

/// The day's file and the directory it is in.
pub struct RequestLogDir {
    dir: PathBuf,
    open: Mutex<Option<(String, File)>>,
}

impl RequestLogDir {
    /// Logs into `dir` (which must exist and be writable by the serving user).
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            open: Mutex::new(None),
        }
    }

    /// The file name of `day` (`YYYYMMDD`).
    pub fn file_name(day: &str) -> String {
        format!("{PREFIX}{day}.log")
    }

    /// Writes `entry` to today's file (UTC).
    pub fn write(&self, entry: &Entry<'_>) {
        self.write_at(jiff::Timestamp::now(), entry);
    }

    /// Writes `entry` as logged at `now`: a new file (with its directives) when the day
    /// changed, and old days removed then. A failure is logged, never the request's.
    pub fn write_at(&self, now: jiff::Timestamp, entry: &Entry<'_>) {
        let utc = now.to_zoned(jiff::tz::TimeZone::UTC);
        let day = utc.strftime("%Y%m%d").to_string();
        let path = entry.target.split('?').next().unwrap_or("");
        let line = format!(
            "{} {} {} {} {} {} {} {} {}\n",
            utc.strftime("%Y-%m-%d"),
            utc.strftime("%H:%M:%S"),
            entry.client,
            field(entry.user.unwrap_or("")),
            field(entry.method),
            field(path),
            entry.status,
            entry.elapsed_ms,
            field(entry.user_agent.unwrap_or("")),
        );
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if open.as_ref().is_none_or(|(d, _)| *d != day) {
            *open = None;
            match self.open_day(&day, &utc) {
                Ok(file) => *open = Some((day.clone(), file)),
                Err(error) => {
                    tracing::warn!(dir = %self.dir.display(), %error, "request log file not opened");
                    return;
                }
            }
            self.remove_old(now);
        }
        if let Some((_, file)) = open.as_mut() {
            if let Err(error) = file.write_all(line.as_bytes()) {
                tracing::warn!(dir = %self.dir.display(), %error, "request log line not written");
            }
        }
    }

    fn open_day(&self, day: &str, now: &jiff::Zoned) -> std::io::Result<File> {
        let path = self.dir.join(Self::file_name(day));
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .open(&path)?;
        if file.metadata()?.len() == 0 {
            write!(
                file,
                "#Software: wsmand-mgmt {}\n#Version: 1.0\n#Date: {}\n#Fields: {FIELDS}\n",
                env!("CARGO_PKG_VERSION"),
                now.strftime("%Y-%m-%d %H:%M:%S")
            )?;
        }
        Ok(file)
    }

    /// Removes this log's files of days more than [`KEEP_DAYS`] before `now`.
    fn remove_old(&self, now: jiff::Timestamp) {
        let Ok(oldest) = now.checked_sub(jiff::SignedDuration::from_hours(24 * KEEP_DAYS)) else {
            return;
        };
        let oldest = oldest
            .to_zoned(jiff::tz::TimeZone::UTC)
            .strftime("%Y%m%d")
            .to_string();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(day) = name
                .to_str()
                .and_then(|n| n.strip_prefix(PREFIX))
                .and_then(|n| n.strip_suffix(".log"))
            else {
                continue;
            };
            if day.len() == 8 && day.bytes().all(|b| b.is_ascii_digit()) && *day < *oldest {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(target: &str) -> Entry<'_> {
        Entry {
            client: "127.0.0.1".parse().expect("ip"),
            user: Some("alice"),
            method: "GET",
            target,
            status: 200,
            elapsed_ms: 3,
            user_agent: Some("curl/8 (x)\r\n#Fields: forged"),
        }
    }

    #[test]
    fn one_file_a_day_with_directives_and_old_days_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = RequestLogDir::new(dir.path());
        let old = dir.path().join(RequestLogDir::file_name("20200101"));
        std::fs::write(&old, "#old\n").expect("old file");
        let keep = dir.path().join("other.log");
        std::fs::write(&keep, "not ours\n").expect("other file");
        let day1: jiff::Timestamp = "2026-03-01T23:59:59Z".parse().expect("time");
        let day2: jiff::Timestamp = "2026-03-02T00:00:01Z".parse().expect("time");
        log.write_at(day1, &entry("/hosts/a/terminal/ws?csrf=SECRET"));
        log.write_at(day2, &entry("/fleet"));
        log.write_at(day2, &entry("/audit"));
        let first = std::fs::read_to_string(dir.path().join("wsmand-mgmt-20260301.log"))
            .expect("first day");
        let second = std::fs::read_to_string(dir.path().join("wsmand-mgmt-20260302.log"))
            .expect("second day");
        assert!(first.starts_with("#Software: wsmand-mgmt "), "{first}");
        assert!(first.contains(&format!("#Fields: {FIELDS}\n")), "{first}");
        assert!(first.ends_with(
            "2026-03-01 23:59:59 127.0.0.1 alice GET /hosts/a/terminal/ws 200 3 curl/8+(x)__#Fields:+forged\n"
        ), "{first}");
        assert!(!first.contains("SECRET"));
        assert_eq!(second.lines().filter(|l| !l.starts_with('#')).count(), 2);
        assert!(!old.exists(), "a day older than the kept days stays");
        assert!(keep.exists(), "a file not of this log was removed");
    }

    proptest! {
        #[test]
        fn a_field_is_one_bounded_token(text in "\\PC{0,300}|[ \\r\\n\\t#]{0,20}") {
            let out = field(&text);
            prop_assert!(!out.is_empty());
            prop_assert!(out.chars().count() <= MAX_FIELD);
            prop_assert!(!out.chars().any(|c| c == ' ' || c.is_control()));
            prop_assert!(!out.starts_with('#'));
        }
    }
}
