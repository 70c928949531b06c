#![allow(clippy::unwrap_used)]
//! The audit trail: a record per shell and command with who, from where,
//! what and how it ended; never the stdin contents.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// Single-threaded runtime: the subscriber set for this thread sees every
// record, including those written by spawned tasks.
#[tokio::test]
async fn every_shell_and_command_is_audited_without_stdin() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);

    let manager = manager(limits());
    let owner = owner("auditor", root_user());
    let shell = shell(&manager, &owner).await;
    let id = start(&manager, "auditor", &shell.shell_id, "cat; exit 3").await;
    send_input(
        &manager,
        "auditor",
        &shell.shell_id,
        &id,
        b"secret-input-1234\n",
        true,
    )
    .await;
    let (_, _, code) = collect(&manager, "auditor", &shell.shell_id, &id).await;
    assert_eq!(code, 3);
    manager
        .delete_shell(&key("auditor"), &shell.shell_id)
        .await
        .unwrap();

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let records: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("wsman::audit"))
        .collect();
    let find = |event: &str| {
        records
            .iter()
            .find(|line| line.contains(&format!("event=\"{event}\"")))
            .unwrap_or_else(|| panic!("no {event} record in:\n{text}"))
            .to_string()
    };
    let created = find("shell_created");
    assert!(created.contains("user=\"auditor\"") && created.contains("remote_address=127.0.0.1"));
    assert!(created.contains("principal=\"linux:auditor\""), "{created}");
    assert!(created.contains(&shell.shell_id));
    let started = find("command_started");
    assert!(started.contains(&id) && started.contains("command_line=\"cat; exit 3\""));
    let ended = find("command_ended");
    assert!(
        ended.contains("exit_code=3") && ended.contains("bytes_out=18"),
        "{ended}"
    );
    assert!(ended.contains("duration_ms="));
    let deleted = find("shell_ended");
    assert!(deleted.contains("reason=\"deleted\""));
    assert!(
        !text.contains("secret-input-1234"),
        "stdin contents leaked into the log"
    );
}
