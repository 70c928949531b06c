//! A collector whose subscription writes to the event store, SIGKILLed while two forwarders
//! deliver: each forwarder sends its batches one after another and sends a batch again until
//! it is acknowledged (as Windows' forwarders do), across three kills and restarts. Afterwards
//! the store holds every event exactly once: the store is in the bookmarks' database and a
//! batch's events are written in its bookmark's transaction, so a batch whose Ack was lost to
//! the kill finds its events left out by the bookmark the resend reads. (A file output loses
//! that: a kill between its fsync and the bookmark's commit writes that batch twice,
//! docs/collector.md.)

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wsman_test::postgres::Postgres;
use wsman_test::{wec_database_env, Daemon, SERVICE_ACCOUNT, SERVICE_PASSWORD};

use crate::collector::{batch, deliver_as, enumerate_as, text, Offer, SECOND, SECOND_PASSWORD};
use crate::event_search::store_collector;

const BATCHES: u64 = 40;
const PER_BATCH: u64 = 25;
const KILLS: u64 = 3;
/// Hang guard for every wait.
const GUARD: Duration = Duration::from_secs(240);

fn event(computer: &str, record: u64) -> String {
    format!("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='kill-test'/><EventID>4624</EventID><Level>4</Level><TimeCreated SystemTime='2026-11-26T10:00:00.0000000Z'/><EventRecordID>{record}</EventRecordID><Channel>Security</Channel><Computer>{computer}</Computer></System><EventData><Data Name='n'>r{record}</Data></EventData></Event>")
}

/// One forwarder: every batch sent until acknowledged, through kills (a refused connection,
/// a connection cut, a 503 are all sent again); counts its acknowledgements in `acked`.
fn forwarder(
    port: u16,
    (user, password): (&'static str, &'static str),
    acked: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let deadline = Instant::now() + GUARD;
        let offer: Offer = loop {
            if let Ok(offer) = std::panic::catch_unwind(|| enumerate_as(port, user, password)) {
                break offer;
            }
            assert!(Instant::now() < deadline, "no offer");
            std::thread::sleep(Duration::from_millis(50));
        };
        for n in 0..BATCHES {
            let events: Vec<String> = (1..=PER_BATCH)
                .map(|i| event(user, n * PER_BATCH + i))
                .collect();
            let body = batch(&offer, n + 1, &events, true);
            loop {
                assert!(
                    Instant::now() < deadline,
                    "batch {n} of {user} never acknowledged"
                );
                let answer =
                    std::panic::catch_unwind(|| deliver_as(port, user, password, &offer, &body));
                match answer {
                    Ok(answer) if answer.status == 200 => break,
                    Ok(answer) if answer.status == 503 || answer.status == 0 => {}
                    Ok(answer) => panic!("{}: {}", answer.status, text(&answer.body)),
                    Err(_) => {}
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            acked.fetch_add(1, Ordering::Relaxed);
        }
        done.store(true, Ordering::Relaxed);
    })
}

/// Every stored event's (Computer, record id) with how often it is stored, read by the store's
/// tail from id 0, page by page.
fn stored(port: u16) -> BTreeMap<(String, u64), u32> {
    let mut counts = BTreeMap::new();
    let mut after = 0u64;
    loop {
        let body = format!(
            r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header><a:To>http://127.0.0.1/wsman</a:To><w:ResourceURI s:mustUnderstand="true">urn:wsmand:event-store/Event</w:ResourceURI><a:ReplyTo><a:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><a:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate</a:Action><w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize><a:MessageID>uuid:2E6B2E9C-7777-4A4B-9C1D-{after:012}</a:MessageID><w:OperationTimeout>PT60.000S</w:OperationTimeout></s:Header><s:Body><n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>500</w:MaxElements><w:Filter Dialect="urn:wsmand:event-store:search"><q:Search xmlns:q="urn:wsmand:event-store"><q:After>{after}</q:After></q:Search></w:Filter></n:Enumerate></s:Body></s:Envelope>"#
        );
        let answer = crate::collector::post(port, "/wsman", body.as_bytes(), &[]);
        let answer = text(&answer.body);
        let ids: Vec<u64> = answer
            .split("<q:Id>")
            .skip(1)
            .filter_map(|r| r.split('<').next()?.parse().ok())
            .collect();
        let computers = answer
            .split("<q:Computer>")
            .skip(1)
            .filter_map(|r| r.split('<').next());
        let records = answer
            .split("<q:Message>n=r")
            .skip(1)
            .filter_map(|r| r.split('<').next()?.parse::<u64>().ok());
        for (computer, record) in computers.zip(records) {
            *counts.entry((computer.to_owned(), record)).or_default() += 1;
        }
        match ids.last() {
            Some(last) => after = *last,
            None => return counts,
        }
    }
}

#[test]
fn a_sigkill_mid_batch_stores_every_event_exactly_once() {
    killed_mid_batch(None);
}

#[test]
fn a_sigkill_mid_batch_stores_every_event_exactly_once_in_postgres() {
    crate::on_postgres(killed_mid_batch);
}

/// A SIGKILL mid-batch leaves every event stored exactly once; with the bookmarks, and the
/// store, in PostgreSQL (`postgres` given) because the events are inserted by the claim's
/// transaction, so a SIGKILL before its commit leaves neither.
fn killed_mid_batch(postgres: Option<&Postgres>) {
    let state = tempfile::tempdir().expect("tempdir");
    let mut fixture = store_collector(state.path(), (SECOND, SECOND_PASSWORD, "root"), postgres);
    let database = state.path().join("wec.sqlite");
    let env = wec_database_env(&database);
    let port = fixture.port;
    let acked = Arc::new(AtomicU64::new(0));
    let done = [
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    ];
    let threads = [
        forwarder(
            port,
            (SERVICE_ACCOUNT, SERVICE_PASSWORD),
            Arc::clone(&acked),
            Arc::clone(&done[0]),
        ),
        forwarder(
            port,
            (SECOND, SECOND_PASSWORD),
            Arc::clone(&acked),
            Arc::clone(&done[1]),
        ),
    ];
    let deadline = Instant::now() + GUARD;
    for kill in 1..=KILLS {
        // Killed while both forwarders are sending (a quarter, a half, three quarters in).
        while acked.load(Ordering::Relaxed) < kill * 2 * BATCHES / (KILLS + 1) {
            assert!(Instant::now() < deadline, "the forwarders stalled");
            std::thread::sleep(Duration::from_millis(5));
        }
        fixture.daemon.stop();
        fixture.daemon = Daemon::start_with_env(&fixture.config, &[port], &env);
    }
    for thread in threads {
        thread.join().expect("a forwarder");
    }
    assert!(done.iter().all(|d| d.load(Ordering::Relaxed)));
    let counts = stored(port);
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    for computer in [SERVICE_ACCOUNT, SECOND] {
        let records: Vec<u64> = counts
            .keys()
            .filter(|(c, _)| c == computer)
            .map(|(_, r)| *r)
            .collect();
        assert_eq!(
            records,
            (1..=BATCHES * PER_BATCH).collect::<Vec<_>>(),
            "{computer}"
        );
    }
}
