//! WinRS remote shell messages (reference §4), both directions, sans I/O.
//!
//! Every request body has a builder (client side) and a parser (server side); every response
//! body has a renderer (server side) and a parser (client side), so each message round-trips.
//! Bodies are rendered with the `rsp` prefix declared on their root element: the envelope
//! writers of [`crate::request`] and [`crate::response`] do not declare it.
//!
//! * [`requests`]: `rsp:Shell` (Create), `rsp:CommandLine`, `rsp:Send`, `rsp:Receive`,
//!   `rsp:Signal`, and the WinRS options of the OptionSet.
//! * [`responses`]: CreateResponse (`x:ResourceCreated` + `rsp:Shell`), CommandResponse,
//!   SendResponse, ReceiveResponse, SignalResponse, and the shell / command items of Get and
//!   Enumerate.
//! * [`reconnect`]: Disconnect, Reconnect and Connect (a shell that outlives its client's
//!   connection), and ConnectResponse.

use std::time::Duration;

use crate::fault::Fault;
use crate::headers::OptionSet;
use crate::ns;
use crate::xml::{Element, Writer};

pub mod psrp;
pub mod psrp_client;
pub mod psrp_clixml;
pub mod psrp_input;
pub mod receive_fast;
pub mod reconnect;
pub mod requests;
pub mod responses;

pub use receive_fast::{read_receive_envelope, read_receive_envelope_bytes, ReceiveEnvelope};
pub use reconnect::{BufferMode, Connect, ConnectResponse, Disconnect, Reconnect};
pub use requests::{CommandLine, Receive, Send, ShellCreate, Signal, WinrsOptions};
pub use responses::{
    CommandItem, CommandResponse, CommandStateValue, CreateResponse, ReceiveResponse,
    ShellDescription, StreamHead, StreamPart,
};

/// Resource URIs, response actions, signals and command states of the shell subsystem.
pub use crate::ns::shell::{action, signal, state, uri};

/// WinRS option names (reference §2.4: the server must know all of these).
pub mod option {
    pub const NOPROFILE: &str = "WINRS_NOPROFILE";
    pub const CODEPAGE: &str = "WINRS_CODEPAGE";
    pub const CONSOLEMODE_STDIN: &str = "WINRS_CONSOLEMODE_STDIN";
    pub const SKIP_CMD_SHELL: &str = "WINRS_SKIP_CMD_SHELL";
    pub const KEEPALIVE: &str = "WSMAN_CMDSHELL_OPTION_KEEPALIVE";
    pub const PROTOCOL_VERSION: &str = "protocolversion";
    /// wsmand's extension (Create): TRUE runs the shell's commands on a pseudo-terminal.
    pub const PTY: &str = "WSMAND_PTY";
    /// With [`PTY`]: the terminal type (`TERM`); default [`super::DEFAULT_TERM`].
    pub const PTY_TERM: &str = "WSMAND_PTY_TERM";
    /// With [`PTY`]: the window's columns; default 80.
    pub const PTY_COLUMNS: &str = "WSMAND_PTY_COLUMNS";
    /// With [`PTY`]: the window's rows; default 24.
    pub const PTY_ROWS: &str = "WSMAND_PTY_ROWS";
    /// Every option a shell request may carry.
    pub const KNOWN: &[&str] = &[
        NOPROFILE,
        CODEPAGE,
        CONSOLEMODE_STDIN,
        SKIP_CMD_SHELL,
        KEEPALIVE,
        PROTOCOL_VERSION,
        PTY,
        PTY_TERM,
        PTY_COLUMNS,
        PTY_ROWS,
    ];
}

/// `TERM` of a terminal shell whose client named none.
pub const DEFAULT_TERM: &str = "xterm";
/// The longest terminal type accepted (terminfo names are short).
pub const MAX_TERM_LEN: usize = 64;

/// A terminal window: rows and columns, each at least 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TerminalSize {
    pub rows: u16,
    pub columns: u16,
}

impl Default for TerminalSize {
    /// What a terminal without a window reports: 24 rows of 80 columns.
    fn default() -> Self {
        Self {
            rows: 24,
            columns: 80,
        }
    }
}

/// The terminal a client asks for at Create ([`option::PTY`] and its companions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TerminalRequest {
    /// `TERM`: a terminfo name (letters, digits, `-`, `.`, `+`, `_`; at most
    /// [`MAX_TERM_LEN`]).
    pub term: String,
    pub size: TerminalSize,
}

/// A terminal type is a terminfo name, never a path.
pub fn is_terminal_type(term: &str) -> bool {
    !term.is_empty()
        && term.len() <= MAX_TERM_LEN
        && term
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.+_".contains(&b))
}

/// One dimension of a window: an integer from 1 to 65535.
pub(crate) fn parse_dimension(text: &str) -> Option<u16> {
    text.trim().parse::<u16>().ok().filter(|value| *value > 0)
}

/// A `rsp:Signal` code, compared case-insensitively (pywinrm and pypsrp spell them
/// differently, both work against Windows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignalCode {
    CtrlC,
    CtrlBreak,
    Terminate,
    /// PSRP pipeline stop (`crtl_c` or `ctrl_c` under `powershell/signal/`).
    PsrpStop,
    /// wsmand's resize of a terminal shell's window ([`signal::WINDOW_SIZE`]); the size is in
    /// the `window_size` of [`Signal`].
    WindowSize,
    /// Anything else, kept as sent.
    Other(String),
}

impl SignalCode {
    /// Classify a Code URI.
    pub fn from_uri(code: &str) -> Self {
        let code = code.trim();
        let is = |u: &str| code.eq_ignore_ascii_case(u);
        if is(signal::CTRL_C) {
            Self::CtrlC
        } else if is(signal::CTRL_BREAK) {
            Self::CtrlBreak
        } else if is(signal::TERMINATE) {
            Self::Terminate
        } else if is(signal::PSRP_CRTL_C) || is(signal::PSRP_CTRL_C) {
            Self::PsrpStop
        } else if is(signal::WINDOW_SIZE) {
            Self::WindowSize
        } else {
            Self::Other(code.to_owned())
        }
    }

    /// The URI sent for this code.
    pub fn uri(&self) -> &str {
        match self {
            Self::CtrlC => signal::CTRL_C,
            Self::CtrlBreak => signal::CTRL_BREAK,
            Self::Terminate => signal::TERMINATE,
            Self::PsrpStop => signal::PSRP_CRTL_C,
            Self::WindowSize => signal::WINDOW_SIZE,
            Self::Other(u) => u,
        }
    }
}

/// True when `uri` is a PowerShell (PSRP) custom shell resource.
pub fn is_powershell_uri(uri: &str) -> bool {
    let p = uri::POWERSHELL_PREFIX;
    uri.len() >= p.len() && uri.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
}

/// `P{d}DT{h}H{m}M{s}S`, the form of ShellRunTime and ShellInactivity.
pub fn format_dhms(d: Duration) -> String {
    let s = d.as_secs();
    format!(
        "P{}DT{}H{}M{}S",
        s / 86_400,
        (s % 86_400) / 3600,
        (s % 3600) / 60,
        s % 60
    )
}

/// The `xmlns:rsp` declaration every rendered root element carries.
pub(crate) fn rsp_decl() -> (&'static str, &'static str) {
    ("xmlns:rsp", ns::SHELL)
}

/// Opens the root element `qname` of a body with the `rsp` declaration and, when set, its one
/// id attribute (`ShellId`, `CommandId`, `SequenceId`): the start every such body shares.
pub(crate) fn start_rsp(w: &mut Writer, qname: &str, id: Option<(&str, &str)>) {
    let mut attrs = vec![rsp_decl()];
    attrs.extend(id);
    w.start(qname, &attrs);
}

/// The children of `e` in the shell namespace (what the body parsers look at).
pub(crate) fn shell_elements(e: &Element) -> impl Iterator<Item = &Element> {
    e.elements().filter(|c| c.ns.as_deref() == Some(ns::SHELL))
}

/// The fault for an invalid element in a shell request body, worded as Windows words it.
pub(crate) fn schema_error(element: &str) -> Fault {
    Fault::schema_validation_error(format!(
        "The Windows Remote Shell cannot process the request. The SOAP packet contains an element {element} that is invalid. Retry the request with the correct XML element. "
    ))
}

pub(crate) fn is_rsp(e: &Element, name: &str) -> bool {
    e.is(ns::SHELL, name)
}

/// The body's root element, which must be `rsp:<name>`.
pub(crate) fn expect_body<'a>(body: Option<&'a Element>, name: &str) -> Result<&'a Element, Fault> {
    match body {
        Some(b) if is_rsp(b, name) => Ok(b),
        _ => Err(Fault::schema_validation_error(format!(
            "The SOAP XML in the message does not match the corresponding XML schema definition. The body must be rsp:{name}. "
        ))),
    }
}

/// Space-separated names (`stdout stderr`).
pub(crate) fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

/// Base64 as WinRS carries stream data; whitespace inside is ignored (line-wrapped input).
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    decode_base64_bytes(text.as_bytes())
}

/// [`decode_base64`] on the bytes of element text. Decodes the text as it is first (what every
/// known client and server sends: one unbroken line) and only strips whitespace when that
/// fails, so the common case makes no copy of the text. Stream data is the bulk of a shell's
/// traffic, so this (and the encoders below) use a SIMD base64 (several GB/s, selected at run
/// time for the CPU); it accepts exactly what the `base64` crate's padded standard engine does.
pub fn decode_base64_bytes(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    decode_base64_append(text, &mut out).then_some(out)
}

/// [`decode_base64_bytes`] appending to `out` (a buffer the caller reuses); false, with `out`
/// unchanged, when the text is not valid base64.
pub fn decode_base64_append(text: &[u8], out: &mut Vec<u8>) -> bool {
    let engine = &base64_simd::STANDARD;
    let before = out.len();
    if engine.decode_append(text, out).is_ok() {
        return true;
    }
    out.truncate(before);
    if !text.iter().any(u8::is_ascii_whitespace) {
        return false;
    }
    let compact: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if engine.decode_append(&compact, out).is_ok() {
        return true;
    }
    out.truncate(before);
    false
}

/// Standard padded base64.
pub fn encode_base64(data: &[u8]) -> String {
    base64_simd::STANDARD.encode_to_string(data)
}

/// Appends the standard padded base64 of `data` to `out` (no intermediate string: base64 needs
/// no XML escaping, so stream data goes straight into the rendered document).
pub fn encode_base64_into(data: &[u8], out: &mut String) {
    base64_simd::STANDARD.encode_append(data, out);
}

/// Length of the standard padded base64 of `len` bytes.
pub fn encoded_base64_len(len: usize) -> usize {
    len.div_ceil(3).saturating_mul(4)
}

/// A boolean option as the client sent it (any case), faulting on a bad value.
pub(crate) fn bool_option(set: &OptionSet, name: &str) -> Result<Option<bool>, Fault> {
    set.get_bool(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_as_sent_and_with_whitespace_inside() {
        assert_eq!(decode_base64("aGkNCg==").unwrap(), b"hi\r\n");
        assert_eq!(decode_base64(" aGkN\r\n Cg==\n").unwrap(), b"hi\r\n");
        assert_eq!(decode_base64("").unwrap(), b"");
        assert!(decode_base64("aGk!").is_none());
        assert!(decode_base64("aGk\u{a0}=").is_none());
    }

    #[test]
    fn simd_base64_agrees_with_the_base64_crate() {
        use base64::Engine as _;
        let reference = &base64::engine::general_purpose::STANDARD;
        for len in [
            0, 1, 2, 3, 4, 31, 32, 33, 47, 48, 49, 95, 96, 97, 1000, 65_537,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i * 131 + 7) as u8).collect();
            let text = encode_base64(&data);
            assert_eq!(text, reference.encode(&data), "{len}");
            assert_eq!(decode_base64(&text).unwrap(), data, "{len}");
        }
        // What the reference refuses, the SIMD decoder refuses too: bad length, bad
        // characters, missing or misplaced padding, non-canonical trailing bits.
        for bad in [
            "a", "ab", "abc", "aGk", "aG=k", "aGk==", "aGl=", "====", "aGk=aGk=", "a-b_",
        ] {
            assert!(reference.decode(bad).is_err(), "{bad}");
            assert!(decode_base64(bad).is_none(), "{bad}");
        }
        let mut out = b"kept".to_vec();
        assert!(!decode_base64_append(b"aGk!", &mut out));
        assert_eq!(out, b"kept");
        assert!(decode_base64_append(b"aGk=", &mut out));
        assert_eq!(out, b"kepthi");
    }

    #[test]
    fn base64_into_appends_what_encode_returns() {
        for len in 0..10 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37) as u8).collect();
            let mut out = String::from("<x>");
            encode_base64_into(&data, &mut out);
            assert_eq!(out, format!("<x>{}", encode_base64(&data)));
            assert_eq!(encode_base64(&data).len(), encoded_base64_len(len));
        }
    }
}

/// One `rsp:Stream`: a base64 chunk of a named stream, in a Send (input) or a ReceiveResponse
/// (output); the wire element is the same both ways.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamData {
    pub name: String,
    /// Absent = a stream of the shell itself (PSRP), not of one command.
    pub command_id: Option<String>,
    pub data: Vec<u8>,
    pub end: bool,
}

impl StreamData {
    pub fn new(name: &str, command_id: Option<&str>, data: Vec<u8>, end: bool) -> Self {
        Self {
            name: name.to_owned(),
            command_id: command_id.map(str::to_owned),
            data,
            end,
        }
    }
}
