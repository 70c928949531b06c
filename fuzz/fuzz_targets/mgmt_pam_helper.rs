//! The privileged PAM helper's request parser: the helper runs as root and trusts the serving
//! process no more than the network, so arbitrary bytes as a request frame must parse to a
//! safe user name and a bounded password or fail cleanly. Any panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsmand_mgmt::pam_helper::{self, MAX_PASSWORD_BYTES};

fuzz_target!(|data: &[u8]| {
    if let Some(header) = data.get(..pam_helper::HEADER_BYTES) {
        let _ = pam_helper::parse_header(header.try_into().expect("3 bytes"));
    }
    if let Ok(request) = pam_helper::parse_request(data) {
        assert!(pam_helper::is_user_name(&request.user));
        assert!(request.password.len() <= MAX_PASSWORD_BYTES);
    }
});
