//! Arbitrary bytes as a client certificate: the names a certmapping Subject is matched against
//! are read before any signature check, so the DER reader must survive anything. Every name
//! found then goes through the Subject pattern matcher. Any panic or hang is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsman_config::certmapping::{certificate_names, pattern_matches};

fuzz_target!(|data: &[u8]| {
    let names = certificate_names(data);
    assert!(names.len() <= 64, "names are bounded");
    for name in &names {
        for pattern in ["*", "*@example", "user*", "user@example"] {
            let _ = pattern_matches(pattern, name);
        }
        let _ = pattern_matches(name, "user@example");
    }
});
