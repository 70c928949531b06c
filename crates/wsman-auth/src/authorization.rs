//! Reading an `Authorization` header value into the scheme it names: Basic (parsed by
//! [`crate::basic`]), the token schemes (`Negotiate`, `NTLM`, `Kerberos`, `CredSSP`: base64
//! tokens, decoded here) and the client-certificate profile URI. Bounded and total: any input
//! gives a value or an error, never a panic (fuzzed as `auth_header`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::basic::{parse_basic_authorization, BasicError, Credentials, MAX_AUTHORIZATION_LEN};

/// The client-certificate profile, sent as the whole Authorization value.
pub const MUTUAL_PROFILE: &str = wsman_proto::ns::secprofile::HTTPS_MUTUAL;

/// A scheme carrying a GSS/SSPI token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenScheme {
    /// `Negotiate`: SPNEGO, raw NTLMSSP or raw Kerberos.
    Negotiate,
    /// `NTLM`: raw NTLMSSP (Windows never offers it; requests_ntlm uses it if offered).
    Ntlm,
    /// `Kerberos`: a raw Kerberos GSS token.
    Kerberos,
    /// `CredSSP`: TLS records.
    CredSsp,
}

impl TokenScheme {
    /// The scheme name as the server echoes it in `WWW-Authenticate`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Negotiate => "Negotiate",
            Self::Ntlm => "NTLM",
            Self::Kerberos => "Kerberos",
            Self::CredSsp => "CredSSP",
        }
    }
}

/// What an Authorization header says.
#[derive(Debug)]
#[non_exhaustive]
pub enum Authorization {
    Basic(Credentials),
    Token { scheme: TokenScheme, token: Vec<u8> },
    ClientCertificate,
}

/// Why an Authorization value was not understood. Never carries the value itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorizationError {
    #[error("Authorization header longer than {MAX_AUTHORIZATION_LEN} bytes")]
    TooLong,
    #[error("unknown authentication scheme")]
    UnknownScheme,
    #[error("{0} token missing")]
    MissingToken(&'static str),
    #[error("{0} token is not valid base64")]
    BadToken(&'static str),
    #[error(transparent)]
    Basic(#[from] BasicError),
}

/// Parses one Authorization value (scheme names are case-insensitive).
pub fn parse_authorization(value: &[u8]) -> Result<Authorization, AuthorizationError> {
    if value.len() > MAX_AUTHORIZATION_LEN {
        return Err(AuthorizationError::TooLong);
    }
    let value = value.trim_ascii();
    if value.eq_ignore_ascii_case(MUTUAL_PROFILE.as_bytes()) {
        return Ok(Authorization::ClientCertificate);
    }
    let (scheme, rest) = split_scheme(value);
    match named_token_scheme(scheme) {
        Some(scheme) => {
            if rest.is_empty() {
                return Err(AuthorizationError::MissingToken(scheme.name()));
            }
            let token = STANDARD
                .decode(rest)
                .map_err(|_| AuthorizationError::BadToken(scheme.name()))?;
            if token.is_empty() {
                return Err(AuthorizationError::MissingToken(scheme.name()));
            }
            Ok(Authorization::Token { scheme, token })
        }
        None if scheme.eq_ignore_ascii_case(b"Basic") => {
            Ok(Authorization::Basic(parse_basic_authorization(value)?))
        }
        None => Err(AuthorizationError::UnknownScheme),
    }
}

/// The token scheme an Authorization value names, read from its scheme word alone (no
/// decoding, no allocation). `None` means [`parse_authorization`] cannot return
/// [`Authorization::Token`] for this value, so a caller that only wants tokens can stop here:
/// every kept-alive Basic request asks this before its cached compare.
pub fn token_scheme(value: &[u8]) -> Option<TokenScheme> {
    if value.len() > MAX_AUTHORIZATION_LEN {
        return None;
    }
    named_token_scheme(split_scheme(value.trim_ascii()).0)
}

/// `(scheme, rest)` of a trimmed value: the scheme ends at the first space.
fn split_scheme(value: &[u8]) -> (&[u8], &[u8]) {
    match value.iter().position(|b| *b == b' ') {
        Some(at) => (&value[..at], value[at + 1..].trim_ascii()),
        None => (value, &[][..]),
    }
}

fn named_token_scheme(scheme: &[u8]) -> Option<TokenScheme> {
    [
        TokenScheme::Negotiate,
        TokenScheme::Ntlm,
        TokenScheme::Kerberos,
        TokenScheme::CredSsp,
    ]
    .into_iter()
    .find(|s| scheme.eq_ignore_ascii_case(s.name().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_are_recognised() {
        assert!(matches!(
            parse_authorization(b"Basic YWxpY2U6cHc="),
            Ok(Authorization::Basic(c)) if c.user == "alice"
        ));
        assert!(matches!(
            parse_authorization(b"negotiate TlRMTVNTUAAB"),
            Ok(Authorization::Token { scheme: TokenScheme::Negotiate, token })
                if token == b"NTLMSSP\0\x01"
        ));
        assert!(matches!(
            parse_authorization(b"NTLM TlRMTVNTUAAB"),
            Ok(Authorization::Token {
                scheme: TokenScheme::Ntlm,
                ..
            })
        ));
        assert!(matches!(
            parse_authorization(b"Kerberos YII="),
            Ok(Authorization::Token {
                scheme: TokenScheme::Kerberos,
                ..
            })
        ));
        assert!(matches!(
            parse_authorization(MUTUAL_PROFILE.as_bytes()),
            Ok(Authorization::ClientCertificate)
        ));
    }

    #[test]
    fn malformed_values_are_refused() {
        let error = |value: &[u8]| parse_authorization(value).unwrap_err();
        assert_eq!(
            error(b"Negotiate"),
            AuthorizationError::MissingToken("Negotiate")
        );
        assert_eq!(
            error(b"Negotiate ***"),
            AuthorizationError::BadToken("Negotiate")
        );
        assert_eq!(error(b"Digest x"), AuthorizationError::UnknownScheme);
        assert_eq!(error(b""), AuthorizationError::UnknownScheme);
        let long = vec![b'A'; MAX_AUTHORIZATION_LEN + 1];
        assert_eq!(error(&long), AuthorizationError::TooLong);
        assert!(parse_authorization(b"Basic !!").is_err());
    }

    /// The kept-alive Basic path skips [`parse_authorization`] when [`token_scheme`] says
    /// no token scheme is named: that must never hide a value the full parse reads as a token.
    fn agrees_with_the_full_parse(value: &[u8]) {
        match parse_authorization(value) {
            Ok(Authorization::Token { scheme, .. }) => {
                assert_eq!(token_scheme(value), Some(scheme), "{value:?}");
            }
            Err(AuthorizationError::MissingToken(name) | AuthorizationError::BadToken(name)) => {
                assert_eq!(token_scheme(value).map(TokenScheme::name), Some(name));
            }
            _ => assert_eq!(token_scheme(value), None, "{value:?}"),
        }
    }

    #[test]
    fn token_scheme_names_what_the_full_parse_finds() {
        for value in [
            &b"Basic YWxpY2U6cHc="[..],
            b"  negotiate TlRMTVNTUAAB ",
            b"NTLM",
            b"Kerberos ***",
            b"credssp FgMBAA==",
            b"Negotiate\tTlRM",
            b"NegotiateX abc",
            MUTUAL_PROFILE.as_bytes(),
            b"",
        ] {
            agrees_with_the_full_parse(value);
        }
        let mut long = b"Negotiate ".to_vec();
        long.resize(MAX_AUTHORIZATION_LEN + 1, b'A');
        agrees_with_the_full_parse(&long);
    }

    proptest::proptest! {
        #[test]
        fn token_scheme_agrees_on_any_value(
            scheme in proptest::sample::select(vec![
                "Basic", "basic", "Negotiate", "NEGOTIATE", "NTLM", "ntlm", "Kerberos",
                "CredSSP", "credssp", "Digest", "Negotiat", "",
            ]),
            lead in "[ \t]{0,2}",
            gap in "[ \t]{0,3}",
            rest in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
        ) {
            let mut value = lead.into_bytes();
            value.extend_from_slice(scheme.as_bytes());
            value.extend_from_slice(gap.as_bytes());
            value.extend_from_slice(&rest);
            agrees_with_the_full_parse(&value);
        }
    }
}
