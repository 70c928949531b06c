//! The multi-host pages: the form (GET `/bulk`), the job started (POST `/bulk`, after the
//! checks of every change; each host checked by the delegation rules, refusals audited), and
//! the job's progress (GET `/bulk/ID`, reloaded by a `Refresh` header until every host has
//! finished, which the page lets the user stop).

use std::sync::Arc;

use hyper::header::{self, HeaderValue};
use hyper::StatusCode;
use wsman_config::mgmt::Action;

use super::answer::{error, html, json, redirect};
use super::host_pages::{Asker, Ctx};
use super::{Answer, AppState};
use crate::bulk::{Grant, NotRun, Target, Work, MAX_COMMAND, MAX_HOSTS};
use crate::bulk_pages;
use crate::delegation::{cim_class, Decision};
use crate::form::Form;
use crate::route::ServiceAction;

/// The hosts the asker sees, in name order.
pub(super) fn visible_hosts(state: &AppState, asker: Asker<'_>) -> Vec<String> {
    let live = state.live.now();
    let subject = asker.session.subject();
    live.fleet
        .hosts()
        .map(|h| h.config.name.clone())
        .filter(|name| live.policy.sees_host(subject, name).is_allowed())
        .collect()
}

/// `GET /bulk`.
pub(super) fn form_page(cx: Ctx<'_>) -> Answer {
    html(
        StatusCode::OK,
        bulk_pages::form(cx.viewer, &visible_hosts(cx.state, cx.asker), None),
    )
}

/// Why the form's work cannot be run (shown on the form, or as JSON's `error`).
#[derive(Debug, thiserror::Error)]
enum FormRefused {
    #[error("give a command of at most {MAX_COMMAND} bytes")]
    Command,
    #[error("choose an action")]
    NoAction,
    #[error("give the service's name (letters, digits, '-', '_', '.', '@', ':')")]
    ServiceName,
}

/// What the form asks for, or why it cannot be run.
fn read_work(form: &Form) -> Result<Work, FormRefused> {
    let service = form.get("service").unwrap_or("").trim();
    let action = match form.get("work").unwrap_or("") {
        "command" => {
            let line = form.get("command").unwrap_or("").trim();
            if line.is_empty() || line.len() > MAX_COMMAND {
                return Err(FormRefused::Command);
            }
            return Ok(Work::Command(line.to_owned()));
        }
        "start" => ServiceAction::Start,
        "stop" => ServiceAction::Stop,
        "restart" => ServiceAction::Restart,
        _ => return Err(FormRefused::NoAction),
    };
    let safe = !service.is_empty()
        && service.len() <= 128
        && service
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@:".contains(&b));
    if !safe {
        return Err(FormRefused::ServiceName);
    }
    Ok(Work::Service(service.to_owned(), action))
}

/// `POST /bulk`: the job started, then its page.
pub(super) fn start(cx: Ctx<'_>, form: &Form) -> Answer {
    let hosts: Vec<String> = visible_hosts(cx.state, cx.asker)
        .into_iter()
        .filter(|name| form.get(&format!("host.{name}")).is_some())
        .collect();
    let refused = |why: &str| {
        if cx.asker.json_wanted {
            return json(
                StatusCode::BAD_REQUEST,
                &serde_json::json!({ "error": why }),
            );
        }
        html(
            StatusCode::BAD_REQUEST,
            bulk_pages::form(cx.viewer, &visible_hosts(cx.state, cx.asker), Some(why)),
        )
    };
    let work = match read_work(form) {
        Ok(work) => work,
        Err(why) => return refused(&why.to_string()),
    };
    if hosts.is_empty() || hosts.len() > MAX_HOSTS {
        return refused(&format!("choose from 1 to {MAX_HOSTS} hosts"));
    }
    let (resource, action) = match &work {
        Work::Command(_) => (wsman_client::shell::CMD_SHELL_URI.to_owned(), Action::Shell),
        Work::Service(..) => (cim_class("Win32_Service"), Action::Change),
        Work::Updates(update, _) => update.right(),
    };
    let targets = decide(cx, hosts, &resource, action);
    launch(cx, work, targets, (resource, action), None)
}

/// Each of `hosts` decided for `action` on `resource`: its client as the allowing role's
/// account, or why not (a refusal audited as `denied`).
pub(super) fn decide(
    cx: Ctx<'_>,
    hosts: Vec<String>,
    resource: &str,
    action: Action,
) -> Vec<Target> {
    let live = cx.state.live.now();
    hosts
        .into_iter()
        .map(|name| {
            let target =
                match live
                    .policy
                    .decide(cx.asker.session.subject(), &name, resource, action)
                {
                    Decision::Allowed { run_as, .. } => live
                        .fleet
                        .get_as(&name, run_as.as_deref())
                        .cloned()
                        .ok_or(NotRun::NoRunAs),
                    Decision::Denied { rule } => {
                        cx.state.audit.record_on(
                            cx.asker.peer.ip(),
                            &cx.asker.session.owner,
                            "denied",
                            &name,
                            &format!("{name}: {} {resource}: by {rule}", action.name()),
                        );
                        Err(NotRun::Denied {
                            action: action.name(),
                            host: name.clone(),
                            rule: rule.to_string(),
                        })
                    }
                };
            (name, target)
        })
        .collect()
}

/// `work` started on `targets` (those of `canary` first), each host's outcome audited; the
/// job's page (or its number, as JSON), or 429 when too many jobs run.
pub(super) fn launch(
    cx: Ctx<'_>,
    work: Work,
    targets: Vec<Target>,
    (resource, action): (String, Action),
    canary: Option<(String, Vec<usize>)>,
) -> Answer {
    let audit = Arc::clone(&cx.state.audit);
    let (ip, owner) = (cx.asker.peer.ip(), cx.asker.session.owner.clone());
    let grant = Grant {
        owner: cx.asker.session.owner.clone(),
        groups: cx.asker.session.groups.clone(),
        resource,
        action,
    };
    let started =
        cx.state
            .jobs
            .start_with_canary(grant, work, targets, canary, move |host, detail| {
                audit.record_on(ip, &owner, "action", host, detail);
            });
    let id = match started {
        Ok(id) => id,
        Err(refused) => {
            cx.state.audit.record_by(
                cx.asker.peer.ip(),
                &cx.asker.session.owner,
                "refused",
                &format!("job: {refused}"),
            );
            return error(
                cx.asker.json_wanted,
                StatusCode::TOO_MANY_REQUESTS,
                &refused.to_string(),
            );
        }
    };
    if cx.asker.json_wanted {
        return json(
            StatusCode::ACCEPTED,
            &serde_json::json!({ "job": id, "page": format!("/bulk/{id}") }),
        );
    }
    redirect(&format!("/bulk/{id}"))
}

/// `GET /bulk/ID`: the job's progress (only its own user's).
pub(super) fn job_page(cx: Ctx<'_>, id: u64, raw_query: &str) -> Answer {
    let Some(job) = cx.state.jobs.get(id, &cx.asker.session.owner) else {
        return error(
            cx.asker.json_wanted,
            StatusCode::NOT_FOUND,
            "no such job (of yours)",
        );
    };
    if cx.asker.json_wanted {
        return json(StatusCode::OK, &job);
    }
    let refreshing = !job.finished() && !raw_query.contains("static=1");
    let mut answer = html(StatusCode::OK, bulk_pages::job(cx.viewer, &job, refreshing));
    if refreshing {
        answer
            .headers_mut()
            .insert(header::REFRESH, HeaderValue::from_static("2"));
    }
    answer
}
