//! The audit records as JSON lines in a file (`--audit-file`), for hosts without a journal:
//! one object per shell or command start and end, with the record's fields as they are named
//! in the shell engine (`event`, `user`, `remote_address`, `command_line`, `exit_code`,
//! `duration_ms`, ...) and `time` (RFC 3339, UTC). Only the records of
//! [`wsman_server::AUDIT_TARGET`] are written.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// Appends audit records to one file.
pub(crate) struct AuditFile {
    file: Mutex<File>,
}

impl AuditFile {
    /// Open `path` for appending (created 0600: command lines can be private).
    pub(crate) fn open(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        Ok(Self {
            file: Mutex::new(file),
        })
    }
}

struct Fields(Map<String, Value>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::from(format!("{value:?}")));
    }
}

impl<S: Subscriber> Layer<S> for AuditFile {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != wsman_server::AUDIT_TARGET {
            return;
        }
        let mut fields = Fields(Map::new());
        fields
            .0
            .insert("time".to_owned(), Value::from(rfc3339(SystemTime::now())));
        event.record(&mut fields);
        let mut line = Value::Object(fields.0).to_string();
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        // One write per record, so concurrent writers of the file never interleave a line.
        if let Err(e) = file.write_all(line.as_bytes()) {
            eprintln!("wsmand: cannot write the audit file: {e}");
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = wsman_events::time::civil_from_days(i64::try_from(days).unwrap_or(0));
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_210_096_789);
        assert_eq!(rfc3339(t), "2024-02-29T12:34:56.789Z");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(t), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn audit_records_only_as_json_lines() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("audit.jsonl");
        let layer = AuditFile::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "wsman_server::pipeline", "not audit");
            tracing::info!(
                target: wsman_server::AUDIT_TARGET,
                audit = 1,
                event = "command_ended",
                user = "alice",
                command_line = "echo \"hi\"\n",
                exit_code = 3,
                "command ended"
            );
        });
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let record: Value = serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(record["event"], "command_ended");
        assert_eq!(record["user"], "alice");
        assert_eq!(record["command_line"], "echo \"hi\"\n");
        assert_eq!(record["exit_code"], 3);
        assert_eq!(record["audit"], 1);
        assert_eq!(record["message"], "command ended");
        assert!(record["time"].as_str().is_some_and(|t| t.ends_with('Z')));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).map_or(0, |m| m.permissions().mode() & 0o777);
        assert_eq!(mode, 0o600);
    }
}
