//! Our Get of winrm/config has the same tree as the recorded Windows response (reference §6.2),
//! given the same values.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::*;
use wsman_config::ConfigStore;
use wsman_proto::xml::{Element, Node};

/// Structure and values, whitespace-only text ignored: (namespace, name, attributes, text,
/// children).
fn shape(e: &Element) -> String {
    let mut out = format!("<{{{}}}{}", e.ns.as_deref().unwrap_or(""), e.name);
    for a in &e.attributes {
        out.push_str(&format!(
            " {{{}}}{}={:?}",
            a.ns.as_deref().unwrap_or(""),
            a.name,
            a.value
        ));
    }
    out.push('>');
    for c in &e.children {
        match c {
            Node::Element(child) => out.push_str(&shape(child)),
            Node::Text(t) if t.trim().is_empty() => {}
            Node::Text(t) => out.push_str(t),
        }
    }
    out.push_str("</>");
    out
}

#[test]
fn get_config_matches_windows_tree() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../wsman-proto/tests/fixtures/windows/config/get-config.response.xml");
    let text = std::fs::read_to_string(&fixture).unwrap();
    let envelope = parse(&text);
    let body = envelope.elements().find(|e| e.name == "Body").unwrap();
    let windows = body.elements().next().unwrap();

    // The recorded host had Basic and CredSSP on and Windows' modern Winrs quotas.
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "config.toml",
        "[Config.Service.Auth]\nBasic = true\nCredSSP = true\n\
         [Config.Winrs]\nIdleTimeout = 7200000\nMaxConcurrentUsers = 2147483647\n\
         MaxShellRunTime = 2147483647\nMaxProcessesPerShell = 2147483647\n\
         MaxMemoryPerShellMB = 2147483647\nMaxShellsPerUser = 2147483647\n",
    );
    let store = ConfigStore::open(dir.path()).unwrap();
    let mut ours = parse(&store.get(CONFIG, &none()).unwrap());
    // wsmand's own bounds of the event source and of a user's unreceived command output
    // (Windows has none) are the only extra settings.
    for (container, extra) in [
        (
            "Service",
            &["MaxSubscriptions", "MaxSubscriptionsPerUser"][..],
        ),
        ("Winrs", &["MaxBufferedOutputPerUserMB"][..]),
    ] {
        let element = ours
            .children
            .iter_mut()
            .find_map(|c| match c {
                Node::Element(e) if e.name == container => Some(e),
                _ => None,
            })
            .unwrap();
        let before = element.children.len();
        element
            .children
            .retain(|c| !matches!(c, Node::Element(e) if extra.contains(&e.name.as_str())));
        assert_eq!(before - element.children.len(), extra.len(), "{container}");
    }
    assert_eq!(shape(&ours), shape(windows));
}

#[test]
fn sub_containers_use_their_own_namespace() {
    let store = ConfigStore::open(tempfile::tempdir().unwrap().path()).unwrap();
    let svc = parse(&store.get(SERVICE, &none()).unwrap());
    assert_eq!(svc.ns.as_deref(), Some(SERVICE));
    assert!(svc.elements().all(|e| e.ns.as_deref() == Some(SERVICE)));
    let auth = parse(&store.get(SERVICE_AUTH, &none()).unwrap());
    assert!(auth.is(SERVICE_AUTH, "Auth"));
    let names: Vec<&str> = auth.elements().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Basic",
            "Kerberos",
            "Negotiate",
            "Certificate",
            "CredSSP",
            "CbtHardeningLevel"
        ]
    );
}
