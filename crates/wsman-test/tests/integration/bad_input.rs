//! The "Bad input" list, sent with curl where curl can express it. Each test also checks
//! that the daemon still serves afterwards: never a panic, a hang or a crash.

use wsman_proto::ns;
use wsman_test::http::{curl_post, Connection};
use wsman_test::{soap, Fixture, SERVICE_ACCOUNT, SERVICE_PASSWORD};

use crate::expect_fault;

const SOAP_XML: &str = "application/soap+xml;charset=UTF-8";

fn curl(fixture: &Fixture, body: &[u8]) -> wsman_test::http::Response {
    curl_to(fixture, "/wsman", SOAP_XML, body)
}

/// POSTs `body` as `content_type` to `path` with the service account, by curl.
fn curl_to(
    fixture: &Fixture,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> wsman_test::http::Response {
    let outcome = curl_post(
        &format!("http://127.0.0.1:{}{path}", fixture.port),
        Some((SERVICE_ACCOUNT, SERVICE_PASSWORD)),
        content_type,
        body,
        &[],
    );
    assert_eq!(outcome.exit_code, 0, "curl failed: {}", outcome.stderr);
    outcome.response
}

/// Sends `body` and checks that it is refused with the fault `subcode` carrying `wsman_code`.
fn expect_coded_fault(fixture: &Fixture, body: &str, subcode: &str, wsman_code: &str) {
    let response = curl(fixture, body.as_bytes());
    let fault = expect_fault(&response, subcode);
    assert_eq!(fault.wsman_code.as_deref(), Some(wsman_code));
}

/// Runs `test` against a daemon of its own, then checks that the daemon still serves: bad
/// input never panics, hangs or crashes it.
fn still_serving_after(test: impl FnOnce(&Fixture)) {
    let mut fixture = Fixture::http();
    test(&fixture);
    fixture.assert_still_serving();
}

/// A hostile body may be refused as a bad request or as a fault, nothing else.
fn assert_refused(response: &wsman_test::http::Response, why: &str) {
    assert!(
        response.status == 400 || response.status == 500,
        "{why}: {}",
        response.describe()
    );
}

#[test]
fn malformed_xml_is_400_with_no_fault() {
    still_serving_after(|fixture| {
        for body in [
            &b"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body>"[..],
            b"this is not xml",
            b"<a><b></a></b>",
            b"\xff\xfe\xff",
        ] {
            let response = curl(fixture, body);
            assert_eq!(response.status, 400, "{}", response.describe());
        }
    });
}

#[test]
fn soap_1_1_envelope_is_version_mismatch() {
    still_serving_after(|fixture| {
        let body = format!(
            "<e:Envelope xmlns:e=\"{}\"><e:Header/><e:Body><x/></e:Body></e:Envelope>",
            ns::SOAP11
        );
        let response = curl(fixture, body.as_bytes());
        assert_eq!(response.status, 500, "{}", response.describe());
        let fault = soap::fault(&response.text())
            .unwrap_or_else(|| panic!("not a fault:\n{}", response.describe()));
        assert_eq!(fault.code, "VersionMismatch", "{}", response.describe());
    });
}

#[test]
fn unknown_action_is_action_not_supported() {
    let fixture = Fixture::http();
    let body = soap::request(
        "http://schemas.example.invalid/NoSuchAction",
        soap::CONFIG_URI,
        &[],
        "",
    );
    expect_coded_fault(&fixture, &body, "ActionNotSupported", "2150858771");
}

#[test]
fn missing_action_is_message_information_header_required() {
    // The reference (wsman-protocol.md §2.2): a missing Action is
    // a:MessageInformationHeaderRequired; an unknown one is a:ActionNotSupported.
    let fixture = Fixture::http();
    let body = soap::get(soap::CONFIG_URI, &[]).replace(
        &format!(
            "<a:Action s:mustUnderstand=\"true\">{}</a:Action>",
            ns::action::GET
        ),
        "",
    );
    assert!(!body.contains("Action"), "the test must remove the Action");
    let response = curl(&fixture, body.as_bytes());
    expect_fault(&response, "MessageInformationHeaderRequired");
}

#[test]
fn unknown_resource_uri_is_destination_unreachable() {
    let fixture = Fixture::http();
    let body = soap::get(
        "http://schemas.microsoft.com/wbem/wsman/1/config/nosuchthing",
        &[],
    );
    expect_coded_fault(&fixture, &body, "DestinationUnreachable", "2150858770");
}

#[test]
fn bad_selectors_are_invalid_selectors() {
    let fixture = Fixture::http();
    // A listener is addressed by Address and Transport: one alone is not enough, and an unknown
    // selector is refused.
    for selectors in [
        vec![("Address", "*")],
        vec![("Address", "*"), ("Transport", "HTTP"), ("Colour", "blue")],
    ] {
        let response = curl(
            &fixture,
            soap::get(soap::LISTENER_URI, &selectors).as_bytes(),
        );
        expect_fault(&response, "InvalidSelectors");
    }
    // A well-formed selector set for a listener that does not exist is refused too.
    let response = curl(
        &fixture,
        soap::get(
            soap::LISTENER_URI,
            &[("Address", "IP:10.9.8.7"), ("Transport", "HTTPS")],
        )
        .as_bytes(),
    );
    assert_eq!(response.status, 500, "{}", response.describe());
}

#[test]
fn selectors_on_a_singleton_config_resource_are_unexpected() {
    // wsman-protocol.md §2.4: an unknown selector key is w:InvalidSelectors
    // (UnexpectedSelectors, 2150858843). winrm/config takes no selectors at all.
    let fixture = Fixture::http();
    expect_coded_fault(
        &fixture,
        &soap::get(soap::CONFIG_URI, &[("Name", "x")]),
        "InvalidSelectors",
        "2150858843",
    );
}

#[test]
fn body_over_max_envelope_size_is_413_before_buffering() {
    still_serving_after(|fixture| {
        // A Content-Length far beyond any buffer, with only a few bytes sent: a 413 that arrives
        // now proves the limit is checked before the body is read.
        let mut connection = fixture.connect();
        connection
            .send_head(Some(&fixture.service_auth()), 10_000_000_000, &[])
            .expect("send head");
        connection
            .send_raw(b"<s:Envelope")
            .expect("send a few bytes");
        let response = connection.read_response().expect("413 without the body");
        assert_eq!(response.status, 413, "{}", response.describe());

        // Just over the default 500 KB, sent in full with curl.
        let mut big = soap::identify();
        big.insert_str(
            big.find("<s:Body>").expect("identify has a body"),
            &format!("<!--{}-->", "x".repeat(500 * 1024)),
        );
        let response = curl(fixture, big.as_bytes());
        assert_eq!(response.status, 413, "{}", response.describe());

        // Unauthenticated: still 413 (size comes before authentication), never a parse.
        let outcome = curl_post(&fixture.url(), None, SOAP_XML, big.as_bytes(), &[]);
        assert_eq!(outcome.response.status, 413, "{outcome:?}");
    });
}

#[test]
fn smaller_max_envelope_size_is_enforced() {
    let mut fixture = Fixture::http_setting("Config", "MaxEnvelopeSizekb", "32");
    let padded = soap::identify().replace(
        "<s:Header/>",
        &format!("<s:Header><!--{}--></s:Header>", "y".repeat(40 * 1024)),
    );
    let response = curl(&fixture, padded.as_bytes());
    assert_eq!(response.status, 413, "{}", response.describe());
    fixture.assert_still_serving();
}

#[test]
fn deeply_nested_xml_is_refused_bounded() {
    still_serving_after(|fixture| {
        let depth = 50_000;
        let nested = format!("{}{}", "<x>".repeat(depth), "</x>".repeat(depth));
        let body = soap::request(ns::action::GET, soap::CONFIG_URI, &[], &nested);
        let response = curl(fixture, body.as_bytes());
        assert_refused(&response, "deep nesting must be refused");
    });
}

#[test]
fn huge_attributes_are_bounded() {
    still_serving_after(|fixture| {
        // One huge attribute value (within the size limit): parsed or refused, never a crash.
        let huge_value = format!("<x big=\"{}\"/>", "a".repeat(400 * 1024));
        let body = soap::request(ns::action::GET, soap::CONFIG_URI, &[], &huge_value);
        let response = curl(fixture, body.as_bytes());
        assert!(
            [200, 400, 500].contains(&response.status),
            "{}",
            response.describe()
        );
        // Thousands of attributes on one element: refused.
        let many: String = (0..5_000).map(|i| format!(" a{i}=\"v\"")).collect();
        let body = soap::request(
            ns::action::GET,
            soap::CONFIG_URI,
            &[],
            &format!("<x{many}/>"),
        );
        let response = curl(fixture, body.as_bytes());
        assert_refused(&response, "too many attributes must be refused");
    });
}

#[test]
fn doctype_and_entities_are_refused() {
    still_serving_after(|fixture| {
        let body = format!(
            "<?xml version=\"1.0\"?><!DOCTYPE lol [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]>{}",
            soap::identify()
        );
        let response = curl(fixture, body.as_bytes());
        assert_refused(&response, "a DOCTYPE must be refused");
    });
}

#[test]
fn a_request_without_content_type_is_read_as_soap() {
    // python-dracclient sends every request without a Content-Type (iDRACs accept that).
    let fixture = Fixture::http();
    let body = soap::identify();
    let mut connection = fixture.connect();
    let request = format!(
        "POST /wsman HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {}\r\nContent-Length: {}\r\n\r\n{body}",
        wsman_test::http::basic_auth(SERVICE_ACCOUNT, SERVICE_PASSWORD),
        body.len()
    );
    connection.send_raw(request.as_bytes()).expect("send");
    let response = connection.read_response().expect("response");
    assert_eq!(response.status, 200, "{}", response.describe());
    assert!(
        response.text().contains("IdentifyResponse"),
        "{}",
        response.describe()
    );
}

#[test]
fn wrong_content_type_and_method_are_refused() {
    still_serving_after(|fixture| {
        let identify = soap::identify();
        let response = curl_to(fixture, "/wsman", "text/plain", identify.as_bytes());
        assert_eq!(response.status, 415, "{}", response.describe());
        let mut connection = fixture.connect();
        connection
            .send_raw(b"GET /wsman HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .expect("send");
        let response = connection.read_response().expect("response");
        assert_eq!(response.status, 405, "{}", response.describe());
        let response = curl_to(fixture, "/not-wsman", SOAP_XML, identify.as_bytes());
        assert_eq!(response.status, 404, "{}", response.describe());
    });
}

#[test]
fn garbage_before_http_does_not_hurt_the_service() {
    still_serving_after(|fixture| {
        let mut connection = Connection::open(fixture.port).expect("connect");
        connection
            .send_raw(b"\x16\x03\x01\x00\xa5garbage that is not HTTP\r\n\r\n")
            .expect("send");
        // Either a 400 or a close; what matters is that other clients are unaffected.
        let _ = connection.read_response();
    });
}

#[test]
fn utf16_request_is_answered_in_utf16() {
    let fixture = Fixture::http();
    let mut body = vec![0xFF, 0xFE];
    for unit in soap::get(soap::CONFIG_URI, &[]).encode_utf16() {
        body.extend_from_slice(&unit.to_le_bytes());
    }
    let response = curl_to(
        &fixture,
        "/wsman",
        "application/soap+xml;charset=UTF-16",
        &body,
    );
    assert_eq!(response.status, 200, "{}", response.describe());
    assert!(
        response.body.starts_with(&[0xFF, 0xFE]),
        "a UTF-16 request is answered in UTF-16 with a BOM"
    );
    assert!(response
        .header("content-type")
        .is_some_and(|v| v.to_ascii_uppercase().contains("UTF-16")));
}

#[test]
fn unknown_must_understand_header_is_a_must_understand_fault() {
    still_serving_after(|fixture| {
        let body = soap::get(soap::CONFIG_URI, &[]).replace(
            "<s:Header>",
            "<s:Header><x:Unknown xmlns:x=\"urn:example:unknown\" s:mustUnderstand=\"true\">1</x:Unknown>",
        );
        let response = curl(fixture, body.as_bytes());
        assert_eq!(response.status, 500, "{}", response.describe());
        let fault = soap::fault(&response.text())
            .unwrap_or_else(|| panic!("not a fault:\n{}", response.describe()));
        assert_eq!(fault.code, "MustUnderstand", "{}", response.describe());
        // The same header without mustUnderstand is ignored.
        let body = soap::get(soap::CONFIG_URI, &[]).replace(
            "<s:Header>",
            "<s:Header><x:Unknown xmlns:x=\"urn:example:unknown\">1</x:Unknown>",
        );
        assert_eq!(curl(fixture, body.as_bytes()).status, 200);
    });
}

#[test]
fn chunked_body_over_the_limit_is_cut_off_with_413() {
    let mut fixture = Fixture::http_setting("Config", "MaxEnvelopeSizekb", "32");
    let mut connection = fixture.connect();
    let head = format!(
        "POST /wsman HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nAuthorization: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        fixture.service_auth()
    );
    connection.send_raw(head.as_bytes()).expect("send head");
    // 33 chunks of 1 KiB: just past the 32 KiB limit, so that little is left unread when the
    // server answers and closes. Write errors after its answer are expected and ignored.
    let chunk = format!("400\r\n{}\r\n", "z".repeat(1024));
    for _ in 0..33 {
        if connection.send_raw(chunk.as_bytes()).is_err() {
            break;
        }
    }
    let _ = connection.send_raw(b"0\r\n\r\n");
    let response = connection
        .read_response()
        .expect("a response to the chunked body");
    assert_eq!(response.status, 413, "{}", response.describe());
    fixture.assert_still_serving();
}
