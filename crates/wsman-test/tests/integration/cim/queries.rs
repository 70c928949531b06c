//! Faults of bad class URIs, selectors and filters; the `winrm` CLI's Windows aliases; fragment
//! transfer.

use super::*;

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
        f.post(&soap::enumerate(uri, &enumerate_body(filter, "")))
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
    let (f, _child, pid) = server_and_sleeper();
    let filter = format!("-filter:SELECT * FROM Win32_Process WHERE ProcessId = {pid}");
    let out = f.winrm_remote(&["enumerate", "wmi/root/cimv2/*", &filter]);
    out.assert_printed(&format!("ProcessId = {pid}"));
    assert_eq!(
        out.stdout.lines().filter(|l| *l == "Win32_Process").count(),
        1,
        "{}",
        out.describe()
    );
    let out = f.winrm_remote(&["get", &format!("wmicimv2/Win32_Process?Handle={pid}")]);
    out.assert_printed("CommandLine = sleep 300");
    let out = f.winrm_remote(&["enumerate", "wmicimv2/Win32_OperatingSystem"]);
    out.assert_printed("OSType = 36");
}

#[test]
fn fragment_transfer_gets_one_property() {
    let (f, _child, pid) = server_and_sleeper();
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
    let fragments = items_of(&r, "XmlFragment");
    assert_eq!(fragments.len(), 1, "{}", r.text());
    assert_eq!(
        text_of(&fragments[0], "CommandLine").as_deref(),
        Some("sleep 300")
    );
    assert_eq!(text_of(&fragments[0], "Name"), None);
    let r = get("p:ProcessId/text()");
    let fragments = items_of(&r, "XmlFragment");
    assert_eq!(
        fragments.first().map(|f| f.trimmed_text()),
        Some(pid.to_string())
    );
    expect_fault(&get("NoSuchProperty"), "InvalidRepresentation");
}
