//! One pass over an Enumerate or Pull response that keeps its items in a flat arena instead of
//! an `Element` tree per item: a caller that only prints the items (`winrm enumerate`) then
//! allocates nothing per item once the arena has grown to a page's size, where the tree costs
//! several allocations per property. Anything the reader does not recognise (a fault, another
//! body, a RelatesTo that does not match) is left to the general reader, which reports it.

use std::ops::Range;

use crate::ns;
use crate::xml::{self, Element, Limits};
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

/// No node (the end of a sibling list, no child).
const NONE: u32 = u32::MAX;

/// The parts of the envelope that may appear once, and whether each has been read.
#[derive(Default)]
struct Seen {
    header: bool,
    body: bool,
    response: bool,
    context: bool,
    /// `w:Items` and `n:Items`.
    items_w: bool,
    items_n: bool,
}

/// One item of an enumeration read page by page (the client's `enumerate_each`): from a page
/// read in one pass, or an element of a response read the general way.
#[derive(Clone, Copy, Debug)]
pub enum EnumeratedItem<'a> {
    Flat(FlatElement<'a>),
    Tree(&'a Element),
}

/// What an open element of the envelope is.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Role {
    Document,
    Envelope,
    Header,
    Body,
    Response,
    RelatesTo,
    Context,
    WsmanItems,
    EnumerationItems,
    /// An item or an element inside one.
    Item,
    Other,
}

/// An open element: its role and, inside an item, its node and last child so far.
struct Open {
    role: Role,
    node: u32,
    last_child: u32,
}

/// One element of a page: its name, namespace and text are ranges of [`FlatPage`]'s text.
#[derive(Clone, Debug)]
struct FlatNode {
    name: Range<u32>,
    /// Index into [`FlatPage::namespaces`], or [`NONE`] for no namespace.
    ns: u32,
    /// The concatenated character data of the element's own text (meaningful for leaves,
    /// whose text is all in one run).
    text: Range<u32>,
    /// Unqualified attributes: a range of [`FlatPage::attributes`].
    attributes: Range<u32>,
    /// `xsi:nil="true"`.
    nil: bool,
    first_child: u32,
    next_sibling: u32,
}

/// The items of one response, read in one pass (see the module documentation).
#[derive(Debug, Default)]
pub struct FlatPage {
    text: String,
    nodes: Vec<FlatNode>,
    /// (name, value) ranges of unqualified attributes.
    attributes: Vec<(Range<u32>, Range<u32>)>,
    namespaces: Vec<String>,
    items: Vec<u32>,
    /// The `n:EnumerationContext` (non-empty), as the tree reader reads it.
    pub context: Option<String>,
    /// `EndOfSequence` (in either namespace) was in the response.
    pub end: bool,
}

/// One item (or any element under it) of a [`FlatPage`].
#[derive(Clone, Copy, Debug)]
pub struct FlatElement<'a> {
    page: &'a FlatPage,
    index: u32,
}

impl<'a> FlatElement<'a> {
    fn node(self) -> &'a FlatNode {
        &self.page.nodes[self.index as usize]
    }

    fn slice(self, range: &Range<u32>) -> &'a str {
        &self.page.text[range.start as usize..range.end as usize]
    }

    /// The local name.
    pub fn name(self) -> &'a str {
        self.slice(&self.node().name)
    }

    /// The namespace URI.
    pub fn ns(self) -> Option<&'a str> {
        let ns = self.node().ns;
        (ns != NONE).then(|| self.page.namespaces[ns as usize].as_str())
    }

    /// The child elements, in document order.
    pub fn elements(self) -> impl Iterator<Item = FlatElement<'a>> {
        let page = self.page;
        let mut next = self.node().first_child;
        std::iter::from_fn(move || {
            (next != NONE).then(|| {
                let e = FlatElement { page, index: next };
                next = e.node().next_sibling;
                e
            })
        })
    }

    /// Whether the element has child elements.
    pub fn has_elements(self) -> bool {
        self.node().first_child != NONE
    }

    /// The element's own character data (of a leaf: all of it).
    pub fn text(self) -> &'a str {
        self.slice(&self.node().text)
    }

    /// `xsi:nil="true"` (or `"1"`).
    pub fn is_nil(self) -> bool {
        self.node().nil
    }

    /// The value of the unqualified attribute `name`.
    pub fn attr(self, name: &str) -> Option<&'a str> {
        let range = &self.node().attributes;
        self.page.attributes[range.start as usize..range.end as usize]
            .iter()
            .find(|(n, _)| self.slice(n) == name)
            .map(|(_, v)| self.slice(v))
    }
}

impl FlatPage {
    /// The items, in order.
    pub fn items(&self) -> impl Iterator<Item = FlatElement<'_>> {
        self.items
            .iter()
            .map(move |&index| FlatElement { page: self, index })
    }

    /// How many items the page has.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the page has no items.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn clear(&mut self) {
        self.text.clear();
        self.nodes.clear();
        self.attributes.clear();
        self.namespaces.clear();
        self.items.clear();
        self.context = None;
        self.end = false;
    }

    fn push_text(&mut self, text: &str) -> Result<Range<u32>, ()> {
        let start = u32::try_from(self.text.len()).map_err(|_| ())?;
        self.text.push_str(text);
        let end = u32::try_from(self.text.len()).map_err(|_| ())?;
        Ok(start..end)
    }

    fn intern(&mut self, uri: &[u8]) -> Result<u32, ()> {
        let uri = std::str::from_utf8(uri).map_err(|_| ())?;
        if let Some(i) = self.namespaces.iter().position(|n| n == uri) {
            return Ok(i as u32);
        }
        self.namespaces.push(uri.to_owned());
        u32::try_from(self.namespaces.len() - 1).map_err(|_| ())
    }

    /// Read `envelope` (UTF-8) into this page (its buffers reused): `Some(())` when it is an
    /// `n:EnumerateResponse` (`pull` false) or `n:PullResponse` (`pull` true) whose RelatesTo
    /// is `relates_to`, read whole within [`Limits::default`]; `None` for anything else, which
    /// the caller reads the general way.
    pub fn read(&mut self, envelope: &str, relates_to: &str, pull: bool) -> Option<()> {
        self.clear();
        let read = self.read_envelope(envelope, relates_to, pull);
        if read.is_err() {
            self.clear();
        }
        read.ok()
    }

    fn read_envelope(&mut self, envelope: &str, relates_to: &str, pull: bool) -> Result<(), ()> {
        let limits = Limits::default();
        xml::check_chars(envelope).map_err(|_| ())?;
        let mut reader = NsReader::from_str(envelope);
        reader.config_mut().trim_text(false);
        reader.config_mut().check_end_names = true;
        // Per open element: what it is, and inside an item its node and its last child.
        let mut open: Vec<Open> = Vec::with_capacity(16);
        let mut declared: Vec<usize> = Vec::with_capacity(16);
        let mut in_scope = 0usize;
        let mut count = 0usize;
        let mut root_done = false;
        let mut seen = Seen::default();
        let mut related: Option<String> = None;
        let mut capture = String::new();
        let mut ns_buf: Vec<u8> = Vec::new();
        let (mut items_w, mut items_n) = (Vec::new(), Vec::new());
        loop {
            let (resolved, event) = reader.read_resolved_event().map_err(|_| ())?;
            let (start, empty) = match event {
                Event::Start(s) => (s, false),
                Event::Empty(s) => (s, true),
                Event::End(_) => {
                    in_scope -= declared.pop().unwrap_or(0);
                    let closed = open.pop().ok_or(())?;
                    self.close(closed.role, &mut capture, &mut related);
                    root_done = open.is_empty();
                    continue;
                }
                Event::Text(t) => {
                    let text = t.unescape().map_err(|_| ())?;
                    if let std::borrow::Cow::Owned(unescaped) = &text {
                        xml::check_chars(unescaped).map_err(|_| ())?;
                    }
                    self.text_event(&text, open.last(), &mut capture)?;
                    continue;
                }
                Event::CData(c) => {
                    let text = std::str::from_utf8(&c).map_err(|_| ())?;
                    self.text_event(text, open.last(), &mut capture)?;
                    continue;
                }
                Event::DocType(_) => return Err(()),
                Event::Eof => break,
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => continue,
            };
            count += 1;
            if count > limits.max_elements || open.len() >= limits.max_depth || root_done {
                return Err(());
            }
            let declarations = declarations_within_limits(&start, in_scope, &limits)?;
            // Copied out: the resolution borrows the reader, which the attributes need next.
            let element_ns = copy_namespace(resolved, &mut ns_buf)?;
            let local = std::str::from_utf8(start.local_name().into_inner()).map_err(|_| ())?;
            let is = |want: &str, name: &str| element_ns == Some(want.as_bytes()) && local == name;
            let parent = open.last().map_or(Role::Document, |o| o.role);
            let mut node = NONE;
            let role = match parent {
                Role::WsmanItems | Role::EnumerationItems | Role::Item => {
                    node = self.node_for(&start, &reader, element_ns, local)?;
                    match parent {
                        Role::WsmanItems => items_w.push(node),
                        Role::EnumerationItems => items_n.push(node),
                        _ => self.append_child(open.last_mut().ok_or(())?, node),
                    }
                    Role::Item
                }
                _ => {
                    let relating = related.is_none();
                    self.envelope_role(parent, &is, pull, relating, &mut seen, &mut capture)?
                }
            };
            if node == NONE {
                check_attributes(&start, &reader)?;
            }
            if empty {
                match role {
                    Role::RelatesTo => related = Some(String::new()),
                    Role::Envelope => root_done = true,
                    _ => {}
                }
                continue;
            }
            in_scope += declarations;
            declared.push(declarations);
            open.push(Open {
                role,
                node,
                last_child: NONE,
            });
        }
        let complete = open.is_empty() && seen.response;
        self.finish_envelope(
            complete,
            related.as_deref(),
            relates_to,
            pull,
            items_w,
            items_n,
        )
    }

    /// After the last event: a page only when the envelope closed with its response read and
    /// its RelatesTo the request's. The items kept are WS-Man's in an Enumerate answer that
    /// has them, else enumeration's; a Pull without a context is the last page. A step of
    /// [`Self::read_envelope`].
    fn finish_envelope(
        &mut self,
        complete: bool,
        related: Option<&str>,
        relates_to: &str,
        pull: bool,
        items_w: Vec<u32>,
        items_n: Vec<u32>,
    ) -> Result<(), ()> {
        if !complete || related.map(trim) != Some(relates_to) {
            return Err(());
        }
        self.items = match (pull, items_w.is_empty()) {
            (false, false) => items_w,
            _ => items_n,
        };
        if pull && self.context.is_none() {
            self.end = true;
        }
        Ok(())
    }

    /// The role of an element outside the items, from its parent's (`is` tells its name):
    /// each part of the envelope once and in its place, the text of `a:RelatesTo` (while none
    /// was read: `relating`) and `n:EnumerationContext` captured, `EndOfSequence` noted. A
    /// fault or another answer in the Body is an error: the general reader reports it. A step
    /// of [`Self::read_envelope`].
    #[inline(always)]
    fn envelope_role(
        &mut self,
        parent: Role,
        is: &impl Fn(&str, &str) -> bool,
        pull: bool,
        relating: bool,
        seen: &mut Seen,
        capture: &mut String,
    ) -> Result<Role, ()> {
        Ok(match parent {
            Role::Document if is(ns::SOAP, "Envelope") => Role::Envelope,
            Role::Document => return Err(()),
            Role::Envelope if is(ns::SOAP, "Header") && !seen.header => {
                first(&mut seen.header, Role::Header)
            }
            Role::Envelope if is(ns::SOAP, "Body") && !seen.body => {
                first(&mut seen.body, Role::Body)
            }
            Role::Header if is(ns::ADDRESSING, "RelatesTo") && relating => {
                capture.clear();
                Role::RelatesTo
            }
            Role::Body if !seen.response => {
                seen.response = true;
                if !is(ns::ENUMERATION, response_name(pull)) {
                    return Err(());
                }
                Role::Response
            }
            Role::Response if is(ns::ENUMERATION, "EnumerationContext") && !seen.context => {
                seen.context = true;
                capture.clear();
                Role::Context
            }
            Role::Response if is(ns::WSMAN, "Items") && !seen.items_w => {
                first(&mut seen.items_w, Role::WsmanItems)
            }
            Role::Response if is(ns::ENUMERATION, "Items") && !seen.items_n => {
                first(&mut seen.items_n, Role::EnumerationItems)
            }
            Role::Response => {
                if is(ns::WSMAN, "EndOfSequence") || is(ns::ENUMERATION, "EndOfSequence") {
                    self.end = true;
                }
                Role::Other
            }
            _ => Role::Other,
        })
    }

    /// The end of an element whose text was captured: `a:RelatesTo` kept for the check at the
    /// end, `n:EnumerationContext` stored. A step of [`Self::read_envelope`].
    #[inline(always)]
    fn close(&mut self, role: Role, capture: &mut String, related: &mut Option<String>) {
        match role {
            Role::RelatesTo => *related = Some(std::mem::take(capture)),
            Role::Context => {
                let context = trim(capture);
                self.context = (!context.is_empty()).then(|| context.to_owned());
            }
            _ => {}
        }
    }

    /// `node` linked as the last child of the open item `up`. A step of
    /// [`Self::read_envelope`], inlined into its loop.
    #[inline(always)]
    fn append_child(&mut self, up: &mut Open, node: u32) {
        match up.last_child {
            NONE => self.nodes[up.node as usize].first_child = node,
            last => self.nodes[last as usize].next_sibling = node,
        }
        up.last_child = node;
    }

    fn text_event(
        &mut self,
        text: &str,
        innermost: Option<&Open>,
        capture: &mut String,
    ) -> Result<(), ()> {
        let Some(open) = innermost else {
            // Whitespace around the root is fine; anything else is not a document.
            return if text.trim().is_empty() {
                Ok(())
            } else {
                Err(())
            };
        };
        match open.role {
            Role::RelatesTo | Role::Context => capture.push_str(text),
            // A leaf's text is one run (nothing else is added to the page text until its end);
            // an element with children keeps none, as it is never printed.
            Role::Item if self.nodes[open.node as usize].first_child == NONE => {
                let end = self.push_text(text)?.end;
                self.nodes[open.node as usize].text.end = end;
            }
            _ => {}
        }
        Ok(())
    }

    fn node_for(
        &mut self,
        start: &quick_xml::events::BytesStart<'_>,
        reader: &NsReader<&[u8]>,
        ns: Option<&[u8]>,
        local: &str,
    ) -> Result<u32, ()> {
        let ns = match ns {
            Some(uri) => self.intern(uri)?,
            None => NONE,
        };
        let name = self.push_text(local)?;
        let first_attribute = u32::try_from(self.attributes.len()).map_err(|_| ())?;
        let mut nil = false;
        for attr in start.attributes().with_checks(true) {
            let attr = attr.map_err(|_| ())?;
            if attr.key.as_namespace_binding().is_some() {
                continue;
            }
            let (res, attr_local) = reader.resolve_attribute(attr.key);
            let value = attr.unescape_value().map_err(|_| ())?;
            if let std::borrow::Cow::Owned(unescaped) = &value {
                xml::check_chars(unescaped).map_err(|_| ())?;
            }
            match res {
                ResolveResult::Unbound => {
                    let attr_name = std::str::from_utf8(attr_local.into_inner()).map_err(|_| ())?;
                    let attr_name = self.push_text(attr_name)?;
                    let value = self.push_text(&value)?;
                    self.attributes.push((attr_name, value));
                }
                ResolveResult::Bound(n) => {
                    if n.as_ref() == ns::XSI.as_bytes()
                        && attr_local.as_ref() == b"nil"
                        && (value.eq_ignore_ascii_case("true") || value == "1")
                    {
                        nil = true;
                    }
                }
                ResolveResult::Unknown(p) if p == b"xml" => {}
                ResolveResult::Unknown(_) => return Err(()),
            }
        }
        let attributes = first_attribute..u32::try_from(self.attributes.len()).map_err(|_| ())?;
        let text_start = u32::try_from(self.text.len()).map_err(|_| ())?;
        let index = u32::try_from(self.nodes.len()).map_err(|_| ())?;
        self.nodes.push(FlatNode {
            name,
            ns,
            text: text_start..text_start,
            attributes,
            nil,
            first_child: NONE,
            next_sibling: NONE,
        });
        Ok(index)
    }
}

/// The body's one element: `n:PullResponse` or `n:EnumerateResponse`.
fn response_name(pull: bool) -> &'static str {
    if pull {
        "PullResponse"
    } else {
        "EnumerateResponse"
    }
}

/// The namespace declarations among an element's attributes, refused (`Err`) past the
/// attribute or in-scope namespace limits. A step of [`FlatPage::read`], inlined into its loop.
#[inline(always)]
fn declarations_within_limits(
    start: &quick_xml::events::BytesStart<'_>,
    in_scope: usize,
    limits: &Limits,
) -> Result<usize, ()> {
    let mut attribute_count = 0usize;
    let mut declarations = 0usize;
    for attr in start.attributes().with_checks(false) {
        let attr = attr.map_err(|_| ())?;
        attribute_count += 1;
        if attr.key.as_namespace_binding().is_some() {
            declarations += 1;
        }
    }
    if attribute_count > limits.max_attributes
        || in_scope + declarations > limits.max_namespaces_in_scope
    {
        return Err(());
    }
    Ok(declarations)
}

/// The element's namespace copied into `buffer` (the resolution borrows the reader, which
/// the attributes need next); `None` when unbound, `Err` for an undeclared prefix.
#[inline(always)]
fn copy_namespace<'b>(
    resolved: ResolveResult<'_>,
    buffer: &'b mut Vec<u8>,
) -> Result<Option<&'b [u8]>, ()> {
    match resolved {
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Bound(n) => {
            buffer.clear();
            buffer.extend_from_slice(n.into_inner());
            Ok(Some(buffer.as_slice()))
        }
        ResolveResult::Unknown(_) => Err(()),
    }
}

/// The checks the tree parser makes of the attributes of an element this reader keeps
/// nothing of: no duplicates, bound prefixes, valid escapes and characters.
fn check_attributes(
    start: &quick_xml::events::BytesStart<'_>,
    reader: &NsReader<&[u8]>,
) -> Result<(), ()> {
    for attr in start.attributes().with_checks(true) {
        let attr = attr.map_err(|_| ())?;
        if attr.key.as_namespace_binding().is_some() {
            continue;
        }
        if let (ResolveResult::Unknown(p), _) = reader.resolve_attribute(attr.key) {
            if p != b"xml" {
                return Err(());
            }
        }
        let value = attr.unescape_value().map_err(|_| ())?;
        if let std::borrow::Cow::Owned(unescaped) = &value {
            xml::check_chars(unescaped).map_err(|_| ())?;
        }
    }
    Ok(())
}

fn trim(text: &str) -> &str {
    text.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

/// `role`, noting in `seen` that the envelope part it stands for was read (each stands once).
#[inline(always)]
fn first(seen: &mut bool, role: Role) -> Role {
    *seen = true;
    role
}
