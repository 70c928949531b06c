//! The few PSRP fragments and messages the bridge writes itself (MS-PSRP 2.2.1, 2.2.4): the
//! answer to a Connect, which `pwsh -s` cannot give (its out-of-process transport has no
//! connect), and fragments cut to fit a Receive, as Windows' plug-in fragments to the
//! client's MaxEnvelopeSize.

use wsman_proto::shell::psrp::FRAGMENT_HEADER;

/// SESSION_CAPABILITY.
pub(super) const SESSION_CAPABILITY: u32 = 0x0001_0002;
/// APPLICATION_PRIVATE_DATA.
pub(super) const APPLICATION_PRIVATE_DATA: u32 = 0x0002_1009;
/// CONNECT_RUNSPACEPOOL.
pub(super) const CONNECT_RUNSPACEPOOL: u32 = 0x0001_0008;
/// RUNSPACEPOOL_INIT_DATA.
const RUNSPACEPOOL_INIT_DATA: u32 = 0x0002_100B;
/// Destination of a message to the client.
const TO_CLIENT: u32 = 1;
/// Bytes of a message header: Destination (4), MessageType (4), RPID (16), PID (16).
const MESSAGE_HEADER: usize = 40;
const START: u8 = 0x1;
const END: u8 = 0x2;

/// The fields of a fragment's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Header {
    pub(super) object_id: u64,
    pub(super) fragment_id: u64,
    pub(super) start: bool,
    pub(super) end: bool,
}

/// The header of a whole fragment (`None`: shorter than a header).
pub(super) fn header(fragment: &[u8]) -> Option<Header> {
    let field = |range: std::ops::Range<usize>| {
        fragment
            .get(range)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes)
    };
    let flags = *fragment.get(16)?;
    Some(Header {
        object_id: field(0..8)?,
        fragment_id: field(8..16)?,
        start: flags & START != 0,
        end: flags & END != 0,
    })
}

/// A fragment of `header` around `blob`.
pub(super) fn fragment(header: Header, blob: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAGMENT_HEADER + blob.len());
    out.extend_from_slice(&header.object_id.to_be_bytes());
    out.extend_from_slice(&header.fragment_id.to_be_bytes());
    out.push((u8::from(header.start) * START) | (u8::from(header.end) * END));
    out.extend_from_slice(&u32::try_from(blob.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(blob);
    out
}

/// Sets a fragment's ObjectId and FragmentId in place.
pub(super) fn renumber(fragment: &mut [u8], object_id: u64, fragment_id: u64) {
    if let Some(head) = fragment.get_mut(..16) {
        head[..8].copy_from_slice(&object_id.to_be_bytes());
        head[8..].copy_from_slice(&fragment_id.to_be_bytes());
    }
}

/// Cuts a fragment in two, the first `size` bytes long (header included): the head keeps
/// its ids and its start flag, the rest is the next fragment of the same object and keeps
/// the end flag. `None` when `size` leaves no byte of blob on either side.
pub(super) fn split(whole: &[u8], size: usize) -> Option<(Vec<u8>, Vec<u8>)> {
    let h = header(whole)?;
    let blob = whole.get(FRAGMENT_HEADER..)?;
    let cut = size
        .checked_sub(FRAGMENT_HEADER)
        .filter(|c| *c > 0 && *c < blob.len())?;
    let head = Header { end: false, ..h };
    let rest = Header {
        fragment_id: h.fragment_id + 1,
        start: false,
        ..h
    };
    Some((fragment(head, &blob[..cut]), fragment(rest, &blob[cut..])))
}

/// The RPID of a start fragment's message, as it is on the wire.
pub(super) fn rpid(fragment: &[u8]) -> Option<[u8; 16]> {
    fragment
        .get(FRAGMENT_HEADER + 8..FRAGMENT_HEADER + 24)?
        .try_into()
        .ok()
}

/// RUNSPACEPOOL_INIT_DATA of the pool `rpid`, as one fragment: what a Connect answers
/// beside the pool's SESSION_CAPABILITY.
pub(super) fn init_data(object_id: u64, rpid: [u8; 16], runspaces: (u32, u32)) -> Vec<u8> {
    let (min, max) = runspaces;
    let xml = format!(
        "\u{feff}<Obj RefId=\"0\"><MS><I32 N=\"MinRunspaces\">{min}</I32><I32 N=\"MaxRunspaces\">{max}</I32></MS></Obj>"
    );
    let mut message = Vec::with_capacity(MESSAGE_HEADER + xml.len());
    message.extend_from_slice(&TO_CLIENT.to_le_bytes());
    message.extend_from_slice(&RUNSPACEPOOL_INIT_DATA.to_le_bytes());
    message.extend_from_slice(&rpid);
    message.extend_from_slice(&[0; 16]);
    message.extend_from_slice(xml.as_bytes());
    let whole = Header {
        object_id,
        fragment_id: 0,
        start: true,
        end: true,
    };
    fragment(whole, &message)
}

/// An `<I32 N="name">` property of CLIXML, found by its text (the pool's Min/MaxRunspaces in
/// INIT_RUNSPACEPOOL: no deserialising needed).
pub(super) fn clixml_u32(data: &[u8], name: &str) -> Option<u32> {
    let open = format!("<I32 N=\"{name}\">");
    let at = data
        .windows(open.len())
        .position(|w| w == open.as_bytes())?
        + open.len();
    let digits: Vec<u8> = data[at..]
        .iter()
        .copied()
        .take_while(u8::is_ascii_digit)
        .take(10)
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
