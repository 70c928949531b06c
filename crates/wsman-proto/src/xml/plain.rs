//! A reader of plain XML only: the shape nearly every WS-Management envelope and forwarded
//! Windows event has (elements and attributes with or without a prefix, namespaces declared by
//! `xmlns` and `xmlns:p`, text and CDATA; no comments, processing instructions, declarations or
//! DOCTYPE, attribute values quoted with no `<` or `>`, end tags written `</name>`), read
//! without quick-xml's reader.
//!
//! Why: the collector reads every event of every batch, each a document of its own, and
//! quick-xml's reader (a new one and its namespace table per document, which it cannot reset for
//! a new input) cost about 30,000 instructions a 600-byte event. This pass walks the bytes once
//! and keeps its state on the stack.
//!
//! It answers only for documents it can read whole: whatever is outside the plain shape, or
//! malformed, or past a limit (or past this pass's own smaller bounds: 32 open elements, 16
//! attributes on a tag, 16 declarations in scope), makes it give up (`false`), and the caller
//! reads the document again with [`super::scan`] and a fresh visitor, which gives the refusal,
//! its position and its order. So it never refuses anything itself, and what it accepts the
//! full pass accepts with the same reports to the visitor, in the same order (the property
//! tests and the `xml` fuzz target compare the two).

use std::borrow::Cow;

use super::{check_chars, unescaped, Limits, Visitor, XML_NS};

/// Elements open at once at most (deeper documents give up; an event nests about four).
const OPEN: usize = 32;
/// Attributes of one tag at most (more give up).
const ATTRIBUTES: usize = 16;
/// Namespace declarations in scope at most (more give up).
const BINDINGS: usize = 16;

/// The namespace the `xmlns` prefix is bound to.
const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// Read `input` whole as [`super::scan`] would, reporting it to `visitor`, when it is plain
/// XML within `limits`: `true`, and the visitor has seen what `scan` would have reported.
/// `false`: the document is not plain (or not well-formed, or past a limit); the visitor has
/// seen part of it, and the caller reads it again with `scan` and a fresh visitor.
pub fn scan_plain(input: &str, limits: &Limits, visitor: &mut impl Visitor) -> bool {
    check_chars(input).is_ok() && Plain::new(input).read(limits, visitor).is_some()
}

/// The pass's state: the open elements' names and the declarations in scope.
struct Plain<'a> {
    input: &'a str,
    names: [&'a str; OPEN],
    /// How many of `bindings` each open element declared.
    declared: [u8; OPEN],
    /// (prefix, URI) in scope, innermost last; the default namespace's prefix is empty.
    bindings: [(&'a str, &'a str); BINDINGS],
    bound: usize,
    depth: usize,
}

/// A start tag's attributes: (prefix, local name, raw value), declarations included.
type Attributes<'a> = [(&'a str, &'a str, &'a str); ATTRIBUTES];

impl<'a> Plain<'a> {
    fn new(input: &'a str) -> Self {
        Self {
            input,
            names: [""; OPEN],
            declared: [0; OPEN],
            bindings: [("", ""); BINDINGS],
            bound: 0,
            depth: 0,
        }
    }

    /// The whole document, or `None` where it is not plain.
    fn read(&mut self, limits: &Limits, visitor: &mut impl Visitor) -> Option<()> {
        let input = self.input;
        let bytes = input.as_bytes();
        let mut elements = 0usize;
        let mut root_done = false;
        let mut at = 0usize;
        while at < bytes.len() {
            if bytes[at] != b'<' {
                let end = find_byte(bytes, at, b'<').unwrap_or(bytes.len());
                let raw = &input[at..end];
                if self.depth == 0 {
                    if !raw.bytes().all(is_space) {
                        return None;
                    }
                } else {
                    visitor.text(text(input, raw)?);
                }
                at = end;
                continue;
            }
            match bytes.get(at + 1)? {
                b'/' => {
                    at = self.end_tag(at + 2)?;
                    visitor.end();
                    root_done |= self.depth == 0;
                }
                b'!' if self.depth > 0 && input[at..].starts_with("<![CDATA[") => {
                    let from = at + "<![CDATA[".len();
                    let end = cdata_end(bytes, from)?;
                    visitor.text(Cow::Borrowed(&input[from..end]));
                    at = end + "]]>".len();
                }
                _ => {
                    if root_done || self.depth >= OPEN || self.depth >= limits.max_depth {
                        return None;
                    }
                    elements += 1;
                    if elements > limits.max_elements {
                        return None;
                    }
                    let empty;
                    (at, empty) = self.start_tag(at + 1, limits, visitor)?;
                    root_done |= empty && self.depth == 0;
                }
            }
        }
        (self.depth == 0 && root_done).then_some(())
    }

    /// `</name>` exactly (from after its `</`), closing the innermost element: the index after it.
    #[inline]
    fn end_tag(&mut self, from: usize) -> Option<usize> {
        let open = self.depth.checked_sub(1)?;
        let name = self.names[open];
        let after = from + name.len();
        if !self.input[from..].starts_with(name) || self.input.as_bytes().get(after) != Some(&b'>')
        {
            return None;
        }
        self.bound -= usize::from(self.declared[open]);
        self.depth = open;
        Some(after + 1)
    }

    /// The start tag whose name begins at `from` (after its `<`): its declarations bound, its
    /// attributes and then itself reported; the index after it and whether it is empty.
    fn start_tag(
        &mut self,
        from: usize,
        limits: &Limits,
        visitor: &mut impl Visitor,
    ) -> Option<(usize, bool)> {
        let input = self.input;
        let bytes = input.as_bytes();
        let (prefix, name, mut at) = qname(input, from)?;
        let qualified = &input[from..at];
        let mut attributes: Attributes<'a> = [("", "", ""); ATTRIBUTES];
        let mut count = 0usize;
        let empty = loop {
            let spaced = at;
            while bytes.get(at).copied().is_some_and(is_space) {
                at += 1;
            }
            match bytes.get(at)? {
                b'>' => break false,
                b'/' if bytes.get(at + 1) == Some(&b'>') => {
                    at += 1;
                    break true;
                }
                _ if at == spaced => return None,
                _ => {}
            }
            let (key_prefix, key, key_end) = qname(input, at)?;
            let quote = *bytes.get(key_end + 1)?;
            if bytes.get(key_end) != Some(&b'=') || !(quote == b'\'' || quote == b'"') {
                return None;
            }
            let value_start = key_end + 2;
            // The value ends at its quote; a `<` or `>` in it is not plain.
            let value_len = bytes[value_start..]
                .iter()
                .position(|&b| b == quote || b == b'<' || b == b'>')?;
            let value = &input[value_start..value_start + value_len];
            if bytes[value_start + value_len] != quote
                || count == ATTRIBUTES
                || count >= limits.max_attributes
                || attributes[..count]
                    .iter()
                    .any(|(p, k, _)| *p == key_prefix && *k == key)
            {
                return None;
            }
            attributes[count] = (key_prefix, key, value);
            count += 1;
            at = value_start + value_len + 1;
        };
        // Most tags have no attribute: nothing to declare or report then.
        let declared = if count == 0 {
            0
        } else {
            self.declare(&attributes[..count], limits)?
        };
        for &(key_prefix, key, value) in &attributes[..count] {
            if !is_declaration(key_prefix, key) {
                let ns = match key_prefix {
                    "" => None,
                    "xml" => Some(XML_NS),
                    _ => Some(self.resolve(key_prefix)?),
                };
                visitor.attribute(ns, key, text(input, value)?);
            }
        }
        let ns = match (prefix, self.resolve(prefix)) {
            (_, Some(uri)) => Some(uri),
            ("", None) => None,
            _ => return None,
        };
        visitor.start(ns, name, (!prefix.is_empty()).then_some(prefix), empty);
        if empty {
            self.bound -= declared;
        } else {
            self.names[self.depth] = qualified;
            self.declared[self.depth] = u8::try_from(declared).ok()?;
            self.depth += 1;
        }
        Some((at + 1, empty))
    }

    /// Binds a tag's declarations (plain ones only: a URI not empty, with no reference, not
    /// the `xml` or `xmlns` namespace, a prefix not starting with `xml`): how many.
    fn declare(
        &mut self,
        attributes: &[(&'a str, &'a str, &'a str)],
        limits: &Limits,
    ) -> Option<usize> {
        let mut declared = 0usize;
        for &(key_prefix, key, uri) in attributes {
            if !is_declaration(key_prefix, key) {
                continue;
            }
            let prefix = if key_prefix.is_empty() { "" } else { key };
            if uri.is_empty()
                || uri.contains('&')
                || uri == XML_NS
                || uri == XMLNS_NS
                || prefix
                    .get(..3)
                    .is_some_and(|p| p.eq_ignore_ascii_case("xml"))
                || self.bound == BINDINGS
            {
                return None;
            }
            self.bindings[self.bound] = (prefix, uri);
            self.bound += 1;
            declared += 1;
        }
        // The declarations in scope, this tag's among them, within the limit.
        (self.bound <= limits.max_namespaces_in_scope).then_some(declared)
    }

    /// The URI `prefix` is bound to (the default namespace's for the empty prefix).
    #[inline(always)]
    fn resolve(&self, prefix: &str) -> Option<&'a str> {
        self.bindings[..self.bound]
            .iter()
            .rev()
            .find(|(p, _)| short_eq(p.as_bytes(), prefix.as_bytes()))
            .map(|(_, uri)| *uri)
    }
}

/// Whether two prefixes are equal, compared here. Why not `==`: that calls the C library's
/// `memcmp` for every pair of equal length, the empty prefix of nearly every element
/// included, and those calls were 2 % of the collector's CPU; a prefix is a few bytes.
#[inline(always)]
fn short_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// The first `byte` at or after `from`, eight bytes at a time: a run of text or CDATA is
/// searched at about one instruction a byte, and a short one (most are a few bytes) without
/// a search's set-up.
#[inline(always)]
fn find_byte(bytes: &[u8], from: usize, byte: u8) -> Option<usize> {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let pattern = LOW * u64::from(byte);
    let mut at = from;
    while let Some(chunk) = bytes
        .get(at..at + 8)
        .and_then(|c| <[u8; 8]>::try_from(c).ok())
    {
        // A zero byte where `byte` is; the lowest flag is always a true one (a borrow only
        // flags bytes above a zero).
        let word = u64::from_le_bytes(chunk) ^ pattern;
        let found = word.wrapping_sub(LOW) & !word & HIGH;
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    bytes
        .get(at..)?
        .iter()
        .position(|&b| b == byte)
        .map(|i| at + i)
}

/// Where the `]]>` ending a CDATA section whose content starts at `from` begins.
fn cdata_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let close = find_byte(bytes, at, b'>')?;
        if close >= from + 2 && bytes[close - 2..close] == *b"]]" {
            return Some(close - 2);
        }
        at = close + 1;
    }
}

/// `xmlns` or `xmlns:p`.
#[inline(always)]
fn is_declaration(prefix: &str, key: &str) -> bool {
    (prefix.is_empty() && key == "xmlns") || prefix == "xmlns"
}

/// Text or an attribute value with its references replaced (and what they stand for
/// checked), or `None` where the full pass would refuse it.
#[inline(always)]
fn text<'i>(input: &'i str, raw: &'i str) -> Option<Cow<'i, str>> {
    if !raw.as_bytes().contains(&b'&') {
        return Some(Cow::Borrowed(raw));
    }
    let text = unescaped(input, raw.as_bytes(), 0).ok()?;
    if let Cow::Owned(owned) = &text {
        check_chars(owned).ok()?;
    }
    Some(text)
}

/// A plain qualified name at `from`: (prefix, empty without one; local name; the index after
/// it). Names are ASCII letters, digits, `_`, `-` and `.`, not starting with a digit, `-` or
/// `.`; the prefix is neither `xml` nor `xmlns` for an element, as the caller checks.
#[inline(always)]
fn qname(input: &str, from: usize) -> Option<(&str, &str, usize)> {
    let bytes = input.as_bytes();
    let first_end = name_end(bytes, from)?;
    if bytes.get(first_end) != Some(&b':') {
        return Some(("", &input[from..first_end], first_end));
    }
    let local_end = name_end(bytes, first_end + 1)?;
    Some((
        &input[from..first_end],
        &input[first_end + 1..local_end],
        local_end,
    ))
}

/// The end of a plain name starting at `from`, or `None` when none starts there.
#[inline(always)]
fn name_end(bytes: &[u8], from: usize) -> Option<usize> {
    let first = *bytes.get(from)?;
    if !(first.is_ascii_alphabetic() || first == b'_') {
        return None;
    }
    let len = bytes[from..]
        .iter()
        .position(|&b| !NAME[usize::from(b)])
        .unwrap_or(bytes.len() - from);
    Some(from + len)
}

/// The bytes of a plain name after its first: ASCII letters, digits, `_`, `-` and `.`.
const NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.';
        b += 1;
    }
    table
};

/// XML's whitespace (S): not `is_ascii_whitespace`, which also takes form feed. Both passes
/// use it.
#[inline(always)]
pub(super) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

#[cfg(test)]
mod tests;
