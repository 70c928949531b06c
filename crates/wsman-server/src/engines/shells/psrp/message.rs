//! The few PSRP messages the bridge writes itself (MS-PSRP 2.2.1): the answer to a Connect,
//! which `pwsh -s` cannot give (its out-of-process transport has no connect). Fragments and
//! message headers are the codec's (`wsman_proto::shell::psrp`).

use uuid::Uuid;
use wsman_proto::shell::psrp::{message_type, FragmentHeader, Message, TO_CLIENT};

/// RUNSPACEPOOL_INIT_DATA of the pool `rpid`, as one fragment: what a Connect answers
/// beside the pool's SESSION_CAPABILITY.
pub(super) fn init_data(object_id: u64, rpid: Uuid, runspaces: (u32, u32)) -> Vec<u8> {
    let (min, max) = runspaces;
    let xml = format!(
        "\u{feff}<Obj RefId=\"0\"><MS><I32 N=\"MinRunspaces\">{min}</I32><I32 N=\"MaxRunspaces\">{max}</I32></MS></Obj>"
    );
    let message = Message {
        destination: TO_CLIENT,
        message_type: message_type::RUNSPACEPOOL_INIT_DATA,
        rpid,
        pid: Uuid::nil(),
        data: xml.into_bytes(),
    };
    FragmentHeader::whole(object_id).fragment(&message.to_bytes())
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
