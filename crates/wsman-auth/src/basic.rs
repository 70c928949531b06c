//! Parsing of HTTP Basic `Authorization` values (RFC 7617).
//!
//! The value comes straight off the network, so the parser is bounded (see
//! [`MAX_AUTHORIZATION_LEN`]), never panics, and keeps the password in a
//! zeroizing buffer that is never printed.

use std::fmt;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use zeroize::Zeroizing;

/// Longest `Authorization` value we look at. Real Basic values are well under
/// 1 KiB; 8 KiB leaves room for long domain names and passphrases while
/// keeping the decode buffer small.
pub const MAX_AUTHORIZATION_LEN: usize = 8 * 1024;

/// Standard base64 that accepts the token with or without `=` padding:
/// RFC 7617 clients pad, but being lenient here costs nothing.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A user name and password taken from a Basic `Authorization` value.
///
/// `user` is kept exactly as the client sent it (`DOMAIN\user`,
/// `user@realm` or `user`); [`Credentials::bare_user`] gives the name
/// without a domain qualifier. `Debug` never shows the password.
#[derive(Clone)]
pub struct Credentials {
    /// The user name as sent by the client.
    pub user: String,
    /// The password; wiped from memory when dropped.
    pub password: Zeroizing<String>,
}

/// Why an `Authorization` value is not usable Basic credentials.
///
/// Every variant means the same thing on the wire (401 with a challenge);
/// the variants exist so the log says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BasicError {
    /// The value names another scheme (Negotiate, Kerberos, ...).
    #[error("authorization scheme is not Basic")]
    NotBasic,
    /// The value is longer than [`MAX_AUTHORIZATION_LEN`].
    #[error("authorization value is {len} bytes, more than the {max} allowed")]
    TooLong {
        /// Length of the value received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The token after `Basic` is not valid base64.
    #[error("Basic credentials are not valid base64")]
    InvalidBase64,
    /// The decoded bytes are not UTF-8.
    #[error("Basic credentials are not UTF-8")]
    InvalidUtf8,
    /// The decoded text has no `:` between user and password.
    #[error("Basic credentials have no ':' separator")]
    MissingSeparator,
    /// The user name is empty.
    #[error("Basic credentials have an empty user name")]
    EmptyUser,
    /// The user name contains control characters (including NUL), which
    /// no account name may hold and which would corrupt logs.
    #[error("Basic user name contains control characters")]
    ControlCharacterInUser,
}

impl Credentials {
    /// Builds credentials from parts (used by clients and tests).
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            password: Zeroizing::new(password.into()),
        }
    }

    /// The user name without a `DOMAIN\` prefix or `@realm` suffix: the
    /// name a local Linux account or service account would have.
    pub fn bare_user(&self) -> &str {
        bare_linux_name(&self.user)
    }

    /// Encodes these credentials as an `Authorization` value
    /// (`Basic <base64(user:password)>`), for clients.
    pub fn to_authorization_value(&self) -> Zeroizing<String> {
        let mut joined = Zeroizing::new(String::with_capacity(
            self.user.len() + 1 + self.password.len(),
        ));
        joined.push_str(&self.user);
        joined.push(':');
        joined.push_str(&self.password);
        let mut value = Zeroizing::new(String::from("Basic "));
        STANDARD.encode_string(joined.as_bytes(), &mut value);
        value
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_redacted(f, "Credentials", &self.user)
    }
}

/// The `Debug` of a user name and its password, server's or client's: the password never
/// shows.
pub(crate) fn debug_redacted(f: &mut fmt::Formatter<'_>, name: &str, user: &str) -> fmt::Result {
    f.debug_struct(name)
        .field("user", &user)
        .field("password", &"<redacted>")
        .finish()
}

/// Strips a Windows-style `DOMAIN\` prefix and a Kerberos-style `@realm`
/// suffix: `HOST\alice`, `.\alice` and `alice@EXAMPLE.COM` all give `alice`.
///
/// If stripping would leave nothing (`DOMAIN\`, `@realm`), the name is
/// returned unchanged so that it simply fails to match any account.
pub fn bare_linux_name(user: &str) -> &str {
    let without_domain = match user.rfind('\\') {
        Some(index) => &user[index + 1..],
        None => user,
    };
    let without_realm = match without_domain.find('@') {
        Some(index) => &without_domain[..index],
        None => without_domain,
    };
    if without_realm.is_empty() {
        user
    } else {
        without_realm
    }
}

/// Parses an `Authorization` header value of the form
/// `Basic <base64(user:password)>`.
///
/// The scheme name is case-insensitive and surrounding whitespace is
/// ignored. The password is everything after the first `:`, so it may
/// itself contain `:`. An empty password is accepted here; whether it can
/// log in is up to the account backend.
pub fn parse_basic_authorization(value: &[u8]) -> Result<Credentials, BasicError> {
    if value.len() > MAX_AUTHORIZATION_LEN {
        return Err(BasicError::TooLong {
            len: value.len(),
            max: MAX_AUTHORIZATION_LEN,
        });
    }
    let value = value.trim_ascii();
    let scheme_end = value
        .iter()
        .position(|byte| byte.is_ascii_whitespace())
        .unwrap_or(value.len());
    let (scheme, token) = value.split_at(scheme_end);
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return Err(BasicError::NotBasic);
    }
    let token = token.trim_ascii();
    let decoded = Zeroizing::new(
        LENIENT_BASE64
            .decode(token)
            .map_err(|_| BasicError::InvalidBase64)?,
    );
    let text = std::str::from_utf8(&decoded).map_err(|_| BasicError::InvalidUtf8)?;
    let (user, password) = text.split_once(':').ok_or(BasicError::MissingSeparator)?;
    if user.is_empty() {
        return Err(BasicError::EmptyUser);
    }
    if user.chars().any(char::is_control) {
        return Err(BasicError::ControlCharacterInUser);
    }
    Ok(Credentials::new(user, password))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn encode(text: &str) -> String {
        format!("Basic {}", STANDARD.encode(text))
    }

    #[test]
    fn parses_plain_credentials() {
        let creds = parse_basic_authorization(encode("alice:secret").as_bytes()).unwrap();
        assert_eq!(creds.user, "alice");
        assert_eq!(creds.password.as_str(), "secret");
    }

    #[test]
    fn scheme_is_case_insensitive_and_whitespace_tolerated() {
        let value = format!("  bAsIc \t {}  ", STANDARD.encode("bob:pw"));
        let creds = parse_basic_authorization(value.as_bytes()).unwrap();
        assert_eq!(creds.user, "bob");
        assert_eq!(creds.password.as_str(), "pw");
    }

    #[test]
    fn password_may_contain_colons_and_be_empty() {
        let creds = parse_basic_authorization(encode("u:a:b::c").as_bytes()).unwrap();
        assert_eq!(creds.password.as_str(), "a:b::c");
        let creds = parse_basic_authorization(encode("u:").as_bytes()).unwrap();
        assert_eq!(creds.password.as_str(), "");
    }

    #[test]
    fn keeps_domain_and_realm_but_offers_bare_name() {
        let creds = parse_basic_authorization(encode(r"HOST\alice:pw").as_bytes()).unwrap();
        assert_eq!(creds.user, r"HOST\alice");
        assert_eq!(creds.bare_user(), "alice");
        let creds = parse_basic_authorization(encode("alice@EXAMPLE.COM:pw").as_bytes()).unwrap();
        assert_eq!(creds.user, "alice@EXAMPLE.COM");
        assert_eq!(creds.bare_user(), "alice");
    }

    #[test]
    fn bare_name_edge_cases() {
        assert_eq!(bare_linux_name(r".\alice"), "alice");
        assert_eq!(bare_linux_name(r"A\B\alice"), "alice");
        assert_eq!(bare_linux_name("alice"), "alice");
        assert_eq!(bare_linux_name(r"DOMAIN\"), r"DOMAIN\");
        assert_eq!(bare_linux_name("@realm"), "@realm");
    }

    #[test]
    fn rejects_bad_values() {
        let cases: [(&[u8], BasicError); 8] = [
            (b"Negotiate YIIabc", BasicError::NotBasic),
            (b"", BasicError::NotBasic),
            (b"Basicdm06dw==", BasicError::NotBasic),
            (b"Basic !!!", BasicError::InvalidBase64),
            (b"Basic dXNlcg==", BasicError::MissingSeparator),
            (b"Basic OnB3", BasicError::EmptyUser),
            (b"Basic /zo=", BasicError::InvalidUtf8),
            (b"Basic YQBiOmM=", BasicError::ControlCharacterInUser),
        ];
        for (value, expected) in cases {
            assert_eq!(
                parse_basic_authorization(value).unwrap_err(),
                expected,
                "{value:?}"
            );
        }
    }

    #[test]
    fn padding_is_optional() {
        let creds = parse_basic_authorization(b"Basic YTpi").unwrap();
        assert_eq!((creds.user.as_str(), creds.password.as_str()), ("a", "b"));
        let creds = parse_basic_authorization(b"Basic YTpiYw").unwrap();
        assert_eq!(creds.password.as_str(), "bc");
        let creds = parse_basic_authorization(b"Basic YTpiYw==").unwrap();
        assert_eq!(creds.password.as_str(), "bc");
    }

    #[test]
    fn rejects_overlong_value_before_decoding() {
        let value = encode(&format!("u:{}", "x".repeat(MAX_AUTHORIZATION_LEN)));
        assert!(matches!(
            parse_basic_authorization(value.as_bytes()),
            Err(BasicError::TooLong { .. })
        ));
    }

    #[test]
    fn debug_redacts_password() {
        let creds = Credentials::new("alice", "hunter2");
        let printed = format!("{creds:?}");
        assert!(printed.contains("alice"));
        assert!(!printed.contains("hunter2"));
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(value in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_basic_authorization(&value);
        }

        #[test]
        fn never_panics_on_basic_prefixed_bytes(tail in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut value = b"Basic ".to_vec();
            value.extend_from_slice(&tail);
            let _ = parse_basic_authorization(&value);
        }

        #[test]
        fn bare_name_has_no_domain_or_realm(user in "\\PC{0,40}") {
            let bare = bare_linux_name(&user);
            prop_assert!(user.contains(bare));
            if bare != user {
                prop_assert!(!bare.contains('\\') && !bare.contains('@') && !bare.is_empty());
            }
        }

        #[test]
        fn round_trips(user in "[^:\\p{Cc}]{1,40}", password in "\\PC{0,40}") {
            let creds = Credentials::new(user.clone(), password.clone());
            let value = creds.to_authorization_value();
            let parsed = parse_basic_authorization(value.as_bytes()).unwrap();
            prop_assert_eq!(parsed.user, user);
            prop_assert_eq!(parsed.password.as_str(), password.as_str());
        }
    }
}
