//! The names of a client certificate that a certmapping `Subject` is matched against: the
//! subjectAltName UPNs (`otherName` 1.3.6.1.4.1.311.20.2.3, what Windows client certificates
//! for WinRM carry) and e-mail addresses (`rfc822Name`), then the subject common names.
//!
//! The bounded DER reader wsman-auth reads SPNEGO with rather than an X.509 crate: only these
//! few fields are needed, and the server verifies signature, validity and key usage (webpki)
//! before a match counts. The input is untrusted (read before any verification): every read is bounds-checked, a
//! malformed certificate yields no names, never a panic (fuzz target `client_cert_names`).

use wsman_auth::ntlm::der::{self, Tlv};

/// OID 2.5.4.3 (commonName), DER contents.
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
/// OID 2.5.29.17 (subjectAltName).
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1D, 0x11];
/// OID 1.3.6.1.4.1.311.20.2.3 (Microsoft UPN).
const OID_UPN: &[u8] = &[0x2B, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x14, 0x02, 0x03];

/// At most this many names are collected (a certificate could list thousands).
const MAX_NAMES: usize = 64;

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const OCTET_STRING: u8 = 0x04;

/// Reads consecutive DER elements from a byte slice.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    fn next(&mut self) -> Option<Tlv<'a>> {
        let (tlv, rest) = der::read(self.rest)?;
        self.rest = rest;
        Some(tlv)
    }

    fn expect(&mut self, tag: u8) -> Option<&'a [u8]> {
        let tlv = self.next()?;
        (tlv.tag == tag).then_some(tlv.value)
    }
}

/// The names of a DER certificate, SAN entries first. Empty when it does not parse.
pub fn certificate_names(der: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    let _ = collect(der, &mut names);
    let mut unique: Vec<String> = Vec::with_capacity(names.len().min(MAX_NAMES));
    for name in names {
        if unique.len() < MAX_NAMES && !unique.contains(&name) {
            unique.push(name);
        }
    }
    unique
}

fn collect(der: &[u8], names: &mut Vec<String>) -> Option<()> {
    let certificate = Reader::new(der).expect(SEQUENCE)?;
    let mut tbs = Reader::new(Reader::new(certificate).expect(SEQUENCE)?);
    let mut field = tbs.next()?;
    if field.tag == 0xA0 {
        field = tbs.next()?; // version, then the serial number
    }
    if field.tag != 0x02 {
        return None;
    }
    tbs.expect(SEQUENCE)?; // signature algorithm
    tbs.expect(SEQUENCE)?; // issuer
    tbs.expect(SEQUENCE)?; // validity
    let subject = tbs.expect(SEQUENCE)?;
    tbs.expect(SEQUENCE)?; // subjectPublicKeyInfo
    while let Some(tlv) = tbs.next() {
        if tlv.tag == 0xA3 {
            subject_alt_names(tlv.value, names);
        }
    }
    common_names(subject, names);
    Some(())
}

fn subject_alt_names(explicit: &[u8], names: &mut Vec<String>) -> Option<()> {
    let mut extensions = Reader::new(Reader::new(explicit).expect(SEQUENCE)?);
    while let Some(ext) = extensions.next() {
        if ext.tag != SEQUENCE {
            return None;
        }
        let mut parts = Reader::new(ext.value);
        if parts.expect(OID)? != OID_SUBJECT_ALT_NAME {
            continue;
        }
        let mut value = parts.next()?;
        if value.tag == 0x01 {
            value = parts.next()?; // critical flag
        }
        if value.tag != OCTET_STRING {
            return None;
        }
        let mut general_names = Reader::new(Reader::new(value.value).expect(SEQUENCE)?);
        while let Some(name) = general_names.next() {
            match name.tag {
                // otherName: type-id, [0] EXPLICIT value
                0xA0 => {
                    let mut other = Reader::new(name.value);
                    if other.expect(OID) == Some(OID_UPN) {
                        if let Some(explicit) = other.expect(0xA0) {
                            if let Some(text) = Reader::new(explicit).next().and_then(string) {
                                names.push(text);
                            }
                        }
                    }
                }
                // rfc822Name, IA5String contents
                0x81 => {
                    if let Ok(text) = std::str::from_utf8(name.value) {
                        names.push(text.to_owned());
                    }
                }
                _ => {}
            }
        }
    }
    Some(())
}

fn common_names(subject: &[u8], names: &mut Vec<String>) {
    let mut rdns = Reader::new(subject);
    while let Some(rdn) = rdns.next() {
        if rdn.tag != SET {
            return;
        }
        let mut attributes = Reader::new(rdn.value);
        while let Some(attribute) = attributes.next() {
            let mut parts = Reader::new(attribute.value);
            if parts.expect(OID) == Some(OID_COMMON_NAME) {
                if let Some(text) = parts.next().and_then(string) {
                    names.push(text);
                }
            }
        }
    }
}

/// A directory string: UTF8String, PrintableString, IA5String, T61String (read as Latin-1)
/// or BMPString (UTF-16BE).
fn string(tlv: Tlv<'_>) -> Option<String> {
    match tlv.tag {
        0x0C | 0x13 | 0x16 => std::str::from_utf8(tlv.value).ok().map(str::to_owned),
        0x14 => Some(tlv.value.iter().map(|&b| char::from(b)).collect()),
        0x1E if tlv.value.len().is_multiple_of(2) => {
            let units = tlv
                .value
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(params: rcgen::CertificateParams) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn upn_email_and_common_name() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Alice Example");
        params.subject_alt_names = vec![
            rcgen::SanType::OtherName((
                vec![1, 3, 6, 1, 4, 1, 311, 20, 2, 3],
                rcgen::OtherNameValue::Utf8String("alice@example".into()),
            )),
            rcgen::SanType::Rfc822Name("alice@mail.example".try_into().unwrap()),
            rcgen::SanType::DnsName("host.example".try_into().unwrap()),
        ];
        assert_eq!(
            certificate_names(&cert(params)),
            vec!["alice@example", "alice@mail.example", "Alice Example"]
        );
    }

    #[test]
    fn other_other_names_are_ignored() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = vec![rcgen::SanType::OtherName((
            vec![1, 2, 3, 4],
            rcgen::OtherNameValue::Utf8String("not-a-upn".into()),
        ))];
        let names = certificate_names(&cert(params));
        assert!(!names.iter().any(|n| n == "not-a-upn"), "{names:?}");
    }

    #[test]
    fn garbage_and_truncations_give_no_names_and_no_panic() {
        let mut params = rcgen::CertificateParams::new(vec!["h.example".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "h.example");
        let der = cert(params);
        for cut in 0..der.len() {
            let _ = certificate_names(&der[..cut]);
        }
        let mut flipped = der.clone();
        for i in 0..flipped.len() {
            flipped[i] ^= 0xFF;
            let _ = certificate_names(&flipped);
            flipped[i] ^= 0xFF;
        }
        assert!(certificate_names(b"").is_empty());
        assert!(certificate_names(&[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF]).is_empty());
        assert_eq!(certificate_names(&der), vec!["h.example"]);
    }

    #[test]
    fn bmp_and_t61_strings() {
        let read = |tag: u8, value: &[u8]| string(der::read(&der::write(tag, value)).unwrap().0);
        assert_eq!(read(0x1E, &[0x00, 0x41, 0x00, 0xE9]).as_deref(), Some("Aé"));
        assert_eq!(read(0x14, &[0x41, 0xE9]).as_deref(), Some("Aé"));
        assert!(read(0x1E, &[0x00]).is_none());
    }
}
