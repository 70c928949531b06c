//! Microsoft's form of the CIM class URIs, `http://schemas.microsoft.com/wbem/wscim/1/cim-schema/2/
//! <Class>` with a `__cimnamespace` selector (what OMI serves, and Windows' MI client and SCOM's
//! tools send), answered as the DMTF's `http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/` is:
//! a request Windows' MI client sent to OMI (recorded in microsoft/omi's tests) replayed, and
//! Get, Enumerate/Pull, Invoke and the association filter held against the DMTF form's answers.

use wsman_proto::enumeration::dialect::ASSOCIATION as ASSOCIATION_FILTER;
use wsman_proto::ns::action;
use wsman_test::soap;
use wsman_test::Fixture;

use super::cim_corpus::recorded;
use super::hardware::fixture_with_recorded_sysfs;

const MICROSOFT: &str = "http://schemas.microsoft.com/wbem/wscim/1/cim-schema/2/";
const DMTF: &str = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/";
const ENUMERATION: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration";
const CIMV2: (&str, &str) = ("__cimnamespace", "root/cimv2");

/// The text of every `name` element of `text`, in order.
fn texts(text: &str, name: &str) -> Vec<String> {
    let envelope = wsman_proto::xml::parse(text, &wsman_proto::xml::Limits::default())
        .unwrap_or_else(|e| panic!("{e:?}:\n{text}"));
    let mut out = Vec::new();
    let mut stack = vec![&envelope];
    while let Some(e) = stack.pop() {
        if e.name == name {
            out.push(e.trimmed_text());
        }
        stack.extend(e.elements().collect::<Vec<_>>().into_iter().rev());
    }
    out
}

/// The recorded request (`enumerate-cim-omi-prefix.request.windows-client.xml`, an Enumerate
/// of `.../wscim/1/cim-schema/2/OMI_Datetime` in root/cimv2 by Windows' MI client) for a class
/// wsmand serves: only the class name is replaced.
#[test]
fn the_recorded_mi_client_enumerate_gets_the_instances() {
    let recording = recorded("enumerate/enumerate-cim-omi-prefix.request.windows-client.xml");
    // The recording's own facts, so that the test replays what it means to.
    assert!(recording.contains(&format!("{MICROSOFT}OMI_Datetime</w:ResourceURI>")));
    assert!(recording.contains("<w:Selector Name=\"__cimnamespace\">root/cimv2</w:Selector>"));
    let f = Fixture::http();
    let r = f.post(&recording.replace("OMI_Datetime", "Win32_OperatingSystem"));
    assert_eq!(r.status, 200, "{}", r.describe());
    let text = r.text();
    assert!(
        soap::find_element(&text, "EndOfSequence").is_some(),
        "{text}"
    );
    assert_eq!(texts(&text, "OSType"), ["36"], "{text}");
    // The same instance the DMTF form and the WMI URI answer, under the DMTF class URI (as
    // OMI answers it: microsoft/omi's recorded answer to this request, test2.response.xml).
    let name = texts(&text, "Name");
    let r = f.post(&soap::get(
        &format!("{DMTF}Win32_OperatingSystem"),
        &[CIMV2],
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(texts(&r.text(), "Name"), name);
    assert!(
        text.contains(&format!("xmlns:p=\"{DMTF}Win32_OperatingSystem\"")),
        "{text}"
    );

    // Without the selector the class is looked for in root/hardware, as in the DMTF form.
    let without = recording.replace(
        "<w:SelectorSet><w:Selector Name=\"__cimnamespace\">root/cimv2</w:Selector></w:SelectorSet>",
        "",
    );
    assert_ne!(without, recording);
    let without = without.replace("OMI_Datetime", "Win32_OperatingSystem");
    let ours = f.post(&without);
    let dmtf = f.post(&without.replace(MICROSOFT, DMTF));
    assert_eq!(ours.status, 500, "{}", ours.describe());
    let kind = |text: &str| soap::fault(text).map(|f| (f.code, f.subcode, f.wsman_code));
    assert_eq!(
        kind(&ours.text()),
        kind(&dmtf.text()),
        "{}",
        ours.describe()
    );
}

/// Get, Enumerate and Pull, and Invoke through the Microsoft form, against the DMTF form's and
/// Linux's answers.
#[test]
fn get_enumerate_pull_and_invoke_as_in_the_dmtf_form() {
    let f = Fixture::http();
    let me = std::process::id().to_string();
    let process = format!("{MICROSOFT}Win32_Process");
    let selectors = [CIMV2, ("Handle", me.as_str())];
    let r = f.post(&soap::get(&process, &selectors));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(texts(&r.text(), "ProcessId"), std::slice::from_ref(&me));
    let dmtf = f.post(&soap::get(&format!("{DMTF}Win32_Process"), &selectors));
    assert_eq!(texts(&dmtf.text(), "Handle"), texts(&r.text(), "Handle"));

    // Enumerate, then Pull two at a time to the end: this process is among them.
    let body = format!(
        "<n:Enumerate xmlns:n=\"{ENUMERATION}\" \
         xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"/>"
    );
    let r = f.post(&soap::request(action::ENUMERATE, &process, &[CIMV2], &body));
    assert_eq!(r.status, 200, "{}", r.describe());
    let mut context = soap::find_text(&r.text(), "EnumerationContext").expect("a context");
    let mut handles = Vec::new();
    for _ in 0..100_000 {
        let pull = format!(
            "<n:Pull xmlns:n=\"{ENUMERATION}\"><n:EnumerationContext>{context}\
             </n:EnumerationContext><n:MaxElements>2</n:MaxElements></n:Pull>"
        );
        let r = f.post(&soap::request(action::PULL, &process, &[CIMV2], &pull));
        assert_eq!(r.status, 200, "{}", r.describe());
        let text = r.text();
        handles.extend(texts(&text, "Handle"));
        if soap::find_element(&text, "EndOfSequence").is_some() {
            break;
        }
        context = soap::find_text(&text, "EnumerationContext").expect("a context");
    }
    assert!(handles.contains(&me), "{handles:?}");

    // Invoke: the method's action in the same form.
    let r = f.post(&soap::request(
        &format!("{process}/GetOwner"),
        &process,
        &selectors,
        &format!("<p:GetOwner_INPUT xmlns:p=\"{process}\"/>"),
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(texts(&r.text(), "ReturnValue"), ["0"], "{}", r.describe());
    let owner = std::process::Command::new("id")
        .arg("-un")
        .output()
        .expect("id");
    let owner = String::from_utf8_lossy(&owner.stdout).trim().to_owned();
    assert_eq!(texts(&r.text(), "User"), [owner]);
}

/// The association filter on `*` of root/hardware, its object addressed in the Microsoft
/// form: the same instances as the DMTF form (the system's processors from the recorded DMI
/// tables and /proc/cpuinfo).
#[test]
fn association_filter_as_in_the_dmtf_form() {
    let f = fixture_with_recorded_sysfs();
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    let associated = |prefix: &str| {
        let body = format!(
            "<n:Enumerate xmlns:n=\"{ENUMERATION}\" \
             xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" \
             xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
             xmlns:b=\"http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd\">\
             <w:OptimizeEnumeration/><w:MaxElements>32000</w:MaxElements>\
             <w:Filter Dialect=\"{ASSOCIATION_FILTER}\"><b:AssociatedInstances><b:Object>\
             <a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous\
             </a:Address><a:ReferenceParameters><w:ResourceURI>{prefix}CIM_ComputerSystem\
             </w:ResourceURI><w:SelectorSet>\
             <w:Selector Name=\"__cimnamespace\">root/hardware</w:Selector>\
             <w:Selector Name=\"CreationClassName\">CIM_ComputerSystem</w:Selector>\
             <w:Selector Name=\"Name\">{}</w:Selector></w:SelectorSet></a:ReferenceParameters>\
             </b:Object><b:AssociationClassName>CIM_SystemDevice</b:AssociationClassName>\
             <b:ResultClassName>CIM_Processor</b:ResultClassName></b:AssociatedInstances>\
             </w:Filter></n:Enumerate>",
            hostname.trim()
        );
        let r = f.post(&soap::request(
            action::ENUMERATE,
            &format!("{prefix}*"),
            &[("__cimnamespace", "root/hardware")],
            &body,
        ));
        assert_eq!(r.status, 200, "{prefix}: {}", r.describe());
        texts(&r.text(), "DeviceID")
    };
    let dmtf = associated(DMTF);
    assert!(!dmtf.is_empty(), "the DMTF form finds the processors");
    assert_eq!(associated(MICROSOFT), dmtf);
}
