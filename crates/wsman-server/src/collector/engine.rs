//! The collector as an engine of the catalog, following the configuration: it is served while
//! `DIR/subscriptions` exists. At SIGHUP a directory that appeared starts it (the subscription
//! manager answers from then on, without a restart) and one that was removed stops it (its
//! paths answer 404 again, as on a host that never collected; deliveries under way finish).
//! A collector sends no SubscriptionEnd to its forwarders when it stops (a source-initiated
//! subscription is ended by its source); they find the subscription gone at their next
//! Enumerate.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use wsman_proto::{Fault, Request};

use super::CollectorService;
use crate::engine::{Access, Endpoint, EndpointKind, Key, Target};
use crate::engine::{Call, Engine, Refused, Reply, ReplyFuture, UnreadableBody};
use crate::error::ServiceError;

/// Why the collector could not start.
#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    #[error("the collector's bookmark store: {0}")]
    Store(String),
}

/// The Windows Event Collector's endpoints, served while `DIR/subscriptions` exists.
pub struct CollectorEngine {
    config_dir: PathBuf,
    /// The SQLite bookmark database when `collector.toml` names no other store.
    default_database: PathBuf,
    running: RwLock<Option<Arc<CollectorService>>>,
}

impl CollectorEngine {
    /// The engine over `config_dir`, started when `DIR/subscriptions` exists (blocking: opens
    /// the bookmark store). A store that cannot be opened is an error at start, which stops
    /// the daemon; at a reload it is logged and the collector stays as it was.
    pub fn start(config_dir: &Path, default_database: &Path) -> Result<Self, CollectorError> {
        let engine = Self {
            config_dir: config_dir.to_owned(),
            default_database: default_database.to_owned(),
            running: RwLock::new(None),
        };
        if engine.wanted() {
            let service = engine.open()?;
            *engine.running.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(service));
        }
        Ok(engine)
    }

    /// Whether the configuration asks for a collector.
    fn wanted(&self) -> bool {
        self.config_dir.join("subscriptions").is_dir()
    }

    fn open(&self) -> Result<CollectorService, CollectorError> {
        let backend =
            wsman_collector::bookmarks::config::load(&self.config_dir, &self.default_database)
                .map_err(CollectorError::Store)?;
        CollectorService::open(&self.config_dir, &backend).map_err(CollectorError::Store)
    }

    /// The collector in service, if any.
    pub fn current(&self) -> Option<Arc<CollectorService>> {
        self.running
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set(&self, service: Option<Arc<CollectorService>>) {
        *self.running.write().unwrap_or_else(|p| p.into_inner()) = service;
    }

    async fn answer(&self, call: Call<'_>) -> Result<Reply, Fault> {
        let Some(service) = self.current() else {
            return Ok(Reply::Refused(Refused::NotFound));
        };
        let Some(proof) = call.proof.cloned() else {
            return Err(Fault::access_denied());
        };
        let answered = service
            .handle(
                call.endpoint,
                proof,
                Arc::clone(call.request),
                call.exchange.address,
                call.wire_length,
            )
            .await;
        match answered {
            Ok(reply) => Ok(reply),
            Err(ServiceError::Fault { fault, .. }) => Err(*fault),
            Err(ServiceError::BadRequest { reason }) => {
                Ok(Reply::Refused(Refused::BadRequest(reason)))
            }
            Err(ServiceError::NotFound) => Ok(Reply::Refused(Refused::NotFound)),
            Err(_) => Ok(Reply::Refused(Refused::Unavailable)),
        }
    }
}

impl Engine for CollectorEngine {
    fn keys(&self) -> Vec<Key> {
        vec![
            (EndpointKind::SubscriptionManager, Target::Every),
            (EndpointKind::Delivery, Target::Every),
        ]
    }

    /// Each subscription's allow list decides, in the collector.
    fn access(&self, _request: &Request) -> Access {
        Access::Engine
    }

    fn endpoint(&self, prefix: &str, path: &str) -> Option<Endpoint> {
        self.current()?.route(prefix, path)
    }

    fn handle<'a>(&'a self, call: Call<'a>) -> ReplyFuture<'a> {
        Box::pin(self.answer(call))
    }

    fn unreadable(&self, endpoint: &Endpoint, body: &UnreadableBody<'_>) {
        if let Some(service) = self.current() {
            service.refused_before_parsing(endpoint, body);
        }
    }

    fn reload(&self) {
        match (self.wanted(), self.current()) {
            (true, Some(service)) => service.reload(),
            (true, None) => match self.open() {
                Ok(service) => {
                    self.set(Some(Arc::new(service)));
                    tracing::info!(dir = %self.config_dir.display(), "collector started: subscriptions/ appeared");
                }
                Err(error) => {
                    tracing::error!(%error, "collector not started");
                }
            },
            (false, Some(_)) => {
                self.set(None);
                tracing::info!(dir = %self.config_dir.display(), "collector stopped: subscriptions/ is gone");
            }
            (false, None) => {}
        }
    }

    fn metrics_text(&self) -> Option<String> {
        self.current().map(|service| service.metrics_text())
    }
}
