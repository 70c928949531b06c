//! A connection from its TLS handshake to its end: the handshake within
//! [`TLS_HANDSHAKE_TIMEOUT`], then HTTP/1.1 with keep-alive and a bounded request head (its
//! bytes, its header lines, the time it may take; over a bound hyper answers 431, or the
//! service's page does, [`crate::head`]), upgrades (a WebSocket) allowed, and a graceful end
//! when the service stops: the request in flight is finished.
//!
//! The wait for a request head (the first, and each after an answer: the idle limit) is
//! bounded either by hyper's header read timer ([`serve`]) or by one watchdog timer per
//! connection that the service keeps informed ([`serve_watched`], [`Activity`]). Hyper's timer
//! is made, armed and dropped again for every request; the watchdog is armed once per limit
//! and costs a request two atomic writes, which is what a kept-alive connection's many small
//! requests (WinRM's Identify, Receive polls) want.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use futures_util::task::AtomicWaker;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::HttpService;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::head::{HeadGuard, TooLarge};

/// Longest time a client may take to finish the TLS handshake.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The bounds of a request head, each service's own.
#[derive(Clone, Copy, Debug)]
pub struct HeadLimits {
    /// Longest wait for a request head, the first and each one after: hyper's header read
    /// timeout runs from the end of the last response, so it is also the idle limit of a
    /// kept-alive connection.
    pub read_timeout: std::time::Duration,
    /// The connection's read buffer, and so the largest head (past it, hyper's 431).
    pub max_bytes: usize,
    /// Most header lines (past them, hyper's 431); `None`: hyper's 100.
    pub max_headers: Option<usize>,
    /// A head too large answered with the service's page, below `max_bytes`.
    pub too_large: Option<TooLarge>,
}

/// The client certificate chain a TLS client presented, if any.
pub type PeerCertificates = Option<Vec<CertificateDer<'static>>>;

/// What the requests of one connection are doing, for the head-wait limit of
/// [`serve_watched`]: how many are being answered, and when the last answer was ready. The
/// service marks each request ([`Activity::begin`], [`Busy::end`]).
#[derive(Debug)]
pub struct Activity {
    /// When the connection was ready for its first request head (after TLS).
    origin: Instant,
    /// Requests whose head arrived and whose answer is not ready yet.
    busy: AtomicUsize,
    /// Nanoseconds from `origin` to the moment the last answer was ready (0: none yet).
    idle_since: AtomicU64,
}

impl Default for Activity {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
            busy: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
        }
    }
}

impl Activity {
    /// A request's head arrived: no limit runs until its answer is ready.
    pub fn begin(&self) -> Busy<'_> {
        self.busy.fetch_add(1, Ordering::AcqRel);
        Busy {
            activity: self,
            ended: false,
        }
    }

    fn end(&self, at: Instant) {
        let since =
            u64::try_from(at.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX);
        self.idle_since.fetch_max(since, Ordering::AcqRel);
        self.busy.fetch_sub(1, Ordering::AcqRel);
    }

    /// When the wait for the next head ends, `limit` after the last answer was ready (or
    /// after the start); `None` while a request is being answered.
    fn head_deadline(&self, limit: Duration) -> Option<Instant> {
        if self.busy.load(Ordering::Acquire) > 0 {
            return None;
        }
        let since = Duration::from_nanos(self.idle_since.load(Ordering::Acquire));
        Some(self.origin + since + limit)
    }
}

/// One request being answered ([`Activity::begin`]); the head-wait limit starts again when it
/// ends, at the moment given to [`Busy::end`] or, dropped without it, when dropped.
#[derive(Debug)]
pub struct Busy<'a> {
    activity: &'a Activity,
    ended: bool,
}

impl Busy<'_> {
    /// The answer was ready at `at` (a clock reading the service takes anyway).
    pub fn end(mut self, at: Instant) {
        self.ended = true;
        self.activity.end(at);
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        if !self.ended {
            self.activity.end(Instant::now());
        }
    }
}

/// What a connection is read and written through: TCP, or TLS over it.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Serves `stream` until it ends or `stop` turns true: over TLS when `tls` is given (the
/// handshake bounded in time; a failure logged at debug), with `limits` on each request head
/// (the wait for it bounded by hyper's header read timer), each request answered by the
/// service `make_service` builds from the client certificates.
pub async fn serve<S>(
    stream: TcpStream,
    remote: SocketAddr,
    tls: Option<&TlsAcceptor>,
    limits: HeadLimits,
    stop: watch::Receiver<bool>,
    make_service: impl FnOnce(PeerCertificates) -> S,
) where
    S: HttpService<Incoming> + Send + 'static,
    S::Future: Send,
    S::ResBody: Send + 'static,
    <S::ResBody as hyper::body::Body>::Data: Send,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let make_service = |peer, _: &Arc<Activity>| make_service(peer);
    serve_with(stream, remote, tls, limits, stop, false, make_service).await;
}

/// As [`serve`], but the wait for each request head is bounded by a watchdog the service
/// keeps informed through the [`Activity`] it is given: it marks each request from its head
/// to its answer ([`Activity::begin`]). The bound is the same limit from the same moments, or
/// tighter: it runs from the moment the answer was ready, where hyper's timer starts once the
/// answer is written. A connection past it is closed, as hyper closes it.
pub async fn serve_watched<S>(
    stream: TcpStream,
    remote: SocketAddr,
    tls: Option<&TlsAcceptor>,
    limits: HeadLimits,
    stop: watch::Receiver<bool>,
    make_service: impl FnOnce(PeerCertificates, &Arc<Activity>) -> S,
) where
    S: HttpService<Incoming> + Send + 'static,
    S::Future: Send,
    S::ResBody: Send + 'static,
    <S::ResBody as hyper::body::Body>::Data: Send,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    serve_with(stream, remote, tls, limits, stop, true, make_service).await;
}

async fn serve_with<S>(
    stream: TcpStream,
    remote: SocketAddr,
    tls: Option<&TlsAcceptor>,
    limits: HeadLimits,
    mut stop: watch::Receiver<bool>,
    watched: bool,
    make_service: impl FnOnce(PeerCertificates, &Arc<Activity>) -> S,
) where
    S: HttpService<Incoming> + Send + 'static,
    S::Future: Send,
    S::ResBody: Send + 'static,
    <S::ResBody as hyper::body::Body>::Data: Send,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let _ = stream.set_nodelay(true);
    let (io, peer): (Box<dyn Io>, PeerCertificates) = match tls {
        None => (Box::new(stream), None),
        Some(acceptor) => {
            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let peer = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .map(|chain| chain.iter().map(|c| c.clone().into_owned()).collect());
                    (Box::new(tls), peer)
                }
                Ok(Err(error)) => return tracing::debug!(%remote, %error, "TLS handshake failed"),
                Err(_) => return tracing::debug!(%remote, "TLS handshake timed out"),
            }
        }
    };
    let mut builder = http1::Builder::new();
    builder.keep_alive(true).max_buf_size(limits.max_bytes);
    if watched {
        // The watchdog below bounds the wait; hyper keeps no timer of its own.
        builder.header_read_timeout(None);
    } else {
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.read_timeout);
    }
    if let Some(max_headers) = limits.max_headers {
        builder.max_headers(max_headers);
    }
    // The head guard only where a service has its own page for a head too large: without
    // one it passes every byte, and a layer that only forwards costs every read and write.
    let io: Box<dyn Io> = match limits.too_large {
        Some(too_large) => Box::new(HeadGuard::new(io, Some(too_large))),
        None => io,
    };
    let io = TokioIo::new(io);
    // Ready for the first head from here.
    let activity = Arc::new(Activity::default());
    // Upgrades: the console's WebSockets take the connection over after their 101.
    let connection = builder
        .serve_connection(io, make_service(peer, &activity))
        .with_upgrades();
    tokio::pin!(connection);
    // Armed only when watched (never polled otherwise); re-armed when it fires.
    let watchdog = tokio::time::sleep_until((activity.origin + limits.read_timeout).into());
    tokio::pin!(watchdog);
    if *stop.borrow() {
        connection.as_mut().graceful_shutdown();
    }
    loop {
        // In this order, without the macro's random start (a thread-local generator read at
        // every wake-up): the connection is what wakes the task nearly every time.
        tokio::select! {
            biased;
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%remote, %error, "connection ended with an error");
                }
                break;
            }
            changed = WhenWoken::new(stop.changed()) => {
                if changed.is_err() || *stop.borrow() {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.as_mut().await;
                    break;
                }
            }
            () = WhenWoken::new(watchdog.as_mut()), if watched => {
                let now = Instant::now();
                match activity.head_deadline(limits.read_timeout) {
                    Some(deadline) if deadline <= now => {
                        tracing::debug!(%remote, "no request head within the idle limit: connection closed");
                        break;
                    }
                    Some(deadline) => watchdog.as_mut().reset(deadline.into()),
                    None => watchdog.as_mut().reset((now + limits.read_timeout).into()),
                }
            }
        }
    }
}

/// A future polled only once it has woken its task (and at its first poll). `select!` polls
/// every branch whenever the task wakes: beside a connection, which wakes for every request,
/// the stop watch (a lock in its `Notified`) and the watchdog timer, which almost never wake,
/// cost a register of the task's waker and a flag instead.
struct WhenWoken<F> {
    future: Pin<Box<F>>,
    wake: Arc<WakeFlag>,
}

/// The waker [`WhenWoken`] lends its future: it sets the flag, then wakes the task.
#[derive(Default)]
struct WakeFlag {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for WakeFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl<F: Future> WhenWoken<F> {
    fn new(future: F) -> Self {
        let wake = Arc::new(WakeFlag::default());
        wake.woken.store(true, Ordering::Relaxed);
        Self {
            future: Box::pin(future),
            wake,
        }
    }
}

impl<F: Future> Future for WhenWoken<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // Registered before the flag is read: a wake in between is not lost.
        self.wake.task.register(cx.waker());
        if !self.wake.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let waker = Waker::from(Arc::clone(&self.wake));
        self.future.as_mut().poll(&mut Context::from_waker(&waker))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::Mutex;

    use super::*;

    /// A future that counts its polls and is ready once `ready` is set; it keeps the waker
    /// of its last poll.
    #[derive(Default)]
    struct Probe {
        polls: AtomicUsize,
        ready: AtomicBool,
        waker: Mutex<Option<Waker>>,
    }

    struct Polled<'a>(&'a Probe);

    impl Future for Polled<'_> {
        type Output = ();

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.0.polls.fetch_add(1, Ordering::SeqCst);
            if self.0.ready.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
            *self.0.waker.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    /// The task's waker: counts its wakes.
    #[derive(Default)]
    struct Task(AtomicUsize);

    impl Wake for Task {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_future_beside_the_connection_is_polled_at_first_and_when_it_woke() {
        let probe = Probe::default();
        let task = Arc::new(Task::default());
        let waker = Waker::from(Arc::clone(&task));
        let mut cx = Context::from_waker(&waker);
        let mut beside = WhenWoken::new(Polled(&probe));
        // The task wakes again and again for the connection's requests: polled once.
        for _ in 0..5 {
            assert!(Pin::new(&mut beside).poll(&mut cx).is_pending());
        }
        assert_eq!(probe.polls.load(Ordering::SeqCst), 1);
        // It wakes (the service stops): the task is woken, and its next poll reaches it.
        probe.ready.store(true, Ordering::SeqCst);
        let woken = probe.waker.lock().unwrap().take().expect("a waker");
        woken.wake();
        assert_eq!(task.0.load(Ordering::SeqCst), 1);
        assert!(Pin::new(&mut beside).poll(&mut cx).is_ready());
        assert_eq!(probe.polls.load(Ordering::SeqCst), 2);
    }
}
