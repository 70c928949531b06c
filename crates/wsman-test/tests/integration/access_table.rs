//! The table of `docs/access-control.md` ("What each account may do"), checked against the real
//! daemon: for each set of descriptors the table names, every operation of the table is run as
//! each kind of account (the PAM accounts `scripts/test.sh` creates: an administrator in
//! `wsmand-admins`, a plain user, a member of `wsmand-wmi-users`) with the real `winrm` and
//! `winrs` CLIs, and what the daemon allowed or refused must be what the table says.

use std::collections::BTreeMap;
use std::process::Command;

use wsman_test::http;
use wsman_test::process::Finished;
use wsman_test::{soap, winrm_basic_as, winrs_basic_as, Fixture};

/// The table's heading in the document.
const HEADING: &str = "### What each account may do";
/// The Win32_Process resource and the Create line that leaves nothing behind.
const PROCESSES: &str = "wmicimv2/Win32_Process";
const QUERY: &str = "-filter:SELECT Name, Handle FROM Win32_Process WHERE Name = 'wsmand'";

/// A PAM account of the environment (`WSMAN_TEST_PAM_<WHICH>_USER`; `""` is the administrator).
fn account(which: &str) -> Option<(String, String)> {
    let infix = if which.is_empty() {
        String::new()
    } else {
        format!("{which}_")
    };
    let user = std::env::var(format!("WSMAN_TEST_PAM_{infix}USER")).ok()?;
    let password = std::env::var(format!("WSMAN_TEST_PAM_{infix}PASSWORD")).ok()?;
    (!user.is_empty()).then_some((user, password))
}

/// What the daemon did with one operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Allowed,
    Denied,
}

impl Outcome {
    fn from_cell(cell: &str) -> Self {
        match cell.trim() {
            "yes" => Self::Allowed,
            "no" => Self::Denied,
            other => panic!("a cell of the table is neither yes nor no: {other:?}"),
        }
    }
}

/// Access denied as the CLIs print Windows' error.
fn denied_text(finished: &Finished) -> bool {
    let all = format!("{}{}", finished.stdout, finished.stderr);
    all.contains("0x80070005") || all.contains("Access is denied")
}

/// A CLI run: allowed when it succeeded (and `ok` holds), denied when refused with access
/// denied; anything else fails the test.
fn cli(finished: &Finished, ok: impl Fn(&str) -> bool) -> Outcome {
    if finished.code() == 0 && ok(&finished.stdout) {
        Outcome::Allowed
    } else if finished.code() != 0 && denied_text(finished) {
        Outcome::Denied
    } else {
        panic!("neither allowed nor denied\n{}", finished.describe())
    }
}

/// A SOAP exchange: 200 is allowed, `w:AccessDenied` denied.
fn soap_outcome(response: &http::Response) -> Outcome {
    if response.status == 200 {
        return Outcome::Allowed;
    }
    let fault = soap::fault(&response.text());
    match fault.and_then(|f| f.subcode) {
        Some(subcode) if response.status == 500 && subcode == "AccessDenied" => Outcome::Denied,
        _ => panic!("neither allowed nor denied\n{}", response.describe()),
    }
}

/// Runs the operation of column `column` as `user` against `fixture`.
fn run(fixture: &Fixture, column: &str, user: &str, password: &str) -> Outcome {
    let winrm =
        |args: &[&str]| winrm_basic_as(fixture.port, fixture.config.path(), user, password, args);
    match column {
        "Identify" => soap_outcome(&http::post_as(
            fixture.port,
            user,
            password,
            &soap::identify(),
        )),
        "Get/Enumerate CIM" => {
            let get = cli(&winrm(&["get", "wmicimv2/Win32_OperatingSystem"]), |out| {
                out.contains("Win32_OperatingSystem")
            });
            let enumerate = cli(&winrm(&["enumerate", PROCESSES, QUERY]), |out| {
                out.contains("Name = wsmand")
            });
            assert_eq!(get, enumerate, "Get and Enumerate disagree for {user}");
            get
        }
        "Invoke Create" => cli(
            &winrm(&["invoke", "Create", PROCESSES, "@{CommandLine=\"true\"}"]),
            |out| out.contains("ReturnValue = 0"),
        ),
        "Invoke other methods" => cli(
            &winrm(&[
                "invoke",
                "GetOwner",
                &format!("{PROCESSES}?Handle={}", fixture.daemon.pid()),
            ]),
            |out| out.contains("ReturnValue = 0"),
        ),
        "Shell Create/Command" => {
            let shell = winrs_basic_as(
                fixture.port,
                fixture.config.path(),
                user,
                password,
                &["echo", "table-shell"],
            );
            cli(&shell, |out| out.contains("table-shell"))
        }
        "PowerShell Create" => powershell_create(fixture, user, password),
        "Event log Subscribe" => {
            let request = crate::eventing::subscribe_request(crate::eventing::APPLICATION, "");
            soap_outcome(&http::post_as(fixture.port, user, password, &request))
        }
        "Event store search" => event_store_search(fixture, user, password),
        "Config Get/Put" => {
            let get = cli(&winrm(&["get", "winrm/config/service"]), |out| {
                out.contains("RootSDDL")
            });
            let put = cli(
                &winrm(&["set", "winrm/config", "@{MaxTimeoutms=\"60000\"}"]),
                |_| true,
            );
            assert_eq!(get, put, "config Get and Put disagree for {user}");
            get
        }
        "Scan updates" => update_method(fixture, user, password, "ScanForUpdates"),
        "Install updates" => update_method(fixture, user, password, "InstallUpdates"),
        other => panic!("the table names an operation this test does not run: {other}"),
    }
}

/// A Create of a `microsoft.powershell` shell, as a PSRP client opens one: refused with
/// `w:AccessDenied` when the plug-in's descriptor does not admit `user`; anything else (a
/// shell, or the bridge's own fault where no pwsh is installed) got past authorization.
fn powershell_create(fixture: &Fixture, user: &str, password: &str) -> Outcome {
    let body = "<rsp:Shell xmlns:rsp=\"http://schemas.microsoft.com/wbem/wsman/1/windows/shell\">\
                <rsp:InputStreams>stdin pr</rsp:InputStreams>\
                <rsp:OutputStreams>stdout</rsp:OutputStreams></rsp:Shell>";
    let request = soap::request(
        wsman_proto::ns::action::CREATE,
        "http://schemas.microsoft.com/powershell/Microsoft.PowerShell",
        &[],
        body,
    );
    let response = http::post_as(fixture.port, user, password, &request);
    let fault = soap::fault(&response.text()).and_then(|f| f.subcode);
    if response.status == 500 && fault.as_deref() == Some("AccessDenied") {
        Outcome::Denied
    } else {
        Outcome::Allowed
    }
}

/// An Enumerate of the event store's events: refused with `w:AccessDenied` when the store's
/// descriptor does not admit `user`; these daemons run no collector, so one it admits gets the
/// `a:DestinationUnreachable` of a node without a store (past authorization).
fn event_store_search(fixture: &Fixture, user: &str, password: &str) -> Outcome {
    let request = soap::request(
        wsman_proto::ns::action::ENUMERATE,
        wsman_proto::ns::event_store::EVENTS,
        &[],
        "<n:Enumerate xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\"/>",
    );
    let response = http::post_as(fixture.port, user, password, &request);
    match soap::fault(&response.text())
        .and_then(|f| f.subcode)
        .as_deref()
    {
        Some("AccessDenied") => Outcome::Denied,
        Some("DestinationUnreachable") => Outcome::Allowed,
        _ => panic!("neither allowed nor denied\n{}", response.describe()),
    }
}

/// A method of `MSFT_WUOperations` (an install of a package id no repository has): refused
/// with `w:AccessDenied` when the caller may not call it; anything else (an answer, or the
/// fault of a host without PackageKit) got past authorization.
fn update_method(fixture: &Fixture, user: &str, password: &str, method: &str) -> Outcome {
    const OPERATIONS: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/Microsoft/Windows/WindowsUpdate/MSFT_WUOperations";
    let parameters = match method {
        "ScanForUpdates" => "<p:SearchCriteria>IsInstalled=0</p:SearchCriteria>",
        _ => "<p:Updates>wsman-access-table-none;0;noarch;none</p:Updates>",
    };
    let body =
        format!("<p:{method}_INPUT xmlns:p=\"{OPERATIONS}\">{parameters}</p:{method}_INPUT>");
    let request = soap::request(&format!("{OPERATIONS}/{method}"), OPERATIONS, &[], &body);
    let response = http::post_as(fixture.port, user, password, &request);
    let fault = soap::fault(&response.text()).and_then(|f| f.subcode);
    if response.status == 500 && fault.as_deref() == Some("AccessDenied") {
        Outcome::Denied
    } else {
        Outcome::Allowed
    }
}

/// The gid of `wsmand-wmi-users` on this host.
fn wmi_users_gid() -> u32 {
    let out = Command::new("getent")
        .args(["group", "wsmand-wmi-users"])
        .output()
        .expect("getent");
    String::from_utf8_lossy(&out.stdout)
        .split(':')
        .nth(2)
        .and_then(|gid| gid.trim().parse().ok())
        .expect("the group wsmand-wmi-users exists")
}

/// The daemon with the descriptors a row names (see the paragraph under the table).
fn fixture_for(descriptors: &str) -> Fixture {
    let group_full = format!(
        "{{ WmiNamespace = \"O:NSG:BAD:P(A;;GA;;;BA)(A;;GA;;;S-1-22-2-{})\" }}",
        wmi_users_gid()
    );
    match descriptors {
        "defaults" => Fixture::http(),
        "narrowed" => Fixture::http_with(|c| {
            c.set("Security", "ShellSDDL", "\"O:NSG:BAD:P(A;;GA;;;BA)\"");
            c.set(
                "Security",
                "EventLogSDDL",
                "\"O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;BU)\"",
            );
            c.set("Security", "WmiSDDL", &group_full);
        }),
        "WMI group Full Control" => Fixture::http_setting("Security", "WmiSDDL", &group_full),
        other => panic!("the table names descriptors this test does not set up: {other}"),
    }
}

/// One row of the table.
struct Row {
    kind: String,
    descriptors: String,
    /// Each operation's cell, in the order of the columns.
    outcomes: Vec<Outcome>,
}

/// The table's operation columns and its rows.
fn table() -> (Vec<String>, Vec<Row>) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/access-control.md");
    let text = std::fs::read_to_string(path).expect("docs/access-control.md");
    let start = text.find(HEADING).expect("the table's heading");
    let mut lines = text[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'));
    let cells = |line: &str| -> Vec<String> {
        line.trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_owned())
            .collect()
    };
    let header = cells(lines.next().expect("the header"));
    lines.next();
    let columns = header[2..].to_vec();
    let rows = lines
        .map(|line| {
            let row = cells(line);
            assert_eq!(row.len(), header.len(), "{line}");
            let outcomes = row[2..].iter().map(|c| Outcome::from_cell(c)).collect();
            Row {
                kind: row[0].clone(),
                descriptors: row[1].clone(),
                outcomes,
            }
        })
        .collect();
    (columns, rows)
}

#[test]
fn every_account_may_do_what_the_access_table_says_and_nothing_else() {
    let (Some(admin), Some(plain), Some(wmi)) = (account(""), account("PLAIN"), account("WMI"))
    else {
        eprintln!("skipped: the PAM test accounts are not set (scripts/test.sh sets them as root)");
        return;
    };
    let accounts = BTreeMap::from([
        ("administrator", admin),
        ("plain user", plain),
        ("wsmand-wmi-users member", wmi),
    ]);
    let (columns, rows) = table();
    assert_eq!(
        rows.len(),
        9,
        "three accounts under three sets of descriptors"
    );
    let mut fixtures: BTreeMap<String, Fixture> = BTreeMap::new();
    let mut wrong = Vec::new();
    for Row {
        kind,
        descriptors,
        outcomes: expected,
    } in &rows
    {
        let (user, password) = accounts
            .get(kind.as_str())
            .unwrap_or_else(|| panic!("the table names an unknown account kind: {kind}"));
        let fixture = fixtures
            .entry(descriptors.clone())
            .or_insert_with(|| fixture_for(descriptors));
        for (column, want) in columns.iter().zip(expected) {
            let got = run(fixture, column, user, password);
            if got != *want {
                wrong.push(format!(
                    "{kind} / {descriptors} / {column}: the table says {want:?}, the daemon {got:?}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
