//! The structure of a WS-Management answer, values aside: what a differential test compares
//! between a recorded Windows answer and the daemon's answer to the same request. Element
//! names and namespaces in order, the namespaces an instance declares, which properties are
//! present or nil, the kind of each value (integer, boolean, datetime, ...), and a fault's
//! action, Code, Subcode, FaultDetail and WSManFault code.
//!
//! Read with roxmltree, a parser that is not ours, so that a recording and our answer are held
//! to the same reading (prefixes of QName values such as `a:DestinationUnreachable` are
//! resolved against the declarations in scope, as a client resolves them).

use std::collections::{BTreeMap, BTreeSet};

use roxmltree::{Document, Node};
use wsman_proto::ns::{ADDRESSING, SOAP, WSCIM_COMMON as CIM_COMMON, WSMAN, WSMAN_FAULT, XSI};

/// Resource URIs whose elements are instances (their children are properties): WMI classes
/// and DMTF CIM classes.
const INSTANCE_NAMESPACES: [&str; 2] = [
    "http://schemas.microsoft.com/wbem/wsman/1/wmi/",
    "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/",
];

/// An element's namespace URI and local name.
pub type Name = (String, String);

/// What a property element holds, values aside. Text values are told apart by what they
/// parse as: Windows writes integers in decimal, booleans as `true`/`false`, and datetimes as
/// a `cim:Datetime` child.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `xsi:nil="true"`.
    Nil,
    /// No text at all.
    Empty,
    Boolean,
    Integer,
    Real,
    Text,
    /// A `cim:Datetime` child.
    Datetime,
    /// A `cim:Interval` child.
    Interval,
    /// Some other child element (an endpoint reference, an embedded instance).
    Element,
}

impl Kind {
    /// Whether a value of this kind may stand where Windows wrote one of `recorded` for the
    /// same property: the same kind, or a narrower one where Windows' value was text (a string
    /// property may hold digits), or nil. Nil in our answer is the differences' business
    /// ([`InstanceShape::differences`] reports it), not the kind's.
    pub fn fits(self, recorded: &BTreeSet<Kind>) -> bool {
        let valued: BTreeSet<Kind> = recorded
            .iter()
            .copied()
            .filter(|k| *k != Kind::Nil)
            .collect();
        if self == Kind::Nil || valued.is_empty() || valued.contains(&self) {
            return true;
        }
        let scalar = matches!(
            self,
            Kind::Empty | Kind::Boolean | Kind::Integer | Kind::Real | Kind::Text
        );
        (scalar && (valued.contains(&Kind::Text) || valued.contains(&Kind::Empty)))
            || (self == Kind::Integer && valued.contains(&Kind::Real))
    }
}

/// One property element of an instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Property {
    pub name: String,
    pub kind: Kind,
}

/// An instance or method output element (`p:Win32_Process`, `p:GetOwner_OUTPUT`), values
/// aside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceShape {
    pub element: Name,
    /// `xsi:type` as written (`p:Win32_Process_Type`), if any.
    pub xsi_type: Option<String>,
    /// The namespace URIs the element declares itself: what a reader of the instance alone (a
    /// client handing it on to its XML library) can resolve.
    pub namespaces: BTreeSet<String>,
    /// The property elements in order; an array is its element repeated.
    pub properties: Vec<Property>,
}

/// A fault, values aside. QName values are resolved to `(namespace, local name)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultShape {
    pub action: String,
    pub code: Name,
    pub subcode: Option<Name>,
    /// `w:FaultDetail`'s URI.
    pub detail: Option<String>,
    /// The outer `f:WSManFault/@Code`.
    pub wsman_code: Option<String>,
}

/// An answer, values aside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub action: String,
    /// The body's elements depth first, instances' insides left out and repeats of the same
    /// element in a row folded (so two items and three items have one outline).
    pub outline: Vec<Name>,
    pub instances: Vec<InstanceShape>,
    pub fault: Option<FaultShape>,
}

/// Why a text is no answer to compare.
#[derive(Debug, thiserror::Error)]
pub enum ShapeError {
    #[error("not XML: {0}")]
    Xml(#[from] roxmltree::Error),
    #[error("no SOAP Body")]
    NoBody,
}

fn name(node: Node<'_, '_>) -> Name {
    (
        node.tag_name().namespace().unwrap_or_default().to_owned(),
        node.tag_name().name().to_owned(),
    )
}

fn elements<'a, 'input>(node: Node<'a, 'input>) -> impl Iterator<Item = Node<'a, 'input>> {
    node.children().filter(Node::is_element)
}

fn child<'a, 'input>(node: Node<'a, 'input>, ns: &str, local: &str) -> Option<Node<'a, 'input>> {
    elements(node).find(|c| c.has_tag_name((ns, local)))
}

fn descendant<'a, 'input>(
    node: Node<'a, 'input>,
    ns: &str,
    local: &str,
) -> Option<Node<'a, 'input>> {
    node.descendants().find(|c| c.has_tag_name((ns, local)))
}

fn is_instance(node: Node<'_, '_>) -> bool {
    node.tag_name()
        .namespace()
        .is_some_and(|ns| INSTANCE_NAMESPACES.iter().any(|p| ns.starts_with(p)))
}

/// The kind of a property element.
fn kind(property: Node<'_, '_>) -> Kind {
    if property
        .attribute((XSI, "nil"))
        .is_some_and(|v| v == "true" || v == "1")
    {
        return Kind::Nil;
    }
    if let Some(c) = elements(property).next() {
        return match (c.tag_name().namespace(), c.tag_name().name()) {
            (Some(CIM_COMMON), "Datetime") => Kind::Datetime,
            (Some(CIM_COMMON), "Interval") => Kind::Interval,
            _ => Kind::Element,
        };
    }
    let text: String = property.children().filter_map(|c| c.text()).collect();
    let text = text.trim();
    if text.is_empty() {
        Kind::Empty
    } else if text.eq_ignore_ascii_case("true") || text.eq_ignore_ascii_case("false") {
        Kind::Boolean
    } else if text.parse::<i128>().is_ok() {
        Kind::Integer
    } else if text.parse::<f64>().is_ok() && !text.chars().any(char::is_alphabetic) {
        Kind::Real
    } else {
        Kind::Text
    }
}

fn instance(node: Node<'_, '_>) -> InstanceShape {
    InstanceShape {
        element: name(node),
        xsi_type: node.attribute((XSI, "type")).map(str::to_owned),
        namespaces: declared(node),
        properties: elements(node)
            .map(|p| Property {
                name: p.tag_name().name().to_owned(),
                kind: kind(p),
            })
            .collect(),
    }
}

/// The namespaces `node` declares (in scope on it, not as its parent has them).
fn declared(node: Node<'_, '_>) -> BTreeSet<String> {
    let inherited: BTreeSet<(Option<&str>, &str)> = node
        .parent_element()
        .map(|p| p.namespaces().map(|n| (n.name(), n.uri())).collect())
        .unwrap_or_default();
    node.namespaces()
        .filter(|n| !inherited.contains(&(n.name(), n.uri())))
        .map(|n| n.uri().to_owned())
        .collect()
}

/// A QName value (`a:DestinationUnreachable`) resolved against the declarations in scope.
fn qname_value(node: Node<'_, '_>) -> Name {
    let text = node.text().unwrap_or_default().trim();
    let (prefix, local) = text
        .split_once(':')
        .map_or((None, text), |(p, l)| (Some(p), l));
    let ns = node.lookup_namespace_uri(prefix).unwrap_or_default();
    (ns.to_owned(), local.to_owned())
}

fn text_of(node: Option<Node<'_, '_>>) -> Option<String> {
    node.and_then(|n| n.text()).map(|t| t.trim().to_owned())
}

/// The outer `f:WSManFault/@Code` under `node`, if any.
fn wsman_code(node: Node<'_, '_>) -> Option<String> {
    descendant(node, WSMAN_FAULT, "WSManFault")
        .and_then(|w| w.attribute("Code"))
        .map(str::to_owned)
}

/// The outer `f:WSManFault/@Code` of a document or fragment (the 2006 interoperability
/// scenarios record a fault's detail only).
pub fn wsman_fault_code(text: &str) -> Result<Option<String>, ShapeError> {
    let doc = Document::parse(text)?;
    Ok(wsman_code(doc.root_element()))
}

fn fault(envelope: Node<'_, '_>, action: &str) -> Option<FaultShape> {
    let fault = child(child(envelope, SOAP, "Body")?, SOAP, "Fault")?;
    let code = child(fault, SOAP, "Code")?;
    let detail = child(fault, SOAP, "Detail");
    Some(FaultShape {
        action: action.to_owned(),
        code: qname_value(child(code, SOAP, "Value")?),
        subcode: child(code, SOAP, "Subcode")
            .and_then(|s| child(s, SOAP, "Value"))
            .map(qname_value),
        detail: text_of(detail.and_then(|d| child(d, WSMAN, "FaultDetail"))),
        wsman_code: detail.and_then(wsman_code),
    })
}

fn outline(node: Node<'_, '_>, out: &mut Vec<Name>, instances: &mut Vec<InstanceShape>) {
    for c in elements(node) {
        let element = name(c);
        if out.last() != Some(&element) {
            out.push(element);
        }
        if is_instance(c) {
            instances.push(instance(c));
        } else {
            outline(c, out, instances);
        }
    }
}

/// The shape of a SOAP envelope.
pub fn answer(text: &str) -> Result<Answer, ShapeError> {
    let doc = Document::parse(text)?;
    let envelope = doc.root_element();
    let action =
        text_of(child(envelope, SOAP, "Header").and_then(|h| child(h, ADDRESSING, "Action")))
            .unwrap_or_default();
    let body = child(envelope, SOAP, "Body").ok_or(ShapeError::NoBody)?;
    let (mut outline_out, mut instances) = (Vec::new(), Vec::new());
    outline(body, &mut outline_out, &mut instances);
    Ok(Answer {
        fault: fault(envelope, &action),
        action,
        outline: outline_out,
        instances,
    })
}

/// The `w:XmlFragment` items of an answer (a `SELECT a,b` enumeration), each as the shape of
/// an instance whose element is the fragment and whose properties are its unqualified children.
pub fn fragments(text: &str) -> Result<Vec<InstanceShape>, ShapeError> {
    let doc = Document::parse(text)?;
    let body = child(doc.root_element(), SOAP, "Body").ok_or(ShapeError::NoBody)?;
    Ok(body
        .descendants()
        .filter(|n| n.has_tag_name((WSMAN, "XmlFragment")))
        .map(instance)
        .collect())
}

/// The kinds Windows wrote for each property over all of `recorded` (instances of one class).
pub fn recorded_kinds(recorded: &[InstanceShape]) -> BTreeMap<String, BTreeSet<Kind>> {
    let mut kinds: BTreeMap<String, BTreeSet<Kind>> = BTreeMap::new();
    for i in recorded {
        for p in &i.properties {
            kinds.entry(p.name.clone()).or_default().insert(p.kind);
        }
    }
    kinds
}

/// Property names in order, an array's repeats folded into one.
pub fn property_names(instance: &InstanceShape) -> Vec<&str> {
    let mut names: Vec<&str> = instance
        .properties
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    names.dedup();
    names
}

impl InstanceShape {
    /// How this instance differs from Windows' instances of the same class: element,
    /// `xsi:type`, the namespaces it declares, properties and their order, and each property's kind.
    /// Properties nil here where Windows had a value are listed in `nil_where_windows_has`
    /// (Linux has no counterpart; the caller holds them against its documented list).
    pub fn differences(&self, recorded: &[InstanceShape]) -> Differences {
        self.differences_with_arrays(recorded, &BTreeSet::new())
    }

    /// [`InstanceShape::differences`] for a class with the array properties `arrays` (Windows'
    /// own, from its definition of the class): Windows leaves a NULL array out and repeats a
    /// valued one, so an array is held to neither presence nor place, but is never nil.
    pub fn differences_with_arrays(
        &self,
        recorded: &[InstanceShape],
        arrays: &BTreeSet<String>,
    ) -> Differences {
        let mut out = Differences::default();
        let Some(first) = recorded.first() else {
            out.structure.push("no recorded instance".to_owned());
            return out;
        };
        if self.element != first.element {
            out.structure.push(format!(
                "element {:?}, Windows {:?}",
                self.element, first.element
            ));
        }
        if self.xsi_type != first.xsi_type {
            out.structure.push(format!(
                "xsi:type {:?}, Windows {:?}",
                self.xsi_type, first.xsi_type
            ));
        }
        if self.namespaces != first.namespaces {
            out.structure.push(format!(
                "namespaces {:?}, Windows {:?}",
                self.namespaces, first.namespaces
            ));
        }
        let scalars = |instance: &'_ InstanceShape| -> Vec<String> {
            property_names(instance)
                .into_iter()
                .filter(|n| !arrays.contains(*n))
                .map(str::to_owned)
                .collect()
        };
        if scalars(self) != scalars(first) {
            out.structure.push(format!(
                "properties {:?}, Windows {:?}",
                property_names(self),
                property_names(first)
            ));
        }
        for p in &self.properties {
            if p.kind == Kind::Nil && arrays.contains(&p.name) {
                out.structure.push(format!(
                    "{}: a NULL array sent as nil, Windows leaves it out",
                    p.name
                ));
            }
        }
        let kinds = recorded_kinds(recorded);
        for p in &self.properties {
            let Some(windows) = kinds.get(&p.name) else {
                continue;
            };
            if !p.kind.fits(windows) {
                out.structure
                    .push(format!("{}: {:?}, Windows {windows:?}", p.name, p.kind));
            } else if p.kind == Kind::Nil && windows.iter().any(|k| *k != Kind::Nil) {
                out.nil_where_windows_has.insert(p.name.clone());
            }
        }
        out
    }
}

/// What [`InstanceShape::differences`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Differences {
    /// Structural differences: each one a defect or a documented quirk.
    pub structure: Vec<String>,
    /// Properties we send nil where Windows sent a value.
    pub nil_where_windows_has: BTreeSet<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENVELOPE: &str = "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
        xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
        xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"><s:Header>\
        <a:Action>urn:x</a:Action></s:Header><s:Body>BODY</s:Body></s:Envelope>";

    fn envelope(body: &str) -> String {
        ENVELOPE.replace("BODY", body)
    }

    #[test]
    fn kinds_of_values() {
        let body = "<p:C xmlns:p=\"http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/C\" \
            xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
            xmlns:cim=\"http://schemas.dmtf.org/wbem/wscim/1/common\">\
            <p:A>12</p:A><p:B>-1.5</p:B><p:C>TRUE</p:C><p:D xsi:nil=\"true\"/><p:E>6.1.7601</p:E>\
            <p:F><cim:Datetime>2014-01-01T00:00:00Z</cim:Datetime></p:F><p:G/><p:H>inf</p:H></p:C>";
        let answer = answer(&envelope(body)).expect("shape");
        let kinds: Vec<Kind> = answer.instances[0]
            .properties
            .iter()
            .map(|p| p.kind)
            .collect();
        use Kind::*;
        assert_eq!(
            kinds,
            [Integer, Real, Boolean, Nil, Text, Datetime, Empty, Text]
        );
        assert_eq!(answer.outline.len(), 1);
    }

    #[test]
    fn kinds_fit_as_windows_wrote_them() {
        let set = |k: &[Kind]| k.iter().copied().collect::<BTreeSet<_>>();
        assert!(Kind::Integer.fits(&set(&[Kind::Text])));
        assert!(Kind::Integer.fits(&set(&[Kind::Real])));
        assert!(Kind::Nil.fits(&set(&[Kind::Integer])));
        assert!(Kind::Datetime.fits(&set(&[Kind::Nil])));
        assert!(!Kind::Text.fits(&set(&[Kind::Integer])));
        assert!(!Kind::Integer.fits(&set(&[Kind::Datetime])));
        assert!(!Kind::Datetime.fits(&set(&[Kind::Text])));
    }

    #[test]
    fn fault_qnames_resolve_against_their_declarations() {
        let body = "<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode>\
            <s:Value xmlns:x=\"urn:other\">x:Thing</s:Value></s:Subcode></s:Code>\
            <s:Detail><w:FaultDetail>urn:d</w:FaultDetail>\
            <f:WSManFault xmlns:f=\"http://schemas.microsoft.com/wbem/wsman/1/wsmanfault\" Code=\"5\"/>\
            </s:Detail></s:Fault>";
        let fault = answer(&envelope(body))
            .expect("shape")
            .fault
            .expect("fault");
        assert_eq!(fault.code, (SOAP.to_owned(), "Sender".to_owned()));
        assert_eq!(
            fault.subcode,
            Some(("urn:other".to_owned(), "Thing".to_owned()))
        );
        assert_eq!(fault.detail.as_deref(), Some("urn:d"));
        assert_eq!(fault.wsman_code.as_deref(), Some("5"));
    }

    #[test]
    fn differences_name_what_differs() {
        let instance = |props: &str, attrs: &str| {
            let body = format!(
                "<p:C xmlns:p=\"http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/C\" \
                 xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" {attrs}>{props}</p:C>"
            );
            answer(&envelope(&body)).expect("shape").instances.remove(0)
        };
        let windows = instance("<p:A>1</p:A><p:B>x</p:B>", "");
        let same = instance("<p:A>7</p:A><p:B>9</p:B>", "");
        assert_eq!(
            same.differences(std::slice::from_ref(&windows)),
            Differences::default()
        );
        let nil = instance("<p:A xsi:nil=\"true\"/><p:B>y</p:B>", "");
        let found = nil.differences(std::slice::from_ref(&windows));
        assert!(found.structure.is_empty());
        assert!(found.nil_where_windows_has.contains("A"));
        // A NULL array is left out (not nil); a valued one is anywhere, and repeated.
        let arrays: BTreeSet<String> = ["R".to_owned()].into();
        let valued = instance("<p:A>7</p:A><p:B>9</p:B><p:R>1</p:R><p:R>2</p:R>", "");
        let found = valued.differences_with_arrays(std::slice::from_ref(&windows), &arrays);
        assert_eq!(found, Differences::default());
        let nil_array = instance("<p:A>7</p:A><p:B>9</p:B><p:R xsi:nil=\"true\"/>", "");
        let found = nil_array.differences_with_arrays(std::slice::from_ref(&windows), &arrays);
        assert_eq!(found.structure.len(), 1, "{found:?}");
        let typed = instance("<p:B>y</p:B><p:A>z</p:A>", "xsi:type=\"p:C_Type\"");
        let found = typed.differences(std::slice::from_ref(&windows));
        assert_eq!(found.structure.len(), 3, "{found:?}");
    }
}
