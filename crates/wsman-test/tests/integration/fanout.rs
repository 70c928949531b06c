//! `winrs` on many hosts: 20 real daemons on loopback, a port nothing listens on, and a host
//! that accepts connections and never answers. Each host's result is checked against the host
//! it came from: the command prints `$PPID`, the process id of the daemon that started its
//! shell, so a result attributed to the wrong host shows.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use wsman_test::process::{self, Finished};
use wsman_test::{binaries, free_port, Fixture, SERVICE_ACCOUNT, SERVICE_PASSWORD};

const DEADLINE: Duration = Duration::from_secs(120);
/// Per-host deadline given to winrs: what ends the silent host.
const HOST_TIMEOUT_MS: &str = "3000";

/// A TCP listener on a free loopback port that accepts connections and never answers; the
/// connections stay open until the test process ends.
fn silent_host() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local_addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

fn url(port: u16) -> String {
    format!("http://127.0.0.1:{port}/wsman")
}

struct Hosts {
    fleet: Vec<Fixture>,
    dead: String,
    silent: String,
    /// The hosts file: the fleet, the dead port and the silent host, with comments and blank
    /// lines between.
    file: tempfile::NamedTempFile,
}

impl Hosts {
    fn new(count: usize) -> Self {
        let fleet = Fixture::fleet(count);
        let dead = url(free_port());
        let silent = url(silent_host());
        let mut text = String::from("# the fleet\n\n");
        for fixture in &fleet {
            text.push_str(&format!(
                "{}   # pid {}\n",
                fixture.url(),
                fixture.daemon.pid()
            ));
        }
        text.push_str(&format!("\n# nothing listens here\n{dead}\n{silent}\n"));
        let file = tempfile::NamedTempFile::new().expect("hosts file");
        std::fs::write(file.path(), text).expect("write the hosts file");
        Self {
            fleet,
            dead,
            silent,
            file,
        }
    }

    /// winrs with the first daemon's config dir as the client configuration (unencrypted
    /// traffic to 127.0.0.1 allowed) and `-r:REMOTE`.
    fn winrs(&self, remote: &str, args: &[&str]) -> Command {
        let mut command = Command::new(binaries::path("winrs"));
        command
            .env("WSMAND_CONFIG_DIR", self.fleet[0].config.path())
            .arg(format!("-r:{remote}"))
            .args(["-a:Basic", "-unencrypted"])
            .arg(format!("-u:{SERVICE_ACCOUNT}"))
            .arg(format!("-p:{SERVICE_PASSWORD}"))
            .arg(format!("-hosttimeout:{HOST_TIMEOUT_MS}"))
            .args(args);
        command
    }

    fn all(&self) -> String {
        format!("@{}", self.file.path().display())
    }
}

fn run(mut command: Command) -> Finished {
    process::run(&mut command, None, DEADLINE)
}

/// Prints the daemon's pid twice; the daemon `odd` (a pid) makes it exit 7 with a line on
/// stderr.
fn script(odd: u32) -> String {
    format!("echo pid $PPID; echo again $PPID; if [ $PPID = {odd} ]; then echo odd >&2; exit 7; fi")
}

#[test]
fn twenty_hosts_a_dead_one_and_a_silent_one_each_get_their_own_result() {
    let hosts = Hosts::new(20);
    let odd = hosts.fleet[5].daemon.pid();
    let done = run(hosts.winrs(&hosts.all(), &[&script(odd)]));
    assert_eq!(done.code(), 248, "{}", done.describe());
    let stdout = done.stdout.clone();
    let stderr = done.stderr.clone();

    // Every daemon's lines, prefixed with its URL, adjacent and in order, naming its pid.
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 40, "{}", done.describe());
    for fixture in &hosts.fleet {
        let name = fixture.url();
        let at = lines
            .iter()
            .position(|l| l.starts_with(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no output from {name}\n{}", done.describe()));
        let pid = fixture.daemon.pid();
        assert_eq!(
            lines[at],
            format!("{name}: pid {pid}"),
            "{}",
            done.describe()
        );
        assert_eq!(
            lines[at + 1],
            format!("{name}: again {pid}"),
            "{}",
            done.describe()
        );
    }

    let odd_name = hosts.fleet[5].url();
    for expected in [
        format!("{odd_name}: odd"),
        format!("{odd_name}: exit code 7"),
    ] {
        assert!(
            stderr.lines().any(|l| l == expected),
            "{expected}\n{}",
            done.describe()
        );
    }
    let dead = format!("{}: error: ", hosts.dead);
    let silent = format!("{}: error: ", hosts.silent);
    assert!(
        stderr.lines().any(|l| l.starts_with(&dead)),
        "{}",
        done.describe()
    );
    let silent_line = stderr
        .lines()
        .find(|l| l.starts_with(&silent))
        .unwrap_or_else(|| panic!("no error for the silent host\n{}", done.describe()));
    assert!(silent_line.contains(HOST_TIMEOUT_MS), "{silent_line}");
    let summary = stderr.lines().last().unwrap_or_default();
    assert!(
        summary.starts_with(
            "winrs: 22 hosts: 19 succeeded, 3 failed (2 with an error, 1 with an exit code other than 0), "
        ),
        "{}",
        done.describe()
    );
    // stderr is a pipe: no progress line.
    assert!(
        !stderr.contains('\r') && !stderr.contains("running"),
        "{stderr}"
    );
}

#[test]
fn json_output_has_one_object_per_host() {
    let hosts = Hosts::new(3);
    let odd = hosts.fleet[1].daemon.pid();
    let done = run(hosts.winrs(&hosts.all(), &["-output:json", "-parallel:2", &script(odd)]));
    assert_eq!(done.code(), 248, "{}", done.describe());
    let mut by_host = BTreeMap::new();
    for line in done.stdout.clone().lines() {
        let object: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line}\n{}", done.describe()));
        let host = object["host"].as_str().unwrap().to_owned();
        assert!(object["duration_ms"].is_u64(), "{line}");
        assert!(by_host.insert(host, object).is_none(), "a host twice");
    }
    assert_eq!(by_host.len(), 5, "{}", done.describe());
    for (i, fixture) in hosts.fleet.iter().enumerate() {
        let object = &by_host[&fixture.url()];
        let pid = fixture.daemon.pid();
        assert_eq!(object["stdout"], format!("pid {pid}\nagain {pid}\n"));
        assert_eq!(object["error"], serde_json::Value::Null);
        let (code, stderr) = if i == 1 { (7, "odd\n") } else { (0, "") };
        assert_eq!(object["exit_code"], code, "{object}");
        assert_eq!(object["stderr"], stderr, "{object}");
    }
    for failed in [&hosts.dead, &hosts.silent] {
        let object = &by_host[failed];
        assert_eq!(object["exit_code"], serde_json::Value::Null, "{object}");
        assert!(
            object["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{object}"
        );
    }
}

#[test]
fn exit_codes_all_succeeded_and_all_failed() {
    let hosts = Hosts::new(2);
    let both = format!("{},{}", hosts.fleet[0].url(), hosts.fleet[1].url());
    let done = run(hosts.winrs(&both, &["true"]));
    assert_eq!(done.code(), 0, "{}", done.describe());
    assert!(done.stdout.clone().is_empty(), "{}", done.describe());
    assert!(
        done.stderr
            .clone()
            .starts_with("winrs: 2 hosts: 2 succeeded, 0 failed"),
        "{}",
        done.describe()
    );
    let done = run(hosts.winrs(&both, &["exit 3"]));
    assert_eq!(done.code(), 249, "{}", done.describe());
    let gone = format!("{},{}", hosts.dead, hosts.silent);
    let done = run(hosts.winrs(&gone, &["true"]));
    assert_eq!(done.code(), 249, "{}", done.describe());
    // One host with -output:json: the fan-out form; without it, exactly a plain winrs.
    let one = hosts.fleet[0].url();
    let done = run(hosts.winrs(&one, &["-output:json", "exit 3"]));
    assert_eq!(done.code(), 249, "{}", done.describe());
    assert!(
        done.stdout.clone().contains("\"exit_code\":3"),
        "{}",
        done.describe()
    );
    let done = run(hosts.winrs(&one, &["exit 3"]));
    assert_eq!(done.code(), 3, "{}", done.describe());
    assert!(done.stderr.clone().is_empty(), "{}", done.describe());
}

#[test]
fn a_group_of_the_client_configuration() {
    let hosts = Hosts::new(2);
    let members: Vec<String> = hosts
        .fleet
        .iter()
        .map(|f| format!("\"{}\"", f.url()))
        .collect();
    hosts.fleet[0].config.write_raw(
        "groups.toml",
        &format!("[groups]\nweb = [{}]\n", members.join(", ")),
    );
    let done = run(hosts.winrs("web", &["echo $PPID"]));
    assert_eq!(done.code(), 0, "{}", done.describe());
    let stdout = done.stdout.clone();
    for fixture in &hosts.fleet {
        let line = format!("{}: {}", fixture.url(), fixture.daemon.pid());
        assert!(
            stdout.lines().any(|l| l == line),
            "{line}\n{}",
            done.describe()
        );
    }
}

#[test]
fn progress_is_shown_on_a_terminal() {
    let hosts = Hosts::new(2);
    // `script` runs winrs on a pseudo-terminal (stdin, stdout and stderr) and copies what it
    // writes; the silent host keeps the run going long enough for a progress line.
    let list = format!(
        "{},{},{}",
        hosts.fleet[0].url(),
        hosts.fleet[1].url(),
        hosts.silent
    );
    let winrs = hosts.winrs(&list, &["echo hi"]);
    let mut line = vec![binaries::path("winrs").display().to_string()];
    line.extend(winrs.get_args().map(|a| a.to_string_lossy().into_owned()));
    let quoted: Vec<String> = line
        .iter()
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect();
    let mut command = Command::new("script");
    command
        .args(["-qfec", &quoted.join(" "), "/dev/null"])
        .env("WSMAND_CONFIG_DIR", hosts.fleet[0].config.path());
    let done = run(command);
    let seen = done.stdout.clone();
    assert!(
        seen.contains("\x1b[Kwinrs: ") && seen.contains(" done, ") && seen.contains(" running, "),
        "no progress line:\n{seen:?}"
    );
    assert!(
        seen.contains("winrs: 3 hosts: 2 succeeded, 1 failed"),
        "{seen:?}"
    );
    // Without a terminal (the other tests' pipes) there is none: checked there.
}

/// winrm with the first daemon's config dir as the client configuration and `-r:REMOTE`.
fn winrm(hosts: &Hosts, remote: &str, args: &[&str]) -> Command {
    let mut command = Command::new(binaries::winrm());
    command
        .env("WSMAND_CONFIG_DIR", hosts.fleet[0].config.path())
        .args(args)
        .arg(format!("-r:{remote}"))
        .args(["-a:Basic", "-unencrypted"])
        .arg(format!("-u:{SERVICE_ACCOUNT}"))
        .arg(format!("-p:{SERVICE_PASSWORD}"));
    command
}

#[test]
fn winrm_reads_from_many_hosts_each_answer_under_its_host() {
    let hosts = Hosts::new(3);
    // Each daemon's listener is on its own port: the answer shows which host gave it. (No
    // silent host: winrm has no per-host deadline but each request's own.)
    let mut list: Vec<String> = hosts.fleet.iter().map(Fixture::url).collect();
    list.push(hosts.dead.clone());
    let done = run(winrm(
        &hosts,
        &list.join(","),
        &["enumerate", "winrm/config/listener"],
    ));
    assert_eq!(done.code(), 6, "{}", done.describe());
    for fixture in &hosts.fleet {
        let line = format!("{}:     Port = {}", fixture.url(), fixture.port);
        assert!(
            done.stdout.lines().any(|l| l == line),
            "{line}\n{}",
            done.describe()
        );
        // Only this host's port under its name.
        let ports: Vec<&str> = done
            .stdout
            .lines()
            .filter(|l| l.starts_with(&format!("{}: ", fixture.url())) && l.contains("Port = "))
            .collect();
        assert_eq!(ports, vec![line.as_str()], "{}", done.describe());
    }
    let prefix = format!("{}: error: ", hosts.dead);
    assert!(
        done.stderr.lines().any(|l| l.starts_with(&prefix)),
        "{}",
        done.describe()
    );
    assert!(
        done.stderr
            .contains("winrm: 4 hosts: 3 succeeded, 1 failed"),
        "{}",
        done.describe()
    );
    let all_up = format!("{},{}", hosts.fleet[0].url(), hosts.fleet[1].url());
    let done = run(winrm(&hosts, &all_up, &["identify"]));
    assert_eq!(done.code(), 0, "{}", done.describe());
    let gone = format!("{},{}", hosts.dead, hosts.fleet[0].url());
    let done = run(winrm(&hosts, &hosts.dead, &["identify"]));
    assert_eq!(done.code(), 4, "one host: as before\n{}", done.describe());
    let done = run(winrm(
        &hosts,
        &format!("{},{}", hosts.dead, hosts.dead.replace("wsman", "x")),
        &["identify"],
    ));
    assert_eq!(done.code(), 7, "{}", done.describe());
    let done = run(winrm(
        &hosts,
        &gone,
        &["set", "winrm/config", "@{MaxEnvelopeSizekb=\"600\"}"],
    ));
    assert_eq!(done.code(), 2, "set takes one host\n{}", done.describe());
}

/// stdin read once and given to every host: `cat` on three daemons gives back all of it (more
/// than one Send chunk), each under its own host's name; more than the documented 16 MiB is
/// refused (254) before any host runs anything.
#[test]
fn stdin_goes_to_every_host() {
    let hosts = Hosts::new(3);
    let three: Vec<String> = hosts.fleet.iter().map(Fixture::url).collect();
    let input: String = (0..12_000)
        .map(|n| format!("input line {n:05}\n"))
        .collect();
    let mut command = hosts.winrs(&three.join(","), &["-output:json", "cat"]);
    let done = process::run(&mut command, Some(&input), DEADLINE);
    assert_eq!(done.code(), 0, "{}", done.describe());
    let mut answered = Vec::new();
    for line in done.stdout.clone().lines() {
        let object: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(object["exit_code"], 0, "{line}");
        let stdout = object["stdout"].as_str().unwrap();
        assert!(
            stdout == input,
            "{} bytes back of {}",
            stdout.len(),
            input.len()
        );
        answered.push(object["host"].as_str().unwrap().to_owned());
    }
    answered.sort();
    let mut expected = three.clone();
    expected.sort();
    assert_eq!(answered, expected);

    // One byte over the limit: a local error, and no shell was opened anywhere (the marker
    // would be in the daemons' process lists).
    let too_much = "x".repeat(16 * 1024 * 1024 + 1);
    let mut command = hosts.winrs(&three.join(","), &["sleep 61.5"]);
    let done = process::run(&mut command, Some(&too_much), DEADLINE);
    assert_eq!(done.code(), 254, "{}", done.describe());
    assert!(
        done.stderr.clone().contains("larger than 16777216 bytes"),
        "{}",
        done.describe()
    );
    let started = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .filter(|cmdline| cmdline.windows(10).any(|w| w == b"sleep 61.5"))
        .count();
    assert_eq!(started, 0);
}
