//! Typed SOAP faults: code, subcode, WS-Management detail URI, WSManFault code and message.
//!
//! Every fault the service can send is built here by a named constructor, so the pairing of
//! subcode, detail and numeric code that Windows uses lives in one place (reference §5). The
//! HTTP status is not a property of a fault: WinRM sends every fault with 500, and the server's
//! error module decides when something is not a fault at all (401, 413, ...).

use crate::ns;

pub mod from_errors;

/// The SOAP 1.2 `s:Code/s:Value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultCode {
    MustUnderstand,
    Receiver,
    Sender,
    VersionMismatch,
}

impl FaultCode {
    /// The QName as written with the `s` prefix.
    pub fn qname(self) -> &'static str {
        match self {
            Self::MustUnderstand => "s:MustUnderstand",
            Self::Receiver => "s:Receiver",
            Self::Sender => "s:Sender",
            Self::VersionMismatch => "s:VersionMismatch",
        }
    }
}

/// Families of subcodes; each has its own fault Action and envelope prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Addressing,
    CimBinding,
    Enumeration,
    Eventing,
    Transfer,
    Wsman,
}

impl Family {
    fn prefix(self) -> &'static str {
        match self {
            Self::Addressing => "a",
            Self::CimBinding => "b",
            Self::Enumeration => "n",
            Self::Eventing => "e",
            Self::Transfer => "x",
            Self::Wsman => "w",
        }
    }

    /// The `wsa:Action` of a fault of this family.
    pub fn action(self) -> &'static str {
        match self {
            Self::Addressing => ns::action::FAULT_ADDRESSING,
            Self::CimBinding => ns::action::FAULT_CIM_BINDING,
            Self::Enumeration => ns::action::FAULT_ENUMERATION,
            Self::Eventing => ns::action::FAULT_EVENTING,
            Self::Transfer => ns::action::FAULT_TRANSFER,
            Self::Wsman => ns::action::FAULT_WSMAN,
        }
    }
}

/// A subcode: a local name in one of the families' namespaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subcode {
    pub family: Family,
    pub name: &'static str,
}

impl Subcode {
    /// The QName with the prefix the response envelope declares.
    pub fn qname(&self) -> String {
        format!("{}:{}", self.family.prefix(), self.name)
    }
}

/// Numeric WSManFault codes (Windows SDK `wsmerror.h` and Win32), reference §5.3.
pub mod code {
    pub const ACCESS_DENIED: u32 = 5;
    /// E_FAIL: what Windows reports for an unspecified provider error.
    pub const INTERNAL_ERROR_E_FAIL: u32 = 2147500037;
    pub const INVALID_PARAMETER_WIN32: u32 = 87;
    pub const SOAP_VERSION_MISMATCH: u32 = 2150858765;
    pub const INVALID_MESSAGE_INFORMATION_HEADER: u32 = 2150858767;
    pub const MUST_UNDERSTAND: u32 = 2150858768;
    pub const MESSAGE_INFORMATION_HEADER_REQUIRED: u32 = 2150858769;
    pub const DESTINATION_UNREACHABLE: u32 = 2150858770;
    /// ERROR_WSMAN_RESOURCE_NOT_FOUND: the WMI plugin's answer for an instance or class that
    /// does not exist.
    pub const RESOURCE_NOT_FOUND: u32 = 2150858752;
    pub const ACTION_NOT_SUPPORTED: u32 = 2150858771;
    pub const INVALID_REPRESENTATION: u32 = 2150858773;
    pub const ENUMERATE_FILTERING_NOT_SUPPORTED: u32 = 2150858776;
    pub const ENUMERATE_FILTER_DIALECT_UNAVAILABLE: u32 = 2150858777;
    pub const ENUMERATE_CANNOT_PROCESS_FILTER: u32 = 2150858778;
    pub const INVALID_ENUMERATION_CONTEXT: u32 = 2150858779;
    pub const ENUMERATE_TIMED_OUT: u32 = 2150858780;
    pub const EVENTING_DELIVERY_MODE_REQUESTED_UNAVAILABLE: u32 = 2150858782;
    pub const EVENTING_INVALID_EXPIRATION_TIME: u32 = 2150858783;
    pub const EVENTING_FILTERING_REQUESTED_UNAVAILABLE: u32 = 2150858786;
    pub const EVENTING_UNABLE_TO_RENEW: u32 = 2150858788;
    pub const EVENTING_INVALID_MESSAGE: u32 = 2150858789;
    pub const INVALID_BOOKMARK: u32 = 2150858808;
    /// ERROR_EVT_CHANNEL_NOT_FOUND (winerror.h): an event log that does not exist.
    pub const EVT_CHANNEL_NOT_FOUND: u32 = 15007;
    pub const OPERATION_TIMED_OUT: u32 = 2150858793;
    pub const CHARACTER_SET: u32 = 2150858828;
    pub const ALREADY_EXISTS: u32 = 2150858803;
    /// ERROR_WSMAN_DELIVERY_REFUSED (0x80338034).
    pub const DELIVERY_REFUSED: u32 = 2150858804;
    pub const INVALID_PARAMETER: u32 = 2150858810;
    pub const INVALID_SELECTORS: u32 = 2150858813;
    pub const QUOTA_LIMIT: u32 = 2150858815;
    pub const SCHEMA_VALIDATION_ERROR: u32 = 2150858817;
    pub const UNSUPPORTED_FEATURE: u32 = 2150858818;
    pub const MAX_ENVELOPE_SIZE_EXCEEDED: u32 = 2150858824;
    pub const OPTIONS_NOT_SUPPORTED: u32 = 2150858833;
    pub const OPTIONS_INVALID_VALUE: u32 = 2150858835;
    pub const INSUFFICIENT_SELECTORS: u32 = 2150858842;
    pub const UNEXPECTED_SELECTORS: u32 = 2150858843;
    pub const SELECTOR_TYPE_MISMATCH: u32 = 2150858844;
    pub const INVALID_SELECTOR_VALUE: u32 = 2150858845;
    pub const AMBIGUOUS_SELECTORS: u32 = 2150858846;
    pub const DUPLICATE_SELECTORS: u32 = 2150858847;
    pub const MIN_ENVELOPE_SIZE: u32 = 2150858878;
    pub const ENUMERATION_MODE_UNSUPPORTED: u32 = 2150858886;
    pub const MUSTUNDERSTAND_ON_LOCALE: u32 = 2150858887;
    pub const CONFIG_GPO_CONTROLLED: u32 = 2150858890;
    pub const CONFIG_READONLY_PROPERTY: u32 = 2150859071;
    pub const CERT_NOT_FOUND: u32 = 2150858882;
    pub const CERT_THUMBPRINT_BLANK: u32 = 2150858983;
    pub const SERVICE_REMOTE_ACCESS_DISABLED: u32 = 2150859229;
}

/// `w:InvalidSelectors` details (reference §2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelectorProblem {
    Ambiguous,
    Duplicate,
    Insufficient,
    InvalidValue,
    TypeMismatch,
    Unexpected,
}

/// A SOAP fault ready to render.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fault {
    pub code: FaultCode,
    pub subcode: Option<Subcode>,
    /// Suffix of the `w:FaultDetail` URI (under [`ns::FAULT_DETAIL`]).
    pub detail: Option<&'static str>,
    /// The numeric `f:WSManFault/@Code`.
    pub wsman_code: u32,
    /// The human text, used for both `s:Reason` and `f:Message`.
    pub message: String,
    /// `(namespace, local name)` of the header that was not understood.
    pub not_understood: Option<(String, String)>,
}

const fn sub(family: Family, name: &'static str) -> Option<Subcode> {
    Some(Subcode { family, name })
}

impl Fault {
    fn new(
        code: FaultCode,
        subcode: Option<Subcode>,
        detail: Option<&'static str>,
        wsman_code: u32,
        message: impl Into<String>,
    ) -> Self {
        Self {
            code,
            subcode,
            detail,
            wsman_code,
            message: message.into(),
            not_understood: None,
        }
    }

    /// The `wsa:Action` this fault is sent with.
    pub fn action(&self) -> &'static str {
        match (self.code, self.subcode) {
            (_, Some(s)) => s.family.action(),
            (FaultCode::MustUnderstand | FaultCode::VersionMismatch, None) => {
                ns::action::FAULT_ADDRESSING
            }
            _ => ns::action::FAULT_WSMAN,
        }
    }

    pub fn access_denied() -> Self {
        Self::new(
            FaultCode::Sender,
            sub(Family::Wsman, "AccessDenied"),
            None,
            code::ACCESS_DENIED,
            "Access is denied. ",
        )
    }

    pub fn action_not_supported(action: &str) -> Self {
        Self::new(
            FaultCode::Sender,
            sub(Family::Addressing, "ActionNotSupported"),
            Some("ActionMismatch"),
            code::ACTION_NOT_SUPPORTED,
            format!(
                "The WS-Management service cannot process the request because the action {action:?} is not supported for this resource. "
            ),
        )
    }

    pub fn already_exists() -> Self {
        Self::new(
            FaultCode::Sender,
            sub(Family::Wsman, "AlreadyExists"),
            None,
            code::ALREADY_EXISTS,
            "The WS-Management service cannot create the resource because it already exists. ",
        )
    }

    pub fn destination_unreachable(resource_uri: &str) -> Self {
        Self::new(
            FaultCode::Sender,
            sub(Family::Addressing, "DestinationUnreachable"),
            Some("InvalidResourceURI"),
            code::DESTINATION_UNREACHABLE,
            format!(
                "The WS-Management service cannot process the request. The resource URI {resource_uri:?} was not found in the WS-Management catalog. "
            ),
        )
    }

    /// The addressed WMI instance (or class) does not exist: `a:DestinationUnreachable`,
    /// InvalidResourceURI, code 2150858752 and this message, as Windows Server 2012 R2's WMI
    /// plugin answers a Get of a process that is gone (recorded in the Windows fixtures,
    /// `faults/fault.get-instance-not-found.xml`).
    pub fn resource_not_found() -> Self {
        Self::new(
            FaultCode::Sender,
            sub(Family::Addressing, "DestinationUnreachable"),
            Some("InvalidResourceURI"),
            code::RESOURCE_NOT_FOUND,
            "The WS-Management service cannot process the request. The service cannot find the resource identified by the resource URI and selectors. ",
        )
    }

    /// The request's character set is neither UTF-8 nor UTF-16.
    pub fn character_set(charset: &str) -> Self {
        Self::new(
            FaultCode::Sender,
            sub(Family::Wsman, "EncodingLimit"),
            Some("CharacterSet"),
            code::CHARACTER_SET,
            format!("The WS-Management service does not support the character set {charset:?}. "),
        )
    }

    /// `w:MaxEnvelopeSize` below 8192.
    pub fn min_envelope_size(requested: u64) -> Self {
        Self::new(
            FaultCode::Sender,
            sub(Family::Wsman, "EncodingLimit"),
            Some("MinimumEnvelopeLimit"),
            code::MIN_ENVELOPE_SIZE,
            format!(
                "The WS-Management service cannot process the request because the MaxEnvelopeSize {requested} is smaller than the minimum of 8192. "
            ),
        )
    }

    /// The response would be larger than the request's MaxEnvelopeSize.
    pub fn max_envelope_size_exceeded(computed: usize, allowed: u64) -> Self {
        Self::new(
            FaultCode::Sender,
            sub(Family::Wsman, "EncodingLimit"),
            Some("MaxEnvelopeSizeExceeded"),
            code::MAX_ENVELOPE_SIZE_EXCEEDED,
            format!(
                "The WS-Management service cannot process the request. The computed response packet size ({computed}) exceeds the maximum envelope size that is allowed ({allowed}). "
            ),
        )
    }

    pub fn internal_error(message: impl Into<String>) -> Self {
        Self::new(
            FaultCode::Receiver,
            sub(Family::Wsman, "InternalError"),
            None,
            code::INTERNAL_ERROR_E_FAIL,
            message,
        )
    }

    pub fn invalid_enumeration_context() -> Self {
        Self::new(
            FaultCode::Receiver,
            sub(Family::Enumeration, "InvalidEnumerationContext"),
            None,
            code::INVALID_ENUMERATION_CONTEXT,
            "The WS-Management service cannot process the request because the enumeration context supplied in the message is not valid. ",
        )
    }

    /// An invalid header value; Windows uses this (and 2150858767) for a bad OperationTimeout.
    pub fn invalid_message_information_header(message: impl Into<String>) -> Self {
        Self::new(
            FaultCode::Sender,
            sub(Family::Addressing, "InvalidMessageInformationHeader"),
            None,
            code::INVALID_MESSAGE_INFORMATION_HEADER,
            message,
        )
    }

    pub fn invalid_options_not_supported(name: &str) -> Self {
        Self::new(
            FaultCode::Sender,
            sub(Family::Wsman, "InvalidOptions"),
            Some("NotSupported"),
            code::OPTIONS_NOT_SUPPORTED,
            format!("The WS-Management service does not support the option {name:?}. "),
        )
    }

    pub fn invalid_options_value(name: &str) -> Self {
        Self::new(
            FaultCode::Sender,
            sub(Family::Wsman, "InvalidOptions"),
            Some("InvalidValue"),
            code::OPTIONS_INVALID_VALUE,
            format!("The value of the option {name:?} is not valid. "),
        )
    }

    /// `x:InvalidRepresentation`: a Put or Create body that does not fit the resource.
    pub fn invalid_representation(detail: &'static str, message: impl Into<String>) -> Self {
        Self::new(
            FaultCode::Sender,
            sub(Family::Transfer, "InvalidRepresentation"),
            Some(detail),
            code::INVALID_REPRESENTATION,
            message,
        )
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(
            FaultCode::Sender,
            sub(Family::Wsman, "InvalidParameter"),
            Some("InvalidValue"),
            code::INVALID_PARAMETER_WIN32,
            message,
        )
    }

    pub fn invalid_selectors(problem: SelectorProblem, message: impl Into<String>) -> Self {
        let (detail, wsman_code) = match problem {
            SelectorProblem::Ambiguous => ("AmbiguousSelectors", code::AMBIGUOUS_SELECTORS),
            SelectorProblem::Duplicate => ("DuplicateSelectors", code::DUPLICATE_SELECTORS),
            SelectorProblem::Insufficient => {
                ("InsufficientSelectors", code::INSUFFICIENT_SELECTORS)
            }
            SelectorProblem::InvalidValue => ("InvalidValue", code::INVALID_SELECTOR_VALUE),
            SelectorProblem::TypeMismatch => ("TypeMismatch", code::SELECTOR_TYPE_MISMATCH),
            SelectorProblem::Unexpected => ("UnexpectedSelectors", code::UNEXPECTED_SELECTORS),
        };
        Self::new(
            FaultCode::Sender,
            sub(Family::Wsman, "InvalidSelectors"),
            Some(detail),
            wsman_code,
            message,
        )
    }

    /// A required addressing header is missing (`header` is its local name).
    pub fn message_information_header_required(header: &str) -> Self {
        Self::new(
            FaultCode::Sender,
            sub(Family::Addressing, "MessageInformationHeaderRequired"),
            None,
            code::MESSAGE_INFORMATION_HEADER_REQUIRED,
            format!(
                "The WS-Management service cannot process the request because the header {header} is missing. "
            ),
        )
    }

    /// A mustUnderstand header this service does not understand.
    pub fn must_understand(namespace: &str, name: &str) -> Self {
        let mut f = Self::new(
            FaultCode::MustUnderstand,
            None,
            None,
            code::MUST_UNDERSTAND,
            format!(
                "The WS-Management service cannot process a SOAP header in the request that is marked as mustUnderstand by the client. Header: {name}. "
            ),
        );
        f.not_understood = Some((namespace.to_owned(), name.to_owned()));
        f
    }

    /// `w:Locale` sent with mustUnderstand="true".
    pub fn locale_must_understand() -> Self {
        Self::new(
            FaultCode::Sender,
            sub(Family::Wsman, "UnsupportedFeature"),
            Some("Locale"),
            code::MUSTUNDERSTAND_ON_LOCALE,
            "The WS-Management service does not support mustUnderstand on the Locale header. ",
        )
    }

    /// Quota faults (reference §4.10) carry their own Windows code.
    pub fn quota_limit(wsman_code: u32, message: impl Into<String>) -> Self {
        Self::new(
            FaultCode::Sender,
            sub(Family::Wsman, "QuotaLimit"),
            None,
            wsman_code,
            message,
        )
    }

    pub fn schema_validation_error(message: impl Into<String>) -> Self {
        Self::new(
            FaultCode::Sender,
            sub(Family::Wsman, "SchemaValidationError"),
            None,
            code::SCHEMA_VALIDATION_ERROR,
            message,
        )
    }

    /// OperationTimeout expired with nothing to return (WinRS Receive long poll).
    pub fn timed_out() -> Self {
        Self::new(
            FaultCode::Receiver,
            sub(Family::Wsman, "TimedOut"),
            None,
            code::OPERATION_TIMED_OUT,
            "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  ",
        )
    }

    /// Pull MaxTime expired with no items.
    pub fn enumeration_timed_out() -> Self {
        Self::new(
            FaultCode::Receiver,
            sub(Family::Enumeration, "TimedOut"),
            None,
            code::ENUMERATE_TIMED_OUT,
            "The enumeration operation timed out before any items were available. ",
        )
    }

    pub fn filter_dialect_unavailable(dialect: &str) -> Self {
        Self::new(
            FaultCode::Sender,
            sub(Family::Enumeration, "FilterDialectRequestedUnavailable"),
            None,
            code::ENUMERATE_FILTER_DIALECT_UNAVAILABLE,
            format!("The filter dialect {dialect:?} is not supported for this resource. "),
        )
    }

    /// `n:CannotProcessFilter`: a filter that does not parse, uses a construct we do not
    /// evaluate, or names a class that does not exist (Windows' WMI plugin, code 2150858778).
    pub fn cannot_process_filter(message: impl Into<String>) -> Self {
        Self::new(
            FaultCode::Sender,
            sub(Family::Enumeration, "CannotProcessFilter"),
            None,
            code::ENUMERATE_CANNOT_PROCESS_FILTER,
            message,
        )
    }

    pub fn filtering_not_supported() -> Self {
        Self::new(
            FaultCode::Sender,
            sub(Family::Enumeration, "FilteringNotSupported"),
            None,
            code::ENUMERATE_FILTERING_NOT_SUPPORTED,
            "Filtered enumeration is not supported for this resource. ",
        )
    }

    pub fn unsupported_feature(detail: &'static str, message: impl Into<String>) -> Self {
        Self::new(
            FaultCode::Sender,
            sub(Family::Wsman, "UnsupportedFeature"),
            Some(detail),
            code::UNSUPPORTED_FEATURE,
            message,
        )
    }

    /// A SOAP 1.1 (or other non-1.2) envelope.
    pub fn version_mismatch() -> Self {
        Self::new(
            FaultCode::VersionMismatch,
            None,
            None,
            code::SOAP_VERSION_MISMATCH,
            "The WS-Management service only supports SOAP 1.2 envelopes. ",
        )
    }

    /// A configuration setting pinned by policy (Source="GPO") cannot be changed.
    pub fn config_gpo_controlled(setting: &str) -> Self {
        Self::new(
            FaultCode::Sender,
            sub(Family::Wsman, "AccessDenied"),
            None,
            code::CONFIG_GPO_CONTROLLED,
            format!(
                "The config setting {setting} cannot be changed because is controlled by policies. The policy would need to be set to \"Not Configured\" in order to change the config setting. "
            ),
        )
    }

    /// A read-only (deprecated) configuration setting cannot be changed.
    pub fn config_readonly(setting: &str) -> Self {
        Self::new(
            FaultCode::Sender,
            sub(Family::Wsman, "InvalidParameter"),
            Some("InvalidValue"),
            code::CONFIG_READONLY_PROPERTY,
            format!("The WS-Management service cannot change the read-only setting {setting}. "),
        )
    }

    /// `e:DeliveryModeRequestedUnavailable`: a Subscribe delivery mode this source does not serve.
    pub fn delivery_mode_unavailable(mode: &str) -> Self {
        Self::new(
            FaultCode::Sender,
            sub(Family::Eventing, "DeliveryModeRequestedUnavailable"),
            None,
            code::EVENTING_DELIVERY_MODE_REQUESTED_UNAVAILABLE,
            format!("The event source does not support the delivery mode {mode:?}. "),
        )
    }

    /// `e:FilteringRequestedUnavailable`: a Subscribe filter dialect other than the event
    /// query (MS-WSMV 3.1.4.1.30.5).
    pub fn filtering_requested_unavailable(dialect: &str) -> Self {
        Self::new(
            FaultCode::Sender,
            sub(Family::Eventing, "FilteringRequestedUnavailable"),
            None,
            code::EVENTING_FILTERING_REQUESTED_UNAVAILABLE,
            format!("The filter dialect {dialect:?} is not supported for event subscriptions. "),
        )
    }

    /// `w:CannotProcessFilter`: an event query outside the subset the source evaluates.
    pub fn event_filter_unprocessable(message: impl Into<String>) -> Self {
        Self::new(
            FaultCode::Sender,
            sub(Family::Wsman, "CannotProcessFilter"),
            None,
            code::ENUMERATE_CANNOT_PROCESS_FILTER,
            message,
        )
    }

    /// `e:InvalidExpirationTime`: an `e:Expires` that is malformed or already past.
    pub fn invalid_expiration_time(message: impl Into<String>) -> Self {
        Self::new(
            FaultCode::Sender,
            sub(Family::Eventing, "InvalidExpirationTime"),
            None,
            code::EVENTING_INVALID_EXPIRATION_TIME,
            message,
        )
    }

    /// `e:EventSourceUnableToProcess` with the cause's own code (an unknown event log:
    /// [`code::EVT_CHANNEL_NOT_FOUND`]).
    pub fn event_source_unable_to_process(wsman_code: u32, message: impl Into<String>) -> Self {
        Self::new(
            FaultCode::Receiver,
            sub(Family::Eventing, "EventSourceUnableToProcess"),
            None,
            wsman_code,
            message,
        )
    }

    /// `e:UnableToRenew`: Windows renews no subscription (MS-WSMV); subscribers subscribe again.
    pub fn unable_to_renew() -> Self {
        Self::new(
            FaultCode::Receiver,
            sub(Family::Eventing, "UnableToRenew"),
            None,
            code::EVENTING_UNABLE_TO_RENEW,
            "The subscription cannot be renewed. Subscribe again. ",
        )
    }

    /// `w:DeliveryRefused` (s:Receiver, `wsmerror.h`): the event sink refuses a delivery,
    /// `message` saying why, so the source that sent it can tell its operator.
    pub fn delivery_refused(message: impl Into<String>) -> Self {
        Self::new(
            FaultCode::Receiver,
            sub(Family::Wsman, "DeliveryRefused"),
            None,
            code::DELIVERY_REFUSED,
            message,
        )
    }

    /// `e:InvalidMessage`: an eventing request that is malformed or names no live subscription.
    pub fn eventing_invalid_message(message: impl Into<String>) -> Self {
        Self::new(
            FaultCode::Sender,
            sub(Family::Eventing, "InvalidMessage"),
            None,
            code::EVENTING_INVALID_MESSAGE,
            message,
        )
    }

    /// `w:InvalidBookmark`, detail `Invalid`: a Subscribe bookmark that cannot be read.
    pub fn invalid_bookmark(message: impl Into<String>) -> Self {
        Self::new(
            FaultCode::Sender,
            sub(Family::Wsman, "InvalidBookmark"),
            Some("Invalid"),
            code::INVALID_BOOKMARK,
            message,
        )
    }

    /// Replace the numeric WSManFault code (for provider-specific codes).
    pub fn with_code(mut self, wsman_code: u32) -> Self {
        self.wsman_code = wsman_code;
        self
    }

    /// Replace the message text.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.subcode {
            Some(s) => write!(
                f,
                "{} {} ({}): {}",
                self.code.qname(),
                s.qname(),
                self.wsman_code,
                self.message.trim()
            ),
            None => write!(
                f,
                "{} ({}): {}",
                self.code.qname(),
                self.wsman_code,
                self.message.trim()
            ),
        }
    }
}

impl std::error::Error for Fault {}
