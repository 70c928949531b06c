//! The console's access matrix, proven by enumeration: every row of the access table
//! (`wsmand_mgmt::access::every_route`, one request per route and method; a new route does not
//! compile until it has one) is sent to the real `wsmand-mgmt`, in front of two real `wsmand`
//! hosts and a real `wsmand` collector whose event store holds the events of both (a Windows
//! forwarder's recorded messages posted once as `host0` and once as `host1`), as every kind of
//! caller the console knows: a manager account allowed everything, an
//! OS administrator (PAM, in `wsmand-admins`), a plain PAM user and a WMI monitoring user (both
//! refused at the login: not in the login group), a viewer of one host, a role allowed every
//! host with a Deny on one host, one with a Deny on a group, and one without the event store.
//! Each answer must be what that caller's rights, written here apart from the console's
//! policy code, say: refused by the decision ("not allowed", 403) or not; and an answer over
//! the fleet (the fleet page, the audit trail, the bulk form, the Events page and its tail)
//! must name nothing of a host the caller is denied.

mod common;
use common::{Layout, Service, MANAGER, MANAGER_PASSWORD};

use common::forwarded::{replay_windows, wait_for_stored};
use hyper::Method;
use wsman_config::mgmt::Action;
use wsmand_mgmt::access::{every_route, need, Need};
use wsmand_mgmt::route::Route;

const PASSWORD: &str = "Matrix-Pass-4-Console!";
/// The hosts (groups web and db) and the collector (group event-store).
const HOST0: &str = "host0";
const HOST1: &str = "host1";
const COLLECTOR: &str = "collector";
const STORE: &str = "urn:wsmand:event-store";
/// The events each host's forwarder stored (the fixtures' batches).
const EVENTS_EACH: u64 = 6;

const ROLES: &str = "[[Role]]\nName = \"admins\"\nMembers = [\"console-admin\"]\n\
    [[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"*\"]\nResources = [\"*\"]\n\
    Actions = [\"read\", \"change\", \"shell\", \"manage\"]\n\
    [[Role]]\nName = \"os-admins\"\nMembers = [\"os-group:wsmand-admins\"]\n\
    [[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"*\"]\nResources = [\"*\"]\n\
    Actions = [\"read\", \"change\", \"shell\"]\n\
    [[Role]]\nName = \"one-host\"\nMembers = [\"m-one\"]\n\
    [[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"host0\"]\nResources = [\"*\"]\nActions = [\"read\"]\n\
    [[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"collector\"]\nResources = [\"urn:wsmand:event-store\"]\n\
    Actions = [\"read\"]\n\
    [[Role]]\nName = \"all-but-host1\"\nMembers = [\"m-almost\"]\n\
    [[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"*\"]\nResources = [\"*\"]\n\
    Actions = [\"read\", \"change\", \"shell\"]\n\
    [[Role.Rule]]\nEffect = \"Deny\"\nHosts = [\"host1\"]\nResources = [\"*\"]\n\
    Actions = [\"read\", \"change\", \"shell\"]\n\
    [[Role]]\nName = \"all-but-db\"\nMembers = [\"m-nodb\"]\n\
    [[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"*\"]\nResources = [\"*\"]\nActions = [\"read\"]\n\
    [[Role.Rule]]\nEffect = \"Deny\"\nHosts = [\"group:db\"]\nResources = [\"*\"]\nActions = [\"read\"]\n\
    [[Role]]\nName = \"no-store\"\nMembers = [\"m-nostore\"]\n\
    [[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"*\"]\nResources = [\"*\"]\nActions = [\"read\"]\n\
    [[Role.Rule]]\nEffect = \"Deny\"\nHosts = [\"*\"]\nResources = [\"urn:wsmand:event-store\"]\n\
    Actions = [\"read\"]\n";

/// One kind of caller: how it logs in, and its rights as the roles above mean them.
struct Caller {
    kind: &'static str,
    login: Option<(String, String)>,
    /// May it do `action` with `resource` on `host`?
    may: fn(host: &str, resource: &str, action: Action) -> bool,
    /// May it change the console's settings?
    manages: bool,
}

impl Caller {
    /// The hosts whose things it may never see.
    fn hidden(&self) -> Vec<&'static str> {
        [HOST0, HOST1]
            .into_iter()
            .filter(|host| !(self.may)(host, "http://any/Win32_OperatingSystem", Action::Read))
            .collect()
    }

    /// Whether the console must admit `need` for this caller.
    fn admitted(&self, need: &Need) -> bool {
        match need {
            Need::Anyone | Need::OwnSession | Need::EachHost | Need::ChosenHosts => true,
            Need::Host {
                host,
                resource,
                action,
            } => (self.may)(host, resource, *action),
            Need::Store => (self.may)(COLLECTOR, STORE, Action::Read),
            Need::Manage => self.manages,
        }
    }
}

fn callers() -> Vec<Caller> {
    let manager = |name: &str| Some((name.to_owned(), PASSWORD.to_owned()));
    let pam = |user: &str, password: &str| -> Option<(String, String)> {
        let user = std::env::var(user).ok()?;
        let password = std::env::var(password).ok()?;
        Some((user, password))
    };
    vec![
        Caller {
            kind: "console manager (everything)",
            login: Some((MANAGER.to_owned(), MANAGER_PASSWORD.to_owned())),
            may: |_, _, _| true,
            manages: true,
        },
        Caller {
            kind: "OS administrator (PAM, wsmand-admins)",
            login: pam("WSMAN_TEST_PAM_USER", "WSMAN_TEST_PAM_PASSWORD"),
            may: |_, _, _| true,
            manages: false,
        },
        Caller {
            kind: "plain PAM user (not in the login group)",
            login: pam("WSMAN_TEST_PAM_PLAIN_USER", "WSMAN_TEST_PAM_PLAIN_PASSWORD"),
            may: |_, _, _| false,
            manages: false,
        },
        Caller {
            kind: "WMI monitoring user (not in the login group)",
            login: pam("WSMAN_TEST_PAM_WMI_USER", "WSMAN_TEST_PAM_WMI_PASSWORD"),
            may: |_, _, _| false,
            manages: false,
        },
        Caller {
            kind: "viewer of one host",
            login: manager("m-one"),
            may: |host, resource, action| {
                action == Action::Read
                    && (host == HOST0 || (host == COLLECTOR && resource.starts_with(STORE)))
            },
            manages: false,
        },
        Caller {
            kind: "every host but a Deny on host1",
            login: manager("m-almost"),
            may: |host, _, action| host != HOST1 && action != Action::Manage,
            manages: false,
        },
        Caller {
            kind: "read everywhere but a Deny on group:db",
            login: manager("m-nodb"),
            may: |host, _, action| host != HOST1 && action == Action::Read,
            manages: false,
        },
        Caller {
            kind: "read everywhere but the event store",
            login: manager("m-nostore"),
            may: |_, resource, action| action == Action::Read && !resource.starts_with(STORE),
            manages: false,
        },
    ]
}

/// The collector: the store output of a subscription whose forwarders `wec-host0` and
/// `wec-host1` each speak for their own Computer, filled with the recorded Windows batches of
/// each, waited for until the store answers for both.
fn start_collector(state: &std::path::Path) -> (wsman_test::ConfigDir, wsman_test::Daemon, u16) {
    let database = state.join("wec.sqlite");
    let database = database.to_str().expect("UTF-8").to_owned();
    let subscription = "query = '<QueryList><Query Id=\"0\"><Select Path=\"Security\">*</Select>\
         <Select Path=\"System\">*</Select><Select Path=\"Microsoft-Windows-WinRM/Operational\">*</Select>\
         </Query></QueryList>'\nmax_latency_seconds = 1\nread_existing_events = true\n\
         heartbeat_seconds = 60\ncontent_format = \"RenderedText\"\n[[outputs]]\ntype = \"store\"\n\
         [computers]\n\"wec-host0\" = [\"host0\"]\n\"wec-host1\" = [\"host1\"]\n";
    let collector = common::start_daemon(
        (
            &|config: &mut wsman_test::ConfigDir| {
                config.write_raw("subscriptions/fleet.toml", subscription);
            },
            &[("WSMAND_WEC_DATABASE", database.as_str())],
        ),
        "root",
        &[("wec-host0", "root"), ("wec-host1", "root")],
    );
    let port = collector.2;
    for host in [HOST0, HOST1] {
        replay_windows(port, &format!("wec-{host}"), host);
        let search = format!("<q:Computer>{host}</q:Computer>");
        wait_for_stored(port, &search, EVENTS_EACH as usize, &|| {
            collector.1.stderr()
        });
    }
    collector
}

fn start(collector: u16) -> Service {
    let groups = |index: usize, _: &std::path::Path| {
        if index == 0 {
            "Groups = [\"web\"]\n".to_owned()
        } else {
            "Groups = [\"db\"]\n".to_owned()
        }
    };
    Service::start_layout(&Layout {
        hosts: 2,
        roles: Some(ROLES),
        managers: &[
            ("m-one", PASSWORD),
            ("m-almost", PASSWORD),
            ("m-nodb", PASSWORD),
            ("m-nostore", PASSWORD),
        ],
        host_lines: &groups,
        more_hosts: &[(COLLECTOR, collector, "\"event-store\"")],
        ..Layout::default()
    })
}

/// The request a browser of `session` sends for `route`: its path (with a search naming the
/// denied host, and a WebSocket's token), and for a POST the form with the session's token.
fn send(
    service: &Service,
    (session, csrf): (&str, &str),
    method: &Method,
    route: &Route,
) -> common::Reply {
    let path = path_of(route, csrf);
    if method == Method::POST {
        let fields = ["name=matrix", "query=", "work=", "hosts=host0,host1"];
        service.post_form_json((session, csrf), &path, &fields)
    } else {
        service.get_json(session, &path)
    }
}

/// A route's path, as `route::parse` reads it back.
fn path_of(route: &Route, csrf: &str) -> String {
    use wsmand_mgmt::route::Manage;
    let path = match route {
        Route::Root => "/".to_owned(),
        Route::Login => "/login".to_owned(),
        Route::Logout => "/logout".to_owned(),
        Route::Fleet => "/fleet".to_owned(),
        Route::HostOverview(h) => format!("/hosts/{h}"),
        Route::Services(h) => format!("/hosts/{h}/services"),
        Route::ServiceAction(h, s, a) => format!("/hosts/{h}/services/{s}/{}", a.name()),
        Route::Processes(h) => format!("/hosts/{h}/processes"),
        Route::Terminate(h, pid) => format!("/hosts/{h}/processes/{pid}/terminate"),
        Route::Config(h) => format!("/hosts/{h}/config"),
        Route::Events(h) => format!("/hosts/{h}/events"),
        Route::Audit => "/audit".to_owned(),
        Route::Stylesheet => "/assets/style.css".to_owned(),
        Route::Favicon => "/favicon.ico".to_owned(),
        Route::Terminal(h) => format!("/hosts/{h}/terminal"),
        Route::TerminalSocket(h) => format!("/hosts/{h}/terminal/ws?csrf={csrf}"),
        Route::TerminalScript => "/assets/terminal.js".to_owned(),
        Route::TerminalStylesheet => "/assets/terminal.css".to_owned(),
        Route::EventsSocket(h) => format!("/hosts/{h}/events/ws?csrf={csrf}"),
        Route::EventsScript => "/assets/events.js".to_owned(),
        Route::Samples(h) => format!("/hosts/{h}/samples.json"),
        Route::GraphsScript => "/assets/graphs.js".to_owned(),
        Route::GraphsStylesheet => "/assets/graphs.css".to_owned(),
        Route::Manage(Manage::TestHost(h)) => format!("/manage/hosts/{h}/test"),
        Route::Manage(_) => "/manage".to_owned(),
        Route::Bulk => "/bulk".to_owned(),
        Route::BulkJob(id) => format!("/bulk/{id}"),
        Route::FleetEvents => "/events".to_owned(),
        Route::StoredEvent(id) => format!("/events/stored/{id}"),
        Route::EventsTail => "/events/tail.json?after=0".to_owned(),
        Route::SaveEventView => "/events/views".to_owned(),
        Route::RemoveEventView => "/events/views/remove".to_owned(),
        Route::SearchScript => "/assets/search.js".to_owned(),
        Route::Updates => "/updates".to_owned(),
    };
    assert_eq!(
        wsmand_mgmt::route::parse(&path).as_ref(),
        Ok(route),
        "{path}"
    );
    path
}

/// Refused by the access decision: 403 with the decision's words, or (no session) 401 or the
/// way to the login form.
fn refused(reply: &common::Reply) -> bool {
    (reply.status == 403 && reply.body.contains("not allowed"))
        || reply.status == 401
        || (reply.status == 303 && reply.header("location") == Some("/login"))
}

#[test]
fn every_route_as_every_kind_of_caller() {
    if common::pam_user_as_root().is_none() || common::plain_pam_user().is_none() {
        return;
    }
    let state = tempfile::tempdir().expect("tempdir");
    let (_collector_config, _collector, collector_port) = start_collector(state.path());
    let service = start(collector_port);
    // Every row on host0, and again on host1 where a route names a host; every stored event
    // by its id, and a search naming host1.
    let mut rows = every_route(HOST0);
    rows.extend(
        every_route(HOST1)
            .into_iter()
            .filter(|(_, route)| path_of(route, "").contains(HOST1)),
    );
    rows.extend((2..=2 * EVENTS_EACH).map(|id| (Method::GET, Route::StoredEvent(id))));
    // Logging out ends the session the other rows use: last.
    rows.sort_by_key(|(_, route)| matches!(route, Route::Logout));
    let mut failures = Vec::new();
    let mut cells = 0;
    let kinds = callers();
    for caller in &kinds {
        let (user, password) = caller.login.clone().expect("every caller's account is set");
        let (reply, session) = service.login(&user, &password, None);
        let csrf = reply.json()["csrf"].as_str().unwrap_or("").to_owned();
        let session = session.unwrap_or_default();
        let logged_in = !session.is_empty();
        if logged_in && caller.admitted(&Need::Store) {
            failures.extend(counted(caller, &service, &session, &csrf));
        }
        for (method, route) in &rows {
            cells += 1;
            let row = need(route, method);
            let expected = caller.admitted(&row) && (logged_in || row == Need::Anyone);
            let reply = send(&service, (&session, &csrf), method, route);
            if refused(&reply) == expected {
                failures.push(format!(
                    "{}: {method} {route:?} ({row:?}): expected {}, got {} {}",
                    caller.kind,
                    if expected { "admitted" } else { "refused" },
                    reply.status,
                    reply.body.chars().take(200).collect::<String>()
                ));
            } else if expected {
                failures.extend(leaks(caller, route, &row, &reply));
            }
            // Apart from the table: a page about a host the caller may not see at all is
            // refused, whatever the route's row says (a row that skips the decision).
            let path = path_of(route, "");
            let about = |host: &&str| path.split(['/', '?']).any(|part| part == *host);
            if let Some(host) = caller.hidden().into_iter().find(about) {
                if !refused(&reply) && row != Need::Anyone {
                    failures.push(format!(
                        "{}: {method} {path} answered {} about {host}, which it may not see",
                        caller.kind, reply.status
                    ));
                }
            }
        }
    }
    eprintln!(
        "access matrix: {cells} cells ({} requests × {} kinds of caller)",
        rows.len(),
        kinds.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {cells} cells wrong:\n{}\nconsole log:\n{}",
        failures.len(),
        failures.join("\n"),
        service.log()
    );
}

/// What an admitted answer over the fleet or the store says of a host the caller may not
/// see: its name as a JSON string, an element's or a cell's text.
fn leaks(caller: &Caller, route: &Route, row: &Need, reply: &common::Reply) -> Vec<String> {
    let over_fleet = matches!(row, Need::EachHost | Need::Store | Need::ChosenHosts);
    if !over_fleet {
        return Vec::new();
    }
    caller
        .hidden()
        .into_iter()
        .filter(|host| {
            reply.body.contains(&format!("\"{host}\"")) || reply.body.contains(&format!(">{host}<"))
        })
        .map(|host| {
            format!(
                "{}: {route:?} names {host}, which it may not see: {}",
                caller.kind,
                reply.body.chars().take(300).collect::<String>()
            )
        })
        .collect()
}

/// The Events page's counts as the caller gets them: every event of a host it may see, none
/// of the others, in the results, the histogram and the live tail.
fn counted(caller: &Caller, service: &Service, session: &str, csrf: &str) -> Vec<String> {
    let seen = [HOST0, HOST1]
        .into_iter()
        .filter(|host| !caller.hidden().contains(host))
        .count() as u64;
    let expected = seen * EVENTS_EACH;
    let page = send(service, (session, csrf), &Method::GET, &Route::FleetEvents);
    let tail = send(service, (session, csrf), &Method::GET, &Route::EventsTail);
    let shown = format!("{}\n{}", page.body, tail.body);
    let (page, tail) = (page.json(), tail.json());
    let histogram: u64 = page["histogram"].as_array().map_or(0, |buckets| {
        buckets
            .iter()
            .map(|b| b["count"].as_u64().unwrap_or(0))
            .sum()
    });
    let length = |value: &serde_json::Value| value.as_array().map_or(0, Vec::len) as u64;
    let got = [
        ("results", length(&page["events"])),
        ("histogram", histogram),
        ("tail", length(&tail["events"])),
    ];
    got.into_iter()
        .filter(|(_, n)| *n != expected)
        .map(|(what, n)| {
            format!(
                "{}: the store's {what} count {n}, not {expected}: {}",
                caller.kind,
                shown.chars().take(600).collect::<String>()
            )
        })
        .collect()
}
