//! What the pipeline reads of a request's headers and bytes: its media type, its charset,
//! its compression, and the envelope parsed from it.

use hyper::header::{HeaderMap, HOST};
use wsman_proto::charset::{self, DecodeError, Encoding};
use wsman_proto::xml::Limits;
use wsman_proto::Request;

use crate::error::ServiceError;

pub(super) fn decode_and_parse(
    bytes: &[u8],
    content_type: &str,
) -> Result<(Request, Encoding), ServiceError> {
    let charset = declared_charset(content_type);
    // The common case, UTF-8 without a BOM, is parsed in place; everything else (and any
    // invalid input, for its error) goes through `charset::decode`.
    if plain_utf8(bytes, charset) {
        if let Ok(text) = std::str::from_utf8(bytes) {
            let request = wsman_proto::parse_request(text, &Limits::default())?;
            return Ok((request, Encoding::Utf8));
        }
    }
    parse_text(charset::decode(bytes, charset))
}

/// The envelope parsed from a body's text, or the error of its decoding.
pub(super) fn parse_text(
    decoded: Result<(String, Encoding), DecodeError>,
) -> Result<(Request, Encoding), ServiceError> {
    let (text, encoding) = decoded?;
    let request = wsman_proto::parse_request(&text, &Limits::default())?;
    Ok((request, encoding))
}

/// The charset a body of `content_type` declares (its byte-order mark may still override it).
pub(super) fn declared_charset(content_type: &str) -> Option<&str> {
    if is_common_soap_type(content_type) {
        Some(COMMON_SOAP_CHARSET)
    } else {
        charset::charset_param(content_type)
    }
}

/// True when `charset::decode` would read `bytes` as UTF-8 as they are: no byte-order mark,
/// and no charset parameter or a UTF-8 one.
pub(super) fn plain_utf8(bytes: &[u8], charset: Option<&str>) -> bool {
    let bom = bytes.starts_with(&[0xEF, 0xBB, 0xBF])
        || bytes.starts_with(&[0xFF, 0xFE])
        || bytes.starts_with(&[0xFE, 0xFF]);
    !bom && charset
        .is_none_or(|c| c.eq_ignore_ascii_case("utf-8") || c.eq_ignore_ascii_case("utf8"))
}

/// `Content-Encoding: SLDC` (compared without case).
pub(super) fn is_sldc(headers: &HeaderMap) -> bool {
    headers
        .get(hyper::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("SLDC"))
}

pub(super) fn wants_anonymous_identify(headers: &HeaderMap) -> bool {
    headers
        .get("WSMANIDENTIFY")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("unauthenticated"))
}

/// The Content-Type nearly every client sends (Windows, pywinrm, pypsrp): recognised by one
/// compare, it is SOAP, not sealed, and UTF-8, which is what the general readers below find
/// in it, each at a cost on every request.
pub(super) const COMMON_SOAP_TYPE: &str = "application/soap+xml;charset=UTF-8";
/// The charset of [`COMMON_SOAP_TYPE`].
const COMMON_SOAP_CHARSET: &str = "UTF-8";

pub(super) fn is_common_soap_type(content_type: &str) -> bool {
    // Byte for byte first, as those clients send it: a `memcmp`, not a case fold per byte.
    content_type == COMMON_SOAP_TYPE || content_type.eq_ignore_ascii_case(COMMON_SOAP_TYPE)
}

/// `application/soap+xml` with any parameters, case-insensitive.
pub fn is_soap_media_type(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/soap+xml"))
}

pub(super) fn host_header(headers: &HeaderMap) -> Option<String> {
    headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types() {
        assert!(is_soap_media_type("application/soap+xml;charset=UTF-8"));
        assert!(is_soap_media_type("Application/SOAP+XML ; charset=utf-16"));
        assert!(is_soap_media_type("application/soap+xml"));
        assert!(!is_soap_media_type("text/xml"));
        assert!(!is_soap_media_type(""));
        assert!(!is_soap_media_type(
            "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\""
        ));
    }

    #[test]
    fn the_common_type_reads_as_the_general_readers_read_it() {
        for content_type in [
            COMMON_SOAP_TYPE,
            "Application/SOAP+XML;Charset=utf-8",
            "APPLICATION/SOAP+XML;CHARSET=UTF-8",
        ] {
            assert!(is_common_soap_type(content_type));
            assert!(is_soap_media_type(content_type));
            assert!(!wsman_auth::sealing::is_sealed_content_type(content_type));
            let charset = charset::charset_param(content_type).unwrap();
            assert!(charset.eq_ignore_ascii_case(COMMON_SOAP_CHARSET));
        }
        for other in [
            "application/soap+xml; charset=UTF-8",
            "application/soap+xml;charset=UTF-16",
            "application/soap+xml",
            "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\"",
            "",
        ] {
            assert!(!is_common_soap_type(other), "{other}");
        }
    }

    #[test]
    fn utf8_is_parsed_in_place_and_everything_else_is_decoded() {
        let identify = wsman_proto::identify::request();
        let (request, encoding) =
            decode_and_parse(identify.as_bytes(), "application/soap+xml;charset=UTF-8").unwrap();
        assert!(request.is_identify());
        assert_eq!(encoding, Encoding::Utf8);
        let (request, encoding) =
            decode_and_parse(identify.as_bytes(), "application/soap+xml").unwrap();
        assert!(request.is_identify());
        assert_eq!(encoding, Encoding::Utf8);

        let mut with_bom = vec![0xEF, 0xBB, 0xBF];
        with_bom.extend_from_slice(identify.as_bytes());
        assert!(!plain_utf8(&with_bom, Some("utf-8")));
        let (request, _) = decode_and_parse(&with_bom, "application/soap+xml").unwrap();
        assert!(request.is_identify());

        let utf16 = charset::encode(&identify, Encoding::Utf16Le);
        assert!(!plain_utf8(&utf16, None));
        let (request, encoding) =
            decode_and_parse(&utf16, "application/soap+xml;charset=UTF-16").unwrap();
        assert!(request.is_identify());
        assert_eq!(encoding, Encoding::Utf16Le);

        // Invalid UTF-8 still fails as charset::decode says.
        let mut broken = identify.clone().into_bytes();
        broken.insert(40, 0xFF);
        assert!(decode_and_parse(&broken, "application/soap+xml;charset=UTF-8").is_err());
        assert!(!plain_utf8(b"x", Some("iso-8859-1")));
    }
}
