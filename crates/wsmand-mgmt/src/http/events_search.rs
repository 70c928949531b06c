//! The Events page and what it posts: the search over the collector's event store
//! (`event_store`: which store, which hosts' events, as the viewer's roles allow, decided by
//! the access table's `Store` row before these run), one event's full XML, the live tail's
//! polls, and the saved views (`event_views`).

use hyper::header::{self, HeaderValue};
use hyper::StatusCode;

use super::answer::{error, html, json, EVENTS_CSP};
use super::host_pages::{Asker, Ctx};
use super::{Answer, AppState};
use crate::event_pages::{self, EventsPage, Notice};
use crate::event_search::Search;
use crate::event_store::{self, Scope, ScopeError};
use crate::form::Form;
use crate::manage::{may_manage, Managed};
use crate::sessions::audit_name;

/// The viewer's reach into the store as the access table's decision admitted it (`gate`):
/// the scope, or why there is no store (the page says what to add).
type Store = Result<Scope, ScopeError>;

/// The hosts and groups the viewer may choose in the form.
fn choices(scope: &Scope) -> Vec<String> {
    let mut groups: Vec<String> = scope
        .hosts
        .iter()
        .flat_map(|(_, groups)| groups.iter().map(|g| format!("group:{g}")))
        .collect();
    groups.sort();
    groups.dedup();
    scope
        .hosts
        .iter()
        .map(|(name, _)| name.clone())
        .chain(groups)
        .collect()
}

/// The views, each with whether the viewer may delete it (its author, or a manager).
fn views(
    state: &AppState,
    asker: Asker<'_>,
    managed: &Managed,
) -> Vec<(crate::event_views::SavedView, bool)> {
    let owner = asker.session.owner.principal().to_string();
    let manager = is_manager(asker, managed);
    state
        .event_views
        .list()
        .into_iter()
        .map(|view| {
            let mine = manager || view.owner == owner;
            (view, mine)
        })
        .collect()
}

fn is_manager(asker: Asker<'_>, managed: &Managed) -> bool {
    may_manage(&managed.policy, asker.session.subject()).is_allowed()
}

/// The Events page (or its JSON) for the search in `raw_query`, with `notice` (what saving or
/// deleting a view did) at the top.
pub(super) async fn page(
    cx: Ctx<'_>,
    raw_query: &str,
    notice: Option<Notice>,
    store: Store,
) -> Answer {
    let managed = cx.state.live.now();
    let mut search = Search::parse(raw_query);
    let mut shown = EventsPage {
        search: &Search::default(),
        collector: None,
        problem: None,
        choices: Vec::new(),
        results: None,
        histogram: None,
        cursor: None,
        views: views(cx.state, cx.asker, &managed),
        notice,
    };
    let scope = match store {
        Ok(scope) => Some(scope),
        Err(problem) => {
            shown.problem = Some(problem.to_string());
            None
        }
    };
    if let Some(scope) = &scope {
        let (computers, problems) = event_store::computers(scope, &managed, &search);
        search.problems.extend(problems);
        let computers = computers.as_deref();
        if computers.is_some_and(<[String]>::is_empty) {
            shown.problem = Some("No host you may read is chosen: nothing is searched.".to_owned());
        }
        let collector = &scope.collector;
        let (results, histogram, cursor) = tokio::join!(
            event_store::search(collector, &search, computers),
            event_store::histogram(collector, &search, computers),
            event_store::cursor(collector),
        );
        if cx.asker.json_wanted {
            return match (results, histogram) {
                (Ok((events, more)), Ok(buckets)) => json(
                    StatusCode::OK,
                    &serde_json::json!({
                        "collector": scope.collector_name,
                        "events": events,
                        "more": more,
                        "histogram": buckets,
                        "cursor": cursor.ok(),
                        "problems": search.problems,
                    }),
                ),
                (Err(error), _) | (_, Err(error)) => json(
                    StatusCode::BAD_GATEWAY,
                    &serde_json::json!({ "error": error.to_string() }),
                ),
            };
        }
        shown.collector = Some(&scope.collector_name);
        shown.choices = choices(scope);
        shown.results = Some(results);
        shown.histogram = Some(histogram);
        shown.cursor = cursor.ok();
    }
    if cx.asker.json_wanted {
        return error(
            true,
            StatusCode::SERVICE_UNAVAILABLE,
            shown.problem.as_deref().unwrap_or("no event store"),
        );
    }
    shown.search = &search;
    let mut answer = html(StatusCode::OK, event_pages::events(cx.viewer, &shown));
    // The page's script (`/assets/search.js`) and its polls of the live tail.
    answer.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(EVENTS_CSP),
    );
    answer
}

/// The live tail's poll: the matching events stored after `after`, oldest first, as JSON
/// (`{"events": [...], "next": ID}`).
pub(super) async fn tail(state: &AppState, raw_query: &str, store: Store) -> Answer {
    let managed = state.live.now();
    let after = Form::parse(raw_query.as_bytes())
        .ok()
        .and_then(|form| form.get("after").and_then(|a| a.parse::<u64>().ok()));
    let Some(after) = after else {
        return error(
            true,
            StatusCode::BAD_REQUEST,
            "after=ID is needed (a number)",
        );
    };
    // The search without `after` (its own parameter, not the search's).
    let search = Search::parse(raw_query);
    let scope = match store {
        Ok(scope) => scope,
        Err(problem) => return error(true, StatusCode::SERVICE_UNAVAILABLE, &problem.to_string()),
    };
    let (computers, _) = event_store::computers(&scope, &managed, &search);
    match event_store::tail(&scope.collector, &search, computers.as_deref(), after).await {
        Ok((events, next)) => json(
            StatusCode::OK,
            &serde_json::json!({ "events": events, "next": next }),
        ),
        Err(error) => json(
            StatusCode::BAD_GATEWAY,
            &serde_json::json!({ "error": error.to_string() }),
        ),
    }
}

/// One stored event's full XML, if it is of a host the viewer may read (else 404, as an event
/// that does not exist: which ids exist is not told).
pub(super) async fn stored(cx: Ctx<'_>, id: u64, store: Store) -> Answer {
    let managed = cx.state.live.now();
    let scope = match store {
        Ok(scope) => scope,
        Err(problem) => {
            return error(
                cx.asker.json_wanted,
                StatusCode::SERVICE_UNAVAILABLE,
                &problem.to_string(),
            )
        }
    };
    let (computers, _) = event_store::computers(&scope, &managed, &Search::default());
    let xml = match event_store::full_event(&scope.collector, id).await {
        Ok(event) => {
            let computer = crate::event_search::computer_of(&event).unwrap_or_default();
            if !event_store::covers(computers.as_deref(), &computer) {
                cx.state.audit.record_on(
                    cx.asker.peer.ip(),
                    &cx.asker.session.owner,
                    "denied",
                    &scope.collector_name,
                    &format!("stored event {id}: of {computer:?}, no host the user may read"),
                );
                return error(cx.asker.json_wanted, StatusCode::NOT_FOUND, "no such event");
            }
            Ok(crate::event_search::readable_xml(&event))
        }
        Err(error) => Err(error),
    };
    if cx.asker.json_wanted {
        return match xml {
            Ok(xml) => json(StatusCode::OK, &serde_json::json!({ "id": id, "xml": xml })),
            Err(error) => json(
                StatusCode::BAD_GATEWAY,
                &serde_json::json!({ "error": error.to_string() }),
            ),
        };
    }
    let status = if xml.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::BAD_GATEWAY
    };
    html(
        status,
        event_pages::stored_event(cx.viewer, id, &xml, "/events"),
    )
}

/// `POST /events/views`: the search in the form's `query` saved as `name` by the viewer, who
/// must be one who may use the Events page; then the page of that search, saying so.
pub(super) async fn save(cx: Ctx<'_>, form: &Form, store: Store) -> Answer {
    let query = form.get("query").unwrap_or("");
    let search = Search::parse(query);
    let name = form.get("name").unwrap_or("");
    let principal = cx.asker.session.owner.principal();
    let saved = cx
        .state
        .event_views
        .create(principal, &audit_name(principal), name, &search);
    let done = match saved {
        Ok(view) => Ok((
            format!("saved the view {:?}: {}", view.name, view.query),
            format!(
                "Saved the view “{}”: every console user sees it.",
                view.name
            ),
        )),
        Err(e) => Err((
            format!("save a view: {e}"),
            e.to_string(),
            view_refusal_status(&e, StatusCode::BAD_REQUEST),
        )),
    };
    view_changed(cx, &search.query_string(1), done, store).await
}

/// `POST /events/views/remove`: the view `name` deleted, by its author or a manager.
pub(super) async fn remove(cx: Ctx<'_>, form: &Form, store: Store) -> Answer {
    let managed = cx.state.live.now();
    let name = form.get("name").unwrap_or("");
    let manager = is_manager(cx.asker, &managed);
    let removed = cx
        .state
        .event_views
        .remove(name, cx.asker.session.owner.principal(), manager);
    let done = match removed {
        Ok(()) => Ok((
            format!("deleted the view {name:?}"),
            format!("Deleted the view “{name}”."),
        )),
        Err(e) => Err((
            format!("delete a view: {e}"),
            e.to_string(),
            view_refusal_status(&e, StatusCode::INTERNAL_SERVER_ERROR),
        )),
    };
    view_changed(cx, "", done, store).await
}

/// The status of a refused change to the views: `otherwise` for what is not told apart. A
/// console that cannot write its views answers 503: the request was right, the service's
/// directory is not (said at its start).
fn view_refusal_status(error: &crate::event_views::ViewError, otherwise: StatusCode) -> StatusCode {
    use crate::event_views::ViewError;
    match error {
        ViewError::NotYours(_) => StatusCode::FORBIDDEN,
        ViewError::NotFound(_) => StatusCode::NOT_FOUND,
        ViewError::CannotSave(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => otherwise,
    }
}

/// A change to the saved views `done` (its audit line and notice; when refused, the status
/// too): audited, then told on the page of `query`, with that status where the page is fine.
async fn view_changed(
    cx: Ctx<'_>,
    query: &str,
    done: Result<(String, String), (String, String, StatusCode)>,
    store: Store,
) -> Answer {
    let (action, line, notice, status) = match done {
        Ok((line, notice)) => ("event view", line, Notice::Done(notice), StatusCode::OK),
        Err((line, notice, status)) => ("refused", line, Notice::Refused(notice), status),
    };
    cx.state
        .audit
        .record_by(cx.asker.peer.ip(), &cx.asker.session.owner, action, &line);
    let mut answer = page(cx, query, Some(notice), store).await;
    if answer.status() == StatusCode::OK {
        *answer.status_mut() = status;
    }
    answer
}
