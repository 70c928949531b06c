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
