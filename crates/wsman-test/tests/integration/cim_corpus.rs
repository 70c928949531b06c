//! The Windows fidelity corpus: every recorded Windows answer to a CIM/WMI request that public
//! client test suites hold (listed, with provenance, in the Windows fixtures' README) held
//! against the daemon's answer to the same request, by structure ([`wsman_test::shape`]): the
//! envelope's elements and namespaces, the instance element, `xsi:type` and the namespaces it
//! declares, the properties in order and the kind of each value, a fault's action, Code,
//! Subcode, detail and WSManFault code. Values differ, structure does not. One test per
//! recording; where wsmand knowingly differs, `docs/windows-quirks.md` says why and the test
//! holds the difference to what that file says.
//!
//! The Get, Put, Delete and Invoke of what does not exist (`fault.get-instance-not-found.xml`)
//! are held against the daemon in `cim_windows.rs`.

use std::collections::BTreeSet;

use wsman_proto::ns::{self, action, ENUMERATION};
use wsman_test::shape::{self, Answer, InstanceShape, Kind};
use wsman_test::soap;
use wsman_test::Fixture;

const WMI: &str = ns::WMI_CIMV2_PREFIX;
const PROCESS: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Process";

/// Win32_Process properties wsmand sends nil although Windows has a value: Linux has no
/// counterpart (`docs/windows-quirks.md`, "Win32_Process values against the recorded Windows
/// Server 2008 R2 enumeration").
const PROCESS_NIL_ON_LINUX: [&str; 8] = [
    "MaximumWorkingSetSize",
    "MinimumWorkingSetSize",
    "OtherOperationCount",
    "OtherTransferCount",
    "QuotaNonPagedPoolUsage",
    "QuotaPagedPoolUsage",
    "QuotaPeakNonPagedPoolUsage",
    "QuotaPeakPagedPoolUsage",
];

/// A recorded Windows message of the project's Windows fixtures.
pub(crate) fn recorded(path: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../wsman-proto/tests/fixtures/windows")
        .join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The shape of an answer, or the answer itself when it has none.
pub(crate) fn shape_of(text: &str) -> Answer {
    shape::answer(text).unwrap_or_else(|e| panic!("{e}:\n{text}"))
}

fn enumerate_body(optimize: bool) -> String {
    format!(
        "<n:Enumerate xmlns:n=\"{ENUMERATION}\" \
         xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\">{}</n:Enumerate>",
        if optimize {
            "<w:OptimizeEnumeration/><w:MaxElements>2</w:MaxElements>"
        } else {
            ""
        }
    )
}

/// Every answer of an enumeration of Win32_Process: the EnumerateResponse (with two items, as
/// recorded) and each PullResponse to its EndOfSequence.
fn enumerate_processes(f: &Fixture) -> (String, Vec<String>) {
    let r = f.post(&soap::enumerate(PROCESS, &enumerate_body(true)));
    assert_eq!(r.status, 200, "{}", r.describe());
    let first = r.text();
    let mut context = soap::find_text(&first, "EnumerationContext").expect("a context");
    let mut pulls = Vec::new();
    for _ in 0..10_000 {
        let body = format!(
            "<n:Pull xmlns:n=\"{ENUMERATION}\"><n:EnumerationContext>{context}\
             </n:EnumerationContext><n:MaxElements>50</n:MaxElements></n:Pull>"
        );
        let r = f.post(&soap::request(action::PULL, PROCESS, &[], &body));
        assert_eq!(r.status, 200, "{}", r.describe());
        let text = r.text();
        let next = soap::find_text(&text, "EnumerationContext")
            .filter(|_| soap::find_element(&text, "EndOfSequence").is_none());
        pulls.push(text);
        match next {
            Some(next) => context = next,
            None => return (first, pulls),
        }
    }
    panic!("the enumeration does not end");
}

/// Our instances against the recorded ones: no structural difference, and a property nil in
/// every one of ours where Windows has a value only if `nil_on_linux` names it.
fn assert_instances_like(ours: &[InstanceShape], windows: &[InstanceShape], nil_on_linux: &[&str]) {
    assert!(!ours.is_empty() && !windows.is_empty());
    let mut always_nil: Option<BTreeSet<String>> = None;
    for instance in ours {
        let found = instance.differences(windows);
        assert!(
            found.structure.is_empty(),
            "{:?}: {:#?}",
            instance.element,
            found.structure
        );
        always_nil = Some(match always_nil {
            None => found.nil_where_windows_has,
            Some(so_far) => &so_far & &found.nil_where_windows_has,
        });
    }
    let undocumented: Vec<String> = always_nil
        .unwrap_or_default()
        .into_iter()
        .filter(|p| !nil_on_linux.contains(&p.as_str()))
        .collect();
    assert!(
        undocumented.is_empty(),
        "nil in every instance where Windows has a value, not documented: {undocumented:?}"
    );
}

#[test]
fn win32_process_enumerate_response_as_recorded() {
    let windows = shape_of(&recorded(
        "enumerate/enumerate-wmi-win32_process.response.xml",
    ));
    let f = Fixture::http();
    let ours = shape_of(&enumerate_processes(&f).0);
    assert_eq!(ours.action, windows.action);
    assert_eq!(ours.fault, None);
    // The recording was trimmed upstream (no EndOfSequence): the elements it has, in order.
    let mut rest = ours.outline.iter();
    for element in &windows.outline {
        assert!(
            rest.any(|e| e == element),
            "{element:?} missing from (or out of order in) {:?}",
            ours.outline
        );
    }
    assert_eq!(ours.instances.len(), 2, "MaxElements 2, as recorded");
    assert_instances_like(&ours.instances, &windows.instances, &PROCESS_NIL_ON_LINUX);
}

#[test]
fn win32_process_pull_response_as_recorded() {
    let windows = shape_of(&recorded("enumerate/pull-wmi-win32_process.response.xml"));
    let f = Fixture::http();
    let pulls: Vec<Answer> = enumerate_processes(&f)
        .1
        .iter()
        .map(|t| shape_of(t))
        .collect();
    let last = pulls.last().expect("a PullResponse");
    assert_eq!(last.action, windows.action);
    let without_context = |a: &Answer| -> Vec<shape::Name> {
        a.outline
            .iter()
            .filter(|(_, n)| n != "EnumerationContext")
            .cloned()
            .collect()
    };
    assert_eq!(
        without_context(last),
        without_context(&windows),
        "the last PullResponse"
    );
    let ours: Vec<InstanceShape> = pulls.into_iter().flat_map(|a| a.instances).collect();
    assert_instances_like(&ours, &windows.instances, &PROCESS_NIL_ON_LINUX);
}

/// The namespaces a method's output declares, its class's own namespace left out (the
/// recordings are of other classes).
fn output_namespaces(output: &InstanceShape) -> BTreeSet<String> {
    let mut namespaces = output.namespaces.clone();
    namespaces.remove(&output.element.0);
    namespaces
}

/// A method's answer as Windows writes it: Action `<class URI>/<Method>Response`, a body of
/// one `<Method>_OUTPUT` element in the class's namespace without `xsi:type`, declaring what
/// Windows' declares, with an integer ReturnValue and each output parameter once (an array
/// repeated). Recorded for methods wsmand does not serve: held against Win32_Process.GetOwner.
fn assert_invoke_output_like(windows: &Answer) {
    let f = Fixture::http();
    let me = std::process::id().to_string();
    let r = f.post(&soap::request(
        &format!("{PROCESS}/GetOwner"),
        PROCESS,
        &[("Handle", &me)],
        &format!("<p:GetOwner_INPUT xmlns:p=\"{PROCESS}\"/>"),
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    let ours = shape_of(&r.text());
    assert_eq!(ours.action, format!("{PROCESS}/GetOwnerResponse"));
    let ([output], [recorded]) = (&ours.instances[..], &windows.instances[..]) else {
        panic!("one output element each: {ours:?} / {windows:?}");
    };
    let (class, method) = windows.action.rsplit_once('/').expect("Action");
    let method = method
        .strip_suffix("Response")
        .expect("a ...Response action");
    assert_eq!(
        recorded.element,
        (class.to_owned(), format!("{method}_OUTPUT")),
        "the recording's own shape"
    );
    assert_eq!(windows.outline, std::slice::from_ref(&recorded.element));
    assert_eq!(ours.outline, std::slice::from_ref(&output.element));
    assert_eq!(
        output.element,
        (PROCESS.to_owned(), "GetOwner_OUTPUT".to_owned())
    );
    assert_eq!(output.xsi_type, recorded.xsi_type, "xsi:type");
    assert_eq!(output_namespaces(output), output_namespaces(recorded));
    for answer in [output, recorded] {
        let return_values: Vec<Kind> = answer
            .properties
            .iter()
            .filter(|p| p.name == "ReturnValue")
            .map(|p| p.kind)
            .collect();
        assert_eq!(return_values, [Kind::Integer], "{answer:?}");
        let names = shape::property_names(answer);
        let distinct: BTreeSet<&&str> = names.iter().collect();
        assert_eq!(
            distinct.len(),
            names.len(),
            "each parameter once: {names:?}"
        );
    }
}

#[test]
fn cim_datafile_delete_output_as_recorded() {
    assert_invoke_output_like(&shape_of(&recorded(
        "transfer/invoke-wmi-method.response.xml",
    )));
}

#[test]
fn stdregprov_enumkey_output_as_recorded() {
    let windows = shape_of(&recorded("transfer/invoke-stdregprov-enumkey.response.xml"));
    // The array parameter is its element repeated, as wsmand writes arrays.
    assert!(windows.instances[0].properties.len() > 2);
    assert_invoke_output_like(&windows);
}

/// A WQL Enumerate of a class that does not exist (the recordings' own query) answers with the
/// recorded fault's action, Code, Subcode and WSManFault code, 2150858778.
fn assert_unknown_class_enumerate_as_recorded(recording: &str) {
    let windows = shape_of(&recorded(recording)).fault.expect("a fault");
    assert_eq!(windows.wsman_code.as_deref(), Some("2150858778"));
    let f = Fixture::http();
    let body = "<n:Enumerate><w:OptimizeEnumeration/><w:Filter \
         Dialect=\"http://schemas.microsoft.com/wbem/wsman/1/WQL\">\
         Select * from Win32_Processa where name=&quot;sshd.exe&quot;</w:Filter></n:Enumerate>";
    let r = f.post(&soap::enumerate(&format!("{WMI}*"), body));
    assert_eq!(r.status, 500, "{}", r.describe());
    assert_eq!(shape_of(&r.text()).fault, Some(windows));
}

#[test]
fn enumerate_of_an_unknown_class_as_recorded_by_2008_r2() {
    assert_unknown_class_enumerate_as_recorded("faults/fault.enumerate-class-not-found.xml");
}

/// The WinRM 1.1 recording (the "WMIv1 plugin").
#[test]
fn enumerate_of_an_unknown_class_as_recorded_by_winrm_1_1() {
    assert_unknown_class_enumerate_as_recorded(
        "faults/fault.enumerate-class-not-found.winrm-v1.xml",
    );
}

/// The answer a scenario of Microsoft's December 2006 interoperability workshop recorded
/// (Windows Vista's pre-release WinRM, "Stack: 1.0"): the body's contents only.
fn interop_response(description: &str) -> String {
    let text = recorded("interop/Scenarios.InteropWorkshop.Dec2006.MSFT.xml");
    let doc = roxmltree::Document::parse(&text).expect("the scenarios are XML");
    let scenario = doc
        .descendants()
        .find(|n| n.has_tag_name("Scenario") && n.attribute("Description") == Some(description))
        .unwrap_or_else(|| panic!("no scenario {description:?}"));
    let response = scenario
        .children()
        .find(|n| n.has_tag_name("Response"))
        .and_then(|r| r.children().find(roxmltree::Node::is_element))
        .unwrap_or_else(|| panic!("{description:?} records no answer"));
    text[response.range()].to_owned()
}

/// A 2006 scenario's answer in an envelope, so that it has a shape.
fn interop_scenario(description: &str) -> Answer {
    shape_of(&format!(
        "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body>{}</s:Body>\
         </s:Envelope>",
        interop_response(description)
    ))
}

/// The WSManFault code of a 2006 scenario, which records a fault's WSManFault alone.
fn interop_wsman_code(description: &str) -> String {
    let response = interop_response(description);
    let answer = interop_scenario(description);
    assert_eq!(
        answer.outline.first().map(|(_, n)| n.as_str()),
        Some("WSManFault"),
        "{response}"
    );
    shape::wsman_fault_code(&response)
        .expect("XML")
        .expect("a WSManFault code")
}

#[test]
fn get_of_an_unknown_class_as_recorded_in_2006() {
    let windows = interop_wsman_code("6.3 Get failure - invalid resoure URI");
    let f = Fixture::http();
    let r = f.post(&soap::get(&format!("{WMI}Win32_InvalidClass"), &[]));
    assert_eq!(r.status, 500, "{}", r.describe());
    let ours = shape_of(&r.text()).fault.expect("a fault");
    assert_eq!(ours.wsman_code, Some(windows));
}

/// A Get with a selector that is no key of the class: wsmand answers `w:InvalidSelectors` with
/// 2150858843, the code today's Windows gives that subcode (recorded for shells,
/// `fault.invalid-shellid.xml`); the 2006 pre-release answered 2150858813 for WMI. Which one
/// a released Windows gives a WMI Get is not recorded (`docs/windows-quirks.md`).
#[test]
fn get_with_a_selector_of_no_key_as_recorded_in_2006() {
    let windows = interop_wsman_code("6.5 Get failure - invalid selectors");
    assert_eq!(
        windows, "2150858813",
        "the difference the quirks file names"
    );
    let today = shape_of(&recorded("faults/fault.invalid-shellid.xml"))
        .fault
        .expect("a fault");
    let f = Fixture::http();
    let r = f.post(&soap::get(PROCESS, &[("InvalidKey", "0")]));
    assert_eq!(r.status, 500, "{}", r.describe());
    let ours = shape_of(&r.text()).fault.expect("a fault");
    assert_eq!(
        (&ours.code, &ours.subcode, &ours.wsman_code),
        (&today.code, &today.subcode, &today.wsman_code)
    );
}

/// A fragment Get (`Caption/text()` of Win32_OperatingSystem): the body is one
/// `w:XmlFragment` holding the text, as recorded.
#[test]
fn fragment_get_as_recorded_in_2006() {
    let windows = interop_scenario("6.7 Fragment Get");
    let f = Fixture::http();
    let request = soap::get(&format!("{WMI}Win32_OperatingSystem"), &[]).replace(
        "</s:Header>",
        "<w:FragmentTransfer s:mustUnderstand=\"true\" \
         Dialect=\"http://www.w3.org/TR/1999/REC-xpath-19991116\">Caption/text()\
         </w:FragmentTransfer></s:Header>",
    );
    let r = f.post(&request);
    assert_eq!(r.status, 200, "{}", r.describe());
    let ours = shape_of(&r.text());
    assert_eq!(ours.outline, windows.outline);
    assert!(ours.instances.is_empty() && windows.instances.is_empty());
    let caption = soap::find_text(&r.text(), "XmlFragment").expect("XmlFragment");
    assert!(!caption.is_empty(), "{}", r.describe());
}

/// The fixtures' README lists the corpus: every test it names exists in the file it names, and
/// the counts it states add up (tested plus not applicable).
#[test]
fn the_readme_lists_every_test_of_the_corpus() {
    let readme = recorded("README.md");
    let section = readme
        .split("## CIM/WMI answers covered by differential tests")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("the corpus section");
    let rows: Vec<&str> = section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| #"))
        .collect();
    let mut tested = 0;
    let mut not_applicable = 0;
    for row in rows {
        let number = row.split('|').nth(1).unwrap_or_default().trim();
        let count = match number.split_once('-') {
            Some((from, to)) => {
                to.parse::<usize>().expect("a range") - from.parse::<usize>().expect("a range") + 1
            }
            None => 1,
        };
        let cells: Vec<&str> = row.split('|').collect();
        let test = cells[cells.len() - 2];
        if test.contains("not applicable") {
            not_applicable += count;
            continue;
        }
        let names: Vec<&str> = test.split('`').collect();
        let (file, function) = (names[1], names[3]);
        let source = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/integration")
                .join(file),
        )
        .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            source.contains(&format!("fn {function}()")),
            "{file} has no test {function}"
        );
        tested += count;
    }
    // The counts the paragraph states, in its order: recordings, tested, not applicable.
    let paragraph = section.split("\n\n").nth(1).expect("the paragraph");
    let stated: Vec<usize> = paragraph
        .split("**")
        .skip(1)
        .step_by(2)
        .map(|n| n.parse().expect("a count in bold"))
        .collect();
    assert_eq!(stated, [tested + not_applicable, tested, not_applicable]);
}
