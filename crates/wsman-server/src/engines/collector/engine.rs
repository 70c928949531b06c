//! The collector as an engine of the catalog, following the configuration: it is served while
//! `DIR/subscriptions` exists. At SIGHUP a directory that appeared starts it (the subscription
//! manager answers from then on, without a restart) and one that was removed stops it (its
//! paths answer 404 again, as on a host that never collected; deliveries under way finish).
//! A collector sends no SubscriptionEnd to its forwarders when it stops (a source-initiated
//! subscription is ended by its source); they find the subscription gone at their next
//! Enumerate.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use wsman_proto::enumeration::Enumerate;
use wsman_proto::ns::action;
use wsman_proto::Fault;

use super::{CollectorService, Proof};
use crate::engine::Endpoint;
use crate::engine::{Answer, Call, Refused, Reply};
use crate::engines::{paging, Services};
use crate::enumeration::{EnumerationStore, Pending};
use crate::error::ServiceError;
use wsman_providers::Caller;

/// Why the collector could not start.
#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    #[error("the collector's bookmark store: {0}")]
    Settings(#[from] wsman_collector::store::config::SettingsError),
    #[error("the collector's bookmark store: {0}")]
    Store(#[from] super::OpenError),
}

/// The collector in service, if any, as its engines share it.
pub type Running = Arc<RwLock<Option<Arc<CollectorService>>>>;

/// The collector as the daemon starts it, before the catalog and its services exist: the
/// configuration it follows and the service it runs, if any.
pub struct Collector {
    pub(crate) config_dir: PathBuf,
    /// The SQLite bookmark database when `collector.toml` names no other store.
    default_database: PathBuf,
    /// Shared with the event store's search, which serves the store of whichever collector
    /// is running.
    running: Running,
}

/// The Windows Event Collector's endpoints, served while `DIR/subscriptions` exists.
pub struct CollectorEngine {
    pub(crate) collector: Collector,
    /// Where the subscription manager's paged answers wait for the forwarder's Pulls.
    enumerations: Arc<EnumerationStore>,
}

impl Collector {
    /// The collector over `config_dir`, started when `DIR/subscriptions` exists (blocking:
    /// opens the bookmark store). A store that cannot be opened is an error at start, which
    /// stops the daemon; at a reload it is logged and the collector stays as it was.
    pub fn start(config_dir: &Path, default_database: &Path) -> Result<Self, CollectorError> {
        let collector = Self {
            config_dir: config_dir.to_owned(),
            default_database: default_database.to_owned(),
            running: Running::default(),
        };
        if collector.wanted() {
            let service = Arc::new(collector.open()?);
            service.follow_shared_subscriptions();
            collector.set(Some(service));
        }
        Ok(collector)
    }

    /// The collector in service, as the event store's search shares it.
    pub fn running(&self) -> Running {
        Arc::clone(&self.running)
    }

    /// Whether the configuration asks for a collector.
    pub(crate) fn wanted(&self) -> bool {
        self.config_dir.join("subscriptions").is_dir()
    }

    pub(crate) fn open(&self) -> Result<CollectorService, CollectorError> {
        let backend =
            wsman_collector::store::config::load(&self.config_dir, &self.default_database)?;
        Ok(CollectorService::open(&self.config_dir, &backend)?)
    }

    /// The collector in service, if any.
    pub fn current(&self) -> Option<Arc<CollectorService>> {
        self.running
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn set(&self, service: Option<Arc<CollectorService>>) {
        *self.running.write().unwrap_or_else(|p| p.into_inner()) = service;
    }
}

impl CollectorEngine {
    /// The endpoints of `collector`, its subscription manager's contexts kept in the services'
    /// store (so they count against the same limits as every other enumeration's).
    pub fn new(collector: Collector, services: &Services) -> Self {
        Self {
            collector,
            enumerations: Arc::clone(&services.enumerations),
        }
    }

    pub(crate) async fn answer(&self, call: Call<'_>) -> Result<Answer, Fault> {
        let Some(service) = self.collector.current() else {
            return Ok(Reply::Refused(Refused::NotFound).into());
        };
        let Some(proof) = call.proof.cloned() else {
            return Err(Fault::access_denied());
        };
        match call.endpoint {
            Endpoint::SubscriptionManager(uri) => self.manage(&service, uri, proof, call).await,
            Endpoint::Delivery(identifier) => service
                .handle_delivery(
                    identifier,
                    proof,
                    Arc::clone(call.request),
                    call.wire_length,
                )
                .await
                .map(Answer::Reply),
            Endpoint::WsMan => Ok(Reply::Refused(Refused::NotFound).into()),
        }
    }

    /// The subscription manager: an Enumerate's answer paged as every enumeration is (the
    /// forwarder's MaxEnvelopeSize and MaxElements, a context for the rest, as Windows'
    /// collector pages its answer), then the forwarder's Pulls and Release of that context.
    /// A context belongs to the forwarder that opened it (as its client name), not to the
    /// account it authenticated as, which several forwarders may share.
    async fn manage(
        &self,
        service: &Arc<CollectorService>,
        uri: &str,
        proof: Proof,
        call: Call<'_>,
    ) -> Result<Answer, Fault> {
        let forwarder = Caller {
            user: format!("forwarder:{}", proof.sender.client_name()),
            principal: wsman_principal::Principal::forwarder(proof.sender.client_name()),
            ..call.caller.clone()
        };
        let call = Call {
            caller: &forwarder,
            ..call
        };
        match call.request.action.as_deref() {
            Some(action::PULL) => paging::pull(&self.enumerations, call).await,
            Some(action::RELEASE) => paging::release(&self.enumerations, call),
            _ => {
                let parsed = Enumerate::parse(call.request.body.as_ref());
                let (request, base) = (Arc::clone(call.request), call.exchange.address.to_owned());
                let uri = uri.to_owned();
                let offered = service
                    .in_turn("enumerate", move |service| {
                        service.offers(&uri, &proof, &request, &base)
                    })
                    .await
                    .unwrap_or(Err(ServiceError::Unavailable));
                let items = match offered {
                    Ok(items) => items,
                    Err(error) => return reply_of(error),
                };
                let total = items.len();
                let pending = Pending::Rendered(items.into());
                paging::enumerate_response(&self.enumerations, call, &parsed?, pending, total).await
            }
        }
    }
}

/// A collector error as the engine answers it: a fault, or the bare status Windows' collector
/// gives (400 for a body it cannot read, 503 for a batch not stored).
fn reply_of(error: ServiceError) -> Result<Answer, Fault> {
    let refused = match error {
        ServiceError::Fault { fault, .. } => return Err(*fault),
        ServiceError::BadRequest { reason } => Refused::BadRequest(reason),
        ServiceError::DeliveryRefused { fault, relates_to } => {
            Refused::DeliveryRefused(fault, relates_to)
        }
        ServiceError::NotFound => Refused::NotFound,
        _ => Refused::Unavailable,
    };
    Ok(Reply::Refused(refused).into())
}
