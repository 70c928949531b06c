//! The gates every request passes, at the collector's endpoints too: `AllowRemoteAccess =
//! false` refuses a remote forwarder at the subscription manager and at delivery (the remote
//! address claimed by a trusted balancer's PROXY header, the only way a loopback test has a
//! remote peer), and a certificate whose mapping's URI does not cover the collector's
//! resources is refused at both, while one whose mapping does is served. Refusals are
//! `w:AccessDenied` (HTTP 500), as for every other engine.

use std::net::{SocketAddr, TcpStream};

use wsman_test::client_certs::{ClientFiles, ClientSpec, TestCa};
use wsman_test::http::curl_post;
use wsman_test::{free_port, wec_database_env, ConfigDir, Daemon, ListenerSpec};
use wsman_test::{SERVICE_ACCOUNT, SERVICE_PASSWORD};

use crate::collector::{
    acknowledged, batch, enumerate, event, post_on, text, Answer, Offer, ENUMERATE,
};

const MANAGER: &str = "/wsman/SubscriptionManager/WEC";
/// `w:AccessDenied`'s WS-Management code for AllowRemoteAccess = false.
const REMOTE_ACCESS_DISABLED: &str = "2150859229";

/// A subscription of the Security log written to `out`, mapping the service account to its
/// own bare name.
fn subscription(out: &std::path::Path) -> String {
    format!(
        "query = '<QueryList><Query Id=\"0\"><Select Path=\"Security\">*</Select></Query></QueryList>'\nheartbeat_seconds = 60\n[[outputs]]\ntype = \"file\"\npath = \"{}/{{client}}.xml\"\nformat = \"raw\"\n[computers]\n\"{SERVICE_ACCOUNT}\" = [\"{SERVICE_ACCOUNT}\"]\n",
        out.display()
    )
}

/// A connection from 127.0.0.1 (the trusted balancer) whose PROXY header claims `client`.
fn claiming(client: &str, port: u16) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let source: SocketAddr = format!("{client}:40000").parse().expect("address");
    let target: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
    let header = wsman_proto::proxy_protocol::encode(source, target);
    std::io::Write::write_all(&mut stream, &header).expect("PROXY header");
    stream
}

fn post_claiming(
    client: &str,
    port: u16,
    path: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> Answer {
    post_on(
        claiming(client, port),
        port,
        (SERVICE_ACCOUNT, SERVICE_PASSWORD),
        path,
        body,
        headers,
    )
}

/// The batch `message` of one event of the service account's saying `data`, delivered to
/// `offer` over a connection claiming `client`.
fn deliver_claiming(client: &str, port: u16, offer: &Offer, message: u64, data: &str) -> Answer {
    let events = [event(message, SERVICE_ACCOUNT, data)];
    let headers = [
        ("Content-Type", "application/soap+xml;charset=UTF-16"),
        ("Content-Encoding", "SLDC"),
    ];
    let body = batch(offer, message, &events, true);
    post_claiming(client, port, &offer.path, &body, &headers)
}

fn assert_remote_access_refused(answer: &Answer) {
    let body = text(&answer.body);
    assert_eq!(answer.status, 500, "{body}");
    assert!(body.contains("AccessDenied"), "{body}");
    assert!(body.contains(REMOTE_ACCESS_DISABLED), "{body}");
}

#[test]
fn allow_remote_access_false_refuses_a_remote_forwarder_at_the_manager_and_delivery() {
    let state = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut config = ConfigDir::new();
    config.listener(ListenerSpec::http(port));
    config.set("Config.Service", "AllowRemoteAccess", "false");
    config.set("HTTP", "ProxyProtocolFrom", "\"127.0.0.1\"");
    // Loopback claims allowed, so that a local forwarder can be offered the subscription.
    config.set("HTTP", "ProxyProtocolAllowLoopback", "true");
    config.write();
    let daemon = start(&config, state.path(), port);

    // A local forwarder: offered the subscription, its batch stored.
    let local = post_claiming("127.0.0.1", port, MANAGER, ENUMERATE.as_bytes(), &[]);
    assert_eq!(local.status, 200, "{}", text(&local.body));
    let offer = offer_from(&local);
    acknowledged(&deliver_claiming("127.0.0.1", port, &offer, 1, "local"), 1);

    // A remote one: refused at both, as any other request from it would be.
    let manager = post_claiming("192.0.2.7", port, MANAGER, ENUMERATE.as_bytes(), &[]);
    assert_remote_access_refused(&manager);
    assert_remote_access_refused(&deliver_claiming("192.0.2.7", port, &offer, 2, "remote"));
    let out = std::fs::read_to_string(
        state
            .path()
            .join("out")
            .join(format!("{SERVICE_ACCOUNT}.xml")),
    )
    .unwrap_or_default();
    assert!(out.contains("local") && !out.contains("remote"), "{out}");
    drop(daemon);
}

/// Starts the collector of `config` (written) on `port`: the subscription [`subscription`]
/// writing to `state`'s `out`, the service account, the database in `state`.
fn start(config: &ConfigDir, state: &std::path::Path, port: u16) -> Daemon {
    config.write_raw("subscriptions/wef.toml", &subscription(&state.join("out")));
    config.add_service_account();
    let database = state.join("wec.sqlite");
    Daemon::start_with_env(config, &[port], &wec_database_env(&database))
}

/// The offer of an Enumerate answer, as [`enumerate`] reads it.
fn offer_from(answer: &Answer) -> Offer {
    crate::collector::offer_of(&text(&answer.body))
}

/// A certificate of `ca` for `name` (its UPN and common name, so the Computer it speaks for).
fn certificate(ca: &TestCa, dir: &std::path::Path, name: &str) -> ClientFiles {
    ca.issue(&ClientSpec::new(name), dir, name)
}

/// POST over HTTPS to `path` with the certificate `files` and the certificate profile.
fn post_with(
    https_port: u16,
    files: &ClientFiles,
    path: &str,
    body: &[u8],
    delivery: bool,
) -> (u16, String) {
    let mut extra = vec![
        "-k".to_owned(),
        "--cert".to_owned(),
        files.certificate.display().to_string(),
        "--key".to_owned(),
        files.key.display().to_string(),
        "-H".to_owned(),
        "Authorization: http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"
            .to_owned(),
    ];
    let content_type = if delivery {
        extra.push("-H".to_owned());
        extra.push("Content-Encoding: SLDC".to_owned());
        "application/soap+xml;charset=UTF-16"
    } else {
        "application/soap+xml;charset=UTF-8"
    };
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let outcome = curl_post(
        &format!("https://127.0.0.1:{https_port}{path}"),
        None,
        content_type,
        body,
        &extra,
    );
    let status = outcome.response.status;
    // A delivery's answer is in the delivery's charset (UTF-16).
    (
        status,
        format!("{}\n{}", outcome.stderr, text(&outcome.response.body)),
    )
}

#[test]
fn a_certificate_mappings_uri_scope_applies_at_the_manager_and_delivery() {
    const WIDE: &str = "wide.gates.test";
    const NARROW: &str = "narrow.gates.test";
    let state = tempfile::tempdir().expect("tempdir");
    let (port, https_port) = (free_port(), free_port());
    let ca = TestCa::new("gates test CA");
    let mut config = ConfigDir::new();
    config.listener(ListenerSpec::http(port));
    ca.enable_for(&mut config, https_port);
    config.write();
    // One mapping covers every URI, the other only WMI's: neither the subscription manager's
    // resource nor the event logs a delivery carries.
    let mappings = [(WIDE, "*"), (NARROW, "http://schemas.microsoft.com/wbem/wsman/1/wmi/*")]
        .iter()
        .map(|(subject, uri)| {
            format!(
                "[[CertMapping]]\nIssuer = \"{}\"\nSubject = \"{subject}\"\nURI = \"{uri}\"\nUserName = \"{SERVICE_ACCOUNT}\"\nEnabled = true\n",
                ca.thumbprint
            )
        })
        .collect::<String>();
    config.write_raw("config.toml", &format!("{}{mappings}", config.render()));
    let mut daemon = start(&config, state.path(), port);
    daemon.wait_for_port(https_port);
    let offer = enumerate(port);
    let wide = certificate(&ca, state.path(), WIDE);
    let narrow = certificate(&ca, state.path(), NARROW);

    // The forwarder of `files`, `computer`: its Enumerate at the manager and its batch `message`
    // (one event saying `data`) at the delivery address, both answers.
    let enumerate_and_deliver = |files: &ClientFiles, message: u64, computer: &str, data: &str| {
        let events = [event(message, computer, data)];
        let delivery = batch(&offer, message, &events, true);
        [
            post_with(https_port, files, MANAGER, ENUMERATE.as_bytes(), false),
            post_with(https_port, files, &offer.path, &delivery, true),
        ]
    };

    // The wide mapping: offered the subscription, its batch stored.
    let [(status, answer), (delivered, ack)] = enumerate_and_deliver(&wide, 1, WIDE, "wide");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(delivered, 200, "{ack}");
    assert!(ack.contains("wsman/Ack"), "{ack}");

    // The narrow one: refused at both.
    for (status, answer) in enumerate_and_deliver(&narrow, 2, NARROW, "narrow") {
        assert_eq!(status, 500, "{answer}");
        assert!(answer.contains("AccessDenied"), "{answer}");
    }
    let log = daemon.stderr();
    assert!(
        log.contains("access denied: outside the certificate mapping's URI"),
        "{log}"
    );
    let out = std::fs::read_to_string(state.path().join("out").join(format!("{WIDE}.xml")))
        .unwrap_or_default();
    assert!(out.contains("wide"), "{out}");
    assert!(!state
        .path()
        .join("out")
        .join(format!("{NARROW}.xml"))
        .exists());
}
