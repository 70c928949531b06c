//! The little of PowerShell's CLIXML serialization (MS-PSRP 2.2.5) a client needs to run a
//! script and show what it wrote: the three messages it sends (SESSION_CAPABILITY,
//! INIT_RUNSPACEPOOL, CREATE_PIPELINE) in the shapes Windows' and pypsrp's clients send them,
//! and, from what the server sends, the state of the pool and of a pipeline and each object
//! as text (a string as is, any other object by its serialized `ToString`).
//!
//! What the server sends is untrusted (a Windows host, or a `pwsh` running as any user): it
//! is read by the bounded XML parser, and anything it does not recognise is an error, never a
//! panic.

use std::fmt::Write as _;

use crate::xml::{self, Element, Limits};

/// Why a CLIXML document is not what a message of its type holds.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClixmlError {
    #[error("the message is not UTF-8")]
    Utf8,
    #[error("the message is not XML: {0}")]
    Xml(String),
    #[error("the message has no {0}")]
    Missing(&'static str),
    #[error("{0} is not a number")]
    Number(&'static str),
}

/// Depth and size bounds for a message's XML: an ErrorRecord nests a dozen levels deep; a
/// message is at most what the fragment reassembly allows.
fn limits() -> Limits {
    Limits {
        max_depth: 48,
        max_elements: 100_000,
        ..Limits::default()
    }
}

/// Parses a message's data: UTF-8, with or without the byte order mark Windows writes.
pub fn parse(data: &[u8]) -> Result<Element, ClixmlError> {
    let data = data.strip_prefix(b"\xef\xbb\xbf").unwrap_or(data);
    let text = std::str::from_utf8(data).map_err(|_| ClixmlError::Utf8)?;
    xml::parse(text, &limits()).map_err(|e| ClixmlError::Xml(e.to_string()))
}

/// Encodes a string as PowerShell's serializer does (MS-PSRP 2.2.5.3.2): characters XML
/// cannot carry as they are (controls, line ends, which XML would normalise) and an
/// underscore that starts `_x` are written `_xHHHH_`; then the XML escapes.
pub fn encode_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let code = u32::from(c);
        if c == '_' && chars.peek() == Some(&'x') {
            out.push_str("_x005F_");
        } else if code < 0x20 || (0x7f..=0x9f).contains(&code) || c == '\u{fffe}' {
            let _ = write!(out, "_x{code:04X}_");
        } else {
            out.push(c);
        }
    }
    xml::escape_text(&out).into_owned()
}

/// Decodes PowerShell's `_xHHHH_` escapes (UTF-16 code units; a surrogate pair is two
/// escapes). An escape that is not one is kept as written.
pub fn decode_string(s: &str) -> String {
    let mut units: Vec<u16> = Vec::with_capacity(s.len());
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < s.len() {
        let escape = bytes.get(i..i + 7).filter(|b| {
            b[0] == b'_'
                && b[1] == b'x'
                && b[6] == b'_'
                && b[2..6].iter().all(u8::is_ascii_hexdigit)
        });
        if let Some(e) = escape {
            let hex = std::str::from_utf8(&e[2..6]).unwrap_or("0");
            units.push(u16::from_str_radix(hex, 16).unwrap_or(0));
            i += 7;
        } else {
            let c = s[i..].chars().next().unwrap_or('\u{fffd}');
            let mut buf = [0u16; 2];
            units.extend_from_slice(c.encode_utf16(&mut buf));
            i += c.len_utf8();
        }
    }
    String::from_utf16_lossy(&units)
}

/// An enum value as .NET serializes it: its type names (`tn`: the RefId of that list), its
/// name and its number.
fn enum_obj(
    out: &mut String,
    (name, ref_id, tn): (&str, u32, u32),
    types: &str,
    text: &str,
    value: i32,
) {
    let _ = write!(
        out,
        "<Obj N=\"{name}\" RefId=\"{ref_id}\"><TN RefId=\"{tn}\"><T>{types}</T>\
         <T>System.Enum</T><T>System.ValueType</T><T>System.Object</T></TN>\
         <ToString>{text}</ToString><I32>{value}</I32></Obj>"
    );
}

/// A further value of the enum whose type names were listed as `tn`.
fn enum_ref(out: &mut String, (name, ref_id, tn): (&str, u32, u32), text: &str, value: i32) {
    let _ = write!(
        out,
        "<Obj N=\"{name}\" RefId=\"{ref_id}\"><TNRef RefId=\"{tn}\" />\
         <ToString>{text}</ToString><I32>{value}</I32></Obj>"
    );
}

const APARTMENT_STATE: &str = "System.Management.Automation.Runspaces.ApartmentState";
const RESULT_TYPES: &str = "System.Management.Automation.Runspaces.PipelineResultTypes";

/// A host that is not there: the server makes no host calls (no prompts, no Read-Host);
/// what a script asks of a host fails on the server side instead.
const NULL_HOST: &str = "<Obj N=\"HostInfo\" RefId=\"{}\"><MS><B N=\"_isHostNull\">true</B>\
<B N=\"_isHostUINull\">true</B><B N=\"_isHostRawUINull\">true</B>\
<B N=\"_useRunspaceHost\">true</B></MS></Obj>";

fn null_host(ref_id: u32) -> String {
    NULL_HOST.replace("{}", &ref_id.to_string())
}

/// SESSION_CAPABILITY (MS-PSRP 2.2.2.1): protocol 2.3, as Windows PowerShell 5.1 sends it.
pub fn session_capability() -> String {
    "<Obj RefId=\"0\"><MS><Version N=\"protocolversion\">2.3</Version>\
     <Version N=\"PSVersion\">2.0</Version>\
     <Version N=\"SerializationVersion\">1.1.0.1</Version></MS></Obj>"
        .to_owned()
}

/// INIT_RUNSPACEPOOL (MS-PSRP 2.2.2.2) with a null host and no application arguments.
pub fn init_runspace_pool(min: i32, max: i32) -> String {
    let mut out = format!(
        "<Obj RefId=\"0\"><MS><I32 N=\"MinRunspaces\">{min}</I32>\
         <I32 N=\"MaxRunspaces\">{max}</I32>"
    );
    let threads = "System.Management.Automation.Runspaces.PSThreadOptions";
    enum_obj(&mut out, ("PSThreadOptions", 1, 0), threads, "Default", 0);
    enum_obj(
        &mut out,
        ("ApartmentState", 2, 1),
        APARTMENT_STATE,
        "UNKNOWN",
        2,
    );
    out.push_str(&null_host(3));
    out.push_str("<Nil N=\"ApplicationArguments\" /></MS></Obj>");
    out
}

/// CREATE_PIPELINE (MS-PSRP 2.2.2.10) of one script command, no input, a null host, not
/// added to history, invocation information added to records: what
/// `PowerShell.AddScript(script).Invoke()` sends.
pub fn create_pipeline(script: &str) -> String {
    let mut out = String::from("<Obj RefId=\"0\"><MS><B N=\"NoInput\">true</B>");
    enum_obj(
        &mut out,
        ("ApartmentState", 1, 0),
        APARTMENT_STATE,
        "UNKNOWN",
        2,
    );
    let streams = "System.Management.Automation.Runspaces.RemoteStreamOptions";
    enum_obj(
        &mut out,
        ("RemoteStreamOptions", 2, 1),
        streams,
        "AddInvocationInfo",
        15,
    );
    out.push_str("<B N=\"AddToHistory\">false</B>");
    out.push_str(&null_host(3));
    let _ = write!(
        out,
        "<Obj N=\"PowerShell\" RefId=\"4\"><MS><B N=\"IsNested\">false</B>\
         <Nil N=\"ExtraCmds\" /><Obj N=\"Cmds\" RefId=\"5\"><TN RefId=\"2\">\
         <T>System.Collections.Generic.List`1[[System.Management.Automation.PSObject, \
         System.Management.Automation, Version=1.0.0.0, Culture=neutral, \
         PublicKeyToken=31bf3856ad364e35]]</T><T>System.Object</T></TN><LST>\
         <Obj RefId=\"6\"><MS><S N=\"Cmd\">{}</S><B N=\"IsScript\">true</B>\
         <Nil N=\"UseLocalScope\" />",
        encode_string(script)
    );
    enum_obj(&mut out, ("MergeMyResult", 7, 3), RESULT_TYPES, "None", 0);
    enum_ref(&mut out, ("MergeToResult", 8, 3), "None", 0);
    enum_ref(&mut out, ("MergePreviousResults", 9, 3), "None", 0);
    out.push_str("<Obj N=\"Args\" RefId=\"10\"><TNRef RefId=\"2\" /><LST /></Obj>");
    let merges = [
        "MergeError",
        "MergeWarning",
        "MergeVerbose",
        "MergeDebug",
        "MergeInformation",
    ];
    for (name, ref_id) in merges.into_iter().zip(11..) {
        enum_ref(&mut out, (name, ref_id, 3), "None", 0);
    }
    out.push_str(
        "</MS></Obj></LST></Obj><Nil N=\"History\" />\
         <B N=\"RedirectShellErrorOutputPipe\">false</B></MS></Obj>\
         <B N=\"IsNested\">false</B></MS></Obj>",
    );
    out
}

fn local<'a>(e: &'a Element, name: &str) -> Option<&'a Element> {
    e.elements().find(|c| c.name == name)
}

/// The member `N="name"` of an object's `<MS>` (extended) or `<Props>` (adapted) properties.
pub fn property<'a>(obj: &'a Element, name: &str) -> Option<&'a Element> {
    obj.elements()
        .filter(|c| c.name == "MS" || c.name == "Props")
        .flat_map(Element::elements)
        .find(|p| p.attr("N") == Some(name))
}

fn i32_property(obj: &Element, name: &'static str) -> Result<i32, ClixmlError> {
    property(obj, name)
        .ok_or(ClixmlError::Missing(name))?
        .trimmed_text()
        .parse()
        .map_err(|_| ClixmlError::Number(name))
}

/// The text PowerShell shows for a serialized object (MS-PSRP 2.2.5): a primitive's value
/// (strings decoded), a complex object's `<ToString>`, a list's items one per line, else its
/// first type name.
pub fn object_text(e: &Element) -> String {
    match e.name.as_str() {
        "S" | "C" | "SBK" | "XD" | "URI" => decode_string(&e.text()),
        "Nil" => String::new(),
        "B" => match e.trimmed_text().as_str() {
            "true" => "True".to_owned(),
            _ => "False".to_owned(),
        },
        "Obj" => {
            if let Some(text) = local(e, "ToString") {
                return decode_string(&text.text());
            }
            for list in ["LST", "IE", "STK", "QUE"] {
                if let Some(items) = local(e, list) {
                    let lines: Vec<String> = items.elements().map(object_text).collect();
                    return lines.join("\n");
                }
            }
            let primitive = e.elements().find(|c| {
                !matches!(
                    c.name.as_str(),
                    "TN" | "TNRef" | "MS" | "Props" | "DCT" | "LST" | "IE" | "STK" | "QUE"
                )
            });
            if let Some(p) = primitive {
                return object_text(p);
            }
            local(e, "TN")
                .and_then(|tn| local(tn, "T"))
                .map(|t| decode_string(&t.text()))
                .unwrap_or_default()
        }
        _ => e.trimmed_text(),
    }
}

/// The text of a record of the error, warning, verbose, debug or information streams: its
/// `<ToString>`, else the message an information record carries (`MessageData`).
pub fn record_text(record: &Element) -> String {
    if local(record, "ToString").is_none() {
        if let Some(data) = property(record, "MessageData") {
            return object_text(data);
        }
    }
    object_text(record)
}

/// A state message's state and, when the state is a failure, the error it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateReport {
    /// The state number (MS-PSRP 2.2.3.4 for a pool, 2.2.3.5 for a pipeline).
    pub state: i32,
    /// The text of `ExceptionAsErrorRecord`, if any.
    pub reason: Option<String>,
}

fn state_report(message: &Element, name: &'static str) -> Result<StateReport, ClixmlError> {
    let state = i32_property(message, name)?;
    let reason = property(message, "ExceptionAsErrorRecord")
        .filter(|e| e.name != "Nil")
        .map(record_text);
    Ok(StateReport { state, reason })
}

/// RUNSPACEPOOL_STATE (MS-PSRP 2.2.2.9).
pub fn runspace_pool_state(message: &Element) -> Result<StateReport, ClixmlError> {
    state_report(message, "RunspaceState")
}

/// PIPELINE_STATE (MS-PSRP 2.2.2.21).
pub fn pipeline_state(message: &Element) -> Result<StateReport, ClixmlError> {
    state_report(message, "PipelineState")
}
