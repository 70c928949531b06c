use super::*;

/// A `winrm/config` Get answered by a real Windows host (recorded; provenance in the
/// fixtures' README).
const WINDOWS_CONFIG: &str =
    include_str!("../../../wsman-proto/tests/fixtures/windows/config/get-config.response.xml");

fn find<'a>(element: &'a Element, name: &str) -> Option<&'a Element> {
    if element.name == name {
        return Some(element);
    }
    element.elements().find_map(|child| find(child, name))
}

/// The leaves of the raw text, scanned without the XML parser: `<cfg:NAME>VALUE</cfg:NAME>`
/// and `<cfg:NAME/>`, in order.
fn leaves_in_text(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("<cfg:") {
        rest = &rest[start + 5..];
        let end = rest.find('>').expect("tag end");
        let tag = &rest[..end];
        let name = tag.split([' ', '/']).next().unwrap_or("").to_owned();
        if tag.ends_with('/') {
            out.push((name, String::new()));
            continue;
        }
        let after = &rest[end + 1..];
        let value_end = after.find('<').expect("next tag");
        if after[value_end..].starts_with(&format!("</cfg:{name}>")) {
            out.push((name, after[..value_end].to_owned()));
        }
    }
    out
}

#[test]
fn a_recorded_windows_config_flattens_to_its_leaves() {
    let envelope = wsman_proto::xml::parse(WINDOWS_CONFIG, &wsman_proto::xml::Limits::default())
        .expect("the recorded answer parses");
    let config = find(&envelope, "Config").expect("cfg:Config");
    let mut rows = Vec::new();
    flatten_config(config, "", 0, &mut rows);
    let expected = leaves_in_text(WINDOWS_CONFIG);
    assert!(expected.len() > 20, "{expected:?}");
    let got: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            let leaf = r.path.rsplit('/').next().unwrap_or("").to_owned();
            (leaf, r.value.clone())
        })
        .collect();
    assert_eq!(got, expected);
    assert!(rows.iter().all(|r| !r.locked && r.source.is_none()));
    assert!(rows
        .iter()
        .any(|r| r.path == "Client/DefaultPorts/HTTPS" && r.value == "5986"));
}
