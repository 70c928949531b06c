//! Ownership is the principal, not the name (security): the Kerberos principal `wsmankrb` of
//! the test realm (`scripts/kdc.sh`, mapped to the unprivileged Linux user `wsmankrb`) and the
//! service account `wsmankrb` (`wsmand account add --ntlm --run-as root`, logged in with
//! NTLM) are two callers against the real wsmand. Neither lists, feeds (Send), reads
//! (Receive), terminates, connects to or deletes the other's shells, nor pulls or releases the
//! other's enumeration contexts; each still uses its own. Before, both were the owner
//! `wsmankrb`, and the Kerberos user read `id -u` = 0 out of the account's shell. Skipped
//! (printed) without the KDC tools, unless `WSMAN_TEST_REQUIRE_KDC=1`.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use wsman_client::enumerate::{enumerate_body, pull_body, release_body};
use wsman_client::shell::{list_shells, CommandOptions, Shell, ShellOptions, Signal};
use wsman_client::{
    Auth, Client, ClientError, ClientOptions, Endpoint, EnumerateOptions, KerberosAuth,
    NegotiateAuth, Resource,
};
use wsman_proto::ns::action;
use wsman_proto::shell::Connect;
use wsman_proto::xml::Element;
use wsman_test::kdc::Kdc;
use wsman_test::{ConfigDir, Daemon};

/// The PowerShell plug-in's resource.
const POWERSHELL: &str = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell";

/// The service account's password (the account has the Kerberos user's name).
const ACCOUNT_PASSWORD: &str = "Same-Name-Account-Pass-3";

struct Setup {
    kdc: Kdc,
    _daemon: Daemon,
    _config: ConfigDir,
    url: String,
    audit: std::path::PathBuf,
}

/// The realm; a daemon with its keytab on a sealed HTTP listener; the service account named
/// like the realm's test user, run as root.
fn setup() -> Option<Setup> {
    use std::os::unix::fs::PermissionsExt;
    let kdc = Kdc::start()?;
    let (config, http_port, https_port, _) = ConfigDir::encrypted_only();
    config.write();
    let keytab = config.path().join("krb5.keytab");
    std::fs::copy(kdc.keytab(), &keytab).unwrap();
    std::fs::set_permissions(&keytab, std::fs::Permissions::from_mode(0o600)).unwrap();
    config.add_ntlm_account(kdc.user(), ACCOUNT_PASSWORD, "root");
    // The daemon and this process's libkrb5 read the realm's krb5.conf from the environment
    // (this binary has one test: nothing else makes a Kerberos call meanwhile).
    kdc.export_to_process();
    let audit = config.path().join("audit.jsonl");
    let audit_text = audit.display().to_string();
    let daemon = Daemon::start_with_env(
        &config,
        &[http_port, https_port],
        &[("WSMAND_AUDIT_FILE", &audit_text)],
    );
    let url = format!("http://{}:{http_port}/wsman", kdc.host());
    Some(Setup {
        kdc,
        _daemon: daemon,
        _config: config,
        url,
        audit,
    })
}

impl Setup {
    fn client(&self, auth: Auth) -> Client {
        let mut options = ClientOptions::default();
        options.auth = auth;
        Client::new(Endpoint::parse(&self.url, false).unwrap(), options).unwrap()
    }

    /// `wsmankrb@REALM` by Kerberos (sealed HTTP).
    fn kerberos(&self) -> Client {
        let principal = format!("{}@{}", self.kdc.user(), self.kdc.realm());
        self.client(Auth::Kerberos(KerberosAuth::with_password(
            &principal,
            self.kdc.password(),
        )))
    }

    /// The service account `wsmankrb` by NTLM (sealed HTTP).
    fn account(&self) -> Client {
        self.client(Auth::Negotiate(NegotiateAuth::new(
            self.kdc.user(),
            ACCOUNT_PASSWORD,
        )))
    }
}

/// The uid of the Linux user `name`.
fn uid_of(name: &str) -> String {
    let out = Command::new("id").args(["-u", name]).output().unwrap();
    assert!(out.status.success(), "id -u {name}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The first `EnumerationContext` in `elements` or below.
fn context_in(elements: &[Element]) -> Option<String> {
    elements.iter().find_map(
        |element| match element.child_ignore_case("EnumerationContext") {
            Some(context) => Some(context.trimmed_text()),
            None => context_in(&element.elements().cloned().collect::<Vec<_>>()),
        },
    )
}

/// A Pull of `context` (one item) by `client`.
async fn pull(
    client: &Client,
    resource: &Resource,
    context: &str,
) -> Result<Vec<Element>, ClientError> {
    let mut paging = EnumerateOptions::default();
    paging.max_elements = 1;
    let header = client.request_header(action::PULL, resource);
    client
        .send_for_body(&header, &pull_body(context, &paging))
        .await
}

/// `owner` opens a shell with a command (`sh` reading its stdin) and a second shell, then:
/// `other` does not see them, cannot Send, Receive, Terminate, Delete or Connect (once
/// disconnected), nor Pull or Release `owner`'s enumeration of its shells; `owner` still does
/// all of it, and its command runs as `owner_uid`.
async fn only_the_owner(owner: &Client, other: &Client, owner_uid: &str, who: &str) {
    let shell = Shell::open(owner, &ShellOptions::default()).await.unwrap();
    let second = Shell::open(owner, &ShellOptions::default()).await.unwrap();
    let command = shell
        .run("sh", &[], &CommandOptions::default())
        .await
        .unwrap();

    let listed = list_shells(other).await.unwrap();
    assert!(
        !listed
            .iter()
            .any(|s| s.shell_id == shell.id() || s.shell_id == second.id()),
        "{who}: the other caller lists the owner's shells: {listed:?}"
    );
    let theirs = Shell::connectionless(other, shell.id()).unwrap();
    let stolen = theirs.command(command.id());
    assert!(
        stolen.send(b"id -u\n", false).await.is_err(),
        "{who}: the other caller sent into the owner's command"
    );
    let mut reader = stolen.output().unwrap();
    assert!(
        reader.next().await.is_err(),
        "{who}: the other caller received the owner's output"
    );
    assert!(
        stolen.signal(Signal::Terminate).await.is_err(),
        "{who}: the other caller terminated the owner's command"
    );

    // Enumeration contexts: one shell per batch leaves a context open after the first.
    let resource = Resource::new(wsman_proto::shell::uri::SHELLS);
    let mut paging = EnumerateOptions::default();
    paging.max_elements = 1;
    let header = owner.request_header(action::ENUMERATE, &resource);
    let opened = owner
        .send_for_body(&header, &enumerate_body(&paging))
        .await
        .unwrap();
    let context = context_in(&opened).expect("an open enumeration context");
    assert!(
        pull(other, &resource, &context).await.is_err(),
        "{who}: the other caller pulled the owner's enumeration"
    );
    let header = other.request_header(action::RELEASE, &resource);
    assert!(
        other
            .send_for_body(&header, &release_body(&context))
            .await
            .is_err(),
        "{who}: the other caller released the owner's enumeration"
    );
    pull(owner, &resource, &context).await.unwrap();

    // Connect: the owner leaves the shell; only the owner takes it up again.
    shell.disconnect(None).await.unwrap();
    assert!(
        Shell::connect(other, shell.id()).await.is_err(),
        "{who}: the other caller connected to the owner's shell"
    );
    // The PowerShell plug-in's Connect checks the owner first, for any shell id: the other
    // caller is refused as not the owner (access denied), not told that no pool is there.
    // (Without a grant in PowerShellSDDL a non-administrator is refused before that; the
    // account, run as root, is an administrator: the direction where this matters.)
    let pool = Resource::new(POWERSHELL).with_selector("ShellId", shell.id());
    let header = other.request_header(action::SHELL_CONNECT, &pool);
    let refused = other
        .send_for_body(&header, &Connect::default().to_xml())
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, ClientError::Fault { subcode: Some(s), .. } if s.ends_with("AccessDenied")),
        "{who}: PowerShell Connect by the other caller: {refused}"
    );
    let shell = Shell::connect(owner, shell.id()).await.unwrap();
    let command = shell.command(command.id());
    command.send(b"id -u\n", true).await.unwrap();
    let output = command.collect().await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        owner_uid,
        "{who}: the owner's command"
    );

    assert!(
        Shell::connectionless(other, second.id())
            .unwrap()
            .close()
            .await
            .is_err(),
        "{who}: the other caller deleted the owner's shell"
    );
    assert!(
        list_shells(owner)
            .await
            .unwrap()
            .iter()
            .any(|s| s.shell_id == second.id()),
        "{who}: the owner's shell is gone"
    );
    second.close().await.unwrap();
    shell.close().await.unwrap();
}

#[test]
fn a_kerberos_user_and_the_service_account_of_its_name_own_nothing_of_each_other() {
    let Some(s) = setup() else { return };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let user_uid = uid_of(s.kdc.user());
    runtime.block_on(async {
        let (kerberos, account) = (s.kerberos(), s.account());
        only_the_owner(&account, &kerberos, "0", "account's shell, Kerberos caller").await;
        only_the_owner(
            &kerberos,
            &account,
            &user_uid,
            "Kerberos shell, account caller",
        )
        .await;
    });
    // The audit keeps the name both share and says which caller it was.
    let text = std::fs::read_to_string(&s.audit).unwrap();
    let created: Vec<(String, String)> = text
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|record| record["event"] == "shell_created")
        .map(|record| {
            assert_eq!(record["user"], s.kdc.user(), "{record}");
            let principal = record["principal"].as_str().unwrap_or_default().to_owned();
            (
                principal,
                record["run_as"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let kerberos = format!("kerberos:{}@{}", s.kdc.user(), s.kdc.realm());
    let account = format!("account:{}", s.kdc.user());
    assert!(
        created.contains(&(account, "root".to_owned())),
        "{created:?}"
    );
    assert!(
        created.contains(&(kerberos, s.kdc.user().to_owned())),
        "{created:?}"
    );
}
