//! The WMI plug-in's own access against the real daemon, real PAM accounts and the real `winrm`
//! and `winrs` CLIs: a member of the WMI users group (Windows' `WinRMRemoteWMIUsers__`)
//! enumerates `Win32_Process` with RootSDDL at its default and gets nothing else; `winrm
//! configSDDL` grants and takes back a user's Read on `root/cimv2`, locally and with `-r:`, and
//! the daemon follows; bad edits change nothing. The group starts no process
//! (`Win32_Process.Create`) under the default descriptors, and a namespace's own descriptor
//! holds through association filters and `wscim/1/*`.

use std::process::Command;
use std::time::Duration;

use wsman_test::process::{self, Finished};
use wsman_test::{binaries, pam_credentials, winrm_basic_as, winrs_basic_as, Fixture};

const PROCESSES: &str = "wmicimv2/Win32_Process";
/// The enumeration of `Win32_Process` the tests make: the daemon's own process (any process
/// would do; one whose command line is known keeps the answer small).
const QUERY: &str = "-filter:SELECT Name, Handle FROM Win32_Process WHERE Name = 'wsmand'";
const CIMV2: &str = "wmi/root/cimv2";
/// What `winrm configSDDL` takes for the WMI plug-in as a whole (Windows' documentation).
const WMI_NAMESPACE: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi/WmiNamespace";

/// An account from the environment `scripts/test.sh` exports (`WSMAN_TEST_PAM_<WHICH>_USER`),
/// or `None` with the reason printed.
pub(crate) fn account(which: &str) -> Option<(String, String)> {
    pam_credentials()?;
    let user = std::env::var(format!("WSMAN_TEST_PAM_{which}_USER"));
    let password = std::env::var(format!("WSMAN_TEST_PAM_{which}_PASSWORD"));
    match (user, password) {
        (Ok(u), Ok(p)) if !u.is_empty() => Some((u, p)),
        _ => {
            eprintln!(
                "skipped: WSMAN_TEST_PAM_{which}_USER not set (scripts/test.sh sets it as root)"
            );
            None
        }
    }
}

/// `winrm ARGS` against the fixture as `user` (Basic over loopback HTTP).
fn winrm_as(fixture: &Fixture, user: &str, password: &str, args: &[&str]) -> Finished {
    winrm_basic_as(fixture.port, fixture.config.path(), user, password, args)
}

/// Waits until the daemon has taken up a change (it checks its files every second and applies
/// a remote write just after answering it): until `user`'s enumeration of the processes
/// succeeds (`allowed`) or is refused with access denied.
fn wait_for_access(fixture: &mut Fixture, user: &str, password: &str, allowed: bool) {
    let (port, dir) = (fixture.port, fixture.config.path().to_owned());
    let mut last = None;
    fixture.daemon.wait_until("the change to be applied", || {
        let finished = winrm_basic_as(port, &dir, user, password, &["enumerate", PROCESSES, QUERY]);
        let done = lists_processes(&finished) == allowed;
        if !done {
            std::thread::sleep(Duration::from_millis(200));
        }
        last = Some(finished);
        done
    });
    if let (false, Some(refused)) = (allowed, &last) {
        assert_denied(refused);
    }
}

/// `winrm ARGS` on the fixture's configuration directory (local mode).
fn winrm_local(fixture: &Fixture, args: &[&str]) -> Finished {
    let mut command = Command::new(binaries::winrm());
    command
        .args(args)
        .arg("--config-dir")
        .arg(fixture.config.path())
        .env_remove("WSMAND_CONFIG_DIR");
    process::run(&mut command, None, Duration::from_secs(60))
}

fn assert_ok(finished: &Finished) {
    assert_eq!(finished.code(), 0, "{}", finished.describe());
}

/// Refused with Windows' access-denied fault, as winrm prints it.
fn assert_denied(finished: &Finished) {
    assert_ne!(finished.code(), 0, "{}", finished.describe());
    let all = format!("{}{}", finished.stdout, finished.stderr);
    assert!(
        all.contains("0x80070005") || all.contains("Access is denied"),
        "expected access denied\n{}",
        finished.describe()
    );
}

fn lists_processes(finished: &Finished) -> bool {
    finished.code() == 0 && finished.stdout.contains("Name = wsmand")
}

fn stored(fixture: &Fixture) -> String {
    std::fs::read_to_string(fixture.config.path().join("config.toml")).unwrap_or_default()
}

#[test]
fn a_wmi_user_enumerates_processes_and_is_refused_config_and_shells() {
    let Some((user, password)) = account("WMI") else {
        return;
    };
    // RootSDDL at its default; ShellSDDL as Windows has it (administrators): wsmand's own
    // default also admits BUILTIN\Users to shells (docs/access-control.md).
    let fixture = Fixture::http_with(|c| {
        c.set("Security", "ShellSDDL", "\"O:NSG:BAD:P(A;;GA;;;BA)\"");
    });
    let enumerated = winrm_as(&fixture, &user, &password, &["enumerate", PROCESSES, QUERY]);
    assert!(lists_processes(&enumerated), "{}", enumerated.describe());
    assert_denied(&winrm_as(
        &fixture,
        &user,
        &password,
        &["get", "winrm/config"],
    ));
    assert_denied(&winrm_as(
        &fixture,
        &user,
        &password,
        &["enumerate", "winrm/config/listener"],
    ));
    let shell = winrs_basic_as(
        fixture.port,
        fixture.config.path(),
        &user,
        &password,
        &["echo", "shell-opened"],
    );
    assert!(
        shell.code() != 0 && !shell.stdout.contains("shell-opened"),
        "{}",
        shell.describe()
    );
    // The plug-in's descriptor as `winrm configSDDL` shows it names the group.
    let table = winrm_local(&fixture, &["configSDDL", WMI_NAMESPACE]);
    table.assert_printed("Unix Group\\wsmand-wmi-users");
}

#[test]
fn config_sddl_grants_and_takes_back_read_on_cimv2_locally_and_remotely() {
    let Some((user, password)) = account("PLAIN") else {
        return;
    };
    let mut fixture = Fixture::http();
    let refused = winrm_as(&fixture, &user, &password, &["enumerate", PROCESSES, QUERY]);
    assert_denied(&refused);

    let grant = format!("-add:{user}=Read");
    let revoke = format!("-remove:{user}=Read");
    // Locally: the file changes and the running daemon follows.
    let added = winrm_local(&fixture, &["configSDDL", CIMV2, &grant]);
    assert_ok(&added);
    assert!(
        added.stdout.contains(&format!("Unix User\\{user}")),
        "{}",
        added.describe()
    );
    wait_for_access(&mut fixture, &user, &password, true);
    // Read only, and only the plug-in: no Invoke, no config.
    assert_denied(&winrm_as(
        &fixture,
        &user,
        &password,
        &["invoke", "Create", PROCESSES, "@{CommandLine=\"true\"}"],
    ));
    assert_denied(&winrm_as(
        &fixture,
        &user,
        &password,
        &["get", "winrm/config"],
    ));
    // Remotely, by the administrator: taken back.
    let removed = fixture.winrm_remote(&["configSDDL", CIMV2, &revoke]);
    assert_ok(&removed);
    assert!(!removed.stdout.contains(&format!("Unix User\\{user}")));
    wait_for_access(&mut fixture, &user, &password, false);
    // And the other way round: granted remotely, taken back locally.
    assert_ok(&fixture.winrm_remote(&["configSDDL", CIMV2, &grant]));
    wait_for_access(&mut fixture, &user, &password, true);
    assert_ok(&winrm_local(&fixture, &["configSDDL", CIMV2, &revoke]));
    wait_for_access(&mut fixture, &user, &password, false);
    // The remote plug-in document names the namespace's own entry.
    let plugin = fixture.winrm_remote(&[
        "get",
        "winrm/config/plugin?Name=WMI Provider",
        "-format:xml",
    ]);
    assert_ok(&plugin);
    assert!(
        plugin
            .stdout
            .contains("Uri=\"http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2\""),
        "{}",
        plugin.describe()
    );
}

#[test]
fn bad_edits_change_nothing() {
    let mut fixture = Fixture::http();
    assert_ok(&winrm_local(
        &fixture,
        &["configSDDL", CIMV2, "-add:root=Read"],
    ));
    let before = stored(&fixture);
    for args in [
        ["configSDDL", CIMV2, "-sddl:O:NSG:BAD:P(A;;GA;;;NOT-A-SID)"],
        ["configSDDL", CIMV2, "-add:wsmand-no-such-account-x7=Read"],
        ["configSDDL", CIMV2, "-add:root=Delete"],
        ["configSDDL", "winrm/config/listener", "-add:root=Read"],
    ] {
        let local = winrm_local(&fixture, &args);
        assert_eq!(local.code(), 2, "{:?}\n{}", args, local.describe());
        let remote = fixture.winrm_remote(&args);
        assert_eq!(remote.code(), 2, "{:?}\n{}", args, remote.describe());
        assert_eq!(stored(&fixture), before);
    }
    // A descriptor that does not parse, sent as the plug-in's document: Windows' schema fault.
    let dir = tempfile::tempdir().expect("tempdir");
    let body = dir.path().join("plugin.xml");
    std::fs::write(
        &body,
        format!(
            "<PlugInConfiguration xmlns=\"{}\" Name=\"WMI Provider\"><Resources><Resource><Security Uri=\"\" Sddl=\"O:NSG:BAD:P(A;;GA;;;XX\"/></Resource></Resources></PlugInConfiguration>",
            "http://schemas.microsoft.com/wbem/wsman/1/config/PluginConfiguration"
        ),
    )
    .expect("write the body");
    let file = format!("-file:{}", body.display());
    let put = fixture.winrm_remote(&["set", "winrm/config/plugin?Name=WMI Provider", &file]);
    assert_ne!(put.code(), 0, "{}", put.describe());
    assert!(
        put.stderr.contains("0x80338041") && put.stderr.contains("not valid"),
        "{}",
        put.describe()
    );
    assert_eq!(stored(&fixture), before);
    fixture.assert_still_serving();
}

/// The monitoring account's Create under the default descriptors (RootSDDL, ShellSDDL, the
/// plug-in's), as an operator who only added it to the group leaves them: refused with
/// `w:AccessDenied` and nothing runs, while it still queries and calls GetOwner.
#[test]
fn a_wmi_user_starts_no_process_under_the_default_descriptors() {
    let Some((user, password)) = account("WMI") else {
        return;
    };
    let fixture = Fixture::http();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .expect("chmod");
    let file = dir.path().join("id");
    let line = format!("@{{CommandLine=\"sh -c 'id > {}'\"}}", file.display());
    let created = winrm_as(
        &fixture,
        &user,
        &password,
        &["invoke", "Create", PROCESSES, &line],
    );
    assert_denied(&created);
    let owner = winrm_as(
        &fixture,
        &user,
        &password,
        &[
            "invoke",
            "GetOwner",
            &format!("{PROCESSES}?Handle={}", fixture.daemon.pid()),
        ],
    );
    assert_ok(&owner);
    assert!(
        owner.stdout.contains("ReturnValue = 0"),
        "{}",
        owner.describe()
    );
    let enumerated = winrm_as(&fixture, &user, &password, &["enumerate", PROCESSES, QUERY]);
    assert!(lists_processes(&enumerated), "{}", enumerated.describe());
    // Had the Create started anything, its file would exist well before now.
    std::thread::sleep(Duration::from_secs(1));
    assert!(!file.exists(), "the monitoring account's command ran");
    let log = fixture.daemon.stderr();
    assert!(
        log.contains("access denied") && log.contains(&user),
        "{log}"
    );
}

/// The association filter of `CIM_ComputerSystem` (root/hardware) through `CIM_SystemDevice`,
/// sent to the root/cimv2 URI (the answer draws from root/hardware): the `winrm` arguments.
fn hardware_associations() -> Vec<String> {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    let hardware = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/hardware/";
    let filter = format!(
        "<b:AssociatedInstances xmlns:b=\"http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd\" \
         xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
         xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"><b:Object>\
         <a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address>\
         <a:ReferenceParameters><w:ResourceURI>{hardware}CIM_ComputerSystem</w:ResourceURI>\
         <w:SelectorSet><w:Selector Name=\"CreationClassName\">CIM_ComputerSystem</w:Selector>\
         <w:Selector Name=\"Name\">{}</w:Selector></w:SelectorSet>\
         </a:ReferenceParameters></b:Object>\
         <b:AssociationClassName>CIM_SystemDevice</b:AssociationClassName>\
         </b:AssociatedInstances>",
        hostname.trim()
    );
    vec![
        "enumerate".to_owned(),
        "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/*".to_owned(),
        "-dialect:association".to_owned(),
        format!("-filter:{filter}"),
    ]
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// `wscim/1/*` with a WQL query of root/cimv2's processes.
fn cim_all_query(fixture: &Fixture, user: &str, password: &str) -> Finished {
    winrm_as(
        fixture,
        user,
        password,
        &["enumerate", "http://schemas.dmtf.org/wbem/wscim/1/*", QUERY],
    )
}

/// Keeps namespace `ns` (a `winrm configSDDL` URI) to administrators, locally.
fn narrow(fixture: &Fixture, ns: &str) {
    assert_ok(&winrm_local(
        fixture,
        &["configSDDL", ns, "-sddl:O:NSG:BAD:P(A;;GA;;;BA)"],
    ));
}

/// A namespace's own descriptor holds whatever URI the answer comes through: with root/hardware
/// kept to administrators (the example of docs/access-control.md), a member of the WMI users
/// group asking root/cimv2 for the associations of root/hardware's CIM_ComputerSystem is
/// refused; with root/cimv2 kept to administrators, its `wscim/1/*` WQL read of root/cimv2's
/// processes is refused too. Each read works before the namespace is narrowed.
#[test]
fn namespace_descriptors_hold_through_associations_and_wscim_all() {
    let Some((user, password)) = account("WMI") else {
        return;
    };
    let mut fixture = Fixture::http();
    let associations = hardware_associations();
    let associations = as_strs(&associations);
    let associated = winrm_as(&fixture, &user, &password, &associations);
    assert_ok(&associated);
    assert!(
        associated.stdout.contains("CIM_Processor"),
        "{}",
        associated.describe()
    );
    let all = cim_all_query(&fixture, &user, &password);
    assert!(lists_processes(&all), "{}", all.describe());

    narrow(&fixture, "wmi/root/hardware");
    let (port, dir) = (fixture.port, fixture.config.path().to_owned());
    fixture.daemon.wait_until("root/hardware narrowed", || {
        let direct = winrm_basic_as(
            port,
            &dir,
            &user,
            &password,
            &[
                "enumerate",
                "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/hardware/CIM_Chassis",
            ],
        );
        let all = format!("{}{}", direct.stdout, direct.stderr);
        let refused = direct.code() != 0 && all.contains("0x80070005");
        if !refused {
            std::thread::sleep(Duration::from_millis(200));
        }
        refused
    });
    // root/cimv2 itself is still the group's: the URI alone would pass.
    assert!(lists_processes(&winrm_as(
        &fixture,
        &user,
        &password,
        &["enumerate", PROCESSES, QUERY]
    )));
    let refused = winrm_as(&fixture, &user, &password, &associations);
    assert_denied(&refused);
    assert!(!refused.stdout.contains("CIM_Processor"));
    // The administrator still gets them.
    let admin = fixture.winrm_remote(&associations);
    assert_ok(&admin);
    assert!(
        admin.stdout.contains("CIM_Processor"),
        "{}",
        admin.describe()
    );

    narrow(&fixture, "wmi/root/cimv2");
    wait_for_access(&mut fixture, &user, &password, false);
    assert_denied(&cim_all_query(&fixture, &user, &password));
}
