//! A host's `winrm/config` page with its editor: each setting of a known container can be
//! set (`winrm set`: a Put of the container holding that one value); a value the host refuses
//! is shown in its row with the host's own message (Windows' validation error), what was
//! typed kept. The tree is the host's Get of `winrm/config`, Windows' or wsmand's alike.

use maud::{html, Markup};
use wsman_config::schema::Container;

pub use crate::hosts::SetRefused;
use crate::hosts::{ConfigRow, HostError};
use crate::pages::{fault, host_layout, Viewer};

/// The container a setting's path (`Service/Auth/Basic`) is in, and the setting's name:
/// `None` for a path in no container `winrm set` can change (a listener, a plugin) or a name
/// that could not be an element.
pub fn container_of(path: &str) -> Option<(Container, &str)> {
    if path.len() > 256 {
        return None;
    }
    let (parent, leaf) = match path.rsplit_once('/') {
        Some((parent, leaf)) => (format!("Config.{}", parent.replace('/', ".")), leaf),
        None => ("Config".to_owned(), path),
    };
    if !wsman_client::body::is_xml_name(leaf) {
        return None;
    }
    let container = Container::ALL
        .into_iter()
        .find(|c| c.toml_path().eq_ignore_ascii_case(&parent))?;
    Some((container, leaf))
}

/// The row being edited: its path, the value typed, and the host's refusal of it.
pub struct Editing<'a> {
    /// The setting's path.
    pub path: &'a str,
    /// The value in the input (the current one, or the refused one).
    pub value: &'a str,
    /// Why the host refused the value typed.
    pub refused: Option<&'a SetRefused>,
}

/// What the page shows besides the tree.
#[derive(Default)]
pub struct View<'a> {
    /// The asker may change this host's configuration: rows have an edit link.
    pub may_change: bool,
    /// The row open for editing.
    pub editing: Option<Editing<'a>>,
    /// The setting just changed.
    pub done: Option<&'a str>,
}

/// The `winrm` command that sets `path` to `value` on the host.
pub fn set_command(path: &str, value: &str, switches: &str) -> String {
    let (uri, leaf) = match path.rsplit_once('/') {
        Some((parent, leaf)) => (
            format!("winrm/config/{}", parent.to_ascii_lowercase()),
            leaf,
        ),
        None => ("winrm/config".to_owned(), path),
    };
    format!("winrm set {uri} @{{{leaf}=\"{value}\"}} {switches}")
}

/// The `winrm/config` tree of a host; values set by policy are marked locked.
pub fn page(
    viewer: &Viewer<'_>,
    host: &str,
    switches: &str,
    rows: &Result<Vec<ConfigRow>, HostError>,
    view: &View<'_>,
) -> Markup {
    let here = format!("/hosts/{host}/config");
    host_layout(
        viewer,
        host,
        "configuration",
        "winrm/config",
        "/config",
        html! {},
        html! {
            p.command { "Same from a shell: " code { "winrm get winrm/config " (switches) } }
            @if let Some(done) = view.done {
                p.ok #set-done role="status" { "Set " code { (done) } "." }
            }
            @match rows {
                Err(error) => (fault(&error.to_string())),
                Ok(rows) => table.config {
                    thead { tr { th { "Setting" } th { "Value" } th { "Source" } @if view.may_change { th { "Change" } } } }
                    tbody {
                        @for row in rows {
                            @let editing = view.editing.as_ref().filter(|e| e.path == row.path);
                            @let editable = !row.locked && container_of(&row.path).is_some();
                            tr {
                                td { (row.path) }
                                td {
                                    @if let Some(editing) = editing {
                                        form.set #edit method="post" action=(here) {
                                            input type="hidden" name="csrf" value=(viewer.csrf);
                                            input type="hidden" name="path" value=(row.path);
                                            label { "New value of " (row.path) " " input type="text" name="value" maxlength="4096" value=(editing.value) aria-describedby=[editing.refused.map(|_| "set-fault")]; }
                                            button type="submit" { "Set" }
                                            @if let Some(refused) = editing.refused {
                                                div #set-fault role="alert" {
                                                    p.error { strong { "The host refused it: " } (refused.message) }
                                                    details { summary { "Details" } code { (refused.whole) } }
                                                }
                                            }
                                            p.command { "Same from a shell: " code { (set_command(&row.path, editing.value, switches)) } }
                                        }
                                    } @else {
                                        (row.value)
                                    }
                                }
                                td { @if row.locked { span.locked { "locked by policy (GPO)" } } @else { (row.source.as_deref().unwrap_or("")) } }
                                @if view.may_change {
                                    td.actions {
                                        @if editable && editing.is_none() {
                                            a.action href={ (here) "?edit=" (row.path) "#edit" } aria-label={ "Change " (row.path) } { "change" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                },
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_container_as_winrm_set_does() {
        for (path, container, leaf) in [
            ("MaxEnvelopeSizekb", Container::Config, "MaxEnvelopeSizekb"),
            ("Service/Auth/Basic", Container::ServiceAuth, "Basic"),
            (
                "Client/DefaultPorts/HTTPS",
                Container::ClientDefaultPorts,
                "HTTPS",
            ),
            (
                "Winrs/MaxShellsPerUser",
                Container::Winrs,
                "MaxShellsPerUser",
            ),
        ] {
            assert_eq!(container_of(path), Some((container, leaf)), "{path}");
        }
        for not_set_here in [
            "Listener/Address",
            "Service/Auth/<x>",
            "Nope/Thing",
            "",
            "Service/",
        ] {
            assert_eq!(container_of(not_set_here), None, "{not_set_here}");
        }
        assert_eq!(
            set_command("Service/Auth/Basic", "true", "-r:x"),
            "winrm set winrm/config/service/auth @{Basic=\"true\"} -r:x"
        );
    }
}
