//! Real syslog receivers for the collector's syslog output, each a child process on 127.0.0.1
//! with its own configuration in a test's directory (never the machine's syslog daemon, never
//! /dev/log): Debian's rsyslog (`rsyslogd -n`, packages rsyslog, rsyslog-gnutls and
//! rsyslog-relp) and syslog-ng (unpacked by `scripts/syslog-ng.sh`: its package conflicts with
//! rsyslog's). Each writes what it parsed as JSON lines (rsyslog's `jsonmesg`, syslog-ng's
//! `format-json`), read back by [`Receiver::records`]; killed and reaped when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a receiver may take to start, or records to arrive.
const WAIT: Duration = Duration::from_secs(20);

/// A receiver process and the file it writes.
pub struct Receiver {
    pub child: Child,
    /// One JSON object per message received.
    pub out: PathBuf,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The TLS files of a receiver: the CA its peers' certificates must chain to, its certificate
/// and key (PEM paths).
#[derive(Clone, Copy, Debug)]
pub struct ReceiverTls<'a> {
    pub ca_file: &'a str,
    pub certificate: &'a str,
    pub key: &'a str,
}

impl Receiver {
    /// Waits until 127.0.0.1:`port` accepts a connection; panics when the process exits first.
    pub fn wait_for_port(&mut self, port: u16) {
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the receiver exited: {status}");
            }
            assert!(Instant::now() < deadline, "port {port} never opened");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// How many records it wrote (its lines, not parsed).
    pub fn count(&self) -> usize {
        std::fs::read(&self.out)
            .map(|bytes| bytes.iter().filter(|b| **b == b'\n').count())
            .unwrap_or(0)
    }

    /// Every record it wrote.
    pub fn records(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }

    /// The records once there are at least `count` of them.
    pub fn wait_for(&self, count: usize) -> Vec<Value> {
        crate::poll(
            WAIT,
            || Some(self.records()).filter(|records| records.len() >= count),
            || format!("{} of {count} records arrived", self.records().len()),
        )
    }

    /// `kill SIGNAL` the process (`-STOP`, `-CONT`, `-KILL`). After `-STOP`, returns once
    /// every thread of it is stopped (kill(2) returns before they are).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {signal}");
        if signal == "-STOP" {
            let deadline = Instant::now() + WAIT;
            while !self.stopped() {
                assert!(Instant::now() < deadline, "the receiver did not stop");
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    /// Whether every thread is stopped (state `T` in `/proc/PID/task/TID/stat`).
    fn stopped(&self) -> bool {
        let tasks = Path::new("/proc")
            .join(self.child.id().to_string())
            .join("task");
        let Ok(entries) = std::fs::read_dir(tasks) else {
            return false;
        };
        entries.filter_map(Result::ok).all(|task| {
            std::fs::read_to_string(task.path().join("stat")).is_ok_and(|stat| {
                // The state follows the command name's closing parenthesis.
                stat.rsplit_once(") ")
                    .is_some_and(|(_, rest)| rest.starts_with('T') || rest.starts_with('t'))
            })
        })
    }
}

/// rsyslogd in the foreground with `modules` and `inputs` (its `module()` and `input()` lines;
/// each input's `ruleset="events"`), writing every message as `jsonmesg` to `dir/NAME.jsonl`
/// through a Direct queue: a message is written before `imrelp` answers it. Returns once
/// 127.0.0.1:`tcp_port` accepts.
pub fn rsyslog(dir: &Path, name: &str, modules: &str, inputs: &str, tcp_port: u16) -> Receiver {
    let out = dir.join(format!("{name}.jsonl"));
    let work = dir.join(format!("{name}.work"));
    std::fs::create_dir_all(&work).expect("work dir");
    let config = dir.join(format!("{name}.conf"));
    std::fs::write(
        &config,
        format!(
            "global(workDirectory=\"{work}\" maxMessageSize=\"256k\")\n{modules}\n\
             template(name=\"json\" type=\"list\") {{ property(name=\"jsonmesg\") constant(value=\"\\n\") }}\n\
             ruleset(name=\"events\" queue.type=\"Direct\") {{ action(type=\"omfile\" file=\"{out}\" template=\"json\") }}\n{inputs}\n",
            work = work.display(),
            out = out.display(),
        ),
    )
    .expect("rsyslog.conf");
    let child = Command::new("rsyslogd")
        .args(["-n", "-f"])
        .arg(&config)
        .arg("-i")
        .arg(dir.join(format!("{name}.pid")))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect(
            "rsyslogd (Debian packages rsyslog, rsyslog-gnutls, rsyslog-relp: REQUIRED_PACKAGES)",
        );
    let mut receiver = Receiver { child, out };
    receiver.wait_for_port(tcp_port);
    receiver
}

/// rsyslog's `imrelp` on `port`; with `tls`, RELP over TLS requiring a client certificate the
/// CA issued (`tls.authmode="certvalid"`).
pub fn rsyslog_relp(dir: &Path, name: &str, port: u16, tls: Option<ReceiverTls<'_>>) -> Receiver {
    let tls = match tls {
        Some(tls) => format!(
            " tls=\"on\" tls.cacert=\"{}\" tls.mycert=\"{}\" tls.myprivkey=\"{}\" tls.authmode=\"certvalid\"",
            tls.ca_file, tls.certificate, tls.key
        ),
        None => String::new(),
    };
    rsyslog(
        dir,
        name,
        "module(load=\"imrelp\")",
        &format!(
            "input(type=\"imrelp\" address=\"127.0.0.1\" port=\"{port}\" ruleset=\"events\"{tls})"
        ),
        port,
    )
}

/// The directory syslog-ng is unpacked in (`scripts/syslog-ng.sh`, which unpacks it once).
pub fn syslog_ng_root() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/syslog-ng.sh");
    let output = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .expect("scripts/syslog-ng.sh");
    assert!(output.status.success(), "scripts/syslog-ng.sh failed");
    PathBuf::from(String::from_utf8(output.stdout).expect("a path").trim())
}

/// syslog-ng in the foreground with `config` (written to `dir/syslog-ng.conf`), its persist
/// file, pid file and control socket in `dir`; returns once each of `ports` accepts. Its
/// records are those of the file `out` names.
pub fn syslog_ng(dir: &Path, config: &str, ports: &[u16], out: PathBuf) -> Receiver {
    let root = syslog_ng_root();
    std::fs::write(dir.join("syslog-ng.conf"), config).expect("syslog-ng.conf");
    let modules = std::fs::read_dir(root.join("usr/lib/syslog-ng"))
        .expect("usr/lib/syslog-ng")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .expect("the modules' directory");
    let child = Command::new(root.join("usr/sbin/syslog-ng"))
        .env("LD_LIBRARY_PATH", root.join("usr/lib/syslog-ng"))
        .arg(format!("--module-path={}", modules.display()))
        .arg("-f")
        .arg(dir.join("syslog-ng.conf"))
        .args(["-F", "--no-caps", "-R"])
        .arg(dir.join("syslog-ng.persist"))
        .arg("-p")
        .arg(dir.join("syslog-ng.pid"))
        .arg("-c")
        .arg(dir.join("syslog-ng.ctl"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("syslog-ng");
    let mut receiver = Receiver { child, out };
    for port in ports {
        receiver.wait_for_port(*port);
    }
    receiver
}
