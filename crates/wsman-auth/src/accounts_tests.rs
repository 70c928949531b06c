use super::*;

#[test]
fn account_name_rules() {
    for good in ["a", "deploy", "svc-01", "_x", "a.b_c-d", "9lives"] {
        assert!(validate_account_name(good).is_ok(), "{good}");
    }
    let too_long = "a".repeat(MAX_ACCOUNT_NAME_LEN + 1);
    for bad in [
        "",
        "-x",
        ".x",
        "a b",
        r"DOM\a",
        "a@realm",
        "a:b",
        "a\nb",
        "é",
        too_long.as_str(),
    ] {
        assert!(
            matches!(
                validate_account_name(bad),
                Err(AccountError::InvalidName { .. })
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn dummy_hash_uses_current_parameters() {
    let parsed = PasswordHash::new(DUMMY_PASSWORD_HASH).unwrap();
    assert_eq!(parsed.algorithm.as_str(), "argon2id");
    let params = Params::try_from(&parsed).unwrap();
    assert_eq!(params.m_cost(), ARGON2_M_COST_KIB);
    assert_eq!(params.t_cost(), ARGON2_T_COST);
    assert_eq!(params.p_cost(), ARGON2_P_COST);
    let real = hash_password("anything").unwrap();
    assert_eq!(real.len(), DUMMY_PASSWORD_HASH.len());
}

proptest::proptest! {
    #[test]
    fn name_validation_never_panics_and_accepts_only_the_charset(name in "\\PC{0,40}") {
        if validate_account_name(&name).is_ok() {
            proptest::prop_assert!(!name.is_empty() && name.len() <= MAX_ACCOUNT_NAME_LEN);
            proptest::prop_assert!(name
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-')));
        }
    }
}

/// NT hashes are as good as passwords to NTLM: the stored form must wipe itself when dropped,
/// as `ntlm::NtHash` does (this does not compile if the field goes back to a plain `String`).
#[test]
fn stored_nt_hashes_wipe_themselves_on_drop() {
    fn wipes_on_drop<T: zeroize::ZeroizeOnDrop>(_: &T) {}
    let account = StoredAccount {
        name: "svc".to_owned(),
        password_hash: String::new(),
        run_as: None,
        nt_hash: Some(nt_hash_hex("Secret-1")),
    };
    let stored = account.nt_hash.as_ref().unwrap();
    wipes_on_drop(stored);
    assert_eq!(stored.as_str().len(), 32);
    assert!(!format!("{account:?}").contains(stored.as_str()));
}
