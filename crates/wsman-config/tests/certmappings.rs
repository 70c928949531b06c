//! Certificate mapping Create/Get/Put/Enumerate/Delete, their issuer certificates, and their
//! place in config.toml.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use wsman_config::certs::thumbprint_of_der;
use wsman_config::{ConfigStore, CERTMAPPING_URI};
use wsman_proto::fault::code;

/// A throwaway CA written as `certs/THUMB.crt`; returns its thumbprint.
fn install_ca(dir: &std::path::Path) -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    let thumb = thumbprint_of_der(cert.der());
    write(dir, &format!("certs/{thumb}.crt"), &cert.pem());
    thumb
}

fn mapping_body(inner: &str) -> wsman_proto::xml::Element {
    body(CERTMAPPING_URI, "CertMapping", inner)
}

#[test]
fn create_get_put_enumerate_delete() {
    let (dir, mut s) = store();
    let thumb = install_ca(dir.path());
    let sel = selectors(&[
        ("Issuer", &thumb.to_ascii_lowercase()),
        ("Subject", "user@example"),
        ("URI", "*"),
    ]);
    let uri = "http://schemas.microsoft.com/wbem/wsman/1/config/Service/CertMapping";
    let created = s
        .create(
            uri,
            &sel,
            Some(&mapping_body(
                "<p:UserName>wsmanuser</p:UserName><p:Enabled>true</p:Enabled>",
            )),
            "host",
        )
        .unwrap();
    assert_eq!(created[0], ("Issuer".to_owned(), thumb.clone()));
    let f = s
        .create(
            uri,
            &sel,
            Some(&mapping_body("<p:UserName>x</p:UserName>")),
            "h",
        )
        .unwrap_err();
    assert_eq!(f.wsman_code, code::ALREADY_EXISTS);
    let toml = read(dir.path(), "config.toml").unwrap();
    assert!(toml.contains("[[CertMapping]]"), "{toml}");
    assert!(toml.contains("UserName = \"wsmanuser\""), "{toml}");

    let got = parse(&s.get(CERTMAPPING_URI, &sel).unwrap());
    assert_eq!(find_text(&got, "UserName").as_deref(), Some("wsmanuser"));
    assert_eq!(find_text(&got, "Issuer").as_deref(), Some(thumb.as_str()));

    // A whole representation sent back (with an empty Password) disables it.
    let put = s
        .put(
            CERTMAPPING_URI,
            &sel,
            Some(&mapping_body(&format!("<p:URI>*</p:URI><p:Subject>USER@example</p:Subject><p:Issuer>{thumb}</p:Issuer><p:UserName>wsmanuser</p:UserName><p:Enabled>false</p:Enabled><p:Password></p:Password>"))),
        )
        .unwrap();
    assert!(put.contains("<cfg:Enabled>false</cfg:Enabled>"), "{put}");
    assert!(!s.config().cert_mappings[0].enabled);
    // Keys cannot be changed through a Put.
    let f = s
        .put(
            CERTMAPPING_URI,
            &sel,
            Some(&mapping_body("<p:URI>other*</p:URI>")),
        )
        .unwrap_err();
    assert_eq!(f.wsman_code, code::SCHEMA_VALIDATION_ERROR);

    let items = s.enumerate(CERTMAPPING_URI, &|_| Vec::new()).unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].selectors.len(), 3);

    // Another process (the local CLI) sees the same mapping.
    let other = ConfigStore::open(dir.path()).unwrap();
    assert_eq!(other.config().cert_mappings, s.config().cert_mappings);

    s.delete(CERTMAPPING_URI, &sel).unwrap();
    assert!(s.config().cert_mappings.is_empty());
    let f = s.delete(CERTMAPPING_URI, &sel).unwrap_err();
    assert_eq!(f.wsman_code, code::UNEXPECTED_SELECTORS);
}

#[test]
fn refusals_leave_the_config_unchanged() {
    let (dir, mut s) = store();
    let thumb = install_ca(dir.path());
    let good = |subject: &str| {
        selectors(&[
            ("Issuer", thumb.as_str()),
            ("Subject", subject),
            ("URI", "*"),
        ])
    };
    let user = mapping_body("<p:UserName>wsmanuser</p:UserName>");
    // A password is never stored, so it is refused rather than dropped silently.
    let f = s
        .create(
            CERTMAPPING_URI,
            &good("a@b"),
            Some(&mapping_body(
                "<p:UserName>wsmanuser</p:UserName><p:Password>secret</p:Password>",
            )),
            "h",
        )
        .unwrap_err();
    assert_eq!(f.wsman_code, code::INVALID_PARAMETER_WIN32);
    assert!(!format!("{f:?}").contains("secret"));
    // No UserName.
    assert!(s
        .create(CERTMAPPING_URI, &good("a@b"), Some(&mapping_body("")), "h")
        .is_err());
    // Bad selectors.
    for (issuer, subject, uri) in [
        ("xyz", "a@b", "*"),
        (thumb.as_str(), "a*b", "*"),
        (thumb.as_str(), "a@b", "*x"),
        (thumb.as_str(), "a@b", "a b"),
    ] {
        let sel = selectors(&[("Issuer", issuer), ("Subject", subject), ("URI", uri)]);
        let f = s
            .create(CERTMAPPING_URI, &sel, Some(&user), "h")
            .unwrap_err();
        assert_eq!(
            f.wsman_code,
            code::INVALID_SELECTOR_VALUE,
            "{issuer} {subject} {uri}"
        );
    }
    let f = s
        .create(
            CERTMAPPING_URI,
            &selectors(&[("Issuer", thumb.as_str())]),
            Some(&user),
            "h",
        )
        .unwrap_err();
    assert_eq!(f.wsman_code, code::INSUFFICIENT_SELECTORS);
    // An issuer whose certificate is not installed.
    let missing = selectors(&[("Issuer", &"0".repeat(40)), ("Subject", "*"), ("URI", "*")]);
    let f = s
        .create(CERTMAPPING_URI, &missing, Some(&user), "h")
        .unwrap_err();
    assert_eq!(f.wsman_code, code::CERT_NOT_FOUND);
    assert!(s.config().cert_mappings.is_empty());
    assert!(read(dir.path(), "config.toml").is_none());
}

#[test]
fn config_toml_form() {
    let dir = tempfile::tempdir().unwrap();
    let thumb = "AB".repeat(20);
    write(
        dir.path(),
        "config.toml",
        &format!("[[CertMapping]]\nIssuer = \"{}\"\nSubject = \"*\"\nURI = \"*\"\nUserName = \"wsmanuser\"\nEnabled = false\n", thumb.to_ascii_lowercase()),
    );
    let s = ConfigStore::open(dir.path()).unwrap();
    let m = &s.config().cert_mappings[0];
    assert_eq!((m.issuer.as_str(), m.enabled), (thumb.as_str(), false));
    for (text, line) in [
        ("[[CertMapping]]\nIssuer = \"AB\"\n", 2),
        ("[[CertMapping]]\nIssuer = \"ABABABABABABABABABABABABABABABABABABABAB\"\nSubject = \"*\"\nURI = \"*\"\nPassword = \"x\"\n", 5),
        ("[[CertMapping]]\nSubject = \"*\"\n", 1),
    ] {
        write(dir.path(), "config.toml", text);
        match ConfigStore::open(dir.path()) {
            Err(wsman_config::ConfigError::Parse { line: l, .. }) => assert_eq!(l, line, "{text}"),
            other => panic!("{text}: {other:?}"),
        }
    }
    write(
        dir.path(),
        "policy.d/10.toml",
        "[[CertMapping]]\nSubject=\"*\"\n",
    );
    write(dir.path(), "config.toml", "");
    assert!(ConfigStore::open(dir.path()).is_err());
}
