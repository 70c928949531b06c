#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;

/// A PSRP fragment as MS-PSRP 2.2.4 lays it out, holding a message of `kind` (2.2.1) when
/// `start` is set.
fn fragment(object: u64, id: u64, start: bool, end: bool, blob: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&object.to_be_bytes());
    out.extend_from_slice(&id.to_be_bytes());
    out.push(u8::from(start) | (u8::from(end) << 1));
    out.extend_from_slice(&(blob.len() as u32).to_be_bytes());
    out.extend_from_slice(blob);
    out
}

fn message(kind: u32, body: &[u8]) -> Vec<u8> {
    let mut out = 1u32.to_le_bytes().to_vec();
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&[0x11; 32]);
    out.extend_from_slice(body);
    out
}

/// Lines written by PyPI's psrpcore-based stand-in of pwsh -s and by PowerShell's own
/// `OutOfProcessUtils` format strings (`<{0} {1}='{2}' />`).
#[test]
fn packets_parse_as_pwsh_writes_them() {
    let g = Uuid::parse_str("6e2f4bd3-59a0-4d4e-9d2b-4bd0f2c1c0a1").unwrap();
    assert_eq!(
        Packet::parse(b"<DataAck PSGuid='6e2f4bd3-59a0-4d4e-9d2b-4bd0f2c1c0a1' />").unwrap(),
        Packet::DataAck(g)
    );
    assert_eq!(
        Packet::parse(b"<Data Stream='PromptResponse' PSGuid='6e2f4bd3-59a0-4d4e-9d2b-4bd0f2c1c0a1'>AAEC</Data>")
            .unwrap(),
        Packet::Data {
            stream: DataStream::PromptResponse,
            guid: g,
            data: vec![0, 1, 2]
        }
    );
    for (line, want) in [
        (
            "<CommandAck PSGuid='6e2f4bd3-59a0-4d4e-9d2b-4bd0f2c1c0a1' />",
            Packet::CommandAck(g),
        ),
        (
            "<SignalAck PSGuid='6e2f4bd3-59a0-4d4e-9d2b-4bd0f2c1c0a1' />",
            Packet::SignalAck(g),
        ),
        (
            "<CloseAck PSGuid='6e2f4bd3-59a0-4d4e-9d2b-4bd0f2c1c0a1' />",
            Packet::CloseAck(g),
        ),
    ] {
        assert_eq!(Packet::parse(line.as_bytes()).unwrap(), want);
        assert_eq!(want.to_line(), format!("{line}\n"));
    }
    for bad in [
        &b"garbage"[..],
        b"<Data PSGuid='6e2f4bd3-59a0-4d4e-9d2b-4bd0f2c1c0a1'>AA==</Data>",
        b"<Data Stream='Default' PSGuid='x'>AA==</Data>",
        b"<Data Stream='Default' PSGuid='6e2f4bd3-59a0-4d4e-9d2b-4bd0f2c1c0a1'>!!</Data>",
        b"<Other PSGuid='6e2f4bd3-59a0-4d4e-9d2b-4bd0f2c1c0a1' />",
        b"<Close PSGuid='6e2f4bd3-59a0-4d4e-9d2b-4bd0f2c1c0a1' Extra='1' />",
        b"\xff\xfe",
    ] {
        assert!(Packet::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn a_pipeline_ends_with_the_last_fragment_of_its_state_message() {
    let state = message(PIPELINE_STATE, b"<Obj/>");
    let output = message(0x0004_1004, b"<S>1</S>");
    let mut stream = fragment(1, 0, true, true, &output);
    stream.extend(fragment(2, 0, true, false, &state[..20]));
    stream.extend(fragment(2, 1, false, true, &state[20..]));
    let mut scanner = FragmentScanner::default();
    // Fed in two pieces that cut a fragment's header.
    let mut got = scanner.feed(&stream[..75]).unwrap();
    assert_eq!(got.len(), 1);
    got.extend(scanner.feed(&stream[75..]).unwrap());
    assert_eq!(scanner.pending(), 0);
    let kinds: Vec<_> = got
        .iter()
        .map(|f| (f.message_type, f.ends_pipeline))
        .collect();
    assert_eq!(
        kinds,
        [
            (Some(0x0004_1004), false),
            (Some(PIPELINE_STATE), false),
            (None, true)
        ]
    );
    assert_eq!(
        got.iter().map(|f| f.bytes.len()).sum::<usize>(),
        stream.len()
    );
}

#[test]
fn oversized_and_headless_fragments_are_refused() {
    let mut scanner = FragmentScanner::default();
    let mut big = fragment(1, 0, true, true, b"");
    let blob_len = (MAX_FRAGMENT + 1) as u32;
    big[FRAGMENT_HEADER - 4..FRAGMENT_HEADER].copy_from_slice(&blob_len.to_be_bytes());
    assert!(matches!(scanner.feed(&big), Err(FragmentError::TooLong(_))));
    let mut scanner = FragmentScanner::default();
    assert_eq!(
        scanner.feed(&fragment(1, 0, true, true, b"abc")),
        Err(FragmentError::NoHeader)
    );
}

proptest! {
    /// Any bytes, cut anywhere: no panic, and what comes out is a prefix of what went in.
    #[test]
    fn scanner_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400), cut in 0usize..400) {
        let mut scanner = FragmentScanner::default();
        let cut = cut.min(data.len());
        let mut out = Vec::new();
        if let Ok(f) = scanner.feed(&data[..cut]) {
            out.extend(f);
            if let Ok(f) = scanner.feed(&data[cut..]) {
                out.extend(f);
            }
        }
        let joined: Vec<u8> = out.into_iter().flat_map(|f| f.bytes).collect();
        prop_assert!(data.starts_with(&joined));
    }

    #[test]
    fn packet_parse_never_panics(line in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Packet::parse(&line);
    }

    #[test]
    fn data_packets_round_trip(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let p = Packet::Data { stream: DataStream::Default, guid: Uuid::nil(), data };
        let line = p.to_line();
        prop_assert_eq!(Packet::parse(line.trim_end().as_bytes()).unwrap(), p);
    }
}
