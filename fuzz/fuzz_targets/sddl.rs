//! Arbitrary text through the RootSDDL parser, then every parsed descriptor through the access
//! check with a fixed caller. Any panic, hang or unbounded allocation is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsman_config::{Access, SecurityDescriptor, Sid};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(sd) = SecurityDescriptor::parse(text) else {
        return;
    };
    let caller = [
        Sid::everyone(),
        Sid::authenticated_users(),
        Sid::builtin_users(),
        Sid::unix_user(1000),
        Sid::unix_group(1000),
    ];
    for access in [Access::Read, Access::Write, Access::Execute] {
        let _ = sd.allows(&caller, access);
    }
    // What parsed must print and re-parse as SIDs.
    for ace in &sd.dacl {
        let printed = ace.sid.to_string();
        assert_eq!(Sid::parse(&printed).ok().as_ref(), Some(&ace.sid), "{printed}");
    }
});
