//! Shell response bodies: renderers for the server, parsers for clients.

use std::time::Duration;

use std::fmt::Write as _;

use super::{
    decode_base64, decode_base64_bytes, encode_base64_into, encoded_base64_len, format_dhms,
    is_rsp, rsp_decl, state, words, StreamData,
};
use crate::duration;
use crate::ns;
use crate::transfer;
use crate::xml::{escape_attr, Element, Node, Writer};

/// Why a response body could not be read (client side).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    #[error("the response has no {element}")]
    Missing { element: &'static str },
    #[error("the response's {element} is not valid: {value:?}")]
    Invalid {
        element: &'static str,
        value: String,
    },
}

fn missing(element: &'static str) -> ResponseError {
    ResponseError::Missing { element }
}

fn invalid(element: &'static str, value: &str) -> ResponseError {
    ResponseError::Invalid {
        element,
        value: value.to_owned(),
    }
}

/// `rsp:{name}`: `body` itself, or its child (the element or the `s:Body` holding it).
pub(super) fn first<'a>(
    body: &'a Element,
    name: &'static str,
) -> Result<&'a Element, ResponseError> {
    if is_rsp(body, name) {
        return Ok(body);
    }
    body.child(ns::SHELL, name).ok_or_else(|| missing(name))
}

/// `rsp:Shell` as CreateResponse, Get and Enumerate show it (element order as Windows writes
/// it). Optional fields are written only when set; Windows does not echo Name or Lifetime in
/// a CreateResponse.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShellDescription {
    pub shell_id: String,
    pub name: Option<String>,
    pub resource_uri: String,
    pub owner: String,
    pub client_ip: String,
    pub process_id: Option<u32>,
    pub environment: Vec<(String, String)>,
    pub working_directory: Option<String>,
    pub lifetime: Option<Duration>,
    pub idle_timeout: Duration,
    pub input_streams: Vec<String>,
    pub output_streams: Vec<String>,
    pub max_idle_timeout: Option<Duration>,
    pub locale: Option<String>,
    pub data_locale: Option<String>,
    pub compression_mode: Option<String>,
    pub profile_loaded: Option<bool>,
    pub encoding: Option<String>,
    pub buffer_mode: Option<String>,
    /// `Connected` / `Disconnected`.
    pub state: Option<String>,
    pub shell_run_time: Duration,
    pub shell_inactivity: Duration,
    /// e.g. `46MB`.
    pub memory_used: Option<String>,
    pub child_processes: Option<u32>,
}

impl ShellDescription {
    /// A description with the fields every answer has.
    pub fn new(shell_id: &str, resource_uri: &str, owner: &str, client_ip: &str) -> Self {
        Self {
            shell_id: shell_id.to_owned(),
            resource_uri: resource_uri.to_owned(),
            owner: owner.to_owned(),
            client_ip: client_ip.to_owned(),
            input_streams: vec!["stdin".to_owned()],
            output_streams: vec!["stdout".to_owned(), "stderr".to_owned()],
            ..Self::default()
        }
    }

    pub fn to_xml(&self) -> String {
        let mut w = Writer::new();
        w.start("rsp:Shell", &[rsp_decl()]);
        w.leaf("rsp:ShellId", &[], &self.shell_id);
        if let Some(n) = &self.name {
            w.leaf("rsp:Name", &[], n);
        }
        w.leaf("rsp:ResourceUri", &[], &self.resource_uri);
        w.leaf("rsp:Owner", &[], &self.owner);
        w.leaf("rsp:ClientIP", &[], &self.client_ip);
        if let Some(p) = self.process_id {
            w.leaf("rsp:ProcessId", &[], &p.to_string());
        }
        if !self.environment.is_empty() {
            w.start("rsp:Environment", &[]);
            for (name, value) in &self.environment {
                w.leaf("rsp:Variable", &[("Name", name)], value);
            }
            w.end();
        }
        if let Some(d) = &self.working_directory {
            w.leaf("rsp:WorkingDirectory", &[], d);
        }
        if let Some(l) = self.lifetime {
            w.leaf("rsp:Lifetime", &[], &duration::format(l));
        }
        w.leaf("rsp:IdleTimeOut", &[], &duration::format(self.idle_timeout));
        w.leaf("rsp:InputStreams", &[], &self.input_streams.join(" "));
        w.leaf("rsp:OutputStreams", &[], &self.output_streams.join(" "));
        if let Some(m) = self.max_idle_timeout {
            w.leaf("rsp:MaxIdleTimeOut", &[], &duration::format(m));
        }
        let text = |w: &mut Writer, name: &str, v: &Option<String>| {
            if let Some(v) = v {
                w.leaf(name, &[], v);
            }
        };
        text(&mut w, "rsp:Locale", &self.locale);
        text(&mut w, "rsp:DataLocale", &self.data_locale);
        text(&mut w, "rsp:CompressionMode", &self.compression_mode);
        if let Some(p) = self.profile_loaded {
            w.leaf("rsp:ProfileLoaded", &[], if p { "Yes" } else { "No" });
        }
        text(&mut w, "rsp:Encoding", &self.encoding);
        text(&mut w, "rsp:BufferMode", &self.buffer_mode);
        text(&mut w, "rsp:State", &self.state);
        w.leaf("rsp:ShellRunTime", &[], &format_dhms(self.shell_run_time));
        w.leaf(
            "rsp:ShellInactivity",
            &[],
            &format_dhms(self.shell_inactivity),
        );
        text(&mut w, "rsp:MemoryUsed", &self.memory_used);
        if let Some(c) = self.child_processes {
            w.leaf("rsp:ChildProcesses", &[], &c.to_string());
        }
        w.finish()
    }

    /// Parse `rsp:Shell` (the element itself, or a parent holding it).
    pub fn parse(e: &Element) -> Result<Self, ResponseError> {
        let shell = first(e, "Shell")?;
        let mut out = Self::default();
        let dur = |c: &Element, name: &'static str| {
            duration::parse(&c.trimmed_text()).ok_or_else(|| invalid(name, &c.text()))
        };
        for c in super::shell_elements(shell) {
            let t = c.trimmed_text();
            match c.name.as_str() {
                "ShellId" => out.shell_id = t,
                "Name" => out.name = Some(c.text()),
                "ResourceUri" => out.resource_uri = t,
                "Owner" => out.owner = t,
                "ClientIP" => out.client_ip = t,
                "ProcessId" => {
                    out.process_id = Some(t.parse().map_err(|_| invalid("ProcessId", &t))?)
                }
                "Environment" => {
                    for v in c.children_named(ns::SHELL, "Variable") {
                        let name = v.attr("Name").unwrap_or_default().to_owned();
                        out.environment.push((name, v.text()));
                    }
                }
                "WorkingDirectory" => out.working_directory = Some(t),
                "Lifetime" => out.lifetime = Some(dur(c, "Lifetime")?),
                "IdleTimeOut" => out.idle_timeout = dur(c, "IdleTimeOut")?,
                "InputStreams" => out.input_streams = words(&t),
                "OutputStreams" => out.output_streams = words(&t),
                "MaxIdleTimeOut" => out.max_idle_timeout = Some(dur(c, "MaxIdleTimeOut")?),
                "Locale" => out.locale = Some(t),
                "DataLocale" => out.data_locale = Some(t),
                "CompressionMode" => out.compression_mode = Some(t),
                "ProfileLoaded" => out.profile_loaded = Some(t.eq_ignore_ascii_case("yes")),
                "Encoding" => out.encoding = Some(t),
                "BufferMode" => out.buffer_mode = Some(t),
                "State" => out.state = Some(t),
                "ShellRunTime" => out.shell_run_time = dur(c, "ShellRunTime")?,
                "ShellInactivity" => out.shell_inactivity = dur(c, "ShellInactivity")?,
                "MemoryUsed" => out.memory_used = Some(t),
                "ChildProcesses" => {
                    out.child_processes =
                        Some(t.parse().map_err(|_| invalid("ChildProcesses", &t))?)
                }
                _ => {}
            }
        }
        if out.shell_id.is_empty() {
            return Err(missing("ShellId"));
        }
        Ok(out)
    }
}

/// CreateResponse: the EPR (`x:ResourceCreated` with the ShellId selector, which pywinrm
/// reads) and `rsp:Shell` (which pypsrp reads). Both always carry the ShellId.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CreateResponse {
    /// The `a:Address` of the EPR: the URL the client used.
    pub address: String,
    /// The ShellId selector of the EPR.
    pub selector_shell_id: String,
    pub shell: ShellDescription,
}

impl CreateResponse {
    pub fn new(address: &str, shell: ShellDescription) -> Self {
        Self {
            address: address.to_owned(),
            selector_shell_id: shell.shell_id.clone(),
            shell,
        }
    }

    /// Body content (two elements).
    pub fn to_xml(&self) -> String {
        let mut out = transfer::resource_created(
            &self.address,
            &self.shell.resource_uri,
            &[("ShellId", &self.selector_shell_id)],
        );
        out.push_str(&self.shell.to_xml());
        out
    }

    /// Parse from the `s:Body` element.
    pub fn parse(body: &Element) -> Result<Self, ResponseError> {
        let created = body
            .child(ns::TRANSFER, "ResourceCreated")
            .ok_or_else(|| missing("ResourceCreated"))?;
        let address = created
            .child(ns::ADDRESSING, "Address")
            .map(|a| a.trimmed_text())
            .unwrap_or_default();
        let selector_shell_id = created
            .child(ns::ADDRESSING, "ReferenceParameters")
            .and_then(|r| r.child(ns::WSMAN, "SelectorSet"))
            .and_then(|s| {
                s.children_named(ns::WSMAN, "Selector").find(|x| {
                    x.attr("Name")
                        .is_some_and(|n| n.eq_ignore_ascii_case("ShellId"))
                })
            })
            .map(|s| s.trimmed_text())
            .ok_or_else(|| missing("ShellId selector"))?;
        let shell = ShellDescription::parse(body)?;
        Ok(Self {
            address,
            selector_shell_id,
            shell,
        })
    }
}

/// `rsp:CommandResponse`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandResponse {
    pub command_id: String,
}

impl CommandResponse {
    pub fn to_xml(&self) -> String {
        let mut w = Writer::new();
        w.start("rsp:CommandResponse", &[rsp_decl()]);
        w.leaf("rsp:CommandId", &[], &self.command_id);
        w.finish()
    }

    pub fn parse(body: &Element) -> Result<Self, ResponseError> {
        let r = first(body, "CommandResponse")?;
        let id = r
            .child(ns::SHELL, "CommandId")
            .map(|c| c.trimmed_text())
            .filter(|c| !c.is_empty())
            .ok_or_else(|| missing("CommandId"))?;
        Ok(Self { command_id: id })
    }
}

/// `<rsp:SendResponse/>`.
pub fn send_response() -> String {
    empty_response("rsp:SendResponse")
}

/// `<rsp:SignalResponse/>`.
pub fn signal_response() -> String {
    empty_response("rsp:SignalResponse")
}

fn empty_response(qname: &str) -> String {
    let mut w = Writer::new();
    w.start(qname, &[rsp_decl()]);
    w.finish()
}

/// `rsp:CommandState`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandStateValue {
    Pending,
    Running,
    Done {
        exit_code: Option<i64>,
    },
    /// Another State URI, kept as sent.
    Other(String),
}

/// One `rsp:Stream` of a ReceiveResponse to render, borrowing its data.
#[derive(Clone, Copy, Debug)]
pub struct StreamPart<'a> {
    pub name: &'a str,
    pub command_id: Option<&'a str>,
    pub data: &'a [u8],
    pub end: bool,
}

impl StreamPart<'_> {
    fn head(&self) -> StreamHead<'_> {
        StreamHead {
            name: self.name,
            command_id: self.command_id,
            end: self.end,
        }
    }
}

/// The attributes of one `rsp:Stream`, for [`ReceiveResponse::render_around`].
#[derive(Clone, Copy, Debug)]
pub struct StreamHead<'a> {
    pub name: &'a str,
    pub command_id: Option<&'a str>,
    pub end: bool,
}

/// `rsp:ReceiveResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceiveResponse {
    pub streams: Vec<StreamData>,
    /// `(CommandId, state)`; absent = Pending.
    pub state: Option<(Option<String>, CommandStateValue)>,
}

impl ReceiveResponse {
    pub fn new(
        streams: Vec<StreamData>,
        state: Option<(Option<String>, CommandStateValue)>,
    ) -> Self {
        Self { streams, state }
    }

    /// Bytes of markup besides the base64 text, per stream element: used by the server to
    /// fit a response into MaxEnvelopeSize.
    pub fn stream_overhead(name: &str, command_id: Option<&str>) -> usize {
        // <rsp:Stream Name="" CommandId="" End="true"></rsp:Stream>
        60 + name.len() + command_id.map_or(0, str::len)
    }

    /// The body. Empty streams are written with an explicit end tag, as Windows does.
    pub fn to_xml(&self) -> String {
        let parts: Vec<StreamPart<'_>> = self
            .streams
            .iter()
            .map(|s| StreamPart {
                name: &s.name,
                command_id: s.command_id.as_deref(),
                data: &s.data,
                end: s.end,
            })
            .collect();
        let state = self
            .state
            .as_ref()
            .map(|(command_id, st)| (command_id.as_deref(), st));
        Self::render(&parts, state)
    }

    /// [`ReceiveResponse::to_xml`] from borrowed stream data, with the same text.
    ///
    /// Rendered by hand into one string sized up front (with room for the envelope, see
    /// [`crate::response::envelope_owned`]): the base64 of the stream data (which needs no XML
    /// escaping) is encoded straight into it, so output bytes are not copied through
    /// intermediate strings on their way to the wire.
    pub fn render(
        streams: &[StreamPart<'_>],
        state: Option<(Option<&str>, &CommandStateValue)>,
    ) -> String {
        let markup: usize = streams
            .iter()
            .map(|s| Self::stream_overhead(s.name, s.command_id) + encoded_base64_len(s.data.len()))
            .sum();
        // Room for the envelope too, which is then built around the body in place.
        let out = String::with_capacity(256 + markup + crate::response::ENVELOPE_HEADROOM);
        let heads: Vec<StreamHead<'_>> = streams.iter().map(StreamPart::head).collect();
        Self::render_with(&heads, state, out, |index, out| {
            encode_base64_into(streams[index].data, out);
        })
    }

    /// The response as the markup around its streams' base64 text, which the caller writes
    /// in between: piece 0, the text of stream 0, piece 1, ..., the text of the last stream,
    /// the last piece (always `streams.len() + 1` pieces). `out` (an envelope's start, see
    /// [`crate::response::envelope_start`]) goes first. For a server that holds output already encoded: the text goes
    /// to the wire as it is, without being copied into the response.
    pub fn render_around(
        streams: &[StreamHead<'_>],
        state: Option<(Option<&str>, &CommandStateValue)>,
        mut out: String,
    ) -> Vec<String> {
        out.reserve(256 + streams.len() * 96);
        let mut pieces = Vec::with_capacity(streams.len() + 1);
        let last = Self::render_with(streams, state, out, |_, out| {
            let capacity = out.capacity() - out.len();
            pieces.push(std::mem::replace(out, String::with_capacity(capacity)));
        });
        pieces.push(last);
        pieces
    }

    /// The response after `out`, with `text(index, out)` writing the content of stream
    /// `index`.
    fn render_with(
        streams: &[StreamHead<'_>],
        state: Option<(Option<&str>, &CommandStateValue)>,
        mut out: String,
        mut text: impl FnMut(usize, &mut String),
    ) -> String {
        let (decl_name, decl_value) = rsp_decl();
        open_tag(&mut out, "rsp:ReceiveResponse", &[(decl_name, decl_value)]);
        if streams.is_empty() && state.is_none() {
            out.push_str("/>");
            return out;
        }
        out.push('>');
        for (index, s) in streams.iter().enumerate() {
            let mut attrs = vec![("Name", s.name)];
            if let Some(c) = s.command_id {
                attrs.push(("CommandId", c));
            }
            if s.end {
                attrs.push(("End", "true"));
            }
            open_tag(&mut out, "rsp:Stream", &attrs);
            out.push('>');
            text(index, &mut out);
            out.push_str("</rsp:Stream>");
        }
        if let Some((command_id, st)) = state {
            let (uri, exit) = match st {
                CommandStateValue::Pending => (state::PENDING, None),
                CommandStateValue::Running => (state::RUNNING, None),
                CommandStateValue::Done { exit_code } => (state::DONE, *exit_code),
                CommandStateValue::Other(u) => (u.as_str(), None),
            };
            let mut attrs = Vec::new();
            if let Some(c) = command_id {
                attrs.push(("CommandId", c));
            }
            attrs.push(("State", uri));
            open_tag(&mut out, "rsp:CommandState", &attrs);
            out.push('>');
            if let Some(code) = exit {
                let _ = write!(out, "<rsp:ExitCode>{code}</rsp:ExitCode>");
            }
            out.push_str("</rsp:CommandState>");
        }
        out.push_str("</rsp:ReceiveResponse>");
        out
    }

    pub fn parse(body: &Element) -> Result<Self, ResponseError> {
        let r = first(body, "ReceiveResponse")?;
        let mut out = Self::default();
        for s in r.children_named(ns::SHELL, "Stream") {
            let data = stream_data(s).ok_or_else(|| invalid("Stream", &s.text()))?;
            out.streams.push(StreamData {
                name: s.attr("Name").unwrap_or_default().to_owned(),
                command_id: s.attr("CommandId").map(str::to_owned),
                data,
                end: s
                    .attr("End")
                    .and_then(crate::headers::parse_bool)
                    .unwrap_or(false),
            });
        }
        if let Some(cs) = r.child(ns::SHELL, "CommandState") {
            let uri = cs.attr("State").unwrap_or_default().trim();
            let value = if uri == state::DONE {
                let exit_code = match cs.child(ns::SHELL, "ExitCode") {
                    Some(e) => {
                        let t = e.trimmed_text();
                        Some(t.parse().map_err(|_| invalid("ExitCode", &t))?)
                    }
                    None => None,
                };
                CommandStateValue::Done { exit_code }
            } else if uri == state::RUNNING {
                CommandStateValue::Running
            } else if uri == state::PENDING {
                CommandStateValue::Pending
            } else {
                CommandStateValue::Other(uri.to_owned())
            };
            out.state = Some((cs.attr("CommandId").map(str::to_owned), value));
        }
        Ok(out)
    }
}

/// `<qname attr="value" ...` (the tag left open), as [`crate::xml::Writer`] writes it.
fn open_tag(out: &mut String, qname: &str, attrs: &[(&str, &str)]) {
    out.push('<');
    out.push_str(qname);
    for (name, value) in attrs {
        let _ = write!(out, " {name}=\"{}\"", escape_attr(value));
    }
}

/// The decoded data of an `rsp:Stream`. The text of an element is almost always one node: it
/// is decoded in place, without first being copied into a new string.
fn stream_data(stream: &Element) -> Option<Vec<u8>> {
    match stream.children.as_slice() {
        [] => Some(Vec::new()),
        [Node::Text(text)] => decode_base64_bytes(text.as_bytes()),
        _ => decode_base64(&stream.text()),
    }
}

/// `rsp:Command`, an item of the `.../windows/shell/Command` enumeration.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandItem {
    pub command_id: String,
    pub command_line: String,
    /// `Running` / `Done`, as Windows writes it here (not a URI).
    pub state: String,
}

impl CommandItem {
    pub fn new(command_id: &str, command_line: &str, state: &str) -> Self {
        Self {
            command_id: command_id.to_owned(),
            command_line: command_line.to_owned(),
            state: state.to_owned(),
        }
    }

    pub fn to_xml(&self) -> String {
        let mut w = Writer::new();
        w.start("rsp:Command", &[rsp_decl()]);
        w.leaf("rsp:CommandId", &[], &self.command_id);
        w.leaf("rsp:CommandLine", &[], &self.command_line);
        w.leaf("rsp:CommandState", &[], &self.state);
        w.finish()
    }

    pub fn parse(e: &Element) -> Result<Self, ResponseError> {
        let c = first(e, "Command")?;
        let text = |name: &'static str| c.child(ns::SHELL, name).map(|x| x.text());
        Ok(Self {
            command_id: text("CommandId")
                .map(|t| t.trim().to_owned())
                .ok_or_else(|| missing("CommandId"))?,
            command_line: text("CommandLine").unwrap_or_default(),
            state: text("CommandState")
                .map(|t| t.trim().to_owned())
                .unwrap_or_default(),
        })
    }
}
