//! Put of `Win32_OperatingSystem.Description` (the computer description, kept as
//! `PRETTY_HOSTNAME` in the machine-info file the test's `host.toml` names, never the
//! machine's own), with recorded requests as input: the Put of MS-WSMV 4.1.3 and the Put that
//! PowerShell's `Set-CimInstance` sends through Windows' MI client, as OMI recorded it. Neither
//! recording addresses Win32_OperatingSystem (4.1.3 changes `Data1` of a `myclass`, the MI
//! client `Last` of an `MSFT_Person`), so each is sent with its class's names mapped to ours
//! (the table of each test) and every other byte as recorded: the pretty-printed envelope
//! and `cim:Location` of 4.1.3, the MI client's option list of modified properties, its
//! `xsi:type`s and nil properties, its OperationID and SequenceId.
//!
//! Checked: the PutResponse carries the instance as it is now (MS-WSMV 4.1.3), a Get shows
//! it, the file holds it; only an administrator may write it (a plain user and a member of the
//! WMI users group are refused with access denied, by the WMI descriptor by default and by
//! the class when an operator grants them Write); a property the class does not have, a
//! read-only one the MI client names as changed, and a description with a line break are
//! refused with `x:InvalidRepresentation`, and the file is left as it was.

use wsman_test::http::{self, Response};
use wsman_test::soap;
use wsman_test::{Fixture, SERVICE_ACCOUNT, SERVICE_PASSWORD};

use super::cim_corpus::recorded;
use super::expect_fault;

const OS: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_OperatingSystem";
/// A plain account (not an administrator) added to the fixture.
const PLAIN: &str = "plainput";
const PLAIN_PASSWORD: &str = "Plain-Put-Pass1";

/// The machine-info file of a fixture (in its configuration directory).
fn machine_info(f: &Fixture) -> std::path::PathBuf {
    f.config.path().join("machine-info")
}

/// What the machine-info file holds.
fn stored(f: &Fixture) -> String {
    std::fs::read_to_string(machine_info(f)).expect("read the machine-info file")
}

/// A daemon whose machine-info file is the fixture's own, seeded with another key, and with
/// a plain account; `root_sddl`: RootSDDL (the WMI descriptor's default follows it).
fn fixture(root_sddl: Option<&str>) -> Fixture {
    Fixture::http_with(|c| {
        let file = c.path().join("machine-info");
        std::fs::write(&file, "CHASSIS=vm\n").expect("seed the machine-info file");
        c.write_raw(
            "host.toml",
            &format!("machine_info = {:?}\n", file.display().to_string()),
        );
        if let Some(sddl) = root_sddl {
            c.set("Config.Service", "RootSDDL", &format!("{sddl:?}"));
        }
        c.add_account(PLAIN, PLAIN_PASSWORD, Some("nobody"));
    })
}

/// The key of this host's instance (a Get, as Set-CimInstance has the instance first).
fn instance_name(f: &Fixture) -> String {
    let r = f.post(&soap::get(OS, &[]));
    assert_eq!(r.status, 200, "{}", r.describe());
    let text = r.text();
    let start = text.find("<p:Name>").expect("Name") + "<p:Name>".len();
    let end = start + text[start..].find("</p:Name>").expect("</p:Name>");
    text[start..end].to_owned()
}

/// A recorded request with `(from, to)` replaced, in order (each must occur).
fn mapped(path: &str, table: &[(&str, &str)]) -> String {
    let mut text = recorded(path);
    for (from, to) in table {
        assert!(text.contains(from), "{path} has no {from:?}");
        text = text.replace(from, to);
    }
    text
}

/// MS-WSMV 4.1.3's Put, changing Description to the recording's value ("Test Message").
fn put_4_1_3(name: &str, property: &str) -> String {
    let uri = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/mynamespace/myclass";
    mapped(
        "transfer/put.ms-wsmv-4.1.3.request.xml",
        &[
            (uri, OS),
            ("<p:myclass", "<p:Win32_OperatingSystem"),
            ("</p:myclass>", "</p:Win32_OperatingSystem>"),
            (
                "<wsman:Selector Name=\"id\">1<",
                &format!("<wsman:Selector Name=\"Name\">{name}<"),
            ),
            ("<p:id>1</p:id>", &format!("<p:Name>{name}</p:Name>")),
            ("p:Data1>", &format!("p:{property}>")),
        ],
    )
}

/// The MI client's Put (Set-CimInstance), naming `property` as modified with `value`.
fn put_set_ciminstance(name: &str, property: &str, value: &str) -> String {
    mapped(
        "transfer/put.set-ciminstance.msft-person.request.xml",
        &[
            ("MSFT_Person", "Win32_OperatingSystem"),
            ("Name=\"Key\">1<", &format!("Name=\"Name\">{name}<")),
            (
                "p0:Key xsi:type=\"cim:cimString\">1</p0:Key",
                &format!("p0:Name xsi:type=\"cim:cimString\">{name}</p0:Name"),
            ),
            ("p0:Species ", "p0:BootDevice "),
            ("p0:First ", "p0:Organization "),
            ("p0:ExpensiveProperty ", "p0:PlusProductID "),
            (">Last<", &format!(">{property}<")),
            (
                "p0:Last xsi:type=\"cim:cimString\">Osama</p0:Last",
                &format!("p0:{property} xsi:type=\"cim:cimString\">{value}</p0:{property}"),
            ),
        ],
    )
}

fn description_in(r: &Response) -> Option<String> {
    let text = r.text();
    let start = text.find("<p:Description>")? + "<p:Description>".len();
    let end = start + text[start..].find("</p:Description>")?;
    Some(text[start..end].to_owned())
}

#[test]
fn the_ms_wsmv_4_1_3_put_changes_the_description_for_an_administrator() {
    let f = fixture(None);
    let name = instance_name(&f);
    let r = f.post(&put_4_1_3(&name, "Description"));
    assert_eq!(r.status, 200, "{}", r.describe());
    let text = r.text();
    assert!(text.contains("transfer/PutResponse"), "{text}");
    assert!(
        text.contains("<a:RelatesTo>uuid:D1408048-E0F6-4C6D-8B8A-515B9F7B641C</a:RelatesTo>"),
        "{text}"
    );
    // The instance as it is now, as 4.1.3's answer carries it.
    assert_eq!(
        description_in(&r).as_deref(),
        Some("Test Message"),
        "{text}"
    );
    assert_eq!(stored(&f), "CHASSIS=vm\nPRETTY_HOSTNAME=\"Test Message\"\n");
    let got = f.post(&soap::get(OS, &[]));
    assert_eq!(description_in(&got).as_deref(), Some("Test Message"));
}

#[test]
fn set_ciminstance_changes_the_description_it_names() {
    let f = fixture(None);
    let name = instance_name(&f);
    let r = f.post(&put_set_ciminstance(
        &name,
        "Description",
        "Rack 4, web front",
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(description_in(&r).as_deref(), Some("Rack 4, web front"));
    assert!(
        r.text()
            .contains("uuid:E0D1E346-8E68-4345-80E9-3D56D3F20812"),
        "{}",
        r.text()
    );
    assert_eq!(
        stored(&f),
        "CHASSIS=vm\nPRETTY_HOSTNAME=\"Rack 4, web front\"\n"
    );
}

/// Every refusal leaves the file as it was.
fn assert_unchanged(f: &Fixture) {
    assert_eq!(stored(f), "CHASSIS=vm\n");
}

#[test]
fn only_administrators_may_put_the_description() {
    let wmi_user = super::wmi_access::account("WMI");
    // RootSDDL at its default (administrators): the WMI descriptor refuses the others Write.
    // RootSDDL granting every user: the class refuses whoever is not an administrator.
    for root_sddl in [None, Some("O:NSG:BAD:P(A;;GA;;;BA)(A;;GA;;;BU)")] {
        let f = fixture(root_sddl);
        let name = instance_name(&f);
        let put = put_4_1_3(&name, "Description");
        let r = http::post_as(f.port, PLAIN, PLAIN_PASSWORD, &put);
        expect_fault(&r, "AccessDenied");
        if let Some((user, password)) = &wmi_user {
            let r = http::post_as(f.port, user, password, &put);
            expect_fault(&r, "AccessDenied");
        }
        assert_unchanged(&f);
        if root_sddl.is_some() {
            // Refused by the class, and logged with who asked.
            let log = f.daemon.stderr();
            assert!(
                log.contains("Put of Win32_OperatingSystem refused") && log.contains(PLAIN),
                "{log}"
            );
        }
        let r = http::post_as(f.port, SERVICE_ACCOUNT, SERVICE_PASSWORD, &put);
        assert_eq!(r.status, 200, "{:?}: {}", root_sddl, r.describe());
    }
}

#[test]
fn unknown_and_read_only_properties_and_line_breaks_are_refused() {
    let f = fixture(None);
    let name = instance_name(&f);
    // 4.1.3's own property: Win32_OperatingSystem has no Data1.
    let r = f.post(&put_4_1_3(&name, "Data1"));
    let fault = expect_fault(&r, "InvalidRepresentation");
    assert!(fault.reason.contains("Data1"), "{}", fault.reason);
    // The MI client names Caption as changed: read-only in Windows' MOF.
    let r = f.post(&put_set_ciminstance(&name, "Caption", "Not Linux"));
    let fault = expect_fault(&r, "InvalidRepresentation");
    assert!(fault.reason.contains("read-only"), "{}", fault.reason);
    // A line break would add another key to the file.
    let r = f.post(&put_set_ciminstance(
        &name,
        "Description",
        "a&#10;CHASSIS=server",
    ));
    expect_fault(&r, "InvalidRepresentation");
    assert_unchanged(&f);
}
