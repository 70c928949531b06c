//! The D-Bus client against a real systemd booted as PID 1 of its own namespaces (see
//! `wsman_test::systemd`), every value checked against what `systemctl` inside that system says.

use std::time::Duration;

use wsman_systemd::{Enablement, Error, Systemd, UnitName};
use wsman_test::systemd::BootedSystemd;

const DEADLINE: Duration = Duration::from_secs(30);

const PROBE: &str = "[Unit]\nDescription=wsmand probe service\nWants=wsman-helper.service\n\
                     Requires=dbus.socket\n\n[Service]\nUser=nobody\n\
                     ExecStart=/bin/sleep 1000\n\n[Install]\nWantedBy=multi-user.target\n";
const HELPER: &str = "[Unit]\nDescription=wsmand helper\n\n[Service]\nType=oneshot\n\
                      ExecStart=/bin/true\nRemainAfterExit=yes\n";
const FAILING: &str = "[Unit]\nDescription=wsmand failing service\n\n[Service]\n\
                       Type=oneshot\nExecStart=/bin/false\n";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn install_units(systemd: &BootedSystemd) {
    // Where packages put their units, so masking works as for any packaged service.
    systemd.write_file("/lib/systemd/system/wsman-probe.service", PROBE);
    systemd.write_file("/etc/systemd/system/wsman-local.service", HELPER);
    systemd.write_file("/etc/systemd/system/wsman-helper.service", HELPER);
    systemd.write_file("/etc/systemd/system/wsman-failing.service", FAILING);
    systemd.exec_ok(&["systemctl", "daemon-reload"]);
}

/// Enumeration: every service unit file systemctl lists is there, with its state, and the
/// list is sorted.
async fn services_listed_like_systemctl(client: &Systemd, systemd: &BootedSystemd) {
    let services = client.services().await.expect("list services");
    for (name, state) in systemd.service_unit_files() {
        let found = services
            .iter()
            .find(|s| s.id == name)
            .unwrap_or_else(|| panic!("{name} ({state}) missing from services()"));
        assert_eq!(found.unit_file_state, state, "{name}");
    }
    assert!(services.windows(2).all(|w| w[0].id < w[1].id), "sorted");
}

/// Start modes set through the client, each checked with `systemctl is-enabled` and read back.
async fn start_modes_like_systemctl(client: &Systemd, systemd: &BootedSystemd, probe: &UnitName) {
    for (to, expected) in [
        (Enablement::Enabled, "enabled"),
        (Enablement::Disabled, "disabled"),
        (Enablement::Masked, "masked"),
        (Enablement::Enabled, "enabled"),
    ] {
        client
            .set_enablement(probe, to)
            .await
            .expect("set start mode");
        let shown = systemd.exec(&["systemctl", "is-enabled", "wsman-probe.service"]);
        assert_eq!(shown.stdout.trim(), expected, "after {to:?}");
        let read = client
            .service(probe)
            .await
            .expect("read the probe")
            .expect("probe exists");
        assert_eq!(read.unit_file_state, expected);
    }
}

#[test]
fn reads_starts_stops_and_changes_start_mode_like_systemctl() {
    let Some(systemd) = BootedSystemd::boot() else {
        return;
    };
    install_units(&systemd);
    let probe = UnitName::service("wsman-probe").unwrap();
    runtime().block_on(async {
        let client = Systemd::connect(Some(&systemd.bus_address()))
            .await
            .expect("connect to the booted systemd's bus");

        services_listed_like_systemctl(&client, &systemd).await;

        // One unit, stopped.
        let unit = client.service(&probe).await.unwrap().expect("probe exists");
        assert_eq!(unit.description, "wsmand probe service");
        assert_eq!(unit.active_state, "inactive");
        assert_eq!(unit.main_pid, 0);
        assert_eq!(unit.user, "nobody");
        assert_eq!(unit.exec_start.len(), 1);
        assert_eq!(unit.exec_start[0].path, "/bin/sleep");
        assert_eq!(unit.exec_start[0].argv, ["/bin/sleep", "1000"]);
        assert_eq!(
            unit.wants,
            systemd
                .unit_property("wsman-probe.service", "Wants")
                .split_whitespace()
                .collect::<Vec<_>>()
        );
        assert!(unit.requires.iter().any(|r| r == "dbus.socket"));
        assert_eq!(unit.unit_file_state, "disabled");

        // Start: the job finishes, and the main process is the one systemctl names.
        client.start(&probe, DEADLINE).await.expect("start");
        let running = client.service(&probe).await.unwrap().unwrap();
        assert_eq!(running.active_state, "active");
        assert_eq!(running.sub_state, "running");
        assert_eq!(
            running.main_pid.to_string(),
            systemd.unit_property("wsman-probe.service", "MainPID")
        );
        let owner = systemd.exec_ok(&["stat", "-c", "%U", &format!("/proc/{}", running.main_pid)]);
        assert_eq!(owner.stdout.trim(), "nobody");

        client.restart(&probe, DEADLINE).await.expect("restart");
        let restarted = client.service(&probe).await.unwrap().unwrap();
        assert_ne!(restarted.main_pid, running.main_pid, "a new main process");

        client.stop(&probe, DEADLINE).await.expect("stop");
        assert_eq!(
            systemd.unit_property("wsman-probe.service", "ActiveState"),
            "inactive"
        );

        start_modes_like_systemctl(&client, &systemd, &probe).await;

        // Masking an administrator's own unit in /etc would overwrite it: refused, unchanged.
        let local = UnitName::service("wsman-local").unwrap();
        match client.set_enablement(&local, Enablement::Masked).await {
            Err(Error::Refused { .. }) => {}
            other => panic!("expected a refusal, got {other:?}"),
        }
        let kept = systemd.exec_ok(&["cat", "/etc/systemd/system/wsman-local.service"]);
        assert_eq!(kept.stdout, HELPER);

        // A masked unit does not start.
        client
            .set_enablement(&probe, Enablement::Masked)
            .await
            .unwrap();
        match client.start(&probe, DEADLINE).await {
            Err(Error::Refused { .. }) => {}
            other => panic!("expected a refusal, got {other:?}"),
        }
        client
            .set_enablement(&probe, Enablement::Disabled)
            .await
            .unwrap();

        // A failing job is reported as such, with systemd's job result.
        let failing = UnitName::service("wsman-failing").unwrap();
        match client.start(&failing, DEADLINE).await {
            Err(Error::JobFailed { result, .. }) => assert_eq!(result, "failed"),
            other => panic!("expected a failed job, got {other:?}"),
        }
        assert_eq!(
            client.service(&failing).await.unwrap().unwrap().exit_status,
            1
        );

        // Unknown units: absent, and a start of one is NoSuchUnit.
        let missing = UnitName::service("wsman-no-such-unit").unwrap();
        assert_eq!(client.service(&missing).await.unwrap(), None);
        match client.start(&missing, DEADLINE).await {
            Err(Error::NoSuchUnit(name)) => assert_eq!(name, "wsman-no-such-unit.service"),
            other => panic!("expected NoSuchUnit, got {other:?}"),
        }
    });
}

#[test]
fn an_unreachable_bus_is_a_connect_error() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("unix:path={}/absent", dir.path().display());
    let result = runtime().block_on(Systemd::connect(Some(&address)));
    assert!(matches!(result, Err(Error::Connect { .. })), "{result:?}");
}
