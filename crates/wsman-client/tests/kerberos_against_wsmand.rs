#![allow(clippy::unwrap_used)]
//! Kerberos from the client library against the real wsmand, with a real MIT KDC
//! (`scripts/kdc.sh`, realm WSMAN.TEST on 127.0.0.1; `DIR/krb5.keytab` holds `HTTP/localhost`
//! and `WSMAN/localhost`): Identify, a config Get and a shell over sealed HTTP and over HTTPS,
//! the shell running as the mapped Linux user `wsmankrb`; and the refusals: a wrong password,
//! a ticket for another service, a replayed AP-REQ, a keytab with a wrong key version, a
//! missing channel binding under Strict, Kerberos without a keytab. Skipped (printed) without
//! the KDC tools, unless `WSMAN_TEST_REQUIRE_KDC=1`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use wsman_client::tls::TlsOptions;
use wsman_client::{
    Auth, BlockingClient, ClientError, ClientOptions, Endpoint, KerberosAuth, KerberosScheme,
};
use wsman_gss::{InitStep, InitiatorMechanism, KerberosInitiator};
use wsman_test::kdc::Kdc;
use wsman_test::{http, soap, ConfigDir, Daemon};

mod common;
use common::run_to_end;
mod streaming;

use common::get_config;

/// The realm every test here shares; libkrb5 (ours and the daemon's, which inherits the
/// environment) reads `KRB5_CONFIG` and `KRB5CCNAME` from it.
fn realm() -> Option<Arc<Kdc>> {
    // The daemon maps the test principal to this Linux user and refuses a principal whose user
    // does not exist: made here, before any test authenticates, not by whichever test needs it
    // first (on a machine without the user, the others failed with 401 until it ran).
    Kdc::shared_realm(|kdc| {
        ensure_linux_user(kdc.user());
    })
}

/// The Linux user the test principal maps to; created when running as root.
fn ensure_linux_user(name: &str) -> bool {
    let exists = || {
        std::process::Command::new("id")
            .arg(name)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if exists() {
        return true;
    }
    if nix_is_root() {
        let _ = std::process::Command::new("useradd")
            .args(["--create-home", "--shell", "/bin/bash", name])
            .status();
    }
    exists()
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .is_some_and(|l| l.split_whitespace().nth(2) == Some("0"))
    })
}

fn install_keytab(config: &ConfigDir, source: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let target = config.path().join("krb5.keytab");
    std::fs::copy(source, &target).unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// wsmand with an HTTP and an HTTPS listener and the given keytab (None: no keytab).
struct Server {
    daemon: Daemon,
    config: ConfigDir,
    http_port: u16,
    https_port: u16,
    thumbprint: String,
}

impl Server {
    fn start(keytab: Option<&Path>, adjust: impl FnOnce(&mut ConfigDir)) -> Self {
        Self::start_with_env(keytab, &[], adjust)
    }

    /// [`Server::start`] with extra environment variables for the daemon only.
    fn start_with_env(
        keytab: Option<&Path>,
        env: &[(&str, &str)],
        adjust: impl FnOnce(&mut ConfigDir),
    ) -> Self {
        let (mut config, http_port, https_port, thumbprint) = ConfigDir::encrypted_only();
        adjust(&mut config);
        config.write();
        if let Some(keytab) = keytab {
            install_keytab(&config, keytab);
        }
        let daemon = Daemon::start_with_env(&config, &[http_port, https_port], env);
        Self {
            daemon,
            config,
            http_port,
            https_port,
            thumbprint,
        }
    }

    fn http(&self) -> Endpoint {
        Endpoint::parse(&format!("http://localhost:{}/wsman", self.http_port), false).unwrap()
    }

    fn https(&self) -> Endpoint {
        Endpoint::parse(
            &format!("https://localhost:{}/wsman", self.https_port),
            false,
        )
        .unwrap()
    }

    fn tls(&self) -> TlsOptions {
        let mut tls = TlsOptions::default();
        tls.ca_file = Some(
            self.config
                .path()
                .join(format!("certs/{}.crt", self.thumbprint)),
        );
        tls
    }

    fn options(&self, auth: KerberosAuth) -> ClientOptions {
        let mut o = ClientOptions::default();
        o.auth = Auth::Kerberos(auth);
        o.tls = self.tls();
        // Kerberos needs no TrustedHosts (Windows' rule): an empty list must not stop it.
        o.trusted_hosts = Some(String::new());
        o.operation_timeout = Duration::from_secs(20);
        o
    }

    /// The error an Identify with `auth` at `endpoint` meets (it must fail).
    fn identify_error(&self, endpoint: Endpoint, auth: KerberosAuth) -> ClientError {
        BlockingClient::new(endpoint, self.options(auth))
            .unwrap()
            .identify()
            .unwrap_err()
    }
}

fn password_auth(kdc: &Kdc) -> KerberosAuth {
    KerberosAuth::with_password(kdc.user(), kdc.password())
}

#[test]
fn sealed_http_and_https_identify_get_and_shell_as_the_mapped_user() {
    let Some(kdc) = realm() else { return };
    let user_exists = ensure_linux_user(kdc.user());
    let server = Server::start(Some(&kdc.keytab()), |_| {});
    let cases = [
        (
            "http ccache Kerberos HTTP/",
            server.http(),
            KerberosAuth::from_ccache(),
        ),
        (
            "http password Negotiate WSMAN/",
            server.http(),
            password_auth(&kdc)
                .with_scheme(KerberosScheme::Negotiate)
                .with_service("WSMAN"),
        ),
        ("https ccache", server.https(), KerberosAuth::from_ccache()),
        (
            "https SPNEGO",
            server.https(),
            KerberosAuth::from_ccache().with_scheme(KerberosScheme::Negotiate),
        ),
    ];
    for (name, endpoint, auth) in cases {
        let client = BlockingClient::new(endpoint, server.options(auth)).unwrap();
        let identify = client.identify().unwrap();
        assert_eq!(identify.name, "IdentifyResponse", "{name}");
        if !user_exists {
            eprintln!("skipped the shell part: no Linux user {}", kdc.user());
            continue;
        }
        let out = run_to_end(
            &client,
            "id -un; read line; echo \"got-$line\"",
            b"stdin-line\n",
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            stdout,
            format!("{}\ngot-stdin-line\n", kdc.user()),
            "{name}"
        );
        assert_eq!(out.exit_code, 0, "{name}");
        // The mapped user is not an administrator: the config is not readable for it.
        let err = get_config(&client).unwrap_err();
        assert!(matches!(err, ClientError::Fault { .. }), "{name}: {err:?}");
    }
    let log = server.daemon.stderr();
    assert!(log.contains("authenticated (Kerberos)"), "{log}");
    assert!(
        log.contains(&format!("{}@{}", kdc.user(), kdc.realm())),
        "{log}"
    );
}

#[test]
fn an_explicit_mapping_runs_the_shell_as_that_user() {
    let Some(kdc) = realm() else { return };
    if !nix_is_root() {
        eprintln!("skipped: mapping to root needs the daemon to run as root");
        return;
    }
    let principal = format!("{}@{}", kdc.user(), kdc.realm());
    let server = Server::start(Some(&kdc.keytab()), |config| {
        config.write_raw(
            "kerberos.toml",
            &format!("[PrincipalMap]\n\"{principal}\" = \"root\"\n"),
        );
    });
    let client =
        BlockingClient::new(server.http(), server.options(KerberosAuth::from_ccache())).unwrap();
    // root is an administrator: the config is readable.
    let config = get_config(&client).unwrap();
    assert_eq!(config.name, "Config");
    let out = run_to_end(&client, "id -u", b"");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0\n");
}

#[test]
fn wrong_password_and_foreign_service_are_refused() {
    let Some(kdc) = realm() else { return };
    let server = Server::start(Some(&kdc.keytab()), |_| {});
    // A wrong password never gets a ticket.
    let err = server.identify_error(
        server.http(),
        KerberosAuth::with_password(kdc.user(), "not-the-password"),
    );
    assert!(matches!(err, ClientError::Authentication { .. }), "{err:?}");
    // A ticket for FOO/localhost (a real service of the realm, not in our keytab).
    let err = server.identify_error(
        server.http(),
        KerberosAuth::from_ccache().with_service("FOO"),
    );
    assert!(matches!(err, ClientError::Unauthorized { .. }), "{err:?}");
    let log = server.daemon.stderr();
    assert!(log.contains("Kerberos"), "{log}");
    assert!(log.contains("401"), "{log}");
}

/// A raw AP-REQ, the way a client sends it, for replays.
fn ap_req(kdc: &Kdc) -> Vec<u8> {
    ap_req_from(kdc, None).unwrap()
}

/// A raw AP-REQ from the default credential cache or a named one.
fn ap_req_from(kdc: &Kdc, ccache: Option<&str>) -> Result<Vec<u8>, wsman_gss::GssError> {
    let initiator =
        KerberosInitiator::from_ccache("HTTP", kdc.host(), ccache, InitiatorMechanism::Kerberos)?;
    let mut context = initiator.context(None)?;
    match context.step(None)? {
        InitStep::Continue(token) => Ok(token),
        InitStep::Complete { .. } => panic!("mutual authentication needs an answer"),
    }
}

#[test]
fn a_replayed_ap_req_is_refused_and_the_answer_carries_the_ap_rep() {
    let Some(kdc) = realm() else { return };
    let server = Server::start(Some(&kdc.keytab()), |_| {});
    let token = ap_req(&kdc);
    // First use: 200 with one WWW-Authenticate carrying the mutual-authentication token.
    let first = kerberos_post(server.http_port, &token);
    assert_eq!(first.status, 200, "{}", first.describe());
    let answers = first.headers_named("WWW-Authenticate");
    assert_eq!(answers.len(), 1, "{}", first.describe());
    assert!(answers[0].starts_with("Kerberos "), "{}", first.describe());
    // The same AP-REQ on a new connection: a replay.
    let replay = kerberos_post(server.http_port, &token);
    assert_eq!(replay.status, 401, "{}", replay.describe());
    let log = server.daemon.stderr();
    assert!(log.to_ascii_lowercase().contains("replay"), "{log}");
}

#[test]
fn plaintext_after_kerberos_over_http_is_refused_and_https_is_bound() {
    let Some(kdc) = realm() else { return };
    let server = Server::start(Some(&kdc.keytab()), |config| {
        config.set("Config.Service.Auth", "CbtHardeningLevel", "\"Strict\"");
    });
    // -unencrypted style: authenticate, then send plaintext over HTTP: 500 (as Windows).
    let mut auth = KerberosAuth::from_ccache();
    auth.encrypt = false;
    let err = server.identify_error(server.http(), auth);
    assert!(
        matches!(err, ClientError::Fault { .. } | ClientError::Http { .. }),
        "{err:?}"
    );
    // Strict: HTTPS with our channel binding works, without it is refused.
    let client =
        BlockingClient::new(server.https(), server.options(KerberosAuth::from_ccache())).unwrap();
    assert_eq!(client.identify().unwrap().name, "IdentifyResponse");
    let mut unbound = KerberosAuth::from_ccache();
    unbound.channel_binding = false;
    let err = server.identify_error(server.https(), unbound);
    assert!(matches!(err, ClientError::Unauthorized { .. }), "{err:?}");
}

#[test]
fn a_keytab_with_a_wrong_key_version_is_refused() {
    let Some(kdc) = realm() else { return };
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join("stale.keytab");
    write_keytab(&stale, kdc.realm(), kdc.host(), 9);
    let server = Server::start(Some(&stale), |_| {});
    let err = server.identify_error(server.http(), KerberosAuth::from_ccache());
    assert!(matches!(err, ClientError::Unauthorized { .. }), "{err:?}");
    let log = server.daemon.stderr();
    assert!(log.contains("401"), "{log}");
}

#[test]
fn without_a_keytab_kerberos_is_inert() {
    let Some(kdc) = realm() else { return };
    let server = Server::start(None, |config| {
        config.set("Config.Service.Auth", "Basic", "true");
    });
    let challenge = http::post(server.http_port, None, soap::identify().as_bytes());
    assert_eq!(challenge.status, 401);
    let offered = challenge.headers_named("WWW-Authenticate").join(",");
    assert!(!offered.contains("Kerberos"), "{offered}");
    let refused = kerberos_post(server.http_port, &ap_req(&kdc));
    assert_eq!(refused.status, 401, "{}", refused.describe());
    assert!(server.daemon.stderr().contains("Kerberos off"));
}

/// A keytab (format 0x0502) with `HTTP/` and `WSMAN/` `host` keys of random bytes at
/// `kvno`: keys the KDC never issued for that version.
fn write_keytab(path: &Path, realm: &str, host: &str, kvno: u32) {
    use std::os::unix::fs::PermissionsExt;
    fn counted(out: &mut Vec<u8>, data: &[u8]) {
        out.extend_from_slice(&u16::try_from(data.len()).unwrap().to_be_bytes());
        out.extend_from_slice(data);
    }
    let mut file = vec![0x05, 0x02];
    for service in ["HTTP", "WSMAN"] {
        let mut entry = Vec::new();
        entry.extend_from_slice(&2u16.to_be_bytes()); // components
        counted(&mut entry, realm.as_bytes());
        counted(&mut entry, service.as_bytes());
        counted(&mut entry, host.as_bytes());
        entry.extend_from_slice(&1u32.to_be_bytes()); // KRB5_NT_PRINCIPAL
        entry.extend_from_slice(&0u32.to_be_bytes()); // timestamp
        entry.push(u8::try_from(kvno).unwrap());
        entry.extend_from_slice(&18u16.to_be_bytes()); // aes256-cts-hmac-sha1-96
        let key: Vec<u8> = (0..32u8)
            .map(|i| i.wrapping_mul(37).wrapping_add(11))
            .collect();
        counted(&mut entry, &key);
        entry.extend_from_slice(&kvno.to_be_bytes());
        file.extend_from_slice(&i32::try_from(entry.len()).unwrap().to_be_bytes());
        file.extend_from_slice(&entry);
    }
    std::fs::write(path, file).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// `kinit -l LIFETIME` of the test user into the credential cache `ccache` (`FILE:...`).
fn kinit(kdc: &Kdc, ccache: &str, lifetime: &str) {
    let mut command = std::process::Command::new("kinit");
    kdc.apply(&mut command);
    command
        .env("KRB5CCNAME", ccache)
        .args(["-l", lifetime])
        .arg(format!("{}@{}", kdc.user(), kdc.realm()));
    let finished = wsman_test::process::run(
        &mut command,
        Some(&format!("{}\n", kdc.password())),
        Duration::from_secs(30),
    );
    assert!(finished.status.success(), "{}", finished.describe());
}

/// True while `klist -s` finds an unexpired ticket in `ccache`.
fn has_valid_ticket(kdc: &Kdc, ccache: &str) -> bool {
    let mut command = std::process::Command::new("klist");
    kdc.apply(&mut command);
    command.env("KRB5CCNAME", ccache).arg("-s");
    wsman_test::process::run(&mut command, None, Duration::from_secs(30))
        .status
        .success()
}

fn kerberos_post(port: u16, token: &[u8]) -> http::Response {
    let authorization = format!(
        "Kerberos {}",
        base64::engine::general_purpose::STANDARD.encode(token)
    );
    http::post(port, Some(&authorization), b"")
}

/// An expired ticket. The acceptor allows the realm's clock skew past a ticket's end (300 s
/// by default), so the daemon gets its own copy of the realm's krb5.conf with `clockskew = 1`;
/// the client's ticket lives 3 seconds (`kinit -l 3s`). The same daemon accepts a fresh
/// ticket obtained the same way, so the refusal is the expiry and nothing else.
#[test]
fn an_expired_ticket_is_refused() {
    let Some(kdc) = realm() else { return };
    let dir = tempfile::tempdir().unwrap();
    let realm_conf = std::fs::read_to_string(kdc.var("KRB5_CONFIG")).unwrap();
    let daemon_conf =
        realm_conf.replacen("[libdefaults]\n", "[libdefaults]\n    clockskew = 1\n", 1);
    assert_ne!(
        daemon_conf, realm_conf,
        "no [libdefaults] in the realm's krb5.conf"
    );
    let daemon_conf_path = dir.path().join("krb5.conf");
    std::fs::write(&daemon_conf_path, daemon_conf).unwrap();
    let server = Server::start_with_env(
        Some(&kdc.keytab()),
        &[("KRB5_CONFIG", daemon_conf_path.to_str().unwrap())],
        |_| {},
    );

    // Control: a fresh short-lived ticket is accepted by this daemon.
    let fresh = format!("FILE:{}", dir.path().join("fresh").display());
    kinit(&kdc, &fresh, "10m");
    let accepted = kerberos_post(server.http_port, &ap_req_from(&kdc, Some(&fresh)).unwrap());
    assert_eq!(accepted.status, 200, "{}", accepted.describe());

    // An honest MIT client refuses to use an expired ticket, so the AP-REQ is made while the
    // ticket is valid and sent after it expired: a request that waited too long.
    let short = format!("FILE:{}", dir.path().join("short").display());
    let token = (0..3)
        .find_map(|_| {
            kinit(&kdc, &short, "3s");
            ap_req_from(&kdc, Some(&short)).ok()
        })
        .expect("an AP-REQ within the ticket's 3 s lifetime");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while has_valid_ticket(&kdc, &short) {
        assert!(
            std::time::Instant::now() < deadline,
            "the 3 s ticket never expired"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // klist stops at the end time; the daemon allows 1 s of skew past it.
    std::thread::sleep(Duration::from_secs(2));
    let refused = kerberos_post(server.http_port, &token);
    assert_eq!(refused.status, 401, "{}", refused.describe());
    let log = server.daemon.stderr();
    assert!(log.contains("Ticket expired"), "{log}");
    assert!(log.contains("401: authentication failed"), "{log}");
}

/// Output streamed over Kerberos-sealed HTTP is what `sh` prints here (see `streaming`).
#[test]
fn streamed_output_over_sealed_http_is_the_commands_output() {
    let Some(kdc) = realm() else { return };
    if !ensure_linux_user(kdc.user()) {
        eprintln!("skipped: no Linux user {}", kdc.user());
        return;
    }
    let server = Server::start(Some(&kdc.keytab()), |_| {});
    streaming::check(
        "Kerberos sealed over HTTP",
        server.http(),
        server.options(password_auth(&kdc)),
    );
}
