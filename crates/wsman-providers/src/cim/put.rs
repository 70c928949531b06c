//! What a Put of a CIM instance changes (WS-Transfer Put, MS-WSMV 4.1.3; PowerShell's
//! `Set-CimInstance` through the MI client), read once from the request against the class,
//! for every class with writable properties.
//!
//! The body is the whole instance, as the client has it. Windows' MI client names the
//! properties it changed in the option `wmiarray:__MIInstanceModifiedPropertiesList` (one
//! option per property): those are changed, and one that the class's MOF does not mark
//! writable is refused. Without that option (a client that Gets, edits and Puts the whole
//! instance, as `winrm set` does), the writable properties whose value differs are changed and
//! the read-only ones are left as they are, as Windows' own providers read only the properties
//! they write (a Get-and-Put round trip carries the volatile values of the Get, such as
//! FreePhysicalMemory). A property the class does not have is refused either way.

use wsman_proto::cim::Instance;
use wsman_proto::{ns, Fault};

use super::Class;
use crate::Context;

/// The option in which Windows' MI client names each property it changed.
pub const MODIFIED_PROPERTIES: &str = "wmiarray:__MIInstanceModifiedPropertiesList";

/// One property a Put changes: its name as the class declares it, and its new value (`None`:
/// nil).
#[derive(Debug, PartialEq, Eq)]
pub struct Change {
    pub name: &'static str,
    pub value: Option<String>,
}

/// The properties the Put of `ctx` changes in `current`, an instance of `class` whose
/// properties `writable` (as its MOF marks them) may be changed.
pub fn changes(
    ctx: &Context<'_>,
    class: &dyn Class,
    current: &Instance,
    writable: &[&str],
) -> Result<Vec<Change>, Fault> {
    let body = read_body(ctx, class)?;
    let named: Vec<&str> = ctx
        .request
        .options
        .options
        .iter()
        .filter(|o| o.name.eq_ignore_ascii_case(MODIFIED_PROPERTIES))
        .filter_map(|o| o.value.as_deref().map(str::trim))
        .collect();
    let is_writable = |name: &str| writable.iter().any(|w| w.eq_ignore_ascii_case(name));
    if !named.is_empty() {
        return named
            .into_iter()
            .map(|wanted| {
                let name = declared(class, wanted)?;
                if !is_writable(name) {
                    return Err(read_only(class, name));
                }
                let value = body
                    .iter()
                    .find(|c| c.name == name)
                    .and_then(|c| c.value.clone());
                Ok(Change { name, value })
            })
            .collect();
    }
    Ok(body
        .into_iter()
        .filter(|c| is_writable(c.name))
        .filter(|c| current.get(c.name).map(|v| v.to_text()) != c.value)
        .collect())
}

/// The properties of the body's instance, each checked against the class.
fn read_body(ctx: &Context<'_>, class: &dyn Class) -> Result<Vec<Change>, Fault> {
    let Some(root) = ctx.request.body.as_ref() else {
        return Err(Fault::invalid_representation(
            "MissingValues",
            format!("The Put of {} has no instance in its body. ", class.name()),
        ));
    };
    if !root.name.eq_ignore_ascii_case(class.name()) {
        return Err(invalid(format!(
            "The body of the Put is {}, not an instance of {}. ",
            root.name,
            class.name()
        )));
    }
    let mut out = Vec::new();
    for element in root.elements() {
        // The instance's own address (`cim:Location`, as MS-WSMV 4.1.3 sends it).
        if element.ns.as_deref() == Some(ns::WSCIM_COMMON) {
            continue;
        }
        let name = declared(class, &element.name)?;
        let nil = element
            .attr_ns(ns::XSI, "nil")
            .is_some_and(|v| matches!(v.trim(), "true" | "1"));
        out.push(Change {
            name,
            value: (!nil).then(|| element.trimmed_text()),
        });
    }
    Ok(out)
}

/// `name` as the class declares it; a property it does not have is refused.
fn declared(class: &dyn Class, name: &str) -> Result<&'static str, Fault> {
    class
        .properties()
        .iter()
        .find(|p| p.eq_ignore_ascii_case(name))
        .copied()
        .ok_or_else(|| {
            invalid(format!(
                "The property {name:?} is not a property of {}. ",
                class.name()
            ))
        })
}

fn read_only(class: &dyn Class, name: &str) -> Fault {
    invalid(format!(
        "The property {name} of {} is read-only. ",
        class.name()
    ))
}

fn invalid(message: String) -> Fault {
    Fault::invalid_representation("InvalidValues", message)
}
