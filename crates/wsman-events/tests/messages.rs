//! Subscribe requests typed and refused, and delivery messages (Events, Heartbeat,
//! SubscriptionEnd, Ack) written and read back through the envelope parser.
//!
//! The Subscribe below has the shape of a Windows Event Collector's source-initiated
//! subscription as the protocol reference documents it (`ReferenceProperties`, a client
//! certificate policy with issuer thumbprints, UTF-16, the WEF options); no recorded Windows
//! eventing message with a licence that allows copying was available.

use std::time::Duration;

use wsman_events::delivery::{
    self, ack_envelope, events_envelope, heartbeat_envelope, subscription_end_envelope,
    DeliveryHeaders, Embedding, EndStatus,
};
use wsman_events::subscribe::{EnvelopePolicy, Expires, StartAt};
use wsman_events::{
    parse_subscribe, BookmarkList, ContentFormat, DeliveryMode, SubscribeError, SubscribeRequest,
    Timestamp,
};
use wsman_proto::xml::{self, Element};
use wsman_proto::{charset, ns, parse_request, Request};

const EVENTING_NS: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing";

fn subscribe(mode: &str, delivery_extra: &str, body_extra: &str, options: &str) -> String {
    format!(
        r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"><s:Header><a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To><w:ResourceURI s:mustUnderstand="true">http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog</w:ResourceURI><a:ReplyTo><a:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><a:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe</a:Action><w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize><a:MessageID>uuid:F6DC4F93-3A3C-4F96-AD88-C7C3C67390D3</a:MessageID><w:OptionSet xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">{options}</w:OptionSet></s:Header><s:Body><e:Subscribe><e:EndTo><a:Address>HTTPS://collector:5986/wsman/subscriptions/311755C4/1</a:Address><a:ReferenceProperties><e:Identifier>75272085-1748-4772-B742-9B757E69AB9B</e:Identifier></a:ReferenceProperties></e:EndTo><e:Delivery Mode="{mode}"><w:Heartbeats>PT3600.000S</w:Heartbeats><e:NotifyTo><a:Address>HTTPS://collector:5986/wsman/subscriptions/311755C4/1</a:Address><a:ReferenceProperties><e:Identifier>75272085-1748-4772-B742-9B757E69AB9B</e:Identifier></a:ReferenceProperties><c:Policy xmlns:c="http://schemas.xmlsoap.org/ws/2002/12/policy" xmlns:auth="http://schemas.microsoft.com/wbem/wsman/1/authentication"><c:ExactlyOne><c:All><auth:Authentication Profile="http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"><auth:ClientCertificate><auth:Thumbprint Role="issuer">4ab167dfcbbda8d6225889b05937112062ea1152</auth:Thumbprint></auth:ClientCertificate></auth:Authentication></c:All></c:ExactlyOne></c:Policy></e:NotifyTo><w:ConnectionRetry Total="5">PT60.0S</w:ConnectionRetry><w:MaxTime>PT30.000S</w:MaxTime><w:MaxEnvelopeSize Policy="Notify">512000</w:MaxEnvelopeSize><w:ContentEncoding>UTF-16</w:ContentEncoding>{delivery_extra}</e:Delivery>{body_extra}</e:Subscribe></s:Body></s:Envelope>"#
    )
}

const WEF_OPTIONS: &str = r#"<w:Option Name="SubscriptionName">Test</w:Option><w:Option Name="Compression">SLDC</w:Option><w:Option Name="CDATA" xsi:nil="true"/><w:Option Name="ContentFormat">RenderedText</w:Option><w:Option Name="IgnoreChannelError" xsi:nil="true"/><w:Option Name="ReadExistingEvents">true</w:Option>"#;

const FILTER: &str = r#"<w:Filter Dialect="http://schemas.microsoft.com/win/2004/08/events/eventquery"><QueryList><Query Id="0"><Select Path="Application">*[System[(Level=1  or Level=2 or Level=3 or Level=4 or Level=0 or Level=5)]]</Select><Select Path="Security">*</Select></Query></QueryList></w:Filter>"#;

fn parsed(text: &str) -> Request {
    parse_request(text, &xml::Limits::default()).expect("the envelope parses")
}

/// An Events-mode Subscribe with `body_extra` and `options`, typed.
fn events_subscription(
    body_extra: &str,
    options: &str,
) -> Result<SubscribeRequest, SubscribeError> {
    parse_subscribe(&parsed(&subscribe(
        DeliveryMode::EVENTS,
        "",
        body_extra,
        options,
    )))
}

#[test]
fn a_wef_subscription_is_typed() {
    let text = subscribe(
        DeliveryMode::EVENTS,
        "<w:MaxElements>20</w:MaxElements>",
        &format!(
            "<e:Expires>PT1H</e:Expires>{FILTER}<w:Bookmark><BookmarkList><Bookmark Channel=\"Application\" RecordId=\"149161\" IsCurrent=\"true\"/></BookmarkList></w:Bookmark><w:SendBookmarks/>"
        ),
        WEF_OPTIONS,
    );
    let request = parse_subscribe(&parsed(&text)).expect("a valid subscription");
    assert_eq!(request.mode, DeliveryMode::Events);
    let notify = request.notify_to.as_ref().unwrap();
    assert_eq!(
        notify.address,
        "HTTPS://collector:5986/wsman/subscriptions/311755C4/1"
    );
    assert_eq!(notify.reference_parameters.len(), 1);
    assert!(notify.reference_parameters[0].is(EVENTING_NS, "Identifier"));
    assert_eq!(
        request.end_to.as_ref().unwrap().reference_parameters.len(),
        1
    );
    assert_eq!(request.authentication.len(), 1);
    assert_eq!(
        request.authentication[0].issuer_thumbprints,
        ["4AB167DFCBBDA8D6225889B05937112062EA1152"]
    );
    assert_eq!(request.heartbeats, Some(Duration::from_secs(3600)));
    assert_eq!(request.connection_retry, Some((5, Duration::from_secs(60))));
    assert_eq!(request.max_time, Some(Duration::from_secs(30)));
    assert_eq!(request.max_elements, Some(20));
    assert_eq!(
        request.max_envelope_size,
        Some((512_000, EnvelopePolicy::Notify))
    );
    assert!(request.utf16);
    assert_eq!(
        request.expires,
        Some(Expires::After(Duration::from_secs(3600)))
    );
    let filter = request.filter.as_ref().unwrap();
    assert_eq!(
        filter.channels().into_iter().collect::<Vec<_>>(),
        ["Application", "Security"]
    );
    match &request.start_at {
        Some(StartAt::After(list)) => assert_eq!(list.position("Application"), Some(149_161)),
        other => panic!("expected a bookmark, got {other:?}"),
    }
    assert!(request.send_bookmarks);
    assert_eq!(request.content_format, ContentFormat::RenderedText);
    assert!(request.read_existing_events);
    assert!(
        request.ignore_channel_error,
        "a nil IgnoreChannelError option sets it"
    );
    assert_eq!(request.name.as_deref(), Some("Test"));
    assert!(
        request.compress_sldc,
        "Compression SLDC asks for SLDC deliveries"
    );
}

#[test]
fn compression_is_sldc_or_nothing() {
    assert!(!events_subscription("", "").unwrap().compress_sldc);
    // MS-WSMV 3.1.4.1.30.1: "SLDC" is the only valid value.
    let other = r#"<w:Option Name="Compression">gzip</w:Option>"#;
    assert!(matches!(
        events_subscription("", other),
        Err(SubscribeError::InvalidValue {
            element: "Compression",
            ..
        })
    ));
}

#[test]
fn pull_needs_no_notify_to_and_earliest_is_a_start() {
    let text = subscribe(
        DeliveryMode::PULL,
        "",
        "<w:Bookmark>http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest</w:Bookmark><e:Expires>2030-01-01T00:00:00Z</e:Expires>",
        "",
    );
    let request = parse_subscribe(&parsed(&text)).unwrap();
    assert_eq!(request.mode, DeliveryMode::Pull);
    assert_eq!(request.start_at, Some(StartAt::Earliest));
    assert_eq!(
        request.expires,
        Some(Expires::At(
            Timestamp::parse_system_time("2030-01-01T00:00:00Z").unwrap()
        ))
    );
    assert_eq!(request.content_format, ContentFormat::Raw);
    assert!(!request.read_existing_events);
    assert!(!request.ignore_channel_error);
}

#[test]
fn refusals_name_their_fault() {
    let bad_mode = subscribe("http://example.invalid/mode", "", "", "");
    assert!(matches!(
        parse_subscribe(&parsed(&bad_mode)),
        Err(SubscribeError::DeliveryModeUnavailable(_))
    ));
    let bad_dialect = r#"<w:Filter Dialect="http://schemas.microsoft.com/wbem/wsman/1/WQL">SELECT * FROM x</w:Filter>"#;
    assert!(matches!(
        events_subscription(bad_dialect, ""),
        Err(SubscribeError::FilterDialectUnavailable(_))
    ));
    let bad_xpath = r#"<w:Filter Dialect="http://schemas.microsoft.com/win/2004/08/events/eventquery"><QueryList><Query Id="0"><Select Path="System">*[count(System)=1]</Select></Query></QueryList></w:Filter>"#;
    assert!(matches!(
        events_subscription(bad_xpath, ""),
        Err(SubscribeError::CannotProcessFilter(_))
    ));
    for expires in ["PT0S", "tomorrow", "2030-13-01T00:00:00Z"] {
        let text = format!("<e:Expires>{expires}</e:Expires>");
        assert!(
            matches!(
                events_subscription(&text, ""),
                Err(SubscribeError::InvalidExpirationTime(_))
            ),
            "{expires}"
        );
    }
    let bad_bookmark =
        "<w:Bookmark><BookmarkList><Bookmark Channel=\"A\" RecordId=\"x\"/></BookmarkList></w:Bookmark>";
    assert!(matches!(
        events_subscription(bad_bookmark, ""),
        Err(SubscribeError::InvalidBookmark(_))
    ));
    let no_notify = subscribe(DeliveryMode::PUSH, "", "", "")
        .replace("<e:NotifyTo>", "<e:Other>")
        .replace("</e:NotifyTo>", "</e:Other>");
    assert!(matches!(
        parse_subscribe(&parsed(&no_notify)),
        Err(SubscribeError::NotifyToMissing(_))
    ));
    let bad_format = r#"<w:Option Name="ContentFormat">Binary</w:Option>"#;
    assert!(matches!(
        events_subscription("", bad_format),
        Err(SubscribeError::InvalidValue { .. })
    ));
}

fn identifier() -> Element {
    let mut e = Element::new(Some(EVENTING_NS), "Identifier");
    e.children.push(xml::Node::Text(
        "75272085-1748-4772-B742-9B757E69AB9B".to_owned(),
    ));
    e
}

#[test]
fn events_batches_carry_what_the_subscriber_asked_for() {
    let to = delivery::endpoint(
        "https://collector:5986/wsman/subscriptions/1",
        vec![identifier()],
    );
    let mut bookmark = BookmarkList::new();
    bookmark.advance("Application", 42);
    let headers = DeliveryHeaders {
        bookmark: Some(&bookmark),
        ..DeliveryHeaders::new(
            &to,
            "uuid:00000000-0000-0000-0000-000000000001",
            "uuid:00000000-0000-0000-0000-000000000002",
            "linux.example.test",
        )
    };
    let events = vec![
        "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><EventID>1</EventID></System></Event>".to_owned(),
        "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><EventData><Data>odd ]]> text</Data></EventData></Event>".to_owned(),
    ];
    let text = events_envelope(&headers, &events, Embedding::Cdata);
    assert!(
        text.contains("</w:Event><w:Event "),
        "no whitespace between events"
    );
    let request = parsed(&text);
    assert_eq!(request.action.as_deref(), Some(delivery::EVENTS_ACTION));
    assert_eq!(request.to.as_deref(), Some(to.address.as_str()));
    assert_eq!(request.message_id.as_deref(), Some(headers.message_id));
    assert!(request
        .headers
        .iter()
        .any(|h| h.is(EVENTING_NS, "Identifier")
            && h.trimmed_text() == "75272085-1748-4772-B742-9B757E69AB9B"));
    assert!(request
        .headers
        .iter()
        .any(|h| h.is(ns::WSMAN, "AckRequested")));
    let bookmark_header = request
        .headers
        .iter()
        .find(|h| h.is(ns::WSMAN, "Bookmark"))
        .expect("the bookmark header");
    let carried = BookmarkList::from_element(bookmark_header.elements().next().unwrap()).unwrap();
    assert_eq!(carried, bookmark);
    // The request's body is the first element inside s:Body.
    let batch = request.body.as_ref().unwrap();
    assert!(batch.is(ns::WSMAN, "Events"));
    let carried: Vec<String> = batch.elements().map(|e| e.text()).collect();
    assert_eq!(
        carried, events,
        "each event arrives byte for byte, ]]> included"
    );

    // UTF-16LE with a byte-order mark, as Windows collectors ask.
    let (bytes, content_type) = delivery::encode(&text, true);
    assert_eq!(&bytes[..2], &[0xFF, 0xFE]);
    assert!(content_type.ends_with("charset=UTF-16"));
    let (decoded, _) = charset::decode(&bytes, Some("UTF-16")).unwrap();
    assert_eq!(decoded, text);

    let heartbeat = parsed(&heartbeat_envelope(&DeliveryHeaders {
        bookmark: None,
        ..headers.clone()
    }));
    assert_eq!(
        heartbeat.action.as_deref(),
        Some(delivery::HEARTBEAT_ACTION)
    );
    assert!(heartbeat
        .body
        .as_ref()
        .is_some_and(|e| e.is(ns::WSMAN, "Events") && e.is_empty()));

    let manager = delivery::endpoint("http://linux:5985/wsman", vec![identifier()]);
    let end = parsed(&subscription_end_envelope(
        &headers,
        &manager,
        EndStatus::SourceShuttingDown,
        "wsmand is stopping <now>",
    ));
    let end_body = end.body.as_ref().unwrap();
    assert!(end_body.is(EVENTING_NS, "SubscriptionEnd"));
    assert_eq!(
        end_body.child(EVENTING_NS, "Status").unwrap().text(),
        EndStatus::SourceShuttingDown.uri()
    );
    assert_eq!(
        end_body.child(EVENTING_NS, "Reason").unwrap().text(),
        "wsmand is stopping <now>"
    );

    let ack = parsed(&ack_envelope(
        headers.message_id,
        "uuid:00000000-0000-0000-0000-000000000003",
    ));
    // An acknowledgement: action Ack, RelatesTo the delivery's message id.
    assert_eq!(ack.action.as_deref(), Some(delivery::ACK_ACTION));
    let relates_to = ack
        .headers
        .iter()
        .find(|h| h.is(ns::ADDRESSING, "RelatesTo"));
    assert_eq!(
        relates_to.map(Element::trimmed_text).as_deref(),
        Some(headers.message_id)
    );
}

/// DSP0226's `wst:IssuedTokens` header: the subscriber's certificate thumbprint for NotifyTo.
fn issued_tokens(thumbprint: &str, applies_to: &str) -> String {
    format!(
        r#"<wst:IssuedTokens xmlns:wst="http://schemas.xmlsoap.org/ws/2005/02/trust" xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy" s:mustUnderstand="true"><wst:RequestSecurityTokenResponse><wst:TokenType>http://schemas.dmtf.org/wbem/wsman/1/wsman/token/certificateThumbprint</wst:TokenType><wst:RequestedSecurityToken><w:CertificateThumbprint>{thumbprint}</w:CertificateThumbprint></wst:RequestedSecurityToken><wsp:AppliesTo><a:EndpointReference><a:Address>{applies_to}</a:Address></a:EndpointReference></wsp:AppliesTo></wst:RequestSecurityTokenResponse></wst:IssuedTokens></s:Header>"#
    )
}

#[test]
fn the_subscribers_certificate_and_the_client_certificate_are_named() {
    let notify_to = "HTTPS://collector:5986/wsman/subscriptions/311755C4/1";
    let text = subscribe(DeliveryMode::EVENTS, "", FILTER, "")
        .replace(
            r#"<auth:Thumbprint Role="issuer">4ab167dfcbbda8d6225889b05937112062ea1152</auth:Thumbprint>"#,
            r#"<auth:Thumbprint Role="issuer">4ab167dfcbbda8d6225889b05937112062ea1152</auth:Thumbprint><auth:Thumbprint>00112233445566778899aabbccddeeff00112233</auth:Thumbprint>"#,
        )
        .replacen(
            "</s:Header>",
            &issued_tokens("ab cd ef 01 23 45 67 89 ab cd ef 01 23 45 67 89 ab cd ef 01", notify_to),
            1,
        );
    let request = parse_subscribe(&parsed(&text)).expect("a valid subscription");
    let profile = &request.authentication[0];
    assert_eq!(
        profile.issuer_thumbprints,
        ["4AB167DFCBBDA8D6225889B05937112062EA1152"]
    );
    assert_eq!(
        profile.certificate_thumbprints,
        ["00112233445566778899AABBCCDDEEFF00112233"],
        "a Thumbprint without Role names the certificate (MS-WSMV 2.2.4.1)"
    );
    assert_eq!(
        profile.subscriber_thumbprint.as_deref(),
        Some("ABCDEF0123456789ABCDEF0123456789ABCDEF01")
    );

    // A token for another address is not the subscriber's; a malformed one is refused.
    let other = subscribe(DeliveryMode::EVENTS, "", FILTER, "").replacen(
        "</s:Header>",
        &issued_tokens(&"AB".repeat(20), "https://other/"),
        1,
    );
    let request = parse_subscribe(&parsed(&other)).expect("a valid subscription");
    assert_eq!(request.authentication[0].subscriber_thumbprint, None);
    let bad = subscribe(DeliveryMode::EVENTS, "", FILTER, "").replacen(
        "</s:Header>",
        &issued_tokens("not-hex", notify_to),
        1,
    );
    assert!(matches!(
        parse_subscribe(&parsed(&bad)),
        Err(SubscribeError::InvalidValue { .. })
    ));
}

/// A thumbprint of the policy names a file of the source's `certs/`: anything but 40
/// hexadecimal digits (a path, a short or long value) is refused at Subscribe.
#[test]
fn issuer_and_certificate_thumbprints_must_be_40_hex_digits() {
    const ISSUER: &str = r#"<auth:Thumbprint Role="issuer">4ab167dfcbbda8d6225889b05937112062ea1152</auth:Thumbprint>"#;
    for bad in [
        "../../../../etc/ssl/private/host",
        "4ab167dfcbbda8d6225889b05937112062ea115",
        "4ab167dfcbbda8d6225889b05937112062ea11522",
        "4ab167dfcbbda8d6225889b05937112062ea115g",
        "",
    ] {
        for role in [r#" Role="issuer""#, ""] {
            let text = subscribe(DeliveryMode::EVENTS, "", FILTER, "").replace(
                ISSUER,
                &format!("<auth:Thumbprint{role}>{bad}</auth:Thumbprint>"),
            );
            assert!(
                matches!(
                    parse_subscribe(&parsed(&text)),
                    Err(SubscribeError::InvalidValue {
                        element: "auth:Thumbprint",
                        ..
                    })
                ),
                "{bad:?} (role {role:?})"
            );
        }
    }
}

#[test]
fn dsp0226_names_the_profile_with_w_auth() {
    let text = subscribe(
        DeliveryMode::EVENTS,
        r#"<w:Auth Profile="http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos"/>"#,
        FILTER,
        "",
    )
    .replace(
        &text_between(&subscribe(DeliveryMode::EVENTS, "", FILTER, ""), "<c:Policy", "</c:Policy>"),
        "",
    );
    let request = parse_subscribe(&parsed(&text)).expect("a valid subscription");
    assert_eq!(request.authentication.len(), 1);
    assert!(request.authentication[0]
        .profile
        .ends_with("/http/spnego-kerberos"));
}

/// `text` from the start of `from` to the end of `to`.
fn text_between(text: &str, from: &str, to: &str) -> String {
    let start = text.find(from).expect("start");
    let end = text[start..].find(to).expect("end") + start + to.len();
    text[start..end].to_owned()
}
