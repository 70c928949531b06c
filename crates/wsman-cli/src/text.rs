//! Windows' text output of an answer (`winrm get`, `enumerate`, `invoke` without `-format`):
//! one renderer over the tree and over items read in one pass.

use std::borrow::Cow;
use std::fmt::Write as _;

use wsman_client::{EnumeratedItem, FlatElement};
use wsman_proto::ns;
use wsman_proto::xml::Element;

const INDENT: &str = "    ";

/// What Windows' text output reads of an element, for the tree (`&Element`) and for an
/// item read in one pass ([`FlatElement`]): one renderer over both, so they print alike.
pub trait TextElement<'a>: Copy {
    /// The local name.
    fn name(self) -> &'a str;
    /// Same local name and namespace.
    fn same_kind(self, other: Self) -> bool;
    /// The child elements, in order.
    fn children(self) -> Vec<Self>;
    /// Whether there are child elements.
    fn has_children(self) -> bool;
    /// `null` for `xsi:nil`, else the text without surrounding XML whitespace.
    fn leaf_value(self) -> Cow<'a, str>;
    /// An unqualified attribute.
    fn attr(self, name: &str) -> Option<&'a str>;
}

impl<'a> TextElement<'a> for &'a Element {
    fn name(self) -> &'a str {
        &self.name
    }
    fn same_kind(self, other: Self) -> bool {
        self.name == other.name && self.ns == other.ns
    }
    fn children(self) -> Vec<Self> {
        self.elements().collect()
    }
    fn has_children(self) -> bool {
        self.elements().next().is_some()
    }
    fn leaf_value(self) -> Cow<'a, str> {
        let nil = self
            .attr_ns(ns::XSI, "nil")
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
        if nil {
            Cow::Borrowed("null")
        } else {
            Cow::Owned(self.trimmed_text())
        }
    }
    fn attr(self, name: &str) -> Option<&'a str> {
        Element::attr(self, name)
    }
}

impl<'a> TextElement<'a> for FlatElement<'a> {
    fn name(self) -> &'a str {
        FlatElement::name(self)
    }
    fn same_kind(self, other: Self) -> bool {
        self.name() == other.name() && self.ns() == other.ns()
    }
    fn children(self) -> Vec<Self> {
        self.elements().collect()
    }
    fn has_children(self) -> bool {
        self.has_elements()
    }
    fn leaf_value(self) -> Cow<'a, str> {
        if self.is_nil() {
            Cow::Borrowed("null")
        } else {
            Cow::Borrowed(
                self.text()
                    .trim_matches(|c: char| matches!(c, ' ' | '\t' | '\r' | '\n')),
            )
        }
    }
    fn attr(self, name: &str) -> Option<&'a str> {
        FlatElement::attr(self, name)
    }
}

/// `[Source="GPO"]` and the like: the attribute Windows prints after a value.
fn suffix<'a>(e: impl TextElement<'a>) -> String {
    match e.attr("Source") {
        Some(s) => format!(" [Source=\"{s}\"]"),
        None => String::new(),
    }
}

/// Render an element as Windows' text output: the element name as a header, children
/// indented by four spaces, leaves as `Key = value`, repeated leaves joined by commas.
pub fn windows_text(e: &Element) -> String {
    let mut out = String::new();
    render_text(e, 0, &mut out);
    out
}

/// [`windows_text`] of an enumerated item (read in one pass or as a tree), appended to `out`.
pub fn windows_text_of_item(item: EnumeratedItem<'_>, out: &mut String) {
    match item {
        EnumeratedItem::Flat(e) => render_text(e, 0, out),
        EnumeratedItem::Tree(e) => render_text(e, 0, out),
    }
}

fn render_text<'a>(e: impl TextElement<'a>, depth: usize, out: &mut String) {
    let pad = INDENT.repeat(depth);
    if !e.has_children() {
        let v = e.leaf_value();
        if v.is_empty() {
            let _ = writeln!(out, "{pad}{}{}", e.name(), suffix(e));
        } else {
            let _ = writeln!(out, "{pad}{} = {v}{}", e.name(), suffix(e));
        }
        return;
    }
    let _ = writeln!(out, "{pad}{}{}", e.name(), suffix(e));
    let children = e.children();
    let mut done = vec![false; children.len()];
    let child_pad = INDENT.repeat(depth + 1);
    for i in 0..children.len() {
        if done[i] {
            continue;
        }
        let c = children[i];
        if c.has_children() {
            render_text(c, depth + 1, out);
            continue;
        }
        // Leaves with the same name are printed once, values joined (ListeningOn, selectors).
        let same: Vec<usize> = (i..children.len())
            .filter(|&j| !done[j] && !children[j].has_children() && children[j].same_kind(c))
            .collect();
        for &j in &same {
            done[j] = true;
        }
        if c.name() == "Selector" && c.attr("Name").is_some() {
            let parts: Vec<String> = same
                .iter()
                .map(|&j| {
                    let s = children[j];
                    format!("{} = {}", s.attr("Name").unwrap_or(""), s.leaf_value())
                })
                .collect();
            let _ = writeln!(out, "{child_pad}Selector: {}", parts.join(", "));
        } else if same.len() == 1 {
            render_text(c, depth + 1, out);
        } else {
            let values: Vec<Cow<'_, str>> = same
                .iter()
                .map(|&j| children[j].leaf_value())
                .filter(|v| !v.is_empty())
                .collect();
            let sfx = suffix(c);
            if values.is_empty() {
                let _ = writeln!(out, "{child_pad}{}{sfx}", c.name());
            } else {
                let _ = writeln!(out, "{child_pad}{} = {}{sfx}", c.name(), values.join(", "));
            }
        }
    }
}
