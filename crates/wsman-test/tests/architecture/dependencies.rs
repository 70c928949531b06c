//! The dependency direction of ARCHITECTURE.md, on `cargo metadata`'s resolved graph: the pure
//! leaves reach no runtime, socket or OS crate even transitively, the client never reaches the
//! server, only the daemon and the harness depend on the server, every member's internal
//! dependencies are in its allow-list, and ARCHITECTURE.md names every allowed edge.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{architecture_md, cargo_metadata, members};
use wsman_test::binaries::assert_none;

/// name -> names of its normal (non-dev, non-build) dependencies, for every package.
fn normal_dependency_graph(metadata: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let names: BTreeMap<&str, &str> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            (
                p["id"].as_str().expect("id"),
                p["name"].as_str().expect("name"),
            )
        })
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for node in metadata["resolve"]["nodes"]
        .as_array()
        .expect("resolve.nodes")
    {
        let name = names[node["id"].as_str().expect("node id")].to_owned();
        let entry = graph.entry(name).or_default();
        for dep in node["deps"].as_array().expect("deps") {
            let normal = dep["dep_kinds"]
                .as_array()
                .expect("dep_kinds")
                .iter()
                .any(|k| k["kind"].is_null());
            if normal {
                entry.insert(names[dep["pkg"].as_str().expect("pkg")].to_owned());
            }
        }
    }
    graph
}

fn transitive(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![start.to_owned()];
    while let Some(name) = stack.pop() {
        for dep in graph.get(&name).into_iter().flatten() {
            if seen.insert(dep.clone()) {
                stack.push(dep.clone());
            }
        }
    }
    seen
}

/// The workspace's own crates each member may depend on (normal dependencies).
/// Mirrors ARCHITECTURE.md's "Dependency direction".
const ALLOWED_INTERNAL: &[(&str, &[&str])] = &[
    ("wsman-proto", &[]),
    ("wsman-safe", &[]),
    ("wsman-mac-beside", &[]),
    (
        "wsman-auth",
        &["wsman-proto", "wsman-mac-beside", "wsman-safe"],
    ),
    ("wsman-config", &["wsman-proto", "wsman-auth", "wsman-safe"]),
    ("wsman-os", &["wsman-safe"]),
    ("wsman-gss", &["wsman-mac-beside"]),
    ("wsman-buffers", &[]),
    ("wsman-principal", &[]),
    ("wsman-work", &["wsman-os", "wsman-proto"]),
    ("wsman-systemd", &[]),
    ("wsman-packagekit", &[]),
    ("wsman-ipmi", &["wsman-safe"]),
    ("wsman-events", &["wsman-proto"]),
    (
        "wsman-journal",
        &["wsman-events", "wsman-os", "wsman-proto", "wsman-work"],
    ),
    (
        "wsman-eventsource",
        &[
            "wsman-events",
            "wsman-journal",
            "wsman-proto",
            "wsman-config",
            "wsman-principal",
            "wsman-safe",
            "wsman-work",
        ],
    ),
    (
        "wsman-outputs",
        &["wsman-events", "wsman-proto", "wsman-safe"],
    ),
    (
        "wsman-collector",
        &["wsman-outputs", "wsman-events", "wsman-proto", "wsman-safe"],
    ),
    (
        "wsman-shell",
        &["wsman-os", "wsman-buffers", "wsman-principal"],
    ),
    (
        "wsman-providers",
        &[
            "wsman-proto",
            "wsman-config",
            "wsman-systemd",
            "wsman-packagekit",
            "wsman-ipmi",
            "wsman-principal",
        ],
    ),
    ("wsman-front", &["wsman-proto", "wsman-safe"]),
    (
        "wsman-server",
        &[
            "wsman-front",
            "wsman-proto",
            "wsman-auth",
            "wsman-config",
            "wsman-os",
            "wsman-gss",
            "wsman-buffers",
            "wsman-work",
            "wsman-shell",
            "wsman-providers",
            "wsman-events",
            "wsman-eventsource",
            "wsman-collector",
            "wsman-outputs",
            "wsman-principal",
            "wsman-safe",
        ],
    ),
    (
        "wsman-client",
        &[
            "wsman-proto",
            "wsman-auth",
            "wsman-gss",
            "wsman-buffers",
            "wsman-safe",
        ],
    ),
    (
        "wsman-cli",
        &["wsman-client", "wsman-config", "wsman-proto"],
    ),
    (
        "winrm",
        &["wsman-cli", "wsman-client", "wsman-config", "wsman-proto"],
    ),
    ("winrs", &["wsman-cli", "wsman-client", "wsman-proto"]),
    ("wevtutil", &["wsman-events", "wsman-journal", "wsman-cli"]),
    (
        "wsmand-mgmt",
        &[
            "wsman-front",
            "wsman-client",
            "wsman-config",
            "wsman-auth",
            "wsman-proto",
            "wsman-os",
            "wsman-safe",
            "wsman-principal",
        ],
    ),
    (
        "wsmand",
        &[
            "wsman-server",
            "wsman-config",
            "wsman-auth",
            "wsman-os",
            "wsman-proto",
            "wsman-providers",
            "wsman-ipmi",
            "wsman-events",
            "wsman-journal",
            "wsman-eventsource",
            "wsman-client",
            "wsman-collector",
            "wsman-gss",
        ],
    ),
    ("bare-responder", &[]),
    ("shell-bench", &["wsman-client"]),
    ("auth-bench", &["wsman-client", "wsman-auth"]),
    ("enum-bench", &["wsman-client"]),
    ("fleet-load", &["wsman-events", "wsman-proto", "wsman-safe"]),
    ("fleet-sim", &[]),
];

#[test]
fn dependency_direction_holds() {
    let metadata = cargo_metadata(true);
    let graph = normal_dependency_graph(&metadata);
    let workspace: BTreeSet<String> = members(&metadata).into_iter().map(|m| m.name).collect();
    let violations = dependency_violations(&graph, &workspace);
    assert!(
        violations.is_empty(),
        "dependency rules broken:\n{}",
        violations.join("\n")
    );
}

/// Every broken dependency rule, as a sentence.
fn dependency_violations(
    graph: &BTreeMap<String, BTreeSet<String>>,
    workspace: &BTreeSet<String>,
) -> Vec<String> {
    let mut violations = Vec::new();

    // Pure leaves: no async runtime, no HTTP, no OS crate, anywhere below them; no libc or nix
    // directly (libc arrives transitively through getrandom, which is fine: no sockets).
    for leaf in ["wsman-proto", "wsman-auth", "wsman-config", "wsman-events"] {
        let below = transitive(graph, leaf);
        for forbidden in [
            "tokio",
            "hyper",
            "nix",
            "wsman-os",
            "wsman-server",
            "wsman-providers",
        ] {
            if below.contains(forbidden) {
                violations.push(format!("{leaf} depends (transitively) on {forbidden}"));
            }
        }
        for forbidden in ["libc", "nix"] {
            if graph.get(leaf).is_some_and(|d| d.contains(forbidden)) {
                violations.push(format!("{leaf} depends directly on {forbidden}"));
            }
        }
    }

    // The shell engine knows nothing of HTTP or SOAP.
    let below_shell = transitive(graph, "wsman-shell");
    for forbidden in ["hyper", "wsman-proto", "wsman-server", "wsman-providers"] {
        if below_shell.contains(forbidden) {
            violations.push(format!("wsman-shell depends (transitively) on {forbidden}"));
        }
    }

    // The client library must be usable without the server side.
    let below_client = transitive(graph, "wsman-client");
    for forbidden in ["wsman-server", "wsman-providers", "wsman-os", "wsman-shell"] {
        if below_client.contains(forbidden) {
            violations.push(format!(
                "wsman-client depends (transitively) on {forbidden}"
            ));
        }
    }

    // Only the daemon and the test harness may depend on the server.
    for (name, deps) in graph {
        if deps.contains("wsman-server") && name != "wsmand" && name != "wsman-test" {
            violations.push(format!("{name} depends on wsman-server"));
        }
    }

    // Every member's internal dependencies are in its allow-list.
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED_INTERNAL.iter().copied().collect();
    for member in workspace {
        if member == "wsman-test" {
            continue;
        }
        let Some(allowed_deps) = allowed.get(member.as_str()) else {
            violations.push(format!(
                "{member} is not in this test's ALLOWED_INTERNAL table: add it, with ARCHITECTURE.md"
            ));
            continue;
        };
        for dep in graph.get(member).into_iter().flatten() {
            if workspace.contains(dep) && !allowed_deps.contains(&dep.as_str()) {
                violations.push(format!("{member} -> {dep} is not an allowed direction"));
            }
        }
    }
    violations
}

/// The allowed edges that ARCHITECTURE.md's "Dependency direction" does not name: for each
/// crate with allowed dependencies, the text after "`crate` ->" (up to the next such entry or
/// the end of its bullet) must name each of them in backticks, so the map cannot fall behind
/// the table. "everything above" stands for the whole list.
fn undocumented_edges(architecture: &str, allowed: &[(&str, &[&str])]) -> Vec<String> {
    let section = architecture
        .split_once("## Dependency direction")
        .map(|(_, rest)| rest.split("\n## ").next().unwrap_or(rest))
        .unwrap_or("");
    let mut missing = Vec::new();
    for (krate, deps) in allowed {
        if deps.is_empty() {
            continue;
        }
        let marker = format!("`{krate}` ->");
        let Some(start) = section.find(&marker) else {
            missing.push(format!("{krate}: no \"{marker}\" entry"));
            continue;
        };
        let rest = &section[start + marker.len()..];
        let bullet_end = rest.find("\n- ").unwrap_or(rest.len());
        let next_entry = rest.find("` ->").unwrap_or(rest.len());
        let span = &rest[..bullet_end.min(next_entry)];
        if span.contains("everything above") {
            continue;
        }
        for dep in *deps {
            if !span.contains(&format!("`{dep}`")) {
                missing.push(format!("{krate} -> {dep}"));
            }
        }
    }
    missing
}

#[test]
fn architecture_md_names_every_allowed_dependency() {
    let missing = undocumented_edges(&architecture_md(), ALLOWED_INTERNAL);
    assert_none(
        "allowed dependencies missing from ARCHITECTURE.md's \"Dependency direction\"",
        &missing,
    );
}

#[test]
fn undocumented_edges_are_found() {
    let doc = "## Dependency direction\n\n- `a` -> `b`; `c` -> `b`.\n- `d` -> everything above.\n## Next\n- `e` -> `f`.\n";
    let allowed: &[(&str, &[&str])] = &[
        ("a", &["b", "c"]),
        ("c", &["b"]),
        ("d", &["a", "b"]),
        ("e", &["f"]),
        ("g", &[]),
    ];
    assert_eq!(
        undocumented_edges(doc, allowed),
        vec!["a -> c".to_owned(), "e: no \"`e` ->\" entry".to_owned()]
    );
}

#[test]
fn dependency_rules_catch_violations() {
    // The rules must be able to fail: a synthetic graph with three forbidden edges.
    let edges = [
        ("wsman-proto", "quick-xml"),
        ("wsman-config", "wsman-proto"),
        ("wsman-config", "tokio"),
        ("wsman-client", "wsman-server"),
        ("wsman-server", "hyper"),
        ("winrm", "wsman-os"),
    ];
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in edges {
        graph
            .entry(from.to_owned())
            .or_default()
            .insert(to.to_owned());
    }
    let workspace: BTreeSet<String> = [
        "wsman-proto",
        "wsman-config",
        "wsman-client",
        "wsman-server",
        "wsman-os",
        "winrm",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let violations = dependency_violations(&graph, &workspace);
    for expected in [
        "wsman-config depends (transitively) on tokio",
        "wsman-client depends (transitively) on wsman-server",
        "wsman-client depends on wsman-server",
        "winrm -> wsman-os is not an allowed direction",
    ] {
        assert!(
            violations.iter().any(|v| v == expected),
            "missing {expected:?} in {violations:?}"
        );
    }
    assert!(!violations.iter().any(|v| v.starts_with("wsman-proto")));
}
