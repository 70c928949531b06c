//! Arbitrary bytes as what `pwsh -s` writes to the PowerShell bridge (it runs as the client's
//! user, so it is untrusted): each line as an out-of-process packet, and the whole as a stream
//! of PSRP fragments cut at an arbitrary point. Never a panic; a packet that parses writes
//! back as a line that parses to the same packet; the fragments cut are the input's prefix.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsman_proto::shell::psrp::{FragmentScanner, Packet};

fuzz_target!(|data: &[u8]| {
    for line in data.split(|b| *b == b'\n') {
        if let Ok(packet) = Packet::parse(line) {
            let again = packet.to_line();
            assert_eq!(Packet::parse(again.trim_end().as_bytes()), Ok(packet));
        }
    }
    let cut = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let mut scanner = FragmentScanner::default();
    let mut whole = Vec::new();
    if let Ok(fragments) = scanner.feed(&data[..cut]) {
        whole.extend(fragments.into_iter().flat_map(|f| f.bytes));
        if let Ok(fragments) = scanner.feed(&data[cut..]) {
            whole.extend(fragments.into_iter().flat_map(|f| f.bytes));
        }
    }
    assert!(data.starts_with(&whole));
});
