//! Arbitrary text through the event query parsers (a bare XPath, and a QueryList), every parsed
//! query evaluated on a fixed event, and arbitrary text as a BookmarkList. Any panic, hang or
//! unbounded allocation is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsman_events::{BookmarkList, QueryList, Timestamp, XPath};
use wsman_proto::xml;

const EVENT: &str = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>\
    <Provider Name='sshd'/><EventID>4624</EventID><Level>2</Level><Keywords>0x8020000000000000</Keywords>\
    <TimeCreated SystemTime='2026-11-23T11:00:00.0000000Z'/></System><EventData>\
    <Data Name='TargetUserName'>bob</Data></EventData></Event>";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let event = xml::parse(EVENT, &xml::Limits::default()).expect("fixed event parses");
    let now = Timestamp::from_unix_micros(1_795_407_122_000_000);
    if let Ok(xpath) = XPath::parse(text) {
        let _ = xpath.matches(&event, now);
    }
    if let Ok(list) = QueryList::parse(text) {
        for channel in list.channels() {
            let _ = list.matches(&channel, &event, now);
        }
    }
    if let Ok(bookmarks) = BookmarkList::parse(text) {
        let again = BookmarkList::parse(&bookmarks.to_xml()).expect("a written bookmark parses");
        assert_eq!(again.positions().count(), bookmarks.positions().count());
    }
});
