//! RELP frames (rsyslog's Reliable Event Logging Protocol, as librelp speaks it): written for
//! our commands, read bounded for the receiver's.
//!
//! ```text
//! FRAME   = TXNR SP COMMAND SP DATALEN [SP DATA] LF
//! TXNR    = 1*9DIGIT          ; 0 only for the server's "serverclose"
//! COMMAND = 1*32ALPHA
//! DATALEN = 1*9DIGIT          ; the bytes of DATA
//! rsp DATA = CODE [SP TEXT] [LF COMMAND-DATA]
//! ```
//!
//! Why our own reader: what the receiver sends is untrusted input (a frame may claim any
//! length), and we need three commands of the protocol. [`parse`] takes the bytes read so far
//! and answers one frame, "need more", or an error, with the frame's length bounded before
//! anything is kept for it. Only `thiserror`: the fuzz target compiles this file by path.

/// The largest transaction number; the next is 1 again (librelp's wrap).
pub const MAX_TXNR: u32 = 999_999_999;
/// The longest command name.
pub const MAX_COMMAND: usize = 32;
/// The most digits of TXNR and DATALEN.
const MAX_DIGITS: usize = 9;

/// One frame the receiver sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub txnr: u32,
    pub command: String,
    pub data: Vec<u8>,
}

/// A `rsp` frame's data: its code, its text and the command data after the first line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub code: u16,
    pub text: String,
    pub data: Vec<u8>,
}

/// Why the receiver's bytes are not a RELP frame.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RelpError {
    #[error("RELP frame: transaction number is not 0 to 999999999")]
    BadTxnr,
    #[error("RELP frame: command is not 1 to 32 letters")]
    BadCommand,
    #[error("RELP frame: data length is not a number of at most 9 digits")]
    BadLength,
    #[error("RELP frame of {0} data bytes is larger than the limit")]
    TooLarge(usize),
    #[error("RELP frame: no space before the data")]
    NoSpace,
    #[error("RELP frame: no line feed after the data")]
    NoTrailer,
    #[error("RELP response: no 3-digit code")]
    BadCode,
    #[error("RELP response: its text is not UTF-8")]
    BadText,
}

/// Append a frame of our command (`open`, `syslog`, `close`) to `out`.
pub fn encode(txnr: u32, command: &str, data: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("{txnr} {command} {}", data.len()).as_bytes());
    if !data.is_empty() {
        out.push(b' ');
        out.extend_from_slice(data);
    }
    out.push(b'\n');
}

/// The transaction number after `txnr` (1 after [`MAX_TXNR`]).
pub fn next_txnr(txnr: u32) -> u32 {
    if txnr >= MAX_TXNR {
        1
    } else {
        txnr + 1
    }
}

/// A number of 1 to 9 digits at the start of `bytes` and the bytes after it; `Ok(None)` when
/// more bytes are needed to know.
fn number(bytes: &[u8], error: RelpError) -> Result<Option<(u32, &[u8])>, RelpError> {
    let count = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if count > MAX_DIGITS {
        return Err(error);
    }
    if count == bytes.len() {
        return Ok(None);
    }
    if count == 0 {
        return Err(error);
    }
    let value = bytes[..count]
        .iter()
        .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    Ok(Some((value, &bytes[count..])))
}

/// One frame from the start of `bytes`, and how many bytes it took; `Ok(None)` when the
/// bytes end before it does. `max_data`: the most data bytes a frame may claim.
pub fn parse(bytes: &[u8], max_data: usize) -> Result<Option<(Frame, usize)>, RelpError> {
    let Some((txnr, rest)) = number(bytes, RelpError::BadTxnr)? else {
        return Ok(None);
    };
    let rest = rest.strip_prefix(b" ").ok_or(RelpError::BadTxnr)?;
    let letters = rest.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    if letters > MAX_COMMAND {
        return Err(RelpError::BadCommand);
    }
    if letters == rest.len() {
        return Ok(None);
    }
    if letters == 0 || rest[letters] != b' ' {
        return Err(RelpError::BadCommand);
    }
    let command = String::from_utf8_lossy(&rest[..letters]).into_owned();
    let Some((length, rest)) = number(&rest[letters + 1..], RelpError::BadLength)? else {
        return Ok(None);
    };
    let length = length as usize;
    if length > max_data {
        return Err(RelpError::TooLarge(length));
    }
    let (data, rest) = if length == 0 {
        (&[][..], rest)
    } else {
        let Some((&space, rest)) = rest.split_first() else {
            return Ok(None);
        };
        if space != b' ' {
            return Err(RelpError::NoSpace);
        }
        if rest.len() < length {
            return Ok(None);
        }
        rest.split_at(length)
    };
    match rest.first() {
        None => Ok(None),
        Some(b'\n') => {
            let used = bytes.len() - rest.len() + 1;
            Ok(Some((
                Frame {
                    txnr,
                    command,
                    data: data.to_vec(),
                },
                used,
            )))
        }
        Some(_) => Err(RelpError::NoTrailer),
    }
}

/// The data of a `rsp` frame read: `CODE [SP TEXT] [LF DATA]`.
pub fn response(data: &[u8]) -> Result<Response, RelpError> {
    let (line, rest) = match data.iter().position(|b| *b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
        return Err(RelpError::BadCode);
    }
    let code = line[..3]
        .iter()
        .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    let text = match &line[3..] {
        [] => "",
        [b' ', text @ ..] => std::str::from_utf8(text).map_err(|_| RelpError::BadText)?,
        _ => return Err(RelpError::BadCode),
    };
    Ok(Response {
        code,
        text: text.to_owned(),
        data: rest.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// librelp's answers as rsyslog's imrelp sends them (its `relpsrvSendRsp`): the oracle
    /// besides the receivers of `tests/syslog.rs`.
    #[test]
    fn librelp_answers_are_read() {
        let open = b"1 rsp 93 200 OK\nrelp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog\n";
        let (frame, used) = parse(open, 1024).expect("a frame").expect("whole");
        assert_eq!(
            (frame.txnr, frame.command.as_str(), used),
            (1, "rsp", open.len())
        );
        let answer = response(&frame.data).expect("a response");
        assert_eq!((answer.code, answer.text.as_str()), (200, "OK"));
        assert!(answer.data.ends_with(b"commands=syslog"));

        let acks = b"2 rsp 6 200 OK\n3 rsp 6 200 OK\n0 serverclose 0\n";
        let (two, used) = parse(acks, 1024).expect("ok").expect("whole");
        assert_eq!((two.txnr, used), (2, 15));
        let (three, more) = parse(&acks[used..], 1024).expect("ok").expect("whole");
        assert_eq!(three.txnr, 3);
        let (close, _) = parse(&acks[used + more..], 1024)
            .expect("ok")
            .expect("whole");
        assert_eq!(
            (close.txnr, close.command.as_str(), close.data.len()),
            (0, "serverclose", 0)
        );

        let refused = response(b"500 the message was refused").expect("a response");
        assert_eq!(
            (refused.code, refused.text.as_str()),
            (500, "the message was refused")
        );
    }

    #[test]
    fn bad_frames_are_refused() {
        for (bytes, error) in [
            (&b"x rsp 0\n"[..], RelpError::BadTxnr),
            (b"1234567890 rsp 0\n", RelpError::BadTxnr),
            (b"1 r5p 0\n", RelpError::BadCommand),
            (b"1  0\n", RelpError::BadCommand),
            (b"1 rsp x\n", RelpError::BadLength),
            (b"1 rsp 999999999 ", RelpError::TooLarge(999_999_999)),
            (b"1 rsp 2_ok\n", RelpError::NoSpace),
            (b"1 rsp 2 okX", RelpError::NoTrailer),
        ] {
            assert_eq!(
                parse(bytes, 1024),
                Err(error),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        for bad in [&b"20 OK"[..], b"2000", b"", b"OK 200"] {
            assert_eq!(response(bad), Err(RelpError::BadCode));
        }
        assert_eq!(next_txnr(MAX_TXNR), 1);
        assert_eq!(next_txnr(41), 42);
    }

    proptest! {
        /// A frame we write reads back whole, and every shorter prefix of it asks for more.
        #[test]
        fn frames_read_back_and_prefixes_need_more(
            txnr in 0u32..=MAX_TXNR,
            command in "[a-z]{1,32}",
            data in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut bytes = Vec::new();
            encode(txnr, &command, &data, &mut bytes);
            let expected = Frame { txnr, command: command.clone(), data: data.clone() };
            prop_assert_eq!(parse(&bytes, 300), Ok(Some((expected, bytes.len()))));
            for end in 0..bytes.len() {
                prop_assert_eq!(parse(&bytes[..end], 300), Ok(None));
            }
        }

        /// Arbitrary bytes: a frame, "need more" or an error, never more than given.
        #[test]
        fn arbitrary_bytes_never_claim_more_than_given(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(Some((frame, used))) = parse(&bytes, 64) {
                prop_assert!(used <= bytes.len());
                prop_assert!(frame.data.len() <= 64);
            }
            let _ = response(&bytes);
        }
    }
}
