//! SLDC bodies framed as other encoders frame them, posted to the real collector on loopback:
//! after End of Record, zero bits to any boundary up to 32 bits (ECMA-321 aligns records on
//! 32 bits; tape-oriented encoders pad so), then the length or nothing. The streams come from
//! the harness's ECMA-321 writer (`wsman_test::ecma321`), not our compressor. Every padding
//! from 0 to 31 bits, with and without the length, is acknowledged and its event stored once;
//! a non-zero byte where the padding goes is refused (400) and logged naming the forwarder.

use wsman_test::{ecma321, SERVICE_ACCOUNT, SERVICE_PASSWORD};

use crate::collector::{
    acknowledged, batch_text, deliver_as, enumerate, event, lines, text, Collector,
};

#[test]
fn deliveries_padded_to_any_boundary_up_to_32_bits_are_acknowledged_and_stored_once() {
    let state = tempfile::tempdir().expect("tempdir");
    let (collector, offer, output) = Collector::start_offering(state.path());
    let port = collector.port;
    let deliver = |body: &[u8]| deliver_as(port, SERVICE_ACCOUNT, SERVICE_PASSWORD, &offer, body);

    let mut sent = Vec::new();
    for padding in 0..32 {
        for with_length in [false, true] {
            let message = 1 + sent.len() as u64;
            let events = [event(
                message,
                SERVICE_ACCOUNT,
                &format!("padding {padding} length {with_length}"),
            )];
            let body = ecma321::framed(
                &batch_text(&offer, message, &events, true),
                padding,
                with_length,
            );
            acknowledged(&deliver(&body), message);
            sent.extend(events);
        }
    }
    // A batch sent again (its Ack lost) is acknowledged and not stored twice.
    let again = ecma321::framed(&batch_text(&offer, 64, &sent[63..], true), 24, false);
    acknowledged(&deliver(&again), 64);

    // A non-zero byte where the padding goes: refused, nothing of it stored.
    let refused_event = [event(65, SERVICE_ACCOUNT, "after a non-zero padding byte")];
    let mut bad = ecma321::framed(&batch_text(&offer, 65, &refused_event, true), 24, false);
    let last = bad.len() - 1;
    bad[last] = 0x01;
    let answer = deliver(&bad);
    assert_eq!(answer.status, 400, "{}", text(&answer.body));

    let file = output.join("wef").join(format!("{SERVICE_ACCOUNT}.xml"));
    assert_eq!(lines(&file), sent, "every event once, in order");
    assert_eq!(enumerate(port).bookmark, Some(64));
    let log = collector.daemon.stderr();
    let refusals: Vec<&str> = log.lines().filter(|l| l.contains("body refused")).collect();
    assert_eq!(refusals.len(), 1, "{refusals:#?}");
    assert!(
        refusals[0].contains(SERVICE_ACCOUNT) && refusals[0].contains("SLDC"),
        "{}",
        refusals[0]
    );
}
