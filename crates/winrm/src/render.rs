//! Output in Windows' shapes: `-format:text` (element name as a header, children indented by
//! four spaces, `Key = value`), `-format:xml` (the body element as XML) and `#pretty`.

use std::fmt::Write as _;

use wsman_cli::windows_text;
use wsman_proto::ns;
use wsman_proto::xml::{escape_attr, escape_text, Element, Node, XML_NS};

use crate::args::Format;

/// Render one element as XML with the prefixes it arrived with (generated ones where it had
/// none); `pretty` indents child elements.
pub(crate) fn xml(e: &Element, pretty: bool) -> String {
    let mut out = String::new();
    let mut scope: Vec<(String, String)> = Vec::new();
    write_xml(e, &mut out, &mut scope, pretty, 0);
    if pretty && !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

fn bind(
    ns_uri: &str,
    wanted: Option<&str>,
    scope: &mut Vec<(String, String)>,
    decls: &mut String,
) -> String {
    if let Some(w) = wanted {
        if let Some((_, u)) = scope.iter().rev().find(|(p, _)| p == w) {
            if u == ns_uri {
                return w.to_owned();
            }
        }
    } else if let Some((p, _)) = scope.iter().rev().find(|(_, u)| u == ns_uri) {
        return p.clone();
    }
    let p = match wanted {
        Some(w) => w.to_owned(),
        None => {
            let mut n = scope.len();
            while scope.iter().any(|(p, _)| *p == format!("ns{n}")) {
                n += 1;
            }
            format!("ns{n}")
        }
    };
    let _ = write!(decls, " xmlns:{p}=\"{}\"", escape_attr(ns_uri));
    scope.push((p.clone(), ns_uri.to_owned()));
    p
}

fn write_xml(
    e: &Element,
    out: &mut String,
    scope: &mut Vec<(String, String)>,
    pretty: bool,
    depth: usize,
) {
    let mark = scope.len();
    let mut decls = String::new();
    let qname = match &e.ns {
        Some(uri) => format!(
            "{}:{}",
            bind(uri, e.prefix.as_deref(), scope, &mut decls),
            e.name
        ),
        None => e.name.clone(),
    };
    let mut attrs = String::new();
    for a in &e.attributes {
        let name = match a.ns.as_deref() {
            Some(XML_NS) => format!("xml:{}", a.name),
            Some(uri) => {
                let wanted = if uri == ns::XSI { Some("xsi") } else { None };
                format!("{}:{}", bind(uri, wanted, scope, &mut decls), a.name)
            }
            None => a.name.clone(),
        };
        let _ = write!(attrs, " {name}=\"{}\"", escape_attr(&a.value));
    }
    let pad = if pretty {
        "  ".repeat(depth)
    } else {
        String::new()
    };
    let _ = write!(out, "{pad}<{qname}{decls}{attrs}");
    let element_children = e.elements().next().is_some();
    if e.children.is_empty() {
        out.push_str("/>");
    } else if element_children && pretty {
        out.push_str(">\n");
        for c in &e.children {
            match c {
                Node::Element(child) => write_xml(child, out, scope, pretty, depth + 1),
                Node::Text(t) if t.trim().is_empty() => {}
                Node::Text(t) => {
                    let _ = writeln!(out, "{}{}", "  ".repeat(depth + 1), escape_text(t.trim()));
                }
            }
        }
        let _ = write!(out, "{pad}</{qname}>");
    } else {
        out.push('>');
        for c in &e.children {
            match c {
                Node::Element(child) => write_xml(child, out, scope, false, 0),
                Node::Text(t) => out.push_str(&escape_text(t)),
            }
        }
        let _ = write!(out, "</{qname}>");
    }
    if pretty {
        out.push('\n');
    }
    scope.truncate(mark);
}

/// Render a result in the chosen format (text ends with a newline; XML gets one added).
pub(crate) fn render(e: &Element, format: Format) -> String {
    match format {
        Format::Text => windows_text(e),
        Format::Xml => {
            let mut s = xml(e, false);
            s.push('\n');
            s
        }
        Format::PrettyXml => xml(e, true),
    }
}

/// The wrapper winrm.vbs puts around enumerated items in XML output, so that the output is
/// one well-formed document.
const RESULTS_NS: &str = wsman_proto::ns::WSMAN_RESULTS;

/// Render enumeration items: text items separated by a blank line, XML items inside
/// `wsman:Results`, as Windows prints them.
pub(crate) fn render_items(items: &[Element], format: Format) -> String {
    let mut out = String::new();
    match format {
        Format::Text => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                out.push_str(&windows_text(item));
            }
        }
        Format::Xml | Format::PrettyXml => {
            let pretty = format == Format::PrettyXml;
            let mut results = Element::new(Some(RESULTS_NS), "Results");
            results.prefix = Some("wsman".to_owned());
            results.children = items.iter().cloned().map(Node::Element).collect();
            out.push_str(&xml(&results, pretty));
            if !pretty {
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use wsman_proto::xml::{parse, Limits};

    fn el(x: &str) -> Element {
        parse(x, &Limits::default()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn listener_shape() {
        let e = el("<cfg:Listener xmlns:cfg=\"http://schemas.microsoft.com/wbem/wsman/1/config/listener\" xml:lang=\"en-US\">\
            <cfg:Address>*</cfg:Address><cfg:Transport>HTTP</cfg:Transport><cfg:Port>5985</cfg:Port>\
            <cfg:Hostname></cfg:Hostname><cfg:Enabled>true</cfg:Enabled><cfg:URLPrefix>wsman</cfg:URLPrefix>\
            <cfg:CertificateThumbprint></cfg:CertificateThumbprint>\
            <cfg:ListeningOn>127.0.0.1</cfg:ListeningOn><cfg:ListeningOn>::1</cfg:ListeningOn></cfg:Listener>");
        assert_eq!(
            windows_text(&e),
            "Listener\n    Address = *\n    Transport = HTTP\n    Port = 5985\n    Hostname\n    Enabled = true\n    \
             URLPrefix = wsman\n    CertificateThumbprint\n    ListeningOn = 127.0.0.1, ::1\n"
        );
    }

    #[test]
    fn gpo_nil_and_selectors() {
        let e = el("<x:R xmlns:x=\"urn:x\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\">\
            <x:AllowUnencrypted Source=\"GPO\">false</x:AllowUnencrypted><x:Install xsi:nil=\"true\"/>\
            <x:Ref><w:SelectorSet><w:Selector Name=\"Address\">*</w:Selector><w:Selector Name=\"Transport\">HTTPS</w:Selector></w:SelectorSet></x:Ref></x:R>");
        assert_eq!(
            windows_text(&e),
            "R\n    AllowUnencrypted = false [Source=\"GPO\"]\n    Install = null\n    Ref\n        SelectorSet\n            \
             Selector: Address = *, Transport = HTTPS\n"
        );
    }

    #[test]
    fn enumerated_xml_is_one_document() {
        let items = vec![
            el("<a:X xmlns:a=\"urn:a\"/>"),
            el("<a:X xmlns:a=\"urn:a\"><a:Y>1</a:Y></a:X>"),
        ];
        let out = render_items(&items, Format::Xml);
        assert_eq!(
            out,
            "<wsman:Results xmlns:wsman=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/results\"><a:X xmlns:a=\"urn:a\"/><a:X xmlns:a=\"urn:a\"><a:Y>1</a:Y></a:X></wsman:Results>\n"
        );
        assert!(parse(&render_items(&items, Format::PrettyXml), &Limits::default()).is_ok());
        assert_eq!(render_items(&items, Format::Text), "X\n\nX\n    Y = 1\n");
    }

    #[test]
    fn xml_keeps_prefixes_and_pretty_indents() {
        let src = "<cfg:Auth xmlns:cfg=\"urn:a\"><cfg:Basic>true</cfg:Basic><cfg:Empty></cfg:Empty></cfg:Auth>";
        let e = el(src);
        assert_eq!(
            xml(&e, false),
            "<cfg:Auth xmlns:cfg=\"urn:a\"><cfg:Basic>true</cfg:Basic><cfg:Empty/></cfg:Auth>"
        );
        assert_eq!(
            xml(&e, true),
            "<cfg:Auth xmlns:cfg=\"urn:a\">\n  <cfg:Basic>true</cfg:Basic>\n  <cfg:Empty/>\n</cfg:Auth>\n"
        );
        // Re-parsing gives the same tree.
        assert_eq!(el(&xml(&e, false)), e);
    }
}

#[cfg(test)]
mod windows_fixture {
    use super::*;
    use wsman_proto::xml::{parse, Limits};

    /// `winrm get winrm/config` as Windows prints the recorded response
    /// (crates/wsman-proto/tests/fixtures/windows/config/get-config.response.xml).
    const EXPECTED: &str = "\
Config
    MaxEnvelopeSizekb = 500
    MaxTimeoutms = 60000
    MaxBatchItems = 32000
    MaxProviderRequests = 4294967295
    Client
        NetworkDelayms = 5000
        URLPrefix = wsman
        AllowUnencrypted = false
        Auth
            Basic = true
            Digest = true
            Kerberos = true
            Negotiate = true
            Certificate = true
            CredSSP = false
        DefaultPorts
            HTTP = 5985
            HTTPS = 5986
        TrustedHosts
    Service
        RootSDDL = O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;IU)S:P(AU;FA;GA;;;WD)(AU;SA;GXGW;;;WD)
        MaxConcurrentOperations = 4294967295
        MaxConcurrentOperationsPerUser = 1500
        EnumerationTimeoutms = 240000
        MaxConnections = 300
        MaxPacketRetrievalTimeSeconds = 120
        AllowUnencrypted = false
        Auth
            Basic = true
            Kerberos = true
            Negotiate = true
            Certificate = false
            CredSSP = true
            CbtHardeningLevel = Relaxed
        DefaultPorts
            HTTP = 5985
            HTTPS = 5986
        IPv4Filter = *
        IPv6Filter = *
        EnableCompatibilityHttpListener = false
        EnableCompatibilityHttpsListener = false
        CertificateThumbprint
        AllowRemoteAccess = true
    Winrs
        AllowRemoteShellAccess = true
        IdleTimeout = 7200000
        MaxConcurrentUsers = 2147483647
        MaxShellRunTime = 2147483647
        MaxProcessesPerShell = 2147483647
        MaxMemoryPerShellMB = 2147483647
        MaxShellsPerUser = 2147483647
";

    fn body_of_fixture(rel: &str) -> Element {
        let path = format!(
            "{}/../wsman-proto/tests/fixtures/windows/{rel}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let env = parse(&text, &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
        let body = env
            .child(ns::SOAP, "Body")
            .unwrap_or_else(|| panic!("no body"));
        let first = body.elements().next().cloned();
        first.unwrap_or_else(|| panic!("empty body"))
    }

    #[test]
    fn get_config_renders_like_windows() {
        assert_eq!(
            windows_text(&body_of_fixture("config/get-config.response.xml")),
            EXPECTED
        );
    }

    #[test]
    fn identify_renders_like_windows() {
        assert_eq!(
            windows_text(&body_of_fixture("identify/identify.response.anonymous.server2012r2.xml")),
            "IdentifyResponse\n    ProtocolVersion = http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\n    \
             ProductVendor = Microsoft Corporation\n    ProductVersion = OS: 0.0.0 SP: 0.0 Stack: 3.0\n"
        );
    }

    #[test]
    fn xml_output_round_trips_the_fixture_body() {
        let body = body_of_fixture("config/get-config.response.xml");
        let out = xml(&body, false);
        assert!(out.starts_with("<cfg:Config xmlns:cfg=\"http://schemas.microsoft.com/wbem/wsman/1/config\"><cfg:MaxEnvelopeSizekb>500<"));
        assert_eq!(parse(&out, &Limits::default()).ok(), Some(body.clone()));
        assert_eq!(
            parse(&xml(&body, true), &Limits::default())
                .map(|e| windows_text(&e))
                .ok(),
            Some(EXPECTED.to_owned())
        );
    }
}

/// One event of `winrm events`: in text, a line of its record id, time, level, provider and
/// message (what `wevtutil qe /f:text` shows first); in XML, the event element itself.
pub(crate) fn render_event(e: &Element, format: Format) -> String {
    if format != Format::Text {
        return render(e, format);
    }
    let system = e.elements().find(|c| c.name == "System");
    let field = |name: &str| {
        system
            .and_then(|s| s.elements().find(|c| c.name == name))
            .map(Element::trimmed_text)
            .unwrap_or_default()
    };
    let attr = |name: &str, attribute: &str| {
        system
            .and_then(|s| s.elements().find(|c| c.name == name))
            .and_then(|c| c.attr(attribute))
            .unwrap_or_default()
            .to_owned()
    };
    // The journal's MESSAGE travels in EventData (RenderingInfo has it too, when rendered).
    let message = e
        .elements()
        .find(|c| c.name == "EventData")
        .and_then(|d| d.elements().find(|c| c.attr("Name") == Some("MESSAGE")))
        .map(Element::trimmed_text)
        .unwrap_or_default();
    format!(
        "{} {} Level={} {}: {}\n",
        field("EventRecordID"),
        attr("TimeCreated", "SystemTime"),
        field("Level"),
        attr("Provider", "Name"),
        message
    )
}
