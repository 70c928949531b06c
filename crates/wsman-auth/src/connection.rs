//! Per-TCP-connection authentication cache: Basic is verified once per
//! connection, and later requests on the same connection only compare
//! their `Authorization` value with the verified one.

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::authenticator::Identity;

/// The `Authorization` value verified on this connection and the identity
/// it proved. The stored value contains the password (base64 is not
/// encryption), so it is wiped when the connection ends and never printed.
pub struct ConnectionAuth {
    verified_header: Zeroizing<Vec<u8>>,
    identity: Identity,
}

impl ConnectionAuth {
    /// Records that `authorization` (the raw header value) proved `identity`.
    pub fn new(authorization: &[u8], identity: Identity) -> Self {
        Self {
            verified_header: Zeroizing::new(authorization.to_vec()),
            identity,
        }
    }

    /// The identity, if `authorization` is byte-for-byte the verified
    /// value. The comparison is constant-time in the content (a length
    /// mismatch returns early, which reveals only the length).
    pub fn matches(&self, authorization: &[u8]) -> Option<&Identity> {
        let verified = self.verified_header.as_slice();
        if verified.len() != authorization.len() {
            return None;
        }
        // Every byte pair is looked at, whatever the earlier ones were: their differences are
        // ORed together without a branch (the way of subtle's slice compare, which also hides
        // each byte from the optimiser at some 20 instructions a byte, on every request of a
        // kept-alive connection), and only the result is compared, by subtle.
        let difference = verified
            .iter()
            .zip(authorization)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        let equal: bool = difference.ct_eq(&0).into();
        equal.then_some(&self.identity)
    }

    /// The identity this connection proved.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }
}

impl std::fmt::Debug for ConnectionAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionAuth")
            .field("verified_header", &"<redacted>")
            .field("identity", &self.identity)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn matches_exactly_the_verified_bytes(
            verified in proptest::collection::vec(any::<u8>(), 0..64),
            presented in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let auth = ConnectionAuth::new(&verified, Identity::linux_user("u"));
            prop_assert!(auth.matches(&verified).is_some());
            prop_assert_eq!(auth.matches(&presented).is_some(), presented == verified);
        }
    }

    fn cache() -> ConnectionAuth {
        ConnectionAuth::new(b"Basic YWxpY2U6cHc=", Identity::linux_user("alice"))
    }

    #[test]
    fn same_header_matches() {
        let auth = cache();
        assert_eq!(
            auth.matches(b"Basic YWxpY2U6cHc="),
            Some(&Identity::linux_user("alice"))
        );
        assert_eq!(auth.identity().name, "alice");
    }

    #[test]
    fn different_header_does_not_match() {
        let auth = cache();
        assert_eq!(auth.matches(b"Basic YWxpY2U6cHg="), None);
        assert_eq!(auth.matches(b"Basic YWxpY2U6cHc"), None);
        assert_eq!(auth.matches(b"basic YWxpY2U6cHc="), None);
        assert_eq!(auth.matches(b""), None);
    }

    #[test]
    fn debug_redacts_header() {
        let printed = format!("{:?}", cache());
        assert!(!printed.contains("YWxpY2U6cHc"));
        assert!(printed.contains("alice"));
    }
}
