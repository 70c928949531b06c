//! Client certificate authentication over HTTPS (reference §1.4, MS-WSMV 3.1.4.1.29.3).
//!
//! Two halves, because TLS and HTTP see different things:
//!
//! - In the handshake, [`ClientCertificateRequest`] asks for a certificate when
//!   `Service/Auth/Certificate` is true (read live at every handshake) and lets clients
//!   without one in: Basic and the other schemes use the same listener. It only checks that
//!   the client holds the certificate's private key (the handshake signature); whether the
//!   certificate means anything is decided at the HTTP layer, where a refusal can be a clear
//!   401 with a log line instead of a TLS alert.
//! - At authentication, a request carrying `Authorization:
//!   http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual` is matched against
//!   `winrm/config/service/certmapping` ([`authenticate`]): an enabled mapping whose Subject
//!   pattern matches one of the certificate's names (SAN UPN, SAN e-mail, subject CN) and
//!   whose Issuer (`DIR/certs/THUMB.crt`) directly signed the certificate, which must be
//!   within its validity period and carry the Client Authentication EKU. The mapping's
//!   UserName is the principal: a service account from `accounts.toml` (acting as its run-as
//!   user) or a Linux user (shells run as it).
//!
//! The result is kept per connection for as long as the mappings do not change, so the
//! issuer files and account lookups are paid once per connection, like a Basic login. The
//! mapping's URI pattern is checked per request once the body is parsed ([`check_scope`]):
//! a request outside it is refused with AccessDenied. When one certificate matches mappings
//! for different users, the first matching mapping in configuration order decides the user.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::DistinguishedName;
use tokio::sync::watch;
use wsman_auth::{AccountStore, Identity};
use wsman_config::CertMapping;
use wsman_proto::Fault;

pub use wsman_config::certmapping::certificate_names;

use super::services::AuthServices;
use super::Principal;
use crate::error::ServiceError;
use crate::settings::{ServiceSettings, Transport};

/// The Authorization value (and WWW-Authenticate challenge) of the client certificate profile.
pub const MUTUAL_PROFILE: &str = wsman_proto::ns::secprofile::HTTPS_MUTUAL;

/// OID 1.3.6.1.5.5.7.3.2 (id-kp-clientAuth), DER contents: Windows requires this EKU.
const EKU_CLIENT_AUTH: &[u8] = &[0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];

/// The scheme name in logs and the failed-login throttle.
const SCHEME: &str = "Certificate";

/// Longest chain a client may present (end entity included).
const MAX_CHAIN: usize = 8;

/// True when an Authorization value is the certificate profile (trimmed, any case).
pub fn is_mutual_authorization(value: &[u8]) -> bool {
    value
        .trim_ascii()
        .eq_ignore_ascii_case(MUTUAL_PROFILE.as_bytes())
}

/// Why the certificate profile header cannot be used on this listener, if it cannot.
pub fn unusable(settings: &ServiceSettings, transport: Transport) -> Option<&'static str> {
    if transport != Transport::Https {
        return Some("client certificates are only accepted over HTTPS");
    }
    if !settings.auth_certificate {
        return Some("certificate authentication is disabled (Service/Auth/Certificate)");
    }
    None
}

/// The rustls side: request a certificate when certificate authentication is enabled, accept
/// anonymous clients, verify proof of possession of the key only.
pub struct ClientCertificateRequest {
    settings: watch::Receiver<Arc<ServiceSettings>>,
    provider: Arc<CryptoProvider>,
}

impl ClientCertificateRequest {
    /// Follows `Service/Auth/Certificate` in `settings` at every handshake.
    pub fn new(settings: watch::Receiver<Arc<ServiceSettings>>) -> Self {
        Self {
            settings,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        }
    }
}

impl std::fmt::Debug for ClientCertificateRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificateRequest")
            .finish_non_exhaustive()
    }
}

impl ClientCertVerifier for ClientCertificateRequest {
    fn offer_client_auth(&self) -> bool {
        self.settings.borrow().auth_certificate
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    /// No CA names: the mapped issuers change live, and clients send the certificate they
    /// were configured with anyway.
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if intermediates.len() >= MAX_CHAIN {
            return Err(rustls::Error::General(
                "client certificate chain too long".into(),
            ));
        }
        // Refuse what is not even a certificate; everything else is decided per request.
        webpki::EndEntityCert::try_from(end_entity).map_err(|_| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        })?;
        Ok(ClientCertVerified::assertion())
    }

    wsman_auth::provider_signature_checks!(provider);
}

/// The certificate chain a client presented on one TLS connection, and what it proved.
pub struct PeerCertificate {
    chain: Vec<CertificateDer<'static>>,
    verified: Mutex<Option<Verified>>,
}

/// A successful authentication, valid while the mappings are these.
struct Verified {
    mappings: Vec<CertMapping>,
    principal: Arc<Principal>,
    uris: Vec<String>,
}

impl std::fmt::Debug for PeerCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerCertificate")
            .field("chain_length", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl PeerCertificate {
    /// The chain as rustls reports it (end entity first); None when it is empty.
    pub fn new(chain: Vec<CertificateDer<'static>>) -> Option<Self> {
        if chain.is_empty() {
            return None;
        }
        Some(Self {
            chain,
            verified: Mutex::new(None),
        })
    }

    fn verified(&self) -> std::sync::MutexGuard<'_, Option<Verified>> {
        self.verified.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cached(&self, mappings: &[CertMapping]) -> Option<Arc<Principal>> {
        let verified = self.verified();
        let v = verified.as_ref()?;
        (v.mappings == mappings).then(|| Arc::clone(&v.principal))
    }

    /// The certificate's names and the issuers of the mappings that match them, when this
    /// certificate is what proved `principal`: the collector checks the `Computer` of a
    /// forwarder's events against the names, and tells it to use those issuers.
    pub fn proof_of(&self, principal: &Arc<Principal>) -> Option<(Vec<String>, Vec<String>)> {
        let verified = self.verified();
        let v = verified
            .as_ref()
            .filter(|v| Arc::ptr_eq(&v.principal, principal))?;
        let names = certificate_names(self.chain.first().map_or(&[][..], |c| c.as_ref()));
        let mut issuers: Vec<String> = v
            .mappings
            .iter()
            .filter(|m| m.enabled && m.subject_matches(names.iter().map(String::as_str)))
            .map(|m| m.issuer.clone())
            .collect();
        issuers.dedup();
        Some((names, issuers))
    }

    /// Whether `principal`, when it is the one this certificate proved, may use
    /// `resource_uri` (requests without a resource URI, such as Identify, always may).
    fn allows(&self, principal: &Arc<Principal>, resource_uri: Option<&str>) -> bool {
        let verified = self.verified();
        match verified.as_ref() {
            Some(v) if Arc::ptr_eq(&v.principal, principal) => resource_uri.is_none_or(|uri| {
                v.uris
                    .iter()
                    .any(|pattern| wsman_config::certmapping::pattern_matches(pattern, uri))
            }),
            _ => true,
        }
    }
}

/// Why a certificate did not authenticate. Says which names were seen; never key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertAuthError {
    #[error("the certificate profile was requested but the client sent no certificate in the TLS handshake")]
    NoCertificate,
    #[error("no enabled certificate mapping matches the certificate names {names:?}")]
    NoMapping { names: Vec<String> },
    #[error(
        "the certificate ({names:?}) was not signed by a mapped issuer or is not valid: {reasons}"
    )]
    NotVerified { names: Vec<String>, reasons: String },
    #[error(
        "the certificate maps to {user:?}, which is neither a service account nor a Linux user"
    )]
    UnknownUser { user: String },
    #[error("accounts: {0}")]
    Accounts(#[from] wsman_auth::AccountError),
    #[error("user lookup: {0}")]
    UserLookup(#[from] wsman_os::UserError),
    #[error("the certificate check stopped: {0}")]
    Stopped(#[from] tokio::task::JoinError),
}

/// Why one mapped issuer did not verify the end entity.
#[derive(Debug, thiserror::Error)]
enum IssuerError {
    #[error(transparent)]
    Load(#[from] wsman_config::certs::CertError),
    #[error("not a usable trust anchor: {0}")]
    Anchor(#[source] webpki::Error),
    #[error("{0}")]
    Verify(#[source] webpki::Error),
}

/// Match `chain` against `mappings` and resolve the principal (blocking: reads the issuer
/// certificates and `accounts.toml` under `config_dir`, looks users up). Returns the
/// principal and the URI patterns it was mapped for.
pub fn authenticate(
    config_dir: &Path,
    accounts: &AccountStore,
    chain: &[CertificateDer<'_>],
    mappings: &[CertMapping],
    now: UnixTime,
) -> Result<(Principal, Vec<String>), CertAuthError> {
    let end_entity = chain.first().ok_or(CertAuthError::NoCertificate)?;
    let names = certificate_names(end_entity);
    let candidates: Vec<&CertMapping> = mappings
        .iter()
        .filter(|m| m.enabled && m.subject_matches(names.iter().map(String::as_str)))
        .collect();
    if candidates.is_empty() {
        return Err(CertAuthError::NoMapping { names });
    }
    let certs_dir = config_dir.join("certs");
    let parsed =
        webpki::EndEntityCert::try_from(end_entity).map_err(|e| CertAuthError::NotVerified {
            names: names.clone(),
            reasons: e.to_string(),
        })?;
    let algorithms = rustls::crypto::ring::default_provider()
        .signature_verification_algorithms
        .all;
    let mut reasons: Vec<String> = Vec::new();
    let mut issuer: Option<&str> = None;
    for m in &candidates {
        if reasons.iter().any(|r| r.starts_with(&m.issuer)) {
            continue;
        }
        match verify_issued_by(&parsed, &certs_dir, &m.issuer, algorithms, now) {
            Ok(()) => {
                issuer = Some(&m.issuer);
                break;
            }
            Err(reason) => reasons.push(format!("{}: {reason}", m.issuer)),
        }
    }
    let Some(issuer) = issuer else {
        return Err(CertAuthError::NotVerified {
            names,
            reasons: reasons.join("; "),
        });
    };
    let mapped: Vec<&&CertMapping> = candidates.iter().filter(|m| m.issuer == issuer).collect();
    let user = mapped
        .first()
        .map(|m| m.user_name.clone())
        .unwrap_or_default();
    let uris = mapped
        .iter()
        .filter(|m| m.user_name == user)
        .map(|m| m.uri.clone())
        .collect();
    let identity = resolve_user(accounts, &user)?;
    let principal = crate::access::resolve_principal(identity)?.via_certificate(issuer);
    Ok((principal, uris))
}

/// The end entity was signed directly by the issuer `thumbprint` (as MS-WSMV defines the
/// Issuer selector), is in its validity period and carries the Client Authentication EKU.
fn verify_issued_by(
    end_entity: &webpki::EndEntityCert<'_>,
    certs_dir: &Path,
    thumbprint: &str,
    algorithms: &[&dyn rustls::pki_types::SignatureVerificationAlgorithm],
    now: UnixTime,
) -> Result<(), IssuerError> {
    let der = CertificateDer::from(wsman_config::certmapping::load_issuer(
        certs_dir, thumbprint,
    )?);
    let anchor = webpki::anchor_from_trusted_cert(&der).map_err(IssuerError::Anchor)?;
    end_entity
        .verify_for_usage(
            algorithms,
            &[anchor],
            &[],
            now,
            webpki::KeyUsage::required(EKU_CLIENT_AUTH),
            None,
            None,
        )
        .map(|_| ())
        .map_err(IssuerError::Verify)
}

/// A service account named `user` (acting as its run-as user), else a Linux user.
fn resolve_user(accounts: &AccountStore, user: &str) -> Result<Identity, CertAuthError> {
    if let Some(account) = accounts.get(user) {
        return Ok(Identity::service_account(account.name, account.run_as));
    }
    match wsman_os::lookup_user(user) {
        Ok(Some(_)) => Ok(Identity::linux_user(user)),
        Ok(None) => Err(CertAuthError::UnknownUser {
            user: user.to_owned(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// Authenticate a request that carries the certificate profile header from `remote`, whose
/// TLS handshake presented `peer`: the cached result when the mappings did not change, else
/// [`authenticate`] on the blocking pool, after the failed-login throttle's wait. Every
/// refusal is counted there and logged at warn with the remote address, the certificate's
/// first name and the reason.
pub async fn authenticate_request(
    services: &AuthServices,
    remote: SocketAddr,
    peer: Option<&PeerCertificate>,
    settings: &ServiceSettings,
) -> Option<Arc<Principal>> {
    let throttle = &services.login_throttle;
    let Some(peer) = peer else {
        let reason = CertAuthError::NoCertificate.to_string();
        throttle.record_failure(remote, SCHEME, "", &reason);
        return None;
    };
    if let Some(principal) = peer.cached(&settings.cert_mappings) {
        return Some(principal);
    }
    throttle
        .delay_before_check(remote, SCHEME, &settings.access.throttle)
        .await;
    let _permit = services.check_permit().await?;
    let config_dir = services.config_dir.clone();
    let accounts = Arc::clone(&services.accounts);
    let chain = peer.chain.clone();
    let mappings = settings.cert_mappings.clone();
    let job = tokio::task::spawn_blocking(move || {
        let accounts = accounts.current()?;
        authenticate(&config_dir, &accounts, &chain, &mappings, UnixTime::now())
    });
    let result = job.await.unwrap_or_else(|e| Err(e.into()));
    match result {
        Ok((principal, uris)) => {
            throttle.record_success(remote, SCHEME);
            tracing::info!(remote = %remote, user = %principal, "authenticated (Certificate)");
            let principal = Arc::new(principal);
            *peer.verified() = Some(Verified {
                mappings: settings.cert_mappings.clone(),
                principal: Arc::clone(&principal),
                uris,
            });
            Some(principal)
        }
        Err(reason) => {
            *peer.verified() = None;
            // The certificate's first name stands for the user in the log.
            let names = certificate_names(peer.chain.first().map_or(&[][..], |c| c.as_ref()));
            let user = names.first().map_or("", String::as_str);
            throttle.record_failure(remote, SCHEME, user, &reason.to_string());
            None
        }
    }
}

/// After the parse: a principal proved by a certificate may only use the resource URIs its
/// mappings name (AccessDenied otherwise, as for any other authorization refusal).
pub fn check_scope(
    remote: SocketAddr,
    peer: Option<&PeerCertificate>,
    principal: &Arc<Principal>,
    resource_uri: Option<&str>,
    relates_to: Option<&str>,
) -> Result<(), ServiceError> {
    let Some(peer) = peer else {
        return Ok(());
    };
    if peer.allows(principal, resource_uri) {
        return Ok(());
    }
    tracing::warn!(remote = %remote, user = %principal, resource_uri = resource_uri.unwrap_or(""), "access denied: outside the certificate mapping's URI");
    Err(ServiceError::fault(Fault::access_denied(), relates_to))
}

#[cfg(test)]
#[path = "certificate_tests.rs"]
mod tests;
