//! The Windows Event Collector on the WinRM listeners: the subscription manager
//! (`/wsman/SubscriptionManager/WEC`, or a subscription's own `uris`) and the delivery
//! endpoints (`/wsman/subscriptions/<identifier>/...`), over `wsman-collector`.
//!
//! This file is the adapter: access is the engine's own, as each subscription's allow list
//! decides (a forwarder is a machine, not an administrator); the gates every request passes
//! (AllowRemoteAccess, a certificate mapping's URI) still apply first. [`engine`] follows the
//! configuration (served while `DIR/subscriptions` exists) and pages the subscription
//! manager's answer; `service` runs each delivery's decision (`wsman_collector::delivery`)
//! on the blocking pool and keeps what is the server's: the metrics, the logs and the mapping
//! of a decision to its SOAP reply or HTTP status.

pub mod engine;
mod service;

pub use service::{CollectorService, OpenError, Proof, SUBSCRIPTION_RESOURCE};

use std::sync::Arc;

use wsman_proto::Request;

use crate::engine::UnreadableBody;
use crate::engine::{Access, Call, Endpoint, EndpointKind, Engine, Key, ReplyFuture, Target};
use crate::settings::ServiceSettings;
use engine::CollectorEngine;

impl Engine for CollectorEngine {
    fn keys(&self) -> Vec<Key> {
        vec![
            (EndpointKind::SubscriptionManager, Target::Every),
            (EndpointKind::Delivery, Target::Every),
        ]
    }

    /// Each subscription's allow list decides, in the collector (after AllowRemoteAccess and a
    /// certificate mapping's URI, which the pipeline checks for every engine).
    fn access(&self, _request: &Request, _settings: &ServiceSettings) -> Access {
        Access::Engine
    }

    fn endpoint(&self, prefix: &str, path: &str) -> Option<Endpoint> {
        self.collector.current()?.route(prefix, path)
    }

    fn handle<'a>(&'a self, call: Call<'a>) -> ReplyFuture<'a> {
        Box::pin(self.answer(call))
    }

    fn unreadable(&self, endpoint: &Endpoint, body: &UnreadableBody<'_>) {
        if let Some(service) = self.collector.current() {
            service.refused_before_parsing(endpoint, body);
        }
    }

    fn reload(&self) {
        match (self.collector.wanted(), self.collector.current()) {
            (true, Some(service)) => service.reload(),
            (true, None) => match self.collector.open() {
                Ok(service) => {
                    let service = Arc::new(service);
                    service.follow_shared_subscriptions();
                    self.collector.set(Some(service));
                    tracing::info!(dir = %self.collector.config_dir.display(), "collector started: subscriptions/ appeared");
                }
                Err(error) => {
                    tracing::error!(%error, "collector not started");
                }
            },
            (false, Some(_)) => {
                self.collector.set(None);
                tracing::info!(dir = %self.collector.config_dir.display(), "collector stopped: subscriptions/ is gone");
            }
            (false, None) => {}
        }
    }

    /// The outputs hand back what they hold (a Kafka producer's queued and in-flight
    /// messages), so deliveries in flight are answered 503 and resent, not held to the stop.
    fn shutdown(&self) {
        if let Some(service) = self.collector.current() {
            service.stop_outputs();
        }
    }

    fn metrics_text(&self) -> Option<String> {
        self.collector
            .current()
            .map(|service| service.metrics_text())
    }
}
