//! Windows Event Forwarding from a Linux host: a real wsmand as the forwarder, reading the
//! journal of a real systemd booted in its own namespaces, and a real wsmand as the collector
//! (a subscription file, the file output) on loopback, Basic with a service account.
//!
//! Entries logged in the namespace with `logger` (a unique tag) must reach the collector's file
//! in order, with the record ids journald gave them (read back with `journalctl -o export`),
//! gap-free, across a collector killed mid-stream and restarted, and a forwarder restarted
//! mid-stream, and a journal vacuumed past the forwarder's cursor while it was stopped (the
//! lost records are named by an event of their own). The first event is Windows' EventID 111,
//! sent once (the collector has a bookmark afterwards). A forwarder frozen with SIGSTOP past
//! its heartbeats is reported dead and resumes gap-free; what it puts on the wire is held to
//! the transcribed messages of a Windows forwarder (header set and order, SLDC, UTF-16).
//!
//! By concern: [`journal`] (delivery across restarts and freezes, the journal's reads),
//! [`collectors`] (what collectors offer and answer, their changes and SIGHUP, paged answers),
//! [`authentication`] (client certificates, Kerberos), [`windows_shape`] (what goes on the
//! wire against a Windows forwarder's messages).

mod authentication;
mod collectors;
mod credentials;
mod journal;
mod windows_shape;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use wsman_test::systemd::BootedSystemd;
use wsman_test::{free_port, wec_database_env, ConfigDir, Daemon, Fixture, ListenerSpec};
use wsman_test::{SERVICE_ACCOUNT, SERVICE_PASSWORD};

/// What every forwarding test starts from: a booted systemd and its journal, a scratch
/// directory for the collector's output and bookmark database, and a tag of the test's own.
struct Scene {
    systemd: BootedSystemd,
    journal: PathBuf,
    state: tempfile::TempDir,
    output: PathBuf,
    database: PathBuf,
    tag: String,
}

impl Scene {
    /// `None` (reason printed) where systemd cannot boot here.
    fn boot(tag: &str) -> Option<Scene> {
        let systemd = BootedSystemd::boot()?;
        let journal = systemd.root().join("var/log/journal");
        let state = tempfile::tempdir().expect("tempdir");
        let output = state.path().join("out");
        let database = state.path().join("wec.sqlite");
        Some(Scene {
            systemd,
            journal,
            state,
            output,
            database,
            tag: format!("{tag}-{}", std::process::id()),
        })
    }
}

impl Scene {
    /// A subscription of the scene's tag that reads the existing entries and delivers within a
    /// second, written to `file` under the scene's output directory.
    fn prompt_subscription(&self, file: &str) -> String {
        subscription(
            &self.tag,
            &self.output,
            "max_latency_seconds = 1\nread_existing_events = true\n",
            file,
        )
    }

    /// A collector's environment: its bookmark database in the scene's directory.
    fn collector_env(&self) -> [(&'static str, &str); 1] {
        wec_database_env(&self.database)
    }

    /// A forwarder's environment: the booted systemd's journal.
    fn forwarder_env(&self) -> [(&'static str, &str); 1] {
        [(
            "WSMAND_JOURNAL_DIRECTORY",
            self.journal.to_str().expect("utf-8 path"),
        )]
    }

    /// A collector serving `subscription` as `subscriptions/linux.toml`, with the scene's
    /// bookmark database and `env` besides; `more` adds to its configuration.
    fn collector(
        &self,
        subscription: &str,
        env: &[(&str, &str)],
        more: impl FnOnce(&mut ConfigDir),
    ) -> Fixture {
        let mut env = env.to_vec();
        env.extend(self.collector_env());
        Fixture::http_with_env(
            |config| {
                more(config);
                config.write_raw("subscriptions/linux.toml", subscription);
            },
            &env,
        )
    }

    /// [`Scene::collector`] with an HTTPS listener besides: the collector, its HTTPS port and
    /// its certificate's file (a forwarder's `ca_file`).
    fn https_collector(
        &self,
        subscription: &str,
        more: impl FnOnce(&mut ConfigDir),
    ) -> (Fixture, u16, PathBuf) {
        let https_port = free_port();
        let mut thumbprint = String::new();
        let mut collector = self.collector(subscription, &[], |config| {
            thumbprint = config.add_certificate();
            config.listener(ListenerSpec::https(https_port, &thumbprint));
            more(config);
        });
        collector.daemon.wait_for_port(https_port);
        let certificate = collector
            .config
            .path()
            .join(format!("certs/{thumbprint}.crt"));
        (collector, https_port, certificate)
    }

    /// The service account's password in a file of the scene's directory (`password_file`).
    fn password_file(&self) -> PathBuf {
        let password = self.state.path().join("password");
        std::fs::write(&password, format!("{SERVICE_PASSWORD}\n")).expect("password file");
        password
    }

    /// Where a forwarder keeps its cursors (`state_directory`).
    fn cursors(&self) -> PathBuf {
        self.state.path().join("cursors")
    }
}

/// A forwarder's configuration: an HTTP listener on a free port (returned with it) and
/// `forwarding` as its `forwarding.toml`.
fn forwarder_config(forwarding: &str) -> (ConfigDir, u16) {
    let port = free_port();
    let mut config = ConfigDir::new();
    config.listener(ListenerSpec::http(port));
    config.write();
    config.write_raw("forwarding.toml", forwarding);
    (config, port)
}

/// A collector subscription selecting the entries tagged `tag`, with `delivery` settings
/// (TOML lines), written as raw XML to `file` under `output`. Its explicit map lets the
/// service account speak for the forwarders' Computer, `SERVICE_ACCOUNT.forwarder.test` (the
/// collector matches full names only).
fn subscription(tag: &str, output: &Path, delivery: &str, file: &str) -> String {
    format!(
        "query = '<QueryList><Query Id=\"0\"><Select Path=\"Application\">*[System[Provider[@Name=\"{tag}\"]]]</Select></Query></QueryList>'\n{delivery}[[outputs]]\ntype = \"file\"\npath = \"{}/{file}\"\nformat = \"raw\"\n[computers]\n\"{SERVICE_ACCOUNT}\" = [\"{SERVICE_ACCOUNT}.forwarder.test\"]\n",
        output.display()
    )
}

/// The journal's sequence numbers of the entries tagged `tag`, in order: `__SEQNUM` where
/// journalctl prints it, else the `i=` (hex) part of the cursor, which is the same number.
fn journal_records(systemd: &BootedSystemd, tag: &str, count: usize) -> Vec<u64> {
    let export = systemd.journal_until(&["-t", tag, "-o", "export"], |out| {
        out.lines().filter(|l| l.starts_with("__CURSOR=")).count() >= count
    });
    seqnums(&export)
}

/// The sequence numbers of every entry `journalctl ARGS` prints.
fn journal_records_of(systemd: &BootedSystemd, args: &[&str]) -> Vec<u64> {
    let mut argv = vec!["-o", "export"];
    argv.extend_from_slice(args);
    seqnums(&systemd.journal_until(&argv, |out| out.contains("__CURSOR=")))
}

fn seqnums(export: &str) -> Vec<u64> {
    let seqnums: Vec<u64> = export
        .lines()
        .filter_map(|l| l.strip_prefix("__SEQNUM="))
        .map(|n| n.parse().expect("a sequence number"))
        .collect();
    if !seqnums.is_empty() {
        return seqnums;
    }
    export
        .lines()
        .filter_map(|l| l.strip_prefix("__CURSOR="))
        .filter_map(|c| c.split(';').find_map(|p| p.strip_prefix("i=")))
        .map(|hex| u64::from_str_radix(hex, 16).expect("a hex sequence number"))
        .collect()
}

/// EventRecordIDs of the events of `provider` in the collector's raw file, in file order.
fn collected(file: &Path, provider: &str) -> Vec<u64> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            l.contains(&format!("Name='{provider}'")) || l.contains(&format!("Name=\"{provider}\""))
        })
        .filter_map(|l| {
            l.split("<EventRecordID>")
                .nth(1)?
                .split('<')
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool, log: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn log_entries(systemd: &BootedSystemd, tag: &str, range: std::ops::Range<usize>) {
    for n in range {
        systemd.exec_ok(&[
            "logger",
            "-t",
            tag,
            "-p",
            "user.warning",
            &format!("forwarded entry {n}"),
        ]);
    }
}

/// SIGTERM: the daemon's orderly stop (Daemon::stop kills outright).
fn terminate(daemon: &mut Daemon) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &daemon.pid().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    while daemon.is_running() {
        assert!(Instant::now() < deadline, "wsmand did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// [`forwarder_over_an_empty_journal`] as `linux01` to the scripted collector on
/// `collector_port`, enumerating its subscriptions every `refresh` seconds.
fn linux01_forwarder(state: &Path, collector_port: u16, refresh: u32) -> Daemon {
    forwarder_over_an_empty_journal(
        state,
        "linux01.example.test",
        &format!(
            "http://127.0.0.1:{collector_port}/wsman/SubscriptionManager/WEC,Refresh={refresh}"
        ),
        "linux01",
        "secret-of-the-forwarder",
    )
}

/// What the recorded collector (`collector`, handed what it records into) and `linux01`
/// forwarding to it every `refresh` seconds start from: the forwarder's state directory, the
/// record, the forwarder (in the order they may be dropped in reverse).
fn linux01_forwarding_to<T: Default>(
    collector: impl FnOnce(std::sync::Arc<std::sync::Mutex<T>>) -> u16,
    refresh: u32,
) -> (
    tempfile::TempDir,
    std::sync::Arc<std::sync::Mutex<T>>,
    Daemon,
) {
    let record = std::sync::Arc::new(std::sync::Mutex::new(T::default()));
    let collector_port = collector(record.clone());
    let state = tempfile::tempdir().expect("tempdir");
    let forwarder = linux01_forwarder(state.path(), collector_port, refresh);
    (state, record, forwarder)
}

/// One request a scripted collector read: its path, its headers (names in lower case) and
/// its body.
struct CollectorRequest {
    path: String,
    headers: std::collections::HashMap<String, String>,
    body: Vec<u8>,
}

impl CollectorRequest {
    /// A header's value, empty when absent.
    fn header(&self, name: &str) -> String {
        self.headers.get(name).cloned().unwrap_or_default()
    }
}

/// A collector of a test's own on a loopback port: each HTTP request is answered 200 with the
/// SOAP envelope `answer` makes of it and `port` (its address, for the subscriptions it offers).
fn scripted_collector(
    answer: impl Fn(CollectorRequest, u16) -> String + Send + Sync + 'static,
) -> u16 {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("address").port();
    let answer = std::sync::Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let answer = answer.clone();
            std::thread::spawn(move || {
                let mut writer = stream.try_clone().expect("clone");
                let mut reader = BufReader::new(stream);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let mut headers = std::collections::HashMap::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':') {
                            headers.insert(name.to_ascii_lowercase(), value.trim().to_owned());
                        }
                    }
                    let length: usize = headers
                        .get("content-length")
                        .and_then(|l| l.parse().ok())
                        .unwrap_or(0);
                    let mut body = vec![0; length.min(1 << 20)];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let request = CollectorRequest {
                        path,
                        headers,
                        body,
                    };
                    let answer = answer(request, port);
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: {}\r\n\r\n",
                        answer.len()
                    );
                    if writer.write_all(head.as_bytes()).is_err()
                        || writer.write_all(answer.as_bytes()).is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// The `MessageID` of an envelope's text, empty when it has none.
fn message_id_of(text: &str) -> String {
    text_after(text, "MessageID>")
}

/// The text between the first `marker` and the next `<`, empty when there is no `marker`.
fn text_after(text: &str, marker: &str) -> String {
    text.split(marker)
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap_or("")
        .to_owned()
}

/// A whole EnumerateResponse with `items`, relating to `message_id`, as `our_id`.
fn enumerate_response(our_id: &str, message_id: &str, items: &str) -> String {
    format!("<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\" xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"><s:Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse</a:Action><a:MessageID>{our_id}</a:MessageID><a:RelatesTo>{message_id}</a:RelatesTo></s:Header><s:Body><n:EnumerateResponse><n:EnumerationContext/><w:Items>{items}</w:Items><w:EndOfSequence/></n:EnumerateResponse></s:Body></s:Envelope>")
}

/// A forwarding wsmand over an empty journal directory (under `state`, which also keeps its
/// cursors), enumerating `manager` (a subscription manager URL and its options as `Server=`
/// takes them) with Basic as `user` over
/// plain HTTP: for tests of what it sends and reads, not of what the journal holds.
fn forwarder_over_an_empty_journal(
    state: &Path,
    computer: &str,
    manager: &str,
    user: &str,
    password: &str,
) -> Daemon {
    let journal = state.join("journal");
    std::fs::create_dir(&journal).expect("an empty journal directory");
    let password_file = state.join("password");
    std::fs::write(&password_file, format!("{password}\n")).expect("password file");
    let (config, port) = forwarder_config(&format!(
        "computer = \"{computer}\"\nstate_directory = \"{}\"\n[[collector]]\nserver = \"Server={manager}\"\nauthentication = \"basic\"\nusername = \"{user}\"\npassword_file = \"{}\"\nallow_unencrypted = true\n",
        state.join("cursors").display(),
        password_file.display()
    ));
    let env = [("WSMAND_JOURNAL_DIRECTORY", journal.to_str().expect("utf-8"))];
    Daemon::start_with_env(&config, &[port], &env)
}
