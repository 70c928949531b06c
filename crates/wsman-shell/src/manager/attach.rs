//! Disconnect, Reconnect and Connect (MS-WSMV 3.1.4.15-17): a shell kept without its client
//! and taken up again by its owner.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wsman_principal::OwnerKey;

use super::ShellManager;
use crate::audit;
use crate::error::ShellError;
use crate::ids::canonical_id;
use crate::lock;
use crate::shell::{Attachment, Shell};
use crate::types::ShellInfo;

impl ShellManager {
    /// A shell for Disconnect, Reconnect and Connect: another user's is
    /// [`ShellError::NotShellOwner`] (Windows answers access denied there), not unknown.
    pub(super) fn owned_shell(
        &self,
        caller: &OwnerKey,
        shell_id: &str,
    ) -> Result<Arc<Shell>, ShellError> {
        let unknown = || ShellError::UnknownShell {
            shell_id: shell_id.to_owned(),
        };
        let id = canonical_id(shell_id).ok_or_else(unknown)?;
        let shell = lock(&self.inner.registry)
            .shells
            .get(&id)
            .cloned()
            .ok_or_else(unknown)?;
        if !shell.owner.key.is(caller) {
            return Err(ShellError::NotShellOwner { shell_id: id });
        }
        Ok(shell)
    }

    /// Disconnect (MS-WSMV 3.1.4.15): the shell stays with its commands running and their
    /// output kept within its bounds; `idle_timeout` (capped by
    /// [`crate::ShellLimits::idle_timeout`]; default the shell's own) ends it unless a Reconnect or
    /// Connect comes first. Disconnecting a disconnected shell is
    /// [`ShellError::ShellDisconnected`].
    pub fn disconnect(
        &self,
        caller: &OwnerKey,
        shell_id: &str,
        idle_timeout: Option<Duration>,
    ) -> Result<(), ShellError> {
        let shell = self.owned_shell(caller, shell_id)?;
        let cap = self.limits().idle_timeout;
        let timeout = idle_timeout.map_or(shell.idle_timeout, |asked| asked.min(cap));
        let mut attachment = lock(&shell.attachment);
        if attachment.disconnected.is_some() {
            return Err(ShellError::ShellDisconnected {
                shell_id: shell.id.clone(),
            });
        }
        attachment.disconnected = Some((timeout, Instant::now()));
        attachment.client_session = None;
        drop(attachment);
        audit::shell_disconnected(&audit::Who::of(&shell.owner), &shell.id, timeout);
        Ok(())
    }

    /// Reconnect (MS-WSMV 3.1.4.16) by the client session `client_session`: a disconnected
    /// shell is connected again; a connected one is left as it is when this session holds it,
    /// else [`ShellError::ShellConnected`].
    pub fn reconnect(
        &self,
        caller: &OwnerKey,
        shell_id: &str,
        client_session: Option<&str>,
    ) -> Result<(), ShellError> {
        let shell = self.owned_shell(caller, shell_id)?;
        let mut attachment = lock(&shell.attachment);
        if attachment.disconnected.is_none() {
            let same =
                client_session.is_some() && attachment.client_session.as_deref() == client_session;
            return match same {
                true => Ok(()),
                false => Err(ShellError::ShellConnected {
                    shell_id: shell.id.clone(),
                }),
            };
        }
        attach(&shell, &mut attachment, client_session);
        Ok(())
    }

    /// Connect (MS-WSMV 3.1.4.17) from a client with no state of the shell: a disconnected
    /// shell is connected to `client_session` and described; a connected one is
    /// [`ShellError::ShellConnected`].
    pub fn connect(
        &self,
        caller: &OwnerKey,
        shell_id: &str,
        client_session: Option<&str>,
    ) -> Result<ShellInfo, ShellError> {
        let shell = self.owned_shell(caller, shell_id)?;
        let mut attachment = lock(&shell.attachment);
        if attachment.disconnected.is_none() {
            return Err(ShellError::ShellConnected {
                shell_id: shell.id.clone(),
            });
        }
        attach(&shell, &mut attachment, client_session);
        drop(attachment);
        Ok(shell.info())
    }
}

/// Connects a disconnected shell to `client_session`; its idle time counts from now, and each
/// command's next Receive replays what the previous client had not acknowledged.
fn attach(shell: &Shell, attachment: &mut Attachment, client_session: Option<&str>) {
    attachment.disconnected = None;
    attachment.client_session = client_session.map(str::to_owned);
    shell.touch();
    for command in lock(&shell.commands).values() {
        command.resume();
    }
    audit::shell_reconnected(&audit::Who::of(&shell.owner), &shell.id);
}
