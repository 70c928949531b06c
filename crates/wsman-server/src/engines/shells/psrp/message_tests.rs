use base64::Engine as _;
use wsman_proto::shell::psrp::{FragmentScanner, Message};

use super::*;

/// Windows' ConnectResponse to pypsrp's Connect (recorded; see the fixtures' README).
const WINDOWS_CONNECT: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../wsman-proto/tests/fixtures/windows/shell/psrp-connect.response.xml"
));

/// The fragments of Windows' `connectResponseXml`, cut by the codec.
fn windows_fragments() -> Vec<wsman_proto::shell::psrp::Fragment> {
    let start = WINDOWS_CONNECT.find("<connectResponseXml").unwrap();
    let text = &WINDOWS_CONNECT[start..];
    let text = &text[text.find('>').unwrap() + 1..text.find("</").unwrap()];
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap();
    let mut scanner = FragmentScanner::default();
    let fragments = scanner.feed(&bytes).unwrap();
    assert_eq!(scanner.pending(), 0);
    fragments
}

#[test]
fn init_data_is_windows_byte_for_byte() {
    let windows = windows_fragments();
    assert_eq!(windows.len(), 2);
    assert_eq!(
        windows[0].message_type,
        Some(message_type::SESSION_CAPABILITY)
    );
    let recorded = &windows[1];
    assert!(recorded.header.start && recorded.header.end);
    let rpid = Message::of_fragment(&windows[0].bytes).unwrap().rpid;
    let ours = init_data(recorded.header.object_id, rpid, (1, 1));
    assert_eq!(ours, recorded.bytes);
}

#[test]
fn runspace_counts_are_read_from_clixml() {
    let windows = windows_fragments();
    assert_eq!(clixml_u32(&windows[1].bytes, "MinRunspaces"), Some(1));
    assert_eq!(clixml_u32(&windows[1].bytes, "MaxRunspaces"), Some(1));
    assert_eq!(clixml_u32(&windows[0].bytes, "MaxRunspaces"), None);
    assert_eq!(
        clixml_u32(b"<I32 N=\"MaxRunspaces\">x</I32>", "MaxRunspaces"),
        None
    );
    assert_eq!(
        clixml_u32(b"<I32 N=\"MaxRunspaces\">", "MaxRunspaces"),
        None
    );
}
