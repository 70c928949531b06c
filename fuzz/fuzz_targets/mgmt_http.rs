//! The management service's parsers of untrusted input: arbitrary bytes as a request target
//! through the route parser, and as a form body through the form reader (the login form and
//! every action form). Any panic, hang or unbounded allocation is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsmand_mgmt::form::Form;
use wsmand_mgmt::route::{self, Route};

fuzz_target!(|data: &[u8]| {
    if let Ok(form) = Form::parse(data) {
        let _ = form.get("user");
        let _ = form.get("csrf");
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(Route::HostOverview(name) | Route::Services(name) | Route::Processes(name)) =
        route::parse(text)
    {
        // A name from a path is only ever a safe segment.
        assert!(name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@:".contains(&b)));
    }
});
