//! CPU-heavy work of a request (filter evaluation, making and rendering enumeration items) on a
//! bounded pool, never on the async workers, which only move bytes: at most [`WorkPool::threads`]
//! jobs run at once, one user at most half of them, so a user's hostile filters queue behind
//! each other instead of taking every core. Each job gets a [`Budget`] checked against the
//! request's deadline (OperationTimeout capped by MaxTimeoutms); waiting for a turn counts too.
//! Past the deadline the work stops where it is and the client gets `w:TimedOut`, as Windows
//! answers an operation that outlives its OperationTimeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wsman_proto::budget::{Budget, Expired};
use wsman_proto::Fault;

/// Users' turn counters kept at most; idle ones are forgotten beyond this.
const TRACKED_USERS: usize = 256;

/// The bounded pool.
pub struct WorkPool {
    threads: usize,
    running: Arc<Semaphore>,
    users: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl WorkPool {
    /// A pool running at most `threads` jobs at once (at least 2), a user at most half.
    pub fn new(threads: usize) -> Self {
        let threads = threads.max(2);
        Self {
            threads,
            running: Arc::new(Semaphore::new(threads)),
            users: Mutex::default(),
        }
    }

    /// The daemon's pool, one job per core.
    pub fn shared() -> &'static WorkPool {
        static POOL: OnceLock<WorkPool> = OnceLock::new();
        POOL.get_or_init(|| {
            WorkPool::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
        })
    }

    /// Jobs run at once at most.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Jobs one user runs at once at most.
    pub fn per_user(&self) -> usize {
        (self.threads / 2).max(1)
    }

    fn user_turns(&self, user: &str) -> Arc<Semaphore> {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        if users.len() >= TRACKED_USERS && !users.contains_key(user) {
            let per_user = self.per_user();
            users.retain(|_, s| Arc::strong_count(s) > 1 || s.available_permits() < per_user);
        }
        Arc::clone(
            users
                .entry(user.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_user()))),
        )
    }

    async fn turn(&self, user: &str) -> Option<Turn> {
        let mine = self.user_turns(user).acquire_owned().await.ok()?;
        let any = Arc::clone(&self.running).acquire_owned().await.ok()?;
        Some(Turn {
            _user: mine,
            _pool: any,
        })
    }

    /// Wait for `user`'s turn until `deadline`: `w:TimedOut` when it does not come.
    pub async fn wait_turn(&self, user: &str, deadline: Instant) -> Result<Turn, Fault> {
        match tokio::time::timeout_at(deadline.into(), self.turn(user)).await {
            Ok(Some(turn)) => Ok(turn),
            Ok(None) => Err(Fault::internal_error("The work pool is closed. ")),
            Err(_) => Err(Fault::timed_out()),
        }
    }

    /// Run `work` in `turn` on the blocking pool with a budget that runs out at `deadline`;
    /// the turn ends with the work.
    pub async fn run_in_turn<T, W>(turn: Turn, deadline: Instant, work: W) -> Result<T, Fault>
    where
        T: Send + 'static,
        W: FnOnce(&mut Budget) -> T + Send + 'static,
    {
        let job = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            let expired = move || Instant::now() >= deadline;
            work(&mut Budget::checked_by(&expired))
        });
        job.await.map_err(|join| {
            Fault::internal_error(format!(
                "The provider failed while processing the request: {join}. "
            ))
        })
    }

    /// Run `work` for `user` on the blocking pool, once it is the user's turn, with a budget
    /// that runs out at `deadline`. Out of time (waiting or working): `w:TimedOut`.
    pub async fn run<T, W>(&self, user: &str, deadline: Instant, work: W) -> Result<T, Fault>
    where
        T: Send + 'static,
        W: FnOnce(&mut Budget) -> Result<T, Expired> + Send + 'static,
    {
        let turn = self.wait_turn(user, deadline).await?;
        Self::run_in_turn(turn, deadline, work)
            .await?
            .map_err(|Expired| Fault::timed_out())
    }
}

/// One job's place in the pool (the user's and the pool's), held while it runs.
pub struct Turn {
    _user: OwnedSemaphorePermit,
    _pool: OwnedSemaphorePermit,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn timed_out(result: &Result<(), Fault>) -> bool {
        result.as_ref().err() == Some(&Fault::timed_out())
    }

    /// Work that never ends by itself stops at the deadline with `w:TimedOut`.
    #[tokio::test]
    async fn endless_work_stops_at_its_deadline() {
        let pool = WorkPool::new(2);
        let deadline = Instant::now() + Duration::from_millis(50);
        let result = pool
            .run("alice", deadline, |budget| loop {
                budget.spend(1)?;
            })
            .await;
        assert!(timed_out(&result));
    }

    /// A user holding its share waits (and times out) while another user still gets a turn.
    #[tokio::test]
    async fn one_user_cannot_take_every_turn() {
        let pool = Arc::new(WorkPool::new(2));
        let (started, wait_started) = tokio::sync::oneshot::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let long = Instant::now() + Duration::from_secs(60);
        let holder = {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move {
                pool.run("alice", long, move |_| {
                    let _ = started.send(());
                    let _ = released.recv();
                    Ok(())
                })
                .await
            })
        };
        let _ = wait_started.await;
        let soon = Instant::now() + Duration::from_millis(100);
        assert!(timed_out(&pool.run("alice", soon, |_| Ok(())).await));
        assert_eq!(pool.run("bob", long, |_| Ok(())).await, Ok(()));
        let _ = release.send(());
        assert!(matches!(holder.await, Ok(Ok(()))));
    }
}
