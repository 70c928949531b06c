//! Property tests of the BMC answers' parsers: whatever a broken or hostile BMC sends, the
//! client decodes it without panicking and within its time bounds (the fuzz target `bmc` runs
//! the same paths unguided).

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use wsman_ipmi::commands::{parse_reading, parse_sdr, parse_sel_entry, parse_thresholds};
use wsman_ipmi::{Bmc, BmcConfig, Sensor};

proptest! {
    #[test]
    fn a_sel_entry_is_its_sixteen_bytes_or_nothing(data in proptest::collection::vec(any::<u8>(), 0..40)) {
        match parse_sel_entry(&data) {
            Some((next, entry)) => {
                prop_assert!(data.len() >= 18);
                prop_assert_eq!(next, u16::from_le_bytes([data[0], data[1]]));
                prop_assert_eq!(&entry.raw[..], &data[2..18]);
                prop_assert_eq!(entry.record_id, u16::from_le_bytes([data[2], data[3]]));
            }
            None => prop_assert!(data.len() < 18),
        }
    }

    #[test]
    fn thresholds_are_exactly_the_readable_ones(data in proptest::collection::vec(any::<u8>(), 0..10)) {
        match parse_thresholds(&data) {
            Some(t) => {
                for (i, value) in t.0.iter().enumerate() {
                    let readable = data[0] & (1 << i) != 0;
                    prop_assert_eq!(*value, readable.then_some(data[1 + i]));
                }
            }
            None => prop_assert!(data.len() < 7),
        }
    }

    #[test]
    fn a_reading_needs_its_two_fixed_bytes(data in proptest::collection::vec(any::<u8>(), 0..6)) {
        let reading = parse_reading(&data);
        prop_assert_eq!(reading.is_some(), data.len() >= 2);
        if let Some(r) = reading {
            prop_assert_eq!(r.reading, data[0]);
            prop_assert_eq!(r.unavailable, data[1] & 0x20 != 0);
        }
    }

    #[test]
    fn any_sdr_record_and_answers_decode_without_panic(
        header in (any::<u16>(), prop_oneof![Just(1u8), Just(2u8), any::<u8>()]),
        body in proptest::collection::vec(any::<u8>(), 0..64),
        reading in proptest::collection::vec(any::<u8>(), 0..5),
        thresholds in proptest::collection::vec(any::<u8>(), 0..8),
    ) {
        // A record header that announces the body given (id, version 0x51, type, length), so
        // the body's fields are what varies.
        let mut record = header.0.to_le_bytes().to_vec();
        record.extend([0x51, header.1, body.len() as u8]);
        record.extend(&body);
        if let Some(parsed) = parse_sdr(&record) {
            if let Some(mut sensor) = Sensor::from_record(&parsed.contents) {
                sensor.apply(
                    &parsed.contents,
                    parse_reading(&reading).as_ref(),
                    parse_thresholds(&thresholds).as_ref(),
                );
                sensor.apply_limits(&parsed.contents, &record);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// A "BMC" on loopback that answers every datagram of the session activation with
    /// garbage: the client gives up with an error, within its timeouts, never a panic.
    #[test]
    fn a_bmc_answering_garbage_is_an_error_in_bounded_time(
        answers in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 1..6)
    ) {
        let peer = UdpSocket::bind("127.0.0.1:0").expect("bind");
        peer.set_read_timeout(Some(Duration::from_millis(500))).expect("timeout");
        let address = peer.local_addr().expect("address");
        let answering = std::thread::spawn(move || {
            let mut buffer = [0u8; 1024];
            for answer in answers {
                let Ok((_, from)) = peer.recv_from(&mut buffer) else {
                    return;
                };
                let _ = peer.send_to(&answer, from);
            }
        });
        let config = BmcConfig::parse(&format!(
            "address = \"{address}\"\nuser = \"u\"\npassword = \"p\"\ntimeout_ms = 50\n"
        ))
        .expect("config");
        let started = Instant::now();
        let result = Bmc::new(config).sensors();
        answering.join().expect("the answering thread");
        prop_assert!(result.is_err(), "{result:?}");
        // The bound is the library's own: one operation ends by its deadline.
        prop_assert!(started.elapsed() <= wsman_ipmi::OPERATION_DEADLINE);
    }
}
