//! The engines are one wing, `wsman-server/src/engines/`: the top of the server crate holds
//! the front door, the router and what the engines share, never an engine's implementation;
//! and the time budget of a call becomes its deadline once, where the call is routed. (That
//! an answer's envelope is written in one place, `src/render.rs`, the compiler holds:
//! `clippy.toml` bans `wsman_proto::response::envelope*` elsewhere.)

use std::path::Path;

use wsman_test::binaries::workspace_root;

use super::module_graph::{display, ModuleGraph};
use super::primitives::{product_files, product_lines};

const SERVER_SRC: &str = "crates/wsman-server/src";

/// What may stand at the top of `wsman-server/src` (a file `NAME.rs`, a folder `NAME/` or
/// both), each with what it is. An engine's adapter or implementation goes under `engines/`.
const TOP: &[(&str, &str)] = &[
    (
        "access",
        "authorization: the caller's SIDs against what the engine states",
    ),
    ("addresses", "the listeners' address filters"),
    ("auth", "authentication from the headers"),
    ("body", "the bounded body read"),
    (
        "catalog",
        "the router: keys to engines, a call's limits and deadline",
    ),
    ("connection", "one connection's state"),
    ("connection_limit", "MaxConnections"),
    ("control", "the local control socket"),
    ("engine", "the contract between the router and the engines"),
    ("engines", "the engines"),
    ("enumeration", "the enumeration store the engines share"),
    ("error", "the errors table"),
    ("identify", "Identify, answered before any engine"),
    ("lib", "the crate root"),
    ("listener", "the listeners"),
    (
        "live",
        "the live configuration; makes what the engines share",
    ),
    ("metrics", "metrics"),
    ("pipeline", "the guard pipeline"),
    ("principal", "who authenticated"),
    ("proof", "what the credentials proved"),
    ("proxy_header", "the PROXY protocol header"),
    (
        "render",
        "the one writer of response envelopes: an engine's typed answer rendered and sized",
    ),
    ("response", "the HTTP answer"),
    ("response_body", "the answer's body in pieces"),
    ("server", "the running service"),
    ("settings", "the service's settings"),
    ("system", "the settings read from the configuration"),
    ("throttle", "login throttling and unauthenticated pacing"),
    ("tls", "TLS"),
    ("workers", "the connection workers"),
];

/// The names at the top of `dir` (files without `.rs`, folders) that [`TOP`] does not list.
fn unlisted_at_the_top(dir: &Path) -> Vec<String> {
    let mut unlisted: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let name = name.strip_suffix(".rs").map_or(name.clone(), str::to_owned);
            (!TOP.iter().any(|(listed, _)| *listed == name)).then_some(name)
        })
        .collect();
    unlisted.sort();
    unlisted.dedup();
    unlisted
}

#[test]
fn no_engine_implementation_at_the_top_of_the_server_crate() {
    let unlisted = unlisted_at_the_top(&workspace_root().join(SERVER_SRC));
    assert!(
        unlisted.is_empty(),
        "{SERVER_SRC} holds {unlisted:?}: an engine's code goes under engines/; anything else is \
         listed in architecture/engines.rs's TOP with what it is"
    );
}

/// Whether `line` turns a time budget into a deadline: `now() +` the call's budget, a shell
/// budget's time or the operation budget itself.
fn makes_a_deadline(line: &str) -> bool {
    line.split("now() +").skip(1).any(|sum| {
        ["call.", "budget", "operation_budget"]
            .iter()
            .any(|b| sum.contains(b))
    })
}

#[test]
fn a_call_gets_its_deadline_once_where_it_is_routed() {
    let root = workspace_root();
    let mut found = Vec::new();
    for path in product_files(&root) {
        let relative = path
            .strip_prefix(&root)
            .unwrap_or(&path)
            .display()
            .to_string();
        if !relative.starts_with(SERVER_SRC) {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap_or_default();
        let count = product_lines(&source)
            .into_iter()
            .filter(|line| makes_a_deadline(line))
            .count();
        if count > 0 {
            found.push((relative, count));
        }
    }
    assert_eq!(
        found,
        [(format!("{SERVER_SRC}/catalog.rs"), 1)],
        "a call carries its deadline (`Call::deadline`), set once where it is routed; an \
         engine waits until it (or `Call::remaining`), never adds a budget to now() again"
    );
}

#[test]
fn the_counts_find_what_they_count() {
    assert!(makes_a_deadline(
        "let deadline = Instant::now() + call.budget;"
    ));
    assert!(makes_a_deadline(
        "deadline: Instant::now() + operation_budget(&r, s),"
    ));
    assert!(!makes_a_deadline(
        "let deadline = Instant::now() + PEEK_TIMEOUT;"
    ));
    let dir = tempfile::tempdir().expect("a temporary directory");
    for file in ["lib.rs", "catalog.rs", "dispatch.rs", "work.rs"] {
        std::fs::write(dir.path().join(file), "").expect("a file");
    }
    for folder in ["catalog", "engines", "winrs"] {
        std::fs::create_dir(dir.path().join(folder)).expect("a folder");
    }
    assert_eq!(
        unlisted_at_the_top(dir.path()),
        ["dispatch", "winrs", "work"]
    );
}

/// What every engine may use under `engines/`: the shared paging, and the engines' unit tests
/// (which drive several engines at once). Anything else there is an engine of its own.
const SHARED_UNDER_ENGINES: &[&str] = &["paging", "tests"];

/// The engine family a module of the server belongs to (`engines::NAME::..`), if any.
fn engine_of(module: &[String]) -> Option<&str> {
    match module {
        [wing, name, ..] if wing == "engines" && !SHARED_UNDER_ENGINES.contains(&name.as_str()) => {
            Some(name)
        }
        _ => None,
    }
}

/// No engine names another engine's module, whatever the name or the path it takes (a `pub
/// use` at the top included): what two engines share lives in `engines` itself or below it,
/// and the composition root (the daemon's catalog) joins them, as it hands the event store's
/// search its store.
#[test]
fn no_engine_imports_another_engines_module() {
    let graph = ModuleGraph::read(&workspace_root().join(SERVER_SRC).join("lib.rs"));
    let mut found = Vec::new();
    for (from, references) in &graph.edges {
        let Some(engine) = engine_of(from) else {
            continue;
        };
        for reference in references {
            if engine_of(&reference.to).is_some_and(|other| other != engine) {
                found.push(format!(
                    "{} names {} ({}:{})",
                    display(from),
                    display(&reference.to),
                    reference.file.display(),
                    reference.line
                ));
            }
        }
    }
    assert!(
        !graph.edges.is_empty(),
        "the server's module graph was not read"
    );
    assert!(
        found.is_empty(),
        "an engine imports another engine's module; move what they share to `engines` (or \
         below) or join them in the daemon's catalog:\n{}",
        found.join("\n")
    );
}
