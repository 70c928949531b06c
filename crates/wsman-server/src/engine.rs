//! The contract between the catalog ([`crate::catalog`]) and its engines: the keys an engine
//! serves (an [`Endpoint`] classified from the HTTP path, a [`Target`] from the typed
//! operation), the [`Access`] a request needs, the [`Call`] an engine receives and the
//! typed [`Answer`] it gives. A module of its own below both the catalog and the engines, so that
//! neither reaches into the other.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wsman_proto::operation::{is_served_cim_class_uri, Action, Resource, ShellResource};
use wsman_proto::{Fault, Request};
use wsman_providers::Caller;

use crate::access::Required;
use crate::metrics::collector::Refusal;
use crate::principal::Principal;
use crate::proof::Proof;
use crate::settings::ServiceSettings;

/// A body that could not be read (SLDC, charset, XML), as the pipeline reports it to the
/// engines: why, from whom and from where, so an engine can count it and log it without
/// the pipeline knowing which engines log what.
pub struct UnreadableBody<'a> {
    pub reason: Refusal,
    /// Who sent it (authenticated: bodies are read only after authentication).
    pub forwarder: &'a Principal,
    pub remote: std::net::SocketAddr,
    /// The decoder's or parser's error.
    pub why: &'a dyn std::fmt::Display,
}

/// Which endpoint of a listener a request came to, classified once from its path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `/` + URLPrefix: WS-Management.
    WsMan,
    /// A subscription manager URI of the collector (the path as requested).
    SubscriptionManager(String),
    /// The delivery endpoint of the subscription with this identifier.
    Delivery(String),
}

impl Endpoint {
    /// The resource a request to this endpoint is to, whatever its own ResourceURI says: what
    /// a client certificate's mapping must allow there. The collector's endpoints are resources
    /// of their own (the subscription manager; the event logs a delivery carries), so a
    /// forwarder cannot pick the URI its mapping is checked against. `None`: the request's.
    pub fn resource_uri(&self) -> Option<&'static str> {
        match self {
            Self::WsMan => None,
            Self::SubscriptionManager(_) => Some(wsman_events::offer::SUBSCRIPTION_RESOURCE),
            Self::Delivery(_) => Some(wsman_proto::ns::EVENT_LOG_URI),
        }
    }

    /// The endpoint's part of a catalog key.
    pub fn kind(&self) -> EndpointKind {
        match self {
            Self::WsMan => EndpointKind::WsMan,
            Self::SubscriptionManager(_) => EndpointKind::SubscriptionManager,
            Self::Delivery(_) => EndpointKind::Delivery,
        }
    }
}

/// [`Endpoint`] without its data: the first half of a [`Key`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndpointKind {
    WsMan,
    SubscriptionManager,
    Delivery,
}

/// The families of resources at the WS-Management endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// The configuration tree ([`Resource::Config`]).
    Config,
    /// CIM and WMI classes and their metadata.
    Cim,
    /// The WinRS shell resources (cmd, the shell and command inventories).
    Shell,
    /// The event logs.
    EventLog,
    /// The collector's event store ([`wsman_proto::ns::event_store`]).
    EventStore,
}

/// The second half of a [`Key`]: what of an endpoint an engine serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// The resources of a family.
    Family(Family),
    /// WS-Eventing's Subscribe, Renew, GetStatus and Unsubscribe, whatever the resource.
    Subscriptions,
    /// Every request of the endpoint.
    Every,
}

impl Target {
    /// The target of `request` at the WS-Management endpoint, from its typed operation;
    /// `None`: no engine can serve it.
    pub fn of(request: &Request) -> Option<Target> {
        // The full-duplex messages belong to the connection, not to a resource: RootSDDL.
        if matches!(
            request.operation.action,
            Action::End | Action::InteractiveResponse
        ) {
            return None;
        }
        if matches!(
            request.operation.action,
            Action::Subscribe | Action::Renew | Action::GetStatus | Action::Unsubscribe
        ) {
            return Some(Target::Subscriptions);
        }
        Self::family_of(request)
    }

    /// The family of the request's resource; `None`: no resource, one no family names, a
    /// shell resource that is not served, or a CIM class URI of a vendor's host (classified, served by no engine
    /// yet: `docs/cim.md`).
    pub fn family_of(request: &Request) -> Option<Target> {
        let uri = request.resource_uri.as_deref().unwrap_or("");
        let family = match &request.operation.resource {
            Resource::Absent | Resource::Other | Resource::Shell(ShellResource::Unserved) => {
                return None
            }
            Resource::Shell(_) => Family::Shell,
            // Served: the DMTF's host and Microsoft's (OMI's) form of it.
            Resource::Cim { .. } if !is_served_cim_class_uri(uri) => return None,
            Resource::Wmi { .. }
            | Resource::Cim { .. }
            | Resource::CimAll
            | Resource::ClassMetadata(_) => Family::Cim,
            Resource::EventLog => Family::EventLog,
            Resource::EventStore => Family::EventStore,
            Resource::Config => Family::Config,
        };
        Some(Target::Family(family))
    }
}

/// What the catalog is keyed by.
pub type Key = (EndpointKind, Target);

/// The access a request to an engine needs, stated by the engine from the live settings
/// and checked before the engine is called ([`crate::access::AccessPolicy::authorize`]).
#[derive(Clone, Debug)]
pub enum Access {
    /// The service's own descriptor: RootSDDL grants the operation's right.
    Service,
    /// The engine's descriptors instead of RootSDDL (ShellSDDL, EventLogSDDL, the WMI
    /// descriptor of every namespace an answer draws from, ...), every one of which must grant.
    Descriptor(crate::access::Required),
    /// The engine decides for itself (the collector: each subscription's allow list; a
    /// forwarder is a machine, not an administrator).
    Engine,
}

impl Access {
    /// What the pipeline checks. An engine that decides for itself still gets the gates every
    /// request passes (AllowRemoteAccess, a certificate mapping's URI): no descriptor, nothing
    /// else.
    pub fn required(&self, settings: &ServiceSettings, request: &Request) -> Required {
        match self {
            Self::Service => Required::service(&settings.access, &request.operation.action),
            Self::Descriptor(required) => required.clone(),
            Self::Engine => Required::default(),
        }
    }
}

/// A request routed once ([`crate::catalog::Catalog::route`]): the engine that serves it
/// (`None`: no engine does; refused after authorization, as Windows does) and the access it
/// needs. Authorization and dispatch both use it, so one lookup decides both.
#[derive(Clone)]
pub struct Routed {
    pub engine: Option<Arc<dyn Engine>>,
    pub access: Access,
}

/// What an engine answers, typed: [`crate::render`] writes and sizes its envelope.
#[derive(Debug)]
pub enum Answer {
    /// A response under `action` with `body` (XML, may be empty) and `extra` header blocks
    /// (already serialised, e.g. `w:TotalItemsCountEstimate`).
    Body {
        action: Cow<'static, str>,
        extra: String,
        body: String,
    },
    /// A WinRS Receive: the command's output as the shell engine holds it (base64 text),
    /// written around, not copied.
    Receive {
        output: wsman_shell::ReceiveOutput,
        command_id: String,
    },
    /// An answer that has no response envelope of ours: an HTTP status, or the collector's
    /// Ack of a delivery (a forwarder's shape, `wsman_events::delivery`).
    Reply(Reply),
}

impl Answer {
    /// A response under `action` with `body` and no extra header block.
    pub fn body(action: impl Into<Cow<'static, str>>, body: impl Into<String>) -> Self {
        Self::with_header(action, String::new(), body)
    }

    /// A response under `action` with `extra` header blocks and `body`.
    pub fn with_header(
        action: impl Into<Cow<'static, str>>,
        extra: impl Into<String>,
        body: impl Into<String>,
    ) -> Self {
        Self::Body {
            action: action.into(),
            extra: extra.into(),
            body: body.into(),
        }
    }
}

impl From<Reply> for Answer {
    fn from(reply: Reply) -> Self {
        Self::Reply(reply)
    }
}

/// The answer of a dispatched request, as written.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// A response envelope (XML, not yet encoded).
    Envelope(String),
    /// A response envelope in UTF-8, in pieces to be written in order: a Receive response
    /// around output the shell engine already holds as base64 text (see
    /// [`crate::response_body`]).
    Pieces(Vec<bytes::Bytes>),
    /// HTTP 200 with an empty body, as MS-WSMV 4.11.1 answers the full-duplex `End`
    /// (`close`: the connection is closed after it) and `InteractiveResponse`.
    Empty { close: bool },
    /// An HTTP status without a body: what the collector answers a forwarder for a delivery
    /// it cannot read (400) or could not store (503: the forwarder resends).
    Refused(Refused),
}

/// The statuses of [`Reply::Refused`].
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    BadRequest(String),
    /// 400 with a `w:DeliveryRefused` fault saying why, relating to the delivery's MessageID.
    DeliveryRefused(Box<wsman_proto::Fault>, Option<String>),
    NotFound,
    Unavailable,
}

impl From<Refused> for crate::error::ServiceError {
    fn from(refused: Refused) -> Self {
        match refused {
            Refused::BadRequest(reason) => Self::BadRequest { reason },
            Refused::DeliveryRefused(fault, relates_to) => {
                Self::DeliveryRefused { fault, relates_to }
            }
            Refused::NotFound => Self::NotFound,
            Refused::Unavailable => Self::Unavailable,
        }
    }
}

/// Per-request facts the dispatcher needs besides the request.
#[derive(Clone, Copy, Debug)]
pub struct Exchange<'a> {
    pub settings: &'a ServiceSettings,
    /// `scheme://host/path` the client addressed.
    pub address: &'a str,
}

/// One request as an engine receives it, with the limits the router computed.
#[derive(Clone, Copy)]
pub struct Call<'a> {
    pub request: &'a Arc<Request>,
    pub exchange: Exchange<'a>,
    /// The authenticated caller.
    pub caller: &'a Caller,
    /// When the answer is due: OperationTimeout capped by MaxTimeoutms, counted from when
    /// the request was routed (set there once; every engine's wait ends at it).
    pub deadline: Instant,
    /// The request's MaxEnvelopeSize capped by the service's.
    pub max_envelope: u64,
    /// Where the request came (a collector endpoint names its subscription).
    pub endpoint: &'a Endpoint,
    /// What the credentials proved, when the pipeline established it.
    pub proof: Option<&'a Proof>,
    /// The body's size as sent (unsealed, still compressed).
    pub wire_length: usize,
}

impl Call<'_> {
    /// The time left until [`Self::deadline`] (zero once past it).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// A boxed engine answer.
pub type ReplyFuture<'a> = Pin<Box<dyn Future<Output = Result<Answer, Fault>> + Send + 'a>>;

/// One entry of the catalog. An engine says which keys it serves and what access a request
/// needs; it answers every action of its keys (`a:ActionNotSupported` for the ones it does
/// not serve) with a typed [`Answer`], whose items it fits within `call.max_envelope`.
pub trait Engine: Send + Sync {
    /// The (endpoint, target) pairs this engine answers.
    fn keys(&self) -> Vec<Key>;

    /// The access `request` needs under the live `settings` (default: RootSDDL).
    fn access(&self, _request: &Request, _settings: &ServiceSettings) -> Access {
        Access::Service
    }

    /// The endpoint `path` is, when this engine claims paths besides the listener's
    /// WS-Management path `prefix`.
    fn endpoint(&self, _prefix: &str, _path: &str) -> Option<Endpoint> {
        None
    }

    fn handle<'a>(&'a self, call: Call<'a>) -> ReplyFuture<'a>;

    /// A body sent to `endpoint` could not be read (counted and logged by engines that do).
    fn unreadable(&self, _endpoint: &Endpoint, _body: &UnreadableBody<'_>) {}

    /// SIGHUP: read the engine's own configuration again. Blocking.
    fn reload(&self) {}

    /// SIGTERM, before the listeners stop: stop waiting on outside systems, so that requests
    /// in flight are answered (and the stop is not held) rather than wait for them. Blocking,
    /// brief.
    fn shutdown(&self) {}

    /// The engine's metrics text, when it has metrics.
    fn metrics_text(&self) -> Option<String> {
        None
    }
}
