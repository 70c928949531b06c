use super::*;

fn negotiate() -> Vec<u8> {
    let mut m = SIGNATURE.to_vec();
    m.extend_from_slice(&1u32.to_le_bytes());
    m.extend_from_slice(&(FLAG_UNICODE | FLAG_SEAL).to_le_bytes());
    m.extend_from_slice(&[0; 16]);
    m
}

#[test]
fn negotiate_parses_and_truncations_fail() {
    let m = negotiate();
    assert_eq!(message_type(&m), Ok(MessageType::Negotiate));
    assert_eq!(parse_negotiate(&m).unwrap().flags, FLAG_UNICODE | FLAG_SEAL);
    for cut in 0..16 {
        assert!(parse_negotiate(&m[..cut]).is_err());
    }
    let mut bad = m.clone();
    bad[16] = 4; // domain length 4 at offset 0: inside the header
    assert!(parse_negotiate(&bad).is_err());
}

#[test]
fn wrong_signature_type_or_size() {
    let mut m = negotiate();
    m[0] = b'X';
    assert!(message_type(&m).is_err());
    let mut m = negotiate();
    m[8] = 7;
    assert!(message_type(&m).is_err());
    let mut huge = negotiate();
    huge.resize(MAX_MESSAGE_LEN + 1, 0);
    assert!(message_type(&huge).is_err());
    assert!(parse_challenge(&negotiate()).is_err());
    assert!(parse_authenticate(&negotiate()).is_err());
}

#[test]
fn av_pairs_need_eol_and_exact_sizes() {
    assert!(read_av_pairs(&[]).is_err());
    assert!(read_av_pairs(&[6, 0, 4, 0, 2, 0]).is_err());
    assert_eq!(
        read_av_pairs(&[6, 0, 4, 0, 2, 0, 0, 0, 0, 0, 0, 0]).unwrap(),
        (Some(2), None)
    );
    assert!(read_av_pairs(&[6, 0, 3, 0, 2, 0, 0, 0, 0, 0, 0]).is_err());
    assert!(read_av_pairs(&[10, 0, 4, 0, 2, 0, 0, 0, 0, 0, 0, 0]).is_err());
}

#[test]
fn strings_decode_strictly() {
    assert_eq!(decode_string(&[b'a', 0, b'b', 0], true).unwrap(), "ab");
    assert!(decode_string(&[b'a', 0, b'b'], true).is_err());
    assert!(
        decode_string(&[0x00, 0xd8], true).is_err(),
        "lone surrogate"
    );
    assert_eq!(decode_string(b"ab", false).unwrap(), "ab");
    assert!(decode_string(&[0xff], false).is_err());
}
