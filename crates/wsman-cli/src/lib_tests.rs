//! Unit tests of the shared command-line pieces.
use super::*;

#[test]
fn error_numbers_like_windows() {
    assert_eq!(
        error_number(2150858770),
        "Error number:  -2144108526 0x80338012"
    );
    assert_eq!(error_number(5), "Error number:  -2147024891 0x80070005");
    assert_eq!(
        error_number(2147942402),
        "Error number:  -2147024894 0x80070002"
    );
}

#[test]
fn connection_switches_and_aliases() {
    let mut s = ConnectionSwitches::default();
    for (n, v) in [
        ("R", Some("https://h:5986")),
        ("username", Some("admin")),
        ("p", Some("")),
        ("a", Some("BASIC")),
        ("un", None),
        ("SkipCAcheck", None),
        ("skipcncheck", None),
        ("timeout", Some("3000")),
    ] {
        assert_eq!(s.apply(n, v), Ok(true), "{n}");
    }
    assert_eq!(s.apply("directory", Some("x")), Ok(false));
    assert_eq!(s.remote.as_deref(), Some("https://h:5986"));
    assert_eq!(s.password.as_deref(), Some(""));
    assert_eq!(s.auth, Some(AuthChoice::Basic));
    assert!(s.unencrypted && s.skip_ca_check && s.skip_cn_check);
    assert_eq!(s.timeout_ms, Some(3000));
    assert!(s.check().is_ok());
    for (n, v) in [
        ("r", None),
        ("a", Some("digest")),
        ("spn", Some("FOO")),
        ("a", Some("x")),
        ("usessl", Some("yes")),
        ("timeout", Some("0")),
    ] {
        assert!(s.apply(n, v).is_err(), "{n}:{v:?}");
    }
    let lone_password = ConnectionSwitches {
        password: Some("x".to_owned()),
        ..ConnectionSwitches::default()
    };
    assert!(lone_password.check().is_err());
}

fn settings() -> ClientSettings {
    ClientSettings {
        allow_unencrypted: true,
        trusted_hosts: "*".to_owned(),
        certs_dir: None,
    }
}

#[test]
fn client_options_never_prompt_when_the_password_is_given() {
    let s = ConnectionSwitches {
        username: Some("u".to_owned()),
        password: Some("pw".to_owned()),
        auth: Some(AuthChoice::Basic),
        unencrypted: true,
        ..ConnectionSwitches::default()
    };
    let o = s
        .client_options("t/1", &settings(), |_| panic!("prompted"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(o.allow_unencrypted);
    assert_eq!(o.trusted_hosts.as_deref(), Some("*"));
    assert!(matches!(o.auth, Auth::Basic(_)));
    let asked = ConnectionSwitches {
        username: Some("u".to_owned()),
        ..ConnectionSwitches::default()
    };
    let o = asked
        .client_options("t/1", &settings(), |user| Ok(format!("{user}-secret")))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(o.auth, Auth::Negotiate(_)));
}

#[test]
fn windows_defaults_and_client_settings() {
    // -u: without -a: is Negotiate, encrypted.
    let s = ConnectionSwitches {
        username: Some("u".to_owned()),
        password: Some("pw".to_owned()),
        ..ConnectionSwitches::default()
    };
    assert_eq!(s.effective_auth(), AuthChoice::Negotiate);
    match s
        .client_options("t", &settings(), |_| panic!())
        .unwrap_or_else(|e| panic!("{e}"))
        .auth
    {
        Auth::Negotiate(n) => assert!(n.encrypt),
        other => panic!("{other:?}"),
    }
    // -unencrypted needs Client/AllowUnencrypted.
    let unencrypted = ConnectionSwitches {
        unencrypted: true,
        ..s.clone()
    };
    let refused = ClientSettings::default();
    let e = unencrypted
        .client_options("t", &refused, |_| panic!())
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("Unencrypted traffic is currently disabled"),
        "{e}"
    );
    match unencrypted
        .client_options("t", &settings(), |_| panic!())
        .unwrap_or_else(|e| panic!("{e}"))
        .auth
    {
        Auth::Negotiate(n) => assert!(!n.encrypt),
        other => panic!("{other:?}"),
    }
    // -a: values and -certificate: combinations.
    let mut c = ConnectionSwitches::default();
    assert_eq!(c.apply("a", Some("Default")), Ok(true));
    assert_eq!(c.auth, Some(AuthChoice::Negotiate));
    assert_eq!(c.apply("a", Some("certificate")), Ok(true));
    assert!(c.check().is_err(), "certificate without -certificate:");
    assert_eq!(c.apply("certificate", Some("AB12")), Ok(true));
    assert!(c.check().is_ok());
    c.username = Some("u".to_owned());
    assert!(c.check().is_err(), "certificate with -u:");
    let implied = ConnectionSwitches {
        certificate: Some("x.pem".to_owned()),
        ..ConnectionSwitches::default()
    };
    assert_eq!(implied.effective_auth(), AuthChoice::Certificate);
}

#[test]
fn credssp_switch_needs_a_user_and_delegates_its_password() {
    let mut s = ConnectionSwitches::default();
    assert_eq!(s.apply("a", Some("CredSSP")), Ok(true));
    assert_eq!(s.auth, Some(AuthChoice::CredSsp));
    assert!(s.check().is_err(), "-a:CredSSP without -u:");
    s.apply("u", Some("svc")).unwrap();
    s.apply("p", Some("pw")).unwrap();
    s.apply("un", None).unwrap();
    let options = s
        .client_options("test", &settings(), |_| panic!("no prompt"))
        .unwrap();
    match options.auth {
        Auth::CredSsp(credssp) => {
            assert_eq!(credssp.credentials.user(), "svc");
            assert!(!credssp.encrypt, "-unencrypted");
            assert!(credssp.public_key_binding);
        }
        other => panic!("{other:?}"),
    }
    assert!(ConnectionSwitches::default()
        .apply("a", Some("digest"))
        .is_err());
}

#[test]
fn client_errors_have_one_kind_each() {
    assert_eq!(
        failure_kind(&ClientError::Unauthorized { offered: vec![] }),
        FailureKind::Unauthorized
    );
    assert_eq!(
        failure_kind(&ClientError::Timeout { millis: 1 }),
        FailureKind::Connection
    );
    assert_eq!(
        failure_kind(&ClientError::Http { status: 503 }),
        FailureKind::Connection
    );
}
