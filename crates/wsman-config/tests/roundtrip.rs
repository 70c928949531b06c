//! Property: any valid values, rendered as a whole-container body, Put, then Get, come back
//! as they went in (and survive a reopen from disk).

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use proptest::prelude::*;
use wsman_config::schema::{all_settings, ValueType};
use wsman_config::{ConfigStore, Container};

/// A valid text for a type, from a seed.
fn text_for(ty: ValueType, seed: u64, s: &str) -> String {
    match ty {
        ValueType::Bool => if seed.is_multiple_of(2) {
            "TRUE"
        } else {
            "false"
        }
        .to_owned(),
        ValueType::Number { min, max, .. } => {
            let span = max - min;
            let v = if span == u64::MAX {
                seed
            } else {
                min + seed % (span + 1)
            };
            v.to_string()
        }
        ValueType::Text => s.to_owned(),
        ValueType::IpFilter { v6: false } => {
            ["*", "", "10.0.0.1-10.0.0.9, 127.0.0.1"][(seed % 3) as usize].to_owned()
        }
        ValueType::IpFilter { v6: true } => ["*", "", "::1"][(seed % 3) as usize].to_owned(),
        ValueType::CbtHardeningLevel => {
            ["none", "Relaxed", "STRICT"][(seed % 3) as usize].to_owned()
        }
        ValueType::Sddl => [
            wsman_config::schema::DEFAULT_ROOT_SDDL,
            "O:NSG:BAD:P(A;;GA;;;BA)(D;;GX;;;S-1-22-2-1000)",
        ][(seed % 2) as usize]
            .to_owned(),
    }
}

fn canonical(ty: ValueType, text: &str) -> String {
    ty.parse(text).unwrap().to_string()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn put_get_round_trip(
        seeds in proptest::collection::vec(any::<u64>(), 64),
        texts in proptest::collection::vec("[ -~]{0,20}", 64),
    ) {
        let (dir, mut store) = store();
        let settings = all_settings();
        let mut expected = Vec::new();
        let mut inner = std::collections::BTreeMap::<Container, String>::new();
        for (i, (c, s)) in settings.iter().enumerate() {
            let text = if s.read_only {
                s.default.to_string()
            } else {
                // Leading/trailing spaces are XML formatting, not value.
                text_for(s.ty, seeds[i], texts[i].trim())
            };
            let escaped = wsman_proto::xml::escape_text(&text).into_owned();
            inner.entry(*c).or_default().push_str(&format!("<p:{n}>{escaped}</p:{n}>", n = s.name));
            expected.push((*c, s.name, canonical(s.ty, &text)));
        }
        // One Put of the whole tree through the root, containers nested as Windows nests them.
        fn nest(c: Container, inner: &std::collections::BTreeMap<Container, String>) -> String {
            let mut out = inner.get(&c).cloned().unwrap_or_default();
            for child in c.children() {
                out.push_str(&format!("<p:{n}>{}</p:{n}>", nest(child, inner), n = child.element_name()));
            }
            out
        }
        let body_xml = nest(Container::Config, &inner);
        put_leaves(&mut store, CONFIG, "Config", &body_xml).unwrap();
        let reopened = ConfigStore::open(dir.path()).unwrap();
        for st in [&store, &reopened] {
            for (c, name, value) in &expected {
                let got = parse(&st.get(c.resource_uri(), &none()).unwrap());
                let leaf = got.elements().find(|e| e.name == *name).unwrap();
                prop_assert_eq!(&leaf.text(), value, "{}/{}", c.toml_path(), name);
            }
        }
        // And the rendered whole tree Puts back unchanged.
        let all = store.get(CONFIG, &none()).unwrap();
        let again = store.put(CONFIG, &none(), Some(&parse(&all))).unwrap();
        prop_assert_eq!(all, again);
    }
}
