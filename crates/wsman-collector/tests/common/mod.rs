//! What the output tests (`journal`, `outputs`, `redis`, `syslog`, `tcp`) share: one subscription, `sec` on the
//! Security log, with the outputs a test names, and a batch of received events written to
//! them as the collector writes a forwarder's delivery. Each test binary uses part of it.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use wsman_collector::ingest::ReceivedEvent;
use wsman_collector::subscription_outputs::Outputs;
use wsman_collector::subscriptions::{self, Subscription, SubscriptionError, SubscriptionSet};
use wsman_outputs::{Batch, OutputError};
use wsman_proto::xml::{self, Limits};

/// The subscription's query: every event of the Security log.
pub(crate) const QUERY: &str =
    r#"query = '<QueryList><Query Id="0"><Select Path="Security">*</Select></Query></QueryList>'"#;

/// A subscription file of [`QUERY`] and `outputs`, read as the collector reads one.
pub(crate) fn parse_outputs(outputs: &str) -> Result<Subscription, SubscriptionError> {
    let file = Path::new("/etc/wsmand/subscriptions/bad.toml");
    subscriptions::parse(file, &format!("{QUERY}\n{outputs}"))
}

/// Why a subscription file of [`QUERY`] and `outputs` is refused.
pub(crate) fn refusal(outputs: &str) -> String {
    parse_outputs(outputs).expect_err(outputs).to_string()
}

/// An event of the Security log as the collector holds it once received from `computer`.
pub(crate) fn received(text: String, computer: &str, record: u64) -> ReceivedEvent {
    ReceivedEvent {
        tree: Some(xml::parse(&text, &Limits::default()).expect("event XML")),
        xml: text,
        computer: computer.to_owned(),
        channel: "Security".to_owned(),
        record_id: Some(record),
    }
}

/// A small logon event (4624) numbered `record`, its one datum `e{record}`.
pub(crate) fn logon(record: u64, computer: &str) -> ReceivedEvent {
    let text = format!("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><EventID>4624</EventID><EventRecordID>{record}</EventRecordID><Channel>Security</Channel><Computer>{computer}</Computer></System><EventData><Data Name='n'>e{record}</Data></EventData></Event>");
    received(text, computer, record)
}

/// The subscription `sec` with `outputs` (`[[outputs]]` tables) after its query.
pub(crate) fn set(outputs: &str) -> SubscriptionSet {
    set_named("sec", outputs)
}

/// The same subscription named `name`.
pub(crate) fn set_named(name: &str, outputs: &str) -> SubscriptionSet {
    let file = Path::new("/etc/wsmand/subscriptions").join(format!("{name}.toml"));
    SubscriptionSet {
        subscriptions: vec![
            subscriptions::parse(&file, &format!("{QUERY}\n{outputs}")).expect("parses")
        ],
        errors: Vec::new(),
    }
}

/// One delivery of `events` from `client` to the outputs of `sec`.
pub(crate) fn write(
    outputs: &Outputs,
    client: &str,
    events: &[ReceivedEvent],
) -> Result<(), OutputError> {
    write_to(outputs, "sec", client, events)
}

/// One delivery of `events` from `client` to the outputs of `subscription`.
pub(crate) fn write_to(
    outputs: &Outputs,
    subscription: &str,
    client: &str,
    events: &[ReceivedEvent],
) -> Result<(), OutputError> {
    let refs: Vec<&ReceivedEvent> = events.iter().collect();
    outputs.write(&Batch {
        subscription,
        client,
        events: &refs,
        received: "2026-11-24T00:00:00Z",
    })
}

/// What a receiver needs for TLS: a CA made for one test (rcgen), the receiver's certificate
/// for `siem.test` (as a rustls configuration that requires a client certificate, and as PEM
/// files for rsyslog and syslog-ng), and our client certificate for `wec.test`.
pub(crate) struct Pki {
    pub(crate) server: Arc<ServerConfig>,
    pub(crate) server_certificate: String,
    pub(crate) server_key: String,
    pub(crate) ca_file: String,
    pub(crate) client_certificate: String,
    pub(crate) client_key: String,
}

pub(crate) fn pki(dir: &Path) -> Pki {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "tcp output test CA");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca = ca_params.self_signed(&ca_key).expect("CA");
    let issue = |names: Vec<String>, usage: rcgen::ExtendedKeyUsagePurpose| {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(names).expect("params");
        params.extended_key_usages = vec![usage];
        let certificate = params.signed_by(&key, &ca, &ca_key).expect("signed");
        (certificate, key)
    };
    let (server_cert, server_key) = issue(
        vec!["siem.test".to_owned()],
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_cert, client_key) = issue(
        vec!["wec.test".to_owned()],
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    );
    // Keys are secret files (this user's, 0600); the rest may be read by anyone.
    let write = |name: &str, text: String| {
        use std::os::unix::fs::PermissionsExt as _;
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write PEM");
        let mode = if name.ends_with(".key") { 0o600 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        path.display().to_string()
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(ca.der().clone()).expect("CA root");
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
            .build()
            .expect("client verifier");
    let server = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from(server_cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        )
        .expect("server certificate");
    Pki {
        server: Arc::new(server),
        server_certificate: write("server.pem", server_cert.pem()),
        server_key: write("server.key", server_key.serialize_pem()),
        ca_file: write("ca.pem", ca.pem()),
        client_certificate: write("client.pem", client_cert.pem()),
        client_key: write("client.key", client_key.serialize_pem()),
    }
}
