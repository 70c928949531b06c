//! The manager pages' HTML: the hosts and roles, a host's form, a role's form, a host's test.
//! A refused change draws its form again with what was typed and the reason in place.

use maud::{html, Markup};
use wsman_config::mgmt::{DelegationRule, ManagedHost, MgmtSettings, Role};

use crate::hosts::HostError;
use crate::pages::{confirmed, fault, layout, post_button, Viewer};
use crate::table::TableQuery;

/// A host's form as typed (or as saved), before it is checked.
#[derive(Clone, Debug, Default)]
pub struct HostFields {
    /// Name.
    pub name: String,
    /// Url.
    pub url: String,
    /// Username.
    pub username: String,
    /// AllowUnencrypted.
    pub allow_unencrypted: bool,
    /// SkipCaCheck.
    pub skip_ca_check: bool,
    /// Groups, comma-separated.
    pub groups: String,
}

impl HostFields {
    /// A saved host's fields.
    pub fn of(host: &ManagedHost) -> Self {
        Self {
            name: host.name.clone(),
            url: host.url.clone(),
            username: host.username.clone(),
            allow_unencrypted: host.allow_unencrypted,
            skip_ca_check: host.skip_ca_check,
            groups: host.groups.join(", "),
        }
    }
}

/// A role's form as typed (or as saved).
#[derive(Clone, Debug, Default)]
pub struct RoleFields {
    /// Name.
    pub name: String,
    /// Members, comma-separated.
    pub members: String,
    /// RunAs (empty: none).
    pub run_as: String,
    /// The rules, one a line: `EFFECT ACTIONS HOSTS RESOURCES`, lists comma-separated.
    pub rules: String,
}

/// A rule as one line of the role form.
pub fn rule_line(rule: &DelegationRule) -> String {
    let (actions, hosts, resources) = crate::delegation::rule_lists(rule);
    format!("{:?} {actions} {hosts} {resources}", rule.effect)
}

impl RoleFields {
    /// A saved role's fields.
    pub fn of(role: &Role) -> Self {
        Self {
            name: role.name.clone(),
            members: role.members.join(", "),
            run_as: role.run_as.clone().unwrap_or_default(),
            rules: role
                .rules
                .iter()
                .map(rule_line)
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// Whether a name can be part of a manager page's path (else it is edited in the file).
fn addressable(name: &str) -> bool {
    crate::route::parse(&format!("/manage/roles/{name}")).is_ok_and(|r| {
        r == crate::route::Route::Manage(crate::route::Manage::Role(Some(name.to_owned())))
    })
}

/// The hosts and roles, each with its form, its test and its removal (confirmed first).
pub fn index(viewer: &Viewer<'_>, settings: &MgmtSettings, query: &TableQuery) -> Markup {
    layout(
        "Manage",
        Some(viewer),
        html! {
            h1 { "Manage" }
            p { "Hosts and roles changed here are written to " code { "mgmt.toml" } " (its comments kept) and apply at once, without a restart." }
            (entry_section(
                "hosts", "Hosts", "Add a host", "No host is configured.",
                &["Host", "Endpoint", "Account", "Groups"],
                &settings.hosts[..],
                |host| html! {
                    td { a href={ "/manage/hosts/" (host.name) } aria-label={ "Edit host " (host.name) } { (host.name) } }
                    td { code { (host.url) } }
                    td { (host.username) }
                    td { (host.groups.join(", ")) }
                    td.actions {
                        (post_button(viewer, &format!("/manage/hosts/{}/test", host.name), &format!("Test {}", host.name)))
                        (confirmed(viewer, query, &format!("/manage/hosts/{}/remove", host.name), &format!("Remove {}", host.name), &format!("host:{}", host.name)))
                    }
                }))
            (entry_section(
                "roles", "Roles", "Add a role", "No role is configured: nobody may do anything on any host.",
                &["Role", "Members", "Runs as", "Rules"],
                &settings.roles[..],
                |role| html! {
                    td {
                        @if addressable(&role.name) {
                            a href={ "/manage/roles/" (role.name) } aria-label={ "Edit role " (role.name) } { (role.name) }
                        } @else {
                            (role.name) " (edit it in the file)"
                        }
                    }
                    td { (role.members.join(", ")) }
                    td { (role.run_as.as_deref().unwrap_or("—")) }
                    td { @for rule in &role.rules { code { (rule_line(rule)) } br; } }
                    td.actions {
                        @if addressable(&role.name) {
                            (confirmed(viewer, query, &format!("/manage/roles/{}/remove", role.name), &format!("Remove {}", role.name), &format!("role:{}", role.name)))
                        }
                    }
                }))
        },
    )
}

/// One section of the Manage page: its `title` (the heading `{plural}-heading`), the link
/// adding an entry, and the entries' table (`columns`, then their actions), or `empty`.
fn entry_section<T>(
    plural: &str,
    title: &str,
    add: &str,
    empty: &str,
    columns: &[&str],
    entries: &[T],
    row: impl Fn(&T) -> Markup,
) -> Markup {
    let heading = format!("{plural}-heading");
    html! {
        section aria-labelledby=(heading) {
            h2 id=(heading) { (title) }
            p { a.action href={ "/manage/" (plural) } { (add) } }
            @if entries.is_empty() {
                p { (empty) }
            } @else {
                table.manage {
                    thead { tr { @for column in columns { th { (column) } } th { "Actions" } } }
                    tbody { @for entry in entries { tr { (row(entry)) } } }
                }
            }
        }
    }
}

/// The reason a change was refused, in the form it belongs to.
fn refusal(error: Option<&str>) -> Markup {
    html! {
        @if let Some(error) = error {
            p.error #form-error role="alert" { strong { "Not saved: " } (error) }
        }
    }
}

/// What the host and role forms share: the title, the way back, the form posting to
/// `/manage/{plural}[/NAME]` with its refusal, CSRF token and name around `fields`, and the submit
/// button ("Save", or `add` for a new entry).
struct EntryForm<'a> {
    /// "Host" or "Role".
    kind: &'a str,
    /// "hosts" or "roles".
    plural: &'a str,
    add: &'a str,
}

const HOST_FORM: EntryForm<'static> = EntryForm {
    kind: "Host",
    plural: "hosts",
    add: "Add host",
};

const ROLE_FORM: EntryForm<'static> = EntryForm {
    kind: "Role",
    plural: "roles",
    add: "Add role",
};

impl EntryForm<'_> {
    /// The form with the entry's `name` first, then `fields` (given the id of the error they
    /// point to, if any).
    fn page(
        &self,
        viewer: &Viewer<'_>,
        was: Option<&str>,
        error: Option<&str>,
        name: &str,
        fields: impl FnOnce(Option<&str>) -> Markup,
    ) -> Markup {
        let described = error.map(|_| "form-error");
        let action = match was {
            Some(name) => format!("/manage/{}/{name}", self.plural),
            None => format!("/manage/{}", self.plural),
        };
        let title = match was {
            Some(name) => format!("{} {name}", self.kind),
            None => format!("New {}", self.kind.to_lowercase()),
        };
        layout(
            &title,
            Some(viewer),
            html! {
                h1 { (title) }
                p { a href="/manage" { "Back to Manage" } }
                form.edit method="post" action=(action) {
                    (refusal(error))
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    label { "Name" input type="text" name="name" required maxlength="64" value=(name) aria-describedby=[described]; }
                    (fields(described))
                    button type="submit" { @if was.is_some() { "Save" } @else { (self.add) } }
                }
            },
        )
    }
}

/// A host's form: `was` the host edited (none: a new one).
pub fn host_form(
    viewer: &Viewer<'_>,
    was: Option<&str>,
    fields: &HostFields,
    error: Option<&str>,
) -> Markup {
    HOST_FORM.page(viewer, was, error, &fields.name, |described| {
        html! {
            label { "Endpoint URL" input type="url" name="url" required maxlength="512" placeholder="https://server:5986/wsman" value=(fields.url) aria-describedby=[described]; }
            label { "Username" input type="text" name="username" required maxlength="256" autocomplete="off" value=(fields.username); }
            label {
                @if was.is_some() { "Password (empty: unchanged)" } @else { "Password" }
                input type="password" name="password" maxlength="512" autocomplete="new-password" required[was.is_none()];
            }
            label { "Groups (comma-separated)" input type="text" name="groups" maxlength="512" value=(fields.groups); }
            label.check { input type="checkbox" name="allow_unencrypted" value="1" checked[fields.allow_unencrypted]; " Basic over plain HTTP (AllowUnencrypted)" }
            label.check { input type="checkbox" name="skip_ca_check" value="1" checked[fields.skip_ca_check]; " Skip the certificate's CA check (-skipCAcheck)" }
        }
    })
}

/// A role's form: `was` the role edited (none: a new one).
pub fn role_form(
    viewer: &Viewer<'_>,
    was: Option<&str>,
    fields: &RoleFields,
    error: Option<&str>,
) -> Markup {
    ROLE_FORM.page(viewer, was, error, &fields.name, |described| {
        html! {
            label { "Members (comma-separated: manager users, os:NAME, os:*, os-group:NAME)" input type="text" name="members" maxlength="1024" value=(fields.members); }
            label { "Runs as (a RunAs account of the hosts; empty: each host's Username)" input type="text" name="run_as" maxlength="256" value=(fields.run_as); }
            label {
                "Rules, one a line: Allow|Deny ACTIONS HOSTS RESOURCES (lists comma-separated; actions read, change, shell, update, reboot, manage; hosts NAME, group:NAME or *; resources URI prefixes or *)"
                textarea name="rules" rows="6" maxlength="2048" aria-describedby=[described] { (fields.rules) }
            }
        }
    })
}

/// What testing a host found: Identify's vendor and version, or the failure.
pub fn tested(
    viewer: &Viewer<'_>,
    host: &str,
    switches: &str,
    result: &Result<String, HostError>,
) -> Markup {
    let title = format!("Test {host}");
    layout(
        &title,
        Some(viewer),
        html! {
            h1 { (title) }
            @match result {
                Ok(product) => p.ok #test-result { "Reached: Identify answered (" (product) ")." },
                Err(error) => div #test-result { (fault(&error.to_string())) },
            }
            p.command { "Same from a shell: " code { "winrm identify " (switches) } }
            p { a href="/manage" { "Back to Manage" } }
        },
    )
}
