//! The daemon's journald layer: each event is one journal entry whose `MESSAGE` is the event's
//! message followed by its fields as `key=value`, and whose fields are also journal fields
//! (upper-cased, `WSMAN_`-prefixed for the audit records).
//!
//! Why not `tracing_journald` as it is: it puts only the message in `MESSAGE`, so
//! `journalctl -u wsmand` shows "401: authentication failed" without the user, the address
//! or the reason, which sit in fields a plain reader never sees. One layer here, instead of
//! every call site repeating its fields in its message text.
//!
//! A field whose name says it holds a secret (`password`, `token`, `secret`, ...) is written
//! as `<redacted>` in both places: no call site logs one today, and one added by mistake must
//! still not reach the journal.

use std::fmt::{self, Write as _};
use std::io;
use std::os::unix::net::UnixDatagram;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;

/// journald's native protocol socket.
const JOURNALD_SOCKET: &str = "/run/systemd/journal/socket";
/// A value longer than this is cut when the whole entry is too large for one datagram.
const CUT_VALUE_AT: usize = 4096;
/// What a secret-named field's value is replaced with.
const REDACTED: &str = "<redacted>";

/// Writes events to journald; see the module's documentation.
pub(crate) struct JournalLayer {
    socket: UnixDatagram,
    /// Prefix of the event's own fields (`WSMAN` for the audit records), not of `MESSAGE`.
    field_prefix: Option<&'static str>,
    /// Fields kept out of `MESSAGE`'s text (still journal fields): the audit records' markers
    /// `audit=1` and `event=NAME`, which their message already says.
    not_in_message: &'static [&'static str],
    identifier: String,
}

impl JournalLayer {
    /// The daemon's log: every field in the text and as a journal field of its own name.
    pub(crate) fn general() -> io::Result<Self> {
        Self::new(None, &[])
    }

    /// The audit records: fields prefixed `WSMAN_` (`journalctl WSMAN_AUDIT=1`), the markers
    /// left out of the text.
    pub(crate) fn audit() -> io::Result<Self> {
        Self::new(Some("WSMAN"), &["audit", "event"])
    }

    /// A layer sending to the local journald; fails when its socket cannot be made.
    fn new(
        field_prefix: Option<&'static str>,
        not_in_message: &'static [&'static str],
    ) -> io::Result<Self> {
        let socket = UnixDatagram::unbound()?;
        let identifier = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "wsmand".to_owned());
        Ok(Self {
            socket,
            field_prefix,
            not_in_message,
            identifier,
        })
    }
}

impl<S: Subscriber> tracing_subscriber::Layer<S> for JournalLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = EventFields::default();
        event.record(&mut fields);
        let entry = self.entry(event.metadata(), &fields, usize::MAX);
        if self.socket.send_to(&entry, JOURNALD_SOCKET).is_err() {
            // Too large for one datagram (a huge value): once more with long values cut. A log
            // line that still cannot be written has nowhere to be reported.
            let entry = self.entry(event.metadata(), &fields, CUT_VALUE_AT);
            let _ = self.socket.send_to(&entry, JOURNALD_SOCKET);
        }
    }
}

impl JournalLayer {
    /// The entry in journald's native format, each value cut to `cut_at` bytes.
    fn entry(&self, meta: &tracing::Metadata<'_>, fields: &EventFields, cut_at: usize) -> Vec<u8> {
        let mut entry = Vec::with_capacity(512);
        let text = fields.readable(self.not_in_message);
        put(&mut entry, "MESSAGE", &cut(&text, cut_at));
        put(&mut entry, "PRIORITY", priority(*meta.level()));
        put(&mut entry, "SYSLOG_IDENTIFIER", &self.identifier);
        put(&mut entry, "TARGET", meta.target());
        if let Some(file) = meta.file() {
            put(&mut entry, "CODE_FILE", file);
        }
        if let Some(line) = meta.line() {
            put(&mut entry, "CODE_LINE", &line.to_string());
        }
        for (name, value) in &fields.fields {
            let mut key = String::new();
            if let Some(prefix) = self.field_prefix {
                key.push_str(prefix);
                key.push('_');
            }
            key.push_str(&journal_name(name));
            put(&mut entry, &key, &cut(value, cut_at));
        }
        entry
    }
}

/// journald's priorities, as `tracing_journald` maps the levels.
fn priority(level: Level) -> &'static str {
    match level {
        Level::ERROR => "3",
        Level::WARN => "4",
        Level::INFO => "5",
        Level::DEBUG => "6",
        Level::TRACE => "7",
    }
}

/// One field in the native format's binary form (any value, newlines included).
fn put(entry: &mut Vec<u8>, name: &str, value: &str) {
    entry.extend_from_slice(name.as_bytes());
    entry.push(b'\n');
    entry.extend_from_slice(&(value.len() as u64).to_le_bytes());
    entry.extend_from_slice(value.as_bytes());
    entry.push(b'\n');
}

/// `value`, cut on a character boundary to at most `at` bytes.
fn cut(value: &str, at: usize) -> std::borrow::Cow<'_, str> {
    if value.len() <= at {
        return value.into();
    }
    format!("{}…", &value[..value.floor_char_boundary(at)]).into()
}

/// A journal field name: upper case, `_` for anything but letters and digits, no leading `_`
/// or digit (journald drops such fields).
fn journal_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_start_matches(|c: char| c == '_' || c.is_ascii_digit())
        .to_owned();
    if out.is_empty() {
        out.push_str("FIELD");
    }
    out
}

/// Whether a field's name says it holds a secret.
fn is_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "secret",
        "token",
        "authorization",
        "cookie",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// An event's message and its other fields, in the order they were recorded.
#[derive(Default)]
struct EventFields {
    message: String,
    fields: Vec<(&'static str, String)>,
}

impl EventFields {
    /// The message, then ` key=value` per field but those named in `leave_out`; a value with a space, a quote, `=` or a
    /// control character (or an empty one) is quoted with Rust's escapes, so one entry stays
    /// one line and a reader can tell where a value ends.
    fn readable(&self, leave_out: &[&str]) -> String {
        let mut text = self.message.clone();
        let shown = self
            .fields
            .iter()
            .filter(|(name, _)| !leave_out.contains(name));
        for (name, value) in shown {
            if !text.is_empty() {
                text.push(' ');
            }
            let plain = !value.is_empty()
                && !value
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '=');
            if plain {
                let _ = write!(text, "{name}={value}");
            } else {
                let _ = write!(text, "{name}={value:?}");
            }
        }
        text
    }
}

impl Visit for EventFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.store(field, value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.store(field, format!("{value:?}"));
    }
}

impl EventFields {
    fn store(&mut self, field: &Field, value: String) {
        let name = field.name();
        if name == "message" {
            self.message = value;
        } else if is_secret(name) {
            self.fields.push((name, REDACTED.to_owned()));
        } else {
            self.fields.push((name, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(message: &str, pairs: &[(&'static str, &str)]) -> EventFields {
        EventFields {
            message: message.to_owned(),
            fields: pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        }
    }

    #[test]
    fn the_message_carries_the_fields() {
        let event = fields(
            "401: authentication failed",
            &[
                ("remote", "127.0.0.1:4242"),
                ("user", "bob"),
                ("reason", "credentials rejected: PAM_AUTH_ERR"),
                ("empty", ""),
            ],
        );
        assert_eq!(
            event.readable(&[]),
            "401: authentication failed remote=127.0.0.1:4242 user=bob \
             reason=\"credentials rejected: PAM_AUTH_ERR\" empty=\"\""
        );
    }

    #[test]
    fn the_audit_markers_stay_out_of_the_text() {
        let event = fields(
            "shell ended",
            &[("audit", "1"), ("event", "shell_ended"), ("user", "alice")],
        );
        assert_eq!(
            event.readable(&["audit", "event"]),
            "shell ended user=alice"
        );
    }

    #[test]
    fn a_value_with_a_newline_stays_on_one_line() {
        let event = fields("refused", &[("error", "line 1\nline 2")]);
        assert_eq!(event.readable(&[]), "refused error=\"line 1\\nline 2\"");
    }

    /// What the layer's visitor makes of the events `emit` logs.
    fn readable_of(emit: impl FnOnce()) -> Vec<String> {
        use std::sync::{Arc, Mutex};
        use tracing_subscriber::layer::SubscriberExt as _;
        struct Capture(Arc<Mutex<Vec<String>>>);
        impl<S: Subscriber> tracing_subscriber::Layer<S> for Capture {
            fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
                let mut fields = EventFields::default();
                event.record(&mut fields);
                self.0.lock().unwrap().push(fields.readable(&[]));
            }
        }
        let seen = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(Capture(Arc::clone(&seen)));
        tracing::subscriber::with_default(subscriber, emit);
        let seen = seen.lock().unwrap().clone();
        seen
    }

    #[test]
    fn secret_named_fields_are_redacted() {
        let seen = readable_of(|| {
            let password = "s3cret";
            tracing::warn!(user = "bob", password, api_token = %"t0ken", port = 5985, "login");
        });
        assert_eq!(
            seen,
            ["login user=bob password=<redacted> api_token=<redacted> port=5985"]
        );
    }

    #[test]
    fn journal_names_are_what_journald_keeps() {
        assert_eq!(journal_name("remote_address"), "REMOTE_ADDRESS");
        assert_eq!(journal_name("_x.y"), "X_Y");
        assert_eq!(journal_name("1abc"), "ABC");
    }

    #[test]
    fn long_values_are_cut_on_a_character_boundary() {
        assert_eq!(cut("ab€cd", 4), "ab…");
        assert_eq!(cut("abc", 4), "abc");
    }
}
