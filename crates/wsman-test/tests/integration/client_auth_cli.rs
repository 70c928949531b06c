//! The real `winrm` and `winrs` CLIs with the connection-level schemes against the real
//! wsmand: `-a:Negotiate` (and Windows' default, `-u:` without `-a:`) for Identify and Get over
//! an NTLM-sealed HTTP connection, a wrong password refused, the client settings
//! (TrustedHosts) honoured; and `-a:Certificate -certificate:` (a PEM file or a thumbprint in
//! the client's certs/) over HTTPS.

use std::process::Command;
use std::time::Duration;

use wsman_test::client_certs::{ClientSpec, TestCa};
use wsman_test::process::{self, Finished};
use wsman_test::{binaries, free_port, ConfigDir, Fixture};

const NTLM_USER: &str = "ntlmuser";
const NTLM_PASSWORD: &str = "Ntlm-Test-Pass1";

fn negotiate_fixture() -> Fixture {
    let fixture = Fixture::http_setting("Config.Service.Auth", "Negotiate", "true");
    fixture
        .config
        .add_ntlm_account(NTLM_USER, NTLM_PASSWORD, "root");
    fixture
}

/// `winrm ARGS -r:URL -u:ntlmuser` with `client` as the machine's client configuration.
fn winrm(fixture: &Fixture, client: &ConfigDir, password: &str, args: &[&str]) -> Finished {
    let mut command = Command::new(binaries::winrm());
    command
        .args(args)
        .arg(format!("-r:http://127.0.0.1:{}", fixture.port))
        .arg(format!("-u:{NTLM_USER}"))
        .arg(format!("-p:{password}"))
        .env("WSMAND_CONFIG_DIR", client.path());
    process::run(&mut command, None, Duration::from_secs(60))
}

#[test]
fn identify_and_get_with_negotiate() {
    let fixture = negotiate_fixture();
    for auth in [None, Some("-a:Negotiate"), Some("-a:Default")] {
        let mut identify = vec!["identify"];
        identify.extend(auth);
        let finished = winrm(&fixture, &fixture.config, NTLM_PASSWORD, &identify);
        assert_eq!(finished.code(), 0, "{auth:?}: {}", finished.describe());
        assert!(
            finished.stdout.contains("IdentifyResponse"),
            "{}",
            finished.describe()
        );
        let mut get = vec!["get", "winrm/config/service/auth"];
        get.extend(auth);
        let finished = winrm(&fixture, &fixture.config, NTLM_PASSWORD, &get);
        assert_eq!(finished.code(), 0, "{auth:?}: {}", finished.describe());
        assert!(
            process::has_line(&finished.stdout, "Negotiate = true"),
            "{}",
            finished.describe()
        );
    }
}

#[test]
fn wrong_password_and_untrusted_host_are_refused() {
    let fixture = negotiate_fixture();
    let finished = winrm(&fixture, &fixture.config, "wrong", &["identify"]);
    assert_eq!(finished.code(), 3, "{}", finished.describe());
    assert!(!finished.stdout.contains("IdentifyResponse"));
    // A client whose TrustedHosts does not name the server does not authenticate over HTTP.
    let mut client = ConfigDir::new();
    client.set("Config.Client", "TrustedHosts", "\"\"");
    client.write();
    let finished = winrm(&fixture, &client, NTLM_PASSWORD, &["identify"]);
    assert_ne!(finished.code(), 0, "{}", finished.describe());
    assert!(
        finished.stderr.contains("TrustedHosts"),
        "{}",
        finished.describe()
    );
}

/// The non-administrator test user (scripts/test.sh creates it).
const MAPPED_USER: &str = "wsmanuser";

#[test]
fn certificate_authentication_from_both_tools() {
    let ca = TestCa::new("wsmand client CLI test CA");
    let https_port = free_port();
    let mut fixture = Fixture::http_with(|config| {
        ca.enable_for(config, https_port);
    });
    fixture.daemon.wait_for_port(https_port);
    fixture.map_certificates(
        &ca.thumbprint,
        "*@example",
        "*",
        &format!("@{{UserName=\"{MAPPED_USER}\";Enabled=\"true\"}}"),
    );
    // The client machine: its own config dir, the certificate under certs/ by thumbprint.
    let client = ConfigDir::new();
    client.write();
    let files = ca.issue(&ClientSpec::new("alice@example"), client.path(), "alice");
    let certs = client.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(
        &files.certificate,
        certs.join(format!("{}.crt", files.thumbprint)),
    )
    .unwrap();
    std::fs::copy(&files.key, certs.join(format!("{}.key", files.thumbprint))).unwrap();
    let url = format!("-r:https://127.0.0.1:{https_port}/wsman");
    for certificate in [
        files.combined.display().to_string(),
        files.thumbprint.clone(),
    ] {
        let choice = format!("-certificate:{certificate}");
        let mut command = Command::new(binaries::winrm());
        command
            .args(["identify", &url, "-a:Certificate", &choice])
            .args(["-skipCAcheck", "-skipCNcheck"])
            .env("WSMAND_CONFIG_DIR", client.path());
        let finished = process::run(&mut command, None, Duration::from_secs(60));
        assert_eq!(finished.code(), 0, "{certificate}: {}", finished.describe());
        assert!(
            finished.stdout.contains("IdentifyResponse"),
            "{}",
            finished.describe()
        );
        let mut command = Command::new(binaries::path("winrs"));
        command
            .args([
                &url,
                "-a:Certificate",
                &choice,
                "-skipCAcheck",
                "-skipCNcheck",
                "id -un",
            ])
            .env("WSMAND_CONFIG_DIR", client.path());
        let finished = process::run(&mut command, None, Duration::from_secs(60));
        finished.assert_output(MAPPED_USER, &certificate);
    }
    // Certificate authentication needs HTTPS; without a certificate the tools refuse to start.
    let mut command = Command::new(binaries::winrm());
    command
        .args([
            "identify",
            &format!("-r:http://127.0.0.1:{}", fixture.port),
            "-a:Certificate",
        ])
        .args([format!("-certificate:{}", files.combined.display())])
        .env("WSMAND_CONFIG_DIR", client.path());
    let finished = process::run(&mut command, None, Duration::from_secs(60));
    assert_ne!(finished.code(), 0, "{}", finished.describe());
    assert!(finished.stderr.contains("HTTPS"), "{}", finished.describe());
}
