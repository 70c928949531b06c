//! The fleet page's health roll-up: each host's reachability and failed services (read for
//! the page) beside its newest sampled CPU, memory and disk figures (`samples`), each
//! judged ok, high or critical (in words as well as colour), counted at the top, and the
//! table sorted on the server by any column (`?sort=KEY&dir=desc`, as the long tables).

use std::cmp::Ordering;

use maud::{html, Markup};

use crate::hosts::HostSummary;
use crate::samples::Point;
use crate::table::TableQuery;

/// One host's row: what was read for the page and its newest sample.
pub struct Row<'a> {
    /// Identify, the OS, the failed services.
    pub host: &'a HostSummary,
    /// The newest sample, if any.
    pub latest: Option<Point>,
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
pub const COLUMNS: [(&str, &str); 9] = [
    ("name", "Host"),
    ("reachable", "Reachable"),
    ("os", "Operating system"),
    ("uptime", "Uptime"),
    ("load", "Load"),
    ("failed", "Failed services"),
    ("cpu", "CPU"),
    ("memory", "Memory"),
    ("disk", "Disk free"),
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
            "reachable" | "uptime" | "load" | "failed" | "cpu" | "memory" | "disk" => {
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

/// The counts at the top of the fleet page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
    /// Not sampled yet or no sample.
    pub unsampled: usize,
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
        match row.latest {
            None => out.unsampled += 1,
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
    let unreachable = counts.hosts - counts.reachable;
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
            (item("count-unsampled", counts.unsampled, "not sampled yet", Level::Unknown))
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
pub fn reachable_class(host: &HostSummary) -> &'static str {
    reachable_level(host).class()
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
            },
            Row {
                host: &hosts[1],
                latest: point(99.0, 85.0, 3.0),
            },
            Row {
                host: &hosts[2],
                latest: None,
            },
            Row {
                host: &hosts[3],
                latest: point(50.0, 96.0, 12.0),
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
                unsampled: 1
            }
        );
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
