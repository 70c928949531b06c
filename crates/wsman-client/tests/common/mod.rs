//! What the client's tests against the real daemon share.
#![allow(dead_code)] // each test file uses a part

use wsman_client::shell::{Command, CommandOptions, CommandOutput, Shell, ShellOptions};
use wsman_client::{BlockingClient, Client, ClientError, Resource};
use wsman_proto::xml::Element;

/// `winrm/config` as the client at hand may read it: administrators only.
#[allow(clippy::result_large_err)] // the client's own error, as its `get` returns it
pub(crate) fn get_config(client: &BlockingClient) -> Result<Element, ClientError> {
    client.get(&Resource::new(
        "http://schemas.microsoft.com/wbem/wsman/1/config",
    ))
}

/// `command` run to its end in a new shell of `client` with default options, `stdin` its whole
/// input.
pub(crate) fn run_to_end(client: &BlockingClient, command: &str, stdin: &[u8]) -> CommandOutput {
    client
        .run_command(
            command,
            &[],
            stdin,
            &ShellOptions::default(),
            &CommandOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{command}: {e}"))
}

/// A shell of `client` with default options.
pub(crate) async fn default_shell(client: &Client) -> Shell {
    Shell::open(client, &ShellOptions::default())
        .await
        .unwrap_or_else(|e| panic!("open a shell: {e}"))
}

/// `command` started in `shell` with default options.
pub(crate) async fn start(shell: &Shell, command: &str) -> Command {
    shell
        .run(command, &[], &CommandOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{command}: {e}"))
}

/// `command` run to its end in `shell`: its output and exit code.
pub(crate) async fn run_in(shell: &Shell, command: &str) -> CommandOutput {
    start(shell, command)
        .await
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{command}: {e}"))
}
