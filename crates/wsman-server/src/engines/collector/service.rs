//! The collector in service: the subscriptions served, the bookmark store, the outputs, and
//! what the server keeps of each delivery.
//!
//! These paths pass the same guards as `/wsman` (size, authentication, body read and
//! unsealing); then, instead of RootSDDL, each subscription's own allow list decides (a
//! forwarder is a machine, not an administrator). A delivery is acknowledged only after every
//! output of its subscription has the new events on disk and the forwarder's bookmark is
//! stored; an output that fails is answered 503, and the forwarder resends the batch.
//!
//! The whole of a delivery is decided by `wsman_collector::delivery::deliver` on the blocking
//! pool (claim the forwarder's bookmark, write the events it has not seen, commit the new
//! bookmark, under the lock of its (client, subscription)); the store's claim also holds the
//! forwarder against other collectors sharing a PostgreSQL store, so a delivery refused there
//! has written nothing. Here the decision becomes the Ack, a fault or a 503, with its metrics
//! and its rate-limited log line.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use wsman_collector::delivery::{self, Collector, Forwarder, Outcome, PairLocks, Stored};
use wsman_collector::fleet::{self, LastSeen};
use wsman_collector::manager;
use wsman_collector::store::events::EventStore;
use wsman_collector::store::{self, Backend, Liveness, Store};
use wsman_collector::subscription_outputs::Outputs;
use wsman_collector::subscription_source::{SubscriptionSource, POLL_INTERVAL};
use wsman_collector::subscriptions::{self, SubscriptionSet};
use wsman_events::Timestamp;
use wsman_proto::{ns, Fault, Request};

use crate::auth::Principal;
use crate::engine::{Endpoint, UnreadableBody};
use crate::engine::{Refused, Reply};
use crate::error::ServiceError;
use crate::metrics::collector::{ClientCensus, CollectorMetrics, Refusal};
pub use crate::proof::Proof;
use wsman_proto::response::new_message_id;

/// The resource URI a forwarder enumerates.
pub const SUBSCRIPTION_RESOURCE: &str = wsman_proto::ns::SUBSCRIPTION_RESOURCE;

/// The collector: subscriptions, the bookmark store and the outputs.
pub struct CollectorService {
    /// The files of `DIR/subscriptions` and, with the bookmarks in PostgreSQL, the stored
    /// subscriptions (a stored one wins over a file of its name).
    source: SubscriptionSource,
    subscriptions: RwLock<Arc<SubscriptionSet>>,
    store: Arc<dyn Store>,
    outputs: Outputs,
    /// One lock per (client, subscription) with a delivery under way ([`delivery`]).
    pairs: PairLocks,
    metrics: CollectorMetrics,
    body_refusals: wsman_collector::refusal_log::BodyRefusalLog,
    /// Refused subscriptions, logged once per refusal and minute (a shared store's set may be
    /// read again every poll).
    load_refusals: wsman_collector::refusal_log::SubscriptionRefusalLog,
    /// Each forwarder's last event and heartbeat, so a scrape reads no database.
    last_seen: LastSeen,
    /// Heartbeat intervals of silence before a forwarder counts as silent.
    silent_after: u32,
    /// Each subscription's Enumerate item, rendered once per version, delivery base and
    /// authentication ([`manager::ItemTemplate`]).
    templates: Mutex<HashMap<TemplateKey, Arc<manager::ItemTemplate>>>,
    /// How many templates were rendered: a reload that changes no version renders none.
    templates_built: std::sync::atomic::AtomicU64,
    /// When a store shared with other collectors was last read for [`Self::last_seen`];
    /// `None` for a store only this collector writes.
    shared_read: Option<Mutex<std::time::Instant>>,
    /// The event store in the bookmarks' database, SQLite or PostgreSQL (searched at
    /// `/wsman`: [`crate::engines::event_store`]).
    events: Option<Arc<EventStore>>,
    /// Turns on the blocking pools ([`BLOCKING_AT_ONCE`]).
    turns: Arc<tokio::sync::Semaphore>,
}

/// Most deliveries and Enumerates worked on at once, each holding a blocking thread; the
/// others wait for a turn without one. Why: they block while the store or an output is slow,
/// and a blocking pool grows a thread for each request that waits, up to 512 per connection
/// worker, then keeps them (its idle threads are woken in turn, so none stays idle long enough
/// to end): in the hour at load one stall of the store grew the pools from 110 threads to 376,
/// and the collector's RSS by 57 MB, for the rest of the run. Twice an output's in-flight
/// budget, so an output that is down still answers its 503s at once while others keep storing.
pub(super) const BLOCKING_AT_ONCE: usize = 2 * wsman_outputs::MAX_IN_FLIGHT_BATCHES;

/// Why the collector's bookmark store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{}: {source}", .path.display())]
    Directory {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// `DIR/collector.toml` is refused (boxed: its errors are large).
    #[error(transparent)]
    Settings(Box<store::config::SettingsError>),
}

/// What an Enumerate item is rendered for: subscription identifier and version, the base the
/// forwarder addressed, how it must authenticate its deliveries.
type TemplateKey = (String, String, String, manager::DeliveryAuth);

/// The most templates kept: a subscription is offered under as many bases as the names
/// forwarders address the collector by, so past this (a client making names up) the cache
/// starts over rather than grow.
const MAX_TEMPLATES: usize = 1024;

impl std::fmt::Debug for CollectorService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollectorService")
            .field("shared", &self.source.is_shared())
            .finish_non_exhaustive()
    }
}

impl CollectorService {
    /// Subscriptions from `DIR/subscriptions`, bookmarks in the store `backend` names (the
    /// SQLite file's directory is created).
    pub fn open(config_dir: &Path, backend: &Backend) -> Result<CollectorService, OpenError> {
        if let Backend::Sqlite { path } = backend {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|source| OpenError::Directory {
                    path: parent.to_owned(),
                    source,
                })?;
            }
        }
        let silent_after = store::config::silent_after(config_dir)
            .map_err(|e| OpenError::Settings(Box::new(e)))?;
        let store_settings = store::config::store_settings(config_dir)
            .map_err(|e| OpenError::Settings(Box::new(e)))?;
        let secret_bindings = store::config::secret_bindings(config_dir)
            .map_err(|e| OpenError::Settings(Box::new(e)))?;
        let (store, shared, events): (Arc<dyn Store>, _, _) = match backend {
            Backend::Postgres(settings) => {
                let postgres = Arc::new(store::PostgresStore::open(settings)?);
                let events = postgres.events(store_settings)?;
                (Arc::clone(&postgres) as _, Some(postgres), Some(events))
            }
            Backend::Sqlite { path } => {
                let settings = store_settings;
                let sqlite = Arc::new(store::SqliteStore::open(path)?);
                let events = sqlite.events(path, settings)?;
                (sqlite as _, None, Some(events))
            }
        };
        let shared_read =
            matches!(backend, Backend::Postgres(_)).then(|| Mutex::new(std::time::Instant::now()));
        let service = CollectorService {
            source: SubscriptionSource::new(config_dir.join("subscriptions"), shared),
            subscriptions: RwLock::new(Arc::new(SubscriptionSet::default())),
            store,
            outputs: Outputs::with_secrets(config_dir.join("secrets"), secret_bindings)
                .with_group_lookup(group_id),
            pairs: PairLocks::default(),
            metrics: CollectorMetrics::default(),
            body_refusals: Default::default(),
            turns: Arc::new(tokio::sync::Semaphore::new(BLOCKING_AT_ONCE)),
            load_refusals: Default::default(),
            last_seen: LastSeen::default(),
            templates: Mutex::new(HashMap::new()),
            templates_built: Default::default(),
            silent_after,
            shared_read,
            events,
        };
        service.reload();
        Ok(service)
    }

    /// The event store, in the bookmarks' database.
    pub fn event_store(&self) -> Option<&Arc<EventStore>> {
        self.events.as_ref()
    }

    /// Read the subscriptions again (the files, and the shared store's), set up their outputs
    /// (Kafka producers of unchanged clusters are kept) and reopen the output files (SIGHUP).
    pub fn reload(&self) {
        self.serve_set(self.source.load());
        self.outputs.reopen();
    }

    /// With a shared store, follow its subscriptions: a thread reads the generation every
    /// `POLL_INTERVAL` and serves the set again when it moved; it ends once the service is
    /// dropped (a reload that stopped the collector).
    pub fn follow_shared_subscriptions(self: &Arc<Self>) {
        if !self.source.is_shared() {
            return;
        }
        let service = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("wec-subscriptions".to_owned())
            .spawn(move || loop {
                std::thread::sleep(POLL_INTERVAL);
                let Some(service) = service.upgrade() else {
                    return;
                };
                if service.source.changed() {
                    service.serve_set(service.source.load());
                }
            });
        if let Err(error) = spawned {
            tracing::error!(%error, "collector: cannot follow the shared subscriptions (changes are taken at a reload only)");
        }
    }

    /// Shutdown: the outputs hand back what they hold ([`Outputs::stop`]).
    pub fn stop_outputs(&self) {
        self.outputs.stop();
    }

    /// Serve `set`: its outputs set up, its problems logged.
    fn serve_set(&self, set: SubscriptionSet) {
        for error in &set.errors {
            let error = error.to_string();
            if let Some(repeats) = self.load_refusals.admit(&error) {
                tracing::error!(%error, repeats, "subscription not loaded");
            }
        }
        for problem in self.outputs.configure(&set) {
            tracing::error!(%problem, "collector output not started: its batches are answered 503");
        }
        tracing::info!(
            subscriptions = set.subscriptions.len(),
            enabled = set.subscriptions.iter().filter(|s| s.enabled).count(),
            "collector subscriptions loaded"
        );
        *self
            .subscriptions
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
        self.read_last_seen(false);
        let set = self.current();
        self.templates
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(identifier, version, _, _), _| {
                set.by_identifier(identifier)
                    .is_some_and(|s| s.version == *version)
            });
    }

    /// Read the forwarders' times from the store into [`Self::last_seen`]: of every
    /// subscription when `all`, else of those not read yet (at start, and those a reload
    /// added); removed subscriptions are forgotten.
    fn read_last_seen(&self, all: bool) {
        let set = self.current();
        self.last_seen
            .retain(|name| set.subscriptions.iter().any(|s| s.name == name));
        for subscription in &set.subscriptions {
            if !all && self.last_seen.seeded(&subscription.name) {
                continue;
            }
            match self.store.clients(&subscription.name) {
                Ok(clients) => self.last_seen.seed(&subscription.name, &clients),
                Err(error) => {
                    tracing::warn!(%error, subscription = %subscription.name, "collector: forwarders' last times not read from the bookmark store (read again at the next scrape)");
                }
            }
        }
    }

    /// The collector's metrics ([`crate::metrics::collector`]), forwarders by state as they
    /// are now, from memory: the store is read only for subscriptions not read yet, and, when
    /// other collectors share it, at most once per [`fleet::SHARED_RESYNC`].
    pub fn metrics_text(&self) -> String {
        let resync = self.shared_read.as_ref().is_some_and(|last| {
            let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
            let due = last.elapsed() >= fleet::SHARED_RESYNC;
            if due {
                *last = std::time::Instant::now();
            }
            due
        });
        self.read_last_seen(resync);
        let set = self.current();
        let now = Timestamp::from_system_time(std::time::SystemTime::now());
        let mut census: ClientCensus = Vec::new();
        let mut silent = Vec::new();
        for subscription in &set.subscriptions {
            let counted = self.last_seen.census(
                &subscription.name,
                subscription.heartbeat,
                self.silent_after,
                now,
            );
            for (state, count) in Liveness::ALL.iter().zip(counted.by_state) {
                census.push(((subscription.name.clone(), state.as_str()), count));
            }
            silent.push((subscription.name.clone(), counted.silent));
        }
        let built = self
            .templates_built
            .load(std::sync::atomic::Ordering::Relaxed);
        self.metrics.render(&census, &silent, built)
    }

    /// Count a delivery refused before it reached [`Self::handle_delivery`] (undecodable SLDC, a body
    /// that does not decode or parse), and log it once per forwarder and interval.
    pub fn refused_before_parsing(&self, endpoint: &Endpoint, body: &UnreadableBody<'_>) {
        let path = match endpoint {
            Endpoint::Delivery(subscription) => {
                self.metrics.refused(None, body.reason);
                subscription.as_str()
            }
            Endpoint::SubscriptionManager(uri) => uri.as_str(),
            Endpoint::WsMan => return,
        };
        let forwarder = body.forwarder;
        if let Some(left_out) = self.body_refusals.admit(&forwarder.to_string()) {
            tracing::warn!(forwarder = %forwarder, remote = %body.remote, endpoint = %path, reason = %body.why, not_logged_since = left_out, "collector: body refused (400), nothing of it stored");
        }
    }

    /// Log a delivery refused once its body was read (not a delivery, an unknown or stale
    /// subscription, a forged or doubled `Computer`, a forwarder the subscription does not
    /// allow): once per forwarder, kind of refusal and interval, with who sent it and why, so
    /// a forwarder resending a refused batch leaves a line a minute, not one per batch, and a
    /// forgery is not hidden behind a stale version. Every refusal is counted in the metrics.
    fn log_refused(
        &self,
        forwarder: &Principal,
        remote: Option<std::net::IpAddr>,
        client: &str,
        subscription: &str,
        why: Refusal,
        reason: &str,
    ) {
        let key = format!("{forwarder}\u{0}{why:?}");
        let remote = remote.map_or(String::new(), |r| r.to_string());
        if let Some(left_out) = self.body_refusals.admit(&key) {
            tracing::warn!(forwarder = %forwarder, %remote, client = %client, subscription, refusal = ?why, %reason, not_logged_since = left_out, "collector: delivery refused, nothing of it stored");
            // Kept for `wsmand wec clients` and `doctor`, as often as it is logged: the
            // forwarder's own host may be one nobody reads.
            let name = self
                .current()
                .by_identifier(subscription)
                .map_or_else(|| subscription.to_owned(), |s| s.name.clone());
            let now = Timestamp::from_system_time(std::time::SystemTime::now());
            if let Err(error) = self.store.refused(client, &name, reason, now) {
                tracing::error!(%error, "collector: the refusal could not be noted in the bookmark store");
            }
        }
    }

    fn current(&self) -> Arc<SubscriptionSet> {
        Arc::clone(&self.subscriptions.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The collector endpoint `path` is under the listener's `prefix` (`/wsman`), if any.
    pub fn route(&self, prefix: &str, path: &str) -> Option<Endpoint> {
        if let Some(rest) = path
            .strip_prefix(prefix)
            .and_then(|r| r.strip_prefix("/subscriptions/"))
        {
            let identifier = rest.split('/').next().unwrap_or("");
            return (!identifier.is_empty()).then(|| Endpoint::Delivery(identifier.to_owned()));
        }
        let set = self.current();
        if path.eq_ignore_ascii_case(subscriptions::DEFAULT_URI)
            || set
                .subscriptions
                .iter()
                .any(|s| s.uris.iter().any(|u| u.eq_ignore_ascii_case(path)))
        {
            return Some(Endpoint::SubscriptionManager(path.to_owned()));
        }
        None
    }

    /// Store one delivery to the subscription `identifier` (on the blocking pool: the
    /// bookmark store and the outputs block) and answer it.
    pub async fn handle_delivery(
        self: &Arc<Self>,
        identifier: &str,
        proof: Proof,
        request: Arc<Request>,
        body_bytes: usize,
    ) -> Result<Reply, Fault> {
        let identifier = identifier.to_owned();
        self.in_turn("delivery", move |this| {
            let principal = Arc::clone(&proof.principal);
            this.deliver(&identifier, &proof, &principal, &request, body_bytes)
        })
        .await
        // 503, as for a batch not stored: the forwarder resends.
        .unwrap_or(Ok(Reply::Refused(Refused::Unavailable)))
    }

    /// Run `work` (the store's and the outputs' blocking calls) on the blocking pool once one
    /// of the [`BLOCKING_AT_ONCE`] turns is free; `None`, logged, when it failed (panicked).
    pub(crate) async fn in_turn<T: Send + 'static>(
        self: &Arc<Self>,
        what: &'static str,
        work: impl FnOnce(&Arc<Self>) -> T + Send + 'static,
    ) -> Option<T> {
        // The semaphore is never closed.
        let turn = Arc::clone(&self.turns).acquire_owned().await.ok()?;
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            work(&this)
        })
        .await
        .map_err(|error| tracing::error!(%error, "collector {what} task failed"))
        .ok()
    }

    fn allowed(
        &self,
        subscription: &subscriptions::Subscription,
        proof: &Proof,
        principal: &Principal,
    ) -> bool {
        let client = proof.sender.client_name();
        subscription.allows(&client, |group| in_group(principal, group))
    }

    /// Whether the forwarder's address (as the connection proved it: behind a trusted balancer,
    /// its PROXY header's) is one `subscription` allows; a refusal is logged.
    fn address_allowed(
        &self,
        subscription: &subscriptions::Subscription,
        proof: &Proof,
        client: &str,
        what: &str,
    ) -> bool {
        if subscription.allows_address(proof.remote) {
            return true;
        }
        self.log_address_refused(proof, client, &subscription.name, what);
        false
    }

    /// A forwarder's address refused by `subscription`: logged once per forwarder, address
    /// and interval, naming that address.
    fn log_address_refused(&self, proof: &Proof, client: &str, subscription: &str, what: &str) {
        let remote = proof.remote.map_or(String::new(), |r| r.to_string());
        let key = format!("{client}\u{0}address\u{0}{remote}");
        if let Some(left_out) = self.body_refusals.admit(&key) {
            tracing::warn!(client = %client, %remote, subscription = %subscription, not_logged_since = left_out, "collector: {what}: the forwarder's address is not in the subscription's allowed_addresses");
        }
    }

    /// The subscriptions the subscription manager at `uri` offers this forwarder, each a
    /// rendered `m:Subscription` item with its stored bookmark (blocking: reads the store).
    /// Anything but an Enumerate of the subscriptions is refused here: the engine pages the
    /// items and serves the Pulls and Releases of the context.
    pub(crate) fn offers(
        &self,
        uri: &str,
        proof: &Proof,
        request: &Request,
        base: &str,
    ) -> Result<Vec<String>, ServiceError> {
        let principal = &proof.principal;
        let relates_to = request.message_id.as_deref();
        if request.action.as_deref() != Some(ns::action::ENUMERATE)
            || !request
                .resource_uri
                .as_deref()
                .is_some_and(|r| r.eq_ignore_ascii_case(SUBSCRIPTION_RESOURCE))
        {
            tracing::warn!(user = %principal, action = request.action.as_deref().unwrap_or(""), "collector: only Enumerate of the subscriptions is served at the subscription manager");
            return Err(ServiceError::fault(
                Fault::action_not_supported(request.action.as_deref().unwrap_or("")),
                relates_to,
            ));
        }
        let client = proof.sender.client_name();
        let set = self.current();
        let mut items = Vec::new();
        let remote = proof.remote.map_or(String::new(), |r| r.to_string());
        for subscription in set.subscriptions.iter().filter(|s| {
            s.enabled
                && (s.uris.iter().any(|u| u.eq_ignore_ascii_case(uri)))
                && self.allowed(s, proof, principal)
                && self.address_allowed(s, proof, &client, "not offered")
        }) {
            let bookmark = self.store.load(&client, &subscription.name).map_err(|e| {
                // Once per subscription and interval: with the database down every forwarder's
                // every Enumerate fails, and a fleet must not write a line each.
                let key = format!("{}\u{0}enumerate", subscription.name);
                if let Some(left_out) = self.body_refusals.admit(&key) {
                    tracing::error!(error = %e, subscription = %subscription.name, not_logged_since = left_out, "collector: subscriptions not offered (503: the bookmark store is unavailable)");
                }
                ServiceError::Unavailable
            })?;
            let message_id = new_message_id();
            let operation_id = new_message_id();
            let template = self.template(subscription, base, &proof.auth);
            items.push(template.render(bookmark.as_ref(), &message_id, &operation_id));
        }
        // Debug, not info: every forwarder enumerates at each connection and refresh, so a
        // fleet writes thousands a minute (1.07 million lines in the hour at load).
        tracing::debug!(client = %client, %remote, subscriptions = items.len(), "collector: subscriptions enumerated");
        Ok(items)
    }

    /// `subscription`'s Enumerate item for `base` and `auth`, rendered at its first offer
    /// after a change of version.
    fn template(
        &self,
        subscription: &subscriptions::Subscription,
        base: &str,
        auth: &manager::DeliveryAuth,
    ) -> Arc<manager::ItemTemplate> {
        let key = (
            subscription.identifier.clone(),
            subscription.version.clone(),
            base.to_owned(),
            auth.clone(),
        );
        let mut templates = self.templates.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(template) = templates.get(&key) {
            return Arc::clone(template);
        }
        if templates.len() >= MAX_TEMPLATES {
            templates.clear();
        }
        self.templates_built
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let template = Arc::new(manager::ItemTemplate::new(subscription, base, auth));
        templates.insert(key, Arc::clone(&template));
        template
    }

    /// Decide the delivery ([`delivery::deliver`]) and answer it, once: the Ack, a refusal
    /// (400 with `w:DeliveryRefused`, or 503), or `w:AccessDenied`; count it and log what was
    /// refused or not stored.
    fn deliver(
        &self,
        identifier: &str,
        proof: &Proof,
        principal: &Principal,
        request: &Request,
        body_bytes: usize,
    ) -> Result<Reply, Fault> {
        let client = proof.sender.client_name();
        let set = self.current();
        let in_group = |group: &str| in_group(principal, group);
        let now = Timestamp::from_system_time(std::time::SystemTime::now());
        let decision = delivery::deliver(
            &Collector {
                subscriptions: &set,
                store: self.store.as_ref(),
                outputs: &self.outputs,
                pairs: &self.pairs,
            },
            identifier,
            request,
            &Forwarder {
                sender: &proof.sender,
                remote: proof.remote,
                in_group: &in_group,
            },
            now,
        );
        let name = decision.subscription.as_deref();
        if let (Some(name), Some(events)) = (name, decision.received) {
            self.metrics.received(name, events, body_bytes);
        }
        for (output, elapsed, ok) in &decision.writes {
            self.metrics
                .output_write(name.unwrap_or_default(), output, *elapsed, *ok);
        }
        match decision.outcome {
            Outcome::Acknowledged { message_id, stored } => {
                let name = name.unwrap_or_default();
                self.acknowledged(&client, name, &stored, now);
                let ack = wsman_events::delivery::ack_envelope(
                    &message_id,
                    &wsman_proto::response::new_message_id(),
                );
                Ok(Reply::Envelope(ack))
            }
            Outcome::Refused { why, reason } => {
                self.metrics.refused(name, why);
                self.log_refused(principal, proof.remote, &client, identifier, why, &reason);
                Ok(Reply::Refused(Refused::DeliveryRefused(
                    Box::new(Fault::delivery_refused(reason)),
                    request.message_id.clone(),
                )))
            }
            Outcome::Denied { why, reason } => {
                self.metrics.refused(name, why);
                if why == Refusal::AddressNotAllowed {
                    self.log_address_refused(
                        proof,
                        &client,
                        name.unwrap_or_default(),
                        "delivery refused",
                    );
                } else {
                    self.log_refused(principal, proof.remote, &client, identifier, why, &reason);
                }
                Err(Fault::access_denied())
            }
            Outcome::Unavailable { why, error } => {
                // Once per subscription, kind and interval: a full disk or a saturated output
                // refuses every forwarder's every batch, and 10,000 forwarders must not write
                // a line each.
                let name = name.unwrap_or_default();
                let key = format!("{name}\u{0}{why:?}");
                if let Some(left_out) = self.body_refusals.admit(&key) {
                    tracing::error!(client = %client, subscription = %name, %error, not_logged_since = left_out, "collector: batch not stored (503: the forwarder resends)");
                }
                self.metrics.refused(Some(name), why);
                Ok(Reply::Refused(Refused::Unavailable))
            }
        }
    }

    /// What an acknowledged delivery leaves in memory and the logs.
    fn acknowledged(&self, client: &str, name: &str, stored: &Stored, now: Timestamp) {
        match *stored {
            Stored::Heartbeat => {
                self.last_seen.heartbeat(name, client, now);
                self.metrics.heartbeat(name);
            }
            Stored::SubscriptionEnd => {
                tracing::info!(client = %client, subscription = %name, "collector: the forwarder ended its subscription");
            }
            Stored::Events {
                new,
                already_stored,
            } => {
                self.last_seen.event(name, client, now);
                self.metrics.acknowledged(name, new);
                if already_stored > 0 {
                    // A resent or replayed batch: worth seeing, since a forwarder that keeps
                    // resending what was stored has lost its acknowledgements or its cursor.
                    tracing::info!(client = %client, subscription = %name, already_stored, new, "collector: events already stored were not written again");
                }
                tracing::debug!(client = %client, subscription = %name, events = new + already_stored, new, "collector: batch stored");
            }
        }
    }
}

/// The gid of group `name` (a file output's `group`), as the daemon looks groups up.
fn group_id(name: &str) -> std::io::Result<Option<u32>> {
    wsman_os::group_id(name).map_err(std::io::Error::other)
}

/// Whether the Linux account `principal` logged in as is a member of `group` (a
/// subscription's `allowed_groups`).
fn in_group(principal: &Principal, group: &str) -> bool {
    principal
        .identity
        .linux_user
        .as_deref()
        .and_then(|user| wsman_os::lookup_user(user).ok().flatten())
        .is_some_and(|user| wsman_os::is_member_of_group(&user, group).unwrap_or(false))
}
