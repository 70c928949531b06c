//! The management service's parsers of untrusted input: arbitrary bytes as a request target
//! through the route parser, as a form body through the form reader (the login form and
//! every action form), as a table page's query (search, sort, page, confirm) and the
//! links made from it, as the events page's filter and the WQL made from it, and as the
//! Events page's search and the store's filter made from it. Any panic,
//! hang or unbounded allocation is a bug. The same bytes also go through the request-head
//! guard's scanner, whole and split; as the role form's rule lines (what parses is written
//! back as lines that parse to the same rules) and as a `winrm/config` setting's path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsmand_mgmt::event_filter::EventFilter;
use wsmand_mgmt::form::Form;
use wsman_front::head::HeadScanner;
use wsmand_mgmt::route::{self, Route};
use wsmand_mgmt::table::TableQuery;

fuzz_target!(|data: &[u8]| {
    let _ = HeadScanner::new(wsmand_mgmt::server::MAX_GUARDED_HEAD_BYTES).scan(data);
    let mut split = HeadScanner::new(wsmand_mgmt::server::MAX_GUARDED_HEAD_BYTES);
    for chunk in data.chunks(7) {
        let _ = split.scan(chunk);
    }
    if let Ok(form) = Form::parse(data) {
        let _ = form.get("user");
        let _ = form.get("csrf");
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(rules) = wsmand_mgmt::manage::parse_rules(text) {
        let lines: Vec<String> = rules
            .iter()
            .map(wsmand_mgmt::manage_pages::rule_line)
            .collect();
        let complete = rules
            .iter()
            .all(|r| !r.actions.is_empty() && !r.hosts.is_empty() && !r.resources.is_empty());
        if complete {
            assert_eq!(
                wsmand_mgmt::manage::parse_rules(&lines.join("\n")),
                Ok(rules)
            );
        }
    }
    if let Some((_, leaf)) = wsmand_mgmt::config_edit::container_of(text) {
        // A setting's name becomes an element name: only a plain XML name gets this far.
        assert!(
            leaf.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && leaf
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)),
            "{leaf}"
        );
    }
    let mut query = TableQuery::parse(text);
    assert!(query.page >= 1);
    // The events filter: its WQL is one the host's parser reads, and its values are kept
    // by the links below.
    let filter = EventFilter::parse(text);
    if let Some(wql) = filter.wql() {
        assert!(wsman_proto::wql::parse(&wql).is_ok(), "{wql}");
    }
    query.kept = filter.parameters();
    // A link back is a query string of safe bytes only (every value percent-encoded).
    let link = query.link(|next| next.page = query.page);
    assert!(link
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"?&=%-_.~".contains(&b)));
    // The Events page's search: its filter is well-formed XML of the store's dialect, and
    // its link a query string of safe bytes that reads back as the same search.
    let search = wsmand_mgmt::event_search::Search::parse(text);
    let filter = search.filter_xml(Some(&["web1<&>".to_owned()]), Some(1));
    assert!(
        wsman_proto::xml::parse(&filter, &wsman_proto::xml::Limits::default()).is_ok(),
        "{filter}"
    );
    let link = search.query_string(search.page);
    assert!(link
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"&=%-_.~".contains(&b)));
    assert_eq!(
        wsmand_mgmt::event_search::Search::parse(&link).parameters(),
        search.parameters()
    );
    if let Ok(Route::HostOverview(name) | Route::Services(name) | Route::Processes(name)) =
        route::parse(text)
    {
        // A name from a path is only ever a safe segment.
        assert!(name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@:".contains(&b)));
    }
});
