//! `Service/RootSDDL`: a bounded parser for the part of SDDL (Security Descriptor Definition
//! Language) that WinRM security descriptors use, and the access check wsmand runs on it.
//!
//! Why our own and why a subset: the descriptor decides who may do what, so its parser must be
//! small enough to review and bounded against hostile text (it is reachable through a remote
//! `winrm set`). Accepted: owner `O:`, group `G:`, a DACL `D:` with flags `P`, `AI`, `AR` and
//! access-allowed (`A`) / access-denied (`D`) ACEs, a SACL `S:` (audit `AU`, alarm `AL`,
//! mandatory label `ML` ACEs) that is parsed and ignored. Rights are the two-letter codes or a
//! number (`0x1F0000`, decimal). SIDs are `S-1-…` strings or the well-known two-letter aliases.
//! Refused: object ACEs, conditional ACEs, domain-relative aliases (no domain here), and a
//! descriptor without a DACL or with `NO_ACCESS_CONTROL` (Windows would read that as "everyone
//! may do everything"; as a mistake in a config value that is too dangerous to accept).

use std::fmt;

/// Longest descriptor text accepted (Windows' ACLs are limited to 64 KiB in binary form).
pub const MAX_SDDL_LEN: usize = 16 * 1024;
/// Most ACEs per ACL.
pub const MAX_ACES: usize = 256;
/// Most sub-authorities in a SID (Windows' SID_MAX_SUB_AUTHORITIES).
pub const MAX_SUB_AUTHORITIES: usize = 15;

/// Generic rights, the only ones that decide WinRM operations (see [`Access`]).
pub mod rights {
    pub const GENERIC_ALL: u32 = 0x1000_0000;
    pub const GENERIC_EXECUTE: u32 = 0x2000_0000;
    pub const GENERIC_WRITE: u32 = 0x4000_0000;
    pub const GENERIC_READ: u32 = 0x8000_0000;
}

/// A security identifier, e.g. `S-1-5-32-544`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid {
    /// The 48-bit identifier authority.
    pub authority: u64,
    pub sub_authorities: Vec<u32>,
}

impl Sid {
    /// A SID from its authority and sub-authorities.
    pub fn new(authority: u64, sub_authorities: &[u32]) -> Self {
        Self {
            authority,
            sub_authorities: sub_authorities.to_vec(),
        }
    }

    /// Parse `S-1-…` or a well-known alias (`BA`, `WD`, …), case-insensitive like Windows.
    pub fn parse(text: &str) -> Result<Self, SddlError> {
        let text = text.trim();
        if text.len() == 2 {
            return alias(text).ok_or_else(|| SddlError::UnknownAlias(text.to_owned()));
        }
        parse_sid_string(text)
    }

    /// Everyone (`WD`, S-1-1-0).
    pub fn everyone() -> Self {
        Self::new(1, &[0])
    }
    /// NT AUTHORITY\Authenticated Users (`AU`, S-1-5-11).
    pub fn authenticated_users() -> Self {
        Self::new(5, &[11])
    }
    /// NT AUTHORITY\NETWORK (`NU`, S-1-5-2): the logon type of every WinRM request.
    pub fn network() -> Self {
        Self::new(5, &[2])
    }
    /// BUILTIN\Administrators (`BA`, S-1-5-32-544).
    pub fn builtin_administrators() -> Self {
        Self::new(5, &[32, 544])
    }
    /// BUILTIN\Users (`BU`, S-1-5-32-545).
    pub fn builtin_users() -> Self {
        Self::new(5, &[32, 545])
    }
    /// A Linux user: `S-1-22-1-<uid>` (the Unix SID convention Samba uses).
    pub fn unix_user(uid: u32) -> Self {
        Self::new(22, &[1, uid])
    }
    /// A Linux group: `S-1-22-2-<gid>`.
    pub fn unix_group(gid: u32) -> Self {
        Self::new(22, &[2, gid])
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.authority < (1 << 32) {
            write!(f, "S-1-{}", self.authority)?;
        } else {
            write!(f, "S-1-0x{:012X}", self.authority)?;
        }
        for s in &self.sub_authorities {
            write!(f, "-{s}")?;
        }
        Ok(())
    }
}

/// Why a descriptor was refused. The Display is the message of the `winrm set` fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SddlError {
    #[error("the security descriptor is longer than {MAX_SDDL_LEN} characters")]
    TooLong,
    #[error("the security descriptor is empty")]
    Empty,
    #[error("unexpected text {0:?} in the security descriptor")]
    Unexpected(String),
    #[error("the {0} part appears twice")]
    Duplicate(&'static str),
    #[error("the security descriptor has no DACL (D:)")]
    NoDacl,
    #[error("NO_ACCESS_CONTROL (a null DACL) is not accepted")]
    NullDacl,
    #[error("unknown ACL flag {0:?}")]
    AclFlag(String),
    #[error("malformed ACE {0:?}")]
    Ace(String),
    #[error("ACE type {0:?} is not supported here")]
    AceType(String),
    #[error("unknown ACE flag {0:?}")]
    AceFlag(String),
    #[error("unknown access right {0:?}")]
    Right(String),
    #[error("more than {MAX_ACES} ACEs")]
    TooManyAces,
    #[error("unknown or unsupported SID alias {0:?}")]
    UnknownAlias(String),
    #[error("malformed SID {0:?}")]
    Sid(String),
}

/// Allow or deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AceKind {
    Allow,
    Deny,
}

/// One DACL entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ace {
    pub kind: AceKind,
    /// The access mask as written (generic rights are not mapped).
    pub mask: u32,
    pub sid: Sid,
    /// `IO` (inherit-only): the entry does not apply to the object itself.
    pub inherit_only: bool,
}

/// A parsed security descriptor. Only the DACL takes part in access checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityDescriptor {
    pub owner: Option<Sid>,
    pub group: Option<Sid>,
    /// The DACL entries in their written order.
    pub dacl: Vec<Ace>,
    /// Number of SACL entries seen (parsed for syntax, never evaluated).
    pub sacl_entries: usize,
}

/// The access a WinRM operation asks for (the rights of `winrm configSDDL`'s dialog: Read =
/// Get, Enumerate, Subscribe; Write = Put, Create, Delete; Execute = Invoke). Full Control (GA)
/// includes all three.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    Execute,
}

impl Access {
    /// The generic right this access needs.
    pub fn right(self) -> u32 {
        match self {
            Self::Read => rights::GENERIC_READ,
            Self::Write => rights::GENERIC_WRITE,
            Self::Execute => rights::GENERIC_EXECUTE,
        }
    }
}

impl SecurityDescriptor {
    /// Parse SDDL text (bounded, never panics).
    pub fn parse(text: &str) -> Result<Self, SddlError> {
        parse_descriptor(text)
    }

    /// Whether a caller holding `sids` gets `access`: an applicable deny ACE that covers the
    /// right refuses, whatever its position; else an applicable allow ACE that covers it grants;
    /// else refused (an empty DACL denies everyone).
    pub fn allows(&self, sids: &[Sid], access: Access) -> bool {
        let needed = access.right();
        let covers = |ace: &Ace| {
            !ace.inherit_only
                && ace.mask & (needed | rights::GENERIC_ALL) != 0
                && sids.contains(&ace.sid)
        };
        if self
            .dacl
            .iter()
            .any(|a| a.kind == AceKind::Deny && covers(a))
        {
            return false;
        }
        self.dacl
            .iter()
            .any(|a| a.kind == AceKind::Allow && covers(a))
    }
}

/// Parse without keeping the result: the check `winrm set` runs.
pub fn validate(text: &str) -> Result<(), SddlError> {
    parse_descriptor(text).map(|_| ())
}

fn parse_descriptor(text: &str) -> Result<SecurityDescriptor, SddlError> {
    if text.len() > MAX_SDDL_LEN {
        return Err(SddlError::TooLong);
    }
    let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if text.is_empty() {
        return Err(SddlError::Empty);
    }
    let mut sd = SecurityDescriptor {
        owner: None,
        group: None,
        dacl: Vec::new(),
        sacl_entries: 0,
    };
    let mut seen_dacl = false;
    let mut seen_sacl = false;
    for (tag, body) in split_components(&text)? {
        match tag {
            'O' => {
                if sd.owner.replace(Sid::parse(body)?).is_some() {
                    return Err(SddlError::Duplicate("owner (O:)"));
                }
            }
            'G' => {
                if sd.group.replace(Sid::parse(body)?).is_some() {
                    return Err(SddlError::Duplicate("group (G:)"));
                }
            }
            'D' => {
                if std::mem::replace(&mut seen_dacl, true) {
                    return Err(SddlError::Duplicate("DACL (D:)"));
                }
                sd.dacl = parse_acl(body, AclKind::Dacl)?.0;
            }
            _ => {
                if std::mem::replace(&mut seen_sacl, true) {
                    return Err(SddlError::Duplicate("SACL (S:)"));
                }
                sd.sacl_entries = parse_acl(body, AclKind::Sacl)?.1;
            }
        }
    }
    if !seen_dacl {
        return Err(SddlError::NoDacl);
    }
    Ok(sd)
}

/// Split `O:..G:..D:..S:..` into its parts. A part starts at `X:` (X one of O, G, D, S) found
/// outside parentheses; SID strings never contain `:`.
pub(crate) fn split_components(text: &str) -> Result<Vec<(char, &str)>, SddlError> {
    let bytes = text.as_bytes();
    let mut starts = Vec::new();
    let mut depth = 0usize;
    for i in 0..bytes.len() {
        match bytes[i] {
            b'(' => depth += 1,
            b')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| SddlError::Unexpected(")".to_owned()))?
            }
            b':' if depth == 0 && i > 0 => {
                let tag = bytes[i - 1].to_ascii_uppercase();
                if !matches!(tag, b'O' | b'G' | b'D' | b'S') {
                    return Err(SddlError::Unexpected(snippet(
                        text.get(i - 1..).unwrap_or(""),
                    )));
                }
                starts.push((i - 1, char::from(tag)));
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(SddlError::Unexpected("(".to_owned()));
    }
    match starts.first() {
        Some((0, _)) => {}
        _ => return Err(SddlError::Unexpected(snippet(text))),
    }
    let mut out = Vec::with_capacity(starts.len());
    for (n, (start, tag)) in starts.iter().enumerate() {
        let end = starts.get(n + 1).map_or(text.len(), |(s, _)| *s);
        let body = text.get(start + 2..end).unwrap_or("");
        out.push((*tag, body));
    }
    Ok(out)
}

fn snippet(text: &str) -> String {
    text.chars().take(24).collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum AclKind {
    Dacl,
    Sacl,
}

/// `flags(ace)(ace)…`: the entries kept and the number of entries written.
fn parse_acl(body: &str, kind: AclKind) -> Result<(Vec<Ace>, usize), SddlError> {
    let (flags, mut rest) = match body.find('(') {
        Some(i) => body.split_at(i),
        None => (body, ""),
    };
    parse_acl_flags(flags)?;
    let mut aces = Vec::new();
    let mut written = 0usize;
    while !rest.is_empty() {
        let inner = rest
            .strip_prefix('(')
            .ok_or_else(|| SddlError::Unexpected(snippet(rest)))?;
        let close = inner
            .find(')')
            .ok_or_else(|| SddlError::Ace(snippet(rest)))?;
        if written >= MAX_ACES {
            return Err(SddlError::TooManyAces);
        }
        written += 1;
        if let Some(ace) = parse_ace(&inner[..close], kind)? {
            aces.push(ace);
        }
        rest = &inner[close + 1..];
    }
    Ok((aces, written))
}

fn parse_acl_flags(mut flags: &str) -> Result<(), SddlError> {
    while !flags.is_empty() {
        let upper = flags.to_ascii_uppercase();
        if upper.starts_with("NO_ACCESS_CONTROL") {
            return Err(SddlError::NullDacl);
        }
        let len = ["AI", "AR", "P"]
            .iter()
            .find(|f| upper.starts_with(**f))
            .map(|f| f.len())
            .ok_or_else(|| SddlError::AclFlag(snippet(flags)))?;
        flags = &flags[len..];
    }
    Ok(())
}

/// `type;flags;rights;object_guid;inherit_object_guid;sid`. SACL entries are checked for
/// syntax and dropped (`None`).
fn parse_ace(text: &str, kind: AclKind) -> Result<Option<Ace>, SddlError> {
    let fields: Vec<&str> = text.split(';').collect();
    if fields.len() != 6 {
        return Err(SddlError::Ace(snippet(text)));
    }
    let ace_type = fields[0].to_ascii_uppercase();
    let ace_kind = match (kind, ace_type.as_str()) {
        (AclKind::Dacl, "A") => Some(AceKind::Allow),
        (AclKind::Dacl, "D") => Some(AceKind::Deny),
        (AclKind::Sacl, "AU" | "AL" | "ML") => None,
        _ => return Err(SddlError::AceType(fields[0].to_owned())),
    };
    let inherit_only = parse_ace_flags(fields[1])?;
    let mask = parse_rights(fields[2])?;
    if !fields[3].is_empty() || !fields[4].is_empty() {
        return Err(SddlError::AceType(format!("{} (object ACE)", fields[0])));
    }
    let sid = Sid::parse(fields[5])?;
    Ok(ace_kind.map(|kind| Ace {
        kind,
        mask,
        sid,
        inherit_only,
    }))
}

/// Returns whether `IO` (inherit-only) is present.
fn parse_ace_flags(mut flags: &str) -> Result<bool, SddlError> {
    let mut inherit_only = false;
    while !flags.is_empty() {
        let code = flags
            .get(..2)
            .ok_or_else(|| SddlError::AceFlag(flags.to_owned()))?;
        let upper = code.to_ascii_uppercase();
        match upper.as_str() {
            "IO" => inherit_only = true,
            "CI" | "OI" | "NP" | "ID" | "SA" | "FA" | "TP" | "CR" => {}
            _ => return Err(SddlError::AceFlag(code.to_owned())),
        }
        flags = &flags[2..];
    }
    Ok(inherit_only)
}

/// Two-letter codes, or one number (hex `0x…` or decimal).
fn parse_rights(text: &str) -> Result<u32, SddlError> {
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return u32::from_str_radix(hex, 16).map_err(|_| SddlError::Right(text.to_owned()));
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<u32>()
            .map_err(|_| SddlError::Right(text.to_owned()));
    }
    let mut mask = 0u32;
    let mut rest = text;
    while !rest.is_empty() {
        let code = rest
            .get(..2)
            .ok_or_else(|| SddlError::Right(rest.to_owned()))?;
        mask |= right_code(&code.to_ascii_uppercase())
            .ok_or_else(|| SddlError::Right(code.to_owned()))?;
        rest = &rest[2..];
    }
    Ok(mask)
}

fn right_code(code: &str) -> Option<u32> {
    Some(match code {
        "GA" => rights::GENERIC_ALL,
        "GR" => rights::GENERIC_READ,
        "GW" => rights::GENERIC_WRITE,
        "GX" => rights::GENERIC_EXECUTE,
        // Standard rights.
        "RC" => 0x0002_0000,
        "SD" => 0x0001_0000,
        "WD" => 0x0004_0000,
        "WO" => 0x0008_0000,
        // Directory-service rights.
        "RP" => 0x10,
        "WP" => 0x20,
        "CC" => 0x1,
        "DC" => 0x2,
        "LC" => 0x4,
        "SW" => 0x8,
        "LO" => 0x80,
        "DT" => 0x40,
        "CR" => 0x100,
        // File and registry rights.
        "FA" => 0x001F_01FF,
        "FR" => 0x0012_0089,
        "FW" => 0x0012_0116,
        "FX" => 0x0012_00A0,
        "KA" => 0x000F_003F,
        "KR" => 0x0002_0019,
        "KW" => 0x0002_0006,
        "KX" => 0x0002_0019,
        // Mandatory label rights.
        "NR" => 0x2,
        "NW" => 0x1,
        "NX" => 0x4,
        _ => return None,
    })
}

/// `S-1-<authority>-<sub>…`; the authority is decimal (below 2^32) or `0x` + 12 hex digits.
fn parse_sid_string(text: &str) -> Result<Sid, SddlError> {
    let bad = || SddlError::Sid(snippet(text));
    let rest = text
        .strip_prefix("S-1-")
        .or_else(|| text.strip_prefix("s-1-"))
        .ok_or_else(bad)?;
    let mut parts = rest.split('-');
    let authority_text = parts.next().ok_or_else(bad)?;
    let authority = if let Some(hex) = authority_text
        .strip_prefix("0x")
        .or_else(|| authority_text.strip_prefix("0X"))
    {
        if hex.len() != 12 {
            return Err(bad());
        }
        u64::from_str_radix(hex, 16).map_err(|_| bad())?
    } else {
        if authority_text.is_empty() || !authority_text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        u64::from(authority_text.parse::<u32>().map_err(|_| bad())?)
    };
    let mut sub_authorities = Vec::new();
    for part in parts {
        if sub_authorities.len() >= MAX_SUB_AUTHORITIES
            || part.is_empty()
            || !part.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        sub_authorities.push(part.parse::<u32>().map_err(|_| bad())?);
    }
    Ok(Sid {
        authority,
        sub_authorities,
    })
}

/// The well-known aliases that do not depend on a domain.
fn alias(code: &str) -> Option<Sid> {
    let (authority, subs): (u64, &[u32]) = match code.to_ascii_uppercase().as_str() {
        "WD" => (1, &[0]),
        "CO" => (3, &[0]),
        "CG" => (3, &[1]),
        "OW" => (3, &[4]),
        "NU" => (5, &[2]),
        "IU" => (5, &[4]),
        "SU" => (5, &[6]),
        "AN" => (5, &[7]),
        "ED" => (5, &[9]),
        "PS" => (5, &[10]),
        "AU" => (5, &[11]),
        "RC" => (5, &[12]),
        "SY" => (5, &[18]),
        "LS" => (5, &[19]),
        "NS" => (5, &[20]),
        "WR" => (5, &[33]),
        "BA" => (5, &[32, 544]),
        "BU" => (5, &[32, 545]),
        "BG" => (5, &[32, 546]),
        "PU" => (5, &[32, 547]),
        "AO" => (5, &[32, 548]),
        "SO" => (5, &[32, 549]),
        "PO" => (5, &[32, 550]),
        "BO" => (5, &[32, 551]),
        "RE" => (5, &[32, 552]),
        "RU" => (5, &[32, 554]),
        "RD" => (5, &[32, 555]),
        "NO" => (5, &[32, 556]),
        "MU" => (5, &[32, 558]),
        "LU" => (5, &[32, 559]),
        "IS" => (5, &[32, 568]),
        "CY" => (5, &[32, 569]),
        "ER" => (5, &[32, 573]),
        "RM" => (5, &[32, 580]),
        "HA" => (5, &[32, 578]),
        "AC" => (15, &[2, 1]),
        "LW" => (16, &[4096]),
        "ME" => (16, &[8192]),
        "MP" => (16, &[8448]),
        "HI" => (16, &[12288]),
        "SI" => (16, &[16384]),
        _ => return None,
    };
    Some(Sid::new(authority, subs))
}

#[cfg(test)]
#[path = "sddl_tests.rs"]
mod tests;
