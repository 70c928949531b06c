//! Arbitrary bytes as `journalctl -o export` output, fed in two pieces split where the input's
//! first byte says, and every entry read mapped to a Windows event and rendered. Any panic,
//! hang or unbounded allocation is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsman_events::{ContentFormat, ExportLimits, ExportReader, Mapping};

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let split = usize::from(split).min(rest.len());
    let mut reader = ExportReader::new(ExportLimits {
        max_value: 1024,
        max_fields: 32,
        ..ExportLimits::default()
    });
    let mapping = Mapping::default();
    let mut render = |entry| {
        let _ = mapping.event(&entry).to_xml(ContentFormat::RenderedText);
    };
    if reader.feed(&rest[..split], &mut render).is_ok() {
        let _ = reader.feed(&rest[split..], &mut render);
    }
});
