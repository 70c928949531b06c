//! Reading an MIT keytab (the `FILE:` format, versions 0x0501 and 0x0502) to tell what it holds:
//! which principals, key version numbers and encryption types. The daemon uses it at start to
//! check the keytab named in its configuration (which SPNs it serves, that it is a keytab at
//! all, and that only its owner can read it) before the GSS-API acceptor ever opens it.
//!
//! The parser is our own, pure and bounded (file size, entry count, component count and length
//! are capped) and never keeps key bytes: an entry records the key's length only, and the
//! buffer read from disk is zeroed before [`read_keytab_file`] returns.
//!
//! Format (all integers big-endian in 0x0502; 0x0501 used the writer's byte order, read here
//! as little-endian, the only order of the machines that still carry such files):
//!
//! ```text
//! u8 5, u8 version(1|2)
//! entry*: i32 size (negative: a hole of -size bytes; 0: end), then size bytes:
//!   u16 component count (0x0501: counts the realm too)
//!   u16 len + realm, (u16 len + component)*
//!   u32 name type (absent in 0x0501)
//!   u32 timestamp, u8 kvno, u16 enctype, u16 len + key
//!   [u32 kvno, if at least 4 bytes remain; overrides the 8-bit one when non-zero]
//!   [anything after that, e.g. Heimdal's u32 flags: ignored]
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Largest keytab accepted: a real one holds a few dozen entries of about 100 bytes.
pub const MAX_KEYTAB_BYTES: usize = 1024 * 1024;
/// Most entries (holes not counted) accepted in one keytab.
pub const MAX_ENTRIES: usize = 4096;
/// Most name components in one principal (service principals have two).
pub const MAX_COMPONENTS: usize = 16;
/// Longest realm or name component.
pub const MAX_COMPONENT_BYTES: usize = 1024;

/// Why a keytab could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeytabError {
    /// The first byte is not 5 or the version is neither 1 nor 2.
    #[error("not an MIT keytab (file format {0:#06x})")]
    BadVersion(u16),
    /// The data ended inside a header, an entry or a field.
    #[error("keytab truncated at byte {0}")]
    Truncated(usize),
    /// A field inside an entry runs past the entry's declared size, or a count or length is
    /// out of range.
    #[error("malformed keytab entry at byte {offset}: {reason}")]
    Malformed {
        /// Where the entry starts.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// Over [`MAX_KEYTAB_BYTES`] or [`MAX_ENTRIES`].
    #[error("keytab too large (limit {0})")]
    TooLarge(usize),
}

/// Why a configured keytab file is not fit for use.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeytabFileError {
    /// It cannot be opened or read (missing, permission denied).
    #[error("cannot read keytab {path}: {source}")]
    Read {
        /// The configured path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// It is not a regular file.
    #[error("keytab {0} is not a regular file")]
    NotAFile(PathBuf),
    /// Group or others may read or write it: keys would be exposed.
    #[error("keytab {path} has mode {mode:04o}: it must not be accessible to group or others (chmod 0600)")]
    TooOpen {
        /// The configured path.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Owned by another user than the one the daemon runs as (nor root).
    #[error("keytab {path} is owned by uid {owner}, expected uid {expected} or root")]
    WrongOwner {
        /// The configured path.
        path: PathBuf,
        /// The file's owner.
        owner: u32,
        /// The daemon's uid.
        expected: u32,
    },
    /// Its content is not a keytab.
    #[error("keytab {path}: {source}")]
    Format {
        /// The configured path.
        path: PathBuf,
        /// What the parser found.
        source: KeytabError,
    },
}

/// A Kerberos principal name: components and realm, e.g. `HTTP/host.example.com@EXAMPLE.COM`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Principal {
    /// Name components (`["HTTP", "host.example.com"]`), lossily decoded as UTF-8.
    pub components: Vec<String>,
    /// The realm.
    pub realm: String,
}

impl Principal {
    /// The service part of a two-component service principal (`HTTP` of `HTTP/host`).
    pub fn service(&self) -> Option<&str> {
        match self.components.as_slice() {
            [service, _host] => Some(service),
            _ => None,
        }
    }

    /// The host part of a two-component service principal.
    pub fn host(&self) -> Option<&str> {
        match self.components.as_slice() {
            [_service, host] => Some(host),
            _ => None,
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.components.join("/"), self.realm)
    }
}

/// One key of a keytab, without the key bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeytabEntry {
    /// Whose key it is.
    pub principal: Principal,
    /// The name type (1 principal, 2 service instance, 3 service host); `None` in 0x0501.
    pub name_type: Option<u32>,
    /// When the key was written (seconds since the epoch).
    pub timestamp: u32,
    /// The key version number (the 32-bit one when present and non-zero, else the 8-bit one).
    pub kvno: u32,
    /// The encryption type number (17 aes128-cts-hmac-sha1-96, 18 aes256-cts-hmac-sha1-96, ...).
    pub enctype: u16,
    /// Key length in bytes (the key itself is not kept).
    pub key_len: usize,
}

impl KeytabEntry {
    /// The encryption type's name, or `None` when it is not one we know.
    pub fn enctype_name(&self) -> Option<&'static str> {
        enctype_name(self.enctype)
    }
}

/// The name of a Kerberos encryption type number (RFC 3961/3962/8009, MS-KILE).
pub fn enctype_name(enctype: u16) -> Option<&'static str> {
    Some(match enctype {
        1 => "des-cbc-crc",
        3 => "des-cbc-md5",
        16 => "des3-cbc-sha1",
        17 => "aes128-cts-hmac-sha1-96",
        18 => "aes256-cts-hmac-sha1-96",
        19 => "aes128-cts-hmac-sha256-128",
        20 => "aes256-cts-hmac-sha384-192",
        23 => "rc4-hmac",
        24 => "rc4-hmac-exp",
        25 => "camellia128-cts-cmac",
        26 => "camellia256-cts-cmac",
        _ => return None,
    })
}

/// The keys of one principal, summarised: what an operator wants to see at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalKeys {
    /// The principal.
    pub principal: Principal,
    /// Every key version present, ascending.
    pub kvnos: Vec<u32>,
    /// The encryption types of the highest key version, in file order.
    pub enctypes: Vec<u16>,
}

/// A parsed keytab: its entries in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Keytab {
    /// 1 or 2 (the low byte of the file format 0x0501 / 0x0502).
    pub version: u8,
    /// The entries, holes skipped.
    pub entries: Vec<KeytabEntry>,
}

impl Keytab {
    /// One summary per principal, sorted by principal.
    pub fn principals(&self) -> Vec<PrincipalKeys> {
        let mut by_principal: BTreeMap<&Principal, Vec<&KeytabEntry>> = BTreeMap::new();
        for entry in &self.entries {
            by_principal
                .entry(&entry.principal)
                .or_default()
                .push(entry);
        }
        by_principal
            .into_iter()
            .map(|(principal, entries)| {
                let mut kvnos: Vec<u32> = entries.iter().map(|e| e.kvno).collect();
                kvnos.sort_unstable();
                kvnos.dedup();
                let newest = kvnos.last().copied().unwrap_or(0);
                let mut enctypes = Vec::new();
                for entry in entries.iter().filter(|e| e.kvno == newest) {
                    if !enctypes.contains(&entry.enctype) {
                        enctypes.push(entry.enctype);
                    }
                }
                PrincipalKeys {
                    principal: principal.clone(),
                    kvnos,
                    enctypes,
                }
            })
            .collect()
    }

    /// Whether there is a key for `service/host` (any realm), compared ASCII
    /// case-insensitively as Kerberos service names are in practice.
    pub fn serves(&self, service: &str, host: &str) -> bool {
        self.entries.iter().any(|e| {
            e.principal
                .service()
                .is_some_and(|s| s.eq_ignore_ascii_case(service))
                && e.principal
                    .host()
                    .is_some_and(|h| h.eq_ignore_ascii_case(host))
        })
    }

    /// Principals that are not `<service>/<host>` for one of `services` (compared ASCII
    /// case-insensitively), one each, sorted. The acceptor takes every key of its keytab, so
    /// anything listed here (`host/...`, `nfs/...`, a user key) would be accepted too: the
    /// daemon warns about them at start.
    pub fn unexpected_principals(&self, services: &[&str]) -> Vec<&Principal> {
        let mut out: Vec<&Principal> = self
            .entries
            .iter()
            .map(|e| &e.principal)
            .filter(|p| {
                !(p.host().is_some()
                    && p.service()
                        .is_some_and(|s| services.iter().any(|w| w.eq_ignore_ascii_case(s))))
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Hosts for which the keytab holds a `service/host` key (e.g. every `HTTP/...` host).
    pub fn hosts_for(&self, service: &str) -> Vec<String> {
        let mut hosts: Vec<String> = self
            .entries
            .iter()
            .filter(|e| {
                e.principal
                    .service()
                    .is_some_and(|s| s.eq_ignore_ascii_case(service))
            })
            .filter_map(|e| e.principal.host().map(str::to_owned))
            .collect();
        hosts.sort();
        hosts.dedup();
        hosts
    }
}

/// Parse keytab bytes. Pure; bounded by the `MAX_*` constants.
pub fn parse_keytab(data: &[u8]) -> Result<Keytab, KeytabError> {
    if data.len() > MAX_KEYTAB_BYTES {
        return Err(KeytabError::TooLarge(MAX_KEYTAB_BYTES));
    }
    let mut reader = Reader::new(data, ByteOrder::Big);
    let format = reader.u16().ok_or(KeytabError::Truncated(0))?;
    let version = match format {
        0x0501 => 1,
        0x0502 => 2,
        other => return Err(KeytabError::BadVersion(other)),
    };
    let order = if version == 1 {
        ByteOrder::Little
    } else {
        ByteOrder::Big
    };
    reader.order = order;
    let mut entries = Vec::new();
    while !reader.is_empty() {
        let start = reader.position;
        let size = reader.i32().ok_or(KeytabError::Truncated(start))?;
        if size == 0 {
            break;
        }
        let length = usize::try_from(size.unsigned_abs()).map_err(|_| KeytabError::Malformed {
            offset: start,
            reason: "entry size out of range",
        })?;
        let body = reader
            .take(length)
            .ok_or(KeytabError::Truncated(reader.position))?;
        if size < 0 {
            continue; // a hole left by a deleted entry
        }
        if entries.len() == MAX_ENTRIES {
            return Err(KeytabError::TooLarge(MAX_ENTRIES));
        }
        entries.push(parse_entry(body, version, order, start)?);
    }
    Ok(Keytab { version, entries })
}

fn parse_entry(
    body: &[u8],
    version: u8,
    order: ByteOrder,
    offset: usize,
) -> Result<KeytabEntry, KeytabError> {
    let malformed = |reason| KeytabError::Malformed { offset, reason };
    let mut r = Reader::new(body, order);
    let mut count = usize::from(r.u16().ok_or(malformed("no component count"))?);
    if version == 1 {
        count = count
            .checked_sub(1)
            .ok_or(malformed("component count 0 in a 0x0501 keytab"))?;
    }
    if count == 0 || count > MAX_COMPONENTS {
        return Err(malformed("component count out of range"));
    }
    let realm = r.counted_string().ok_or(malformed("bad realm"))?;
    let mut components = Vec::with_capacity(count);
    for _ in 0..count {
        components.push(r.counted_string().ok_or(malformed("bad name component"))?);
    }
    let name_type = if version == 1 {
        None
    } else {
        Some(r.u32().ok_or(malformed("no name type"))?)
    };
    let timestamp = r.u32().ok_or(malformed("no timestamp"))?;
    let kvno8 = r.u8().ok_or(malformed("no key version"))?;
    let enctype = r.u16().ok_or(malformed("no encryption type"))?;
    let key_len = usize::from(r.u16().ok_or(malformed("no key length"))?);
    r.take(key_len)
        .ok_or(malformed("key runs past the entry"))?;
    let kvno = match r.remaining() {
        4.. => r.u32().filter(|&v| v != 0).unwrap_or(u32::from(kvno8)),
        _ => u32::from(kvno8),
    };
    Ok(KeytabEntry {
        principal: Principal { components, realm },
        name_type,
        timestamp,
        kvno,
        enctype,
        key_len,
    })
}

/// Read and check the keytab an operator configured: a regular file (not a link), not
/// accessible to group or others, owned by `expected_owner` (the daemon's uid) or root, and a
/// well-formed keytab ([`wsman_safe::read_private_owned_by`]: judged on the opened file, the
/// bytes wiped when dropped). Blocking (file I/O).
pub fn read_keytab_file(path: &Path, expected_owner: u32) -> Result<Keytab, KeytabFileError> {
    use wsman_safe::PrivateFileError as Refused;
    // One byte over the parser's limit, so that a larger file is the parser's `TooLarge`.
    let limit = u64::try_from(MAX_KEYTAB_BYTES + 1).unwrap_or(u64::MAX);
    let data = wsman_safe::read_private_owned_by(path, limit, expected_owner).map_err(|error| {
        let path = path.to_owned();
        match error {
            Refused::Link | Refused::NotAFile => KeytabFileError::NotAFile(path),
            Refused::Mode { mode } => KeytabFileError::TooOpen { path, mode },
            Refused::Owner { owner, expected } => KeytabFileError::WrongOwner {
                path,
                owner,
                expected,
            },
            other => KeytabFileError::Read {
                path,
                source: other.into_io(),
            },
        }
    })?;
    parse_keytab(&data).map_err(|source| KeytabFileError::Format {
        path: path.to_owned(),
        source,
    })
}

#[derive(Debug, Clone, Copy)]
enum ByteOrder {
    Big,
    Little,
}

/// A cursor over a byte slice whose reads return `None` instead of running past the end.
struct Reader<'a> {
    data: &'a [u8],
    position: usize,
    order: ByteOrder,
}

/// The integer readers (`u16`, `u32`, `i32`) differ only in width: one body, in the reader's
/// byte order.
macro_rules! read_ints {
    ($($int:ident),*) => {$(
        fn $int(&mut self) -> Option<$int> {
            let bytes = self.array()?;
            Some(match self.order {
                ByteOrder::Big => $int::from_be_bytes(bytes),
                ByteOrder::Little => $int::from_le_bytes(bytes),
            })
        }
    )*};
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8], order: ByteOrder) -> Self {
        Self {
            data,
            position: 0,
            order,
        }
    }

    fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    fn remaining(&self) -> usize {
        self.data.len() - self.position
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.position.checked_add(n)?;
        let slice = self.data.get(self.position..end)?;
        self.position = end;
        Some(slice)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }

    read_ints!(u16, u32, i32);

    fn counted_string(&mut self) -> Option<String> {
        let len = usize::from(self.u16()?);
        if len > MAX_COMPONENT_BYTES {
            return None;
        }
        Some(String::from_utf8_lossy(self.take(len)?).into_owned())
    }
}

#[cfg(test)]
#[path = "keytab_tests.rs"]
mod tests;
