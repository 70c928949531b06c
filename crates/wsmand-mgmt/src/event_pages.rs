//! The Events page (one search over the stored events of every host the viewer may read) and
//! one stored event's full XML, rendered on the server like every page: the store's answers
//! are text, escaped by the templates; the histogram is drawn by uPlot from numbers in a data
//! attribute (`/assets/search.js`, no inline script), with its counts in a table beside it.

use maud::{html, Markup};

use crate::event_search::{self, Bucket, Search, StoredEvent, LEVELS, PAGE_SIZE};
use crate::event_views::SavedView;
use crate::hosts::HostError;
use crate::pages::{fault, layout_with, Viewer};

/// uPlot and search.js, bundled from `web/` by `scripts/web-assets.sh` (served at
/// `/assets/search.js`).
pub const SCRIPT: &[u8] = include_bytes!("../assets/search.js");

/// What the Events page shows.
pub struct EventsPage<'a> {
    /// The search.
    pub search: &'a Search,
    /// The collector searched (`None`: there is none the viewer may read, `problem` says why).
    pub collector: Option<&'a str>,
    /// Why nothing was searched, if nothing was.
    pub problem: Option<String>,
    /// The hosts and groups the viewer may choose, for the form's suggestions.
    pub choices: Vec<String>,
    /// The matches (newest first) and whether a page follows.
    pub results: Option<Result<(Vec<StoredEvent>, bool), HostError>>,
    /// The histogram (oldest bucket first).
    pub histogram: Option<Result<Vec<Bucket>, HostError>>,
    /// Where the live tail starts.
    pub cursor: Option<u64>,
    /// The saved views, each with whether the viewer may delete it.
    pub views: Vec<(SavedView, bool)>,
    /// What saving or deleting a view did.
    pub notice: Option<Notice>,
}

/// What saving or deleting a view did, said at the top of the page.
pub enum Notice {
    /// Done, in words.
    Done(String),
    /// Refused, and why.
    Refused(String),
}

/// The Events page.
pub fn events(viewer: &Viewer<'_>, page: &EventsPage<'_>) -> Markup {
    let search = page.search;
    layout_with(
        "Events",
        Some(viewer),
        html! { link rel="stylesheet" href="/assets/graphs.css"; },
        html! {
            h1 { "Events" }
            p.lead {
                "The events forwarded to the collector"
                @if let Some(collector) = page.collector { " " strong { (collector) } }
                " from the hosts you may read, Windows and Linux alike, newest first."
            }
            @match &page.notice {
                Some(Notice::Done(text)) => p.ok role="status" { (text) },
                Some(Notice::Refused(text)) => p.error role="alert" { (text) },
                None => {},
            }
            (search_form(search, &page.choices))
            @for problem in &search.problems { p.error { (problem) } }
            @if let Some(problem) = &page.problem { p.error { (problem) } }
            (views_section(viewer, search, &page.views))
            @if let Some(histogram) = &page.histogram { (histogram_section(histogram)) }
            @if let Some(results) = &page.results { (results_section(search, results)) }
            @if let (Some(after), Some(_)) = (page.cursor, page.collector) {
                (tail_section(search, after))
            }
            p.command {
                "Same from a shell: " code { "winrm enumerate urn:wsmand:event-store/Event -r:COLLECTOR -dialect:urn:wsmand:event-store:search -filter:\"" (search.filter_xml(None, None)) "\"" }
                " (the filter's dialect is in docs/event-search.md)"
            }
            script src="/assets/search.js" {}
        },
    )
}

fn search_form(search: &Search, choices: &[String]) -> Markup {
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let joined = |values: &[String]| values.join(",");
    let ids: Vec<String> = search.event_ids.iter().map(u16::to_string).collect();
    html! {
        form.filter #search method="get" action="/events" {
            label { "Hosts or groups " input type="text" name="hosts" list="event-hosts" value=(joined(&search.hosts)) maxlength="256" placeholder="all you may read"; }
            datalist #event-hosts { @for choice in choices { option value=(choice); } }
            label { "Channel " input type="text" name="channel" list="event-channels" value=(joined(&search.channels)) maxlength="256"; }
            datalist #event-channels { option value="Application"; option value="System"; option value="Security"; option value="ForwardedEvents"; }
            label { "Level "
                select name="level" {
                    option value="" { "any" }
                    @for (name, number) in LEVELS {
                        option value=(name) selected[search.levels == [number]] { (name) }
                    }
                }
            }
            label { "Event ID " input type="text" name="eventid" inputmode="numeric" value=(joined(&ids)) maxlength="256"; }
            label { "Provider " input type="text" name="provider" value=(joined(&search.providers)) maxlength="256"; }
            label { "From (UTC) " input type="datetime-local" name="from" value=(text(&search.from)); }
            label { "To (UTC) " input type="datetime-local" name="to" value=(text(&search.to)); }
            label { "Text " input type="search" name="text" value=(text(&search.text)) maxlength="256"; }
            button type="submit" { "Search" }
            " " a href="/events" { "Clear" }
        }
    }
}

fn views_section(viewer: &Viewer<'_>, search: &Search, views: &[(SavedView, bool)]) -> Markup {
    html! {
        section.views aria-labelledby="views-title" {
            h2 #views-title { "Saved views" }
            @if views.is_empty() {
                p.empty { "No view is saved yet." }
            } @else {
                ul.views {
                    @for (view, deletable) in views {
                        li {
                            a href={ "/events?" (view.query) } { (view.name) }
                            " (saved by " (view.owner_label) ")"
                            @if *deletable {
                                form.inline method="post" action="/events/views/remove" {
                                    input type="hidden" name="csrf" value=(viewer.csrf);
                                    input type="hidden" name="name" value=(view.name);
                                    button type="submit" aria-label={ "Delete the view " (view.name) } { "delete" }
                                }
                            }
                        }
                    }
                }
            }
            form.save method="post" action="/events/views" {
                input type="hidden" name="csrf" value=(viewer.csrf);
                input type="hidden" name="query" value=(search.query_string(1));
                label { "Save this search as " input type="text" name="name" maxlength=(crate::event_views::MAX_NAME_CHARS) required; }
                button type="submit" { "Save view" }
            }
        }
    }
}

/// Seconds since 1970 as an RFC 3339 UTC time.
fn utc(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds).map_or_else(|_| seconds.to_string(), |t| t.to_string())
}

fn histogram_section(histogram: &Result<Vec<Bucket>, HostError>) -> Markup {
    html! {
        section.figures aria-labelledby="histogram-title" {
            h2 #histogram-title { "Matches over time" }
            @match histogram {
                Err(error) => (fault(&error.to_string())),
                Ok(buckets) if buckets.is_empty() => p.empty { "No event matches." },
                Ok(buckets) => {
                    @let total: u64 = buckets.iter().map(|b| b.count).sum();
                    @let width = buckets[0].seconds;
                    @let points: Vec<[i64; 2]> = buckets.iter().map(|b| [b.start, i64::try_from(b.count).unwrap_or(i64::MAX)]).collect();
                    p #histogram-status .note {
                        (total) " matching event(s) from " (utc(buckets[0].start)) " in " (buckets.len()) " bucket(s) of " (width) " s."
                    }
                    figure.graph #histogram data-buckets=(serde_json::to_string(&points).unwrap_or_default()) data-seconds=(width) data-total=(total) {
                        figcaption { "Matching events per " (width) " s" }
                        div.chart role="img" aria-label={ "Matching events over time: " (total) " in all" } {}
                    }
                    details {
                        summary { "The counts" }
                        table.latest {
                            thead { tr { th scope="col" { "From (UTC)" } th scope="col" { "Events" } } }
                            tbody {
                                @for bucket in buckets.iter().filter(|b| b.count > 0) {
                                    tr { td { (utc(bucket.start)) } td { (bucket.count) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn results_section(
    search: &Search,
    results: &Result<(Vec<StoredEvent>, bool), HostError>,
) -> Markup {
    html! {
        section aria-labelledby="results-title" {
            h2 #results-title { "Newest matches" }
            @match results {
                Err(error) => (fault(&error.to_string())),
                Ok((events, more)) => {
                    p.pager #results-pager {
                        "Page " (search.page) ", events " ((search.page - 1) * PAGE_SIZE + usize::from(!events.is_empty())) "–" ((search.page - 1) * PAGE_SIZE + events.len())
                        @if search.page > 1 { " " a rel="prev" href={ "/events?" (search.query_string(search.page - 1)) } { "newer" } }
                        @if *more && search.page < event_search::MAX_PAGE { " " a rel="next" href={ "/events?" (search.query_string(search.page + 1)) } { "older" } }
                    }
                    @if events.is_empty() {
                        p.empty { "No event matches. Widen the search or " a href="/events" { "clear it" } "." }
                    } @else {
                        (events_table("results", events))
                    }
                }
            }
        }
    }
}

/// A table of stored events, each with the link to its full XML.
fn events_table(id: &str, events: &[StoredEvent]) -> Markup {
    html! {
        table.events {
            thead { tr { th scope="col" { "Time" } th scope="col" { "Host" } th scope="col" { "Channel" } th scope="col" { "Level" } th scope="col" { "Event ID" } th scope="col" { "Provider" } th scope="col" { "Message" } th scope="col" { "XML" } } }
            tbody #(id) {
                @for event in events {
                    tr data-id=(event.id) {
                        td { (event.time) } td { (event.computer) } td { (event.channel) } td { (event.level) }
                        td { (event.event_id) } td { (event.provider) } td.cmd { (event.message) }
                        td { a href={ "/events/stored/" (event.id) } aria-label={ "The full XML of event " (event.id) } { "XML" } }
                    }
                }
            }
        }
    }
}

fn tail_section(search: &Search, after: u64) -> Markup {
    html! {
        section #tail aria-labelledby="tail-title" data-tail={ "/events/tail.json?" (search.query_string(1)) } data-after=(after) {
            h2 #tail-title { "Live tail" }
            p #tail-status role="status" { "The live tail needs JavaScript." }
            button #tail-toggle type="button" hidden { "Follow new events" }
            (events_table("tail-events", &[]))
        }
    }
}

/// One stored event's full XML, as the forwarder sent it (text, never markup).
pub fn stored_event(
    viewer: &Viewer<'_>,
    id: u64,
    xml: &Result<String, HostError>,
    back: &str,
) -> Markup {
    layout_with(
        &format!("Event {id}"),
        Some(viewer),
        html! {},
        html! {
            h1 { "Event " (id) }
            @match xml {
                Ok(xml) => pre.xml #event-xml tabindex="0" aria-label="The event's XML" { (xml) },
                Err(error) => (fault(&error.to_string())),
            }
            p.command { "Same from a shell: " code { "winrm get urn:wsmand:event-store/Event?Id=" (id) " -r:COLLECTOR" } }
            p { a href=(back) { "Back to the events" } }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stores_text_is_shown_as_text() {
        let viewer = Viewer {
            user: "u",
            csrf: "t",
        };
        let search = Search::parse("text=logon");
        let event = StoredEvent {
            id: 7,
            message: "<script>alert(1)</script>".to_owned(),
            computer: "<b>web1</b>".to_owned(),
            ..StoredEvent::default()
        };
        let page = EventsPage {
            search: &search,
            collector: Some("collector"),
            problem: None,
            choices: vec!["web1".to_owned()],
            results: Some(Ok((vec![event], false))),
            histogram: Some(Ok(vec![Bucket {
                start: 60,
                seconds: 60,
                count: 1,
            }])),
            cursor: Some(7),
            views: Vec::new(),
            notice: None,
        };
        let shown = events(&viewer, &page).into_string();
        assert!(!shown.contains("<script>alert"), "{shown}");
        assert!(shown.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(shown.contains("&lt;b&gt;web1&lt;/b&gt;"));
        assert!(shown.contains(r#"href="/events/stored/7""#));
        assert!(shown.contains(r#"data-buckets="[[60,1]]""#), "{shown}");
        let xml = stored_event(&viewer, 7, &Ok("<Event><x/></Event>".to_owned()), "/events")
            .into_string();
        assert!(
            xml.contains("&lt;Event&gt;&lt;x/&gt;&lt;/Event&gt;"),
            "{xml}"
        );
    }
}
