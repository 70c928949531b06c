//! Arbitrary bytes through the whole request path of the wire crate: charset detection and
//! decoding, then envelope parsing, then the Enumerate body and its filter the WinRS Disconnect, Reconnect, Connect and Signal bodies (the window-size extension too) and the WinRS options (the terminal ones too) (the selector and
//! association filters are read from the tree here). The first byte picks the declared charset so that the
//! UTF-16 paths are reached too. Any panic, hang or unbounded allocation is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsman_proto::xml::Limits;

const DECLARED_CHARSETS: [Option<&str>; 5] = [
    None,
    Some("UTF-8"),
    Some("utf-16"),
    Some("UTF-16BE"),
    Some("iso-8859-1"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let charset = DECLARED_CHARSETS[usize::from(selector) % DECLARED_CHARSETS.len()];
    if let Ok((text, _encoding)) = wsman_proto::charset::decode(body, charset) {
        if let Ok(request) = wsman_proto::parse_request(&text, &Limits::default()) {
            if let Ok(enumerate) = wsman_proto::enumeration::Enumerate::parse(request.body.as_ref())
            {
                if let Some(filter) = enumerate.filter {
                    let _ = filter.selector_set();
                    let _ = filter.association();
                }
            }
            let body = request.body.as_ref();
            let _ = wsman_proto::shell::Disconnect::parse(body);
            let _ = wsman_proto::shell::Reconnect::parse(body);
            let _ = wsman_proto::shell::Connect::parse(body);
            let _ = wsman_proto::shell::Signal::parse(body);
            let _ = wsman_proto::shell::WinrsOptions::parse(&request.options);
        }
    }
});
