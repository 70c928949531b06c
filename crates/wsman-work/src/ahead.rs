//! Work for a client's next request, made while it reads the answer to this one: an
//! enumeration's next batch, a Pull subscription's next events. The job is the caller's (it
//! takes its turns of the pool as any job does); what this adds is the job's lifetime: it ends
//! with what it is made for. Dropping an [`Ahead`] aborts its job, so a context released,
//! expired or unsubscribed leaves no task behind, whichever path dropped it.

use std::future::Future;
use std::time::Duration;

use tokio::task::{JoinError, JoinHandle};

/// How long making a next batch ahead may take, out of any request's time: what is not made
/// by then is made by the request that wants it.
pub const MAKE_AHEAD_TIME: Duration = Duration::from_secs(2);

/// A job made ahead on the current runtime, aborted when dropped.
#[derive(Debug)]
pub struct Ahead<T> {
    job: Option<JoinHandle<T>>,
}

impl<T: Send + 'static> Ahead<T> {
    /// Start `job` on `runtime`.
    pub fn spawn_on<F>(runtime: &tokio::runtime::Handle, job: F) -> Self
    where
        F: Future<Output = T> + Send + 'static,
    {
        Self {
            job: Some(runtime.spawn(job)),
        }
    }

    /// What the job made, once it is done.
    pub async fn ready(mut self) -> Result<T, JoinError> {
        match self.job.take() {
            Some(job) => job.await,
            // Only `ready` takes the job, and it consumes `self`.
            None => unreachable!("an Ahead holds its job until ready"),
        }
    }
}

impl<T> Drop for Ahead<T> {
    fn drop(&mut self) {
        if let Some(job) = &self.job {
            job.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A job that would never end on its own holds what it was given until dropped: dropping
    /// its Ahead ends it and lets go of that.
    #[tokio::test]
    async fn dropping_an_ahead_ends_its_job() {
        let held = Arc::new(());
        let in_job = Arc::clone(&held);
        let ahead = Ahead::spawn_on(&tokio::runtime::Handle::current(), async move {
            let _kept = in_job;
            std::future::pending::<()>().await;
        });
        tokio::task::yield_now().await;
        assert_eq!(Arc::strong_count(&held), 2, "the job holds its share");
        drop(ahead);
        for _ in 0..1000 {
            if Arc::strong_count(&held) == 1 {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the job outlived its Ahead");
    }

    #[tokio::test]
    async fn a_job_made_ahead_is_handed_over_once_done() {
        let ahead = Ahead::spawn_on(&tokio::runtime::Handle::current(), async { 7 });
        assert_eq!(ahead.ready().await.ok(), Some(7));
    }
}
