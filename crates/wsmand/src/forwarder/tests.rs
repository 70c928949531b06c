use super::*;

#[test]
fn the_policy_value_is_read_as_group_policy_writes_it() {
    let (server, refresh, issuer) = parse_policy_value(
        "Server=https://wec.example.com:5986/wsman/SubscriptionManager/WEC,Refresh=120,IssuerCA=AB 12 ab12ab12ab12ab12ab12ab12ab12ab12ab12",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        server,
        "https://wec.example.com:5986/wsman/SubscriptionManager/WEC"
    );
    assert_eq!(refresh, Duration::from_secs(120));
    assert_eq!(
        issuer.as_deref(),
        Some("ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12")
    );
    let (_, refresh, issuer) = parse_policy_value("https://wec/wsman/SubscriptionManager/WEC")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (refresh, issuer),
        (Duration::from_secs(DEFAULT_REFRESH), None)
    );
}

/// Our Enumerate with the per-message values of a Windows one (`value` of a header's
/// local name: To, MachineID, MessageID, SessionId, OperationID).
fn enumerate_with(value: impl Fn(&str) -> String) -> (wsman_proto::request::RequestHeader, String) {
    let client = Client::new(
        Endpoint::parse(&value("To"), false).unwrap_or_else(|e| panic!("{e}")),
        ClientOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (mut request, body) = enumerate_request(&client, &value("MachineID"));
    request.to = value("To");
    request.message_id = value("MessageID");
    request.session_id = Some(value("SessionId"));
    request.operation_id = Some(value("OperationID"));
    (request, body)
}

/// Our Enumerate of a subscription manager against the one a Windows forwarder sends
/// (the transcription in wsman-events' fixtures): the same header set in the same order
/// with the same attributes, and the same body. Values that are per message (ids, the
/// address, the machine) are taken from the Windows message.
#[test]
fn the_enumerate_has_the_windows_forwarders_shape() {
    use wsman_proto::xml::{parse, Element, Limits};
    let fixture = include_str!(
        "../../../wsman-events/tests/fixtures/windows-forwarder/enumerate.request.xml"
    );
    let windows = parse(
        fixture.split_once('\n').map_or("", |(_, m)| m),
        &Limits::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    type HeaderEntry = (Option<String>, String, Vec<(String, String)>, String);
    let header = |e: &Element| -> Vec<HeaderEntry> {
        e.elements()
            .find(|h| h.name == "Header")
            .map(|h| {
                h.elements()
                    .map(|c| {
                        let mut attributes: Vec<(String, String)> = c
                            .attributes
                            .iter()
                            .map(|a| (a.name.clone(), a.value.clone()))
                            .collect();
                        attributes.sort();
                        (c.ns.clone(), c.name.clone(), attributes, c.trimmed_text())
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let windows_header = header(&windows);
    let value = |name: &str| {
        windows_header
            .iter()
            .find(|h| h.1 == name)
            .map(|h| h.3.clone())
            .unwrap_or_else(|| panic!("{name}"))
    };
    let (request, body) = enumerate_with(|name| value(name));
    let ours = parse(
        &wsman_proto::request::envelope(&request, &body),
        &Limits::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(header(&ours), windows_header);
    let body_of = |e: &Element| {
        e.elements()
            .find(|b| b.name == "Body")
            .and_then(|b| b.elements().next())
            .map(|b| {
                b.elements()
                    .map(|c| (c.ns.clone(), c.name.clone(), c.trimmed_text()))
                    .collect::<Vec<_>>()
            })
    };
    assert_eq!(body_of(&ours), body_of(&windows));
}

/// Our Enumerate on the wire against the bytes a Windows forwarder sent (openwec's
/// `doc/protocol.md`, copied into wsman-events' fixtures, provenance in their README):
/// built with the per-message values of the capture, the same framing (UTF-16LE with a
/// byte-order mark, `charset=UTF-16`, no XML declaration, nothing after the envelope) and,
/// from `<s:Header>` on, the same text but for the space Windows writes before `/>`. The
/// Envelope's namespace declarations differ (ours declare the prefixes every request of
/// ours may use); no reader can tell.
#[test]
fn the_enumerate_goes_on_the_wire_as_the_windows_capture() {
    let captured = include_bytes!(
        "../../../wsman-events/tests/fixtures/windows-forwarder/enumerate.captured.utf16.xml"
    );
    let text = wsman_proto::charset::decode(captured, Some("UTF-16"))
        .unwrap_or_else(|e| panic!("{e}"))
        .0;
    let value = |name: &str| {
        let from = text
            .find(&format!("<{name}"))
            .unwrap_or_else(|| panic!("{name}"));
        let rest = &text[from..];
        let start = rest.find('>').map_or(0, |i| i + 1);
        rest[start..].split('<').next().unwrap_or("").to_owned()
    };
    let prefixed = |name: &str| {
        let prefix = match name {
            "To" | "MessageID" => "a",
            "MachineID" => "m",
            _ => "p",
        };
        value(&format!("{prefix}:{name}"))
    };
    let (request, body) = enumerate_with(prefixed);
    let (bytes, content_type) = enumerate_wire(&request, &body);
    assert_eq!(content_type, "application/soap+xml;charset=UTF-16");
    assert_eq!(&bytes[..4], b"\xff\xfe<\0");
    let ours = wsman_proto::charset::decode(&bytes, Some("UTF-16"))
        .unwrap_or_else(|e| panic!("{e}"))
        .0;
    assert!(ours.starts_with("<s:Envelope "), "{ours}");
    assert!(ours.ends_with("</s:Envelope>"), "{ours}");
    let from_header = |t: &str| {
        t.split_once("<s:Header>")
            .map(|(_, rest)| rest.replace("\" />", "\"/>"))
            .unwrap_or_default()
    };
    assert_eq!(from_header(&ours), from_header(&text));
    assert!(!from_header(&text).is_empty());
}

#[test]
fn bad_configurations_are_refused_with_the_reason() {
    let refused = |text: &str| match parse(text) {
        Ok(config) => panic!("accepted: {config:?}"),
        Err(e) => format!("{e:#}"),
    };
    assert!(refused("").contains("no [[collector]]"));
    assert!(refused("[[collector]]\nserver = \"Server=https://c/wsman,Refresh=0\"\nauthentication = \"basic\"\nusername = \"u\"\npassword_file = \"/p\"").contains("Refresh=0"));
    assert!(refused("[[collector]]\nserver = \"Server=https://c/wsman,IssuerCA=xyz\"\nauthentication = \"certificate\"\ncertificate = \"/c\"\nkey = \"/k\"").contains("IssuerCA"));
    assert!(refused("[[collector]]\nserver = \"Server=http://c/wsman\"\nauthentication = \"basic\"\nusername = \"u\"\npassword_file = \"/p\"").contains("clear"));
    assert!(refused("[[collector]]\nserver = \"Server=http://c/wsman\"\nauthentication = \"certificate\"\ncertificate = \"/c\"\nkey = \"/k\"").contains("https"));
    assert!(refused("[[collector]]\nserver = \"Server=https://c/wsman,Colour=red\"\nauthentication = \"basic\"\nusername = \"u\"\npassword_file = \"/p\"").contains("unknown setting"));
    assert!(refused(
        "[[collector]]\nserver = \"Server=https://c/wsman\"\nauthentication = \"ntlm\""
    )
    .contains("unknown authentication"));
    assert!(refused("colour = 1").contains("colour"));
}
