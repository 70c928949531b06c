//! The Events page's rights and saved views, over HTTP against the real console and a real
//! wsmand host: who may search which collector's store (the console's roles, in front of the
//! collector's own descriptor), and the views one user saves and others see, deleted only by
//! their author or a manager. The search itself, against a collector with the store, is
//! `browser_events.rs`'s.

mod common;
use common::{Layout, Service, MANAGER, MANAGER_PASSWORD};

const VIEWER: &str = "events-viewer";
const VIEWER_PASSWORD: &str = "Viewer-Pass-4-Events!";

/// The manager may do everything; the viewer may read host0's operating system (the fleet) and
/// nothing of its store.
const ROLES: &str = "[[Role]]\nName = \"admins\"\nMembers = [\"console-admin\"]\n\
    [[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"*\"]\nResources = [\"*\"]\n\
    Actions = [\"read\", \"change\", \"shell\", \"manage\"]\n\
    [[Role]]\nName = \"viewers\"\nMembers = [\"events-viewer\"]\n\
    [[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"host0\"]\n\
    Resources = [\"http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_OperatingSystem\"]\n\
    Actions = [\"read\"]\n";

fn start(store_group: bool) -> Service {
    let lines = move |_: usize, _: &std::path::Path| {
        if store_group {
            "Groups = [\"event-store\"]\n".to_owned()
        } else {
            String::new()
        }
    };
    Service::start_layout(&Layout {
        roles: Some(ROLES),
        managers: &[(VIEWER, VIEWER_PASSWORD)],
        host_lines: &lines,
        editable: true,
        ..Layout::default()
    })
}

/// `POST path` with the form `fields` (and the session's token and Origin), as a browser
/// posts it; the HTML answer.
fn post(
    service: &Service,
    (session, csrf): (&str, &str),
    path: &str,
    fields: &[(&str, &str)],
) -> common::Reply {
    let mut args = vec![
        "-H".to_owned(),
        format!("Cookie: __Host-wsmand-session={session}"),
        "-H".to_owned(),
        format!("Origin: https://127.0.0.1:{}", service.port),
        "--data-urlencode".to_owned(),
        format!("csrf={csrf}"),
    ];
    for (name, value) in fields {
        args.push("--data-urlencode".to_owned());
        args.push(format!("{name}={value}"));
    }
    args.push(service.url(path));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    service.curl(&args)
}

#[test]
fn a_user_whose_roles_do_not_reach_the_store_is_refused_and_audited() {
    let service = start(true);
    let (viewer, _) = service.session_of(VIEWER, VIEWER_PASSWORD);
    let refused = service.get_json(&viewer, "/events");
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(
        refused.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("urn:wsmand:event-store/Event on host0")),
        "{}",
        refused.body
    );
    let tail = service.get_json(&viewer, "/events/tail.json?after=0");
    assert_eq!(tail.status, 403, "{}", tail.body);
    let xml = service.get_json(&viewer, "/events/stored/1");
    assert_eq!(xml.status, 403, "{}", xml.body);
    let (manager, _) = service.manager_session();
    let audit = service.audit(&manager);
    assert!(
        audit.iter().any(|r| r["event"] == "denied"
            && r["host"] == "host0"
            && r["detail"]
                .as_str()
                .is_some_and(|d| d.contains("urn:wsmand:event-store/Event"))),
        "{audit:?}"
    );
}

#[test]
fn without_a_store_the_page_says_what_to_add() {
    let service = start(false);
    let (manager, _) = service.manager_session();
    let page = service.page(&manager, "/events");
    page.assert_shows(200, &["no host is in the group event-store"]);
}

#[test]
fn a_saved_view_is_shared_and_deleted_only_by_its_author_or_a_manager() {
    let service = start(false);
    let manager = service.session_of(MANAGER, MANAGER_PASSWORD);
    let viewer = service.session_of(VIEWER, VIEWER_PASSWORD);
    let saved = post(
        &service,
        (&viewer.0, &viewer.1),
        "/events/views",
        &[
            ("name", "Failed <logons>"),
            ("query", "channel=Security&eventid=4625&bogus=1"),
        ],
    );
    assert_eq!(saved.status, 200, "{}", saved.body);
    // Every user sees it, its name as text, its search as checked.
    let page = service.page(&manager.0, "/events");
    page.assert_shows(
        200,
        &[
            r#"<a href="/events?channel=Security&amp;eventid=4625">Failed &lt;logons&gt;</a> (saved by events-viewer)"#,
        ],
    );
    // The file beside mgmt.toml holds it for the next start.
    let file = std::fs::read_to_string(service.dir.path().join("mgmt-event-views.json"))
        .expect("the views file");
    assert!(file.contains("Failed <logons>"), "{file}");
    // In order, who posts what and the status: nobody saves a second view of that name;
    // another user who is no manager may not delete it; its author and a manager may.
    type Step<'a> = (&'a (String, String), &'a str, &'a [(&'a str, &'a str)], u16);
    let steps: [Step; 5] = [
        (
            &manager,
            "/events/views",
            &[("name", "Failed <logons>"), ("query", "")],
            400,
        ),
        (
            &manager,
            "/events/views",
            &[("name", "The manager's"), ("query", "level=Error")],
            200,
        ),
        (
            &viewer,
            "/events/views/remove",
            &[("name", "The manager's")],
            403,
        ),
        (
            &viewer,
            "/events/views/remove",
            &[("name", "Failed <logons>")],
            200,
        ),
        (
            &manager,
            "/events/views/remove",
            &[("name", "The manager's")],
            200,
        ),
    ];
    for (who, path, fields, status) in steps {
        let reply = post(&service, (&who.0, &who.1), path, fields);
        assert_eq!(reply.status, status, "{path} {fields:?}: {}", reply.body);
    }
    assert_eq!(
        std::fs::read_to_string(service.dir.path().join("mgmt-event-views.json"))
            .expect("the views file")
            .trim(),
        "[]"
    );
    // Without the token, nothing is saved.
    let forged = service.curl(&[
        "-H",
        &format!("Cookie: __Host-wsmand-session={}", viewer.0),
        "-H",
        &format!("Origin: https://127.0.0.1:{}", service.port),
        "--data",
        "name=x&query=",
        &service.url("/events/views"),
    ]);
    assert_eq!(forged.status, 403, "{}", forged.body);
}

/// A configuration directory root keeps to itself (mode 0700), which the service's user can
/// neither read nor write once the console has dropped root: the console starts and serves all
/// the same (as the manager pages only refuse the edit then), says at start why views cannot
/// be saved, and refuses saving one on the page with why (503); nothing is written.
#[test]
fn a_console_that_cannot_write_its_directory_serves_and_refuses_only_saving_views() {
    if !common::nix_is_root() {
        eprintln!("skipped: only root starts the console as one user and serves as another");
        return;
    }
    let service = Service::start_layout(&Layout {
        roles: Some(ROLES),
        config_dir_mode: 0o700,
        ..Layout::default()
    });
    let log = service.log();
    assert!(
        log.contains("views cannot be saved") && log.contains("Permission denied"),
        "{log}"
    );
    let manager = service.session_of(MANAGER, MANAGER_PASSWORD);
    let page = service.page(&manager.0, "/events");
    page.assert_shows(200, &["Saved views"]);
    let refused = post(
        &service,
        (&manager.0, &manager.1),
        "/events/views",
        &[("name", "Errors"), ("query", "level=Error")],
    );
    refused.assert_shows(
        503,
        &["views cannot be saved on this console", "Permission denied"],
    );
    assert!(
        !service.dir.path().join("mgmt-event-views.json").exists(),
        "nothing is written"
    );
}
