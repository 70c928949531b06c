//! WS-Transfer bodies: the `x:ResourceCreated` endpoint reference of a Create response.

use std::fmt::Write as _;

use crate::xml::escape_text;

/// `x:ResourceCreated` for an instance addressed by `resource_uri` and `selectors`
/// (name, value). `address` is the URL the client used (from its Host header), not `wsa:To`.
pub fn resource_created(address: &str, resource_uri: &str, selectors: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(512);
    let _ = write!(
        out,
        "<x:ResourceCreated><a:Address>{}</a:Address><a:ReferenceParameters><w:ResourceURI>{}</w:ResourceURI>",
        escape_text(address),
        escape_text(resource_uri)
    );
    if !selectors.is_empty() {
        out.push_str("<w:SelectorSet>");
        write_selectors(&mut out, selectors);
        out.push_str("</w:SelectorSet>");
    }
    out.push_str("</a:ReferenceParameters></x:ResourceCreated>");
    out
}

/// Namespace URI check used for Put/Create bodies of config resources: compared without case
/// (`winrm.vbs` builds `.../config/Listener` from the user's spelling).
pub fn ns_matches(actual: Option<&str>, expected: &str) -> bool {
    actual.is_some_and(|a| a.eq_ignore_ascii_case(expected))
}

/// The `w:Selector` elements of a selector set (name, value), shared by every endpoint
/// reference this crate writes.
pub(crate) fn write_selectors<N: AsRef<str>, V: AsRef<str>>(
    out: &mut String,
    selectors: &[(N, V)],
) {
    for (name, value) in selectors {
        let _ = write!(
            out,
            "<w:Selector Name=\"{}\">{}</w:Selector>",
            crate::xml::escape_attr(name.as_ref()),
            escape_text(value.as_ref())
        );
    }
}
