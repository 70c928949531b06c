//! The policy overlay: policy.d values win, are shown with Source="GPO", and cannot be Put.

use wsman_proto::ns;
use wsman_test::{soap, Fixture};

use crate::expect_fault;

const POLICY: &str = "[Config]\nMaxTimeoutms = 120000\n";

fn with_policy() -> Fixture {
    Fixture::http_with(|config| {
        config.set("Config", "MaxTimeoutms", "90000");
        config.write_policy("50-timeouts", POLICY);
    })
}

#[test]
fn policy_value_wins_and_is_marked_gpo_on_the_wire() {
    let fixture = with_policy();
    let response = fixture.post(&soap::get(soap::CONFIG_URI, &[]));
    assert_eq!(response.status, 200, "{}", response.describe());
    let body = response.text();
    assert_eq!(
        soap::find_text(&body, "MaxTimeoutms").as_deref(),
        Some("120000"),
        "{body}"
    );
    let element = soap::find_element(&body, "MaxTimeoutms").expect("MaxTimeoutms element");
    assert_eq!(
        element.attr("Source"),
        Some("GPO"),
        "a policy value must carry Source=\"GPO\":\n{body}"
    );
}

#[test]
fn put_on_a_policy_value_is_refused_and_changes_nothing() {
    let fixture = with_policy();
    let body = soap::request(
        ns::action::PUT,
        soap::CONFIG_URI,
        &[],
        &format!(
            "<cfg:Config xmlns:cfg=\"{}\"><cfg:MaxTimeoutms>100000</cfg:MaxTimeoutms></cfg:Config>",
            ns::CONFIG
        ),
    );
    let response = fixture.post(&body);
    let fault = expect_fault(&response, "AccessDenied");
    assert_eq!(fault.wsman_code.as_deref(), Some("2150858890"));
    let stored =
        std::fs::read_to_string(fixture.config.path().join("config.toml")).expect("config.toml");
    assert!(
        stored.contains("90000") && !stored.contains("100000"),
        "the stored configuration must be unchanged:\n{stored}"
    );
}

#[test]
fn winrm_get_shows_source_gpo() {
    let fixture = with_policy();
    let finished = fixture.winrm_remote(&["get", "winrm/config"]);
    finished.assert_printed_lines(&["MaxTimeoutms = 120000 [Source=\"GPO\"]"]);
    let finished = fixture.winrm_remote(&["set", "winrm/config", "@{MaxTimeoutms=\"100000\"}"]);
    assert_ne!(finished.code(), 0, "{}", finished.describe());
}
