//! Arbitrary bytes through the one PSRP codec (wsman-proto's `shell::psrp`), as what `pwsh -s`
//! writes to the PowerShell bridge (it runs as the client's user, so it is untrusted): each
//! line as an out-of-process packet, and the whole as a stream of PSRP fragments cut at an
//! arbitrary point, as a fragment header and as a message. Never a panic; a packet, a header
//! and a message that parse write back as what parses to the same; the fragments cut are the
//! input's prefix, in any cut, and the scanner's state stays within its caps.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsman_proto::shell::psrp::{
    split, FragmentHeader, FragmentScanner, Message, Packet, FRAGMENT_HEADER, MAX_FRAGMENT,
    MAX_OPEN,
};

fuzz_target!(|data: &[u8]| {
    for line in data.split(|b| *b == b'\n') {
        if let Ok(packet) = Packet::parse(line) {
            let again = packet.to_line();
            assert_eq!(Packet::parse(again.trim_end().as_bytes()), Ok(packet));
        }
    }
    if let Some(header) = FragmentHeader::parse(data) {
        let blob = &data[FRAGMENT_HEADER..];
        let again = header.fragment(blob);
        let read = FragmentHeader::parse(&again).expect("a written header reads");
        assert_eq!((read.object_id, read.fragment_id), (header.object_id, header.fragment_id));
        assert_eq!((read.start, read.end, read.blob_len), (header.start, header.end, blob.len()));
        let size = usize::from(data[16]);
        if let Some((head, rest)) = split(&again, size) {
            assert_eq!(head.len() + rest.len(), again.len() + FRAGMENT_HEADER);
        }
    }
    if let Ok(message) = Message::parse(data) {
        assert_eq!(message.to_bytes(), data);
    }
    let cut = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let mut scanner = FragmentScanner::default();
    let mut whole = Vec::new();
    if let Ok(fragments) = scanner.feed(&data[..cut]) {
        whole.extend(fragments.into_iter().flat_map(|f| f.bytes));
        if let Ok(fragments) = scanner.feed(&data[cut..]) {
            whole.extend(fragments.into_iter().flat_map(|f| f.bytes));
            // What is held is one fragment still incomplete.
            assert!(scanner.pending() < FRAGMENT_HEADER + MAX_FRAGMENT);
        }
    }
    assert!(data.starts_with(&whole));
    assert!(scanner.open() <= MAX_OPEN);
});
