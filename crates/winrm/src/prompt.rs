//! Reading a password that was not given with -p: (shared with winrs in wsman-client's `cli`):
//! without echo from a terminal, else one line from standard input.

use crate::failure::Failure;

/// The password for `user`.
pub(crate) fn password_for(user: &str) -> Result<String, Failure> {
    wsman_cli::read_password(user)
        .map_err(|e| Failure::local(format!("cannot read the password: {e}")))
}
