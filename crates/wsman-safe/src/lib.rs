//! The host-facing security primitives, each written once so that a fix reaches every caller:
//!
//! - [`read_private`]: a secret file (password, key, keytab, account hashes) opened without
//!   following a link, its type, owner and mode judged on the opened file (never on a path that
//!   could be swapped between a check and the open), read bounded into a buffer wiped on drop.
//! - [`write_atomic`]: a file replaced whole (temporary file, fsync, rename, directory fsync);
//!   [`open_to_update`]: a file of ours written in place, never through a link.
//! - [`file_modes`]: files and directories created with exactly their mode and group whatever
//!   the umask, and files more open than their contents allow tightened.
//! - [`net::IpRange`]: the one IP network/range type, with the IPv4-mapped rule
//!   (`::ffff:a.b.c.d` is `a.b.c.d`) on both the range and the address it is asked about.
//! - [`http::HttpAddress`]: the one parser of an `http(s)://` address, so that a policy about
//!   where a connection goes decides on the address the connection will use.
//! - [`pem`]: PEM certificate chains and private keys, a key read as a secret file.
#![forbid(unsafe_code)]

mod atomic;
pub mod file_modes;
pub mod http;
pub mod net;
pub mod pem;
mod private_file;
mod protected_file;

pub use atomic::{open_to_update, write_atomic};
pub use private_file::{read_private, read_private_owned_by, read_private_text, PrivateFileError};
pub use protected_file::{read_protected, read_protected_dir};
