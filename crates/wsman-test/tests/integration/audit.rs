//! The audit records as JSON lines (`--audit-file`, here `WSMAND_AUDIT_FILE`) on a host
//! without a journal: one object per shell and command start and end, written by the real
//! daemon for a real `winrs` command.

use std::process::Command;
use std::time::Duration;

use wsman_test::SERVICE_ACCOUNT;
use wsman_test::{binaries, free_port, process, ConfigDir, Daemon, ListenerSpec};

#[test]
fn audit_records_go_to_the_audit_file_as_json_lines() {
    let port = free_port();
    let mut config = ConfigDir::new();
    config.listener(ListenerSpec::http(port));
    config.write();
    config.add_service_account();
    let audit = config.path().join("audit.jsonl");
    let audit_text = audit.display().to_string();
    let mut daemon =
        Daemon::start_with_env(&config, &[port], &[("WSMAND_AUDIT_FILE", &audit_text)]);
    let mut winrs = Command::new(binaries::path("winrs"));
    winrs
        .args(wsman_test::basic_http_switches(port))
        .arg("echo to-the-file; exit 4")
        .env("WSMAND_CONFIG_DIR", config.path());
    let finished = process::run(&mut winrs, None, Duration::from_secs(60));
    assert_eq!(finished.code(), 4, "{}", finished.describe());
    let read = || std::fs::read_to_string(&audit).unwrap_or_default();
    daemon.wait_until("the shell_ended record", || read().contains("shell_ended"));
    let records: Vec<serde_json::Value> = read()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let events: Vec<&str> = records.iter().filter_map(|r| r["event"].as_str()).collect();
    assert_eq!(
        events,
        [
            "shell_created",
            "command_started",
            "command_ended",
            "shell_ended"
        ],
        "{records:?}"
    );
    let ended = &records[2];
    assert_eq!(ended["user"], SERVICE_ACCOUNT);
    assert_eq!(ended["remote_address"], "127.0.0.1");
    assert_eq!(ended["command_line"], "echo to-the-file; exit 4");
    assert_eq!(ended["exit_code"], 4);
    assert!(ended["duration_ms"].is_u64(), "{ended}");
    assert!(
        ended["time"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{ended}"
    );
}
