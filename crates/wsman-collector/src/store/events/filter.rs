//! A search of the store: the `q:Search` of an Enumerate's filter (`docs/event-search.md`),
//! read and bounded here, whoever sent it. Every value is checked against its range before
//! anything reaches the database, and only ever bound as a parameter.

use wsman_events::Timestamp;
use wsman_proto::ns::event_store::NS;
use wsman_proto::xml::Element;

use super::record::{words_of, MAX_NAME};

/// Most `Computer` values of one search (the console sends a group's members).
pub const MAX_COMPUTERS: usize = 4096;
/// Most values of `Channel`, `Level`, `EventID` and `Provider` each.
pub const MAX_VALUES: usize = 256;
/// Most characters of `Text`, and most words in it.
pub const MAX_TEXT: usize = 256;
pub const MAX_TEXT_WORDS: usize = 8;
/// Widest histogram bucket (a year) and most buckets of one histogram.
pub const MAX_BUCKET_SECONDS: i64 = 31_536_000;
pub const MAX_BUCKETS: i64 = 1000;

/// What a search matches: every field given, any of a field's values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Search {
    pub computers: Vec<String>,
    pub channels: Vec<String>,
    pub levels: Vec<i64>,
    pub event_ids: Vec<i64>,
    pub providers: Vec<String>,
    /// `from` ≤ time < `to`.
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// Each must begin a word of the event's message or data.
    pub words: Vec<String>,
    /// A live tail: events stored after this id, oldest first.
    pub after: Option<i64>,
    pub bucket_seconds: Option<i64>,
}

/// Why a filter is refused (answered `n:CannotProcessFilter` with this text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("the filter must hold exactly one q:Search in {NS}")]
    NoSearch,
    #[error("q:Search has an element {0} that the dialect does not define")]
    Unknown(String),
    #[error("{element}: {why}")]
    Value { element: &'static str, why: String },
    #[error("{0} may appear at most {1} times")]
    TooMany(&'static str, usize),
    #[error("From must be before To")]
    EmptyRange,
    #[error("{0} is not allowed on this resource")]
    NotHere(&'static str),
    #[error("the histogram would have {0} buckets, more than {MAX_BUCKETS}")]
    TooManyBuckets(i64),
}

fn value_error(element: &'static str, why: impl Into<String>) -> FilterError {
    FilterError::Value {
        element,
        why: why.into(),
    }
}

fn name(element: &'static str, text: String) -> Result<String, FilterError> {
    if text.is_empty() || text.len() > MAX_NAME {
        return Err(value_error(element, format!("1 to {MAX_NAME} characters")));
    }
    Ok(text)
}

fn integer(element: &'static str, text: &str, max: i64) -> Result<i64, FilterError> {
    text.parse::<i64>()
        .ok()
        .filter(|n| (0..=max).contains(n))
        .ok_or_else(|| value_error(element, format!("a number from 0 to {max}")))
}

/// An `xs:dateTime` with `Z` or a `+HH:MM`/`-HH:MM` offset.
pub fn parse_date_time(text: &str) -> Option<Timestamp> {
    if text.ends_with('Z') {
        return Timestamp::parse_system_time(text);
    }
    let split = text.len().checked_sub(6)?;
    let (local, offset) = (text.get(..split)?, text.get(split..)?);
    let sign = match offset.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes) = offset[1..].split_once(':')?;
    let (hours, minutes): (i64, i64) = (hours.parse().ok()?, minutes.parse().ok()?);
    if hours > 14 || minutes > 59 {
        return None;
    }
    let utc = Timestamp::parse_system_time(&format!("{local}Z"))?;
    Some(Timestamp::from_unix_micros(
        utc.unix_micros() - sign * (hours * 3600 + minutes * 60) * 1_000_000,
    ))
}

impl Search {
    /// The search of a `w:Filter` element of the dialect (its one `q:Search`).
    pub fn from_filter(filter: &Element) -> Result<Search, FilterError> {
        let mut searches = filter.elements();
        let search = match (searches.next(), searches.next()) {
            (Some(search), None) if search.is(NS, "Search") => search,
            _ => return Err(FilterError::NoSearch),
        };
        let mut out = Search::default();
        for element in search.elements() {
            if element.ns.as_deref() != Some(NS) {
                return Err(FilterError::Unknown(format!(
                    "{} in {:?}",
                    element.name,
                    element.ns.as_deref().unwrap_or("")
                )));
            }
            out.read(element)?;
        }
        out.check()?;
        Ok(out)
    }

    fn read(&mut self, element: &Element) -> Result<(), FilterError> {
        let text = element.trimmed_text();
        match element.name.as_str() {
            "Computer" => push(
                &mut self.computers,
                "Computer",
                name("Computer", text)?,
                MAX_COMPUTERS,
            )?,
            "Channel" => push(
                &mut self.channels,
                "Channel",
                name("Channel", text)?,
                MAX_VALUES,
            )?,
            "Provider" => push(
                &mut self.providers,
                "Provider",
                name("Provider", text)?,
                MAX_VALUES,
            )?,
            "Level" => push(
                &mut self.levels,
                "Level",
                integer("Level", &text, 255)?,
                MAX_VALUES,
            )?,
            "EventID" => push(
                &mut self.event_ids,
                "EventID",
                integer("EventID", &text, 65_535)?,
                MAX_VALUES,
            )?,
            "From" => once(&mut self.from, "From", date("From", &text)?)?,
            "To" => once(&mut self.to, "To", date("To", &text)?)?,
            "After" => once(&mut self.after, "After", integer("After", &text, i64::MAX)?)?,
            "BucketSeconds" => once(
                &mut self.bucket_seconds,
                "BucketSeconds",
                integer("BucketSeconds", &text, MAX_BUCKET_SECONDS).and_then(|n| {
                    if n == 0 {
                        Err(value_error("BucketSeconds", "at least 1"))
                    } else {
                        Ok(n)
                    }
                })?,
            )?,
            "Text" => {
                if !self.words.is_empty() {
                    return Err(FilterError::TooMany("Text", 1));
                }
                if text.chars().count() > MAX_TEXT {
                    return Err(value_error(
                        "Text",
                        format!("at most {MAX_TEXT} characters"),
                    ));
                }
                let words = words_of(&text);
                if words.is_empty() || words.len() > MAX_TEXT_WORDS {
                    return Err(value_error(
                        "Text",
                        format!("1 to {MAX_TEXT_WORDS} words of letters and digits"),
                    ));
                }
                self.words = words;
            }
            other => return Err(FilterError::Unknown(other.to_owned())),
        }
        Ok(())
    }

    fn check(&self) -> Result<(), FilterError> {
        match (self.from, self.to) {
            (Some(from), Some(to)) if from >= to => Err(FilterError::EmptyRange),
            _ => Ok(()),
        }
    }

    /// A search of the events: no bucket width.
    pub fn for_events(self) -> Result<Search, FilterError> {
        match self.bucket_seconds {
            Some(_) => Err(FilterError::NotHere("BucketSeconds")),
            None => Ok(self),
        }
    }

    /// A search of the histogram: no tail.
    pub fn for_histogram(self) -> Result<Search, FilterError> {
        match self.after {
            Some(_) => Err(FilterError::NotHere("After")),
            None => Ok(self),
        }
    }
}

fn date(element: &'static str, text: &str) -> Result<Timestamp, FilterError> {
    parse_date_time(text).ok_or_else(|| value_error(element, "an xs:dateTime with Z or an offset"))
}

fn push<T>(
    values: &mut Vec<T>,
    element: &'static str,
    value: T,
    max: usize,
) -> Result<(), FilterError> {
    if values.len() >= max {
        return Err(FilterError::TooMany(element, max));
    }
    values.push(value);
    Ok(())
}

fn once<T>(slot: &mut Option<T>, element: &'static str, value: T) -> Result<(), FilterError> {
    if slot.replace(value).is_some() {
        return Err(FilterError::TooMany(element, 1));
    }
    Ok(())
}

/// The steps a histogram's width is chosen from when the search names none.
const STEPS: [i64; 9] = [1, 10, 60, 300, 900, 3600, 21_600, 86_400, 604_800];
/// Buckets a chosen width aims at, at most.
const AIMED_BUCKETS: i64 = 200;

/// The buckets of a histogram over `first`..`last` (microseconds, inclusive): their width in
/// seconds and the start of the first, in seconds; refused past [`MAX_BUCKETS`].
pub fn buckets(asked: Option<i64>, first: i64, last: i64) -> Result<(i64, i64, i64), FilterError> {
    let span = (last - first).max(0) / 1_000_000 + 1;
    let width = asked.unwrap_or_else(|| {
        STEPS
            .into_iter()
            .find(|w| span / w < AIMED_BUCKETS)
            .unwrap_or(STEPS[STEPS.len() - 1])
    });
    let start = first.div_euclid(1_000_000).div_euclid(width) * width;
    let end = last.div_euclid(1_000_000).div_euclid(width) * width;
    let count = (end - start) / width + 1;
    if count > MAX_BUCKETS {
        return Err(FilterError::TooManyBuckets(count));
    }
    Ok((width, start, count))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use wsman_proto::xml;

    fn search(inner: &str) -> Result<Search, FilterError> {
        let text = format!("<w:Filter xmlns:w='x' xmlns:q='{NS}'>{inner}</w:Filter>");
        Search::from_filter(&xml::parse(&text, &xml::Limits::default()).unwrap())
    }

    #[test]
    fn every_field_is_read() {
        let s = search("<q:Search><q:Computer>a</q:Computer><q:Computer>b</q:Computer><q:Channel>Security</q:Channel><q:Level>2</q:Level><q:EventID>4625</q:EventID><q:Provider>p</q:Provider><q:From>2026-11-26T01:00:00+01:00</q:From><q:To>2026-11-27T00:00:00Z</q:To><q:Text>Failed logon</q:Text><q:After>5</q:After></q:Search>").unwrap();
        assert_eq!(s.computers, ["a", "b"]);
        assert_eq!(s.event_ids, [4625]);
        assert_eq!(s.from, Timestamp::parse_system_time("2026-11-26T00:00:00Z"));
        assert_eq!(s.words, ["failed", "logon"]);
        assert_eq!(s.after, Some(5));
    }

    #[test]
    fn bad_filters_are_refused_with_the_element_named() {
        for (inner, why) in [
            ("", "exactly one q:Search"),
            ("<q:Search/><q:Search/>", "exactly one q:Search"),
            ("<q:Search><q:Colour>red</q:Colour></q:Search>", "Colour"),
            ("<q:Search><x:Level xmlns:x='y'>1</x:Level></q:Search>", "Level in \"y\""),
            ("<q:Search><q:Level>256</q:Level></q:Search>", "Level"),
            ("<q:Search><q:EventID>-1</q:EventID></q:Search>", "EventID"),
            ("<q:Search><q:From>yesterday</q:From></q:Search>", "From"),
            ("<q:Search><q:From>2026-01-02T00:00:00Z</q:From><q:To>2026-01-01T00:00:00Z</q:To></q:Search>", "From must be before To"),
            ("<q:Search><q:Text>--</q:Text></q:Search>", "Text"),
            ("<q:Search><q:Text>a b c d e f g h i</q:Text></q:Search>", "Text"),
            ("<q:Search><q:Computer></q:Computer></q:Search>", "Computer"),
            ("<q:Search><q:BucketSeconds>0</q:BucketSeconds></q:Search>", "BucketSeconds"),
        ] {
            let error = search(inner).unwrap_err().to_string();
            assert!(error.contains(why), "{inner}: {error}");
        }
        let many = "<q:Channel>c</q:Channel>".repeat(MAX_VALUES + 1);
        assert_eq!(
            search(&format!("<q:Search>{many}</q:Search>")),
            Err(FilterError::TooMany("Channel", MAX_VALUES))
        );
    }

    #[test]
    fn the_width_is_chosen_for_at_most_200_buckets_and_bounded() {
        let hour = 3_600_000_000;
        assert_eq!(buckets(None, 0, hour - 1).unwrap(), (60, 0, 60));
        assert_eq!(buckets(Some(1), 0, 999_999).unwrap(), (1, 0, 1));
        assert!(matches!(
            buckets(Some(1), 0, hour),
            Err(FilterError::TooManyBuckets(3601))
        ));
    }
}
