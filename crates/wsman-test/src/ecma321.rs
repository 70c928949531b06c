//! An SLDC (ECMA-321) writer written from the standard's symbol table, for tests of the
//! decoder: it shares nothing with `wsman_events::sldc` (no bit writer, no constants), so a
//! stream it writes is input from elsewhere, not our encoder read back by our decoder.
//!
//! What it writes: control symbols (nine 1-bits and a 4-bit code), Scheme 2 bytes (each byte
//! as itself, 0xFF followed by a 0-bit) and Scheme 1 literals (a 0-bit and the byte), and an
//! ending of the caller's choice: End of Record, any number of zero bits that reaches a byte
//! boundary (a tape encoder pads to 32 bits), then the little-endian length or nothing. No
//! copy pointers: the tests are about framing, and bits of two widths (8 and 9) are enough to
//! end a record at every position modulo 32.

/// ECMA-321's control codes (the 4 bits after nine 1-bits).
pub const SCHEME_1: u8 = 0b0001;
pub const END_OF_RECORD: u8 = 0b0100;
pub const RESET_2: u8 = 0b0110;

/// Bits, one per entry, most significant first.
#[derive(Default)]
pub struct Ecma321Writer {
    bits: Vec<bool>,
}

impl Ecma321Writer {
    fn push(&mut self, value: u32, width: u32) {
        for shift in (0..width).rev() {
            self.bits.push((value >> shift) & 1 == 1);
        }
    }

    /// A control symbol: nine 1-bits, then `code`.
    pub fn control(&mut self, code: u8) {
        self.push(0x1FF, 9);
        self.push(u32::from(code), 4);
    }

    /// A byte in Scheme 2.
    pub fn stored(&mut self, byte: u8) {
        self.push(u32::from(byte), 8);
        if byte == 0xFF {
            self.push(0, 1);
        }
    }

    /// A literal byte in Scheme 1.
    pub fn literal(&mut self, byte: u8) {
        self.push(0, 1);
        self.push(u32::from(byte), 8);
    }

    /// End of Record, `padding` zero bits (which must reach a byte boundary), then `length`
    /// as a little-endian u32 when given: the bytes.
    pub fn end(mut self, padding: usize, length: Option<u32>) -> Vec<u8> {
        self.control(END_OF_RECORD);
        self.bits.extend(std::iter::repeat_n(false, padding));
        assert_eq!(
            self.bits.len() % 8,
            0,
            "the padding must reach a byte boundary"
        );
        let mut bytes: Vec<u8> = self
            .bits
            .chunks(8)
            .map(|byte| byte.iter().fold(0u8, |b, &bit| (b << 1) | u8::from(bit)))
            .collect();
        if let Some(length) = length {
            bytes.extend_from_slice(&length.to_le_bytes());
        }
        bytes
    }
}

/// Bits End of Record leaves after `plain` written as [`framed`] writes it with its first
/// `stored` bytes in Scheme 2: Reset 2, the stored bytes (a 0-bit more after each 0xFF),
/// Scheme 1, the rest as literals, End of Record.
fn end_position(plain: &[u8], stored: usize) -> usize {
    let ff = plain[..stored].iter().filter(|&&b| b == 0xFF).count();
    13 + 8 * stored + ff + 13 + 9 * (plain.len() - stored) + 13
}

/// `plain` as one record ended by `padding` zero bits (0 to 31) after End of Record, with the
/// length after them when `with_length`: the first bytes in Scheme 2, the rest as Scheme 1
/// literals, split where End of Record ends `padding` bits short of a byte boundary (each
/// byte moved to Scheme 2, other than 0xFF, ends the record one bit earlier). `plain` needs
/// a split that does it within its first 64 bytes (eight bytes other than 0xFF).
pub fn framed(plain: &[u8], padding: usize, with_length: bool) -> Vec<u8> {
    assert!(padding < 32, "a padding of 0 to 31 bits");
    let stored = (0..plain.len().min(64))
        .find(|&stored| (end_position(plain, stored) + padding).is_multiple_of(8))
        .expect("a text with eight bytes other than 0xFF among its first 64");
    let mut writer = Ecma321Writer::default();
    writer.control(RESET_2);
    for &byte in &plain[..stored] {
        writer.stored(byte);
    }
    writer.control(SCHEME_1);
    for &byte in &plain[stored..] {
        writer.literal(byte);
    }
    let length = with_length.then(|| u32::try_from(plain.len()).expect("a small test body"));
    writer.end(padding, length)
}
