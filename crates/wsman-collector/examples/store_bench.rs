//! The event store's search benchmark (benches/event-search.sh runs it): fills a store with
//! COUNT events of a synthetic fleet through the store's own insert (one partition per day of
//! arrivals over DAYS days, in transactions of 10,000), then times the first page (50 results)
//! of the searches a console makes, each on a store opened anew, and prints one line per
//! search and a JSON summary.
//!
//!   store_bench DB COUNT DAYS

use std::time::Instant;

use rusqlite::Connection;
use wsman_collector::store::events::{EventStore, Position, Search, StoreRecord, StoreSettings};
use wsman_events::Timestamp;

const HOSTS: u64 = 2000;
const PAGE: usize = 50;
const WORDS: [&str; 8] = [
    "logon", "failed", "service", "started", "stopped", "network", "disk", "policy",
];
const IDS: [i64; 8] = [4624, 4625, 4634, 4672, 7036, 7040, 1102, 4740];

fn record(n: u64, time: i64) -> StoreRecord {
    let host = format!("host{:04}.example.com", n % HOSTS);
    let id = IDS[(n % 8) as usize];
    let message = format!(
        "An account {} {} on {host} from 10.{}.{}.{} for user{}",
        WORDS[(n % 8) as usize],
        WORDS[(n / 8 % 8) as usize],
        n % 256,
        n / 256 % 256,
        n / 65536 % 256,
        n % 5000
    );
    let mut words = String::new();
    wsman_collector::store::events::record::push_words(&mut words, &message, 16 * 1024);
    StoreRecord {
        time: Timestamp::from_unix_micros(time),
        event_time: None,
        computer: host.clone(),
        channel: if n.is_multiple_of(3) { "System" } else { "Security" }.into(),
        level: Some([0, 2, 3, 4][(n % 4) as usize]),
        event_id: Some(id),
        provider: Some("Microsoft-Windows-Security-Auditing".into()),
        subscription: "fleet".into(),
        excerpt: Some(message.clone()),
        words,
        xml: format!("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><EventID>{id}</EventID><EventRecordID>{n}</EventRecordID><Computer>{host}</Computer></System><RenderingInfo><Message>{message}</Message></RenderingInfo></Event>"),
    }
}

fn fill(
    path: &std::path::Path,
    count: u64,
    days: u64,
    now: i64,
) -> Result<(), Box<dyn std::error::Error>> {
    let events = EventStore::open(path, StoreSettings::default())?;
    let mut connection = Connection::open(path)?;
    connection.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")?;
    let per_day = count.div_ceil(days);
    let started = Instant::now();
    let mut n = 0;
    while n < count {
        let day = n / per_day;
        // Arrivals of that day, events a second apart within it (wrapping).
        let arrived = now - ((days - 1 - day) * 86_400_000_000) as i64;
        let batch: Vec<StoreRecord> = (n..(n + 10_000).min(count))
            .map(|i| {
                record(
                    i,
                    arrived - 86_400_000_000 + ((i % 86_400) * 1_000_000) as i64,
                )
            })
            .collect();
        let transaction = connection.transaction()?;
        let batch: Vec<&StoreRecord> = batch.iter().collect();
        events.insert(&transaction, &batch, Timestamp::from_unix_micros(arrived))?;
        transaction.commit()?;
        n += batch.len() as u64;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "filled {count} events in {seconds:.0} s ({:.0} events/s)",
        count as f64 / seconds
    );
    Ok(())
}

fn search(inner: &str) -> Search {
    let text = format!("<w:Filter xmlns:w='x' xmlns:q='urn:wsmand:event-store'><q:Search>{inner}</q:Search></w:Filter>");
    let element = wsman_proto::xml::parse(&text, &Default::default()).expect("a filter");
    Search::from_filter(&element).expect("a search")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, db, count, days] = args.as_slice() else {
        return Err("usage: store_bench DB COUNT DAYS".into());
    };
    let (path, count, days) = (std::path::Path::new(db), count.parse()?, days.parse()?);
    let now = Timestamp::from_system_time(std::time::SystemTime::now()).unix_micros();
    if !path.exists() {
        fill(path, count, days, now)?;
    }
    let searches = [
        ("every event", String::new()),
        (
            "one host",
            "<q:Computer>host0042.example.com</q:Computer>".to_owned(),
        ),
        (
            "an EventID and a level",
            "<q:EventID>4625</q:EventID><q:Level>2</q:Level>".to_owned(),
        ),
        ("a word", "<q:Text>policy</q:Text>".to_owned()),
        (
            "two words on one host",
            "<q:Computer>host0041.example.com</q:Computer><q:Text>failed network</q:Text>"
                .to_owned(),
        ),
        ("a rare word", "<q:Text>user4242</q:Text>".to_owned()),
    ];
    let mut worst: f64 = 0.0;
    let mut summary = Vec::new();
    for (name, inner) in searches {
        let store = EventStore::open(path, StoreSettings::default())?;
        let started = Instant::now();
        let rows = store.page(&search(&inner), Position::Newest, PAGE)?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        worst = worst.max(ms);
        println!("first page, {name}: {} results in {ms:.1} ms", rows.len());
        summary.push(format!("\"{name}\": {ms:.1}"));
    }
    println!(
        "{{\"events\": {count}, \"first_page_ms\": {{{}}}, \"worst_ms\": {worst:.1}}}",
        summary.join(", ")
    );
    Ok(())
}
