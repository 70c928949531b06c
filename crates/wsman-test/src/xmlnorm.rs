//! XML normalisation for golden comparisons: two documents are "the same" when their trees of
//! (namespace URI, local name, attributes, children) are equal after dropping whitespace-only
//! text. Prefixes, attribute order, namespace declarations and indentation do not matter.

use std::fmt::Write as _;

use wsman_proto::xml::{self, Element, Limits, Node};

/// A canonical, indented rendering of `text`: `{ns}name [attr="v" ...]`, one element per line,
/// text in quotes. Equal renderings mean equal documents.
pub fn normalize(text: &str) -> Result<String, xml::XmlError> {
    let root = xml::parse(text, &Limits::default())?;
    let mut out = String::new();
    render(&root, 0, &mut out);
    Ok(out)
}

fn render(element: &Element, depth: usize, out: &mut String) {
    let indent = "  ".repeat(depth);
    let _ = write!(
        out,
        "{indent}{{{}}}{}",
        element.ns.as_deref().unwrap_or(""),
        element.name
    );
    let mut attributes: Vec<String> = element
        .attributes
        .iter()
        .filter(|a| {
            a.ns.as_deref() != Some("http://www.w3.org/2000/xmlns/")
                && a.name != "xmlns"
                && !a.name.starts_with("xmlns:")
        })
        .map(|a| {
            format!(
                "{{{}}}{}={:?}",
                a.ns.as_deref().unwrap_or(""),
                a.name,
                a.value
            )
        })
        .collect();
    attributes.sort();
    for attribute in attributes {
        let _ = write!(out, " {attribute}");
    }
    out.push('\n');
    for child in &element.children {
        match child {
            Node::Element(e) => render(e, depth + 1, out),
            Node::Text(t) if t.trim().is_empty() => {}
            Node::Text(t) => {
                let _ = writeln!(out, "{indent}  {:?}", t.trim());
            }
        }
    }
}

/// Panics with both renderings when `actual` and `expected` are not the same document.
pub fn assert_same_xml(actual: &str, expected: &str) {
    let a = normalize(actual).unwrap_or_else(|e| panic!("actual is not XML ({e}):\n{actual}"));
    let b =
        normalize(expected).unwrap_or_else(|e| panic!("expected is not XML ({e}):\n{expected}"));
    assert!(
        a == b,
        "XML differs\n--- actual ---\n{a}\n--- expected ---\n{b}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_order_and_whitespace_do_not_matter() {
        let a = r#"<a:Root xmlns:a="urn:x" y="2" x="1">
              <a:Child>text</a:Child>
            </a:Root>"#;
        let b = r#"<Root xmlns="urn:x" x="1" y="2"><Child>text</Child></Root>"#;
        assert_eq!(normalize(a).unwrap(), normalize(b).unwrap());
    }

    #[test]
    fn different_namespace_or_text_differs() {
        let a = r#"<Root xmlns="urn:x"><Child>text</Child></Root>"#;
        let b = r#"<Root xmlns="urn:y"><Child>text</Child></Root>"#;
        let c = r#"<Root xmlns="urn:x"><Child>other</Child></Root>"#;
        assert_ne!(normalize(a).unwrap(), normalize(b).unwrap());
        assert_ne!(normalize(a).unwrap(), normalize(c).unwrap());
    }

    #[test]
    #[should_panic(expected = "XML differs")]
    fn assert_same_xml_fails_on_difference() {
        assert_same_xml("<a/>", "<b/>");
    }
}
