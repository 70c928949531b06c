//! The catalog of engines: the one router. Every engine (configuration, CIM, the WinRS
//! shells, WS-Eventing on the event logs, the collector's subscription manager and
//! deliveries) says which keys it serves ([`Engine::keys`]); a request is answered by the
//! engine of its key, looked up in a map, never by comparing strings.
//!
//! A key is an (endpoint, target) pair. The endpoint is classified once from the HTTP path
//! ([`Catalog::endpoint`]: the listener's `/wsman`, or an endpoint an engine claims, such as
//! the collector's subscription manager and delivery URIs); the target from the typed
//! operation parsed with the envelope ([`Target::of`]). The daemon binary builds the catalog
//! with every engine, in one function, and hands it to the live service. A request is looked
//! up once ([`Catalog::route`]): the [`Routed`] answer carries the engine and the access that
//! engine states, to authorization and then to dispatch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wsman_proto::{Fault, Request};
use wsman_providers::Caller;

pub use crate::engine::{Access, Endpoint, EndpointKind, Family, Key, Routed, Target};
use crate::engine::{Call, Engine, Exchange, Reply, UnreadableBody};
use crate::proof::Proof;
use crate::settings::ServiceSettings;

mod full_duplex;

/// How a request arrived, as the pipeline established it.
#[derive(Clone, Copy, Debug)]
pub struct Arrival<'a> {
    pub endpoint: &'a Endpoint,
    /// The authenticated caller.
    pub caller: &'a Caller,
    /// What the credentials proved (for engines that check more than the caller's SIDs).
    pub proof: Option<&'a Proof>,
    /// The body's size as sent (unsealed, still compressed).
    pub wire_length: usize,
}

/// Every engine of the service, by key. Built once, by the daemon binary, with every engine
/// it serves; nothing adds engines afterwards.
#[derive(Default)]
pub struct Catalog {
    engines: Vec<Arc<dyn Engine>>,
    by_key: HashMap<Key, Arc<dyn Engine>>,
    /// Lookups of a request's engine, counted (`wsman_catalog_lookups_total`): a request is
    /// routed once, and a test holds it to that.
    lookups: AtomicU64,
}

impl Catalog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Serve `engine`'s keys with it. A key already served stays with its first engine
    /// (logged: two engines cannot answer one request).
    pub fn insert(&mut self, engine: impl Engine + 'static) -> &mut Self {
        let engine: Arc<dyn Engine> = Arc::new(engine);
        for key in engine.keys() {
            if self.by_key.contains_key(&key) {
                tracing::error!(?key, "two engines serve one key: keeping the first");
                continue;
            }
            self.by_key.insert(key, Arc::clone(&engine));
        }
        self.engines.push(engine);
        self
    }

    /// How many times a request's engine was looked up ([`Self::route`]).
    pub fn lookups(&self) -> u64 {
        self.lookups.load(Ordering::Relaxed)
    }

    /// The endpoint `path` is on a listener whose WS-Management path is `prefix`; `None`:
    /// nothing is served there (404).
    pub fn endpoint(&self, prefix: &str, path: &str) -> Option<Endpoint> {
        if path == prefix {
            return Some(Endpoint::WsMan);
        }
        self.engines.iter().find_map(|e| e.endpoint(prefix, path))
    }

    /// Route `request` at `endpoint` once: the engine that answers it and the access it needs
    /// under `settings`, stated by that engine (RootSDDL when no engine serves it: it is
    /// refused after authorization, as Windows does). Authorization and dispatch both use the
    /// answer.
    pub fn route(
        &self,
        endpoint: &Endpoint,
        request: &Request,
        settings: &ServiceSettings,
    ) -> Routed {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let engine = self.engine(endpoint, request).cloned();
        let access = engine
            .as_ref()
            .map_or(Access::Service, |engine| engine.access(request, settings));
        Routed { engine, access }
    }

    /// The engine answering `operation` at `endpoint`, if any.
    fn engine(&self, endpoint: &Endpoint, request: &Request) -> Option<&Arc<dyn Engine>> {
        let kind = endpoint.kind();
        if let Some(engine) = self.by_key.get(&(kind, Target::Every)) {
            return Some(engine);
        }
        let target = Target::of(request)?;
        self.by_key.get(&(kind, target)).or_else(|| match target {
            // Without an eventing engine, the subscription actions go to the resource's
            // engine, which refuses them.
            Target::Subscriptions => self.by_key.get(&(kind, Target::family_of(request)?)),
            _ => None,
        })
    }

    /// A body at `endpoint` that could not be read (SLDC, XML): the engine counts it.
    pub fn unreadable(&self, endpoint: &Endpoint, body: &UnreadableBody<'_>) {
        for engine in &self.engines {
            engine.unreadable(endpoint, body);
        }
    }

    /// SIGTERM: every engine stops waiting on outside systems ([`Engine::shutdown`]). Blocking.
    pub fn shutdown(&self) {
        for engine in &self.engines {
            engine.shutdown();
        }
    }

    /// SIGHUP: every engine reads its own configuration again. Blocking.
    pub fn reload(&self) {
        for engine in &self.engines {
            engine.reload();
        }
    }

    /// The engines' own metrics text, and the catalog's lookups.
    pub fn metrics_text(&self) -> String {
        let mut text = format!(
            "# HELP wsman_catalog_lookups_total Requests routed to their engine (one lookup each).\n\
             # TYPE wsman_catalog_lookups_total counter\n\
             wsman_catalog_lookups_total {}\n",
            self.lookups()
        );
        for engine in &self.engines {
            text.extend(engine.metrics_text());
        }
        text
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

impl Routed {
    /// Dispatch the routed request as it arrived, due by its operation budget from now (the
    /// one place a budget becomes a deadline). Faults come back as `Err` for the caller to
    /// render.
    pub async fn serve(
        &self,
        request: Arc<Request>,
        exchange: Exchange<'_>,
        arrival: Arrival<'_>,
    ) -> Result<Reply, Fault> {
        if *arrival.endpoint == Endpoint::WsMan {
            if let Some(answer) = full_duplex::answer(&request) {
                return answer;
            }
        }
        let uri = request.resource_uri.as_deref().unwrap_or("");
        let engine = self
            .engine
            .as_ref()
            .ok_or_else(|| Fault::destination_unreachable(uri))?;
        let call = Call {
            request: &request,
            exchange,
            caller: arrival.caller,
            deadline: Instant::now() + operation_budget(&request, exchange.settings),
            max_envelope: max_envelope(&request, exchange.settings),
            endpoint: arrival.endpoint,
            proof: arrival.proof,
            wire_length: arrival.wire_length,
        };
        let answer = engine.handle(call).await?;
        crate::render::reply(&request, answer, call.max_envelope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wsman_proto::envelope::SelectorSet;

    fn target(action: &str, uri: &str) -> Option<Target> {
        let mut request = Request::default();
        request.resource_uri = Some(uri.to_owned());
        request.operation =
            wsman_proto::Operation::parse(Some(action), Some(uri), &SelectorSet::default());
        Target::of(&request)
    }

    #[test]
    fn budgets_are_capped() {
        let s = ServiceSettings::default();
        let mut r = Request::default();
        assert_eq!(operation_budget(&r, &s), Duration::from_secs(60));
        r.operation_timeout = Some(Duration::from_secs(3600));
        assert_eq!(operation_budget(&r, &s), Duration::from_secs(60));
        r.operation_timeout = Some(Duration::from_secs(5));
        assert_eq!(operation_budget(&r, &s), Duration::from_secs(5));
        assert_eq!(max_envelope(&r, &s), 512_000);
        r.max_envelope_size = Some(153_600);
        assert_eq!(max_envelope(&r, &s), 153_600);
        r.max_envelope_size = Some(10_000_000);
        assert_eq!(max_envelope(&r, &s), 512_000);
    }

    #[test]
    fn every_resource_has_one_family() {
        use wsman_proto::ns::action::{ENUMERATE, GET};
        const MS: &str = "http://schemas.microsoft.com";
        const WSMAN: &str = "http://schemas.microsoft.com/wbem/wsman/1";
        const DMTF: &str = "http://schemas.dmtf.org/wbem";
        let family = |action, uri: &str, f| {
            assert_eq!(target(action, uri), Some(Target::Family(f)), "{uri}")
        };
        family(GET, &format!("{WSMAN}/config/Listener"), Family::Config);
        family(GET, &format!("{WSMAN}/windows/shell/cmd"), Family::Shell);
        // The PowerShell plug-in, bridged to pwsh by the shell engine.
        family(
            GET,
            &format!("{MS}/powershell/Microsoft.PowerShell"),
            Family::Shell,
        );
        family(
            ENUMERATE,
            &format!("{WSMAN}/windows/EventLog"),
            Family::EventLog,
        );
        for uri in [
            format!("{WSMAN}/wmi/root/cimv2/Win32_Service"),
            format!("{DMTF}/wscim/1/cim-schema/2/CIM_Processor"),
            format!("{DMTF}/wscim/1/*"),
            format!("{DMTF}/cim-xml/2/cim-schema/2/CIM_Processor"),
        ] {
            let action = if uri.ends_with('*') { ENUMERATE } else { GET };
            family(action, &uri, Family::Cim);
        }
        for uri in [
            // Classified as CIM, but no engine serves a vendor's host yet.
            "http://schemas.dell.com/wbem/wscim/1/cim-schema/2/CIM_Processor".to_owned(),
            String::new(),
            format!("{WSMAN}/windows/shell/other"),
            // No family names it.
            "urn:anything".to_owned(),
        ] {
            assert_eq!(target(GET, &uri), None, "{uri}");
        }
        assert_eq!(
            target(
                "http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe",
                "urn:anything"
            ),
            Some(Target::Subscriptions)
        );
    }
}
