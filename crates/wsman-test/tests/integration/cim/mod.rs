//! CIM/WMI classes over the wire: values checked against the Linux source they come from
//! (a process this test starts, /proc/meminfo), never against literals; WQL filters,
//! `SELECT a,b` fragments, paging, and the faults of bad class URIs, selectors and filters.

use std::process::{Child, Command};

use wsman_proto::ns::action;
use wsman_proto::xml::{self, Element, Limits};
use wsman_test::http::Response;
use wsman_test::soap;
use wsman_test::Fixture;

use super::{expect_fault, find_all};

mod perf;
mod process;
mod queries;
mod storage_network;
mod system;

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

/// A server and a settled process of this test for it to report on, with the process's pid.
fn server_and_sleeper() -> (Fixture, Sleeper, u32) {
    let f = Fixture::http();
    let child = Sleeper::start();
    let pid = child.pid();
    (f, child, pid)
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

/// A WQL Enumerate of `uri`, every item in the one answer.
fn wql(f: &Fixture, uri: &str, query: &str) -> Response {
    f.post(&soap::enumerate(
        uri,
        &enumerate_body(Some((WQL, query)), ""),
    ))
}

/// The elements named `name` anywhere in an answer that must be 200.
fn items_of(r: &Response, name: &str) -> Vec<Element> {
    assert_eq!(r.status, 200, "{}", r.describe());
    let body = parse(&r.text());
    let mut found = Vec::new();
    find_all(&body, name, &mut found);
    found.into_iter().cloned().collect()
}

fn parse(text: &str) -> Element {
    xml::parse(text, &Limits::default()).expect("response is XML")
}

fn text_of(e: &Element, name: &str) -> Option<String> {
    let mut found = Vec::new();
    find_all(e, name, &mut found);
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

/// Enumerate every instance of `class` (optimized, one response).
fn enumerate_all(f: &Fixture, class: &str) -> Element {
    let r = f.post(&soap::enumerate(
        &format!("{WMI}{class}"),
        &enumerate_body(None, ""),
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    parse(&r.text())
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
    find_all(e, name, &mut found);
    found.iter().map(|e| e.trimmed_text()).collect()
}

/// The item of `class` whose `key` is `value`.
fn item_with<'a>(body: &'a Element, class: &str, key: &str, value: &str) -> &'a Element {
    let mut items = Vec::new();
    find_all(body, class, &mut items);
    items
        .into_iter()
        .find(|i| text_of(i, key).as_deref() == Some(value))
        .unwrap_or_else(|| panic!("no {class} with {key} = {value}\n{}", body.to_xml()))
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
