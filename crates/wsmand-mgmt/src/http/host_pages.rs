//! The pages about the fleet and one host, and the rules checked before a host is contacted
//! (a name not in the configuration never is).

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::header::{self, HeaderValue};
use hyper::StatusCode;
use serde::Serialize;

use super::answer::{error, html, json, read_json, EVENTS_CSP};
use super::{Answer, AppState};
use crate::delegation::{cim_class, Subject};
use crate::hosts::{Host, HostError};
use crate::pages::{self, Viewer};
use crate::route::Route;
use crate::sessions::Session;
use wsman_config::mgmt::Action;

/// A page about one configured host: the host looked up once (a name not in the
/// configuration is never contacted), its data read, then answered as JSON (every row) or
/// HTML (a long table searched, sorted and paged by `query`).
/// `host` is what the access table's decision admitted for the route (`gate`).
pub(super) async fn host_page(
    state: &AppState,
    viewer: &Viewer<'_>,
    route: Route,
    (asker, host): (Asker<'_>, Arc<Host>),
    raw_query: &str,
) -> Answer {
    let json_wanted = asker.json_wanted;
    let query = crate::table::TableQuery::parse(raw_query);
    let name = match &route {
        Route::HostOverview(name)
        | Route::Services(name)
        | Route::Processes(name)
        | Route::Events(name) => name.clone(),
        _ => return error(json_wanted, StatusCode::NOT_FOUND, "no such page"),
    };
    let switches = host.switches();
    /// JSON `{key: rows}` (502 with the error when the host failed), or the page.
    fn list<T: Serialize>(
        json_wanted: bool,
        key: &str,
        rows: &Result<Vec<T>, HostError>,
        page: impl FnOnce() -> maud::Markup,
    ) -> Answer {
        if json_wanted {
            read_json(rows, |rows| serde_json::json!({ key: rows }))
        } else {
            html(StatusCode::OK, page())
        }
    }
    match route {
        Route::Services(_) => {
            let rows = host.services().await;
            list(json_wanted, "services", &rows, || {
                pages::services(viewer, &name, &switches, &rows, &query)
            })
        }
        Route::Processes(_) => {
            let rows = host.processes().await;
            list(json_wanted, "processes", &rows, || {
                pages::processes(viewer, &name, &switches, &rows, &query)
            })
        }
        Route::Events(_) => {
            let filter = crate::event_filter::EventFilter::parse(raw_query);
            let query = crate::table::TableQuery {
                kept: filter.parameters(),
                ..query
            };
            let rows = host.events(filter.wql().as_deref()).await;
            let stream = format!("/hosts/{name}/events/ws");
            if json_wanted {
                return read_json(
                    &rows,
                    |rows| serde_json::json!({ "events": rows, "stream": stream }),
                );
            }
            let mut answer = html(
                StatusCode::OK,
                pages::events(viewer, &name, &switches, &rows, &stream, &filter, &query),
            );
            // The page's script (`/assets/events.js`) and its socket; still no inline script.
            answer.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(EVENTS_CSP),
            );
            answer
        }
        _ => {
            // From the sampler, as the fleet: the page's time is its rendering only.
            let status = state.samples.status(&name);
            let now = crate::samples::seconds_now();
            let (mut summary, _, sampled) =
                crate::fleet_health::summary_of(&host.config, status, now);
            let subject = asker.session.subject();
            hide_refused(&state.live.now().policy, subject, &mut summary, None);
            if json_wanted {
                let mut answer = serde_json::json!(summary);
                answer["sampled"] = serde_json::json!(sampled);
                return json(StatusCode::OK, &answer);
            }
            let figures = state.samples.snapshot(&name, None).unwrap_or_default();
            let mut answer = html(
                StatusCode::OK,
                pages::overview(viewer, &summary, sampled, &switches, &figures),
            );
            // The graphs' script (`/assets/graphs.js`) and its polling of samples.json.
            answer.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(EVENTS_CSP),
            );
            answer
        }
    }
}

/// Who asks, from where, and in which form the answer goes.
#[derive(Clone, Copy)]
pub(super) struct Asker<'a> {
    pub(super) peer: SocketAddr,
    pub(super) session: &'a Session,
    pub(super) json_wanted: bool,
}

/// What a session's page or change is answered from: the service, the page's header (the
/// user, the CSRF token) and who asks.
#[derive(Clone, Copy)]
pub(super) struct Ctx<'a> {
    pub(super) state: &'a AppState,
    pub(super) viewer: &'a Viewer<'a>,
    pub(super) asker: Asker<'a>,
}

/// The audit records the session's user may see, newest first: a record about a host only to
/// whoever may read that host (as the fleet shows it); a record of the console itself (logins,
/// refusals before a host is known) to the principal it is by (a name given before a login
/// is nobody's), and to whoever a rule lets read every host (`Hosts = ["*"]`, with no Deny on
/// any; not merely each host configured now, which with no hosts would be everyone).
pub(super) fn visible_audit(state: &AppState, session: &Session) -> Vec<crate::audit::AuditRecord> {
    let subject = session.subject();
    let live = state.live.now();
    let reads = |host: &str| live.policy.sees_host(subject, host).is_allowed();
    let whole_fleet = live
        .policy
        .everywhere(subject, &cim_class("Win32_OperatingSystem"), Action::Read)
        .is_allowed();
    state
        .audit
        .newest(usize::MAX)
        .into_iter()
        .filter(|record| match &record.host {
            Some(host) => live.fleet.get(host).is_some() && reads(host),
            None => whole_fleet || record.owner.as_ref().is_some_and(|o| o.is(&session.owner)),
        })
        .collect()
}

/// The fleet page (or its JSON) of every host the session's user may see, from what the
/// sampler holds: no host is read while it is answered, so its time does not grow with the
/// hosts' answers. The facts are read as each host's own account (the sampler's), whatever
/// run-as account a role uses on the host's own pages.
pub(super) fn fleet_page(
    state: &AppState,
    session: &Session,
    viewer: &Viewer<'_>,
    json_wanted: bool,
    raw_query: &str,
) -> Answer {
    use crate::fleet_health::{self as health, Row};
    let subject = session.subject();
    let live = state.live.now();
    let now = crate::samples::seconds_now();
    let shown: Vec<_> = live
        .fleet
        .hosts()
        .filter(|host| {
            live.policy
                .sees_host(subject, &host.config.name)
                .is_allowed()
        })
        .map(|host| {
            let status = state.samples.status(&host.config.name);
            let (mut summary, mut latest, sampled) = health::summary_of(&host.config, status, now);
            hide_refused(&live.policy, subject, &mut summary, latest.as_mut());
            (summary, latest, sampled)
        })
        .collect();
    let mut rows: Vec<Row<'_>> = shown
        .iter()
        .map(|(host, latest, sampled)| Row {
            host,
            latest: *latest,
            sampled: *sampled,
            updates_due: state.updates.get(&host.name).needs_attention(),
        })
        .collect();
    // Counted over every host the viewer sees; only one page of rows is sent.
    let counts = health::counts(&rows);
    let mut query = crate::table::TableQuery::parse(raw_query);
    let attention_only = crate::form::Form::parse(raw_query.as_bytes())
        .is_ok_and(|form| form.get("attention") == Some("1"));
    if attention_only {
        query.kept.push(("attention", "1".to_owned()));
    }
    let page = health::page(&mut rows, &query, attention_only);
    if json_wanted {
        let latest: serde_json::Map<String, serde_json::Value> = page
            .rows
            .iter()
            .map(|r| (r.host.name.clone(), serde_json::json!(r.latest)))
            .collect();
        let hosts: Vec<serde_json::Value> = page
            .rows
            .iter()
            .map(|r| {
                let mut host = serde_json::json!(r.host);
                host["sampled"] = serde_json::json!(r.sampled);
                host
            })
            .collect();
        return json(
            StatusCode::OK,
            &serde_json::json!({
                "hosts": hosts,
                "latest": latest,
                "counts": counts,
                "matching": page.matching,
                "page": page.page,
                "pages": page.pages,
            }),
        );
    }
    let configured = live.fleet.hosts().count();
    html(
        StatusCode::OK,
        pages::fleet(viewer, &page, &counts, configured, &query),
    )
}

/// Drops from a host's fleet row each figure read from a class the rules do not let `subject`
/// read on that host (the sampler reads them all, as the host's own account): a Deny rule on
/// `Win32_Service` hides the failed services as it refuses the services page.
fn hide_refused(
    policy: &crate::delegation::Policy,
    subject: Subject<'_>,
    summary: &mut crate::hosts::HostSummary,
    latest: Option<&mut crate::samples::Point>,
) {
    let host = summary.name.clone();
    let reads = |class: &str| {
        policy
            .decide(subject, &host, &cim_class(class), Action::Read)
            .is_allowed()
    };
    if !reads("Win32_Service") {
        summary.failed_services = None;
    }
    // The processor load may come from either class.
    let processor = reads("Win32_Processor") && reads("Win32_PerfFormattedData_PerfOS_Processor");
    if !processor {
        summary.load_percentage = None;
    }
    if let Some(point) = latest {
        if !processor {
            point.cpu = None;
        }
        if !reads("Win32_LogicalDisk") {
            point.disk_free = None;
        }
        if !reads("Win32_PerfRawData_Tcpip_NetworkInterface") {
            point.network = None;
        }
    }
}

/// The terminal page: xterm.js (from `/assets/terminal.js`) connected to the host's socket.
/// Its Content-Security-Policy adds what xterm.js needs and nothing inline for scripts:
/// `connect-src 'self'` for the socket, its `<style>` elements by this answer's nonce (set by
/// terminal.js), and style attributes.
pub(super) fn terminal_page(
    viewer: &Viewer<'_>,
    name: &str,
    json_wanted: bool,
    host: &Host,
) -> Answer {
    let socket = format!("/hosts/{name}/terminal/ws");
    if json_wanted {
        return json(
            StatusCode::OK,
            &serde_json::json!({ "host": name, "socket": socket }),
        );
    }
    let nonce = crate::sessions::random_token();
    let mut answer = html(
        StatusCode::OK,
        pages::terminal(viewer, name, &socket, &nonce, &host.switches()),
    );
    let policy = format!(
        "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; \
         style-src-elem 'self' 'nonce-{nonce}'; style-src-attr 'unsafe-inline'; img-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    if let Ok(value) = HeaderValue::from_str(&policy) {
        answer
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    answer
}
