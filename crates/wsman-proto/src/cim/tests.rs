use super::*;
use proptest::prelude::*;

#[test]
fn an_embedded_instance_is_typed_with_its_properties_in_its_namespace() {
    let update = Instance::new("MSFT_WUUpdate", "root/Microsoft/Windows/WindowsUpdate")
        .with("Title", "a < b")
        .with("MsrcSeverity", Value::Null);
    let output = Instance::new(
        "ScanForUpdates_OUTPUT",
        "root/Microsoft/Windows/WindowsUpdate",
    )
    .with("ReturnValue", 0u32)
    .with(
        "Updates",
        Value::Array(vec![Value::Instance(Box::new(update))]),
    );
    let xml = output.render("http://x/MSFT_WUOperations", "ScanForUpdates_OUTPUT", None);
    let parsed = crate::xml::parse(&xml, &crate::xml::Limits::default()).unwrap();
    let updates = parsed.elements().find(|e| e.name == "Updates").unwrap();
    assert_eq!(
        updates.attr_ns(crate::ns::XSI, "type"),
        Some("q:MSFT_WUUpdate_Type")
    );
    let title = updates.elements().find(|e| e.name == "Title").unwrap();
    assert_eq!(title.trimmed_text(), "a < b");
    assert!(title
        .ns
        .as_deref()
        .unwrap()
        .ends_with("WindowsUpdate/MSFT_WUUpdate"));
}

#[test]
fn renders_like_the_wmi_plugin() {
    let i = Instance::new("Win32_Process", "root/cimv2")
        .with_key("Handle", "1100")
        .with("ExecutionState", Value::Null)
        .with("Name", "a<b")
        .with(
            "CreationDate",
            CimDateTime::parse("2013-04-29T13:09:06.102138-07:00").unwrap_or(CimDateTime::utc(0)),
        );
    let xml = i.to_xml(&i.resource_uri());
    assert!(xml.starts_with("<p:Win32_Process xmlns:p=\"http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Process\""), "{xml}");
    assert!(xml.contains("xsi:type=\"p:Win32_Process_Type\""));
    assert!(xml.contains("<p:Handle>1100</p:Handle>"));
    assert!(xml.contains("<p:ExecutionState xsi:nil=\"true\"/>"));
    assert!(xml.contains("<p:Name>a&lt;b</p:Name>"));
    assert!(xml.contains(
        "<p:CreationDate><cim:Datetime>2013-04-29T13:09:06.102138-07:00</cim:Datetime></p:CreationDate>"
    ), "{xml}");
    assert_eq!(
        i.selectors(),
        vec![("Handle".to_owned(), "1100".to_owned())]
    );
    assert_eq!(
        i.to_fragment(&["name".into()]),
        "<w:XmlFragment><Name>a&lt;b</Name></w:XmlFragment>"
    );
}

#[test]
fn dmtf_and_xs_datetimes_agree() {
    let a = CimDateTime::parse("20130429130906.102138-420");
    let b = CimDateTime::parse("2013-04-29T13:09:06.102138-07:00");
    assert_eq!(a, b);
    assert_eq!(
        CimDateTime::parse("2013-02-30T00:00:00"),
        CimDateTime::parse("2013-03-02T00:00:00")
    );
    assert!(CimDateTime::parse("2013-13-01T00:00:00Z").is_none());
    assert!(CimDateTime::parse("").is_none());
}

#[test]
fn numbers_compare_across_kinds_and_strings_without_case() {
    assert_eq!(
        Value::Unsigned(5).compare(&Value::Signed(-1)),
        Some(Ordering::Greater)
    );
    assert_eq!(
        Value::Text("abc".into()).compare(&Value::Text("ABC".into())),
        Some(Ordering::Equal)
    );
    assert_eq!(
        Value::Unsigned(10).compare(&Value::Text("10".into())),
        Some(Ordering::Equal)
    );
    assert_eq!(Value::Null.compare(&Value::Null), None);
}

#[test]
fn fragments_declare_xsi_for_nil_and_leave_empty_arrays_out() {
    let i = Instance::new("Win32_NetworkAdapterConfiguration", "root/cimv2")
        .with_key("Index", 1u32)
        .with("IPAddress", Value::Array(Vec::new()))
        .with("DHCPLeaseObtained", CimDateTime::utc(0))
        .with("DHCPServer", Value::Null);
    assert_eq!(
        i.to_fragment(&["Index".into(), "IPAddress".into()]),
        "<w:XmlFragment><Index>1</Index></w:XmlFragment>"
    );
    // In the instance's order, whatever the query's; the datetime unqualified, as
    // Windows Server 2012 writes it in a fragment.
    let fragment = i.to_fragment(&["DHCPServer".into(), "DHCPLeaseObtained".into()]);
    assert_eq!(
        fragment,
        format!(
            "<w:XmlFragment xmlns:xsi=\"{XSI}\">\
             <DHCPLeaseObtained><Datetime>1970-01-01T00:00:00.000000Z</Datetime>\
             </DHCPLeaseObtained><DHCPServer xsi:nil=\"true\"/></w:XmlFragment>"
        )
    );
    assert!(!i.to_xml(&i.resource_uri()).contains("IPAddress"));
}

/// A NULL array is left out of the instance, of a property list and of a fragment, as
/// Windows leaves it out; a NULL scalar stays `xsi:nil`, and the model keeps both Null.
#[test]
fn null_arrays_are_left_out_and_null_scalars_are_nil() {
    let i = Instance::new("Win32_OperatingSystem", "root/cimv2")
        .with_key("Name", "Linux")
        .with("MUILanguages", Value::Null)
        .with("Locale", Value::Null)
        .completed(["BootDevice", "OSProductSuite"])
        .with_arrays(&["muiLanguages"]);
    let xml = i.to_xml(&i.resource_uri());
    assert!(!xml.contains("MUILanguages"), "{xml}");
    assert!(xml.contains("<p:Locale xsi:nil=\"true\"/>"), "{xml}");
    assert!(xml.contains("<p:BootDevice xsi:nil=\"true\"/>"), "{xml}");
    // A property not declared an array stays nil even when it is one elsewhere.
    assert!(
        xml.contains("<p:OSProductSuite xsi:nil=\"true\"/>"),
        "{xml}"
    );
    let only = ["MUILanguages".to_owned(), "Name".to_owned()];
    let listed = i.render(&i.resource_uri(), &i.class, Some(&only));
    assert!(!listed.contains("MUILanguages") && listed.contains("<p:Name>Linux"));
    assert_eq!(
        i.to_fragment(&["MUILanguages".into()]),
        "<w:XmlFragment></w:XmlFragment>"
    );
    assert_eq!(i.get("MUILanguages"), Some(&Value::Null));
}

/// A value of any kind the model has, arrays included (empty ones too).
fn any_value() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Signed),
        any::<u64>().prop_map(Value::Unsigned),
        any::<f64>().prop_map(Value::Real),
        "[ -~]{0,12}".prop_map(Value::Text),
        (0i64..4_000_000_000_000_000).prop_map(|m| Value::DateTime(CimDateTime::utc(m))),
        any::<u64>().prop_map(|micros| Value::DateTime(CimDateTime::Interval { micros })),
        ("[ -~]{0,12}", "[ -~]{0,8}").prop_map(|(uri, key)| Value::Reference(Reference {
            resource_uri: uri,
            selectors: vec![("Name".to_owned(), key)],
        })),
    ];
    prop_oneof![
        4 => scalar.clone(),
        1 => prop::collection::vec(scalar, 0..3).prop_map(Value::Array),
    ]
}

proptest! {
    /// Every rendering of every instance, whole or as a property list, is well-formed XML
    /// with each prefix declared, as a strict parser that is not ours reads it (the
    /// envelope around it declares `w` only).
    #[test]
    fn every_rendering_is_namespace_well_formed(
        values in prop::collection::vec(any_value(), 1..8),
        picks in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let mut instance = Instance::new("X_Class", "root/cimv2");
        for (n, value) in values.iter().enumerate() {
            instance = instance.with(format!("P{n}"), value.clone());
        }
        let names: Vec<String> = picks
            .iter()
            .map(|i| format!("P{}", i.index(values.len())))
            .collect();
        for xml in [
            instance.to_xml(&instance.resource_uri()),
            instance.to_fragment(&names),
        ] {
            let wrapped = format!(
                "<w:Items xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\">{xml}</w:Items>"
            );
            prop_assert!(
                roxmltree::Document::parse(&wrapped).is_ok(),
                "{}: {:?}",
                wrapped,
                roxmltree::Document::parse(&wrapped).err()
            );
        }
    }

    #[test]
    fn instants_round_trip(micros in 0i64..250_000_000_000_000_000i64, off in -720i16..=840i16) {
        let d = CimDateTime::Instant { micros, offset_minutes: off };
        prop_assert_eq!(CimDateTime::parse(&d.to_xs()), Some(d));
    }

    #[test]
    fn parse_never_panics(s in ".{0,40}") {
        let _ = CimDateTime::parse(&s);
    }
}
