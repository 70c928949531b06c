//! The access policy against the real daemon: IPv4Filter/IPv6Filter close connections before
//! anything is read and apply live; RootSDDL is evaluated per request and an invalid one is
//! refused by `winrm set` (remote and local) with the configuration unchanged;
//! AllowRemoteAccess=false refuses non-loopback peers; failed logins are logged and, repeated,
//! slowed down.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use wsman_test::http::{basic_auth, Connection};
use wsman_test::process::{self, Finished};
use wsman_test::{
    binaries, free_port, soap, Fixture, ListenerSpec, SERVICE_ACCOUNT, SERVICE_PASSWORD,
};

use crate::expect_fault;

fn winrm_local(dir: &std::path::Path, args: &[&str]) -> Finished {
    let mut command = Command::new(binaries::winrm());
    command
        .args(args)
        .arg("--config-dir")
        .arg(dir)
        .env_remove("WSMAND_CONFIG_DIR");
    process::run(&mut command, None, Duration::from_secs(60))
}

/// True when the daemon closes a fresh connection to `address` without answering a request.
fn closed_without_answer(address: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(5)) else {
        return true;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let body = soap::identify();
    let request = format!(
        "POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nAuthorization: {}\r\nContent-Length: {}\r\n\r\n{body}",
        basic_auth(SERVICE_ACCOUNT, SERVICE_PASSWORD),
        body.len()
    );
    let _ = stream.write_all(request.as_bytes());
    let mut buffer = [0u8; 64];
    match stream.read(&mut buffer) {
        Ok(0) | Err(_) => true,
        Ok(_) => false,
    }
}

fn identify_ok(address: SocketAddr) -> bool {
    let Ok(mut c) = Connection::open(address.port()) else {
        return false;
    };
    c.post(
        Some(&basic_auth(SERVICE_ACCOUNT, SERVICE_PASSWORD)),
        soap::identify().as_bytes(),
    )
    .is_ok_and(|r| r.status == 200)
}

fn stored_config(fixture: &Fixture) -> String {
    std::fs::read_to_string(fixture.config.path().join("config.toml")).expect("config.toml")
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// Sends `times` Identify requests as the service account with the wrong `password`, checks
/// each is refused with 401, and returns the daemon's log after them.
fn failed_logins(fixture: &Fixture, password: &str, times: usize) -> String {
    let wrong = basic_auth(SERVICE_ACCOUNT, password);
    for _ in 0..times {
        let r = wsman_test::http::post(fixture.port, Some(&wrong), soap::identify().as_bytes());
        assert_eq!(r.status, 401, "{}", r.describe());
    }
    fixture.daemon.stderr()
}

#[test]
fn ip_filter_closes_connections_before_reading_and_applies_live() {
    let mut fixture = Fixture::http();
    let v4 = SocketAddr::from(([127, 0, 0, 1], fixture.port));
    // Excluding the listener's address: new connections are closed unanswered.
    let finished = fixture.winrm_remote(&[
        "set",
        "winrm/config/service",
        "@{IPv4Filter=\"10.0.0.1-10.0.0.9\"}",
    ]);
    assert_eq!(finished.code(), 0, "{}", finished.describe());
    assert!(
        closed_without_answer(v4),
        "the filter must close the connection"
    );
    assert!(closed_without_answer(v4));
    let log = fixture.daemon.stderr();
    assert!(
        log.contains("connection refused: local address outside IPv4Filter/IPv6Filter"),
        "{log}"
    );
    // Remote management is now impossible; the local CLI changes the file and the running
    // daemon picks it up without a restart.
    let dir = fixture.config.path().to_path_buf();
    let finished = winrm_local(
        &dir,
        &["set", "winrm/config/service", "@{IPv4Filter=\"*\"}"],
    );
    assert_eq!(finished.code(), 0, "{}", finished.describe());
    fixture
        .daemon
        .wait_until("the filter to admit 127.0.0.1 again", || identify_ok(v4));
    // A range that includes the address, and an empty filter (nobody).
    let finished = winrm_local(
        &dir,
        &[
            "set",
            "winrm/config/service",
            "@{IPv4Filter=\"127.0.0.0-127.0.0.255, 10.0.0.1\"}",
        ],
    );
    assert_eq!(finished.code(), 0, "{}", finished.describe());
    let finished = fixture.winrm_remote(&["set", "winrm/config/service", "@{IPv4Filter=\"\"}"]);
    assert_eq!(finished.code(), 0, "{}", finished.describe());
    assert!(closed_without_answer(v4));
}

#[test]
fn ipv6_filter_is_separate_from_ipv4() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: no IPv6 loopback");
        return;
    }
    let v6_port = free_port();
    let fixture = Fixture::http_with(|config| {
        config.listener(ListenerSpec {
            address: "IP:::1".to_owned(),
            ..ListenerSpec::http(v6_port)
        });
        config.set("Config.Service", "IPv6Filter", "\"\"");
    });
    let v4 = SocketAddr::from(([127, 0, 0, 1], fixture.port));
    let v6 = SocketAddr::from((IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), v6_port));
    assert!(identify_ok(v4));
    assert!(closed_without_answer(v6), "IPv6Filter empty: ::1 refused");
    let finished = fixture.winrm_remote(&["set", "winrm/config/service", "@{IPv6Filter=\"::1\"}"]);
    assert_eq!(finished.code(), 0, "{}", finished.describe());
    let response = {
        let mut stream = TcpStream::connect(v6).expect("connect [::1]");
        let body = soap::identify();
        let request = format!(
            "POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nAuthorization: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            basic_auth(SERVICE_ACCOUNT, SERVICE_PASSWORD),
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("write");
        let mut out = String::new();
        let _ = stream.read_to_string(&mut out);
        out
    };
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    // An invalid IPv6 filter is refused.
    let finished =
        fixture.winrm_remote(&["set", "winrm/config/service", "@{IPv6Filter=\"10.0.0.1\"}"]);
    assert_ne!(finished.code(), 0, "{}", finished.describe());
}

/// `winrm set winrm/config/service @{RootSDDL="SDDL"}` against `fixture`'s daemon.
fn set_root_sddl(fixture: &Fixture, sddl: &str) -> Finished {
    fixture.winrm_remote(&[
        "set",
        "winrm/config/service",
        &format!("@{{RootSDDL=\"{sddl}\"}}"),
    ])
}

/// The uid of `name` from `id -u`.
fn uid_of(name: &str) -> Option<u32> {
    let out = Command::new("id").args(["-u", name]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

#[test]
fn root_sddl_is_evaluated_per_request_with_unix_sids() {
    let Some(uid) = uid_of("nobody") else {
        eprintln!("skipped: no user nobody");
        return;
    };
    let fixture = Fixture::http();
    fixture
        .config
        .add_account("reader", "Reader-Pass-123", Some("nobody"));
    let reader = basic_auth("reader", "Reader-Pass-123");
    let get = soap::get(soap::CONFIG_URI, &[]);
    let as_reader =
        |body: &str| wsman_test::http::post(fixture.port, Some(&reader), body.as_bytes());

    // Windows' default: administrators only.
    let fault = expect_fault(&as_reader(&get), "AccessDenied");
    assert_eq!(fault.wsman_code.as_deref(), Some("5"));

    // Read for this Linux user by its Unix SID: Get works, Put does not.
    let sddl = format!("O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;S-1-22-1-{uid})");
    let finished = set_root_sddl(&fixture, &sddl);
    assert_eq!(finished.code(), 0, "{}", finished.describe());
    let response = as_reader(&get);
    assert_eq!(response.status, 200, "{}", response.describe());
    let put = soap::request(
        wsman_proto::ns::action::PUT,
        soap::CONFIG_URI,
        &[],
        &format!(
            "<cfg:Config xmlns:cfg=\"{}\"><cfg:MaxTimeoutms>90000</cfg:MaxTimeoutms></cfg:Config>",
            wsman_proto::ns::CONFIG
        ),
    );
    expect_fault(&as_reader(&put), "AccessDenied");

    // BUILTIN\Users may read, but a deny for this user wins wherever it is written.
    let sddl = format!("O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;BU)(D;;GA;;;S-1-22-1-{uid})");
    let finished = set_root_sddl(&fixture, &sddl);
    assert_eq!(finished.code(), 0, "{}", finished.describe());
    expect_fault(&as_reader(&get), "AccessDenied");
    let log = fixture.daemon.stderr();
    assert!(log.contains("access denied"), "{log}");
}

#[test]
fn invalid_root_sddl_is_refused_remote_and_local_with_the_config_unchanged() {
    let fixture = Fixture::http();
    let before = stored_config(&fixture);
    for bad in [
        "garbage",
        "O:NSG:BA",
        "D:NO_ACCESS_CONTROL",
        "O:NSG:BAD:P(A;;GA;;;XX)",
    ] {
        let finished = set_root_sddl(&fixture, bad);
        assert_ne!(finished.code(), 0, "{bad}: {}", finished.describe());
        assert_eq!(stored_config(&fixture), before, "{bad}");
        let finished = winrm_local(
            fixture.config.path(),
            &[
                "set",
                "winrm/config/service",
                &format!("@{{RootSDDL=\"{bad}\"}}"),
            ],
        );
        assert_ne!(finished.code(), 0, "{bad}: {}", finished.describe());
        assert_eq!(stored_config(&fixture), before, "{bad}");
    }
    // The raw fault: SchemaValidationError naming the setting.
    let body = soap::request(
        wsman_proto::ns::action::PUT,
        &format!("{}/service", soap::CONFIG_URI),
        &[],
        &format!(
            "<cfg:Service xmlns:cfg=\"{}/service\"><cfg:RootSDDL>garbage</cfg:RootSDDL></cfg:Service>",
            wsman_proto::ns::CONFIG
        ),
    );
    let fault = expect_fault(&fixture.post(&body), "SchemaValidationError");
    assert!(fault.reason.contains("RootSDDL"), "{}", fault.reason);
    // Still administrators-only afterwards, and the administrator still gets in.
    let response = fixture.post(&soap::get(soap::CONFIG_URI, &[]));
    assert_eq!(response.status, 200, "{}", response.describe());
}

/// A non-loopback IPv4 address of this host (from `hostname -I`), if it has one.
fn non_loopback_ipv4() -> Option<std::net::Ipv4Addr> {
    let out = Command::new("hostname").arg("-I").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|w| w.parse::<std::net::Ipv4Addr>().ok())
        .find(|ip| !ip.is_loopback() && !ip.is_unspecified())
}

#[test]
fn allow_remote_access_false_refuses_non_loopback_peers() {
    let Some(address) = non_loopback_ipv4() else {
        eprintln!("skipped: no non-loopback IPv4 address");
        return;
    };
    let other = free_port();
    let fixture = Fixture::http_with(|config| {
        config.listener(ListenerSpec {
            address: format!("IP:{address}"),
            ..ListenerSpec::http(other)
        });
        config.set("Config.Service", "AllowRemoteAccess", "false");
    });
    // Loopback: served.
    let response = fixture.post(&soap::get(soap::CONFIG_URI, &[]));
    assert_eq!(response.status, 200, "{}", response.describe());
    // From this host's own non-loopback address: the peer is not loopback.
    let body = soap::get(soap::CONFIG_URI, &[]);
    let mut stream = TcpStream::connect((address, other)).expect("connect");
    let request = format!(
        "POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nAuthorization: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        fixture.service_auth(),
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("write");
    let mut out = String::new();
    let _ = stream.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 500"), "{out}");
    assert!(out.contains("w:AccessDenied"), "{out}");
    assert!(out.contains("2150859229"), "{out}");
}

#[test]
fn failed_logins_are_logged_and_slowed_down_and_success_resets() {
    let fixture = Fixture::http_setting("Security", "FailedLoginMaxDelayms", "300");
    let log = failed_logins(&fixture, "Not-The-Password-42", 6);
    const FAILED: &str = "401: authentication failed";
    const DELAYING: &str = "failed logins from this address: delaying the credential check";
    assert_eq!(count(&log, FAILED), 6, "{log}");
    assert!(log.contains("failures=6"), "{log}");
    assert!(log.contains("svc-test") && log.contains("127.0.0.1") && log.contains("Basic"));
    assert!(
        !log.contains("Not-The-Password-42"),
        "a password reached the log"
    );
    // Three free failures, then every check waits (the 5th and the 6th attempt).
    assert_eq!(count(&log, DELAYING), 2, "{log}");
    // The right password also waits (so that giving up early tells nothing), then resets.
    let r = fixture.identify();
    assert_eq!(r.status, 200, "{}", r.describe());
    let log = failed_logins(&fixture, "Not-The-Password-42", 1);
    assert_eq!(count(&log, DELAYING), 3, "{log}");
    assert!(log.contains("failures=1"), "{log}");
}

#[test]
fn failed_login_delay_can_be_turned_off() {
    let fixture = Fixture::http_setting("Security", "FailedLoginDelay", "false");
    let log = failed_logins(&fixture, "wrong", 6);
    assert_eq!(count(&log, "401: authentication failed"), 6, "{log}");
    assert_eq!(count(&log, "delaying the credential check"), 0, "{log}");
}

#[test]
fn ip_filter_closes_https_connections_before_the_tls_handshake() {
    let https_port = free_port();
    let fixture = Fixture::http_with(|config| {
        config.add_https_listener(https_port);
        config.set("Config.Service", "IPv4Filter", "\"10.0.0.1\"");
    });
    let outcome = wsman_test::http::curl_https_identify(https_port);
    assert_ne!(outcome.exit_code, 0, "{outcome:?}");
    assert_eq!(outcome.response.status, 0, "{outcome:?}");
    let log = fixture.daemon.stderr();
    assert!(
        log.contains("connection refused: local address outside IPv4Filter/IPv6Filter"),
        "{log}"
    );
    // The refusal names the HTTPS port: closed at accept, before any TLS byte was read.
    assert!(
        log.lines().any(|l| l.contains("connection refused")
            && l.contains(&format!("local=127.0.0.1:{https_port}"))),
        "{log}"
    );
}
