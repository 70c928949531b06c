//! The Updates page (GET `/updates`: each host the viewer sees, with what the console's last
//! update action found there, searched, sorted and paged as the fleet is) and its actions
//! (POST `/updates`: a scan, an install of the security updates or of all, or a reboot, on the
//! hosts chosen; each host decided for the action's own right, `update` or `reboot`, a
//! refusal audited; an install on several hosts goes to a canary first). The job is a `bulk`
//! job: its page is `/bulk/ID`, its bounds and audit are theirs.

use hyper::StatusCode;

use super::answer::{error, html, json};
use super::bulk::{decide, launch, visible_hosts};
use super::host_pages::Ctx;
use super::Answer;
use crate::bulk::{Target, UpdateSink, Work};
use crate::form::Form;
use crate::table::TableQuery;
use crate::update_pages::{self, UpdateRow};
use crate::updates::UpdateAction;

/// Most hosts in one update job (the job's page lists each).
pub(super) const MAX_UPDATE_HOSTS: usize = 1000;

/// Every host the asker sees, with what is known of its updates and its operating system.
fn rows(cx: Ctx<'_>) -> Vec<UpdateRow> {
    let live = cx.state.live.now();
    let now = crate::samples::seconds_now();
    visible_hosts(cx.state, cx.asker)
        .into_iter()
        .filter_map(|name| {
            let host = live.fleet.get(&name)?;
            let status = cx.state.samples.status(&name);
            let (summary, _, _) = crate::fleet_health::summary_of(&host.config, status, now);
            Some(UpdateRow {
                updates: cx.state.updates.get(&name),
                os: summary.os.unwrap_or_default(),
                reachable: summary.reachable,
                name,
            })
        })
        .collect()
}

/// `GET /updates`.
pub(super) fn page(cx: Ctx<'_>, raw_query: &str) -> Answer {
    let mut rows = rows(cx);
    let counts = update_pages::counts(&rows);
    let mut query = TableQuery::parse(raw_query);
    let attention_only =
        Form::parse(raw_query.as_bytes()).is_ok_and(|form| form.get("attention") == Some("1"));
    if attention_only {
        query.kept.push(("attention", "1".to_owned()));
        rows.retain(|row| row.updates.needs_attention());
    }
    let shown = crate::table::page(&rows, &query, &update_pages::COLUMNS);
    if cx.asker.json_wanted {
        return json(
            StatusCode::OK,
            &serde_json::json!({
                "counts": counts,
                "matching": shown.matching,
                "page": shown.page,
                "pages": shown.pages,
                "hosts": shown.rows,
            }),
        );
    }
    html(
        StatusCode::OK,
        update_pages::page(cx.viewer, &shown, &counts, &query),
    )
}

/// Why the form cannot be run (400).
#[derive(Debug, thiserror::Error)]
enum FormRefused {
    #[error("choose an action: scan, install-security, install-all or reboot")]
    NoAction,
    #[error("choose from 1 to {MAX_UPDATE_HOSTS} hosts (tick them, or act on every host matching the search)")]
    Hosts,
    #[error("a time (HH:MM, on the host's clock) is for a reboot only")]
    At,
    #[error("the canary must be one of the hosts chosen that you may update, or a group some of them are in")]
    Canary,
}

/// The hosts the form chooses, of those the asker sees: every one matching the search
/// (`scope=matching`, `q`), or those ticked (`host.NAME`), or those listed (`hosts=a,b`).
fn chosen(cx: Ctx<'_>, form: &Form) -> Vec<String> {
    let visible = visible_hosts(cx.state, cx.asker);
    if form.get("scope") == Some("matching") {
        let needle = form.get("q").unwrap_or("").trim().to_lowercase();
        let rows = rows(cx);
        return rows
            .into_iter()
            .filter(|row| {
                needle.is_empty()
                    || crate::table::contains_ignoring_case(&row.name, &needle)
                    || crate::table::contains_ignoring_case(&row.os, &needle)
            })
            .map(|row| row.name)
            .collect();
    }
    let listed: Vec<&str> = form
        .get("hosts")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .collect();
    visible
        .into_iter()
        .filter(|name| {
            form.get(&format!("host.{name}")).is_some() || listed.contains(&name.as_str())
        })
        .collect()
}

/// `POST /updates`: the job started, then its page; 403 when the asker may do the action on
/// none of the hosts chosen.
pub(super) fn start(cx: Ctx<'_>, form: &Form) -> Answer {
    let refused = |why: FormRefused| {
        error(
            cx.asker.json_wanted,
            StatusCode::BAD_REQUEST,
            &why.to_string(),
        )
    };
    let Some(mut action) = form.get("work").and_then(UpdateAction::parse) else {
        return refused(FormRefused::NoAction);
    };
    let at = form.get("at").unwrap_or("").trim();
    if !at.is_empty() {
        match (action, crate::updates::LocalTime::parse(at)) {
            (UpdateAction::Reboot, Some(at)) => action = UpdateAction::RebootAt(at),
            _ => return refused(FormRefused::At),
        }
    }
    let hosts = chosen(cx, form);
    if hosts.is_empty() || hosts.len() > MAX_UPDATE_HOSTS {
        return refused(FormRefused::Hosts);
    }
    let (resource, right) = action.right();
    let targets = decide(cx, hosts, &resource, right);
    if let Some((_, Err(denied))) = targets.iter().find(|(_, t)| t.is_err()) {
        if targets.iter().all(|(_, t)| t.is_err()) {
            return error(
                cx.asker.json_wanted,
                StatusCode::FORBIDDEN,
                &denied.to_string(),
            );
        }
    }
    let canary = if action.canary_first() {
        match canary_of(&targets, form.get("canary").unwrap_or("").trim()) {
            Some(canary) => Some(canary),
            None => return refused(FormRefused::Canary),
        }
    } else {
        None
    };
    let work = Work::Updates(action, UpdateSink(cx.state.updates.clone()));
    launch(cx, work, targets, (resource, right), canary)
}

/// The hosts an install runs on first, of the `targets` allowed, and what the job's page
/// calls them: the host named `named` (empty: the first allowed), else every allowed target
/// in the group named so (the hosts' `Groups`); none when nothing matches.
fn canary_of(targets: &[Target], named: &str) -> Option<(String, Vec<usize>)> {
    let allowed = || {
        targets
            .iter()
            .enumerate()
            .filter_map(|(at, (name, t))| Some((at, name, t.as_ref().ok()?)))
    };
    let host = allowed().find(|(_, name, _)| named.is_empty() || name.as_str() == named);
    if let Some((at, name, _)) = host {
        return Some((name.clone(), vec![at]));
    }
    let group: Vec<usize> = allowed()
        .filter(|(_, _, host)| host.config.groups.iter().any(|g| g == named))
        .map(|(at, _, _)| at)
        .collect();
    (!group.is_empty()).then(|| (format!("group {named}"), group))
}
