//! The collector and the bodies of a Windows forwarder: the one public capture of a Windows
//! forwarder's SLDC body (`crates/wsman-events/tests/fixtures/windows-forwarder/
//! heartbeat.captured.sldc`, provenance in that folder's README) posted to the real daemon on
//! loopback as raw HTTP; and bodies the collector cannot read (truncated SLDC, a length
//! trailer that disagrees, data after End of Record, UTF-16 with an odd byte count), each
//! answered 400 as Windows' collector answers a body it cannot read, logged once per
//! forwarder and interval with the forwarder and the reason, and nothing of the batch stored
//! or acknowledged.

use wsman_events::sldc;
use wsman_test::{SERVICE_ACCOUNT, SERVICE_PASSWORD};

use crate::collector::{
    acknowledged, batch, deliver_as, enumerate, enumerate_as, event, lines, post, text, Collector,
    SECOND, SECOND_PASSWORD,
};

fn captured(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../wsman-events/tests/fixtures/windows-forwarder/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).expect("the capture")
}

/// The capture's subscription version (`e:Identifier`) and MessageID, as recorded.
const CAPTURED_VERSION: &str = "219C5353-5F3D-4CD7-A644-F6B69E57C1C1";
const CAPTURED_MESSAGE: &str = "EEC04F74-A27D-4C3A-AEF5-BC5BF54359BA";

fn utf16(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

const WINDOWS_HEADERS: [(&str, &str); 2] = [
    ("Content-Type", "application/soap+xml;charset=UTF-16"),
    ("Content-Encoding", "SLDC"),
];

#[test]
fn the_windows_capture_is_read_and_acknowledged_as_a_heartbeat() {
    let state = tempfile::tempdir().expect("tempdir");
    let (collector, offer, output) = Collector::start_offering(state.path());
    let port = collector.port;

    // The capture as Windows sent it: read (decompressed, decoded, parsed), and refused only
    // because it names the Windows collector's subscription version, not ours.
    let capture = captured("heartbeat.captured.sldc");
    let answer = post(port, &offer.path, &capture, &WINDOWS_HEADERS);
    assert_eq!(answer.status, 400, "{}", text(&answer.body));
    let log = collector.daemon.stderr();
    assert!(
        log.contains(&format!("the delivery names {CAPTURED_VERSION}")),
        "the capture was read as far as its subscription version: {log}"
    );
    assert!(!log.contains("body refused"), "{log}");
    assert!(
        collector.clients_by_state().is_empty(),
        "no heartbeat stored yet"
    );

    // The capture's own text (decoded from its bytes) under our subscription's version, the
    // same length as Windows': acknowledged as a heartbeat, whose MessageID it relates to.
    let plain = sldc::decompress(&capture, 1 << 20).expect("the capture decodes");
    let ours = plain
        .windows(CAPTURED_VERSION.len() * 2)
        .position(|w| w == utf16(CAPTURED_VERSION).as_slice())
        .expect("the capture's version in its text");
    let mut readdressed = plain.clone();
    readdressed[ours..ours + CAPTURED_VERSION.len() * 2].copy_from_slice(&utf16(&offer.version));
    let answer = post(
        port,
        &offer.path,
        &sldc::compress(&readdressed),
        &WINDOWS_HEADERS,
    );
    let body = text(&answer.body);
    assert_eq!(answer.status, 200, "{body}");
    assert!(
        body.contains("http://schemas.dmtf.org/wbem/wsman/1/wsman/Ack"),
        "{body}"
    );
    assert!(body.contains(CAPTURED_MESSAGE), "RelatesTo: {body}");
    let states = collector.clients_by_state();
    // A heartbeat without events: the forwarder is alive.
    assert_eq!(states.get("alive"), Some(&1.0), "{states:?}");
    assert!(lines(&output.join("wef").join(format!("{SERVICE_ACCOUNT}.xml"))).is_empty());
}

#[test]
fn unreadable_bodies_are_refused_logged_once_per_forwarder_and_nothing_is_stored() {
    let state = tempfile::tempdir().expect("tempdir");
    let (collector, offer, output) = Collector::start_offering(state.path());
    let port = collector.port;
    let events: Vec<String> = (1..=3)
        .map(|r| event(r, SERVICE_ACCOUNT, &format!("e{r}")))
        .collect();
    let good = batch(&offer, 1, &events, true);

    let truncated = good[..good.len() / 2].to_vec();
    let mut wrong_length = good.clone();
    let last = wrong_length.len() - 4;
    wrong_length[last] ^= 1;
    let mut after_end_of_record = good.clone();
    after_end_of_record.extend_from_slice(&sldc::compress(b"<more/>"));
    let plain = sldc::decompress(&good, 1 << 20).expect("our batch");
    let odd_utf16 = sldc::compress(&plain[..plain.len() - 1]);
    let refused = [
        ("truncated SLDC", truncated),
        ("a length trailer that disagrees", wrong_length),
        ("data after End of Record", after_end_of_record),
        ("UTF-16 with an odd byte count", odd_utf16),
    ];
    for (what, body) in &refused {
        let answer = deliver_as(port, SERVICE_ACCOUNT, SERVICE_PASSWORD, &offer, body);
        let reply = text(&answer.body);
        assert_eq!(answer.status, 400, "{what}: {reply}");
        assert!(!reply.contains("wsman/Ack"), "{what}: {reply}");
    }
    // The odd byte count without compression too.
    let answer = post(
        port,
        &offer.path,
        &plain[..plain.len() - 1],
        &[("Content-Type", "application/soap+xml;charset=UTF-16")],
    );
    assert_eq!(answer.status, 400, "{}", text(&answer.body));

    // Nothing of the batch was stored: no output, no bookmark.
    let file = output.join("wef").join(format!("{SERVICE_ACCOUNT}.xml"));
    assert!(lines(&file).is_empty());
    assert_eq!(enumerate(port).bookmark, None);

    // One line for the forwarder in this interval, naming it and the first reason.
    let log = collector.daemon.stderr();
    let refusals: Vec<&str> = log.lines().filter(|l| l.contains("body refused")).collect();
    assert_eq!(refusals.len(), 1, "{refusals:#?}");
    assert!(refusals[0].contains(SERVICE_ACCOUNT), "{}", refusals[0]);
    assert!(refusals[0].contains("SLDC"), "{}", refusals[0]);

    // Another forwarder's refusal is its own line, with its own reason.
    let second = enumerate_as(port, SECOND, SECOND_PASSWORD);
    let second_plain = sldc::decompress(&batch(&second, 1, &[], true), 1 << 20).expect("ours");
    let answer = deliver_as(
        port,
        SECOND,
        SECOND_PASSWORD,
        &second,
        &sldc::compress(&second_plain[..second_plain.len() - 1]),
    );
    assert_eq!(answer.status, 400);
    let log = collector.daemon.stderr();
    let refusals: Vec<&str> = log.lines().filter(|l| l.contains("body refused")).collect();
    assert_eq!(refusals.len(), 2, "{refusals:#?}");
    assert!(refusals[1].contains(SECOND), "{}", refusals[1]);

    // The collector keeps serving: the batch itself is stored once and acknowledged.
    acknowledged(
        &deliver_as(port, SERVICE_ACCOUNT, SERVICE_PASSWORD, &offer, &good),
        1,
    );
    assert_eq!(lines(&file), events);
}

/// Deliveries refused once their body was read (an event naming another computer, one with
/// two `Computer` elements, a stale subscription version) are logged with the forwarder and
/// the reason, once per forwarder and kind of refusal in an interval: forty refusals leave at
/// most one line per kind, another forwarder's refusal has its own line, and nothing of the
/// refused batches is stored.
#[test]
fn refusals_after_parsing_are_logged_once_per_forwarder_and_kind() {
    const RESENT: u64 = 20;
    let state = tempfile::tempdir().expect("tempdir");
    let (collector, offer, output) = Collector::start_offering(state.path());
    let port = collector.port;
    let forged = [event(1, "dc01.example.test", "forged")];
    let doubled = [event(1, SERVICE_ACCOUNT, "doubled").replacen(
        "</Computer>",
        "</Computer><Computer>dc01.example.test</Computer>",
        1,
    )];
    for message in 1..=RESENT {
        for events in [&forged, &doubled] {
            let answer = deliver_as(
                port,
                SERVICE_ACCOUNT,
                SERVICE_PASSWORD,
                &offer,
                &batch(&offer, message, events, true),
            );
            assert_eq!(answer.status, 400, "{}", text(&answer.body));
        }
    }
    let refusals = |log: &str| -> Vec<String> {
        log.lines()
            .filter(|l| l.contains("delivery refused"))
            .map(str::to_owned)
            .collect()
    };
    let logged = refusals(&collector.daemon.stderr());
    assert!(
        (1..=2).contains(&logged.len()),
        "{} refusals gave {} lines: {logged:#?}",
        2 * RESENT,
        logged.len()
    );
    for line in &logged {
        assert!(line.contains(SERVICE_ACCOUNT), "the forwarder: {line}");
        assert!(line.contains("Computer"), "the reason: {line}");
    }

    // Another forwarder's refusal is a line of its own, naming it.
    let second = enumerate_as(port, SECOND, SECOND_PASSWORD);
    let answer = deliver_as(
        port,
        SECOND,
        SECOND_PASSWORD,
        &second,
        &batch(&second, 1, &forged, true),
    );
    assert_eq!(answer.status, 400);
    let after = refusals(&collector.daemon.stderr());
    assert_eq!(after.len(), logged.len() + 1, "{after:#?}");
    assert!(
        after.last().is_some_and(|l| l.contains(SECOND)),
        "{after:#?}"
    );

    // Nothing of the refused batches was stored.
    assert!(lines(&output.join("wef").join(format!("{SERVICE_ACCOUNT}.xml"))).is_empty());
    assert_eq!(enumerate(port).bookmark, None);
}
