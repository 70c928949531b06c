//! The Updates page's HTML: the counts over every host the viewer sees, the search and
//! pages of the long tables (`table`, `table_html`), one row per host with its pending and
//! security updates, reboot flag, last scan and install and what it is doing now, and the
//! form that acts on the hosts ticked or on every host matching the search, each action
//! beside the `winrm` command that does the same.

use maud::{html, Markup};
use serde::Serialize;

use crate::pages::{layout, Viewer};
use crate::table::{text_key, Column, SortKey, TablePage, TableQuery};
use crate::table_html::{sort_heading, table_controls};
use crate::updates::{Activity, UpdateAction, UpdateState};

/// One host's row.
#[derive(Clone, Debug, Serialize)]
pub struct UpdateRow {
    /// The host's name.
    pub name: String,
    /// Its operating system, as the sampler last read it (empty: not known).
    pub os: String,
    /// Whether the sampler's last read reached it.
    pub reachable: bool,
    /// What the console's last update action found on it.
    pub updates: UpdateState,
}

/// A figure for sorting: unknown below every known one (so that the most first puts the
/// hosts never scanned last).
fn figure(value: Option<usize>) -> SortKey {
    SortKey::Number(value.map_or(0, |v| v as u64 + 1))
}

/// A date for sorting: unknown first (never scanned sorts as oldest).
fn date(value: Option<i64>) -> SortKey {
    SortKey::Number(value.map_or(0, |v| v.max(0) as u64))
}

/// The table's columns: searched by name and operating system, sorted by any.
pub const COLUMNS: [Column<UpdateRow>; 8] = [
    Column {
        key: "name",
        label: "Host",
        sort_key: |r| text_key(&r.name),
        search_text: Some(|r| r.name.as_str()),
    },
    Column {
        key: "os",
        label: "Operating system",
        sort_key: |r| text_key(&r.os),
        search_text: Some(|r| r.os.as_str()),
    },
    Column {
        key: "pending",
        label: "Pending",
        sort_key: |r| figure(r.updates.figures.pending),
        search_text: None,
    },
    Column {
        key: "security",
        label: "Security",
        sort_key: |r| figure(r.updates.figures.security),
        search_text: None,
    },
    Column {
        key: "reboot",
        label: "Reboot needed",
        sort_key: |r| SortKey::Number(r.updates.figures.reboot_needed.map_or(2, |b| u64::from(!b))),
        search_text: None,
    },
    Column {
        key: "scanned",
        label: "Last scan",
        sort_key: |r| date(r.updates.figures.last_scan),
        search_text: None,
    },
    Column {
        key: "installed",
        label: "Last install",
        sort_key: |r| date(r.updates.figures.last_install),
        search_text: None,
    },
    Column {
        key: "state",
        label: "Now",
        sort_key: |r| text_key(&activity_text(&r.updates)),
        search_text: None,
    },
];

/// The counts above the table, over every host the viewer sees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Hosts shown.
    pub hosts: usize,
    /// Never scanned by the console.
    pub unscanned: usize,
    /// With updates pending.
    pub pending: usize,
    /// With security updates pending.
    pub security: usize,
    /// Needing a reboot.
    pub reboot: usize,
    /// Scanning, installing or rebooting now.
    pub busy: usize,
    /// Security pending or a reboot needed (the fleet's attention count counts these too).
    pub attention: usize,
}

/// Counts `rows`.
pub fn counts(rows: &[UpdateRow]) -> Counts {
    let mut out = Counts {
        hosts: rows.len(),
        ..Counts::default()
    };
    for row in rows {
        let u = &row.updates;
        out.unscanned += usize::from(u.figures.pending.is_none());
        out.pending += usize::from(u.figures.pending.is_some_and(|n| n > 0));
        out.security += usize::from(u.figures.security.is_some_and(|n| n > 0));
        out.reboot += usize::from(u.figures.reboot_needed == Some(true));
        out.busy += usize::from(u.activity != Activity::Idle);
        out.attention += usize::from(u.needs_attention());
    }
    out
}

/// Seconds since 1970 as a UTC date and time.
fn when(seconds: Option<i64>) -> String {
    seconds
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map_or_else(
            || "—".to_owned(),
            |t| t.strftime("%Y-%m-%d %H:%M UTC").to_string(),
        )
}

/// What the host is doing now, in words.
fn activity_text(state: &UpdateState) -> String {
    match &state.activity {
        Activity::Idle => match &state.error {
            Some(_) => "last action failed".to_owned(),
            None => "idle".to_owned(),
        },
        Activity::Scanning => "scanning".to_owned(),
        Activity::Installing { progress: None } => "installing".to_owned(),
        Activity::Installing {
            progress: Some(progress),
        } => format!("installing: {progress}"),
        Activity::Rebooting => "reboot asked".to_owned(),
        Activity::RebootScheduled { at, .. } => format!("reboot at {at} (host time)"),
    }
}

/// The class of a figure that is due (worded too, never colour alone), not due, or unknown.
fn level(due: Option<bool>) -> &'static str {
    use crate::fleet_health::Level;
    match due {
        Some(true) => Level::Warn.class(),
        Some(false) => Level::Ok.class(),
        None => Level::Unknown.class(),
    }
}

fn count(value: Option<usize>) -> String {
    value.map_or_else(|| "not scanned".to_owned(), |n| n.to_string())
}

/// The page.
pub fn page(
    viewer: &Viewer<'_>,
    shown: &TablePage<'_, UpdateRow>,
    counts: &Counts,
    query: &TableQuery,
) -> Markup {
    layout(
        "Updates",
        Some(viewer),
        html! {
            h1 { "Updates" }
            p.note { "Each host's figures are what the console's last action on it found (Windows Update's classes, which wsmand serves on Linux through PackageKit); nothing is read from a host while this page is shown. Scan to refresh them." }
            ul.health-counts aria-label="Updates" {
                li #updates-security class=(level(Some(counts.security > 0))) { strong { (counts.security) } " with security updates pending" }
                li #updates-reboot class=(level(Some(counts.reboot > 0))) { strong { (counts.reboot) } " needing a reboot" }
                li #updates-pending { strong { (counts.pending) } " with updates pending" }
                li #updates-busy { strong { (counts.busy) } " busy now" }
                li #updates-unscanned { strong { (counts.unscanned) } " not scanned yet" }
            }
            (table_controls(query, shown, "hosts"))
            p #attention {
                @if query.kept.iter().any(|(name, _)| *name == "attention") {
                    "Showing the " (counts.attention) " host(s) with security updates or a reboot due. "
                    a href=(query.link(|n| n.kept.retain(|(name, _)| *name != "attention"))) { "Show every host" }
                } @else {
                    (counts.attention) " host(s) with security updates or a reboot due: "
                    a href=(query.link(|n| n.kept.push(("attention", "1".to_owned())))) { "show only those" }
                }
            }
            form #update-form method="post" action="/updates" {
                input type="hidden" name="csrf" value=(viewer.csrf);
                input type="hidden" name="q" value=(query.search);
                (table(shown, query))
                (actions(shown))
            }
            (commands())
        },
    )
}

fn table(shown: &TablePage<'_, UpdateRow>, query: &TableQuery) -> Markup {
    html! {
        table.updates {
            thead { tr {
                th { "Choose" }
                @for column in &COLUMNS { (sort_heading(query, column)) }
            } }
            tbody {
                @for row in &shown.rows {
                    @let u = &row.updates;
                    tr {
                        td { input type="checkbox" name={ "host." (row.name) } value="1" aria-label={ "Choose " (row.name) }; }
                        td { a href={ "/hosts/" (row.name) } { (row.name) } }
                        td { @if row.os.is_empty() { "—" } @else { (row.os) } }
                        td { (count(u.figures.pending)) }
                        td class=(level(u.figures.security.map(|n| n > 0))) { (count(u.figures.security)) }
                        td class=(level(u.figures.reboot_needed)) {
                            @match u.figures.reboot_needed { Some(true) => "yes", Some(false) => "no", None => "—" }
                        }
                        td { (when(u.figures.last_scan)) }
                        td { (when(u.figures.last_install)) }
                        td {
                            (activity_text(u))
                            @if let Some(error) = &u.error { br; span.error { (crate::pages::fault(error)) } }
                        }
                    }
                }
            }
        }
    }
}

fn actions(shown: &TablePage<'_, UpdateRow>) -> Markup {
    html! {
        fieldset #update-actions {
            legend { "Act on" }
            label.check { input type="radio" name="scope" value="checked" checked; " the hosts ticked above (at most 10)" }
            label.check { input type="radio" name="scope" value="matching"; " every host matching the search (" (shown.matching) ")" }
            label { "Action"
                select name="work" {
                    @for action in UpdateAction::ALL { option value=(action.name()) { (action.label()) } }
                }
            }
            label { "Reboot at (HH:MM on the host's own clock; empty: now)"
                input type="text" name="at" maxlength="5" inputmode="numeric" pattern="[0-9]{1,2}:[0-9]{1,2}";
            }
            label { "Canary for an install (a host name or a group name; empty: the first chosen). The others are installed only once every canary host comes back healthy."
                input type="text" name="canary" maxlength="128";
            }
            button type="submit" { "Run" }
        }
    }
}

/// Each action as the `winrm` command that does the same on one host.
fn commands() -> Markup {
    html! {
        section #update-commands {
            h2 { "The same from a shell" }
            p { "On each host (or every host of a file with " code { "-r:@hosts.txt" } "), as the console does it:" }
            dl {
                @for action in UpdateAction::ALL {
                    dt { (action.label()) }
                    dd { code { (action.command("-r:HOST -u:USER")) } }
                }
            }
            p { "An install gives InstallUpdates the UpdateIDs the scan answered (the security ones only, for security updates), as " code { "install.xml" } " holds them (docs/updates.md)." }
        }
    }
}
