//! WS-Enumeration from the client side: the Enumerate body Windows clients send, Pull and
//! Release bodies, and reading both response shapes (`w:Items` when optimized, `n:Items` in
//! PullResponse).

use std::fmt::Write as _;

use wsman_proto::enumeration::EnumerationMode;
use wsman_proto::ns;
use wsman_proto::xml::{escape_attr, escape_text, Element, Node};

use crate::error::ClientError;

/// Upper bound on Pull round trips for one enumeration (a server that never ends).
pub(crate) const MAX_PULLS: usize = 100_000;

/// Filter dialect URIs `winrm.cmd` knows by short name.
pub mod dialect {
    pub use wsman_proto::enumeration::dialect::{SELECTOR, WQL};
    /// `-dialect:association` as `winrm.vbs` sends it.
    pub const ASSOCIATION: &str = wsman_proto::ns::dialect::ASSOCIATION_CLIENT;
}

/// The content of a `w:Filter`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FilterBody {
    /// Text (WQL, XPath).
    Text(String),
    /// A `w:SelectorSet` (SelectorFilter dialect).
    Selectors(Vec<(String, String)>),
    /// Already-serialised XML (association filters).
    Xml(String),
}

/// A `w:Filter` with its dialect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    /// Dialect URI.
    pub dialect: String,
    /// The filter content.
    pub body: FilterBody,
}

/// Options of an enumeration.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnumerateOptions {
    /// Objects, EPRs, or both.
    pub mode: EnumerationMode,
    /// Optional filter.
    pub filter: Option<Filter>,
    /// Ask for the first items in the EnumerateResponse (Windows clients always do).
    pub optimize: bool,
    /// `w:MaxElements` / `n:MaxElements` per response.
    pub max_elements: u32,
    /// Refuse enumerations with more items than this (memory bound).
    pub max_items: usize,
}

impl Default for EnumerateOptions {
    fn default() -> Self {
        Self {
            mode: EnumerationMode::Object,
            filter: None,
            optimize: true,
            max_elements: 32000,
            max_items: 1_000_000,
        }
    }
}

fn mode_text(mode: EnumerationMode) -> Option<&'static str> {
    match mode {
        EnumerationMode::Object => None,
        EnumerationMode::Epr => Some("EnumerateEPR"),
        EnumerationMode::ObjectAndEpr => Some("EnumerateObjectAndEPR"),
    }
}

/// The `n:Enumerate` body, children in the order a Windows client writes them.
pub fn enumerate_body(options: &EnumerateOptions) -> String {
    let mut out = String::from("<n:Enumerate>");
    if options.optimize {
        let _ = write!(
            out,
            "<w:OptimizeEnumeration/><w:MaxElements>{}</w:MaxElements>",
            options.max_elements
        );
    }
    if let Some(m) = mode_text(options.mode) {
        let _ = write!(out, "<w:EnumerationMode>{m}</w:EnumerationMode>");
    }
    if let Some(f) = &options.filter {
        let _ = write!(out, "<w:Filter Dialect=\"{}\">", escape_attr(&f.dialect));
        match &f.body {
            FilterBody::Text(t) => out.push_str(&escape_text(t)),
            FilterBody::Selectors(s) => {
                out.push_str("<w:SelectorSet>");
                for (k, v) in s {
                    let _ = write!(
                        out,
                        "<w:Selector Name=\"{}\">{}</w:Selector>",
                        escape_attr(k),
                        escape_text(v)
                    );
                }
                out.push_str("</w:SelectorSet>");
            }
            FilterBody::Xml(x) => out.push_str(x),
        }
        out.push_str("</w:Filter>");
    }
    out.push_str("</n:Enumerate>");
    out
}

/// The `n:Pull` body.
pub fn pull_body(context: &str, options: &EnumerateOptions) -> String {
    format!(
        "<n:Pull><n:EnumerationContext>{}</n:EnumerationContext><n:MaxElements>{}</n:MaxElements></n:Pull>",
        escape_text(context),
        options.max_elements
    )
}

/// The `n:Release` body.
pub fn release_body(context: &str) -> String {
    format!(
        "<n:Release><n:EnumerationContext>{}</n:EnumerationContext></n:Release>",
        escape_text(context)
    )
}

/// One response's worth of an enumeration.
#[derive(Debug, Default)]
pub(crate) struct Page {
    pub(crate) context: Option<String>,
    pub(crate) items: Vec<Element>,
    pub(crate) end: bool,
}

/// The page of a response body, its items moved out of the body (a page holds up to
/// MaxEnvelopeSize of them: copying them would double the client's work).
fn page(body: &mut Element, items_ns: &str) -> Page {
    let context = body
        .child(ns::ENUMERATION, "EnumerationContext")
        .map(Element::trimmed_text)
        .filter(|c| !c.is_empty());
    let items = body
        .children
        .iter_mut()
        .find_map(|n| match n {
            Node::Element(e) if e.is(items_ns, "Items") => Some(e),
            _ => None,
        })
        .map(|i| {
            std::mem::take(&mut i.children)
                .into_iter()
                .filter_map(|n| match n {
                    Node::Element(e) => Some(e),
                    Node::Text(_) => None,
                })
                .collect()
        })
        .unwrap_or_default();
    // Accept EndOfSequence in either namespace: servers differ.
    let end = body.child(ns::WSMAN, "EndOfSequence").is_some()
        || body.child(ns::ENUMERATION, "EndOfSequence").is_some();
    Page {
        context,
        items,
        end,
    }
}

/// A protocol error unless `body` is the enumeration element `local`.
fn expect_enumeration(body: &Element, local: &str) -> Result<(), ClientError> {
    if body.is(ns::ENUMERATION, local) {
        return Ok(());
    }
    let got = &body.name;
    Err(ClientError::protocol(format!(
        "expected n:{local}, got {got}"
    )))
}

pub(crate) fn read_enumerate_response(mut body: Element) -> Result<Page, ClientError> {
    expect_enumeration(&body, "EnumerateResponse")?;
    let mut p = page(&mut body, ns::WSMAN);
    if p.items.is_empty() {
        // A non-optimizing server may still answer with n:Items.
        p.items = page(&mut body, ns::ENUMERATION).items;
    }
    Ok(p)
}

pub(crate) fn read_pull_response(mut body: Element) -> Result<Page, ClientError> {
    expect_enumeration(&body, "PullResponse")?;
    let mut p = page(&mut body, ns::ENUMERATION);
    if p.context.is_none() {
        // No context means nothing more to pull.
        p.end = true;
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wsman_proto::xml::{parse, Limits};

    #[test]
    fn body_matches_the_windows_client_shape() {
        let o = EnumerateOptions {
            mode: EnumerationMode::ObjectAndEpr,
            filter: Some(Filter {
                dialect: dialect::WQL.to_owned(),
                body: FilterBody::Text("select * from OMI_Identify".to_owned()),
            }),
            ..EnumerateOptions::default()
        };
        assert_eq!(
            enumerate_body(&o),
            "<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>32000</w:MaxElements>\
             <w:EnumerationMode>EnumerateObjectAndEPR</w:EnumerationMode>\
             <w:Filter Dialect=\"http://schemas.microsoft.com/wbem/wsman/1/WQL\">select * from OMI_Identify</w:Filter></n:Enumerate>"
        );
    }

    #[test]
    fn selector_filter_is_escaped() {
        let o = EnumerateOptions {
            filter: Some(Filter {
                dialect: dialect::SELECTOR.to_owned(),
                body: FilterBody::Selectors(vec![("Name".to_owned(), "a<b".to_owned())]),
            }),
            ..EnumerateOptions::default()
        };
        assert!(enumerate_body(&o).contains("<w:Selector Name=\"Name\">a&lt;b</w:Selector>"));
    }

    fn el(xml: &str) -> Element {
        parse(xml, &Limits::default()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn reads_optimized_and_pull_pages() {
        let n = ns::ENUMERATION;
        let w = ns::WSMAN;
        let e = el(&format!(
            "<n:EnumerateResponse xmlns:n=\"{n}\" xmlns:w=\"{w}\"><n:EnumerationContext></n:EnumerationContext><w:Items><a/><b/></w:Items><w:EndOfSequence/></n:EnumerateResponse>"
        ));
        let p = read_enumerate_response(e).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((p.items.len(), p.end, p.context), (2, true, None));
        let e = el(&format!(
            "<n:PullResponse xmlns:n=\"{n}\"><n:EnumerationContext>uuid:1</n:EnumerationContext><n:Items><a/></n:Items></n:PullResponse>"
        ));
        let p = read_pull_response(e).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (p.items.len(), p.end, p.context.as_deref()),
            (1, false, Some("uuid:1"))
        );
        let e = el(&format!(
            "<n:PullResponse xmlns:n=\"{n}\"><n:Items/></n:PullResponse>"
        ));
        assert!(read_pull_response(e).unwrap_or_else(|e| panic!("{e}")).end);
        assert!(read_pull_response(el("<x/>")).is_err());
    }
}
