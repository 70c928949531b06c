//! A shell's host process: a program that serves the shell's protocol itself (PowerShell's
//! `pwsh -s`), started like any command (as the owner, in the PAM session and the shell's
//! cgroup, under its quotas) and then read by the server's bridge rather than by a client.
//!
//! Reading the host's output is not a client request: it neither counts as activity (the
//! shell's IdleTimeout still runs while the bridge waits on the host), nor takes an operation
//! slot, nor is refused while the shell is disconnected (the host's output is still read and
//! kept within its bounds).

use wsman_principal::OwnerKey;

use crate::error::ShellError;
use crate::types::{ReceiveOutcome, ReceiveRequest};

use super::ShellManager;

impl ShellManager {
    /// The next output of a shell's host command (see the module doc): like
    /// [`ShellManager::receive`], without touching the shell.
    pub async fn host_receive(
        &self,
        caller: &OwnerKey,
        shell_id: &str,
        command_id: &str,
        request: &ReceiveRequest,
    ) -> Result<ReceiveOutcome, ShellError> {
        let shell = self.shell(caller, shell_id)?;
        let command = shell.command(command_id)?;
        let streams = shell.output_indices(&request.streams)?;
        drop(shell);
        command.receive(&streams, request).await
    }

    /// Whether `caller` owns the shell ([`ShellError::NotShellOwner`] for another's): for a
    /// bridge that answers a Connect itself and must refuse another user's first.
    pub fn check_owner(&self, caller: &OwnerKey, shell_id: &str) -> Result<(), ShellError> {
        self.owned_shell(caller, shell_id).map(drop)
    }

    /// [`ShellError::ShellDisconnected`] unless the shell is connected: for a bridge that
    /// answers Receive from output it holds itself.
    pub fn ensure_connected(&self, caller: &OwnerKey, shell_id: &str) -> Result<(), ShellError> {
        self.shell(caller, shell_id)?.ensure_connected()
    }
}
