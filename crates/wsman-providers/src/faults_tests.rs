//! The providers' errors table's rows: each error to the fault the request answers. Numbers
//! are written out (reference §5.2, §5.3; `wuerror.h` for Windows Update's), so a wrong
//! constant fails here.

use super::*;

/// `w:InternalError` with E_FAIL, the generic server failure (reference §5.2, §5.3).
fn assert_internal(fault: &Fault, row: &str) {
    assert_eq!(
        fault.subcode.map(|s| s.qname()),
        Some("w:InternalError".to_owned()),
        "{row}"
    );
    assert_eq!(fault.wsman_code, 2147500037, "{row}");
}

/// `w:TimedOut`, ERROR_WSMAN_OPERATION_TIMEDOUT (reference §5.2, §5.3).
fn assert_timed_out(fault: &Fault, row: &str) {
    assert_eq!(
        fault.subcode.map(|s| s.qname()),
        Some("w:TimedOut".to_owned()),
        "{row}"
    );
    assert_eq!(fault.wsman_code, 2150858793, "{row}");
}

/// A bus address where nothing listens: the real connect fails.
fn nowhere() -> String {
    let dir = tempfile::tempdir().expect("temporary directory");
    format!("unix:path={}", dir.path().join("no-bus").display())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn host_failures_are_internal_errors_naming_them() {
    let bmc = bmc_fault(wsman_ipmi::Error::Deadline("Get SEL Info"));
    assert!(
        bmc.message.starts_with("The BMC did not answer: "),
        "{}",
        bmc.message
    );
    assert_internal(&bmc, "bmc");
    let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
    let proc = proc_fault("/proc/meminfo", &missing);
    assert!(
        proc.message.starts_with("/proc/meminfo: "),
        "{}",
        proc.message
    );
    assert_internal(&proc, "proc");
    let description = description_fault(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
    assert_internal(&description, "description");
    let read = event_log_fault("journalctl exited 1".into());
    assert_eq!(read.message, "The event log could not be read. ");
    assert_internal(&read, "event log");
}

#[test]
fn an_event_log_read_past_the_deadline_is_timed_out() {
    assert_timed_out(&event_log_fault(ReadTimedOut.into()), "event log: deadline");
}

#[test]
fn systemd_and_packagekit_unreachable_say_so_and_packagekit_gets_wu_no_service() {
    let address = nowhere();
    let runtime = runtime();
    let Err(systemd) = runtime.block_on(wsman_systemd::Systemd::connect(Some(&address))) else {
        panic!("no systemd there");
    };
    let fault = systemd_fault(&systemd);
    assert!(
        fault.message.contains("(systemd) cannot answer"),
        "{}",
        fault.message
    );
    assert_internal(&fault, "systemd");
    let Err(unreachable) = runtime.block_on(wsman_packagekit::PackageKit::connect(Some(&address)))
    else {
        panic!("no PackageKit there");
    };
    let fault = packagekit_fault("list updates", &unreachable);
    assert!(
        fault
            .message
            .starts_with("PackageKit could not list updates: "),
        "{}",
        fault.message
    );
    // WU_E_NO_SERVICE (wuerror.h): the update service cannot be reached.
    assert_eq!(fault.wsman_code, 0x8024_0001, "packagekit: unreachable");
    let failed = wsman_packagekit::Error::Exit {
        role: "get-updates",
        exit: 3,
    };
    assert_internal(
        &packagekit_fault("list updates", &failed),
        "packagekit: failed",
    );
}

#[test]
fn an_install_that_did_not_finish_says_how() {
    let failed = install_fault(InstallFailure::Failed("no space".into()));
    assert!(failed.message.contains("no space"), "{}", failed.message);
    assert_internal(&failed, "install: failed");
    let runtime = runtime();
    let (sender, receiver) = tokio::sync::oneshot::channel::<()>();
    drop(sender);
    let dropped = runtime.block_on(receiver).expect_err("the sender is gone");
    assert_internal(
        &install_fault(InstallFailure::NoAnswer(dropped)),
        "install: no answer",
    );
    let elapsed = runtime
        .block_on(async {
            tokio::time::timeout(std::time::Duration::ZERO, std::future::pending::<()>()).await
        })
        .expect_err("nothing finishes");
    let continues = install_fault(InstallFailure::Continues(elapsed));
    assert!(
        continues.message.contains("continues in the background"),
        "{}",
        continues.message
    );
    assert_timed_out(&continues, "install: continues");
    let elapsed = runtime
        .block_on(async {
            tokio::time::timeout(std::time::Duration::ZERO, std::future::pending::<()>()).await
        })
        .expect_err("nothing finishes");
    assert_timed_out(&packagekit_elapsed_fault(elapsed), "packagekit: elapsed");
}
