//! Bookmarks: where a subscriber has got to in each log, as Windows writes them.
//!
//! ```xml
//! <BookmarkList><Bookmark Channel="Application" RecordId="149161" IsCurrent="true"/></BookmarkList>
//! ```
//!
//! A bookmark only moves forward ([`BookmarkList::advance`]): a reordered or replayed batch
//! cannot take a position back.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use wsman_proto::xml::{self, Element};

use crate::event::escape_into;

/// Most channels one bookmark list may name.
pub const MAX_CHANNELS: usize = 256;

/// The text a subscriber sends for "from the start".
pub use wsman_proto::ns::BOOKMARK_EARLIEST as EARLIEST;

/// Why a bookmark was refused (`w:InvalidBookmark`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid bookmark: {0}")]
pub struct BookmarkError(String);

/// Positions per log (the last delivered record id), and which log was written last.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BookmarkList {
    positions: BTreeMap<String, u64>,
    current: Option<String>,
}

/// A list at these positions (each channel advanced to its record, as [`BookmarkList::advance`]
/// does).
impl<'a> FromIterator<(&'a str, u64)> for BookmarkList {
    fn from_iter<I: IntoIterator<Item = (&'a str, u64)>>(positions: I) -> BookmarkList {
        let mut list = BookmarkList::new();
        for (channel, record) in positions {
            list.advance(channel, record);
        }
        list
    }
}

impl BookmarkList {
    /// An empty list: nothing delivered yet.
    pub fn new() -> BookmarkList {
        BookmarkList::default()
    }

    /// Parse `<BookmarkList>` text.
    pub fn parse(text: &str) -> Result<BookmarkList, BookmarkError> {
        let root = xml::parse(text, &xml::Limits::default())
            .map_err(|e| BookmarkError(format!("not XML: {e}")))?;
        BookmarkList::from_element(&root)
    }

    /// The list from its element (as found inside `w:Bookmark`).
    pub fn from_element(root: &Element) -> Result<BookmarkList, BookmarkError> {
        if root.name != "BookmarkList" {
            return Err(BookmarkError(format!(
                "expected BookmarkList, found {}",
                root.name
            )));
        }
        let mut list = BookmarkList::new();
        let mut marked = None;
        for bookmark in root.elements() {
            if bookmark.name != "Bookmark" {
                return Err(BookmarkError(format!("unexpected {}", bookmark.name)));
            }
            if list.positions.len() >= MAX_CHANNELS {
                return Err(BookmarkError(format!("more than {MAX_CHANNELS} channels")));
            }
            let channel = bookmark
                .attr("Channel")
                .filter(|c| !c.is_empty())
                .ok_or_else(|| BookmarkError("a Bookmark without Channel".to_owned()))?;
            let record: u64 = bookmark
                .attr("RecordId")
                .and_then(|r| r.trim().parse().ok())
                .ok_or_else(|| BookmarkError(format!("no valid RecordId for {channel}")))?;
            list.advance(channel, record);
            if bookmark
                .attr("IsCurrent")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"))
            {
                marked = Some(channel.to_owned());
            }
        }
        // The log marked current wherever it stands in the list (Windows marks one, not
        // necessarily the last); without a mark, the last one read.
        if marked.is_some() {
            list.current = marked;
        }
        Ok(list)
    }

    /// Record delivery of `record` in `channel`; a position never moves back.
    pub fn advance(&mut self, channel: &str, record: u64) {
        // The names are copied only the first time: a batch advances the same log once per
        // event, and two copies per event were a visible share of the collector's allocations.
        match self.positions.get_mut(channel) {
            Some(position) => *position = (*position).max(record),
            None => {
                self.positions.insert(channel.to_owned(), record);
            }
        }
        if self.current.as_deref() != Some(channel) {
            self.current = Some(channel.to_owned());
        }
    }

    /// Take every position of `other` that is further on (bookmarks from two places).
    pub fn merge(&mut self, other: &BookmarkList) {
        for (channel, record) in &other.positions {
            let position = self.positions.entry(channel.clone()).or_insert(*record);
            if *record > *position {
                *position = *record;
            }
        }
    }

    /// The last delivered record of `channel`, if any.
    pub fn position(&self, channel: &str) -> Option<u64> {
        self.positions.get(channel).copied()
    }

    /// Channels and positions, by channel name.
    pub fn positions(&self) -> impl Iterator<Item = (&str, u64)> {
        self.positions.iter().map(|(c, r)| (c.as_str(), *r))
    }

    /// The list as Windows writes it.
    pub fn to_xml(&self) -> String {
        let mut out = String::from("<BookmarkList>");
        for (channel, record) in &self.positions {
            out.push_str("<Bookmark Channel=\"");
            escape_into(channel, &mut out, true);
            let _ = write!(out, "\" RecordId=\"{record}\"");
            if self.current.as_deref() == Some(channel.as_str()) {
                out.push_str(" IsCurrent=\"true\"");
            }
            out.push_str("/>");
        }
        out.push_str("</BookmarkList>");
        out
    }
}
