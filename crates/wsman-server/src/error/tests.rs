//! The errors table's rows: for each variant of each domain error, the fault it must become
//! (SOAP code, subcode, `w:FaultDetail`, Windows' numeric code, HTTP status) and, in a comment
//! or by reading it, where that expectation comes from: a Windows recording (the copied
//! fixtures under `wsman-proto/tests/fixtures/windows/faults/`) or the protocol reference's
//! section (MS-WSMV, DSP0226, `wsmerror.h`). Expected numbers are written out, not taken
//! from `wsman_proto::fault::code`, so a wrong constant fails here.

use super::*;
use wsman_proto::xml::Limits;

/// A fault as a row expects it: SOAP code, subcode, detail suffix, `f:WSManFault/@Code`.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Expected {
    code: &'static str,
    subcode: String,
    detail: Option<String>,
    wsman_code: u32,
}

pub(super) fn want(
    code: &'static str,
    subcode: &str,
    detail: Option<&str>,
    wsman_code: u32,
) -> Expected {
    Expected {
        code,
        subcode: subcode.to_owned(),
        detail: detail.map(str::to_owned),
        wsman_code,
    }
}

/// The fault Windows sent in a recording of `wsman-proto/tests/fixtures/windows/faults/`:
/// its code and subcode values, the `w:FaultDetail` suffix, and `f:WSManFault/@Code` (or,
/// for a WMI-shaped fault, the HRESULT its `MSFT_WmiError` names). Every recording there came
/// back with HTTP 500 (the fixtures' README).
pub(super) fn recorded(name: &str) -> Expected {
    let path = format!(
        "{}/../wsman-proto/tests/fixtures/windows/faults/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let xml = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut values = xml.split("<s:Value>").skip(1).map(|v| {
        v.split("</s:Value>")
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned()
    });
    let code = match values.next().as_deref() {
        Some("s:Sender") => "s:Sender",
        Some("s:Receiver") => "s:Receiver",
        other => panic!("{name}: code {other:?}"),
    };
    let subcode = values.next().unwrap_or_default();
    let detail = xml
        .split("/wsman/faultDetail/")
        .nth(1)
        .and_then(|d| d.split('<').next())
        .map(str::to_owned);
    let wsman_code = match xml.split("Code=\"").nth(1) {
        Some(rest) => rest.split('"').next().unwrap_or_default().parse(),
        None => {
            let hex = xml.split("HRESULT 0x").nth(1).unwrap_or_default();
            u32::from_str_radix(hex.split('<').next().unwrap_or_default(), 16)
        }
    }
    .unwrap_or_else(|e| panic!("{name}: numeric code: {e}"));
    want(code, &subcode, detail.as_deref(), wsman_code)
}

/// The row's fault as the server sends it, and its HTTP status (every fault 500, as Windows;
/// reference §1.3, §5.1).
pub(super) fn check(row: &str, fault: Fault, expected: &Expected) {
    let got = Expected {
        code: fault.code.qname(),
        subcode: fault.subcode.map(|s| s.qname()).unwrap_or_default(),
        detail: fault.detail.map(str::to_owned),
        wsman_code: fault.wsman_code,
    };
    assert_eq!(&got, expected, "{row}");
    let error = ServiceError::fault(fault, None);
    let (status, carried) = error.status_and_fault();
    assert_eq!(status.as_u16(), 500, "{row}");
    assert!(carried.is_some(), "{row}");
}

/// `w:InvalidParameter` as the Shell cmd plugin sends it: code 87, detail `InvalidValue`.
pub(super) fn invalid_parameter() -> Expected {
    recorded("fault.invalid-parameter.xml")
}

/// `w:InternalError` with E_FAIL, the generic server failure (reference §5.2, §5.3).
pub(super) fn internal_error() -> Expected {
    want("s:Receiver", "w:InternalError", None, 2147500037)
}

/// `w:AccessDenied`, ERROR_ACCESS_DENIED (reference §5.2, §5.3).
pub(super) fn access_denied() -> Expected {
    want("s:Sender", "w:AccessDenied", None, 5)
}

fn shell() -> String {
    "2D6534D0-6B12-40E3-B773-CBA26459CFA8".to_owned()
}

/// The rows of a shell or command refused before it runs: access, quotas, ids.
fn shell_admission_rows() -> Vec<(ShellError, Expected)> {
    vec![
        // Reference §4.10 (AllowRemoteShellAccess=false), code from wsmerror.h.
        (
            ShellError::RemoteShellAccessDisabled,
            want("s:Receiver", "w:InternalError", None, 2150859180),
        ),
        // Recording: a Create past MaxShellsPerUser (its MSFT_WmiError names 0x803381A5).
        (
            ShellError::TooManyShells {
                user: "u".into(),
                limit: 30,
            },
            recorded("fault.quota-max-shells-per-user.xml"),
        ),
        // Reference §4.10 (MaxConcurrentUsers); QuotaLimit is s:Sender per DSP0226.
        (
            ShellError::TooManyUsers { limit: 1 },
            want("s:Sender", "w:QuotaLimit", None, 2150859179),
        ),
        // Reference §4.10 (MaxConcurrentOperationsPerUser; observed in masterzen/winrm#129).
        (
            ShellError::TooManyOperations {
                user: "u".into(),
                limit: 1500,
            },
            want("s:Sender", "w:QuotaLimit", None, 2150859174),
        ),
        // Reference §5.2, §5.3: ERROR_ACCESS_DENIED.
        (
            ShellError::RunAsNotPermitted {
                uid: 1000,
                daemon_uid: 999,
            },
            access_denied(),
        ),
        // Reference §4.2, §5.3: WINRS_SHELL_CLIENTID_NOT_VALID.
        (
            ShellError::InvalidShellId { value: "x".into() },
            want(
                "s:Sender",
                "w:InvalidParameter",
                Some("InvalidValue"),
                2150859221,
            ),
        ),
        // Reference §4.2, §5.3: WINRS_SHELL_CLIENTID_RESOURCE_CONFLICT.
        (
            ShellError::ShellIdInUse { shell_id: shell() },
            want("s:Sender", "w:AlreadyExists", None, 2150859223),
        ),
        // Reference §4.3, §5.3: WINRS_SHELLCOMMAND_CLIENTID_NOT_VALID.
        (
            ShellError::InvalidCommandId { value: "x".into() },
            want(
                "s:Sender",
                "w:InvalidParameter",
                Some("InvalidValue"),
                2150859220,
            ),
        ),
        // Reference §4.3, §5.3: WINRS_SHELLCOMMAND_CLIENTID_RESOURCE_CONFLICT.
        (
            ShellError::CommandIdInUse {
                command_id: shell(),
            },
            want("s:Sender", "w:AlreadyExists", None, 2150859222),
        ),
        // Recording: a Get on a shell already closed.
        (
            ShellError::UnknownShell { shell_id: shell() },
            recorded("fault.invalid-shellid.xml"),
        ),
        // Recording: a Receive for a CommandId that does not exist.
        (
            ShellError::UnknownCommand {
                shell_id: shell(),
                command_id: shell(),
            },
            recorded("fault.invalid-commandid.xml"),
        ),
    ]
}

/// The rows of a request on a shell or command, or of a command that cannot run.
fn shell_operation_rows() -> Vec<(ShellError, Expected)> {
    vec![
        // Recording: the Shell cmd plugin's parameter fault (87, InvalidValue).
        (
            ShellError::UnknownInputStream {
                stream: "bogus".into(),
            },
            invalid_parameter(),
        ),
        // Recording: as above.
        (
            ShellError::UnknownOutputStream {
                stream: "bogus".into(),
            },
            invalid_parameter(),
        ),
        // Reference §4.10: the generic quota, ERROR_WSMAN_QUOTA_LIMIT (no Windows
        // counterpart: Windows has no bound on one Send's data).
        (
            ShellError::InputTooLarge { bytes: 2, limit: 1 },
            want("s:Sender", "w:QuotaLimit", None, 2150858815),
        ),
        // Recording: the Shell cmd plugin's parameter fault.
        (
            ShellError::InputAlreadyEnded {
                command_id: shell(),
            },
            invalid_parameter(),
        ),
        // Recording: the command is over, as an unknown CommandId (fixtures' README).
        (
            ShellError::CommandAlreadyDone {
                command_id: shell(),
            },
            recorded("fault.invalid-commandid.xml"),
        ),
        // Recording: the Shell cmd plugin's parameter fault.
        (
            ShellError::InvalidEnvironment { name: "A=B".into() },
            invalid_parameter(),
        ),
        // Recording: as above.
        (
            ShellError::InvalidCommandLine { reason: "is empty" },
            invalid_parameter(),
        ),
        // Recording: as above.
        (
            ShellError::InvalidOption { reason: "bad" },
            invalid_parameter(),
        ),
        // Reference §5.1: a provider's HRESULT in InternalError, 0x8007010B (the directory
        // name is invalid); no recording.
        (
            ShellError::WorkingDirectory {
                path: "/nonexistent".into(),
            },
            want("s:Receiver", "w:InternalError", None, 2147942667),
        ),
        // Recording: WINRS_SKIP_CMD_SHELL with a program that does not exist.
        (
            ShellError::CommandNotFound {
                program: "nope".into(),
            },
            recorded("fault.command-not-found.xml"),
        ),
        // Reference §5.2: the generic server failure.
        (
            ShellError::Spawn {
                source: std::io::Error::other("clone").into(),
            },
            internal_error(),
        ),
        // Reference §5.2: the generic server failure.
        (
            ShellError::Stdin {
                source: std::io::Error::other("pipe"),
            },
            internal_error(),
        ),
        // Reference §4.9, §5.3: WINRS_SHELL_DISCONNECTED.
        (
            ShellError::ShellDisconnected { shell_id: shell() },
            want("s:Receiver", "w:InternalError", None, 2150859204),
        ),
        // Reference §4.9, §5.3: WINRS_SHELL_CONNECTED_TO_DIFFERENT_CLIENT.
        (
            ShellError::ShellConnected { shell_id: shell() },
            want("s:Receiver", "w:InternalError", None, 2150859213),
        ),
        // Reference §5.2, §5.3: ERROR_ACCESS_DENIED.
        (
            ShellError::NotShellOwner { shell_id: shell() },
            access_denied(),
        ),
        // Reference §5.2: the generic server failure.
        (ShellError::ShuttingDown, internal_error()),
        // Reference §5.2: the generic server failure.
        (ShellError::NoRuntime, internal_error()),
    ]
}

#[test]
fn shell_errors_map_to_the_windows_faults() {
    for (error, expected) in shell_admission_rows()
        .into_iter()
        .chain(shell_operation_rows())
    {
        let row = format!("{error:?}");
        check(&row, shell_fault(error), &expected);
    }
}

#[test]
fn subscribe_errors_map_to_the_eventing_faults() {
    let bad_bookmark = wsman_events::bookmark::BookmarkList::parse("<").unwrap_err();
    let bad_query = wsman_events::XPath::parse("*[").unwrap_err();
    let rows = [
        // Reference §5.2, §5.3: a malformed eventing request, e:InvalidMessage.
        (
            SubscribeError::NotSubscribe,
            want("s:Sender", "e:InvalidMessage", None, 2150858789),
        ),
        // Reference §3.8: unsupported mode.
        (
            SubscribeError::DeliveryModeUnavailable("x".into()),
            want(
                "s:Sender",
                "e:DeliveryModeRequestedUnavailable",
                None,
                2150858782,
            ),
        ),
        // Reference §3.8: unsupported filter dialect.
        (
            SubscribeError::FilterDialectUnavailable("x".into()),
            want(
                "s:Sender",
                "e:FilteringRequestedUnavailable",
                None,
                2150858786,
            ),
        ),
        // Reference §5.2 (w:CannotProcessFilter); the number Windows sends for a filter it
        // cannot process, recorded for an Enumerate (fault.enumerate-class-not-found.xml).
        (
            SubscribeError::CannotProcessFilter(bad_query),
            want("s:Sender", "w:CannotProcessFilter", None, 2150858778),
        ),
        // Reference §3.8: bad expiry.
        (
            SubscribeError::InvalidExpirationTime("x".into()),
            want("s:Sender", "e:InvalidExpirationTime", None, 2150858783),
        ),
        // Reference §3.8, §5.2: w:InvalidBookmark, detail Invalid (a bookmark we cannot
        // read; Expired is for one too old).
        (
            SubscribeError::InvalidBookmark(bad_bookmark),
            want("s:Sender", "w:InvalidBookmark", Some("Invalid"), 2150858808),
        ),
        // Recording: the parameter fault (87, InvalidValue).
        (
            SubscribeError::InvalidValue {
                element: "w:MaxElements",
                value: "x".into(),
            },
            invalid_parameter(),
        ),
        // Reference §5.2: a malformed eventing request, e:InvalidMessage.
        (
            SubscribeError::NotifyToMissing("Push"),
            want("s:Sender", "e:InvalidMessage", None, 2150858789),
        ),
    ];
    for (error, expected) in rows {
        let row = format!("{error:?}");
        check(&row, subscribe_fault(error), &expected);
    }
}

#[test]
fn source_errors_map_to_the_eventing_faults() {
    let export = wsman_events::ExportError::NameTooLong(64);
    let rows = [
        // Reference §5.2, §5.3: ERROR_ACCESS_DENIED.
        (
            SourceError::AccessDenied("x".into()),
            NamedBy::Identifier,
            access_denied(),
        ),
        // Reference §4.10: the generic quota, ERROR_WSMAN_QUOTA_LIMIT.
        (
            SourceError::TooManySubscriptions("x".into()),
            NamedBy::Identifier,
            want("s:Sender", "w:QuotaLimit", None, 2150858815),
        ),
        // Reference §3.8: unsupported mode.
        (
            SourceError::DeliveryModeUnavailable("Push"),
            NamedBy::Identifier,
            want(
                "s:Sender",
                "e:DeliveryModeRequestedUnavailable",
                None,
                2150858782,
            ),
        ),
        // Reference §5.2: w:UnsupportedFeature, detail AuthorizationMode.
        (
            SourceError::Subscriber("no credentials".into()),
            NamedBy::Identifier,
            want(
                "s:Sender",
                "w:UnsupportedFeature",
                Some("AuthorizationMode"),
                2150858818,
            ),
        ),
        // Reference §5.2 (e:EventSourceUnableToProcess, s:Receiver) with winerror.h's
        // ERROR_EVT_CHANNEL_NOT_FOUND; Windows' own fault for it is not recorded.
        (
            SourceError::UnknownChannel("x".into()),
            NamedBy::Identifier,
            want("s:Receiver", "e:EventSourceUnableToProcess", None, 15007),
        ),
        // Reference §3.8: bad expiry.
        (
            SourceError::AlreadyExpired,
            NamedBy::Identifier,
            want("s:Sender", "e:InvalidExpirationTime", None, 2150858783),
        ),
        // Reference §5.2: an internal failure (the pull maps it with its envelope size).
        (
            SourceError::EventTooLarge(1),
            NamedBy::Context,
            internal_error(),
        ),
        // Reference §5.2: an unknown or expired context, n:InvalidEnumerationContext.
        (
            SourceError::UnknownSubscription,
            NamedBy::Context,
            want(
                "s:Receiver",
                "n:InvalidEnumerationContext",
                None,
                2150858779,
            ),
        ),
        // Reference §3.8, §5.2: a subscription named by identifier that does not exist.
        (
            SourceError::UnknownSubscription,
            NamedBy::Identifier,
            want("s:Sender", "e:InvalidMessage", None, 2150858789),
        ),
        // Reference §5.2: e:UnableToRenew.
        (
            SourceError::UnableToRenew,
            NamedBy::Identifier,
            want("s:Receiver", "e:UnableToRenew", None, 2150858788),
        ),
        // Recording: the OperationTimeout fault (w:TimedOut 2150858793).
        (
            SourceError::TimedOut,
            NamedBy::Context,
            recorded("fault.receive-timeout.xml"),
        ),
        // Reference §5.2: the generic server failure.
        (
            SourceError::Journal(export.into()),
            NamedBy::Context,
            internal_error(),
        ),
    ];
    for (error, named, expected) in rows {
        let row = format!("{error:?} ({named:?})");
        check(&row, source_fault(error, named), &expected);
    }
}

#[test]
fn powershell_shell_refusals_map_to_their_faults() {
    let quota = want("s:Sender", "w:QuotaLimit", None, 2150858815);
    let rows = [
        // Reference §4.10: MaxConcurrentOperationsPerUser (masterzen/winrm#129).
        (
            "operations quota",
            operations_quota_fault(1500),
            want("s:Sender", "w:QuotaLimit", None, 2150859174),
        ),
        // Reference §4.10: the generic quota; Windows' code unknown (windows-quirks.md).
        ("pipelines quota", pipelines_quota_fault(8), quota),
        // Reference §5.2: the generic server failure.
        ("pwsh failed", pwsh_broken_fault("exited"), internal_error()),
        // Reference §4.10: the generic quota.
        (
            "input quota",
            psrp_input_quota_fault(1),
            want("s:Sender", "w:QuotaLimit", None, 2150858815),
        ),
    ];
    for (row, fault, expected) in rows {
        check(row, fault, &expected);
    }
}

#[test]
fn psrp_input_errors_map_to_the_parameter_fault() {
    use wsman_proto::shell::psrp_input::InputError as I;
    let rows = [
        // Recording: the parameter fault (87, InvalidValue) for data the client sent that
        // cannot be used; Windows' own answer to cut PSRP fragments is not recorded.
        I::NotWhole {
            declared: 21,
            held: 3,
        },
        // Recording: as above.
        I::TooLong(1 << 30),
        // Recording: as above.
        I::OutOfOrder {
            object_id: 1,
            fragment_id: 2,
            expected: "fragment 0".into(),
        },
    ];
    for error in rows {
        let row = format!("{error:?}");
        check(&row, psrp_input_fault(&error), &invalid_parameter());
    }
}

#[test]
fn xpress_errors_map_to_their_faults() {
    use XpressError as X;
    let quota = || want("s:Sender", "w:QuotaLimit", None, 2150858815);
    let rows = [
        // Recording: the parameter fault (data the client sent that cannot be used).
        (X::Truncated, invalid_parameter()),
        (
            X::Expanded {
                original: 1,
                compressed: 2,
            },
            invalid_parameter(),
        ),
        // Reference §4.10: the generic quota, as any Send past the shell's input queue.
        (X::TooLarge { limit: 1 }, quota()),
        (X::BadTable, invalid_parameter()),
        (X::BadDistance { distance: 1 }, invalid_parameter()),
        (X::Overrun { expected: 1 }, invalid_parameter()),
        (X::BadLength, invalid_parameter()),
    ];
    for (error, expected) in rows {
        let row = format!("{error:?}");
        check(&row, xpress_fault(error, 1), &expected);
    }
}

#[test]
fn http_only_errors_have_no_fault() {
    let cases = [
        (ServiceError::BadRequest { reason: "x".into() }, 400),
        (ServiceError::Unauthorized, 401),
        (ServiceError::NotFound, 404),
        (ServiceError::MethodNotAllowed, 405),
        (ServiceError::BodyTimeout { seconds: 1 }, 408),
        (ServiceError::PayloadTooLarge { limit: 1 }, 413),
        (ServiceError::UnsupportedMediaType, 415),
        (ServiceError::Unavailable, 503),
    ];
    for (e, code) in cases {
        let (status, fault) = e.status_and_fault();
        assert_eq!(status.as_u16(), code, "{e}");
        assert!(fault.is_none(), "{e}");
    }
}

#[test]
fn every_fault_is_500() {
    for f in [
        Fault::access_denied(),
        Fault::destination_unreachable("x"),
        Fault::action_not_supported("y"),
        Fault::invalid_enumeration_context(),
        Fault::timed_out(),
        Fault::schema_validation_error("z"),
    ] {
        let e = ServiceError::fault(f, Some("uuid:1"));
        let (status, fault) = e.status_and_fault();
        assert_eq!(status.as_u16(), 500);
        assert!(fault.is_some());
    }
}

#[test]
fn parse_errors_map_to_400_or_fault_with_message_id() {
    let not_xml = wsman_proto::parse_request("<<<", &Limits::default()).unwrap_err();
    assert_eq!(
        ServiceError::from(not_xml).status_and_fault().0.as_u16(),
        400
    );
    let soap11 =
        "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body/></s:Envelope>";
    let e = ServiceError::from(wsman_proto::parse_request(soap11, &Limits::default()).unwrap_err());
    assert_eq!(e.status_and_fault().0.as_u16(), 500);
    let no_action = "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\"><s:Header><a:MessageID>uuid:AbC</a:MessageID></s:Header><s:Body/></s:Envelope>";
    match ServiceError::from(wsman_proto::parse_request(no_action, &Limits::default()).unwrap_err())
    {
        ServiceError::Fault { relates_to, .. } => {
            assert_eq!(relates_to.as_deref(), Some("uuid:AbC"))
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn decode_errors() {
    let bad = wsman_proto::charset::decode(&[0xC3], None).unwrap_err();
    assert_eq!(ServiceError::from(bad).status_and_fault().0.as_u16(), 400);
    let charset = wsman_proto::charset::decode(b"x", Some("latin1")).unwrap_err();
    assert_eq!(
        ServiceError::from(charset).status_and_fault().0.as_u16(),
        500
    );
}

#[test]
fn closing_errors() {
    assert!(ServiceError::PayloadTooLarge { limit: 1 }.closes_connection());
    assert!(!ServiceError::Unauthorized.closes_connection());
}
