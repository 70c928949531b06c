use super::*;

#[test]
fn a_fault_is_explained_and_its_raw_markup_stays_text() {
    let raw = "WS-Management fault w:InternalError: <script>alert(1)</script> /run/dbus/system_bus_socket";
    let shown = fault(raw).into_string();
    assert!(shown.contains("service manager"), "{shown}");
    assert!(
        shown.contains("<details><summary>Details</summary>"),
        "{shown}"
    );
    assert!(
        shown.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{shown}"
    );
    assert!(!shown.contains("<script>"), "{shown}");
}

#[test]
fn the_login_page_names_manager_users_only_where_they_may_log_in() {
    let with = login(None, "t", true).into_string();
    assert!(with.contains("Your account on this machine, or a manager user."));
    let without = login(None, "t", false).into_string();
    assert!(without.contains("Your account on this machine.") && !without.contains("manager"));
}

#[test]
fn a_service_links_to_its_own_log() {
    assert_eq!(log_source("cron.service"), "cron");
    assert_eq!(log_source("Spooler"), "Spooler");
    let row = ServiceRow {
        name: "<b>odd</b>".to_owned(),
        display_name: "<i>odd</i>".to_owned(),
        state: "Running".to_owned(),
        start_mode: "Auto".to_owned(),
        status: "OK".to_owned(),
        exit_code: 0,
    };
    let viewer = Viewer {
        user: "u",
        csrf: "t",
    };
    let page = services(&viewer, "web1", "", &Ok(vec![row]), &TableQuery::parse("")).into_string();
    assert!(
        page.contains(r#"href="/hosts/web1/events?source=%3Cb%3Eodd%3C%2Fb%3E""#),
        "{page}"
    );
    assert!(page.contains("&lt;i&gt;odd&lt;/i&gt;") && !page.contains("<i>odd</i>"));
    // Its tab is the one marked as the page shown.
    assert!(page.contains(r#"<a href="/hosts/web1/services" aria-current="page">Services</a>"#));
    assert_eq!(page.matches("aria-current").count(), 1, "{page}");
}
