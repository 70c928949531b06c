//! The long tables' controls as HTML, shared by every paged table (services, processes, the
//! fleet, the audit trail, the Updates page): a heading that sorts, the search form, the
//! counts and the pages, all plain links and GET forms over [`crate::table::TableQuery`].

use maud::{html, Markup};

use crate::table::{self, Column, TablePage, TableQuery};

/// A column heading that sorts by it (again: the other way).
pub fn sort_heading<T>(query: &TableQuery, column: &Column<T>) -> Markup {
    let sorted = query.sort.as_deref() == Some(column.key);
    let href = query.link(|next| {
        next.descending = sorted && !query.descending;
        next.sort = Some(column.key.to_owned());
    });
    let mark = match (sorted, query.descending) {
        (false, _) => "",
        (true, false) => " ▲",
        (true, true) => " ▼",
    };
    html! { th { a href=(href) { (column.label) (mark) } } }
}

/// The search form, the counts and the pages of a table.
pub fn table_controls<T>(query: &TableQuery, shown: &TablePage<'_, T>, what: &str) -> Markup {
    html! {
        form.search method="get" {
            @if let Some(sort) = &query.sort {
                input type="hidden" name="sort" value=(sort);
                @if query.descending { input type="hidden" name="dir" value="desc"; }
            }
            label { "Search " input type="search" name="q" value=(query.search) maxlength=(table::MAX_SEARCH_CHARS); }
            button type="submit" { "Search" }
        }
        (pager(query, shown, what))
    }
}

/// The counts and the pages of a table; a page past the end says so.
pub fn pager<T>(query: &TableQuery, shown: &TablePage<'_, T>, what: &str) -> Markup {
    html! {
        @if shown.past_the_end {
            p.error { "There is no page " (query.page) "; the last page, " (shown.page) ", is shown." }
        }
        p.pager {
            (shown.matching) " " (what)
            @if shown.matching != shown.total { " matching of " (shown.total) }
            " · page " (shown.page) " of " (shown.pages)
            @if shown.page > 1 { " " a rel="prev" href=(query.link(|n| n.page = shown.page - 1)) { "previous" } }
            @if shown.page < shown.pages { " " a rel="next" href=(query.link(|n| n.page = shown.page + 1)) { "next" } }
        }
    }
}
