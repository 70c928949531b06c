//! Windows Update's classes on Linux through a real PackageKit (`wsman_test::packagekit`: the
//! dummy backend's three updates, gtkhtml2 as security, a kernel whose restart flag is
//! `system`, powertop), driven by the real `winrm` CLI with Windows' syntax and by raw SOAP:
//! a scan with the counts `pkcon` gives, the invalid-criteria fault, a plain account refused,
//! an install that outlives its OperationTimeout reported on with its progress by the next
//! scans, a second scan with fewer updates, the reboot flag, the audit records; and a backend
//! that cannot list updates turned into a fault that says so.

use std::time::{Duration, Instant};

use wsman_proto::xml::{self, Element, Limits};
use wsman_test::http;
use wsman_test::packagekit::PackageKitBus;
use wsman_test::process::Finished;
use wsman_test::{soap, winrm_basic_as, Fixture, SERVICE_ACCOUNT, SERVICE_PASSWORD};

use super::{expect_fault, find_all};

const OPERATIONS: &str = "wmi/root/Microsoft/Windows/WindowsUpdate/MSFT_WUOperations";
const SETTINGS: &str = "wmi/root/Microsoft/Windows/WindowsUpdate/MSFT_WUSettings";
const OPERATIONS_URI: &str =
    "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/Microsoft/Windows/WindowsUpdate/MSFT_WUOperations";
const PLAIN: &str = "plainupdates";
const PLAIN_PASSWORD: &str = "Plain-Updates-Pass1";
/// WU_E_INVALID_CRITERIA and WU_E_INSTALL_NOT_ALLOWED as the WSManFault's code.
const INVALID_CRITERIA: &str = "2149842994";
const INSTALL_NOT_ALLOWED: &str = "2149842966";

/// The daemon on PackageKit's bus, every descriptor open to every user (so a plain account's
/// refusal is the class's own), its audit records in a file.
fn fixture(packagekit: &PackageKitBus, audit: &str) -> Fixture {
    let open = "\"O:NSG:BAD:P(A;;GA;;;BA)(A;;GA;;;BU)\"";
    let fixture = Fixture::http_with_env(
        |c| {
            c.set("Config.Service", "RootSDDL", open);
            c.set(
                "Security",
                "WmiSDDL",
                &format!("{{ WmiNamespace = {open} }}"),
            );
        },
        &[
            ("DBUS_SYSTEM_BUS_ADDRESS", &packagekit.address()),
            ("WSMAND_AUDIT_FILE", audit),
        ],
    );
    fixture
        .config
        .add_account(PLAIN, PLAIN_PASSWORD, Some("nobody"));
    fixture
}

fn winrm(f: &Fixture, args: &[&str]) -> Finished {
    winrm_basic_as(
        f.port,
        f.config.path(),
        SERVICE_ACCOUNT,
        SERVICE_PASSWORD,
        args,
    )
}

fn scan(f: &Fixture, criteria: &str) -> Finished {
    winrm(
        f,
        &[
            "invoke",
            "ScanForUpdates",
            OPERATIONS,
            &format!("@{{SearchCriteria=\"{criteria}\"}}"),
            "-format:xml",
        ],
    )
}

/// The embedded MSFT_WUUpdate elements of a ScanForUpdates_OUTPUT.
fn updates(out: &str) -> Vec<Element> {
    let parsed = xml::parse(out.trim(), &Limits::default()).expect("the output is XML");
    let mut found = Vec::new();
    find_all(&parsed, "Updates", &mut found);
    found.into_iter().cloned().collect()
}

fn property(update: &Element, name: &str) -> Option<String> {
    update
        .elements()
        .find(|e| e.name == name)
        .map(Element::trimmed_text)
}

/// The number of updates `pkcon get-updates` lists (lines naming a package).
fn pkcon_count(packagekit: &PackageKitBus) -> usize {
    let listed = packagekit.pkcon(&["--plain", "get-updates"], Duration::from_secs(60));
    // 5: pkcon's "nothing useful was done", when there is no update.
    assert!(matches!(listed.code(), 0 | 5), "{}", listed.describe());
    ["gtkhtml2", "kernel", "powertop"]
        .iter()
        .filter(|name| listed.stdout.contains(&format!("{name}-")))
        .count()
}

/// InstallUpdates' body: the updates as the scan answered them (embedded instances).
fn install_body(updates: &[Element]) -> String {
    let embedded: String = updates
        .iter()
        .map(|u| {
            format!(
                "<p:Updates><q:UpdateID xmlns:q=\"{OPERATIONS_URI}\">{}</q:UpdateID></p:Updates>",
                xml::escape_text(&property(u, "UpdateID").unwrap_or_default())
            )
        })
        .collect();
    format!(
        "<p:InstallUpdates_INPUT xmlns:p=\"{OPERATIONS_URI}\">{embedded}\
         <p:DownloadOnly>false</p:DownloadOnly></p:InstallUpdates_INPUT>"
    )
}

fn install_request(body: &str, timeout: Duration) -> String {
    let mut header = wsman_proto::request::RequestHeader::new(
        "http://127.0.0.1:5985/wsman",
        &format!("{OPERATIONS_URI}/InstallUpdates"),
        OPERATIONS_URI,
        "uuid:6f0c2b1e-8d3a-4a57-9b7e-2c1d0e9f8a76",
    );
    header.operation_timeout = Some(timeout);
    wsman_proto::request::envelope(&header, body)
}

fn settings(f: &Fixture, method: &str) -> Finished {
    winrm(f, &["invoke", method, SETTINGS, "@{}"])
}

/// The administrator's install of `body`, with an OperationTimeout shorter than the dummy
/// backend's install: it goes on in the background, and the next scans report on it (that
/// installs are not allowed meanwhile, and the progress) until it is done. Windows' syntax:
/// the input as a file (in `dir`), the OperationTimeout as -timeout (milliseconds).
fn install_in_the_background(f: &Fixture, dir: &std::path::Path, body: &str) {
    let input = dir.join("install.xml");
    std::fs::write(&input, body).expect("install.xml");
    let file = format!("-file:{}", input.display());
    let started = winrm(
        f,
        &[
            "invoke",
            "InstallUpdates",
            OPERATIONS,
            &file,
            "-timeout:1000",
        ],
    );
    let mut reports = Vec::new();
    if started.code() == 0 {
        // Finished within a second after all: then it needed the kernel's reboot.
        started.assert_printed("RebootRequired = true");
    } else {
        let text = format!("{}{}", started.stdout, started.stderr);
        assert!(
            text.contains("continues in the background"),
            "{}",
            started.describe()
        );
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let again = scan(f, "IsInstalled=0");
            if again.code() == 0 {
                break;
            }
            let text = format!("{}{}", again.stdout, again.stderr);
            assert!(text.contains("still running"), "{}", again.describe());
            reports.push(text);
            assert!(Instant::now() < deadline, "the install never finished");
            std::thread::sleep(Duration::from_millis(300));
        }
        assert!(!reports.is_empty());
        assert!(
            reports
                .iter()
                .any(|r| r.contains(&INSTALL_NOT_ALLOWED.to_string()) || r.contains("0x80240016")),
            "{reports:?}"
        );
        assert!(
            reports.iter().any(|r| r.contains("% ") || r.contains("%,")),
            "no progress in the reports: {reports:?}"
        );
    }
}

#[test]
fn scan_install_rescan_and_reboot_through_packagekit() {
    let Some(packagekit) = PackageKitBus::start("dummy") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let audit = dir.path().join("audit.jsonl");
    let f = fixture(&packagekit, &audit.display().to_string());

    // The scan: every update pkcon lists, gtkhtml2 a security one.
    let before = pkcon_count(&packagekit);
    assert_eq!(before, 3, "the dummy backend's three updates");
    let scanned = scan(&f, "IsInstalled=0 AND Type='Software'");
    assert_eq!(scanned.code(), 0, "{}", scanned.describe());
    let found = updates(&scanned.stdout);
    assert_eq!(found.len(), before, "{}", scanned.stdout);
    let gtkhtml = found
        .iter()
        .find(|u| property(u, "Title").is_some_and(|t| t.starts_with("gtkhtml2 ")))
        .expect("gtkhtml2");
    assert_eq!(
        property(gtkhtml, "MsrcSeverity").as_deref(),
        Some("Important")
    );
    let auto = updates(&scan(&f, "AutoSelectOnWebSites=1").stdout);
    assert_eq!(auto.len(), 3, "no low or enhancement update to leave out");

    // Criteria Windows' clients do not send: WU_E_INVALID_CRITERIA.
    let refused = scan(&f, "IsInstalled=1");
    assert_ne!(refused.code(), 0);
    let text = format!("{}{}", refused.stdout, refused.stderr);
    assert!(
        text.contains("IsInstalled=1") && text.contains("0x80240032"),
        "{text}"
    );

    // Before any install: the distribution's own flag alone.
    let pending = settings(&f, "IsPendingReboot");
    let flagged = std::path::Path::new("/run/reboot-required").exists();
    pending.assert_printed(&format!("PendingReboot = {flagged}"));

    // A plain account: refused before anything is installed.
    let body = install_body(&found);
    let plain = http::post_as(
        f.port,
        PLAIN,
        PLAIN_PASSWORD,
        &install_request(&body, Duration::from_secs(60)),
    );
    expect_fault(&plain, "AccessDenied");
    assert_eq!(pkcon_count(&packagekit), 3);

    install_in_the_background(&f, dir.path(), &body);

    // The second scan: fewer updates, as pkcon says.
    let after = updates(&scan(&f, "IsInstalled=0").stdout);
    assert!(after.len() < found.len(), "{after:?}");
    assert_eq!(after.len(), pkcon_count(&packagekit));
    settings(&f, "IsPendingReboot").assert_printed("PendingReboot = true");
    let installed = settings(&f, "GetLastUpdateInstallationDate");
    assert_eq!(installed.code(), 0, "{}", installed.describe());
    assert!(
        installed.stdout.contains("Datetime = 2"),
        "{}",
        installed.stdout
    );
    let version = settings(&f, "GetWUAVersion");
    assert!(
        version.stdout.contains("WUAVersion = 1."),
        "{}",
        version.describe()
    );

    // Audited like a shell: who, from where, the start and the end.
    let records = std::fs::read_to_string(&audit).expect("the audit file");
    for event in ["updates_install_started", "updates_install_ended"] {
        assert!(
            records
                .lines()
                .any(|l| l.contains(event) && l.contains(SERVICE_ACCOUNT)),
            "{event} missing:\n{records}"
        );
    }
    assert!(
        !records.contains(PLAIN),
        "the refused account installed nothing:\n{records}"
    );
    let _ = INVALID_CRITERIA;
}

#[test]
fn a_backend_that_cannot_list_updates_is_a_fault_that_says_why() {
    let Some(packagekit) = PackageKitBus::start("test_nop") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let f = fixture(&packagekit, &dir.path().join("audit").display().to_string());
    let request = soap::request(
        &format!("{OPERATIONS_URI}/ScanForUpdates"),
        OPERATIONS_URI,
        &[],
        &format!(
            "<p:ScanForUpdates_INPUT xmlns:p=\"{OPERATIONS_URI}\">\
             <p:SearchCriteria>IsInstalled=0</p:SearchCriteria></p:ScanForUpdates_INPUT>"
        ),
    );
    let fault = expect_fault(&f.post(&request), "InternalError");
    assert!(
        fault
            .reason
            .contains("PackageKit could not list the updates")
            && fault.reason.contains("GetUpdates not supported"),
        "{fault:?}"
    );
    // Invalid criteria are refused before PackageKit is asked, whatever the backend.
    let invalid = request.replace("IsInstalled=0", "Type='Driver'");
    let fault = expect_fault(&f.post(&invalid), "InternalError");
    assert_eq!(
        fault.wsman_code.as_deref(),
        Some(INVALID_CRITERIA),
        "{fault:?}"
    );
}

/// `-r:@hosts.txt`: two daemons on the same PackageKit and a port nothing listens on; each
/// daemon's scan printed under its name with its three updates, the dead host's error apart.
#[test]
fn scan_many_hosts_from_a_file_each_answer_under_its_host() {
    let Some(packagekit) = PackageKitBus::start("dummy") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let audit = dir.path().join("audit").display().to_string();
    let fleet = [fixture(&packagekit, &audit), fixture(&packagekit, &audit)];
    let dead = format!("http://127.0.0.1:{}/wsman", wsman_test::free_port());
    let hosts = dir.path().join("hosts.txt");
    let listed: Vec<String> = fleet
        .iter()
        .map(Fixture::url)
        .chain([dead.clone()])
        .collect();
    std::fs::write(&hosts, listed.join("\n") + "\n").expect("hosts.txt");
    let mut command = std::process::Command::new(wsman_test::binaries::winrm());
    command
        .env("WSMAND_CONFIG_DIR", fleet[0].config.path())
        .args([
            "invoke",
            "ScanForUpdates",
            OPERATIONS,
            "@{SearchCriteria=\"IsInstalled=0\"}",
        ])
        .arg(format!("-r:@{}", hosts.display()))
        .args(["-a:Basic", "-unencrypted"])
        .arg(format!("-u:{SERVICE_ACCOUNT}"))
        .arg(format!("-p:{SERVICE_PASSWORD}"));
    let done = wsman_test::process::run(&mut command, None, Duration::from_secs(120));
    assert_ne!(done.code(), 0, "a host failed: {}", done.describe());
    for fixture in &fleet {
        let name = fixture.url();
        let ids = done
            .stdout
            .lines()
            .filter(|l| l.starts_with(&format!("{name}: ")) && l.contains("UpdateID = "))
            .count();
        assert_eq!(ids, 3, "{name}\n{}", done.describe());
    }
    assert!(
        done.stderr
            .lines()
            .any(|l| l.starts_with(&format!("{dead}: "))),
        "{}",
        done.describe()
    );
}
