//! Errors of the CLI, their exit codes, and their Windows-style printing:
//!
//! ```text
//! WSManFault
//!     Message = <text>
//!
//! Error number:  -2144108526 0x80338012
//! <text>
//! ```

use wsman_cli::failure::Tool;

/// Everything that can go wrong in one invocation.
pub(crate) use wsman_cli::failure::Failure;

/// winrm's exit codes and wording.
pub(crate) const TOOL: Tool = Tool::Winrm;

/// The text printed to stderr for a failure.
pub(crate) fn describe(f: &Failure) -> String {
    f.describe(TOOL)
}
