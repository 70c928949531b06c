//! The one decision point of a logged-in request: the row of [`crate::access::need`] for its
//! route and method, decided for the session's principal before any handler runs. A refusal
//! is answered here (403, or 404 for a host not configured) and audited with the rule that
//! decided; what was admitted is handed to the handler ([`Admitted`]), which has no other way
//! to a host's client, the store's scope or the console's settings.

use std::sync::Arc;

use hyper::StatusCode;
use wsman_config::mgmt::{Action, MgmtSettings};

use super::answer::error;
use super::host_pages::Asker;
use super::{Answer, AppState};
use crate::access::Need;
use crate::delegation::Decision;
use crate::event_store::{self, Scope, ScopeError};
use crate::hosts::Host;
use crate::manage::{may_manage, MANAGE_RESOURCE};

/// What the decision handed over.
pub(super) enum Admitted {
    /// Nothing of a host: the handler shows the session's own things, or decides per host
    /// with the rule its row names.
    Session,
    /// The route's host, as the allowing role's run-as account.
    Host(OnHost),
    /// The viewer's reach into the event store, or why there is no store (not a refusal: the
    /// page says what to add).
    Store(Result<Scope, ScopeError>),
    /// The settings in force, to a user who may manage them.
    Manage(Box<MgmtSettings>),
}

/// A host admitted for one resource and action: its client, and what was decided (a socket
/// keeps it, to be decided again when the roles change).
pub(super) struct OnHost {
    pub(super) host: Arc<Host>,
    pub(super) resource: String,
    pub(super) action: Action,
}

/// Decides `need` for the asker: what is admitted, or the refusal to answer.
pub(super) fn admit(
    state: &AppState,
    asker: Asker<'_>,
    need: &Need,
) -> Result<Admitted, Box<Answer>> {
    match need {
        Need::Anyone | Need::OwnSession | Need::EachHost | Need::ChosenHosts => {
            Ok(Admitted::Session)
        }
        Need::Host {
            host,
            resource,
            action,
        } => authorize(state, asker, host, resource, *action).map(|client| {
            Admitted::Host(OnHost {
                host: client,
                resource: resource.clone(),
                action: *action,
            })
        }),
        Need::Store => store(state, asker).map(Admitted::Store),
        Need::Manage => manage(state, asker).map(|settings| Admitted::Manage(Box::new(settings))),
    }
}

/// The configured host `name` as the delegation rules let the asker use it for `action` on
/// `resource` (through the allowing role's run-as account), or the answer: 404 for a host
/// not in the configuration, 403 for a refusal, audited with the rule that decided.
fn authorize(
    state: &AppState,
    asker: Asker<'_>,
    name: &str,
    resource: &str,
    action: Action,
) -> Result<Arc<Host>, Box<Answer>> {
    let json_wanted = asker.json_wanted;
    let live = state.live.now();
    if live.fleet.get(name).is_none() {
        return Err(Box::new(error(
            json_wanted,
            StatusCode::NOT_FOUND,
            "no such host in the configuration",
        )));
    }
    let subject = asker.session.subject();
    let refuse = |rule: &str| {
        state.audit.record_on(
            asker.peer.ip(),
            &asker.session.owner,
            "denied",
            name,
            &format!("{name}: {} {resource}: by {rule}", action.name()),
        );
        error(
            json_wanted,
            StatusCode::FORBIDDEN,
            &format!("not allowed: {} on {name} ({rule})", action.name()),
        )
    };
    match live.policy.decide(subject, name, resource, action) {
        Decision::Denied { rule } => Err(Box::new(refuse(&rule))),
        Decision::Allowed { rule, run_as } => match live.fleet.get_as(name, run_as.as_deref()) {
            Some(host) => Ok(Arc::clone(host)),
            None => Err(Box::new(refuse(&format!(
                "{rule}: this host has no RunAs account {}",
                run_as.unwrap_or_default()
            )))),
        },
    }
}

/// The viewer's scope of the event store; refused (403, audited on the collector) when the
/// roles reach no collector's store.
fn store(state: &AppState, asker: Asker<'_>) -> Result<Result<Scope, ScopeError>, Box<Answer>> {
    let managed = state.live.now();
    match event_store::scope(&managed, asker.session.subject()) {
        Ok(scope) => Ok(Ok(scope)),
        Err(ScopeError::NoStore) => Ok(Err(ScopeError::NoStore)),
        Err(ScopeError::Denied { host, rule }) => {
            state.audit.record_on(
                asker.peer.ip(),
                &asker.session.owner,
                "denied",
                &host,
                &format!(
                    "{host}: read {}: by {rule}",
                    wsman_proto::ns::event_store::EVENTS
                ),
            );
            let refused = ScopeError::Denied { host, rule };
            Err(Box::new(error(
                asker.json_wanted,
                StatusCode::FORBIDDEN,
                &refused.to_string(),
            )))
        }
    }
}

/// The settings now in force, or the refusal (403, audited) when the asker may not manage.
fn manage(state: &AppState, asker: Asker<'_>) -> Result<MgmtSettings, Box<Answer>> {
    let live = state.live.now();
    match may_manage(&live.policy, asker.session.subject()) {
        Decision::Allowed { .. } => Ok(live.settings.clone()),
        Decision::Denied { rule } => {
            state.audit.record_by(
                asker.peer.ip(),
                &asker.session.owner,
                "denied",
                &format!("manage {MANAGE_RESOURCE}: by {rule}"),
            );
            Err(Box::new(error(
                asker.json_wanted,
                StatusCode::FORBIDDEN,
                &format!("not allowed: manage ({rule}); a rule allowing manage on every host (*) is needed"),
            )))
        }
    }
}
