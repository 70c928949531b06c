//! The manager pages: who may use them (a rule allowing `manage` on every host), their forms
//! (GET), and their changes (POST, after the Origin, form and CSRF checks of every change):
//! a host or role added, changed or removed in `mgmt.toml` and applied at once, a host tested.
//! Each change is audited; a refused one draws its form again with the reason in place.

use hyper::StatusCode;
use maud::Markup;
use wsman_config::mgmt::{EntryChange, ManagedHost, MgmtSettings, Role};

use super::answer::{error, html, json, read_json, redirect};
use super::host_pages::{Asker, Ctx};
use super::{Answer, AppState};
use crate::delegation::Subject;
use crate::form::Form;
use crate::manage::{comma_list as list, parse_rules, ChangeError};
use crate::manage_pages::{self, HostFields, RoleFields};
use crate::route::Manage;

/// `GET /manage/...`: the hosts and roles, or a form; `settings` handed over by the access
/// table's `manage` decision (`gate`).
pub(super) fn page(cx: Ctx<'_>, route: Manage, raw_query: &str, settings: MgmtSettings) -> Answer {
    let missing = |what: &str| error(cx.asker.json_wanted, StatusCode::NOT_FOUND, what);
    if cx.asker.json_wanted {
        return json(
            StatusCode::OK,
            &serde_json::json!({ "hosts": settings.hosts, "roles": settings.roles }),
        );
    }
    let viewer = cx.viewer;
    let markup = match &route {
        Manage::Index => {
            let query = crate::table::TableQuery::parse(raw_query);
            manage_pages::index(viewer, &settings, &query)
        }
        Manage::Host(None) => manage_pages::host_form(viewer, None, &HostFields::default(), None),
        Manage::Host(Some(name)) => match settings.hosts.iter().find(|h| h.name == *name) {
            Some(host) => manage_pages::host_form(viewer, Some(name), &HostFields::of(host), None),
            None => return missing("no such host in the configuration"),
        },
        Manage::Role(None) => manage_pages::role_form(viewer, None, &RoleFields::default(), None),
        Manage::Role(Some(name)) => match settings.roles.iter().find(|r| r.name == *name) {
            Some(role) => manage_pages::role_form(viewer, Some(name), &RoleFields::of(role), None),
            None => return missing("no such role in the configuration"),
        },
        Manage::TestHost(_)
        | Manage::RemoveHost(_)
        | Manage::RemoveRole(_)
        | Manage::EndSessions => {
            return error(
                false,
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed here",
            )
        }
    };
    html(StatusCode::OK, markup)
}

/// `POST /manage/...` (the form already checked for its Origin and CSRF token).
pub(super) async fn post(
    cx: Ctx<'_>,
    form: &Form,
    route: Manage,
    settings: MgmtSettings,
) -> Answer {
    match route {
        Manage::Index => error(
            cx.asker.json_wanted,
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed here",
        ),
        Manage::TestHost(name) => test_host(cx, &name).await,
        Manage::Host(was) => save_host(cx, form, &settings, was).await,
        Manage::Role(was) => save_role(cx, form, was).await,
        Manage::RemoveHost(name) => {
            let what = format!("remove host {name}");
            remove(cx, EntryChange::RemoveHost(name), &what).await
        }
        Manage::RemoveRole(name) => {
            let what = format!("remove role {name}");
            remove(cx, EntryChange::RemoveRole(name), &what).await
        }
        Manage::EndSessions => end_sessions(cx.state, cx.asker, form),
    }
}

/// `POST /manage/sessions/end` (`kind` `manager` or `os`, `user`): ends every session of that
/// user, with their terminals, event streams and running jobs; audited.
fn end_sessions(state: &AppState, asker: Asker<'_>, form: &Form) -> Answer {
    let kind = form.get("kind").unwrap_or("manager");
    let principal: fn(&str) -> wsman_principal::Principal = match kind {
        "manager" => crate::sessions::manager_account,
        "os" => |name| wsman_principal::Principal::linux_user(name),
        _ => {
            return error(
                asker.json_wanted,
                StatusCode::BAD_REQUEST,
                "kind: manager or os",
            )
        }
    };
    let user = field(form, "user");
    if user.is_empty() {
        return error(
            asker.json_wanted,
            StatusCode::BAD_REQUEST,
            "user: give a user name",
        );
    }
    let owner = principal(&user).owner_key();
    let ids = state.sessions.end_user(&owner);
    let sockets: usize = ids
        .iter()
        .map(|id| state.terminals.end_session(id) + state.event_streams.end_session(id))
        .sum();
    let runs = state.jobs.end_where(|_, grant| grant.owner.is(&owner));
    state.audit.record_by(
        asker.peer.ip(),
        &asker.session.owner,
        "manage",
        &format!(
            "end sessions of {owner}: {} session(s), {sockets} socket(s), {runs} job run(s) ended",
            ids.len()
        ),
    );
    if asker.json_wanted {
        json(
            StatusCode::OK,
            &serde_json::json!({ "sessions": ids.len(), "sockets": sockets, "runs": runs }),
        )
    } else {
        redirect("/manage")
    }
}

/// Ends the terminals, event streams and job runs that the policy now in force no longer
/// allows (a host removed, a role or a rule changed); returns how many.
fn end_what_is_no_longer_allowed(state: &AppState) -> usize {
    let live = state.live.now();
    let ended = |host: &str, grant: &crate::socket_slots::Grant| {
        let subject = Subject {
            principal: grant.owner.principal(),
            groups: &grant.groups,
        };
        live.fleet.get(host).is_none()
            || !live
                .policy
                .decide(subject, host, &grant.resource, grant.action)
                .is_allowed()
    };
    state.terminals.end_where(ended)
        + state.event_streams.end_where(ended)
        + state.jobs.end_where(ended)
}

/// Makes `change`, audits it with its outcome, and answers with the manager page (or JSON);
/// refused, with what `refused` makes of why.
async fn apply(
    cx: Ctx<'_>,
    change: &EntryChange,
    what: &str,
    refused: impl FnOnce(&str) -> Answer,
) -> Answer {
    match change_audited(cx.state, cx.asker, change, what).await {
        Ok(()) if cx.asker.json_wanted => {
            json(StatusCode::OK, &serde_json::json!({ "done": what }))
        }
        Ok(()) => redirect("/manage"),
        Err(why) => refused(&why.to_string()),
    }
}

/// A host or role removed; refused: 409 with why.
async fn remove(cx: Ctx<'_>, change: EntryChange, what: &str) -> Answer {
    let refused = |why: &str| error(cx.asker.json_wanted, StatusCode::CONFLICT, why);
    apply(cx, &change, what, refused).await
}

/// A refused form: 400 with why, as JSON or as the form again (`form`) with why in place.
fn form_refused(asker: Asker<'_>, why: &str, form: impl FnOnce() -> Markup) -> Answer {
    if asker.json_wanted {
        json(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({ "error": why }),
        )
    } else {
        html(StatusCode::BAD_REQUEST, form())
    }
}

/// What adding or changing the `kind` entry `name` (formerly `was`) does, for the audit trail
/// and the answer.
fn change_summary(kind: &str, was: Option<&str>, name: &str) -> String {
    match was {
        Some(old) if old != name => format!("change {kind} {old} (now {name})"),
        Some(old) => format!("change {kind} {old}"),
        None => format!("add {kind} {name}"),
    }
}

/// Makes `change` and audits it (`manage`, with what and its outcome).
async fn change_audited(
    state: &AppState,
    asker: Asker<'_>,
    change: &EntryChange,
    what: &str,
) -> Result<(), ChangeError> {
    let outcome = state.live.change(change).await.map(|_| ());
    if outcome.is_ok() {
        // A host added or changed is sampled before the answer, so the fleet (rendered from
        // the samples) shows it at once rather than one interval later.
        crate::samples::sample_new(&state.live, &state.samples).await;
    }
    let detail = match &outcome {
        Ok(()) => match end_what_is_no_longer_allowed(state) {
            0 => format!("{what}: done"),
            ended => format!("{what}: done; {ended} terminal(s), stream(s) or job run(s) no longer allowed ended"),
        },
        Err(error) => format!("{what}: refused: {error}"),
    };
    state
        .audit
        .record_by(asker.peer.ip(), &asker.session.owner, "manage", &detail);
    outcome
}

fn field(form: &Form, name: &str) -> String {
    form.get(name).unwrap_or("").trim().to_owned()
}

async fn save_host(
    cx: Ctx<'_>,
    form: &Form,
    settings: &MgmtSettings,
    was: Option<String>,
) -> Answer {
    let fields = HostFields {
        name: field(form, "name"),
        url: field(form, "url"),
        username: field(form, "username"),
        allow_unencrypted: form.get("allow_unencrypted").is_some(),
        skip_ca_check: form.get("skip_ca_check").is_some(),
        groups: field(form, "groups"),
    };
    let password = form.get("password").unwrap_or("");
    let saved = was
        .as_deref()
        .and_then(|name| settings.hosts.iter().find(|h| h.name == name));
    let refused = |why: &str| {
        form_refused(cx.asker, why, || {
            manage_pages::host_form(cx.viewer, was.as_deref(), &fields, Some(why))
        })
    };
    if was.is_some() && saved.is_none() {
        return refused("this host is no longer in the configuration");
    }
    // The typed password is stored only once the rest is known to be valid.
    let mut entry = ManagedHost {
        name: fields.name.clone(),
        url: fields.url.clone(),
        username: fields.username.clone(),
        password_file: saved.map(|h| h.password_file.clone()).unwrap_or_default(),
        allow_unencrypted: fields.allow_unencrypted,
        skip_ca_check: fields.skip_ca_check,
        groups: list(&fields.groups),
        run_as: saved.map(|h| h.run_as.clone()).unwrap_or_default(),
    };
    let mut check = settings.clone();
    check.hosts.retain(|h| Some(&h.name) != was.as_ref());
    check.hosts.push(ManagedHost {
        password_file: "/checked".into(),
        ..entry.clone()
    });
    if let Err(error) = check.validate() {
        return refused(&error.to_string());
    }
    if let Err(error) = wsman_client::Endpoint::parse(&entry.url, false) {
        return refused(&format!("Url: {error}"));
    }
    if let Some(saved) = saved {
        if let Some(why) = password_needed(cx.state, saved, &entry, password) {
            // A refusal (rate-limited per address), naming the Url the password would go to.
            cx.state.audit.record_by(
                cx.asker.peer.ip(),
                &cx.asker.session.owner,
                "refused",
                &format!(
                    "change host {}, Url {} -> {}: {why}",
                    saved.name, saved.url, entry.url
                ),
            );
            return refused(why);
        }
    }
    if !password.is_empty() {
        match cx.state.live.store_password(&entry.name, password) {
            Ok(path) => entry.password_file = path,
            Err(error) => return refused(&error.to_string()),
        }
    }
    let mut what = change_summary("host", was.as_deref(), &entry.name);
    if let Some(saved) = saved.filter(|saved| saved.url != entry.url) {
        what.push_str(&format!(", Url {} -> {}", saved.url, entry.url));
    }
    let change = EntryChange::PutHost {
        was: was.clone(),
        entry,
    };
    apply(cx, &change, &what, refused).await
}

/// Why the host `saved`, to become `entry`, needs its password typed again (`None`: it may
/// keep its stored one). A password goes only where it was given: to the same Url, with the
/// same AllowUnencrypted and SkipCaCheck, for the same host name.
fn password_needed(
    state: &AppState,
    saved: &ManagedHost,
    entry: &ManagedHost,
    password: &str,
) -> Option<&'static str> {
    let moved = saved.url != entry.url
        || saved.allow_unencrypted != entry.allow_unencrypted
        || saved.skip_ca_check != entry.skip_ca_check;
    if moved && !saved.run_as.is_empty() {
        // Their passwords are kept as they are: they would go to the new Url untyped.
        return Some("RunAs: this host has RunAs accounts, whose passwords cannot be typed here; change its Url, AllowUnencrypted or SkipCaCheck in mgmt.toml");
    }
    if !password.is_empty() {
        return None;
    }
    let own_file = saved.password_file == state.live.password_path(&saved.name);
    if moved {
        Some("Password: the Url, AllowUnencrypted or SkipCaCheck changed: give the account's password again")
    } else if saved.name != entry.name && own_file {
        Some("Password: the host is renamed: give the account's password again")
    } else {
        None
    }
}

async fn save_role(cx: Ctx<'_>, form: &Form, was: Option<String>) -> Answer {
    let fields = RoleFields {
        name: field(form, "name"),
        members: field(form, "members"),
        run_as: field(form, "run_as"),
        rules: form.get("rules").unwrap_or("").to_owned(),
    };
    let refused = |why: &str| {
        form_refused(cx.asker, why, || {
            manage_pages::role_form(cx.viewer, was.as_deref(), &fields, Some(why))
        })
    };
    if fields.name.is_empty() {
        return refused("Name: give the role a name");
    }
    let rules = match parse_rules(&fields.rules) {
        Ok(rules) => rules,
        Err(why) => return refused(&why.to_string()),
    };
    let entry = Role {
        name: fields.name.clone(),
        members: list(&fields.members),
        run_as: (!fields.run_as.is_empty()).then(|| fields.run_as.clone()),
        rules,
    };
    let what = change_summary("role", was.as_deref(), &entry.name);
    let change = EntryChange::PutRole {
        was: was.clone(),
        entry,
    };
    apply(cx, &change, &what, refused).await
}

/// Connects to a configured host and asks Identify; audited.
async fn test_host(cx: Ctx<'_>, name: &str) -> Answer {
    let live = cx.state.live.now();
    let Some(host) = live.fleet.get(name).cloned() else {
        return error(
            cx.asker.json_wanted,
            StatusCode::NOT_FOUND,
            "no such host in the configuration",
        );
    };
    let result = host.identify().await;
    let outcome = match &result {
        Ok(product) => format!("reached ({product})"),
        Err(error) => format!("error: {error}"),
    };
    // A record of the console's settings (not about the host): kept visible once the host
    // is removed, as its adding and removing are.
    cx.state.audit.record_by(
        cx.asker.peer.ip(),
        &cx.asker.session.owner,
        "manage",
        &format!("{name}: test: {outcome}"),
    );
    if cx.asker.json_wanted {
        return read_json(&result, |product| serde_json::json!({ "reached": product }));
    }
    html(
        StatusCode::OK,
        manage_pages::tested(cx.viewer, name, &host.switches(), &result),
    )
}
