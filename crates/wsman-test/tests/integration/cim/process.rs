//! Win32_Process over the wire: Get, WQL, paging over a changing process set, HandleCount, GetOwner
//! and Terminate, each value checked against `/proc` of a process the test starts.

use super::*;

#[test]
fn win32_process_get_and_wql_match_proc() {
    let (f, _child, pid) = server_and_sleeper();
    let uri = format!("{WMI}Win32_Process");
    let r = f.post(&soap::get(&uri, &[("Handle", &pid.to_string())]));
    assert_eq!(r.status, 200, "{}", r.describe());
    let body = parse(&r.text());
    assert_eq!(text_of(&body, "ProcessId"), Some(pid.to_string()));
    assert_eq!(text_of(&body, "Handle"), Some(pid.to_string()));
    assert_eq!(
        text_of(&body, "ParentProcessId"),
        Some(std::process::id().to_string())
    );
    assert_eq!(text_of(&body, "CommandLine").as_deref(), Some("sleep 300"));
    assert_eq!(text_of(&body, "Name").as_deref(), Some("sleep"));
    // A sleeping process: its memory and CPU time do not move between the two reads.
    assert_eq!(
        text_of(&body, "WorkingSetSize"),
        Some((status_kb(pid, "VmRSS") * 1024).to_string())
    );
    assert_eq!(
        text_of(&body, "VirtualSize"),
        Some(stat_field(pid, 23).to_string())
    );
    assert_eq!(
        text_of(&body, "KernelModeTime"),
        Some((stat_field(pid, 15) * 100_000).to_string())
    );
    assert!(r.text().contains("xsi:type=\"p:Win32_Process_Type\""));

    // WQL: exactly this process, in either quote style and any case.
    for query in [
        format!("SELECT * FROM Win32_Process WHERE ProcessId = {pid}"),
        format!("select * from win32_process where handle = \"{pid}\" and name like 'sl%'"),
    ] {
        let r = wql(&f, &format!("{WMI}*"), &query);
        assert_eq!(r.status, 200, "{query}\n{}", r.describe());
        let body = parse(&r.text());
        let mut items = Vec::new();
        find_all(&body, "Win32_Process", &mut items);
        assert_eq!(items.len(), 1, "{query}\n{}", r.text());
        assert_eq!(text_of(items[0], "ProcessId"), Some(pid.to_string()));
        assert!(r.text().contains("EndOfSequence"));
    }

    // SELECT a,b: w:XmlFragment items with those properties only.
    let query = format!("SELECT Name, ParentProcessId FROM Win32_Process WHERE Handle = '{pid}'");
    let r = wql(&f, &uri, &query);
    let fragments = items_of(&r, "XmlFragment");
    assert_eq!(fragments.len(), 1, "{}", r.text());
    assert_eq!(text_of(&fragments[0], "Name").as_deref(), Some("sleep"));
    assert_eq!(
        text_of(&fragments[0], "ParentProcessId"),
        Some(std::process::id().to_string())
    );
    assert_eq!(text_of(&fragments[0], "CommandLine"), None);
}

/// The open files of `pid` as `ls` counts the entries of its fd directory.
/// Whether `pid` is blocked in a sleep's system call: its exec and its program's start-up are
/// over, so its open files no longer change.
fn asleep(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/syscall")).is_ok_and(|syscall| {
        syscall
            .split_whitespace()
            .next()
            .and_then(|number| number.parse::<libc::c_long>().ok())
            .is_some_and(|number| {
                number == libc::SYS_clock_nanosleep || number == libc::SYS_nanosleep
            })
    })
}

fn ls_fd_count(pid: u32) -> u64 {
    let out = Command::new("ls")
        .arg(format!("/proc/{pid}/fd"))
        .output()
        .expect("ls");
    assert!(out.status.success(), "ls /proc/{pid}/fd");
    String::from_utf8_lossy(&out.stdout).lines().count() as u64
}

/// The answers of an Enumerate with `body` and of every Pull that follows it, to the end.
fn every_page(f: &Fixture, uri: &str, body: &str) -> Vec<Element> {
    let r = f.post(&soap::request(action::ENUMERATE, uri, &[], body));
    assert_eq!(r.status, 200, "{}", r.describe());
    let mut pages = vec![parse(&r.text())];
    for _ in 0..10_000 {
        let last = pages.last().expect("a page");
        let mut ends = Vec::new();
        find_all(last, "EndOfSequence", &mut ends);
        if !ends.is_empty() {
            return pages;
        }
        let context = text_of(last, "EnumerationContext").expect("a context or the end");
        pages.push(parse(&pull(f, uri, &context, None).text()));
    }
    panic!("the enumeration never ended");
}

/// A Pull from `context` of at most `max_elements` items (`None`: as many as the service
/// sends), which must succeed.
fn pull(f: &Fixture, uri: &str, context: &str, max_elements: Option<u32>) -> Response {
    let max = max_elements
        .map(|n| format!("<n:MaxElements>{n}</n:MaxElements>"))
        .unwrap_or_default();
    let pull = format!(
        "<n:Pull xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\">\
         <n:EnumerationContext>{context}</n:EnumerationContext>{max}</n:Pull>"
    );
    let r = f.post(&soap::request(action::PULL, uri, &[], &pull));
    assert_eq!(r.status, 200, "{}", r.describe());
    r
}

/// HandleCount is the number of open files (the fd directory's size on Linux >= 6.2, its
/// entries before), in Get, in a full enumeration and in a `SELECT` that reads only what its
/// properties need; such a `SELECT` still finds the process by a property it does not print.
#[test]
fn win32_process_handle_count_is_the_open_files() {
    let f = Fixture::http();
    // Three files more than a plain sleep: the shell opens them and execs sleep with them.
    let child = Sleeper(
        Command::new("sh")
            .args(["-c", "exec 3</dev/null 4</dev/null 5</dev/null sleep 300"])
            .spawn()
            .expect("start sh"),
    );
    let pid = child.pid();
    // Wait for sleep to sleep: counting the shell's files before the exec would compare two
    // different processes' tables, and counting during sleep's start-up would catch the files
    // it opens and closes (the locale's). A loaded machine can take seconds to get there.
    let execed = (0..6000).any(|_| {
        let done = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|c| c.trim() == "sleep")
            && asleep(pid);
        if !done {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        done
    });
    assert!(execed, "the shell never exec'd sleep, or sleep never slept");
    let expected = ls_fd_count(pid).to_string();
    let uri = format!("{WMI}Win32_Process");

    let r = f.post(&soap::get(&uri, &[("Handle", &pid.to_string())]));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(
        text_of(&parse(&r.text()), "HandleCount"),
        Some(expected.clone())
    );

    // Every page of the full enumeration: on a busy machine the first answer is cut by the
    // envelope size before it reaches the child.
    let pages = every_page(&f, &uri, &enumerate_body(None, ""));
    let mut items = Vec::new();
    for page in &pages {
        find_all(page, "Win32_Process", &mut items);
    }
    let item = items
        .iter()
        .find(|i| text_of(i, "ProcessId") == Some(pid.to_string()))
        .unwrap_or_else(|| panic!("pid {pid} enumerated"));
    assert_eq!(text_of(item, "HandleCount"), Some(expected.clone()));

    let query = format!(
        "SELECT HandleCount, ProcessId FROM Win32_Process WHERE ParentProcessId = {}",
        std::process::id()
    );
    let r = wql(&f, &uri, &query);
    let fragments = items_of(&r, "XmlFragment");
    let fragment = fragments
        .iter()
        .find(|i| text_of(i, "ProcessId") == Some(pid.to_string()))
        .unwrap_or_else(|| panic!("the child among the test's children\n{}", r.text()));
    assert_eq!(text_of(fragment, "HandleCount"), Some(expected));
    assert_eq!(text_of(fragment, "Name"), None);
}

#[test]
fn win32_process_enumerates_in_pages_with_eprs() {
    let f = Fixture::http();
    let child = Sleeper::start();
    let uri = format!("{WMI}Win32_Process");
    // No optimization: every item comes through Pull, two at a time, as EPRs.
    let body = "<n:Enumerate xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\" \
         xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\">\
         <w:EnumerationMode>EnumerateEPR</w:EnumerationMode></n:Enumerate>";
    let r = f.post(&soap::request(action::ENUMERATE, &uri, &[], body));
    assert_eq!(r.status, 200, "{}", r.describe());
    let mut context = text_of(&parse(&r.text()), "EnumerationContext").expect("context");
    let mut handles = Vec::new();
    for _ in 0..100_000 {
        let r = pull(&f, &uri, &context, Some(2));
        let body = parse(&r.text());
        let mut selectors = Vec::new();
        find_all(&body, "Selector", &mut selectors);
        assert!(selectors.len() <= 2);
        handles.extend(selectors.iter().map(|s| s.trimmed_text()));
        if r.text().contains("EndOfSequence") {
            break;
        }
        context = text_of(&body, "EnumerationContext").expect("context");
    }
    assert!(handles.contains(&child.pid().to_string()), "{handles:?}");
    assert!(handles.contains(&std::process::id().to_string()));
}

/// Win32_Process lists the pids once, at Enumerate, and reads each process when its page is
/// sent: over a process set that changes between Pulls, no process comes twice, the ones that
/// ended before their page are left out, the ones started after Enumerate are not in this
/// enumeration, and the sequence still ends.
#[test]
fn win32_process_pulls_over_a_changing_process_set() {
    let f = Fixture::http();
    let uri = format!("{WMI}Win32_Process");
    let mut before: Vec<Sleeper> = (0..30).map(|_| Sleeper::start()).collect();
    // Five per batch, in the Enumerate response too.
    let body = "<n:Enumerate xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\" \
         xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\">\
         <w:OptimizeEnumeration/><w:MaxElements>5</w:MaxElements></n:Enumerate>";
    let r = f.post(&soap::request(action::ENUMERATE, &uri, &[], body));
    assert_eq!(r.status, 200, "{}", r.describe());
    let first = parse(&r.text());
    let handles_of = |body: &Element| {
        let mut items = Vec::new();
        find_all(body, "Win32_Process", &mut items);
        items
            .iter()
            .filter_map(|i| text_of(i, "Handle"))
            .collect::<Vec<String>>()
    };
    let mut handles = handles_of(&first);
    assert_eq!(handles.len(), 5, "{}", r.text());
    let mut context = text_of(&first, "EnumerationContext").expect("context");
    // Between the Enumerate and the first Pull: the sleepers not sent yet end (and are
    // reaped), and new ones start.
    let unsent: Vec<Sleeper> = before
        .drain(..)
        .filter(|s| !handles.contains(&s.pid().to_string()))
        .collect();
    let ended: Vec<String> = unsent.iter().map(|s| s.pid().to_string()).collect();
    drop(unsent);
    for pid in &ended {
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    }
    let after: Vec<Sleeper> = (0..10).map(|_| Sleeper::start()).collect();
    let mut ended_sequence = false;
    for _ in 0..100_000 {
        let r = pull(&f, &uri, &context, Some(5));
        let body = parse(&r.text());
        let page = handles_of(&body);
        assert!(page.len() <= 5, "{page:?}");
        handles.extend(page);
        if r.text().contains("EndOfSequence") {
            ended_sequence = true;
            break;
        }
        context = text_of(&body, "EnumerationContext").expect("context");
    }
    assert!(ended_sequence, "no EndOfSequence");
    let mut unique = handles.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique.len(),
        handles.len(),
        "a process came twice: {handles:?}"
    );
    assert!(handles.contains(&std::process::id().to_string()));
    for pid in &ended {
        assert!(
            !handles.contains(pid),
            "{pid} ended before its page: {handles:?}"
        );
    }
    for s in &after {
        let pid = s.pid().to_string();
        assert!(
            !handles.contains(&pid),
            "{pid} started after Enumerate: {handles:?}"
        );
    }
}

#[test]
fn win32_process_get_owner_names_the_owner_of_the_process() {
    let (f, _child, pid) = server_and_sleeper();
    let uri = format!("{WMI}Win32_Process");
    let r = f.post(&soap::request(
        &format!("{uri}/GetOwner"),
        &uri,
        &[("Handle", &pid.to_string())],
        &format!("<p:GetOwner_INPUT xmlns:p=\"{uri}\"/>"),
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    let text = r.text();
    assert!(
        text.contains(&format!("<a:Action>{uri}/GetOwnerResponse</a:Action>")),
        "{text}"
    );
    let body = parse(&text);
    assert_eq!(text_of(&body, "ReturnValue").as_deref(), Some("0"));
    // The owner as the system's own tool names it.
    let owner = Command::new("ps")
        .args(["-o", "user=", "-p", &pid.to_string()])
        .output()
        .expect("ps");
    let owner = String::from_utf8_lossy(&owner.stdout).trim().to_owned();
    assert_eq!(text_of(&body, "User"), Some(owner));
    // An unknown method of the class.
    let r = f.post(&soap::request(
        &format!("{uri}/NoSuchMethod"),
        &uri,
        &[("Handle", &pid.to_string())],
        "",
    ));
    expect_fault(&r, "ActionNotSupported");
    // The same through the CLI.
    let out = f.winrm_remote(&[
        "invoke",
        "GetOwner",
        &format!("wmicimv2/Win32_Process?Handle={pid}"),
    ]);
    out.assert_printed("ReturnValue = 0");
}

/// Whether process `pid` still runs (a zombie waiting for its parent has ended).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

#[test]
fn win32_process_terminate_ends_own_processes_and_refuses_others() {
    use std::os::unix::process::CommandExt as _;
    let f = fixture_with_plain_account();
    let uri = format!("{WMI}Win32_Process");
    let terminate = |pid: u32, user: &str, password: &str| {
        let body = format!(
            "<p:Terminate_INPUT xmlns:p=\"{uri}\"><p:Reason>0</p:Reason></p:Terminate_INPUT>"
        );
        let request = soap::request(
            &format!("{uri}/Terminate"),
            &uri,
            &[("Handle", &pid.to_string())],
            &body,
        );
        wsman_test::http::post(
            f.port,
            Some(&wsman_test::http::basic_auth(user, password)),
            request.as_bytes(),
        )
    };
    let return_value = |r: &wsman_test::http::Response| {
        assert_eq!(r.status, 200, "{}", r.describe());
        text_of(&parse(&r.text()), "ReturnValue").expect("ReturnValue")
    };

    // A process of root: the account that runs as nobody may not end it.
    let mut roots = Sleeper::start();
    let r = terminate(roots.pid(), PLAIN, PLAIN_PASSWORD);
    assert_eq!(return_value(&r), "2");
    assert!(running(roots.pid()));
    // A process of nobody: that account ends it.
    let mut nobodys = Sleeper(
        Command::new("sleep")
            .arg("300")
            .uid(65534)
            .gid(65534)
            .spawn()
            .expect("start sleep as nobody"),
    );
    let r = terminate(nobodys.pid(), PLAIN, PLAIN_PASSWORD);
    assert_eq!(return_value(&r), "0");
    let status = nobodys.0.wait().expect("wait");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    // The administrator ends root's process.
    let r = terminate(
        roots.pid(),
        wsman_test::SERVICE_ACCOUNT,
        wsman_test::SERVICE_PASSWORD,
    );
    assert_eq!(return_value(&r), "0");
    let status = roots.0.wait().expect("wait");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    // Not even the administrator ends PID 1 or the daemon; a process that is gone is no
    // instance.
    for protected in [1, f.daemon.pid()] {
        let r = terminate(
            protected,
            wsman_test::SERVICE_ACCOUNT,
            wsman_test::SERVICE_PASSWORD,
        );
        assert_eq!(return_value(&r), "2", "pid {protected}");
    }
    let r = terminate(
        roots.pid(),
        wsman_test::SERVICE_ACCOUNT,
        wsman_test::SERVICE_PASSWORD,
    );
    expect_fault(&r, "DestinationUnreachable");
}
