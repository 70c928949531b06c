//! `wsmand-session`: the PAM session helper wsmand starts (as root) for each command of a
//! shell, so that the session stack (pam_limits, pam_env, pam_systemd) changes this process
//! and the command, never the daemon. A program of its own, small, so that its start costs
//! little per command; everything it does is in `wsman_os::process::session`.
#![forbid(unsafe_code)]

fn main() {
    std::process::exit(wsman_os::process::session::run_helper(
        std::env::args_os().collect(),
    ));
}
