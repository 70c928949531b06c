//! Shell request bodies and options: builders for clients, parsers for the server.

use std::time::Duration;

use super::{bool_option, decode_base64, encode_base64, expect_body, is_rsp, words, StreamData};
use super::{
    is_terminal_type, parse_dimension, rsp_decl, SignalCode, TerminalRequest, TerminalSize,
};
use super::{schema_error, shell_elements, start_rsp};
use crate::duration;
use crate::fault::from_errors::NumberError;
use crate::fault::Fault;
use crate::headers::OptionSet;
use crate::ns;
use crate::xml::{Element, Writer};

/// The WinRS options of a shell request's OptionSet. `None` = not sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WinrsOptions {
    pub no_profile: Option<bool>,
    pub codepage: Option<u32>,
    pub console_mode_stdin: Option<bool>,
    pub skip_cmd_shell: Option<bool>,
    pub keepalive: Option<bool>,
    /// wsmand's extension: run the shell's commands on a pseudo-terminal (`WSMAND_PTY`
    /// TRUE, with `WSMAND_PTY_TERM`, `WSMAND_PTY_COLUMNS`, `WSMAND_PTY_ROWS`). Sent without
    /// MustComply, so a server that does not know it (Windows) gives pipes.
    pub terminal: Option<TerminalRequest>,
}

impl WinrsOptions {
    /// Read the options (names in any case, booleans in any case). A bad value is
    /// `w:InvalidOptions`/`InvalidValue`; an unknown option faults only under MustComply.
    pub fn parse(set: &OptionSet) -> Result<Self, Fault> {
        set.check_known(super::option::KNOWN)?;
        let codepage = match set
            .get(super::option::CODEPAGE)
            .and_then(|o| o.value.as_deref())
        {
            None => None,
            Some(v) => Some(
                v.trim()
                    .parse::<u32>()
                    .map_err(|_| NumberError::ShellOption(super::option::CODEPAGE))?,
            ),
        };
        Ok(Self {
            no_profile: bool_option(set, super::option::NOPROFILE)?,
            codepage,
            console_mode_stdin: bool_option(set, super::option::CONSOLEMODE_STDIN)?,
            skip_cmd_shell: bool_option(set, super::option::SKIP_CMD_SHELL)?,
            keepalive: bool_option(set, super::option::KEEPALIVE)?,
            terminal: terminal_options(set)?,
        })
    }

    /// (name, value, must_comply) triples for [`crate::request::RequestHeader::options`],
    /// booleans written `TRUE`/`FALSE` as winrs.exe does.
    pub fn to_options(&self) -> Vec<(String, String, bool)> {
        let b = |v: bool| if v { "TRUE" } else { "FALSE" }.to_owned();
        let mut out = Vec::new();
        let mut push = |name: &str, value: String| out.push((name.to_owned(), value, false));
        if let Some(v) = self.no_profile {
            push(super::option::NOPROFILE, b(v));
        }
        if let Some(v) = self.codepage {
            push(super::option::CODEPAGE, v.to_string());
        }
        if let Some(v) = self.console_mode_stdin {
            push(super::option::CONSOLEMODE_STDIN, b(v));
        }
        if let Some(v) = self.skip_cmd_shell {
            push(super::option::SKIP_CMD_SHELL, b(v));
        }
        if let Some(v) = self.keepalive {
            push(super::option::KEEPALIVE, b(v));
        }
        if let Some(terminal) = &self.terminal {
            push(super::option::PTY, b(true));
            push(super::option::PTY_TERM, terminal.term.clone());
            push(
                super::option::PTY_COLUMNS,
                terminal.size.columns.to_string(),
            );
            push(super::option::PTY_ROWS, terminal.size.rows.to_string());
        }
        out
    }
}

/// The terminal options: `None` unless `WSMAND_PTY` is TRUE; a bad type or size is
/// `w:InvalidOptions`/`InvalidValue` naming the option.
fn terminal_options(set: &OptionSet) -> Result<Option<TerminalRequest>, Fault> {
    if bool_option(set, super::option::PTY)? != Some(true) {
        return Ok(None);
    }
    let value = |name: &str| set.get(name).and_then(|o| o.value.as_deref());
    let term = match value(super::option::PTY_TERM) {
        None => super::DEFAULT_TERM.to_owned(),
        Some(term) if is_terminal_type(term.trim()) => term.trim().to_owned(),
        Some(_) => return Err(Fault::invalid_options_value(super::option::PTY_TERM)),
    };
    let dimension = |name: &str, default: u16| match value(name) {
        None => Ok(default),
        Some(text) => parse_dimension(text).ok_or_else(|| Fault::invalid_options_value(name)),
    };
    let defaults = TerminalSize::default();
    Ok(Some(TerminalRequest {
        term,
        size: TerminalSize {
            columns: dimension(super::option::PTY_COLUMNS, defaults.columns)?,
            rows: dimension(super::option::PTY_ROWS, defaults.rows)?,
        },
    }))
}

pub(super) fn parse_duration(e: &Element) -> Result<Duration, Fault> {
    // xs:duration only: a bare number (pywinrm#377) is a schema error, as on Windows.
    duration::parse(&e.trimmed_text()).ok_or_else(|| schema_error(&e.name))
}

/// The Create body `rsp:Shell`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShellCreate {
    /// `@ShellId`: client-chosen id (pypsrp, PSRP).
    pub shell_id: Option<String>,
    pub name: Option<String>,
    /// Empty = the default (`stdin`).
    pub input_streams: Vec<String>,
    /// Empty = the default (`stdout stderr`).
    pub output_streams: Vec<String>,
    pub working_directory: Option<String>,
    /// `Environment/Variable`, in order.
    pub environment: Vec<(String, String)>,
    pub idle_timeout: Option<Duration>,
    pub lifetime: Option<Duration>,
}

impl ShellCreate {
    /// Parse a Create body. Unknown content (e.g. PSRP's `creationXml`) is ignored.
    pub fn parse(body: Option<&Element>) -> Result<Self, Fault> {
        let shell = expect_body(body, "Shell")?;
        let mut out = Self {
            shell_id: shell.attr("ShellId").map(|s| s.trim().to_owned()),
            ..Self::default()
        };
        for e in shell_elements(shell) {
            match e.name.as_str() {
                "Name" => out.name = Some(e.text()),
                "InputStreams" => out.input_streams = words(&e.text()),
                "OutputStreams" => out.output_streams = words(&e.text()),
                "WorkingDirectory" => out.working_directory = Some(e.trimmed_text()),
                "IdleTimeOut" => out.idle_timeout = Some(parse_duration(e)?),
                "Lifetime" => out.lifetime = Some(parse_duration(e)?),
                "Environment" => {
                    for v in e.elements() {
                        if !is_rsp(v, "Variable") {
                            return Err(schema_error(&v.name));
                        }
                        let name = v.attr("Name").ok_or_else(|| schema_error("Variable"))?;
                        out.environment.push((name.to_owned(), v.text()));
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// The body XML.
    pub fn to_xml(&self) -> String {
        let mut w = Writer::new();
        let id = self.shell_id.as_deref().map(|s| ("ShellId", s));
        start_rsp(&mut w, "rsp:Shell", id);
        if let Some(n) = &self.name {
            w.leaf("rsp:Name", &[], n);
        }
        if !self.input_streams.is_empty() {
            w.leaf("rsp:InputStreams", &[], &self.input_streams.join(" "));
        }
        if !self.output_streams.is_empty() {
            w.leaf("rsp:OutputStreams", &[], &self.output_streams.join(" "));
        }
        if let Some(d) = &self.working_directory {
            w.leaf("rsp:WorkingDirectory", &[], d);
        }
        if !self.environment.is_empty() {
            w.start("rsp:Environment", &[]);
            for (name, value) in &self.environment {
                w.leaf("rsp:Variable", &[("Name", name)], value);
            }
            w.end();
        }
        if let Some(t) = self.idle_timeout {
            w.leaf("rsp:IdleTimeOut", &[], &duration::format(t));
        }
        if let Some(t) = self.lifetime {
            w.leaf("rsp:Lifetime", &[], &duration::format(t));
        }
        w.finish()
    }
}

/// The Command body `rsp:CommandLine`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandLine {
    /// `@CommandId`: client-chosen id.
    pub command_id: Option<String>,
    pub command: String,
    /// One entry per `rsp:Arguments` element.
    pub arguments: Vec<String>,
}

impl CommandLine {
    pub fn new(command: impl Into<String>, arguments: Vec<String>) -> Self {
        Self {
            command_id: None,
            command: command.into(),
            arguments,
        }
    }

    /// Parse a Command body. Another element in the shell namespace (e.g. `rsp:Argument`)
    /// is `w:SchemaValidationError`, as Windows answers it.
    pub fn parse(body: Option<&Element>) -> Result<Self, Fault> {
        let line = expect_body(body, "CommandLine")?;
        let mut out = Self {
            command_id: line.attr("CommandId").map(|s| s.trim().to_owned()),
            ..Self::default()
        };
        for e in line.elements() {
            if e.ns.as_deref() != Some(ns::SHELL) {
                continue;
            }
            match e.name.as_str() {
                "Command" => out.command = e.text(),
                "Arguments" => out.arguments.push(e.text()),
                other => return Err(schema_error(other)),
            }
        }
        Ok(out)
    }

    pub fn to_xml(&self) -> String {
        let mut w = Writer::new();
        let id = self.command_id.as_deref().map(|c| ("CommandId", c));
        start_rsp(&mut w, "rsp:CommandLine", id);
        w.leaf("rsp:Command", &[], &self.command);
        for a in &self.arguments {
            w.leaf("rsp:Arguments", &[], a);
        }
        w.finish()
    }
}

/// The Send body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Send {
    pub streams: Vec<StreamData>,
}

impl Send {
    pub fn new(streams: Vec<StreamData>) -> Self {
        Self { streams }
    }

    /// Parse a Send body: `End` in any case or absent; data that is not base64 is
    /// `w:SchemaValidationError` (the schema type is xs:base64Binary).
    pub fn parse(body: Option<&Element>) -> Result<Self, Fault> {
        let send = expect_body(body, "Send")?;
        let mut out = Self::default();
        for s in send.elements().filter(|e| is_rsp(e, "Stream")) {
            let name = s.attr("Name").ok_or_else(|| schema_error("Stream"))?;
            let end = match s.attr("End") {
                None => false,
                Some(v) => crate::headers::parse_bool(v).ok_or_else(|| schema_error("End"))?,
            };
            let data = decode_base64(&s.text()).ok_or_else(|| {
                Fault::schema_validation_error(
                    "The Windows Remote Shell cannot process the request. The stream data is not valid base64. ",
                )
            })?;
            out.streams.push(StreamData {
                name: name.trim().to_owned(),
                command_id: s.attr("CommandId").map(|c| c.trim().to_owned()),
                data,
                end,
            });
        }
        if out.streams.is_empty() {
            return Err(schema_error("Send"));
        }
        Ok(out)
    }

    pub fn to_xml(&self) -> String {
        let mut w = Writer::new();
        w.start("rsp:Send", &[rsp_decl()]);
        for s in &self.streams {
            let mut attrs = vec![("Name", s.name.as_str())];
            if let Some(c) = &s.command_id {
                attrs.push(("CommandId", c.as_str()));
            }
            if s.end {
                attrs.push(("End", "true"));
            }
            w.leaf("rsp:Stream", &attrs, &encode_base64(&s.data));
        }
        w.finish()
    }
}

/// The Receive body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Receive {
    /// `@SequenceId`: lets a lost response be asked for again.
    pub sequence_id: Option<u64>,
    /// `DesiredStream@CommandId`; absent = shell-level output (PSRP).
    pub command_id: Option<String>,
    /// Wanted streams; empty = all.
    pub streams: Vec<String>,
}

impl Receive {
    pub fn new(command_id: Option<&str>, streams: &[&str]) -> Self {
        Self {
            sequence_id: None,
            command_id: command_id.map(str::to_owned),
            streams: streams.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    pub fn parse(body: Option<&Element>) -> Result<Self, Fault> {
        let receive = expect_body(body, "Receive")?;
        let sequence_id = match receive.attr("SequenceId") {
            None => None,
            Some(v) => Some(v.trim().parse().map_err(|_| schema_error("SequenceId"))?),
        };
        let desired = receive.child(ns::SHELL, "DesiredStream");
        Ok(Self {
            sequence_id,
            command_id: desired
                .and_then(|d| d.attr("CommandId"))
                .map(|c| c.trim().to_owned()),
            streams: desired.map(|d| words(&d.text())).unwrap_or_default(),
        })
    }

    pub fn to_xml(&self) -> String {
        let mut w = Writer::new();
        let seq = self.sequence_id.map(|s| s.to_string());
        start_rsp(
            &mut w,
            "rsp:Receive",
            seq.as_deref().map(|s| ("SequenceId", s)),
        );
        let mut d = Vec::new();
        if let Some(c) = &self.command_id {
            d.push(("CommandId", c.as_str()));
        }
        w.leaf("rsp:DesiredStream", &d, &self.streams.join(" "));
        w.finish()
    }
}

/// The Signal body.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Signal {
    /// Absent = the shell itself.
    pub command_id: Option<String>,
    pub code: SignalCode,
    /// With [`SignalCode::WindowSize`]: the new window (`l:WindowSize` in
    /// [`ns::WSMAND_SHELL`], a sibling of `rsp:Code`).
    pub window_size: Option<TerminalSize>,
}

impl Signal {
    pub fn new(command_id: Option<&str>, code: SignalCode) -> Self {
        Self {
            command_id: command_id.map(str::to_owned),
            code,
            window_size: None,
        }
    }

    /// wsmand's resize signal for a command on a terminal.
    pub fn window_size(command_id: &str, size: TerminalSize) -> Self {
        Self {
            command_id: Some(command_id.to_owned()),
            code: SignalCode::WindowSize,
            window_size: Some(size),
        }
    }

    pub fn parse(body: Option<&Element>) -> Result<Self, Fault> {
        let signal = expect_body(body, "Signal")?;
        let code = signal
            .child(ns::SHELL, "Code")
            .ok_or_else(|| schema_error("Code"))?;
        let code = SignalCode::from_uri(&code.text());
        let window_size = match signal.child(ns::WSMAND_SHELL, "WindowSize") {
            None => None,
            Some(window) => {
                let dimension = |name: &str| {
                    window
                        .attr(name)
                        .and_then(parse_dimension)
                        .ok_or_else(|| schema_error("WindowSize"))
                };
                Some(TerminalSize {
                    rows: dimension("Rows")?,
                    columns: dimension("Columns")?,
                })
            }
        };
        if code == SignalCode::WindowSize && window_size.is_none() {
            return Err(schema_error("WindowSize"));
        }
        Ok(Self {
            command_id: signal.attr("CommandId").map(|c| c.trim().to_owned()),
            code,
            window_size,
        })
    }

    pub fn to_xml(&self) -> String {
        let mut w = Writer::new();
        let id = self.command_id.as_deref().map(|c| ("CommandId", c));
        start_rsp(&mut w, "rsp:Signal", id);
        w.leaf("rsp:Code", &[], self.code.uri());
        if let Some(size) = self.window_size {
            let (rows, columns) = (size.rows.to_string(), size.columns.to_string());
            w.leaf(
                "l:WindowSize",
                &[
                    ("xmlns:l", ns::WSMAND_SHELL),
                    ("Rows", &rows),
                    ("Columns", &columns),
                ],
                "",
            );
        }
        w.finish()
    }
}
