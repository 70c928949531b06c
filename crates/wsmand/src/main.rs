//! `wsmand`: the WS-Management daemon. Everything lives in the library (testable); this only
//! hands over the process.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    wsmand::main_entry()
}
