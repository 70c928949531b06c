use std::path::Path;

use rustls::pki_types::CertificateDer;
use wsman_auth::IdentityKind;
use wsman_test::client_certs::TestCa;
use wsman_test::ConfigDir;

use super::*;

struct Client {
    upn: &'static str,
    client_auth: bool,
    expired: bool,
}

const ALICE: Client = Client {
    upn: "alice@example",
    client_auth: true,
    expired: false,
};

fn client(issuer: &TestCa, spec: &Client) -> CertificateDer<'static> {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Alice");
    params.subject_alt_names = vec![rcgen::SanType::OtherName((
        vec![1, 3, 6, 1, 4, 1, 311, 20, 2, 3],
        rcgen::OtherNameValue::Utf8String(spec.upn.into()),
    ))];
    params.extended_key_usages = if spec.client_auth {
        vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth]
    } else {
        vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth]
    };
    if spec.expired {
        params.not_before = rcgen::date_time_ymd(2001, 1, 1);
        params.not_after = rcgen::date_time_ymd(2002, 1, 1);
    }
    issuer.sign(params, &key).unwrap().der().clone()
}

fn mapping(issuer: &TestCa, subject: &str, user: &str) -> CertMapping {
    CertMapping::new(issuer.thumbprint.clone(), subject, "*", user)
}

fn run(
    dir: &Path,
    chain: &[CertificateDer<'static>],
    mappings: &[CertMapping],
) -> Result<(Principal, Vec<String>), CertAuthError> {
    let accounts = wsman_config::accounts::load(dir).unwrap();
    authenticate(dir, &accounts, chain, mappings, UnixTime::now())
}

#[test]
fn mutual_header_recognised() {
    assert!(is_mutual_authorization(MUTUAL_PROFILE.as_bytes()));
    assert!(is_mutual_authorization(
        b" HTTP://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/MUTUAL "
    ));
    assert!(!is_mutual_authorization(b"Basic abc"));
    assert!(!is_mutual_authorization(b""));
}

#[test]
fn header_is_refused_over_http_or_when_disabled() {
    let on = ServiceSettings {
        auth_certificate: true,
        ..ServiceSettings::default()
    };
    assert_eq!(unusable(&on, Transport::Https), None);
    assert!(unusable(&on, Transport::Http).is_some());
    assert!(unusable(&ServiceSettings::default(), Transport::Https).is_some());
}

#[test]
fn mapped_certificate_authenticates_as_the_user() {
    let dir = ConfigDir::new();
    let ca = TestCa::new("Test CA");
    ca.install(&dir);
    let chain = [client(&ca, &ALICE)];
    let (principal, uris) = run(dir.path(), &chain, &[mapping(&ca, "*@example", "root")]).unwrap();
    assert_eq!(principal.identity, Identity::linux_user("root"));
    assert!(principal.is_administrator);
    assert_eq!(uris, vec!["*".to_owned()]);
    // The subject CN matches too; the first matching mapping decides the user.
    let (principal, _) = run(
        dir.path(),
        &chain,
        &[
            mapping(&ca, "bob", "root"),
            mapping(&ca, "alice", "nobody"),
            mapping(&ca, "alice@example", "root"),
        ],
    )
    .unwrap();
    assert_eq!(principal.identity.name, "nobody");
    assert!(!principal.is_administrator);
}

#[test]
fn service_accounts_act_as_their_run_as_user() {
    let dir = ConfigDir::new();
    let ca = TestCa::new("Test CA");
    ca.install(&dir);
    let mut store = wsman_config::accounts::load(dir.path()).unwrap();
    store.add("svc", "pw", Some("nobody".into())).unwrap();
    let chain = [client(&ca, &ALICE)];
    let (principal, _) = run(dir.path(), &chain, &[mapping(&ca, "*", "svc")]).unwrap();
    assert_eq!(principal.identity.kind, IdentityKind::ServiceAccount);
    assert_eq!(principal.identity.linux_user.as_deref(), Some("nobody"));
    assert!(!principal.is_administrator);
}

#[test]
fn refusals() {
    let dir = ConfigDir::new();
    let mapped = TestCa::new("Mapped CA");
    let other = TestCa::new("Other CA");
    mapped.install(&dir);
    other.install(&dir);
    let good = [client(&mapped, &ALICE)];
    let map = [mapping(&mapped, "*@example", "root")];

    assert!(matches!(
        run(dir.path(), &[], &map),
        Err(CertAuthError::NoCertificate)
    ));
    // Signed by a CA that is installed but not the mapping's issuer.
    let foreign = [client(&other, &ALICE)];
    let e = run(dir.path(), &foreign, &map).unwrap_err();
    assert!(matches!(e, CertAuthError::NotVerified { .. }), "{e}");
    assert!(e.to_string().contains("alice@example"), "{e}");
    // Nothing matches the names.
    let e = run(
        dir.path(),
        &good,
        &[mapping(&mapped, "bob@example", "root")],
    )
    .unwrap_err();
    assert!(matches!(e, CertAuthError::NoMapping { .. }), "{e}");
    // Disabled.
    let mut disabled = mapping(&mapped, "*", "root");
    disabled.enabled = false;
    assert!(matches!(
        run(dir.path(), &good, &[disabled]),
        Err(CertAuthError::NoMapping { .. })
    ));
    // Expired, or without the Client Authentication EKU.
    for spec in [
        Client {
            expired: true,
            ..ALICE
        },
        Client {
            client_auth: false,
            ..ALICE
        },
    ] {
        let chain = [client(&mapped, &spec)];
        let e = run(dir.path(), &chain, &map).unwrap_err();
        assert!(matches!(e, CertAuthError::NotVerified { .. }), "{e}");
    }
    // A mapped user that does not exist.
    let e = run(
        dir.path(),
        &good,
        &[mapping(&mapped, "*", "wsmand-no-such-user-c4")],
    )
    .unwrap_err();
    assert!(matches!(e, CertAuthError::UnknownUser { .. }), "{e}");
    // The issuer file disappeared after the mapping was made.
    std::fs::remove_file(
        dir.path()
            .join("certs")
            .join(format!("{}.crt", mapped.thumbprint)),
    )
    .unwrap();
    assert!(matches!(
        run(dir.path(), &good, &map),
        Err(CertAuthError::NotVerified { .. })
    ));
    // Garbage instead of a certificate.
    let junk = [CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01])];
    assert!(run(dir.path(), &junk, &[mapping(&mapped, "*", "root")]).is_err());
}

#[test]
fn issuer_must_sign_directly() {
    let dir = ConfigDir::new();
    let root = TestCa::new("Root CA");
    root.install(&dir);
    // An intermediate signed by the root, which signs the client.
    let intermediate = root.intermediate("Intermediate");
    let chain = [
        client(&intermediate, &ALICE),
        intermediate.certificate().der().clone(),
    ];
    assert!(run(dir.path(), &chain, &[mapping(&root, "*", "root")]).is_err());
    intermediate.install(&dir);
    assert!(run(dir.path(), &chain, &[mapping(&intermediate, "*", "root")]).is_ok());
}

#[test]
fn scope_follows_the_mapping_uris() {
    let principal = Arc::new(Principal::new(Identity::linux_user("root"), true));
    let peer = PeerCertificate::new(vec![CertificateDer::from(vec![1u8])]).unwrap();
    assert!(
        peer.allows(&principal, Some("http://x/any")),
        "nothing verified yet"
    );
    *peer.verified() = Some(Verified {
        mappings: Vec::new(),
        principal: Arc::clone(&principal),
        uris: vec!["http://schemas.microsoft.com/wbem/wsman/1/windows/shell*".to_owned()],
    });
    assert!(peer.allows(
        &principal,
        Some("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd")
    ));
    assert!(!peer.allows(
        &principal,
        Some("http://schemas.microsoft.com/wbem/wsman/1/config")
    ));
    assert!(
        peer.allows(&principal, None),
        "Identify has no resource URI"
    );
    let other = Arc::new(Principal::new(Identity::linux_user("root"), true));
    assert!(
        peer.allows(
            &other,
            Some("http://schemas.microsoft.com/wbem/wsman/1/config")
        ),
        "a principal proved otherwise (Basic) is not limited by the mapping"
    );
    assert!(peer.cached(&[]).is_some());
    assert!(peer
        .cached(&[CertMapping::new("AB".repeat(20), "*", "*", "x")])
        .is_none());
    assert!(PeerCertificate::new(Vec::new()).is_none());
}
