//! WS-Enumeration bodies: Enumerate, Pull and Release requests, and their responses.

use std::fmt::Write as _;
use std::time::Duration;

use crate::duration;
use crate::fault::from_errors::NumberError;
use crate::fault::Fault;
use crate::headers::SelectorSet;
use crate::ns;
use crate::xml::{escape_text, Element};

/// `w:EnumerationMode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EnumerationMode {
    #[default]
    Object,
    Epr,
    ObjectAndEpr,
}

/// A filter with its dialect URI; the content is the element itself (text or children).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    pub dialect: Option<String>,
    pub element: Element,
}

/// Known filter dialects.
pub use crate::ns::dialect;

/// Which side of an association a filter asks for (DSP0227 8.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssociationKind {
    /// The instances associated with the object (WMI's ASSOCIATORS OF).
    Associated,
    /// The association instances that refer to the object (WMI's REFERENCES OF).
    Association,
}

/// The object an association filter starts from: its class URI and key selectors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRef {
    pub resource_uri: String,
    pub selectors: Vec<(String, String)>,
}

/// A parsed association filter. For `Association`, `result_class` names the association
/// class (DSP0227 calls it ResultClassName there) and `association_class`/`result_role` are
/// unused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssociationFilter {
    pub kind: AssociationKind,
    pub object: ObjectRef,
    pub association_class: Option<String>,
    pub role: Option<String>,
    pub result_class: Option<String>,
    pub result_role: Option<String>,
}

impl Filter {
    /// The association filter of an `associationFilter` dialect, or `None` for another
    /// dialect. A malformed one is `w:CannotProcessFilter`, naming what is wrong.
    pub fn association(&self) -> Result<Option<AssociationFilter>, Fault> {
        let d = self.dialect.as_deref().unwrap_or("");
        if !d.eq_ignore_ascii_case(dialect::ASSOCIATION) {
            return Ok(None);
        }
        let bad =
            |what: &str| Fault::cannot_process_filter(format!("The association filter {what}. "));
        let mut found = self
            .element
            .elements()
            .filter(|e| e.ns.as_deref() == Some(ns::CIM_BINDING));
        let body = found
            .next()
            .ok_or_else(|| bad("has no AssociatedInstances or AssociationInstances element"))?;
        if found.next().is_some() {
            return Err(bad("has more than one element"));
        }
        let kind = match body.name.as_str() {
            "AssociatedInstances" => AssociationKind::Associated,
            "AssociationInstances" => AssociationKind::Association,
            _ => {
                return Err(bad(
                    "has neither AssociatedInstances nor AssociationInstances",
                ))
            }
        };
        let text = |name: &str| {
            body.child(ns::CIM_BINDING, name)
                .map(Element::trimmed_text)
                .filter(|t| !t.is_empty())
        };
        let object = body
            .child(ns::CIM_BINDING, "Object")
            .ok_or_else(|| bad("names no Object"))?;
        let parameters = object
            .child(ns::ADDRESSING, "ReferenceParameters")
            .ok_or_else(|| bad("Object has no ReferenceParameters"))?;
        let resource_uri = parameters
            .child(ns::WSMAN, "ResourceURI")
            .map(Element::trimmed_text)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| bad("Object has no ResourceURI"))?;
        let selectors = match parameters.child(ns::WSMAN, "SelectorSet") {
            Some(set) => SelectorSet::from_element(set)
                .map_err(|_| bad("Object has an invalid SelectorSet"))?
                .0
                .into_iter()
                .map(|s| match s.value {
                    crate::envelope::SelectorValue::Text(t) => Ok((s.name, t)),
                    crate::envelope::SelectorValue::Epr(_) => {
                        Err(bad("Object has a reference as a key"))
                    }
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        let (association_class, result_role) = match kind {
            AssociationKind::Associated => (text("AssociationClassName"), text("ResultRole")),
            AssociationKind::Association => (None, None),
        };
        Ok(Some(AssociationFilter {
            kind,
            object: ObjectRef {
                resource_uri,
                selectors,
            },
            association_class,
            role: text("Role"),
            result_class: text("ResultClassName"),
            result_role,
        }))
    }

    /// The SelectorSet of a SelectorFilter (either spelling of the dialect URI).
    pub fn selector_set(&self) -> Result<Option<SelectorSet>, Fault> {
        let d = self.dialect.as_deref().unwrap_or("");
        if !(d.eq_ignore_ascii_case(dialect::SELECTOR)
            || d.eq_ignore_ascii_case(dialect::SELECTOR_MS))
        {
            return Ok(None);
        }
        match self.element.child(ns::WSMAN, "SelectorSet") {
            Some(s) => SelectorSet::from_element(s).map(Some),
            None => Ok(Some(SelectorSet::default())),
        }
    }
}

/// A parsed `n:Enumerate`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Enumerate {
    pub optimize: bool,
    pub max_elements: Option<u32>,
    pub mode: EnumerationMode,
    pub filter: Option<Filter>,
    pub expires: Option<Duration>,
}

fn parse_u32(e: &Element, what: &'static str) -> Result<u32, Fault> {
    Ok(e.trimmed_text()
        .parse()
        .map_err(|_| NumberError::Element(what))?)
}

impl Enumerate {
    /// Parse the body of an Enumerate request (None body means all defaults).
    pub fn parse(body: Option<&Element>) -> Result<Self, Fault> {
        let mut out = Self::default();
        let Some(body) = body else {
            return Ok(out);
        };
        if !body.is(ns::ENUMERATION, "Enumerate") {
            return Err(Fault::schema_validation_error(
                "The body of an Enumerate request must be n:Enumerate. ",
            ));
        }
        for e in body.elements() {
            match (e.ns.as_deref().unwrap_or(""), e.name.as_str()) {
                (ns::WSMAN, "OptimizeEnumeration") => out.optimize = true,
                (ns::WSMAN, "MaxElements") => out.max_elements = Some(parse_u32(e, "MaxElements")?),
                (ns::WSMAN, "EnumerationMode") => {
                    out.mode = match e.trimmed_text().as_str() {
                        "EnumerateEPR" => EnumerationMode::Epr,
                        "EnumerateObjectAndEPR" => EnumerationMode::ObjectAndEpr,
                        "EnumerateObject" | "" => EnumerationMode::Object,
                        other => {
                            return Err(Fault::unsupported_feature(
                                "EnumerationMode",
                                format!("The enumeration mode {other:?} is not supported. "),
                            )
                            .with_code(crate::fault::code::ENUMERATION_MODE_UNSUPPORTED))
                        }
                    }
                }
                (ns::WSMAN, "Filter") | (ns::ENUMERATION, "Filter") => {
                    out.filter = Some(Filter {
                        dialect: e.attr("Dialect").map(|d| d.trim().to_owned()),
                        element: e.clone(),
                    })
                }
                (ns::ENUMERATION, "Expires") => {
                    out.expires = duration::parse(&e.trimmed_text());
                }
                _ => {}
            }
        }
        Ok(out)
    }
}

/// A parsed `n:Pull`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pull {
    pub context: String,
    pub max_time: Option<Duration>,
    pub max_elements: Option<u32>,
    pub max_characters: Option<u32>,
}

fn context_of(body: Option<&Element>, op: &str) -> Result<String, Fault> {
    body.filter(|b| b.is(ns::ENUMERATION, op))
        .and_then(|b| b.child(ns::ENUMERATION, "EnumerationContext"))
        .map(|c| c.trimmed_text())
        .ok_or_else(Fault::invalid_enumeration_context)
}

impl Pull {
    pub fn parse(body: Option<&Element>) -> Result<Self, Fault> {
        let context = context_of(body, "Pull")?;
        let mut out = Self {
            context,
            ..Self::default()
        };
        if let Some(b) = body {
            for e in b.elements() {
                match (e.ns.as_deref().unwrap_or(""), e.name.as_str()) {
                    (ns::ENUMERATION, "MaxTime") => {
                        out.max_time = duration::parse(&e.trimmed_text())
                    }
                    // python-dracclient writes WS-Management's MaxElements inside Pull (as in
                    // Enumerate), and iDRACs honour it: so does this side. Pull's own wins.
                    (ns::ENUMERATION, "MaxElements") => {
                        out.max_elements = Some(parse_u32(e, "MaxElements")?)
                    }
                    (ns::WSMAN, "MaxElements") => {
                        let value = parse_u32(e, "MaxElements")?;
                        out.max_elements.get_or_insert(value);
                    }
                    (ns::ENUMERATION, "MaxCharacters") => {
                        out.max_characters = Some(parse_u32(e, "MaxCharacters")?)
                    }
                    _ => {}
                }
            }
        }
        Ok(out)
    }
}

/// The context of a `n:Release`.
pub fn parse_release(body: Option<&Element>) -> Result<String, Fault> {
    context_of(body, "Release")
}

/// EnumerateResponse. With optimization, `items` go in `w:Items` and `w:EndOfSequence` marks the
/// end; Windows then still writes an empty `n:EnumerationContext`.
pub fn enumerate_response(context: Option<&str>, items: Option<&[String]>, end: bool) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("<n:EnumerateResponse>");
    let _ = write!(
        out,
        "<n:EnumerationContext>{}</n:EnumerationContext>",
        escape_text(context.unwrap_or(""))
    );
    if let Some(items) = items {
        if !items.is_empty() {
            push_items(&mut out, "w:Items", items);
        }
        if end {
            out.push_str("<w:EndOfSequence/>");
        }
    }
    out.push_str("</n:EnumerateResponse>");
    out
}

/// The items element `qname` holding the rendered `items`, in order.
fn push_items(out: &mut String, qname: &str, items: &[String]) {
    let _ = write!(out, "<{qname}>");
    for i in items {
        out.push_str(i);
    }
    let _ = write!(out, "</{qname}>");
}

/// PullResponse: `n:` Items and EndOfSequence; the context is omitted on the last batch.
pub fn pull_response(context: Option<&str>, items: &[String], end: bool) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("<n:PullResponse>");
    if let Some(c) = context.filter(|_| !end) {
        let _ = write!(
            out,
            "<n:EnumerationContext>{}</n:EnumerationContext>",
            escape_text(c)
        );
    }
    push_items(&mut out, "n:Items", items);
    if end {
        out.push_str("<n:EndOfSequence/>");
    }
    out.push_str("</n:PullResponse>");
    out
}

/// `w:TotalItemsCountEstimate` header block.
pub fn total_items_header(count: Option<usize>) -> String {
    match count {
        Some(n) => format!("<w:TotalItemsCountEstimate>{n}</w:TotalItemsCountEstimate>"),
        None => format!(
            "<w:TotalItemsCountEstimate xsi:nil=\"true\" xmlns:xsi=\"{}\"/>",
            ns::XSI
        ),
    }
}

/// An EPR item (`a:EndpointReference`) for EnumerateEPR modes.
pub fn epr_item(address: &str, resource_uri: &str, selectors: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<a:EndpointReference><a:Address>{}</a:Address><a:ReferenceParameters><w:ResourceURI>{}</w:ResourceURI><w:SelectorSet>",
        escape_text(address),
        escape_text(resource_uri)
    );
    crate::transfer::write_selectors(&mut out, selectors);
    out.push_str("</w:SelectorSet></a:ReferenceParameters></a:EndpointReference>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn association_filter(inner: &str) -> Result<Option<AssociationFilter>, Fault> {
        let xml = format!(
            "<w:Filter xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" \
             xmlns:b=\"http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd\" \
             xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
             Dialect=\"{}\">{inner}</w:Filter>",
            dialect::ASSOCIATION
        );
        let element = crate::xml::parse(&xml, &crate::xml::Limits::default()).unwrap();
        Filter {
            dialect: Some(dialect::ASSOCIATION.to_owned()),
            element,
        }
        .association()
    }

    const OBJECT: &str = "<b:Object><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address>\
        <a:ReferenceParameters><w:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Service</w:ResourceURI>\
        <w:SelectorSet><w:Selector Name=\"Name\">ssh</w:Selector></w:SelectorSet></a:ReferenceParameters></b:Object>";

    #[test]
    fn association_filters_read_both_kinds_and_refuse_malformed_ones() {
        let f = association_filter(&format!(
            "<b:AssociatedInstances>{OBJECT}<b:AssociationClassName>Win32_DependentService</b:AssociationClassName>\
             <b:Role>Dependent</b:Role><b:ResultClassName>Win32_Service</b:ResultClassName>\
             <b:ResultRole>Antecedent</b:ResultRole></b:AssociatedInstances>"
        ))
        .unwrap()
        .unwrap();
        assert_eq!(f.kind, AssociationKind::Associated);
        assert_eq!(f.object.selectors, [("Name".to_owned(), "ssh".to_owned())]);
        assert!(f.object.resource_uri.ends_with("/Win32_Service"));
        assert_eq!(
            f.association_class.as_deref(),
            Some("Win32_DependentService")
        );
        assert_eq!(f.role.as_deref(), Some("Dependent"));
        assert_eq!(f.result_role.as_deref(), Some("Antecedent"));
        let f = association_filter(&format!(
            "<b:AssociationInstances>{OBJECT}<b:ResultClassName>Win32_DependentService</b:ResultClassName></b:AssociationInstances>"
        ))
        .unwrap()
        .unwrap();
        assert_eq!(f.kind, AssociationKind::Association);
        assert_eq!(f.result_class.as_deref(), Some("Win32_DependentService"));
        let two = format!(
            "<b:AssociatedInstances>{OBJECT}</b:AssociatedInstances><b:AssociatedInstances/>"
        );
        for bad in [
            "",
            "<b:AssociatedInstances/>",
            "<b:Other/>",
            "<b:AssociatedInstances><b:Object/></b:AssociatedInstances>",
            &two,
        ] {
            let fault = association_filter(bad).unwrap_err();
            assert!(
                fault.to_string().contains("association filter"),
                "{bad}: {fault}"
            );
        }
        let other = Filter {
            dialect: Some(dialect::WQL.to_owned()),
            element: Element::new(None, "Filter"),
        };
        assert_eq!(other.association().unwrap(), None);
    }
}
