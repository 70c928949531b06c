//! The fleet page's health roll-up: each host's reachability and failed services beside its
//! newest CPU, memory and disk figures, all from the sampler (`samples`: nothing is read from
//! a host while the page is answered), each judged ok, high or critical (in words as well as
//! colour), counted at the top, each row saying how old its figures are, and the table sorted
//! on the server by any column (`?sort=KEY&dir=desc`, as the long tables).

use std::cmp::Ordering;

use maud::{html, Markup};
use serde::Serialize;
use wsman_config::mgmt::ManagedHost;

use crate::hosts::HostSummary;
use crate::samples::{Point, Status};
use crate::table::TableQuery;

/// One host's row: what the sampler knows of it.
pub struct Row<'a> {
    /// Identify, the OS, the failed services.
    pub host: &'a HostSummary,
    /// The newest sample, if any.
    pub latest: Option<Point>,
    /// How fresh the row is.
    pub sampled: Sampled,
    /// Security updates pending or a reboot needed, as the Updates page's last action on the
    /// host found ([`crate::updates::UpdateState::needs_attention`]).
    pub updates_due: bool,
}

/// How fresh a host's row is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum Sampled {
    /// Not sampled yet: the first sample is on its way.
    Waiting,
    /// The last sample reached the host, `age_seconds` ago (at `at`).
    Answering {
        /// When, in seconds since 1970.
        at: u64,
        /// How long ago.
        age_seconds: u64,
    },
    /// The last sample did not reach the host; one last did at `answered`, `age_seconds` ago
    /// (both `None`: it never answered since the console started).
    Silent {
        /// When a sample last reached it.
        answered: Option<u64>,
        /// How long ago.
        age_seconds: Option<u64>,
    },
}

impl Sampled {
    /// Seconds since the figures were read, for sorting (a host never read: none).
    fn age(self) -> Option<u64> {
        match self {
            Self::Waiting => None,
            Self::Answering { age_seconds, .. } => Some(age_seconds),
            Self::Silent { age_seconds, .. } => age_seconds,
        }
    }
}

/// What the fleet shows of `entry` from the sampler's `status` at `now` (seconds since 1970):
/// the facts last read, reachable as the last sample found the host, the uptime carried on
/// to now, the last sample's failure when it did not reach the host; its newest point; how
/// fresh.
pub fn summary_of(
    entry: &ManagedHost,
    status: Option<Status>,
    now: u64,
) -> (HostSummary, Option<Point>, Sampled) {
    let status = status.unwrap_or_default();
    let mut summary = match &status.facts {
        Some(facts) => facts.summary.clone(),
        None => HostSummary {
            name: entry.name.clone(),
            url: entry.url.clone(),
            username: entry.username.clone(),
            ..HostSummary::default()
        },
    };
    let age = |at: u64| now.saturating_sub(at);
    let sampled = match (status.reachable, status.answered) {
        (None, _) => Sampled::Waiting,
        (Some(true), Some(at)) => Sampled::Answering {
            at,
            age_seconds: age(at),
        },
        (_, answered) => Sampled::Silent {
            answered,
            age_seconds: answered.map(age),
        },
    };
    match sampled {
        Sampled::Answering { .. } => {
            summary.reachable = true;
            if let (Some(uptime), Some(facts)) = (summary.uptime_seconds, &status.facts) {
                summary.uptime_seconds = Some(uptime + age(facts.at));
            }
        }
        Sampled::Waiting => summary.reachable = false,
        Sampled::Silent { .. } => {
            summary.reachable = false;
            summary.uptime_seconds = None;
            if summary.error.is_none() || status.facts.as_ref().is_some_and(|f| f.summary.reachable)
            {
                summary.error = status.error;
            }
        }
    }
    (summary, status.latest, sampled)
}

/// The Sampled cell's words: how old the figures are, or why there are none.
pub fn sampled_text(sampled: Sampled) -> String {
    match sampled {
        Sampled::Waiting => "waiting for its first sample".to_owned(),
        Sampled::Answering { age_seconds, .. } => format!("{} ago", duration(age_seconds)),
        Sampled::Silent {
            age_seconds: Some(age),
            ..
        } => format!("not answering; figures {} old", duration(age)),
        Sampled::Silent { .. } => "not answering; never sampled".to_owned(),
    }
}

/// Seconds in the largest whole unit: 42 s, 3 min, 5 h, 2 d.
fn duration(seconds: u64) -> String {
    match seconds {
        0..=119 => format!("{seconds} s"),
        120..=7199 => format!("{} min", seconds / 60),
        7200..=172_799 => format!("{} h", seconds / 3600),
        _ => format!("{} d", seconds / 86_400),
    }
}

/// How a figure stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Nothing to see.
    Ok,
    /// Worth a look.
    Warn,
    /// Needs action.
    Bad,
    /// No figure.
    Unknown,
}

impl Level {
    /// The cell's class (coloured by style.css).
    pub fn class(self) -> &'static str {
        match self {
            Self::Ok => "health-ok",
            Self::Warn => "health-warn",
            Self::Bad => "health-bad",
            Self::Unknown => "health-unknown",
        }
    }

    /// The word shown after a figure that is not ok (never colour alone).
    fn word(self) -> &'static str {
        match self {
            Self::Warn => " high",
            Self::Bad => " critical",
            Self::Ok | Self::Unknown => "",
        }
    }
}

/// CPU or memory in use: high from 80 %, critical from 95 %.
pub fn used_level(percent: Option<f64>) -> Level {
    match percent {
        None => Level::Unknown,
        Some(p) if p >= 95.0 => Level::Bad,
        Some(p) if p >= 80.0 => Level::Warn,
        Some(_) => Level::Ok,
    }
}

/// Disk free: low under 15 %, critical under 5 %.
pub fn free_level(percent: Option<f64>) -> Level {
    match percent {
        None => Level::Unknown,
        Some(p) if p < 5.0 => Level::Bad,
        Some(p) if p < 15.0 => Level::Warn,
        Some(_) => Level::Ok,
    }
}

fn failed_level(host: &HostSummary) -> Level {
    match &host.failed_services {
        None => Level::Unknown,
        Some(list) if list.is_empty() => Level::Ok,
        Some(_) => Level::Bad,
    }
}

fn reachable_level(host: &HostSummary) -> Level {
    match (host.reachable, host.access_denied) {
        (false, _) => Level::Bad,
        (true, true) => Level::Warn,
        (true, false) => Level::Ok,
    }
}

/// The sortable columns: key in `sort=` and heading. Notes is not sortable.
pub const COLUMNS: [(&str, &str); 10] = [
    ("name", "Host"),
    ("reachable", "Reachable"),
    ("os", "Operating system"),
    ("uptime", "Uptime"),
    ("load", "Load"),
    ("failed", "Failed services"),
    ("cpu", "CPU"),
    ("memory", "Memory"),
    ("disk", "Disk free"),
    ("sampled", "Sampled"),
];

/// A figure for sorting: missing ones after every number, whichever the direction.
fn figure_order(a: Option<f64>, b: Option<f64>, descending: bool) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) if descending => b.total_cmp(&a),
        (Some(a), Some(b)) => a.total_cmp(&b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// Sorts `rows` by the query's column (an unknown one: by name), ties by name.
pub fn sort(rows: &mut [Row<'_>], query: &TableQuery) {
    let descending = query.descending;
    let key = query.sort.as_deref().unwrap_or("name");
    let numeric = |row: &Row<'_>| -> Option<f64> {
        match key {
            "reachable" => Some(if row.host.reachable { 1.0 } else { 0.0 }),
            "uptime" => row.host.uptime_seconds.map(|s| s as f64),
            "load" => row.host.load_percentage.map(f64::from),
            "failed" => row.host.failed_services.as_ref().map(|l| l.len() as f64),
            "cpu" => row.latest.and_then(|p| p.cpu),
            "memory" => row.latest.and_then(|p| p.memory),
            "disk" => row.latest.and_then(|p| p.disk_free),
            "sampled" => row.sampled.age().map(|s| s as f64),
            _ => None,
        }
    };
    rows.sort_by(|a, b| {
        let by_name = a.host.name.cmp(&b.host.name);
        let order = match key {
            "os" => {
                let text = |r: &Row<'_>| r.host.os.clone().unwrap_or_default().to_lowercase();
                text(a).cmp(&text(b))
            }
            "reachable" | "uptime" | "load" | "failed" | "cpu" | "memory" | "disk" | "sampled" => {
                return figure_order(numeric(a), numeric(b), descending).then(by_name);
            }
            _ => by_name,
        };
        if descending {
            order.reverse().then(by_name)
        } else {
            order.then(by_name)
        }
    });
}

/// Rows of the fleet page: at 10,000 hosts a page of every host was megabytes of HTML; the
/// counts above the table still cover every host.
pub const FLEET_PAGE_SIZE: usize = 100;

/// Whether a row needs someone's attention: not answering (once sampled), refusing the
/// account, a failed service, a figure high or critical, or security updates pending or a
/// reboot needed.
pub fn needs_attention(row: &Row<'_>) -> bool {
    let attention = |l: Level| matches!(l, Level::Warn | Level::Bad);
    let silent = row.sampled != Sampled::Waiting && !row.host.reachable;
    silent
        || row.updates_due
        || row.host.access_denied
        || failed_level(row.host) == Level::Bad
        || row.latest.is_some_and(|p| {
            attention(used_level(p.cpu))
                || attention(used_level(p.memory))
                || attention(free_level(p.disk_free))
        })
}

/// The page of `rows` that `query` asks for: the rows whose name or operating system holds
/// the search text (and only those needing attention when `attention_only`), sorted, cut to
/// [`FLEET_PAGE_SIZE`].
pub fn page<'r, 'a>(
    rows: &'r mut Vec<Row<'a>>,
    query: &TableQuery,
    attention_only: bool,
) -> crate::table::TablePage<'r, Row<'a>> {
    let total = rows.len();
    let needle = query.search.to_lowercase();
    let contains = |text: &str| crate::table::contains_ignoring_case(text, &needle);
    rows.retain(|row| {
        (needle.is_empty()
            || contains(&row.host.name)
            || row.host.os.as_deref().is_some_and(contains))
            && (!attention_only || needs_attention(row))
    });
    sort(rows, query);
    let matching = rows.len();
    let pages = matching.div_ceil(FLEET_PAGE_SIZE).max(1);
    let page = query.page.min(pages);
    crate::table::TablePage {
        rows: rows
            .iter()
            .skip((page - 1) * FLEET_PAGE_SIZE)
            .take(FLEET_PAGE_SIZE)
            .collect(),
        matching,
        total,
        page,
        pages,
        past_the_end: query.page > pages,
    }
}

/// The counts at the top of the fleet page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Hosts shown.
    pub hosts: usize,
    /// Reachable (Identify answered).
    pub reachable: usize,
    /// With at least one failed service.
    pub failing: usize,
    /// CPU high or critical.
    pub cpu: usize,
    /// Memory high or critical.
    pub memory: usize,
    /// Disk free low or critical.
    pub disk: usize,
    /// Waiting for their first sample.
    pub unsampled: usize,
    /// Security updates pending or a reboot needed.
    pub updates: usize,
    /// Needing attention ([`needs_attention`]).
    pub attention: usize,
}

/// Counts `rows`.
pub fn counts(rows: &[Row<'_>]) -> Counts {
    let mut out = Counts {
        hosts: rows.len(),
        ..Counts::default()
    };
    let attention = |l: Level| matches!(l, Level::Warn | Level::Bad);
    for row in rows {
        out.reachable += usize::from(row.host.reachable);
        out.failing += usize::from(failed_level(row.host) == Level::Bad);
        out.unsampled += usize::from(row.sampled == Sampled::Waiting);
        out.attention += usize::from(needs_attention(row));
        out.updates += usize::from(row.updates_due);
        match row.latest {
            None => {}
            Some(p) => {
                out.cpu += usize::from(attention(used_level(p.cpu)));
                out.memory += usize::from(attention(used_level(p.memory)));
                out.disk += usize::from(attention(free_level(p.disk_free)));
            }
        }
    }
    out
}

/// The counts as a list, each count coloured and worded.
pub fn counts_markup(counts: &Counts) -> Markup {
    let unreachable = counts
        .hosts
        .saturating_sub(counts.reachable + counts.unsampled);
    let item = |id: &str, n: usize, text: &str, bad: Level| {
        let level = if n == 0 { Level::Ok } else { bad };
        html! { li id=(id) class=(level.class()) { strong { (n) } " " (text) } }
    };
    html! {
        ul.health-counts aria-label="Fleet health" {
            (item("count-reachable", counts.reachable, "reachable", Level::Ok))
            (item("count-unreachable", unreachable, "unreachable", Level::Bad))
            (item("count-failing", counts.failing, "with failed services", Level::Bad))
            (item("count-cpu", counts.cpu, "CPU high", Level::Warn))
            (item("count-memory", counts.memory, "memory high", Level::Warn))
            (item("count-disk", counts.disk, "disk low", Level::Warn))
            (item("count-updates", counts.updates, "with security updates or a reboot due", Level::Warn))
            (item("count-unsampled", counts.unsampled, "waiting for their first sample", Level::Unknown))
        }
    }
}

/// A percentage cell: the figure, the word when not ok, the level's class.
pub fn percent_cell(value: Option<f64>, level: Level) -> Markup {
    html! {
        td class=(level.class()) {
            @match value { Some(v) => { (format!("{v:.1} %")) (level.word()) }, None => "—" }
        }
    }
}

/// The class of a host's Reachable cell.
pub fn reachable_class(host: &HostSummary, sampled: Sampled) -> &'static str {
    match sampled {
        Sampled::Waiting => Level::Unknown.class(),
        _ => reachable_level(host).class(),
    }
}

/// The Sampled cell: how old the figures are, coloured as the host stands.
pub fn sampled_cell(sampled: Sampled) -> Markup {
    let level = match sampled {
        Sampled::Waiting => Level::Unknown,
        Sampled::Answering { .. } => Level::Ok,
        Sampled::Silent { .. } => Level::Bad,
    };
    html! { td class=(level.class()) { (sampled_text(sampled)) } }
}

/// The class of a host's Failed services cell.
pub fn failed_class(host: &HostSummary) -> &'static str {
    failed_level(host).class()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, reachable: bool, failed: Option<usize>) -> HostSummary {
        HostSummary {
            name: name.to_owned(),
            reachable,
            failed_services: failed.map(|n| (0..n).map(|i| format!("s{i}")).collect()),
            ..HostSummary::default()
        }
    }

    fn point(cpu: f64, memory: f64, disk_free: f64) -> Option<Point> {
        Some(Point {
            at: 1,
            cpu: Some(cpu),
            memory: Some(memory),
            disk_free: Some(disk_free),
            network: None,
        })
    }

    fn fresh() -> Sampled {
        Sampled::Answering {
            at: 1,
            age_seconds: 4,
        }
    }

    fn silent() -> Sampled {
        Sampled::Silent {
            answered: None,
            age_seconds: None,
        }
    }

    #[test]
    fn the_roll_up_counts_and_sorts_by_any_figure() {
        let hosts = [
            host("a", true, Some(0)),
            host("b", true, Some(2)),
            host("c", false, None),
            host("d", true, Some(0)),
        ];
        let mut rows = vec![
            Row {
                host: &hosts[0],
                latest: point(10.0, 50.0, 40.0),
                sampled: fresh(),
                // Every figure fine, but security updates or a reboot due.
                updates_due: true,
            },
            Row {
                host: &hosts[1],
                latest: point(99.0, 85.0, 3.0),
                sampled: fresh(),
                updates_due: false,
            },
            Row {
                host: &hosts[2],
                latest: None,
                sampled: silent(),
                updates_due: false,
            },
            Row {
                host: &hosts[3],
                latest: point(50.0, 96.0, 12.0),
                sampled: fresh(),
                updates_due: false,
            },
        ];
        let got = counts(&rows);
        assert_eq!(
            got,
            Counts {
                hosts: 4,
                reachable: 3,
                failing: 1,
                cpu: 1,
                memory: 2,
                disk: 2,
                unsampled: 0,
                updates: 1,
                attention: 4,
            }
        );
        let attention: String = rows
            .iter()
            .filter(|r| needs_attention(r))
            .map(|r| r.host.name.as_str())
            .collect();
        assert_eq!(attention, "abcd");
        let order =
            |rows: &[Row<'_>]| -> String { rows.iter().map(|r| r.host.name.as_str()).collect() };
        let mut query = TableQuery::parse("sort=cpu&dir=desc");
        sort(&mut rows, &query);
        assert_eq!(order(&rows), "bdac");
        query.descending = false;
        sort(&mut rows, &query);
        assert_eq!(order(&rows), "adbc");
        sort(&mut rows, &TableQuery::parse("sort=disk"));
        assert_eq!(order(&rows), "bdac");
        sort(&mut rows, &TableQuery::parse("sort=failed&dir=desc"));
        assert_eq!(order(&rows), "badc");
        sort(&mut rows, &TableQuery::parse("sort=reachable"));
        assert_eq!(order(&rows), "cabd");
        sort(&mut rows, &TableQuery::parse("sort=name&dir=desc"));
        assert_eq!(order(&rows), "dcba");
        sort(&mut rows, &TableQuery::parse("sort=nonsense"));
        assert_eq!(order(&rows), "abcd");
    }

    /// A page holds at most [`FLEET_PAGE_SIZE`] rows of those matching the search (name or
    /// operating system) and, when asked, needing attention; past the end, the last page.
    #[test]
    fn the_fleet_is_paged_searched_and_filtered_on_the_server() {
        let hosts: Vec<HostSummary> = (0..250)
            .map(|i| host(&format!("h{i:03}"), i % 10 != 0, Some(0)))
            .collect();
        let rows = || -> Vec<Row<'_>> {
            hosts
                .iter()
                .map(|host| Row {
                    host,
                    latest: point(10.0, 50.0, 40.0),
                    sampled: fresh(),
                    updates_due: false,
                })
                .collect()
        };
        let mut all = rows();
        let first = page(&mut all, &TableQuery::parse(""), false);
        assert_eq!((first.rows.len(), first.pages, first.total), (100, 3, 250));
        assert_eq!(first.rows[0].host.name, "h000");
        let mut all = rows();
        let last = page(
            &mut all,
            &TableQuery::parse("page=9&sort=name&dir=desc"),
            false,
        );
        assert!(last.past_the_end);
        assert_eq!((last.page, last.rows.len()), (3, 50));
        assert_eq!(last.rows[0].host.name, "h049");
        let mut all = rows();
        let found = page(&mut all, &TableQuery::parse("q=H24"), false);
        assert_eq!((found.matching, found.total), (10, 250));
        let mut all = rows();
        let silent = page(&mut all, &TableQuery::parse(""), true);
        assert_eq!(silent.matching, 25, "every tenth host does not answer");
        assert!(silent.rows.iter().all(|r| !r.host.reachable));
    }

    /// The row says waiting before the first sample, the age of the figures while the host
    /// answers (its uptime carried on from the facts' read), and that it stopped answering,
    /// with why, once a sample misses it.
    #[test]
    fn a_row_says_how_fresh_it_is_from_the_samplers_status() {
        let entry = ManagedHost {
            name: "web<1>".into(),
            url: "http://127.0.0.1:1/wsman".into(),
            username: "svc".into(),
            password_file: "/unread".into(),
            allow_unencrypted: true,
            skip_ca_check: false,
            groups: Vec::new(),
            run_as: Vec::new(),
        };
        let (waiting, latest, sampled) = summary_of(&entry, None, 100);
        assert_eq!(sampled, Sampled::Waiting);
        assert!(!waiting.reachable && latest.is_none());
        assert_eq!(waiting.name, "web<1>");
        assert_eq!(sampled_text(sampled), "waiting for its first sample");
        let facts = crate::samples::Facts {
            at: 90,
            summary: HostSummary {
                name: "web<1>".into(),
                reachable: true,
                uptime_seconds: Some(1000),
                os: Some("Debian".into()),
                ..HostSummary::default()
            },
        };
        let answering = Status {
            reachable: Some(true),
            latest: point(1.0, 2.0, 3.0),
            facts: Some(facts.clone()),
            tried: Some(95),
            answered: Some(95),
            ..Status::default()
        };
        let (host, latest, sampled) = summary_of(&entry, Some(answering), 100);
        assert_eq!(
            sampled,
            Sampled::Answering {
                at: 95,
                age_seconds: 5
            }
        );
        assert!(host.reachable && latest.is_some());
        assert_eq!(host.uptime_seconds, Some(1010));
        assert_eq!(sampled_text(sampled), "5 s ago");
        let silent = Status {
            reachable: Some(false),
            error: Some("Win32_OperatingSystem: no answer within 8 s".into()),
            facts: Some(facts),
            tried: Some(400),
            answered: Some(95),
            ..Status::default()
        };
        let (host, _, sampled) = summary_of(&entry, Some(silent), 400);
        assert_eq!(
            sampled,
            Sampled::Silent {
                answered: Some(95),
                age_seconds: Some(305)
            }
        );
        assert!(!host.reachable && host.uptime_seconds.is_none());
        assert!(host.error.is_some_and(|e| e.contains("no answer within")));
        assert_eq!(sampled_text(sampled), "not answering; figures 5 min old");
        let never = Status {
            reachable: Some(false),
            ..Status::default()
        };
        let (_, _, sampled) = summary_of(&entry, Some(never), 400);
        assert_eq!(sampled_text(sampled), "not answering; never sampled");
    }

    #[test]
    fn levels_have_words_not_only_colours() {
        assert_eq!(used_level(Some(79.9)), Level::Ok);
        assert_eq!(used_level(Some(80.0)), Level::Warn);
        assert_eq!(used_level(Some(95.0)), Level::Bad);
        assert_eq!(free_level(Some(14.9)), Level::Warn);
        assert_eq!(free_level(Some(4.9)), Level::Bad);
        assert_eq!(free_level(None), Level::Unknown);
        let cell = percent_cell(Some(97.0), Level::Bad).into_string();
        assert!(
            cell.contains("97.0 % critical") && cell.contains("health-bad"),
            "{cell}"
        );
    }
}
