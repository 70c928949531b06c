//! A ReceiveResponse envelope read in one streaming pass (client side), without building the
//! element tree: the base64 text of each `rsp:Stream` is decoded straight from the envelope,
//! which is where a client reading a command's output spends its time otherwise (the text is
//! copied into the tree first).
//!
//! The XML is still parsed completely and strictly (the same reader and settings as
//! [`crate::xml::parse`]: names resolved by namespace URI, end tags checked, DOCTYPE refused,
//! depth and element count bounded), so a document it accepts is one the tree parser accepts
//! too, read the same way as [`ReceiveResponse::parse`]. Anything else (a fault, another
//! body, a malformed document, entity references in attribute values it does not expect...)
//! yields `None`, and the caller takes the general path, which reports the error properly.

use quick_xml::events::{BytesStart, BytesText, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

use super::responses::{CommandStateValue, ReceiveResponse};
use super::{decode_base64_append, state, StreamData};
use crate::ns;
use crate::xml::Limits;

/// What a ReceiveResponse envelope holds, as [`read_receive_envelope`] found it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceiveEnvelope {
    /// `a:RelatesTo` of the header (trimmed), if any.
    pub relates_to: Option<String>,
    /// The body.
    pub response: ReceiveResponse,
}

/// Where the reader is in the envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// Any element not looked into (its text is ignored).
    Other,
    Envelope,
    Header,
    RelatesTo,
    Body,
    Response,
    Stream,
    CommandState,
    ExitCode,
}

/// Reads a SOAP envelope whose body is an `rsp:ReceiveResponse`; `None` for anything else
/// (see the module docs).
pub fn read_receive_envelope(input: &str) -> Option<ReceiveEnvelope> {
    read(input.as_bytes(), true)
}

/// [`read_receive_envelope`] of UTF-8 bytes not yet checked: `None` unless they are UTF-8.
/// The check skips the base64 text of the streams, nearly all of a large answer: the base64
/// decoder accepts nothing but ASCII there, so checking it again would only cost time.
pub fn read_receive_envelope_bytes(input: &[u8]) -> Option<ReceiveEnvelope> {
    read(input, false)
}

/// What [`read`] has gathered of the envelope so far.
#[derive(Default)]
struct Gathered {
    relates_to: Option<String>,
    response: Option<ReceiveResponse>,
    /// The text of the `rsp:ExitCode` being read.
    exit_text: String,
    /// Whether the current `rsp:Stream` had its text (it must come in one piece).
    stream_text_seen: bool,
    /// How many elements the Body held so far (one is read).
    body_children: usize,
}

/// The reader of both; `utf8`: `input` is known to be UTF-8.
fn read(input: &[u8], utf8: bool) -> Option<ReceiveEnvelope> {
    let limits = Limits::default();
    // Without quick-xml's `encoding` feature a reader of bytes reads them as UTF-8, exactly
    // as a reader of a `str` does, and checks every piece of text it unescapes.
    let mut reader = NsReader::from_reader(input);
    // Where the part of `input` not yet checked for UTF-8 starts.
    let mut unchecked = if utf8 { input.len() } else { 0 };
    reader.config_mut().trim_text(false);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Place> = Vec::with_capacity(8);
    let mut elements = 0usize;
    let mut seen_root = false;
    let mut gathered = Gathered::default();
    loop {
        let (resolved, event) = reader.read_resolved_event().ok()?;
        let (start, empty) = match event {
            Event::Start(s) => (s, false),
            Event::Empty(s) => (s, true),
            Event::End(_) => {
                let place = stack.pop()?;
                if place == Place::ExitCode {
                    let code = gathered.exit_text.trim().parse().ok()?;
                    set_exit_code(gathered.response.as_mut()?, code)?;
                }
                continue;
            }
            Event::Text(t) => {
                gathered.text(input, stack.last().copied(), &t, &mut unchecked)?;
                continue;
            }
            Event::CData(_) | Event::DocType(_) => return None,
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => continue,
        };
        elements += 1;
        if elements > limits.max_elements || stack.len() >= limits.max_depth {
            return None;
        }
        // The element's namespace, among the three this reader looks for (copied out, so that
        // the reader can resolve the attributes next).
        let namespace = known_namespace(resolved)?;
        check_attributes(&reader, &start, &limits)?;
        let is = |uri: &str, name: &str| {
            namespace == Some(uri) && start.local_name().as_ref() == name.as_bytes()
        };
        let parent = stack.last().copied();
        if parent.is_none() && seen_root {
            return None;
        }
        let place = gathered.element(parent, &is, &start)?;
        seen_root = true;
        if empty {
            if place == Place::ExitCode {
                return None;
            }
        } else {
            stack.push(place);
        }
    }
    if !stack.is_empty() || !seen_root {
        return None;
    }
    if unchecked < input.len() {
        std::str::from_utf8(&input[unchecked..]).ok()?;
    }
    Some(ReceiveEnvelope {
        relates_to: gathered.relates_to.map(|r| r.trim().to_owned()),
        response: gathered.response?,
    })
}

impl Gathered {
    /// A piece of text inside `place` (`None`: outside the root): a stream's base64 decoded,
    /// RelatesTo and ExitCode kept, whitespace between elements passed over; anything else
    /// refuses the document. A step of [`read`], inlined into its loop.
    #[inline(always)]
    fn text(
        &mut self,
        input: &[u8],
        place: Option<Place>,
        t: &BytesText<'_>,
        unchecked: &mut usize,
    ) -> Option<()> {
        let Some(place) = place else {
            // Outside the root: only whitespace is well-formed there.
            return t.iter().all(u8::is_ascii_whitespace).then_some(());
        };
        if place == Place::Stream {
            // Text in one piece only: split text (a comment inside) is decoded as a whole by
            // the general path.
            if self.stream_text_seen {
                return None;
            }
            self.stream_text_seen = true;
            let stream = self.response.as_mut()?.streams.last_mut()?;
            return append_stream_text(input, t, &mut stream.data, unchecked);
        }
        // Unescaped everywhere, as the tree parser does (a bad reference anywhere refuses the
        // document).
        let text = t.unescape().ok()?;
        match place {
            Place::Other | Place::Envelope => {}
            Place::RelatesTo => self
                .relates_to
                .get_or_insert_with(String::new)
                .push_str(&text),
            Place::ExitCode => self.exit_text.push_str(&text),
            // Whitespace between elements; the tree parser keeps it as text nodes that the
            // ReceiveResponse reader ignores.
            _ if text.trim().is_empty() => {}
            _ => return None,
        }
        Some(())
    }

    /// Where an element starting under `parent` (`None`: it is the root) puts the reader
    /// (`is` tells its name), its stream or command state recorded; `None` for what servers
    /// do not send (another body, elements inside a stream's text, a second CommandState).
    /// A step of [`read`], inlined into its loop.
    #[inline(always)]
    fn element(
        &mut self,
        parent: Option<Place>,
        is: &impl Fn(&str, &str) -> bool,
        start: &BytesStart<'_>,
    ) -> Option<Place> {
        Some(match parent {
            None if is(ns::SOAP, "Envelope") => Place::Envelope,
            None => return None,
            Some(Place::Envelope) if is(ns::SOAP, "Header") => Place::Header,
            Some(Place::Envelope) if is(ns::SOAP, "Body") => Place::Body,
            Some(Place::Header) if is(ns::ADDRESSING, "RelatesTo") => Place::RelatesTo,
            Some(Place::Body) => {
                self.body_children += 1;
                if self.body_children > 1 || !is(ns::SHELL, "ReceiveResponse") {
                    return None;
                }
                self.response = Some(ReceiveResponse::default());
                Place::Response
            }
            Some(Place::Response) if is(ns::SHELL, "Stream") => {
                let stream = stream_start(start)?;
                self.response.as_mut()?.streams.push(stream);
                self.stream_text_seen = false;
                Place::Stream
            }
            Some(Place::Response) if is(ns::SHELL, "CommandState") => {
                let state = command_state(start)?;
                let response = self.response.as_mut()?;
                if response.state.is_some() {
                    // A second CommandState: the tree reader takes the first; keep it simple.
                    return None;
                }
                response.state = Some(state);
                Place::CommandState
            }
            Some(Place::CommandState) if is(ns::SHELL, "ExitCode") => {
                let response = self.response.as_mut()?;
                if !matches!(response.state, Some((_, CommandStateValue::Done { .. }))) {
                    return None;
                }
                self.exit_text.clear();
                Place::ExitCode
            }
            // Elements inside a stream's text, or a second root: not what servers send.
            Some(Place::Stream | Place::RelatesTo | Place::ExitCode) => return None,
            Some(_) => Place::Other,
        })
    }
}

/// The element's namespace among the three [`read`] looks for (`Some(None)`: another one, or
/// none); `None` for an unbound prefix, which refuses the document.
#[inline(always)]
fn known_namespace(resolved: ResolveResult<'_>) -> Option<Option<&'static str>> {
    match resolved {
        ResolveResult::Bound(n) => Some(
            [ns::SOAP, ns::ADDRESSING, ns::SHELL]
                .into_iter()
                .find(|uri| n.into_inner() == uri.as_bytes()),
        ),
        ResolveResult::Unbound => Some(None),
        ResolveResult::Unknown(_) => None,
    }
}

/// One `rsp:Stream`'s text decoded onto `data`. Base64 as it lies in `input`: it has nothing
/// to unescape, and what decodes is ASCII, so only the bytes before it (from `unchecked` on)
/// are checked for UTF-8. Text that does not decode (a character reference, say) is
/// unescaped first. A step of [`read`], inlined into its loop.
#[inline(always)]
fn append_stream_text(
    input: &[u8],
    text: &BytesText<'_>,
    data: &mut Vec<u8>,
    unchecked: &mut usize,
) -> Option<()> {
    if let Some(at) = span_in(input, text) {
        if decode_base64_append(text, data) {
            if at.start >= *unchecked {
                std::str::from_utf8(&input[*unchecked..at.start]).ok()?;
                *unchecked = at.end;
            }
            return Some(());
        }
    }
    let unescaped = text.unescape().ok()?;
    decode_base64_append(unescaped.as_bytes(), data).then_some(())
}

/// Where `part` (a slice the reader borrowed from `input`) lies in `input`.
fn span_in(input: &[u8], part: &[u8]) -> Option<std::ops::Range<usize>> {
    let start = (part.as_ptr() as usize).checked_sub(input.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (end <= input.len()).then_some(start..end)
}

/// Every attribute of every element is checked as the tree parser checks it: well-formed, not
/// repeated, at most `max_attributes`, and its prefix bound.
fn check_attributes(
    reader: &NsReader<&[u8]>,
    start: &BytesStart<'_>,
    limits: &Limits,
) -> Option<()> {
    let mut count = 0usize;
    for attr in start.attributes().with_checks(true) {
        let attr = attr.ok()?;
        if attr.key.as_namespace_binding().is_some() {
            continue;
        }
        count += 1;
        if count > limits.max_attributes {
            return None;
        }
        if let (ResolveResult::Unknown(prefix), _) = reader.resolve_attribute(attr.key) {
            if prefix != b"xml" {
                return None;
            }
        }
        attr.unescape_value().ok()?;
    }
    Some(())
}

/// Hands each attribute without a prefix (how servers write `rsp:Stream`'s and
/// `rsp:CommandState`'s) to `each`, by local name and unescaped value; `None` for a malformed
/// one.
#[inline(always)]
fn each_unprefixed_attribute(
    start: &BytesStart<'_>,
    mut each: impl FnMut(&[u8], std::borrow::Cow<'_, str>),
) -> Option<()> {
    for attr in start.attributes().with_checks(true) {
        let attr = attr.ok()?;
        if attr.key.prefix().is_none() {
            each(attr.key.local_name().as_ref(), attr.unescape_value().ok()?);
        }
    }
    Some(())
}

/// The attributes of an `rsp:Stream` start tag, as [`ReceiveResponse::parse`] reads them.
fn stream_start(start: &BytesStart<'_>) -> Option<StreamData> {
    let mut stream = StreamData::default();
    each_unprefixed_attribute(start, |name, value| match name {
        b"Name" => stream.name = value.into_owned(),
        b"CommandId" => stream.command_id = Some(value.into_owned()),
        b"End" => stream.end = crate::headers::parse_bool(&value).unwrap_or(false),
        _ => {}
    })?;
    Some(stream)
}

/// The attributes of an `rsp:CommandState` start tag (the exit code comes later).
fn command_state(start: &BytesStart<'_>) -> Option<(Option<String>, CommandStateValue)> {
    let mut command_id = None;
    let mut uri = String::new();
    each_unprefixed_attribute(start, |name, value| match name {
        b"CommandId" => command_id = Some(value.into_owned()),
        b"State" => uri = value.trim().to_owned(),
        _ => {}
    })?;
    let value = if uri == state::DONE {
        CommandStateValue::Done { exit_code: None }
    } else if uri == state::RUNNING {
        CommandStateValue::Running
    } else if uri == state::PENDING {
        CommandStateValue::Pending
    } else {
        CommandStateValue::Other(uri)
    };
    Some((command_id, value))
}

fn set_exit_code(response: &mut ReceiveResponse, code: i64) -> Option<()> {
    match &mut response.state {
        Some((_, CommandStateValue::Done { exit_code })) if exit_code.is_none() => {
            *exit_code = Some(code);
            Some(())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    #![allow(
        clippy::disallowed_methods,
        reason = "a Receive answer as a server writes it"
    )]
    use super::*;
    use crate::response::{envelope, ResponseHeader};
    use crate::xml;

    fn wrap(body: &str) -> String {
        envelope(
            &ResponseHeader {
                action: super::super::action::RECEIVE_RESPONSE,
                message_id: "uuid:1",
                relates_to: Some("uuid:REQ"),
                operation_id: None,
                sequence_id: None,
                extra: "",
            },
            body,
        )
    }

    /// The tree parser's reading of the same document.
    fn by_tree(text: &str) -> ReceiveResponse {
        let root = xml::parse(text, &Limits::default()).unwrap();
        let body = root.child(ns::SOAP, "Body").unwrap();
        let response = ReceiveResponse::parse(body.elements().next().unwrap()).unwrap();
        response
    }

    #[test]
    fn reads_what_the_server_renders_like_the_tree_parser() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
        for (streams, state) in [
            (
                vec![
                    StreamData::new("stdout", Some("C1"), data.clone(), false),
                    StreamData::new("stderr", Some("C1"), b"err".to_vec(), true),
                ],
                Some((Some("C1".to_owned()), CommandStateValue::Running)),
            ),
            (
                vec![StreamData::new("stdout", Some("C1"), Vec::new(), true)],
                Some((
                    Some("C1".to_owned()),
                    CommandStateValue::Done {
                        exit_code: Some(-3),
                    },
                )),
            ),
            (vec![], None),
        ] {
            let text = wrap(&ReceiveResponse::new(streams, state).to_xml());
            let fast = read_receive_envelope(&text).unwrap();
            assert_eq!(fast.relates_to.as_deref(), Some("uuid:REQ"));
            assert_eq!(fast.response, by_tree(&text));
            assert_eq!(read_receive_envelope_bytes(text.as_bytes()), Some(fast));
        }
    }

    #[test]
    fn other_prefixes_whitespace_and_wrapped_base64_read_the_same() {
        let text = format!(
            "<?xml version=\"1.0\"?>\n<e:Envelope xmlns:e=\"{}\" xmlns:w=\"{}\" xmlns:a=\"{}\">\
             <e:Header><a:RelatesTo> uuid:REQ </a:RelatesTo><a:Action>x</a:Action></e:Header>\
             <e:Body>\n <w:ReceiveResponse><w:Stream Name=\"stdout\" CommandId=\"C\">aGVs\r\nbG8=\
             </w:Stream><!-- c --><w:CommandState CommandId=\"C\" State=\" {} \">\
             <w:ExitCode> 7 </w:ExitCode></w:CommandState></w:ReceiveResponse>\n</e:Body>\
             </e:Envelope>",
            ns::SOAP,
            ns::SHELL,
            ns::ADDRESSING,
            state::DONE
        );
        let fast = read_receive_envelope(&text).unwrap();
        assert_eq!(fast.relates_to.as_deref(), Some("uuid:REQ"));
        assert_eq!(fast.response, by_tree(&text));
        assert_eq!(fast.response.streams[0].data, b"hello");
    }

    proptest::proptest! {
        /// Whatever the streaming reader accepts, the tree parser reads the same way; and it
        /// never panics. Inputs are envelopes with random bytes spliced in.
        #[test]
        fn agrees_with_the_tree_parser(cut in 0usize..400, junk in "[<>/=\"a-zA-Z0-9+ &;:!-]{0,12}") {
            let good = wrap(
                &ReceiveResponse::new(
                    vec![StreamData::new("stdout", Some("C"), b"hello".to_vec(), true)],
                    Some((Some("C".to_owned()), CommandStateValue::Done { exit_code: Some(1) })),
                )
                .to_xml(),
            );
            let at = (0..=cut.min(good.len())).rev().find(|i| good.is_char_boundary(*i)).unwrap_or(0);
            let text = format!("{}{junk}{}", &good[..at], &good[at..]);
            let fast = read_receive_envelope(&text);
            proptest::prop_assert_eq!(&read_receive_envelope_bytes(text.as_bytes()), &fast);
            if let Some(fast) = fast {
                proptest::prop_assert_eq!(fast.response, by_tree(&text));
            }
        }
    }

    /// Bytes that are not UTF-8 anywhere outside the base64 refuse the document; the base64
    /// itself is checked by its decoder. Base64 written with a character reference still
    /// decodes.
    #[test]
    fn bytes_are_read_only_when_they_are_utf8() {
        let good = wrap(
            &ReceiveResponse::new(
                vec![
                    StreamData::new("stdout", Some("C"), b"hello".to_vec(), false),
                    StreamData::new("stderr", Some("C"), b"oops".to_vec(), true),
                ],
                Some((Some("C".to_owned()), CommandStateValue::Running)),
            )
            .to_xml(),
        );
        let with_comment = good.replace("</rsp:Stream>", "</rsp:Stream><!--\u{e9}-->");
        let fast = read_receive_envelope_bytes(with_comment.as_bytes()).unwrap();
        assert_eq!(fast.response.streams[0].data, b"hello");
        assert_eq!(fast.response.streams[1].data, b"oops");
        for marker in [
            "</rsp:Stream>",
            "<rsp:CommandState",
            "</s:Envelope>",
            "<a:RelatesTo>",
        ] {
            let at = with_comment.find(marker).unwrap();
            for bad in [&b"\xe9"[..], b"\xff", b"\xc3"] {
                let mut bytes = with_comment.as_bytes().to_vec();
                let comment = bytes[..at].windows(4).rposition(|w| w == b"<!--");
                // Inside a comment just before the marker (or, before the first, in front of
                // the marker itself).
                let place = comment.map_or(at, |c| c + 4);
                bytes.splice(place..place, bad.iter().copied());
                assert!(std::str::from_utf8(&bytes).is_err());
                assert_eq!(
                    read_receive_envelope_bytes(&bytes),
                    None,
                    "{marker} {bad:?}"
                );
            }
        }
        let mut in_base64 = good.as_bytes().to_vec();
        let at = good.find("aGVsbG8=").unwrap();
        in_base64[at + 2] = 0xe9;
        assert_eq!(read_receive_envelope_bytes(&in_base64), None);
        let reference = good.replace("aGVsbG8=", "aGVs&#98;G8=");
        let fast = read_receive_envelope_bytes(reference.as_bytes()).unwrap();
        assert_eq!(fast.response.streams[0].data, b"hello");
        assert_eq!(fast.response, by_tree(&reference));
    }

    #[test]
    fn anything_else_is_left_to_the_general_path() {
        let fault = wrap("<s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code></s:Fault>");
        let good = wrap(
            &ReceiveResponse::new(
                vec![StreamData::new("stdout", None, b"x".to_vec(), false)],
                None,
            )
            .to_xml(),
        );
        let cut = &good[..good.len() - 5];
        let bad_base64 = good.replace(">eA==<", ">e!==<");
        let nested = good.replace(">eA==<", "><x/>eA==<");
        let two_roots = format!("{good}{good}");
        let doctype = format!("<!DOCTYPE x>{good}");
        for text in [
            fault.as_str(),
            cut,
            &bad_base64,
            &nested,
            &two_roots,
            &doctype,
            "",
            "x",
        ] {
            assert!(read_receive_envelope(text).is_none(), "{text}");
        }
        assert!(read_receive_envelope(&good).is_some());
    }
}
