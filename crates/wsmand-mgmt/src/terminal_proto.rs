//! The terminal page's small protocol, parsed from untrusted input (the browser, or anything
//! that holds a session cookie): the query of the WebSocket upgrade and the text frames.
//!
//! - Upgrade: `GET /hosts/NAME/terminal/ws?csrf=TOKEN&rows=R&cols=C` (the CSRF token in the
//!   query because a browser's WebSocket cannot set headers; the request log leaves the query
//!   out).
//! - Browser to server: binary frames are typed bytes, at most [`MAX_INPUT_FRAME`] each; text
//!   frames are `{"resize":[rows,cols]}`, at most [`MAX_CONTROL_BYTES`].
//! - Server to browser: binary frames are terminal output; a text frame `{"closed":"why"}`
//!   precedes the server's close.

use serde::Deserialize;

use crate::socket_bounds::MAX_UPGRADE_QUERY_BYTES;

/// Largest frame (and message) the server reads; a larger one closes the socket with 1009.
pub const MAX_INPUT_FRAME: usize = 16 * 1024;
/// Largest text (control) frame parsed.
pub const MAX_CONTROL_BYTES: usize = 256;
/// Largest window accepted, rows or columns (a bigger window is a bigger remote buffer).
pub const MAX_DIMENSION: u16 = 1000;
/// The window when the upgrade names none.
pub const DEFAULT_SIZE: WindowSize = WindowSize { rows: 24, cols: 80 };

/// A terminal window, rows by columns, each 1 to [`MAX_DIMENSION`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowSize {
    /// Rows.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
}

impl WindowSize {
    fn checked(rows: u64, cols: u64) -> Result<Self, ProtoError> {
        let dimension = |n: u64| {
            u16::try_from(n)
                .ok()
                .filter(|n| (1..=MAX_DIMENSION).contains(n))
                .ok_or(ProtoError::BadSize)
        };
        Ok(Self {
            rows: dimension(rows)?,
            cols: dimension(cols)?,
        })
    }
}

/// Why a message or query was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// Longer than the limit.
    #[error("the message is too large")]
    TooLarge,
    /// Not the JSON object the protocol has.
    #[error("the message is malformed")]
    Malformed,
    /// Rows or columns outside 1 to [`MAX_DIMENSION`].
    #[error("the window size is out of range")]
    BadSize,
}

/// A control message from the browser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// The window changed: the remote terminal's size follows.
    Resize(WindowSize),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ControlJson {
    resize: (u64, u64),
}

/// Parses a text frame.
pub fn parse_control(text: &str) -> Result<Control, ProtoError> {
    if text.len() > MAX_CONTROL_BYTES {
        return Err(ProtoError::TooLarge);
    }
    let message: ControlJson = serde_json::from_str(text).map_err(|_| ProtoError::Malformed)?;
    let (rows, cols) = message.resize;
    Ok(Control::Resize(WindowSize::checked(rows, cols)?))
}

/// What the upgrade's query carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenRequest {
    /// The session's CSRF token as sent (compared by the caller in constant time).
    pub csrf: Option<String>,
    /// The browser's window, or [`DEFAULT_SIZE`].
    pub size: WindowSize,
}

/// Parses the upgrade's query (`csrf`, `rows`, `cols`; other names are ignored).
pub fn parse_query(query: &str) -> Result<OpenRequest, ProtoError> {
    if query.len() > MAX_UPGRADE_QUERY_BYTES {
        return Err(ProtoError::TooLarge);
    }
    let form = crate::form::Form::parse(query.as_bytes()).map_err(|_| ProtoError::Malformed)?;
    let number = |name: &str| -> Result<Option<u64>, ProtoError> {
        form.get(name)
            .map(|text| {
                if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ProtoError::BadSize);
                }
                text.parse::<u64>().map_err(|_| ProtoError::BadSize)
            })
            .transpose()
    };
    let size = match (number("rows")?, number("cols")?) {
        (None, None) => DEFAULT_SIZE,
        (Some(rows), Some(cols)) => WindowSize::checked(rows, cols)?,
        _ => return Err(ProtoError::BadSize),
    };
    Ok(OpenRequest {
        csrf: form.get("csrf").map(str::to_owned),
        size,
    })
}

/// The text frame sent before the server closes the socket.
pub fn closed_message(why: &str) -> String {
    serde_json::json!({ "closed": why }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn resize_messages() {
        assert_eq!(
            parse_control(r#"{"resize":[40,120]}"#),
            Ok(Control::Resize(WindowSize {
                rows: 40,
                cols: 120
            }))
        );
        for (text, error) in [
            (r#"{"resize":[0,120]}"#, ProtoError::BadSize),
            (r#"{"resize":[40,1001]}"#, ProtoError::BadSize),
            (r#"{"resize":[40,70000]}"#, ProtoError::BadSize),
            (r#"{"resize":[40]}"#, ProtoError::Malformed),
            (r#"{"resize":[40,-1]}"#, ProtoError::Malformed),
            (r#"{"resize":[40,2],"x":1}"#, ProtoError::Malformed),
            (r#"{"input":"ls"}"#, ProtoError::Malformed),
            ("", ProtoError::Malformed),
        ] {
            assert_eq!(parse_control(text), Err(error), "{text}");
        }
        let long = format!(r#"{{"resize":[1,1]{}}}"#, " ".repeat(MAX_CONTROL_BYTES));
        assert_eq!(parse_control(&long), Err(ProtoError::TooLarge));
    }

    #[test]
    fn upgrade_queries() {
        assert_eq!(
            parse_query("csrf=ab12&rows=30&cols=100"),
            Ok(OpenRequest {
                csrf: Some("ab12".into()),
                size: WindowSize {
                    rows: 30,
                    cols: 100
                }
            })
        );
        assert_eq!(
            parse_query(""),
            Ok(OpenRequest {
                csrf: None,
                size: DEFAULT_SIZE
            })
        );
        for bad in [
            "rows=30",
            "rows=0&cols=3",
            "rows=+3&cols=3",
            "rows=3&cols=99999999999",
        ] {
            assert_eq!(parse_query(bad), Err(ProtoError::BadSize), "{bad}");
        }
        assert_eq!(
            parse_query(&"a".repeat(MAX_UPGRADE_QUERY_BYTES + 1)),
            Err(ProtoError::TooLarge)
        );
    }

    proptest! {
        #[test]
        fn any_control_text_parses_or_fails_cleanly(text in "\\PC{0,300}") {
            if let Ok(Control::Resize(size)) = parse_control(&text) {
                prop_assert!((1..=MAX_DIMENSION).contains(&size.rows));
                prop_assert!((1..=MAX_DIMENSION).contains(&size.cols));
            }
        }

        #[test]
        fn resizes_round_trip(rows in 1u16..=MAX_DIMENSION, cols in 1u16..=MAX_DIMENSION) {
            let text = serde_json::json!({ "resize": [rows, cols] }).to_string();
            prop_assert_eq!(parse_control(&text), Ok(Control::Resize(WindowSize { rows, cols })));
        }

        #[test]
        fn any_query_parses_or_fails_cleanly(query in "[a-z=&%0-9]{0,600}") {
            if let Ok(open) = parse_query(&query) {
                prop_assert!((1..=MAX_DIMENSION).contains(&open.size.rows));
                prop_assert!((1..=MAX_DIMENSION).contains(&open.size.cols));
            }
        }
    }
}
