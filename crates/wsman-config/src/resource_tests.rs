//! The config store's errors table: a row per `ConfigError` variant and the step it failed at,
//! with the fault expected and where that expectation comes from.

use super::*;
use crate::ConfigError;
use wsman_proto::fault::code;

fn io() -> ConfigError {
    ConfigError::Io {
        path: "/etc/wsmand/wsmand.toml".into(),
        source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
    }
}

fn parse() -> ConfigError {
    ConfigError::Parse {
        path: "/etc/wsmand/wsmand.toml".into(),
        line: 3,
        message: "unknown key".into(),
    }
}

/// (what, fault, code, subcode, detail, WSManFault code). Windows keeps its configuration in
/// the registry and no recording shows a failed read or write of it, so every row is the
/// MS-WSMV/DSP0226 generic server failure: `s:Receiver` / `w:InternalError` (reference §5.2,
/// DSP0226 Table 11), numeric code E_FAIL as Windows reports an unspecified provider error
/// (reference §5.3). The message names the file, so the operator learns what to repair.
#[test]
fn config_errors_map_to_internal_error() {
    let rows: [(&str, Fault); 4] = [
        // No recording: the generic failure, reference §5.2 (DSP0226 Table 11).
        ("Io, read before a change", unreadable_fault(io())),
        // No recording: as above.
        ("Parse, read before a change", unreadable_fault(parse())),
        // No recording: as above.
        ("Io, save", save_fault(io())),
        // No recording: as above.
        ("Parse, save", save_fault(parse())),
    ];
    for (what, fault) in rows {
        assert_eq!(fault.code.qname(), "s:Receiver", "{what}");
        assert_eq!(
            fault.subcode.map(|s| s.qname()).as_deref(),
            Some("w:InternalError"),
            "{what}"
        );
        assert_eq!(fault.detail, None, "{what}");
        assert_eq!(fault.wsman_code, code::INTERNAL_ERROR_E_FAIL, "{what}");
        assert!(
            fault.message.contains("wsmand.toml"),
            "{what}: {}",
            fault.message
        );
    }
}

/// A selector value the rules refuse (a certificate mapping's Issuer, Subject or URI):
/// `w:InvalidSelectors` with detail `InvalidValue` and ERROR_WSMAN_INVALID_SELECTOR_VALUE,
/// as MS-WSMV's selector faults (reference §5.2, §5.3; no recording of this one).
#[test]
fn a_refused_selector_value_is_invalid_selectors() {
    let fault = invalid_selector_value("Subject \"a*b\" is not a pattern");
    assert_eq!(fault.code.qname(), "s:Sender");
    assert_eq!(
        fault.subcode.map(|s| s.qname()).as_deref(),
        Some("w:InvalidSelectors")
    );
    assert_eq!(fault.detail, Some("InvalidValue"));
    assert_eq!(fault.wsman_code, 2150858845);
}

fn row(fault: &Fault) -> (String, Option<String>, Option<&'static str>, u32) {
    (
        fault.code.qname().to_owned(),
        fault.subcode.map(|s| s.qname()),
        fault.detail,
        fault.wsman_code,
    )
}

/// The listener's selectors as any refused selector value (above); its certificate, the
/// generic failure (reference §5.2); a mapping's missing issuer, `w:InvalidParameter` with
/// ERROR_WSMAN_CERT_NOT_FOUND (2150858882, `wsmerror.h`).
#[test]
fn listener_and_certificate_errors_map_to_their_faults() {
    let address = "no:such:address"
        .parse::<crate::ListenerAddress>()
        .expect_err("bad");
    let transport = "FTP".parse::<crate::Transport>().expect_err("neither");
    let selector = (
        "s:Sender".to_owned(),
        Some("w:InvalidSelectors".to_owned()),
        Some("InvalidValue"),
        2150858845,
    );
    assert_eq!(row(&listener_selector_fault(address)), selector);
    assert_eq!(row(&listener_selector_fault(transport)), selector);
    let generate = CertError::Generate {
        hostname: "h".into(),
        reason: "no key".into(),
    };
    let made = certificate_fault(generate);
    assert_eq!(row(&made).1.as_deref(), Some("w:InternalError"));
    assert!(made.message.contains("no key"), "{}", made.message);
    let missing = CertError::NotFound {
        dir: "/certs".into(),
        thumbprint: "ab".into(),
    };
    let path = std::path::Path::new("/certs/ab.pem");
    let issuer = issuer_fault(missing, "ab", path);
    assert_eq!(row(&issuer).1.as_deref(), Some("w:InvalidParameter"));
    assert_eq!(issuer.wsman_code, 2150858882);
    assert!(
        issuer.message.contains("/certs/ab.pem"),
        "{}",
        issuer.message
    );
}

/// A plug-in's Security entry that breaks the body's schema: `w:SchemaValidationError`
/// (ERROR_WSMAN_SCHEMA_VALIDATION_ERROR, 2150858817), saying which entry.
#[test]
fn plugin_security_errors_are_schema_validation_errors() {
    let sddl = plugin_sddl_fault(SddlError::Empty);
    let wmi = wmi_sddl_fault(WmiSddlError::TooMany);
    for (fault, says) in [(sddl, "the Security entry"), (wmi, "a Security entry")] {
        assert_eq!(
            row(&fault),
            (
                "s:Sender".to_owned(),
                Some("w:SchemaValidationError".to_owned()),
                None,
                2150858817
            )
        );
        assert!(fault.message.contains(says), "{}", fault.message);
    }
}
