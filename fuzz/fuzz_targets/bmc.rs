//! The BMC's answers, as a hostile or broken BMC could send them. The first byte chooses:
//! 0, an SDR record (length in the next byte) and the Get Sensor Reading and Get Sensor
//! Thresholds answers, decoded into a sensor as the SDR walk does; 1, a Get SEL Entry answer;
//! 2, RMCP+ session packets: a UDP peer on loopback answers every datagram of wsmand's BMC
//! client (session activation, then the SDR walk) with the next part of the input (parts
//! separated by 0xC1 0xC1); 3, one datagram through the RMCP+ session's own parsers (the
//! setup answers, an established session's packet and the IPMI message inside), without the
//! sockets. Any panic, hang or unbounded allocation is a bug.
#![no_main]

use std::net::UdpSocket;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use wsman_ipmi::commands::{parse_reading, parse_sdr, parse_sel_entry, parse_thresholds};
use wsman_ipmi::lanplus::packet::{self, payload, Protection};
use wsman_ipmi::lanplus::rakp::{self, Exchange, SessionKeys};
use wsman_ipmi::{Bmc, BmcConfig, Privilege, Sensor};

fn sensor(data: &[u8]) {
    let Some((length, rest)) = data.split_first() else {
        return;
    };
    let (record, answers) = rest.split_at(usize::from(*length).min(rest.len()));
    let (reading, thresholds) = answers.split_at(answers.len() / 2);
    let Some(parsed) = parse_sdr(record) else {
        return;
    };
    if let Some(mut sensor) = Sensor::from_record(&parsed.contents) {
        let reading = parse_reading(reading);
        let thresholds = parse_thresholds(thresholds);
        sensor.apply(&parsed.contents, reading.as_ref(), thresholds.as_ref());
        sensor.apply_limits(&parsed.contents, record);
    }
}

fn sel_entry(data: &[u8]) {
    if let Some((_, entry)) = parse_sel_entry(data) {
        assert_eq!(&entry.raw[..], &data[2..18]);
    }
}

fn session(data: &[u8]) {
    let peer = UdpSocket::bind("127.0.0.1:0").expect("bind");
    peer.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let address = peer.local_addr().expect("address");
    let parts: Vec<Vec<u8>> = data
        .split(|b| *b == 0xC1)
        .filter(|p| !p.is_empty())
        .take(64)
        .map(<[u8]>::to_vec)
        .collect();
    let answering = std::thread::spawn(move || {
        let mut buffer = [0u8; 1024];
        for part in parts {
            let Ok((_, from)) = peer.recv_from(&mut buffer) else {
                return;
            };
            let _ = peer.send_to(&part, from);
        }
    });
    let config = BmcConfig::parse(&format!(
        "address = \"{address}\"\nuser = \"fuzz\"\npassword = \"fuzz\"\ntimeout_ms = 20\n"
    ))
    .expect("config");
    let _ = Bmc::new(config).sensors();
    let _ = answering.join();
}

fn session_packet(data: &[u8]) {
    let _ = rakp::parse_open_session_response(data, 0, 1);
    if let Ok(mut exchange) = Exchange::new("fuzz", b"fuzz", Privilege::Operator, 1, 2, [0; 16]) {
        let _ = exchange.accept_rakp2(data, 0);
        let _ = exchange.accept_rakp4(data, 0);
    }
    let _ = packet::open_unprotected(data, payload::RAKP_2);
    let mut session = Protection::new(SessionKeys::from_sik(&[7; 20]), 2, 1);
    let _ = session.open(data);
    let _ = packet::ipmi_response(data);
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => sensor(rest),
        1 => sel_entry(rest),
        2 => session(rest),
        _ => session_packet(rest),
    }
});
