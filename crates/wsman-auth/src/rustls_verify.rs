//! The signature half of a rustls certificate verifier, written once for the three verifiers
//! that decide the certificate themselves but leave the handshake signatures to the crypto
//! provider (the client's relaxed server verifier, CredSSP's inner TLS, the server's client
//! certificate verifier).

/// Defines `verify_tls12_signature`, `verify_tls13_signature` and `supported_verify_schemes`
/// of a rustls `ServerCertVerifier` or `ClientCertVerifier` with the provider's own
/// algorithms; the argument names the verifier's `Arc<CryptoProvider>` field.
#[macro_export]
macro_rules! provider_signature_checks {
    ($provider:ident) => {
        $crate::provider_signature_checks!(@check $provider, verify_tls12_signature);
        $crate::provider_signature_checks!(@check $provider, verify_tls13_signature);

        fn supported_verify_schemes(&self) -> Vec<$crate::__rustls::SignatureScheme> {
            self.$provider
                .signature_verification_algorithms
                .supported_schemes()
        }
    };
    // One of the two signature checks, named as the trait and rustls's function both name it.
    (@check $provider:ident, $check:ident) => {
        fn $check(
            &self,
            message: &[u8],
            cert: &$crate::__rustls::pki_types::CertificateDer<'_>,
            dss: &$crate::__rustls::DigitallySignedStruct,
        ) -> Result<
            $crate::__rustls::client::danger::HandshakeSignatureValid,
            $crate::__rustls::Error,
        > {
            $crate::__rustls::crypto::$check(
                message,
                cert,
                dss,
                &self.$provider.signature_verification_algorithms,
            )
        }
    };
}
