//! wsmand's own RMCP+ session code (`wsman_ipmi::lanplus`) against a session two other
//! implementations had: ipmitool and OpenIPMI's `ipmi_sim`, recorded with ipmitool's packet
//! dumps (`tests/fixtures/ipmitool-ipmi_sim-session.txt`, provenance in its header). Our
//! messages must be ipmitool's bytes, our keys ipmitool's, and the BMC's codes and encrypted
//! answer must pass our checks. Then property tests: whatever a network peer sends, the
//! parsers refuse it without panicking (the fuzz target `bmc` runs them unguided too).

use proptest::prelude::*;
use wsman_ipmi::lanplus::packet::{self, payload, PacketError, Protection};
use wsman_ipmi::lanplus::rakp::{self, Exchange, RakpError, SessionKeys};
use wsman_ipmi::Privilege;

/// The recorded values by name.
fn recorded(name: &str) -> Vec<u8> {
    let text = include_str!("fixtures/ipmitool-ipmi_sim-session.txt");
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{name} not in the recording"));
    if matches!(name, "user" | "password") {
        return value.as_bytes().to_vec();
    }
    (0..value.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&value[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The payload of a recorded session-setup datagram of `kind`.
fn setup_payload(name: &str, kind: u8) -> Vec<u8> {
    let datagram = recorded(name);
    packet::open_unprotected(&datagram, kind)
        .expect("an RMCP+ packet")
        .expect("of the kind named")
        .to_vec()
}

const CONSOLE_SESSION_ID: u32 = 0xA0A2_A3A4;

fn exchange(password: &[u8]) -> Exchange {
    let random: [u8; 16] = recorded("console_random").try_into().expect("16 bytes");
    let user = String::from_utf8(recorded("user")).expect("UTF-8");
    Exchange::new(
        &user,
        password,
        Privilege::Operator,
        CONSOLE_SESSION_ID,
        2,
        random,
    )
    .expect("valid")
}

#[test]
fn session_setup_messages_are_ipmitools_bytes_and_take_the_bmcs_answers() {
    // ipmitool's tags are 0; its console session id and random number are the recording's.
    let open = rakp::open_session_request(0, Privilege::Operator, CONSOLE_SESSION_ID);
    assert_eq!(
        packet::seal_unprotected(payload::OPEN_SESSION_REQUEST, &open),
        recorded("open_session_request")
    );
    let answer = rakp::parse_open_session_response(
        &setup_payload("open_session_response", payload::OPEN_SESSION_RESPONSE),
        0,
        CONSOLE_SESSION_ID,
    )
    .expect("the BMC's answer");
    assert_eq!(answer.bmc_session_id, 2);
    assert_eq!(answer.max_privilege, Privilege::Operator.level());

    let mut exchange = exchange(&recorded("password"));
    assert_eq!(
        packet::seal_unprotected(payload::RAKP_1, &exchange.rakp1(0)),
        recorded("rakp1")
    );
    // The BMC's RAKP 2 code is right under our computation.
    exchange
        .accept_rakp2(&setup_payload("rakp2", payload::RAKP_2), 0)
        .expect("the BMC's RAKP 2");
    assert_eq!(
        packet::seal_unprotected(payload::RAKP_3, &exchange.rakp3(0)),
        recorded("rakp3")
    );
    assert_eq!(exchange.sik().to_vec(), recorded("sik"));
    // The BMC's RAKP 4 (its check value under the SIK) passes.
    let keys = exchange
        .accept_rakp4(&setup_payload("rakp4", payload::RAKP_4), 0)
        .expect("the BMC's RAKP 4");
    assert_eq!(keys.k1.to_vec(), recorded("k1"));
    assert_eq!(keys.k2.to_vec(), recorded("k2"));
}

#[test]
fn a_wrong_password_fails_the_bmcs_rakp2_code() {
    let mut exchange = exchange(b"not-the-password");
    assert_eq!(
        exchange.accept_rakp2(&setup_payload("rakp2", payload::RAKP_2), 0),
        Err(RakpError::AuthCode { message: "RAKP 2" })
    );
}

fn recorded_keys() -> SessionKeys {
    SessionKeys::from_sik(&recorded("sik").try_into().expect("20 bytes"))
}

#[test]
fn the_bmcs_encrypted_answer_and_ipmitools_request_open_under_our_keys() {
    // The BMC's answer to Set Session Privilege Level (Operator): completion code 0, level 3.
    let mut session = Protection::new(recorded_keys(), 2, CONSOLE_SESSION_ID);
    let message = session
        .open(&recorded("response"))
        .expect("the BMC's answer");
    let answer = packet::ipmi_response(&message).expect("an IPMI response");
    assert_eq!(
        (answer.netfn, answer.command, answer.sequence),
        (0x07, 0x3B, 1)
    );
    assert_eq!(answer.data, [0x00, 0x03]);
    // The same answer again is a replay.
    assert_eq!(
        session.open(&recorded("response")),
        Err(PacketError::Replayed)
    );

    // ipmitool's request, addressed to the BMC's session 2: the same IPMI message we build.
    let mut as_bmc = Protection::new(recorded_keys(), CONSOLE_SESSION_ID, 2);
    let request = as_bmc
        .open(&recorded("request"))
        .expect("ipmitool's request");
    assert_eq!(request, packet::ipmi_request(0x06, 0, 1, 0x3B, &[0x03]));

    // Sealed with ipmitool's IV, our packet is ipmitool's but for the sequence number (ours
    // starts at 1, ipmitool's at 3) and the integrity code that covers it.
    let sent = recorded("request");
    let iv: [u8; 16] = sent[16..32].try_into().expect("the IV");
    let mut ours = Protection::new(recorded_keys(), 2, CONSOLE_SESSION_ID);
    let sealed = ours.seal(&request, iv);
    assert_eq!(sealed.len(), sent.len());
    assert_eq!(sealed[..10], sent[..10]);
    assert_eq!(sealed[14..sent.len() - 12], sent[14..sent.len() - 12]);
    assert_eq!(sealed[10..14], 1u32.to_le_bytes());
}

#[test]
fn a_changed_byte_or_another_session_is_refused() {
    let mut session = Protection::new(recorded_keys(), 2, CONSOLE_SESSION_ID);
    let answer = recorded("response");
    for at in [5, 12, 20, 40, answer.len() - 13, answer.len() - 1] {
        let mut changed = answer.clone();
        changed[at] ^= 0x01;
        assert!(session.open(&changed).is_err(), "byte {at} changed");
    }
    let mut other = Protection::new(recorded_keys(), 2, CONSOLE_SESSION_ID + 1);
    assert_eq!(other.open(&answer), Err(PacketError::OtherSession));
    // The setup messages in the clear are not answers of an established session.
    assert_eq!(
        session.open(&recorded("rakp4")),
        Err(PacketError::Unprotected)
    );
}

proptest! {
    #[test]
    fn any_datagram_opens_or_is_refused_without_panic(
        datagram in proptest::collection::vec(any::<u8>(), 0..128),
        header in any::<bool>(),
    ) {
        let mut datagram = datagram;
        if header && datagram.len() >= 16 {
            // An RMCP+ header, so the parser gets past it to the lengths and trailer.
            datagram[..6].copy_from_slice(&[0x06, 0x00, 0xFF, 0x07, 0x06, 0xC0]);
            datagram[6..10].copy_from_slice(&CONSOLE_SESSION_ID.to_le_bytes());
        }
        let mut session = Protection::new(recorded_keys(), 2, CONSOLE_SESSION_ID);
        // Without the key nothing random passes the 96-bit integrity code.
        prop_assert!(session.open(&datagram).is_err());
        let _ = packet::open_unprotected(&datagram, payload::RAKP_2);
        let _ = packet::ipmi_response(&datagram);
    }

    #[test]
    fn any_setup_answer_parses_or_is_refused_without_panic(
        data in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let _ = rakp::parse_open_session_response(&data, 0, CONSOLE_SESSION_ID);
        let mut exchange = exchange(b"p");
        prop_assert!(exchange.accept_rakp2(&data, 0).is_err());
        prop_assert!(exchange.accept_rakp4(&data, 0).is_err());
    }

    #[test]
    fn what_we_seal_we_open(message in proptest::collection::vec(any::<u8>(), 0..64), iv in any::<[u8; 16]>()) {
        let mut ours = Protection::new(recorded_keys(), 2, CONSOLE_SESSION_ID);
        let sealed = ours.seal(&message, iv);
        // The BMC's side: its session id is 2.
        let mut theirs = Protection::new(recorded_keys(), CONSOLE_SESSION_ID, 2);
        prop_assert_eq!(theirs.open(&sealed), Ok(message));
    }
}
