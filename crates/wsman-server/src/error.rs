//! The one place that maps every error to its HTTP status and SOAP fault: the transport's
//! errors below, and each domain error the server answers (a shell's, the eventing core's,
//! the event source's, a PowerShell shell's, its Xpress data's, the event store's search, a
//! blocking task's, a deadline's, an access refusal) to its WS-Management fault: code,
//! subcode, Windows' numeric code, by one function per error type (these errors are other
//! crates' and so is `Fault`: the orphan rule forbids a `From` here). `error/tests.rs` and
//! `error/engine_tests.rs` hold a row per variant with the recording or MS-WSMV section its
//! expected fault comes from. The other tables (CONTRIBUTING.md, "Errors and faults") are
//! for errors below the server; the architecture test finds a fault built from an error
//! anywhere else.
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
use tokio::task::JoinError;
use tokio::time::error::Elapsed;
use wsman_collector::store::events::{FilterError, StoreQueryError};
use wsman_events::SubscribeError;
use wsman_eventsource::SourceError;
use wsman_os::UserError;
use wsman_proto::charset::DecodeError;
use wsman_proto::fault::{code, SelectorProblem};
use wsman_proto::shell::psrp_input::InputError;
use wsman_proto::xpress::XpressError;
use wsman_proto::{Fault, RequestError};
use wsman_shell::ShellError;

use crate::access::Denial;
use crate::enumeration::unfit::Unfit;

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

/// How a request named the subscription the source does not know, which decides its fault.
#[derive(Clone, Copy, Debug)]
pub enum NamedBy {
    /// By its EnumerationContext (Pull, Release): `n:InvalidEnumerationContext`.
    Context,
    /// By its identifier (Unsubscribe, GetStatus): `e:InvalidMessage`.
    Identifier,
}

/// The fault of each refusal of a Subscribe by the eventing core.
pub fn subscribe_fault(error: SubscribeError) -> Fault {
    match error {
        SubscribeError::NotSubscribe => {
            Fault::eventing_invalid_message("The body of the request is not an e:Subscribe. ")
        }
        SubscribeError::DeliveryModeUnavailable(mode) => Fault::delivery_mode_unavailable(&mode),
        SubscribeError::FilterDialectUnavailable(dialect) => {
            Fault::filtering_requested_unavailable(&dialect)
        }
        SubscribeError::CannotProcessFilter(e) => Fault::event_filter_unprocessable(format!(
            "The event query cannot be processed: {} (at byte {}). ",
            e.reason, e.position
        )),
        SubscribeError::InvalidExpirationTime(text) => {
            Fault::invalid_expiration_time(format!("The expiration time {text:?} is not valid. "))
        }
        SubscribeError::InvalidBookmark(e) => {
            Fault::invalid_bookmark(format!("The bookmark is not valid: {e}. "))
        }
        SubscribeError::InvalidValue { element, value } => {
            Fault::invalid_parameter(format!("The value {value:?} of {element} is not valid. "))
        }
        SubscribeError::NotifyToMissing(mode) => Fault::eventing_invalid_message(format!(
            "The delivery mode {mode} needs an e:NotifyTo. "
        )),
    }
}

/// The fault of each refusal of the event source; `named` says how the request named the
/// subscription, for [`SourceError::UnknownSubscription`].
pub fn source_fault(error: SourceError, named: NamedBy) -> Fault {
    match error {
        SourceError::AccessDenied(reason) => {
            tracing::warn!(%reason, "eventing request refused");
            Fault::access_denied()
        }
        SourceError::TooManySubscriptions(message) => {
            Fault::quota_limit(code::QUOTA_LIMIT, format!("{message}. "))
        }
        SourceError::DeliveryModeUnavailable(mode) => Fault::delivery_mode_unavailable(mode),
        SourceError::Subscriber(error) => {
            tracing::info!(%error, "Subscribe refused: the subscriber cannot be delivered to");
            Fault::unsupported_feature("AuthorizationMode", format!("{error}. "))
        }
        SourceError::UnknownChannel(channel) => Fault::event_source_unable_to_process(
            code::EVT_CHANNEL_NOT_FOUND,
            format!("The specified channel {channel:?} could not be found. "),
        ),
        SourceError::AlreadyExpired => {
            Fault::invalid_expiration_time("The subscription would already have expired. ")
        }
        SourceError::UnknownSubscription => match named {
            NamedBy::Context => Fault::invalid_enumeration_context(),
            NamedBy::Identifier => {
                Fault::eventing_invalid_message("The subscription does not exist or has ended. ")
            }
        },
        SourceError::UnableToRenew => Fault::unable_to_renew(),
        SourceError::TimedOut => Fault::timed_out(),
        // Only a pull reports it, and the pull maps it with its own envelope size.
        SourceError::EventTooLarge(size) => Fault::internal_error(format!(
            "An event of {size} bytes does not fit the response. "
        )),
        SourceError::Journal(error) => {
            tracing::error!(%error, "the journal could not be read");
            Fault::internal_error("The event log could not be read. ")
        }
        // A refusal added to the source later: refused, and logged so it gets its own fault.
        #[allow(unreachable_patterns)]
        other => {
            tracing::error!(error = %other, "unexpected event source refusal");
            Fault::internal_error("The event source could not process the request. ")
        }
    }
}

/// The fault of a Command on a PowerShell shell that has its most pipelines (Windows' code
/// for it is not recorded: see docs/windows-quirks.md).
pub fn pipelines_quota_fault(limit: usize) -> Fault {
    Fault::quota_limit(
        code::QUOTA_LIMIT,
        format!("The WS-Management service cannot process the request. This shell is allowed a maximum number of {limit} concurrent commands, which has been exceeded. Terminate existing commands or create a new shell. "),
    )
}

/// The fault of a request on a PowerShell shell whose pwsh failed.
pub fn pwsh_broken_fault(reason: &str) -> Fault {
    Fault::internal_error(format!(
        "The PowerShell host process of this shell failed: {reason}. Delete the shell. "
    ))
}

/// The fault of PSRP data that is not whole fragments in order (nothing of it reaches pwsh).
pub(crate) fn psrp_input_fault(error: &InputError) -> Fault {
    Fault::invalid_parameter(format!(
        "The PSRP data of this request is not a sequence of whole fragments in order: {error}. "
    ))
}

/// The fault of a PowerShell Send whose stream data, decompressed, is more than the `queue`
/// bytes its shell takes in one request.
pub fn psrp_input_quota_fault(queue: usize) -> Fault {
    Fault::quota_limit(
        code::QUOTA_LIMIT,
        format!(
            "The WS-Management service cannot process the request: the stream data of this Send, decompressed, is more than the {queue} bytes a PowerShell shell takes in one request. Send the data in smaller parts. "
        ),
    )
}

/// The fault of Xpress stream data that cannot be inflated within the `queue` bytes a
/// PowerShell shell takes in one request.
pub fn xpress_fault(error: XpressError, queue: usize) -> Fault {
    match error {
        XpressError::TooLarge { .. } => psrp_input_quota_fault(queue),
        error => Fault::invalid_parameter(format!(
            "The stream data of the Send is not valid Xpress-compressed data: {error}. "
        )),
    }
}

/// The fault of a search filter of the collector's event store that cannot be searched:
/// `n:CannotProcessFilter`, the reason naming the element (docs/event-search.md; the store is
/// ours, so there is no Windows fault to copy).
pub fn filter_fault(error: FilterError) -> Fault {
    Fault::cannot_process_filter(error.to_string())
}

/// The fault of a search of the event store that failed.
pub fn store_query_fault(error: StoreQueryError) -> Fault {
    match error {
        StoreQueryError::Filter(e) => filter_fault(e),
        // The store failed, not the request: logged, and the client is told no more.
        StoreQueryError::Sqlite(_) | StoreQueryError::Database(_) => {
            tracing::error!(%error, "event store: a search failed");
            Fault::internal_error("The event store could not be read. ")
        }
    }
}

/// What a task on the blocking pool was doing when it failed (panicked or was cancelled),
/// which the fault's text says.
#[derive(Clone, Copy, Debug)]
pub enum BlockingWork {
    /// A page or histogram of the event store.
    EventStoreSearch,
    /// The parse of a Subscribe's filter.
    SubscribeParse,
    /// A provider making the next items of an enumeration ahead.
    NextItems,
    /// The lookup of the Linux account a shell runs as.
    UserLookup,
}

/// The fault of a task on the blocking pool that failed: a bug of ours, `w:InternalError`
/// (Windows has no such case).
pub fn blocking_fault(error: JoinError, work: BlockingWork) -> Fault {
    match work {
        BlockingWork::EventStoreSearch => {
            tracing::error!(%error, "event store: a search task failed");
            Fault::internal_error("The event store could not be read. ")
        }
        BlockingWork::SubscribeParse => {
            Fault::internal_error(format!("parsing the Subscribe failed: {error}"))
        }
        BlockingWork::NextItems => Fault::internal_error(format!(
            "The provider failed while making the next items: {error}. "
        )),
        BlockingWork::UserLookup => {
            Fault::internal_error(format!("The user lookup failed: {error}. "))
        }
    }
}

/// The fault of a shell's Linux account that could not be looked up (NSS failed, or a name
/// with a NUL byte; an account that does not exist is `w:AccessDenied`, decided by the
/// caller): a failure of this host, `w:InternalError` naming it.
pub fn user_lookup_fault(error: UserError) -> Fault {
    Fault::internal_error(format!(
        "The user account could not be looked up: {error}. "
    ))
}

/// The fault of a request whose call outlived its OperationTimeout: `w:TimedOut`, as Windows.
pub fn elapsed_fault(_: Elapsed) -> Fault {
    Fault::timed_out()
}

/// The fault of a batch of items that could not be made: an item of `len` bytes that does not
/// fit `max_envelope` with the `overhead` of its envelope is `w:EncodingLimit`
/// MaxEnvelopeSize (DSP0226 §6.2), the budget spent is `w:TimedOut`.
pub fn unfit_fault(unfit: Unfit, overhead: usize, max_envelope: u64) -> Fault {
    match unfit {
        Unfit::TooLarge(len) => Fault::max_envelope_size_exceeded(len + overhead, max_envelope),
        Unfit::Expired => Fault::timed_out(),
    }
}

/// The fault of a Pull of a subscription that failed: an event that does not fit with the
/// envelope's `overhead` is `w:EncodingLimit` MaxEnvelopeSize, the rest as the source decides
/// for a request naming its subscription by context.
pub fn pull_fault(error: SourceError, overhead: usize, max_envelope: u64) -> Fault {
    match error {
        SourceError::EventTooLarge(n) => {
            Fault::max_envelope_size_exceeded(n + overhead, max_envelope)
        }
        error => source_fault(error, NamedBy::Context),
    }
}

/// The fault of a Renew, which Windows' event source never grants (the subscription unknown,
/// ended or alive: `e:UnableToRenew`), but refused access is `w:AccessDenied`. `refused` is
/// the source's refusal, if any.
pub fn renew_fault(refused: Option<SourceError>) -> Fault {
    match refused {
        Some(SourceError::AccessDenied(_)) => Fault::access_denied(),
        _ => Fault::unable_to_renew(),
    }
}

/// The fault of a PowerShell shell's data that is not base64: `w:InvalidParameter`, the
/// Shell plug-in's fault for a value it cannot read.
pub fn psrp_base64_fault(_: base64::DecodeError) -> Fault {
    Fault::invalid_parameter("The PSRP data is not base64. ")
}

/// The fault of each access refusal: `w:AccessDenied` as Windows, with Windows' code and a
/// reason where the service, not the descriptor, refuses.
pub fn denial_fault(denial: Denial) -> Fault {
    match denial {
        // Windows' code for a service that takes no remote requests (2150859229).
        Denial::RemoteAccessDisabled => Fault::access_denied()
            .with_code(code::SERVICE_REMOTE_ACCESS_DISABLED)
            .with_message("The WS-Management service does not accept remote requests (Service/AllowRemoteAccess is false). "),
        // Windows' answer to it is not recorded (docs/windows-quirks.md): ERROR_ACCESS_DENIED.
        Denial::RemoteShellAccessDisabled => Fault::access_denied()
            .with_message("A method that starts a process is a remote shell, and remote shell access is not allowed (Winrs/AllowRemoteShellAccess is false). "),
        // The descriptor does not grant it: ERROR_ACCESS_DENIED, saying no more.
        Denial::Descriptor | Denial::ShellDescriptor => Fault::access_denied(),
    }
}

#[cfg(test)]
mod engine_tests;
#[cfg(test)]
mod tests;
