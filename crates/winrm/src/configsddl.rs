//! `winrm configSDDL URI`: the security descriptor of the WMI plug-in (the WmiNamespace URI),
//! of one WMI namespace (`.../wmi/root/cimv2`), or RootSDDL (`default`), shown as a table of
//! who may Read, Write, Execute, Full, and edited with `-add:`, `-remove:` or `-sddl:`. On
//! Windows the command opens the security dialog; a Linux host has none.
//!
//! It works through the same resources as `winrm get`/`set` (`winrm/config/plugin?Name=WMI
//! Provider`, `winrm/config/service`), so it edits this machine's configuration or, with
//! `-r:`, a remote one. Account names are resolved on this machine (as Windows' dialog
//! resolves them on the client): `S-1-22-1-<uid>` and `S-1-22-2-<gid>` name a remote
//! host's accounts whatever this machine calls them.

use std::fmt::Write as _;
use std::io::Write;

use wsman_client::Resource;
use wsman_config::plugin::{
    uri_of_wmi_key, wmi_key_of_uri, PLUGIN_CONFIG_NS, POWERSHELL_PLUGIN_NAME,
    POWERSHELL_RESOURCE_URI,
};
use wsman_config::sddl_edit::{edit, rights_table, Edit, Right};
use wsman_config::{SecurityDescriptor, Sid, PLUGIN_URI, WMI_PLUGIN_KEY, WMI_PLUGIN_NAME};
use wsman_proto::xml::{Element, Writer};

use crate::backend::Backend;
use crate::failure::Failure;
use crate::switches::SddlSwitch;
use crate::syntax::usage;

/// What `URI` names.
enum Target {
    /// RootSDDL.
    Root,
    /// A `WmiSDDL` key: the plug-in or a namespace.
    Wmi(String),
    /// The PowerShell plug-in (`microsoft.powershell`): its one descriptor.
    PowerShell,
}

fn target(uri: &str) -> Result<Target, Failure> {
    if uri.trim().eq_ignore_ascii_case("default") {
        return Ok(Target::Root);
    }
    let full = crate::syntax::parse_resource(uri)?.uri;
    let path = full.trim_end_matches("/*").trim_end_matches('/');
    if path.eq_ignore_ascii_case(POWERSHELL_RESOURCE_URI) {
        return Ok(Target::PowerShell);
    }
    wmi_key_of_uri(path).map(Target::Wmi).ok_or_else(|| {
        usage(format!(
            "{uri:?} has no security descriptor of its own here: use default (RootSDDL), \
             {} (the WMI plug-in), a WMI namespace's URI (wmi/root/cimv2) or {} (PowerShell)",
            wsman_config::WMI_NAMESPACE_URI,
            POWERSHELL_RESOURCE_URI
        ))
        .into()
    })
}

fn plugin_resource() -> Resource {
    named_plugin(WMI_PLUGIN_NAME)
}

fn named_plugin(name: &str) -> Resource {
    let mut r = Resource::new(PLUGIN_URI.to_owned());
    r.selectors = vec![("Name".to_owned(), name.to_owned())];
    r
}

/// The `Sddl` of the first `Security` entry of a plug-in's document.
fn first_sddl(e: &Element) -> Option<String> {
    e.elements().find_map(|child| {
        if child.name == "Security" {
            child.attr("Sddl").map(str::to_owned)
        } else {
            first_sddl(child)
        }
    })
}

/// The PowerShell plug-in's document carrying `sddl` (what Put reads of it).
fn powershell_body(sddl: &str) -> String {
    let mut w = Writer::new();
    w.start(
        "PlugInConfiguration",
        &[
            ("xmlns", PLUGIN_CONFIG_NS),
            ("Name", POWERSHELL_PLUGIN_NAME),
        ],
    );
    w.start("Resources", &[]);
    w.start("Resource", &[("ResourceUri", POWERSHELL_RESOURCE_URI)]);
    w.start(
        "Security",
        &[
            ("Uri", POWERSHELL_RESOURCE_URI),
            ("ExactMatch", "true"),
            ("Sddl", sddl),
        ],
    );
    w.end();
    w.finish()
}

fn service_resource() -> Resource {
    Resource::new(wsman_config::Container::Service.resource_uri().to_owned())
}

/// The `Security` entries of the plug-in's document, as (`WmiSDDL` key, descriptor).
fn security_entries(e: &Element, out: &mut Vec<(String, String)>) {
    for child in e.elements() {
        if child.name == "Security" {
            let uri = child.attr("Uri").unwrap_or("");
            if let (Some(key), Some(sddl)) = (wmi_key_of_uri(uri), child.attr("Sddl")) {
                out.push((key, sddl.to_owned()));
            }
        } else {
            security_entries(child, out);
        }
    }
}

/// The plug-in's document carrying `entries` (what Put reads of it).
fn plugin_body(entries: &[(String, String)]) -> String {
    let mut w = Writer::new();
    w.start(
        "PlugInConfiguration",
        &[("xmlns", PLUGIN_CONFIG_NS), ("Name", WMI_PLUGIN_NAME)],
    );
    w.start("Resources", &[]);
    w.start("Resource", &[("ResourceUri", wsman_proto::ns::WMI)]);
    for (key, sddl) in entries {
        w.start(
            "Security",
            &[
                ("Uri", &uri_of_wmi_key(key)),
                ("ExactMatch", "false"),
                ("Sddl", sddl),
            ],
        );
        w.end();
    }
    w.finish()
}

fn root_sddl(service: &Element) -> Result<String, Failure> {
    service
        .elements()
        .find(|e| e.name == "RootSDDL")
        .map(|e| e.trimmed_text())
        .ok_or_else(|| Failure::local("the service configuration has no RootSDDL"))
}

/// Show or edit the descriptor `uri` names, through `backend`.
pub(crate) fn run(
    backend: &mut dyn Backend,
    uri: &str,
    edits: &[SddlSwitch],
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let target = target(uri)?;
    let (current, mut entries, inherited) = match &target {
        Target::Root => (
            root_sddl(&backend.get(&service_resource())?)?,
            Vec::new(),
            false,
        ),
        Target::Wmi(key) => {
            let mut entries = Vec::new();
            security_entries(&backend.get(&plugin_resource())?, &mut entries);
            let find = |k: &str| entries.iter().find(|(e, _)| e == k).map(|(_, s)| s.clone());
            let (sddl, inherited) = match find(key) {
                Some(s) => (s, false),
                None => (find(WMI_PLUGIN_KEY).unwrap_or_default(), true),
            };
            (sddl, entries, inherited)
        }
        Target::PowerShell => {
            let document = backend.get(&named_plugin(POWERSHELL_PLUGIN_NAME))?;
            let sddl = first_sddl(&document)
                .ok_or_else(|| Failure::local("the PowerShell plug-in has no descriptor"))?;
            (sddl, Vec::new(), false)
        }
    };
    let mut next = current.clone();
    for e in edits {
        next = apply(&next, e)?;
    }
    let shown = if next == current {
        current
    } else {
        match &target {
            Target::Root => {
                let body = format!(
                    "<cfg:Service xmlns:cfg=\"{}\"><cfg:RootSDDL>{}</cfg:RootSDDL></cfg:Service>",
                    wsman_config::Container::Service.resource_uri(),
                    wsman_proto::xml::escape_text(&next)
                );
                let answer = backend.put(&service_resource(), &body)?;
                answer.map_or(Ok(next), |a| root_sddl(&a))?
            }
            Target::Wmi(key) => {
                entries.retain(|(k, _)| k != key);
                entries.push((key.clone(), next.clone()));
                backend.put(&plugin_resource(), &plugin_body(&entries))?;
                next
            }
            Target::PowerShell => {
                let plugin = named_plugin(POWERSHELL_PLUGIN_NAME);
                let answer = backend.put(&plugin, &powershell_body(&next))?;
                answer.and_then(|a| first_sddl(&a)).unwrap_or(next)
            }
        }
    };
    let _ = out.write_all(render_table(uri, &shown, inherited && edits.is_empty()).as_bytes());
    Ok(())
}

/// One `-add:`/`-remove:`/`-sddl:` applied to `sddl`.
fn apply(sddl: &str, e: &SddlSwitch) -> Result<String, Failure> {
    let (value, grant) = match e {
        SddlSwitch::Sddl(text) => {
            SecurityDescriptor::parse(text).map_err(|err| {
                Failure::from(usage(format!("-sddl: is not a security descriptor: {err}")))
            })?;
            return Ok(text.trim().to_owned());
        }
        SddlSwitch::Add(v) => (v, true),
        SddlSwitch::Remove(v) => (v, false),
    };
    let (account, rights) = value.rsplit_once('=').ok_or_else(|| {
        usage(format!(
            "{value:?}: expected ACCOUNT=RIGHT[,RIGHT] (Read, Write, Execute, Full)"
        ))
    })?;
    let sid = resolve_account(account)?;
    let mut text = sddl.to_owned();
    for right in rights.split(',') {
        let right = Right::parse(right).map_err(|_| {
            usage(format!(
                "{right:?} is not a right: Read, Write, Execute or Full"
            ))
        })?;
        let change = if grant {
            Edit::Grant(right)
        } else {
            Edit::Revoke(right)
        };
        text = edit(&text, &sid, change).map_err(|err| {
            Failure::local(format!("the current descriptor cannot be edited: {err}"))
        })?;
    }
    Ok(text)
}

/// A SID (`S-1-…`), `%group`, a Linux user, else a Linux group, else a well-known alias
/// (`BA`, `BU`, …).
fn resolve_account(name: &str) -> Result<Sid, Failure> {
    let name = name.trim();
    let unknown = || {
        usage(format!(
            "unknown account {name:?}: no such user or group here"
        ))
    };
    if name.len() > 2 && name.get(..2).is_some_and(|h| h.eq_ignore_ascii_case("S-")) {
        return Sid::parse(name).map_err(|e| usage(format!("{name:?}: {e}")).into());
    }
    if name.contains('\0') || name.is_empty() {
        return Err(unknown().into());
    }
    let group = |n: &str| nix::unistd::Group::from_name(n).ok().flatten();
    if let Some(g) = name.strip_prefix('%') {
        return group(g)
            .map(|g| Sid::unix_group(g.gid.as_raw()))
            .ok_or_else(|| unknown().into());
    }
    if let Ok(Some(u)) = nix::unistd::User::from_name(name) {
        return Ok(Sid::unix_user(u.uid.as_raw()));
    }
    if let Some(g) = group(name) {
        return Ok(Sid::unix_group(g.gid.as_raw()));
    }
    Sid::parse(name).map_err(|_| unknown().into())
}

/// Windows' names of the well-known SIDs WinRM descriptors use; Samba's `Unix User\` and
/// `Unix Group\` for Linux accounts.
fn account_name(sid: &Sid) -> String {
    let text = sid.to_string();
    let well_known = [
        ("S-1-1-0", "Everyone"),
        ("S-1-5-2", "NT AUTHORITY\\NETWORK"),
        ("S-1-5-4", "NT AUTHORITY\\INTERACTIVE"),
        ("S-1-5-11", "NT AUTHORITY\\Authenticated Users"),
        ("S-1-5-18", "NT AUTHORITY\\SYSTEM"),
        ("S-1-5-20", "NT AUTHORITY\\NETWORK SERVICE"),
        ("S-1-5-32-544", "BUILTIN\\Administrators"),
        ("S-1-5-32-545", "BUILTIN\\Users"),
        ("S-1-5-32-580", "BUILTIN\\Remote Management Users"),
    ];
    if let Some((_, n)) = well_known.iter().find(|(s, _)| *s == text) {
        return (*n).to_owned();
    }
    match (sid.authority, sid.sub_authorities.as_slice()) {
        (22, [1, uid]) => nix::unistd::User::from_uid((*uid).into())
            .ok()
            .flatten()
            .map_or(text, |u| format!("Unix User\\{}", u.name)),
        (22, [2, gid]) => nix::unistd::Group::from_gid((*gid).into())
            .ok()
            .flatten()
            .map_or(text, |g| format!("Unix Group\\{}", g.name)),
        _ => text,
    }
}

/// The descriptor and, per account, Allow or Deny under each right.
fn render_table(uri: &str, sddl: &str, inherited: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Security descriptor of {uri}");
    if inherited {
        let _ = writeln!(
            s,
            "(none of its own: the WMI plug-in's, {}, applies)",
            wsman_config::WMI_NAMESPACE_URI
        );
    }
    let _ = writeln!(s, "SDDL = {sddl}\n");
    let Ok(sd) = SecurityDescriptor::parse(sddl) else {
        let _ = writeln!(s, "(the descriptor does not parse: nothing is allowed)");
        return s;
    };
    let _ = writeln!(
        s,
        "{:<40} {:<22} {:<6} {:<6} {:<8} Full",
        "Account", "SID", "Read", "Write", "Execute"
    );
    for row in rights_table(&sd) {
        let cell = |r: Right| {
            if row.denied.contains(&r) {
                "Deny"
            } else if row.allowed.contains(&r) {
                "Allow"
            } else {
                "-"
            }
        };
        let _ = writeln!(
            s,
            "{:<40} {:<22} {:<6} {:<6} {:<8} {}",
            account_name(&row.sid),
            row.sid.to_string(),
            cell(Right::Read),
            cell(Right::Write),
            cell(Right::Execute),
            cell(Right::Full)
        );
    }
    s
}
