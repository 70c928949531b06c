//! The search of the collector's event store at `/wsman` (`docs/event-search.md`): Enumerate
//! of the events (newest first, or a tail after a cursor) and of the histogram with the
//! store's filter dialect, paged as every enumeration is; Get of one event's XML and of the
//! cursor. Access is the Read right of the store's own descriptor: `[store] sddl` of
//! `collector.toml`, else the administrators and the event readers group
//! ([`wsman_config::default_event_store_sddl`]); never EventLogSDDL nor RootSDDL, which are
//! widened for other reasons. The store is read a page at a time on the blocking pool.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use wsman_collector::store::events::{Bucket, EventRow, EventStore, Position, Search};
use wsman_config::SecurityDescriptor;
use wsman_front::refusals::IntervalLog;
use wsman_proto::enumeration::{Enumerate, EnumerationMode};
use wsman_proto::fault::SelectorProblem;
use wsman_proto::ns::{action, event_store as uris};
use wsman_proto::xml::escape_text;
use wsman_proto::{Fault, Request};
use wsman_providers::{Item, ItemSource};

use crate::access::{access_for, Required};
use crate::engine::{Access, Answer, Call, EndpointKind, Engine, Family, Key, ReplyFuture, Target};
use crate::engines::paging;
use crate::engines::Services;
use crate::enumeration::{EnumerationStore, LazyItems, Pending};
use crate::error::{blocking_fault, filter_fault, store_query_fault, BlockingWork};
use crate::settings::ServiceSettings;

/// Results read from the store at once while a client pages.
const READ_AHEAD: usize = 100;

/// Where the search finds the event store of whichever collector is running now: the
/// composition root (the daemon's catalog) hands it in, so this engine imports nothing of the
/// collector's engine.
pub type StoreSource = Arc<dyn Fn() -> Option<Arc<EventStore>> + Send + Sync>;

/// The store's search, over whichever collector is running.
pub struct EventSearchEngine {
    store: StoreSource,
    enumerations: Arc<EnumerationStore>,
    /// Bad filters logged: at most one line per minute, with how many there were.
    refusals: IntervalLog,
}

impl EventSearchEngine {
    /// The search of the store `store` gives at each request, its contexts in the shared
    /// enumeration store.
    pub fn new(store: StoreSource, services: &Services) -> Self {
        Self {
            store,
            enumerations: Arc::clone(&services.enumerations),
            refusals: IntervalLog::new(Duration::from_secs(60)),
        }
    }

    fn store(&self) -> Option<Arc<EventStore>> {
        (self.store)()
    }

    /// `[store] sddl`: `None` when unset; a text that does not parse denies everyone.
    fn descriptor(&self) -> Option<Arc<SecurityDescriptor>> {
        let text = self.store()?.settings().sddl.clone()?;
        Some(Arc::new(SecurityDescriptor::parse(&text).unwrap_or_else(
            |error| {
                tracing::error!(%error, "[store] sddl does not parse: every search is refused");
                SecurityDescriptor::parse("O:NSG:BAD:P").expect("an empty DACL parses")
            },
        )))
    }

    fn log_refused(&self, call: &Call<'_>, fault: &Fault) {
        if let Some(refused) = self.refusals.note() {
            let user = call.caller.user.as_str();
            tracing::warn!(user, reason = %fault.message, refused, "event store: search refused");
        }
    }

    async fn answer(&self, call: Call<'_>) -> Result<Answer, Fault> {
        let uri = call.request.resource_uri.as_deref().unwrap_or("");
        let Some(store) = self.store() else {
            return Err(Fault::destination_unreachable(uri));
        };
        let is = |u: &str| uri.eq_ignore_ascii_case(u);
        let action = call.request.action.as_deref().unwrap_or("");
        let answered = match action {
            action::PULL => return paging::pull(&self.enumerations, call).await,
            action::RELEASE => return paging::release(&self.enumerations, call),
            action::ENUMERATE if is(uris::EVENTS) => self.events(store, call).await,
            action::ENUMERATE if is(uris::HISTOGRAM) => self.histogram(store, call).await,
            action::GET if is(uris::EVENTS) => get_event(store, call).await,
            action::GET if is(uris::CURSOR) => get_cursor(store, call).await,
            other => Err(Fault::action_not_supported(other)),
        };
        if let Err(fault) = &answered {
            self.log_refused(&call, fault);
        }
        answered
    }

    async fn events(&self, store: Arc<EventStore>, call: Call<'_>) -> Result<Answer, Fault> {
        let parsed = Enumerate::parse(call.request.body.as_ref())?;
        let search = search_of(&parsed)?.for_events().map_err(filter_fault)?;
        let position = Position::start(&search);
        let first = blocking(move || {
            let rows = store.page(&search, position, READ_AHEAD)?;
            Ok((store, search, rows))
        })
        .await?;
        let (store, search, rows) = first;
        let source = Pages::new(store, search, position, rows);
        let request = Arc::clone(call.request);
        let (mode, address) = (parsed.mode, call.exchange.address.to_owned());
        let render: crate::enumeration::Render = Box::new(move |item, _| {
            Ok(Some(paging::render_item(
                &request, item, mode, &address, None,
            )))
        });
        let pending = Pending::Lazy(LazyItems::new(Box::new(source), render));
        paging::enumerate_response(&self.enumerations, call, &parsed, pending, 0).await
    }

    async fn histogram(&self, store: Arc<EventStore>, call: Call<'_>) -> Result<Answer, Fault> {
        let parsed = Enumerate::parse(call.request.body.as_ref())?;
        if parsed.mode != EnumerationMode::Object {
            return Err(Fault::unsupported_feature(
                "EnumerationMode",
                "The histogram's buckets have no references: enumerate them as objects. ",
            ));
        }
        let search = search_of(&parsed)?.for_histogram().map_err(filter_fault)?;
        let buckets = blocking(move || store.histogram(&search)).await?;
        let rendered: VecDeque<String> = buckets.iter().map(bucket_xml).collect();
        paging::enumerate_rendered(&self.enumerations, call, &parsed, rendered).await
    }
}

/// The search of an Enumerate's filter (every event without one).
fn search_of(parsed: &Enumerate) -> Result<Search, Fault> {
    let Some(filter) = &parsed.filter else {
        return Ok(Search::default());
    };
    let dialect = filter.dialect.as_deref().unwrap_or("");
    if !dialect.eq_ignore_ascii_case(uris::DIALECT) {
        return Err(Fault::filter_dialect_unavailable(dialect));
    }
    Search::from_filter(&filter.element).map_err(filter_fault)
}

/// `work` on the blocking pool; a store error is `w:InternalError` (logged).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, wsman_collector::store::events::StoreQueryError> + Send + 'static,
) -> Result<T, Fault> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| blocking_fault(e, BlockingWork::EventStoreSearch))?
        .map_err(store_query_fault)
}

/// The one `Id` selector of a Get.
fn id_of(request: &Request) -> Result<i64, Fault> {
    let selectors = &request.selectors.0;
    let [selector] = selectors.as_slice() else {
        return Err(Fault::invalid_selectors(
            if selectors.is_empty() {
                SelectorProblem::Insufficient
            } else {
                SelectorProblem::Unexpected
            },
            "A stored event is named by its Id selector alone. ",
        ));
    };
    if !selector.name.eq_ignore_ascii_case(uris::ID_SELECTOR) {
        return Err(Fault::invalid_selectors(
            SelectorProblem::Unexpected,
            "A stored event is named by its Id selector alone. ",
        ));
    }
    request
        .selectors
        .get(uris::ID_SELECTOR)
        .and_then(|id| id.trim().parse::<i64>().ok())
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            Fault::invalid_selectors(
                SelectorProblem::InvalidValue,
                "The Id of a stored event is a number. ",
            )
        })
}

async fn get_event(store: Arc<EventStore>, call: Call<'_>) -> Result<Answer, Fault> {
    let id = id_of(call.request)?;
    let xml = blocking(move || store.event_xml(id)).await?;
    let xml = xml.ok_or_else(Fault::resource_not_found)?;
    Ok(Answer::body(action::GET_RESPONSE, xml))
}

async fn get_cursor(store: Arc<EventStore>, call: Call<'_>) -> Result<Answer, Fault> {
    if !call.request.selectors.0.is_empty() {
        return Err(Fault::invalid_selectors(
            SelectorProblem::Unexpected,
            "The cursor has no selectors. ",
        ));
    }
    let id = blocking(move || store.cursor()).await?;
    let body = format!(
        "<q:Cursor xmlns:q=\"{}\"><q:Id>{id}</q:Id></q:Cursor>",
        uris::NS
    );
    Ok(Answer::body(action::GET_RESPONSE, body))
}

/// One result as the contract writes it.
fn event_xml(row: &EventRow) -> String {
    let mut out = format!(
        "<q:Event xmlns:q=\"{}\"><q:Id>{}</q:Id><q:TimeCreated>{}</q:TimeCreated><q:Computer>{}</q:Computer><q:Channel>{}</q:Channel>",
        uris::NS,
        row.id,
        row.event_time.unwrap_or(row.time).to_system_time(),
        escape_text(&row.computer),
        escape_text(&row.channel),
    );
    if let Some(level) = row.level {
        out.push_str(&format!("<q:Level>{level}</q:Level>"));
    }
    if let Some(id) = row.event_id {
        out.push_str(&format!("<q:EventID>{id}</q:EventID>"));
    }
    if let Some(provider) = &row.provider {
        out.push_str(&format!(
            "<q:Provider>{}</q:Provider>",
            escape_text(provider)
        ));
    }
    out.push_str(&format!(
        "<q:Subscription>{}</q:Subscription>",
        escape_text(&row.subscription)
    ));
    if let Some(excerpt) = &row.excerpt {
        out.push_str(&format!("<q:Message>{}</q:Message>", escape_text(excerpt)));
    }
    // Added last, so a client reading the elements it knows is unchanged.
    if let Some(received) = row.received {
        out.push_str(&format!(
            "<q:Received>{}</q:Received>",
            received.to_system_time()
        ));
    }
    out.push_str("</q:Event>");
    out
}

fn bucket_xml(bucket: &Bucket) -> String {
    let start = bucket.start.to_system_time();
    // Bucket starts are whole seconds: written without the fraction.
    let start = start
        .split('.')
        .next()
        .map_or(start.clone(), |s| format!("{s}Z"));
    format!(
        "<q:Bucket xmlns:q=\"{}\"><q:Start>{start}</q:Start><q:Seconds>{}</q:Seconds><q:Count>{}</q:Count></q:Bucket>",
        uris::NS,
        bucket.seconds,
        bucket.count
    )
}

/// The results of one search, read from the store a page at a time as the client pulls
/// (called where blocking is allowed: [`Pending::is_lazy`]).
struct Pages {
    store: Arc<EventStore>,
    search: Search,
    position: Position,
    ready: VecDeque<EventRow>,
    ended: bool,
}

impl Pages {
    fn new(
        store: Arc<EventStore>,
        search: Search,
        position: Position,
        first: Vec<EventRow>,
    ) -> Self {
        let mut pages = Self {
            store,
            search,
            position,
            ready: VecDeque::new(),
            ended: false,
        };
        pages.take(first);
        pages
    }

    fn take(&mut self, rows: Vec<EventRow>) {
        self.ended = rows.len() < READ_AHEAD;
        if let Some(last) = rows.last() {
            self.position = self.position.next(last);
        }
        self.ready.extend(rows);
    }
}

impl ItemSource for Pages {
    fn next_item(&mut self) -> Option<Item> {
        if self.ready.is_empty() && !self.ended {
            match self.store.page(&self.search, self.position, READ_AHEAD) {
                Ok(rows) => self.take(rows),
                Err(error) => {
                    // Past the first page a fault cannot be told: the enumeration ends.
                    tracing::error!(%error, "event store: a page could not be read; the search ends there");
                    self.ended = true;
                }
            }
        }
        let row = self.ready.pop_front()?;
        Some(Item::Xml {
            xml: event_xml(&row),
            resource_uri: uris::EVENTS.to_owned(),
            selectors: vec![(uris::ID_SELECTOR.to_owned(), row.id.to_string())],
        })
    }

    fn estimate(&self) -> usize {
        0
    }

    fn held_bytes(&self) -> usize {
        self.ready
            .iter()
            .map(|r| {
                128 + r.computer.len() + r.channel.len() + r.excerpt.as_ref().map_or(0, String::len)
            })
            .sum()
    }
}

/// The access a search needs: the Read right of the store's own descriptor `own` (`[store]
/// sddl`), else of its default (administrators and the event readers group). EventLogSDDL and
/// RootSDDL never decide: an operator widens them to let users read this host's logs or its
/// configuration, and the store holds every forwarder's events, Security included.
pub(crate) fn access(
    request: &Request,
    settings: &ServiceSettings,
    own: Option<Arc<SecurityDescriptor>>,
) -> Access {
    let descriptor = own.or_else(|| settings.access.event_store_sddl.clone());
    Access::Descriptor(Required::one(
        descriptor.as_ref(),
        access_for(&request.operation.action),
    ))
}

impl Engine for EventSearchEngine {
    fn keys(&self) -> Vec<Key> {
        vec![(EndpointKind::WsMan, Target::Family(Family::EventStore))]
    }

    /// The Read right of `[store] sddl`, else of the store's default (this module's `access`).
    fn access(&self, request: &Request, settings: &ServiceSettings) -> Access {
        access(request, settings, self.descriptor())
    }

    fn handle<'a>(&'a self, call: Call<'a>) -> ReplyFuture<'a> {
        Box::pin(self.answer(call))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use wsman_events::Timestamp;

    /// A made-up `TimeCreated` is answered as the forwarder sent it, and the arrival the
    /// event is ordered by is added as `Received` after the elements a client already reads.
    #[test]
    fn an_event_carries_its_own_time_and_its_arrival() {
        let time = |t: &str| Timestamp::parse_system_time(t).unwrap();
        let row = EventRow {
            id: 7,
            time: time("2026-11-26T10:00:00Z"),
            event_time: Some(time("9999-12-31T23:59:59Z")),
            received: Some(time("2026-11-26T10:00:00Z")),
            computer: "WEB01".into(),
            channel: "Security".into(),
            level: None,
            event_id: None,
            provider: None,
            subscription: "s".into(),
            excerpt: None,
        };
        let xml = event_xml(&row);
        assert!(
            xml.contains("<q:TimeCreated>9999-12-31T23:59:59.0000000Z</q:TimeCreated>"),
            "{xml}"
        );
        assert!(
            xml.ends_with("<q:Received>2026-11-26T10:00:00.0000000Z</q:Received></q:Event>"),
            "{xml}"
        );
        let plausible = EventRow {
            event_time: None,
            received: None,
            ..row
        };
        let xml = event_xml(&plausible);
        assert!(
            xml.contains("<q:TimeCreated>2026-11-26T10:00:00.0000000Z</q:TimeCreated>"),
            "{xml}"
        );
        assert!(!xml.contains("Received"), "{xml}");
    }
}
