//! The multi-host pages' HTML: choosing hosts and what to run, then each host's progress.

use maud::{html, Markup};

use crate::bulk::{Job, Progress, MAX_COMMAND, MAX_HOSTS};
use crate::pages::{fault, layout, Viewer};

/// The form: the hosts the user may see, each a checkbox, and what to run on them.
pub fn form(viewer: &Viewer<'_>, hosts: &[String], error: Option<&str>) -> Markup {
    layout(
        "Run on several hosts",
        Some(viewer),
        html! {
            h1 { "Run on several hosts" }
            p { "A command, or a service action, on each host chosen (at most " (MAX_HOSTS) "), a few hosts at a time; each host's progress and result on the next page." }
            form.edit method="post" action="/bulk" {
                @if let Some(error) = error {
                    p.error #form-error role="alert" { strong { "Not started: " } (error) }
                }
                input type="hidden" name="csrf" value=(viewer.csrf);
                fieldset {
                    legend { "Hosts" }
                    @for host in hosts {
                        label.check { input type="checkbox" name={ "host." (host) } value="1"; " " (host) }
                    }
                }
                label { "Action"
                    select name="work" {
                        option value="command" { "Run a command" }
                        option value="start" { "Start a service" }
                        option value="stop" { "Stop a service" }
                        option value="restart" { "Restart a service" }
                    }
                }
                label { "Command (run by the host's command shell, as winrs runs it)" input type="text" name="command" maxlength=(MAX_COMMAND); }
                label { "Service (for a service action)" input type="text" name="service" maxlength="128"; }
                button type="submit" { "Run" }
            }
        },
    )
}

/// A job's hosts: each one's progress, exit code or ReturnValue, output or fault.
pub fn job(viewer: &Viewer<'_>, job: &Job, refreshing: bool) -> Markup {
    let title = format!("Job {}", job.id);
    let done = job
        .hosts
        .iter()
        .filter(|h| !matches!(h.progress, Progress::Pending | Progress::Running))
        .count();
    layout(
        &title,
        Some(viewer),
        html! {
            h1 { (title) ": " (job.what) }
            p #job-state role="status" {
                (done) " of " (job.hosts.len()) " host(s) finished."
                @if !job.finished() {
                    @if refreshing {
                        " This page reloads every 2 s until all have; " a href={ "/bulk/" (job.id) "?static=1" } { "stop reloading" } "."
                    } @else {
                        " " a href={ "/bulk/" (job.id) } { "Reload" }
                    }
                }
            }
            @if let Some(canary) = &job.canary {
                p #job-canary {
                    "Canary: " strong { (canary) }
                    @if job.canary_hosts.len() > 1 { " (" (job.canary_hosts.join(", ")) ")" }
                    " runs first; the others only once every canary host is done and still answers."
                }
            }
            @if let Some(stopped) = &job.stopped {
                p.error #job-stopped role="alert" { (stopped) }
            }
            table.bulk {
                thead { tr { th { "Host" } th { "State" } th { "Code" } th { "Output" } } }
                tbody {
                    @for run in &job.hosts {
                        tr {
                            td { (run.host) }
                            @match &run.progress {
                                Progress::Pending => { td { "pending" } td {} td {} }
                                Progress::Running => { td { "running" } td {} td {} }
                                Progress::Done { code, output, truncated } => {
                                    td { "done" }
                                    td { @if let Some(code) = code { (code) } @else { "—" } }
                                    td {
                                        @if !output.is_empty() { pre { (output) } }
                                        @if *truncated { p.error { "Output cut at its bound; the command was ended." } }
                                    }
                                }
                                Progress::Failed { error } => { td { "failed" } td {} td { (fault(error)) } }
                            }
                        }
                    }
                }
            }
            p { a href="/bulk" { "Run something else" } " · " a href="/updates" { "Updates" } " · " a href="/fleet" { "Back to the fleet" } }
        },
    )
}
