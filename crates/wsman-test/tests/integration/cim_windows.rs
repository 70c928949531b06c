//! CIM answers held against Windows: singletons answer Get without selectors (Windows' MOF
//! marks Win32_OperatingSystem `Singleton`), and a Get, Put, Delete or Invoke of an instance
//! that does not exist answers with the fault a recorded Windows Server 2012 R2 answer has
//! (the recording in the Windows fixtures is the oracle, not our own fault code); and what
//! Linux shows a process's owner only stays hidden from other callers. (LoadPercentage:
//! `cim_load.rs`.)

use wsman_proto::ns::action;
use wsman_test::http::Response;
use wsman_test::shape::FaultShape;
use wsman_test::soap;
use wsman_test::Fixture;

use super::cim_corpus::{recorded, shape_of};
use super::expect_fault;

const WMI: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/";

/// What a fault is made of, values aside (action, Code, Subcode, FaultDetail, WSManFault code).
fn shape(text: &str) -> FaultShape {
    shape_of(text)
        .fault
        .unwrap_or_else(|| panic!("not a fault:\n{text}"))
}

fn assert_like_windows(response: &Response, windows: &FaultShape, what: &str) {
    assert_eq!(response.status, 500, "{what}: {}", response.describe());
    assert_eq!(&shape(&response.text()), windows, "{what}");
}

/// A pid no process has: above any pid_max.
const NO_PROCESS: &str = "4294967295";

#[test]
fn missing_instances_answer_as_the_recorded_windows_fault() {
    let windows = shape(&recorded("faults/fault.get-instance-not-found.xml"));
    // The recording's own facts, so that a changed fixture cannot pass unnoticed.
    assert_eq!(windows.wsman_code.as_deref(), Some("2150858752"));
    assert_eq!(
        windows.subcode,
        Some((
            wsman_proto::ns::ADDRESSING.to_owned(),
            "DestinationUnreachable".to_owned()
        ))
    );
    let f = Fixture::http();
    let process = format!("{WMI}Win32_Process");
    let selectors = [("Handle", NO_PROCESS)];
    let r = f.post(&soap::get(&process, &selectors));
    assert_like_windows(&r, &windows, "Get");
    let body = format!(
        "<p:Win32_Process xmlns:p=\"{process}\"><p:Priority>8</p:Priority></p:Win32_Process>"
    );
    let r = f.post(&soap::request(action::PUT, &process, &selectors, &body));
    assert_like_windows(&r, &windows, "Put");
    let r = f.post(&soap::request(action::DELETE, &process, &selectors, ""));
    assert_like_windows(&r, &windows, "Delete");
    let r = f.post(&soap::request(
        &format!("{process}/GetOwner"),
        &process,
        &selectors,
        &format!("<p:GetOwner_INPUT xmlns:p=\"{process}\"/>"),
    ));
    assert_like_windows(&r, &windows, "Invoke");
    // A class that does not exist: the same answer (WMI's GetObject fails alike).
    let r = f.post(&soap::get(&format!("{WMI}Win32_NoSuchClass"), &[]));
    assert_like_windows(&r, &windows, "Get of an unknown class");
    // A disk that does not exist, through the class's default lookup.
    let r = f.post(&soap::get(
        &format!("{WMI}Win32_LogicalDisk"),
        &[("DeviceID", "/no/such/mount")],
    ));
    assert_like_windows(&r, &windows, "Get of a missing disk");
    // Put and Delete of an instance that exists are not served.
    let me = std::process::id().to_string();
    let r = f.post(&soap::request(
        action::DELETE,
        &process,
        &[("Handle", &me)],
        "",
    ));
    expect_fault(&r, "ActionNotSupported");
}

#[test]
fn singletons_answer_get_without_selectors() {
    let f = Fixture::http();
    let os = format!("{WMI}Win32_OperatingSystem");
    let r = f.post(&soap::get(&os, &[]));
    assert_eq!(r.status, 200, "{}", r.describe());
    let text = r.text();
    assert_eq!(soap::find_text(&text, "OSType").as_deref(), Some("36"));
    let name = soap::find_text(&text, "Name").expect("Name");
    // Its key still addresses it; a key value of no instance is the not-found fault, and a
    // selector that is no key of the class is refused as before.
    let r = f.post(&soap::get(&os, &[("Name", &name)]));
    assert_eq!(r.status, 200, "{}", r.describe());
    let r = f.post(&soap::get(&os, &[("Name", "Windows|C:\\Windows|\\Device")]));
    let fault = expect_fault(&r, "DestinationUnreachable");
    assert_eq!(fault.wsman_code.as_deref(), Some("2150858752"));
    let r = f.post(&soap::get(&os, &[("Handle", "1")]));
    expect_fault(&r, "InvalidSelectors");
    // A class without keys is a singleton too.
    let r = f.post(&soap::get(&format!("{WMI}Win32_UTCTime"), &[]));
    assert_eq!(r.status, 200, "{}", r.describe());
    // A class with keys that is no singleton still needs them.
    let r = f.post(&soap::get(&format!("{WMI}Win32_Process"), &[]));
    expect_fault(&r, "InvalidSelectors");
    // Microsoft's own example, through the winrm CLI.
    let out = f.winrm_remote(&["get", "wmicimv2/Win32_OperatingSystem"]);
    out.assert_printed("OSType = 36");
}

/// Whether Linux lets `user` read the `exe` link of process `pid` (the oracle: what `ps` run
/// as that user can show).
fn readable_by(user: &str, pid: u32) -> bool {
    std::process::Command::new("runuser")
        .args(["-u", user, "--", "readlink", &format!("/proc/{pid}/exe")])
        .output()
        .expect("run runuser")
        .status
        .success()
}

/// A caller who is no administrator sees the executable path and I/O counters of its own
/// Linux user's processes only, as Linux shows them to that user; an administrator sees all.
#[test]
fn private_process_values_are_hidden_as_linux_hides_them() {
    use super::cim::{fixture_with_plain_account, PLAIN, PLAIN_PASSWORD};
    use std::os::unix::process::CommandExt as _;
    let f = fixture_with_plain_account();
    let id = |flag: &str| -> u32 {
        let out = std::process::Command::new("id")
            .args([flag, "nobody"])
            .output()
            .expect("id");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("id")
    };
    let nobody = (id("-u"), id("-g"));
    let spawn = |ids: Option<(u32, u32)>| {
        let mut command = std::process::Command::new("sleep");
        command.arg("301");
        if let Some((uid, gid)) = ids {
            command.uid(uid).gid(gid);
        }
        command.spawn().expect("sleep")
    };
    let (mut own, mut roots) = (spawn(Some(nobody)), spawn(None));
    let get = |pid: u32, user: &str, password: &str| {
        let r = wsman_test::http::post(
            f.port,
            Some(&wsman_test::http::basic_auth(user, password)),
            soap::get(
                &format!("{WMI}Win32_Process"),
                &[("Handle", &pid.to_string())],
            )
            .as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", r.describe());
        let text = r.text();
        let shown = |name: &str| soap::find_text(&text, name).filter(|t| !t.is_empty());
        (shown("ExecutablePath"), shown("ReadTransferCount"))
    };
    for (child, mine) in [(&own, true), (&roots, false)] {
        let pid = child.id();
        // Once it runs `sleep` (no longer the forked test): Linux's own answer first, so that
        // the test checks what it means to.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .ok()
            .as_deref()
            != Some("sleep\n")
        {
            assert!(std::time::Instant::now() < deadline, "sleep did not start");
            std::thread::yield_now();
        }
        assert_eq!(readable_by("nobody", pid), mine, "pid {pid}");
        let (path, io) = get(pid, PLAIN, PLAIN_PASSWORD);
        assert_eq!(
            path.is_some(),
            mine,
            "ExecutablePath of pid {pid}: {path:?}"
        );
        assert_eq!(io.is_some(), mine, "ReadTransferCount of pid {pid}: {io:?}");
        let (path, io) = get(
            pid,
            wsman_test::SERVICE_ACCOUNT,
            wsman_test::SERVICE_PASSWORD,
        );
        assert!(
            path.is_some() && io.is_some(),
            "the administrator sees pid {pid}"
        );
    }
    for child in [&mut own, &mut roots] {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Method parameters are matched by name without case, as WMI matches them: a Create whose
/// parameters are spelled `commandline` and `CURRENTDIRECTORY` (and whose method is `create`)
/// reads both, as the directory's ReturnValue 9 shows (a directory that does not exist, so
/// that nothing starts); the service account (an administrator) calls it.
#[test]
fn method_parameter_names_match_without_case() {
    let f = Fixture::http();
    let process = format!("{WMI}Win32_Process");
    let missing = std::env::temp_dir().join(format!("no-such-directory-{}", std::process::id()));
    assert!(!missing.exists());
    let create = |method: &str, command_line: &str, directory: &str| {
        let body = format!(
            "<p:{method}_INPUT xmlns:p=\"{process}\"><p:{command_line}>true</p:{command_line}>\
             <p:{directory}>{}</p:{directory}></p:{method}_INPUT>",
            missing.display()
        );
        let r = f.post(&soap::request(
            &format!("{process}/{method}"),
            &process,
            &[],
            &body,
        ));
        assert_eq!(r.status, 200, "{}", r.describe());
        soap::find_text(&r.text(), "ReturnValue")
    };
    for (method, command_line, directory) in [
        ("Create", "CommandLine", "CurrentDirectory"),
        ("Create", "commandline", "currentdirectory"),
        ("create", "COMMANDLINE", "CurrentDIRECTORY"),
    ] {
        assert_eq!(
            create(method, command_line, directory).as_deref(),
            Some("9"),
            "{method}({command_line}, {directory})"
        );
    }
    // A parameter of another name is not read: without CommandLine, the method's fault.
    let body = format!(
        "<p:Create_INPUT xmlns:p=\"{process}\"><p:CommandLines>true</p:CommandLines>\
         </p:Create_INPUT>"
    );
    let r = f.post(&soap::request(
        &format!("{process}/Create"),
        &process,
        &[],
        &body,
    ));
    expect_fault(&r, "InvalidParameter");
}
