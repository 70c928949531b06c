//! The D-Bus client against a real packagekitd with its test backends (see
//! `wsman_test::packagekit`), every list checked against what `pkcon` says of the same daemon.

use std::sync::Mutex;
use std::time::Duration;

use wsman_packagekit::{Error, Info, PackageKit, Progress, Restart};
use wsman_test::packagekit::PackageKitBus;

const DEADLINE: Duration = Duration::from_secs(120);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

#[test]
fn lists_details_and_installs_the_dummy_backends_updates() {
    let Some(daemon) = PackageKitBus::start("dummy") else {
        return;
    };
    let listed = daemon.pkcon(&["--plain", "get-updates"], DEADLINE);
    assert_eq!(listed.code(), 0, "{}", listed.describe());
    runtime().block_on(async {
        let client = PackageKit::connect(Some(&daemon.address()))
            .await
            .expect("connect");
        assert_eq!(client.version().await.unwrap().split('.').count(), 3);
        let updates = client.updates().await.expect("updates");
        // The same packages pkcon lists, no more.
        assert_eq!(updates.len(), 3, "{updates:#?}");
        for update in &updates {
            assert!(
                listed.stdout.contains(update.name()),
                "{} not in pkcon's list:\n{}",
                update.name(),
                listed.stdout
            );
        }
        let by_name = |n: &str| updates.iter().find(|u| u.name() == n).unwrap();
        assert_eq!(by_name("gtkhtml2").info, Info::Security);
        let kernel = by_name("kernel");
        let detail = kernel.detail.as_ref().expect("the kernel's detail");
        assert_eq!(detail.restart, Restart::System);
        assert!(!detail.cve_urls.is_empty());
        assert!(!by_name("powertop")
            .detail
            .as_ref()
            .unwrap()
            .restart
            .needs_reboot());

        let seen: Mutex<Vec<Progress>> = Mutex::new(Vec::new());
        let ids: Vec<String> = updates.iter().map(|u| u.package_id.clone()).collect();
        let installed = client
            .update(&ids, false, &|p| seen.lock().unwrap().push(p))
            .await
            .expect("update");
        assert!(!installed.packages.is_empty(), "{installed:?}");
        let seen = seen.into_inner().unwrap();
        assert!(
            seen.iter()
                .any(|p| p.percentage.is_some_and(|v| v > 0 && v < 100)),
            "no progress between 0 and 100: {seen:?}"
        );
        assert!(client.updates().await.unwrap().len() < 3);
    });
    let after = daemon.pkcon(&["--plain", "get-updates"], DEADLINE);
    assert!(!after.stdout.contains("gtkhtml2"), "{}", after.describe());
}

/// A backend that cannot list updates (`test_nop`; PackageKit 1.2.6's `test_fail` fails only
/// searches, its GetUpdates and UpdatePackages succeed with nothing): PackageKit's refusal is
/// an error that says what failed and why.
#[test]
fn a_backend_that_cannot_list_updates_is_an_error_with_packagekits_text() {
    let Some(daemon) = PackageKitBus::start("test_nop") else {
        return;
    };
    runtime().block_on(async {
        let client = PackageKit::connect(Some(&daemon.address()))
            .await
            .expect("connect");
        match client.updates().await {
            Err(error @ (Error::Failed { .. } | Error::Bus { .. })) => {
                let text = error.to_string();
                assert!(text.contains("GetUpdates not supported"), "{text}");
            }
            other => panic!("not PackageKit's failure: {other:?}"),
        }
    });
}

#[test]
fn no_packagekit_on_the_bus_is_a_connect_or_bus_error() {
    runtime().block_on(async {
        let refused = PackageKit::connect(Some("unix:path=/nonexistent/bus")).await;
        assert!(matches!(refused, Err(Error::Connect { .. })), "{refused:?}");
    });
}
