//! Our own check of an RFC 4121 (CFX) wrap token header before MIT unwraps it. MIT's
//! `gss_unwrap_iov` accepts integrity-only tokens, and libgssapi drops the `conf_state` that
//! would tell, so a token that is not sealed must be refused here, by its header bytes.
//! Pre-CFX tokens (RC4-HMAC, DES3 session keys) are refused as well: WinRM over AES only.
#![forbid(unsafe_code)]

/// TOK_ID of a CFX wrap token.
const WRAP_TOKEN_ID: [u8; 2] = [0x05, 0x04];
/// Flags byte: the token was sent by the context acceptor.
const FLAG_SENT_BY_ACCEPTOR: u8 = 0x01;
/// Flags byte: the payload is encrypted.
const FLAG_SEALED: u8 = 0x02;
/// Bits of the flags byte RFC 4121 defines (AcceptorSubkey is 0x04).
const KNOWN_FLAGS: u8 = 0x07;
/// Filler byte after the flags.
const FILLER: u8 = 0xff;
/// Length of the fixed token header.
pub(super) const CFX_HEADER_LEN: usize = 16;

/// Who sent the token being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sender {
    Initiator,
    Acceptor,
}

/// Why a header is refused before decryption.
pub(super) fn check_sealed_wrap_header(header: &[u8], sender: Sender) -> Result<(), &'static str> {
    if header.len() < CFX_HEADER_LEN {
        return Err("wrap token header shorter than 16 bytes");
    }
    if header[0..2] != WRAP_TOKEN_ID {
        return Err("not an RFC 4121 wrap token (only AES session keys are supported)");
    }
    let flags = header[2];
    if flags & !KNOWN_FLAGS != 0 {
        return Err("unknown wrap token flags");
    }
    if header[3] != FILLER {
        return Err("bad wrap token filler byte");
    }
    if flags & FLAG_SEALED == 0 {
        return Err("wrap token is integrity-only, not sealed");
    }
    let from_acceptor = flags & FLAG_SENT_BY_ACCEPTOR != 0;
    if from_acceptor != (sender == Sender::Acceptor) {
        return Err("wrap token direction flag does not match the sender");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(flags: u8) -> Vec<u8> {
        let mut h = vec![0x05, 0x04, flags, 0xff, 0, 0, 0, 28];
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&[0xab; 44]);
        h
    }

    #[test]
    fn sealed_tokens_in_the_right_direction_pass() {
        assert_eq!(
            check_sealed_wrap_header(&header(0x06), Sender::Initiator),
            Ok(())
        );
        assert_eq!(
            check_sealed_wrap_header(&header(0x02), Sender::Initiator),
            Ok(())
        );
        assert_eq!(
            check_sealed_wrap_header(&header(0x07), Sender::Acceptor),
            Ok(())
        );
        assert_eq!(
            check_sealed_wrap_header(&header(0x03), Sender::Acceptor),
            Ok(())
        );
    }

    #[test]
    fn integrity_only_and_reflected_tokens_fail() {
        assert!(check_sealed_wrap_header(&header(0x04), Sender::Initiator).is_err());
        assert!(check_sealed_wrap_header(&header(0x05), Sender::Acceptor).is_err());
        // Our own acceptor token reflected back at us.
        assert!(check_sealed_wrap_header(&header(0x07), Sender::Initiator).is_err());
        assert!(check_sealed_wrap_header(&header(0x06), Sender::Acceptor).is_err());
    }

    #[test]
    fn malformed_headers_fail() {
        assert!(check_sealed_wrap_header(&[], Sender::Initiator).is_err());
        assert!(check_sealed_wrap_header(&header(0x06)[..15], Sender::Initiator).is_err());
        let mut mic = header(0x06);
        mic[1] = 0x04;
        mic[0] = 0x04; // a MIC token id
        assert!(check_sealed_wrap_header(&mic, Sender::Initiator).is_err());
        let mut rc4 = header(0x06);
        rc4[0] = 0x60; // an RFC 1964 (RC4/DES) framed token
        assert!(check_sealed_wrap_header(&rc4, Sender::Initiator).is_err());
        assert!(check_sealed_wrap_header(&header(0x0e), Sender::Initiator).is_err());
        let mut filler = header(0x06);
        filler[3] = 0;
        assert!(check_sealed_wrap_header(&filler, Sender::Initiator).is_err());
    }
}
