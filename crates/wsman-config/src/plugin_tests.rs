#![allow(clippy::unwrap_used)]

use wsman_proto::envelope::{Selector, SelectorSet, SelectorValue};
use wsman_proto::xml::{parse, Limits};

use super::*;
use crate::schema::DEFAULT_ROOT_SDDL;
use crate::store::ConfigStore;

fn name(n: &str) -> SelectorSet {
    SelectorSet(vec![Selector {
        name: "Name".to_owned(),
        value: SelectorValue::Text(n.to_owned()),
    }])
}

fn securities(xml: &str) -> Vec<(String, String)> {
    let doc = parse(xml, &Limits::default()).unwrap();
    let mut out = Vec::new();
    let resource = doc
        .elements()
        .next()
        .and_then(|r| r.elements().next())
        .unwrap();
    for s in resource.elements().filter(|e| e.name == "Security") {
        out.push((
            s.attr("Uri").unwrap().to_owned(),
            s.attr("Sddl").unwrap().to_owned(),
        ));
    }
    out
}

fn body(entries: &[(&str, &str)]) -> wsman_proto::xml::Element {
    let mut xml = format!(
        "<PlugInConfiguration xmlns=\"{PLUGIN_CONFIG_NS}\" Name=\"WMI Provider\"><Resources><Resource ResourceUri=\"http://schemas.microsoft.com/wbem/wsman/1/wmi\">"
    );
    for (uri, sddl) in entries {
        xml.push_str(&format!(
            "<Security Uri=\"{uri}\" ExactMatch=\"false\" Sddl=\"{sddl}\"/>"
        ));
    }
    xml.push_str("</Resource></Resources></PlugInConfiguration>");
    parse(&xml, &Limits::default()).unwrap()
}

#[test]
fn the_default_is_root_sddl_plus_the_wmi_users_group() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = ConfigStore::open(dir.path()).unwrap();
    let xml = store.get(PLUGIN_URI, &name("WMI Provider")).unwrap();
    assert_eq!(
        securities(&xml),
        vec![(String::new(), DEFAULT_ROOT_SDDL.to_owned())]
    );
    assert!(
        xml.contains("<Capability Type=\"Enumerate\" SupportsFiltering=\"true\"/>"),
        "{xml}"
    );
    store.set_wmi_users_gid(Some(1234));
    let xml = store.get(PLUGIN_URI, &name("wmi provider")).unwrap();
    let (_, sddl) = &securities(&xml)[0];
    // Read and Execute, not Full Control: Write would let the group start processes.
    assert!(sddl.contains("(A;;GRGX;;;S-1-22-2-1234)S:"), "{sddl}");
    let items = store.enumerate(PLUGIN_URI, &|_| Vec::new()).unwrap();
    assert_eq!(
        items.len(),
        2 + crate::plugin::UNSERVED_POWERSHELL_CONFIGURATIONS.len()
    );
    assert_eq!(
        items[0].selectors,
        vec![("Name".to_owned(), "WMI Provider".to_owned())]
    );
}

#[test]
fn put_stores_namespace_descriptors_and_they_decide() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = ConfigStore::open(dir.path()).unwrap();
    let cimv2 = "O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;S-1-22-1-1001)";
    let b = body(&[
        ("", DEFAULT_ROOT_SDDL),
        (
            "http://schemas.microsoft.com/wbem/wsman/1/wmi/ROOT/CIMV2",
            cimv2,
        ),
    ]);
    let xml = store
        .put(PLUGIN_URI, &name("WMI Provider"), Some(&b))
        .unwrap();
    assert_eq!(
        securities(&xml),
        vec![
            (String::new(), DEFAULT_ROOT_SDDL.to_owned()),
            (
                "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2".to_owned(),
                cimv2.to_owned()
            ),
        ]
    );
    let stored = std::fs::read_to_string(dir.path().join("config.toml")).unwrap();
    assert!(stored.contains("WmiSDDL = { \"root/cimv2\" = "), "{stored}");
    // The default entry was not pinned.
    assert!(!stored.contains("WmiNamespace"), "{stored}");
    let again = ConfigStore::open(dir.path()).unwrap();
    let security = &again.config().security;
    assert_eq!(
        security.wmi_sddl(Some("root\\cimv2"), DEFAULT_ROOT_SDDL),
        cimv2
    );
    assert_eq!(
        security.wmi_sddl(Some("root/hardware"), DEFAULT_ROOT_SDDL),
        DEFAULT_ROOT_SDDL
    );
}

#[test]
fn bad_input_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = ConfigStore::open(dir.path()).unwrap();
    let bad = [
        body(&[("", "not a descriptor")]),
        body(&[("http://example.com/other", DEFAULT_ROOT_SDDL)]),
        body(&[(
            "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/../x",
            DEFAULT_ROOT_SDDL,
        )]),
    ];
    for b in &bad {
        let fault = store
            .put(PLUGIN_URI, &name("WMI Provider"), Some(b))
            .unwrap_err();
        assert!(
            fault.to_string().contains("SchemaValidationError")
                || format!("{fault:?}").contains("SchemaValidation"),
            "{fault:?}"
        );
    }
    assert!(store
        .get(PLUGIN_URI, &name("Event Forwarding Plugin"))
        .is_err());
    assert!(store.get(PLUGIN_URI, &SelectorSet::default()).is_err());
    assert!(!dir.path().join("config.toml").exists());
}

#[test]
fn uris_map_to_keys() {
    assert_eq!(wmi_key_of_uri("").as_deref(), Some("WmiNamespace"));
    assert_eq!(
        wmi_key_of_uri(WMI_NAMESPACE_URI).as_deref(),
        Some("WmiNamespace")
    );
    assert_eq!(
        wmi_key_of_uri("http://schemas.microsoft.com/wbem/wsman/1/wmi/root/CIMv2/").as_deref(),
        Some("root/cimv2")
    );
    assert_eq!(
        wmi_key_of_uri("http://schemas.microsoft.com/wbem/wsman/1/config"),
        None
    );
    assert_eq!(
        uri_of_wmi_key("root/cimv2"),
        "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2"
    );
}

#[test]
fn the_powershell_plugin_shows_and_sets_its_own_descriptor() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = ConfigStore::open(dir.path()).unwrap();
    let items = store.enumerate_plugins();
    let names: Vec<&str> = items.iter().map(|i| i.selectors[0].1.as_str()).collect();
    assert_eq!(
        names,
        [
            "WMI Provider",
            "microsoft.powershell",
            "microsoft.powershell.workflow",
            "microsoft.powershell32",
            "microsoft.windows.servermanagerworkflows"
        ]
    );
    let xml = store
        .get(PLUGIN_URI, &name("Microsoft.PowerShell"))
        .unwrap();
    assert_eq!(
        securities(&xml),
        vec![(
            POWERSHELL_RESOURCE_URI.to_owned(),
            crate::security::WINDOWS_POWERSHELL_SDDL.to_owned()
        )]
    );
    // The remote users group, when it exists, is in the default.
    store.set_remote_users_gid(Some(4321));
    let xml = store
        .get(PLUGIN_URI, &name("microsoft.powershell"))
        .unwrap();
    let default = crate::security::default_powershell_sddl(Some(4321));
    assert!(default.contains("S-1-22-2-4321"), "{default}");
    assert_eq!(securities(&xml)[0].1, default);
    assert!(xml.contains("Filename=\"pwsh\""), "{xml}");
    let put = |sddl: &str| {
        let text = format!(
            "<PlugInConfiguration xmlns=\"{PLUGIN_CONFIG_NS}\" Name=\"microsoft.powershell\"><Resources><Resource ResourceUri=\"{POWERSHELL_RESOURCE_URI}\"><Security Uri=\"{POWERSHELL_RESOURCE_URI}\" ExactMatch=\"true\" Sddl=\"{sddl}\"/></Resource></Resources></PlugInConfiguration>"
        );
        parse(&text, &Limits::default()).unwrap()
    };
    let narrowed = "O:NSG:BAD:P(A;;GA;;;BA)";
    store
        .put(
            PLUGIN_URI,
            &name("microsoft.powershell"),
            Some(&put(narrowed)),
        )
        .unwrap();
    assert_eq!(store.config().security.powershell_sddl(), narrowed);
    // Not ShellSDDL: WinRS keeps its own.
    assert_eq!(
        store.config().security.shell_sddl,
        crate::security::DEFAULT_SHELL_SDDL
    );
    let reopened = ConfigStore::open(dir.path()).unwrap();
    assert_eq!(reopened.config().security.powershell_sddl(), narrowed);
    assert!(store
        .put(
            PLUGIN_URI,
            &name("microsoft.powershell"),
            Some(&put("garbage"))
        )
        .is_err());
    assert_eq!(store.config().security.powershell_sddl(), narrowed);
}

#[test]
fn windows_other_powershell_configurations_are_listed_disabled_and_cannot_be_changed() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = ConfigStore::open(dir.path()).unwrap();
    let xml = store
        .get(PLUGIN_URI, &name("Microsoft.PowerShell32"))
        .unwrap();
    assert!(xml.contains("Name=\"microsoft.powershell32\""), "{xml}");
    assert!(xml.contains("Enabled=\"false\""), "{xml}");
    assert!(
        xml.contains(
            "ResourceUri=\"http://schemas.microsoft.com/powershell/microsoft.powershell32\""
        ),
        "{xml}"
    );
    let served = store
        .get(PLUGIN_URI, &name("microsoft.powershell"))
        .unwrap();
    assert!(served.contains("Enabled=\"true\""), "{served}");
    let text = format!(
        "<PlugInConfiguration xmlns=\"{PLUGIN_CONFIG_NS}\" Name=\"microsoft.powershell32\"><Resources><Resource><Security Sddl=\"O:NSG:BAD:P(A;;GA;;;BA)\"/></Resource></Resources></PlugInConfiguration>"
    );
    let body = parse(&text, &Limits::default()).unwrap();
    let refused = store
        .put(PLUGIN_URI, &name("microsoft.powershell32"), Some(&body))
        .unwrap_err();
    assert!(format!("{refused:?}").contains("read-only"), "{refused:?}");
    assert!(store
        .get(PLUGIN_URI, &name("microsoft.powershell7"))
        .is_err());
}
