//! The real `winrm` CLI against the real daemon (remote mode), and in local mode.

use std::process::Command;
use std::time::Duration;

use wsman_test::process::{self, has_line, Finished};
use wsman_test::{
    binaries, free_port, soap, ConfigDir, Daemon, Fixture, ListenerSpec, SERVICE_ACCOUNT,
    SERVICE_PASSWORD,
};

fn winrm(args: &[&str]) -> Finished {
    let mut command = Command::new(binaries::winrm());
    command.args(args).env_remove("WSMAND_CONFIG_DIR");
    process::run(&mut command, None, Duration::from_secs(60))
}

/// `winrm ARGS --config-dir DIR`: the CLI on the configuration directory `dir` itself.
fn winrm_in(dir: &str, args: &[&str]) -> Finished {
    winrm(&[args, &["--config-dir", dir]].concat())
}

#[test]
fn identify_over_http() {
    let fixture = Fixture::http();
    let finished = fixture.winrm_remote(&["identify"]);
    finished.assert_printed("IdentifyResponse");
    assert!(
        has_line(
            &finished.stdout,
            "ProtocolVersion = http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
        ),
        "{}",
        finished.describe()
    );
    let short = fixture.winrm_remote(&["id"]);
    assert_eq!(short.code(), 0, "{}", short.describe());
}

#[test]
fn get_config_shows_windows_names_and_defaults() {
    let fixture = Fixture::http();
    let finished = fixture.winrm_remote(&["get", "winrm/config"]);
    finished.assert_printed_lines(&[
        "Config",
        "MaxEnvelopeSizekb = 500",
        "MaxTimeoutms = 60000",
        "MaxBatchItems = 32000",
        "AllowUnencrypted = true",
        "Basic = true",
    ]);
}

#[test]
fn get_format_xml_prints_the_document() {
    let fixture = Fixture::http();
    let finished = fixture.winrm_remote(&["get", "winrm/config", "-format:xml"]);
    assert_eq!(finished.code(), 0, "{}", finished.describe());
    assert_eq!(
        soap::find_text(finished.stdout.trim(), "MaxEnvelopeSizekb").as_deref(),
        Some("500"),
        "{}",
        finished.describe()
    );
}

#[test]
fn set_changes_the_stored_value_and_invalid_values_change_nothing() {
    let fixture = Fixture::http();
    let finished = fixture.winrm_remote(&["set", "winrm/config", "@{MaxTimeoutms=\"90000\"}"]);
    assert_eq!(finished.code(), 0, "{}", finished.describe());
    let finished = fixture.winrm_remote(&["get", "winrm/config"]);
    assert!(
        has_line(&finished.stdout, "MaxTimeoutms = 90000"),
        "{}",
        finished.describe()
    );
    let config_toml = fixture.config.path().join("config.toml");
    let stored = std::fs::read_to_string(&config_toml).expect("config.toml");
    assert!(stored.contains("90000"), "{stored}");

    // Below the minimum of 500: refused, nothing written.
    let finished = fixture.winrm_remote(&["set", "winrm/config", "@{MaxTimeoutms=\"12\"}"]);
    assert_ne!(finished.code(), 0, "{}", finished.describe());
    let after = std::fs::read_to_string(&config_toml).expect("config.toml");
    assert_eq!(
        stored, after,
        "a refused Put must leave the stored configuration unchanged"
    );

    // Unknown setting: refused.
    let finished = fixture.winrm_remote(&["set", "winrm/config/service", "@{NoSuchSetting=\"1\"}"]);
    assert_ne!(finished.code(), 0, "{}", finished.describe());
}

#[test]
fn enumerate_listeners() {
    let fixture = Fixture::http();
    let finished = fixture.winrm_remote(&["enumerate", "winrm/config/listener"]);
    finished.assert_printed("Listener");
    let port = format!("Port = {}", fixture.port);
    finished.assert_printed_lines(&[
        "Address = IP:127.0.0.1",
        "Transport = HTTP",
        &port,
        "URLPrefix = wsman",
        "ListeningOn = 127.0.0.1",
    ]);
}

#[test]
fn wrong_password_fails() {
    let fixture = Fixture::http();
    let finished = winrm(&[
        "identify",
        &format!("-r:http://127.0.0.1:{}", fixture.port),
        &format!("-u:{SERVICE_ACCOUNT}"),
        "-p:wrong-password",
        "-a:Basic",
        "-unencrypted",
        "--config-dir",
        &fixture.config.path().to_string_lossy(),
    ]);
    // Refused by the server (exit 3, access denied), not by the client's own checks.
    assert_eq!(finished.code(), 3, "{}", finished.describe());
    assert!(!finished.stdout.contains("IdentifyResponse"));
}

#[test]
fn https_with_skip_checks_and_without() {
    let (fixture, _) = Fixture::https_with(|c| {
        c.set("Config.Service", "AllowUnencrypted", "false");
    });
    let port = fixture.port;
    let url = format!("-r:https://127.0.0.1:{port}");
    let user = format!("-u:{SERVICE_ACCOUNT}");
    let password = format!("-p:{SERVICE_PASSWORD}");
    let skipping_checks = |operation: &[&str]| {
        let switches = [
            url.as_str(),
            user.as_str(),
            password.as_str(),
            "-a:Basic",
            "-skipCAcheck",
            "-skipCNcheck",
        ];
        winrm(&[operation, &switches[..]].concat())
    };
    let finished = skipping_checks(&["identify"]);
    finished.assert_printed("IdentifyResponse");
    let finished = skipping_checks(&["get", "winrm/config"]);
    assert_eq!(finished.code(), 0, "{}", finished.describe());
    // A self-signed certificate is not trusted without -skipCAcheck.
    let finished = winrm(&["identify", &url, &user, &password, "-a:Basic"]);
    assert_ne!(finished.code(), 0, "{}", finished.describe());
}

#[test]
fn local_mode_reads_and_writes_the_config_dir() {
    let config = ConfigDir::new();
    config.write();
    let dir = config.path().to_string_lossy().into_owned();
    let finished = winrm_in(&dir, &["get", "winrm/config"]);
    assert_eq!(finished.code(), 0, "{}", finished.describe());
    assert!(
        has_line(&finished.stdout, "MaxEnvelopeSizekb = 500"),
        "{}",
        finished.describe()
    );
    let finished = winrm_in(
        &dir,
        &["set", "winrm/config/service", "@{MaxConnections=\"42\"}"],
    );
    assert_eq!(finished.code(), 0, "{}", finished.describe());
    // No daemon serves the directory: said, and the change waits for its start.
    assert!(
        finished.stderr.contains(&format!(
            "no wsmand is running for {dir}: the change applies when it starts"
        )),
        "{}",
        finished.describe()
    );
    let finished = winrm_in(&dir, &["get", "winrm/config/service"]);
    assert!(
        has_line(&finished.stdout, "MaxConnections = 42"),
        "{}",
        finished.describe()
    );
}

#[test]
fn local_create_of_https_listener_generates_a_usable_certificate() {
    let mut config = ConfigDir::new();
    config.set("Config.Service", "AllowUnencrypted", "false");
    config.write();
    config.add_service_account();
    let dir = config.path().to_string_lossy().into_owned();
    let port = free_port();
    let finished = winrm_in(
        &dir,
        &[
            "create",
            "winrm/config/Listener?Address=IP:127.0.0.1+Transport=HTTPS",
            &format!("@{{Port=\"{port}\";Hostname=\"localhost\"}}"),
        ],
    );
    assert_eq!(finished.code(), 0, "{}", finished.describe());
    let enumerated = winrm_in(&dir, &["enumerate", "winrm/config/listener"]);
    let thumbprint = enumerated
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("CertificateThumbprint = "))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no thumbprint listed\n{}", enumerated.describe()));
    assert_eq!(thumbprint.len(), 40, "SHA-1 hex thumbprint: {thumbprint:?}");
    assert_eq!(thumbprint, thumbprint.to_ascii_uppercase());
    assert!(config
        .path()
        .join(format!("certs/{thumbprint}.crt"))
        .is_file());
    assert!(config
        .path()
        .join(format!("certs/{thumbprint}.key"))
        .is_file());

    let _daemon = Daemon::start(&config, &[port]);
    let finished = winrm(&[
        "identify",
        &format!("-r:https://127.0.0.1:{port}"),
        &format!("-u:{SERVICE_ACCOUNT}"),
        &format!("-p:{SERVICE_PASSWORD}"),
        "-a:Basic",
        "-skipCAcheck",
        "-skipCNcheck",
    ]);
    assert_eq!(finished.code(), 0, "{}", finished.describe());
}

#[test]
fn quickconfig_https_in_a_config_dir() {
    let config = ConfigDir::new();
    let dir = config.path().to_string_lossy().into_owned();
    let finished = winrm_in(&dir, &["quickconfig", "-q", "-transport:https"]);
    assert_eq!(finished.code(), 0, "{}", finished.describe());
    let enumerated = winrm_in(&dir, &["enumerate", "winrm/config/listener"]);
    enumerated.assert_printed_lines(&["Transport = HTTPS", "Port = 5986"]);
    let service = winrm_in(&dir, &["get", "winrm/config/service"]);
    assert!(
        has_line(&service.stdout, "AllowUnencrypted = false"),
        "quickconfig must keep plain-HTTP Basic off: {}",
        service.describe()
    );
    service.assert_printed_lines(&["Basic = true"]);
}

/// Ten settings of three containers, each set by its own writer in the concurrency tests.
const CONCURRENT_KEYS: [(&str, &str); 10] = [
    ("winrm/config", "MaxTimeoutms"),
    ("winrm/config", "MaxBatchItems"),
    ("winrm/config/service", "MaxConcurrentOperationsPerUser"),
    ("winrm/config/service", "EnumerationTimeoutms"),
    ("winrm/config/service", "MaxConnections"),
    ("winrm/config/service", "MaxPacketRetrievalTimeSeconds"),
    ("winrm/config/winrs", "MaxConcurrentUsers"),
    ("winrm/config/winrs", "MaxProcessesPerShell"),
    ("winrm/config/winrs", "MaxMemoryPerShellMB"),
    ("winrm/config/winrs", "MaxShellsPerUser"),
];

/// Runs one writer per key at once against a daemon of its own, `rounds` sets each (the last
/// value is `600 + rounds - 1`), writer `i` remote through the daemon when `remote(i)`, else
/// local on its config dir; then checks that every key holds its writer's last value and that
/// every run exited 0.
fn concurrent_writers_keep_every_change(rounds: u32, remote: impl Fn(usize) -> bool) {
    let fixture = &Fixture::http();
    let dir = fixture.config.path().to_string_lossy().into_owned();
    std::thread::scope(|scope| {
        let writers: Vec<_> = CONCURRENT_KEYS
            .iter()
            .enumerate()
            .map(|(i, (path, key))| {
                let dir = dir.clone();
                let remote = remote(i);
                scope.spawn(move || {
                    for round in 0..rounds {
                        let value = format!("@{{{key}=\"{}\"}}", 600 + round);
                        let finished = if remote {
                            fixture.winrm_remote(&["set", path, &value])
                        } else {
                            winrm_in(&dir, &["set", path, &value])
                        };
                        assert_eq!(finished.code(), 0, "{key}: {}", finished.describe());
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().expect("writer thread");
        }
    });
    let finished = winrm_in(&dir, &["get", "winrm/config"]);
    assert_eq!(finished.code(), 0, "{}", finished.describe());
    let lost: Vec<&str> = CONCURRENT_KEYS
        .iter()
        .map(|(_, key)| *key)
        .filter(|key| !has_line(&finished.stdout, &format!("{key} = {}", 600 + rounds - 1)))
        .collect();
    assert!(
        lost.is_empty(),
        "changes lost by concurrent writers: {lost:?}\n{}",
        finished.describe()
    );
}

#[test]
fn concurrent_local_writers_keep_every_change() {
    concurrent_writers_keep_every_change(3, |_| false);
}

#[test]
fn concurrent_local_and_remote_writers_keep_every_change() {
    // Half through the daemon, half through the config dir at the same time: the daemon and
    // the CLI take the same lock.
    concurrent_writers_keep_every_change(3, |i| i % 2 == 1);
}

#[test]
fn concurrent_remote_writers_keep_every_change() {
    concurrent_writers_keep_every_change(1, |_| true);
}

#[test]
fn deleting_a_listener_deletes_its_generated_certificate_and_warns_when_none_is_left() {
    let mut config = ConfigDir::new();
    // An operator's own certificate, used by a second listener: never deleted.
    let own = config.add_certificate();
    config.listener(ListenerSpec::https(free_port(), &own));
    config.write();
    let dir = config.path().to_string_lossy().into_owned();
    let certs = config.path().join("certs");
    let listener = "winrm/config/Listener?Address=IP:127.0.0.2+Transport=HTTPS";
    let listed_certificates = || {
        let mut names: Vec<String> = std::fs::read_dir(&certs)
            .expect("certs dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".crt") || n.ends_with(".key"))
            .collect();
        names.sort();
        names
    };
    let only_own = listed_certificates();
    for _ in 0..2 {
        let port = free_port().to_string();
        let finished = winrm_in(
            &dir,
            &[
                "create",
                listener,
                &format!("@{{Port=\"{port}\";Hostname=\"localhost\"}}"),
            ],
        );
        assert_eq!(finished.code(), 0, "{}", finished.describe());
        assert_eq!(listed_certificates().len(), only_own.len() + 2);
        let finished = winrm_in(&dir, &["delete", listener]);
        assert_eq!(finished.code(), 0, "{}", finished.describe());
        assert!(!finished.stderr.contains("no listener is left"));
        // Re-creating leaves no old certificate behind.
        assert_eq!(
            listed_certificates(),
            only_own,
            "generated certificate left behind"
        );
    }
    let finished = winrm_in(
        &dir,
        &[
            "delete",
            "winrm/config/Listener?Address=IP:127.0.0.1+Transport=HTTPS",
        ],
    );
    assert_eq!(finished.code(), 0, "{}", finished.describe());
    assert!(
        finished.stderr.contains("no listener is left"),
        "{}",
        finished.describe()
    );
    assert_eq!(
        listed_certificates(),
        only_own,
        "an operator's certificate is kept"
    );
}

/// The daemon's control socket answers `refused` with the file and line when the files do
/// not load, every time it is asked (not only the first time, as the periodic check logs
/// it), keeps the configuration in force, and `applied` once they load again.
#[test]
fn the_control_socket_refuses_files_that_do_not_load_and_says_why() {
    use std::io::{BufRead as _, BufReader, Write as _};
    let mut fixture = Fixture::http();
    let socket = fixture.config.path().join(".control.sock");
    let ask = || {
        let mut stream = std::os::unix::net::UnixStream::connect(&socket).expect("control socket");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        stream.write_all(b"apply\n").expect("request");
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).expect("answer");
        line
    };
    assert_eq!(ask(), "applied\n");
    let config = fixture.config.path().join("config.toml");
    let good = std::fs::read_to_string(&config).expect("config.toml");
    std::fs::write(&config, format!("{good}\n[Config]\nMaxBatchItems = 0\n")).expect("write");
    for _ in 0..2 {
        let answer = ask();
        assert!(
            answer.starts_with("refused ") && answer.contains("config.toml:"),
            "{answer}"
        );
    }
    // The configuration in force still serves.
    fixture.assert_still_serving();
    std::fs::write(&config, &good).expect("write");
    assert_eq!(ask(), "applied\n");
}

/// Only root or the daemon's own user may ask the control socket to apply: a request from
/// another user (here `nobody`, with the directory and the socket opened to it on purpose)
/// gets no answer, and the refusal is logged.
#[test]
fn the_control_socket_answers_no_other_user() {
    use std::os::unix::fs::PermissionsExt as _;
    if !wsman_test::systemd::is_root() {
        eprintln!("skipped: needs root to ask as another user");
        return;
    }
    let mut fixture = Fixture::http();
    let dir = fixture.config.path().to_owned();
    let socket = dir.join(".control.sock");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod dir");
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o777))
        .expect("chmod socket");
    let script = "import socket,sys\n\
                  s=socket.socket(socket.AF_UNIX)\n\
                  s.settimeout(20)\n\
                  s.connect(sys.argv[1])\n\
                  try:\n s.sendall(b'apply\\n'); answer=s.recv(100)\n\
                  except (BrokenPipeError, ConnectionResetError):\n answer=b''\n\
                  print('closed' if answer==b'' else repr(answer))\n";
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .args(["/usr/bin/python3", "-c", script])
        .arg(&socket)
        .output()
        .expect("setpriv");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The connection was reached (so the refusal is the daemon's) and closed unanswered.
    assert_eq!(stdout.trim(), "closed", "{stdout}");
    let log = fixture.daemon.stderr_path();
    fixture.daemon.wait_until("the refusal logged", || {
        std::fs::read_to_string(&log)
            .is_ok_and(|log| log.contains("control socket: a request from another user refused"))
    });
}
