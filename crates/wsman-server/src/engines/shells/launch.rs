//! The shell engine as the providers' [`Launcher`]: `Win32_Process.Create` starts its program
//! exactly as a WinRS command starts (see `wsman_shell::ShellManager::launch`).

use std::path::Path;

use wsman_providers::{Caller, LaunchError, Launcher};
use wsman_shell::{ShellError, ShellOwner};

use super::ShellService;

impl Launcher for ShellService {
    fn launch(
        &self,
        caller: &Caller,
        command_line: &str,
        working_directory: Option<&Path>,
    ) -> Result<u32, LaunchError> {
        let Some(name) = caller.linux_user.as_deref() else {
            tracing::warn!(user = %caller.user, "process refused: the identity maps to no Linux user");
            return Err(LaunchError::AccessDenied(
                "the identity maps to no Linux user".to_owned(),
            ));
        };
        let run_as = match wsman_os::lookup_user(name) {
            Ok(Some(user)) => user,
            Ok(None) => {
                tracing::warn!(user = %caller.user, "process refused: the Linux user does not exist");
                return Err(LaunchError::AccessDenied(
                    "the Linux user does not exist".to_owned(),
                ));
            }
            Err(error) => return Err(LaunchError::Failed(error.to_string())),
        };
        let mut owner = ShellOwner::new(&caller.principal, run_as, caller.client_ip);
        owner.linux_account = caller.linux_account;
        self.manager()
            .launch(&owner, command_line, working_directory)
            .map(|launched| launched.pid)
            .map_err(launch_error)
    }

    fn terminate_launched(&self, pid: u32) -> Option<Result<(), LaunchError>> {
        let ended = self.manager().terminate_launched(pid)?;
        Some(
            ended
                .map(|_| ())
                .map_err(|error| LaunchError::Failed(error.to_string())),
        )
    }
}

/// Windows' meaning of each reason a program did not start.
fn launch_error(error: ShellError) -> LaunchError {
    let text = error.to_string();
    match error {
        ShellError::RunAsNotPermitted { .. } => LaunchError::InsufficientPrivilege(text),
        ShellError::InvalidCommandLine { .. } => LaunchError::InvalidParameter(text),
        // Missing, not a directory, or not enterable by the user: Windows' "path not found".
        ShellError::WorkingDirectory { .. } => LaunchError::PathNotFound(text),
        // A process counts as a shell of its user: the shells' own quota faults.
        ShellError::TooManyShells { .. } | ShellError::TooManyUsers { .. } => {
            LaunchError::Refused(Box::new(crate::error::shell_fault(error)))
        }
        // Checked when the request was authorized; the setting may have changed since.
        ShellError::RemoteShellAccessDisabled => LaunchError::Refused(Box::new(
            wsman_proto::Fault::access_denied().with_message(format!("{text}. ")),
        )),
        _ => LaunchError::Failed(text),
    }
}
