//! A line receiver on 127.0.0.1 in the test process, the far end of the collector's TCP
//! output: every line of every connection, in arrival order. It can be killed mid-stream
//! ([`LineReceiver::stop`] closes the listener and every connection, as a receiver process
//! that dies does) and started again on the same port, which is how the output's outage and
//! resend are tested.

use std::io::{BufRead as _, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What a receiver does with an accepted connection before reading lines from it (a TLS
/// handshake, say): the stream to read, or `None` to keep the connection open unread.
pub type OpenConnection = dyn Fn(TcpStream) -> Option<Box<dyn Read + Send>> + Send + Sync;

/// How long [`LineReceiver::wait_for`] waits for lines to arrive.
const WAIT: Duration = Duration::from_secs(10);

/// A running receiver; stopped when dropped.
pub struct LineReceiver {
    address: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl LineReceiver {
    /// A plain TCP receiver on 127.0.0.1:`port` (0: a free port).
    pub fn start(port: u16) -> LineReceiver {
        Self::start_with(port, |socket| Some(Box::new(socket)))
    }

    /// A receiver that passes each accepted connection through `open` first, on the
    /// connection's own thread.
    pub fn start_with(
        port: u16,
        open: impl Fn(TcpStream) -> Option<Box<dyn Read + Send>> + Send + Sync + 'static,
    ) -> LineReceiver {
        let open: Arc<OpenConnection> = Arc::new(open);
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind 127.0.0.1");
        listener.set_nonblocking(true).expect("nonblocking");
        let address = listener.local_addr().expect("address");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let (lines, stop, connections) = (
                Arc::clone(&lines),
                Arc::clone(&stop),
                Arc::clone(&connections),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let Ok((socket, _)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    };
                    socket.set_nonblocking(false).expect("blocking");
                    connections
                        .lock()
                        .expect("lock")
                        .push(socket.try_clone().expect("clone"));
                    let (lines, open) = (Arc::clone(&lines), Arc::clone(&open));
                    std::thread::spawn(move || {
                        let Some(reader) = open(socket) else {
                            return;
                        };
                        for line in BufReader::new(reader).lines() {
                            match line {
                                Ok(line) => lines.lock().expect("lock").push(line),
                                Err(_) => return,
                            }
                        }
                    });
                }
            })
        };
        LineReceiver {
            address,
            lines,
            stop,
            connections,
            acceptor: Some(acceptor),
        }
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Its port, to start it again on after [`LineReceiver::stop`].
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The lines received so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lock").clone()
    }

    /// The lines once `count` have arrived, or whatever arrived within the wait.
    pub fn wait_for(&self, count: usize) -> Vec<String> {
        let deadline = Instant::now() + WAIT;
        while self.lines().len() < count && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.lines()
    }

    /// Close the listener and every connection, as a receiver process that dies does.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.join().expect("acceptor");
        }
        for connection in self.connections.lock().expect("lock").drain(..) {
            let _ = connection.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Drop for LineReceiver {
    fn drop(&mut self) {
        self.stop();
    }
}
