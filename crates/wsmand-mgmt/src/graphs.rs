//! The overview's figures: four graphs of the last hour drawn in the browser by uPlot
//! (`/assets/graphs.js`, bundled from `web/` by `scripts/web-assets.sh`) from
//! `/hosts/NAME/samples.json`, and, for a browser without scripts, a table of the newest
//! sample rendered on the server.

use maud::{html, Markup};

use crate::samples::{Point, Snapshot};

/// uPlot and graphs.js, bundled (served at `/assets/graphs.js`).
pub const SCRIPT: &[u8] = include_bytes!("../assets/graphs.js");
/// uPlot's stylesheet and the graphs' boxes (served at `/assets/graphs.css`).
pub const STYLESHEET: &[u8] = include_bytes!("../assets/graphs.css");

/// The four series: key in the JSON, caption, unit.
pub const SERIES: [(&str, &str, &str); 4] = [
    ("cpu", "Processor time", "%"),
    ("memory", "Memory in use", "%"),
    ("disk_free", "Disk free (fullest local disk)", "%"),
    ("network", "Network, all interfaces", "bytes/s"),
];

/// `value` of the series `key` as text, `—` when the host did not give it.
pub fn figure(key: &str, point: Option<&Point>) -> String {
    let value = point.and_then(|p| match key {
        "cpu" => p.cpu,
        "memory" => p.memory,
        "disk_free" => p.disk_free,
        "network" => p.network,
        _ => None,
    });
    match (key, value) {
        (_, None) => "—".to_owned(),
        ("network", Some(v)) => rate(v),
        (_, Some(v)) => format!("{v:.1} %"),
    }
}

/// Bytes per second in the largest unit that keeps a number ≥ 1.
pub fn rate(bytes_per_second: f64) -> String {
    const UNITS: [&str; 4] = ["B/s", "KiB/s", "MiB/s", "GiB/s"];
    let mut value = bytes_per_second;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Seconds since 1970 as an RFC 3339 UTC time.
fn utc(seconds: u64) -> String {
    i64::try_from(seconds)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map_or_else(|| seconds.to_string(), |t| t.to_string())
}

/// What the figures' state is, in words.
fn status(figures: &Snapshot) -> String {
    match (figures.reachable, figures.latest()) {
        (None, _) => "Not sampled yet: the first sample is taken within one interval.".to_owned(),
        (Some(false), _) => "The last sample did not reach the host.".to_owned(),
        (Some(true), None) => "The host answered, but gave none of the figures.".to_owned(),
        (Some(true), Some(_)) => format!(
            "{} of the last hour, one every {} s.",
            samples(figures.points.len()),
            figures.interval
        ),
    }
}

/// "1 sample", "2 samples": the count agrees with its noun (graphs.js words it alike).
fn samples(count: usize) -> String {
    if count == 1 {
        "1 sample".to_owned()
    } else {
        format!("{count} samples")
    }
}

/// The overview's section: graphs (drawn by the script) and the newest sample as a table.
pub fn section(name: &str, figures: &Snapshot) -> Markup {
    let latest = figures.latest();
    html! {
        section.figures aria-labelledby="figures-title" {
            h2 #figures-title { "Figures" }
            p #figures-status .note { (status(figures)) }
            @if let Some(error) = &figures.error { p.note { "Not read: " (error) } }
            div #graphs .graphs data-samples={ "/hosts/" (name) "/samples.json" } data-interval=(figures.interval) {
                @for (key, caption, unit) in SERIES {
                    figure.graph data-series=(key) data-unit=(unit) {
                        figcaption { (caption) ", " (unit) }
                        div.chart role="img" aria-label={ (caption) " over the last hour, " (unit) } {}
                    }
                }
            }
            table.latest {
                caption {
                    "Newest sample"
                    @if let Some(point) = latest { @let at = utc(point.at); " (" time datetime=(at) { (at) } ")" }
                }
                tbody {
                    @for (key, caption, _) in SERIES {
                        tr data-series=(key) { th scope="row" { (caption) } td { (figure(key, latest)) } }
                    }
                }
            }
            p.command { "Same from a shell: " code { "winrm enumerate wmicimv2/Win32_PerfFormattedData_PerfOS_Processor -r:URL" } }
            script src="/assets/graphs.js" {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_put_in_words() {
        let point = Point {
            at: 1,
            cpu: Some(12.345),
            memory: None,
            disk_free: Some(100.0),
            network: Some(1536.0),
        };
        assert_eq!(figure("cpu", Some(&point)), "12.3 %");
        assert_eq!(figure("memory", Some(&point)), "—");
        assert_eq!(figure("disk_free", Some(&point)), "100.0 %");
        assert_eq!(figure("network", Some(&point)), "1.5 KiB/s");
        assert_eq!(figure("cpu", None), "—");
        assert_eq!(samples(1), "1 sample");
        assert_eq!(samples(0), "0 samples");
        assert_eq!(samples(360), "360 samples");
        assert_eq!(rate(0.0), "0.0 B/s");
        assert_eq!(
            rate(5.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0),
            "5120.0 GiB/s"
        );
    }
}
