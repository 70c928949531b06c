//! `winrm` and `winrs` with `-a:Kerberos` against the real wsmand and a real MIT KDC
//! (`scripts/kdc.sh`): the caller's credential cache (KRB5CCNAME) and `-u:`/`-p:`, over sealed
//! HTTP without TrustedHosts (Kerberos proves the server) and over HTTPS; the shell runs as
//! the mapped Linux user; a wrong password fails. Skipped (printed) without the KDC tools,
//! unless `WSMAN_TEST_REQUIRE_KDC=1`.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use wsman_test::kdc::Kdc;
use wsman_test::process::{self, Finished};
use wsman_test::{binaries, free_port, ConfigDir, Daemon, ListenerSpec};

struct Setup {
    kdc: Kdc,
    _daemon: Daemon,
    config: ConfigDir,
    http_port: u16,
    https_port: u16,
    thumbprint: String,
}

fn setup() -> Option<Setup> {
    let kdc = Kdc::start()?;
    let http_port = free_port();
    let https_port = free_port();
    let mut config = ConfigDir::new();
    config.set("Config.Service", "AllowUnencrypted", "false");
    config.listener(ListenerSpec::http(http_port));
    let thumbprint = config.add_certificate();
    config.listener(ListenerSpec::https(https_port, &thumbprint));
    config.write();
    let keytab = config.path().join("krb5.keytab");
    std::fs::copy(kdc.keytab(), &keytab).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&keytab, std::fs::Permissions::from_mode(0o600)).unwrap();
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
        _daemon: daemon,
        config,
        http_port,
        https_port,
        thumbprint,
    })
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
        assert!(finished.status.success(), "{}", finished.describe());
        assert_eq!(
            finished.stdout.trim(),
            s.kdc.user(),
            "{}",
            finished.describe()
        );
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
