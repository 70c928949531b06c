//! The `QueryList` of an event subscription (`w:Filter` with the dialect
//! `http://schemas.microsoft.com/win/2004/08/events/eventquery`), or one XPath over one log.
//!
//! ```xml
//! <QueryList>
//!   <Query Id="0" Path="Application">
//!     <Select Path="Application">*</Select>
//!     <Select Path="System">*[System[(Level=1 or Level=2)]]</Select>
//!     <Suppress Path="Application">*[System[Level=4]]</Suppress>
//!   </Query>
//! </QueryList>
//! ```
//!
//! An event of log L is selected when, in some `Query`, a `Select` for L matches it and no
//! `Suppress` for L does (a `Select`/`Suppress` without `Path` applies to its `Query`'s `Path`).
//! Log names compare without case, as Windows does.

use std::collections::BTreeSet;

use wsman_proto::budget::{Budget, Expired};
use wsman_proto::xml::{self, Element};

use crate::time::Timestamp;
use crate::xpath::{QueryError, XPath};

/// Most `Select`/`Suppress` elements in one QueryList.
pub const MAX_SELECTS: usize = 256;

/// The dialect URI of a QueryList filter.
pub use wsman_proto::ns::EVENT_QUERY_DIALECT;

#[derive(Clone, Debug, PartialEq)]
struct Clause {
    path: String,
    xpath: XPath,
}

#[derive(Clone, Debug, PartialEq)]
struct Query {
    selects: Vec<Clause>,
    suppresses: Vec<Clause>,
}

/// A parsed QueryList, with its XML as read: a subscription hands the query on as it was
/// written (`Query` ids and all), never re-phrased.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryList {
    queries: Vec<Query>,
    xml: String,
}

impl QueryList {
    /// One XPath over one log (`wevtutil qe LOG /q:XPATH`).
    pub fn single(path: &str, xpath: &str) -> Result<QueryList, QueryError> {
        Ok(QueryList {
            xml: format!(
                "<QueryList><Query Id=\"0\"><Select Path=\"{}\">{}</Select></Query></QueryList>",
                xml::escape_attr(path),
                xml::escape_text(xpath)
            ),
            queries: vec![Query {
                selects: vec![Clause {
                    path: path.to_owned(),
                    xpath: XPath::parse(xpath)?,
                }],
                suppresses: Vec::new(),
            }],
        })
    }

    /// Parse QueryList XML text.
    pub fn parse(text: &str) -> Result<QueryList, QueryError> {
        let limits = xml::Limits::default();
        let root = xml::parse(text, &limits).map_err(|e| QueryError {
            position: 0,
            reason: format!("the QueryList is not XML: {e}"),
        })?;
        QueryList::from_element(&root)
    }

    /// The QueryList from its element (as found inside `w:Filter`).
    pub fn from_element(root: &Element) -> Result<QueryList, QueryError> {
        let refuse = |reason: String| QueryError {
            position: 0,
            reason,
        };
        if root.name != "QueryList" {
            return Err(refuse(format!("expected QueryList, found {}", root.name)));
        }
        let mut queries = Vec::new();
        let mut clauses = 0usize;
        for query in root.elements() {
            if query.name != "Query" {
                return Err(refuse(format!("unexpected {} in QueryList", query.name)));
            }
            let default_path = query.attr("Path").unwrap_or("");
            let mut parsed = Query {
                selects: Vec::new(),
                suppresses: Vec::new(),
            };
            for clause in query.elements() {
                clauses += 1;
                if clauses > MAX_SELECTS {
                    return Err(refuse(format!(
                        "more than {MAX_SELECTS} Select/Suppress elements"
                    )));
                }
                let path = clause.attr("Path").unwrap_or(default_path);
                if path.is_empty() {
                    return Err(refuse(format!("{} without a Path", clause.name)));
                }
                let parsed_clause = Clause {
                    path: path.to_owned(),
                    xpath: XPath::parse(clause.trimmed_text().as_str())?,
                };
                match clause.name.as_str() {
                    "Select" => parsed.selects.push(parsed_clause),
                    "Suppress" => parsed.suppresses.push(parsed_clause),
                    other => return Err(refuse(format!("unexpected {other} in Query"))),
                }
            }
            queries.push(parsed);
        }
        if queries.is_empty() {
            return Err(refuse("a QueryList without a Query".to_owned()));
        }
        Ok(QueryList {
            queries,
            xml: root.to_xml(),
        })
    }

    /// The QueryList as XML, as it was read.
    pub fn to_xml(&self) -> &str {
        &self.xml
    }

    /// The logs this QueryList selects from (what a source has to read).
    pub fn channels(&self) -> BTreeSet<String> {
        self.queries
            .iter()
            .flat_map(|q| q.selects.iter().map(|s| s.path.clone()))
            .collect()
    }

    /// [`matches`](Self::matches) for log `channel` when no clause that applies to it looks at
    /// the event (each is `*`): the answer for any event, without its tree; `None` when the
    /// event is needed. A forwarder of everything (`*`) builds no tree per event.
    pub fn matches_without_event(&self, channel: &str) -> Option<bool> {
        let mut selected = false;
        for query in &self.queries {
            let applies = |clause: &&Clause| clause.path.eq_ignore_ascii_case(channel);
            let (mut selects, mut suppresses) = (false, false);
            for clause in query.selects.iter().filter(applies) {
                if !clause.xpath.selects_every_event() {
                    return None;
                }
                selects = true;
            }
            for clause in query.suppresses.iter().filter(applies) {
                if !clause.xpath.selects_every_event() {
                    return None;
                }
                suppresses = true;
            }
            selected |= selects && !suppresses;
        }
        Some(selected)
    }

    /// Whether `event` (the `Event` element) of log `channel` is selected at time `now`.
    pub fn matches(&self, channel: &str, event: &Element, now: Timestamp) -> bool {
        // An unlimited budget never runs out.
        self.matches_within(channel, event, now, &mut Budget::unlimited())
            .unwrap_or(false)
    }

    /// [`matches`](Self::matches) counting its steps in `budget` (see
    /// [`XPath::matches_within`]): `Err(Expired)` when the caller's check stops it.
    pub fn matches_within(
        &self,
        channel: &str,
        event: &Element,
        now: Timestamp,
        budget: &mut Budget,
    ) -> Result<bool, Expired> {
        for query in &self.queries {
            if any_matches(&query.selects, channel, event, now, budget)?
                && !any_matches(&query.suppresses, channel, event, now, budget)?
            {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Whether one of `clauses` for log `channel` matches `event`.
fn any_matches(
    clauses: &[Clause],
    channel: &str,
    event: &Element,
    now: Timestamp,
    budget: &mut Budget,
) -> Result<bool, Expired> {
    for clause in clauses {
        if clause.path.eq_ignore_ascii_case(channel)
            && clause.xpath.matches_within(event, now, budget)?
        {
            return Ok(true);
        }
    }
    Ok(false)
}
