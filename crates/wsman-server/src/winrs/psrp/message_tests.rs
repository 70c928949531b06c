use base64::Engine as _;

use super::*;

/// Windows' ConnectResponse to pypsrp's Connect (recorded; see the fixtures' README).
const WINDOWS_CONNECT: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../wsman-proto/tests/fixtures/windows/shell/psrp-connect.response.xml"
));

/// The message type of a start fragment.
fn message_type(fragment: &[u8]) -> Option<u32> {
    let field = fragment.get(FRAGMENT_HEADER + 4..FRAGMENT_HEADER + 8)?;
    Some(u32::from_le_bytes(field.try_into().ok()?))
}

/// The fragments of Windows' `connectResponseXml`.
fn windows_fragments() -> Vec<Vec<u8>> {
    let start = WINDOWS_CONNECT.find("<connectResponseXml").unwrap();
    let text = &WINDOWS_CONNECT[start..];
    let text = &text[text.find('>').unwrap() + 1..text.find("</").unwrap()];
    let mut bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap();
    let mut out = Vec::new();
    while bytes.len() >= FRAGMENT_HEADER {
        let blob = u32::from_be_bytes(bytes[17..21].try_into().unwrap()) as usize;
        out.push(bytes.drain(..FRAGMENT_HEADER + blob).collect());
    }
    assert!(bytes.is_empty());
    out
}

#[test]
fn init_data_is_windows_byte_for_byte() {
    let windows = windows_fragments();
    assert_eq!(windows.len(), 2);
    assert_eq!(message_type(&windows[0]), Some(SESSION_CAPABILITY));
    let recorded = &windows[1];
    let h = header(recorded).unwrap();
    assert!(h.start && h.end);
    let rpid = rpid(&windows[0]).unwrap();
    let ours = init_data(h.object_id, rpid, (1, 1));
    assert_eq!(&ours, recorded);
}

#[test]
fn runspace_counts_are_read_from_clixml() {
    let windows = windows_fragments();
    assert_eq!(clixml_u32(&windows[1], "MinRunspaces"), Some(1));
    assert_eq!(clixml_u32(&windows[1], "MaxRunspaces"), Some(1));
    assert_eq!(clixml_u32(&windows[0], "MaxRunspaces"), None);
    assert_eq!(
        clixml_u32(b"<I32 N=\"MaxRunspaces\">x</I32>", "MaxRunspaces"),
        None
    );
    assert_eq!(
        clixml_u32(b"<I32 N=\"MaxRunspaces\">", "MaxRunspaces"),
        None
    );
}

/// Every cut of a fragment gives two fragments whose blobs join to the original's, with
/// consecutive ids, the start flag on the head only and the end flag on the rest only.
#[test]
fn every_split_keeps_the_blob_and_numbers_the_rest_next() {
    for (start, end) in [(true, true), (true, false), (false, true), (false, false)] {
        let original = Header {
            object_id: 7,
            fragment_id: 3,
            start,
            end,
        };
        let blob: Vec<u8> = (0..40u8).collect();
        let whole = fragment(original, &blob);
        for size in 0..whole.len() + 2 {
            let Some((head, rest)) = split(&whole, size) else {
                assert!(size <= FRAGMENT_HEADER || size >= whole.len(), "{size}");
                continue;
            };
            assert_eq!(head.len(), size);
            let (h, r) = (header(&head).unwrap(), header(&rest).unwrap());
            assert_eq!(
                (h.object_id, h.fragment_id, h.start, h.end),
                (7, 3, start, false)
            );
            assert_eq!(
                (r.object_id, r.fragment_id, r.start, r.end),
                (7, 4, false, end)
            );
            let mut joined = head[FRAGMENT_HEADER..].to_vec();
            joined.extend_from_slice(&rest[FRAGMENT_HEADER..]);
            assert_eq!(joined, blob);
            let lengths = |f: &[u8]| u32::from_be_bytes(f[17..21].try_into().unwrap()) as usize;
            assert_eq!(lengths(&head) + FRAGMENT_HEADER, head.len());
            assert_eq!(lengths(&rest) + FRAGMENT_HEADER, rest.len());
        }
    }
}

#[test]
fn renumbering_rewrites_only_the_ids() {
    let mut f = windows_fragments().remove(1);
    let before = f.clone();
    renumber(&mut f, 9, 2);
    let h = header(&f).unwrap();
    assert_eq!(
        (h.object_id, h.fragment_id, h.start, h.end),
        (9, 2, true, true)
    );
    assert_eq!(f[16..], before[16..]);
}
