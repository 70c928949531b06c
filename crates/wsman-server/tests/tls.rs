//! HTTPS listeners: the certificate from DIR/certs by thumbprint, and Basic accepted over TLS
//! while it is refused over plain HTTP without AllowUnencrypted.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One request over a fresh TLS connection that trusts exactly `cert_pem`.
async fn https_post(port: u16, cert_pem: &[u8], authorization: &str, body: &str) -> String {
    let mut roots = rustls::RootCertStore::empty();
    for cert in wsman_safe::pem::parse_certificates(cert_pem).unwrap_or_else(|e| panic!("{e}")) {
        roots.add(cert).unwrap_or_else(|e| panic!("{e}"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| panic!("{e}"))
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let name =
        rustls::pki_types::ServerName::try_from("localhost").unwrap_or_else(|e| panic!("{e}"));
    let mut tls = connector
        .connect(name, tcp)
        .await
        .unwrap_or_else(|e| panic!("TLS handshake: {e}"));
    let request = format!(
        "POST /wsman HTTP/1.1\r\nHost: localhost:{port}\r\nContent-Type: {SOAP}\r\n\
         Authorization: {authorization}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(request.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), tls.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_over_https_without_allow_unencrypted() {
    let https_port = free_port();
    let mut cert_pem = Vec::new();
    let svc = TestService::start_with(|http_port, dir| {
        let thumbprint = wsman_config::certs::generate_self_signed(&dir.join("certs"), "localhost")
            .unwrap_or_else(|e| panic!("{e}"));
        let (crt, _) = wsman_config::certs::paths(&dir.join("certs"), &thumbprint);
        cert_pem = std::fs::read(crt).unwrap_or_else(|e| panic!("{e}"));
        format!(
            "[Config.Service.Auth]\nBasic = true\n\n\
             [[Listener]]\nAddress = \"IP:127.0.0.1\"\nTransport = \"HTTP\"\nPort = {http_port}\n\n\
             [[Listener]]\nAddress = \"IP:127.0.0.1\"\nTransport = \"HTTPS\"\nPort = {https_port}\n\
             CertificateThumbprint = \"{thumbprint}\"\n"
        )
    })
    .await;
    let auth = basic(USER, PASSWORD);
    let answer = https_post(https_port, &cert_pem, &auth, &identify_body()).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("secprofile/https/basic"));
    let answer = https_post(
        https_port,
        &cert_pem,
        &auth,
        &envelope(GET, CONFIG_URI, "", ""),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // plain HTTP: Basic is refused without AllowUnencrypted, and no Basic challenge is offered
    let mut c = svc.connect().await;
    let r = c.post(Some(&auth), &[], &identify_body()).await;
    assert_eq!(r.status, 401);
    // Only Negotiate (sealed over HTTP) is offered.
    assert_eq!(r.headers_named("WWW-Authenticate"), vec!["Negotiate"]);
}
