//! A small, bounded, namespace-resolved XML tree, and a writer.
//!
//! Why not a serde layer: SOAP must be matched by namespace URI, never by prefix, and every
//! size of the input must be bounded before it is trusted. The parser resolves every element and
//! attribute name to `(namespace URI, local name)` and refuses input that exceeds [`Limits`].
//! DOCTYPE declarations are refused outright: no entity expansion, no external references.

use std::borrow::Cow;
use std::fmt::Write as _;

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

mod escape;
mod plain;
mod tree;
mod writer;
pub use escape::{escape_attr, escape_text, forbidden_at};
use plain::is_space;
pub use plain::scan_plain;
use tree::TreeBuilder;
pub use writer::Writer;

/// Bounds applied while parsing untrusted XML (the caller bounds the input's size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Maximum element nesting depth.
    pub max_depth: usize,
    /// Maximum number of elements in the document.
    pub max_elements: usize,
    /// Maximum number of attributes on one element, namespace declarations included: a
    /// declaration costs the parser as much as any other attribute.
    pub max_attributes: usize,
    /// Maximum number of namespace declarations in scope at once. Every element and
    /// attribute name is resolved by scanning the declarations in scope, so this bound is
    /// what keeps parsing linear in the input.
    pub max_namespaces_in_scope: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 64,
            max_elements: 200_000,
            max_attributes: 64,
            max_namespaces_in_scope: 128,
        }
    }
}

/// Why an XML document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XmlError {
    /// Not well-formed XML.
    #[error("malformed XML at byte {position}: {reason}")]
    Malformed { position: u64, reason: String },
    /// A prefix was used without a namespace declaration.
    #[error("undeclared namespace prefix {prefix:?}")]
    UnboundPrefix { prefix: String },
    /// A DOCTYPE declaration (refused: no entities, no DTDs).
    #[error("DOCTYPE declarations are not allowed")]
    Doctype,
    /// Nested deeper than [`Limits::max_depth`].
    #[error("element nesting deeper than {limit}")]
    TooDeep { limit: usize },
    /// More elements than [`Limits::max_elements`].
    #[error("more than {limit} elements")]
    TooManyElements { limit: usize },
    /// More attributes on one element than [`Limits::max_attributes`].
    #[error("more than {limit} attributes on one element")]
    TooManyAttributes { limit: usize },
    /// More namespace declarations in scope than [`Limits::max_namespaces_in_scope`].
    #[error("more than {limit} namespace declarations in scope")]
    TooManyNamespaces { limit: usize },
    /// A character XML 1.0 forbids (a control character other than tab, line feed and
    /// carriage return, or U+FFFE/U+FFFF), raw or as a character reference.
    #[error("character U+{code:04X} is not allowed in XML 1.0")]
    ForbiddenCharacter { code: u32 },
    /// No root element, or content after it.
    #[error("document has no single root element")]
    NoRoot,
}

/// A node of the tree: an element or a run of character data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    Text(String),
}

/// An attribute with its resolved namespace (attributes without a prefix have none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    pub ns: Option<String>,
    pub name: String,
    pub value: String,
}

/// An element with its resolved namespace URI and local name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    pub ns: Option<String>,
    pub name: String,
    /// The prefix used in the source document: for diagnostics (e.g. `NotUnderstood`) and kept
    /// by [`Element::to_xml`], so an echoed element is written as it came.
    pub prefix: Option<String>,
    pub attributes: Vec<Attribute>,
    pub children: Vec<Node>,
}

impl Element {
    /// A new element without attributes or children.
    pub fn new(ns: Option<&str>, name: &str) -> Self {
        Self {
            ns: ns.map(str::to_owned),
            name: name.to_owned(),
            prefix: None,
            attributes: Vec::new(),
            children: Vec::new(),
        }
    }

    /// True when this element has the namespace `ns` and local name `name`.
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.name == name && self.ns.as_deref() == Some(ns)
    }

    /// Child elements, in document order.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// The first child element with this namespace and local name.
    pub fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.is(ns, name))
    }

    /// All child elements with this namespace and local name.
    pub fn children_named<'a>(
        &'a self,
        ns: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.elements().filter(move |e| e.is(ns, name))
    }

    /// The first child element with this local name in any namespace, compared without case.
    pub fn child_ignore_case(&self, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.name.eq_ignore_ascii_case(name))
    }

    /// Concatenated character data of the direct text children.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for n in &self.children {
            if let Node::Text(t) = n {
                out.push_str(t);
            }
        }
        out
    }

    /// Text with surrounding XML whitespace removed (URIs and GUIDs are often on their own
    /// lines in hand-written messages).
    pub fn trimmed_text(&self) -> String {
        let text = self.text();
        let trimmed = text.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\r' | '\n'));
        // Nothing to trim (the usual case): the text as it is, not a second copy.
        if trimmed.len() == text.len() {
            text
        } else {
            trimmed.to_owned()
        }
    }

    /// Value of the attribute with no namespace and this local name.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.ns.is_none() && a.name == name)
            .map(|a| a.value.as_str())
    }

    /// Value of an unqualified attribute, name compared without case.
    pub fn attr_ignore_case(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.ns.is_none() && a.name.eq_ignore_ascii_case(name))
            .map(|a| a.value.as_str())
    }

    /// Value of a namespace-qualified attribute.
    pub fn attr_ns(&self, ns: &str, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.ns.as_deref() == Some(ns) && a.name == name)
            .map(|a| a.value.as_str())
    }

    /// True when the element has no child elements and only whitespace text.
    pub fn is_empty(&self) -> bool {
        self.children.iter().all(|n| match n {
            Node::Element(_) => false,
            Node::Text(t) => t.trim().is_empty(),
        })
    }

    /// Serialise this element (and its subtree) as XML, declaring namespaces where used.
    ///
    /// Prefixes are the source's where the element kept one, else generated (`ns0`, `ns1`, ...); the
    /// output is for round-trips and tests, not for the wire formats, which have fixed prefixes.
    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        let mut scope: Vec<(String, String)> = Vec::new();
        write_element(self, &mut out, &mut scope);
        out
    }

    /// Serialise as [`Element::to_xml`] does, as a fragment of a document that declares
    /// `scope`'s (prefix, namespace) pairs: an element echoed into an envelope (a reference
    /// parameter) declares none of the envelope's prefixes again.
    pub fn to_xml_in(&self, scope: &[(&str, &str)]) -> String {
        let mut out = String::new();
        let mut scope: Vec<(String, String)> = scope
            .iter()
            .map(|(prefix, ns)| ((*prefix).to_owned(), (*ns).to_owned()))
            .collect();
        write_element(self, &mut out, &mut scope);
        out
    }
}

/// The prefix of `ns` in scope, or a new one declared in `decls`: `kept` (the source's) when it
/// is not bound already, else the first free `nsN`. A peer that echoes what it was sent (a
/// reference parameter) writes it as it came.
fn prefix_for(
    ns: &str,
    kept: Option<&str>,
    scope: &mut Vec<(String, String)>,
    decls: &mut String,
) -> String {
    if let Some((p, _)) = scope.iter().rev().find(|(_, u)| u == ns) {
        return p.clone();
    }
    let bound = |p: &str, scope: &[(String, String)]| scope.iter().any(|(q, _)| q == p);
    let p = match kept {
        Some(k) if !k.is_empty() && !k.starts_with("xml") && !bound(k, scope) => k.to_owned(),
        _ => (scope.len()..)
            .map(|n| format!("ns{n}"))
            .find(|p| !bound(p, scope))
            .unwrap_or_default(),
    };
    let _ = write!(decls, " xmlns:{p}=\"{}\"", escape_attr(ns));
    scope.push((p.clone(), ns.to_owned()));
    p
}

fn write_element(e: &Element, out: &mut String, scope: &mut Vec<(String, String)>) {
    let depth = scope.len();
    let mut decls = String::new();
    let qname = match &e.ns {
        Some(ns) => format!(
            "{}:{}",
            prefix_for(ns, e.prefix.as_deref(), scope, &mut decls),
            e.name
        ),
        None => e.name.clone(),
    };
    let mut attrs = String::new();
    for a in &e.attributes {
        let name = match &a.ns {
            Some(ns) if ns == XML_NS => format!("xml:{}", a.name),
            Some(ns) => format!("{}:{}", prefix_for(ns, None, scope, &mut decls), a.name),
            None => a.name.clone(),
        };
        let _ = write!(attrs, " {name}=\"{}\"", escape_attr(&a.value));
    }
    let _ = write!(out, "<{qname}{decls}{attrs}");
    if e.children.is_empty() {
        out.push_str("/>");
    } else {
        out.push('>');
        for c in &e.children {
            match c {
                Node::Element(child) => write_element(child, out, scope),
                Node::Text(t) => out.push_str(&escape_text(t)),
            }
        }
        let _ = write!(out, "</{qname}>");
    }
    scope.truncate(depth);
}

/// The namespace bound to the `xml` prefix by definition (stated once, in [`crate::ns`]).
pub const XML_NS: &str = crate::ns::XML;

/// Parse a complete document into its root element, within `limits`.
pub fn parse(input: &str, limits: &Limits) -> Result<Element, XmlError> {
    scan_either(input, limits, TreeBuilder::new)?
        .root
        .ok_or(XmlError::NoRoot)
}

/// Reads `input` whole into a visitor made by `fresh`: plain XML (nearly every envelope and
/// event) by the plain pass ([`scan_plain`]), without quick-xml's reader; a document the plain
/// pass gives up on is read again by the full pass ([`scan`]) into a second, fresh visitor,
/// which makes every refusal (and its order) the full pass's own. The one place that pairs the
/// two passes, so no caller can forget the fresh visitor.
pub fn scan_either<V: Visitor>(
    input: &str,
    limits: &Limits,
    fresh: impl Fn() -> V,
) -> Result<V, XmlError> {
    let mut visitor = fresh();
    if !scan_plain(input, limits, &mut visitor) {
        visitor = fresh();
        scan(input, limits, &mut visitor)?;
    }
    Ok(visitor)
}

/// [`parse`] with the full pass only, never the plain one: the reference the plain pass is
/// compared with in tests and fuzzing (the same tree, or the same refusal).
pub fn parse_full(input: &str, limits: &Limits) -> Result<Element, XmlError> {
    let mut tree = TreeBuilder::new();
    scan(input, limits, &mut tree)?;
    tree.root.ok_or(XmlError::NoRoot)
}

/// What one pass over a document ([`scan`]) reports, in document order. The names, namespaces
/// and text are borrowed from the input (or the reader) whenever they can be: a visitor that
/// keeps only a few values of a document allocates nothing for the rest.
pub trait Visitor {
    /// One attribute of the element about to start (namespace declarations are not reported),
    /// its value unescaped.
    fn attribute(&mut self, ns: Option<&str>, name: &str, value: Cow<'_, str>);
    /// An element opens, after its attributes; `empty` (`<a/>`) when no `end` follows.
    fn start(&mut self, ns: Option<&str>, name: &str, prefix: Option<&str>, empty: bool);
    /// The innermost open element closes.
    fn end(&mut self);
    /// Character data of the innermost open element (text unescaped, or CDATA as it is). Text
    /// outside the root (whitespace only: anything else is refused) is not reported.
    fn text(&mut self, text: Cow<'_, str>);
}

/// Read a complete document in one pass, within `limits`, reporting it to `visitor`: the same
/// checks and the same refusals as [`parse`] (which is this pass building a tree), for readers
/// that need a few values of a document and not its tree.
pub fn scan(input: &str, limits: &Limits, visitor: &mut impl Visitor) -> Result<(), XmlError> {
    check_chars(input)?;
    // Namespace declarations made by each open element, to know how many are in scope.
    let mut declared: Vec<usize> = Vec::new();
    let mut in_scope = 0usize;
    let mut root_seen = false;
    let mut count = 0usize;
    let mut namespaces = Namespaces::default();

    let mut reader = NsReader::from_str(input);
    reader.config_mut().trim_text(false);
    reader.config_mut().check_end_names = true;
    loop {
        let position = reader.buffer_position();
        let malformed = |e: &dyn std::fmt::Display| XmlError::Malformed {
            position,
            reason: e.to_string(),
        };
        let event = reader.read_event().map_err(|e| malformed(&e))?;
        let (start, empty) = match event {
            Event::Start(s) => (s, false),
            Event::Empty(s) => (s, true),
            Event::End(_) => {
                in_scope -= declared.pop().ok_or(XmlError::NoRoot)?;
                visitor.end();
                continue;
            }
            Event::Text(t) => {
                let text = unescaped(input, &t, position)?;
                if let Cow::Owned(unescaped) = &text {
                    check_chars(unescaped)?;
                }
                scanned_text(&declared, visitor, text)?;
                continue;
            }
            Event::CData(c) => {
                // A slice of `input` (already UTF-8).
                let text = match c.into_inner() {
                    Cow::Borrowed(bytes) => input_text(input, bytes),
                    Cow::Owned(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
                };
                scanned_text(&declared, visitor, text)?;
                continue;
            }
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => continue,
        };
        count += 1;
        if count > limits.max_elements {
            return Err(XmlError::TooManyElements {
                limit: limits.max_elements,
            });
        }
        if declared.len() >= limits.max_depth {
            return Err(XmlError::TooDeep {
                limit: limits.max_depth,
            });
        }
        if declared.is_empty() {
            if root_seen {
                return Err(XmlError::NoRoot);
            }
            root_seen = true;
        }
        // Most elements of an envelope have no attributes at all: nothing to read then.
        let declarations = if start.attributes_raw().iter().all(|&b| is_space(b)) {
            0
        } else {
            let tag = Tag {
                reader: &reader,
                start: &start,
                input,
                position,
            };
            read_attributes(&tag, in_scope, limits, &mut namespaces, visitor)?
        };
        // The element's own declarations are in scope for its name (the reader recorded them).
        let (resolved, local) = reader.resolve_element(start.name());
        let ns = resolved_ns(resolved, &mut namespaces)?;
        let local = input_text(input, local.into_inner());
        let prefix = start
            .name()
            .prefix()
            .map(|p| input_text(input, p.into_inner()));
        visitor.start(ns, &local, prefix.as_deref(), empty);
        if !empty {
            in_scope += declarations;
            declared.push(declarations);
        }
    }
    if !declared.is_empty() {
        return Err(XmlError::Malformed {
            position: input.len() as u64,
            reason: "unclosed element at end of input".to_owned(),
        });
    }
    if !root_seen {
        return Err(XmlError::NoRoot);
    }
    Ok(())
}

/// Character data at the depth `declared` records: reported inside the root; outside it,
/// whitespace is fine and anything else is not a document.
fn scanned_text(
    declared: &[usize],
    visitor: &mut impl Visitor,
    text: Cow<'_, str>,
) -> Result<(), XmlError> {
    if !declared.is_empty() {
        visitor.text(text);
        Ok(())
    } else if text.trim().is_empty() {
        Ok(())
    } else {
        Err(XmlError::NoRoot)
    }
}

/// A start tag being read: the reader (which has recorded its declarations), the tag and
/// the input it is a slice of, and where it began (for the refusals).
struct Tag<'r, 'a> {
    reader: &'r NsReader<&'a [u8]>,
    start: &'r quick_xml::events::BytesStart<'a>,
    input: &'a str,
    position: u64,
}

/// Reads the attributes of a start tag, reporting each to `visitor`; returns how many
/// namespace declarations it made.
///
/// The reader has recorded the tag's declarations already (one linear pass). Everything
/// else is bounded before it costs more than linear time: the duplicate check costs the
/// square of the attributes read so far, so the count is bounded while reading; resolving a
/// name costs one look at each declaration in scope, so a tag that declares namespaces has
/// its names resolved only after its declarations are counted and bounded (a second pass).
/// A tag that declares none (no `xmlns` in it: nearly every tag) resolves its names in the
/// same pass that counts them, as the declarations in scope are already bounded by the
/// elements above it.
///
/// Either way the refusals are the same and come in the same order: first the tag's shape
/// (a malformed or repeated attribute, too many attributes, then too many declarations), then
/// the first name or value refused (an unbound prefix, a bad escape, a forbidden character).
fn read_attributes(
    tag: &Tag<'_, '_>,
    in_scope: usize,
    limits: &Limits,
    namespaces: &mut Namespaces,
    visitor: &mut impl Visitor,
) -> Result<usize, XmlError> {
    let malformed = |e: &dyn std::fmt::Display| XmlError::Malformed {
        position: tag.position,
        reason: e.to_string(),
    };
    // A slice of the input: searched as text (the standard library's search runs many bytes
    // at a time).
    let declares = input_text(tag.input, tag.start.attributes_raw()).contains("xmlns");
    let mut declarations = 0usize;
    // The first name or value refused, held until the tag's shape has been checked whole.
    let mut refused = None;
    let mut keys = Keys::default();
    for (read, attr) in tag.start.attributes().with_checks(false).enumerate() {
        let attr = attr.map_err(|e| malformed(&e))?;
        keys.check(tag.start, attr.key.0)
            .map_err(|e| malformed(&e))?;
        if read == limits.max_attributes {
            return Err(XmlError::TooManyAttributes {
                limit: limits.max_attributes,
            });
        }
        if attr.key.as_namespace_binding().is_some() {
            declarations += 1;
        } else if !declares && refused.is_none() {
            refused = report_attribute(tag, &attr, namespaces, visitor).err();
        }
    }
    if in_scope + declarations > limits.max_namespaces_in_scope {
        return Err(XmlError::TooManyNamespaces {
            limit: limits.max_namespaces_in_scope,
        });
    }
    if let Some(refused) = refused {
        return Err(refused);
    }
    if declares {
        for attr in tag.start.attributes().with_checks(false) {
            let attr = attr.map_err(|e| malformed(&e))?;
            if attr.key.as_namespace_binding().is_none() {
                report_attribute(tag, &attr, namespaces, visitor)?;
            }
        }
    }
    Ok(declarations)
}

/// The keys of a tag's attributes read so far, to refuse a repeated one: the check the
/// reader makes with `with_checks(true)`, the same error at the same positions, but without
/// the reader's list of keys, an allocation for every tag with an attribute (a Windows event
/// has four, a batch of ten some sixty). The first [`Keys::INLINE`] are kept in place, more
/// (at most `Limits::max_attributes`, which is checked after each key) in a list.
#[derive(Default)]
struct Keys<'a> {
    inline: [&'a [u8]; Keys::INLINE],
    len: usize,
    more: Vec<&'a [u8]>,
}

impl<'a> Keys<'a> {
    const INLINE: usize = 16;

    /// `key` (a slice of `tag`'s bytes, as the reader's attributes are) unless an earlier
    /// attribute has it: then the reader's `Duplicated` error, with both keys' offsets in
    /// the tag.
    fn check(
        &mut self,
        tag: &'a [u8],
        key: &'a [u8],
    ) -> Result<(), quick_xml::events::attributes::AttrError> {
        let offset = |k: &[u8]| k.as_ptr().addr().wrapping_sub(tag.as_ptr().addr());
        let kept = &self.inline[..self.len.min(Self::INLINE)];
        if let Some(previous) = kept.iter().chain(&self.more).find(|k| **k == key) {
            return Err(quick_xml::events::attributes::AttrError::Duplicated(
                offset(key),
                offset(previous),
            ));
        }
        if self.len < Self::INLINE {
            self.inline[self.len] = key;
        } else {
            self.more.push(key);
        }
        self.len += 1;
        Ok(())
    }
}

/// One attribute of `tag` (not a declaration): its name resolved, its value unescaped and
/// checked, reported to `visitor`.
fn report_attribute(
    tag: &Tag<'_, '_>,
    attr: &quick_xml::events::attributes::Attribute<'_>,
    namespaces: &mut Namespaces,
    visitor: &mut impl Visitor,
) -> Result<(), XmlError> {
    let (res, local) = tag.reader.resolve_attribute(attr.key);
    let ns = match res {
        ResolveResult::Unbound => None,
        ResolveResult::Bound(n) => Some(namespaces.text(n.into_inner())),
        ResolveResult::Unknown(p) => {
            if p == b"xml" {
                Some(XML_NS)
            } else {
                return Err(XmlError::UnboundPrefix {
                    prefix: String::from_utf8_lossy(&p).into_owned(),
                });
            }
        }
    };
    let value = unescaped(tag.input, &attr.value, tag.position)?;
    if let Cow::Owned(unescaped) = &value {
        check_chars(unescaped)?;
    }
    visitor.attribute(ns, &input_text(tag.input, local.into_inner()), value);
    Ok(())
}

/// Text or an attribute value, `raw` as the reader cut it from `input`, with its references
/// replaced: what the reader's own unescaping answers, refusals included, without checking
/// again that a slice of `input` is UTF-8 (the reader would decode it first).
fn unescaped<'i>(input: &'i str, raw: &'i [u8], position: u64) -> Result<Cow<'i, str>, XmlError> {
    let malformed = |e: quick_xml::Error| XmlError::Malformed {
        position,
        reason: e.to_string(),
    };
    match input_text(input, raw) {
        Cow::Borrowed(text) => quick_xml::escape::unescape(text).map_err(|e| malformed(e.into())),
        // Not a slice of `input` (the reader never answers so): decoded strictly, as it would.
        Cow::Owned(_) => {
            let text = std::str::from_utf8(raw)
                .map_err(|e| malformed(quick_xml::encoding::EncodingError::from(e).into()))?;
            quick_xml::escape::unescape(text)
                .map(|unescaped| Cow::Owned(unescaped.into_owned()))
                .map_err(|e| malformed(e.into()))
        }
    }
}

/// The namespace URIs met so far in a document, as text. Why: the reader keeps a copy of
/// each declaration's URI, so the URI of every element and attribute would be checked as
/// UTF-8 again where it is used (a document repeats a few URIs at nearly every element); here
/// it is compared with the few already checked instead. A URI of [`WELL_KNOWN`] is kept as
/// that constant, not copied: the collector reads every event of every batch (one or two
/// URIs each), and the copy and its list were allocations of every event. Bounded: past
/// [`Namespaces::KEPT`] URIs the last is replaced, and what is kept is at most the input's
/// size (each URI kept is a different declaration of it).
#[derive(Default)]
struct Namespaces {
    known: [Cow<'static, str>; Namespaces::KEPT],
    len: usize,
}

/// The namespaces of WS-Management's messages and of Windows events: nearly every URI a
/// document declares.
const WELL_KNOWN: [&str; 10] = [
    crate::ns::SOAP,
    crate::ns::ADDRESSING,
    crate::ns::WSMAN,
    crate::ns::MS_WSMAN,
    crate::ns::EVENTING,
    crate::ns::ENUMERATION,
    crate::ns::TRANSFER,
    crate::ns::EVENT,
    crate::ns::MACHINE_ID,
    crate::ns::SUBSCRIPTION,
];

impl Namespaces {
    /// URIs kept at most.
    const KEPT: usize = 8;

    /// `uri` (bytes the reader copied from a declaration) as text.
    fn text(&mut self, uri: &[u8]) -> &str {
        let index = match self.known[..self.len]
            .iter()
            .position(|k| k.as_bytes() == uri)
        {
            Some(index) => index,
            None => {
                let text = match WELL_KNOWN.iter().find(|k| k.as_bytes() == uri) {
                    Some(known) => Cow::Borrowed(*known),
                    None => Cow::Owned(utf8_text(uri).into_owned()),
                };
                let index = self.len.min(Self::KEPT - 1);
                self.known[index] = text;
                self.len = index + 1;
                index
            }
        };
        &self.known[index]
    }
}

/// Refuse the characters XML 1.0 (production 2, `Char`) does not allow: C0 controls other
/// than tab, line feed and carriage return, and U+FFFE/U+FFFF (`&str` rules out surrogates).
///
/// Every request body passes here once, so the common case is made cheap: a block of bytes
/// with no control byte and no 0xEF (the lead byte of U+FFFE/U+FFFF) holds nothing to refuse,
/// and that test runs on a whole block at a time (it vectorises). Only a block that fails it
/// (tabs and line breaks of indented XML, say) is looked at byte by byte.
pub fn check_chars(text: &str) -> Result<(), XmlError> {
    const BLOCK: usize = 32;
    let bytes = text.as_bytes();
    let mut blocks = bytes.chunks_exact(BLOCK);
    let mut start = 0;
    for block in &mut blocks {
        let clean = block
            .iter()
            .fold(true, |clean, &b| clean & (b >= 0x20) & (b != 0xEF));
        if !clean {
            check_chars_between(text, start, start + BLOCK)?;
        }
        start += BLOCK;
    }
    check_chars_between(text, start, start + blocks.remainder().len())
}

/// The byte-by-byte check of `text[from..to]`; a sequence starting in the range is read
/// whole even when it ends past `to`.
fn check_chars_between(text: &str, from: usize, to: usize) -> Result<(), XmlError> {
    let bytes = text.as_bytes();
    for i in from..to.min(bytes.len()) {
        if forbidden_at(bytes, i).is_some() {
            let code = text[i..]
                .chars()
                .next()
                .map_or(u32::from(bytes[i]), u32::from);
            return Err(XmlError::ForbiddenCharacter { code });
        }
    }
    Ok(())
}

fn resolved_ns<'s>(
    res: ResolveResult<'_>,
    namespaces: &'s mut Namespaces,
) -> Result<Option<&'s str>, XmlError> {
    match res {
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Bound(n) => Ok(Some(namespaces.text(n.into_inner()))),
        ResolveResult::Unknown(p) => Err(XmlError::UnboundPrefix {
            prefix: String::from_utf8_lossy(&p).into_owned(),
        }),
    }
}

/// Names and namespace URIs as text. They are slices of a `&str` cut at ASCII delimiters, so
/// the strict (fast, vectorised) UTF-8 check always passes; the lossy conversion is kept only
/// as the fallback it always was.
fn utf8_text(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// [`utf8_text`] for a slice the reader borrowed from `input` (names, CDATA): found by its
/// position, it is already known to be UTF-8 and needs no second validation. A slice from
/// anywhere else takes the checked path.
fn input_text<'i>(input: &'i str, bytes: &'i [u8]) -> Cow<'i, str> {
    let offset = bytes.as_ptr().addr().wrapping_sub(input.as_ptr().addr());
    match offset
        .checked_add(bytes.len())
        .and_then(|end| input.get(offset..end))
    {
        Some(text) => Cow::Borrowed(text),
        None => utf8_text(bytes),
    }
}

#[cfg(test)]
mod tests;
