//! The eventing engine: WS-Eventing on the event logs
//! (`http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog`), served by the host's
//! [`EventSource`].
//!
//! Subscribe (Pull delivery) answers the subscription manager's endpoint reference, whose
//! `e:Identifier` names the subscription in Renew, GetStatus and Unsubscribe, and an
//! EnumerationContext (the same identifier) that `n:Pull` reads events with and `n:Release`
//! ends. Every refusal of the eventing core and of the source becomes its fault in the errors
//! table (`crate::error`'s `subscribe_fault`, `source_fault`). Subscriptions belong to the
//! Linux user the request runs as.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use wsman_events::{parse_subscribe, Timestamp};
use wsman_eventsource::{Caller as SourceCaller, EventSource, SourceError};
use wsman_proto::enumeration::{self, Pull};
use wsman_proto::ns::action;
use wsman_proto::operation::{Action, Resource};
use wsman_proto::{eventing, Fault};
use wsman_providers::Caller;

use crate::engine::{Answer, Call};
use crate::error::{
    blocking_fault, pull_fault, renew_fault, source_fault, subscribe_fault, BlockingWork, NamedBy,
};

/// Events a Pull returns when it does not say (WS-Enumeration's default is 1).
const DEFAULT_PULL_ELEMENTS: u32 = 1;

/// The router's engine for the event logs.
pub struct EventingEngine {
    source: Arc<EventSource>,
}

impl EventingEngine {
    pub fn new(source: Arc<EventSource>) -> Self {
        Self { source }
    }

    pub(crate) async fn answer(&self, call: Call<'_>) -> Result<Answer, Fault> {
        let request = call.request.as_ref();
        let op = &request.operation;
        if op.resource != Resource::EventLog {
            let uri = request.resource_uri.as_deref().unwrap_or("");
            return Err(Fault::destination_unreachable(uri));
        }
        let caller = source_caller(call.caller);
        let now = Timestamp::from_system_time(SystemTime::now());
        match &op.action {
            Action::Subscribe => self.subscribe(call, &caller, now).await,
            Action::Pull => self.pull(call, &caller, now).await,
            Action::Release => {
                let context = enumeration::parse_release(request.body.as_ref())?;
                self.source
                    .unsubscribe(&caller, &context)
                    .map_err(|e| source_fault(e, NamedBy::Context))?;
                Ok(Answer::body(action::RELEASE_RESPONSE, ""))
            }
            Action::Unsubscribe => {
                let id = identifier(request)?;
                self.source
                    .unsubscribe(&caller, &id)
                    .map_err(|e| source_fault(e, NamedBy::Identifier))?;
                Ok(Answer::body(action::UNSUBSCRIBE_RESPONSE, ""))
            }
            Action::Renew => {
                let id = identifier(request)?;
                let renewed = self.source.renew(&caller, &id);
                if let Err(SourceError::AccessDenied(reason)) = &renewed {
                    tracing::warn!(user = %caller.user, %reason, "eventing request refused");
                }
                Err(renew_fault(renewed.err()))
            }
            Action::GetStatus => {
                let id = identifier(request)?;
                let expires = self
                    .source
                    .expires(&caller, &id, now)
                    .map_err(|e| source_fault(e, NamedBy::Identifier))?;
                let body = format!(
                    "<e:GetStatusResponse><e:Expires>{}</e:Expires></e:GetStatusResponse>",
                    expires.to_system_time()
                );
                Ok(Answer::body(
                    wsman_proto::ns::action::GET_STATUS_RESPONSE,
                    body,
                ))
            }
            other => Err(Fault::action_not_supported(
                request.action.as_deref().unwrap_or(match other {
                    Action::Absent => "",
                    _ => "unknown",
                }),
            )),
        }
    }

    async fn subscribe(
        &self,
        call: Call<'_>,
        caller: &SourceCaller,
        now: Timestamp,
    ) -> Result<Answer, Fault> {
        let request = call.request.as_ref();
        // A filter may be a query list of half a megabyte: parsed into its tree on a blocking
        // thread, not on the async worker that moves every other client's bytes.
        let owned = Arc::clone(call.request);
        let parsed = tokio::task::spawn_blocking(move || parse_subscribe(&owned))
            .await
            .map_err(|e| blocking_fault(e, BlockingWork::SubscribeParse))?;
        let subscribe = parsed.map_err(|e| {
            tracing::info!(user = %caller.user, error = %e, "Subscribe refused");
            subscribe_fault(e)
        })?;
        let id = wsman_proto::response::new_message_id();
        let subscribed = self
            .source
            .subscribe(caller, &subscribe, id, now)
            .await
            .map_err(|e| source_fault(e, NamedBy::Identifier))?;
        let expires = subscribed.expires.to_system_time();
        let body = eventing::subscribe_response(&eventing::Subscribed {
            manager_address: call.exchange.address,
            identifier: &subscribed.id,
            expires: &expires,
            // Pushed subscriptions have nothing to pull.
            enumeration_context: (subscribe.mode == wsman_events::DeliveryMode::Pull)
                .then_some(subscribed.id.as_str()),
        });
        // Written here, not by the router: a subscription whose answer is too large is not
        // kept, as nobody will learn its identifier.
        let answer = Answer::body(action::SUBSCRIBE_RESPONSE, body);
        let reply = crate::render::reply(request, answer, call.max_envelope);
        if reply.is_err() {
            let _ = self.source.unsubscribe(caller, &subscribed.id);
        }
        reply.map(Answer::Reply)
    }

    async fn pull(
        &self,
        call: Call<'_>,
        caller: &SourceCaller,
        now: Timestamp,
    ) -> Result<Answer, Fault> {
        let request = call.request.as_ref();
        let pull = Pull::parse(request.body.as_ref())?;
        let max_elements = pull.max_elements.unwrap_or(DEFAULT_PULL_ELEMENTS);
        let left = call.remaining();
        let wait = pull.max_time.map_or(left, |asked| asked.min(left));
        // The events get what the envelope leaves around the answer without them.
        let widest = (self.source.widest_bookmark(caller, &pull.context))
            .map_err(|e| source_fault(e, NamedBy::Context))?;
        let extra = widest.map_or_else(String::new, |b| eventing::bookmark_header(&b.to_xml()));
        let empty = enumeration::pull_response(Some(&pull.context), &[], false);
        let answer = (action::PULL_RESPONSE, &*extra, &*empty);
        let (taken, room) = crate::render::room(request, answer, 0, call.max_envelope)?;
        let pulled = self
            .source
            .pull_within(
                caller,
                &pull.context,
                max_elements as usize,
                room,
                wait,
                now,
                Some(call.deadline),
            )
            .await
            .map_err(|e| pull_fault(e, taken, call.max_envelope))?;
        if pulled.events.is_empty() {
            return Err(Fault::enumeration_timed_out());
        }
        let extra = pulled
            .bookmark
            .map(|b| eventing::bookmark_header(&b.to_xml()))
            .unwrap_or_default();
        let items: Vec<String> = pulled.events.into_iter().map(|e| e.xml).collect();
        let body = enumeration::pull_response(Some(&pull.context), &items, false);
        Ok(Answer::with_header(action::PULL_RESPONSE, extra, body))
    }
}

/// Who the event source sees: the Linux user the request runs as (which logs it reads), the
/// principal (which owns and counts its subscriptions), whether that caller is an administrator, and its uid (only a
/// mapped Linux user has one; a lookup that fails leaves none, which is never root's).
fn source_caller(caller: &Caller) -> SourceCaller {
    let uid = caller.linux_user.as_deref().and_then(|name| {
        wsman_os::users::lookup_user(name)
            .ok()
            .flatten()
            .map(|u| u.uid)
    });
    SourceCaller {
        user: caller
            .linux_user
            .clone()
            .unwrap_or_else(|| caller.user.clone()),
        owner: caller.owner_key(),
        administrator: caller.is_administrator,
        uid,
    }
}

/// The subscription a Renew, GetStatus or Unsubscribe names.
fn identifier(request: &wsman_proto::Request) -> Result<String, Fault> {
    eventing::identifier(request).ok_or_else(|| {
        Fault::eventing_invalid_message(
            "The request names no subscription: the e:Identifier header is missing. ",
        )
    })
}

/// How long expired subscriptions may linger before the server's timer ends them.
pub const EXPIRY_INTERVAL: Duration = Duration::from_secs(1);

/// End expired subscriptions every [`EXPIRY_INTERVAL`] until the source is dropped elsewhere.
pub fn spawn_expiry(source: &Arc<EventSource>) -> tokio::task::JoinHandle<()> {
    let weak = Arc::downgrade(source);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EXPIRY_INTERVAL);
        loop {
            tick.tick().await;
            let Some(source) = weak.upgrade() else {
                return;
            };
            source.expire(Timestamp::from_system_time(SystemTime::now()));
        }
    })
}
