//! Live listener changes through `winrm create/set/delete`: they take effect without a restart
//! and without dropping another listener's connections.

use wsman_test::http::{curl_https_identify, Connection};
use wsman_test::process::{has_line, Finished};
use wsman_test::{free_port, soap, Fixture};

const HTTPS_LISTENER: &str = "winrm/config/Listener?Address=IP:127.0.0.1+Transport=HTTPS";

fn https_identify_status(port: u16) -> u16 {
    curl_https_identify(port).response.status
}

/// `winrm OPERATION LISTENER @{Port="PORT"}` against the fixture; what it printed and returned.
fn winrm_listener_port(fixture: &Fixture, operation: &str, listener: &str, port: u16) -> Finished {
    fixture.winrm_remote(&[operation, listener, &format!("@{{Port=\"{port}\"}}")])
}

fn assert_connection_serves(connection: &mut Connection, auth: &str, when: &str) {
    let response = connection
        .post(Some(auth), soap::identify().as_bytes())
        .unwrap_or_else(|e| panic!("kept-alive connection dropped {when}: {e}"));
    assert_eq!(response.status, 200, "{when}: {}", response.describe());
}

#[test]
fn listener_create_change_delete_live_without_dropping_other_connections() {
    let mut fixture = Fixture::http();
    let auth = fixture.service_auth();
    let mut kept = fixture.connect();
    assert_connection_serves(&mut kept, &auth, "before any change");

    // Create an HTTPS listener (no thumbprint: the service generates a certificate).
    let https_port = free_port();
    let created = winrm_listener_port(&fixture, "create", HTTPS_LISTENER, https_port);
    assert_eq!(created.code(), 0, "{}", created.describe());
    fixture.daemon.wait_for_port(https_port);
    assert_eq!(https_identify_status(https_port), 200);
    assert_connection_serves(&mut kept, &auth, "after creating a listener");

    let stored =
        std::fs::read_to_string(fixture.config.path().join("config.toml")).expect("config.toml");
    assert!(
        stored.contains(&https_port.to_string()),
        "the new listener must be stored:\n{stored}"
    );
    let certs: Vec<_> = std::fs::read_dir(fixture.config.path().join("certs"))
        .expect("certs dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        certs.iter().any(|n| n.ends_with(".crt")) && certs.iter().any(|n| n.ends_with(".key")),
        "a generated certificate is stored as THUMB.crt/THUMB.key: {certs:?}"
    );

    let enumerated = fixture.winrm_remote(&["enumerate", "winrm/config/listener"]);
    enumerated.assert_printed("Transport = HTTPS");
    assert!(
        enumerated.stdout.contains("Transport = HTTP\n")
            || has_line(&enumerated.stdout, "Transport = HTTP"),
        "{}",
        enumerated.describe()
    );

    // Change its port live.
    let moved_port = free_port();
    let changed = winrm_listener_port(&fixture, "set", HTTPS_LISTENER, moved_port);
    assert_eq!(changed.code(), 0, "{}", changed.describe());
    fixture.daemon.wait_for_port(moved_port);
    fixture.daemon.wait_for_port_closed(https_port);
    assert_eq!(https_identify_status(moved_port), 200);
    assert_connection_serves(&mut kept, &auth, "after changing a listener");

    // Delete it.
    let deleted = fixture.winrm_remote(&["delete", HTTPS_LISTENER]);
    assert_eq!(deleted.code(), 0, "{}", deleted.describe());
    fixture.daemon.wait_for_port_closed(moved_port);
    assert_connection_serves(&mut kept, &auth, "after deleting a listener");
    fixture.assert_still_serving();
}

#[test]
fn creating_an_existing_listener_is_already_exists() {
    let fixture = Fixture::http();
    let created = winrm_listener_port(
        &fixture,
        "create",
        "winrm/config/Listener?Address=IP:127.0.0.1+Transport=HTTP",
        fixture.port,
    );
    assert_ne!(created.code(), 0, "{}", created.describe());
}
