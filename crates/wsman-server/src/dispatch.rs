//! Dispatch of an authenticated, authorized request on (Action, ResourceURI).
//!
//! Identify and authorization are decided earlier (in the pipeline); this module routes the
//! WS-Transfer and WS-Enumeration operations to a provider, keeps enumeration contexts, caps
//! OperationTimeout at MaxTimeoutms, and refuses responses larger than the request's
//! MaxEnvelopeSize.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wsman_proto::enumeration::{self, Enumerate, EnumerationMode, Pull};
use wsman_proto::ns::action;
use wsman_proto::response::{self, ResponseHeader};
use wsman_proto::{transfer, Fault, Request};
use wsman_providers::{Context, Item, Provider, Registry};

use crate::enumeration::EnumerationStore;
use crate::settings::ServiceSettings;
use crate::winrs::{self, Budget, Caller, ShellService};

/// Resource URI prefixes of subsystems that exist on Windows but not here (PowerShell/PSRP
/// plugins; shell URIs other than those [`winrs`] serves, or all of them when the dispatcher
/// has no shells): answered with a clean DestinationUnreachable rather than anything that
/// could hang a client.
const NOT_YET_SERVED: &[&str] = &[
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "http://schemas.microsoft.com/powershell/",
];

/// The answer of a dispatched request.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// A response envelope (XML, not yet encoded).
    Envelope(String),
    /// A response envelope in UTF-8, in pieces to be written in order: a Receive response
    /// around output the shell engine already holds as base64 text (see
    /// [`crate::response_body`]).
    Pieces(Vec<bytes::Bytes>),
    /// HTTP 204 with no body (`.../wsman/End`).
    NoContent,
}

/// Per-request facts the dispatcher needs besides the request.
#[derive(Clone, Copy, Debug)]
pub struct Exchange<'a> {
    pub settings: &'a ServiceSettings,
    /// `scheme://host/path` the client addressed.
    pub address: &'a str,
}

/// Routes requests to providers and owns the enumeration contexts.
pub struct Dispatcher {
    registry: Registry,
    enumerations: EnumerationStore,
    /// WinRS shells; without them the shell URIs are refused like any unserved resource.
    shells: Option<ShellService>,
}

impl Dispatcher {
    pub fn new(registry: Registry) -> Self {
        Self {
            registry,
            enumerations: EnumerationStore::new(),
            shells: None,
        }
    }

    /// Serve the WinRS shell resources with `shells`.
    pub fn with_shells(mut self, shells: ShellService) -> Self {
        self.shells = Some(shells);
        self
    }

    /// The shell subsystem, when served.
    pub fn shells(&self) -> Option<&ShellService> {
        self.shells.as_ref()
    }

    /// Live enumeration contexts (diagnostics, tests).
    pub fn enumeration_contexts(&self) -> usize {
        self.enumerations.len()
    }

    /// Dispatch one request without a caller (shell resources are then refused).
    pub async fn dispatch(
        self: &Arc<Self>,
        request: Arc<Request>,
        exchange: Exchange<'_>,
    ) -> Result<Reply, Fault> {
        self.dispatch_as(request, exchange, None).await
    }

    /// Dispatch one request for `caller`. Faults come back as `Err` for the caller to render.
    pub async fn dispatch_as(
        self: &Arc<Self>,
        request: Arc<Request>,
        exchange: Exchange<'_>,
        caller: Option<&Caller>,
    ) -> Result<Reply, Fault> {
        let act = request.action.as_deref().unwrap_or("");
        if act == action::END {
            return Ok(Reply::NoContent);
        }
        let uri = request.resource_uri.as_deref().unwrap_or("");
        let shells = match &self.shells {
            Some(s) if winrs::serves(uri) => Some((s, caller.ok_or_else(Fault::access_denied)?)),
            _ => None,
        };
        if shells.is_none() {
            if uri.is_empty()
                || NOT_YET_SERVED
                    .iter()
                    .any(|p| uri.len() >= p.len() && uri[..p.len()].eq_ignore_ascii_case(p))
            {
                return Err(Fault::destination_unreachable(uri));
            }
            if self.registry.find(uri).is_none() {
                return Err(Fault::destination_unreachable(uri));
            }
        }
        let settings = exchange.settings;
        let budget = operation_budget(&request, settings);
        let max_envelope = max_envelope(&request, settings);
        if let Some((service, caller)) = shells {
            if ![action::ENUMERATE, action::PULL, action::RELEASE].contains(&act) {
                // Only a Receive needs to know how much room its envelope leaves for output.
                let receive_overhead = if act != action::SHELL_RECEIVE {
                    0
                } else {
                    render(
                        &request,
                        wsman_proto::shell::action::RECEIVE_RESPONSE,
                        "",
                        &wsman_proto::shell::ReceiveResponse::new(
                            Vec::new(),
                            Some((
                                Some(String::new()),
                                wsman_proto::shell::CommandStateValue::Done {
                                    exit_code: Some(i64::from(i32::MIN)),
                                },
                            )),
                        )
                        .to_xml(),
                    )
                    .len()
                };
                let shell_budget = Budget {
                    time: budget,
                    max_envelope,
                    receive_overhead,
                };
                if ShellService::is_receive(&request) {
                    // The envelope's start, then the output as the engine holds it (pieces).
                    let id = new_message_id();
                    let start = response::envelope_start(&response_header(
                        &request,
                        wsman_proto::shell::action::RECEIVE_RESPONSE,
                        &id,
                    ));
                    let pieces = service
                        .receive_envelope(&request, caller, shell_budget, &start)
                        .await?;
                    within_envelope(pieces.iter().map(bytes::Bytes::len).sum(), max_envelope)?;
                    return Ok(Reply::Pieces(pieces));
                }
                let (response_action, body) = service
                    .operate(&request, caller, exchange.address, shell_budget)
                    .await?;
                return finish_owned(&request, response_action, body, max_envelope);
            }
        }
        let (response_action, body, extra) = match act {
            action::GET => (
                action::GET_RESPONSE,
                self.run(&request, exchange, budget, Op::Get).await?,
                String::new(),
            ),
            action::PUT => (
                action::PUT_RESPONSE,
                self.run(&request, exchange, budget, Op::Put).await?,
                String::new(),
            ),
            action::CREATE => (
                action::CREATE_RESPONSE,
                self.run(&request, exchange, budget, Op::Create).await?,
                String::new(),
            ),
            action::DELETE => {
                self.run(&request, exchange, budget, Op::Delete).await?;
                (action::DELETE_RESPONSE, String::new(), String::new())
            }
            action::ENUMERATE => {
                self.enumerate(&request, exchange, budget, max_envelope, shells)
                    .await?
            }
            action::PULL => self.pull(&request, settings, max_envelope)?,
            action::RELEASE => {
                self.enumerations
                    .release(&enumeration::parse_release(request.body.as_ref())?)?;
                (action::RELEASE_RESPONSE, String::new(), String::new())
            }
            other => return Err(Fault::action_not_supported(other)),
        };
        finish(&request, response_action, &extra, &body, max_envelope)
    }

    /// Run a provider operation on the blocking pool (config writes fsync), bounded by the
    /// operation budget.
    async fn run(
        self: &Arc<Self>,
        request: &Arc<Request>,
        exchange: Exchange<'_>,
        budget: Duration,
        op: Op,
    ) -> Result<String, Fault> {
        self.with_provider(request, exchange, budget, move |provider, ctx| {
            run_op(provider, ctx, op)
        })
        .await
    }

    /// Find the provider of the request's ResourceURI and call `f` with it on the blocking
    /// pool, bounded by the operation budget: every provider call goes through here.
    async fn with_provider<T, F>(
        self: &Arc<Self>,
        request: &Arc<Request>,
        exchange: Exchange<'_>,
        budget: Duration,
        f: F,
    ) -> Result<T, Fault>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Provider, &Context<'_>) -> Result<T, Fault> + Send + 'static,
    {
        let this = Arc::clone(self);
        let req = Arc::clone(request);
        let address = exchange.address.to_owned();
        let job = tokio::task::spawn_blocking(move || {
            let uri = req.resource_uri.as_deref().unwrap_or("");
            let Some(provider) = this.registry.find(uri) else {
                return Err(Fault::destination_unreachable(uri));
            };
            f(provider, &Context::new(&req, &address))
        });
        match tokio::time::timeout(budget, job).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(Fault::internal_error(format!(
                "The provider failed while processing the request: {join}. "
            ))),
            Err(_) => Err(Fault::timed_out()),
        }
    }

    async fn enumerate(
        self: &Arc<Self>,
        request: &Arc<Request>,
        exchange: Exchange<'_>,
        budget: Duration,
        max_envelope: u64,
        shells: Option<(&ShellService, &Caller)>,
    ) -> Result<(&'static str, String, String), Fault> {
        let parsed = Enumerate::parse(request.body.as_ref())?;
        let items = match shells {
            Some((service, caller)) => {
                let filter = match &parsed.filter {
                    Some(f) => Some(f.selector_set()?.ok_or_else(|| {
                        Fault::filter_dialect_unavailable(f.dialect.as_deref().unwrap_or(""))
                    })?),
                    None => None,
                };
                service.enumerate(request, caller, filter)?
            }
            None => {
                if parsed.filter.is_some() {
                    return Err(Fault::filtering_not_supported());
                }
                self.run_enumerate(request, exchange, budget).await?
            }
        };
        let total = items.len();
        let mut rendered: VecDeque<String> = items
            .iter()
            .map(|i| render_item(i, parsed.mode, exchange.address))
            .collect();
        let extra = count_header(request, total);
        let settings = exchange.settings;
        let now = Instant::now();
        if !parsed.optimize {
            let id = self
                .enumerations
                .insert(rendered, total, now, settings.enumeration_timeout());
            let body = enumeration::enumerate_response(Some(&id), None, false);
            return Ok((action::ENUMERATE_RESPONSE, body, extra));
        }
        let max_items = batch_limit(parsed.max_elements.unwrap_or(1), settings);
        let overhead = render(
            request,
            action::ENUMERATE_RESPONSE,
            &extra,
            &enumeration::enumerate_response(Some(CONTEXT_PLACEHOLDER), Some(&[]), true),
        )
        .len()
            + ITEMS_WRAPPER;
        let space = item_space(max_envelope, overhead)?;
        let batch = crate::enumeration::take_fitting(&mut rendered, max_items, space)
            .map_err(|len| Fault::max_envelope_size_exceeded(len + overhead, max_envelope))?;
        let body = if rendered.is_empty() {
            enumeration::enumerate_response(None, Some(&batch), true)
        } else {
            let id = self
                .enumerations
                .insert(rendered, total, now, settings.enumeration_timeout());
            enumeration::enumerate_response(Some(&id), Some(&batch), false)
        };
        Ok((action::ENUMERATE_RESPONSE, body, extra))
    }

    async fn run_enumerate(
        self: &Arc<Self>,
        request: &Arc<Request>,
        exchange: Exchange<'_>,
        budget: Duration,
    ) -> Result<Vec<Item>, Fault> {
        self.with_provider(request, exchange, budget, |provider, ctx| {
            provider.enumerate(ctx)
        })
        .await
    }

    fn pull(
        &self,
        request: &Request,
        settings: &ServiceSettings,
        max_envelope: u64,
    ) -> Result<(&'static str, String, String), Fault> {
        let parsed = Pull::parse(request.body.as_ref())?;
        let max_items = batch_limit(parsed.max_elements.unwrap_or(1), settings);
        // Sized with an unknown count; the real count is at most as long as "nil" markup.
        let extra = if request.request_total_items_count_estimate {
            enumeration::total_items_header(None)
        } else {
            String::new()
        };
        let overhead = render(
            request,
            action::PULL_RESPONSE,
            &extra,
            &enumeration::pull_response(Some(&parsed.context), &[], false),
        )
        .len()
            + "<n:EndOfSequence/>".len();
        let mut space = item_space(max_envelope, overhead)?;
        if let Some(chars) = parsed.max_characters {
            space = space.min(chars as usize);
        }
        let batch = self.enumerations.pull(
            &parsed.context,
            Instant::now(),
            settings.enumeration_timeout(),
            max_items,
            space,
        )?;
        let body = enumeration::pull_response(Some(&parsed.context), &batch.items, batch.end);
        let extra = count_header(request, batch.total);
        Ok((action::PULL_RESPONSE, body, extra))
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Get,
    Put,
    Create,
    Delete,
}

fn run_op(provider: &dyn Provider, ctx: &Context<'_>, op: Op) -> Result<String, Fault> {
    match op {
        Op::Get => provider.get(ctx),
        Op::Put => provider.put(ctx),
        Op::Create => {
            let created = provider.create(ctx)?;
            let selectors: Vec<(&str, &str)> = created
                .selectors
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            Ok(transfer::resource_created(
                ctx.address,
                &created.resource_uri,
                &selectors,
            ))
        }
        Op::Delete => provider.delete(ctx).map(|()| String::new()),
    }
}

/// A stand-in as long as a real context id, to size the envelope before one is created.
const CONTEXT_PLACEHOLDER: &str = "uuid:00000000-0000-0000-0000-000000000000";
/// `<w:Items></w:Items>`: present only when there are items.
const ITEMS_WRAPPER: usize = "<w:Items></w:Items>".len();

fn item_space(max_envelope: u64, overhead: usize) -> Result<usize, Fault> {
    usize::try_from(max_envelope)
        .ok()
        .and_then(|m| m.checked_sub(overhead))
        .ok_or_else(|| Fault::max_envelope_size_exceeded(overhead, max_envelope))
}

/// Batch size = min(MaxElements, MaxBatchItems), at least one.
fn batch_limit(max_elements: u32, settings: &ServiceSettings) -> usize {
    max_elements.min(settings.max_batch_items).max(1) as usize
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

fn count_header(request: &Request, total: usize) -> String {
    if request.request_total_items_count_estimate {
        enumeration::total_items_header(Some(total))
    } else {
        String::new()
    }
}

fn render_item(item: &Item, mode: EnumerationMode, address: &str) -> String {
    let epr = || {
        let selectors: Vec<(&str, &str)> = item
            .selectors
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        enumeration::epr_item(address, &item.resource_uri, &selectors)
    };
    match mode {
        EnumerationMode::Object => item.xml.clone(),
        EnumerationMode::Epr => epr(),
        EnumerationMode::ObjectAndEpr => format!("<w:Item>{}{}</w:Item>", item.xml, epr()),
    }
}

/// The response envelope, refused when larger than the request's MaxEnvelopeSize.
fn finish(
    request: &Request,
    response_action: &str,
    extra: &str,
    body: &str,
    max_envelope: u64,
) -> Result<Reply, Fault> {
    let envelope = render(request, response_action, extra, body);
    within_envelope(envelope.len(), max_envelope)?;
    Ok(Reply::Envelope(envelope))
}

/// [`finish`] for a body the caller hands over: the envelope is built in the body's buffer
/// (see [`response::envelope_owned`]), so the body is not copied again.
fn finish_owned(
    request: &Request,
    response_action: &str,
    body: String,
    max_envelope: u64,
) -> Result<Reply, Fault> {
    let id = new_message_id();
    let envelope = response::envelope_owned(&response_header(request, response_action, &id), body);
    within_envelope(envelope.len(), max_envelope)?;
    Ok(Reply::Envelope(envelope))
}

/// The header of the response to `request` (no extra header blocks).
fn response_header<'a>(
    request: &'a Request,
    response_action: &'a str,
    message_id: &'a str,
) -> ResponseHeader<'a> {
    ResponseHeader {
        action: response_action,
        message_id,
        relates_to: request.message_id.as_deref(),
        operation_id: request.operation_id.as_deref(),
        sequence_id: request.sequence_id.as_deref(),
        extra: "",
    }
}

/// Refuses a response envelope of `length` bytes that is larger than the client accepts.
fn within_envelope(length: usize, max_envelope: u64) -> Result<(), Fault> {
    if length as u64 > max_envelope {
        return Err(Fault::max_envelope_size_exceeded(length, max_envelope));
    }
    Ok(())
}

/// A response envelope relating to `request`.
pub fn render(request: &Request, response_action: &str, extra: &str, body: &str) -> String {
    let id = new_message_id();
    response::envelope(
        &ResponseHeader {
            action: response_action,
            message_id: &id,
            relates_to: request.message_id.as_deref(),
            operation_id: request.operation_id.as_deref(),
            sequence_id: request.sequence_id.as_deref(),
            extra,
        },
        body,
    )
}

/// A fresh response MessageID: `uuid:` + upper-case GUID.
pub fn new_message_id() -> String {
    response::message_id_from(&uuid::Uuid::new_v4().to_string())
}

#[cfg(test)]
mod tests;
