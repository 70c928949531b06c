//! Get/Put on the containers: partial and whole Puts, validation, atomicity, read-only.

#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::MetadataExt as _;

use common::*;
use wsman_config::{ConfigStore, SettingKey, Source};
use wsman_proto::fault::code;

#[test]
fn partial_put_changes_only_given_leaves_and_persists_only_them() {
    let (dir, mut s) = store();
    let out = put_leaves(
        &mut s,
        SERVICE,
        "Service",
        "<p:AllowUnencrypted>TRUE</p:AllowUnencrypted><p:Auth><p:Basic>true</p:Basic></p:Auth>",
    )
    .unwrap();
    let e = parse(&out);
    assert_eq!(e.ns.as_deref(), Some(SERVICE));
    assert_eq!(find_text(&e, "AllowUnencrypted").as_deref(), Some("true"));
    assert_eq!(find_text(&e, "Basic").as_deref(), Some("true"));
    assert!(s.config().service.allow_unencrypted);
    assert!(s.config().service.auth.basic);
    let text = read(dir.path(), "config.toml").unwrap();
    assert!(
        text.contains("[Config.Service]\nAllowUnencrypted = true\n"),
        "{text}"
    );
    assert!(
        text.contains("[Config.Service.Auth]\nBasic = true\n"),
        "{text}"
    );
    assert!(!text.contains("MaxConnections"), "{text}");
    let mode = std::fs::metadata(dir.path().join("config.toml"))
        .unwrap()
        .mode();
    assert_eq!(mode & 0o777, 0o644);
    // A fresh store reads the same.
    let again = ConfigStore::open(dir.path()).unwrap();
    assert_eq!(again.config(), s.config());
}

#[test]
fn whole_container_put_from_get_is_accepted_and_pins_nothing() {
    let (dir, mut s) = store();
    let got = s.get(SERVICE, &none()).unwrap();
    let out = s.put(SERVICE, &none(), Some(&parse(&got))).unwrap();
    assert_eq!(out, got);
    // Nothing changed, so nothing was written.
    assert!(read(dir.path(), "config.toml").is_none());
    // Whole container with one change: only that one is stored.
    let changed = got.replace(
        "<cfg:MaxConnections>300</cfg:MaxConnections>",
        "<cfg:MaxConnections>25</cfg:MaxConnections>",
    );
    s.put(SERVICE, &none(), Some(&parse(&changed))).unwrap();
    let text = read(dir.path(), "config.toml").unwrap();
    assert_eq!(text.matches(" = ").count(), 1, "{text}");
    assert_eq!(s.config().service.max_connections, 25);
}

#[test]
fn put_is_all_or_nothing() {
    let (dir, mut s) = store();
    put_leaves(
        &mut s,
        WINRS,
        "Winrs",
        "<p:MaxShellsPerUser>5</p:MaxShellsPerUser>",
    )
    .unwrap();
    let before_disk = read(dir.path(), "config.toml").unwrap();
    let before = s.config().clone();
    for bad in [
        "<p:IdleTimeout>60000</p:IdleTimeout><p:MaxShellsPerUser>many</p:MaxShellsPerUser>",
        "<p:IdleTimeout>60000</p:IdleTimeout><p:Bogus>1</p:Bogus>",
        "<p:IdleTimeout>60000</p:IdleTimeout><p:AllowRemoteShellAccess>yes</p:AllowRemoteShellAccess>",
        "<p:IdleTimeout>60000</p:IdleTimeout><p:MaxConcurrentUsers>4294967296</p:MaxConcurrentUsers>",
        "<p:IdleTimeout>60000</p:IdleTimeout><p:MaxShellRunTime>1</p:MaxShellRunTime>",
    ] {
        let f = put_leaves(&mut s, WINRS, "Winrs", bad).unwrap_err();
        assert!(
            f.wsman_code == code::SCHEMA_VALIDATION_ERROR || f.wsman_code == code::CONFIG_READONLY_PROPERTY,
            "{f}"
        );
        assert_eq!(s.config(), &before, "{bad}");
        assert_eq!(read(dir.path(), "config.toml").unwrap(), before_disk, "{bad}");
    }
}

#[test]
fn invalid_values_name_setting_and_value() {
    let (_d, mut s) = store();
    let f = put_leaves(
        &mut s,
        CONFIG,
        "Config",
        "<p:MaxTimeoutms>499</p:MaxTimeoutms>",
    )
    .unwrap_err();
    assert_eq!(f.wsman_code, code::SCHEMA_VALIDATION_ERROR);
    assert!(
        f.message.contains("MaxTimeoutms") && f.message.contains("499"),
        "{}",
        f.message
    );
    let f = put_leaves(
        &mut s,
        CONFIG,
        "Config",
        "<p:Service><p:Nope>1</p:Nope></p:Service>",
    )
    .unwrap_err();
    assert_eq!(f.wsman_code, code::SCHEMA_VALIDATION_ERROR);
    assert!(f.message.contains("Nope"));
    let f = put_leaves(
        &mut s,
        SERVICE_AUTH,
        "Auth",
        "<p:CbtHardeningLevel>Medium</p:CbtHardeningLevel>",
    )
    .unwrap_err();
    assert_eq!(f.wsman_code, code::SCHEMA_VALIDATION_ERROR);
    let f = put_leaves(
        &mut s,
        SERVICE,
        "Service",
        "<p:IPv4Filter>::1</p:IPv4Filter>",
    )
    .unwrap_err();
    assert!(f.message.contains("IPv4Filter"), "{}", f.message);
    put_leaves(
        &mut s,
        SERVICE,
        "Service",
        "<p:IPv4Filter>127.0.0.1</p:IPv4Filter>",
    )
    .unwrap();
    // The filters as the server reads them: each family's text through `IpFilter`.
    let service = &s.config().service;
    let allows = |ip: &str, text: &str| {
        let ip: std::net::IpAddr = ip.parse().unwrap();
        wsman_config::IpFilter::parse(text, ip.is_ipv6()).is_ok_and(|f| f.allows(ip))
    };
    assert!(allows("127.0.0.1", &service.ipv4_filter));
    assert!(!allows("10.0.0.1", &service.ipv4_filter));
    assert!(allows("::1", &service.ipv6_filter));
    // Wrong root element and wrong namespace.
    assert!(put_leaves(&mut s, SERVICE, "Client", "").is_err());
    let f = s
        .put(SERVICE, &none(), Some(&body("urn:other", "Service", "")))
        .unwrap_err();
    assert_eq!(f.wsman_code, code::INVALID_REPRESENTATION);
    assert!(s.put(SERVICE, &none(), None).is_err());
}

#[test]
fn nested_containers_and_case_insensitive_namespaces() {
    let (_d, mut s) = store();
    let upper = "HTTP://schemas.microsoft.com/wbem/wsman/1/config/Service";
    s.put(
        "http://schemas.microsoft.com/wbem/wsman/1/config/Service",
        &none(),
        Some(&body(upper, "Service", "<p:DefaultPorts><p:HTTP>8080</p:HTTP></p:DefaultPorts><p:auth><p:cbthardeninglevel>strict</p:cbthardeninglevel></p:auth>")),
    )
    .unwrap();
    assert_eq!(s.config().service.default_ports.http, 8080);
    assert_eq!(
        s.config().service.auth.cbt_hardening_level,
        wsman_config::CbtHardeningLevel::Strict
    );
    // Root Put reaching two levels down.
    put_leaves(&mut s, CONFIG, "Config", "<p:MaxEnvelopeSizekb>8192</p:MaxEnvelopeSizekb><p:Client><p:Auth><p:Digest>false</p:Digest></p:Auth></p:Client>")
    .unwrap();
    assert_eq!(s.config().max_envelope_size_kb(), 8192);
    assert!(!s.config().client.auth.digest);
}

#[test]
fn read_only_settings_accept_their_current_value_only() {
    let (_d, mut s) = store();
    for (uri, root, leaf, value) in [
        (CONFIG, "Config", "MaxProviderRequests", "4294967295"),
        (SERVICE, "Service", "MaxConcurrentOperations", "4294967295"),
        (WINRS, "Winrs", "MaxShellRunTime", "28800000"),
    ] {
        s.put(
            uri,
            &none(),
            Some(&body(uri, root, &format!("<p:{leaf}>{value}</p:{leaf}>"))),
        )
        .unwrap();
        let f = s
            .put(
                uri,
                &none(),
                Some(&body(uri, root, &format!("<p:{leaf}>1000</p:{leaf}>"))),
            )
            .unwrap_err();
        assert_eq!(f.wsman_code, code::CONFIG_READONLY_PROPERTY, "{leaf}");
    }
}

#[test]
fn unknown_uris_and_unsupported_operations() {
    let (_d, mut s) = store();
    let f = s.get(&format!("{CONFIG}/nothing"), &none()).unwrap_err();
    assert_eq!(f.wsman_code, code::DESTINATION_UNREACHABLE);
    // The plug-ins are named by Name.
    let f = s.get(&format!("{CONFIG}/plugin"), &none()).unwrap_err();
    assert_eq!(f.wsman_code, code::INSUFFICIENT_SELECTORS);
    let f = s.enumerate(SERVICE, &|_| Vec::new()).unwrap_err();
    assert_eq!(f.wsman_code, code::ACTION_NOT_SUPPORTED);
    let f = s.create(SERVICE, &none(), None, "h").unwrap_err();
    assert_eq!(f.wsman_code, code::ACTION_NOT_SUPPORTED);
    let f = s.delete(CONFIG, &none()).unwrap_err();
    assert_eq!(f.wsman_code, code::ACTION_NOT_SUPPORTED);
    for uri in [
        "http://schemas.microsoft.com/wbem/wsman/1/config/",
        "http://schemas.microsoft.com/wbem/wsman/1/config/Client/Auth",
        "http://schemas.microsoft.com/wbem/wsman/1/config/client/DefaultPorts",
        "http://schemas.microsoft.com/wbem/wsman/1/config/service/defaultports",
        "HTTP://SCHEMAS.MICROSOFT.COM/WBEM/WSMAN/1/CONFIG/WINRS",
    ] {
        assert!(s.get(uri, &none()).is_ok(), "{uri}");
    }
    assert!(wsman_config::resource(&format!("{CONFIG}x")).is_none());
}

#[test]
fn body_from_values_feeds_put() {
    let (_d, mut s) = store();
    let b = wsman_config::body_from_values(SERVICE, &[("allowunencrypted", "true")]).unwrap();
    s.put(SERVICE, &none(), Some(&b)).unwrap();
    assert!(s.config().service.allow_unencrypted);
}

#[test]
fn every_setting_validates_and_applies_through_its_own_resource() {
    use wsman_config::schema::{all_settings, ValueType};
    let (_d, mut s) = store();
    for (c, setting) in all_settings() {
        let uri = c.resource_uri();
        let root = c.element_name();
        let name = setting.name;
        let put = |s: &mut ConfigStore, v: &str| {
            let b = body(uri, root, &format!("<p:{name}>{v}</p:{name}>"));
            s.put(uri, &none(), Some(&b))
        };
        let (bad, good): (Vec<String>, Option<String>) = match setting.ty {
            ValueType::Bool => {
                let flipped = !setting.default.as_bool().unwrap();
                (
                    vec!["maybe".into(), "".into()],
                    Some(flipped.to_string().to_uppercase()),
                )
            }
            ValueType::Number { min, max, .. } => {
                let mut bad = vec!["abc".to_owned(), "-1".to_owned(), "".to_owned()];
                bad.push(if max == u64::MAX {
                    "18446744073709551616".to_owned()
                } else {
                    (max + 1).to_string()
                });
                if min > 0 {
                    bad.push((min - 1).to_string());
                }
                (bad, Some(min.max(1).to_string()))
            }
            ValueType::Text => (vec![], Some("x-y".to_owned())),
            ValueType::IpFilter { .. } => (vec!["not-an-ip".to_owned()], Some(String::new())),
            ValueType::CbtHardeningLevel => (vec!["Medium".to_owned()], Some("none".to_owned())),
            ValueType::Sddl => (
                vec![
                    "garbage".to_owned(),
                    "O:NSG:BA".to_owned(),
                    "D:NO_ACCESS_CONTROL".to_owned(),
                ],
                Some("O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;S-1-22-2-1000)".to_owned()),
            ),
        };
        for v in bad {
            let f = put(&mut s, &v).unwrap_err();
            assert_eq!(f.wsman_code, code::SCHEMA_VALIDATION_ERROR, "{name}={v:?}");
            assert!(f.message.contains(name), "{name}: {}", f.message);
        }
        let Some(good) = good else { continue };
        let result = put(&mut s, &good);
        if setting.read_only {
            assert_eq!(
                result.unwrap_err().wsman_code,
                code::CONFIG_READONLY_PROPERTY,
                "{name}"
            );
            continue;
        }
        let out = parse(&result.unwrap());
        let leaf = out.elements().find(|e| e.name == name).unwrap();
        let canonical = setting.ty.parse(&good).unwrap().to_string();
        assert_eq!(leaf.text(), canonical, "{name}");
        assert_eq!(
            s.value(SettingKey { container: c, name })
                .map(|(_, src)| src),
            Some(if setting.default.to_string() == canonical {
                Source::Default
            } else {
                Source::Stored
            }),
            "{name}"
        );
    }
}
