//! One PSRP codec: the layout of a fragment's and a message's header and the numbers of the
//! message types are written in wsman-proto's `shell/psrp.rs` and nowhere else in the
//! product, so that the server's bridge and the client read PowerShell remoting alike.

use wsman_test::binaries::{assert_none, workspace_root};

use super::routing::files_with;

const CODEC: &str = "crates/wsman-proto/src/shell/psrp.rs";

/// The numbers of the codec's table of message types (`pub const NAME: u32 = 0x…;` in its
/// `message_type` module).
fn message_types(codec: &str) -> Vec<u32> {
    let table = &codec[codec.find("pub mod message_type").expect("the table")..];
    let table = &table[..table.find("pub const ALL").expect("the list")];
    table
        .lines()
        .filter_map(|line| line.trim().strip_prefix("pub const "))
        .filter_map(|line| line.split("= 0x").nth(1))
        .map(|hex| {
            let digits = hex.trim_end_matches(';').replace('_', "");
            u32::from_str_radix(&digits, 16).expect("a hexadecimal number")
        })
        .collect()
}

/// How a number may be written in Rust: `0x0004_1006`, `0x00041006`, `0x41006`, any case.
fn spellings(n: u32) -> Vec<String> {
    let mut out = Vec::new();
    for hex in [
        format!("0x{:04x}_{:04x}", n >> 16, n & 0xffff),
        format!("0x{n:08x}"),
        format!("0x{n:x}"),
    ] {
        out.push(hex.to_ascii_uppercase().replace("0X", "0x"));
        out.push(hex);
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn psrp_numbers_are_written_in_the_codec_alone() {
    let codec = std::fs::read_to_string(workspace_root().join(CODEC)).expect("the codec");
    let kinds = message_types(&codec);
    assert_eq!(kinds.len(), 31, "the table of MS-PSRP 2.2.1");
    let mut needles: Vec<String> = kinds.into_iter().flat_map(spellings).collect();
    // The header layouts: their sizes, and the length field's place (bytes 17 to 21).
    needles
        .extend(["FRAGMENT_HEADER: usize", "MESSAGE_HEADER: usize", "17..21"].map(str::to_owned));
    for needle in needles {
        let outside: Vec<String> = files_with(&needle)
            .into_iter()
            .filter(|file| file != CODEC)
            .collect();
        assert_none(
            &format!("{needle} is written outside the PSRP codec ({CODEC})"),
            &outside,
        );
    }
}

#[test]
fn the_psrp_check_reads_the_table_and_every_spelling() {
    let table = "pub mod message_type {\n    pub const A: u32 = 0x0004_1006;\n    pub const B: u32 = 0x0002_100B;\n    pub const ALL";
    assert_eq!(message_types(table), [0x0004_1006, 0x0002_100B]);
    let all = spellings(0x0002_100B);
    for written in ["0x0002_100B", "0x0002_100b", "0x0002100B", "0x2100b"] {
        assert!(all.iter().any(|s| s == written), "{written}: {all:?}");
    }
}
