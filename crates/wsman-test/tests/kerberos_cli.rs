//! `winrm` and `winrs` with `-a:Kerberos` against the real wsmand and a real MIT KDC
//! (`scripts/kdc.sh`): the caller's credential cache (KRB5CCNAME) and `-u:`/`-p:`, over sealed
//! HTTP without TrustedHosts (Kerberos proves the server) and over HTTPS; the shell runs as
//! the mapped Linux user; a wrong password fails; the keytab and `kerberos.toml` are read
//! again on SIGHUP (a bad new file is refused and the one in force kept). Skipped (printed)
//! without the KDC tools, unless `WSMAN_TEST_REQUIRE_KDC=1`.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use wsman_test::kdc::Kdc;
use wsman_test::process::{self, Finished};
use wsman_test::{binaries, free_port, ConfigDir, Daemon, ListenerSpec};

struct Setup {
    kdc: Kdc,
    daemon: Daemon,
    config: ConfigDir,
    http_port: u16,
    https_port: u16,
    thumbprint: String,
}

fn setup() -> Option<Setup> {
    setup_with(true)
}

/// The realm, and a daemon on HTTP and HTTPS listeners, with the realm's keytab installed as
/// `DIR/krb5.keytab` when `keytab`.
fn setup_with(keytab: bool) -> Option<Setup> {
    let kdc = Kdc::start()?;
    let (config, http_port, https_port, thumbprint) = ConfigDir::encrypted_only();
    config.write();
    if keytab {
        install_keytab(&kdc, &config);
    }
    // The daemon reads the realm's krb5.conf (KRB5_CONFIG) from its environment.
    let daemon = {
        let saved: Vec<(String, Option<String>)> = kdc
            .env()
            .keys()
            .map(|k| (k.clone(), std::env::var(k).ok()))
            .collect();
        kdc.export_to_process();
        let daemon = Daemon::start(&config, &[http_port, https_port]);
        for (name, value) in saved {
            match value {
                Some(v) => std::env::set_var(&name, v),
                None => std::env::remove_var(&name),
            }
        }
        daemon
    };
    Some(Setup {
        kdc,
        daemon,
        config,
        http_port,
        https_port,
        thumbprint,
    })
}

fn install_keytab(kdc: &Kdc, config: &ConfigDir) {
    use std::os::unix::fs::PermissionsExt;
    let keytab = config.path().join("krb5.keytab");
    std::fs::copy(kdc.keytab(), &keytab).unwrap();
    std::fs::set_permissions(&keytab, std::fs::Permissions::from_mode(0o600)).unwrap();
}

impl Setup {
    /// A client tool with the realm's environment and this config dir as the client
    /// configuration (TrustedHosts empty, AllowUnencrypted false: Windows' defaults).
    fn tool(&self, name: &str) -> Command {
        let mut command = Command::new(binaries::path(name));
        self.kdc.apply(&mut command);
        command.env("WSMAND_CONFIG_DIR", self.config.path());
        command
    }

    fn run(&self, mut command: Command) -> Finished {
        process::run(&mut command, None, Duration::from_secs(60))
    }

    fn cacert(&self) -> String {
        format!(
            "-cacert:{}",
            self.config
                .path()
                .join(format!("certs/{}.crt", self.thumbprint))
                .display()
        )
    }
}

#[test]
fn winrm_identify_and_winrs_with_kerberos() {
    let Some(s) = setup() else { return };
    // winrm identify from the credential cache, sealed HTTP, no TrustedHosts.
    let mut winrm = s.tool("winrm");
    winrm.args([
        "identify",
        &format!("-r:http://localhost:{}", s.http_port),
        "-a:Kerberos",
    ]);
    let finished = s.run(winrm);
    assert!(finished.status.success(), "{}", finished.describe());
    assert!(
        finished.stdout.contains("ProductVendor"),
        "{}",
        finished.describe()
    );

    // The same over HTTPS with -u:/-p: (a ticket of its own) and the WSMAN/ SPN.
    let mut winrm = s.tool("winrm");
    winrm.args([
        "identify",
        &format!("-r:https://localhost:{}", s.https_port),
        "-a:Kerberos",
        "-spn:WSMAN",
        &format!("-u:{}", s.kdc.user()),
        &format!("-p:{}", s.kdc.password()),
        &s.cacert(),
    ]);
    let finished = s.run(winrm);
    assert!(finished.status.success(), "{}", finished.describe());

    // winrs: the command runs as the Linux user the principal maps to.
    let has_user = Command::new("id")
        .arg(s.kdc.user())
        .output()
        .is_ok_and(|o| o.status.success());
    if has_user {
        let mut winrs = s.tool("winrs");
        winrs.args([
            &format!("-r:http://localhost:{}", s.http_port),
            "-a:Kerberos",
            "id -un",
        ]);
        let finished = s.run(winrs);
        finished.assert_output(s.kdc.user(), "winrs id -un");
    } else {
        eprintln!("skipped winrs: no Linux user {}", s.kdc.user());
    }

    // A wrong password: no ticket, a failure exit.
    let mut winrs = s.tool("winrs");
    winrs.args([
        &format!("-r:http://localhost:{}", s.http_port),
        "-a:Kerberos",
        &format!("-u:{}", s.kdc.user()),
        "-p:wrong-password",
        "true",
    ]);
    let finished = s.run(winrs);
    assert!(!finished.status.success(), "{}", finished.describe());
}

impl Setup {
    /// `winrm identify -a:Kerberos` over sealed HTTP from the credential cache.
    fn identify(&self) -> Finished {
        let mut winrm = self.tool("winrm");
        winrm.args([
            "identify",
            &format!("-r:http://localhost:{}", self.http_port),
            "-a:Kerberos",
        ]);
        self.run(winrm)
    }

    /// SIGHUP, then wait until the daemon has handled its `n`th reload request.
    fn reload(&mut self, n: usize) {
        self.daemon.hang_up();
        let daemon_log = self.daemon.stderr_path();
        self.daemon.wait_until(&format!("reload {n}"), || {
            let log = std::fs::read_to_string(&daemon_log).unwrap_or_default();
            log.matches("reload requested: configuration unchanged")
                .count()
                >= n
        });
    }

    /// How often the daemon logged a Kerberos login as `user`.
    fn logins_as(&self, user: &str) -> usize {
        let log = self.daemon.stderr();
        log.lines()
            .filter(|line| line.contains("authenticated (Kerberos)"))
            .filter(|line| {
                line.contains(&format!("user={user} ")) || line.ends_with(&format!("user={user}"))
            })
            .count()
    }
}

#[test]
fn the_keytab_and_the_mapping_are_read_again_on_sighup() {
    let Some(mut s) = setup_with(false) else {
        return;
    };
    // No keytab at start: Kerberos is off.
    let finished = s.identify();
    assert!(!finished.status.success(), "{}", finished.describe());

    // The keytab installed and SIGHUP: a new handshake uses it.
    install_keytab(&s.kdc, &s.config);
    s.reload(1);
    let finished = s.identify();
    assert!(finished.status.success(), "{}", finished.describe());
    assert_eq!(s.logins_as(s.kdc.user()), 1, "{}", s.daemon.stderr());

    // A new principal map and SIGHUP: the principal now logs in as root.
    let principal = format!("{}@{}", s.kdc.user(), s.kdc.realm());
    let mapping = s.config.path().join("kerberos.toml");
    std::fs::write(
        &mapping,
        format!("[PrincipalMap]\n\"{principal}\" = \"root\"\n"),
    )
    .unwrap();
    s.reload(2);
    let finished = s.identify();
    assert!(finished.status.success(), "{}", finished.describe());
    assert_eq!(s.logins_as("root"), 1, "{}", s.daemon.stderr());

    // A bad new file is refused with a log line; the configuration in force stays.
    std::fs::write(&mapping, "PrincipalMap = 3\n").unwrap();
    s.reload(3);
    assert!(
        s.daemon
            .stderr()
            .contains("Kerberos configuration not reloaded"),
        "{}",
        s.daemon.stderr()
    );
    let finished = s.identify();
    assert!(finished.status.success(), "{}", finished.describe());
    assert_eq!(s.logins_as("root"), 2, "{}", s.daemon.stderr());
}

/// `wsmand wec doctor` against the realm: its answer (exit status, lines).
/// Checks that the doctor's run failed and that its report says each of `says`.
fn assert_doctor_fails_saying(finished: &Finished, says: &[&str]) {
    assert!(!finished.status.success(), "{}", finished.describe());
    for text in says {
        assert!(finished.stdout.contains(text), "{}", finished.stdout);
    }
}

fn doctor(kdc: &Kdc, config: &ConfigDir, database: &std::path::Path, args: &[&str]) -> Finished {
    let mut command = Command::new(binaries::wsmand());
    kdc.apply(&mut command);
    command
        .arg("--config-dir")
        .arg(config.path())
        .arg("--wec-database")
        .arg(database)
        .args(["wec", "doctor"])
        .args(args);
    process::run(&mut command, None, Duration::from_secs(120))
}

/// The key version of `principal` in `keytab` as MIT's `klist -k` lists it (the newest).
fn klist_kvno(kdc: &Kdc, keytab: &std::path::Path, principal: &str) -> u32 {
    let mut command = Command::new("klist");
    kdc.apply(&mut command);
    command.arg("-k").arg(keytab);
    let listed = process::run(&mut command, None, Duration::from_secs(30));
    assert!(listed.status.success(), "{}", listed.describe());
    listed
        .stdout
        .lines()
        .filter(|l| l.trim_end().ends_with(principal))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .max()
        .unwrap_or_else(|| panic!("klist -k lists no {principal}: {}", listed.stdout))
}

#[test]
fn wec_doctor_passes_a_good_setup_and_names_each_broken_part() {
    let Some(kdc) = Kdc::start() else { return };
    let state = tempfile::tempdir().unwrap();
    let database = state.path().join("wec.sqlite");
    let mut config = ConfigDir::new();
    config.listener(ListenerSpec::http(free_port()));
    config.write();
    config.write_raw(
        "subscriptions/wef.toml",
        &format!(
            "query = '<QueryList><Query Id=\"0\"><Select Path=\"Security\">*</Select></Query></QueryList>'\n[[outputs]]\ntype = \"file\"\npath = \"{}/{{subscription}}/{{client}}.xml\"\nformat = \"raw\"\n",
            state.path().join("out").display()
        ),
    );
    install_keytab(&kdc, &config);
    let host = kdc.host().to_owned();
    let principal = format!("HTTP/{host}@{}", kdc.realm());
    let keytab = config.path().join("krb5.keytab");
    let kvno = klist_kvno(&kdc, &keytab, &principal);

    // A good setup: every check passes, with the key version klist reads from the keytab.
    let good = doctor(&kdc, &config, &database, &["--host", &host, "--wsman"]);
    assert!(good.status.success(), "{}", good.describe());
    assert!(!good.stdout.contains("FAIL"), "{}", good.stdout);
    assert!(
        good.stdout.contains(&format!(
            "a ticket for HTTP/{host} from the KDC is accepted with the keytab's key (kvno {kvno})"
        )),
        "{}",
        good.stdout
    );
    assert!(good.stdout.contains(&format!("a ticket for WSMAN/{host}")));
    assert!(good.stdout.contains("this clock is"), "{}", good.stdout);

    // A keytab without the SPN (FOO/<host> only).
    let other = kdc.other_keytab();
    let missing = doctor(
        &kdc,
        &config,
        &database,
        &["--host", &host, "--keytab", other.to_str().unwrap()],
    );
    assert_doctor_fails_saying(
        &missing,
        &["has no HTTP/ principal at all", &format!("FOO/{host}@")],
    );

    // A host name the keytab was not made for.
    let wrong = doctor(
        &kdc,
        &config,
        &database,
        &["--host", "collector.wsman.test"],
    );
    assert_doctor_fails_saying(
        &wrong,
        &[
            &format!("the keytab has no key for HTTP/collector.wsman.test, only for HTTP/{host}"),
            "collector.wsman.test does not resolve",
        ],
    );

    // The principal re-keyed in the KDC after the keytab was exported: a stale kvno.
    let mut rekey = Command::new("kadmin.local");
    kdc.apply(&mut rekey);
    rekey
        .env("KRB5_KDC_PROFILE", kdc.dir().join("kdc.conf"))
        .args([
            "-r",
            kdc.realm(),
            "-q",
            &format!("cpw -randkey {principal}"),
        ]);
    let rekeyed = process::run(&mut rekey, None, Duration::from_secs(60));
    assert!(rekeyed.status.success(), "{}", rekeyed.describe());
    let stale = doctor(&kdc, &config, &database, &["--host", &host]);
    assert_doctor_fails_saying(
        &stale,
        &[&format!(
            "the keytab's key for HTTP/{host} (kvno {kvno}) is not the KDC's current key"
        )],
    );
    assert_eq!(
        stale
            .stdout
            .lines()
            .filter(|l| l.starts_with("FAIL"))
            .count(),
        1,
        "only the key is wrong: {}",
        stale.stdout
    );
}
