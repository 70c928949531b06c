//! The host's updates through PackageKit (`wsman-packagekit`), for the Windows Update classes
//! ([`super::windows_update`]): scans, the one install job, and what they leave behind (the
//! last scan, the last install, a reboot pending).
//!
//! Why a job: an install outlives a request. It runs as a task of the daemon's runtime; the
//! method waits for it until the request's deadline (its OperationTimeout) and, past that,
//! answers while the install goes on; the next scan or settings read reports on it (still
//! running with its progress, or its failure). One install at a time, as PackageKit itself
//! queues them.
//!
//! The classes run on the blocking pool like every synchronous class; they await the bus
//! through the daemon's runtime handle, as `Win32_Service` does. The connection is made on
//! first use and made again after a bus failure.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use wsman_packagekit::{Error, Installed, PackageKit, Progress, Update};
use wsman_proto::Fault;

use crate::faults::{install_fault, packagekit_elapsed_fault, packagekit_fault, InstallFailure};

/// Longest a call waits when the request gives no deadline (WinRM's default OperationTimeout).
const DEFAULT_WAIT: Duration = Duration::from_secs(60);
/// Longest an install job may run: past it the job is ended as failed (PackageKit's own
/// transaction goes on, but it no longer holds every later scan back).
const MAX_JOB: Duration = Duration::from_secs(4 * 3600);
/// What is kept of the deadline for answering after the wait.
const MARGIN: Duration = Duration::from_millis(500);
/// Where Debian's packages (the kernel's among them) say that the host must reboot.
pub const REBOOT_REQUIRED: &str = "/run/reboot-required";
/// The tracing target of audit records (the shells' target: one audit trail).
const AUDIT_TARGET: &str = "wsman::audit";

pub use crate::faults::hresult;

/// Who started an install, for its audit records.
#[derive(Clone, Debug)]
pub struct Starter {
    pub user: String,
    pub principal: String,
    pub remote_address: String,
}

/// The running install.
struct Job {
    started: SystemTime,
    user: String,
    progress: Progress,
}

/// What the manager remembers between calls.
#[derive(Default)]
struct State {
    last_scan: Option<SystemTime>,
    last_install: Option<SystemTime>,
    /// An install of an update whose restart flag is `system` finished since this daemon
    /// started.
    reboot_pending: bool,
    /// Whether each update of the last scan needs a reboot, by package id.
    restarts: HashMap<String, bool>,
    job: Option<Job>,
    /// A background install's failure no caller has been told of yet.
    unreported: Option<String>,
}

/// The host's update service, connected on first use.
pub struct UpdateManager {
    runtime: tokio::runtime::Handle,
    /// `None`: the system bus (which honours `DBUS_SYSTEM_BUS_ADDRESS`).
    address: Option<String>,
    connection: Mutex<Option<PackageKit>>,
    state: Arc<Mutex<State>>,
    reboot_required: std::path::PathBuf,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The deadline of a call: the request's, less a margin to answer in.
pub fn wait_until(deadline: Option<Instant>) -> Instant {
    deadline
        .unwrap_or_else(|| Instant::now() + DEFAULT_WAIT)
        .checked_sub(MARGIN)
        .unwrap_or_else(Instant::now)
}

impl UpdateManager {
    /// A manager that talks to PackageKit on `address` (`None`: the system bus) through the
    /// runtime behind `runtime`.
    pub fn new(runtime: tokio::runtime::Handle, address: Option<String>) -> Arc<Self> {
        Arc::new(Self {
            runtime,
            address,
            connection: Mutex::new(None),
            state: Arc::default(),
            reboot_required: REBOOT_REQUIRED.into(),
        })
    }

    fn connected(&self) -> Result<PackageKit, Error> {
        let mut slot = lock(&self.connection);
        if let Some(packagekit) = slot.as_ref() {
            return Ok(packagekit.clone());
        }
        let packagekit = self
            .runtime
            .block_on(PackageKit::connect(self.address.as_deref()))?;
        *slot = Some(packagekit.clone());
        Ok(packagekit)
    }

    /// Run one call against PackageKit until `deadline`; a bus failure connects again next
    /// time. Must not be called from an async worker.
    fn run<T, F>(
        &self,
        what: &str,
        deadline: Instant,
        call: impl FnOnce(PackageKit) -> F,
    ) -> Result<T, Fault>
    where
        F: std::future::Future<Output = Result<T, Error>>,
    {
        let packagekit = self.connected().map_err(|e| packagekit_fault(what, &e))?;
        let result = self
            .runtime
            .block_on(async { tokio::time::timeout_at(deadline.into(), call(packagekit)).await });
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                if let Error::Bus { .. } = &error {
                    *lock(&self.connection) = None;
                }
                Err(packagekit_fault(what, &error))
            }
            Err(elapsed) => Err(packagekit_elapsed_fault(elapsed)),
        }
    }

    /// The fault that a running install or an unreported failure of one is, if any: what
    /// the next scan or settings read says of a job that outlived its request.
    pub fn job_report(&self) -> Option<Fault> {
        let mut state = lock(&self.state);
        if let Some(job) = &state.job {
            let when = jiff::Timestamp::try_from(job.started)
                .map(|t| t.to_string())
                .unwrap_or_default();
            let percentage = job
                .progress
                .percentage
                .map_or_else(|| "progress unknown".to_owned(), |p| format!("{p}%"));
            let package = job
                .progress
                .package
                .as_deref()
                .map(|p| format!(", now {p}"))
                .unwrap_or_default();
            return Some(
                Fault::internal_error(format!(
                    "An update installation started by {} at {when} is still running \
                     ({percentage}{package}). ",
                    job.user
                ))
                .with_code(hresult::INSTALL_NOT_ALLOWED),
            );
        }
        state.unreported.take().map(|failure| {
            Fault::internal_error(format!(
                "The update installation that continued after its request failed: {failure}. "
            ))
        })
    }

    /// Every pending update (remembering the scan's time and each update's restart flag).
    pub fn scan(&self, deadline: Instant) -> Result<Vec<Update>, Fault> {
        let updates = self.run("list the updates", deadline, |pk| async move {
            pk.updates().await
        })?;
        let mut state = lock(&self.state);
        state.last_scan = Some(SystemTime::now());
        state.restarts = updates
            .iter()
            .map(|u| {
                let reboot = u.detail.as_ref().is_some_and(|d| d.restart.needs_reboot());
                (u.package_id.clone(), reboot)
            })
            .collect();
        Ok(updates)
    }

    /// PackageKit's version.
    pub fn version(&self, deadline: Instant) -> Result<String, Fault> {
        self.run("answer its version", deadline, |pk| async move {
            pk.version().await
        })
    }

    /// Whether the host must reboot: an installed update's restart flag, then the
    /// distribution's own signal (Debian's `/run/reboot-required`).
    pub fn reboot_pending(&self) -> bool {
        lock(&self.state).reboot_pending || self.reboot_required.exists()
    }

    pub fn last_scan(&self) -> Option<SystemTime> {
        lock(&self.state).last_scan
    }

    pub fn last_install(&self) -> Option<SystemTime> {
        lock(&self.state).last_install
    }

    /// Install `packages` as a job, waiting for it until `deadline`: `Ok(reboot required)`
    /// when it finished, the timed-out fault when it goes on in the background, a fault when
    /// another install runs or this one failed.
    pub fn install(
        &self,
        packages: Vec<String>,
        download_only: bool,
        starter: &Starter,
        deadline: Instant,
    ) -> Result<bool, Fault> {
        let packagekit = self
            .connected()
            .map_err(|e| packagekit_fault("install updates", &e))?;
        {
            let mut state = lock(&self.state);
            if state.job.is_some() {
                drop(state);
                return Err(self.job_report().unwrap_or_else(Fault::timed_out));
            }
            state.job = Some(Job {
                started: SystemTime::now(),
                user: starter.user.clone(),
                progress: Progress::default(),
            });
        }
        audit_started(starter, &packages, download_only);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let shared = Arc::clone(&self.state);
        let starter = starter.clone();
        let began = Instant::now();
        self.runtime.spawn(async move {
            let progress_state = Arc::clone(&shared);
            let report = move |progress: Progress| {
                if let Some(job) = lock(&progress_state).job.as_mut() {
                    job.progress = progress;
                }
            };
            let result = tokio::time::timeout(
                MAX_JOB,
                packagekit.update(&packages, download_only, &report),
            )
            .await
            .unwrap_or(Err(Error::Stalled {
                role: "UpdatePackages",
                after: MAX_JOB,
            }));
            let reboot = finish(&shared, &packages, download_only, &result);
            audit_ended(&starter, &result, began.elapsed());
            let answer = result.map(|_| reboot).map_err(|e| e.to_string());
            if let Err(Err(failure)) = sender.send(answer) {
                lock(&shared).unreported = Some(failure);
            }
        });
        let waited = self
            .runtime
            .block_on(async { tokio::time::timeout_at(deadline.into(), receiver).await });
        match waited {
            Ok(Ok(Ok(reboot))) => Ok(reboot),
            Ok(Ok(Err(failure))) => Err(install_fault(InstallFailure::Failed(failure))),
            Ok(Err(dropped)) => Err(install_fault(InstallFailure::NoAnswer(dropped))),
            Err(elapsed) => Err(install_fault(InstallFailure::Continues(elapsed))),
        }
    }
}

/// The job's end in the state: the install's time, a reboot pending, the job gone. Answers
/// whether the install needs a reboot.
fn finish(
    shared: &Mutex<State>,
    packages: &[String],
    download_only: bool,
    result: &Result<Installed, Error>,
) -> bool {
    let mut state = lock(shared);
    state.job = None;
    let Ok(installed) = result else {
        return false;
    };
    if download_only {
        return false;
    }
    let reboot = installed.restart_signalled
        || packages
            .iter()
            .chain(&installed.packages)
            .any(|id| state.restarts.get(id).copied().unwrap_or(false));
    state.last_install = Some(SystemTime::now());
    state.reboot_pending |= reboot;
    reboot
}

fn audit_started(starter: &Starter, packages: &[String], download_only: bool) {
    tracing::info!(
        target: AUDIT_TARGET,
        audit = 1,
        event = "updates_install_started",
        user = starter.user.as_str(),
        principal = starter.principal.as_str(),
        remote_address = starter.remote_address.as_str(),
        packages = packages.join(" ").as_str(),
        download_only,
        "update installation started"
    );
}

fn audit_ended(starter: &Starter, result: &Result<Installed, Error>, duration: Duration) {
    let (outcome, reason) = match result {
        Ok(_) => ("succeeded", String::new()),
        Err(error) => ("failed", error.to_string()),
    };
    tracing::info!(
        target: AUDIT_TARGET,
        audit = 1,
        event = "updates_install_ended",
        user = starter.user.as_str(),
        principal = starter.principal.as_str(),
        remote_address = starter.remote_address.as_str(),
        outcome,
        reason = reason.as_str(),
        duration_ms = duration.as_millis() as u64,
        "update installation ended"
    );
}
