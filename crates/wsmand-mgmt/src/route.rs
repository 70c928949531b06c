//! Request paths to typed routes. Nothing from a path reaches a host except through a
//! [`Route`]'s checked fields: host names are looked up in the admin's configuration, service
//! names and process ids are checked here. Untrusted input: fuzzed and property-tested.

/// Longest request target accepted (path and query); longer ones are answered 414.
pub const MAX_TARGET_BYTES: usize = 1024;
/// Longest path segment (a host name, a service name).
const MAX_SEGMENT_BYTES: usize = 128;

/// An action on a service (`POST .../services/NAME/start`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceAction {
    /// `Win32_Service.StartService`.
    Start,
    /// `Win32_Service.StopService`.
    Stop,
    /// `StopService`, then `StartService` (WMI has no restart method).
    Restart,
    /// `Win32_Service.ChangeStartMode` to `Automatic` (start at boot).
    Enable,
    /// `Win32_Service.ChangeStartMode` to `Disabled`.
    Disable,
}

impl ServiceAction {
    /// The word in the URL and on the button.
    pub fn name(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Stop => "stop",
            Self::Restart => "restart",
            Self::Enable => "enable",
            Self::Disable => "disable",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            Self::Start,
            Self::Stop,
            Self::Restart,
            Self::Enable,
            Self::Disable,
        ]
        .into_iter()
        .find(|a| a.name() == text)
    }
}

/// Every page and action of the console.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET /`: to the fleet (or the login page).
    Root,
    /// `GET /login` and `POST /login`.
    Login,
    /// `POST /logout`.
    Logout,
    /// `GET /fleet`.
    Fleet,
    /// `GET /hosts/NAME`.
    HostOverview(String),
    /// `GET /hosts/NAME/services`.
    Services(String),
    /// `POST /hosts/NAME/services/SERVICE/start|stop|restart|enable|disable`.
    ServiceAction(String, String, ServiceAction),
    /// `GET /hosts/NAME/processes`.
    Processes(String),
    /// `POST /hosts/NAME/processes/PID/terminate`.
    Terminate(String, u32),
    /// `GET /hosts/NAME/config`: the `winrm/config` tree.
    Config(String),
    /// `GET /hosts/NAME/events`: the newest event log records.
    Events(String),
    /// `GET /audit`: the console's own audit trail.
    Audit,
    /// `GET /assets/style.css`.
    Stylesheet,
    /// `GET /favicon.ico`, which browsers ask for on their own: answered 204 (no icon) rather
    /// than 404, which a browser reports as an error on every page.
    Favicon,
    /// `GET /hosts/NAME/terminal`: the terminal page.
    Terminal(String),
    /// `GET /hosts/NAME/terminal/ws`: the terminal's WebSocket.
    TerminalSocket(String),
    /// `GET /assets/terminal.js`: xterm.js and the page's script, bundled.
    TerminalScript,
    /// `GET /assets/terminal.css`: xterm.js' stylesheet.
    TerminalStylesheet,
    /// `GET /hosts/NAME/events/ws`: the events page's live stream (a WebSocket).
    EventsSocket(String),
    /// `GET /assets/events.js`: the events page's script, which reads the live stream.
    EventsScript,
    /// `GET /hosts/NAME/samples.json`: the host's sampled figures (`?since=` newer points only).
    Samples(String),
    /// `GET /assets/graphs.js`: uPlot and the overview's graphs, bundled.
    GraphsScript,
    /// `GET /assets/graphs.css`: uPlot's stylesheet.
    GraphsStylesheet,
    /// The manager pages: hosts and roles changed while the service runs.
    Manage(Manage),
    /// `GET /bulk` (the form) and `POST /bulk` (a job started on several hosts).
    Bulk,
    /// `GET /bulk/ID`: a job's progress.
    BulkJob(u64),
    /// `GET /events`: one search over the stored events of every host the viewer may read.
    FleetEvents,
    /// `GET /events/stored/ID`: one stored event's full XML.
    StoredEvent(u64),
    /// `GET /events/tail.json`: the live tail's next events (`?after=ID` and the search).
    EventsTail,
    /// `POST /events/views`: a search saved as a view shared with the console's users.
    SaveEventView,
    /// `POST /events/views/remove`: a saved view deleted (its name in the form).
    RemoveEventView,
    /// `GET /assets/search.js`: uPlot and the Events page's histogram and live tail, bundled.
    SearchScript,
    /// `GET /updates` (each host's updates) and `POST /updates` (an update job on the hosts
    /// chosen: scan, install, reboot).
    Updates,
}

/// The manager pages (`/manage/...`): the same path is the form (GET) and its change (POST).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Manage {
    /// `/manage`: the hosts and roles.
    Index,
    /// `/manage/hosts` (a new host) or `/manage/hosts/NAME`.
    Host(Option<String>),
    /// `POST /manage/hosts/NAME/test`: connect and Identify.
    TestHost(String),
    /// `POST /manage/hosts/NAME/remove`.
    RemoveHost(String),
    /// `/manage/roles` (a new role) or `/manage/roles/NAME`.
    Role(Option<String>),
    /// `POST /manage/roles/NAME/remove`.
    RemoveRole(String),
    /// `POST /manage/sessions/end`: every session of the user the form names.
    EndSessions,
}

/// Why a target was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteError {
    /// Longer than [`MAX_TARGET_BYTES`]: 414.
    TooLong,
    /// No such page: 404.
    NotFound,
}

/// A segment made only of characters that need no escaping anywhere (URLs, HTML, WQL,
/// systemd unit names): letters, digits, `-`, `_`, `.`, `@`, `:`; never `.` or `..` alone.
fn segment(text: &str) -> Option<String> {
    let ok = !text.is_empty()
        && text.len() <= MAX_SEGMENT_BYTES
        && text != "."
        && text != ".."
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@:".contains(&b));
    ok.then(|| text.to_owned())
}

/// Parses a request target (`/hosts/a/services?x=1`: the query is ignored).
pub fn parse(target: &str) -> Result<Route, RouteError> {
    if target.len() > MAX_TARGET_BYTES {
        return Err(RouteError::TooLong);
    }
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    let rest = path.strip_prefix('/').ok_or(RouteError::NotFound)?;
    let parts: Vec<&str> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split('/').collect()
    };
    if parts.len() > 6 {
        return Err(RouteError::NotFound);
    }
    let host = |text: &str| segment(text).ok_or(RouteError::NotFound);
    Ok(match parts.as_slice() {
        [] => Route::Root,
        ["login"] => Route::Login,
        ["logout"] => Route::Logout,
        ["fleet"] => Route::Fleet,
        ["audit"] => Route::Audit,
        ["assets", "style.css"] => Route::Stylesheet,
        ["favicon.ico"] => Route::Favicon,
        ["assets", "terminal.js"] => Route::TerminalScript,
        ["assets", "terminal.css"] => Route::TerminalStylesheet,
        ["assets", "events.js"] => Route::EventsScript,
        ["assets", "graphs.js"] => Route::GraphsScript,
        ["assets", "graphs.css"] => Route::GraphsStylesheet,
        ["hosts", name, "samples.json"] => Route::Samples(host(name)?),
        ["bulk"] => Route::Bulk,
        ["updates"] => Route::Updates,
        ["bulk", id] => Route::BulkJob(
            id.parse::<u64>()
                .ok()
                .filter(|n| *n > 0 && !id.starts_with('+'))
                .ok_or(RouteError::NotFound)?,
        ),
        ["events"] => Route::FleetEvents,
        ["events", "tail.json"] => Route::EventsTail,
        ["events", "views"] => Route::SaveEventView,
        ["events", "views", "remove"] => Route::RemoveEventView,
        ["events", "stored", id] => Route::StoredEvent(
            id.parse::<u64>()
                .ok()
                .filter(|_| !id.starts_with('+'))
                .ok_or(RouteError::NotFound)?,
        ),
        ["assets", "search.js"] => Route::SearchScript,
        ["manage"] => Route::Manage(Manage::Index),
        ["manage", "hosts"] => Route::Manage(Manage::Host(None)),
        ["manage", "hosts", name] => Route::Manage(Manage::Host(Some(host(name)?))),
        ["manage", "hosts", name, "test"] => Route::Manage(Manage::TestHost(host(name)?)),
        ["manage", "hosts", name, "remove"] => Route::Manage(Manage::RemoveHost(host(name)?)),
        ["manage", "roles"] => Route::Manage(Manage::Role(None)),
        ["manage", "roles", name] => Route::Manage(Manage::Role(Some(host(name)?))),
        ["manage", "roles", name, "remove"] => Route::Manage(Manage::RemoveRole(host(name)?)),
        ["manage", "sessions", "end"] => Route::Manage(Manage::EndSessions),
        ["hosts", name, "terminal"] => Route::Terminal(host(name)?),
        ["hosts", name, "terminal", "ws"] => Route::TerminalSocket(host(name)?),
        ["hosts", name] => Route::HostOverview(host(name)?),
        ["hosts", name, "services"] => Route::Services(host(name)?),
        ["hosts", name, "processes"] => Route::Processes(host(name)?),
        ["hosts", name, "config"] => Route::Config(host(name)?),
        ["hosts", name, "events"] => Route::Events(host(name)?),
        ["hosts", name, "events", "ws"] => Route::EventsSocket(host(name)?),
        ["hosts", name, "services", service, action] => {
            let action = ServiceAction::parse(action).ok_or(RouteError::NotFound)?;
            Route::ServiceAction(host(name)?, host(service)?, action)
        }
        ["hosts", name, "processes", pid, "terminate"] => {
            let pid = pid
                .parse::<u32>()
                .ok()
                .filter(|p| *p > 0 && !pid.starts_with('+'))
                .ok_or(RouteError::NotFound)?;
            Route::Terminate(host(name)?, pid)
        }
        _ => return Err(RouteError::NotFound),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn routes() {
        assert_eq!(parse("/"), Ok(Route::Root));
        assert_eq!(parse("/fleet?x=1"), Ok(Route::Fleet));
        assert_eq!(parse("/favicon.ico"), Ok(Route::Favicon));
        assert_eq!(
            parse("/hosts/web1/services/cron.service/stop"),
            Ok(Route::ServiceAction(
                "web1".into(),
                "cron.service".into(),
                ServiceAction::Stop
            ))
        );
        assert_eq!(
            parse("/hosts/web1/services/cron.service/disable"),
            Ok(Route::ServiceAction(
                "web1".into(),
                "cron.service".into(),
                ServiceAction::Disable
            ))
        );
        assert_eq!(
            parse("/hosts/web1/config"),
            Ok(Route::Config("web1".into()))
        );
        assert_eq!(parse("/audit"), Ok(Route::Audit));
        assert_eq!(parse("/bulk/7"), Ok(Route::BulkJob(7)));
        assert_eq!(parse("/updates?sort=security"), Ok(Route::Updates));
        assert_eq!(parse("/updates/x"), Err(RouteError::NotFound));
        assert_eq!(parse("/bulk/+7"), Err(RouteError::NotFound));
        assert_eq!(parse("/events?hosts=web1"), Ok(Route::FleetEvents));
        assert_eq!(parse("/events/stored/42"), Ok(Route::StoredEvent(42)));
        assert_eq!(parse("/events/stored/+42"), Err(RouteError::NotFound));
        assert_eq!(parse("/events/stored/x"), Err(RouteError::NotFound));
        assert_eq!(parse("/events/tail.json?after=3"), Ok(Route::EventsTail));
        assert_eq!(parse("/events/views/remove"), Ok(Route::RemoveEventView));
        assert_eq!(parse("/assets/search.js"), Ok(Route::SearchScript));
        assert_eq!(
            parse("/manage/hosts/web1/test"),
            Ok(Route::Manage(Manage::TestHost("web1".into())))
        );
        assert_eq!(
            parse("/manage/roles"),
            Ok(Route::Manage(Manage::Role(None)))
        );
        assert_eq!(
            parse("/hosts/web1/terminal/ws?csrf=x"),
            Ok(Route::TerminalSocket("web1".into()))
        );
        assert_eq!(parse("/assets/terminal.js"), Ok(Route::TerminalScript));
        assert_eq!(
            parse("/hosts/web1/events/ws?csrf=x&logs=System"),
            Ok(Route::EventsSocket("web1".into()))
        );
        assert_eq!(parse("/assets/events.js"), Ok(Route::EventsScript));
        assert_eq!(
            parse("/hosts/web1/samples.json?since=5"),
            Ok(Route::Samples("web1".into()))
        );
        assert_eq!(
            parse("/hosts/web1/processes/42/terminate"),
            Ok(Route::Terminate("web1".into(), 42))
        );
        for bad in [
            "",
            "fleet",
            "/hosts/../services",
            "/hosts/a%2Fb",
            "/hosts/a b",
            "/hosts/x/processes/0/terminate",
            "/hosts/x/processes/+1/terminate",
            "/hosts/x/services/y/restart-all",
            "/manage/hosts/../remove",
            "/manage/roles/a/b",
        ] {
            assert_eq!(parse(bad), Err(RouteError::NotFound), "{bad}");
        }
        assert_eq!(parse(&"/a".repeat(600)), Err(RouteError::TooLong));
    }

    proptest! {
        #[test]
        fn any_target_parses_or_fails_cleanly(target in "\\PC{0,1200}") {
            let _ = parse(&target);
        }

        #[test]
        fn host_names_from_routes_are_safe(target in "/hosts/[ -~]{0,40}(/services)?") {
            if let Ok(Route::HostOverview(name) | Route::Services(name)) = parse(&target) {
                prop_assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.@:".contains(&b)));
                prop_assert!(name != ".." && name != ".");
            }
        }
    }
}
