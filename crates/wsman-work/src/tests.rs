use super::*;
use std::time::Duration;

fn timed_out<T>(result: &Result<T, Fault>) -> bool {
    result.as_ref().err() == Some(&Fault::timed_out())
}

fn in_a_minute() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

/// A bulk job that holds its turn until released; answers once it has started.
async fn hold_bulk(
    pool: &Arc<WorkPool>,
    user: &'static str,
) -> (
    tokio::task::JoinHandle<Result<(), Fault>>,
    std::sync::mpsc::Sender<()>,
) {
    let (started, wait_started) = oneshot::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let holder = {
        let pool = Arc::clone(pool);
        tokio::spawn(async move {
            pool.run(Lane::Bulk, user, in_a_minute(), move |_| {
                let _ = started.send(());
                let _ = released.recv();
                Ok(())
            })
            .await
        })
    };
    wait_started.await.expect("the bulk job started");
    (holder, release)
}

/// Work that never ends by itself stops at the deadline with `w:TimedOut`, in either lane.
#[tokio::test]
async fn endless_work_stops_at_its_deadline() {
    let pool = WorkPool::new(2);
    for lane in [Lane::Bulk, Lane::Interactive] {
        let deadline = Instant::now() + Duration::from_millis(50);
        let result: Result<(), Fault> = pool
            .run(lane, "alice", deadline, |budget| loop {
                budget.spend(1)?;
            })
            .await;
        assert!(timed_out(&result), "{lane:?}");
    }
}

/// A user holding its bulk share waits (and times out) while another user still gets a turn.
#[tokio::test]
async fn one_user_cannot_take_every_turn() {
    let pool = Arc::new(WorkPool::new(2));
    let (holder, release) = hold_bulk(&pool, "alice").await;
    let soon = Instant::now() + Duration::from_millis(100);
    assert!(timed_out(
        &pool.run(Lane::Bulk, "alice", soon, |_| Ok(())).await
    ));
    assert_eq!(
        pool.run(Lane::Bulk, "bob", in_a_minute(), |_| Ok(())).await,
        Ok(())
    );
    let _ = release.send(());
    assert!(matches!(holder.await, Ok(Ok(()))));
}

/// Bulk jobs run on threads lowered to nice 19 and SCHED_BATCH; interactive jobs keep the
/// daemon's scheduling.
#[tokio::test]
async fn bulk_jobs_run_at_the_lowest_priority() {
    use wsman_os::priority::{this_thread, Scheduling, BACKGROUND_NICE};
    let pool = WorkPool::new(2);
    let ours = this_thread().unwrap();
    assert!(!ours.batch);
    let scheduling = |_: &mut Budget| Ok(this_thread().unwrap());
    let bulk = pool
        .run(Lane::Bulk, "alice", in_a_minute(), scheduling)
        .await;
    let lowered = Scheduling {
        nice: BACKGROUND_NICE,
        batch: true,
    };
    assert_eq!(bulk, Ok(lowered));
    let interactive = pool
        .run(Lane::Interactive, "alice", in_a_minute(), scheduling)
        .await;
    assert_eq!(interactive, Ok(ours));
}

/// With every bulk turn held by other users (a third bulk job cannot start), an interactive
/// job is granted at once and runs while the holders are still blocked in their jobs.
#[tokio::test]
async fn interactive_turns_do_not_wait_for_bulk_ones() {
    let pool = Arc::new(WorkPool::new(2));
    assert_eq!(pool.limit(Lane::Bulk), 2);
    let (alice, release_alice) = hold_bulk(&pool, "alice").await;
    let (bob, release_bob) = hold_bulk(&pool, "bob").await;
    let soon = Instant::now() + Duration::from_millis(100);
    let refused = pool.run(Lane::Bulk, "carol", soon, |_| Ok(())).await;
    assert!(timed_out(&refused), "the bulk lane is full");
    let deadline = Instant::now() + Duration::from_secs(5);
    let answered = pool
        .run(Lane::Interactive, "admin", deadline, |_| Ok("instance"))
        .await;
    assert_eq!(answered, Ok("instance"));
    assert!(
        !alice.is_finished() && !bob.is_finished(),
        "holders still blocked"
    );
    let _ = release_alice.send(());
    let _ = release_bob.send(());
    assert!(matches!(alice.await, Ok(Ok(()))));
    assert!(matches!(bob.await, Ok(Ok(()))));
}

/// A bulk job that panics fails its request, and its thread takes the next job.
#[tokio::test]
async fn a_panicking_bulk_job_fails_alone() {
    let pool = WorkPool::new(2);
    for _ in 0..pool.limit(Lane::Bulk) {
        let turn = pool
            .wait_turn(Lane::Bulk, "alice", in_a_minute())
            .await
            .unwrap();
        let failed: Result<(), WorkError> = pool
            .run_in_turn(turn, in_a_minute(), |_| panic!("a broken filter"))
            .await;
        assert_eq!(failed, Err(WorkError::Failed("a broken filter".to_owned())));
    }
    assert_eq!(
        pool.run(Lane::Bulk, "alice", in_a_minute(), |_| Ok(1))
            .await,
        Ok(1)
    );
}

/// A row per `WorkError` variant (its `From` is a listed home of the errors table's
/// architecture check), with the fault expected and where that comes from.
#[test]
fn work_errors_map_to_their_faults() {
    let rows = [
        // Recording: the OperationTimeout fault, `w:TimedOut` 2150858793
        // (`fault.receive-timeout.xml`; reference §4.10, MaxTimeoutms).
        (WorkError::TimedOut, "s:Receiver", "w:TimedOut", 2150858793),
        // Reference §5.2, §5.3: the generic server failure, E_FAIL.
        (
            WorkError::Closed,
            "s:Receiver",
            "w:InternalError",
            2147500037,
        ),
        // Reference §5.2, §5.3: as above.
        (
            WorkError::Failed("it panicked".into()),
            "s:Receiver",
            "w:InternalError",
            2147500037,
        ),
    ];
    for (error, code, subcode, wsman_code) in rows {
        let row = format!("{error:?}");
        let fault = Fault::from(error);
        assert_eq!(fault.code.qname(), code, "{row}");
        assert_eq!(
            fault.subcode.map(|s| s.qname()).as_deref(),
            Some(subcode),
            "{row}"
        );
        assert_eq!(fault.wsman_code, wsman_code, "{row}");
    }
}
