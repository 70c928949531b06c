#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use proptest::prelude::*;

use super::*;
use crate::shell::read_receive_envelope_bytes;

/// A recorded exchange of pypsrp with Windows (fixtures' README: provenance and licence).
fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/windows/shell/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).unwrap()
}

/// The base64 text of the first element `tag` (an opening tag's prefix) of a recorded message.
fn base64_in(xml: &str, tag: &str) -> Vec<u8> {
    let start = xml.find(tag).unwrap();
    let text = &xml[start..];
    let text = &text[text.find('>').unwrap() + 1..];
    let text = &text[..text.find('<').unwrap()];
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

/// The `stdout` bytes of a recorded Windows ReceiveResponse.
fn received(name: &str) -> Vec<u8> {
    let envelope = read_receive_envelope_bytes(fixture(name).as_bytes()).unwrap();
    envelope
        .response
        .streams
        .into_iter()
        .filter(|s| s.name == "stdout")
        .flat_map(|s| s.data)
        .collect()
}

fn events(name: &str) -> Vec<PsEvent> {
    let mut pool = PoolClient::new(Uuid::nil(), MAX_BLOB);
    pool.receive(&received(name)).unwrap()
}

/// The pool id as the recorded messages carry it. pypsrp wrote GUIDs in RFC 4122 byte order
/// until 2019 (its commit e16ac49 "Fix pid and rpid uuid byte ordering"), so in these 2018
/// recordings the ShellId's bytes stand where .NET's byte order belongs: read them the .NET way.
fn recorded_id(shell_id: &str) -> Uuid {
    Uuid::from_bytes_le(*Uuid::parse_str(shell_id).unwrap().as_bytes())
}

#[test]
fn the_creation_xml_is_the_one_pypsrp_sent_windows() {
    let recorded = fixture("psrp-shell-create.request.xml");
    let bytes = base64_in(&recorded, "<creationXml");
    let id = recorded_id("76056A84-51DC-4F24-9262-CA2A55464B2B");
    let mut pool = PoolClient::new(id, MAX_BLOB);
    assert_eq!(pool.open().concat(), bytes);
    let messages = Defragmenter::default().feed(&bytes).unwrap();
    let kinds: Vec<u32> = messages.iter().map(|m| m.message_type).collect();
    assert_eq!(
        kinds,
        [
            message_type::SESSION_CAPABILITY,
            message_type::INIT_RUNSPACEPOOL
        ]
    );
    assert!(messages.iter().all(|m| m.rpid == id && m.pid.is_nil()));
    assert!(messages.iter().all(|m| m.destination == TO_SERVER));
}

#[test]
fn create_pipeline_is_the_message_pypsrp_sent_windows() {
    let recorded = fixture("psrp-command.request.xml");
    let messages = Defragmenter::default()
        .feed(&base64_in(&recorded, "<rsp:Arguments"))
        .unwrap();
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(message.message_type, message_type::CREATE_PIPELINE);
    assert_eq!(
        message.pid,
        recorded_id("E888E1DF-C962-41D6-BEFD-F2C82D0ABCCA")
    );
    let script = "$ErrorActionPreference = 'Stop'; Write-Output before; Write-Error error; Write-Output after";
    assert_eq!(
        String::from_utf8(message.data.clone()).unwrap(),
        clixml::create_pipeline(script)
    );
}

#[test]
fn windows_pool_messages_are_read() {
    assert_eq!(
        events("psrp-receive.capability.response.xml"),
        [
            PsEvent::Other {
                message_type: message_type::SESSION_CAPABILITY
            },
            PsEvent::Other {
                message_type: message_type::APPLICATION_PRIVATE_DATA
            },
        ]
    );
    assert_eq!(
        events("psrp-receive.pool-opened.response.xml"),
        [PsEvent::PoolState(StateReport {
            state: pool_state::OPENED,
            reason: None
        })]
    );
}

#[test]
fn a_windows_pipeline_that_failed_is_read() {
    let pid = recorded_id("E888E1DF-C962-41D6-BEFD-F2C82D0ABCCA");
    assert_eq!(
        events("psrp-receive.failed.response.xml"),
        [
            PsEvent::Other {
                message_type: message_type::PROGRESS_RECORD
            },
            PsEvent::Output {
                pid,
                text: "before".to_owned()
            },
            PsEvent::PipelineState {
                pid,
                report: StateReport {
                    state: pipeline_state::FAILED,
                    reason: Some("error".to_owned())
                }
            },
        ]
    );
}

#[test]
fn every_stream_of_a_windows_pipeline_is_read() {
    let got = events("psrp-receive.streams.response.xml");
    let text: Vec<(Option<RecordStream>, String)> = got
        .iter()
        .filter_map(|e| match e {
            PsEvent::Output { text, .. } => Some((None, text.clone())),
            PsEvent::Record { stream, text, .. } => Some((Some(*stream), text.clone())),
            _ => None,
        })
        .collect();
    let want = [
        (Some(RecordStream::Debug), "debug stream"),
        (Some(RecordStream::Verbose), "verbose stream"),
        (Some(RecordStream::Error), "error stream"),
        (None, "output stream"),
        (Some(RecordStream::Warning), "warning stream"),
        (Some(RecordStream::Information), "information stream"),
    ];
    let want: Vec<(Option<RecordStream>, String)> =
        want.iter().map(|(s, t)| (*s, (*t).to_owned())).collect();
    assert_eq!(text, want);
    assert!(matches!(
        got.last(),
        Some(PsEvent::PipelineState { report, .. })
            if report.state == pipeline_state::COMPLETED && report.reason.is_none()
    ));
}

/// MS-PSRP 2.2.1's GUIDs in .NET's order, as psrpcore (PyPI) writes them: its
/// `uuid.bytes_le` for the id 11223344-5566-7788-99aa-bbccddeeff00.
#[test]
fn guids_are_in_dotnet_byte_order() {
    let id = Uuid::parse_str("11223344-5566-7788-99aa-bbccddeeff00").unwrap();
    let message = Message {
        destination: TO_SERVER,
        message_type: message_type::CREATE_PIPELINE,
        rpid: id,
        pid: Uuid::nil(),
        data: Vec::new(),
    };
    let bytes = message.to_bytes();
    assert_eq!(
        bytes[8..24],
        [
            0x44, 0x33, 0x22, 0x11, 0x66, 0x55, 0x88, 0x77, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
            0xff, 0x00
        ]
    );
    assert_eq!(Message::parse(&bytes).unwrap().rpid, id);
}

#[test]
fn strings_decode_powershell_escapes() {
    // As Windows wrote an ErrorRecord's PositionMessage (psrp-receive.failed.response.xml).
    assert_eq!(
        clixml::decode_string("At line:1 char:55_x000D__x000A_+ ..."),
        "At line:1 char:55\r\n+ ..."
    );
    assert_eq!(clixml::decode_string("_xD83D__xDE00_"), "\u{1F600}");
    assert_eq!(clixml::decode_string("a_x005F_x0041_"), "a_x0041_");
    assert_eq!(clixml::decode_string("_x12_ _xZZZZ_"), "_x12_ _xZZZZ_");
    assert_eq!(
        clixml::encode_string("a\r\n<b>_x"),
        "a_x000D__x000A_&lt;b&gt;_x005F_x"
    );
}

#[test]
fn fragments_out_of_order_or_unbounded_are_refused() {
    let message = |t| Message {
        destination: TO_CLIENT,
        message_type: t,
        rpid: Uuid::nil(),
        pid: Uuid::nil(),
        data: [b'x'; 100].to_vec(),
    };
    let mut small = Fragmenter::new(10);
    let pieces = small.fragments(&message(message_type::PIPELINE_OUTPUT));
    assert!(pieces.len() > 2);
    let mut d = Defragmenter::default();
    assert!(matches!(
        d.feed(&pieces[1]),
        Err(PsrpError::Fragment(FragmentError::OutOfOrder { .. }))
    ));
    let mut d = Defragmenter::default();
    d.feed(&pieces[0]).unwrap();
    assert!(matches!(
        d.feed(&pieces[2]),
        Err(PsrpError::Fragment(FragmentError::OutOfOrder { .. }))
    ));
    let mut d = Defragmenter::default();
    let mut f = Fragmenter::new(10);
    let mut refused = None;
    for _ in 0..=MAX_PARTIAL {
        let first = f
            .fragments(&message(message_type::PIPELINE_OUTPUT))
            .remove(0);
        if let Err(e) = d.feed(&first) {
            refused = Some(e);
        }
    }
    assert_eq!(
        refused,
        Some(PsrpError::Fragment(FragmentError::TooManyOpen(MAX_PARTIAL)))
    );
    // A message whose data is not CLIXML is an error of its type, not a panic.
    let mut bad = message(message_type::PIPELINE_STATE);
    bad.data = b"<Obj><MS></MS></Obj>".to_vec();
    assert!(PsEvent::from_message(&bad).is_err());
}

proptest! {
    #[test]
    fn messages_come_back_whatever_the_cuts(
        bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..6),
        blob in 1usize..64,
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let messages: Vec<Message> = bodies.into_iter().map(|data| Message {
            destination: TO_CLIENT,
            message_type: message_type::PIPELINE_OUTPUT,
            rpid: Uuid::from_u128(7),
            pid: Uuid::from_u128(9),
            data,
        }).collect();
        let mut f = Fragmenter::new(blob);
        let stream: Vec<u8> = messages.iter().flat_map(|m| f.fragments(m).concat()).collect();
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
        points.sort_unstable();
        let mut d = Defragmenter::default();
        let mut got = Vec::new();
        let mut from = 0;
        for to in points.into_iter().chain([stream.len()]) {
            got.extend(d.feed(&stream[from..to]).unwrap());
            from = to;
        }
        prop_assert_eq!(got, messages);
    }

    #[test]
    fn strings_survive_encoding(s in "\\PC*|[\\x00-\\x1f_x]*") {
        let xml = format!("<S>{}</S>", clixml::encode_string(&s));
        let element = clixml::parse(xml.as_bytes()).unwrap();
        prop_assert_eq!(clixml::object_text(&element), s);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut pool = PoolClient::new(Uuid::nil(), MAX_BLOB);
        let _ = pool.receive(&data);
        let _ = Message::parse(&data).map(|m| PsEvent::from_message(&m));
    }
}
