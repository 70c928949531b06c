//! Listener Create/Get/Put/Enumerate/Delete and their certificates.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use wsman_config::{ConfigStore, Listener, Transport};
use wsman_proto::fault::code;

fn listener_body(inner: &str) -> wsman_proto::xml::Element {
    body(LISTENER, "Listener", inner)
}

#[test]
fn listener_create_get_put_enumerate_delete() {
    let (dir, mut s) = store();
    let sel = selectors(&[("Address", "IP:127.0.0.1"), ("Transport", "http")]);
    let created = s
        .create(
            "http://schemas.microsoft.com/wbem/wsman/1/config/Listener",
            &sel,
            Some(&listener_body("<p:Port>40123</p:Port>")),
            "host",
        )
        .unwrap();
    assert_eq!(
        created,
        vec![
            ("Address".to_owned(), "IP:127.0.0.1".to_owned()),
            ("Transport".to_owned(), "HTTP".to_owned())
        ]
    );
    let f = s.create(LISTENER, &sel, None, "host").unwrap_err();
    assert_eq!(f.wsman_code, code::ALREADY_EXISTS);
    // A listener without a Port gets the default port, stored.
    let any = selectors(&[("Address", "*"), ("Transport", "HTTP")]);
    s.create(LISTENER, &any, None, "host").unwrap();
    let l = &s.config().listeners;
    assert_eq!((l[0].port, l[1].port), (40123, 5985));
    assert!(read(dir.path(), "config.toml")
        .unwrap()
        .contains("Port = 5985"));

    let got = parse(&s.get(LISTENER, &sel).unwrap());
    assert_eq!(got.attr_ns(wsman_proto::ns::XML, "lang"), Some("en-US"));
    assert_eq!(find_text(&got, "Port").as_deref(), Some("40123"));
    assert_eq!(find_text(&got, "URLPrefix").as_deref(), Some("wsman"));

    let put = s
        .put(LISTENER, &sel, Some(&listener_body("<p:Address>IP:127.0.0.1</p:Address><p:Enabled>FALSE</p:Enabled><p:URLPrefix>custom</p:URLPrefix><p:ListeningOn>x</p:ListeningOn>")))
        .unwrap();
    assert!(put.contains("<cfg:Enabled>false</cfg:Enabled>"), "{put}");
    assert!(!s.config().listeners[0].enabled);
    assert_eq!(s.config().active_listeners().len(), 1);
    for body in [
        "<p:Transport>HTTPS</p:Transport>",
        "<p:URLPrefix>a/b</p:URLPrefix>",
    ] {
        let f = s
            .put(LISTENER, &sel, Some(&listener_body(body)))
            .unwrap_err();
        assert_eq!(f.wsman_code, code::SCHEMA_VALIDATION_ERROR, "{body}");
    }

    let on = |l: &Listener| vec![format!("{}:{}", "127.0.0.1", l.port), "::1".to_owned()];
    let items = s.enumerate(LISTENER, &on).unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[1].selectors[0],
        ("Address".to_owned(), "*".to_owned())
    );
    let first = parse(&items[0].xml);
    assert_eq!(
        first.elements().filter(|e| e.name == "ListeningOn").count(),
        2
    );
    let names: Vec<&str> = first.elements().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Address",
            "Transport",
            "Port",
            "Hostname",
            "Enabled",
            "URLPrefix",
            "CertificateThumbprint",
            "ListeningOn",
            "ListeningOn"
        ]
    );

    s.delete(LISTENER, &sel).unwrap();
    let f = s.delete(LISTENER, &sel).unwrap_err();
    assert_eq!(f.wsman_code, code::UNEXPECTED_SELECTORS);
    assert_eq!(s.config().listeners.len(), 1);
    assert_eq!(
        ConfigStore::open(dir.path())
            .unwrap()
            .config()
            .listeners
            .len(),
        1
    );
}

#[test]
fn listener_selector_faults() {
    let (_d, mut s) = store();
    let f = s
        .get(LISTENER, &selectors(&[("Address", "*")]))
        .unwrap_err();
    assert_eq!(f.wsman_code, code::INSUFFICIENT_SELECTORS);
    let f = s.get(LISTENER, &none()).unwrap_err();
    assert_eq!(f.wsman_code, code::INSUFFICIENT_SELECTORS);
    let f = s
        .get(
            LISTENER,
            &selectors(&[("Address", "*"), ("Transport", "HTTP")]),
        )
        .unwrap_err();
    assert_eq!(f.wsman_code, code::UNEXPECTED_SELECTORS);
    let f = s
        .create(
            LISTENER,
            &selectors(&[("Address", "MAC:1"), ("Transport", "HTTP")]),
            None,
            "h",
        )
        .unwrap_err();
    assert_eq!(f.wsman_code, code::INVALID_SELECTOR_VALUE);
    let f = s
        .create(
            LISTENER,
            &selectors(&[("Address", "*"), ("Transport", "HTTP"), ("Port", "1")]),
            None,
            "h",
        )
        .unwrap_err();
    assert_eq!(f.wsman_code, code::UNEXPECTED_SELECTORS);
}

#[test]
fn https_listener_certificates() {
    let (dir, mut s) = store();
    let sel = selectors(&[("Address", "*"), ("Transport", "HTTPS")]);
    let f = s
        .create(
            LISTENER,
            &sel,
            Some(&listener_body(&format!(
                "<p:CertificateThumbprint>{}</p:CertificateThumbprint>",
                "AB".repeat(20)
            ))),
            "h",
        )
        .unwrap_err();
    assert_eq!(f.wsman_code, code::CERT_NOT_FOUND);
    assert!(s.config().listeners.is_empty());
    s.create(
        LISTENER,
        &sel,
        Some(&listener_body("<p:Hostname>srv.example</p:Hostname>")),
        "ignored",
    )
    .unwrap();
    let l = &s.config().listeners[0];
    assert_eq!((l.transport, l.port), (Transport::Https, 5986));
    let thumb = l.certificate_thumbprint.clone();
    let (cert, _key) = wsman_config::certs::load(&dir.path().join("certs"), &thumb).unwrap();
    assert_eq!(
        wsman_config::certs::thumbprint_of_pem(&cert),
        Some(thumb.clone())
    );
    // Pointing it at a missing certificate is refused; the listener keeps its own.
    let f = s
        .put(
            LISTENER,
            &sel,
            Some(&listener_body(&format!(
                "<p:CertificateThumbprint>{}</p:CertificateThumbprint>",
                "CD".repeat(20)
            ))),
        )
        .unwrap_err();
    assert_eq!(f.wsman_code, code::CERT_NOT_FOUND);
    assert_eq!(s.config().listeners[0].certificate_thumbprint, thumb);
}
