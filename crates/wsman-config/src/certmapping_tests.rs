use super::*;

#[test]
fn patterns_follow_ms_wsmv() {
    assert!(pattern_matches("*", "anything"));
    assert!(pattern_matches("*", ""));
    assert!(pattern_matches("*@example.com", "alice@EXAMPLE.com"));
    assert!(!pattern_matches("*@example.com", "alice@example.org"));
    assert!(pattern_matches("alice*", "Alice@example.com"));
    assert!(!pattern_matches("alice*", "bob@example.com"));
    assert!(pattern_matches("user@example", "USER@example"));
    assert!(!pattern_matches("user@example", "user@example.com"));
    // A star in the middle is literal (such patterns are refused on the way in anyway).
    assert!(!pattern_matches("a*b", "axb"));
    assert!(!pattern_matches("*long-suffix", "fix"));
}

#[test]
fn subject_and_uri_rules() {
    for ok in ["*", "*.example.com", "user@example", "alice*"] {
        assert!(check_subject(ok).is_ok(), "{ok}");
    }
    for bad in ["", "a*b", "**", "*a*", "a\nb"] {
        assert!(check_subject(bad).is_err(), "{bad:?}");
    }
    for ok in [
        "*",
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/*",
    ] {
        assert!(check_uri(ok).is_ok(), "{ok}");
    }
    for bad in ["", "*x", "a b", "http://x?y", "a**"] {
        assert!(check_uri(bad).is_err(), "{bad:?}");
    }
    assert!(check_uri(&"u".repeat(MAX_TEXT + 1)).is_err());
    assert!(check_user_name("wsmanuser").is_ok());
    for bad in ["", "a b", "a:b", "../x"] {
        assert!(check_user_name(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn mapping_matches_names_and_uris() {
    let m = CertMapping::new(
        "ab".repeat(20),
        "*@example",
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell*",
        "wsmanuser",
    );
    assert_eq!(m.issuer, "AB".repeat(20));
    assert!(m.subject_matches(["CN=x", "user@example"]));
    assert!(!m.subject_matches(["user@example.org"]));
    assert!(!m.subject_matches([]));
    // The server matches a mapping's URI with `pattern_matches`, as here.
    let shell = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd";
    assert!(pattern_matches(&m.uri, shell));
    assert!(!pattern_matches(
        &m.uri,
        "http://schemas.microsoft.com/wbem/wsman/1/config"
    ));
    assert!(m.same_keys(&"ab".repeat(20), "*@EXAMPLE", &m.uri.to_ascii_uppercase()));
}
