//! The long tables (processes, services) searched, sorted and paged on the server, from the
//! page's GET parameters (`q`, `sort`, `dir`, `page`): links, reload and no JavaScript all
//! work, and the browser gets one page of rows however many the host has. Pure: rows in, a
//! page out.

use crate::form::Form;

/// Rows per page.
pub const PAGE_SIZE: usize = 50;
/// Longest search text looked at (the request target is bounded anyway).
pub const MAX_SEARCH_CHARS: usize = 200;

/// What a column sorts by.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SortKey {
    /// A number, in numeric order.
    Number(u64),
    /// Text, in case-insensitive order.
    Text(String),
}

/// One sortable, searchable column of rows of type `T`.
pub struct Column<T> {
    /// Its name in `sort=`.
    pub key: &'static str,
    /// Its heading.
    pub label: &'static str,
    /// Its value for sorting.
    pub sort_key: fn(&T) -> SortKey,
    /// Its text for searching (`None`: not searched).
    pub search_text: Option<fn(&T) -> &str>,
}

/// The table's GET parameters, checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableQuery {
    /// Search text (case-insensitive, in any searched column); empty: every row.
    pub search: String,
    /// The column sorted by (a column's key); `None`: the host's order.
    pub sort: Option<String>,
    /// Descending order.
    pub descending: bool,
    /// The page, from 1.
    pub page: usize,
    /// The destructive action the page asks to confirm (`PID`, `stop:NAME`): shown in its
    /// row as the button that does it, beside a way back.
    pub confirm: Option<String>,
    /// The page's own parameters (the events page's filter), kept by every link.
    pub kept: Vec<(&'static str, String)>,
}

impl TableQuery {
    /// The query of a page's URL; anything unknown or malformed is ignored (a bad link still
    /// shows the table), and the search text is cut at [`MAX_SEARCH_CHARS`].
    pub fn parse(query: &str) -> Self {
        let Ok(form) = Form::parse(query.as_bytes()) else {
            return Self {
                page: 1,
                ..Self::default()
            };
        };
        Self {
            search: form
                .get("q")
                .unwrap_or("")
                .trim()
                .chars()
                .take(MAX_SEARCH_CHARS)
                .collect(),
            sort: form
                .get("sort")
                .filter(|s| s.len() <= 32)
                .map(str::to_owned),
            descending: form.get("dir") == Some("desc"),
            page: form
                .get("page")
                .and_then(|p| p.parse().ok())
                .filter(|p| *p >= 1)
                .unwrap_or(1),
            confirm: form
                .get("confirm")
                .filter(|c| c.len() <= 128)
                .map(str::to_owned),
            kept: Vec::new(),
        }
    }

    /// This query's URL query string with `change` applied (the page reset to 1 and no
    /// confirmation, unless `change` sets them).
    pub fn link(&self, change: impl FnOnce(&mut Self)) -> String {
        let mut next = self.clone();
        next.page = 1;
        next.confirm = None;
        change(&mut next);
        let mut parts: Vec<String> = next
            .kept
            .iter()
            .map(|(name, value)| format!("{name}={}", encode(value)))
            .collect();
        if !next.search.is_empty() {
            parts.push(format!("q={}", encode(&next.search)));
        }
        if let Some(sort) = &next.sort {
            parts.push(format!("sort={}", encode(sort)));
            if next.descending {
                parts.push("dir=desc".to_owned());
            }
        }
        if next.page > 1 {
            parts.push(format!("page={}", next.page));
        }
        if let Some(confirm) = &next.confirm {
            parts.push(format!("confirm={}", encode(confirm)));
        }
        format!("?{}", parts.join("&"))
    }
}

/// `text` as a URL query component.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// One page of a table.
pub struct TablePage<'a, T> {
    /// The page's rows, in order.
    pub rows: Vec<&'a T>,
    /// Rows matching the search.
    pub matching: usize,
    /// Rows the host sent.
    pub total: usize,
    /// The page shown, from 1.
    pub page: usize,
    /// Pages of matching rows (at least 1).
    pub pages: usize,
    /// The page asked for was past the end (the last one is shown instead).
    pub past_the_end: bool,
}

/// The page of `rows` that `query` asks for: the rows matching the search, sorted by the
/// query's column when it is one of `columns` (ties keep the host's order), cut to
/// [`PAGE_SIZE`].
pub fn page<'a, T>(rows: &'a [T], query: &TableQuery, columns: &[Column<T>]) -> TablePage<'a, T> {
    let total = rows.len();
    let needle = query.search.to_lowercase();
    let mut matching: Vec<&T> = rows
        .iter()
        .filter(|row| {
            needle.is_empty()
                || columns
                    .iter()
                    .filter_map(|c| c.search_text)
                    .any(|text| contains_ignoring_case(text(row), &needle))
        })
        .collect();
    if let Some(column) = columns
        .iter()
        .find(|c| query.sort.as_deref() == Some(c.key))
    {
        let mut keyed: Vec<(SortKey, &T)> = matching
            .into_iter()
            .map(|row| ((column.sort_key)(row), row))
            .collect();
        keyed.sort_by(|(a, _), (b, _)| {
            let order = a.cmp(b);
            if query.descending {
                order.reverse()
            } else {
                order
            }
        });
        matching = keyed.into_iter().map(|(_, row)| row).collect();
    }
    let count = matching.len();
    let pages = count.div_ceil(PAGE_SIZE).max(1);
    let past_the_end = query.page > pages;
    let page = query.page.min(pages);
    let rows = matching
        .into_iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .collect();
    TablePage {
        rows,
        matching: count,
        total,
        page,
        pages,
        past_the_end,
    }
}

/// Whether `haystack` holds `lowered_needle` (already lower case), ignoring case.
pub(crate) fn contains_ignoring_case(haystack: &str, lowered_needle: &str) -> bool {
    if haystack.is_ascii() && lowered_needle.is_ascii() {
        haystack
            .as_bytes()
            .windows(lowered_needle.len().max(1))
            .any(|w| w.eq_ignore_ascii_case(lowered_needle.as_bytes()))
    } else {
        haystack.to_lowercase().contains(lowered_needle)
    }
}

/// Text sort key: lower case, so that `b` sorts after `A`.
pub fn text_key(text: &str) -> SortKey {
    SortKey::Text(text.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    struct Row {
        id: u64,
        name: String,
    }

    const COLUMNS: [Column<Row>; 2] = [
        Column {
            key: "id",
            label: "Id",
            sort_key: |r| SortKey::Number(r.id),
            search_text: None,
        },
        Column {
            key: "name",
            label: "Name",
            sort_key: |r| text_key(&r.name),
            search_text: Some(|r| r.name.as_str()),
        },
    ];

    fn rows(n: u64) -> Vec<Row> {
        (0..n)
            .map(|id| Row {
                id,
                name: format!("proc-{}", (id * 7919) % n),
            })
            .collect()
    }

    #[test]
    fn a_query_is_parsed_bounded_and_linked_back() {
        let q = TableQuery::parse("q=sshd%20x&sort=name&dir=desc&page=3&other=1");
        assert_eq!(q.search, "sshd x");
        assert_eq!(q.sort.as_deref(), Some("name"));
        assert!(q.descending);
        assert_eq!(q.page, 3);
        assert_eq!(q.link(|_| {}), "?q=sshd%20x&sort=name&dir=desc");
        assert_eq!(
            q.link(|n| n.page = 2),
            "?q=sshd%20x&sort=name&dir=desc&page=2"
        );
        let long = format!("q={}", "a".repeat(10_000));
        assert_eq!(TableQuery::parse(&long).page, 1);
        assert_eq!(TableQuery::parse("page=0").page, 1);
        assert_eq!(TableQuery::parse("page=x").page, 1);
        assert_eq!(TableQuery::parse("q=<b>&page=2").link(|_| {}), "?q=%3Cb%3E");
        let mut kept = TableQuery::parse("q=a&page=2");
        kept.kept = vec![("source", "<x y>".to_owned())];
        assert_eq!(kept.link(|n| n.page = 3), "?source=%3Cx%20y%3E&q=a&page=3");
        let confirming = TableQuery::parse("page=2&confirm=stop%3Asshd");
        assert_eq!(confirming.confirm.as_deref(), Some("stop:sshd"));
        assert_eq!(confirming.link(|n| n.page = 2), "?page=2");
        assert_eq!(
            confirming.link(|n| n.confirm = Some("42".into())),
            "?confirm=42"
        );
    }

    #[test]
    fn ten_thousand_rows_sort_search_and_page() {
        let all = rows(10_000);
        let query = TableQuery {
            sort: Some("id".into()),
            descending: true,
            page: 2,
            ..TableQuery::default()
        };
        let shown = page(&all, &query, &COLUMNS);
        assert_eq!(
            (shown.total, shown.matching, shown.pages),
            (10_000, 10_000, 200)
        );
        assert_eq!(shown.rows.len(), PAGE_SIZE);
        assert_eq!(shown.rows[0].id, 10_000 - 1 - PAGE_SIZE as u64);
        let found = page(
            &all,
            &TableQuery {
                search: "PROC-42".into(),
                page: 1,
                ..TableQuery::default()
            },
            &COLUMNS,
        );
        // proc-42, proc-420..429, proc-4200..4299.
        assert_eq!(found.matching, 1 + 10 + 100);
        let past = page(
            &all,
            &TableQuery {
                page: 999,
                ..TableQuery::default()
            },
            &COLUMNS,
        );
        assert!(past.past_the_end);
        assert_eq!(past.page, 200);
    }

    proptest! {
        #[test]
        fn any_query_gives_a_bounded_sorted_page(
            n in 0u64..400,
            query in "[a-z=&%0-9<>\" ]{0,60}",
        ) {
            let all = rows(n);
            let q = TableQuery::parse(&query);
            let shown = page(&all, &q, &COLUMNS);
            let link = q.link(|next| next.page = q.page);
            prop_assert!(link
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"?&=%-_.~".contains(&b)));
            prop_assert!(shown.rows.len() <= PAGE_SIZE);
            prop_assert!(shown.page >= 1 && shown.page <= shown.pages);
            prop_assert!(shown.matching <= shown.total);
            if q.sort.as_deref() == Some("id") {
                let ids: Vec<u64> = shown.rows.iter().map(|r| r.id).collect();
                let mut sorted = ids.clone();
                sorted.sort_unstable();
                if q.descending {
                    sorted.reverse();
                }
                prop_assert_eq!(ids, sorted);
            }
        }
    }
}
