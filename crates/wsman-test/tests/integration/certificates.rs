//! Client certificate authentication against the real daemon: mappings made with `winrm`,
//! curl presenting certificates, a shell running as the mapped Linux user, and every refusal
//! a clear 401 with a log line.

use std::path::Path;

use base64::Engine as _;
use wsman_proto::xml::{self, Element, Limits};
use wsman_test::client_certs::{ClientFiles, ClientSpec, TestCa};
use wsman_test::http::{curl_post, CurlOutcome};
use wsman_test::{free_port, soap, Fixture, SERVICE_ACCOUNT, SERVICE_PASSWORD};

const MUTUAL: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual";
const SHELL_URI: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd";
const SHELL_NS: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell";
const SOAP_TYPE: &str = "application/soap+xml;charset=UTF-8";
/// The non-administrator test user (scripts/test.sh creates it).
const MAPPED_USER: &str = "wsmanuser";

/// HTTP (Basic, for `winrm`) and HTTPS listeners, Certificate auth on, `ca` installed.
struct CertService {
    fixture: Fixture,
    https_port: u16,
}

impl CertService {
    fn start(ca: &TestCa) -> Self {
        let https_port = free_port();
        let mut fixture = Fixture::http_with(|config| {
            ca.enable_for(config, https_port);
        });
        fixture.daemon.wait_for_port(https_port);
        Self {
            fixture,
            https_port,
        }
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}/wsman", self.https_port)
    }

    /// `winrm create` of a mapping for `subject` through the HTTP listener.
    fn map(&self, ca: &TestCa, subject: &str, enabled: bool) {
        let created = self.fixture.winrm_remote(&[
            "create",
            &mapping_uri(ca, subject),
            &format!("@{{UserName=\"{MAPPED_USER}\";Enabled=\"{enabled}\"}}"),
        ]);
        assert_eq!(created.code(), 0, "{}", created.describe());
    }

    /// POST over HTTPS with the client certificate `files` (if any) and the certificate
    /// profile header (if `header`).
    fn post(&self, files: Option<&ClientFiles>, header: bool, body: &str) -> CurlOutcome {
        let mut extra: Vec<String> = vec!["-k".into()];
        if let Some(f) = files {
            extra.push("--cert".into());
            extra.push(f.certificate.display().to_string());
            extra.push("--key".into());
            extra.push(f.key.display().to_string());
        }
        if header {
            extra.push("-H".into());
            extra.push(format!("Authorization: {MUTUAL}"));
        }
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        curl_post(&self.url(), None, SOAP_TYPE, body.as_bytes(), &extra)
    }

    /// An Identify with `files`. Right after a remote config change it needs no wait: the
    /// change applied before the change's response was sent.
    fn identify(&self, files: &ClientFiles) -> CurlOutcome {
        self.post(Some(files), true, &soap::identify())
    }

    /// A Get of `winrm/config` with `files` is denied: the mapped user is no administrator.
    fn expect_config_denied(&self, files: &ClientFiles) {
        let config = self.post(Some(files), true, &soap::get(soap::CONFIG_URI, &[]));
        assert_eq!(
            config.response.status,
            500,
            "{}",
            config.response.describe()
        );
        assert!(config.response.text().contains("AccessDenied"));
    }

    fn expect_401(&self, files: Option<&ClientFiles>, header: bool, log_says: &str) {
        let outcome = self.post(files, header, &soap::identify());
        assert_eq!(
            outcome.response.status,
            401,
            "curl: {}\n{}",
            outcome.stderr,
            outcome.response.describe()
        );
        assert!(
            outcome
                .response
                .headers_named("WWW-Authenticate")
                .contains(&MUTUAL),
            "the 401 offers the certificate profile\n{}",
            outcome.response.describe()
        );
        if !log_says.is_empty() {
            let log = self.fixture.daemon.stderr();
            assert!(log.contains(log_says), "log lacks {log_says:?}:\n{log}");
        }
    }
}

fn mapping_uri(ca: &TestCa, subject: &str) -> String {
    format!(
        "winrm/config/service/certmapping?Issuer={}+Subject={subject}+URI=*",
        ca.thumbprint
    )
}

fn client(ca: &TestCa, spec: &ClientSpec, dir: &Path, name: &str) -> ClientFiles {
    ca.issue(spec, dir, name)
}

/// Create a shell, run `whoami`, collect stdout, delete the shell.
fn whoami(service: &CertService, files: &ClientFiles) -> String {
    let shell_body = format!(
        "<rsp:Shell xmlns:rsp=\"{SHELL_NS}\"><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>"
    );
    let created = service.post(
        Some(files),
        true,
        &soap::request(wsman_proto::ns::action::CREATE, SHELL_URI, &[], &shell_body),
    );
    assert_eq!(
        created.response.status,
        200,
        "{}",
        created.response.describe()
    );
    let shell_id = soap::find_text(&created.response.text(), "ShellId").expect("ShellId");
    let command = service.post(
        Some(files),
        true,
        &soap::request(
            &format!("{SHELL_NS}/Command"),
            SHELL_URI,
            &[("ShellId", &shell_id)],
            &format!("<rsp:CommandLine xmlns:rsp=\"{SHELL_NS}\"><rsp:Command>whoami</rsp:Command></rsp:CommandLine>"),
        ),
    );
    assert_eq!(
        command.response.status,
        200,
        "{}",
        command.response.describe()
    );
    let command_id = soap::find_text(&command.response.text(), "CommandId").expect("CommandId");
    let mut stdout = Vec::new();
    for _ in 0..30 {
        let received = service.post(
            Some(files),
            true,
            &soap::request(
                &format!("{SHELL_NS}/Receive"),
                SHELL_URI,
                &[("ShellId", &shell_id)],
                &format!("<rsp:Receive xmlns:rsp=\"{SHELL_NS}\"><rsp:DesiredStream CommandId=\"{command_id}\">stdout stderr</rsp:DesiredStream></rsp:Receive>"),
            ),
        );
        assert_eq!(
            received.response.status,
            200,
            "{}",
            received.response.describe()
        );
        let root = xml::parse(&received.response.text(), &Limits::default()).expect("XML");
        let mut done = false;
        collect(&root, &mut stdout, &mut done);
        if done {
            break;
        }
    }
    let deleted = service.post(
        Some(files),
        true,
        &soap::request(
            wsman_proto::ns::action::DELETE,
            SHELL_URI,
            &[("ShellId", &shell_id)],
            "",
        ),
    );
    assert_eq!(
        deleted.response.status,
        200,
        "{}",
        deleted.response.describe()
    );
    String::from_utf8_lossy(&stdout).trim().to_owned()
}

/// Shells run as the mapped user only when the daemon is root and the user exists
/// (scripts/test.sh runs as root and creates it); otherwise say why and skip that part.
fn shells_can_run_as_the_mapped_user() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        == Some("0");
    let exists = std::fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with(&format!("{MAPPED_USER}:")));
    if !(root && exists) {
        eprintln!(
            "skipped the shell part: needs root and the user {MAPPED_USER} (scripts/test.sh)"
        );
    }
    root && exists
}

fn collect(e: &Element, stdout: &mut Vec<u8>, done: &mut bool) {
    if e.name == "Stream" && e.attr("Name") == Some("stdout") {
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(e.trimmed_text()) {
            stdout.extend(bytes);
        }
    }
    if e.name == "CommandState" && e.attr("State").is_some_and(|s| s.ends_with("/Done")) {
        *done = true;
    }
    for child in e.elements() {
        collect(child, stdout, done);
    }
}

#[test]
fn mapped_certificate_runs_a_shell_as_the_mapped_user() {
    let ca = TestCa::new("wsmand test CA");
    let service = CertService::start(&ca);
    let dir = tempfile::tempdir().expect("temp dir");
    let alice = client(&ca, &ClientSpec::new("alice@example"), dir.path(), "alice");
    // Before any mapping: 401, and the log says the certificate maps to nobody.
    service.expect_401(Some(&alice), true, "no enabled certificate mapping");

    // A mapping created remotely applies without a restart.
    service.map(&ca, "*@example", true);
    let identify = service.identify(&alice);
    assert_eq!(
        identify.response.status,
        200,
        "{}",
        identify.response.describe()
    );
    assert!(
        identify.response.text().contains(MUTUAL),
        "Identify lists the profile"
    );
    if shells_can_run_as_the_mapped_user() {
        assert_eq!(whoami(&service, &alice), MAPPED_USER);
        // And through our winrs.
        let winrs = wsman_test::binaries::winrm().with_file_name("winrs");
        let run = wsman_test::process::run(
            std::process::Command::new(winrs)
                .arg(format!("-r:{}", service.url()))
                .args(["-a:Certificate", "-skipCAcheck", "-skipCNcheck"])
                .arg(format!("-certificate:{}", alice.combined.display()))
                .arg("whoami")
                .env_remove("WSMAND_CONFIG_DIR"),
            None,
            std::time::Duration::from_secs(60),
        );
        run.assert_output(MAPPED_USER, "winrs whoami with a certificate");
    }
    // The mapped user is not an administrator: configuration is denied.
    service.expect_config_denied(&alice);

    // Our own CLIs: a PEM path, and a thumbprint in a certificate directory.
    // The client's config dir: `certs/THUMB.{crt,key}` is where -certificate:THUMB is found.
    let client_config = dir.path().join("client-config");
    let certs_dir = client_config.join("certs");
    std::fs::create_dir_all(&certs_dir).expect("client store");
    std::fs::copy(
        &alice.certificate,
        certs_dir.join(format!("{}.crt", alice.thumbprint)),
    )
    .expect("copy certificate");
    std::fs::copy(
        &alice.key,
        certs_dir.join(format!("{}.key", alice.thumbprint)),
    )
    .expect("copy key");
    for certificate in [
        alice.combined.display().to_string(),
        alice.thumbprint.clone(),
    ] {
        let identify = wsman_test::process::run(
            std::process::Command::new(wsman_test::binaries::winrm())
                .args(["identify", "-a:Certificate", "-skipCAcheck", "-skipCNcheck"])
                .arg(format!("-certificate:{certificate}"))
                .arg(format!("-r:{}", service.url()))
                .env("WSMAND_CONFIG_DIR", &client_config),
            None,
            std::time::Duration::from_secs(60),
        );
        assert_eq!(identify.code(), 0, "{certificate}: {}", identify.describe());
        // Authenticated: the real OS version, not the anonymous `OS: 0.0.0`.
        assert!(
            identify.stdout.contains("ProductVendor") && !identify.stdout.contains("OS: 0.0.0"),
            "{}",
            identify.describe()
        );
    }

    // Listed and read back, locally and remotely, then deleted: refused again.
    let listed = service
        .fixture
        .winrm_remote(&["enumerate", "winrm/config/service/certmapping"]);
    listed.assert_printed(MAPPED_USER);
    assert!(
        listed.stdout.contains(&ca.thumbprint),
        "{}",
        listed.describe()
    );
    let got = service
        .fixture
        .winrm_remote(&["get", &mapping_uri(&ca, "*@example")]);
    got.assert_printed("Enabled = true");
    let local = std::process::Command::new(wsman_test::binaries::winrm())
        .args(["enumerate", "winrm/config/service/certmapping"])
        .env("WSMAND_CONFIG_DIR", service.fixture.config.path())
        .output()
        .expect("local winrm");
    let local_out = String::from_utf8_lossy(&local.stdout);
    assert!(local_out.contains(MAPPED_USER), "local: {local_out}");
    let deleted = service
        .fixture
        .winrm_remote(&["delete", &mapping_uri(&ca, "*@example")]);
    assert_eq!(deleted.code(), 0, "{}", deleted.describe());
    assert_eq!(service.identify(&alice).response.status, 401);
    service.expect_401(Some(&alice), true, "");
}

#[test]
fn every_refusal_is_a_401_with_a_log_line() {
    let ca = TestCa::new("wsmand test CA");
    let stranger_ca = TestCa::new("someone else's CA");
    let service = CertService::start(&ca);
    // The other CA is installed too, but no mapping names it.
    stranger_ca.install(&service.fixture.config);
    let dir = tempfile::tempdir().expect("temp dir");
    service.map(&ca, "*@example", true);
    service.map(&ca, "off@disabled.example", false);

    let [good, foreign, expired, server_only, disabled] = [
        (&ca, ClientSpec::new("alice@example"), "good"),
        (&stranger_ca, ClientSpec::new("alice@example"), "foreign"),
        (
            &ca,
            ClientSpec {
                expired: true,
                ..ClientSpec::new("alice@example")
            },
            "expired",
        ),
        (
            &ca,
            ClientSpec {
                client_auth: false,
                ..ClientSpec::new("alice@example")
            },
            "server-only",
        ),
        (&ca, ClientSpec::new("off@disabled.example"), "disabled"),
    ]
    .map(|(ca, spec, name)| client(ca, &spec, dir.path(), name));
    let settled = service.identify(&good);
    assert_eq!(
        settled.response.status,
        200,
        "{}",
        settled.response.describe()
    );

    service.expect_401(Some(&foreign), true, "was not signed by a mapped issuer");
    service.expect_401(None, true, "client sent no certificate");
    // A certificate alone is not an Authorization header.
    service.expect_401(Some(&good), false, "");
    service.expect_401(Some(&disabled), true, "no enabled certificate mapping");
    service.expect_401(Some(&expired), true, "");
    service.expect_401(Some(&server_only), true, "");
    // After all that, the good certificate still works.
    let ok = service.post(Some(&good), true, &soap::identify());
    assert_eq!(ok.response.status, 200, "{}", ok.response.describe());
    // Basic still works on the same listener, without a certificate and with one.
    for files in [None, Some(&good)] {
        let mut extra: Vec<String> = vec!["-k".into()];
        if let Some(f) = files {
            extra.extend(["--cert".into(), f.certificate.display().to_string()]);
            extra.extend(["--key".into(), f.key.display().to_string()]);
        }
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let basic = curl_post(
            &service.url(),
            Some((SERVICE_ACCOUNT, SERVICE_PASSWORD)),
            SOAP_TYPE,
            soap::identify().as_bytes(),
            &extra,
        );
        assert_eq!(basic.response.status, 200, "{}", basic.response.describe());
    }
    // Switched off live: refused with the reason, and the challenge is gone.
    let set = service.fixture.winrm_remote(&[
        "set",
        "winrm/config/service/auth",
        "@{Certificate=\"false\"}",
    ]);
    assert_eq!(set.code(), 0, "{}", set.describe());
    let off = service.identify(&good);
    assert_eq!(off.response.status, 401, "{}", off.response.describe());
    assert!(!off
        .response
        .headers_named("WWW-Authenticate")
        .contains(&MUTUAL));
    assert!(service
        .fixture
        .daemon
        .stderr()
        .contains("certificate authentication is disabled"));
}

#[test]
fn mappings_are_checked_when_made() {
    let ca = TestCa::new("wsmand test CA");
    let service = CertService::start(&ca);
    let unknown = TestCa::new("not installed");
    let created = service.fixture.winrm_remote(&[
        "create",
        &mapping_uri(&unknown, "*"),
        "@{UserName=\"wsmanuser\"}",
    ]);
    assert_ne!(
        created.code(),
        0,
        "an issuer that is not installed is refused"
    );
    let created = service.fixture.winrm_remote(&[
        "create",
        &mapping_uri(&ca, "*"),
        "@{UserName=\"wsmanuser\";Password=\"Wsman-User-Pass1\"}",
    ]);
    assert_ne!(created.code(), 0, "passwords are refused, never stored");
    let stored = std::fs::read_to_string(service.fixture.config.path().join("config.toml"))
        .expect("config.toml");
    assert!(!stored.contains("CertMapping"), "{stored}");
    assert!(!stored.contains("Wsman-User-Pass1"), "{stored}");
}

#[test]
fn a_mapping_uri_limits_what_the_certificate_may_do() {
    let ca = TestCa::new("wsmand test CA");
    let service = CertService::start(&ca);
    let dir = tempfile::tempdir().expect("temp dir");
    // An administrator, but only for the shell resources.
    service.fixture.map_certificates(
        &ca.thumbprint,
        "ops@example",
        &format!("{SHELL_NS}/*"),
        "@{UserName=\"root\"}",
    );
    let ops = client(&ca, &ClientSpec::new("ops@example"), dir.path(), "ops");
    let identify = service.identify(&ops);
    assert_eq!(
        identify.response.status,
        200,
        "{}",
        identify.response.describe()
    );
    service.expect_config_denied(&ops);
    assert!(service
        .fixture
        .daemon
        .stderr()
        .contains("outside the certificate mapping's URI"));
    // The same administrator mapped for every URI may read the configuration.
    let created = service.fixture.winrm_remote(&[
        "create",
        &mapping_uri(&ca, "all@example"),
        "@{UserName=\"root\"}",
    ]);
    assert_eq!(created.code(), 0, "{}", created.describe());
    let all = client(&ca, &ClientSpec::new("all@example"), dir.path(), "all");
    assert_eq!(service.identify(&all).response.status, 200);
    let config = service.post(Some(&all), true, &soap::get(soap::CONFIG_URI, &[]));
    assert_eq!(
        config.response.status,
        200,
        "{}",
        config.response.describe()
    );
}
