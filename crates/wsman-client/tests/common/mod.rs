//! What the client's tests against the real daemon share.
#![allow(dead_code)] // each test file uses a part

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
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

/// What a [`spy_proxy`] saw pass, one direction.
pub(crate) type Recording = Arc<Mutex<Vec<u8>>>;

/// A TCP proxy on 127.0.0.1 forwarding to `port`, recording what the server sent and what
/// the client sent.
pub(crate) async fn spy_proxy(port: u16) -> (u16, Recording, Recording) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let proxy_port = listener.local_addr().expect("its address").port();
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let sent = Arc::new(Mutex::new(Vec::new()));
    let record = recorded.clone();
    let record_sent = sent.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connect to the server");
            let record = record.clone();
            let up_record = record_sent.clone();
            tokio::spawn(async move {
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let upstream = tokio::spawn(async move {
                    let mut buffer = vec![0u8; 16 * 1024];
                    while let Ok(n) = client_read.read(&mut buffer).await {
                        if n == 0 || server_write.write_all(&buffer[..n]).await.is_err() {
                            break;
                        }
                        up_record
                            .lock()
                            .expect("lock")
                            .extend_from_slice(&buffer[..n]);
                    }
                });
                let mut buffer = vec![0u8; 16 * 1024];
                while let Ok(n) = server_read.read(&mut buffer).await {
                    if n == 0 || client_write.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                    record.lock().expect("lock").extend_from_slice(&buffer[..n]);
                }
                upstream.abort();
            });
        }
    });
    (proxy_port, recorded, sent)
}
