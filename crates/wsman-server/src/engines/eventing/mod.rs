//! WS-Eventing's adapter: the event logs, and the subscription actions whatever their
//! resource (`event_logs`). The event logs follow `[Security] EventLogSDDL` when it is set,
//! else RootSDDL.

mod event_logs;

use wsman_proto::operation::Resource;
use wsman_proto::Request;

use crate::access::{access_for, Required};
use crate::engine::{Access, Call, EndpointKind, Engine, Family, Key, ReplyFuture, Target};
use crate::settings::ServiceSettings;
pub use event_logs::{spawn_expiry, EventingEngine, EXPIRY_INTERVAL};

impl Engine for EventingEngine {
    /// The event logs, and the subscription actions whatever their resource (they are
    /// refused here for any other resource).
    fn keys(&self) -> Vec<Key> {
        vec![
            (EndpointKind::WsMan, Target::Family(Family::EventLog)),
            (EndpointKind::WsMan, Target::Subscriptions),
        ]
    }

    fn access(&self, request: &Request, settings: &ServiceSettings) -> Access {
        access(request, settings)
    }

    fn handle<'a>(&'a self, call: Call<'a>) -> ReplyFuture<'a> {
        Box::pin(self.answer(call))
    }
}

/// EventLogSDDL for the event logs when set; RootSDDL otherwise (a subscription action on
/// another resource is refused by the engine, after RootSDDL).
pub fn access(request: &Request, settings: &ServiceSettings) -> Access {
    let policy = &settings.access;
    match (&request.operation.resource, &policy.event_log_sddl) {
        (Resource::EventLog, Some(sd)) => Access::Descriptor(Required::one(
            Some(sd),
            access_for(&request.operation.action),
        )),
        _ => Access::Service,
    }
}
