//! GUIDs as Windows event XML writes them, and the provider GUID derived from a name.

use std::fmt;

use sha1::{Digest, Sha1};

/// A GUID in Windows' byte order (Data1..Data3 little-endian, as `GUID` is laid out).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Guid([u8; 16]);

/// The namespace of ETW's name-based provider GUIDs (EventSource and TraceLogging).
const PROVIDER_NAMESPACE: [u8; 16] = [
    0x48, 0x2C, 0x2D, 0xB2, 0xC3, 0x90, 0x47, 0xC8, 0x87, 0xF8, 0x1A, 0x15, 0xBF, 0xC1, 0x30, 0xFB,
];

impl Guid {
    /// The GUID ETW derives from a provider name (what .NET's EventSource and TraceLogging
    /// compute: SHA-1 over a fixed namespace and the upper-cased name in big-endian UTF-16,
    /// version 5). A journal identifier thereby gets the GUID a Windows tool would expect for a
    /// provider of that name, and the same one on every host.
    pub fn for_provider_name(name: &str) -> Guid {
        let mut hasher = Sha1::new();
        hasher.update(PROVIDER_NAMESPACE);
        for unit in name.to_uppercase().encode_utf16() {
            hasher.update(unit.to_be_bytes());
        }
        let digest = hasher.finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        bytes[7] = (bytes[7] & 0x0F) | 0x50;
        Guid(bytes)
    }

    /// A GUID from 32 hex digits in the canonical big-endian text order (how systemd writes
    /// invocation and boot ids), `None` for anything else.
    pub fn from_hex_text(hex: &str) -> Option<Guid> {
        let digits: Vec<u8> = hex.bytes().filter(|&b| b != b'-').collect();
        if digits.len() != 32 {
            return None;
        }
        let mut text_order = [0u8; 16];
        for (i, pair) in digits.chunks(2).enumerate() {
            let pair = std::str::from_utf8(pair).ok()?;
            text_order[i] = u8::from_str_radix(pair, 16).ok()?;
        }
        // Text order is Data1..Data3 big-endian; Windows' layout keeps them little-endian.
        let mut bytes = text_order;
        bytes[0..4].reverse();
        bytes[4..6].reverse();
        bytes[6..8].reverse();
        Some(Guid(bytes))
    }

    fn data1(&self) -> u32 {
        u32::from_le_bytes([self.0[0], self.0[1], self.0[2], self.0[3]])
    }
    fn data2(&self) -> u16 {
        u16::from_le_bytes([self.0[4], self.0[5]])
    }
    fn data3(&self) -> u16 {
        u16::from_le_bytes([self.0[6], self.0[7]])
    }
}

/// `{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}`, upper case, as in `Provider/@Guid`.
impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{{{:08X}-{:04X}-{:04X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}}}",
            self.data1(),
            self.data2(),
            self.data3(),
            b[8],
            b[9],
            b[10],
            b[11],
            b[12],
            b[13],
            b[14],
            b[15]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_guid_matches_tracelogging_documentation() {
        // TraceLoggingProvider.h's documented example: "MyCompany.MyComponent" is
        // {ce5fa4ea-ab00-5402-8b76-9f76ac858fb5}.
        assert_eq!(
            Guid::for_provider_name("MyCompany.MyComponent").to_string(),
            "{CE5FA4EA-AB00-5402-8B76-9F76AC858FB5}"
        );
        // Case does not matter: the name is upper-cased first.
        assert_eq!(
            Guid::for_provider_name("mycompany.mycomponent"),
            Guid::for_provider_name("MyCompany.MyComponent")
        );
    }

    #[test]
    fn hex_text_round_trips_through_display() {
        let guid = Guid::from_hex_text("0f8fad5b-d9cb-469f-a165-70867728950e").unwrap();
        assert_eq!(guid.to_string(), "{0F8FAD5B-D9CB-469F-A165-70867728950E}");
        let compact = Guid::from_hex_text("0f8fad5bd9cb469fa16570867728950e").unwrap();
        assert_eq!(guid, compact);
        assert_eq!(Guid::from_hex_text("xyz"), None);
        assert_eq!(Guid::from_hex_text(&"g".repeat(32)), None);
    }
}
