#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::schema::CimType;
use super::*;

/// Every class this crate builds without a BMC or an event log, and the systemd and
/// PackageKit ones (their managers connect only on first use).
fn classes() -> Vec<Box<dyn Class>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let manager = service::ServiceManager::new(runtime.handle().clone(), None);
    let updates = update_jobs::UpdateManager::new(runtime.handle().clone(), None);
    let provider = CimProvider::new()
        .with_services(manager)
        .with_updates(updates);
    #[cfg(feature = "bench-synthetic")]
    let provider = provider.with_synthetic(3);
    provider.classes
}

#[test]
fn every_declared_type_is_a_cim_type() {
    for class in classes() {
        let (namespace, class, declaration) =
            (class.namespace(), class.name(), class.schema().declaration);
        let methods = declaration
            .methods
            .iter()
            .flat_map(|m| m.inputs.iter().chain(m.outputs));
        for (name, type_name) in declaration.properties.iter().chain(methods) {
            assert!(
                CimType::parse(type_name).is_some(),
                "{namespace}/{class}.{name}: {type_name:?}"
            );
        }
    }
}

#[test]
fn every_class_declares_exactly_its_properties() {
    for class in classes() {
        let declaration = class
            .declaration()
            .unwrap_or_else(|| panic!("{} has no declaration", class.name()));
        let mut declared: Vec<&str> = declaration.properties.iter().map(|p| p.0).collect();
        let mut listed = class.properties().to_vec();
        declared.sort_unstable();
        listed.sort_unstable();
        assert_eq!(declared, listed, "{}", class.name());
        for key in class.keys() {
            assert!(declared.contains(key), "{}: key {key}", class.name());
        }
        for reference in class.references() {
            let (_, type_name) = declaration
                .properties
                .iter()
                .find(|(n, _)| n == reference)
                .unwrap();
            assert!(
                matches!(CimType::parse(type_name), Some(CimType::Reference(_))),
                "{}.{reference} is no reference",
                class.name()
            );
        }
    }
}

/// The instances this host gives (from /proc, /sys, the clock) fit their declarations.
#[test]
fn instances_of_this_host_fit_their_declarations() {
    let request = wsman_proto::Request::default();
    let ctx = Context::new(&request, "http://127.0.0.1/wsman");
    let mut checked = 0;
    for class in CimProvider::new().classes {
        let declaration = class.declaration().unwrap();
        let Ok(instances) = class.instances(&ctx, None) else {
            continue;
        };
        for instance in instances.iter().take(50) {
            for (name, value) in &instance.properties {
                let (_, type_name) = declaration
                    .properties
                    .iter()
                    .find(|(n, _)| n == name)
                    .unwrap_or_else(|| panic!("{}.{name} undeclared", class.name()));
                let cim_type = CimType::parse(type_name).unwrap();
                assert!(
                    cim_type.admits(value),
                    "{}.{name} = {value:?} is no {type_name}",
                    class.name()
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "only {checked} values checked");
}

#[test]
fn class_declaration_renders_keys_arrays_references_and_methods() {
    let declaration = schema::Declaration {
        superclass: Some("CIM_Base"),
        properties: &[
            ("Name", "string"),
            ("Addresses", "string[]"),
            ("Owner", "ref:CIM_Owner"),
        ],
        methods: &[schema::Method {
            name: "Run",
            is_static: true,
            inputs: &[("Line", "string")],
            outputs: &[("Id", "uint32")],
        }],
    };
    let xml = schema::render_class("X_Thing", &["name"], true, &declaration);
    let parsed = wsman_proto::xml::parse(&xml, &wsman_proto::xml::Limits::default()).unwrap();
    let tags: Vec<(&str, Option<&str>)> = parsed
        .elements()
        .map(|e| {
            let name = e
                .attributes
                .iter()
                .find(|a| a.name == "NAME")
                .map(|a| a.value.as_str());
            (e.name.as_str(), name)
        })
        .collect();
    assert_eq!(
        tags,
        [
            ("QUALIFIER", Some("Association")),
            ("PROPERTY", Some("Name")),
            ("PROPERTY.ARRAY", Some("Addresses")),
            ("PROPERTY.REFERENCE", Some("Owner")),
            ("METHOD", Some("Run")),
        ]
    );
    assert!(xml.contains("<PROPERTY NAME=\"Name\" TYPE=\"string\"><QUALIFIER NAME=\"key\""));
    assert!(xml.contains("REFERENCECLASS=\"CIM_Owner\""));
    assert!(xml.contains("<PARAMETER NAME=\"Id\" TYPE=\"uint32\"><QUALIFIER NAME=\"Out\""));
}

#[test]
fn types_admit_only_their_values() {
    let uint8 = CimType::parse("uint8").unwrap();
    assert!(uint8.admits(&Value::Unsigned(255)) && !uint8.admits(&Value::Unsigned(256)));
    let sint16 = CimType::parse("sint16").unwrap();
    assert!(sint16.admits(&Value::Signed(-32768)) && !sint16.admits(&Value::Signed(32768)));
    assert!(!sint16.admits(&Value::Text("1".into())));
    let array = CimType::parse("string[]").unwrap();
    assert!(array.admits(&Value::Array(vec![Value::Text("a".into())])));
    assert!(!array.admits(&Value::Text("a".into())));
    assert!(CimType::parse("uint128").is_none() && CimType::parse("ref:").is_none());
}
