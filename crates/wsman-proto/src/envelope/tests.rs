use super::*;
use crate::fault::{code, FaultCode};

fn req(headers: &str, body: &str) -> String {
    format!(
        r#"<s:Envelope xmlns:s="{}" xmlns:a="{}" xmlns:w="{}" xmlns:p="{}"><s:Header>{headers}</s:Header><s:Body>{body}</s:Body></s:Envelope>"#,
        ns::SOAP,
        ns::ADDRESSING,
        ns::WSMAN,
        ns::MS_WSMAN
    )
}

const GET_HEADERS: &str = r#"<a:To>http://windows-host:5985/wsman</a:To><a:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action><a:MessageID>uuid:AbC-1</a:MessageID><w:ResourceURI s:mustUnderstand="true">http://schemas.microsoft.com/wbem/wsman/1/config</w:ResourceURI><a:ReplyTo><a:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>"#;

fn parse(s: &str) -> Result<Request, RequestError> {
    parse_request(s, &Limits::default())
}

fn fault_of(r: Result<Request, RequestError>) -> (Fault, Option<String>) {
    match r {
        Err(RequestError::Fault { fault, message_id }) => (*fault, message_id),
        other => panic!("expected a fault, got {other:?}"),
    }
}

#[test]
fn reads_headers_in_any_order_and_prefix() {
    let r = parse(&req(GET_HEADERS, "")).unwrap();
    assert_eq!(r.action.as_deref(), Some(crate::ns::action::GET));
    assert_eq!(r.message_id.as_deref(), Some("uuid:AbC-1"));
    assert_eq!(r.resource_uri.as_deref(), Some(ns::CONFIG));
    assert_eq!(r.to.as_deref(), Some("http://windows-host:5985/wsman"));

    let other_prefixes = GET_HEADERS.replace("a:", "wsa:").replace("w:", "wsman:");
    let xml = format!(
        r#"<env:Envelope xmlns:env="{}" xmlns:wsa="{}" xmlns:wsman="{}"><env:Header>{}</env:Header><env:Body/></env:Envelope>"#,
        ns::SOAP,
        ns::ADDRESSING,
        ns::WSMAN,
        other_prefixes.replace("s:mustUnderstand", "env:mustUnderstand")
    );
    let r2 = parse(&xml).unwrap();
    assert_eq!(r2.action, r.action);
    assert_eq!(r2.resource_uri, r.resource_uri);
}

#[test]
fn unqualified_must_understand_is_ignored() {
    let h = format!(r#"{GET_HEADERS}<x:Foo xmlns:x="urn:x" mustUnderstand="true"/>"#);
    assert!(parse(&req(&h, "")).is_ok());
    let h = format!(r#"{GET_HEADERS}<x:Foo xmlns:x="urn:x" s:mustUnderstand="1"/>"#);
    let (f, mid) = fault_of(parse(&req(&h, "")));
    assert_eq!(f.code, FaultCode::MustUnderstand);
    assert_eq!(f.not_understood, Some(("urn:x".into(), "Foo".into())));
    assert_eq!(mid.as_deref(), Some("uuid:AbC-1"));
}

#[test]
fn identify_without_action() {
    let r = parse(&req(
        "",
        &format!(r#"<wsmid:Identify xmlns:wsmid="{}"/>"#, ns::IDENTITY),
    ))
    .unwrap();
    assert!(r.is_identify());
}

#[test]
fn missing_action_and_message_id() {
    let h = GET_HEADERS.replace(
        r#"<a:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action>"#,
        "",
    );
    let (f, _) = fault_of(parse(&req(&h, "")));
    assert_eq!(f.wsman_code, code::MESSAGE_INFORMATION_HEADER_REQUIRED);
    let h = GET_HEADERS.replace("<a:MessageID>uuid:AbC-1</a:MessageID>", "");
    let (f, _) = fault_of(parse(&req(&h, "")));
    assert_eq!(f.wsman_code, code::MESSAGE_INFORMATION_HEADER_REQUIRED);
}

#[test]
fn soap11_is_version_mismatch() {
    let xml =
        r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>"#;
    let (f, _) = fault_of(parse(xml));
    assert_eq!(f.code, FaultCode::VersionMismatch);
}

#[test]
fn missing_body_fault_matches_windows() {
    let xml = format!(
        r#"<s:Envelope xmlns:s="{}" xmlns:a="{}"><s:Header>{}</s:Header></s:Envelope>"#,
        ns::SOAP,
        ns::ADDRESSING,
        "<a:MessageID>m</a:MessageID>"
    );
    let (f, mid) = fault_of(parse(&xml));
    assert_eq!(f.wsman_code, code::INVALID_MESSAGE_INFORMATION_HEADER);
    assert_eq!(mid.as_deref(), Some("m"));
}

#[test]
fn timeouts_and_envelope_size() {
    let h = format!("{GET_HEADERS}<w:OperationTimeout>PT60.000S</w:OperationTimeout><w:MaxEnvelopeSize s:mustUnderstand=\"true\">153600</w:MaxEnvelopeSize>");
    let r = parse(&req(&h, "")).unwrap();
    assert_eq!(r.operation_timeout, Some(Duration::from_secs(60)));
    assert_eq!(r.max_envelope_size, Some(153600));

    let h = format!("{GET_HEADERS}<w:OperationTimeout>PT-1S</w:OperationTimeout>");
    let (f, _) = fault_of(parse(&req(&h, "")));
    assert_eq!(f.wsman_code, code::INVALID_MESSAGE_INFORMATION_HEADER);
    assert!(f.message.contains("PT-1S"));

    let h = format!("{GET_HEADERS}<w:MaxEnvelopeSize>100</w:MaxEnvelopeSize>");
    let (f, _) = fault_of(parse(&req(&h, "")));
    assert_eq!(f.wsman_code, code::MIN_ENVELOPE_SIZE);
}

#[test]
fn locale_must_understand_true_is_refused() {
    let h = format!(r#"{GET_HEADERS}<w:Locale xml:lang="en-US" s:mustUnderstand="true"/>"#);
    let (f, _) = fault_of(parse(&req(&h, "")));
    assert_eq!(f.wsman_code, code::MUSTUNDERSTAND_ON_LOCALE);
    let h = format!(r#"{GET_HEADERS}<w:Locale xml:lang="de-DE" s:mustUnderstand="false"/>"#);
    assert_eq!(
        parse(&req(&h, "")).unwrap().locale.as_deref(),
        Some("de-DE")
    );
}

#[test]
fn reply_to_must_be_anonymous() {
    let h = GET_HEADERS.replace(ns::ANONYMOUS, "http://evil.example/");
    let (f, _) = fault_of(parse(&req(&h, "")));
    assert_eq!(f.detail, Some("AddressingMode"));
}

#[test]
fn selectors_and_options() {
    let h = format!(
        r#"{GET_HEADERS}<w:SelectorSet><w:Selector Name="Address">*</w:Selector><w:Selector Name="Transport"> HTTP
</w:Selector></w:SelectorSet><w:OptionSet s:mustUnderstand="true" xmlns:xsi="{}"><w:Option Name="WINRS_NOPROFILE" MustComply="true">TRUE</w:Option><w:Option Name="CDATA" xsi:nil="true"/></w:OptionSet>"#,
        ns::XSI
    );
    let r = parse(&req(&h, "")).unwrap();
    assert_eq!(r.selectors.get("address"), Some("*"));
    assert_eq!(r.selectors.get("TRANSPORT"), Some("HTTP"));
    assert!(r.options.must_understand);
    assert_eq!(r.options.get_bool("winrs_noprofile"), Ok(Some(true)));
    assert_eq!(r.options.get("CDATA").map(|o| o.value.clone()), Some(None));
    assert!(r.options.check_known(&["WINRS_NOPROFILE"]).is_ok());
    assert!(r.options.check_known(&[]).is_err());

    let dup = format!(
        r#"{GET_HEADERS}<w:SelectorSet><w:Selector Name="A">1</w:Selector><w:Selector Name="a">2</w:Selector></w:SelectorSet>"#
    );
    let (f, _) = fault_of(parse(&req(&dup, "")));
    assert_eq!(f.wsman_code, code::DUPLICATE_SELECTORS);
}

#[test]
fn message_id_is_kept_byte_for_byte() {
    for id in [
        "uuid:8F2E1F7A-AAAA-bbbb-CCCC-000000000000",
        "7f2e1f7a-aaaa",
        "",
    ] {
        let h = GET_HEADERS.replace("uuid:AbC-1", id);
        let r = parse(&req(&h, "")).unwrap();
        assert_eq!(r.message_id.as_deref(), Some(id));
    }
}

#[test]
fn not_xml_is_not_a_fault() {
    assert!(matches!(parse("not xml <"), Err(RequestError::NotXml(_))));
}

#[test]
fn compression_type_is_understood_on_a_powershell_create_only() {
    let compression = r#"<rsp:CompressionType s:mustUnderstand="true" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell">xpress</rsp:CompressionType>"#;
    let create = |uri: &str| {
        GET_HEADERS
            .replace("transfer/Get", "transfer/Create")
            .replace(ns::CONFIG, uri)
            + compression
    };
    let r = parse(&req(
        &create("http://schemas.microsoft.com/powershell/Microsoft.PowerShell"),
        "",
    ))
    .unwrap();
    assert_eq!(r.compression_type.as_deref(), Some("xpress"));
    // A cmd shell's Create (winrs.exe -compression), or any other request: not understood.
    for headers in [
        create("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"),
        format!("{GET_HEADERS}{compression}"),
    ] {
        let (f, _) = fault_of(parse(&req(&headers, "")));
        assert_eq!(f.code, FaultCode::MustUnderstand);
        assert_eq!(
            f.not_understood,
            Some((ns::SHELL.into(), "CompressionType".into()))
        );
    }
    // Without mustUnderstand it is ignored where it means nothing, as any header.
    let relaxed = format!("{GET_HEADERS}{}", compression.replace("true", "false"));
    assert!(parse(&req(&relaxed, "")).is_ok());
}
