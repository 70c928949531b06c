//! The real `winrm` binary: local mode on a temporary config directory, exit codes, help, and
//! remote mode against a tiny canned HTTP server on 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;

const BIN: &str = env!("CARGO_BIN_EXE_winrm");

fn run_in(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .arg("--config-dir")
        .arg(dir)
        .env_remove("WSMAND_CONFIG_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(stdin.as_bytes());
    }
    child.wait_with_output().unwrap_or_else(|e| panic!("{e}"))
}

fn run(dir: &Path, args: &[&str]) -> Output {
    run_in(dir, args, "")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = run(dir, args);
    assert_eq!(
        code(&o),
        0,
        "{args:?}\nstdout: {}\nstderr: {}",
        out(&o),
        err(&o)
    );
    out(&o)
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
}

/// A config dir whose client settings allow unencrypted traffic to 127.0.0.1 (Windows' client
/// refuses Basic over HTTP without Client/AllowUnencrypted and Client/TrustedHosts).
fn client_tmp() -> tempfile::TempDir {
    let d = tmp();
    std::fs::write(
        d.path().join("config.toml"),
        "[Config.Client]\nAllowUnencrypted = true\nTrustedHosts = \"127.0.0.1\"\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    d
}

#[test]
fn local_get_prints_the_windows_shape() {
    let d = tmp();
    let text = ok(d.path(), &["get", "winrm/config"]);
    assert!(
        text.starts_with("Config\n    MaxEnvelopeSizekb = 500\n    MaxTimeoutms = 60000\n"),
        "{text}"
    );
    assert!(
        text.contains("\n    Client\n        NetworkDelayms = 5000\n"),
        "{text}"
    );
    assert!(text.contains("\n        TrustedHosts\n"), "{text}");
    assert!(
        text.contains("\n        Auth\n            Basic = false\n"),
        "{text}"
    );
    let svc = ok(d.path(), &["g", "winrm/config/service/auth"]);
    assert!(svc.starts_with("Auth\n    Basic = false\n"), "{svc}");
    let xml = ok(d.path(), &["get", "winrm/config/winrs", "-format:xml"]);
    assert!(
        xml.starts_with(
            "<cfg:Winrs xmlns:cfg=\"http://schemas.microsoft.com/wbem/wsman/1/config/winrs\">"
        ),
        "{xml}"
    );
}

#[test]
fn local_set_changes_the_file_and_prints_the_container() {
    let d = tmp();
    let text = ok(
        d.path(),
        &[
            "set",
            "winrm/config/service",
            "@{AllowUnencrypted=\"true\"}",
        ],
    );
    assert!(text.starts_with("Service\n"), "{text}");
    assert!(text.contains("\n    AllowUnencrypted = true\n"), "{text}");
    let toml = std::fs::read_to_string(d.path().join("config.toml")).unwrap_or_default();
    assert!(toml.contains("AllowUnencrypted = true"), "{toml}");
    // Bash strips the quotes; several keys; nested URI.
    ok(
        d.path(),
        &[
            "s",
            "winrm/config/service/auth",
            "@{Basic=true;",
            "Certificate=true}",
        ],
    );
    let auth = ok(d.path(), &["get", "winrm/config/service/auth"]);
    assert!(
        auth.contains("    Basic = true\n") && auth.contains("    Certificate = true\n"),
        "{auth}"
    );
    // The environment variable selects the directory too.
    let o = Command::new(BIN)
        .args(["get", "winrm/config/service"])
        .env("WSMAND_CONFIG_DIR", d.path())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out(&o).contains("    AllowUnencrypted = true\n"));
}

#[test]
fn local_set_with_a_file() {
    let d = tmp();
    let f = d.path().join("body.xml");
    std::fs::write(
        &f,
        "<cfg:Winrs xmlns:cfg=\"http://schemas.microsoft.com/wbem/wsman/1/config/winrs\"><cfg:MaxShellsPerUser>7</cfg:MaxShellsPerUser></cfg:Winrs>",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let file_arg = format!("-file:{}", f.display());
    let text = ok(d.path(), &["set", "winrm/config/winrs", &file_arg]);
    assert!(text.contains("    MaxShellsPerUser = 7\n"), "{text}");
}

#[test]
fn invalid_values_are_faults_and_change_nothing() {
    let d = tmp();
    ok(
        d.path(),
        &["set", "winrm/config", "@{MaxTimeoutms=\"90000\"}"],
    );
    let before = std::fs::read_to_string(d.path().join("config.toml")).unwrap_or_default();
    for bad in [
        &["set", "winrm/config", "@{MaxTimeoutms=\"abc\"}"][..],
        &["set", "winrm/config/service", "@{NoSuchSetting=\"1\"}"][..],
    ] {
        let o = run(d.path(), bad);
        assert_eq!(code(&o), 1, "{bad:?}: {}", err(&o));
        let e = err(&o);
        assert!(e.starts_with("WSManFault\n    Message = "), "{e}");
        assert!(e.contains("\n\nError number:  -"), "{e}");
        assert!(out(&o).is_empty());
    }
    assert_eq!(
        std::fs::read_to_string(d.path().join("config.toml")).unwrap_or_default(),
        before
    );
}

#[test]
fn policy_values_show_gpo_and_refuse_changes() {
    let d = tmp();
    std::fs::create_dir_all(d.path().join("policy.d")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        d.path().join("policy.d/site.toml"),
        "[Config.Service]\nAllowUnencrypted = false\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let text = ok(d.path(), &["get", "winrm/config/service"]);
    assert!(
        text.contains("\n    AllowUnencrypted = false [Source=\"GPO\"]\n"),
        "{text}"
    );
    let o = run(
        d.path(),
        &[
            "set",
            "winrm/config/service",
            "@{AllowUnencrypted=\"true\"}",
        ],
    );
    assert_eq!(code(&o), 1);
    assert!(
        err(&o).contains("Error number:  -2144108406 0x8033808A"),
        "{}",
        err(&o)
    );
}

#[test]
fn listener_create_get_enumerate_delete() {
    let d = tmp();
    assert_eq!(ok(d.path(), &["enumerate", "winrm/config/listener"]), "");
    let created = ok(
        d.path(),
        &[
            "create",
            "winrm/config/Listener?Address=IP:127.0.0.1+Transport=HTTP",
            "@{Port=\"40123\";Hostname=\"h1\"}",
        ],
    );
    assert!(created.starts_with("ResourceCreated\n"), "{created}");
    assert!(
        created.contains("Selector: Address = IP:127.0.0.1, Transport = HTTP"),
        "{created}"
    );
    let got = ok(
        d.path(),
        &[
            "get",
            "winrm/config/listener?Address=IP:127.0.0.1+Transport=HTTP",
        ],
    );
    assert!(got.starts_with("Listener\n    Address = IP:127.0.0.1\n    Transport = HTTP\n    Port = 40123\n    Hostname = h1\n"), "{got}");
    ok(
        d.path(),
        &[
            "create",
            "winrm/config/listener?Address=*+Transport=HTTP",
            "@{Port=\"40124\"}",
        ],
    );
    let listed = ok(d.path(), &["e", "winrm/config/listener"]);
    assert_eq!(listed.matches("Listener\n").count(), 2, "{listed}");
    assert!(
        listed.contains("Port = 40123\n") && listed.contains("Port = 40124\n"),
        "{listed}"
    );
    assert!(
        listed.contains("\n\nListener\n"),
        "items are separated by a blank line: {listed}"
    );
    let eprs = ok(d.path(), &["e", "winrm/config/listener", "-returnType:epr"]);
    assert_eq!(eprs.matches("EndpointReference\n").count(), 2, "{eprs}");
    // Existing: AlreadyExists.
    let o = run(
        d.path(),
        &["create", "winrm/config/listener?Address=*+Transport=HTTP"],
    );
    assert_eq!(code(&o), 1, "{}", err(&o));
    ok(
        d.path(),
        &["delete", "winrm/config/listener?Address=*+Transport=HTTP"],
    );
    let listed = ok(d.path(), &["e", "winrm/config/listener"]);
    assert_eq!(listed.matches("Listener\n").count(), 1, "{listed}");
    let o = run(
        d.path(),
        &["delete", "winrm/config/listener?Address=*+Transport=HTTP"],
    );
    assert_eq!(code(&o), 1);
    // Missing selectors.
    assert_eq!(code(&run(d.path(), &["get", "winrm/config/listener"])), 1);
}

#[test]
fn quickconfig_is_idempotent_and_reports_changes() {
    let d = tmp();
    let first = ok(d.path(), &["quickconfig", "-q", "-skipFirewall"]);
    assert!(
        first.contains("WinRM has been updated for remote management."),
        "{first}"
    );
    assert!(first.contains("Created a WinRM listener on HTTP://* to accept WS-Man requests to any IP on this machine."), "{first}");
    assert!(first.contains("Basic"), "{first}");
    assert!(first.contains("wsmand --config-dir"), "{first}");
    let second = ok(d.path(), &["qc", "-q", "-skipfirewall"]);
    assert!(
        second.contains("WinRM is already set up for remote management on this computer."),
        "{second}"
    );
    let auth = ok(d.path(), &["get", "winrm/config/service/auth"]);
    assert!(auth.contains("    Basic = true\n"), "{auth}");
    let listeners = ok(d.path(), &["e", "winrm/config/listener"]);
    assert!(listeners.contains("Port = 5985\n"), "{listeners}");
}

/// The host firewall, real nftables in a network namespace of its own (`unshare --net`: the
/// machine's own ruleset is never touched): an inet filter table whose input policy is drop
/// gets one accept rule for the listener's port, a connection to it then gets through where
/// it was dropped before, a second run adds nothing, HTTPS opens 5986, and -skipFirewall
/// leaves the ruleset alone. Skipped without root, `nft` or `unshare`.
#[test]
fn quickconfig_opens_the_listener_port_in_nftables() {
    let usable = Command::new("unshare")
        .args(["--net", "nft", "list", "ruleset"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !usable {
        eprintln!("skipped: needs root, nftables (nft) and unshare --net");
        return;
    }
    // firewalld (over D-Bus) and ufw (its files under /etc) are the machine's, namespace or
    // not: quickconfig would pick them first.
    for manager in ["firewall-cmd", "ufw"] {
        if Command::new(manager).arg("--version").output().is_ok() {
            eprintln!("skipped: {manager} is installed; its rules are not the namespace's");
            return;
        }
    }
    let d = tmp();
    let skipped = tmp();
    let work = tmp();
    let script = r#"
set -eu
ip link set lo up
nft -f - <<'RULES'
table inet filter {
    chain input {
        type filter hook input priority 0; policy drop;
        ct state established,related accept
    }
}
RULES
probe() {
    python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1.5); print("open")' "$1" 2>/dev/null || echo dropped
}
python3 -m http.server --bind 127.0.0.1 5985 >/dev/null 2>&1 &
server=$!
for _ in $(seq 100); do ss -ltn | grep -q '127.0.0.1:5985 ' && break; sleep 0.1; done
probe 5985 > "$WORK/before"
"$WINRM" qc -q -skipFirewall --config-dir "$SKIPPED" > "$WORK/skipped"
nft list chain inet filter input > "$WORK/after-skip"
"$WINRM" qc -q --config-dir "$DIR" > "$WORK/first"
probe 5985 > "$WORK/after"
"$WINRM" qc -q --config-dir "$DIR" > "$WORK/second"
"$WINRM" qc -q -transport:https -force --config-dir "$DIR" > "$WORK/https"
nft list chain inet filter input > "$WORK/chain"
kill $server
"#;
    let o = Command::new("unshare")
        .args(["--net", "sh", "-c", script])
        .env("WINRM", BIN)
        .env("DIR", d.path())
        .env("SKIPPED", skipped.path())
        .env("WORK", work.path())
        .env_remove("WSMAND_CONFIG_DIR")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        o.status.success(),
        "stdout: {}\nstderr: {}",
        out(&o),
        err(&o)
    );
    let read = |name: &str| {
        std::fs::read_to_string(work.path().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let rules = |listing: &str, port: u16| {
        listing
            .lines()
            .filter(|l| l.contains(&format!("tcp dport {port} accept")))
            .count()
    };
    assert_eq!(read("before").trim(), "dropped");
    assert!(
        read("skipped").contains("-skipFirewall"),
        "{}",
        read("skipped")
    );
    assert_eq!(
        rules(&read("after-skip"), 5985),
        0,
        "{}",
        read("after-skip")
    );
    let first = read("first");
    assert!(
        first.contains("Enable the WinRM firewall exception")
            && first.contains("nftables accepts TCP port 5985 in inet filter input"),
        "{first}"
    );
    assert_eq!(read("after").trim(), "open");
    let second = read("second");
    assert!(
        second.contains("already enabled: nftables accepts TCP port 5985"),
        "{second}"
    );
    let chain = read("chain");
    assert_eq!(
        (rules(&chain, 5985), rules(&chain, 5986)),
        (1, 1),
        "{chain}"
    );
    assert!(chain.contains("policy drop"), "{chain}");
}

#[test]
fn quickconfig_https_generates_a_certificate() {
    let d = tmp();
    let text = ok(
        d.path(),
        &["qc", "-transport:https", "-force", "-skipFirewall"],
    );
    assert!(
        text.contains("Created a WinRM listener on HTTPS://*"),
        "{text}"
    );
    let thumb = text
        .lines()
        .find_map(|l| l.strip_prefix("Certificate thumbprint: "))
        .unwrap_or_else(|| panic!("no thumbprint: {text}"))
        .to_owned();
    assert_eq!(thumb.len(), 40);
    assert!(d
        .path()
        .join("certs")
        .join(format!("{thumb}.crt"))
        .is_file());
    let listeners = ok(d.path(), &["e", "winrm/config/listener"]);
    assert!(
        listeners.contains(&format!("CertificateThumbprint = {thumb}")),
        "{listeners}"
    );
}

#[test]
fn quickconfig_asks_first() {
    let d = tmp();
    let o = run_in(d.path(), &["qc", "-skipFirewall"], "n\n");
    assert_eq!(code(&o), 1);
    assert!(out(&o).contains("Make these changes [y/n]?"));
    assert!(!d.path().join("config.toml").exists());
    let o = run_in(d.path(), &["qc", "-skipFirewall"], "y\n");
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert!(d.path().join("config.toml").exists());
}

#[test]
fn usage_errors_exit_2() {
    let d = tmp();
    for args in [
        &["frobnicate"][..],
        &["get"][..],
        &["get", "nosuchalias/config"][..],
        &["get", "winrm/config", "-nosuchswitch"][..],
        &["set", "winrm/config", "@{a=\"1\""][..],
        &["get", "winrm/config", "-r:http://h:99999"][..],
        &["help", "nosuchtopic"][..],
    ] {
        let o = run(d.path(), args);
        assert_eq!(code(&o), 2, "{args:?}: {}", err(&o));
        assert!(!err(&o).is_empty());
    }
    let o = Command::new(BIN).output().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(code(&o), 2);
}

#[test]
fn client_configuration_refusals_exit_5() {
    // Basic over plain HTTP while the client configuration (this empty config dir: the
    // defaults) does not allow unencrypted traffic: the command line is right, the machine's
    // client settings refuse, before any connection is made.
    let d = tmp();
    let o = run(
        d.path(),
        &[
            "get",
            "winrm/config",
            "-r:http://127.0.0.1:9",
            "-u:x",
            "-p:y",
        ],
    );
    assert_eq!(code(&o), 5, "{}", err(&o));
    assert!(!err(&o).is_empty());
}

#[test]
fn help_texts() {
    let d = tmp();
    let h = ok(d.path(), &["help"]);
    assert!(
        h.contains("SYNOPSIS") && h.contains("EXIT STATUS") && h.contains("quickconfig | qc"),
        "{h}"
    );
    assert!(ok(d.path(), &["-?"]).contains("EXIT STATUS"));
    assert!(ok(d.path(), &["help", "config"]).contains("AllowUnencrypted"));
    assert!(ok(d.path(), &["help", "aliases"])
        .contains("wmicimv2  http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2"));
    assert!(ok(d.path(), &["help", "uris"]).contains("SelectorSet"));
    assert!(ok(d.path(), &["help", "remoting"]).contains("wsmand account add"));
    assert!(ok(d.path(), &["set", "-?"]).contains("-skipCAcheck"));
}

/// A one-request-per-connection HTTP server answering `status` + `body`; sends each request
/// (head and body) back through the channel. Serves at most `count` connections.
fn canned(
    status: u16,
    extra: &'static str,
    body: String,
    count: usize,
) -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = listener
        .local_addr()
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(count) {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(&stream);
            let mut head = String::new();
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                let end = line == "\r\n";
                head.push_str(&line);
                if end {
                    break;
                }
            }
            let mut b = vec![0u8; len.min(1 << 20)];
            let _ = reader.read_exact(&mut b);
            let _ = tx.send(format!("{head}{}", String::from_utf8_lossy(&b)));
            let response = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/soap+xml;charset=UTF-8\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let mut w = &stream;
            let _ = w.write_all(response.as_bytes());
        }
    });
    (port, rx)
}

fn fixture(rel: &str) -> String {
    let path = format!(
        "{}/../wsman-proto/tests/fixtures/windows/{rel}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A server that answers one Identify as Windows Server 2012 R2 does, unauthenticated.
fn identify_server() -> (u16, mpsc::Receiver<String>) {
    canned(
        200,
        "",
        fixture("identify/identify.response.anonymous.server2012r2.xml"),
        1,
    )
}

#[test]
fn remote_identify_anonymous() {
    let d = tmp();
    let (port, rx) = identify_server();
    let text = ok(
        d.path(),
        &["id", &format!("-r:127.0.0.1:{port}"), "-a:none"],
    );
    assert_eq!(
        text,
        "IdentifyResponse\n    ProtocolVersion = http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\n    \
         ProductVendor = Microsoft Corporation\n    ProductVersion = OS: 0.0.0 SP: 0.0 Stack: 3.0\n"
    );
    let req = rx.recv().unwrap_or_default().to_ascii_lowercase();
    assert!(req.starts_with("post /wsman http/1.1\r\n"), "{req}");
    assert!(
        req.contains("\r\nwsmanidentify: unauthenticated\r\n"),
        "{req}"
    );
    assert!(!req.contains("authorization:"), "{req}");
}

#[test]
fn local_identify_uses_the_first_enabled_listener() {
    let d = tmp();
    let (port, rx) = identify_server();
    std::fs::write(
        d.path().join("config.toml"),
        format!("[[Listener]]\nAddress = \"IP:127.0.0.1\"\nTransport = \"HTTP\"\nPort = {port}\n"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let text = ok(d.path(), &["identify"]);
    assert!(text.starts_with("IdentifyResponse\n"), "{text}");
    assert!(rx
        .recv()
        .unwrap_or_default()
        .to_ascii_lowercase()
        .contains("wsmanidentify: unauthenticated"));
}

#[test]
fn remote_password_from_stdin_and_401_exit_3() {
    let d = client_tmp();
    let (port, rx) = canned(
        401,
        "WWW-Authenticate: Basic realm=\"WSMAN\"\r\n",
        String::new(),
        1,
    );
    let o = run_in(
        d.path(),
        &[
            "get",
            "winrm/config",
            &format!("-r:http://127.0.0.1:{port}/wsman"),
            "-u:admin",
            "-a:Basic",
            "-unencrypted",
        ],
        "pa ss\n",
    );
    assert_eq!(code(&o), 3, "{}", err(&o));
    assert!(
        err(&o).contains("Error number:  -2147024891 0x80070005"),
        "{}",
        err(&o)
    );
    let req = rx.recv().unwrap_or_default();
    // base64("admin:pa ss")
    assert!(
        req.contains("authorization: Basic YWRtaW46cGEgc3M=\r\n")
            || req.contains("Authorization: Basic YWRtaW46cGEgc3M=\r\n"),
        "{req}"
    );
    assert!(req.contains("<w:ResourceURI s:mustUnderstand=\"true\">http://schemas.microsoft.com/wbem/wsman/1/config</w:ResourceURI>"), "{req}");
}

#[test]
fn remote_fault_exit_1_and_windows_error_text() {
    let d = client_tmp();
    let (port, rx) = canned(500, "", fixture("faults/fault.invalid-shellid.xml"), 1);
    let o = run(
        d.path(),
        &[
            "delete",
            "shell?ShellId=ABC",
            &format!("-r:127.0.0.1:{port}"),
            "-u:admin",
            "-p:x",
            "-a:Basic",
            "-unencrypted",
        ],
    );
    assert_eq!(code(&o), 1, "{}", err(&o));
    let e = err(&o);
    assert!(
        e.starts_with("WSManFault\n    Message\n        ProviderFault\n"),
        "{e}"
    );
    assert!(
        e.contains("\nError number:  -2144108453 0x8033805B\n"),
        "{e}"
    );
    let req = rx.recv().unwrap_or_default();
    assert!(
        req.contains("<w:Selector Name=\"ShellId\">ABC</w:Selector>"),
        "{req}"
    );
    assert!(
        req.contains("http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"),
        "{req}"
    );
}

#[test]
fn remote_set_sends_only_the_changed_leaves() {
    let d = client_tmp();
    let (port, rx) = canned(500, "", fixture("faults/fault.schema-validation.xml"), 1);
    let o = run(
        d.path(),
        &[
            "set",
            "winrm/config/service",
            "@{AllowUnencrypted=\"true\"}",
            &format!("-r:127.0.0.1:{port}"),
            "-u:a",
            "-p:b",
            "-a:Basic",
            "-unencrypted",
        ],
    );
    assert_eq!(code(&o), 1, "{}", err(&o));
    let req = rx.recv().unwrap_or_default();
    assert!(
        req.contains("<s:Body><cfg:Service xmlns:cfg=\"http://schemas.microsoft.com/wbem/wsman/1/config/service\"><cfg:AllowUnencrypted>true</cfg:AllowUnencrypted></cfg:Service></s:Body>"),
        "{req}"
    );
}

#[test]
fn connection_refused_exit_4() {
    let d = tmp();
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        l.local_addr()
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let o = run(
        d.path(),
        &["id", &format!("-r:127.0.0.1:{port}"), "-a:none"],
    );
    assert_eq!(code(&o), 4, "{}", err(&o));
    assert!(
        err(&o).contains("Error number:  -2144108526 0x80338012"),
        "{}",
        err(&o)
    );
}
