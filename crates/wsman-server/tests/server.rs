//! The service end to end over raw HTTP on 127.0.0.1: authentication, the guards, config
//! operations, live listener changes and the connection limit.

mod common;

use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identify_unauthenticated_and_authenticated() {
    let (_svc, mut c) = TestService::connected("").await;
    let r = c.identify_unauthenticated().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("Server"), Some("wsmand"));
    assert!(r.text().contains("OS: 0.0.0 SP: 0.0 Stack: 3.0"));
    assert!(!r.text().contains("SecurityProfiles"));

    // the same connection, now with credentials
    let r = c
        .post(Some(&basic(USER, PASSWORD)), &[], &identify_body())
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("OS: test SP: 0.0 Stack: 3.0"));
    assert!(r.text().contains("secprofile/http/basic"));

    // the anonymous header does not open anything but Identify
    let get = envelope(GET, CONFIG_URI, "", "");
    let r = c
        .post(None, &[("WSMANIDENTIFY", "unauthenticated")], &get)
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_gets_a_challenge_and_the_connection_stays_usable() {
    let (_svc, mut c) = TestService::connected("").await;
    let r = c.post(None, &[], &identify_body()).await;
    assert_eq!(r.status, 401);
    // Service/Auth/Negotiate is on by default, as on Windows, and comes first.
    assert_eq!(
        r.headers_named("WWW-Authenticate"),
        vec!["Negotiate", "Basic realm=\"WSMAN\""]
    );
    assert_eq!(r.header("Content-Length"), Some("0"));
    // wrong password, same connection
    let r = c
        .post(Some(&basic(USER, "wrong")), &[], &identify_body())
        .await;
    assert_eq!(r.status, 401);
    // a body that is not even XML is never parsed before authentication: still 401
    let r = c.post(None, &[], "<<<not xml").await;
    assert_eq!(r.status, 401);
    // right password, same connection
    let r = c
        .post(Some(&basic(USER, PASSWORD)), &[], &identify_body())
        .await;
    assert_eq!(r.status, 200);
    // later requests on the connection reuse the verified credential
    let r = c
        .post(Some(&basic(USER, PASSWORD)), &[], &identify_body())
        .await;
    assert_eq!(r.status, 200);
    // a different credential restarts authentication
    let r = c
        .post(Some(&basic(USER, "other")), &[], &identify_body())
        .await;
    assert_eq!(r.status, 401);
}

/// The challenges of a 401 in the order Windows lists them, one header each: Negotiate before
/// Basic, CredSSP last, as a Windows Server's 401 on 5985 with Basic and CredSSP enabled lists
/// them (`Server: Microsoft-HTTPAPI/2.0`, captured by users of Ansible and of a CredSSP client).
/// Clients that take the first scheme they know (npm's winrm-client probes, then sends
/// Negotiate) see Windows' choice. Kerberos, with a keytab, comes right after Negotiate
/// (`challenge.rs`'s unit test; a keytab needs the KDC of `wsman-test`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_lists_the_challenges_in_windows_order() {
    let svc = TestService::start_with(|port, _| {
        format!(
            "[Config.Service]\nAllowUnencrypted = true\n\n\
             [Config.Service.Auth]\nBasic = true\nCredSSP = true\n\n\
             [[Listener]]\nAddress = \"IP:127.0.0.1\"\nTransport = \"HTTP\"\nPort = {port}\n"
        )
    })
    .await;
    let mut c = svc.connect().await;
    let r = c.post(None, &[], &identify_body()).await;
    assert_eq!(r.status, 401);
    let names: Vec<String> = r
        .headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect();
    let first = names.iter().position(|n| n == "www-authenticate").unwrap();
    assert_eq!(
        r.headers[first..first + 3]
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.as_str()))
            .collect::<Vec<_>>(),
        [
            ("www-authenticate".to_owned(), "Negotiate"),
            ("www-authenticate".to_owned(), "Basic realm=\"WSMAN\""),
            ("www-authenticate".to_owned(), "CredSSP"),
        ],
        "adjacent, in Windows' order"
    );
    assert_eq!(r.headers_named("WWW-Authenticate").len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_get_413_before_buffering() {
    let (svc, mut c) = TestService::connected("").await;
    // Declare 10 MB and send nothing: the answer must come without the body.
    c.write_raw(
        format!(
            "POST /wsman HTTP/1.1\r\nHost: h\r\nContent-Type: {SOAP}\r\nContent-Length: 10485760\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    let r = c.read_response().await;
    assert_eq!(r.status, 413);

    // chunked: counted while reading and cut at the limit
    let mut c = svc.connect().await;
    c.send(
        "POST",
        "/wsman",
        &[
            ("Content-Type", SOAP.to_owned()),
            ("Transfer-Encoding", "chunked".to_owned()),
        ],
        b"",
    )
    .await;
    // Write 1 MiB of chunks while reading concurrently: the 413 must arrive even though
    // the client keeps sending (the server stops reading at the 500 KiB limit).
    let (mut reader, mut writer) = c.stream.split();
    let write = async {
        let chunk = vec![b'a'; 64 * 1024];
        for _ in 0..16 {
            let mut piece = format!("{:x}\r\n", chunk.len()).into_bytes();
            piece.extend_from_slice(&chunk);
            piece.extend_from_slice(b"\r\n");
            if tokio::io::AsyncWriteExt::write_all(&mut writer, &piece)
                .await
                .is_err()
            {
                break;
            }
        }
    };
    let read = async {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            match tokio::io::AsyncReadExt::read(&mut reader, &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&seen).into_owned()
    };
    let ((), head) =
        tokio::time::timeout(Duration::from_secs(30), async { tokio::join!(write, read) })
            .await
            .unwrap_or_else(|_| panic!("no answer to an oversized chunked body"));
    assert!(head.starts_with("HTTP/1.1 413"), "{head:?}");

    // the service stays usable
    let mut c = svc.connect().await;
    let r = c.identify_unauthenticated().await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn method_path_and_media_type_guards() {
    let svc = TestService::start("").await;
    let identify = identify_body();
    // Method, path, Content-Type (none when empty), body: the status.
    let cases = [
        ("GET", "/wsman", "", "", 405),
        ("POST", "/other", SOAP, "x", 404),
        ("POST", "/wsman", "text/xml", "x", 415),
        // anonymous Identify at the openwsman path
        ("POST", "/wsman-anon/identify", SOAP, identify.as_str(), 200),
    ];
    for (method, path, content_type, body, status) in cases {
        let mut c = svc.connect().await;
        let headers: Vec<_> = [("Content-Type", content_type.to_owned())]
            .into_iter()
            .filter(|(_, value)| !value.is_empty())
            .collect();
        c.send(method, path, &headers, body.as_bytes()).await;
        assert_eq!(c.read_response().await.status, status, "{method} {path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_config_faults_and_utf16() {
    let (_svc, mut c) = TestService::connected("").await;
    let auth = basic(USER, PASSWORD);
    let r = c
        .post(Some(&auth), &[], &envelope(GET, CONFIG_URI, "", ""))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    assert!(text.contains("<cfg:MaxEnvelopeSizekb>500</cfg:MaxEnvelopeSizekb>"));
    assert!(text.contains("<a:RelatesTo>uuid:aBcD-0001</a:RelatesTo>"));

    // unknown resource and unknown action: faults with 500, Machine from the Host header
    let r = c
        .post(
            Some(&auth),
            &[],
            &envelope(GET, "http://example.com/nothing", "", ""),
        )
        .await;
    assert_eq!(r.status, 500);
    assert!(r.text().contains("a:DestinationUnreachable"));
    assert!(r.text().contains("Machine=\"testhost\""));
    assert!(r
        .text()
        .contains("<a:RelatesTo>uuid:aBcD-0001</a:RelatesTo>"));
    let r = c
        .post(Some(&auth), &[], &envelope("urn:nope", CONFIG_URI, "", ""))
        .await;
    assert_eq!(r.status, 500);
    assert!(r.text().contains("a:ActionNotSupported"));
    // shells are not served yet: a clean fault
    let shell = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd";
    let r = c
        .post(Some(&auth), &[], &envelope(CREATE, shell, "", ""))
        .await;
    assert_eq!(r.status, 500);
    // malformed XML after authentication: 400
    let r = c.post(Some(&auth), &[], "<s:Envelope").await;
    assert_eq!(r.status, 400);

    // UTF-16 in, UTF-16 out
    let body = envelope(GET, CONFIG_URI, "", "");
    let bytes = wsman_proto::charset::encode(&body, wsman_proto::charset::Encoding::Utf16Le);
    c.send(
        "POST",
        "/wsman",
        &[
            (
                "Content-Type",
                "application/soap+xml;charset=UTF-16".to_owned(),
            ),
            ("Authorization", auth.clone()),
        ],
        &bytes,
    )
    .await;
    let r = c.read_response().await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Content-Type"),
        Some("application/soap+xml;charset=UTF-16")
    );
    assert_eq!(&r.body[..2], &[0xFF, 0xFE]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_administrators_may_only_identify() {
    let (_svc, mut c) = TestService::connected("").await;
    let auth = basic(PLAIN_USER, PASSWORD);
    let r = c.post(Some(&auth), &[], &identify_body()).await;
    assert_eq!(r.status, 200);
    let r = c
        .post(Some(&auth), &[], &envelope(GET, CONFIG_URI, "", ""))
        .await;
    assert_eq!(r.status, 500);
    assert!(r.text().contains("w:AccessDenied"), "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_put_leaves_the_config_unchanged() {
    let svc = TestService::start("").await;
    let before = std::fs::read(svc.config_path()).unwrap_or_default();
    let mut c = svc.connect().await;
    let auth = basic(USER, PASSWORD);
    let body = "<cfg:Config xmlns:cfg=\"http://schemas.microsoft.com/wbem/wsman/1/config\">\
                <cfg:MaxEnvelopeSizekb>not-a-number</cfg:MaxEnvelopeSizekb></cfg:Config>";
    let r = c
        .post(Some(&auth), &[], &envelope(PUT, CONFIG_URI, "", body))
        .await;
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(std::fs::read(svc.config_path()).unwrap_or_default(), before);
    let r = c
        .post(Some(&auth), &[], &envelope(GET, CONFIG_URI, "", ""))
        .await;
    assert!(r
        .text()
        .contains("<cfg:MaxEnvelopeSizekb>500</cfg:MaxEnvelopeSizekb>"));
    // a valid Put applies
    let body = "<cfg:Config xmlns:cfg=\"http://schemas.microsoft.com/wbem/wsman/1/config\">\
                <cfg:MaxTimeoutms>30000</cfg:MaxTimeoutms></cfg:Config>";
    let r = c
        .post(Some(&auth), &[], &envelope(PUT, CONFIG_URI, "", body))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r
        .text()
        .contains("<cfg:MaxTimeoutms>30000</cfg:MaxTimeoutms>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_added_live_leaves_other_connections_alone() {
    let svc = TestService::start("").await;
    let auth = basic(USER, PASSWORD);
    let mut kept = svc.connect().await;
    let r = kept.post(Some(&auth), &[], &identify_body()).await;
    assert_eq!(r.status, 200);

    // create a second listener through the service itself
    let port = free_port();
    let selectors = "<w:SelectorSet><w:Selector Name=\"Address\">IP:127.0.0.1</w:Selector>\
                     <w:Selector Name=\"Transport\">HTTP</w:Selector></w:SelectorSet>";
    let body = format!(
        "<cfg:Listener xmlns:cfg=\"{LISTENER_URI}\"><cfg:Port>{port}</cfg:Port>\
         <cfg:URLPrefix>second</cfg:URLPrefix></cfg:Listener>"
    );
    // IP:127.0.0.1/HTTP exists already: a different key is needed
    let selectors = selectors.replace("IP:127.0.0.1", "IP:127.0.0.1-127.0.0.1");
    let r = kept
        .post(
            Some(&auth),
            &[],
            &envelope(CREATE, LISTENER_URI, &selectors, &body),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r
        .text()
        .contains("<a:Address>http://testhost:5985/wsman</a:Address>"));

    // the new listener comes up (applied asynchronously)
    let mut fresh = None;
    for _ in 0..100 {
        if let Ok(s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            fresh = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(fresh.is_some(), "the new listener never came up");
    let mut second = Client::connect(port).await;
    second
        .send(
            "POST",
            "/second",
            &[
                ("Content-Type", SOAP.to_owned()),
                ("WSMANIDENTIFY", "unauthenticated".to_owned()),
            ],
            identify_body().as_bytes(),
        )
        .await;
    assert_eq!(second.read_response().await.status, 200);

    // the first connection is still the same, still authenticated
    let r = kept
        .post(Some(&auth), &[], &envelope(GET, CONFIG_URI, "", ""))
        .await;
    assert_eq!(r.status, 200);
    // and the new listener is reported as listening
    let r = kept
        .post(
            Some(&auth),
            &[],
            &envelope(GET, LISTENER_URI, &selectors, ""),
        )
        .await;
    assert!(
        r.text()
            .contains("<cfg:ListeningOn>127.0.0.1</cfg:ListeningOn>"),
        "{}",
        r.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_max_connections_get_503() {
    let svc = TestService::start("MaxConnections = 2").await;
    let mut a = svc.connect().await;
    let mut b = svc.connect().await;
    for c in [&mut a, &mut b] {
        let r = c.identify_unauthenticated().await;
        assert_eq!(r.status, 200);
    }
    let mut extra = svc.connect().await;
    extra
        .send(
            "POST",
            "/wsman",
            &[("Content-Type", SOAP.to_owned())],
            identify_body().as_bytes(),
        )
        .await;
    let r = extra.read_response().await;
    assert_eq!(r.status, 503);
    assert!(extra.is_closed(Duration::from_secs(5)).await);
    // the others are unaffected
    let r = a.identify_unauthenticated().await;
    assert_eq!(r.status, 200);
    // a slot freed is a slot usable
    drop(b);
    let mut again = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if svc.service.server().open_connections() < 2 {
            again = Some(svc.connect().await);
            break;
        }
    }
    let mut again = again.unwrap_or_else(|| panic!("the slot was never freed"));
    let r = again.identify_unauthenticated().await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_body_is_cut_off() {
    let svc = TestService::start("MaxPacketRetrievalTimeSeconds = 1").await;
    let mut c = svc.connect().await;
    // Promise 100 bytes, send 10, then stall.
    c.write_raw(
        format!(
            "POST /wsman HTTP/1.1\r\nHost: h\r\nContent-Type: {SOAP}\r\nAuthorization: {}\r\n\
             Content-Length: 100\r\n\r\n0123456789",
            basic(USER, PASSWORD)
        )
        .as_bytes(),
    )
    .await;
    let r = c.read_response().await;
    assert_eq!(r.status, 408);
    assert!(c.is_closed(Duration::from_secs(10)).await);
    let mut c = svc.connect().await;
    let r = c
        .post(Some(&basic(USER, PASSWORD)), &[], &identify_body())
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enumerate_and_pull_listeners() {
    let (_svc, mut c) = TestService::connected("").await;
    let auth = basic(USER, PASSWORD);
    let enumerate = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate";
    let pull = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull";
    let r = c
        .post(
            Some(&auth),
            &[],
            &envelope(enumerate, LISTENER_URI, "", "<n:Enumerate/>"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    let start = text.find("<n:EnumerationContext>").map_or(0, |i| i + 22);
    let end = text.find("</n:EnumerationContext>").unwrap_or(start);
    let context = &text[start..end];
    assert!(context.starts_with("uuid:"), "{text}");
    let body = format!(
        "<n:Pull><n:EnumerationContext>{context}</n:EnumerationContext>\
         <n:MaxElements>10</n:MaxElements></n:Pull>"
    );
    let r = c
        .post(
            Some(&auth),
            &[],
            &envelope(
                pull,
                LISTENER_URI,
                "<w:RequestTotalItemsCountEstimate/>",
                &body,
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    assert!(
        text.contains("<cfg:ListeningOn>127.0.0.1</cfg:ListeningOn>"),
        "{text}"
    );
    assert!(text.contains("<n:EndOfSequence/>"));
    assert!(text.contains("<w:TotalItemsCountEstimate>1</w:TotalItemsCountEstimate>"));
    // the context is gone after the last batch
    let r = c
        .post(Some(&auth), &[], &envelope(pull, LISTENER_URI, "", &body))
        .await;
    assert_eq!(r.status, 500);
    assert!(r.text().contains("n:InvalidEnumerationContext"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_changes_apply_and_a_broken_file_keeps_the_old_config() {
    let svc = TestService::start("").await;
    let mut kept = svc.connect().await;
    let anonymous = [("WSMANIDENTIFY", "unauthenticated")];
    assert_eq!(
        kept.post(None, &anonymous, &identify_body()).await.status,
        200
    );

    // add a listener by editing the file
    let second = free_port();
    let mut text = std::fs::read_to_string(svc.config_path()).unwrap_or_default();
    text.push_str(&format!(
        "\n[[Listener]]\nAddress = \"IP:127.0.0.1-127.0.0.1\"\nTransport = \"HTTP\"\nPort = {second}\n"
    ));
    std::fs::write(svc.config_path(), &text).unwrap_or_else(|e| panic!("{e}"));
    let applied = svc.service.check_files().await;
    assert!(matches!(applied, Ok(true)), "{applied:?}");
    let mut c = Client::connect(second).await;
    assert_eq!(c.post(None, &anonymous, &identify_body()).await.status, 200);

    // a broken file is refused and everything keeps serving
    std::fs::write(svc.config_path(), "[[Listener]\nbroken").unwrap_or_else(|e| panic!("{e}"));
    assert!(svc.service.check_files().await.is_err());
    assert_eq!(
        kept.post(None, &anonymous, &identify_body()).await.status,
        200
    );
    assert_eq!(c.post(None, &anonymous, &identify_body()).await.status, 200);
    let table = svc.service.server().listener_table().sockets();
    assert_eq!(table.len(), 2, "{table:?}");
}
