//! MS-XCA 2.2: LZ77+Huffman decompression of one block (one 256-byte table and the bit
//! stream after it), bounded by the block's declared length.
//!
//! The stream is read in little-endian 16-bit words into a 32-bit register (most significant
//! bit first); the extra bytes of long match lengths sit between words, where the encoder put
//! them. The block ends when its declared length is written: the EOF symbol the encoder adds
//! after it is never needed, and a block may end without one.

use super::{XpressError, BLOCK};

/// Longest Huffman code MS-XCA allows, and so the index width of the decoding table.
const MAX_CODE: u32 = 15;
/// Zero words read past the input's end that are tolerated: the register runs two words
/// ahead of the symbols it decodes.
const SLACK_WORDS: u32 = 2;

/// Appends the `size` bytes the block `input` encodes to `out`.
pub fn decompress_block(input: &[u8], size: usize, out: &mut Vec<u8>) -> Result<(), XpressError> {
    if size > BLOCK {
        return Err(XpressError::TooLarge { limit: BLOCK });
    }
    let table = input.get(..256).ok_or(XpressError::Truncated)?;
    let mut lengths = [0u8; 512];
    for (i, byte) in table.iter().enumerate() {
        lengths[2 * i] = byte & 0x0F;
        lengths[2 * i + 1] = byte >> 4;
    }
    let decoding = decoding_table(&lengths)?;
    let start = out.len();
    let end = start + size;
    out.reserve(size);
    let mut bits = Bits::new(input, 256)?;
    while out.len() < end {
        let symbol = decoding[(bits.register >> (32 - MAX_CODE)) as usize];
        bits.consume(u32::from(lengths[usize::from(symbol)]))?;
        if symbol < 256 {
            out.push(symbol as u8);
            continue;
        }
        let symbol = symbol - 256;
        let length = match_length(&mut bits, usize::from(symbol & 0x0F))?;
        let distance_bits = u32::from(symbol >> 4);
        let distance = if distance_bits == 0 {
            1
        } else {
            (bits.register >> (32 - distance_bits)) as usize + (1 << distance_bits)
        };
        bits.consume(distance_bits)?;
        if distance > out.len() - start {
            return Err(XpressError::BadDistance { distance });
        }
        if length > end - out.len() {
            return Err(XpressError::Overrun { expected: size });
        }
        // Byte by byte: a match may overlap what it is writing (`a` then distance 1 length 5).
        for _ in 0..length {
            out.push(out[out.len() - distance]);
        }
    }
    Ok(())
}

/// A match's length from the low nibble of its symbol and the extra bytes that follow a 15.
fn match_length(bits: &mut Bits<'_>, nibble: usize) -> Result<usize, XpressError> {
    let mut length = nibble;
    if length == 15 {
        length = usize::from(bits.byte()?);
        if length == 255 {
            length = usize::from(bits.word()?);
            if length == 0 {
                length = usize::try_from(bits.dword()?).map_err(|_| XpressError::BadLength)?;
            }
            if length < 15 {
                return Err(XpressError::BadLength);
            }
            length -= 15;
        }
        length += 15;
    }
    Ok(length + 3)
}

/// MS-XCA's table: 2^15 entries, a symbol of code length L filling 2^(15−L) of them, in order
/// of length then symbol. The lengths must fill it exactly (a complete prefix code).
fn decoding_table(lengths: &[u8; 512]) -> Result<Vec<u16>, XpressError> {
    let size = 1usize << MAX_CODE;
    let mut table = vec![0u16; size];
    let mut next = 0usize;
    for length in 1..=MAX_CODE {
        for (symbol, _) in lengths
            .iter()
            .enumerate()
            .filter(|(_, l)| u32::from(**l) == length)
        {
            let count = 1usize << (MAX_CODE - length);
            let slot = table
                .get_mut(next..next + count)
                .ok_or(XpressError::BadTable)?;
            slot.fill(symbol as u16);
            next += count;
        }
    }
    if next != size {
        return Err(XpressError::BadTable);
    }
    Ok(table)
}

/// The bit register and the read position.
struct Bits<'a> {
    input: &'a [u8],
    position: usize,
    register: u32,
    /// Bits loaded beyond the 16 the next decode may need (MS-XCA's ExtraBitCount).
    extra: i32,
    past_end: u32,
}

impl<'a> Bits<'a> {
    fn new(input: &'a [u8], position: usize) -> Result<Self, XpressError> {
        let mut bits = Self {
            input,
            position,
            register: 0,
            extra: 16,
            past_end: 0,
        };
        let high = u32::from(bits.next_word()?);
        let low = u32::from(bits.next_word()?);
        bits.register = (high << 16) | low;
        Ok(bits)
    }

    /// Drops `n` (at most 15) bits, refilling a word when the register runs low.
    fn consume(&mut self, n: u32) -> Result<(), XpressError> {
        self.register <<= n;
        self.extra -= n as i32;
        if self.extra < 0 {
            self.register |= u32::from(self.next_word()?) << (-self.extra);
            self.extra += 16;
        }
        Ok(())
    }

    /// The next word of the bit stream; zero past the end, a little.
    fn next_word(&mut self) -> Result<u16, XpressError> {
        match self.input.get(self.position..self.position + 2) {
            Some(w) => {
                self.position += 2;
                Ok(u16::from_le_bytes([w[0], w[1]]))
            }
            None if self.past_end < SLACK_WORDS => {
                self.past_end += 1;
                self.position = self.input.len();
                Ok(0)
            }
            None => Err(XpressError::Truncated),
        }
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], XpressError> {
        let bytes = self
            .input
            .get(self.position..self.position + N)
            .ok_or(XpressError::Truncated)?;
        self.position += N;
        let mut array = [0u8; N];
        array.copy_from_slice(bytes);
        Ok(array)
    }

    fn byte(&mut self) -> Result<u8, XpressError> {
        Ok(self.take::<1>()?[0])
    }

    fn word(&mut self) -> Result<u16, XpressError> {
        Ok(u16::from_le_bytes(self.take()?))
    }

    fn dword(&mut self) -> Result<u32, XpressError> {
        Ok(u32::from_le_bytes(self.take()?))
    }
}
