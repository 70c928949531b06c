//! CIM/WMI classes over the wire: values checked against the Linux source they come from
//! (a process this test starts, /proc/meminfo), never against literals; WQL filters,
//! `SELECT a,b` fragments, paging, and the faults of bad class URIs, selectors and filters.

use std::process::{Child, Command};

use wsman_proto::ns::action;
use wsman_proto::xml::{self, Element, Limits};
use wsman_test::soap;
use wsman_test::Fixture;

use super::expect_fault;

const WMI: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/";
const WQL: &str = "http://schemas.microsoft.com/wbem/wsman/1/WQL";

/// A process of this test, killed and reaped on drop.
struct Sleeper(Child);

impl Sleeper {
    /// Started and settled: returns once `sleep` is asleep in its timer (state `S`), so its
    /// CPU ticks and resident set no longer move while the dynamic loader runs and the test's
    /// reads of /proc agree with the server's.
    fn start() -> Self {
        let sleeper = Self(
            Command::new("sleep")
                .arg("300")
                .spawn()
                .expect("start sleep"),
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let stat = format!("/proc/{}/stat", sleeper.pid());
        while std::fs::read_to_string(&stat)
            .ok()
            .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| rest.starts_with('S')))
            != Some(true)
        {
            assert!(std::time::Instant::now() < deadline, "sleep did not settle");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        sleeper
    }
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn enumerate_body(filter: Option<(&str, &str)>, extra: &str) -> String {
    let filter = filter.map_or(String::new(), |(dialect, text)| {
        format!(
            "<w:Filter Dialect=\"{dialect}\">{}</w:Filter>",
            xml::escape_text(text)
        )
    });
    format!(
        "<n:Enumerate xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\" \
         xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\">\
         <w:OptimizeEnumeration/><w:MaxElements>32000</w:MaxElements>{extra}{filter}</n:Enumerate>"
    )
}

fn parse(text: &str) -> Element {
    xml::parse(text, &Limits::default()).expect("response is XML")
}

/// The elements named `name` anywhere under `e`.
fn all<'a>(e: &'a Element, name: &str, out: &mut Vec<&'a Element>) {
    for c in e.elements() {
        if c.name == name {
            out.push(c);
        }
        all(c, name, out);
    }
}

fn text_of(e: &Element, name: &str) -> Option<String> {
    let mut found = Vec::new();
    all(e, name, &mut found);
    found.first().map(|e| e.trimmed_text())
}

/// `/proc/<pid>/status` field in kB.
fn status_kb(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    s.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("field")
}

/// Field `n` (1-based) of `/proc/<pid>/stat`.
fn stat_field(pid: u32, n: usize) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let rest = &s[s.rfind(')').expect(")") + 1..];
    rest.split_whitespace()
        .nth(n - 3)
        .and_then(|v| v.parse().ok())
        .expect("field")
}

#[test]
fn win32_process_get_and_wql_match_proc() {
    let f = Fixture::http();
    let child = Sleeper::start();
    let pid = child.pid();
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
        let r = f.post(&soap::request(
            action::ENUMERATE,
            &format!("{WMI}*"),
            &[],
            &enumerate_body(Some((WQL, &query)), ""),
        ));
        assert_eq!(r.status, 200, "{query}\n{}", r.describe());
        let body = parse(&r.text());
        let mut items = Vec::new();
        all(&body, "Win32_Process", &mut items);
        assert_eq!(items.len(), 1, "{query}\n{}", r.text());
        assert_eq!(text_of(items[0], "ProcessId"), Some(pid.to_string()));
        assert!(r.text().contains("EndOfSequence"));
    }

    // SELECT a,b: w:XmlFragment items with those properties only.
    let query = format!("SELECT Name, ParentProcessId FROM Win32_Process WHERE Handle = '{pid}'");
    let r = f.post(&soap::request(
        action::ENUMERATE,
        &uri,
        &[],
        &enumerate_body(Some((WQL, &query)), ""),
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    let body = parse(&r.text());
    let mut fragments = Vec::new();
    all(&body, "XmlFragment", &mut fragments);
    assert_eq!(fragments.len(), 1, "{}", r.text());
    assert_eq!(text_of(fragments[0], "Name").as_deref(), Some("sleep"));
    assert_eq!(
        text_of(fragments[0], "ParentProcessId"),
        Some(std::process::id().to_string())
    );
    assert_eq!(text_of(fragments[0], "CommandLine"), None);
}

/// The open files of `pid` as `ls` counts the entries of its fd directory.
fn ls_fd_count(pid: u32) -> u64 {
    let out = Command::new("ls")
        .arg(format!("/proc/{pid}/fd"))
        .output()
        .expect("ls");
    assert!(out.status.success(), "ls /proc/{pid}/fd");
    String::from_utf8_lossy(&out.stdout).lines().count() as u64
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
    // Wait for the exec (the name is then sleep).
    for _ in 0..200 {
        if std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let expected = ls_fd_count(pid).to_string();
    let uri = format!("{WMI}Win32_Process");

    let r = f.post(&soap::get(&uri, &[("Handle", &pid.to_string())]));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(
        text_of(&parse(&r.text()), "HandleCount"),
        Some(expected.clone())
    );

    let r = f.post(&soap::request(
        action::ENUMERATE,
        &uri,
        &[],
        &enumerate_body(None, ""),
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    let body = parse(&r.text());
    let mut items = Vec::new();
    all(&body, "Win32_Process", &mut items);
    let item = items
        .iter()
        .find(|i| text_of(i, "ProcessId") == Some(pid.to_string()))
        .unwrap_or_else(|| panic!("pid {pid} enumerated"));
    assert_eq!(text_of(item, "HandleCount"), Some(expected.clone()));

    let query = format!(
        "SELECT HandleCount, ProcessId FROM Win32_Process WHERE ParentProcessId = {}",
        std::process::id()
    );
    let r = f.post(&soap::request(
        action::ENUMERATE,
        &uri,
        &[],
        &enumerate_body(Some((WQL, &query)), ""),
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    let body = parse(&r.text());
    let mut fragments = Vec::new();
    all(&body, "XmlFragment", &mut fragments);
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
        let pull = format!(
            "<n:Pull xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\">\
             <n:EnumerationContext>{context}</n:EnumerationContext><n:MaxElements>2</n:MaxElements></n:Pull>"
        );
        let r = f.post(&soap::request(action::PULL, &uri, &[], &pull));
        assert_eq!(r.status, 200, "{}", r.describe());
        let body = parse(&r.text());
        let mut selectors = Vec::new();
        all(&body, "Selector", &mut selectors);
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
        all(body, "Win32_Process", &mut items);
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
        let pull = format!(
            "<n:Pull xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\">\
             <n:EnumerationContext>{context}</n:EnumerationContext><n:MaxElements>5</n:MaxElements></n:Pull>"
        );
        let r = f.post(&soap::request(action::PULL, &uri, &[], &pull));
        assert_eq!(r.status, 200, "{}", r.describe());
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
fn win32_operating_system_matches_meminfo() {
    let f = Fixture::http();
    let r = f.post(&soap::request(
        action::ENUMERATE,
        &format!("{WMI}Win32_OperatingSystem"),
        &[],
        &enumerate_body(None, ""),
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    let body = parse(&r.text());
    let meminfo = std::fs::read_to_string("/proc/meminfo").expect("meminfo");
    let kb = |k: &str| {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}:")))
            .and_then(|v| v.split_whitespace().next().map(str::to_owned))
    };
    assert_eq!(text_of(&body, "TotalVisibleMemorySize"), kb("MemTotal"));
    assert_eq!(text_of(&body, "SizeStoredInPagingFiles"), kb("SwapTotal"));
    assert_eq!(text_of(&body, "OSType").as_deref(), Some("36"));
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    assert_eq!(text_of(&body, "CSName").as_deref(), Some(hostname.trim()));
    // Get by its key, as the EPR names it.
    let name = text_of(&body, "Name").expect("Name");
    let r = f.post(&soap::get(
        &format!("{WMI}Win32_OperatingSystem"),
        &[("Name", &name)],
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
}

#[test]
fn bad_classes_selectors_and_filters_get_their_faults() {
    let f = Fixture::http();
    let process = format!("{WMI}Win32_Process");
    let r = f.post(&soap::get(
        &format!("{WMI}Win32_NoSuchClass"),
        &[("Name", "x")],
    ));
    expect_fault(&r, "DestinationUnreachable");
    let r = f.post(&soap::get(&process, &[("Name", "x")]));
    expect_fault(&r, "InvalidSelectors");
    let r = f.post(&soap::get(&process, &[]));
    expect_fault(&r, "InvalidSelectors");
    // No such process: u32::MAX is above any pid_max.
    let r = f.post(&soap::get(&process, &[("Handle", "4294967295")]));
    expect_fault(&r, "DestinationUnreachable");
    let enumerate = |uri: &str, filter: Option<(&str, &str)>| {
        f.post(&soap::request(
            action::ENUMERATE,
            uri,
            &[],
            &enumerate_body(filter, ""),
        ))
    };
    expect_fault(&enumerate(&format!("{WMI}*"), None), "UnsupportedFeature");
    expect_fault(
        &enumerate(&process, Some((WQL, "SELECT * FROM Win32_Process WHERE"))),
        "CannotProcessFilter",
    );
    expect_fault(
        &enumerate(&process, Some((WQL, "SELECT * FROM Win32_Processa"))),
        "CannotProcessFilter",
    );
    expect_fault(
        &enumerate(&process, Some((WQL, "SELECT Nope FROM Win32_Process"))),
        "CannotProcessFilter",
    );
    expect_fault(
        &enumerate(&process, Some(("urn:no-such-dialect", "x"))),
        "FilterDialectRequestedUnavailable",
    );
    f.identify();
}

#[test]
fn winrm_cli_enumerates_and_gets_through_windows_aliases() {
    let f = Fixture::http();
    let child = Sleeper::start();
    let pid = child.pid();
    let filter = format!("-filter:SELECT * FROM Win32_Process WHERE ProcessId = {pid}");
    let out = f.winrm_remote(&["enumerate", "wmi/root/cimv2/*", &filter]);
    assert_eq!(out.code(), 0, "{}", out.describe());
    assert!(
        out.stdout.contains(&format!("ProcessId = {pid}")),
        "{}",
        out.describe()
    );
    assert_eq!(
        out.stdout.lines().filter(|l| *l == "Win32_Process").count(),
        1,
        "{}",
        out.describe()
    );
    let out = f.winrm_remote(&["get", &format!("wmicimv2/Win32_Process?Handle={pid}")]);
    assert_eq!(out.code(), 0, "{}", out.describe());
    assert!(
        out.stdout.contains("CommandLine = sleep 300"),
        "{}",
        out.describe()
    );
    let out = f.winrm_remote(&["enumerate", "wmicimv2/Win32_OperatingSystem"]);
    assert_eq!(out.code(), 0, "{}", out.describe());
    assert!(out.stdout.contains("OSType = 36"), "{}", out.describe());
}

/// Enumerate every instance of `class` (optimized, one response).
fn enumerate_all(f: &Fixture, class: &str) -> Element {
    let r = f.post(&soap::request(
        action::ENUMERATE,
        &format!("{WMI}{class}"),
        &[],
        &enumerate_body(None, ""),
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    parse(&r.text())
}

#[test]
fn computer_system_processor_page_files_and_clock_match_their_sources() {
    let f = Fixture::http();
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").expect("cpuinfo");
    let logical = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let meminfo = std::fs::read_to_string("/proc/meminfo").expect("meminfo");
    let mem_total_kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("MemTotal");
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");

    let body = enumerate_all(&f, "Win32_ComputerSystem");
    assert_eq!(text_of(&body, "Name").as_deref(), Some(hostname.trim()));
    assert_eq!(
        text_of(&body, "NumberOfLogicalProcessors"),
        Some(logical.to_string())
    );
    assert_eq!(
        text_of(&body, "TotalPhysicalMemory"),
        Some((mem_total_kb * 1024).to_string())
    );

    // Logical processors summed over the packages are the processors of /proc/cpuinfo.
    let body = enumerate_all(&f, "Win32_Processor");
    let mut counts = Vec::new();
    all(&body, "NumberOfLogicalProcessors", &mut counts);
    let sum: usize = counts
        .iter()
        .map(|c| c.trimmed_text().parse::<usize>().expect("number"))
        .sum();
    assert_eq!(sum, logical);
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned());
    assert_eq!(text_of(&body, "Name"), model);

    // One instance per swap area, sizes in MB.
    let swaps = std::fs::read_to_string("/proc/swaps").expect("swaps");
    let body = enumerate_all(&f, "Win32_PageFileUsage");
    let mut items = Vec::new();
    all(&body, "Win32_PageFileUsage", &mut items);
    assert_eq!(items.len(), swaps.lines().skip(1).count());
    for (item, line) in items.iter().zip(swaps.lines().skip(1)) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(text_of(item, "Name").as_deref(), Some(fields[0]));
        let size_kb: u64 = fields[2].parse().expect("size");
        assert_eq!(
            text_of(item, "AllocatedBaseSize"),
            Some((size_kb / 1024).to_string())
        );
    }

    // The clock: the year read before and after the request brackets the answer.
    let year = || {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64;
        wsman_proto::cim::CimDateTime::utc(secs * 1_000_000).to_xs()[..4]
            .parse::<u32>()
            .expect("year")
    };
    let before = year();
    let body = enumerate_all(&f, "Win32_UTCTime");
    let after = year();
    let answered: u32 = text_of(&body, "Year")
        .and_then(|y| y.parse().ok())
        .expect("Year");
    assert!((before..=after).contains(&answered));
    let r = f.post(&soap::get(&format!("{WMI}Win32_UTCTime"), &[]));
    assert_eq!(r.status, 200, "{}", r.describe());
}

#[test]
fn win32_process_get_owner_names_the_owner_of_the_process() {
    let f = Fixture::http();
    let child = Sleeper::start();
    let pid = child.pid();
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
    assert_eq!(out.code(), 0, "{}", out.describe());
    assert!(out.stdout.contains("ReturnValue = 0"), "{}", out.describe());
}

#[test]
fn fragment_transfer_gets_one_property() {
    let f = Fixture::http();
    let child = Sleeper::start();
    let pid = child.pid();
    let uri = format!("{WMI}Win32_Process");
    let get = |expression: &str| {
        let xml = soap::get(&uri, &[("Handle", &pid.to_string())]).replace(
            "</s:Header>",
            &format!(
                "<w:FragmentTransfer s:mustUnderstand=\"true\">{expression}</w:FragmentTransfer></s:Header>"
            ),
        );
        f.post(&xml)
    };
    let r = get("CommandLine");
    assert_eq!(r.status, 200, "{}", r.describe());
    let body = parse(&r.text());
    let mut fragments = Vec::new();
    all(&body, "XmlFragment", &mut fragments);
    assert_eq!(fragments.len(), 1, "{}", r.text());
    assert_eq!(
        text_of(fragments[0], "CommandLine").as_deref(),
        Some("sleep 300")
    );
    assert_eq!(text_of(fragments[0], "Name"), None);
    let r = get("p:ProcessId/text()");
    assert_eq!(r.status, 200, "{}", r.describe());
    let mut fragments = Vec::new();
    let body = parse(&r.text());
    all(&body, "XmlFragment", &mut fragments);
    assert_eq!(
        fragments.first().map(|f| f.trimmed_text()),
        Some(pid.to_string())
    );
    expect_fault(&get("NoSuchProperty"), "InvalidRepresentation");
}

/// (name, idle + iowait ticks, user + nice ticks) of every `cpu` line of /proc/stat.
fn proc_stat_cpus() -> Vec<(String, u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").expect("stat");
    stat.lines()
        .filter(|l| l.starts_with("cpu"))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let n = |i: usize| f[i].parse::<u64>().expect("ticks");
            let name = match &f[0][3..] {
                "" => "_Total".to_owned(),
                i => i.to_owned(),
            };
            (name, n(4) + n(5), n(1) + n(2))
        })
        .collect()
}

/// Now as a FILETIME (100 ns since 1601).
fn filetime_now() -> u64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock");
    116_444_736_000_000_000 + (d.as_nanos() / 100) as u64
}

#[test]
fn perf_raw_processor_counters_are_proc_stat_in_100ns() {
    let f = Fixture::http();
    let before = proc_stat_cpus();
    let t0 = filetime_now();
    let body = enumerate_all(&f, "Win32_PerfRawData_PerfOS_Processor");
    let t1 = filetime_now();
    let after = proc_stat_cpus();
    let processors = (before.len() - 1) as u64;
    let mut items = Vec::new();
    all(&body, "Win32_PerfRawData_PerfOS_Processor", &mut items);
    assert_eq!(items.len(), before.len());
    for item in items {
        let name = text_of(item, "Name").expect("Name");
        let num = |p: &str| -> u64 {
            text_of(item, p)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{p}"))
        };
        let i = before.iter().position(|c| c.0 == name).expect("a cpu line");
        // _Total is the average of the processors; ticks are 100,000 units of 100 ns.
        let divisor = if name == "_Total" { processors } else { 1 };
        let range = |lo: u64, hi: u64| lo * 100_000 / divisor..=hi * 100_000 / divisor;
        assert!(
            range(before[i].1, after[i].1).contains(&num("PercentProcessorTime")),
            "{name}"
        );
        assert!(
            range(before[i].2, after[i].2).contains(&num("PercentUserTime")),
            "{name}"
        );
        assert!((t0..=t1).contains(&num("Timestamp_Sys100NS")));
        assert_eq!(num("Frequency_Sys100NS"), 10_000_000);
    }
}

/// `df -B1 --output=fstype,size,avail MOUNT`: df reads statvfs as the provider does.
fn df(mount: &str) -> (String, u64, u64) {
    let out = Command::new("df")
        .args(["-B1", "--output=fstype,size,avail", mount])
        .output()
        .expect("run df");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut fields = text.lines().nth(1).expect("a df line").split_whitespace();
    let fs_type = fields.next().expect("type").to_owned();
    let size = fields.next().and_then(|v| v.parse().ok()).expect("size");
    let avail = fields.next().and_then(|v| v.parse().ok()).expect("avail");
    (fs_type, size, avail)
}

#[test]
fn logical_disks_and_volumes_match_statvfs_of_their_mounts() {
    let f = Fixture::http();
    let (fs_type, size, avail_before) = df("/");
    let disks = enumerate_all(&f, "Win32_LogicalDisk");
    let (_, _, avail_after) = df("/");
    let mut items = Vec::new();
    all(&disks, "Win32_LogicalDisk", &mut items);
    let root = items
        .iter()
        .find(|i| text_of(i, "DeviceID").as_deref() == Some("/"))
        .unwrap_or_else(|| panic!("no / among the disks\n{}", disks.to_xml()));
    assert_eq!(text_of(root, "FileSystem"), Some(fs_type));
    assert_eq!(text_of(root, "Size"), Some(size.to_string()));
    assert_eq!(text_of(root, "DriveType").as_deref(), Some("3"));
    // Free space moves with every write on the machine: it must lie between the two reads
    // around the request, widened by what moved meanwhile.
    let free: u64 = text_of(root, "FreeSpace")
        .and_then(|v| v.parse().ok())
        .expect("FreeSpace");
    let low = avail_before.min(avail_after);
    let high = avail_before.max(avail_after);
    let slack = (high - low).max(64 << 20);
    assert!(
        free + slack >= low && free <= high + slack,
        "FreeSpace {free} vs df {avail_before}..{avail_after}"
    );
    // Pseudo file systems are no drives.
    for pseudo in ["/proc", "/sys", "/dev/shm"] {
        assert!(
            !items
                .iter()
                .any(|i| text_of(i, "DeviceID").as_deref() == Some(pseudo)),
            "{pseudo} listed as a disk"
        );
    }

    // WQL by key reads the one drive; a volume of the same mount has the same capacity.
    let r = f.post(&soap::request(
        action::ENUMERATE,
        &format!("{WMI}*"),
        &[],
        &enumerate_body(
            Some((
                WQL,
                "SELECT DeviceID, Size FROM Win32_LogicalDisk WHERE DeviceID = '/'",
            )),
            "",
        ),
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    let body = parse(&r.text());
    let mut fragments = Vec::new();
    all(&body, "XmlFragment", &mut fragments);
    assert_eq!(fragments.len(), 1, "{}", r.text());
    assert_eq!(text_of(fragments[0], "Size"), Some(size.to_string()));

    let volumes = enumerate_all(&f, "Win32_Volume");
    let mut items = Vec::new();
    all(&volumes, "Win32_Volume", &mut items);
    let root = items
        .iter()
        .find(|i| text_of(i, "Name").as_deref() == Some("/"))
        .unwrap_or_else(|| panic!("no / among the volumes\n{}", volumes.to_xml()));
    assert_eq!(text_of(root, "Capacity"), Some(size.to_string()));
    assert_eq!(text_of(root, "BootVolume").as_deref(), Some("true"));
    assert!(text_of(root, "DeviceID").is_some_and(|d| !d.is_empty()));
}

/// `ip -j ARGS` as JSON: iproute2 reads the kernel over netlink, the provider through sysfs,
/// getifaddrs and /proc/net/route.
fn ip_json(args: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new("ip")
        .arg("-j")
        .args(args)
        .output()
        .expect("run ip");
    assert!(out.status.success(), "ip {args:?} failed");
    serde_json::from_slice(&out.stdout).expect("ip prints JSON")
}

/// The texts of every `name` element under `e` (array properties repeat their element).
fn texts_of(e: &Element, name: &str) -> Vec<String> {
    let mut found = Vec::new();
    all(e, name, &mut found);
    found.iter().map(|e| e.trimmed_text()).collect()
}

/// The item of `class` whose `key` is `value`.
fn item_with<'a>(body: &'a Element, class: &str, key: &str, value: &str) -> &'a Element {
    let mut items = Vec::new();
    all(body, class, &mut items);
    items
        .into_iter()
        .find(|i| text_of(i, key).as_deref() == Some(value))
        .unwrap_or_else(|| panic!("no {class} with {key} = {value}\n{}", body.to_xml()))
}

#[test]
fn network_adapters_configurations_and_routes_match_ip() {
    let f = Fixture::http();
    let links = ip_json(&["link"]);
    let adapters = enumerate_all(&f, "Win32_NetworkAdapter");
    let mut items = Vec::new();
    all(&adapters, "Win32_NetworkAdapter", &mut items);
    assert_eq!(items.len(), links.len(), "{}", adapters.to_xml());
    for link in &links {
        let index = link["ifindex"].as_u64().expect("ifindex").to_string();
        let item = item_with(&adapters, "Win32_NetworkAdapter", "DeviceID", &index);
        assert_eq!(text_of(item, "Name").as_deref(), link["ifname"].as_str());
        let up = link["flags"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f == "UP"));
        assert_eq!(text_of(item, "NetEnabled"), Some(up.to_string()));
        if let Some(mac) = link["address"].as_str() {
            assert_eq!(text_of(item, "MACAddress"), Some(mac.to_ascii_uppercase()));
        }
    }

    let addresses = ip_json(&["addr"]);
    let configurations = enumerate_all(&f, "Win32_NetworkAdapterConfiguration");
    for link in &addresses {
        let index = link["ifindex"].as_u64().expect("ifindex").to_string();
        let item = item_with(
            &configurations,
            "Win32_NetworkAdapterConfiguration",
            "Index",
            &index,
        );
        let mut expected: Vec<String> = link["addr_info"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|i| i["local"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        // An adapter without addresses has a nil IPAddress, as on Windows.
        let mut served: Vec<String> = texts_of(item, "IPAddress")
            .into_iter()
            .filter(|a| !a.is_empty())
            .collect();
        expected.sort();
        served.sort();
        assert_eq!(served, expected, "addresses of interface {index}");
        assert_eq!(
            text_of(item, "IPEnabled"),
            Some((!expected.is_empty()).to_string())
        );
    }

    let routes = ip_json(&["-4", "route", "show", "table", "main"]);
    let table = enumerate_all(&f, "Win32_IP4RouteTable");
    let index_of = |dev: &str| {
        links
            .iter()
            .find(|l| l["ifname"] == dev)
            .and_then(|l| l["ifindex"].as_u64())
            .expect("the route's device")
            .to_string()
    };
    let mut route_items = Vec::new();
    all(&table, "Win32_IP4RouteTable", &mut route_items);
    let mut checked = 0;
    for route in routes.iter().filter(|r| r.get("type").is_none()) {
        let dst = route["dst"].as_str().expect("dst");
        let (destination, prefix) = match dst {
            "default" => ("0.0.0.0".to_owned(), 0u32),
            other => match other.split_once('/') {
                Some((d, p)) => (d.to_owned(), p.parse().expect("prefix")),
                None => (other.to_owned(), 32),
            },
        };
        let mask = std::net::Ipv4Addr::from(u32::MAX.checked_shl(32 - prefix).unwrap_or(0));
        let next_hop = route["gateway"].as_str().unwrap_or("0.0.0.0");
        let interface = index_of(route["dev"].as_str().expect("dev"));
        let found = route_items.iter().any(|i| {
            text_of(i, "Destination").as_deref() == Some(destination.as_str())
                && text_of(i, "Mask") == Some(mask.to_string())
                && text_of(i, "NextHop").as_deref() == Some(next_hop)
                && text_of(i, "InterfaceIndex") == Some(interface.clone())
        });
        assert!(found, "route {route} missing\n{}", table.to_xml());
        checked += 1;
    }
    assert_eq!(checked, route_items.len(), "{}", table.to_xml());
}

/// The value of `key` in /proc/stat.
fn proc_stat(key: &str) -> u64 {
    std::fs::read_to_string("/proc/stat")
        .expect("/proc/stat")
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key} "))?.trim().parse().ok())
        .expect("the key")
}

fn number(e: &Element, name: &str) -> u64 {
    text_of(e, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} of\n{}", e.to_xml()))
}

#[test]
fn performance_counters_match_proc_and_sysfs() {
    let f = Fixture::http();
    let child = Sleeper::start();
    let pid = child.pid();

    // One process's raw counters, in Windows' units.
    let processes = enumerate_all(&f, "Win32_PerfRawData_PerfProc_Process");
    let item = item_with(
        &processes,
        "Win32_PerfRawData_PerfProc_Process",
        "IDProcess",
        &pid.to_string(),
    );
    assert!(text_of(item, "Name").is_some_and(|n| n == "sleep" || n.starts_with("sleep#")));
    assert_eq!(
        number(item, "CreatingProcessID"),
        u64::from(std::process::id())
    );
    assert_eq!(number(item, "ThreadCount"), stat_field(pid, 20));
    assert_eq!(
        number(item, "PercentProcessorTime"),
        (stat_field(pid, 14) + stat_field(pid, 15)) * 100_000
    );
    assert_eq!(number(item, "VirtualBytes"), stat_field(pid, 23));
    assert_eq!(number(item, "WorkingSet"), status_kb(pid, "VmRSS") * 1024);
    let boot = proc_stat("btime");
    assert_eq!(
        number(item, "ElapsedTime"),
        116_444_736_000_000_000 + boot * 10_000_000 + stat_field(pid, 22) * 100_000
    );
    let names = texts_of(&processes, "Name");
    assert!(names.iter().any(|n| n == "_Total") && names.iter().any(|n| n == "Idle"));
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "instance names are keys");

    // Context switches: between the two reads around the request.
    let before = proc_stat("ctxt");
    let system = enumerate_all(&f, "Win32_PerfRawData_PerfOS_System");
    let after = proc_stat("ctxt");
    let switches = number(&system, "ContextSwitchesPersec");
    assert!(
        (before..=after).contains(&switches),
        "{before} <= {switches} <= {after}"
    );
    assert_eq!(
        number(&system, "SystemUpTime"),
        116_444_736_000_000_000 + boot * 10_000_000
    );

    // Memory: the commit limit does not move; what is available lies between two reads.
    let meminfo_kb = |key: &str| {
        let text = std::fs::read_to_string("/proc/meminfo").expect("meminfo");
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}:")))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .expect("meminfo key")
    };
    let available_before = meminfo_kb("MemAvailable");
    let memory = enumerate_all(&f, "Win32_PerfFormattedData_PerfOS_Memory");
    let available_after = meminfo_kb("MemAvailable");
    assert_eq!(
        number(&memory, "CommitLimit"),
        meminfo_kb("CommitLimit") * 1024
    );
    let available = number(&memory, "AvailableKBytes");
    let slack = available_before.abs_diff(available_after) + 64 * 1024;
    assert!(
        available + slack >= available_before.min(available_after)
            && available <= available_before.max(available_after) + slack,
        "AvailableKBytes {available} vs {available_before}..{available_after}"
    );
    assert_eq!(number(&memory, "AvailableMBytes"), available / 1024);

    // Network interfaces: every one but loopback, received bytes between two reads.
    let rx = |name: &str| -> u64 {
        std::fs::read_to_string(format!("/sys/class/net/{name}/statistics/rx_bytes"))
            .expect("rx_bytes")
            .trim()
            .parse()
            .expect("a number")
    };
    let links = ip_json(&["link"]);
    let wanted: Vec<&str> = links
        .iter()
        .filter(|l| l["link_type"] != "loopback")
        .filter_map(|l| l["ifname"].as_str())
        .collect();
    let before: Vec<u64> = wanted.iter().map(|n| rx(n)).collect();
    let interfaces = enumerate_all(&f, "Win32_PerfRawData_Tcpip_NetworkInterface");
    let after: Vec<u64> = wanted.iter().map(|n| rx(n)).collect();
    let mut items = Vec::new();
    all(
        &interfaces,
        "Win32_PerfRawData_Tcpip_NetworkInterface",
        &mut items,
    );
    assert_eq!(items.len(), wanted.len(), "{}", interfaces.to_xml());
    for (i, name) in wanted.iter().enumerate() {
        let item = item_with(
            &interfaces,
            "Win32_PerfRawData_Tcpip_NetworkInterface",
            "Name",
            name,
        );
        let received = number(item, "BytesReceivedPersec");
        assert!(
            (before[i]..=after[i]).contains(&received),
            "{name}: {received}"
        );
    }
}

/// Whether process `pid` still runs (a zombie waiting for its parent has ended).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

/// A service account that runs as `nobody` and is no administrator.
pub(crate) const PLAIN: &str = "plainsvc";
pub(crate) const PLAIN_PASSWORD: &str = "Plain-Svc-Pass1";

/// A daemon whose RootSDDL admits every user, with [`PLAIN`]: what a non-administrator is
/// then refused or not shown is the class's own doing, not RootSDDL's.
pub(crate) fn fixture_with_plain_account() -> Fixture {
    let f = Fixture::http_with(|c| {
        c.set(
            "Config.Service",
            "RootSDDL",
            "\"O:NSG:BAD:P(A;;GA;;;BA)(A;;GA;;;BU)\"",
        );
    });
    f.config.add_account(PLAIN, PLAIN_PASSWORD, Some("nobody"));
    f
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

/// `date` in the zone `tz`, formatted by `format`.
fn date_in(tz: &str, format: &str) -> String {
    let out = std::process::Command::new("date")
        .env("TZ", tz)
        .arg(format)
        .output()
        .expect("run date");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn local_time_and_the_time_zone_follow_the_hosts_zone() {
    // A zone without daylight saving and with a half-hour offset, so neither the date of the
    // test nor a whole-hour shortcut can pass by chance.
    const ZONE: &str = "Asia/Kolkata";
    if !std::path::Path::new("/usr/share/zoneinfo/Asia/Kolkata").exists() {
        assert!(
            std::env::var_os("WSMAN_TEST_REQUIRE_SYSTEMD").is_none(),
            "tzdata is required"
        );
        eprintln!("skipped: no zoneinfo database (Debian's tzdata)");
        return;
    }
    let f = Fixture::http_with_env(|_| {}, &[("TZ", ZONE)]);
    let offset = date_in(ZONE, "+%z"); // +0530
    let sign = if offset.starts_with('-') { -1 } else { 1 };
    let minutes: i64 = sign
        * (offset[1..3].parse::<i64>().expect("hours") * 60
            + offset[3..5].parse::<i64>().expect("minutes"));

    let os = enumerate_all(&f, "Win32_OperatingSystem");
    assert_eq!(text_of(&os, "CurrentTimeZone"), Some(minutes.to_string()));
    // LocalDateTime is a cim:Datetime inside the property, in the zone's offset.
    let mut local = Vec::new();
    all(&os, "LocalDateTime", &mut local);
    let local = local.first().expect("LocalDateTime").to_xml();
    let suffix = format!("{}:{}<", &offset[..3], &offset[3..5]);
    assert!(local.contains(&suffix), "{local} in {suffix}");

    // The clock's fields are the zone's wall clock: read `date` before and after, and the
    // answer is one of the two (a minute may turn meanwhile).
    let before = date_in(ZONE, "+%Y %-m %-d %-H %-M");
    let body = enumerate_all(&f, "Win32_LocalTime");
    let after = date_in(ZONE, "+%Y %-m %-d %-H %-M");
    let fields = ["Year", "Month", "Day", "Hour", "Minute"]
        .map(|name| text_of(&body, name).unwrap_or_default())
        .join(" ");
    assert!(
        fields == before || fields == after,
        "Win32_LocalTime {fields:?}, date said {before:?} then {after:?}"
    );
}

#[test]
fn formatted_processor_percentages_see_a_busy_processor() {
    const CLASS: &str = "Win32_PerfFormattedData_PerfOS_Processor";
    let f = Fixture::http();
    // Processor 0 kept busy by a loop pinned to it: whatever else runs, it is never idle.
    let busy = Sleeper(
        std::process::Command::new("taskset")
            .args(["-c", "0", "sh", "-c", "while :; do :; done"])
            .spawn()
            .expect("run taskset"),
    );
    // The first query samples on its own; the second counts from the first.
    for _ in 0..2 {
        let body = enumerate_all(&f, CLASS);
        let mut items = Vec::new();
        all(&body, CLASS, &mut items);
        let logical = std::fs::read_to_string("/proc/stat")
            .expect("/proc/stat")
            .lines()
            .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
            .count();
        assert_eq!(items.len(), logical + 1, "each processor and _Total");
        assert_eq!(
            text_of(items[items.len() - 1], "Name").as_deref(),
            Some("_Total")
        );
        for item in &items {
            let percent = |name| number(item, name);
            let (busy, idle) = (percent("PercentProcessorTime"), percent("PercentIdleTime"));
            assert!(busy <= 100 && idle <= 100);
            // Each is truncated on its own: together 98 to 100.
            assert!((98..=100).contains(&(busy + idle)), "{}", item.to_xml());
            assert!(
                percent("PercentUserTime")
                    + percent("PercentPrivilegedTime")
                    + percent("PercentInterruptTime")
                    <= busy,
                "{}",
                item.to_xml()
            );
        }
        let zero = item_with(&body, CLASS, "Name", "0");
        assert!(
            number(zero, "PercentProcessorTime") >= 80,
            "processor 0 runs a busy loop: {}",
            zero.to_xml()
        );
    }
    drop(busy);
}

#[test]
fn formatted_logical_disk_counters_see_free_space_and_writes() {
    const CLASS: &str = "Win32_PerfFormattedData_PerfDisk_LogicalDisk";
    let f = Fixture::http();
    let dir = tempfile::tempdir_in("/var/tmp").expect("a directory on a disk");
    let target = Command::new("df")
        .args(["--output=target"])
        .arg(dir.path())
        .output()
        .expect("run df");
    let mount = String::from_utf8_lossy(&target.stdout)
        .lines()
        .nth(1)
        .expect("a mount point")
        .trim()
        .to_owned();

    let (_, size, avail_before) = df(&mount);
    let first = enumerate_all(&f, CLASS);
    let (_, _, avail_after) = df(&mount);
    let drive = item_with(&first, CLASS, "Name", &mount);
    let free_mb = number(drive, "FreeMegabytes");
    let mib = 1024 * 1024;
    let (low, high) = (avail_before.min(avail_after), avail_before.max(avail_after));
    assert!(
        (low / mib..=high / mib).contains(&free_mb),
        "FreeMegabytes {free_mb} vs df {low}..{high}"
    );
    assert_eq!(
        number(drive, "PercentFreeSpace"),
        free_mb * mib * 100 / size,
        "within a MiB of df: {}",
        drive.to_xml()
    );
    let mut items = Vec::new();
    all(&first, CLASS, &mut items);
    assert_eq!(
        text_of(items[items.len() - 1], "Name").as_deref(),
        Some("_Total")
    );

    // 16 MiB written past the page cache between two queries: the second counts them.
    let written = Command::new("dd")
        .args([
            "if=/dev/zero",
            "bs=1M",
            "count=16",
            "oflag=direct",
            "status=none",
        ])
        .arg(format!("of={}", dir.path().join("data").display()))
        .status()
        .expect("run dd");
    assert!(written.success());
    let second = enumerate_all(&f, CLASS);
    let drive = item_with(&second, CLASS, "Name", &mount);
    match text_of(drive, "DiskWriteBytesPersec").filter(|v| !v.is_empty()) {
        Some(rate) => {
            let rate: u64 = rate.parse().expect("a number");
            assert!(rate > 0, "16 MiB were written: {}", drive.to_xml());
            assert!(number(drive, "DiskWritesPersec") > 0);
            assert!(number(drive, "PercentDiskTime") <= 100);
        }
        // A drive without a block device of its own (overlay, network) has no rates.
        None => eprintln!("{mount}: no block device statistics; rates not checked"),
    }
}
