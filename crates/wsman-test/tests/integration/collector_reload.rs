//! The collector follows the configuration at SIGHUP: a `subscriptions/` directory created
//! after the start serves the subscription manager and the deliveries without a restart, and
//! removing it stops them (404 again, as on a host that never collected).

use wsman_test::{wec_database_env, Fixture, SERVICE_ACCOUNT};

use crate::collector::{acknowledged, batch, deliver, enumerate, event, post, ENUMERATE};

const MANAGER: &str = "/wsman/SubscriptionManager/WEC";

#[test]
fn sighup_starts_the_collector_when_subscriptions_appear_and_stops_it_when_they_go() {
    let state = tempfile::tempdir().expect("tempdir");
    let output = state.path().join("out");
    let database = state.path().join("wec.sqlite");
    let env = wec_database_env(&database);
    let mut fixture = Fixture::http_with_env(|_| {}, &env);
    let port = fixture.port;

    // No subscriptions/: nothing is collected, the subscription manager is not served.
    let before = post(port, MANAGER, ENUMERATE.as_bytes(), &[]);
    assert_eq!(before.status, 404);
    assert!(
        !database.exists(),
        "a host that collects nothing keeps no database"
    );

    // Created later, as the collector's guide says ("reload or start"), then SIGHUP.
    fixture.config.write_raw(
        "subscriptions/wef.toml",
        &crate::collector_computer::with_own_computers(&format!(
            "query = '<QueryList><Query Id=\"0\"><Select Path=\"Security\">*</Select></Query></QueryList>'\nheartbeat_seconds = 60\n[[outputs]]\ntype = \"file\"\npath = \"{}/{{subscription}}/{{client}}.xml\"\nformat = \"raw\"\n",
            output.display()
        )),
    );
    fixture.daemon.reload_until("collector started");
    let offer = enumerate(port);
    let events: Vec<String> = (1..=3)
        .map(|r| event(r, SERVICE_ACCOUNT, &format!("e{r}")))
        .collect();
    acknowledged(&deliver(port, &offer, &batch(&offer, 1, &events, true)), 1);
    let file = output.join("wef").join(format!("{SERVICE_ACCOUNT}.xml"));
    let stored = std::fs::read_to_string(&file).expect("the output file");
    assert_eq!(stored.lines().collect::<Vec<_>>(), events);

    // Removed, then SIGHUP: the subscription manager and the deliveries answer 404 again.
    std::fs::remove_dir_all(fixture.config.path().join("subscriptions")).expect("remove");
    fixture.daemon.reload_until("collector stopped");
    assert_eq!(post(port, MANAGER, ENUMERATE.as_bytes(), &[]).status, 404);
    let late = deliver(port, &offer, &batch(&offer, 2, &events, true));
    assert_eq!(late.status, 404);
    // WS-Management itself is untouched.
    let identify = post(
        port,
        "/wsman",
        wsman_proto::identify::request().as_bytes(),
        &[],
    );
    assert_eq!(identify.status, 200);
}
