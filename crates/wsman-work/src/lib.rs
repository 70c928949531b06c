//! The work pool: requests' CPU-heavy or blocking work, never on the async workers (which only
//! move bytes), in two lanes, each bounded in all and per user, each job stopped at its
//! request's deadline.
//!
//! - [`Lane::Bulk`]: work whose cost a user's request chooses and which may take a request's
//!   whole OperationTimeout: filter evaluation (WQL `LIKE`, event XPath), making and rendering
//!   enumeration items, deciding journal entries. At most one job per core runs at once, one
//!   user at most half of them, so a user's hostile filters queue behind each other instead of
//!   taking every core. Its jobs run on the pool's own threads at the lowest priority (nice 19
//!   and `SCHED_BATCH`, [`wsman_os::priority`]), so the async workers and interactive jobs, at
//!   normal priority, preempt them: an administrator's Get stays quick while read-only users keep every bulk
//!   turn busy. The trade-off: a bulk job gets less CPU only while the host is busy with
//!   something else; on an idle host it runs as fast as at normal priority.
//! - [`Lane::Interactive`]: a provider's call for one request (a Get or Put of one instance,
//!   an Invoke, a provider's read of its instances), bounded, small work that may block on I/O
//!   (D-Bus, the BMC). It runs on tokio's blocking pool at normal priority, with a global limit
//!   of several jobs per core and a per-user share of a quarter of it, so that one user's slow
//!   calls cannot hold every turn.
//!
//! Each job gets a [`Budget`] checked against the request's deadline (OperationTimeout capped
//! by MaxTimeoutms); waiting for a turn counts too. Past the deadline the work stops where it
//! is and the caller answers `w:TimedOut`, as Windows answers an operation that outlives its
//! OperationTimeout. Turns are granted in order of asking (tokio's semaphores are fair).
#![forbid(unsafe_code)]

mod ahead;
pub use ahead::{Ahead, MAKE_AHEAD_TIME};

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use wsman_proto::budget::{Budget, Expired};
use wsman_proto::Fault;

/// Users' turn counters kept at most per lane; idle ones are forgotten beyond this.
const TRACKED_USERS: usize = 256;

/// Interactive jobs at once per core (they may wait on I/O, so more than one per core).
pub const INTERACTIVE_PER_CORE: usize = 8;

/// Which kind of work a job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// Costly, user-chosen work (filters, scans): the pool's own low-priority threads.
    Bulk,
    /// A provider's call for one request: the blocking pool, normal priority.
    Interactive,
}

/// Why a job did not run to its end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WorkError {
    /// The deadline passed while waiting for a turn, or the work stopped at it.
    #[error("the work ran past its deadline")]
    TimedOut,
    /// The pool is shutting down.
    #[error("the work pool is closed")]
    Closed,
    /// The job panicked.
    #[error("the job failed: {0}")]
    Failed(String),
}

impl From<WorkError> for Fault {
    fn from(error: WorkError) -> Fault {
        match error {
            WorkError::TimedOut => Fault::timed_out(),
            WorkError::Closed => Fault::internal_error("The work pool is closed. "),
            WorkError::Failed(why) => Fault::internal_error(format!(
                "The provider failed while processing the request: {why}. "
            )),
        }
    }
}

/// One lane's turns: in all, and per user.
struct Shares {
    limit: usize,
    per_user: usize,
    running: Arc<Semaphore>,
    users: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Shares {
    fn new(limit: usize, per_user: usize) -> Self {
        Self {
            limit,
            per_user,
            running: Arc::new(Semaphore::new(limit)),
            users: Mutex::default(),
        }
    }

    fn user_turns(&self, user: &str) -> Arc<Semaphore> {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        if users.len() >= TRACKED_USERS && !users.contains_key(user) {
            let per_user = self.per_user;
            users.retain(|_, s| Arc::strong_count(s) > 1 || s.available_permits() < per_user);
        }
        Arc::clone(
            users
                .entry(user.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_user))),
        )
    }

    /// The user's turn first, then one of the lane's: a user over its share never holds a
    /// place of the lane while it waits.
    async fn turn(&self, user: &str) -> Option<(OwnedSemaphorePermit, OwnedSemaphorePermit)> {
        let mine = self.user_turns(user).acquire_owned().await.ok()?;
        let any = Arc::clone(&self.running).acquire_owned().await.ok()?;
        Some((mine, any))
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// The bulk lane's threads, started at the first bulk job, each lowered (nice 19,
/// `SCHED_BATCH`) before it takes a job. As many as the lane's limit: a job is sent only in
/// a turn, so one is free.
struct BulkThreads {
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl BulkThreads {
    fn start(count: usize) -> Self {
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..count {
            let receiver = Arc::clone(&receiver);
            let started = std::thread::Builder::new()
                .name(format!("wsman-bulk-{n}"))
                .spawn(move || bulk_thread(&receiver));
            if let Err(error) = started {
                tracing::error!(%error, "a bulk work thread could not be started");
            }
        }
        Self {
            jobs: Mutex::new(sender),
        }
    }

    fn send(&self, job: Job) -> Result<(), WorkError> {
        let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        jobs.send(job).map_err(|_| WorkError::Closed)
    }
}

/// One bulk thread: lowered, then jobs until the pool is dropped.
fn bulk_thread(receiver: &Mutex<mpsc::Receiver<Job>>) {
    if let Err(error) = wsman_os::priority::lower_this_thread() {
        tracing::warn!(%error, "a bulk work thread runs at normal priority");
    }
    loop {
        let job = {
            let receiver = receiver.lock().unwrap_or_else(|p| p.into_inner());
            receiver.recv()
        };
        match job {
            Ok(job) => job(),
            Err(mpsc::RecvError) => return,
        }
    }
}

/// The bounded pool.
pub struct WorkPool {
    bulk: Shares,
    interactive: Shares,
    bulk_threads: OnceLock<BulkThreads>,
}

impl WorkPool {
    /// A pool for `cores` cores (at least 2): bulk jobs one per core, a user at most half;
    /// interactive jobs [`INTERACTIVE_PER_CORE`] per core, a user at most a quarter.
    pub fn new(cores: usize) -> Self {
        let cores = cores.max(2);
        let interactive = cores * INTERACTIVE_PER_CORE;
        Self {
            bulk: Shares::new(cores, (cores / 2).max(1)),
            interactive: Shares::new(interactive, (interactive / 4).max(1)),
            bulk_threads: OnceLock::new(),
        }
    }

    /// The daemon's pool, sized by the cores it may use.
    pub fn shared() -> &'static WorkPool {
        static POOL: OnceLock<WorkPool> = OnceLock::new();
        POOL.get_or_init(|| {
            WorkPool::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
        })
    }

    fn shares(&self, lane: Lane) -> &Shares {
        match lane {
            Lane::Bulk => &self.bulk,
            Lane::Interactive => &self.interactive,
        }
    }

    /// Jobs of `lane` run at once at most.
    pub fn limit(&self, lane: Lane) -> usize {
        self.shares(lane).limit
    }

    /// Jobs of `lane` one user runs at once at most.
    pub fn per_user(&self, lane: Lane) -> usize {
        self.shares(lane).per_user
    }

    /// Wait for `user`'s turn in `lane` until `deadline`: [`WorkError::TimedOut`] when it does
    /// not come.
    pub async fn wait_turn(
        &self,
        lane: Lane,
        user: &str,
        deadline: Instant,
    ) -> Result<Turn, WorkError> {
        match tokio::time::timeout_at(deadline.into(), self.shares(lane).turn(user)).await {
            Ok(Some((user, pool))) => Ok(Turn {
                lane,
                _user: user,
                _pool: pool,
            }),
            Ok(None) => Err(WorkError::Closed),
            Err(_) => Err(WorkError::TimedOut),
        }
    }

    /// Run `work` in `turn` (on its lane's threads) with a budget that runs out at `deadline`;
    /// the turn ends with the work.
    pub async fn run_in_turn<T, W>(
        &self,
        turn: Turn,
        deadline: Instant,
        work: W,
    ) -> Result<T, WorkError>
    where
        T: Send + 'static,
        W: FnOnce(&mut Budget) -> T + Send + 'static,
    {
        let lane = turn.lane;
        let job = move || {
            let _turn = turn;
            let expired = move || Instant::now() >= deadline;
            work(&mut Budget::checked_by(&expired))
        };
        match lane {
            Lane::Interactive => tokio::task::spawn_blocking(job)
                .await
                .map_err(|join| WorkError::Failed(join.to_string())),
            Lane::Bulk => self.run_bulk(job).await,
        }
    }

    async fn run_bulk<T, J>(&self, job: J) -> Result<T, WorkError>
    where
        T: Send + 'static,
        J: FnOnce() -> T + Send + 'static,
    {
        let (done, result) = oneshot::channel();
        let threads = self
            .bulk_threads
            .get_or_init(|| BulkThreads::start(self.bulk.limit));
        threads.send(Box::new(move || {
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(job));
            let _ = done.send(outcome);
        }))?;
        match result.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(panic)) => Err(WorkError::Failed(panic_text(panic.as_ref()))),
            Err(_) => Err(WorkError::Closed),
        }
    }

    /// Run `work` for `user` in `lane`, once it is the user's turn, with a budget that runs
    /// out at `deadline`. Out of time (waiting or working): `w:TimedOut`.
    pub async fn run<T, W>(
        &self,
        lane: Lane,
        user: &str,
        deadline: Instant,
        work: W,
    ) -> Result<T, Fault>
    where
        T: Send + 'static,
        W: FnOnce(&mut Budget) -> Result<T, Expired> + Send + 'static,
    {
        let turn = self.wait_turn(lane, user, deadline).await?;
        self.run_in_turn(turn, deadline, work)
            .await?
            .map_err(|Expired| Fault::timed_out())
    }
}

/// What a panic said, when it said it as text.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "it panicked".to_owned())
}

/// One job's place in its lane (the user's and the lane's), held while it runs.
pub struct Turn {
    lane: Lane,
    _user: OwnedSemaphorePermit,
    _pool: OwnedSemaphorePermit,
}

impl Turn {
    /// The lane the turn is in.
    pub fn lane(&self) -> Lane {
        self.lane
    }
}

#[cfg(test)]
mod tests;
