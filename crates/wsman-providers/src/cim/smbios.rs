//! The SMBIOS table (DMTF DSP0134) as the kernel exports it: `firmware/dmi/tables/DMI` and its
//! `smbios_entry_point` under the sysfs root. Only what the classes need is decoded: memory
//! devices (type 17) for CIM_PhysicalMemory and processors (type 4) for CIM_Processor's Family.
//!
//! The table is firmware data and is treated as untrusted: at most [`MAX_TABLE`] bytes are read
//! (and no more than the entry point announces), the walk stops at the end-of-table structure,
//! at the first structure that does not fit, or after [`MAX_STRUCTURES`]; every step moves
//! forward by at least a structure header, so it cannot loop. A field beyond a structure's
//! formatted length reads as absent (older SMBIOS versions have shorter structures).

use std::path::Path;

use super::sysfs::read_bounded;

/// Most bytes of the table read. Real tables are a few KiB; SMBIOS 3's 32-bit maximum would
/// let firmware ask for 4 GiB.
pub const MAX_TABLE: usize = 1 << 20;
/// Most structures decoded from one table.
pub const MAX_STRUCTURES: usize = 8192;
/// Longest entry point: 31 bytes (SMBIOS 2.1 `_SM_`), 24 (SMBIOS 3 `_SM3_`).
const MAX_ENTRY_POINT: u64 = 64;
/// Most strings of one structure: the string indexes are one byte.
const MAX_STRINGS: usize = 255;

/// The version and table size the entry point announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryPoint {
    pub major: u8,
    pub minor: u8,
    /// The table's length (2.1) or maximum length (3.0) in bytes.
    pub table_length: u32,
}

/// Reads the entry point: `_SM3_` (SMBIOS 3) or `_SM_` (2.1 and later, whose `_DMI_`
/// intermediate part carries the table length); `None` when neither anchor is there, it is
/// short, or its checksum is wrong.
pub fn parse_entry_point(bytes: &[u8]) -> Option<EntryPoint> {
    let checksum_ok = |part: &[u8]| part.iter().fold(0u8, |a, b| a.wrapping_add(*b)) == 0;
    if bytes.starts_with(b"_SM3_") {
        let length = usize::from(*bytes.get(6)?);
        let part = bytes.get(..length.max(0x18))?;
        checksum_ok(part).then(|| EntryPoint {
            major: part[7],
            minor: part[8],
            table_length: u32::from_le_bytes([part[12], part[13], part[14], part[15]]),
        })
    } else if bytes.starts_with(b"_SM_") {
        // The 2.1 entry point is 31 bytes; some firmware says 30 (a typo of an early
        // specification) and sums that many.
        let part = bytes.get(..0x1F)?;
        let summed = &part[..usize::from(part[5]).clamp(0x1E, 0x1F)];
        (checksum_ok(summed) && &part[0x10..0x15] == b"_DMI_").then(|| EntryPoint {
            major: part[6],
            minor: part[7],
            table_length: u32::from(u16::from_le_bytes([part[0x16], part[0x17]])),
        })
    } else {
        None
    }
}

/// One structure: its type, handle, formatted area (header included, so offsets are the
/// specification's) and strings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Structure {
    pub kind: u8,
    pub handle: u16,
    formatted: Vec<u8>,
    strings: Vec<String>,
}

impl Structure {
    pub fn byte(&self, offset: usize) -> Option<u8> {
        self.formatted.get(offset).copied()
    }

    pub fn word(&self, offset: usize) -> Option<u16> {
        let b = self.formatted.get(offset..offset + 2)?;
        Some(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn dword(&self, offset: usize) -> Option<u32> {
        let b = self.formatted.get(offset..offset + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The string the byte at `offset` numbers (1-based; 0 is "none"), trimmed; `None` when
    /// absent, empty or numbered past the strings.
    pub fn string(&self, offset: usize) -> Option<String> {
        let index = usize::from(self.byte(offset)?);
        let text = self.strings.get(index.checked_sub(1)?)?.trim();
        (!text.is_empty()).then(|| text.to_owned())
    }
}

/// Every structure of `table`, in table order, up to the end-of-table structure (type 127).
pub fn structures(table: &[u8]) -> Vec<Structure> {
    let table = &table[..table.len().min(MAX_TABLE)];
    let mut out = Vec::new();
    let mut at = 0usize;
    while out.len() < MAX_STRUCTURES {
        let Some(header) = table.get(at..at + 4) else {
            break;
        };
        let (kind, length) = (header[0], usize::from(header[1]));
        let handle = u16::from_le_bytes([header[2], header[3]]);
        // A formatted area shorter than its own header is corrupt; nothing after it can be
        // trusted to start where it seems to.
        if length < 4 {
            break;
        }
        let Some(formatted) = table.get(at..at + length) else {
            break;
        };
        // The strings end with two NULs (a structure without strings has just those two).
        let rest = &table[at + length..];
        let Some(end) = rest.windows(2).position(|w| w == [0, 0]) else {
            break;
        };
        let strings = if end == 0 {
            Vec::new()
        } else {
            rest[..end]
                .split(|b| *b == 0)
                .take(MAX_STRINGS)
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        };
        out.push(Structure {
            kind,
            handle,
            formatted: formatted.to_vec(),
            strings,
        });
        if kind == 127 {
            break;
        }
        at += length + end + 2;
    }
    out
}

/// One memory device (type 17) with a module installed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryDevice {
    pub handle: u16,
    /// Where the module sits on the board (`DIMM 0`).
    pub locator: Option<String>,
    /// The bank (`P0 CHANNEL A`).
    pub bank_locator: Option<String>,
    /// `None` when the firmware says the size is unknown.
    pub size_bytes: Option<u64>,
    pub total_width: Option<u16>,
    pub data_width: Option<u16>,
    /// SMBIOS' form factor code (9 DIMM, 13 SODIMM).
    pub form_factor: u8,
    /// SMBIOS' memory type code (26 DDR4).
    pub memory_type: u8,
    /// Maximum speed in MT/s.
    pub speed: Option<u32>,
    /// The speed the memory controller runs it at, in MT/s.
    pub configured_speed: Option<u32>,
    pub manufacturer: Option<String>,
    pub serial_number: Option<String>,
    pub asset_tag: Option<String>,
    pub part_number: Option<String>,
}

/// A width field: 0xFFFF is unknown.
fn width(value: Option<u16>) -> Option<u16> {
    value.filter(|w| *w != 0xFFFF)
}

/// A speed field (MT/s): 0 is unknown; 0xFFFF says the extended dword at `extended` holds it.
fn speed(s: &Structure, offset: usize, extended: usize) -> Option<u32> {
    match s.word(offset)? {
        0 => None,
        0xFFFF => s
            .dword(extended)
            .map(|v| v & 0x7FFF_FFFF)
            .filter(|v| *v != 0),
        v => Some(u32::from(v)),
    }
}

impl MemoryDevice {
    /// A type-17 structure; `None` for another type or an empty socket (size 0).
    pub fn from_structure(s: &Structure) -> Option<Self> {
        if s.kind != 17 {
            return None;
        }
        let size_bytes = match s.word(0x0C)? {
            0 => return None,
            0xFFFF => None,
            // 0x7FFF: the size in MiB is in the extended size dword (SMBIOS 2.7).
            0x7FFF => s.dword(0x1C).map(|mib| u64::from(mib & 0x7FFF_FFFF) << 20),
            // Bit 15 set: the unit is KiB, else MiB.
            v if v & 0x8000 != 0 => Some(u64::from(v & 0x7FFF) << 10),
            v => Some(u64::from(v) << 20),
        };
        Some(MemoryDevice {
            handle: s.handle,
            locator: s.string(0x10),
            bank_locator: s.string(0x11),
            size_bytes,
            total_width: width(s.word(0x08)),
            data_width: width(s.word(0x0A)),
            form_factor: s.byte(0x0E).unwrap_or(2),
            memory_type: s.byte(0x12).unwrap_or(2),
            speed: speed(s, 0x15, 0x54),
            configured_speed: speed(s, 0x20, 0x58),
            manufacturer: s.string(0x17),
            serial_number: s.string(0x18),
            asset_tag: s.string(0x19),
            part_number: s.string(0x1A),
        })
    }
}

/// One processor socket (type 4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessorSocket {
    pub handle: u16,
    pub socket: Option<String>,
    /// SMBIOS' processor family (the word of SMBIOS 2.6 when the byte says 0xFE), which
    /// CIM_Processor.Family's value map follows.
    pub family: u16,
    /// A processor is in the socket.
    pub populated: bool,
}

impl ProcessorSocket {
    pub fn from_structure(s: &Structure) -> Option<Self> {
        if s.kind != 4 {
            return None;
        }
        let family = match s.byte(0x06)? {
            0xFE => s.word(0x28).unwrap_or(2),
            f => u16::from(f),
        };
        Some(ProcessorSocket {
            handle: s.handle,
            socket: s.string(0x04),
            family,
            populated: s.byte(0x18).is_some_and(|status| status & 0x40 != 0),
        })
    }
}

/// The decoded parts of one table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Smbios {
    pub memory: Vec<MemoryDevice>,
    pub processors: Vec<ProcessorSocket>,
}

/// Decodes a table given its entry point; nothing when the entry point is not valid. The
/// table is cut to the length the entry point announces.
pub fn parse(entry_point: &[u8], table: &[u8]) -> Smbios {
    let Some(entry) = parse_entry_point(entry_point) else {
        return Smbios::default();
    };
    let announced = usize::try_from(entry.table_length).unwrap_or(usize::MAX);
    let table = &table[..table.len().min(announced).min(MAX_TABLE)];
    let structures = structures(table);
    Smbios {
        memory: structures
            .iter()
            .filter_map(MemoryDevice::from_structure)
            .collect(),
        processors: structures
            .iter()
            .filter_map(ProcessorSocket::from_structure)
            .collect(),
    }
}

/// The table of the sysfs at `root` (`firmware/dmi/tables`), decoded; empty when the host has
/// none (no DMI, a VM without it) or the daemon may not read it (the kernel makes it
/// root-only).
pub fn read(root: &Path) -> Smbios {
    let dir = root.join("firmware/dmi/tables");
    let Some(entry_point) = read_bounded(&dir.join("smbios_entry_point"), MAX_ENTRY_POINT) else {
        return Smbios::default();
    };
    let Some(table) = read_bounded(&dir.join("DMI"), MAX_TABLE as u64) else {
        return Smbios::default();
    };
    parse(&entry_point, &table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A structure of `kind` with `formatted` after its header, and `strings`.
    fn structure(kind: u8, handle: u16, formatted: &[u8], strings: &[&str]) -> Vec<u8> {
        let mut out = vec![kind, (formatted.len() + 4) as u8];
        out.extend(handle.to_le_bytes());
        out.extend(formatted);
        for s in strings {
            out.extend(s.as_bytes());
            out.push(0);
        }
        if strings.is_empty() {
            out.push(0);
        }
        out.push(0);
        out
    }

    fn entry_point_3(length: u32) -> Vec<u8> {
        let mut ep = b"_SM3_".to_vec();
        ep.extend([0, 0x18, 3, 2, 0, 1, 0]);
        ep.extend(length.to_le_bytes());
        ep.extend(0u64.to_le_bytes());
        let sum = ep.iter().fold(0u8, |a, b| a.wrapping_add(*b));
        ep[5] = 0u8.wrapping_sub(sum);
        ep
    }

    #[test]
    fn a_bad_checksum_or_anchor_is_no_entry_point() {
        let mut ep = entry_point_3(100);
        assert_eq!(
            parse_entry_point(&ep),
            Some(EntryPoint {
                major: 3,
                minor: 2,
                table_length: 100
            })
        );
        ep[9] ^= 1;
        assert_eq!(parse_entry_point(&ep), None);
        assert_eq!(parse_entry_point(b"_SM3"), None);
        assert_eq!(parse_entry_point(b""), None);
    }

    #[test]
    fn sizes_in_kib_mib_and_extended() {
        let mut formatted = vec![0u8; 0x24];
        let mut size = |word: u16, extended: u32| {
            formatted[0x0C - 4..0x0E - 4].copy_from_slice(&word.to_le_bytes());
            formatted[0x1C - 4..0x20 - 4].copy_from_slice(&extended.to_le_bytes());
            let s = &structures(&structure(17, 1, &formatted, &[]))[0];
            MemoryDevice::from_structure(s).map(|m| m.size_bytes)
        };
        assert_eq!(size(0, 0), None);
        assert_eq!(size(0xFFFF, 0), Some(None));
        assert_eq!(size(8192, 0), Some(Some(8 << 30)));
        assert_eq!(size(0x8000 | 512, 0), Some(Some(512 << 10)));
        assert_eq!(size(0x7FFF, 65536), Some(Some(64 << 30)));
    }

    #[test]
    fn the_walk_stops_at_end_of_table_and_at_a_short_header() {
        let mut table = structure(4, 1, &[1, 0xB4], &["CPU0"]);
        table.extend(structure(127, 2, &[], &[]));
        table.extend(structure(4, 3, &[1, 0xB4], &[]));
        let got = structures(&table);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].string(4), Some("CPU0".to_owned()));
        assert_eq!(got[1].kind, 127);
        assert!(structures(&[4, 2, 0, 0, 0, 0]).is_empty());
    }

    proptest! {
        #[test]
        fn any_bytes_parse_without_panic(ep in proptest::collection::vec(any::<u8>(), 0..40),
                                         table in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let _ = parse(&ep, &table);
            let walked = structures(&table);
            // Every structure takes at least its four header bytes and two terminators.
            prop_assert!(walked.len() <= table.len() / 6 + 1);
        }

        #[test]
        fn a_table_of_well_formed_structures_walks_back_to_them(
            parts in proptest::collection::vec(
                (0u8..127, any::<u16>(), proptest::collection::vec(any::<u8>(), 0..40),
                 proptest::collection::vec("[a-zA-Z0-9 ]{1,12}", 0..4)),
                0..20)
        ) {
            let mut table = Vec::new();
            for (kind, handle, formatted, strings) in &parts {
                let strings: Vec<&str> = strings.iter().map(String::as_str).collect();
                table.extend(structure(*kind, *handle, formatted, &strings));
            }
            let walked = structures(&table);
            prop_assert_eq!(walked.len(), parts.len());
            for (s, (kind, handle, formatted, strings)) in walked.iter().zip(&parts) {
                prop_assert_eq!(s.kind, *kind);
                prop_assert_eq!(s.handle, *handle);
                prop_assert_eq!(&s.formatted[4..], &formatted[..]);
                for (i, text) in strings.iter().enumerate() {
                    let trimmed = text.trim();
                    let expected = (!trimmed.is_empty()).then(|| trimmed.to_owned());
                    let mut probe = s.clone();
                    probe.formatted.push((i + 1) as u8);
                    let at = probe.formatted.len() - 1;
                    prop_assert_eq!(probe.string(at), expected);
                }
            }
        }
    }
}
