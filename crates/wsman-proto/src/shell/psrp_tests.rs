#![allow(clippy::unwrap_used)]

use base64::Engine as _;
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
    let state = message(message_type::PIPELINE_STATE, b"<Obj/>");
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
            (Some(message_type::PIPELINE_STATE), false),
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

/// The codec's table, held to psrpcore's (fixtures' README: provenance): the same numbers
/// under the same names, every one of them.
#[test]
fn every_message_type_is_psrpcores() {
    let recorded = psrpcore_messages();
    let theirs: std::collections::BTreeSet<u32> = recorded.iter().map(|m| m.1).collect();
    let ours: std::collections::BTreeSet<u32> = message_type::ALL.iter().map(|t| t.0).collect();
    assert_eq!(ours, theirs);
    assert_eq!(ours.len(), message_type::ALL.len(), "a number twice");
    for (name, kind, _, _) in &recorded {
        let ours = message_type::name(*kind).unwrap().replace('_', "");
        assert!(
            ours.eq_ignore_ascii_case(name),
            "{kind:#x}: {ours} / {name}"
        );
    }
}

/// Each type's message, as psrpcore writes it, decodes to its type, destination and ids, and
/// the codec writes the same bytes back.
#[test]
fn each_message_type_decodes_and_encodes_as_psrpcore_does() {
    let rpid = Uuid::parse_str("6e2f4bd3-59a0-4d4e-9d2b-4bd0f2c1c0a1").unwrap();
    let pid = Uuid::parse_str("e888e1df-c962-41d6-befd-f2c82d0abcca").unwrap();
    for (name, kind, destination, bytes) in psrpcore_messages() {
        let mut scanner = FragmentScanner::default();
        let fragments = scanner.feed(&bytes).unwrap();
        assert_eq!((scanner.pending(), scanner.open()), (0, 0), "{name}");
        assert_eq!(fragments[0].message_type, Some(kind), "{name}");
        let mut whole = Vec::new();
        for f in &fragments {
            let blob = &f.bytes[FRAGMENT_HEADER..];
            assert_eq!(f.header.fragment(blob), f.bytes, "{name}");
            whole.extend_from_slice(blob);
        }
        let last = fragments.last().unwrap();
        assert!(last.header.end);
        assert_eq!(
            last.ends_pipeline,
            kind == message_type::PIPELINE_STATE,
            "{name}"
        );
        let message = Message::parse(&whole).unwrap();
        assert_eq!(message.message_type, kind);
        assert_eq!(message.destination, destination, "{name}");
        assert_eq!(message.rpid, rpid);
        let pipeline = kind & 0x0004_0000 != 0;
        assert_eq!(message.pid, if pipeline { pid } else { Uuid::nil() });
        assert_eq!(message.to_bytes(), whole, "{name}");
        if fragments.len() == 1 {
            let mut ours = Fragmenter::new(MAX_FRAGMENT);
            let mut again = ours.fragments(&message).remove(0);
            renumber(&mut again, fragments[0].header.object_id, 0);
            assert_eq!(again, bytes, "{name}");
        }
    }
}

/// Every fragment of the recorded Windows exchanges (pypsrp with Windows; the fixtures'
/// README) is cut by the codec into messages of known types.
#[test]
fn every_recorded_windows_fragment_is_of_a_known_type() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/windows/shell");
    let mut seen = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("psrp-") {
            continue;
        }
        let xml = std::fs::read_to_string(&path).unwrap();
        for data in psrp_payloads(&xml) {
            let mut scanner = FragmentScanner::default();
            let fragments = scanner.feed(&data).unwrap();
            assert_eq!(scanner.pending(), 0, "{name}");
            for kind in fragments.iter().filter_map(|f| f.message_type) {
                assert!(message_type::name(kind).is_some(), "{name}: {kind:#x}");
                seen.insert(kind);
            }
        }
    }
    // The recordings hold at least the pool's opening and a pipeline's run.
    for kind in [
        message_type::SESSION_CAPABILITY,
        message_type::INIT_RUNSPACEPOOL,
        message_type::CREATE_PIPELINE,
        message_type::RUNSPACEPOOL_STATE,
        message_type::PIPELINE_STATE,
        message_type::PIPELINE_OUTPUT,
    ] {
        assert!(seen.contains(&kind), "{kind:#x} not in the recordings");
    }
}

/// 100,000 messages begun and never ended (a script can write any bytes): refused at the
/// cap, holding no more than it.
#[test]
fn open_messages_are_capped() {
    let mut stream = Vec::new();
    for object in 0..100_000u64 {
        stream.extend(fragment(object, 0, true, false, &message(0x0004_1004, b"")));
    }
    let mut scanner = FragmentScanner::default();
    assert_eq!(
        scanner.feed(&stream),
        Err(FragmentError::TooManyOpen(MAX_OPEN))
    );
    assert_eq!(scanner.open(), MAX_OPEN);
    // Ended messages leave the set: as many as wanted, one after the other.
    let mut scanner = FragmentScanner::with_max_open(1);
    let mut stream = Vec::new();
    for object in 0..1000u64 {
        stream.extend(fragment(object, 0, true, false, &message(0x0004_1004, b"")));
        stream.extend(fragment(object, 1, false, true, b"x"));
    }
    assert_eq!(scanner.feed(&stream).unwrap().len(), 2000);
    assert_eq!(scanner.open(), 0);
}

#[test]
fn fragments_out_of_order_are_refused() {
    let m = message(0x0004_1004, b"");
    for (bad, expected) in [
        (fragment(1, 1, false, true, b"x"), 0),
        (fragment(1, 1, true, true, &m), 0),
    ] {
        let got = FragmentScanner::default().feed(&bad);
        assert!(
            matches!(got, Err(FragmentError::OutOfOrder { expected: e, .. }) if e == expected),
            "{got:?}"
        );
    }
    let mut scanner = FragmentScanner::default();
    scanner.feed(&fragment(1, 0, true, false, &m)).unwrap();
    for bad in [
        fragment(1, 2, false, true, b"x"),
        fragment(1, 0, true, true, &m),
    ] {
        assert!(matches!(
            scanner.feed(&bad),
            Err(FragmentError::OutOfOrder { .. })
        ));
    }
}

/// Every cut of a fragment gives two fragments whose blobs join to the original's, with
/// consecutive ids, the start flag on the head only and the end flag on the rest only.
#[test]
fn every_split_keeps_the_blob_and_numbers_the_rest_next() {
    for (start, end) in [(true, true), (true, false), (false, true), (false, false)] {
        let blob: Vec<u8> = (0..40u8).collect();
        let whole = fragment(7, 3, start, end, &blob);
        for size in 0..whole.len() + 2 {
            let Some((head, rest)) = split(&whole, size) else {
                assert!(size <= FRAGMENT_HEADER || size >= whole.len(), "{size}");
                continue;
            };
            assert_eq!(head.len(), size);
            let h = FragmentHeader::parse(&head).unwrap();
            let r = FragmentHeader::parse(&rest).unwrap();
            assert_eq!(
                (h.object_id, h.fragment_id, h.start, h.end),
                (7, 3, start, false)
            );
            assert_eq!(
                (r.object_id, r.fragment_id, r.start, r.end),
                (7, 4, false, end)
            );
            assert_eq!(h.blob_len + FRAGMENT_HEADER, head.len());
            assert_eq!(r.blob_len + FRAGMENT_HEADER, rest.len());
            let mut joined = head[FRAGMENT_HEADER..].to_vec();
            joined.extend_from_slice(&rest[FRAGMENT_HEADER..]);
            assert_eq!(joined, blob);
        }
    }
}

/// The fuzz target's find: a fragment whose id is the last one (pwsh writes the ids) cannot be
/// cut, since its rest would have no next id; refused, never an overflow.
#[test]
fn a_fragment_with_the_last_id_is_not_split() {
    let whole = fragment(7, u64::MAX, true, true, &[1; 40]);
    assert_eq!(split(&whole, FRAGMENT_HEADER + 10), None);
    let whole = fragment(7, u64::MAX - 1, true, true, &[1; 40]);
    let (_, rest) = split(&whole, FRAGMENT_HEADER + 10).expect("the next id exists");
    assert_eq!(FragmentHeader::parse(&rest).unwrap().fragment_id, u64::MAX);
}

#[test]
fn renumbering_rewrites_only_the_ids() {
    let mut f = fragment(
        1,
        0,
        true,
        true,
        &message(message_type::PIPELINE_STATE, b"<Obj/>"),
    );
    let before = f.clone();
    renumber(&mut f, 9, 2);
    let h = FragmentHeader::parse(&f).unwrap();
    assert_eq!(
        (h.object_id, h.fragment_id, h.start, h.end),
        (9, 2, true, true)
    );
    assert_eq!(f[16..], before[16..]);
}

/// The lines of the fixture of psrpcore's messages: name, type, destination, fragments.
fn psrpcore_messages() -> Vec<(String, u32, u32, Vec<u8>)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/psrpcore/messages.txt"
    );
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let kind = u32::from_str_radix(fields[1].trim_start_matches("0x"), 16).unwrap();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(fields[3])
                .unwrap();
            (
                fields[0].to_owned(),
                kind,
                fields[2].parse().unwrap(),
                bytes,
            )
        })
        .collect()
}

/// The PSRP data of a recorded message: its `creationXml`, `connectXml`,
/// `connectResponseXml`, Command `Arguments` and stream texts.
fn psrp_payloads(xml: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for tag in [
        "<creationXml",
        "<connectXml",
        "<connectResponseXml",
        "<rsp:Arguments",
        "<rsp:Stream",
    ] {
        let mut rest = xml;
        while let Some(at) = rest.find(tag) {
            rest = &rest[at..];
            let open_end = rest.find('>').unwrap();
            let self_closing = rest[..open_end].ends_with('/');
            rest = &rest[open_end + 1..];
            if self_closing {
                continue;
            }
            let text = &rest[..rest.find('<').unwrap()];
            if !text.trim().is_empty() {
                out.push(
                    base64::engine::general_purpose::STANDARD
                        .decode(text.trim())
                        .unwrap(),
                );
            }
        }
    }
    out
}

proptest! {
    /// Any header's fields are read back as written.
    #[test]
    fn headers_round_trip(object_id in any::<u64>(), fragment_id in any::<u64>(), start in any::<bool>(), end in any::<bool>(), blob in proptest::collection::vec(any::<u8>(), 0..64)) {
        let header = FragmentHeader { object_id, fragment_id, start, end, blob_len: blob.len() };
        let bytes = header.fragment(&blob);
        prop_assert_eq!(FragmentHeader::parse(&bytes), Some(header));
        prop_assert_eq!(&bytes[FRAGMENT_HEADER..], &blob[..]);
    }

    /// Any bytes: the scanner's state stays within its caps, and the fragments it gives
    /// do not depend on where the stream is cut.
    #[test]
    fn scanner_state_is_bounded_and_cut_independent(
        data in proptest::collection::vec(any::<u8>(), 0..2000),
        cut in 0usize..2000,
    ) {
        let cut = cut.min(data.len());
        let mut once = FragmentScanner::with_max_open(4);
        let whole = once.feed(&data);
        prop_assert!(once.open() <= 4);
        prop_assert!(once.pending() <= FRAGMENT_HEADER + MAX_FRAGMENT);
        let mut twice = FragmentScanner::with_max_open(4);
        let parts = twice.feed(&data[..cut]).and_then(|mut a| {
            a.extend(twice.feed(&data[cut..])?);
            Ok(a)
        });
        if let (Ok(a), Ok(b)) = (&whole, &parts) {
            prop_assert_eq!(a, b);
        }
    }

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
