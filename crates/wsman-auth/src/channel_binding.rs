//! Channel binding for Negotiate/NTLM over HTTPS (RFC 5929 `tls-server-end-point`, RFC 5056):
//! the value both sides derive from the server's TLS certificate, and the MD5 of the
//! `gss_channel_bindings` structure that NTLMv2 carries in MsvAvChannelBindings. Shared by the
//! server (which checks it per CbtHardeningLevel) and the client (which sends it).

use md5::{Digest, Md5};
use sha2::{Sha256, Sha384, Sha512};

use crate::ntlm::der;

/// `tls-server-end-point:` + the hash of the server certificate (DER): the hash of its
/// signature algorithm, SHA-256 when that is MD5 or SHA-1 (or unknown, e.g. Ed25519).
/// `None` when `certificate_der` is not a certificate.
pub fn tls_server_end_point(certificate_der: &[u8]) -> Option<Vec<u8>> {
    let algorithm = signature_algorithm_oid(certificate_der)?;
    let mut out = b"tls-server-end-point:".to_vec();
    match hash_of(algorithm) {
        HashKind::Sha384 => out.extend_from_slice(&Sha384::digest(certificate_der)),
        HashKind::Sha512 => out.extend_from_slice(&Sha512::digest(certificate_der)),
        HashKind::Sha256 => out.extend_from_slice(&Sha256::digest(certificate_der)),
    }
    Some(out)
}

/// MD5 of the `gss_channel_bindings` structure with empty addresses and `application_data`
/// (all lengths and address types 32-bit little-endian), as NTLMv2's MsvAvChannelBindings.
pub fn gss_channel_bindings_md5(application_data: &[u8]) -> [u8; 16] {
    let mut md5 = Md5::new();
    md5.update([0u8; 16]); // initiator addrtype + length, acceptor addrtype + length
    md5.update((application_data.len() as u32).to_le_bytes());
    md5.update(application_data);
    md5.finalize().into()
}

/// MsvAvChannelBindings for a server certificate, `None` when it cannot be parsed.
pub fn ntlm_channel_bindings(certificate_der: &[u8]) -> Option<[u8; 16]> {
    tls_server_end_point(certificate_der).map(|data| gss_channel_bindings_md5(&data))
}

enum HashKind {
    Sha256,
    Sha384,
    Sha512,
}

/// DER contents of the OIDs whose hash is not SHA-256.
fn hash_of(oid: &[u8]) -> HashKind {
    const SHA384_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
    const SHA512_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
    const ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
    const ECDSA_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04];
    if oid == SHA384_RSA || oid == ECDSA_SHA384 {
        HashKind::Sha384
    } else if oid == SHA512_RSA || oid == ECDSA_SHA512 {
        HashKind::Sha512
    } else {
        HashKind::Sha256
    }
}

/// Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm SEQUENCE { OID, .. }, .. }
fn signature_algorithm_oid(certificate_der: &[u8]) -> Option<&[u8]> {
    let certificate = der::read_only(certificate_der, 0x30)?;
    let (_tbs, rest) = der::read(certificate.value)?;
    let (algorithm, _) = der::read(rest)?;
    if algorithm.tag != 0x30 {
        return None;
    }
    let (oid, _) = der::read(algorithm.value)?;
    (oid.tag == 0x06).then_some(oid.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structure_hash_covers_the_application_data() {
        let a = gss_channel_bindings_md5(b"tls-server-end-point:abc");
        let b = gss_channel_bindings_md5(b"tls-server-end-point:abd");
        assert_ne!(a, b);
        // Known value: MD5 of 16 zero bytes, length 0.
        let empty = gss_channel_bindings_md5(b"");
        let mut md5 = Md5::new();
        md5.update([0u8; 20]);
        assert_eq!(empty, <[u8; 16]>::from(md5.finalize()));
    }

    #[test]
    fn algorithm_picks_the_hash() {
        // SEQUENCE { SEQUENCE {}, SEQUENCE { OID sha384WithRSAEncryption }, BIT STRING }
        let oid = der::write(
            0x06,
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c],
        );
        let mut inner = der::write(0x30, &[]);
        inner.extend(der::write(0x30, &oid));
        inner.extend(der::write(0x03, &[0]));
        let cert = der::write(0x30, &inner);
        let value = tls_server_end_point(&cert).unwrap();
        assert_eq!(value.len(), "tls-server-end-point:".len() + 48);
        assert!(tls_server_end_point(b"not a certificate").is_none());
    }
}
