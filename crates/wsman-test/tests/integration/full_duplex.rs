//! The full-duplex messages of MS-WSMV 4.11.1, the specification's own example requests as
//! input: the `InteractiveResponse` a client sends on its secondary connection is answered with
//! HTTP 200 and an empty body, the `End` with HTTP 200, an empty body and the connection
//! closed (4.11.1: "responds with HTTP status 200 and an empty HTTP body and then closes the
//! secondary connection"). An `InteractiveResponse` that breaks its schema (2.2.4.48) is
//! refused with `w:SchemaValidationError`.

use wsman_test::http::Response;
use wsman_test::Fixture;

use super::cim_corpus::recorded;
use super::expect_fault;

fn assert_empty_200(r: &Response) {
    assert_eq!(r.status, 200, "{}", r.describe());
    assert!(r.body.is_empty(), "{}", r.describe());
    assert_eq!(r.header("Content-Length"), Some("0"), "{}", r.describe());
}

#[test]
fn end_is_answered_with_an_empty_200_and_the_connection_closed() {
    let f = Fixture::http();
    let r = f.post(&recorded("fullduplex/end.ms-wsmv-4.11.1.request.xml"));
    assert_empty_200(&r);
    assert_eq!(r.header("Connection"), Some("close"), "{}", r.describe());
}

#[test]
fn interactive_response_is_answered_with_an_empty_200() {
    let f = Fixture::http();
    let request = recorded("fullduplex/interactive-response.ms-wsmv-4.11.1.request.xml");
    let r = f.post(&request);
    assert_empty_200(&r);
    assert_ne!(r.header("Connection"), Some("close"), "{}", r.describe());
    // The same message with an answer its schema does not have.
    let bad = request.replace(
        "<i:Response>yes</i:Response>",
        "<i:Response>maybe</i:Response>",
    );
    assert_ne!(bad, request);
    expect_fault(&f.post(&bad), "SchemaValidationError");
}
