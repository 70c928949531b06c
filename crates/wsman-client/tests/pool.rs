#![allow(clippy::unwrap_used)]
//! The connection pool against an in-test server on 127.0.0.1 that numbers its connections:
//! forks share idle connections, concurrent requests get connections of their own, at most
//! four stay idle, and a connection whose exchange failed (unread answer, timeout) is never
//! used again, while one that carried a complete fault is.
#![allow(
    clippy::disallowed_methods,
    reason = "a canned server writes its answers"
)]

mod common;
use common::{default_shell, http_server, parse_soap, soap_response, start};

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Barrier, Notify};
use wsman_client::shell::{Output, Signal, CMD_SHELL_URI};
use wsman_client::{Client, ClientError, ClientOptions, Endpoint, Resource, Scheme};
use wsman_proto::response::{envelope, fault_envelope, ResponseHeader};
use wsman_proto::shell::{CommandResponse, CommandStateValue, ReceiveResponse};
use wsman_proto::{ns, Fault, Request};

const SHELL_ID: &str = "4283CBDC-3706-415B-88BD-B385F3E51A53";
const COMMAND_ID: &str = "C0FFEE00-0000-4000-8000-000000000001";
/// How long a handler waits for the other half of a concurrent pair before giving up with a
/// fault (so a client that serialises the requests fails the test instead of hanging it).
const PAIR_WAIT: Duration = Duration::from_secs(10);

/// One request as the server saw it: which connection (0, 1, ... in accept order) and what.
#[derive(Clone, Debug)]
struct Hit {
    connection: usize,
    action: String,
    request: Request,
}

impl Hit {
    fn is(&self, suffix: &str) -> bool {
        self.action.ends_with(suffix)
    }
}

type Answer = (u16, String);
type Handler =
    Arc<dyn Fn(Hit, usize) -> Pin<Box<dyn Future<Output = Answer> + Send>> + Send + Sync>;

struct Server {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Server {
    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
    fn client(&self, options: ClientOptions) -> Client {
        Client::new(
            Endpoint::new(Scheme::Http, "127.0.0.1", self.addr.port()),
            options,
        )
        .unwrap()
    }
}

/// Serves `handler`, which gets each request and its index among all requests so far.
async fn serve(handler: Handler) -> Server {
    let accepted = Arc::new(AtomicUsize::new(0));
    let hits = Arc::new(Mutex::new(Vec::new()));
    let (counter, log) = (accepted.clone(), hits.clone());
    let addr = http_server(None, move || {
        let connection = counter.fetch_add(1, Ordering::SeqCst);
        let (handler, log) = (handler.clone(), log.clone());
        move |_head, bytes: Bytes| {
            let (handler, log) = (handler.clone(), log.clone());
            async move {
                let request = parse_soap(&bytes);
                let hit = Hit {
                    connection,
                    action: request.action.clone().unwrap_or_default(),
                    request,
                };
                let index = {
                    let mut all = log.lock().unwrap();
                    all.push(hit.clone());
                    all.len() - 1
                };
                let (status, body) = handler(hit, index).await;
                soap_response(status, body)
            }
        }
    })
    .await;
    Server {
        addr,
        accepted,
        hits,
    }
}

fn reply(hit: &Hit, action: &str, body: &str) -> Answer {
    let header = ResponseHeader {
        action,
        message_id: "uuid:00000000-0000-4000-8000-0000000000FF",
        relates_to: hit.request.message_id.as_deref(),
        operation_id: None,
        sequence_id: None,
        extra: "",
    };
    (200, envelope(&header, body))
}

fn fault(hit: &Hit, fault: &Fault) -> Answer {
    (
        500,
        fault_envelope(
            fault,
            "uuid:00000000-0000-4000-8000-0000000000FE",
            hit.request.message_id.as_deref(),
            "host",
        ),
    )
}

fn delete_response(hit: &Hit) -> Answer {
    reply(hit, ns::action::DELETE_RESPONSE, "")
}

fn resource() -> Resource {
    Resource::new(CMD_SHELL_URI).with_selector("ShellId", SHELL_ID)
}

#[tokio::test]
async fn forks_share_the_idle_connections_of_their_client() {
    let server = serve(Arc::new(|hit, _| {
        Box::pin(async move { delete_response(&hit) })
    }))
    .await;
    let client = server.client(ClientOptions::default());
    let fork = client.fork().unwrap();
    let fork_of_fork = fork.fork().unwrap();
    client.delete(&resource()).await.unwrap();
    fork.delete(&resource()).await.unwrap();
    fork_of_fork.delete(&resource()).await.unwrap();
    drop(client);
    // The pool outlives the client that made it while a fork holds it.
    fork.delete(&resource()).await.unwrap();
    assert_eq!(server.accepted(), 1);

    // A client made with `new` has a pool of its own.
    let other = server.client(ClientOptions::default());
    other.delete(&resource()).await.unwrap();
    assert_eq!(server.accepted(), 2);
    assert!(server.hits().iter().skip(4).all(|hit| hit.connection == 1));

    // disconnect closes the idle ones, for every fork.
    fork.disconnect().await;
    fork_of_fork.delete(&resource()).await.unwrap();
    assert_eq!(server.accepted(), 3);
}

#[tokio::test]
async fn concurrent_requests_get_their_own_connections_and_four_stay_idle() {
    const CONCURRENT: usize = 6;
    let barrier = Arc::new(Barrier::new(CONCURRENT));
    let server = serve(Arc::new(move |hit, _| {
        let barrier = barrier.clone();
        Box::pin(async move {
            // Every request waits until all are in: only possible on separate connections.
            match tokio::time::timeout(PAIR_WAIT, barrier.wait()).await {
                Ok(_) => delete_response(&hit),
                Err(_) => fault(&hit, &Fault::access_denied()),
            }
        })
    }))
    .await;
    let client = server.client(ClientOptions::default());
    for round in 0..2 {
        let requests = (0..CONCURRENT).map(|_| {
            let fork = client.fork().unwrap();
            async move { fork.delete(&resource()).await }
        });
        for result in futures_join_all(requests).await {
            result.unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
    }
    let hits = server.hits();
    let first: std::collections::BTreeSet<usize> =
        hits[..CONCURRENT].iter().map(|h| h.connection).collect();
    assert_eq!(first.len(), CONCURRENT, "{hits:?}");
    // The second round reuses the four connections kept idle and opens two.
    assert_eq!(server.accepted(), CONCURRENT + CONCURRENT - 4);
}

/// Runs futures concurrently on the test's runtime and collects their results in order.
async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let tasks: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

#[tokio::test]
async fn a_failed_exchange_never_returns_its_connection_but_a_fault_does() {
    let server = serve(Arc::new(|hit, index| {
        Box::pin(async move {
            match index {
                // Larger than the client accepts: the body is never read.
                0 => (200, "x".repeat(64 * 1024)),
                // Later than the client waits.
                1 => {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    delete_response(&hit)
                }
                // A complete answer, although a fault.
                2 => fault(&hit, &Fault::access_denied()),
                _ => delete_response(&hit),
            }
        })
    }))
    .await;
    let mut options = ClientOptions::default();
    options.max_response_bytes = 16 * 1024;
    options.operation_timeout = Duration::from_millis(200);
    options.network_delay = Duration::from_millis(200);
    let client = server.client(options);
    let too_large = client.delete(&resource()).await.unwrap_err();
    assert!(
        matches!(too_large, ClientError::Protocol { .. }),
        "{too_large:?}"
    );
    let late = client
        .fork()
        .unwrap()
        .delete(&resource())
        .await
        .unwrap_err();
    assert!(matches!(late, ClientError::Timeout { .. }), "{late:?}");
    let refused = client.delete(&resource()).await.unwrap_err();
    assert!(matches!(refused, ClientError::Fault { .. }), "{refused:?}");
    client.delete(&resource()).await.unwrap();
    let connections: Vec<usize> = server.hits().iter().map(|h| h.connection).collect();
    assert_eq!(connections, vec![0, 1, 2, 2]);
}

/// Create, Command, then a Receive that the server holds until a Send arrived, Signal,
/// Delete: the Send must not wait behind the long poll, and all of it needs two connections.
#[tokio::test]
async fn a_receive_long_poll_and_a_send_use_different_connections() {
    let send_arrived = Arc::new(Notify::new());
    let server = serve(Arc::new(move |hit, _| {
        let send_arrived = send_arrived.clone();
        Box::pin(async move {
            let action = hit.action.rsplit('/').next().unwrap_or_default().to_owned();
            match action.as_str() {
                "Create" => {
                    let body = wsman_proto::transfer::resource_created(
                        "http://h:5985/wsman",
                        CMD_SHELL_URI,
                        &[("ShellId", SHELL_ID)],
                    );
                    reply(&hit, ns::action::CREATE_RESPONSE, &body)
                }
                "Command" => {
                    let body = CommandResponse {
                        command_id: COMMAND_ID.to_owned(),
                    };
                    let action = wsman_proto::shell::action::COMMAND_RESPONSE;
                    reply(&hit, action, &body.to_xml())
                }
                "Send" => {
                    send_arrived.notify_one();
                    let body = wsman_proto::shell::responses::send_response();
                    reply(&hit, wsman_proto::shell::action::SEND_RESPONSE, &body)
                }
                "Receive" => {
                    if tokio::time::timeout(PAIR_WAIT, send_arrived.notified())
                        .await
                        .is_err()
                    {
                        return fault(&hit, &Fault::access_denied());
                    }
                    let done = CommandStateValue::Done { exit_code: Some(0) };
                    let body = ReceiveResponse::new(Vec::new(), Some((None, done))).to_xml();
                    reply(&hit, wsman_proto::shell::action::RECEIVE_RESPONSE, &body)
                }
                "Signal" => {
                    let body = wsman_proto::shell::responses::signal_response();
                    reply(&hit, wsman_proto::shell::action::SIGNAL_RESPONSE, &body)
                }
                _ => delete_response(&hit),
            }
        })
    }))
    .await;
    let client = server.client(ClientOptions::default());
    let shell = default_shell(&client).await;
    let command = start(&shell, "cat").await;
    let mut reader = command.output().unwrap();
    let receiving = tokio::spawn(async move { reader.next().await });
    // Let the Receive go out first.
    while !server.hits().iter().any(|hit| hit.is("/Receive")) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    command.send(b"input", true).await.unwrap();
    let event = receiving.await.unwrap().unwrap();
    assert_eq!(event, Some(Output::Exited { exit_code: 0 }));
    command.signal(Signal::Terminate).await.unwrap();
    shell.close().await.unwrap();

    let hits = server.hits();
    let on = |suffix: &str| hits.iter().find(|h| h.is(suffix)).unwrap().connection;
    assert_ne!(on("/Receive"), on("/Send"), "{hits:?}");
    assert_eq!(server.accepted(), 2, "{hits:?}");
}
