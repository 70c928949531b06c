use super::*;
use wsman_proto::xml::Limits;

#[test]
fn shell_errors_map_to_the_windows_faults() {
    let cases = [
        (
            ShellError::RemoteShellAccessDisabled,
            "w:InternalError",
            2150859180u32,
        ),
        (
            ShellError::TooManyShells {
                user: "u".into(),
                limit: 1,
            },
            "w:QuotaLimit",
            2150859173,
        ),
        (
            ShellError::ShellDisconnected {
                shell_id: "X".into(),
            },
            "w:InternalError",
            2150859204,
        ),
        (
            ShellError::ShellConnected {
                shell_id: "X".into(),
            },
            "w:InternalError",
            2150859213,
        ),
        (
            ShellError::NotShellOwner {
                shell_id: "X".into(),
            },
            "w:AccessDenied",
            5,
        ),
        (
            ShellError::TooManyUsers { limit: 1 },
            "w:QuotaLimit",
            2150859179,
        ),
        (
            ShellError::TooManyOperations {
                user: "u".into(),
                limit: 1,
            },
            "w:QuotaLimit",
            2150859174,
        ),
        (
            ShellError::UnknownShell {
                shell_id: "X".into(),
            },
            "w:InvalidSelectors",
            2150858843,
        ),
        (
            ShellError::UnknownCommand {
                shell_id: "X".into(),
                command_id: "Y".into(),
            },
            "w:InvalidSelectors",
            2150858843,
        ),
        (
            ShellError::CommandAlreadyDone {
                command_id: "Y".into(),
            },
            "w:InvalidSelectors",
            2150858843,
        ),
        (
            ShellError::InputAlreadyEnded {
                command_id: "Y".into(),
            },
            "w:InvalidParameter",
            87,
        ),
        (
            ShellError::RunAsNotPermitted {
                uid: 1,
                daemon_uid: 2,
            },
            "w:AccessDenied",
            5,
        ),
        (
            ShellError::CommandNotFound {
                program: "p".into(),
            },
            "w:InternalError",
            2147942402,
        ),
    ];
    for (error, subcode, code) in cases {
        let text = error.to_string();
        let fault = shell_fault(error);
        assert_eq!(
            fault.subcode.map(|s| s.qname()).as_deref(),
            Some(subcode),
            "{text}"
        );
        assert_eq!(fault.wsman_code, code, "{text}");
        let (status, _) = ServiceError::fault(fault, None).status_and_fault();
        assert_eq!(status.as_u16(), 500);
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
    let soap11 = "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body/></s:Envelope>";
    let e =
        ServiceError::from(wsman_proto::parse_request(soap11, &Limits::default()).unwrap_err());
    assert_eq!(e.status_and_fault().0.as_u16(), 500);
    let no_action = "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\"><s:Header><a:MessageID>uuid:AbC</a:MessageID></s:Header><s:Body/></s:Envelope>";
    match ServiceError::from(
        wsman_proto::parse_request(no_action, &Limits::default()).unwrap_err(),
    ) {
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
