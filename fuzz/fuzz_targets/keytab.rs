//! Arbitrary bytes through the keytab parser and its summaries. Any panic, hang or unbounded
//! allocation is a bug; a parsed keytab never holds more entries than its bytes allow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsman_auth::keytab::{parse_keytab, MAX_ENTRIES};

fuzz_target!(|data: &[u8]| {
    if let Ok(keytab) = parse_keytab(data) {
        // The smallest entry (0x0501, no name type) is a 4-byte size plus 15 bytes of fields.
        assert!(keytab.entries.len() <= MAX_ENTRIES);
        assert!(keytab.entries.len() * 19 <= data.len());
        let summary = keytab.principals();
        assert!(summary.len() <= keytab.entries.len());
        let _ = keytab.serves("HTTP", "localhost");
        let _ = keytab.hosts_for("WSMAN");
    }
});
