//! The providers' errors table: each error a provider meets below the server (the BMC's,
//! systemd's, PackageKit's, the event log's, a /proc file's, the machine-info file's) to the
//! fault the request answers, one function per error type. These errors and `Fault` are
//! other crates', so the orphan rule leaves no `From`: a provider writes
//! `.map_err(faults::x_fault)?`. `faults_tests.rs` holds a row per variant. Where Windows'
//! fault for a case is not recorded, docs/windows-quirks.md says so.

use tokio::sync::oneshot::error::RecvError;
use tokio::time::error::Elapsed;
use wsman_proto::Fault;

/// Windows Update's HRESULTs the classes answer with (`wuerror.h`).
pub mod hresult {
    /// WU_E_INSTALL_NOT_ALLOWED: another installation is in progress.
    pub const INSTALL_NOT_ALLOWED: u32 = 0x8024_0016;
    /// WU_E_INVALID_CRITERIA: the search criteria string was invalid.
    pub const INVALID_CRITERIA: u32 = 0x8024_0032;
    /// WU_E_NO_SERVICE: the update service cannot be reached.
    pub const NO_SERVICE: u32 = 0x8024_0001;
}

/// The read reached its `LogQuery::deadline` (the request answers `w:TimedOut`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the event log read ran past the request's deadline")]
pub struct ReadTimedOut;

/// Why the event log could not be read.
pub type EventLogError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The fault of a BMC that is there but does not answer: a failure of this host,
/// `w:InternalError` naming it (Windows' IPMI provider answers through the system interface;
/// its fault for a silent BMC is not recorded).
pub fn bmc_fault(error: wsman_ipmi::Error) -> Fault {
    Fault::internal_error(format!("The BMC did not answer: {error}. "))
}

/// The fault of a /proc file a class cannot answer without: `w:InternalError` naming it.
pub fn proc_fault(path: &str, error: &std::io::Error) -> Fault {
    Fault::internal_error(format!("{path}: {error}. "))
}

/// The fault of systemd unreachable or failing: the request cannot be served, and the client
/// should know why (`w:InternalError`, logged).
pub fn systemd_fault(error: &wsman_systemd::Error) -> Fault {
    tracing::warn!(%error, "systemd's service manager");
    Fault::internal_error(format!(
        "The service manager (systemd) cannot answer: {error}. "
    ))
}

/// The fault of PackageKit unreachable or failing, `what` the call: `w:InternalError` saying
/// why, with Windows Update's WU_E_NO_SERVICE when PackageKit cannot be reached (logged).
pub fn packagekit_fault(what: &str, error: &wsman_packagekit::Error) -> Fault {
    tracing::warn!(%error, what, "PackageKit");
    let fault = Fault::internal_error(format!("PackageKit could not {what}: {error}. "));
    match error {
        wsman_packagekit::Error::Connect { .. } => fault.with_code(hresult::NO_SERVICE),
        _ => fault,
    }
}

/// The fault of a PackageKit call that outlived the request: `w:TimedOut`, as Windows.
pub fn packagekit_elapsed_fault(_: Elapsed) -> Fault {
    Fault::timed_out()
}

/// How an install the request waited for ended without installing.
#[derive(Debug)]
pub enum InstallFailure {
    /// PackageKit refused or failed the transaction, saying why.
    Failed(String),
    /// The job ended without sending its answer.
    NoAnswer(RecvError),
    /// The request's deadline came first; the job goes on.
    Continues(Elapsed),
}

/// The fault of an install that did not end well within its request.
pub fn install_fault(failure: InstallFailure) -> Fault {
    match failure {
        InstallFailure::Failed(why) => {
            Fault::internal_error(format!("PackageKit could not install the updates: {why}. "))
        }
        InstallFailure::NoAnswer(_) => {
            Fault::internal_error("The update installation ended without an answer. ")
        }
        // `w:TimedOut` as any call past OperationTimeout, saying where the install's end
        // will be told.
        InstallFailure::Continues(_) => Fault::timed_out().with_message(
            "The WS-Management service cannot complete the operation within the time \
             specified in OperationTimeout. The update installation continues in the \
             background; ScanForUpdates and the MSFT_WUSettings methods report on it. ",
        ),
    }
}

/// The fault of an event log that could not be read: past the request's deadline
/// ([`ReadTimedOut`]) `w:TimedOut`, else `w:InternalError` (logged).
pub fn event_log_fault(error: EventLogError) -> Fault {
    if error.is::<ReadTimedOut>() {
        return Fault::timed_out();
    }
    tracing::error!(%error, "Win32_NTLogEvent: the event log could not be read");
    Fault::internal_error("The event log could not be read. ")
}

/// The fault of the machine's description that could not be written (the caller logs it
/// with the path and the user): `w:InternalError`.
pub fn description_fault(_: std::io::Error) -> Fault {
    Fault::internal_error("The machine's description could not be written. ")
}

#[cfg(test)]
#[path = "faults_tests.rs"]
mod tests;
