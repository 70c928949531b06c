//! The one place that maps every error to its HTTP status and SOAP fault.
//!
//! | Error                                   | Status | Body |
//! |-----------------------------------------|--------|------|
//! | not XML, undecodable bytes, bad framing | 400    | none |
//! | a delivery the collector refuses        | 400    | `w:DeliveryRefused` fault, the reason |
//! | missing/failed authentication           | 401    | none (+ challenges) |
//! | path not served                         | 404    | none |
//! | method other than POST                  | 405    | none |
//! | body not received in time               | 408    | none |
//! | body over MaxEnvelopeSizekb             | 413    | none |
//! | Content-Type present and not SOAP       | 415    | none |
//! | over MaxConnections                     | 503    | none |
//! | every SOAP fault (Sender and Receiver)  | 500    | fault envelope |
//!
//! Windows sends every fault with 500 and clients (pywinrm, pypsrp) only parse faults on
//! non-2xx, non-401 answers (reference §1.3), so there is deliberately no per-fault status.

use hyper::StatusCode;
use wsman_proto::charset::DecodeError;
use wsman_proto::fault::SelectorProblem;
use wsman_proto::{Fault, RequestError};
use wsman_shell::ShellError;

/// Why a request did not produce a normal answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// Undecodable or malformed input that has no fault form.
    #[error("bad request: {reason}")]
    BadRequest { reason: String },
    /// No or wrong credentials; answered with challenges.
    #[error("unauthorized")]
    Unauthorized,
    #[error("path not served")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("request body not received within {seconds} s")]
    BodyTimeout { seconds: u64 },
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    #[error("unsupported content type")]
    UnsupportedMediaType,
    #[error("too many connections")]
    Unavailable,
    /// A delivery the event collector refuses once read (a forged `Computer`, a stale
    /// version): 400, as Windows' collector answers a delivery it cannot take, with a fault
    /// saying why, so the forwarder can tell its operator rather than only "400".
    #[error("delivery refused: {fault}")]
    DeliveryRefused {
        fault: Box<Fault>,
        relates_to: Option<String>,
    },
    /// A SOAP fault, with the request MessageID it relates to when one was read.
    #[error("fault: {fault}")]
    Fault {
        fault: Box<Fault>,
        relates_to: Option<String>,
    },
}

impl ServiceError {
    /// A fault relating to the given request MessageID.
    pub fn fault(fault: Fault, relates_to: Option<&str>) -> Self {
        Self::Fault {
            fault: Box::new(fault),
            relates_to: relates_to.map(str::to_owned),
        }
    }

    /// The HTTP status and the fault (if the answer carries one).
    pub fn status_and_fault(&self) -> (StatusCode, Option<&Fault>) {
        match self {
            Self::BadRequest { .. } => (StatusCode::BAD_REQUEST, None),
            Self::DeliveryRefused { fault, .. } => (StatusCode::BAD_REQUEST, Some(fault)),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, None),
            Self::NotFound => (StatusCode::NOT_FOUND, None),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, None),
            Self::BodyTimeout { .. } => (StatusCode::REQUEST_TIMEOUT, None),
            Self::PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, None),
            Self::UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, None),
            Self::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, None),
            Self::Fault { fault, .. } => (StatusCode::INTERNAL_SERVER_ERROR, Some(fault)),
        }
    }

    /// Whether the connection must be closed after this answer (the body was not consumed,
    /// or the client is too slow to keep).
    pub fn closes_connection(&self) -> bool {
        matches!(
            self,
            Self::PayloadTooLarge { .. } | Self::BodyTimeout { .. } | Self::Unavailable
        )
    }
}

impl From<RequestError> for ServiceError {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::NotXml(x) => Self::BadRequest {
                reason: x.to_string(),
            },
            RequestError::Fault { fault, message_id } => Self::Fault {
                fault,
                relates_to: message_id,
            },
            other => Self::BadRequest {
                reason: other.to_string(),
            },
        }
    }
}

impl From<DecodeError> for ServiceError {
    fn from(e: DecodeError) -> Self {
        match e.fault() {
            Some(f) => Self::fault(f, None),
            None => Self::BadRequest {
                reason: e.to_string(),
            },
        }
    }
}

/// Windows' numeric codes for WinRS faults (reference §4.10, §5.3).
pub mod winrs_code {
    pub const QUOTA_MAX_SHELLS: u32 = 2150859173;
    pub const QUOTA_MAX_OPERATIONS: u32 = 2150859174;
    pub const QUOTA_MAX_SHELLUSERS: u32 = 2150859179;
    pub const REMOTESHELLS_NOT_ALLOWED: u32 = 2150859180;
    pub const SHELLCOMMAND_CLIENTID_NOT_VALID: u32 = 2150859220;
    pub const SHELL_CLIENTID_NOT_VALID: u32 = 2150859221;
    pub const SHELLCOMMAND_CLIENTID_RESOURCE_CONFLICT: u32 = 2150859222;
    pub const SHELL_CLIENTID_RESOURCE_CONFLICT: u32 = 2150859223;
    /// ERROR_WINRS_SHELL_DISCONNECTED.
    pub const SHELL_DISCONNECTED: u32 = 2150859204;
    /// ERROR_WINRS_SHELL_CONNECTED_TO_DIFFERENT_CLIENT.
    pub const SHELL_CONNECTED_TO_DIFFERENT_CLIENT: u32 = 2150859213;
    /// HRESULT 0x80070002: the file was not found.
    pub const FILE_NOT_FOUND: u32 = 2147942402;
    /// HRESULT 0x8007010B: the directory name is invalid.
    pub const DIRECTORY_INVALID: u32 = 2147942667;
}

/// Windows' fault past MaxConcurrentOperationsPerUser: shell commands and open enumerations
/// both count as a user's operations.
pub fn operations_quota_fault(limit: impl std::fmt::Display) -> Fault {
    Fault::quota_limit(
        winrs_code::QUOTA_MAX_OPERATIONS,
        format!("The WS-Management service cannot process the request. This user is allowed a maximum number of {limit} concurrent operations, which has been exceeded. Close existing operations for this user, or raise the quota for this user. "),
    )
}

/// The Windows fault for a failed shell operation (each [`ShellError`] variant documents the
/// fault it stands for). Sent with HTTP 500 like every fault.
pub fn shell_fault(error: ShellError) -> Fault {
    use winrs_code as c;
    match &error {
        ShellError::RemoteShellAccessDisabled => Fault::internal_error(
            "The WS-Management service cannot process the request. The service is configured to not accept any remote shell requests. ",
        )
        .with_code(c::REMOTESHELLS_NOT_ALLOWED),
        ShellError::TooManyShells { limit, .. } => Fault::quota_limit(
            c::QUOTA_MAX_SHELLS,
            format!("The WS-Management service cannot process the request. This user is allowed a maximum number of {limit} concurrent shells, which has been exceeded. Close existing shells or raise the quota for this user. "),
        ),
        ShellError::TooManyUsers { limit } => Fault::quota_limit(
            c::QUOTA_MAX_SHELLUSERS,
            format!("The WS-Management service cannot process the request. The maximum number of users concurrently performing remote operations on this system ({limit}) has been exceeded. Retry the request later or raise the quota. "),
        ),
        ShellError::TooManyOperations { limit, .. } => operations_quota_fault(*limit),
        ShellError::InputTooLarge { .. } => Fault::quota_limit(
            wsman_proto::fault::code::QUOTA_LIMIT,
            format!("The WS-Management service cannot process the request: {error}. Send the input in smaller parts. "),
        ),
        ShellError::RunAsNotPermitted { .. } => Fault::access_denied(),
        ShellError::InvalidShellId { .. } => {
            Fault::invalid_parameter(error.to_string()).with_code(c::SHELL_CLIENTID_NOT_VALID)
        }
        ShellError::ShellIdInUse { .. } => Fault::already_exists()
            .with_code(c::SHELL_CLIENTID_RESOURCE_CONFLICT)
            .with_message(error.to_string()),
        ShellError::InvalidCommandId { .. } => Fault::invalid_parameter(error.to_string())
            .with_code(c::SHELLCOMMAND_CLIENTID_NOT_VALID),
        ShellError::CommandIdInUse { .. } => Fault::already_exists()
            .with_code(c::SHELLCOMMAND_CLIENTID_RESOURCE_CONFLICT)
            .with_message(error.to_string()),
        ShellError::UnknownShell { shell_id } => Fault::invalid_selectors(
            SelectorProblem::Unexpected,
            format!("The request for the Windows Remote Shell with ShellId {shell_id} failed because the shell was not found on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists on the server. Provide the correct ShellId or create a new shell and retry the operation. "),
        ),
        ShellError::UnknownCommand { .. } | ShellError::CommandAlreadyDone { .. } => {
            Fault::invalid_selectors(
                SelectorProblem::Unexpected,
                "The Windows Remote Shell received a request to perform an operation on a command identifier that does not exist. Either the command has completed execution or the client specified an invalid command identifier. ",
            )
        }
        ShellError::UnknownInputStream { .. }
        | ShellError::UnknownOutputStream { .. }
        | ShellError::InputAlreadyEnded { .. }
        | ShellError::InvalidEnvironment { .. }
        | ShellError::InvalidCommandLine { .. }
        | ShellError::InvalidOption { .. } => Fault::invalid_parameter(format!("{error}. ")),
        ShellError::WorkingDirectory { .. } => {
            Fault::internal_error("The directory name is invalid. ").with_code(c::DIRECTORY_INVALID)
        }
        ShellError::ShellDisconnected { shell_id } => Fault::internal_error(format!(
            "The WinRS shell {shell_id} is disconnected. Reconnect or connect to it before sending it other requests. "
        ))
        .with_code(c::SHELL_DISCONNECTED),
        ShellError::ShellConnected { shell_id } => Fault::internal_error(format!(
            "The WinRS shell {shell_id} is connected to a different client. "
        ))
        .with_code(c::SHELL_CONNECTED_TO_DIFFERENT_CLIENT),
        ShellError::NotShellOwner { .. } => Fault::access_denied(),
        ShellError::CommandNotFound { .. } => {
            Fault::internal_error("The system cannot find the file specified. ")
                .with_code(c::FILE_NOT_FOUND)
        }
        _ => {
            tracing::error!(%error, "shell operation failed");
            Fault::internal_error(format!("{error}. "))
        }
    }
}

#[cfg(test)]
mod tests {
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
}
