//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::path::Path;

use wsman_config::ConfigStore;
use wsman_proto::envelope::{Selector, SelectorSet, SelectorValue};
use wsman_proto::fault::Fault;
use wsman_proto::xml::{self, Element, Limits};

pub const CONFIG: &str = "http://schemas.microsoft.com/wbem/wsman/1/config";
pub const SERVICE: &str = "http://schemas.microsoft.com/wbem/wsman/1/config/service";
pub const SERVICE_AUTH: &str = "http://schemas.microsoft.com/wbem/wsman/1/config/service/auth";
pub const WINRS: &str = "http://schemas.microsoft.com/wbem/wsman/1/config/winrs";
pub const LISTENER: &str = "http://schemas.microsoft.com/wbem/wsman/1/config/listener";

pub fn parse(text: &str) -> Element {
    xml::parse(text, &Limits::default()).unwrap()
}

pub fn selectors(pairs: &[(&str, &str)]) -> SelectorSet {
    SelectorSet(
        pairs
            .iter()
            .map(|(n, v)| Selector {
                name: (*n).to_owned(),
                value: SelectorValue::Text((*v).to_owned()),
            })
            .collect(),
    )
}

pub fn none() -> SelectorSet {
    SelectorSet::default()
}

/// `<p:Name xmlns:p="ns">inner</p:Name>` parsed.
pub fn body(ns: &str, name: &str, inner: &str) -> Element {
    parse(&format!("<p:{name} xmlns:p=\"{ns}\">{inner}</p:{name}>"))
}

pub fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(p, text).unwrap();
}

pub fn read(dir: &Path, rel: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(rel)).ok()
}

/// The text of the first descendant element with this local name.
pub fn find_text(e: &Element, name: &str) -> Option<String> {
    if e.name == name {
        return Some(e.text());
    }
    e.elements().find_map(|c| find_text(c, name))
}

/// A store over a fresh temporary directory (kept alive by the returned guard).
pub fn store() -> (tempfile::TempDir, ConfigStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = ConfigStore::open(dir.path()).unwrap();
    (dir, s)
}

/// Put of the container at `uri` (element `name`) with only the leaves in `inner`.
pub fn put_leaves(
    store: &mut ConfigStore,
    uri: &str,
    name: &str,
    inner: &str,
) -> Result<String, Fault> {
    store.put(uri, &none(), Some(&body(uri, name, inner)))
}
