#![allow(clippy::unwrap_used)]
use super::{first_refusal, take_read};
use super::{run, DeliveryFuture, Link, Plan, Subscriber};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use wsman_events::batch::{Due, Scheduler, Settings};
use wsman_events::delivery::ACK_ACTION;
use wsman_events::subscribe::{EndpointReference, StartAt};
use wsman_events::{ContentFormat, DeliveryMode, Mapping, SubscribeRequest, Timestamp};
use wsman_journal::feed::{Feed, Position, SelectedEvent};
use wsman_journal::Journal;
use wsman_test::journal::JournalDir;

/// Events read from a backlog, logged longer than MaxTime ago, make a batch that is due at
/// once though it is not full; events logged just now wait for MaxTime (or a full batch).
#[test]
fn a_partial_batch_of_overdue_events_is_due_at_once() {
    let settings = Settings {
        max_items: 100,
        max_latency: Duration::from_secs(60),
        heartbeat: None,
        max_batch_bytes: 1 << 20,
        max_queued: 1000,
        max_queued_bytes: 1 << 22,
    };
    let now = Timestamp::from_system_time(std::time::SystemTime::now());
    let logged = |created: Timestamp, record_id: u64| SelectedEvent {
        xml: format!("<Event>{record_id}</Event>"),
        channel: "Application".to_owned(),
        record_id,
        created,
    };
    let an_hour_ago =
        Timestamp::from_system_time(std::time::SystemTime::now() - Duration::from_secs(3600));
    for (created, due) in [(an_hour_ago, true), (now, false)] {
        let mut backlog = VecDeque::new();
        let read = Ok(vec![logged(created, 1), logged(created, 2)]);
        assert!(take_read("test", read, &mut backlog, now));
        let mut scheduler = Scheduler::new(settings, now);
        for event in backlog {
            scheduler.push(event).unwrap_or_else(|e| panic!("{e}"));
        }
        let batch = scheduler.poll(now);
        assert_eq!(
            matches!(batch, Some(Due::Batch(ref events)) if events.len() == 2),
            due
        );
    }
}

/// A forwarder refused at every retry and every refresh logs each reason once; another
/// reason is logged when it first comes.
#[test]
fn a_refusal_is_logged_once_per_reason() {
    let forged = "event 0 claims Computer \"bench.bench.test\", but the sender is bench";
    assert!(first_refusal(forged));
    assert!(!first_refusal(forged));
    assert!(!first_refusal(forged));
    assert!(first_refusal("subscription wef is at version 2"));
    assert!(!first_refusal(forged));
}

/// What the delivery task and the test's subscriber did, in the order they did it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Note {
    /// The delivery task handed the n-th request to the subscriber.
    Sent(usize),
    /// The subscriber's connection task wrote the n-th request.
    Written(usize),
    /// The delivery task began making and reading ahead while a batch travelled.
    Ahead,
}

/// The notes of the one test that takes them (a test of this module that runs a delivery).
static NOTES: Mutex<Vec<Note>> = Mutex::new(Vec::new());

pub(super) fn note(what: Note) {
    NOTES.lock().unwrap().push(what);
}

/// A subscriber shaped like the daemon's HTTP client: `send` takes a turn (its pool's look for
/// a closed idle connection), then hands the request to a connection task of its own, which
/// writes it (here: notes it) and answers with the Ack.
struct Connection {
    requests: mpsc::UnboundedSender<(usize, oneshot::Sender<()>)>,
    sent: Mutex<usize>,
}

impl Connection {
    fn start() -> Connection {
        let (requests, mut incoming) = mpsc::unbounded_channel::<(usize, oneshot::Sender<()>)>();
        tokio::spawn(async move {
            while let Some((n, answer)) = incoming.recv().await {
                note(Note::Written(n));
                let _ = answer.send(());
            }
        });
        Connection {
            requests,
            sent: Mutex::new(0),
        }
    }
}

impl Subscriber for Connection {
    fn send<'a>(
        &'a self,
        _body: Vec<u8>,
        _content_type: &'static str,
        _content_encoding: Option<&'static str>,
        _message_id: &'a str,
    ) -> DeliveryFuture<'a> {
        Box::pin(async move {
            // As the HTTP client's pool does before it takes an idle connection.
            tokio::task::yield_now().await;
            let n = {
                let mut sent = self.sent.lock().unwrap();
                *sent += 1;
                *sent
            };
            note(Note::Sent(n));
            let (answer, answered) = oneshot::channel();
            self.requests.send((n, answer)).unwrap();
            answered.await.unwrap();
            Ok(Some(ACK_ACTION.to_owned()))
        })
    }
}

/// While a batch travels the journal is read for the next ones, but only after the request is
/// written: the connection's task, woken by the send, runs before the read, which holds the
/// worker for as long as it reads and renders. On one worker, as the daemon runs by default.
#[test]
fn the_request_is_written_before_the_journal_is_read_ahead() {
    let Some(journal) = JournalDir::repeated_before_now(
        Duration::from_secs(60),
        60,
        &[
            ("SYSLOG_IDENTIFIER", "app"),
            ("PRIORITY", "3"),
            ("MESSAGE", "m"),
        ],
    ) else {
        return;
    };
    let request = SubscribeRequest {
        mode: DeliveryMode::Events,
        notify_to: Some(EndpointReference {
            address: "https://collector.example.test/wsman/subscriptions/1".to_owned(),
            reference_parameters: Vec::new(),
        }),
        end_to: None,
        authentication: Vec::new(),
        heartbeats: None,
        connection_retry: None,
        max_elements: Some(5),
        max_time: Some(Duration::from_secs(60)),
        max_envelope_size: None,
        utf16: false,
        expires: None,
        filter: None,
        start_at: Some(StartAt::Earliest),
        send_bookmarks: true,
        content_format: ContentFormat::Raw,
        read_existing_events: true,
        ignore_channel_error: false,
        compress_sldc: false,
        name: None,
    };
    let plan = Plan::of(&request, "sub-order", "forwarder.example.test").unwrap();
    let feed = Feed {
        journal: Journal::Directory(journal.path()),
        program: "journalctl".into(),
        position: Position::Oldest,
        selection: crate::selection(
            &request,
            crate::LOGS.iter().map(|l| (*l).to_owned()).collect(),
            &Mapping::default(),
        ),
        owner: String::new(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let delivered = Arc::new(Mutex::new(0usize));
    runtime.block_on(async {
        let (stop, ended) = watch::channel(());
        let counted = Arc::clone(&delivered);
        let link = Link {
            ended,
            delivered: Box::new(move |events| *counted.lock().unwrap() += events.len()),
            end: Box::new(|| {}),
            lost: None,
        };
        let task = tokio::spawn(run(plan, feed, Box::new(Connection::start()), None, link));
        // Generous: a loaded machine delivers slowly, and the count is what is waited for.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        while *delivered.lock().unwrap() < 20 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Dropped while a batch may be in flight: no work ahead may begin after this without
        // its batch's request written (the check below), the read-ahead after the end included.
        drop(stop);
        task.await.unwrap();
    });
    assert!(
        *delivered.lock().unwrap() >= 20,
        "the events were not delivered"
    );
    let notes = NOTES.lock().unwrap().clone();
    // Each batch is one send and one start of the work ahead: the n-th start comes after the
    // n-th request was written.
    let (mut written, mut reads) = (0, 0);
    for what in &notes {
        match *what {
            Note::Sent(_) => {}
            Note::Written(n) => written = n,
            Note::Ahead => {
                reads += 1;
                assert_eq!(
                    written, reads,
                    "the work ahead began before its batch's request was written: {notes:?}"
                );
            }
        }
    }
    assert!(reads > 0, "no read while a batch travelled: {notes:?}");
}
