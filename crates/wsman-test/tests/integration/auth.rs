//! Identify and Basic authentication: service accounts, PAM accounts, challenges, logging.

use wsman_proto::ns;
use wsman_test::http::{basic_auth, curl_https_identify, curl_post, Connection, Response};
use wsman_test::{pam_credentials, soap, Fixture, SERVICE_ACCOUNT, SERVICE_PASSWORD};

use crate::expect_fault;

#[test]
fn authenticated_identify_reports_product_and_security_profiles() {
    let fixture = Fixture::http();
    let response = fixture.identify();
    assert_eq!(response.status, 200, "{}", response.describe());
    let body = response.text();
    assert_eq!(
        soap::find_text(&body, "ProtocolVersion").as_deref(),
        Some(ns::WSMAN)
    );
    let version = soap::find_text(&body, "ProductVersion").unwrap_or_default();
    assert!(version.contains("Stack: 3.0"), "ProductVersion {version:?}");
    assert!(
        body.contains(ns::secprofile::HTTP_BASIC),
        "SecurityProfiles should list http/basic:\n{body}"
    );
    assert!(response
        .header("content-type")
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/soap+xml")));
}

/// The body of a 200 answer to an Identify with `WSMANIDENTIFY: unauthenticated`.
fn unauthenticated_identify(connection: &mut Connection) -> String {
    let response = connection
        .post_with(
            None,
            soap::identify().as_bytes(),
            &[("WSMANIDENTIFY", "unauthenticated")],
        )
        .expect("response");
    assert_eq!(response.status, 200, "{}", response.describe());
    response.text()
}

/// Asserts that `auth` may Identify, then answers its Get of `winrm/config`.
fn identify_then_get_config(port: u16, auth: &str) -> Response {
    let response = wsman_test::http::post(port, Some(auth), soap::identify().as_bytes());
    assert_eq!(response.status, 200, "{}", response.describe());
    wsman_test::http::post(
        port,
        Some(auth),
        soap::get(soap::CONFIG_URI, &[]).as_bytes(),
    )
}

#[test]
fn unauthenticated_identify_needs_the_header_and_hides_security_profiles() {
    let fixture = Fixture::http();
    let mut connection = fixture.connect();
    let body = unauthenticated_identify(&mut connection);
    assert!(body.contains("IdentifyResponse"), "{body}");
    assert!(!body.contains("SecurityProfiles"), "{body}");
    let version = soap::find_text(&body, "ProductVersion").unwrap_or_default();
    assert!(
        version.starts_with("OS: 0.0.0"),
        "ProductVersion {version:?}"
    );

    // The same request without the header is an ordinary unauthenticated request.
    let response = connection
        .post(None, soap::identify().as_bytes())
        .expect("response");
    assert_eq!(response.status, 401, "{}", response.describe());
}

#[test]
fn unauthenticated_identify_matches_recorded_windows_answer() {
    // Golden: the unauthenticated Identify answer recorded from Windows Server 2012 R2 (see the
    // fixture README in wsman-proto), with only ProductVendor swapped for ours.
    const RECORDED: &str = include_str!(
        "../../../wsman-proto/tests/fixtures/windows/identify/identify.response.anonymous.server2012r2.xml"
    );
    let fixture = Fixture::http();
    let mut connection = fixture.connect();
    let body = unauthenticated_identify(&mut connection);
    let vendor = soap::find_text(&body, "ProductVendor").unwrap_or_default();
    let expected = RECORDED.replace("Microsoft Corporation", &vendor);
    wsman_test::xmlnorm::assert_same_xml(&body, &expected);
}

#[test]
fn missing_credentials_get_a_basic_challenge_and_the_connection_stays_open() {
    let fixture = Fixture::http();
    let mut connection = fixture.connect();
    let body = soap::get(soap::CONFIG_URI, &[]);
    let response = connection.post(None, body.as_bytes()).expect("response");
    assert_eq!(response.status, 401, "{}", response.describe());
    // Negotiate (on by default, as on Windows) first, then Basic; one header each.
    assert_eq!(
        response.headers_named("www-authenticate"),
        vec!["Negotiate", "Basic realm=\"WSMAN\""],
        "{}",
        response.describe()
    );
    assert_eq!(response.header("content-length"), Some("0"));
    // Same connection, now with credentials.
    let response = connection
        .post(Some(&fixture.service_auth()), body.as_bytes())
        .expect("the connection must still be open after a 401");
    assert_eq!(response.status, 200, "{}", response.describe());
}

#[test]
fn relates_to_echoes_the_message_id() {
    let fixture = Fixture::http();
    let response = fixture.post(&soap::get(soap::CONFIG_URI, &[]));
    assert_eq!(response.status, 200, "{}", response.describe());
    assert_eq!(
        soap::relates_to(&response.text()).as_deref(),
        Some(soap::MESSAGE_ID)
    );
    assert_eq!(
        soap::find_text(&response.text(), "MaxEnvelopeSizekb").as_deref(),
        Some("500")
    );
}

#[test]
fn wrong_password_is_401_logged_with_address_and_never_the_password() {
    let fixture = Fixture::http();
    let wrong_password = "Wrong-Pass-7f3a9c";
    let outcome = curl_post(
        &fixture.url(),
        Some((SERVICE_ACCOUNT, wrong_password)),
        "application/soap+xml;charset=UTF-8",
        soap::identify().as_bytes(),
        &[],
    );
    assert_eq!(outcome.response.status, 401, "{outcome:?}");
    assert!(!outcome
        .response
        .headers_named("www-authenticate")
        .is_empty());

    // The same on a connection whose address we know, to find its log line.
    let mut connection = fixture.connect();
    let remote = connection.stream().local_addr().expect("local address");
    let response = connection
        .post(
            Some(&basic_auth(SERVICE_ACCOUNT, wrong_password)),
            soap::identify().as_bytes(),
        )
        .expect("response");
    assert_eq!(response.status, 401, "{}", response.describe());
    // The right password afterwards works, so the failure was the password.
    assert_eq!(fixture.identify().status, 200);

    let log = fixture.daemon.stderr();
    assert!(
        log.lines()
            .any(|l| l.contains(&remote.to_string()) && l.contains(SERVICE_ACCOUNT)),
        "the failed login must be logged with the remote address {remote} and the user:\n{log}"
    );
    for secret in [
        wrong_password.to_owned(),
        SERVICE_PASSWORD.to_owned(),
        basic_auth(SERVICE_ACCOUNT, wrong_password),
        basic_auth(SERVICE_ACCOUNT, SERVICE_PASSWORD),
    ] {
        let token = secret.trim_start_matches("Basic ");
        assert!(!log.contains(token), "the log contains a secret:\n{log}");
    }
}

/// Once seen in CI, under a loaded suite and not reproduced since: the connection closed
/// before any answer. The daemon logs its connections' ends (debug) for this test, and a
/// failure says whether the daemon was still running, so a recurrence names the cause (the
/// daemon's log follows the panic).
#[test]
fn unknown_user_is_401() {
    let mut fixture = Fixture::http_with_env(|_| {}, &[("RUST_LOG", "info,wsman_front=debug")]);
    let answer = fixture.connect().post(
        Some(&basic_auth("no-such-user-x9", "whatever")),
        soap::identify().as_bytes(),
    );
    let response = match answer {
        Ok(response) => response,
        Err(error) => panic!(
            "no answer: {error}; the daemon is {}",
            if fixture.daemon.is_running() {
                "still running"
            } else {
                "gone"
            }
        ),
    };
    assert_eq!(response.status, 401, "{}", response.describe());
}

#[test]
fn basic_over_http_needs_allow_unencrypted() {
    let fixture = Fixture::http_setting("Config.Service", "AllowUnencrypted", "false");
    let response = fixture.identify();
    assert_eq!(response.status, 401, "{}", response.describe());
}

#[test]
fn service_account_without_run_as_may_identify_but_not_read_config() {
    let fixture = Fixture::http();
    fixture
        .config
        .add_account("plain-svc", "Plain-Pass-123", None);
    let auth = basic_auth("plain-svc", "Plain-Pass-123");
    let response = identify_then_get_config(fixture.port, &auth);
    let fault = expect_fault(&response, "AccessDenied");
    assert_eq!(fault.wsman_code.as_deref(), Some("5"));
}

#[test]
fn pam_administrator_can_read_config() {
    let Some((user, password)) = pam_credentials() else {
        return;
    };
    let fixture = Fixture::http();
    let auth = basic_auth(&user, &password);
    let mut connection = fixture.connect();
    let response = connection
        .post(Some(&auth), soap::identify().as_bytes())
        .expect("response");
    assert_eq!(response.status, 200, "{}", response.describe());
    // Second request on the same connection: authenticated from the per-connection cache.
    let response = connection
        .post(Some(&auth), soap::get(soap::CONFIG_URI, &[]).as_bytes())
        .expect("response");
    assert_eq!(response.status, 200, "{}", response.describe());
    let wrong = basic_auth(&user, "not-the-password");
    let response = wsman_test::http::post(fixture.port, Some(&wrong), soap::identify().as_bytes());
    assert_eq!(response.status, 401, "{}", response.describe());
}

#[test]
fn pam_non_administrator_is_denied_config() {
    let Some(_) = pam_credentials() else {
        return;
    };
    let (Ok(user), Ok(password)) = (
        std::env::var("WSMAN_TEST_PAM_PLAIN_USER"),
        std::env::var("WSMAN_TEST_PAM_PLAIN_PASSWORD"),
    ) else {
        eprintln!("skipped: WSMAN_TEST_PAM_PLAIN_USER not set");
        return;
    };
    let fixture = Fixture::http();
    let auth = basic_auth(&user, &password);
    let response = identify_then_get_config(fixture.port, &auth);
    expect_fault(&response, "AccessDenied");
}

#[test]
fn https_listener_serves_identify_and_basic_without_allow_unencrypted() {
    let (fixture, _) = Fixture::https_with(|c| {
        c.set("Config.Service", "AllowUnencrypted", "false");
    });
    let port = fixture.port;
    let outcome = curl_https_identify(port);
    assert_eq!(outcome.response.status, 200, "{outcome:?}");
    assert!(outcome.response.text().contains("IdentifyResponse"));
    // Plain HTTP to the TLS port is not served.
    let mut connection = Connection::open(port).expect("connect");
    let plain = connection.post(
        Some(&basic_auth(SERVICE_ACCOUNT, SERVICE_PASSWORD)),
        soap::identify().as_bytes(),
    );
    assert!(
        plain.map(|r| r.status != 200).unwrap_or(true),
        "plain HTTP must not be answered on an HTTPS listener"
    );
}

#[test]
fn no_body_is_parsed_before_authentication() {
    // Bodies that would be 400 or a fault if parsed must get the plain 401 when the request is
    // not authenticated: the service decides on the headers alone (OMI's CVE-2021-38647 was
    // the opposite).
    let fixture = Fixture::http();
    let soap11 = format!(
        "<e:Envelope xmlns:e=\"{}\"><e:Body/></e:Envelope>",
        ns::SOAP11
    );
    for body in [
        b"<not xml".to_vec(),
        soap11.into_bytes(),
        soap::get("http://schemas.example.invalid/nothing", &[]).into_bytes(),
    ] {
        let mut connection = fixture.connect();
        let response = connection.post(None, &body).expect("response");
        assert_eq!(response.status, 401, "{}", response.describe());
        assert!(response.body.is_empty(), "{}", response.describe());
        let response = connection
            .post(Some(&basic_auth(SERVICE_ACCOUNT, "wrong")), &body)
            .expect("response");
        assert_eq!(response.status, 401, "{}", response.describe());
    }
}

#[test]
fn credentials_are_checked_once_per_connection() {
    // Authentication is paid once per TCP connection: later requests on the same connection
    // compare the Authorization value with the verified one. Observable in the log, which
    // records each verification ("authenticated") with the remote address.
    let fixture = Fixture::http();
    let mut connection = fixture.connect();
    let local = connection.stream().local_addr().expect("local address");
    for _ in 0..5 {
        let response = connection
            .post(Some(&fixture.service_auth()), soap::identify().as_bytes())
            .expect("response");
        assert_eq!(response.status, 200, "{}", response.describe());
    }
    let log = fixture.daemon.stderr();
    let verifications = log
        .lines()
        .filter(|l| l.contains(&local.to_string()) && l.contains("authenticated"))
        .count();
    assert_eq!(
        verifications, 1,
        "expected one verification for {local} over five requests:\n{log}"
    );
    // A different Authorization value on the same connection is verified again (and refused).
    let response = connection
        .post(
            Some(&basic_auth(SERVICE_ACCOUNT, "not-the-password")),
            soap::identify().as_bytes(),
        )
        .expect("response");
    assert_eq!(response.status, 401, "{}", response.describe());
}
