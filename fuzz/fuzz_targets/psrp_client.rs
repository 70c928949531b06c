//! Arbitrary bytes as the `stdout` of a Receive of a PowerShell shell, which a client reads
//! from a server it may not trust: cut at an arbitrary point and fed to a client's reader of
//! PSRP fragments, messages and their CLIXML. Never a panic; the same bytes in one piece give
//! the same messages as in two (the reassembly does not depend on where Receives cut). Seeds:
//! the `stdout` of the recorded Windows answers in wsman-proto's `psrp-receive.*` fixtures.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsman_proto::shell::psrp_client::{Defragmenter, Message, PoolClient, PsEvent};

fuzz_target!(|data: &[u8]| {
    let cut = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let mut whole = Defragmenter::default();
    let at_once = whole.feed(data);
    let mut split = Defragmenter::default();
    let in_two = split
        .feed(&data[..cut])
        .and_then(|mut first| {
            first.extend(split.feed(&data[cut..])?);
            Ok(first)
        });
    if let (Ok(a), Ok(b)) = (&at_once, &in_two) {
        assert_eq!(a, b);
    }
    for message in at_once.into_iter().flatten() {
        let _ = PsEvent::from_message(&message);
    }
    let _ = Message::parse(data).map(|m| PsEvent::from_message(&m));
    let _ = PoolClient::new(Default::default(), 64).receive(data);
});
