//! Enumeration paging, written once for every engine: the EnumerateResponse of items rendered
//! in the requested mode, or made and rendered as they are pulled (all under a context, or
//! with OptimizeEnumeration the first batch in the response), then Pull batches that fit
//! MaxEnvelopeSize and MaxElements, and Release. A context is its caller's: see
//! [`crate::enumeration`].

use std::time::Instant;
use wsman_principal::OwnerKey;

use wsman_proto::cim::Instance;
use wsman_proto::enumeration::{self, Enumerate, EnumerationMode, Pull};
use wsman_proto::ns::action;
use wsman_proto::operation::{Resource, CIM_PREFIX};
use wsman_proto::{Fault, Request};
use wsman_providers::Item;

use crate::engine::{Answer, Call};
use crate::enumeration::{take_batch, EnumerationStore, Pending};
use crate::error::unfit_fault;
use crate::render::room;
use crate::settings::ServiceSettings;

/// A stand-in as long as a real context id, to size the envelope before one is created.
const CONTEXT_PLACEHOLDER: &str = "uuid:00000000-0000-0000-0000-000000000000";
/// `<w:Items></w:Items>`: present only when there are items.
const ITEMS_WRAPPER: usize = "<w:Items></w:Items>".len();

/// [`enumerate_response`] of items all rendered already: their count is the total.
pub async fn enumerate_rendered(
    store: &EnumerationStore,
    call: Call<'_>,
    parsed: &Enumerate,
    rendered: std::collections::VecDeque<String>,
) -> Result<Answer, Fault> {
    let total = rendered.len();
    let pending = Pending::Rendered(rendered);
    enumerate_response(store, call, parsed, pending, total).await
}

/// Answer an Enumerate whose items are `pending` (`total` of them, as far as known); a first
/// batch (OptimizeEnumeration) is made by the call's deadline.
pub async fn enumerate_response(
    store: &EnumerationStore,
    call: Call<'_>,
    parsed: &Enumerate,
    pending: Pending,
    total: usize,
) -> Result<Answer, Fault> {
    let request = call.request;
    let settings = call.exchange.settings;
    let extra = count_header(request, total);
    let now = Instant::now();
    if !parsed.optimize {
        let timeout = settings.enumeration_timeout();
        let id = store.insert(&owner(&call), pending, total, now, timeout, None)?;
        let body = enumeration::enumerate_response(Some(&id), None, false);
        return Ok(Answer::with_header(action::ENUMERATE_RESPONSE, extra, body));
    }
    let max_items = batch_limit(parsed.max_elements.unwrap_or(1), settings);
    let empty = enumeration::enumerate_response(Some(CONTEXT_PLACEHOLDER), Some(&[]), true);
    let (overhead, space) = room(
        request,
        (action::ENUMERATE_RESPONSE, &extra, &empty),
        ITEMS_WRAPPER,
        call.max_envelope,
    )?;
    let (rest, batch, end) = take_batch(
        pending,
        max_items,
        space,
        &owner(&call).to_string(),
        call.deadline,
    )
    .await?;
    let batch = batch.map_err(|unfit| unfit_fault(unfit, overhead, call.max_envelope))?;
    let body = if end {
        enumeration::enumerate_response(None, Some(&batch), true)
    } else {
        // The first Pull's batch is made ahead about this size.
        let next = Some((max_items, space));
        let timeout = settings.enumeration_timeout();
        let id = store.insert(&owner(&call), rest, total, now, timeout, next)?;
        enumeration::enumerate_response(Some(&id), Some(&batch), false)
    };
    Ok(Answer::with_header(action::ENUMERATE_RESPONSE, extra, body))
}

/// Answer a Pull from the context it names, by the call's deadline (`w:TimedOut` when not
/// one item could be made in time; the context stays for the next Pull).
pub async fn pull(store: &EnumerationStore, call: Call<'_>) -> Result<Answer, Fault> {
    let request = call.request;
    let settings = call.exchange.settings;
    let parsed = Pull::parse(request.body.as_ref())?;
    let max_items = batch_limit(parsed.max_elements.unwrap_or(1), settings);
    // Sized with an unknown count; the real count is at most as long as "nil" markup.
    let extra = if request.request_total_items_count_estimate {
        enumeration::total_items_header(None)
    } else {
        String::new()
    };
    let empty = enumeration::pull_response(Some(&parsed.context), &[], false);
    let (_, mut space) = room(
        request,
        (action::PULL_RESPONSE, &extra, &empty),
        "<n:EndOfSequence/>".len(),
        call.max_envelope,
    )?;
    if let Some(chars) = parsed.max_characters {
        space = space.min(chars as usize);
    }
    let batch = store
        .pull(
            &owner(&call),
            &parsed.context,
            Instant::now(),
            settings.enumeration_timeout(),
            max_items,
            space,
            call.deadline,
        )
        .await?;
    let body = enumeration::pull_response(Some(&parsed.context), &batch.items, batch.end);
    let extra = count_header(request, batch.total);
    Ok(Answer::with_header(action::PULL_RESPONSE, extra, body))
}

/// Answer a Release of the context it names.
pub fn release(store: &EnumerationStore, call: Call<'_>) -> Result<Answer, Fault> {
    store.release(
        &owner(&call),
        &enumeration::parse_release(call.request.body.as_ref())?,
    )?;
    Ok(Answer::body(action::RELEASE_RESPONSE, ""))
}

/// Whose contexts a call opens and may use: the authenticated principal.
pub(crate) fn owner(call: &Call<'_>) -> OwnerKey {
    call.caller.owner_key()
}

/// Batch size = min(MaxElements, MaxBatchItems), at least one.
fn batch_limit(max_elements: u32, settings: &ServiceSettings) -> usize {
    max_elements.min(settings.max_batch_items).max(1) as usize
}

fn count_header(request: &Request, total: usize) -> String {
    if request.request_total_items_count_estimate {
        enumeration::total_items_header(Some(total))
    } else {
        String::new()
    }
}

/// The URI an instance is addressed by in answers to `request`: the DMTF class URI when the
/// client used one, else the WMI URI of its class.
pub(crate) fn instance_uri(request: &Request, instance: &Instance) -> String {
    match &request.operation.resource {
        Resource::Cim { .. } | Resource::CimAll => format!("{CIM_PREFIX}{}", instance.class),
        _ => instance.resource_uri(),
    }
}

/// One item in the requested mode; `only` turns instances into `w:XmlFragment`s of those
/// properties.
pub(crate) fn render_item(
    request: &Request,
    item: &Item,
    mode: EnumerationMode,
    address: &str,
    only: Option<&[String]>,
) -> String {
    let (xml, uri, selectors) = match item {
        Item::Xml {
            xml,
            resource_uri,
            selectors,
        } => (xml.clone(), resource_uri.clone(), selectors.clone()),
        Item::Instance(instance) => {
            let uri = instance_uri(request, instance);
            let xml = match (mode, only) {
                (EnumerationMode::Epr, _) => String::new(),
                (_, Some(properties)) => instance.to_fragment(properties),
                (_, None) => instance.to_xml(&uri),
            };
            (xml, uri, instance.selectors())
        }
    };
    let epr = || {
        let selectors: Vec<(&str, &str)> = selectors
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        enumeration::epr_item(address, &uri, &selectors)
    };
    match mode {
        EnumerationMode::Object => xml,
        EnumerationMode::Epr => epr(),
        EnumerationMode::ObjectAndEpr => format!("<w:Item>{xml}{}</w:Item>", epr()),
    }
}
