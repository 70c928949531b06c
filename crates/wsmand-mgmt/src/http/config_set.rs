//! A host's `winrm/config` page (GET, with a row open for editing when asked) and `winrm set`
//! of one of its settings (POST, after the checks of every change): `change` on the config
//! resource, audited with the host's answer. Done: back to the page, which says so; refused:
//! the page again with the row open, the value typed and the host's message in place.

use std::sync::Arc;

use hyper::StatusCode;
use wsman_config::mgmt::Action;

use super::answer::{error, html, json, read_json, redirect};
use super::host_pages::{Asker, Ctx};
use super::{Answer, AppState};
use crate::config_edit::{self, container_of, Editing, View};
use crate::delegation::CONFIG_URI;
use crate::form::Form;
use crate::hosts::Host;

/// Whether the asker may change `host`'s configuration (asked of the policy, not audited:
/// it only decides whether the page offers the edit links).
fn may_change(state: &AppState, asker: Asker<'_>, host: &str) -> bool {
    let subject = asker.session.subject();
    let decision = state
        .live
        .now()
        .policy
        .decide(subject, host, CONFIG_URI, Action::Change);
    decision.is_allowed()
}

/// The page, `?edit=PATH` opening that row, `?done=PATH` saying it was set; `host` as the
/// access table's `read` decision admitted it.
pub(super) async fn page(cx: Ctx<'_>, name: &str, raw_query: &str, host: Arc<Host>) -> Answer {
    let rows = host.config().await;
    if cx.asker.json_wanted {
        return read_json(&rows, |rows| serde_json::json!({ "config": rows }));
    }
    let query = Form::parse(raw_query.as_bytes()).unwrap_or_default();
    let edit = query.get("edit").filter(|p| container_of(p).is_some());
    let current = |path: &str| {
        rows.as_ref()
            .ok()
            .and_then(|rows| rows.iter().find(|r| r.path == path))
            .map(|r| r.value.clone())
    };
    let editing_value = edit.and_then(current);
    let view = View {
        may_change: may_change(cx.state, cx.asker, name),
        editing: edit
            .zip(editing_value.as_deref())
            .map(|(path, value)| Editing {
                path,
                value,
                refused: None,
            }),
        done: query.get("done").filter(|p| container_of(p).is_some()),
    };
    html(
        StatusCode::OK,
        config_edit::page(cx.viewer, name, &host.switches(), &rows, &view),
    )
}

/// `POST /hosts/NAME/config` with `path` and `value`: `winrm set` of that one setting, on
/// `host` as the access table's `change` decision admitted it.
pub(super) async fn set(cx: Ctx<'_>, form: &Form, name: &str, host: Arc<Host>) -> Answer {
    let path = form.get("path").unwrap_or("");
    let value = form.get("value").unwrap_or("");
    let Some((container, leaf)) = container_of(path) else {
        return error(
            cx.asker.json_wanted,
            StatusCode::BAD_REQUEST,
            "no such setting, or not one winrm set changes",
        );
    };
    let result = host.set_config(container, leaf, value).await;
    let outcome = match &result {
        Ok(()) => "done".to_owned(),
        Err(refused) => format!("refused: {}", refused.whole),
    };
    cx.state.audit.record_on(
        cx.asker.peer.ip(),
        &cx.asker.session.owner,
        "action",
        name,
        &format!("{name}: winrm set {path} = {value:?}: {outcome}"),
    );
    match (result, cx.asker.json_wanted) {
        (Ok(()), true) => json(StatusCode::OK, &serde_json::json!({ "set": path })),
        // `path` is a known container's path and an XML name: nothing to escape.
        (Ok(()), false) => redirect(&format!("/hosts/{name}/config?done={path}")),
        (Err(refused), true) => json(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({ "error": refused.message, "detail": refused.whole }),
        ),
        (Err(refused), false) => {
            let rows = host.config().await;
            let view = View {
                may_change: true,
                editing: Some(Editing {
                    path,
                    value,
                    refused: Some(&refused),
                }),
                done: None,
            };
            html(
                StatusCode::BAD_REQUEST,
                config_edit::page(cx.viewer, name, &host.switches(), &rows, &view),
            )
        }
    }
}
