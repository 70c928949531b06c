//! The metrics endpoint of the real daemon, scraped over real HTTP after real requests (an
//! Identify, a failed login, a shell held open, a `winrs` command): every line of the text
//! checked against the exposition format, and the values against what was done.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use wsman_test::process;
use wsman_test::{
    binaries, free_port, http, soap, Daemon, Fixture, SERVICE_ACCOUNT, SERVICE_PASSWORD,
};

const SHELL_URI: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd";
const SHELL_NS: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell";

/// One sample: metric name, labels, value.
pub(crate) type Sample = (String, BTreeMap<String, String>, f64);

/// GET /metrics on `port`: (status line, content type, body).
pub(crate) fn scrape(port: u16, method: &str, path: &str) -> (String, String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the metrics port");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("send the scrape");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read the answer");
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head.lines().next().unwrap_or_default().to_owned();
    let content_type = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(name, _)| name.eq_ignore_ascii_case("content-type"))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parse the text exposition format strictly: every line is a HELP, a TYPE (declared once,
/// before its samples) or a sample of a declared metric with well-formed labels and a number.
pub(crate) fn parse(text: &str) -> Vec<Sample> {
    assert!(text.ends_with('\n'), "the text must end with a newline");
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            assert!(is_metric_name(name), "HELP of a bad name: {line}");
            assert!(!help.is_empty(), "empty HELP: {line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(is_metric_name(name), "TYPE of a bad name: {line}");
            assert!(
                ["counter", "gauge", "histogram"].contains(&kind),
                "unknown type: {line}"
            );
            assert!(
                types.insert(name.to_owned(), kind.to_owned()).is_none(),
                "TYPE declared twice: {line}"
            );
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "stray line: {line:?}"
        );
        let (series, value) = line.rsplit_once(' ').expect("sample: series value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("not a number: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => {
                let inner = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("labels not closed: {line}"));
                let mut labels = BTreeMap::new();
                for pair in inner.split(',') {
                    let (key, quoted) = pair
                        .split_once('=')
                        .unwrap_or_else(|| panic!("label without '=': {line}"));
                    assert!(
                        is_metric_name(key) && !key.contains(':'),
                        "bad label name: {line}"
                    );
                    let value = quoted
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .unwrap_or_else(|| panic!("label value not quoted: {line}"));
                    assert!(
                        !value.contains(['"', '\\', '\n']),
                        "unescaped label value: {line}"
                    );
                    assert!(
                        labels.insert(key.to_owned(), value.to_owned()).is_none(),
                        "label twice: {line}"
                    );
                }
                (name, labels)
            }
        };
        assert!(is_metric_name(name), "bad sample name: {line}");
        let declared = types.get(name).map(String::as_str).or_else(|| {
            ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
                name.strip_suffix(suffix)
                    .and_then(|base| types.get(base))
                    .filter(|kind| *kind == "histogram")
                    .map(String::as_str)
            })
        });
        match declared {
            Some("histogram") if types.contains_key(name) => {
                panic!("a histogram sample without its suffix: {line}")
            }
            Some("histogram") if name.ends_with("_bucket") => {
                assert!(labels.contains_key("le"), "bucket without le: {line}")
            }
            Some("counter") => assert!(value >= 0.0, "negative counter: {line}"),
            Some(_) => {}
            None => panic!("sample of an undeclared metric: {line}"),
        }
        samples.push((name.to_owned(), labels, value));
    }
    samples
}

pub(crate) fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| {
            n == name
                && l.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| *v)
}

/// Every histogram's buckets grow with `le` and end at `+Inf` = `_count`.
fn check_histograms(samples: &[Sample]) {
    let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for (name, labels, v) in samples {
        if let Some(base) = name.strip_suffix("_bucket") {
            let action = labels.get("action").cloned().unwrap_or_default();
            let le: f64 = match labels["le"].as_str() {
                "+Inf" => f64::INFINITY,
                le => le.parse().expect("le is a number"),
            };
            series
                .entry(format!("{base}/{action}"))
                .or_default()
                .push((le, *v));
        }
    }
    assert!(!series.is_empty(), "no histogram");
    for (key, buckets) in series {
        assert!(
            buckets
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
            "{key}: {buckets:?}"
        );
        let (base, action) = key.split_once('/').unwrap_or_default();
        let count = value(samples, &format!("{base}_count"), &[("action", action)]);
        assert_eq!(
            buckets.last().map(|b| (b.0, b.1)),
            count.map(|c| (f64::INFINITY, c)),
            "{key}"
        );
    }
}

fn start_with_metrics() -> (Fixture, u16) {
    let metrics_port = free_port();
    let mut fixture = Fixture::http_with(|config| {
        config.set(
            "Metrics",
            "Address",
            &format!("\"127.0.0.1:{metrics_port}\""),
        );
    });
    fixture.daemon.wait_for_port(metrics_port);
    (fixture, metrics_port)
}

#[test]
fn metrics_count_what_was_done() {
    let (fixture, metrics_port) = start_with_metrics();
    let good = http::basic_auth(SERVICE_ACCOUNT, SERVICE_PASSWORD);
    // Two Identify requests, each on its own connection (two Basic checks).
    for _ in 0..2 {
        let answer = http::post(fixture.port, Some(&good), soap::identify().as_bytes());
        assert_eq!(answer.status, 200, "{}", answer.describe());
    }
    // One failed login.
    let bad = http::basic_auth(SERVICE_ACCOUNT, "not-the-password");
    let refused = http::post(fixture.port, Some(&bad), soap::identify().as_bytes());
    assert_eq!(refused.status, 401, "{}", refused.describe());
    // A shell left open, so that the shell gauge has something to count.
    let shell_body = format!(
        "<rsp:Shell xmlns:rsp=\"{SHELL_NS}\"><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>"
    );
    let created = http::post(
        fixture.port,
        Some(&good),
        soap::request(wsman_proto::ns::action::CREATE, SHELL_URI, &[], &shell_body).as_bytes(),
    );
    assert_eq!(created.status, 200, "{}", created.describe());
    // One command through the real winrs: its own shell, Command, Receive, Delete.
    let mut command = Command::new(binaries::path("winrs"));
    command
        .args([
            &format!("-r:{}", fixture.url()),
            &format!("-u:{SERVICE_ACCOUNT}"),
            &format!("-p:{SERVICE_PASSWORD}"),
            "-a:Basic",
            "-unencrypted",
            "echo metrics-probe",
        ])
        .env("WSMAND_CONFIG_DIR", fixture.config.path());
    let finished = process::run(&mut command, None, Duration::from_secs(60));
    finished.assert_output("metrics-probe", "winrs echo");

    let (status, content_type, body) = scrape(metrics_port, "GET", "/metrics");
    assert!(status.contains(" 200 "), "{status}\n{body}");
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    let samples = parse(&body);
    check_histograms(&samples);
    let requests = |action: &str, status: &str| {
        value(
            &samples,
            "wsman_requests_total",
            &[("action", action), ("status", status)],
        )
    };
    assert_eq!(requests("Identify", "200"), Some(2.0), "{body}");
    assert_eq!(requests("Create", "200"), Some(2.0), "{body}");
    assert_eq!(requests("Command", "200"), Some(1.0), "{body}");
    assert_eq!(requests("Delete", "200"), Some(1.0), "{body}");
    assert!(
        requests("Receive", "200").is_some_and(|n| n >= 1.0),
        "{body}"
    );
    assert!(requests("none", "401").is_some_and(|n| n >= 1.0), "{body}");
    assert_eq!(
        value(
            &samples,
            "wsman_request_duration_seconds_count",
            &[("action", "Identify")]
        ),
        Some(2.0),
        "{body}"
    );
    let auth = |result: &str| {
        value(
            &samples,
            "wsman_authentications_total",
            &[("scheme", "Basic"), ("result", result)],
        )
    };
    assert_eq!(auth("failure"), Some(1.0), "{body}");
    // Identify twice, Create, and winrs (one connection, or a few).
    assert!(auth("success").is_some_and(|n| n >= 4.0), "{body}");
    // "metrics-probe\r\n" or "\n" as base64 inside the Receive answers, with their markup.
    assert!(
        value(&samples, "wsman_receive_bytes_total", &[]).is_some_and(|n| n > 20.0),
        "{body}"
    );
    assert_eq!(value(&samples, "wsman_shells", &[]), Some(1.0), "{body}");
    for name in [
        "wsman_shell_commands",
        "wsman_enumeration_contexts",
        "wsman_failed_login_delayed_addresses",
    ] {
        assert_eq!(value(&samples, name, &[]), Some(0.0), "{name}\n{body}");
    }
    assert_eq!(
        value(&samples, "wsman_failed_login_addresses", &[]),
        Some(0.0),
        "a success from the address clears it\n{body}"
    );
    assert!(
        value(&samples, "wsman_open_connections", &[]).is_some(),
        "{body}"
    );

    // Only GET /metrics.
    let (status, _, _) = scrape(metrics_port, "GET", "/wsman");
    assert!(status.contains(" 404 "), "{status}");
    let (status, _, _) = scrape(metrics_port, "POST", "/metrics");
    assert!(status.contains(" 405 "), "{status}");
}

#[test]
fn failed_logins_show_in_the_throttle_gauges() {
    let (fixture, metrics_port) = start_with_metrics();
    let bad = http::basic_auth(SERVICE_ACCOUNT, "not-the-password");
    for _ in 0..4 {
        let refused = http::post(fixture.port, Some(&bad), soap::identify().as_bytes());
        assert_eq!(refused.status, 401, "{}", refused.describe());
    }
    let (_, _, body) = scrape(metrics_port, "GET", "/metrics");
    let samples = parse(&body);
    assert_eq!(
        value(&samples, "wsman_failed_login_addresses", &[]),
        Some(1.0),
        "{body}"
    );
    // Three failures are free; the fourth makes the next check wait.
    assert_eq!(
        value(&samples, "wsman_failed_login_delayed_addresses", &[]),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        value(
            &samples,
            "wsman_authentications_total",
            &[("scheme", "Basic"), ("result", "failure")]
        ),
        Some(4.0),
        "{body}"
    );
}

#[test]
fn a_remote_metrics_address_is_refused_unless_allowed() {
    let mut config = wsman_test::ConfigDir::new();
    config.set("Metrics", "Address", "\"0.0.0.0:9\"");
    config.write();
    let finished = Daemon::run_to_exit(&config, Duration::from_secs(30));
    assert_ne!(finished.code(), 0, "{}", finished.describe());
    assert!(
        finished.stderr.contains("not a loopback address"),
        "{}",
        finished.describe()
    );
}

/// Each request is routed to its engine once: the engine found for authorization is the one
/// that answers (`wsman_catalog_lookups_total` counts the catalog's lookups). A shell Create, a
/// CIM Enumerate and an event-log Subscribe each add exactly one, whatever their answer.
#[test]
fn each_request_is_routed_to_its_engine_once() {
    let (fixture, metrics_port) = start_with_metrics();
    let good = http::basic_auth(SERVICE_ACCOUNT, SERVICE_PASSWORD);
    let lookups = || {
        let (status, _, body) = scrape(metrics_port, "GET", "/metrics");
        assert!(status.contains(" 200 "), "{status}\n{body}");
        value(&parse(&body), "wsman_catalog_lookups_total", &[])
            .unwrap_or_else(|| panic!("no lookup counter\n{body}"))
    };
    let shell_body = format!(
        "<rsp:Shell xmlns:rsp=\"{SHELL_NS}\"><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>"
    );
    let shell = soap::request(wsman_proto::ns::action::CREATE, SHELL_URI, &[], &shell_body);
    let cim = soap::enumerate(
        "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_OperatingSystem",
        "<n:Enumerate/>",
    );
    let event_log = soap::request(
        wsman_proto::ns::action::SUBSCRIBE,
        wsman_proto::eventing::EVENT_LOG_URI,
        &[],
        "<e:Subscribe><e:Delivery Mode=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/Pull\"/>\
         <w:Filter Dialect=\"http://schemas.microsoft.com/win/2004/08/events/eventquery\">\
         <QueryList><Query Id=\"0\"><Select Path=\"Application\">*</Select></Query></QueryList>\
         </w:Filter></e:Subscribe>",
    );
    // Identify is answered before routing: no lookup.
    let before = lookups();
    let answer = http::post(fixture.port, Some(&good), soap::identify().as_bytes());
    assert_eq!(answer.status, 200, "{}", answer.describe());
    assert_eq!(lookups(), before, "Identify looked an engine up");
    for (what, body) in [("shell", shell), ("CIM", cim), ("event log", event_log)] {
        let before = lookups();
        let answer = http::post(fixture.port, Some(&good), body.as_bytes());
        assert_eq!(answer.status, 200, "{what}: {}", answer.describe());
        assert_eq!(lookups() - before, 1.0, "{what}: lookups per request");
    }
}
