//! The console's access table: for every route and method, the one decision that admits it
//! (`docs/management-service.md`, "Who may do what"). The match below has no catch-all, so a
//! new [`Route`] does not compile until its row is written; the dispatcher asks [`need`] before
//! any handler runs (`http::gate`), and a handler reaches a host or the event store only
//! through what that decision handed over. `tests/console_access_matrix.rs` walks every row
//! ([`every_route`]) as every kind of caller.

use hyper::Method;
use wsman_config::mgmt::Action;

use crate::delegation::{cim_class, CONFIG_URI};
use crate::route::{Manage, Route};

/// What a request needs, decided once per request before its handler runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Need {
    /// Nobody's data: the login form, stylesheets, scripts, the icon.
    Anyone,
    /// A session, and only the session's own things (logging out, the way to the fleet, its
    /// own jobs); anything of a host it shows is decided per host by [`Need::EachHost`]'s rule.
    OwnSession,
    /// `action` on `resource` of the route's host (a host not configured: 404).
    Host {
        /// The configured host the route names.
        host: String,
        /// The resource URI decided (a CIM class, `winrm/config`, the cmd shell, the event
        /// logs).
        resource: String,
        /// What is done with it.
        action: Action,
    },
    /// A list over the fleet (the fleet page, the audit trail, the bulk form): each host's
    /// rows only where `read` of its operating system is allowed
    /// ([`crate::delegation::Policy::sees_host`]); rows of no host only to whoever may read
    /// it everywhere ([`crate::delegation::Policy::everywhere`]).
    EachHost,
    /// A job on the hosts a form chooses: each decided for the job's own resource and
    /// action when it is posted (`bulk::Grant`; an update job: `update` of
    /// `MSFT_WUOperations`, `reboot` of `Win32_OperatingSystem`), a refusal audited per host.
    ChosenHosts,
    /// The collector's event store (`read` of `urn:wsmand:event-store/Event` on a host of the
    /// group `event-store`), then the events of each host whose event logs the viewer may
    /// read, every Deny applied (`event_store::scope`).
    Store,
    /// The console's own settings: `manage` on every host ([`crate::manage::may_manage`]).
    Manage,
}

/// The row of `route` asked with `method`. A method a route does not serve gets the row of
/// its GET (the handler answers 405 after the decision).
pub fn need(route: &Route, method: &Method) -> Need {
    let post = method == Method::POST;
    let host = |name: &String, resource: String, action: Action| Need::Host {
        host: name.clone(),
        resource,
        action,
    };
    match route {
        Route::Login
        | Route::Stylesheet
        | Route::Favicon
        | Route::TerminalScript
        | Route::TerminalStylesheet
        | Route::EventsScript
        | Route::GraphsScript
        | Route::GraphsStylesheet
        | Route::SearchScript => Need::Anyone,
        Route::Root | Route::Logout | Route::BulkJob(_) => Need::OwnSession,
        Route::Fleet | Route::Audit => Need::EachHost,
        Route::Bulk | Route::Updates if post => Need::ChosenHosts,
        Route::Bulk | Route::Updates => Need::EachHost,
        Route::HostOverview(name) => host(name, cim_class("Win32_OperatingSystem"), Action::Read),
        Route::Services(name) => host(name, cim_class("Win32_Service"), Action::Read),
        Route::ServiceAction(name, _, _) => host(name, cim_class("Win32_Service"), Action::Change),
        Route::Processes(name) => host(name, cim_class("Win32_Process"), Action::Read),
        Route::Terminate(name, _) => host(name, cim_class("Win32_Process"), Action::Change),
        Route::Config(name) if post => host(name, CONFIG_URI.to_owned(), Action::Change),
        Route::Config(name) => host(name, CONFIG_URI.to_owned(), Action::Read),
        Route::Events(name) => host(name, cim_class("Win32_NTLogEvent"), Action::Read),
        Route::EventsSocket(name) => host(
            name,
            crate::event_stream::EVENT_LOG_URI.to_owned(),
            Action::Read,
        ),
        Route::Samples(name) => host(
            name,
            cim_class("Win32_PerfFormattedData_PerfOS_Processor"),
            Action::Read,
        ),
        Route::Terminal(name) | Route::TerminalSocket(name) => host(
            name,
            wsman_client::shell::CMD_SHELL_URI.to_owned(),
            Action::Shell,
        ),
        Route::FleetEvents
        | Route::StoredEvent(_)
        | Route::EventsTail
        | Route::SaveEventView
        | Route::RemoveEventView => Need::Store,
        Route::Manage(_) => Need::Manage,
    }
}

/// One request of every route, each with the methods it serves: what the access matrix
/// walks. The match in `variant` has no catch-all, so a new route does not compile until
/// it is added here too.
pub fn every_route(host: &str) -> Vec<(Method, Route)> {
    let h = || host.to_owned();
    let get = Method::GET;
    let post = Method::POST;
    let routes = vec![
        (get.clone(), Route::Root),
        (get.clone(), Route::Login),
        (post.clone(), Route::Logout),
        (get.clone(), Route::Fleet),
        (get.clone(), Route::HostOverview(h())),
        (get.clone(), Route::Services(h())),
        (
            post.clone(),
            Route::ServiceAction(
                h(),
                "wsmand-matrix.service".to_owned(),
                crate::route::ServiceAction::Restart,
            ),
        ),
        (get.clone(), Route::Processes(h())),
        (post.clone(), Route::Terminate(h(), 4_000_000)),
        (get.clone(), Route::Config(h())),
        (post.clone(), Route::Config(h())),
        (get.clone(), Route::Events(h())),
        (get.clone(), Route::Audit),
        (get.clone(), Route::Stylesheet),
        (get.clone(), Route::Favicon),
        (get.clone(), Route::Terminal(h())),
        (get.clone(), Route::TerminalSocket(h())),
        (get.clone(), Route::TerminalScript),
        (get.clone(), Route::TerminalStylesheet),
        (get.clone(), Route::EventsSocket(h())),
        (get.clone(), Route::EventsScript),
        (get.clone(), Route::Samples(h())),
        (get.clone(), Route::GraphsScript),
        (get.clone(), Route::GraphsStylesheet),
        (get.clone(), Route::Manage(Manage::Index)),
        (post.clone(), Route::Manage(Manage::TestHost(h()))),
        (get.clone(), Route::Bulk),
        (post.clone(), Route::Bulk),
        (get.clone(), Route::BulkJob(1)),
        (get.clone(), Route::FleetEvents),
        (get.clone(), Route::StoredEvent(1)),
        (get.clone(), Route::EventsTail),
        (post.clone(), Route::SaveEventView),
        (post.clone(), Route::RemoveEventView),
        (get.clone(), Route::SearchScript),
        (get, Route::Updates),
        (post, Route::Updates),
    ];
    let mut seen = [false; VARIANTS];
    for (_, route) in &routes {
        seen[variant(route)] = true;
    }
    assert!(seen.iter().all(|s| *s), "every route has an example");
    routes
}

/// How many [`Route`] variants there are (the arms of [`variant`]).
const VARIANTS: usize = 33;

/// A route's variant as a number: written without a catch-all, so that a new route must be
/// given an example in [`every_route`].
fn variant(route: &Route) -> usize {
    match route {
        Route::Root => 0,
        Route::Login => 1,
        Route::Logout => 2,
        Route::Fleet => 3,
        Route::HostOverview(_) => 4,
        Route::Services(_) => 5,
        Route::ServiceAction(..) => 6,
        Route::Processes(_) => 7,
        Route::Terminate(..) => 8,
        Route::Config(_) => 9,
        Route::Events(_) => 10,
        Route::Audit => 11,
        Route::Stylesheet => 12,
        Route::Favicon => 13,
        Route::Terminal(_) => 14,
        Route::TerminalSocket(_) => 15,
        Route::TerminalScript => 16,
        Route::TerminalStylesheet => 17,
        Route::EventsSocket(_) => 18,
        Route::EventsScript => 19,
        Route::Samples(_) => 20,
        Route::GraphsScript => 21,
        Route::GraphsStylesheet => 22,
        Route::Manage(_) => 23,
        Route::Bulk => 24,
        Route::BulkJob(_) => 25,
        Route::FleetEvents => 26,
        Route::StoredEvent(_) => 27,
        Route::EventsTail => 28,
        Route::SaveEventView => 29,
        Route::RemoveEventView => 30,
        Route::SearchScript => 31,
        Route::Updates => 32,
    }
}
