//! The TLS session inside CredSSP, driven over memory buffers (no socket): the records travel
//! base64 in `Authorization: CredSSP` / `WWW-Authenticate: CredSSP` headers during the
//! handshake, and inside MS-WSMV encrypted bodies afterwards ([`TlsSealer`]). Also the RSA
//! certificate of the acceptor side: CredSSP clients export the server key as PKCS#1, which
//! only exists for RSA, so the listener's (ECDSA) certificate cannot be used; like Windows'
//! `CREDSSP-<host>` certificate it is self-signed and generated once per process.

use std::io::{Read, Write};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use zeroize::Zeroizing;

use crate::sealing::{MessageSealer, SealError, CREDSSP_PROTOCOL};

/// Largest plaintext in one TLS record, and the MS-WSMV CredSSP chunk size.
pub const CHUNK_LEN: usize = 16 * 1024;
/// Largest plaintext one token or body may produce through this session (bounds memory when a
/// peer streams records).
const MAX_PLAINTEXT: usize = 16 * 1024 * 1024;

/// Why the inner TLS failed. No variant carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("inner TLS: {0}")]
    Protocol(String),
    #[error("inner TLS produced more plaintext than allowed")]
    TooLarge,
    #[error("certificate: {0}")]
    Certificate(String),
}

/// Feed `input` (whole or partial TLS records) into `conn`; returns the plaintext it yielded.
/// Plaintext is drained after every `read_tls`, since rustls buffers only a little of it.
pub(crate) fn feed(conn: &mut rustls::Connection, mut input: &[u8]) -> Result<Vec<u8>, TlsError> {
    let mut plain = Vec::new();
    let mut buffer = [0u8; 4096];
    while !input.is_empty() {
        let read = conn
            .read_tls(&mut input)
            .map_err(|e| TlsError::Protocol(e.to_string()))?;
        if read == 0 {
            break;
        }
        conn.process_new_packets()
            .map_err(|e| TlsError::Protocol(e.to_string()))?;
        loop {
            match conn.reader().read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    if plain.len() + n > MAX_PLAINTEXT {
                        return Err(TlsError::TooLarge);
                    }
                    plain.extend_from_slice(&buffer[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(TlsError::Protocol(e.to_string())),
            }
        }
    }
    Ok(plain)
}

/// Encrypt `plain` (may be empty) and collect every record `conn` wants to send.
pub(crate) fn produce(conn: &mut rustls::Connection, plain: &[u8]) -> Result<Vec<u8>, TlsError> {
    if !plain.is_empty() {
        conn.writer()
            .write_all(plain)
            .map_err(|e| TlsError::Protocol(e.to_string()))?;
    }
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out)
            .map_err(|e| TlsError::Protocol(e.to_string()))?;
    }
    Ok(out)
}

/// The ring provider with rustls' safe defaults (TLS 1.2 and 1.3, AEAD suites only).
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// MS-WSMV CredSSP sealing with the established TLS session: one chunk of at most 16 KiB is
/// one TLS application-data record; the Length-Field announces the record's trailer size (as
/// Windows and pyspnego compute it) and the whole record follows it.
pub struct TlsSealer {
    conn: rustls::Connection,
}

impl TlsSealer {
    pub(crate) fn new(conn: rustls::Connection) -> Self {
        Self { conn }
    }

    /// TLS 1.3 AEAD records end with the content-type byte and a 16-byte tag; TLS 1.2 AEAD
    /// records with the tag only (rustls negotiates nothing else).
    fn trailer_len(&self) -> usize {
        match self.conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => 17,
            _ => 16,
        }
    }
}

impl std::fmt::Debug for TlsSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSealer")
            .field("version", &self.conn.protocol_version())
            .finish_non_exhaustive()
    }
}

impl MessageSealer for TlsSealer {
    fn protocol(&self) -> &str {
        CREDSSP_PROTOCOL
    }

    fn max_chunk_len(&self) -> Option<usize> {
        Some(CHUNK_LEN)
    }

    fn wrap(&mut self, plain: &[u8]) -> Result<(Vec<u8>, Vec<u8>), SealError> {
        if plain.len() > CHUNK_LEN {
            return Err(SealError::Wrap(
                "CredSSP chunk larger than 16 KiB".to_owned(),
            ));
        }
        let mut records =
            produce(&mut self.conn, plain).map_err(|e| SealError::Wrap(e.to_string()))?;
        let split = self.trailer_len().min(records.len());
        let rest = records.split_off(split);
        Ok((records, rest))
    }

    fn unwrap(&mut self, header: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, SealError> {
        // The Length-Field is unreliable (pywinrm computes it wrongly for TLS 1.3): the
        // header and the payload together are the TLS records.
        let mut records = Vec::with_capacity(header.len() + ciphertext.len());
        records.extend_from_slice(header);
        records.extend_from_slice(ciphertext);
        feed(&mut self.conn, &records).map_err(|e| SealError::Unwrap(e.to_string()))
    }
}

/// The acceptor's certificate: a self-signed RSA 2048 certificate, its key, and the public
/// key bytes CredSSP binds (the PKCS#1 `RSAPublicKey` in the certificate's
/// subjectPublicKey).
pub struct AcceptorCertificate {
    config: Arc<rustls::ServerConfig>,
    public_key: Arc<[u8]>,
}

impl std::fmt::Debug for AcceptorCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcceptorCertificate")
            .field("public_key_len", &self.public_key.len())
            .finish_non_exhaustive()
    }
}

impl AcceptorCertificate {
    /// Generate a fresh key and certificate `CN=CREDSSP-<host>` (slow: an RSA key; do it
    /// once and share the result).
    pub fn generate(host: &str) -> Result<Self, TlsError> {
        use picky::key::PrivateKey;
        use picky::signature::SignatureAlgorithm;
        use picky::x509::certificate::CertificateBuilder;
        use picky::x509::date::UtcDate;
        use picky::x509::name::DirectoryName;

        let cert_err = |e: &dyn std::fmt::Display| TlsError::Certificate(e.to_string());
        let key = PrivateKey::generate_rsa(2048).map_err(|e| cert_err(&e))?;
        let public_key = key
            .to_public_key()
            .and_then(|public| public.to_pkcs1())
            .map_err(|e| cert_err(&e))?;
        let valid_from =
            UtcDate::new(2020, 1, 1, 0, 0, 0).ok_or(TlsError::Certificate("date".into()))?;
        let valid_to =
            UtcDate::new(2049, 12, 31, 0, 0, 0).ok_or(TlsError::Certificate("date".into()))?;
        let name = format!("CREDSSP-{}", if host.is_empty() { "wsmand" } else { host });
        let certificate = CertificateBuilder::new()
            .validity(valid_from, valid_to)
            .self_signed(DirectoryName::new_common_name(name), &key)
            .signature_hash_type(SignatureAlgorithm::RsaPkcs1v15(
                picky::hash::HashAlgorithm::SHA2_256,
            ))
            .build()
            .map_err(|e| cert_err(&e))?;
        let certificate_der = certificate.to_der().map_err(|e| cert_err(&e))?;
        let key_der = Zeroizing::new(key.to_pkcs8().map_err(|e| cert_err(&e))?);
        Self::from_der(certificate_der, &key_der, public_key)
    }

    fn from_der(certificate: Vec<u8>, pkcs8: &[u8], public_key: Vec<u8>) -> Result<Self, TlsError> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8.to_vec()));
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Certificate(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(vec![CertificateDer::from(certificate)], key)
            .map_err(|e| TlsError::Certificate(e.to_string()))?;
        Ok(Self {
            config: Arc::new(config),
            public_key: public_key.into(),
        })
    }

    pub(crate) fn server_config(&self) -> Arc<rustls::ServerConfig> {
        Arc::clone(&self.config)
    }

    /// The bytes pubKeyAuth binds.
    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }
}

/// The CredSSP "public key" of a certificate (DER): the contents of its subjectPublicKey BIT
/// STRING, which for RSA is the PKCS#1 `RSAPublicKey`. Our own walk of the X.509 structure.
pub fn certificate_public_key(certificate: &[u8]) -> Option<Vec<u8>> {
    use crate::ntlm::der;
    let cert = der::read_only(certificate, 0x30)?;
    let (tbs, _) = der::read(cert.value)?;
    let mut fields = der::children(tbs.value, 16)?.into_iter();
    // [0] version is optional; then serial, signature, issuer, validity, subject, SPKI.
    let mut field = fields.next()?;
    if field.tag == 0xA0 {
        field = fields.next()?;
    }
    let _serial = field;
    let spki = fields.nth(4)?;
    let parts = der::children(spki.value, 2)?;
    let bits = parts.get(1).filter(|p| p.tag == 0x03)?;
    let (&unused, key) = bits.value.split_first()?;
    (unused == 0).then(|| key.to_vec())
}
