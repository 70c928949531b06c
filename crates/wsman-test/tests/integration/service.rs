//! `Win32_Service` against a real systemd booted as PID 1 of its own namespaces (see
//! `wsman_test::systemd`): every value checked against what `systemctl` inside that system
//! says, and every method's effect seen by `systemctl` too.

use wsman_proto::enumeration::dialect::ASSOCIATION as ASSOCIATION_FILTER;
use wsman_proto::ns::action;
use wsman_test::http::Response;
use wsman_test::systemd::BootedSystemd;
use wsman_test::{soap, SERVICE_ACCOUNT, SERVICE_PASSWORD};

use super::{expect_fault, MethodHost};

const URI: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Service";
const WQL: &str = "http://schemas.microsoft.com/wbem/wsman/1/WQL";
const PROBE: &str = "[Unit]\nDescription=wsmand probe service\nRequires=wsman-helper.service\n\
                     Wants=dbus.service\n\n[Service]\nUser=nobody\n\
                     ExecStart=/bin/sleep 1000\n\n[Install]\nWantedBy=multi-user.target\n";
const HELPER: &str = "[Unit]\nDescription=wsmand helper\n\n[Service]\nType=oneshot\n\
                      ExecStart=/bin/true\nRemainAfterExit=yes\n";
/// A service account that is not an administrator (its shells run as nobody).
const PLAIN: &str = "plainsvc";
const PLAIN_PASSWORD: &str = "Plain-Svc-Pass1";

/// The host of the Win32_Service tests.
enum ServiceTests {}
type Host = MethodHost<ServiceTests>;

impl Host {
    fn start(bus_address: &str) -> Host {
        let env = [("DBUS_SYSTEM_BUS_ADDRESS", bus_address)];
        Host::new((PLAIN, PLAIN_PASSWORD), |_| {}, &env)
    }

    fn get(&self, name: &str) -> Response {
        self.post(&soap::get(URI, &[("Name", name)]))
    }

    fn invoke_as(&self, user: (&str, &str), method: &str, name: &str, input: &str) -> Response {
        let body = format!("<p:{method}_INPUT xmlns:p=\"{URI}\">{input}</p:{method}_INPUT>");
        let request = soap::request(&format!("{URI}/{method}"), URI, &[("Name", name)], &body);
        self.post_as(user.0, user.1, &request)
    }

    /// The items of an association Enumerate (one response), as text.
    fn associated(&self, name: &str, kind: &str, extra: &str) -> String {
        let r = self.post(&association_request(name, kind, extra));
        assert_eq!(r.status, 200, "{}", r.describe());
        let text = r.text();
        assert!(text.contains("EndOfSequence"), "{text}");
        text
    }

    /// The ReturnValue of a method called as the administrator.
    fn invoke(&self, method: &str, name: &str, input: &str) -> String {
        let r = self.invoke_as((SERVICE_ACCOUNT, SERVICE_PASSWORD), method, name, input);
        return_value(&r)
    }
}

/// An Enumerate of `cimv2/*` with an association filter from the Win32_Service `name`.
fn association_request(name: &str, kind: &str, extra: &str) -> String {
    let body = format!(
        "<n:Enumerate xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\" \
         xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" \
         xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
         xmlns:b=\"http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd\">\
         <w:OptimizeEnumeration/><w:MaxElements>32000</w:MaxElements>\
         <w:Filter Dialect=\"{ASSOCIATION_FILTER}\"><b:{kind}><b:Object>\
         <a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address>\
         <a:ReferenceParameters><w:ResourceURI>{URI}</w:ResourceURI><w:SelectorSet>\
         <w:Selector Name=\"Name\">{name}</w:Selector></w:SelectorSet></a:ReferenceParameters>\
         </b:Object>{extra}</b:{kind}></w:Filter></n:Enumerate>"
    );
    let all = URI.replace("Win32_Service", "*");
    soap::request(action::ENUMERATE, &all, &[], &body)
}

/// The Name of every `class` item of a response.
fn names_of(response: &str, class: &str) -> Vec<String> {
    response
        .split(&format!("<p:{class} "))
        .skip(1)
        .filter_map(|item| {
            let start = item.find("<p:Name>")? + "<p:Name>".len();
            let end = item[start..].find("</p:Name>")?;
            Some(item[start..start + end].to_owned())
        })
        .collect()
}

fn return_value(r: &Response) -> String {
    assert_eq!(r.status, 200, "{}", r.describe());
    soap::find_text(&r.text(), "ReturnValue").unwrap_or_else(|| panic!("{}", r.describe()))
}

fn property(r: &Response, name: &str) -> String {
    assert_eq!(r.status, 200, "{}", r.describe());
    soap::find_text(&r.text(), name).unwrap_or_else(|| panic!("no {name} in\n{}", r.describe()))
}

#[test]
fn win32_service_reads_and_controls_systemd_units() {
    let Some(systemd) = BootedSystemd::boot() else {
        return;
    };
    systemd.write_file("/lib/systemd/system/wsman-probe.service", PROBE);
    systemd.write_file("/etc/systemd/system/wsman-helper.service", HELPER);
    systemd.exec_ok(&["systemctl", "daemon-reload"]);
    let host = Host::start(&systemd.bus_address());

    get_shows_what_systemctl_shows(&host, &systemd);
    wql_enumeration_lists_every_unit_file(&host, &systemd);
    start_is_refused_to_others_and_runs_the_unit(&host, &systemd);
    start_modes_enable_mask_and_disable(&host, &systemd);
    stop_stops_the_unit(&host, &systemd);
    dependencies_are_requires_and_wants(&host, &systemd);
    names_that_are_no_service_do_not_exist(&host);
    super::cim_server_2012::assert_answers_like_server_2012(
        &|body| host.post(body),
        "Win32_Service",
    );
    drop(host);
}

/// Get: a running unit and the probe, their values as systemctl shows them.
fn get_shows_what_systemctl_shows(host: &Host, systemd: &BootedSystemd) {
    // Get: a running unit of the booted system, its values as systemctl shows them.
    let r = host.get("dbus");
    assert_eq!(property(&r, "Name"), "dbus");
    assert_eq!(property(&r, "State"), "Running");
    assert_eq!(property(&r, "Started"), "true");
    assert_eq!(
        property(&r, "ProcessId"),
        systemd.unit_property("dbus.service", "MainPID")
    );
    assert_eq!(
        property(&r, "DisplayName"),
        systemd.unit_property("dbus.service", "Description")
    );

    // The probe: installed, not enabled, stopped, running as nobody.
    let r = host.get("wsman-probe");
    assert_eq!(property(&r, "State"), "Stopped");
    assert_eq!(property(&r, "StartMode"), "Manual");
    assert_eq!(property(&r, "StartName"), "nobody");
    assert_eq!(property(&r, "PathName"), "/bin/sleep 1000");
    assert_eq!(property(&r, "ProcessId"), "0");
}

/// Enumerate with WQL: every unit file systemctl lists is an instance.
fn wql_enumeration_lists_every_unit_file(host: &Host, systemd: &BootedSystemd) {
    // Enumerate with WQL: every unit file systemctl lists (templates and aliases aside) is an
    // instance, with the state systemctl gives it.
    let query = "SELECT Name, State FROM Win32_Service";
    let enumerate = format!(
        "<n:Enumerate xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\" \
         xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\">\
         <w:OptimizeEnumeration/><w:MaxElements>32000</w:MaxElements>\
         <w:Filter Dialect=\"{WQL}\">{query}</w:Filter></n:Enumerate>"
    );
    let r = host.post(&soap::request(action::ENUMERATE, URI, &[], &enumerate));
    assert_eq!(r.status, 200, "{}", r.describe());
    let text = r.text();
    assert!(text.contains("EndOfSequence"), "{text}");
    let units = systemd.service_unit_files();
    for (unit, _) in &units {
        let name = unit.trim_end_matches(".service");
        assert!(
            text.contains(&format!("<Name>{name}</Name>")),
            "{name} missing from the enumeration\n{text}"
        );
    }
    assert!(
        units.len() > 5,
        "only {} units listed: {units:?}",
        units.len()
    );
}

/// Start: refused to a caller who is not an administrator, then run by systemd.
fn start_is_refused_to_others_and_runs_the_unit(host: &Host, systemd: &BootedSystemd) {
    // A caller who is not an administrator: access denied as a ReturnValue, nothing started.
    let r = host.invoke_as((PLAIN, PLAIN_PASSWORD), "StartService", "wsman-probe", "");
    assert_eq!(return_value(&r), "2");
    assert_eq!(
        systemd.unit_property("wsman-probe.service", "ActiveState"),
        "inactive"
    );

    // Start: systemd runs it; starting again is "already running".
    assert_eq!(host.invoke("StartService", "wsman-probe", ""), "0");
    assert_eq!(
        systemd.unit_property("wsman-probe.service", "ActiveState"),
        "active"
    );
    let r = host.get("wsman-probe");
    assert_eq!(property(&r, "State"), "Running");
    assert_eq!(
        property(&r, "ProcessId"),
        systemd.unit_property("wsman-probe.service", "MainPID")
    );
    assert_eq!(host.invoke("StartService", "wsman-probe", ""), "10");
}

/// `<p:StartMode>` with `mode`, ChangeStartMode's parameter.
fn start_mode(mode: &str) -> String {
    format!("<p:StartMode>{mode}</p:StartMode>")
}

/// Start modes as systemd unit file states; a driver's or no start mode refused.
fn start_modes_enable_mask_and_disable(host: &Host, systemd: &BootedSystemd) {
    // Start modes: Automatic enables, Disabled masks, Manual disables (and unmasks).
    for (mode, unit_file_state) in [
        ("Automatic", "enabled"),
        ("Disabled", "masked"),
        ("Manual", "disabled"),
    ] {
        assert_eq!(
            host.invoke("ChangeStartMode", "wsman-probe", &start_mode(mode)),
            "0",
            "{mode}"
        );
        assert_eq!(
            systemd.unit_property("wsman-probe.service", "UnitFileState"),
            unit_file_state,
            "{mode}"
        );
        if mode == "Automatic" {
            assert_eq!(property(&host.get("wsman-probe"), "StartMode"), "Auto");
        }
    }
    // The parameter's name without case, as WMI reads it.
    for (element, mode, unit_file_state) in [
        ("startmode", "Automatic", "enabled"),
        ("STARTMODE", "Manual", "disabled"),
    ] {
        let parameter = format!("<p:{element}>{mode}</p:{element}>");
        assert_eq!(
            host.invoke("ChangeStartMode", "wsman-probe", &parameter),
            "0",
            "{element}"
        );
        assert_eq!(
            systemd.unit_property("wsman-probe.service", "UnitFileState"),
            unit_file_state,
            "{element}"
        );
    }
    // A driver's start mode: Windows' "invalid parameter" return value.
    assert_eq!(
        host.invoke("ChangeStartMode", "wsman-probe", &start_mode("Boot")),
        "21"
    );
    // Not a start mode, or none: a fault.
    for parameters in [start_mode("Sometimes"), String::new()] {
        let r = host.invoke_as(
            (SERVICE_ACCOUNT, SERVICE_PASSWORD),
            "ChangeStartMode",
            "wsman-probe",
            &parameters,
        );
        expect_fault(&r, "InvalidParameter");
    }
}

/// Stop: systemd stops it; stopping again cannot be done.
fn stop_stops_the_unit(host: &Host, systemd: &BootedSystemd) {
    assert_eq!(host.invoke("StopService", "wsman-probe", ""), "0");
    assert_eq!(
        systemd.unit_property("wsman-probe.service", "ActiveState"),
        "inactive"
    );
    assert_eq!(host.invoke("StopService", "wsman-probe", ""), "5");
}

/// Win32_DependentService: the probe's Requires= and Wants= services as systemd lists them.
fn dependencies_are_requires_and_wants(host: &Host, systemd: &BootedSystemd) {
    let mut needed: Vec<String> = ["Requires", "Wants"]
        .iter()
        .flat_map(|p| {
            systemd
                .unit_property("wsman-probe.service", p)
                .split_whitespace()
                .filter(|u| u.ends_with(".service"))
                .map(|u| u.trim_end_matches(".service").to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    needed.sort();
    assert_eq!(needed, ["dbus", "wsman-helper"]);
    let associated = host.associated("wsman-probe", "AssociatedInstances", "<b:AssociationClassName>Win32_DependentService</b:AssociationClassName><b:Role>Dependent</b:Role><b:ResultRole>Antecedent</b:ResultRole>");
    let mut names = names_of(&associated, "Win32_Service");
    names.sort();
    assert_eq!(names, needed, "{associated}");
    // The other way: the helper is needed by the probe.
    let dependents = host.associated(
        "wsman-helper",
        "AssociatedInstances",
        "<b:Role>Antecedent</b:Role>",
    );
    assert_eq!(
        names_of(&dependents, "Win32_Service"),
        ["wsman-probe"],
        "{dependents}"
    );
    // The association instances themselves, with the kind of dependency.
    let references = host.associated(
        "wsman-probe",
        "AssociationInstances",
        "<b:ResultClassName>Win32_DependentService</b:ResultClassName><b:Role>Dependent</b:Role>",
    );
    assert_eq!(
        references.matches("<p:Win32_DependentService").count(),
        2,
        "{references}"
    );
    assert!(
        references.contains("<p:TypeOfDependency>3</p:TypeOfDependency>"),
        "{references}"
    );
    assert!(
        references.contains("<p:TypeOfDependency>1</p:TypeOfDependency>"),
        "{references}"
    );
    // An object that does not exist.
    let r = host.post(&association_request(
        "no-such-unit",
        "AssociatedInstances",
        "",
    ));
    expect_fault(&r, "DestinationUnreachable");
}

/// Names that are no service: the instance does not exist.
fn names_that_are_no_service_do_not_exist(host: &Host) {
    for name in ["no-such-unit", "../../etc/passwd", "getty@"] {
        expect_fault(&host.get(name), "DestinationUnreachable");
    }
    let r = host.invoke_as(
        (SERVICE_ACCOUNT, SERVICE_PASSWORD),
        "StartService",
        "no-such-unit",
        "",
    );
    expect_fault(&r, "DestinationUnreachable");
}

#[test]
fn win32_service_without_systemd_is_a_fault_and_other_classes_still_answer() {
    let host = Host::start("unix:path=/nonexistent/wsmand-test-bus");
    let r = host.get("ssh");
    let fault = expect_fault(&r, "InternalError");
    assert!(fault.reason.contains("systemd"), "{}", r.describe());
    let r = host.post(&soap::get(
        "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Process",
        &[("Handle", &std::process::id().to_string())],
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
}

#[test]
fn win32_operating_system_reboot_goes_through_systemd_for_administrators_only() {
    let Some(systemd) = BootedSystemd::boot() else {
        return;
    };
    let host = Host::start(&systemd.bus_address());
    let os = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_OperatingSystem";
    let reboot = |user: &str, password: &str| {
        let body = format!("<p:Reboot_INPUT xmlns:p=\"{os}\"/>");
        let r = host.post_as(
            user,
            password,
            &soap::request(&format!("{os}/Reboot"), os, &[], &body),
        );
        return_value(&r)
    };
    // Not an administrator: refused, and the system keeps running.
    assert_eq!(reboot(PLAIN, PLAIN_PASSWORD), "2");
    let state = systemd.exec(&["systemctl", "is-system-running"]);
    assert!(
        ["running", "degraded"].contains(&state.stdout.trim()),
        "{}",
        state.describe()
    );
    // The administrator: systemd takes the reboot job and the booted system goes down (its
    // PID 1 ends, as a container's init does on reboot).
    assert_eq!(reboot(SERVICE_ACCOUNT, SERVICE_PASSWORD), "0");
    let proc_entry = std::path::PathBuf::from(format!("/proc/{}", systemd.pid()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while proc_entry.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the booted systemd did not go down after Reboot\n{}",
            systemd.console()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
