//! `GET /hosts/NAME/samples.json`: a host's sampled figures for the overview's graphs, read
//! from the console's samples (the host is not contacted), under the same rules as the
//! overview: a host not in the configuration is 404, a reader the roles refuse is 403 (both
//! decided by the access table's row before this runs, `gate`).

use hyper::StatusCode;

use super::answer::{error, json};
use super::{Answer, AppState};
use crate::form::Form;

/// The host's snapshot as JSON; `?since=SECONDS` keeps only newer points (what the page's
/// polling asks for).
pub(super) fn samples(state: &AppState, name: &str, query: &str) -> Answer {
    let since = Form::parse(query.as_bytes())
        .ok()
        .and_then(|form| form.get("since").and_then(|s| s.parse::<u64>().ok()));
    match state.samples.snapshot(name, since) {
        Some(snapshot) => json(StatusCode::OK, &snapshot),
        None => error(
            true,
            StatusCode::NOT_FOUND,
            "no such host in the configuration",
        ),
    }
}
