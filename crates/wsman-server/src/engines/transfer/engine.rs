//! The transfer engine: WS-Transfer (Get, Put, Create, Delete), WS-Enumeration and Invoke over
//! one provider, for one family of resources of the catalog.
//!
//! Providers return typed answers; this engine does the rest once for all of them: filters
//! compiled from `w:Filter` and applied to instances, the instance XML, EPRs from keys, and
//! paging. Providers run in the caller's turn of the work pool's interactive lane (normal
//! priority: a Get of one instance is never queued behind other users' filters), bounded by the
//! call's deadline; filters are evaluated and items rendered in the caller's turn of the bulk
//! lane ([`wsman_work`], low priority), stopped at the deadline.

use std::collections::VecDeque;
use std::sync::Arc;

use wsman_proto::budget::{Budget, Expired};
use wsman_proto::cim::Instance;
use wsman_proto::enumeration::{self, Enumerate};
use wsman_proto::ns::action;
use wsman_proto::operation::Action;
use wsman_proto::{transfer, wql, Fault, Request};
use wsman_providers::{
    Answer, Body, Call as ProviderCall, Context, Filter, Item, Launcher, NamespaceAccess, Provider,
};

use crate::engine::{self, Call};
use crate::engines::{paging, Services};
use crate::enumeration::{EnumerationStore, LazyItems, Pending};
use wsman_work::{Lane, WorkPool};

/// WS-Transfer, WS-Enumeration and Invoke over a provider: what the configuration and CIM
/// engines ([`super::config`], [`super::cim`]) each serve their family with.
pub(crate) struct TransferEngine {
    provider: Arc<dyn Provider>,
    enumerations: Arc<EnumerationStore>,
    /// How methods start programs (the shells' spawn); `None`: they cannot.
    launcher: Option<Arc<dyn Launcher>>,
}

impl TransferEngine {
    /// `provider` (run in the work pool's interactive lane) with the shared enumeration
    /// contexts; its methods start programs through `launcher`, when given one.
    pub(super) fn new(
        provider: impl Provider,
        services: &Services,
        launcher: Option<Arc<dyn Launcher>>,
    ) -> Self {
        Self {
            provider: Arc::new(provider),
            enumerations: Arc::clone(&services.enumerations),
            launcher,
        }
    }

    /// The provider, when it serves the request's resource URI.
    fn provider(&self, request: &Request) -> Result<Arc<dyn Provider>, Fault> {
        let uri = request.resource_uri.as_deref().unwrap_or("");
        if !self.provider.handles(uri) {
            return Err(Fault::destination_unreachable(uri));
        }
        Ok(Arc::clone(&self.provider))
    }

    pub(crate) async fn serve(&self, call: Call<'_>) -> Result<engine::Answer, Fault> {
        let request = call.request;
        match &request.operation.action {
            Action::Get => {
                let body = self.call_provider(call, Op::Get).await?.into_body()?;
                let (header, body) = match (&request.fragment_transfer, body) {
                    (Some(fragment), Body::Instance(instance)) => {
                        fragment_of(&instance, &fragment.trimmed_text())?
                    }
                    (_, body) => (String::new(), render_body(request, body, None)),
                };
                Ok(engine::Answer::with_header(
                    action::GET_RESPONSE,
                    header,
                    body,
                ))
            }
            Action::Put => {
                let body = self.call_provider(call, Op::Put).await?.into_body()?;
                Ok(engine::Answer::body(
                    action::PUT_RESPONSE,
                    render_body(request, body, None),
                ))
            }
            Action::Create => {
                let Answer::Created(created) = self.call_provider(call, Op::Create).await? else {
                    return Err(unexpected());
                };
                let selectors: Vec<(&str, &str)> = created
                    .selectors
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                let body = transfer::resource_created(
                    call.exchange.address,
                    &created.resource_uri,
                    &selectors,
                );
                Ok(engine::Answer::body(action::CREATE_RESPONSE, body))
            }
            Action::Delete => {
                self.call_provider(call, Op::Delete).await?;
                Ok(engine::Answer::body(action::DELETE_RESPONSE, ""))
            }
            Action::Invoke(method) => {
                let body = self
                    .call_provider(call, Op::Invoke(method.clone()))
                    .await?
                    .into_body()?;
                let output = format!("{method}_OUTPUT");
                let response_action =
                    format!("{}Response", request.action.as_deref().unwrap_or(""));
                Ok(engine::Answer::body(
                    response_action,
                    render_body(request, body, Some(&output)),
                ))
            }
            Action::Enumerate => self.enumerate(call).await,
            Action::Pull => paging::pull(&self.enumerations, call).await,
            Action::Release => paging::release(&self.enumerations, call),
            _ => Err(Fault::action_not_supported(
                request.action.as_deref().unwrap_or(""),
            )),
        }
    }

    async fn enumerate(&self, call: Call<'_>) -> Result<engine::Answer, Fault> {
        let request = call.request;
        let parsed = Enumerate::parse(request.body.as_ref())?;
        let served = self.provider(request)?;
        let filter = match &parsed.filter {
            None => None,
            Some(_) if !served.filtering() => return Err(Fault::filtering_not_supported()),
            Some(f) => Some(compile_filter(f)?),
        };
        self.enumerations.admits(&paging::owner(&call))?;
        let items = match self
            .call_provider(call, Op::Enumerate(filter.clone()))
            .await?
        {
            Answer::Items(items) => items,
            Answer::Stream(stream) => {
                // Filtered and rendered as pulled, with what the request asked for.
                let total = stream.0.estimate();
                let request = Arc::clone(request);
                let address = call.exchange.address.to_owned();
                let mode = parsed.mode;
                let render = move |item: &Item, budget: &mut Budget| {
                    Ok(item_passes(item, filter.as_ref(), budget)?.then(|| {
                        paging::render_item(
                            &request,
                            item,
                            mode,
                            &address,
                            selected(filter.as_ref()),
                        )
                    }))
                };
                let pending = Pending::Lazy(LazyItems::new(stream.0, Box::new(render)));
                return paging::enumerate_response(
                    &self.enumerations,
                    call,
                    &parsed,
                    pending,
                    total,
                )
                .await;
            }
            _ => return Err(unexpected()),
        };
        let (owned_request, address) = (Arc::clone(request), call.exchange.address.to_owned());
        let mode = parsed.mode;
        let rendered = WorkPool::shared()
            .run(
                Lane::Bulk,
                &paging::owner(&call).to_string(),
                call.deadline,
                move |budget| {
                    let mut rendered = VecDeque::new();
                    for item in &items {
                        if item_passes(item, filter.as_ref(), budget)? {
                            let properties = selected(filter.as_ref());
                            rendered.push_back(paging::render_item(
                                &owned_request,
                                item,
                                mode,
                                &address,
                                properties,
                            ));
                        }
                    }
                    Ok(rendered)
                },
            )
            .await?;
        paging::enumerate_rendered(&self.enumerations, call, &parsed, rendered).await
    }

    /// Every provider call goes through here: the caller's turn of the work pool's
    /// interactive lane, bounded by the call's deadline. A provider's call is interactive even
    /// for an Enumerate: it may block on I/O (D-Bus, the BMC), which the bulk lane's few
    /// threads must not wait on; what an enumeration costs per item (filters, rendering) is
    /// bulk work.
    async fn call_provider(&self, call: Call<'_>, op: Op) -> Result<Answer, Fault> {
        let provider = self.provider(call.request)?;
        let deadline = call.deadline;
        // Which namespaces the caller may read, for answers that draw from several.
        let namespaces = crate::access::NamespaceReader::new(
            &call.exchange.settings.access,
            Arc::clone(&call.caller.sids),
        );
        let request = Arc::clone(call.request);
        let address = call.exchange.address.to_owned();
        let caller = call.caller.clone();
        let launcher = self.launcher.clone();
        let pool = WorkPool::shared();
        let turn = pool
            .wait_turn(
                Lane::Interactive,
                &paging::owner(&call).to_string(),
                deadline,
            )
            .await?;
        let job = pool.run_in_turn(turn, deadline, move |_| {
            let ctx = Context::new(&request, &address)
                .with_caller(Some(&caller))
                .with_launcher(launcher.as_deref())
                .with_namespace_access(Some(&namespaces as &dyn NamespaceAccess))
                .with_deadline(deadline);
            provider.call(&ctx, op.as_call())
        });
        tokio::time::timeout_at(deadline.into(), job)
            .await
            .map_err(crate::error::elapsed_fault)??
    }
}

/// A provider call with owned arguments (it may cross to the blocking pool).
#[derive(Clone, Debug)]
enum Op {
    Get,
    Put,
    Create,
    Delete,
    Enumerate(Option<Filter>),
    Invoke(String),
}

impl Op {
    fn as_call(&self) -> ProviderCall<'_> {
        match self {
            Self::Get => ProviderCall::Get,
            Self::Put => ProviderCall::Put,
            Self::Create => ProviderCall::Create,
            Self::Delete => ProviderCall::Delete,
            Self::Enumerate(f) => ProviderCall::Enumerate(f.as_ref()),
            Self::Invoke(m) => ProviderCall::Invoke(m),
        }
    }
}

trait IntoBody {
    fn into_body(self) -> Result<Body, Fault>;
}

impl IntoBody for Answer {
    fn into_body(self) -> Result<Body, Fault> {
        match self {
            Answer::Body(b) => Ok(b),
            _ => Err(unexpected()),
        }
    }
}

fn unexpected() -> Fault {
    Fault::internal_error("The provider answered a different operation than the one asked. ")
}

/// The typed filter of a `w:Filter`: an unknown dialect is `w:FilterDialectRequestedUnavailable`.
/// WQL and CQL are parsed here (`n:CannotProcessFilter` when they do not parse); a filter
/// without a dialect is WQL, as WinRM reads it.
pub(crate) fn compile_filter(filter: &enumeration::Filter) -> Result<Filter, Fault> {
    if let Some(selectors) = filter.selector_set()? {
        return Ok(Filter::Selector(selectors));
    }
    if let Some(association) = filter.association()? {
        return Ok(Filter::Association(association));
    }
    let dialect = filter.dialect.as_deref().unwrap_or(wql::dialect::WQL);
    if dialect.eq_ignore_ascii_case(wql::dialect::WQL)
        || dialect.eq_ignore_ascii_case(wql::dialect::CQL)
    {
        let text = filter.element.trimmed_text();
        return Ok(Filter::Query(wql::parse(&text)?));
    }
    Err(Fault::filter_dialect_unavailable(dialect))
}

/// Whether an item passes the filter, within `budget`: instances are checked here for every
/// class; XML items were filtered by their provider.
fn item_passes(item: &Item, filter: Option<&Filter>, budget: &mut Budget) -> Result<bool, Expired> {
    let (Item::Instance(instance), Some(filter)) = (item, filter) else {
        return Ok(true);
    };
    Ok(match filter {
        Filter::Selector(set) => {
            instance.matches_selectors(set.0.iter().filter_map(|s| match &s.value {
                wsman_proto::envelope::SelectorValue::Text(t) => {
                    Some((s.name.as_str(), t.as_str()))
                }
                wsman_proto::envelope::SelectorValue::Epr(_) => None,
            }))
        }
        Filter::Query(query) => query.matches_within(instance, budget)?,
        // Dialects added later are evaluated here too.
        _ => true,
    })
}

/// Fragment transfer (DSP0226 7.7) of an instance: `Name`, `p:Name` or `Name/text()` selects
/// one property; the answer is a `w:XmlFragment` with the property element (or its text alone
/// for `text()`), and the response repeats the `w:FragmentTransfer` header.
fn fragment_of(instance: &Instance, expression: &str) -> Result<(String, String), Fault> {
    let (path, text_only) = match expression.strip_suffix("/text()") {
        Some(p) => (p, true),
        None => (expression, false),
    };
    let name = path.rsplit_once(':').map_or(path, |(_, n)| n);
    if instance.get(name).is_none() {
        return Err(Fault::invalid_representation(
            "InvalidFragment",
            format!(
                "The fragment {expression:?} names no property of {}. ",
                instance.class
            ),
        ));
    }
    let fragment = instance.to_fragment(&[name.to_owned()]);
    let body = if text_only {
        let value = instance
            .get(name)
            .map(wsman_proto::cim::Value::to_text)
            .unwrap_or_default();
        format!(
            "<w:XmlFragment>{}</w:XmlFragment>",
            wsman_proto::xml::escape_text(&value)
        )
    } else {
        fragment
    };
    let header = format!(
        "<w:FragmentTransfer s:mustUnderstand=\"true\">{}</w:FragmentTransfer>",
        wsman_proto::xml::escape_text(expression)
    );
    Ok((header, body))
}

fn render_body(request: &Request, body: Body, element: Option<&str>) -> String {
    match body {
        Body::Xml(xml) => xml,
        Body::Instance(instance) => {
            let uri = match element {
                // A method's output is in the namespace of the class it was invoked on.
                Some(_) => request.resource_uri.clone().unwrap_or_default(),
                None => paging::instance_uri(request, &instance),
            };
            instance.render(&uri, element.unwrap_or(&instance.class), None)
        }
    }
}

/// The properties of `SELECT a,b` (items are then `w:XmlFragment`s); `None` for `*`.
fn selected(filter: Option<&Filter>) -> Option<&[String]> {
    match filter {
        Some(Filter::Query(q)) => q.properties.as_deref(),
        _ => None,
    }
}
