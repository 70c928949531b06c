//! Reading and editing a descriptor's DACL the way `winrm configSDDL`'s dialog does on Windows:
//! who may Read, Write, Execute or has Full Control, and adding or removing one right of one
//! account. There is no dialog on a Linux host, so the `winrm` CLI prints the table and takes
//! the edit as switches.
//!
//! Edits change only the rights field of the entries of the account concerned (or append one
//! entry): the owner, group, SACL, ACL flags and every other entry keep their text, so that a
//! descriptor brought from Windows is not rewritten behind its owner's back.

use crate::sddl::{rights, split_components, Ace, AceKind, SddlError, SecurityDescriptor, Sid};

/// A right of the dialog: Read (Get, Enumerate, Subscribe), Write (Put, Create, Delete),
/// Execute (Invoke, shells), Full Control (all three: `GA`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Right {
    Read,
    Write,
    Execute,
    Full,
}

impl Right {
    /// In the dialog's order.
    pub const ALL: [Right; 4] = [Right::Full, Right::Read, Right::Write, Right::Execute];

    /// The dialog's name of the right.
    pub fn name(self) -> &'static str {
        match self {
            Self::Read => "Read",
            Self::Write => "Write",
            Self::Execute => "Execute",
            Self::Full => "Full",
        }
    }

    /// `Read`, `Write`, `Execute`, `Full` (or `FullControl`), or the generic right's SDDL code
    /// (`GR`, `GW`, `GX`, `GA`), without case.
    pub fn parse(text: &str) -> Result<Self, SddlError> {
        let t = text.trim().to_ascii_lowercase();
        Ok(match t.as_str() {
            "read" | "gr" => Self::Read,
            "write" | "gw" => Self::Write,
            "execute" | "gx" => Self::Execute,
            "full" | "fullcontrol" | "ga" => Self::Full,
            _ => return Err(SddlError::Right(text.to_owned())),
        })
    }

    /// The generic right (Full: `GA`).
    fn mask(self) -> u32 {
        match self {
            Self::Read => rights::GENERIC_READ,
            Self::Write => rights::GENERIC_WRITE,
            Self::Execute => rights::GENERIC_EXECUTE,
            Self::Full => rights::GENERIC_ALL,
        }
    }

    /// Whether an entry's mask grants (or denies) this right: GA covers each, and Full is GA
    /// or all three.
    fn covered_by(self, mask: u32) -> bool {
        let three = rights::GENERIC_READ | rights::GENERIC_WRITE | rights::GENERIC_EXECUTE;
        match self {
            Self::Full => mask & rights::GENERIC_ALL != 0 || mask & three == three,
            _ => mask & (self.mask() | rights::GENERIC_ALL) != 0,
        }
    }
}

/// One account's line of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RightsRow {
    pub sid: Sid,
    /// Rights an allow entry grants (and no deny entry takes away).
    pub allowed: Vec<Right>,
    /// Rights a deny entry refuses.
    pub denied: Vec<Right>,
}

/// The accounts the DACL names, in the order they first appear, with what each is allowed and
/// denied (inherit-only entries do not apply to the resource and are left out).
pub fn rights_table(sd: &SecurityDescriptor) -> Vec<RightsRow> {
    let mut rows: Vec<RightsRow> = Vec::new();
    for ace in sd.dacl.iter().filter(|a| !a.inherit_only) {
        if !rows.iter().any(|r| r.sid == ace.sid) {
            rows.push(RightsRow {
                sid: ace.sid.clone(),
                allowed: Vec::new(),
                denied: Vec::new(),
            });
        }
    }
    for row in &mut rows {
        let mask_of = |kind: AceKind| {
            sd.dacl
                .iter()
                .filter(|a| !a.inherit_only && a.kind == kind && a.sid == row.sid)
                .fold(0u32, |m, a| m | a.mask)
        };
        let (allow, deny) = (mask_of(AceKind::Allow), mask_of(AceKind::Deny));
        for right in Right::ALL {
            if right.covered_by(deny) {
                row.denied.push(right);
            } else if right.covered_by(allow) {
                row.allowed.push(right);
            }
        }
        // Full Control is not held while any of its rights is denied.
        if [Right::Read, Right::Write, Right::Execute]
            .iter()
            .any(|r| r.covered_by(deny))
        {
            row.allowed.retain(|r| *r != Right::Full);
        }
    }
    rows
}

/// What an edit does to one account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edit {
    /// Allow the right: added to the account's first allow entry (or a new entry at the end),
    /// and taken out of its deny entries, so that the grant takes effect.
    Grant(Right),
    /// No longer allow the right: taken out of the account's allow entries (GA is split into
    /// the rights that remain); an entry left with no right is removed.
    Revoke(Right),
}

/// `text` with `edit` applied to `sid`; the result parses. Fails as [`SecurityDescriptor::parse`]
/// does when `text` is not a descriptor.
pub fn edit(text: &str, sid: &Sid, edit: Edit) -> Result<String, SddlError> {
    SecurityDescriptor::parse(text)?;
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let mut out = String::with_capacity(compact.len() + 32);
    for (tag, body) in split_components(&compact)? {
        out.push(tag);
        out.push(':');
        if tag == 'D' {
            out.push_str(&edit_dacl(body, sid, edit)?);
        } else {
            out.push_str(body);
        }
    }
    SecurityDescriptor::parse(&out)?;
    Ok(out)
}

/// One DACL entry as written, with its meaning.
struct Entry {
    fields: Vec<String>,
    ace: Ace,
}

fn edit_dacl(body: &str, sid: &Sid, edit: Edit) -> Result<String, SddlError> {
    let (flags, mut rest) = body.split_at(body.find('(').unwrap_or(body.len()));
    let mut entries = Vec::new();
    while let Some(inner) = rest.strip_prefix('(') {
        let close = inner
            .find(')')
            .ok_or_else(|| SddlError::Ace(inner.to_owned()))?;
        let text = &inner[..close];
        let parsed = SecurityDescriptor::parse(&format!("D:({text})"))?;
        let ace = parsed
            .dacl
            .into_iter()
            .next()
            .ok_or_else(|| SddlError::Ace(text.to_owned()))?;
        entries.push(Entry {
            fields: text.split(';').map(str::to_owned).collect(),
            ace,
        });
        rest = &inner[close + 1..];
    }
    let applies =
        |e: &Entry, kind: AceKind| e.ace.kind == kind && !e.ace.inherit_only && e.ace.sid == *sid;
    match edit {
        Edit::Grant(right) => {
            for e in entries.iter_mut().filter(|e| applies(e, AceKind::Deny)) {
                e.ace.mask = without(e.ace.mask, right);
            }
            match entries.iter_mut().find(|e| applies(e, AceKind::Allow)) {
                Some(e) => e.ace.mask |= right.mask(),
                None => entries.push(Entry {
                    fields: vec![
                        "A".into(),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        sid.to_string(),
                    ],
                    ace: Ace {
                        kind: AceKind::Allow,
                        mask: right.mask(),
                        sid: sid.clone(),
                        inherit_only: false,
                    },
                }),
            }
        }
        Edit::Revoke(right) => {
            for e in entries.iter_mut().filter(|e| applies(e, AceKind::Allow)) {
                e.ace.mask = without(e.ace.mask, right);
            }
        }
    }
    let mut out = flags.to_owned();
    for mut e in entries {
        if e.ace.mask == 0 {
            continue;
        }
        e.fields[2] = rights_text(e.ace.mask);
        out.push('(');
        out.push_str(&e.fields.join(";"));
        out.push(')');
    }
    Ok(out)
}

/// `mask` without `right`: GA becomes the generic rights other than `right`.
fn without(mask: u32, right: Right) -> u32 {
    let generic = rights::GENERIC_READ | rights::GENERIC_WRITE | rights::GENERIC_EXECUTE;
    match right {
        Right::Full => mask & !(generic | rights::GENERIC_ALL),
        _ if mask & rights::GENERIC_ALL != 0 => {
            (mask & !rights::GENERIC_ALL | generic) & !right.mask()
        }
        _ => mask & !right.mask(),
    }
}

/// The rights field: generic-right codes when the mask is only those, else hex.
fn rights_text(mask: u32) -> String {
    let codes = [
        (rights::GENERIC_ALL, "GA"),
        (rights::GENERIC_READ, "GR"),
        (rights::GENERIC_WRITE, "GW"),
        (rights::GENERIC_EXECUTE, "GX"),
    ];
    let generic: u32 = codes.iter().map(|(m, _)| m).fold(0, |a, m| a | m);
    if mask & !generic != 0 {
        return format!("0x{mask:X}");
    }
    codes
        .iter()
        .filter(|(m, _)| mask & m != 0)
        .map(|(_, c)| *c)
        .collect()
}

#[cfg(test)]
#[path = "sddl_edit_tests.rs"]
mod tests;
