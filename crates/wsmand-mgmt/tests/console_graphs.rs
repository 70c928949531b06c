//! The console's live figures as a script reads them: `samples.json` filled by the sampler
//! from a real `wsmand` daemon, its rules (session, configured host), and the fleet's health
//! roll-up in JSON and HTML.
//!
//! The real `wsmand-mgmt` sampling every second (`SampleIntervalSeconds = 1`), real `wsmand`
//! daemons as its hosts, curl as the client. The memory figure is compared with the kernel's
//! own `/proc/meminfo` read by the test.

use std::time::{Duration, Instant};

mod common;
use common::*;

/// `MemAvailable` of `/proc/meminfo` as a share of `MemTotal`, in % in use.
fn memory_in_use() -> f64 {
    let text = std::fs::read_to_string("/proc/meminfo").expect("meminfo");
    let field = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/meminfo"))
    };
    100.0 * (1.0 - field("MemAvailable:") / field("MemTotal:"))
}

/// The points of `host` once there are at least `count`, within a minute.
fn points(service: &Service, session: &str, host: &str, count: usize) -> Vec<serde_json::Value> {
    let start = Instant::now();
    loop {
        let reply = service.get_json(session, &format!("/hosts/{host}/samples.json"));
        assert_eq!(reply.status, 200, "{}", reply.body);
        let json = reply.json();
        let points = json["points"].as_array().cloned().unwrap_or_default();
        if points.len() >= count {
            assert_eq!(json["interval"], 1, "{json}");
            assert_eq!(json["reachable"], true, "{json}");
            return points;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{count} points of {host} within a minute: {json}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn samples_come_from_the_host_and_follow_the_pages_rules() {
    let service = Service::start(2, "SampleIntervalSeconds = 1\n");
    let (session, _) = service.manager_session();
    let got = points(&service, &session, "host0", 3);
    for point in &got {
        for key in ["cpu", "memory", "disk_free"] {
            let value = point[key]
                .as_f64()
                .unwrap_or_else(|| panic!("{key}: {point}"));
            assert!((0.0..=100.0).contains(&value), "{key}: {point}");
        }
    }
    // The network rate needs two samples: the first has none, the later ones have one.
    assert!(got[0]["network"].is_null(), "{}", got[0]);
    assert!(
        got[2]["network"].as_f64().is_some_and(|n| n >= 0.0),
        "{}",
        got[2]
    );
    // Memory in use as the kernel counts it, read by this test (a busy machine moves it a
    // little between the two reads).
    let newest = got.last().expect("a point")["memory"]
        .as_f64()
        .expect("memory");
    let kernel = memory_in_use();
    assert!(
        (newest - kernel).abs() < 10.0,
        "sampled {newest} %, kernel {kernel} %"
    );
    // Points come in order, one per round; `since` keeps only newer ones.
    let times: Vec<u64> = got.iter().map(|p| p["at"].as_u64().expect("at")).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    let last = times[times.len() - 1];
    let newer = service.get_json(&session, &format!("/hosts/host0/samples.json?since={last}"));
    assert!(newer.json()["points"]
        .as_array()
        .expect("points")
        .iter()
        .all(|p| p["at"].as_u64().expect("at") > last));
    // A host not configured is 404; without a session the figures are refused.
    let unknown = service.get_json(&session, "/hosts/nowhere/samples.json");
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    let anonymous = service.curl(&[
        "-H",
        "Accept: application/json",
        &service.url("/hosts/host0/samples.json"),
    ]);
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    // The fleet: every host's newest point in JSON; in HTML the counts and the sort links.
    points(&service, &session, "host1", 1);
    let fleet = service.get_json(&session, "/fleet");
    let latest = &fleet.json()["latest"];
    for host in ["host0", "host1"] {
        assert!(latest[host]["cpu"].as_f64().is_some(), "{host}: {latest}");
    }
    let page = service.page(&session, "/fleet?sort=memory&dir=desc");
    page.assert_shows(
        200,
        &[
            "<ul class=\"health-counts\"",
            "<strong>2</strong> reachable",
        ],
    );
    assert!(page.body.contains("href=\"?sort=memory\""), "{}", page.body);
    assert!(page.body.contains("Memory ▼"), "{}", page.body);
}

#[test]
fn an_unreachable_host_is_marked_and_adds_no_point() {
    let service = Service::start(1, "SampleIntervalSeconds = 1\n");
    let (session, _) = service.manager_session();
    let before = points(&service, &session, "host0", 1).len();
    let mut service = service;
    // The daemon gone: its port refuses.
    service.daemons.clear();
    let start = Instant::now();
    let json = loop {
        let json = service
            .get_json(&session, "/hosts/host0/samples.json")
            .json();
        if json["reachable"] == false {
            break json;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "never marked unreachable: {json}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    std::thread::sleep(Duration::from_secs(3));
    let after = service
        .get_json(&session, "/hosts/host0/samples.json")
        .json();
    assert_eq!(after["reachable"], false, "{after}");
    let count = after["points"].as_array().expect("points").len();
    assert!(count >= before, "{json}");
    assert_eq!(
        count,
        json["points"].as_array().expect("points").len(),
        "no point while unreachable: {after}"
    );
    assert!(
        after["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{after}"
    );
}
