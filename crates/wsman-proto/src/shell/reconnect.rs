//! Disconnect, Reconnect and Connect (MS-WSMV 3.1.4.15-3.1.4.17): a shell that outlives its
//! client's connection. Request bodies with their builders and parsers, and ConnectResponse,
//! the only one of the three answers with a body (Disconnect and Reconnect answer an empty
//! `s:Body`, as the recorded Windows responses show).

use std::time::Duration;

use super::{expect_body, is_rsp, rsp_decl, schema_error, shell_elements, start_rsp, words};
use crate::duration;
use crate::fault::Fault;
use crate::ns;
use crate::xml::{Element, Writer};

use super::requests::parse_duration;
use super::responses::{first, ResponseError};

/// `rsp:BufferMode`: what the server does with output while no client is connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufferMode {
    /// Stop reading the command's output when the buffer is full (the command blocks).
    Block,
    /// Drop the oldest output when the buffer is full.
    Drop,
}

impl BufferMode {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Block => "Block",
            Self::Drop => "Drop",
        }
    }

    fn parse(e: &Element) -> Result<Self, Fault> {
        let text = e.trimmed_text();
        if text.eq_ignore_ascii_case("Block") {
            Ok(Self::Block)
        } else if text.eq_ignore_ascii_case("Drop") {
            Ok(Self::Drop)
        } else {
            Err(schema_error("BufferMode"))
        }
    }
}

/// The body may be absent, empty, or the named `rsp:` element (Reconnect has no schema type;
/// PowerShell sends an empty body, PSRP documents BufferMode and CommandId in it).
fn optional_body<'a>(body: Option<&'a Element>, name: &str) -> Result<Option<&'a Element>, Fault> {
    match body {
        None => Ok(None),
        Some(b) if is_rsp(b, name) => Ok(Some(b)),
        Some(_) => expect_body(body, name).map(Some),
    }
}

/// The Disconnect body `rsp:Disconnect` (pypsrp sends it empty).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Disconnect {
    /// `rsp:IdleTimeOut`: how long the disconnected shell is kept; replaces the shell's own.
    pub idle_timeout: Option<Duration>,
    /// `rsp:BufferMode`.
    pub buffer_mode: Option<BufferMode>,
}

impl Disconnect {
    /// A Disconnect with an idle timeout for the disconnected shell.
    pub fn new(idle_timeout: Option<Duration>) -> Self {
        Self {
            idle_timeout,
            buffer_mode: None,
        }
    }

    /// Parse a Disconnect body. The body must be `rsp:Disconnect`; IdleTimeOut is an
    /// xs:duration (a bare number is a schema error, as for Create).
    pub fn parse(body: Option<&Element>) -> Result<Self, Fault> {
        let disconnect = expect_body(body, "Disconnect")?;
        let mut out = Self::default();
        for e in shell_elements(disconnect) {
            match e.name.as_str() {
                "IdleTimeOut" => out.idle_timeout = Some(parse_duration(e)?),
                "BufferMode" => out.buffer_mode = Some(BufferMode::parse(e)?),
                other => return Err(schema_error(other)),
            }
        }
        Ok(out)
    }

    /// The body XML.
    pub fn to_xml(&self) -> String {
        let mut w = Writer::new();
        w.start("rsp:Disconnect", &[rsp_decl()]);
        if let Some(t) = self.idle_timeout {
            w.leaf("rsp:IdleTimeOut", &[], &duration::format(t));
        }
        if let Some(m) = self.buffer_mode {
            w.leaf("rsp:BufferMode", &[], m.as_str());
        }
        w.finish()
    }
}

/// The Reconnect body: empty as PowerShell sends it, or `rsp:Reconnect` with a BufferMode for
/// a later Disconnect and the CommandId of one command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reconnect {
    /// `rsp:BufferMode`.
    pub buffer_mode: Option<BufferMode>,
    /// `rsp:CommandId` (or the `CommandId` attribute): reconnect this command only.
    pub command_id: Option<String>,
}

impl Reconnect {
    /// Parse a Reconnect body (none, empty, or `rsp:Reconnect`).
    pub fn parse(body: Option<&Element>) -> Result<Self, Fault> {
        let Some(reconnect) = optional_body(body, "Reconnect")? else {
            return Ok(Self::default());
        };
        let mut out = Self {
            command_id: reconnect.attr("CommandId").map(|c| c.trim().to_owned()),
            ..Self::default()
        };
        for e in shell_elements(reconnect) {
            match e.name.as_str() {
                "BufferMode" => out.buffer_mode = Some(BufferMode::parse(e)?),
                "CommandId" => out.command_id = Some(e.trimmed_text()),
                other => return Err(schema_error(other)),
            }
        }
        Ok(out)
    }

    /// The body XML; empty (no body element) when nothing is set, as PowerShell sends it.
    pub fn to_xml(&self) -> String {
        if *self == Self::default() {
            return String::new();
        }
        let mut w = Writer::new();
        w.start("rsp:Reconnect", &[rsp_decl()]);
        if let Some(m) = self.buffer_mode {
            w.leaf("rsp:BufferMode", &[], m.as_str());
        }
        if let Some(c) = &self.command_id {
            w.leaf("rsp:CommandId", &[], c);
        }
        w.finish()
    }
}

/// The Connect body `rsp:Connect`: optionally one command's id; open content (PSRP's
/// `connectXml`) is kept as the text of the first foreign element.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Connect {
    /// `@CommandId`: connect to this command only.
    pub command_id: Option<String>,
    /// Name, namespace and text of the first element outside the shell namespace (PSRP's
    /// `connectXml`), which a cmd shell ignores.
    pub open_content: Option<(String, Option<String>, String)>,
}

impl Connect {
    /// Parse a Connect body.
    pub fn parse(body: Option<&Element>) -> Result<Self, Fault> {
        let connect = expect_body(body, "Connect")?;
        Ok(Self {
            command_id: connect.attr("CommandId").map(|c| c.trim().to_owned()),
            open_content: connect
                .elements()
                .find(|e| e.ns.as_deref() != Some(ns::SHELL))
                .map(|e| (e.name.clone(), e.ns.clone(), e.trimmed_text())),
        })
    }

    /// The body XML (without open content: ours is a cmd-shell client).
    pub fn to_xml(&self) -> String {
        let mut w = Writer::new();
        let id = self.command_id.as_deref().map(|c| ("CommandId", c));
        start_rsp(&mut w, "rsp:Connect", id);
        w.finish()
    }
}

/// `rsp:ConnectResponse`: the streams of the shell the client connected to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectResponse {
    pub input_streams: Vec<String>,
    pub output_streams: Vec<String>,
    /// PSRP's `connectResponseXml` (base64 fragments): the PowerShell plug-in's answer to
    /// the `connectXml` of a Connect.
    pub connect_response_xml: Option<String>,
}

impl ConnectResponse {
    pub fn new(input_streams: Vec<String>, output_streams: Vec<String>) -> Self {
        Self {
            input_streams,
            output_streams,
            connect_response_xml: None,
        }
    }

    pub fn to_xml(&self) -> String {
        let mut w = Writer::new();
        w.start("rsp:ConnectResponse", &[rsp_decl()]);
        w.leaf("rsp:InputStreams", &[], &self.input_streams.join(" "));
        w.leaf("rsp:OutputStreams", &[], &self.output_streams.join(" "));
        if let Some(xml) = &self.connect_response_xml {
            let psrp = ("xmlns", crate::ns::POWERSHELL);
            w.leaf("connectResponseXml", &[psrp], xml);
        }
        w.finish()
    }

    /// Parse `rsp:ConnectResponse` (the element or the `s:Body` holding it).
    pub fn parse(body: &Element) -> Result<Self, ResponseError> {
        let r = first(body, "ConnectResponse")?;
        let streams = |name: &str| {
            r.child(ns::SHELL, name)
                .map(|e| words(&e.text()))
                .unwrap_or_default()
        };
        Ok(Self {
            input_streams: streams("InputStreams"),
            output_streams: streams("OutputStreams"),
            connect_response_xml: r
                .elements()
                .find(|e| e.name == "connectResponseXml")
                .map(|e| e.trimmed_text()),
        })
    }
}
