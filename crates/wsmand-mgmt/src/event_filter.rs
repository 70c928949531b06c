//! The events page's filter (log, level, source, time range) from its GET parameters, checked
//! and bounded, and the WQL query that asks the host for just those records: the host does
//! the filtering (wsmand and Windows alike), so the newest records shown are the newest that
//! match, not a filtered slice of the newest. The text search and the pages are `table`'s.
//! Pure: parameters in, a query out.

use crate::form::Form;

/// The GET parameters this filter owns (kept by the table's links).
pub const PARAMETERS: [&str; 5] = ["log", "level", "source", "from", "to"];
/// Longest log or source name accepted.
const MAX_NAME_CHARS: usize = 128;
/// The levels (`Type`) Win32_NTLogEvent has.
pub const LEVELS: [&str; 5] = [
    "Error",
    "Warning",
    "Information",
    "Audit Success",
    "Audit Failure",
];

/// The filter of one events page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// `Logfile` (Application, System, Security, ...).
    pub log: Option<String>,
    /// `Type`, one of [`LEVELS`].
    pub level: Option<&'static str>,
    /// `SourceName` (on a wsmand host, the journal's SYSLOG_IDENTIFIER).
    pub source: Option<String>,
    /// Records at or after this UTC minute (`YYYY-MM-DDTHH:MM`, as `datetime-local` sends it).
    pub from: Option<String>,
    /// Records at or before the end of this UTC minute.
    pub to: Option<String>,
    /// What was refused and why (shown on the page; the rest of the filter still applies).
    pub problems: Vec<String>,
}

impl EventFilter {
    /// The filter of a page's URL query; a value that is too long or not a date is left out
    /// and named in [`EventFilter::problems`].
    pub fn parse(query: &str) -> Self {
        let mut out = Self::default();
        let Ok(form) = Form::parse(query.as_bytes()) else {
            out.problems
                .push("The filter in the address is malformed; it is ignored.".to_owned());
            return out;
        };
        let given = |name: &str| form.get(name).map(str::trim).filter(|v| !v.is_empty());
        let mut name = |field: &str, label: &str| match given(field) {
            Some(value) if value.chars().count() <= MAX_NAME_CHARS => Some(value.to_owned()),
            Some(_) => {
                out.problems.push(format!(
                    "The {label} is longer than {MAX_NAME_CHARS} characters; it is ignored."
                ));
                None
            }
            None => None,
        };
        let log = name("log", "log name");
        let source = name("source", "source name");
        out.log = log;
        out.source = source;
        out.level = match given("level") {
            Some(level) => {
                let known = LEVELS
                    .iter()
                    .find(|l| l.eq_ignore_ascii_case(level))
                    .copied();
                if known.is_none() {
                    out.problems.push(format!(
                        "There is no level of that name; the levels are {}.",
                        LEVELS.join(", ")
                    ));
                }
                known
            }
            None => None,
        };
        for (field, label) in [("from", "From"), ("to", "To")] {
            let Some(value) = given(field) else { continue };
            if dmtf(value, false).is_some() {
                let kept = Some(value.to_owned());
                if field == "from" {
                    out.from = kept;
                } else {
                    out.to = kept;
                }
            } else {
                out.problems.push(format!(
                    "The {label} time is not a date and time (YYYY-MM-DDTHH:MM, UTC); it is ignored."
                ));
            }
        }
        out
    }

    /// Whether any part of the filter is set.
    pub fn is_set(&self) -> bool {
        self.log.is_some()
            || self.level.is_some()
            || self.source.is_some()
            || self.from.is_some()
            || self.to.is_some()
    }

    /// The WQL query selecting the filter's records, or `None` for every record.
    pub fn wql(&self) -> Option<String> {
        if !self.is_set() {
            return None;
        }
        let mut conditions = Vec::new();
        if let Some(log) = &self.log {
            conditions.push(format!("Logfile = '{}'", quoted(log)));
        }
        if let Some(level) = self.level {
            conditions.push(format!("Type = '{level}'"));
        }
        if let Some(source) = &self.source {
            conditions.push(format!("SourceName = '{}'", quoted(source)));
        }
        if let Some(from) = self.from.as_deref().and_then(|t| dmtf(t, false)) {
            conditions.push(format!("TimeGenerated >= '{from}'"));
        }
        if let Some(to) = self.to.as_deref().and_then(|t| dmtf(t, true)) {
            conditions.push(format!("TimeGenerated <= '{to}'"));
        }
        Some(format!(
            "SELECT * FROM Win32_NTLogEvent WHERE {}",
            conditions.join(" AND ")
        ))
    }

    /// The filter's GET parameters, for the table's links to keep.
    pub fn parameters(&self) -> Vec<(&'static str, String)> {
        let values = [
            self.log.clone(),
            self.level.map(str::to_owned),
            self.source.clone(),
            self.from.clone(),
            self.to.clone(),
        ];
        crate::form::set_fields(PARAMETERS, values)
    }
}

/// `text` inside a WQL string literal: a backslash before each quote and backslash (what
/// Windows' WQL and wsmand's both read).
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `YYYY-MM-DDTHH:MM[:SS]` (UTC) as a CIM datetime (`yyyymmddHHMMSS.mmmmmm+000`), its
/// minute's (or second's) last microsecond when `end`; `None` when it is not one.
fn dmtf(value: &str, end: bool) -> Option<String> {
    let (date, time) = value.split_once('T')?;
    let date: Vec<&str> = date.split('-').collect();
    let time: Vec<&str> = time.split(':').collect();
    let number = |text: &str, digits: usize, max: u32| {
        (text.len() == digits && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse::<u32>().ok())
            .flatten()
            .filter(|n| *n <= max)
    };
    let [year, month, day] = date.as_slice() else {
        return None;
    };
    let (year, month, day) = (
        number(year, 4, 9999)?,
        number(month, 2, 12).filter(|m| *m >= 1)?,
        number(day, 2, 31).filter(|d| *d >= 1)?,
    );
    let (hour, minute, second) = match time.as_slice() {
        [hour, minute] => (number(hour, 2, 23)?, number(minute, 2, 59)?, None),
        [hour, minute, second] => (
            number(hour, 2, 23)?,
            number(minute, 2, 59)?,
            Some(number(second, 2, 59)?),
        ),
        _ => return None,
    };
    let (second, micros) = match (second, end) {
        (Some(s), false) => (s, 0),
        (Some(s), true) => (s, 999_999),
        (None, false) => (0, 0),
        (None, true) => (59, 999_999),
    };
    Some(format!(
        "{year:04}{month:02}{day:02}{hour:02}{minute:02}{second:02}.{micros:06}+000"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_filter_becomes_one_wql_query() {
        let filter = EventFilter::parse(
            "log=System&level=error&source=it%27s%5Cx&from=2026-11-25T01:02&to=2026-11-25T03:04&q=x",
        );
        assert!(filter.problems.is_empty(), "{:?}", filter.problems);
        assert_eq!(
            filter.wql().as_deref(),
            Some(
                "SELECT * FROM Win32_NTLogEvent WHERE Logfile = 'System' AND Type = 'Error' \
                 AND SourceName = 'it\\'s\\\\x' AND TimeGenerated >= '20261125010200.000000+000' \
                 AND TimeGenerated <= '20261125030459.999999+000'"
            )
        );
        // The WQL is the one wsmand's parser reads.
        let parsed = wsman_proto::wql::parse(&filter.wql().expect("wql"));
        assert!(parsed.is_ok(), "{parsed:?}");
        assert_eq!(EventFilter::parse("q=x").wql(), None);
    }

    #[test]
    fn bad_values_are_named_and_left_out() {
        let long = format!(
            "source={}&level=loud&from=yesterday&to=2026-13-01T00:00",
            "s".repeat(200)
        );
        let filter = EventFilter::parse(&long);
        assert_eq!(filter.problems.len(), 4, "{:?}", filter.problems);
        assert!(!filter.is_set());
    }

    proptest! {
        #[test]
        fn any_query_gives_a_filter_wsmand_parses(query in "[a-zA-Z=&%0-9<>'\\\\:T\" -]{0,80}") {
            let filter = EventFilter::parse(&query);
            if let Some(wql) = filter.wql() {
                prop_assert!(wsman_proto::wql::parse(&wql).is_ok(), "{}", wql);
            }
        }

        #[test]
        fn any_log_or_source_name_gives_wql_wsmand_parses(log in "(?s).{1,40}", source in "(?s).{1,40}") {
            let query = format!(
                "log={}&source={}",
                crate::table::encode(&log),
                crate::table::encode(&source)
            );
            let filter = EventFilter::parse(&query);
            if let Some(wql) = filter.wql() {
                prop_assert!(wsman_proto::wql::parse(&wql).is_ok(), "{:?}", wql);
            }
        }
    }
}
