//! The operating-system edge of wsmand: PAM, user and group lookup, host
//! facts, processes. One of the two crates in the workspace that may use `unsafe`
//! (the other is `wsman-gss`, the GSS-API binding, kept apart so the client library can use
//! Kerberos without depending on this crate).
//!
//! Everything that crosses into C lives here so that reviewers find all of
//! it in one place, and so that every other crate can keep
//! `#![forbid(unsafe_code)]`. Inside this crate `unsafe` is confined to the
//! PAM bindings (`pam::sys`, `pam::conversation`, `pam`, `pam::session`), one `uname` call
//! in `host`, one `mallopt` call in `allocator`, one `madvise` call in `memory`, the
//! clone-to-exec steps in `process`, the session helper's signal and descriptor calls in
//! `process::session`, the sd-journal calls in `journal`, and `kill`/`killpg`/`getsid` in
//! `signal`, the
//! pseudo-terminal ioctls in `terminal`, glibc's utmp calls in `login_record`, one
//! `getnameinfo` call in `resolve`, the `getrlimit`/`setrlimit` calls in `fd_limit`, the `setpriority` and `sched_setscheduler` calls in
//! `priority` (bulk work's threads and children at the lowest priority), libzstd's context functions (and the two that stand in for
//! them in `wsmand`) in `zstd_contexts`;
//! modules that need
//! none (`users`, `pam::error`, `pam::stack`, `cgroup`) forbid it. Every
//! `unsafe` block carries a `// SAFETY:` comment (enforced by clippy's
//! `undocumented_unsafe_blocks`, which CI runs with `-D warnings`).
//!
//! All functions here block (PAM may wait on a network directory, and NSS
//! lookups may too), so async callers use `spawn_blocking`.

// The workspace denies unsafe code; this crate is one of the two deliberate
// exceptions because PAM and uname have no safe Rust interface.
#![allow(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod allocator;
pub mod cgroup;
pub mod fd_limit;
pub mod host;
pub mod journal;
pub mod login_record;
pub mod memory;
pub mod pam;
pub mod priority;
pub mod process;
pub mod resolve;
pub mod signal;
pub mod terminal;
pub mod users;
pub mod zstd_contexts;

pub use host::{host_name, identify_product_version, kernel_release, HostError};
pub use pam::{PamAuthenticator, PamCode, PamError, PamStage, DEFAULT_PAM_SERVICE};
pub use users::{
    group_id, is_administrator, is_member_of_group, lookup_user, LinuxUser, UserError, ADMIN_GROUP,
};
