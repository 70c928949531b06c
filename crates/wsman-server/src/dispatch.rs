//! The router: one authenticated, authorized request goes, on its typed operation
//! ([`wsman_proto::Operation`]: Action and what its ResourceURI addresses), to exactly one
//! [`Engine`].
//!
//! Identify and authorization are decided earlier (in the pipeline). Engines: WS-Transfer,
//! WS-Enumeration and Invoke over the providers of the [`Registry`]
//! ([`transfer::TransferEngine`]), the WinRS shells ([`shells::ShellEngine`]), and a
//! place for the eventing engine. This module owns only what every engine shares: the
//! operation budget (OperationTimeout capped at MaxTimeoutms), the request's MaxEnvelopeSize,
//! and envelope rendering; each engine sizes its own responses within that envelope, and
//! enumeration contexts are paged in one place ([`paging`]).

pub mod paging;
pub mod shells;
pub mod transfer;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use wsman_proto::operation::{Action, Resource, ShellResource};
use wsman_proto::response::{self, ResponseHeader};
use wsman_proto::{Fault, Request};
use wsman_providers::{Caller, Registry};

use crate::enumeration::EnumerationStore;
use crate::settings::ServiceSettings;
use crate::winrs::ShellService;
use shells::ShellEngine;

/// The answer of a dispatched request.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// A response envelope (XML, not yet encoded).
    Envelope(String),
    /// A response envelope in UTF-8, in pieces to be written in order: a Receive response
    /// around output the shell engine already holds as base64 text (see
    /// [`crate::response_body`]).
    Pieces(Vec<bytes::Bytes>),
    /// HTTP 204 with no body (`.../wsman/End`).
    NoContent,
}

/// Per-request facts the dispatcher needs besides the request.
#[derive(Clone, Copy, Debug)]
pub struct Exchange<'a> {
    pub settings: &'a ServiceSettings,
    /// `scheme://host/path` the client addressed.
    pub address: &'a str,
}

/// One request as an engine receives it, with the limits the router computed.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    pub request: &'a Arc<Request>,
    pub exchange: Exchange<'a>,
    /// The authenticated caller (absent only in tests of the router).
    pub caller: Option<&'a Caller>,
    /// OperationTimeout capped by MaxTimeoutms.
    pub budget: Duration,
    /// The request's MaxEnvelopeSize capped by the service's.
    pub max_envelope: u64,
}

/// A boxed engine answer.
pub type ReplyFuture<'a> = Pin<Box<dyn Future<Output = Result<Reply, Fault>> + Send + 'a>>;

/// What the router hands a request to. An engine answers every action of the resources it is
/// routed (`a:ActionNotSupported` for the ones it does not serve) and keeps its response
/// within `call.max_envelope`.
pub trait Engine: Send + Sync {
    fn handle<'a>(&'a self, call: Call<'a>) -> ReplyFuture<'a>;
}

/// Routes requests to engines; owns the enumeration contexts they share.
pub struct Dispatcher {
    transfer: transfer::TransferEngine,
    /// WinRS shells; without them the shell URIs are refused like any unserved resource.
    shells: Option<ShellEngine>,
    /// WS-Eventing (Subscribe, Renew, GetStatus, Unsubscribe) when served; without it those
    /// actions go to the resource's engine, which refuses them.
    eventing: Option<Box<dyn Engine>>,
    enumerations: Arc<EnumerationStore>,
}

impl Dispatcher {
    pub fn new(registry: Registry) -> Self {
        let enumerations = Arc::new(EnumerationStore::new());
        Self {
            transfer: transfer::TransferEngine::new(registry, Arc::clone(&enumerations)),
            shells: None,
            eventing: None,
            enumerations,
        }
    }

    /// Serve the WinRS shell resources with `shells`.
    pub fn with_shells(mut self, shells: ShellService) -> Self {
        self.transfer.set_launcher(Arc::new(shells.clone()));
        self.shells = Some(ShellEngine::new(shells, Arc::clone(&self.enumerations)));
        self
    }

    /// Serve WS-Eventing with `engine`.
    pub fn with_eventing(mut self, engine: Box<dyn Engine>) -> Self {
        self.eventing = Some(engine);
        self
    }

    /// The shell subsystem, when served.
    pub fn shells(&self) -> Option<&ShellService> {
        self.shells.as_ref().map(ShellEngine::service)
    }

    /// Live enumeration contexts (diagnostics, tests).
    pub fn enumeration_contexts(&self) -> usize {
        self.enumerations.len()
    }

    /// The descriptor that decides access to `request` instead of RootSDDL, when its
    /// resource's provider has one.
    pub fn security_descriptor(
        &self,
        request: &Request,
    ) -> Option<Arc<wsman_config::SecurityDescriptor>> {
        self.transfer.security_descriptor(request)
    }

    /// Dispatch one request without a caller (shell resources are then refused).
    pub async fn dispatch(
        self: &Arc<Self>,
        request: Arc<Request>,
        exchange: Exchange<'_>,
    ) -> Result<Reply, Fault> {
        self.dispatch_as(request, exchange, None).await
    }

    /// Dispatch one request for `caller`. Faults come back as `Err` for the caller to render.
    pub async fn dispatch_as(
        self: &Arc<Self>,
        request: Arc<Request>,
        exchange: Exchange<'_>,
        caller: Option<&Caller>,
    ) -> Result<Reply, Fault> {
        let op = &request.operation;
        if op.action == Action::End {
            return Ok(Reply::NoContent);
        }
        let engine = self.route(&request, caller)?;
        let call = Call {
            request: &request,
            exchange,
            caller,
            budget: operation_budget(&request, exchange.settings),
            max_envelope: max_envelope(&request, exchange.settings),
        };
        engine.handle(call).await
    }

    /// The one place that decides which engine answers (Action, ResourceURI).
    fn route(&self, request: &Request, caller: Option<&Caller>) -> Result<&dyn Engine, Fault> {
        let op = &request.operation;
        let uri = request.resource_uri.as_deref().unwrap_or("");
        if let Some(eventing) = &self.eventing {
            if matches!(
                op.action,
                Action::Subscribe | Action::Renew | Action::GetStatus | Action::Unsubscribe
            ) {
                return Ok(eventing.as_ref());
            }
        }
        match &op.resource {
            Resource::Absent => Err(Fault::destination_unreachable(uri)),
            Resource::EventLog => match &self.eventing {
                Some(eventing) => Ok(eventing.as_ref()),
                None => Err(Fault::destination_unreachable(uri)),
            },
            Resource::Shell(ShellResource::Unserved | ShellResource::PowerShell) => {
                Err(Fault::destination_unreachable(uri))
            }
            Resource::Shell(_) => match &self.shells {
                Some(shells) => {
                    caller.ok_or_else(Fault::access_denied)?;
                    Ok(shells)
                }
                None => Err(Fault::destination_unreachable(uri)),
            },
            _ if self.transfer.serves(uri) => Ok(&self.transfer),
            _ => Err(Fault::destination_unreachable(uri)),
        }
    }
}

/// OperationTimeout, or MaxTimeoutms when absent or larger.
pub fn operation_budget(request: &Request, settings: &ServiceSettings) -> Duration {
    let cap = settings.max_timeout();
    request.operation_timeout.map_or(cap, |t| t.min(cap))
}

/// The request's MaxEnvelopeSize, or the service's when absent or larger.
pub fn max_envelope(request: &Request, settings: &ServiceSettings) -> u64 {
    let service = settings.max_envelope_bytes();
    request
        .max_envelope_size
        .map_or(service, |m| m.min(service))
}

/// The response envelope, refused when larger than the request's MaxEnvelopeSize.
pub(crate) fn finish(
    request: &Request,
    response_action: &str,
    extra: &str,
    body: &str,
    max_envelope: u64,
) -> Result<Reply, Fault> {
    let envelope = render(request, response_action, extra, body);
    within_envelope(envelope.len(), max_envelope)?;
    Ok(Reply::Envelope(envelope))
}

/// [`finish`] for a body the caller hands over: the envelope is built in the body's buffer
/// (see [`response::envelope_owned`]), so the body is not copied again.
pub(crate) fn finish_owned(
    request: &Request,
    response_action: &str,
    body: String,
    max_envelope: u64,
) -> Result<Reply, Fault> {
    let id = new_message_id();
    let envelope = response::envelope_owned(&response_header(request, response_action, &id), body);
    within_envelope(envelope.len(), max_envelope)?;
    Ok(Reply::Envelope(envelope))
}

/// The header of the response to `request` (no extra header blocks).
pub(crate) fn response_header<'a>(
    request: &'a Request,
    response_action: &'a str,
    message_id: &'a str,
) -> ResponseHeader<'a> {
    ResponseHeader {
        action: response_action,
        message_id,
        relates_to: request.message_id.as_deref(),
        operation_id: request.operation_id.as_deref(),
        sequence_id: request.sequence_id.as_deref(),
        extra: "",
    }
}

/// Refuses a response envelope of `length` bytes that is larger than the client accepts.
pub(crate) fn within_envelope(length: usize, max_envelope: u64) -> Result<(), Fault> {
    if length as u64 > max_envelope {
        return Err(Fault::max_envelope_size_exceeded(length, max_envelope));
    }
    Ok(())
}

/// A response envelope relating to `request`.
pub fn render(request: &Request, response_action: &str, extra: &str, body: &str) -> String {
    let id = new_message_id();
    response::envelope(
        &ResponseHeader {
            action: response_action,
            message_id: &id,
            relates_to: request.message_id.as_deref(),
            operation_id: request.operation_id.as_deref(),
            sequence_id: request.sequence_id.as_deref(),
            extra,
        },
        body,
    )
}

pub use wsman_proto::response::new_message_id;

#[cfg(test)]
mod tests;
