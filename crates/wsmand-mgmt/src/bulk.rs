//! A command or a service action run on a selection of hosts: each host's run checked by the
//! delegation rules when it is asked for, then run in the background a few hosts at a time
//! ([`CONCURRENT_HOSTS`]), each bounded in time and in the output kept; the job's page polls
//! its progress (each host pending, running, done with its exit code or ReturnValue, or
//! failed with the host's fault). Jobs are kept in memory, the newest [`KEPT_JOBS`], and
//! shown only to the user who started them (compared on their principal: a console manager
//! account and the OS user of its name are two users). A user has at most
//! [`MAX_RUNNING_PER_USER`] jobs running and the service [`MAX_RUNNING`]; a job pushed out of
//! the kept ones has its hosts' runs cancelled (a command's shell closed on the host), and so
//! has a host's run that a changed policy no longer allows ([`Jobs::end_where`]).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use wsman_principal::OwnerKey;

use crate::hosts::Host;
use crate::route::ServiceAction;
pub use crate::socket_slots::Grant;
use crate::updates::{UpdateAction, UpdateStates};

/// Hosts run at once within one job.
pub const CONCURRENT_HOSTS: usize = 4;
/// Most hosts in one job (a form holds a field per host, within the form's field bound).
pub const MAX_HOSTS: usize = 12;
/// Output kept per host (stdout and stderr together); past it the command is ended.
pub const MAX_OUTPUT: usize = 64 * 1024;
/// How long one host's command may run.
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(60);
/// Jobs kept for their pages.
pub const KEPT_JOBS: usize = 32;
/// Longest command line accepted.
pub const MAX_COMMAND: usize = 1024;
/// Jobs one user may have running (not every host finished) at once.
pub const MAX_RUNNING_PER_USER: usize = 4;
/// Jobs the service has running at once.
pub const MAX_RUNNING: usize = 16;
/// What a cancelled host's run shows.
const CANCELLED: &str = "cancelled";

/// Why a job was not started (429).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JobRefused {
    /// The user has as many jobs running as allowed.
    #[error("you have {MAX_RUNNING_PER_USER} jobs running: wait until one has finished")]
    User,
    /// The service has as many jobs running as allowed.
    #[error("the console has {MAX_RUNNING} jobs running: wait until one has finished")]
    Service,
}

/// What a job does on each host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Work {
    /// A command line, run by the host's command shell (`/bin/sh -c` on wsmand, `cmd.exe /c`
    /// on Windows), as `winrs` runs one.
    Command(String),
    /// A service action (`Win32_Service` methods).
    Service(String, ServiceAction),
    /// An action of the Updates page, its findings kept in the states it holds.
    Updates(UpdateAction, UpdateSink),
}

/// Where an update job keeps what it learns of each host (the Updates page's facts).
#[derive(Clone)]
pub struct UpdateSink(pub Arc<UpdateStates>);

impl std::fmt::Debug for UpdateSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UpdateSink")
    }
}

impl PartialEq for UpdateSink {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for UpdateSink {}

impl Work {
    /// The words the page and the audit use.
    pub fn describe(&self) -> String {
        match self {
            Self::Command(line) => format!("run {line:?}"),
            Self::Service(name, action) => format!("{} {name}", action.name()),
            Self::Updates(action, _) => format!("updates: {}", action.describe()),
        }
    }
}

/// One host's progress.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum Progress {
    /// Waiting for a free slot.
    Pending,
    /// Being run.
    Running,
    /// Finished: the exit code (a command) or ReturnValue (a service action), and the output.
    Done {
        /// Exit code or ReturnValue.
        code: Option<i64>,
        /// Output (stdout then stderr), cut at [`MAX_OUTPUT`].
        output: String,
        /// The output was cut (and the command ended).
        truncated: bool,
    },
    /// Not run, or failed: the delegation rule that refused it, or the host's fault.
    Failed {
        /// Why.
        error: String,
    },
}

/// One host of a job.
#[derive(Clone, Debug, Serialize)]
pub struct HostRun {
    /// The host's name.
    pub host: String,
    /// Where it is (flattened in the JSON: `state` and its fields beside `host`).
    #[serde(flatten)]
    pub progress: Progress,
}

/// A job and its hosts' progress.
#[derive(Clone, Debug, Serialize)]
pub struct Job {
    /// Its number (its page is `/bulk/ID`).
    pub id: u64,
    /// Who started it, and what the rules allowed them (only they see it).
    #[serde(skip)]
    pub grant: Grant,
    /// What it does.
    pub what: String,
    /// What runs first, if anything: the canary host's name, or `group NAME`.
    pub canary: Option<String>,
    /// The hosts run first (the canary host, or the chosen hosts of the canary group).
    pub canary_hosts: Vec<String>,
    /// Why the hosts after the canary were not run, if they were not.
    pub stopped: Option<String>,
    /// Each host, in the order chosen.
    pub hosts: Vec<HostRun>,
}

impl Job {
    /// Every host has finished (done or failed).
    pub fn finished(&self) -> bool {
        self.hosts
            .iter()
            .all(|h| matches!(h.progress, Progress::Done { .. } | Progress::Failed { .. }))
    }
}

/// A kept job and the switches that cancel each host's run.
struct Kept {
    job: Arc<Mutex<Job>>,
    cancels: Vec<watch::Sender<bool>>,
}

impl Kept {
    fn cancel_all(&self) {
        for cancel in &self.cancels {
            let _ = cancel.send(true);
        }
    }
}

/// The jobs, newest last.
#[derive(Default)]
pub struct Jobs {
    jobs: Mutex<VecDeque<Kept>>,
    next: std::sync::atomic::AtomicU64,
}

/// A host to run on, or why it is not run.
pub type Target = (String, Result<Arc<Host>, NotRun>);

/// Why a chosen host is not run on (the job's page shows it as the host's failure).
#[derive(Debug, Clone, thiserror::Error)]
pub enum NotRun {
    /// The delegation rule's RunAs account is not configured for this host.
    #[error("this host has no such RunAs account")]
    NoRunAs,
    /// A delegation rule denies the action on this host.
    #[error("not allowed: {action} on {host} ({rule})")]
    Denied {
        action: &'static str,
        host: String,
        rule: String,
    },
}

impl Jobs {
    /// Starts `work` on `targets` (refused ones are failed at once) for `grant`'s holder and
    /// returns its number, or the refusal when the user or the service has as many jobs
    /// running as allowed; `audit` is told each host's outcome.
    pub fn start(
        self: &Arc<Self>,
        grant: Grant,
        work: Work,
        targets: Vec<Target>,
        audit: impl Fn(&str, &str) + Send + Sync + 'static,
    ) -> Result<u64, JobRefused> {
        self.start_with_canary(grant, work, targets, None, audit)
    }

    /// The same, the targets of `canary` (its name for the page, and their places in
    /// `targets`) run first: the others only once every one of them is done with code 0 and
    /// still answers, else each other is failed with the reason.
    pub fn start_with_canary(
        self: &Arc<Self>,
        grant: Grant,
        work: Work,
        targets: Vec<Target>,
        canary: Option<(String, Vec<usize>)>,
        audit: impl Fn(&str, &str) + Send + Sync + 'static,
    ) -> Result<u64, JobRefused> {
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let same_user = |job: &Job| job.grant.owner.is(&grant.owner);
        let job = Arc::new(Mutex::new(Job {
            id,
            grant: grant.clone(),
            what: work.describe(),
            canary: None,
            canary_hosts: Vec::new(),
            stopped: None,
            hosts: targets
                .iter()
                .map(|(name, target)| HostRun {
                    host: name.clone(),
                    progress: match target {
                        Ok(_) => Progress::Pending,
                        Err(error) => Progress::Failed {
                            error: error.to_string(),
                        },
                    },
                })
                .collect(),
        }));
        let (cancels, cancelled): (Vec<_>, Vec<_>) =
            targets.iter().map(|_| watch::channel(false)).unzip();
        {
            let mut jobs = lock(&self.jobs);
            let running: Vec<Job> = jobs
                .iter()
                .map(|kept| lock(&kept.job).clone())
                .filter(|job| !job.finished())
                .collect();
            if running.iter().filter(|job| same_user(job)).count() >= MAX_RUNNING_PER_USER {
                return Err(JobRefused::User);
            }
            if running.len() >= MAX_RUNNING {
                return Err(JobRefused::Service);
            }
            jobs.push_back(Kept {
                job: Arc::clone(&job),
                cancels,
            });
            while jobs.len() > KEPT_JOBS {
                if let Some(dropped) = jobs.pop_front() {
                    dropped.cancel_all();
                }
            }
        }
        let runner = Arc::new(Runner {
            job,
            slots: tokio::sync::Semaphore::new(CONCURRENT_HOSTS),
            work,
            audit: Box::new(audit),
        });
        let runs: Vec<HostTurn> = targets
            .into_iter()
            .zip(cancelled)
            .enumerate()
            .filter_map(|(index, ((name, target), cancelled))| {
                let host = target.ok()?;
                Some(HostTurn {
                    index,
                    name,
                    host,
                    cancelled,
                })
            })
            .collect();
        let (label, first) = canary.unwrap_or_default();
        let (canaries, rest): (Vec<HostTurn>, Vec<HostTurn>) =
            runs.into_iter().partition(|run| first.contains(&run.index));
        if canaries.is_empty() || rest.is_empty() {
            for turn in canaries.into_iter().chain(rest) {
                tokio::spawn(Arc::clone(&runner).turn(turn));
            }
        } else {
            {
                let mut job = lock(&runner.job);
                job.canary = Some(label);
                job.canary_hosts = canaries.iter().map(|run| run.name.clone()).collect();
            }
            tokio::spawn(Arc::clone(&runner).canary_then(canaries, rest));
        }
        Ok(id)
    }

    /// Job `id` as it is now, if `owner` started it.
    pub fn get(&self, id: u64, owner: &OwnerKey) -> Option<Job> {
        let jobs = lock(&self.jobs);
        jobs.iter()
            .map(|kept| lock(&kept.job).clone())
            .find(|job| job.id == id && job.grant.owner.is(owner))
    }

    /// Cancels each host's run for which `ended(host, grant)` holds (a changed policy no
    /// longer allowing it); returns how many were told to end.
    pub fn end_where(&self, ended: impl Fn(&str, &Grant) -> bool) -> usize {
        let jobs = lock(&self.jobs);
        let mut count = 0;
        for kept in jobs.iter() {
            let job = lock(&kept.job).clone();
            for (run, cancel) in job.hosts.iter().zip(&kept.cancels) {
                let live = matches!(run.progress, Progress::Pending | Progress::Running);
                if live && ended(&run.host, &job.grant) {
                    let _ = cancel.send(true);
                    count += 1;
                }
            }
        }
        count
    }
}

/// Told each host's outcome (the host, the words).
type Audit = dyn Fn(&str, &str) + Send + Sync;

/// What every host's run of one job shares.
struct Runner {
    job: Arc<Mutex<Job>>,
    slots: tokio::sync::Semaphore,
    work: Work,
    audit: Box<Audit>,
}

/// One host's turn in a job.
struct HostTurn {
    index: usize,
    name: String,
    host: Arc<Host>,
    cancelled: watch::Receiver<bool>,
}

impl Runner {
    /// Runs one host in a free slot (or not at all, when cancelled first), audited; returns
    /// its progress.
    async fn turn(self: Arc<Self>, turn: HostTurn) -> Progress {
        let HostTurn {
            index,
            name,
            host,
            mut cancelled,
        } = turn;
        let slot = tokio::select! {
            slot = self.slots.acquire() => slot.ok(),
            () = until_cancelled(&mut cancelled) => None,
        };
        let progress = match slot {
            Some(_slot) => {
                set(&self.job, index, Progress::Running);
                run(&host, &self.work, cancelled).await
            }
            None => Progress::Failed {
                error: CANCELLED.into(),
            },
        };
        let outcome = match &progress {
            Progress::Done { code, .. } => format!(
                "done, code {}",
                code.map_or("none".into(), |c| c.to_string())
            ),
            Progress::Failed { error } => format!("failed: {error}"),
            _ => String::new(),
        };
        (self.audit)(
            &name,
            &format!("{name}: {}: {outcome}", self.work.describe()),
        );
        set(&self.job, index, progress.clone());
        progress
    }

    /// The canaries' turns (together, in the job's slots), then the others' if every canary
    /// came back healthy; else each of the others failed with the reasons, audited.
    async fn canary_then(self: Arc<Self>, canaries: Vec<HostTurn>, rest: Vec<HostTurn>) {
        let turns: Vec<_> = canaries
            .into_iter()
            .map(|turn| {
                let (name, host) = (turn.name.clone(), Arc::clone(&turn.host));
                (name, host, tokio::spawn(Arc::clone(&self).turn(turn)))
            })
            .collect();
        let mut unhealthy = Vec::new();
        for (name, host, turn) in turns {
            let progress = turn.await.unwrap_or(Progress::Pending);
            if let Some(why) = unhealthy_after(progress, &host).await {
                unhealthy.push(format!(
                    "the canary {name} did not come back healthy: {why}"
                ));
            }
        }
        if unhealthy.is_empty() {
            for turn in rest {
                tokio::spawn(Arc::clone(&self).turn(turn));
            }
            return;
        }
        let why = format!("stopped: {}", unhealthy.join("; "));
        lock(&self.job).stopped = Some(why.clone());
        for turn in rest {
            (self.audit)(
                &turn.name,
                &format!("{}: {}: not run, {why}", turn.name, self.work.describe()),
            );
            set(
                &self.job,
                turn.index,
                Progress::Failed { error: why.clone() },
            );
        }
    }
}

/// Why a canary that ended with `progress` is not healthy, if it is not: its result was not
/// 0, or it no longer answers Identify.
async fn unhealthy_after(progress: Progress, host: &Host) -> Option<String> {
    match progress {
        Progress::Done { code: Some(0), .. } => match host.identify().await {
            Ok(_) => None,
            Err(error) => Some(format!("it does not answer since: {error}")),
        },
        Progress::Done { code, .. } => Some(format!(
            "its result was {}",
            code.map_or("none".into(), |c| c.to_string())
        )),
        Progress::Failed { error } => Some(error),
        Progress::Pending | Progress::Running => Some("it did not finish".into()),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn set(job: &Mutex<Job>, index: usize, progress: Progress) {
    if let Some(run) = lock(job).hosts.get_mut(index) {
        run.progress = progress;
    }
}

/// Returns once `cancelled` is set (or never, when its sender is gone: a kept job's runs).
async fn until_cancelled(cancelled: &mut watch::Receiver<bool>) {
    if cancelled.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Runs `work` on `host`, bounded in time and output, until done or `cancelled`.
async fn run(host: &Host, work: &Work, mut cancelled: watch::Receiver<bool>) -> Progress {
    let cancel = async move { until_cancelled(&mut cancelled).await };
    match work {
        Work::Updates(action, UpdateSink(states)) => tokio::select! {
            done = crate::updates::run(host, *action, states) => match done {
                Ok(done) => Progress::Done { code: Some(done.code), output: done.output, truncated: false },
                Err(error) => Progress::Failed { error: error.to_string() },
            },
            () = cancel => {
                // Not scanning, installing or waiting to reboot any more, as far as the
                // console knows (an install the host started goes on there).
                states.change(&host.config.name, |s| {
                    s.activity = crate::updates::Activity::Idle;
                    s.error = Some(CANCELLED.into());
                });
                Progress::Failed { error: CANCELLED.into() }
            }
        },
        Work::Service(service, action) => {
            let result = tokio::select! {
                result = host.service_action(service, *action) => result,
                () = cancel => return Progress::Failed { error: CANCELLED.into() },
            };
            match result.error {
                Some(error) => Progress::Failed { error },
                None => Progress::Done {
                    code: result.return_value.map(i64::from),
                    output: String::new(),
                    truncated: false,
                },
            }
        }
        Work::Command(line) => match host
            .run_bounded(line, MAX_OUTPUT, COMMAND_DEADLINE, cancel)
            .await
        {
            Ok((code, output, truncated)) => Progress::Done {
                code,
                output,
                truncated,
            },
            Err(error) => Progress::Failed {
                error: error.to_string(),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wsman_config::mgmt::{Action, ManagedHost};
    use wsman_principal::Principal;

    /// A grant to run commands, held by `principal`.
    fn grant(principal: &Principal) -> Grant {
        Grant {
            owner: principal.owner_key(),
            groups: Vec::new(),
            resource: "*".into(),
            action: Action::Shell,
        }
    }

    /// A host whose listener (held by the caller) accepts connections and never answers, so
    /// a run on it stays live until it is cancelled.
    fn silent_host() -> (std::net::TcpListener, Arc<Host>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let config = ManagedHost {
            name: "silent".into(),
            url: format!("http://127.0.0.1:{port}/wsman"),
            username: "ops".into(),
            password_file: "unused".into(),
            allow_unencrypted: true,
            skip_ca_check: false,
            groups: Vec::new(),
            run_as: Vec::new(),
        };
        let host = crate::hosts::connect_with(config, "unused".into()).expect("host");
        (listener, Arc::new(host))
    }

    #[tokio::test]
    async fn a_console_account_and_the_os_user_of_its_name_own_jobs_apart() {
        let manager = crate::sessions::manager_account("alice");
        let os_user = Principal::linux_user("alice");
        let (_listener, host) = silent_host();
        let jobs = Arc::new(Jobs::default());
        let start = |principal: &Principal| {
            let targets = vec![("silent".to_owned(), Ok(Arc::clone(&host)))];
            jobs.start(
                grant(principal),
                Work::Command("true".into()),
                targets,
                |_, _| {},
            )
        };
        let ids: Vec<u64> = (0..MAX_RUNNING_PER_USER)
            .map(|_| start(&manager).expect("started"))
            .collect();
        // The manager account's quota is full; the OS user of its name has its own.
        assert_eq!(start(&manager), Err(JobRefused::User));
        let theirs = start(&os_user).expect("another owner's quota");
        // Each sees only its own jobs.
        assert!(jobs.get(ids[0], &manager.owner_key()).is_some());
        assert!(jobs.get(ids[0], &os_user.owner_key()).is_none());
        assert!(jobs.get(theirs, &manager.owner_key()).is_none());
        assert!(jobs.get(theirs, &os_user.owner_key()).is_some());
        // Ending the OS user's runs leaves the manager account's running, and the reverse.
        let of = |owner: Principal| {
            let owner = owner.owner_key();
            move |_: &str, grant: &Grant| grant.owner.is(&owner)
        };
        assert_eq!(jobs.end_where(of(os_user.clone())), 1);
        assert_eq!(jobs.end_where(of(manager.clone())), MAX_RUNNING_PER_USER);
    }
}
