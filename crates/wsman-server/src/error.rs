//! The one place that maps every error to its HTTP status and SOAP fault.
//!
//! | Error                                   | Status | Body |
//! |-----------------------------------------|--------|------|
//! | not XML, undecodable bytes, bad framing | 400    | none |
//! | missing/failed authentication           | 401    | none (+ challenges) |
//! | path not served                         | 404    | none |
//! | method other than POST                  | 405    | none |
//! | body not received in time               | 408    | none |
//! | body over MaxEnvelopeSizekb             | 413    | none |
//! | Content-Type not SOAP                   | 415    | none |
//! | over MaxConnections                     | 503    | none |
//! | every SOAP fault (Sender and Receiver)  | 500    | fault envelope |
//!
//! Windows sends every fault with 500 and clients (pywinrm, pypsrp) only parse faults on
//! non-2xx, non-401 answers (reference §1.3), so there is deliberately no per-fault status.

use hyper::StatusCode;
use wsman_proto::charset::DecodeError;
use wsman_proto::{Fault, RequestError};

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

#[cfg(test)]
mod tests {
    use super::*;
    use wsman_proto::xml::Limits;

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
