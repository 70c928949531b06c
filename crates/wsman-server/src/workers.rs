//! Connection workers: threads that each run a current-thread runtime for the daemon's life,
//! and serve whole every connection handed to them.
//!
//! Why: on a multi-thread runtime a connection's tasks (its HTTP task, a shell's pump, a waiting
//! Receive) hop between workers, and each answer's socket events wake a sleeping worker to look
//! for work: a quarter more CPU per GiB of a command's output with two workers than with one
//! (docs/benchmarks-history.md, "the async workers on two cores"). With one thread per
//! connection, everything the connection spawns runs on the thread that serves it and its
//! sockets are in that thread's own reactor, so nothing wakes another thread; yet the
//! connections are spread over as many threads as there are cores, so short requests on many
//! connections (Identify) have every core.
//!
//! The accept loops stay on the daemon's main runtime; an admitted connection leaves that
//! runtime's reactor ([`TcpStream::into_std`]) and is registered in its worker's
//! ([`TcpStream::from_std`], inside the task on that worker). Each runtime has its own blocking
//! pool: nothing relies on one pool as a bound (the work pool, password checks and the shells
//! bound themselves with their own semaphores and limits).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// One worker as the accept loops see it.
struct Worker {
    handle: Handle,
    /// Connections it serves now.
    open: Arc<AtomicUsize>,
}

/// Where admitted connections are served: see the module's documentation.
pub struct ConnectionWorkers {
    workers: Vec<Worker>,
    /// Where the next search for the least busy worker starts, so ties go round in turn.
    next: AtomicUsize,
}

/// The workers' threads, held by whoever stops them (the daemon, at its exit).
pub struct WorkerThreads {
    threads: Vec<(oneshot::Sender<()>, std::thread::JoinHandle<()>)>,
}

/// Counts a connection as open on its worker until dropped (with the connection's task, or
/// with the task never run when the worker has stopped).
struct OpenConnection(Arc<AtomicUsize>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ConnectionWorkers {
    /// Starts `count` workers (at least one), named `NAME-conn-N`. At their stop each waits up
    /// to `at_exit` for blocking work still running on its pool, as the main runtime does.
    pub fn start(
        count: usize,
        name: &str,
        at_exit: Duration,
    ) -> std::io::Result<(Arc<Self>, WorkerThreads)> {
        let mut workers = Vec::new();
        let mut threads = WorkerThreads {
            threads: Vec::new(),
        };
        for index in 0..count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .thread_name(format!("{name}-conn-{index}-blocking"))
                .build()?;
            let handle = runtime.handle().clone();
            let (stop, stopped) = oneshot::channel::<()>();
            let thread = std::thread::Builder::new()
                .name(format!("{name}-conn-{index}"))
                .spawn(move || {
                    let _ = runtime.block_on(stopped);
                    runtime.shutdown_timeout(at_exit);
                })?;
            threads.threads.push((stop, thread));
            workers.push(Worker {
                handle,
                open: Arc::default(),
            });
        }
        let workers = Arc::new(Self {
            workers,
            next: AtomicUsize::new(0),
        });
        Ok((workers, threads))
    }

    /// The worker with the fewest open connections, the search starting one further each time
    /// so that equal workers take connections in turn.
    fn pick(&self) -> usize {
        let count = self.workers.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % count;
        (0..count)
            .map(|offset| (start + offset) % count)
            .min_by_key(|&index| self.workers[index].open.load(Ordering::Relaxed))
            .unwrap_or(0)
    }

    /// Serves `stream` on a worker with `serve`, which runs there whole, with everything it
    /// spawns. Dropped without running (and so with what it holds, a connection's slot) when the
    /// socket cannot move between the reactors, logged, or the worker has stopped.
    pub fn serve<F, Fut>(&self, stream: TcpStream, serve: F)
    where
        F: FnOnce(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!(%error, "connection closed: it could not leave the acceptor's reactor");
                return;
            }
        };
        let worker = &self.workers[self.pick()];
        worker.open.fetch_add(1, Ordering::Relaxed);
        let open = OpenConnection(Arc::clone(&worker.open));
        worker.handle.spawn(async move {
            let _open = open;
            match TcpStream::from_std(stream) {
                Ok(stream) => serve(stream).await,
                Err(error) => {
                    tracing::warn!(%error, "connection closed: its worker could not register it");
                }
            }
        });
    }
}

impl WorkerThreads {
    /// Ends the workers: the tasks still on them are dropped, and each waits up to its
    /// `at_exit` for its blocking work, all at once; returns when every thread has ended.
    pub fn stop(self) {
        let threads: Vec<_> = self
            .threads
            .into_iter()
            .map(|(stop, thread)| {
                let _ = stop.send(());
                thread
            })
            .collect();
        for thread in threads {
            if thread.join().is_err() {
                tracing::error!("a connection worker panicked");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn thread_name() -> String {
        std::thread::current().name().unwrap_or("").to_owned()
    }

    fn thread_id() -> String {
        format!("{:?}", std::thread::current().id())
    }

    /// Connections held open go to the workers in turn, and each connection's own task, a task
    /// it spawns and one spawned from its blocking work (as a shell's pump is) run on the thread
    /// that serves it, reading and writing the socket there.
    #[tokio::test]
    async fn connections_go_round_the_workers_and_stay_on_one_thread() {
        let (workers, threads) =
            ConnectionWorkers::start(2, "test", Duration::from_secs(1)).expect("workers");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let mut clients = Vec::new();
        let mut seen = Vec::new();
        for _ in 0..4 {
            let mut client = TcpStream::connect(address).await.expect("connect");
            let (stream, _) = listener.accept().await.expect("accept");
            workers.serve(stream, |mut stream| async move {
                let mut byte = [0u8; 1];
                stream.read_exact(&mut byte).await.expect("request");
                let served_on = thread_id();
                let spawned_on = tokio::spawn(async { thread_id() })
                    .await
                    .expect("spawned task");
                // As a command's pumps are: spawned from the blocking pool that started it.
                let from_blocking =
                    tokio::task::spawn_blocking(|| tokio::spawn(async { thread_id() }))
                        .await
                        .expect("blocking job")
                        .await
                        .expect("task spawned from the blocking pool");
                let answer = format!(
                    "{} {served_on} {spawned_on} {from_blocking}\n",
                    thread_name()
                );
                stream.write_all(answer.as_bytes()).await.expect("answer");
                // Held open until the client closes, so the worker counts it.
                let _ = stream.read(&mut byte).await;
            });
            client.write_all(b"?").await.expect("ask");
            let mut answer = Vec::new();
            while !answer.ends_with(b"\n") {
                let mut byte = [0u8; 1];
                client.read_exact(&mut byte).await.expect("answer");
                answer.push(byte[0]);
            }
            let answer = String::from_utf8(answer).expect("names");
            let [name, served_on, spawned_on, from_blocking] =
                answer.split_whitespace().collect::<Vec<_>>()[..]
            else {
                panic!("four words: {answer}");
            };
            assert_eq!(
                served_on, spawned_on,
                "a spawned task ran on another thread"
            );
            assert_eq!(
                served_on, from_blocking,
                "a pump would run on another thread"
            );
            seen.push(name.to_owned());
            clients.push(client);
        }
        assert_eq!(
            seen,
            ["test-conn-0", "test-conn-1", "test-conn-0", "test-conn-1"]
        );
        drop(clients);
        threads.stop();
    }

    /// A worker whose connections closed takes the next one before a busier worker, whatever
    /// the turn says.
    #[tokio::test]
    async fn the_least_busy_worker_takes_the_next_connection() {
        let (workers, threads) =
            ConnectionWorkers::start(2, "least", Duration::from_secs(1)).expect("workers");
        workers.workers[0].open.store(3, Ordering::Relaxed);
        assert_eq!(workers.pick(), 1);
        assert_eq!(workers.pick(), 1);
        workers.workers[0].open.store(0, Ordering::Relaxed);
        workers.workers[1].open.store(1, Ordering::Relaxed);
        assert_eq!(workers.pick(), 0);
        threads.stop();
    }

    /// Stopping the workers drops what they still serve (and with it what a connection holds,
    /// its slot), and returns.
    #[tokio::test]
    async fn stopping_the_workers_drops_their_connections() {
        let (workers, threads) =
            ConnectionWorkers::start(1, "stop", Duration::from_secs(1)).expect("workers");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let mut client = TcpStream::connect(listener.local_addr().expect("address"))
            .await
            .expect("connect");
        let (stream, _) = listener.accept().await.expect("accept");
        let held = Arc::new(());
        let in_task = Arc::clone(&held);
        workers.serve(stream, move |mut stream| async move {
            let _slot = in_task;
            let mut byte = [0u8; 1];
            let _ = stream.read(&mut byte).await;
        });
        tokio::task::spawn_blocking(move || threads.stop())
            .await
            .expect("stopped");
        assert_eq!(
            Arc::strong_count(&held),
            1,
            "the connection's task outlived its worker"
        );
        assert_eq!(workers.workers[0].open.load(Ordering::Relaxed), 0);
        let mut byte = [0u8; 1];
        assert_eq!(client.read(&mut byte).await.expect("closed"), 0);
    }

    /// A blocking job that never ends on its own (a stuck PAM conversation) does not hold the
    /// stop: each worker waits for its pool only up to its `at_exit`.
    #[test]
    fn stopping_the_workers_does_not_wait_for_stuck_blocking_work() {
        let (workers, threads) =
            ConnectionWorkers::start(2, "stuck", Duration::from_millis(50)).expect("workers");
        let (release, stuck) = std::sync::mpsc::channel::<()>();
        let stuck = Arc::new(std::sync::Mutex::new(stuck));
        let (started, job_started) = std::sync::mpsc::channel();
        for worker in &workers.workers {
            let (stuck, started) = (Arc::clone(&stuck), started.clone());
            worker.handle.spawn_blocking(move || {
                let _ = started.send(());
                let _ = stuck.lock().map(|receiver| receiver.recv());
            });
        }
        for _ in &workers.workers {
            job_started.recv().expect("the blocking jobs started");
        }
        let (stopped, has_stopped) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            threads.stop();
            let _ = stopped.send(());
        });
        // Not a measure of speed: without the bound the stop would never return.
        let returned = has_stopped.recv_timeout(Duration::from_secs(60)).is_ok();
        drop(release);
        assert!(returned, "the stop waited for blocking work without end");
    }
}
