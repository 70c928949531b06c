//! The console's HTML, rendered on the server by maud, which escapes every interpolated value:
//! what a host returns is text, never markup. No inline script or style (the
//! Content-Security-Policy allows neither); the one stylesheet is embedded in the binary.

use maud::{html, Markup, DOCTYPE};

use crate::audit::AuditRecord;
use crate::event_filter::EventFilter;
use crate::hosts::{ActionResult, EventRow, HostError, HostSummary, ProcessRow, ServiceRow};
use crate::route::ServiceAction;
use crate::table::{self, Column, SortKey, TablePage, TableQuery};
use crate::table_html::{pager, sort_heading, table_controls};

/// The stylesheet served at `/assets/style.css`.
pub const STYLESHEET: &str = include_str!("../assets/style.css");
/// xterm.js and terminal.js, bundled from `web/` by `scripts/web-assets.sh` (served at
/// `/assets/terminal.js`; no Node at run time).
pub const TERMINAL_SCRIPT: &[u8] = include_bytes!("../assets/terminal.js");
/// The events page's script, which shows the live stream (`/assets/events.js`), bundled
/// likewise.
pub const EVENTS_SCRIPT: &[u8] = include_bytes!("../assets/events.js");
/// xterm.js' stylesheet and the terminal box, bundled likewise (`/assets/terminal.css`).
pub const TERMINAL_STYLESHEET: &[u8] = include_bytes!("../assets/terminal.css");

/// Who is logged in, and the token their forms carry.
pub struct Viewer<'a> {
    /// The user name.
    pub user: &'a str,
    /// The session's CSRF token.
    pub csrf: &'a str,
}

pub(crate) fn layout(title: &str, viewer: Option<&Viewer<'_>>, body: Markup) -> Markup {
    layout_with(title, viewer, html! {}, body)
}

/// [`layout`] with more elements in the head (a page's own stylesheet).
pub(crate) fn layout_with(
    title: &str,
    viewer: Option<&Viewer<'_>>,
    head: Markup,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — wsmand management" }
                link rel="stylesheet" href="/assets/style.css";
                (head)
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    a.brand href="/fleet" { "wsmand management" }
                    nav.site aria-label="Console" {
                        @if viewer.is_some() {
                            a href="/fleet" aria-current=[(title == "Fleet").then_some("page")] { "Fleet" }
                            a href="/events" aria-current=[(title == "Events").then_some("page")] { "Events" }
                            a href="/audit" aria-current=[(title == "Audit").then_some("page")] { "Audit" }
                            a href="/updates" aria-current=[(title == "Updates").then_some("page")] { "Updates" }
                            a href="/bulk" aria-current=[(title == "Run on several hosts").then_some("page")] { "Run" }
                            a href="/manage" aria-current=[(title == "Manage").then_some("page")] { "Manage" }
                        } @else if title != "Log in" {
                            a href="/login" { "Log in" }
                        }
                    }
                    @if let Some(viewer) = viewer {
                        form.logout method="post" action="/logout" {
                            span { (viewer.user) }
                            input type="hidden" name="csrf" value=(viewer.csrf);
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main #main tabindex="-1" { (body) }
            }
        }
    }
}

/// The login form; `login_token` is the pre-login CSRF token (also in a cookie); `managers`:
/// manager users may log in too (`Credentials = os+manager`).
pub fn login(error: Option<&str>, login_token: &str, managers: bool) -> Markup {
    layout(
        "Log in",
        None,
        html! {
            div.login-card {
                h1 { "Log in" }
                p.lead {
                    "Your account on this machine"
                    @if managers { ", or a manager user" }
                    "."
                }
                @if let Some(error) = error { p.error role="alert" { (error) } }
                form.login method="post" action="/login" {
                    input type="hidden" name="csrf" value=(login_token);
                    label { "User name" input type="text" name="user" autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus; }
                    label { "Password" input type="password" name="password" autocomplete="current-password" required; }
                    button type="submit" { "Log in" }
                }
            }
        },
    )
}

fn uptime(seconds: Option<u64>) -> String {
    match seconds {
        None => "—".to_owned(),
        Some(s) => format!(
            "{}d {:02}:{:02}",
            s / 86_400,
            s % 86_400 / 3600,
            s % 3600 / 60
        ),
    }
}

fn text(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("—")
}

/// Every host the viewer may see, of `configured` in the file; with none, what to add. The
/// health roll-up (`fleet_health`): counts at the top, rows sorted by `query`.
pub fn fleet(
    viewer: &Viewer<'_>,
    shown: &TablePage<'_, crate::fleet_health::Row<'_>>,
    counts: &crate::fleet_health::Counts,
    configured: usize,
    query: &TableQuery,
) -> Markup {
    use crate::fleet_health::{self as health, free_level, percent_cell, used_level};
    layout(
        "Fleet",
        Some(viewer),
        html! {
            h1 { "Fleet" }
            p.note #fleet-safety { "Many hosts in one console are safe here: the console loads no code from hosts (every script is its own; what a host sends is shown as text), where Cockpit deprecated its multi-host switcher because every host's JavaScript ran in one origin." }
            @if shown.total == 0 {
                (empty_fleet(configured))
            } @else {
                (health::counts_markup(counts))
                (fleet_controls(query, shown, counts))
                table.fleet {
                    thead { tr {
                        @for (i, (key, label)) in health::COLUMNS.iter().enumerate() {
                            @if i == 6 { th { "Notes" } }
                            (sort_heading(query, &Column::<()> { key, label, sort_key: |_| SortKey::Number(0), search_text: None }))
                        }
                    } }
                    tbody {
                        @for row in &shown.rows {
                            @let host = row.host;
                            @let latest = row.latest;
                            tr {
                                td { a href={ "/hosts/" (host.name) } { (host.name) } }
                                td class=(health::reachable_class(host, row.sampled)) { (reachable(host, row.sampled)) }
                                td { (text(&host.os)) " " (text(&host.os_version)) }
                                td { (uptime(host.uptime_seconds)) }
                                td { @match host.load_percentage { Some(l) => { (l) "%" }, None => "—" } }
                                td class=(health::failed_class(host)) { @match &host.failed_services { Some(list) if list.is_empty() => "none", Some(list) => (list.join(", ")), None => "—" } }
                                td.note { @if let Some(error) = &host.error { (fault(error)) } }
                                @let cpu = latest.and_then(|p| p.cpu);
                                (percent_cell(cpu, used_level(cpu)))
                                @let memory = latest.and_then(|p| p.memory);
                                (percent_cell(memory, used_level(memory)))
                                @let disk = latest.and_then(|p| p.disk_free);
                                (percent_cell(disk, free_level(disk)))
                                (health::sampled_cell(row.sampled))
                            }
                        }
                    }
                }
            }
            p.command { "Same from a shell: " code { "winrm identify -r:URL" } ", " code { "winrm enumerate wmicimv2/Win32_OperatingSystem -r:URL" } }
        },
    )
}

/// The fleet's search, its "needs attention" switch (over every host) and its pages.
fn fleet_controls(
    query: &TableQuery,
    shown: &TablePage<'_, crate::fleet_health::Row<'_>>,
    counts: &crate::fleet_health::Counts,
) -> Markup {
    let attention_only = query.kept.iter().any(|(name, _)| *name == "attention");
    html! {
        (table_controls(query, shown, "hosts"))
        p #attention {
            @if attention_only {
                "Showing the " (counts.attention) " host(s) that need attention. "
                a href=(query.link(|n| n.kept.retain(|(name, _)| *name != "attention"))) { "Show every host" }
            } @else {
                (counts.attention) " host(s) need attention: "
                a href=(query.link(|n| n.kept.push(("attention", "1".to_owned())))) { "show only those" }
            }
        }
    }
}

/// The Reachable cell: an account the host refuses says so rather than "yes"; a host not
/// sampled yet is waiting, not "no".
fn reachable(host: &HostSummary, sampled: crate::fleet_health::Sampled) -> Markup {
    html! {
        @if sampled == crate::fleet_health::Sampled::Waiting {
            "waiting"
        } @else if !host.reachable {
            "no"
        } @else if host.access_denied {
            strong { "access denied" }
            " (the account " code { (host.username) } " lacks the rights on this host: make it an administrator there, or grant it in the host's RootSDDL)"
        } @else {
            "yes"
        }
    }
}

/// What a fleet without hosts to show needs: hosts in the file, or a role that shows them.
fn empty_fleet(configured: usize) -> Markup {
    html! {
        section.empty {
            @if configured == 0 {
                p { "No host is configured yet. Add one on the " a href="/manage" { "Manage" } " page: it applies at once, without a restart. Or write a " code { "[[Host]]" } " table in " code { "mgmt.toml" } " and a " code { "[[Role]]" } " whose rules let you read it, which the service reads when it starts:" }
                pre { "[[Host]]\nName = \"web1\"\nUrl = \"https://web1.example.com:5986/wsman\"\nUsername = \"svc-console\"\nPasswordFile = \"/etc/wsmand/hosts/web1.pass\"\n\n[[Role]]\nName = \"admins\"\nMembers = [\"os-group:wsmand-admins\"]\n[[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"*\"]\nResources = [\"*\"]\nActions = [\"read\", \"change\", \"shell\"]" }
            } @else {
                p { (configured) " host(s) are configured, but no role lets you read any of them. A " code { "[[Role]]" } " in " code { "mgmt.toml" } " naming you (or one of your groups) in " code { "Members" } " with an Allow rule for " code { "read" } " shows them here." }
            }
            p { "The settings are described in docs/management-service.md (Hosts, Roles)." }
        }
    }
}

/// A host's pages: the path after `/hosts/NAME`, and the tab's label.
const HOST_TABS: [(&str, &str); 6] = [
    ("", "Overview"),
    ("/services", "Services"),
    ("/processes", "Processes"),
    ("/events", "Events"),
    ("/config", "Configuration"),
    ("/terminal", "Terminal"),
];

/// A host's tabs, the one at `current` (a path of [`HOST_TABS`]) marked as the page shown.
pub(crate) fn host_nav(name: &str, current: &str) -> Markup {
    html! {
        nav aria-label="Host" {
            @for (path, label) in HOST_TABS {
                a href={ "/hosts/" (name) (path) } aria-current=[(path == current).then_some("page")] { (label) }
            }
        }
    }
}

/// The frame of a page about one host: its title and heading (the host's name, then
/// `title` and `heading`), the host's tabs with `tab` current, then `body`; `head` goes in the
/// document's head.
pub(crate) fn host_layout(
    viewer: &Viewer<'_>,
    host: &str,
    title: &str,
    heading: &str,
    tab: &str,
    head: Markup,
    body: Markup,
) -> Markup {
    layout_with(
        &format!("{host}: {title}"),
        Some(viewer),
        head,
        html! {
            h1 { (host) ": " (heading) }
            (host_nav(host, tab))
            (body)
        },
    )
}

/// A host's rows as a table searched, sorted and paged by `query` (the host's failure
/// instead if it failed), each row drawn by `row`, then its actions cell.
fn rows_table<T>(
    rows: &Result<Vec<T>, HostError>,
    query: &TableQuery,
    columns: &[Column<T>],
    what: &str,
    row: impl Fn(&T) -> Markup,
) -> Markup {
    html! {
        @match rows {
            Err(error) => (fault(&error.to_string())),
            Ok(rows) => {
                @let shown = table::page(rows, query, columns);
                (table_controls(query, &shown, what))
                table {
                    thead { tr { @for column in columns { (sort_heading(query, column)) } th { "Action" } } }
                    tbody { @for each in &shown.rows { tr { (row(each)) } } }
                }
            },
        }
    }
}

/// A host's terminal: the box xterm.js draws in, with what `/assets/terminal.js` needs in
/// data attributes (the socket's path, the session's CSRF token, the nonce its `<style>`
/// elements carry). No inline script.
pub fn terminal(
    viewer: &Viewer<'_>,
    name: &str,
    socket: &str,
    style_nonce: &str,
    switches: &str,
) -> Markup {
    host_layout(
        viewer,
        name,
        "terminal",
        "terminal",
        "/terminal",
        html! { link rel="stylesheet" href="/assets/terminal.css"; },
        html! {
            p #terminal-status .note { "connecting…" }
            p #terminal-keys .hint { "The terminal takes every key, Tab included: Shift+Esc leaves it." }
            div #terminal data-socket=(socket) data-csrf=(viewer.csrf) data-style-nonce=(style_nonce) {}
            p.command {
                "Same from a shell: " code { "winrs " (switches) " -pty bash -l" }
                " (a wsmand host; on Windows " code { "winrs " (switches) " cmd.exe" } ")"
            }
            script src="/assets/terminal.js" {}
        },
    )
}

/// One host's overview, with its sampled figures (`crate::graphs`): everything on it is what
/// the sampler last read, and says how old it is.
pub fn overview(
    viewer: &Viewer<'_>,
    host: &HostSummary,
    sampled: crate::fleet_health::Sampled,
    switches: &str,
    figures: &crate::samples::Snapshot,
) -> Markup {
    layout_with(
        &host.name,
        Some(viewer),
        html! { link rel="stylesheet" href="/assets/graphs.css"; },
        html! {
            h1 { (host.name) }
            (host_nav(&host.name, ""))
            dl {
                dt { "Endpoint" } dd { (host.url) }
                dt { "Reachable" } dd { (reachable(host, sampled)) }
                dt { "Sampled" } dd #sampled { (crate::fleet_health::sampled_text(sampled)) }
                dt { "Product" } dd { (text(&host.product_vendor)) " " (text(&host.product_version)) }
                dt { "Operating system" } dd { (text(&host.os)) " " (text(&host.os_version)) }
                dt { "Uptime" } dd { (uptime(host.uptime_seconds)) }
                dt { "Load" } dd { @match host.load_percentage { Some(l) => { (l) "%" }, None => "—" } }
                dt { "Notes" } dd { @match &host.error { Some(error) => (fault(error)), None => "—" } }
            }
            p.command { "Same from a shell: " code { "winrm identify " (switches) } }
            p { a #stored-events href={ "/events?hosts=" (table::encode(&host.name)) } { "Its events in the event store" } " (searched with the rest of the fleet's)" }
            (crate::graphs::section(&host.name, figures))
        },
    )
}

/// The services of a host, each with start and stop.
pub fn services(
    viewer: &Viewer<'_>,
    host: &str,
    switches: &str,
    rows: &Result<Vec<ServiceRow>, HostError>,
    query: &TableQuery,
) -> Markup {
    let row = |row: &ServiceRow| {
        html! {
            td { (row.name) } td { (row.display_name) } td { (row.state) } td { (row.start_mode) } td { (row.status) }
            td.actions {
                a.log href={ "/hosts/" (host) "/events?source=" (table::encode(log_source(&row.name))) } { "log" }
                @for action in service_actions(row) {
                    @let target = format!("{}:{}", action.name(), row.name);
                    @let post = format!("/hosts/{host}/services/{}/{}", row.name, action.name());
                    @if !matches!(action, ServiceAction::Stop | ServiceAction::Restart | ServiceAction::Disable) {
                        (post_button(viewer, &post, action.name()))
                    } @else {
                        (confirmed(viewer, query, &post, action.name(), &target))
                    }
                }
            }
        }
    };
    host_layout(
        viewer,
        host,
        "services",
        "services",
        "/services",
        html! {},
        html! {
            p.command { "Same from a shell: " code { "winrm enumerate wmicimv2/Win32_Service " (switches) } }
            (rows_table(rows, query, &SERVICE_COLUMNS, "services", row))
            p.command {
                "Each action from a shell: " code { "winrm invoke StartService|StopService wmicimv2/Win32_Service?Name=NAME " (switches) " @{}" }
                ", " code { "winrm invoke ChangeStartMode wmicimv2/Win32_Service?Name=NAME " (switches) " @{StartMode=\"Automatic\"}" }
            }
        },
    )
}

/// The events source a service logs as: its name without `.service` (a unit's journal
/// entries carry its program's SYSLOG_IDENTIFIER, for most units the unit's name).
fn log_source(service: &str) -> &str {
    service.strip_suffix(".service").unwrap_or(service)
}

/// The actions a service row offers: start or stop and restart by its state, enable or
/// disable by its start mode.
fn service_actions(row: &ServiceRow) -> Vec<ServiceAction> {
    let mut out = if row.state == "Running" {
        vec![ServiceAction::Stop, ServiceAction::Restart]
    } else {
        vec![ServiceAction::Start]
    };
    out.push(
        if row.start_mode == "Disabled" || row.start_mode == "Manual" {
            ServiceAction::Enable
        } else {
            ServiceAction::Disable
        },
    );
    out
}

/// A host's events: the live stream, then the newest records that match the filter (log,
/// level, source, time range: asked of the host; text: searched here), paged.
pub fn events(
    viewer: &Viewer<'_>,
    host: &str,
    switches: &str,
    rows: &Result<Vec<EventRow>, HostError>,
    stream: &str,
    filter: &EventFilter,
    query: &TableQuery,
) -> Markup {
    host_layout(
        viewer,
        host,
        "events",
        "events",
        "/events",
        html! { script src="/assets/events.js" defer {} },
        html! {
            section #live data-socket=(stream) data-csrf=(viewer.csrf) {
                h2 { "Live" }
                p.command {
                    "Logs: "
                    @for (logs, label) in [("Application,System", "Application and System"), ("Security", "Security")] {
                        a.live-logs href={ "?logs=" (logs) } data-logs=(logs) { (label) } " "
                    }
                    "Same from a shell: " code { "winrm events System " (switches) }
                }
                p #live-status { "Live stream: needs JavaScript" }
                table {
                    thead { tr { th { "Time" } th { "Log" } th { "Record" } th { "Source" } th { "Level" } th { "Event ID" } th { "Message" } } }
                    tbody #live-events {}
                }
            }
            p { a href={ "/events?hosts=" (table::encode(host)) } { "Search its events in the event store" } ", with the rest of the fleet's" }
            h2 { "Newest records" }
            (event_filter_form(filter, query))
            @for problem in &filter.problems { p.error { (problem) } }
            p.command {
                "Same from a shell: " code {
                    @match filter.wql() {
                        Some(wql) => { "winrm enumerate wmicimv2/* -filter:\"" (wql) "\" " (switches) }
                        None => { "winrm enumerate wmicimv2/Win32_NTLogEvent " (switches) }
                    }
                }
                " (the console asks for the newest " (crate::hosts::MAX_EVENTS) " that match)"
            }
            @match rows {
                Err(error) => (fault(&error.to_string())),
                Ok(rows) => {
                    @let shown = table::page(rows, query, &EVENT_COLUMNS);
                    (pager(query, &shown, "records"))
                    @if shown.rows.is_empty() {
                        p.empty { "No record matches. Widen the filter or " a href="?" { "clear it" } "." }
                    } @else {
                        table {
                            thead { tr { th { "Time" } th { "Log" } th { "Record" } th { "Source" } th { "Type" } th { "Code" } th { "Message" } } }
                            tbody {
                                @for row in &shown.rows {
                                    tr {
                                        td { (row.time_generated) } td { (row.logfile) } td { (row.record_number) }
                                        td { (row.source) } td { (row.event_type) } td { (row.event_code) } td.cmd { (row.message) }
                                    }
                                }
                            }
                        }
                    }
                },
            }
        },
    )
}

/// The events filter: log, level, source, time range and text, sent as GET parameters.
fn event_filter_form(filter: &EventFilter, query: &TableQuery) -> Markup {
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    html! {
        form.filter method="get" {
            label { "Log " input type="text" name="log" list="event-logs" value=(text(&filter.log)) maxlength="128"; }
            datalist #event-logs { option value="Application"; option value="System"; option value="Security"; }
            label { "Level "
                select name="level" {
                    option value="" { "any" }
                    @for level in crate::event_filter::LEVELS {
                        option value=(level) selected[filter.level == Some(level)] { (level) }
                    }
                }
            }
            label { "Source " input type="text" name="source" value=(text(&filter.source)) maxlength="128"; }
            label { "From (UTC) " input type="datetime-local" name="from" value=(text(&filter.from)); }
            label { "To (UTC) " input type="datetime-local" name="to" value=(text(&filter.to)); }
            label { "Text " input type="search" name="q" value=(query.search) maxlength=(table::MAX_SEARCH_CHARS); }
            button type="submit" { "Filter" }
            " " a href="?" { "Clear" }
        }
    }
}

/// A table column of a text field, sorted by it and searched (unless `unsearched`).
macro_rules! text_column {
    ($key:literal, $label:literal, $field:ident) => {
        Column {
            key: $key,
            label: $label,
            sort_key: |r| table::text_key(&r.$field),
            search_text: Some(|r| r.$field.as_str()),
        }
    };
    ($key:literal, $label:literal, $field:ident, unsearched) => {
        Column {
            key: $key,
            label: $label,
            sort_key: |r| table::text_key(&r.$field),
            search_text: None,
        }
    };
}

/// The events table's searched text (source and message); records stay newest first.
const EVENT_COLUMNS: [Column<EventRow>; 2] = [
    text_column!("source", "Source", source),
    text_column!("message", "Message", message),
];

/// The console's own audit trail as the viewer may see it, newest first.
pub fn audit(viewer: &Viewer<'_>, records: &[AuditRecord]) -> Markup {
    layout(
        "Audit",
        Some(viewer),
        html! {
            h1 { "Audit trail" }
            p { "Records about the hosts you may read, and the console's own records of you (all of them if you may read every host)." }
            p.command { "The same records in the journal: " code { "journalctl -u wsmand-mgmt.service AUDIT=1" } }
            table {
                thead { tr { th { "Time" } th { "Client" } th { "User" } th { "Event" } th { "Host" } th { "Detail" } } }
                tbody {
                    @for record in records {
                        tr { td { (record.time) } td { (record.client) } td { (record.user) } td { (record.event) } td { (record.host.as_deref().unwrap_or("")) } td.cmd { (record.detail) } }
                    }
                }
            }
        },
    )
}

fn bytes(n: u64) -> String {
    format!("{:.1} MiB", n as f64 / 1_048_576.0)
}

/// The processes of a host, largest first, each with terminate.
pub fn processes(
    viewer: &Viewer<'_>,
    host: &str,
    switches: &str,
    rows: &Result<Vec<ProcessRow>, HostError>,
    query: &TableQuery,
) -> Markup {
    let row = |row: &ProcessRow| {
        html! {
            td { (row.pid) } td { (row.name) } td { (bytes(row.working_set)) } td.cmd { (command_line(&row.command_line)) }
            td.actions {
                (confirmed(viewer, query, &format!("/hosts/{host}/processes/{}/terminate", row.pid), "terminate", &row.pid.to_string()))
            }
        }
    };
    host_layout(
        viewer,
        host,
        "processes",
        "processes",
        "/processes",
        html! {},
        html! {
            p.command { "Same from a shell: " code { "winrm enumerate wmicimv2/Win32_Process " (switches) } }
            (rows_table(rows, query, &PROCESS_COLUMNS, "processes", row))
        },
    )
}

/// The services table's columns (sortable; name and display name searched).
const SERVICE_COLUMNS: [Column<ServiceRow>; 5] = [
    text_column!("name", "Name", name),
    text_column!("display", "Display name", display_name),
    text_column!("state", "State", state),
    text_column!("mode", "Start mode", start_mode, unsearched),
    text_column!("status", "Status", status, unsearched),
];

/// The processes table's columns (sortable; name and command line searched).
const PROCESS_COLUMNS: [Column<ProcessRow>; 4] = [
    Column {
        key: "pid",
        label: "PID",
        sort_key: |r| SortKey::Number(u64::from(r.pid)),
        search_text: None,
    },
    text_column!("name", "Name", name),
    Column {
        key: "memory",
        label: "Working set",
        sort_key: |r| SortKey::Number(r.working_set),
        search_text: None,
    },
    text_column!("command", "Command line", command_line),
];

/// A change posted by one button, with the session's CSRF token.
pub(crate) fn post_button(viewer: &Viewer<'_>, action: &str, label: &str) -> Markup {
    html! {
        form method="post" action=(action) {
            input type="hidden" name="csrf" value=(viewer.csrf);
            button type="submit" { (label) }
        }
    }
}

/// A destructive change, confirmed first: a link that asks (`confirm=TARGET`, no script),
/// and, on the page that asks, the button that does it and a way back.
pub(crate) fn confirmed(
    viewer: &Viewer<'_>,
    query: &TableQuery,
    action: &str,
    label: &str,
    target: &str,
) -> Markup {
    let here = |confirm: Option<String>| {
        query.link(|next| {
            next.page = query.page;
            next.confirm = confirm;
        })
    };
    html! {
        @if query.confirm.as_deref() == Some(target) {
            span.confirm #confirm { (label) "?" }
            (post_button(viewer, action, &format!("confirm {label}")))
            a href=(here(None)) { "cancel" }
        } @else {
            // `#confirm`: the question's page starts the keyboard's next Tab at its button.
            a.action href={ (here(Some(target.to_owned()))) "#confirm" } { (label) }
        }
    }
}

/// A host's failure: what failed and what to do in one line, the raw text (a fault, a
/// socket path, a connection error: text, never markup) one click away.
pub(crate) fn fault(raw: &str) -> Markup {
    let explained = crate::fault::explain(raw);
    html! {
        div.fault {
            p.error { strong { (explained.what) } " " (explained.advice) }
            details {
                summary { "Details" }
                code { (raw) }
            }
        }
    }
}

/// Command lines longer than this are cut, the whole line one click away.
const SHORT_COMMAND_LINE: usize = 120;

/// A command line: whole when short, else its start with the whole line in a `<details>`
/// (no script needed).
fn command_line(line: &str) -> Markup {
    html! {
        @if line.chars().count() <= SHORT_COMMAND_LINE {
            (line)
        } @else {
            details {
                summary { (line.chars().take(SHORT_COMMAND_LINE).collect::<String>()) "…" }
                (line)
            }
        }
    }
}

/// What an action did, with the command that does the same.
pub fn action(
    viewer: &Viewer<'_>,
    host: &str,
    what: &str,
    back: &str,
    result: &ActionResult,
) -> Markup {
    layout(
        what,
        Some(viewer),
        html! {
            h1 { (host) ": " (what) }
            @match (&result.error, result.return_value) {
                (Some(error), _) => (fault(error)),
                (None, Some(0)) => p.ok { "Done (ReturnValue 0)." },
                (None, Some(code)) => p.error { "The host answered ReturnValue " (code) "." },
                (None, None) => p.error { "The host answered without a ReturnValue." },
            }
            p.command { "Same from a shell: " code { (result.command) } }
            p { a href=(back) { "Back" } }
        },
    )
}

/// A plain message page (errors, refusals), with the header and navigation of every page:
/// the logged-in `viewer`'s (back to the fleet, log out), else the way to log in.
pub fn message(viewer: Option<&Viewer<'_>>, title: &str, text: &str) -> Markup {
    layout(
        title,
        viewer,
        html! {
            h1 { (title) }
            p.error { (text) }
            p {
                @if viewer.is_some() { a href="/fleet" { "Back to the fleet" } }
                @else { a href="/login" { "Log in" } }
            }
        },
    )
}

#[cfg(test)]
mod tests;
